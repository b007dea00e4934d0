"""The Maildir backend under the channel contract: a local folder, nothing to fake."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.channels.maildir import MaildirChannel
from tests.channels.harness import MB


class MaildirHarness:
    """A Maildir in the test's folder; the "server" is the folder itself."""

    name = "maildir"
    dedupes_sends = True
    has_credentials = False

    def __init__(self, root: Path) -> None:
        self.root = root
        self._count = 0
        MaildirChannel(root).ensure()

    def deliver(self, raw: bytes) -> None:
        """Write to inbox/tmp, then rename into inbox/new, as an MTA does."""
        self._count += 1
        name = f"1700000000.M{self._count:06d}P1.test"
        tmp = self.root / "inbox" / "tmp" / name
        tmp.write_bytes(raw)
        tmp.replace(self.root / "inbox" / "new" / name)

    def channel(
        self, *, max_message_bytes: int = 35 * MB, password: str | None = None
    ) -> MaildirChannel:
        """A new channel on the same folder."""
        return MaildirChannel(self.root, max_message_bytes=max_message_bytes)

    def _files(self, *parts: str) -> list[Path]:
        folder = self.root.joinpath(*parts)
        return (
            sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns) if folder.is_dir() else []
        )

    def sent(self) -> list[bytes]:
        """What the bot wrote to outbox/new."""
        return [p.read_bytes() for p in self._files("outbox", "new")]

    def waiting(self) -> int:
        """Files still in inbox/new."""
        return len(self._files("inbox", "new"))

    def quarantined(self) -> int:
        """Files in quarantine/new."""
        return len(self._files("quarantine", "new"))

    def stored(self) -> int:
        """Inbound files anywhere: new, cur, quarantine."""
        return sum(
            len(self._files(*p))
            for p in (("inbox", "new"), ("inbox", "cur"), ("quarantine", "new"))
        )

    @contextmanager
    def down(self) -> Iterator[None]:
        """The folder's disk is gone: a plain file stands where the Maildir was."""
        aside = self.root.with_name(self.root.name + ".aside")
        self.root.rename(aside)
        self.root.write_bytes(b"")
        try:
            yield
        finally:
            self.root.unlink()
            aside.rename(self.root)

    def refuse(self, address: str) -> None:
        """A folder refuses nobody."""
        raise NotImplementedError


@contextmanager
def maildir_harness(tmp_path: Path) -> Iterator[MaildirHarness]:
    """The harness on a fresh folder."""
    root = tmp_path / "mail"
    yield MaildirHarness(root)
    shutil.rmtree(root, ignore_errors=True)
