"""MA-001 letters (autorización, custodia, baja): Word templates filled by docxtpl, PDF by soffice.

The templates live in templates/letters and are edited in Word; ``render_letter`` fills one
with a context made by ``director_context`` (alta or baja) or ``custody_context``,
escaping every value (autoescape), and ``to_pdf`` converts the result with a headless
LibreOffice that has its own profile and a time limit. The custody letter carries the
user's password: this module only passes it to the template, never logs or keeps it.
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
import zipfile
from collections.abc import Mapping, Sequence
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
    "convert",
    "custody_context",
    "director_context",
    "find_soffice",
    "letter_template",
    "local_date",
    "render_letter",
    "spanish_long_date",
    "to_pdf",
]

log = logging.getLogger(__name__)

LetterKind = Literal["autorizacion", "custodia", "baja"]
LETTER_FILES: dict[LetterKind, str] = {
    "autorizacion": "carta_autorizacion.docx",
    "custodia": "carta_custodia.docx",
    "baja": "carta_baja.docx",
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
