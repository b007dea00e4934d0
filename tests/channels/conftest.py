"""The harness fixture: the contract suite runs once per mail backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.channels.harness import Harness
from tests.channels.harness_ews import ews_harness
from tests.channels.harness_graph import graph_harness
from tests.channels.harness_imap import imap_harness
from tests.channels.harness_maildir import maildir_harness

# The explicit registry of backends under the contract: name -> harness factory.
HARNESSES: dict[str, Callable[[Path], AbstractContextManager[Harness]]] = {
    "maildir": maildir_harness,
    "imap": imap_harness,
    "graph": graph_harness,
    "ews": ews_harness,
}


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """One backend's server and the way to look at it."""
    with HARNESSES[request.param](tmp_path) as h:
        yield h
