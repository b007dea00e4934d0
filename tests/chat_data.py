"""Helpers for the chat tests: a config with Telegram on, the app over a fake Bot API."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App, CycleReport, build_app, run_once
from bot.clock import FixedClock
from bot.config import load_config
from storage.models import Case, Outbox
from tests.conftest import ROOT, mx
from tests.telegram_fake import FakeTelegram

TOKEN = "123456:TEST"
SOFIA_TG = 111_111_111  # specialist with a configured id
ROBERTO_TG = 7_222_222_222  # agent with a configured id (above 2**31, as real ids are)
ELENA_TG = 7_333_333_333  # agent who links by code
STRANGER_TG = 7_999_999_999
SOFIA = "sofia.ramirez@example.com"
ROBERTO = "roberto.sanchez@example.com"
ELENA = "elena.torres@example.com"


def chat_config_text() -> str:
    """The shipped config.toml with Telegram enabled and two people's ids set."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    edits = {
        "# telegram_id = 111111111": f"telegram_id = {SOFIA_TG}",
        'clave = "A123456"': f'clave = "A123456"\ntelegram_id = {ROBERTO_TG}',
        'enabled = false\n# token_env = "MESABOT_TELEGRAM_TOKEN"': (
            'enabled = true\ntoken_env = "MESABOT_TELEGRAM_TOKEN"'
        ),
    }
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


@dataclass
class Chat:
    """The app, the fake Telegram it talks to, and the clock both read."""

    app: App
    tg: FakeTelegram
    clock: FixedClock
    slept: list[float] = field(default_factory=list)

    def at(self, when: datetime) -> CycleReport:
        """Run one full cycle (`run --once`) at this instant."""
        self.clock.set(when)
        return run_once(self.app, when)

    def texts(self, chat_id: int) -> list[str]:
        """What the bot sent to a chat, oldest first."""
        return self.tg.sent_to(chat_id)

    def cases(self, process: str = "MA-007") -> list[Case]:
        """The cases of a process, oldest first (detached)."""
        with self.app.db.sessions() as s:
            rows = list(s.scalars(select(Case).where(Case.process == process).order_by(Case.id)))
            s.expunge_all()
            return rows

    def pending_chat(self) -> list[Outbox]:
        """Chat messages still waiting in the outbox."""
        with self.app.db.sessions() as s:
            rows = list(
                s.scalars(
                    select(Outbox).where((Outbox.kind == "chat") & (Outbox.status == "pending"))
                )
            )
            s.expunge_all()
            return rows


@pytest.fixture
def chat(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Chat]:
    """Telegram enabled over the fake Bot API; Monday 23 November 2026, 09:00."""
    monkeypatch.setenv("MESABOT_TELEGRAM_TOKEN", TOKEN)
    (tmp_path / "config.toml").write_text(chat_config_text(), encoding="utf-8")
    shutil.rmtree(tmp_path / "var", ignore_errors=True)
    config = load_config(
        tmp_path / "config.toml",
        {"MESABOT_STORAGE_URL": database_url, "MESABOT_TELEGRAM_TOKEN": TOKEN},
    )
    clock = FixedClock(mx(2026, 11, 23, 9, 0))
    tg = FakeTelegram(token=TOKEN, clock=clock.now)
    app = build_app(config, clock, ROOT, telegram_request=tg)
    result = Chat(app, tg, clock)
    app.dispatcher.sleep = result.slept.append  # pacing is recorded, not waited
    app.mail.ensure()
    yield result
    app.db.dispose()
