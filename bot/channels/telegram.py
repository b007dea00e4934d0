"""Telegram through python-telegram-bot 22: updates by long polling, messages out, files in.

The Application lives in the daemon's event loop (or, for `run --once`, in the loop of that
one cycle) with one TypeHandler: every update goes to the chat pipeline, which commits its
effects together with the next getUpdates offset. Telegram forgets an update only when a
later getUpdates names a higher offset, so an update is acknowledged only after its commit
and a crash means reading it again, never losing it.

Errors are translated into the channel vocabulary the core acts on: RetryAfter (429) ->
ChannelBusy with its delay; network trouble, 5xx and a competing poller (409) ->
ChannelUnavailable; a rejected token -> ChannelAuthFailed; a user who blocked the bot or a
chat that does not exist -> MessageRejected (never retried).
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import update as sql_update
from telegram import Bot, Update
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.request import BaseRequest

from bot.chat_links import TELEGRAM
from bot.dispatcher import OutboxJob
from bot.errors import ChannelAuthFailed, ChannelBusy, ChannelUnavailable, MessageRejected
from storage.db import Database
from storage.models import Cursor, Message

log = logging.getLogger(__name__)

CURSOR = f"chat:{TELEGRAM}"
OFFSET_KEY = "offset"
# What the gate looks at; the rest (reactions, polls, members...) is never fetched.
ALLOWED_UPDATES = ("message", "edited_message", "channel_post", "edited_channel_post")
# Bot API limits: 4096 characters per message, getUpdates returns at most 100.
MAX_TEXT = 4096
BATCH = 100
# Telegram asks for about one message per second in a private chat.
PACE_SECONDS = 1.0
# A call to the Bot API made from a worker thread waits at most this long for the loop.
CALL_TIMEOUT = 120.0
DEFAULT_BASE_URL = "https://api.telegram.org"

T = TypeVar("T")
AnyApplication = Application[Any, Any, Any, Any, Any, Any]
UpdateCallback = Callable[[Update], Awaitable[None]]


def translate(exc: TelegramError, doing: str) -> Exception:
    """The channel error for a Bot API failure."""
    if isinstance(exc, RetryAfter):
        with warnings.catch_warnings():
            # PTB 22 warns that retry_after will become a timedelta; both are handled here.
            warnings.simplefilter("ignore")
            wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        return ChannelBusy(f"Telegram pide esperar {seconds:.0f} s ({doing})", seconds)
    if isinstance(exc, InvalidToken):
        return ChannelAuthFailed(f"Telegram rechazó el token del bot ({doing}): {exc}")
    if isinstance(exc, Forbidden):
        return MessageRejected(f"Telegram no permite {doing}: {exc}")
    if isinstance(exc, Conflict):
        return ChannelUnavailable(f"otro proceso está leyendo este bot ({doing}): {exc}")
    if isinstance(exc, BadRequest):
        return MessageRejected(f"Telegram rechazó {doing}: {exc}")
    if isinstance(exc, NetworkError):  # TimedOut is a NetworkError; so are 5xx answers
        return ChannelUnavailable(f"Telegram no responde ({doing}): {exc}")
    return ChannelUnavailable(f"Telegram: {doing}: {exc}")


def build_application(
    token: str, base_url: str | None = None, request: BaseRequest | None = None
) -> AnyApplication:
    """A PTB Application with no Updater and no JobQueue: polling and timers are ours."""
    base = (base_url or DEFAULT_BASE_URL).rstrip("/")
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .updater(None)
        .job_queue(None)
        # The overall 30 messages/s; a 429 is not retried here but by the outbox, at the time
        # Telegram gives, so a busy bot never blocks the daemon's loop.
        .rate_limiter(AIORateLimiter(max_retries=0))
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    return builder.build()


class TelegramChannel:
    """The bot's Telegram account: fetch updates, send messages, download files.

    A fresh Application is built at each start: its HTTP client and rate limiter belong to
    the event loop they were made in, and `run --once` runs each cycle in a loop of its own.
    """

    def __init__(self, make_application: Callable[[], AnyApplication], db: Database):
        self.make_application = make_application
        self.application: AnyApplication | None = None  # built at start, in its loop
        self.db = db
        self._handler: UpdateCallback | None = None

    @property
    def bot(self) -> Bot:
        """The PTB Bot (after start)."""
        if self.application is None:
            raise RuntimeError("the Telegram channel is not started")
        bot: Bot = self.application.bot
        return bot

    @property
    def username(self) -> str:
        """The bot's username (known after start), for commands addressed `/cmd@bot`."""
        try:
            return self.bot.username or ""
        except RuntimeError:  # not initialized
            return ""

    async def start(self, on_update: UpdateCallback) -> None:
        """Log in (getMe) and route every update to `on_update`."""
        self._handler = on_update
        application = self.make_application()
        application.add_handler(TypeHandler(Update, self._dispatch))
        self.application = application
        try:
            await application.initialize()
        except TelegramError as exc:
            raise translate(exc, "iniciar sesión") from exc

    async def stop(self) -> None:
        """Close the HTTP connections."""
        application, self.application = self.application, None
        if application is None:
            return
        if application.running:
            await application.stop()
        await application.shutdown()

    async def _dispatch(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The one handler: hand the update to the chat pipeline."""
        assert self._handler is not None
        await self._handler(update)

    def offset(self) -> int | None:
        """The next update id to ask for, as committed with the last processed update."""
        with self.db.sessions() as s:
            row = s.get(Cursor, (CURSOR, OFFSET_KEY))
            return int(row.value) if row is not None and row.value.isdigit() else None

    async def fetch(self, timeout: int) -> list[Update]:
        """The updates after the committed offset; this call confirms the earlier ones."""
        offset = await asyncio.to_thread(self.offset)
        try:
            updates = await self.bot.get_updates(
                offset=offset,
                limit=BATCH,
                timeout=timeout,
                allowed_updates=list(ALLOWED_UPDATES),
                # The HTTP read must outlast the long poll itself.
                read_timeout=timeout + 10,
            )
        except TelegramError as exc:
            raise translate(exc, "leer mensajes") from exc
        return list(updates)

    async def process(self, updates: list[Update]) -> None:
        """Run each update through the Application's handler, in order."""
        assert self.application is not None, "process() before start()"
        for update in updates:
            await self.application.process_update(update)

    async def send(self, chat_id: int, text: str, reply_to: int | None = None) -> int:
        """Send a text (in parts of at most 4096 characters); the first part's message id."""
        first: int | None = None
        for part in split_text(text):
            try:
                sent = await self.bot.send_message(
                    chat_id=chat_id,
                    text=part,
                    reply_to_message_id=reply_to if first is None else None,
                    # Sending must not fail because the message replied to was deleted.
                    allow_sending_without_reply=True,
                )
            except TelegramError as exc:
                raise translate(exc, "enviar el mensaje") from exc
            first = sent.message_id if first is None else first
        assert first is not None
        return first

    async def download(self, file_id: str) -> bytes:
        """A file's bytes (Telegram serves bots files of up to 20 MB)."""
        try:
            file = await self.bot.get_file(file_id)
            return bytes(await file.download_as_bytearray())
        except TelegramError as exc:
            raise translate(exc, "descargar el archivo") from exc


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """The text in parts within Telegram's limit, cut at line breaks where possible."""
    text = text.strip() or "…"
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip("\n")
    parts.append(text)
    return parts


class Portal:
    """Runs the channel's coroutines on the loop that owns it, from worker threads."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT) -> T:
        """Run `coro` on the loop and wait for its result."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            coro.close()
            raise RuntimeError("Portal.call from the loop's own thread would deadlock")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


class ChatSender:
    """The outbox executor for chat messages: paced per chat, recorded with Telegram's id."""

    def __init__(
        self,
        channel: TelegramChannel,
        portal: Portal,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channel = channel
        self.portal = portal
        self.sleep = sleep
        self.monotonic = monotonic
        self._last: dict[int, float] = {}

    def __call__(self, job: OutboxJob) -> None:
        """Send one queued chat message and record the id Telegram gave it."""
        p: Mapping[str, Any] = job.payload
        chat_id = int(p["chat_id"])
        last = self._last.get(chat_id)
        if last is not None:
            wait = PACE_SECONDS - (self.monotonic() - last)
            if wait > 0:
                self.sleep(wait)
        reply = p.get("reply_to")
        try:
            sent_id = self.portal.call(
                self.channel.send(chat_id, str(p["text"]), int(reply) if reply else None)
            )
        finally:
            self._last[chat_id] = self.monotonic()
        # From now on the message is known by Telegram's id: a reply to it finds its case
        # (and its task) by that id.
        with self.channel.db.transaction() as s:
            s.execute(
                sql_update(Message)
                .where((Message.message_id == p["message_id"]) & (Message.direction == "out"))
                .values(external_id=f"tg:{chat_id}:{sent_id}")
            )
