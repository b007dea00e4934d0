"""MA-007 on the pure engine: chat hours, urgency, known answers, tickets and confirmation."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from bot.calendar import BusinessCalendar
from bot.cli import cli
from bot.rules import PROCESSES, get_process
from bot.rules.dsl import CaseView, On, Trigger, command, event, intent, timer
from bot.rules.effects import (
    CancelTimer,
    CompleteTasks,
    CreateTask,
    OpenCase,
    RecordKnowledge,
    SendChat,
    SendMail,
    SignalLinked,
    business_hours,
)
from bot.rules.engine import Decision, Rejected, step
from bot.rules.ma007_chat import PROCESS, known_topic, urgency
from bot.rules.render import describe, to_mermaid
from bot.templates import Templates, load_known_answers

MX = ZoneInfo("America/Mexico_City")
CAL = BusinessCalendar()
ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = Templates(ROOT / "templates")
ANSWERS = load_known_answers(ROOT / "templates")
SETTINGS = {"respuestas": ANSWERS}
AGENT = {"nombre": "Juan Pérez", "correo": "juan.perez@example.net", "clave": "A100200"}
SPECIALIST = frozenset({"specialist"})
REF = "MA-007 #12"
LINKED = ("validar", "cerrar")

PASSWORD = "Buenas tardes, olvidé mi contraseña y no puedo entrar a BLife en el iPad"
UNKNOWN = "La póliza 123456 de mi cliente no aparece en Pro99 desde ayer.\nYa revisé el número."


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant of November 2026 in Mexico City."""
    return datetime(2026, 11, day, hour, minute, tzinfo=MX)


THU_OPEN = at(19, 17, 29)  # Thursday, one minute before the chat closes at 17:30
THU_LATE = at(19, 17, 31)
FRI = at(20, 11, 0)


def case(state: str, **data: Any) -> CaseView:
    """A chat with Juan Pérez, already opened (or being opened when state is "")."""
    base: dict[str, Any] = {
        "agente": AGENT,
        "canal": "telegram",
        "descripcion": UNKNOWN,
        "urgencia": "normal",
        "motivo_urgencia": "",
        "mensajes": 1,
    }
    return CaseView(12, "MA-007", state, "Chat", AGENT["correo"], None, {**base, **data})


def chat(on: On, text: str = "", *attachments: str, **facts: Any) -> Trigger:
    """What the chat channel hands the engine for a message of the agent."""
    return Trigger(
        on,
        AGENT["correo"],
        text=text,
        attachments=attachments,
        message_id="tg:555:77",
        facts={"canal": "telegram", "persona": AGENT, **facts},
    )


def cmd(name: str, **values: str) -> Trigger:
    """A specialist's command."""
    return Trigger(command(name), "sofia@example.com", SPECIALIST, values)


def decide(view: CaseView, trigger: Trigger, now: datetime = FRI) -> Decision:
    """Step the engine; every chat message it decides to send has its template."""
    result = step(PROCESS, view, trigger, now, CAL, SETTINGS)
    assert isinstance(result, Decision), result
    for eff in result.effects:
        if isinstance(eff, SendChat):
            assert (ROOT / "templates" / "chat" / f"{eff.template}.txt.j2").is_file()
    return result


def reject(view: CaseView, trigger: Trigger, now: datetime = FRI) -> Rejected:
    """Step the engine expecting a refusal."""
    result = step(PROCESS, view, trigger, now, CAL, SETTINGS)
    assert isinstance(result, Rejected), result
    return result


def chats(decision: Decision) -> list[SendChat]:
    """The chat messages a decision sends."""
    return [e for e in decision.effects if isinstance(e, SendChat)]


def only(decision: Decision, kind: type[Any]) -> Any:
    """The single effect of a kind."""
    (found,) = [e for e in decision.effects if isinstance(e, kind)]
    return found


# --- the definition ---------------------------------------------------------------------


def test_registered_after_ma006_and_claims_no_mail() -> None:
    codes = [p.code for p in PROCESSES]
    assert codes.index("MA-007") == codes.index("MA-006") + 1
    assert get_process("ma-007") is PROCESS
    assert PROCESS.claims is None
    assert PROCESS.waiting_states() == {"confirmando": "el agente"}
    assert [s.slug for s in PROCESS.states] == [
        "en_atencion",
        "en_seguimiento",
        "confirmando",
        "cerrado",
    ]
    assert PROCESS.state("cerrado").final


def test_listing_and_diagram() -> None:
    text = describe(PROCESS)
    assert "Confirmando con el agente [espera al agente]" in text
    assert "temporizador seguimiento: cada 1 día hábil" in text
    assert "MA-007 paso 8" in text and "MA-007 paso 19" in text
    assert all(t.description for t in PROCESS.transitions)
    assert "[*] --> en_atencion" in to_mermaid(PROCESS)
    listed = CliRunner().invoke(cli, ["rules", "MA-007"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.startswith("MA-007 Atención a agentes por chat")


def test_commands_by_state() -> None:
    assert set(PROCESS.commands("en_atencion")) == {"resolver", "cerrar", "nota", "asignar"}
    assert set(PROCESS.commands("confirmando")) == {
        "responder",
        "caso_metlife",
        "validar",
        "reabrir",
        "cerrar",
        "nota",
        "asignar",
    }
    assert "escalar_metlife" in PROCESS.commands("en_seguimiento")
    assert PROCESS.accepted_intents("confirmando") == {"VALIDATED", "THANKS_DONE", "NOT_SOLVED"}
    assert PROCESS.accepted_intents("en_seguimiento") == frozenset()


def test_every_template_the_process_names_exists() -> None:
    source = (ROOT / "bot" / "rules" / "ma007_chat.py").read_text(encoding="utf-8")
    names = set(re.findall(r'"(MA-007/[a-z_/]+)"', source))
    assert "MA-007/fuera_de_horario" in names and "MA-007/atender" in names
    for name in names:
        kinds = ("chat", "email", "tasks")
        assert any((ROOT / "templates" / k / f"{name}.txt.j2").is_file() for k in kinds), name
    assert set(ANSWERS) == {"reset_ipad", "pro99", "blife"}
    assert all(ANSWERS.values())


# --- opening and the chat hours (pasos 1-3, 19-20) ----------------------------------------


def test_inside_the_chat_window_the_chat_is_triaged_at_once() -> None:
    d = decide(case(""), chat(event("abrir"), "Hola, ¿cómo uso BLife?"), THU_OPEN)
    assert (d.to_state, d.then, d.effects, d.arm) == ("en_atencion", "atender", (), ())
    assert d.data == {
        "agente": AGENT,
        "canal": "telegram",
        "descripcion": "Hola, ¿cómo uso BLife?",
        "urgencia": "normal",
        "motivo_urgencia": "",
        "mensajes": 1,
        "adjuntos": 0,
    }


def test_after_the_chat_closes_one_notice_names_the_next_opening() -> None:
    d = decide(case(""), chat(event("abrir"), "Urge, no puedo emitir"), THU_LATE)
    assert d.then is None
    (notice,) = chats(d)
    assert notice.to == ("@requester",) and notice.template == "MA-007/fuera_de_horario"
    assert notice.reply and notice.immediate
    assert notice.context == {
        "apertura": "viernes 20 de noviembre a las 8:00",
        "horario_chat": CAL.describe_hours("chat"),
    }
    assert "17:30" in notice.context["horario_chat"]
    assert [(a.kind, a.due_at, a.scope) for a in d.arm] == [("apertura", at(20, 8), "case")]
    assert d.data["fuera_de_horario"] is True
    assert d.data["aviso_horario"] == at(20, 8).isoformat()
    assert (d.data["urgencia"], d.data["motivo_urgencia"]) == ("alta", "urge")
    # Queued chats reach the specialists in the digest, not as a chat at night.
    assert all("@specialists" not in c.to for c in chats(d))


@pytest.mark.parametrize(
    ("now", "opening"),
    [
        (at(20, 14, 59), None),  # Friday: the chat closes at 15:00 with the office
        (at(20, 15, 1), "lunes 23 de noviembre a las 8:00"),
        (at(21, 10, 0), "lunes 23 de noviembre a las 8:00"),  # Saturday
        (at(15, 12, 0), "martes 17 de noviembre a las 8:00"),  # Sunday; Monday 16 is a holiday
        (at(16, 10, 0), "martes 17 de noviembre a las 8:00"),  # Revolution Day
        (at(19, 7, 59), "jueves 19 de noviembre a las 8:00"),
        (at(19, 8, 0), None),
    ],
    ids=["fri-14:59", "fri-15:01", "saturday", "sunday", "holiday", "early", "8:00"],
)
def test_next_opening_of_the_chat(now: datetime, opening: str | None) -> None:
    d = decide(case(""), chat(event("abrir"), "Hola"), now)
    if opening is None:
        assert d.then == "atender" and not d.effects
    else:
        assert d.then is None
        assert only(d, SendChat).context["apertura"] == opening


def test_at_the_opening_the_queued_chat_is_triaged() -> None:
    view = case("en_atencion", fuera_de_horario=True, aviso_horario=at(20, 8).isoformat())
    d = decide(view, Trigger(timer("apertura")), at(20, 8))
    assert (d.to_state, d.then, d.data) == ("en_atencion", "atender", {"fuera_de_horario": False})
    assert d.steps == ("MA-007 paso 19",)


def test_files_not_received_are_answered_even_at_the_opening() -> None:
    reasons = ["«poliza.pdf» pesa 30.0 MB y el máximo que podemos recibir es de 20 MB"]
    d = decide(case(""), chat(event("abrir"), "Les mando la póliza", omitidos=reasons), THU_OPEN)
    (answer,) = chats(d)
    assert answer.template == "MA-007/archivo_no_recibido"
    assert answer.context == {"omitidos": reasons} and answer.immediate and answer.reply
    late = decide(case(""), chat(event("abrir"), "Les mando la póliza", omitidos=reasons), THU_LATE)
    assert [c.template for c in chats(late)] == [
        "MA-007/fuera_de_horario",
        "MA-007/archivo_no_recibido",
    ]


# --- urgency (paso 3) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("Es URGENTE, no entra BLife", "urgente"),
        ("Me urge la carátula", "urge"),
        ("Tengo una urgencia con una póliza", "urgencia"),
        ("¡Emergencia! no abre la app", "emergencia"),
        ("Necesito el reseteo de inmediato", "de inmediato"),
        ("Lo necesito lo antes posible", "lo antes posible"),
        ("Tengo al cliente esperando en la oficina", "cliente esperando"),
        ("Estoy con el cliente y no carga", "estoy con el cliente"),
        ("El cliente en línea quiere pagar", "cliente en linea"),
        ("El pago vence hoy", "vence hoy"),
        ("Hoy vence la póliza y no sé qué hacer", "hoy vence"),
        ("No puedo emitir la solicitud", "no puedo emitir"),
        ("no puedo cotizar en BLife", "no puedo cotizar"),
        ("NO PUEDO COBRAR la prima", "no puedo cobrar"),
        ("No me deja pagar con tarjeta", "no me deja pagar"),
        ("No es urgente lo primero, pero esto sí urge", "urge"),
        ("Es urgente: ¿el plan cubre urgencias médicas?", "urgente"),
    ],
)
def test_urgent_messages(text: str, phrase: str) -> None:
    assert urgency(text) == ("alta", phrase)


@pytest.mark.parametrize(
    "text",
    [
        "¿Cómo uso BLife?",
        "¿El plan de gastos médicos cubre urgencias médicas en el extranjero?",
        "Mi cliente tuvo una emergencia médica, ¿qué documentos piden?",
        "No es urgente, cuando puedan me ayudan con Pro99",
        "Sin urgencia: ¿me mandan el manual?",
        "Nada urgente, gracias",
        "No urge, no urge, cuando puedan",
        "Ya hablé con el cliente y quiere cambiar la forma de pago",
        "Las urgencias del hospital no aceptan la póliza",  # plural is coverage talk
        "Puedo emitir, pero tarda mucho",
        "",
    ],
)
def test_messages_that_are_not_urgent(text: str) -> None:
    assert urgency(text) == ("normal", "")


# --- known answers (pasos 6-9) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        (PASSWORD, "reset_ipad"),
        ("Se me olvidó la contraseña del iPad, ¿cómo la recupero?", "reset_ipad"),
        ("Me sale que mi contraseña expiró y no me deja entrar", "reset_ipad"),
        ("Hola, mi usuario bloqueado en Pro99 otra vez", "reset_ipad"),
        ("Necesito restablecer la contraseña de la app", "reset_ipad"),
        ("Buen día, ¿cómo uso Pro99 para ver mis pólizas?", "pro99"),
        ("¿Dónde veo en PRO 99 el estatus de una solicitud?", "pro99"),
        ("¿Tienen el manual de Pro99?", "pro99"),
        ("¿Cómo cotizo en BLife un seguro de vida?", "blife"),
        ("¿Cómo funciona B'Life? Es mi primera vez", "blife"),
        ("Hola! como se usa blife??", "blife"),
        # Both topics are named; the password has more matching phrases.
        ("Olvidé mi contraseña de Pro99, ¿cómo entro a Pro99?", "reset_ipad"),
    ],
)
def test_known_topics_in_agents_messages(text: str, topic: str) -> None:
    assert known_topic(text, ANSWERS) == topic


@pytest.mark.parametrize(
    "text",
    [
        UNKNOWN,
        "BLife me marca error 500 al emitir la solicitud",
        "¿Cuándo me pagan las comisiones de octubre?",
        "Pro99 no carga desde ayer",
        "Mi contraseña de correo TuAgente",  # a password, but nothing to reset
        "Hola",
        "",
    ],
)
def test_messages_without_a_known_answer(text: str) -> None:
    assert known_topic(text, ANSWERS) is None


def test_known_topic_ties_go_to_the_longest_phrase_then_the_name() -> None:
    answers = {"b": ("ipad",), "a": ("ipad nuevo",), "c": ("nuevo",)}
    assert known_topic("Tengo un iPad nuevo", answers) == "a"
    assert known_topic("iPad", {"z": ("ipad",), "y": ("ipad",)}) == "y"
    assert known_topic("iPad", {"sin_frases": (), "vacia": ("",)}) is None
    # Whole words only: "ipad" is not found inside "ipads".
    assert known_topic("Tengo dos iPads", {"b": ("ipad",)}) is None


# --- triage (pasos 4-11) ----------------------------------------------------------------


def test_password_reset_is_guided_on_the_ipad() -> None:
    d = decide(case("en_atencion", descripcion=PASSWORD), Trigger(event("atender")))
    assert d.to_state == "confirmando"
    assert "MA-007 paso 8" in d.steps and "MA-007 paso 9" not in d.steps
    (answer,) = d.effects
    assert isinstance(answer, SendChat)
    assert answer.template == "MA-007/conocido/reset_ipad" and answer.to == ("@requester",)
    assert not answer.immediate
    assert answer.context == {"fecha_cierre": "miércoles 25 de noviembre"}
    assert d.data["tema"] == "reset_ipad"
    assert d.data["solucion"] == "Respuesta conocida: reset_ipad"
    assert {a.kind: a.due_at for a in d.arm} == {
        "recordatorio_confirmacion": at(24, 11),
        "cierre_automatico": at(25, 11),
    }
    assert d.data["cierre_at"] == at(25, 11).isoformat()


def test_orientation_answers_and_urgent_ones_go_at_once() -> None:
    view = case("en_atencion", descripcion="¿Cómo uso BLife? urgente", urgencia="alta")
    d = decide(view, Trigger(event("atender")))
    assert "MA-007 paso 9" in d.steps and "MA-007 paso 8" not in d.steps
    answer = only(d, SendChat)
    assert answer.template == "MA-007/conocido/blife" and answer.immediate


def test_known_answers_come_from_the_settings() -> None:
    view = case("en_atencion", descripcion=PASSWORD)
    result = step(PROCESS, view, Trigger(event("atender")), FRI, CAL)  # default: none known
    assert isinstance(result, Decision) and result.to_state == "en_seguimiento"


@pytest.mark.parametrize(
    ("urgent", "plazo", "tiempo", "due"),
    [
        (False, "viernes 20 de noviembre a las 12:00", "4 horas hábiles", at(20, 12)),
        (True, "viernes 20 de noviembre a las 9:00", "1 hora hábil", at(20, 9)),
    ],
)
def test_without_a_known_answer_a_ticket_is_opened_first(
    urgent: bool, plazo: str, tiempo: str, due: datetime
) -> None:
    view = case("en_atencion", urgencia="alta" if urgent else "normal")
    d = decide(view, Trigger(event("atender")), at(20, 8))
    assert d.to_state == "en_seguimiento"
    assert d.steps == tuple(f"MA-007 paso {n}" for n in (4, 5, 6, 10, 11))
    ticket, told, task = d.effects
    assert ticket == OpenCase(
        "MA-006",
        relation="seguimiento_chat",
        subject="Chat: La póliza 123456 de mi cliente no aparece en Pro99 desde ayer.",
        text=UNKNOWN,
        carry_files=False,
    )
    assert isinstance(told, SendChat) and told.template == "MA-007/en_seguimiento"
    assert told.context == {"plazo": plazo, "horas": 1 if urgent else 4, "tiempo": tiempo}
    assert told.immediate is urgent
    assert isinstance(task, CreateTask)
    assert (task.kind, task.assignee, task.template) == (
        "atender_chat",
        "@specialists",
        "MA-007/atender",
    )
    assert (task.action, task.fills) == ("resolver", "solucion")
    assert task.due == business_hours(1 if urgent else 4)
    assert task.context == {"texto": UNKNOWN, "urgencia": "alta" if urgent else "normal"}
    assert d.data == {"plazo": due.isoformat()}
    assert [a.kind for a in d.arm] == ["seguimiento"]


def test_a_long_first_line_makes_a_short_subject() -> None:
    view = case("en_atencion", descripcion="\n  " + "x" * 200)
    ticket = only(decide(view, Trigger(event("atender"))), OpenCase)
    assert ticket.subject == "Chat: " + "x" * 80


def test_task_titles_render_with_the_case() -> None:
    view = case("en_seguimiento")
    tasks = [
        only(decide(case("en_atencion"), Trigger(event("atender"))), CreateTask),
        only(decide(view, cmd("escalar_metlife")), CreateTask),
    ]
    context = {"case": {"ref": REF, "data": dict(view.data)}}
    titles = [TEMPLATES.env.from_string(t.title).render(**context) for t in tasks]
    assert titles == [
        "Atender a Juan Pérez por chat (MA-007 #12)",
        "Escalar a MetLife: llamada en tres vías con Juan Pérez (MA-007 #12)",
    ]


# --- further messages (paso 15) ---------------------------------------------------------


def test_a_message_while_queued_adds_to_the_story_silently() -> None:
    view = case("en_atencion", descripcion="Hola", mensajes=1, aviso_horario=at(20, 8).isoformat())
    d = decide(view, chat(event("mensaje"), "Es que estoy con el cliente", "sha1"), at(19, 20))
    assert d.effects == () and d.to_state == "en_atencion"
    assert d.data == {
        "mensajes": 2,
        "adjuntos": 1,
        "descripcion": "Hola\n\nEs que estoy con el cliente",
        "urgencia": "alta",
        "motivo_urgencia": "estoy con el cliente",
    }


def test_the_story_is_capped() -> None:
    view = case("en_atencion", descripcion="x" * 3990, aviso_horario=at(20, 8).isoformat())
    d = decide(view, chat(event("mensaje"), "y" * 50), at(19, 20))
    assert len(d.data["descripcion"]) == 4000


def test_the_hours_notice_goes_once_per_closed_period() -> None:
    told_for_friday = at(20, 8).isoformat()
    # Thursday night, already told about Friday's opening: nothing more to say.
    quiet = decide(
        case("en_seguimiento", aviso_horario=told_for_friday),
        chat(event("mensaje"), "¿Alguna novedad?"),
        at(19, 21),
    )
    assert "MA-007/fuera_de_horario" not in [c.template for c in chats(quiet)]
    assert "aviso_horario" not in quiet.data
    # Friday after 15:00 is a new closed period: told again, about Monday.
    again = decide(
        case("en_seguimiento", aviso_horario=told_for_friday),
        chat(event("mensaje"), "¿Alguna novedad?"),
        at(20, 16),
    )
    notice = chats(again)[0]
    assert notice.template == "MA-007/fuera_de_horario" and notice.immediate
    assert notice.context["apertura"] == "lunes 23 de noviembre a las 8:00"
    assert again.data["aviso_horario"] == at(23, 8).isoformat()
    assert not again.arm  # the triage is done; only en_atencion waits for the opening
    # Never told (the chat opened in hours), now closed: told.
    first = decide(case("confirmando"), chat(event("mensaje"), "Gracias"), at(21, 9))
    assert chats(first)[0].template == "MA-007/fuera_de_horario"
    # In hours: no notice at all.
    open_now = decide(case("confirmando"), chat(event("mensaje"), "Gracias"), FRI)
    assert "aviso_horario" not in open_now.data


@pytest.mark.parametrize("state", ["en_seguimiento", "confirmando"])
def test_the_assignee_hears_of_each_message_by_mail_and_chat(state: str) -> None:
    d = decide(case(state), chat(event("mensaje"), "Ya les mandé la captura", "sha1"))
    mail = only(d, SendMail)
    assert (mail.to, mail.template, mail.immediate) == (
        ("@assignee",),
        "MA-007/nuevo_mensaje",
        True,
    )
    assert mail.context == {"texto": "Ya les mandé la captura", "remitente": AGENT["correo"]}
    (note,) = chats(d)
    assert note.to == ("@assignee",) and note.immediate
    assert note.context == {"texto": "Ya les mandé la captura", "adjuntos": 1}
    assert d.data == {"mensajes": 2, "adjuntos": 1}
    assert d.steps == ("MA-007 paso 15", "MA-007 paso 20")


def test_a_sticker_gets_the_text_only_answer_and_bothers_nobody() -> None:
    d = decide(case("en_seguimiento"), chat(event("mensaje"), "", sin_contenido=True))
    (answer,) = d.effects
    assert isinstance(answer, SendChat) and answer.template == "MA-007/solo_texto"
    assert answer.to == ("@requester",) and answer.immediate


def test_a_file_too_big_is_explained_in_any_state() -> None:
    reasons = ["«video.mp4» no es una foto ni un PDF", "«x.pdf» pesa 30.0 MB"]
    d = decide(case("confirmando"), chat(event("mensaje"), "", omitidos=reasons))
    (answer,) = d.effects
    assert isinstance(answer, SendChat) and answer.context == {"omitidos": reasons}


# --- confirmation (pasos 16-18) ---------------------------------------------------------


@pytest.mark.parametrize("name", ["VALIDATED", "THANKS_DONE"])
def test_the_agent_confirms_and_the_ticket_closes_too(name: str) -> None:
    view = case("confirmando", tema="reset_ipad", solucion="Respuesta conocida: reset_ipad")
    d = decide(view, chat(intent(name), "Sí, ya quedó, gracias"))
    assert d.to_state == "cerrado" and d.final
    assert d.steps == ("MA-007 paso 16", "MA-007 paso 18")
    thanks, knowledge, done, linked = d.effects
    assert isinstance(thanks, SendChat) and thanks.template == "MA-007/cerrado"
    assert thanks.reply and thanks.immediate
    assert knowledge == RecordKnowledge(
        "reset_ipad", UNKNOWN, "Respuesta conocida: reset_ipad", "confirmado"
    )
    assert done == CompleteTasks()
    assert linked == SignalLinked(
        "seguimiento_chat",
        LINKED,
        {"motivo": "Resuelto en el chat y confirmado por el agente (MA-007 #12)"},
    )
    assert d.data == {"motivo_cierre": "confirmado", "confirmado_por": "agente"}


def test_not_solved_after_a_known_answer_opens_the_ticket() -> None:
    view = case("confirmando", descripcion=PASSWORD, tema="reset_ipad")
    d = decide(view, chat(intent("NOT_SOLVED"), "No, sigue bloqueada"))
    assert d.to_state == "en_seguimiento" and d.steps == ("MA-007 paso 17",)
    ticket, told, task = d.effects
    assert isinstance(ticket, OpenCase)
    assert ticket.text == f"{PASSWORD}\n\nDespués de la respuesta: No, sigue bloqueada"
    assert ticket.subject == f"Chat: {PASSWORD}"
    assert isinstance(told, SendChat) and told.template == "MA-007/en_seguimiento"
    assert isinstance(task, CreateTask) and task.kind == "atender_chat"
    assert d.data["reaperturas"] == 1


def test_not_solved_with_a_ticket_goes_back_to_the_specialists() -> None:
    view = case("confirmando", casos_relacionados=["MA-006 #13"], reaperturas=1)
    d = decide(view, chat(intent("NOT_SOLVED"), "No, sigue igual"))
    told, notice, task = d.effects
    assert isinstance(told, SendChat) and told.template == "MA-007/reabierto"
    assert told.reply and told.immediate
    assert told.context == {"plazo": "viernes 20 de noviembre a las 15:00"}
    assert isinstance(notice, SendMail) and notice.template == "MA-007/nuevo_mensaje"
    assert isinstance(task, CreateTask) and task.context["texto"] == "No, sigue igual"
    assert d.data == {"reaperturas": 2, "plazo": at(20, 15).isoformat()}


def test_the_reminder_waits_for_the_chat_window_and_names_the_close() -> None:
    view = case("confirmando", cierre_at=at(25, 11).isoformat())
    d = decide(view, Trigger(timer("recordatorio_confirmacion")), at(24, 11))
    (reminder,) = d.effects
    assert isinstance(reminder, SendChat) and reminder.template == "MA-007/recordatorio"
    assert not reminder.immediate
    assert reminder.context == {"fecha_cierre": "miércoles 25 de noviembre"}
    fallback = decide(case("confirmando"), Trigger(timer("recordatorio_confirmacion")), FRI)
    assert only(fallback, SendChat).context == {"fecha_cierre": "lunes 23 de noviembre"}


def test_no_answer_closes_without_confirmation() -> None:
    d = decide(case("confirmando", solucion="Se reinició"), Trigger(timer("cierre_automatico")))
    assert d.to_state == "cerrado"
    told, knowledge, done, linked = d.effects
    assert isinstance(told, SendChat) and told.template == "MA-007/cerrado_sin_respuesta"
    assert not told.immediate and not told.reply
    assert isinstance(knowledge, RecordKnowledge)
    assert (knowledge.kind, knowledge.outcome) == ("chat", "sin_respuesta")
    assert done == CompleteTasks()
    assert isinstance(linked, SignalLinked) and linked.commands == LINKED
    assert linked.values == {
        "motivo": "La atención por chat MA-007 #12 se cerró sin respuesta del agente"
    }


def test_follow_up_reminds_the_assignee_by_mail_and_chat_and_repeats() -> None:
    d = decide(case("en_seguimiento"), Trigger(timer("seguimiento")))
    mail, note = d.effects
    assert isinstance(mail, SendMail) and mail.template == "MA-007/seguimiento"
    assert mail.to == ("@assignee",)
    assert isinstance(note, SendChat) and note.to == ("@assignee",) and note.immediate
    assert [(a.kind, a.due_at) for a in d.arm] == [("seguimiento", at(23, 11))]


# --- specialist commands ----------------------------------------------------------------


def test_responder_writes_to_the_agent_and_keeps_a_note() -> None:
    view = case("en_seguimiento", urgencia="alta")
    d = decide(view, cmd("responder", nota="Ya lo estamos revisando con MetLife"))
    (message,) = d.effects
    assert isinstance(message, SendChat) and message.template == "MA-007/mensaje"
    assert message.context == {"texto": "Ya lo estamos revisando con MetLife"}
    assert message.immediate
    assert d.data["notas"][-1]["text"] == "(al agente) Ya lo estamos revisando con MetLife"
    assert reject(view, cmd("responder")).code == "missing_values"


@pytest.mark.parametrize("state", ["en_atencion", "en_seguimiento"])
def test_resolver_sends_the_solution_and_asks_to_confirm(state: str) -> None:
    d = decide(case(state), cmd("resolver", solucion="Reinstala Pro99 desde la App Store"))
    assert d.to_state == "confirmando"
    answer = only(d, SendChat)
    assert answer.template == "MA-007/solucion" and not answer.immediate
    assert answer.context == {
        "solucion": "Reinstala Pro99 desde la App Store",
        "fecha_cierre": "miércoles 25 de noviembre",
    }
    assert CompleteTasks(kind="atender_chat") in d.effects
    # Solved before the opening: the queued triage must not run afterwards.
    assert ("apertura" in d.cancel_kinds) is (state == "en_atencion")
    assert all(not isinstance(e, CancelTimer) for e in d.effects)
    assert d.data["solucion"] == "Reinstala Pro99 desde la App Store"
    assert d.data["resuelto_at"] == FRI.isoformat()
    assert reject(case(state), cmd("resolver", solucion=" ")).code == "missing_values"


def test_escalar_metlife_opens_the_three_way_call_task() -> None:
    d = decide(case("en_seguimiento"), cmd("escalar_metlife", nota="Error de MetLife"))
    assert d.to_state == "en_seguimiento" and d.steps == ("MA-007 paso 12", "MA-007 paso 13")
    task, told = d.effects
    assert isinstance(task, CreateTask)
    assert (task.kind, task.template, task.action, task.fills) == (
        "escalamiento_metlife",
        "MA-007/escalamiento_metlife",
        "caso_metlife",
        "caso",
    )
    assert task.due == business_hours(4) and task.context == {"nota": "Error de MetLife"}
    assert isinstance(told, SendChat) and told.template == "MA-007/escalado_metlife"
    assert d.data["notas"][-1]["text"] == "Error de MetLife"
    plain = decide(case("en_seguimiento"), cmd("escalar_metlife"))
    assert "notas" not in plain.data
    assert reject(case("confirmando"), cmd("escalar_metlife")).code == "no_transition"


@pytest.mark.parametrize("number", ["C-2026-004512", "45871236", "SR/88123", "ab123", " 9876 "])
def test_caso_metlife_records_the_number(number: str) -> None:
    d = decide(case("en_seguimiento"), cmd("caso_metlife", caso=number))
    assert d.data == {"caso_metlife": number.strip()}
    done, told = d.effects
    assert done == CompleteTasks(kind="escalamiento_metlife")
    assert isinstance(told, SendChat) and told.context == {"caso": number.strip()}
    assert d.steps == ("MA-007 paso 14",)


@pytest.mark.parametrize(
    "number",
    ["12", "abc", "AB-12", "caso 12345", "1234567890123456789012345678901", "12#45", "sin número"],
)
def test_caso_metlife_refuses_what_is_not_a_case_number(number: str) -> None:
    refused = reject(case("confirmando"), cmd("caso_metlife", caso=number))
    assert refused.code == "guard"
    assert "número de caso de MetLife" in refused.reason


@pytest.mark.parametrize("state", ["en_seguimiento", "confirmando"])
def test_validar_closes_for_the_agent_who_confirmed_by_phone(state: str) -> None:
    d = decide(case(state), cmd("validar"))
    assert d.to_state == "cerrado"
    told = only(d, SendChat)
    assert told.template == "MA-007/cerrado" and not told.reply
    linked = only(d, SignalLinked)
    assert linked.values["motivo"].endswith("(MA-007 #12)")
    assert d.data["confirmado_por"] == "especialista"


def test_reabrir_takes_it_up_again() -> None:
    view = case("confirmando", casos_relacionados=["MA-006 #13"])
    d = decide(view, cmd("reabrir"))
    assert d.to_state == "en_seguimiento"
    told, task = d.effects
    assert isinstance(told, SendChat) and told.template == "MA-007/reabierto"
    assert not told.reply and not told.immediate
    assert isinstance(task, CreateTask) and task.context["texto"] == UNKNOWN
    assert reject(case("en_seguimiento"), cmd("reabrir")).code == "no_transition"


@pytest.mark.parametrize("state", ["en_atencion", "en_seguimiento", "confirmando"])
def test_cerrar_needs_a_reason_and_closes_the_ticket(state: str) -> None:
    d = decide(case(state), cmd("cerrar", motivo="Se resolvió por teléfono."))
    assert d.to_state == "cerrado"
    told, knowledge, done, linked = d.effects
    assert isinstance(told, SendChat) and told.template == "MA-007/cerrado_especialista"
    assert told.context == {"motivo": "Se resolvió por teléfono."}
    assert isinstance(knowledge, RecordKnowledge)
    assert knowledge.outcome == "cerrado_por_especialista"
    assert done == CompleteTasks()
    assert linked == SignalLinked(
        "seguimiento_chat",
        LINKED,
        {
            "motivo": "Atención por chat MA-007 #12 cerrada por el especialista: "
            "Se resolvió por teléfono."
        },
    )
    assert reject(case(state), cmd("cerrar")).code == "missing_values"


def test_desk_commands_and_permissions() -> None:
    noted = decide(case("en_atencion"), cmd("nota", nota="Le llamé"))
    assert noted.data["notas"][-1]["text"] == "Le llamé"
    moved = decide(case("confirmando"), cmd("asignar", asignado="carlos@example.com"))
    assert moved.assignee == "carlos@example.com"
    outsider = Trigger(command("resolver"), AGENT["correo"], frozenset(), {"solucion": "x"})
    assert reject(case("en_seguimiento"), outsider).code == "not_allowed"
    assert reject(case("cerrado"), cmd("cerrar", motivo="x")).code == "closed"
    assert reject(case("en_atencion"), cmd("validar")).code == "no_transition"
