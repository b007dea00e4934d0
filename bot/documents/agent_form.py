"""MA-002 agent form: the Excel sheet of an agent's complementary data, built and read back.

For each new agent in CAM Pegasus the zone's commercial assistant confirms the alta and sends
the data a specialist needs to capture the agent in DES 3.0: e-mail, mobile phone, CURP,
cédula and its vigencia, ramo. ``build_agent_form`` writes the form with openpyxl: what CAM
Pegasus already knows in grey, locked cells, one yellow input cell per missing datum, lists
and checks as data validations (constants only), and the sheet protected without a password,
against accidental edits only. Every text from CAM Pegasus is stored as a plain string, never
as a formula, whatever it starts with.

``read_agent_form`` finds the data by label in the first filled column of any row (value in
the next cell), or in a two-row table pasted anywhere, so a copy of the form with moved rows
or a renamed sheet still reads. ``data_from_text`` reads labelled lines of a mail body.
Both check every value: ``AgentData.values`` holds the valid ones normalised, ``errors`` one
Spanish sentence per wrong one; blank values are missing, not wrong.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO
from types import MappingProxyType
from typing import Any

from bot.config import fold_name
from bot.documents.xlsx import MIB, Cell, Limits, Sheet, read_rows
from bot.handlers.entities import GENERIC_RFCS, MONTHS
from bot.handlers.quotes import strip_reply

__all__ = [
    "DECISIONS",
    "FIELDS",
    "FORM_LIMITS",
    "RAMOS",
    "SHEET_TITLE",
    "TITLE",
    "AgentData",
    "AgentInfo",
    "FieldSpec",
    "build_agent_form",
    "data_from_text",
    "merged",
    "missing_fields",
    "read_agent_form",
]


@dataclass(frozen=True)
class AgentInfo:
    """What CAM Pegasus already knows about the agent (every value text; "" when unknown)."""

    clave: str
    nombre: str
    rfc: str
    correo: str
    promotoria: str
    zona: str
    cedula: str


@dataclass(frozen=True)
class FieldSpec:
    """One datum the assistant supplies: its key, Spanish label and instructions."""

    key: str
    label: str
    required: bool
    hint: str


@dataclass(frozen=True)
class AgentData:
    """Complementary data found in a form or a mail body, checked."""

    values: Mapping[str, str]
    errors: tuple[str, ...]
    decision: str
    case_ref: str
    clave: str


RAMO_VIDA = "Vida"
RAMO_GMM = "Gastos Médicos Mayores"
RAMO_AMBOS = "Vida y Gastos Médicos Mayores"
RAMOS: tuple[str, ...] = (RAMO_VIDA, RAMO_GMM, RAMO_AMBOS)
DECISIONS: Mapping[str, str] = MappingProxyType(
    {"Sí adelante": "PROCEED", "Deténlo": "STOP", "Te aviso cuando proceda": "LATER"}
)
OBSERVATIONS_MAX = 500

FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "correo",
        "Correo electrónico",
        True,
        "Correo del agente, p. ej. nombre@dominio.com",
    ),
    FieldSpec(
        "celular",
        "Teléfono celular",
        True,
        "10 dígitos, sin +52 ni espacios, p. ej. 5512345678",
    ),
    FieldSpec("curp", "CURP", True, "18 caracteres, como aparece en su constancia de CURP"),
    FieldSpec(
        "cedula",
        "Cédula profesional",
        True,
        "Número de la cédula de agente: 7 u 8 dígitos",
    ),
    FieldSpec(
        "vigencia_cedula",
        "Vigencia de la cédula",
        True,
        "Fecha en que vence la cédula (dd/mm/aaaa); debe estar vigente",
    ),
    FieldSpec("ramo", "Ramo", True, "Elige de la lista: " + ", ".join(RAMOS)),
    FieldSpec(
        "observaciones",
        "Observaciones",
        False,
        f"Opcional: lo que el especialista deba saber (máximo {OBSERVATIONS_MAX} caracteres)",
    ),
)
_SPECS = {spec.key: spec for spec in FIELDS}

SHEET_TITLE = "Alta de agente"
TITLE = "Alta de agente MetLife: datos complementarios"
CASE_LABEL = "Caso"
DECISION_LABEL = "Decisión"
KNOWN_HINT = "Dato de CAM Pegasus (no editable)"
# Known e-mail and cédula get labels of their own, so that reading the form back never takes
# CAM Pegasus's value for one the assistant supplied.
KNOWN_CORREO_LABEL = "Correo registrado"
KNOWN_CEDULA_LABEL = "Cédula registrada"
INSTRUCTIONS = (
    "Llena las celdas amarillas y responde el correo con este archivo adjunto. Los datos en "
    "gris vienen de CAM Pegasus; si alguno no es correcto, anótalo en Observaciones."
)
# A filled form is a few dozen cells; these limits leave room for a logo and pasted extras
# while keeping the check and the read of the biggest accepted file well under a second.
FORM_LIMITS = Limits(max_uncompressed=20 * MIB, max_cells=100_000, max_text=5_000_000)

# Longer texts from CAM Pegasus are garbage; capping keeps every cell far from Excel's limit.
_AGENT_TEXT_MAX = 1000
_SHOWN_MAX = 60
_LABEL_MAX = 80  # no label is longer; longer cells are never folded and compared
_LABEL_COLUMNS = 5  # a pasted copy may start a few columns to the right
# A mail body's data are short lines near the top; the caps bound the work on a hostile body
# (every label on a line scans the rest of it).
_TEXT_MAX = 50_000
_LINE_MAX = 1000
_EXCEL_EPOCH = dt.date(1899, 12, 30)
# Excel serial numbers of 1960-01-01 and 2099-12-31: a number cell in that range is a date
# whose date format was lost.
_SERIAL_RANGE = range(21916, 73051)

# --- labels -------------------------------------------------------------------------------

# Folded labels (fold_name, text in parentheses removed) of each datum in a sheet.
_CELL_LABELS: dict[str, tuple[str, ...]] = {
    "correo": (
        "correo electronico",
        "correo",
        "email",
        "e mail",
        "mail",
        "correo del agente",
        "correo electronico del agente",
    ),
    "celular": (
        "telefono celular",
        "celular",
        "tel celular",
        "cel",
        "movil",
        "telefono movil",
        "telefono",
        "tel",
        "numero celular",
        "numero de celular",
        "whatsapp",
    ),
    "curp": ("curp",),
    "cedula": (
        "cedula profesional",
        "cedula",
        "numero de cedula",
        "no de cedula",
        "cedula de agente",
        "cedula cnsf",
    ),
    "vigencia_cedula": (
        "vigencia de la cedula",
        "vigencia de cedula",
        "vigencia cedula",
        "vigencia de la cedula profesional",
        "vigencia",
        "fecha de vigencia",
        "vencimiento",
        "vencimiento de la cedula",
        "fecha de vencimiento",
        "vigente hasta",
    ),
    "ramo": ("ramo", "ramos", "ramo solicitado"),
    "observaciones": ("observaciones", "observacion", "comentarios", "notas", "nota"),
    "decision": ("decision", "decision de alta", "confirmacion"),
    "caso": ("caso",),
    "clave": ("clave de agente", "clave del agente", "clave agente", "clave", "cve agente"),
    "rfc": ("rfc",),
}
_LABEL_KEYS = {label: key for key, labels in _CELL_LABELS.items() for label in labels}
_PARENTHESES = re.compile(r"\([^)]*\)")
_DECISION_KEYS = {fold_name(text): code for text, code in DECISIONS.items()}

# Labels in a mail body, on text folded character by character (lower case, no accents).
_TEXT_LABELS = {
    "vigencia_cedula": (
        r"vigencia(?:\s+de)?(?:\s+(?:la|su))?(?:\s+cedula(?:\s+profesional)?)?"
        r"|vigente\s+(?:hasta|al)(?:\s+el)?"
        r"|(?:fecha\s+de\s+)?vencimiento(?:\s+de(?:\s+la)?\s+cedula)?|vence(?:\s+el)?"
    ),
    "cedula": (
        r"(?:(?:numero|num\.?|no\.?)\s+de\s+)?cedula(?:\s+profesional)?"
        r"(?:\s+(?:de\s+agente|cnsf))?"
    ),
    "celular": (
        r"(?:tel(?:efono|\.)?\s*)?(?:celular|cel\.?|movil)"
        r"|(?:numero\s+de\s+)?(?:telefono|tel\.?)|whats?app"
    ),
    "curp": r"curp",
    "correo": r"correo(?:\s+electronico)?|e-?mail|mail",
    "ramo": r"ramos?",
    "observaciones": r"observaciones|observacion|comentarios?|notas?",
    "rfc": r"rfc",
}
_TEXT_LABEL = re.compile(
    r"(?<![\w@.-])(?:"
    + "|".join(f"(?P<{key}>{pattern})" for key, pattern in _TEXT_LABELS.items())
    + r")(?![\w@-])"
)
# What may sit between a label and its value: "del agente", "es", a separator.
_AFTER_LABEL = re.compile(
    r"(?:\s+del?\s+(?:la\s+)?agente)?(?:\s+(?:es|son))?\s*(?:(?P<separator>[:=#\-–—]+)\s*)?"
    r"(?:(?:no|num|numero)\.?\s+)?"
)
# Before an anchored label: nothing but bullets or numbering at the start of a line, or, after
# a value, a comma, semicolon, bar or "y".
_LINE_START = re.compile(r"[\s\-*•·◦▪–—]*(?:\d{1,2}[.)]\s*)?")
_JOINER = re.compile(r"[\s,;|/]*(?:y\s+)?")
# Free text and ramo words are too common in sentences to be taken from the middle of one.
_ANCHORED_ONLY = frozenset({"observaciones", "ramo"})
_CLOSING = re.compile(
    r"[¡\s]*(?:saludos(?:\s+cordiales)?|un\s+saludo|atentamente|atte|cordialmente|slds"
    r"|(?:muchas\s+|mil\s+)?gracias|quedo\s+(?:atent[oa]|a\s+(?:tus|sus)\s+ordenes).*"
    r"|(?:best\s+)?regards|thanks)[\s!.,¡]*"
)
_BARE_CURP = re.compile(r"(?<![A-Z0-9])[A-Z]{4}\d{6}[HM][A-Z]{5}[A-Z0-9]\d(?![A-Z0-9])")

# --- value shapes ---------------------------------------------------------------------------

_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_WEEKDAY = r"lunes|martes|miercoles|jueves|viernes|sabado|domingo"
_DATE = re.compile(
    rf"(?:(?:{_WEEKDAY}),?\s+)?(?:el\s+)?(?:"
    r"(?P<iy>\d{4})[/.-](?P<im>\d{1,2})[/.-](?P<id>\d{1,2})"
    r"|(?P<nd>\d{1,2})\s*[/.-]\s*(?P<nm>\d{1,2})\s*[/.-]\s*(?P<ny>\d{4}|\d{2})"
    rf"|(?P<wd>\d{{1,2}})(?:\s+de\s+|\s*[/.-]\s*|\s+)(?P<wm>{_MONTH})\.?"
    r"(?:\s+del?\s+|\s*[/.-]\s*|,?\s+)(?P<wy>\d{4})"
    r")(?!\d)"
)
_TIME_SUFFIX = re.compile(r"(?:[t\s]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\.?")
_PHONE_CHARACTERS = re.compile(r"[\d\s().\-+]+")
_CEDULA = re.compile(r"(\d{7,8})(?:\.0+)?")
_RAMO_TEXT = re.compile(
    r"(?:vida\W+(?:y\W+)?(?:gmm|gastos\s+medicos(?:\s+mayores)?)"
    r"|(?:gmm|gastos\s+medicos(?:\s+mayores)?)\W+(?:y\W+)?vida"
    r"|gmm|gastos\s+medicos(?:\s+mayores)?|vida)(?![\w])"
)
_RAMO_KEYS = {
    "vida": RAMO_VIDA,
    "gmm": RAMO_GMM,
    "gastos medicos": RAMO_GMM,
    "gastos medicos mayores": RAMO_GMM,
    **{
        f"{first}{joiner}{second}": RAMO_AMBOS
        for left, right in (("vida", "gmm"), ("vida", "gastos medicos mayores"))
        for first, second in ((left, right), (right, left))
        for joiner in (" ", " y ")
    },
    "vida y gastos medicos": RAMO_AMBOS,
    "vida gastos medicos": RAMO_AMBOS,
}
_TEXT_VALUES = {
    "correo": re.compile(r"(?:mailto:)?<?([^\s<>,;()]+@[^\s<>,;()]+?)>?(?=[\s,;()]|\.?$|\.\s)"),
    "celular": re.compile(r"(\+?\s*\(?\d[\d\s().\-]*\d)"),
    "curp": re.compile(r"([a-z0-9][a-z0-9-]{16,22}[a-z0-9])(?![\w])"),
    "cedula": re.compile(r"(\d[\d.]*\d)(?![\w])"),
    "vigencia_cedula": re.compile(f"({_DATE.pattern})"),
    "ramo": re.compile(f"({_RAMO_TEXT.pattern})"),
    "rfc": re.compile(r"([a-z&0-9]{12,13})(?![\w])"),
}
_FALLBACK_VALUE = re.compile(r"[^,;]*")
_RFC_PERSON = re.compile(r"[A-ZÑ&]{4}\d{6}[A-Z0-9]{3}")
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Excel, LibreOffice and calamine decode "_x0041_" in a cell's text as "A"; the underscore
# that starts such a sequence is itself written escaped, so the text reads back unchanged.
_OOXML_ESCAPE = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")


class _Invalid(ValueError):
    """A value of the wrong shape; the message completes "<Label>: «value» ..."."""


# --- building -----------------------------------------------------------------------------


def _xlsx_text(text: str) -> str:
    """Text that an .xlsx can hold and that every reader decodes back to the same text."""
    legal = _XML_ILLEGAL.sub("", text)[:_AGENT_TEXT_MAX]
    return _OOXML_ESCAPE.sub("_x005F_", legal)


def _write_text(sheet: Any, row: int, column: int, text: str) -> Any:
    """Write ``text`` as a plain string cell (never a formula or error) and return the cell."""
    cell = sheet.cell(row=row, column=column)
    value = _xlsx_text(text)
    if value:
        cell.value = value
        # openpyxl turns "=..." into a formula and "#N/A" into an error value; the type is
        # forced back to string, and the quote prefix keeps Excel from re-reading it on edit.
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell


def _inline_list(values: Sequence[str]) -> str:
    """A list validation's literal of constant values."""
    return '"' + ",".join(values) + '"'


def _known_rows(agent: AgentInfo) -> list[tuple[str, str]]:
    """The locked rows: what CAM Pegasus knows, e-mail and cédula only when it has them."""
    rows = [
        ("Clave de agente", agent.clave),
        ("Nombre", agent.nombre),
        ("RFC", agent.rfc),
        ("Promotoría", agent.promotoria),
        ("Zona", agent.zona),
    ]
    if agent.correo.strip():
        rows.append((KNOWN_CORREO_LABEL, agent.correo))
    if agent.cedula.strip():
        rows.append((KNOWN_CEDULA_LABEL, agent.cedula))
    return rows


def _asked_fields(agent: AgentInfo) -> list[FieldSpec]:
    """The editable rows: every datum except e-mail and cédula that CAM Pegasus has."""
    known = {"correo": agent.correo.strip(), "cedula": agent.cedula.strip()}
    return [spec for spec in FIELDS if not known.get(spec.key)]


def build_agent_form(agent: AgentInfo, case_ref: str, today: dt.date) -> bytes:
    """The agent's form as .xlsx bytes: known data locked, one input row per datum asked."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
    from openpyxl.worksheet.datavalidation import DataValidation

    from bot.documents.blank_form import protect_and_fit

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET_TITLE
    thin = Side(style="thin", color="A6A6A6")
    border = Border(top=thin, bottom=thin, left=thin, right=thin)
    grey = PatternFill("solid", start_color="E7E6E6")
    yellow = PatternFill("solid", start_color="FFF2CC")
    header_fill = PatternFill("solid", start_color="D9E1F2")
    wrap = Alignment(wrap_text=True, vertical="center")
    for letter, width in (("A", 26), ("B", 44), ("C", 62)):
        sheet.column_dimensions[letter].width = width

    title = _write_text(sheet, 1, 1, TITLE)
    title.font = Font(bold=True, size=14)
    sheet.merge_cells("A1:C1")
    _write_text(sheet, 2, 1, CASE_LABEL).font = Font(bold=True)
    _write_text(sheet, 2, 2, case_ref).alignment = Alignment(horizontal="left")
    for column, header in enumerate(("Dato", "Valor", "Indicaciones"), start=1):
        cell = _write_text(sheet, 3, column, header)
        cell.font = Font(bold=True)
        cell.fill = header_fill
        cell.border = border

    row = 4
    for label, value in _known_rows(agent):
        _write_text(sheet, row, 1, label).border = border
        cell = _write_text(sheet, row, 2, value)
        cell.fill = grey
        cell.border = border
        cell.alignment = wrap
        hint = _write_text(sheet, row, 3, KNOWN_HINT)
        hint.font = Font(italic=True, color="7F7F7F")
        hint.border = border
        row += 1

    input_rows: dict[str, int] = {}
    for spec in _asked_fields(agent):
        input_rows[spec.key] = row
        label = _write_text(sheet, row, 1, spec.label)
        label.font = Font(bold=spec.required)
        label.border = border
        _write_text(sheet, row, 3, spec.hint).alignment = wrap
        sheet.cell(row=row, column=3).border = border
        row += 1
    input_rows["decision"] = row
    _write_text(sheet, row, 1, DECISION_LABEL).font = Font(bold=True)
    sheet.cell(row=row, column=1).border = border
    decision_hint = "Elige de la lista: " + ", ".join(DECISIONS)
    _write_text(sheet, row, 3, decision_hint).alignment = wrap
    sheet.cell(row=row, column=3).border = border
    for key, input_row in input_rows.items():
        cell = sheet.cell(row=input_row, column=2)
        cell.fill = yellow
        cell.border = border
        cell.alignment = wrap
        cell.protection = Protection(locked=False)
        # Typed text stays text (a phone number must not become 5.51E+09); the date is a date.
        cell.number_format = "DD/MM/YYYY" if key == "vigencia_cedula" else "@"
    if "observaciones" in input_rows:
        sheet.row_dimensions[input_rows["observaciones"]].height = 45

    notes = _write_text(sheet, row + 2, 1, INSTRUCTIONS)
    notes.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.merge_cells(start_row=row + 2, start_column=1, end_row=row + 2, end_column=3)
    sheet.row_dimensions[row + 2].height = 32

    # Every formula below is a constant of this module or today's serial number.
    serial = (today - _EXCEL_EPOCH).days
    validations = (
        ("ramo", "list", None, _inline_list(RAMOS), None, "Ramo", "Elige un ramo de la lista."),
        (
            "decision",
            "list",
            None,
            _inline_list(list(DECISIONS)),
            None,
            "Decisión",
            "Elige: " + ", ".join(DECISIONS) + ".",
        ),
        (
            "vigencia_cedula",
            "date",
            "greaterThan",
            str(serial),
            None,
            "Vigencia de la cédula",
            "Escribe la fecha como dd/mm/aaaa; la cédula debe estar vigente después de hoy.",
        ),
        (
            "curp",
            "textLength",
            "equal",
            "18",
            None,
            "CURP",
            "La CURP tiene 18 caracteres.",
        ),
        (
            "cedula",
            "textLength",
            "between",
            "7",
            "8",
            "Cédula profesional",
            "La cédula tiene 7 u 8 dígitos.",
        ),
        (
            "observaciones",
            "textLength",
            "lessThanOrEqual",
            str(OBSERVATIONS_MAX),
            None,
            "Observaciones",
            f"Máximo {OBSERVATIONS_MAX} caracteres.",
        ),
    )
    for key, kind, operator, formula1, formula2, title_text, message in validations:
        if key not in input_rows:
            continue
        validation = DataValidation(
            type=kind,
            operator=operator,
            formula1=formula1,
            formula2=formula2,
            allow_blank=True,
            showErrorMessage=True,
            errorTitle="Dato no válido",
            error=message,
            showInputMessage=True,
            promptTitle=title_text[:32],
            prompt=message,
        )
        validation.add(f"B{input_rows[key]}")
        sheet.add_data_validation(validation)

    protect_and_fit(sheet)
    workbook.properties.creator = "Mesa de Ayuda"
    workbook.properties.title = TITLE
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- checking values --------------------------------------------------------------------------


def _cell_text(value: Cell) -> str:
    """A cell as the text people typed: integral numbers without ".0", dates day-first."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "VERDADERO" if value else "FALSO"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y") if value.time() == dt.time() else str(value)
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return str(value).strip()


def _shown(text: str) -> str:
    """A value as quoted back in a message: one line, at most a few dozen characters."""
    line = " ".join(text.split())
    return line if len(line) <= _SHOWN_MAX else line[: _SHOWN_MAX - 1] + "…"


def _fold_chars(text: str) -> str:
    """Lower case without accents, one character for one, so positions map back to ``text``."""
    folded = []
    for character in text:
        base = unicodedata.normalize("NFKD", character)[:1].lower()
        folded.append(base if len(base) == 1 else character)
    return "".join(folded)


def _check_correo(value: Cell) -> str:
    """An e-mail address (syntax only, no DNS), lower-cased."""
    from email_validator import EmailNotValidError, validate_email

    address = _cell_text(value).removeprefix("mailto:").strip("<> ")
    try:
        return validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        if "@" not in address:
            raise _Invalid("no es un correo válido: le falta la @.") from None
        if any(character.isspace() for character in address):
            raise _Invalid("no es un correo válido: tiene espacios.") from None
        raise _Invalid("no es un correo válido.") from None


def _check_celular(value: Cell) -> str:
    """A Mexican mobile number as its 10 digits, without +52, 521, 044 or 045."""
    text = _cell_text(value)
    if not _PHONE_CHARACTERS.fullmatch(text):
        raise _Invalid("debe tener 10 dígitos.")
    digits = re.sub(r"\D", "", text)
    if len(digits) == 12 and digits.startswith("52"):
        digits = digits[2:]
    elif len(digits) == 13 and digits.startswith(("521", "044", "045")):
        digits = digits[3:]
    if len(digits) != 10:
        raise _Invalid("debe tener 10 dígitos.")
    if digits[0] in "01":
        raise _Invalid("no es un celular válido: no puede empezar con 0 ni con 1.")
    return digits


def _check_curp(value: Cell) -> str:
    """A valid CURP, upper case without spaces."""
    # python-stdnum loads only when a CURP is checked: importing it costs about 30 ms.
    from stdnum.exceptions import (
        InvalidChecksum,
        InvalidComponent,
        InvalidLength,
        ValidationError,
    )
    from stdnum.mx import curp as stdnum_curp

    compact = re.sub(r"[\s-]", "", _cell_text(value)).upper()
    try:
        return str(stdnum_curp.validate(compact))
    except InvalidLength:
        raise _Invalid("no es una CURP válida: debe tener 18 caracteres.") from None
    except InvalidChecksum:
        raise _Invalid("no es una CURP válida: el último carácter no corresponde.") from None
    except InvalidComponent:
        raise _Invalid(
            "no es una CURP válida: la fecha de nacimiento, el sexo o el estado no son válidos."
        ) from None
    except ValidationError:
        raise _Invalid(
            "no es una CURP válida: son 4 letras, 6 dígitos de la fecha de nacimiento, "
            "6 letras y 2 caracteres más."
        ) from None


def _check_cedula(value: Cell) -> str:
    """A cédula number: 7 or 8 digits."""
    match = _CEDULA.fullmatch(re.sub(r"\s", "", _cell_text(value)))
    if match is None:
        raise _Invalid("debe tener 7 u 8 dígitos.")
    return match[1]


def _parse_date(text: str) -> dt.date | None:
    """A day-first, ISO or Spanish worded date filling the whole text, or None."""
    folded = _fold_chars(text.strip())
    match = _DATE.match(folded)
    if match is None or not _TIME_SUFFIX.fullmatch(folded, match.end()):
        return None
    return _match_date(match)


def _match_date(match: re.Match[str]) -> dt.date | None:
    """The date a _DATE match names, or None when there is no such day."""
    if match["iy"]:
        year, month, day = int(match["iy"]), int(match["im"]), int(match["id"])
    elif match["ny"]:
        year, month, day = int(match["ny"]), int(match["nm"]), int(match["nd"])
    else:
        year, month, day = int(match["wy"]), MONTHS[match["wm"]], int(match["wd"])
    if year < 100:
        year += 2000
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _check_vigencia(value: Cell, today: dt.date) -> str:
    """A date after today, as ISO yyyy-mm-dd."""
    if isinstance(value, dt.datetime):
        day: dt.date | None = value.date()
    elif isinstance(value, dt.date):
        day = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        # A date whose cell lost its date format shows as Excel's serial number.
        serial = int(value)
        day = _EXCEL_EPOCH + dt.timedelta(days=serial) if serial in _SERIAL_RANGE else None
    else:
        day = _parse_date(_cell_text(value))
    if day is None:
        raise _Invalid("no es una fecha válida; escríbela como dd/mm/aaaa.")
    if day <= today:
        raise _Invalid(
            "está vencida: la cédula debe estar vigente después de hoy "
            f"({today.strftime('%d/%m/%Y')})."
        )
    return day.isoformat()


def _check_ramo(value: Cell) -> str:
    """One of RAMOS, from any case, accents, spacing or the short form GMM."""
    ramo = _RAMO_KEYS.get(fold_name(_cell_text(value)))
    if ramo is None:
        raise _Invalid("no es un ramo válido; elige " + ", ".join(RAMOS[:-1]) + f" o {RAMOS[-1]}.")
    return ramo


def _check_observaciones(value: Cell) -> str:
    """Free text, trimmed, at most OBSERVATIONS_MAX characters."""
    text = _cell_text(value)
    if len(text) > OBSERVATIONS_MAX:
        raise _Invalid(f"tiene {len(text)} caracteres y el máximo es {OBSERVATIONS_MAX}.")
    return text


def _check(key: str, value: Cell, today: dt.date) -> str:
    """The normalised value of one datum, or _Invalid."""
    if key == "correo":
        return _check_correo(value)
    if key == "celular":
        return _check_celular(value)
    if key == "curp":
        return _check_curp(value)
    if key == "cedula":
        return _check_cedula(value)
    if key == "vigencia_cedula":
        return _check_vigencia(value, today)
    if key == "ramo":
        return _check_ramo(value)
    return _check_observaciones(value)


def _error(key: str, value: Cell, reason: str) -> str:
    """The Spanish sentence for a wrong value: label, value and what is wrong."""
    return f"{_SPECS[key].label}: «{_shown(_cell_text(value))}» {reason}"


def _curp_rfc_error(curp: str, rfc: str) -> str | None:
    """The error when a known personal RFC and the CURP disagree in their first 10 characters."""
    rfc = re.sub(r"[\s-]", "", rfc).upper()
    if not _RFC_PERSON.fullmatch(rfc) or rfc in GENERIC_RFCS or curp[:10] == rfc[:10]:
        return None
    return (
        f"CURP: «{curp}» no coincide con el RFC {rfc}: los primeros 10 caracteres deberían "
        "ser iguales."
    )


@dataclass
class _Found:
    """Values checked so far: the first valid one of each datum, else its first error."""

    today: dt.date
    values: dict[str, str]
    errors: dict[str, str]

    def add(self, key: str, value: Cell, *, report: bool = True) -> bool:
        """Check a value; keep it if valid and new; True when valid. Blank values are skipped."""
        if not _cell_text(value):
            return False
        try:
            normalised = _check(key, value, self.today)
        except _Invalid as exc:
            if report:
                self.errors.setdefault(key, _error(key, value, str(exc)))
            return False
        self.values.setdefault(key, normalised)
        return True

    def result(self, rfc: str, *, decision: str, case_ref: str, clave: str) -> AgentData:
        """The AgentData: the CURP checked against the RFC, errors of valid data dropped."""
        curp = self.values.get("curp")
        if curp is not None and rfc:
            mismatch = _curp_rfc_error(curp, rfc)
            if mismatch is not None:
                del self.values["curp"]
                self.errors["curp"] = mismatch
        return _agent_data(self.values, self.errors, decision, case_ref, clave)


def _agent_data(
    values: Mapping[str, str],
    errors: Mapping[str, str | Sequence[str]],
    decision: str,
    case_ref: str,
    clave: str,
) -> AgentData:
    """An AgentData in form order; errors of a datum that has a valid value are dropped."""
    ordered = {spec.key: values[spec.key] for spec in FIELDS if spec.key in values}
    sentences: list[str] = []
    keys = [spec.key for spec in FIELDS] + ["decision"]
    for key in keys + [key for key in errors if key not in keys]:
        if key in ordered or (key == "decision" and decision):
            continue
        found = errors.get(key, ())
        for sentence in [found] if isinstance(found, str) else found:
            if sentence not in sentences:
                sentences.append(sentence)
    return AgentData(
        values=MappingProxyType(ordered),
        errors=tuple(sentences),
        decision=decision,
        case_ref=case_ref,
        clave=clave,
    )


# --- reading a form -------------------------------------------------------------------------


def _label_key(value: Cell) -> str | None:
    """The datum a label cell names, whatever its case, accents, punctuation or parentheses."""
    if not isinstance(value, str) or len(value) > _LABEL_MAX:
        return None
    return _LABEL_KEYS.get(fold_name(_PARENTHESES.sub(" ", value)))


def _table_header(row: Sequence[Cell]) -> dict[int, str]:
    """Columns of a pasted table's header row: at least two data labels, else nothing."""
    keys = {column: _label_key(cell) for column, cell in enumerate(row)}
    found = {column: key for column, key in keys.items() if key is not None}
    data = [key for key in found.values() if key in _SPECS]
    return found if len(data) >= 2 and len(set(found.values())) == len(found) else {}


def _sheet_cells(sheet: Sheet) -> Iterator[tuple[str, Cell]]:
    """(key, value) of every labelled row and pasted table of a sheet, in reading order."""
    rows = sheet.rows
    in_table: set[int] = set()
    for index, row in enumerate(rows):
        if index in in_table:
            continue
        header = _table_header(row)
        if header and index + 1 < len(rows):
            below = rows[index + 1]
            in_table.update((index, index + 1))
            for column, key in header.items():
                yield key, below[column] if column < len(below) else None
            continue
        first = next(
            (column for column, cell in enumerate(row[:_LABEL_COLUMNS]) if cell is not None),
            None,
        )
        if first is None:
            continue
        labelled = _label_key(row[first])
        if labelled is not None:
            yield labelled, row[first + 1] if first + 1 < len(row) else None


def read_agent_form(content: bytes, today: dt.date) -> AgentData:
    """Read an agent form (or a copy, or a pasted table); SpreadsheetError if unsafe/unreadable."""
    sheets = read_rows(content, FORM_LIMITS)
    # Visible sheets first: a hidden sheet is read only for what the visible ones lack.
    ordered = [sheet for sheet in sheets if not sheet.hidden] + [s for s in sheets if s.hidden]
    cells: dict[str, list[Cell]] = {}
    for sheet in ordered:
        for key, value in _sheet_cells(sheet):
            cells.setdefault(key, []).append(value)

    def first(key: str) -> Cell:
        """The first non-blank value under this label, else None."""
        return next((value for value in cells.get(key, ()) if _cell_text(value)), None)

    found = _Found(today, {}, {})
    for spec in FIELDS:
        # The first valid value of a datum wins; its first wrong one is reported otherwise.
        for value in cells.get(spec.key, ()):
            found.add(spec.key, value)
    decision = ""
    decision_text = _cell_text(first("decision"))
    if decision_text:
        decision = _DECISION_KEYS.get(fold_name(decision_text), "")
        if not decision:
            found.errors["decision"] = (
                f"{DECISION_LABEL}: «{_shown(decision_text)}» no es una opción válida; elige "
                + ", ".join(list(DECISIONS)[:-1])
                + f" o {list(DECISIONS)[-1]}."
            )
    return found.result(
        _cell_text(first("rfc")),
        decision=decision,
        case_ref=_cell_text(first("caso")),
        clave=_cell_text(first("clave")),
    )


# --- reading a mail body --------------------------------------------------------------------


def _text_value(key: str, line: str, folded: str, start: int) -> tuple[str, int, bool]:
    """The value after a label at ``start``: (raw text, end, whether it had the datum's shape)."""
    if key == "observaciones":
        return line[start:].strip(), len(line), True
    pattern = _TEXT_VALUES.get(key)
    match = pattern.match(folded, start) if pattern is not None else None
    # A shape cut short by a letter ("55-1234-567x") is not the value: all of it is shown.
    if match is not None and not folded[match.end() : match.end() + 1].isalnum():
        begin, end = match.span(1)
        return line[begin:end], end, True
    fallback = _FALLBACK_VALUE.match(folded, start)
    end = fallback.end() if fallback is not None else start
    return line[start:end].strip().rstrip("."), end, False


def _labelled(line: str) -> Iterator[tuple[str, str, bool]]:
    """(key, raw value, whether a wrong value is reported) for each label of a line."""
    folded = _fold_chars(line)
    position = 0
    value_end: int | None = None  # where the previous valid value ended
    while (label := _TEXT_LABEL.search(folded, position)) is not None:
        key = label.lastgroup or ""
        before = folded[value_end if value_end is not None else 0 : label.start()]
        anchored = bool(
            _JOINER.fullmatch(before) if value_end is not None else _LINE_START.fullmatch(before)
        )
        start = _AFTER_LABEL.match(folded, label.end())
        value_start = start.end() if start is not None else label.end()
        explicit = start is not None and bool(start["separator"])
        # Free text needs "Observaciones:"; without the colon it is a sentence about them.
        if (key in _ANCHORED_ONLY and not anchored) or (key == "observaciones" and not explicit):
            position = label.end()
            continue
        raw, end, shaped = _text_value(key, line, folded, value_start)
        # "Cédula: trámite" is a wrong value; "Ramo de seguros ..." is a sentence, not one.
        yield key, raw, anchored and (explicit or shaped)
        if shaped and raw:
            position = value_end = end
        else:
            # A value that is not one may hold the next label ("la cédula vence el ...").
            position = value_start


def data_from_text(text: str, today: dt.date) -> AgentData:
    """The complementary data written as labelled lines (or a bare CURP) in a mail body."""
    found = _Found(today, {}, {})
    rfc = ""
    bare_curps: list[str] = []
    seen_data = False
    for raw_line in strip_reply(text[:_TEXT_MAX]).splitlines():
        line = raw_line.strip()[:_LINE_MAX]
        if not line or line.startswith(">"):
            continue
        # After the data, a closing line starts the signature, whose phone is not the agent's.
        if seen_data and _CLOSING.fullmatch(_fold_chars(line)):
            break
        for key, raw, report in _labelled(line):
            if key == "rfc":
                if not rfc and _RFC_PERSON.fullmatch(raw.upper()):
                    rfc = raw.upper()
                continue
            if found.add(key, raw, report=report) or (report and raw):
                seen_data = True
        bare_curps.extend(_BARE_CURP.findall(line.upper()))
    if "curp" not in found.values:
        for candidate in bare_curps:
            if found.add("curp", candidate, report=False):
                break
    return found.result(rfc, decision="", case_ref="", clave="")


# --- combining ------------------------------------------------------------------------------


def missing_fields(agent: AgentInfo, values: Mapping[str, str]) -> tuple[FieldSpec, ...]:
    """Required data with no valid value; CAM Pegasus's e-mail and cédula count as present."""
    known = {"correo": agent.correo.strip(), "cedula": agent.cedula.strip()}
    return tuple(
        spec
        for spec in FIELDS
        if spec.required and not str(values.get(spec.key, "")).strip() and not known.get(spec.key)
    )


def _error_key(sentence: str) -> str:
    """The datum an error sentence is about, from the label it starts with."""
    for spec in FIELDS:
        if sentence.startswith(f"{spec.label}: "):
            return spec.key
    return "decision" if sentence.startswith(f"{DECISION_LABEL}: ") else ""


def merged(*found: AgentData) -> AgentData:
    """Data from several sources: later wins per datum, errors only for data still wrong."""
    values: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    decision = case_ref = clave = ""
    for data in found:
        values.update(data.values)
        for sentence in data.errors:
            errors.setdefault(_error_key(sentence), []).append(sentence)
        decision = data.decision or decision
        case_ref = data.case_ref or case_ref
        clave = data.clave or clave
    return _agent_data(values, errors, decision, case_ref, clave)
