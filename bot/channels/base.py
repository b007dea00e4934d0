"""The channel seam: what every mail or chat backend provides to the pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class InboundMessage:
    """A raw message as a channel delivered it; `key` lets the channel acknowledge it."""

    channel: str  # "mail" | "chat"
    key: str
    raw: bytes
    received_at: datetime | None = None


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


class OutboundChannel(Protocol):
    """Send a complete message; the same key is never delivered twice."""

    def send(self, raw: bytes, key: str) -> object:
        """Deliver the message; raises ChannelUnavailable or MessageRejected."""
        ...
