"""The outbox dispatcher: performs queued effects after commit, retrying what fails."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.channels.maildir import MaildirChannel
from bot.channels.mime import FileRef, build_message
from bot.errors import ChannelUnavailable, MessageRejected
from storage.archive import Archive
from storage.db import Database
from storage.models import Attachment, Event, Message, Outbox

log = logging.getLogger(__name__)

# A row left in "sending" this long was interrupted by a crash: send it again (the
# Maildir channel recognises its own file, so the retry does not duplicate it).
STALE_SENDING = timedelta(minutes=10)
DEAD_AFTER = timedelta(hours=48)


@dataclass
class DispatchResult:
    """What one dispatch pass did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int) -> timedelta:
    """Exponential wait between attempts: 30 s, 1 min, 2 min... capped at 1 h."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


class Dispatcher:
    """Sends pending outbox rows whose time has come."""

    def __init__(self, db: Database, archive: Archive, mail: MaildirChannel) -> None:
        self.db = db
        self.archive = archive
        self.mail = mail
        self.executors: dict[str, Callable[[Outbox, datetime], None]] = {"mail": self._send_mail}

    def run_all(self, now: datetime, batch: int = 200) -> DispatchResult:
        """Dispatch every due row, batch after batch until none is left."""
        total = DispatchResult()
        while True:
            result, seen = self._run(now, batch)
            total.sent += result.sent
            total.retried += result.retried
            total.failed += result.failed
            total.errors.extend(result.errors)
            # Retried rows move to a later not_before, so each batch makes progress.
            if seen < batch:
                return total

    def run(self, now: datetime, limit: int = 200) -> DispatchResult:
        """Dispatch the due rows, at most `limit`, each in its own transaction."""
        return self._run(now, limit)[0]

    def _run(self, now: datetime, limit: int) -> tuple[DispatchResult, int]:
        """One batch: the result and how many rows were due."""
        result = DispatchResult()
        with self.db.transaction() as s:
            s.execute(
                update(Outbox)
                .where((Outbox.status == "sending") & (Outbox.not_before <= now - STALE_SENDING))
                .values(status="pending")
            )
            ids = s.scalars(
                select(Outbox.id)
                .where((Outbox.status == "pending") & (Outbox.not_before <= now))
                .order_by(Outbox.not_before, Outbox.id)
                .limit(limit)
            ).all()
        for row_id in ids:
            self._one(row_id, now, result)
        return result, len(ids)

    def _one(self, row_id: int, now: datetime, result: DispatchResult) -> None:
        """Claim one row, perform it, record the outcome."""
        with self.db.transaction() as s:
            claimed = s.execute(
                update(Outbox)
                .where((Outbox.id == row_id) & (Outbox.status == "pending"))
                .values(status="sending", not_before=now, attempts=Outbox.attempts + 1)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return
        with self.db.transaction() as s:
            row = s.get_one(Outbox, row_id)
            try:
                self.executors[row.kind](row, now)
            except ChannelUnavailable as exc:
                self._retry_or_die(s, row, now, str(exc), result)
                return
            except (MessageRejected, KeyError, ValueError, OSError) as exc:
                self._fail(s, row, now, f"{type(exc).__name__}: {exc}", result)
                return
            row.status = "sent"
            row.sent_at = now
            row.last_error = None
            message_id = row.payload.get("message_id")
            if message_id:
                s.execute(
                    update(Message)
                    .where((Message.external_id == message_id) & (Message.direction == "out"))
                    .values(status="sent", at=now)
                )
            result.sent += 1

    def _retry_or_die(
        self, s: Session, row: Outbox, now: datetime, error: str, result: DispatchResult
    ) -> None:
        """A temporary failure: retry later, or give up after 48 hours."""
        if now - row.created_at >= DEAD_AFTER:
            self._fail(s, row, now, f"sin entregar en 48 h: {error}", result, status="dead")
            return
        row.status = "pending"
        row.not_before = now + backoff(row.attempts)
        row.last_error = error
        result.retried += 1

    def _fail(
        self,
        s: Session,
        row: Outbox,
        now: datetime,
        error: str,
        result: DispatchResult,
        status: str = "failed",
    ) -> None:
        """A permanent failure: keep the row, record it in the audit trail."""
        row.status = status
        row.last_error = error
        s.add(
            Event(
                case_id=row.case_id,
                at=now,
                kind="delivery_failed",
                actor="mesabot",
                steps=[],
                detail={"outbox_id": row.id, "error": error[:1000]},
            )
        )
        log.error("outbox %s %s: %s", row.id, status, error)
        result.failed += 1
        result.errors.append(error)

    def _send_mail(self, row: Outbox, now: datetime) -> None:
        """Render the payload to RFC 5322 and hand it to the mail channel."""
        files: list[FileRef] = []
        with self.db.sessions() as s:
            for sha in row.payload.get("attachments", []):
                meta = s.scalars(
                    select(Attachment).where(Attachment.sha256 == sha).limit(1)
                ).first()
                files.append(
                    FileRef(
                        filename=meta.filename if meta else f"{sha[:12]}.bin",
                        content_type=meta.content_type if meta else "application/octet-stream",
                        content=self.archive.get(sha),
                    )
                )
        message = build_message(row.payload, now, files)
        self.mail.send(message.as_bytes(), key=str(row.payload["message_id"]))
