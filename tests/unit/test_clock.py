"""Tests for bot.clock."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.clock import Clock, FixedClock, SystemClock

MX = ZoneInfo("America/Mexico_City")


def test_system_clock_is_aware_utc_and_current() -> None:
    before = datetime.now(UTC)
    now = SystemClock().now()
    after = datetime.now(UTC)
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after


def test_fixed_clock_does_not_move_by_itself() -> None:
    at = datetime(2026, 11, 13, 9, 0, tzinfo=MX)
    clock = FixedClock(at)
    assert clock.now() == at
    assert clock.now() == at


def test_fixed_clock_advance_returns_new_now() -> None:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock.advance(timedelta(hours=36)) == datetime(2026, 1, 2, 12, tzinfo=UTC)
    assert clock.now() == datetime(2026, 1, 2, 12, tzinfo=UTC)
    assert clock.advance(timedelta(minutes=-30)) == datetime(2026, 1, 2, 11, 30, tzinfo=UTC)


def test_fixed_clock_set() -> None:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    target = datetime(2027, 1, 4, 8, tzinfo=MX)
    clock.set(target)
    assert clock.now() == target


def test_fixed_clock_rejects_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FixedClock(datetime(2026, 1, 1, 9, 0))


def test_fixed_clock_rejects_naive_set() -> None:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2026, 1, 1, 9, 0))
    assert clock.now() == datetime(2026, 1, 1, tzinfo=UTC)


def test_both_clocks_satisfy_protocol() -> None:
    clocks: list[Clock] = [SystemClock(), FixedClock(datetime(2026, 1, 1, tzinfo=UTC))]
    for clock in clocks:
        assert clock.now().tzinfo is not None
