"""The daemon loop: stopping on a signal while a cycle is running."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from datetime import datetime

import pytest

import bot.app
from bot.app import App, CycleReport, run_daemon
from bot.dispatcher import DispatchResult
from bot.handlers.pipeline import IngestReport
from bot.scheduler import SweepResult


def test_sigterm_lets_the_running_cycle_finish_before_stopping(
    app: App, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    started = threading.Event()
    trace: list[str] = []

    def slow_cycle(_app: App, now: datetime | None = None) -> CycleReport:
        started.set()
        time.sleep(0.5)  # the signal arrives meanwhile
        trace.append("cycle done")
        return CycleReport(IngestReport(), SweepResult(), DispatchResult())

    def signal_when_busy() -> None:
        if started.wait(10):
            os.kill(os.getpid(), signal.SIGTERM)

    dispose = app.db.dispose

    def traced_dispose() -> None:
        trace.append("disposed")
        dispose()

    monkeypatch.setattr(bot.app, "_cycle", slow_cycle)
    monkeypatch.setattr(app.db, "dispose", traced_dispose)
    caplog.set_level(logging.INFO)
    sender = threading.Thread(target=signal_when_busy)
    sender.start()
    run_daemon(app)
    sender.join()
    assert trace == ["cycle done", "disposed"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
