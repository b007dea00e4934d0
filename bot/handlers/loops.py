"""RFC 3834 auto-reply, list, loop and bounce detection, plus tolerant header readers."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.utils import getaddresses

__all__ = [
    "HUMAN",
    "MAX_DEPTH",
    "AutoCheck",
    "check_automatic",
    "decode_bytes",
    "decode_words",
    "header_addresses",
    "header_items",
    "header_values",
    "message_ids",
    "sub_parts",
]


@dataclass(frozen=True)
class AutoCheck:
    """Whether a message was sent by a machine, and what a bounce says."""

    automatic: bool
    reason: str | None
    bounce: bool = False
    bounced_message_ids: tuple[str, ...] = ()
    bounce_permanent: bool | None = None
    bounce_recipients: tuple[str, ...] = ()


HUMAN = AutoCheck(automatic=False, reason=None)
# Real mail nests a handful of levels; hostile mail nests thousands to exhaust the stack.
MAX_DEPTH = 64

# --- tolerant header readers (shared with bot.handlers.parse) -------------------------

# The "$" alternative recovers a last word cut off by a length limit (seen in the wild).
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)(?:\?=|$)")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_MSGID_BRACKETED = re.compile(r"<([^<>]*)>")
# The lone surrogates the parser uses for undecodable 8-bit header bytes.
_ESCAPED_8BIT = re.compile("[\udc80-\udcff]")
# Declared ISO-8859-1 / ASCII is, in practice, Windows-1252 (smart quotes, euro sign).
_CHARSET_ALIASES = {
    "iso-8859-1": "windows-1252",
    "iso8859-1": "windows-1252",
    "latin1": "windows-1252",
    "latin-1": "windows-1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
}


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Bytes to text: the declared charset, then UTF-8, then Windows-1252/Latin-1; never raises."""
    declared = (charset or "").strip().strip('"').lower()
    declared = _CHARSET_ALIASES.get(declared, declared)
    for candidate in (declared, "utf-8", "windows-1252"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, ValueError):  # unknown name, bad bytes, or a NUL in the name
            continue
    return data.decode("latin-1", errors="replace")


def _unescape_8bit(value: str) -> str:
    """Undo the parser's surrogateescape of raw 8-bit header bytes."""
    # Every header of every message passes here: answer the common cases without a
    # per-character Python loop.
    if value.isascii() or not _ESCAPED_8BIT.search(value):
        return value
    try:
        return decode_bytes(value.encode("utf-8", errors="surrogateescape"))
    except UnicodeEncodeError:  # other lone surrogates: only from hand-built messages
        return value.encode("utf-8", errors="replace").decode("utf-8")


def _decode_word(charset: str, encoding: str, payload: str) -> bytes | None:
    """The bytes of one RFC 2047 encoded word, or None when it is broken."""
    try:
        if encoding in "bB":
            compact = "".join(payload.split())
            return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
        return binascii.a2b_qp(payload.encode("ascii", errors="replace"), header=True)
    except (binascii.Error, ValueError):
        return None


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words tolerantly; broken words are kept as they are."""
    value = _unescape_8bit(value)
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: bytes = b""
    pending_charset = ""
    last_end = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            out.append(decode_bytes(pending, pending_charset))
        pending, pending_charset = b"", ""

    for match in _ENCODED_WORD.finditer(value):
        gap = value[last_end : match.start()]
        charset = match.group(1).split("*", 1)[0].lower()
        data = _decode_word(charset, match.group(2), match.group(3))
        if data is None:
            flush()
            out.append(gap + match.group(0))
        else:
            # Whitespace between two encoded words is not part of the text (RFC 2047 6.2).
            if not (pending and not gap.strip()):
                flush()
                out.append(gap)
            if charset != pending_charset:
                # Words split mid-character only make sense joined within one charset.
                flush()
            pending += data
            pending_charset = charset
        last_end = match.end()
    flush()
    out.append(value[last_end:])
    return "".join(out)


def _unfold(value: object) -> str:
    """A raw header value unfolded, with 8-bit bytes decoded, not RFC 2047 decoded."""
    return _unescape_8bit(_FOLD.sub("", str(value))).strip()


def _raw_values(msg: Message, name: str) -> list[str]:
    """All raw values of a header (see _unfold)."""
    wanted = name.lower()
    return [_unfold(value) for key, value in msg.raw_items() if key.lower() == wanted]


def header_items(msg: Message) -> list[tuple[str, str]]:
    """Every header as (lower-cased name, decoded value), in message order."""
    return [(key.lower(), decode_words(_unfold(value))) for key, value in msg.raw_items()]


def header_values(msg: Message, name: str) -> list[str]:
    """All values of a header, unfolded and decoded to text."""
    return [decode_words(value) for value in _raw_values(msg, name)]


def header_addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs of an address header; bad entries skipped."""
    pairs: list[tuple[str, str]] = []
    for display, address in getaddresses(_raw_values(msg, name)):
        address = address.strip().lower()
        if "@" in address and not any(ch.isspace() for ch in address):
            pairs.append((decode_words(display).strip(), address))
    return pairs


def message_ids(value: str) -> tuple[str, ...]:
    """Every Message-ID in a header value, in order, normalised to "<...>", deduplicated."""
    found = _MSGID_BRACKETED.findall(value)
    if not found:
        # Some clients drop the angle brackets; take the bare tokens instead.
        found = [token for token in re.split(r"[\s,]+", value) if "@" in token]
    ids: list[str] = []
    for item in found:
        compact = "".join(item.split())
        normal = f"<{compact}>"
        if compact and normal not in ids:
            ids.append(normal)
    return tuple(ids)


# --- automatic-mail detection ---------------------------------------------------------

_DAEMON_LOCALPARTS = frozenset({"mailer-daemon", "mailerdaemon", "mail-daemon", "postmaster"})
_BOUNCE_SUBJECTS = (
    "undelivered mail returned to sender",
    "delivery status notification",
    "mail delivery failed",
    "mail delivery failure",
    "delivery failure",
    "failure notice",
    "returned mail:",
    "undeliverable:",
    "no se puede entregar",
    "correo no entregado",
    "mensaje no entregado",
    "notificación de estado de entrega",
)
_AUTOREPLY_SUBJECTS = (
    "respuesta automática:",
    "respuesta automatica:",
    "fuera de la oficina",
    "automatic reply:",
    "autoreply:",
    "auto-reply:",
    "out of office:",
    "out of office reply",
    "out of the office",
)
_AUTOREPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder")
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk", "auto_reply"})
_SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded"})
_STATUS = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")
_BODY_MSGID = re.compile(r"^[ \t>]*message-id:\s*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)


def _content_type(part: Message) -> str:
    """The part's content type, or text/plain when the header cannot be read."""
    try:
        return part.get_content_type()
    except Exception:  # the header parser has crashed on hostile input before
        return "text/plain"


def sub_parts(part: Message) -> list[Message]:
    """The direct sub-parts of a multipart or message/* part; [] for a leaf."""
    # get_payload() on a leaf may decode with the declared charset and raise on odd names.
    if not part.is_multipart():
        return []
    payload = part.get_payload()
    return [sub for sub in payload if isinstance(sub, Message)] if isinstance(payload, list) else []


def _parts(msg: Message, depth: int = 0) -> list[Message]:
    """The message and all its parts, without entering attached messages (message/rfc822)."""
    parts = [msg]
    if _content_type(msg).startswith("multipart/") and depth < MAX_DEPTH:
        for sub in sub_parts(msg):
            parts.extend(_parts(sub, depth + 1))
    return parts


def _part_text(part: Message) -> str:
    """The decoded text of a non-multipart part; "" when there is none."""
    try:
        data = part.get_payload(decode=True)
    except Exception:  # damaged transfer encoding
        return ""
    if not isinstance(data, bytes):
        return ""
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return decode_bytes(data, charset)


def _dsn_blocks(part: Message) -> list[dict[str, str]]:
    """The field blocks of a message/delivery-status part, names lower-cased."""
    blocks = [
        {key.lower(): " ".join(str(value).split()) for key, value in block.raw_items()}
        for block in sub_parts(part)
    ]
    if any(blocks):
        return blocks
    # A base64 or quoted-printable report is parsed as one header-less block: decode its body.
    body = "".join(str(block.get_payload()) for block in sub_parts(part))
    encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
    data = body.encode("ascii", errors="replace")
    try:
        if encoding == "base64":
            data = base64.b64decode(data)
        elif encoding == "quoted-printable":
            data = binascii.a2b_qp(data)
    except (binascii.Error, ValueError):
        return []
    blocks = []
    for chunk in re.split(r"\n\s*\n", decode_bytes(data).replace("\r\n", "\n")):
        fields = {}
        for line in _FOLD.sub(" ", chunk).splitlines():
            name, sep, value = line.partition(":")
            if sep:
                fields[name.strip().lower()] = " ".join(value.split())
        blocks.append(fields)
    return blocks


def _bounce_details(msg: Message) -> AutoCheck:
    """Bounced Message-IDs, permanence and recipients of a bounce."""
    ids: list[str] = []
    recipients: list[str] = []  # failed for good (or of unknown status)
    delayed: list[str] = []  # still being retried by the remote server
    statuses: list[bool] = []  # True = permanent failure, False = temporary
    texts: list[str] = []
    delivered = False
    for part in _parts(msg):
        ctype = _content_type(part)
        if ctype in ("message/rfc822", "message/global"):
            for inner in sub_parts(part):
                for value in _raw_values(inner, "message-id"):
                    ids.extend(message_ids(value))
        elif ctype == "text/rfc822-headers":
            ids.extend(_BODY_MSGID.findall(_FOLD.sub(" ", _part_text(part))))
        elif ctype == "message/delivery-status":
            for block in _dsn_blocks(part):
                action = block.get("action", "").lower()
                status = _STATUS.search(block.get("status", ""))
                if (status and status.group(1) == "2") or action in _SUCCESS_ACTIONS:
                    delivered = True
                    continue
                permanent: bool | None = None
                if status:
                    permanent = status.group(1) == "5"
                elif action in ("failed", "delayed"):
                    permanent = action == "failed"
                if permanent is not None:
                    statuses.append(permanent)
                recipient = block.get("final-recipient") or block.get("original-recipient")
                if recipient:
                    address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
                    target = delayed if permanent is False else recipients
                    if address and address not in target:
                        target.append(address)
        elif ctype == "text/plain":
            texts.append(_part_text(part))
    if not recipients:
        # Only delays: those are the recipients the report is about.
        recipients = delayed
    if delivered and not statuses and not recipients:
        # A success notice (NOTIFY=SUCCESS) is machine mail, but nothing bounced.
        return AutoCheck(automatic=True, reason="delivery-report")
    body = "\n".join(texts)
    if not ids:
        ids.extend(_BODY_MSGID.findall(body))
    if not statuses:
        statuses.extend(code == "5" for code in _STATUS.findall(body) if code != "2")
    if not recipients:
        for value in _raw_values(msg, "x-failed-recipients"):
            recipients.extend(addr.lower() for _, addr in getaddresses([value]) if "@" in addr)
    permanent = (True in statuses) if statuses else None
    return AutoCheck(
        automatic=True,
        reason="bounce",
        bounce=True,
        bounced_message_ids=tuple(dict.fromkeys(ids)),
        bounce_permanent=permanent,
        bounce_recipients=tuple(dict.fromkeys(recipients)),
    )


def _joined(msg: Message, name: str) -> str:
    """All values of a header as one whitespace-collapsed string."""
    return " ".join(" ".join(header_values(msg, name)).split())


def check_automatic(
    msg: EmailMessage | Message,
    own_addresses: frozenset[str] = frozenset(),
    loop_marker: str = "mesabot",
) -> AutoCheck:
    """Classify a message as human or automatic (RFC 3834), with bounce details."""
    subject = _joined(msg, "subject").lower()
    senders = header_addresses(msg, "from") + header_addresses(msg, "sender")
    daemon = any(
        address.split("@", 1)[0] in _DAEMON_LOCALPARTS or address.startswith("microsoftexchange")
        for _, address in senders
    )
    null_return_path = _joined(msg, "return-path").replace(" ", "") == "<>"
    ctype = _content_type(msg)
    try:
        report_type = str(msg.get_param("report-type") or "").lower()
    except Exception:
        report_type = ""
    has_dsn = any(_content_type(part) == "message/delivery-status" for part in _parts(msg))

    if ctype == "multipart/report" and report_type == "disposition-notification":
        return AutoCheck(automatic=True, reason="read-receipt")
    bounce_subject = any(form in subject for form in _BOUNCE_SUBJECTS)
    if has_dsn or (bounce_subject and (daemon or null_return_path)):
        return _bounce_details(msg)
    if ctype == "multipart/report":
        return AutoCheck(automatic=True, reason="report")
    auto_submitted = header_values(msg, "auto-submitted")
    if auto_submitted and any(v.split(";")[0].strip().lower() != "no" for v in auto_submitted):
        return AutoCheck(automatic=True, reason="auto-submitted")
    loop = _joined(msg, "x-loop").lower()
    markers = {address.lower() for address in own_addresses}
    if loop_marker:
        markers.add(loop_marker.lower())
    if loop and any(marker in loop for marker in markers):
        return AutoCheck(automatic=True, reason="x-loop")
    if null_return_path:
        return AutoCheck(automatic=True, reason="empty-return-path")
    if _joined(msg, "precedence").lower() in _BULK_PRECEDENCE:
        return AutoCheck(automatic=True, reason="precedence-bulk")
    if header_values(msg, "list-id") or header_values(msg, "list-unsubscribe"):
        return AutoCheck(automatic=True, reason="list")
    for name in _AUTOREPLY_HEADERS:
        values = header_values(msg, name)
        if values and any(v.strip().lower() not in ("no", "false", "0") for v in values):
            return AutoCheck(automatic=True, reason="x-autoreply")
    if subject.startswith(_AUTOREPLY_SUBJECTS):
        return AutoCheck(automatic=True, reason="autoreply-subject")
    return HUMAN
