"""The embedded mail backend: a local Maildir (inbox, outbox, quarantine)."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

FOLDERS = ("inbox", "outbox", "quarantine")


class MaildirChannel:
    """Reads <root>/inbox, writes what the bot sends to <root>/outbox/new."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._host = socket.gethostname().replace("/", "_").replace(":", "_") or "mesabot"

    def ensure(self) -> None:
        """Create the folders (each a standard Maildir with tmp/new/cur)."""
        for folder in FOLDERS:
            for sub in ("tmp", "new", "cur"):
                (self.root / folder / sub).mkdir(parents=True, exist_ok=True)

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
        self.ensure()
        name = self._name(key)
        target = self.root / "outbox" / "new" / name
        if self.sent(key):
            return target
        tmp = self.root / "outbox" / "tmp" / name
        with tmp.open("wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(target)
        return target
