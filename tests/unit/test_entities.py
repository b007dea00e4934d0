"""Entities in replies: dates towards the future, day first; DSN, RFC, e-mails, claves."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.handlers.entities import extract, find_dates, valid_rfc

SATURDAY = datetime(2026, 11, 21, 10, 0)


@pytest.mark.parametrize(
    ("text", "dates"),
    [
        ("te aviso el lunes", ["2026-11-23"]),
        ("el 5 de diciembre", ["2026-12-05"]),
        ("a más tardar el viernes 5 de diciembre", ["2026-12-05"]),
        ("fecha límite: 05/12/2026.", ["2026-12-05"]),
        ("en dos semanas", ["2026-12-05"]),
        ("dentro de 3 días", ["2026-11-24"]),
        ("mañana te confirmo", ["2026-11-22"]),
        ("pasado mañana", ["2026-11-23"]),
        ("la prox semana te confirmo", ["2026-11-23"]),
        ("a fin de mes", ["2026-11-30"]),
        ("el 15 de enero", ["2027-01-15"]),
        ("antes del 24", ["2026-11-24"]),
        ("a principios de diciembre", ["2026-12-01"]),
        (
            "entre el lunes 7 y el martes 8; te aviso el miércoles 9.",
            ["2026-12-07", "2026-12-08", "2026-12-09"],
        ),
    ],
)
def test_dates_are_read_towards_the_future(text: str, dates: list[str]) -> None:
    assert [d.isoformat() for d in find_dates(text, SATURDAY)] == dates


@pytest.mark.parametrize(
    "text",
    [
        "Enviado desde mi iPhone",
        "mi clave es 123456",
        "llámame al 744 123 4567",
        "paquete 2 para 3 usuarios",
        "esta mañana no pude entrar",
        "ya lo intenté 3 veces",
        "DES 3.0",
    ],
)
def test_numbers_that_are_not_dates(text: str) -> None:
    assert find_dates(text, SATURDAY) == ()


def test_entities_of_a_reply() -> None:
    found = extract(
        "El DSN es 0045812367, clave de agente 123456, RFC GODE561231GR8, XAXX010101000 y "
        "GODE561231GR9 (mal); correo Ana.Luna@Example.com",
        SATURDAY,
    ).as_json()
    assert found == {
        "dates": [],
        "dsn": ["0045812367"],
        "rfc": ["GODE561231GR8", "XAXX010101000"],
        "emails": ["ana.luna@example.com"],
        "agent_keys": ["123456"],
    }


def test_generic_rfcs_are_valid_though_their_check_digit_is_not() -> None:
    assert valid_rfc("XAXX010101000") and valid_rfc("XEXX010101000")
    assert not valid_rfc("GODE561231GR9")
