"""Letters: Word templates filled by docxtpl, PDF by soffice.

MA-001 has the carta de autorización, de baja and custodia; MA-005 the carta responsiva of
the yearly recertification. The templates live in templates/letters and are edited in Word;
``render_letter`` fills one with a context made by ``director_context`` (alta or baja),
``custody_context`` or ``responsiva_context``, escaping every value (autoescape), and
``to_pdf`` converts the result with a headless LibreOffice that has its own profile and a
time limit. ``responsiva_counts`` reads the user counts back from a rendered responsiva's
table. The custody letter carries the user's password: this module only passes it to the
template, never logs or keeps it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import types
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any, Literal, TypedDict

from jinja2 import Environment, StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError

from bot.calendar import spanish_long_date
from bot.config import Organization, Person
from bot.documents.intake import UserRow
from bot.errors import MesabotError
from bot.templates import default_templates_dir

__all__ = [
    "DEFAULT_PLACE",
    "DIRECTOR_TITLE",
    "LETTER_FILES",
    "Concealed",
    "CustodyContext",
    "DirectorLetterContext",
    "LetterError",
    "LetterKind",
    "LetterUser",
    "ResponsivaApp",
    "ResponsivaContext",
    "ResponsivaCounts",
    "convert",
    "custody_context",
    "director_context",
    "find_soffice",
    "letter_template",
    "local_date",
    "render_letter",
    "responsiva_context",
    "responsiva_counts",
    "spanish_list",
    "spanish_long_date",
    "to_pdf",
]

log = logging.getLogger(__name__)

LetterKind = Literal["autorizacion", "custodia", "baja", "responsiva"]
LETTER_FILES: dict[LetterKind, str] = {
    "autorizacion": "carta_autorizacion.docx",
    "custodia": "carta_custodia.docx",
    "baja": "carta_baja.docx",
    "responsiva": "carta_responsiva.docx",
}
DEFAULT_PLACE = "Ciudad de México"
DIRECTOR_TITLE = "Director General"
CONVERT_TIMEOUT = 60.0
# Characters XML 1.0 cannot hold: a stray control character from a spreadsheet would
# otherwise make Word refuse the whole document.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_SPACES = re.compile(r"\s+")
_MASK = "********"


class LetterError(MesabotError):
    """A letter could not be rendered or converted; the message is Spanish, for people."""


class Concealed(str):
    """A string whose repr hides it, so a logged or printed context does not show it."""

    __slots__ = ()

    def __repr__(self) -> str:
        """Stars instead of the value."""
        return repr(_MASK)


class LetterUser(TypedDict):
    """One user as the letters show it: every field is text, empty when unknown."""

    nombre: str
    rfc: str
    correo: str
    zona: str
    paquete: str
    promotoria: str
    puesto: str


class DirectorLetterContext(TypedDict):
    """Variables of the letters the director signs (carta de autorización, carta de baja)."""

    organization: str
    place: str
    date: str
    case_ref: str
    director_name: str
    director_title: str
    users: list[LetterUser]


class CustodyContext(TypedDict):
    """Variables of the carta custodia, which the user signs."""

    organization: str
    place: str
    date: str
    case_ref: str
    user: LetterUser
    username: str
    password: str


class ResponsivaApp(TypedDict):
    """One application's row in the carta responsiva: its users, active and removed."""

    name: str
    total: int
    active: int
    removed: int


class ResponsivaContext(TypedDict):
    """Variables of the carta responsiva (MA-005), which the director signs."""

    organization: str
    place: str
    date: str
    year: int
    case_ref: str
    director_name: str
    director_title: str
    metlife_contact: str
    applications_text: str
    file_name: str
    apps: list[ResponsivaApp]
    total: int
    active: int
    removed: int


@dataclass(frozen=True)
class ResponsivaCounts:
    """The counts a rendered carta responsiva states; ``apps`` maps name to (active, removed)."""

    total: int
    active: int
    removed: int
    apps: Mapping[str, tuple[int, int]] = field(hash=False)


# --- contexts ---------------------------------------------------------------------------


def local_date(now: datetime, org: Organization) -> date:
    """The organization's calendar date at an aware instant (the date a letter carries)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware, got naive {now.isoformat()}")
    return now.astimezone(org.tz).date()


def _day(today: date) -> date:
    """Reject datetimes: their calendar date depends on a time zone (use local_date)."""
    if isinstance(today, datetime):
        raise TypeError(f"expected a date, got datetime {today.isoformat()}; use local_date()")
    return today


def _text(value: object) -> str:
    """Printable one-line text: no XML-invalid characters, runs of whitespace made one space."""
    if value is None:
        return ""
    return _NOT_XML.sub("", _SPACES.sub(" ", str(value))).strip()


def _letter_user(user: UserRow) -> LetterUser:
    """The letter's view of a form row."""
    return {
        "nombre": _text(user.nombre),
        "rfc": _text(user.rfc),
        "correo": _text(user.correo),
        "zona": _text(user.zona),
        "paquete": _text(user.paquete),
        "promotoria": _text(user.promotoria),
        "puesto": _text(user.puesto),
    }


def director_context(
    movement: Literal["alta", "baja"],
    org: Organization,
    director: Person,
    users: Sequence[UserRow],
    today: date,
    case_ref: str,
    *,
    director_title: str = DIRECTOR_TITLE,
    place: str = DEFAULT_PLACE,
) -> DirectorLetterContext:
    """Context of a letter the director signs: the carta de autorización (alta) or de baja."""
    if not users:
        raise ValueError("a letter needs at least one user")
    for user in users:
        if user.movimiento is not None and user.movimiento != movement:
            raise ValueError(
                f"row {user.row}: movimiento {user.movimiento!r} in a letter of {movement}"
            )
    return {
        "organization": _text(org.name),
        "place": _text(place),
        "date": spanish_long_date(_day(today)),
        "case_ref": _text(case_ref),
        "director_name": _text(director.name),
        "director_title": _text(director_title),
        "users": [_letter_user(user) for user in users],
    }


def custody_context(
    org: Organization,
    user: UserRow,
    username: str,
    password: str,
    today: date,
    case_ref: str,
    *,
    place: str = DEFAULT_PLACE,
) -> CustodyContext:
    """Context of the carta custodia: the user receives these credentials and keeps them."""
    # Whitespace or control characters would be lost or mangled in the letter; the error
    # never quotes the password.
    if not password or not password.isprintable() or any(c.isspace() for c in password):
        raise ValueError("the password must be printable characters without spaces")
    login = _text(username)
    if not login:
        raise ValueError("the user name is empty")
    return {
        "organization": _text(org.name),
        "place": _text(place),
        "date": spanish_long_date(_day(today)),
        "case_ref": _text(case_ref),
        "user": _letter_user(user),
        "username": login,
        "password": Concealed(password),
    }


def _conjunction(word: str) -> str:
    """Spanish "and" before a word: "e" before an /i/ sound (Intranet, Hidalgo), else "y"."""
    folded = "".join(
        c for c in unicodedata.normalize("NFD", word.casefold()) if not unicodedata.combining(c)
    )
    if len(word) > 1 and word[0] == "i" and word[1].isupper():
        return "y"  # iPad, iPhone: an English brand, said "ai"
    rest = folded[2:] if folded.startswith("hi") else folded[1:] if folded[:1] == "i" else None
    # "hie", "hia" (hielo, hierba) and "io" start with a diphthong, said like "y".
    return "e" if rest is not None and rest[:1] not in {"a", "e", "i", "o", "u"} else "y"


def spanish_list(items: Sequence[str]) -> str:
    """Items joined as Spanish writes them: "A", "A y B", "A, B y C" ("e" before /i/)."""
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {_conjunction(items[-1])} {items[-1]}"


def _count(value: object, what: str) -> int:
    """A user count: an int (not a bool or a float), zero or more."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")
    return value


def responsiva_context(
    org: Organization,
    director: Person,
    metlife_contact: str,
    apps: Sequence[tuple[str, int, int]],
    file_name: str,
    today: date,
    case_ref: str,
    *,
    director_title: str = DIRECTOR_TITLE,
    place: str = DEFAULT_PLACE,
) -> ResponsivaContext:
    """Context of the carta responsiva: per application (name, activos, bajas), totals, the date."""
    if not apps:
        raise ValueError("a carta responsiva needs at least one application")
    rows: list[ResponsivaApp] = []
    seen: set[str] = set()
    for name, active, removed in apps:
        label = _text(name)
        if not label:
            raise ValueError(f"empty application name: {name!r}")
        if label.casefold() in seen:
            raise ValueError(f"application {label!r} listed twice")
        seen.add(label.casefold())
        active = _count(active, f"{label}: active users")
        removed = _count(removed, f"{label}: removed users")
        rows.append(
            {"name": label, "total": active + removed, "active": active, "removed": removed}
        )
    contact = _text(metlife_contact)
    if not contact:
        raise ValueError("the MetLife contact is empty")
    attached = _text(file_name)
    if not attached:
        raise ValueError("the recertification file name is empty")
    day = _day(today)
    return {
        "organization": _text(org.name),
        "place": _text(place),
        "date": spanish_long_date(day),
        "year": day.year,
        "case_ref": _text(case_ref),
        "director_name": _text(director.name),
        "director_title": _text(director_title),
        "metlife_contact": contact,
        "applications_text": spanish_list([row["name"] for row in rows]),
        "file_name": attached,
        "apps": rows,
        "total": sum(row["total"] for row in rows),
        "active": sum(row["active"] for row in rows),
        "removed": sum(row["removed"] for row in rows),
    }


# --- rendering --------------------------------------------------------------------------


def letter_template(kind: LetterKind, templates_dir: Path | None = None) -> Path:
    """Path of a letter's template under a templates folder (default: the shipped one)."""
    root = templates_dir if templates_dir is not None else default_templates_dir()
    return root / "letters" / LETTER_FILES[kind]


def render_letter(template: Path, context: Mapping[str, Any]) -> bytes:
    """Fill a .docx template; every value is XML-escaped, a missing variable is an error."""
    from docxtpl import DocxTemplate

    if not template.is_file():
        raise LetterError(f"No se encontró la plantilla de la carta: {template}")
    env = Environment(autoescape=True, undefined=StrictUndefined)
    try:
        document = DocxTemplate(template)
        document.render(dict(context), jinja_env=env, autoescape=True)
        buffer = BytesIO()
        document.save(buffer)
    except TemplateSyntaxError as exc:
        raise LetterError(
            f"La plantilla {template.name} tiene un error en una etiqueta: {exc.message}. "
            "Revise que las etiquetas entre llaves estén completas y usen comillas rectas."
        ) from exc
    except UndefinedError as exc:
        raise LetterError(
            f"La plantilla {template.name} usa un campo que la carta no tiene: {exc.message}."
        ) from exc
    except TemplateError as exc:
        raise LetterError(f"No se pudo llenar la plantilla {template.name}: {exc}.") from exc
    except (zipfile.BadZipFile, KeyError) as exc:
        raise LetterError(
            f"La plantilla {template.name} no es un documento de Word (.docx) válido."
        ) from exc
    data = buffer.getvalue()
    log.info("carta generada con %s (%d bytes)", template.name, len(data))
    return data


# --- reading a rendered responsiva back ----------------------------------------------------

_NUMBER = re.compile(r"\d+|\d{1,3}(?:,\d{3})+")


def _table_count(text: str, where: str) -> int:
    """A count as the table writes it ("1234" or "1,234"), or a LetterError."""
    value = text.strip()
    if not _NUMBER.fullmatch(value):
        raise LetterError(
            f"La carta responsiva tiene una cantidad no válida en {where}: {value!r}."
        )
    return int(value.replace(",", ""))


def responsiva_counts(docx: bytes) -> ResponsivaCounts:
    """The user counts a rendered carta responsiva states in its table (not its context)."""
    from docx import Document

    from bot.documents.letter_templates import APP_COLUMNS, TOTAL_LABEL

    try:
        document = Document(BytesIO(docx))
    except (zipfile.BadZipFile, KeyError, ValueError, SyntaxError) as exc:
        raise LetterError("La carta responsiva no es un documento de Word (.docx) válido.") from exc
    headers = [header for header, _attribute, _width in APP_COLUMNS]
    tables = [
        table
        for table in document.tables
        if [cell.text.strip() for cell in table.rows[0].cells] == headers
    ]
    if len(tables) != 1:
        raise LetterError(
            "La carta responsiva no tiene la tabla de usuarios por aplicación "
            f"({' | '.join(headers)})."
        )
    rows = [[cell.text.strip() for cell in row.cells] for row in tables[0].rows[1:]]
    if len(rows) < 2 or rows[-1][0] != TOTAL_LABEL:
        raise LetterError(
            "La tabla de la carta responsiva debe tener al menos una aplicación y terminar "
            f"con la fila «{TOTAL_LABEL}»."
        )
    apps: dict[str, tuple[int, int]] = {}
    for name, *cells in rows[:-1]:
        if not name or name in apps:
            raise LetterError(
                f"La carta responsiva tiene una aplicación vacía o repetida: {name!r}."
            )
        total, active, removed = (_table_count(cell, name) for cell in cells)
        if total != active + removed:
            raise LetterError(
                f"En la carta responsiva, {name} suma {active} activos y {removed} bajas, "
                f"pero indica {total} usuarios."
            )
        apps[name] = (active, removed)
    total, active, removed = (_table_count(cell, TOTAL_LABEL) for cell in rows[-1][1:])
    sums = (
        sum(a for a, _r in apps.values()) + sum(r for _a, r in apps.values()),
        sum(a for a, _r in apps.values()),
        sum(r for _a, r in apps.values()),
    )
    if (total, active, removed) != sums:
        raise LetterError(
            f"En la carta responsiva, la fila «{TOTAL_LABEL}» ({total} usuarios, {active} "
            f"activos, {removed} bajas) no coincide con la suma de las aplicaciones "
            f"({sums[0]}, {sums[1]}, {sums[2]})."
        )
    return ResponsivaCounts(total, active, removed, types.MappingProxyType(apps))


# --- conversion with LibreOffice --------------------------------------------------------


def find_soffice() -> str:
    """The LibreOffice executable (soffice, or libreoffice), or a LetterError."""
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        raise LetterError(
            "No se encontró LibreOffice (soffice) en este equipo; instale "
            "libreoffice-writer-nogui para generar las cartas en PDF."
        )
    return found


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill LibreOffice's whole process group (the launcher forks soffice.bin) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        log.warning("LibreOffice (pid %d) no terminó tras SIGKILL", process.pid)


def _last_line(*outputs: bytes) -> str:
    """The last non-empty line LibreOffice printed, for an error message."""
    for output in outputs:
        lines = [line.strip() for line in output.decode(errors="replace").splitlines()]
        lines = [line for line in lines if line]
        if lines:
            return lines[-1]
    return "sin mensaje"


def convert(
    sources: Sequence[Path],
    target: str,
    outdir: Path,
    *,
    timeout: float = CONVERT_TIMEOUT,
    profile: Path | None = None,
) -> list[Path]:
    """Convert with one headless soffice run to ``target`` ("pdf", "txt:Text"); outputs in order."""
    if not sources:
        return []
    stems = [source.stem for source in sources]
    if len(set(stems)) != len(stems):
        raise ValueError(f"two sources would write the same output: {stems}")
    soffice = find_soffice()
    extension = target.split(":", 1)[0]
    outdir.mkdir(parents=True, exist_ok=True)
    outputs = [outdir / f"{stem}.{extension}" for stem in stems]
    for output in outputs:
        output.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="mesabot-soffice-") as scratch:
        # Two soffice processes on one profile interfere, so each run gets a fresh one unless
        # the caller keeps one per worker (creating it is most of a first start's seconds).
        profile_dir = (profile if profile is not None else Path(scratch) / "profile").resolve()
        command = [
            soffice,
            f"-env:UserInstallation={profile_dir.as_uri()}",
            "--headless",
            "--invisible",
            "--nologo",
            "--nodefault",
            "--nolockcheck",
            "--norestore",
            "--convert-to",
            target,
            "--outdir",
            str(outdir),
            *(str(source) for source in sources),
        ]
        # Its own session: on a timeout the launcher and soffice.bin die together.
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise LetterError(
                f"No se pudo ejecutar LibreOffice ({soffice}): {exc.strerror or exc}."
            ) from exc
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(process)
            raise LetterError(
                f"LibreOffice no terminó la conversión a {extension.upper()} en {timeout:g} s "
                "y se detuvo; intente de nuevo."
            ) from None
        except BaseException:
            _stop(process)
            raise
    log.debug("soffice terminó con código %d: %s", process.returncode, _last_line(stdout))
    missing = [
        source.name
        for source, output in zip(sources, outputs, strict=True)
        if not output.is_file() or output.stat().st_size == 0
    ]
    if process.returncode != 0 or missing:
        names = ", ".join(missing) if missing else ", ".join(source.name for source in sources)
        raise LetterError(
            f"LibreOffice no pudo convertir {names} a {extension.upper()} "
            f"(código {process.returncode}): {_last_line(stderr, stdout)}"
        )
    return outputs


def to_pdf(docx: bytes, *, timeout: float = CONVERT_TIMEOUT, profile: Path | None = None) -> bytes:
    """A rendered letter as PDF, converted by headless LibreOffice in a private folder."""
    # The letter may hold a password: it only touches disk in this private folder, which
    # is removed as soon as the PDF has been read.
    with tempfile.TemporaryDirectory(prefix="mesabot-carta-") as folder:
        root = Path(folder)
        source = root / "carta.docx"
        source.write_bytes(docx)
        [pdf] = convert([source], "pdf", root / "pdf", timeout=timeout, profile=profile)
        data = pdf.read_bytes()
    if not data.startswith(b"%PDF"):
        raise LetterError("LibreOffice no produjo un PDF válido de la carta.")
    return data
