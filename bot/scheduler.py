"""Timers as rows: the sweep that fires due timers exactly once, and recurring jobs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.calendar import BusinessCalendar
from bot.rules.dsl import timer
from bot.rules.effects import SendMail
from bot.rules.engine import Rejected
from bot.workflow import SYSTEM_ACTOR, Workflow
from storage.db import Database
from storage.models import Case, Event, Outbox, Timer

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5

JobRun = Callable[[Workflow, Session, datetime], None]


@dataclass(frozen=True)
class RecurringJob:
    """A job run at a local time of day, on business days only or every day."""

    kind: str
    at: Callable[[Workflow], time]
    run: JobRun
    business_days_only: bool = True
    label: str = ""  # how an alert names it for office staff

    def next_due(self, after: datetime, calendar: BusinessCalendar, at: time) -> datetime:
        """The first occurrence strictly after `after`."""
        day = calendar.local(after).date()
        while True:
            candidate = datetime.combine(day, at, tzinfo=calendar.tz)
            if candidate > after and (not self.business_days_only or calendar.is_business_day(day)):
                return candidate
            day += timedelta(days=1)

    def first_due(self, now: datetime, calendar: BusinessCalendar, at: time) -> datetime:
        """The first occurrence from the start of today, so today's run is not skipped."""
        start_of_day = datetime.combine(calendar.local(now).date(), time(0), tzinfo=calendar.tz)
        return self.next_due(start_of_day - timedelta(microseconds=1), calendar, at)


@dataclass
class SweepResult:
    """What one sweep did."""

    fired: int = 0
    stale: int = 0
    failed: int = 0
    seen: int = 0
    jobs: list[str] = field(default_factory=list)


class Sweeper:
    """Claims due timers with compare-and-set and runs them, one transaction each."""

    def __init__(
        self, db: Database, workflow: Workflow, jobs: tuple[RecurringJob, ...], worker: str
    ) -> None:
        self.db = db
        self.workflow = workflow
        self.jobs = {job.kind: job for job in jobs}
        self.worker = worker

    def ensure_jobs(self, now: datetime) -> None:
        """Make sure every recurring job has its next occurrence as a pending row."""
        cal = self.workflow.calendar
        with self.db.transaction() as s:
            pending = set(
                s.scalars(
                    select(Timer.kind).where((Timer.scope == "job") & (Timer.status == "pending"))
                ).all()
            )
            for kind, job in self.jobs.items():
                if kind not in pending:
                    due = job.first_due(now, cal, job.at(self.workflow))
                    s.add(Timer(kind=kind, due_at=due, scope="job", created_at=now))

    def sweep_all(self, now: datetime, batch: int = 500) -> SweepResult:
        """Fire every timer due at or before `now`, batch after batch until none is left."""
        total = SweepResult()
        while True:
            result = self.sweep(now, batch)
            total.fired += result.fired
            total.stale += result.stale
            total.failed += result.failed
            total.jobs.extend(result.jobs)
            # A failed timer stays pending until parked: stop instead of spinning on it.
            if result.seen < batch or result.failed:
                return total

    def sweep(self, now: datetime, limit: int = 500) -> SweepResult:
        """Fire the timers due at or before `now`, at most `limit` of them."""
        result = SweepResult()
        with self.db.sessions() as s:
            rows = s.execute(
                select(Timer.id, Timer.due_at, Timer.scope, Timer.kind)
                .where((Timer.status == "pending") & (Timer.due_at <= now))
                .order_by(Timer.due_at, Timer.id)
                .limit(limit)
            ).all()
        # Jobs due at the same instant run in registry order (the agents' sweep before the
        # digest that lists its cases), after the case timers of that instant.
        rank = {kind: i for i, kind in enumerate(self.jobs)}
        due = [
            row.id
            for row in sorted(
                rows,
                key=lambda r: (r.due_at, rank.get(r.kind, -1) if r.scope == "job" else -1, r.id),
            )
        ]
        result.seen = len(due)
        for timer_id in due:
            try:
                self._fire(timer_id, now, result)
            except Exception as exc:  # one bad timer must not stop the others
                log.exception("timer %s failed", timer_id)
                self._record_failure(timer_id, now, exc, result)
        return result

    def _fire(self, timer_id: int, now: datetime, result: SweepResult) -> None:
        """Claim and run one timer; the claim and its effects commit together."""
        with self.db.transaction() as s:
            claimed = s.execute(
                update(Timer)
                .where((Timer.id == timer_id) & (Timer.status == "pending"))
                .values(status="fired", fired_at=now, claimed_by=self.worker)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return  # another sweeper got it first
            row = s.get_one(Timer, timer_id)
            if row.scope == "job":
                self._run_job(s, row, now, result)
                return
            case = s.get(Case, row.case_id) if row.case_id is not None else None
            if case is None or (row.scope == "state" and row.state != case.state):
                # The case moved on since the timer was armed: nothing to do.
                row.status = "stale"
                result.stale += 1
                return
            trigger = self.workflow.trigger(timer(row.kind), SYSTEM_ACTOR)
            outcome = self.workflow.handle(s, case, trigger, now)
            if isinstance(outcome, Rejected):
                row.status = "stale"
                result.stale += 1
                return
            result.fired += 1

    def _run_job(self, s: Session, row: Timer, now: datetime, result: SweepResult) -> None:
        """Run a recurring job and schedule its next occurrence."""
        job = self.jobs.get(row.kind)
        if job is None:
            row.status = "stale"  # a job that no longer exists in this version
            result.stale += 1
            return
        job.run(self.workflow, s, now)
        cal = self.workflow.calendar
        next_due = job.next_due(max(now, row.due_at), cal, job.at(self.workflow))
        s.add(Timer(kind=row.kind, due_at=next_due, scope="job", created_at=now))
        result.fired += 1
        result.jobs.append(row.kind)

    def _alert_parked(self, s: Session, row: Timer, now: datetime) -> None:
        """Tell the specialists a timer gave up; a job retried all day alerts once a day."""
        day = self.workflow.calendar.local(now).date().isoformat()
        key = f"trabajo_fallido:{row.kind}:{day}" if row.scope == "job" else f"timer:{row.id}"
        if s.scalar(select(Outbox.id).where(Outbox.dedupe_key == key)) is not None:
            return
        case = s.get(Case, row.case_id) if row.case_id is not None else None
        job = self.jobs.get(row.kind)
        if case is not None:
            label = self.workflow.process(case.process).timer_label(row.kind)
        else:
            label = job.label if job is not None and job.label else row.kind
        alert = SendMail(
            to=("@specialists",),
            template="common/temporizador_fallido",
            context={"aviso": label, "error": row.last_error or "", "intentos": row.attempts},
            auto="auto-generated",
            immediate=True,
        )
        self.workflow.queue_mail(s, case, alert, now, dedupe_key=key)

    def _record_failure(
        self, timer_id: int, now: datetime, exc: Exception, result: SweepResult
    ) -> None:
        """Count a failed attempt; after MAX_ATTEMPTS park the timer and audit it."""
        with self.db.transaction() as s:
            row = s.get(Timer, timer_id)
            if row is None or row.status != "pending":
                return
            row.attempts += 1
            row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if row.attempts >= MAX_ATTEMPTS:
                row.status = "failed"
                s.add(
                    Event(
                        case_id=row.case_id,
                        at=now,
                        kind="timer_failed",
                        actor=SYSTEM_ACTOR,
                        steps=[],
                        detail={"timer": row.kind, "error": row.last_error},
                    )
                )
                self._alert_parked(s, row, now)
        result.failed += 1
