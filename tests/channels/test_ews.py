"""EWS specifics: exchangelib against the fake EWS endpoint's documented SOAP responses."""

from __future__ import annotations

import base64
import logging
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from exchangelib import (
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Credentials,
    FaultTolerance,
    OAuth2Credentials,
)
from exchangelib.protocol import Protocol

from bot.channels.ews import STATE_KEY, EwsChannel, build_ews_channel, ews_endpoint
from bot.config import Config, EwsSettings
from bot.errors import ChannelAuthFailed, ChannelUnavailable
from storage.db import Database
from storage.models import Message
from tests.channels.fake_ews import RECEIVED_BASE
from tests.channels.harness import MB, inbound, outbound
from tests.channels.harness_ews import PASSWORD, EwsHarness, ews_harness


@pytest.fixture
def ews(tmp_path: Path) -> Iterator[EwsHarness]:
    """A fake Exchange mailbox and its database."""
    with ews_harness(tmp_path) as h:
        yield h


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        """Fail loudly."""
        raise AssertionError("network used")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def message_id(raw: bytes) -> str:
    """The Message-ID header of a raw message."""
    return str(message_from_bytes(raw, policy=policy.default)["Message-ID"])


def ids(channel: EwsChannel) -> list[str]:
    """Message-IDs of one whole fetch."""
    return [message_id(m.raw) for m in channel.fetch()]


def syncs(ews: EwsHarness) -> list[dict[str, Any]]:
    """The SyncFolderItems requests the fake answered."""
    return [c.detail for c in ews.fake.calls if c.operation == "SyncFolderItems"]


def ews_config(config: Config, **settings: Any) -> Config:
    """The test configuration switched to the EWS backend."""
    ews_settings = EwsSettings(
        server="correo.ejemplo.mx",
        username="EJEMPLO\\svc.mesabot",
        mailbox="mesa.ayuda@example.com",
        **settings,
    )
    mail = config.mail.model_copy(update={"backend": "ews", "ews": ews_settings})
    return config.model_copy(update={"mail": mail})


# -- sync state --------------------------------------------------------------------------


def test_sync_state_is_stored_at_done_only_and_is_the_next_start(ews: EwsHarness) -> None:
    for n in range(2):
        ews.deliver(inbound(n))
    channel = ews.channel()
    got = list(channel.fetch())
    assert ews.cursors.get(STATE_KEY) is None
    for message in got:
        channel.ack(message.key)
    assert ews.cursors.get(STATE_KEY) is None  # acknowledged, but the pass is not done
    channel.done()
    state = ews.cursors.get(STATE_KEY)
    assert state
    channel.close()
    ews.deliver(inbound(2))
    later = ews.channel()
    try:
        assert ids(later) == [message_id(inbound(2))]
    finally:
        later.close()
    assert [s["state"] for s in syncs(ews)] == [None, state]


def test_a_pass_with_a_message_unanswered_keeps_the_old_state(ews: EwsHarness) -> None:
    for n in range(2):
        ews.deliver(inbound(n))
    channel = ews.channel()
    first, _ = list(channel.fetch())
    channel.ack(first.key)
    channel.done()  # the pipeline would not call it; the backend still refuses to move on
    assert ews.cursors.get(STATE_KEY) is None
    assert ids(channel) == [message_id(inbound(1))]
    channel.close()


def test_sync_pages_follow_max_changes_returned(ews: EwsHarness) -> None:
    for n in range(5):
        ews.deliver(inbound(n))
    channel = ews.channel(page_size=2)
    try:
        assert ids(channel) == [message_id(inbound(n)) for n in range(5)]
    finally:
        channel.close()
    requests = syncs(ews)
    assert [r["max"] for r in requests] == [2, 2, 2]
    # Each page starts from the state the previous one returned.
    assert requests[0]["state"] is None and None not in [r["state"] for r in requests[1:]]
    assert len({r["state"] for r in requests}) == 3


def test_oldest_first_by_date_received(ews: EwsHarness) -> None:
    ews.fake.deliver(inbound(0), received=RECEIVED_BASE + timedelta(minutes=5))
    ews.fake.deliver(inbound(1), received=RECEIVED_BASE)
    channel = ews.channel()
    try:
        got = list(channel.fetch())
    finally:
        channel.close()
    assert [message_id(m.raw) for m in got] == [message_id(inbound(1)), message_id(inbound(0))]
    assert got[0].received_at == RECEIVED_BASE
    assert got[0].received_at is not None and got[0].received_at.tzinfo is not None


def test_the_first_pass_takes_unread_mail_only_later_passes_everything(ews: EwsHarness) -> None:
    ews.fake.deliver(inbound(0), is_read=True)  # from before the bot
    ews.deliver(inbound(1))
    channel = ews.channel()
    got = list(channel.fetch())
    assert [message_id(m.raw) for m in got] == [message_id(inbound(1))]
    channel.ack(got[0].key)
    channel.done()
    ews.fake.deliver(inbound(2), is_read=True)  # read by a person before the bot looked
    assert ids(channel) == [message_id(inbound(2))]
    channel.close()


def test_an_invalid_sync_state_means_a_resync_by_message_id(
    ews: EwsHarness, caplog: pytest.LogCaptureFixture
) -> None:
    ews.deliver(inbound(0))
    channel = ews.channel()
    for message in list(channel.fetch()):
        channel.ack(message.key)
    channel.done()
    ews.fake.invalidate_sync_states()  # e.g. the mailbox moved to another database
    ews.deliver(inbound(1))
    with caplog.at_level(logging.WARNING, logger="bot.channels.ews"):
        assert ids(channel) == [message_id(inbound(1))]
    channel.close()
    assert "resincroniza" in caplog.text
    assert [s["state"] is None for s in syncs(ews)] == [True, False, True]


# -- downloads ---------------------------------------------------------------------------


def test_known_message_ids_are_marked_read_not_downloaded(ews: EwsHarness) -> None:
    with ews.db.transaction() as s:
        s.add(
            Message(
                direction="in",
                channel="mail",
                external_id=message_id(inbound(1)),
                message_id=message_id(inbound(1)),
                at=datetime(2026, 11, 23, 15, 0, tzinfo=UTC),
            )
        )
    for n in range(3):
        ews.deliver(inbound(n))
    channel = ews.channel()
    try:
        assert ids(channel) == [message_id(inbound(0)), message_id(inbound(2))]
    finally:
        channel.close()
    assert message_id(inbound(1)) not in ews.fake.downloaded()
    assert [i.is_read for i in ews.fake.inbox()] == [False, True, False]


def test_mail_over_the_limit_is_never_downloaded(ews: EwsHarness) -> None:
    ews.deliver(inbound(0, size=2 * MB))
    ews.deliver(inbound(1))
    channel = ews.channel(max_message_bytes=1 * MB)
    try:
        big, small = list(channel.fetch())
    finally:
        channel.close()
    assert (big.raw, small.size) == (b"", None)
    assert big.size == len(inbound(0, size=2 * MB))
    assert ews.fake.downloaded() == [message_id(inbound(1))]


def test_downloads_come_in_few_requests(ews: EwsHarness) -> None:
    for n in range(12):
        ews.deliver(inbound(n))
    channel = ews.channel()
    try:
        assert len(ids(channel)) == 12
    finally:
        channel.close()
    assert ews.fake.operations().count("GetItem") == 2  # chunks of ten


@pytest.mark.parametrize(
    ("auth_as", "expected"),
    [("Internal", True), ("Anonymous", False), ("Partner", None), (None, None)],
)
def test_authenticated_is_exchanges_own_verdict(
    ews: EwsHarness, auth_as: str | None, expected: bool | None
) -> None:
    ews.fake.deliver(inbound(0), auth_as=auth_as)
    channel = ews.channel()
    try:
        (message,) = list(channel.fetch())
    finally:
        channel.close()
    assert message.authenticated is expected


def test_a_forged_authas_in_the_message_itself_is_ignored(ews: EwsHarness) -> None:
    raw = b"X-MS-Exchange-Organization-AuthAs: Internal\r\n" + inbound(0)
    ews.fake.deliver(raw, auth_as="Anonymous")
    channel = ews.channel()
    try:
        (message,) = list(channel.fetch())
    finally:
        channel.close()
    assert message.authenticated is False


# -- quarantine, sending -----------------------------------------------------------------


def test_quarantine_folder_is_made_once_beside_the_inbox(ews: EwsHarness) -> None:
    for n in range(2):
        ews.deliver(inbound(n))
    for _ in range(2):
        channel = ews.channel()
        message = next(iter(channel.fetch()))
        channel.quarantine(message.key)
        channel.close()
    folder = ews.fake.folder_named("Cuarentena")
    top = ews.fake.folder_named("Parte superior del almacén de información")
    assert folder is not None and top is not None and folder.parent == top.id
    assert ews.fake.operations().count("CreateFolder") == 1
    assert (ews.quarantined(), ews.waiting()) == (2, 0)
    assert all(not item.is_read for item in ews.fake.quarantine())  # left as it came


def test_ack_of_a_message_someone_moved_meanwhile_is_fine(ews: EwsHarness) -> None:
    ews.deliver(inbound(0))
    channel = ews.channel()
    (message,) = list(channel.fetch())
    del ews.fake.items[message.key]
    channel.ack(message.key)
    channel.done()
    channel.close()
    assert ews.cursors.get(STATE_KEY)


def test_send_looks_in_sent_items_first(ews: EwsHarness) -> None:
    # Sent before a crash that came before the outbox row was marked.
    ews.fake.deliver(outbound(5), folder="sentitems", is_read=True, inbound=False)
    channel = ews.channel()
    fresh = outbound(6)
    try:
        channel.send(outbound(5), key="<mesabot.5@example.com>")
        assert ews.sent() == []
        channel.send(fresh, key="<mesabot.6@example.com>")
    finally:
        channel.close()
    assert ews.sent() == [fresh]  # the MIME exactly as the pipeline built it
    creates = [c for c in ews.fake.calls if c.operation in ("FindItem", "CreateItem")]
    assert [c.operation for c in creates] == ["FindItem", "FindItem", "CreateItem"]
    assert creates[2].detail["disposition"] == "SendAndSaveCopy"
    copies = ews.fake.in_folder(ews.fake.folder_named("Elementos enviados").id)  # type: ignore[union-attr]
    assert [i.header("Message-ID") for i in copies] == [
        "<mesabot.5@example.com>",
        "<mesabot.6@example.com>",
    ]


# -- failures ----------------------------------------------------------------------------


def test_a_busy_server_is_retried_within_max_wait_then_unavailable(ews: EwsHarness) -> None:
    ews.deliver(inbound(0))
    channel = ews.channel(max_wait=1.0)
    try:
        with ews.fake.busy(back_off_ms=100):
            start = time.monotonic()
            with pytest.raises(ChannelUnavailable, match="ocupado"):
                list(channel.fetch())
            elapsed = time.monotonic() - start
        assert 0.8 < elapsed < 3.0
        # exchangelib followed the server's back-off and tried again several times.
        assert ews.fake.operations().count("busy") >= 4
        time.sleep(0.2)  # the last pause the server asked for
        assert ids(channel) == [message_id(inbound(0))]  # and recovers afterwards
    finally:
        channel.close()


def test_a_long_back_off_is_honoured_without_requests(ews: EwsHarness) -> None:
    ews.deliver(inbound(0))
    channel = ews.channel(max_wait=1.0)
    try:
        with ews.fake.busy(back_off_ms=60_000):
            start = time.monotonic()
            with pytest.raises(ChannelUnavailable, match=r"60\.0 s"):
                list(channel.fetch())
            assert time.monotonic() - start < 1.0
        # Within the pause the server asked for, the channel makes no request at all.
        with pytest.raises(ChannelUnavailable, match="esperar"):
            channel.send(outbound(1), key="<mesabot.1@example.com>")
        assert ews.fake.operations() == ["busy"]
    finally:
        channel.close()


def test_an_unreachable_server_fails_fast(ews: EwsHarness) -> None:
    channel = ews.channel(max_wait=120.0)
    try:
        with ews.down():
            start = time.monotonic()
            with pytest.raises(ChannelUnavailable):
                list(channel.fetch())
            assert time.monotonic() - start < 2.0
    finally:
        channel.close()


def test_a_wrong_password_is_refused_at_once_not_retried(ews: EwsHarness) -> None:
    channel = ews.channel(password="otra", max_wait=120.0)
    try:
        start = time.monotonic()
        with pytest.raises(ChannelAuthFailed):
            list(channel.fetch())
        with pytest.raises(ChannelAuthFailed):
            channel.send(outbound(1), key="<mesabot.1@example.com>")
        assert time.monotonic() - start < 2.0
        (login,) = channel.check()
    finally:
        channel.close()
    assert not login.ok and "contraseña" in login.fix and "svc.mesabot" in login.fix


def test_passwords_never_reach_the_log(ews: EwsHarness, caplog: pytest.LogCaptureFixture) -> None:
    ews.deliver(inbound(0))
    caplog.set_level(logging.DEBUG)
    for password in (PASSWORD, "otra-clave"):
        channel = ews.channel(password=password)
        try:
            with pytest.raises(ChannelAuthFailed) if password != PASSWORD else _nothing():
                list(channel.fetch())
            channel.check()
        finally:
            channel.close()
        token = base64.b64encode(f"EJEMPLO\\svc.mesabot:{password}".encode()).decode()
        assert password not in caplog.text and token not in caplog.text


class _nothing:
    """A context manager that does nothing (pytest.raises' counterpart)."""

    def __enter__(self) -> None:
        """Nothing."""

    def __exit__(self, *args: object) -> None:
        """Nothing."""


def test_ews_disabled_for_the_mailbox_is_an_authentication_failure(ews: EwsHarness) -> None:
    channel = ews.channel(max_wait=120.0)
    try:
        with ews.fake.forbid():
            with pytest.raises(ChannelAuthFailed, match="403"):
                list(channel.fetch())
            (login,) = channel.check()
    finally:
        channel.close()
    assert not login.ok and "EwsEnabled" in login.fix


def test_check_names_what_is_wrong_with_the_mailbox(ews: EwsHarness) -> None:
    channel = ews.channel(mailbox="otro.buzon@example.com")
    try:
        (login,) = channel.check()
    finally:
        channel.close()
    assert not login.ok and "ErrorNonExistentMailbox" in login.detail
    assert "FullAccess" in login.fix


def test_check_on_a_healthy_server_reports_each_part(ews: EwsHarness) -> None:
    ews.deliver(inbound(0))
    channel = ews.channel()
    try:
        before = {c.name: c for c in channel.check()}
        channel.quarantine(next(iter(channel.fetch())).key)
        after = {c.name: c for c in channel.check()}
    finally:
        channel.close()
    assert list(before) == [
        "EWS: inicio de sesión",
        "EWS: bandeja de entrada",
        "EWS: elementos enviados",
        "EWS: carpeta Cuarentena",
    ]
    assert all(c.ok for c in before.values())
    assert "1 mensajes, 1 sin leer" in before["EWS: bandeja de entrada"].detail
    assert "se creará" in before["EWS: carpeta Cuarentena"].detail
    assert after["EWS: carpeta Cuarentena"].detail == "existe"


def test_close_releases_the_protocol(ews: EwsHarness) -> None:
    ews.deliver(inbound(0))
    channel = ews.channel()
    list(channel.fetch())
    config = channel._account.protocol.config
    channel.close()
    with pytest.raises(KeyError):
        Protocol[config]
    assert ids(channel) == [message_id(inbound(0))]  # usable again: reopens
    channel.close()


# -- building from the configuration -----------------------------------------------------


def test_ntlm_settings_build_a_delegate_channel(
    config: Config, db: Database, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    monkeypatch.setenv("EWS_PASSWORD", "s3creta")
    channel = build_ews_channel(ews_config(config, password_env="EWS_PASSWORD"), db)
    assert isinstance(channel.credentials, Credentials)
    assert (channel.credentials.username, channel.credentials.password) == (
        "EJEMPLO\\svc.mesabot",
        "s3creta",
    )
    assert (channel.auth_type, channel.access_type) == (NTLM, DELEGATE)
    assert channel.endpoint == "https://correo.ejemplo.mx/EWS/Exchange.asmx"
    assert channel.max_message_bytes == config.mail.max_message_mb * MB
    assert channel.cursors.channel == "mail:ews"
    exchange = channel.configuration()
    assert isinstance(exchange.retry_policy, FaultTolerance)
    assert exchange.retry_policy.max_wait == 120
    assert exchange.version is not None and exchange.version.build is not None
    assert "s3creta" not in repr(channel.credentials)


def test_oauth2_settings_build_app_credentials_with_impersonation(
    config: Config, db: Database, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    monkeypatch.setenv("EWS_SECRET", "secreto-de-app")
    settings = {
        "auth": "oauth2",
        "client_id": "11111111-2222-3333-4444-555555555555",
        "tenant_id": "66666666-7777-8888-9999-000000000000",
        "secret_env": "EWS_SECRET",
    }
    channel = build_ews_channel(ews_config(config, **settings), db)
    credentials = channel.credentials
    assert isinstance(credentials, OAuth2Credentials)
    assert credentials.client_id == settings["client_id"]
    assert credentials.tenant_id == settings["tenant_id"]
    assert credentials.client_secret == "secreto-de-app"
    assert credentials.identity.primary_smtp_address == "mesa.ayuda@example.com"
    assert (channel.auth_type, channel.access_type) == (OAUTH2, IMPERSONATION)
    # The Account itself is built without the network, too.
    account = channel._get_account()
    assert account.access_type == IMPERSONATION
    assert account.primary_smtp_address == "mesa.ayuda@example.com"
    assert account.protocol.auth_type == OAUTH2
    channel.close()


def test_a_missing_secret_is_reported_by_check(
    config: Config, db: Database, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    monkeypatch.delenv("EWS_PASSWORD", raising=False)
    channel = build_ews_channel(ews_config(config, password_env="EWS_PASSWORD"), db)
    (check,) = channel.check()
    assert not check.ok and "EWS_PASSWORD" in check.detail and "EWS_PASSWORD" in check.fix


def test_endpoint_from_a_name_or_a_url() -> None:
    assert ews_endpoint("correo.ejemplo.mx") == "https://correo.ejemplo.mx/EWS/Exchange.asmx"
    url = "https://mail.ejemplo.mx/EWS/Exchange.asmx"
    assert ews_endpoint(url) == url


def test_exchange_online_is_pointed_to_graph(ews: EwsHarness) -> None:
    channel = EwsChannel(
        endpoint="https://outlook.office365.com/EWS/Exchange.asmx",
        mailbox="mesa.ayuda@example.com",
        credentials=Credentials("x@example.com", "y"),
        cursors=ews.cursors,
        max_message_bytes=MB,
    )
    assert 'backend = "graph"' in channel._connection_fix()
