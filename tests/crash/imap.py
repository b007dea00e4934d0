"""The crash run on the IMAP backend: a real Dovecot holds the inbox, aiosmtpd takes the sends.

The corpus is filed straight into Dovecot's Maildir, as a local delivery agent would.
Dovecot keeps \\Seen in the file name (":2,S"), so the harness follows the mailbox on disk
without asking the server, which may be down: unread in INBOX is waiting; read, in the
done folder or in the quarantine folder is processed, and the file's Message-ID says which
message it is (a move to another folder may rename the file). The final check asks the
server itself, over IMAP.

Everything the SMTP server accepts is also written, one file per message, to a folder that
the harness reads like the Maildir run's outbox.

On top of the kills, the server is disrupted while the daemon fetches: Dovecot restarted
(every connection dropped), or its index files deleted so that every folder comes back
with a new UIDVALIDITY and new UIDs. Seeds are split between both ways of acknowledging:
odd seeds move processed mail to a done folder, even seeds leave it read in INBOX (after a
UIDVALIDITY reset the daemon then re-syncs the whole folder by Message-ID).
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Literal

from imapclient import IMAPClient

from bot.channels.imap import QUARANTINE_FOLDER
from tests.channels.servers import PASSWORD, USER, Dovecot, SmtpServer, dovecot, free_port
from tests.crash.harness import LIFE_LIMIT, Item, Mailbox, Report, _names, _sql, _wait

DONE_FOLDER = "Procesados"
SENT_FOLDER = "Enviados"
IMAP_PASSWORD_ENV = "MESABOT_IMAP_PASSWORD"
SMTP_PASSWORD_ENV = "MESABOT_SMTP_PASSWORD"

CURSOR_QUERY = "SELECT value FROM cursors WHERE channel = 'mail:imap' AND key = 'uidvalidity'"

Disruption = Literal["restart", "reset"]
Accepted = tuple[str, list[str], bytes]


class Spool(list[Accepted]):
    """SmtpServer.received that also writes each accepted message to a folder of its own."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        for sub in ("tmp", "new"):
            (folder / sub).mkdir(parents=True, exist_ok=True)

    def append(self, accepted: Accepted, /) -> None:
        """Keep the message; write it to tmp/ and rename it into new/, never half-written."""
        name = f"{len(self):06d}.eml"
        tmp = self.folder / "tmp" / name
        tmp.write_bytes(accepted[2])
        tmp.replace(self.folder / "new" / name)
        super().append(accepted)


@contextmanager
def spooling_smtp(folder: Path, tls_cert: tuple[Path, Path]) -> Iterator[SmtpServer]:
    """aiosmtpd with STARTTLS and AUTH, filing what it accepts into folder/new."""
    server = SmtpServer(
        free_port(), received=Spool(folder), users={USER: PASSWORD}, tls_cert=tls_cert
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


class ImapMailbox(Mailbox):
    """Dovecot's Maildir seen from the harness: delivery into it, and the flags it keeps."""

    def __init__(
        self, server: Dovecot, outbox: Path, items: Sequence[Item], done_folder: str | None
    ) -> None:
        super().__init__(items, outbox)
        self.server = server
        self.done_folder = done_folder
        root = server.maildir
        for folder in (root, root / "tmp", root / "new", root / "cur"):
            folder.mkdir(parents=True, exist_ok=True)
            os.chown(folder, server.uid, server.gid)
        # INBOX first: a message moving out of it meanwhile is then found where it went.
        self._inbox = [root / "new", root / "cur"]
        done = [root / f".{f}" for f in (done_folder, QUARANTINE_FOLDER) if f]
        self._done = [folder / sub for folder in done for sub in ("new", "cur")]
        self._ids: dict[Path, str | None] = {}

    def _files(self) -> Iterator[tuple[Path, bool]]:
        """Each file of INBOX, the done folder and quarantine; True if it counts as processed."""
        for folder in self._inbox:
            for name in _names(folder):
                yield folder / name, "S" in name.partition(":2,")[2]
        for folder in self._done:
            for name in _names(folder):
                yield folder / name, True

    def _message_id(self, path: Path) -> str | None:
        """A file's Message-ID, read once (flags change the name after ":2,", not before)."""
        key = path.with_name(path.name.partition(":2,")[0])
        if key not in self._ids:
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                return None  # renamed meanwhile: the next look finds it
            header = BytesHeaderParser().parsebytes(raw).get("message-id", "")
            self._ids[key] = str(header).strip() or None
        return self._ids[key]

    def acknowledged(self) -> set[str]:
        """Message-IDs of which some copy is read, in the done folder or in quarantine."""
        ids = {self._message_id(path) for path, done in self._files() if done}
        return {i for i in ids if i}

    def processed(self) -> int:
        """Files read, in the done folder or in quarantine."""
        return sum(1 for _, done in self._files() if done)

    def waiting(self) -> int:
        """Unread files in INBOX."""
        return sum(1 for _, done in self._files() if not done)

    def _store(self, item: Item) -> None:
        """Write into tmp/ as the mail user, then rename into new/ under the item's name."""
        tmp = self.server.maildir / "tmp" / item.name
        tmp.write_bytes(item.raw)
        os.chown(tmp, self.server.uid, self.server.gid)
        tmp.replace(self.server.maildir / "new" / item.name)

    def check_mailbox(self, report: Report) -> None:
        """Over IMAP: nothing unread, every Message-ID read or done, only empty mail held."""
        problems = report.problems
        client = IMAPClient("127.0.0.1", port=self.server.port, ssl=False, timeout=30)
        try:
            client.login(USER, PASSWORD)
            unread = _message_ids(client, "INBOX", ["UNSEEN"])
            kept = _message_ids(client, "INBOX", ["SEEN"])
            if self.done_folder:
                kept += _message_ids(client, self.done_folder, ["ALL"])
            quarantined = _message_ids(client, QUARANTINE_FOLDER, ["ALL"])
        finally:
            client.logout()
        if unread:
            problems.append(f"{len(unread)} messages left unread in INBOX: {unread[:5]}")
        expected = Counter(i.message_id for i in self.delivered if i.kind != "blank")
        found = Counter(kept)
        missing, extra = expected - found, found - expected
        if missing:
            problems.append(f"{len(missing)} messages not read nor done: {list(missing)[:5]}")
        strangers = [i for i in extra if i not in expected]
        if strangers:
            problems.append(f"{len(strangers)} read or done messages nobody sent: {strangers[:5]}")
        blanks = sum(1 for i in self.delivered if i.kind == "blank")
        held = [i for i in quarantined if i]
        if held or len(quarantined) < blanks:
            problems.append(
                f"{QUARANTINE_FOLDER} holds {len(quarantined)} messages ({held[:5]} with a "
                f"Message-ID) for {blanks} empty ones"
            )
        # Dovecot moves a message by copying it, then expunging the original: a stop between
        # the two leaves it in both folders, and the next pass moves it once more (or, read,
        # in the first pass ever, which looks at unread mail only, leaves it in INBOX).
        report.stray_copies = sum(extra.values()) + max(0, len(quarantined) - blanks)
        stops = report.resets + report.restarts
        if report.stray_copies > stops:
            problems.append(
                f"{report.stray_copies} extra copies for {stops} server stops: {list(extra)[:5]}"
            )


def _message_ids(client: IMAPClient, folder: str, criteria: list[str]) -> list[str | None]:
    """The Message-ID of every message of a folder that meets the criteria."""
    if not client.folder_exists(folder):
        return []
    client.select_folder(folder, readonly=True)
    uids = client.search(criteria)
    if not uids:
        return []
    ids: list[str | None] = []
    for data in client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]).values():
        raw = next((bytes(v) for k, v in data.items() if k.startswith(b"BODY[")), b"")
        ids.append(str(BytesHeaderParser().parsebytes(raw).get("message-id", "")).strip() or None)
    return ids


class ImapRun:
    """Dovecot and the SMTP server for one crash run, and the server trouble planned for it."""

    def __init__(self, stack: ExitStack, workdir: Path, items: Sequence[Item], seed: int) -> None:
        self.server = stack.enter_context(dovecot())
        spool = workdir / "smtp"
        self.smtp = stack.enter_context(spooling_smtp(spool, (self.server.cert, self.server.key)))
        self.done_folder = DONE_FOLDER if seed % 2 else None
        self.mailbox = ImapMailbox(self.server, spool / "new", items, self.done_folder)
        self.db = workdir / "var" / "mesabot.db"
        self.rng = random.Random(seed * 104729 + 3)

    def configure(self, config: Path) -> None:
        """Switch the daemon's config.toml to backend = "imap" on these servers."""
        text = config.read_text(encoding="utf-8")
        text, n = re.subn(r'(?m)^backend = "maildir"$', 'backend = "imap"', text)
        if n != 1:
            raise RuntimeError('config.toml has no [mail] backend = "maildir" line')
        done = f'done_folder = "{self.done_folder}"\n' if self.done_folder else ""
        text += f"""
[mail.imap]
host = "127.0.0.1"
port = {self.server.port}
security = "starttls"
username = "{USER}"
password_env = "{IMAP_PASSWORD_ENV}"
folder = "INBOX"
{done}sent_folder = "{SENT_FOLDER}"

[mail.smtp]
host = "127.0.0.1"
port = {self.smtp.port}
security = "starttls"
username = "{USER}"
password_env = "{SMTP_PASSWORD_ENV}"
"""
        config.write_text(text, encoding="utf-8")

    def env(self) -> dict[str, str]:
        """The daemon's passwords, and the test certificate as its only trusted CA."""
        return {
            IMAP_PASSWORD_ENV: PASSWORD,
            SMTP_PASSWORD_ENV: PASSWORD,
            "SSL_CERT_FILE": str(self.server.cert),
        }

    def plan(self, kills: int, resets: int, restarts: int) -> dict[int, list[Disruption]]:
        """Which runs of the daemon see which trouble; never the last one unless it is the only."""
        reset: list[Disruption] = ["reset"]
        restart: list[Disruption] = ["restart"]
        plan: dict[int, list[Disruption]] = {}
        for action in reset * resets + restart * restarts:
            plan.setdefault(self.rng.randrange(max(kills, 1)), []).append(action)
        for life_actions in plan.values():
            self.rng.shuffle(life_actions)
        return plan

    def disrupt(self, proc: subprocess.Popen[bytes], action: Disruption, report: Report) -> str:
        """Wait until the daemon is part way through a fetch, then hit the server; what it hit."""
        mailbox = self.mailbox
        moment = "fetch"
        # Before the daemon has stored a UIDVALIDITY, a new one is nothing to notice.
        if action == "reset" and not _wait(proc, self._placed, LIFE_LIMIT, every=0.05):
            moment = "start-up (no UIDVALIDITY stored yet)"
        elif not _wait(proc, lambda: mailbox.waiting() > 0, 2.0):
            moment = "idle (nothing to fetch)"
        else:
            target = mailbox.processed() + self.rng.randint(1, max(1, mailbox.waiting()))
            if not _wait(proc, lambda: mailbox.processed() >= target, LIFE_LIMIT):
                moment = "fetch (timed out)"
            time.sleep(self.rng.uniform(0.0, 0.012))
        if action == "restart":
            self.server.restart()
            report.restarts += 1
            return f"Dovecot restarted during {moment}"
        self.server.reset_uidvalidity()
        report.resets += 1
        return f"UIDVALIDITY reset during {moment}"

    def _placed(self) -> bool:
        """Whether the daemon has stored its place in the folder (a pass was done)."""
        if not self.db.exists():
            return False
        try:
            return bool(_sql(self.db, CURSOR_QUERY))
        except sqlite3.OperationalError:
            return False  # no database or no schema yet
