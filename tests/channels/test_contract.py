"""The channel contract: every mail backend keeps the same promises to the pipeline.

Each backend's harness (tests/channels/harness_*.py) brings its server: the local folder,
a real Dovecot and SMTP server, or a fake of Microsoft's servers built from their
documented protocol. The same tests run against each.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from bot.errors import ChannelAuthFailed, ChannelUnavailable, MessageRejected
from tests.channels.harness import MB, Harness, inbound, outbound


def message_id(raw: bytes) -> str:
    """The Message-ID header of a raw message."""
    return str(message_from_bytes(raw, policy=policy.default)["Message-ID"])


def test_fetch_yields_new_mail_complete_and_oldest_first(harness: Harness) -> None:
    raws = [inbound(n) for n in range(3)]
    for raw in raws:
        harness.deliver(raw)
    channel = harness.channel()
    try:
        got = list(channel.fetch())
    finally:
        channel.close()
    assert [message_id(m.raw) for m in got] == [message_id(r) for r in raws]
    assert len({m.key for m in got}) == 3 and all(m.channel == "mail" for m in got)
    first = message_from_bytes(got[0].raw, policy=policy.default)
    assert first["Subject"] == "Solicitud 0: contraseña de BLife"
    assert "No puedo entrar" in first.get_body().get_content()  # type: ignore[union-attr]


def test_mail_not_acknowledged_comes_back_after_a_restart(harness: Harness) -> None:
    for n in range(2):
        harness.deliver(inbound(n))
    channel = harness.channel()
    assert len(list(channel.fetch())) == 2
    channel.close()  # the process died before committing anything
    again = harness.channel()
    try:
        assert [message_id(m.raw) for m in again.fetch()] == [
            message_id(inbound(n)) for n in range(2)
        ]
    finally:
        again.close()
    assert harness.waiting() == 2


def test_acknowledged_mail_is_not_fetched_again_and_is_kept(harness: Harness) -> None:
    for n in range(2):
        harness.deliver(inbound(n))
    channel = harness.channel()
    for message in list(channel.fetch()):
        channel.ack(message.key)
    channel.done()
    channel.close()
    harness.deliver(inbound(2))
    later = harness.channel()
    try:
        assert [message_id(m.raw) for m in later.fetch()] == [message_id(inbound(2))]
    finally:
        later.close()
    assert harness.waiting() == 1
    assert harness.stored() == 3


def test_a_pass_cut_short_never_loses_a_message(harness: Harness) -> None:
    for n in range(3):
        harness.deliver(inbound(n))
    channel = harness.channel()
    first = next(iter(channel.fetch()))
    channel.ack(first.key)  # committed; the process dies before the others and done()
    channel.close()
    again = harness.channel()
    try:
        ids = [message_id(m.raw) for m in again.fetch()]
    finally:
        again.close()
    # The acknowledged one may come back (the pipeline knows its Message-ID); the others must.
    assert ids[-2:] == [message_id(inbound(1)), message_id(inbound(2))]


def test_quarantine_sets_a_message_aside_without_deleting_it(harness: Harness) -> None:
    harness.deliver(inbound(0))
    harness.deliver(inbound(1))
    channel = harness.channel()
    bad, good = list(channel.fetch())
    channel.quarantine(bad.key)
    channel.ack(good.key)
    channel.done()
    channel.close()
    later = harness.channel()
    try:
        assert list(later.fetch()) == []
    finally:
        later.close()
    assert (harness.quarantined(), harness.waiting(), harness.stored()) == (1, 0, 2)


def test_mail_over_the_size_limit_is_announced_not_downloaded(harness: Harness) -> None:
    harness.deliver(inbound(0, size=2 * MB))
    harness.deliver(inbound(1))
    channel = harness.channel(max_message_bytes=1 * MB)
    try:
        big, small = list(channel.fetch())
        assert big.raw == b"" and big.size is not None and big.size > 1 * MB
        assert small.size is None and message_id(small.raw) == message_id(inbound(1))
        channel.quarantine(big.key)  # what the pipeline does with it
        channel.ack(small.key)
        channel.done()
    finally:
        channel.close()
    assert (harness.quarantined(), harness.stored()) == (1, 2)


def test_send_delivers_the_complete_message(harness: Harness) -> None:
    channel = harness.channel()
    try:
        channel.send(outbound(7), key="<mesabot.7@example.com>")
    finally:
        channel.close()
    (raw,) = harness.sent()
    sent = message_from_bytes(raw, policy=policy.default)
    original = message_from_bytes(outbound(7), policy=policy.default)
    for header in ("Message-ID", "Subject", "In-Reply-To", "References", "Auto-Submitted", "To"):
        assert str(sent[header]) == str(original[header]), header
    assert isinstance(sent, EmailMessage)
    (attachment,) = list(sent.iter_attachments())
    assert attachment.get_filename() == "guía.txt"
    assert "contraseña" in attachment.get_content()


def test_a_resent_key_is_recognised(harness: Harness) -> None:
    if not harness.dedupes_sends:
        pytest.skip(f"{harness.name} cannot tell a message it already sent")
    channel = harness.channel()
    try:
        channel.send(outbound(8), key="<mesabot.8@example.com>")
        channel.send(outbound(8), key="<mesabot.8@example.com>")
    finally:
        channel.close()
    assert len(harness.sent()) == 1


def test_an_unreachable_server_is_a_temporary_failure(harness: Harness) -> None:
    harness.deliver(inbound(0))
    channel = harness.channel()
    try:
        with harness.down():
            with pytest.raises(ChannelUnavailable):
                list(channel.fetch())
            with pytest.raises(ChannelUnavailable):
                channel.send(outbound(9), key="<mesabot.9@example.com>")
        # Back up: the same object recovers, nothing was lost.
        assert [message_id(m.raw) for m in channel.fetch()] == [message_id(inbound(0))]
    finally:
        channel.close()


def test_wrong_credentials_are_an_authentication_failure(harness: Harness) -> None:
    if not harness.has_credentials:
        pytest.skip(f"{harness.name} has no credentials")
    harness.deliver(inbound(0))
    channel = harness.channel(password="no-es-la-clave")
    try:
        with pytest.raises(ChannelAuthFailed):
            list(channel.fetch())
        failing = [c for c in channel.check() if not c.ok]
        assert failing and all(c.fix for c in failing)
    finally:
        channel.close()
    assert harness.waiting() == 1


def test_a_refused_recipient_is_a_permanent_failure(harness: Harness) -> None:
    if not harness.has_credentials:
        pytest.skip(f"{harness.name} delivers to a local folder")
    harness.refuse("no.existe@example.com")
    channel = harness.channel()
    try:
        with pytest.raises(MessageRejected):
            channel.send(outbound(10, to="no.existe@example.com"), key="<mesabot.10@example.com>")
    finally:
        channel.close()
    assert harness.sent() == []


def test_check_passes_on_a_healthy_server(harness: Harness) -> None:
    channel = harness.channel()
    try:
        checks = channel.check()
    finally:
        channel.close()
    assert checks and all(c.ok for c in checks), [c for c in checks if not c.ok]
