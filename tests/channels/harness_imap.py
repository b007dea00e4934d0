"""The IMAP + SMTP backend under the channel contract: a real Dovecot and aiosmtpd."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from imapclient import IMAPClient

from bot.channels.imap import QUARANTINE_FOLDER, ImapChannel
from bot.channels.state import CursorStore
from bot.config import ImapSettings, SmtpSettings
from storage.db import Database
from tests.channels.harness import BOT, MB, migrated_db
from tests.channels.servers import PASSWORD, USER, Dovecot, SmtpServer, dovecot, smtp_server

SENT = "Enviados"


class ImapHarness:
    """Dovecot holds the mailbox (STARTTLS with a test CA), aiosmtpd takes what is sent."""

    name = "imap"
    dedupes_sends = True  # through the sent folder
    has_credentials = True

    def __init__(self, imap: Dovecot, smtp: SmtpServer, db: Database, stack: ExitStack) -> None:
        self.imap = imap
        self.smtp = smtp
        self.db = db
        self._stack = stack
        self._channels: list[ImapChannel] = []

    def settings(self) -> tuple[ImapSettings, SmtpSettings]:
        """The [mail.imap] and [mail.smtp] sections for these servers."""
        imap = ImapSettings(
            host="127.0.0.1",
            port=self.imap.port,
            security="starttls",
            username=USER,
            password_env="MESABOT_IMAP_PASSWORD",
            sent_folder=SENT,
        )
        smtp = SmtpSettings(
            host="127.0.0.1",
            port=self.smtp.port,
            security="starttls",
            username=USER,
            password_env="MESABOT_SMTP_PASSWORD",
        )
        return imap, smtp

    def context(self) -> ssl.SSLContext:
        """Trusts the test server's self-signed certificate."""
        return ssl.create_default_context(cafile=str(self.imap.cert))

    def deliver(self, raw: bytes) -> None:
        """File into the Maildir Dovecot serves."""
        self.imap.deliver(raw)

    def channel(
        self,
        *,
        max_message_bytes: int = 35 * MB,
        password: str | None = None,
        imap: ImapSettings | None = None,
        smtp: SmtpSettings | None = None,
        ssl_context: Callable[[], ssl.SSLContext] | None = None,
    ) -> ImapChannel:
        """A new channel (new connections) on the same servers and database."""
        default_imap, default_smtp = self.settings()
        channel = ImapChannel(
            imap or default_imap,
            smtp or default_smtp,
            address=BOT,
            imap_password=password or PASSWORD,
            smtp_password=password or PASSWORD,
            cursors=CursorStore(self.db, "mail:imap"),
            max_message_bytes=max_message_bytes,
            timeout=5,
            ssl_context=ssl_context or self.context,
        )
        self._channels.append(channel)
        return channel

    def _look(self) -> IMAPClient:
        """A connection of the test's own, to see the mailbox as a mail client would."""
        client = IMAPClient("127.0.0.1", port=self.imap.port, ssl=False, timeout=5)
        client.login(USER, PASSWORD)
        return client

    def _count(self, folder: str, criteria: list[str]) -> int:
        client = self._look()
        try:
            if not client.folder_exists(folder):
                return 0
            client.select_folder(folder, readonly=True)
            return len(client.search(criteria))
        finally:
            client.logout()

    def sent(self) -> list[bytes]:
        """What the SMTP server accepted."""
        return self.smtp.messages()

    def waiting(self) -> int:
        """Unread mail in INBOX."""
        return self._count("INBOX", ["UNSEEN", "NOT", "DELETED"])

    def quarantined(self) -> int:
        """Mail in the quarantine folder."""
        return self._count(QUARANTINE_FOLDER, ["ALL"])

    def stored(self) -> int:
        """Inbound mail in INBOX and the quarantine folder."""
        return self._count("INBOX", ["ALL"]) + self.quarantined()

    @contextmanager
    def down(self) -> Iterator[None]:
        """Both servers stopped; started again on the same ports afterwards."""
        self.imap.stop()
        self.smtp.stop()
        try:
            yield
        finally:
            self.imap.start()
            self.smtp.start()

    def refuse(self, address: str) -> None:
        """The SMTP server answers 550 for this recipient."""
        self.smtp.refused.add(address.lower())

    def close(self) -> None:
        """Close the channels the test opened."""
        for channel in self._channels:
            channel.close()


@contextmanager
def imap_harness(tmp_path: Path) -> Iterator[ImapHarness]:
    """Dovecot + aiosmtpd + a migrated SQLite database for the cursors."""
    with ExitStack() as stack:
        imap = stack.enter_context(dovecot())
        smtp = stack.enter_context(
            smtp_server(users={USER: PASSWORD}, tls_cert=(imap.cert, imap.key))
        )
        db = migrated_db(tmp_path)
        stack.callback(db.dispose)
        harness = ImapHarness(imap, smtp, db, stack)
        stack.callback(harness.close)
        yield harness
