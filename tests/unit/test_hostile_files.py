"""Every hostile attachment gets its own Spanish answer, a refusal or a report, and nothing else."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.documents.intake import read_intake, report_es
from bot.documents.xlsx import SpreadsheetError
from tests.hostile_files import HOSTILE, VALID_FORM, HostileFile

ROOT = Path(__file__).resolve().parents[2]
CONFIG: Config = load_config(ROOT / "config.toml", {})
IDS = [hostile.name for hostile in HOSTILE]


def answer(data: bytes) -> str:
    """What the requester reads: the refusal message, or the report on the form."""
    try:
        intake = read_intake(data, CONFIG)
    except SpreadsheetError as exc:
        assert exc.reason_es == str(exc)
        return exc.reason_es
    return report_es(intake)


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_hostile_file_gets_its_answer(hostile: HostileFile) -> None:
    """Anything but a SpreadsheetError or a report propagates and fails the test."""
    text = answer(hostile.build())
    assert hostile.expect in text, text[:300]
    assert len(text) < 2_000  # an answer someone reads, whatever the file holds


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_hostile_file_is_deterministic(hostile: HostileFile) -> None:
    """The same bytes on every build, so that benchmark runs compare."""
    first = hashlib.sha256(hostile.build()).digest()
    assert hashlib.sha256(hostile.build()).digest() == first


def test_registry_is_consistent() -> None:
    """Unique names, file names an attacker would use, a Spanish fragment to look for."""
    assert len(set(IDS)) == len(IDS)
    for hostile in HOSTILE:
        assert hostile.filename.endswith((".xlsx", ".xls")), hostile.filename
        assert hostile.expect.strip(), hostile.name


def test_valid_form_yields_one_user() -> None:
    """The baseline of the benchmark: Elena's form is complete and correct."""
    intake = read_intake(VALID_FORM(), CONFIG)
    assert intake.ok
    assert intake.errors == []
    [user] = intake.users
    assert (user.nombre, user.rfc, user.correo, user.zona, user.paquete) == (
        "Elena Gómez Díaz",
        "GODE561231GR8",
        "elena.gomez@promotoria.mx",
        "CDMX",
        1,
    )
    assert user.row == 2
    assert "el usuario está completo y correcto" in report_es(intake)
    assert VALID_FORM() == VALID_FORM()
