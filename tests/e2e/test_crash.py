"""Crash safety, the short run: the daemon SIGKILLed five times while 150 mails arrive.

The long run is `make crash` (tests/crash/harness.py); this one keeps `make test` honest.
The corpus is fixed by the seed; where the kills land is not, so every run probes anew.
"""

from __future__ import annotations

from pathlib import Path

from tests.crash.harness import run

MESSAGES = 150
KILLS = 5
SEED = 20261123


def test_sigkill_loses_no_message_duplicates_no_case_and_bounds_resends(tmp_path: Path) -> None:
    report = run(tmp_path / "crash", messages=MESSAGES, kills=KILLS, seed=SEED)
    assert report.ok, report.summary()
    assert report.kills == KILLS, report.summary()
    assert report.messages == MESSAGES
    assert report.cases == report.tickets
