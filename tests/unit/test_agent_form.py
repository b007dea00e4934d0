"""The MA-002 agent form: building, filling and reading back, mail bodies, checks, merging."""

from __future__ import annotations

import datetime as dt
import io
import re
import time
import zipfile
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.utils.escape import unescape
from python_calamine import CalamineWorkbook

from bot.documents.agent_form import (
    DECISIONS,
    FIELDS,
    RAMOS,
    SHEET_TITLE,
    AgentData,
    AgentInfo,
    FieldSpec,
    build_agent_form,
    data_from_text,
    merged,
    missing_fields,
    read_agent_form,
)
from bot.documents.xlsx import SpreadsheetError, UnsafeSpreadsheet, check_xlsx, normalize_cell

TODAY = dt.date(2026, 11, 23)
CURP = "PEGJ850315HDFRRN00"  # valid check digit; first 10 characters match RFC below
OTHER_CURP = "LOMA900101MJCPRN07"
RFC = "PEGJ850315AB1"
AGENT = AgentInfo(
    clave="123456",
    nombre="Juan Pérez García",
    rfc=RFC,
    correo="",
    promotoria="Promotoría Norte & Sur",
    zona="CDMX",
    cedula="",
)
KNOWN = replace(AGENT, correo="juan.perez@example.com", cedula="1234567")
CASE = "MA-002 #12"
LABELS = {spec.key: spec.label for spec in FIELDS}
FULL = {
    "correo": "juan.perez@example.com",
    "celular": "5512345678",
    "curp": CURP,
    "cedula": "1234567",
    "vigencia_cedula": "2027-12-31",
    "ramo": "Vida y Gastos Médicos Mayores",
    "observaciones": "Entra el lunes",
}


# --- helpers ------------------------------------------------------------------------------


def fill_in_place(form: bytes, values: dict[str, Any]) -> bytes:
    """The form filled with openpyxl as an assistant would: column B of the labelled rows."""
    workbook = openpyxl.load_workbook(io.BytesIO(form))
    sheet = workbook[SHEET_TITLE]
    rows = {row[0].value: row[0].row for row in sheet.iter_rows(min_col=1, max_col=1)}
    for label, value in values.items():
        sheet.cell(row=rows[label], column=2, value=value)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def workbook_bytes(*sheets: tuple[str, Sequence[Sequence[Any]]], hidden: str = "") -> bytes:
    """A plain unprotected workbook with these sheets of rows (a copy typed by hand)."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets:
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
        if title == hidden:
            sheet.sheet_state = "hidden"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xml_parts(data: bytes) -> dict[str, bytes]:
    """Every part of an .xlsx archive."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def has_formula(data: bytes) -> bool:
    """Whether any part of the archive holds a formula element."""
    return any(re.search(rb"<(?:\w+:)?f[\s>/]", part) for part in xml_parts(data).values())


def calamine_rows(data: bytes) -> list[list[Any]]:
    """The form's sheet as python-calamine reads it, without any normalisation."""
    with CalamineWorkbook.from_filelike(io.BytesIO(data)) as workbook:
        rows: list[list[Any]] = workbook.get_sheet_by_name(SHEET_TITLE).to_python(
            skip_empty_area=False
        )
    return rows


def labels_in_column_a(data: bytes) -> list[Any]:
    """Column A of the form, as openpyxl reads it."""
    sheet = openpyxl.load_workbook(io.BytesIO(data))[SHEET_TITLE]
    return [row[0] for row in sheet.iter_rows(min_col=1, max_col=1, values_only=True)]


def read_one(label: str, value: Any) -> AgentData:
    """A hand-made sheet holding a single labelled value, read back."""
    return read_agent_form(workbook_bytes(("Hoja1", [("Caso", CASE), (label, value)])), TODAY)


# --- building -----------------------------------------------------------------------------


@pytest.mark.parametrize("agent", [AGENT, KNOWN], ids=["unknown", "known"])
def test_fresh_form_reads_back_empty(agent: AgentInfo) -> None:
    form = build_agent_form(agent, CASE, TODAY)
    check_xlsx(form)
    data = read_agent_form(form, TODAY)
    assert data == AgentData(values={}, errors=(), decision="", case_ref=CASE, clave="123456")


def test_form_layout_protection_and_validations() -> None:
    form = build_agent_form(AGENT, CASE, TODAY)
    workbook = openpyxl.load_workbook(io.BytesIO(form))
    assert workbook.sheetnames == [SHEET_TITLE]
    sheet = workbook[SHEET_TITLE]
    assert sheet["A1"].value == "Alta de agente MetLife: datos complementarios"
    assert (sheet["A2"].value, sheet["B2"].value) == ("Caso", CASE)
    assert [cell.value for cell in sheet[3]] == ["Dato", "Valor", "Indicaciones"]
    labels = [row[0].value for row in sheet.iter_rows(min_row=4, max_col=1)]
    known = ["Clave de agente", "Nombre", "RFC", "Promotoría", "Zona"]
    asked = [spec.label for spec in FIELDS]
    assert labels[: len(known) + len(asked) + 1] == [*known, *asked, "Decisión"]
    assert sheet.protection.sheet is True
    assert not sheet.protection.password
    unlocked = {
        cell.coordinate for row in sheet.iter_rows() for cell in row if not cell.protection.locked
    }
    first_input = 4 + len(known)
    assert unlocked == {f"B{row}" for row in range(first_input, first_input + len(asked) + 1)}
    for row in range(4, first_input):
        assert sheet.cell(row=row, column=2).protection.locked
    assert sheet.cell(row=4, column=2).value == "123456"
    assert sheet.page_setup.fitToWidth == 1

    rows = {spec.key: first_input + index for index, spec in enumerate(FIELDS)}
    rows["decision"] = first_input + len(FIELDS)
    validations = {str(v.sqref): v for v in sheet.data_validations.dataValidation}
    ramo = validations[f"B{rows['ramo']}"]
    assert ramo.type == "list"
    assert ramo.formula1 == '"' + ",".join(RAMOS) + '"'
    decision = validations[f"B{rows['decision']}"]
    assert decision.type == "list"
    assert decision.formula1 == '"Sí adelante,Deténlo,Te aviso cuando proceda"'
    vigencia = validations[f"B{rows['vigencia_cedula']}"]
    assert (vigencia.type, vigencia.operator) == ("date", "greaterThan")
    assert int(vigencia.formula1) == (TODAY - dt.date(1899, 12, 30)).days
    curp = validations[f"B{rows['curp']}"]
    assert (curp.type, curp.operator, curp.formula1) == ("textLength", "equal", "18")
    for validation in validations.values():
        assert validation.showErrorMessage and validation.error and validation.prompt
    assert not has_formula(form)


def test_known_correo_and_cedula_are_locked_not_asked() -> None:
    form = build_agent_form(KNOWN, CASE, TODAY)
    labels = labels_in_column_a(form)
    assert "Correo registrado" in labels and "Cédula registrada" in labels
    assert "Correo electrónico" not in labels and "Cédula profesional" not in labels
    assert "Vigencia de la cédula" in labels
    sheet = openpyxl.load_workbook(io.BytesIO(form))[SHEET_TITLE]
    for row in sheet.iter_rows(min_col=1, max_col=2):
        if row[0].value in ("Correo registrado", "Cédula registrada"):
            assert row[1].protection.locked
            assert row[1].value in (KNOWN.correo, KNOWN.cedula)


def test_formula_injection_is_stored_as_text() -> None:
    hostile = replace(
        AGENT,
        nombre='=HYPERLINK("http://x","y")',
        clave="+1+1",
        promotoria="@SUM(A1)",
        rfc="-2+3",
        zona="#N/A",
        correo="\t=cmd|' /C calc'!A0",
        cedula="_x0041_\r=1",
    )
    form = build_agent_form(hostile, "=1+1", TODAY)
    check_xlsx(form)
    assert not has_formula(form)
    sheet = openpyxl.load_workbook(io.BytesIO(form))[SHEET_TITLE]
    by_label = {row[0].value: row[1] for row in sheet.iter_rows(min_col=1, max_col=2)}
    expected = {
        "Caso": "=1+1",
        "Clave de agente": "+1+1",
        "Nombre": '=HYPERLINK("http://x","y")',
        "RFC": "-2+3",
        "Promotoría": "@SUM(A1)",
        "Zona": "#N/A",
        "Correo registrado": "\t=cmd|' /C calc'!A0",
        "Cédula registrada": "_x0041_\r=1",
    }
    for label, text in expected.items():
        cell = by_label[label]
        # openpyxl does not decode Excel's _xHHHH_ escapes; Excel, LibreOffice and calamine do.
        assert unescape(cell.value) == text
        assert cell.data_type == "s"
        assert cell.quotePrefix
    calamine = {row[0]: row[1] for row in calamine_rows(form) if row[0]}
    for label, text in expected.items():
        assert calamine[label] == text
    data = read_agent_form(form, TODAY)
    assert (data.values, data.errors, data.clave, data.case_ref) == ({}, (), "+1+1", "=1+1")


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_HOSTILE_TEXT = st.one_of(
    st.text(max_size=24),
    st.builds(
        str.__add__,
        st.sampled_from(["=", "+", "-", "@", "\t", "\r", "#N/A", "_x0041_", " ", "\x00"]),
        st.text(max_size=16),
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(
    st.builds(
        AgentInfo,
        clave=_HOSTILE_TEXT,
        nombre=_HOSTILE_TEXT,
        rfc=_HOSTILE_TEXT,
        correo=_HOSTILE_TEXT,
        promotoria=_HOSTILE_TEXT,
        zona=_HOSTILE_TEXT,
        cedula=_HOSTILE_TEXT,
    ),
    _HOSTILE_TEXT,
)
def test_any_agent_text_round_trips_without_formulas(agent: AgentInfo, case_ref: str) -> None:
    form = build_agent_form(agent, case_ref, TODAY)
    check_xlsx(form)
    assert not has_formula(form)
    expected = [case_ref, agent.clave, agent.nombre, agent.rfc, agent.promotoria, agent.zona]
    if agent.correo.strip():
        expected.append(agent.correo)
    if agent.cedula.strip():
        expected.append(agent.cedula)
    expected = [_XML_ILLEGAL.sub("", text) for text in expected]
    rows = [2, 4, 5, 6, 7, 8, 9, 10][: len(expected)]
    # calamine reads what Excel and LibreOffice show (openpyxl is checked in the test above).
    calamine = calamine_rows(form)
    assert [calamine[row - 1][1] for row in rows] == expected
    data = read_agent_form(form, TODAY)
    assert data.values == {} and data.errors == () and data.decision == ""
    assert data.clave == (normalize_cell(expected[1]) or "")
    assert data.case_ref == (normalize_cell(expected[0]) or "")


# --- filling and reading back -------------------------------------------------------------


def test_filled_in_place_reads_back_normalised() -> None:
    form = build_agent_form(AGENT, CASE, TODAY)
    filled = fill_in_place(
        form,
        {
            "Correo electrónico": " Juan.Perez@Example.com ",
            "Teléfono celular": 5512345678,
            "CURP": CURP.lower(),
            "Cédula profesional": 1234567.0,
            "Vigencia de la cédula": dt.date(2027, 12, 31),
            "Ramo": "Vida y GMM",
            "Observaciones": "  Entra el lunes ",
            "Decisión": "Sí adelante",
        },
    )
    check_xlsx(filled)
    data = read_agent_form(filled, TODAY)
    assert data.values == FULL
    assert list(data.values) == [spec.key for spec in FIELDS]
    assert (data.errors, data.decision, data.case_ref, data.clave) == (
        (),
        "PROCEED",
        CASE,
        "123456",
    )
    assert missing_fields(AGENT, data.values) == ()


def test_filled_form_with_known_data_asks_less() -> None:
    form = build_agent_form(KNOWN, CASE, TODAY)
    filled = fill_in_place(
        form,
        {
            "Teléfono celular": "55 1234 5678",
            "CURP": CURP,
            "Vigencia de la cédula": "31/12/2027",
            "Ramo": "Vida",
            "Decisión": "Te aviso cuando proceda",
        },
    )
    data = read_agent_form(filled, TODAY)
    assert "correo" not in data.values and "cedula" not in data.values
    assert data.decision == "LATER"
    assert missing_fields(KNOWN, data.values) == ()
    assert [spec.key for spec in missing_fields(AGENT, data.values)] == ["correo", "cedula"]


def test_unprotected_copy_with_moved_rows_and_loose_labels() -> None:
    rows: list[tuple[Any, ...]] = [
        ("Alta de agente",),
        ("Decision", "deténlo"),
        ("CURP", CURP),
        ("Nota interna que no es un dato", "algo"),
        ("Telefono celular:", "+52 1 55 1234 5678"),
        ("CLAVE DE AGENTE", 123456.0),
        ("Cedula", "12345678"),
        ("Vigencia (dd/mm/aaaa)", "31 de diciembre de 2027"),
        ("ramo", "  gastos   médicos mayores "),
        ("E-mail", "ana@example.mx"),
        ("Caso:", CASE),
        ("Nombre", "CURP"),
    ]
    data = read_agent_form(workbook_bytes(("Copia", rows)), TODAY)
    assert data.values == {
        "correo": "ana@example.mx",
        "celular": "5512345678",
        "curp": CURP,
        "cedula": "12345678",
        "vigencia_cedula": "2027-12-31",
        "ramo": "Gastos Médicos Mayores",
    }
    assert (data.errors, data.decision, data.case_ref, data.clave) == ((), "STOP", CASE, "123456")


def test_copy_starting_in_another_column() -> None:
    rows = [(None, None), (None, "Teléfono celular", "5512345678"), (None, "Ramo", "GMM")]
    data = read_agent_form(workbook_bytes(("Hoja1", rows)), TODAY)
    assert data.values == {"celular": "5512345678", "ramo": "Gastos Médicos Mayores"}


def test_two_row_table_on_another_sheet() -> None:
    table = [
        ("Datos del agente",),
        ("Nombre", "CURP", "Celular (10 dígitos)", "Cédula profesional", "Vigencia", "Ramo"),
        ("Juan Pérez", CURP, 5512345678.0, 1234567.0, dt.datetime(2028, 1, 15), "Vida"),
        ("Otro agente", OTHER_CURP, "3312345678", "7654321", "01/01/2029", "GMM"),
    ]
    data = read_agent_form(workbook_bytes(("Resumen", [("Hola",)]), ("Datos", table)), TODAY)
    assert data.values == {
        "celular": "5512345678",
        "curp": CURP,
        "cedula": "1234567",
        "vigencia_cedula": "2028-01-15",
        "ramo": "Vida",
    }
    assert data.errors == ()


def test_visible_sheet_wins_over_hidden() -> None:
    data = read_agent_form(
        workbook_bytes(
            ("Oculta", [("Teléfono celular", "3312345678"), ("Ramo", "Vida")]),
            ("Hoja1", [("Teléfono celular", "5512345678")]),
            hidden="Oculta",
        ),
        TODAY,
    )
    assert data.values == {"celular": "5512345678", "ramo": "Vida"}


def test_form_with_wrong_values_reports_each() -> None:
    form = build_agent_form(AGENT, CASE, TODAY)
    filled = fill_in_place(
        form,
        {
            "Correo electrónico": "juan.example.com",
            "Teléfono celular": "55 123",
            "CURP": OTHER_CURP,
            "Cédula profesional": "123",
            "Vigencia de la cédula": dt.date(2020, 1, 31),
            "Ramo": "Autos",
            "Observaciones": "x" * 501,
            "Decisión": "Quizá",
        },
    )
    data = read_agent_form(filled, TODAY)
    assert data.values == {}
    assert data.decision == ""
    assert data.errors == (
        "Correo electrónico: «juan.example.com» no es un correo válido: le falta la @.",
        "Teléfono celular: «55 123» debe tener 10 dígitos.",
        f"CURP: «{OTHER_CURP}» no coincide con el RFC {RFC}: los primeros 10 caracteres "
        "deberían ser iguales.",
        "Cédula profesional: «123» debe tener 7 u 8 dígitos.",
        "Vigencia de la cédula: «31/01/2020» está vencida: la cédula debe estar vigente "
        "después de hoy (23/11/2026).",
        "Ramo: «Autos» no es un ramo válido; elige Vida, Gastos Médicos Mayores o Vida y "
        "Gastos Médicos Mayores.",
        "Observaciones: «" + "x" * 59 + "…» tiene 501 caracteres y el máximo es 500.",
        "Decisión: «Quizá» no es una opción válida; elige Sí adelante, Deténlo o Te aviso "
        "cuando proceda.",
    )
    assert [spec.key for spec in missing_fields(AGENT, data.values)] == [
        spec.key for spec in FIELDS if spec.required
    ]


def test_curp_is_not_checked_against_a_generic_or_missing_rfc() -> None:
    for rfc in ("", "XAXX010101000", "ABC123"):
        form = build_agent_form(replace(AGENT, rfc=rfc), CASE, TODAY)
        filled = fill_in_place(form, {"CURP": OTHER_CURP})
        assert read_agent_form(filled, TODAY).values == {"curp": OTHER_CURP}


@pytest.mark.parametrize(
    "content",
    [b"", b"not a spreadsheet", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100],
)
def test_unreadable_files_raise_spreadsheet_error(content: bytes) -> None:
    with pytest.raises(SpreadsheetError):
        read_agent_form(content, TODAY)


def test_macro_workbook_is_refused() -> None:
    form = build_agent_form(AGENT, CASE, TODAY)
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        for name, part in xml_parts(form).items():
            archive.writestr(name, part)
        archive.writestr("xl/vbaProject.bin", b"\x00" * 64)
    with pytest.raises(UnsafeSpreadsheet):
        read_agent_form(output.getvalue(), TODAY)


# --- every datum's shapes -----------------------------------------------------------------

VALID = [
    ("correo", "Juan.Perez@Example.COM", "juan.perez@example.com"),
    ("correo", "mailto:ana@x.mx", "ana@x.mx"),
    ("celular", "5512345678", "5512345678"),
    ("celular", "55 1234 5678", "5512345678"),
    ("celular", "(55) 1234-5678", "5512345678"),
    ("celular", "55.1234.5678", "5512345678"),
    ("celular", "+52 55 1234 5678", "5512345678"),
    ("celular", "52 5512345678", "5512345678"),
    ("celular", "+52 1 55 1234 5678", "5512345678"),
    ("celular", "044 55 1234 5678", "5512345678"),
    ("celular", "045 (33) 1234 5678", "3312345678"),
    ("curp", CURP.lower(), CURP),
    ("curp", "PEGJ 850315 HDFRRN00", CURP),
    ("cedula", "1234567", "1234567"),
    ("cedula", "12345678", "12345678"),
    ("cedula", "1234567.0", "1234567"),
    ("vigencia_cedula", "31/12/2027", "2027-12-31"),
    ("vigencia_cedula", "1-2-2028", "2028-02-01"),
    ("vigencia_cedula", "1.2.28", "2028-02-01"),
    ("vigencia_cedula", "2027-12-31", "2027-12-31"),
    ("vigencia_cedula", "31 de diciembre de 2027", "2027-12-31"),
    ("vigencia_cedula", "1 de Septiembre del 2027", "2027-09-01"),
    ("vigencia_cedula", "31 dic 2027", "2027-12-31"),
    ("vigencia_cedula", "24/11/2026", "2026-11-24"),
    ("ramo", "vida", "Vida"),
    ("ramo", "VIDA", "Vida"),
    ("ramo", "Gastos Medicos Mayores", "Gastos Médicos Mayores"),
    ("ramo", "GMM", "Gastos Médicos Mayores"),
    ("ramo", "Vida y GMM", "Vida y Gastos Médicos Mayores"),
    ("ramo", "vida  y  gastos médicos mayores", "Vida y Gastos Médicos Mayores"),
    ("ramo", "Vida/GMM", "Vida y Gastos Médicos Mayores"),
    ("observaciones", "Entra el lunes", "Entra el lunes"),
    ("observaciones", "y" * 500, "y" * 500),
]
INVALID = [
    ("correo", "juan.com", "le falta la @"),
    ("correo", "a@b", "no es un correo válido"),
    ("celular", "55 123", "debe tener 10 dígitos"),
    ("celular", "55123456789", "debe tener 10 dígitos"),
    ("celular", "0123456789", "no puede empezar con 0 ni con 1"),
    ("celular", "55-1234-567x", "debe tener 10 dígitos"),
    ("curp", "ABC", "debe tener 18 caracteres"),
    ("curp", "PEGJ850315HDFRRN01", "el último carácter no corresponde"),
    ("curp", "1EGJ850315HDFRRN00", "6 dígitos de la fecha de nacimiento"),
    ("curp", "PEGJ851315HDFRRN00", "la fecha de nacimiento, el sexo o el estado"),
    ("cedula", "123456", "debe tener 7 u 8 dígitos"),
    ("cedula", "123456789", "debe tener 7 u 8 dígitos"),
    ("cedula", "12a4567", "debe tener 7 u 8 dígitos"),
    ("vigencia_cedula", "31/12/2020", "está vencida"),
    ("vigencia_cedula", "23/11/2026", "está vencida"),
    ("vigencia_cedula", "31/02/2027", "no es una fecha válida"),
    ("vigencia_cedula", "pronto", "no es una fecha válida"),
    ("ramo", "Autos", "no es un ramo válido"),
    ("observaciones", "z" * 501, "tiene 501 caracteres y el máximo es 500"),
]


@pytest.mark.parametrize("source", ["form", "text"])
@pytest.mark.parametrize(("key", "value", "expected"), VALID)
def test_valid_shapes(source: str, key: str, value: str, expected: str) -> None:
    label = LABELS[key]
    data = (
        read_one(label, value) if source == "form" else data_from_text(f"{label}: {value}", TODAY)
    )
    assert data.values == {key: expected}
    assert data.errors == ()


@pytest.mark.parametrize("source", ["form", "text"])
@pytest.mark.parametrize(("key", "value", "reason"), INVALID)
def test_invalid_shapes(source: str, key: str, value: str, reason: str) -> None:
    label = LABELS[key]
    data = (
        read_one(label, value) if source == "form" else data_from_text(f"{label}: {value}", TODAY)
    )
    assert data.values == {}
    [error] = data.errors
    assert error.startswith(f"{label}: «")
    assert reason in error
    assert value[:20] in error


@pytest.mark.parametrize(
    ("key", "cell", "expected"),
    [
        ("celular", 5512345678, "5512345678"),
        ("celular", 5512345678.0, "5512345678"),
        ("cedula", 1234567.0, "1234567"),
        ("cedula", 12345678, "12345678"),
        ("vigencia_cedula", dt.date(2027, 12, 31), "2027-12-31"),
        ("vigencia_cedula", dt.datetime(2027, 12, 31, 0, 0), "2027-12-31"),
        (
            "vigencia_cedula",
            float((dt.date(2027, 12, 31) - dt.date(1899, 12, 30)).days),
            "2027-12-31",
        ),
    ],
)
def test_typed_cells(key: str, cell: Any, expected: str) -> None:
    assert read_one(LABELS[key], cell).values == {key: expected}


@pytest.mark.parametrize(
    ("key", "cell"),
    [("celular", 5512345.0), ("cedula", 123.5), ("vigencia_cedula", 12.0), ("ramo", 1)],
)
def test_typed_cells_of_the_wrong_kind(key: str, cell: Any) -> None:
    data = read_one(LABELS[key], cell)
    assert data.values == {}
    assert len(data.errors) == 1 and data.errors[0].startswith(LABELS[key])


def test_blank_values_are_missing_not_wrong() -> None:
    data = read_agent_form(
        workbook_bytes(("Hoja1", [("CURP", "   "), ("Ramo", None), ("Decisión", " ")])), TODAY
    )
    assert (data.values, data.errors, data.decision) == ({}, (), "")
    assert data_from_text("CURP:\nRamo: \nCelular -", TODAY) == AgentData({}, (), "", "", "")


@pytest.mark.parametrize(("text", "code"), [*DECISIONS.items(), ("si, adelante", "PROCEED")])
def test_decisions(text: str, code: str) -> None:
    assert read_one("Decisión", text).decision == code


# --- mail bodies --------------------------------------------------------------------------

GMAIL_BODY = f"""Hola, sí adelante. Te paso los datos:

CURP: {CURP}
Tel. celular: (55) 1234-5678
Cédula profesional 12345678 vigente hasta el 31/12/2027
Ramo: Vida
e-mail: Juan.Perez@Example.com

Saludos,
María López
Asistente Comercial Zona Norte
Cel. 33 9876 5432

El lun, 23 nov 2026 a las 10:15, Mesa de Ayuda <mesa@example.com> escribió:
> Hola María:
> CURP: {OTHER_CURP}
> Teléfono celular: (10 dígitos)
"""

OUTLOOK_BODY = """Buen día,

Celular 55 1234 5678
Cédula: 1234567
Vigencia: 31 de diciembre de 2027
Correo = ana.lopez@example.mx
Observaciones: cambia de promotoría el 1 de diciembre

________________________________
De: Mesa de Ayuda <mesa@example.com>
Enviado: lunes, 23 de noviembre de 2026 10:15
Para: María López <maria@example.com>
Asunto: [MA-002 #12] Alta de agente 123456

Teléfono celular: 55 9999 0000
Ramo: Vida y Gastos Médicos Mayores
"""


def test_gmail_reply_with_signature_and_quote() -> None:
    data = data_from_text(GMAIL_BODY, TODAY)
    assert data.values == {
        "correo": "juan.perez@example.com",
        "celular": "5512345678",
        "curp": CURP,
        "cedula": "12345678",
        "vigencia_cedula": "2027-12-31",
        "ramo": "Vida",
    }
    assert (data.errors, data.decision, data.case_ref, data.clave) == ((), "", "", "")


def test_outlook_reply_ignores_history() -> None:
    data = data_from_text(OUTLOOK_BODY, TODAY)
    assert data.values == {
        "correo": "ana.lopez@example.mx",
        "celular": "5512345678",
        "cedula": "1234567",
        "vigencia_cedula": "2027-12-31",
        "observaciones": "cambia de promotoría el 1 de diciembre",
    }
    assert data.errors == ()
    assert [spec.key for spec in missing_fields(AGENT, data.values)] == ["curp", "ramo"]


def test_signature_after_closing_is_not_data() -> None:
    body = "CURP: " + CURP + "\n\nSaludos cordiales\nMaría López\nCel. 33 9876 5432\n"
    assert data_from_text(body, TODAY).values == {"curp": CURP}


@pytest.mark.parametrize(
    "text",
    [
        "Sí adelante, gracias",
        "Deténlo por favor, no ha entregado su cédula.",
        "Te aviso cuando proceda; te mando el correo mañana con la cédula y su celular.",
        "Gracias!\n\nSaludos",
        "",
        "   \n\n  ",
        "Ramo de seguros: no sé aún",
        "Hola, el agente sigue en trámite, vence el plazo el viernes.",
    ],
)
def test_unrelated_text_gives_nothing(text: str) -> None:
    assert data_from_text(text, TODAY) == AgentData({}, (), "", "", "")


def test_sentences_and_bare_curp() -> None:
    text = (
        f"Te paso su curp {CURP} y su celular es 55 1234 5678, "
        "la cédula vence el 1/2/2028.\nCédula No. 1234567"
    )
    data = data_from_text(text, TODAY)
    assert data.values == {
        "celular": "5512345678",
        "curp": CURP,
        "cedula": "1234567",
        "vigencia_cedula": "2028-02-01",
    }
    assert data_from_text(f"Listo:\n{CURP.lower()}\n", TODAY).values == {"curp": CURP}
    # A sentence that names a datum without giving one is not an error.
    assert data_from_text("Mañana te confirmo el celular del agente.", TODAY).errors == ()


def test_several_labels_on_one_line() -> None:
    data = data_from_text(f"- CURP: {CURP}, Cel: 5512345678; Ramo: GMM", TODAY)
    assert data.values == {"celular": "5512345678", "curp": CURP, "ramo": RAMOS[1]}


def test_text_rfc_checks_curp() -> None:
    data = data_from_text(f"RFC: {RFC}\nCURP: {OTHER_CURP}", TODAY)
    assert data.values == {}
    assert data.errors[0].startswith(f"CURP: «{OTHER_CURP}» no coincide con el RFC {RFC}")


def test_first_valid_value_wins_in_text() -> None:
    data = data_from_text("Celular: 55 12\nCelular: 5512345678\nCelular: 3312345678", TODAY)
    assert data.values == {"celular": "5512345678"}
    assert data.errors == ()


def test_hostile_body_is_bounded() -> None:
    started = time.perf_counter()
    body = "Celular: 5512345678\n" + "mail correo cel " * 20_000 + "\n" + "@" * 100_000
    data = data_from_text(body, TODAY)
    assert time.perf_counter() - started < 2
    assert data.values == {"celular": "5512345678"}


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=40),
            st.sampled_from(
                ["CURP:", "Celular", "Cédula:", "Vigencia", "Ramo:", "e-mail", "> ", "--", "RFC"]
            ),
        ),
        max_size=12,
    ).map(" \n".join)
)
def test_noise_never_crashes(text: str) -> None:
    data = data_from_text(text, TODAY)
    assert set(data.values) <= set(LABELS)
    for error in data.errors:
        assert any(error.startswith(f"{label}: ") for label in LABELS.values())


# --- combining ----------------------------------------------------------------------------


def test_missing_fields() -> None:
    required = [spec for spec in FIELDS if spec.required]
    assert missing_fields(AGENT, {}) == tuple(required)
    assert all(isinstance(spec, FieldSpec) for spec in required)
    assert [spec.key for spec in missing_fields(KNOWN, {})] == [
        "celular",
        "curp",
        "vigencia_cedula",
        "ramo",
    ]
    assert missing_fields(AGENT, {**FULL, "observaciones": ""}) == ()
    assert [spec.key for spec in missing_fields(AGENT, {**FULL, "curp": " "})] == ["curp"]
    blank_known = replace(AGENT, correo="  ", cedula="")
    assert missing_fields(blank_known, {})[0].key == "correo"


def test_merged_later_wins_and_drops_fixed_errors() -> None:
    form_data = AgentData(
        values={"curp": CURP, "ramo": "Vida"},
        errors=(
            "Teléfono celular: «55 123» debe tener 10 dígitos.",
            "Cédula profesional: «12» debe tener 7 u 8 dígitos.",
        ),
        decision="PROCEED",
        case_ref=CASE,
        clave="123456",
    )
    text_data = data_from_text("Celular: 5512345678\nCURP: " + OTHER_CURP + "\nRamo: Autos", TODAY)
    assert text_data.errors == (
        "Ramo: «Autos» no es un ramo válido; elige Vida, Gastos Médicos Mayores o Vida y "
        "Gastos Médicos Mayores.",
    )
    result = merged(form_data, text_data)
    assert result.values == {"celular": "5512345678", "curp": OTHER_CURP, "ramo": "Vida"}
    assert list(result.values) == ["celular", "curp", "ramo"]
    assert result.errors == ("Cédula profesional: «12» debe tener 7 u 8 dígitos.",)
    assert (result.decision, result.case_ref, result.clave) == ("PROCEED", CASE, "123456")
    # An earlier valid value also silences a later error of the same datum.
    later = merged(text_data, replace(form_data, decision="", errors=("Ramo: «x» no.",)))
    assert later.values["ramo"] == "Vida" and later.errors == ()
    assert later.decision == ""


def test_merged_decision_and_empty() -> None:
    empty = AgentData({}, (), "", "", "")
    assert merged() == empty
    first = replace(empty, decision="STOP", errors=("Decisión: «x» no es una opción válida.",))
    second = replace(empty, decision="LATER")
    assert merged(first, second).decision == "LATER"
    assert merged(second, empty).decision == "LATER"
    wrong_decision = replace(empty, errors=("Decisión: «x» no es una opción válida.",))
    assert merged(wrong_decision).errors == wrong_decision.errors
    assert merged(wrong_decision, second).errors == ()
    assert merged(replace(empty, errors=("Algo más.",))).errors == ("Algo más.",)
    same = ("CURP: «A» no es una CURP válida: debe tener 18 caracteres.",)
    assert merged(replace(empty, errors=same), replace(empty, errors=same)).errors == same
