"""Separate what the sender wrote from quoted history, footers and signatures in a reply."""

from __future__ import annotations

import re

# Clients sprinkle invisible characters (Apple's BOM before quoted text, Outlook's
# zero-width spaces); they must not defeat the line patterns below.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"))

_QUOTED = re.compile(r">")

# Gmail, Apple Mail and Thunderbird attributions. A clock time is required so that a
# sentence such as "El técnico me escribió:" is not taken for one.
_ATTRIBUTION_START = re.compile(r"(?:El|On)\s")
_ATTRIBUTION = re.compile(r"(?:El|On)\s.*\d{1,2}:\d{2}.*(?:escribi[óo]|wrote)\s*:")
# Gmail wraps a long attribution over two lines, three when the name is long.
_ATTRIBUTION_MAX_LINES = 3
_ATTRIBUTION_MAX_CHARS = 400

_HEADER = re.compile(
    r"\**\s*(?P<key>de|from|enviado el|enviado|sent|fecha|date|para|to|asunto|subject)"
    r"\s*\**\s*:",
    re.IGNORECASE,
)
_HEADER_FIRST = frozenset({"de", "from"})
_HEADER_NEXT = frozenset(
    {"enviado el", "enviado", "sent", "fecha", "date", "para", "to", "asunto", "subject"}
)

_UNDERSCORES = re.compile(r"_{10,}")

_SEPARATOR = re.compile(
    r"-{3,}\s*(?:mensaje original|original message|mensaje reenviado|forwarded message)\s*-{3,}"
    r"|(?:inicio del mensaje reenviado|begin forwarded message)\s*:",
    re.IGNORECASE,
)

# "-- " per RFC 3676; the trailing space is often lost on the way, so "--" counts too.
_SIGNATURE = re.compile(r"--")

# Full-line matches only: "Enviado desde mi correo personal porque..." is the sender's text.
_FOOTER = re.compile(
    r"(?:"
    r"(?:enviado desde mi|sent from my)\s+(?:"
    r"iphone|ipad|ipod|apple watch"
    r"|(?:dispositivo|smartphone)(?:\s+[\w.-]+){0,3}"
    r"|(?:samsung|huawei|galaxy|xiaomi|motorola|honor|android|blackberry)(?:\s+[\w.-]+){0,2}"
    r"|celular|tel[ée]fono|m[óo]vil)"
    r"|(?:enviado desde|sent from|obtener|get)\s+outlook(?:\s*<[^>]*>)?"
    r"(?:\s+(?:para|for)\s+(?:android|ios))?"
    r"|enviado desde correo(?:\s*<[^>]*>)?\s+para windows(?:\s+\d+)?"
    r")\s*(?:<[^>]*>)?\s*\.?",
    re.IGNORECASE,
)

_DISCLAIMER = re.compile(
    r"[\W_]*(?:aviso de confidencialidad"
    r"|este correo electr[óo]nico y(?:/o)? sus anexos"
    r"|la informaci[óo]n contenida en este correo)",
    re.IGNORECASE,
)

# Rulers left above a cut footer or disclaimer are decoration, not the sender's words.
_DECORATION = re.compile(r"[\s_\-=*~·•]*")


def _attribution_lines(lines: list[str], i: int) -> int:
    """How many lines from ``i`` form a "... escribió:" attribution (0 when none)."""
    if not _ATTRIBUTION_START.match(lines[i]):
        return 0
    joined = lines[i]
    for span in range(1, _ATTRIBUTION_MAX_LINES + 1):
        if span > 1:
            nxt = i + span - 1
            if nxt >= len(lines) or not lines[nxt]:
                break
            joined = f"{joined} {lines[nxt]}"
        if len(joined) > _ATTRIBUTION_MAX_CHARS:
            break
        if _ATTRIBUTION.fullmatch(joined):
            return span
    return 0


def _header_key(line: str) -> str | None:
    """The lower-cased header name when ``line`` looks like a quoted mail header."""
    match = _HEADER.match(line)
    return match.group("key").lower() if match else None


def _header_block(lines: list[str], i: int) -> bool:
    """Whether an Outlook-style header block (De: plus Enviado/Para/Asunto/Fecha) starts at i."""
    # Two consecutive header lines are required: a lone "Para: Juan" is the sender's text.
    return (
        i + 1 < len(lines)
        and _header_key(lines[i]) in _HEADER_FIRST
        and _header_key(lines[i + 1]) in _HEADER_NEXT
    )


def _is_cut(lines: list[str], i: int) -> bool:
    """Whether everything from line ``i`` on is history, a footer or a signature."""
    line = lines[i]
    if not line:
        return False
    if _UNDERSCORES.fullmatch(line):
        # Outlook draws a ruler above its header block, sometimes with a blank line between.
        return any(_header_block(lines, j) for j in range(i + 1, min(i + 3, len(lines))))
    return bool(
        _SIGNATURE.fullmatch(line)
        or _FOOTER.fullmatch(line)
        or _SEPARATOR.fullmatch(line)
        or _DISCLAIMER.match(line)
        or _header_block(lines, i)
    )


def _next_nonblank(lines: list[str], i: int) -> int | None:
    """Index of the first non-blank line at or after ``i``."""
    return next((j for j in range(i, len(lines)) if lines[j]), None)


def _keep_mask(lines: list[str]) -> list[bool]:
    """For each (cleaned) line, whether the sender wrote it in this message."""
    keep = [False] * len(lines)
    i = 0
    while i < len(lines):
        line = lines[i]
        if _QUOTED.match(line):
            i += 1
            continue
        span = _attribution_lines(lines, i)
        if span:
            nxt = _next_nonblank(lines, i + span)
            if nxt is not None and _QUOTED.match(lines[nxt]):
                # A quoted block follows: drop the attribution but keep scanning, because an
                # interleaved reply has the sender's own lines between the quoted ones.
                i += span
                continue
            # Unquoted history (e.g. converted from HTML): nothing after it is new.
            break
        if _is_cut(lines, i):
            break
        keep[i] = True
        i += 1
    return keep


def _tidy(lines: list[str], keep: list[bool]) -> None:
    """Unkeep leading blanks, trailing rulers and blank runs left by removed quotes."""
    kept = [i for i, k in enumerate(keep) if k]
    start = next((n for n, i in enumerate(kept) if lines[i]), len(kept))
    end = len(kept)
    while end > start and _DECORATION.fullmatch(lines[kept[end - 1]]):
        end -= 1
    for i in kept[:start] + kept[end:]:
        keep[i] = False
    kept = kept[start:end]
    previous: int | None = None
    for i in kept:
        # Collapse only blank runs that a removal created; the sender's own spacing stays.
        if previous is not None and not lines[i] and not lines[previous] and previous != i - 1:
            keep[i] = False
            continue
        previous = i


def split_reply(text: str) -> tuple[str, str]:
    """Return (what the sender wrote now, the removed history, footers and signatures)."""
    raw = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = [line.translate(_INVISIBLE).strip() for line in raw]
    keep = _keep_mask(lines)
    _tidy(lines, keep)
    new = "\n".join(
        raw[i].translate(_INVISIBLE).rstrip() if lines[i] else ""
        for i in range(len(raw))
        if keep[i]
    )
    removed = "\n".join(raw[i] for i in range(len(raw)) if not keep[i])
    return new.rstrip(), removed.strip("\n")


def strip_reply(text: str) -> str:
    """Return only what the sender wrote in this message, without trailing blank lines."""
    return split_reply(text)[0]
