"""Crash safety, the short runs: the daemon SIGKILLed while mail arrives, on Maildir and IMAP.

The long run is `make crash` (tests/crash/harness.py); these keep `make test` honest.
The corpus is fixed by the seed; where the kills land is not, so every run probes anew.
On IMAP, Dovecot is also restarted and its UIDVALIDITY reset while the daemon fetches.
"""

from __future__ import annotations

from pathlib import Path

from tests.channels.servers import need_dovecot
from tests.crash.harness import run

MESSAGES = 150
KILLS = 5
SEED = 20261123

IMAP_MESSAGES = 80
IMAP_KILLS = 4
IMAP_RESETS = 1
IMAP_RESTARTS = 2
# Odd, so processed mail is moved to a done folder; its plan has the UIDVALIDITY reset land
# after the daemon stored its place, with mail arriving.
IMAP_SEED = 20261125


def test_sigkill_loses_no_message_duplicates_no_case_and_bounds_resends(tmp_path: Path) -> None:
    report = run(tmp_path / "crash", messages=MESSAGES, kills=KILLS, seed=SEED)
    assert report.ok, report.summary()
    assert report.kills == KILLS, report.summary()
    assert report.messages == MESSAGES
    assert report.cases == report.tickets


def test_on_imap_sigkills_server_restarts_and_uidvalidity_resets_lose_nothing(
    tmp_path: Path,
) -> None:
    need_dovecot()
    report = run(
        tmp_path / "crash",
        messages=IMAP_MESSAGES,
        kills=IMAP_KILLS,
        seed=IMAP_SEED,
        backend="imap",
        resets=IMAP_RESETS,
        restarts=IMAP_RESTARTS,
    )
    assert report.ok, report.summary()
    assert (report.kills, report.resets, report.restarts) == (
        IMAP_KILLS,
        IMAP_RESETS,
        IMAP_RESTARTS,
    ), report.summary()
    assert report.messages == IMAP_MESSAGES
    assert report.cases == report.tickets
    assert report.resyncs >= 1, report.summary()
