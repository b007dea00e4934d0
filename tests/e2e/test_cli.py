"""End-to-end tests of the `mesabot` command line, run as a real subprocess.

Every test works in its own folder holding a copy of the shipped config.toml, so the
relative var/ paths (SQLite database, Maildir) resolve inside that folder. The long
MA-006 ticket story is played once per test run (shared by pytest-xdist workers through
a lock) by a module-scoped fixture that records what each step printed and what the
outbox held after each cycle; the tests only read that record.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

try:
    import fcntl
except ImportError:  # not POSIX: every worker plays the shared story itself
    fcntl = None  # type: ignore[assignment]

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = REPO / "config.toml"
MX = ZoneInfo("America/Mexico_City")

_PEOPLE = tomllib.loads(SHIPPED_CONFIG.read_text(encoding="utf-8"))["people"]
SPECIALISTS = [p["email"] for p in _PEOPLE["specialists"]]
SUPERVISOR = _PEOPLE["supervisor"]["email"]
TEAM = {*SPECIALISTS, SUPERVISOR}
SPECIALIST = SPECIALISTS[0]

REQUESTER = "ana.perez@example.com"
TAG = "[MA-006 #1]"
MA006_STATES = ("pendiente_atencion", "en_proceso", "en_validacion", "cerrado")
CONTRACT_COMMANDS = ("check-config", "run", "cases", "case", "tasks", "rules", "digest", "classify")

# Friday 20 November 2026. Office hours on Fridays are 08:00-15:00; Nov 21-22 are a
# weekend and Monday Nov 16 (Revolución) is a holiday already in the past.
FRIDAY = "2026-11-20T10:00"
FRIDAY_TAKE = "2026-11-20T10:30"
FRIDAY_RESOLVE = "2026-11-20T11:00"
FRIDAY_AFTER_CLOSE = "2026-11-20T16:00"
MONDAY_OPENING = "2026-11-23T08:00"
TUESDAY = "2026-11-24T11:00"
WEDNESDAY = "2026-11-25T11:00"

SUMMARY_KEYS = {
    "id",
    "ref",
    "process",
    "state",
    "state_label",
    "subject",
    "requester",
    "created_at",
    "updated_at",
    "data",
}
EVENT_KEYS = {"at", "kind", "from_state", "to_state", "actor", "steps", "detail"}
MESSAGE_KEYS = {"direction", "channel", "from", "to", "subject", "at", "message_id"}
CASE_TASK_KEYS = {"id", "title", "assignee", "status", "due_at"}
TASK_KEYS = {"id", "case_id", "title", "assignee", "status", "due_at"}
TIMER_KEYS = {"kind", "due_at"}
LINK_KEYS = {"case_id", "relation"}


# --- helpers ------------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    """The environment for a child: no MESABOT_* overrides leak in from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESABOT_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["COLUMNS"] = "120"  # rich help/table output: wide enough, independent of the terminal
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


def _ensure_config(tmp: Path) -> Path:
    """The folder's config.toml, a copy of the shipped one unless the test wrote its own."""
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "config.toml"
    if not config.exists():
        shutil.copyfile(SHIPPED_CONFIG, config)
    return config


def mesabot(tmp: Path, *args: str, now: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot --config <tmp>/config.toml [--now NOW] ARGS...` inside tmp."""
    config = _ensure_config(tmp)
    cmd = [sys.executable, "-m", "bot", "--config", str(config)]
    if now is not None:
        cmd += ["--now", now]
    cmd += args
    return subprocess.run(
        cmd,
        cwd=tmp,
        env=_env(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """Assert a run exited 0, showing its output when it did not."""
    assert result.returncode == 0, (
        f"{result.args[3:]} exited {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def usage_error(result: subprocess.CompletedProcess[str]) -> str:
    """Assert a run exited 2 (usage or configuration error); return its stderr."""
    assert result.returncode == 2, (
        f"{result.args[3:]} exited {result.returncode}, expected 2\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result.stderr


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    """The JSON a successful run printed on stdout."""
    return json.loads(ok(result).stdout)


def outbox(tmp: Path) -> dict[str, EmailMessage]:
    """Every file in <maildir>/outbox/new, parsed, by file name."""
    return outbox_in(tmp / "var" / "mail" / "outbox" / "new")


def outbox_in(folder: Path) -> dict[str, EmailMessage]:
    """Every message file in a folder, parsed, by file name."""
    if not folder.is_dir():
        return {}
    return {
        p.name: message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted(folder.iterdir())
    }


def recipients(msg: EmailMessage) -> set[str]:
    """The To and Cc addresses of a message."""
    found: set[str] = set()
    for header in ("To", "Cc"):
        if msg[header] is not None:
            found.update(a.addr_spec.lower() for a in msg[header].addresses)
    return found


def to_person(messages: dict[str, EmailMessage], email: str) -> list[EmailMessage]:
    """The messages addressed to one person."""
    return [m for m in messages.values() if email in recipients(m)]


def new_since(
    before: dict[str, EmailMessage], after: dict[str, EmailMessage]
) -> dict[str, EmailMessage]:
    """The outbox files that appeared between two snapshots."""
    return {name: msg for name, msg in after.items() if name not in before}


def mx_time(value: str) -> datetime:
    """A wall-clock time in Mexico City, written like the --now options above."""
    return datetime.fromisoformat(value).replace(tzinfo=MX)


def assert_offset_timestamp(value: str | None, where: str) -> None:
    """ISO 8601 with the organization's offset (-06:00; Mexico has no DST since 2022)."""
    assert isinstance(value, str), f"{where}: {value!r} is not a timestamp string"
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(hours=-6), f"{where}: {value!r} lacks -06:00"
    assert value.endswith("-06:00"), f"{where}: {value!r}"


def body_of(msg: EmailMessage) -> str:
    """The plain-text body of a message."""
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


# --- help and configuration ---------------------------------------------------------------


def test_help_lists_the_contract_commands(tmp_path: Path) -> None:
    result = ok(mesabot(tmp_path, "--help"))
    for name in CONTRACT_COMMANDS:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", result.stdout), name
    for option in ("--config", "--now"):
        assert option in result.stdout


def test_check_config_accepts_the_shipped_config(tmp_path: Path) -> None:
    result = ok(mesabot(tmp_path, "check-config"))
    assert "válida" in result.stdout
    report = as_json(mesabot(tmp_path, "check-config", "--json"))
    assert report["ok"] is True
    assert report["errors"] == []


# (original text, faulty text, keys that must be reported)
FAULTS = (
    (
        'timezone = "America/Mexico_City"',
        'timezone = "America/Atlantida"',
        ("organization.timezone",),
    ),
    (
        'email = "sofia.ramirez@example.com"',
        'email = "sofia.ramirez.example.com"',
        ("people.specialists[0].email",),
    ),
    ('backend = "maildir"', 'backend = "imap"', ("mail.imap", "mail.smtp")),
    ('mon_thu = "08:00-18:00"', 'mon_thu = "25:00-18:00"', ("hours.mon_thu",)),
    (
        'address = "mesa.ayuda@example.com"',
        'address = "mesa.ayuda@example.com"\npassword = "x"',
        ("mail.password",),
    ),
)
FAULTY_KEYS = [key for _, _, keys in FAULTS for key in keys]


def _write_broken_config(tmp: Path) -> None:
    """The shipped config with every fault of FAULTS."""
    text = SHIPPED_CONFIG.read_text(encoding="utf-8")
    for original, faulty, _ in FAULTS:
        assert text.count(original) == 1, original
        text = text.replace(original, faulty)
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "config.toml").write_text(text, encoding="utf-8")


def test_check_config_lists_every_error(tmp_path: Path) -> None:
    _write_broken_config(tmp_path)
    stderr = usage_error(mesabot(tmp_path, "check-config"))
    for key in FAULTY_KEYS:
        assert key in stderr, f"{key} not reported:\n{stderr}"

    result = mesabot(tmp_path, "check-config", "--json")
    usage_error(result)
    report = json.loads(result.stdout)
    assert report["ok"] is False
    reported = [e["key"] for e in report["errors"]]
    assert set(FAULTY_KEYS) <= set(reported), set(FAULTY_KEYS) - set(reported)
    assert all(e["message"] for e in report["errors"])
    # The JSON lists the same errors as the text report, one line each.
    for key in reported:
        assert f"{key}:" in stderr


def test_commands_refuse_a_broken_config(tmp_path: Path) -> None:
    _write_broken_config(tmp_path)
    stderr = usage_error(mesabot(tmp_path, "cases", "--json"))
    assert "organization.timezone" in stderr


# --- errors -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pending_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one MA-006 ticket waiting in pendiente_atencion.

    The error tests below only add "rejected" audit events to it; its state never changes.
    """
    tmp = tmp_path_factory.mktemp("pending")
    ok(
        mesabot(
            tmp,
            "new",
            "MA-006",
            "--subject",
            "Alta de correo",
            "--requester",
            REQUESTER,
            now=FRIDAY,
        )
    )
    return tmp


def test_unknown_case_is_a_usage_error(pending_case: Path) -> None:
    result = mesabot(pending_case, "case", "999", "--json")
    stderr = usage_error(result)
    assert "No existe el caso 999" in stderr
    assert result.stdout == ""


def test_unknown_action_lists_the_available_ones(pending_case: Path) -> None:
    stderr = usage_error(mesabot(pending_case, "case", "1", "volar", "--by", SPECIALIST))
    assert "volar" in stderr
    assert "Acciones disponibles" in stderr
    for action in ("tomar", "nota", "asignar", "cerrar"):
        assert action in stderr


def test_invalid_ticket_type_is_refused_and_audited(pending_case: Path) -> None:
    stderr = usage_error(
        mesabot(pending_case, "case", "1", "tomar", "--set", "tipo=otro", "--by", SPECIALIST)
    )
    assert "tomar" in stderr
    for kind in ("gestion_cuentas", "acceso", "consultas", "soporte_tecnico"):
        assert kind in stderr
    detail = as_json(mesabot(pending_case, "case", "1", "--json"))
    assert detail["state"] == "pendiente_atencion"
    assert detail["assignee"] is None
    rejected = [
        e
        for e in detail["events"]
        if e["kind"] == "rejected" and e["detail"].get("trigger") == "command:tomar"
    ]
    assert rejected
    assert rejected[0]["actor"] == SPECIALIST


def test_bad_now_is_a_usage_error(pending_case: Path) -> None:
    stderr = usage_error(mesabot(pending_case, "cases", now="garbage"))
    assert "--now" in stderr


def test_set_without_value_is_a_usage_error(pending_case: Path) -> None:
    stderr = usage_error(
        mesabot(pending_case, "case", "1", "tomar", "--set", "novalue", "--by", SPECIALIST)
    )
    assert "KEY=VALUE" in stderr
    assert "novalue" in stderr


# --- rules --------------------------------------------------------------------------------


def test_rules_lists_the_processes(tmp_path: Path) -> None:
    assert "MA-006" in ok(mesabot(tmp_path, "rules")).stdout


def test_rules_of_a_process_shows_states_and_seed_steps(tmp_path: Path) -> None:
    out = ok(mesabot(tmp_path, "rules", "MA-006")).stdout
    for slug in MA006_STATES:
        assert slug in out
    for step in ("MA-006 paso 1", "MA-006 paso 4", "MA-006 paso 11", "MA-006 paso 17"):
        assert re.search(rf"{step}(?!\d)", out), step


def test_rules_mermaid_diagram(tmp_path: Path) -> None:
    out = ok(mesabot(tmp_path, "rules", "MA-006", "--mermaid")).stdout
    assert out.startswith("stateDiagram-v2")
    arrows = [
        m.groups() for m in re.finditer(r"^\s*(\[\*\]|\w+) --> (\[\*\]|\w+)", out, re.MULTILINE)
    ]
    assert arrows
    for slug in MA006_STATES:
        assert any(slug in pair for pair in arrows), f"no transition line for {slug}"
    assert ("[*]", "pendiente_atencion") in arrows
    assert ("en_validacion", "cerrado") in arrows


def test_rules_of_an_unknown_process_is_a_usage_error(tmp_path: Path) -> None:
    stderr = usage_error(mesabot(tmp_path, "rules", "XX-999"))
    assert "XX-999" in stderr
    assert "MA-006" in stderr


# --- digest -------------------------------------------------------------------------------


def test_digest_print_and_send(tmp_path: Path) -> None:
    subject = "Cambio de clave de agente"
    ok(
        mesabot(
            tmp_path, "new", "MA-006", "--subject", subject, "--requester", REQUESTER, now=FRIDAY
        )
    )
    printed = ok(mesabot(tmp_path, "digest", "--print", now=FRIDAY)).stdout
    sections = {
        m.group(1).lower(): m.group(2)
        for m in re.finditer(r"^Para: (\S+)\n(.*?)(?=^Para: |\Z)", printed, re.S | re.M)
    }
    for email in SPECIALISTS:
        assert email in sections, f"no section for {email}:\n{printed}"
        assert "MA-006 #1" in sections[email]
        assert subject in sections[email]
    assert outbox(tmp_path) == {}, "--print must not send anything"

    ok(mesabot(tmp_path, "digest", now=FRIDAY))
    sent = outbox(tmp_path)
    for email in SPECIALISTS:
        mine = to_person(sent, email)
        assert len(mine) == 1, [m["Subject"] for m in mine]
        assert mine[0]["Auto-Submitted"] == "auto-generated"
        assert "MA-006 #1" in body_of(mine[0])


# --- support hours ----------------------------------------------------------------------


def test_answer_after_friday_close_waits_for_monday(tmp_path: Path) -> None:
    note = "Ya revisamos tu caso; te confirmamos el lunes"
    ok(
        mesabot(
            tmp_path,
            "new",
            "MA-006",
            "--subject",
            "Error al cotizar",
            "--requester",
            REQUESTER,
            now=FRIDAY_AFTER_CLOSE,
        )
    )
    ok(
        mesabot(
            tmp_path,
            "case",
            "1",
            "tomar",
            "--set",
            "tipo=soporte_tecnico",
            "--by",
            SPECIALIST,
            now=FRIDAY_AFTER_CLOSE,
        )
    )
    ok(
        mesabot(
            tmp_path,
            "case",
            "1",
            "responder",
            "--note",
            note,
            "--by",
            SPECIALIST,
            now=FRIDAY_AFTER_CLOSE,
        )
    )
    ok(mesabot(tmp_path, "run", "--once", now=FRIDAY_AFTER_CLOSE))
    friday = outbox(tmp_path)
    sent_friday = to_person(friday, REQUESTER)
    # The acknowledgement goes out whatever the hour; the answer is held.
    assert len(sent_friday) == 1, [m["Subject"] for m in sent_friday]
    assert sent_friday[0]["Auto-Submitted"] == "auto-replied"
    assert TAG in sent_friday[0]["Subject"]
    assert note not in body_of(sent_friday[0])

    ok(mesabot(tmp_path, "run", "--once", now=MONDAY_OPENING))
    monday = to_person(new_since(friday, outbox(tmp_path)), REQUESTER)
    assert len(monday) == 1, [m["Subject"] for m in monday]
    assert note in body_of(monday[0])
    assert TAG in monday[0]["Subject"]
    assert monday[0]["Date"].datetime == mx_time(MONDAY_OPENING)


# --- run --once -----------------------------------------------------------------------


def _open_tickets(tmp: Path, count: int, at: datetime) -> None:
    """Open `count` MA-006 tickets straight through bot.workflow (quicker than the CLI)."""
    from bot.app import build_app, migrate
    from bot.clock import FixedClock
    from bot.config import load_config
    from bot.rules.dsl import event

    config = load_config(_ensure_config(tmp), {})
    app = build_app(config, FixedClock(at), tmp)
    migrate(app)
    try:
        with app.db.transaction() as s:
            for n in range(1, count + 1):
                trigger = app.workflow.trigger(event("abrir"), text=f"Problema {n}")
                app.workflow.open_case(
                    s, "MA-006", trigger, at, subject=f"Ticket {n}", requester=f"u{n}@example.com"
                )
    finally:
        app.db.dispose()


def test_run_once_dispatches_every_due_message(tmp_path: Path) -> None:
    before_opening = "2026-11-20T07:00"  # only the acknowledgements are due, no digest yet
    _open_tickets(tmp_path, 201, mx_time(before_opening))
    ok(mesabot(tmp_path, "run", "--once", now=before_opening))
    new = tmp_path / "var" / "mail" / "outbox" / "new"
    assert sum(1 for _ in new.iterdir()) == 201


# --- the daemon ---------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_daemon_is_healthy_then_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    config = _ensure_config(tmp_path)
    text = config.read_text(encoding="utf-8")
    fast = re.sub(r"(?m)^sweep_interval_seconds = \d+$", "sweep_interval_seconds = 1", text)
    assert fast != text
    config.write_text(fast, encoding="utf-8")
    log_path = tmp_path / "daemon.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(config), "run"],
            cwd=tmp_path,
            env=_env(MESABOT_LOG_LEVEL="INFO"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                code = proc.poll()
                assert code is None, f"daemon exited {code}:\n{log_path.read_text()}"
                if mesabot(tmp_path, "health").returncode == 0:
                    break
                assert time.monotonic() < deadline, f"never healthy:\n{log_path.read_text()}"
                time.sleep(0.2)
            proc.send_signal(sig)
            assert proc.wait(timeout=10) == 0, log_path.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    logged = log_path.read_text(encoding="utf-8")
    assert "Mesa Bot en marcha" in logged
    assert "Mesa Bot detenido" in logged


# --- the long MA-006 story, shared ----------------------------------------------------


@dataclass(frozen=True)
class TicketStory:
    """What each step of a full MA-006 ticket printed, and the outbox after each cycle."""

    folder: Path
    opened: dict[str, Any]
    out_ack: dict[str, EmailMessage]
    taken: dict[str, Any]
    resolved: dict[str, Any]
    in_validation: dict[str, Any]
    out_friday: dict[str, EmailMessage]
    out_reminder: dict[str, EmailMessage]
    out_closed: dict[str, EmailMessage]
    closed_cases: list[dict[str, Any]]
    final: dict[str, Any]
    tasks: Any


def _play_story(tmp: Path) -> None:
    """Open, acknowledge, take, resolve, remind and auto-close one MA-006 ticket.

    What the commands print goes to story.json; the outbox after each cycle is copied to
    snapshots/<name>, so the story can be read back by any test worker.
    """
    record: dict[str, Any] = {}

    def snapshot(name: str) -> None:
        shutil.copytree(tmp / "var" / "mail" / "outbox" / "new", tmp / "snapshots" / name)

    (tmp / "pasos.txt").write_text("1. Entra al portal.\n2. Cambia tu contraseña.\n")
    record["opened"] = as_json(
        mesabot(
            tmp,
            "new",
            "MA-006",
            "--subject",
            "No puedo entrar al portal",
            "--requester",
            REQUESTER,
            "--note",
            "Me marca error de contraseña desde ayer",
            "--json",
            now=FRIDAY,
        )
    )
    ok(mesabot(tmp, "run", "--once", now=FRIDAY))
    snapshot("out_ack")
    record["taken"] = as_json(
        mesabot(
            tmp,
            "case",
            "1",
            "tomar",
            "--set",
            "tipo=acceso",
            "--note",
            "Revisamos tu acceso",
            "--by",
            SPECIALIST,
            "--json",
            now=FRIDAY_TAKE,
        )
    )
    record["resolved"] = as_json(
        mesabot(
            tmp,
            "case",
            "1",
            "resolver",
            "--set",
            "solucion=Se restableció la contraseña",
            "--attach",
            str(tmp / "pasos.txt"),
            "--by",
            SPECIALIST,
            "--json",
            now=FRIDAY_RESOLVE,
        )
    )
    record["in_validation"] = as_json(mesabot(tmp, "case", "1", "--json", now=FRIDAY_RESOLVE))
    ok(mesabot(tmp, "run", "--once", now=FRIDAY_RESOLVE))
    snapshot("out_friday")
    ok(mesabot(tmp, "run", "--once", now=TUESDAY))
    snapshot("out_reminder")
    ok(mesabot(tmp, "run", "--once", now=WEDNESDAY))
    snapshot("out_closed")
    record["closed_cases"] = as_json(
        mesabot(tmp, "cases", "--json", "--state", "cerrado", now=WEDNESDAY)
    )
    record["final"] = as_json(mesabot(tmp, "case", "1", "--json", now=WEDNESDAY))
    record["tasks"] = as_json(mesabot(tmp, "tasks", "--json", now=WEDNESDAY))
    (tmp / "story.json").write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")


def _read_story(folder: Path) -> TicketStory:
    """The story recorded by _play_story in this folder."""
    record = json.loads((folder / "story.json").read_text(encoding="utf-8"))
    snapshots = {
        name: outbox_in(folder / "snapshots" / name)
        for name in ("out_ack", "out_friday", "out_reminder", "out_closed")
    }
    return TicketStory(folder=folder, **record, **snapshots)


def _built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Any) -> Path:
    """A folder built by `build(folder)` once per test run, even across xdist workers.

    Under pytest-xdist the workers share the parent of their base temp folders: the first
    worker builds there (under a lock) and the others reuse the result, read-only.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER") or fcntl is None:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    shared = tmp_path_factory.getbasetemp().parent
    final = shared / name
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not final.is_dir():
            scratch = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=shared))
            build(scratch)  # a failed build leaves no `final`: the next worker retries
            scratch.rename(final)
    return final


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> TicketStory:
    """The full MA-006 ticket story, played once and read by the tests below."""
    return _read_story(_built_once(tmp_path_factory, "ticket-story", _play_story))


def test_new_ticket_is_acknowledged_at_once_with_its_tag(story: TicketStory) -> None:
    assert story.opened["id"] == 1
    assert story.opened["ref"] == "MA-006 #1"
    assert story.opened["state"] == "pendiente_atencion"
    acks = to_person(story.out_ack, REQUESTER)
    assert len(acks) == 1, [m["Subject"] for m in story.out_ack.values()]
    ack = acks[0]
    assert TAG in ack["Subject"]
    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", str(ack["Message-ID"]))
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["Date"].datetime == mx_time(FRIDAY)


def test_specialist_takes_and_resolves_the_ticket(story: TicketStory) -> None:
    assert story.taken["state"] == "en_proceso"
    assert story.taken["assignee"] == SPECIALIST
    assert story.taken["data"]["tipo"] == "acceso"
    assert story.resolved["state"] == "en_validacion"
    assert story.resolved["data"]["solucion"] == "Se restableció la contraseña"
    # Friday's answers go out on Friday (within hours): the initial answer and the solution.
    sent = to_person(new_since(story.out_ack, story.out_friday), REQUESTER)
    bodies = [body_of(m) for m in sent]
    assert len(sent) == 2, [m["Subject"] for m in sent]
    assert any("Revisamos tu acceso" in b for b in bodies)
    solution = next(b for b in bodies if "Se restableció la contraseña" in b)
    assert "2026-11-25" in solution  # the announced automatic-close date


def test_solution_mail_carries_the_attachment(story: TicketStory) -> None:
    sent = to_person(new_since(story.out_ack, story.out_friday), REQUESTER)
    attached = [
        (a.get_filename(), a.get_payload(decode=True)) for m in sent for a in m.iter_attachments()
    ]
    assert attached == [("pasos.txt", (story.folder / "pasos.txt").read_bytes())]


def test_validation_timers_honour_business_days(story: TicketStory) -> None:
    timers = {t["kind"]: datetime.fromisoformat(t["due_at"]) for t in story.in_validation["timers"]}
    assert set(timers) == {"recordatorio_validacion", "cierre_automatico"}
    # Fri 20 Nov + 3 business days, skipping the weekend: Wed 25; the reminder the day before.
    assert timers["cierre_automatico"] == mx_time(WEDNESDAY)
    assert timers["recordatorio_validacion"] == mx_time(TUESDAY)


def test_reminder_is_sent_on_tuesday(story: TicketStory) -> None:
    fresh = to_person(new_since(story.out_friday, story.out_reminder), REQUESTER)
    assert len(fresh) == 1, [m["Subject"] for m in fresh]
    reminder = fresh[0]
    assert TAG in reminder["Subject"]
    assert reminder["Auto-Submitted"] == "auto-generated"
    assert reminder["Date"].datetime == mx_time(TUESDAY)
    assert "2026-11-25" in body_of(reminder)  # it announces Wednesday's close, not today


def test_ticket_closes_itself_after_three_business_days(story: TicketStory) -> None:
    closed = {c["id"]: c for c in story.closed_cases}
    assert 1 in closed
    assert closed[1]["state"] == "cerrado"
    assert closed[1]["data"]["motivo_cierre"] == "sin_respuesta"
    assert story.final["state"] == "cerrado"
    assert story.final["timers"] == []
    last = story.final["events"][-1]
    assert "MA-006 paso 17" in last["steps"]
    fresh = to_person(new_since(story.out_reminder, story.out_closed), REQUESTER)
    assert len(fresh) == 1, [m["Subject"] for m in fresh]
    assert TAG in fresh[0]["Subject"]
    assert fresh[0]["Auto-Submitted"] == "auto-generated"


def test_event_history_records_every_step(story: TicketStory) -> None:
    events = story.final["events"]
    assert [(e["kind"], e["from_state"], e["to_state"]) for e in events] == [
        ("opened", None, "pendiente_atencion"),
        ("transition", "pendiente_atencion", "en_proceso"),
        ("transition", "en_proceso", "en_validacion"),
        ("action", "en_validacion", "en_validacion"),
        ("transition", "en_validacion", "cerrado"),
    ]
    for e in events:
        assert e["steps"], f"event without seed steps: {e}"
        assert all(re.fullmatch(r"MA-006 paso \d+", s) for s in e["steps"]), e["steps"]
    assert events[1]["actor"] == SPECIALIST
    assert events[2]["actor"] == SPECIALIST
    assert events[3]["actor"] == events[4]["actor"] == "mesabot"
    assert events[1]["detail"]["values"]["tipo"] == "acceso"
    assert [e["at"][:16] for e in events] == [
        FRIDAY,
        FRIDAY_TAKE,
        FRIDAY_RESOLVE,
        TUESDAY,
        WEDNESDAY,
    ]


def test_every_outbound_mail_is_threaded(story: TicketStory) -> None:
    messages = story.out_closed
    ids = [str(m["Message-ID"]) for m in messages.values()]
    assert all(ids), "a message without Message-ID"
    assert len(set(ids)) == len(ids), "Message-IDs are not unique"
    about_case = to_person(messages, REQUESTER)
    # ack, initial answer, solution, reminder, automatic close
    assert len(about_case) == 5
    for msg in about_case:
        assert TAG in msg["Subject"], msg["Subject"]
    # Everything else is the team's daily digest: automatic, and for the team only.
    for msg in messages.values():
        if REQUESTER in recipients(msg):
            continue
        assert recipients(msg) <= TEAM, msg["Subject"]
        assert msg["Auto-Submitted"] == "auto-generated"
    # The case's history knows exactly the messages that reached the outbox.
    recorded = story.final["messages"]
    assert {m["message_id"] for m in recorded} == {str(m["Message-ID"]) for m in about_case}
    for m in recorded:
        assert m["direction"] == "out"
        assert m["channel"] == "mail"
        assert m["to"] == [REQUESTER]
        assert TAG in m["subject"]


# --- JSON shapes ------------------------------------------------------------------------


def _check_summary(obj: dict[str, Any]) -> None:
    """The `cases --json` object of the contract (extra keys allowed)."""
    assert set(obj) >= SUMMARY_KEYS, SUMMARY_KEYS - set(obj)
    assert isinstance(obj["id"], int)
    assert obj["ref"] == f"{obj['process']} #{obj['id']}"
    assert isinstance(obj["state_label"], str)
    assert obj["state_label"]
    assert isinstance(obj["data"], dict)
    assert_offset_timestamp(obj["created_at"], "created_at")
    assert_offset_timestamp(obj["updated_at"], "updated_at")


def test_cases_json_shape(story: TicketStory) -> None:
    assert isinstance(story.closed_cases, list)
    assert story.closed_cases
    for obj in story.closed_cases:
        _check_summary(obj)
    case = story.closed_cases[0]
    assert case["process"] == "MA-006"
    assert case["state_label"] == "Cerrado"
    assert case["requester"] == REQUESTER
    assert case["subject"] == "No puedo entrar al portal"


@pytest.mark.parametrize("which", ["in_validation", "final"])
def test_case_json_shape(story: TicketStory, which: str) -> None:
    detail: dict[str, Any] = getattr(story, which)
    _check_summary(detail)
    for key in ("events", "messages", "tasks", "timers", "links"):
        assert isinstance(detail[key], list), key
    assert detail["events"]
    assert detail["messages"]
    for e in detail["events"]:
        assert set(e) >= EVENT_KEYS, EVENT_KEYS - set(e)
        assert isinstance(e["steps"], list)
        assert isinstance(e["detail"], dict)
        assert_offset_timestamp(e["at"], "events[].at")
    for m in detail["messages"]:
        assert set(m) >= MESSAGE_KEYS, MESSAGE_KEYS - set(m)
        assert m["direction"] in ("in", "out")
        assert m["channel"] in ("mail", "chat")
        assert isinstance(m["to"], list)
        assert_offset_timestamp(m["at"], "messages[].at")
    for t in detail["tasks"]:
        assert set(t) >= CASE_TASK_KEYS
    for t in detail["timers"]:
        assert set(t) >= TIMER_KEYS
        assert_offset_timestamp(t["due_at"], "timers[].due_at")
    for link in detail["links"]:
        assert set(link) >= LINK_KEYS
    if which == "in_validation":
        assert len(detail["timers"]) == 2


def test_tasks_json_is_an_array(story: TicketStory) -> None:
    assert isinstance(story.tasks, list)
    for t in story.tasks:
        assert set(t) >= TASK_KEYS
        if t["due_at"] is not None:
            assert_offset_timestamp(t["due_at"], "tasks[].due_at")


# --- doctor -----------------------------------------------------------------------------


def test_doctor_says_what_is_wrong_and_how_to_fix_it(tmp_path: Path) -> None:
    before = mesabot(tmp_path, "doctor")
    assert before.returncode == 1, before.stderr
    assert "✘ Base de datos" in before.stdout and "mesabot migrate" in before.stdout
    ok(mesabot(tmp_path, "migrate"))
    after = ok(mesabot(tmp_path, "doctor"))
    assert "Todo en orden." in after.stdout and "✘" not in after.stdout
    report = as_json(mesabot(tmp_path, "doctor", "--json"))
    assert report["ok"] is True
    assert {c["name"] for c in report["checks"]} >= {
        "Configuración",
        "Base de datos",
        "Maildir inbox",
    }
    assert all(set(c) == {"name", "ok", "detail", "fix"} for c in report["checks"])


# --- classify ---------------------------------------------------------------------------


def test_classify_json_per_contract(tmp_path: Path) -> None:
    out = as_json(
        mesabot(
            tmp_path,
            "classify",
            "Te aviso cuando proceda, a más tardar el 5 de diciembre. DSN 4581236",
            "--json",
            now="2026-11-21T10:00",
        )
    )
    assert out == {
        "intent": "LATER",
        "entities": {
            "dates": ["2026-12-05"],
            "dsn": ["4581236"],
            "rfc": [],
            "emails": [],
            "agent_keys": [],
        },
    }


def test_classify_reads_stdin_and_ignores_the_quoted_history(tmp_path: Path) -> None:
    config = _ensure_config(tmp_path)
    reply = (
        "Deténlo por favor, el lunes te explico.\n\n"
        "El vie, 20 nov 2026 a las 9:30, Mesa de Ayuda (<mesa.ayuda@example.com>) escribió:\n"
        "> ¿Damos de alta? Responde «Sí adelante» antes del 5 de diciembre.\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "--config",
            str(config),
            "--now",
            "2026-11-21T10:00",
            "classify",
            "-",
            "--json",
        ],
        input=reply,
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    out = as_json(result)
    assert out["intent"] == "STOP"
    assert out["entities"]["dates"] == ["2026-11-23"]  # Monday; the quote's date is ignored


def test_classify_names_the_configured_zone_and_promotoria(tmp_path: Path) -> None:
    text = "Sí adelante, es de la zona Oaxaca, promotoría Istmo. Lo ve Sofía Ramírez."
    out = as_json(mesabot(tmp_path, "classify", text, "--json", now="2026-11-21T10:00"))
    assert out["intent"] == "PROCEED"
    entities = out["entities"]
    assert (entities["zones"], entities["promotorias"]) == (["Oaxaca"], ["Promotoría Istmo"])
    assert entities["people"] == ["sofia.ramirez@example.com"]


def test_classify_plain_output_names_the_intent(tmp_path: Path) -> None:
    out = ok(mesabot(tmp_path, "classify", "Sí adelante")).stdout
    assert out.startswith("Intención: PROCEED")
