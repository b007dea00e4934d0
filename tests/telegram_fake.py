"""An in-memory fake of Telegram's Bot API, served as a python-telegram-bot request object.

Built from the documented protocol (https://core.telegram.org/bots/api): every answer is
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": "..."}``
(plus ``"parameters": {"retry_after": S}`` on 429), handed back as ``(status, JSON bytes)``
so python-telegram-bot's own ``BaseRequest`` parses it and raises its own exceptions.

What the fake models: getMe; getUpdates with confirmation by ``offset`` (an update is
confirmed, and forgotten, once getUpdates is called with a higher offset; a negative offset
returns the last updates and forgets the rest), ``limit`` (1-100, default 100) and
``allowed_updates`` (kept between calls; by default chat_member and reaction updates are
never queued); sendMessage with per-chat message ids shared with inbound messages, reply
threading and the documented "message to be replied not found" check; getFile and file
downloads from ``/file/bot<token>/<file_path>`` (files over 20 MB cannot be fetched);
deleteWebhook (with ``drop_pending_updates``) and getWebhookInfo. Method names are matched
case-insensitively, as the Bot API does. A wrong token answers 401 (well-formed token) or
404 (malformed token); any other method answers 400 "method not found".

Faults are injected on purpose per method (``fail``): flood control, a connection failure,
a timeout, a 502 from the gateway, a revoked token, a user who blocked the bot, a second
poller. File downloads use the pseudo-method name ``"download"`` for faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import PurePosixPath
from typing import Any, Final
from urllib.parse import unquote

from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

__all__ = [
    "CHANNEL_BOT_ID",
    "FAULT_KINDS",
    "GROUP_ANONYMOUS_BOT_ID",
    "FakeTelegram",
    "SentMessage",
]

JSONDict = dict[str, Any]

GROUP_ANONYMOUS_BOT_ID: Final = 1087968824  # "from" of an anonymous group admin's message
CHANNEL_BOT_ID: Final = 136817688  # "from" of a message a channel posts into a group
INLINE_BOT: Final[JSONDict] = {
    "id": 987654321,
    "is_bot": True,
    "first_name": "Inline",
    "username": "inline_helper_bot",
}
FORWARDED_FIRST_NAME: Final = "Reenviado"
GROUP_TITLE: Final = "Grupo de prueba"
CHANNEL_TITLE: Final = "Canal de prueba"
FIRST_MESSAGE_ID: Final = 1000
FIRST_UPDATE_ID: Final = 700000001
MAX_TEXT_LENGTH: Final = 4096
MAX_DOWNLOAD_SIZE: Final = 20 * 1024 * 1024
DEFAULT_JPEG: Final = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
)
# Update types Telegram only sends when allowed_updates names them explicitly.
OPT_IN_UPDATES: Final = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# Parameters whose value is a JSON object or array; they may arrive JSON-encoded.
NESTED_PARAMS: Final = frozenset(
    {
        "allowed_updates",
        "entities",
        "link_preview_options",
        "reply_markup",
        "reply_parameters",
        "suggested_post_parameters",
    }
)
FAULT_KINDS: Final = frozenset(
    {"retry_after", "network", "timeout", "server", "unauthorized", "forbidden", "conflict"}
)
_API_URL = re.compile(r"/(?P<file>file/)?bot(?P<token>[^/]*)/(?P<rest>.*)$")
_WELL_FORMED_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_COMMAND_TOKEN = re.compile(r"\S+")


@dataclass
class SentMessage:
    """One message the bot sent with sendMessage."""

    message_id: int
    chat_id: int
    text: str
    reply_to_message_id: int | None
    params: JSONDict
    at: datetime


@dataclass
class FakeFile:
    """A file the fake can serve through getFile and the file download URL."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    file_size: int


@dataclass
class _Fault:
    """One queued failure for a method."""

    kind: str
    retry_after: int


class _ApiError(Exception):
    """A documented error answer, raised inside a method handler."""

    def __init__(self, status: int, description: str) -> None:
        """An error with its HTTP status and the Bot API description."""
        super().__init__(description)
        self.status = status
        self.description = description


def _utf16_len(text: str) -> int:
    """The length of ``text`` in UTF-16 code units, as Telegram counts entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _as_int(value: Any, name: str) -> int:
    """A parameter as an integer, accepting its JSON-encoded string form."""
    if isinstance(value, bool):
        raise _ApiError(400, f"Bad Request: invalid {name} specified")
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        raise _ApiError(400, f"Bad Request: invalid {name} specified") from None


def _as_bool(value: Any) -> bool:
    """A parameter as a boolean, accepting its JSON-encoded string form."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _error_body(status: int, description: str, parameters: JSONDict | None = None) -> bytes:
    """The Bot API's documented error object."""
    body: JSONDict = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return json.dumps(body).encode()


def _update_type(update: JSONDict) -> str | None:
    """The name of the one optional field an update carries (message, edited_message...)."""
    return next((key for key in update if key != "update_id"), None)


class FakeTelegram(BaseRequest):
    """An offline Bot API server that records what the bot sends."""

    def __init__(
        self,
        token: str = "123456:TEST",
        bot_id: int = 123456,
        username: str = "mesa_ayuda_bot",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """A fake server for one bot; ``clock`` dates inbound and sent messages."""
        self.token = token
        self.bot_id = bot_id
        self.username = username
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.sent: list[SentMessage] = []
        self.calls: list[tuple[str, JSONDict]] = []
        self.downloads: list[str] = []
        self.poll_timeouts: list[int | None] = []
        self.long_poll_wait = 0.02  # seconds an empty long poll is held open
        self.initialize_calls = 0
        self.shutdown_calls = 0
        self.confirmed_offset = 0
        self.allowed_updates: list[str] | None = None
        self.files: dict[str, FakeFile] = {}
        self._updates: list[JSONDict] = []
        self._all_updates: dict[int, JSONDict] = {}
        self._next_update_id = FIRST_UPDATE_ID
        self._last_message_id: dict[int, int] = {}
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._chats: dict[int, JSONDict] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._missing_chats: set[int] = set()
        self._file_numbers = itertools.count(1)

    # -- BaseRequest -----------------------------------------------------------------------

    @property
    def read_timeout(self) -> float | None:
        """No default read timeout: nothing here waits."""
        return None

    async def initialize(self) -> None:
        """Nothing to open; counted."""
        self.initialize_calls += 1

    async def shutdown(self) -> None:
        """Nothing to close; counted."""
        self.shutdown_calls += 1

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Answer one HTTP request the way api.telegram.org does."""
        match = _API_URL.search(url)
        if match is None:
            return HTTPStatus.NOT_FOUND, _error_body(404, "Not Found")
        if match["file"]:
            return self._download(unquote(match["token"]), unquote(match["rest"]))
        name = match["rest"].split("?", 1)[0]
        params = self._normalise(request_data.parameters if request_data is not None else {})
        self.calls.append((name, copy.deepcopy(params)))
        token = unquote(match["token"])
        if token != self.token:
            return self._bad_token(token)
        fault = self._take_fault(name)
        if fault is not None:
            return self._raise_or_answer(fault)
        handler = self._handlers().get(name.lower())
        if handler is None:
            return HTTPStatus.BAD_REQUEST, _error_body(400, "Bad Request: method not found")
        try:
            result = handler(params)
        except _ApiError as exc:
            return exc.status, _error_body(exc.status, exc.description)
        if name.lower() == "getupdates" and not result and params.get("timeout"):
            # A long poll with nothing to say holds the call open (briefly, in a test).
            await asyncio.sleep(self.long_poll_wait)
        return HTTPStatus.OK, json.dumps({"ok": True, "result": result}).encode()

    # -- Fault injection -------------------------------------------------------------------

    def fail(self, method: str, kind: str, times: int = 1, retry_after: int = 5) -> None:
        """Make the next ``times`` calls of ``method`` fail with ``kind`` (queued in order)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        queue = self._faults.setdefault(method.lower(), deque())
        queue.extend(_Fault(kind, retry_after) for _ in range(times))

    def chat_not_found(self, chat_id: int) -> None:
        """Make sendMessage to ``chat_id`` answer 400 "Bad Request: chat not found"."""
        self._missing_chats.add(chat_id)

    # -- Inbound updates -------------------------------------------------------------------

    def push(self, update: JSONDict) -> int:
        """Queue a raw update, numbering it when it has no update_id; returns the update_id."""
        update = copy.deepcopy(update)
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        update_id = int(update["update_id"])
        self._next_update_id = max(self._next_update_id, update_id + 1)
        self._all_updates[update_id] = update
        for value in update.values():
            if isinstance(value, dict):
                self._remember_message(value)
        if update_id < self.confirmed_offset or not self._allowed(update):
            return update_id
        self._updates.append(update)
        self._updates.sort(key=lambda item: int(item["update_id"]))
        return update_id

    def text(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "Ana",
        username: str | None = None,
        chat_id: int | None = None,
        chat_type: str = "private",
        date: datetime | None = None,
        reply_to_message_id: int | None = None,
        forward_from_user_id: int | None = None,
        via_bot: bool = False,
        sender_chat_id: int | None = None,
        is_bot: bool = False,
    ) -> int:
        """Queue a "message" update with ``text``; returns its update_id."""
        message = self._new_message(
            user_id,
            chat_id=chat_id,
            chat_type=chat_type,
            date=date,
            first_name=first_name,
            username=username,
            is_bot=is_bot,
        )
        message["text"] = text
        if text.startswith("/"):
            token = _COMMAND_TOKEN.match(text)
            if token is not None and len(token.group()) > 1:
                length = _utf16_len(token.group())
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        if reply_to_message_id is not None:
            message["reply_to_message"] = self._replied(message["chat"], reply_to_message_id)
        if forward_from_user_id is not None:
            message["forward_origin"] = {
                "type": "user",
                "date": message["date"] - 3600,
                "sender_user": {
                    "id": forward_from_user_id,
                    "is_bot": False,
                    "first_name": FORWARDED_FIRST_NAME,
                },
            }
        if via_bot:
            message["via_bot"] = dict(INLINE_BOT)
        if sender_chat_id is not None:
            message["sender_chat"] = self._sender_chat(message["chat"], sender_chat_id)
        return self.push({"message": message})

    def channel_post(self, chat_id: int, text: str) -> int:
        """Queue a "channel_post" update (no sender; the channel is the sender_chat)."""
        chat = {"id": chat_id, "type": "channel", "title": CHANNEL_TITLE}
        message = {
            "message_id": self._next_message_id(chat_id),
            "date": self._unix(None),
            "chat": chat,
            "sender_chat": dict(chat),
            "text": text,
        }
        return self.push({"channel_post": message})

    def edited(self, user_id: int, text: str, *, message_id: int | None = None) -> int:
        """Queue an "edited_message" update of the chat's last inbound message (or a new one)."""
        message = self._new_message(user_id, message_id=message_id or self._last_inbound(user_id))
        message["edit_date"] = message["date"]
        message["date"] = message["date"] - 60
        message["text"] = text
        return self.push({"edited_message": message})

    def photo(
        self,
        user_id: int,
        *,
        caption: str = "",
        content: bytes = DEFAULT_JPEG,
        file_size: int | None = None,
    ) -> int:
        """Queue a message with three photo sizes; the largest one downloads as ``content``."""
        declared = len(content) if file_size is None else file_size
        sizes = []
        for width, height, share in ((90, 67, 64), (320, 240, 8), (1280, 960, 1)):
            size = max(1, declared // share)
            body = content if share == 1 else content[: max(1, len(content) // share)]
            registered = self._register(body, "photos", ".jpg", size)
            sizes.append(
                {
                    "file_id": registered.file_id,
                    "file_unique_id": registered.file_unique_id,
                    "file_size": size,
                    "width": width,
                    "height": height,
                }
            )
        message = self._new_message(user_id)
        message["photo"] = sizes
        if caption:
            message["caption"] = caption
        return self.push({"message": message})

    def document(
        self,
        user_id: int,
        *,
        file_name: str,
        mime_type: str,
        content: bytes,
        caption: str = "",
        file_size: int | None = None,
    ) -> int:
        """Queue a message carrying one document that downloads as ``content``."""
        size = len(content) if file_size is None else file_size
        suffix = PurePosixPath(file_name).suffix.lower() or ".bin"
        registered = self._register(content, "documents", suffix, size)
        message = self._new_message(user_id)
        message["document"] = {
            "file_name": file_name,
            "mime_type": mime_type,
            "file_id": registered.file_id,
            "file_unique_id": registered.file_unique_id,
            "file_size": size,
        }
        if caption:
            message["caption"] = caption
        return self.push({"message": message})

    def sticker(self, user_id: int) -> int:
        """Queue a message with only a sticker."""
        registered = self._register(b"RIFF\x00\x00\x00\x00WEBP", "stickers", ".webp", 12)
        message = self._new_message(user_id)
        message["sticker"] = {
            "file_id": registered.file_id,
            "file_unique_id": registered.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "🙂",
            "set_name": "mesa_prueba",
            "file_size": registered.file_size,
        }
        return self.push({"message": message})

    def voice(self, user_id: int) -> int:
        """Queue a message with only a voice note."""
        registered = self._register(b"OggS\x00\x02", "voice", ".oga", 6)
        message = self._new_message(user_id)
        message["voice"] = {
            "file_id": registered.file_id,
            "file_unique_id": registered.file_unique_id,
            "duration": 3,
            "mime_type": "audio/ogg",
            "file_size": registered.file_size,
        }
        return self.push({"message": message})

    # -- Inspection ------------------------------------------------------------------------

    def pending_updates(self) -> list[JSONDict]:
        """The queued updates nobody has confirmed yet, oldest first."""
        return copy.deepcopy(self._updates)

    def raw(self, update_id: int) -> JSONDict:
        """The raw JSON of any update ever queued, confirmed or not."""
        return copy.deepcopy(self._all_updates[update_id])

    def sent_to(self, chat_id: int) -> list[str]:
        """The texts sent to ``chat_id``, in order."""
        return [message.text for message in self.sent if message.chat_id == chat_id]

    def methods(self) -> list[str]:
        """The names of the methods called, in order."""
        return [name for name, _ in self.calls]

    @property
    def bot_user(self) -> JSONDict:
        """The bot as the User object found in messages it sends."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Mesa Bot",
            "username": self.username,
        }

    # -- Methods ---------------------------------------------------------------------------

    def _handlers(self) -> dict[str, Callable[[JSONDict], Any]]:
        """Implemented Bot API methods by lower-case name."""
        return {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "getfile": self._get_file,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
        }

    def _get_me(self, params: JSONDict) -> JSONDict:
        """getMe: the bot's User object with the getMe-only capability fields."""
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        """getUpdates: confirm by offset, then return the oldest unconfirmed updates."""
        timeout = params.get("timeout")
        self.poll_timeouts.append(None if timeout is None else _as_int(timeout, "timeout"))
        if params.get("allowed_updates") is not None:
            allowed = params["allowed_updates"]
            if not isinstance(allowed, list):
                raise _ApiError(400, "Bad Request: can't parse allowed updates")
            self.allowed_updates = [str(item) for item in allowed]
        limit = _as_int(params.get("limit", 100), "limit")
        limit = min(max(limit, 1), 100)
        offset = params.get("offset")
        offset = None if offset is None else _as_int(offset, "offset")
        if offset is not None and offset < 0:
            kept = self._updates[offset:]
            self._confirm(int(kept[0]["update_id"]) if kept else self._next_update_id)
        elif offset:
            self._confirm(offset)
        return copy.deepcopy(self._updates[:limit])

    def _send_message(self, params: JSONDict) -> JSONDict:
        """sendMessage: record the message and return it as a Message object."""
        if "chat_id" not in params:
            raise _ApiError(400, "Bad Request: chat_id is empty")
        chat_id = params["chat_id"]
        if isinstance(chat_id, str) and not re.fullmatch(r"-?\d+", chat_id):
            raise _ApiError(400, "Bad Request: chat not found")
        chat_id = _as_int(chat_id, "chat_id")
        if chat_id in self._missing_chats:
            raise _ApiError(400, "Bad Request: chat not found")
        text = str(params.get("text") or "")
        if not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if _utf16_len(text) > MAX_TEXT_LENGTH:
            raise _ApiError(400, "Bad Request: message is too long")
        reply_to, reply_chat, allow_missing = self._reply_target(params, chat_id)
        replied = self._messages.get((reply_chat, reply_to)) if reply_to is not None else None
        if reply_to is not None and replied is None and not allow_missing:
            raise _ApiError(400, "Bad Request: message to be replied not found")
        now = self.clock()
        message: JSONDict = {
            "message_id": self._next_message_id(chat_id),
            "from": self.bot_user,
            "date": int(now.timestamp()),
            "chat": copy.deepcopy(self._chats.get(chat_id, {"id": chat_id, "type": "private"})),
            "text": text,
        }
        if replied is not None:
            message["reply_to_message"] = {
                key: value for key, value in replied.items() if key != "reply_to_message"
            }
        self._messages[(chat_id, message["message_id"])] = message
        self.sent.append(
            SentMessage(
                message_id=message["message_id"],
                chat_id=chat_id,
                text=text,
                reply_to_message_id=reply_to if replied is not None else None,
                params=copy.deepcopy(params),
                at=now,
            )
        )
        return copy.deepcopy(message)

    def _get_file(self, params: JSONDict) -> JSONDict:
        """getFile: the File object whose file_path the download URL serves."""
        registered = self.files.get(str(params.get("file_id") or ""))
        if registered is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        if registered.file_size > MAX_DOWNLOAD_SIZE:
            raise _ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": registered.file_id,
            "file_unique_id": registered.file_unique_id,
            "file_size": registered.file_size,
            "file_path": registered.file_path,
        }

    def _delete_webhook(self, params: JSONDict) -> bool:
        """deleteWebhook: no webhook is ever set; may drop the pending updates."""
        if _as_bool(params.get("drop_pending_updates", False)):
            self._confirm(self._next_update_id)
        return True

    def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        """getWebhookInfo: the empty WebhookInfo of a bot that polls."""
        return {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    # -- Internals -------------------------------------------------------------------------

    def _download(self, token: str, file_path: str) -> tuple[int, bytes]:
        """GET /file/bot<token>/<file_path>: the raw bytes, or 404."""
        self.downloads.append(file_path)
        if token != self.token:
            return self._bad_token(token)
        fault = self._take_fault("download")
        if fault is not None:
            return self._raise_or_answer(fault)
        for registered in self.files.values():
            if registered.file_path == file_path:
                return HTTPStatus.OK, registered.content
        return HTTPStatus.NOT_FOUND, _error_body(404, "Not Found")

    def _bad_token(self, token: str) -> tuple[int, bytes]:
        """401 for a well-formed token Telegram does not know, 404 for a malformed one."""
        if _WELL_FORMED_TOKEN.match(token):
            return HTTPStatus.UNAUTHORIZED, _error_body(401, "Unauthorized")
        return HTTPStatus.NOT_FOUND, _error_body(404, "Not Found")

    def _take_fault(self, name: str) -> _Fault | None:
        """The next queued fault for ``name``, consumed."""
        queue = self._faults.get(name.lower())
        return queue.popleft() if queue else None

    def _raise_or_answer(self, fault: _Fault) -> tuple[int, bytes]:
        """Raise a transport failure, or build the documented error answer."""
        if fault.kind == "network":
            raise NetworkError("httpx.ConnectError: [Errno 111] Connection refused")
        if fault.kind == "timeout":
            raise TimedOut
        answers: dict[str, tuple[int, str]] = {
            "retry_after": (429, f"Too Many Requests: retry after {fault.retry_after}"),
            "server": (502, "Bad Gateway"),
            "unauthorized": (401, "Unauthorized"),
            "forbidden": (403, "Forbidden: bot was blocked by the user"),
            "conflict": (
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            ),
        }
        status, description = answers[fault.kind]
        parameters = {"retry_after": fault.retry_after} if fault.kind == "retry_after" else None
        return status, _error_body(status, description, parameters)

    def _normalise(self, params: dict[str, Any]) -> JSONDict:
        """A copy of the parameters with JSON-encoded objects and arrays decoded."""
        result: JSONDict = {}
        for key, value in params.items():
            if key in NESTED_PARAMS and isinstance(value, str):
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            result[key] = copy.deepcopy(value)
        return result

    def _reply_target(self, params: JSONDict, chat_id: int) -> tuple[int | None, int, bool]:
        """The replied message id, its chat and whether a missing one is tolerated."""
        allow_missing = _as_bool(params.get("allow_sending_without_reply", False))
        reply = params.get("reply_parameters")
        if isinstance(reply, dict) and reply.get("message_id") is not None:
            allow_missing = allow_missing or _as_bool(
                reply.get("allow_sending_without_reply", False)
            )
            reply_chat = reply.get("chat_id", chat_id)
            if isinstance(reply_chat, str) and not re.fullmatch(r"-?\d+", reply_chat):
                reply_chat = chat_id
            return (
                _as_int(reply["message_id"], "message_id"),
                _as_int(reply_chat, "chat_id"),
                allow_missing,
            )
        if params.get("reply_to_message_id") is not None:
            return _as_int(params["reply_to_message_id"], "message_id"), chat_id, allow_missing
        return None, chat_id, allow_missing

    def _confirm(self, offset: int) -> None:
        """Forget every update whose id is below ``offset``."""
        self.confirmed_offset = max(self.confirmed_offset, offset)
        self._updates = [u for u in self._updates if int(u["update_id"]) >= self.confirmed_offset]

    def _allowed(self, update: JSONDict) -> bool:
        """Whether the current allowed_updates setting lets this update be queued."""
        kind = _update_type(update)
        if not self.allowed_updates:
            return kind not in OPT_IN_UPDATES
        return kind in self.allowed_updates

    def _unix(self, date: datetime | None) -> int:
        """A datetime (the clock's now when None) as unix seconds."""
        moment = self.clock() if date is None else date
        if moment.tzinfo is None:
            raise ValueError("dates must be timezone-aware")
        return int(moment.timestamp())

    def _next_message_id(self, chat_id: int) -> int:
        """The next message id in ``chat_id``, shared by inbound and sent messages."""
        number = self._last_message_id.get(chat_id, FIRST_MESSAGE_ID - 1) + 1
        self._last_message_id[chat_id] = number
        return number

    def _last_inbound(self, chat_id: int) -> int | None:
        """The id of the latest message a user (not the bot) sent in ``chat_id``."""
        ids = [
            message_id
            for (chat, message_id), message in self._messages.items()
            if chat == chat_id and message.get("from", {}).get("id") != self.bot_id
        ]
        return max(ids, default=None)

    def _remember_message(self, message: JSONDict) -> None:
        """Track a message's chat and id so sent ids never collide and replies resolve."""
        chat = message.get("chat")
        message_id = message.get("message_id")
        if not isinstance(chat, dict) or not isinstance(message_id, int):
            return
        chat_id = chat.get("id")
        if not isinstance(chat_id, int):
            return
        self._chats.setdefault(chat_id, copy.deepcopy(chat))
        self._messages[(chat_id, message_id)] = copy.deepcopy(message)
        last = self._last_message_id.get(chat_id, FIRST_MESSAGE_ID - 1)
        self._last_message_id[chat_id] = max(last, message_id)

    def _new_message(
        self,
        user_id: int,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        date: datetime | None = None,
        first_name: str = "Ana",
        username: str | None = None,
        is_bot: bool = False,
        message_id: int | None = None,
    ) -> JSONDict:
        """The common fields of a message a user sends: id, sender, chat and date."""
        sender: JSONDict = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
        if username is not None:
            sender["username"] = username
        if not is_bot:
            sender["language_code"] = "es"
        chat_id = user_id if chat_id is None else chat_id
        if chat_type == "private":
            chat: JSONDict = {"id": chat_id, "type": "private", "first_name": first_name}
            if username is not None:
                chat["username"] = username
        elif chat_type == "channel":
            chat = {"id": chat_id, "type": "channel", "title": CHANNEL_TITLE}
        else:
            chat = {"id": chat_id, "type": chat_type, "title": GROUP_TITLE}
        return {
            "message_id": message_id or self._next_message_id(chat_id),
            "from": sender,
            "chat": chat,
            "date": self._unix(date),
        }

    def _replied(self, chat: JSONDict, message_id: int) -> JSONDict:
        """The reply_to_message for a reply to the bot's message ``message_id`` in ``chat``."""
        known = self._messages.get((chat["id"], message_id))
        if known is not None and known.get("from", {}).get("id") == self.bot_id:
            return {key: value for key, value in known.items() if key != "reply_to_message"}
        return {
            "message_id": message_id,
            "from": self.bot_user,
            "chat": dict(chat),
            "date": self._unix(None) - 60,
        }

    def _sender_chat(self, chat: JSONDict, sender_chat_id: int) -> JSONDict:
        """The chat a message is sent on behalf of: the group itself or a channel."""
        if sender_chat_id == chat["id"]:
            return dict(chat)
        return {"id": sender_chat_id, "type": "channel", "title": CHANNEL_TITLE}

    def _register(self, content: bytes, folder: str, suffix: str, size: int) -> FakeFile:
        """Store a file for getFile and downloads under fresh opaque ids."""
        number = next(self._file_numbers)
        registered = FakeFile(
            file_id=f"BQACAgEAAxkBAAI{number:06d}{folder[:3].upper()}fake",
            file_unique_id=f"AgAD{number:06d}",
            file_path=f"{folder}/file_{number}{suffix}",
            content=content,
            file_size=size,
        )
        self.files[registered.file_id] = registered
        return registered
