"""`mesabot doctor` on the IMAP backend, against a real Dovecot and aiosmtpd."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.doctor import diagnose
from tests.channels.harness_imap import ImapHarness, imap_harness
from tests.channels.servers import PASSWORD
from tests.conftest import ROOT


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ImapHarness]:
    """Dovecot + aiosmtpd."""
    with imap_harness(tmp_path) as h:
        yield h


def imap_config(tmp_path: Path, servers: ImapHarness, trusted: tuple[str, ...]) -> Config:
    """The shipped configuration switched to backend = "imap" on the test servers."""
    shutil.copyfile(ROOT / "config.toml", tmp_path / "config.toml")
    config = load_config(
        tmp_path / "config.toml", {"MESABOT_STORAGE_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    )
    imap, smtp = servers.settings()
    mail = config.mail.model_copy(
        update={"backend": "imap", "imap": imap, "smtp": smtp, "trusted_authserv_ids": trusted}
    )
    return config.model_copy(update={"mail": mail})


def test_doctor_passes_on_a_healthy_imap_set_up(
    tmp_path: Path, servers: ImapHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = imap_config(tmp_path, servers, ("mx.example.com",))
    monkeypatch.setenv("MESABOT_IMAP_PASSWORD", PASSWORD)
    monkeypatch.setenv("MESABOT_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("SSL_CERT_FILE", str(servers.imap.cert))
    from storage.db import Database
    from storage.migrate import upgrade

    db = Database(config.storage.url)
    upgrade(db.engine)
    db.dispose()
    checks = diagnose(config, tmp_path / "config.toml")
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    names = [c.name for c in checks]
    assert "IMAP: inicio de sesión" in names and "SMTP: conexión" in names
    assert "IMAP: carpeta Enviados" in names


def test_doctor_names_each_problem_with_its_fix(
    tmp_path: Path, servers: ImapHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = imap_config(tmp_path, servers, ())
    monkeypatch.setenv("MESABOT_IMAP_PASSWORD", "no-es")
    monkeypatch.setenv("MESABOT_SMTP_PASSWORD", "no-es")
    monkeypatch.setenv("SSL_CERT_FILE", str(servers.imap.cert))
    failing = {c.name: c for c in diagnose(config, tmp_path / "config.toml") if not c.ok}
    assert set(failing) == {
        "Aprobaciones por correo",
        "Base de datos",  # not migrated yet
        "IMAP: inicio de sesión",
        "SMTP: inicio de sesión",
    }
    assert "MESABOT_IMAP_PASSWORD" in failing["IMAP: inicio de sesión"].fix
    assert "MESABOT_SMTP_PASSWORD" in failing["SMTP: inicio de sesión"].fix
    assert "mesabot migrate" in failing["Base de datos"].fix
    assert all(c.fix for c in failing.values())
