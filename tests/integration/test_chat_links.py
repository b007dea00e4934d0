"""Linking chat accounts by e-mailed code, on the real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

import bot.chat_links as chat_links
from bot.chat_links import (
    CODE_BURNT,
    CODE_DIGITS,
    CODE_EXPIRED,
    CODE_TTL,
    CODE_USED,
    MAX_ATTEMPTS,
    MAX_CODES_PER_ADDRESS_PER_HOUR,
    MAX_CODES_PER_HOUR,
    NO_CODE,
    NOT_A_CODE,
    TOO_MANY_CODES,
    IssuedCode,
    LinkRefused,
    issue_code,
    linked_users,
    redeem_code,
    refuse_once_today,
    unlink,
)
from storage.db import Database
from storage.migrate import downgrade, upgrade
from storage.models import Base, Case, ChatLink, ChatLinkCode
from tests.conftest import mx

TG = "telegram"
NOW = mx(2026, 11, 24, 9, 0)
ANA = 7_123_456_789  # above 2**31, as real Telegram ids are
BETO = 5_555_000_111
ANA_MAIL = "ana.lopez@ejemplo.com"
TABLES = {"chat_links", "chat_link_codes", "chat_refusals"}


def issue(db: Database, user_id: int, email: str = ANA_MAIL, at: datetime = NOW) -> IssuedCode:
    """Issue a code in its own committed transaction."""
    with db.transaction() as s:
        return issue_code(s, TG, user_id, email, at)


def redeem(db: Database, user_id: int, code: str, at: datetime = NOW) -> str:
    """Redeem a code in its own committed transaction."""
    with db.transaction() as s:
        return redeem_code(s, TG, user_id, code, at)


def refused(db: Database, call: Callable[[Session], object]) -> str:
    """The reason `call` is refused, caught inside the transaction so that it commits."""
    with db.transaction() as s, pytest.raises(LinkRefused) as info:
        call(s)
    return info.value.reason


def refused_redeem(db: Database, user_id: int, code: str, at: datetime = NOW) -> str:
    """Why redeeming `code` is refused (the try is committed, as the bot must do)."""
    return refused(db, lambda s: redeem_code(s, TG, user_id, code, at))


def wrong(code: str) -> str:
    """A code of the right shape that is not `code`."""
    return f"{(int(code) + 1) % 10**CODE_DIGITS:0{CODE_DIGITS}d}"


def links(db: Database) -> dict[int, str]:
    """The active links on Telegram."""
    with db.sessions() as s:
        return linked_users(s, TG)


@pytest.fixture
def fixed_codes(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Make the next codes (and their salts) known values, so text searches are exact."""

    def fix(*codes: int) -> None:
        pending = iter(codes)
        salts = iter(letter * 32 for letter in "abcdefabcdef")  # hex without a digit
        monkeypatch.setattr(chat_links.secrets, "randbelow", lambda _n: next(pending))
        monkeypatch.setattr(chat_links.secrets, "token_hex", lambda _n: next(salts))

    return fix


def test_issue_and_redeem(db: Database) -> None:
    issued = issue(db, ANA, "  Ana.Lopez@Ejemplo.com ")
    assert len(issued.code) == CODE_DIGITS and issued.code.isdigit()
    assert issued.email == ANA_MAIL  # the directory's form: trimmed, lower case
    assert issued.expires_at == NOW + CODE_TTL
    assert issued.code not in repr(issued)  # a logged IssuedCode does not carry it
    spaced = f" {issued.code[:3]} - {issued.code[3:]} "
    assert redeem(db, ANA, spaced, NOW + timedelta(minutes=3)) == ANA_MAIL
    assert links(db) == {ANA: ANA_MAIL}
    with db.sessions() as s:
        link = s.scalars(select(ChatLink)).one()
        assert link.linked_at == NOW + timedelta(minutes=3) and link.revoked_at is None
        assert link.user_id == ANA  # 64-bit id survives the round trip


def test_code_expires_fifteen_minutes_after_issue(db: Database) -> None:
    late = issue(db, ANA)
    just_in_time = issue(db, BETO, "beto@ejemplo.com")
    assert refused_redeem(db, ANA, late.code, NOW + timedelta(minutes=15)) == CODE_EXPIRED
    assert redeem(db, BETO, just_in_time.code, NOW + timedelta(minutes=14, seconds=59)) == (
        "beto@ejemplo.com"
    )
    assert links(db) == {BETO: "beto@ejemplo.com"}


def test_a_code_is_used_once(db: Database) -> None:
    issued = issue(db, ANA)
    redeem(db, ANA, issued.code)
    assert refused_redeem(db, ANA, issued.code, NOW + timedelta(minutes=1)) == CODE_USED


def test_wrong_tries_count_and_burn_the_code_at_the_limit(db: Database) -> None:
    issued = issue(db, ANA)
    reasons = [refused_redeem(db, ANA, wrong(issued.code)) for _ in range(MAX_ATTEMPTS)]
    assert reasons == [
        "Código incorrecto; te quedan 4 intentos.",
        "Código incorrecto; te quedan 3 intentos.",
        "Código incorrecto; te quedan 2 intentos.",
        "Código incorrecto; te queda 1 intento.",
        "Código incorrecto; se agotaron los intentos. Escribe /vincular para recibir otro.",
    ]
    assert refused_redeem(db, ANA, issued.code) == CODE_BURNT  # right, but too late
    with db.sessions() as s:
        assert s.scalars(select(ChatLinkCode.attempts)).one() == MAX_ATTEMPTS
    assert links(db) == {}


def test_the_right_code_on_the_last_try_links(db: Database) -> None:
    issued = issue(db, ANA)
    for _ in range(MAX_ATTEMPTS - 1):
        refused_redeem(db, ANA, wrong(issued.code))
    assert redeem(db, ANA, issued.code) == ANA_MAIL


def test_malformed_input_is_refused_without_spending_a_try(db: Database) -> None:
    issued = issue(db, ANA)
    for text_ in ("12345", "1234567", "12a456", "", "uno dos", "12.34.56"):
        assert refused_redeem(db, ANA, text_) == NOT_A_CODE
    with db.sessions() as s:
        assert s.scalars(select(ChatLinkCode.attempts)).one() == 0
    full_width = "".join(chr(0xFF10 + int(d)) for d in issued.code)  # a phone's wide digits
    assert redeem(db, ANA, full_width) == ANA_MAIL


def test_guesses_per_hour_are_bounded(db: Database) -> None:
    # An attacker asking codes for someone's address from one account, every 5 minutes for
    # three hours, guessing until each code dies: at most MAX_ATTEMPTS guesses per code and
    # MAX_CODES_PER_HOUR codes per hour ever reach the comparison.
    hours = 3
    per_hour = MAX_ATTEMPTS * MAX_CODES_PER_HOUR
    assert per_hour == 15
    compared = [0] * hours
    with db.transaction() as s:
        for step in range(hours * 12):
            at = NOW + timedelta(minutes=5 * step)
            try:
                guessed = wrong(issue_code(s, TG, ANA, ANA_MAIL, at).code)
            except LinkRefused as refusal:
                assert refusal.reason == TOO_MANY_CODES
                guessed = "000000"
            for _ in range(MAX_ATTEMPTS + 2):
                try:
                    redeem_code(s, TG, ANA, guessed, at)
                except LinkRefused as refusal:
                    compared[step // 12] += refusal.reason.startswith("Código incorrecto")
                else:
                    pytest.fail("a guess that cannot be right linked the account")
        attempts = s.scalar(select(func.sum(ChatLinkCode.attempts)))
    assert compared == [per_hour] * hours
    assert attempts == sum(compared) == per_hour * hours
    # Chance that a guesser finds a code within an hour, over the 10**6 codes.
    assert per_hour / 10**CODE_DIGITS == pytest.approx(1.5e-5)
    assert per_hour / 10**CODE_DIGITS < 2e-5


def test_more_accounts_do_not_buy_more_codes_for_one_address(db: Database) -> None:
    accounts = [1_000 + n for n in range(MAX_CODES_PER_ADDRESS_PER_HOUR + 1)]
    for account in accounts[:-1]:
        issue(db, account)
    assert refused(db, lambda s: issue_code(s, TG, accounts[-1], ANA_MAIL, NOW)) == (TOO_MANY_CODES)
    issue(db, accounts[-1], "otra@ejemplo.com")  # another address is not affected


def test_codes_per_account_are_capped_for_an_hour(db: Database) -> None:
    for minute in range(MAX_CODES_PER_HOUR):
        last = issue(db, ANA, f"a{minute}@ejemplo.com", NOW + timedelta(minutes=minute))
    late = NOW + timedelta(minutes=59, seconds=59)
    assert refused(db, lambda s: issue_code(s, TG, ANA, "b@ejemplo.com", late)) == TOO_MANY_CODES
    # The refused request left the live code alone.
    assert redeem(db, ANA, last.code, late - timedelta(minutes=50)) == "a2@ejemplo.com"
    issue(db, ANA, ANA_MAIL, NOW + timedelta(hours=1))  # the first one left the window


def test_a_code_links_only_the_account_that_asked(db: Database) -> None:
    for_ana = issue(db, ANA)
    assert refused_redeem(db, BETO, for_ana.code) == NO_CODE
    for_beto = issue(db, BETO, "beto@ejemplo.com")
    if for_beto.code != for_ana.code:  # equal one time in a million: nothing to tell apart
        assert refused_redeem(db, BETO, for_ana.code).startswith("Código incorrecto")
    assert redeem(db, ANA, for_ana.code) == ANA_MAIL
    assert links(db) == {ANA: ANA_MAIL}


def test_a_new_code_invalidates_the_older(db: Database, fixed_codes: Callable[..., None]) -> None:
    fixed_codes(111111, 222222)
    older = issue(db, ANA)
    newer = issue(db, ANA, at=NOW + timedelta(minutes=1))
    assert (older.code, newer.code) == ("111111", "222222")
    at = NOW + timedelta(minutes=2)
    assert refused_redeem(db, ANA, older.code, at).startswith("Código incorrecto")
    assert redeem(db, ANA, newer.code, at) == ANA_MAIL
    with db.sessions() as s:
        first = s.scalars(select(ChatLinkCode).order_by(ChatLinkCode.id)).first()
        assert first is not None and first.expires_at == NOW + timedelta(minutes=1)


def dump(db: Database) -> str:
    """Every row of every table, as text."""
    with db.engine.connect() as conn:
        names = inspect(conn).get_table_names()
        assert set(names) >= TABLES
        rows = [
            f"{name}: " + " | ".join(map(str, row))
            for name in names
            for row in conn.execute(text(f'SELECT * FROM "{name}"'))
        ]
    return "\n".join(rows)


def test_codes_are_never_stored_or_logged(
    db: Database, fixed_codes: Callable[..., None], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # every statement and parameter
    codes = ("314159", "271828", "161803", "141421")
    fixed_codes(*map(int, codes))
    pending = issue(db, ANA)
    burnt = issue(db, BETO, "beto@ejemplo.com")
    used = issue(db, 42, "carla@ejemplo.com")
    expired = issue(db, 43, "dora@ejemplo.com")
    assert [pending.code, burnt.code, used.code, expired.code] == list(codes)
    refused_redeem(db, ANA, wrong(pending.code))
    for _ in range(MAX_ATTEMPTS):
        refused_redeem(db, BETO, wrong(burnt.code))
    redeem(db, 42, used.code)
    refused_redeem(db, 43, expired.code, NOW + CODE_TTL)
    stored = dump(db)
    assert "chat_link_codes:" in stored and "ana.lopez@ejemplo.com" in stored
    assert any("INSERT INTO chat_link_codes" in r.getMessage() for r in caplog.records)
    for code in codes:
        assert code not in stored
        assert not [r for r in caplog.records if code in r.getMessage()]


def test_each_code_has_its_own_salt_and_only_an_hmac_is_kept(db: Database) -> None:
    issued = [issue(db, 100 + n, f"p{n}@ejemplo.com") for n in range(3)]
    with db.sessions() as s:
        rows = s.scalars(select(ChatLinkCode).order_by(ChatLinkCode.id)).all()
    assert len({r.salt for r in rows}) == 3
    for row, code in zip(rows, issued, strict=True):
        assert len(row.salt) == 32 and len(row.code_hash) == 64
        expected = hmac.new(row.salt.encode(), code.code.encode(), hashlib.sha256).hexdigest()
        assert row.code_hash == expected


def test_a_stranger_is_refused_once_a_day(db: Database) -> None:
    today = date(2026, 11, 24)
    with db.transaction() as s:
        assert refuse_once_today(s, TG, ANA, today, NOW) is True
        assert refuse_once_today(s, TG, ANA, today, NOW + timedelta(hours=1)) is False
        assert refuse_once_today(s, TG, BETO, today, NOW) is True
        # The losing insert did not spoil the caller's transaction.
        s.add(Case(process="MA-006", state="x", created_at=NOW, updated_at=NOW))
    with db.transaction() as s:
        assert refuse_once_today(s, TG, ANA, today, NOW + timedelta(hours=2)) is False
        assert refuse_once_today(s, TG, ANA, today + timedelta(days=1), NOW) is True
    with db.sessions() as s:
        assert s.scalars(select(Case.state)).all() == ["x"]


def test_two_daemons_refuse_a_stranger_once(database_url: str) -> None:
    first, second = Database(database_url), Database(database_url)
    today = date(2026, 11, 24)
    results: dict[str, bool] = {}

    def other_daemon() -> None:
        with second.transaction() as s:
            results["second"] = refuse_once_today(s, TG, ANA, today, NOW)

    try:
        with first.transaction() as s:
            results["first"] = refuse_once_today(s, TG, ANA, today, NOW)
            racer = threading.Thread(target=other_daemon)
            racer.start()
            racer.join(0.5)
            # SQLite: waiting for the write lock; PostgreSQL: for the unique index entry.
            assert racer.is_alive() and "second" not in results
        racer.join(20)
        assert not racer.is_alive()
        assert results == {"first": True, "second": False}
    finally:
        first.dispose()
        second.dispose()


def test_unlink(db: Database) -> None:
    redeem(db, ANA, issue(db, ANA).code)
    pending = issue(db, ANA, at=NOW + timedelta(minutes=1))
    with db.transaction() as s:
        assert unlink(s, TG, ANA, NOW + timedelta(minutes=2)) is True
        assert unlink(s, TG, ANA, NOW + timedelta(minutes=2)) is False
        assert unlink(s, TG, BETO, NOW) is False
    assert links(db) == {}
    # A code asked for before the unlink does not undo it.
    at = NOW + timedelta(minutes=3)
    assert refused_redeem(db, ANA, pending.code, at) == CODE_EXPIRED
    # Linking again reuses the account's row.
    redeem(db, ANA, issue(db, ANA, at=NOW + timedelta(hours=1)).code, NOW + timedelta(hours=1))
    assert links(db) == {ANA: ANA_MAIL}
    with db.sessions() as s:
        assert len(s.scalars(select(ChatLink)).all()) == 1


def test_linked_users(db: Database) -> None:
    redeem(db, ANA, issue(db, ANA).code)
    redeem(db, BETO, issue(db, BETO, "beto@ejemplo.com").code)
    with db.transaction() as s:  # another channel's accounts are not Telegram's
        redeem_code(s, "otro", 9, issue_code(s, "otro", 9, "x@ejemplo.com", NOW).code, NOW)
    assert links(db) == {ANA: ANA_MAIL, BETO: "beto@ejemplo.com"}
    # A second account proving the same mailbox replaces the first.
    later = NOW + timedelta(minutes=5)
    assert redeem(db, 77, issue(db, 77, ANA_MAIL, later).code, later) == ANA_MAIL
    assert links(db) == {77: ANA_MAIL, BETO: "beto@ejemplo.com"}
    with db.sessions() as s:
        assert linked_users(s, "otro") == {9: "x@ejemplo.com"}


def test_naive_datetimes_are_rejected(db: Database) -> None:
    with db.transaction() as s, pytest.raises(ValueError, match="naive"):
        issue_code(s, TG, ANA, ANA_MAIL, datetime(2026, 11, 24, 9, 0))


def test_migration_0004_matches_the_models_and_goes_down_and_up(db: Database) -> None:
    engine = db.engine
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs: list[Any] = compare_metadata(context, Base.metadata)
    assert diffs == []
    downgrade(engine, "0003")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
