"""MA-001's claim on new mail: requests for administrative users, not agents or tickets."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.calendar import BusinessCalendar
from bot.rules.dsl import CaseView, NewMail, Trigger, event
from bot.rules.engine import Decision, step
from bot.rules.ma001_accounts import PROCESS, claims

SENDER = "lucia.mendez@promotoria-costera.mx"


def mail(subject: str, body: str = "", *attachments: str) -> NewMail:
    """A new mail from a promotoría."""
    return NewMail(subject=subject, body=body, sender=SENDER, attachments=attachments)


@pytest.mark.parametrize(
    "new",
    [
        mail("Alta de usuario MET"),
        mail("Solicito dar de baja a una asistente"),
        mail("", "", "Formato alta usuarios.xlsx"),
        mail("Solicitud", "Buen día, favor de dar de alta a dos administrativos."),
        mail("BAJA DE USUARIOS", "Ya no laboran con nosotros."),
        mail("Solicitud de accesos", "Altas y bajas del mes en el archivo.", "solicitud.xlsm"),
        mail("Usuarios nuevos para la promotoría (alta)"),
        mail("Pendiente", "Adjunto el formato.", "usuarios alta.csv"),
    ],
    ids=lambda m: m.subject or m.attachments[0],
)
def test_requests_for_administrative_users_are_claimed(new: NewMail) -> None:
    assert claims(new)


@pytest.mark.parametrize(
    "new",
    [
        mail("No puedo entrar a BLife", "Me marca usuario o contraseña incorrectos."),
        mail("Alta de agente nuevo", "Solicito el alta del agente Juan Pérez."),
        mail("Baja de agentes", "Adjunto la lista.", "bajas usuarios.xlsx"),
        mail("Respuesta automática: fuera de la oficina", "Regreso el lunes."),
        mail("Reporte de producción", "Adjunto el reporte.", "produccion octubre.xlsx"),
        mail("Formato", "Adjunto la carta.", "alta usuarios.pdf"),
        mail("Cambio de domicilio de la promotoría"),
        # A lock-out is a problem to solve, not a request for a baja.
        mail("No puedo entrar a BLife", "Mi cuenta aparece dada de baja desde ayer."),
        mail("Alta de usuario", "Es para el agente Juan Pérez, clave 12345."),
    ],
    ids=lambda m: m.subject,
)
def test_other_mail_is_left_to_other_processes(new: NewMail) -> None:
    assert not claims(new)


# --- matching signed custodias to users ---------------------------------------------------

USERS = [
    {"nombre": "Elena Gómez", "rfc": "RFC-A", "correo": "elena@promotoria.mx"},
    {"nombre": "Raúl Sánchez", "rfc": "RFC-B", "correo": "raul@promotoria.mx"},
]
REQUESTER = "lucia@promotoria.mx"


def custody_step(sender: str, files: int, received: dict[str, str] | None = None) -> Decision:
    """A mail with `files` acceptable scans arriving in esperando_custodia."""
    case = CaseView(
        id=1,
        process="MA-001",
        state="esperando_custodia",
        subject="Alta",
        requester=REQUESTER,
        assignee=None,
        data={"usuarios": USERS, "custodias": received or {}},
    )
    scans = [{"sha": f"sha{n}", "archivo": f"scan{n}.jpg", "ok": True} for n in range(files)]
    trigger = Trigger(on=event("mensaje"), actor=sender, facts={"firmados": scans})
    now = datetime(2026, 12, 10, 12, 0, tzinfo=ZoneInfo("America/Mexico_City"))
    result = step(PROCESS, case, trigger, now, BusinessCalendar())
    assert isinstance(result, Decision)
    return result


def test_a_user_signs_only_for_themselves_however_many_photos() -> None:
    decision = custody_step("elena@promotoria.mx", files=2)
    assert decision.to_state == "esperando_custodia"
    assert decision.data["custodias"] == {"RFC-A": "sha0"}


def test_the_requester_may_send_every_custodia_at_once() -> None:
    decision = custody_step(REQUESTER, files=2)
    assert decision.to_state == "archivo_fisico"
    assert decision.data["custodias"] == {"RFC-A": "sha0", "RFC-B": "sha1"}


def test_the_last_missing_custodia_completes_the_set() -> None:
    decision = custody_step("raul@promotoria.mx", files=1, received={"RFC-A": "sha9"})
    assert decision.to_state == "archivo_fisico"
    assert decision.data["custodias"] == {"RFC-A": "sha9", "RFC-B": "sha0"}
