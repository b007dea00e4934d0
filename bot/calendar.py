"""Business calendar of the help desk: support hours, Mexican holidays, business-time maths."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

CHANNELS = frozenset({"mail", "chat"})
EXTRA_CLOSED_NAME = "Día inhábil (configuración)"

# Spanish names, as dates are written to people (Monday first, as date.weekday()).
WEEKDAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
MONTHS = (
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
)


def spanish_long_date(d: date) -> str:
    """A date as a Mexican letter writes it: '23 de noviembre de 2026'."""
    return f"{d.day} de {MONTHS[d.month - 1]} de {d.year}"


def spanish_when(dt: datetime) -> str:
    """An instant as said to people: 'lunes 23 de noviembre a las 8:00' (in dt's zone)."""
    return f"{WEEKDAYS[dt.weekday()]} {dt.day} de {MONTHS[dt.month - 1]} a las {_fmt(dt.time())}"


_TIME_RE = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")
_TZ_LABELS = {"America/Mexico_City": "hora del centro de México"}


def _parse_time(text: str, field: str) -> time:
    """Parse ``H:MM``/``HH:MM`` (00:00-23:59) or raise ValueError naming the field."""
    match = _TIME_RE.match(text)
    if match is None:
        raise ValueError(f"{field}: invalid time {text!r}, expected HH:MM between 00:00 and 23:59")
    return time(int(match[1]), int(match[2]))


def _parse_range(text: str, field: str) -> tuple[time, time]:
    """Parse ``HH:MM-HH:MM`` or raise ValueError naming the field."""
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(f"{field}: invalid range {text!r}, expected HH:MM-HH:MM")
    return _parse_time(parts[0], field), _parse_time(parts[1], field)


def _fmt(t: time) -> str:
    """Format a time the way it is written in Spanish prose (8:00, 17:30)."""
    return f"{t.hour}:{t.minute:02d}"


@dataclass(frozen=True)
class SupportHours:
    """Published support hours; chat closes earlier than mail."""

    mon_thu: tuple[time, time] = (time(8, 0), time(18, 0))
    fri: tuple[time, time] = (time(8, 0), time(15, 0))
    chat_until: time = time(17, 30)

    def __post_init__(self) -> None:
        """Reject empty windows and a chat cut-off that would leave a day without chat."""
        for field, (start, end) in (("mon_thu", self.mon_thu), ("fri", self.fri)):
            if start >= end:
                raise ValueError(f"{field}: start {start:%H:%M} must be before end {end:%H:%M}")
            if self.chat_until <= start:
                raise ValueError(
                    f"chat_until: {self.chat_until:%H:%M} must be after the {field} "
                    f"opening {start:%H:%M}"
                )

    @classmethod
    def parse(
        cls,
        mon_thu: str = "08:00-18:00",
        fri: str = "08:00-15:00",
        chat_until: str = "17:30",
    ) -> SupportHours:
        """Build from config strings such as ``"08:00-18:00"``; raise ValueError if invalid."""
        return cls(
            mon_thu=_parse_range(mon_thu, "mon_thu"),
            fri=_parse_range(fri, "fri"),
            chat_until=_parse_time(chat_until, "chat_until"),
        )


class BusinessCalendar:
    """Business days and hours of the help desk in one time zone."""

    def __init__(
        self,
        tz: str | ZoneInfo = "America/Mexico_City",
        hours: SupportHours = SupportHours(),
        extra_closed: Iterable[date] = (),
    ) -> None:
        """Create a calendar; ``extra_closed`` adds non-statutory closed days from config."""
        self._tz = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        self._hours = hours
        self._extra_closed = frozenset(_date_only(d) for d in extra_closed)
        self._statutory: dict[int, holidays.HolidayBase] = {}

    @property
    def tz(self) -> ZoneInfo:
        """Time zone in which windows are defined and results are returned."""
        return self._tz

    @property
    def hours(self) -> SupportHours:
        """Configured support hours."""
        return self._hours

    def local(self, dt: datetime) -> datetime:
        """Convert an aware datetime to the calendar's time zone."""
        if dt.tzinfo is None or dt.utcoffset() is None:
            raise ValueError(f"datetime must be timezone-aware, got naive {dt.isoformat()}")
        return dt.astimezone(self._tz)

    # --- days -------------------------------------------------------------------------

    def _statutory_for(self, year: int) -> holidays.HolidayBase:
        """Mexican statutory holidays of ``year``, built once per year."""
        if year not in self._statutory:
            self._statutory[year] = holidays.country_holidays("MX", years=year, language="es")
        return self._statutory[year]

    def holiday_name(self, d: date) -> str | None:
        """Name of the holiday on ``d`` (statutory first, then config), or None."""
        d = _date_only(d)
        name: str | None = self._statutory_for(d.year).get(d)
        if name is not None:
            return name
        return EXTRA_CLOSED_NAME if d in self._extra_closed else None

    def is_holiday(self, d: date) -> bool:
        """True on statutory holidays and on configured closed days."""
        return self.holiday_name(d) is not None

    def is_business_day(self, d: date) -> bool:
        """True Monday to Friday unless the day is a holiday."""
        return _date_only(d).weekday() < 5 and not self.is_holiday(d)

    def next_business_day(self, d: date) -> date:
        """First business day strictly after ``d``."""
        d = _date_only(d) + timedelta(days=1)
        while not self.is_business_day(d):
            d += timedelta(days=1)
        return d

    def _step_business_days(self, d: date, n: int) -> date:
        """The ``n``-th business day strictly after (n > 0) or before (n < 0) ``d``."""
        step = timedelta(days=1 if n > 0 else -1)
        remaining = abs(n)
        while remaining:
            d += step
            if self.is_business_day(d):
                remaining -= 1
        return d

    def business_days_between(self, a: date, b: date) -> int:
        """Number of business days in (a, b]; negative when b is before a."""
        a, b = _date_only(a), _date_only(b)
        if b < a:
            return -self.business_days_between(b, a)
        return sum(
            1
            for offset in range(1, (b - a).days + 1)
            if self.is_business_day(a + timedelta(offset))
        )

    def business_age(self, since: datetime, now: datetime) -> int:
        """Whole business days from ``since`` to ``now``, counted from the next opening."""
        # Something that arrives after hours, on a weekend or on a holiday is only seen when
        # the office opens, so its age starts from then, as the first-response SLA does.
        start = self.next_opening(since).date()
        return max(0, self.business_days_between(start, self.local(now).date()))

    def add_business_days(self, start: datetime, n: int) -> datetime:
        """Move ``n`` business days from start's local date, keeping the local wall time."""
        local = self.local(start)
        if n == 0:
            return local
        target = self._step_business_days(local.date(), n)
        # replace() keeps the wall time; zoneinfo recomputes the offset for the new date.
        return local.replace(year=target.year, month=target.month, day=target.day)

    # --- hours ------------------------------------------------------------------------

    def window(self, d: date, channel: str = "mail") -> tuple[datetime, datetime] | None:
        """Support window [start, end) of ``d`` for ``channel``, or None if closed all day."""
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}, expected one of {sorted(CHANNELS)}")
        d = _date_only(d)
        if not self.is_business_day(d):
            return None
        start, end = self._hours.fri if d.weekday() == 4 else self._hours.mon_thu
        if channel == "chat":
            end = min(end, self._hours.chat_until)
        return datetime.combine(d, start, self._tz), datetime.combine(d, end, self._tz)

    def is_open(self, at: datetime, channel: str = "mail") -> bool:
        """True if ``at`` falls inside the window of its local day (end exclusive)."""
        local = self.local(at)
        span = self.window(local.date(), channel)
        return span is not None and span[0] <= local < span[1]

    def next_opening(self, at: datetime, channel: str = "mail") -> datetime:
        """``at`` itself if open, else the start of the next support window."""
        local = self.local(at)
        span = self.window(local.date(), channel)
        if span is not None and local < span[1]:
            return max(local, span[0])
        opening = self.window(self.next_business_day(local.date()), channel)
        assert opening is not None  # a business day always has a window
        return opening[0]

    def business_hours_between(self, a: datetime, b: datetime) -> timedelta:
        """Time inside mail support windows between ``a`` and ``b`` (zero if b <= a)."""
        a, b = self.local(a), self.local(b)
        total = timedelta()
        if b <= a:
            return total
        d = a.date()
        while d <= b.date():
            span = self.window(d)
            if span is not None:
                total += max(timedelta(), min(span[1], b) - max(span[0], a))
            d += timedelta(days=1)
        return total

    def add_business_hours(self, start: datetime, delta: timedelta) -> datetime:
        """Earliest instant at which ``delta`` of mail support time has elapsed since start."""
        if delta < timedelta():
            raise ValueError(f"delta must not be negative, got {delta}")
        current = self.local(start)
        if not delta:
            return current
        remaining = delta
        d = current.date()
        while True:
            span = self.window(d)
            if span is not None and current < span[1]:
                begin = max(current, span[0])
                available = span[1] - begin
                # <= so that a deadline filling the window lands on its close, not next opening.
                if remaining <= available:
                    return begin + remaining
                remaining -= available
            d += timedelta(days=1)

    def describe_hours(self, channel: str = "mail") -> str:
        """Published hours of a channel as a Spanish sentence (chat closes at chat_until)."""
        (mt_start, mt_end), (f_start, f_end) = self._hours.mon_thu, self._hours.fri
        if channel == "chat":
            mt_end, f_end = min(mt_end, self._hours.chat_until), min(f_end, self._hours.chat_until)
        label = _TZ_LABELS.get(self._tz.key, f"zona horaria {self._tz.key}")
        return (
            f"lunes a jueves de {_fmt(mt_start)} a {_fmt(mt_end)} "
            f"y viernes de {_fmt(f_start)} a {_fmt(f_end)} ({label})"
        )


def _date_only(d: date) -> date:
    """Reject datetimes where a date is expected: their date depends on the time zone."""
    if isinstance(d, datetime):
        raise TypeError(f"expected a date, got datetime {d.isoformat()}; use calendar.local(dt)")
    return d
