"""Wiring: build the application from config, run one cycle, or run the daemon."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.calendar import BusinessCalendar, SupportHours
from bot.channels import build_mail_channel
from bot.channels.base import MailChannel, Watchable
from bot.clock import Clock
from bot.config import Config
from bot.digest import digest_job
from bot.dispatcher import Dispatcher, DispatchResult
from bot.executors import CredentialsSender, PegasusWriter
from bot.handlers.pipeline import Ingestor, IngestReport
from bot.scheduler import RecurringJob, Sweeper, SweepResult
from bot.sweeps import agents_sweep_job
from bot.systems.pegasus import build_pegasus
from bot.templates import Templates, default_templates_dir
from bot.workflow import Workflow
from storage.archive import Archive
from storage.db import Database
from storage.models import Cursor

log = logging.getLogger("mesabot")

# The explicit registry of recurring jobs (timer rows with no case).
# Jobs due at the same instant run in this order: the sweep's new cases make the digest.
JOBS: tuple[RecurringJob, ...] = (
    RecurringJob(
        "barrido_agentes",
        at=lambda wf: wf.config.agents.sweep_at,
        run=agents_sweep_job,
        label="Revisión diaria de agentes en CAM Pegasus",
    ),
    RecurringJob(
        "resumen_diario", at=lambda wf: wf.config.digest.at, run=digest_job, label="Resumen diario"
    ),
)


@dataclass
class App:
    """Everything the bot runs with, built once from the configuration."""

    config: Config
    clock: Clock
    calendar: BusinessCalendar
    db: Database
    archive: Archive
    templates: Templates
    workflow: Workflow
    mail: MailChannel
    dispatcher: Dispatcher
    sweeper: Sweeper
    ingestor: Ingestor


@dataclass(frozen=True)
class CycleReport:
    """What one full cycle did."""

    ingest: IngestReport
    sweep: SweepResult
    dispatch: DispatchResult


def make_calendar(config: Config) -> BusinessCalendar:
    """The business calendar from [organization], [hours] and [calendar]."""
    hours = SupportHours.parse(config.hours.mon_thu, config.hours.fri, config.hours.chat_until)
    return BusinessCalendar(config.organization.timezone, hours, config.calendar.extra_closed_days)


def build_app(config: Config, clock: Clock, config_dir: Path | None = None) -> App:
    """Build the application; nothing is migrated or started yet."""
    calendar = make_calendar(config)
    db = Database(config.storage.url)
    archive = Archive(config.storage.archive)
    templates = Templates(default_templates_dir(config_dir))
    pegasus = build_pegasus(config.systems.pegasus, os.environ, clock=clock)
    workflow = Workflow(config, calendar, templates, archive=archive, pegasus=pegasus)
    mail = build_mail_channel(config, db)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    dispatcher = Dispatcher(db, archive, mail, workflow)
    dispatcher.executors["credentials"] = CredentialsSender(workflow, mail)
    dispatcher.executors["pegasus"] = PegasusWriter(db, archive, pegasus)
    return App(
        config=config,
        clock=clock,
        calendar=calendar,
        db=db,
        archive=archive,
        templates=templates,
        workflow=workflow,
        mail=mail,
        dispatcher=dispatcher,
        sweeper=Sweeper(db, workflow, JOBS, worker),
        ingestor=Ingestor(db, workflow, archive),
    )


def migrate(app: App) -> None:
    """Bring the database schema to the newest revision (cheap when already current)."""
    from storage.migrate import ensure_schema

    ensure_schema(app.db.engine)


def run_once(app: App, now: datetime | None = None) -> CycleReport:
    """One full cycle: inbox ingested, due timers fired (jobs included), outbox dispatched."""
    now = now or app.clock.now()
    app.mail.ensure()
    ingest = app.ingestor.run(app.mail, now)
    app.sweeper.ensure_jobs(now)
    sweep = app.sweeper.sweep_all(now)
    dispatch = app.dispatcher.run_all(now)
    _heartbeat(app, now)
    return CycleReport(ingest, sweep, dispatch)


def _heartbeat(app: App, now: datetime) -> None:
    """Record that the daemon is alive (read by `mesabot health`)."""
    with app.db.transaction() as s:
        row = s.get(Cursor, ("daemon", "heartbeat"))
        if row is None:
            s.add(Cursor(channel="daemon", key="heartbeat", value=now.isoformat(), updated_at=now))
        else:
            row.value = now.isoformat()
            row.updated_at = now


def last_heartbeat(app: App) -> datetime | None:
    """When the daemon last completed a cycle."""
    with app.db.sessions() as s:
        return s.scalar(
            select(Cursor.updated_at).where(
                (Cursor.channel == "daemon") & (Cursor.key == "heartbeat")
            )
        )


def healthy(app: App, now: datetime) -> bool:
    """True if a cycle completed within three sweep intervals."""
    beat = last_heartbeat(app)
    limit = timedelta(seconds=3 * app.config.daemon.sweep_interval_seconds + 30)
    return beat is not None and now - beat <= limit


def run_daemon(app: App) -> None:
    """Run until SIGINT/SIGTERM: the cycle every sweep interval, in a worker thread."""
    asyncio.run(_serve(app))


async def _serve(app: App) -> None:
    """The daemon's event loop: APScheduler drives the cycle; signals stop it cleanly."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    busy = asyncio.Lock()
    again = asyncio.Event()  # mail arrived while a cycle ran: run one more right after

    async def cycle() -> None:
        if stop.is_set():
            return
        if busy.locked():
            again.set()  # rather than pile up, the running cycle goes round once more
            return
        async with busy:
            while True:
                again.clear()
                await _one_cycle(app)
                if not again.is_set() or stop.is_set():
                    return

    from bot.handlers.entities import warm_up

    # dateparser's first call costs about a second: pay it now, not on the first reply.
    await asyncio.to_thread(warm_up)
    scheduler = AsyncIOScheduler(timezone=app.calendar.tz)
    scheduler.add_job(
        cycle,
        "interval",
        seconds=app.config.daemon.sweep_interval_seconds,
        id="cycle",
        next_run_time=datetime.now(app.calendar.tz),
        coalesce=True,
        max_instances=1,
        # After a pause (laptop sleep, long GC) run late rather than skip: timers are rows.
        misfire_grace_time=3600,
    )
    scheduler.start()
    watching = threading.Event()
    if isinstance(app.mail, Watchable):
        # New mail starts a cycle at once instead of at the next interval.
        def wake() -> None:
            scheduler.modify_job("cycle", next_run_time=datetime.now(app.calendar.tz))

        threading.Thread(
            target=_watch_mail,
            args=(app.mail, lambda: loop.call_soon_threadsafe(wake), watching),
            name="mesabot-idle",
            daemon=True,  # blocked in IDLE, it must not hold up the shutdown
        ).start()
    log.info(
        "Mesa Bot en marcha: %s, base de datos %s, correo %s",
        app.config.organization.name,
        app.db.engine.url.render_as_string(hide_password=True),
        app.config.mail.backend,
    )
    try:
        await stop.wait()
    finally:
        log.info("deteniendo Mesa Bot...")
        stop.set()
        watching.set()
        # Let a running cycle finish first: shutdown cancels the job's task, which would
        # release the lock while the worker thread is still in the middle of a transaction.
        async with busy:
            pass
        scheduler.shutdown(wait=False)
        app.db.dispose()
        log.info("Mesa Bot detenido")


async def _one_cycle(app: App) -> None:
    """Run a cycle in a worker thread; a failure is logged and the next cycle retries."""
    try:
        report = await asyncio.to_thread(run_once, app)
    except Exception:
        log.exception("cycle failed; the next one will retry")
        return
    if report.sweep.fired or report.dispatch.sent or report.dispatch.failed:
        log.info(
            "cycle: %d timers fired, %d sent, %d failed",
            report.sweep.fired,
            report.dispatch.sent,
            report.dispatch.failed,
        )


# How long one IDLE lasts before it is renewed (RFC 2177: under 29 minutes).
WATCH_SECONDS = 300.0
# After the watch fails (server down), wait this long before watching again.
WATCH_RETRY_SECONDS = 30.0


def _watch_mail(channel: Watchable, wake: Callable[[], object], stopped: threading.Event) -> None:
    """Wait for new mail (IMAP IDLE) and wake the daemon's cycle when some arrives."""
    while not stopped.is_set():
        try:
            if channel.watch(WATCH_SECONDS):
                wake()
        except Exception as exc:  # the cycle reports the server's trouble; only back off
            log.debug("esperando correo nuevo: %s", exc)
            stopped.wait(WATCH_RETRY_SECONDS)
