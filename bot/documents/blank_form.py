"""The blank MA-001 request form (templates/excel/solicitud_usuarios.xlsx), built with openpyxl.

Run ``python -m bot.documents.blank_form [config.toml] [output.xlsx]`` to rewrite it with the
zones of the configuration (by default the repository's config.toml and the template path).
The sheet is protected except the data cells, so people fill rows without breaking the
header; the lists come from data validations, never from formulas. The archive is written
with fixed timestamps so that rebuilding an unchanged form gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import zipfile
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

__all__ = [
    "DATA_ROWS",
    "HEADERS",
    "HEADER_ROW",
    "INSTRUCTIONS",
    "SHEET_TITLE",
    "TEMPLATE_PATH",
    "TITLE",
    "build_blank_form",
    "main",
    "write_blank_form",
]

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = Path("templates/excel/solicitud_usuarios.xlsx")
SHEET_TITLE = "Usuarios"
TITLE = "Solicitud de alta/baja de usuarios MetLife"
HEADER_ROW = 3
INSTRUCTIONS = (
    f"Capture un usuario por fila, a partir de la fila {HEADER_ROW + 1}. Nombre completo con "
    "apellidos; RFC de persona física con homoclave (13 caracteres); correo electrónico del "
    "usuario. Elija la Zona, el Paquete (1 o 2) y el Movimiento (Alta o Baja) de las listas. "
    "No modifique los encabezados."
)
DATA_ROWS = 200
# (header, column width, number format: "@" keeps typed text as text)
_COLUMNS = (
    ("Nombre completo", 38, "@"),
    ("RFC", 17, "@"),
    ("Correo electrónico", 34, "@"),
    ("Zona", 18, "General"),
    ("Paquete", 11, "General"),
    ("Promotoría", 30, "@"),
    ("Puesto", 24, "@"),
    ("Movimiento", 14, "General"),
)
HEADERS = tuple(header for header, _width, _format in _COLUMNS)
PACKAGES = ("1", "2")
MOVEMENTS = ("Alta", "Baja")
# Excel's limit on the text of an inline list validation.
_LIST_MAX = 255
_FIXED_TIME = dt.datetime(2026, 1, 1)
_FIXED_ZIP_TIME = (2026, 1, 1, 0, 0, 0)
_CORE_DATES = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def _inline_list(values: Sequence[str]) -> str:
    """A list validation's literal, refusing values Excel cannot hold in one."""
    if not values:
        raise ValueError("a list validation needs at least one value")
    for value in values:
        if not value.strip() or any(character in value for character in ',"'):
            raise ValueError(f"cannot offer {value!r} in a list: empty, or has a comma or quote")
    literal = '"' + ",".join(values) + '"'
    if len(literal) - 2 > _LIST_MAX:
        raise ValueError(f"the list {literal} is longer than Excel's {_LIST_MAX} characters")
    return literal


def build_blank_form(zones: Sequence[str]) -> bytes:
    """The blank form as .xlsx bytes, with these zone names in the Zona list."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    zone_list = _inline_list(zones)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET_TITLE
    last_column = get_column_letter(len(_COLUMNS))
    first_data, last_data = HEADER_ROW + 1, HEADER_ROW + DATA_ROWS

    sheet["A1"] = TITLE
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.merge_cells(f"A1:{last_column}1")
    sheet["A2"] = INSTRUCTIONS
    sheet["A2"].alignment = Alignment(wrap_text=True, vertical="top")
    sheet.merge_cells(f"A2:{last_column}2")
    sheet.row_dimensions[2].height = 48

    thin = Side(style="thin", color="808080")
    for index, (header, width, number_format) in enumerate(_COLUMNS, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = width
        cell = sheet.cell(row=HEADER_ROW, column=index, value=header)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", start_color="D9E1F2")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = Border(top=thin, bottom=thin, left=thin, right=thin)
        for row in range(first_data, last_data + 1):
            data_cell = sheet.cell(row=row, column=index)
            data_cell.protection = Protection(locked=False)
            data_cell.number_format = number_format

    validations = (
        ("D", zone_list, "Zona", "Zona no válida", "Elija una zona de la lista."),
        ("E", _inline_list(PACKAGES), "Paquete", "Paquete no válido", "Elija el paquete 1 o 2."),
        ("H", _inline_list(MOVEMENTS), "Movimiento", "Movimiento no válido", "Elija Alta o Baja."),
    )
    for letter, literal, title, error_title, message in validations:
        validation = DataValidation(
            type="list",
            formula1=literal,
            allow_blank=True,
            showErrorMessage=True,
            errorTitle=error_title,
            error=message,
            showInputMessage=True,
            promptTitle=title,
            prompt=message,
        )
        validation.add(f"{letter}{first_data}:{letter}{last_data}")
        sheet.add_data_validation(validation)

    sheet.freeze_panes = f"A{first_data}"
    protect_and_fit(sheet)

    workbook.properties.creator = "Mesa de Ayuda"
    workbook.properties.title = TITLE
    workbook.properties.created = _FIXED_TIME
    buffer = BytesIO()
    workbook.save(buffer)
    return _reproducible(buffer.getvalue())


def _reproducible(data: bytes) -> bytes:
    """The same archive with fixed entry times and document dates."""
    source = zipfile.ZipFile(BytesIO(data))
    output = BytesIO()
    with source, zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "docProps/core.xml":
                stamp = _FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
                content = _CORE_DATES.sub(rb"\g<1>" + stamp + rb"\g<2>", content)
            entry = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            target.writestr(entry, content)
    return output.getvalue()


def write_blank_form(path: Path, zones: Sequence[str]) -> None:
    """Write the blank form to ``path``, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(build_blank_form(zones))


def main(argv: Sequence[str] | None = None) -> int:
    """Rebuild the template from a configuration's zones; 2 when the configuration is bad."""
    from bot.config import ConfigError, load_config

    args = list(sys.argv[1:] if argv is None else argv)
    config_path = Path(args[0]) if args else ROOT / "config.toml"
    output = Path(args[1]) if len(args) > 1 else ROOT / TEMPLATE_PATH
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"{config_path}: {exc}", file=sys.stderr)
        return 2
    zones = [zone.name for zone in config.zones]
    try:
        write_blank_form(output, zones)
    except ValueError as exc:
        print(f"cannot build the form: {exc}", file=sys.stderr)
        return 2
    print(f"{output}: {len(zones)} zones")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def protect_and_fit(sheet: Worksheet) -> None:
    """Lock the layout against accidental edits and print one page wide, in landscape.

    No password, so nobody is ever locked out; resizing columns and rows stays allowed.
    """
    sheet.protection.sheet = True
    sheet.protection.formatColumns = False
    sheet.protection.formatRows = False
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
