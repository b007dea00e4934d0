"""The fake Bot API behaves as documented when driven through python-telegram-bot itself."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from telegram import Bot, Message, MessageEntity, MessageOriginUser, Update
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter
from telegram.warnings import PTBDeprecationWarning

from tests.telegram_fake import GROUP_ANONYMOUS_BOT_ID, FakeTelegram

T = TypeVar("T")

TOKEN = "123456:TEST"
NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
USER = 700111222
OTHER = 700333444
GROUP = -1001234567890
PARSER = Bot(TOKEN, request=FakeTelegram(), get_updates_request=FakeTelegram())  # no HTTP client


def run(factory: Callable[[Bot], Awaitable[T]], fake: FakeTelegram, token: str = TOKEN) -> T:
    """Run ``factory(bot)`` against the fake with a fresh Bot, initialized and shut down."""

    async def main() -> T:
        """Drive one Bot inside its own event loop."""
        async with Bot(token, request=fake, get_updates_request=fake) as bot:
            return await factory(bot)

    return asyncio.run(main())


def parsed(fake: FakeTelegram, update_id: int) -> Update:
    """The queued raw update as python-telegram-bot parses it."""
    update = Update.de_json(fake.raw(update_id), PARSER)
    assert update is not None
    return update


def message_of(fake: FakeTelegram, update_id: int) -> Message:
    """The message carried by a queued update."""
    message = parsed(fake, update_id).message
    assert message is not None
    return message


@pytest.fixture
def fake() -> FakeTelegram:
    """A fake server with a fixed clock."""
    return FakeTelegram(clock=lambda: NOW)


# -- getMe and the request lifecycle -----------------------------------------------------------


def test_bot_initializes_and_knows_itself(fake: FakeTelegram) -> None:
    async def scenario(bot: Bot) -> tuple[str, bool, bool | None, int]:
        me = await bot.get_me()
        return bot.username, me.is_bot, me.can_join_groups, bot.id

    username, is_bot, can_join_groups, bot_id = run(scenario, fake)
    assert (username, is_bot, can_join_groups, bot_id) == ("mesa_ayuda_bot", True, True, 123456)
    assert fake.methods() == ["getMe", "getMe"]  # Bot.initialize calls getMe itself
    assert fake.initialize_calls == 2  # once as request, once as get_updates_request
    assert fake.shutdown_calls == 2
    assert fake.read_timeout is None


def test_a_well_formed_unknown_token_is_401_and_a_malformed_one_404() -> None:
    fake = FakeTelegram()
    status, body = asyncio.run(fake.do_request("https://api.telegram.org/bot9:ZZ/getMe", "POST"))
    assert (status, json.loads(body)) == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    status, _ = asyncio.run(fake.do_request("https://api.telegram.org/botnonsense/getMe", "POST"))
    assert status == 404
    for token in ("999:WRONG", "nonsense"):
        with pytest.raises(InvalidToken, match="rejected by the server"):
            run(lambda bot: bot.get_me(), fake, token=token)


def test_an_unimplemented_method_is_400_method_not_found_and_recorded(
    fake: FakeTelegram,
) -> None:
    with pytest.raises(BadRequest) as caught:
        run(lambda bot: bot.send_chat_action(USER, "typing"), fake)
    assert caught.value.message == "Method not found"  # PTB strips "Bad Request: "
    assert fake.calls[-1] == ("sendChatAction", {"chat_id": USER, "action": "typing"})


def test_method_names_are_case_insensitive(fake: FakeTelegram) -> None:
    status, body = asyncio.run(
        fake.do_request(f"https://api.telegram.org/bot{TOKEN}/GETME", "POST")
    )
    assert status == 200
    assert json.loads(body)["result"]["username"] == "mesa_ayuda_bot"


def test_webhook_methods_and_dropping_pending_updates(fake: FakeTelegram) -> None:
    fake.text(USER, "hola")
    fake.text(USER, "otra vez")

    async def scenario(bot: Bot) -> tuple[int, int, bool]:
        before = (await bot.get_webhook_info()).pending_update_count
        dropped = await bot.delete_webhook(drop_pending_updates=True)
        after = (await bot.get_webhook_info()).pending_update_count
        return before, after, dropped

    assert run(scenario, fake) == (2, 0, True)
    assert fake.pending_updates() == []


# -- getUpdates --------------------------------------------------------------------------------


def test_get_updates_confirms_by_offset_oldest_first(fake: FakeTelegram) -> None:
    first, second, third = (fake.text(USER, f"mensaje {n}") for n in range(3))
    assert (second, third) == (first + 1, first + 2)

    async def scenario(bot: Bot) -> list[list[int]]:
        seen = [[u.update_id for u in await bot.get_updates()]]
        seen.append([u.update_id for u in await bot.get_updates()])  # nothing confirmed yet
        seen.append([u.update_id for u in await bot.get_updates(offset=second)])
        seen.append([u.update_id for u in await bot.get_updates(offset=first)])  # forgotten
        seen.append([u.update_id for u in await bot.get_updates(offset=third + 1, timeout=30)])
        return seen

    assert run(scenario, fake) == [
        [first, second, third],
        [first, second, third],
        [second, third],
        [second, third],
        [],
    ]
    assert fake.confirmed_offset == third + 1
    assert fake.pending_updates() == []
    assert fake.poll_timeouts == [None, None, None, None, 30]


def test_get_updates_limit_and_timeout_do_not_wait(fake: FakeTelegram) -> None:
    ids = [fake.text(USER, str(n)) for n in range(5)]

    async def scenario(bot: Bot) -> tuple[list[int], list[int]]:
        two = [u.update_id for u in await bot.get_updates(limit=2, timeout=timedelta(seconds=50))]
        rest = [u.update_id for u in await bot.get_updates(offset=two[-1] + 1)]
        return two, rest

    assert run(scenario, fake) == (ids[:2], ids[2:])
    assert fake.poll_timeouts == [50, None]
    assert fake.calls[1] == ("getUpdates", {"limit": 2, "timeout": 50})


def test_negative_offset_returns_the_last_updates_and_forgets_the_rest(
    fake: FakeTelegram,
) -> None:
    ids = [fake.text(USER, str(n)) for n in range(4)]

    async def scenario(bot: Bot) -> tuple[list[int], list[int]]:
        last = [u.update_id for u in await bot.get_updates(offset=-1)]
        again = [u.update_id for u in await bot.get_updates()]
        return last, again

    assert run(scenario, fake) == ([ids[-1]], [ids[-1]])
    assert fake.confirmed_offset == ids[-1]


def test_allowed_updates_is_kept_and_opt_in_types_are_not_queued(fake: FakeTelegram) -> None:
    reaction = {
        "message_reaction": {
            "chat": {"id": USER, "type": "private", "first_name": "Ana"},
            "message_id": 1000,
            "date": 1767312000,
            "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": "👍"}],
        }
    }
    fake.push(reaction)
    assert fake.pending_updates() == []  # not sent unless asked for
    kept = fake.edited(USER, "corregido")
    run(lambda bot: bot.get_updates(allowed_updates=["message"]), fake)
    assert fake.allowed_updates == ["message"]
    fake.edited(USER, "otra corrección")  # no longer allowed
    assert [u["update_id"] for u in fake.pending_updates()] == [kept]


def test_push_keeps_an_explicit_update_id_and_numbers_the_next(fake: FakeTelegram) -> None:
    raw = {
        "update_id": 900,
        "message": {
            "message_id": 1500,
            "date": 1767312000,
            "chat": {"id": USER, "type": "private", "first_name": "Ana"},
            "from": {"id": USER, "is_bot": False, "first_name": "Ana"},
            "text": "hola",
        },
    }
    fake.confirmed_offset = 0
    assert fake.push(raw) == 900
    assert fake.text(USER, "x") >= 901
    assert message_of(fake, fake.text(USER, "y")).message_id == 1502  # after the pushed 1500


# -- Inbound update shapes ---------------------------------------------------------------------


def test_a_private_text_parses(fake: FakeTelegram) -> None:
    message = message_of(fake, fake.text(USER, "hola mesa", username="ana_lopez"))
    assert message.text == "hola mesa"
    assert message.message_id == 1000
    assert message.date == NOW
    assert message.entities == ()
    assert message.chat.type == "private"
    assert message.chat.id == USER
    assert message.from_user is not None
    assert (message.from_user.id, message.from_user.is_bot) == (USER, False)
    assert message.from_user.username == "ana_lopez"


def test_a_command_gets_a_bot_command_entity(fake: FakeTelegram) -> None:
    message = message_of(fake, fake.text(USER, "/vincular 123456"))
    assert message.entities == (MessageEntity(MessageEntity.BOT_COMMAND, 0, 9),)
    assert message.parse_entities([MessageEntity.BOT_COMMAND]) == {message.entities[0]: "/vincular"}


@pytest.mark.parametrize(
    ("text", "token", "utf16_length"),
    [
        ("/caso 12 🙂 ñ", "/caso", 5),
        ("/caso@mesa_ayuda_bot 12", "/caso@mesa_ayuda_bot", 20),
        ("/caso🙂 ñ", "/caso🙂", 7),  # the emoji is two UTF-16 code units
        ("/ñandú\tx", "/ñandú", 6),
    ],
)
def test_a_command_entity_is_measured_in_utf16(
    fake: FakeTelegram, text: str, token: str, utf16_length: int
) -> None:
    message = message_of(fake, fake.text(USER, text))
    (entity,) = message.entities
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, utf16_length)
    assert message.parse_entity(entity) == token
    assert message.text == text


def test_a_lone_slash_is_plain_text(fake: FakeTelegram) -> None:
    assert message_of(fake, fake.text(USER, "/ hola")).entities == ()


def test_a_group_message(fake: FakeTelegram) -> None:
    message = message_of(fake, fake.text(USER, "hola", chat_id=GROUP, chat_type="supergroup"))
    assert (message.chat.id, message.chat.type, message.chat.title) == (
        GROUP,
        "supergroup",
        "Grupo de prueba",
    )
    assert message.from_user is not None
    assert message.from_user.id == USER


def test_forward_via_bot_and_sender_chat(fake: FakeTelegram) -> None:
    forwarded = message_of(fake, fake.text(USER, "/vincular 1", forward_from_user_id=OTHER))
    assert isinstance(forwarded.forward_origin, MessageOriginUser)
    assert forwarded.forward_origin.sender_user.id == OTHER
    assert forwarded.forward_origin.date == NOW - timedelta(hours=1)

    via = message_of(fake, fake.text(USER, "algo", via_bot=True))
    assert via.via_bot is not None
    assert via.via_bot.is_bot

    anonymous = message_of(
        fake,
        fake.text(
            GROUP_ANONYMOUS_BOT_ID,
            "soy admin",
            chat_id=GROUP,
            chat_type="supergroup",
            sender_chat_id=GROUP,
            is_bot=True,
            first_name="Group",
            username="GroupAnonymousBot",
        ),
    )
    assert anonymous.sender_chat is not None
    assert anonymous.sender_chat.id == GROUP
    assert anonymous.sender_chat.type == "supergroup"
    channel = message_of(fake, fake.text(USER, "x", chat_id=GROUP, sender_chat_id=-100777))
    assert channel.sender_chat is not None
    assert channel.sender_chat.type == "channel"


def test_a_reply_to_the_bots_message(fake: FakeTelegram) -> None:
    sent = run(lambda bot: bot.send_message(USER, "¿Cuál es tu correo?"), fake)
    message = message_of(fake, fake.text(USER, "ana@example.com", reply_to_message_id=sent.id))
    assert message.reply_to_message is not None
    assert message.reply_to_message.message_id == sent.message_id
    assert message.reply_to_message.text == "¿Cuál es tu correo?"
    assert message.reply_to_message.from_user is not None
    assert message.reply_to_message.from_user.id == 123456

    unknown = message_of(fake, fake.text(USER, "y", reply_to_message_id=42))
    assert unknown.reply_to_message is not None
    assert unknown.reply_to_message.from_user is not None
    assert unknown.reply_to_message.from_user.username == "mesa_ayuda_bot"
    assert unknown.reply_to_message.chat.id == USER


def test_a_custom_date_is_unix_seconds(fake: FakeTelegram) -> None:
    when = datetime(2026, 1, 2, 9, 15, 30, 999000, tzinfo=UTC)
    update_id = fake.text(USER, "x", date=when)
    assert fake.raw(update_id)["message"]["date"] == 1767345330
    assert message_of(fake, update_id).date == when.replace(microsecond=0)


def test_channel_post_and_edited_message(fake: FakeTelegram) -> None:
    post = parsed(fake, fake.channel_post(-100555, "aviso"))
    assert post.channel_post is not None
    assert post.channel_post.chat.type == "channel"
    assert post.channel_post.from_user is None

    original = message_of(fake, fake.text(USER, "hola"))
    edit = parsed(fake, fake.edited(USER, "hola, corregido"))
    assert edit.message is None
    assert edit.edited_message is not None
    assert edit.edited_message.message_id == original.message_id
    assert edit.edited_message.edit_date == NOW


def test_photo_has_three_sizes_and_the_largest_downloads(fake: FakeTelegram) -> None:
    content = b"\xff\xd8" + bytes(range(256)) * 8 + b"\xff\xd9"
    message = message_of(fake, fake.photo(USER, caption="pantalla", content=content))
    assert len(message.photo) == 3
    assert [p.width for p in message.photo] == sorted(p.width for p in message.photo)
    assert [p.file_size for p in message.photo] == sorted(p.file_size or 0 for p in message.photo)
    assert message.photo[-1].file_size == len(content)
    assert len({p.file_unique_id for p in message.photo}) == 3
    assert message.caption == "pantalla"

    async def scenario(bot: Bot) -> tuple[str | None, bytearray]:
        file = await bot.get_file(message.photo[-1].file_id)
        return file.file_path, await file.download_as_bytearray()

    path, data = run(scenario, fake)
    assert path is not None
    assert path.startswith(f"https://api.telegram.org/file/bot{TOKEN}/photos/file_")
    assert path.endswith(".jpg")
    assert bytes(data) == content
    assert fake.downloads[-1].startswith("photos/file_")


def test_document_get_file_and_download(fake: FakeTelegram) -> None:
    pdf = b"%PDF-1.7\n%fake\n"
    message = message_of(
        fake,
        fake.document(
            USER, file_name="Oficio 12.PDF", mime_type="application/pdf", content=pdf, caption="x"
        ),
    )
    document = message.document
    assert document is not None
    assert (document.file_name, document.mime_type, document.file_size) == (
        "Oficio 12.PDF",
        "application/pdf",
        len(pdf),
    )

    async def scenario(bot: Bot) -> tuple[Any, bytearray]:
        file = await bot.get_file(document.file_id)
        return file, await file.download_as_bytearray()

    file, data = run(scenario, fake)
    assert bytes(data) == pdf
    assert file.file_unique_id == document.file_unique_id
    assert file.file_size == len(pdf)
    assert fake.calls[-1] == ("getFile", {"file_id": document.file_id})
    registered = fake.files[document.file_id]
    assert registered.file_path.startswith("documents/file_")
    assert registered.file_path.endswith(".pdf")


def test_declared_size_overrides_and_big_files_cannot_be_fetched(fake: FakeTelegram) -> None:
    big = message_of(
        fake,
        fake.document(
            USER, file_name="a.zip", mime_type="application/zip", content=b"PK", file_size=25 << 20
        ),
    )
    assert big.document is not None
    assert big.document.file_size == 25 << 20
    with pytest.raises(BadRequest, match="File is too big"):
        run(lambda bot: bot.get_file(big.document.file_id), fake)  # type: ignore[union-attr]
    with pytest.raises(BadRequest, match="Invalid file_id"):
        run(lambda bot: bot.get_file("nope"), fake)


def test_an_unknown_file_path_is_404(fake: FakeTelegram) -> None:
    url = f"https://api.telegram.org/file/bot{TOKEN}/documents/file_99.pdf"
    status, body = asyncio.run(fake.do_request(url, "GET"))
    assert status == 404
    assert json.loads(body)["description"] == "Not Found"


def test_sticker_and_voice_carry_no_text(fake: FakeTelegram) -> None:
    sticker = message_of(fake, fake.sticker(USER))
    assert sticker.sticker is not None
    assert sticker.text is None
    voice = message_of(fake, fake.voice(USER))
    assert voice.voice is not None
    assert voice.voice.mime_type == "audio/ogg"
    assert voice.text is None


# -- sendMessage -------------------------------------------------------------------------------


def test_send_message_returns_a_message_with_increasing_ids(fake: FakeTelegram) -> None:
    inbound = message_of(fake, fake.text(USER, "hola"))

    async def scenario(bot: Bot) -> list[Message]:
        first = await bot.send_message(USER, "Hola, Ana", parse_mode="HTML")
        second = await bot.send_message(USER, "¿En qué te ayudo?", reply_to_message_id=1000)
        third = await bot.send_message(OTHER, "Otro chat", disable_notification=True)
        return [first, second, third]

    first, second, third = run(scenario, fake)
    assert inbound.message_id == 1000
    assert [m.message_id for m in (first, second)] == [1001, 1002]
    assert third.message_id == 1000  # numbered per chat
    assert first.from_user is not None
    assert first.from_user.id == 123456
    assert first.chat.id == USER
    assert first.date == NOW
    assert first.text == "Hola, Ana"
    assert second.reply_to_message is not None
    assert second.reply_to_message.text == "hola"
    assert [m.reply_to_message_id for m in fake.sent] == [None, 1000, None]
    assert fake.sent[0].params == {"chat_id": USER, "text": "Hola, Ana", "parse_mode": "HTML"}
    assert fake.sent[1].params["reply_parameters"] == {"message_id": 1000}  # PTB converts
    assert fake.sent[2].params["disable_notification"] is True
    assert fake.sent[0].at == NOW
    assert fake.sent_to(USER) == ["Hola, Ana", "¿En qué te ayudo?"]
    message_after = message_of(fake, fake.text(USER, "gracias"))
    assert message_after.message_id == 1003  # shared counter, never collides


def test_reply_parameters_may_arrive_as_json_strings(fake: FakeTelegram) -> None:
    fake.text(USER, "hola")
    data = RequestData(
        [
            RequestParameter("chat_id", str(USER), None),
            RequestParameter("text", "respuesta", None),
            RequestParameter("reply_parameters", '{"message_id": 1000}', None),
        ]
    )
    url = f"https://api.telegram.org/bot{TOKEN}/sendMessage"
    status, body = asyncio.run(fake.do_request(url, "POST", data))
    answer = json.loads(body)
    assert (status, answer["ok"]) == (200, True)
    assert answer["result"]["reply_to_message"]["message_id"] == 1000
    assert fake.sent[-1].reply_to_message_id == 1000
    assert fake.sent[-1].chat_id == USER


def test_replying_to_an_unknown_message_is_refused_unless_allowed(fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        run(lambda bot: bot.send_message(USER, "x", reply_to_message_id=5), fake)
    sent = run(
        lambda bot: bot.send_message(
            USER, "y", reply_to_message_id=5, allow_sending_without_reply=True
        ),
        fake,
    )
    assert sent.reply_to_message is None
    assert fake.sent_to(USER) == ["y"]
    assert fake.sent[-1].reply_to_message_id is None


def test_empty_and_too_long_texts_are_refused(fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="Message text is empty"):
        run(lambda bot: bot.send_message(USER, "  "), fake)
    with pytest.raises(BadRequest, match="Message is too long"):
        run(lambda bot: bot.send_message(USER, "🙂" * 2049), fake)  # 4098 UTF-16 units
    run(lambda bot: bot.send_message(USER, "🙂" * 2048), fake)
    assert len(fake.sent) == 1


def test_chat_not_found(fake: FakeTelegram) -> None:
    fake.chat_not_found(OTHER)
    with pytest.raises(BadRequest) as caught:
        run(lambda bot: bot.send_message(OTHER, "hola"), fake)
    assert caught.value.message == "Chat not found"
    assert fake.sent == []
    assert fake.methods()[-1] == "sendMessage"


# -- Faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        ("network", NetworkError, "httpx.ConnectError: [Errno 111] Connection refused"),
        ("timeout", TimedOut, "Timed out"),
        ("server", NetworkError, "Bad Gateway"),
        ("unauthorized", InvalidToken, "Unauthorized"),
        ("forbidden", Forbidden, "Forbidden: bot was blocked by the user"),
        (
            "conflict",
            Conflict,
            "Conflict: terminated by other getUpdates request; "
            "make sure that only one bot instance is running",
        ),
    ],
)
def test_each_fault_raises_the_matching_error(
    fake: FakeTelegram, kind: str, error: type[TelegramError], message: str
) -> None:
    fake.fail("sendMessage", kind)
    with pytest.raises(TelegramError) as caught:
        run(lambda bot: bot.send_message(USER, "hola"), fake)
    assert type(caught.value) is error
    assert caught.value.message == message
    assert fake.sent == []
    assert fake.methods() == ["getMe", "sendMessage"]
    run(lambda bot: bot.send_message(USER, "hola"), fake)  # the fault was consumed
    assert fake.sent_to(USER) == ["hola"]


def test_retry_after_is_an_int_with_a_deprecation_warning(
    fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PTB_TIMEDELTA", raising=False)
    fake.fail("sendMessage", "retry_after", retry_after=7)
    with pytest.warns(PTBDeprecationWarning), pytest.raises(RetryAfter) as caught:
        run(lambda bot: bot.send_message(USER, "hola"), fake)
    with pytest.warns(PTBDeprecationWarning, match="retry_after"):
        retry_after = caught.value.retry_after
    assert retry_after == 7
    assert isinstance(retry_after, int)
    assert fake.sent == []


def test_retry_after_is_a_timedelta_when_opted_in(
    fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake.fail("sendMessage", "retry_after", retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        run(lambda bot: bot.send_message(USER, "hola"), fake)
    assert caught.value.retry_after == timedelta(seconds=7)
    status, _ = asyncio.run(fake.do_request(f"https://api.telegram.org/bot{TOKEN}/getMe", "POST"))
    assert status == 200  # only sendMessage was failing


def test_the_429_body_is_the_documented_one(fake: FakeTelegram) -> None:
    fake.fail("getUpdates", "retry_after", retry_after=3)
    url = f"https://api.telegram.org/bot{TOKEN}/getUpdates"
    status, body = asyncio.run(fake.do_request(url, "POST"))
    assert status == 429
    assert json.loads(body) == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }


def test_faults_are_consumed_in_order_per_method(fake: FakeTelegram) -> None:
    fake.fail("getUpdates", "conflict")
    fake.fail("getUpdates", "server", times=2)
    fake.text(USER, "hola")

    async def scenario(bot: Bot) -> list[str]:
        outcomes = []
        for _ in range(4):
            try:
                outcomes.append(f"ok:{len(await bot.get_updates())}")
            except TelegramError as exc:
                outcomes.append(type(exc).__name__)
        return outcomes

    assert run(scenario, fake) == ["Conflict", "NetworkError", "NetworkError", "ok:1"]
    with pytest.raises(ValueError, match="unknown fault kind"):
        fake.fail("getMe", "meteor")


def test_a_download_can_fail_too(fake: FakeTelegram) -> None:
    message = message_of(fake, fake.photo(USER))
    fake.fail("download", "network")

    async def scenario(bot: Bot) -> bytearray:
        file = await bot.get_file(message.photo[-1].file_id)
        return await file.download_as_bytearray()

    with pytest.raises(NetworkError):
        run(scenario, fake)
    assert bytes(run(scenario, fake)).startswith(b"\xff\xd8")


# -- telegram.ext.Application ------------------------------------------------------------------


def test_an_application_processes_a_fake_update(fake: FakeTelegram) -> None:
    update_id = fake.text(USER, "/vincular 123456")
    seen: list[tuple[int, str | None]] = []

    async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Record the update and answer it."""
        assert update.effective_message is not None
        seen.append((update.update_id, update.effective_message.text))
        await context.bot.send_message(update.effective_message.chat_id, "Código recibido")

    async def main() -> None:
        """Build, initialize, feed one update and shut down."""
        app: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(TOKEN)
            .request(fake)
            .get_updates_request(fake)
            .updater(None)
            .build()
        )
        app.add_handler(TypeHandler(Update, callback))
        await app.initialize()
        await app.process_update(Update.de_json(fake.raw(update_id), app.bot))
        await app.shutdown()

    asyncio.run(main())
    assert seen == [(update_id, "/vincular 123456")]
    assert fake.sent_to(USER) == ["Código recibido"]
    assert fake.methods() == ["getMe", "sendMessage"]
    assert fake.shutdown_calls >= 1
