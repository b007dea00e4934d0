"""Read models: cases, tasks and histories as the JSON shapes of the contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.calendar import BusinessCalendar
from bot.workflow import Workflow
from storage.models import Case, CaseLink, Event, Message, Task, Timer


def iso(dt: datetime | None, calendar: BusinessCalendar) -> str | None:
    """ISO 8601 with the organization's offset."""
    return calendar.local(dt).isoformat() if dt is not None else None


def case_summary(wf: Workflow, case: Case) -> dict[str, Any]:
    """The `cases --json` object of one case."""
    cal = wf.calendar
    return {
        "id": case.id,
        "ref": f"{case.process} #{case.id}",
        "process": case.process,
        "state": case.state,
        "state_label": wf.process(case.process).label(case.state),
        "subject": case.subject,
        "requester": case.requester,
        "assignee": case.assignee,
        "created_at": iso(case.created_at, cal),
        "updated_at": iso(case.updated_at, cal),
        "closed_at": iso(case.closed_at, cal),
        "data": dict(case.data),
    }


def task_summary(task: Task, calendar: BusinessCalendar) -> dict[str, Any]:
    """The `tasks --json` object of one task."""
    return {
        "id": task.id,
        "case_id": task.case_id,
        "kind": task.kind,
        "title": task.title,
        "assignee": task.assignee,
        "status": task.status,
        "due_at": iso(task.due_at, calendar),
        "created_at": iso(task.created_at, calendar),
    }


def case_detail(wf: Workflow, s: Session, case: Case) -> dict[str, Any]:
    """The `case ID --json` object: the summary plus history, messages, tasks, timers, links."""
    cal = wf.calendar
    events = s.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.id)).all()
    messages = s.scalars(
        select(Message).where(Message.case_id == case.id).order_by(Message.at, Message.id)
    ).all()
    tasks = s.scalars(select(Task).where(Task.case_id == case.id).order_by(Task.id)).all()
    timers = s.scalars(
        select(Timer)
        .where((Timer.case_id == case.id) & (Timer.status == "pending"))
        .order_by(Timer.due_at)
    ).all()
    links = s.scalars(
        select(CaseLink).where(or_(CaseLink.case_id == case.id, CaseLink.other_id == case.id))
    ).all()
    return {
        **case_summary(wf, case),
        "events": [
            {
                "at": iso(e.at, cal),
                "kind": e.kind,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "actor": e.actor,
                "steps": list(e.steps),
                "detail": dict(e.detail),
            }
            for e in events
        ],
        "messages": [
            {
                "direction": m.direction,
                "channel": m.channel,
                "from": m.sender,
                "to": list(m.recipients),
                "subject": m.subject,
                "at": iso(m.at, cal),
                "message_id": m.message_id,
                "status": m.status,
            }
            for m in messages
        ],
        "tasks": [
            {
                "id": t.id,
                "title": t.title,
                "assignee": t.assignee,
                "status": t.status,
                "due_at": iso(t.due_at, cal),
            }
            for t in tasks
        ],
        "timers": [{"kind": t.kind, "due_at": iso(t.due_at, cal)} for t in timers],
        "links": [
            {
                "case_id": link.other_id if link.case_id == case.id else link.case_id,
                "relation": link.relation,
            }
            for link in links
        ],
    }
