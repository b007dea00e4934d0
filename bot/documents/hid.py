"""The MetLife HID's matching key, shared by the file reader and the MA-005 rules.

Kept apart from bot.documents.recert so that the rules (loaded by every command) can use
it without loading the spreadsheet libraries.
"""

from __future__ import annotations

import re

# Quote marks people type before a number to keep Excel from reading it as one.
APOSTROPHES = "'’‘`´"
_NUMBER_TEXT = re.compile(r"(\d+)(?:\.0+)?")


def hid_key(value: object) -> str:
    """An HID's matching key: digits without leading zeros, else upper-case text without spaces."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    text = "".join(str(value).split()).lstrip(APOSTROPHES).upper()
    # A number that went through a CSV or a database often comes back as "1234.0".
    number = _NUMBER_TEXT.fullmatch(text)
    if number:
        return number[1].lstrip("0") or "0"
    return text
