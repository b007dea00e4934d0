"""Inbound mail as the border MTA hands it over: headers, authentication, attachments."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

# The border MTA whose Authentication-Results the test configs trust.
AUTHSERV = "mx.example.com"

File = tuple[str, str, bytes]  # name, content type, bytes


def incoming(
    sender: str,
    to: str,
    subject: str,
    body: str,
    at: datetime,
    *,
    files: tuple[File, ...] = (),
    authenticated: bool = False,
    reply_to: EmailMessage | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A mail to the bot; authenticated means AUTHSERV passed DMARC, DKIM and SPF for it."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = make_msgid(domain=sender.partition("@")[2])
    if reply_to is not None:
        msg["In-Reply-To"] = reply_to["Message-ID"]
        msg["References"] = reply_to["Message-ID"]
    if authenticated:
        domain = sender.partition("@")[2]
        msg["Authentication-Results"] = (
            f"{AUTHSERV}; spf=pass smtp.mailfrom={domain}; dkim=pass header.d={domain}; "
            f"dmarc=pass header.from={domain}"
        )
    for name, value in (headers or {}).items():
        msg[name] = value
    if body or not files:
        msg.set_content(body)
    for name, kind, content in files:
        main, _, sub = kind.partition("/")
        msg.add_attachment(content, maintype=main, subtype=sub, filename=name)
    return msg
