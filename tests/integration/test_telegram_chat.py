"""Telegram end to end: the real python-telegram-bot Application over a fake Bot API.

Each test runs `run --once` cycles (one getUpdates with timeout 0, the cycle, the outbox)
on the real databases, with the clock set to the instant under test.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from sqlalchemy import select, text

from bot.channels.telegram import CURSOR, OFFSET_KEY
from bot.chat_links import CODE_BURNT, CODE_EXPIRED, CODE_USED
from storage.models import Attachment, CaseLink, Cursor, Event, KnowledgeEntry, Message, Task
from tests.chat_data import (
    ELENA,
    ELENA_TG,
    ROBERTO,
    ROBERTO_TG,
    SOFIA_TG,
    STRANGER_TG,
    Chat,
    chat,
)
from tests.conftest import mx

__all__ = ["chat"]  # the fixture


def mails(c: Chat) -> list[EmailMessage]:
    """Every mail the bot wrote to the Maildir outbox."""
    folder = c.app.config.mail.maildir / "outbox" / "new"
    return [
        message_from_bytes(p.read_bytes(), policy=policy.default)  # type: ignore[misc]
        for p in sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns)
    ]


def events(c: Chat, kind: str) -> list[Event]:
    """Audit events of a kind."""
    with c.app.db.sessions() as s:
        rows = list(s.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))
        s.expunge_all()
        return rows


def offset(c: Chat) -> int | None:
    """The committed getUpdates offset."""
    with c.app.db.sessions() as s:
        row = s.get(Cursor, (CURSOR, OFFSET_KEY))
        return int(row.value) if row else None


# -- who may talk to the bot ------------------------------------------------------------------


def test_identity_matrix_only_the_authorized_private_chat_is_acted_upon(chat: Chat) -> None:
    tg = chat.tg
    tg.text(ROBERTO_TG, "Buen día, no me abre BLife desde ayer", username="roberto_s")
    tg.text(STRANGER_TG, "Hola, soy Roberto, ayúdenme", username="roberto_s")  # same username
    tg.text(ROBERTO_TG, "No me abre BLife", chat_id=-100200300, chat_type="group")
    tg.text(ROBERTO_TG, "No me abre BLife", chat_id=-100200301, chat_type="supergroup")
    tg.channel_post(-100999, "Aviso del canal")
    tg.text(ROBERTO_TG, "resultado de otro bot", via_bot=True)
    tg.text(STRANGER_TG, "/casos", forward_from_user_id=SOFIA_TG)  # a forwarded command
    tg.text(SOFIA_TG, "/tareas", forward_from_user_id=ROBERTO_TG)  # data, never a command
    update_id = tg.text(STRANGER_TG, "¿Me contestan?")
    report = chat.at(mx(2026, 11, 23, 10, 0))

    assert report.chat is not None and report.chat.total == 9
    opened = chat.cases()
    assert [c.requester for c in opened] == [ROBERTO]
    # The stranger gets one polite refusal however much they write, and one audit event.
    refusals = chat.texts(STRANGER_TG)
    assert len(refusals) == 1 and "solo para agentes" in refusals[0]
    assert len(events(chat, "chat_refused")) == 1
    # Groups, channels and via_bot get nothing at all.
    assert not chat.texts(-100200300) and not chat.texts(-100200301) and not chat.texts(-100999)
    # The forwarded "/tareas" is text: the specialist is shown the help, not her tasks.
    sofia = [t for t in chat.texts(SOFIA_TG) if not t.startswith("Tarea #")]
    assert len(sofia) == 1 and "Comandos de la Mesa de Ayuda" in sofia[0]
    assert offset(chat) == tg.raw(update_id)["update_id"] + 1  # all nine committed

    # The next day the stranger is refused once more, and only once.
    tg.text(STRANGER_TG, "Hola de nuevo")
    tg.text(STRANGER_TG, "¿Hola?")
    chat.at(mx(2026, 11, 24, 10, 0))
    assert len(chat.texts(STRANGER_TG)) == 2
    assert len(events(chat, "chat_refused")) == 2


def test_updates_are_confirmed_only_after_their_commit(chat: Chat) -> None:
    chat.tg.text(ROBERTO_TG, "No me abre BLife")
    chat.tg.fail("getUpdates", "network")
    report = chat.at(mx(2026, 11, 23, 10, 0))
    assert report.chat is None and not chat.cases()  # Telegram is down: nothing read
    assert len(chat.tg.pending_updates()) == 1  # and nothing lost

    chat.at(mx(2026, 11, 23, 10, 1))
    assert len(chat.cases()) == 1
    # The offset committed with the update confirms it at the next call.
    chat.at(mx(2026, 11, 23, 10, 2))
    assert chat.tg.pending_updates() == []
    assert len(chat.cases()) == 1


def test_a_redelivered_message_is_not_processed_twice(chat: Chat) -> None:
    update_id = chat.tg.text(ROBERTO_TG, "No me abre BLife")
    raw = chat.tg.raw(update_id)
    chat.at(mx(2026, 11, 23, 10, 0))
    # The same message again under a new update id (a second bot session, a replay).
    chat.tg.push({**raw, "update_id": update_id + 1})
    report = chat.at(mx(2026, 11, 23, 10, 1))
    assert report.chat is not None and report.chat.counts == {"duplicate": 1}
    with chat.app.db.sessions() as s:
        assert (
            s.scalar(
                text("SELECT count(*) FROM messages WHERE channel = 'chat' AND direction = 'in'")
            )
            == 1
        )


def test_a_broken_update_is_quarantined_and_the_chat_goes_on(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.handlers import chat as chat_pipeline

    calls = {"n": 0}
    original = chat_pipeline.ChatIngestor._agent

    def flaky(self, s, v, received, now):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("algo salió mal")
        return original(self, s, v, received, now)

    monkeypatch.setattr(chat_pipeline.ChatIngestor, "_agent", flaky)
    chat.tg.text(ROBERTO_TG, "primer mensaje")
    chat.tg.text(ELENA_TG, "/vincular")
    report = chat.at(mx(2026, 11, 23, 10, 0))
    assert report.chat is not None and report.chat.counts == {"quarantined": 1, "linking": 1}
    assert len(events(chat, "quarantined")) == 1
    assert len([m for m in mails(chat) if "cuarentena" in m["Subject"].lower()]) == 1
    chat.at(mx(2026, 11, 23, 10, 1))
    assert chat.tg.pending_updates() == []  # both confirmed: the bad one does not block


# -- support hours ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "answered", "opening"),
    [
        (mx(2026, 11, 19, 17, 29), True, ""),  # Thursday, before chat_until
        (mx(2026, 11, 19, 17, 31), False, "viernes 20 de noviembre a las 8:00"),
        (mx(2026, 11, 20, 14, 59), True, ""),  # Friday, before 15:00
        (mx(2026, 11, 20, 15, 1), False, "lunes 23 de noviembre a las 8:00"),
        (mx(2026, 11, 21, 11, 0), False, "lunes 23 de noviembre a las 8:00"),  # Saturday
        (mx(2026, 11, 16, 10, 0), False, "martes 17 de noviembre a las 8:00"),  # holiday
    ],
    ids=["jue-17:29", "jue-17:31", "vie-14:59", "vie-15:01", "sabado", "16-nov-feriado"],
)
def test_chat_hours(chat: Chat, when: object, answered: bool, opening: str) -> None:
    chat.tg.text(
        ROBERTO_TG, "Tengo un problema con mi cotizador, me marca error al guardar", date=when
    )
    chat.at(when)  # type: ignore[arg-type]
    [case] = chat.cases()
    sent = chat.texts(ROBERTO_TG)
    assert len(sent) == 1
    if answered:
        assert case.state == "en_seguimiento"
        assert "MA-006 #" in sent[0]  # the ticket and when to expect the answer
    else:
        assert case.state == "en_atencion"
        assert opening in sent[0]
        assert "17:30" in sent[0] and "15:00" in sent[0]  # the published chat hours
        # More messages while closed get no more notices.
        chat.tg.text(ROBERTO_TG, "¿Hola?")
        chat.at(when)  # type: ignore[arg-type]
        assert len(chat.texts(ROBERTO_TG)) == 1


def test_a_queued_chat_is_in_the_digest_and_handed_over_at_the_opening(chat: Chat) -> None:
    chat.tg.text(ROBERTO_TG, "Tengo un problema con mi cotizador, me marca error al guardar")
    chat.at(mx(2026, 11, 20, 19, 0))  # Friday evening
    with chat.app.db.sessions() as s:
        from bot.digest import render_digest

        body = render_digest(chat.app.workflow, s, mx(2026, 11, 23, 8, 0))
    assert "CHATS RECIBIDOS FUERA DE HORARIO (1)" in body and "Roberto Sánchez" in body

    chat.at(mx(2026, 11, 23, 7, 59))
    assert chat.cases()[0].state == "en_atencion"
    chat.at(mx(2026, 11, 23, 8, 0))
    [case] = chat.cases()
    assert case.state == "en_seguimiento" and not case.data.get("fuera_de_horario")
    assert len(chat.texts(ROBERTO_TG)) == 2
    with chat.app.db.sessions() as s:
        tasks = s.scalars(select(Task).where(Task.case_id == case.id)).all()
        assert [t.kind for t in tasks] == ["atender_chat"]
    # Sofía is on chat: the task reached her there too.
    assert any(t.startswith("Tarea #") for t in chat.texts(SOFIA_TG))


# -- linking by e-mailed code -----------------------------------------------------------------


def _code_from_mail(c: Chat) -> str:
    """The code in the newest linking mail."""
    found = [m for m in mails(c) if "código" in m["Subject"].lower()]
    body = found[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    match = re.search(r"\b(\d{6})\b", body)
    assert match is not None
    return match.group(1)


def test_linking_by_code_then_talking(chat: Chat) -> None:
    tg = chat.tg
    tg.text(ELENA_TG, "Hola")
    tg.text(ELENA_TG, f"/vincular {ELENA.upper()}")
    chat.at(mx(2026, 11, 23, 10, 0))
    sent = chat.texts(ELENA_TG)
    assert "solo para agentes" in sent[0] and "te acabamos de enviar un código" in sent[1]
    code = _code_from_mail(chat)
    linking = [m for m in mails(chat) if "código" in m["Subject"].lower()][-1]
    assert linking["To"] == ELENA
    # The code exists only in that mail: not in any table, nor in the outbox row.
    with chat.app.db.sessions() as s:
        for table in ("messages", "outbox", "events", "chat_link_codes"):
            dump = " ".join(str(r) for r in s.execute(text(f"SELECT * FROM {table}")))
            assert code not in dump, table

    tg.text(ELENA_TG, f"/vincular {code}")
    chat.at(mx(2026, 11, 23, 10, 5))
    assert "quedó vinculada" in chat.texts(ELENA_TG)[-1]
    assert len(events(chat, "chat_linked")) == 1

    tg.text(ELENA_TG, "Olvidé mi contraseña del iPad, no puedo entrar")
    chat.at(mx(2026, 11, 23, 10, 6))
    [case] = chat.cases()
    assert case.requester == ELENA and case.state == "confirmando"
    assert case.data["tema"] == "reset_ipad"


def test_linking_codes_expire_are_single_use_and_resist_guessing(chat: Chat) -> None:
    tg = chat.tg
    tg.text(ELENA_TG, f"/vincular {ELENA}")
    chat.at(mx(2026, 11, 23, 10, 0))
    code = _code_from_mail(chat)
    tg.text(ELENA_TG, f"/vincular {code}")
    chat.at(mx(2026, 11, 23, 10, 16))  # sixteen minutes later
    assert CODE_EXPIRED in chat.texts(ELENA_TG)[-1]

    tg.text(ELENA_TG, f"/vincular {ELENA}")
    chat.at(mx(2026, 11, 23, 10, 20))
    code = _code_from_mail(chat)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        tg.text(ELENA_TG, f"/vincular {wrong}")
    tg.text(ELENA_TG, f"/vincular {code}")  # right, but too late
    chat.at(mx(2026, 11, 23, 10, 21))
    answers = chat.texts(ELENA_TG)[-6:]
    assert "te quedan 4 intentos" in answers[0]
    assert CODE_BURNT in answers[-1]
    with chat.app.db.sessions() as s:
        assert s.scalar(text("SELECT count(*) FROM chat_links")) == 0

    tg.text(ELENA_TG, f"/vincular {ELENA}")
    chat.at(mx(2026, 11, 23, 10, 30))
    code = _code_from_mail(chat)
    tg.text(ELENA_TG, f"/vincular {code}")
    tg.text(ELENA_TG, f"/vincular {code}")  # reused
    chat.at(mx(2026, 11, 23, 10, 31))
    assert "quedó vinculada" in chat.texts(ELENA_TG)[-2]
    assert "ya está vinculada" in chat.texts(ELENA_TG)[-1] or CODE_USED in chat.texts(ELENA_TG)[-1]


def test_an_unknown_address_gets_the_same_answer_and_no_mail(chat: Chat) -> None:
    chat.tg.text(STRANGER_TG, "/vincular alguien@otro.com")
    chat.at(mx(2026, 11, 23, 10, 0))
    assert "te acabamos de enviar un código" in chat.texts(STRANGER_TG)[-1]
    assert not [m for m in mails(chat) if "código" in m["Subject"].lower()]


# -- Telegram saying "wait" -------------------------------------------------------------------


def test_retry_after_on_send_is_honoured_without_loss_or_duplicates(chat: Chat) -> None:
    chat.tg.fail("sendMessage", "retry_after", retry_after=30)
    chat.tg.text(ROBERTO_TG, "Tengo un problema con mi cotizador, me marca error al guardar")
    chat.at(mx(2026, 11, 23, 10, 0, 0))
    assert chat.texts(ROBERTO_TG) == []
    [row] = [r for r in chat.pending_chat() if r.payload["chat_id"] == ROBERTO_TG]
    assert chat.app.calendar.local(row.not_before) == mx(2026, 11, 23, 10, 0, 30)
    chat.at(mx(2026, 11, 23, 10, 0, 20))
    assert chat.texts(ROBERTO_TG) == []  # not before Telegram said
    chat.at(mx(2026, 11, 23, 10, 0, 31))
    assert len(chat.texts(ROBERTO_TG)) == 1
    chat.at(mx(2026, 11, 23, 10, 5))
    assert len(chat.texts(ROBERTO_TG)) == 1


def test_messages_to_one_chat_are_paced(chat: Chat) -> None:
    chat.tg.text(STRANGER_TG, "/vincular")
    chat.tg.text(STRANGER_TG, "/vincular alguien@otro.com")
    chat.tg.text(STRANGER_TG, "/vincular 123")
    chat.at(mx(2026, 11, 23, 10, 0))
    assert len(chat.texts(STRANGER_TG)) == 3
    assert len(chat.slept) >= 2 and all(0 < s <= 1.0 for s in chat.slept)


# -- MA-007 from first message to cerrado -----------------------------------------------------


def _task_message(c: Chat, kind: str) -> int:
    """The Telegram id of the chat message announcing the open task of this kind."""
    with c.app.db.sessions() as s:
        task = s.scalars(select(Task).where((Task.kind == kind) & (Task.status == "open"))).one()
        rows = s.scalars(
            select(Message).where((Message.channel == "chat") & (Message.direction == "out"))
        ).all()
        for row in rows:
            if row.detail.get("task_id") == task.id and row.external_id.startswith(
                f"tg:{SOFIA_TG}:"
            ):
                return int(row.external_id.rsplit(":", 1)[1])
    raise AssertionError(f"no chat message for task {kind}")


def test_full_conversation_to_cerrado(chat: Chat) -> None:
    from bot.rules.dsl import command

    tg = chat.tg
    tg.text(
        ROBERTO_TG,
        "Urgente: no puedo emitir la póliza, el cliente está esperando, me marca error 500",
    )
    tg.photo(ROBERTO_TG, caption="Así sale la pantalla", content=b"\xff\xd8\xff fake jpeg")
    chat.at(mx(2026, 11, 23, 10, 0))
    [case] = chat.cases()
    assert case.state == "en_seguimiento" and case.data["urgencia"] == "alta"
    [ticket] = chat.cases("MA-006")
    assert ticket.requester == ROBERTO
    with chat.app.db.sessions() as s:
        link = s.scalars(select(CaseLink).where(CaseLink.relation == "seguimiento_chat")).one()
        assert {link.case_id, link.other_id} == {case.id, ticket.id}
        photo = s.scalars(select(Attachment).where(Attachment.case_id == case.id)).one()
        assert photo.content_type == "image/jpeg" and photo.size > 0
    to_agent = chat.texts(ROBERTO_TG)
    assert f"MA-006 #{ticket.id}" in to_agent[0]

    # The specialist escalates to MetLife from the console, then answers the task on chat.
    with chat.app.db.transaction() as s:
        found = chat.app.workflow.get_case(s, case.id)
        trigger = chat.app.workflow.trigger(command("escalar_metlife"), "sofia.ramirez@example.com")
        chat.app.workflow.handle(s, found, trigger, mx(2026, 11, 23, 10, 10))
    chat.at(mx(2026, 11, 23, 10, 10))
    tg.text(
        SOFIA_TG,
        "Caso MetLife 20261123-4471",
        reply_to_message_id=_task_message(chat, "escalamiento_metlife"),
    )
    chat.at(mx(2026, 11, 23, 11, 0))
    [case] = chat.cases()
    assert case.data["caso_metlife"] == "20261123-4471"
    assert any("20261123-4471" in t for t in chat.texts(ROBERTO_TG))

    # The solution, by replying to the attention task.
    tg.text(
        SOFIA_TG,
        "Se liberó el folio en MetLife; vuelve a emitir desde BLife.",
        reply_to_message_id=_task_message(chat, "atender_chat"),
    )
    chat.at(mx(2026, 11, 23, 12, 0))
    [case] = chat.cases()
    assert case.state == "confirmando"
    assert "vuelve a emitir desde BLife" in chat.texts(ROBERTO_TG)[-1]
    assert "Registrado" in chat.texts(SOFIA_TG)[-1]

    tg.text(ROBERTO_TG, "Sí, ya quedó, muchas gracias")
    chat.at(mx(2026, 11, 23, 12, 30))
    [case] = chat.cases()
    assert case.state == "cerrado"
    [ticket] = chat.cases("MA-006")
    assert ticket.closed_at is not None  # the ticket closes with the conversation
    with chat.app.db.sessions() as s:
        assert s.scalars(select(Task).where(Task.status == "open")).all() == []
        entry = s.scalars(select(KnowledgeEntry).where(KnowledgeEntry.case_id == case.id)).one()
        assert "vuelve a emitir" in entry.solution
        messages = s.scalars(select(Message).where(Message.case_id == case.id)).all()
        assert {m.channel for m in messages if m.direction == "in"} == {"chat"}
        senders = [m.sender for m in messages if m.direction == "in"]
        assert senders.count(ROBERTO) == 3 and senders.count("sofia.ramirez@example.com") == 2
    history = [e for kind in ("opened", "transition", "action") for e in events(chat, kind)]
    steps = {step for e in history for step in e.steps}
    for n in (1, 2, 3, 10, 11, 12, 13, 14, 16, 18):
        assert f"MA-007 paso {n}" in steps, n


def test_the_daemon_long_polls_answers_and_stops_cleanly(chat: Chat) -> None:
    import asyncio

    from bot.app import _serve_chat

    kicks: list[int] = []

    async def main() -> None:
        stop, busy = asyncio.Event(), asyncio.Lock()
        chat.tg.fail("getUpdates", "timeout")  # a Telegram hiccup first: backed off, not fatal
        chat.tg.text(ROBERTO_TG, "Tengo un problema con mi cotizador, me marca error al guardar")
        task = asyncio.create_task(_serve_chat(chat.app, stop, busy, lambda: kicks.append(1)))
        for _ in range(500):
            await asyncio.sleep(0.01)
            if kicks:
                break
        # The cycle the kick starts: the dispatcher, in a worker thread, sends through the loop.
        await asyncio.to_thread(chat.app.dispatcher.run_all, chat.clock.now())
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
    assert kicks and len(chat.cases()) == 1
    assert len(chat.texts(ROBERTO_TG)) == 1
    assert "chat" in chat.app.dispatcher.paused  # detached when the loop went away


def test_files_over_the_limit_are_not_downloaded_and_the_agent_is_told(chat: Chat) -> None:
    chat.tg.document(
        ROBERTO_TG,
        file_name="../../estado de cuenta.pdf",
        mime_type="application/pdf",
        content=b"%PDF-1.4 small",
        caption="Les mando mi estado de cuenta, no cuadra el pago",
        file_size=30 * 1024 * 1024,
    )
    chat.tg.document(
        ROBERTO_TG, file_name="poliza.pdf", mime_type="application/pdf", content=b"%PDF-1.4 ok"
    )
    chat.at(mx(2026, 11, 23, 10, 0))
    assert chat.tg.downloads and all("documents/" in d for d in chat.tg.downloads)
    assert len(chat.tg.downloads) == 1  # the big one was never fetched
    with chat.app.db.sessions() as s:
        names = s.scalars(select(Attachment.filename)).all()
    assert names == ["poliza.pdf"]
    told = "\n".join(chat.texts(ROBERTO_TG))
    assert "«estado de cuenta.pdf» pesa 31.5 MB" in told and "20 MB" in told


def test_thanks_after_the_close_opens_nothing(chat: Chat) -> None:
    chat.tg.text(ROBERTO_TG, "Olvidé mi contraseña del iPad")
    chat.at(mx(2026, 11, 23, 10, 0))
    chat.tg.text(ROBERTO_TG, "Sí, ya quedó")
    chat.at(mx(2026, 11, 23, 10, 5))
    chat.tg.text(ROBERTO_TG, "¡Muchas gracias!")
    chat.at(mx(2026, 11, 23, 10, 6))
    [case] = chat.cases()
    assert case.state == "cerrado"
    with chat.app.db.sessions() as s:
        inbound = s.scalars(select(Message).where(Message.direction == "in")).all()
        assert [m.case_id for m in inbound] == [case.id] * 3


def test_specialists_commands_and_agents_cannot_use_them(chat: Chat) -> None:
    chat.tg.text(ROBERTO_TG, "Tengo un problema con mi cotizador, me marca error al guardar")
    chat.at(mx(2026, 11, 23, 10, 0))
    [case] = chat.cases()
    chat.tg.text(SOFIA_TG, "/casos")
    chat.tg.text(SOFIA_TG, f"/caso {case.id}")
    chat.tg.text(SOFIA_TG, "/caso 9999")
    chat.tg.text(SOFIA_TG, "/tareas")
    chat.tg.text(ROBERTO_TG, "/casos")  # an agent: just more text for their conversation
    chat.at(mx(2026, 11, 23, 10, 5))
    sent = chat.texts(SOFIA_TG)

    def one(start: str) -> str:
        [found] = [t for t in sent if t.startswith(start)]
        return found

    casos = one("Casos abiertos")
    assert f"MA-007 #{case.id} · En seguimiento" in casos and "MA-006 #" in casos
    caso = one(f"MA-007 #{case.id}:")
    assert "resolver" in caso and "escalar_metlife" in caso
    assert one("No encontré el caso «9999»")
    assert "Atender a Roberto Sánchez por chat" in one("Tus tareas abiertas")
    # The agent's "/casos" reached Sofía as a new message in the conversation.
    assert any("/casos" in t for t in sent if not t.startswith("Casos abiertos"))
    assert not any("Casos abiertos" in t for t in chat.texts(ROBERTO_TG))
    with chat.app.db.sessions() as s:
        texts = s.scalars(
            select(Message.body).where((Message.case_id == case.id) & (Message.direction == "in"))
        ).all()
    assert "/casos" in texts


def test_a_non_urgent_answer_after_chat_hours_waits_for_the_next_window(chat: Chat) -> None:
    from bot.rules.dsl import command

    chat.tg.text(ROBERTO_TG, "Tengo un problema con mi cotizador, me marca error al guardar")
    chat.at(mx(2026, 11, 19, 16, 0))  # Thursday
    [case] = chat.cases()
    with chat.app.db.transaction() as s:
        found = chat.app.workflow.get_case(s, case.id)
        trigger = chat.app.workflow.trigger(
            command("resolver"), "sofia.ramirez@example.com", values={"solucion": "Reinstala."}
        )
        chat.app.workflow.handle(s, found, trigger, mx(2026, 11, 19, 17, 45))
    chat.at(mx(2026, 11, 19, 17, 45))
    assert len(chat.texts(ROBERTO_TG)) == 1  # only the first answer, at 16:00
    chat.at(mx(2026, 11, 20, 7, 59))
    assert len(chat.texts(ROBERTO_TG)) == 1
    chat.at(mx(2026, 11, 20, 8, 0))
    assert "Reinstala." in chat.texts(ROBERTO_TG)[-1]


def test_run_once_makes_one_get_updates_with_timeout_zero(chat: Chat) -> None:
    chat.tg.text(ROBERTO_TG, "Hola")
    chat.at(mx(2026, 11, 23, 10, 0))
    chat.at(mx(2026, 11, 23, 10, 1))
    assert [m for m in chat.tg.methods() if m.lower() == "getupdates"] == ["getUpdates"] * 2
    assert chat.tg.poll_timeouts == [0, 0]


def test_the_whole_daemon_serves_the_chat_with_one_telegram_session(chat: Chat) -> None:
    import os
    import signal
    import threading
    import time

    from bot.app import run_daemon

    chat.app.config = chat.app.config.model_copy(
        update={"daemon": chat.app.config.daemon.model_copy(update={"sweep_interval_seconds": 1})}
    )
    chat.tg.text(ROBERTO_TG, "Tengo un problema con mi cotizador, me marca error al guardar")

    def stop_when_answered() -> None:
        for _ in range(1000):
            if chat.tg.sent_to(ROBERTO_TG):
                break
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    helper = threading.Thread(target=stop_when_answered)
    helper.start()
    run_daemon(chat.app)
    helper.join()
    assert len(chat.tg.sent_to(ROBERTO_TG)) == 1
    # Only the long poll reads updates: a cycle never opens a second session (409).
    assert set(chat.tg.poll_timeouts) == {25}
    assert "getMe" in chat.tg.methods()
