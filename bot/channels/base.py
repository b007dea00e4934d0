"""The channel seam: what every mail or chat backend provides to the pipeline.

A mail backend is one object with both directions (MailChannel). Inbound, it yields what
is new, and hears back about each message only after its effects are committed: `ack`
(processed) or `quarantine` (set aside, never deleted); `done` closes a pass in which every
fetched message was answered, and is the only moment a backend may store its sync position
(IMAP UID, Graph deltaLink, EWS sync state), so a crash before it only means re-reading
messages the pipeline recognises by Message-ID. Outbound, `send` delivers a complete RFC
5322 message and raises ChannelUnavailable (retry later), ChannelAuthFailed or
MessageRejected (never retried). `check` is what `mesabot doctor` runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class InboundMessage:
    """A raw message as a channel delivered it; `key` lets the channel acknowledge it."""

    channel: str  # "mail" | "chat"
    key: str
    raw: bytes
    received_at: datetime | None = None
    # Set when the message is over the size limit and was left on the server unread:
    # `raw` is then empty, and the pipeline quarantines it with one notice.
    size: int | None = None
    # The server's own verdict that the sender authenticated inside the organization
    # (Graph/EWS); None where the server says nothing and Authentication-Results decide.
    authenticated: bool | None = None
    # The server's own text of what the sender wrote, without the quoted history (Graph's
    # uniqueBody); the pipeline prefers it to its own quote removal when present.
    unique_body: str | None = None


@dataclass(frozen=True)
class Check:
    """One line of `mesabot doctor`: what was checked, how it went, how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


class InboundChannel(Protocol):
    """Fetch new messages; acknowledge or quarantine each only after its commit."""

    def fetch(self) -> Iterator[InboundMessage]:
        """Messages not yet acknowledged, oldest first."""
        ...

    def ack(self, key: str) -> None:
        """Mark the message processed (its effects are committed)."""
        ...

    def quarantine(self, key: str) -> None:
        """Set aside a message that cannot be processed; never delete it."""
        ...

    def done(self) -> None:
        """Every fetched message was acknowledged or quarantined: keep the sync position."""
        ...


class OutboundChannel(Protocol):
    """Send a complete message; a retry of the same key is recognised where possible."""

    def send(self, raw: bytes, key: str) -> object:
        """Deliver the message; raises ChannelUnavailable or MessageRejected."""
        ...


class MailChannel(InboundChannel, OutboundChannel, Protocol):
    """A mail backend: both directions, plus set-up, diagnosis and shutdown."""

    def ensure(self) -> None:
        """Prepare what the backend needs locally (folders); cheap when already done."""
        ...

    def check(self) -> list[Check]:
        """Log in, look at the folders, say what is wrong and how to fix it."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class Watchable(Protocol):
    """A backend that can be told of new mail as it arrives (IMAP IDLE)."""

    def watch(self, timeout: float) -> bool:
        """Block up to `timeout` s; True if new mail arrived."""
        ...
