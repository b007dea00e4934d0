"""The declarative process language: states, triggers, transitions, timers; validated at import."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from bot.handlers.entities import Entities
from bot.rules.effects import Delay, Effect

if TYPE_CHECKING:
    from bot.calendar import BusinessCalendar

TriggerKind = Literal["intent", "command", "timer", "event"]

INTENTS = (
    "PROCEED",
    "STOP",
    "LATER",
    "THANKS_DONE",
    "VALIDATED",
    "NOT_SOLVED",
    "ACCEPT",
    "QUESTION",
    "UNKNOWN",
)

_STEP = re.compile(r"^MA-\d{3} pasos? \d+(-\d+)?$|^[A-Z][A-Za-z0-9-]* pasos? \d+(-\d+)?$")


@dataclass(frozen=True)
class On:
    """What fires a transition: an intent, a specialist command, a timer or an event."""

    kind: TriggerKind
    name: str

    def __str__(self) -> str:
        """Readable form for `mesabot rules`."""
        return f"{self.kind}:{self.name}"


def intent(name: str) -> On:
    """Fires when a reply from the case's counterpart carries this intent."""
    if name not in INTENTS:
        raise ValueError(f"unknown intent {name!r}")
    return On("intent", name)


def command(name: str) -> On:
    """Fires on a specialist action (`mesabot case ID <name>`, chat or task reply)."""
    return On("command", name)


def timer(kind: str) -> On:
    """Fires when a timer of this kind comes due."""
    return On("timer", kind)


def event(name: str) -> On:
    """Fires on a system event (case opened, new message from the requester...)."""
    return On("event", name)


@dataclass(frozen=True)
class TimerDecl:
    """A timer armed on entering a state and cancelled on leaving it."""

    kind: str
    # A fixed delay, or the name of a process setting holding one (overridable by config).
    after: Delay | str
    repeat: bool = False  # re-armed each time it fires while the case stays in the state
    label: str = ""  # how the digest names it for office staff ("Recordatorio al usuario")
    # A deadline the help desk promised: a case still in the state once it passes is an SLA
    # breach, whether or not the alert has gone out yet.
    sla: bool = False

    def delay(self, settings: Mapping[str, Any]) -> Delay:
        """The delay in force under these settings."""
        if isinstance(self.after, Delay):
            return self.after
        value = settings[self.after]
        if not isinstance(value, Delay):
            raise TypeError(f"setting {self.after!r} must be a Delay, not {value!r}")
        return value


@dataclass(frozen=True)
class State:
    """A state of a process, its Spanish label and the timers that watch it."""

    slug: str
    label: str
    timers: tuple[TimerDecl, ...] = ()
    final: bool = False
    # Who outside the help desk must move next ("el usuario"); empty when it is the team.
    waiting_on: str = ""
    # Replies in this state are read for entities (a DSN, a date) even without intents.
    entities: bool = False


@dataclass(frozen=True)
class CaseView:
    """The read-only view of a case that rules see."""

    id: int
    process: str
    state: str
    subject: str
    requester: str
    assignee: str | None
    data: Mapping[str, Any]

    @property
    def ref(self) -> str:
        """The human reference, e.g. 'MA-006 #12'."""
        return f"{self.process} #{self.id}"


@dataclass(frozen=True)
class NewMail:
    """What a process may look at to claim a new mail: no I/O, no database."""

    subject: str
    body: str
    sender: str
    attachments: tuple[str, ...] = ()  # file names
    # The configured roles of the sender ("metlife_recert"), whatever the mail proves.
    sender_roles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Trigger:
    """An occurrence handed to the engine: which trigger, who, and what came with it."""

    on: On
    actor: str = ""
    actor_roles: frozenset[str] = frozenset()
    values: Mapping[str, str] = field(default_factory=dict)
    text: str = ""
    attachments: tuple[str, ...] = ()  # SHA-256 of archived files
    message_id: str | None = None  # the inbound message this trigger came from
    entities: Entities = field(default_factory=Entities)  # what the reply names: dates...
    # What the attached documents turned out to be (bot.handlers.documents), JSON-able.
    facts: Mapping[str, Any] = field(default_factory=dict)
    # The sender passed CONTRACT "Who may approve" (server verdict or trusted DMARC/DKIM/SPF).
    authenticated: bool = False


@dataclass(frozen=True)
class Context:
    """Everything a guard or action may read; no I/O is possible from here."""

    case: CaseView
    trigger: Trigger
    now: datetime
    calendar: BusinessCalendar
    settings: Mapping[str, Any]

    @property
    def wait_start(self) -> datetime:
        """When a wait on someone outside the team starts: our mail to them leaves in hours."""
        return self.calendar.next_opening(self.now)


@dataclass(frozen=True)
class Outcome:
    """What an action decides besides the state change."""

    effects: tuple[Effect, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)  # merged into case data
    assignee: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)  # recorded in the audit event
    # An event to fire right after, in the same transaction: a step the bot does itself
    # (e.g. checking the Excel) is its own transition in the audit trail.
    then: str | None = None


Guard = Callable[[Context], bool]
Action = Callable[[Context], Outcome]


@dataclass(frozen=True)
class Transition:
    """From states, on a trigger, to a target (None: stay), fulfilling seed steps.

    A transition with no source states is an entry: it opens a new case in its target.
    """

    source: tuple[str, ...]
    on: On
    target: str | None
    steps: tuple[str, ...]
    action: Action | None = None
    guard: Guard | None = None
    guard_label: str = ""
    # Values a command must carry (`--set key=value`, or --note for "nota").
    requires: tuple[str, ...] = ()
    # Roles allowed to fire a command; intents and timers are gated elsewhere.
    roles: frozenset[str] = frozenset({"specialist", "supervisor", "backup"})
    description: str = ""


class ProcessDefinitionError(ValueError):
    """A process definition is inconsistent; lists every problem found."""

    def __init__(self, code: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{code}: " + "; ".join(problems))


@dataclass(frozen=True)
class Process:
    """A documented process as a state machine; construction validates it."""

    code: str
    name: str
    states: tuple[State, ...]
    transitions: tuple[Transition, ...]
    # Timers armed by actions (ArmTimer) that survive state changes until cancelled.
    case_timers: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    # Whether a new mail with no case belongs to this process (first claimant wins;
    # unclaimed mail becomes an MA-006 ticket).
    claims: Callable[[NewMail], bool] | None = None
    # Which attachment inspections (bot.handlers.documents.INSPECTIONS) its mail needs.
    inspects: tuple[str, ...] = ()
    # Whose reply may move a case (its intents): the requester when None; a process whose
    # counterparts are configured people (a zone's assistants) decides here. Replies from
    # anyone else arrive as the event "mensaje".
    replies_from: Callable[[CaseView, Trigger], bool] | None = None
    # A team member may forward a counterpart's reply to the bot: the message inside the
    # forward is read, and its original sender is who the rules check.
    forwards: bool = False

    def __post_init__(self) -> None:
        """Refuse a definition with unreachable states, dead ends or loose timers."""
        problems = validate(self)
        if problems:
            raise ProcessDefinitionError(self.code, problems)

    def state(self, slug: str) -> State:
        """The state with this slug."""
        for st in self.states:
            if st.slug == slug:
                return st
        raise KeyError(f"{self.code} has no state {slug!r}")

    def outgoing(self, slug: str) -> tuple[Transition, ...]:
        """Transitions that can fire in this state, in declaration order."""
        return tuple(t for t in self.transitions if slug in t.source)

    def entries(self) -> tuple[Transition, ...]:
        """Transitions that open a new case."""
        return tuple(t for t in self.transitions if not t.source)

    def label(self, slug: str) -> str:
        """The Spanish label of a state (the slug itself if unknown)."""
        return next((s.label for s in self.states if s.slug == slug), slug)

    def timer_label(self, kind: str) -> str:
        """How a timer kind reads for office staff (its declared label, else the kind)."""
        for st in self.states:
            for decl in st.timers:
                if decl.kind == kind and decl.label:
                    return decl.label
        return kind.replace("_", " ").capitalize()

    def waiting_states(self) -> dict[str, str]:
        """States in which the case waits on someone outside the help desk, and on whom."""
        return {st.slug: st.waiting_on for st in self.states if st.waiting_on}

    def sla_timers(self) -> frozenset[tuple[str, str]]:
        """(state, timer kind) pairs that are SLA deadlines."""
        return frozenset((st.slug, d.kind) for st in self.states for d in st.timers if d.sla)

    def accepted_intents(self, slug: str) -> frozenset[str]:
        """Intents this state acts on (the rest become a task for a specialist)."""
        return frozenset(t.on.name for t in self.outgoing(slug) if t.on.kind == "intent")

    def commands(self, slug: str) -> tuple[str, ...]:
        """Specialist commands available in this state."""
        return tuple(
            dict.fromkeys(t.on.name for t in self.outgoing(slug) if t.on.kind == "command")
        )


def validate(proc: Process) -> list[str]:
    """Every inconsistency in a process definition, as readable sentences."""
    problems: list[str] = []
    slugs = [s.slug for s in proc.states]
    known = set(slugs)
    for dup in sorted({s for s in slugs if slugs.count(s) > 1}):
        problems.append(f"state {dup!r} declared twice")
    entry_targets = [t.target for t in proc.entries() if t.target is not None]
    if not entry_targets:
        problems.append("no entry transition (source=()) opens a case")
    for t in proc.entries():
        if t.target is None:
            problems.append(f"entry transition on {t.on} has no target state")

    for t in proc.transitions:
        where = f"transition {'|'.join(t.source) or '(nuevo)'} --{t.on}-->"
        for src in t.source:
            if src not in known:
                problems.append(f"{where} starts at undeclared state {src!r}")
        if t.target is not None and t.target not in known:
            problems.append(f"{where} goes to undeclared state {t.target!r}")
        if not t.steps:
            problems.append(f"{where} names no seed step")
        for step in t.steps:
            if not _STEP.match(step):
                problems.append(f"{where} has a malformed step {step!r} (e.g. 'MA-006 paso 4')")

    states = {s.slug: s for s in proc.states}
    # Reachability from the states where cases are opened.
    seen = {s for s in entry_targets if s in known}
    frontier = list(seen)
    while frontier:
        current = frontier.pop()
        for t in proc.outgoing(current):
            if t.target is not None and t.target not in seen:
                seen.add(t.target)
                frontier.append(t.target)
    for slug in slugs:
        if slug not in seen:
            problems.append(f"state {slug!r} is unreachable from the entry states")

    for slug, st in states.items():
        leaving = [t for t in proc.outgoing(slug) if t.target not in (None, slug)]
        if st.final and proc.outgoing(slug):
            problems.append(f"final state {slug!r} has outgoing transitions")
        if not st.final and not leaving:
            problems.append(f"state {slug!r} is a dead end (not final, no way out)")
        declared = {d.kind for d in st.timers}
        handled = {t.on.name for t in proc.outgoing(slug) if t.on.kind == "timer"}
        for kind in sorted(declared - handled):
            problems.append(f"timer {kind!r} of state {slug!r} has no transition")
        for kind in sorted(handled - declared - set(proc.case_timers)):
            problems.append(f"state {slug!r} handles timer {kind!r} that is never armed there")
        if st.final and st.timers:
            problems.append(f"final state {slug!r} declares timers")
        if st.waiting_on != st.waiting_on.strip():
            problems.append(f"state {slug!r} has a blank or padded waiting_on")
        if st.final and st.waiting_on:
            problems.append(f"final state {slug!r} cannot be waiting on anyone")
        for d in st.timers:
            if d.sla and st.waiting_on:
                problems.append(
                    f"state {slug!r} waits on {st.waiting_on!r} yet its timer {d.kind!r} is "
                    "an SLA of the help desk"
                )
            if d.sla and d.repeat:
                problems.append(f"SLA timer {d.kind!r} of state {slug!r} cannot repeat")

    # Ambiguity: two transitions that could both fire for the same state and trigger.
    for slug in [*slugs, ""]:
        by_trigger: dict[On, list[Transition]] = {}
        for t in proc.outgoing(slug) if slug else proc.entries():
            by_trigger.setdefault(t.on, []).append(t)
        for on, group in by_trigger.items():
            unguarded = [t for t in group if t.guard is None]
            if len(unguarded) > 1:
                problems.append(f"state {slug!r} has {len(unguarded)} unguarded {on} transitions")
            elif unguarded and group[-1].guard is not None:
                problems.append(
                    f"state {slug!r}: the unguarded {on} transition must come last "
                    "(it would shadow the guarded ones)"
                )
            guards = [t.guard for t in group if t.guard is not None]
            if len(guards) != len(set(guards)):
                problems.append(f"state {slug!r} repeats a guard on {on}")
    handled_anywhere = {t.on.name for t in proc.transitions if t.on.kind == "timer"}
    for kind in proc.case_timers:
        if kind not in handled_anywhere:
            problems.append(f"case timer {kind!r} has no transition")
    return problems
