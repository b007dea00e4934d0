"""What attached files are, for the rules: Excel forms, signed letters and screenshots.

Each inspection reads untrusted bytes through the safe readers of bot/documents and turns
the result into JSON-able facts for the trigger; a hostile file becomes a fact with a
Spanish reason, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from bot.config import Config
from bot.documents.intake import read_intake, report_es
from bot.documents.xlsx import Sheet, SpreadsheetError, read_rows

SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".xltx", ".ods", ".csv")
SPREADSHEET_TYPES = ("spreadsheet", "excel", "ms-xl", "/csv")
# A reply rarely carries more; a mail with dozens of files must not cost dozens of reads.
MAX_FORMS = 3
MAX_SIGNED = 10


@dataclass(frozen=True)
class FileIn:
    """An attached file: name, declared type, bytes and its archive digest."""

    filename: str
    content_type: str
    content: bytes
    sha256: str
    # The checked sheets once read: a process that inspects one spreadsheet two ways (the
    # recertification file, an area's answers) opens it once.
    read: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def sheets(self) -> list[Sheet]:
        """The file's worksheets through the safe reader, read at most once."""
        if "sheets" not in self.read:
            self.read["sheets"] = read_rows(self.content)
        sheets: list[Sheet] = self.read["sheets"]
        return sheets


def is_spreadsheet(file: FileIn) -> bool:
    """By name or declared type (the reader itself checks what the bytes really are)."""
    name = file.filename.lower()
    kind = file.content_type.lower()
    return name.endswith(SPREADSHEET_SUFFIXES) or any(t in kind for t in SPREADSHEET_TYPES)


def _form_of(file: FileIn, config: Config) -> dict[str, Any]:
    """The form facts of one spreadsheet."""
    base = {"archivo": file.filename, "sha": file.sha256}
    try:
        intake = read_intake(file.content, config)
    except SpreadsheetError as exc:
        return {
            **base,
            "estado": "ilegible",
            "informe": f"No pudimos revisar el archivo «{file.filename}»: {exc}",
        }
    users = [asdict(u) for u in intake.users]
    moves = {u.movimiento for u in intake.users if u.movimiento}
    if intake.ok and len(moves) > 1:
        return {
            **base,
            "estado": "errores",
            "informe": (
                f"El archivo «{file.filename}» mezcla altas y bajas. Para que cada trámite "
                "lleve su propia carta, envía las altas y las bajas en archivos separados, "
                "cada uno en su propio correo."
            ),
            "usuarios": users,
        }
    return {
        **base,
        "estado": "ok" if intake.ok else "errores",
        "informe": report_es(intake),
        "usuarios": users if intake.ok else [],
        "movimiento": next(iter(moves), ""),
    }


def inspect_form(files: Sequence[FileIn], config: Config, today: date) -> dict[str, Any]:
    """The request form: the first valid spreadsheet, else the first one with its errors."""
    sheets = [f for f in files if is_spreadsheet(f)][:MAX_FORMS]
    if not sheets:
        return {"estado": "ausente"}
    results = [_form_of(f, config) for f in sheets]
    return next((r for r in results if r["estado"] == "ok"), results[0])


def inspect_signed(files: Sequence[FileIn], config: Config, today: date) -> list[dict[str, Any]]:
    """PDF or image files checked as signed documents, the likeliest letter first."""
    # pypdf and Pillow load only when a mail brings such a file.
    from bot.documents.signed import UnacceptableDocument, check_signed, is_signed_candidate

    found: list[dict[str, Any]] = []
    for file in files:
        if len(found) >= MAX_SIGNED or is_spreadsheet(file):
            continue
        if not is_signed_candidate(file.filename, file.content_type, file.content):
            continue
        base = {"sha": file.sha256, "archivo": file.filename}
        try:
            checked = check_signed(file.content, file.filename)
        except UnacceptableDocument as exc:
            found.append({**base, "ok": False, "motivo": exc.reason})
            continue
        found.append(
            {
                **base,
                "ok": True,
                "tipo": checked.kind,
                "paginas": checked.pages,
                "pixeles": checked.width * checked.height,
            }
        )
    # A PDF before images, and a full-page scan before a logo someone attached too.
    found.sort(key=lambda f: (not f["ok"], f.get("tipo") != "pdf", -int(f.get("pixeles", 0))))
    return found


def inspect_agent_form(files: Sequence[FileIn], config: Config, today: date) -> dict[str, Any]:
    """An agent's complementary-data form (MA-002): the first readable one, checked."""
    from bot.documents.agent_form import read_agent_form

    sheets = [f for f in files if is_spreadsheet(f)][:MAX_FORMS]
    if not sheets:
        return {"estado": "ausente"}
    unreadable: dict[str, Any] = {}
    for file in sheets:
        base = {"archivo": file.filename, "sha": file.sha256}
        try:
            found = read_agent_form(file.content, today)
        except SpreadsheetError as exc:
            unreadable = unreadable or {
                **base,
                "estado": "ilegible",
                "informe": f"No pudimos leer el archivo «{file.filename}»: {exc}",
            }
            continue
        return {
            **base,
            "estado": "ok",
            "datos": dict(found.values),
            "errores": list(found.errors),
            "decision": found.decision,
            "caso": found.case_ref,
            "clave": found.clave,
        }
    return unreadable


def inspect_recert(files: Sequence[FileIn], config: Config, today: date) -> dict[str, Any]:
    """MetLife's recertification file (MA-005): the first spreadsheet with users in it."""
    from bot.documents.recert import parse_recert

    sheets = [f for f in files if is_spreadsheet(f)][:MAX_FORMS]
    if not sheets:
        return {"estado": "ausente"}
    first: dict[str, Any] = {}
    for file in sheets:
        base = {"archivo": file.filename, "sha": file.sha256}
        try:
            found = parse_recert(file.sheets(), file.filename)
        except SpreadsheetError as exc:
            first = first or {
                **base,
                "estado": "ilegible",
                "informe": f"No pudimos abrir el archivo «{file.filename}»: {exc}",
            }
            continue
        problems = list(found.problems)
        if not found.ok:
            first = first or {
                **base,
                "estado": "sin_usuarios",
                "problemas": problems,
                "informe": f"El archivo «{file.filename}» no trae usuarios: "
                + " ".join(problems[:5]),
            }
            continue
        return {
            **base,
            "estado": "ok",
            "usuarios": [u.as_dict() for u in found.users],
            "hojas": [_layout_json(layout) for layout in found.sheets],
            "aplicaciones": list(found.applications),
            "problemas": problems[:200],
            "informe": _recert_report(
                file.filename, len(found.users), found.applications, problems
            ),
        }
    return first


def _layout_json(layout: Any) -> dict[str, Any]:
    """A sheet layout as JSON the case can keep."""
    return {
        "name": layout.name,
        "header_row": layout.header_row,
        "columns": dict(layout.columns),
        "last_column": layout.last_column,
        "first_row": layout.first_row,
        "last_row": layout.last_row,
    }


def _recert_report(name: str, users: int, apps: Sequence[str], problems: Sequence[str]) -> str:
    """One Spanish paragraph on what the file holds."""
    text = f"El archivo «{name}» trae {users} usuario(s)"
    text += f" de {', '.join(apps)}." if apps else "."
    if problems:
        text += f" Observaciones ({len(problems)}): " + " ".join(problems[:5])
    return text


def inspect_recert_answers(files: Sequence[FileIn], config: Config, today: date) -> dict[str, Any]:
    """An area's answer on the validation file (MA-005): decisions by HID, or CAM Pegasus'."""
    from bot.documents.recert import parse_answers

    sheets = [f for f in files if is_spreadsheet(f)][:MAX_FORMS]
    if not sheets:
        return {"estado": "ausente"}
    first: dict[str, Any] = {}
    for file in sheets:
        base = {"archivo": file.filename, "sha": file.sha256}
        try:
            found = parse_answers(file.sheets())
        except SpreadsheetError as exc:
            first = first or {**base, "estado": "ilegible", "problemas": [str(exc)]}
            continue
        if not found.found:
            first = first or {**base, "estado": "sin_respuestas", "problemas": list(found.problems)}
            continue
        return {
            **base,
            "estado": "ok",
            "respuestas": {k: asdict(a) for k, a in found.answers.items()},
            "pegasus": dict(found.pegasus),
            "problemas": list(found.problems)[:200],
        }
    return first


# Every inspection reads the files it cares about; `today` dates what must be in force.
Inspection = Callable[[Sequence[FileIn], Config, date], Any]

# The explicit registry: a process names the inspections its mail needs (Process.inspects).
INSPECTIONS: Mapping[str, Inspection] = {
    "formulario": inspect_form,
    "formulario_agente": inspect_agent_form,
    "firmados": inspect_signed,
    "recertificacion": inspect_recert,
    "respuestas_recert": inspect_recert_answers,
}


def inspect(
    files: Sequence[FileIn], wanted: Sequence[str], config: Config, today: date
) -> dict[str, Any]:
    """The facts of every wanted inspection over these files."""
    return {name: INSPECTIONS[name](files, config, today) for name in wanted}
