"""Entities in replies: dates towards the future, day first; DSN, RFC, e-mails, claves."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from bot.config import load_config
from bot.handlers.entities import Gazetteer, extract, find_dates, valid_rfc

ROOT = Path(__file__).resolve().parents[2]

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


# --- names from the configuration ------------------------------------------------------

GAZETTEER = Gazetteer.build(
    zones=[
        ("Acapulco", ["Promotoría Acapulco Costera"]),
        ("Edo México", ["Promotoría Toluca"]),
    ],
    people=[
        ("Sofía Ramírez López", "sofia@example.com"),
        ("Diego Hernández", "diego@example.com"),
        ("Diego Ramírez", "diego.r@example.com"),
        ("Lupita", "lupita@example.com"),
    ],
)


@pytest.mark.parametrize(
    ("text", "kind", "values"),
    [
        ("Es de la zona ACAPULCO.", "zones", ("Acapulco",)),
        ("de edo. mexico", "zones", ("Edo México",)),
        (
            "Agente de la Promotoria Acapulco Costera",
            "promotorias",
            ("Promotoría Acapulco Costera",),
        ),
        ("es de Acapulco Costera", "promotorias", ("Promotoría Acapulco Costera",)),
        ("la de toluca, no la de Acapulco", "promotorias", ("Promotoría Toluca",)),
        ("la de toluca, no la de Acapulco", "zones", ("Acapulco",)),
        ("Acapulcos y toluqueños", "zones", ()),
        ("lo ve Sofia Ramirez", "people", ("sofia@example.com",)),
        ("lo ve sofía lópez", "people", ("sofia@example.com",)),
        (
            "Sofía Ramírez López y Diego Hernández",
            "people",
            ("sofia@example.com", "diego@example.com"),
        ),
        ("Diego lo revisa", "people", ()),  # a first name alone is anybody's
        ("Lupita lo revisa", "people", ()),
    ],
)
def test_configured_names_are_recognised(text: str, kind: str, values: tuple[str, ...]) -> None:
    assert GAZETTEER.find(text)[kind] == values


def test_a_short_form_two_people_share_names_neither() -> None:
    # "Diego Ramírez" is a full name of its own; "Sofía Ramírez" is not ambiguous either.
    assert GAZETTEER.find("Diego Ramírez")["people"] == ("diego.r@example.com",)
    shared = Gazetteer.build(people=[("Ana Ruiz Soto", "a@x.mx"), ("Ana Ruiz Vela", "b@x.mx")])
    assert shared.find("Ana Ruiz")["people"] == ()
    assert shared.find("Ana Ruiz Vela")["people"] == ("b@x.mx",)


def test_names_join_the_entities_only_when_found() -> None:
    found = extract("Sí adelante, es de Toluca", SATURDAY, GAZETTEER).as_json()
    assert found["promotorias"] == ["Promotoría Toluca"]
    plain = extract("Sí adelante", SATURDAY, GAZETTEER).as_json()
    assert set(plain) == {"dates", "dsn", "rfc", "emails", "agent_keys"}
    assert Gazetteer().find("Acapulco") == {"zones": (), "promotorias": (), "people": ()}


def test_gazetteer_from_the_shipped_configuration(tmp_path: Path) -> None:
    shutil.copyfile(ROOT / "config.toml", tmp_path / "config.toml")
    config = load_config(tmp_path / "config.toml", {})
    gazetteer = Gazetteer.from_config(config)
    zone = config.zones[0]
    found = gazetteer.find(f"Es de la zona {zone.name}, lo ve {config.people.specialists[0].name}")
    assert found["zones"] == (zone.name,)
    assert found["people"] == (config.people.specialists[0].email,)
