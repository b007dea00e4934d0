"""Telegram gate: who may talk to the bot, and what one update asks for.

``judge`` is a pure function over a python-telegram-bot ``Update``: no I/O, no database, no
network, and it never raises. The directory in config.toml is the truth; ``linked`` (user id
-> e-mail, kept by the caller) only counts while that e-mail is still a configured
specialist or agent, and a configured ``telegram_id`` wins over a link.

Decision table, first match wins (``action``/``reason``):

====================================================  ========  ===============
update                                                action    reason
====================================================  ========  ===============
not a new message: edited_message/_business_message   ignore    edited
channel_post, edited_channel_post                     ignore    channel
anything else (callback, inline, member, business..)  ignore    no_message
message in a channel                                  ignore    channel
sender_chat set (anonymous admin, channel in group)   ignore    anonymous_admin
via_bot set                                           ignore    via_bot
no from_user / no numeric id                          ignore    no_sender
from_user.is_bot is not exactly False                 ignore    bot_sender
group / supergroup (even an authorized person)        ignore    group/supergroup
chat type unknown, or no chat                         ignore    malformed
private chat whose id is not the sender's id          ignore    chat_mismatch
service message (pinned, web_app_data, ...) no text   ignore    service
stranger, ``/vincular`` command (not forwarded)       link      link_request
stranger, anything else (incl. forwarded /vincular)   refuse    stranger
configured id, or linked e-mail still in directory    accept    private
====================================================  ========  ===============

An unexpected exception inside the gate becomes ``ignore``/``error`` (a bug to report;
the tests assert it never happens on any shape ``Update.de_json`` accepts).

Commands: only ``message.text`` (never a caption) whose ``bot_command`` entity sits at
offset 0, token ``/name`` or ``/name@bot`` followed by whitespace or the end; name of ASCII
letters, digits and ``_`` up to 32 chars; ``@bot`` must equal ``bot_username`` (ignoring case;
with no ``bot_username`` any ``@bot`` suffix makes it data). A forwarded message is always
data. What a verdict carries: ``ignore`` only ids and ``sent_at``; ``refuse`` adds text and
``forwarded``; ``link`` adds ``command``/``args``; only ``accept`` carries ``person``,
``media`` and ``reply_to_message_id``, so nothing of a stranger's files is ever fetched.
Media: photo -> its largest size (by file_size when every size has one, else by pixels),
``mime_type`` "image/jpeg" (Telegram re-encodes photos) and no file name; document -> one
ref. Other content (voice, sticker, location...) is accepted with no media and, unless a
caption says something, empty text; the caller answers that it cannot take it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from telegram import Chat, Document, Message, MessageEntity, PhotoSize, Update, User
from telegram.ext import filters

from bot.config import Agent, Config, Specialist

__all__ = ["Action", "ChatPerson", "MediaRef", "Role", "Verdict", "judge"]

Role = Literal["specialist", "agent"]
Action = Literal["accept", "link", "refuse", "ignore"]

LINK_COMMAND = "vincular"
_COMMAND_RE = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?")
_PHOTO_MIME = "image/jpeg"
_UNKNOWN_UPDATE_ID = -1


@dataclass(frozen=True)
class ChatPerson:
    """Who a Telegram user is in the directory."""

    role: Role
    email: str
    name: str


@dataclass(frozen=True)
class MediaRef:
    """A file attached to an accepted message, to be fetched by the caller."""

    kind: Literal["photo", "document"]
    file_id: str
    file_unique_id: str
    file_name: str
    mime_type: str
    file_size: int | None


@dataclass(frozen=True)
class Verdict:
    """What to do with one update, and everything the next steps need."""

    action: Action
    reason: str
    update_id: int
    user_id: int | None
    chat_id: int | None
    message_id: int | None
    person: ChatPerson | None = None
    text: str = ""
    command: str = ""
    args: tuple[str, ...] = ()
    forwarded: bool = False
    reply_to_message_id: int | None = None
    media: tuple[MediaRef, ...] = ()
    sent_at: datetime | None = None


def judge(
    update: Update, config: Config, linked: Mapping[int, str], bot_username: str = ""
) -> Verdict:
    """Decide what to do with one update (see the module's decision table); never raises."""
    try:
        return _judge(update, config, linked, bot_username)
    except Exception:
        return Verdict(
            action="ignore",
            reason="error",
            update_id=_update_id(update),
            user_id=None,
            chat_id=None,
            message_id=None,
        )


# --- the decision -------------------------------------------------------------------------


def _judge(update: Update, config: Config, linked: Mapping[int, str], bot_username: str) -> Verdict:
    """The decision table, in order."""
    update_id = _update_id(update)
    message = getattr(update, "message", None)
    if not isinstance(message, Message):
        return _not_a_message(update, update_id)

    chat = getattr(message, "chat", None)
    sender = getattr(message, "from_user", None)
    chat_id = _int(getattr(chat, "id", None))
    user_id = _int(getattr(sender, "id", None))

    def ignore(reason: str) -> Verdict:
        return Verdict(
            action="ignore",
            reason=reason,
            update_id=update_id,
            user_id=user_id,
            chat_id=chat_id,
            message_id=_int(getattr(message, "message_id", None)),
            sent_at=_utc(getattr(message, "date", None)),
        )

    if not isinstance(chat, Chat):
        return ignore("malformed")
    chat_type = chat.type
    if chat_type == Chat.CHANNEL:
        return ignore("channel")
    if message.sender_chat is not None:
        return ignore("anonymous_admin")
    if message.via_bot is not None:
        return ignore("via_bot")
    if not isinstance(sender, User) or user_id is None:
        return ignore("no_sender")
    if sender.is_bot is not False:
        return ignore("bot_sender")
    if chat_type == Chat.GROUP:
        return ignore("group")
    if chat_type == Chat.SUPERGROUP:
        return ignore("supergroup")
    if chat_type != Chat.PRIVATE:
        return ignore("malformed")
    if chat_id != user_id:
        return ignore("chat_mismatch")

    text = _text(message)
    if not text and filters.StatusUpdate.ALL.check_update(update):
        return ignore("service")

    forwarded = message.forward_origin is not None
    command, args = ("", ()) if forwarded else _command(message, bot_username)
    base = ignore("")  # the ids and sent_at, filled in below
    person = _identify(user_id, config, linked)
    if person is None:
        if command == LINK_COMMAND:
            return replace(
                base, action="link", reason="link_request", text=text, command=command, args=args
            )
        return replace(base, action="refuse", reason="stranger", text=text, forwarded=forwarded)
    return replace(
        base,
        action="accept",
        reason="private",
        person=person,
        text=text,
        command=command,
        args=args,
        forwarded=forwarded,
        reply_to_message_id=_reply_to_bot(message, chat_id, bot_username),
        media=_media(message),
    )


def _not_a_message(update: Update, update_id: int) -> Verdict:
    """Every update that is not a new message is ignored, with what it was."""
    if _present(update, "edited_message", "edited_business_message"):
        reason = "edited"
    elif _present(update, "channel_post", "edited_channel_post"):
        reason = "channel"
    else:
        reason = "no_message"
    user_id = chat_id = message_id = None
    try:
        user_id = _int(getattr(update.effective_user, "id", None))
        chat_id = _int(getattr(update.effective_chat, "id", None))
        message_id = _int(getattr(update.effective_message, "message_id", None))
    except Exception:
        pass  # ids are only for the audit trail
    return Verdict(
        action="ignore",
        reason=reason,
        update_id=update_id,
        user_id=user_id,
        chat_id=chat_id,
        message_id=message_id,
    )


# --- identity -----------------------------------------------------------------------------


def _identify(user_id: int, config: Config, linked: Mapping[int, str]) -> ChatPerson | None:
    """The person behind a user id: configured id first, then a link still in the directory."""
    configured = config.person_by_telegram_id(user_id)
    if configured is not None:
        return _chat_person(configured)
    try:
        email = linked.get(user_id)
    except Exception:
        return None
    if not isinstance(email, str) or not email.strip():
        return None
    wanted = email.strip().lower()
    people: tuple[Specialist | Agent, ...] = (*config.people.specialists, *config.people.agents)
    return next((_chat_person(p) for p in people if p.email.lower() == wanted), None)


def _chat_person(person: Specialist | Agent) -> ChatPerson:
    """A directory entry as a ChatPerson."""
    role: Role = "specialist" if isinstance(person, Specialist) else "agent"
    return ChatPerson(role=role, email=person.email, name=person.name)


# --- message contents ---------------------------------------------------------------------


def _text(message: Message) -> str:
    """The text, else the caption, else ""."""
    for value in (message.text, message.caption):
        if isinstance(value, str) and value:
            return value
    return ""


def _command(message: Message, bot_username: str) -> tuple[str, tuple[str, ...]]:
    """``(name, args)`` when the text is a command for this bot, else ``("", ())``."""
    text = message.text
    if not isinstance(text, str) or not text.startswith("/"):
        return "", ()
    length = next(
        (
            e.length
            for e in _tuple(message.entities)
            if isinstance(e, MessageEntity)
            and e.type == MessageEntity.BOT_COMMAND
            and _int(e.offset) == 0
            and _int(e.length) is not None
        ),
        None,
    )
    if length is None or length < 2:
        return "", ()
    try:  # entity offsets and lengths count UTF-16 code units
        token = text.encode("utf-16-le")[: 2 * length].decode("utf-16-le")
    except UnicodeError:  # a lone surrogate, or a length splitting a pair
        return "", ()
    match = _COMMAND_RE.fullmatch(token)
    rest = text[len(token) :]
    if match is None or (rest and not rest[0].isspace()):
        return "", ()
    target = match[2]
    if target is not None:
        own = bot_username.strip().lstrip("@").lower() if isinstance(bot_username, str) else ""
        if not own or target.lower() != own:
            return "", ()
    return match[1].lower(), tuple(rest.split())


def _reply_to_bot(message: Message, chat_id: int | None, bot_username: str) -> int | None:
    """The id of the bot's message this one replies to, if it does."""
    replied = message.reply_to_message
    if not isinstance(replied, Message):
        return None
    author = replied.from_user
    if not isinstance(author, User) or author.is_bot is not True:
        return None
    own = bot_username.strip().lstrip("@").lower() if isinstance(bot_username, str) else ""
    username = author.username
    if own and isinstance(username, str) and username and username.lower() != own:
        return None
    replied_chat = getattr(replied, "chat", None)
    if isinstance(replied_chat, Chat) and _int(replied_chat.id) != chat_id:
        return None
    return _int(replied.message_id)


def _media(message: Message) -> tuple[MediaRef, ...]:
    """The largest photo size and the document, as MediaRefs."""
    refs: list[MediaRef] = []
    sizes = [s for s in _tuple(message.photo) if isinstance(s, PhotoSize) and _file_id(s)]
    if sizes:
        if all(_int(s.file_size) is not None for s in sizes):
            best = max(sizes, key=lambda s: (_int(s.file_size) or 0, _pixels(s)))
        else:
            best = max(sizes, key=lambda s: (_pixels(s), _int(s.file_size) or 0))
        refs.append(
            MediaRef(
                kind="photo",
                file_id=_file_id(best),
                file_unique_id=_str(best.file_unique_id),
                file_name="",
                mime_type=_PHOTO_MIME,
                file_size=_int(best.file_size),
            )
        )
    document = message.document
    if isinstance(document, Document) and _file_id(document):
        refs.append(
            MediaRef(
                kind="document",
                file_id=_file_id(document),
                file_unique_id=_str(document.file_unique_id),
                file_name=_str(document.file_name),
                mime_type=_str(document.mime_type),
                file_size=_int(document.file_size),
            )
        )
    return tuple(refs)


def _pixels(size: PhotoSize) -> int:
    """Width times height, 0 when either is unknown."""
    width, height = _int(size.width), _int(size.height)
    return width * height if width is not None and height is not None else 0


def _file_id(file: PhotoSize | Document) -> str:
    """The file id, or "" when it is not a usable string."""
    return _str(file.file_id)


# --- defensive accessors ------------------------------------------------------------------


def _present(update: Update, *names: str) -> bool:
    """True when any of these attributes of the update is set."""
    return any(getattr(update, name, None) is not None for name in names)


def _update_id(update: object) -> int:
    """The update id, or -1 when it is missing or not an integer."""
    value = _int(getattr(update, "update_id", None))
    return _UNKNOWN_UPDATE_ID if value is None else value


def _int(value: object) -> int | None:
    """The value if it is a real int (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str:
    """The value if it is a str, else ""."""
    return value if isinstance(value, str) else ""


def _tuple(value: object) -> tuple[object, ...]:
    """The value as a tuple when it is a tuple or list, else ()."""
    return tuple(value) if isinstance(value, tuple | list) else ()


def _utc(value: object) -> datetime | None:
    """An aware UTC datetime (a naive one is taken as UTC), else None."""
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
