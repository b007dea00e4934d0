"""The intent engine on the cases that matter most: never a false approval."""

from __future__ import annotations

import pytest

from bot.handlers.intents import INTENTS, classify, fold, is_courtesy, understand
from bot.handlers.quotes import strip_reply


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Sí adelante", "PROCEED"),
        ("si adelnte gracias", "PROCEED"),
        ("Adelante con el alta, ya tiene su cédula vigente.", "PROCEED"),
        ("no hay problema, adelante", "PROCEED"),
        ("Deténlo", "STOP"),
        ("no, mejor deténlo", "STOP"),
        ("adelante no", "STOP"),
        ("No tiene caso darlo de alta, deténlo", "STOP"),
        ("Te aviso cuando proceda", "LATER"),
        ("sí pero espera a que mande su INE", "LATER"),
        ("te aviso el lunes si procede", "LATER"),
        ("Muchas gracias, ya lo tengo", "THANKS_DONE"),
        ("sí, ya quedó, gracias", "VALIDATED"),
        ("sigue sin funcionar", "NOT_SOLVED"),
        ("tampoco funcionó lo del caché", "NOT_SOLVED"),
        ("ACEPTO", "ACCEPT"),
        ("acepto 👍", "ACCEPT"),
        ("¿Qué datos necesitan?", "QUESTION"),
        ("Sí adelante, pero ¿qué datos necesitan además del Excel?", "QUESTION"),
    ],
)
def test_reads_the_documented_replies(text: str, intent: str) -> None:
    assert classify(text) == intent


@pytest.mark.parametrize(
    "text",
    [
        "sí",
        "ok",
        "👍",
        "De acuerdo.",
        "Perfecto, gracias!",
        "sí, si ya entregó los papeles",
        "Sí adelante si MetLife lo permite; si no, lo vemos después.",
        "Si el gerente ya firmó, adelante. Si no, espérate.",
        "Adelante, a menos que Comercial diga otra cosa.",
        "Sí claro, adelante 🙄",
        "no sé, pero adelante",
        "adelante? o esperamos?",
        "Adelante con Rocío y detén a José Manuel",
        "te adelanto que ya entregó papeles",
        "Allá lo van a dar de alta",
    ],
)
def test_never_an_approval_when_in_doubt(text: str) -> None:
    assert classify(text) not in ("PROCEED", "ACCEPT")


@pytest.mark.parametrize(
    "text", ["acepto pero", "no acepto", "¿acepto?", "aceptó", "Acepto, gracias"]
)
def test_accept_is_only_the_bare_keyword(text: str) -> None:
    assert classify(text) != "ACCEPT"


def test_the_quoted_question_never_counts() -> None:
    reply = (
        "Deténlo por favor\n\n"
        "El vie, 20 nov 2026 a las 9:30, Mesa de Ayuda (<mesa.ayuda@example.com>) escribió:\n"
        "> ¿Damos de alta al agente? Responde «Sí adelante» o «Deténlo».\n"
    )
    assert classify(strip_reply(reply)) == "STOP"


def test_reading_explains_itself() -> None:
    reading = understand("Sí, pero espera al lunes")
    assert reading.intent == "LATER" and "pero" in reading.reason


def test_fold_handles_case_accents_emoji_and_repeats() -> None:
    assert fold("¡SÍÍÍ, ADELANTEEE! 👍").split() == ["¡si,", "adelante!", "ok"]


def test_every_name_is_in_the_contract_list() -> None:
    assert INTENTS == (
        "PROCEED",
        "STOP",
        "LATER",
        "THANKS_DONE",
        "VALIDATED",
        "NOT_SOLVED",
        "ACCEPT",
        "QUESTION",
        "UNKNOWN",
    )


@pytest.mark.parametrize(
    ("text", "courtesy"),
    [
        ("¡Muchas gracias!", True),
        ("gracias", True),
        ("Mil gracias!! 🙏", True),
        ("Enterada, saludos", True),
        ("Muchas gracias por todo, que tengas buen día", True),
        ("Gracias, pero sigue sin funcionar", False),
        ("¿gracias?", False),
        ("ok", False),
        ("Gracias. Otra cosa: no me llega el correo", False),
        ("Gracias, ¿y la contraseña?", False),
        ("", False),
        ("gracias " * 20, False),
    ],
)
def test_courtesy_is_only_thanks_or_acknowledgement(text: str, courtesy: bool) -> None:
    assert is_courtesy(text) is courtesy
