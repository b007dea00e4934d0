"""The specialists' daily digest: open cases, tasks, waits on others, SLA breaches, closures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.calendar import MONTHS, WEEKDAYS
from bot.rules import ma005_recert as ma005
from bot.rules.dsl import Context, Process, Trigger, event
from bot.rules.effects import SendMail
from bot.sweeps import last_sweep
from bot.workflow import Workflow, view_of
from storage.models import Case, Event, Task, Timer

UNASSIGNED = "Sin asignar"


def long_date(d: date, *, year: bool = True) -> str:
    """A date as office staff write it: 'lunes 23 de noviembre de 2026'."""
    text = f"{WEEKDAYS[d.weekday()]} {d.day} de {MONTHS[d.month - 1]}"
    return f"{text} de {d.year}" if year else text


def closed_period(first: date, last: date, today: date) -> str:
    """The days whose closures the digest lists, as a Spanish phrase."""
    if first == last:
        prefix = "ayer, " if last == today - timedelta(days=1) else "el "
        return prefix + long_date(first, year=False)
    start = (
        f"{WEEKDAYS[first.weekday()]} {first.day}"
        if first.month == last.month
        else long_date(first, year=False)
    )
    return f"del {start} al {long_date(last, year=False)}"


def age_text(days: int) -> str:
    """An age in business days, in words."""
    if days == 0:
        return "menos de 1 día hábil"
    return "1 día hábil" if days == 1 else f"{days} días hábiles"


def duration_text(delta: timedelta) -> str:
    """Business time as hours and minutes ('3 h 15 min')."""
    minutes = int(delta.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest} min" if rest else f"{hours} h"


@dataclass(frozen=True)
class _Desk:
    """What the whole help desk looks like at the digest's instant (rows, not yet filtered)."""

    open_cases: list[Case]
    tasks: list[Task]
    waiting: list[dict[str, Any]]
    breaches: list[dict[str, Any]]
    closed: list[Case]
    period: str
    refs: dict[int, str]
    sweep: dict[str, Any] | None  # what the latest CAM Pegasus sweep saw (MA-002)


class _Digest:
    """Builds the digest rows for one instant; each recipient then gets a filtered view."""

    def __init__(self, wf: Workflow, s: Session, now: datetime) -> None:
        self.wf = wf
        self.s = s
        self.now = now
        self.cal = wf.calendar
        # Every recipient's view repeats the same cases: build each row once.
        self._rows: dict[int, dict[str, Any]] = {}

    # -- formatting ------------------------------------------------------------------------

    def when(self, at: datetime) -> str:
        """An instant in the office's time zone, day first as in Mexico."""
        return self.cal.local(at).strftime("%d/%m/%Y %H:%M")

    def process(self, code: str) -> Process | None:
        """The registered process with this code, None for one no longer registered."""
        return self.wf.processes.get(code)

    def name(self, email: str | None) -> str:
        """An assignee's configured name, their address otherwise, or 'Sin asignar'."""
        return self.wf.directory.name_of(email) if email else UNASSIGNED

    def case_row(self, case: Case) -> dict[str, Any]:
        """One case as every section shows it."""
        if case.id in self._rows:
            return self._rows[case.id]
        proc = self.process(case.process)
        age = self.cal.business_age(case.created_at, self.now)
        row = self._rows[case.id] = {
            "id": case.id,
            "ref": f"{case.process} #{case.id}",
            "process": case.process,
            "state": case.state,
            "state_label": proc.label(case.state) if proc else case.state,
            "subject": case.subject,
            "requester": case.requester,
            "requester_name": self.wf.directory.name_of(case.requester),
            "assignee": case.assignee or "",
            "assignee_name": self.name(case.assignee),
            "abierto": self.when(case.created_at),
            "edad": age,
            "edad_texto": age_text(age),
        }
        return row

    def task_row(self, task: Task, refs: dict[int, str]) -> dict[str, Any]:
        """One task as the digest shows it."""
        return {
            "id": task.id,
            "title": task.title,
            "vence": self.when(task.due_at) if task.due_at else "",
            "vencida": task.due_at is not None and task.due_at <= self.now,
            "case_ref": refs.get(task.case_id or 0, ""),
            "assignee": task.assignee,
            "assignee_name": self.name(task.assignee),
        }

    # -- gathering -------------------------------------------------------------------------

    def desk(self) -> _Desk:
        """Every row the digest may show, read once for all recipients."""
        open_cases = list(
            self.s.scalars(
                select(Case).where(Case.closed_at.is_(None)).order_by(Case.created_at, Case.id)
            ).all()
        )
        tasks = list(self.s.scalars(select(Task).where(Task.status == "open")).all())
        # Overdue and soonest first; tasks with no due date after the dated ones.
        tasks.sort(key=lambda t: (t.due_at is None, t.due_at or self.now, t.id))
        related = {t.case_id for t in tasks if t.case_id is not None}
        refs = {
            case_id: f"{code} #{case_id}"
            for case_id, code in self.s.execute(
                select(Case.id, Case.process).where(Case.id.in_(related))
            )
        }
        today = self.cal.local(self.now).date()
        first = self.cal.add_business_days(self.now, -1).date()
        # From the start of the previous business day to the start of today, so closures
        # on a weekend or holiday appear on the next business day and none is counted twice.
        start = datetime.combine(first, time(0), tzinfo=self.cal.tz)
        end = datetime.combine(today, time(0), tzinfo=self.cal.tz)
        closed = list(
            self.s.scalars(
                select(Case)
                .where((Case.closed_at >= start) & (Case.closed_at < end))
                .order_by(Case.closed_at, Case.id)
            ).all()
        )
        return _Desk(
            open_cases=open_cases,
            tasks=tasks,
            waiting=self.waiting(open_cases),
            breaches=self.breaches(open_cases),
            closed=closed,
            period=closed_period(first, today - timedelta(days=1), today),
            refs=refs,
            sweep=self.sweep(),
        )

    def queued_chat(self, case: Case) -> dict[str, Any]:
        """A queued chat as the digest lists it: who, since when, what, when it is answered."""
        agent = case.data.get("agente", {})
        opening = case.data.get("aviso_horario")
        return {
            **self.case_row(case),
            "agente": agent.get("nombre") or self.name(case.requester),
            "recibido": self.when(case.created_at),
            "apertura": self.when(datetime.fromisoformat(opening)) if opening else "",
            "urgente": case.data.get("urgencia") == "alta",
            "texto": str(case.data.get("descripcion", ""))[:300],
        }

    def recert(self, case: Case) -> dict[str, Any]:
        """An open recertification with its countdown and what it still lacks (MA-005)."""
        proc = self.wf.process(case.process)
        deadline = str(case.data.get("fecha_limite", ""))
        if not deadline:
            return {**self.case_row(case), "fecha_limite": "", "dias": None, "falta": []}
        ctx = Context(
            view_of(case),
            Trigger(event("resumen")),
            self.now,
            self.cal,
            {**proc.settings, **self.wf.settings.get(proc.code, {})},
        )
        sent = case.data.get("enviado_at")
        return {
            **self.case_row(case),
            "fecha_limite": long_date(date.fromisoformat(deadline)),
            "estimada": bool(case.data.get("fecha_limite_estimada")),
            "dias": ma005.days_left(ctx),
            "envio": self.when(datetime.fromisoformat(str(case.data["envio_programado"])))
            if case.data.get("envio_programado")
            else "",
            "enviado": self.when(datetime.fromisoformat(sent)) if sent else "",
            "falta": ma005.missing(ctx),
        }

    def sweep(self) -> dict[str, Any] | None:
        """The latest agents' sweep, with its time as the digest writes times."""
        found = last_sweep(self.s)
        if found is None:
            return None
        return {**found, "cuando": self.when(datetime.fromisoformat(found["at"]))}

    def waiting(self, open_cases: list[Case]) -> list[dict[str, Any]]:
        """Cases in a state their process marks as waiting on someone outside the desk."""
        cases: list[tuple[Case, str]] = []
        for case in open_cases:
            proc = self.process(case.process)
            who = proc.waiting_states().get(case.state) if proc else None
            if who:
                cases.append((case, who))
        if not cases:
            return []
        ids = [c.id for c, _ in cases]
        next_timer: dict[int, Timer] = {}
        for t in self.s.scalars(
            select(Timer)
            .where(Timer.case_id.in_(ids) & (Timer.status == "pending"))
            .order_by(Timer.due_at, Timer.id)
        ).all():
            next_timer.setdefault(t.case_id or 0, t)
        # When each case last entered a state: the wait started on entering the current one.
        entered = {
            (case_id, state): at
            for case_id, state, at in self.s.execute(
                select(Event.case_id, Event.to_state, func.max(Event.at))
                .where(Event.case_id.in_(ids) & Event.kind.in_(("opened", "transition")))
                .group_by(Event.case_id, Event.to_state)
            )
        }
        rows = []
        for case, who in cases:
            since = entered.get((case.id, case.state), case.updated_at)
            waited = self.cal.business_age(since, self.now)
            timer = next_timer.get(case.id)
            proc = self.process(case.process)
            rows.append(
                {
                    **self.case_row(case),
                    "espera": who,
                    "desde": self.when(since),
                    "espera_texto": age_text(waited),
                    "proximo": None
                    if timer is None
                    else {
                        "kind": timer.kind,
                        "label": proc.timer_label(timer.kind) if proc else timer.kind,
                        "vence": self.when(timer.due_at),
                    },
                }
            )
        return rows

    def breaches(self, open_cases: list[Case]) -> list[dict[str, Any]]:
        """Open cases still in a state whose SLA deadline has passed."""
        by_id = {c.id: c for c in open_cases}
        kinds = {kind for p in self.wf.processes.values() for _, kind in p.sla_timers()}
        if not kinds or not by_id:
            return []
        latest: dict[tuple[int, str], Timer] = {}
        for t in self.s.scalars(
            select(Timer)
            .join(Case, Case.id == Timer.case_id)
            .where(Case.closed_at.is_(None) & Timer.kind.in_(kinds))
            .order_by(Timer.id)
        ).all():
            # Only the newest arming counts: re-entering the state starts a fresh deadline.
            latest[(t.case_id or 0, t.kind)] = t
        found: list[tuple[datetime, int, dict[str, Any]]] = []
        for (case_id, kind), t in latest.items():
            case = by_id.get(case_id)
            proc = self.process(case.process) if case else None
            if case is None or proc is None or (case.state, kind) not in proc.sla_timers():
                continue
            # A cancelled deadline means the case left the state in time; pending or fired
            # alike, a passed deadline in the same state is a breach even before the sweep.
            if t.state != case.state or t.status == "cancelled" or t.due_at > self.now:
                continue
            late = self.cal.business_hours_between(t.due_at, self.now)
            row = {
                **self.case_row(case),
                "limite": proc.timer_label(kind),
                "vencio": self.when(t.due_at),
                "retraso": duration_text(late),
            }
            found.append((t.due_at, case.id, row))
        found.sort(key=lambda item: (item[0], item[1]))
        return [row for _, _, row in found]

    # -- per recipient ---------------------------------------------------------------------

    def grouped(self, cases: list[Case]) -> list[dict[str, Any]]:
        """Open cases grouped by process (registry order), then state (declaration order)."""
        order = {code: i for i, code in enumerate(self.wf.processes)}

        def state_index(case: Case) -> int:
            proc = self.process(case.process)
            slugs = [st.slug for st in proc.states] if proc else []
            return slugs.index(case.state) if case.state in slugs else len(slugs)

        ordered = sorted(
            cases,
            key=lambda c: (
                order.get(c.process, len(order)),
                c.process,
                state_index(c),
                c.state,
                c.created_at,
                c.id,
            ),
        )
        groups = []
        for code, in_process in groupby(ordered, key=lambda c: c.process):
            proc = self.process(code)
            states = []
            for slug, in_state in groupby(in_process, key=lambda c: c.state):
                rows = [self.case_row(c) for c in in_state]
                states.append(
                    {
                        "state": slug,
                        "state_label": proc.label(slug) if proc else slug,
                        "casos": rows,
                    }
                )
            groups.append(
                {
                    "process": code,
                    "process_name": proc.name if proc else code,
                    "total": sum(len(st["casos"]) for st in states),
                    "estados": states,
                }
            )
        return groups

    def context(self, desk: _Desk, name: str, email: str, everything: bool) -> dict[str, Any]:
        """The template context for one recipient."""
        me = email.strip().lower()

        def visible(assignee: str | None) -> bool:
            # A specialist sees their own cases and the ones nobody has taken yet.
            return everything or not assignee or assignee.lower() == me

        cases = [c for c in desk.open_cases if visible(c.assignee)]
        local = self.cal.local(self.now)
        return {
            "fecha": local.date().isoformat(),
            "fecha_texto": long_date(local.date()),
            "hora": local.strftime("%H:%M"),
            "nombre": name,
            "email": email,
            "todo": everything,
            "abiertos": self.grouped(cases),
            "abiertos_total": len(cases),
            "tareas": [self.task_row(t, desk.refs) for t in desk.tasks if visible(t.assignee)],
            "en_espera": [r for r in desk.waiting if visible(r["assignee"])],
            # A breach is the whole team's problem, as the SLA alert that went to everyone.
            "sla": desk.breaches,
            "cerrados": [
                {**self.case_row(c), "cerrado": self.when(c.closed_at), "motivo": _reason(c)}
                for c in desk.closed
                if c.closed_at is not None and visible(c.assignee)
            ],
            "cerrados_periodo": desk.period,
            "barrido": desk.sweep,
            # The recertification is everyone's: missing its deadline removes every user.
            "recertificaciones": [self.recert(c) for c in desk.open_cases if c.process == "MA-005"],
            # Chats written outside the chat hours wait for the opening (MA-007 paso 19).
            "chat_en_cola": [self.queued_chat(c) for c in desk.open_cases if _queued_chat(c)],
            "totales": {
                "abiertos": len(desk.open_cases),
                "sin_asignar": sum(1 for c in desk.open_cases if not c.assignee),
                "en_espera": len(desk.waiting),
                "sla": len(desk.breaches),
                "tareas": len(desk.tasks),
                "cerrados": len(desk.closed),
            },
        }


def _queued_chat(case: Case) -> bool:
    """An agent's chat that arrived outside the chat hours and waits for the opening."""
    return case.process == "MA-007" and bool(case.data.get("fuera_de_horario"))


def _reason(case: Case) -> str:
    """Why a case was closed, readable ('sin respuesta'), or empty."""
    return str(case.data.get("motivo_cierre", "")).replace("_", " ")


def digest_contexts(wf: Workflow, s: Session, now: datetime) -> list[dict[str, Any]]:
    """One template context per recipient (each specialist, then the supervisor)."""
    builder = _Digest(wf, s, now)
    desk = builder.desk()
    contexts = [
        builder.context(desk, person.name, person.email, everything=False)
        for person in wf.config.people.specialists
    ]
    supervisor = wf.config.people.supervisor
    if supervisor is not None and supervisor.email not in wf.directory.specialists:
        contexts.append(builder.context(desk, supervisor.name, supervisor.email, everything=True))
    return contexts


def render_digest(wf: Workflow, s: Session, now: datetime) -> str:
    """The digest as text, one section per recipient (for `mesabot digest --print`)."""
    parts = []
    for ctx in digest_contexts(wf, s, now):
        mail = wf.templates.mail("common/resumen_diario", wf.render_context(None, ctx))
        parts.append(f"Para: {ctx['email']}\nAsunto: {mail.subject}\n\n{mail.body}")
    return ("\n" + "-" * 72 + "\n").join(parts)


def queue_digest(wf: Workflow, s: Session, now: datetime) -> int:
    """Queue the digest mails; returns how many."""
    count = 0
    for ctx in digest_contexts(wf, s, now):
        effect = SendMail(
            to=(ctx["email"],),
            template="common/resumen_diario",
            context=ctx,
            auto="auto-generated",
            immediate=True,
        )
        if wf.queue_mail(s, None, effect, now) is not None:
            count += 1
    return count


def digest_job(wf: Workflow, s: Session, now: datetime) -> None:
    """The recurring job: the digest at the configured time on business days."""
    queue_digest(wf, s, now)
