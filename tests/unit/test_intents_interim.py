"""The conservative validation-reply recognizer: never a false VALIDATED."""

from __future__ import annotations

import pytest

from bot.handlers.intents import classify, fold


@pytest.mark.parametrize(
    "text",
    [
        "Sí, ya quedó, gracias",
        "ya quedo gracias",
        "Listo, muchas gracias!!",
        "Ya funciona, gracias",
        "YA PUDE ENTRAR",
        "Todo bien, quedó resuelto",
    ],
)
def test_validated(text: str) -> None:
    assert classify(text) == "VALIDATED"


@pytest.mark.parametrize(
    "text",
    [
        "Sigue sin funcionar, me sigue marcando error 403",
        "No, todavía no puedo entrar",
        "No funciona",
        "Aún no me deja entrar",
        "Persiste el problema",
    ],
)
def test_not_solved(text: str) -> None:
    assert classify(text) == "NOT_SOLVED"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Hola",
        "¿ya quedó?",
        "ya quedó pero ahora no puedo entrar a Pro99",
        "Gracias, lo reviso mañana",
        "Te aviso",
    ],
)
def test_doubtful_is_unknown(text: str) -> None:
    assert classify(text) == "UNKNOWN"


def test_fold() -> None:
    assert fold("¡Sí, YA QUEDÓ!") == "si ya quedo"
