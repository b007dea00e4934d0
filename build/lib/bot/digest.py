"""The specialists' daily digest: open cases, tasks and what falls due next."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.rules.effects import SendMail
from bot.workflow import Workflow
from storage.models import Case, Task, Timer


def _case_row(wf: Workflow, case: Case) -> dict[str, Any]:
    """One case as the digest shows it."""
    return {
        "ref": f"{case.process} #{case.id}",
        "state_label": wf.process(case.process).label(case.state),
        "subject": case.subject,
        "requester": case.requester,
        "since": wf.calendar.local(case.updated_at).strftime("%Y-%m-%d %H:%M"),
    }


def digest_contexts(wf: Workflow, s: Session, now: datetime) -> list[dict[str, Any]]:
    """One template context per recipient (each specialist, then the supervisor)."""
    cal = wf.calendar
    local_now = cal.local(now)
    open_cases = s.scalars(
        select(Case).where(Case.closed_at.is_(None)).order_by(Case.updated_at)
    ).all()
    tasks = s.scalars(select(Task).where(Task.status == "open").order_by(Task.id)).all()
    horizon = cal.add_business_days(now, 1)
    upcoming = s.execute(
        select(Timer, Case)
        .join(Case, Case.id == Timer.case_id)
        .where((Timer.status == "pending") & (Timer.due_at <= horizon))
        .order_by(Timer.due_at)
    ).all()
    previous_day = cal.add_business_days(now, -1)
    closed_since = s.scalar(
        select(func.count())
        .select_from(Case)
        .where((Case.closed_at >= previous_day) & (Case.closed_at <= now))
    )
    refs = {c.id: f"{c.process} #{c.id}" for c in open_cases}

    def task_row(t: Task) -> dict[str, Any]:
        return {
            "id": t.id,
            "title": t.title,
            "due": cal.local(t.due_at).strftime("%Y-%m-%d %H:%M") if t.due_at else "",
            "case_ref": refs.get(t.case_id or 0, ""),
        }

    common = {
        "fecha": local_now.date().isoformat(),
        "hora": local_now.strftime("%H:%M"),
        "sin_asignar": [_case_row(wf, c) for c in open_cases if not c.assignee],
        "proximos": [
            {
                "ref": f"{c.process} #{c.id}",
                "kind": t.kind,
                "due": cal.local(t.due_at).strftime("%Y-%m-%d %H:%M"),
            }
            for t, c in upcoming
        ],
        "totales": {
            "abiertos": len(open_cases),
            "tareas": len(tasks),
            "cerrados_ayer": int(closed_since or 0),
        },
    }
    contexts: list[dict[str, Any]] = []
    for person in wf.config.people.specialists:
        mine = [c for c in open_cases if c.assignee == person.email]
        my_tasks = [t for t in tasks if t.assignee in ("", person.email)]
        contexts.append(
            {
                **common,
                "email": person.email,
                "nombre": person.name,
                "asignados": [_case_row(wf, c) for c in mine],
                "tareas": [task_row(t) for t in my_tasks],
            }
        )
    supervisor = wf.config.people.supervisor
    if supervisor is not None and supervisor.email not in wf.directory.specialists:
        contexts.append(
            {
                **common,
                "email": supervisor.email,
                "nombre": supervisor.name,
                "asignados": [_case_row(wf, c) for c in open_cases if c.assignee],
                "tareas": [task_row(t) for t in tasks],
            }
        )
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
