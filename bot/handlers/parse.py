"""Tolerant parsing of inbound mail into a plain, immutable ParsedMail."""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from types import MappingProxyType
from urllib.parse import unquote

from bot.handlers.loops import (
    MAX_DEPTH,
    AutoCheck,
    check_automatic,
    decode_bytes,
    decode_words,
    header_addresses,
    header_items,
    header_values,
    message_ids,
    sub_parts,
)

__all__ = ["MailParseError", "ParsedAttachment", "ParsedMail", "html_to_text", "parse_mail"]

NOTE_NO_MESSAGE_ID = "mensaje sin Message-ID"
NOTE_TNEF = "winmail.dat (TNEF) recibido: el contenido puede no ser legible"
NOTE_NO_SENDER = "remitente ausente o ilegible"
NOTE_NO_DATE = "fecha ausente o ilegible"
NOTE_BAD_SUBJECT = "asunto con codificación defectuosa"
NOTE_BROKEN_MULTIPART = "estructura MIME defectuosa: el cuerpo se leyó como texto"
NOTE_NO_TEXT = "mensaje sin texto"
NOTE_TOO_DEEP = "estructura MIME demasiado anidada: se omitieron partes"

# Regenerating attached messages: keep their header lines as received (no refolding).
_EML_POLICY = policy.default.clone(max_line_length=0, linesep="\r\n")
# Longer header values are parsed every time rather than kept in the cache below.
_CACHED_HEADER_CHARS = 2000


class _CachedHeaderRegistry(HeaderRegistry):
    """The default header registry, remembering recently parsed values."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[object, type[BaseHeader]] = {}
        self._parse = functools.lru_cache(maxsize=256)(super().__call__)

    def __getitem__(self, name: str) -> type[BaseHeader]:
        # The stdlib builds a new class on every read; one per kind of header is enough,
        # and the cached headers below then do not each keep a class of their own alive.
        kind = self.registry.get(name.lower(), self.default_class)
        made = self._classes.get(kind)
        if made is None:
            made = self._classes[kind] = type("_" + kind.__name__, (kind, self.base_class), {})
        return made

    def __call__(self, name: str, value: str) -> BaseHeader:
        # policy.default parses a header again on every read, and the walk, the loop
        # checks and the parser itself read Content-Type about twenty times a message.
        # Header objects are immutable, so a parsed one can be shared.
        if len(value) > _CACHED_HEADER_CHARS:
            return super().__call__(name, value)
        parsed: BaseHeader = self._parse(name, value)
        return parsed


# policy.default in every respect but the header cache.
_POLICY = policy.default.clone(header_factory=_CachedHeaderRegistry())
_EXTENSIONS = {
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "text/rfc822-headers": ".txt",
    "text/plain": ".txt",
    "text/html": ".html",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "application/ms-tnef": ".dat",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/zip": ".zip",
    "application/octet-stream": ".bin",
}
_UNSAFE_NAME_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]+')
_CID_REF = re.compile(r"cid:([^\"'\s<>)]+)", re.IGNORECASE)


class MailParseError(ValueError):
    """The input is not a mail message at all."""


@dataclass(frozen=True)
class ParsedAttachment:
    """One attached file (or attached message) of an inbound mail."""

    filename: str
    content_type: str
    content: bytes
    inline: bool


@dataclass(frozen=True)
class ParsedMail:
    """Everything the pipeline needs from one inbound message."""

    message_id: str
    message_id_generated: bool
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    sender: str
    sender_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: str | None
    date: datetime | None
    text: str
    html: str | None
    attachments: tuple[ParsedAttachment, ...]
    headers: Mapping[str, tuple[str, ...]] = field(hash=False)
    notes: tuple[str, ...]
    defects: tuple[str, ...]
    auto: AutoCheck
    size: int


# --- HTML to text ---------------------------------------------------------------------

_BREAK_TAGS = frozenset(
    {"p", "div", "li", "tr", "table", "ul", "ol", "blockquote", "hr", "pre", "section"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "header", "footer", "article", "dd", "dt"}
)
_SKIP_TAGS = frozenset({"style", "script", "title", "xml", "template"})


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML document, one line per block."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.skip = 0
        self.pre = 0

    def _newline(self) -> None:
        # Block boundaries end the current line once; <br> adds lines explicitly. Source
        # indentation between blocks is dropped, but &nbsp; (Outlook's empty line) is kept.
        while self.chunks and not self.chunks[-1].strip(" ") and self.chunks[-1] != "\n":
            self.chunks.pop()
        if self.chunks and not self.chunks[-1].endswith("\n"):
            self.chunks.append("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag == "br":
            self.chunks.append("\n")
        elif tag in _BREAK_TAGS:
            self._newline()
            if tag == "li":
                self.chunks.append("- ")
            elif tag == "pre":
                self.pre += 1
        elif tag in ("td", "th"):
            self.chunks.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP_TAGS:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag in _BREAK_TAGS:
            self._newline()
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        self.chunks.append(data if self.pre else re.sub(r"[ \t\r\n\f]+", " ", data))


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML body; never raises."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:  # html.parser is lenient, but keep whatever was read so far
        pass
    lines = [line.strip() for line in "".join(extractor.chunks).replace("\xa0", " ").splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- MIME walking ---------------------------------------------------------------------


@dataclass
class _Walk:
    """What the MIME walk has gathered so far."""

    plains: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    files: list[tuple[Message, str, bytes, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)


def _safe_str(call: Callable[[], object], default: str | None = None) -> str | None:
    """Call a header accessor, hiding the rare crashes of the header parser."""
    try:
        value = call()
    except Exception:  # email's header parser is not robust against every input
        return default
    return None if value is None else str(value)


def _content_type(part: Message) -> str:
    """The part's content type, text/plain when unreadable (RFC 2045 default)."""
    return _safe_str(part.get_content_type, "text/plain") or "text/plain"


def _payload_bytes(part: Message) -> bytes:
    """The decoded body of a non-multipart part."""
    try:
        data = part.get_payload(decode=True)
    except Exception:  # damaged transfer encoding: nothing usable
        return b""
    return data if isinstance(data, bytes) else b""


def _message_bytes(part: Message) -> bytes:
    """The serialised content of a message/* part (the attached mail, or the report blocks)."""
    chunks: list[bytes] = []
    for item in sub_parts(part):
        try:
            chunks.append(item.as_bytes(policy=_EML_POLICY))
        except Exception:  # a header the generator cannot write; the part stays listed
            chunks.append(b"")
    return b"".join(chunks) if chunks else _payload_bytes(part)


def _body_text(part: Message, charset: str | None) -> str:
    """The decoded text of a body part with line endings normalised to \\n."""
    text = decode_bytes(_payload_bytes(part), charset)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _walk(part: Message, walk: _Walk, depth: int = 0) -> None:
    """Sort a part into text bodies, HTML bodies and files, recursively."""
    walk.defects.extend(type(defect).__name__ for defect in part.defects)
    ctype = _content_type(part)
    if part.is_multipart():
        if ctype.startswith("message/"):
            walk.files.append((part, ctype, _message_bytes(part), ""))
        elif depth >= MAX_DEPTH:
            walk.notes.append(NOTE_TOO_DEEP)
        else:
            for sub in sub_parts(part):
                _walk(sub, walk, depth + 1)
        return
    charset = _safe_str(part.get_content_charset)
    if ctype.startswith("multipart/"):
        # No usable boundary: the parts cannot be told apart, so read it all as text.
        walk.notes.append(NOTE_BROKEN_MULTIPART)
        walk.plains.append(_body_text(part, charset))
        return
    disposition = _safe_str(part.get_content_disposition)
    filename = _safe_str(part.get_filename) or ""
    is_body = disposition != "attachment" and not filename
    if ctype == "text/plain" and is_body:
        walk.plains.append(_body_text(part, charset))
    elif ctype == "text/html" and is_body:
        walk.htmls.append(_body_text(part, charset))
    else:
        walk.files.append((part, ctype, _payload_bytes(part), filename))


def _clean_filename(name: str) -> str:
    """A bare, printable file name: encoded words decoded, folders and odd characters gone."""
    name = decode_words(name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())
    return name.strip(" .")


def _attachment(
    index: int, part: Message, ctype: str, content: bytes, filename: str, cids: set[str]
) -> ParsedAttachment:
    """One ParsedAttachment, its name cleaned and its inline status settled."""
    if ctype in ("message/rfc822", "message/global"):
        inner = sub_parts(part)[:1]
        subject = " ".join(header_values(inner[0], "subject")[:1]) if inner else ""
        subject = _UNSAFE_NAME_CHARS.sub("_", " ".join(subject.split()))[:120].strip(" ._")
        name = f"{subject}.eml" if subject else _clean_filename(filename)
    else:
        name = _clean_filename(filename)
    if not name:
        extension = _EXTENSIONS.get(ctype) or mimetypes.guess_extension(ctype) or ".bin"
        name = f"adjunto-{index}{extension}"
    content_id = (_safe_str(lambda: part.get("content-id")) or "").strip().strip("<>").lower()
    disposition = _safe_str(part.get_content_disposition)
    inline = (
        ctype.startswith("image/")
        and bool(content_id)
        and (disposition == "inline" or (disposition is None and content_id in cids))
    )
    return ParsedAttachment(filename=name, content_type=ctype, content=content, inline=inline)


# --- headers --------------------------------------------------------------------------


def _all_headers(msg: Message) -> Mapping[str, tuple[str, ...]]:
    """Lower-cased header names to all their decoded values, in order."""
    grouped: dict[str, list[str]] = {}
    for name, value in header_items(msg):
        grouped.setdefault(name, []).append(value)
    return MappingProxyType({name: tuple(values) for name, values in grouped.items()})


def _date(msg: Message) -> datetime | None:
    """The Date header as an aware datetime; None when missing or unreadable."""
    for value in header_values(msg, "date")[:1]:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        # "-0000" means "zone unknown" (RFC 5322 3.3); UTC is the honest reading.
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None


def _addresses(msg: Message, name: str) -> tuple[str, ...]:
    """The bare, lower-cased addresses of an address header, deduplicated."""
    return tuple(dict.fromkeys(address for _, address in header_addresses(msg, name)))


def _first_id(msg: Message, name: str) -> str | None:
    """The first Message-ID named by a header."""
    for value in header_values(msg, name):
        ids = message_ids(value)
        if ids:
            return ids[0]
    return None


def parse_mail(raw: bytes, own_addresses: frozenset[str] = frozenset()) -> ParsedMail:
    """Parse raw RFC 5322 bytes tolerantly; raises only for non-mail input."""
    # own_addresses: the bot's addresses, so an X-Loop naming one marks our own mail.
    raw = bytes(raw)
    if not raw.strip():
        raise MailParseError("mensaje vacío")
    parser = BytesParser(policy=_POLICY)
    try:
        msg = parser.parsebytes(raw)
    except Exception:  # seen: RecursionError on thousands of nested parts
        # Keep the headers and read the body as plain text.
        try:
            msg = parser.parsebytes(raw, headersonly=True)
        except Exception as exc:
            raise MailParseError(f"no es un mensaje de correo: {exc}") from exc

    walk = _Walk()
    _walk(msg, walk)
    notes = walk.notes

    message_id = _first_id(msg, "message-id")
    generated = message_id is None
    if message_id is None:
        digest = hashlib.sha256(raw).hexdigest()[:32]
        message_id = f"<sha256-{digest}@mesabot.invalid>"
        notes.append(NOTE_NO_MESSAGE_ID)
    references: list[str] = []
    for value in header_values(msg, "references"):
        references.extend(message_ids(value))

    subject = " ".join(" ".join(header_values(msg, "subject")[:1]).split())
    if re.search(r"=\?[^?\s]+\?[bBqQ]\?", subject):
        notes.append(NOTE_BAD_SUBJECT)
    senders = header_addresses(msg, "from")
    sender_name, sender = senders[0] if senders else ("", "")
    if not sender:
        notes.append(NOTE_NO_SENDER)
    date = _date(msg)
    if date is None:
        notes.append(NOTE_NO_DATE)
    reply_to = _addresses(msg, "reply-to")

    html = "\n".join(walk.htmls) if walk.htmls else None
    text = "\n\n".join(plain.strip("\n") for plain in walk.plains)
    if not text.strip() and html:
        text = html_to_text(html)
    if not text.strip() and not walk.files:
        notes.append(NOTE_NO_TEXT)

    cids = {unquote(ref).lower() for ref in _CID_REF.findall(html or "")}
    attachments = tuple(
        _attachment(index, part, ctype, content, filename, cids)
        for index, (part, ctype, content, filename) in enumerate(walk.files, start=1)
    )
    if any(
        a.content_type == "application/ms-tnef" or a.filename.lower() == "winmail.dat"
        for a in attachments
    ):
        notes.append(NOTE_TNEF)

    return ParsedMail(
        message_id=message_id,
        message_id_generated=generated,
        in_reply_to=_first_id(msg, "in-reply-to"),
        references=tuple(dict.fromkeys(references)),
        subject=subject,
        sender=sender,
        sender_name=sender_name,
        to=_addresses(msg, "to"),
        cc=_addresses(msg, "cc"),
        reply_to=reply_to[0] if reply_to else None,
        date=date,
        text=text,
        html=html,
        attachments=attachments,
        headers=_all_headers(msg),
        notes=tuple(dict.fromkeys(notes)),
        defects=tuple(dict.fromkeys(walk.defects)),
        auto=check_automatic(msg, own_addresses),
        size=len(raw),
    )
