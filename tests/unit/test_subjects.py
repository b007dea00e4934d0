"""Subject tags and the name a new case gets from a mail's subject."""

from __future__ import annotations

import pytest

from bot.workflow import plain_subject, tag_subject


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Alta de usuario", "Alta de usuario [MA-001 #7]"),
        ("Re: Alta de usuario [MA-001 #7]", "Re: Alta de usuario [MA-001 #7]"),
        # Another case's tag (a reply to a closed case opened this one) is replaced.
        ("Re: Acceso [MA-006 #1]", "Re: Acceso [MA-001 #7]"),
        ("[MA-006 #1] Acceso [MA-006 #2]", "Acceso [MA-001 #7]"),
        ("", "[MA-001 #7]"),
    ],
)
def test_tag_subject_keeps_exactly_one_tag_of_its_case(subject: str, expected: str) -> None:
    assert tag_subject(subject, "MA-001", 7) == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("No puedo entrar a BLife", "No puedo entrar a BLife"),
        ("RE: RE: No puedo entrar a BLife", "No puedo entrar a BLife"),
        ("Re: Recibimos tu solicitud [MA-006 #1]", "Recibimos tu solicitud"),
        ("RV: Fwd: Alta de agente", "Alta de agente"),
        ("Re[2]: Alta", "Alta"),
        ("Respuesta: sigue igual", "Respuesta: sigue igual"),
        ("Reunión de mañana", "Reunión de mañana"),
        ("[MA-006 #3]", ""),
    ],
)
def test_plain_subject_drops_tags_and_reply_prefixes(subject: str, expected: str) -> None:
    assert plain_subject(subject) == expected
