"""Content-addressed file archive: each file stored once under its SHA-256."""

from __future__ import annotations

import ctypes
import hashlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Archive:
    """Files kept as <root>/<ab>/<cd>/<sha256>, written atomically and durably."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._deferred: list[Path] | None = None

    def path(self, sha256: str) -> Path:
        """Where the file with this digest lives."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, content: bytes) -> str:
        """Store the content (once) and return its digest."""
        digest = hashlib.sha256(content).hexdigest()
        target = self.root / digest[:2] / digest[2:4] / digest
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary file and rename so a crash never leaves a half file; the
        # name is unique per process, and a leftover from a dead one is simply replaced.
        tmp = target.with_name(f"{digest}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as fh:
                fh.write(content)
                if self._deferred is None:
                    fh.flush()
                    os.fsync(fh.fileno())
            tmp.replace(target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if self._deferred is None:
            _fsync_dir(target.parent)
        else:
            self._deferred.append(target)
        return digest

    @contextmanager
    def deferred_sync(self) -> Iterator[None]:
        """Puts inside skip their own fsync; leaving without error makes them all durable."""
        outer = self._deferred is not None
        if not outer:
            self._deferred = []
        try:
            yield
            if not outer:
                _sync_all(self.root, self._deferred or [])
        finally:
            if not outer:
                self._deferred = None

    def get(self, sha256: str) -> bytes:
        """The content stored under this digest."""
        return self.path(sha256).read_bytes()

    def size(self, sha256: str) -> int:
        """The size in bytes of the file stored under this digest."""
        return self.path(sha256).stat().st_size

    def exists(self, sha256: str) -> bool:
        """True if the digest is stored."""
        return self.path(sha256).exists()


def _fsync_dir(folder: Path) -> None:
    """Make a rename in this folder durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_all(root: Path, targets: list[Path]) -> None:
    """Make every written file, and its name, durable: one syncfs(2), or fsync each."""
    if not targets:
        return
    # One syncfs costs about what a single fsync does, where a batch of fsyncs costs one
    # journal commit each; the other dirty data it flushes is on the archive's own disk.
    if _syncfs(root):
        return
    for target in targets:
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for folder in dict.fromkeys(t.parent for t in targets):
        _fsync_dir(folder)


def _syncfs(root: Path) -> bool:
    """syncfs(2) on the file system holding root; False where the call is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syncfs = libc.syncfs
    except (OSError, AttributeError):
        return False
    fd = os.open(root, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(root))
    finally:
        os.close(fd)
    return True
