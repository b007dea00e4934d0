"""MA-005 end to end through the command line: MetLife's mail to cerrado over the calendar.

MetLife's file arrives in the Maildir inbox, `mesabot run --once --now T` moves the case
across business days, the areas, the director and MetLife answer by mail, CAM Pegasus is a
real SQLite database behind the sql adapter, and every mail, file and state is checked.
Two stories: both areas answer (with a discrepancy the director settles) and MetLife
reports an inconsistency once; and nobody answers, so the countdown escalates.
"""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import openpyxl

from tests.e2e import test_ma001_cli as ma001
from tests.e2e.test_cli import as_json, body_of, mesabot, ok
from tests.e2e.test_cli import to_person as _to_person
from tests.e2e.test_ma001_cli import attachments, run
from tests.ma001_data import pdf
from tests.ma002_data import SCHEMA as PEGASUS_SCHEMA
from tests.ma002_data import sql_pegasus_config
from tests.recert_data import MetlifeRow, answer_file, metlife_file, metlife_rows

METLIFE = "recertificacion@metlife.example.com"
DIRECTOR = "director.general@example.com"
COMMERCIAL = "comercial@example.com"
OPERATIONS = "operaciones@example.com"
SUPERVISOR = "patricia.morales@example.com"
SPECIALIST = "sofia.ramirez@example.com"
USERS = 30
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- the world around the bot -------------------------------------------------------------


def digits(hid: str) -> str:
    """An HID as the matching key reads it (the file may show leading zeros)."""
    text = "".join(hid.split()).lstrip("'")
    return text.lstrip("0") or "0" if text.isdigit() else text


def setup_folder(tmp: Path, rows: list[MetlifeRow]) -> Path:
    """The shipped config trusting our MTA; CAM Pegasus on SQLite with MetLife's users.

    Most users are Activo by HID; user 3 is Baja, user 5 is missing, user 7 is still in
    «Solicitado», and user 9 has no HID in CAM Pegasus (found by name).
    """
    tmp.mkdir(parents=True, exist_ok=True)
    pegasus = tmp / "pegasus.db"
    con = sqlite3.connect(pegasus)
    con.executescript(PEGASUS_SCHEMA)
    for index, row in enumerate(rows):
        if index == 5:
            continue
        status = {3: "Baja", 7: "Solicitado"}.get(index, "Activo")
        hid = "" if index == 9 else digits(row.hid)
        con.execute(
            "INSERT INTO pegasus_usuarios (nombre, rfc, correo, estatus, tipo, hid) "
            "VALUES (?, '', ?, ?, 'administrativo', ?)",
            (row.nombre, f"u{index}@example.com", status, hid),
        )
    con.commit()
    con.close()
    (tmp / "config.toml").write_text(sql_pegasus_config(pegasus), encoding="utf-8")
    return pegasus


def deliver(tmp: Path, sender: str, subject: str, body: str, **kwargs: Any) -> None:
    """Drop a mail into the inbox as the MTA would; authenticated unless said otherwise."""
    kwargs.setdefault("authenticated", True)
    ma001.deliver(tmp, sender, subject, body, **kwargs)


def case(tmp: Path, case_id: int = 1) -> dict[str, Any]:
    """`mesabot case ID --json`."""
    detail: dict[str, Any] = as_json(mesabot(tmp, "case", str(case_id), "--json"))
    return detail


def act(tmp: Path, when: str, action: str, *args: str) -> str:
    """A specialist's command on case 1; its printed line."""
    return ok(mesabot(tmp, "case", "1", action, *args, "--by", SPECIALIST, now=when)).stdout


def to_person(messages: dict[str, EmailMessage], email: str) -> list[EmailMessage]:
    """Messages of a batch to one person, the daily digest aside."""
    return [m for m in _to_person(messages, email) if "Resumen diario" not in m["Subject"]]


def one(messages: dict[str, EmailMessage], email: str, words: str = "") -> EmailMessage:
    """The only message of a batch to one person (whose subject has these words)."""
    found = [m for m in to_person(messages, email) if words in str(m["Subject"])]
    assert len(found) == 1, [m["Subject"] for m in to_person(messages, email)]
    return found[0]


def xlsx_of(msg: EmailMessage) -> bytes:
    """The one spreadsheet a message carries."""
    [content] = [c for n, c in attachments(msg).items() if n.endswith(".xlsx")]
    return content


def final_column(content: bytes) -> dict[str, str]:
    """HID key -> the final status MetLife's own file now shows, over every sheet."""
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    found: dict[str, str] = {}
    for sheet in workbook.worksheets:
        header = None
        for row in sheet.iter_rows():
            values = [str(c.value or "").strip() for c in row]
            if header is None:
                if "Estatus final" in values:
                    header = values
                continue
            hid = row[0].value
            status = row[header.index("Estatus final")].value
            if hid is not None and status:
                found[digits(str(hid))] = str(status)
    return found


def states(detail: dict[str, Any]) -> list[str]:
    """The states the case went through, in order."""
    return [e["to_state"] for e in detail["events"] if e["from_state"] != e["to_state"]]


def steps(detail: dict[str, Any]) -> set[str]:
    """Every seed step the history names."""
    return {s for e in detail["events"] for s in e["steps"]}


# --- the stories --------------------------------------------------------------------------


def test_recertification_with_answers_discrepancy_and_an_inconsistency_round(
    tmp_path: Path,
) -> None:
    tmp = tmp_path / "recert"
    rows = metlife_rows(USERS, seed=5)
    setup_folder(tmp, rows)
    original = metlife_file(USERS, seed=5)
    key = [digits(r.hid) for r in rows]

    # Monday 23 Nov 2026, 09:00: MetLife's authenticated mail with the file and a deadline.
    deliver(
        tmp,
        METLIFE,
        "Recertificación anual de usuarios 2026 - B'Life, Pro99 y Gestión Móvil",
        "Buen día. Adjunto el archivo de recertificación anual de usuarios. Les pedimos "
        "devolverlo validado con la carta responsiva firmada a más tardar el viernes 11 de "
        "diciembre.\n\nSaludos,\nMónica González\nMetLife México",
        when="2026-11-23T09:00",
        files=(("Recertificacion_2026.xlsx", XLSX, original),),
    )
    sent = run(tmp, "2026-11-23T09:00")
    detail = case(tmp)
    assert (detail["process"], detail["state"]) == ("MA-005", "validacion_areas")
    assert states(detail) == ["recibido", "validando", "validacion_areas"]
    data = detail["data"]
    assert data["fecha_limite"] == "2026-12-11" and data["fecha_limite_estimada"] is False
    assert data["envio_programado"].startswith("2026-12-09T08:00")
    assert set(data["aplicaciones"]) >= {"B'Life", "Pro99"}
    assert len(data["usuarios"]) == USERS
    by_key = {u["clave"]: u for u in data["usuarios"]}
    assert by_key[key[0]]["pegasus"] == "Activo" and by_key[key[0]]["propuesta"] == "Activo"
    assert by_key[key[3]]["pegasus"] == "Baja" and by_key[key[3]]["propuesta"] == "Baja"
    assert by_key[key[5]]["pegasus"] == "Sin información"
    assert "ningún registro" in by_key[key[5]]["evidencia"]
    assert by_key[key[7]]["pegasus"] == "Sin información"
    assert "Solicitado" in by_key[key[7]]["evidencia"]
    assert by_key[key[9]]["pegasus"] == "Activo" and "nombre" in by_key[key[9]]["evidencia"]
    for n in range(1, 13):
        assert f"MA-005 paso {n}" in steps(detail)
    # The alert: high priority, at once, to every specialist with the supervisor copied.
    alert = one(sent, SPECIALIST, "URGENTE")
    assert alert["Importance"] == "high" and alert["X-Priority"].startswith("1")
    assert SUPERVISOR in str(alert["Cc"]) and "11 de diciembre de 2026" in body_of(alert)
    ack = one(sent, METLIFE)
    assert "[MA-005 #1]" in ack["Subject"] and ack["Auto-Submitted"] == "auto-replied"
    areas = one(sent, COMMERCIAL)
    assert OPERATIONS in str(areas["To"]) and "Confirmar las bajas propuestas" in body_of(areas)
    enriched = xlsx_of(areas)
    sheet = openpyxl.load_workbook(io.BytesIO(enriched))["Validación"]
    assert sheet.max_row == USERS + 1
    timers = {t["kind"] for t in detail["timers"]}
    assert {"cuenta_regresiva", "limite_envio", "cierre_areas", "recordatorio_areas"} <= timers

    # Tuesday: Comercial answers on the file: user 1 baja, user 3 (baja in CAM Pegasus)
    # must be reactivated, user 2 baja.
    answered = answer_file(enriched, {rows[1].hid: "Baja", rows[3].hid: "Reactivar"})
    deliver(
        tmp,
        COMMERCIAL,
        f"RE: {areas['Subject']}",
        "Adjuntamos el archivo con nuestra validación.",
        when="2026-11-24T10:00",
        reply_to=areas,
        files=(("validacion_comercial.xlsx", XLSX, answered),),
    )
    sent = run(tmp, "2026-11-24T10:00")
    assert case(tmp)["state"] == "validacion_areas"
    assert "Comercial" in one(sent, COMMERCIAL)["Subject"]

    # Wednesday: Operaciones answers by mail: user 1 stays active (Comercial said baja).
    deliver(
        tmp,
        OPERATIONS,
        f"RE: {areas['Subject']}",
        f"Buen día.\nEl HID {rows[1].hid} sigue activo, está en funciones.\n"
        "El resto, de acuerdo con la propuesta.",
        when="2026-11-25T10:00",
        reply_to=areas,
    )
    sent = run(tmp, "2026-11-25T10:00")
    detail = case(tmp)
    assert detail["state"] == "consolidando"
    answers = detail["data"]["respuestas"]
    assert answers["comercial"]["por"] == COMMERCIAL
    assert answers["comercial"]["filas"][key[1]]["decision"] == "Baja"
    assert answers["operaciones"]["filas"][key[1]]["decision"] == "Activo"
    [pending] = detail["data"]["discrepancias"]
    assert pending["clave"] == key[1]
    ask = one(sent, DIRECTOR)
    assert "discrepancia" in ask["Subject"] and rows[1].nombre in body_of(ask)

    # The director decides: user 1 is removed.
    deliver(
        tmp,
        DIRECTOR,
        f"RE: {ask['Subject']}",
        f"{rows[1].hid} baja",
        when="2026-11-25T12:00",
        reply_to=ask,
    )
    sent = run(tmp, "2026-11-25T12:00")
    detail = case(tmp)
    assert detail["state"] == "esperando_firma"
    decided = detail["data"]["decisiones"][key[1]]
    assert (decided["estatus"], decided["por"]) == ("Baja", DIRECTOR)
    package = one(sent, DIRECTOR, "firma")
    files = attachments(package)
    assert any(n.startswith("carta_responsiva") and n.endswith(".docx") for n in files)
    final = final_column(xlsx_of(package))
    assert len(final) == USERS
    # Pegasus' Activo stays; Baja, missing and in-process users go; the areas' word counts.
    assert final[key[0]] == "Activo" and final[key[5]] == "Baja" and final[key[7]] == "Baja"
    assert final[key[1]] == "Baja" and final[key[3]] == "Activo"
    totals = detail["data"]["totales"]
    assert totals["total"] == USERS
    assert totals["activos"] == sum(1 for s in final.values() if s == "Activo")
    assert f"Total de usuarios: {USERS}" in body_of(package)

    # Thursday: the director signs (authenticated PDF); the send waits for 9 December.
    deliver(
        tmp,
        DIRECTOR,
        f"RE: {package['Subject']}",
        "Adjunto la carta firmada.",
        when="2026-11-26T09:00",
        reply_to=package,
        files=(("carta_firmada.pdf", "application/pdf", pdf("firmada 1")),),
    )
    sent = run(tmp, "2026-11-26T09:00")
    detail = case(tmp)
    assert detail["state"] == "listo_para_envio"
    assert "carta_firmada" in detail["data"]["documentos"]
    assert not to_person(sent, METLIFE)

    # Wednesday 2 Dec, 08:00: seven business days left; the team hears it is ready.
    sent = run(tmp, "2026-12-02T08:00")
    countdown = one(sent, SPECIALIST, "7 día(s)")
    assert "listo" in body_of(countdown) and DIRECTOR not in str(countdown["Cc"] or "")

    # Wednesday 9 Dec, 08:00: two business days before the deadline the package leaves.
    sent = run(tmp, "2026-12-09T08:00")
    detail = case(tmp)
    assert detail["state"] == "enviado"
    package_out = one(sent, METLIFE)
    names = set(attachments(package_out))
    assert "carta_firmada.pdf" in names and any(n.endswith("_certificado.xlsx") for n in names)
    assert "MA-005 paso 24" in steps(detail)
    assert not {t["kind"] for t in detail["timers"]} & {"cuenta_regresiva", "limite_envio"}

    # MetLife reports an inconsistency; the team is alerted and given a task.
    deliver(
        tmp,
        METLIFE,
        f"RE: {package_out['Subject']}",
        f"Detectamos una inconsistencia: el HID {rows[3].hid} aparece como activo pero "
        "no tiene acceso vigente. Favor de corregir.",
        when="2026-12-09T11:00",
        reply_to=package_out,
    )
    sent = run(tmp, "2026-12-09T11:00")
    detail = case(tmp)
    assert detail["state"] == "inconsistencias"
    assert "HID" in body_of(one(sent, SPECIALIST, "URGENTE: MetLife reporta"))
    assert "Tarea" in one(sent, SPECIALIST, "Corregir")["Subject"]
    assert any(t["status"] == "open" for t in detail["tasks"])

    # The specialist corrects user 3; a new package goes to the director for signature.
    act(tmp, "2026-12-09T12:00", "corregir", "--set", f"{rows[3].hid}=Baja")
    sent = run(tmp, "2026-12-09T12:00")
    detail = case(tmp)
    assert detail["state"] == "esperando_firma"
    again = one(sent, DIRECTOR, "firma")
    assert final_column(xlsx_of(again))[key[3]] == "Baja"

    # Signed again: the send moment has passed, so it leaves at once.
    deliver(
        tmp,
        DIRECTOR,
        f"RE: {again['Subject']}",
        "Firmada.",
        when="2026-12-09T13:00",
        reply_to=again,
        files=(("carta_firmada_2.pdf", "application/pdf", pdf("firmada 2")),),
    )
    sent = run(tmp, "2026-12-09T13:00")
    assert case(tmp)["state"] == "enviado"
    resent = one(sent, METLIFE)
    assert "carta_firmada_2.pdf" in attachments(resent)

    # MetLife confirms; the evidence pack is built and the case closes.
    deliver(
        tmp,
        METLIFE,
        f"RE: {resent['Subject']}",
        "Confirmamos de recibido, sin observaciones. Gracias.",
        when="2026-12-09T15:00",
        reply_to=resent,
    )
    sent = run(tmp, "2026-12-09T15:00")
    detail = case(tmp)
    assert detail["state"] == "cerrado"
    assert states(detail)[-3:] == ["enviado", "confirmado", "cerrado"]
    for n in range(1, 28):
        assert f"MA-005 paso {n}" in steps(detail), n
    closing = one(sent, SPECIALIST, "concluida")
    [(name, pack)] = [(n, c) for n, c in attachments(closing).items() if n.endswith(".zip")]
    assert name == "expediente_MA-005-1.zip"
    with zipfile.ZipFile(io.BytesIO(pack)) as z:
        listed = z.namelist()
        history = json.loads(z.read("historial.json"))
    assert history["state"] == "confirmado" and history["process"] == "MA-005"
    assert any(n.startswith("archivos/Recertificacion_2026") for n in listed)
    assert any(n.startswith("archivos/carta_firmada") for n in listed)
    mails = [n for n in listed if n.startswith("correos/")]
    assert any("_recibido_" in n for n in mails) and any("_enviado_" in n for n in mails)


def test_no_answer_unverified_start_and_a_late_signature(tmp_path: Path) -> None:
    tmp = tmp_path / "silence"
    rows = metlife_rows(12, seed=9)
    setup_folder(tmp, rows)
    original = metlife_file(12, seed=9)

    # Friday 20 Nov, 10:00: the file comes from MetLife's address without authentication.
    deliver(
        tmp,
        METLIFE,
        "Recertificación de usuarios",
        "Adjunto archivo de recertificación.",
        when="2026-11-20T10:00",
        files=(("recertificacion.xlsx", XLSX, original),),
        authenticated=False,
    )
    sent = run(tmp, "2026-11-20T10:00")
    detail = case(tmp)
    assert detail["state"] == "por_verificar"
    assert not to_person(sent, METLIFE) and not to_person(sent, COMMERCIAL)
    assert "sin verificar" in one(sent, SPECIALIST)["Subject"]

    # A specialist confirms it by phone with MetLife. No deadline in the mail: two weeks,
    # flagged (Friday 4 Dec); the package must leave Wednesday 2 Dec.
    act(tmp, "2026-11-20T11:00", "verificar")
    sent = run(tmp, "2026-11-20T11:00")
    detail = case(tmp)
    assert detail["state"] == "validacion_areas"
    assert detail["data"]["fecha_limite"] == "2026-12-04"
    assert detail["data"]["fecha_limite_estimada"] is True
    assert "ESTIMADA" in body_of(one(sent, SPECIALIST, "URGENTE"))

    # Nobody answers: a reminder the day before, then after three business days (Wednesday
    # 25, 11:00) CAM Pegasus stands.
    assert not to_person(run(tmp, "2026-11-24T10:59"), COMMERCIAL)
    sent = run(tmp, "2026-11-24T11:00")
    assert "Recordatorio" in one(sent, COMMERCIAL)["Subject"]
    assert case(tmp)["state"] == "validacion_areas"
    sent = run(tmp, "2026-11-25T11:00")
    detail = case(tmp)
    assert detail["state"] == "esperando_firma"
    window = next(e for e in detail["events"] if e["detail"].get("sin_respuesta"))
    assert window["detail"]["sin_respuesta"] == ["Comercial", "Operaciones"]
    assert "MA-005 paso 13" in window["steps"]
    package = one(sent, DIRECTOR, "firma")
    final = final_column(xlsx_of(package))
    by_key = {u["clave"]: u["propuesta"] for u in detail["data"]["usuarios"]}
    assert final == by_key

    # The director does not sign: reminded; from three days left the bosses hear it.
    sent = run(tmp, "2026-11-26T11:00")
    assert "falta su firma" in one(sent, DIRECTOR, "firma")["Subject"]
    sent = run(tmp, "2026-12-01T08:00")
    countdown = one(sent, SPECIALIST, "día(s) hábil(es)")
    assert DIRECTOR in str(countdown["Cc"]) and SUPERVISOR in str(countdown["Cc"])
    assert "firmada por el director" in body_of(countdown)

    # Wednesday 2 Dec, 08:00: the package should leave and is not signed: escalation.
    sent = run(tmp, "2026-12-02T08:00")
    late = [m for m in to_person(sent, SUPERVISOR) if "no estará a tiempo" in m["Subject"]]
    assert len(late) == 1 and DIRECTOR in str(late[0]["To"])
    assert "firmada por el director" in body_of(late[0])

    # The director signs at 10:00: it leaves at once.
    deliver(
        tmp,
        DIRECTOR,
        f"RE: {package['Subject']}",
        "Firmada, perdón por la demora.",
        when="2026-12-02T10:00",
        reply_to=package,
        files=(("firmada.pdf", "application/pdf", pdf("tarde")),),
    )
    sent = run(tmp, "2026-12-02T10:00")
    assert case(tmp)["state"] == "enviado"
    assert one(sent, METLIFE)

    # MetLife confirms by phone: the specialist records it; the case closes.
    act(tmp, "2026-12-02T12:00", "confirmar")
    run(tmp, "2026-12-02T12:00")
    detail = case(tmp)
    assert detail["state"] == "cerrado"
    assert "expediente" in detail["data"]["documentos"]
