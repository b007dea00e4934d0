"""MA-007 Atención a agentes por chat (seeds/001, MA-007 pasos 1-20)."""

# Authorized agents write on Telegram. Known topics (the iPad password reset, how to use
# Pro99 and BLife) are answered at once; anything else becomes a linked MA-006 ticket with
# a promised answer time, and the agent confirms the solution on the chat. Outside the chat
# window the agent gets one notice per closed period and the conversation waits for the
# opening, where the specialists see it.
#
# Facts the chat channel puts on every trigger:
#   canal:          "telegram"
#   persona:        {"nombre", "correo", "clave"}  the agent as the directory knows them
#   omitidos:       ["«x.pdf» pesa 30.0 MB y ..."]  files not received, as Spanish reasons
#   sin_contenido:  True  a sticker, voice note or location, which carries no text

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bot.calendar import MONTHS, WEEKDAYS, spanish_when
from bot.config import fold_name
from bot.rules.common import assignee_notice, desk_commands, notes, remind_assignee
from bot.rules.dsl import (
    Context,
    Outcome,
    Process,
    State,
    TimerDecl,
    Transition,
    command,
    event,
    intent,
    timer,
)
from bot.rules.effects import (
    ArmTimer,
    CancelTimer,
    CompleteTasks,
    CreateTask,
    Delay,
    Effect,
    OpenCase,
    RecordKnowledge,
    SendChat,
    SignalLinked,
    business_days,
    business_hours,
)

CODE = "MA-007"
CHAT = "chat"
TICKET = "MA-006"
LINK = "seguimiento_chat"  # how the chat's follow-up ticket is linked
RESET_TOPIC = "reset_ipad"  # paso 8; every other known topic is orientation (paso 9)
MAX_TEXT = 4000

# --- urgency (paso 3) -------------------------------------------------------------------

# Folded phrases (bot.config.fold_name) that make a chat urgent, matched as whole words in
# order: "urge" does not match inside "urgencia", so each form is listed. An agent with the
# client in front of them, or something that expires today, cannot wait for the queue.
URGENT_PHRASES = (
    "urgente",
    "urgentemente",
    "urge",
    "urgencia",
    "emergencia",
    "de inmediato",
    "inmediatamente",
    "lo antes posible",
    "lo mas pronto posible",
    "cuanto antes",
    "asap",
    "cliente esperando",
    "cliente me esta esperando",
    "cliente esta esperando",
    "cliente en linea",
    "estoy con el cliente",
    "estamos con el cliente",
    "con el cliente enfrente",
    "con el cliente aqui",
    "vence hoy",
    "hoy vence",
    "se vence hoy",
    "no puedo emitir",
    "no puedo cotizar",
    "no puedo cobrar",
    "no puedo pagar",
    "no me deja emitir",
    "no me deja cotizar",
    "no me deja cobrar",
    "no me deja pagar",
)
# Removed before matching. Denials ("no es urgente") say the opposite of the word they
# contain, and medical urgencies are coverage an agent asks about, not the agent's hurry.
# Plain "con el cliente" is not listed above: "ya hablé con el cliente" is no emergency.
NOT_URGENT_PHRASES = (
    "no es urgente",
    "no es urgencia",
    "no es de urgencia",
    "no urge",
    "nada urgente",
    "sin urgencia",
    "urgencia medica",
    "urgencias medicas",
    "emergencia medica",
    "emergencias medicas",
)


def urgency(text: str) -> tuple[str, str]:
    """("alta", the first listed phrase found) or ("normal", "") for an agent's message."""
    folded = fold_name(text)
    for phrase in NOT_URGENT_PHRASES:
        folded = _whole(phrase).sub(" ", folded)
    for phrase in URGENT_PHRASES:
        if _whole(phrase).search(folded):
            return "alta", phrase
    return "normal", ""


def _whole(phrase: str) -> re.Pattern[str]:
    """A folded phrase as whole words (folded text has only letters, digits and spaces)."""
    return re.compile(rf"(?<!\S){re.escape(phrase)}(?!\S)")


# --- known answers (pasos 6-9) ----------------------------------------------------------


def known_topic(text: str, answers: Mapping[str, tuple[str, ...]]) -> str | None:
    """The known-answer topic a message is about, or None when none matches."""
    # A phrase matches when each of its words is a whole word of the folded message, in any
    # order: agents write "¿cómo uso la app de BLife?" as often as "cómo usar BLife". Most
    # matching phrases wins; then the longest matching phrase (the most specific), then the
    # alphabetical order, so the answer never depends on how the mapping was built.
    words = set(fold_name(text).split())
    best: tuple[int, int, str] | None = None
    for topic in sorted(answers):
        matched = [p for p in answers[topic] if p.split() and set(p.split()) <= words]
        if not matched:
            continue
        score = (len(matched), max(len(p) for p in matched), topic)
        if best is None or score[:2] > best[:2]:
            best = score
    return best[2] if best is not None else None


def _topic(ctx: Context) -> str | None:
    """The known topic of the conversation so far."""
    answers: Mapping[str, tuple[str, ...]] = ctx.settings.get("respuestas", {})
    return known_topic(str(ctx.case.data.get("descripcion", "")), answers)


def _password_topic(ctx: Context) -> bool:
    """Paso 8: the agent cannot get into a MetLife app on the iPad."""
    return _topic(ctx) == RESET_TOPIC


def _orientation_topic(ctx: Context) -> bool:
    """Paso 9: a how-to question with a known answer."""
    topic = _topic(ctx)
    return topic is not None and topic != RESET_TOPIC


def _no_topic(ctx: Context) -> bool:
    """Paso 10: nothing known answers it; it needs a specialist."""
    return _topic(ctx) is None


# --- shared pieces ----------------------------------------------------------------------


def _urgent(ctx: Context) -> bool:
    """An urgent chat is answered at once, even outside the chat window."""
    return ctx.case.data.get("urgencia") == "alta"


def _day(dt: datetime) -> str:
    """A day as said to people: 'miércoles 25 de noviembre'."""
    return f"{WEEKDAYS[dt.weekday()]} {dt.day} de {MONTHS[dt.month - 1]}"


def _agent(ctx: Context) -> dict[str, str]:
    """The agent the channel identified, with every key the templates read."""
    persona: Mapping[str, Any] = ctx.trigger.facts.get("persona") or {}
    agent = {"nombre": ctx.case.requester, "correo": ctx.case.requester, "clave": ""}
    agent.update({k: str(v) for k, v in persona.items() if v})
    return agent


def _hours_notice(ctx: Context) -> tuple[SendChat, datetime]:
    """Paso 19: the chat hours and the next opening, answered at once; and that opening."""
    opening = ctx.calendar.local(ctx.calendar.next_opening(ctx.now, CHAT))
    notice = SendChat(
        ("@requester",),
        "MA-007/fuera_de_horario",
        context={
            "apertura": spanish_when(opening),
            "horario_chat": ctx.calendar.describe_hours(CHAT),
        },
        reply=True,
        immediate=True,
    )
    return notice, opening


def _new_closed_period(ctx: Context) -> bool:
    """Closed now, and the agent has not been told about this closed period yet."""
    if ctx.calendar.is_open(ctx.now, CHAT):
        return False
    told = ctx.case.data.get("aviso_horario")
    # The notice names the next opening: once it has passed, a later closure is a new one.
    return not told or datetime.fromisoformat(str(told)) <= ctx.now


def _file_answers(ctx: Context) -> list[Effect]:
    """What the agent sent that we could not take is answered at once, every time."""
    effects: list[Effect] = []
    skipped = [str(reason) for reason in ctx.trigger.facts.get("omitidos") or ()]
    if skipped:
        effects.append(
            SendChat(
                ("@requester",),
                "MA-007/archivo_no_recibido",
                context={"omitidos": skipped},
                reply=True,
                immediate=True,
            )
        )
    if ctx.trigger.facts.get("sin_contenido") and not ctx.trigger.text.strip():
        effects.append(SendChat(("@requester",), "MA-007/solo_texto", reply=True, immediate=True))
    return effects


def _close_at(ctx: Context) -> datetime:
    """When a case entering confirmando closes without an answer (as the engine arms it)."""
    delay: Delay = ctx.settings["validation_close"]
    return ctx.calendar.local(delay.due(ctx.wait_start, ctx.calendar))


def _answer_delay(ctx: Context) -> Delay:
    """How long the agent is told to wait for a specialist's answer (paso 11)."""
    delay: Delay = ctx.settings["respuesta_urgente" if _urgent(ctx) else "respuesta_ticket"]
    return delay


def _attend_task(ctx: Context, text: str, delay: Delay) -> CreateTask:
    """The specialists' task to answer the agent; replying to it on chat resolves the case."""
    return CreateTask(
        kind="atender_chat",
        title="Atender a {{ case.data.agente.nombre }} por chat ({{ case.ref }})",
        assignee="@specialists",
        template="MA-007/atender",
        context={"texto": text[:MAX_TEXT], "urgencia": str(ctx.case.data.get("urgencia", ""))},
        due=delay,
        action="resolver",
        fills="solucion",
    )


def _subject(description: str) -> str:
    """The follow-up ticket's subject: the first line the agent wrote."""
    lines = [line.strip() for line in description[:MAX_TEXT].splitlines() if line.strip()]
    return f"Chat: {lines[0][:80]}" if lines else "Chat: mensaje sin texto"


def _ticket(ctx: Context, text: str) -> tuple[list[Effect], dict[str, Any]]:
    """Pasos 10-11: a linked ticket, the agent told by when, and the specialists' task."""
    # The ticket is opened first: the workflow applies effects in order, so the message to
    # the agent can name it (case.data.casos_relacionados[-1]).
    delay = _answer_delay(ctx)
    due = ctx.calendar.local(delay.due(ctx.now, ctx.calendar))
    description = str(ctx.case.data.get("descripcion", ""))
    effects: list[Effect] = [
        OpenCase(
            TICKET,
            relation=LINK,
            subject=_subject(description),
            text=text[:MAX_TEXT],
            carry_files=False,
        ),
        SendChat(
            ("@requester",),
            "MA-007/en_seguimiento",
            context={"plazo": spanish_when(due), "horas": delay.amount, "tiempo": str(delay)},
            immediate=_urgent(ctx),
        ),
        _attend_task(ctx, text, delay),
    ]
    return effects, {"plazo": due.isoformat()}


def _closing(ctx: Context, template: str, outcome: str, reason: str) -> list[Effect]:
    """Pasos 16 and 18: the agent told, a knowledge-base entry, every task of the case done."""
    data = ctx.case.data
    return [
        SendChat(
            ("@requester",),
            template,
            context={"motivo": reason} if reason else {},
            reply=ctx.trigger.on.kind == "intent",
            immediate=ctx.trigger.on.kind == "intent",
        ),
        RecordKnowledge(
            kind=str(data.get("tema") or "chat"),
            problem=str(data.get("descripcion", "")),
            solution=str(data.get("solucion", "")),
            outcome=outcome,
        ),
        CompleteTasks(),
    ]


def _close_ticket(motivo: str) -> SignalLinked:
    """The follow-up ticket is validated if it waits for that, else closed."""
    return SignalLinked(LINK, ("validar", "cerrar"), {"motivo": motivo})


# --- actions ----------------------------------------------------------------------------


def open_chat(ctx: Context) -> Outcome:
    """Pasos 1-3: the agent identified, urgency classified; triage now or at the opening."""
    text = ctx.trigger.text
    level, reason = urgency(text)
    data: dict[str, Any] = {
        "agente": _agent(ctx),
        "canal": "telegram",
        "descripcion": text[:MAX_TEXT],
        "urgencia": level,
        "motivo_urgencia": reason,
        "mensajes": 1,
        "adjuntos": len(ctx.trigger.attachments),
    }
    if ctx.calendar.is_open(ctx.now, CHAT):
        return Outcome(effects=tuple(_file_answers(ctx)), data=data, then="atender")
    # Specialists get no chat about it: queued conversations are in the opening digest.
    notice, opening = _hours_notice(ctx)
    effects: list[Effect] = [notice, *_file_answers(ctx), ArmTimer("apertura", at=opening)]
    data |= {"fuera_de_horario": True, "aviso_horario": opening.isoformat()}
    return Outcome(effects=tuple(effects), data=data)


def at_opening(ctx: Context) -> Outcome:
    """Paso 19: the chat window opens; the queued conversation is triaged."""
    return Outcome(data={"fuera_de_horario": False}, then="atender")


def answer_known(ctx: Context) -> Outcome:
    """Pasos 7-9: the known answer, step by step, asking whether it solved the problem."""
    topic = _topic(ctx)
    assert topic is not None  # the guard chose this transition because there is one
    close = _close_at(ctx)
    answer = SendChat(
        ("@requester",),
        f"MA-007/conocido/{topic}",
        context={"fecha_cierre": _day(close)},
        immediate=_urgent(ctx),
    )
    data = {
        "tema": topic,
        "solucion": f"Respuesta conocida: {topic}",
        "cierre_at": close.isoformat(),
    }
    return Outcome(effects=(answer,), data=data)


def open_follow_up(ctx: Context) -> Outcome:
    """Pasos 10-11: nothing known answers it: a ticket, a deadline, a task."""
    effects, data = _ticket(ctx, str(ctx.case.data.get("descripcion", "")))
    return Outcome(effects=tuple(effects), data=data)


def agent_wrote(ctx: Context) -> Outcome:
    """Paso 15: another message from the agent; the assignee is told, the hours respected."""
    text = ctx.trigger.text
    data: dict[str, Any] = {
        "mensajes": int(ctx.case.data.get("mensajes", 0)) + 1,
        "adjuntos": int(ctx.case.data.get("adjuntos", 0)) + len(ctx.trigger.attachments),
    }
    effects: list[Effect] = []
    if _new_closed_period(ctx):
        notice, opening = _hours_notice(ctx)
        effects.append(notice)
        data["aviso_horario"] = opening.isoformat()
    effects.extend(_file_answers(ctx))
    if ctx.case.state == "en_atencion":
        # Not triaged yet: the whole story is what the triage at the opening reads.
        if text.strip():
            before = str(ctx.case.data.get("descripcion", ""))
            data["descripcion"] = f"{before}\n\n{text}".strip()[:MAX_TEXT]
            level, reason = urgency(text)
            if level == "alta" and not _urgent(ctx):
                data |= {"urgencia": level, "motivo_urgencia": reason}
    elif text.strip() or ctx.trigger.attachments:
        # Team chat is never held back: the specialist on chat reads it as it comes.
        effects += [
            assignee_notice(ctx, "MA-007/nuevo_mensaje"),
            SendChat(
                ("@assignee",),
                "MA-007/nuevo_mensaje",
                context={"texto": text[:MAX_TEXT], "adjuntos": len(ctx.trigger.attachments)},
                immediate=True,
            ),
        ]
    return Outcome(effects=tuple(effects), data=data)


def confirmed(ctx: Context) -> Outcome:
    """Pasos 16 and 18: the agent (or a specialist who heard it by phone) confirms."""
    ref = ctx.case.ref
    if ctx.trigger.on.kind == "command":
        by, motivo = "especialista", f"El agente confirmó al especialista la solución ({ref})"
    else:
        by, motivo = "agente", f"Resuelto en el chat y confirmado por el agente ({ref})"
    effects = [*_closing(ctx, "MA-007/cerrado", "confirmado", ""), _close_ticket(motivo)]
    return Outcome(
        effects=tuple(effects), data={"motivo_cierre": "confirmado", "confirmado_por": by}
    )


def not_solved(ctx: Context) -> Outcome:
    """Paso 17: not solved; the ticket opens now, or the specialists take it up again."""
    reopened = int(ctx.case.data.get("reaperturas", 0)) + 1
    said = ctx.trigger.text.strip() if ctx.trigger.on.kind == "intent" else ""
    description = str(ctx.case.data.get("descripcion", ""))
    text = f"{description}\n\nDespués de la respuesta: {said}" if said else description
    if not ctx.case.data.get("casos_relacionados"):
        effects, data = _ticket(ctx, text)
        return Outcome(effects=tuple(effects), data={**data, "reaperturas": reopened})
    delay = _answer_delay(ctx)
    due = ctx.calendar.local(delay.due(ctx.now, ctx.calendar))
    effects = [
        SendChat(
            ("@requester",),
            "MA-007/reabierto",
            context={"plazo": spanish_when(due)},
            reply=ctx.trigger.on.kind == "intent",
            immediate=ctx.trigger.on.kind == "intent" or _urgent(ctx),
        )
    ]
    if said:
        effects.append(assignee_notice(ctx, "MA-007/nuevo_mensaje"))
    effects.append(_attend_task(ctx, said or description, delay))
    return Outcome(effects=tuple(effects), data={"reaperturas": reopened, "plazo": due.isoformat()})


def remind_agent(ctx: Context) -> Outcome:
    """Paso 16: the agent is reminded that the answer awaits a confirmation."""
    stored = ctx.case.data.get("cierre_at")
    close = (
        datetime.fromisoformat(str(stored))
        if stored
        else ctx.calendar.add_business_days(ctx.now, 1)
    )
    # Nothing urgent waits on a reminder: it goes in the chat window, not at night.
    reminder = SendChat(
        ("@requester",),
        "MA-007/recordatorio",
        context={"fecha_cierre": _day(ctx.calendar.local(close))},
    )
    return Outcome(effects=(reminder,))


def auto_close(ctx: Context) -> Outcome:
    """Paso 18: no answer from the agent: the attention closes without a confirmation."""
    motivo = f"La atención por chat {ctx.case.ref} se cerró sin respuesta del agente"
    effects = [
        *_closing(ctx, "MA-007/cerrado_sin_respuesta", "sin_respuesta", ""),
        _close_ticket(motivo),
    ]
    return Outcome(effects=tuple(effects), data={"motivo_cierre": "sin_respuesta"})


_remind_assignee = remind_assignee("MA-007/seguimiento")


def follow_up(ctx: Context) -> Outcome:
    """Paso 15: the agent still waits on the desk; the assignee is reminded by mail and chat."""
    mailed = _remind_assignee(ctx)
    chat = SendChat(("@assignee",), "MA-007/seguimiento", immediate=True)
    return Outcome(effects=(*mailed.effects, chat))


def write_agent(ctx: Context) -> Outcome:
    """Pasos 10 and 15: a specialist writes to the agent through the bot."""
    text = ctx.trigger.values["nota"]
    message = SendChat(
        ("@requester",), "MA-007/mensaje", context={"texto": text}, immediate=_urgent(ctx)
    )
    return Outcome(effects=(message,), data={"notas": notes(ctx, f"(al agente) {text}")})


def resolve(ctx: Context) -> Outcome:
    """Pasos 7, 15 and 16: the specialist's solution, and the agent asked to confirm it."""
    solution = ctx.trigger.values["solucion"]
    close = _close_at(ctx)
    effects: list[Effect] = [
        SendChat(
            ("@requester",),
            "MA-007/solucion",
            context={"solucion": solution, "fecha_cierre": _day(close)},
            immediate=_urgent(ctx),
        ),
        CompleteTasks(kind="atender_chat"),
    ]
    if ctx.case.state == "en_atencion":
        # Solved while queued: the opening must not triage a chat that is already answered.
        effects.append(CancelTimer("apertura"))
    data = {
        "solucion": solution,
        "resuelto_at": ctx.now.isoformat(),
        "cierre_at": close.isoformat(),
    }
    return Outcome(effects=tuple(effects), data=data)


def escalate(ctx: Context) -> Outcome:
    """Pasos 12-13: MetLife has to see it; a specialist calls them with the agent."""
    note = ctx.trigger.values.get("nota", "").strip()
    task = CreateTask(
        kind="escalamiento_metlife",
        title=(
            "Escalar a MetLife: llamada en tres vías con {{ case.data.agente.nombre }} "
            "({{ case.ref }})"
        ),
        template="MA-007/escalamiento_metlife",
        context={"nota": note},
        due=business_hours(4),
        action="caso_metlife",
        fills="caso",
    )
    told = SendChat(("@requester",), "MA-007/escalado_metlife", immediate=_urgent(ctx))
    data: dict[str, Any] = {"escalado_metlife_at": ctx.now.isoformat()}
    if note:
        data["notas"] = notes(ctx, note)
    return Outcome(effects=(task, told), data=data)


# MetLife case numbers come in more than one shape (digits only, or a prefix with "-" or
# "/"), so the check is loose; it still refuses a sentence or a word typed by mistake.
_METLIFE_CASE = re.compile(r"[A-Za-z0-9/-]{4,30}")


def valid_metlife_case(ctx: Context) -> bool:
    """Paso 14: 4-30 letters, digits, '-' or '/', with at least 3 digits."""
    value = ctx.trigger.values.get("caso", "").strip()
    return bool(_METLIFE_CASE.fullmatch(value)) and sum(c.isdigit() for c in value) >= 3


def record_metlife_case(ctx: Context) -> Outcome:
    """Paso 14: the case registered with MetLife; the agent gets its number."""
    number = ctx.trigger.values["caso"].strip()
    told = SendChat(
        ("@requester",),
        "MA-007/caso_metlife",
        context={"caso": number},
        immediate=_urgent(ctx),
    )
    return Outcome(
        effects=(CompleteTasks(kind="escalamiento_metlife"), told),
        data={"caso_metlife": number},
    )


def close_by_specialist(ctx: Context) -> Outcome:
    """Paso 18: a specialist closes the attention (answered by phone, duplicated, ...)."""
    reason = ctx.trigger.values["motivo"].strip()
    motivo = f"Atención por chat {ctx.case.ref} cerrada por el especialista: {reason}"
    effects: list[Effect] = [
        *_closing(ctx, "MA-007/cerrado_especialista", "cerrado_por_especialista", reason),
        _close_ticket(motivo),
    ]
    return Outcome(effects=tuple(effects), data={"motivo_cierre": reason})


# --- the process ------------------------------------------------------------------------


def _steps(*numbers: int) -> tuple[str, ...]:
    """Seed step names of MA-007."""
    return tuple(f"{CODE} paso {n}" for n in numbers)


_OPEN = ("en_atencion", "en_seguimiento", "confirmando")
_CONFIRM_INTENTS: tuple[tuple[str, str], ...] = (
    ("VALIDATED", "El agente confirma que quedó resuelto («sí, ya quedó»)"),
    ("THANKS_DONE", "El agente agradece y da por resuelto («gracias, ya lo tengo»)"),
)


def _confirm(name: str, description: str, action: Callable[[Context], Outcome]) -> Transition:
    """An intent in confirmando that closes the attention."""
    return Transition(
        ("confirmando",),
        intent(name),
        "cerrado",
        _steps(16, 18),
        action=action,
        description=description,
    )


PROCESS = Process(
    code=CODE,
    name="Atención a agentes por chat",
    states=(
        State("en_atencion", "En atención"),
        State(
            "en_seguimiento",
            "En seguimiento",
            timers=(
                TimerDecl(
                    "seguimiento",
                    "seguimiento",
                    repeat=True,
                    label="Recordatorio de seguimiento al especialista",
                ),
            ),
        ),
        State(
            "confirmando",
            "Confirmando con el agente",
            timers=(
                TimerDecl(
                    "recordatorio_confirmacion",
                    "validation_reminder",
                    label="Recordatorio de confirmación al agente",
                ),
                TimerDecl(
                    "cierre_automatico",
                    "validation_close",
                    label="Cierre automático sin respuesta",
                ),
            ),
            waiting_on="el agente",
        ),
        State("cerrado", "Cerrado", final=True),
    ),
    transitions=(
        Transition(
            (),
            event("abrir"),
            "en_atencion",
            _steps(1, 2, 3, 20),
            action=open_chat,
            description=(
                "Mensaje de un agente autorizado: se identifica y se clasifica la urgencia; "
                "fuera del horario del chat recibe el horario y la próxima apertura"
            ),
        ),
        Transition(
            ("en_atencion",),
            timer("apertura"),
            None,
            _steps(19),
            action=at_opening,
            description="Abre el horario del chat: la conversación en espera pasa a atención",
        ),
        Transition(
            ("en_atencion",),
            event("atender"),
            "confirmando",
            _steps(4, 5, 6, 7, 8),
            action=answer_known,
            guard=_password_topic,
            guard_label="el mensaje es sobre restablecer la contraseña en el iPad",
            description="Guía paso a paso para restablecer la contraseña en el iPad",
        ),
        Transition(
            ("en_atencion",),
            event("atender"),
            "confirmando",
            _steps(4, 5, 6, 7, 9),
            action=answer_known,
            guard=_orientation_topic,
            guard_label="hay una respuesta conocida para el tema",
            description="Orientación con una respuesta conocida (Pro99, BLife)",
        ),
        Transition(
            ("en_atencion",),
            event("atender"),
            "en_seguimiento",
            _steps(4, 5, 6, 10, 11),
            action=open_follow_up,
            guard=_no_topic,
            guard_label="no hay respuesta conocida para el tema",
            description=(
                "Requiere investigación: ticket de seguimiento y tiempo estimado de respuesta"
            ),
        ),
        Transition(
            _OPEN,
            event("mensaje"),
            None,
            _steps(15, 20),
            action=agent_wrote,
            description=(
                "Nuevo mensaje del agente: se registra y se avisa al especialista; fuera de "
                "horario, un solo aviso por cierre"
            ),
        ),
        *(_confirm(name, text, confirmed) for name, text in _CONFIRM_INTENTS),
        Transition(
            ("confirmando",),
            intent("NOT_SOLVED"),
            "en_seguimiento",
            _steps(17),
            action=not_solved,
            description="El agente indica que sigue igual: se toman nuevas acciones",
        ),
        Transition(
            ("confirmando",),
            timer("recordatorio_confirmacion"),
            None,
            _steps(16),
            action=remind_agent,
            description="Recordatorio al agente para confirmar la solución",
        ),
        Transition(
            ("confirmando",),
            timer("cierre_automatico"),
            "cerrado",
            _steps(16, 18),
            action=auto_close,
            description="Cierre automático: el agente no confirmó la solución",
        ),
        Transition(
            ("en_seguimiento",),
            timer("seguimiento"),
            None,
            _steps(15),
            action=follow_up,
            description="Recordatorio de seguimiento al especialista (correo y chat)",
        ),
        Transition(
            ("en_seguimiento", "confirmando"),
            command("responder"),
            None,
            _steps(10, 15),
            action=write_agent,
            requires=("nota",),
            description="El especialista escribe al agente por el chat",
        ),
        Transition(
            ("en_atencion", "en_seguimiento"),
            command("resolver"),
            "confirmando",
            _steps(7, 15, 16),
            action=resolve,
            requires=("solucion",),
            description="Solución enviada al agente; se le pide confirmarla",
        ),
        Transition(
            ("en_seguimiento",),
            command("escalar_metlife"),
            None,
            _steps(12, 13),
            action=escalate,
            description="Escalar a MetLife: tarea de llamada en tres vías con el agente",
        ),
        Transition(
            ("en_seguimiento", "confirmando"),
            command("caso_metlife"),
            None,
            _steps(14),
            action=record_metlife_case,
            guard=valid_metlife_case,
            guard_label=(
                "el número de caso de MetLife debe tener de 4 a 30 letras, dígitos, «-» o «/», "
                "con al menos 3 dígitos"
            ),
            requires=("caso",),
            description="Registrar el número de caso de MetLife e informarlo al agente",
        ),
        Transition(
            ("en_seguimiento", "confirmando"),
            command("validar"),
            "cerrado",
            _steps(16, 18),
            action=confirmed,
            description="El especialista registra la confirmación del agente (por teléfono)",
        ),
        Transition(
            ("confirmando",),
            command("reabrir"),
            "en_seguimiento",
            _steps(17),
            action=not_solved,
            description="El especialista reabre la atención: no quedó resuelto",
        ),
        Transition(
            _OPEN,
            command("cerrar"),
            "cerrado",
            _steps(18),
            action=close_by_specialist,
            requires=("motivo",),
            description="Cierre por el especialista (resuelto por teléfono, duplicado)",
        ),
        *desk_commands(_OPEN, f"{CODE} paso 15", "la atención"),
    ),
    # Armed at an instant (the chat's next opening) by the entry; resolver cancels it.
    case_timers=("apertura",),
    settings={
        "respuestas": {},
        "respuesta_ticket": business_hours(4),
        "respuesta_urgente": business_hours(1),
        "seguimiento": business_days(1),
        "validation_reminder": business_days(2),
        "validation_close": business_days(3),
    },
)
