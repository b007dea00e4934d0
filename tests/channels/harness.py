"""What the channel contract suite needs from each mail backend's test set-up."""

from __future__ import annotations

from contextlib import AbstractContextManager
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol

from bot.channels.base import MailChannel
from storage.db import Database
from storage.migrate import upgrade
from tests.conftest import mx

MB = 1024 * 1024
BOT = "mesa.ayuda@example.com"


class Harness(Protocol):
    """A backend's real or faked server, with a way to look at it from outside."""

    name: str
    dedupes_sends: bool  # a re-sent key is recognised and not delivered twice
    has_credentials: bool  # a wrong password is possible (servers, not a local folder)

    def deliver(self, raw: bytes) -> None:
        """A message arrives in the inbox, as the mail server would file it."""
        ...

    def channel(
        self, *, max_message_bytes: int = 35 * MB, password: str | None = None
    ) -> MailChannel:
        """A new channel object on the same server, as after a restart."""
        ...

    def sent(self) -> list[bytes]:
        """Every message the server accepted from the bot, in order."""
        ...

    def waiting(self) -> int:
        """Messages in the inbox not yet acknowledged or quarantined, in the server's view."""
        ...

    def quarantined(self) -> int:
        """Messages set aside, in the server's view."""
        ...

    def stored(self) -> int:
        """Every inbound message still on the server, wherever it is: nothing is deleted."""
        ...

    def down(self) -> AbstractContextManager[None]:
        """Within it, the server cannot be reached."""
        ...

    def refuse(self, address: str) -> None:
        """From now on the server refuses this recipient for good (SMTP 550 and the like)."""
        ...


def inbound(n: int, subject: str = "Solicitud", size: int = 0, sender: str = "") -> bytes:
    """A human mail with a unique Message-ID; `size` pads the body to about that many bytes."""
    msg = EmailMessage()
    msg["From"] = f"Ana Pérez <{sender or 'ana.perez@example.com'}>"
    msg["To"] = BOT
    msg["Subject"] = f"{subject} {n}: contraseña de BLife"
    msg["Date"] = format_datetime(mx(2026, 11, 23, 9, n % 60))
    msg["Message-ID"] = f"<contrato{n}@example.com>"
    body = "No puedo entrar, me marca error.\n"
    if size:
        body += ("x" * 76 + "\n") * (size // 77 + 1)
    msg.set_content(body)
    return msg.as_bytes()


def outbound(n: int, to: str = "ana.perez@example.com") -> bytes:
    """A complete message as the bot sends it: tag, threading, Auto-Submitted, attachment."""
    msg = EmailMessage()
    msg["From"] = f"Mesa de Ayuda <{BOT}>"
    msg["To"] = to
    msg["Subject"] = f"Re: Solicitud {n}: contraseña de BLife [MA-006 #{n}]"
    msg["Date"] = format_datetime(mx(2026, 11, 23, 10, 0))
    msg["Message-ID"] = f"<mesabot.{n}@example.com>"
    msg["In-Reply-To"] = f"<contrato{n}@example.com>"
    msg["References"] = f"<contrato{n}@example.com>"
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(f"Recibimos tu solicitud. Tu número de caso es MA-006 #{n}.\n")
    msg.add_attachment("Guía rápida: año, contraseña\n", filename="guía.txt")
    return msg.as_bytes()


def migrated_db(folder: Path) -> Database:
    """A SQLite database built by the migrations, for a channel's sync positions."""
    db = Database(f"sqlite:///{folder / 'channel.db'}")
    upgrade(db.engine)
    return db
