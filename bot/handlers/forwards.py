"""Find the message a forward carries: who originally wrote it and what they wrote.

A help-desk specialist may forward to the bot an assistant's answer that was mailed to
them; the bot must then judge the original sender and the original words, not the
specialist's. Two shapes exist: the forwarded message inline in the text (``find_forward``)
and the forwarded message attached as an .eml (``forward_from_eml``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.handlers.parse import MailParseError, ParsedAttachment, parse_mail
from bot.handlers.quotes import strip_reply

__all__ = ["Forwarded", "find_forward", "forward_from_eml", "is_forward_subject"]


@dataclass(frozen=True)
class Forwarded:
    """A message found inside a forward: who wrote it and what they wrote."""

    sender: str
    sender_name: str
    sent: str
    subject: str
    body: str
    note: str
    # The files the forwarded message itself carried (only known for an attached .eml).
    attachments: tuple[ParsedAttachment, ...] = ()


# Same invisible characters as bot.handlers.quotes, plus the soft hyphen; the no-break
# spaces Outlook puts after header labels become plain spaces so values compare cleanly.
_CLEAN = {ord(ch): None for ch in "\u00ad\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"} | {
    ord(ch): " " for ch in "\xa0\u2007\u202f"
}

# Hostile or enormous text must stay cheap (quotes.strip_reply alone costs about 4 µs a
# line), and a forward's separator sits right under the forwarder's short note: only this
# much of the text is searched, and only this much of a body or note is cleaned.
_MAX_CHARS = 100_000
_MAX_LINES = 5_000
# Separators are short lines; longer lines are not tested against the patterns at all.
_MAX_MARKER_CHARS = 200
# A header block is a handful of lines; wrapped address lists add a few more.
_MAX_BLOCK_LINES = 30
# Blank or ruler lines tolerated between a separator and the header block under it.
_MAX_GAP_LINES = 4

# Inline forward separators of Gmail, Apple Mail, Thunderbird and Yahoo (Spanish, English
# and the Portuguese that some assistants' phones use). These always mean a forward.
_FORWARD_SEPARATOR = re.compile(
    r"\**\s*-{2,}\s*(?:mensaje reenviado|forwarded message|mensagem encaminhada)\s*-{2,}\s*\**"
    r"|\**\s*(?:inicio del mensaje reenviado|begin forwarded message"
    r"|in[ií]cio da mensagem encaminhada)\s*:\s*\**",
    re.IGNORECASE,
)
# Outlook and Samsung write this above a reply's history and above a forward alike, so
# it means a forward only when the subject says so.
_ORIGINAL_SEPARATOR = re.compile(
    r"\**\s*-{2,}\s*(?:mensaje original|original message|mensagem original)\s*-{2,}\s*\**",
    re.IGNORECASE,
)
_RULER = re.compile(r"_{10,}|-{10,}")

_ROLES = {
    "de": "from",
    "from": "from",
    "remitente": "from",
    "enviado el": "date",
    "enviado": "date",
    "enviada em": "date",
    "enviada": "date",
    "sent": "date",
    "fecha": "date",
    "date": "date",
    "data": "date",
    "para": "to",
    "to": "to",
    "cc": "cc",
    "cco": "cc",
    "bcc": "cc",
    "asunto": "subject",
    "subject": "subject",
    "assunto": "subject",
    "importancia": "other",
    "importance": "other",
    "prioridad": "other",
    "datos adjuntos": "other",
    "attachments": "other",
    "anexos": "other",
    "responder a": "other",
    "reply-to": "other",
    "reply to": "other",
}
_ADDRESS_ROLES = frozenset({"from", "to", "cc"})
# Roles that, right under a "De:" line, mark a reply's history (as bot.handlers.quotes does).
_HISTORY_NEXT = frozenset({"date", "to", "subject"})
_KEYS = "|".join(
    re.escape(key).replace(r"\ ", r"\s+") for key in sorted(_ROLES, key=len, reverse=True)
)
# "*De:* x" and "**De:** x" come from HTML converted to text; tabs from Thunderbird.
# The bounded runs between the key and the colon keep the match linear on long lines.
_HEADER = re.compile(
    rf"\*{{0,3}}\s*(?P<key>{_KEYS})[ \t]{{0,3}}\*{{0,3}}[ \t]{{0,3}}:\s*\**\s*(?P<value>.*)",
    re.IGNORECASE,
)

# Gmail, Apple Mail and Thunderbird attributions (the same rule as bot.handlers.quotes:
# a clock time is required), tested without backtracking over the joined lines.
_ATTRIBUTION_START = ("El ", "On ", "Em ", "El\t", "On\t")
_ATTRIBUTION_END = re.compile(r"(?:escribi[óo]|wrote|escreveu)\s*:$")
_CLOCK = re.compile(r"\d{1,2}:\d{2}")
_ATTRIBUTION_MAX_LINES = 3
_ATTRIBUTION_MAX_CHARS = 400

_LOCAL_CHARS = frozenset("._%+-!#$&=?^~")
_MAILTO = "mailto:"

# Subject prefixes: a word, an optional counter ("RE[2]:", "Re^2:"), a colon.
_SUBJECT_PREFIX = re.compile(
    r"\s*([^\W\d_]{1,10})[ \t]{0,3}(?:\[\d{1,3}\]|\^\d{1,3}|\(\d{1,3}\))?[ \t]{0,3}[:：]"
)
# Gateways mark outside mail with "[EXTERNO]", "(EXTERNAL)" and similar tags.
_SUBJECT_TAG = re.compile(r"\s*(?:\[[^\[\]]{0,40}\]|\([^()]{0,40}\))")
_FORWARD_PREFIXES = frozenset({"rv", "fw", "fwd", "enc", "reenv"})
_REPLY_PREFIXES = frozenset({"re", "res", "rta", "resp", "aw", "sv"})
_TAG_WORDS = frozenset({"externo", "external", "ext", "spam", "sospechoso", "suspicious"})
_MAX_SUBJECT_CHARS = 1000


def is_forward_subject(subject: str) -> bool:
    """Whether the subject's leading prefixes include a forward one ("RV:", "Fwd:", "ENC:"...)."""
    text = subject[:_MAX_SUBJECT_CHARS].translate(_CLEAN)
    pos = 0
    # Each step consumes at least one character, so the loop ends.
    while pos < len(text):
        tag = _SUBJECT_TAG.match(text, pos)
        if tag:
            pos = tag.end()
            continue
        prefix = _SUBJECT_PREFIX.match(text, pos)
        if prefix is None:
            return False
        word = prefix.group(1).lower()
        if word in _FORWARD_PREFIXES:
            return True
        if word not in _REPLY_PREFIXES and word not in _TAG_WORDS:
            return False
        pos = prefix.end()
    return False


def _header(line: str) -> tuple[str, str] | None:
    """(role, value) when a cleaned line looks like a mail header line."""
    match = _HEADER.match(line)
    if match is None:
        return None
    key = " ".join(match.group("key").lower().split())
    return _ROLES[key], match.group("value").strip()


class _Lines:
    """The searched start of a text, split into lines both as written and cleaned."""

    def __init__(self, text: str) -> None:
        self.text = text.replace("\r\n", "\n").replace("\r", "\n")
        # Split a little beyond the searched lines so a block straddling the limit is read
        # whole; the last piece may hold the rest of the window, which is never searched.
        extra = _MAX_BLOCK_LINES + _MAX_GAP_LINES
        self.raw = self.text[:_MAX_CHARS].split("\n", _MAX_LINES + extra)
        self.clean = [line.translate(_CLEAN).strip() for line in self.raw]
        self.searched = min(len(self.raw), _MAX_LINES)

    def offset(self, i: int) -> int:
        """Where line ``i`` starts in the text."""
        return sum(len(line) for line in self.raw[:i]) + i

    def header(self, i: int) -> tuple[str, str] | None:
        """(role, value) of line ``i`` when it is a header line."""
        return _header(self.clean[i]) if i < len(self.clean) and self.clean[i] else None


def _continues(role: str, value: str, line: str, raw: str) -> bool:
    """Whether a non-header line continues the header above it (a wrapped line)."""
    if raw.translate(_CLEAN)[:1] in (" ", "\t"):
        return True
    # Long "Para:" lists wrap without indentation in plain-text conversions.
    return role in _ADDRESS_ROLES and (
        "@" in line or value.endswith((",", ";")) or line.startswith(("<", "[mailto:"))
    )


def _parse_block(lines: _Lines, start: int) -> tuple[dict[str, str], int]:
    """The header values of the block starting at line ``start`` and the line after it."""
    values: dict[str, str] = {}
    last = ""
    limit = min(len(lines.clean), start + _MAX_BLOCK_LINES)
    j = start
    while j < limit:
        line = lines.clean[j]
        if not line:
            # Some HTML conversions put a blank line between header lines: go on while the
            # block still lacks its subject and a header not seen yet follows the blank.
            following = lines.header(j + 1) if j + 1 < limit else None
            if "subject" in values or following is None or following[0] in values:
                break
            j += 1
            continue
        found = _header(line)
        if found is not None:
            role, value = found
            if role in values:
                break  # the next message's headers: a forward with an empty body
            if role != "other":
                values[role] = value
            last = role
        elif last and last != "other" and _continues(last, values[last], line, lines.raw[j]):
            values[last] = f"{values[last]} {line}"
        else:
            break
        j += 1
    return values, j


def _is_attribution(clean: list[str], i: int) -> bool:
    """Whether a "El ... escribió:" attribution (up to three lines) starts at line ``i``."""
    if not clean[i].startswith(_ATTRIBUTION_START):
        return False
    joined = clean[i]
    for span in range(1, _ATTRIBUTION_MAX_LINES + 1):
        if span > 1:
            nxt = i + span - 1
            if nxt >= len(clean) or not clean[nxt]:
                return False
            joined = f"{joined} {clean[nxt]}"
        if len(joined) > _ATTRIBUTION_MAX_CHARS:
            return False
        if _ATTRIBUTION_END.search(joined) and _CLOCK.search(joined):
            return True
    return False


def _first_address(value: str) -> tuple[int, int] | None:
    """Start and end of the first plausible mail address in ``value``."""
    # Expanding around each "@" (never past another "@") keeps this linear on hostile lines.
    at = value.find("@")
    while at != -1:
        left = at
        while left > 0 and (value[left - 1].isalnum() or value[left - 1] in _LOCAL_CHARS):
            left -= 1
        while left < at and value[left] == ".":
            left += 1
        right = at + 1
        while right < len(value) and (value[right].isalnum() or value[right] in "-."):
            right += 1
        while right > at + 1 and value[right - 1] in ".-":
            right -= 1
        domain = value[at + 1 : right]
        if left < at and "." in domain and domain[0] not in ".-":
            return left, right
        at = value.find("@", at + 1)
    return None


def _strip_name_tail(name: str) -> str:
    """The display name without the "<", "[mailto:" or "(" that opens the address after it."""
    while True:
        name = name.rstrip(" \t<[(")
        if not name.lower().endswith(_MAILTO):
            return name
        name = name[: -len(_MAILTO)]


def _clean_name(name: str) -> str:
    """A display name with its quotes, bold marks and extra spaces removed."""
    name = " ".join(name.split()).strip(" \"'*")
    # Leftovers such as "<>" or "[]" name nobody.
    return name if any(ch.isalnum() for ch in name) else ""


def _parse_from(value: str) -> tuple[str, str]:
    """(lower-cased address or "", display name or "") of a "De:" value; the first one only."""
    span = _first_address(value)
    if span is None:
        # Name-only senders ("De: Mariana López"); a ";" starts a second sender.
        return "", _clean_name(value.split(";", 1)[0])
    start, end = span
    name = _clean_name(_strip_name_tail(value[:start]))
    if not name:
        # The old "mariana@example.com (Mariana López)" form.
        after = value[end:].lstrip(" >]")
        if after.startswith("(") and ")" in after:
            name = _clean_name(after[1 : after.index(")")])
    return value[start:end].lower(), name


def _cleaned(text: str) -> str:
    """strip_reply over at most the first _MAX_LINES lines and _MAX_CHARS characters."""
    lines = text[: _MAX_CHARS + 1].split("\n", _MAX_LINES)
    if len(lines) > _MAX_LINES:
        lines = lines[:_MAX_LINES]  # the last piece is the unsplit rest
    elif len(text) > _MAX_CHARS and len(lines) > 1:
        lines = lines[:-1]  # a line cut in the middle
    return strip_reply("\n".join(lines))


def _is_ruler(line: str) -> bool:
    """Whether a cleaned line is a ruler or a separator drawn above a header block."""
    return len(line) <= _MAX_MARKER_CHARS and bool(
        _RULER.fullmatch(line)
        or _ORIGINAL_SEPARATOR.fullmatch(line)
        or _FORWARD_SEPARATOR.fullmatch(line)
    )


def _forwarded(lines: _Lines, note_end: int, values: dict[str, str], body_start: int) -> Forwarded:
    """The result for a note ending before line ``note_end`` and a body from ``body_start``."""
    sender, sender_name = _parse_from(values.get("from", ""))
    # strip_reply drops the ruler Outlook draws above the header block (trailing decoration).
    return Forwarded(
        sender=sender,
        sender_name=sender_name,
        sent=values.get("date", ""),
        subject=values.get("subject", ""),
        body=_cleaned(lines.text[lines.offset(body_start) :]),
        note=_cleaned(lines.text[: lines.offset(note_end)]),
    )


def _after_separator(lines: _Lines, i: int) -> Forwarded:
    """The forwarded message under the separator on line ``i``."""
    clean = lines.clean
    j = i + 1
    while j < len(clean) and j <= i + _MAX_GAP_LINES and (not clean[j] or _is_ruler(clean[j])):
        j += 1
    if lines.header(j) is not None:
        values, body_start = _parse_block(lines, j)
    else:
        # A separator with no header under it: the text after it is still what was forwarded.
        values, body_start = {}, i + 1
    return _forwarded(lines, i, values, body_start)


def find_forward(text: str, *, subject: str = "") -> Forwarded | None:
    """The first (outermost) message forwarded inline in ``text``; None when it is no forward.

    Explicit forward separators ("---------- Mensaje reenviado ---------", "Forwarded
    message", "Inicio del mensaje reenviado:", "Begin forwarded message:") always count. An
    Outlook-style header block ("De:" followed by a date and a subject header) and the
    "-----Mensaje original-----" separator look the same in a reply's history as in a
    forward, so they count only when ``subject`` is a forward's (see is_forward_subject).
    Unquoted reply history met first (such a block or separator under another subject, or a
    "El ... escribió:" attribution under any subject) means a reply: None. Lines quoted with
    ">" are never searched, nor anything past the first 5,000 lines or 100,000 characters;
    body and note are strip_reply over at most as much. Never raises.
    """
    lines = _Lines(text)
    clean = lines.clean
    forward_subject = is_forward_subject(subject)
    for i in range(lines.searched):
        line = clean[i]
        if not line or line.startswith(">"):
            continue
        if len(line) <= _MAX_MARKER_CHARS:
            if _FORWARD_SEPARATOR.fullmatch(line):
                return _after_separator(lines, i)
            if _ORIGINAL_SEPARATOR.fullmatch(line):
                return _after_separator(lines, i) if forward_subject else None
        if _is_attribution(clean, i):
            # What follows is the history of a reply, even under "RE: RV:" (an answer to
            # a forward); a forward inside that history is someone else's old message.
            return None
        found = _header(line)
        if found is None or found[0] != "from":
            continue
        if forward_subject:
            values, body_start = _parse_block(lines, i)
            if "date" in values and "subject" in values:
                return _forwarded(lines, i, values, body_start)
        else:
            following = lines.header(i + 1)
            if following is not None and following[0] in _HISTORY_NEXT:
                return None
    return None


def forward_from_eml(raw: bytes) -> Forwarded | None:
    """The message attached to a forward as an .eml; None unless it is a mail with a From."""
    try:
        mail = parse_mail(raw)
    except MailParseError:
        return None
    sender, sender_name = mail.sender, mail.sender_name
    if not sender:
        # parse_mail keeps only senders with an address; a name alone still says who wrote.
        shown = " ".join(mail.headers.get("from", ())[:1]).translate(_CLEAN)
        sender, sender_name = _parse_from(shown)
        if not sender and not sender_name:
            return None
    return Forwarded(
        sender=sender,
        sender_name=sender_name,
        sent=" ".join(mail.headers.get("date", ())[:1]).strip(),
        subject=mail.subject,
        body=_cleaned(mail.text),
        note="",
        attachments=tuple(a for a in mail.attachments if not a.inline),
    )
