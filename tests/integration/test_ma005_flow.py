"""MA-005 in process on the real database: the edges of the recertification the e2e skips.

Mail goes in as files in the Maildir inbox and `cycle(app, T)` runs the daemon once. CAM
Pegasus is a SQLite file behind the sql adapter (or the shipped manual adapter, or a path
that cannot be opened); MetLife's files are built by tests/recert_data.py and the hostile
ones by tests/hostile_files.py. The outbox, the audit trail, the tasks and the case data
are checked at each step.
"""

from __future__ import annotations

import io
import shutil
import sqlite3
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.app import App, build_app
from bot.cli import cli
from bot.clock import FixedClock
from bot.config import Config, load_config
from bot.digest import render_digest
from bot.rules.ma005_recert import PROCESS
from bot.workflow import Applied
from storage.models import Event, Outbox
from tests.conftest import ROOT, mx
from tests.integration.test_ma001_flow import (
    SPECIALIST,
    SPECIALISTS,
    SUPERVISOR,
    act,
    attachments,
    body_of,
    built,
    cycle,
    deliver,
    events,
    last_case,
    needs_hostile,
    only,
    quarantined,
    recipients,
    state,
    subject_of,
    task_notice,
    tasks,
)
from tests.ma002_data import SCHEMA, sql_pegasus_config
from tests.mail_data import AUTHSERV
from tests.recert_data import metlife_file, metlife_rows

METLIFE = "recertificacion@metlife.example.com"
DIRECTOR = "director.general@example.com"
COMMERCIAL = "comercial@example.com"
OPERATIONS = "operaciones@example.com"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
USERS = 12
SEED = 7
ROWS = metlife_rows(USERS, seed=SEED)
SUBJECT = "Recertificación anual de usuarios 2026 - B'Life, Pro99 y Gestión Móvil"
BODY = (
    "Buen día. Adjunto el archivo de recertificación anual de usuarios. Les pedimos "
    "devolverlo validado con la carta responsiva firmada a más tardar el viernes 11 de "
    "diciembre.\n\nSaludos,\nMónica González\nMetLife México"
)
MONDAY = mx(2026, 11, 23, 9, 0)


def key(index: int) -> str:
    """The matching key of a user of the built file."""
    text = "".join(ROWS[index].hid.split()).lstrip("'")
    return (text.lstrip("0") or "0") if text.isdigit() else text


# User 3 was removed in CAM Pegasus; user 5 is not in it; the rest are active.
PEGASUS_STATUS = {3: "Baja"}
MISSING = 5


# --- the world around the bot -------------------------------------------------------------


@pytest.fixture
def pegasus(tmp_path: Path) -> Path:
    """CAM Pegasus on SQLite with MetLife's users and their HIDs."""
    path = tmp_path / "pegasus.db"
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    for index, row in enumerate(ROWS):
        if index == MISSING:
            continue
        con.execute(
            "INSERT INTO pegasus_usuarios (nombre, rfc, correo, estatus, tipo, hid) "
            "VALUES (?, '', ?, ?, 'administrativo', ?)",
            (row.nombre, f"u{index}@example.com", PEGASUS_STATUS.get(index, "Activo"), key(index)),
        )
    con.commit()
    con.close()
    return path


@pytest.fixture
def config(tmp_path: Path, database_url: str, pegasus: Path) -> Config:
    """The shipped config.toml trusting our MTA, with CAM Pegasus read by SQL."""
    (tmp_path / "config.toml").write_text(sql_pegasus_config(pegasus), encoding="utf-8")
    return load_config(tmp_path / "config.toml", {"MESABOT_STORAGE_URL": database_url})


def other_app(
    tmp_path: Path, database_url: str, name: str, text: str, config_dir: Path = ROOT
) -> App:
    """A second application on the same database and folders, with another config file."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    cfg = load_config(tmp_path / name, {"MESABOT_STORAGE_URL": database_url})
    second = build_app(cfg, FixedClock(MONDAY), config_dir)
    second.mail.ensure()
    # Temporary failures are retried at once a few times: no real waiting in a test.
    second.dispatcher.sleep = lambda _seconds: None
    return second


def manual_config_text() -> str:
    """The shipped config.toml (CAM Pegasus by hand) trusting our MTA."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    return text.replace("trusted_authserv_ids = []", f'trusted_authserv_ids = ["{AUTHSERV}"]')


def metlife_sends(
    app: App, at: datetime, content: bytes, *, reply_to: EmailMessage | None = None
) -> EmailMessage:
    """MetLife's authenticated mail with its recertification file."""
    subject = SUBJECT if reply_to is None else "RE: " + subject_of(reply_to)
    return deliver(
        app,
        at,
        METLIFE,
        subject,
        BODY if reply_to is None else "Les reenvío el archivo correcto.",
        files=(("Recertificacion_2026.xlsx", XLSX, content),),
        authenticated=True,
        reply_to=reply_to,
    )


def to(messages: list[EmailMessage], address: str, words: str = "") -> EmailMessage:
    """The one message with this address in To or Cc (whose subject has these words)."""
    found = [m for m in messages if address in recipients(m) and words in subject_of(m)]
    assert len(found) == 1, [(str(m["To"]), subject_of(m)) for m in messages]
    return found[0]


def xlsx_of(msg: EmailMessage) -> tuple[str, bytes]:
    """The one spreadsheet a message carries: its name and bytes."""
    [(name, content)] = [(n, c) for n, c in attachments(msg).items() if n.endswith(".xlsx")]
    return name, content


def validation_rows(content: bytes) -> dict[str, dict[str, Any]]:
    """HID key -> the row of the validation file (by header)."""
    sheet = openpyxl.load_workbook(io.BytesIO(content))["Validación"]
    rows = list(sheet.iter_rows(values_only=True))
    header = [str(v) for v in rows[0]]
    found: dict[str, dict[str, Any]] = {}
    for values in rows[1:]:
        row = dict(zip(header, values, strict=False))
        text = str(row["HID"]).strip()
        found[text.lstrip("0") if text.isdigit() else text] = row
    return found


def jobs(app: App, case_id: int) -> list[Outbox]:
    """The case's job rows, oldest first."""
    with app.db.sessions() as s:
        query = select(Outbox).where((Outbox.case_id == case_id) & (Outbox.kind == "job"))
        return list(s.scalars(query.order_by(Outbox.id)))


def job_events(app: App, case_id: int, name: str) -> list[Event]:
    """The audit events of a job's result handed back to the case."""
    return [e for e in events(app, case_id) if e.detail.get("trigger") == f"event:{name}"]


def to_validacion_areas(app: App, at: datetime = MONDAY) -> tuple[int, list[EmailMessage]]:
    """MetLife's good file, validated against CAM Pegasus and sent to the areas."""
    metlife_sends(app, at, metlife_file(USERS, seed=SEED))
    sent = cycle(app, at)
    case_id = last_case(app)
    assert state(app, case_id)[0] == "validacion_areas"
    return case_id, sent


# --- a hostile spreadsheet ------------------------------------------------------------------


@needs_hostile
@pytest.mark.parametrize("hostile", ["macro_workbook", "zip_bomb"])
def test_a_hostile_file_is_refused_in_spanish_and_a_good_one_in_the_reply_goes_on(
    app: App, hostile: str
) -> None:
    first = metlife_sends(app, MONDAY, built(hostile))
    sent = cycle(app, MONDAY)

    case_id = last_case(app)
    current, data = state(app, case_id)
    assert current == "recibido" and "usuarios" not in data
    assert data["fecha_limite"] == "2026-12-11"
    assert quarantined(app) == []
    answer = only(sent, METLIFE)
    assert subject_of(answer) == (
        f"Re: No pudimos abrir el archivo de recertificación [MA-005 #{case_id}]"
    )
    assert answer["In-Reply-To"] == first["Message-ID"]
    assert answer["Auto-Submitted"] == "auto-replied"
    text = body_of(answer)
    assert "No pudimos abrir el archivo «Recertificacion_2026.xlsx»" in text
    assert "por seguridad, no lo abrimos" in text
    alert = to(sent, SPECIALIST, "URGENTE")
    assert recipients(alert) == SPECIALISTS | {SUPERVISOR}
    assert "11 de diciembre de 2026" in body_of(alert)
    assert "por seguridad, no lo abrimos" in body_of(alert)
    assert jobs(app, case_id) == []
    with app.db.sessions() as s:
        rows = s.scalars(select(Outbox).where(Outbox.case_id == case_id)).all()
        assert {r.status for r in rows} == {"sent"}

    # MetLife answers our mail with a good file: it is validated and goes to the areas.
    later = mx(2026, 11, 23, 11, 0)
    metlife_sends(app, later, metlife_file(USERS, seed=SEED), reply_to=answer)
    sent = cycle(app, later)
    current, data = state(app, case_id)
    assert current == "validacion_areas" and last_case(app) == case_id
    assert len(data["usuarios"]) == USERS
    assert data["fecha_limite"] == "2026-12-11"
    areas = only(sent, COMMERCIAL)
    assert OPERATIONS in recipients(areas)
    name, content = xlsx_of(areas)
    assert name == f"validacion_recertificacion_MA-005-{case_id}.xlsx"
    assert len(validation_rows(content)) == USERS


# --- CAM Pegasus by hand (the shipped default) -------------------------------------------------


def fill_pegasus(content: bytes, statuses: dict[str, str]) -> bytes:
    """The validation file with «Estatus CAM Pegasus» filled, as a specialist would in Excel."""
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    sheet = workbook["Validación"]
    header = [c.value for c in sheet[1]]
    hid_at, status_at = header.index("HID"), header.index("Estatus CAM Pegasus")
    for row in sheet.iter_rows(min_row=2):
        text = str(row[hid_at].value).strip()
        row[status_at].value = statuses[text.lstrip("0") if text.isdigit() else text]
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_manual_pegasus_is_a_task_and_the_specialists_file_feeds_the_areas(
    tmp_path: Path, database_url: str
) -> None:
    app = other_app(tmp_path, database_url, "config_manual.toml", manual_config_text())
    try:
        metlife_sends(app, MONDAY, metlife_file(USERS, seed=SEED))
        sent = cycle(app, MONDAY)
        case_id = last_case(app)
        assert state(app, case_id)[0] == "validando"
        (task,) = tasks(app, case_id, "validacion_manual")
        assert task.status == "open"
        assert f"MA-005 #{case_id}" in task.title and str(USERS) in task.body
        notice = task_notice(sent, task)
        assert recipients(notice) == SPECIALISTS
        name, content = xlsx_of(notice)
        assert name == f"validacion_recertificacion_MA-005-{case_id}.xlsx"
        blank = validation_rows(content)
        assert set(blank) == {key(i) for i in range(USERS)}
        assert {r["Estatus CAM Pegasus"] for r in blank.values()} == {None}
        assert {r["Evidencia CAM Pegasus"] for r in blank.values()} == {
            "Revisar a mano en CAM Pegasus"
        }
        assert not [m for m in sent if COMMERCIAL in recipients(m)]

        # The specialist fills the column in CAM Pegasus' words and answers the notice.
        statuses = {key(i): "Activo" for i in range(USERS)}
        statuses[key(3)] = "Baja"
        statuses[key(MISSING)] = "No encontrado"
        later = mx(2026, 11, 23, 12, 0)
        deliver(
            app,
            later,
            SPECIALIST,
            "Re: " + subject_of(notice),
            "Va el archivo con los estatus de CAM Pegasus.",
            files=(("validacion_llena.xlsx", XLSX, fill_pegasus(content, statuses)),),
            authenticated=True,
            reply_to=notice,
        )
        sent = cycle(app, later)

        current, data = state(app, case_id)
        assert current == "validacion_areas" and last_case(app) == case_id
        by_key = {u["clave"]: u for u in data["usuarios"]}
        assert by_key[key(0)]["pegasus"] == "Activo" and by_key[key(0)]["propuesta"] == "Activo"
        assert by_key[key(3)]["pegasus"] == "Baja" and by_key[key(3)]["propuesta"] == "Baja"
        assert by_key[key(MISSING)]["pegasus"] == "Sin información"
        assert by_key[key(MISSING)]["propuesta"] == "Baja"
        assert {u["evidencia"] for u in by_key.values()} == {
            "Capturado a mano en CAM Pegasus por un especialista"
        }
        assert data["resumen_pegasus"] == {"Activo": USERS - 2, "Baja": 1, "Sin información": 1}
        assert [t.status for t in tasks(app, case_id, "validacion_manual")] == ["done"]
        assert len(job_events(app, case_id, "validacion_pegasus")) == 2
        areas = only(sent, COMMERCIAL)
        assert recipients(areas) == {COMMERCIAL, OPERATIONS} | SPECIALISTS
        filled = validation_rows(xlsx_of(areas)[1])
        assert filled[key(3)]["Estatus CAM Pegasus"] == "Baja"
        assert filled[key(3)]["Propuesta Mesa de Ayuda"] == "Baja"
        assert filled[key(0)]["Propuesta Mesa de Ayuda"] == "Activo"
    finally:
        app.db.dispose()


# --- CAM Pegasus unreachable ------------------------------------------------------------------


def test_unreachable_pegasus_keeps_the_job_pending_and_loses_nothing(
    app: App, tmp_path: Path, database_url: str, pegasus: Path
) -> None:
    # Today's digest and agents' sweep run first, on the app that reaches CAM Pegasus.
    cycle(app, mx(2026, 11, 23, 8, 30))
    folder = tmp_path / "pegasus_is_a_folder"
    folder.mkdir()
    text = sql_pegasus_config(pegasus).replace(f"sqlite:///{pegasus}", f"sqlite:///{folder}")
    down = other_app(tmp_path, database_url, "config_down.toml", text)
    try:
        metlife_sends(down, MONDAY, metlife_file(USERS, seed=SEED))
        sent = cycle(down, MONDAY)
        case_id = last_case(down)
        current, data = state(down, case_id)
        assert current == "validando" and len(data["usuarios"]) == USERS
        # MetLife and the team heard of it all the same.
        assert "[MA-005 #" in subject_of(only(sent, METLIFE))
        to(sent, SPECIALIST, "URGENTE")
        (job,) = jobs(down, case_id)
        assert (job.status, job.attempts, job.payload["job"]) == (
            "pending",
            1,
            "validacion_pegasus",
        )
        assert job.payload["state"] == "validando"
        assert "CAM Pegasus no responde" in (job.last_error or "")
        assert job_events(down, case_id, "validacion_pegasus") == []
        assert "validacion" not in data["documentos"]

        # Still down a few minutes later: retried, nothing changes.
        sent = cycle(down, mx(2026, 11, 23, 9, 10))
        assert sent == [] and state(down, case_id)[0] == "validando"
        (job,) = jobs(down, case_id)
        assert (job.status, job.attempts) == ("pending", 2)
    finally:
        down.db.dispose()

    # CAM Pegasus answers again: the same job row runs and the case moves on.
    sent = cycle(app, mx(2026, 11, 23, 9, 30))
    current, data = state(app, case_id)
    assert current == "validacion_areas"
    (job,) = jobs(app, case_id)
    assert (job.status, job.attempts) == ("sent", 3)
    by_key = {u["clave"]: u for u in data["usuarios"]}
    assert by_key[key(3)]["pegasus"] == "Baja" and by_key[key(MISSING)]["pegasus"] == (
        "Sin información"
    )
    assert len(by_key) == USERS
    areas = only(sent, COMMERCIAL)
    assert len(validation_rows(xlsx_of(areas)[1])) == USERS
    assert len(job_events(app, case_id, "validacion_pegasus")) == 1


# --- the package job fails --------------------------------------------------------------------


def test_a_broken_letter_template_stops_the_package_with_an_alert_and_a_retry(
    tmp_path: Path, database_url: str, pegasus: Path
) -> None:
    # The installation keeps its own templates beside config.toml; the letter got broken.
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    letter = tmp_path / "templates" / "letters" / "carta_responsiva.docx"
    letter.write_bytes(b"no es un documento de Word")
    app = other_app(
        tmp_path, database_url, "config_own.toml", sql_pegasus_config(pegasus), tmp_path
    )
    try:
        case_id, _ = to_validacion_areas(app)
        at = mx(2026, 11, 23, 10, 0)
        assert isinstance(act(app, case_id, "consolidar", at), Applied)
        sent = cycle(app, at)

        assert state(app, case_id)[0] == "consolidando"
        alert = to(sent, SPECIALIST, "se detuvo")
        assert recipients(alert) == SPECIALISTS | {SUPERVISOR}
        assert alert["Importance"] == "high"
        text = body_of(alert)
        assert "«paquete»" in text
        assert "No se pudo generar la carta responsiva" in text
        assert "no es un documento de Word (.docx) válido" in text
        assert f"mesabot case {case_id} reintentar" in text
        assert not [m for m in sent if DIRECTOR in recipients(m)]
        (failed,) = job_events(app, case_id, "paquete")
        assert "No se pudo generar la carta responsiva" in failed.detail["falla"]

        # The template is put back; the retry builds the package for the director.
        shutil.copyfile(ROOT / "templates" / "letters" / "carta_responsiva.docx", letter)
        later = mx(2026, 11, 23, 11, 0)
        assert isinstance(act(app, case_id, "reintentar", later), Applied)
        sent = cycle(app, later)
        current, data = state(app, case_id)
        assert current == "esperando_firma"
        package = to(sent, DIRECTOR, "firma")
        names = set(attachments(package))
        assert f"carta_responsiva_MA-005-{case_id}.docx" in names
        assert "Recertificacion_2026_certificado.xlsx" in names
        assert data["totales"]["total"] == USERS
        assert data["totales"]["bajas"] == 2  # removed in CAM Pegasus, and not in it
    finally:
        app.db.dispose()


# --- the daily digest and the listing ---------------------------------------------------------


def test_the_digest_lists_the_recertification_with_its_countdown(app: App) -> None:
    case_id, _ = to_validacion_areas(app)
    deliver(
        app,
        mx(2026, 11, 24, 10, 0),
        COMMERCIAL,
        f"RE: Recertificación [MA-005 #{case_id}]",
        "De acuerdo con la propuesta, sin cambios.",
        authenticated=True,
    )
    cycle(app, mx(2026, 11, 24, 10, 0))
    assert state(app, case_id)[0] == "validacion_areas"

    with app.db.sessions() as s:
        text = render_digest(app.workflow, s, mx(2026, 11, 25, 8, 0))
    section = text.split("RECERTIFICACIÓN METLIFE (1)", 1)[1].split("CASOS ABIERTOS", 1)[0]
    assert f"MA-005 #{case_id}" in section
    assert "fecha límite viernes 11 de diciembre de 2026" in section
    # Wednesday 25 November: Thursday 26 to Friday 11 December.
    assert "faltan 12 día(s) hábil(es)" in section
    assert "envío 09/12/2026 08:00" in section
    assert "Falta: la respuesta de Operaciones" in section
    # Every specialist's digest, and the supervisor's, carries it.
    assert text.count("RECERTIFICACIÓN METLIFE (1)") == len(SPECIALISTS) + 1


def test_rules_listing_names_every_state() -> None:
    listed = CliRunner().invoke(cli, ["rules", "MA-005"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.startswith("MA-005 Recertificación anual de usuarios MetLife")
    for st in PROCESS.states:
        assert f"  {st.slug:<24} {st.label}" in listed.output, st.slug
    assert "Esperando firma del director [espera al director]" in listed.output
    assert "temporizador cierre_areas: a los 3 días hábiles" in listed.output
    for n in range(1, 28):
        assert f"MA-005 paso {n}" in listed.output, n
