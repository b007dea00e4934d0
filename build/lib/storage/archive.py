"""Content-addressed file archive: each file stored once under its SHA-256."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class Archive:
    """Files kept as <root>/<ab>/<cd>/<sha256>, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        """Where the file with this digest lives."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, content: bytes) -> str:
        """Store the content (once) and return its digest."""
        digest = hashlib.sha256(content).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary file and rename so a crash never leaves a half file.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, sha256: str) -> bytes:
        """The content stored under this digest."""
        return self.path(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        """True if the digest is stored."""
        return self.path(sha256).exists()
