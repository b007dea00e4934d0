"""Mesa Bot benchmarks: `python benchmarks/run.py`.

Prints a table and writes benchmarks/results/latest.json. Each figure is reported next to
a baseline measured the same way in the same process, so that results from different
machines can be compared through the ratio.

  startup   `python -m bot --help` against `python -c pass` (median of 15 runs each)
  engine    bot.rules.engine.step calls per second on MA-006 «resolver», against a loop
            of trivial Python function calls
  cycle     one `run --once` cycle that sends 200 MA-006 acknowledgements: in-process
            (bot.app.run_once) and through the command line, per message
  ingest    10,000 generated mails (new tickets, threaded replies, attachments, automatic
            answers) from a Maildir inbox through the whole inbound pipeline on SQLite
            (Ingestor.run: committed in batches, then moved to cur/), against reading
            and parsing the same files with the email package alone. Each side runs in a
            fresh child process so that its peak RSS (VmHWM, the process's own high-water
            mark; ru_maxrss where /proc is missing) is its own; the baseline
            runs before and after the pipeline and its mean time is used. The outbox the
            ingestion filled is then dispatched in the pipeline's process, timed apart.

  classify  the whole labelled reply corpus (tests/data/intents) read warm, intent and
            entities, replies per second, against the quote/signature cleaning alone;
            dateparser's first-call cost is paid by warm_up() first and reported apart
  hostile   every hostile attachment of tests/hostile_files.py (zip bombs, a macro workbook
            renamed .xlsx, entity bombs, a 30 MB file, wrong columns, an empty sheet, a
            password-protected and a 97-2003 workbook, cell and string bombs...) through
            read_intake and report_es (or up to the refusal) in a fresh child process
            warmed up on the valid form: wall time and peak RSS (VmHWM) per file, against
            the valid one-user form measured the same way before and after them (mean
            time, higher peak). EXCEDE marks a file over 1 s or 200 MB
  sweep     MA-002's daily CAM Pegasus sweep (bot.sweeps.agents_sweep_job, the recurring
            job "barrido_agentes") in process on SQLite, with the shipped config switched to
            the sql CAM Pegasus adapter over a SQLite file of 200 agents in «Solicitado»
            spread over the shipped zones' promotorías, after a warm-up on a throwaway
            database (imports, first cases, first dispatch). The first sweep, Monday 08:00,
            opens 200 cases (each renders its .xlsx form with openpyxl and queues the
            confirmation mail with it), per agent, against opening 200 MA-006 tickets in one
            transaction on a fresh database; the form alone (build_agent_form, median of 50);
            the 200 confirmation mails dispatched, per mail, against the 200 tickets'
            acknowledgements dispatched the same way; the next day's sweep with no new agent
            (all known: the case_keys lookup, median of 5) against listing «Solicitado» in
            CAM Pegasus alone. Wall time; CPU time of the same runs is in the JSON. Fails
            unless the first sweep opens exactly 200 cases and later ones none
  recert    MA-005: MetLife's recertification file (900 users; 100,000 rows) from the
            mail in the inbox to the areas' mail with the enriched file, one run_once in
            a fresh child process on SQLite with the sql CAM Pegasus adapter, against
            openpyxl read_only reading the same file (benchmarks/bench_recert.py). Fails
            over 2 s (900 users), or over 20 s or 500 MB peak RSS (100,000 rows)

`python benchmarks/run.py [SECTION ...] [--ingest-messages N] [--ingest-profile FILE]`
runs the named sections only (all by default); latest.json holds the sections that ran.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import cProfile
import email
import email.policy
import json
import os
import platform
import random
import resource
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
import unicodedata
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(ROOT))

import bench_recert  # noqa: E402  (beside this file; needs ROOT importable)

STARTUP_RUNS = 15
STARTUP_TARGET_S = 0.3
ENGINE_SECONDS = 1.0
CYCLE_CASES = 200
MX = ZoneInfo("America/Mexico_City")
# Friday 20 November 2026 at 07:00: before opening, so the only mail due is the
# acknowledgements (sent whatever the hour); the daily digest at 08:00 is not due yet.
CYCLE_AT = datetime(2026, 11, 20, 7, 0, tzinfo=MX)
INGEST_MESSAGES = 10_000
INGEST_TARGET = 200.0  # messages per second, end to end, on a 2-core machine
# Monday 23 November 2026 at 11:00, within support hours, after a week of mail.
INGEST_AT = datetime(2026, 11, 23, 11, 0, tzinfo=MX)
SWEEP_AGENTS = 200
# Monday 23 November 2026 at 08:00, the [agents] sweep_time of the shipped config.
SWEEP_AT = datetime(2026, 11, 23, 8, 0, tzinfo=MX)
SWEEP_FORM_RUNS = 50
SWEEP_REPEATS = 5  # later days' sweeps (and CAM Pegasus listings) timed; median
SECTIONS = ("startup", "engine", "cycle", "ingest", "classify", "hostile", "sweep", "recert")
CLASSIFY_ROUNDS = 5
CHILD = "--measure-child"
HOSTILE_MAX_S = 1.0
HOSTILE_MAX_RSS_MB = 200.0
HOSTILE_OUTCOME_CHARS = 60


def _child_env() -> dict[str, str]:
    """The environment for child processes: the repo importable, no MESABOT_* overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESABOT_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _wall(cmd: Sequence[str], cwd: Path | None = None) -> float:
    """Seconds one run of a command takes; it must succeed."""
    start = time.perf_counter()
    subprocess.run(
        cmd, cwd=cwd, env=_child_env(), check=True, stdout=subprocess.DEVNULL, timeout=120
    )
    return time.perf_counter() - start


# --- (a) start-up ---------------------------------------------------------------------------


def bench_startup() -> dict[str, Any]:
    """Median wall time of `--help`, and of an empty interpreter, interleaved."""
    help_cmd = [sys.executable, "-m", "bot", "--help"]
    pass_cmd = [sys.executable, "-c", "pass"]
    _wall(help_cmd)  # warm the bytecode cache and the OS file cache
    _wall(pass_cmd)
    helps: list[float] = []
    passes: list[float] = []
    for _ in range(STARTUP_RUNS):
        helps.append(_wall(help_cmd))
        passes.append(_wall(pass_cmd))
    help_median = statistics.median(helps)
    pass_median = statistics.median(passes)
    overhead = help_median - pass_median
    return {
        "runs": STARTUP_RUNS,
        "help_median_s": help_median,
        "baseline_median_s": pass_median,
        "ratio": help_median / pass_median,
        "overhead_s": overhead,
        "target_overhead_s": STARTUP_TARGET_S,
        "within_target": overhead <= STARTUP_TARGET_S,
        "help_min_s": min(helps),
        "help_max_s": max(helps),
    }


# --- (b) rules engine -----------------------------------------------------------------------


def _rate(call: Callable[[], object], seconds: float = ENGINE_SECONDS) -> float:
    """Calls per second of `call`, measured in batches for about `seconds`."""
    batch = 1000
    count = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        for _ in range(batch):
            call()
        count += batch
        elapsed = time.perf_counter() - start
    return count / elapsed


def _trivial(case: object, trigger: object, now: object, calendar: object) -> object:
    """The baseline: a Python function call that does nothing."""
    return case


def bench_engine() -> dict[str, Any]:
    """bot.rules.engine.step on MA-006: resolve a ticket in progress."""
    from bot.calendar import BusinessCalendar
    from bot.rules import get_process
    from bot.rules.dsl import CaseView, Trigger, command
    from bot.rules.engine import Decision, step

    process = get_process("MA-006")
    calendar = BusinessCalendar()
    case = CaseView(
        id=1,
        process="MA-006",
        state="en_proceso",
        subject="No puedo entrar al portal",
        requester="ana.perez@example.com",
        assignee="sofia.ramirez@example.com",
        data={"tipo": "acceso", "descripcion": "Error de contraseña"},
    )
    trigger = Trigger(
        on=command("resolver"),
        actor="sofia.ramirez@example.com",
        actor_roles=frozenset({"specialist"}),
        values={"solucion": "Se restableció la contraseña"},
    )
    now = datetime(2026, 11, 20, 11, 0, tzinfo=MX)
    settings = dict(process.settings)
    first = step(process, case, trigger, now, calendar, settings)
    if not isinstance(first, Decision) or first.to_state != "en_validacion":
        raise SystemExit(f"engine benchmark set-up is wrong: {first!r}")

    steps_per_s = _rate(lambda: step(process, case, trigger, now, calendar, settings))
    calls_per_s = _rate(lambda: _trivial(case, trigger, now, calendar))
    return {
        "step_calls_per_s": steps_per_s,
        "baseline_calls_per_s": calls_per_s,
        "step_us": 1e6 / steps_per_s,
        "ratio": calls_per_s / steps_per_s,
    }


# --- (c) one cycle with 200 acknowledgements ------------------------------------------------


def _prepare_cases(folder: Path, count: int) -> None:
    """A config in `folder` and `count` freshly opened MA-006 tickets, nothing sent yet."""
    from bot.app import build_app, migrate
    from bot.clock import FixedClock
    from bot.config import load_config
    from bot.rules.dsl import event

    shutil.copyfile(ROOT / "config.toml", folder / "config.toml")
    config = load_config(folder / "config.toml", {})
    app = build_app(config, FixedClock(CYCLE_AT), folder)
    migrate(app)
    with app.db.transaction() as s:
        for n in range(1, count + 1):
            trigger = app.workflow.trigger(event("abrir"), text=f"Descripción del problema {n}")
            app.workflow.open_case(
                s,
                "MA-006",
                trigger,
                CYCLE_AT,
                subject=f"Ticket de prueba {n}",
                requester=f"usuario{n}@example.com",
            )
    app.db.dispose()


def _outbox_count(folder: Path) -> int:
    """Files in the folder's outbox/new."""
    new = folder / "var" / "mail" / "outbox" / "new"
    return sum(1 for _ in new.iterdir()) if new.is_dir() else 0


def bench_cycle() -> dict[str, Any]:
    """Time the cycle that dispatches CYCLE_CASES acknowledgements."""
    from bot.app import build_app, run_once
    from bot.clock import FixedClock
    from bot.config import load_config

    with tempfile.TemporaryDirectory(prefix="mesabot-bench-") as tmp:
        base = Path(tmp)
        seed = base / "seed"
        seed.mkdir()
        start = time.perf_counter()
        _prepare_cases(seed, CYCLE_CASES)
        prepare_s = time.perf_counter() - start
        in_process = base / "in_process"
        cli = base / "cli"
        shutil.copytree(seed, in_process)
        shutil.copytree(seed, cli)

        # In-process: only the cycle itself (sweep + dispatch + heartbeat).
        config = load_config(in_process / "config.toml", {})
        app = build_app(config, FixedClock(CYCLE_AT), in_process)
        start = time.perf_counter()
        report = run_once(app)
        cycle_s = time.perf_counter() - start
        app.db.dispose()
        sent = report.dispatch.sent
        if sent != CYCLE_CASES or _outbox_count(in_process) != CYCLE_CASES:
            raise SystemExit(f"expected {CYCLE_CASES} acknowledgements, the cycle sent {sent}")

        # Through the command line: start-up, migration check and the same cycle.
        cmd = [
            sys.executable,
            "-m",
            "bot",
            "--config",
            str(cli / "config.toml"),
            "--now",
            CYCLE_AT.isoformat(),
            "run",
            "--once",
        ]
        cli_s = _wall(cmd, cwd=cli)
        if _outbox_count(cli) != CYCLE_CASES:
            raise SystemExit(f"`run --once` wrote {_outbox_count(cli)} files, not {CYCLE_CASES}")
    return {
        "messages": CYCLE_CASES,
        "prepare_s": prepare_s,
        "cycle_s": cycle_s,
        "cycle_ms_per_message": 1000 * cycle_s / CYCLE_CASES,
        "messages_per_s": CYCLE_CASES / cycle_s,
        "cli_run_once_s": cli_s,
        "cli_ms_per_message": 1000 * cli_s / CYCLE_CASES,
    }


# --- MA-002: the daily CAM Pegasus sweep ----------------------------------------------------

_SHIPPED_PEGASUS = '[systems.pegasus]\nadapter = "manual"\n'


def _sweep_app(folder: Path, pegasus: Path) -> Any:
    """The shipped config in `folder`, CAM Pegasus read by SQL from `pegasus`; migrated."""
    from bot.app import build_app, migrate
    from bot.clock import FixedClock
    from bot.config import load_config

    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    if _SHIPPED_PEGASUS not in text:
        raise SystemExit("sweep: config.toml no longer ships [systems.pegasus] adapter = manual")
    sql = f'[systems.pegasus]\nadapter = "sql"\nurl = "sqlite:///{pegasus}"\n'
    folder.mkdir()
    (folder / "config.toml").write_text(text.replace(_SHIPPED_PEGASUS, sql), encoding="utf-8")
    app = build_app(load_config(folder / "config.toml", {}), FixedClock(SWEEP_AT), folder)
    migrate(app)
    app.mail.ensure()
    return app


def _open_tickets(app: Any, count: int, at: datetime) -> None:
    """`count` MA-006 tickets opened in one transaction (the cost of a plain case)."""
    from bot.rules.dsl import event

    with app.db.transaction() as s:
        for n in range(1, count + 1):
            trigger = app.workflow.trigger(event("abrir"), text=f"Descripción del problema {n}")
            app.workflow.open_case(
                s,
                "MA-006",
                trigger,
                at,
                subject=f"Ticket de prueba {n}",
                requester=f"usuario{n}@example.com",
            )


def _count_cases(app: Any, process: str) -> int:
    """How many cases of this process the database holds."""
    from sqlalchemy import func, select

    from storage.models import Case

    with app.db.sessions() as s:
        return int(s.scalar(select(func.count(Case.id)).where(Case.process == process)) or 0)


def _outbox_bytes(folder: Path) -> int:
    """Total size of the files in the folder's outbox/new."""
    new = folder / "var" / "mail" / "outbox" / "new"
    return sum(f.stat().st_size for f in new.iterdir()) if new.is_dir() else 0


def _timed(call: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds one call takes (CPU: this process, all threads)."""
    start, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - start, time.process_time() - cpu


def bench_sweep() -> dict[str, Any]:
    """MA-002's daily sweep on SQLite: new agents, the day after, the confirmation mails."""
    from bot.documents.agent_form import AgentInfo, build_agent_form
    from bot.sweeps import agents_sweep_job, last_sweep
    from tests.ma002_data import PROMOTORIAS, agent, pegasus_db

    promotorias = [p for names in PROMOTORIAS.values() for p in names]
    agents = [agent(n, promotorias[n % len(promotorias)]) for n in range(1, SWEEP_AGENTS + 1)]

    def sweep(app: Any, at: datetime) -> None:
        with app.db.transaction() as s:
            agents_sweep_job(app.workflow, s, at)

    with tempfile.TemporaryDirectory(prefix="mesabot-bench-") as tmp:
        base = Path(tmp)
        start = time.perf_counter()
        # Warm-up on a throwaway database: imports (openpyxl, the mail templates), SQLAlchemy's
        # statement caches and each process's first case are paid here, by both sides.
        warm = _sweep_app(base / "warm", pegasus_db(base / "warm.db", agents[:3]))
        sweep(warm, SWEEP_AT)
        _open_tickets(warm, 3, SWEEP_AT)
        warm.dispatcher.run_all(SWEEP_AT)
        warm.db.dispose()
        tickets = _sweep_app(base / "tickets", base / "warm.db")
        app = _sweep_app(base / "agents", pegasus_db(base / "pegasus.db", agents))
        prepare_s = time.perf_counter() - start

        # (1) The first sweep opens one case per agent, against plain MA-006 tickets.
        tickets_s, tickets_cpu = _timed(lambda: _open_tickets(tickets, SWEEP_AGENTS, SWEEP_AT))
        first_s, first_cpu = _timed(lambda: sweep(app, SWEEP_AT))
        opened = _count_cases(app, "MA-002")
        if opened != SWEEP_AGENTS:
            raise SystemExit(
                f"sweep: the first sweep opened {opened} MA-002 cases, not {SWEEP_AGENTS}"
            )

        # (2) The form alone, as the sweep renders it for each agent.
        form_runs: list[float] = []
        form_bytes = 0
        for n, a in enumerate(agents[:SWEEP_FORM_RUNS], start=1):
            zone = app.config.zone_of_promotoria(a.promotoria)
            info = AgentInfo(
                clave=a.clave,
                nombre=a.nombre,
                rfc=a.rfc,
                correo=a.correo,
                promotoria=a.promotoria,
                zona=zone.name if zone else "",
                cedula=a.cedula,
            )
            begin = time.perf_counter()
            form_bytes = len(build_agent_form(info, f"MA-002 #{n}", SWEEP_AT.date()))
            form_runs.append(time.perf_counter() - begin)
        form_s = statistics.median(form_runs)

        # (4) Dispatch the confirmation mails (with the form), against the tickets' acks.
        results: list[Any] = []
        dispatch_s, dispatch_cpu = _timed(lambda: results.append(app.dispatcher.run_all(SWEEP_AT)))
        acks_s, acks_cpu = _timed(lambda: results.append(tickets.dispatcher.run_all(SWEEP_AT)))
        sent, acks = (r.sent for r in results)
        mails, ack_files = _outbox_count(base / "agents"), _outbox_count(base / "tickets")
        if mails != SWEEP_AGENTS or ack_files != SWEEP_AGENTS:
            raise SystemExit(f"sweep: {mails} confirmation mails and {ack_files} acks written")

        # (3) The next day, no new agent: the sweep against listing CAM Pegasus alone.
        pegasus = app.workflow.pegasus
        if len(pegasus.list_by_status("Solicitado")) != SWEEP_AGENTS:
            raise SystemExit("sweep: the agents are no longer in «Solicitado» after the sweep")
        again_runs: list[float] = []
        list_runs: list[float] = []
        for run in range(SWEEP_REPEATS):
            later = SWEEP_AT + timedelta(days=1, minutes=run)
            again_runs.append(_timed(lambda later=later: sweep(app, later))[0])
            list_runs.append(_timed(lambda: pegasus.list_by_status("Solicitado"))[0])
            with app.db.sessions() as s:
                seen = last_sweep(s) or {}
            if _count_cases(app, "MA-002") != SWEEP_AGENTS or seen.get("nuevos"):
                raise SystemExit(f"sweep: a later sweep opened cases: {seen.get('nuevos')}")
        again_s, list_s = statistics.median(again_runs), statistics.median(list_runs)
        app.db.dispose()
        tickets.db.dispose()
        mail_bytes = _outbox_bytes(base / "agents") / mails
        ack_bytes = _outbox_bytes(base / "tickets") / ack_files
    agent_ms = 1000 * first_s / SWEEP_AGENTS
    ticket_ms = 1000 * tickets_s / SWEEP_AGENTS
    return {
        "agents": SWEEP_AGENTS,
        "prepare_s": prepare_s,
        "first_sweep_s": first_s,
        "first_ms_per_agent": agent_ms,
        "baseline_tickets_s": tickets_s,
        "baseline_ms_per_ticket": ticket_ms,
        "first_ratio": agent_ms / ticket_ms,
        "first_cpu_s": first_cpu,
        "baseline_tickets_cpu_s": tickets_cpu,
        "first_cpu_ratio": first_cpu / tickets_cpu,
        "form_runs": SWEEP_FORM_RUNS,
        "form_median_ms": 1000 * form_s,
        "form_bytes": form_bytes,
        "form_share_of_agent": 1000 * form_s / agent_ms,
        "form_over_ticket": 1000 * form_s / ticket_ms,
        "next_day_runs": SWEEP_REPEATS,
        "next_day_median_ms": 1000 * again_s,
        "baseline_list_median_ms": 1000 * list_s,
        "next_day_ratio": again_s / list_s,
        "dispatch_sent": sent,
        "dispatch_s": dispatch_s,
        "dispatch_ms_per_mail": 1000 * dispatch_s / sent,
        "mail_kb": mail_bytes / 1024,
        "baseline_acks_sent": acks,
        "baseline_acks_s": acks_s,
        "baseline_ms_per_ack": 1000 * acks_s / acks,
        "ack_kb": ack_bytes / 1024,
        "dispatch_ratio": (dispatch_s / sent) / (acks_s / acks),
        "dispatch_cpu_s": dispatch_cpu,
        "baseline_acks_cpu_s": acks_cpu,
        "dispatch_cpu_ratio": (dispatch_cpu / sent) / (acks_cpu / acks),
    }


# --- (d) ingest 10,000 mails from the Maildir ----------------------------------------------

_FIRST_NAMES = (
    "Ana",
    "José",
    "María",
    "Jesús",
    "Sofía",
    "Andrés",
    "Lucía",
    "Ramón",
    "Mónica",
    "Héctor",
    "Begoña",
    "Raúl",
    "Inés",
    "Martín",
    "Verónica",
    "Óscar",
    "Valentina",
    "Joaquín",
    "Noemí",
    "Tomás",
    "Guadalupe",
    "Efraín",
    "Rocío",
    "Germán",
    "Itzel",
)
_LAST_NAMES = (
    "Pérez",
    "Gómez",
    "Hernández",
    "Martínez",
    "Rodríguez",
    "López",
    "Sánchez",
    "Núñez",
    "Domínguez",
    "Ibáñez",
    "Álvarez",
    "Márquez",
    "Gutiérrez",
    "Jiménez",
    "Muñoz",
    "Cortés",
    "Peña",
    "Rincón",
    "Velázquez",
    "Zúñiga",
    "Chávez",
    "Ordóñez",
    "Fernández",
    "Saldaña",
)
_DOMAINS = (
    "promotoria-reforma.example.mx",
    "agentes.example.net",
    "correo.example.com.mx",
    "seguros-istmo.example.mx",
    "mail.example.net",
    "oficina.example.org",
)
_OFFICES = tuple(
    f"Promotoría {place}"
    for place in ("Reforma", "Coyoacán", "Toluca", "Istmo", "Oaxaca Centro", "Monterrey")
)
_TOPICS = (
    "No puedo entrar a BLife",
    "Error al cotizar GMM en el portal",
    "Contraseña bloqueada después de tres intentos",
    "Alta de usuario para agente nuevo",
    "No aparece la póliza en el buscador",
    "Solicitud de acceso al módulo de cobranza",
    "El estado de cuenta de comisiones no cuadra",
    "¿Cómo descargo la carátula de la póliza?",
    "Falla en la impresión de recibos",
    "Actualización de datos bancarios del agente",
    "Error 403 al consultar siniestros",
    "La aplicación móvil se cierra al iniciar sesión",
    "Baja de usuario por renuncia",
    "Cambio de correo electrónico en el perfil",
    "No llegan las notificaciones de renovación",
)
_GREETINGS = ("Buenos días,", "Hola, buen día:", "Estimados:", "Buenas tardes.", "Hola,")
_SENTENCES = (
    "Desde esta mañana el portal me marca «usuario o contraseña inválidos».",
    "Ya intenté restablecer la contraseña pero no me llega el código por SMS.",
    "Les comparto la información que me pidieron para el trámite.",
    "El sistema se queda cargando y después aparece una pantalla en blanco.",
    "Necesito que el agente pueda cotizar Gastos Médicos Mayores lo antes posible.",
    "El cliente está esperando la póliza para firmar el día de hoy.",
    "Probé en Chrome y en Edge y el error es el mismo.",
    "En la sección de comisiones aparece un importe distinto al del estado de cuenta.",
    "¿Me podrían indicar qué documentos hacen falta para la alta?",
    "Al intentar imprimir el recibo aparece el mensaje «Error de conexión con el servidor».",
    "La renovación vence el próximo viernes y no encuentro cómo enviarla.",
    "También me pasó la semana pasada con otra póliza del mismo contratante.",
    "Adjunto una captura de pantalla del error para que lo revisen.",
    "Les agradecería mucho su apoyo con urgencia, ya que es fin de mes.",
    "El número de empleado del agente es el que viene en la solicitud anterior.",
)
_REPLIES = (
    "Gracias por la respuesta, quedo atento.",
    "Les envío el dato que faltaba: la clave de agente es la que aparece abajo.",
    "Sigue igual, ¿me pueden llamar para revisarlo juntos?",
    "Perfecto, mañana a primera hora lo vuelvo a intentar.",
    "Ya probé lo que me indicaron y ahora me aparece otro mensaje de error.",
    "¿Hay alguna novedad? El cliente me está preguntando.",
    "Les reenvío la captura porque la anterior salió cortada.",
    "Muchas gracias por su atención, quedo en espera.",
)
_WEEKDAYS = ("lun", "mar", "mié", "jue", "vie", "sáb", "dom")
_WEEKDAYS_LONG = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
_MONTHS = ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic")
_BOT = "mesa.ayuda@example.com"
_BOT_FROM = "Mesa de Ayuda <mesa.ayuda@example.com>"
_OUTLOOK_STYLE = (
    '<style><!--\n/* Font Definitions */\n@font-face\n\t{font-family:"Cambria Math";\n'
    "\tpanose-1:2 4 5 3 5 4 6 3 2 4;}\n@font-face\n\t{font-family:Calibri;\n"
    "\tpanose-1:2 15 5 2 2 2 4 3 2 4;}\n/* Style Definitions */\n"
    "p.MsoNormal, li.MsoNormal, div.MsoNormal\n\t{margin:0cm;\n\tfont-size:11.0pt;\n"
    '\tfont-family:"Calibri",sans-serif;\n\tmso-fareast-language:EN-US;}\n'
    "a:link, span.MsoHyperlink\n\t{mso-style-priority:99;\n\tcolor:#0563C1;\n"
    "\ttext-decoration:underline;}\nspan.EstiloCorreo17\n\t{mso-style-type:personal-compose;\n"
    '\tfont-family:"Calibri",sans-serif;\n\tcolor:windowtext;}\n.MsoChpDefault\n'
    "\t{mso-style-type:export-only;\n\tfont-size:10.0pt;}\n@page WordSection1\n"
    "\t{size:612.0pt 792.0pt;\n\tmargin:70.85pt 3.0cm 70.85pt 3.0cm;}\n"
    "div.WordSection1\n\t{page:WordSection1;}\n--></style><!--[if gte mso 9]><xml>\n"
    '<o:shapedefaults v:ext="edit" spidmax="1026" />\n</xml><![endif]-->'
)


def _ascii_fold(text: str) -> str:
    """Lower case without accents, for address local parts."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if c.isascii())


def _encoded_words(text: str, charset: str = "UTF-8") -> str:
    """An RFC 2047 Q-encoded header value, folded into words of at most 75 characters."""
    if text.isascii():
        return text
    chunks: list[str] = []
    for ch in text:
        if ch == " ":
            chunks.append("_")
        elif ch.isascii() and (ch.isalnum() or ch in "!*+-/"):
            chunks.append(ch)
        else:
            chunks.append("".join(f"={b:02X}" for b in ch.encode(charset)))
    words: list[str] = []
    current = ""
    limit = 75 - len(f"=?{charset}?Q??=")
    for chunk in chunks:
        if len(current) + len(chunk) > limit:
            words.append(f"=?{charset}?Q?{current}?=")
            current = ""
        current += chunk
    words.append(f"=?{charset}?Q?{current}?=")
    return "\n ".join(words)


def _address(name: str, address: str) -> str:
    """A From/To value with the display name encoded as mail clients do."""
    return f"{_encoded_words(name)} <{address}>"


def _qp(text: str, charset: str) -> str:
    """A body in quoted-printable with soft line breaks."""
    return binascii.b2a_qp(text.encode(charset)).decode("ascii")


def _b64(data: bytes) -> str:
    """A body in base64, 76 characters a line."""
    return base64.encodebytes(data).decode("ascii")


def _html_escape(text: str) -> str:
    """Text safe inside HTML."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _outlook_html(paragraphs: Sequence[str], history: str = "") -> str:
    """Outlook's verbose Word-generated HTML for a text (and the history below it)."""
    body = "\n".join(
        f'<p class="MsoNormal">{_html_escape(p) or "<o:p>&nbsp;</o:p>"}<o:p></o:p></p>'
        for p in paragraphs
    )
    return (
        '<html xmlns:v="urn:schemas-microsoft-com:vml" '
        'xmlns:o="urn:schemas-microsoft-com:office:office" '
        'xmlns:w="urn:schemas-microsoft-com:office:word" '
        'xmlns="http://www.w3.org/TR/REC-html40">\n<head>\n'
        '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">\n'
        '<meta name="Generator" content="Microsoft Word 15 (filtered medium)">\n'
        f'{_OUTLOOK_STYLE}\n</head>\n<body lang="ES-MX" link="#0563C1" vlink="#954F72" '
        f'style="word-wrap:break-word">\n<div class="WordSection1">\n{body}\n{history}'
        "</div>\n</body>\n</html>\n"
    )


def _gmail_html(paragraphs: Sequence[str], attribution: str = "", quoted: str = "") -> str:
    """Gmail's compact HTML, with the quoted history in a blockquote."""
    own = "".join(f"<div>{_html_escape(p) or '<br>'}</div>" for p in paragraphs)
    html = f'<div dir="ltr">{own}</div>'
    if attribution:
        lines = "<br>\n".join(_html_escape(line) for line in quoted.split("\n"))
        html += (
            '<br><div class="gmail_quote gmail_quote_container"><div dir="ltr" '
            f'class="gmail_attr">{_html_escape(attribution)}<br></div><blockquote '
            'class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid '
            f'rgb(204,204,204);padding-left:1ex">{lines}</blockquote></div>'
        )
    return html + "\n"


@dataclass
class _Ticket:
    """A new ticket already in the inbox, which later mails reply to."""

    case_id: int
    message_id: str
    subject: str
    name: str
    address: str
    body: str


class _MailFactory:
    """Distinct, realistic inbound mails, reproducible from a seed, in delivery order."""

    def __init__(self, seed: int, at: datetime, senders: int = 2000) -> None:
        self.rng = random.Random(seed)
        self.at = at
        self.serial = 0
        self.tickets: list[_Ticket] = []
        self.expected = {"opened": 0, "attached": 0, "ignored": 0}
        self.attachments = 0
        self.people: list[tuple[str, str, str]] = []
        for n in range(senders):
            first = self.rng.choice(_FIRST_NAMES)
            last = self.rng.choice(_LAST_NAMES)
            local = f"{_ascii_fold(first)}.{_ascii_fold(last)}{n}"
            address = f"{local}@{self.rng.choice(_DOMAINS)}"
            self.people.append((f"{first} {last}", address, self.rng.choice(_OFFICES)))

    # -- pieces ---------------------------------------------------------------------------

    def _token(self, size: int = 22) -> str:
        """Random letters and digits, as in the Message-IDs of real clients."""
        return "".join(self.rng.choices(string.ascii_letters + string.digits, k=size))

    def _message_id(self, style: str) -> str:
        """A Message-ID in the style of the sending client."""
        self.serial += 1
        if style == "outlook":
            box = f"SN7PR12MB{self.rng.randrange(1000, 9999)}"
            return f"<{box}{self._token(8)}{self.serial}@{box}.namprd12.prod.outlook.example>"
        if style == "iphone":
            return f"<{uuid.UUID(int=self.rng.getrandbits(128))}@mail.example.net>".upper()
        return f"<CAH{self._token()}+{self.serial}=w@mail.example.net>"

    def _when(self) -> datetime:
        """A sending time in the days before the benchmark's `now`."""
        return self.at - timedelta(minutes=self.rng.randrange(5, 7 * 24 * 60))

    def _received(self, style: str, when: datetime) -> str:
        """The trace and authentication headers a real delivery adds."""
        host = "outlook.example" if style == "outlook" else "mail.example.net"
        stamp = format_datetime(when)
        hops = "".join(
            f"Received: from {name}.{host} ({name}.{host} [10.{hop}.{self.rng.randrange(256)}."
            f"{self.rng.randrange(256)}])\n\tby mx{hop}.example.com (Postfix) with ESMTPS id "
            f"{self._token(11).upper()}\n\tfor <{_BOT}>; {stamp}\n"
            for hop, name in enumerate(("smtp-out", "relay"), start=1)
        )
        signature = _b64(self.rng.randbytes(192)).replace("\n", "\n\t ").rstrip()
        return (
            f"Return-Path: <bounce-{self._token(10)}@{host}>\n{hops}"
            "Authentication-Results: mx1.example.com; dkim=pass header.d=example.net; "
            "spf=pass smtp.mailfrom=example.net; dmarc=pass header.from=example.net\n"
            f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.net; s=20230601;"
            f"\n\tt={int(when.timestamp())}; h=to:subject:message-id:date:from:mime-version;\n"
            f"\tbh={_b64(self.rng.randbytes(32)).strip()};\n\tb={signature}\n"
        )

    def _client_headers(self, style: str) -> str:
        """Headers that only some clients write."""
        if style == "outlook":
            index = _b64(self.rng.randbytes(22)).strip()
            network_id = uuid.UUID(int=self.rng.getrandbits(128))
            return (
                f"Thread-Index: {index}\nContent-Language: es-MX\nX-MS-Has-Attach: \n"
                "X-MS-TNEF-Correlator: \nX-MS-Exchange-Organization-SCL: 1\n"
                f"X-MS-Exchange-CrossTenant-Network-Message-Id: {network_id}\n"
                "X-MS-Exchange-CrossTenant-AuthAs: Internal\n"
                "X-Mailer: Microsoft Outlook 16.0\n"
            )
        if style == "iphone":
            return "X-Mailer: iPhone Mail (22B91)\n"
        return ""

    def _signature(self, name: str, office: str) -> list[str]:
        """The sender's closing lines."""
        phone = f"Tel. 55 {self.rng.randrange(1000, 9999)} {self.rng.randrange(1000, 9999)}"
        return ["Saludos.", "", name, office, phone]

    def _request_text(self, name: str, office: str) -> list[str]:
        """A new request: greeting, a few sentences, the case data, the signature."""
        sentences = self.rng.sample(_SENTENCES, self.rng.randint(2, 5))
        details = [
            f"Clave de agente: A{self.rng.randrange(100000, 999999)}",
            f"Póliza: {self.rng.randrange(10**9, 10**10)}",
        ]
        return [
            self.rng.choice(_GREETINGS),
            "",
            *sentences,
            "",
            *details,
            "",
            *self._signature(name, office),
        ]

    def _attachment(self) -> tuple[str, str, bytes]:
        """A small file: a PDF, a screenshot or a spreadsheet (random, so always distinct)."""
        self.attachments += 1
        kind = self.rng.randrange(3)
        size = self.rng.randrange(3_000, 30_000)
        if kind == 0:
            name = f"Póliza {self.rng.randrange(10**9, 10**10)}.pdf"
            return name, "application/pdf", b"%PDF-1.7\n" + self.rng.randbytes(size)
        if kind == 1:
            day, minute = self.rng.randrange(10, 23), self.serial % 60
            name = f"Captura de pantalla 2026-11-{day} a la(s) 10.{minute:02d}.png"
            return name, "image/png", b"\x89PNG\r\n\x1a\n" + self.rng.randbytes(size)
        xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return f"Comisiones_{self.serial}.xlsx", xlsx, b"PK\x03\x04" + self.rng.randbytes(size)

    def _assemble(
        self,
        headers: str,
        plain: str,
        html: str | None,
        charset: str,
        encoding: str,
        attach: bool,
    ) -> bytes:
        """Headers plus a text body, its HTML alternative and an attachment when asked."""
        data = plain.encode(charset)
        body = _qp(plain, charset) if encoding == "quoted-printable" else _b64(data)
        text_part = (
            f'Content-Type: text/plain; charset="{charset}"\n'
            f"Content-Transfer-Encoding: {encoding}\n\n{body}"
        )
        if html is not None:
            boundary = f"_000_{self._token(16)}_"
            text_part = (
                f'Content-Type: multipart/alternative; boundary="{boundary}"\n\n'
                f"--{boundary}\n{text_part}\n--{boundary}\n"
                f'Content-Type: text/html; charset="{charset}"\n'
                f"Content-Transfer-Encoding: quoted-printable\n\n{_qp(html, charset)}\n"
                f"--{boundary}--\n"
            )
        if attach:
            name, ctype, content = self._attachment()
            boundary = f"_004_{self._token(16)}_"
            quoted = urllib.parse.quote(name, safe="")
            text_part = (
                f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n'
                f"--{boundary}\n{text_part}\n--{boundary}\n"
                f'Content-Type: {ctype}; name="{_encoded_words(name)}"\n'
                f"Content-Disposition: attachment; filename*=UTF-8''{quoted}\n"
                f"Content-Transfer-Encoding: base64\n\n{_b64(content)}\n--{boundary}--\n"
            )
        return (headers + "MIME-Version: 1.0\n" + text_part).encode("ascii")

    # -- kinds of mail --------------------------------------------------------------------

    def new_ticket(self) -> bytes:
        """A new request from one of many senders (Gmail, Outlook or iPhone; some forwarded)."""
        name, address, office = self.rng.choice(self.people)
        style = self.rng.choice(("gmail", "gmail", "outlook", "outlook", "iphone"))
        topic = self.rng.choice(_TOPICS)
        subject = f"{topic} (folio {self.rng.randrange(10000, 99999)})"
        if self.rng.random() < 0.1:
            subject = f"RV: {subject}"
        when = self._when()
        message_id = self._message_id(style)
        lines = self._request_text(name, office)
        if style == "iphone":
            lines += ["", "Enviado desde mi iPhone"]
        plain = "\n".join(lines) + "\n"
        headers = (
            self._received(style, when)
            + f"From: {_address(name, address)}\nTo: {_BOT_FROM}\n"
            + f"Subject: {_encoded_words(subject)}\nDate: {format_datetime(when)}\n"
            + f"Message-ID: {message_id}\n"
            + self._client_headers(style)
        )
        if style == "outlook":
            html: str | None = _outlook_html(lines)
            charset, encoding = self.rng.choice(
                (("iso-8859-1", "quoted-printable"), ("utf-8", "base64"))
            )
        elif style == "gmail":
            html = _gmail_html(lines)
            charset, encoding = "UTF-8", self.rng.choice(("quoted-printable", "base64"))
        else:
            html, charset, encoding = None, "utf-8", "quoted-printable"
        raw = self._assemble(headers, plain, html, charset, encoding, self.rng.random() < 0.05)
        # On an empty database each new ticket opens the next case id, in delivery order.
        self.tickets.append(
            _Ticket(len(self.tickets) + 1, message_id, subject, name, address, plain)
        )
        self.expected["opened"] += 1
        return raw

    def _ack_text(self, ticket: _Ticket) -> str:
        """What our acknowledgement said, as it comes back quoted."""
        return (
            f"Hola {ticket.name}:\n\nRecibimos tu solicitud y quedó registrada con la referencia "
            f"MA-006 #{ticket.case_id}.\nUn especialista de la Mesa de Ayuda la atenderá en "
            "nuestro horario de atención.\n\nPara dar seguimiento, responde a este correo sin "
            "cambiar el asunto.\n\nMesa de Ayuda N1 · Promotoría Ejemplo\n"
            "Este es un mensaje automático.\n"
        )

    def reply(self) -> bytes:
        """A reply with quoted history, threaded by the subject tag or by In-Reply-To."""
        ticket = self.rng.choice(self.tickets[-500:])  # people answer recent tickets
        if self.rng.random() < 0.8:
            name, address = ticket.name, ticket.address
        else:  # a colleague on the thread answers too
            name, address, _ = self.rng.choice(self.people)
        style = self.rng.choice(("gmail", "outlook", "iphone"))
        by_tag = self.rng.random() < 0.6
        when = self._when()
        stamp = self.at - timedelta(minutes=self.rng.randrange(30, 600))
        clock = f"{stamp.hour}:{stamp.minute:02d}"
        ack_serial = f"{self.rng.randrange(10**11, 10**12)}.7759.{self.serial}"
        ack_id = f"<{ack_serial}.mesabot.{ticket.case_id}@example.com>"
        prefix = "RE:" if style == "outlook" else "Re:"
        if by_tag:
            subject = (
                f"{prefix} Recibimos tu solicitud: {ticket.subject} [MA-006 #{ticket.case_id}]"
            )
            history_from, history_text = _BOT_FROM, self._ack_text(ticket)
            in_reply_to, references = ack_id, f"{ticket.message_id}\n {ack_id}"
        else:
            subject = f"{prefix} {ticket.subject}"
            history_from = _address(ticket.name, ticket.address)
            history_text = ticket.body
            in_reply_to, references = ticket.message_id, ticket.message_id
        own = [self.rng.choice(_REPLIES), "", *self.rng.sample(_SENTENCES, self.rng.randint(0, 2))]
        own += ["", name, f"Folio interno {self.rng.randrange(10**6, 10**7)}"]
        history_name = history_from.split(" <")[0] if by_tag else ticket.name
        html: str | None
        if style == "gmail":
            weekday = _WEEKDAYS[stamp.weekday()]
            month = _MONTHS[stamp.month - 1]
            attribution = (
                f"El {weekday}, {stamp.day} {month} {stamp.year} a las {clock}, "
                f"{history_name} <{_BOT if by_tag else ticket.address}> escribió:"
            )
            quoted = "\n".join(f"> {line}".rstrip() for line in history_text.split("\n"))
            plain = "\n".join(own) + f"\n\n{attribution}\n\n{quoted}\n"
            html = _gmail_html(own, attribution, history_text)
            charset, encoding = "UTF-8", self.rng.choice(("quoted-printable", "base64"))
        elif style == "outlook":
            sent = (
                f"{_WEEKDAYS_LONG[stamp.weekday()]}, {stamp.day} de noviembre de "
                f"{stamp.year} {clock}"
            )
            header = [
                "________________________________",
                f"De: {history_name} <{_BOT if by_tag else ticket.address}>",
                f"Enviado: {sent}",
                f"Para: {name} <{address}>",
                f"Asunto: {subject[4:]}",
                "",
            ]
            plain = "\n".join([*own, "", *header]) + "\n" + history_text
            history_html = (
                '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm '
                '0cm">\n'
                + "\n".join(f'<p class="MsoNormal">{_html_escape(h)}</p>' for h in header[1:5])
                + "\n</div>\n"
                + "\n".join(
                    f'<p class="MsoNormal">{_html_escape(h) or "&nbsp;"}</p>'
                    for h in history_text.split("\n")
                )
            )
            html = _outlook_html(own, history_html)
            charset, encoding = self.rng.choice(
                (("iso-8859-1", "quoted-printable"), ("utf-8", "base64"))
            )
        else:
            month = _MONTHS[stamp.month - 1]
            attribution = (
                f"> El {stamp.day} {month} {stamp.year}, a las {clock}, {history_name} "
                f"<{_BOT if by_tag else ticket.address}> escribió:"
            )
            quoted = "\n".join(f"> {line}".rstrip() for line in history_text.split("\n"))
            plain = "\n".join(own) + f"\n\nEnviado desde mi iPhone\n\n{attribution}\n> \n{quoted}\n"
            html, charset, encoding = None, "utf-8", "quoted-printable"
        headers = (
            self._received(style, when)
            + f"From: {_address(name, address)}\nTo: {_BOT_FROM}\n"
            + f"Subject: {_encoded_words(subject)}\nDate: {format_datetime(when)}\n"
            + f"Message-ID: {self._message_id(style)}\nIn-Reply-To: {in_reply_to}\n"
            + f"References: {references}\n"
            + self._client_headers(style)
        )
        self.expected["attached"] += 1
        return self._assemble(headers, plain, html, charset, encoding, self.rng.random() < 0.04)

    def auto_reply(self) -> bytes:
        """An out-of-office answer to one of our acknowledgements (Exchange or Gmail)."""
        ticket = self.rng.choice(self.tickets[-500:])
        when = self._when()
        exchange = self.rng.random() < 0.6
        if exchange:
            tag = f"[MA-006 #{ticket.case_id}]"
            subject = f"Respuesta automática: Recibimos tu solicitud: {ticket.subject} {tag}"
            extra = "Auto-Submitted: auto-replied\nX-Auto-Response-Suppress: All\n"
            style = "outlook"
        else:
            subject = "Fuera de la oficina"
            extra = "Auto-Submitted: auto-replied\nPrecedence: bulk\n"
            style = "gmail"
        lines = [
            "Gracias por su mensaje.",
            "",
            f"Estaré fuera de la oficina hasta el {self.rng.randrange(24, 31)} de noviembre, "
            "con acceso limitado al correo.",
            "Para asuntos urgentes, comuníquese con la promotoría al 55 5555 0000.",
            "",
            ticket.name,
        ]
        headers = (
            self._received(style, when)
            + f"From: {_address(ticket.name, ticket.address)}\nTo: {_BOT_FROM}\n"
            + f"Subject: {_encoded_words(subject)}\nDate: {format_datetime(when)}\n"
            + f"Message-ID: {self._message_id(style)}\n{extra}"
            + self._client_headers(style)
        )
        html = _outlook_html(lines) if exchange else None
        self.expected["ignored"] += 1
        return self._assemble(
            headers, "\n".join(lines) + "\n", html, "utf-8", "quoted-printable", False
        )

    def next(self) -> bytes:
        """The next mail: about half new tickets, 40 % replies, 7 % automatic answers."""
        if len(self.tickets) < 20:
            return self.new_ticket()
        draw = self.rng.random()
        if draw < 0.53:
            return self.new_ticket()
        if draw < 0.93:
            return self.reply()
        return self.auto_reply()


def _prepare_inbox(folder: Path, count: int, at: datetime) -> dict[str, Any]:
    """A config, a migrated SQLite database and `count` mails delivered to inbox/new."""
    from bot.app import build_app, migrate
    from bot.clock import FixedClock
    from bot.config import load_config

    shutil.copyfile(ROOT / "config.toml", folder / "config.toml")
    config = load_config(folder / "config.toml", {})
    app = build_app(config, FixedClock(at), folder)
    migrate(app)
    app.mail.ensure()
    app.db.dispose()
    new = config.mail.maildir / "inbox" / "new"
    factory = _MailFactory(seed=20261123, at=at)
    # Delivery order is modification time, then name: stamp each file one microsecond apart.
    first_ns = int(at.timestamp()) * 1_000_000_000
    size = 0
    for n in range(count):
        raw = factory.next()
        size += len(raw)
        path = new / f"{int(at.timestamp()) - count + n}.M{n:06d}P4242Q{n}.mx1,S={len(raw)}"
        path.write_bytes(raw)
        stamp = first_ns + n * 1000
        os.utime(path, ns=(stamp, stamp))
    return {"expected": factory.expected, "attachments": factory.attachments, "bytes": size}


def _maxrss_mb() -> float:
    """This process's own peak resident set size so far, in MB."""
    # Linux carries the parent's RSS at the fork into the child's ru_maxrss across exec, so
    # a child started by a large parent would report the parent's size; VmHWM is the peak
    # of this process's own memory. ru_maxrss where there is no /proc.
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _inbox_files(folder: Path) -> list[Path]:
    """Every delivered mail, whether still in inbox/new or already moved to inbox/cur."""
    inbox = folder / "var" / "mail" / "inbox"
    return sorted(p for sub in ("new", "cur") for p in (inbox / sub).iterdir() if p.is_file())


def _child_baseline(folder: Path) -> dict[str, Any]:
    """Read and parse every mail with the email package alone, walking parts for the text."""
    files = _inbox_files(folder)
    rss_before = _maxrss_mb()
    chars = 0
    start = time.perf_counter()
    for path in files:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for part in msg.walk():
            if part.get_content_maintype() == "text" and not part.is_attachment():
                chars += len(part.get_content())  # type: ignore[attr-defined]
    seconds = time.perf_counter() - start
    return {
        "messages": len(files),
        "seconds": seconds,
        "text_chars": chars,
        "rss_before_mb": rss_before,
        "peak_rss_mb": _maxrss_mb(),
    }


def _child_pipeline(folder: Path, at: datetime, profile: str | None) -> dict[str, Any]:
    """Ingest the whole inbox through the pipeline on SQLite, then dispatch the outbox."""
    from bot.app import build_app
    from bot.clock import FixedClock
    from bot.config import load_config

    config = load_config(folder / "config.toml", {})
    app = build_app(config, FixedClock(at), folder)
    app.mail.ensure()
    rss_before = _maxrss_mb()
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    report = app.ingestor.run(app.mail, at)
    if profiler is not None:
        profiler.disable()
    ingest_s = time.perf_counter() - start
    ingest_rss = _maxrss_mb()
    if profiler is not None and profile:
        profiler.dump_stats(profile)
    start = time.perf_counter()
    dispatch = app.dispatcher.run_all(at)
    dispatch_s = time.perf_counter() - start
    app.db.dispose()
    return {
        "messages": report.total,
        "counts": report.counts,
        "seconds": ingest_s,
        "rss_before_mb": rss_before,
        "peak_rss_mb": ingest_rss,
        "dispatch_sent": dispatch.sent,
        "dispatch_failed": dispatch.failed,
        "dispatch_s": dispatch_s,
        "peak_rss_with_dispatch_mb": _maxrss_mb(),
    }


def _child(args: Sequence[str]) -> int:
    """Entry point of the measuring child processes: prints one JSON object."""
    mode, folder = args[0], Path(args[1])
    if mode == "recert":
        result = bench_recert.child_pipeline(folder, _maxrss_mb)
    elif mode == "recert-baseline":
        result = bench_recert.child_baseline(folder, _maxrss_mb)
    elif mode == "baseline":
        result = _child_baseline(folder)
    elif mode == "hostile":
        result = _child_hostile(folder, Path(args[2]))
    else:
        profile = args[3] if len(args) > 3 else None
        result = _child_pipeline(folder, datetime.fromisoformat(args[2]), profile)
    print(json.dumps(result))
    return 0


def _run_child(*args: str) -> dict[str, Any]:
    """Run one measuring child process and return what it reported."""
    cmd = [sys.executable, str(Path(__file__).resolve()), CHILD, *args]
    done = subprocess.run(
        cmd, env=_child_env(), check=True, capture_output=True, text=True, timeout=3600
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench_ingest(messages: int = INGEST_MESSAGES, profile: str | None = None) -> dict[str, Any]:
    """Time the whole inbound pipeline on `messages` mails against parsing them only."""
    with tempfile.TemporaryDirectory(prefix="mesabot-bench-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        prepared = _prepare_inbox(folder, messages, INGEST_AT)
        prepare_s = time.perf_counter() - start
        # The baseline runs before and after the pipeline (which only moves the files), so
        # a change in the machine's load during the run shows in both figures alike.
        before = _run_child("baseline", str(folder))
        args = ["pipeline", str(folder), INGEST_AT.isoformat()]
        pipeline = _run_child(*args, *([str(Path(profile).resolve())] if profile else []))
        after = _run_child("baseline", str(folder))
    expected = prepared["expected"]
    if pipeline["counts"] != {k: v for k, v in expected.items() if v}:
        raise SystemExit(f"ingest: expected {expected}, the pipeline did {pipeline['counts']}")
    if before["messages"] != messages or after["messages"] != messages:
        raise SystemExit(f"ingest: the baseline read {before['messages']} of {messages} mails")
    baseline_s = (before["seconds"] + after["seconds"]) / 2
    pipeline_rate = messages / pipeline["seconds"]
    baseline_rate = messages / baseline_s
    sent = pipeline["dispatch_sent"]
    return {
        "messages": messages,
        "mix": expected,
        "attachments": prepared["attachments"],
        "inbox_mb": prepared["bytes"] / 1e6,
        "prepare_s": prepare_s,
        "pipeline_s": pipeline["seconds"],
        "pipeline_messages_per_s": pipeline_rate,
        "baseline_s": baseline_s,
        "baseline_runs_s": [before["seconds"], after["seconds"]],
        "baseline_messages_per_s": baseline_rate,
        "ratio": baseline_rate / pipeline_rate,
        "pipeline_peak_rss_mb": pipeline["peak_rss_mb"],
        "pipeline_rss_before_mb": pipeline["rss_before_mb"],
        "baseline_peak_rss_mb": max(before["peak_rss_mb"], after["peak_rss_mb"]),
        "baseline_rss_before_mb": before["rss_before_mb"],
        "dispatch_sent": sent,
        "dispatch_failed": pipeline["dispatch_failed"],
        "dispatch_s": pipeline["dispatch_s"],
        "dispatch_messages_per_s": sent / pipeline["dispatch_s"] if sent else 0.0,
        "peak_rss_with_dispatch_mb": pipeline["peak_rss_with_dispatch_mb"],
        "target_messages_per_s": INGEST_TARGET,
        "within_target": pipeline_rate >= INGEST_TARGET,
    }


# --- report ---------------------------------------------------------------------------------


def bench_classify() -> dict[str, Any]:
    """Replies per second, warm, over the corpus; warm-up cost measured apart."""
    from bot.handlers.entities import extract, warm_up
    from bot.handlers.intents import understand
    from bot.handlers.quotes import strip_reply
    from tests.corpus import CORPUS, HOLDOUT, load

    started = time.perf_counter()
    warm_up()
    warm_up_s = time.perf_counter() - started
    examples = [*load(CORPUS), *load(HOLDOUT)]

    def clean_only() -> None:
        for ex in examples:
            strip_reply(ex.text)

    def classify_all() -> None:
        for ex in examples:
            cleaned = strip_reply(ex.text)
            understand(cleaned)
            extract(cleaned, ex.now)

    def best(call: Callable[[], None]) -> float:
        timings = []
        for _ in range(CLASSIFY_ROUNDS):
            begin = time.perf_counter()
            call()
            timings.append(time.perf_counter() - begin)
        return min(timings)

    clean_s, classify_s = best(clean_only), best(classify_all)
    return {
        "replies": len(examples),
        "warm_up_s": warm_up_s,
        "classify_replies_per_s": len(examples) / classify_s,
        "baseline_replies_per_s": len(examples) / clean_s,
        "ratio": classify_s / clean_s,
    }


# --- hostile attachments -------------------------------------------------------------------


def _child_hostile(path: Path, warm_up: Path) -> dict[str, Any]:
    """Answer one attachment as the bot does: the report on the form, or the refusal."""
    from bot.config import load_config
    from bot.documents.intake import read_intake, report_es
    from bot.documents.xlsx import SpreadsheetError

    config = load_config(ROOT / "config.toml", {})
    # The daemon has already read forms: lazy imports (email_validator, stdnum) are paid.
    report_es(read_intake(warm_up.read_bytes(), config))
    data = path.read_bytes()
    rss_before = _maxrss_mb()
    start = time.perf_counter()
    try:
        answer = report_es(read_intake(data, config))
        kind = "report"
    except SpreadsheetError as exc:
        answer = exc.reason_es
        kind = exc.kind
    seconds = time.perf_counter() - start
    return {
        "bytes": len(data),
        "kind": kind,
        "answer": answer,
        "seconds": seconds,
        "rss_before_mb": rss_before,
        "peak_rss_mb": _maxrss_mb(),
    }


def _outcome(kind: str, answer: str) -> str:
    """The refusal message, or the report's first detail, cut to HOSTILE_OUTCOME_CHARS."""
    if kind == "report":
        details = [line[2:] for line in answer.splitlines() if line.startswith("- ")]
        answer = details[0] if details else answer.splitlines()[0]
    return answer[:HOSTILE_OUTCOME_CHARS]


def bench_hostile() -> dict[str, Any]:
    """Each hostile attachment in a fresh child process, against the valid one-user form."""
    from tests.hostile_files import HOSTILE, VALID_FORM

    files: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mesabot-bench-") as tmp:
        valid = Path(tmp) / "valid_form.xlsx"
        valid.write_bytes(VALID_FORM())
        before = _run_child("hostile", str(valid), str(valid))
        for hostile in HOSTILE:
            path = Path(tmp) / f"{hostile.name}{Path(hostile.filename).suffix}"
            path.write_bytes(hostile.build())
            measured = _run_child("hostile", str(path), str(valid))
            path.unlink()
            answer = measured.pop("answer")
            files.append(
                {
                    "name": hostile.name,
                    "filename": hostile.filename,
                    "expect": hostile.expect,
                    "expected": hostile.expect in answer,
                    "outcome": _outcome(measured["kind"], answer),
                    "answer_chars": len(answer),
                    **measured,
                }
            )
        after = _run_child("hostile", str(valid), str(valid))
    if before["kind"] != "report" or "completo y correcto" not in before["answer"]:
        raise SystemExit(f"hostile: the valid form was not accepted: {before['answer'][:200]}")
    baseline_s = (before["seconds"] + after["seconds"]) / 2
    baseline_rss = max(before["peak_rss_mb"], after["peak_rss_mb"])
    for row in files:
        row["time_ratio"] = row["seconds"] / baseline_s
        row["rss_ratio"] = row["peak_rss_mb"] / baseline_rss
        row["over_time"] = row["seconds"] > HOSTILE_MAX_S
        row["over_rss"] = row["peak_rss_mb"] > HOSTILE_MAX_RSS_MB
    exceeding = [row["name"] for row in files if row["over_time"] or row["over_rss"]]
    return {
        "files": files,
        "unexpected": [row["name"] for row in files if not row["expected"]],
        "baseline_s": baseline_s,
        "baseline_runs_s": [before["seconds"], after["seconds"]],
        "baseline_peak_rss_mb": baseline_rss,
        "baseline_rss_before_mb": before["rss_before_mb"],
        "max_s": HOSTILE_MAX_S,
        "max_rss_mb": HOSTILE_MAX_RSS_MB,
        "exceeding": exceeding,
        "within_target": not exceeding,
    }


def _ratio(value: float) -> str:
    """A ratio with two significant digits below 10, whole above."""
    return f"{value:.2g}" if value < 10 else f"{value:.0f}"


def _hostile_table(hostile: dict[str, Any]) -> str:
    """One row per hostile file: outcome, time, peak RSS, ratios, EXCEDE when over a limit."""
    header = ("file", "outcome", "seconds", "peak RSS", "x time", "x RSS", "limits")
    rows = [
        (
            "valid_form.xlsx (baseline)",
            "el usuario está completo y correcto",
            f"{hostile['baseline_s']:.4f}",
            f"{hostile['baseline_peak_rss_mb']:.0f} MB",
            "1",
            "1",
            "",
        )
    ]
    for row in hostile["files"]:
        over = [
            name
            for name, flag in (
                (f"> {HOSTILE_MAX_S:.0f} s", row["over_time"]),
                (f"> {HOSTILE_MAX_RSS_MB:.0f} MB", row["over_rss"]),
            )
            if flag
        ]
        rows.append(
            (
                row["name"],
                row["outcome"],
                f"{row['seconds']:.4f}",
                f"{row['peak_rss_mb']:.0f} MB",
                _ratio(row["time_ratio"]),
                _ratio(row["rss_ratio"]),
                f"EXCEDE ({', '.join(over)})" if over else "",
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    right = {2, 3, 4, 5}
    lines = [header, tuple("-" * w for w in widths), *rows]
    return "\n".join(
        "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    )


def _table(rows: list[tuple[str, str, str, str]]) -> str:
    """A plain fixed-width table."""
    header = ("benchmark", "measured", "baseline", "ratio")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [header, tuple("-" * w for w in widths), *rows]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The sections to run and the ingest options."""
    parser = argparse.ArgumentParser(description="Mesa Bot benchmarks")
    parser.add_argument(
        "sections", nargs="*", metavar="SECTION", help=f"any of {', '.join(SECTIONS)} (all)"
    )
    parser.add_argument("--ingest-messages", type=int, default=INGEST_MESSAGES, metavar="N")
    parser.add_argument(
        "--ingest-profile", metavar="FILE", help="write cProfile stats of the ingestion here"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.ingest_messages < 100:
        parser.error("--ingest-messages must be at least 100")
    args.sections = [name for name in SECTIONS if name in args.sections] or list(SECTIONS)
    return args


def _rows(results: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """The table rows of the sections that ran."""
    rows: list[tuple[str, str, str, str]] = []
    startup = results.get("startup")
    if startup:
        rows.append(
            (
                f"startup: mesabot --help (median of {startup['runs']})",
                f"{startup['help_median_s'] * 1000:.0f} ms",
                f"{startup['baseline_median_s'] * 1000:.0f} ms (python -c pass)",
                f"{startup['ratio']:.1f}x",
            )
        )
    engine = results.get("engine")
    if engine:
        rows.append(
            (
                "engine: step() MA-006 resolver",
                f"{engine['step_calls_per_s']:,.0f} calls/s ({engine['step_us']:.1f} µs)",
                f"{engine['baseline_calls_per_s']:,.0f} calls/s (trivial call)",
                f"{engine['ratio']:.0f}x slower",
            )
        )
    cycle = results.get("cycle")
    if cycle:
        help_ms = f"{startup['help_median_s'] * 1000:.0f} ms (--help start-up)" if startup else "-"
        rows += [
            (
                f"cycle: run_once, {cycle['messages']} acks",
                f"{cycle['cycle_s']:.2f} s ({cycle['cycle_ms_per_message']:.2f} ms/msg)",
                "-",
                "-",
            ),
            (
                f"cycle: mesabot run --once, {cycle['messages']} acks",
                f"{cycle['cli_run_once_s']:.2f} s ({cycle['cli_ms_per_message']:.2f} ms/msg)",
                help_ms,
                "-",
            ),
        ]
    ingest = results.get("ingest")
    if ingest:
        rows += [
            (
                f"ingest: pipeline on SQLite, {ingest['messages']:,} mails",
                f"{ingest['pipeline_messages_per_s']:,.0f} msg/s ({ingest['pipeline_s']:.1f} s)",
                f"{ingest['baseline_messages_per_s']:,.0f} msg/s (email parse only)",
                f"{ingest['ratio']:.1f}x slower",
            ),
            (
                "ingest: peak RSS (VmHWM, own process)",
                f"{ingest['pipeline_peak_rss_mb']:.0f} MB",
                f"{ingest['baseline_peak_rss_mb']:.0f} MB (email parse only)",
                f"{ingest['pipeline_peak_rss_mb'] / ingest['baseline_peak_rss_mb']:.1f}x",
            ),
            (
                f"ingest: then dispatch the outbox, {ingest['dispatch_sent']:,} mails",
                f"{ingest['dispatch_messages_per_s']:,.0f} msg/s ({ingest['dispatch_s']:.1f} s)",
                "-",
                "-",
            ),
        ]
    classify = results.get("classify")
    if classify:
        rows += [
            (
                f"classify: {classify['replies']} corpus replies, warm",
                f"{classify['classify_replies_per_s']:,.0f} replies/s",
                f"{classify['baseline_replies_per_s']:,.0f} replies/s (cleaning only)",
                f"{classify['ratio']:.1f}x slower",
            ),
            ("classify: dateparser warm-up at start", f"{classify['warm_up_s']:.2f} s", "-", "-"),
        ]
    hostile = results.get("hostile")
    if hostile:
        files = hostile["files"]
        slowest = max(files, key=lambda row: row["seconds"])
        largest = max(files, key=lambda row: row["peak_rss_mb"])
        over = len(hostile["exceeding"])
        rows += [
            (
                f"hostile: {len(files)} files, slowest",
                f"{slowest['seconds']:.2f} s ({slowest['name']})",
                f"{hostile['baseline_s'] * 1000:.1f} ms (valid one-user form)",
                f"{slowest['time_ratio']:.0f}x",
            ),
            (
                "hostile: highest peak RSS (VmHWM, own process)",
                f"{largest['peak_rss_mb']:.0f} MB ({largest['name']})",
                f"{hostile['baseline_peak_rss_mb']:.0f} MB (valid one-user form)",
                f"{largest['rss_ratio']:.1f}x",
            ),
            (
                f"hostile: over {HOSTILE_MAX_S:.0f} s or {HOSTILE_MAX_RSS_MB:.0f} MB",
                f"{over} of {len(files)}",
                "-",
                "-",
            ),
        ]
    sweep = results.get("sweep")
    if sweep:
        agents = sweep["agents"]
        rows += [
            (
                f"sweep: first, {agents} new agents (MA-002 cases)",
                f"{sweep['first_sweep_s']:.2f} s ({sweep['first_ms_per_agent']:.1f} ms/agent)",
                f"{sweep['baseline_ms_per_ticket']:.1f} ms/ticket ({agents} MA-006 opened)",
                f"{sweep['first_ratio']:.1f}x",
            ),
            (
                f"sweep: agent form alone (median of {sweep['form_runs']})",
                f"{sweep['form_median_ms']:.1f} ms ({sweep['form_bytes'] / 1024:.1f} KB .xlsx)",
                f"{sweep['first_ms_per_agent']:.1f} ms/agent (first sweep)",
                f"{sweep['form_share_of_agent']:.0%} of it",
            ),
            (
                f"sweep: dispatch {sweep['dispatch_sent']} confirmations with the form",
                f"{sweep['dispatch_s']:.2f} s ({sweep['dispatch_ms_per_mail']:.1f} ms/mail, "
                f"{sweep['mail_kb']:.1f} KB)",
                f"{sweep['baseline_ms_per_ack']:.1f} ms/mail ({sweep['baseline_acks_sent']} "
                f"MA-006 acks, {sweep['ack_kb']:.1f} KB)",
                f"{sweep['dispatch_ratio']:.1f}x",
            ),
            (
                f"sweep: next day, {agents} known, none new (median of {sweep['next_day_runs']})",
                f"{sweep['next_day_median_ms']:.1f} ms",
                f"{sweep['baseline_list_median_ms']:.1f} ms (list «Solicitado» alone)",
                f"{sweep['next_day_ratio']:.1f}x",
            ),
        ]
    recert = results.get("recert")
    if recert:
        rows += bench_recert.rows(recert)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks, print the table, write results/latest.json."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [CHILD]:
        return _child(argv[1:])
    args = _parse_args(argv)
    started = time.perf_counter()
    print(f"Mesa Bot benchmarks (python {platform.python_version()})...", flush=True)
    results: dict[str, dict[str, Any]] = {}
    for name in args.sections:
        if name == "startup":
            results[name] = bench_startup()
        elif name == "engine":
            results[name] = bench_engine()
        elif name == "cycle":
            results[name] = bench_cycle()
        elif name == "classify":
            results[name] = bench_classify()
        elif name == "hostile":
            results[name] = bench_hostile()
        elif name == "sweep":
            results[name] = bench_sweep()
        elif name == "recert":
            with tempfile.TemporaryDirectory(prefix="mesabot-bench-") as tmp:
                results[name] = bench_recert.bench(_run_child, Path(tmp))
        else:
            results[name] = bench_ingest(args.ingest_messages, args.ingest_profile)

    print()
    print(_table(_rows(results)))
    print()
    startup = results.get("startup")
    if startup:
        print(
            f"start-up overhead of --help over an empty interpreter: "
            f"{startup['overhead_s'] * 1000:.0f} ms (target < {STARTUP_TARGET_S * 1000:.0f} ms)"
        )
        if not startup["within_target"]:
            print(
                f"WARNING: mesabot --help start-up overhead {startup['overhead_s']:.3f} s "
                f"exceeds the {STARTUP_TARGET_S} s target"
            )
    ingest = results.get("ingest")
    if ingest:
        mix = ", ".join(f"{count:,} {kind}" for kind, count in ingest["mix"].items())
        print(
            f"ingest: {mix}; {ingest['attachments']} with an attachment; "
            f"{ingest['inbox_mb']:.0f} MB of mail"
        )
        print(
            f"ingest end to end: {ingest['pipeline_messages_per_s']:,.0f} msg/s "
            f"(target >= {INGEST_TARGET:.0f} msg/s)"
        )
        if not ingest["within_target"]:
            print(
                f"WARNING: ingestion at {ingest['pipeline_messages_per_s']:.0f} msg/s is below "
                f"the {INGEST_TARGET:.0f} msg/s target"
            )

    sweep = results.get("sweep")
    if sweep:
        print(
            f"sweep, CPU time of the same runs: first sweep {sweep['first_cpu_ratio']:.1f}x "
            f"the tickets, dispatch {sweep['dispatch_cpu_ratio']:.1f}x the acks per mail"
        )

    hostile = results.get("hostile")
    if hostile:
        print("hostile attachments, each in a fresh process (read_intake + report_es):")
        print(_hostile_table(hostile))
        if not hostile["within_target"]:
            print(
                f"WARNING: {', '.join(hostile['exceeding'])} take more than {HOSTILE_MAX_S:.0f} s "
                f"or {HOSTILE_MAX_RSS_MB:.0f} MB"
            )
        if hostile["unexpected"]:
            print(
                f"WARNING: the answer to {', '.join(hostile['unexpected'])} lacks the expected "
                "text (see tests/hostile_files.py)"
            )

    total = time.perf_counter() - started
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "total_s": total,
        "sections": args.sections,
        "benchmarks": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "latest.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"results: {out.relative_to(ROOT)} ({total:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
