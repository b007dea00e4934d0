"""Linking a chat account to a directory address with a one-time code sent to that address."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.config import Agent, Config, Specialist
from storage.models import ChatLink, ChatLinkCode, ChatRefusal

TELEGRAM = "telegram"
CODE_TTL = timedelta(minutes=15)
MAX_ATTEMPTS = 5
MAX_CODES_PER_HOUR = 3
# Also per address, whichever accounts ask: otherwise every extra chat account an attacker
# opens buys MAX_ATTEMPTS * MAX_CODES_PER_HOUR more guesses an hour and floods the mailbox.
MAX_CODES_PER_ADDRESS_PER_HOUR = MAX_CODES_PER_HOUR
CODE_DIGITS = 6

_HOUR = timedelta(hours=1)
_SALT_BYTES = 16  # 32 hex characters, the width of chat_link_codes.salt
_SEPARATORS = frozenset("-‐‑‒–—")

# Both caps give the same answer, so the reply does not tell which one was hit.
TOO_MANY_CODES = "Ya te enviamos varios códigos; espera una hora antes de pedir otro."
NOT_A_CODE = f"El código son {CODE_DIGITS} números."
NO_CODE = "No tienes un código pendiente; escribe /vincular para recibir uno."
CODE_USED = "Ese código ya se usó; escribe /vincular para recibir otro."
CODE_BURNT = (
    "Ese código ya no sirve: se agotaron sus intentos. Escribe /vincular para recibir otro."
)
CODE_EXPIRED = "El código venció; escribe /vincular para recibir otro."


@dataclass(frozen=True)
class IssuedCode:
    """A new code and its address: the code exists in clear only here, to be e-mailed."""

    code: str = field(repr=False)  # kept out of repr() so no log line can carry it
    email: str
    expires_at: datetime


class LinkRefused(Exception):
    """A linking step turned down; `reason` is the Spanish answer for the chat user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def may_issue(s: Session, channel: str, user_id: int, email: str, now: datetime) -> bool:
    """Whether a new code for this account and address is within the hourly caps."""
    _require_aware(now)
    address = email.strip().lower()
    since = now - _HOUR
    by_account = _codes_since(
        s, since, ChatLinkCode.channel == channel, ChatLinkCode.user_id == user_id
    )
    by_address = _codes_since(
        s, since, ChatLinkCode.channel == channel, ChatLinkCode.email == address
    )
    return by_account < MAX_CODES_PER_HOUR and by_address < MAX_CODES_PER_ADDRESS_PER_HOUR


def issue_code(s: Session, channel: str, user_id: int, email: str, now: datetime) -> IssuedCode:
    """Store a new code for this account and address (hashed) and return it to be e-mailed."""
    if not may_issue(s, channel, user_id, email, now):
        raise LinkRefused(TOO_MANY_CODES)
    address = email.strip().lower()
    # Only the newest code may link: end the older ones now rather than leave them guessable.
    _end_pending_codes(s, channel, user_id, now)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    salt = secrets.token_hex(_SALT_BYTES)
    expires_at = now + CODE_TTL
    s.add(
        ChatLinkCode(
            channel=channel,
            user_id=user_id,
            email=address,
            code_hash=_digest(salt, code),
            salt=salt,
            created_at=now,
            expires_at=expires_at,
            attempts=0,
        )
    )
    s.flush()
    return IssuedCode(code=code, email=address, expires_at=expires_at)


# Catch LinkRefused inside the transaction that holds `s` and commit it: a wrong try is
# counted in `s`, and rolling it back would hand the guesser a free attempt.
def redeem_code(s: Session, channel: str, user_id: int, code: str, now: datetime) -> str:
    """Link this account with the newest code it was sent and return the linked address."""
    _require_aware(now)
    submitted = _normalise(code)
    # Only this account's codes: a code mailed for another account never matches here.
    row = s.scalars(
        select(ChatLinkCode)
        .where(ChatLinkCode.channel == channel, ChatLinkCode.user_id == user_id)
        .order_by(ChatLinkCode.created_at.desc(), ChatLinkCode.id.desc())
        .limit(1)
    ).first()
    if row is None:
        raise LinkRefused(NO_CODE)
    if row.used_at is not None:
        raise LinkRefused(CODE_USED)
    if row.attempts >= MAX_ATTEMPTS:
        raise LinkRefused(CODE_BURNT)
    if now >= row.expires_at:
        raise LinkRefused(CODE_EXPIRED)
    # Take the try before comparing, with compare-and-set, so two racing tries cannot both
    # read the same count and together exceed MAX_ATTEMPTS.
    attempts = s.scalar(
        update(ChatLinkCode)
        .where(
            ChatLinkCode.id == row.id,
            ChatLinkCode.used_at.is_(None),
            ChatLinkCode.attempts < MAX_ATTEMPTS,
        )
        .values(attempts=ChatLinkCode.attempts + 1)
        .returning(ChatLinkCode.attempts)
    )
    if attempts is None:
        raise LinkRefused(CODE_BURNT)
    if not hmac.compare_digest(_digest(row.salt, submitted), row.code_hash):
        raise LinkRefused(_wrong_code(MAX_ATTEMPTS - attempts))
    used = s.scalar(
        update(ChatLinkCode)
        .where(ChatLinkCode.id == row.id, ChatLinkCode.used_at.is_(None))
        .values(used_at=now)
        .returning(ChatLinkCode.id)
    )
    if used is None:  # another try with the same code won the race
        raise LinkRefused(CODE_USED)
    _link(s, channel, user_id, row.email, now)
    return row.email


def linked_users(s: Session, channel: str) -> dict[int, str]:
    """Every account with an active link on this channel, and its address."""
    rows = s.execute(
        select(ChatLink.user_id, ChatLink.email).where(
            ChatLink.channel == channel, ChatLink.revoked_at.is_(None)
        )
    )
    return {row.user_id: row.email for row in rows}


def chat_accounts(s: Session, config: Config, emails: list[str]) -> dict[str, int]:
    """The Telegram account of each address that has one: configured id first, then a link.

    As at the gate, only specialists and agents of the directory are reachable on chat.
    """
    chatters: tuple[Specialist | Agent, ...] = (*config.people.specialists, *config.people.agents)
    people = {p.email: p for p in chatters}
    found: dict[str, int] = {}
    for email in emails:
        person = people.get(email)
        if person is not None and person.telegram_id is not None:
            found[email] = person.telegram_id
    wanted = [e for e in emails if e in people and e not in found]
    if wanted:
        rows = s.execute(
            select(ChatLink.email, ChatLink.user_id)
            .where(
                ChatLink.channel == TELEGRAM,
                ChatLink.revoked_at.is_(None),
                ChatLink.email.in_(wanted),
            )
            .order_by(ChatLink.linked_at)
        )
        found.update({row.email: row.user_id for row in rows})
    return found


def unlink(s: Session, channel: str, user_id: int, now: datetime) -> bool:
    """Revoke the account's link and its pending codes; False if it was not linked."""
    _require_aware(now)
    revoked = s.scalar(
        update(ChatLink)
        .where(
            ChatLink.channel == channel,
            ChatLink.user_id == user_id,
            ChatLink.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .returning(ChatLink.id)
    )
    # A code asked for before the unlink must not undo it.
    _end_pending_codes(s, channel, user_id, now)
    return revoked is not None


def refuse_once_today(s: Session, channel: str, user_id: int, day: date, now: datetime) -> bool:
    """True the first time this account is refused on `day`, on any daemon; else False."""
    _require_aware(now)
    # The unique (channel, user_id, day) decides between racing daemons; the savepoint keeps
    # the caller's transaction usable after the losing insert.
    try:
        with s.begin_nested():
            s.add(ChatRefusal(channel=channel, user_id=user_id, day=day, created_at=now))
    except IntegrityError:
        return False
    return True


def _link(s: Session, channel: str, user_id: int, email: str, now: datetime) -> None:
    """Make this account the active link of the address on the channel."""
    # One account per address: the newest proof of the mailbox wins, so a lost or taken-over
    # old account stops working, and a hijack shows as the owner being cut off.
    s.execute(
        update(ChatLink)
        .where(
            ChatLink.channel == channel,
            ChatLink.email == email,
            ChatLink.user_id != user_id,
            ChatLink.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    link = s.scalars(
        select(ChatLink).where(ChatLink.channel == channel, ChatLink.user_id == user_id)
    ).first()
    if link is None:
        s.add(ChatLink(channel=channel, user_id=user_id, email=email, linked_at=now))
    else:
        link.email = email
        link.linked_at = now
        link.revoked_at = None
    s.flush()


def _codes_since(s: Session, since: datetime, *where: ColumnElement[bool]) -> int:
    """How many codes matching `where` were issued after `since`."""
    count = s.scalar(
        select(func.count())
        .select_from(ChatLinkCode)
        .where(ChatLinkCode.created_at > since, *where)
    )
    return count or 0


def _normalise(code: str) -> str:
    """The submitted code as ASCII digits, without spaces or dashes; LinkRefused otherwise."""
    kept = [c for c in code if not c.isspace() and c not in _SEPARATORS]
    # Any script's decimal digits (a full-width keyboard) count as the digits they are.
    if len(kept) != CODE_DIGITS or not all(c.isdecimal() for c in kept):
        raise LinkRefused(NOT_A_CODE)
    return "".join(str(unicodedata.decimal(c)) for c in kept)


def _digest(salt: str, code: str) -> str:
    """HMAC-SHA256 of the code keyed by the row's salt, in hex."""
    return hmac.new(salt.encode("ascii"), code.encode("ascii"), hashlib.sha256).hexdigest()


def _wrong_code(left: int) -> str:
    """The answer to a wrong code, with the tries it has left."""
    if left <= 0:
        return "Código incorrecto; se agotaron los intentos. Escribe /vincular para recibir otro."
    if left == 1:
        return "Código incorrecto; te queda 1 intento."
    return f"Código incorrecto; te quedan {left} intentos."


def _require_aware(now: datetime) -> None:
    """Raise ValueError for a naive datetime: comparing it with stored UTC would be wrong."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware, got naive {now.isoformat()}")


def _end_pending_codes(s: Session, channel: str, user_id: int, now: datetime) -> None:
    """Make the account's unused codes expire now: none of them may link any more."""
    s.execute(
        update(ChatLinkCode)
        .where(
            ChatLinkCode.channel == channel,
            ChatLinkCode.user_id == user_id,
            ChatLinkCode.used_at.is_(None),
            ChatLinkCode.expires_at > now,
        )
        .values(expires_at=now)
    )
