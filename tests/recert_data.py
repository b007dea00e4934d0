"""MA-005 test data: MetLife recertification workbooks as MetLife sends them, areas' answers.

``metlife_file`` builds a realistic workbook deterministically for a seed and ``metlife_rows``
says what it holds (sheet, Excel row, HID as shown, clean name, application, status), so
that tests and benchmarks compare what was read with what was written. ``big_metlife_file``
streams a single sheet of any size; ``enriched_rows`` turns users into the rows of the file
for the areas and ``answer_file`` fills that file's answer column as an area would in Excel.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import openpyxl
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from python_calamine import CalamineWorkbook

from bot.documents.recert import ENRICHED_SHEET, RecertUser, hid_key
from tests.hostile_files import canonical_zip

__all__ = [
    "LAYOUTS",
    "MetlifeRow",
    "answer_file",
    "big_metlife_file",
    "enriched_rows",
    "metlife_file",
    "metlife_hids",
    "metlife_rows",
]

LAYOUTS = ("realistic", "with_answer", "single_sheet")
TITLE = "Recertificación anual de usuarios 2026"
HEADER_ROW = 4  # realistic and with_answer: title, blank row, subtitle, header
# (sheet name, canonical application, share of the users)
APP_SHEETS = (
    ("BLife", "B'Life", 0.85),
    ("Pro99", "Pro99", 0.10),
    ("Gestion Movil", "Gestión Móvil", 0.05),
)
REALISTIC_HEADERS = (
    "No. Empleado",
    "Nombre completo",
    "Puesto",
    "Fecha de alta",
    "Último acceso",
    "Estatus",
)
ANSWER_HEADER = "Recertificación"
ANSWER_OPTIONS = ("Mantener", "Baja")
SINGLE_HEADERS = ("Num. empleado MetLife", "Nombre del usuario", "Aplicativo", "Status", "Acción")
# How the single-sheet layout writes each application in its Aplicativo column.
SINGLE_APP_SPELLINGS = (
    ("BLIFE", "B'Life"),
    ("Be Life", "B'Life"),
    ("PRO 99", "Pro99"),
    ("Consultador", "Consultador"),
    ("gestion movil", "Gestión Móvil"),
    ("Gestión Móvil", "Gestión Móvil"),
)
HID_HEADERS = frozenset({"no. empleado", "num. empleado metlife", "hid"})

FIRST_NAMES = (
    "José Luis",
    "María Fernanda",
    "Juan Pablo",
    "Guadalupe",
    "Ximena",
    "Raúl",
    "Héctor",
    "Martín",
    "Mónica",
    "Inés",
    "Ramón",
    "Verónica",
    "Jesús",
    "Noé",
    "Itzel",
    "Ángel",
    "Sofía",
    "Andrés",
)
SURNAMES = (
    "Hernández",
    "García",
    "Martínez",
    "López",
    "González",
    "Pérez",
    "Rodríguez",
    "Sánchez",
    "Ramírez",
    "Cruz",
    "Gómez",
    "Núñez",
    "Ordóñez",
    "Peña",
    "Muñoz",
    "Íñiguez",
    "Valdés",
    "Chávez",
    "Domínguez",
    "Vázquez",
)
PUESTOS = ("Asesor", "Asistente comercial", "Gerente de desarrollo", "Promotor")
METLIFE_STATUSES = ("Activo",) * 8 + ("Inactivo", "Bloqueado")
HEADER_FILL = PatternFill("solid", start_color="1F4E78")
HEADER_FONT = Font(bold=True, color="FFFFFF")
TITLE_FONT = Font(bold=True, size=14, color="1F4E78")
REALISTIC_WIDTHS = {"A": 15, "B": 40, "C": 24, "D": 14, "E": 14, "F": 12, "G": 18}
FIXED_DATE = dt.datetime(2026, 1, 12, 9, 30)


@dataclass(frozen=True)
class MetlifeRow:
    """One user as a built workbook holds it, and as read_recert should read it."""

    sheet: str
    row: int  # 1-based Excel row
    hid: str  # as read_recert shows it: text trimmed, no apostrophe, leading zeros kept
    written: object  # the HID cell's value as written (int or text)
    nombre: str  # whitespace collapsed
    written_name: str  # with the stray spaces some rows carry
    aplicacion: str
    estatus: str
    hidden: bool = False


def _name(rng: random.Random, index: int) -> tuple[str, str]:
    """(clean name, name as written): every 37th with trailing spaces, every 53rd doubled."""
    clean = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)} {rng.choice(SURNAMES)}"
    written = clean
    if index % 37 == 5:
        written = clean + "  "
    if index % 53 == 7:
        written = written.replace(" ", "  ", 1)
    return clean, written


def _hid(number: int, index: int) -> tuple[object, str]:
    """(value written, HID as shown): mostly numbers, some text with zeros, apostrophe, spaces."""
    kind = index % 10
    if kind in (7, 8):
        text = f"{number:09d}"
        return text, text
    if kind == 9:
        written = f"'{number}" if index % 20 == 9 else f" {number} "
        return written, str(number)
    return number, str(number)


def _split(users: int) -> list[int]:
    """How many users each application sheet gets: 85 %, 10 %, the rest."""
    counts = [round(users * share) for _sheet, _app, share in APP_SHEETS[:-1]]
    counts.append(max(users - sum(counts), 0))
    return counts


def metlife_rows(users: int = 900, *, seed: int = 1, layout: str = "realistic") -> list[MetlifeRow]:
    """What ``metlife_file`` with the same arguments holds, user by user."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; use one of {LAYOUTS}")
    rng = random.Random(seed)
    numbers = rng.sample(range(100_000, 9_999_999), users)
    rows: list[MetlifeRow] = []
    if layout == "single_sheet":
        for index, number in enumerate(numbers):
            written, shown = _hid(number, index)
            clean, written_name = _name(rng, index)
            _spelling, application = SINGLE_APP_SPELLINGS[index % len(SINGLE_APP_SPELLINGS)]
            rows.append(
                MetlifeRow(
                    "Usuarios",
                    index + 2,
                    shown,
                    written,
                    clean,
                    written_name,
                    application,
                    rng.choice(METLIFE_STATUSES),
                )
            )
        return rows
    index = 0
    for (sheet, application, _share), count in zip(APP_SHEETS, _split(users), strict=True):
        for position in range(count):
            written, shown = _hid(numbers[index], index)
            clean, written_name = _name(rng, index)
            row = HEADER_ROW + 1 + position
            rows.append(
                MetlifeRow(
                    sheet,
                    row,
                    shown,
                    written,
                    clean,
                    written_name,
                    application,
                    rng.choice(METLIFE_STATUSES),
                    # Two hidden rows in the first sheet, as people hide rows they checked.
                    hidden=sheet == APP_SHEETS[0][0] and position in (3, 7),
                )
            )
            index += 1
    return rows


def metlife_file(users: int = 900, *, seed: int = 1, layout: str = "realistic") -> bytes:
    """A MetLife recertification workbook, the same bytes for the same arguments.

    "realistic": an "Instrucciones" sheet, then one sheet per application (85 % B'Life, 10 %
    Pro99, 5 % Gestión Móvil) with a merged title, a blank row, a subtitle and the header on
    row 4, coloured bold headers, widths, two hidden rows. "with_answer": the same with a
    "Recertificación" column MetLife wants filled from a list "Mantener,Baja".
    "single_sheet": one sheet, header on row 1, the application in an "Aplicativo" column.
    """
    rows = metlife_rows(users, seed=seed, layout=layout)
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    if layout == "single_sheet":
        _single_sheet(workbook, rows)
    else:
        _instructions(workbook)
        for sheet_name, application, _share in APP_SHEETS:
            sheet_rows = [row for row in rows if row.sheet == sheet_name]
            _application_sheet(workbook, sheet_name, application, sheet_rows, layout)
    workbook.properties.creator = "MetLife México"
    workbook.properties.created = FIXED_DATE
    buffer = io.BytesIO()
    workbook.save(buffer)
    return canonical_zip(buffer.getvalue())


def _instructions(workbook: Any) -> None:
    """MetLife's instructions sheet: text only, no HID column."""
    sheet = workbook.create_sheet("Instrucciones")
    sheet["A1"] = "Instrucciones para la recertificación"
    sheet["A1"].font = TITLE_FONT
    sheet["A3"] = "1. Revise cada usuario de las hojas por aplicación."
    sheet["A4"] = "2. Indique si el usuario se mantiene o se da de baja."
    sheet["A5"] = "3. Devuelva este archivo antes de la fecha límite."
    sheet.column_dimensions["A"].width = 80


def _application_sheet(
    workbook: Any, name: str, application: str, rows: Sequence[MetlifeRow], layout: str
) -> None:
    """One application's sheet: merged title, subtitle, header on row 4, the users."""
    sheet = workbook.create_sheet(name)
    headers = list(REALISTIC_HEADERS)
    if layout == "with_answer":
        headers.append(ANSWER_HEADER)
    last_letter = openpyxl.utils.get_column_letter(len(headers))
    sheet["A1"] = TITLE
    sheet["A1"].font = TITLE_FONT
    sheet["A1"].alignment = Alignment(horizontal="center")
    sheet.merge_cells(f"A1:{last_letter}1")
    sheet["A3"] = f"Promotoría Reforma · Aplicación: {application} · Fecha de corte: 31/01/2026"
    sheet["A3"].font = Font(italic=True)
    for column, title in enumerate(headers, start=1):
        cell = sheet.cell(row=HEADER_ROW, column=column, value=title)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(horizontal="center", wrap_text=True)
    for letter, width in REALISTIC_WIDTHS.items():
        if openpyxl.utils.column_index_from_string(letter) <= len(headers):
            sheet.column_dimensions[letter].width = width
    for position, user in enumerate(rows):
        hid_cell = sheet.cell(row=user.row, column=1, value=user.written)
        if isinstance(user.written, str):
            hid_cell.number_format = "@"
        sheet.cell(row=user.row, column=2, value=user.written_name)
        sheet.cell(row=user.row, column=3, value=PUESTOS[position % len(PUESTOS)])
        alta = sheet.cell(row=user.row, column=4, value=dt.date(2015 + position % 10, 1, 15))
        alta.number_format = "DD/MM/YYYY"
        acceso = sheet.cell(
            row=user.row, column=5, value=dt.date(2025, 1 + position % 12, 1 + position % 28)
        )
        acceso.number_format = "DD/MM/YYYY"
        sheet.cell(row=user.row, column=6, value=user.estatus)
        if user.hidden:
            sheet.row_dimensions[user.row].hidden = True
    sheet.freeze_panes = f"A{HEADER_ROW + 1}"
    if layout == "with_answer" and rows:
        validation = DataValidation(
            type="list", formula1='"' + ",".join(ANSWER_OPTIONS) + '"', allow_blank=True
        )
        validation.add(f"G{HEADER_ROW + 1}:G{rows[-1].row}")
        sheet.add_data_validation(validation)


def _single_sheet(workbook: Any, rows: Sequence[MetlifeRow]) -> None:
    """One sheet, header on row 1, the application of each user in its own column."""
    sheet = workbook.create_sheet("Usuarios")
    sheet.append(list(SINGLE_HEADERS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for index, user in enumerate(rows):
        spelling, _application = SINGLE_APP_SPELLINGS[index % len(SINGLE_APP_SPELLINGS)]
        sheet.append([user.written, user.written_name, spelling, user.estatus, None])
    sheet.column_dimensions["B"].width = 40


def metlife_hids(data: bytes) -> list[str]:
    """The HIDs of a built workbook as shown, read without bot code (calamine directly)."""
    hids: list[str] = []
    with CalamineWorkbook.from_filelike(io.BytesIO(data)) as workbook:
        for name in workbook.sheet_names:
            rows = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
            column: int | None = None
            for row in rows:
                if column is None:
                    column = next(
                        (
                            position
                            for position, value in enumerate(row)
                            if isinstance(value, str) and value.strip().lower() in HID_HEADERS
                        ),
                        None,
                    )
                    continue
                value = row[column] if column < len(row) else ""
                if isinstance(value, float) and value.is_integer():
                    hids.append(str(int(value)))
                elif isinstance(value, str) and value.strip():
                    hids.append(value.strip().lstrip("'").strip())
    return hids


def big_metlife_file(rows: int) -> bytes:
    """One streamed sheet of ``rows`` users: title, blank row, header on row 3, apps in a column."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Usuarios")
    sheet.append([TITLE])
    sheet.append([])
    sheet.append(["HID", "Nombre", "Aplicación", "Estatus"])
    applications = ("B'Life",) * 17 + ("Pro99", "Pro99", "Gestión Móvil")
    for index in range(rows):
        number = 1_000_000 + index * 7
        hid: object = number if index % 4 else f"{number:09d}"
        first = FIRST_NAMES[index % len(FIRST_NAMES)]
        paternal = SURNAMES[index % len(SURNAMES)]
        maternal = SURNAMES[(index // len(SURNAMES)) % len(SURNAMES)]
        sheet.append(
            [
                hid,
                f"{first} {paternal} {maternal}",
                applications[index % len(applications)],
                METLIFE_STATUSES[index % len(METLIFE_STATUSES)],
            ]
        )
    workbook.properties.created = FIXED_DATE
    buffer = io.BytesIO()
    workbook.save(buffer)
    return canonical_zip(buffer.getvalue())


def enriched_rows(users: Iterable[RecertUser], *, seed: int = 1) -> list[dict[str, Any]]:
    """Rows for write_enriched: CAM Pegasus mostly Activo, some Baja, a few unknown."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for user in users:
        draw = rng.random()
        if draw < 0.80:
            pegasus = "Activo"
            evidencia = f"Último acceso en CAM Pegasus: {rng.randint(1, 28):02d}/01/2026"
        elif draw < 0.95:
            pegasus = "Baja"
            evidencia = f"Baja en CAM Pegasus el {rng.randint(1, 28):02d}/11/2025"
        else:
            pegasus = "Sin información"
            evidencia = "No aparece en CAM Pegasus"
        rows.append(
            {
                "hid": user.hid,
                "nombre": user.nombre,
                "aplicacion": user.aplicacion,
                "estatus_metlife": user.estatus_metlife,
                "pegasus": pegasus,
                "evidencia": evidencia,
                "propuesta": "Activo" if pegasus == "Activo" else "Baja",
            }
        )
    return rows


def answer_file(enriched: bytes, decisions: Mapping[str, str]) -> bytes:
    """The enriched file with "Respuesta del área" filled for these HIDs, as an area would."""
    wanted = {hid_key(hid): decision for hid, decision in decisions.items()}
    workbook = openpyxl.load_workbook(io.BytesIO(enriched))
    sheet = workbook[ENRICHED_SHEET]
    header_row, columns = _header(sheet)
    for row in sheet.iter_rows(min_row=header_row + 1):
        decision = wanted.get(hid_key(row[columns["HID"]].value))
        if decision is not None:
            row[columns["Respuesta del área"]].value = decision
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _header(sheet: Any) -> tuple[int, dict[str, int]]:
    """The 1-based header row of an enriched sheet and each title's 0-based column."""
    for row in sheet.iter_rows(max_row=30):
        titles = {cell.value: position for position, cell in enumerate(row) if cell.value}
        if "HID" in titles and "Respuesta del área" in titles:
            return row[0].row, titles
    raise ValueError("no header row with HID and «Respuesta del área»")
