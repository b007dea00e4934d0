"""The specialists' side of the chat: /casos, /caso ID, /tareas and replies to task messages.

A reply to the bot's message about a task runs that task's action with the reply as its
datum (the MetLife case number, the solution) and attached files, exactly as
`mesabot case ID ACTION` would; a reply to a message about a case with no task answers the
case's counterpart (`responder`). Only specialists reach this module (the gate decides).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.channels.telegram_gate import Verdict
from bot.rules.dsl import command
from bot.rules.engine import Rejected
from bot.workflow import UnknownTask, Workflow, case_tag_ref
from storage.models import Attachment, Case, Event, Message, Task

if TYPE_CHECKING:
    from bot.handlers.chat import Received

LIST_LIMIT = 20


def desk_message(
    wf: Workflow, s: Session, v: Verdict, message: Message, received: Received, now: datetime
) -> Literal["desk"]:
    """Answer a specialist's command or reply."""
    if v.command == "casos":
        _casos(wf, s, v, now)
    elif v.command == "caso":
        _caso(wf, s, v, now)
    elif v.command == "tareas":
        _tareas(wf, s, v, now)
    elif v.reply_to_message_id is not None and not v.command:
        _reply(wf, s, v, message, now)
    else:
        _say(wf, s, v, "ayuda", {}, now)
    return "desk"


def _casos(wf: Workflow, s: Session, v: Verdict, now: datetime) -> None:
    """The open cases, newest first (optionally of one process: /casos MA-007)."""
    query = select(Case).where(Case.closed_at.is_(None))
    if v.args:
        query = query.where(Case.process == v.args[0].upper())
    found = list(s.scalars(query.order_by(Case.id.desc()).limit(LIST_LIMIT + 1)))
    rows = [_case_row(wf, c) for c in found[:LIST_LIMIT]]
    _say(wf, s, v, "casos", {"casos": rows, "mas": len(found) > LIST_LIMIT}, now)


def _caso(wf: Workflow, s: Session, v: Verdict, now: datetime) -> None:
    """One case: state, who, the last events and the actions it takes."""
    wanted = v.args[0].lstrip("#") if v.args else ""
    case = s.get(Case, int(wanted)) if wanted.isdigit() else None
    if case is None:
        _say(wf, s, v, "no_existe", {"numero": wanted}, now)
        return
    proc = wf.process(case.process)
    events = s.scalars(
        select(Event).where(Event.case_id == case.id).order_by(Event.id.desc()).limit(5)
    ).all()
    history = [
        {
            "cuando": wf.calendar.local(e.at).strftime("%d/%m %H:%M"),
            "que": str(e.detail.get("descripcion") or e.kind),
            "quien": e.actor,
        }
        for e in reversed(events)
    ]
    acciones = [] if case.closed_at else list(proc.commands(case.state))
    context = {"caso": _case_row(wf, case), "historia": history, "acciones": acciones}
    _say(wf, s, v, "caso", context, now)


def _tareas(wf: Workflow, s: Session, v: Verdict, now: datetime) -> None:
    """Open tasks for this specialist or for nobody in particular."""
    assert v.person is not None
    tasks = s.scalars(
        select(Task)
        .where((Task.status == "open") & Task.assignee.in_([v.person.email, ""]))
        .order_by(Task.due_at.is_(None), Task.due_at, Task.id)
        .limit(LIST_LIMIT + 1)
    ).all()
    rows = [
        {
            "id": t.id,
            "titulo": t.title,
            "vence": wf.calendar.local(t.due_at).strftime("%d/%m %H:%M") if t.due_at else "",
        }
        for t in tasks[:LIST_LIMIT]
    ]
    _say(wf, s, v, "tareas", {"tareas": rows, "mas": len(tasks) > LIST_LIMIT}, now)


def _reply(wf: Workflow, s: Session, v: Verdict, message: Message, now: datetime) -> None:
    """A reply to one of the bot's messages: complete its task, or answer its case."""
    assert v.person is not None
    replied = s.scalars(
        select(Message).where(
            (Message.channel == "chat")
            & (Message.direction == "out")
            & (Message.external_id == f"tg:{v.chat_id}:{v.reply_to_message_id}")
        )
    ).first()
    if replied is None or replied.case_id is None:
        _say(wf, s, v, "ayuda", {}, now)
        return
    case = s.get_one(Case, replied.case_id)
    message.case_id = case.id
    attached = s.scalars(select(Attachment).where(Attachment.message_id == message.id)).all()
    for att in attached:
        att.case_id = case.id
    files = tuple(a.sha256 for a in attached)
    task_id = replied.detail.get("task_id")
    task = s.get(Task, task_id) if isinstance(task_id, int) else None
    if task is not None:
        _complete(wf, s, v, case, task, files, now)
        return
    _run(wf, s, v, case, "responder", {"nota": v.text.strip()}, files, now, None)


def _complete(
    wf: Workflow,
    s: Session,
    v: Verdict,
    case: Case,
    task: Task,
    files: tuple[str, ...],
    now: datetime,
) -> None:
    """Run the task's action with the reply as its datum; a task with none is just done."""
    assert v.person is not None
    if task.status != "open":
        _say(wf, s, v, "tarea_cerrada", {"tarea": task.id, "titulo": task.title}, now)
        return
    action = str(task.data.get("action") or "")
    if not action:
        try:
            wf.complete_task(s, task.id, v.person.email, v.text.strip(), now)
        except UnknownTask:
            _say(wf, s, v, "tarea_cerrada", {"tarea": task.id, "titulo": task.title}, now)
            return
        _say(wf, s, v, "hecho", {"titulo": task.title, "caso": _case_row(wf, case)}, now)
        return
    fills = str(task.data.get("fills") or "nota")
    _run(
        wf,
        s,
        v,
        case,
        action,
        {fills: _datum(wf, s, v, case, action, fills, now)},
        files,
        now,
        task,
    )


def _datum(
    wf: Workflow, s: Session, v: Verdict, case: Case, action: str, fills: str, now: datetime
) -> str:
    """The reply as the datum, or the one word of it the action takes.

    "Caso MetLife 20261123-4471" answers a task asking for a case number: when the whole
    text is not a valid value, the words with digits are tried, longest first.
    """
    whole = v.text.strip()
    words = sorted((w.strip(".,;:()") for w in whole.split()), key=len, reverse=True)
    for candidate in [whole, *(w for w in words if any(c.isdigit() for c in w))]:
        trigger = wf.trigger(
            command(action), v.person.email if v.person else "", values={fills: candidate}
        )
        if wf.accepts(case, trigger, now):
            return candidate
    return whole


def _run(
    wf: Workflow,
    s: Session,
    v: Verdict,
    case: Case,
    action: str,
    values: dict[str, str],
    files: tuple[str, ...],
    now: datetime,
    task: Task | None,
) -> None:
    """Run a case command as the CLI does, and say how it went."""
    assert v.person is not None
    trigger = wf.trigger(
        command(action),
        v.person.email,
        values={k: val for k, val in values.items() if val},
        text=v.text,
        attachments=files,
        message_id=f"tg:{v.chat_id}:{v.message_id}",
    )
    outcome = wf.handle(s, case, trigger, now)
    if isinstance(outcome, Rejected):
        context: dict[str, Any] = {"motivo": outcome.reason, "acciones": list(outcome.available)}
        _say(wf, s, v, "rechazado", context, now)
        return
    if task is not None and task.status == "open":
        # The action did what the task asked: the reply completes it.
        wf.complete_task(s, task.id, v.person.email, v.text.strip(), now)
    title = task.title if task is not None else f"«{action}»"
    _say(wf, s, v, "hecho", {"titulo": title, "caso": _case_row(wf, case)}, now)


def _case_row(wf: Workflow, case: Case) -> dict[str, Any]:
    """A case as the chat lists it."""
    return {
        "id": case.id,
        "ref": case_tag_ref(case),
        "estado": wf.process(case.process).label(case.state),
        "asunto": case.subject,
        "solicitante": wf.directory.name_of(case.requester),
        "urgente": case.data.get("urgencia") == "alta",
        "cerrado": case.closed_at is not None,
    }


def _say(
    wf: Workflow, s: Session, v: Verdict, template: str, context: dict[str, Any], now: datetime
) -> None:
    """Answer the specialist at once with a desk template."""
    assert v.chat_id is not None and v.person is not None
    text = wf.templates.text(f"chat/desk/{template}.txt.j2", wf.render_context(None, context))
    wf.queue_chat_text(
        s,
        None,
        v.chat_id,
        v.person.email,
        text.strip(),
        f"desk/{template}",
        now,
        reply_to=v.message_id,
        immediate=True,
    )
