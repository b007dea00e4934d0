"""The Graph backend under the channel contract: a fake of Microsoft's servers, real msal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bot.channels.graph import QUARANTINE_FOLDER as QUARANTINE
from bot.channels.graph import GraphChannel, MsalHttp, MsalTokenProvider
from bot.channels.state import CursorStore
from storage.db import Database
from tests.channels.fake_graph import FakeGraph
from tests.channels.harness import MB, migrated_db

DONE_FOLDER = "Atendidos"


class GraphHarness:
    """A fake tenant and mailbox; each channel gets its tokens from it through msal."""

    name = "graph"
    dedupes_sends = True
    has_credentials = True

    def __init__(self, db: Database, fake: FakeGraph | None = None) -> None:
        self.db = db
        self.fake = fake or FakeGraph()
        self.sleeps: list[float] = []
        # What the channels' transport calls; a test may wrap the fake to alter answers.
        self.handler: Callable[[httpx.Request], httpx.Response] = self.fake

    def deliver(self, raw: bytes) -> None:
        """Exchange accepts a message from the internet into the inbox."""
        self.fake.deliver(raw)

    def channel(
        self,
        *,
        max_message_bytes: int = 35 * MB,
        password: str | None = None,
        done_folder: str | None = DONE_FOLDER,
        mailbox: str | None = None,
    ) -> GraphChannel:
        """A new channel, wired as build_graph_channel wires it, on the fake's transport."""
        client = httpx.Client(transport=httpx.MockTransport(self.handler))
        token = MsalTokenProvider(
            self.fake.tenant,
            self.fake.client_id,
            password if password is not None else self.fake.secret,
            http_client=MsalHttp(client),
        )
        return GraphChannel(
            client,
            token,
            mailbox or self.fake.mailbox,
            CursorStore(self.db, "mail:graph"),
            done_folder=done_folder,
            max_message_bytes=max_message_bytes,
            sleep=self.sleeps.append,
            now=lambda: self.fake.clock,  # the bot's clock agrees with the server's
            owns_client=True,
        )

    def sent(self) -> list[bytes]:
        """The MIME of every sendMail the server accepted."""
        return list(self.fake.sent)

    def waiting(self) -> int:
        """Unread messages still in the inbox."""
        return sum(not m.is_read for m in self.fake.in_folder("inbox"))

    def quarantined(self) -> int:
        """Messages in the quarantine folder."""
        folder = self.fake.folder_named(QUARANTINE)
        return len(self.fake.in_folder(folder.id)) if folder else 0

    def stored(self) -> int:
        """Inbound messages anywhere in the mailbox (Sent Items holds the bot's own)."""
        sent = self.fake.in_folder("sentitems")
        return len(self.fake.messages) - len(sent)

    @contextmanager
    def down(self) -> Iterator[None]:
        """Neither Graph nor Entra ID can be reached."""
        self.fake.down = True
        try:
            yield
        finally:
            self.fake.down = False

    def refuse(self, address: str) -> None:
        """Exchange refuses this recipient (ErrorInvalidRecipients)."""
        self.fake.refused.add(address.lower())


@contextmanager
def graph_harness(tmp_path: Path) -> Iterator[GraphHarness]:
    """The harness on a fresh fake tenant and a fresh migrated SQLite database."""
    db = migrated_db(tmp_path)
    try:
        yield GraphHarness(db)
    finally:
        db.dispose()
