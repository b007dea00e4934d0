"""MA-002 in process on the real database: the CAM Pegasus sweep, the assistants, DES 3.0.

CAM Pegasus is a SQLite file (tests/ma002_data.py) reached through the sql adapter; the
daily sweep at 08:00 is the recurring job `run_once` fires. Mail goes in as files in the
Maildir inbox, `cycle(app, T)` runs the daemon once, and the outbox, the audit trail, the
tasks, the timers and CAM Pegasus itself are checked at each step. The shipped config is
used, trusting one border MTA (`mx.example.com`) so that authenticated mail can be built.
"""

from __future__ import annotations

import json
import quopri
import re
import sqlite3
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import App, build_app
from bot.clock import FixedClock
from bot.config import Config, load_config
from bot.documents.agent_form import read_agent_form
from bot.rules import ma002_agents
from bot.sweeps import agents_sweep_job
from bot.workflow import PASSWORD_PLACEHOLDER, Applied
from storage.models import (
    Base,
    Case,
    CaseKey,
    CaseLink,
    Event,
    KnowledgeEntry,
    Message,
    Outbox,
    Task,
    Timer,
)
from tests.conftest import ROOT, mx
from tests.integration.test_ma001_flow import (
    AUTHSERV,
    SPECIALIST,
    SPECIALISTS,
    SUPERVISOR,
    act,
    addressed,
    attachments,
    body_of,
    cycle,
    deliver,
    events,
    mesabot,
    outbox_files,
    parse,
    pending_timers,
    recipients,
    state,
    subject_of,
    task_notice,
    tasks,
    templates_used,
)
from tests.ma001_data import image
from tests.ma002_data import (
    XLSX,
    ZONES,
    Agent,
    add_agents,
    agent,
    data_for,
    data_text,
    fill,
    pegasus_db,
    pegasus_state,
    sql_pegasus_config,
)

PNG = "image/png"
ASSISTANTS_CDMX = set(ZONES["CDMX"])  # julio, alexis
ASSISTANTS_OAXACA = set(ZONES["Oaxaca"])  # mariana, juan.velazquez
JULIO = "julio@example.com"
ANDREA = "andrea@example.com"  # an assistant of Edo México, not of CDMX
MARIANA = "mariana@example.com"

CDMX_AGENT = agent(1, "Promotoría Reforma")
OAXACA_AGENT = agent(2, "Promotoría Oaxaca Centro")
NL_AGENT = agent(3, "Promotoría Monterrey")
BPN_AGENT = agent(4, "Promotoría Reforma", tipo="Consultor BPN")
LOST_AGENT = agent(5, "Promotoría Zacatecas")  # no zone claims this promotoría
LATE_AGENT = agent(6, "Promotoría Coyoacán")

CDMX_PROMOTORIAS = 'promotorias = ["Promotoría Reforma", "Promotoría Coyoacán"]'


def config_text(pegasus: Path, *, zacatecas_in_cdmx: bool = False) -> str:
    """The shipped config.toml trusting our MTA, with CAM Pegasus read and written by SQL."""
    text = sql_pegasus_config(pegasus)
    if zacatecas_in_cdmx:
        assert CDMX_PROMOTORIAS in text
        text = text.replace(
            CDMX_PROMOTORIAS,
            'promotorias = ["Promotoría Reforma", "Promotoría Coyoacán", "Promotoría Zacatecas"]',
        )
    return text


@pytest.fixture
def pegasus(tmp_path: Path) -> Path:
    """An empty CAM Pegasus database; tests register their agents with add_agents."""
    return pegasus_db(tmp_path / "pegasus.db", [])


@pytest.fixture
def config(tmp_path: Path, database_url: str, pegasus: Path) -> Config:
    """The shipped config.toml, trusting mx.example.com, with CAM Pegasus on SQLite."""
    (tmp_path / "config.toml").write_text(config_text(pegasus), encoding="utf-8")
    return load_config(tmp_path / "config.toml", {"MESABOT_STORAGE_URL": database_url})


def other_app(tmp_path: Path, database_url: str, name: str, text: str) -> App:
    """A second application on the same database and folders, with another config file."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    cfg = load_config(tmp_path / name, {"MESABOT_STORAGE_URL": database_url})
    second = build_app(cfg, FixedClock(mx(2026, 11, 23, 8, 0)), ROOT)
    second.mail.ensure()
    return second


# --- reading the case ----------------------------------------------------------------------------


def case_for(app: App, a: Agent) -> int:
    """The id of the agent's case (the sweep binds it to the CAM Pegasus record)."""
    with app.db.sessions() as s:
        found = s.scalars(select(Case.id).where(Case.requester == a.correo)).all()
    assert len(found) == 1, (a.clave, found)
    return found[0]


def all_cases(app: App) -> dict[str, tuple[str, str]]:
    """Requester -> (process, state) of every case."""
    with app.db.sessions() as s:
        return {c.requester: (c.process, c.state) for c in s.scalars(select(Case))}


def open_tasks(app: App, case_id: int) -> list[Task]:
    """The case's open tasks."""
    with app.db.sessions() as s:
        query = select(Task).where((Task.case_id == case_id) & (Task.status == "open"))
        return list(s.scalars(query.order_by(Task.id)))


def to_exactly(messages: list[EmailMessage], people: set[str]) -> EmailMessage:
    """The one message whose To and Cc are exactly these people."""
    found = [m for m in messages if recipients(m) == people]
    assert len(found) == 1, [(str(m["To"]), subject_of(m)) for m in messages]
    return found[0]


def text_of(msg: EmailMessage) -> str:
    """The plain-text body with plain newlines."""
    return body_of(msg).replace("\r\n", "\n")


def listed(msg: EmailMessage) -> list[str]:
    """The "  - item" lines of a mail's body."""
    return re.findall(r"^  - (.+)$", text_of(msg), re.M)


def pegasus_files(path: Path, a: Agent) -> dict[str, bytes]:
    """File name -> content of what CAM Pegasus holds attached to the agent."""
    con = sqlite3.connect(path)
    rows = con.execute(
        "SELECT a.nombre, a.contenido FROM pegasus_adjuntos a JOIN pegasus_usuarios u"
        " ON u.id = a.usuario_id WHERE u.clave = ? ORDER BY a.id",
        (a.clave,),
    ).fetchall()
    con.close()
    return {str(name): bytes(content) for name, content in rows}


def form_name(a: Agent) -> str:
    """The name of the agent's Excel form."""
    return f"alta_agente_{a.clave}.xlsx"


def asked_values(a: Agent) -> dict[str, str]:
    """The data an assistant fills in the form (CAM Pegasus already has the e-mail)."""
    return {k: v for k, v in data_for(a).items() if k != "correo"}


# --- the story -----------------------------------------------------------------------------------


def sweep(app: App, pegasus: Path, at: datetime, *agents: Agent) -> list[EmailMessage]:
    """New agents appear in CAM Pegasus, then the daemon runs at that instant."""
    if agents:
        add_agents(pegasus, agents)
    return cycle(app, at)


def opened(app: App, pegasus: Path, at: datetime, a: Agent) -> tuple[int, EmailMessage]:
    """The agent's case opened by the sweep at `at`, and the confirmation mail."""
    sent = sweep(app, pegasus, at, a)
    case_id = case_for(app, a)
    assert state(app, case_id)[0] == "confirmacion_asistente"
    mail = [m for m in sent if subject_of(m).startswith("Confirmación de alta de agente")]
    assert len(mail) == 1, [subject_of(m) for m in sent]
    return case_id, mail[0]


def reply(
    app: App,
    at: datetime,
    sender: str,
    to: EmailMessage,
    body: str,
    *,
    files: tuple[tuple[str, str, bytes], ...] = (),
    authenticated: bool = True,
) -> list[EmailMessage]:
    """`sender` answers one of the bot's mails; the daemon runs at that instant."""
    deliver(
        app,
        at,
        sender,
        "Re: " + subject_of(to),
        body,
        files=files,
        authenticated=authenticated,
        reply_to=to,
    )
    return cycle(app, at)


def filled_form(confirmation: EmailMessage, a: Agent, decision: str = "") -> bytes:
    """The form the bot sent, filled by the assistant."""
    return fill(attachments(confirmation)[form_name(a)], asked_values(a), decision)


def approved(
    app: App, pegasus: Path, at: datetime, a: Agent = CDMX_AGENT
) -> tuple[int, EmailMessage, list[EmailMessage]]:
    """Julio says "Sí adelante" with the filled form: the case, his answer and what was sent."""
    case_id, confirmation = opened(app, pegasus, at, a)
    form = ("datos.xlsx", XLSX, filled_form(confirmation, a))
    sent = reply(app, at, JULIO, confirmation, "Sí adelante", files=(form,))
    assert state(app, case_id)[0] == "alta_des"
    return case_id, confirmation, sent


def des_notice(app: App, case_id: int, sent: list[EmailMessage]) -> EmailMessage:
    """The mail telling the specialists about the DES 3.0 task."""
    (task,) = tasks(app, case_id, "des")
    return task_notice(sent, task)


def processing(app: App, pegasus: Path, at: datetime, a: Agent = CDMX_AGENT) -> int:
    """A case whose alta the specialist generated in DES 3.0 (screenshot by mail) at `at`."""
    case_id, _, sent = approved(app, pegasus, at, a)
    shot = ("captura.png", PNG, image(1200, 800))
    reply(app, at, SPECIALIST, des_notice(app, case_id, sent), "Listo.", files=(shot,))
    assert state(app, case_id)[0] == "procesando_metlife"
    return case_id


def closing(
    app: App, pegasus: Path, at: datetime, a: Agent = CDMX_AGENT
) -> tuple[int, list[EmailMessage]]:
    """A case whose credentials went to the assistants at `at`; what was sent."""
    case_id = processing(app, pegasus, at, a)
    assert isinstance(act(app, case_id, "procesado", at), Applied)
    sent = cycle(app, at)
    assert state(app, case_id)[0] == "esperando_cierre"
    return case_id, sent


# --- 1. the daily sweep --------------------------------------------------------------------------


def test_sweep_opens_one_case_per_new_agent_exactly_once(
    app: App, pegasus: Path, tmp_path: Path, database_url: str
) -> None:
    monday = mx(2026, 11, 23, 8, 0)
    sweep(app, pegasus, monday, CDMX_AGENT, OAXACA_AGENT, BPN_AGENT)
    # The sweep runs before the digest of the same instant, which already lists its cases.
    digests = [parse(p.read_bytes()) for p in outbox_files(app)]
    digests = [m for m in digests if "Resumen diario" in subject_of(m)]
    assert {str(m["To"]) for m in digests} == {*SPECIALISTS, SUPERVISOR}
    for digest in digests:
        assert "Revisión del 23/11/2026 08:00: 3 en «Solicitado», 2 casos nuevos." in text_of(
            digest
        )
        assert f"{BPN_AGENT.clave} · {BPN_AGENT.nombre}" in text_of(digest)
    first = all_cases(app)
    assert first == {
        CDMX_AGENT.correo: ("MA-002", "confirmacion_asistente"),
        OAXACA_AGENT.correo: ("MA-002", "confirmacion_asistente"),
    }
    case_id = case_for(app, CDMX_AGENT)
    (opening,) = [e for e in events(app, case_id) if e.kind == "opened"]
    assert opening.actor == "mesabot" and opening.detail["trigger"] == "event:abrir"
    assert {f"MA-002 paso {n}" for n in range(1, 6)} <= set(opening.steps)
    _, data = state(app, case_id)
    assert data["zona"] == "CDMX"
    assert data["agente"]["clave"] == CDMX_AGENT.clave
    assert data["agente"]["estatus_pegasus"] == "Solicitado"

    # Later the same day, and the sweep itself run again: nothing new.
    assert not cycle(app, mx(2026, 11, 23, 12, 0))
    with app.db.transaction() as s:
        agents_sweep_job(app.workflow, s, mx(2026, 11, 23, 12, 5))
    assert all_cases(app) == first

    # The next day one more agent appears in CAM Pegasus: only that one opens.
    sent = sweep(app, pegasus, mx(2026, 11, 24, 8, 0), LATE_AGENT)
    assert len(all_cases(app)) == 3 and all_cases(app)[LATE_AGENT.correo][1] == (
        "confirmacion_asistente"
    )
    assert [subject_of(m) for m in sent if "Confirmación de alta" in subject_of(m)] == [
        f"Confirmación de alta de agente: {LATE_AGENT.nombre} [MA-002 #{case_for(app, LATE_AGENT)}]"
    ]
    cycle(app, mx(2026, 11, 25, 8, 0))
    assert len(all_cases(app)) == 3
    with app.db.sessions() as s:
        keys = s.execute(select(CaseKey.system, CaseKey.key)).all()
        sweeps = s.scalars(select(Event).where(Event.kind == "sweep").order_by(Event.id)).all()
    assert sorted(keys) == [("pegasus", "1"), ("pegasus", "2"), ("pegasus", "4")]
    assert [(e.detail["solicitados"], e.detail["nuevos"]) for e in sweeps] == [
        (3, 2),
        (3, 0),
        (4, 1),
        (4, 0),
    ]
    assert all(e.steps == ["MA-002 paso 1"] for e in sweeps)

    # The BPN consultant gets no case and is listed in the digest.
    printed = mesabot(tmp_path, database_url, mx(2026, 11, 25, 9, 0), "digest", "--print")
    section = printed.split("AGENTES EN CAM PEGASUS", 1)[1].split("TOTALES DE LA MESA", 1)[0]
    assert "Consultores BPN excluidos" in section
    assert f"{BPN_AGENT.clave} · {BPN_AGENT.nombre}" in section and "Consultor BPN" in section
    assert "4 en «Solicitado», 0 casos nuevos" in section and CDMX_AGENT.clave not in section


def test_agent_of_a_promotoria_without_zone_waits_for_a_specialist(app: App, pegasus: Path) -> None:
    monday = mx(2026, 11, 23, 8, 0)
    sent = sweep(app, pegasus, monday, LOST_AGENT)
    case_id = case_for(app, LOST_AGENT)
    current, data = state(app, case_id)
    assert (current, data["zona"]) == ("sin_zona", "")
    (task,) = tasks(app, case_id, "zona")
    assert task.status == "open" and LOST_AGENT.promotoria in task.title
    assert "asignar_zona --set zona=" in task.body
    assert recipients(task_notice(sent, task)) == SPECIALISTS
    assert not [m for m in sent if recipients(m) - SPECIALISTS]  # no assistant is guessed

    later = mx(2026, 11, 23, 10, 0)
    assert isinstance(act(app, case_id, "asignar_zona", later, zona="cdmx"), Applied)
    sent = cycle(app, later)
    current, data = state(app, case_id)
    assert (current, data["zona"]) == ("confirmacion_asistente", "CDMX")
    confirmation = to_exactly(sent, ASSISTANTS_CDMX)
    assert form_name(LOST_AGENT) in attachments(confirmation)
    assert [t.status for t in tasks(app, case_id, "zona")] == ["done"]
    last = events(app, case_id)[-1]
    assert (last.kind, last.actor, last.from_state) == ("transition", SPECIALIST, "sin_zona")
    assert "MA-002 paso 3" in last.steps


def test_a_zone_added_to_the_config_routes_the_waiting_agent_on_the_next_sweep(
    app: App, pegasus: Path, tmp_path: Path, database_url: str
) -> None:
    sweep(app, pegasus, mx(2026, 11, 23, 8, 0), LOST_AGENT)
    case_id = case_for(app, LOST_AGENT)
    assert state(app, case_id)[0] == "sin_zona"

    text = config_text(pegasus, zacatecas_in_cdmx=True)
    second = other_app(tmp_path, database_url, "config_zacatecas.toml", text)
    try:
        sent = cycle(second, mx(2026, 11, 24, 8, 0))
    finally:
        second.db.dispose()
    current, data = state(app, case_id)
    assert (current, data["zona"]) == ("confirmacion_asistente", "CDMX")
    routed = events(app, case_id)[-1]
    assert routed.detail["trigger"] == "event:zona_encontrada" and routed.actor == "mesabot"
    assert "MA-002 paso 2" in routed.steps
    assert form_name(LOST_AGENT) in attachments(to_exactly(sent, ASSISTANTS_CDMX))
    assert [t.status for t in tasks(app, case_id, "zona")] == ["done"]
    assert len(all_cases(app)) == 1


def test_unreachable_pegasus_is_retried_parked_alerted_once_and_loses_no_agent(
    app: App, pegasus: Path, tmp_path: Path, database_url: str
) -> None:
    add_agents(pegasus, [CDMX_AGENT, OAXACA_AGENT])
    folder = tmp_path / "pegasus_is_a_folder"
    folder.mkdir()
    text = config_text(pegasus).replace(f"sqlite:///{pegasus}", f"sqlite:///{folder}")
    down = other_app(tmp_path, database_url, "config_down.toml", text)
    alerts: list[EmailMessage] = []
    try:
        for minute in range(6):
            sent = cycle(down, mx(2026, 11, 23, 8, minute))
            alerts += [m for m in sent if "Aviso automático detenido" in subject_of(m)]
            with down.db.sessions() as s:
                jobs = s.scalars(
                    select(Timer).where(Timer.kind == "barrido_agentes").order_by(Timer.id)
                ).all()
                rows = [(t.status, t.attempts) for t in jobs]
            if minute < 4:
                assert rows == [("pending", minute + 1)], rows
            elif minute == 4:
                assert rows == [("failed", 5)], rows
        assert all_cases(app) == {}
        # Parked after 5 attempts; the job row is made again and retried, no second alert.
        assert rows[0] == ("failed", 5) and rows[-1][0] == "pending" and len(rows) == 2
        (alert,) = alerts
        assert recipients(alert) == SPECIALISTS
        assert alert["Auto-Submitted"] == "auto-generated"
        assert "Revisión diaria de agentes en CAM Pegasus" in body_of(
            alert
        ) and "5 veces" in body_of(alert)
        assert "PegasusUnavailable: CAM Pegasus no responde" in body_of(alert)
        with app.db.sessions() as s:
            failed = s.scalars(select(Event).where(Event.kind == "timer_failed")).all()
        assert [(e.actor, e.detail["timer"]) for e in failed] == [("mesabot", "barrido_agentes")]
    finally:
        down.db.dispose()

    # CAM Pegasus answers again: the next cycle's sweep opens both cases.
    sent = cycle(app, mx(2026, 11, 23, 8, 30))
    assert all_cases(app) == {
        CDMX_AGENT.correo: ("MA-002", "confirmacion_asistente"),
        OAXACA_AGENT.correo: ("MA-002", "confirmacion_asistente"),
    }
    to_exactly(sent, ASSISTANTS_CDMX)
    to_exactly(sent, ASSISTANTS_OAXACA)
    with app.db.sessions() as s:
        due = s.scalars(
            select(Timer.due_at).where(
                (Timer.kind == "barrido_agentes") & (Timer.status == "pending")
            )
        ).all()
    assert [app.calendar.local(d) for d in due] == [mx(2026, 11, 24, 8, 0)]


# --- 2. routing ----------------------------------------------------------------------------------


def test_confirmation_goes_to_exactly_the_zones_assistants_with_the_form(
    app: App, pegasus: Path
) -> None:
    thursday = mx(2026, 11, 26, 8, 0)
    sent = sweep(app, pegasus, thursday, OAXACA_AGENT, NL_AGENT)
    for a, people in ((OAXACA_AGENT, ASSISTANTS_OAXACA), (NL_AGENT, {MARIANA})):
        case_id = case_for(app, a)
        mail = to_exactly(sent, people)
        assert subject_of(mail) == (
            f"Confirmación de alta de agente: {a.nombre} [MA-002 #{case_id}]"
        )
        assert mail["Auto-Submitted"] == "auto-generated"
        assert list(attachments(mail)) == [form_name(a)]
        form = read_agent_form(attachments(mail)[form_name(a)], thursday.date())
        assert (form.case_ref, form.clave, dict(form.values)) == (f"MA-002 #{case_id}", a.clave, {})
        assert a.clave in body_of(mail) and a.promotoria in body_of(mail)
        assert "2026-12-03" in body_of(mail)  # 5 business days: Fri, Mon, Tue, Wed, Thu
        _, data = state(app, case_id)
        assert data["documentos"]["formato"]["archivo"] == form_name(a)
    assert len(sent) == 2


# --- 3. the assistant's answer -------------------------------------------------------------------


DES_LINES = (
    f"CURP: {CDMX_AGENT.curp}",
    "Teléfono celular: 5512345678",
    "Cédula profesional: 1234567 (vigente al 2027-12-31)",
    "Ramo: Vida",
)


def assert_des_task(app: App, case_id: int, sent: list[EmailMessage], by: str = JULIO) -> None:
    """The case waits on the DES 3.0 capture: the task states every datum, the sender is told."""
    current, data = state(app, case_id)
    assert current == "alta_des"
    assert data["datos"] == {
        "celular": "5512345678",
        "curp": CDMX_AGENT.curp,
        "cedula": "1234567",
        "vigencia_cedula": "2027-12-31",
        "ramo": "Vida",
        **({"correo": CDMX_AGENT.correo} if "correo" in data["datos"] else {}),
    }
    assert data["aprobado"]["por"] == by and data["aprobado"]["message_id"]
    (task,) = tasks(app, case_id, "des")
    assert task.status == "open"
    for line in DES_LINES:
        assert line in task.body, task.body
    assert recipients(task_notice(sent, task)) == SPECIALISTS
    ack = [m for m in sent if subject_of(m).startswith("Re: Procedemos con el alta")]
    assert len(ack) == 1 and recipients(ack[0]) == {by, *ASSISTANTS_CDMX}
    assert ack[0]["Auto-Submitted"] == "auto-replied"
    last = events(app, case_id)[-1]
    assert (last.kind, last.actor, last.to_state) == ("transition", by, "alta_des")
    assert {"MA-002 paso 6", "MA-002 paso 7", "MA-002 paso 8"} <= set(last.steps)
    assert pending_timers(app, case_id) == {
        "seguimiento": app.calendar.add_business_days(last.at, 1)
    }


def test_yes_with_the_filled_form_hands_the_capture_to_a_specialist(
    app: App, pegasus: Path
) -> None:
    case_id, _, sent = approved(app, pegasus, mx(2026, 11, 23, 8, 0))
    assert_des_task(app, case_id, sent)
    _, data = state(app, case_id)
    assert data["documentos"]["formato_lleno"]["archivo"] == "datos.xlsx"
    # The filled form goes to the specialist with the task.
    assert list(attachments(des_notice(app, case_id, sent))) == ["datos.xlsx"]
    assert events(app, case_id)[-1].detail["trigger"] == "intent:PROCEED"


def test_yes_with_the_data_in_the_body_hands_the_capture_to_a_specialist(
    app: App, pegasus: Path
) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, confirmation = opened(app, pegasus, at, CDMX_AGENT)
    later = mx(2026, 11, 23, 11, 0)
    sent = reply(app, later, JULIO, confirmation, "Sí adelante\n\n" + data_text(CDMX_AGENT))
    assert_des_task(app, case_id, sent)
    assert list(attachments(des_notice(app, case_id, sent))) == []


def test_yes_without_data_asks_for_each_missing_datum_then_the_data_alone_is_enough(
    app: App, pegasus: Path
) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, confirmation = opened(app, pegasus, at, CDMX_AGENT)
    timers = pending_timers(app, case_id)
    later = mx(2026, 11, 23, 11, 0)
    sent = reply(app, later, JULIO, confirmation, "Sí adelante")
    current, data = state(app, case_id)
    assert current == "confirmacion_asistente"
    assert data["aprobado"]["por"] == JULIO
    asked = to_exactly(sent, {JULIO, *ASSISTANTS_CDMX})
    assert subject_of(asked).startswith("Re: Faltan datos para el alta")
    # CAM Pegasus already has the e-mail: it is not asked.
    assert listed(asked) == [
        "Teléfono celular",
        "CURP",
        "Cédula profesional",
        "Vigencia de la cédula",
        "Ramo",
    ]
    assert form_name(CDMX_AGENT) in attachments(asked)
    assert tasks(app, case_id, "des") == []
    assert pending_timers(app, case_id) == timers  # still chased
    assert "MA-002 paso 7" in events(app, case_id)[-1].steps

    # The reminder (two business days after the confirmation) names what is missing.
    (reminder,) = [
        m for m in cycle(app, mx(2026, 11, 25, 8, 0)) if recipients(m) == ASSISTANTS_CDMX
    ]
    assert subject_of(reminder).startswith("Recordatorio: confirmación de alta")
    assert "Ya nos confirmaste el alta" in text_of(reminder)
    assert listed(reminder) == listed(asked)

    # Alexis (the other CDMX assistant) answers it with the data alone, no decision words.
    later = mx(2026, 11, 25, 9, 0)
    deliver(
        app,
        later,
        "alexis@example.com",
        "Re: " + subject_of(reminder),
        data_text(CDMX_AGENT, ["curp", "celular", "cedula", "vigencia_cedula", "ramo"]),
        authenticated=True,
        reply_to=reminder,
    )
    sent = cycle(app, later)
    current, data = state(app, case_id)
    assert current == "alta_des"
    assert data["aprobado"]["por"] == JULIO  # the approval stays Julio's
    (task,) = tasks(app, case_id, "des")
    for line in DES_LINES:
        assert line in task.body
    last = events(app, case_id)[-1]
    assert (last.actor, last.detail["trigger"]) == ("alexis@example.com", "event:mensaje")


def test_the_forms_decision_row_alone_says_yes(app: App, pegasus: Path) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, confirmation = opened(app, pegasus, at, CDMX_AGENT)
    form = ("alta.xlsx", XLSX, filled_form(confirmation, CDMX_AGENT, "Sí adelante"))
    sent = reply(app, at, JULIO, confirmation, "", files=(form,))
    assert_des_task(app, case_id, sent)
    assert events(app, case_id)[-1].detail["trigger"] == "event:mensaje"


@pytest.mark.parametrize(
    ("decision", "target", "template"),
    [
        ("Deténlo", "detenido", "Alta detenida"),
        ("Te aviso cuando proceda", "en_espera_asistente", "En espera"),
    ],
    ids=["stop", "later"],
)
def test_the_forms_decision_row_alone_stops_or_waits(
    app: App, pegasus: Path, decision: str, target: str, template: str
) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, confirmation = opened(app, pegasus, at, CDMX_AGENT)
    form = ("alta.xlsx", XLSX, fill(attachments(confirmation)[form_name(CDMX_AGENT)], {}, decision))
    sent = reply(app, mx(2026, 11, 23, 9, 0), JULIO, confirmation, "", files=(form,))
    assert state(app, case_id)[0] == target
    assert template in subject_of(to_exactly(sent, {JULIO, *ASSISTANTS_CDMX}))
    last = events(app, case_id)[-1]
    assert (last.actor, last.detail["trigger"], last.steps) == (
        JULIO,
        "event:mensaje",
        ["MA-002 paso 6"],
    )


def test_wrong_values_are_named_and_the_case_stays(app: App, pegasus: Path) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, confirmation = opened(app, pegasus, at, CDMX_AGENT)
    wrong_curp = CDMX_AGENT.curp[:-1] + ("1" if CDMX_AGENT.curp[-1] != "1" else "2")
    body = (
        "Sí adelante\n"
        f"CURP: {wrong_curp}\n"
        "Teléfono celular: 55 1234 5678\n"
        "Cédula profesional: 1234567\n"
        "Vigencia de la cédula: 01/06/2025\n"
        "Ramo: Vida\n"
    )
    sent = reply(app, mx(2026, 11, 23, 10, 0), JULIO, confirmation, body)
    current, data = state(app, case_id)
    assert current == "confirmacion_asistente"
    assert tasks(app, case_id, "des") == []
    answer = to_exactly(sent, {JULIO, *ASSISTANTS_CDMX})
    items = listed(answer)
    assert items[:2] == ["CURP", "Vigencia de la cédula"], items
    assert items[2].startswith(f"CURP: «{wrong_curp}» no es una CURP válida"), items
    assert items[3].startswith("Vigencia de la cédula: «01/06/2025» está vencida"), items
    assert len(items) == 4
    assert data["datos"] == {"celular": "5512345678", "cedula": "1234567", "ramo": "Vida"}
    assert len(data["errores_datos"]) == 2


# --- 4. "Deténlo" --------------------------------------------------------------------------------


def test_stop_ends_the_case_and_notes_it_in_pegasus_with_the_assistants_mail(
    app: App, pegasus: Path
) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, confirmation = opened(app, pegasus, at, CDMX_AGENT)
    # A question first: a specialist gets a task to answer it, and Julio an acknowledgement.
    sent = reply(app, mx(2026, 11, 23, 9, 0), JULIO, confirmation, "¿Qué datos necesitan?")
    (question,) = tasks(app, case_id, "responder")
    assert question.status == "open" and "¿Qué datos necesitan?" in question.body
    assert recipients(task_notice(sent, question)) == SPECIALISTS
    assert "Recibimos tu pregunta" in subject_of(to_exactly(sent, {JULIO}))
    assert state(app, case_id)[0] == "confirmacion_asistente"

    later = mx(2026, 11, 23, 10, 0)
    sent = reply(app, later, JULIO, confirmation, "Deténlo, ya no va a entrar.")
    current, data = state(app, case_id)
    assert current == "detenido"
    assert data["motivo_cierre"] == "detenido" and data["detenido"]["por"] == JULIO
    with app.db.sessions() as s:
        case = s.get_one(Case, case_id)
        assert case.closed_at is not None
        (knowledge,) = s.scalars(select(KnowledgeEntry)).all()
    assert (knowledge.case_id, knowledge.outcome) == (case_id, "detenido")
    assert open_tasks(app, case_id) == [] and [
        t.status for t in tasks(app, case_id, "responder")
    ] == ["done"]
    assert pending_timers(app, case_id) == {}
    stopped = to_exactly(sent, {JULIO, *ASSISTANTS_CDMX})
    assert "Alta detenida" in subject_of(stopped)
    last = events(app, case_id)[-1]
    assert (last.kind, last.actor, last.to_state) == ("transition", JULIO, "detenido")
    assert last.steps == ["MA-002 paso 6"]

    status, files = pegasus_state(pegasus)[CDMX_AGENT.clave]
    assert status == "Solicitado"
    assert len(files) == 1
    name, note = files[0]
    assert name.endswith(".eml") and "Confirmaci" in name
    assert note == f"Alta detenida por {JULIO}"
    kept = parse(pegasus_files(pegasus, CDMX_AGENT)[name])
    assert kept["From"] == JULIO and "Deténlo" in body_of(kept)
    # Nothing more is sent for a stopped case, and the next sweeps do not open it again.
    assert not [m for m in cycle(app, mx(2026, 12, 1, 8, 0)) if "MA-002" in subject_of(m)]
    assert all_cases(app) == {CDMX_AGENT.correo: ("MA-002", "detenido")}


def test_stop_registered_from_the_console_still_notes_who_stopped_it_in_pegasus(
    app: App, pegasus: Path
) -> None:
    case_id, _ = opened(app, pegasus, mx(2026, 11, 23, 8, 0), CDMX_AGENT)
    later = mx(2026, 11, 23, 10, 0)
    assert isinstance(act(app, case_id, "detener", later, motivo="El agente desistió"), Applied)
    cycle(app, later)
    assert state(app, case_id)[0] == "detenido"
    status, files = pegasus_state(pegasus)[CDMX_AGENT.clave]
    assert status == "Solicitado"
    assert [note for _, note in files] == [f"Alta detenida por {SPECIALIST}: El agente desistió"]


# --- 5. "Te aviso cuando proceda" ----------------------------------------------------------------


def test_later_with_a_day_asks_again_that_day_at_the_opening(app: App, pegasus: Path) -> None:
    wednesday = mx(2026, 11, 25, 8, 0)
    case_id, confirmation = opened(app, pegasus, wednesday, CDMX_AGENT)
    sent = reply(app, mx(2026, 11, 25, 10, 0), JULIO, confirmation, "Te aviso el lunes")
    current, data = state(app, case_id)
    assert current == "en_espera_asistente"
    assert data["espera"]["fecha_dada"] is True and data["espera"]["por"] == JULIO
    assert pending_timers(app, case_id) == {"reanudar": mx(2026, 11, 30, 8, 0)}
    ack = to_exactly(sent, {JULIO, *ASSISTANTS_CDMX})
    assert "En espera" in subject_of(ack)
    assert "Te volveremos a preguntar el 2026-11-30, como nos indicaste." in text_of(ack)
    last = events(app, case_id)[-1]
    assert (last.actor, last.to_state, last.detail["trigger"]) == (
        JULIO,
        "en_espera_asistente",
        "intent:LATER",
    )

    # No reminder on Friday, when the confirmation's first one would have come.
    assert not [m for m in cycle(app, mx(2026, 11, 27, 8, 0)) if recipients(m) & ASSISTANTS_CDMX]
    assert not cycle(app, mx(2026, 11, 30, 7, 59))
    sent = cycle(app, mx(2026, 11, 30, 8, 0))
    again = to_exactly(sent, ASSISTANTS_CDMX)
    assert subject_of(again).startswith("¿Ya procede el alta del agente")
    assert again["Auto-Submitted"] == "auto-generated"
    assert form_name(CDMX_AGENT) in attachments(again)
    assert state(app, case_id)[0] == "en_espera_asistente"
    assert pending_timers(app, case_id) == {"reanudar": mx(2026, 12, 7, 8, 0)}

    # She answers the question: "Sí adelante" with the data moves on from the wait.
    sent = reply(app, mx(2026, 11, 30, 9, 0), JULIO, again, "Sí adelante\n" + data_text(CDMX_AGENT))
    assert_des_task(app, case_id, sent)


def test_later_without_a_day_asks_every_five_days_and_the_third_time_escalates(
    app: App, pegasus: Path
) -> None:
    monday = mx(2026, 11, 23, 8, 0)
    case_id, confirmation = opened(app, pegasus, monday, CDMX_AGENT)
    sent = reply(app, mx(2026, 11, 23, 10, 0), JULIO, confirmation, "Te aviso cuando proceda")
    assert state(app, case_id)[0] == "en_espera_asistente"
    ack = to_exactly(sent, {JULIO, *ASSISTANTS_CDMX})
    assert "Te volveremos a preguntar el 2026-11-30;" in text_of(ack)
    assert pending_timers(app, case_id) == {"reanudar": mx(2026, 11, 30, 10, 0)}

    asked = []
    # Mon 30 Nov, Mon 7 Dec, Mon 14 Dec (Sat 12 Dec is closed anyway).
    for n, at in enumerate(
        (mx(2026, 11, 30, 10, 0), mx(2026, 12, 7, 10, 0), mx(2026, 12, 14, 10, 0)), 1
    ):
        sent = cycle(app, at)
        asked.append(to_exactly(sent, ASSISTANTS_CDMX))
        escalations = [m for m in sent if "[Seguimiento]" in subject_of(m)]
        assert state(app, case_id)[1]["recordatorios_espera"] == n
        if n < 3:
            assert escalations == []
        else:
            (escalation,) = escalations
            # No manager for CDMX in the config: the supervisor, with the specialists in copy.
            assert recipients(escalation) == {SUPERVISOR, *SPECIALISTS}
            assert str(escalation["To"]) == SUPERVISOR
            assert "3 veces" in body_of(escalation)
            assert escalation["Auto-Submitted"] == "auto-generated"
    assert all(subject_of(m).startswith("¿Ya procede el alta") for m in asked)
    assert pending_timers(app, case_id) == {"reanudar": mx(2026, 12, 21, 10, 0)}
    assert state(app, case_id)[0] == "en_espera_asistente"


# --- 6. no answer --------------------------------------------------------------------------------


def test_no_answer_is_reminded_twice_then_escalated_across_the_weekend(
    app: App, pegasus: Path
) -> None:
    thursday = mx(2026, 11, 26, 8, 0)
    case_id, confirmation = opened(app, pegasus, thursday, CDMX_AGENT)
    assert "2026-12-03" in body_of(confirmation)
    assert pending_timers(app, case_id) == {
        "recordatorio_asistente": mx(2026, 11, 30, 8, 0),
        "escalar_asistente": mx(2026, 12, 3, 8, 0),
    }
    reminders: list[EmailMessage] = []
    for day, next_one in (((11, 30), (12, 2)), ((12, 2), (12, 4))):
        sent = cycle(app, mx(2026, *day, 8, 0))
        assert not addressed(sent, SUPERVISOR)
        reminders += [m for m in sent if recipients(m) & ASSISTANTS_CDMX]
        assert pending_timers(app, case_id)["recordatorio_asistente"] == mx(2026, *next_one, 8, 0)
    assert len(reminders) == 2
    for reminder in reminders:
        assert recipients(reminder) == ASSISTANTS_CDMX
        assert subject_of(reminder).startswith("Recordatorio: confirmación de alta de agente")
        assert reminder["Auto-Submitted"] == "auto-generated"
        assert form_name(CDMX_AGENT) in attachments(reminder)
    reminded = [
        e.at for e in events(app, case_id) if e.detail["trigger"] == "timer:recordatorio_asistente"
    ]
    assert [app.calendar.local(at) for at in reminded] == [
        mx(2026, 11, 30, 8, 0),
        mx(2026, 12, 2, 8, 0),
    ]
    assert pending_timers(app, case_id)["escalar_asistente"] == mx(2026, 12, 3, 8, 0)

    sent = cycle(app, mx(2026, 12, 3, 8, 0))
    escalation = [m for m in sent if "[Escalamiento]" in subject_of(m)]
    assert len(escalation) == 1
    assert str(escalation[0]["To"]) == SUPERVISOR
    assert recipients(escalation[0]) == {SUPERVISOR, *SPECIALISTS}
    assert escalation[0]["Auto-Submitted"] == "auto-generated"
    (call,) = tasks(app, case_id, "llamar_asistente")
    assert call.status == "open" and "CDMX" in call.title
    assert recipients(task_notice(sent, call)) == SPECIALISTS
    last = [e for e in events(app, case_id) if e.detail["trigger"] == "timer:escalar_asistente"]
    assert len(last) == 1 and last[0].detail["escalado"] == "asistente"
    assert last[0].steps == ["MA-002 paso 4"] and last[0].actor == "mesabot"
    assert state(app, case_id)[0] == "confirmacion_asistente"
    # The reminders go on every two business days.
    assert pending_timers(app, case_id) == {"recordatorio_asistente": mx(2026, 12, 4, 8, 0)}


def test_the_escalation_of_an_approved_case_asks_for_the_missing_data(
    app: App, pegasus: Path
) -> None:
    case_id, confirmation = opened(app, pegasus, mx(2026, 11, 23, 8, 0), CDMX_AGENT)
    reply(app, mx(2026, 11, 23, 11, 0), JULIO, confirmation, "Sí adelante")
    assert state(app, case_id)[1]["aprobado"]["por"] == JULIO
    sent = cycle(app, mx(2026, 11, 30, 8, 0))
    (escalation,) = [m for m in sent if "[Escalamiento]" in subject_of(m)]
    text = text_of(escalation)
    assert "no hemos tenido respuesta" not in text, text
    assert "CURP" in text, text


# --- 7. who may answer ---------------------------------------------------------------------------


def assert_refused(
    app: App, case_id: int, sent: list[EmailMessage], sender: str, authenticated: bool
) -> EmailMessage:
    """Nothing moved; the specialists (only) were alerted; the audit trail names the sender."""
    current, data = state(app, case_id)
    assert current == "confirmacion_asistente" and "aprobado" not in data
    assert tasks(app, case_id, "des") == []
    (alert,) = sent
    assert recipients(alert) == SPECIALISTS
    assert subject_of(alert).startswith(f"[Alerta] Respuesta no válida en MA-002 #{case_id}")
    assert alert["Auto-Submitted"] == "auto-generated"
    last = events(app, case_id)[-1]
    assert (last.kind, last.actor, last.from_state, last.to_state) == (
        "action",
        sender,
        "confirmacion_asistente",
        "confirmacion_asistente",
    )
    assert last.detail["no_autorizado"] == sender
    assert last.detail["autenticado"] is authenticated
    assert last.steps == ["MA-002 paso 6"]
    return alert


@pytest.mark.parametrize(
    ("sender", "authenticated", "says"),
    [
        (ANDREA, True, "solo las asistentes comerciales de la zona CDMX"),
        (JULIO, False, "no está autenticado"),
    ],
    ids=["other_zones_assistant", "unauthenticated_assistant"],
)
def test_a_yes_from_someone_who_may_not_answer_moves_nothing_and_alerts(
    app: App, pegasus: Path, sender: str, authenticated: bool, says: str
) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, confirmation = opened(app, pegasus, at, CDMX_AGENT)
    timers = pending_timers(app, case_id)
    body = "Sí adelante\n" + data_text(CDMX_AGENT)
    sent = reply(app, at, sender, confirmation, body, authenticated=authenticated)
    alert = assert_refused(app, case_id, sent, sender, authenticated)
    assert says in text_of(alert) and sender in body_of(alert)
    assert pending_timers(app, case_id) == timers


def test_the_agent_writing_is_passed_to_a_specialist_without_alert(app: App, pegasus: Path) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, _ = opened(app, pegasus, at, CDMX_AGENT)
    deliver(
        app,
        at,
        CDMX_AGENT.correo,
        f"Mi alta [MA-002 #{case_id}]",
        "Sí adelante, ¿cuándo me llegan mis accesos?",
    )
    sent = cycle(app, at)
    assert state(app, case_id)[0] == "confirmacion_asistente"
    (notice,) = sent
    assert recipients(notice) == SPECIALISTS
    assert subject_of(notice).startswith("Nuevo mensaje:") and "[Alerta]" not in subject_of(notice)
    assert CDMX_AGENT.correo in body_of(notice) and "mis accesos" in body_of(notice)
    last = events(app, case_id)[-1]
    assert (last.actor, last.detail["trigger"]) == (CDMX_AGENT.correo, "event:mensaje")
    assert "no_autorizado" not in last.detail
    assert len(all_cases(app)) == 1


def test_a_specialist_may_answer_for_the_assistant(app: App, pegasus: Path) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, confirmation = opened(app, pegasus, at, CDMX_AGENT)
    body = "Sí adelante, me lo confirmó Julio por teléfono.\n" + data_text(CDMX_AGENT)
    sent = reply(app, at, SPECIALIST, confirmation, body)
    assert_des_task(app, case_id, sent, by=SPECIALIST)


# --- 8. forwarded answers ------------------------------------------------------------------------


def test_a_fresh_mail_from_the_assistant_naming_the_agent_reaches_the_case(
    app: App, pegasus: Path
) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, _ = opened(app, pegasus, at, CDMX_AGENT)
    later = mx(2026, 11, 23, 12, 0)
    # Not a reply: a new mail, no tag, no In-Reply-To, only the agent's name.
    deliver(
        app,
        later,
        JULIO,
        f"Alta de {CDMX_AGENT.nombre}",
        "Hola, sí adelante con el agente.\n\n" + data_text(CDMX_AGENT),
        authenticated=True,
    )
    sent = cycle(app, later)
    assert_des_task(app, case_id, sent)
    assert len(all_cases(app)) == 1  # no ticket was opened
    with app.db.sessions() as s:
        message = s.scalars(select(Message).where(Message.sender == JULIO)).one()
    assert message.case_id == case_id
    assert any("por el agente que nombra" in n for n in message.detail["notes"])


@pytest.mark.parametrize(
    "sender", [ANDREA, "alguien@correo.example.net"], ids=["other_zone", "stranger"]
)
def test_a_fresh_mail_naming_the_agent_from_outside_the_zone_is_a_ticket(
    app: App, pegasus: Path, sender: str
) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, _ = opened(app, pegasus, at, CDMX_AGENT)
    later = mx(2026, 11, 23, 12, 0)
    body = "Sí adelante con el agente.\n\n" + data_text(CDMX_AGENT)
    deliver(app, later, sender, f"Alta de {CDMX_AGENT.nombre}", body, authenticated=True)
    cycle(app, later)
    assert state(app, case_id)[0] == "confirmacion_asistente"
    processes = sorted(process for process, _ in all_cases(app).values())
    assert processes == ["MA-002", "MA-006"]


def inline_forward(confirmation: EmailMessage, sender: str, name: str, body: str) -> str:
    """Sofía's note and, under Gmail's separator, the answer she got from `sender`."""
    return (
        "Les reenvío la respuesta de la asistente.\n\n"
        "---------- Mensaje reenviado ---------\n"
        f"De: {name} <{sender}>\n"
        "Date: lun, 23 nov 2026 a las 9:12\n"
        f"Subject: Re: {subject_of(confirmation)}\n"
        f"To: Sofía Ramírez <{SPECIALIST}>\n\n"
        f"{body}\n"
    )


def forward(
    app: App, at: datetime, confirmation: EmailMessage, text: str, **kwargs: Any
) -> list[EmailMessage]:
    """Sofía, authenticated, forwards to the bot in the confirmation's thread."""
    deliver(
        app,
        at,
        SPECIALIST,
        "RV: " + subject_of(confirmation),
        text,
        authenticated=True,
        reply_to=confirmation,
        **kwargs,
    )
    return cycle(app, at)


def test_a_specialist_forwarding_the_assistants_yes_counts_as_the_assistants(
    app: App, pegasus: Path
) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, confirmation = opened(app, pegasus, at, CDMX_AGENT)
    answer = "Sí adelante\n" + data_text(CDMX_AGENT)
    sent = forward(app, at, confirmation, inline_forward(confirmation, JULIO, "Julio", answer))
    assert_des_task(app, case_id, sent, by=JULIO)
    _, data = state(app, case_id)
    assert data["aprobado"]["reenviado_por"] == SPECIALIST
    last = events(app, case_id)[-1]
    assert last.actor == JULIO
    assert last.detail["reenvio"]["por"] == SPECIALIST
    assert last.detail["reenvio"]["remitente"] == JULIO
    (task,) = tasks(app, case_id, "des")
    assert f"({JULIO}, reenviado por {SPECIALIST})" in task.body


def test_a_forwarded_yes_from_another_zones_assistant_alerts(app: App, pegasus: Path) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, confirmation = opened(app, pegasus, at, CDMX_AGENT)
    answer = "Sí adelante\n" + data_text(CDMX_AGENT)
    sent = forward(app, at, confirmation, inline_forward(confirmation, ANDREA, "Andrea", answer))
    alert = assert_refused(app, case_id, sent, ANDREA, True)
    assert f"un mensaje de {ANDREA}, reenviado por {SPECIALIST}" in text_of(alert)
    assert events(app, case_id)[-1].detail["reenvio"]["por"] == SPECIALIST


@pytest.mark.parametrize("with_form", [False, True], ids=["data_in_the_body", "form_inside"])
def test_a_yes_forwarded_as_an_attached_message_counts(
    app: App, pegasus: Path, with_form: bool
) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, confirmation = opened(app, pegasus, at, CDMX_AGENT)
    original = EmailMessage()
    original["From"] = f"Julio <{JULIO}>"
    original["To"] = SPECIALIST
    original["Subject"] = "Re: " + subject_of(confirmation)
    original["Date"] = format_datetime(mx(2026, 11, 23, 7, 30))
    original["Message-ID"] = make_msgid(domain="example.com")
    if with_form:
        # The filled Excel travels inside the forwarded message, not with the forward.
        original.set_content("Sí adelante, va el formato.")
        form = filled_form(confirmation, CDMX_AGENT)
        original.add_attachment(
            form, maintype="application", subtype=XLSX.partition("/")[2], filename="datos.xlsx"
        )
    else:
        original.set_content("Sí adelante\n" + data_text(CDMX_AGENT))
    outer = EmailMessage()
    outer["From"] = SPECIALIST
    outer["To"] = app.config.mail.address
    outer["Subject"] = "RV: " + subject_of(confirmation)
    outer["Date"] = format_datetime(at)
    outer["Message-ID"] = make_msgid(domain="example.com")
    outer["In-Reply-To"] = confirmation["Message-ID"]
    outer["Authentication-Results"] = (
        f"{AUTHSERV}; spf=pass smtp.mailfrom=example.com; dkim=pass header.d=example.com; "
        "dmarc=pass header.from=example.com"
    )
    outer.set_content("Va la respuesta de Julio.")
    outer.add_attachment(original, filename="respuesta julio.eml")  # message/rfc822, 8bit
    (app.config.mail.maildir / "inbox" / "new" / "900001.ma002.mx").write_bytes(outer.as_bytes())
    sent = cycle(app, at)
    assert_des_task(app, case_id, sent, by=JULIO)
    last = events(app, case_id)[-1]
    assert last.actor == JULIO and last.detail["reenvio"]["por"] == SPECIALIST
    files = list(attachments(des_notice(app, case_id, sent)))
    assert files == (["datos.xlsx"] if with_form else [])


# --- 9. DES 3.0, MetLife, credentials and the close ----------------------------------------------


def test_the_des_task_answered_with_the_screenshot_puts_the_agent_in_process(
    app: App, pegasus: Path
) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, _, sent = approved(app, pegasus, at)
    notice = des_notice(app, case_id, sent)

    # A reply without the screenshot moves nothing: it is passed on.
    later = mx(2026, 11, 23, 10, 0)
    sent = reply(app, later, SPECIALIST, notice, "Ya lo estoy capturando.")
    assert state(app, case_id)[0] == "alta_des"
    (passed,) = sent
    assert subject_of(passed).startswith("Nuevo mensaje:") and recipients(passed) == SPECIALISTS
    assert [t.status for t in tasks(app, case_id, "des")] == ["open"]
    assert pegasus_state(pegasus)[CDMX_AGENT.clave] == ("Solicitado", [])

    later = mx(2026, 11, 23, 11, 0)
    shot = image(1200, 800)
    reply(app, later, SPECIALIST, notice, "Listo, va la captura.", files=(("alta.png", PNG, shot),))
    current, data = state(app, case_id)
    assert current == "procesando_metlife"
    assert data["des"]["por"] == SPECIALIST and data["des"]["captura"] == "alta.png"
    assert data["documentos"]["captura"]["archivo"] == "alta.png"
    assert [t.status for t in tasks(app, case_id, "des")] == ["done"]
    last = events(app, case_id)[-1]
    assert (last.kind, last.actor, last.to_state) == (
        "transition",
        SPECIALIST,
        "procesando_metlife",
    )
    assert {f"MA-002 paso {n}" for n in (9, 10, 11, 12, 13)} == set(last.steps)

    status, files = pegasus_state(pegasus)[CDMX_AGENT.clave]
    assert status == "En proceso"
    names = [name for name, _ in files]
    assert names[0] == "alta.png" and names[1].endswith(".eml") and len(names) == 2
    assert "Confirmaci" in names[1]  # Julio's answer to the confirmation
    assert {note for _, note in files} == {"Alta generada en DES 3.0 (Pro99)"}
    kept = pegasus_files(pegasus, CDMX_AGENT)
    assert kept["alta.png"] == shot
    approval = parse(kept[names[1]])
    assert approval["From"] == JULIO and approval["Message-ID"] == data["aprobado"]["message_id"]
    with app.db.sessions() as s:
        (written,) = s.scalars(select(Outbox).where(Outbox.kind == "pegasus")).all()
    assert written.status == "sent"
    assert pending_timers(app, case_id) == {
        "revision_metlife": mx(2026, 12, 5, 11, 0),
        "escalar_metlife": mx(2026, 12, 8, 11, 0),
    }


def test_alta_generada_from_the_console_then_metlife_is_checked_at_12_and_15_days(
    app: App, pegasus: Path, tmp_path: Path, database_url: str
) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, _, _ = approved(app, pegasus, at)
    capture = tmp_path / "captura.png"
    capture.write_bytes(image(1200, 800))
    printed = mesabot(
        tmp_path,
        database_url,
        mx(2026, 11, 23, 12, 0),
        *("case", str(case_id), "alta_generada", "--attach", str(capture), "--by", SPECIALIST),
    )
    assert "alta_des -> procesando_metlife" in printed
    assert state(app, case_id)[1]["des"]["captura"] == "captura.png"
    cycle(app, mx(2026, 11, 23, 12, 0))
    status, files = pegasus_state(pegasus)[CDMX_AGENT.clave]
    assert status == "En proceso" and files[0][0] == "captura.png"
    assert len(files) == 2
    # 12 and 15 calendar days: Saturday 5 and Tuesday 8 December.
    assert pending_timers(app, case_id) == {
        "revision_metlife": mx(2026, 12, 5, 12, 0),
        "escalar_metlife": mx(2026, 12, 8, 12, 0),
    }
    (check,) = [m for m in cycle(app, mx(2026, 12, 5, 12, 0)) if "MA-002" in subject_of(m)]
    assert recipients(check) == SPECIALISTS and "Revisión: alta en Pro99" in subject_of(check)
    assert f"mesabot case {case_id} procesado" in body_of(check)

    (escalation,) = [m for m in cycle(app, mx(2026, 12, 8, 12, 0)) if "MA-002" in subject_of(m)]
    assert "[Escalamiento] Alta en Pro99 sin terminar" in subject_of(escalation)
    assert str(escalation["To"]) == SUPERVISOR
    assert recipients(escalation) == {SUPERVISOR, *SPECIALISTS}
    assert events(app, case_id)[-1].detail["escalado"] == "metlife"
    assert state(app, case_id)[0] == "procesando_metlife"
    assert pending_timers(app, case_id) == {"escalar_metlife": mx(2026, 12, 23, 12, 0)}


def test_processed_activates_the_agent_and_the_password_is_kept_nowhere(
    app: App, pegasus: Path
) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id = processing(app, pegasus, at)
    later = mx(2026, 12, 3, 10, 0)
    assert isinstance(act(app, case_id, "procesado", later), Applied)
    sent = cycle(app, later)

    current, data = state(app, case_id)
    assert current == "esperando_cierre"
    assert data["agente"]["estatus_pegasus"] == "Activo"
    assert data["agente"]["usuario"] == CDMX_AGENT.clave
    status, files = pegasus_state(pegasus)[CDMX_AGENT.clave]
    # The change brings no file: its note is kept as a small text file.
    assert status == "Activo" and files[-1] == ("nota.txt", "Alta en Pro99 completa")
    assert len(files) == 3
    steps = [step for e in events(app, case_id)[-2:] for step in e.steps]
    assert {f"MA-002 paso {n}" for n in (15, 16, 17, 18)} <= set(steps)

    assistants = [m for m in sent if recipients(m) == ASSISTANTS_CDMX]
    assert len(assistants) == 2 and len(sent) == 2
    (complete,) = [m for m in assistants if "Alta completa en Pro99" in subject_of(m)]
    (credentials,) = [m for m in assistants if "Credenciales de acceso" in subject_of(m)]
    assert f"Usuario: {CDMX_AGENT.clave}" in body_of(complete)
    assert f"[MA-002 #{case_id}]" in subject_of(credentials)
    assert attachments(credentials) == {}  # no carta custodia for an agent
    found = re.search(r"Contraseña: (\S+)", body_of(credentials))
    assert found is not None
    password = found.group(1)
    assert f"Usuario: {CDMX_AGENT.clave}" in body_of(credentials)
    assert len(password) == 14 and password != PASSWORD_PLACEHOLDER
    assert CDMX_AGENT.correo not in recipients(credentials)

    with app.db.sessions() as s:
        dump = [
            json.dumps(value, ensure_ascii=False, default=str)
            for table in Base.metadata.sorted_tables
            for row in s.execute(select(table))
            for value in row
        ]
        (row,) = s.scalars(select(Outbox).where(Outbox.kind == "credentials")).all()
        (stored,) = s.scalars(select(Message).where(Message.message_id == row.message_id)).all()
    archived = [p.read_bytes() for p in app.config.storage.archive.rglob("*") if p.is_file()]
    assert archived and dump
    assert not [d for d in dump if password in d]
    for needle in (password.encode(), quopri.encodestring(password.encode()).strip()):
        assert not [a for a in archived if needle in a]
    assert row.status == "sent" and PASSWORD_PLACEHOLDER in stored.body
    assert pending_timers(app, case_id) == {
        "recordatorio_cierre": mx(2026, 12, 7, 10, 0),
        "cierre_automatico": mx(2026, 12, 8, 10, 0),
    }


@pytest.mark.parametrize("who", ["assistant", "agent"])
def test_thanks_from_the_assistant_or_the_agent_closes(app: App, pegasus: Path, who: str) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, sent = closing(app, pegasus, at)
    (complete,) = [m for m in sent if "Alta completa" in subject_of(m)]
    later = mx(2026, 11, 24, 9, 0)
    if who == "assistant":
        sender = JULIO
        reply(app, later, JULIO, complete, "Muchas gracias, ya lo tengo")
    else:
        sender = CDMX_AGENT.correo
        deliver(
            app,
            later,
            sender,
            f"Re: Mis accesos [MA-002 #{case_id}]",
            "Muchas gracias, ya lo tengo",
        )
        cycle(app, later)
    current, data = state(app, case_id)
    assert current == "cerrado"
    assert data["motivo_cierre"] == "confirmado" and data["cierre"]["por"] == sender
    with app.db.sessions() as s:
        (knowledge,) = s.scalars(select(KnowledgeEntry)).all()
        closed_at = s.get_one(Case, case_id).closed_at
    assert closed_at is not None
    assert (knowledge.case_id, knowledge.kind, knowledge.outcome) == (
        case_id,
        "gestion_cuentas",
        "confirmado",
    )
    assert CDMX_AGENT.nombre in knowledge.problem
    last = events(app, case_id)[-1]
    assert (last.actor, last.to_state, last.steps) == (sender, "cerrado", ["MA-002 paso 19"])
    assert pending_timers(app, case_id) == {}
    assert len(all_cases(app)) == 1


def test_a_question_after_the_credentials_opens_a_linked_ticket_and_stops_the_close(
    app: App, pegasus: Path
) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, sent = closing(app, pegasus, at)
    (complete,) = [m for m in sent if "Alta completa" in subject_of(m)]
    later = mx(2026, 11, 24, 9, 0)
    sent = reply(app, later, JULIO, complete, "¿Cómo entra a Pro99 el agente?")
    current, data = state(app, case_id)
    assert current == "esperando_cierre"
    assert pending_timers(app, case_id) == {}
    with app.db.sessions() as s:
        (link,) = s.scalars(select(CaseLink)).all()
        ticket = s.get_one(Case, link.case_id)
    assert (link.other_id, link.relation) == (case_id, "duda_de")
    assert (ticket.process, ticket.requester) == ("MA-006", JULIO)
    assert CDMX_AGENT.clave in ticket.subject
    assert data["casos_relacionados"] == [f"MA-006 #{ticket.id}"]
    assert data["duda"]["por"] == JULIO
    last = events(app, case_id)[-1]
    assert (last.actor, last.steps) == (JULIO, ["MA-002 paso 20"])
    assert [m for m in sent if f"[MA-006 #{ticket.id}]" in subject_of(m)]
    # The alta no longer closes by itself.
    cycle(app, mx(2026, 12, 1, 10, 0))
    assert state(app, case_id)[0] == "esperando_cierre"


def test_no_confirmation_is_reminded_then_the_case_closes(app: App, pegasus: Path) -> None:
    at = mx(2026, 11, 23, 10, 0)
    case_id, _ = closing(app, pegasus, at)
    assert pending_timers(app, case_id) == {
        "recordatorio_cierre": mx(2026, 11, 25, 10, 0),
        "cierre_automatico": mx(2026, 11, 26, 10, 0),
    }
    (reminder,) = [
        m for m in cycle(app, mx(2026, 11, 25, 10, 0)) if recipients(m) & ASSISTANTS_CDMX
    ]
    assert recipients(reminder) == ASSISTANTS_CDMX
    assert "ya pudo entrar" in subject_of(reminder) and "2026-11-26" in body_of(reminder)
    assert reminder["Auto-Submitted"] == "auto-generated"
    (closed,) = [m for m in cycle(app, mx(2026, 11, 26, 10, 0)) if recipients(m) & ASSISTANTS_CDMX]
    assert "Alta cerrada" in subject_of(closed)
    current, data = state(app, case_id)
    assert (current, data["motivo_cierre"]) == ("cerrado", "sin_respuesta")
    last = events(app, case_id)[-1]
    assert (last.actor, last.steps) == ("mesabot", ["MA-002 paso 19"])
    assert pending_timers(app, case_id) == {}


def des_asks_for_more(app: App, pegasus: Path) -> tuple[int, EmailMessage]:
    """DES 3.0 wanted one more datum: the assistants were asked for it; the case and the mail."""
    case_id, _, _ = approved(app, pegasus, mx(2026, 11, 23, 8, 0))
    later = mx(2026, 11, 23, 11, 0)
    asked = act(app, case_id, "pedir_datos", later, nota="DES 3.0 pide el número de INE")
    assert isinstance(asked, Applied)
    sent = cycle(app, later)
    assert state(app, case_id)[0] == "confirmacion_asistente"
    assert [t.status for t in tasks(app, case_id, "des")] == ["done"]
    mail = to_exactly(sent, ASSISTANTS_CDMX)
    assert subject_of(mail).startswith("Un dato más para el alta")
    assert "DES 3.0 pide el número de INE" in body_of(mail)
    assert form_name(CDMX_AGENT) in attachments(mail)
    return case_id, mail


def test_des_asking_for_another_datum_goes_back_to_the_assistant(app: App, pegasus: Path) -> None:
    case_id, mail = des_asks_for_more(app, pegasus)
    sent = reply(app, mx(2026, 11, 23, 12, 0), JULIO, mail, "Observaciones: INE 1234567890")
    assert state(app, case_id)[0] == "alta_des"
    first, second = tasks(app, case_id, "des")
    assert (first.status, second.status) == ("done", "open")
    assert "Observaciones: INE 1234567890" in second.body
    assert recipients(task_notice(sent, second)) == SPECIALISTS


def test_an_answer_without_the_datum_des_asked_for_does_not_go_back_to_des(
    app: App, pegasus: Path
) -> None:
    case_id, mail = des_asks_for_more(app, pegasus)
    sent = reply(app, mx(2026, 11, 23, 12, 0), JULIO, mail, "Ahorita lo busco y te lo mando.")
    assert not [m for m in sent if "Procedemos" in subject_of(m)]
    assert [t.status for t in tasks(app, case_id, "des")] == ["done"]
    assert state(app, case_id)[0] == "confirmacion_asistente"


# --- 10. courtesy after the close ----------------------------------------------------------------


@pytest.mark.parametrize(
    "words",
    [
        "Muchas gracias, ya lo tengo",
        "¡Muchas gracias!",
    ],
    ids=["thanks_done", "bare_thanks"],
)
def test_thanks_to_a_closed_case_opens_no_new_ticket(app: App, pegasus: Path, words: str) -> None:
    at = mx(2026, 11, 23, 8, 0)
    case_id, sent = closing(app, pegasus, at)
    (complete,) = [m for m in sent if "Alta completa" in subject_of(m)]
    sent = reply(app, mx(2026, 11, 24, 9, 0), JULIO, complete, "Muchas gracias, ya lo tengo")
    assert state(app, case_id)[0] == "cerrado"
    (closed,) = [m for m in sent if "Alta cerrada" in subject_of(m)]
    assert recipients(closed) == ASSISTANTS_CDMX

    sent = reply(app, mx(2026, 11, 24, 10, 0), JULIO, closed, words)
    assert sent == []
    assert len(all_cases(app)) == 1
    with app.db.sessions() as s:
        (message,) = s.scalars(
            select(Message).where(
                (Message.direction == "in") & (Message.at == mx(2026, 11, 24, 10, 0))
            )
        ).all()
    assert message.case_id == case_id
    last = events(app, case_id)[-1]
    assert (last.kind, last.actor) == ("message_attached", JULIO)


# --- 11. the definition and its templates --------------------------------------------------------

DOCUMENTED_STATES = {
    "sin_zona",
    "confirmacion_asistente",
    "en_espera_asistente",
    "detenido",
    "alta_des",
    "procesando_metlife",
    "confirmacion_acceso",
    "esperando_cierre",
    "cerrado",
}


def test_rules_listing_names_every_state_and_the_steps_of_every_transition(
    app: App, tmp_path: Path, database_url: str
) -> None:
    printed = mesabot(tmp_path, database_url, mx(2026, 11, 23, 10, 0), "rules", "MA-002")
    states, transitions = printed.split("Transiciones:")
    assert set(re.findall(r"^  ([a-z_]+) {2,}", states, re.M)) == DOCUMENTED_STATES
    listed = re.split(r"\n(?=  \S)", transitions.strip())
    assert len(listed) == len(ma002_agents.PROCESS.transitions)
    for transition in listed:
        assert "-->" in transition and re.search(r"\bMA-002 paso \d+\b", transition), transition


def test_every_template_ma002_uses_renders_strictly(app: App, pegasus: Path) -> None:
    case_id, _, _ = approved(app, pegasus, mx(2026, 11, 23, 8, 0))
    sweep(app, pegasus, mx(2026, 11, 24, 8, 0), LOST_AGENT)
    lost_id = case_for(app, LOST_AGENT)
    assert state(app, lost_id)[0] == "sin_zona"
    root = app.templates.root
    mail, task_files = templates_used(
        root,
        "MA-002",
        [Path(ma002_agents.__file__), ROOT / "bot" / "sweeps.py"],
        {"common/tarea", "common/temporizador_fallido"},
    )
    shipped = {
        f"MA-002/{p.name.removesuffix('.txt.j2')}" for p in root.glob("email/MA-002/*.txt.j2")
    }
    assert shipped == {n for n in mail if n.startswith("MA-002/")}  # none left unused

    full: dict[str, Any] = {
        "limite": "2026-11-30",
        "faltan": ["CURP", "Ramo"],
        "aprobado": True,
        "pedido": "Fecha de nacimiento del agente",
        "errores": ["Vigencia de la cédula: «01/06/2025» está vencida."],
        "fecha": "2026-11-30",
        "fecha_dada": True,
        "veces": 3,
        "texto": "¿Qué datos necesitan?\nGracias.",
        "remitente": ANDREA,
        "especialista": SPECIALIST,
        "autenticado": True,
        "reenviado_por": SPECIALIST,
        "usuario": CDMX_AGENT.clave,
        "login": CDMX_AGENT.clave,
        "contrasena": PASSWORD_PLACEHOLDER,
        "fecha_cierre": "2026-11-26",
        "motivo": "El agente desistió",
        "aviso": "barrido_agentes",
        "error": "PegasusUnavailable: CAM Pegasus no responde",
        "intentos": 5,
        "cambio": f"En CAM Pegasus, busca al agente con clave {CDMX_AGENT.clave}",
        "task": {"id": 7, "title": "Alta en DES 3.0", "body": "Detalle de la tarea"},
    }
    empty = {
        **full,
        "faltan": [],
        "errores": [],
        "fecha_dada": False,
        "autenticado": False,
        "aprobado": False,
        "pedido": "",
    }
    empty |= {"reenviado_por": "", "texto": ""}
    # The two templates whose names mean something else there.
    own: dict[str, dict[str, Any]] = {
        "MA-002/credenciales": {
            "usuario": {"nombre": CDMX_AGENT.nombre, "clave": CDMX_AGENT.clave},
        },
        "MA-002/barrido_errores": {
            "errores": [{"id": "9", "nombre": "Agente 9", "error": "sin clave"}],
        },
    }
    # Mail a case without a zone may get (its task, messages passed on or alerted).
    before_zone = {"MA-002/nuevo_mensaje", "MA-002/remitente_no_autorizado", "MA-002/seguimiento"}
    before_zone |= {"MA-002/cerrado_especialista", "common/tarea", "common/temporizador_fallido"}
    with app.db.sessions() as s:
        cases = [
            (s.get_one(Case, case_id), set(mail), task_files),
            (
                s.get_one(Case, lost_id),
                before_zone,
                [p for p in task_files if p.name != "alta_des.txt.j2"],
            ),
        ]
        for case, names, files in cases:
            for extra in (full, empty):
                for name in sorted(names):
                    context = app.workflow.render_context(case, {**extra, **own.get(name, {})})
                    rendered = app.templates.mail(name, context)
                    assert rendered.subject and rendered.body.strip(), name
                    assert "None" not in rendered.subject, (name, rendered.subject)
                for path in files:
                    text = app.templates.text(
                        str(path.relative_to(root)), app.workflow.render_context(case, extra)
                    )
                    assert case.data["agente"]["nombre"] in text or "CAM Pegasus" in text, path
    # Mail about no case at all: the sweep's errors and a parked job.
    for name in ("MA-002/barrido_errores", "common/temporizador_fallido"):
        for extra in (full, empty):
            context = app.workflow.render_context(None, {**extra, **own.get(name, {})})
            rendered = app.templates.mail(name, context)
            assert rendered.subject and rendered.body.strip(), name
