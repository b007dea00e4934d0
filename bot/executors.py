"""Dispatcher executors beyond plain mail: CAM Pegasus writes, credential deliveries, jobs."""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot import recert
from bot.channels.base import OutboundChannel
from bot.channels.mime import FileRef, build_message
from bot.chat_links import CODE_TTL, TELEGRAM, LinkRefused, issue_code
from bot.dispatcher import OutboxJob, load_files, send_raw
from bot.documents.letters import custody_context, letter_template, local_date, render_letter
from bot.errors import ChannelUnavailable, MessageRejected
from bot.rules import ma005_recert as ma005
from bot.rules.dsl import event
from bot.systems.pegasus import Pegasus, PegasusError, PegasusFile
from bot.workflow import DOCX, Workflow, user_row
from storage.archive import Archive
from storage.db import Database
from storage.models import Case

log = logging.getLogger(__name__)

# Letters and digits that cannot be mistaken for one another when read off paper.
_LETTERS = "".join(c for c in string.ascii_letters if c not in "IlO")
_DIGITS = "23456789"
_SYMBOLS = "#$%&*+-=?@"
PASSWORD_LENGTH = 14


def generate_password(length: int = PASSWORD_LENGTH) -> str:
    """A random password from the OS's CSPRNG with upper, lower, digit and symbol."""
    alphabet = _LETTERS + _DIGITS + _SYMBOLS
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if (
            any(c.islower() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c in _DIGITS for c in candidate)
            and any(c in _SYMBOLS for c in candidate)
        ):
            return candidate


class PegasusWriter:
    """Applies a queued CAM Pegasus status change for one user."""

    def __init__(self, db: Database, archive: Archive, pegasus: Pegasus) -> None:
        self.db = db
        self.archive = archive
        self.pegasus = pegasus

    def __call__(self, job: OutboxJob) -> None:
        """Find the record (its id, else agent key, RFC or mail) and set the status with files."""
        p = job.payload
        record_id = str(p.get("id") or "")
        if not record_id or self.pegasus.status(record_id) is None:
            keys = {"rfc": p["rfc"], "correo": p["correo"], "clave": p.get("clave", "")}
            record = self.pegasus.find_user(**{k: v or None for k, v in keys.items()})
            if record is None:
                shown = ", ".join(f"{k} {v}" for k, v in keys.items() if v) or "sin datos"
                raise PegasusError(f"No existe en CAM Pegasus un registro con {shown}.")
            record_id = record.id
        files = [
            PegasusFile(f.filename, f.content, f.content_type)
            for f in load_files(self.db, self.archive, p.get("files", []))
        ]
        self.pegasus.set_status(record_id, p["status"], files=files, note=p.get("note", ""))


class CredentialsSender:
    """Sends one user's new credentials (with the carta custodia to sign, when asked).

    The password is generated here, put in the mail and the letter, handed to the channel
    and dropped: the database, the archive and the logs only ever see a placeholder.
    """

    def __init__(self, workflow: Workflow, mail: OutboundChannel) -> None:
        self.workflow = workflow
        self.mail = mail

    def __call__(self, job: OutboxJob) -> None:
        """Render mail and letter with a fresh password and send them."""
        p = job.payload
        wf = self.workflow
        org = wf.config.organization
        user = user_row(p["user"])
        login = str(p["user"].get("usuario") or "")
        password = generate_password()
        context = {**p["context"], "contrasena": password}
        rendered = wf.templates.mail(str(p["template"]), context)
        files: list[FileRef] = []
        if p.get("custody_letter", True):
            letter = render_letter(
                letter_template("custodia", wf.templates.root),
                custody_context(
                    org, user, login, password, local_date(job.now, org), str(p["case_ref"])
                ),
            )
            name = f"carta_custodia_{user.rfc or 'usuario'}.docx"
            files.append(FileRef(name, DOCX, letter))
        payload = {**p, "body": rendered.body, "html": rendered.html}
        raw = build_message(payload, job.now, files).as_bytes()
        send_raw(self.mail, raw, str(p["message_id"]))


class LinkCodeSender:
    """Mails a chat linking code, made here: only its salted hash is ever stored."""

    def __init__(self, workflow: Workflow, db: Database, mail: OutboundChannel) -> None:
        self.workflow = workflow
        self.db = db
        self.mail = mail

    def __call__(self, job: OutboxJob) -> None:
        """Issue the code (ending older ones) and send it to the directory address."""
        p = job.payload
        email = str(p["to"][0])
        with self.db.transaction() as s:
            try:
                issued = issue_code(s, TELEGRAM, int(p["user_id"]), email, job.now)
            except LinkRefused as refused:
                raise MessageRejected(refused.reason) from refused
        expires = self.workflow.calendar.local(issued.expires_at).strftime("%H:%M")
        context = {**p["context"], "codigo": issued.code, "vence": expires}
        context["minutos"] = int(CODE_TTL.total_seconds() // 60)
        rendered = self.workflow.templates.mail(str(p["template"]), context)
        payload = {**p, "body": rendered.body, "html": rendered.html}
        raw = build_message(payload, job.now, []).as_bytes()
        send_raw(self.mail, raw, str(p["message_id"]))


# A job: the case's I/O work between two steps; returns the facts its event carries.
CaseJob = Callable[[Workflow, Session, Case, datetime], Mapping[str, Any]]

# The explicit registry of jobs a process may ask for (RunJob), by name.
CASE_JOBS: Mapping[str, CaseJob] = {
    ma005.JOB_VALIDATE: recert.validate,
    ma005.JOB_PACKAGE: recert.package,
    ma005.JOB_EVIDENCE: recert.evidence,
}


class JobRunner:
    """Runs a case's job and hands its result back to the case, in one transaction."""

    def __init__(
        self, workflow: Workflow, db: Database, jobs: Mapping[str, CaseJob] = CASE_JOBS
    ) -> None:
        self.workflow = workflow
        self.db = db
        self.jobs = jobs

    def __call__(self, job: OutboxJob) -> None:
        """Run it while the case is still where it asked; a stale job does nothing."""
        p = job.payload
        run = self.jobs.get(str(p["job"]))
        if run is None:
            raise MessageRejected(f"no hay un trabajo llamado «{p['job']}»")
        wf = self.workflow
        with self.db.transaction() as s:
            case = s.get(Case, int(p["case_id"]))
            if case is None or case.closed_at is not None or case.state != p["state"]:
                # Already done before a crash, or the case moved on: nothing to hand back.
                log.info("trabajo %s del caso %s ya no aplica", p["job"], p["case_id"])
                return
            try:
                with s.begin_nested():
                    facts = dict(run(wf, s, case, job.now))
            except ChannelUnavailable:
                raise
            except Exception as exc:  # the case hears of it; the next step is a person's
                log.exception("trabajo %s del caso %s", p["job"], case.id)
                facts = {"estado": "error", "motivo": f"{type(exc).__name__}: {exc}"[:1000]}
            trigger = wf.trigger(event(str(p["job"])), facts={str(p["job"]): facts})
            wf.handle(s, case, trigger, job.now)
