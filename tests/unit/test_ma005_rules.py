"""MA-005 on the pure engine: claims, the opening and its deadline, decisions, the countdown."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.calendar import BusinessCalendar
from bot.handlers.entities import find_deadline
from bot.rules import PROCESSES
from bot.rules.dsl import CaseView, NewMail, On, Trigger, command, event, timer
from bot.rules.effects import (
    CompleteTasks,
    CreateTask,
    KeepDocument,
    RunJob,
    SendChat,
    SendMail,
)
from bot.rules.engine import Decision, Rejected, step
from bot.rules.ma005_recert import (
    PROCESS,
    agrees_with_everything,
    claims,
    consolidate,
    counts,
    hid_key,
    parse_decisions,
    respond_by,
    send_at_for,
)

MX = ZoneInfo("America/Mexico_City")
CAL = BusinessCalendar()
ROOT = Path(__file__).resolve().parents[2]

METLIFE = "recertificacion@metlife.example.com"
DIRECTOR = "director.general@example.com"
COMMERCIAL = "comercial@example.com"
OPERATIONS = "operaciones@example.com"
SPECIALIST = "sofia.ramirez@example.com"
STRANGER = "alguien@promotoria-norte.mx"
ROLES = {
    METLIFE: frozenset({"metlife_recert"}),
    DIRECTOR: frozenset({"director"}),
    COMMERCIAL: frozenset({"commercial"}),
    OPERATIONS: frozenset({"operations"}),
    SPECIALIST: frozenset({"specialist"}),
    STRANGER: frozenset(),
}
SHA = "a" * 64
DEADLINE_TEXT = (
    "Buen día. Adjunto el archivo de recertificación anual de usuarios. Les pedimos "
    "devolverlo validado con la carta responsiva firmada a más tardar el viernes 11 de "
    "diciembre.\n\nSaludos,\nMónica González\nMetLife México"
)
COUNTDOWN = ("cuenta_regresiva", "limite_envio")


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """An instant of 2026 in Mexico City."""
    return datetime(2026, month, day, hour, minute, tzinfo=MX)


MON = at(11, 23, 9)  # Monday 23 November 2026, 09:00


def user(hid: str, nombre: str, app: str, pegasus: str = "", propuesta: str = "") -> dict[str, Any]:
    """A user of MetLife's file as the case keeps it (after the validation when given)."""
    found: dict[str, Any] = {
        "hid": hid,
        "clave": hid_key(hid),
        "nombre": nombre,
        "aplicacion": app,
        "hoja": app,
        "fila": 5,
        "estatus_metlife": "Activo",
    }
    if pegasus:
        found.update(pegasus=pegasus, evidencia="CAM Pegasus", propuesta=propuesta)
    return found


# HIDs 12345 and 111 are active in CAM Pegasus; 00777 and 333 are removed; 222 is unknown.
USERS = [
    user("12345", "José Luis Hernández García", "B'Life", "Activo", "Activo"),
    user("00777", "María Fernanda López Cruz", "B'Life", "Baja", "Baja"),
    user("333", "Raúl Peña Muñoz", "B'Life", "Baja", "Baja"),
    user("111", "Inés Núñez Ordóñez", "Pro99", "Activo", "Activo"),
    user("222", "Ángel Chávez Vázquez", "Pro99", "Sin información", "Baja"),
]
KEYS = {u["clave"] for u in USERS}
FILE = {
    "estado": "ok",
    "archivo": "Recertificacion_2026.xlsx",
    "sha": SHA,
    "usuarios": [user(u["hid"], u["nombre"], u["aplicacion"]) for u in USERS],
    "hojas": [{"name": "BLife", "header_row": 4}],
    "aplicaciones": ["B'Life", "Pro99"],
    "problemas": [],
    "informe": "El archivo «Recertificacion_2026.xlsx» trae 5 usuario(s) de B'Life, Pro99.",
}
BASE = {
    "fecha_limite": "2026-12-11",
    "fecha_limite_estimada": False,
    "envio_programado": at(12, 9, 8).isoformat(),
    "aplicaciones": ["B'Life", "Pro99"],
    "usuarios": USERS,
}


def case(state: str, **data: Any) -> CaseView:
    """MetLife's recertification (being opened when state is "")."""
    held = {} if not state else {**BASE, **data}
    return CaseView(5, "MA-005", state, "Recertificación anual", METLIFE, None, held)


def mail(
    sender: str, text: str = "", *, authenticated: bool = True, on: On | None = None, **facts: Any
) -> Trigger:
    """What the pipeline hands the engine for an inbound mail."""
    return Trigger(
        on or event("mensaje"),
        sender,
        ROLES[sender],
        text=text,
        message_id=f"<{len(text)}@{sender.partition('@')[2]}>",
        facts=facts,
        authenticated=authenticated,
    )


def cmd(name: str, **values: str) -> Trigger:
    """A specialist's command."""
    return Trigger(command(name), SPECIALIST, ROLES[SPECIALIST], values)


def decide(view: CaseView, trigger: Trigger, now: datetime = MON) -> Decision:
    """Step the engine expecting a decision; every template it names exists."""
    result = step(PROCESS, view, trigger, now, CAL)
    assert isinstance(result, Decision), result
    for eff in result.effects:
        if isinstance(eff, SendMail):
            assert (ROOT / "templates" / "email" / f"{eff.template}.txt.j2").is_file()
        if isinstance(eff, SendChat):
            assert (ROOT / "templates" / "chat" / f"{eff.template}.txt.j2").is_file()
    return result


def reject(view: CaseView, trigger: Trigger, now: datetime = MON) -> Rejected:
    """Step the engine expecting a refusal."""
    result = step(PROCESS, view, trigger, now, CAL)
    assert isinstance(result, Rejected), result
    return result


def mails(d: Decision) -> list[SendMail]:
    """The mails a decision sends."""
    return [e for e in d.effects if isinstance(e, SendMail)]


def only(d: Decision, kind: type[Any]) -> Any:
    """The single effect of a kind."""
    (found,) = [e for e in d.effects if isinstance(e, kind)]
    return found


def armed(d: Decision, kind: str) -> list[datetime]:
    """The instants a decision arms timers of a kind at."""
    return [a.due_at for a in d.arm if a.kind == kind]


# --- the definition ---------------------------------------------------------------------


def test_registered_first_with_every_template_it_names() -> None:
    assert PROCESSES[0] is PROCESS
    assert PROCESS.case_timers == COUNTDOWN
    assert PROCESS.waiting_states() == {
        "validacion_areas": "Comercial y Operaciones",
        "esperando_firma": "el director",
        "enviado": "MetLife",
    }
    source = (ROOT / "bot" / "rules" / "ma005_recert.py").read_text(encoding="utf-8")
    names = set(re.findall(r'"(MA-005/[a-z_]+)"', source))
    assert {"MA-005/alerta_recepcion", "MA-005/cuenta_regresiva", "MA-005/no_llega"} <= names
    for name in names:
        kinds = ("chat", "email", "tasks")
        assert any((ROOT / "templates" / k / f"{name}.txt.j2").is_file() for k in kinds), name


# --- claiming new mail ------------------------------------------------------------------


def new_mail(sender: str, subject: str, body: str = "", *files: str) -> NewMail:
    """A new mail as the pipeline shows it to the processes."""
    return NewMail(subject, body, sender, files, ROLES.get(sender, frozenset()))


@pytest.mark.parametrize(
    "found",
    [
        new_mail(METLIFE, "Archivo anual 2026", "Adjunto.", "Usuarios_MetLife.xlsx"),
        new_mail(METLIFE, "Recertificación anual de usuarios", "Va el enlace."),
        new_mail(METLIFE, "Usuarios 2026", "Favor de recertificar a los usuarios."),
        new_mail(STRANGER, "Archivo", "Les reenvío.", "recertificacion.xlsx"),
        new_mail(STRANGER, "Recertificación de usuarios 2026", "Adjunto.", "usuarios.xlsx"),
    ],
    ids=["metlife-file", "metlife-subject", "metlife-body", "named-file", "stranger-subject"],
)
def test_recertification_mail_is_claimed(found: NewMail) -> None:
    assert claims(found)
    assert next(p for p in PROCESSES if p.claims is not None and p.claims(found)) is PROCESS


@pytest.mark.parametrize(
    "found",
    [
        new_mail(STRANGER, "Alta de usuarios", "Adjunto el formato.", "Solicitud alta.xlsx"),
        new_mail(STRANGER, "Recertificación de usuarios", "¿Cuándo empieza este año?"),
        new_mail(METLIFE, "Factura de noviembre", "Les compartimos la factura."),
        new_mail(METLIFE, "Convenio", "Adjunto el convenio firmado.", "convenio.pdf"),
    ],
    ids=["stranger-alta", "stranger-words-no-file", "metlife-other", "metlife-pdf"],
)
def test_other_mail_is_not_claimed(found: NewMail) -> None:
    assert not claims(found)


def test_a_strangers_alta_with_an_excel_goes_to_ma001() -> None:
    found = new_mail(STRANGER, "Alta de usuarios", "Adjunto el formato.", "Solicitud alta.xlsx")
    assert next(p.code for p in PROCESSES if p.claims is not None and p.claims(found)) == "MA-001"


# --- the opening (pasos 1-4) ------------------------------------------------------------


def test_metlifes_authenticated_file_opens_alerts_acknowledges_and_validates() -> None:
    d = decide(case(""), mail(METLIFE, DEADLINE_TEXT, on=event("abrir"), recertificacion=FILE))
    assert (d.to_state, d.then) == ("recibido", "validar")
    assert d.steps == tuple(f"MA-005 paso {n}" for n in (1, 2, 3, 4))
    assert d.data["fecha_limite"] == "2026-12-11"
    assert d.data["fecha_limite_estimada"] is False
    assert d.data["envio_programado"] == at(12, 9, 8).isoformat()
    assert d.data["aplicaciones"] == ["B'Life", "Pro99"]
    assert [u["clave"] for u in d.data["usuarios"]] == ["12345", "777", "333", "111", "222"]
    assert d.data["archivo"] == {"archivo": "Recertificacion_2026.xlsx", "sha": SHA}
    assert d.detail == {"fecha_limite": "2026-12-11", "estimada": False}
    # Every countdown moment is ahead: 7, 5, 3, 2 and 1 business days before Friday 11.
    assert d.cancel_kinds == COUNTDOWN
    assert [(a.kind, a.due_at, a.scope) for a in d.arm] == [
        ("cuenta_regresiva", at(12, 2, 8), "case"),
        ("cuenta_regresiva", at(12, 4, 8), "case"),
        ("cuenta_regresiva", at(12, 8, 8), "case"),
        ("cuenta_regresiva", at(12, 9, 8), "case"),
        ("cuenta_regresiva", at(12, 10, 8), "case"),
        ("limite_envio", at(12, 9, 8), "case"),
    ]
    keep, alert, chat, ack = d.effects
    assert keep == KeepDocument("original", SHA)
    assert (alert.to, alert.cc, alert.template) == (
        ("@specialists",),
        ("@supervisor",),
        "MA-005/alerta_recepcion",
    )
    assert alert.priority and alert.immediate and alert.auto == "auto-generated"
    assert alert.context == {
        "fecha_limite": "11 de diciembre de 2026",
        "estimada": False,
        "aplicaciones": ["B'Life", "Pro99"],
        "usuarios": 5,
        "archivo_ok": True,
        "informe": FILE["informe"],
        "envio": "9 de diciembre de 2026",
    }
    assert isinstance(chat, SendChat)
    assert chat.to == ("@specialists", "@supervisor") and chat.immediate
    assert (ack.to, ack.template, ack.auto) == (("@requester",), "MA-005/acuse", "auto-replied")
    assert ack.reply and ack.immediate and not ack.priority


@pytest.mark.parametrize(
    ("now", "alerts", "limit"),
    [
        (at(12, 8, 10), [at(12, 9, 8), at(12, 10, 8)], [at(12, 9, 8)]),
        (at(12, 9, 10), [at(12, 10, 8)], []),
    ],
    ids=["3-days-left", "after-the-send-moment"],
)
def test_a_late_opening_arms_only_the_moments_ahead_and_tells_the_director(
    now: datetime, alerts: list[datetime], limit: list[datetime]
) -> None:
    d = decide(case(""), mail(METLIFE, DEADLINE_TEXT, on=event("abrir"), recertificacion=FILE), now)
    assert d.data["fecha_limite"] == "2026-12-11"
    assert armed(d, "cuenta_regresiva") == alerts
    assert armed(d, "limite_envio") == limit
    alert = next(m for m in mails(d) if m.template == "MA-005/alerta_recepcion")
    assert alert.cc == ("@supervisor", "@director")
    assert only(d, SendChat).to == ("@specialists", "@supervisor", "@director")


def test_without_a_deadline_two_weeks_are_assumed_and_flagged() -> None:
    text = "Adjunto el archivo de recertificación de usuarios."
    d = decide(case(""), mail(METLIFE, text, on=event("abrir"), recertificacion=FILE))
    assert d.data["fecha_limite"] == "2026-12-07"
    assert d.data["fecha_limite_estimada"] is True
    # Monday 7 December: the package leaves two business days before, Thursday 3.
    assert d.data["envio_programado"] == at(12, 3, 8).isoformat()
    assert d.detail == {"fecha_limite": "2026-12-07", "estimada": True}
    alert = next(m for m in mails(d) if m.template == "MA-005/alerta_recepcion")
    assert alert.context["estimada"] is True and alert.cc == ("@supervisor",)
    assert armed(d, "limite_envio") == [at(12, 3, 8)]


def test_an_unreadable_file_opens_the_case_and_asks_metlife_for_it_again() -> None:
    broken = {"estado": "ilegible", "archivo": "r.xlsx", "sha": SHA, "informe": "tiene macros"}
    d = decide(case(""), mail(METLIFE, DEADLINE_TEXT, on=event("abrir"), recertificacion=broken))
    assert (d.to_state, d.then) == ("recibido", None)
    assert "usuarios" not in d.data and not any(isinstance(e, KeepDocument) for e in d.effects)
    ack = next(m for m in mails(d) if m.to == ("@requester",))
    assert ack.template == "MA-005/archivo_ilegible" and ack.context["informe"] == "tiene macros"
    assert armed(d, "limite_envio") == [at(12, 9, 8)]


def test_a_file_too_big_to_receive_is_named_in_the_answer() -> None:
    skipped = [
        "«Recertificacion_2026.xlsx» pesa 31.5 MB y el máximo que podemos recibir es de 25 MB"
    ]
    trigger = mail(
        METLIFE,
        DEADLINE_TEXT,
        on=event("abrir"),
        recertificacion={"estado": "ausente"},
        omitidos=skipped,
    )
    d = decide(case(""), trigger)
    ack = next(m for m in mails(d) if m.to == ("@requester",))
    assert ack.template == "MA-005/archivo_ilegible"
    assert "25 MB" in str(ack.context)


def test_an_unauthenticated_file_waits_for_verification_without_answering_the_sender() -> None:
    trigger = mail(
        METLIFE, DEADLINE_TEXT, on=event("abrir"), authenticated=False, recertificacion=FILE
    )
    d = decide(case(""), trigger)
    assert (d.to_state, d.then) == ("por_verificar", None)
    assert not any(m.to == ("@requester",) or METLIFE in m.to for m in mails(d))
    keep, alert, chat = d.effects
    assert keep == KeepDocument("original", SHA)
    assert (alert.to, alert.cc, alert.template) == (
        ("@specialists",),
        ("@supervisor",),
        "MA-005/no_verificado",
    )
    assert alert.context == {"remitente": METLIFE, "autenticado": False, "archivo_ok": True}
    assert isinstance(chat, SendChat)
    assert d.data["remitente_original"] == METLIFE and len(d.data["usuarios"]) == 5
    assert d.arm == () and "fecha_limite" not in d.data


def test_a_deadline_confirmed_before_the_verification_survives_it() -> None:
    held = {
        "descripcion": "Adjunto el archivo de recertificación.",
        "remitente_original": METLIFE,
        "usuarios": FILE["usuarios"],
        "aplicaciones": FILE["aplicaciones"],
        "archivo": {"archivo": FILE["archivo"], "sha": SHA},
    }
    unverified = CaseView(5, "MA-005", "por_verificar", "Recertificación", METLIFE, None, held)
    confirmed = decide(unverified, cmd("fecha_limite", fecha="2026-12-18"))
    assert confirmed.data["fecha_limite"] == "2026-12-18"
    held = {**held, **confirmed.data}
    d = decide(replace(unverified, data=held), cmd("verificar"), at(11, 23, 10))
    assert d.to_state == "recibido"
    assert (d.data["fecha_limite"], d.data["fecha_limite_estimada"]) == ("2026-12-18", False)


def test_a_teams_conversion_opens_in_recibido_without_an_acknowledgement() -> None:
    trigger = Trigger(
        event("abrir"), SPECIALIST, ROLES[SPECIALIST], text="MetLife pide recertificar Pro99"
    )
    d = decide(case(""), trigger)
    assert (d.to_state, d.then) == ("recibido", None)
    assert [m.template for m in mails(d)] == ["MA-005/alerta_recepcion"]
    assert d.data["aplicaciones"] == ["Pro99"]
    assert d.data["fecha_limite_estimada"] is True


def test_a_strangers_authenticated_file_still_waits_for_verification() -> None:
    trigger = mail(STRANGER, DEADLINE_TEXT, on=event("abrir"), recertificacion=FILE)
    assert decide(case(""), trigger).to_state == "por_verificar"


# --- the deadline in MetLife's words ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fecha límite: 05/12/2026", date(2026, 12, 5)),
        ("Favor de enviarlo a más tardar el viernes 5 de diciembre.", date(2026, 12, 5)),
        ("Lo necesitamos antes del 4 de diciembre, gracias.", date(2026, 12, 4)),
        (
            "El archivo tiene corte al 30 de noviembre. Fecha límite: 11 de diciembre.",
            date(2026, 12, 11),
        ),
        ("El corte fue el 30 de noviembre; la junta es el 11 de diciembre.", None),
        ("Adjunto el archivo, lo revisamos el 11 de diciembre.", date(2026, 12, 11)),
        (
            "Les pedimos devolverlo a más tardar el 11 de diciembre.\n\nEnviado desde mi iPhone",
            date(2026, 12, 11),
        ),
        ("Adjunto el archivo.\n\nEnviado desde mi iPhone", None),
        ("Adjunto el archivo de recertificación.", None),
    ],
    ids=[
        "numeric",
        "a-mas-tardar",
        "antes-del",
        "cue-wins",
        "two-dates-no-cue",
        "only-date",
        "iphone-with-date",
        "iphone-alone",
        "none",
    ],
)
def test_find_deadline(text: str, expected: date | None) -> None:
    assert find_deadline(text, datetime(2026, 11, 23, 9, 0)) == expected


# --- decisions in free text -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12345 baja", {"12345": "Baja"}),
        ("Bajas: 111, 222", {"111": "Baja", "222": "Baja"}),
        ("Bajas:\n111\n222\n\n333", {"111": "Baja", "222": "Baja"}),
        ("Se mantienen activos:\n12345\n00111\n\n333", {"12345": "Activo", "111": "Activo"}),
        ("El HID 00777 sigue activo", {"777": "Activo"}),
        ("reactivar 333", {"333": "Reactivar"}),
        ("99999 baja\n12345 baja", {"12345": "Baja"}),
        ("Bajas: 111, 222\n333 activo", {"111": "Baja", "222": "Baja", "333": "Activo"}),
        ("Buen día, lo revisamos.\n12345", {}),
    ],
    ids=[
        "line",
        "heading-same-line",
        "heading-then-lines",
        "blank-line-ends",
        "sigue-activo",
        "reactivar",
        "unknown-hid",
        "line-beats-heading",
        "no-word",
    ],
)
def test_parse_decisions(text: str, expected: dict[str, str]) -> None:
    assert parse_decisions(text, KEYS) == expected


@pytest.mark.parametrize(
    "text",
    [
        "De acuerdo, sin cambios.",
        "Sin observaciones",
        "Todo está correcto",
        "Confirmamos las bajas propuestas",
        "Adelante",
        "Estamos conformes con la propuesta",
        "Validado por Operaciones",
    ],
)
def test_agreement_with_the_whole_proposal(text: str) -> None:
    assert agrees_with_everything(text)


@pytest.mark.parametrize(
    "text",
    ["Revisaremos el archivo y les respondemos", "Tenemos dudas con el 12345", "Hola", ""],
)
def test_not_an_agreement(text: str) -> None:
    assert not agrees_with_everything(text)


@pytest.mark.parametrize(
    "text",
    [
        "No estoy de acuerdo",
        "No estamos de acuerdo con las bajas",
        "No procede, hay que revisarlo",
        "No autorizo las bajas propuestas",
    ],
)
def test_a_negated_agreement_is_not_an_agreement(text: str) -> None:
    assert not agrees_with_everything(text)


@pytest.mark.parametrize(
    "text", ["El 12345 no se da de baja, sigue activo.", "12345 mantener (no dar de baja)"]
)
def test_a_negated_baja_keeps_the_user(text: str) -> None:
    assert parse_decisions(text, KEYS) == {"12345": "Activo"}


# --- consolidation (pasos 13-17) --------------------------------------------------------


def area(general: str = "", **rows: str) -> dict[str, Any]:
    """An area's recorded answer: decisions by HID key, and its general reply."""
    return {"filas": {k.lstrip("h"): {"decision": v} for k, v in rows.items()}, "general": general}


def test_nobody_answered_the_proposal_stands() -> None:
    final, pending = consolidate(USERS, {}, {})
    assert final == {
        "12345": "Activo",
        "777": "Baja",
        "333": "Baja",
        "111": "Activo",
        "222": "Baja",
    }
    assert pending == []
    bare = [{"clave": "9", "propuesta": ""}]
    assert consolidate(bare, {}, {}) == ({"9": "Baja"}, [])


def test_the_directors_decision_wins_over_both_areas() -> None:
    answers = {"comercial": area(h12345="Activo"), "operaciones": area(h12345="Baja")}
    decisions = {"12345": {"estatus": "Baja", "por": DIRECTOR}}
    final, pending = consolidate(USERS, answers, decisions)
    assert final["12345"] == "Baja" and pending == []


def test_a_named_decision_beats_a_blanket_agreement_and_reactivar_keeps_the_user() -> None:
    answers = {
        "comercial": area(h12345="Baja", h333="Reactivar"),
        "operaciones": area("Confirmar"),
    }
    final, pending = consolidate(USERS, answers, {})
    assert (final["12345"], final["333"], final["777"]) == ("Baja", "Activo", "Baja")
    assert pending == []


def test_areas_naming_different_statuses_make_a_discrepancy() -> None:
    answers = {"comercial": area(h12345="Baja"), "operaciones": area(h12345="Mantener")}
    final, pending = consolidate(USERS, answers, {})
    assert "12345" not in final and len(final) == 4
    assert pending == [
        {
            "clave": "12345",
            "hid": "12345",
            "nombre": "José Luis Hernández García",
            "aplicacion": "B'Life",
            "pegasus": "Activo",
            "propuesta": "Activo",
            "comercial": "Baja",
            "operaciones": "Activo",
        }
    ]
    # An area confirming the proposal by name against one reactivating is a discrepancy too.
    answers = {"comercial": area(h333="Confirmar"), "operaciones": area(h333="Reactivar")}
    assert [p["clave"] for p in consolidate(USERS, answers, {})[1]] == ["333"]


def test_counts_per_application() -> None:
    final, _ = consolidate(USERS, {"comercial": area(h333="Reactivar")}, {})
    assert counts(USERS, final) == {
        "B'Life": {"Activo": 2, "Baja": 1},
        "Pro99": {"Activo": 1, "Baja": 1},
    }
    loose = [{"clave": "1", "aplicacion": ""}, {"clave": "2", "aplicacion": "Pro99"}]
    assert counts(loose, {"1": "Activo", "2": "Pendiente"}) == {
        "Sin aplicación": {"Activo": 1, "Baja": 0}
    }


# --- the validation with the areas (pasos 8-14) -------------------------------------------


def validated() -> dict[str, Any]:
    """The validation job's result."""
    return {
        "estado": "ok",
        "usuarios": USERS,
        "sha": SHA,
        "resumen": {"Activo": 2, "Baja": 2, "Sin información": 1},
    }


def test_the_specialists_authenticated_manual_statuses_run_the_validation_again() -> None:
    sheet = {"estado": "ok", "respuestas": {}, "pegasus": {"12345": "Activo", "777": "Raro"}}
    d = decide(case("validando"), mail(SPECIALIST, "Va lleno.", respuestas_recert=sheet))
    assert d.effects == (RunJob("validacion_pegasus"),)
    assert d.data == {"pegasus_manual": {"12345": "Activo"}}
    assert d.detail == {"estatus_capturados": 1}


@pytest.mark.parametrize(
    ("state", "facts"),
    [
        ("validando", {"respuestas_recert": {"estado": "ok", "pegasus": {"12345": "Baja"}}}),
        ("recibido", {"recertificacion": FILE}),
    ],
    ids=["manual-statuses", "file"],
)
def test_an_unauthenticated_team_address_moves_nothing(state: str, facts: dict[str, Any]) -> None:
    d = decide(case(state), mail(SPECIALIST, "Va el archivo.", authenticated=False, **facts))
    assert not any(isinstance(e, RunJob | KeepDocument) for e in d.effects)
    assert (d.data, d.then) == ({}, None)


def test_the_validated_file_goes_to_both_areas_with_their_window() -> None:
    trigger = Trigger(event("validacion_pegasus"), facts={"validacion_pegasus": validated()})
    d = decide(case("validando"), trigger)
    assert d.to_state == "validacion_areas"
    keep, done, out = d.effects
    assert keep == KeepDocument("validacion", SHA)
    assert done == CompleteTasks("validacion_manual")
    assert (out.to, out.cc, out.attachments) == (
        ("@commercial", "@operations"),
        ("@specialists",),
        ("doc:validacion",),
    )
    assert out.priority and out.context["fecha_respuesta"] == "26 de noviembre de 2026"
    # Three business days; the reminder one business day before.
    assert [(a.kind, a.due_at, a.scope) for a in d.arm] == [
        ("cierre_areas", at(11, 26, 9), "state"),
        ("recordatorio_areas", at(11, 25, 9), "state"),
    ]
    assert d.data["respuestas"] == {} and d.data["areas_hasta"] == at(11, 26, 9).isoformat()


def test_a_validation_error_alerts_and_offers_a_retry() -> None:
    facts = {"validacion_pegasus": {"estado": "error", "motivo": "falló la consulta roster"}}
    d = decide(case("validando"), Trigger(event("validacion_pegasus"), facts=facts))
    assert d.to_state == "validando"
    (alert,) = d.effects
    assert (alert.template, alert.to, alert.cc) == (
        "MA-005/falla",
        ("@specialists",),
        ("@supervisor",),
    )
    assert alert.context == {"motivo": "falló la consulta roster", "trabajo": "validacion_pegasus"}
    assert decide(case("validando"), cmd("reintentar")).effects == (RunJob("validacion_pegasus"),)


def test_one_area_answers_and_the_case_waits_for_the_other() -> None:
    d = decide(case("validacion_areas", respuestas={}), mail(COMMERCIAL, "De acuerdo, sin cambios"))
    assert (d.to_state, d.then) == ("validacion_areas", None)
    answer = d.data["respuestas"]["comercial"]
    assert (answer["por"], answer["general"], answer["filas"]) == (COMMERCIAL, "Confirmar", {})
    (ack,) = d.effects
    assert (ack.to, ack.template, ack.reply) == ((COMMERCIAL,), "MA-005/respuesta_recibida", True)
    assert ack.context["area"] == "Comercial"


def test_both_areas_answered_the_case_consolidates() -> None:
    first = {"comercial": {**area("Confirmar"), "por": COMMERCIAL}}
    view = case("validacion_areas", respuestas=first)
    d = decide(view, mail(OPERATIONS, "Buen día.\n12345 baja\nEl resto de acuerdo."))
    assert (d.to_state, d.then) == ("consolidando", "consolidar")
    assert d.detail == {"area": "operaciones", "filas": 1, "general": "Confirmar"}
    rows = d.data["respuestas"]["operaciones"]["filas"]
    assert rows == {"12345": {"decision": "Baja", "comentario": "", "origen": "correo"}}
    assert d.data["respuestas"]["comercial"]["por"] == COMMERCIAL


def test_an_areas_excel_answer_is_read_row_by_row() -> None:
    sheet = {
        "estado": "ok",
        "archivo": "validacion.xlsx",
        "respuestas": {
            "333": {"decision": "Reactivar", "comentario": "Sigue en funciones", "fila": 4},
            "111": {"decision": "", "comentario": "", "fila": 5},
        },
        "problemas": [],
    }
    d = decide(
        case("validacion_areas", respuestas={}),
        mail(COMMERCIAL, "Adjunto el archivo.", respuestas_recert=sheet),
    )
    assert d.to_state == "validacion_areas"
    answer = d.data["respuestas"]["comercial"]
    assert answer["filas"] == {
        "333": {
            "decision": "Reactivar",
            "comentario": "Sigue en funciones",
            "fila": 4,
            "origen": "excel",
        }
    }
    assert answer["archivo"] == "validacion.xlsx"


def test_an_unauthenticated_areas_answer_changes_nothing_and_alerts() -> None:
    view = case("validacion_areas", respuestas={})
    d = decide(view, mail(COMMERCIAL, "12345 baja", authenticated=False))
    assert (d.to_state, d.data, d.then) == ("validacion_areas", {}, None)
    (alert,) = d.effects
    assert (alert.template, alert.to, alert.cc) == (
        "MA-005/no_autenticado",
        ("@specialists",),
        ("@supervisor",),
    )
    assert alert.context == {"remitente": COMMERCIAL, "autenticado": False}


def test_an_area_without_decisions_and_a_stranger_reach_the_assignee() -> None:
    view = case("validacion_areas", respuestas={})
    d = decide(view, mail(OPERATIONS, "Lo revisamos el jueves."))
    assert (d.data, [m.template for m in mails(d)]) == ({}, ["MA-005/mensaje_area"])
    d = decide(view, mail(STRANGER, "12345 baja, de acuerdo"))
    (note,) = d.effects
    assert (note.to, note.template, d.data) == (("@assignee",), "MA-005/nuevo_mensaje", {})
    assert note.context == {"texto": "12345 baja, de acuerdo", "remitente": STRANGER}


def test_the_areas_window_closes_on_cam_pegasus_naming_the_silent_area() -> None:
    view = case("validacion_areas", respuestas={"comercial": area("Confirmar")})
    d = decide(view, Trigger(timer("cierre_areas")), at(11, 26, 9))
    assert (d.to_state, d.then) == ("consolidando", "consolidar")
    assert d.detail == {"sin_respuesta": ["Operaciones"]}
    d = decide(case("validacion_areas", respuestas={}), Trigger(timer("cierre_areas")))
    assert d.detail == {"sin_respuesta": ["Comercial", "Operaciones"]}


def test_the_reminder_goes_only_to_the_silent_area() -> None:
    view = case(
        "validacion_areas",
        respuestas={"operaciones": area("Confirmar")},
        areas_hasta=at(11, 26, 9).isoformat(),
    )
    (reminder,) = decide(view, Trigger(timer("recordatorio_areas")), at(11, 25, 9)).effects
    assert (reminder.to, reminder.attachments) == (("@commercial",), ("doc:validacion",))
    both = {"comercial": area("Confirmar"), "operaciones": area("Confirmar")}
    quiet = decide(case("validacion_areas", respuestas=both), Trigger(timer("recordatorio_areas")))
    assert quiet.effects == ()


@pytest.mark.parametrize(
    ("deadline", "until"),
    [
        (date(2026, 12, 11), at(11, 26, 9)),  # three business days
        (date(2026, 12, 1), at(11, 26, 8)),  # a business day before the send (Fri 27)
        (date(2026, 11, 26), at(11, 23, 13)),  # sending Tuesday: still four business hours
    ],
    ids=["window", "capped-by-send", "floor"],
)
def test_respond_by(deadline: date, until: datetime) -> None:
    assert respond_by(MON, CAL, PROCESS.settings, deadline) == until


def test_send_moment() -> None:
    assert send_at_for(CAL, date(2026, 12, 11)) == at(12, 9, 8)
    # Monday 23 November: two business days back skips the weekend (Thursday 19).
    assert send_at_for(CAL, date(2026, 11, 23)) == at(11, 19, 8)


# --- consolidating and the director (pasos 15-17) -----------------------------------------

DISAGREE = {"comercial": area(h12345="Baja"), "operaciones": area(h12345="Activo")}


def test_discrepancies_go_to_the_director() -> None:
    d = decide(case("consolidando", respuestas=DISAGREE), Trigger(event("consolidar")))
    (done, ask) = d.effects
    assert done == CompleteTasks("validacion_manual")
    assert (ask.to, ask.cc, ask.template, ask.attachments) == (
        ("@director",),
        ("@specialists",),
        "MA-005/discrepancias",
        ("doc:validacion",),
    )
    assert ask.context["total"] == 1 and ask.priority
    assert [p["clave"] for p in d.data["discrepancias"]] == ["12345"]
    assert d.data["discrepancias_desde"] == MON.isoformat()


def test_without_discrepancies_the_package_is_built() -> None:
    d = decide(case("consolidando", respuestas={}), Trigger(event("consolidar")))
    assert d.effects == (CompleteTasks("validacion_manual"), RunJob("paquete"))
    assert d.data == {"discrepancias": []}


def test_the_directors_agreement_settles_every_discrepancy_with_the_proposal() -> None:
    view = case("consolidando", respuestas=DISAGREE)
    d = decide(view, mail(DIRECTOR, "De acuerdo con la propuesta."))
    assert d.to_state == "consolidando"
    decided = d.data["decisiones"]["12345"]
    assert (decided["estatus"], decided["por"], decided["origen"]) == (
        "Activo",
        DIRECTOR,
        "director",
    )
    assert d.data["discrepancias"] == []
    run, ack = d.effects
    assert run == RunJob("paquete")
    assert (ack.to, ack.template) == ((DIRECTOR,), "MA-005/decision_recibida")
    assert ack.context == {"decididas": 1, "pendientes": 0}


def test_the_directors_named_decision_wins() -> None:
    view = case("consolidando", respuestas=DISAGREE)
    d = decide(view, mail(DIRECTOR, "El 12345 baja, ya no labora."))
    assert d.data["decisiones"]["12345"]["estatus"] == "Baja"
    assert RunJob("paquete") in d.effects


def test_the_directors_disagreement_does_not_build_the_package() -> None:
    view = case("consolidando", respuestas=DISAGREE)
    d = decide(view, mail(DIRECTOR, "No estoy de acuerdo, revisemos el caso en persona."))
    assert not any(isinstance(e, RunJob) for e in d.effects)
    assert "decisiones" not in d.data


def test_an_unauthenticated_directors_decision_does_nothing() -> None:
    view = case("consolidando", respuestas=DISAGREE)
    d = decide(view, mail(DIRECTOR, "De acuerdo. 12345 baja", authenticated=False))
    assert (d.to_state, d.data) == ("consolidando", {})
    assert [m.template for m in mails(d)] == ["MA-005/nuevo_mensaje"]
    assert not any(isinstance(e, RunJob) for e in d.effects)


def test_a_specialist_records_the_directors_decision() -> None:
    view = case("consolidando", respuestas=DISAGREE)
    d = decide(view, cmd("decidir", **{"12345": "Baja"}))
    decided = d.data["decisiones"]["12345"]
    assert (decided["estatus"], decided["por"], decided["origen"]) == (
        "Baja",
        SPECIALIST,
        "especialista",
    )
    assert d.effects == (RunJob("paquete"),)
    refused = reject(view, cmd("decidir", **{"12345": "Tal vez"}))
    assert refused.code == "guard"
    unknown = reject(view, cmd("decidir", **{"99999": "Baja"}))
    assert unknown.code == "guard"


def test_a_decision_on_one_of_two_discrepancies_waits_for_the_other() -> None:
    answers = {
        "comercial": area(h12345="Baja", h111="Baja"),
        "operaciones": area(h12345="Activo", h111="Activo"),
    }
    d = decide(case("consolidando", respuestas=answers), cmd("decidir", **{"111": "Activo"}))
    assert d.effects == ()
    assert [p["clave"] for p in d.data["discrepancias"]] == ["12345"]


# --- the countdown ------------------------------------------------------------------------


def test_five_days_before_the_team_hears_it_without_the_director() -> None:
    view = case("validacion_areas", respuestas={})
    d = decide(view, Trigger(timer("cuenta_regresiva")), at(12, 4, 8))
    alert, chat = d.effects
    assert (alert.to, alert.cc, alert.template) == (
        ("@specialists",),
        (),
        "MA-005/cuenta_regresiva",
    )
    assert alert.priority and chat.to == ("@specialists",)
    assert alert.context["dias"] == 5
    assert alert.context["falta"] == ["la respuesta de Comercial y Operaciones"]
    assert d.data == {"ultimo_aviso": 5}


def test_three_days_before_the_supervisor_and_the_director_hear_it() -> None:
    view = case("esperando_firma", ultimo_aviso=5)
    d = decide(view, Trigger(timer("cuenta_regresiva")), at(12, 8, 8))
    alert, chat = d.effects
    assert alert.cc == ("@supervisor", "@director")
    assert chat.to == ("@specialists", "@supervisor", "@director")
    assert alert.context["dias"] == 3
    assert alert.context["falta"] == ["la carta responsiva firmada por el director"]
    assert d.data == {"ultimo_aviso": 3}


def test_the_same_countdown_alert_is_not_repeated() -> None:
    view = case("esperando_firma", ultimo_aviso=3)
    d = decide(view, Trigger(timer("cuenta_regresiva")), at(12, 8, 9))
    assert (d.effects, d.data) == ((), {})
    assert d.detail == {"dias": 3, "repetido": True}


def test_the_send_moment_without_a_package_escalates_and_asks_again_tomorrow() -> None:
    view = case("validacion_areas", respuestas={"comercial": area("Confirmar")})
    d = decide(view, Trigger(timer("limite_envio")), at(12, 9, 8))
    mail_out, chat = d.effects
    assert (mail_out.to, mail_out.cc, mail_out.template) == (
        ("@supervisor", "@director"),
        ("@specialists",),
        "MA-005/no_llega",
    )
    assert mail_out.context["falta"] == ["la respuesta de Operaciones"]
    assert mail_out.context["dias"] == 2
    assert chat.to == ("@specialists", "@supervisor", "@director")
    assert [(a.kind, a.due_at, a.scope) for a in d.arm] == [("limite_envio", at(12, 10, 8), "case")]
    assert d.detail == {"escalado": "fecha_limite", "falta": ["la respuesta de Operaciones"]}


def test_the_send_moment_with_the_package_ready_does_nothing() -> None:
    d = decide(case("listo_para_envio"), Trigger(timer("limite_envio")), at(12, 9, 8))
    assert (d.to_state, d.effects, d.arm, d.data) == ("listo_para_envio", (), (), {})


def test_after_sending_the_countdown_is_over() -> None:
    refused = reject(case("enviado"), Trigger(timer("cuenta_regresiva")), at(12, 10, 8))
    assert refused.code == "no_transition"


# --- MetLife's answer (pasos 25-26) -------------------------------------------------------


def test_metlifes_confirmation_without_observations_confirms() -> None:
    text = "Confirmamos de recibido, sin observaciones. Gracias."
    d = decide(case("enviado"), mail(METLIFE, text), at(12, 9, 15))
    assert d.to_state == "confirmado"
    assert d.cancel_kinds == ("limite_envio",)
    run, note = d.effects
    assert run == RunJob("expediente")
    assert (note.to, note.template) == (("@specialists",), "MA-005/confirmado")


def test_metlifes_inconsistency_opens_a_correction_task() -> None:
    text = "Buen día, hay una inconsistencia en el HID 123: aparece activo sin acceso."
    trigger = Trigger(
        event("mensaje"),
        METLIFE,
        ROLES[METLIFE],
        text=text,
        attachments=(SHA,),
        message_id="<x@metlife.example.com>",
        authenticated=True,
    )
    d = decide(case("enviado"), trigger, at(12, 9, 11))
    assert d.to_state == "inconsistencias"
    alert, chat, task = d.effects
    assert (alert.template, alert.to, alert.cc) == (
        "MA-005/inconsistencias",
        ("@specialists",),
        ("@supervisor",),
    )
    assert alert.priority and isinstance(chat, SendChat)
    assert isinstance(task, CreateTask)
    assert (task.kind, task.action, task.attachments) == ("inconsistencias", "corregir", (SHA,))
    assert task.context == {"texto": text, "remitente": METLIFE}
    assert d.data["rondas_inconsistencias"] == 1
    assert d.data["inconsistencias"][0]["por"] == METLIFE


def test_an_inconsistency_before_the_deadline_brings_the_countdown_back() -> None:
    text = "Hay una inconsistencia en el HID 123."
    d = decide(case("enviado"), mail(METLIFE, text), at(12, 9, 11))
    assert d.to_state == "inconsistencias"
    assert armed(d, "cuenta_regresiva") == [at(12, 10, 8)]


@pytest.mark.parametrize(
    "text",
    [
        "Buen día, no hemos recibido el archivo final, ¿nos lo pueden reenviar?",
        "¿Nos pueden confirmar si ya lo enviaron?",
    ],
    ids=["not-received", "question"],
)
def test_metlife_saying_it_did_not_receive_does_not_confirm(text: str) -> None:
    d = decide(case("enviado"), mail(METLIFE, text), at(12, 9, 15))
    assert d.to_state == "enviado"


def test_metlife_saying_there_is_no_inconsistency_confirms() -> None:
    text = "Recibido. Todo correcto, no hay ninguna inconsistencia."
    assert decide(case("enviado"), mail(METLIFE, text), at(12, 9, 15)).to_state == "confirmado"


def test_an_unauthenticated_inconsistency_only_reaches_the_assignee() -> None:
    text = "Hay una inconsistencia en el HID 123."
    d = decide(case("enviado"), mail(METLIFE, text, authenticated=False), at(12, 9, 11))
    assert (d.to_state, d.data) == ("enviado", {})
    (note,) = d.effects
    assert (note.to, note.template) == (("@assignee",), "MA-005/nuevo_mensaje")


# --- the deadline set by hand (paso 3) ----------------------------------------------------


def test_a_new_deadline_rearms_the_countdown() -> None:
    view = case("validacion_areas", respuestas={}, fecha_limite_estimada=True)
    d = decide(view, cmd("fecha_limite", fecha="2026-12-18"))
    assert d.to_state == "validacion_areas"
    assert d.cancel_kinds == COUNTDOWN
    assert armed(d, "cuenta_regresiva") == [
        at(12, 9, 8),
        at(12, 11, 8),
        at(12, 15, 8),
        at(12, 16, 8),
        at(12, 17, 8),
    ]
    assert armed(d, "limite_envio") == [at(12, 16, 8)]
    assert d.data == {
        "fecha_limite": "2026-12-18",
        "fecha_limite_estimada": False,
        "envio_programado": at(12, 16, 8).isoformat(),
    }


def test_a_new_deadline_in_words_is_understood() -> None:
    d = decide(case("validacion_areas"), cmd("fecha_limite", fecha="18 de diciembre"))
    assert d.data["fecha_limite"] == "2026-12-18"


def test_a_new_deadline_when_ready_moves_the_send() -> None:
    d = decide(case("listo_para_envio"), cmd("fecha_limite", fecha="2026-12-18"))
    assert "envio" in d.cancel_kinds
    assert ("envio", at(12, 16, 8), "state") in [(a.kind, a.due_at, a.scope) for a in d.arm]


@pytest.mark.parametrize("given", ["2026-11-20", "pronto", "31/02/2026"])
def test_a_past_or_unreadable_deadline_is_refused(given: str) -> None:
    refused = reject(case("validacion_areas"), cmd("fecha_limite", fecha=given))
    assert refused.code == "guard"
    assert "hoy o después" in refused.reason
