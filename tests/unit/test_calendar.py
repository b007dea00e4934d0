"""Tests for bot.calendar: table tests for known dates, property tests for the arithmetic."""

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.calendar import EXTRA_CLOSED_NAME, BusinessCalendar, SupportHours

MX = ZoneInfo("America/Mexico_City")
# Holy Thursday/Friday 2026, Día de Muertos (a Monday in 2026), Guadalupe (a Saturday in 2026).
EXTRA = [date(2026, 4, 2), date(2026, 4, 3), date(2026, 11, 2), date(2026, 12, 12)]
# Module level rather than a fixture: hypothesis forbids function-scoped fixtures in @given.
CAL = BusinessCalendar(extra_closed=EXTRA)
H = timedelta(hours=1)
PROPS = settings(max_examples=200, deadline=None)


def mx(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=MX)


# --- SupportHours -------------------------------------------------------------------------


def test_support_hours_defaults() -> None:
    hours = SupportHours()
    assert hours.mon_thu == (time(8), time(18))
    assert hours.fri == (time(8), time(15))
    assert hours.chat_until == time(17, 30)
    assert SupportHours.parse() == hours


def test_support_hours_parse_custom() -> None:
    hours = SupportHours.parse(mon_thu="9:00 - 17:45", fri="09:00-14:00", chat_until="16:00")
    assert hours == SupportHours((time(9), time(17, 45)), (time(9), time(14)), time(16))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mon_thu": "25:00-18:00"}, r"mon_thu: invalid time '25:00'"),
        ({"mon_thu": "08:60-18:00"}, r"mon_thu: invalid time '08:60'"),
        ({"mon_thu": "18:00-08:00"}, r"mon_thu: start 18:00 must be before end 08:00"),
        ({"fri": "08:00-08:00"}, r"fri: start 08:00 must be before end 08:00"),
        ({"fri": "0800-1500"}, r"fri: invalid time '0800'"),
        ({"fri": "08:00"}, r"fri: invalid range"),
        ({"fri": "08:00-12:00-15:00"}, r"fri: invalid range"),
        ({"mon_thu": ""}, r"mon_thu: invalid range"),
        ({"chat_until": "noon"}, r"chat_until: invalid time 'noon'"),
        ({"chat_until": "08:00"}, r"chat_until: 08:00 must be after the mon_thu opening 08:00"),
        ({"chat_until": "24:00"}, r"chat_until: invalid time"),
    ],
)
def test_support_hours_parse_rejects(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SupportHours.parse(**kwargs)


# --- days ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "business", "name"),
    [
        (date(2026, 11, 13), True, None),  # Friday
        (date(2026, 11, 14), False, None),  # Saturday
        (date(2026, 11, 15), False, None),  # Sunday
        (date(2026, 11, 16), False, "Día de la Revolución"),  # Monday, statutory
        (date(2026, 11, 17), True, None),
        (date(2026, 12, 24), True, None),
        (date(2026, 12, 25), False, "Navidad"),
        (date(2027, 1, 1), False, "Año Nuevo"),
        (date(2027, 1, 4), True, None),
        (date(2026, 2, 2), False, "Día de la Constitución"),
        (date(2026, 4, 2), False, EXTRA_CLOSED_NAME),  # Holy Thursday, from config
        (date(2026, 4, 3), False, EXTRA_CLOSED_NAME),
        (date(2026, 11, 2), False, EXTRA_CLOSED_NAME),
        (date(2026, 12, 12), False, EXTRA_CLOSED_NAME),  # a Saturday anyway
        (date(2027, 11, 15), False, "Día de la Revolución"),  # third Monday rule, next year
    ],
)
def test_business_days_and_holiday_names(day: date, business: bool, name: str | None) -> None:
    assert CAL.is_business_day(day) is business
    assert CAL.holiday_name(day) == name
    assert CAL.is_holiday(day) is (name is not None)


def test_extra_closed_days_only_apply_when_configured() -> None:
    plain = BusinessCalendar()
    assert plain.is_business_day(date(2026, 4, 2))
    assert plain.holiday_name(date(2026, 11, 2)) is None
    assert not plain.is_business_day(date(2026, 11, 16))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 12), date(2026, 11, 13)),
        (date(2026, 11, 13), date(2026, 11, 17)),
        (date(2026, 11, 14), date(2026, 11, 17)),
        (date(2026, 12, 24), date(2026, 12, 28)),
        (date(2026, 12, 31), date(2027, 1, 4)),
        (date(2026, 4, 1), date(2026, 4, 6)),
        (date(2026, 10, 30), date(2026, 11, 3)),
    ],
)
def test_next_business_day(day: date, expected: date) -> None:
    assert CAL.next_business_day(day) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (date(2026, 11, 13), date(2026, 11, 13), 0),
        (date(2026, 11, 13), date(2026, 11, 16), 0),
        (date(2026, 11, 13), date(2026, 11, 17), 1),
        (date(2026, 11, 17), date(2026, 11, 13), -1),
        (date(2026, 11, 14), date(2026, 11, 13), 0),  # (Fri, Sat] holds no business day
        (date(2026, 11, 14), date(2026, 11, 12), -1),  # (Thu, Sat] holds Friday
        (date(2026, 12, 24), date(2027, 1, 4), 5),
        (date(2027, 1, 4), date(2026, 12, 24), -5),
        # 261 weekdays in 2026, minus 7 weekday statutory holidays, minus 3 weekday extras.
        (date(2025, 12, 31), date(2026, 12, 31), 251),
    ],
)
def test_business_days_between(a: date, b: date, expected: int) -> None:
    assert CAL.business_days_between(a, b) == expected


@pytest.mark.parametrize(
    ("since", "now", "expected"),
    [
        (mx(2026, 11, 23, 10), mx(2026, 11, 23, 17), 0),  # same day
        (mx(2026, 11, 20, 10), mx(2026, 11, 23, 9), 1),  # Friday to Monday: the weekend is free
        (mx(2026, 11, 13, 10), mx(2026, 11, 17, 9), 1),  # weekend and Revolución (Nov 16)
        (mx(2026, 11, 13, 10), mx(2026, 11, 23, 9), 5),
        (mx(2026, 10, 30, 10), mx(2026, 11, 3, 9), 1),  # Nov 2 closed by config
        (mx(2026, 11, 20, 16), mx(2026, 11, 23, 9), 0),  # after Friday's close: from Monday
        (mx(2026, 11, 14, 12), mx(2026, 11, 17, 9), 0),  # Saturday: from Tuesday's opening
        (mx(2026, 11, 23, 7), mx(2026, 11, 23, 9), 0),  # before opening, same day
        (mx(2026, 11, 24, 9), mx(2026, 11, 23, 9), 0),  # never negative
        # 21:00 on Friday the 13th in Mexico City, given in UTC: after hours, so from Tuesday.
        (datetime(2026, 11, 14, 3, 0, tzinfo=UTC), mx(2026, 11, 18, 9), 1),
    ],
)
def test_business_age(since: datetime, now: datetime, expected: int) -> None:
    assert CAL.business_age(since, now) == expected


def test_date_methods_reject_datetimes() -> None:
    # A datetime's date depends on its time zone, so it must go through local() first.
    at = datetime(2026, 11, 17, 3, 0, tzinfo=UTC)  # still Monday 16th in Mexico City
    for method in (CAL.is_business_day, CAL.is_holiday, CAL.holiday_name, CAL.window):
        with pytest.raises(TypeError, match="expected a date"):
            method(at)


# --- time zone ----------------------------------------------------------------------------


@pytest.mark.parametrize("month", [1, 7])
def test_offset_is_minus_six_all_year(month: int) -> None:
    local = CAL.local(datetime(2026, month, 15, 18, 0, tzinfo=UTC))
    assert local.utcoffset() == timedelta(hours=-6)
    assert local.isoformat() == f"2026-{month:02d}-15T12:00:00-06:00"
    span = CAL.window(date(2026, month, 15))
    assert span is not None
    assert span[0].isoformat() == f"2026-{month:02d}-15T08:00:00-06:00"


def test_tz_accepts_name_or_zoneinfo() -> None:
    assert CAL.tz == MX
    assert BusinessCalendar(tz=MX).tz == MX
    assert BusinessCalendar(tz="America/Tijuana").tz.key == "America/Tijuana"


def test_naive_datetimes_rejected() -> None:
    naive = datetime(2026, 11, 17, 9, 0)
    aware = mx(2026, 11, 17, 9)
    calls: list[Callable[[], object]] = [
        lambda: CAL.local(naive),
        lambda: CAL.is_open(naive),
        lambda: CAL.next_opening(naive),
        lambda: CAL.add_business_days(naive, 1),
        lambda: CAL.add_business_days(naive, 0),
        lambda: CAL.business_hours_between(naive, aware),
        lambda: CAL.business_hours_between(aware, naive),
        lambda: CAL.add_business_hours(naive, H),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="timezone-aware"):
            call()


# --- windows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "channel", "expected"),
    [
        (date(2026, 11, 17), "mail", (time(8), time(18))),  # Tuesday
        (date(2026, 11, 17), "chat", (time(8), time(17, 30))),
        (date(2026, 11, 19), "mail", (time(8), time(18))),  # Thursday
        (date(2026, 11, 13), "mail", (time(8), time(15))),  # Friday: short day
        (date(2026, 11, 13), "chat", (time(8), time(15))),  # chat_until past Friday's close
        (date(2026, 11, 14), "mail", None),
        (date(2026, 11, 16), "chat", None),
        (date(2026, 12, 25), "mail", None),
        (date(2027, 1, 1), "mail", None),
        (date(2026, 4, 2), "mail", None),
    ],
)
def test_window(day: date, channel: str, expected: tuple[time, time] | None) -> None:
    span = CAL.window(day, channel)
    if expected is None:
        assert span is None
        return
    assert span == (datetime.combine(day, expected[0], MX), datetime.combine(day, expected[1], MX))
    assert span[0].tzinfo == MX


@pytest.mark.parametrize("day", [date(2026, 11, 17), date(2026, 11, 14)])
def test_unknown_channel_rejected_even_when_closed(day: date) -> None:
    with pytest.raises(ValueError, match="unknown channel 'phone'"):
        CAL.window(day, "phone")
    with pytest.raises(ValueError, match="unknown channel"):
        CAL.is_open(datetime.combine(day, time(10), MX), "phone")


@pytest.mark.parametrize(
    ("at", "channel", "expected"),
    [
        (mx(2026, 11, 17, 7, 59, 59, 999_999), "mail", False),
        (mx(2026, 11, 17, 8), "mail", True),  # start inclusive
        (mx(2026, 11, 17, 17, 59, 59, 999_999), "mail", True),
        (mx(2026, 11, 17, 18), "mail", False),  # end exclusive
        (mx(2026, 11, 17, 17, 29, 59), "chat", True),
        (mx(2026, 11, 17, 17, 30), "chat", False),
        (mx(2026, 11, 17, 17, 30), "mail", True),
        (mx(2026, 11, 13, 14, 59, 59), "mail", True),
        (mx(2026, 11, 13, 15), "mail", False),  # Friday closes at 15:00
        (mx(2026, 11, 13, 15), "chat", False),
        (mx(2026, 11, 14, 10), "mail", False),  # Saturday
        (mx(2026, 11, 16, 10), "mail", False),  # Revolution day
        (mx(2026, 12, 25, 10), "chat", False),
        (mx(2027, 1, 1, 10), "mail", False),
        (mx(2026, 11, 2, 10), "mail", False),  # extra closed
        (datetime(2026, 11, 17, 14, 0, tzinfo=UTC), "mail", True),  # 08:00 local
        (datetime(2026, 11, 18, 0, 0, tzinfo=UTC), "mail", False),  # 18:00 local on the 17th
        (datetime(2026, 11, 17, 13, 59, tzinfo=UTC), "mail", False),
        (datetime(2026, 7, 15, 14, 0, tzinfo=UTC), "mail", True),  # no DST in July
        (datetime(2026, 7, 15, 13, 59, tzinfo=UTC), "mail", False),
    ],
)
def test_is_open(at: datetime, channel: str, expected: bool) -> None:
    assert CAL.is_open(at, channel) is expected


@pytest.mark.parametrize(
    ("at", "channel", "expected"),
    [
        (mx(2026, 11, 17, 10, 15), "mail", mx(2026, 11, 17, 10, 15)),  # open: itself
        (mx(2026, 11, 17, 8), "mail", mx(2026, 11, 17, 8)),
        (mx(2026, 11, 17, 6), "mail", mx(2026, 11, 17, 8)),
        (mx(2026, 11, 17, 18), "mail", mx(2026, 11, 18, 8)),
        (mx(2026, 11, 17, 17, 29), "chat", mx(2026, 11, 17, 17, 29)),
        (mx(2026, 11, 17, 17, 30), "chat", mx(2026, 11, 18, 8)),
        (mx(2026, 11, 13, 15), "mail", mx(2026, 11, 17, 8)),  # Fri close, Monday holiday
        (mx(2026, 11, 14, 12), "mail", mx(2026, 11, 17, 8)),
        (mx(2026, 12, 24, 18), "mail", mx(2026, 12, 28, 8)),
        (mx(2026, 12, 31, 23, 59), "mail", mx(2027, 1, 4, 8)),
        (mx(2026, 4, 1, 19), "chat", mx(2026, 4, 6, 8)),  # Holy week from config
        (datetime(2026, 11, 18, 0, 0, tzinfo=UTC), "mail", mx(2026, 11, 18, 8)),
    ],
)
def test_next_opening(at: datetime, channel: str, expected: datetime) -> None:
    result = CAL.next_opening(at, channel)
    assert result == expected
    assert result.tzinfo == MX


# --- business-day arithmetic --------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (mx(2026, 11, 6, 10), 1, mx(2026, 11, 9, 10)),  # Friday + 1 = Monday
        (mx(2026, 11, 7, 10), 1, mx(2026, 11, 9, 10)),  # Saturday + 1 = Monday
        (mx(2026, 11, 8, 23, 30), 1, mx(2026, 11, 9, 23, 30)),  # wall time kept, out of hours
        (mx(2026, 11, 13, 9, 45), 1, mx(2026, 11, 17, 9, 45)),  # Mon 16 Nov is Revolution day
        (mx(2026, 11, 13, 9), 2, mx(2026, 11, 18, 9)),
        (mx(2026, 12, 24, 12), 1, mx(2026, 12, 28, 12)),  # Christmas on Friday
        (mx(2026, 12, 31, 12), 1, mx(2027, 1, 4, 12)),  # New Year on Friday
        (mx(2026, 4, 1, 12), 1, mx(2026, 4, 6, 12)),  # Holy Thu/Fri from config
        (mx(2026, 11, 17, 9), -1, mx(2026, 11, 13, 9)),
        (mx(2026, 11, 15, 9), -1, mx(2026, 11, 13, 9)),  # Sunday - 1 = Friday
        (mx(2026, 11, 3, 9), -1, mx(2026, 10, 30, 9)),  # Nov 2 closed by config
        (mx(2027, 1, 4, 9), -1, mx(2026, 12, 31, 9)),
        (mx(2026, 11, 14, 9), 0, mx(2026, 11, 14, 9)),  # zero returns start, even on a weekend
        (mx(2025, 12, 31, 9), 251, mx(2026, 12, 31, 9)),
        # 21:00 UTC-6 on Friday the 13th: the local date decides, not the UTC one.
        (datetime(2026, 11, 14, 3, 0, tzinfo=UTC), 1, mx(2026, 11, 17, 21)),
    ],
)
def test_add_business_days(start: datetime, n: int, expected: datetime) -> None:
    result = CAL.add_business_days(start, n)
    assert result == expected
    assert result.tzinfo == MX
    assert result.utcoffset() == timedelta(hours=-6)


def test_add_business_days_long_span_is_cheap() -> None:
    start = mx(2026, 1, 5, 9)
    far = CAL.add_business_days(start, 2_500)
    assert CAL.is_business_day(far.date())
    assert CAL.business_days_between(start.date(), far.date()) == 2_500
    assert CAL.add_business_days(far, -2_500) == start


# --- business-hour arithmetic -------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (mx(2026, 11, 17, 9), mx(2026, 11, 17, 10, 30), timedelta(hours=1, minutes=30)),
        (mx(2026, 11, 17, 7), mx(2026, 11, 17, 19), 10 * H),
        (mx(2026, 11, 17, 8), mx(2026, 11, 17, 18), 10 * H),
        (mx(2026, 11, 17, 18), mx(2026, 11, 18, 8), timedelta()),  # overnight
        (mx(2026, 11, 13, 7), mx(2026, 11, 14, 12), 7 * H),  # Friday's short day
        (mx(2026, 11, 14, 0), mx(2026, 11, 16, 23), timedelta()),  # weekend + holiday
        (mx(2026, 11, 12, 17), mx(2026, 11, 17, 9), 9 * H),  # 1 + 7 + 0 (holiday) + 1
        (mx(2026, 11, 23), mx(2026, 11, 30), 47 * H),  # plain week: 4*10 + 7
        (mx(2026, 12, 21), mx(2027, 1, 4), 8 * 10 * H),  # both Fridays are holidays
        (mx(2026, 11, 17, 10), mx(2026, 11, 17, 9), timedelta()),  # b < a
        (mx(2026, 11, 17, 10), mx(2026, 11, 17, 10), timedelta()),
        (datetime(2026, 11, 17, 15, 0, tzinfo=UTC), mx(2026, 11, 17, 10), H),
    ],
)
def test_business_hours_between(a: datetime, b: datetime, expected: timedelta) -> None:
    assert CAL.business_hours_between(a, b) == expected


def test_business_hours_between_over_a_year() -> None:
    # 2026: 251 business days, of which Fridays are 52 - 3 (May 1, Apr 3, Dec 25 closed).
    fridays = 49
    expected = fridays * 7 * H + (251 - fridays) * 10 * H
    assert CAL.business_hours_between(mx(2026, 1, 1), mx(2027, 1, 1)) == expected


@pytest.mark.parametrize(
    ("start", "delta", "expected"),
    [
        (mx(2026, 11, 17, 9), H, mx(2026, 11, 17, 10)),
        (mx(2026, 11, 17, 17), H, mx(2026, 11, 17, 18)),  # lands on the close, not next day
        (mx(2026, 11, 17, 17), 2 * H, mx(2026, 11, 18, 9)),
        (mx(2026, 11, 17, 6), 10 * H, mx(2026, 11, 17, 18)),
        (mx(2026, 11, 13, 14), 2 * H, mx(2026, 11, 17, 9)),  # Fri 15:00 close, Mon holiday
        (mx(2026, 11, 14, 12), timedelta(), mx(2026, 11, 14, 12)),  # zero: start itself
        (mx(2026, 11, 14, 12), H, mx(2026, 11, 17, 9)),
        (mx(2026, 12, 24, 17), 4 * H, mx(2026, 12, 28, 11)),
        (mx(2026, 11, 23, 8), 47 * H, mx(2026, 11, 27, 15)),
        (mx(2026, 11, 17, 9), timedelta(microseconds=1), mx(2026, 11, 17, 9, 0, 0, 1)),
    ],
)
def test_add_business_hours(start: datetime, delta: timedelta, expected: datetime) -> None:
    result = CAL.add_business_hours(start, delta)
    assert result == expected
    assert result.tzinfo == MX


def test_add_business_hours_rejects_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        CAL.add_business_hours(mx(2026, 11, 17, 9), -H)


# --- describe_hours -----------------------------------------------------------------------


def test_describe_hours_default() -> None:
    assert CAL.describe_hours() == (
        "lunes a jueves de 8:00 a 18:00 y viernes de 8:00 a 15:00 (hora del centro de México)"
    )


def test_describe_hours_custom() -> None:
    cal = BusinessCalendar(
        tz="America/Tijuana", hours=SupportHours.parse("09:30-17:45", "09:00-14:00", "16:00")
    )
    assert cal.describe_hours() == (
        "lunes a jueves de 9:30 a 17:45 y viernes de 9:00 a 14:00 (zona horaria America/Tijuana)"
    )


# --- properties ---------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2029, 12, 31),
    timezones=st.sampled_from([MX, UTC]),
)
business_starts = instants.filter(lambda dt: CAL.is_business_day(CAL.local(dt).date()))
day_counts = st.integers(min_value=-300, max_value=300)
spans = st.timedeltas(min_value=timedelta(), max_value=timedelta(days=45))
channels = st.sampled_from(["mail", "chat"])


@PROPS
@given(start=instants, n=day_counts)
def test_prop_add_business_days_lands_on_business_day(start: datetime, n: int) -> None:
    result = CAL.add_business_days(start, n)
    local = CAL.local(start)
    assert result.time() == local.time()
    if n == 0:
        assert result == start
        return
    assert CAL.is_business_day(result.date())
    assert (result.date() > local.date()) is (n > 0)


@PROPS
@given(start=business_starts, n=day_counts, m=day_counts)
def test_prop_add_business_days_composes(start: datetime, n: int, m: int) -> None:
    assert CAL.add_business_days(CAL.add_business_days(start, n), m) == CAL.add_business_days(
        start, n + m
    )


@PROPS
@given(start=business_starts, n=day_counts)
def test_prop_add_business_days_inverts(start: datetime, n: int) -> None:
    moved = CAL.add_business_days(start, n)
    assert CAL.add_business_days(moved, -n) == start
    assert CAL.business_days_between(CAL.local(start).date(), moved.date()) == n


@PROPS
@given(a=instants, first=spans, second=spans)
def test_prop_business_hours_additive(a: datetime, first: timedelta, second: timedelta) -> None:
    b, c = a + first, a + first + second
    whole = CAL.business_hours_between(a, c)
    assert CAL.business_hours_between(a, b) + CAL.business_hours_between(b, c) == whole
    assert timedelta() <= whole <= c - a


@PROPS
@given(start=instants, delta=spans.map(lambda s: s / 4))
def test_prop_add_business_hours_inverts_between(start: datetime, delta: timedelta) -> None:
    end = CAL.add_business_hours(start, delta)
    assert end >= start
    assert CAL.business_hours_between(start, end) == delta
    if delta:
        # Earliest such instant: one microsecond before, the budget is not yet spent.
        assert CAL.business_hours_between(start, end - timedelta(microseconds=1)) < delta


@PROPS
@given(a=instants, span=spans)
def test_prop_between_then_add_stays_within(a: datetime, span: timedelta) -> None:
    b = a + span
    spent = CAL.business_hours_between(a, b)
    t = CAL.add_business_hours(a, spent)
    assert a <= t <= b
    assert CAL.business_hours_between(a, t) == spent
    if CAL.is_open(b):
        assert t == b


@PROPS
@given(at=instants, channel=channels)
def test_prop_is_open_agrees_with_window(at: datetime, channel: str) -> None:
    local = CAL.local(at)
    span = CAL.window(local.date(), channel)
    assert CAL.is_open(at, channel) is (span is not None and span[0] <= at < span[1])
    if channel == "chat" and CAL.is_open(at, "chat"):
        assert CAL.is_open(at, "mail")


@PROPS
@given(at=instants, channel=channels)
def test_prop_next_opening_is_open_and_not_before(at: datetime, channel: str) -> None:
    opening = CAL.next_opening(at, channel)
    assert opening >= at
    assert CAL.is_open(opening, channel)
    if CAL.is_open(at, channel):
        assert opening == at
    else:
        assert not CAL.is_open(opening - timedelta(microseconds=1), channel)
    if channel == "mail":
        assert CAL.business_hours_between(at, opening) == timedelta()


@PROPS
@given(start=instants, n=st.integers(min_value=0, max_value=300))
def test_prop_business_age_counts_business_days_added_in_hours(start: datetime, n: int) -> None:
    opened = CAL.next_opening(start)
    assert CAL.business_age(start, CAL.add_business_days(opened, n)) == n
