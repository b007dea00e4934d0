"""The outbox dispatcher: retries, permanent failures, dead letters, crash recovery."""

from __future__ import annotations

import email
import email.policy
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App
from bot.channels.maildir import MaildirChannel
from bot.dispatcher import DEAD_AFTER, STALE_SENDING, Dispatcher, backoff
from bot.errors import ChannelUnavailable, MessageRejected
from bot.rules.effects import SendMail
from storage.models import Event, Message, Outbox
from tests.conftest import mx

NOW = mx(2026, 11, 23, 9, 0)


class FlakyChannel:
    """The Maildir channel behind a script of failures, one entry per send call."""

    def __init__(self, inner: MaildirChannel, script: list[Exception | None]) -> None:
        self.inner = inner
        self.script = script
        self.calls = 0

    def send(self, raw: bytes, key: str) -> object:
        """Fail as scripted (None: deliver); after the script, always deliver."""
        self.calls += 1
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        return self.inner.send(raw, key)


def queue(app: App, count: int = 1, at: datetime = NOW, **context: str) -> list[int]:
    """Queue `count` alert mails to the specialists; their outbox ids."""
    ids = []
    with app.db.transaction() as s:
        for n in range(count):
            effect = SendMail(
                to=("@specialists",),
                template="common/cuarentena",
                context={"archivo": f"m{n}", "motivo": context.get("motivo", "prueba")},
                auto="auto-generated",
                immediate=True,
            )
            row = app.workflow.queue_mail(s, None, effect, at)
            assert row is not None
            s.flush()
            ids.append(row.id)
    return ids


def dispatcher(app: App, channel: object, sleeps: list[float]) -> Dispatcher:
    """A dispatcher on the app's database that records its sleeps instead of sleeping."""
    return Dispatcher(
        app.db,
        app.archive,
        channel,  # type: ignore[arg-type]
        app.workflow,
        sleep=sleeps.append,
        rng=random.Random(7),
    )


def rows(app: App) -> list[Outbox]:
    """Every outbox row, oldest first."""
    with app.db.sessions() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


def outbox_files(app: App) -> list[email.message.EmailMessage]:
    """The messages written to the Maildir outbox."""
    folder = Path(app.config.mail.maildir) / "outbox" / "new"
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for p in sorted(folder.iterdir())
    ]


def test_a_due_mail_is_written_and_marked_sent(app: App) -> None:
    queue(app)
    result = app.dispatcher.run_all(NOW)
    assert (result.sent, result.retried, result.failed) == (1, 0, 0)
    [row] = rows(app)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 1, NOW)
    [msg] = outbox_files(app)
    assert msg["Message-ID"] == row.message_id
    assert msg["Auto-Submitted"] == "auto-generated"
    with app.db.sessions() as s:
        out = s.scalars(select(Message).where(Message.external_id == row.message_id)).one()
    assert out.status == "sent"
    # A second pass finds nothing to do.
    assert app.dispatcher.run_all(NOW).sent == 0


def test_a_temporary_failure_is_retried_at_once_with_exponential_jitter(app: App) -> None:
    queue(app)
    sleeps: list[float] = []
    flaky = FlakyChannel(app.mail, [ChannelUnavailable("421 busy"), ChannelUnavailable("451")])
    result = dispatcher(app, flaky, sleeps).run_all(NOW)
    assert result.sent == 1 and flaky.calls == 3
    assert len(sleeps) == 2
    assert 1 <= sleeps[0] <= 2 and 2 <= sleeps[1] <= 3  # 1 s, 2 s, each plus up to 1 s
    assert len(outbox_files(app)) == 1


def test_a_channel_that_stays_down_defers_the_rest_and_backs_off(app: App) -> None:
    ids = queue(app, 5)
    sleeps: list[float] = []
    down = FlakyChannel(app.mail, [ChannelUnavailable("421 try later")] * 3)
    result = dispatcher(app, down, sleeps).run_all(NOW)
    # The first row used its three tries; the other four were not attempted at all.
    assert (result.sent, result.retried, result.deferred, result.failed) == (0, 1, 4, 0)
    assert down.calls == 3
    first, *rest = rows(app)
    assert first.id == ids[0] and first.status == "pending" and first.attempts == 1
    assert NOW + timedelta(seconds=60) <= first.not_before <= NOW + timedelta(seconds=75)
    assert first.last_error is not None and "421" in first.last_error
    assert all(r.status == "pending" and r.attempts == 0 for r in rest)
    # The channel is back: the next pass sends the four; the first waits for its time.
    later = NOW + timedelta(seconds=30)
    assert dispatcher(app, app.mail, sleeps).run_all(later).sent == 4
    assert dispatcher(app, app.mail, sleeps).run_all(later + timedelta(minutes=2)).sent == 1
    assert len(outbox_files(app)) == 5


def test_backoff_grows_to_an_hour_with_up_to_a_quarter_of_jitter() -> None:
    rng = random.Random(1)
    for attempts, base in [(1, 60), (2, 120), (3, 240), (7, 3600), (30, 3600)]:
        wait = backoff(attempts, rng).total_seconds()
        assert base <= wait <= base * 1.25


def test_a_permanent_rejection_fails_at_once_and_alerts_the_specialists(app: App) -> None:
    [row_id] = queue(app)
    sleeps: list[float] = []
    reject = FlakyChannel(app.mail, [MessageRejected("550 5.1.1 buzón inexistente")])
    result = dispatcher(app, reject, sleeps).run_all(NOW)
    assert (result.sent, result.failed) == (0, 1) and sleeps == []
    failed, alert = rows(app)
    assert failed.status == "failed" and "550" in (failed.last_error or "")
    assert alert.payload["template"] == "common/entrega_fallida"
    assert alert.status == "pending"  # queued in the same pass, sent by the next one
    with app.db.sessions() as s:
        event = s.scalars(select(Event).where(Event.kind == "delivery_failed")).one()
        out = s.scalars(select(Message).where(Message.external_id == failed.message_id)).one()
    assert event.detail["outbox_id"] == row_id and event.detail["status"] == "failed"
    assert out.status == "failed"
    assert app.dispatcher.run_all(NOW).sent == 1
    [msg] = outbox_files(app)
    body = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "rechazado" in body and "550 5.1.1" in body
    assert sorted(a.strip() for a in msg["To"].split(",")) == sorted(
        app.workflow.directory.specialists
    )


def test_after_48_hours_of_temporary_failures_the_row_is_dead_lettered(app: App) -> None:
    queue(app)
    sleeps: list[float] = []
    always_down = FlakyChannel(app.mail, [ChannelUnavailable("421")] * 1000)
    d = dispatcher(app, always_down, sleeps)
    at = NOW
    passes = 0
    while rows(app)[0].status == "pending":
        at = max(at + timedelta(minutes=5), rows(app)[0].not_before)
        d.run_all(at)
        passes += 1
        assert passes < 80
    dead = rows(app)[0]
    assert dead.status == "dead" and at - NOW >= DEAD_AFTER
    assert "48 h" in (dead.last_error or "")
    [alert] = [r for r in rows(app) if r.payload["template"] == "common/entrega_fallida"]
    # The alert goes through the same channel: when it dies too, nobody alerts about it.
    always_dead = FlakyChannel(app.mail, [MessageRejected("554")])
    dispatcher(app, always_dead, sleeps).run_all(at)
    assert [r.status for r in rows(app)] == ["dead", "failed"]
    assert len(rows(app)) == 2 and alert.id == rows(app)[1].id


def test_a_crash_between_send_and_mark_resends_once_without_duplicating(app: App) -> None:
    [row_id] = queue(app)
    job = app.dispatcher._claim(row_id, NOW)
    assert job is not None
    # The message reached the channel, then the process died before marking the row.
    app.dispatcher.executors["mail"](job)
    assert rows(app)[0].status == "sending"
    # Within the stale window nothing happens; after it, the row is sent again.
    assert app.dispatcher.run_all(NOW + timedelta(minutes=5)).sent == 0
    result = app.dispatcher.run_all(NOW + STALE_SENDING + timedelta(seconds=1))
    assert result.sent == 1 and rows(app)[0].status == "sent"
    assert len(outbox_files(app)) == 1  # the Maildir channel knew the message by its key


def test_a_missing_attachment_fails_the_row_without_retrying(app: App) -> None:
    with app.db.transaction() as s:
        effect = SendMail(
            to=("@specialists",),
            template="common/cuarentena",
            context={"archivo": "x", "motivo": "y"},
            attachments=("0" * 64,),
            auto="auto-generated",
            immediate=True,
        )
        assert app.workflow.queue_mail(s, None, effect, NOW) is not None
    sleeps: list[float] = []
    result = dispatcher(app, app.mail, sleeps).run_all(NOW)
    assert result.failed == 1 and sleeps == []
    assert rows(app)[0].status == "failed"


def test_a_disk_error_in_the_channel_is_temporary(app: App) -> None:
    queue(app)
    sleeps: list[float] = []
    full = FlakyChannel(app.mail, [OSError(28, "No space left on device")] * 3)

    class Wrapping:
        """Maildir write failing with OSError, as a full disk does."""

        def send(self, raw: bytes, key: str) -> object:
            return full.send(raw, key)

    d = dispatcher(app, Wrapping(), sleeps)
    result = d.run_all(NOW)
    assert (result.retried, result.failed) == (1, 0) and len(sleeps) == 2
    assert "No space left" in (rows(app)[0].last_error or "")


@pytest.mark.parametrize("kind", ["fax"])
def test_a_row_without_an_executor_fails_instead_of_looping(app: App, kind: str) -> None:
    [row_id] = queue(app)
    with app.db.transaction() as s:
        s.get_one(Outbox, row_id).kind = kind
    result = app.dispatcher.run_all(NOW)
    assert result.failed == 1 and rows(app)[0].status == "failed"


def test_chat_rows_wait_for_the_process_that_runs_the_chat(app: App) -> None:
    # A CLI command dispatching mail must not fail the chat messages it cannot send.
    [row_id] = queue(app)
    with app.db.transaction() as s:
        s.get_one(Outbox, row_id).kind = "chat"
    result = app.dispatcher.run_all(NOW)
    assert (result.sent, result.failed) == (0, 0) and rows(app)[0].status == "pending"
