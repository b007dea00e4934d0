"""MA-005's jobs: the work with I/O between the recertification's steps.

Each job reads what the case holds, does its I/O (CAM Pegasus, the Excel files, the letter,
the archive) and returns JSON-able facts; bot.executors.JobRunner hands them back to the
case as the event of the job's name, in the same transaction. A system that is down raises
ChannelUnavailable (the dispatcher retries); any other failure is a fact with its reason.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import spanish_long_date
from bot.channels.mime import FileRef, build_message
from bot.config import fold_name
from bot.documents.hid import hid_key
from bot.documents.letters import (
    LetterError,
    letter_template,
    local_date,
    render_letter,
    responsiva_context,
    responsiva_counts,
)
from bot.documents.recert import (
    SheetLayout,
    SpreadsheetError,
    final_statuses,
    write_enriched,
    write_final,
)
from bot.errors import ChannelUnavailable
from bot.rules.ma005_recert import consolidate, counts, respond_by
from bot.systems.pegasus import PegasusError, PegasusRecord
from bot.views import case_detail
from bot.workflow import Workflow, case_tag_ref
from storage.models import Attachment, Case, Message, Outbox

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ZIP = "application/zip"
# CAM Pegasus statuses the recertification keeps as they are; the rest are "Sin información".
KEPT = ("Activo", "Baja")
_UNSAFE_NAME = re.compile(r"[^\w.\- ]+")


def _ref(case: Case) -> str:
    """The file-name form of the case reference."""
    return f"{case.process}-{case.id}"


# --- validation against CAM Pegasus (pasos 5-7) ------------------------------------------


def check_users(
    users: Sequence[Mapping[str, Any]],
    roster: Sequence[PegasusRecord] | None,
    manual: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Each user with CAM Pegasus' status, the evidence for it, and the desk's proposal."""
    by_hid: dict[str, list[PegasusRecord]] = {}
    for record in roster or ():
        if record.hid.strip():
            by_hid.setdefault(hid_key(record.hid), []).append(record)
    by_name = _NameIndex(roster or ())
    checked: list[dict[str, Any]] = []
    for user in users:
        key = str(user["clave"])
        if manual is not None:
            status = manual.get(key, "Sin información")
            evidence = (
                "Capturado a mano en CAM Pegasus por un especialista"
                if key in manual
                else "Sin dato capturado a mano: se toma como sin información"
            )
        else:
            status, evidence = _match(user, by_hid.get(key, []), by_name)
        checked.append(
            {
                **user,
                "pegasus": status,
                "evidencia": evidence,
                "propuesta": "Activo" if status == "Activo" else "Baja",
            }
        )
    return checked


class _NameIndex:
    """CAM Pegasus' records by folded name, built only if some user has no HID match."""

    def __init__(self, roster: Sequence[PegasusRecord]) -> None:
        self.roster = roster
        self.index: dict[str, list[PegasusRecord]] | None = None

    def get(self, name: str) -> Sequence[PegasusRecord]:
        """The records with this folded name."""
        if self.index is None:
            self.index = {}
            for record in self.roster:
                self.index.setdefault(fold_name(record.nombre), []).append(record)
        return self.index.get(name, ())


def _same_name(a: str, b: str) -> bool:
    """The same name, ignoring case, spacing, accents and punctuation."""
    # Most names agree exactly but for case and spacing; only the rest pay for folding.
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold() or (
        fold_name(a) == fold_name(b)
    )


def _match(
    user: Mapping[str, Any], same_hid: Sequence[PegasusRecord], by_name: _NameIndex
) -> tuple[str, str]:
    """(status, evidence) of one user: by HID first, else by the exact name."""
    if len(same_hid) > 1:
        ids = ", ".join(r.id for r in same_hid)
        return "Sin información", f"El HID está repetido en CAM Pegasus (ids {ids})"
    how = "HID"
    record = same_hid[0] if same_hid else None
    if record is None:
        named = by_name.get(fold_name(str(user.get("nombre", ""))))
        if len(named) != 1:
            why = "varios registros con ese nombre" if named else "ningún registro"
            return "Sin información", f"CAM Pegasus: {why} con el HID {user['hid']} ni el nombre"
        record, how = named[0], "nombre (sin HID en CAM Pegasus)"
    evidence = f"CAM Pegasus id {record.id}, {record.nombre}: estatus «{record.status}», por {how}"
    if how == "HID" and not _same_name(record.nombre, str(user.get("nombre", ""))):
        evidence += f"; el nombre en CAM Pegasus es «{record.nombre}»"
    if record.status in KEPT:
        return record.status, evidence
    return "Sin información", f"{evidence}: alta en trámite, no activo"


def validate(wf: Workflow, s: Session, case: Case, now: datetime) -> dict[str, Any]:
    """Pasos 5-7: every user checked against CAM Pegasus; the enriched file for the areas."""
    users = list(case.data.get("usuarios", []))
    manual = case.data.get("pegasus_manual")
    pegasus = wf.pegasus
    roster: list[PegasusRecord] | None = None
    if manual is None and pegasus is not None and pegasus.reads:
        try:
            roster = pegasus.roster()
        except ChannelUnavailable:
            raise
        except PegasusError as exc:
            return {"estado": "error", "motivo": str(exc)}
    if manual is None and roster is None:
        rows = [{**u, "pegasus": "", "evidencia": "Revisar a mano en CAM Pegasus"} for u in users]
        sha = _store_enriched(wf, s, case, now, rows)
        return {"estado": "manual", "sha": sha}
    checked = check_users(users, roster, manual)
    summary = dict.fromkeys(("Activo", "Baja", "Sin información"), 0)
    for user in checked:
        summary[user["pegasus"]] = summary.get(user["pegasus"], 0) + 1
    sha = _store_enriched(wf, s, case, now, checked)
    return {"estado": "ok", "usuarios": checked, "sha": sha, "resumen": summary}


def _store_enriched(
    wf: Workflow, s: Session, case: Case, now: datetime, rows: Sequence[Mapping[str, Any]]
) -> str:
    """Write and archive the file the areas answer on."""
    deadline = datetime.fromisoformat(f"{case.data['fecha_limite']}T12:00").date()
    until = respond_by(now, wf.calendar, wf.process(case.process).settings, deadline)
    content = write_enriched(
        rows,
        case_ref=case_tag_ref(case),
        respond_by=spanish_long_date(wf.calendar.local(until).date()),
        deadline=spanish_long_date(deadline),
    )
    name = f"validacion_recertificacion_{_ref(case)}.xlsx"
    return wf.store_file(s, case, content, name, XLSX, now)


# --- the package: final Excel and carta responsiva (pasos 15, 18-20) ---------------------


def package(wf: Workflow, s: Session, case: Case, now: datetime) -> dict[str, Any]:
    """The final Excel in MetLife's layout and the carta responsiva, checked consistent."""
    users = list(case.data.get("usuarios", []))
    final, pending = consolidate(
        users, dict(case.data.get("respuestas", {})), dict(case.data.get("decisiones", {}))
    )
    if pending:
        return {"estado": "error", "motivo": f"quedan {len(pending)} discrepancias sin decisión"}
    layouts = [_layout(h) for h in case.data.get("hojas", [])]
    original = wf.need_archive().get(str(case.data["documentos"]["original"]["sha"]))
    statuses = {(str(u["hoja"]), int(u["fila"])): final[str(u["clave"])] for u in users}
    try:
        workbook = write_final(original, statuses, layouts)
    except SpreadsheetError as exc:
        return {"estado": "error", "motivo": f"No se pudo escribir el archivo final: {exc}"}
    per_app = counts(users, final)
    original_name = str(case.data.get("archivo", {}).get("archivo") or "recertificacion.xlsx")
    file_name = _final_name(original_name)
    org = wf.config.organization
    contact = wf.config.people.metlife_recert
    try:
        letter = render_letter(
            letter_template("responsiva", wf.templates.root),
            responsiva_context(
                org,
                wf.config.people.director,
                contact.name if contact is not None else "MetLife",
                [(app, c["Activo"], c["Baja"]) for app, c in per_app.items()],
                file_name,
                local_date(now, org),
                case_tag_ref(case),
            ),
        )
    except (LetterError, ValueError) as exc:
        return {"estado": "error", "motivo": f"No se pudo generar la carta responsiva: {exc}"}
    problems = consistency(workbook, letter, users, final, layouts)
    excel_sha = wf.store_file(s, case, workbook, file_name, XLSX, now)
    letter_sha = wf.store_file(s, case, letter, f"carta_responsiva_{_ref(case)}.docx", DOCX, now)
    active = sum(c["Activo"] for c in per_app.values())
    removed = sum(c["Baja"] for c in per_app.values())
    result: dict[str, Any] = {
        "estado": "ok" if not problems else "error",
        "excel": excel_sha,
        "carta": letter_sha,
        "conteos": per_app,
        "total": active + removed,
        "activos": active,
        "bajas": removed,
        "final": final,
    }
    if problems:
        result["motivo"] = "La carta y el archivo final no coinciden: " + "; ".join(problems[:10])
    return result


def _layout(held: Mapping[str, Any]) -> SheetLayout:
    """A sheet layout as the case keeps it (JSON) back as the reader's type."""
    return SheetLayout(
        name=str(held["name"]),
        header_row=int(held["header_row"]),
        columns={str(k): int(v) for k, v in dict(held["columns"]).items()},
        last_column=int(held["last_column"]),
        first_row=int(held["first_row"]),
        last_row=int(held["last_row"]),
    )


def _final_name(original: str) -> str:
    """The final file's name: MetLife's own, marked as certified, always .xlsx."""
    stem = original.rsplit(".", 1)[0] if "." in original else original
    stem = _UNSAFE_NAME.sub("_", stem).strip(" ._") or "recertificacion"
    return f"{stem[:80]}_certificado.xlsx"


def consistency(
    workbook: bytes,
    letter: bytes,
    users: Sequence[Mapping[str, Any]],
    final: Mapping[str, str],
    layouts: Sequence[SheetLayout],
) -> list[str]:
    """Paso 20: the Excel and the letter say the same (same users, counts per status)."""
    problems: list[str] = []
    written = final_statuses(workbook, layouts)
    expected = {str(u["clave"]) for u in users}
    lacking = sorted(expected - set(written))
    extra = sorted(set(written) - expected)
    if lacking:
        problems.append(f"faltan en el Excel {len(lacking)} usuario(s): {', '.join(lacking[:10])}")
    if extra:
        problems.append(f"sobran en el Excel {len(extra)} usuario(s): {', '.join(extra[:10])}")
    wrong = sorted(k for k in expected & set(written) if written[k] != final.get(k))
    if wrong:
        problems.append(
            f"{len(wrong)} estatus distinto(s) del consolidado: {', '.join(wrong[:10])}"
        )
    from_excel = counts(users, written)
    try:
        said = responsiva_counts(letter)
    except LetterError as exc:
        return [*problems, f"la carta no se puede leer: {exc}"]
    active = sum(c["Activo"] for c in from_excel.values())
    removed = sum(c["Baja"] for c in from_excel.values())
    if (said.active, said.removed, said.total) != (active, removed, active + removed):
        problems.append(
            f"la carta dice {said.active} activos y {said.removed} bajas; "
            f"el Excel tiene {active} y {removed}"
        )
    by_app = {app: (c["Activo"], c["Baja"]) for app, c in from_excel.items()}
    if dict(said.apps) != by_app:
        problems.append("los conteos por aplicación de la carta no coinciden con el Excel")
    return problems


# --- the evidence pack (paso 27) ----------------------------------------------------------


def evidence(wf: Workflow, s: Session, case: Case, now: datetime) -> dict[str, Any]:
    """One zip with the case's files, every mail in and out, and the case history."""
    archive = wf.need_archive()
    buffer = io.BytesIO()
    names: set[str] = set()
    count = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as pack:
        seen: set[str] = set()
        for row in s.scalars(
            select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.id)
        ):
            if row.sha256 in seen or row.content_type == ZIP:
                continue
            seen.add(row.sha256)
            pack.writestr(
                _unique(names, f"archivos/{_safe(row.filename)}"), archive.get(row.sha256)
            )
            count += 1
        messages = s.scalars(
            select(Message).where(Message.case_id == case.id).order_by(Message.at, Message.id)
        ).all()
        for number, message in enumerate(messages, 1):
            raw = _raw(wf, s, message)
            if raw is None:
                continue
            subject = _safe(message.subject)[:60] or "sin_asunto"
            kind = "recibido" if message.direction == "in" else "enviado"
            pack.writestr(_unique(names, f"correos/{number:03d}_{kind}_{subject}.eml"), raw)
            count += 1
        history = json.dumps(case_detail(wf, s, case), ensure_ascii=False, indent=2, default=str)
        pack.writestr("historial.json", history.encode())
        pack.writestr("LEEME.txt", _readme(wf, case, now, count).encode())
    content = buffer.getvalue()
    sha = wf.store_file(s, case, content, f"expediente_{_ref(case)}.zip", ZIP, now)
    return {"estado": "ok", "sha": sha, "archivos": count}


def _raw(wf: Workflow, s: Session, message: Message) -> bytes | None:
    """A message as an .eml: the bytes received, or the mail sent rebuilt from its outbox row."""
    if message.direction == "in":
        return wf.need_archive().get(message.raw_sha256) if message.raw_sha256 else None
    if message.channel != "mail":
        return None
    row = s.scalars(select(Outbox).where(Outbox.message_id == message.message_id).limit(1)).first()
    if row is None or row.kind != "mail":
        return None
    files = [
        FileRef(a.filename, a.content_type, wf.need_archive().get(a.sha256))
        for sha in row.payload.get("attachments", [])
        for a in s.scalars(select(Attachment).where(Attachment.sha256 == sha).limit(1))
    ]
    return build_message(row.payload, row.sent_at or message.at, files).as_bytes()


def _readme(wf: Workflow, case: Case, now: datetime, count: int) -> str:
    """What the pack holds, for whoever opens it in an audit."""
    data = case.data
    totals = dict(data.get("totales", {}))
    return (
        f"Expediente de la recertificación {case_tag_ref(case)}\n"
        f"Asunto: {case.subject}\n"
        f"Aplicaciones: {', '.join(data.get('aplicaciones', []))}\n"
        f"Fecha límite: {data.get('fecha_limite', '')}\n"
        f"Usuarios: {totals.get('total', 0)} ({totals.get('activos', 0)} activos, "
        f"{totals.get('bajas', 0)} bajas)\n"
        f"Enviado a MetLife: {data.get('enviado_at', '')}\n"
        f"Confirmado: {data.get('confirmado_at', '')}\n"
        f"Armado: {wf.calendar.local(now).isoformat()}\n"
        f"Contenido: {count} archivo(s) y correo(s); historial.json es el historial completo.\n"
    )


def _safe(name: str) -> str:
    """A file name safe in a zip on every system."""
    return _UNSAFE_NAME.sub("_", name).strip(" ._")[:120] or "archivo"


def _unique(names: set[str], name: str) -> str:
    """The name, numbered when the pack already holds it."""
    stem, dot, ext = name.rpartition(".")
    candidate, n = name, 1
    while candidate in names:
        n += 1
        candidate = f"{stem}_{n}.{ext}" if dot else f"{name}_{n}"
    names.add(candidate)
    return candidate
