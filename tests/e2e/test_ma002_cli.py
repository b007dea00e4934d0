"""MA-002 end to end through the command line: every branch of an agent's alta in one week.

CAM Pegasus is a real SQLite database behind the sql adapter, listing seven agents in
"Solicitado" (one a BPN consultant). `mesabot run --once --now T` runs the daily sweep and
the reminders; the assistants answer by mail files in the Maildir inbox; specialists act by
mail and with `mesabot case ID ACTION`. Each case takes one branch:

  #1 CDMX        "Sí adelante" with the filled Excel -> DES 3.0 -> Pro99 -> credentials -> cerrado
  #2 Oaxaca      "Deténlo" -> detenido, CAM Pegasus keeps the note and the mail
  #3 Edo México  "Te aviso el lunes" -> asked again that Monday -> "Sí adelante" with data
  #4 Acapulco    "Te aviso cuando proceda" -> asked again after 5 business days
  #5 Nuevo León  an assistant of another zone says "Sí adelante" -> alert, nothing moves
  #6 CDMX        nobody answers -> reminders every 2 business days, escalation at 5
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.e2e.test_cli import (
    SPECIALISTS,
    SUPERVISOR,
    as_json,
    body_of,
    mesabot,
    ok,
    recipients,
)
from tests.e2e.test_ma001_cli import attachments, case, configure, deliver, run
from tests.ma001_data import image
from tests.ma002_data import (
    XLSX,
    ZONES,
    agent,
    data_for,
    data_text,
    fill,
    pegasus_db,
    pegasus_state,
)

SPECIALIST = SPECIALISTS[0]
A1 = agent(1, "Promotoría Reforma")
A2 = agent(2, "Promotoría Istmo")
A3 = agent(3, "Promotoría Toluca")
A4 = agent(4, "Promotoría Acapulco Costera")
A5 = agent(5, "Promotoría Monterrey")
A6 = agent(6, "Promotoría Coyoacán")
BPN = agent(7, "Promotoría Reforma", tipo="Consultor BPN")
ASSISTANTS = {a for people in ZONES.values() for a in people}


def tag(case_id: int) -> str:
    """The subject tag of a case."""
    return f"[MA-002 #{case_id}]"


def about(sent: dict[str, EmailMessage], case_id: int) -> list[EmailMessage]:
    """The messages of a batch about one case."""
    return [m for m in sent.values() if tag(case_id) in str(m["Subject"])]


def to_assistants(sent: dict[str, EmailMessage]) -> dict[int, set[str]]:
    """Case -> the assistants a batch wrote to about it."""
    found: dict[int, set[str]] = {}
    for m in sent.values():
        match = re.search(r"\[MA-002 #(\d+)\]", str(m["Subject"]))
        people = recipients(m) & ASSISTANTS
        if match and people:
            found.setdefault(int(match.group(1)), set()).update(people)
    return found


def only(sent: dict[str, EmailMessage], case_id: int, words: str) -> EmailMessage:
    """The one message about a case whose subject has these words."""
    found = [m for m in about(sent, case_id) if words in str(m["Subject"])]
    assert len(found) == 1, [str(m["Subject"]) for m in about(sent, case_id)]
    return found[0]


def listed(tmp: Path) -> dict[int, dict[str, Any]]:
    """Every MA-002 case by id, from one `mesabot cases --json`."""
    found = as_json(mesabot(tmp, "cases", "--process", "MA-002", "--json"))
    return {int(c["id"]): c for c in found}


def steps_of(detail: dict[str, Any]) -> set[int]:
    """The MA-002 seed steps a case's history names."""
    return {
        int(s.rpartition(" ")[2]) for e in detail["events"] for s in e["steps"] if "MA-002" in s
    }


def test_every_branch_of_an_agent_alta(tmp_path: Path) -> None:
    tmp = tmp_path / "agentes"
    tmp.mkdir()
    pegasus = pegasus_db(tmp / "pegasus.db", (A1, A2, A3, A4, A5, A6, BPN))
    configure(tmp, pegasus)

    # Monday 23 Nov 2026, 08:00: the sweep opens six cases; the BPN consultant is left out.
    sent = run(tmp, "2026-11-23T08:00")
    opened = listed(tmp)
    assert sorted(opened) == [1, 2, 3, 4, 5, 6]  # none for the BPN consultant
    for case_id, who in enumerate((A1, A2, A3, A4, A5, A6), start=1):
        assert opened[case_id]["state"] == "confirmacion_asistente"
        assert opened[case_id]["data"]["agente"]["clave"] == who.clave
    zones = {1: "CDMX", 2: "Oaxaca", 3: "Edo México", 4: "Acapulco", 5: "Nuevo León", 6: "CDMX"}
    assert to_assistants(sent) == {n: set(ZONES[z]) for n, z in zones.items()}
    request = {n: only(sent, n, "Confirmación de alta de agente") for n in zones}
    for n, msg in request.items():
        assert msg["Auto-Submitted"] == "auto-generated"
        assert list(attachments(msg)) == [
            f"alta_agente_{(A1, A2, A3, A4, A5, A6)[n - 1].clave}.xlsx"
        ]
    digest = [m for m in sent.values() if "Resumen diario" in str(m["Subject"])]
    assert digest and all(BPN.clave in body_of(m) for m in digest)
    assert "Consultores BPN excluidos" in body_of(digest[0])

    # 10:00 the answers arrive.
    form = attachments(request[1])[f"alta_agente_{A1.clave}.xlsx"]
    deliver(
        tmp,
        "julio@example.com",
        f"Re: {request[1]['Subject']}",
        "Sí adelante, va el formato con sus datos.\n\nSaludos,\nJulio",
        when="2026-11-23T09:40",
        reply_to=request[1],
        files=(("alta_agente_lleno.xlsx", XLSX, fill(form, data_for(A1))),),
        authenticated=True,
    )
    deliver(
        tmp,
        "juan.velazquez@example.com",
        f"Re: {request[2]['Subject']}",
        "Deténlo por favor, el agente ya no va a trabajar con nosotros.",
        when="2026-11-23T09:45",
        reply_to=request[2],
        authenticated=True,
    )
    deliver(
        tmp,
        "ana.luna@example.com",
        f"Re: {request[3]['Subject']}",
        "Te aviso el lunes, todavía no entrega papeles.",
        when="2026-11-23T09:50",
        reply_to=request[3],
        authenticated=True,
    )
    deliver(
        tmp,
        "marcela@example.com",
        f"Re: {request[4]['Subject']}",
        "Te aviso cuando proceda.",
        when="2026-11-23T09:55",
        reply_to=request[4],
        authenticated=True,
    )
    deliver(
        tmp,
        "andrea@example.com",
        f"Re: {request[5]['Subject']}",
        "Sí adelante.\n" + data_text(A5),
        when="2026-11-23T09:58",
        reply_to=request[5],
        authenticated=True,
    )
    sent = run(tmp, "2026-11-23T10:00")
    states = {n: c["state"] for n, c in listed(tmp).items()}
    assert states == {
        1: "alta_des",
        2: "detenido",
        3: "en_espera_asistente",
        4: "en_espera_asistente",
        5: "confirmacion_asistente",
        6: "confirmacion_asistente",
    }
    task_mail = only(sent, 1, "Alta en DES 3.0")
    assert recipients(task_mail) == set(SPECIALISTS)
    task_text = body_of(task_mail)
    for value in (A1.clave, A1.curp, "5512345678", "1234567", "2027-12-31", "Vida"):
        assert value in task_text
    assert list(attachments(task_mail)) == ["alta_agente_lleno.xlsx"]
    assert "Procedemos" in str(only(sent, 1, "Procedemos")["Subject"])
    stopped = only(sent, 2, "Alta detenida")
    assert recipients(stopped) == set(ZONES["Oaxaca"])
    snoozed = body_of(only(sent, 3, "En espera"))
    assert "2026-11-30" in snoozed and "como nos indicaste" in snoozed
    assert "2026-11-30" in body_of(only(sent, 4, "En espera"))
    alert = only(sent, 5, "Respuesta no válida")
    assert recipients(alert) == set(SPECIALISTS) and "andrea@example.com" in body_of(alert)
    assert not about(sent, 6)
    detail = case(tmp, 5)
    assert any(e["detail"].get("no_autorizado") == "andrea@example.com" for e in detail["events"])

    # 11:00 Sofía answers the DES 3.0 task with the screenshot.
    deliver(
        tmp,
        SPECIALIST,
        f"Re: {task_mail['Subject']}",
        "Listo, alta generada. Adjunto captura.",
        when="2026-11-23T11:00",
        reply_to=task_mail,
        files=(("captura_des.png", "image/png", image(1280, 800)),),
        authenticated=True,
    )
    run(tmp, "2026-11-23T11:00")
    detail = case(tmp, 1)
    assert detail["state"] == "procesando_metlife"
    assert sorted(t["kind"] for t in detail["timers"]) == ["escalar_metlife", "revision_metlife"]
    peg = pegasus_state(pegasus)
    assert peg[A1.clave][0] == "En proceso"
    files = [name for name, _ in peg[A1.clave][1]]
    assert "captura_des.png" in files and any(f.endswith(".eml") for f in files)
    assert peg[A2.clave][0] == "Solicitado"
    ((stop_file, stop_note),) = peg[A2.clave][1]
    assert stop_file.endswith(".eml") and "juan.velazquez@example.com" in stop_note

    # Tuesday 24 at 20:00 and Wednesday 25 at 07:30: nothing to the assistants outside hours.
    for when in ("2026-11-24T20:00", "2026-11-25T07:30"):
        assert not to_assistants(run(tmp, when))
    # Wednesday 08:00: two business days without an answer: cases 5 and 6 are reminded.
    sent = run(tmp, "2026-11-25T08:00")
    assert to_assistants(sent) == {5: set(ZONES["Nuevo León"]), 6: set(ZONES["CDMX"])}
    reminder = only(sent, 6, "Recordatorio")
    assert reminder["Auto-Submitted"] == "auto-generated" and attachments(reminder)
    # Friday 27, 08:00: the second reminder.
    assert to_assistants(run(tmp, "2026-11-27T08:00")) == {
        5: set(ZONES["Nuevo León"]),
        6: set(ZONES["CDMX"]),
    }

    # Monday 30, 08:00: five business days: escalation of 5 and 6; case 3 asked again, as
    # Ana Luna said; case 4's five business days end at 10:00.
    sent = run(tmp, "2026-11-30T08:00")
    assert to_assistants(sent) == {3: set(ZONES["Edo México"])}
    for n in (5, 6):
        escalation = only(sent, n, "Escalamiento")
        assert SUPERVISOR in recipients(escalation)
        assert set(SPECIALISTS) <= recipients(escalation)
    assert "Llamar a la asistente comercial de CDMX por MA-002 #6" in {
        t["title"] for t in case(tmp, 6)["tasks"]
    }
    asked_again = only(sent, 3, "Ya procede")
    assert to_assistants(run(tmp, "2026-11-30T10:00")) == {4: set(ZONES["Acapulco"])}

    # 11:00 Andrea answers case 3 with the data written in the mail.
    deliver(
        tmp,
        "andrea@example.com",
        f"Re: {asked_again['Subject']}",
        "Sí adelante, ya entregó todo:\n" + data_text(A3) + "\n\nGracias",
        when="2026-11-30T11:00",
        reply_to=asked_again,
        authenticated=True,
    )
    run(tmp, "2026-11-30T11:00")
    assert case(tmp, 3)["state"] == "alta_des"

    # Saturday 5 Dec, 11:00: twelve days in MetLife: the specialists check Pro99.
    sent = run(tmp, "2026-12-05T11:00")
    check = only(sent, 1, "Revisión")
    assert recipients(check) <= set(SPECIALISTS)

    # Monday 7 Dec: processing complete; the credentials go through the CDMX assistants.
    printed = ok(
        mesabot(tmp, "case", "1", "procesado", "--by", SPECIALIST, now="2026-12-07T09:00")
    ).stdout
    assert "esperando_cierre" in printed
    sent = run(tmp, "2026-12-07T09:00")
    done = only(sent, 1, "Alta completa")
    credentials = only(sent, 1, "Credenciales")
    assert recipients(done) == recipients(credentials) == set(ZONES["CDMX"])
    password = re.search(r"Contraseña: (\S+)", body_of(credentials))
    assert password and len(password.group(1)) == 14
    assert not attachments(credentials)
    assert pegasus_state(pegasus)[A1.clave][0] == "Activo"
    assert password.group(1) not in ok(mesabot(tmp, "case", "1", "--json")).stdout

    deliver(
        tmp,
        "alexis@example.com",
        f"Re: {credentials['Subject']}",
        "Muchas gracias, ya lo tengo.",
        when="2026-12-07T12:00",
        reply_to=credentials,
        authenticated=True,
    )
    run(tmp, "2026-12-07T12:00")
    detail = case(tmp, 1)
    assert (detail["state"], detail["data"]["motivo_cierre"]) == ("cerrado", "confirmado")
    assert set(range(1, 20)) <= steps_of(detail)
    assert 6 in steps_of(case(tmp, 2))
    assert {n: c["state"] for n, c in listed(tmp).items()} == {
        1: "cerrado",
        2: "detenido",
        3: "alta_des",
        4: "en_espera_asistente",
        5: "confirmacion_asistente",
        6: "confirmacion_asistente",
    }
