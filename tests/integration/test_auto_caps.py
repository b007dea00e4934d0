"""The caps on automatic mail to people outside the team, at the edges of their windows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, func, select

from bot.app import App
from bot.rules.dsl import event
from bot.rules.effects import SendMail
from bot.workflow import RECIPIENT_CAP
from storage.migrate import downgrade, upgrade
from storage.models import Event, Outbox
from tests.conftest import mx

OUTSIDER = "roberta.diaz@example.net"
T0 = mx(2026, 11, 23, 9, 0)


def notice(
    to: str = OUTSIDER,
    auto: Literal["auto-replied", "auto-generated"] | None = "auto-replied",
) -> SendMail:
    """An automatic answer that needs no case."""
    return SendMail(
        to=(to,),
        template="common/cuarentena",
        context={"archivo": "x", "motivo": "y"},
        auto=auto,
        immediate=True,
    )


def queue(app: App, at: datetime, effect: SendMail | None = None) -> bool:
    """Queue one mail at `at`; True if it went to the outbox."""
    with app.db.transaction() as s:
        return app.workflow.queue_mail(s, None, effect or notice(), at) is not None


def open_ticket(app: App, at: datetime, requester: str = OUTSIDER) -> None:
    """Open an MA-006 ticket, which acknowledges it automatically."""
    with app.db.transaction() as s:
        trigger = app.workflow.trigger(event("abrir"), requester, text="No puedo entrar")
        app.workflow.open_case(
            s, "MA-006", trigger, at, subject="No puedo entrar", requester=requester
        )


def acks_to(app: App, address: str) -> int:
    """Acknowledgements queued to an address."""
    with app.db.sessions() as s:
        rows = s.scalars(select(Outbox).where(Outbox.recipients.contains(f",{address},")))
        return sum(1 for row in rows if row.payload["template"] == "MA-006/acuse")


def suppressed(app: App) -> int:
    """Automatic mails held back by a cap."""
    with app.db.sessions() as s:
        count = s.scalar(
            select(func.count()).select_from(Event).where(Event.kind == "auto_mail_suppressed")
        )
        return count or 0


def test_the_daily_cap_per_recipient_holds_the_mail_after_the_limit(app: App) -> None:
    for n in range(RECIPIENT_CAP):
        assert queue(app, T0 + timedelta(minutes=n))
    assert not queue(app, T0 + timedelta(hours=23))
    assert suppressed(app) == 1


def test_mail_older_than_a_day_does_not_count_towards_the_daily_cap(app: App) -> None:
    for n in range(RECIPIENT_CAP):
        assert queue(app, T0 + timedelta(minutes=n))
    assert queue(app, T0 + timedelta(days=1, minutes=RECIPIENT_CAP))
    assert suppressed(app) == 0


def test_mail_that_is_not_automatic_is_never_capped(app: App) -> None:
    for n in range(RECIPIENT_CAP + 2):
        assert queue(app, T0 + timedelta(minutes=n), notice(auto=None))
    assert suppressed(app) == 0


def test_reminders_and_alerts_are_never_capped(app: App) -> None:
    # They follow our own timers, so they cannot loop with someone else's robot.
    for n in range(RECIPIENT_CAP + 2):
        assert queue(app, T0 + timedelta(minutes=n), notice(auto="auto-generated"))
    assert queue(app, T0 + timedelta(hours=1))
    assert suppressed(app) == 0


def test_people_in_the_directory_have_no_daily_cap(app: App) -> None:
    # A zone's assistant answering many agents in one day gets every answer.
    for n in range(RECIPIENT_CAP + 5):
        assert queue(app, T0 + timedelta(minutes=n), notice(to="mariana@example.com"))
    assert suppressed(app) == 0


def test_mail_to_other_addresses_and_to_the_team_does_not_count(app: App) -> None:
    for n in range(RECIPIENT_CAP):
        assert queue(app, T0 + timedelta(minutes=n), notice(to=f"otro{n}@example.net"))
    for n in range(RECIPIENT_CAP + 2):
        assert queue(app, T0 + timedelta(minutes=n), notice(to="sofia.ramirez@example.com"))
    assert queue(app, T0 + timedelta(hours=1))
    assert suppressed(app) == 0


def test_a_second_acknowledgement_within_the_hour_is_held(app: App) -> None:
    open_ticket(app, T0)
    open_ticket(app, T0 + timedelta(minutes=59))
    assert acks_to(app, OUTSIDER) == 1
    assert suppressed(app) == 1


def test_an_acknowledgement_after_the_hour_goes_out(app: App) -> None:
    open_ticket(app, T0)
    open_ticket(app, T0 + timedelta(minutes=61))
    assert acks_to(app, OUTSIDER) == 2
    assert suppressed(app) == 0


def test_other_automatic_mail_within_the_hour_does_not_hold_an_acknowledgement(
    app: App,
) -> None:
    for n in range(3):
        assert queue(app, T0 + timedelta(minutes=n))
    open_ticket(app, T0 + timedelta(minutes=10))
    assert acks_to(app, OUTSIDER) == 1
    assert suppressed(app) == 0


def test_acknowledgements_count_towards_the_daily_cap(app: App) -> None:
    for n in range(RECIPIENT_CAP - 1):
        assert queue(app, T0 + timedelta(minutes=n))
    open_ticket(app, T0 + timedelta(hours=2))
    assert acks_to(app, OUTSIDER) == 1
    assert not queue(app, T0 + timedelta(hours=3))
    assert suppressed(app) == 1


def test_mail_queued_before_the_upgrade_still_counts(app: App) -> None:
    downgrade(app.db.engine, "0001")
    with app.db.transaction() as s:
        for n in range(RECIPIENT_CAP):
            at = T0 + timedelta(minutes=n)
            s.add(
                Outbox(
                    kind="mail",
                    payload={"template": "MA-006/acuse" if n == 0 else "common/cuarentena"},
                    auto="auto-generated",
                    recipients=f",{OUTSIDER},sofia.ramirez@example.com,",
                    not_before=at,
                    created_at=at,
                )
            )
    upgrade(app.db.engine)
    assert not queue(app, T0 + timedelta(hours=2))
    downgrade(app.db.engine, "0001")
    with app.db.transaction() as s:
        s.execute(delete(Outbox).where(Outbox.created_at > T0 + timedelta(minutes=1)))
    upgrade(app.db.engine)
    assert queue(app, T0 + timedelta(hours=2))
    open_ticket(app, T0 + timedelta(minutes=30))
    assert acks_to(app, OUTSIDER) == 1  # the one from before the upgrade
