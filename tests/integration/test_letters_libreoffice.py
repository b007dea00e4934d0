"""The rendered letters opened by a real headless LibreOffice: PDF and plain text.

The three MA-001 letters and the MA-005 carta responsiva. LibreOffice's first start (profile
creation) takes seconds, so the four letters go through
one soffice run per format, sharing one profile, and ``to_pdf`` runs once on its own. Skipped
when soffice is missing, unless MESABOT_REQUIRE_SOFFICE=1 (then it is a failure).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pypdf
import pytest

from bot.config import Organization, Person
from bot.documents.intake import UserRow
from bot.documents.letters import (
    LetterKind,
    convert,
    custody_context,
    director_context,
    letter_template,
    render_letter,
    responsiva_context,
    responsiva_counts,
    to_pdf,
)

ORG_NAME = 'Pérez & Hijos <SA> "Seguros" D\'Ángelo'
HOSTILE_NAME = "Ñúñez & <Cía> \"La 'Güera'\" Peña"
LONG_NAME = ("José Ñúñez-Pérez " * 18)[:299] + "z"
DIRECTOR_NAME = "Jesús Quiriarte <Dir> & O'Neill"
PASSWORD = "Qx7&<b>\"'9ñZ"
USERNAME = "nunez.pena&01"
DATE_LINE = "Ciudad de México, a 23 de noviembre de 2026"
ORG = Organization(name=ORG_NAME, mail_domain="example.com")
DIRECTOR = Person(name=DIRECTOR_NAME, email="director@example.com")
TODAY = date(2026, 11, 23)
USERS = [
    UserRow(
        nombre=HOSTILE_NAME,
        rfc="NUPG800101AB1",
        correo="o'brien&co@example.com",
        zona="Nuevo León",
        paquete=1,
        promotoria="Norte & Sur <Promotores>",
    ),
    UserRow(
        nombre=LONG_NAME, rfc="XAXX010101000", correo="largo@example.com", zona="CDMX", paquete=2
    ),
]
APPS = [("B'Life", 10, 2), ("Pro99", 1, 0), ("Gestión Móvil", 0, 1)]
FILE_NAME = "recertificación 2026 <final> & v2.xlsx"
COMMON = [ORG_NAME, HOSTILE_NAME, "o'brien&co@example.com", "Nuevo León", DATE_LINE]
EXPECTED_TEXT = {
    "carta_autorizacion": [*COMMON, LONG_NAME, DIRECTOR_NAME, "autorizo a MetLife"],
    "carta_baja": [*COMMON, LONG_NAME, DIRECTOR_NAME, "solicito a MetLife"],
    "carta_custodia": [*COMMON, USERNAME, PASSWORD, "de la promotoría Norte & Sur <Promotores>"],
    "carta_responsiva": [
        ORG_NAME,
        DIRECTOR_NAME,
        DATE_LINE,
        FILE_NAME,
        "B'Life, Pro99 y Gestión Móvil",
        "la relación de 14 usuarios",
        "Representante legal",
    ],
}


def need_soffice() -> None:
    """Skip (or, with MESABOT_REQUIRE_SOFFICE=1, fail) when LibreOffice is not installed."""
    if shutil.which("soffice") or shutil.which("libreoffice"):
        return
    message = "LibreOffice no está instalado (apt-get install libreoffice-writer-nogui)"
    if os.environ.get("MESABOT_REQUIRE_SOFFICE") == "1":
        pytest.fail(message)
    pytest.skip(message)


@dataclass(frozen=True)
class Converted:
    """The four letters rendered and converted, and how long each soffice run took."""

    sources: list[Path]
    pdfs: list[Path]
    texts: list[Path]
    seconds: dict[str, float]


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Converted:
    """Render the four letters with hostile values; one soffice run for PDF, one for text."""
    need_soffice()
    folder = tmp_path_factory.mktemp("letters")
    contexts: dict[LetterKind, Mapping[str, Any]] = {
        "autorizacion": director_context("alta", ORG, DIRECTOR, USERS, TODAY, "MA-001 #42"),
        "baja": director_context("baja", ORG, DIRECTOR, USERS, TODAY, "MA-001 #43"),
        "custodia": custody_context(ORG, USERS[0], USERNAME, PASSWORD, TODAY, "MA-001 #42"),
        "responsiva": responsiva_context(
            ORG, DIRECTOR, "Lic. Ana O'Hara", APPS, FILE_NAME, TODAY, "MA-005 #7"
        ),
    }
    sources = []
    for kind, context in contexts.items():
        template = letter_template(kind)
        source = folder / template.name
        source.write_bytes(render_letter(template, context))
        sources.append(source)
    profile = folder / "profile"
    seconds = {}
    started = time.monotonic()
    pdfs = convert(sources, "pdf", folder / "pdf", profile=profile)
    seconds["pdf"] = time.monotonic() - started
    started = time.monotonic()
    texts = convert(sources, "txt:Text (encoded):UTF8", folder / "txt", profile=profile)
    seconds["txt"] = time.monotonic() - started
    return Converted(sources, pdfs, texts, seconds)


def test_letters_convert_to_pdf_and_text(converted: Converted) -> None:
    """Every letter becomes a PDF, and its text keeps the hostile values and the date."""
    print(f"soffice: {converted.seconds}")
    for pdf in converted.pdfs:
        data = pdf.read_bytes()
        assert data.startswith(b"%PDF"), pdf.name
        assert len(data) > 1000, pdf.name
    for text_file in converted.texts:
        text = text_file.read_text(encoding="utf-8-sig")
        for value in EXPECTED_TEXT[text_file.stem]:
            assert value in text, f"{text_file.stem}: {value!r} missing"
        assert "{{" not in text and "{%" not in text, text_file.stem


def test_responsiva_pdf_states_the_counts(converted: Converted) -> None:
    """The responsiva's PDF has one page whose text has the total, the table and the apps."""
    [pdf] = [path for path in converted.pdfs if path.stem == "carta_responsiva"]
    reader = pypdf.PdfReader(pdf)
    assert len(reader.pages) == 1
    lines = [" ".join(line.split()) for line in reader.pages[0].extract_text().splitlines()]
    text = " ".join(lines)
    assert "la relación de 14 usuarios con su estatus final: 11 con estatus de activo" in text
    assert "y 3 con estatus de baja" in text
    assert "B'Life, Pro99 y Gestión Móvil" in text
    for row in ["B'Life 12 10 2", "Pro99 1 1 0", "Gestión Móvil 1 0 1", "Total 14 11 3"]:
        assert row in lines, row
    assert "Referencia MA-005 #7" in text
    [source] = [path for path in converted.sources if path.stem == "carta_responsiva"]
    counts = responsiva_counts(source.read_bytes())
    assert (counts.total, counts.active, counts.removed) == (14, 11, 3)


def test_to_pdf() -> None:
    """to_pdf turns a rendered letter into PDF bytes with a fresh profile of its own."""
    need_soffice()
    context = custody_context(ORG, USERS[1], USERNAME, PASSWORD, TODAY, "MA-001 #44")
    letter = render_letter(letter_template("custodia"), context)
    started = time.monotonic()
    data = to_pdf(letter)
    print(f"to_pdf: {time.monotonic() - started:.2f} s")
    assert data.startswith(b"%PDF")
    assert b"%%EOF" in data[-1024:]
