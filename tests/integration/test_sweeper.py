"""The timer sweep: exactly-once firing under concurrency, recurring jobs, failures."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from bot.app import JOBS, App, run_once
from bot.rules.dsl import event
from bot.scheduler import MAX_ATTEMPTS, RecurringJob, Sweeper
from storage.db import Database
from storage.models import Case, Event, Outbox, Timer
from tests.conftest import mx

# The recurring jobs of a business day, in the order they run at 08:00.
DAILY = ["barrido_agentes", "resumen_diario"]

REQUESTER = "ana.perez@example.com"


def _open_tickets(app: App, n: int) -> list[int]:
    ids = []
    with app.db.transaction() as s:
        for i in range(n):
            trigger = app.workflow.trigger(event("abrir"), REQUESTER)
            case, _ = app.workflow.open_case(
                s, "MA-006", trigger, app.clock.now(), subject=f"Ticket {i}", requester=REQUESTER
            )
            ids.append(case.id)
    return ids


def test_two_concurrent_sweepers_fire_each_timer_once(app: App, database_url: str) -> None:
    n = 30
    _open_tickets(app, n)
    due = mx(2026, 11, 23, 14, 0)  # after the 4-business-hour first-response SLA
    sweepers = []
    for name in ("a", "b"):
        db = Database(database_url)  # its own engine and connections, like another process
        sweepers.append(Sweeper(db, app.workflow, (), worker=name))
    barrier = threading.Barrier(2)
    results = {}

    def work(sw: Sweeper) -> None:
        barrier.wait()
        results[sw.worker] = sw.sweep(due)

    threads = [threading.Thread(target=work, args=(sw,)) for sw in sweepers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(r.fired for r in results.values()) == n
    assert sum(r.failed for r in results.values()) == 0
    with app.db.sessions() as s:
        fired = s.scalars(select(Timer).where(Timer.kind == "sla_primera_respuesta")).all()
        assert Counter(t.status for t in fired) == {"fired": n}
        alerts = s.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.detail["sla"].as_string() == "primera_respuesta")
        )
        assert alerts == n
        outbox = s.scalars(select(Outbox)).all()
        sla_mails = [o for o in outbox if o.payload["template"] == "MA-006/alerta_sla"]
        assert len(sla_mails) == n
    for sw in sweepers:
        sw.db.dispose()


def test_digest_is_a_recurring_timer_row_fired_once_per_business_day(app: App) -> None:
    friday = mx(2026, 11, 20, 7, 0)
    app.sweeper.ensure_jobs(friday)
    app.sweeper.ensure_jobs(friday)  # idempotent
    with app.db.sessions() as s:
        jobs = s.scalars(select(Timer).where(Timer.scope == "job")).all()
        assert [(j.kind, app.calendar.local(j.due_at)) for j in jobs] == [
            ("barrido_agentes", mx(2026, 11, 20, 8, 0)),
            ("resumen_diario", mx(2026, 11, 20, 8, 0)),
        ]
    assert run_once(app, mx(2026, 11, 20, 7, 59)).sweep.jobs == []
    assert run_once(app, mx(2026, 11, 20, 8, 0)).sweep.jobs == DAILY
    assert run_once(app, mx(2026, 11, 20, 12, 0)).sweep.jobs == []
    # Weekend skipped, Monday's run happens once even if the daemon was down until noon.
    assert run_once(app, mx(2026, 11, 23, 12, 0)).sweep.jobs == DAILY
    assert run_once(app, mx(2026, 11, 23, 13, 0)).sweep.jobs == []
    with app.db.sessions() as s:
        pending = s.scalars(
            select(Timer).where((Timer.scope == "job") & (Timer.status == "pending"))
        ).all()
        assert [app.calendar.local(t.due_at) for t in pending] == [mx(2026, 11, 24, 8, 0)] * 2
    specialists = len(app.config.people.specialists)
    digests = list((app.config.mail.maildir / "outbox" / "new").iterdir())
    assert len(digests) >= 2 * specialists


def test_first_run_after_the_hour_still_sends_todays_digest(app: App) -> None:
    report = run_once(app, mx(2026, 11, 23, 9, 30))
    assert report.sweep.jobs == DAILY


def test_holiday_has_no_digest(app: App) -> None:
    app.sweeper.ensure_jobs(mx(2026, 11, 14, 10, 0))  # Saturday before Revolution day
    with app.db.sessions() as s:
        due = s.scalars(select(Timer.due_at).where(Timer.scope == "job")).all()
    assert [app.calendar.local(d) for d in due] == [mx(2026, 11, 17, 8, 0)] * len(DAILY)


def test_stale_timers_are_ignored(app: App) -> None:
    (case_id,) = _open_tickets(app, 1)
    with app.db.transaction() as s:
        s.get_one(Case, case_id).state = "en_proceso"  # moved on by other means
    report = run_once(app, mx(2026, 11, 24, 12, 0))
    assert report.sweep.stale == 1
    with app.db.sessions() as s:
        statuses = s.scalars(select(Timer.status).where(Timer.case_id == case_id)).all()
    assert statuses == ["stale"]


def test_a_failing_job_is_retried_then_parked_without_blocking_others(app: App) -> None:
    calls: list[str] = []

    def boom(*_args: object) -> None:
        calls.append("boom")
        raise RuntimeError("falla simulada")

    broken = RecurringJob("roto", at=lambda wf: JOBS[0].at(wf), run=boom)
    sweeper = Sweeper(app.db, app.workflow, (*JOBS, broken), worker="t")
    now = mx(2026, 11, 23, 9, 0)
    sweeper.ensure_jobs(now)
    first = sweeper.sweep(now)
    assert first.failed == 1 and first.jobs == DAILY
    for i in range(MAX_ATTEMPTS - 1):
        sweeper.sweep(now + timedelta(minutes=i + 1))
    assert len(calls) == MAX_ATTEMPTS
    with app.db.sessions() as s:
        row = s.scalars(select(Timer).where(Timer.kind == "roto")).one()
        assert row.status == "failed"
        assert row.attempts == MAX_ATTEMPTS
        assert "falla simulada" in (row.last_error or "")
        assert s.scalars(select(Event.kind).where(Event.kind == "timer_failed")).all()
        # The specialists hear of it once, however often the job is retried that day.
        alerts = s.scalars(select(Outbox).where(Outbox.dedupe_key.like("trabajo_fallido:%")))
        assert [a.payload["template"] for a in alerts] == ["common/temporizador_fallido"]
