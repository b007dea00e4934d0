"""Sync positions of the channels, kept in the database (the `cursors` table)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime

from sqlalchemy import select

from storage.db import Database
from storage.models import Cursor, Message


class CursorStore:
    """Small named values of one channel: UIDVALIDITY and UID, deltaLink, sync state."""

    def __init__(
        self,
        db: Database,
        channel: str,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.channel = channel
        self._now = now

    def get(self, key: str) -> str | None:
        """The stored value, or None."""
        with self.db.sessions() as s:
            return s.scalar(
                select(Cursor.value).where((Cursor.channel == self.channel) & (Cursor.key == key))
            )

    def put(self, key: str, value: str | None) -> None:
        """Store (or, with None, forget) a value."""
        self.put_many({key: value})

    def put_many(self, values: Mapping[str, str | None]) -> None:
        """Store several values at once: a position made of two parts is never half-written."""
        with self.db.transaction() as s:
            for key, value in values.items():
                row = s.get(Cursor, (self.channel, key))
                if value is None:
                    if row is not None:
                        s.delete(row)
                elif row is None:
                    s.add(
                        Cursor(channel=self.channel, key=key, value=value, updated_at=self._now())
                    )
                else:
                    row.value = value
                    row.updated_at = self._now()

    def known_message_ids(self, message_ids: Collection[str]) -> set[str]:
        """Which of these Message-IDs were already ingested on the mail channel."""
        wanted = list(dict.fromkeys(message_ids))
        found: set[str] = set()
        with self.db.sessions() as s:
            for start in range(0, len(wanted), 500):  # bounded IN lists
                chunk = wanted[start : start + 500]
                found.update(
                    s.scalars(
                        select(Message.external_id).where(
                            (Message.channel == "mail")
                            & (Message.direction == "in")
                            & Message.external_id.in_(chunk)
                        )
                    )
                )
        return found
