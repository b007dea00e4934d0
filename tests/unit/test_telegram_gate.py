"""The Telegram gate: the identity matrix, commands, media, and never raising."""

from __future__ import annotations

import copy
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import Bot, Update

from bot.channels.telegram_gate import ChatPerson, MediaRef, Verdict, judge
from bot.config import Config, load_config

ROOT = Path(__file__).resolve().parents[2]

SOFIA = 111111111  # first specialist, configured id
ROBERTO = 222222222  # first agent, configured id
ELENA_LINKED = 333333333  # linked to elena.torres@example.com (agent without an id)
GONE_LINKED = 444444444  # linked to an address no longer in config.toml
STRANGER = 555555555
DATE = 1767312000  # 2026-01-02 00:00:00 UTC

LINKED = {
    ELENA_LINKED: "elena.torres@example.com",
    GONE_LINKED: "ex.agente@example.com",
    SOFIA: "diego.hernandez@example.com",  # config ids win over links
}

BOT = Bot("123:ABC")


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The shipped config.toml with Telegram ids for the first specialist and agent."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    commented = "# telegram_id = 111111111"
    assert commented in text
    text = text.replace(commented, f"telegram_id = {SOFIA}", 1)
    clave = 'clave = "A123456"\n'
    assert clave in text
    text = text.replace(clave, f"{clave}telegram_id = {ROBERTO}\n", 1)
    path = tmp_path_factory.mktemp("gate") / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, {})


# --- payloads as Telegram sends them --------------------------------------------------------


def user(uid: int, first: str = "Sofía", username: str = "sofiar", **extra: Any) -> dict[str, Any]:
    """A `User` object."""
    return {
        "id": uid,
        "is_bot": False,
        "first_name": first,
        "username": username,
        "language_code": "es",
        **extra,
    }


def private_chat(uid: int, first: str = "Sofía", username: str = "sofiar") -> dict[str, Any]:
    """A private `Chat` with this user."""
    return {"id": uid, "type": "private", "first_name": first, "username": username}


def group_chat(kind: str = "group") -> dict[str, Any]:
    """A group or supergroup `Chat`."""
    return {
        "id": -1001234567890 if kind == "supergroup" else -4001234567,
        "type": kind,
        "title": "Mesa de Ayuda",
    }


def message(
    uid: int = SOFIA,
    text: str | None = "Hola, ¿cómo va el caso de Juan?",
    *,
    chat: dict[str, Any] | None = None,
    sender: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A `Message` from ``uid`` in its private chat; commands get their entity."""
    payload: dict[str, Any] = {
        "message_id": 42,
        "date": DATE,
        "chat": private_chat(uid) if chat is None else chat,
        "from": user(uid) if sender is None else sender,
    }
    if text is not None:
        payload["text"] = text
        if text.startswith("/"):
            token = text.split()[0]
            payload["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(token.encode("utf-16-le")) // 2}
            ]
    payload.update(extra)
    return payload


def update(kind: str = "message", update_id: int = 900000001, **body: Any) -> Update:
    """An `Update` carrying ``body`` under ``kind``, through de_json like polling does."""
    return Update.de_json({"update_id": update_id, kind: body}, BOT)


def run(
    config: Config, upd: Update, bot_username: str = "MesaBot", linked: dict[int, str] | None = None
) -> Verdict:
    """judge() with the test directory's links."""
    return judge(upd, config, LINKED if linked is None else linked, bot_username)


# --- the identity matrix ----------------------------------------------------------------------


def test_authorized_specialist_in_private_chat_is_accepted(config: Config) -> None:
    verdict = run(config, update(**message(SOFIA)))
    assert verdict == Verdict(
        action="accept",
        reason="private",
        update_id=900000001,
        user_id=SOFIA,
        chat_id=SOFIA,
        message_id=42,
        person=ChatPerson(
            role="specialist", email="sofia.ramirez@example.com", name="Sofía Ramírez"
        ),
        text="Hola, ¿cómo va el caso de Juan?",
        sent_at=datetime(2026, 1, 2, tzinfo=UTC),
    )
    assert verdict.sent_at is not None and verdict.sent_at.utcoffset() is not None


def test_authorized_agent_by_configured_id(config: Config) -> None:
    verdict = run(config, update(**message(ROBERTO, "Buenas tardes")))
    assert verdict.action == "accept"
    assert verdict.person == ChatPerson("agent", "roberto.sanchez@example.com", "Roberto Sánchez")


def test_same_username_another_id_is_a_stranger(config: Config) -> None:
    body = message(STRANGER, chat=private_chat(STRANGER), sender=user(STRANGER))
    verdict = run(config, update(**body))
    assert (verdict.action, verdict.reason, verdict.person) == ("refuse", "stranger", None)
    assert verdict.user_id == STRANGER
    assert verdict.text == "Hola, ¿cómo va el caso de Juan?"


@pytest.mark.parametrize("kind", ["group", "supergroup"])
def test_group_is_ignored_even_for_an_authorized_id(config: Config, kind: str) -> None:
    verdict = run(config, update(**message(SOFIA, "/casos", chat=group_chat(kind))))
    assert (verdict.action, verdict.reason) == ("ignore", kind)
    assert verdict.person is None and verdict.command == "" and verdict.text == ""


def test_channel_post_is_ignored(config: Config) -> None:
    channel = {"id": -1009876543210, "type": "channel", "title": "Avisos"}
    body: dict[str, Any] = {
        "message_id": 7,
        "date": DATE,
        "chat": channel,
        "sender_chat": channel,
        "text": "x",
    }
    verdict = run(config, update("channel_post", **body))
    assert (verdict.action, verdict.reason, verdict.chat_id) == ("ignore", "channel", channel["id"])


def test_channel_chat_inside_message_is_ignored(config: Config) -> None:
    channel = {"id": -1009876543210, "type": "channel", "title": "Avisos"}
    verdict = run(config, update(**message(SOFIA, chat=channel)))
    assert (verdict.action, verdict.reason) == ("ignore", "channel")


def test_via_bot_is_ignored(config: Config) -> None:
    via = {"id": 136817688, "is_bot": True, "first_name": "GIF", "username": "gif"}
    verdict = run(config, update(**message(SOFIA, "gatito", via_bot=via)))
    assert (verdict.action, verdict.reason) == ("ignore", "via_bot")


def test_anonymous_admin_is_ignored(config: Config) -> None:
    chat = group_chat("supergroup")
    anonymous = {
        "id": 1087968824,
        "is_bot": True,
        "first_name": "Group",
        "username": "GroupAnonymousBot",
    }
    body = message(SOFIA, "/casos", chat=chat, sender=anonymous, sender_chat=chat)
    verdict = run(config, update(**body))
    assert (verdict.action, verdict.reason) == ("ignore", "anonymous_admin")


def test_sender_chat_in_private_chat_is_ignored(config: Config) -> None:
    channel = {"id": -1009876543210, "type": "channel", "title": "Avisos"}
    verdict = run(config, update(**message(SOFIA, sender_chat=channel)))
    assert (verdict.action, verdict.reason) == ("ignore", "anonymous_admin")


def test_forwarded_command_from_specialist_is_data(config: Config) -> None:
    origin = {"type": "user", "date": DATE - 3600, "sender_user": user(STRANGER, "Pedro", "pedro")}
    verdict = run(config, update(**message(SOFIA, "/casos", forward_origin=origin)))
    assert (verdict.action, verdict.command, verdict.args) == ("accept", "", ())
    assert verdict.forwarded is True
    assert verdict.text == "/casos"


def test_stranger_is_refused(config: Config) -> None:
    body = message(
        STRANGER,
        "Hola",
        chat=private_chat(STRANGER, "Pedro", "pedro"),
        sender=user(STRANGER, "Pedro", "pedro"),
    )
    verdict = run(config, update(**body))
    assert (verdict.action, verdict.reason, verdict.person) == ("refuse", "stranger", None)
    assert verdict.command == "" and verdict.media == ()


def test_stranger_command_other_than_vincular_is_refused(config: Config) -> None:
    body = message(STRANGER, "/casos", chat=private_chat(STRANGER), sender=user(STRANGER))
    verdict = run(config, update(**body))
    assert (verdict.action, verdict.reason, verdict.command) == ("refuse", "stranger", "")


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ("/vincular", ()),
        ("/VINCULAR", ()),
        ("/vincular ana@example.com", ("ana@example.com",)),
        ("/vincular@MesaBot  482913 ", ("482913",)),
    ],
)
def test_stranger_vincular_is_a_link_request(
    config: Config, text: str, args: tuple[str, ...]
) -> None:
    body = message(STRANGER, text, chat=private_chat(STRANGER), sender=user(STRANGER))
    verdict = run(config, update(**body))
    assert (verdict.action, verdict.reason) == ("link", "link_request")
    assert (verdict.command, verdict.args, verdict.person) == ("vincular", args, None)


def test_stranger_forwarded_vincular_is_refused(config: Config) -> None:
    origin = {"type": "hidden_user", "date": DATE - 60, "sender_user_name": "Ana"}
    body = message(
        STRANGER,
        "/vincular 482913",
        chat=private_chat(STRANGER),
        sender=user(STRANGER),
        forward_origin=origin,
    )
    verdict = run(config, update(**body))
    assert (verdict.action, verdict.reason, verdict.command) == ("refuse", "stranger", "")
    assert verdict.forwarded is True


def test_linked_id_is_accepted_as_that_person(config: Config) -> None:
    body = message(
        ELENA_LINKED,
        "Hola",
        chat=private_chat(ELENA_LINKED, "Elena", "elet"),
        sender=user(ELENA_LINKED, "Elena", "elet"),
    )
    verdict = run(config, update(**body))
    assert verdict.action == "accept"
    assert verdict.person == ChatPerson("agent", "elena.torres@example.com", "Elena Torres")


def test_linked_email_compared_without_case_or_spaces(config: Config) -> None:
    body = message(ELENA_LINKED, chat=private_chat(ELENA_LINKED), sender=user(ELENA_LINKED))
    verdict = run(config, update(**body), linked={ELENA_LINKED: " Diego.Hernandez@Example.com "})
    assert verdict.person == ChatPerson(
        "specialist", "diego.hernandez@example.com", "Diego Hernández"
    )


def test_linked_id_no_longer_in_config_is_refused(config: Config) -> None:
    body = message(GONE_LINKED, chat=private_chat(GONE_LINKED), sender=user(GONE_LINKED))
    verdict = run(config, update(**body))
    assert (verdict.action, verdict.reason, verdict.person) == ("refuse", "stranger", None)


def test_configured_id_wins_over_a_link(config: Config) -> None:
    verdict = run(config, update(**message(SOFIA)))
    assert verdict.person is not None and verdict.person.email == "sofia.ramirez@example.com"


def test_odd_linked_values_are_not_links(config: Config) -> None:
    body = message(STRANGER, chat=private_chat(STRANGER), sender=user(STRANGER))
    for value in ("", "   ", None, 5):
        verdict = judge(update(**body), config, {STRANGER: value}, "MesaBot")  # type: ignore[dict-item]
        assert verdict.action == "refuse"


def test_edited_message_is_ignored(config: Config) -> None:
    body = message(SOFIA, "/casos", edit_date=DATE + 30)
    verdict = run(config, update("edited_message", **body))
    assert (verdict.action, verdict.reason, verdict.user_id) == ("ignore", "edited", SOFIA)
    assert verdict.person is None


def test_callback_query_is_ignored(config: Config) -> None:
    body: dict[str, Any] = {
        "id": "4382bfdwdsb323b2d9",
        "from": user(SOFIA),
        "chat_instance": "-1234",
        "data": "caso:17:cerrar",
        "message": message(SOFIA, "Caso 17"),
    }
    body["message"]["from"] = user(123, "Mesa Bot", "MesaBot", is_bot=True)
    verdict = run(config, update("callback_query", **body))
    assert (verdict.action, verdict.reason, verdict.user_id) == ("ignore", "no_message", SOFIA)


def test_bot_sender_is_ignored(config: Config) -> None:
    sender = user(SOFIA, is_bot=True)
    verdict = run(config, update(**message(SOFIA, sender=sender)))
    assert (verdict.action, verdict.reason) == ("ignore", "bot_sender")


def test_private_chat_of_someone_else_is_ignored(config: Config) -> None:
    verdict = run(config, update(**message(SOFIA, chat=private_chat(STRANGER))))
    assert (verdict.action, verdict.reason) == ("ignore", "chat_mismatch")


def test_no_sender_is_ignored(config: Config) -> None:
    body = message(SOFIA)
    del body["from"]
    verdict = run(config, update(**body))
    assert (verdict.action, verdict.reason, verdict.user_id) == ("ignore", "no_sender", None)


def test_service_message_is_ignored(config: Config) -> None:
    pinned = message(SOFIA, "Caso 17")
    verdict = run(config, update(**message(SOFIA, None, pinned_message=pinned)))
    assert (verdict.action, verdict.reason) == ("ignore", "service")


def test_my_chat_member_is_ignored(config: Config) -> None:
    member = {"status": "member", "user": user(123, "Mesa Bot", "MesaBot", is_bot=True)}
    body: dict[str, Any] = {
        "chat": private_chat(STRANGER),
        "from": user(STRANGER),
        "date": DATE,
        "old_chat_member": {**member, "status": "kicked", "until_date": 0},
        "new_chat_member": member,
    }
    verdict = run(config, update("my_chat_member", **body))
    assert (verdict.action, verdict.reason) == ("ignore", "no_message")


# --- commands ---------------------------------------------------------------------------------


def test_command_addressed_to_another_bot_is_data(config: Config) -> None:
    verdict = run(config, update(**message(SOFIA, "/casos@OtroBot")), bot_username="mesabot")
    assert (verdict.action, verdict.command, verdict.text) == ("accept", "", "/casos@OtroBot")


def test_command_addressed_to_this_bot(config: Config) -> None:
    verdict = run(config, update(**message(SOFIA, "/casos@MesaBot")), bot_username="mesabot")
    assert (verdict.action, verdict.command, verdict.args) == ("accept", "casos", ())


def test_addressed_command_without_knowing_our_name_is_data(config: Config) -> None:
    verdict = run(config, update(**message(SOFIA, "/casos@MesaBot")), bot_username="")
    assert verdict.command == ""


@pytest.mark.parametrize(
    ("text", "command", "args"),
    [
        ("/caso 17", "caso", ("17",)),
        ("/Tareas", "tareas", ()),
        ("/ayuda\nmás texto", "ayuda", ("más", "texto")),
        ("/start", "start", ()),
        ("/" + "a" * 32, "a" * 32, ()),
        ("/" + "a" * 33, "", ()),
        ("/casos-abiertos", "", ()),
        ("/cañón", "", ()),
        ("/", "", ()),
    ],
)
def test_command_parsing(config: Config, text: str, command: str, args: tuple[str, ...]) -> None:
    verdict = run(config, update(**message(SOFIA, text)))
    assert (verdict.action, verdict.command, verdict.args, verdict.text) == (
        "accept",
        command,
        args,
        text,
    )


def test_slash_without_entity_is_not_a_command(config: Config) -> None:
    body = message(SOFIA, "/casos")
    del body["entities"]
    assert run(config, update(**body)).command == ""


def test_entity_not_at_offset_zero_is_not_a_command(config: Config) -> None:
    body = message(SOFIA, "ver /casos")
    body["entities"] = [{"type": "bot_command", "offset": 4, "length": 6}]
    assert run(config, update(**body)).command == ""


def test_command_in_caption_is_data(config: Config) -> None:
    body = message(
        SOFIA,
        None,
        caption="/casos",
        caption_entities=[{"type": "bot_command", "offset": 0, "length": 6}],
        document=pdf(),
    )
    verdict = run(config, update(**body))
    assert (verdict.command, verdict.text) == ("", "/casos")


def test_reply_to_the_bot_is_kept(config: Config) -> None:
    ours = message(
        SOFIA,
        "Tarea 12: confirma el alta",
        message_id=40,
        sender=user(123, "Mesa Bot", "MesaBot", is_bot=True),
    )
    verdict = run(config, update(**message(SOFIA, "Listo", reply_to_message=ours)))
    assert verdict.reply_to_message_id == 40


def test_reply_to_own_message_is_not_a_task_reply(config: Config) -> None:
    own = message(SOFIA, "antes", message_id=41)
    verdict = run(config, update(**message(SOFIA, "Listo", reply_to_message=own)))
    assert verdict.reply_to_message_id is None


# --- media ------------------------------------------------------------------------------------


def photo_size(n: int, width: int, height: int, size: int | None) -> dict[str, Any]:
    """A `PhotoSize`."""
    payload: dict[str, Any] = {
        "file_id": f"AgACAgEAAxkBAAIB{n}",
        "file_unique_id": f"AQAD{n}",
        "width": width,
        "height": height,
    }
    if size is not None:
        payload["file_size"] = size
    return payload


def pdf() -> dict[str, Any]:
    """A PDF `Document`."""
    return {
        "file_name": "carta_renuncia.pdf",
        "mime_type": "application/pdf",
        "file_id": "BQACAgEAAxkBAAIC",
        "file_unique_id": "AgADPdf",
        "file_size": 184532,
    }


def test_photo_keeps_only_the_largest_size_and_the_caption(config: Config) -> None:
    sizes = [
        photo_size(1, 90, 67, 1402),
        photo_size(3, 1280, 960, 98211),
        photo_size(2, 320, 240, 17004),
    ]
    body = message(SOFIA, None, photo=sizes, caption="Pantallazo del error")
    verdict = run(config, update(**body))
    assert verdict.action == "accept"
    assert verdict.text == "Pantallazo del error"
    assert verdict.media == (
        MediaRef("photo", "AgACAgEAAxkBAAIB3", "AQAD3", "", "image/jpeg", 98211),
    )


def test_photo_without_sizes_in_bytes_uses_pixels(config: Config) -> None:
    sizes = [
        photo_size(1, 90, 67, 1402),
        photo_size(3, 1280, 960, None),
        photo_size(2, 320, 240, 17004),
    ]
    verdict = run(config, update(**message(SOFIA, None, photo=sizes)))
    assert [m.file_id for m in verdict.media] == ["AgACAgEAAxkBAAIB3"]
    assert verdict.media[0].file_size is None


def test_pdf_document(config: Config) -> None:
    verdict = run(config, update(**message(SOFIA, None, document=pdf())))
    assert verdict.action == "accept" and verdict.text == ""
    assert verdict.media == (
        MediaRef(
            "document",
            "BQACAgEAAxkBAAIC",
            "AgADPdf",
            "carta_renuncia.pdf",
            "application/pdf",
            184532,
        ),
    )


def test_sticker_is_accepted_without_media(config: Config) -> None:
    sticker = {
        "file_id": "CAACAgIAAxkBAAID",
        "file_unique_id": "AgADSt",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": "👍",
        "file_size": 23000,
    }
    verdict = run(config, update(**message(SOFIA, None, sticker=sticker)))
    assert (verdict.action, verdict.reason, verdict.text, verdict.media) == (
        "accept",
        "private",
        "",
        (),
    )


def test_stranger_media_is_not_carried(config: Config) -> None:
    body = message(
        STRANGER, None, chat=private_chat(STRANGER), sender=user(STRANGER), document=pdf()
    )
    verdict = run(config, update(**body))
    assert (verdict.action, verdict.media) == ("refuse", ())


# --- never raises -----------------------------------------------------------------------------

KEYS = [
    "update_id",
    "message",
    "edited_message",
    "channel_post",
    "callback_query",
    "message_id",
    "date",
    "chat",
    "from",
    "id",
    "type",
    "is_bot",
    "first_name",
    "username",
    "text",
    "caption",
    "entities",
    "offset",
    "length",
    "photo",
    "document",
    "file_id",
    "file_unique_id",
    "file_size",
    "width",
    "height",
    "file_name",
    "mime_type",
    "forward_origin",
    "sender_user",
    "via_bot",
    "sender_chat",
    "reply_to_message",
    "pinned_message",
    "sticker",
    "title",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.sampled_from(
        [
            "private",
            "group",
            "supergroup",
            "channel",
            "bot_command",
            "user",
            "/vincular",
            "/casos@MesaBot",
            "",
            "\ud800",
            "🙂/x",
        ]
    ),
    st.text(max_size=12),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=30,
)
PATHS = [
    ("message",),
    ("message", "chat"),
    ("message", "chat", "id"),
    ("message", "chat", "type"),
    ("message", "from"),
    ("message", "from", "id"),
    ("message", "from", "is_bot"),
    ("message", "text"),
    ("message", "entities"),
    ("message", "date"),
    ("message", "photo"),
    ("message", "document"),
    ("message", "forward_origin"),
    ("message", "via_bot"),
    ("message", "sender_chat"),
    ("message", "reply_to_message"),
    ("message", "caption"),
    ("message", "message_id"),
    ("update_id",),
]


def _judge_whatever(config: Config, data: object) -> None:
    """de_json may refuse the data; whatever it accepts, judge must answer without error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            upd = Update.de_json(data, BOT)  # type: ignore[arg-type]
    except Exception:
        return
    verdict = judge(upd, config, LINKED, "MesaBot")
    assert isinstance(verdict, Verdict)
    assert verdict.reason != "error"
    if verdict.action == "accept":
        assert verdict.person is not None and verdict.reason == "private"
        assert verdict.user_id in (SOFIA, ROBERTO, ELENA_LINKED)
    else:
        assert verdict.person is None and verdict.media == ()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.dictionaries(st.sampled_from(KEYS), JSON, max_size=6))
def test_random_dicts_never_raise(config: Config, data: dict[str, Any]) -> None:
    _judge_whatever(config, data)


def _realistic() -> dict[str, Any]:
    """A rich, valid update to mutate."""
    sizes = [photo_size(1, 90, 67, 1402), photo_size(2, 320, 240, 17004)]
    return {
        "update_id": 1,
        "message": message(
            SOFIA,
            "/caso 17",
            photo=sizes,
            document=pdf(),
            caption="c",
            reply_to_message=message(SOFIA, "x", sender=user(1, is_bot=True)),
        ),
    }


def _set(data: dict[str, Any], path: tuple[str, ...], value: object) -> dict[str, Any]:
    """A copy of ``data`` with ``value`` at ``path`` (intermediate non-dicts are replaced)."""
    data = copy.deepcopy(data)
    node = data
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
    return data


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(st.tuples(st.sampled_from(PATHS), JSON), min_size=1, max_size=3))
def test_mutated_updates_never_raise(
    config: Config, mutations: list[tuple[tuple[str, ...], object]]
) -> None:
    data = _realistic()
    for path, value in mutations:
        data = _set(data, path, value)
    _judge_whatever(config, data)


def test_lone_surrogate_in_command_is_data(config: Config) -> None:
    body = message(SOFIA, None)
    body["text"] = "/casos\ud800"
    body["entities"] = [{"type": "bot_command", "offset": 0, "length": 7}]
    verdict = run(config, update(**body))
    assert (verdict.action, verdict.command, verdict.text) == ("accept", "", "/casos\ud800")


def test_not_an_update_at_all(config: Config) -> None:
    verdict = judge(object(), config, LINKED)  # type: ignore[arg-type]
    assert (verdict.action, verdict.reason, verdict.update_id) == ("ignore", "no_message", -1)
