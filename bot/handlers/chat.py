"""The chat pipeline: a judged Telegram update becomes stored messages, cases and answers.

Each update is applied in one transaction together with the next getUpdates offset, so
what Telegram forgets is exactly what was committed. Inside, the work runs under a
savepoint: an update that breaks something is kept as a quarantine event (with an alert to
the specialists) and the offset still advances, so one bad update never blocks the chat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from bot.channels.telegram import CURSOR, OFFSET_KEY
from bot.channels.telegram_gate import ChatPerson, Verdict
from bot.chat_links import (
    CODE_TTL,
    TELEGRAM,
    TOO_MANY_CODES,
    LinkRefused,
    linked_users,
    may_issue,
    redeem_code,
    refuse_once_today,
)
from bot.handlers.chat_desk import desk_message
from bot.handlers.intents import UNKNOWN, Classifier, classify, is_courtesy
from bot.handlers.pipeline import record_quarantine
from bot.rules.dsl import event, intent
from bot.workflow import Workflow
from storage.archive import Archive
from storage.db import Database
from storage.models import Attachment, Case, Cursor, Event, Message, Outbox

log = logging.getLogger(__name__)

PROCESS = "MA-007"
Outcome = Literal[
    "ignored", "refused", "linking", "duplicate", "opened", "attached", "desk", "quarantined"
]


@dataclass(frozen=True)
class ChatFile:
    """A file received on chat, downloaded and within the limits."""

    filename: str
    content_type: str
    content: bytes


@dataclass
class Received:
    """What came with an accepted message: its files, and the ones that were not taken."""

    files: list[ChatFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # Spanish reasons, told to the sender


def message_key(chat_id: int | None, message_id: int | None) -> str:
    """The stored id of a Telegram message: unique per chat."""
    return f"tg:{chat_id}:{message_id}"


class ChatIngestor:
    """Applies judged updates: audit, linking, the desk's commands and MA-007 cases."""

    def __init__(
        self,
        db: Database,
        workflow: Workflow,
        archive: Archive,
        classifier: Classifier = classify,
    ) -> None:
        self.db = db
        self.workflow = workflow
        self.archive = archive
        self.classify = classifier

    def linked(self) -> dict[int, str]:
        """The linked chat accounts, as the gate takes them."""
        with self.db.sessions() as s:
            return linked_users(s, TELEGRAM)

    def apply(self, verdict: Verdict, received: Received, now: datetime) -> Outcome:
        """Apply one update and commit it with the next offset."""
        with self.db.transaction() as s, self.archive.deferred_sync():
            try:
                with s.begin_nested():
                    outcome = self._one(s, verdict, received, now)
            except (OperationalError, InterfaceError):
                raise  # the database's trouble, not the update's: retried, never skipped
            except Exception as exc:  # a bad update must never stop the chat
                log.exception("chat update %s quarantined", verdict.update_id)
                outcome = self._quarantine(s, verdict, now, f"{type(exc).__name__}: {exc}")
            if verdict.update_id >= 0:
                _advance(s, verdict.update_id + 1, now)
        return outcome

    # -- the decision ------------------------------------------------------------------

    def _one(self, s: Session, v: Verdict, received: Received, now: datetime) -> Outcome:
        """Route the verdict."""
        if v.action == "ignore":
            log.debug("chat update %s ignored: %s", v.update_id, v.reason)
            return "ignored"
        assert v.user_id is not None and v.chat_id is not None
        if v.action == "refuse":
            return self._refuse(s, v, now)
        if v.action == "link":
            return self._link(s, v, now)
        assert v.person is not None
        key = message_key(v.chat_id, v.message_id)
        if s.scalar(
            select(Message.id).where(Message.channel == "chat", Message.external_id == key)
        ):
            return "duplicate"
        if v.person.role == "agent" and v.command == "vincular":
            self._say(s, None, v, "common/ya_vinculado", {"nombre": v.person.name}, now)
            return "desk"
        if v.person.role == "specialist":
            message = self._record(s, v, None, received, now)
            return desk_message(self.workflow, s, v, message, received, now)
        return self._agent(s, v, received, now)

    def _refuse(self, s: Session, v: Verdict, now: datetime) -> Outcome:
        """A stranger: one polite answer a day and one audit event with it, nothing more."""
        assert v.user_id is not None and v.chat_id is not None
        day = self.workflow.calendar.local(now).date()
        if not refuse_once_today(s, TELEGRAM, v.user_id, day, now):
            return "ignored"
        _audit(
            s,
            "chat_refused",
            f"telegram:{v.user_id}",
            {"user_id": v.user_id, "texto": v.text[:200], "reenviado": v.forwarded},
            now,
        )
        self._say(s, None, v, "common/rechazo", {}, now)
        return "refused"

    def _link(self, s: Session, v: Verdict, now: datetime) -> Outcome:
        """`/vincular correo` mails a code to a directory address; `/vincular 123456` links."""
        assert v.user_id is not None
        arg = v.args[0] if v.args else ""
        if not arg:
            self._say(s, None, v, "common/vincular_ayuda", {}, now)
        elif "@" in arg:
            self._request_code(s, v, arg.strip().lower(), now)
        else:
            try:
                email = redeem_code(s, TELEGRAM, v.user_id, " ".join(v.args), now)
            except LinkRefused as refused:
                # Committed with the update: a wrong try counts even though it failed.
                self._say(s, None, v, "common/vincular_error", {"motivo": refused.reason}, now)
                _audit(
                    s,
                    "chat_link_refused",
                    f"telegram:{v.user_id}",
                    {"user_id": v.user_id, "motivo": refused.reason},
                    now,
                )
                return "linking"
            name = self.workflow.directory.name_of(email)
            _audit(s, "chat_linked", email, {"user_id": v.user_id, "email": email}, now)
            self._say(s, None, v, "common/vinculado", {"nombre": name}, now)
        return "linking"

    def _request_code(self, s: Session, v: Verdict, email: str, now: datetime) -> None:
        """Queue the code's mail when the address may chat; the answer never says which."""
        assert v.user_id is not None
        config = self.workflow.config
        known = any(p.email == email for p in (*config.people.specialists, *config.people.agents))
        _audit(
            s,
            "chat_link_requested",
            f"telegram:{v.user_id}",
            {"user_id": v.user_id, "email": email if known else "(no registrado)"},
            now,
        )
        if known and not may_issue(s, TELEGRAM, v.user_id, email, now):
            self._say(s, None, v, "common/vincular_error", {"motivo": TOO_MANY_CODES}, now)
            return
        if known:
            self.workflow.queue_link_code(s, v.user_id, email, now)
        minutes = int(CODE_TTL.total_seconds() // 60)
        self._say(s, None, v, "common/codigo_enviado", {"minutos": minutes}, now)

    def _agent(self, s: Session, v: Verdict, received: Received, now: datetime) -> Outcome:
        """An agent's message: their open conversation (MA-007) moves, or one opens."""
        assert v.person is not None
        wf = self.workflow
        person = v.person
        case = s.scalars(
            select(Case)
            .where(
                (Case.process == PROCESS)
                & (Case.requester == person.email)
                & Case.closed_at.is_(None)
            )
            .order_by(Case.id.desc())
            .limit(1)
        ).first()
        if case is None and not received.files and is_courtesy(v.text):
            last = self._recent(s, person)
            if last is not None:
                # "Gracias" after the conversation closed is courtesy, not a new problem.
                self._record(s, v, last, received, now)
                return "attached"
        message = self._record(s, v, case, received, now)
        digests = tuple(
            a.sha256
            for a in s.scalars(select(Attachment).where(Attachment.message_id == message.id))
        )
        facts: dict[str, object] = {"canal": TELEGRAM, "persona": _persona(wf, person)}
        if received.skipped:
            facts["omitidos"] = list(received.skipped)
        if not v.text.strip() and not v.media:
            facts["sin_contenido"] = True
        if case is None:
            trigger = wf.trigger(
                event("abrir"),
                person.email,
                text=v.text,
                attachments=digests,
                message_id=message.message_id,
                facts=facts,
            )
            opened, _ = wf.open_case(
                s,
                PROCESS,
                trigger,
                now,
                subject=f"Chat con {person.name}",
                requester=person.email,
            )
            message.case_id = opened.id
            for att in s.scalars(select(Attachment).where(Attachment.message_id == message.id)):
                att.case_id = opened.id
            return "opened"
        proc = wf.process(case.process)
        accepted = proc.accepted_intents(case.state)
        said = self.classify(v.text) if accepted and v.text.strip() else UNKNOWN
        on = intent(said) if said in accepted else event("mensaje")
        message.detail = {**message.detail, "intent": said}
        trigger = wf.trigger(
            on,
            person.email,
            text=v.text,
            attachments=digests,
            message_id=message.message_id,
            facts=facts,
        )
        wf.handle(s, case, trigger, now)
        return "attached"

    def _recent(self, s: Session, person: ChatPerson) -> Case | None:
        """The agent's last closed conversation, for a closing courtesy."""
        return s.scalars(
            select(Case)
            .where((Case.process == PROCESS) & (Case.requester == person.email))
            .order_by(Case.id.desc())
            .limit(1)
        ).first()

    # -- records and answers -------------------------------------------------------------

    def _record(
        self, s: Session, v: Verdict, case: Case | None, received: Received, now: datetime
    ) -> Message:
        """Store the message and its files (by SHA-256), threaded to the case if known."""
        assert v.person is not None
        key = message_key(v.chat_id, v.message_id)
        message = Message(
            case_id=case.id if case else None,
            direction="in",
            channel="chat",
            external_id=key,
            message_id=key,
            sender=v.person.email,
            recipients=[self.workflow.config.mail.address],
            subject="(chat)",
            body=v.text,
            at=v.sent_at or now,
            status="received",
            detail={
                "telegram": {"user_id": v.user_id, "update_id": v.update_id},
                "reenviado": v.forwarded,
                **({"omitidos": list(received.skipped)} if received.skipped else {}),
                **({"responde_a": v.reply_to_message_id} if v.reply_to_message_id else {}),
            },
        )
        s.add(message)
        s.flush()
        for file in received.files:
            s.add(
                Attachment(
                    message_id=message.id,
                    case_id=message.case_id,
                    filename=file.filename[:500],
                    content_type=file.content_type,
                    size=len(file.content),
                    sha256=self.archive.put(file.content),
                    created_at=now,
                )
            )
        s.flush()
        return message

    def _say(
        self,
        s: Session,
        case: Case | None,
        v: Verdict,
        template: str,
        context: dict[str, object],
        now: datetime,
    ) -> Outbox:
        """Answer this chat at once with a template (never held: the person is writing now)."""
        assert v.chat_id is not None
        wf = self.workflow
        text = wf.templates.text(
            f"chat/{template}.txt.j2", wf.render_context(case, context)
        ).strip()
        email = v.person.email if v.person is not None else ""
        return wf.queue_chat_text(
            s, case, v.chat_id, email, text, template, now, reply_to=v.message_id, immediate=True
        )

    def _quarantine(self, s: Session, v: Verdict, now: datetime, reason: str) -> Outcome:
        """Keep what could not be processed as an event and tell the specialists."""
        detail: dict[str, object] = {
            "channel": "chat",
            "update_id": v.update_id,
            "user_id": v.user_id,
            "reason": reason[:2000],
        }
        what = f"Telegram, actualización {v.update_id}"
        record_quarantine(self.workflow, s, now, f"cuarentena:chat:{v.update_id}", what, detail)
        return "quarantined"


def _persona(wf: Workflow, person: ChatPerson) -> dict[str, str]:
    """The agent as the process records them: name, mail and key from the directory."""
    agent = next((a for a in wf.config.people.agents if a.email == person.email), None)
    clave = agent.clave if agent is not None and agent.clave else ""
    return {"nombre": person.name, "correo": person.email, "clave": clave}


def _audit(s: Session, kind: str, actor: str, detail: dict[str, object], now: datetime) -> None:
    """An audit event about the chat account itself (no case)."""
    s.add(Event(at=now, kind=kind, actor=actor, steps=[], detail=detail))


def _advance(s: Session, offset: int, now: datetime) -> None:
    """Store the next getUpdates offset in the update's own transaction (never backwards)."""
    row = s.get(Cursor, (CURSOR, OFFSET_KEY))
    if row is None:
        s.add(Cursor(channel=CURSOR, key=OFFSET_KEY, value=str(offset), updated_at=now))
    elif not row.value.isdigit() or int(row.value) < offset:
        row.value = str(offset)
        row.updated_at = now
