"""The embedded mail backend: a local Maildir (inbox, outbox, quarantine)."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from bot.channels.base import Check, InboundMessage
from bot.errors import ChannelUnavailable

FOLDERS = ("inbox", "outbox", "quarantine")


class MaildirChannel:
    """Reads <root>/inbox, writes what the bot sends to <root>/outbox/new."""

    def __init__(self, root: Path, max_message_bytes: int | None = None) -> None:
        self.root = root
        self.max_message_bytes = max_message_bytes
        self._host = socket.gethostname().replace("/", "_").replace(":", "_") or "mesabot"

    def ensure(self) -> None:
        """Create the folders (each a standard Maildir with tmp/new/cur)."""
        for folder in FOLDERS:
            for sub in ("tmp", "new", "cur"):
                (self.root / folder / sub).mkdir(parents=True, exist_ok=True)

    def fetch(self) -> Iterator[InboundMessage]:
        """Messages in inbox/new, in delivery order (modification time, then name)."""
        new = self.root / "inbox" / "new"
        try:
            if not new.is_dir():
                if self.root.exists() and not self.root.is_dir():
                    raise NotADirectoryError(f"{self.root} no es una carpeta")
                return
            entries = []
            for path in new.iterdir():
                if path.is_file() and not path.name.startswith("."):
                    info = path.stat()
                    entries.append((info.st_mtime_ns, path.name, path, info.st_size))
        except OSError as exc:
            raise ChannelUnavailable(f"Maildir {self.root}: {exc}") from exc
        for _, name, path, size in sorted(entries):
            if self.max_message_bytes is not None and size > self.max_message_bytes:
                # Not read into memory: the pipeline sets it aside with one notice.
                yield InboundMessage(channel="mail", key=name, raw=b"", size=size)
                continue
            try:
                raw = path.read_bytes()
            except FileNotFoundError:  # taken by another reader meanwhile
                continue
            except OSError as exc:
                raise ChannelUnavailable(f"Maildir {path}: {exc}") from exc
            yield InboundMessage(channel="mail", key=name, raw=raw)

    def ack(self, key: str) -> None:
        """Move inbox/new/<key> to inbox/cur/<key>:2,S (seen), as mail clients do."""
        source = self.root / "inbox" / "new" / key
        if source.exists():
            source.replace(self.root / "inbox" / "cur" / f"{key.split(':', 1)[0]}:2,S")

    def quarantine(self, key: str) -> None:
        """Move inbox/new/<key> to quarantine/new/<key>, untouched."""
        source = self.root / "inbox" / "new" / key
        if source.exists():
            target = self.root / "quarantine" / "new" / key
            target.parent.mkdir(parents=True, exist_ok=True)
            source.replace(target)

    def done(self) -> None:
        """Nothing to remember: the files' places are the state."""

    def close(self) -> None:
        """Nothing to release."""

    def check(self) -> list[Check]:
        """Each folder exists (or can be made) and can be written."""
        checks: list[Check] = []
        for folder in FOLDERS:
            path = self.root / folder
            try:
                for sub in ("tmp", "new", "cur"):
                    (path / sub).mkdir(parents=True, exist_ok=True)
                probe = path / "tmp" / f".doctor.{os.getpid()}"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as exc:
                checks.append(
                    Check(
                        f"Maildir {folder}",
                        False,
                        f"{path}: {exc.strerror or exc}",
                        f"Cree la carpeta y dé permiso de escritura al usuario del bot: {path}",
                    )
                )
            else:
                checks.append(Check(f"Maildir {folder}", True, str(path)))
        return checks

    def _name(self, key: str) -> str:
        """A stable unique file name for an outbound message key."""
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return f"mesabot.{digest}.{self._host}"

    def sent(self, key: str) -> bool:
        """True if the message with this key is already in the outbox."""
        name = self._name(key)
        out = self.root / "outbox"
        return (out / "new" / name).exists() or any((out / "cur").glob(f"{name}:*"))

    def send(self, raw: bytes, key: str) -> Path:
        """Deliver to outbox/new atomically; the same key is never written twice."""
        name = self._name(key)
        target = self.root / "outbox" / "new" / name
        try:
            self.ensure()
            if self.sent(key):
                return target
            tmp = self.root / "outbox" / "tmp" / name
            with tmp.open("wb") as fh:
                fh.write(raw)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(target)
        except OSError as exc:  # a full or missing disk gets better: retry later
            raise ChannelUnavailable(f"Maildir {self.root}: {exc}") from exc
        return target
