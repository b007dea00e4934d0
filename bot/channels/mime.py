"""Outbound mail as complete RFC 5322 messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

DISPLAY_NAME = "Mesa de Ayuda"


@dataclass(frozen=True)
class FileRef:
    """An attachment to include: its bytes, name and type."""

    filename: str
    content_type: str
    content: bytes


def build_message(
    payload: Mapping[str, Any], when: datetime, files: Sequence[FileRef] = ()
) -> EmailMessage:
    """The message described by an outbox payload, ready to send or store."""
    msg = EmailMessage(policy=SMTP)
    user, _, domain = str(payload["from"]).partition("@")
    msg["From"] = Address(DISPLAY_NAME, user, domain)
    msg["To"] = ", ".join(payload["to"])
    if payload.get("cc"):
        msg["Cc"] = ", ".join(payload["cc"])
    msg["Subject"] = payload["subject"]
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = payload["message_id"]
    if payload.get("in_reply_to"):
        msg["In-Reply-To"] = payload["in_reply_to"]
    if payload.get("references"):
        msg["References"] = " ".join(payload["references"])
    for name, value in dict(payload.get("headers", {})).items():
        msg[name] = value
    msg.set_content(payload["body"], subtype="plain", charset="utf-8")
    if payload.get("html"):
        # multipart/alternative, plain text first: readers show the last part they support.
        msg.add_alternative(payload["html"], subtype="html", charset="utf-8")
    for ref in files:
        maintype, _, subtype = ref.content_type.partition("/")
        msg.add_attachment(
            ref.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=ref.filename,
        )
    return msg
