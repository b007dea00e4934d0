"""The outbox dispatcher: performs queued effects after commit, retrying what fails.

Each row is claimed (pending -> sending) in one transaction, performed outside any
transaction, and marked in another. A crash between the send and the mark leaves the row
in "sending"; after STALE_SENDING it is sent again, and channels recognise a message they
already delivered by its key, so at most the one message in flight can go out twice.

Temporary failures (ChannelUnavailable: SMTP 4xx, connection refused, a full disk) are
retried at once a few times with exponential jitter (tenacity), then again on later passes
with a growing delay; after DEAD_AFTER the row is dead-lettered. Permanent failures
(MessageRejected: SMTP 5xx, a payload that cannot be built) fail the row at once. Both end
in an audit event and an alert mail to the specialists.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from bot.channels.base import OutboundChannel
from bot.channels.mime import FileRef, build_message
from bot.errors import ChannelAuthFailed, ChannelBusy, ChannelUnavailable, MessageRejected
from bot.rules.effects import SendMail
from bot.workflow import SYSTEM_ACTOR, Workflow
from storage.archive import Archive
from storage.db import Database
from storage.models import Attachment, Case, Event, Message, Outbox

log = logging.getLogger(__name__)

STALE_SENDING = timedelta(minutes=10)
DEAD_AFTER = timedelta(hours=48)
# Immediate attempts per row and pass; later passes space the rest out with backoff().
TRIES_PER_PASS = 3
ALERT_TEMPLATE = "common/entrega_fallida"
TEMPORARY = (ChannelUnavailable, ChannelAuthFailed)
# Kinds whose rows queue more rows due at once (a case's job), and how many batches of
# them one run_all follows: a chain of jobs ends with the state machine, but never loops.
CHAINING = frozenset({"job"})
MAX_ROUNDS = 50


def _retry_now(exc: BaseException) -> bool:
    """Temporary failures are retried at once, except when the peer said how long to wait."""
    return isinstance(exc, TEMPORARY) and not isinstance(exc, ChannelBusy)


@dataclass(frozen=True)
class OutboxJob:
    """What an executor needs from an outbox row, detached from any session."""

    id: int
    kind: str
    payload: Mapping[str, Any]
    now: datetime


Executor = Callable[[OutboxJob], None]


@dataclass
class DispatchResult:
    """What one dispatch pass did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)

    def merge(self, other: DispatchResult) -> None:
        """Add another pass's figures to these."""
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.deferred += other.deferred
        self.errors.extend(other.errors)


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Delay before the next pass tries again: 1, 2, 4... minutes up to 1 h, plus jitter."""
    base = min(60 * 2 ** max(attempts - 1, 0), 3600)
    # Up to a quarter more, so rows that failed together do not all come back together.
    return timedelta(seconds=base + (rng or random).uniform(0, base / 4))


class Dispatcher:
    """Sends pending outbox rows whose time has come."""

    def __init__(
        self,
        db: Database,
        archive: Archive,
        mail: OutboundChannel,
        workflow: Workflow | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        tries: int = TRIES_PER_PASS,
    ) -> None:
        self.db = db
        self.archive = archive
        self.mail = mail
        self.workflow = workflow
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.tries = tries
        self.executors: dict[str, Executor] = {"mail": self._send_mail}
        # Kinds this process does not send (the chat, from a CLI command): left pending for
        # the daemon rather than failed.
        self.paused: set[str] = set()

    def run_all(self, now: datetime, batch: int = 200) -> DispatchResult:
        """Dispatch every due row, batch after batch, until none is left or a channel is down."""
        total = DispatchResult()
        for _ in range(MAX_ROUNDS):
            result, seen, jobs = self._run(now, batch)
            total.merge(result)
            # Each batch makes progress (rows are sent, failed or pushed to a later time);
            # a job queues the rows its result calls for (the areas' mail), which go in this
            # same pass. A channel that is down leaves its rows due: stop rather than spin.
            if result.deferred or (seen < batch and not jobs):
                return total
        return total

    def run(self, now: datetime, limit: int = 200) -> DispatchResult:
        """Dispatch the due rows, at most `limit`."""
        return self._run(now, limit)[0]

    def _run(self, now: datetime, limit: int) -> tuple[DispatchResult, int, int]:
        """One batch: the result, how many rows were due and how many of them were jobs."""
        result = DispatchResult()
        with self.db.transaction() as s:
            s.execute(
                update(Outbox)
                .where((Outbox.status == "sending") & (Outbox.not_before <= now - STALE_SENDING))
                .values(status="pending")
            )
            waiting = (Outbox.status == "pending") & (Outbox.not_before <= now)
            if self.paused:
                waiting = waiting & Outbox.kind.not_in(self.paused)
            due = s.execute(
                select(Outbox.id, Outbox.kind)
                .where(waiting)
                .order_by(Outbox.not_before, Outbox.id)
                .limit(limit)
            ).all()
        down: set[str] = set()
        for row_id, kind in due:
            if kind in down:
                result.deferred += 1  # its channel just failed: leave it for the next pass
                continue
            if not self._one(row_id, now, result):
                down.add(kind)
        return result, len(due), sum(1 for _, kind in due if kind in CHAINING)

    def _claim(self, row_id: int, now: datetime) -> OutboxJob | None:
        """Move one row from pending to sending; None if another worker took it."""
        with self.db.transaction() as s:
            claimed = s.execute(
                update(Outbox)
                .where((Outbox.id == row_id) & (Outbox.status == "pending"))
                .values(status="sending", not_before=now, attempts=Outbox.attempts + 1)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = s.get_one(Outbox, row_id)
            return OutboxJob(row.id, row.kind, dict(row.payload), now)

    def _one(self, row_id: int, now: datetime, result: DispatchResult) -> bool:
        """Claim, perform and mark one row; False if its channel is unavailable."""
        job = self._claim(row_id, now)
        if job is None:
            return True
        executor = self.executors.get(job.kind)
        try:
            if executor is None:
                raise MessageRejected(f"no hay quien envíe «{job.kind}»")
            Retrying(
                retry=retry_if_exception(_retry_now),
                stop=stop_after_attempt(self.tries),
                wait=wait_exponential_jitter(initial=1, max=60),
                sleep=self.sleep,
                reraise=True,
            )(executor, job)
        except TEMPORARY as exc:
            wait = exc.retry_after if isinstance(exc, ChannelBusy) else None
            self._temporary(row_id, now, f"{type(exc).__name__}: {exc}", result, wait)
            return False
        except Exception as exc:
            # Anything else (5xx, a broken payload, a missing attachment) will not get
            # better by retrying: fail the row now and tell the specialists.
            self._finish(row_id, now, "failed", f"{type(exc).__name__}: {exc}", result)
            return True
        self._sent(job, now, result)
        return True

    def _sent(self, job: OutboxJob, now: datetime, result: DispatchResult) -> None:
        """Record the delivery on the row and on its outbound message."""
        with self.db.transaction() as s:
            row = s.get_one(Outbox, job.id)
            row.status = "sent"
            row.sent_at = now
            row.last_error = None
            message_id = job.payload.get("message_id")
            if message_id:
                s.execute(
                    update(Message)
                    .where((Message.message_id == message_id) & (Message.direction == "out"))
                    .values(status="sent", at=now)
                )
        result.sent += 1

    def _temporary(
        self,
        row_id: int,
        now: datetime,
        error: str,
        result: DispatchResult,
        wait: float | None = None,
    ) -> None:
        """A temporary failure: try again on a later pass, or dead-letter after 48 hours."""
        with self.db.transaction() as s:
            row = s.get_one(Outbox, row_id)
            if now - row.created_at < DEAD_AFTER:
                row.status = "pending"
                # A peer that said when (429 Retry-After) is asked again exactly then.
                delay = timedelta(seconds=wait) if wait else backoff(row.attempts, self.rng)
                row.not_before = now + delay
                row.last_error = error[:2000]
                result.retried += 1
                log.warning("outbox %s: %s; nuevo intento %s", row_id, error, row.not_before)
                return
        self._finish(row_id, now, "dead", f"sin entregar en 48 h: {error}", result)

    def _finish(
        self, row_id: int, now: datetime, status: str, error: str, result: DispatchResult
    ) -> None:
        """Give up on a row: keep it, record it in the audit trail and alert the team."""
        with self.db.transaction() as s:
            row = s.get_one(Outbox, row_id)
            row.status = status
            row.last_error = error[:2000]
            if row.message_id:
                s.execute(
                    update(Message)
                    .where((Message.message_id == row.message_id) & (Message.direction == "out"))
                    .values(status=status)
                )
            s.add(
                Event(
                    case_id=row.case_id,
                    at=now,
                    kind="delivery_failed",
                    actor=SYSTEM_ACTOR,
                    steps=[],
                    detail={"outbox_id": row.id, "status": status, "error": error[:1000]},
                )
            )
            self._alert(s, row, now, status, error)
        log.error("outbox %s %s: %s", row_id, status, error)
        result.failed += 1
        result.errors.append(error)

    def _alert(self, s: Session, row: Outbox, now: datetime, status: str, error: str) -> None:
        """Queue the alert mail, unless the row was itself such an alert (no loops)."""
        if self.workflow is None or row.payload.get("template") == ALERT_TEMPLATE:
            return
        case = s.get(Case, row.case_id) if row.case_id is not None else None
        alert = SendMail(
            to=("@specialists",),
            template=ALERT_TEMPLATE,
            context={
                "destinatarios": ", ".join(
                    [*row.payload.get("to", []), *row.payload.get("cc", [])]
                ),
                "asunto": row.payload.get("subject", ""),
                "motivo": "rechazado por el servidor" if status == "failed" else "sin entrega",
                "error": error[:500],
                "creado": self.workflow.calendar.local(row.created_at).strftime("%Y-%m-%d %H:%M"),
                "intentos": row.attempts,
            },
            auto="auto-generated",
            immediate=True,
        )
        self.workflow.queue_mail(s, case, alert, now)

    def _send_mail(self, job: OutboxJob) -> None:
        """Render the payload to RFC 5322 and hand it to the mail channel."""
        files = load_files(self.db, self.archive, job.payload.get("attachments", []))
        raw = build_message(job.payload, job.now, files).as_bytes()
        send_raw(self.mail, raw, str(job.payload["message_id"]))


def load_files(db: Database, archive: Archive, digests: Sequence[str]) -> list[FileRef]:
    """Archived files by digest, with the name and type they were stored under."""
    files: list[FileRef] = []
    with db.sessions() as s:
        for sha in digests:
            meta = s.scalars(select(Attachment).where(Attachment.sha256 == sha).limit(1)).first()
            files.append(
                FileRef(
                    filename=meta.filename if meta else f"{sha[:12]}.bin",
                    content_type=meta.content_type if meta else "application/octet-stream",
                    content=archive.get(sha),
                )
            )
    return files


def send_raw(mail: OutboundChannel, raw: bytes, key: str) -> None:
    """Send a built message; a local write that failed (disk full) may work later."""
    try:
        mail.send(raw, key=key)
    except OSError as exc:
        raise ChannelUnavailable(f"no se pudo escribir el mensaje: {exc}") from exc
