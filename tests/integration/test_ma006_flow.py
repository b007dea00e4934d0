"""MA-006 end to end on the real database: engine, timers, outbox, Maildir, business calendar."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select

from bot.app import App, run_once
from bot.rules.dsl import command, event, intent
from bot.rules.engine import Rejected
from bot.workflow import Applied
from storage.models import Case, Event, KnowledgeEntry, Outbox, Timer
from tests.conftest import mx

SPECIALIST = "sofia.ramirez@example.com"
REQUESTER = "ana.perez@example.com"


def outbox(app: App) -> list[EmailMessage]:
    """Every message the bot wrote to the Maildir outbox, oldest first."""
    files = sorted(
        (app.config.mail.maildir / "outbox" / "new").iterdir(), key=lambda p: p.stat().st_mtime_ns
    )
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in files]  # type: ignore[misc]


def open_ticket(app: App, subject: str = "No puedo entrar a BLife") -> int:
    """Open an MA-006 ticket as the mail pipeline will."""
    now = app.clock.now()
    with app.db.transaction() as s:
        trigger = app.workflow.trigger(event("abrir"), REQUESTER, text="Me marca error")
        case, _ = app.workflow.open_case(
            s, "MA-006", trigger, now, subject=subject, requester=REQUESTER
        )
        return case.id


def act(
    app: App, case_id: int, name: str, by: str = SPECIALIST, **values: str
) -> Applied | Rejected:
    """Run a specialist command now."""
    with app.db.transaction() as s:
        case = app.workflow.get_case(s, case_id)
        trigger = app.workflow.trigger(command(name), by, values=values)
        return app.workflow.handle(s, case, trigger, app.clock.now())


def reply(app: App, case_id: int, name: str) -> Applied | Rejected:
    """A reply from the requester carrying an intent."""
    with app.db.transaction() as s:
        case = app.workflow.get_case(s, case_id)
        trigger = app.workflow.trigger(intent(name), REQUESTER, text="...")
        return app.workflow.handle(s, case, trigger, app.clock.now())


def state(app: App, case_id: int) -> tuple[str, dict[str, Any]]:
    """The case's state and data."""
    with app.db.sessions() as s:
        case = s.get_one(Case, case_id)
        return case.state, dict(case.data)


def pending_timers(app: App, case_id: int) -> dict[str, Any]:
    """Pending timers of a case: kind -> due instant (Mexico City)."""
    with app.db.sessions() as s:
        rows = s.scalars(
            select(Timer).where((Timer.case_id == case_id) & (Timer.status == "pending"))
        ).all()
        return {t.kind: app.calendar.local(t.due_at) for t in rows}


def test_ticket_validated_by_requester(app: App) -> None:
    case_id = open_ticket(app)
    run_once(app)
    ack = [m for m in outbox(app) if m["To"] == REQUESTER]
    assert len(ack) == 1
    assert f"[MA-006 #{case_id}]" in ack[0]["Subject"]
    assert ack[0]["Auto-Submitted"] == "auto-replied"
    assert "MA-006 #" in ack[0].get_content()

    taken = act(app, case_id, "tomar", tipo="acceso", nota="Lo reviso enseguida")
    assert isinstance(taken, Applied)
    assert state(app, case_id)[0] == "en_proceso"
    resolved = act(app, case_id, "resolver", solucion="Se restableció la contraseña")
    assert isinstance(resolved, Applied)
    assert resolved.decision.steps[0] == "MA-006 paso 11"
    assert state(app, case_id)[0] == "en_validacion"

    done = reply(app, case_id, "VALIDATED")
    assert isinstance(done, Applied)
    current, data = state(app, case_id)
    assert current == "cerrado"
    assert data["motivo_cierre"] == "validado"
    assert pending_timers(app, case_id) == {}
    with app.db.sessions() as s:
        kb = s.scalars(select(KnowledgeEntry)).all()
        assert [(k.kind, k.outcome) for k in kb] == [("acceso", "validado")]
        kinds = [e.kind for e in s.scalars(select(Event).where(Event.case_id == case_id))]
        assert kinds == ["opened", "transition", "transition", "transition"]


def test_auto_close_after_three_business_days_across_weekend(app: App) -> None:
    app.clock.set(mx(2026, 11, 20, 10, 0))  # Friday
    case_id = open_ticket(app)
    act(app, case_id, "tomar", tipo="soporte_tecnico")
    app.clock.set(mx(2026, 11, 20, 11, 0))
    act(app, case_id, "resolver", solucion="Reinstalamos el certificado")
    timers = pending_timers(app, case_id)
    assert timers["recordatorio_validacion"] == mx(2026, 11, 24, 11, 0)  # Tuesday
    assert timers["cierre_automatico"] == mx(2026, 11, 25, 11, 0)  # Wednesday

    report = run_once(app, mx(2026, 11, 23, 11, 0))  # Monday: nothing due for the case yet
    assert state(app, case_id)[0] == "en_validacion"
    before = len(outbox(app))
    report = run_once(app, mx(2026, 11, 24, 11, 0))
    assert report.sweep.fired >= 1
    reminders = [m for m in outbox(app)[before:] if m["To"] == REQUESTER]
    assert [m["Auto-Submitted"] for m in reminders] == ["auto-generated"]
    assert "Recordatorio" in reminders[0]["Subject"]

    run_once(app, mx(2026, 11, 25, 11, 0))
    current, data = state(app, case_id)
    assert current == "cerrado"
    assert data["motivo_cierre"] == "sin_respuesta"
    with app.db.sessions() as s:
        last = s.scalars(
            select(Event).where(Event.case_id == case_id).order_by(Event.id.desc()).limit(1)
        ).one()
        assert "MA-006 paso 17" in last.steps
        assert last.actor == "mesabot"


def test_revolution_day_is_not_a_business_day(app: App) -> None:
    app.clock.set(mx(2026, 11, 12, 12, 0))  # Thursday before the long weekend
    case_id = open_ticket(app)
    act(app, case_id, "tomar", tipo="consultas")
    act(app, case_id, "resolver", solucion="Listo")
    # Fri 13, (Sat, Sun, Mon 16 holiday), Tue 17, Wed 18.
    assert pending_timers(app, case_id)["cierre_automatico"] == mx(2026, 11, 18, 12, 0)


def test_not_solved_goes_back_to_work_and_tells_the_assignee(app: App) -> None:
    case_id = open_ticket(app)
    act(app, case_id, "tomar", tipo="acceso")
    act(app, case_id, "resolver", solucion="Prueba de nuevo")
    result = reply(app, case_id, "NOT_SOLVED")
    assert isinstance(result, Applied)
    current, data = state(app, case_id)
    assert current == "en_proceso"
    assert data["reaperturas"] == 1
    assert set(pending_timers(app, case_id)) == {"seguimiento"}
    run_once(app)
    to_assignee = [m for m in outbox(app) if m["To"] == SPECIALIST and "no quedó" in m["Subject"]]
    assert len(to_assignee) == 1


def test_first_response_sla_alerts_the_team(app: App) -> None:
    app.clock.set(mx(2026, 11, 23, 16, 0))  # Monday 16:00: 4 business hours end Tue 10:00
    case_id = open_ticket(app)
    assert pending_timers(app, case_id)["sla_primera_respuesta"] == mx(2026, 11, 24, 10, 0)
    run_once(app, mx(2026, 11, 24, 10, 0))
    alerts = [m for m in outbox(app) if "Alerta SLA" in m["Subject"]]
    assert len(alerts) == 1
    assert alerts[0]["Cc"] == app.config.people.supervisor.email  # type: ignore[union-attr]


def test_rejections_are_audited_and_change_nothing(app: App) -> None:
    case_id = open_ticket(app)
    bad_type = act(app, case_id, "tomar", tipo="otro")
    assert isinstance(bad_type, Rejected) and bad_type.code == "guard"
    missing = act(app, case_id, "tomar")
    assert isinstance(missing, Rejected) and missing.code == "missing_values"
    stranger = act(app, case_id, "tomar", by="intruso@example.net", tipo="acceso")
    assert isinstance(stranger, Rejected) and stranger.code == "not_allowed"
    wrong_state = act(app, case_id, "resolver", solucion="x")
    assert isinstance(wrong_state, Rejected) and "tomar" in wrong_state.available
    assert state(app, case_id)[0] == "pendiente_atencion"
    with app.db.sessions() as s:
        kinds = [e.kind for e in s.scalars(select(Event).where(Event.case_id == case_id))]
    assert kinds == ["opened", "rejected", "rejected", "rejected", "rejected"]


def test_closed_case_rejects_everything(app: App) -> None:
    case_id = open_ticket(app)
    act(app, case_id, "cerrar", motivo="Duplicado de MA-006 #1")
    assert state(app, case_id)[0] == "cerrado"
    again = act(app, case_id, "nota", nota="hola")
    assert isinstance(again, Rejected) and again.code == "closed"


def test_mail_to_requester_waits_for_support_hours(app: App) -> None:
    app.clock.set(mx(2026, 11, 20, 16, 0))  # Friday after the 15:00 close
    case_id = open_ticket(app)
    act(app, case_id, "tomar", tipo="acceso", nota="Lo revisamos el lunes")
    run_once(app)
    subjects = [m["Subject"] for m in outbox(app)]
    assert any(s.startswith("Recibimos") for s in subjects)  # acknowledgement: at once
    assert not any(s.startswith("Estamos atendiendo") for s in subjects)
    with app.db.sessions() as s:
        held = s.scalars(select(Outbox).where(Outbox.status == "pending")).all()
        assert [app.calendar.local(o.not_before) for o in held] == [mx(2026, 11, 23, 8, 0)]
    run_once(app, mx(2026, 11, 23, 8, 0))
    assert any(m["Subject"].startswith("Estamos atendiendo") for m in outbox(app))


def test_follow_up_reminder_repeats_while_in_progress(app: App) -> None:
    case_id = open_ticket(app)
    act(app, case_id, "tomar", tipo="acceso")
    first = pending_timers(app, case_id)["seguimiento"]
    assert first == mx(2026, 11, 25, 9, 0)
    run_once(app, first)
    assert pending_timers(app, case_id)["seguimiento"] == mx(2026, 11, 27, 9, 0)


def test_every_outbound_message_is_recorded_and_threaded(app: App) -> None:
    case_id = open_ticket(app)
    act(app, case_id, "tomar", tipo="acceso", nota="Hola")
    run_once(app)
    ids = {m["Message-ID"] for m in outbox(app)}
    assert len(ids) == len(outbox(app))
    for message in outbox(app):
        if message["To"] == REQUESTER:
            assert f"[MA-006 #{case_id}]" in message["Subject"]
