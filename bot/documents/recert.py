"""MA-005 yearly MetLife user recertification: MetLife's Excel file read, checked and returned.

MetLife sends one workbook listing every user with an HID (MetLife employee number) of the
promotoría, per application. ``read_recert`` finds, in every visible sheet, the header row
(within the first rows, by recognisable names, titles above skipped) and reads each user:
HID, name, application (from its column, else the sheet name, else the file name) and the
status MetLife shows. Rows without HID and HIDs repeated within an application become Spanish
problem sentences; hidden sheets are reported, sheets without an HID column skipped.

``write_enriched`` builds the file Comercial and Operaciones validate (CAM Pegasus's status,
its evidence, the desk's proposal and a column to answer), streamed by openpyxl's write-only
mode so that 100,000 users take seconds. ``read_answers`` reads an area's reply by header
names wherever the columns went. ``write_final`` writes the final status into MetLife's own
workbook, loaded whole by openpyxl so that its formatting stays; ``final_statuses`` reads it
back. Every text from people or systems is written as a plain string, never as a formula.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from copy import copy
from dataclasses import dataclass
from io import BytesIO
from types import MappingProxyType
from typing import Any

from bot.config import fold_name
from bot.documents.agent_form import _cell_text, _write_text, _xlsx_text
from bot.documents.hid import APOSTROPHES, hid_key
from bot.documents.intake import _join_es, header_key
from bot.documents.xlsx import (
    Cell,
    Sheet,
    SpreadsheetError,
    UnreadableSpreadsheet,
    check_xlsx,
    read_rows,
)

__all__ = [
    "APPLICATIONS",
    "DECISIONS",
    "ENRICHED_HEADERS",
    "ENRICHED_SHEET",
    "FINAL_STATUSES",
    "INSTRUCTIONS_SHEET",
    "PEGASUS_STATUSES",
    "Answer",
    "AnswerSheet",
    "RecertFile",
    "RecertUser",
    "SheetLayout",
    "SpreadsheetError",
    "applications_in",
    "final_statuses",
    "hid_key",
    "read_answers",
    "read_recert",
    "write_enriched",
    "write_final",
]

APPLICATIONS = ("B'Life", "Pro99", "Consultador", "Gestión Móvil")
FINAL_STATUSES = ("Activo", "Baja")
DECISIONS = ("Activo", "Baja", "Reactivar", "Confirmar")
PEGASUS_STATUSES = ("Activo", "Baja", "Sin información")

HEADER_SCAN_ROWS = 30
HEADER_MAX_CHARS = 80  # no column title is longer; a longer cell is never folded and compared
HID_MAX = 30
# A file with a systematic fault would otherwise list one sentence per row, 100,000 of them.
PROBLEMS_MAX = 100
SHOWN_MAX = 60

ENRICHED_SHEET = "Validación"
INSTRUCTIONS_SHEET = "Instrucciones"
ENRICHED_HEADERS = (
    "Aplicación",
    "HID",
    "Nombre",
    "Estatus en archivo MetLife",
    "Estatus CAM Pegasus",
    "Evidencia CAM Pegasus",
    "Propuesta Mesa de Ayuda",
    "Respuesta del área",
    "Comentario",
)
# The keys of write_enriched's rows, in the order of ENRICHED_HEADERS' first seven columns.
_ENRICHED_KEYS = (
    "aplicacion",
    "hid",
    "nombre",
    "estatus_metlife",
    "pegasus",
    "evidencia",
    "propuesta",
)
_ENRICHED_WIDTHS = (16, 14, 38, 16, 16, 50, 18, 20, 44)
_ANSWER_COLUMN = ENRICHED_HEADERS.index("Respuesta del área") + 1
_HEADER_FILL = "D9E1F2"
_INPUT_FILL = "FFF2CC"

# --- applications ---------------------------------------------------------------------------

# Patterns on fold_name's output: lower case, no accents, punctuation turned into spaces.
_APPLICATION_PATTERNS = (
    ("B'Life", r"b ?life|be ?life"),
    ("Pro99", r"pro ?99"),
    ("Consultador", r"consultador"),
    ("Gestión Móvil", r"gestion ?movil"),
)
_APPLICATION = re.compile(
    "|".join(
        rf"(?P<a{index}>\b(?:{pattern})\b)"
        for index, (_name, pattern) in enumerate(_APPLICATION_PATTERNS)
    )
)


def applications_in(text: str) -> tuple[str, ...]:
    """Applications named in a subject, body, file or sheet name, in APPLICATIONS order."""
    found = {match.lastgroup for match in _APPLICATION.finditer(fold_name(text))}
    return tuple(
        name for index, (name, _pattern) in enumerate(_APPLICATION_PATTERNS) if f"a{index}" in found
    )


# An application column repeats a handful of spellings over thousands of rows.
_cached_applications = functools.lru_cache(maxsize=1024)(applications_in)


def _single_application(text: str) -> str:
    """The one application a sheet or file name names, or "" for none or several."""
    found = applications_in(text)
    return found[0] if len(found) == 1 else ""


# --- HIDs -----------------------------------------------------------------------------------

_HID_SHAPE = re.compile(r"[A-Z0-9][A-Z0-9._-]*")


def _hid_shown(value: Cell) -> str:
    """An HID as the file shows it: numbers without ".0", text trimmed, leading zeros kept."""
    if isinstance(value, str):
        return value.strip().lstrip(APOSTROPHES).strip()
    return _cell_text(value)


def _valid_hid(key: str) -> bool:
    """True for what can be an employee number: letters, digits, a few separators, a digit."""
    return (
        0 < len(key) <= HID_MAX
        and _HID_SHAPE.fullmatch(key) is not None
        and any(character.isdigit() for character in key)
    )


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecertUser:
    """One user row of MetLife's file."""

    hid: str  # as shown in the file (text; a number without ".0"; leading zeros kept)
    nombre: str  # whitespace collapsed, accents kept
    aplicacion: str  # canonical application ("" when unknown)
    hoja: str  # sheet name
    fila: int  # 1-based Excel row number
    estatus_metlife: str = ""  # the status MetLife's file shows, if it has such a column

    def as_dict(self) -> dict[str, Any]:
        """The user as JSON-able data, with its matching key as "clave"."""
        return {
            "hid": self.hid,
            "clave": hid_key(self.hid),
            "nombre": self.nombre,
            "aplicacion": self.aplicacion,
            "hoja": self.hoja,
            "fila": self.fila,
            "estatus_metlife": self.estatus_metlife,
        }


@dataclass(frozen=True)
class SheetLayout:
    """Where a sheet's users are: header row, known columns, data rows (all 1-based)."""

    name: str
    header_row: int
    # "hid", "nombre", optional "apellido_paterno", "apellido_materno", "aplicacion",
    # "estatus_metlife" and "respuesta" (the column MetLife wants filled, if it exists).
    columns: Mapping[str, int]
    last_column: int  # last non-empty header column
    first_row: int
    last_row: int  # last row with data under the header; header_row when there is none


@dataclass(frozen=True)
class RecertFile:
    """MetLife's file read: its users, where they were, and what the desk should know."""

    users: tuple[RecertUser, ...]
    sheets: tuple[SheetLayout, ...]
    applications: tuple[str, ...]
    problems: tuple[str, ...]  # Spanish sentences

    @property
    def ok(self) -> bool:
        """True when at least one user was read."""
        return bool(self.users)


@dataclass(frozen=True)
class Answer:
    """An area's answer about one user."""

    decision: str  # one of DECISIONS, or "" when blank
    comentario: str
    fila: int


@dataclass(frozen=True)
class AnswerSheet:
    """An area's reply file: answers and CAM Pegasus statuses by HID key, and problems."""

    answers: Mapping[str, Answer]
    pegasus: Mapping[str, str]
    problems: tuple[str, ...]  # Spanish sentences

    @property
    def found(self) -> bool:
        """True when any answer or CAM Pegasus status was read."""
        return bool(self.answers) or bool(self.pegasus)


# --- headers --------------------------------------------------------------------------------


def _hid_names() -> list[str]:
    """Every usual way of titling the employee-number column."""
    names = [
        "hid",
        "id hid",
        "hid metlife",
        "numero hid",
        "num hid",
        "no hid",
        "clave hid",
        "hid del usuario",
        "hid usuario",
        "usuario hid",
        "employee id",
        "employee number",
    ]
    for prefix in ("no", "num", "numero", "nro", "n", "id", "clave"):
        for joiner in (" ", " de ", " del "):
            for suffix in ("", " metlife", " hid"):
                names.append(f"{prefix}{joiner}empleado{suffix}")
    return names


_RECERT_HEADERS: dict[str, tuple[str, ...]] = {
    "hid": tuple(_hid_names()),
    "nombre": (
        "nombre",
        "nombres",
        "nombre completo",
        "nombre del usuario",
        "nombre usuario",
        "nombre completo del usuario",
        "nombre del empleado",
        "nombre empleado",
        "nombre y apellidos",
        "nombre del colaborador",
        "name",
        "full name",
    ),
    "apellido_paterno": (
        "apellido paterno",
        "primer apellido",
        "ap paterno",
        "paterno",
        "apellidos",
    ),
    "apellido_materno": ("apellido materno", "segundo apellido", "ap materno", "materno"),
    "aplicacion": (
        "aplicacion",
        "aplicativo",
        "sistema",
        "aplicaciones",
        "aplicativos",
        "app",
        "plataforma",
        "herramienta",
        "application",
    ),
    "estatus_metlife": (
        "estatus",
        "status",
        "estatus actual",
        "status actual",
        "estado",
        "estatus del usuario",
        "estatus usuario",
        "estatus metlife",
        "estatus en metlife",
        "situacion",
    ),
    "respuesta": (
        "estatus final",
        "status final",
        "recertificacion",
        "mantener baja",
        "mantener o baja",
        "accion",
        "accion a realizar",
        "respuesta",
        "respuesta promotoria",
        "resultado",
        "recertificar",
        "decision",
        "activo baja",
        "estatus recertificacion",
        "resultado recertificacion",
    ),
}
_ANSWER_HEADERS: dict[str, tuple[str, ...]] = {
    "hid": _RECERT_HEADERS["hid"],
    "decision": (
        "respuesta del area",
        "respuesta",
        "respuesta area",
        "decision",
        "decision del area",
        "validacion",
    ),
    "comentario": (
        "comentario",
        "comentarios",
        "comentario del area",
        "observaciones",
        "observacion",
        "notas",
        "nota",
    ),
    "pegasus": (
        "estatus cam pegasus",
        "estatus en cam pegasus",
        "estatus pegasus",
        "cam pegasus",
        "pegasus",
    ),
}


def _keyed(headers: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """header_key of each name -> the column key it names."""
    return {header_key(name): key for key, names in headers.items() for name in names}


_RECERT_KEYS = _keyed(_RECERT_HEADERS)
_ANSWER_KEYS = _keyed(_ANSWER_HEADERS)


@dataclass(frozen=True)
class _Header:
    """A header row (0-based), its known columns (0-based) and last filled column (1-based)."""

    index: int
    columns: dict[str, int]
    last_column: int


def _find_header(
    rows: Sequence[Sequence[Cell]],
    names: Mapping[str, str],
    accept: Callable[[Collection[str]], bool],
) -> _Header | None:
    """The first row among the first HEADER_SCAN_ROWS whose known columns ``accept`` takes."""
    for index, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        found: dict[str, int] = {}
        last = 0
        for position, value in enumerate(row):
            if value is None:
                continue
            last = position + 1
            if not isinstance(value, str) or len(value) > HEADER_MAX_CHARS:
                continue
            key = names.get(header_key(value))
            if key is not None and key not in found:
                found[key] = position
        if accept(found.keys()):
            return _Header(index, found, last)
    return None


def _users_table(keys: Collection[str]) -> bool:
    """An HID column and at least one other known column: a title "HID" alone is not a table."""
    return "hid" in keys and len(keys) >= 2


def _answers_table(keys: Collection[str]) -> bool:
    """An HID column and an answer or CAM Pegasus column."""
    return "hid" in keys and ("decision" in keys or "pegasus" in keys)


def _at(row: Sequence[Cell], position: int | None) -> Cell:
    """The cell at a 0-based position, None beyond the row or without a column."""
    if position is None or position >= len(row):
        return None
    return row[position]


def _text(value: Cell) -> str:
    """A cell as one line of text, whitespace collapsed."""
    if value is None:
        return ""
    # Most cells are text: straight to the collapse, without _cell_text's type checks.
    return " ".join((value if isinstance(value, str) else _cell_text(value)).split())


def _shown(text: str) -> str:
    """A value quoted in a problem sentence: one line, a few dozen characters at most."""
    line = " ".join(text.split())
    return line if len(line) <= SHOWN_MAX else line[: SHOWN_MAX - 1] + "…"


class _Problems:
    """Problem sentences, at most PROBLEMS_MAX of them and a count of the rest."""

    def __init__(self) -> None:
        """Start with none."""
        self.sentences: list[str] = []
        self.more = 0

    def add(self, sentence: str) -> None:
        """Keep the sentence, or count it once the list is full."""
        if len(self.sentences) < PROBLEMS_MAX:
            self.sentences.append(sentence)
        else:
            self.more += 1

    def result(self) -> tuple[str, ...]:
        """The sentences, and one more line for those left out."""
        if not self.more:
            return tuple(self.sentences)
        more = "una observación más" if self.more == 1 else f"{self.more} observaciones más"
        return (*self.sentences, f"… y {more} del mismo tipo o de otras filas.")


# --- reading MetLife's file -----------------------------------------------------------------


def read_recert(data: bytes, filename: str = "") -> RecertFile:
    """Read MetLife's recertification file of any realistic shape; SpreadsheetError if unusable."""
    return parse_recert(read_rows(data), filename)


def parse_recert(sheets: Sequence[Sheet], filename: str = "") -> RecertFile:
    """Every visible sheet with an HID column, read; the others skipped or reported."""
    problems = _Problems()
    users: list[RecertUser] = []
    layouts: list[SheetLayout] = []
    seen: dict[tuple[str, str], tuple[str, int]] = {}
    file_application = _single_application(filename)
    for sheet in sheets:
        header = _find_header(sheet.rows, _RECERT_KEYS, _users_table)
        if sheet.hidden:
            note = " (parece tener usuarios)" if header is not None else ""
            problems.add(f"Hoja «{sheet.name}»: está oculta y no se revisó{note}.")
            continue
        if header is None:
            continue  # a summary or instructions sheet
        reader = _SheetReader(sheet, header, file_application, seen, problems)
        found = reader.read()
        users.extend(found)
        layout = reader.layout()
        layouts.append(layout)
        if layout.last_row == layout.header_row:
            problems.add(f"Hoja «{sheet.name}»: tiene encabezados pero ningún usuario.")
    if not layouts:
        problems.add(_no_table_sentence(sheets))
    used = {user.aplicacion for user in users}
    return RecertFile(
        users=tuple(users),
        sheets=tuple(layouts),
        applications=tuple(name for name in APPLICATIONS if name in used),
        problems=problems.result(),
    )


def _no_table_sentence(sheets: Sequence[Sheet]) -> str:
    """Why no user was read: the headers expected, and the sheets looked at."""
    names = _join_es([f"«{sheet.name}»" for sheet in sheets if not sheet.hidden])
    where = f" Hojas revisadas: {names}." if names else " El archivo no tiene hojas visibles."
    return (
        "Ninguna hoja del archivo tiene una columna de HID: esperábamos, en las primeras "
        f"{HEADER_SCAN_ROWS} filas, una fila de encabezados con «HID» (o «No. Empleado», "
        "«Número de empleado», «ID HID») y «Nombre» (o «Nombre completo», «Nombre del "
        f"usuario»).{where}"
    )


class _SheetReader:
    """The users of one sheet under its header row."""

    def __init__(
        self,
        sheet: Sheet,
        header: _Header,
        file_application: str,
        seen: dict[tuple[str, str], tuple[str, int]],
        problems: _Problems,
    ) -> None:
        """Read ``sheet`` under ``header``; ``seen`` holds HIDs per application across sheets."""
        self.sheet = sheet
        self.header = header
        self.default_application = _single_application(sheet.name) or file_application
        self.seen = seen
        self.problems = problems
        self.last_row = header.index + 1

    def layout(self) -> SheetLayout:
        """Where this sheet's users are, in Excel's 1-based numbers."""
        header_row = self.header.index + 1
        return SheetLayout(
            name=self.sheet.name,
            header_row=header_row,
            columns=MappingProxyType(
                {key: position + 1 for key, position in self.header.columns.items()}
            ),
            last_column=self.header.last_column,
            first_row=header_row + 1,
            last_row=self.last_row,
        )

    def read(self) -> list[RecertUser]:
        """Every user row; rows without a usable HID and repeated HIDs become problems."""
        columns = self.header.columns
        hid_at = columns["hid"]
        name_at = [
            columns[key]
            for key in ("nombre", "apellido_paterno", "apellido_materno")
            if key in columns
        ]
        application_at = columns.get("aplicacion")
        status_at = columns.get("estatus_metlife")
        watched = [position for key, position in columns.items() if key != "respuesta"]
        users: list[RecertUser] = []
        name = self.sheet.name
        rows = self.sheet.rows
        for index in range(self.header.index + 1, len(rows)):
            row = rows[index]
            if all(_at(row, position) is None for position in watched):
                continue  # a blank row, or a note outside the table
            number = index + 1
            self.last_row = number
            parts = [_text(_at(row, position)) for position in name_at]
            nombre = parts[0] if len(parts) == 1 else " ".join(part for part in parts if part)
            raw_hid = _at(row, hid_at)
            hid = _hid_shown(raw_hid) if raw_hid is not None else ""
            key = hid_key(hid)
            if not key:
                detail = f" (nombre «{_shown(nombre)}»)" if nombre else ""
                self.problems.add(f"Hoja «{name}», fila {number}: sin HID; no se incluyó{detail}.")
                continue
            if not _valid_hid(key):
                self.problems.add(
                    f"Hoja «{name}», fila {number}: «{_shown(hid)}» no parece un HID; "
                    "no se incluyó."
                )
                continue
            application = ""
            if application_at is not None:
                named = _cached_applications(_text(_at(row, application_at)))
                application = named[0] if named else ""
            application = application or self.default_application
            first = self.seen.setdefault((application, key), (name, number))
            if first != (name, number):
                self._repeated(hid, application, number, first)
                continue
            users.append(
                RecertUser(
                    hid=hid,
                    nombre=nombre,
                    aplicacion=application,
                    hoja=name,
                    fila=number,
                    estatus_metlife=_text(_at(row, status_at)),
                )
            )
        return users

    def _repeated(self, hid: str, application: str, number: int, first: tuple[str, int]) -> None:
        """The problem sentence of an HID already listed for the same application."""
        where = (
            f"fila {first[1]}"
            if first[0] == self.sheet.name
            else f"hoja «{first[0]}», fila {first[1]}"
        )
        in_application = f" en {application}" if application else ""
        self.problems.add(
            f"Hoja «{self.sheet.name}», fila {number}: el HID {_shown(hid)} está repetido"
            f"{in_application} (ya aparece en la {where}); se tomó la primera."
        )


# --- decision words -------------------------------------------------------------------------

# Folded (fold_name) words and phrases people write for each decision.
_DECISION_WORDS: dict[str, tuple[str, ...]] = {
    "Activo": (
        "activo",
        "activa",
        "mantener",
        "mantener activo",
        "mantenerlo",
        "vigente",
        "sigue activo",
        "sigue activa",
        "ok activo",
        "dejar activo",
        "recertificar",
        "recertificado",
    ),
    "Baja": (
        "baja",
        "dar de baja",
        "dar baja",
        "dado de baja",
        "de baja",
        "eliminar",
        "inactivo",
        "inactiva",
    ),
    "Reactivar": ("reactivar", "reactivacion", "reactivarlo", "reactivar usuario"),
    "Confirmar": (
        "confirmar",
        "confirmo",
        "confirmado",
        "de acuerdo",
        "ok",
        "si",
        "correcto",
        "conforme",
        "si de acuerdo",
    ),
}
_WORD_DECISIONS = {word: decision for decision, words in _DECISION_WORDS.items() for word in words}
# Only these count as a second, conflicting decision after the first words of an answer.
_STRONG = {
    decision: re.compile(
        r"\b(?:" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")\b"
    )
    for decision, words in _DECISION_WORDS.items()
    if decision != "Confirmar"
}
_HEAD = re.compile(r"\s*([^,;:()/.\-–—]+)[,;:()/.\-–—](.*)", re.DOTALL)


def _decision(text: str) -> str | None:
    """The decision a cell's text names, "" when blank, None when it names none clearly.

    "Baja - ya no labora" is Baja; "Sí, baja" or "Activo (no dar de baja)" name two different
    decisions and are not guessed.
    """
    folded = fold_name(text)
    if not folded:
        return ""
    decision = _WORD_DECISIONS.get(folded)
    if decision is not None:
        return decision
    head = _HEAD.match(text)
    if head is None:
        return None
    decision = _WORD_DECISIONS.get(fold_name(head[1]))
    if decision is None:
        return None
    tail = fold_name(head[2])
    for other, pattern in _STRONG.items():
        if other != decision and pattern.search(tail):
            return None
    return decision


_PEGASUS_WORDS = {
    "activo": "Activo",
    "activa": "Activo",
    "baja": "Baja",
    "inactivo": "Baja",
    "inactiva": "Baja",
    "dado de baja": "Baja",
    "sin informacion": "Sin información",
    "sin info": "Sin información",
    "no encontrado": "Sin información",
}


def _pegasus_status(text: str) -> str:
    """A CAM Pegasus status in its canonical spelling when recognised, else as written."""
    return _PEGASUS_WORDS.get(fold_name(text), text)


# --- the file for the areas -----------------------------------------------------------------


def write_enriched(
    rows: Sequence[Mapping[str, Any]], *, case_ref: str, respond_by: str, deadline: str
) -> bytes:
    """The file for Comercial and Operaciones: CAM Pegasus's status, evidence, proposal, answers."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook(write_only=True)
    sheet: Any = workbook.create_sheet(ENRICHED_SHEET)
    # Widths, frozen panes, the filter and validations are written around the streamed rows,
    # so all of them are set before the first row.
    for column, width in enumerate(_ENRICHED_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    # The answer columns' colour comes from the column, not from 200,000 styled cells.
    input_fill = PatternFill("solid", start_color=_INPUT_FILL)
    for column in (_ANSWER_COLUMN, _ANSWER_COLUMN + 1):
        sheet.column_dimensions[get_column_letter(column)].fill = input_fill
    sheet.freeze_panes = "A2"
    last_row = len(rows) + 1
    last_letter = get_column_letter(len(ENRICHED_HEADERS))
    sheet.auto_filter.ref = f"A1:{last_letter}{last_row}"
    sheet.row_dimensions[1].height = 30
    # WriteOnlyWorksheet has no add_data_validation; that method only appends to this list,
    # which the writer serialises after the rows as for a normal worksheet.
    validation = DataValidation(
        type="list",
        formula1='"' + ",".join(DECISIONS) + '"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="Respuesta no válida",
        error="Elige Activo, Baja, Reactivar o Confirmar, o deja la celda en blanco.",
        showInputMessage=True,
        promptTitle="Respuesta del área",
        prompt=(
            "Confirmar: de acuerdo con la propuesta. Activo, Baja o Reactivar: tu decisión. "
            "En blanco: de acuerdo con la propuesta."
        ),
    )
    answer_letter = get_column_letter(_ANSWER_COLUMN)
    validation.add(f"{answer_letter}2:{answer_letter}{max(last_row, 2)}")
    sheet.data_validations.append(validation)

    header_font = Font(bold=True)
    header_fill = PatternFill("solid", start_color=_HEADER_FILL)
    header_alignment = Alignment(wrap_text=True, vertical="center")
    header_cells = []
    for title in ENRICHED_HEADERS:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = header_font
        cell.fill = header_fill
        cell.alignment = header_alignment
        header_cells.append(cell)
    sheet.append(header_cells)
    plain = _PlainText(sheet)
    for item in rows:
        sheet.append([plain(_value_text(item.get(key))) for key in _ENRICHED_KEYS])

    _write_instructions(
        workbook.create_sheet(INSTRUCTIONS_SHEET),
        rows,
        case_ref=case_ref,
        respond_by=respond_by,
        deadline=deadline,
    )
    workbook.properties.creator = "Mesa de Ayuda"
    workbook.properties.title = "Recertificación anual de usuarios MetLife: validación"
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _value_text(value: object) -> str:
    """A row value as text: nothing for None, integral numbers without ".0"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return str(value)


# Excel reads a typed text starting with these as a formula; openpyxl stores "=..." as one and
# "#N/A" and the like as error values.
_FORMULA_START = ("=", "+", "-", "@")
# Below agent_form's cap on a cell's text, a printable text without "_x" is one _xlsx_text
# returns unchanged (printable excludes control characters, surrogates and non-characters):
# the check is a fraction of the cost of its two substitutions, paid on 700,000 cells.
_UNCHANGED_MAX = 255


class _PlainText:
    """Streamed cell values that are plain strings, never formulas or error values."""

    def __init__(self, sheet: Any) -> None:
        """Values for ``sheet``, a write-only worksheet; openpyxl is imported once."""
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ERROR_CODES

        self.sheet = sheet
        self.cell_class = WriteOnlyCell
        self.error_codes = frozenset(ERROR_CODES)

    def __call__(self, text: str) -> Any:
        """The text itself (openpyxl stores any other str as a string), or a forced-string cell."""
        if len(text) <= _UNCHANGED_MAX and "_x" not in text and text.isprintable():
            value = text
        else:
            value = _xlsx_text(text)
        if not value:
            return None
        if not value.startswith(_FORMULA_START) and value not in self.error_codes:
            return value
        cell = self.cell_class(self.sheet, value=value)
        # As in agent_form._write_text: the type forced back to string, and the quote prefix
        # keeps Excel from re-reading the text as a formula when someone edits the cell.
        cell.data_type = "s"
        cell.quotePrefix = True
        return cell


def _write_instructions(
    sheet: Any,
    rows: Sequence[Mapping[str, Any]],
    *,
    case_ref: str,
    respond_by: str,
    deadline: str,
) -> None:
    """The "Instrucciones" sheet: the case, the dates, the three questions, how to answer."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font

    sheet.column_dimensions["A"].width = 30
    sheet.column_dimensions["B"].width = 100
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    plain = _PlainText(sheet)
    proposed_bajas = sum(1 for item in rows if _value_text(item.get("propuesta")) == "Baja")

    def line(label: str = "", text: str = "", *, title: bool = False) -> None:
        """One row: a bold label in A, a wrapped text in B (every text a plain string)."""
        cells: list[Any] = []
        for value, font in ((label, Font(bold=True, size=14) if title else bold), (text, None)):
            content = plain(value)
            if content is None:
                cells.append(None)
                continue
            cell = content if not isinstance(content, str) else WriteOnlyCell(sheet, content)
            if font is not None:
                cell.font = font
            cell.alignment = wrap
            cells.append(cell)
        sheet.append(cells)

    line("Recertificación anual de usuarios MetLife", title=True)
    line()
    line("Caso", case_ref)
    line("Responder a más tardar", respond_by)
    line("Fecha límite de MetLife", deadline)
    line("Usuarios a validar", f"{len(rows)} (bajas propuestas: {proposed_bajas})")
    line()
    line(
        "Qué te pedimos",
        "Revisa la hoja «Validación», donde cada usuario muestra su estatus en el archivo de "
        "MetLife, su estatus en CAM Pegasus con la evidencia, y la propuesta de la Mesa de Ayuda.",
    )
    line("1.", "Confirma las bajas propuestas (usuarios con propuesta «Baja»).")
    line("2.", "Reporta los usuarios que siguen activos pero aparecen marcados como baja.")
    line("3.", "Notifica las reactivaciones necesarias de usuarios dados de baja.")
    line()
    line(
        "Cómo responder",
        "Llena la columna «Respuesta del área» con una de estas opciones y responde el correo "
        "con este archivo adjunto:",
    )
    line("Confirmar", "De acuerdo con la propuesta de la Mesa de Ayuda.")
    line("Activo", "El usuario debe seguir activo.")
    line("Baja", "El usuario debe darse de baja.")
    line("Reactivar", "El usuario está dado de baja y debe reactivarse.")
    line(
        "Comentario",
        "Usa la columna «Comentario» para cualquier aclaración sobre el usuario.",
    )
    line(
        "Sin archivo",
        "También puedes responder el correo indicando el HID y la decisión de cada usuario "
        "(por ejemplo: «123456 Baja»).",
    )
    line(
        "Importante",
        "Una respuesta en blanco se toma como conformidad con la propuesta de la Mesa de Ayuda.",
    )


# --- reading an area's answers --------------------------------------------------------------


def read_answers(data: bytes) -> AnswerSheet:
    """An area's reply (the enriched file back, rearranged or not), read by header names."""
    return parse_answers(read_rows(data))


def parse_answers(sheets: Sequence[Sheet]) -> AnswerSheet:
    """An area's reply from sheets already read (and checked) by read_rows."""
    # Visible sheets first: a hidden copy is read only for HIDs the visible ones lack.
    ordered = [sheet for sheet in sheets if not sheet.hidden] + [s for s in sheets if s.hidden]
    answers: dict[str, Answer] = {}
    pegasus: dict[str, str] = {}
    problems = _Problems()
    for sheet in ordered:
        header = _find_header(sheet.rows, _ANSWER_KEYS, _answers_table)
        if header is not None:
            _read_answer_rows(sheet, header, answers, pegasus, problems)
    return AnswerSheet(
        answers=MappingProxyType(answers),
        pegasus=MappingProxyType(pegasus),
        problems=problems.result(),
    )


def _read_answer_rows(
    sheet: Sheet,
    header: _Header,
    answers: dict[str, Answer],
    pegasus: dict[str, str],
    problems: _Problems,
) -> None:
    """The answers and CAM Pegasus statuses of one sheet's rows; the first per HID wins."""
    columns = header.columns
    hid_at = columns["hid"]
    decision_at = columns.get("decision")
    comment_at = columns.get("comentario")
    pegasus_at = columns.get("pegasus")
    options = ", ".join(DECISIONS[:-1]) + f" o {DECISIONS[-1]}"
    for index in range(header.index + 1, len(sheet.rows)):
        row = sheet.rows[index]
        number = index + 1
        where = f"Hoja «{sheet.name}», fila {number}"
        answer_text = _text(_at(row, decision_at))
        comment = _text(_at(row, comment_at))
        status = _text(_at(row, pegasus_at))
        raw_hid = _at(row, hid_at)
        key = hid_key(_hid_shown(raw_hid)) if raw_hid is not None else ""
        if not key:
            if answer_text or comment:
                problems.add(f"{where}: tiene respuesta pero no HID; no se tomó en cuenta.")
            continue
        if status:
            pegasus.setdefault(key, _pegasus_status(status))
        if not answer_text and not comment:
            continue
        decision = _decision(answer_text)
        if decision is None:
            problems.add(
                f"{where} (HID {_shown(_hid_shown(raw_hid))}): «{_shown(answer_text)}» no es "
                f"una respuesta válida; usa {options}."
            )
            decision = ""
            if not comment:
                continue
        earlier = answers.get(key)
        if earlier is None:
            answers[key] = Answer(decision=decision, comentario=comment, fila=number)
        elif decision and earlier.decision and decision != earlier.decision:
            problems.add(
                f"{where} (HID {_shown(_hid_shown(raw_hid))}): la respuesta «{decision}» no "
                f"coincide con «{earlier.decision}» de la fila {earlier.fila}; se tomó la "
                "primera."
            )


# --- the final file for MetLife -------------------------------------------------------------


def write_final(
    original: bytes,
    statuses: Mapping[tuple[str, int], str],
    sheets: Sequence[SheetLayout],
    *,
    header: str = "Estatus final",
) -> bytes:
    """MetLife's own file with each user's final status in its answer column, formatting kept."""
    layouts = {layout.name: layout for layout in sheets}
    by_sheet: dict[str, dict[int, str]] = {}
    for (sheet_name, row), status in statuses.items():
        if status not in FINAL_STATUSES:
            raise ValueError(f"final status must be one of {FINAL_STATUSES}, not {status!r}")
        if sheet_name not in layouts:
            raise ValueError(f"no layout for sheet {sheet_name!r}")
        by_sheet.setdefault(sheet_name, {})[row] = status
    # read_rows ran these checks at intake; the bytes may have come back from storage since.
    check_xlsx(original)
    workbook = _load_workbook(original)
    try:
        for name, rows in by_sheet.items():
            layout = layouts[name]
            if name not in workbook.sheetnames:
                raise UnreadableSpreadsheet(
                    f"El archivo no tiene la hoja «{name}» donde estaban los usuarios."
                )
            _write_statuses(workbook[name], layout, rows, header)
        buffer = BytesIO()
        workbook.save(buffer)
    finally:
        workbook.close()
    return buffer.getvalue()


def _load_workbook(data: bytes) -> Any:
    """The whole workbook in openpyxl, formulas kept as formulas, no macros, no external links."""
    from openpyxl import load_workbook

    try:
        return load_workbook(BytesIO(data), keep_vba=False, keep_links=False, rich_text=True)
    # openpyxl raises whatever its parsers meet (KeyError, TypeError, zip and XML errors) on a
    # file calamine read; all of them mean the same to the requester.
    except Exception as exc:
        raise UnreadableSpreadsheet(
            "No pudimos abrir el archivo de MetLife para escribir el estatus final. Por favor "
            "ábrelo en Excel, guárdalo como «Libro de Excel (*.xlsx)» y vuelve a cargarlo.",
            kind="unreadable",
        ) from exc


def _write_statuses(sheet: Any, layout: SheetLayout, rows: Mapping[int, str], header: str) -> None:
    """Each row's status in the answer column, appended (header styled as its neighbour) if none."""
    column = layout.columns.get("respuesta")
    appended = column is None
    if column is None:
        column = _append_column(sheet, layout, header)
    words = _option_words(sheet, column, min(rows))
    for row, status in sorted(rows.items()):
        cell = _write_text(sheet, row, column, words.get(status, status))
        if appended:
            # A new column looks like the table: the neighbour's font, borders and alignment,
            # not its fill, which may colour a status.
            neighbour = sheet.cell(row=row, column=column - 1)
            if neighbour.has_style:
                cell.font = copy(neighbour.font)
                cell.border = copy(neighbour.border)
                cell.alignment = copy(neighbour.alignment)


def _append_column(sheet: Any, layout: SheetLayout, header: str) -> int:
    """A new column after the last header for the final status: header written, width set."""
    from openpyxl.utils import get_column_letter, range_boundaries

    header_row = layout.header_row
    column = layout.last_column + 1
    # A column without a header may still hold notes under it; the status goes past them.
    while any(
        value is not None
        for (value,) in sheet.iter_rows(
            min_row=header_row,
            max_row=max(layout.last_row, header_row),
            min_col=column,
            max_col=column,
            values_only=True,
        )
    ):
        column += 1
    cell = _write_text(sheet, header_row, column, header)
    neighbour = sheet.cell(row=header_row, column=layout.last_column)
    if neighbour.has_style:
        cell.font = copy(neighbour.font)
        cell.fill = copy(neighbour.fill)
        cell.border = copy(neighbour.border)
        cell.alignment = copy(neighbour.alignment)
        cell.protection = copy(neighbour.protection)
    # A <col> range already covering the new column keeps it; a second one would overlap it,
    # and Excel repairs a file with overlapping column ranges.
    if _column_dimension(sheet, column) is None:
        source = _column_dimension(sheet, layout.last_column)
        width = source.width if source is not None and source.width else 0
        sheet.column_dimensions[get_column_letter(column)].width = max(
            width or 0, len(header) + 4, 14
        )
    # A filter over the table grows by the new column so that people can filter by status.
    if sheet.auto_filter.ref:
        min_col, min_row, max_col, max_row = range_boundaries(sheet.auto_filter.ref)
        if min_row == header_row and max_col == column - 1:
            sheet.auto_filter.ref = (
                f"{get_column_letter(min_col)}{min_row}:{get_column_letter(column)}{max_row}"
            )
    return column


def _column_dimension(sheet: Any, column: int) -> Any:
    """The column dimension (a <col> range) covering a 1-based column, or None."""
    for dimension in sheet.column_dimensions.values():
        if dimension.min is not None and dimension.min <= column <= (dimension.max or 0):
            return dimension
    return None


def _option_words(sheet: Any, column: int, row: int) -> dict[str, str]:
    """MetLife's own words for Activo and Baja when the answer column has a list of options.

    A column titled "Mantener / Baja" with a list "Mantener,Baja" must get "Mantener", not
    "Activo"; without such a list the canonical words are written.
    """
    from openpyxl.utils import get_column_letter

    coordinate = f"{get_column_letter(column)}{row}"
    for validation in sheet.data_validations.dataValidation:
        formula = validation.formula1 or ""
        if validation.type != "list" or not formula.startswith('"') or not formula.endswith('"'):
            continue
        if coordinate not in validation.sqref:
            continue
        words: dict[str, str] = {}
        for option in formula.strip('"').split(","):
            decision = _decision(option)
            if decision in FINAL_STATUSES and option.strip():
                words.setdefault(decision, option.strip())
        if len(words) == len(FINAL_STATUSES):
            return words
    return {}


def final_statuses(data: bytes, sheets: Sequence[SheetLayout]) -> dict[str, str]:
    """A final file read back with calamine: hid_key -> final status of each user row."""
    by_name = {sheet.name: sheet for sheet in read_rows(data)}
    result: dict[str, str] = {}
    for layout in sheets:
        sheet = by_name.get(layout.name)
        if sheet is None:
            continue
        column = _final_column(sheet, layout)
        if column is None:
            continue
        hid_at = layout.columns["hid"] - 1
        for row in _rows(sheet, layout.first_row, layout.last_row):
            raw_hid = _at(row, hid_at)
            key = hid_key(_hid_shown(raw_hid)) if raw_hid is not None else ""
            if not _valid_hid(key):
                continue
            text = _text(_at(row, column))
            decision = _decision(text) if text else ""
            status = decision if decision in FINAL_STATUSES else text
            # The same HID in several applications: a status found later fills a blank one.
            if not result.get(key):
                result[key] = status or ""
    return result


def _rows(sheet: Sheet, first: int, last: int) -> Iterator[Sequence[Cell]]:
    """The sheet's rows ``first`` to ``last`` (1-based, inclusive) that exist."""
    yield from sheet.rows[first - 1 : last]


def _final_column(sheet: Sheet, layout: SheetLayout) -> int | None:
    """The 0-based column holding final statuses: the answer column, else the appended one."""
    answer = layout.columns.get("respuesta")
    if answer is not None:
        return answer - 1
    if layout.header_row > len(sheet.rows):
        return None
    header = sheet.rows[layout.header_row - 1]
    return next(
        (
            position
            for position in range(layout.last_column, len(header))
            if header[position] is not None
        ),
        None,
    )
