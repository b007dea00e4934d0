"""The chat service: fetch Telegram updates, judge them, fetch their files, apply them.

Runs in an event loop (the daemon's, or the one of a `run --once`): the Bot API calls are
awaited there, the database work goes to a worker thread. Updates are applied strictly in
order; if one cannot be applied (the database is down, a file download fails) the batch
stops there and its offset is not advanced, so the next poll brings it again.
"""

from __future__ import annotations

import asyncio
import logging
import re

from telegram import Update

from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_gate import MediaRef, Verdict, judge
from bot.clock import Clock
from bot.errors import MessageRejected
from bot.handlers.chat import ChatFile, ChatIngestor, Received
from bot.handlers.pipeline import IngestReport

log = logging.getLogger(__name__)

# The Bot API hands bots files of at most 20 MB, whatever our own limit says.
TELEGRAM_FILE_LIMIT = 20 * 1024 * 1024
_UNSAFE_NAME = re.compile(r"[^\w .,()#@+-]+")


# Counts by outcome, as the mail pipeline reports them.
ChatReport = IngestReport


class ChatService:
    """Telegram in: each update judged, its files fetched, then applied and committed."""

    def __init__(
        self,
        channel: TelegramChannel,
        ingestor: ChatIngestor,
        clock: Clock,
        max_file_bytes: int,
    ) -> None:
        self.channel = channel
        self.ingestor = ingestor
        self.clock = clock
        self.max_file_bytes = min(max_file_bytes, TELEGRAM_FILE_LIMIT)
        self._report = ChatReport()
        self._failure: BaseException | None = None

    async def start(self) -> None:
        """Log in to Telegram and take updates through the Application's handler."""
        await self.channel.start(self.on_update)

    async def stop(self) -> None:
        """Close the connections."""
        await self.channel.stop()

    async def poll(self, timeout: int) -> ChatReport:
        """One getUpdates (waiting up to `timeout` s) and every update it brought, in order."""
        return await self.apply(await self.channel.fetch(timeout))

    async def apply(self, updates: list[Update]) -> ChatReport:
        """Apply fetched updates in order, stopping at the first that cannot be applied."""
        self._report = ChatReport()
        for update in updates:
            self._failure = None
            await self.channel.process([update])
            if self._failure is not None:
                # Not committed, so not confirmed: stop here and read it again next time.
                raise self._failure
        return self._report

    async def on_update(self, update: Update) -> None:
        """The Application's handler: judge, download, apply (the last two off the loop)."""
        try:
            now = self.clock.now()
            linked = await asyncio.to_thread(self.ingestor.linked)
            config = self.ingestor.workflow.config
            verdict = judge(update, config, linked, self.channel.username)
            received = await self._receive(verdict) if verdict.action == "accept" else Received()
            outcome = await asyncio.to_thread(self.ingestor.apply, verdict, received, now)
            self._report.add(outcome)
        except Exception as exc:  # PTB would only log it; the poll must stop the batch
            self._failure = exc

    async def _receive(self, verdict: Verdict) -> Received:
        """Download the message's files within the limits; say why any is not taken."""
        received = Received()
        limit_mb = self.max_file_bytes / 1024 / 1024
        for index, media in enumerate(verdict.media, start=1):
            name = file_name(media, verdict.message_id, index)
            if media.file_size is not None and media.file_size > self.max_file_bytes:
                received.skipped.append(_too_big(name, media.file_size, limit_mb))
                continue
            try:
                content = await self.channel.download(media.file_id)
            except MessageRejected as exc:  # "file is too big", a file that is gone
                log.warning("chat file %s not taken: %s", name, exc)
                received.skipped.append(f"«{name}» no se pudo descargar de Telegram")
                continue
            if len(content) > self.max_file_bytes:
                received.skipped.append(_too_big(name, len(content), limit_mb))
                continue
            kind = media.mime_type or "application/octet-stream"
            received.files.append(ChatFile(name, kind, content))
        return received


def file_name(media: MediaRef, message_id: int | None, index: int) -> str:
    """A safe name for a received file: the sender's, else one made from the message."""
    bare = media.file_name.replace("\\", "/").rsplit("/", 1)[-1]
    bare = _UNSAFE_NAME.sub("_", "".join(c for c in bare if c.isprintable())).strip(" ._")
    if bare:
        return bare[:200]
    suffix = ".jpg" if media.kind == "photo" else ".bin"
    return f"{'foto' if media.kind == 'photo' else 'archivo'}_{message_id}_{index}{suffix}"


def _too_big(name: str, size: int, limit_mb: float) -> str:
    """The reason a file over the limit is not taken, in the sender's words."""
    return (
        f"«{name}» pesa {size / 1_000_000:.1f} MB y el máximo que podemos recibir "
        f"es de {limit_mb:.0f} MB"
    )
