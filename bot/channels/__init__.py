"""Channels: where messages come from and go to (mail backends, chat).

MAIL_BACKENDS is the explicit registry of mail backends, one per `[mail] backend` value;
each builder imports its library only when chosen (exchangelib alone takes a second).
"""

from __future__ import annotations

from collections.abc import Callable

from bot.channels.base import MailChannel
from bot.config import Config
from storage.db import Database

MB = 1024 * 1024


def _maildir(config: Config, db: Database) -> MailChannel:
    """The embedded default: a local Maildir."""
    from bot.channels.maildir import MaildirChannel

    return MaildirChannel(config.mail.maildir, max_message_bytes=config.mail.max_message_mb * MB)


MAIL_BACKENDS: dict[str, Callable[[Config, Database], MailChannel]] = {
    "maildir": _maildir,
}


def build_mail_channel(config: Config, db: Database) -> MailChannel:
    """The mail backend named by `[mail] backend`."""
    return MAIL_BACKENDS[config.mail.backend](config, db)
