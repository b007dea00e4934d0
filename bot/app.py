"""Wiring: build the application from config, run one cycle, or run the daemon."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from bot.calendar import BusinessCalendar, SupportHours
from bot.channels import build_mail_channel
from bot.channels.base import MailChannel, Watchable
from bot.clock import Clock
from bot.config import Config
from bot.digest import digest_job
from bot.dispatcher import Dispatcher, DispatchResult
from bot.errors import ChannelAuthFailed, ChannelBusy, ChannelUnavailable
from bot.executors import CredentialsSender, JobRunner, LinkCodeSender, PegasusWriter
from bot.handlers.pipeline import Ingestor, IngestReport
from bot.scheduler import RecurringJob, Sweeper, SweepResult
from bot.sweeps import agents_sweep_job
from bot.systems.pegasus import build_pegasus
from bot.templates import Templates, default_templates_dir
from bot.workflow import Workflow
from storage.archive import Archive
from storage.db import Database
from storage.models import Cursor, Outbox

if TYPE_CHECKING:
    from telegram.request import BaseRequest

    from bot.chat import ChatReport, ChatService

log = logging.getLogger("mesabot")
# Long-poll wait of one getUpdates in the daemon (Telegram holds the call open this long).
CHAT_POLL_SECONDS = 25
# Back-off after the chat poll fails, doubling up to the maximum; a rejected token waits long.
CHAT_RETRY_SECONDS, CHAT_RETRY_MAX = 2.0, 300.0
CHAT_AUTH_RETRY_SECONDS = 900.0
# The specialists hear of a chat outage once it lasts this long (once a day).
CHAT_ALERT_AFTER = timedelta(minutes=15)

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
    chat: ChatService | None = None


@dataclass(frozen=True)
class CycleReport:
    """What one full cycle did."""

    ingest: IngestReport
    sweep: SweepResult
    dispatch: DispatchResult
    chat: ChatReport | None = None


def make_calendar(config: Config) -> BusinessCalendar:
    """The business calendar from [organization], [hours] and [calendar]."""
    hours = SupportHours.parse(config.hours.mon_thu, config.hours.fri, config.hours.chat_until)
    return BusinessCalendar(config.organization.timezone, hours, config.calendar.extra_closed_days)


def build_app(
    config: Config,
    clock: Clock,
    config_dir: Path | None = None,
    *,
    telegram_request: BaseRequest | None = None,
) -> App:
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
    dispatcher.executors["link_code"] = LinkCodeSender(workflow, db, mail)
    dispatcher.executors["job"] = JobRunner(workflow, db)
    # Chat messages go out only while the chat runs in an event loop (attach_chat).
    dispatcher.paused.add("chat")
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
        chat=_build_chat(config, clock, db, workflow, archive, telegram_request),
    )


def _build_chat(
    config: Config,
    clock: Clock,
    db: Database,
    workflow: Workflow,
    archive: Archive,
    request: BaseRequest | None,
) -> ChatService | None:
    """The Telegram service when [chat.telegram] is enabled (its library loads only then)."""
    telegram = config.chat.telegram
    if telegram is None or not telegram.enabled or not telegram.token_env:
        return None
    from bot.channels.telegram import TelegramChannel, build_application
    from bot.chat import ChatService
    from bot.handlers.chat import ChatIngestor

    token = os.environ.get(telegram.token_env, "")
    channel = TelegramChannel(lambda: build_application(token, telegram.base_url, request), db)
    ingestor = ChatIngestor(db, workflow, archive)
    return ChatService(channel, ingestor, clock, config.mail.max_attachment_mb * 1024 * 1024)


def attach_chat(app: App, loop: asyncio.AbstractEventLoop) -> None:
    """Let the dispatcher send chat messages through the loop the chat runs in."""
    from bot.channels.telegram import ChatSender, Portal

    assert app.chat is not None
    sender = ChatSender(app.chat.channel, Portal(loop), sleep=app.dispatcher.sleep)
    app.dispatcher.executors["chat"] = sender
    app.dispatcher.paused.discard("chat")


def detach_chat(app: App) -> None:
    """The chat's loop is going away: leave chat messages for the next run."""
    app.dispatcher.executors.pop("chat", None)
    app.dispatcher.paused.add("chat")


def migrate(app: App) -> None:
    """Bring the database schema to the newest revision (cheap when already current)."""
    from storage.migrate import ensure_schema

    ensure_schema(app.db.engine)


def run_once(app: App, now: datetime | None = None) -> CycleReport:
    """One full cycle: inbox (and chat) ingested, due timers fired, outbox dispatched."""
    if app.chat is not None:
        return asyncio.run(_once_with_chat(app, now))
    return _cycle(app, now)


async def _once_with_chat(app: App, now: datetime | None) -> CycleReport:
    """`run --once` with Telegram: one getUpdates with timeout 0, then the cycle."""
    assert app.chat is not None
    chat: ChatReport | None = None
    started = False
    try:
        await app.chat.start()
        started = True
        attach_chat(app, asyncio.get_running_loop())
        chat = await app.chat.poll(timeout=0)
    except (ChannelUnavailable, ChannelAuthFailed) as exc:
        # Telegram keeps what it could not deliver for 24 h; mail and timers go on.
        log.warning("chat no disponible: %s", exc)
        _chat_alert(app, app.clock.now(), str(exc))
    try:
        report = await asyncio.to_thread(_cycle, app, now)
    finally:
        detach_chat(app)
        if started:
            await app.chat.stop()
    return CycleReport(report.ingest, report.sweep, report.dispatch, chat)


def _cycle(app: App, now: datetime | None = None) -> CycleReport:
    """Mail in, timers, outbox out."""
    now = now or app.clock.now()
    app.mail.ensure()
    ingest = app.ingestor.run(app.mail, now)
    app.sweeper.ensure_jobs(now)
    sweep = app.sweeper.sweep_all(now)
    dispatch = app.dispatcher.run_all(now)
    _heartbeat(app, now)
    return CycleReport(ingest, sweep, dispatch)


def _chat_alert(app: App, now: datetime, reason: str) -> None:
    """Tell the specialists the chat is down, once a day."""
    from bot.rules.effects import SendMail

    day = app.calendar.local(now).date().isoformat()
    alert = SendMail(
        to=("@specialists",),
        template="common/chat_caido",
        context={"motivo": reason[:1000]},
        auto="auto-generated",
        immediate=True,
    )
    try:
        with app.db.transaction() as s:
            key = f"chat_caido:{day}"
            if s.scalar(select(Outbox.id).where(Outbox.dedupe_key == key)) is None:
                app.workflow.queue_mail(s, None, alert, now, dedupe_key=key)
    except Exception:  # the alert is a courtesy; the database may be what is down
        log.exception("no se pudo avisar de la caída del chat")


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
    chat_task: asyncio.Task[None] | None = None
    if app.chat is not None:

        def kick() -> None:
            scheduler.modify_job("cycle", next_run_time=datetime.now(app.calendar.tz))

        chat_task = asyncio.create_task(_serve_chat(app, stop, busy, kick))
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
        if chat_task is not None:
            chat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await chat_task
        scheduler.shutdown(wait=False)
        app.db.dispose()
        log.info("Mesa Bot detenido")


async def _serve_chat(
    app: App, stop: asyncio.Event, busy: asyncio.Lock, kick: Callable[[], None]
) -> None:
    """Long-poll Telegram until stopped; apply updates between cycles; back off on trouble."""
    assert app.chat is not None
    chat = app.chat
    wait = CHAT_RETRY_SECONDS
    down_since: datetime | None = None
    started = False
    try:
        while not stop.is_set():
            try:
                if not started:
                    await chat.start()
                    attach_chat(app, asyncio.get_running_loop())
                    started = True
                updates = await chat.channel.fetch(CHAT_POLL_SECONDS)
                if updates:
                    async with busy:  # never at the same time as a cycle
                        report = await chat.apply(updates)
                    log.info("chat: %s", report.counts)
                    kick()  # the answers go out now, not at the next interval
                wait, down_since = CHAT_RETRY_SECONDS, None
                continue
            except ChannelBusy as exc:
                pause = exc.retry_after
            except ChannelAuthFailed as exc:
                log.error("chat: %s", exc)
                pause = CHAT_AUTH_RETRY_SECONDS
                down_since = down_since or app.clock.now() - CHAT_ALERT_AFTER
            except Exception as exc:  # the network, the database: retry with back-off
                log.warning("chat: %s; nuevo intento en %.0f s", exc, wait)
                pause, wait = wait, min(wait * 2, CHAT_RETRY_MAX)
            now = app.clock.now()
            down_since = down_since or now
            if now - down_since >= CHAT_ALERT_AFTER:
                await asyncio.to_thread(_chat_alert, app, now, "Telegram no responde")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
    finally:
        detach_chat(app)
        if started:
            await chat.stop()


async def _one_cycle(app: App) -> None:
    """Run a cycle in a worker thread; a failure is logged and the next cycle retries."""
    try:
        # The chat has its own long poll in this loop (_serve_chat): the cycle is mail and timers.
        report = await asyncio.to_thread(_cycle, app)
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
