"""The inbound pipeline on the Maildir backend, end to end on the real database."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import select

from bot.app import App, run_once
from bot.rules.dsl import command
from storage.models import Case, CaseLink, Event, Message, Outbox
from tests.conftest import mx

REQUESTER = "ana.perez@example.com"
SPECIALIST = "sofia.ramirez@example.com"


def deliver(app: App, raw: bytes, name: str | None = None) -> str:
    """Drop a message into inbox/new as an MTA would (tmp, then rename)."""
    inbox = app.config.mail.maildir / "inbox"
    key = name or make_msgid().strip("<>").replace("@", "_")
    (inbox / "tmp" / key).write_bytes(raw)
    (inbox / "tmp" / key).replace(inbox / "new" / key)
    return key


def mail(
    subject: str,
    body: str,
    sender: str = REQUESTER,
    in_reply_to: str | None = None,
    **headers: str,
) -> bytes:
    """A plain human mail in UTF-8."""
    msg = EmailMessage()
    msg["From"] = f"Ana Pérez <{sender}>"
    msg["To"] = "mesa.ayuda@example.com"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(mx(2026, 11, 23, 9, 0))
    msg["Message-ID"] = make_msgid(domain="example.com")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def outbox(app: App) -> list[EmailMessage]:
    """Messages written to outbox/new."""
    new = app.config.mail.maildir / "outbox" / "new"
    files = sorted(new.iterdir(), key=lambda p: p.stat().st_mtime_ns)
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in files]  # type: ignore[misc]


def take_and_resolve(app: App, case_id: int) -> None:
    """The specialist takes the ticket and sends a solution (it waits for validation)."""
    with app.db.transaction() as s:
        case = app.workflow.get_case(s, case_id)
        for name, values in (("tomar", {"tipo": "acceso"}), ("resolver", {"solucion": "Listo"})):
            trig = app.workflow.trigger(command(name), SPECIALIST, values=values)
            app.workflow.handle(s, case, trig, app.clock.now())


def awaiting_validation(app: App, subject: str) -> tuple[int, EmailMessage]:
    """A ticket opened by mail and resolved: its id and the solution mail it was sent."""
    deliver(app, mail(subject, "No me deja entrar"))
    run_once(app)
    case_id = cases(app)[-1].id
    take_and_resolve(app, case_id)
    run_once(app)
    solution = next(m for m in outbox(app) if m["Subject"].startswith("Solución"))
    return case_id, solution


def cases(app: App) -> list[Case]:
    with app.db.sessions() as s:
        return list(s.scalars(select(Case).order_by(Case.id)))


def test_new_mail_opens_a_ticket_acknowledged_and_moved_to_cur(app: App) -> None:
    key = deliver(app, mail("No puedo entrar a BLife", "Me marca error de contraseña.\n\nAna"))
    report = run_once(app)
    assert report.ingest.counts == {"opened": 1}
    (case,) = cases(app)
    assert (case.process, case.state, case.requester) == ("MA-006", "pendiente_atencion", REQUESTER)
    assert case.data["descripcion"].startswith("Me marca error")
    inbox = app.config.mail.maildir / "inbox"
    assert not (inbox / "new" / key).exists()
    assert (inbox / "cur" / f"{key}:2,S").exists()
    (ack,) = [m for m in outbox(app) if m["To"] == REQUESTER]
    assert ack["Subject"] == "Re: Recibimos tu solicitud: No puedo entrar a BLife [MA-006 #1]"
    assert ack["In-Reply-To"] and ack["Auto-Submitted"] == "auto-replied"


def test_the_same_message_delivered_twice_is_one_case(app: App) -> None:
    raw = mail("Alta de usuario", "Necesito alta")
    deliver(app, raw, "uno")
    deliver(app, raw, "dos")
    report = run_once(app)
    assert report.ingest.counts == {"opened": 1, "duplicate": 1}
    assert len(cases(app)) == 1


def test_validation_reply_closes_and_not_solved_reopens(app: App) -> None:
    app_case, solution = awaiting_validation(app, "Sin acceso a Pro99")
    deliver(
        app,
        mail(
            f"RE: {solution['Subject']}",
            "Sigue sin funcionar, me marca error 403\n\nEl lun, 23 nov 2026 a las 9:00, Mesa "
            "<mesa.ayuda@example.com> escribió:\n> Ya quedó",
            in_reply_to=solution["Message-ID"],
        ),
    )
    run_once(app)
    assert cases(app)[0].state == "en_proceso"
    with app.db.transaction() as s:
        case = app.workflow.get_case(s, app_case)
        trig = app.workflow.trigger(command("resolver"), SPECIALIST, values={"solucion": "Otra"})
        app.workflow.handle(s, case, trig, app.clock.now())
    run_once(app)
    second = [m for m in outbox(app) if m["Subject"].startswith("Solución")][-1]
    # Threaded by In-Reply-To only: the subject lost its tag.
    deliver(app, mail("RE: gracias", "Sí, ya quedó, gracias!", in_reply_to=second["Message-ID"]))
    run_once(app)
    closed = cases(app)[0]
    assert closed.state == "cerrado"
    assert closed.data["motivo_cierre"] == "validado"


def test_an_unclear_validation_reply_becomes_a_task_with_the_text_quoted(app: App) -> None:
    from storage.models import Task

    case_id, solution = awaiting_validation(app, "Sin acceso a BLife")
    # Mixed: fixed, and a different problem now. The bot must not guess.
    reply = "Ya quedó lo de BLife, pero ahora no me abre Pro99"
    deliver(app, mail(f"RE: {solution['Subject']}", reply, in_reply_to=solution["Message-ID"]))
    run_once(app)
    assert cases(app)[0].state == "en_validacion"
    with app.db.sessions() as s:
        (task,) = s.scalars(select(Task).where(Task.case_id == case_id)).all()
    assert task.kind == "revisar_respuesta" and task.assignee == SPECIALIST
    assert f"> {reply}" in task.body
    notice = [m for m in outbox(app) if str(m["Subject"]).startswith(f"Tarea #{task.id}")]
    assert len(notice) == 1 and notice[0]["To"] == SPECIALIST
    # The specialist reads it and reopens: the task is done.
    with app.db.transaction() as s:
        case = app.workflow.get_case(s, case_id)
        app.workflow.handle(
            s, case, app.workflow.trigger(command("reabrir"), SPECIALIST), app.clock.now()
        )
    with app.db.sessions() as s:
        assert s.get_one(Task, task.id).status == "done"


def test_reply_to_a_closed_case_opens_a_new_linked_case(app: App) -> None:
    deliver(app, mail("Correo TuAgente", "No me llegan correos"))
    run_once(app)
    first = cases(app)[0]
    with app.db.transaction() as s:
        case = app.workflow.get_case(s, first.id)
        trig = app.workflow.trigger(command("cerrar"), SPECIALIST, values={"motivo": "Duplicado"})
        app.workflow.handle(s, case, trig, app.clock.now())
    deliver(app, mail(f"Re: Correo TuAgente [MA-006 #{first.id}]", "Otra vez no me llegan"))
    run_once(app)
    old, new = cases(app)
    assert old.state == "cerrado" and new.state == "pendiente_atencion"
    with app.db.sessions() as s:
        links = s.scalars(select(CaseLink)).all()
    assert [(k.case_id, k.other_id, k.relation) for k in links] == [
        (new.id, old.id, "seguimiento_de")
    ]
    # The new case keeps the problem's name, without the closed case's tag.
    assert new.subject == "Correo TuAgente"


def test_automatic_mail_is_recorded_and_never_answered(app: App) -> None:
    deliver(
        app,
        mail(
            "Respuesta automática: Fuera de la oficina",
            "Regreso el lunes",
            Auto_Submitted="auto-replied",
        ),
    )
    deliver(app, mail("Boletín", "Promociones", sender="news@example.org", Precedence="bulk"))
    report = run_once(app)
    assert report.ingest.counts == {"ignored": 2}
    assert cases(app) == []
    assert [m for m in outbox(app) if m["To"] in (REQUESTER, "news@example.org")] == []


def test_mail_looped_back_with_our_x_loop_is_never_answered(app: App) -> None:
    # A forwarding rule elsewhere sends our own acknowledgement back to us, From rewritten.
    deliver(app, mail("Re: Recibimos tu solicitud", "...", X_Loop=app.config.mail.address))
    report = run_once(app)
    assert report.ingest.counts == {"ignored": 1}
    assert cases(app) == []


def test_a_mail_over_the_size_limit_is_quarantined_and_the_team_told(app: App) -> None:
    limit = app.config.mail.max_message_mb * 1024 * 1024
    key = deliver(app, mail("Fotos del error", "x" * (limit + 10)))
    report = run_once(app)
    assert report.ingest.counts == {"quarantined": 1}
    assert (app.config.mail.maildir / "quarantine" / "new" / key).exists()
    assert cases(app) == []
    (alert,) = [m for m in outbox(app) if "cuarentena" in str(m["Subject"]).lower()]
    assert "MB" in alert.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_one_acknowledgement_per_sender_per_hour(app: App) -> None:
    deliver(app, mail("Primero", "uno"))
    deliver(app, mail("Segundo", "dos"))
    run_once(app)
    assert len(cases(app)) == 2
    acks = [m for m in outbox(app) if m["To"] == REQUESTER]
    assert len(acks) == 1
    with app.db.sessions() as s:
        suppressed = s.scalars(select(Event).where(Event.kind == "auto_mail_suppressed")).all()
    assert len(suppressed) == 1


def test_a_bounce_marks_the_outbox_row_and_alerts(app: App) -> None:
    deliver(app, mail("Alta", "Hola", sender="no.existe@example.net"))
    run_once(app)
    ack = next(m for m in outbox(app) if m["To"] == "no.existe@example.net")
    bounce = (
        "From: MAILER-DAEMON@example.com\r\n"
        "To: mesa.ayuda@example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce1@example.com>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nNo se pudo entregar.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        "Final-Recipient: rfc822; no.existe@example.net\r\nAction: failed\r\n"
        "Status: 5.1.1\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {ack['Message-ID']}\r\nSubject: {ack['Subject']}\r\n\r\n"
        "--B--\r\n"
    ).encode()
    deliver(app, bounce)
    report = run_once(app)
    assert report.ingest.counts == {"bounce": 1}
    with app.db.sessions() as s:
        row = s.scalars(select(Outbox).where(Outbox.message_id == ack["Message-ID"])).one()
        assert row.status == "bounced"
    alerts = [m for m in outbox(app) if "rebotado" in m["Subject"]]
    assert len(alerts) == len(app.config.people.specialists) or len(alerts) == 1
    assert "no.existe@example.net" in alerts[0].get_content()


def test_garbage_is_quarantined_and_the_team_told(app: App) -> None:
    deliver(app, b"", "vacio")
    deliver(app, mail("Bien", "Este sí"))
    report = run_once(app)
    assert report.ingest.counts == {"quarantined": 1, "opened": 1}
    assert (app.config.mail.maildir / "quarantine" / "new" / "vacio").exists()
    assert any("cuarentena" in m["Subject"] for m in outbox(app))


def test_a_quarantine_retried_after_a_crash_alerts_once(app: App) -> None:
    from bot.channels.base import InboundMessage

    # The first attempt committed its alert, then the process died before moving the file.
    inbound = InboundMessage(channel="mail", key="vacio", raw=b"")
    assert app.ingestor.one(inbound, app.clock.now()) == "quarantined"
    assert app.ingestor.one(inbound, app.clock.now()) == "quarantined"
    with app.db.sessions() as s:
        alerts = s.scalars(select(Outbox).where(Outbox.dedupe_key.is_not(None))).all()
        events = s.scalars(select(Event).where(Event.kind == "quarantined")).all()
    assert len(alerts) == 1 and len(events) == 1


def test_inbound_messages_are_stored_with_the_original(app: App) -> None:
    deliver(app, mail("Hola", "Texto nuevo\n\nEnviado desde mi iPhone"))
    run_once(app)
    with app.db.sessions() as s:
        message = s.scalars(select(Message).where(Message.direction == "in")).one()
        assert message.raw_sha256 and app.archive.exists(message.raw_sha256)
        assert message.detail["clean"] == "Texto nuevo"
        assert "Enviado desde mi iPhone" in message.body


def test_a_failing_message_in_a_batch_is_quarantined_alone(app: App) -> None:
    from bot.handlers.pipeline import PIPELINE, Ingest, Ingestor, PipelineEnv

    def explode(ing: Ingest, env: PipelineEnv, s: object) -> None:
        if ing.parsed is not None and ing.parsed.subject == "Revienta":
            raise RuntimeError("fallo a la mitad")

    # After the message and its case were written, so the savepoint has work to undo.
    steps = (*PIPELINE, explode)
    app.ingestor = Ingestor(app.db, app.workflow, app.archive, steps=steps)
    keys = [deliver(app, mail(subject, "Texto")) for subject in ("Uno", "Revienta", "Tres")]
    report = run_once(app)
    assert report.ingest.counts == {"opened": 2, "quarantined": 1}
    assert sorted(c.subject for c in cases(app)) == ["Tres", "Uno"]
    with app.db.sessions() as s:
        stored = s.scalars(select(Message.subject).where(Message.direction == "in")).all()
        events = s.scalars(select(Event).where(Event.kind == "quarantined")).all()
    assert sorted(stored) == ["Tres", "Uno"]
    assert len(events) == 1 and "fallo a la mitad" in events[0].detail["reason"]
    maildir = app.config.mail.maildir
    assert (maildir / "quarantine" / "new" / keys[1]).exists()
    assert not (maildir / "inbox" / "new").exists() or not any(
        (maildir / "inbox" / "new").iterdir()
    )


def test_a_database_failure_leaves_the_batch_unread(app: App) -> None:
    from sqlalchemy.exc import OperationalError

    from bot.handlers.pipeline import PIPELINE, Ingest, Ingestor, PipelineEnv

    def locked(ing: Ingest, env: PipelineEnv, s: object) -> None:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    app.ingestor = Ingestor(app.db, app.workflow, app.archive, steps=(*PIPELINE[:1], locked))
    keys = [deliver(app, mail(subject, "Texto")) for subject in ("Uno", "Dos")]
    try:
        app.ingestor.run(app.mail, app.clock.now())
    except OperationalError:
        pass
    else:
        raise AssertionError("the database's failure must not pass for the message's")
    new = app.config.mail.maildir / "inbox" / "new"
    assert sorted(p.name for p in new.iterdir()) == sorted(keys)  # nothing read, nothing lost
    with app.db.sessions() as s:
        assert not s.scalars(select(Event).where(Event.kind == "quarantined")).all()
    assert cases(app) == []


def test_batches_respect_the_count_and_size_limits(app: App) -> None:
    from bot.channels.base import InboundMessage
    from bot.handlers.pipeline import Ingestor

    ingestor = Ingestor(app.db, app.workflow, app.archive, batch_messages=3, batch_bytes=100)
    sizes = [10, 10, 10, 10, 95, 200, 10]
    messages = [InboundMessage("mail", str(n), b"x" * size) for n, size in enumerate(sizes)]
    batches = [[m.key for m in batch] for batch in ingestor._batches(messages)]
    assert batches == [["0", "1", "2"], ["3"], ["4"], ["5"], ["6"]]


def test_a_reply_read_for_its_intent_carries_its_entities_into_the_audit_trail(
    app: App,
) -> None:
    case_id, solution = awaiting_validation(app, "Sin acceso a Pro99")
    reply = message_from_bytes(
        mail(
            f"RE: {solution['Subject']}",
            "Sigue sin funcionar, DSN 4581236. Mañana estoy en oficina con Sofía Ramírez.",
            in_reply_to=solution["Message-ID"],
        ),
        policy=policy.default,
    )
    # Written on Sunday night: "mañana" is Monday the 23rd, counted from the mail's date.
    reply.replace_header("Date", format_datetime(mx(2026, 11, 22, 20, 0)))
    deliver(app, reply.as_bytes())
    run_once(app)
    assert cases(app)[0].state == "en_proceso"
    expected = {
        "dates": ["2026-11-23"],
        "dsn": ["4581236"],
        "people": [SPECIALIST],
    }
    with app.db.sessions() as s:
        message = s.scalars(
            select(Message).where(Message.direction == "in").order_by(Message.id.desc())
        ).first()
        assert message is not None
        assert message.detail["intent"] == "NOT_SOLVED"
        assert message.detail["entities"] == expected
        reopened = s.scalars(
            select(Event).where((Event.case_id == case_id) & (Event.to_state == "en_proceso"))
        ).all()[-1]
    assert reopened.detail["entities"] == expected


def test_a_date_header_far_from_the_clock_is_not_the_reference() -> None:
    from zoneinfo import ZoneInfo

    from bot.channels.base import InboundMessage
    from bot.handlers.parse import parse_mail
    from bot.handlers.pipeline import Ingest, _reference_time

    now = mx(2026, 11, 23, 9, 0)
    tz = ZoneInfo("America/Mexico_City")
    for sent, expected in (
        (mx(2026, 11, 22, 20, 0), mx(2026, 11, 22, 20, 0)),  # last night: its own date
        (mx(2025, 1, 1, 9, 0), now),  # a sender's clock a year behind
        (mx(2026, 12, 25, 9, 0), now),  # or a month ahead
    ):
        msg = message_from_bytes(mail("Hola", "Texto"), policy=policy.default)
        msg.replace_header("Date", format_datetime(sent))
        ing = Ingest(InboundMessage("mail", "k", msg.as_bytes()), now)
        ing.parsed = parse_mail(ing.inbound.raw, frozenset())
        assert _reference_time(ing, tz) == expected.replace(tzinfo=None)


def test_each_message_keeps_the_verdict_on_its_sender(app: App) -> None:
    from bot.channels.base import InboundMessage

    now = app.clock.now()
    raw = mail("Carta firmada", "Adjunto la carta", sender="director@example.com")
    app.ingestor.one(InboundMessage("mail", "a", raw, authenticated=True), now)
    forged = mail(
        "Carta firmada",
        "Adjunto la carta",
        sender="director@example.com",
        Authentication_Results="mx.example.com; dmarc=pass header.from=example.com",
    )
    app.ingestor.one(InboundMessage("mail", "b", forged), now)
    with app.db.sessions() as s:
        first, second = s.scalars(
            select(Message).where(Message.direction == "in").order_by(Message.id)
        ).all()
    assert first.detail["authenticated"]["ok"] is True
    # No server is trusted in the shipped configuration: the header proves nothing.
    assert second.detail["authenticated"] == {
        "ok": False,
        "reason": "no hay servidores de confianza (trusted_authserv_ids)",
    }
