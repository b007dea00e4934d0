"""The error vocabulary the core acts on."""

from __future__ import annotations


class MesabotError(Exception):
    """Base of the bot's own errors."""


class ChannelUnavailable(MesabotError):
    """The channel cannot be reached now; retry with backoff."""


class ChannelAuthFailed(MesabotError):
    """The channel refused our credentials; alert and park the channel."""


class MessageRejected(MesabotError):
    """The peer refused this message for good (e.g. SMTP 5xx); tell the sender."""


class ChannelBusy(ChannelUnavailable):
    """The peer asked us to wait (HTTP 429 Retry-After); retry after that many seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
