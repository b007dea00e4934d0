"""The MA-001 user-request form (alta/baja de usuarios MetLife): header row, row checks, report.

The header row is the first of the first visible sheet where at least three known columns
match; titles above it are skipped. Headers match without case, accents, spacing,
punctuation or text in parentheses, through each column's synonyms. Every data row is
checked (nombre, RFC de persona física, correo, zona of the configuration, paquete 1 or 2,
optional movimiento) and every problem becomes a ``RowError`` at the row and column Excel
shows; ``report_es`` turns them into the reply for the requester. A request form is small, so
it is read under ``INTAKE_LIMITS`` and holds at most ``MAX_USERS`` users.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Literal

from bot.config import Config, Zone, fold_name
from bot.documents.xlsx import MIB, Cell, Limits, Sheet, read_rows
from bot.handlers.entities import GENERIC_RFCS, valid_rfc

__all__ = [
    "COLUMNS",
    "INTAKE_LIMITS",
    "MAX_USERS",
    "Column",
    "Intake",
    "Movement",
    "RowError",
    "UserRow",
    "column_for",
    "header_key",
    "parse_intake",
    "read_intake",
    "report_es",
]

Movement = Literal["alta", "baja"]

HEADER_MIN_MATCHES = 3
HEADER_SCAN_ROWS = 50
HEADER_MAX_CHARS = 200  # no column title is longer; a longer cell is never folded and compared
# Forms are often pre-formatted far below the last user; a long empty run ends the list.
EMPTY_RUN_STOP = 10
SHOWN_MAX = 60
# One request carries at most this many users; a bigger list is a directory pasted by mistake
# or a job for several requests, and is not checked row by row.
MAX_USERS = 500
REPORT_MAX_ERRORS = 50  # a longer list is not read: the requester fixes the whole file anyway
# A filled form of MAX_USERS users in its ten columns is about 5,000 cells, well under 1 MiB
# of XML. The limits leave twenty times that for titles, instructions, pre-formatted rows and
# other sheets, and keep the check and the read of the biggest accepted file under a second:
# 100,000 cells in the grid the reader allocates, 50 characters of text per cell on average,
# 20 MiB once inflated (room for a logo and styles). Other spreadsheets keep read_rows's
# defaults (a yearly recertification may list 100,000 users).
INTAKE_LIMITS = Limits(max_uncompressed=20 * MIB, max_cells=100_000, max_text=5_000_000)


@dataclass(frozen=True)
class Column:
    """A column of the form: its key, the name shown when it is missing, and its synonyms."""

    key: str
    label: str
    required: bool
    synonyms: tuple[str, ...]


COLUMNS = (
    Column(
        "nombre",
        "Nombre completo",
        True,
        (
            "nombre",
            "nombres",
            "nombre completo",
            "nombre del usuario",
            "nombre completo del usuario",
            "nombre y apellidos",
        ),
    ),
    Column(
        "apellido_paterno",
        "Apellido paterno",
        False,
        ("apellido paterno", "primer apellido", "ap paterno", "paterno", "apellidos"),
    ),
    Column(
        "apellido_materno",
        "Apellido materno",
        False,
        ("apellido materno", "segundo apellido", "ap materno", "materno"),
    ),
    Column(
        "rfc",
        "RFC",
        True,
        ("rfc", "rfc con homoclave", "rfc del usuario", "registro federal de contribuyentes"),
    ),
    Column(
        "correo",
        "Correo electrónico",
        True,
        (
            "correo",
            "correo electronico",
            "correo del usuario",
            "correo electronico del usuario",
            "direccion de correo",
            "direccion de correo electronico",
            "email",
            "mail",
        ),
    ),
    Column("zona", "Zona", True, ("zona", "zona comercial")),
    Column(
        "paquete",
        "Paquete",
        True,
        ("paquete", "paquete de aplicaciones", "paquete de apps", "paquete solicitado"),
    ),
    Column(
        "promotoria",
        "Promotoría",
        False,
        ("promotoria", "nombre de la promotoria", "promotoria asignada"),
    ),
    Column("puesto", "Puesto", False, ("puesto", "cargo", "puesto del usuario")),
    Column(
        "movimiento",
        "Movimiento",
        False,
        ("movimiento", "tipo", "tipo de movimiento", "alta baja", "alta o baja"),
    ),
)

_PARENTHESES = re.compile(r"\([^)]*\)|\[[^\]]*\]")


def header_key(text: str) -> str:
    """Comparison key of a header: no case, accents, spaces, punctuation or (notes)."""
    return fold_name(_PARENTHESES.sub(" ", text)).replace(" ", "")


_BY_KEY = {header_key(synonym): column for column in COLUMNS for synonym in column.synonyms}


def column_for(header: str) -> Column | None:
    """The form column a header names, if any."""
    return _BY_KEY.get(header_key(header))


@dataclass(frozen=True, kw_only=True)
class UserRow:
    """One valid user of the form; ``zona`` is the configuration's name for the zone."""

    nombre: str
    rfc: str
    correo: str
    zona: str
    paquete: int
    promotoria: str | None = None
    puesto: str | None = None
    movimiento: Movement | None = None
    row: int = 0  # as Excel shows it


@dataclass(frozen=True)
class RowError:
    """A problem at a row (1-based as in Excel; 0 for the whole file) and column."""

    row: int
    column: str  # the header as written in the file, or the expected name when missing
    message: str  # Spanish, lower-case start, no final period


@dataclass(frozen=True)
class Intake:
    """The parsed form: valid users, every error, and where the data was found."""

    users: list[UserRow]
    errors: list[RowError]
    sheet: str
    header_row: int  # 1-based; 0 when no header row was found
    rows_read: int = 0  # non-empty rows under the header
    notes: list[str] = field(default_factory=list)  # Spanish remarks for the report

    @property
    def ok(self) -> bool:
        """True when there are users and no errors."""
        return bool(self.users) and not self.errors


# --- reading the form -------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    """The header row (0-based index) and, per column key, its index and text as written."""

    index: int
    columns: dict[str, tuple[int, str]]


def _find_header(sheet: Sheet) -> _Header | None:
    """The first row where enough known columns match."""
    for index, row in enumerate(sheet.rows[:HEADER_SCAN_ROWS]):
        found: dict[str, tuple[int, str]] = {}
        for position, value in enumerate(row):
            if not isinstance(value, str) or len(value) > HEADER_MAX_CHARS:
                continue
            column = column_for(value)
            if column is not None and column.key not in found:
                found[column.key] = (position, " ".join(value.split()))
        if len(found) >= HEADER_MIN_MATCHES:
            return _Header(index, found)
    return None


def read_intake(data: bytes, config: Config) -> Intake:
    """Check and read an .xlsx attachment, then parse the form (raises SpreadsheetError)."""
    return parse_intake(read_rows(data, INTAKE_LIMITS), config)


def parse_intake(sheets: Sequence[Sheet], config: Config) -> Intake:
    """Find the form in the first visible sheet that has its headers and check every row."""
    visible = [sheet for sheet in sheets if not sheet.hidden]
    hidden = [sheet for sheet in sheets if sheet.hidden]
    notes: list[str] = []
    chosen: tuple[Sheet, _Header] | None = None
    for sheet in visible:
        header = _find_header(sheet)
        if header is None:
            continue
        if chosen is None:
            chosen = (sheet, header)
        else:
            notes.append(
                f"la hoja «{sheet.name}» también parece tener usuarios y no se revisó; "
                f"solo se revisó la hoja «{chosen[0].name}»"
            )
    if hidden:
        names = _join_es([f"«{sheet.name}»" for sheet in hidden])
        notes.append(f"el archivo tiene hojas ocultas que no se revisaron: {names}")
    if chosen is None:
        return _no_header(visible, hidden, notes)
    sheet, header = chosen
    return _parse_rows(sheet, header, config, notes)


def _no_header(visible: list[Sheet], hidden: list[Sheet], notes: list[str]) -> Intake:
    """The result when no visible sheet has the form's headers."""
    in_hidden = next((sheet for sheet in hidden if _find_header(sheet) is not None), None)
    if in_hidden is not None:
        message = (
            f"los encabezados del formato están en la hoja oculta «{in_hidden.name}»; por favor "
            "muéstrala o copia los datos a una hoja visible"
        )
    else:
        required = _join_es([column.label for column in COLUMNS if column.required])
        message = (
            f"no encontramos la fila de encabezados del formato; debe tener las columnas {required}"
        )
    return Intake(
        users=[],
        errors=[RowError(0, "", message)],
        sheet=visible[0].name if visible else "",
        header_row=0,
        notes=notes,
    )


def _data_rows(sheet: Sheet, header: _Header) -> Iterator[tuple[int, dict[str, Cell]]]:
    """Each non-empty row under the header (its 0-based index) with the form's cells."""
    empty_run = 0
    for index in range(header.index + 1, len(sheet.rows)):
        row = sheet.rows[index]
        cells = {
            key: row[position] if position < len(row) else None
            for key, (position, _text) in header.columns.items()
        }
        if all(value is None for value in cells.values()):
            empty_run += 1
            if empty_run >= EMPTY_RUN_STOP:
                return
            continue
        empty_run = 0
        yield index, cells


def _parse_rows(sheet: Sheet, header: _Header, config: Config, notes: list[str]) -> Intake:
    """Check every non-empty row under the header, unless there are too many of them."""
    header_row = header.index + 1
    errors = [
        RowError(header_row, column.label, "falta esta columna obligatoria en los encabezados")
        for column in COLUMNS
        if column.required and column.key not in header.columns
    ]
    data_rows = _data_rows(sheet, header)
    rows = list(islice(data_rows, MAX_USERS + 1))
    if len(rows) > MAX_USERS:
        total = len(rows) + sum(1 for _ in data_rows)
        errors.append(
            RowError(
                0,
                "",
                f"el archivo tiene {total} usuarios y una solicitud admite como máximo "
                f"{MAX_USERS}; por favor divide la lista en archivos de hasta {MAX_USERS} "
                "usuarios: envía el primero respondiendo a este correo y cada uno de los demás "
                "en un correo nuevo",
            )
        )
        return Intake(
            users=[],
            errors=errors,
            sheet=sheet.name,
            header_row=header_row,
            rows_read=total,
            notes=notes,
        )
    complete = not errors
    users: list[UserRow] = []
    seen_rfc: dict[str, int] = {}
    seen_email: dict[str, int] = {}
    for index, cells in rows:
        check = _RowCheck(index + 1, header, config, seen_rfc, seen_email)
        user = check.run(cells)
        errors.extend(check.errors)
        if user is not None and complete:
            users.append(user)
    rows_read = len(rows)
    if rows_read == 0:
        errors.append(
            RowError(
                header_row, "", "el formato no tiene usuarios capturados debajo de los encabezados"
            )
        )
    return Intake(
        users=users,
        errors=errors,
        sheet=sheet.name,
        header_row=header_row,
        rows_read=rows_read,
        notes=notes,
    )


class _Invalid(Exception):
    """A cell's value is not acceptable; the message is Spanish."""


# A cell parser: the value for the user, or _Invalid with the reason.
_Parser = Callable[[Cell, Config], object]


_MISSING = {
    "nombre": "falta el nombre",
    "rfc": "falta el RFC",
    "correo": "falta el correo electrónico",
    "zona": "falta la zona",
    "paquete": "falta el paquete (1 o 2)",
}


class _RowCheck:
    """The checks of one data row; errors are collected in column order."""

    def __init__(
        self,
        row: int,
        header: _Header,
        config: Config,
        seen_rfc: dict[str, int],
        seen_email: dict[str, int],
    ) -> None:
        """Check row ``row`` (1-based) against the header; duplicates tracked across rows."""
        self.row = row
        self.header = header
        self.config = config
        self.seen_rfc = seen_rfc
        self.seen_email = seen_email
        self._errors: list[tuple[int, RowError]] = []

    @property
    def errors(self) -> list[RowError]:
        """The errors of this row, in the file's column order."""
        return [error for _position, error in sorted(self._errors, key=lambda item: item[0])]

    def _fail(self, key: str, message: str) -> None:
        """Record an error against the column of ``key``."""
        position, text = self.header.columns[key]
        self._errors.append((position, RowError(self.row, text, message)))

    def _required(self, key: str, cells: dict[str, Cell], parse: _Parser) -> object:
        """The parsed value of a required column, or None after recording why not."""
        if key not in cells:
            return None  # the missing column is reported once, at the header row
        value = cells[key]
        if value is None:
            self._fail(key, _MISSING[key])
            return None
        try:
            return parse(value, self.config)
        except _Invalid as exc:
            self._fail(key, str(exc))
            return None

    def run(self, cells: dict[str, Cell]) -> UserRow | None:
        """Check every column; the user when the row has no error."""
        nombre = self._required("nombre", cells, _parse_nombre)
        if isinstance(nombre, str):
            surnames = [
                _as_text(cells.get(key)) for key in ("apellido_paterno", "apellido_materno")
            ]
            nombre = " ".join([nombre, *(part for part in surnames if part)])
        rfc = self._required("rfc", cells, _parse_rfc)
        if isinstance(rfc, str) and rfc not in GENERIC_RFCS:
            self._duplicate("rfc", rfc, self.seen_rfc, "el RFC")
        correo = self._required("correo", cells, _parse_email)
        if isinstance(correo, str):
            self._duplicate("correo", correo, self.seen_email, "el correo")
        zona = self._required("zona", cells, _parse_zone)
        paquete = self._required("paquete", cells, _parse_package)
        movimiento: Movement | None = None
        if cells.get("movimiento") is not None:
            try:
                movimiento = _parse_movement(cells["movimiento"])
            except _Invalid as exc:
                self._fail("movimiento", str(exc))
        if self._errors:
            return None
        if not (
            isinstance(nombre, str)
            and isinstance(rfc, str)
            and isinstance(correo, str)
            and isinstance(zona, str)
            and isinstance(paquete, int)
        ):
            return None  # a required column is absent: reported at the header row
        return UserRow(
            nombre=nombre,
            rfc=rfc,
            correo=correo,
            zona=zona,
            paquete=paquete,
            promotoria=_as_text(cells.get("promotoria")),
            puesto=_as_text(cells.get("puesto")),
            movimiento=movimiento,
            row=self.row,
        )

    def _duplicate(self, key: str, value: str, seen: dict[str, int], what: str) -> None:
        """Flag a value already used by an earlier row; remember the first one."""
        first = seen.setdefault(value, self.row)
        if first != self.row:
            self._fail(key, f"{what} «{value}» está repetido: ya aparece en la fila {first}")


# --- cell parsers -----------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _as_text(value: Cell) -> str | None:
    """A cell as the text a person would read in it, whitespace collapsed; None if empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "VERDADERO" if value else "FALSO"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    return " ".join(str(value).split()) or None


def _shown(value: Cell) -> str:
    """A value quoted back to the requester: one line, no control characters, not too long."""
    text = _CONTROL.sub(" ", _as_text(value) or "")
    text = " ".join(text.split())
    return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 1] + "…"


def _parse_nombre(value: Cell, config: Config) -> str:
    """A name with at least one letter."""
    text = _as_text(value) or ""
    if not any(character.isalpha() for character in text):
        raise _Invalid(f"«{_shown(value)}» no parece un nombre")
    return text


_RFC_SEPARATORS = re.compile(r"[\s\-_.]")
_RFC_MORAL = re.compile(r"[A-ZÑ&]{3}\d{6}[A-Z0-9]{3}")
_RFC_WITHOUT_HOMOCLAVE = re.compile(r"[A-ZÑ&]{4}\d{6}")
_RFC_HOMOCLAVE = re.compile(r"[1-9A-V][1-9A-Z][0-9A]")


def _parse_rfc(value: Cell, config: Config) -> str:
    """An RFC de persona física (13 characters) with a correct check digit, or a generic one."""
    rfc = _RFC_SEPARATORS.sub("", _as_text(value) or "").upper()
    shown = _shown(value)
    if len(rfc) == 12 and _RFC_MORAL.fullmatch(rfc):
        raise _Invalid(
            f"el RFC «{shown}» es de persona moral (12 caracteres); para un usuario se necesita "
            "el RFC de persona física, de 13 caracteres con homoclave"
        )
    if len(rfc) == 10 and _RFC_WITHOUT_HOMOCLAVE.fullmatch(rfc):
        raise _Invalid(
            f"el RFC «{shown}» no tiene homoclave; escribe el RFC completo, de 13 caracteres"
        )
    if len(rfc) != 13:
        raise _Invalid(f"el RFC «{shown}» debe tener 13 caracteres (tiene {len(rfc)})")
    if not valid_rfc(rfc):
        raise _Invalid(f"el RFC «{shown}» no es válido ({_rfc_problem(rfc)})")
    return rfc


def _rfc_problem(rfc: str) -> str:
    """Why a 13-character RFC that valid_rfc refused is wrong, in Spanish."""
    from stdnum.exceptions import InvalidChecksum, InvalidFormat, ValidationError
    from stdnum.mx import rfc as stdnum_rfc

    try:
        stdnum_rfc.validate(rfc, validate_check_digits=True)
    except InvalidChecksum:
        return "dígito verificador"
    except InvalidFormat:
        return "deben ser 4 letras, 6 dígitos de la fecha de nacimiento y 3 caracteres de homoclave"
    except ValidationError:
        if not _valid_rfc_date(rfc[4:10]):
            return f"la fecha «{rfc[4:10]}» no existe; debe ser AAMMDD"
        if not _RFC_HOMOCLAVE.fullmatch(rfc[10:]):
            return "homoclave"
        return "las cuatro letras iniciales no son válidas"
    return "dígito verificador"


def _valid_rfc_date(digits: str) -> bool:
    """True when YYMMDD is a real date (any century has the same leap days but 1900)."""
    try:
        dt.date(2000 + int(digits[:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        return False
    return True


def _parse_email(value: Cell, config: Config) -> str:
    """An e-mail address (syntax only, no DNS), lower-cased."""
    from email_validator import EmailNotValidError, validate_email

    text = _as_text(value) or ""
    address = text.removeprefix("mailto:").strip("<> ")
    try:
        return validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise _Invalid(
            f"el correo «{_shown(value)}» no es válido: {_email_problem(address)}"
        ) from None


def _email_problem(address: str) -> str:
    """The most likely reason an address is invalid, in Spanish."""
    if "@" not in address:
        return "le falta la @"
    if address.count("@") > 1:
        return "tiene más de una @"
    if any(character.isspace() for character in address):
        return "tiene espacios"
    domain = address.rpartition("@")[2]
    if "." not in domain:
        return f"el dominio «{domain}» está incompleto"
    return "no es una dirección de correo válida"


# Common ways of writing Mexican zone names that fold_name alone does not reconcile.
_ZONE_IGNORED = frozenset({"de", "del", "la", "el", "zona"})
_ZONE_WORDS = {"estado": "edo", "edomex": "edo mexico", "mex": "mexico", "cd": "ciudad"}
_ZONE_PHRASES = {
    "ciudad mexico": "cdmx",
    "distrito federal": "cdmx",
    "df": "cdmx",
    "mexico df": "cdmx",
}


def _zone_key(name: str) -> str:
    """A looser comparison key for zone names: "Estado de México" = "Edo. Méx."."""
    words = [_ZONE_WORDS.get(word, word) for word in fold_name(name).split()]
    key = " ".join(word for word in words if word not in _ZONE_IGNORED)
    return _ZONE_PHRASES.get(key, key)


def _parse_zone(value: Cell, config: Config) -> str:
    """The configuration's name of the zone."""
    text = _as_text(value) or ""
    zone: Zone | None = config.zone_by_name(text)
    if zone is None:
        wanted = _zone_key(text)
        zone = next((z for z in config.zones if _zone_key(z.name) == wanted), None)
    if zone is not None:
        return zone.name
    if not config.zones:
        raise _Invalid(f"no hay zonas configuradas para validar la zona «{_shown(value)}»")
    names = _join_es([z.name for z in config.zones])
    raise _Invalid(f"la zona «{_shown(value)}» no existe; las zonas válidas son: {names}")


_PACKAGE_NUMBER = re.compile(r"\s*([12])(?:[.,]0+)?\s*")
_PACKAGE_WORDS = re.compile(r"(?:paquete|paq|pqt|p)?(?:no|num|numero)?(1|2|uno|dos)")
_PACKAGE_VALUES = {"1": 1, "uno": 1, "2": 2, "dos": 2}


def _parse_package(value: Cell, config: Config) -> int:
    """Paquete 1 or 2, written as 1, 1.0, "1", "Paquete 1", "P1", "paquete uno"..."""
    if isinstance(value, int) and not isinstance(value, bool) and value in (1, 2):
        return value
    text = _as_text(value) or ""
    number = _PACKAGE_NUMBER.fullmatch(text)
    if number:
        return int(number[1])
    words = _PACKAGE_WORDS.fullmatch(fold_name(text).replace(" ", ""))
    if words:
        return _PACKAGE_VALUES[words[1]]
    raise _Invalid(
        f"el paquete «{_shown(value)}» no es válido; indica 1 o 2 (Paquete 1 o Paquete 2)"
    )


_ALTA_WORDS = frozenset({"alta", "altas", "a", "nuevo", "nueva"})
_BAJA_WORDS = frozenset({"baja", "bajas", "b"})


def _parse_movement(value: Cell) -> Movement:
    """Alta or baja ("Alta", "ALTA de usuario", "B"...)."""
    words = fold_name(_as_text(value) or "").split()
    first = words[0] if words else ""
    if first in _ALTA_WORDS:
        return "alta"
    if first in _BAJA_WORDS:
        return "baja"
    raise _Invalid(f"el movimiento «{_shown(value)}» no es válido; indica Alta o Baja")


# --- report -----------------------------------------------------------------------------


def _join_es(items: Sequence[str]) -> str:
    """ "a, b y c" (an empty string for no items)."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} y {items[-1]}"


def _count(number: int, one: str, many: str) -> str:
    """ "una fila", "3 filas": ``one`` is the whole phrase for one."""
    return one if number == 1 else f"{number} {many}"


def _error_line(error: RowError) -> str:
    """One error as a line of the report."""
    if error.row and error.column:
        return f"Fila {error.row}, columna «{error.column}»: {error.message}."
    if error.row:
        return f"Fila {error.row}: {error.message}."
    return f"{error.message[:1].upper()}{error.message[1:]}."


def _summary(intake: Intake) -> str:
    """One sentence on how many rows are right and how many need a correction."""
    if intake.header_row == 0:
        return "En resumen: todavía no pudimos revisar a ningún usuario."
    rows = intake.rows_read
    if rows == 0:
        return "En resumen: el archivo no tiene usuarios por revisar."
    if rows > MAX_USERS:
        return (
            "En resumen: no revisamos a los usuarios uno por uno; lo haremos cuando cada archivo "
            f"tenga como máximo {MAX_USERS}."
        )
    missing = sum(1 for error in intake.errors if error.row == intake.header_row and error.column)
    if missing:
        columns = (
            "falta una columna obligatoria" if missing == 1 else "faltan columnas obligatorias"
        )
        return (
            f"En resumen: el archivo tiene {_count(rows, 'una fila', 'filas')} con datos, pero "
            f"{columns}, así que aún no podemos tramitar a ningún usuario."
        )
    valid = len(intake.users)
    bad = rows - valid
    right = {0: "ninguna está correcta", 1: "1 está correcta"}.get(
        valid, f"{valid} están correctas"
    )
    wrong = "1 requiere corrección" if bad == 1 else f"{bad} requieren corrección"
    sentence = f"En resumen: de {_count(rows, 'una fila', 'filas')} con datos, {right} y {wrong}."
    if valid:
        sentence += " Las filas correctas no necesitan cambios."
    return sentence


def _packages(users: Sequence[UserRow]) -> str:
    """ "2 con Paquete 1 y 1 con Paquete 2"."""
    parts = []
    for number in (1, 2):
        count = sum(1 for user in users if user.paquete == number)
        if count:
            parts.append(f"{count} con Paquete {number}")
    return _join_es(parts)


# No greeting or signature: the mail template around the text supplies them.
def report_es(intake: Intake) -> str:
    """The reply for the requester: the errors by row and column (the first ones), a summary."""
    where = f" (hoja «{intake.sheet}»)" if intake.sheet else ""
    if not intake.errors:
        count = len(intake.users)
        users = (
            "el usuario está completo y correcto"
            if count == 1
            else f"los {count} usuarios están completos y correctos"
        )
        lines = [
            f"Revisamos el formato de solicitud de usuarios{where}: {users} "
            f"({_packages(intake.users)}). Continuamos con el trámite y te mantendremos "
            "informado."
        ]
    else:
        found = _count(len(intake.errors), "un detalle", "detalles")
        listed = intake.errors[:REPORT_MAX_ERRORS]
        more = len(intake.errors) - len(listed)
        lines = [
            f"Revisamos el formato de solicitud de usuarios{where} y encontramos {found} que "
            "es necesario corregir antes de continuar con el trámite:",
            "",
            *(f"- {_error_line(error)}" for error in listed),
        ]
        if more:
            lines.append(
                f"- … y {_count(more, 'un detalle más', 'detalles más')} que no listamos aquí. "
                "Por favor revisa el archivo completo, no solo las filas de esta lista."
            )
        lines += [
            "",
            _summary(intake),
            "",
            "Te agradeceremos corregir el archivo y enviarlo de nuevo respondiendo a este mismo "
            "correo; en cuanto lo recibamos, continuamos con tu solicitud.",
        ]
    if intake.notes:
        lines.append("")
        lines.extend(f"Nota: {note}." for note in intake.notes)
    return "\n".join(lines)
