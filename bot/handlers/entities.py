"""Entities in a reply: dates and deadlines, DSN numbers, agent keys, RFCs, e-mail addresses,
and the zones, promotorías and people of the configuration.

Dates are read by explicit Spanish rules first (day-first numeric dates, "5 de diciembre",
"el lunes", "mañana", "en dos semanas", "la próxima semana", "fin de mes"), always towards
the future from the reference instant; dateparser (languages=['es'], future preference)
only fills in what the rules do not cover, and its matches are filtered: it reads "mi"
as miércoles and a phone number's last digits as a year.
"""

from __future__ import annotations

import calendar as month_calendar
import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from bot.config import Config, fold_name

MONTHS = {
    "enero": 1,
    "febrero": 2,
    "marzo": 3,
    "abril": 4,
    "mayo": 5,
    "junio": 6,
    "julio": 7,
    "agosto": 8,
    "septiembre": 9,
    "setiembre": 9,
    "octubre": 10,
    "noviembre": 11,
    "diciembre": 12,
    "ene": 1,
    "feb": 2,
    "mar": 3,
    "abr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "ago": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dic": 12,
}
WEEKDAYS = {
    "lunes": 0,
    "martes": 1,
    "miercoles": 2,
    "jueves": 3,
    "viernes": 4,
    "sabado": 5,
    "domingo": 6,
}
NUMBERS = {
    "un": 1,
    "una": 1,
    "uno": 1,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
    "seis": 6,
    "siete": 7,
    "ocho": 8,
    "nueve": 9,
    "diez": 10,
    "once": 11,
    "doce": 12,
    "quince": 15,
    "veinte": 20,
    "treinta": 30,
}
UNIT_DAYS = {"dia": 1, "dias": 1, "semana": 7, "semanas": 7}

_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_WEEKDAY = "|".join(WEEKDAYS)
_NUMBER = r"\d{1,3}|" + "|".join(NUMBERS)

# An optional weekday before a date belongs to it ("el viernes 5 de diciembre").
_WEEKDAY_PREFIX = rf"(?:\b(?:{_WEEKDAY}),?\s+)?"
_NUMERIC = re.compile(
    _WEEKDAY_PREFIX + r"(?<![\d/.-])(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{4}|\d{2}))?(?![\d/-]|\.\d)"
)
_DAY_MONTH = re.compile(
    _WEEKDAY_PREFIX + rf"\b(\d{{1,2}})\s*(?:de\s+)?({_MONTH})\.?(?:\s+(?:de|del)?\s*(\d{{4}}))?\b"
)
_PART_OF_MONTH = re.compile(rf"\b(principios|inicios|mediados|fin|finales)\s+de\s+({_MONTH})\b")
_MONTH_DAY = re.compile(rf"\b({_MONTH})\s+(\d{{1,2}})\b(?!\s*(?:de|:|/))")
_WEEKDAY_DAY = re.compile(rf"\b({_WEEKDAY})\s+(\d{{1,2}})\b(?!\s*(?:de\s+(?:{_MONTH})|[/:]|\.\d))")
_WEEKDAY_ONLY = re.compile(rf"\b(?:(proximo|siguiente|este|esta)\s+)?({_WEEKDAY})\b")
# A bare day of the month after words that announce a date: "el día 3", "antes del 24".
_WEEKDAY_RANGE = re.compile(rf"\b(?:de\s+)?(?:{_WEEKDAY})\s*(?:a|-|al)\s*(?:{_WEEKDAY})\b")
_DAY_ONLY = re.compile(
    r"\b(?:el\s+dia|antes\s+del|despues\s+del|para\s+el|hasta\s+el|a\s+partir\s+del|el)\s+"
    r"(\d{1,2})\b(?!\s*(?:de\b|[/:%]|\.\d|\d|hrs?\b|horas?\b|am\b|pm\b|usuarios?\b|"
    r"agentes?\b|veces\b|intentos\b|dias\b|semanas\b|minutos\b|por\b))"
)
_RELATIVE = re.compile(rf"\b(?:en|dentro\s+de)\s+({_NUMBER})\s+(dias?|semanas?|mes(?:es)?)\b")
_ONE_UNIT = re.compile(r"\b(?:en|dentro\s+de)\s+(?:una\s+)?(semana|mes)\b")
_NEXT_WEEK = re.compile(
    r"\b(?:la\s+)?(?:prox(?:ima)?\.?\s+semana|semana\s+(?:que\s+entra|que\s+viene|proxima)|"
    r"siguiente\s+semana|otra\s+semana)\b"
)
_NEXT_MONTH = re.compile(r"\b(?:el\s+)?(?:proximo\s+mes|mes\s+que\s+(?:entra|viene))\b")
_END_OF_MONTH = re.compile(r"\b(?:a\s+)?(?:fin|final|finales)\s+de(?:l)?\s+mes\b")
_END_OF_YEAR = re.compile(r"\b(?:a\s+)?(?:fin|final|finales)\s+de(?:l)?\s+ano\b")
_TOMORROW = re.compile(r"\b(pasado\s+)?manana\b")
_NOT_TOMORROW = re.compile(r"\b(?:la|esta|una|en\s+la|por\s+la|de\s+la|las)\s+$")
_TODAY = re.compile(r"\bhoy\b")

DSN = re.compile(r"\bdsn\b\W{0,3}(?:(?:es|el|numero|num|no|n°|nº|#)\W{0,3}){0,3}(\d{5,12})\b")
AGENT_KEY = re.compile(
    r"\b(?:clave(?:\s+de(?:l)?\s+agente)?|cve|clave\s+agente)\b\.?\W{0,3}"
    r"(?:(?:es|la|de|no|numero|num|#)\W{0,3}){0,3}(\d{5,7})\b"
)
RFC = re.compile(r"\b([A-ZÑ&]{3,4}\d{6}[A-Z0-9]{3})\b")
GENERIC_RFCS = frozenset({"XAXX010101000", "XEXX010101000"})
EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


@dataclass(frozen=True)
class Entities:
    """What was found in a reply, each list in order of appearance."""

    dates: tuple[date, ...] = ()
    dsn: tuple[str, ...] = ()
    rfc: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    agent_keys: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()  # configured zone names
    promotorias: tuple[str, ...] = ()  # configured promotoría names
    people: tuple[str, ...] = ()  # addresses of the configured people named

    def as_json(self) -> dict[str, list[str]]:
        """The contract's entity object, plus the configuration's names when any is found."""
        out = {
            "dates": [d.isoformat() for d in self.dates],
            "dsn": list(self.dsn),
            "rfc": list(self.rfc),
            "emails": list(self.emails),
            "agent_keys": list(self.agent_keys),
        }
        # Only when found, so that a reply naming none has exactly the contract's shape.
        for key in ("zones", "promotorias", "people"):
            values: tuple[str, ...] = getattr(self, key)
            if values:
                out[key] = list(values)
        return out

    def found(self) -> dict[str, list[str]]:
        """Only the kinds of entity present, as in as_json (for the audit trail)."""
        return {k: v for k, v in self.as_json().items() if v}


# Words that never identify a person on their own in "first name + surname" short forms.
_NAME_PARTICLES = frozenset({"de", "del", "la", "las", "los", "y", "san", "santa"})


@dataclass(frozen=True)
class Gazetteer:
    """The configuration's zones, promotorías and people, to be recognised in replies.

    Matching is on whole words, without case, accents or punctuation. A promotoría is named
    with or without the word "Promotoría"; a zone's own name stays the zone's. A person is
    named by the full configured name or by the first name and one surname; a short form
    that two people share names neither.
    """

    meanings: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # phrase -> kind, value

    @classmethod
    def build(
        cls,
        zones: Iterable[tuple[str, Iterable[str]]] = (),
        people: Iterable[tuple[str, str]] = (),
    ) -> Gazetteer:
        """From (zone, promotorías) and (name, address) pairs."""
        meanings: dict[str, tuple[str, str]] = {}
        for zone, promotorias in zones:
            meanings.setdefault(fold_name(zone), ("zones", zone))
            for promotoria in promotorias:
                folded = fold_name(promotoria)
                meanings.setdefault(folded, ("promotorias", promotoria))
                # People write "la de Toluca" for "Promotoría Toluca".
                bare = folded.removeprefix("promotoria ")
                if bare != folded:
                    meanings.setdefault(bare, ("promotorias", promotoria))
        short: dict[str, set[str]] = {}
        for name, address in people:
            tokens = fold_name(name).split()
            if len(tokens) < 2:
                continue  # a lone first name is anybody's
            meanings.setdefault(" ".join(tokens), ("people", address))
            for token in tokens[1:]:
                if token not in _NAME_PARTICLES and len(token) > 2:
                    short.setdefault(f"{tokens[0]} {token}", set()).add(address)
        for phrase, addresses in short.items():
            if len(addresses) == 1:
                meanings.setdefault(phrase, ("people", next(iter(addresses))))
        return cls({k: v for k, v in meanings.items() if k})

    @classmethod
    def from_config(cls, config: Config) -> Gazetteer:
        """Every zone, promotoría and person of the configuration."""
        return cls.build(
            ((z.name, z.promotorias) for z in config.zones),
            ((p.name, p.email) for _, p in config.people_with_roles()),
        )

    @functools.cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        """One alternation, longest phrase first so that it wins where phrases overlap."""
        if not self.meanings:
            return None
        phrases = sorted(self.meanings, key=len, reverse=True)
        return re.compile(r"\b(?:" + "|".join(re.escape(p) for p in phrases) + r")\b")

    def find(self, text: str) -> dict[str, tuple[str, ...]]:
        """The names found, by kind, in order of appearance and without repeats."""
        found: dict[str, dict[str, None]] = {"zones": {}, "promotorias": {}, "people": {}}
        if self._pattern is not None:
            for match in self._pattern.finditer(fold_name(text)):
                kind, value = self.meanings[match.group(0)]
                found[kind][value] = None
        return {kind: tuple(values) for kind, values in found.items()}


def fold(text: str) -> str:
    """Lower case without accents (ñ kept as n); punctuation left in place."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _number(token: str) -> int:
    """A number written in digits or in words."""
    return int(token) if token.isdigit() else NUMBERS[token]


def _future(day: int, month: int, today: date, year: int | None = None) -> date | None:
    """The date with that day and month, this year or the next, not before today."""
    if year is not None:
        year = year + 2000 if year < 100 else year
        try:
            return date(year, month, day)
        except ValueError:
            return None
    for candidate_year in (today.year, today.year + 1):
        try:
            candidate = date(candidate_year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


def _next_weekday(weekday: int, today: date) -> date:
    """The next such weekday strictly after today ("el lunes" said on a Monday is next week)."""
    ahead = (weekday - today.weekday()) % 7 or 7
    return today + timedelta(days=ahead)


def _add_months(today: date, months: int) -> date:
    """The same day `months` later, clipped to the month's end."""
    index = today.month - 1 + months
    year, month = today.year + index // 12, index % 12 + 1
    return date(year, month, min(today.day, month_calendar.monthrange(year, month)[1]))


def _next_day_of_month(day: int, today: date) -> date | None:
    """The first date with that day of the month from today on ("el 31" skips November)."""
    for months_ahead in range(3):
        first = _add_months(today.replace(day=1), months_ahead)
        try:
            candidate = first.replace(day=day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


def _rule_dates(text: str, today: date) -> Iterator[tuple[int, int, date]]:
    """(start, end, date) for every date the explicit rules recognise."""
    for m in _NUMERIC.finditer(text):
        day, month = int(m.group(1)), int(m.group(2))
        if not (1 <= day <= 31 and 1 <= month <= 12):
            continue
        found = _future(day, month, today, int(m.group(3)) if m.group(3) else None)
        if found:
            yield m.start(), m.end(), found
    for m in _DAY_MONTH.finditer(text):
        found = _future(
            int(m.group(1)), MONTHS[m.group(2)], today, int(m.group(3)) if m.group(3) else None
        )
        if found:
            yield m.start(), m.end(), found
    for m in _PART_OF_MONTH.finditer(text):
        month = MONTHS[m.group(2)]
        year = today.year if month >= today.month else today.year + 1
        days_in_month = month_calendar.monthrange(year, month)[1]
        day = {"principios": 1, "inicios": 1, "mediados": 15}.get(m.group(1), days_in_month)
        yield m.start(), m.end(), max(date(year, month, day), today)
    for m in _MONTH_DAY.finditer(text):
        found = _future(int(m.group(2)), MONTHS[m.group(1)], today)
        if found:
            yield m.start(), m.end(), found
    for m in _WEEKDAY_DAY.finditer(text):
        if found := _next_day_of_month(int(m.group(2)), today):
            yield m.start(), m.end(), found
    for m in _DAY_ONLY.finditer(text):
        if found := _next_day_of_month(int(m.group(1)), today):
            yield m.start(), m.end(), found
    for m in _WEEKDAY_ONLY.finditer(text):
        yield m.start(), m.end(), _next_weekday(WEEKDAYS[m.group(2)], today)
    for m in _RELATIVE.finditer(text):
        amount, unit = _number(m.group(1)), m.group(2)
        if unit.startswith("mes"):
            yield m.start(), m.end(), _add_months(today, amount)
        else:
            yield m.start(), m.end(), today + timedelta(days=amount * UNIT_DAYS[unit])
    for m in _ONE_UNIT.finditer(text):
        unit = m.group(1)
        found = _add_months(today, 1) if unit == "mes" else today + timedelta(days=7)
        yield m.start(), m.end(), found
    for m in _NEXT_WEEK.finditer(text):
        yield m.start(), m.end(), today + timedelta(days=7 - today.weekday())
    for m in _NEXT_MONTH.finditer(text):
        yield m.start(), m.end(), _add_months(today.replace(day=1), 1)
    for m in _END_OF_MONTH.finditer(text):
        last = today.replace(day=month_calendar.monthrange(today.year, today.month)[1])
        yield m.start(), m.end(), last
    for m in _END_OF_YEAR.finditer(text):
        yield m.start(), m.end(), date(today.year, 12, 31)
    for m in _TOMORROW.finditer(text):
        if m.group(1):
            yield m.start(), m.end(), today + timedelta(days=2)
        elif not _NOT_TOMORROW.search(text[: m.start()]):
            yield m.start(), m.end(), today + timedelta(days=1)
    for m in _TODAY.finditer(text):
        yield m.start(), m.end(), today


# Words dateparser turns into dates that are not dates in a help-desk reply.
_DATEPARSER_NOISE = re.compile(r"^(mi|me|ma|ju|vi|sa|do|lu|mar|mie|hora|ahora|ya|\d+)$")
_DATEPARSER_HINT = re.compile(rf"\b({_MONTH}|{_WEEKDAY}|semana|mes|ano|dia)\b")


def _dateparser_dates(text: str, now: datetime) -> Iterator[tuple[str, date]]:
    """What dateparser finds, minus its known false positives."""
    from dateparser.search import search_dates  # slow to import: only when needed

    settings: dict[str, Any] = {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": now.replace(tzinfo=None),
        "DATE_ORDER": "DMY",
        "PREFER_DAY_OF_MONTH": "first",
    }
    found = search_dates(text, languages=["es"], settings=settings) or []
    for span, value in found:
        token = fold(span).strip()
        if _DATEPARSER_NOISE.match(token) or not _DATEPARSER_HINT.search(token):
            continue
        if abs(value.year - now.year) > 2:
            continue
        # "30 de febrero" comes back as some other day: a number it did not keep is wrong.
        numbers = {int(n) for n in re.findall(r"\d+", token)}
        if numbers - {value.day, value.year, value.year % 100, value.month}:
            continue
        yield token, value.date()


def find_dates(text: str, now: datetime, *, fallback: bool = True) -> tuple[date, ...]:
    """Dates and deadlines in the text, in order of appearance, relative to `now` (local)."""
    # "de lunes a viernes" in a signature's office hours names no day.
    folded = _WEEKDAY_RANGE.sub(" ", fold(text))
    today = now.date()
    spans: list[tuple[int, int, date]] = []
    for start, end, found in sorted(_rule_dates(folded, today), key=lambda x: (x[0], -x[1])):
        # A longer match already covers this one ("viernes 5 de diciembre" vs "viernes").
        if any(s <= start < e for s, e, _ in spans):
            continue
        spans.append((start, end, found))
    dates = [d for _, _, d in sorted(spans)]
    if fallback and not dates and _DATEPARSER_HINT.search(folded):
        dates = [d for _, d in _dateparser_dates(folded, now)]
    return tuple(dict.fromkeys(dates))


# Words that announce the date something must be delivered by.
_DEADLINE_CUE = re.compile(
    r"\b(?:fecha\s+(?:limite|de\s+entrega|de\s+vencimiento|maxima)|a\s+mas\s+tardar|"
    r"(?:antes|hasta)\s+(?:del?|el)|vence|vencimiento|plazo|limite|entreg\w*|enviar\w*)\b"
)
# How far after a cue its date may start (e.g. "fecha límite de entrega: viernes 4 de ...").
_CUE_REACH = 60


def find_deadline(text: str, now: datetime) -> date | None:
    """The delivery deadline a mail names: the first date right after a cue, else its only date.

    "a más tardar el viernes 5 de diciembre", "Fecha límite: 05/12/2026"; day-first like
    every date here. None when no cue has a date and the text has several dates or none.
    """
    folded = _WEEKDAY_RANGE.sub(" ", fold(text))
    today = now.date()
    spans = sorted(_rule_dates(folded, today), key=lambda x: (x[0], -x[1]))
    for cue in _DEADLINE_CUE.finditer(folded):
        after = [d for start, _, d in spans if cue.end() <= start <= cue.end() + _CUE_REACH]
        if after:
            return after[0]
        window = folded[cue.end() : cue.end() + _CUE_REACH]
        if _DATEPARSER_HINT.search(window):
            found = [d for _, d in _dateparser_dates(window, now)]
            if found:
                return found[0]
    dates = find_dates(text, now)
    return dates[0] if len(dates) == 1 else None


def valid_rfc(value: str) -> bool:
    """An RFC with a correct check digit, or one of the generic RFCs."""
    if value in GENERIC_RFCS:
        return True
    from stdnum.exceptions import ValidationError
    from stdnum.mx import rfc

    try:
        rfc.validate(value, validate_check_digits=True)
    except ValidationError:
        return False
    return True


def extract(text: str, now: datetime, gazetteer: Gazetteer | None = None) -> Entities:
    """Every entity in a cleaned reply; the configuration's names with a gazetteer."""
    folded = fold(text)
    upper = text.upper()
    names = gazetteer.find(text) if gazetteer is not None else {}
    return Entities(
        dates=find_dates(text, now),
        dsn=tuple(dict.fromkeys(DSN.findall(folded))),
        rfc=tuple(dict.fromkeys(r for r in RFC.findall(upper) if valid_rfc(r))),
        emails=tuple(dict.fromkeys(e.lower() for e in EMAIL.findall(text))),
        agent_keys=tuple(dict.fromkeys(AGENT_KEY.findall(folded))),
        zones=names.get("zones", ()),
        promotorias=names.get("promotorias", ()),
        people=names.get("people", ()),
    )


def warm_up() -> None:
    """Pay dateparser's first-call cost now rather than on the first message."""
    list(_dateparser_dates("el 5 de diciembre", datetime(2026, 1, 1)))
