"""Channels: where messages come from and go to (mail backends, chat).

MAIL_BACKENDS is the explicit registry of mail backends, one per `[mail] backend` value;
each builder imports its library only when chosen (exchangelib alone takes a second).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from bot.channels.base import MailChannel
from bot.channels.state import CursorStore
from bot.config import Config
from storage.db import Database

MB = 1024 * 1024


def _maildir(config: Config, db: Database) -> MailChannel:
    """The embedded default: a local Maildir."""
    from bot.channels.maildir import MaildirChannel

    return MaildirChannel(config.mail.maildir, max_message_bytes=config.mail.max_message_mb * MB)


def _imap(config: Config, db: Database) -> MailChannel:
    """IMAP in, SMTP out."""
    from bot.channels.imap import ImapChannel

    mail = config.mail
    if mail.imap is None or mail.smtp is None:
        raise ValueError('backend = "imap" necesita [mail.imap] y [mail.smtp]')
    return ImapChannel(
        mail.imap,
        mail.smtp,
        address=mail.address,
        imap_password=os.environ.get(mail.imap.password_env, ""),
        smtp_password=os.environ.get(mail.smtp.password_env) if mail.smtp.password_env else None,
        cursors=CursorStore(db, "mail:imap"),
        max_message_bytes=mail.max_message_mb * MB,
    )


def _graph(config: Config, db: Database) -> MailChannel:
    """Exchange Online through Microsoft Graph."""
    from bot.channels.graph import build_graph_channel

    return build_graph_channel(config, db)


def _ews(config: Config, db: Database) -> MailChannel:
    """On-premises Exchange through EWS."""
    from bot.channels.ews import build_ews_channel

    return build_ews_channel(config, db)


MAIL_BACKENDS: dict[str, Callable[[Config, Database], MailChannel]] = {
    "maildir": _maildir,
    "imap": _imap,
    "graph": _graph,
    "ews": _ews,
}


def build_mail_channel(config: Config, db: Database) -> MailChannel:
    """The mail backend named by `[mail] backend`."""
    return MAIL_BACKENDS[config.mail.backend](config, db)
