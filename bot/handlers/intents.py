"""What a reply means: the seam the pipeline calls, with a conservative first recognizer.

Only the two validation answers of MA-006 are recognised here; anything doubtful is
UNKNOWN and goes to a person. The full Spanish intent engine replaces `classify` behind
the same signature.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Protocol

UNKNOWN = "UNKNOWN"


class Classifier(Protocol):
    """Maps a cleaned reply text to one of the contract's intents."""

    def __call__(self, text: str) -> str:
        """The intent name (UNKNOWN when unsure)."""
        ...


def fold(text: str) -> str:
    """Lower case, no accents, punctuation as spaces, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9ñ]+", " ", plain).strip()


_NOT_SOLVED = re.compile(
    r"\b(sigue sin|sigue (igual|fallando|marcando)|no (funciona|jala|sirve|quedo|ha quedado|"
    r"puedo|me deja|se resolvio|esta resuelto)|todavia no|aun no|persiste|otra vez|"
    r"de nuevo (el|me)|mismo error|sigue el error)\b"
)
_VALIDATED = re.compile(
    r"\b(ya (quedo|funciona|jala|puedo|entre|pude|esta|se resolvio)|quedo (resuelto|listo)|"
    r"(esta|quedo) resuelto|todo bien|funciona (bien|correctamente)|ya lo tengo|"
    r"listo( muchas)? gracias|si gracias|si quedo|perfecto gracias|resuelto gracias)\b"
)


def classify(text: str) -> str:
    """VALIDATED, NOT_SOLVED or UNKNOWN; mixed or doubtful replies are UNKNOWN."""
    folded = fold(text)[:2000]
    if not folded:
        return UNKNOWN
    negative = bool(_NOT_SOLVED.search(folded))
    positive = bool(_VALIDATED.search(folded))
    if negative and not positive:
        return "NOT_SOLVED"
    # "¿ya quedó?" asks; it does not confirm.
    if positive and not negative and "?" not in text:
        return "VALIDATED"
    return UNKNOWN
