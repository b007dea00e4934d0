"""Crash safety: SIGKILL the daemon at random moments while it works, restart it, check.

A seeded corpus of inbound mail (new tickets from many senders, exact redeliveries of the
same Message-ID, replies threaded by subject tag or In-Reply-To, a few empty files that
must be quarantined) is dropped into the Maildir inbox: part before the first start, the
rest while the daemon runs. The daemon (`mesabot run`, a real subprocess on SQLite) is
killed with SIGKILL at random moments of start-up, ingestion and dispatch, and restarted,
`kills` times; the last run is left to finish and stopped with SIGTERM, then one
`run --once` drains what the crashes left in flight. Finally the database and the Maildir
are checked: no message lost, no duplicate case, no more duplicate sends than kills.

Each run of the daemon is given a clock STALE_SENDING + 1 min ahead of the previous one,
as if it had been down that long, so sends interrupted by a kill are retried by the next
run (and the retries can be killed too).

Between a message's commit and its move to cur/ there are microseconds, so a kill seldom
lands there; the redeliveries put the daemon in that very state (Message-ID stored, file
still in new/) on every run.

With `--backend imap` the same corpus goes into a real Dovecot and the daemon reads it over
IMAP and sends through a local SMTP server; Dovecot is also restarted, and its UIDVALIDITY
reset, while the daemon fetches (tests/crash/imap.py).

Command line (from the repository root):

    python -m tests.crash.harness --messages 500 --kills 20 --seed 7 [--workdir DIR]
    python -m tests.crash.harness --backend imap --messages 400 --kills 15 --restarts 4 --seed 7
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from bot.dispatcher import STALE_SENDING

if TYPE_CHECKING:
    from tests.crash.imap import Disruption, ImapRun

REPO = Path(__file__).resolve().parents[2]
MX = ZoneInfo("America/Mexico_City")
# Monday 23 November 2026, 09:00: a business day, within support hours.
START = datetime(2026, 11, 23, 9, 0, tzinfo=MX)
# How far each restart's clock moves: enough for the rows a kill left in "sending".
LIFE_STEP = STALE_SENDING + timedelta(minutes=1)
BOT_ADDRESS = "mesa.ayuda@example.com"

POLL = 0.002  # seconds between looks at the Maildir while waiting for a kill point
LIFE_LIMIT = 8.0  # a kill that has not found its moment by then happens anyway
SETTLE_LIMIT = 180.0  # the last run must have done everything within this
FIRST_BATCH = 0.4  # share of the corpus waiting in the inbox before the first start
PHASES = ("ingest", "dispatch", "startup", "ingest", "timed", "dispatch")

Kind = Literal["ticket", "duplicate", "reply", "blank"]
Backend = Literal["maildir", "imap"]

FIRST_NAMES = [
    "Ana",
    "Luis",
    "María",
    "José",
    "Guadalupe",
    "Fernando",
    "Rosa",
    "Jorge",
    "Verónica",
    "Ricardo",
    "Claudia",
    "Miguel",
    "Adriana",
    "Héctor",
    "Gabriela",
    "Raúl",
]
LAST_NAMES = [
    "García",
    "Martínez",
    "López",
    "González",
    "Rodríguez",
    "Pérez",
    "Sánchez",
    "Ramírez",
    "Flores",
    "Cruz",
    "Ortiz",
    "Jiménez",
]
DOMAINS = (
    "promotoria-toluca.example.com",
    "promotoria-reforma.example.com",
    "istmo.example.net",
    "gmail.example.com",
    "outlook.example.com",
)
SUBJECTS = (
    "No puedo entrar al portal de agentes",
    "Error al subir documentos en BLife",
    "Solicitud de alta de usuario para la clave {clave}",
    "Olvidé mi contraseña de CAM Pegasus",
    "No me llega el correo de recuperación",
    "Duda sobre mis comisiones de {mes}",
    "La póliza {poliza} no aparece en mi cartera",
    "El cotizador marca «error 500»",
    "Actualización de datos bancarios",
    "Pago de la póliza {poliza} no aplicado",
    "¿Cómo descargo mi constancia de recertificación?",
    "Cambio de correo electrónico en mi perfil",
    "No puedo imprimir la carátula de la póliza {poliza}",
    "Cuenta bloqueada después de varios intentos",
)
DETAILS = (
    "Desde ayer en la tarde me aparece el mensaje «usuario o contraseña incorrectos».",
    "Ya intenté desde otro navegador y con el celular y pasa lo mismo.",
    "Les adjunto la captura de pantalla del error.",
    "Mi cliente está esperando y necesito resolverlo hoy si es posible.",
    "Revisé con mi promotoría y me dijeron que lo reportara con ustedes.",
    "El número de póliza es {poliza} y la clave de agente {clave}.",
)
MONTHS = ("septiembre", "octubre", "noviembre")
REPLY_TEXTS = (
    "Les comparto la información adicional que tengo del caso.",
    "Agrego el número de cliente para que lo revisen: {poliza}.",
    "Les mando otra captura; el mensaje cambió un poco.",
    "Quedo pendiente de su respuesta, gracias por la atención.",
)


# --- the corpus ---------------------------------------------------------------------------


@dataclass
class Item:
    """One file to deliver into inbox/new."""

    index: int
    name: str
    kind: Kind
    message_id: str | None = None
    sender: str = ""
    subject: str = ""
    raw: bytes = b""  # replies are built at delivery, from what the bot sent by then
    text: str = ""  # a reply's own words
    parent: int | None = None  # the ticket a duplicate copies or a reply answers
    attachment: bool = False
    reply_style: str = ""  # "tag" (answering our acknowledgement) or "in-reply-to"


def _ascii(text: str) -> str:
    """Lower-case ASCII for a mailbox name."""
    plain = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in plain if c.isascii() and c.isalnum())


def _people(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """Distinct (display name, address) pairs."""
    seen: set[str] = set()
    people: list[tuple[str, str]] = []
    while len(people) < count:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        address = f"{_ascii(first)}.{_ascii(last)}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"
        if address not in seen:
            seen.add(address)
            people.append((f"{first} {last}", address))
    return people


def _fill(text: str, rng: random.Random) -> str:
    """Put plausible numbers into a subject or sentence."""
    return text.format(
        clave=f"A{rng.randint(100000, 999999)}",
        poliza=f"{rng.randint(10, 99)}-{rng.randint(1000000, 9999999)}",
        mes=rng.choice(MONTHS),
    )


def _ticket(rng: random.Random, index: int, seed: int, person: tuple[str, str]) -> Item:
    """A new ticket as a mail client sends it; one in eight carries a screenshot."""
    name, address = person
    subject = _fill(rng.choice(SUBJECTS), rng)
    details = " ".join(_fill(d, rng) for d in rng.sample(DETAILS, 2))
    message_id = f"<{seed}.{index}.{rng.getrandbits(40):x}@{address.split('@')[1]}>"
    msg = EmailMessage()
    msg["From"] = f"{name} <{address}>"
    msg["To"] = BOT_ADDRESS
    msg["Subject"] = subject
    msg["Date"] = format_datetime(START - timedelta(minutes=rng.randint(1, 600)))
    msg["Message-ID"] = message_id
    msg.set_content(
        f"Buenos días:\n\n{subject}. {details}\n\nQuedo atento a sus comentarios.\n\n"
        f"Saludos,\n{name}\n"
    )
    attachment = rng.random() < 0.125
    if attachment:
        content = b"%PDF-1.4\n" + rng.randbytes(rng.randint(800, 4000))
        msg.add_attachment(content, maintype="application", subtype="pdf", filename="captura.pdf")
    return Item(
        index=index,
        name=_file_name(seed, index),
        kind="ticket",
        message_id=message_id,
        sender=address,
        subject=subject,
        raw=msg.as_bytes(),
        attachment=attachment,
    )


def _file_name(seed: int, index: int) -> str:
    """A Maildir-style unique name (no colon: the flags go after it)."""
    return f"{1795000000 + index}.S{seed}Q{index}.harness"


def make_corpus(messages: int, seed: int) -> list[Item]:
    """`messages` inbox files: ~70% tickets, ~20% replies, ~8% redeliveries, ~1% empty."""
    rng = random.Random(seed)
    blanks = max(1, messages // 100)
    duplicates = max(1, messages * 8 // 100)
    replies = messages * 20 // 100
    tickets = messages - blanks - duplicates - replies
    if tickets < 1:
        raise ValueError("too few messages for a corpus")
    people = _people(rng, max(3, tickets // 3))
    items = [_ticket(rng, i, seed, rng.choice(people)) for i in range(tickets)]
    for parent in rng.sample(range(tickets), duplicates):
        copy = items[parent]
        index = len(items)
        items.append(
            Item(
                index=index,
                name=_file_name(seed, index),
                kind="duplicate",
                message_id=copy.message_id,
                sender=copy.sender,
                subject=copy.subject,
                raw=copy.raw,
                parent=parent,
                attachment=copy.attachment,
            )
        )
    for parent in rng.sample(range(tickets), min(replies, tickets)):
        original = items[parent]
        index = len(items)
        domain = original.sender.split("@")[1]
        items.append(
            Item(
                index=index,
                name=_file_name(seed, index),
                kind="reply",
                message_id=f"<{seed}.{index}.{rng.getrandbits(40):x}@{domain}>",
                sender=original.sender,
                subject=original.subject,
                parent=parent,
                text=_fill(rng.choice(REPLY_TEXTS), rng),
            )
        )
    for _ in range(blanks):
        index = len(items)
        items.append(Item(index=index, name=_file_name(seed, index), kind="blank", raw=b"\n"))
    rng.shuffle(items)
    return items


# --- the mailbox --------------------------------------------------------------------------


def _count(folder: Path) -> int:
    """Files in a Maildir folder."""
    try:
        return sum(1 for e in os.scandir(folder) if e.is_file())
    except FileNotFoundError:
        return 0


def _names(folder: Path) -> set[str]:
    """Names of the files in a Maildir folder."""
    try:
        return {e.name for e in os.scandir(folder) if e.is_file()}
    except FileNotFoundError:
        return set()


class OutboxIndex:
    """The headers of what the bot sent (one file per message), read once per file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[str, dict[str, str]] = {}

    def refresh(self) -> dict[str, dict[str, str]]:
        """Read the files not seen yet."""
        for entry in os.scandir(self.folder):
            if entry.name in self.files or not entry.is_file():
                continue
            headers = BytesParser(policy=default_policy).parsebytes(
                Path(entry.path).read_bytes(), headersonly=True
            )
            self.files[entry.name] = {
                k: str(headers.get(k, "")).strip() for k in ("Message-ID", "In-Reply-To", "Subject")
            }
        return self.files


class Mailbox:
    """The harness's side of the bot's mailbox: delivery like an MTA, and what became of it."""

    def __init__(self, items: Sequence[Item], outbox: Path) -> None:
        self.items = list(items)
        self.by_index = {i.index: i for i in self.items}
        self.by_message_id: dict[str, list[Item]] = {}
        for item in self.items:
            if item.message_id:
                self.by_message_id.setdefault(item.message_id, []).append(item)
        self.queue = list(self.items)
        self.delivered: list[Item] = []
        self.lock = threading.Lock()
        self.outbox = outbox  # one file per message the bot sent
        self.acks = OutboxIndex(outbox)
        outbox.mkdir(parents=True, exist_ok=True)

    def acknowledged(self) -> set[str]:
        """Message-IDs of which some delivered copy the daemon has acknowledged."""
        raise NotImplementedError

    def processed(self) -> int:
        """Files acknowledged or quarantined so far."""
        raise NotImplementedError

    def waiting(self) -> int:
        """Files delivered and not yet acknowledged or quarantined."""
        raise NotImplementedError

    def check_mailbox(self, report: Report) -> None:
        """Every delivered file acknowledged, only the empty ones quarantined."""
        raise NotImplementedError

    def _store(self, item: Item) -> None:
        """Put one file into the inbox the way an MTA does."""
        raise NotImplementedError

    def remaining(self) -> int:
        """Files not delivered yet."""
        with self.lock:
            return len(self.queue)

    def _ready(self, item: Item, acknowledged: set[str]) -> bool:
        """A reply waits until its ticket has a case (some copy of it was processed)."""
        if item.kind != "reply":
            return True
        assert item.parent is not None
        return self.by_index[item.parent].message_id in acknowledged

    def deliver(self, count: int) -> int:
        """Deliver up to `count` ready files; how many."""
        sent = 0
        with self.lock:
            acknowledged = self.acknowledged()
            waiting: list[Item] = []
            while self.queue and sent < count:
                item = self.queue.pop(0)
                if not self._ready(item, acknowledged):
                    waiting.append(item)
                    continue
                if item.kind == "reply":
                    item.raw = self._reply(item)
                self._store(item)
                self.delivered.append(item)
                sent += 1
            self.queue[:0] = waiting
        return sent

    def _reply(self, item: Item) -> bytes:
        """The requester answers our acknowledgement if it came, else their own mail."""
        assert item.parent is not None and item.message_id is not None
        parent = self.by_index[item.parent]
        assert parent.message_id is not None
        ack = next(
            (
                h
                for h in self.acks.refresh().values()
                if h["In-Reply-To"] == parent.message_id and "[MA-006 #" in h["Subject"]
            ),
            None,
        )
        msg = EmailMessage()
        msg["From"] = item.sender
        msg["To"] = BOT_ADDRESS
        msg["Date"] = format_datetime(START)
        msg["Message-ID"] = item.message_id
        if ack is not None:
            item.reply_style = "tag"
            subject = ack["Subject"]
            msg["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
            msg["In-Reply-To"] = ack["Message-ID"]
            msg["References"] = f"{parent.message_id} {ack['Message-ID']}"
            quoted = "Mesa de Ayuda escribió:\n> Recibimos tu solicitud."
        else:
            item.reply_style = "in-reply-to"
            msg["Subject"] = f"RE: {parent.subject}"
            msg["In-Reply-To"] = parent.message_id
            msg["References"] = parent.message_id
            quoted = f"De: {parent.sender}\nAsunto: {parent.subject}\n\n> {parent.subject}."
        msg.set_content(f"{item.text}\n\nSaludos.\n\n{quoted}\n")
        return msg.as_bytes()


class MaildirMailbox(Mailbox):
    """The local Maildir: inbox/new is the mail waiting, cur/ and quarantine/ the mail done."""

    def __init__(self, root: Path, items: Sequence[Item]) -> None:
        super().__init__(items, root / "outbox" / "new")
        self.root = root
        self.inbox = root / "inbox"
        for sub in ("tmp", "new", "cur"):
            (self.inbox / sub).mkdir(parents=True, exist_ok=True)

    def acknowledged(self) -> set[str]:
        """Message-IDs of which some delivered copy was moved to inbox/cur."""
        cur = _names(self.inbox / "cur")
        return {i.message_id for i in self.delivered if i.message_id and f"{i.name}:2,S" in cur}

    def processed(self) -> int:
        """Files acknowledged or quarantined so far."""
        return _count(self.inbox / "cur") + _count(self.root / "quarantine" / "new")

    def waiting(self) -> int:
        """Files still in inbox/new."""
        return _count(self.inbox / "new")

    def check_mailbox(self, report: Report) -> None:
        """Every file acknowledged to inbox/cur, only the empty ones quarantined."""
        problems = report.problems
        left = sorted(p.name for p in (self.inbox / "new").iterdir())
        if left:
            problems.append(f"{len(left)} files left in inbox/new: {left[:5]}")
        cur = {p.name for p in (self.inbox / "cur").iterdir()}
        quarantined = _names(self.root / "quarantine" / "new")
        for item in self.delivered:
            if item.kind == "blank":
                if item.name not in quarantined:
                    problems.append(f"empty file {item.name} not quarantined")
            elif f"{item.name}:2,S" not in cur:
                problems.append(f"{item.kind} {item.name} not acknowledged to inbox/cur")
        expected = {i.name for i in self.delivered if i.kind == "blank"}
        if quarantined - expected:
            problems.append(f"quarantined unexpectedly: {sorted(quarantined - expected)}")

    def _store(self, item: Item) -> None:
        """Write into tmp/, then rename into new/."""
        tmp = self.inbox / "tmp" / item.name
        tmp.write_bytes(item.raw)
        tmp.replace(self.inbox / "new" / item.name)


class Feeder(threading.Thread):
    """Delivers a share of the corpus in small bursts while the daemon runs."""

    def __init__(
        self, mailbox: Mailbox, share: int, rng: random.Random, *, all_remaining: bool = False
    ) -> None:
        super().__init__(daemon=True)
        self.mailbox = mailbox
        self.share = share
        self.rng = rng
        self.all_remaining = all_remaining
        self.stop = threading.Event()
        self.stuck: list[str] = []

    def run(self) -> None:
        """Deliver until the share is out, told to stop, or (last run) the corpus is out."""
        left = self.share
        deadline = time.monotonic() + SETTLE_LIMIT
        while not self.stop.is_set():
            if self.all_remaining:
                if self.mailbox.remaining() == 0:
                    return
                if time.monotonic() > deadline:
                    self.stuck = [i.name for i in self.mailbox.queue]
                    return
            elif left <= 0:
                return
            burst = self.rng.randint(1, 6)
            left -= self.mailbox.deliver(burst if self.all_remaining else min(burst, left))
            self.stop.wait(self.rng.uniform(0.0, 0.15))


# --- the daemon ---------------------------------------------------------------------------


def _child_env() -> dict[str, str]:
    """The daemon's environment: the repo importable, no MESABOT_* overrides inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESABOT_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["PYTHONIOENCODING"] = "utf-8"
    env["MESABOT_LOG_LEVEL"] = "INFO"
    return env


def _write_config(workdir: Path) -> Path:
    """The shipped config.toml with a one-second cycle; var/ lives in the workdir."""
    text = (REPO / "config.toml").read_text(encoding="utf-8")
    fast, n = re.subn(r"(?m)^sweep_interval_seconds = \d+$", "sweep_interval_seconds = 1", text)
    if n != 1:
        raise RuntimeError("config.toml has no [daemon] sweep_interval_seconds line")
    config = workdir / "config.toml"
    config.write_text(fast, encoding="utf-8")
    return config


def _command(config: Path, now: datetime, *args: str) -> list[str]:
    """`python -m bot --config CONFIG --now NOW ARGS...`."""
    return [sys.executable, "-m", "bot", "--config", str(config), "--now", now.isoformat(), *args]


def _sql(db: Path, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of one read-only query (WAL: safe while the daemon writes)."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def _utc(at: datetime) -> str:
    """An instant as the database stores it (naive UTC text)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _wait(
    proc: subprocess.Popen[bytes], until: Callable[[], bool], limit: float, every: float = POLL
) -> bool:
    """Poll until the condition holds; False if the process died or time ran out."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if until():
            return True
        time.sleep(every)
    return False


def _kill_point(
    proc: subprocess.Popen[bytes], phase: str, rng: random.Random, mailbox: Mailbox
) -> str:
    """Wait for a random moment of the given phase; the phase the kill really hit."""
    if phase == "startup":  # interpreter start, migrations, the first cycle's beginning
        time.sleep(rng.uniform(0.05, 1.2))
        return phase
    if phase == "timed":
        time.sleep(rng.uniform(0.2, 4.0))
        return phase
    if phase == "ingest":
        if not _wait(proc, lambda: mailbox.waiting() > 0, 2.0):
            return "ingest (nothing to ingest)"
        target = mailbox.processed() + rng.randint(1, max(1, mailbox.waiting()))
        hit = _wait(proc, lambda: mailbox.processed() >= target, LIFE_LIMIT)
    else:
        target = _count(mailbox.outbox) + rng.randint(1, 12)
        hit = _wait(proc, lambda: _count(mailbox.outbox) >= target, LIFE_LIMIT)
    # A few milliseconds later: anywhere in the next message's transaction or send.
    time.sleep(rng.uniform(0.0, 0.012))
    return phase if hit else f"{phase} (timed out)"


# --- the report ---------------------------------------------------------------------------


@dataclass
class Report:
    """What a crash run did and what the checks found."""

    seed: int
    backend: Backend = "maildir"
    messages: int = 0
    tickets: int = 0
    duplicates: int = 0
    replies: int = 0
    blanks: int = 0
    kills: int = 0
    kill_phases: Counter[str] = field(default_factory=Counter)
    committed_unacked: int = 0  # messages committed but not moved to cur/ when killed
    interrupted_sends: int = 0  # outbox rows left in "sending" by a kill
    written_unrecorded: int = 0  # ... whose file was already in the outbox
    cases: int = 0
    outbound: int = 0
    duplicate_sends: int = 0
    retried_sends: int = 0
    resets: int = 0  # UIDVALIDITY resets (IMAP)
    restarts: int = 0  # Dovecot restarts (IMAP)
    server_down_cycles: int = 0  # cycles that failed with ChannelUnavailable
    resyncs: int = 0  # UIDVALIDITY changes the daemon noticed
    stray_copies: int = 0  # copies an interrupted MOVE left behind
    done_folder: str | None = None
    elapsed: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every invariant held."""
        return not self.problems

    @property
    def bound(self) -> int:
        """How many duplicate sends the kills and the server stops can explain."""
        return self.kills + self.resets + self.restarts

    def summary(self) -> str:
        """A few lines for people."""
        phases = ", ".join(f"{k} {v}" for k, v in sorted(self.kill_phases.items()))
        lines = [
            f"seed {self.seed}: {self.messages} inbox files ({self.tickets} tickets, "
            f"{self.duplicates} redeliveries, {self.replies} replies, {self.blanks} empty)",
            f"kills {self.kills} ({phases or 'none'}); in flight at the kills: "
            f"{self.committed_unacked} committed but unacknowledged messages, "
            f"{self.interrupted_sends} interrupted sends ({self.written_unrecorded} already "
            "written)",
            f"cases {self.cases}; outbound files {self.outbound}; duplicate sends "
            f"{self.duplicate_sends} (bound {self.bound}); sends retried "
            f"{self.retried_sends}; elapsed {self.elapsed:.1f} s",
        ]
        if self.backend == "imap":
            lines.insert(
                2,
                f"IMAP: {self.resets} UIDVALIDITY resets, {self.restarts} Dovecot restarts; "
                f"{self.server_down_cycles} cycles failed with the server down, "
                f"{self.resyncs} re-syncs by Message-ID, {self.stray_copies} copies left by "
                f"interrupted moves; done folder {self.done_folder}",
            )
        if self.problems:
            lines.append(f"{len(self.problems)} problem(s):")
            lines.extend(f"  - {p}" for p in self.problems[:40])
        else:
            lines.append("all invariants hold")
        return "\n".join(lines)


# --- the run ------------------------------------------------------------------------------


def run(
    workdir: Path,
    messages: int = 150,
    kills: int = 5,
    seed: int = 1,
    progress: Callable[[str], None] | None = None,
    *,
    backend: Backend = "maildir",
    resets: int = 2,  # UIDVALIDITY resets, IMAP only
    restarts: int = 4,  # Dovecot restarts, IMAP only
) -> Report:
    """Play one crash run in `workdir` (created if needed) and check the invariants."""
    say = progress or (lambda _line: None)
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    config = _write_config(workdir)
    db = workdir / "var" / "mesabot.db"
    items = make_corpus(messages, seed)
    rng = random.Random(seed * 7919 + 1)
    kinds = Counter(i.kind for i in items)
    report = Report(
        seed=seed,
        backend=backend,
        messages=len(items),
        tickets=kinds["ticket"],
        duplicates=kinds["duplicate"],
        replies=kinds["reply"],
        blanks=kinds["blank"],
    )
    plan = [PHASES[i % len(PHASES)] for i in range(kills)]
    rng.shuffle(plan)
    env = _child_env()
    with ExitStack() as stack:
        imap: ImapRun | None = None
        mailbox: Mailbox
        trouble: dict[int, list[Disruption]] = {}
        if backend == "imap":
            from tests.crash.imap import ImapRun

            imap = ImapRun(stack, workdir, items, seed)
            imap.configure(config)
            env.update(imap.env())
            mailbox = imap.mailbox
            report.done_folder = imap.done_folder
            trouble = imap.plan(kills, resets, restarts)
        else:
            mailbox = MaildirMailbox(workdir / "var" / "mail", items)
        mailbox.deliver(int(len(items) * FIRST_BATCH))
        logs: list[Path] = []
        now = START
        for life in range(kills + 1):
            now = START + life * LIFE_STEP
            log_path = workdir / f"daemon-{life:02d}.log"
            logs.append(log_path)
            last = life == kills
            share = mailbox.remaining() // (kills + 1 - life)
            feeder = Feeder(mailbox, share, random.Random(rng.random()), all_remaining=last)
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    _command(config, now, "run"),
                    cwd=workdir,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                feeder.start()
                try:
                    if imap is not None:
                        for action in trouble.get(life, []):
                            say(f"run {life}: {imap.disrupt(proc, action, report)}")
                    if last:
                        _finish(proc, feeder, mailbox, db, now, report)
                    else:
                        hit = _kill_point(proc, plan[life], rng, mailbox)
                        if proc.poll() is not None:
                            report.problems.append(
                                f"run {life}: the daemon exited by itself with {proc.returncode}"
                            )
                        proc.kill()  # SIGKILL
                        proc.wait()
                        feeder.stop.set()
                        feeder.join()
                        report.kills += 1
                        report.kill_phases[hit.split(" ")[0]] += 1
                        _in_flight(mailbox, db, report)
                        say(f"run {life}: killed during {hit}")
                finally:
                    feeder.stop.set()
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                    feeder.join()
        drain_at = now + LIFE_STEP
        drain = subprocess.run(
            _command(config, drain_at, "run", "--once"),
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        (workdir / "drain.log").write_text(drain.stdout + drain.stderr, encoding="utf-8")
        if drain.returncode != 0:
            report.problems.append(f"final run --once exited {drain.returncode}: {drain.stderr}")
        check(workdir, mailbox, db, drain_at, report, logs)
    report.elapsed = time.monotonic() - started
    return report


def _finish(
    proc: subprocess.Popen[bytes],
    feeder: Feeder,
    mailbox: Mailbox,
    db: Path,
    now: datetime,
    report: Report,
) -> None:
    """The last run: deliver the rest, wait until all work due is done, stop with SIGTERM."""
    feeder.join(SETTLE_LIMIT)
    if feeder.stuck:
        report.problems.append(
            f"replies never deliverable (ticket never processed): {feeder.stuck}"
        )
    due = _utc(now)

    def settled() -> bool:
        if mailbox.waiting():
            return False
        busy = _sql(
            db,
            "SELECT (SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')"
            " AND not_before <= ?) + (SELECT count(*) FROM timers WHERE status = 'pending'"
            " AND due_at <= ?)",
            (due, due),
        )
        return bool(busy[0][0] == 0)

    if not _wait(proc, settled, SETTLE_LIMIT, every=0.1):
        report.problems.append(
            "the last run never finished its work"
            if proc.poll() is None
            else f"the last run exited by itself with {proc.returncode}"
        )
        return
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        report.problems.append("the last run did not stop within 30 s of SIGTERM")
        return
    if code != 0:
        report.problems.append(f"the last run exited {code} on SIGTERM")


def _in_flight(mailbox: Mailbox, db: Path, report: Report) -> None:
    """What the kill interrupted: committed-but-unacknowledged mail, sends in progress."""
    if not db.exists():
        return
    # A redelivery waiting beside its processed twin is not in flight; skip those.
    acknowledged = mailbox.acknowledged()
    waiting = [
        i.message_id for i in mailbox.delivered if i.message_id and i.message_id not in acknowledged
    ]
    try:
        for chunk in range(0, len(waiting), 500):
            ids = waiting[chunk : chunk + 500]
            marks = ",".join("?" * len(ids))
            rows = _sql(
                db,
                "SELECT count(*) FROM messages WHERE direction = 'in'"
                f" AND external_id IN ({marks})",
                ids,
            )
            report.committed_unacked += rows[0][0]
        sending = {r[0] for r in _sql(db, "SELECT message_id FROM outbox WHERE status = 'sending'")}
    except sqlite3.OperationalError:
        return  # killed before the schema existed
    report.interrupted_sends += len(sending)
    written = {h["Message-ID"] for h in OutboxIndex(mailbox.outbox).refresh().values()}
    report.written_unrecorded += len(sending & written)


# --- the invariants -----------------------------------------------------------------------


def check(
    workdir: Path,
    mailbox: Mailbox,
    db: Path,
    drain_at: datetime,
    report: Report,
    logs: Iterable[Path],
) -> None:
    """Check every invariant; each violation becomes a line in report.problems."""
    problems = report.problems
    if mailbox.remaining():
        problems.append(f"{mailbox.remaining()} files were never delivered")
    mailbox.check_mailbox(report)

    integrity = _sql(db, "PRAGMA integrity_check")
    if integrity != [("ok",)]:
        problems.append(f"integrity_check: {integrity[:5]}")
    fk = _sql(db, "PRAGMA foreign_key_check")
    if fk:
        problems.append(f"foreign_key_check: {fk[:5]}")

    # Inbound messages: each Message-ID stored exactly once.
    stored = Counter(
        r[0] for r in _sql(db, "SELECT external_id FROM messages WHERE direction = 'in'")
    )
    generated = {i.message_id for i in mailbox.delivered if i.message_id}
    lost = generated - set(stored)
    if lost:
        problems.append(f"{len(lost)} messages lost: {sorted(lost)[:5]}")
    twice = {k: n for k, n in stored.items() if n > 1}
    if twice:
        problems.append(f"{len(twice)} messages stored more than once: {list(twice.items())[:5]}")
    strangers = set(stored) - generated
    if strangers:
        problems.append(f"{len(strangers)} inbound messages nobody sent: {sorted(strangers)[:5]}")
    case_of = dict(_sql(db, "SELECT external_id, case_id FROM messages WHERE direction = 'in'"))

    # Cases: exactly one per distinct ticket; replies thread into their ticket's case.
    case_ids = {r[0] for r in _sql(db, "SELECT id FROM cases")}
    report.cases = len(case_ids)
    tickets = {i.message_id: i for i in mailbox.delivered if i.kind in ("ticket", "duplicate")}
    ticket_cases = Counter(case_of.get(mid) for mid in tickets)
    if None in ticket_cases:
        problems.append(f"{ticket_cases[None]} tickets without a case")
    shared = {c: n for c, n in ticket_cases.items() if c is not None and n > 1}
    if shared:
        problems.append(f"tickets sharing a case: {list(shared.items())[:5]}")
    if len(case_ids) != len(tickets):
        problems.append(f"{len(case_ids)} cases for {len(tickets)} distinct tickets")
    by_index = mailbox.by_index
    for item in mailbox.delivered:
        if item.kind != "reply":
            continue
        assert item.parent is not None
        want = case_of.get(by_index[item.parent].message_id)
        got = case_of.get(item.message_id)
        if got != want:
            problems.append(
                f"reply {item.name} ({item.reply_style}) in case {got}, expected {want}"
            )

    # Attachments: one row per attached ticket, every archived file intact.
    attached = Counter(
        r[0]
        for r in _sql(
            db,
            "SELECT m.external_id FROM attachments a JOIN messages m ON m.id = a.message_id",
        )
    )
    for mid, item in tickets.items():
        if attached.get(mid, 0) != (1 if item.attachment else 0):
            problems.append(f"ticket {mid} has {attached.get(mid, 0)} attachment rows")
    archive = workdir / "var" / "archive"
    digests = [
        r[0] for r in _sql(db, "SELECT raw_sha256 FROM messages WHERE raw_sha256 IS NOT NULL")
    ]
    digests += [r[0] for r in _sql(db, "SELECT sha256 FROM attachments")]
    for sha in set(digests):
        path = archive / sha[:2] / sha[2:4] / sha
        if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != sha:
            problems.append(f"archive file {sha} missing or damaged")

    # Outbound: every row sent, one file per row; duplicates bounded by the kills.
    rows = _sql(
        db,
        "SELECT id, case_id, status, message_id, json_extract(payload, '$.template'), attempts"
        " FROM outbox",
    )
    unsent = [r for r in rows if r[2] != "sent"]
    if unsent:
        problems.append(f"{len(unsent)} outbox rows not sent: {unsent[:5]}")
    report.retried_sends = sum(1 for r in rows if r[5] > 1)
    files = OutboxIndex(mailbox.outbox).refresh()
    sent_ids = Counter(h["Message-ID"] for h in files.values())
    report.outbound = len(files)
    row_ids = {r[3] for r in rows}
    missing = {r[3] for r in rows if r[2] == "sent"} - set(sent_ids)
    if missing:
        problems.append(f"{len(missing)} rows marked sent with no file: {sorted(missing)[:5]}")
    orphans = set(sent_ids) - row_ids
    if orphans:
        problems.append(f"{len(orphans)} outbox files with no row: {sorted(orphans)[:5]}")
    same_file = sum(n - 1 for n in sent_ids.values())
    acks = Counter(r[1] for r in rows if r[4] == "MA-006/acuse" and r[3] in sent_ids)
    extra_acks = sum(n - 1 for n in acks.values())
    events = _sql(db, "SELECT count(*) FROM events WHERE kind = 'quarantined'")[0][0]
    if events < report.blanks:
        problems.append(f"{events} quarantine events for {report.blanks} empty files")
    extra_quarantine = max(0, events - report.blanks)
    report.duplicate_sends = same_file + extra_acks + extra_quarantine
    # A send interrupted by a Dovecot stop is not repeated (the copy to the sent folder only
    # logs its failure), but an empty message has no Message-ID to be recognised by: a stop
    # between its batch's commit and its move to quarantine has it quarantined, and the
    # specialists alerted, once more. Hence one more allowed per stop (report.bound).
    if report.duplicate_sends > report.bound:
        problems.append(
            f"{report.duplicate_sends} duplicate sends for {report.kills} kills, "
            f"{report.resets + report.restarts} server stops "
            f"({same_file} repeated Message-IDs, {extra_acks} extra acknowledgements, "
            f"{extra_quarantine} repeated quarantine alerts)"
        )
    unmarked = _sql(
        db,
        "SELECT count(*) FROM outbox o JOIN messages m ON m.external_id = o.message_id"
        " AND m.direction = 'out' WHERE o.status = 'sent' AND m.status != 'sent'",
    )[0][0]
    if unmarked:
        problems.append(f"{unmarked} sent rows whose outbound message is not marked sent")

    # Timers: nothing due left behind, none failed, one pending occurrence per job.
    late = _sql(
        db,
        "SELECT count(*) FROM timers WHERE status = 'pending' AND due_at <= ?",
        (_utc(drain_at),),
    )[0][0]
    if late:
        problems.append(f"{late} timers due but not fired")
    failed = _sql(db, "SELECT count(*) FROM timers WHERE status = 'failed'")[0][0]
    if failed:
        problems.append(f"{failed} timers failed")
    jobs = _sql(
        db,
        "SELECT kind, count(*) FROM timers WHERE scope = 'job' AND status = 'pending'"
        " GROUP BY kind HAVING count(*) > 1",
    )
    if jobs:
        problems.append(f"recurring jobs with several pending occurrences: {jobs}")

    # The daemon's own account: no failed cycle, no traceback, no lock error; with IMAP,
    # but for the cycles that failed because Dovecot was down, which the next one retries.
    for path in logs:
        text = path.read_text(encoding="utf-8", errors="replace")
        if report.backend == "imap":
            report.resyncs += text.count("UIDVALIDITY cambió")
            text, down = _without_server_down_cycles(text)
            report.server_down_cycles += down
        for marker in ("Traceback", "cycle failed", "database is locked", " ERROR "):
            if marker in text:
                problems.append(f"{path.name}: {marker!r} logged")


LOG_RECORD = re.compile(r"(?m)^(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )")


def _without_server_down_cycles(text: str) -> tuple[str, int]:
    """The log without the cycles that failed with ChannelUnavailable; how many there were."""
    kept: list[str] = []
    down = 0
    for record in LOG_RECORD.split(text):
        lines = record.strip().splitlines()
        if "cycle failed" in record and lines[-1].startswith("bot.errors.ChannelUnavailable:"):
            down += 1
        else:
            kept.append(record)
    return "".join(kept), down


# --- the command line ---------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the harness from the command line; exit 1 if an invariant failed."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.crash.harness", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--messages", type=int, default=500, help="inbox files (default 500)")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs (default 20)")
    parser.add_argument("--seed", type=int, default=None, help="corpus and timing seed")
    parser.add_argument("--workdir", type=Path, default=None, help="kept after the run")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--backend", choices=("maildir", "imap"), default="maildir", help="default maildir"
    )
    parser.add_argument(
        "--resets", type=int, default=None, help="UIDVALIDITY resets (IMAP only; default 2)"
    )
    parser.add_argument(
        "--restarts", type=int, default=None, help="Dovecot restarts (IMAP only; default 4)"
    )
    args = parser.parse_args(argv)
    if args.backend != "imap" and (args.resets is not None or args.restarts is not None):
        parser.error("--resets and --restarts need --backend imap")
    from tests.channels.servers import DOVECOT

    if args.backend == "imap" and not Path(DOVECOT).exists():
        print("dovecot is not installed (make system-deps)", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mesabot-crash-"))
    print(f"crash run in {workdir} (seed {seed}, {args.backend})", flush=True)
    report = run(
        workdir,
        args.messages,
        args.kills,
        seed,
        progress=print,
        backend=args.backend,
        resets=2 if args.resets is None else args.resets,
        restarts=4 if args.restarts is None else args.restarts,
    )
    if args.json:
        data = {k: v for k, v in vars(report).items() if k != "kill_phases"}
        data["kill_phases"] = dict(report.kill_phases)
        print(json.dumps(data, indent=2))
    print(report.summary())
    if report.ok and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
