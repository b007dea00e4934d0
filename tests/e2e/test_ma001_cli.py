"""MA-001 end to end through the command line: one alta and one baja, first mail to cerrado.

Mail arrives as files in the Maildir inbox, `mesabot run --once --now T` moves the cases
across business days, specialists act with `mesabot case ID ACTION`, CAM Pegasus is a real
SQLite database behind the sql adapter, and every outbound message, letter and state is
checked on the way.
"""

from __future__ import annotations

import html
import io
import json
import re
import sqlite3
import zipfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.e2e.test_cli import (
    as_json,
    body_of,
    mesabot,
    mx_time,
    new_since,
    ok,
    outbox,
    recipients,
    to_person,
)
from tests.ma001_data import USER_A, USER_B, USER_C, form, image, pdf
from tests.ma002_data import SCHEMA as PEGASUS_SCHEMA
from tests.ma002_data import sql_pegasus_config
from tests.mail_data import incoming

REQUESTER = "lucia.mendez@promotoria-costera.mx"
DIRECTOR = "director.general@example.com"
SPECIALIST = "sofia.ramirez@example.com"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


# --- the world around the bot -------------------------------------------------------------


def setup_folder(tmp: Path) -> Path:
    """A folder with the shipped config, trusting our MTA, and CAM Pegasus on SQLite."""
    tmp.mkdir(parents=True, exist_ok=True)
    pegasus = tmp / "pegasus.db"
    con = sqlite3.connect(pegasus)
    con.executescript(PEGASUS_SCHEMA)
    for name, key, mail in (USER_A, USER_B, USER_C):
        con.execute(
            "INSERT INTO pegasus_usuarios (nombre, rfc, correo, estatus, tipo) "
            "VALUES (?, ?, ?, 'Solicitado', 'administrativo')",
            (name, key, mail),
        )
    con.commit()
    con.close()
    configure(tmp, pegasus)
    return pegasus


def configure(tmp: Path, pegasus: Path) -> None:
    """The shipped config in the folder, trusting our MTA, with CAM Pegasus on SQLite."""
    (tmp / "config.toml").write_text(sql_pegasus_config(pegasus), encoding="utf-8")


def pegasus_rows(path: Path) -> dict[str, tuple[str, list[str]]]:
    """RFC -> (status, names of the files attached) in the CAM Pegasus database."""
    con = sqlite3.connect(path)
    found: dict[str, tuple[str, list[str]]] = {}
    for user_id, key, status in con.execute("SELECT id, rfc, estatus FROM pegasus_usuarios"):
        files = [
            r[0]
            for r in con.execute(
                "SELECT nombre FROM pegasus_adjuntos WHERE usuario_id = ? ORDER BY id", (user_id,)
            )
        ]
        found[key] = (status, files)
    con.close()
    return found


def deliver(
    tmp: Path,
    sender: str,
    subject: str,
    body: str,
    *,
    when: str,
    reply_to: EmailMessage | None = None,
    files: tuple[tuple[str, str, bytes], ...] = (),
    authenticated: bool = False,
) -> None:
    """Drop a mail into the inbox as the MTA would."""
    msg = incoming(
        sender,
        "mesa.ayuda@example.com",
        subject,
        body,
        mx_time(when),
        files=files,
        authenticated=authenticated,
        reply_to=reply_to,
    )
    inbox = tmp / "var" / "mail" / "inbox" / "new"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / f"{mx_time(when).timestamp():.0f}.{abs(hash(msg['Message-ID']))}.mx").write_bytes(
        msg.as_bytes()
    )


def run(tmp: Path, when: str) -> dict[str, EmailMessage]:
    """One `run --once` at that instant; the messages it sent."""
    before = outbox(tmp)
    ok(mesabot(tmp, "run", "--once", now=when))
    return new_since(before, outbox(tmp))


def case(tmp: Path, case_id: int) -> dict[str, Any]:
    """`mesabot case ID --json`."""
    detail: dict[str, Any] = as_json(mesabot(tmp, "case", str(case_id), "--json"))
    return detail


def act(tmp: Path, when: str, case_id: int, action: str, *args: str) -> str:
    """A specialist's command on a case; its printed line."""
    result = ok(mesabot(tmp, "case", str(case_id), action, *args, "--by", SPECIALIST, now=when))
    return result.stdout


def attachments(msg: EmailMessage) -> dict[str, bytes]:
    """File name -> content of a message's attachments."""
    return {
        str(part.get_filename()): part.get_payload(decode=True)  # type: ignore[misc]
        for part in msg.iter_attachments()
    }


def docx_text(content: bytes) -> str:
    """The text of a Word document's body."""
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        xml = z.read("word/document.xml").decode("utf-8")
    return html.unescape(re.sub(r"<[^>]+>", "", xml))


def one(messages: dict[str, EmailMessage], email: str) -> EmailMessage:
    """The only message of a batch to one person, the daily digest aside."""
    found = [m for m in to_person(messages, email) if "Resumen diario" not in m["Subject"]]
    assert len(found) == 1, [m["Subject"] for m in found]
    return found[0]


# --- the stories --------------------------------------------------------------------------


def test_alta_from_first_mail_to_cerrado(tmp_path: Path) -> None:
    tmp = tmp_path / "alta"
    pegasus = setup_folder(tmp)

    # Monday 23 Nov 2026, 09:00: the requester asks for two users with the Excel form.
    deliver(
        tmp,
        REQUESTER,
        "Alta de usuarios MET Promotoría Acapulco Costera",
        "Buen día, solicito el alta de dos usuarios administrativos. Adjunto formato.",
        when="2026-11-23T09:00",
        files=(("Solicitud alta.xlsx", "application/vnd.ms-excel", form(USER_A, USER_B)),),
    )
    sent = run(tmp, "2026-11-23T09:00")
    detail = case(tmp, 1)
    assert (detail["process"], detail["state"]) == ("MA-001", "esperando_firma")
    ack = one(sent, REQUESTER)
    assert "[MA-001 #1]" in ack["Subject"] and ack["Auto-Submitted"] == "auto-replied"
    assert USER_A[1] in body_of(ack) and USER_B[1] in body_of(ack)
    letter_mail = one(sent, DIRECTOR)
    letter = attachments(letter_mail)
    assert list(letter) == ["carta_autorizacion_MA-001-1.docx"]
    text = docx_text(letter["carta_autorizacion_MA-001-1.docx"])
    assert USER_A[0] in text and USER_B[1] in text and "23 de noviembre de 2026" in text
    steps = [s for e in detail["events"] for s in e["steps"]]
    for n in range(1, 9):
        assert f"MA-001 paso {n}" in steps
    assert [e["to_state"] for e in detail["events"]] == [
        "pendiente_atencion",
        "en_proceso",
        "esperando_firma",
    ]

    # Tuesday: no signature yet, the director is reminded with the letter again.
    sent = run(tmp, "2026-11-24T09:05")
    reminder = one(sent, DIRECTOR)
    assert "Recordatorio" in reminder["Subject"] and reminder["Auto-Submitted"] == "auto-generated"
    assert "carta_autorizacion_MA-001-1.docx" in attachments(reminder)

    # A "signed letter" from the director's address that is not authenticated: nothing moves.
    deliver(
        tmp,
        DIRECTOR,
        "Re: " + letter_mail["Subject"],
        "Va firmada.",
        when="2026-11-24T10:00",
        reply_to=letter_mail,
        files=(("carta firmada.pdf", "application/pdf", pdf("falsa")),),
    )
    sent = run(tmp, "2026-11-24T10:00")
    assert case(tmp, 1)["state"] == "esperando_firma"
    alert = one(sent, SPECIALIST)
    assert "[Alerta]" in alert["Subject"] and "no está autenticado" in body_of(alert)
    assert not to_person(sent, DIRECTOR)

    # The real signed scan, authenticated by our MTA.
    deliver(
        tmp,
        DIRECTOR,
        "Re: " + letter_mail["Subject"],
        "Listo, firmada.",
        when="2026-11-24T11:00",
        reply_to=letter_mail,
        files=(("carta firmada.pdf", "application/pdf", pdf("carta")),),
        authenticated=True,
    )
    sent = run(tmp, "2026-11-24T11:00")
    detail = case(tmp, 1)
    assert detail["state"] == "solicitud_metlife"
    assert detail["data"]["documentos"]["carta_firmada"]["archivo"] == "carta firmada.pdf"
    assert "Carta firmada recibida" in one(sent, DIRECTOR)["Subject"]
    task_mail = one(sent, SPECIALIST)
    assert "Remote SCAN" in task_mail["Subject"]
    assert "carta firmada.pdf" in attachments(task_mail)
    assert [t["status"] for t in detail["tasks"]] == ["open"]

    # The specialist answers the task mail with the DSN.
    deliver(
        tmp,
        SPECIALIST,
        "Re: " + task_mail["Subject"],
        "Listo, DSN 4471203",
        when="2026-11-24T13:00",
        reply_to=task_mail,
        authenticated=True,
    )
    sent = run(tmp, "2026-11-24T13:00")
    detail = case(tmp, 1)
    assert detail["state"] == "escalado" and detail["data"]["dsn"] == "4471203"
    assert "4471203" in body_of(one(sent, REQUESTER))
    rows = pegasus_rows(pegasus)
    letters = ["carta firmada.pdf", "carta_autorizacion_MA-001-1.docx"]
    assert rows[USER_A[1]] == ("Escalado", letters)
    assert rows[USER_B[1]][0] == "Escalado" and rows[USER_C[1]][0] == "Solicitado"
    assert [t["status"] for t in detail["tasks"]] == ["done"]

    # 15 calendar days later the assignee is asked to check with MetLife.
    sent = run(tmp, "2026-12-09T13:05")
    check = one(sent, SPECIALIST)
    assert "Revisar con MetLife" in check["Subject"]

    # MetLife confirms: credentials go to each user with the carta custodia.
    line = act(tmp, "2026-12-10T10:00", 1, "confirmar_alta")
    assert "escalado -> esperando_custodia" in line
    sent = run(tmp, "2026-12-10T10:00")
    passwords = []
    for name, _, mail in (USER_A, USER_B):
        delivery = one(sent, mail)
        assert recipients(delivery) == {mail}
        body = body_of(delivery)
        found = re.search(r"Contraseña: (\S+)", body)
        assert found is not None and len(found.group(1)) >= 12
        passwords.append(found.group(1))
        assert f"Usuario: {mail.partition('@')[0]}" in body
        custody = attachments(delivery)
        (letter_name,) = custody
        assert letter_name.startswith("carta_custodia_")
        assert found.group(1) in docx_text(custody[letter_name]) and name in docx_text(
            custody[letter_name]
        )
    assert passwords[0] != passwords[1]
    assert pegasus_rows(pegasus)[USER_A[1]][0] == "Activo"
    # The passwords exist only in the mail that went out: not in the database, the archive
    # or anything the bot logged.
    stored = [p for p in (tmp / "var").rglob("*") if p.is_file() and "outbox" not in p.parts]
    for password in passwords:
        needle = password.encode()
        assert not [p for p in stored if needle in p.read_bytes()]
    assert passwords[0] not in json.dumps(case(tmp, 1))

    # Elena sends her signed custodia; Raúl's comes from the requester a day later.
    deliveries = {mail: one(sent, mail) for _, _, mail in (USER_A, USER_B)}
    deliver(
        tmp,
        USER_A[2],
        "Re: " + deliveries[USER_A[2]]["Subject"],
        "Adjunto carta custodia firmada.",
        when="2026-12-10T12:00",
        reply_to=deliveries[USER_A[2]],
        files=(("custodia elena.jpg", "image/jpeg", image(1200, 1600, "JPEG")),),
    )
    sent = run(tmp, "2026-12-10T12:00")
    assert case(tmp, 1)["state"] == "esperando_custodia"
    assert USER_B[0] in body_of(one(sent, USER_A[2]))  # told whose letter is still missing
    deliver(
        tmp,
        REQUESTER,
        "Re: " + deliveries[USER_B[2]]["Subject"],
        "Les mando la de Raúl.",
        when="2026-12-11T09:30",
        reply_to=deliveries[USER_B[2]],
        files=(("custodia raul.pdf", "application/pdf", pdf("custodia")),),
    )
    sent = run(tmp, "2026-12-11T09:30")
    detail = case(tmp, 1)
    assert detail["state"] == "archivo_fisico"
    filing = one(sent, SPECIALIST)
    assert set(attachments(filing)) == {"custodia elena.jpg", "custodia raul.pdf"}

    # Printed and filed; the requester is asked to validate, and says it works.
    assert "archivo_fisico -> en_validacion" in act(tmp, "2026-12-11T11:00", 1, "archivado")
    sent = run(tmp, "2026-12-11T11:00")
    ask = one(sent, REQUESTER)
    deliver(
        tmp,
        REQUESTER,
        "Re: " + ask["Subject"],
        "Sí, ya quedó, muchas gracias.",
        when="2026-12-14T10:00",
        reply_to=ask,
    )
    sent = run(tmp, "2026-12-14T10:00")
    detail = case(tmp, 1)
    assert detail["state"] == "cerrado" and detail["data"]["motivo_cierre"] == "validado"
    assert "cerrada" in one(sent, REQUESTER)["Subject"]
    steps = {s for e in detail["events"] for s in e["steps"]}
    assert {f"MA-001 paso {n}" for n in range(1, 28)} <= steps
    assert not detail["timers"]
    human = ok(mesabot(tmp, "case", "1")).stdout
    assert "MA-001 paso 9" in human and "esperando_firma" in human


def test_baja_with_a_corrected_form(tmp_path: Path) -> None:
    tmp = tmp_path / "baja"
    pegasus = setup_folder(tmp)

    # Friday 27 Nov 2026: a baja asked for without the form gets the blank form back.
    deliver(
        tmp,
        REQUESTER,
        "Baja de usuario MET",
        "Favor de dar de baja a Jorge Luna, ya no labora con nosotros.",
        when="2026-11-27T10:00",
    )
    sent = run(tmp, "2026-11-27T10:00")
    assert case(tmp, 1)["state"] == "datos_incompletos"
    first = one(sent, REQUESTER)
    assert "solicitud_usuarios.xlsx" in attachments(first)

    # A file with a wrong RFC: the error is named by row and column.
    bad = (USER_C[0], "LUPJ800101A10", USER_C[2])
    deliver(
        tmp,
        REQUESTER,
        "Re: " + first["Subject"],
        "Va el formato.",
        when="2026-11-27T11:00",
        reply_to=first,
        files=(("baja.xlsx", "application/octet-stream", form(bad, movement="Baja")),),
    )
    sent = run(tmp, "2026-11-27T11:00")
    assert case(tmp, 1)["state"] == "datos_incompletos"
    assert "Fila 2, columna «RFC»" in body_of(one(sent, REQUESTER))

    # The corrected file: the carta de baja goes to the director.
    deliver(
        tmp,
        REQUESTER,
        "Re: " + first["Subject"],
        "Corregido.",
        when="2026-11-27T12:00",
        reply_to=first,
        files=(("baja.xlsx", "application/octet-stream", form(USER_C, movement="Baja")),),
    )
    sent = run(tmp, "2026-11-27T12:00")
    assert case(tmp, 1)["state"] == "baja_esperando_firma"
    letter_mail = one(sent, DIRECTOR)
    (name,) = attachments(letter_mail)
    assert name == "carta_baja_MA-001-1.docx"
    assert USER_C[1] in docx_text(attachments(letter_mail)[name])

    # The weekend passes; three business days later (Wednesday) the supervisor is told.
    sent = run(tmp, "2026-12-02T12:05")
    assert any("[Escalamiento]" in m["Subject"] for m in sent.values())

    deliver(
        tmp,
        DIRECTOR,
        "Re: " + letter_mail["Subject"],
        "Firmada",
        when="2026-12-02T13:00",
        reply_to=letter_mail,
        files=(("baja firmada.jpg", "image/jpeg", image(1200, 1600, "JPEG")),),
        authenticated=True,
    )
    sent = run(tmp, "2026-12-02T13:00")
    assert case(tmp, 1)["state"] == "baja_solicitud_metlife"
    assert "Remote SCAN" in one(sent, SPECIALIST)["Subject"]

    line = act(tmp, "2026-12-02T15:00", 1, "registrar_baja", "--set", "dsn=5550001")
    assert "baja_solicitud_metlife -> cerrado" in line
    sent = run(tmp, "2026-12-02T15:00")
    told = one(sent, REQUESTER)
    assert "5550001" in body_of(told) and USER_C[0] in body_of(told)
    status, files = pegasus_rows(pegasus)[USER_C[1]]
    assert status == "Baja" and files == ["baja firmada.jpg", "carta_baja_MA-001-1.docx"]
    detail = case(tmp, 1)
    assert detail["data"]["motivo_cierre"] == "baja_realizada"
    assert "MA-001 paso 28" in {s for e in detail["events"] for s in e["steps"]}
    states = {e["to_state"] for e in detail["events"]}
    assert not states & {"activo", "esperando_custodia", "archivo_fisico"}
