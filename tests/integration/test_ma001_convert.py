"""A ticket that turns out to be an alta: `convertir --set proceso=MA-001` carries it over."""

from __future__ import annotations

import io
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from openpyxl import Workbook
from sqlalchemy import select
from stdnum.mx import rfc as stdnum_rfc

from bot.app import App, run_once
from bot.rules.dsl import command
from bot.rules.engine import Rejected
from storage.models import Case, CaseLink
from tests.conftest import mx
from tests.integration.test_mail_pipeline import deliver, outbox

REQUESTER = "ana.perez@example.com"
SPECIALIST = "sofia.ramirez@example.com"
RFC = "GORE850315H1" + stdnum_rfc.calc_check_digit("GORE850315H1")


def form_bytes() -> bytes:
    """A one-user request form."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Nombre completo", "RFC", "Correo", "Zona", "Paquete"])
    sheet.append(["Elena Gómez Ruiz", RFC, "elena.gomez@example.com", "CDMX", 2])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def ticket_mail() -> bytes:
    """A vague mail no process claims, with the form attached under a neutral name."""
    msg = EmailMessage()
    msg["From"] = REQUESTER
    msg["To"] = "mesa.ayuda@example.com"
    msg["Subject"] = "Apoyo con Elena"
    msg["Date"] = format_datetime(mx(2026, 11, 23, 9, 0))
    msg["Message-ID"] = make_msgid(domain="example.com")
    msg.set_content("Hola, ¿me ayudan con lo de Elena? Va el archivo.")
    msg.add_attachment(
        form_bytes(), maintype="application", subtype="octet-stream", filename="datos.xlsx"
    )
    return msg.as_bytes()


def convert(app: App, case_id: int, process: str) -> object:
    """The specialist's `convertir` command."""
    with app.db.transaction() as s:
        case = app.workflow.get_case(s, case_id)
        trigger = app.workflow.trigger(
            command("convertir"), SPECIALIST, values={"proceso": process}
        )
        return app.workflow.handle(s, case, trigger, app.clock.now())


def test_a_ticket_becomes_an_alta_with_the_form_it_already_had(app: App) -> None:
    deliver(app, ticket_mail())
    run_once(app)
    with app.db.sessions() as s:
        (ticket,) = s.scalars(select(Case)).all()
        assert ticket.process == "MA-006"
    sent_before = len(outbox(app))

    assert isinstance(convert(app, ticket.id, "MA-002"), Rejected)  # not a convertible process
    convert(app, ticket.id, "ma-001")
    run_once(app)

    with app.db.sessions() as s:
        old = s.get_one(Case, ticket.id)
        (alta,) = s.scalars(select(Case).where(Case.process == "MA-001")).all()
        link = s.scalars(select(CaseLink).where(CaseLink.case_id == alta.id)).one()
        assert old.state == "cerrado" and old.data["convertido_en"] == f"MA-001 #{alta.id}"
        assert (link.other_id, link.relation) == (ticket.id, "convertido_de")
        assert alta.state == "esperando_firma" and alta.requester == REQUESTER
        assert alta.data["usuarios"][0]["rfc"] == RFC
    new = outbox(app)[sent_before:]
    to_requester = [m for m in new if m["To"] == REQUESTER]
    assert len(to_requester) == 1 and f"[MA-001 #{alta.id}]" in to_requester[0]["Subject"]
    assert any(m["To"] == "director.general@example.com" for m in new)
