"""The EWS backend under the channel contract: exchangelib against a fake EWS endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from exchangelib import BASIC, DELEGATE, Credentials

from bot.channels.ews import EwsChannel
from bot.channels.state import CursorStore
from storage.db import Database
from tests.channels.fake_ews import FakeEws
from tests.channels.harness import BOT, MB, migrated_db

MAILBOX = BOT
USERNAME = "EJEMPLO\\svc.mesabot"
PASSWORD = "clave-de-prueba"
# Tiny waits: a busy or missing server must fail the test's operation within a second.
MAX_WAIT = 0.5
HTTP_TIMEOUT = 5.0


class EwsHarness:
    """A fake Exchange mailbox on 127.0.0.1, and a database for the sync state."""

    name = "ews"
    dedupes_sends = True
    has_credentials = True

    def __init__(self, fake: FakeEws, db: Database) -> None:
        """The fake server and the database the channels keep their state in."""
        self.fake = fake
        self.db = db
        self.cursors = CursorStore(db, "mail:ews")

    def deliver(self, raw: bytes) -> None:
        """Exchange's transport files the message in the Inbox."""
        self.fake.deliver(raw)

    def channel(
        self,
        *,
        max_message_bytes: int = 35 * MB,
        password: str | None = None,
        **options: Any,
    ) -> EwsChannel:
        """A new channel on the same mailbox and database, as after a restart."""
        settings: dict[str, Any] = {
            "mailbox": MAILBOX,
            "auth_type": BASIC,
            "access_type": DELEGATE,
            "max_wait": MAX_WAIT,
            "timeout": HTTP_TIMEOUT,
            "username": USERNAME,
            **options,
        }
        return EwsChannel(
            endpoint=self.fake.url,
            credentials=Credentials(USERNAME, PASSWORD if password is None else password),
            cursors=CursorStore(self.db, "mail:ews"),
            max_message_bytes=max_message_bytes,
            **settings,
        )

    def sent(self) -> list[bytes]:
        """Every message the fake accepted for delivery, in order."""
        return list(self.fake.sent)

    def waiting(self) -> int:
        """Unread messages in the Inbox."""
        return sum(1 for item in self.fake.inbox() if not item.is_read)

    def quarantined(self) -> int:
        """Messages in the Cuarentena folder."""
        return len(self.fake.quarantine())

    def stored(self) -> int:
        """Inbound messages anywhere in the mailbox."""
        return sum(1 for item in self.fake.items.values() if item.inbound)

    def down(self) -> AbstractContextManager[None]:
        """Nothing listens on the endpoint's port."""
        return self.fake.down()

    def refuse(self, address: str) -> None:
        """CreateItem answers ErrorInvalidRecipients for this address."""
        self.fake.refused.add(address.lower())


@contextmanager
def ews_harness(tmp_path: Path) -> Iterator[EwsHarness]:
    """The harness on a fresh fake mailbox and a migrated SQLite database."""
    db = migrated_db(tmp_path)
    fake = FakeEws(MAILBOX, USERNAME, PASSWORD).start()
    try:
        yield EwsHarness(fake, db)
    finally:
        fake.stop()
        db.dispose()
    assert not fake.unexpected, f"requests the fake could not answer: {fake.unexpected}"
