"""`mesabot doctor`: is everything the daemon needs in place, and if not, how to fix it."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import text

from bot.channels import build_mail_channel
from bot.channels.base import Check
from bot.config import Config
from bot.systems.pegasus import build_pegasus
from storage.db import Database


def diagnose(config: Config, config_path: Path) -> list[Check]:
    """Every check, in the order an operator would fix them."""
    checks = [Check("Configuración", True, f"{config_path} es válida")]
    checks.extend(_approvals(config))
    db = Database(config.storage.url)
    try:
        checks.extend(_database(db))
        checks.append(_writable("Archivo de adjuntos", config.storage.archive))
        # Logging in needs no database: every problem is reported in one run.
        checks.extend(_mail(config, db))
        checks.append(_pegasus(config))
    finally:
        db.dispose()
    return checks


def _approvals(config: Config) -> list[Check]:
    """With a server backend, approvals need a trusted authserv-id (CONTRACT: who may approve)."""
    if config.mail.backend != "imap" or config.mail.trusted_authserv_ids:
        return []
    return [
        Check(
            "Aprobaciones por correo",
            False,
            "[mail] trusted_authserv_ids está vacío: ninguna aprobación llegada por IMAP "
            "podrá comprobarse y todas se tratarán como no autenticadas",
            "Ponga en trusted_authserv_ids el authserv-id que su servidor escribe en "
            "Authentication-Results (por ejemplo el nombre del servidor de correo).",
        )
    ]


def _database(db: Database) -> list[Check]:
    """Reachable, at the newest migration, writable."""
    from storage.migrate import current_revision, head_revision

    where = db.engine.url.render_as_string(hide_password=True)
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = current_revision(db.engine)
    except Exception as exc:  # any driver error is the operator's to read
        return [
            Check(
                "Base de datos",
                False,
                f"{where}: {type(exc).__name__}: {exc}",
                "Revise [storage] url (o MESABOT_STORAGE_URL), que el servidor esté en marcha "
                "y que el usuario tenga acceso.",
            )
        ]
    head = head_revision()
    if current != head:
        return [
            Check(
                "Base de datos",
                False,
                f"{where}: en la revisión {current or 'ninguna'}, la actual es {head}",
                "Ejecute `mesabot migrate` (también lo hace `mesabot run` al arrancar).",
            )
        ]
    return [Check("Base de datos", True, f"{where}, revisión {current}")]


def _writable(name: str, folder: Path) -> Check:
    """The folder exists (or can be made) and accepts a file."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".doctor.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return Check(
            name,
            False,
            f"{folder}: {exc.strerror or exc}",
            f"Cree la carpeta y dé permiso de escritura al usuario del bot: {folder}",
        )
    return Check(name, True, str(folder))


def _mail(config: Config, db: Database) -> list[Check]:
    """The mail backend logs in and finds its folders."""
    try:
        channel = build_mail_channel(config, db)
    except Exception as exc:  # a backend that cannot even be built says why
        return [
            Check(
                f"Correo ({config.mail.backend})",
                False,
                f"{type(exc).__name__}: {exc}",
                f"Revise la sección [mail.{config.mail.backend}] de la configuración.",
            )
        ]
    try:
        return channel.check()
    finally:
        channel.close()


def _pegasus(config: Config) -> Check:
    """CAM Pegasus answers its queries (or is manual, which is a choice, not a fault)."""
    settings = config.systems.pegasus
    try:
        pegasus = build_pegasus(settings, os.environ)
        try:
            return Check("CAM Pegasus", True, pegasus.check())
        finally:
            pegasus.close()
    except Exception as exc:
        return Check(
            f"CAM Pegasus ({settings.adapter})",
            False,
            f"{type(exc).__name__}: {exc}",
            "Revise la sección [systems.pegasus] (url_env y las consultas) de la configuración.",
        )
