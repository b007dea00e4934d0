"""The pure rules engine: (process, case, trigger, now) -> Decision or Rejected. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from bot.rules.dsl import CaseView, Context, Outcome, Process, Transition, Trigger
from bot.rules.effects import ArmTimer, CancelTimer, Effect

if TYPE_CHECKING:
    from bot.calendar import BusinessCalendar

TimerScope = Literal["state", "case"]


@dataclass(frozen=True)
class TimerArm:
    """A timer to create: state-scoped ones die when the case leaves the state."""

    kind: str
    due_at: datetime
    scope: TimerScope


@dataclass(frozen=True)
class Decision:
    """The outcome of a transition, ready to be applied in one transaction."""

    transition: Transition
    from_state: str
    to_state: str
    effects: tuple[Effect, ...]
    data: Mapping[str, Any]
    assignee: str | None
    detail: Mapping[str, Any]
    arm: tuple[TimerArm, ...]
    cancel_kinds: tuple[str, ...]
    final: bool
    then: str | None = None  # an event to fire next, in the same transaction

    @property
    def steps(self) -> tuple[str, ...]:
        """The seed steps this decision fulfils."""
        return self.transition.steps

    @property
    def changed(self) -> bool:
        """True when the case moves to another state."""
        return self.from_state != self.to_state


RejectCode = Literal["closed", "no_transition", "not_allowed", "missing_values", "guard"]


@dataclass(frozen=True)
class Rejected:
    """Why a trigger does not apply; `reason` is Spanish, for the person who sent it."""

    code: RejectCode
    reason: str
    available: tuple[str, ...] = field(default_factory=tuple)


def step(
    process: Process,
    case: CaseView,
    trigger: Trigger,
    now: datetime,
    calendar: BusinessCalendar,
    settings: Mapping[str, Any] | None = None,
) -> Decision | Rejected:
    """Choose and evaluate the transition for this trigger; pure and deterministic.

    A case whose state is "" is being opened: only entry transitions apply.
    """
    if case.state:
        state = process.state(case.state)
        if state.final:
            return Rejected("closed", f"El caso {case.ref} está en estado final ({state.label}).")
        candidates = [t for t in process.outgoing(case.state) if t.on == trigger.on]
        label = state.label
    else:
        candidates = [t for t in process.entries() if t.on == trigger.on]
        label = "nuevo"
    if not candidates:
        available = process.commands(case.state)
        what = "La acción" if trigger.on.kind == "command" else "El aviso"
        return Rejected(
            "no_transition",
            f"{what} «{trigger.on.name}» no aplica al caso {case.ref} en estado «{label}».",
            available,
        )
    ctx = Context(case, trigger, now, calendar, {**process.settings, **(settings or {})})

    if trigger.on.kind == "command":
        allowed = [t for t in candidates if t.roles & trigger.actor_roles]
        if not allowed:
            return Rejected(
                "not_allowed",
                f"{trigger.actor or 'Quien lo pide'} no está autorizado para «{trigger.on.name}» "
                f"en el caso {case.ref}.",
            )
        candidates = allowed

    chosen: Transition | None = None
    missing: list[str] = []
    for t in candidates:
        lacking = [k for k in t.requires if not str(trigger.values.get(k, "")).strip()]
        if lacking:
            missing = missing or lacking
            continue
        if t.guard is None or t.guard(ctx):
            chosen = t
            break
    if chosen is None:
        if missing:
            keys = ", ".join(missing)
            return Rejected(
                "missing_values",
                f"Faltan datos para «{trigger.on.name}» en el caso {case.ref}: {keys}.",
            )
        labels = "; ".join(t.guard_label for t in candidates if t.guard_label)
        where = f"en el caso {case.ref}" if case.state else f"para abrir un caso {case.process}"
        return Rejected(
            "guard",
            f"«{trigger.on.name}» no procede {where}" + (f": {labels}." if labels else "."),
        )
    return _decide(process, chosen, ctx)


def _decide(process: Process, t: Transition, ctx: Context) -> Decision:
    """Run the chosen transition's action and work out the timers."""
    outcome = t.action(ctx) if t.action is not None else Outcome()
    source = ctx.case.state
    target = t.target or source  # entries always have a target (validated)
    target_state = process.state(target)

    arm: list[TimerArm] = []
    cancel: list[str] = []
    state_kinds = {d.kind for d in target_state.timers}
    # An action may set when one of its target state's timers comes due (a snooze until
    # the date someone named): that replaces the declared delay.
    chosen = {e.kind for e in outcome.effects if isinstance(e, ArmTimer)} & state_kinds
    if target != source:
        # Waiting on someone outside the team counts from when our mail reaches them: mail
        # to them is held until the next opening (a letter sent Friday night leaves Monday).
        origin = ctx.wait_start if target_state.waiting_on else ctx.now
        arm.extend(
            TimerArm(d.kind, d.delay(ctx.settings).due(origin, ctx.calendar), "state")
            for d in target_state.timers
            if d.kind not in chosen
        )
    elif ctx.trigger.on.kind == "timer":
        for d in process.state(source).timers:
            if d.kind == ctx.trigger.on.name and d.repeat and d.kind not in chosen:
                due = d.delay(ctx.settings).due(ctx.now, ctx.calendar)
                arm.append(TimerArm(d.kind, due, "state"))

    effects: list[Effect] = []
    for eff in outcome.effects:
        if isinstance(eff, ArmTimer):
            scope: TimerScope = "state" if eff.kind in state_kinds else "case"
            if scope == "state" and target == source and ctx.trigger.on.name != eff.kind:
                cancel.append(eff.kind)  # staying put: the pending one is replaced
            arm.append(TimerArm(eff.kind, eff.due(ctx.now, ctx.calendar), scope))
        elif isinstance(eff, CancelTimer):
            cancel.append(eff.kind)
        else:
            effects.append(eff)

    return Decision(
        transition=t,
        from_state=source,
        to_state=target,
        effects=tuple(effects),
        data=dict(outcome.data),
        assignee=outcome.assignee,
        detail=dict(outcome.detail),
        arm=tuple(arm),
        cancel_kinds=tuple(cancel),
        final=target_state.final,
        then=outcome.then,
    )
