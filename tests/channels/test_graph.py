"""What the Graph backend does beyond the channel contract: delta rounds, throttling,
tokens, immutable ids, Exchange's own verdicts, sendMail in MIME, msal, the builder."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bot.channels.graph import MsalTokenProvider, build_graph_channel
from bot.channels.state import CursorStore
from bot.config import Config, GraphSettings
from bot.errors import ChannelAuthFailed, ChannelUnavailable, MessageRejected
from storage.db import Database
from storage.models import Message
from tests.channels.fake_graph import CLIENT_ID, SECRET, TENANT, FakeGraph
from tests.channels.harness import inbound, outbound
from tests.channels.harness_graph import GraphHarness, graph_harness
from tests.channels.test_contract import message_id


@pytest.fixture
def graph(tmp_path: Path) -> Iterator[GraphHarness]:
    """A fake tenant and mailbox with a migrated database."""
    with graph_harness(tmp_path) as harness:
        yield harness


def ids(messages: Any) -> list[str]:
    """The Message-IDs of fetched messages."""
    return [message_id(m.raw) for m in messages]


def delta_requests(fake: FakeGraph) -> list[httpx.Request]:
    """Every delta call, first requests and links alike."""
    return [r for r in fake.requests if r.url.path.endswith("/messages/delta")]


def record(db: Database, mid: str) -> None:
    """The pipeline stored this inbound Message-ID."""
    with db.transaction() as s:
        s.add(
            Message(
                direction="in",
                channel="mail",
                external_id=mid,
                message_id=mid,
                at=datetime(2026, 11, 23, 15, tzinfo=UTC),
            )
        )


def prefers(request: httpx.Request) -> str:
    """The request's Prefer header."""
    return str(request.headers.get("Prefer", ""))


# --- delta rounds -----------------------------------------------------------------------


def test_every_delta_page_is_followed_and_mail_comes_oldest_first(graph: GraphHarness) -> None:
    for n in range(7):
        graph.deliver(inbound(n))
    channel = graph.channel()
    try:
        got = list(channel.fetch())
    finally:
        channel.close()
    assert ids(got) == [f"<contrato{n}@example.com>" for n in range(7)]
    assert [m.received_at for m in got] == sorted(m.received for m in graph.fake.messages.values())
    calls = delta_requests(graph.fake)
    assert len(calls) == 4  # the fake pages by 2, and lists the newest first
    first, *links = calls
    assert first.url.params["changeType"] == "created"
    assert "Integer 0x0E08" in first.url.params["$expand"]
    assert "odata.maxpagesize=50" in prefers(first)
    assert all("$skiptoken" in r.url.params for r in links)


def test_the_delta_link_is_kept_only_when_done(graph: GraphHarness) -> None:
    cursors = CursorStore(graph.db, "mail:graph")
    for n in range(3):
        graph.deliver(inbound(n))
    channel = graph.channel()
    messages = channel.fetch()
    first = next(messages)
    channel.ack(first.key)
    channel.done()  # the pass was cut short: nothing may be kept
    assert cursors.get("delta") is None
    rest = list(messages)
    assert cursors.get("delta") is None  # fetched, but not yet answered
    for message in rest:
        channel.ack(message.key)
    channel.done()
    channel.close()
    link = cursors.get("delta")
    assert link is not None and "$deltatoken=" in link

    graph.deliver(inbound(3))
    seen = len(graph.fake.requests)
    later = graph.channel()
    try:
        assert ids(later.fetch()) == [message_id(inbound(3))]
    finally:
        later.close()
    (resumed,) = [r for r in graph.fake.requests[seen:] if r.url.path.endswith("/delta")]
    assert str(resumed.url) == link


def test_a_removed_or_repeated_entry_is_skipped(graph: GraphHarness) -> None:
    gone = [graph.fake.deliver(inbound(n)) for n in range(3)][1]
    graph.fake.duplicate_entries = True  # delta may list an item twice

    def with_removal(request: httpx.Request) -> httpx.Response:
        response = graph.fake(request)
        if request.url.path.endswith("/messages/delta"):
            body = response.json()
            removed = {"id": gone.id, "@removed": {"reason": "deleted"}}
            body["value"].append({"@odata.type": "#microsoft.graph.message", **removed})
            return httpx.Response(200, json=body)
        return response

    graph.handler = with_removal
    channel = graph.channel()
    try:
        assert ids(channel.fetch()) == [message_id(inbound(0)), message_id(inbound(2))]
    finally:
        channel.close()


@pytest.mark.parametrize("status", [410, 400])
def test_an_expired_sync_state_starts_again_without_downloading_known_mail(
    graph: GraphHarness, status: int
) -> None:
    for n in range(3):
        graph.deliver(inbound(n))
    channel = graph.channel(done_folder=None)  # acknowledged mail stays in the inbox, read
    for message in list(channel.fetch()):
        record(graph.db, message_id(message.raw))
        channel.ack(message.key)
    channel.done()
    channel.close()
    graph.deliver(inbound(3))
    graph.fake.expire_sync_state(status)
    downloads = len(graph.fake.downloads)

    again = graph.channel(done_folder=None)
    try:
        got = list(again.fetch())
        assert ids(got) == [message_id(inbound(3))]
        assert len(graph.fake.downloads) == downloads + 1
        cursors = CursorStore(graph.db, "mail:graph")
        assert cursors.get("delta") is None  # the dead link is forgotten at once
        again.ack(got[0].key)
        again.done()
        assert "$deltatoken=" in (cursors.get("delta") or "")
    finally:
        again.close()
    restart = [r for r in delta_requests(graph.fake) if "$filter" in r.url.params]
    assert restart[-1].url.params["$filter"].startswith("receivedDateTime ge ")


def test_a_sync_reset_is_bounded_by_the_last_complete_pass(graph: GraphHarness) -> None:
    graph.deliver(inbound(0))
    graph.fake.clock += timedelta(days=3)  # the pass comes long after it arrived
    channel = graph.channel(done_folder=None)
    (old,) = list(channel.fetch())
    channel.ack(old.key)  # read, left in the inbox, and (say) not in the database
    channel.done()
    channel.close()
    graph.fake.deliver(inbound(1), is_read=True)  # a person opened it before the bot
    graph.fake.expire_sync_state()
    again = graph.channel(done_folder=None)
    try:
        assert ids(again.fetch()) == [message_id(inbound(1))]
    finally:
        again.close()


def test_the_first_run_leaves_mail_people_already_read(graph: GraphHarness) -> None:
    graph.fake.deliver(inbound(0), is_read=True)
    graph.deliver(inbound(1))
    channel = graph.channel()
    (new,) = list(channel.fetch())
    assert message_id(new.raw) == message_id(inbound(1))
    channel.ack(new.key)
    channel.done()
    channel.close()
    opened = graph.fake.deliver(inbound(2))
    graph.fake.mark_read(opened.id)  # read in Outlook before the bot looked
    later = graph.channel()
    try:
        assert ids(later.fetch()) == [message_id(inbound(2))]
    finally:
        later.close()


def test_known_mail_is_settled_without_downloading_it(graph: GraphHarness) -> None:
    known = graph.fake.deliver(inbound(0))
    graph.deliver(inbound(1))
    record(graph.db, message_id(inbound(0)))
    channel = graph.channel()
    try:
        assert ids(channel.fetch()) == [message_id(inbound(1))]
    finally:
        channel.close()
    assert known.id not in graph.fake.downloads
    done = graph.fake.folder_named("Atendidos")
    assert done is not None and known.folder_id == done.id and known.is_read


def test_a_message_that_vanished_meanwhile_is_skipped(graph: GraphHarness) -> None:
    gone = graph.fake.deliver(inbound(0))
    graph.deliver(inbound(1))
    graph.fake.fail(404, code="ErrorItemNotFound", path_contains=f"/messages/{gone.id}")
    channel = graph.channel()
    try:
        assert ids(channel.fetch()) == [message_id(inbound(1))]
        graph.fake.fail(404, code="ErrorItemNotFound", path_contains=f"/messages/{gone.id}")
        channel.ack(gone.id)  # a person deleted it: nothing left to do
    finally:
        channel.close()


def test_oversize_mail_is_not_downloaded(graph: GraphHarness) -> None:
    big = graph.fake.deliver(inbound(0, size=300_000))
    channel = graph.channel(max_message_bytes=100_000)
    try:
        (announced,) = list(channel.fetch())
    finally:
        channel.close()
    assert announced.raw == b"" and announced.size == len(big.mime)
    assert announced.key == big.id and graph.fake.downloads == []


# --- what Exchange itself says ----------------------------------------------------------


def test_unique_body_and_exchange_verdict_on_the_sender(graph: GraphHarness) -> None:
    graph.fake.deliver(inbound(0), auth_as="Internal", unique_body="Sí, adelante.")
    graph.fake.deliver(inbound(1), auth_as="Anonymous")
    graph.fake.deliver(inbound(2), auth_as=None)
    # A sender from outside cannot vouch for itself: the header firewall drops the claim.
    graph.fake.deliver(b"X-MS-Exchange-Organization-AuthAs: Internal\n" + inbound(3))
    channel = graph.channel()
    try:
        got = list(channel.fetch())
    finally:
        channel.close()
    assert [m.authenticated for m in got] == [True, False, None, False]
    assert got[0].unique_body == "Sí, adelante."
    assert (got[1].unique_body or "").startswith("No puedo entrar")
    asked = [r for r in graph.fake.requests if "uniqueBody" in r.url.params.get("$select", "")]
    assert len(asked) == 4
    assert all('outlook.body-content-type="text"' in prefers(r) for r in asked)


def test_every_request_asks_for_immutable_ids_and_keys_survive_moves(
    graph: GraphHarness,
) -> None:
    graph.fake.require_immutable_ids = False  # record instead of failing at once
    graph.deliver(inbound(0))
    graph.deliver(inbound(1))
    channel = graph.channel()
    try:
        good, bad = list(channel.fetch())
        channel.ack(good.key)
        channel.quarantine(bad.key)
        channel.done()
        channel.send(outbound(1), key="<mesabot.1@example.com>")
        assert all(c.ok for c in channel.check())
    finally:
        channel.close()
    assert len(graph.fake.requests) > 10
    assert all('IdType="ImmutableId"' in prefers(r) for r in graph.fake.requests)
    done, quarantine = graph.fake.folder_named("Atendidos"), graph.fake.folder_named("Cuarentena")
    assert done is not None and quarantine is not None
    assert graph.fake.messages[good.key].folder_id == done.id
    assert graph.fake.messages[good.key].is_read
    assert graph.fake.messages[bad.key].folder_id == quarantine.id
    assert not graph.fake.messages[bad.key].is_read  # set aside untouched


# --- throttling, outages, tokens --------------------------------------------------------


def test_a_short_retry_after_is_waited_out(graph: GraphHarness) -> None:
    graph.deliver(inbound(0))
    graph.fake.fail(429, retry_after="7")
    later = format_datetime(graph.fake.clock + timedelta(seconds=5), usegmt=True)
    graph.fake.fail(503, retry_after=later)
    channel = graph.channel()
    try:
        assert len(list(channel.fetch())) == 1
    finally:
        channel.close()
    assert graph.sleeps == [7.0, 5.0]


def test_long_or_endless_throttling_is_left_to_the_caller(graph: GraphHarness) -> None:
    graph.deliver(inbound(0))
    channel = graph.channel()
    try:
        graph.fake.fail(429, retry_after="120")
        with pytest.raises(ChannelUnavailable):
            list(channel.fetch())
        assert graph.sleeps == []
        graph.fake.fail(429, retry_after="2", times=3)
        with pytest.raises(ChannelUnavailable):
            list(channel.fetch())
        assert graph.sleeps == [2.0, 2.0]  # three tries in all
        graph.fake.fail(429)  # no Retry-After at all
        with pytest.raises(ChannelUnavailable):
            list(channel.fetch())
        assert len(list(channel.fetch())) == 1
    finally:
        channel.close()


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_temporary(graph: GraphHarness, status: int) -> None:
    graph.deliver(inbound(0))
    channel = graph.channel()
    try:
        graph.fake.fail(status)
        with pytest.raises(ChannelUnavailable):
            list(channel.fetch())
        graph.fake.fail(status, path_contains="/sendMail")
        with pytest.raises(ChannelUnavailable):
            channel.send(outbound(3), key="<mesabot.3@example.com>")
        assert graph.sent() == []
        assert len(list(channel.fetch())) == 1
        channel.send(outbound(3), key="<mesabot.3@example.com>")
    finally:
        channel.close()
    assert len(graph.sent()) == 1 and graph.sleeps == []


def test_an_expired_token_is_refreshed_once(graph: GraphHarness) -> None:
    graph.deliver(inbound(0))
    channel = graph.channel()
    try:
        assert len(list(channel.fetch())) == 1
        graph.fake.revoke_tokens()
        assert len(list(channel.fetch())) == 1
        assert len(graph.fake.token_requests) == 2
        graph.fake.fail(401, times=2, code="InvalidAuthenticationToken", message="Bad token")
        with pytest.raises(ChannelAuthFailed, match="InvalidAuthenticationToken"):
            list(channel.fetch())
    finally:
        channel.close()


def test_access_denied_points_at_permissions_and_the_access_policy(graph: GraphHarness) -> None:
    graph.fake.denied = True
    channel = graph.channel()
    try:
        with pytest.raises(ChannelAuthFailed, match="directiva de acceso"):
            list(channel.fetch())
        token, inbox = channel.check()
    finally:
        channel.close()
    assert token.ok and not inbox.ok
    assert "Mail.ReadWrite" in inbox.fix and "Mail.Send" in inbox.fix
    assert "New-ApplicationAccessPolicy" in inbox.fix and graph.fake.mailbox in inbox.fix


def test_an_unknown_mailbox_is_a_configuration_problem(graph: GraphHarness) -> None:
    channel = graph.channel(mailbox="no.existe@example.com")
    try:
        with pytest.raises(ChannelAuthFailed, match="no existe"):
            list(channel.fetch())
        failing = [c for c in channel.check() if not c.ok]
    finally:
        channel.close()
    assert failing and "[mail.graph] mailbox" in failing[0].fix


def test_check_names_each_part_and_says_what_to_do_when_offline(graph: GraphHarness) -> None:
    channel = graph.channel()
    try:
        healthy = channel.check()
        with graph.down():
            token, inbox, *_ = channel.check()  # msal still holds a token
            fresh = graph.channel()
            (offline,) = fresh.check()
            fresh.close()
    finally:
        channel.close()
    assert token.ok and not inbox.ok and "graph.microsoft.com" in inbox.fix
    assert [c.name for c in healthy] == [
        "Graph: token de acceso",
        "Graph: bandeja de entrada",
        "Graph: carpeta Atendidos",
        "Graph: carpeta Cuarentena",
    ]
    assert all(c.ok for c in healthy)
    assert not offline.ok and "graph.microsoft.com" in offline.fix


def test_folders_are_found_or_created_once(graph: GraphHarness) -> None:
    channel = graph.channel(done_folder="Mesa/Atendidos")
    channel.ensure()
    seen = len(graph.fake.requests)
    channel.ensure()  # cheap when already done
    assert len(graph.fake.requests) == seen
    channel.close()
    mesa, done = graph.fake.folder_named("Mesa"), graph.fake.folder_named("Atendidos")
    quarantine = graph.fake.folder_named("Cuarentena")
    root = graph.fake.folder_named("Top of Information Store")
    assert mesa and done and quarantine and root
    assert done.parent_id == mesa.id and mesa.parent_id == root.id
    assert quarantine.parent_id == root.id
    folders = len(graph.fake.folders)
    again = graph.channel(done_folder="Mesa/Atendidos")
    again.ensure()
    again.close()
    assert len(graph.fake.folders) == folders


# --- sending ----------------------------------------------------------------------------


def test_send_posts_the_mime_in_base64_and_recognises_a_resend(graph: GraphHarness) -> None:
    raw = outbound(7)
    channel = graph.channel()
    try:
        channel.send(raw, key="<mesabot.7@example.com>")
    finally:
        channel.close()
    (post,) = [r for r in graph.fake.requests if r.url.path.endswith("/sendMail")]
    assert post.method == "POST" and post.headers["Content-Type"] == "text/plain"
    mime = base64.b64decode(post.content, validate=True)
    assert mime == raw  # our own headers, byte for byte
    for header in (b"Message-ID: <mesabot.7@", b"In-Reply-To:", b"References:", b"Auto-Submitted:"):
        assert header in mime
    lookup = next(r for r in graph.fake.requests if r.url.path.endswith("/sentitems/messages"))
    assert lookup.url.params["$filter"] == "internetMessageId eq '<mesabot.7@example.com>'"

    restarted = graph.channel()
    try:
        restarted.send(outbound(7), key="<mesabot.7@example.com>")
    finally:
        restarted.close()
    assert len(graph.sent()) == 1


def test_a_refused_or_unacceptable_message_is_rejected_for_good(graph: GraphHarness) -> None:
    graph.refuse("no.existe@example.com")
    channel = graph.channel()
    try:
        with pytest.raises(MessageRejected, match="ErrorInvalidRecipients"):
            channel.send(outbound(1, to="no.existe@example.com"), key="<mesabot.1@example.com>")
        graph.fake.fail(
            413,
            code="ErrorMessageSizeExceeded",
            message="The message exceeds the maximum supported size.",
            path_contains="/sendMail",
        )
        with pytest.raises(MessageRejected, match="ErrorMessageSizeExceeded"):
            channel.send(outbound(2), key="<mesabot.2@example.com>")
    finally:
        channel.close()
    assert graph.sent() == []


# --- msal -------------------------------------------------------------------------------


class RequestsLike:
    """The requests-style HTTP client msal accepts, answering from the fake."""

    def __init__(self, fake: FakeGraph) -> None:
        self.fake = fake
        self.calls: list[str] = []

    def get(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: object,
    ) -> SimpleNamespace:
        """GET."""
        return self._send(httpx.Request("GET", url, params=params, headers=headers))

    def post(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | str | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: object,
    ) -> SimpleNamespace:
        """POST a form."""
        body = urlencode(data) if isinstance(data, Mapping) else (data or "")
        form = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self._send(httpx.Request("POST", url, params=params, headers=form, content=body))

    def _send(self, request: httpx.Request) -> SimpleNamespace:
        """Ask the fake; answer with what requests' Response would carry."""
        self.calls.append(f"{request.method} {request.url.path}")
        response = self.fake(request)
        response.read()
        return SimpleNamespace(
            status_code=response.status_code, text=response.text, headers=dict(response.headers)
        )


def test_msal_gets_an_application_token_and_caches_it() -> None:
    fake = FakeGraph()
    http = RequestsLike(fake)
    provider = MsalTokenProvider(TENANT, CLIENT_ID, SECRET, http_client=http)
    token = provider()
    assert token in fake.valid_tokens
    assert provider() == token  # msal's cache, no second request
    assert f"GET /{TENANT}/v2.0/.well-known/openid-configuration" in http.calls
    (grant,) = fake.token_requests
    assert grant["grant_type"] == "client_credentials" and grant["client_id"] == CLIENT_ID
    assert grant["scope"] == "https://graph.microsoft.com/.default"
    fresh = provider(refresh=True)
    assert fresh != token and len(fake.token_requests) == 2
    assert SECRET not in repr(provider)


def test_msal_failures_become_channel_errors() -> None:
    fake = FakeGraph()
    wrong = MsalTokenProvider(TENANT, CLIENT_ID, "no-es-la-clave", http_client=RequestsLike(fake))
    with pytest.raises(ChannelAuthFailed, match="AADSTS7000215") as refused:
        wrong()
    assert "no-es-la-clave" not in str(refused.value)
    stranger = MsalTokenProvider(
        "00000000-0000-0000-0000-000000000000", CLIENT_ID, SECRET, http_client=RequestsLike(fake)
    )
    with pytest.raises(ChannelAuthFailed, match="inquilino"):
        stranger()
    unknown_app = MsalTokenProvider(TENANT, "otra-app", SECRET, http_client=RequestsLike(fake))
    with pytest.raises(ChannelAuthFailed, match="AADSTS700016"):
        unknown_app()
    fake.down = True
    offline = MsalTokenProvider(TENANT, CLIENT_ID, SECRET, http_client=RequestsLike(fake))
    with pytest.raises(ChannelUnavailable):
        offline()
    fake.down = False
    assert offline() in fake.valid_tokens  # the next try starts over


# --- the builder ------------------------------------------------------------------------


def test_the_builder_reads_mail_graph_and_the_secret_from_the_environment(
    config: Config, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = GraphSettings(
        tenant_id=TENANT,
        client_id=CLIENT_ID,
        secret_env="MESABOT_GRAPH_SECRET",
        mailbox="mesa.ayuda@example.com",
        done_folder="Atendidos",
    )
    mail = config.mail.model_copy(
        update={"backend": "graph", "graph": settings, "max_message_mb": 12}
    )
    graph_config = config.model_copy(update={"mail": mail})
    monkeypatch.setenv("MESABOT_GRAPH_SECRET", SECRET)
    channel = build_graph_channel(graph_config, db)
    channel.close()
    assert (channel.mailbox, channel.done_folder) == ("mesa.ayuda@example.com", "Atendidos")
    assert channel.max_message_bytes == 12 * 1024 * 1024
    assert channel._cursors.channel == "mail:graph"
    assert isinstance(channel._token, MsalTokenProvider)
    assert SECRET not in repr(channel._token)
    assert channel._client.is_closed  # it made the client, so it closes it
    monkeypatch.delenv("MESABOT_GRAPH_SECRET")
    with pytest.raises(ChannelAuthFailed, match="MESABOT_GRAPH_SECRET"):
        build_graph_channel(graph_config, db)


def test_neither_the_secret_nor_a_token_reaches_the_log(
    graph: GraphHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    graph.deliver(inbound(0))
    graph.fake.fail(429, retry_after="1")
    channel = graph.channel()
    try:
        for message in list(channel.fetch()):
            channel.ack(message.key)
        channel.done()
        graph.fake.revoke_tokens()
        channel.send(outbound(1), key="<mesabot.1@example.com>")
        channel.check()
    finally:
        channel.close()
    wrong = graph.channel(password="clave-equivocada")
    try:
        with pytest.raises(ChannelAuthFailed) as refused:
            list(wrong.fetch())
    finally:
        wrong.close()
    issued = [f"fake{n}." for n in range(1, 5)]
    logged = caplog.text + str(refused.value)
    assert caplog.records  # something was logged at all
    assert SECRET not in logged and "clave-equivocada" not in logged
    assert not any(token in logged for token in issued)
