"""IMAP in, SMTP out: any standard mail server (cPanel hosting, Dovecot, Exchange's IMAP).

Inbound keeps its place by UID under the folder's UIDVALIDITY, stored (cursors table) only
when a pass is done. The first pass ever takes unread mail only, so that switching an old
mailbox to the bot does not open a case for every message it ever received; after that,
every message above the stored UID is new, read or not. Before downloading, the
Message-IDs of the candidates are looked up in the database: mail already ingested (a
crash between commit and acknowledgement, or a UIDVALIDITY change, which re-syncs the
folder back to the last complete pass) is only acknowledged, never ingested twice. Mail
over the size limit is announced unread. Acknowledged mail is flagged \\Seen and, with
`done_folder`, moved there; quarantined mail is moved to a "Cuarentena" folder. Nothing is
ever deleted or expunged.

Outbound goes through SMTP (4xx and connection trouble are temporary, 5xx permanent), and
with `sent_folder` a copy is appended there, which also lets a retry after a crash find a
message that already went out.
"""

from __future__ import annotations

import imaplib
import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from bot.channels.base import Check, InboundMessage
from bot.channels.state import CursorStore
from bot.config import ImapSettings, SmtpSettings
from bot.errors import ChannelAuthFailed, ChannelUnavailable, MessageRejected

log = logging.getLogger(__name__)

QUARANTINE_FOLDER = "Cuarentena"
SEEN = b"\\Seen"
# Messages per FETCH of bodies: few round trips, bounded memory.
FETCH_CHUNK = 25
# How far before the last complete pass a UIDVALIDITY re-sync looks (SINCE is by date).
RESYNC_MARGIN = timedelta(days=1)
# An SMTP connection idle longer than this is checked with NOOP before reuse.
SMTP_IDLE_CHECK_S = 30.0


class ImapChannel:
    """The IMAP + SMTP mail backend."""

    def __init__(
        self,
        imap: ImapSettings,
        smtp: SmtpSettings,
        *,
        address: str,
        imap_password: str,
        smtp_password: str | None,
        cursors: CursorStore,
        max_message_bytes: int,
        timeout: float = 30.0,
        ssl_context: Callable[[], ssl.SSLContext] = ssl.create_default_context,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.imap = imap
        self.smtp = smtp
        self.address = address
        self._imap_password = imap_password
        self._smtp_password = smtp_password
        self.cursors = cursors
        self.max_message_bytes = max_message_bytes
        self.timeout = timeout
        self._ssl_context = ssl_context
        self._now = now  # the server's dates are wall-clock dates
        self._client: IMAPClient | None = None
        self._sent_client: IMAPClient | None = None
        self._idle_client: IMAPClient | None = None  # used by watch(), from its own thread
        self._smtp_conn: smtplib.SMTP | None = None
        self._smtp_used = 0.0
        # The pass in progress: its UIDVALIDITY, the UIDs handed out, those answered.
        self._validity: int | None = None
        self._started = now()
        self._top = 0
        self._fetched: list[int] = []
        self._answered: set[int] = set()

    # -- connections ---------------------------------------------------------------------

    def _connect(self, what: str) -> IMAPClient:
        """A logged-in IMAP connection."""
        with _imap_errors(f"IMAP {self.imap.host}:{self.imap.port} ({what})"):
            client = IMAPClient(
                self.imap.host,
                port=self.imap.port,
                ssl=self.imap.security == "tls",
                ssl_context=self._ssl_context() if self.imap.security == "tls" else None,
                timeout=self.timeout,
            )
            try:
                if self.imap.security == "starttls":
                    client.starttls(self._ssl_context())
                client.login(self.imap.username, self._imap_password)
            except BaseException:
                with suppress(Exception):
                    client.shutdown()
                raise
        return client

    def _inbox(self) -> IMAPClient:
        """The connection that reads the folder (opened on first use, reopened if lost)."""
        if self._client is None:
            self._client = self._connect("lectura")
        return self._client

    def _drop(self) -> None:
        """Forget every connection (after an error, or on close)."""
        for client in (self._client, self._sent_client):
            if client is not None:
                with suppress(Exception):
                    client.logout()
        self._client = self._sent_client = None

    # -- inbound -------------------------------------------------------------------------

    def fetch(self) -> Iterator[InboundMessage]:
        """New messages of the folder, by UID; known ones are acknowledged, not yielded."""
        try:
            with _imap_errors(f"IMAP {self.imap.host}"):
                yield from self._fetch()
        except ChannelUnavailable:
            self._drop()
            raise

    def _fetch(self) -> Iterator[InboundMessage]:
        """fetch() without the error translation."""
        client = self._inbox()
        info = client.select_folder(self.imap.folder)
        validity = int(info[b"UIDVALIDITY"])
        uidnext = int(info.get(b"UIDNEXT", 0))
        stored = self.cursors.get("uidvalidity")
        last = int(self.cursors.get("uid") or 0) if stored == str(validity) else 0
        if stored is not None and stored != str(validity):
            log.warning(
                "IMAP %s: UIDVALIDITY cambió (%s -> %s); se resincroniza por Message-ID",
                self.imap.folder,
                stored,
                validity,
            )
        self._validity = validity
        self._started = self._now()
        self._fetched, self._answered = [], set()
        since = self.cursors.get("since")
        if stored is None:
            criteria: list[Any] = ["UNSEEN"]  # the first pass ever: unread mail only
        elif stored != str(validity) and since:
            # A re-sync looks back to the last complete pass (a day's margin for time
            # zones), not at mail from before the bot that the first pass left alone.
            criteria = ["SINCE", date.fromisoformat(since) - RESYNC_MARGIN]
        else:
            criteria = ["UID", f"{last + 1}:*"]
        uids = sorted(u for u in client.search([*criteria, "NOT", "DELETED"]) if u > last)
        self._top = max([uidnext - 1, last, *uids])
        for start in range(0, len(uids), FETCH_CHUNK):
            chunk = uids[start : start + FETCH_CHUNK]
            meta = client.fetch(chunk, ["RFC822.SIZE", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
            ids = {uid: _message_id(data) for uid, data in meta.items()}
            known = self.cursors.known_message_ids([i for i in ids.values() if i])
            wanted: list[int] = []
            for uid in chunk:
                if uid not in meta:
                    continue  # expunged by someone else meanwhile
                if ids.get(uid) in known:
                    # Ingested before (its commit happened, its acknowledgement did not).
                    self._mark_done(client, uid)
                    continue
                wanted.append(uid)
            big = {
                u for u in wanted if int(meta[u].get(b"RFC822.SIZE", 0)) > self.max_message_bytes
            }
            bodies = client.fetch(
                [u for u in wanted if u not in big], ["BODY.PEEK[]", "INTERNALDATE"]
            )
            for uid in wanted:
                key = f"{validity}:{uid}"
                self._fetched.append(uid)
                if uid in big:
                    size = int(meta[uid][b"RFC822.SIZE"])
                    yield InboundMessage(channel="mail", key=key, raw=b"", size=size)
                    continue
                data = bodies.get(uid)
                if data is None:
                    continue
                yield InboundMessage(
                    channel="mail",
                    key=key,
                    raw=bytes(data[b"BODY[]"]),
                    received_at=_aware(data.get(b"INTERNALDATE")),
                )

    def _uid(self, key: str) -> int | None:
        """The UID of a key from this pass; None for a key of another UIDVALIDITY."""
        validity, _, uid = key.partition(":")
        if not uid.isdigit() or validity != str(self._validity):
            return None
        return int(uid)

    def _mark_done(self, client: IMAPClient, uid: int) -> None:
        """Flag \\Seen and, with a done folder, move it there."""
        client.add_flags([uid], [SEEN])
        if self.imap.done_folder:
            self._move(client, uid, self.imap.done_folder)
        self._answered.add(uid)

    def _move(self, client: IMAPClient, uid: int, folder: str) -> None:
        """MOVE where the server has it; otherwise COPY, leaving the original in place."""
        if not client.folder_exists(folder):
            client.create_folder(folder)
        if client.has_capability("MOVE"):
            client.move([uid], folder)
        else:
            # Without MOVE a move is COPY + \Deleted + EXPUNGE; the bot never deletes.
            client.copy([uid], folder)

    def ack(self, key: str) -> None:
        """Flag the message \\Seen (and move it to the done folder when configured)."""
        uid = self._uid(key)
        if uid is None:
            return  # from before a UIDVALIDITY change: the re-sync will find it by Message-ID
        try:
            with _imap_errors(f"IMAP {self.imap.host} (marcar)"):
                self._mark_done(self._inbox(), uid)
        except ChannelUnavailable:
            self._drop()
            raise

    def quarantine(self, key: str) -> None:
        """Move the message to the quarantine folder, untouched."""
        uid = self._uid(key)
        if uid is None:
            return
        try:
            with _imap_errors(f"IMAP {self.imap.host} (cuarentena)"):
                self._move(self._inbox(), uid, QUARANTINE_FOLDER)
        except ChannelUnavailable:
            self._drop()
            raise
        self._answered.add(uid)

    def done(self) -> None:
        """Store UIDVALIDITY and the highest UID of the pass, if every message was answered."""
        if self._validity is None or any(u not in self._answered for u in self._fetched):
            return
        # One transaction: a new UIDVALIDITY beside the old folder's UID would skip new mail.
        self.cursors.put_many(
            {
                "uidvalidity": str(self._validity),
                "uid": str(self._top),
                "since": self._started.date().isoformat(),
            }
        )

    def watch(self, timeout: float) -> bool:
        """Wait up to `timeout` s for new mail with IDLE; True if some arrived.

        Runs in a thread of its own beside the cycle, so it has a connection of its own.
        """
        try:
            with _imap_errors(f"IMAP {self.imap.host} (IDLE)"):
                if self._idle_client is None:
                    self._idle_client = self._connect("espera")
                client = self._idle_client
                client.select_folder(self.imap.folder, readonly=True)
                if not client.has_capability("IDLE"):
                    time.sleep(timeout)  # polling: the cycle's own interval does the work
                    return False
                client.idle()
                try:
                    responses = client.idle_check(timeout=timeout)
                finally:
                    client.idle_done()
        except ChannelUnavailable:
            idle, self._idle_client = self._idle_client, None
            if idle is not None:
                with suppress(Exception):
                    idle.shutdown()
            raise
        return any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)

    # -- outbound ------------------------------------------------------------------------

    def send(self, raw: bytes, key: str) -> None:
        """Send through SMTP; with a sent folder, skip what is already there and keep a copy."""
        if self.imap.sent_folder and self._already_sent(key):
            log.info("SMTP: %s ya estaba en %s; no se envía de nuevo", key, self.imap.sent_folder)
            return
        headers = BytesHeaderParser().parsebytes(raw)
        recipients = [
            a
            for _, a in getaddresses(
                [str(v) for h in ("to", "cc", "bcc") for v in headers.get_all(h, [])]
            )
            if "@" in a
        ]
        if not recipients:
            raise MessageRejected("el mensaje no tiene destinatarios")
        self._deliver(raw, recipients)
        if self.imap.sent_folder:
            self._append_sent(raw)

    def _deliver(self, raw: bytes, recipients: list[str]) -> None:
        """One SMTP transaction, on a kept connection (reopened once if the server dropped it)."""
        for attempt in (1, 2):
            conn = self._smtp_connection()
            try:
                refused = conn.sendmail(self.address, recipients, raw)
            except smtplib.SMTPServerDisconnected as exc:
                self._smtp_conn = None
                if attempt == 2:
                    raise ChannelUnavailable(f"SMTP {self.smtp.host}: {exc}") from exc
                continue
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _ in exc.recipients.values()]
                detail = "; ".join(
                    f"{a}: {c} {m.decode(errors='replace')}" for a, (c, m) in exc.recipients.items()
                )
                if any(400 <= c < 500 for c in codes):
                    raise ChannelUnavailable(f"SMTP: {detail}") from exc
                raise MessageRejected(f"SMTP: {detail}") from exc
            except smtplib.SMTPResponseException as exc:
                self._smtp_conn = None if exc.smtp_code >= 500 else self._smtp_conn
                text = f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}"
                if isinstance(exc, smtplib.SMTPAuthenticationError):
                    raise ChannelAuthFailed(text) from exc
                if 400 <= exc.smtp_code < 500:
                    raise ChannelUnavailable(text) from exc
                raise MessageRejected(text) from exc
            except (OSError, smtplib.SMTPException) as exc:
                self._smtp_conn = None
                raise ChannelUnavailable(f"SMTP {self.smtp.host}: {exc}") from exc
            self._smtp_used = time.monotonic()
            if refused:
                # Delivered to the others; the refused ones bounce like any DSN would.
                log.warning("SMTP: destinatarios rechazados %s", refused)
            return

    def _smtp_connection(self) -> smtplib.SMTP:
        """A connected, authenticated SMTP session (kept between messages)."""
        conn = self._smtp_conn
        if conn is not None and time.monotonic() - self._smtp_used > SMTP_IDLE_CHECK_S:
            try:
                if conn.noop()[0] != 250:
                    raise smtplib.SMTPServerDisconnected("NOOP")
            except (OSError, smtplib.SMTPException):
                conn = self._smtp_conn = None
        if conn is not None:
            return conn
        try:
            conn = self._smtp_open()
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelAuthFailed(f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise ChannelUnavailable(f"SMTP {self.smtp.host}: {exc}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelUnavailable(f"SMTP {self.smtp.host}:{self.smtp.port}: {exc}") from exc
        self._smtp_conn = conn
        self._smtp_used = time.monotonic()
        return conn

    def _smtp_open(self) -> smtplib.SMTP:
        """Connect, secure and log in as configured."""
        conn: smtplib.SMTP
        if self.smtp.security == "tls":
            conn = smtplib.SMTP_SSL(
                self.smtp.host, self.smtp.port, timeout=self.timeout, context=self._ssl_context()
            )
        else:
            conn = smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.timeout)
        try:
            conn.ehlo()
            if self.smtp.security == "starttls":
                conn.starttls(context=self._ssl_context())
                conn.ehlo()
            if self.smtp.username:
                conn.login(self.smtp.username, self._smtp_password or "")
        except BaseException:
            with suppress(Exception):
                conn.close()
            raise
        return conn

    def _sent_folder_client(self) -> IMAPClient:
        """The connection for the sent folder (apart from the one reading the inbox)."""
        if self._sent_client is None:
            self._sent_client = self._connect("enviados")
        return self._sent_client

    def _already_sent(self, key: str) -> bool:
        """Whether a message with this Message-ID is already in the sent folder."""
        folder = self.imap.sent_folder
        assert folder is not None
        try:
            with _imap_errors(f"IMAP {self.imap.host} (enviados)"):
                client = self._sent_folder_client()
                if not client.folder_exists(folder):
                    return False
                client.select_folder(folder, readonly=True)
                return bool(client.search(["HEADER", "Message-ID", key]))
        except ChannelUnavailable:
            self._drop()
            raise

    def _append_sent(self, raw: bytes) -> None:
        """Keep a copy in the sent folder; the mail already went out, so failures only log."""
        folder = self.imap.sent_folder
        assert folder is not None
        try:
            with _imap_errors(f"IMAP {self.imap.host} (copia en enviados)"):
                client = self._sent_folder_client()
                if not client.folder_exists(folder):
                    client.create_folder(folder)
                client.append(folder, raw, flags=[SEEN], msg_time=datetime.now(UTC))
        except ChannelUnavailable as exc:
            self._drop()
            log.warning("no se guardó la copia en %s: %s", folder, exc)

    # -- set-up, diagnosis ---------------------------------------------------------------

    def ensure(self) -> None:
        """Nothing local to prepare: folders are checked by `check`."""

    def check(self) -> list[Check]:
        """Log in to IMAP and SMTP, look at every folder the backend uses."""
        checks: list[Check] = []
        where = f"{self.imap.host}:{self.imap.port} ({self.imap.security})"
        try:
            client = self._connect("diagnóstico")
        except ChannelAuthFailed as exc:
            checks.append(
                Check(
                    "IMAP: inicio de sesión",
                    False,
                    f"{where}: {exc}",
                    f"Revise el usuario «{self.imap.username}» y la contraseña en la variable "
                    f"{self.imap.password_env}.",
                )
            )
        except ChannelUnavailable as exc:
            checks.append(
                Check(
                    "IMAP: conexión",
                    False,
                    f"{where}: {exc}",
                    "Revise host, puerto y security en [mail.imap], y que el servidor acepte "
                    "conexiones desde este equipo.",
                )
            )
        else:
            checks.append(
                Check("IMAP: inicio de sesión", True, f"{where} como {self.imap.username}")
            )
            checks.extend(self._check_folders(client))
            with suppress(Exception):
                client.logout()
        checks.append(self._check_smtp())
        return checks

    def _check_folders(self, client: IMAPClient) -> list[Check]:
        """The inbox must exist; the other folders exist or can be created."""
        checks: list[Check] = []
        try:
            info = client.select_folder(self.imap.folder, readonly=True)
            count = int(info.get(b"EXISTS", 0))
            checks.append(Check(f"IMAP: carpeta {self.imap.folder}", True, f"{count} mensajes"))
        except IMAPClientError as exc:
            checks.append(
                Check(
                    f"IMAP: carpeta {self.imap.folder}",
                    False,
                    _text(exc),
                    "Ponga en [mail.imap] folder el nombre exacto de la bandeja de entrada.",
                )
            )
        for folder in (self.imap.done_folder, QUARANTINE_FOLDER, self.imap.sent_folder):
            if not folder:
                continue
            try:
                exists = client.folder_exists(folder)
                detail = "existe" if exists else "no existe; se creará al usarla"
                checks.append(Check(f"IMAP: carpeta {folder}", True, detail))
            except IMAPClientError as exc:
                checks.append(
                    Check(
                        f"IMAP: carpeta {folder}",
                        False,
                        _text(exc),
                        "Cree la carpeta en el buzón o dé permiso al usuario para crearla.",
                    )
                )
        return checks

    def _check_smtp(self) -> Check:
        """Connect, secure and log in to SMTP (nothing is sent)."""
        where = f"{self.smtp.host}:{self.smtp.port} ({self.smtp.security})"
        try:
            conn = self._smtp_open()
        except smtplib.SMTPAuthenticationError as exc:
            return Check(
                "SMTP: inicio de sesión",
                False,
                f"{where}: {exc.smtp_code} {_text(exc.smtp_error)}",
                f"Revise el usuario y la contraseña en la variable {self.smtp.password_env}.",
            )
        except (OSError, smtplib.SMTPException) as exc:
            return Check(
                "SMTP: conexión",
                False,
                f"{where}: {exc}",
                "Revise host, puerto y security en [mail.smtp] (587 con starttls, 465 con tls).",
            )
        with suppress(Exception):
            conn.quit()
        return Check("SMTP: conexión", True, where)

    def close(self) -> None:
        """Log out of IMAP and quit SMTP."""
        self._drop()
        if self._idle_client is not None:
            with suppress(Exception):
                self._idle_client.logout()
            self._idle_client = None
        if self._smtp_conn is not None:
            with suppress(Exception):
                self._smtp_conn.quit()
            self._smtp_conn = None


@contextmanager
def _imap_errors(where: str) -> Iterator[None]:
    """Translate IMAP and network errors into the seam's vocabulary."""
    try:
        yield
    except LoginError as exc:
        raise ChannelAuthFailed(f"{where}: {_text(exc)}") from exc
    except (IMAPClientAbortError, imaplib.IMAP4.abort, OSError, ssl.SSLError) as exc:
        raise ChannelUnavailable(f"{where}: {exc}") from exc
    except (IMAPClientError, imaplib.IMAP4.error) as exc:
        raise ChannelUnavailable(f"{where}: {_text(exc)}") from exc


def _message_id(data: dict[bytes, Any]) -> str | None:
    """The Message-ID out of a HEADER.FIELDS fetch, normalised like the pipeline's."""
    for name, value in data.items():
        if name.startswith(b"BODY[HEADER.FIELDS") and value:
            header = BytesHeaderParser().parsebytes(bytes(value))
            raw = (header.get("message-id") or "").strip()
            if raw:
                return raw if raw.startswith("<") else f"<{raw}>"
    return None


def _aware(value: object) -> datetime | None:
    """INTERNALDATE as an aware datetime (imapclient gives naive local time)."""
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.astimezone()


def _text(value: object) -> str:
    """Server text (bytes or str) for a log line or an error."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
