"""Effects are data: what a transition wants done, performed after the commit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from bot.calendar import BusinessCalendar

DelayUnit = Literal["business_days", "business_hours", "days", "hours", "minutes"]


@dataclass(frozen=True)
class Delay:
    """A span of time measured on the business calendar or the wall clock."""

    amount: int
    unit: DelayUnit

    def due(self, start: datetime, calendar: BusinessCalendar) -> datetime:
        """The instant this delay ends when it starts at `start`."""
        if self.unit == "business_days":
            return calendar.add_business_days(start, self.amount)
        if self.unit == "business_hours":
            return calendar.add_business_hours(start, timedelta(hours=self.amount))
        seconds = {"days": 86400, "hours": 3600, "minutes": 60}[self.unit]
        return start + timedelta(seconds=self.amount * seconds)

    def __str__(self) -> str:
        """Spanish reading, used by `mesabot rules`."""
        names = {
            "business_days": ("día hábil", "días hábiles"),
            "business_hours": ("hora hábil", "horas hábiles"),
            "days": ("día natural", "días naturales"),
            "hours": ("hora", "horas"),
            "minutes": ("minuto", "minutos"),
        }[self.unit]
        return f"{self.amount} {names[0] if self.amount == 1 else names[1]}"


def business_days(n: int) -> Delay:
    """N business days (días hábiles)."""
    return Delay(n, "business_days")


def business_hours(n: int) -> Delay:
    """N hours inside the support windows."""
    return Delay(n, "business_hours")


def days(n: int) -> Delay:
    """N calendar days (días naturales)."""
    return Delay(n, "days")


def hours(n: int) -> Delay:
    """N wall-clock hours."""
    return Delay(n, "hours")


def minutes(n: int) -> Delay:
    """N wall-clock minutes."""
    return Delay(n, "minutes")


# Recipients are addresses or role tokens resolved against the directory when applied:
# @requester, @assignee (falls back to @specialists), @specialists, @supervisor, @director,
# @backup, @training, @commercial, @operations, @metlife_recert.
Recipient = str


@dataclass(frozen=True)
class SendMail:
    """Send a mail rendered from templates/email/<template>.txt.j2."""

    to: tuple[Recipient, ...]
    template: str
    context: Mapping[str, Any] = field(default_factory=dict)
    cc: tuple[Recipient, ...] = ()
    # RFC 3834: "auto-replied" for answers, "auto-generated" for reminders and alerts.
    auto: Literal["auto-replied", "auto-generated"] | None = None
    # Answer the message that triggered the transition (In-Reply-To / References).
    reply: bool = False
    # Acknowledgements and team alerts go at once; the rest waits for support hours.
    immediate: bool = False
    # SHA-256 of archived files, or "doc:<name>" for a document the case holds (a letter).
    attachments: tuple[str, ...] = ()
    # Marked high importance in every mail client (Importance, X-Priority): a deadline alert.
    priority: bool = False


@dataclass(frozen=True)
class SendChat:
    """Send a chat message rendered from templates/chat/<template>.txt.j2.

    Recipients are resolved to addresses as for mail, then to their chat accounts (a
    configured telegram_id or a linked account); someone with none is skipped and the
    skip recorded. To people outside the team it waits for the chat window unless
    immediate (the hours notice, an urgent answer).
    """

    to: tuple[Recipient, ...]
    template: str
    context: Mapping[str, Any] = field(default_factory=dict)
    # Answer the chat message that triggered the transition (Telegram's reply).
    reply: bool = False
    immediate: bool = False


@dataclass(frozen=True)
class SignalLinked:
    """Run a command on this case's open linked cases of one relation (close its ticket).

    A linked case whose state takes none of the commands keeps them as a rejected event.
    """

    relation: str
    # Tried in order; the first the linked case's state takes runs (a ticket awaiting
    # validation takes "validar", one still in progress only "cerrar").
    commands: tuple[str, ...]
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunJob:
    """Run a named job after the commit: work with I/O (read CAM Pegasus, write the files).

    The dispatcher runs it (bot.jobs) while the case is still in the state that asked for
    it; the job's result comes back to the case as the event of the same name, its facts
    under that name. A job that cannot reach a system is retried like any delivery.
    """

    job: str


@dataclass(frozen=True)
class CreateTask:
    """Open a task for a person with everything needed to do it."""

    kind: str
    title: str
    assignee: Recipient = "@assignee"
    template: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    due: Delay | None = None
    attachments: tuple[str, ...] = ()  # as in SendMail: sent with the task notice
    # The case command a specialist's reply to the task's chat message runs ("" completes
    # the task only), and the value the reply's text fills (e.g. "caso" for caso_metlife).
    action: str = ""
    fills: str = ""


@dataclass(frozen=True)
class CompleteTasks:
    """Mark the case's open tasks of a kind (or all, when kind is None) as done."""

    kind: str | None = None


@dataclass(frozen=True)
class RecordKnowledge:
    """Write a knowledge-base entry from the closed case."""

    kind: str
    problem: str
    solution: str
    outcome: str


@dataclass(frozen=True)
class ArmTimer:
    """Arm a timer after a delay from now, or at an instant.

    A timer of a kind the target state declares replaces that state timer (e.g. a snooze
    until the date someone gave); any other kind is a case timer that outlives state
    changes until cancelled or the case closes.
    """

    kind: str
    after: Delay | None = None
    at: datetime | None = None

    def __post_init__(self) -> None:
        """Exactly one of a delay and an instant."""
        if (self.after is None) == (self.at is None):
            raise ValueError(f"ArmTimer({self.kind!r}) needs either after or at")

    def due(self, now: datetime, calendar: BusinessCalendar) -> datetime:
        """When the timer comes due."""
        if self.at is not None:
            return self.at
        assert self.after is not None  # checked in __post_init__
        return self.after.due(now, calendar)


@dataclass(frozen=True)
class CancelTimer:
    """Cancel the case's pending timers of a kind."""

    kind: str


LetterKind = Literal["autorizacion", "baja"]


@dataclass(frozen=True)
class RenderAgentForm:
    """Fill the Excel form for the agent's complementary data; the case holds "doc:formato"."""


@dataclass(frozen=True)
class RenderLetter:
    """Fill a letter for the director from the case's users; the case holds it as "doc:<kind>"."""

    kind: LetterKind


@dataclass(frozen=True)
class KeepDocument:
    """Record an archived file (e.g. the signed letter) as the case's document "doc:<name>"."""

    name: str
    sha256: str
    # For a file the archive holds without an attachment row (a whole mail, kept as .eml).
    filename: str = ""
    content_type: str = ""


PegasusStatus = Literal["Solicitado", "Escalado", "En proceso", "Activo", "Baja"]


@dataclass(frozen=True)
class UpdatePegasus:
    """Set the CAM Pegasus status of each of the case's users, attaching documents.

    With an adapter that writes, the dispatcher applies it; otherwise it becomes a
    specialist task stating the exact change.
    """

    status: PegasusStatus
    files: tuple[str, ...] = ()  # "doc:<name>" or SHA-256
    note: str = ""


@dataclass(frozen=True)
class DeliverCredentials:
    """Generate each user's password and send it with the carta custodia to the user.

    The password exists only while the dispatcher sends it: it is never stored or logged.
    """

    template: str
    cc: tuple[Recipient, ...] = ()
    # Who receives them: each user (the default), or these recipients for every user
    # (an agent's credentials go through the zone's commercial assistant).
    to: tuple[Recipient, ...] = ()
    # The carta custodia goes with them (MA-001); agents sign none (MA-002).
    custody_letter: bool = True


@dataclass(frozen=True)
class OpenCase:
    """Open a case of another process for the same requester and subject, linked to this one.

    The new case sees the files already received (its process inspects them) as if they had
    come with a new mail.
    """

    process: str
    relation: str = "convertido_de"
    # Who the new case is for, when not this case's requester (an assistant's doubt).
    requester: str = ""
    # What the new case is about, when not this case's subject.
    subject: str = ""
    text: str = ""  # the opening text, when not this case's description
    # True: this case becomes the new one (its files go along); False: a side case.
    carry_files: bool = True


Effect = (
    SendMail
    | SendChat
    | SignalLinked
    | CreateTask
    | CompleteTasks
    | RecordKnowledge
    | ArmTimer
    | CancelTimer
    | RenderLetter
    | RenderAgentForm
    | KeepDocument
    | UpdatePegasus
    | DeliverCredentials
    | OpenCase
    | RunJob
)
