"""SQLAlchemy models: the whole persistent state of the bot."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names so Alembic migrations behave the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes stored as naive UTC, so SQLite and PostgreSQL agree."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to naive UTC; reject naive ones."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return the stored naive UTC value as an aware UTC datetime."""
        return None if value is None else value.replace(tzinfo=UTC)


# Integer ids that autoincrement on SQLite (INTEGER PRIMARY KEY) and are 64-bit on PostgreSQL.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base with the shared naming convention."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Case(Base):
    """One case of one process (a ticket, an alta, a recertification...)."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    process: Mapped[str] = mapped_column(String(16), index=True)
    state: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(500), default="")
    requester: Mapped[str] = mapped_column(String(320), default="", index=True)
    assignee: Mapped[str | None] = mapped_column(String(320), default=None)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    # Optimistic lock: every transition bumps it and checks the value it read.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class CaseLink(Base):
    """A relation between two cases (follow-up of a closed one, linked ticket...)."""

    __tablename__ = "case_links"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    other_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    relation: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("case_id", "other_id", "relation"),)


class CaseKey(Base):
    """A case's key in an external system, so the same record never opens two cases."""

    __tablename__ = "case_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    system: Mapped[str] = mapped_column(String(32))  # e.g. "pegasus" for an agent's record
    key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("system", "key"),)


class Event(Base):
    """Append-only audit trail; the database refuses updates and deletes."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(64), default=None)
    to_state: Mapped[str | None] = mapped_column(String(64), default=None)
    actor: Mapped[str] = mapped_column(String(320), default="")
    steps: Mapped[list[Any]] = mapped_column(default=list)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Message(Base):
    """A message in or out, on any channel; (channel, external_id) makes ingestion idempotent."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    channel: Mapped[str] = mapped_column(String(16))  # "mail" | "chat"
    external_id: Mapped[str] = mapped_column(String(500))
    message_id: Mapped[str | None] = mapped_column(String(500), index=True, default=None)
    in_reply_to: Mapped[str | None] = mapped_column(String(500), default=None)
    references: Mapped[list[Any]] = mapped_column(default=list)
    sender: Mapped[str] = mapped_column(String(320), default="")
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(String(1000), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    raw_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="received")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (UniqueConstraint("channel", "external_id"),)


class Attachment(Base):
    """A file kept once in the archive under its SHA-256, referenced by messages and cases."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id"), index=True, default=None
    )
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    filename: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(200), default="application/octet-stream")
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]


class Timer(Base):
    """A due instant for a case or a recurring job; claimed with compare-and-set."""

    __tablename__ = "timers"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    kind: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime]
    # "pending" -> "fired" | "cancelled" | "stale" | "failed"
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # "state": dies when the case leaves `state`; "case": lives until cancelled or closed;
    # "job": a recurring job (digest, daily sweeps) with no case.
    scope: Mapped[str] = mapped_column(String(8), default="state")
    state: Mapped[str | None] = mapped_column(String(64), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    fired_at: Mapped[datetime | None] = mapped_column(default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(100), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (Index("ix_timers_status_due_at", "status", "due_at"),)


class Outbox(Base):
    """An effect to perform after commit (send a mail, a chat message...), retried until done."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The Message-ID of an outbound mail, so a bounce finds the row it reports on.
    message_id: Mapped[str | None] = mapped_column(String(500), index=True, default=None)
    # RFC 3834 kind (the per-case cap on automatic mail counts these) and ",a@x,b@y,".
    auto: Mapped[str | None] = mapped_column(String(16), default=None)
    recipients: Mapped[str] = mapped_column(Text, default="")
    # Unique key so that the same effect is never queued twice (e.g. one ack per message).
    dedupe_key: Mapped[str | None] = mapped_column(String(300), unique=True, default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (
        Index("ix_outbox_status_not_before", "status", "not_before"),
        Index("ix_outbox_created_at", "created_at"),
    )


class AutoMail(Base):
    """One automatic mail queued to one address outside the team: what the caps count."""

    __tablename__ = "auto_mail"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(320))
    template: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]

    # The caps ask "how many to this address since ..."; a substring search of the
    # outbox's recipient lists could not use an index and grew with every mail queued.
    __table_args__ = (Index("ix_auto_mail_address_created_at", "address", "created_at"),)


class Task(Base):
    """A piece of work for a person (usually a specialist), with the data to do it."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text, default="")
    assignee: Mapped[str] = mapped_column(String(320), default="")
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_by: Mapped[str | None] = mapped_column(String(320), default=None)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class KnowledgeEntry(Base):
    """What a closed case taught: problem, type and solution (MA-006 paso 18)."""

    __tablename__ = "knowledge"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    process: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(64), default="")
    problem: Mapped[str] = mapped_column(Text, default="")
    solution: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]


class Cursor(Base):
    """Per-channel sync position (IMAP UIDVALIDITY/UID, Graph deltaLink, EWS sync state)."""

    __tablename__ = "cursors"

    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime]


class ChatLink(Base):
    """A chat account linked to a directory address by a code e-mailed to that address."""

    __tablename__ = "chat_links"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))  # "telegram"
    # Telegram user ids exceed 2**31, so 64-bit even on PostgreSQL.
    user_id: Mapped[int] = mapped_column(BigInteger)
    email: Mapped[str] = mapped_column(String(320))
    linked_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    # One row per account: linking again updates it, so history stays in the audit trail.
    __table_args__ = (UniqueConstraint("channel", "user_id"),)


class ChatLinkCode(Base):
    """A one-time linking code, kept only as a salted HMAC, for the account that asked."""

    __tablename__ = "chat_link_codes"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(BigInteger)
    email: Mapped[str] = mapped_column(String(320))
    code_hash: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256(salt, code), hex
    salt: Mapped[str] = mapped_column(String(32))  # 16 random bytes, hex
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(default=None)

    # The caps count codes per account and per address in the last hour.
    __table_args__ = (
        Index("ix_chat_link_codes_channel_user_id_created_at", "channel", "user_id", "created_at"),
        Index("ix_chat_link_codes_email_created_at", "email", "created_at"),
    )


class ChatRefusal(Base):
    """The one polite refusal a stranger gets per day; unique so two daemons send one."""

    __tablename__ = "chat_refusals"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(BigInteger)
    day: Mapped[date]
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("channel", "user_id", "day"),)
