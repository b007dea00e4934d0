"""Golden mails through `mesabot run --once --now ...` across a weekend and a holiday.

The .eml files in tests/data/mail/story are written the way Gmail, Outlook desktop,
Outlook on the web and the iPhone write them (encoded Spanish subjects, Latin-1 and UTF-8
bodies, quoted history, signatures), plus an out-of-office and a bounce. Placeholders such
as %%OUT_2_1%% (the first Message-ID the bot sent for case 2) or %%SUBJECT_1%% (the
subject of its latest mail to the requester) are filled from the bot's own outbox, as
the real reply would carry them.

The calendar: Friday 13 November 2026 closes at 15:00; the 14th and 15th are a weekend;
Monday the 16th is a statutory holiday (Revolución); business resumes Tuesday the 17th.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from tests.e2e.test_cli import (
    MX,
    SPECIALISTS,
    SUPERVISOR,
    as_json,
    body_of,
    mesabot,
    ok,
    outbox,
    recipients,
)

STORY = Path(__file__).resolve().parents[1] / "data" / "mail" / "story"
PLACEHOLDER = re.compile(r"%%(OUT|SUBJECT)_(\d+)_?(1|LAST)?%%")

LUIS = "luis.hernandez.agente@gmail.com"
MARIA = "maria.fernandez@example.com"
JORGE = "jorge.salas@promotoria-chilpancingo.example.mx"
ROBERTO = "roberto.sanchez@example.com"
SOFIA, DIEGO = SPECIALISTS[0], SPECIALISTS[1]
TEAM = {*SPECIALISTS, SUPERVISOR}


class Story:
    """One folder with its config, inbox and outbox, driven through the command line."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.inbox = folder / "var" / "mail" / "inbox" / "new"
        self.seen: set[str] = set()
        self.delivered = 0

    def deliver(self, name: str, now: str) -> None:
        """Drop a golden mail into the inbox, placeholders filled from what the bot sent."""
        raw = (STORY / name).read_bytes().decode("utf-8")
        details: dict[str, Any] = {}
        raw = PLACEHOLDER.sub(lambda m: self._fill(m, now, details), raw)
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.delivered += 1
        (self.inbox / f"17630{self.delivered:05d}.M{self.delivered}P1.mx.example.com").write_bytes(
            raw.encode("utf-8")
        )

    def _fill(self, match: re.Match[str], now: str, details: dict[str, Any]) -> str:
        """The Message-ID or subject a placeholder names."""
        kind, case_id, which = match.group(1), match.group(2), match.group(3)
        if case_id not in details:
            details[case_id] = as_json(mesabot(self.folder, "case", case_id, "--json", now=now))
        detail = details[case_id]
        sent = [m for m in detail["messages"] if m["direction"] == "out"]
        to_requester = [m for m in sent if detail["requester"] in m["to"]]
        if kind == "SUBJECT":
            return str(to_requester[-1]["subject"])
        chosen = sent[0] if which == "1" else to_requester[-1]
        return str(chosen["message_id"])

    def run(self, now: str) -> list[EmailMessage]:
        """One `run --once` at `now`; the mails it sent (digests apart), oldest first."""
        ok(mesabot(self.folder, "run", "--once", now=now))
        return [m for m in self.new_mail() if not is_digest(m)]

    def new_mail(self) -> list[EmailMessage]:
        """Outbox files that appeared since the last look."""
        fresh = {k: v for k, v in outbox(self.folder).items() if k not in self.seen}
        self.seen.update(fresh)
        self.all.extend(fresh.values())
        return sorted(fresh.values(), key=lambda m: (m["Date"].datetime, m["Subject"]))

    all: list[EmailMessage]

    def case(self, case_id: int, *args: str, now: str) -> dict[str, Any]:
        """A specialist's command on a case (or the case itself with no action)."""
        return dict(as_json(mesabot(self.folder, "case", str(case_id), *args, "--json", now=now)))

    def states(self, now: str) -> dict[int, str]:
        """Every case's state."""
        return {
            c["id"]: c["state"] for c in as_json(mesabot(self.folder, "cases", "--json", now=now))
        }


def is_digest(msg: EmailMessage) -> bool:
    """The daily digest (checked on its own; every business day adds one per recipient)."""
    return "Resumen" in str(msg["Subject"])


def summary(mails: list[EmailMessage]) -> list[tuple[str, str, str]]:
    """(recipients, tag, Auto-Submitted) per mail, for readable assertions."""
    out = []
    for m in mails:
        tag = re.search(r"\[MA-\d{3} #\d+\]", str(m["Subject"]))
        out.append(
            (",".join(sorted(recipients(m))), tag.group(0) if tag else "", str(m["Auto-Submitted"]))
        )
    return sorted(out)


def sent_at(msg: EmailMessage) -> datetime:
    """The Date header in Mexico City time."""
    return parsedate_to_datetime(str(msg["Date"])).astimezone(MX)


def test_golden_mails_across_a_weekend_and_a_holiday(tmp_path: Path) -> None:
    story = Story(tmp_path)
    story.all = []
    ok(mesabot(tmp_path, "migrate"))
    specialists = ",".join(sorted(SPECIALISTS))
    alert_to = ",".join(sorted(TEAM))

    # Friday 16:30, after the 15:00 close: three new tickets, acknowledged at once anyway.
    for name in ("01_gmail_nuevo.eml", "02_outlook_nuevo.eml", "03_outlookweb_nuevo.eml"):
        story.deliver(name, "2026-11-13T16:30")
    acks = story.run("2026-11-13T16:30")
    assert summary(acks) == [
        (JORGE, "[MA-006 #3]", "auto-replied"),
        (LUIS, "[MA-006 #1]", "auto-replied"),
        (MARIA, "[MA-006 #2]", "auto-replied"),
    ]
    assert story.states("2026-11-13T16:30") == {
        1: "pendiente_atencion",
        2: "pendiente_atencion",
        3: "pendiente_atencion",
    }
    cases = {
        c["id"]: c for c in as_json(mesabot(tmp_path, "cases", "--json", now="2026-11-13T16:30"))
    }
    assert cases[1]["subject"] == "No puedo entrar a Pro99, contraseña bloqueada"
    assert (
        cases[2]["subject"]
        == "Solicitud de acceso a BLife para nueva asistente (Promotoría Monterrey)"
    )
    assert cases[3]["subject"] == "No aparece el módulo de Cotizaciones"
    assert cases[2]["requester"] == MARIA
    luis_ack = next(m for m in acks if LUIS in recipients(m))
    assert luis_ack["In-Reply-To"] == "<CAG4x9pQ2mHkYw7s0d1f=3Kp@mail.gmail.com>"
    ack_text = body_of(luis_ack)
    assert "MA-006 #1" in ack_text and "lunes a jueves" in ack_text.lower()
    # The stored description is what Luis wrote, without his signature's phone line noise.
    assert "contraseña está" in cases[1]["data"]["descripcion"]

    # 16:45: María's out-of-office answers our acknowledgement; Jorge's mailbox is full.
    story.deliver("04_outlook_fuera_de_oficina.eml", "2026-11-13T16:45")
    story.deliver("05_rebote_buzon_lleno.eml", "2026-11-13T16:45")
    after_bounce = story.run("2026-11-13T16:45")
    assert summary(after_bounce) == [(specialists, "[MA-006 #3]", "auto-generated")]
    assert "rebotado" in str(after_bounce[0]["Subject"]).lower()
    assert JORGE in body_of(after_bounce[0])
    case2 = story.case(2, now="2026-11-13T16:45")
    assert case2["state"] == "pendiente_atencion"  # the out-of-office changed nothing
    assert len([m for m in case2["messages"] if m["direction"] == "in"]) == 2
    case3 = story.case(3, now="2026-11-13T16:45")
    assert any(e["kind"] == "bounce" for e in case3["events"])

    # Saturday: a new ticket from an iPhone is acknowledged; nothing else moves.
    story.deliver("06_iphone_nuevo.eml", "2026-11-14T10:15")
    assert summary(story.run("2026-11-14T10:15")) == [(ROBERTO, "[MA-006 #4]", "auto-replied")]
    # Sunday and the holiday Monday: no SLA alert, no digest, nothing at all.
    assert story.run("2026-11-15T12:00") == []
    assert story.run("2026-11-16T17:00") == []
    # (A fresh install's first cycle sent Friday's digest late, rather than skip the day.)
    assert {sent_at(m).date().isoformat() for m in story.all if is_digest(m)} == {"2026-11-13"}

    # Tuesday 08:00: the first business hour since Friday; only the digest goes out.
    assert story.run("2026-11-17T08:00") == []
    tuesday = datetime(2026, 11, 17, 8, 0, tzinfo=MX)
    digests = [m for m in story.all if is_digest(m) and sent_at(m) == tuesday]
    assert sorted(r for m in digests for r in recipients(m)) == sorted(TEAM)
    digest_text = body_of(next(m for m in digests if SOFIA in recipients(m)))
    for ref in ("MA-006 #1", "MA-006 #2", "MA-006 #4"):
        assert ref in digest_text

    # 09:30 Sofía takes and resolves case 1; 10:00-10:30 Diego does case 2.
    story.case(1, "tomar", "--set", "tipo=acceso", "--by", SOFIA, now="2026-11-17T09:20")
    resolved = story.case(
        1,
        "resolver",
        "--set",
        "solucion=Desbloqueamos tu usuario de Pro99; la contraseña temporal te llegó por SMS.",
        "--by",
        SOFIA,
        now="2026-11-17T09:30",
    )
    assert resolved["state"] == "en_validacion"
    assert sorted((t["kind"], t["due_at"]) for t in resolved["timers"]) == [
        ("cierre_automatico", "2026-11-20T09:30:00-06:00"),
        ("recordatorio_validacion", "2026-11-19T09:30:00-06:00"),
    ]
    assert summary(story.run("2026-11-17T09:30")) == [(LUIS, "[MA-006 #1]", "None")]
    story.case(2, "tomar", "--set", "tipo=gestion_cuentas", "--by", DIEGO, now="2026-11-17T10:00")
    story.case(
        2,
        "resolver",
        "--set",
        "solucion=Alta en BLife de Itzel Domínguez Peña.",
        "--by",
        DIEGO,
        now="2026-11-17T10:30",
    )
    assert summary(story.run("2026-11-17T10:30")) == [(MARIA, "[MA-006 #2]", "None")]

    # 12:15: four business hours since Tuesday's opening; cases 3 and 4 are still waiting.
    late = story.run("2026-11-17T12:15")
    assert summary(late) == [
        (alert_to, "[MA-006 #3]", "auto-generated"),
        (alert_to, "[MA-006 #4]", "auto-generated"),
    ]

    # Diego takes case 4; Sofía closes case 3 (the user was reached by phone).
    story.case(4, "tomar", "--set", "tipo=soporte_tecnico", "--by", DIEGO, now="2026-11-17T12:30")
    story.case(
        3,
        "cerrar",
        "--set",
        "motivo=Se atendió por teléfono; su buzón está lleno.",
        "--by",
        SOFIA,
        now="2026-11-17T12:45",
    )
    story.case(
        4,
        "resolver",
        "--set",
        "solucion=Restablecimos el perfil de sincronización del iPad.",
        "--by",
        DIEGO,
        now="2026-11-17T13:00",
    )
    assert summary(story.run("2026-11-17T13:00")) == [
        (JORGE, "[MA-006 #3]", "None"),
        (ROBERTO, "[MA-006 #4]", "None"),
    ]

    # Wednesday: María validates from Outlook on the web; the ticket closes.
    story.deliver("07_outlookweb_validado.eml", "2026-11-18T10:05")
    closed = story.run("2026-11-18T10:05")
    assert summary(closed) == [(MARIA, "[MA-006 #2]", "auto-replied")]
    assert closed[0]["In-Reply-To"] == (
        "<SA1PR10MB5813F0E1D2C3B4A5968778695A4B3C2D@SA1PR10MB5813.namprd10.prod.outlook.com>"
    )
    # Roberto answers from his iPhone (no tag in the subject: threaded by In-Reply-To).
    story.deliver("08_iphone_no_resuelto.eml", "2026-11-18T11:40")
    reopened = story.run("2026-11-18T11:40")
    assert summary(reopened) == [
        (DIEGO, "[MA-006 #4]", "auto-generated"),
        (ROBERTO, "[MA-006 #4]", "auto-replied"),
    ]
    assert (
        "sigue sin funcionar"
        in body_of(next(m for m in reopened if DIEGO in recipients(m))).lower()
    )
    assert story.states("2026-11-18T11:40") == {
        1: "en_validacion",
        2: "cerrado",
        3: "cerrado",
        4: "en_proceso",
    }

    # Thursday 09:30: one business day before closing, Luis is reminded.
    assert summary(story.run("2026-11-19T09:30")) == [(LUIS, "[MA-006 #1]", "auto-generated")]
    # Friday 09:30: three business days without an answer close case 1.
    assert summary(story.run("2026-11-20T09:30")) == [(LUIS, "[MA-006 #1]", "auto-generated")]
    # 12:00: case 4 has been in progress two business days: Diego gets a follow-up.
    assert summary(story.run("2026-11-20T12:00")) == [(DIEGO, "[MA-006 #4]", "auto-generated")]

    # Monday 23: Luis answers the closed ticket; a new case opens, linked to the old one.
    story.deliver("09_gmail_caso_cerrado.eml", "2026-11-23T09:10")
    assert summary(story.run("2026-11-23T09:10")) == [(LUIS, "[MA-006 #5]", "auto-replied")]
    assert story.states("2026-11-23T09:10") == {
        1: "cerrado",
        2: "cerrado",
        3: "cerrado",
        4: "en_proceso",
        5: "pendiente_atencion",
    }
    case5 = story.case(5, now="2026-11-23T09:10")
    assert case5["links"] == [{"case_id": 1, "relation": "seguimiento_de"}]
    assert "otra vez me volvió a bloquear" in case5["data"]["descripcion"]
    assert "escribió" not in case5["data"]["descripcion"]

    # Across the whole story: a digest each business day and only then; mail to people
    # outside the team within support hours unless it answers them at once; every mail
    # about a case tagged and unique.
    digest_days = sorted({sent_at(m).date().isoformat() for m in story.all if is_digest(m)})
    assert digest_days == [
        "2026-11-13",
        "2026-11-17",
        "2026-11-18",
        "2026-11-19",
        "2026-11-20",
        "2026-11-23",
    ]
    for m in story.all:
        when = sent_at(m)
        if recipients(m) - TEAM and m["Auto-Submitted"] != "auto-replied":
            closes = 15 if when.weekday() == 4 else 18
            assert when.weekday() < 5 and 8 <= when.hour < closes, (m["Subject"], when)
    ids = [m["Message-ID"] for m in story.all]
    assert len(ids) == len(set(ids))
    assert not list(story.inbox.iterdir()), "every inbound mail was acknowledged to cur/"
    with sqlite3.connect(tmp_path / "var" / "mesabot.db") as db:
        knowledge = sorted(r[0] for r in db.execute("SELECT case_id FROM knowledge"))
        outbox_status = dict(db.execute("SELECT status, count(*) FROM outbox GROUP BY status"))
    assert knowledge == [1, 2, 3]
    assert outbox_status.get("bounced") == 1 and "pending" not in outbox_status
