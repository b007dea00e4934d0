"""MA-002 agent forms opened by a real headless LibreOffice Calc: CSV export and re-save as .xlsx.

A fresh form and a filled one go through one soffice run per target format, sharing one
profile of their own (``-env:UserInstallation``) and a timeout. The CSV shows what a person
sees: the agent's texts exactly, formula-like ones never evaluated. The .xlsx that Calc saves
back (as an assistant using LibreOffice would send it) must still read. Skipped when soffice
is missing, unless MESABOT_REQUIRE_SOFFICE=1 (then it is a failure).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import time
from dataclasses import dataclass
from datetime import date

import openpyxl
import pytest

from bot.documents.agent_form import (
    SHEET_TITLE,
    AgentInfo,
    build_agent_form,
    read_agent_form,
)
from bot.documents.letters import convert
from bot.documents.xlsx import check_xlsx

TODAY = date(2026, 11, 23)
CASE = "MA-002 #12"
CURP = "PEGJ850315HDFRRN00"
NAME = "José Ñúñez-Pérez O'Brien & <Cía>"
AGENT = AgentInfo(
    clave="+1+1",
    nombre=NAME,
    rfc="PEGJ850315AB1",
    correo="",
    promotoria='=HYPERLINK("http://x","y")',
    zona="@SUM(A1)",
    cedula="_x0041_",
)
# Known texts as Calc must show them: never evaluated, escapes decoded exactly once.
SHOWN = {
    "Caso": CASE,
    "Clave de agente": "+1+1",
    "Nombre": NAME,
    "Promotoría": '=HYPERLINK("http://x","y")',
    "Zona": "@SUM(A1)",
    "Cédula registrada": "_x0041_",
}
CSV_FILTER = "csv:Text - txt - csv (StarCalc):44,34,76,1"  # comma, quote, UTF-8, first sheet
XLSX_FILTER = "xlsx:Calc MS Excel 2007 XML"
TIMEOUT = 120.0


def need_soffice() -> None:
    """Skip (or, with MESABOT_REQUIRE_SOFFICE=1, fail) when LibreOffice is not installed."""
    if shutil.which("soffice") or shutil.which("libreoffice"):
        return
    message = "LibreOffice no está instalado (apt-get install libreoffice-calc-nogui)"
    if os.environ.get("MESABOT_REQUIRE_SOFFICE") == "1":
        pytest.fail(message)
    pytest.skip(message)


def fill(form: bytes) -> bytes:
    """The form filled with openpyxl in place, column B of the input rows."""
    workbook = openpyxl.load_workbook(io.BytesIO(form))
    sheet = workbook[SHEET_TITLE]
    values = {
        "Teléfono celular": "55 1234 5678",
        "CURP": CURP,
        "Vigencia de la cédula": date(2027, 12, 31),
        "Ramo": "Vida y Gastos Médicos Mayores",
        "Correo electrónico": "ana@example.mx",
        "Decisión": "Sí adelante",
    }
    for row in sheet.iter_rows(min_col=1, max_col=2):
        if row[0].value in values:
            row[1].value = values[row[0].value]
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class Converted:
    """The CSV and re-saved .xlsx of the fresh and the filled form, and soffice's timings."""

    csv: dict[str, list[list[str]]]
    xlsx: dict[str, bytes]
    seconds: dict[str, float]


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Converted:
    """Convert both forms to CSV, then to .xlsx, with one LibreOffice profile."""
    need_soffice()
    folder = tmp_path_factory.mktemp("agent_form")
    form = build_agent_form(AGENT, CASE, TODAY)
    sources = [folder / "fresh.xlsx", folder / "filled.xlsx"]
    sources[0].write_bytes(form)
    sources[1].write_bytes(fill(form))
    profile = folder / "profile"
    seconds: dict[str, float] = {}
    started = time.monotonic()
    csv_files = convert(sources, CSV_FILTER, folder / "csv", timeout=TIMEOUT, profile=profile)
    seconds["csv"] = time.monotonic() - started
    started = time.monotonic()
    xlsx_files = convert(sources, XLSX_FILTER, folder / "xlsx", timeout=TIMEOUT, profile=profile)
    seconds["xlsx"] = time.monotonic() - started
    tables = {
        path.stem: list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
        for path in csv_files
    }
    return Converted(tables, {path.stem: path.read_bytes() for path in xlsx_files}, seconds)


def test_calc_shows_the_texts_unevaluated(converted: Converted) -> None:
    """Calc opens the form; every known text appears exactly as CAM Pegasus gave it."""
    print(f"soffice: {converted.seconds}")
    for stem, rows in converted.csv.items():
        by_label = {row[0]: row[1] for row in rows if len(row) >= 2 and row[0]}
        for label, text in SHOWN.items():
            assert by_label[label] == text, (stem, label)
        assert any(NAME in cell for row in rows for cell in row), stem
        assert "Decisión" in by_label
    filled = {row[0]: row[1] for row in converted.csv["filled"] if len(row) >= 2 and row[0]}
    assert filled["CURP"] == CURP
    assert filled["Teléfono celular"] == "55 1234 5678"
    assert filled["Vigencia de la cédula"] == "31/12/2027"
    assert filled["Decisión"] == "Sí adelante"


def test_form_saved_by_calc_still_reads(converted: Converted) -> None:
    """An assistant who saves the form from LibreOffice sends a file that reads the same."""
    fresh = converted.xlsx["fresh"]
    check_xlsx(fresh)
    data = read_agent_form(fresh, TODAY)
    assert (data.values, data.errors, data.case_ref, data.clave) == ({}, (), CASE, "+1+1")
    filled = read_agent_form(converted.xlsx["filled"], TODAY)
    assert filled.values == {
        "correo": "ana@example.mx",
        "celular": "5512345678",
        "curp": CURP,
        "vigencia_cedula": "2027-12-31",
        "ramo": "Vida y Gastos Médicos Mayores",
    }
    assert (filled.errors, filled.decision) == ((), "PROCEED")
    sheet = openpyxl.load_workbook(io.BytesIO(converted.xlsx["fresh"]))[SHEET_TITLE]
    assert sheet.protection.sheet
    values = [cell.value for row in sheet.iter_rows() for cell in row]
    assert "+1+1" in values and '=HYPERLINK("http://x","y")' in values
