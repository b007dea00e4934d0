"""IMAP + SMTP specifics, against a real Dovecot and aiosmtpd, through the whole app."""

from __future__ import annotations

import os
import shutil
import ssl
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select

from bot.app import App, build_app, run_once
from bot.channels.imap import QUARANTINE_FOLDER, ImapChannel
from bot.clock import FixedClock
from bot.config import Config, load_config
from bot.errors import ChannelAuthFailed, ChannelUnavailable
from storage.models import Case, Message
from tests.channels.harness import MB, inbound, outbound
from tests.channels.harness_imap import ImapHarness, imap_harness
from tests.channels.servers import PASSWORD, USER
from tests.conftest import ROOT, mx


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ImapHarness]:
    """Dovecot + aiosmtpd."""
    with imap_harness(tmp_path) as h:
        yield h


@pytest.fixture
def config(tmp_path: Path, sqlite_template: Path) -> Config:
    """The shipped config on SQLite: these tests are about the mail servers."""
    shutil.copyfile(sqlite_template, tmp_path / "mesabot.db")
    shutil.copyfile(ROOT / "config.toml", tmp_path / "config.toml")
    url = f"sqlite:///{tmp_path / 'mesabot.db'}"
    return load_config(tmp_path / "config.toml", {"MESABOT_STORAGE_URL": url})


@pytest.fixture
def app(servers: ImapHarness, config: Config, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """The whole bot with backend = "imap" on those servers, before the 08:00 digest."""
    imap, smtp = servers.settings()
    imap = imap.model_copy(update={"done_folder": "Procesados"})
    mail = config.mail.model_copy(
        update={"backend": "imap", "imap": imap, "smtp": smtp, "max_message_mb": 1}
    )
    monkeypatch.setenv(imap.password_env, PASSWORD)
    monkeypatch.setenv(str(smtp.password_env), PASSWORD)
    monkeypatch.setenv("SSL_CERT_FILE", str(servers.imap.cert))  # trust the test CA
    application = build_app(
        config.model_copy(update={"mail": mail}), FixedClock(mx(2026, 11, 23, 7, 0)), ROOT
    )
    yield application
    application.mail.close()
    application.db.dispose()


def folder_count(servers: ImapHarness, folder: str) -> int:
    """Messages in a folder of the test mailbox."""
    return servers._count(folder, ["ALL"])


def test_mail_runs_through_the_bot_and_answers_go_out_by_smtp(
    app: App, servers: ImapHarness
) -> None:
    for n in range(3):
        servers.deliver(inbound(n, sender=f"agente{n}@example.com"))
    report = run_once(app)
    assert report.ingest.counts == {"opened": 3}
    assert report.dispatch.sent == 3
    acks = [message_from_bytes(raw, policy=policy.default) for raw in servers.sent()]
    assert all("[MA-006 #" in str(m["Subject"]) for m in acks)
    assert all(m["Auto-Submitted"] == "auto-replied" for m in acks)
    # Processed mail went to the done folder, a copy of each answer to the sent folder.
    assert (folder_count(servers, "INBOX"), folder_count(servers, "Procesados")) == (0, 3)
    assert folder_count(servers, "Enviados") == 3
    assert run_once(app).ingest.counts == {}


def test_a_uidvalidity_change_resyncs_by_message_id(app: App, servers: ImapHarness) -> None:
    imap, _ = servers.settings()
    app.mail.imap = imap  # no done folder: the processed mail stays in INBOX, read
    # Read a month before the bot was switched on: the first pass leaves it alone, and
    # so must the re-sync.
    old = servers.imap.deliver(inbound(99))
    month_ago = time.time() - 30 * 86400
    os.utime(old, (month_ago, month_ago))
    old.rename(old.parent.parent / "cur" / f"{old.name}:2,S")
    for n in range(2):
        servers.deliver(inbound(n))
    assert run_once(app).ingest.counts == {"opened": 2}
    app.mail.close()
    servers.imap.reset_uidvalidity()
    servers.deliver(inbound(2))
    report = run_once(app)
    # The two known messages are recognised by Message-ID, not ingested again.
    assert report.ingest.counts == {"opened": 1}
    with app.db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 3
        inbound_rows = s.scalar(
            select(func.count()).select_from(Message).where(Message.direction == "in")
        )
    assert inbound_rows == 3
    assert servers.waiting() == 0


def test_a_server_restart_mid_fetch_loses_nothing(app: App, servers: ImapHarness) -> None:
    for n in range(60):
        servers.deliver(inbound(n))
    channel = app.mail
    assert isinstance(channel, ImapChannel)
    messages = channel.fetch()
    first = next(messages)
    assert first.raw
    servers.imap.restart()  # the connection the fetch is using dies under it
    with pytest.raises(ChannelUnavailable):
        list(messages)
    report = run_once(app)  # the next cycle starts over: all 60, each once
    assert report.ingest.counts == {"opened": 60}
    assert run_once(app).ingest.counts == {}
    with app.db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 60


def test_mail_over_the_limit_stays_on_the_server_with_one_notice(
    app: App, servers: ImapHarness
) -> None:
    servers.deliver(inbound(0, size=2 * MB))
    report = run_once(app)
    assert report.ingest.counts == {"quarantined": 1}
    assert run_once(app).ingest.counts == {}
    assert folder_count(servers, QUARANTINE_FOLDER) == 1
    notices = [
        m
        for m in (message_from_bytes(r, policy=policy.default) for r in servers.sent())
        if "cuarentena" in str(m["Subject"]).lower()
    ]
    assert len(notices) == 1
    assert "MB" in notices[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_the_first_pass_takes_unread_mail_only(app: App, servers: ImapHarness) -> None:
    old = servers.imap.deliver(inbound(0))
    # Read by someone before the bot was switched on: a flagged file in cur/.
    old.rename(old.parent.parent / "cur" / f"{old.name}:2,S")
    servers.deliver(inbound(1))
    assert run_once(app).ingest.counts == {"opened": 1}
    # From then on everything new counts, even if a person read it first.
    read_first = servers.imap.deliver(inbound(2))
    read_first.rename(read_first.parent.parent / "cur" / f"{read_first.name}:2,S")
    assert run_once(app).ingest.counts == {"opened": 1}


def test_idle_wakes_up_when_mail_arrives(servers: ImapHarness) -> None:
    channel = servers.channel()
    timer = threading.Timer(0.5, servers.deliver, args=(inbound(0),))
    timer.start()
    try:
        started = time.monotonic()
        assert channel.watch(timeout=10) is True
        assert time.monotonic() - started < 8
        assert channel.watch(timeout=0.2) is False  # nothing more
    finally:
        timer.cancel()
        channel.close()


def test_implicit_tls_on_the_imaps_port(servers: ImapHarness) -> None:
    servers.deliver(inbound(0))
    imap, _ = servers.settings()
    channel = servers.channel(
        imap=imap.model_copy(update={"port": servers.imap.tls_port, "security": "tls"})
    )
    try:
        assert len(list(channel.fetch())) == 1
    finally:
        channel.close()


def test_an_untrusted_certificate_is_refused(servers: ImapHarness) -> None:
    channel = servers.channel(ssl_context=ssl.create_default_context)  # the system's CAs only
    try:
        with pytest.raises(ChannelUnavailable, match="CERTIFICATE"):
            list(channel.fetch())
    finally:
        channel.close()


def test_smtp_busy_is_temporary_and_bad_login_is_an_auth_failure(
    servers: ImapHarness,
) -> None:
    channel = servers.channel()
    servers.smtp.busy = 1
    try:
        with pytest.raises(ChannelUnavailable, match="451"):
            channel.send(outbound(1), key="<mesabot.1@example.com>")
        channel.send(outbound(1), key="<mesabot.1@example.com>")  # the retry goes through
    finally:
        channel.close()
    assert len(servers.sent()) == 1
    wrong = servers.channel(password="otra")
    with pytest.raises(ChannelAuthFailed):
        wrong.imap = wrong.imap.model_copy(update={"sent_folder": None})
        wrong.send(outbound(2), key="<mesabot.2@example.com>")
    wrong.close()


def test_nothing_is_ever_deleted(app: App, servers: ImapHarness) -> None:
    for n in range(4):
        servers.deliver(inbound(n, sender=f"agente{n}@example.com"))
    servers.deliver(b"")  # an empty file: quarantined
    run_once(app)
    client = IMAPClient("127.0.0.1", port=servers.imap.port, ssl=False)
    client.login(USER, PASSWORD)
    try:
        total = 0
        for _, _, name in client.list_folders():
            info = client.select_folder(name, readonly=True)
            total += int(info[b"EXISTS"])
            assert not client.search(["DELETED"])
    finally:
        client.logout()
    assert total == 5 + 5  # five inbound (done folder, quarantine) and five copies sent


def test_check_names_what_is_wrong(servers: ImapHarness) -> None:
    imap, smtp = servers.settings()
    channel = servers.channel(
        imap=imap.model_copy(update={"folder": "NoExiste"}),
        smtp=smtp.model_copy(update={"port": servers.imap.tls_port + 1}),  # nobody listens
    )
    try:
        failing = {c.name: c for c in channel.check() if not c.ok}
    finally:
        channel.close()
    assert set(failing) == {"IMAP: carpeta NoExiste", "SMTP: conexión"}
    assert "folder" in failing["IMAP: carpeta NoExiste"].fix


def test_the_daemon_answers_new_mail_at_once_with_idle(app: App, servers: ImapHarness) -> None:
    import os
    import signal

    from bot.app import last_heartbeat, run_daemon
    from bot.clock import SystemClock
    from tests.channels.servers import wait_for

    # An hour between cycles: only IDLE can explain a quick answer.
    daemon = app.config.daemon.model_copy(update={"sweep_interval_seconds": 3600})
    app.config = app.config.model_copy(update={"daemon": daemon})
    app.clock = SystemClock()
    seen: dict[str, float] = {}

    def drive() -> None:
        try:
            if not wait_for(lambda: last_heartbeat(app) is not None, timeout=20):
                return
            time.sleep(0.5)  # the watch is in IDLE by now
            seen["delivered"] = time.monotonic()
            servers.deliver(inbound(0, sender="agente@example.com"))
            if wait_for(lambda: len(servers.sent()) >= 1, timeout=20):
                seen["answered"] = time.monotonic()
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    driver = threading.Thread(target=drive)
    driver.start()
    run_daemon(app)
    driver.join()
    assert "answered" in seen, "no answer within 20 s: IDLE did not start a cycle"
    assert seen["answered"] - seen["delivered"] < 15
