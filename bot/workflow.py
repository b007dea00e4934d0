"""Applying decisions: state, audit event, timers, tasks and outbox rows in one transaction."""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from bot.calendar import BusinessCalendar
from bot.chat_links import CODE_TTL, chat_accounts
from bot.config import Config, fold_name
from bot.directory import TEAM_ROLES, Directory
from bot.documents.intake import UserRow
from bot.documents.letters import (
    director_context,
    letter_template,
    local_date,
    render_letter,
)
from bot.handlers.documents import FileIn, inspect
from bot.handlers.entities import Entities
from bot.rules import PROCESSES, get_process
from bot.rules.dsl import CaseView, On, Process, Trigger, command, event
from bot.rules.effects import (
    CompleteTasks,
    CreateTask,
    DeliverCredentials,
    KeepDocument,
    OpenCase,
    RecordKnowledge,
    RenderAgentForm,
    RenderLetter,
    RunJob,
    SendChat,
    SendMail,
    SignalLinked,
    UpdatePegasus,
    business_days,
    business_hours,
)
from bot.rules.engine import Decision, Rejected, step
from bot.systems.pegasus import Pegasus, PegasusRecord, describe_change
from bot.templates import Templates, load_known_answers
from storage.archive import Archive
from storage.models import (
    Attachment,
    AutoMail,
    Case,
    CaseLink,
    Event,
    KnowledgeEntry,
    Message,
    Outbox,
    Task,
    Timer,
)

if TYPE_CHECKING:
    from bot.documents.agent_form import AgentInfo

SYSTEM_ACTOR = "mesabot"
# Steps the bot chains on its own (Outcome.then); more means a loop in a definition.
MAX_CHAIN = 8
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Characters kept out of a file name made from a mail subject.
EML_NAME = re.compile(r"[^\w .,()#-]+")
# What outbound records show instead of a password: the real one is never stored.
PASSWORD_PLACEHOLDER = "(contraseña enviada solo al usuario)"
CODE_PLACEHOLDER = "(código enviado solo a este correo)"
LINK_CODE_TEMPLATE = "common/codigo_chat"

# Caps on automatic mail to people outside the team (RFC 3834 loop protection; the
# figures are Zammad's): one acknowledgement per sender per hour, 10 automatic mails per
# case per 10 minutes, 30 per recipient per day.
ACK_WINDOW = timedelta(hours=1)
CASE_CAP, CASE_WINDOW = 10, timedelta(minutes=10)
RECIPIENT_CAP, RECIPIENT_WINDOW = 30, timedelta(days=1)
# Built once: composing these statements costs more than running them on their indexes.
_AUTO_TO_CASE = (
    select(func.count())
    .select_from(Outbox)
    .where(
        Outbox.auto.is_not(None)
        & (Outbox.case_id == bindparam("case_id"))
        & (Outbox.created_at > bindparam("since"))
    )
)
_AUTO_TO_ADDRESS = select(
    func.count(sql_case((AutoMail.created_at > bindparam("day"), 1))),
    func.count(
        sql_case(
            (
                (AutoMail.created_at > bindparam("hour"))
                & (AutoMail.template == bindparam("template")),
                1,
            )
        )
    ),
).where((AutoMail.address == bindparam("address")) & (AutoMail.created_at > bindparam("since")))


class UnknownCase(LookupError):
    """No case has this id."""


class UnknownTask(LookupError):
    """No open task has this id."""


class CannotOpen(ValueError):
    """No entry transition of the process accepts this opening; `reason` is Spanish."""

    def __init__(self, process: str, reason: str) -> None:
        self.reason = reason
        super().__init__(f"{process}: {reason}")


def case_tag(process: str, case_id: int) -> str:
    """The subject tag that threads mail to a case, e.g. '[MA-006 #7]'."""
    return f"[{process} #{case_id}]"


# Any case tag, ours or another case's, as it appears in a subject.
TAG_PATTERN = re.compile(r"\s*\[MA-\d{3} #\d+\]")
# Reply and forward prefixes of Spanish and English mail clients, repeated or not.
REPLY_PREFIX = re.compile(r"^(\s*(re|rv|fw|fwd|res|enc|rta)\s*(\[\d+\])?\s*:\s*)+", re.I)


def tag_subject(subject: str, process: str, case_id: int) -> str:
    """The subject with this case's tag, once, and no other case's tag."""
    tag = case_tag(process, case_id)
    others = TAG_PATTERN.sub(lambda m: m.group(0) if m.group(0).strip() == tag else "", subject)
    return others if tag in others else f"{others} {tag}".strip()


def plain_subject(subject: str) -> str:
    """A subject without case tags or reply prefixes: what a new case is called."""
    return REPLY_PREFIX.sub("", TAG_PATTERN.sub("", subject)).strip()


def view_of(case: Case) -> CaseView:
    """The read-only view the rules engine works on."""
    return CaseView(
        id=case.id,
        process=case.process,
        state=case.state,
        subject=case.subject,
        requester=case.requester,
        assignee=case.assignee,
        data=dict(case.data),
    )


@dataclass(frozen=True)
class Applied:
    """A decision that was applied, with the audit event it wrote."""

    decision: Decision
    event: Event  # its id is set when the session next flushes


class Workflow:
    """Runs triggers through the pure engine and persists what it decides."""

    def __init__(
        self,
        config: Config,
        calendar: BusinessCalendar,
        templates: Templates,
        processes: Sequence[Process] = PROCESSES,
        *,
        archive: Archive | None = None,
        pegasus: Pegasus | None = None,
    ) -> None:
        self.config = config
        self.calendar = calendar
        self.templates = templates
        self.archive = archive
        self.pegasus = pegasus
        self.directory = Directory(config)
        self.processes = {p.code: p for p in processes}
        self.settings = self._settings_from_config(config)
        # The known answers are templates the help desk edits; their keywords ride along.
        self.settings["MA-007"] = {
            **self.settings.get("MA-007", {}),
            "respuestas": load_known_answers(templates.root),
        }

    @staticmethod
    def _settings_from_config(config: Config) -> dict[str, dict[str, Any]]:
        """Process settings from config.toml: [sla] delays, and the zones MA-002 routes by."""
        close = config.sla.validation_business_days
        validation = {
            "validation_close": business_days(close),
            "validation_reminder": business_days(close - 1),
        }
        return {
            "MA-001": validation,
            "MA-002": {
                **validation,
                "zonas": tuple(z.name for z in config.zones),
                "zonas_por_promotoria": {
                    fold_name(p): z.name for z in config.zones for p in z.promotorias
                },
            },
            "MA-006": {
                "first_response": business_hours(config.sla.first_response_business_hours),
                **validation,
            },
            "MA-007": {
                # What the agent is told to expect is the desk's own first-response SLA.
                "respuesta_ticket": business_hours(config.sla.first_response_business_hours),
                **validation,
            },
        }

    def process(self, code: str) -> Process:
        """The registered process with this code."""
        return self.processes.get(code) or get_process(code)

    def trigger(
        self,
        on: On,
        actor: str = SYSTEM_ACTOR,
        *,
        values: Mapping[str, str] | None = None,
        text: str = "",
        attachments: tuple[str, ...] = (),
        message_id: str | None = None,
        entities: Entities | None = None,
        facts: Mapping[str, Any] | None = None,
        authenticated: bool = False,
    ) -> Trigger:
        """A trigger with the actor's roles looked up in the directory."""
        roles = self.directory.roles_of(actor) if actor != SYSTEM_ACTOR else frozenset({"system"})
        return Trigger(
            on=on,
            actor=actor,
            actor_roles=roles,
            values=dict(values or {}),
            text=text,
            attachments=attachments,
            message_id=message_id,
            entities=entities or Entities(),
            facts=dict(facts or {}),
            authenticated=authenticated,
        )

    # -- cases ---------------------------------------------------------------------------

    def open_case(
        self,
        session: Session,
        process_code: str,
        trigger: Trigger,
        now: datetime,
        *,
        subject: str,
        requester: str,
        data: Mapping[str, Any] | None = None,
    ) -> tuple[Case, Applied]:
        """Create a case through one of its process's entry transitions."""
        proc = self.process(process_code)
        case = Case(
            process=proc.code,
            state="",
            subject=subject[:500],
            requester=requester.strip().lower(),
            data=dict(data or {}),
            created_at=now,
            updated_at=now,
        )
        session.add(case)
        session.flush()  # the id is needed for the subject tag
        result = step(proc, view_of(case), trigger, now, self.calendar, self._settings(proc))
        if isinstance(result, Rejected):
            raise CannotOpen(proc.code, result.reason)
        return case, self._follow(session, case, result, trigger, now)

    def handle(
        self, session: Session, case: Case, trigger: Trigger, now: datetime
    ) -> Applied | Rejected:
        """Run one trigger on a case; a rejection is recorded in the audit trail."""
        proc = self.process(case.process)
        result = step(proc, view_of(case), trigger, now, self.calendar, self._settings(proc))
        if isinstance(result, Rejected):
            session.add(
                Event(
                    case_id=case.id,
                    at=now,
                    kind="rejected",
                    from_state=case.state,
                    to_state=case.state,
                    actor=trigger.actor,
                    steps=[],
                    detail={"trigger": str(trigger.on), "reason": result.reason},
                )
            )
            return result
        return self._follow(session, case, result, trigger, now)

    def accepts(self, case: Case, trigger: Trigger, now: datetime) -> bool:
        """Whether the case would take this trigger now (nothing is applied or recorded)."""
        proc = self.process(case.process)
        result = step(proc, view_of(case), trigger, now, self.calendar, self._settings(proc))
        return not isinstance(result, Rejected)

    def _follow(
        self, session: Session, case: Case, d: Decision, trigger: Trigger, now: datetime
    ) -> Applied:
        """Apply a decision and the steps it chains (Outcome.then), all in this transaction."""
        applied = self._apply(session, case, d, trigger, now)
        proc = self.process(case.process)
        for _ in range(MAX_CHAIN):
            if applied.decision.then is None:
                return applied
            follow = replace(trigger, on=event(applied.decision.then))
            result = step(proc, view_of(case), follow, now, self.calendar, self._settings(proc))
            if isinstance(result, Rejected):
                # The definition chains to an event its next state does not take: a bug.
                raise ValueError(f"{proc.code}: chained {follow.on} rejected: {result.reason}")
            applied = self._apply(session, case, result, follow, now)
        raise ValueError(f"{proc.code}: more than {MAX_CHAIN} chained steps")

    def get_case(self, session: Session, case_id: int) -> Case:
        """The case with this id, or UnknownCase."""
        case = session.get(Case, case_id)
        if case is None:
            raise UnknownCase(case_id)
        return case

    def _settings(self, proc: Process) -> Mapping[str, Any]:
        """The effective settings for a process."""
        return {**proc.settings, **self.settings.get(proc.code, {})}

    # -- applying ------------------------------------------------------------------------

    def _apply(
        self, session: Session, case: Case, d: Decision, trigger: Trigger, now: datetime
    ) -> Applied:
        """Persist a decision: everything lands in the caller's transaction."""
        from_state = case.state or None
        case.state = d.to_state
        if d.data:
            case.data = {**case.data, **d.data}
        if d.assignee:
            case.assignee = d.assignee.strip().lower()
        case.updated_at = now
        if d.final:
            case.closed_at = now

        kind = "opened" if from_state is None else ("transition" if d.changed else "action")
        detail: dict[str, Any] = {"trigger": str(trigger.on), **d.detail}
        if d.transition.description:
            detail["descripcion"] = d.transition.description  # for an auditor reading history
        if trigger.values:
            detail["values"] = dict(trigger.values)
        if trigger.attachments:
            detail["attachments"] = list(trigger.attachments)
        found = trigger.entities.found()
        if found:
            detail["entities"] = found  # what the reply said that the decision may rest on
        forward = trigger.facts.get("reenvio")
        if forward:
            detail["reenvio"] = forward  # a reply relayed by a team member: who and how
        event = Event(
            case_id=case.id,
            at=now,
            kind=kind,
            from_state=from_state,
            to_state=d.to_state,
            actor=trigger.actor,
            steps=list(d.steps),
            detail=detail,
        )
        session.add(event)
        self._timers(session, case, d, from_state, now)
        for effect in d.effects:
            if isinstance(effect, SendMail):
                self.queue_mail(session, case, effect, now, reply_to=trigger.message_id)
            elif isinstance(effect, SendChat):
                self.queue_chat(session, case, effect, now, reply_to=trigger.message_id)
            elif isinstance(effect, SignalLinked):
                self._signal_linked(session, case, effect, now)
            elif isinstance(effect, RenderLetter):
                self._render_letter(session, case, effect, now)
            elif isinstance(effect, RenderAgentForm):
                self._render_agent_form(session, case, now)
            elif isinstance(effect, KeepDocument):
                self._keep_document(session, case, effect, now)
            elif isinstance(effect, UpdatePegasus):
                self._update_pegasus(session, case, effect, now)
            elif isinstance(effect, DeliverCredentials):
                self._deliver_credentials(session, case, effect, now)
            elif isinstance(effect, OpenCase):
                self._open_linked(session, case, effect, trigger, now)
            elif isinstance(effect, CreateTask):
                self._create_task(session, case, effect, now)
            elif isinstance(effect, RunJob):
                self.queue_job(session, case, effect, now)
            elif isinstance(effect, CompleteTasks):
                self._complete_tasks(session, case, effect, trigger.actor, now)
            elif isinstance(effect, RecordKnowledge):
                session.add(
                    KnowledgeEntry(
                        case_id=case.id,
                        process=case.process,
                        kind=effect.kind,
                        problem=effect.problem,
                        solution=effect.solution,
                        outcome=effect.outcome,
                        created_at=now,
                    )
                )
        return Applied(d, event)

    def _timers(
        self, session: Session, case: Case, d: Decision, from_state: str | None, now: datetime
    ) -> None:
        """Cancel the timers the decision ends and arm the ones it starts."""
        pending = (Timer.case_id == case.id) & (Timer.status == "pending")
        if d.final:
            session.execute(update(Timer).where(pending).values(status="cancelled"))
        else:
            if d.changed and from_state:
                session.execute(
                    update(Timer)
                    .where(pending & (Timer.scope == "state") & (Timer.state == from_state))
                    .values(status="cancelled")
                )
            if d.cancel_kinds:
                session.execute(
                    update(Timer)
                    .where(pending & Timer.kind.in_(d.cancel_kinds))
                    .values(status="cancelled")
                )
            for arm in d.arm:
                session.add(
                    Timer(
                        case_id=case.id,
                        kind=arm.kind,
                        due_at=arm.due_at,
                        scope=arm.scope,
                        state=d.to_state if arm.scope == "state" else None,
                        created_at=now,
                    )
                )

    def render_context(self, case: Case | None, extra: Mapping[str, Any]) -> dict[str, Any]:
        """What every template may use, plus the effect's own context."""
        ctx: dict[str, Any] = {
            "org": self.config.organization.name,
            "bot": self.config.mail.address,
            "horario": self.calendar.describe_hours(),
            "horario_chat": self.calendar.describe_hours("chat"),
        }
        if case is not None:
            proc = self.process(case.process)
            ctx["case"] = {
                "id": case.id,
                "ref": case_tag_ref(case),
                "process": case.process,
                "process_name": proc.name,
                "state": case.state,
                "state_label": proc.label(case.state),
                "subject": case.subject,
                "requester": case.requester,
                "requester_name": self.directory.name_of(case.requester),
                "assignee": case.assignee or "",
                "assignee_name": self.directory.name_of(case.assignee) if case.assignee else "",
                "data": dict(case.data),
            }
        ctx.update(extra)
        return ctx

    def queue_mail(
        self,
        session: Session,
        case: Case | None,
        effect: SendMail,
        now: datetime,
        *,
        reply_to: str | None = None,
        dedupe_key: str | None = None,
    ) -> Outbox | None:
        """Render a mail and queue it in the outbox with its outbound message record."""
        requester = case.requester if case else ""
        assignee = case.assignee if case else None
        to = _unique(a for t in effect.to for a in self.directory.resolve(t, requester, assignee))
        cc = [
            a
            for a in _unique(
                a for t in effect.cc for a in self.directory.resolve(t, requester, assignee)
            )
            if a not in to
        ]
        if not to:
            return None
        # Only answers can loop with someone else's robot; reminders follow our own clock.
        capped = effect.auto == "auto-replied"
        if capped and self._over_auto_cap(session, case, effect.template, [*to, *cc], now):
            session.add(
                Event(
                    case_id=case.id if case else None,
                    at=now,
                    kind="auto_mail_suppressed",
                    actor=SYSTEM_ACTOR,
                    steps=[],
                    detail={"template": effect.template, "to": [*to, *cc]},
                )
            )
            return None
        rendered = self.templates.mail(effect.template, self.render_context(case, effect.context))
        subject = rendered.subject
        if case is not None:
            subject = tag_subject(subject, case.process, case.id)
        in_reply_to: str | None = None
        references: list[str] = []
        if effect.reply and reply_to:
            original = session.scalars(
                select(Message).where(Message.message_id == reply_to).limit(1)
            ).first()
            in_reply_to = reply_to
            references = [*(original.references if original else []), reply_to][-20:]
            if original is not None and not subject.lower().startswith("re:"):
                subject = f"Re: {subject}"
        message_id = self._message_id(case)
        headers: dict[str, str] = {"Auto-Submitted": effect.auto} if effect.auto else {}
        if effect.priority:
            # Outlook reads Importance, older clients X-Priority; both mean "read this first".
            headers.update({"Importance": "high", "X-Priority": "1 (Highest)"})
        payload: dict[str, Any] = {
            "from": self.config.mail.address,
            "to": to,
            "cc": cc,
            "subject": subject,
            "body": rendered.body,
            "message_id": message_id,
            "in_reply_to": in_reply_to,
            "references": references,
            "headers": headers,
            "attachments": self.resolve_files(session, case, effect.attachments, now),
            "template": effect.template,
        }
        if rendered.html is not None:
            payload["html"] = rendered.html  # sent as the text/html alternative
        return self._queue_outbound(
            session,
            case,
            "mail",
            payload,
            rendered.body,
            now,
            immediate=effect.immediate,
            auto=effect.auto,
            dedupe_key=dedupe_key,
        )

    def _message_id(self, case: Case | None) -> str:
        """A new Message-ID in our mail domain, naming the case."""
        domain = self.config.mail.address.rpartition("@")[2]
        return make_msgid(idstring=f"mesabot.{case.id if case else 0}", domain=domain)

    def queue_chat(
        self,
        session: Session,
        case: Case | None,
        effect: SendChat,
        now: datetime,
        *,
        reply_to: str | None = None,
        detail: Mapping[str, Any] | None = None,
        note_unreachable: bool = True,
    ) -> list[Outbox]:
        """Render a chat message and queue one per recipient's chat account."""
        if not self.config.telegram_enabled:
            return []
        requester = case.requester if case else ""
        assignee = case.assignee if case else None
        emails = _unique(
            a for t in effect.to for a in self.directory.resolve(t, requester, assignee)
        )
        accounts = chat_accounts(session, self.config, emails)
        unreachable = [e for e in emails if e not in accounts]
        if unreachable and note_unreachable:
            # Mail still reaches them; the history says why the chat did not.
            session.add(
                Event(
                    case_id=case.id if case else None,
                    at=now,
                    kind="chat_unreachable",
                    actor=SYSTEM_ACTOR,
                    steps=[],
                    detail={"template": effect.template, "to": unreachable},
                )
            )
        if not accounts:
            return []
        text = self.templates.text(
            f"chat/{effect.template}.txt.j2", self.render_context(case, effect.context)
        ).strip()
        return [
            self.queue_chat_text(
                session,
                case,
                accounts[email],
                email,
                text,
                effect.template,
                now,
                reply_to=_chat_reply(reply_to, accounts[email]) if effect.reply else None,
                immediate=effect.immediate,
                detail=detail,
            )
            for email in emails
            if email in accounts
        ]

    def queue_link_code(self, session: Session, user_id: int, email: str, now: datetime) -> Outbox:
        """Queue the mail with a chat linking code; the code is made when it is sent."""
        minutes = int(CODE_TTL.total_seconds() // 60)
        expires = self.calendar.local(now + CODE_TTL).strftime("%H:%M")
        context = self.render_context(
            None, {"nombre": self.directory.name_of(email), "minutos": minutes, "vence": expires}
        )
        rendered = self.templates.mail(LINK_CODE_TEMPLATE, {**context, "codigo": CODE_PLACEHOLDER})
        payload: dict[str, Any] = {
            "from": self.config.mail.address,
            "to": [email],
            "cc": [],
            "subject": rendered.subject,
            "message_id": self._message_id(None),
            "headers": {"Auto-Submitted": "auto-replied"},
            "template": LINK_CODE_TEMPLATE,
            # Rendered again at sending time with the code, which only exists then.
            "context": context,
            "user_id": user_id,
        }
        return self._queue_outbound(
            session, None, "link_code", payload, rendered.body, now, immediate=True
        )

    def queue_chat_text(
        self,
        session: Session,
        case: Case | None,
        chat_id: int,
        email: str,
        text: str,
        template: str,
        now: datetime,
        *,
        reply_to: int | None = None,
        immediate: bool = False,
        detail: Mapping[str, Any] | None = None,
    ) -> Outbox:
        """Queue one rendered chat message to one Telegram chat (email "" for a stranger)."""
        payload: dict[str, Any] = {
            "chat_id": chat_id,
            "text": text,
            "reply_to": reply_to,
            "to": [email] if email else [],
            "cc": [],
            # What the records and an alert about a failed delivery show.
            "subject": "Chat: " + (text.splitlines()[0][:120] if text else ""),
            "message_id": self._message_id(case).replace("@", ".chat@", 1),
            "template": template,
        }
        return self._queue_outbound(
            session, case, "chat", payload, text, now, immediate=immediate, detail=detail
        )

    def _queue_outbound(
        self,
        session: Session,
        case: Case | None,
        kind: str,
        payload: dict[str, Any],
        body: str,
        now: datetime,
        *,
        immediate: bool = False,
        auto: str | None = None,
        dedupe_key: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Outbox:
        """The outbox row for a message and its outbound record (body as stored)."""
        recipients = [*payload["to"], *payload["cc"]]
        channel = "chat" if kind == "chat" else "mail"
        # People outside the team hear from us within support hours (the chat's own, shorter
        # on chat), except acknowledgements and what is urgent.
        outside = any(not self.directory.is_team(a) for a in recipients)
        opening = self.calendar.next_opening(now, channel)
        row = Outbox(
            case_id=case.id if case else None,
            kind=kind,
            message_id=payload["message_id"],
            auto=auto,
            recipients="," + ",".join(recipients) + ",",
            payload=payload,
            not_before=opening if outside and not immediate else now,
            created_at=now,
            dedupe_key=dedupe_key,
        )
        session.add(row)
        session.add(
            Message(
                case_id=case.id if case else None,
                direction="out",
                channel=channel,
                external_id=payload["message_id"],
                message_id=payload["message_id"],
                in_reply_to=payload.get("in_reply_to"),
                references=list(payload.get("references", [])),
                sender=self.config.mail.address,
                recipients=recipients,
                subject=payload["subject"],
                body=body,
                at=now,
                status="queued",
                detail=dict(detail or {}),
            )
        )
        return row

    def _over_auto_cap(
        self,
        session: Session,
        case: Case | None,
        template: str,
        recipients: list[str],
        now: datetime,
    ) -> bool:
        """Whether Zammad's caps hold back automatic mail outside the team; if not, count it."""
        outside = [a for a in recipients if not self.directory.is_team(a)]
        if not outside:
            return False
        if case is not None:
            per_case = session.scalar(
                _AUTO_TO_CASE, {"case_id": case.id, "since": now - CASE_WINDOW}
            )
            if (per_case or 0) >= CASE_CAP:
                return True
        day, hour = now - RECIPIENT_WINDOW, now - ACK_WINDOW
        for address in outside:
            # People in the directory (a zone's assistant answering forty agents in a day)
            # are not capped per day; the per-case cap still stops a loop with their robot.
            daily_cap = RECIPIENT_CAP if not self.directory.roles_of(address) else None
            per_recipient, acks = session.execute(
                _AUTO_TO_ADDRESS,
                {
                    "address": address,
                    "template": template,
                    "day": day,
                    "hour": hour,
                    "since": min(day, hour),
                },
            ).one()
            if acks and template.endswith("/acuse"):
                return True
            if daily_cap is not None and per_recipient >= daily_cap:
                return True
        # Not held back: the caller queues it now (or its transaction rolls back).
        session.add_all(AutoMail(address=a, template=template, created_at=now) for a in outside)
        return False

    def queue_job(self, session: Session, case: Case, effect: RunJob, now: datetime) -> None:
        """Queue a job for the dispatcher, bound to the state the case is in now."""
        session.add(
            Outbox(
                case_id=case.id,
                kind="job",
                payload={"job": effect.job, "case_id": case.id, "state": case.state},
                not_before=now,
                created_at=now,
            )
        )

    def _create_task(self, session: Session, case: Case, effect: CreateTask, now: datetime) -> None:
        """Open a task and tell its assignee."""
        ctx = self.render_context(case, effect.context)
        assignees = self.directory.resolve(effect.assignee, case.requester, case.assignee)
        title = self.templates.env.from_string(effect.title).render(**ctx)
        body = (
            self.templates.text(f"tasks/{effect.template}.txt.j2", ctx) if effect.template else ""
        )
        task = Task(
            case_id=case.id,
            kind=effect.kind,
            title=title[:500],
            body=body,
            assignee=assignees[0] if len(assignees) == 1 else "",
            due_at=effect.due.due(now, self.calendar) if effect.due else None,
            created_at=now,
        )
        session.add(task)
        session.flush()
        notice = SendMail(
            to=tuple(assignees),
            template="common/tarea",
            context={"task": {"id": task.id, "title": task.title, "body": task.body}},
            auto="auto-generated",
            immediate=True,
            attachments=effect.attachments,
        )
        self.queue_mail(session, case, notice, now)
        if effect.action:
            task.data = {"action": effect.action, "fills": effect.fills}
        # Specialists on chat get it there too: a reply to that message completes the task.
        chat_notice = SendChat(
            to=tuple(assignees),
            template="common/tarea",
            context={"task": {"id": task.id, "title": task.title, "body": task.body}},
            immediate=True,
        )
        self.queue_chat(
            session, case, chat_notice, now, detail={"task_id": task.id}, note_unreachable=False
        )

    # -- documents, CAM Pegasus, credentials ----------------------------------------------

    def resolve_files(
        self, session: Session, case: Case | None, refs: Sequence[str], now: datetime
    ) -> list[str]:
        """SHA-256 digests for file references.

        A digest, "doc:<name>" (a document the case holds), "tpl:<path>" (a file under
        templates/) or "msg:<Message-ID>" (a whole message received, as an .eml file).
        """
        digests: list[str] = []
        for ref in refs:
            kind, _, name = ref.partition(":")
            if kind == "doc":
                documents = case.data.get("documentos", {}) if case is not None else {}
                if name not in documents:
                    raise ValueError(f"the case holds no document {name!r}")
                digests.append(str(documents[name]["sha"]))
            elif kind == "tpl":
                digests.append(self._template_file(session, case, name, now))
            elif kind == "msg":
                digests.append(self._message_file(session, case, name, now))
            else:
                digests.append(ref)
        return digests

    def need_archive(self) -> Archive:
        """The archive, which documents need."""
        if self.archive is None:
            raise RuntimeError("this workflow was built without an archive")
        return self.archive

    def store_file(
        self,
        session: Session,
        case: Case | None,
        content: bytes,
        filename: str,
        content_type: str,
        now: datetime,
    ) -> str:
        """Archive a file the bot made, with a row that names it; returns its digest."""
        sha = self.need_archive().put(content)
        session.add(
            Attachment(
                case_id=case.id if case is not None else None,
                filename=filename,
                content_type=content_type,
                size=len(content),
                sha256=sha,
                created_at=now,
            )
        )
        return sha

    def _template_file(self, session: Session, case: Case | None, name: str, now: datetime) -> str:
        """A file shipped under templates/ (the blank Excel form), archived once per case."""
        path = (self.templates.root / name).resolve()
        if self.templates.root.resolve() not in path.parents or not path.is_file():
            raise ValueError(f"no template file {name!r}")
        content = path.read_bytes()
        sha = hashlib.sha256(content).hexdigest()
        if case is not None:
            held = select(Attachment.id).where(
                (Attachment.sha256 == sha) & (Attachment.case_id == case.id)
            )
            if session.scalar(held.limit(1)) is not None:
                return sha  # a reminder attaches the same form again: one row per case
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return self.store_file(session, case, content, path.name, kind, now)

    def _message_file(
        self, session: Session, case: Case | None, message_id: str, now: datetime
    ) -> str:
        """A received message as an .eml file (e.g. an assistant's approval as evidence)."""
        message = session.scalars(
            select(Message)
            .where((Message.message_id == message_id) & (Message.direction == "in"))
            .limit(1)
        ).first()
        if message is None or not message.raw_sha256:
            raise ValueError(f"no message {message_id!r} was received")
        name = EML_NAME.sub("_", plain_subject(message.subject))[:80].strip(" ._") or "correo"
        self._name_file(session, case, message.raw_sha256, f"{name}.eml", "message/rfc822", now)
        return message.raw_sha256

    def _name_file(
        self,
        session: Session,
        case: Case | None,
        sha: str,
        filename: str,
        content_type: str,
        now: datetime,
    ) -> None:
        """Give an archived file with no attachment row in this case a name and a type."""
        held = select(Attachment.id).where(Attachment.sha256 == sha)
        if case is not None:
            held = held.where(Attachment.case_id == case.id)
        if session.scalar(held.limit(1)) is not None:
            return
        session.add(
            Attachment(
                case_id=case.id if case is not None else None,
                filename=filename[:500],
                content_type=content_type,
                size=self.need_archive().size(sha),
                sha256=sha,
                created_at=now,
            )
        )
        session.flush()  # a later lookup by digest in this transaction must find it

    def _keep_document(
        self, session: Session, case: Case, effect: KeepDocument, now: datetime
    ) -> None:
        """Record an archived file as one of the case's documents."""
        name, sha = effect.name, effect.sha256
        if effect.filename:
            kind = effect.content_type or "application/octet-stream"
            self._name_file(session, case, sha, effect.filename, kind, now)
        # The same bytes may have come under another name elsewhere: this case's name first.
        row = session.scalars(
            select(Attachment)
            .where(Attachment.sha256 == sha)
            .order_by((Attachment.case_id == case.id).desc(), Attachment.id.desc())
            .limit(1)
        ).first()
        documents = dict(case.data.get("documentos", {}))
        documents[name] = {"sha": sha, "archivo": row.filename if row else f"{name}.bin"}
        case.data = {**case.data, "documentos": documents}

    def _render_letter(
        self, session: Session, case: Case, effect: RenderLetter, now: datetime
    ) -> None:
        """Fill the director's letter from the case's users and keep it with the case."""
        org = self.config.organization
        users = [user_row(u) for u in case.data.get("usuarios", [])]
        context = director_context(
            "alta" if effect.kind == "autorizacion" else "baja",
            org,
            self.config.people.director,
            users,
            local_date(now, org),
            case_tag_ref(case),
        )
        content = render_letter(letter_template(effect.kind, self.templates.root), context)
        filename = f"carta_{effect.kind}_{case.process}-{case.id}.docx"
        sha = self.store_file(session, case, content, filename, DOCX, now)
        self._keep_document(session, case, KeepDocument(effect.kind, sha), now)

    def _render_agent_form(self, session: Session, case: Case, now: datetime) -> None:
        """Fill the agent's complementary-data form and keep it with the case ("doc:formato")."""
        from bot.documents.agent_form import build_agent_form

        agent = agent_info({**case.data.get("agente", {}), "zona": case.data.get("zona", "")})
        today = self.calendar.local(now).date()
        content = build_agent_form(agent, case_tag_ref(case), today)
        filename = f"alta_agente_{agent.clave or case.id}.xlsx"
        sha = self.store_file(session, case, content, filename, XLSX, now)
        self._keep_document(session, case, KeepDocument("formato", sha), now)

    def _update_pegasus(
        self, session: Session, case: Case, effect: UpdatePegasus, now: datetime
    ) -> None:
        """Queue the status change per user, or a task stating it when Pegasus is manual."""
        files = self.resolve_files(session, case, effect.files, now)
        names = [
            row.filename
            for sha in files
            for row in session.scalars(select(Attachment).where(Attachment.sha256 == sha).limit(1))
        ]
        for user in registry_people(case):
            rfc, nombre = str(user.get("rfc", "")), str(user.get("nombre", ""))
            clave = str(user.get("clave", ""))
            if self.pegasus is None or not self.pegasus.writes:
                known = PegasusRecord(
                    id=str(user.get("id", "")),
                    nombre=nombre,
                    rfc=rfc,
                    correo=str(user.get("correo", "")),
                    status=str(user.get("estatus_pegasus", "")),
                    clave=clave,
                )
                key = clave or rfc  # an agent is found by their key, a user by RFC
                change = describe_change(known, key, effect.status, names, effect.note)
                task = CreateTask(
                    kind="pegasus",
                    title=f"CAM Pegasus: {nombre} a «{effect.status}» ({{{{ case.ref }}}})",
                    template="common/pegasus_manual",
                    context={"cambio": change},
                    due=business_days(1),
                    attachments=tuple(files),
                )
                self._create_task(session, case, task, now)
                continue
            session.add(
                Outbox(
                    case_id=case.id,
                    kind="pegasus",
                    payload={
                        "id": str(user.get("id", "")),
                        "clave": clave,
                        "rfc": rfc,
                        "correo": str(user.get("correo", "")),
                        "nombre": nombre,
                        "status": effect.status,
                        "files": files,
                        "note": effect.note,
                        # What an alert about a failure names (see Dispatcher._alert).
                        "to": ["CAM Pegasus"],
                        "subject": f"CAM Pegasus: {nombre} ({clave or rfc}) a «{effect.status}»",
                    },
                    not_before=now,
                    created_at=now,
                )
            )

    def _deliver_credentials(
        self, session: Session, case: Case, effect: DeliverCredentials, now: datetime
    ) -> None:
        """Queue one credentials mail per user; the password is made when it is sent."""
        for user in registry_people(case):
            own = str(user.get("correo", "")).strip().lower()
            to = _unique(a for t in effect.to for a in self.directory.resolve(t, case.requester))
            extra = {"usuario": dict(user), "login": user.get("usuario", "")}
            context = self.render_context(case, {**extra, "contrasena": PASSWORD_PLACEHOLDER})
            rendered = self.templates.mail(effect.template, context)
            cc = [a for t in effect.cc for a in self.directory.resolve(t, case.requester)]
            payload = {
                "from": self.config.mail.address,
                "to": to or [own],
                "cc": [a for a in cc if a not in to],
                "custody_letter": effect.custody_letter,
                "subject": tag_subject(rendered.subject, case.process, case.id),
                "message_id": self._message_id(case),
                "template": effect.template,
                # Rendered again at sending time with the password, which only exists then.
                "context": {k: v for k, v in context.items() if k != "contrasena"},
                "user": dict(user),
                "case_ref": case_tag_ref(case),
                "headers": {},
            }
            # The stored body shows the placeholder: the password is never written anywhere.
            self._queue_outbound(session, case, "credentials", payload, rendered.body, now)

    def _open_linked(
        self, session: Session, case: Case, effect: OpenCase, trigger: Trigger, now: datetime
    ) -> None:
        """Open a linked case: the one this case becomes (with its files), or a side case."""
        wanted = self.process(effect.process).inspects
        files = [
            FileIn(row.filename, row.content_type, self.need_archive().get(row.sha256), row.sha256)
            for row in session.scalars(
                select(Attachment)
                .where((Attachment.case_id == case.id) & Attachment.message_id.is_not(None))
                .order_by(Attachment.id.desc())
            )
            if effect.carry_files
        ]
        opening = self.trigger(
            event("abrir"),
            trigger.actor,
            text=effect.text or str(case.data.get("descripcion", "")),
            facts=(
                inspect(files, wanted, self.config, self.calendar.local(now).date())
                if files and wanted
                else {}
            ),
        )
        opened, _ = self.open_case(
            session,
            effect.process,
            opening,
            now,
            subject=effect.subject or case.subject,
            requester=effect.requester or case.requester,
        )
        session.add(
            CaseLink(case_id=opened.id, other_id=case.id, relation=effect.relation, created_at=now)
        )
        if effect.carry_files:
            case.data = {**case.data, "convertido_en": case_tag_ref(opened)}
        else:
            linked = [*case.data.get("casos_relacionados", []), case_tag_ref(opened)]
            case.data = {**case.data, "casos_relacionados": linked}

    def _signal_linked(
        self, session: Session, case: Case, effect: SignalLinked, now: datetime
    ) -> None:
        """Run the first command each open linked case of the relation takes (close a ticket)."""
        relation = CaseLink.relation == effect.relation
        ids = {
            *session.scalars(
                select(CaseLink.other_id).where((CaseLink.case_id == case.id) & relation)
            ),
            *session.scalars(
                select(CaseLink.case_id).where((CaseLink.other_id == case.id) & relation)
            ),
        }
        for other in session.scalars(select(Case).where(Case.id.in_(ids)).order_by(Case.id)):
            if other.closed_at is not None:
                continue
            proc = self.process(other.process)
            taken = {t.on for t in proc.outgoing(other.state)}
            name = next((c for c in effect.commands if command(c) in taken), None)
            if name is None:
                continue
            # The bot's own bookkeeping on a case the team opened from this one: it acts with
            # the team's authority, which the decision that ended this case already had.
            signal = replace(
                self.trigger(command(name), values=effect.values), actor_roles=TEAM_ROLES
            )
            self.handle(session, other, signal, now)

    def complete_task(
        self, session: Session, task_id: int, actor: str, note: str, now: datetime
    ) -> str:
        """Mark one open task done and record it in its case's history; returns its title."""
        task = session.get(Task, task_id)
        if task is None or task.status != "open":
            raise UnknownTask(task_id)
        task.status, task.completed_at, task.completed_by = "done", now, actor
        case = session.get(Case, task.case_id) if task.case_id is not None else None
        session.add(
            Event(
                case_id=task.case_id,
                at=now,
                kind="task_done",
                from_state=case.state if case else None,
                to_state=case.state if case else None,
                actor=actor,
                steps=[],
                detail={"task": task.id, "title": task.title, **({"nota": note} if note else {})},
            )
        )
        return task.title

    @staticmethod
    def _complete_tasks(
        session: Session, case: Case, effect: CompleteTasks, actor: str, now: datetime
    ) -> None:
        """Close the case's open tasks (of one kind, or all)."""
        where = (Task.case_id == case.id) & (Task.status == "open")
        if effect.kind is not None:
            where = where & (Task.kind == effect.kind)
        session.execute(
            update(Task).where(where).values(status="done", completed_at=now, completed_by=actor)
        )


def case_tag_ref(case: Case) -> str:
    """The human reference of a case, e.g. 'MA-001 #7'."""
    return f"{case.process} #{case.id}"


def registry_people(case: Case) -> list[Mapping[str, Any]]:
    """Whom a CAM Pegasus change or a credentials delivery is about: users, or the agent."""
    users: list[Mapping[str, Any]] = case.data.get("usuarios", [])
    agent = case.data.get("agente")
    return users or ([agent] if isinstance(agent, Mapping) and agent else [])


def agent_info(agent: Mapping[str, Any]) -> AgentInfo:
    """The agent of a case's data as the form takes it."""
    from bot.documents.agent_form import AgentInfo

    return AgentInfo(
        **{k: str(agent.get(k, "") or "") for k in AgentInfo.__dataclass_fields__},
    )


def user_row(user: Mapping[str, Any]) -> UserRow:
    """A user of the case's data as the form row the letters take."""
    move = user.get("movimiento")
    return UserRow(
        nombre=str(user.get("nombre", "")),
        rfc=str(user.get("rfc", "")),
        correo=str(user.get("correo", "")),
        zona=str(user.get("zona", "")),
        paquete=int(user.get("paquete", 0) or 0),
        promotoria=user.get("promotoria") or None,
        puesto=user.get("puesto") or None,
        movimiento=move if move in ("alta", "baja") else None,
        row=int(user.get("row", 0) or 0),
    )


def _chat_reply(message_id: str | None, chat_id: int) -> int | None:
    """The Telegram message to answer: the trigger's own, when it came from this chat."""
    kind, _, rest = (message_id or "").partition(":")
    chat, _, number = rest.partition(":")
    if kind != "tg" or chat != str(chat_id) or not number.isdigit():
        return None
    return int(number)


def _unique(addresses: Any) -> list[str]:
    """Addresses in order, without repeats."""
    return list(dict.fromkeys(a for a in addresses if a))
