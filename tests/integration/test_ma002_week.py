"""MA-002 over a week: 200 agents in five zones, the daemon at realistic instants.

Acceptance criterion: "A week simulation with 200 agents across the five zones shows each
assistant got exactly the mails for their zone, once per reminder period, none outside
support hours."

CAM Pegasus is a real SQLite database behind the sql adapter. Agents (and a few BPN
consultants, who must never get a case) appear in it over the week; `run_once` runs at
the instants a daemon would be busy (before, at and after the 08:00 sweep, midday, around
each closing time, at night, twice a day over the weekend) from Monday 23 November to
Tuesday 1 December 2026. Some assistants answer «Sí adelante» with the data, «Te aviso el
lunes» or «Deténlo»; the rest never answer. What each assistant should have received is
worked out here from first principles: a tiny holiday-aware calendar, the cycle instants
this test ran and the process's published delays (a reminder every 2 business days, the
escalation at 5, a snooze until the date named), never from the product's own code.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App
from bot.config import Config, load_config
from storage.models import Case, CaseKey, Event, Outbox
from tests.conftest import MX, mx
from tests.integration.test_ma001_flow import (
    body_of,
    cycle,
    deliver,
    outbox_files,
    parse,
    subject_of,
)
from tests.ma002_data import (
    PROMOTORIAS,
    ZONES,
    Agent,
    add_agents,
    agent,
    data_text,
    pegasus_db,
    pegasus_state,
    sql_pegasus_config,
)

SPECIALISTS = {"sofia.ramirez@example.com", "diego.hernandez@example.com"}
SUPERVISOR = "patricia.morales@example.com"
TEAM = {*SPECIALISTS, SUPERVISOR, "carlos@example.com"}
ASSISTANTS = sorted({a for people in ZONES.values() for a in people})
TAG = re.compile(r"\[MA-002 #(\d+)\]")

# --- a calendar of our own -------------------------------------------------------------------

# Mexican statutory holidays (LFT art. 74) and the shipped config's closed days around the
# simulated weeks: Nov 16 (third Monday of November) is the week before.
HOLIDAYS = frozenset(
    {
        date(2026, 11, 2),  # config.toml: Día de Muertos
        date(2026, 11, 16),  # Revolución Mexicana (third Monday)
        date(2026, 12, 12),  # config.toml: Virgen de Guadalupe
        date(2026, 12, 25),  # Navidad
        date(2027, 1, 1),  # Año Nuevo
    }
)
OPEN_HOURS = {  # weekday -> support hours for mail, [start, end)
    **{d: (time(8), time(18)) for d in range(4)},
    4: (time(8), time(15)),
}


def business_day(d: date) -> bool:
    """Monday to Friday, not a holiday."""
    return d.weekday() < 5 and d not in HOLIDAYS


def plus_business_days(at: datetime, n: int) -> datetime:
    """The same wall time n business days later."""
    d = at.date()
    while n:
        d += timedelta(days=1)
        n -= business_day(d)
    return datetime.combine(d, at.timetz())


def business_days_between(a: date, b: date) -> int:
    """Business days in (a, b]."""
    return sum(business_day(a + timedelta(days=i)) for i in range(1, (b - a).days + 1))


def in_hours(at: datetime) -> bool:
    """Inside the published mail support hours (Mexico City)."""
    local = at.astimezone(MX)
    if not business_day(local.date()):
        return False
    start, end = OPEN_HOURS[local.weekday()]
    return start <= local.time() < end


# --- the week ------------------------------------------------------------------------------

FIRST_DAY, LAST_DAY = date(2026, 11, 23), date(2026, 12, 1)
BUSINESS_TIMES = (
    time(7, 30),
    time(8, 0),
    time(10, 0),
    time(13, 0),
    time(15, 30),
    time(17, 59),
    time(18, 30),
    time(22, 0),
)
WEEKEND_TIMES = (time(10, 0), time(20, 0))


def cycle_instants() -> list[datetime]:
    """When the daemon runs in this simulation."""
    found: list[datetime] = []
    d = FIRST_DAY
    while d <= LAST_DAY:
        times = BUSINESS_TIMES if business_day(d) else WEEKEND_TIMES
        found.extend(datetime.combine(d, t, tzinfo=MX) for t in times)
        d += timedelta(days=1)
    return found


CYCLES = cycle_instants()
END = CYCLES[-1]


def first_cycle(at: datetime) -> datetime | None:
    """The first cycle at or after an instant (None: after the simulation)."""
    return next((c for c in CYCLES if c >= at), None)


def first_sweep(at: datetime) -> datetime:
    """The first business day's 08:00 strictly after an instant."""
    d = at.date()
    while True:
        candidate = datetime.combine(d, time(8), tzinfo=MX)
        if business_day(d) and candidate > at:
            return candidate
        d += timedelta(days=1)


# Agents appear in CAM Pegasus in batches: (when, agent numbers). The first one is there
# before the simulation starts; 7:00 is before that day's sweep, 12:00 after it.
BATCHES: tuple[tuple[datetime, range], ...] = (
    (mx(2026, 11, 22, 20, 0), range(1, 81)),
    (mx(2026, 11, 24, 7, 0), range(81, 121)),
    (mx(2026, 11, 25, 7, 0), range(121, 161)),
    (mx(2026, 11, 26, 12, 0), range(161, 201)),
)
ALL_PROMOTORIAS = [(zone, p) for zone, names in PROMOTORIAS.items() for p in names]
BPN = {901, 902, 903, 904}


def zone_of(n: int) -> str:
    """The zone of agent n: promotorías in turn, so every zone gets agents in each batch."""
    return ALL_PROMOTORIAS[n % len(ALL_PROMOTORIAS)][0]


def made_agent(n: int) -> Agent:
    """Agent n (BPN consultants are numbered from 901)."""
    promotoria = ALL_PROMOTORIAS[n % len(ALL_PROMOTORIAS)][1]
    return agent(n, promotoria, tipo="Consultor BPN" if n in BPN else "Agente")


def batch_agents(numbers: range, consultant: int) -> list[Agent]:
    """A batch's agents with one BPN consultant among them."""
    return [made_agent(n) for n in numbers] + [made_agent(consultant)]


def arrival(n: int) -> datetime:
    """When agent n appeared in CAM Pegasus."""
    return next(at for at, numbers in BATCHES if n in numbers)


# Answers: (delivered at, agent numbers, kind). Every one is read by a cycle inside support
# hours, so the bot's immediate answer to it is also sent inside them.
PROCEED, LATER, STOP = "Sí adelante", "Te aviso el lunes", "Deténlo"
ANSWERS: tuple[tuple[datetime, tuple[int, ...], str], ...] = (
    (mx(2026, 11, 23, 11, 30), tuple(range(1, 11)), PROCEED),  # before any reminder
    (mx(2026, 11, 26, 9, 0), tuple(range(11, 16)), PROCEED),  # after one reminder
    (mx(2026, 11, 30, 12, 0), tuple(range(16, 21)), PROCEED),  # after the escalation
    (mx(2026, 11, 25, 16, 0), tuple(range(81, 86)), PROCEED),
    (mx(2026, 11, 30, 9, 0), tuple(range(161, 166)), PROCEED),
    (mx(2026, 11, 25, 9, 0), tuple(range(21, 26)), LATER),  # Wednesday, after a reminder
    (mx(2026, 11, 25, 14, 0), tuple(range(121, 126)), LATER),  # Wednesday, same day
    (mx(2026, 11, 24, 17, 0), tuple(range(86, 91)), STOP),
    (mx(2026, 11, 27, 10, 0), tuple(range(126, 131)), STOP),  # Friday, after a reminder
)
SNOOZED_UNTIL = mx(2026, 11, 30, 8, 0)  # «el lunes» said on Wednesday 25


def answer_of(n: int) -> tuple[datetime, str] | None:
    """When the answer about agent n was read by the bot, and what it said."""
    for at, numbers, kind in ANSWERS:
        if n in numbers:
            read = first_cycle(at)
            assert read is not None and in_hours(read), at
            return read, kind
    return None


@dataclass(frozen=True)
class Expected:
    """What the mail about one agent's case should look like over the week."""

    opened: datetime
    reminders: tuple[datetime, ...]
    escalation: datetime | None
    answer: tuple[datetime, str] | None
    resumed: tuple[datetime, ...]


def expected_for(n: int) -> Expected:
    """From the delays: a reminder every 2 business days from the last one, the escalation
    5 business days after the request, both stopped by an answer read before they fire."""
    opened = first_sweep(arrival(n))
    answer = answer_of(n)
    stop_at = answer[0] if answer else END + timedelta(seconds=1)
    reminders: list[datetime] = []
    last = opened
    while True:
        fire = first_cycle(plus_business_days(last, 2))
        if fire is None or fire >= stop_at:  # the inbox is read before timers fire
            break
        reminders.append(fire)
        last = fire
    escalation = first_cycle(plus_business_days(opened, 5))
    if escalation is not None and escalation >= stop_at:
        escalation = None
    resumed = (first_cycle(SNOOZED_UNTIL),) if answer and answer[1] == LATER else ()
    return Expected(opened, tuple(reminders), escalation, answer, tuple(c for c in resumed if c))


# --- the world -------------------------------------------------------------------------------


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated SQLite file: this module runs on SQLite only."""
    # The week costs about a minute per backend; what differs between backends (timers,
    # JSON, locking) runs on both in test_ma002_flow.py.
    path = tmp_path / "mesabot.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def pegasus(tmp_path: Path) -> Path:
    """CAM Pegasus on SQLite with the agents already waiting before Monday."""
    _, numbers = BATCHES[0]
    return pegasus_db(tmp_path / "pegasus.db", batch_agents(numbers, 901))


@pytest.fixture
def config(tmp_path: Path, database_url: str, pegasus: Path) -> Config:
    """The shipped config.toml trusting our border MTA, CAM Pegasus through the sql adapter."""
    (tmp_path / "config.toml").write_text(sql_pegasus_config(pegasus), encoding="utf-8")
    return load_config(tmp_path / "config.toml", {"MESABOT_STORAGE_URL": database_url})


def recipients_of(msg: EmailMessage) -> set[str]:
    """The addresses in To and Cc, lower case."""
    pairs = getaddresses([str(msg.get("To", "")), str(msg.get("Cc", ""))])
    return {a.lower() for _, a in pairs if a}


def case_ids_by_clave(app: App) -> dict[str, int]:
    """Agent key -> MA-002 case id."""
    with app.db.sessions() as s:
        cases = s.scalars(select(Case).where(Case.process == "MA-002")).all()
        return {str(c.data["agente"]["clave"]): c.id for c in cases}


@dataclass(frozen=True)
class Sent:
    """A message the bot wrote, with the cycle that wrote it and what the outbox knows."""

    cycle: datetime
    msg: EmailMessage
    subject: str
    template: str
    case_id: int | None
    to: frozenset[str]
    cc: frozenset[str]

    @property
    def everyone(self) -> frozenset[str]:
        """To and Cc."""
        return self.to | self.cc


def simulate(app: App, pegasus: Path) -> list[tuple[datetime, EmailMessage, str]]:
    """Run the week: agents appear, assistants answer, the daemon cycles.

    Returns what each cycle wrote (the daily digest aside), with its subject.
    """
    happenings: list[tuple[datetime, Callable[[], None]]] = []
    for i, (at, batch) in enumerate(BATCHES[1:], start=2):
        happenings.append((at, partial(add_agents, pegasus, batch_agents(batch, 900 + i))))
    written: list[tuple[datetime, EmailMessage, str]] = []
    asks: dict[int, tuple[EmailMessage, str]] = {}  # case id -> its confirmation request

    def answer(at: datetime, numbers: tuple[int, ...], kind: str) -> None:
        cases = case_ids_by_clave(app)
        for k, n in enumerate(numbers):
            a = made_agent(n)
            ask, subject = asks[cases[a.clave]]
            people = ZONES[zone_of(n)]
            body = f"{PROCEED}, aquí van los datos:\n{data_text(a)}" if kind == PROCEED else kind
            deliver(
                app,
                at,
                people[k % len(people)],  # Mariana answers for Oaxaca and for Nuevo León
                "Re: " + subject,
                body + "\n\nSaludos",
                authenticated=True,
                reply_to=ask,
            )

    for at, numbers, kind in ANSWERS:
        happenings.append((at, partial(answer, at, numbers, kind)))
    happenings.sort(key=lambda h: h[0])
    for instant in CYCLES:
        while happenings and happenings[0][0] <= instant:
            happenings.pop(0)[1]()
        for msg in cycle(app, instant):
            subject = subject_of(msg)
            written.append((instant, msg, subject))
            found = TAG.search(subject)
            if found and subject.startswith("Confirmación de alta"):
                asks.setdefault(int(found.group(1)), (msg, subject))
    assert not happenings
    return written


def per_assistant(sent: list[Sent]) -> dict[str, Counter[str]]:
    """Per assistant: how many mails of each template they got (To or Cc)."""
    totals: dict[str, Counter[str]] = {a: Counter() for a in ASSISTANTS}
    for s in sent:
        for a in s.everyone & set(ASSISTANTS):
            totals[a][s.template.removeprefix("MA-002/")] += 1
    return totals


def table(totals: dict[str, Counter[str]]) -> str:
    """Per-assistant totals as lines, for assertion messages and the report."""
    return "\n".join(
        f"  {a}: {sum(c.values())} ({', '.join(f'{k} {v}' for k, v in sorted(c.items()))})"
        for a, c in totals.items()
    )


def fmt(at: datetime | None) -> str:
    """An instant as the week's calendar shows it: 'Wed 25 08:00'."""
    return f"{at.astimezone(MX):%a %d %H:%M}" if at else "-"


def test_week_of_200_agents_mails_each_assistant_their_zone_in_hours(
    app: App, pegasus: Path
) -> None:
    """Each assistant gets exactly their zones' mail, once per period, inside support hours."""
    days = [FIRST_DAY + timedelta(days=i) for i in range((LAST_DAY - FIRST_DAY).days + 1)]
    # Our calendar agrees with the product's on which days count (no holiday in the week).
    assert [business_day(d) for d in days] == [app.calendar.is_business_day(d) for d in days]
    assert not any(d in HOLIDAYS for d in days)

    written = simulate(app, pegasus)

    # The outbox rows behind each message: template and case.
    with app.db.sessions() as session:
        rows = {
            r.message_id: r for r in session.scalars(select(Outbox).where(Outbox.kind == "mail"))
        }
        cases = {c.id: c for c in session.scalars(select(Case).where(Case.process == "MA-002"))}
        keys = {k.case_id: k.key for k in session.scalars(select(CaseKey))}
        suppressed = session.scalars(
            select(Event).where(Event.kind == "auto_mail_suppressed")
        ).all()
        bad_rows = session.scalars(
            select(Outbox).where(Outbox.status.in_(("failed", "dead")))
        ).all()
        late_rows = session.scalars(
            select(Outbox).where((Outbox.status != "sent") & (Outbox.not_before <= END))
        ).all()
        failures = session.scalars(
            select(Event).where(Event.kind.in_(("timer_failed", "delivery_failed")))
        ).all()
    sent: list[Sent] = []
    for at, msg, subject in written:
        row = rows[str(msg["Message-ID"])]
        found = TAG.search(subject)
        sent.append(
            Sent(
                cycle=at,
                msg=msg,
                subject=subject,
                template=str(row.payload["template"]),
                case_id=int(found.group(1)) if found else None,
                to=frozenset(a.lower() for a in row.payload["to"]),
                cc=frozenset(a.lower() for a in row.payload["cc"]),
            )
        )
    got_totals = per_assistant(sent)
    totals = "per assistant:\n" + table(got_totals)

    # e. Nothing suppressed, quarantined, failed or left behind.
    assert not suppressed, [e.detail for e in suppressed]
    assert not bad_rows, [(r.id, r.last_error) for r in bad_rows]
    assert not late_rows, [(r.id, r.kind, r.status, r.not_before) for r in late_rows]
    assert not failures, [e.detail for e in failures]
    assert not list((app.config.mail.maildir / "quarantine" / "new").iterdir())
    assert not list((app.config.mail.maildir / "inbox" / "new").iterdir())

    # d. One case per agent, none for BPN consultants, each opened by the first sweep after
    #    the agent appeared in CAM Pegasus and bound to their record.
    numbers = [n for _, batch in BATCHES for n in batch]
    with sqlite3.connect(pegasus) as con:
        record_ids = {
            str(c): str(i) for i, c in con.execute("SELECT id, clave FROM pegasus_usuarios")
        }
    by_clave = {str(c.data["agente"]["clave"]): c for c in cases.values()}
    assert len(cases) == 200 == len(by_clave)
    assert set(by_clave) == {made_agent(n).clave for n in numbers}
    assert not {made_agent(n).clave for n in BPN} & set(by_clave)
    consultants = {made_agent(n).nombre for n in BPN}
    assert not [s.subject for s in sent if any(name in s.subject for name in consultants)]
    case_of = {n: by_clave[made_agent(n).clave].id for n in numbers}
    expected = {case_of[n]: expected_for(n) for n in numbers}
    zone = {case_id: str(c.data["zona"]) for case_id, c in cases.items()}
    for n in numbers:
        case = cases[case_of[n]]
        assert zone[case.id] == zone_of(n), n
        opened = case.created_at.astimezone(MX)
        assert opened == expected[case.id].opened, f"agent {n}: opened {fmt(opened)}"
        assert keys[case.id] == record_ids[made_agent(n).clave], n

    # a. Every mail to an assistant is about a case of one of their zones and goes to all
    #    the zone's assistants; every confirmation request reached each of them once, when
    #    the case opened.
    zones_of = {a: {z for z, people in ZONES.items() if a in people} for a in ASSISTANTS}
    to_assistants = [s for s in sent if s.everyone & set(ASSISTANTS)]
    for s in to_assistants:
        assert s.case_id is not None, f"{s.subject!r} has no case tag\n{totals}"
        case_zone = zone[s.case_id]
        for a in s.everyone & set(ASSISTANTS):
            assert case_zone in zones_of[a], f"{a} got {s.subject!r} ({case_zone})\n{totals}"
        assert set(ZONES[case_zone]) <= s.everyone, f"{s.subject!r} only to {sorted(s.everyone)}"
    asked = Counter(
        (s.case_id, a)
        for s in sent
        if s.template == "MA-002/confirmacion"
        for a in s.everyone & set(ASSISTANTS)
    )
    assert asked == Counter({(c, a): 1 for c in cases for a in ZONES[zone[c]]}), totals
    for s in sent:
        if s.template == "MA-002/confirmacion" and s.case_id is not None:
            assert s.cycle == expected[s.case_id].opened, f"{s.subject!r} at {fmt(s.cycle)}"

    # c. None outside support hours: written by a cycle in hours and dated in hours; the
    #    whole Maildir outbox (digests included) is checked again from the files.
    for s in to_assistants:
        dated = parsedate_to_datetime(str(s.msg["Date"]))
        assert in_hours(s.cycle) and in_hours(dated), f"{s.subject!r} at {fmt(dated)}"
    files = outbox_files(app)
    assert len(files) == sum(r.status == "sent" for r in rows.values())
    for path in files:
        msg = parse(path.read_bytes().partition(b"\r\n\r\n")[0])  # the headers are enough
        if recipients_of(msg) & set(ASSISTANTS):
            dated = parsedate_to_datetime(str(msg["Date"]))
            assert in_hours(dated), f"{subject_of(msg)!r} to {recipients_of(msg)} at {fmt(dated)}"
    # Mail to the team alone may leave at any hour, and this week some did.
    assert any(not in_hours(s.cycle) for s in sent if not s.everyone - TEAM)

    # b. Per assistant, the totals the delays give; then case by case.
    answer_mail = {PROCEED: "procedemos", LATER: "en_espera", STOP: "detenido"}
    want_totals: dict[str, Counter[str]] = {a: Counter() for a in ASSISTANTS}
    for case_id, want in expected.items():
        for a in ZONES[zone[case_id]]:
            want_totals[a]["confirmacion"] += 1
            want_totals[a]["recordatorio"] += len(want.reminders)
            want_totals[a]["reanudar"] += len(want.resumed)
            if want.answer:
                want_totals[a][answer_mail[want.answer[1]]] += 1
    assert got_totals == want_totals, f"got {totals}\nexpected:\n{table(want_totals)}"

    per_case: dict[int, list[Sent]] = defaultdict(list)
    for s in sent:
        if s.case_id is not None:
            per_case[s.case_id].append(s)
    for n in numbers:
        case_id = case_of[n]
        want = expected[case_id]
        people = set(ZONES[zone[case_id]])
        mail = per_case[case_id]
        where = f"agent {n}, case {case_id}, zone {zone[case_id]}, opened {fmt(want.opened)}"
        # One reminder per 2-business-day period to each assistant, never two in one.
        for a in people:
            got = [s.cycle for s in mail if s.template == "MA-002/recordatorio" and a in s.to]
            assert got == list(want.reminders), (
                f"{where}: {a} reminded at {[fmt(t) for t in got]}, "
                f"expected {[fmt(t) for t in want.reminders]}"
            )
            for before, after in zip([want.opened, *got], got, strict=False):
                assert business_days_between(before.date(), after.date()) == 2, where
        if want.answer is None:
            elapsed = business_days_between(want.opened.date(), END.date())
            assert len(want.reminders) == elapsed // 2, where
        # The escalation once, at 5 business days, to the supervisor (no manager
        # configured) with the specialists copied; never to the assistants.
        escalations = [s for s in mail if s.template == "MA-002/escalar_asistente"]
        assert [s.cycle for s in escalations] == [e for e in (want.escalation,) if e], (
            f"{where}: escalated at {[fmt(s.cycle) for s in escalations]}, "
            f"expected {fmt(want.escalation)}"
        )
        for s in escalations:
            assert s.to == {SUPERVISOR} and s.cc == SPECIALISTS, f"{where}: {s.to} cc {s.cc}"
        answered = [s for s in mail if s.template.removeprefix("MA-002/") in answer_mail.values()]
        resumed = [s for s in mail if s.template == "MA-002/reanudar"]
        if want.answer is None:
            assert not answered and not resumed, where
            continue
        # The answer is acknowledged at once; then silence, unless a snooze ends.
        read, kind = want.answer
        assert [(s.cycle, s.template) for s in answered] == [
            (read, f"MA-002/{answer_mail[kind]}")
        ], where
        assert people <= answered[0].everyone, where
        if kind == LATER:
            assert "2026-11-30, como nos indicaste" in body_of(answered[0].msg), where
        later = [
            f"{fmt(s.cycle)} {s.template}"
            for s in mail
            if s.cycle > read and s.everyone & people and s.template != "MA-002/reanudar"
        ]
        assert not later, f"{where}: after the answer at {fmt(read)}: {later}"
        assert [s.cycle for s in resumed] == list(want.resumed), where
        assert all(s.to == people for s in resumed), where

    # The answers moved the cases, and CAM Pegasus notes each «Deténlo».
    states = Counter(c.state for c in cases.values())
    assert states == {
        "confirmacion_asistente": 150,
        "alta_des": 30,
        "en_espera_asistente": 10,
        "detenido": 10,
    }, states
    registry = pegasus_state(pegasus)
    for _, answered_numbers, kind in ANSWERS:
        for n in answered_numbers:
            status, files_kept = registry[made_agent(n).clave]
            assert status == "Solicitado", n
            assert bool(files_kept) == (kind == STOP), (n, files_kept)
    print(f"\nMA-002 week: {len(sent)} messages besides the digests; {totals}")
