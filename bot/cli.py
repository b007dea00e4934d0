"""The `mesabot` command line. Heavy libraries are imported inside commands, so --help is fast."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from bot.app import App
    from bot.clock import Clock
    from bot.config import Config

EXIT_RUNTIME = 1
EXIT_USAGE = 2

cli = typer.Typer(
    name="mesabot",
    help="Mesa Bot: automatización de la Mesa de Ayuda N1.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class Options:
    """Global options given before the command."""

    config: Path
    now: str | None


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print an error to stderr and exit with the contract's code."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _opts(ctx: typer.Context) -> Options:
    """The global options stored by the callback."""
    opts = ctx.obj
    assert isinstance(opts, Options)
    return opts


def _load(opts: Options) -> Config:
    """Load and validate the configuration, or exit 2 listing every error."""
    from bot.config import ConfigError, load_config

    try:
        return load_config(opts.config)
    except ConfigError as exc:
        _fail(f"Configuración inválida ({opts.config}):\n{exc}")


def _clock(opts: Options, config: Config) -> Clock:
    """The system clock, or a fixed one when --now is given."""
    from zoneinfo import ZoneInfo

    from bot.clock import FixedClock, SystemClock

    if opts.now is None:
        return SystemClock()
    try:
        at = datetime.fromisoformat(opts.now.strip())
    except ValueError:
        _fail(f"--now: fecha y hora ISO 8601 inválida: {opts.now!r}")
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(config.organization.timezone))
    return FixedClock(at)


def _app(ctx: typer.Context) -> App:
    """Build the application and bring its database up to date."""
    from bot.app import build_app, migrate

    opts = _opts(ctx)
    config = _load(opts)
    app = build_app(config, _clock(opts, config), opts.config.resolve().parent)
    migrate(app)
    return app


def _print_json(value: Any) -> None:
    """JSON on stdout, UTF-8, stable key order as built."""
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


@cli.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Archivo de configuración ($MESABOT_CONFIG, luego ./config.toml)."
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option("--now", help="Fija el reloj (ISO 8601; sin zona = hora de la organización)."),
    ] = None,
) -> None:
    """Mesa Bot: automatización de la Mesa de Ayuda N1."""
    env_config = os.environ.get("MESABOT_CONFIG", "").strip()
    path = config or (Path(env_config) if env_config else Path("config.toml"))
    ctx.obj = Options(config=path, now=now)


@cli.command("check-config")
def check_config(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Valida la configuración; sale con 2 listando todos los errores."""
    from bot.config import ConfigError, load_config

    opts = _opts(ctx)
    try:
        config = load_config(opts.config)
    except ConfigError as exc:
        if as_json:
            issues = [{"key": i.key, "message": i.message} for i in exc.issues]
            _print_json({"ok": False, "config": str(opts.config), "errors": issues})
        else:
            typer.echo(f"Configuración inválida ({opts.config}):", err=True)
            for issue in exc.issues:
                typer.echo(f"  {issue.key}: {issue.message}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    if as_json:
        _print_json({"ok": True, "config": str(opts.config), "errors": []})
    else:
        typer.echo(
            f"Configuración válida: {opts.config} ({config.organization.name}, "
            f"correo {config.mail.backend}, {len(config.people.specialists)} especialistas, "
            f"{len(config.zones)} zonas)"
        )


@cli.command()
def run(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Un ciclo completo y salir.")] = False,
) -> None:
    """Inicia el daemon (o un solo ciclo con --once)."""
    import logging

    from bot.app import run_daemon, run_once

    logging.basicConfig(
        level=os.environ.get("MESABOT_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Library chatter (a line per migration step, per scheduler tick) hides what matters.
    for noisy in ("alembic", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app = _app(ctx)
    if once:
        report = run_once(app)
        typer.echo(
            f"Ciclo completo: {report.ingest.total} recibidos, "
            f"{report.sweep.fired} temporizadores, "
            f"{report.dispatch.sent} enviados, {report.dispatch.failed} fallidos, "
            f"{report.dispatch.retried} reintentos"
        )
        return
    run_daemon(app)


@cli.command()
def cases(
    ctx: typer.Context,
    process: Annotated[str | None, typer.Option("--process", help="Código, p. ej. MA-006.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="Estado (slug).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Lista los casos."""
    from sqlalchemy import select

    from bot.views import case_summary
    from storage.models import Case

    app = _app(ctx)
    query = select(Case).order_by(Case.id)
    if process:
        query = query.where(Case.process == process.upper())
    if state:
        query = query.where(Case.state == state)
    with app.db.sessions() as s:
        rows = [case_summary(app.workflow, c) for c in s.scalars(query)]
    if as_json:
        _print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("Caso", "Estado", "Asunto", "Solicitante", "Asignado", "Actualizado")
    for r in rows:
        table.add_row(
            r["ref"],
            r["state_label"],
            r["subject"],
            r["requester"],
            r["assignee"] or "",
            (r["updated_at"] or "")[:16],
        )
    Console().print(table)


@cli.command()
def case(
    ctx: typer.Context,
    case_id: Annotated[int, typer.Argument(metavar="ID", help="Número de caso.")],
    action: Annotated[
        str | None, typer.Argument(metavar="[ACTION]", help="tomar, resolver, nota...")
    ] = None,
    sets: Annotated[
        list[str] | None, typer.Option("--set", metavar="KEY=VALUE", help="Dato de la acción.")
    ] = None,
    attach: Annotated[
        list[Path] | None, typer.Option("--attach", metavar="PATH", help="Archivo adjunto.")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Texto o nota.")] = None,
    by: Annotated[str | None, typer.Option("--by", metavar="EMAIL", help="Quién actúa.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Muestra un caso, o ejecuta una acción sobre él."""
    from bot.views import case_detail
    from bot.workflow import UnknownCase

    app = _app(ctx)
    if action is None:
        with app.db.sessions() as s:
            try:
                found = app.workflow.get_case(s, case_id)
            except UnknownCase:
                _fail(f"No existe el caso {case_id}.")
            detail = case_detail(app.workflow, s, found)
        if as_json:
            _print_json(detail)
        else:
            _print_case(detail)
        return
    _act(app, case_id, action, sets or [], attach or [], note, by, as_json)


def _parse_sets(sets: list[str]) -> dict[str, str]:
    """KEY=VALUE pairs from repeated --set options."""
    values: dict[str, str] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            _fail(f"--set espera KEY=VALUE, no {item!r}")
        values[key.strip()] = value.strip()
    return values


def _actor(by: str | None) -> str:
    """Who acts: --by, else $MESABOT_USER, else the console user."""
    chosen = by or os.environ.get("MESABOT_USER", "").strip()
    if chosen:
        return chosen.strip().lower()
    import getpass

    return f"cli:{getpass.getuser()}"


def _act(
    app: App,
    case_id: int,
    action: str,
    sets: list[str],
    attach: list[Path],
    note: str | None,
    by: str | None,
    as_json: bool,
) -> None:
    """Run a specialist command on a case and report the outcome."""
    import mimetypes

    from bot.handlers.documents import FileIn, inspect
    from bot.rules.dsl import command
    from bot.rules.engine import Rejected
    from bot.views import case_detail
    from bot.workflow import UnknownCase
    from storage.models import Attachment

    values = _parse_sets(sets)
    if note is not None:
        values.setdefault("nota", note)
    for path in attach:
        if not path.is_file():
            _fail(f"--attach: no existe el archivo {path}")
    actor = _actor(by)
    now = app.clock.now()
    with app.db.transaction() as s:
        try:
            found = app.workflow.get_case(s, case_id)
        except UnknownCase:
            _fail(f"No existe el caso {case_id}.")
        files = []
        for path in attach:
            content = path.read_bytes()
            sha = app.archive.put(content)
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            files.append(FileIn(path.name, kind, content, sha))
            s.add(
                Attachment(
                    case_id=found.id,
                    filename=path.name,
                    content_type=kind,
                    size=len(content),
                    sha256=sha,
                    created_at=now,
                )
            )
        wanted = app.workflow.process(found.process).inspects
        trigger = app.workflow.trigger(
            command(action.lower()),
            actor,
            values=values,
            text=note or "",
            attachments=tuple(f.sha256 for f in files),
            # The same checks as a mailed attachment: a signed letter must be a sane file.
            facts=(
                inspect(files, wanted, app.config, app.calendar.local(now).date())
                if files and wanted
                else {}
            ),
        )
        if actor.startswith("cli:"):
            # A console operator can already read and write the database: trust as a specialist.
            trigger = _as_operator(trigger)
        before = found.state
        outcome = app.workflow.handle(s, found, trigger, now)
    if isinstance(outcome, Rejected):
        message = outcome.reason
        if outcome.available:
            message += " Acciones disponibles: " + ", ".join(outcome.available) + "."
        _fail(message)
    with app.db.sessions() as s:
        detail = case_detail(app.workflow, s, app.workflow.get_case(s, case_id))
    if as_json:
        _print_json(detail)
        return
    steps = ", ".join(outcome.decision.steps)
    label = detail["state_label"]
    if outcome.decision.changed:
        typer.echo(f"{detail['ref']}: {before} -> {detail['state']} ({label}) [{steps}]")
    else:
        typer.echo(f"{detail['ref']}: «{action}» registrado; sigue en {label} [{steps}]")


def _as_operator(trigger: Any) -> Any:
    """The same trigger with the console operator's specialist role."""
    from dataclasses import replace

    return replace(trigger, actor_roles=frozenset({"specialist"}))


def _print_case(detail: dict[str, Any]) -> None:
    """Human view of a case and its history."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{detail['ref']}[/bold] · {detail['state_label']} ({detail['state']})")
    console.print(f"Asunto: {detail['subject']}")
    console.print(f"Solicitante: {detail['requester']}  Asignado: {detail['assignee'] or '-'}")
    console.print(f"Creado: {detail['created_at']}  Actualizado: {detail['updated_at']}")
    history = Table("Fecha", "Qué", "De", "A", "Quién", "Pasos", title="Historial")
    for e in detail["events"]:
        what = e["detail"].get("descripcion") or e["detail"].get("reason") or e["kind"]
        history.add_row(
            (e["at"] or "")[:16],
            str(what),
            e["from_state"] or "",
            e["to_state"] or "",
            e["actor"],
            ", ".join(e["steps"]),
        )
    console.print(history)
    if detail["timers"]:
        console.print(
            "Temporizadores: "
            + ", ".join(f"{t['kind']} ({t['due_at'][:16]})" for t in detail["timers"])
        )
    if detail["tasks"]:
        console.print(
            "Tareas: "
            + ", ".join(f"#{t['id']} {t['title']} [{t['status']}]" for t in detail["tasks"])
        )


@cli.command()
def new(
    ctx: typer.Context,
    process: Annotated[str, typer.Argument(metavar="CODE", help="Proceso, p. ej. MA-006.")],
    subject: Annotated[str, typer.Option("--subject", help="Asunto.")],
    requester: Annotated[str, typer.Option("--requester", metavar="EMAIL", help="Solicitante.")],
    note: Annotated[str, typer.Option("--note", help="Descripción.")] = "",
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Dato del caso (p. ej. clave=A123)."),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", metavar="EMAIL", help="Quién lo registra.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Registra un caso recibido por teléfono o en persona (o un agente, con --set)."""
    from bot.rules.dsl import event
    from bot.views import case_summary
    from bot.workflow import CannotOpen

    app = _app(ctx)
    try:
        app.workflow.process(process.upper())
    except KeyError:
        _fail(f"Proceso desconocido: {process}")
    values = _parse_sets(sets or [])
    now = app.clock.now()
    with app.db.transaction() as s:
        trigger = app.workflow.trigger(event("abrir"), _actor(by), text=note, values=values)
        try:
            opened, _ = app.workflow.open_case(
                s, process.upper(), trigger, now, subject=subject, requester=requester
            )
        except CannotOpen as exc:
            _fail(exc.reason)
        summary = case_summary(app.workflow, opened)
    if as_json:
        _print_json(summary)
    else:
        typer.echo(f"{summary['ref']} abierto: {summary['state_label']}")


@cli.command()
def tasks(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Lista las tareas abiertas de los especialistas."""
    from sqlalchemy import select

    from bot.views import task_summary
    from storage.models import Task

    app = _app(ctx)
    with app.db.sessions() as s:
        rows = [
            task_summary(t, app.calendar)
            for t in s.scalars(select(Task).where(Task.status == "open").order_by(Task.id))
        ]
    if as_json:
        _print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("Tarea", "Caso", "Título", "Asignado", "Vence")
    for r in rows:
        table.add_row(
            f"#{r['id']}",
            str(r["case_id"] or ""),
            r["title"],
            r["assignee"] or "-",
            (r["due_at"] or "")[:16],
        )
    Console().print(table)


@cli.command()
def task(
    ctx: typer.Context,
    task_id: Annotated[int, typer.Argument(metavar="ID", help="Número de tarea.")],
    action: Annotated[str, typer.Argument(metavar="done", help="«done»: la tarea quedó hecha.")],
    note: Annotated[str, typer.Option("--note", help="Qué se hizo.")] = "",
    by: Annotated[str | None, typer.Option("--by", metavar="EMAIL", help="Quién la hizo.")] = None,
) -> None:
    """Marca como hecha una tarea que no avanza su caso (p. ej. un cambio a mano en Pegasus)."""
    from bot.workflow import UnknownTask

    if action != "done":
        _fail(f"Acción desconocida para una tarea: {action!r}; use «done».")
    app = _app(ctx)
    try:
        with app.db.transaction() as s:
            done = app.workflow.complete_task(s, task_id, _actor(by), note, app.clock.now())
    except UnknownTask:
        _fail(f"No existe la tarea abierta {task_id}.")
    typer.echo(f"Tarea #{task_id} hecha ({done}).")


@cli.command()
def rules(
    code: Annotated[str | None, typer.Argument(metavar="[CODE]", help="Proceso.")] = None,
    mermaid: Annotated[bool, typer.Option("--mermaid", help="Diagrama stateDiagram-v2.")] = False,
) -> None:
    """Procesos, estados, transiciones y pasos del documento que cumplen."""
    from bot.rules import PROCESSES, get_process
    from bot.rules.render import describe, to_mermaid

    if code is None:
        procs = list(PROCESSES)
    else:
        try:
            procs = [get_process(code)]
        except KeyError:
            _fail(
                f"Proceso desconocido: {code}. Conocidos: " + ", ".join(p.code for p in PROCESSES)
            )
    for proc in procs:
        typer.echo(to_mermaid(proc) if mermaid else describe(proc))


@cli.command()
def digest(
    ctx: typer.Context,
    print_only: Annotated[bool, typer.Option("--print", help="Solo mostrarlo.")] = False,
) -> None:
    """Arma el resumen diario y lo envía (o lo muestra con --print)."""
    from bot.digest import queue_digest, render_digest

    app = _app(ctx)
    now = app.clock.now()
    if print_only:
        with app.db.sessions() as s:
            typer.echo(render_digest(app.workflow, s, now))
        return
    with app.db.transaction() as s:
        count = queue_digest(app.workflow, s, now)
    app.mail.ensure()
    result = app.dispatcher.run_all(now)
    typer.echo(f"Resumen diario: {count} correos en cola, {result.sent} enviados.")


@cli.command()
def classify(
    ctx: typer.Context,
    text: Annotated[
        str, typer.Argument(help="Texto de la respuesta ('-' lee la entrada estándar).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Lo que el bot entiende de una respuesta: intención y datos (fechas, DSN, RFC...)."""
    from zoneinfo import ZoneInfo

    from bot.handlers.entities import Gazetteer, extract
    from bot.handlers.intents import understand
    from bot.handlers.quotes import strip_reply

    opts = _opts(ctx)
    # Without a config file the organization's default time zone still gives --now meaning
    # (and there are no zones or people to recognise).
    gazetteer = None
    if opts.config.exists():
        config = _load(opts)
        now = _clock(opts, config).now().astimezone(ZoneInfo(config.organization.timezone))
        gazetteer = Gazetteer.from_config(config)
    else:
        now = _reference_now(opts.now)
    body = sys.stdin.read() if text == "-" else text
    cleaned = strip_reply(body)
    reading = understand(cleaned)
    entities = extract(cleaned, now.replace(tzinfo=None), gazetteer).as_json()
    if as_json:
        _print_json({"intent": reading.intent, "entities": entities})
        return
    typer.echo(f"Intención: {reading.intent} ({reading.reason})")
    for key, values in entities.items():
        if values:
            typer.echo(f"{key}: {', '.join(values)}")


def _reference_now(value: str | None) -> datetime:
    """--now (or the present) in Mexico City, when there is no configuration to read."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("America/Mexico_City")
    if value is None:
        return datetime.now(tz)
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        _fail(f"--now: fecha y hora ISO 8601 inválida: {value!r}")
    return at.astimezone(tz) if at.tzinfo else at.replace(tzinfo=tz)


@cli.command()
def health(ctx: typer.Context) -> None:
    """Sale con 0 si el daemon completó un ciclo recientemente (HEALTHCHECK)."""
    from bot.app import build_app, healthy, last_heartbeat

    opts = _opts(ctx)
    config = _load(opts)
    app = build_app(config, _clock(opts, config), opts.config.resolve().parent)
    try:
        ok = healthy(app, app.clock.now())
    except Exception as exc:  # an unreachable database is unhealthy, not a crash
        _fail(f"sin salud: {type(exc).__name__}: {exc}", EXIT_RUNTIME)
    if not ok:
        _fail(f"sin salud: último ciclo {last_heartbeat(app)}", EXIT_RUNTIME)
    typer.echo("ok")


@cli.command()
def doctor(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Salida JSON.")] = False,
) -> None:
    """Revisa configuración, base de datos y correo; dice qué falla y cómo arreglarlo."""
    from bot.doctor import diagnose

    opts = _opts(ctx)
    checks = diagnose(_load(opts), opts.config)
    ok = all(c.ok for c in checks)
    if as_json:
        _print_json(
            {
                "ok": ok,
                "checks": [
                    {"name": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix} for c in checks
                ],
            }
        )
    else:
        for c in checks:
            typer.echo(f"{'✔' if c.ok else '✘'} {c.name}: {c.detail}")
            if not c.ok and c.fix:
                typer.echo(f"    → {c.fix}")
        typer.echo("Todo en orden." if ok else "Hay problemas: vea las líneas marcadas con ✘.")
    if not ok:
        raise typer.Exit(EXIT_RUNTIME)


@cli.command("migrate")
def migrate_cmd(ctx: typer.Context) -> None:
    """Aplica las migraciones pendientes de la base de datos."""
    from storage.migrate import current_revision

    app = _app(ctx)
    typer.echo(f"Base de datos en la revisión {current_revision(app.db.engine)}")


def main() -> None:
    """Console-script entry point: runtime failures exit 1, usage errors 2."""
    try:
        cli()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        typer.echo(f"Error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(EXIT_RUNTIME)
