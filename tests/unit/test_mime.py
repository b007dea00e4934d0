"""Outbound messages: plain text alone, or plain text and HTML as alternatives."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage, MIMEPart
from typing import Any

from bot.channels.mime import FileRef, build_message
from tests.conftest import mx

PAYLOAD: dict[str, Any] = {
    "from": "mesa.ayuda@example.com",
    "to": ["sofia.ramirez@example.com"],
    "subject": "Resumen diario de la Mesa de Ayuda",
    "body": "Casos abiertos: 1 · Facturas & notas\n",
    "message_id": "<1@example.com>",
}
HTML = "<!DOCTYPE html><html><body><p>Casos abiertos: 1 · Facturas &amp; notas</p></body></html>"


def _parsed(msg: EmailMessage) -> EmailMessage:
    parsed = message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _text(part: MIMEPart) -> str:
    """A text part's content with the wire's CRLF line ends back to LF."""
    return str(part.get_content()).replace("\r\n", "\n")


def test_without_html_the_message_is_plain_text() -> None:
    msg = _parsed(build_message(PAYLOAD, mx(2026, 11, 23, 8)))
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert _text(msg) == PAYLOAD["body"]


def test_html_goes_as_the_last_alternative() -> None:
    msg = _parsed(build_message({**PAYLOAD, "html": HTML}, mx(2026, 11, 23, 8)))
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.iter_parts()
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
    assert _text(plain) == PAYLOAD["body"]
    assert _text(html).strip() == HTML


def test_attachments_wrap_the_alternatives_in_a_mixed_message() -> None:
    pdf = FileRef("carta.pdf", "application/pdf", b"%PDF-1.4")
    msg = _parsed(build_message({**PAYLOAD, "html": HTML}, mx(2026, 11, 23, 8), [pdf]))
    assert msg.get_content_type() == "multipart/mixed"
    alternative, attachment = msg.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert attachment.get_filename() == "carta.pdf"
    assert attachment.get_content() == b"%PDF-1.4"
