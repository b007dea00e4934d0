"""Injected clock so that time-dependent code is testable without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


def _require_aware(at: datetime) -> datetime:
    """Return ``at`` unchanged, or raise ValueError if it is naive."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware, got naive {at.isoformat()}")
    return at


class Clock(Protocol):
    """Source of the current time; always timezone-aware."""

    def now(self) -> datetime:
        """Return the current instant as a timezone-aware datetime."""
        ...


class SystemClock:
    """Clock backed by the system time, in UTC."""

    def now(self) -> datetime:
        """Return the current instant in UTC."""
        return datetime.now(UTC)


class FixedClock:
    """Manually driven clock for tests; time only moves when told to."""

    def __init__(self, at: datetime) -> None:
        """Start the clock at ``at`` (must be timezone-aware)."""
        self._at = _require_aware(at)

    def now(self) -> datetime:
        """Return the clock's current instant."""
        return self._at

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock by ``delta`` and return the new instant."""
        self._at = self._at + delta
        return self._at

    def set(self, at: datetime) -> None:
        """Jump the clock to ``at`` (must be timezone-aware)."""
        self._at = _require_aware(at)
