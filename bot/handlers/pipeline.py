"""The inbound mail pipeline: parse, dedupe, clean, correlate, classify, route.

Each message runs through the ordered PIPELINE under a savepoint of a batch transaction;
the channel acknowledges it only after that transaction commits. A message that cannot be
processed is quarantined and the specialists are told; nothing is deleted, nothing blocks
the rest.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from bot.channels.base import InboundChannel, InboundMessage
from bot.config import fold_name
from bot.handlers.authn import authenticate
from bot.handlers.documents import FileIn, inspect
from bot.handlers.entities import Entities, Gazetteer, extract
from bot.handlers.forwards import Forwarded, find_forward, forward_from_eml
from bot.handlers.intents import UNKNOWN, Classifier, classify, is_courtesy
from bot.handlers.parse import MailParseError, ParsedAttachment, ParsedMail, parse_mail
from bot.handlers.quotes import strip_reply
from bot.rules import PROCESSES
from bot.rules.dsl import NewMail, On, Trigger, event, intent
from bot.rules.effects import SendMail
from bot.workflow import SYSTEM_ACTOR, Workflow, plain_subject, view_of
from storage.archive import Archive
from storage.db import Database
from storage.models import Attachment, Case, CaseLink, Event, Message, Outbox

log = logging.getLogger(__name__)

DEFAULT_PROCESS = "MA-006"
TAG = re.compile(r"\[(MA-\d{3}) #(\d+)\]")
# Built once: composing a statement costs more than running it on its index.
_SEEN = select(Message.id).where(
    (Message.channel == bindparam("channel")) & (Message.external_id == bindparam("external_id"))
)
_THREAD_CASE = (
    select(Message.case_id)
    .where(Message.message_id.in_(bindparam("ids", expanding=True)) & Message.case_id.is_not(None))
    .order_by(Message.id.desc())
    .limit(1)
)

# One commit per batch: a commit (and its fsync) per message costs more than the message.
BATCH_MESSAGES = 50
# Keeps a batch's raw mail within bounds in memory; a bigger message forms its own batch.
BATCH_BYTES = 16 * 1024 * 1024

Outcome = Literal["duplicate", "opened", "attached", "ignored", "bounce", "quarantined"]


@dataclass
class Ingest:
    """One inbound message on its way through the pipeline."""

    inbound: InboundMessage
    now: datetime
    parsed: ParsedMail | None = None
    body: str = ""
    case: Case | None = None
    message: Message | None = None
    intent: str = UNKNOWN
    entities: Entities = field(default_factory=Entities)
    outcome: Outcome | None = None
    notes: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    files: list[FileIn] = field(default_factory=list)  # the attachments kept, with bytes
    skipped: list[str] = field(default_factory=list)  # attachments dropped, and why (Spanish)
    process: str = DEFAULT_PROCESS  # the case's process, or the one claiming a new mail
    facts: dict[str, object] = field(default_factory=dict)
    authenticated: bool = False
    # Whose words these are: the sender, or the original sender of a forwarded reply.
    actor: str = ""


@dataclass(frozen=True)
class PipelineEnv:
    """What the steps work with."""

    workflow: Workflow
    archive: Archive
    classify: Classifier
    gazetteer: Gazetteer


Step = Callable[[Ingest, PipelineEnv, Session], None]


def parse_step(ing: Ingest, env: PipelineEnv, s: Session) -> None:
    """Parse the raw bytes (MailParseError quarantines the message)."""
    ing.parsed = parse_mail(ing.inbound.raw, frozenset({env.workflow.config.mail.address}))


def dedupe_step(ing: Ingest, env: PipelineEnv, s: Session) -> None:
    """A Message-ID already stored means this message was processed before."""
    assert ing.parsed is not None
    seen = s.scalar(_SEEN, {"channel": ing.inbound.channel, "external_id": ing.parsed.message_id})
    if seen is not None:
        ing.outcome = "duplicate"


def clean_step(ing: Ingest, env: PipelineEnv, s: Session) -> None:
    """Keep what the sender wrote now; the full original stays stored."""
    assert ing.parsed is not None
    unique = ing.inbound.unique_body
    # The server's own cut is kept only if it left something: signatures still go.
    ing.body = (strip_reply(unique) if unique and unique.strip() else "") or strip_reply(
        ing.parsed.text
    )


def correlate_step(ing: Ingest, env: PipelineEnv, s: Session) -> None:
    """Find the case: the subject tag, In-Reply-To/References, then the agent it names."""
    assert ing.parsed is not None
    for match in TAG.finditer(ing.parsed.subject):
        case = s.get(Case, int(match.group(2)))
        if case is not None and case.process == match.group(1):
            ing.case = case
            return
    ids = [i for i in (ing.parsed.in_reply_to, *ing.parsed.references) if i]
    if ids:
        case_id = s.scalar(_THREAD_CASE, {"ids": ids})
        if case_id is not None:
            ing.case = s.get(Case, case_id)
            return
    ing.case = _agent_named(ing, env, s)
    if ing.case is not None:
        ing.notes.append(f"asociado a {ing.case.process} #{ing.case.id} por el agente que nombra")


# Cases an assistant may write about afresh, without replying to our mail.
_AGENT_CASES = select(Case).where(
    (Case.process == "MA-002") & Case.closed_at.is_(None) & (Case.state != "sin_zona")
)


def _agent_named(ing: Ingest, env: PipelineEnv, s: Session) -> Case | None:
    """The one open agent case (MA-002) whose agent a new mail from an assistant names.

    Assistants often write a fresh mail ("Sí adelante con Juan Pérez López") instead of
    replying; the agent's full name or key, in the subject or the opening of the body, of
    exactly one open case of the sender's zones (any zone for the team) threads it.
    """
    assert ing.parsed is not None
    if ing.parsed.auto.automatic or ing.parsed.auto.bounce:
        return None
    directory = env.workflow.directory
    roles = directory.roles_of(ing.parsed.sender)
    zones = {r.partition(":")[2] for r in roles if r.startswith("assistant:")}
    team = directory.is_team(ing.parsed.sender)
    if not zones and not team:
        return None
    text = f" {fold_name(ing.parsed.subject)} {fold_name(ing.body[:3000])} "
    found = []
    for case in s.scalars(_AGENT_CASES):
        if not team and case.data.get("zona") not in zones:
            continue
        agent = case.data.get("agente", {})
        name = fold_name(str(agent.get("nombre", "")))
        key = fold_name(str(agent.get("clave", "")))
        if (len(name.split()) >= 2 and f" {name} " in text) or (key and f" {key} " in text):
            found.append(case)
    return found[0] if len(found) == 1 else None


def record_step(ing: Ingest, env: PipelineEnv, s: Session) -> None:
    """Store the message and its attachments (by SHA-256, within the size limits)."""
    assert ing.parsed is not None
    p = ing.parsed
    cfg = env.workflow.config.mail
    message = Message(
        case_id=ing.case.id if ing.case else None,
        direction="in",
        channel=ing.inbound.channel,
        external_id=p.message_id,
        message_id=p.message_id,
        in_reply_to=p.in_reply_to,
        references=list(p.references),
        sender=p.sender,
        recipients=[*p.to, *p.cc],
        subject=p.subject[:1000],
        body=p.text,
        raw_sha256=env.archive.put(ing.inbound.raw),
        at=ing.now,
        status="received",
        detail={
            "clean": ing.body[:20000],
            "notes": list(p.notes),
            "auto": p.auto.reason,
            # Who may approve (CONTRACT): kept with the message for the approval rules.
            "authenticated": authenticate(
                p.sender,
                p.headers.get("authentication-results", ()),
                cfg.trusted_authserv_ids,
                ing.inbound.authenticated,
            ).as_json(),
        },
    )
    s.add(message)
    ing.message = message
    for att in p.attachments:
        if not att.inline:  # logos and signature images are not kept
            _keep_attachment(ing, env, s, att)
    if ing.notes:
        message.detail = {**message.detail, "notes": [*p.notes, *ing.notes]}
    ing.authenticated = bool(message.detail["authenticated"]["ok"])
    ing.actor = p.sender


def _keep_attachment(ing: Ingest, env: PipelineEnv, s: Session, att: ParsedAttachment) -> None:
    """Archive one attachment of the message within the size limit, or say why not."""
    assert ing.message is not None
    cfg = env.workflow.config.mail
    if len(att.content) > cfg.max_attachment_mb * 1024 * 1024:
        ing.notes.append(f"adjunto {att.filename} omitido: excede {cfg.max_attachment_mb} MB")
        # Said to the sender by the process that wanted the file (e.g. the Excel form).
        ing.skipped.append(
            f"«{att.filename}» pesa {len(att.content) / 1_000_000:.1f} MB y el máximo "
            f"que podemos recibir es de {cfg.max_attachment_mb} MB"
        )
        return
    if ing.message.id is None:
        s.flush()  # the attachment rows need the message's id
    row = Attachment(
        message_id=ing.message.id,
        case_id=ing.message.case_id,
        filename=att.filename[:500],
        content_type=att.content_type,
        size=len(att.content),
        sha256=env.archive.put(att.content),
        created_at=ing.now,
    )
    s.add(row)
    ing.attachments.append(row)
    ing.files.append(FileIn(att.filename, att.content_type, att.content, row.sha256))


def claim_step(ing: Ingest, env: PipelineEnv, s: Session) -> None:
    """The process the mail goes to: its open case's, or the first that claims a new mail."""
    assert ing.parsed is not None
    if ing.case is not None and ing.case.closed_at is None:
        ing.process = ing.case.process
        return
    p = ing.parsed
    if p.auto.automatic or p.auto.bounce:
        return  # never opens a case
    mail = NewMail(
        subject=plain_subject(p.subject),
        body=ing.body,
        sender=p.sender,
        attachments=tuple(f.filename for f in ing.files),
        sender_roles=env.workflow.directory.roles_of(p.sender),
    )
    ing.process = next(
        (proc.code for proc in PROCESSES if proc.claims is not None and proc.claims(mail)),
        DEFAULT_PROCESS,
    )


def forward_step(ing: Ingest, env: PipelineEnv, s: Session) -> None:
    """A team member forwarding someone's reply: the reply inside is what the case reads.

    Only for a process that takes forwards (Process.forwards). The original sender is the
    actor the rules check; the forwarder's authentication vouches for the relay, and the
    forward itself is recorded in the facts and the audit trail.
    """
    assert ing.parsed is not None
    case = ing.case
    wf = env.workflow
    if case is None or case.closed_at is not None or not wf.process(case.process).forwards:
        return
    if not wf.directory.is_team(ing.parsed.sender):
        return
    found = _forwarded(ing)
    if found is None:
        return
    original = found.sender or _by_name(wf, found.sender_name)
    ing.actor = original or found.sender_name or "(remitente desconocido)"
    ing.body = found.body
    for att in found.attachments:  # the assistant's Excel inside a forwarded .eml
        _keep_attachment(ing, env, s, att)
    ing.facts["reenvio"] = {
        "por": ing.parsed.sender,
        "remitente": original,
        "nombre": found.sender_name,
        "fecha": found.sent,
        "asunto": found.subject,
        "nota": found.note[:2000],
    }


def _forwarded(ing: Ingest) -> Forwarded | None:
    """The forwarded message: an attached .eml first, else the block in the body."""
    assert ing.parsed is not None
    for file in ing.files:
        if file.content_type.lower() in ("message/rfc822", "message/global"):
            found = forward_from_eml(file.content)
            if found is not None:
                return found
    return find_forward(ing.parsed.text, subject=ing.parsed.subject)


def _by_name(wf: Workflow, name: str) -> str:
    """A configured person's address from a display name alone, when exactly one matches."""
    wanted = fold_name(name)
    if not wanted:
        return ""
    found = {p.email for _, p in wf.config.people_with_roles() if fold_name(p.name) == wanted}
    return found.pop() if len(found) == 1 else ""


def inspect_step(ing: Ingest, env: PipelineEnv, s: Session) -> None:
    """Read the attachments the process needs (the Excel form, signed letters) as facts."""
    wanted = env.workflow.process(ing.process).inspects
    if not wanted or not (ing.files or ing.skipped):
        return
    today = env.workflow.calendar.local(ing.now).date()
    ing.facts.update(inspect(ing.files, wanted, env.workflow.config, today))
    if ing.skipped:
        ing.facts["omitidos"] = list(ing.skipped)
    if ing.message is not None:
        ing.message.detail = {**ing.message.detail, "facts": _summary(ing.facts)}


# Per-user rows of the facts: the case keeps them, the message's audit detail does not.
_ROWS = frozenset({"usuarios", "respuestas", "pegasus", "hojas"})


def _summary(facts: dict[str, object]) -> dict[str, object]:
    """What the audit trail keeps of the facts: outcomes and reasons, not the user rows."""
    kept: dict[str, object] = {}
    for name, value in facts.items():
        if isinstance(value, dict):
            kept[name] = {k: v for k, v in value.items() if k not in _ROWS}
        else:
            kept[name] = value
    return kept


def classify_step(ing: Ingest, env: PipelineEnv, s: Session) -> None:
    """What the reply means, for an open case that acts on intents (or thanks a closed one)."""
    if ing.case is None:
        return
    if ing.case.closed_at is not None:
        if not ing.files:
            ing.intent = env.classify(ing.body)
        return
    proc = env.workflow.process(ing.case.process)
    accepted = proc.accepted_intents(ing.case.state)
    if accepted or proc.state(ing.case.state).entities:
        if accepted:
            ing.intent = env.classify(ing.body)
        reference = _reference_time(ing, env.workflow.calendar.tz)
        ing.entities = extract(ing.body, reference, env.gazetteer)
        if ing.message is not None:
            ing.message.detail = {
                **ing.message.detail,
                "intent": ing.intent,
                "entities": ing.entities.found(),
            }


# A Date header further from our clock than this is a wrong clock, not a reference.
DATE_SKEW = timedelta(days=7)


def _reference_time(ing: Ingest, tz: ZoneInfo) -> datetime:
    """What "mañana" or "el lunes" count from: the message's date, in the organization's zone."""
    sent = ing.parsed.date if ing.parsed is not None else None
    if sent is None or not ing.now - DATE_SKEW <= sent <= ing.now + timedelta(hours=1):
        sent = ing.now
    return sent.astimezone(tz).replace(tzinfo=None)


def route_step(ing: Ingest, env: PipelineEnv, s: Session) -> None:
    """Move the case (or open one); automatic mail never gets an automatic answer."""
    assert ing.parsed is not None and ing.message is not None
    p = ing.parsed
    wf = env.workflow
    if p.auto.bounce:
        _bounce(ing, env, s)
        return
    if p.auto.automatic or p.sender in ("", wf.config.mail.address):
        _note(s, ing, "ignored_automatic", {"reason": p.auto.reason or "own-address"})
        ing.outcome = "ignored"
        return
    case = ing.case
    text = ing.body or p.subject
    if (
        case is not None
        and case.closed_at is not None
        and not ing.files
        and (ing.intent == "THANKS_DONE" or is_courtesy(ing.body))
    ):
        # "Muchas gracias" to a closed case is courtesy, not a new problem to open.
        _note(s, ing, "message_attached", {"from": p.sender, "intent": ing.intent})
        ing.outcome = "attached"
        return
    if case is None or case.closed_at is not None:
        previous = case
        trigger = _trigger(ing, wf, event("abrir"), text)
        opened, _ = wf.open_case(
            s,
            ing.process,
            trigger,
            ing.now,
            # A follow-up keeps the original problem's name; our old tag must not stay in
            # it, or replies to the new case would thread to the closed one.
            subject=(previous.subject if previous else plain_subject(p.subject)) or "(sin asunto)",
            requester=p.sender,
        )
        if previous is not None:
            s.add(
                CaseLink(
                    case_id=opened.id,
                    other_id=previous.id,
                    relation="seguimiento_de",
                    created_at=ing.now,
                )
            )
        ing.message.case_id = opened.id
        for att in ing.attachments:
            att.case_id = opened.id
        ing.case = opened
        ing.outcome = "opened"
        return
    proc = wf.process(case.process)
    on = intent(ing.intent) if ing.intent in proc.accepted_intents(case.state) else None
    answer = _trigger(ing, wf, on, text) if on is not None else None
    if answer is not None and (
        proc.replies_from(view_of(case), answer)
        if proc.replies_from is not None
        else ing.actor == case.requester
    ):
        wf.handle(s, case, answer, ing.now)
    elif any(t.on == event("mensaje") for t in proc.outgoing(case.state)):
        wf.handle(s, case, _trigger(ing, wf, event("mensaje"), text), ing.now)
    else:
        _note(s, ing, "message_attached", {"from": p.sender})
    ing.outcome = "attached"


def _trigger(ing: Ingest, wf: Workflow, on: On, text: str) -> Trigger:
    """A trigger for this message with all it carries: entities, facts, authentication."""
    assert ing.parsed is not None
    return wf.trigger(
        on,
        ing.actor or ing.parsed.sender,
        text=text,
        message_id=ing.parsed.message_id,
        entities=ing.entities,
        facts=ing.facts,
        authenticated=ing.authenticated,
    )


def _note(s: Session, ing: Ingest, kind: str, detail: dict[str, object]) -> None:
    """An audit event about the message itself."""
    s.add(
        Event(
            case_id=ing.case.id if ing.case else None,
            at=ing.now,
            kind=kind,
            actor=ing.parsed.sender if ing.parsed else "",
            steps=[],
            detail={"message_id": ing.parsed.message_id if ing.parsed else None, **detail},
        )
    )


def _bounce(ing: Ingest, env: PipelineEnv, s: Session) -> None:
    """A bounce of one of our messages marks its outbox row and alerts the team."""
    assert ing.parsed is not None
    auto = ing.parsed.auto
    hit = list(s.scalars(select(Outbox).where(Outbox.message_id.in_(auto.bounced_message_ids))))
    permanent = auto.bounce_permanent is not False
    for row in hit:
        if permanent:
            row.status = "bounced"
            row.last_error = "rebote: " + ", ".join(auto.bounce_recipients)
    case_ids = {r.case_id for r in hit if r.case_id is not None}
    ing.case = s.get(Case, next(iter(case_ids))) if case_ids else ing.case
    _note(
        s,
        ing,
        "bounce",
        {
            "bounced": list(auto.bounced_message_ids),
            "recipients": list(auto.bounce_recipients),
            "permanent": permanent,
            "outbox": [r.id for r in hit],
        },
    )
    if hit and permanent:
        alert = SendMail(
            to=("@specialists",),
            template="common/rebote",
            context={
                "destinatarios": ", ".join(auto.bounce_recipients) or "(desconocido)",
                "asunto": hit[0].payload.get("subject", ""),
            },
            auto="auto-generated",
            immediate=True,
        )
        env.workflow.queue_mail(s, ing.case, alert, ing.now)
    ing.outcome = "bounce"


# The ordered pipeline; a step ends it early by setting `outcome`.
PIPELINE: tuple[Step, ...] = (
    parse_step,
    dedupe_step,
    clean_step,
    correlate_step,
    record_step,
    claim_step,
    forward_step,
    inspect_step,
    classify_step,
    route_step,
)


@dataclass
class IngestReport:
    """What one ingestion pass did, by outcome."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        """Count one message."""
        self.counts[outcome] = self.counts.get(outcome, 0) + 1

    @property
    def total(self) -> int:
        """Messages handled."""
        return sum(self.counts.values())


class Ingestor:
    """Runs every inbound message of a channel through the pipeline."""

    def __init__(
        self,
        db: Database,
        workflow: Workflow,
        archive: Archive,
        classifier: Classifier = classify,
        steps: Iterable[Step] = PIPELINE,
        batch_messages: int = BATCH_MESSAGES,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self.db = db
        self.env = PipelineEnv(
            workflow, archive, classifier, Gazetteer.from_config(workflow.config)
        )
        self.steps = tuple(steps)
        self.batch_messages = batch_messages
        self.batch_bytes = batch_bytes

    def run(self, channel: InboundChannel, now: datetime) -> IngestReport:
        """Ingest everything the channel has; each batch commits, then is acknowledged."""
        report = IngestReport()
        for batch in self._batches(channel.fetch()):
            for inbound, outcome in self.batch(batch, now):
                if outcome == "quarantined":
                    channel.quarantine(inbound.key)
                else:
                    channel.ack(inbound.key)
                report.add(outcome)
        channel.done()
        return report

    def _batches(self, messages: Iterable[InboundMessage]) -> Iterator[list[InboundMessage]]:
        """Group messages up to the batch's count and size; a big one goes alone."""
        batch: list[InboundMessage] = []
        size = 0
        for inbound in messages:
            if batch and size + len(inbound.raw) > self.batch_bytes:
                yield batch
                batch, size = [], 0
            batch.append(inbound)
            size += len(inbound.raw)
            if len(batch) >= self.batch_messages:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    def batch(
        self, batch: list[InboundMessage], now: datetime
    ) -> list[tuple[InboundMessage, Outcome]]:
        """Process messages in one transaction, each under a savepoint of its own.

        A message that fails rolls back to its savepoint and is quarantined in the same
        transaction; one commit per batch is what makes ingestion fast. Should the batch
        itself fail (the database, not a message), each message is retried on its own.
        """
        try:
            # The archived files are made durable before the commit that refers to them.
            with self.db.transaction() as s, self.env.archive.deferred_sync():
                done = [(inbound, self._one(s, inbound, now)) for inbound in batch]
        except Exception:
            if len(batch) == 1:
                raise
            log.exception("batch of %d messages failed; retrying one by one", len(batch))
            return [(inbound, self.one(inbound, now)) for inbound in batch]
        return done

    def one(self, inbound: InboundMessage, now: datetime) -> Outcome:
        """Process one message in a transaction of its own."""
        with self.db.transaction() as s, self.env.archive.deferred_sync():
            return self._one(s, inbound, now)

    def _one(self, s: Session, inbound: InboundMessage, now: datetime) -> Outcome:
        """Run the steps under a savepoint; failures quarantine the message."""
        limit_mb = self.env.workflow.config.mail.max_message_mb
        size = inbound.size if inbound.size is not None else len(inbound.raw)
        if size > limit_mb * 1024 * 1024:
            size_mb = size / 1024 / 1024
            reason = f"mide {size_mb:.1f} MB, más que el máximo de {limit_mb} MB"
            return self._quarantine(s, inbound, now, reason)
        ing = Ingest(inbound, now)
        try:
            with s.begin_nested():
                for run_step in self.steps:
                    run_step(ing, self.env, s)
                    if ing.outcome == "duplicate":
                        break
        except MailParseError as exc:
            return self._quarantine(s, inbound, now, f"no es un correo válido: {exc}")
        except (OperationalError, InterfaceError):
            raise  # the database's trouble (locked, full, gone), not the message's
        except Exception as exc:  # a bad message must never stop the daemon
            log.exception("message %s quarantined", inbound.key)
            return self._quarantine(s, inbound, now, f"{type(exc).__name__}: {exc}")
        return ing.outcome or "attached"

    def _quarantine(
        self, s: Session, inbound: InboundMessage, now: datetime, reason: str
    ) -> Outcome:
        """Record the quarantine and tell the specialists."""
        # Keyed on the file, so a crash before the move does not alert twice on restart.
        dedupe_key = f"cuarentena:{inbound.channel}:{inbound.key}"
        detail: dict[str, object] = {"key": inbound.key, "reason": reason[:2000]}
        record_quarantine(self.env.workflow, s, now, dedupe_key, inbound.key, detail)
        return "quarantined"


def record_quarantine(
    wf: Workflow,
    s: Session,
    now: datetime,
    dedupe_key: str,
    what: str,
    detail: dict[str, object],
) -> None:
    """A quarantine event and one alert to the specialists per dedupe key."""
    dedupe_key = dedupe_key[:300]
    if s.scalar(select(Outbox.id).where(Outbox.dedupe_key == dedupe_key)):
        return
    s.add(
        Event(case_id=None, at=now, kind="quarantined", actor=SYSTEM_ACTOR, steps=[], detail=detail)
    )
    alert = SendMail(
        to=("@specialists",),
        template="common/cuarentena",
        context={"archivo": what, "motivo": str(detail.get("reason", ""))[:2000]},
        auto="auto-generated",
        immediate=True,
    )
    wf.queue_mail(s, None, alert, now, dedupe_key=dedupe_key)
