"""MA-006 Mesa de Ayuda: gestión de tickets (seeds/001, MA-006 pasos 1-19)."""

from __future__ import annotations

from typing import Any

from bot.rules.common import (
    add_note,
    answer_auto,
    assign,
    assignee_notice,
    notes,
    remind_assignee,
    validation_reminder,
)
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
    CompleteTasks,
    CreateTask,
    OpenCase,
    RecordKnowledge,
    SendMail,
    business_days,
    business_hours,
)

CODE = "MA-006"
TICKET_TYPES = ("gestion_cuentas", "acceso", "consultas", "soporte_tecnico")


def _close_date(ctx: Context) -> str:
    """The automatic-close date announced to the requester, in ISO form."""
    days = ctx.settings["validation_close"]
    return ctx.calendar.local(days.due(ctx.wait_start, ctx.calendar)).date().isoformat()


def _knowledge(ctx: Context, outcome: str) -> RecordKnowledge:
    """The knowledge-base entry written when a ticket closes (pasos 18-19)."""
    return RecordKnowledge(
        kind=str(ctx.case.data.get("tipo", "")),
        problem=ctx.case.subject,
        solution=str(ctx.case.data.get("solucion", "")),
        outcome=outcome,
    )


def open_ticket(ctx: Context) -> Outcome:
    """Pasos 1-3: acknowledge at once with the reference, whatever the hour."""
    ack = SendMail(
        to=("@requester",),
        template="MA-006/acuse",
        auto="auto-replied",
        reply=True,
        immediate=True,
    )
    return Outcome(effects=(ack,), data={"descripcion": ctx.trigger.text[:4000]})


def take(ctx: Context) -> Outcome:
    """Pasos 4-7: the specialist takes it, classifies it, documents and answers."""
    assignee = ctx.trigger.values.get("asignado") or ctx.trigger.actor
    data: dict[str, Any] = {"tipo": ctx.trigger.values["tipo"], "tomado_at": ctx.now.isoformat()}
    effects: list[Any] = []
    note = ctx.trigger.values.get("nota", "").strip()
    if note:
        data["notas"] = notes(ctx, note)
        effects.append(
            SendMail(
                to=("@requester",), template="MA-006/respuesta_inicial", context={"texto": note}
            )
        )
    return Outcome(effects=tuple(effects), data=data, assignee=assignee)


def valid_type(ctx: Context) -> bool:
    """Paso 5: the type is one of the documented four."""
    return ctx.trigger.values.get("tipo", "") in TICKET_TYPES


def first_response_late(ctx: Context) -> Outcome:
    """Nobody took the ticket within the first-response SLA: alert the team."""
    alert = SendMail(
        to=("@specialists",),
        cc=("@supervisor",),
        template="MA-006/alerta_sla",
        auto="auto-generated",
        immediate=True,
    )
    return Outcome(effects=(alert,), detail={"sla": "primera_respuesta"})


def write_requester(ctx: Context) -> Outcome:
    """Pasos 9-10: keep the requester informed."""
    text = ctx.trigger.values["nota"]
    mail = SendMail(to=("@requester",), template="MA-006/mensaje", context={"texto": text})
    return Outcome(effects=(mail,), data={"notas": notes(ctx, f"(al usuario) {text}")})


def requester_wrote(ctx: Context) -> Outcome:
    """Paso 9: a new message from the requester is attached; the assignee is told."""
    if ctx.case.state == "en_validacion":
        # Read as neither "ya quedó" nor "sigue sin funcionar": a person decides, with the
        # reply quoted; the bot never guesses a validation.
        review = CreateTask(
            kind="revisar_respuesta",
            title="Revisar la respuesta de {{ case.requester }} a la solución de {{ case.ref }}",
            template="MA-006/respuesta_sin_interpretar",
            context={"texto": ctx.trigger.text[:4000], "remitente": ctx.trigger.actor},
            due=business_hours(4),
        )
        return Outcome(effects=(review,))
    return Outcome(effects=(assignee_notice(ctx, "MA-006/nuevo_mensaje"),))


# Paso 9: a ticket in progress is never silent; the assignee is reminded.
follow_up = remind_assignee("MA-006/seguimiento")


def resolve(ctx: Context) -> Outcome:
    """Pasos 11-15: document the solution, send it, ask for validation in 3 business days."""
    solution = ctx.trigger.values["solucion"]
    mail = SendMail(
        to=("@requester",),
        template="MA-006/solucion",
        context={"solucion": solution, "fecha_cierre": _close_date(ctx)},
        attachments=ctx.trigger.attachments,
    )
    data = {"solucion": solution, "resuelto_at": ctx.now.isoformat()}
    return Outcome(effects=(mail,), data=data)


remind_validation = validation_reminder("MA-006/recordatorio_validacion")


def validated(ctx: Context) -> Outcome:
    """Paso 16: the requester (or the specialist on their behalf) validated."""
    mail = SendMail(
        to=("@requester",), template="MA-006/cerrado_validado", reply=True, auto=answer_auto(ctx)
    )
    by = "especialista" if ctx.trigger.on.kind == "command" else "usuario"
    return Outcome(
        effects=(mail, _knowledge(ctx, "validado"), CompleteTasks()),
        data={"motivo_cierre": "validado", "validado_por": by},
    )


def not_solved(ctx: Context) -> Outcome:
    """The requester says it is not solved: back to work, the assignee is told."""
    notice = SendMail(
        to=("@assignee",),
        template="MA-006/no_resuelto",
        context={"texto": ctx.trigger.text[:4000]},
        auto="auto-generated",
        immediate=True,
    )
    ack = SendMail(
        to=("@requester",), template="MA-006/reabierto", reply=True, auto=answer_auto(ctx)
    )
    reopened = int(ctx.case.data.get("reaperturas", 0)) + 1
    done = CompleteTasks(kind="revisar_respuesta")
    return Outcome(effects=(notice, ack, done), data={"reaperturas": reopened})


def auto_close(ctx: Context) -> Outcome:
    """Paso 17: no answer in 3 business days closes the ticket."""
    mail = SendMail(
        to=("@requester",), template="MA-006/cerrado_sin_respuesta", auto="auto-generated"
    )
    return Outcome(
        effects=(mail, _knowledge(ctx, "sin_respuesta"), CompleteTasks()),
        data={"motivo_cierre": "sin_respuesta"},
    )


def close_by_specialist(ctx: Context) -> Outcome:
    """A specialist closes a ticket that needs no work (duplicate, improcedente)."""
    reason = ctx.trigger.values["motivo"]
    mail = SendMail(
        to=("@requester",), template="MA-006/cerrado_especialista", context={"motivo": reason}
    )
    return Outcome(
        effects=(mail, _knowledge(ctx, "cerrado_por_especialista"), CompleteTasks()),
        data={"motivo_cierre": reason},
    )


# The processes a ticket can turn into once a specialist sees what it really is.
CONVERTIBLE = ("MA-001", "MA-005")


def valid_conversion(ctx: Context) -> bool:
    """The target process is one a ticket can become."""
    return ctx.trigger.values.get("proceso", "").upper() in CONVERTIBLE


def convert(ctx: Context) -> Outcome:
    """The ticket is really a documented process (e.g. an alta): it continues as that case."""
    target = ctx.trigger.values["proceso"].upper()
    return Outcome(
        effects=(OpenCase(target), CompleteTasks()),
        data={"motivo_cierre": f"convertido a {target}"},
    )


_OPEN = ("pendiente_atencion", "en_proceso")

PROCESS = Process(
    code=CODE,
    name="Gestión de tickets",
    states=(
        State(
            "pendiente_atencion",
            "Pendiente de atención",
            timers=(
                TimerDecl(
                    "sla_primera_respuesta",
                    "first_response",
                    label="Límite de primera respuesta",
                    sla=True,
                ),
            ),
        ),
        State(
            "en_proceso",
            "En proceso",
            timers=(
                TimerDecl(
                    "seguimiento", "follow_up", repeat=True, label="Recordatorio de seguimiento"
                ),
            ),
        ),
        State(
            "en_validacion",
            "En validación",
            timers=(
                TimerDecl(
                    "recordatorio_validacion",
                    "validation_reminder",
                    label="Recordatorio de validación al usuario",
                ),
                TimerDecl(
                    "cierre_automatico", "validation_close", label="Cierre automático sin respuesta"
                ),
            ),
            # The solution was sent; the requester has to confirm it (pasos 15-17).
            waiting_on="el usuario",
        ),
        State("cerrado", "Cerrado", final=True),
    ),
    transitions=(
        Transition(
            (),
            event("abrir"),
            "pendiente_atencion",
            ("MA-006 paso 1", "MA-006 paso 2", "MA-006 paso 3"),
            action=open_ticket,
            description="Ticket recibido, acuse automático con la referencia",
        ),
        Transition(
            ("pendiente_atencion",),
            command("tomar"),
            "en_proceso",
            ("MA-006 paso 4", "MA-006 paso 5", "MA-006 paso 6", "MA-006 paso 7"),
            action=take,
            guard=valid_type,
            guard_label="tipo debe ser " + ", ".join(TICKET_TYPES),
            requires=("tipo",),
            description="El especialista toma el ticket, lo clasifica y responde",
        ),
        Transition(
            ("pendiente_atencion",),
            timer("sla_primera_respuesta"),
            None,
            ("MA-006 paso 4",),
            action=first_response_late,
            description="Alerta: primera respuesta fuera de SLA",
        ),
        Transition(
            _OPEN,
            command("nota"),
            None,
            ("MA-006 paso 6",),
            action=add_note,
            requires=("nota",),
            description="Nota interna",
        ),
        Transition(
            (*_OPEN, "en_validacion"),
            command("asignar"),
            None,
            ("MA-006 paso 4",),
            action=assign,
            requires=("asignado",),
            description="Reasignar el ticket",
        ),
        Transition(
            ("en_proceso",),
            command("responder"),
            None,
            ("MA-006 paso 9", "MA-006 paso 10"),
            action=write_requester,
            requires=("nota",),
            description="Informar avances al usuario",
        ),
        Transition(
            (*_OPEN, "en_validacion"),
            event("mensaje"),
            None,
            ("MA-006 paso 9",),
            action=requester_wrote,
            description="Nuevo mensaje del usuario: se adjunta y se avisa al asignado",
        ),
        Transition(
            ("en_proceso",),
            timer("seguimiento"),
            None,
            ("MA-006 paso 9",),
            action=follow_up,
            description="Recordatorio de seguimiento al asignado",
        ),
        Transition(
            ("en_proceso",),
            command("resolver"),
            "en_validacion",
            (
                "MA-006 paso 11",
                "MA-006 paso 12",
                "MA-006 paso 13",
                "MA-006 paso 14",
                "MA-006 paso 15",
            ),
            action=resolve,
            requires=("solucion",),
            description="Solución enviada y validación solicitada (3 días hábiles)",
        ),
        Transition(
            ("en_validacion",),
            timer("recordatorio_validacion"),
            None,
            ("MA-006 paso 15",),
            action=remind_validation,
            description="Recordatorio al usuario un día hábil antes del cierre automático",
        ),
        Transition(
            ("en_validacion",),
            intent("VALIDATED"),
            "cerrado",
            ("MA-006 paso 16", "MA-006 paso 18", "MA-006 paso 19"),
            action=validated,
            description="El usuario valida la solución",
        ),
        Transition(
            ("en_validacion",),
            intent("THANKS_DONE"),
            "cerrado",
            ("MA-006 paso 16", "MA-006 paso 18", "MA-006 paso 19"),
            action=validated,
            description="El usuario confirma que ya lo tiene («Muchas gracias, ya lo tengo»)",
        ),
        Transition(
            ("en_validacion",),
            command("validar"),
            "cerrado",
            ("MA-006 paso 16", "MA-006 paso 18", "MA-006 paso 19"),
            action=validated,
            description="El especialista registra la validación (teléfono, presencial)",
        ),
        Transition(
            ("en_validacion",),
            intent("NOT_SOLVED"),
            "en_proceso",
            ("MA-006 paso 9", "MA-006 paso 14"),
            action=not_solved,
            description="El usuario indica que no quedó resuelto",
        ),
        Transition(
            ("en_validacion",),
            command("reabrir"),
            "en_proceso",
            ("MA-006 paso 14",),
            action=not_solved,
            description="El especialista reabre el ticket",
        ),
        Transition(
            ("en_validacion",),
            timer("cierre_automatico"),
            "cerrado",
            ("MA-006 paso 17", "MA-006 paso 18", "MA-006 paso 19"),
            action=auto_close,
            description="Cierre automático sin respuesta en 3 días hábiles",
        ),
        Transition(
            _OPEN,
            command("convertir"),
            "cerrado",
            ("MA-006 paso 5",),
            action=convert,
            guard=valid_conversion,
            guard_label="proceso debe ser " + ", ".join(CONVERTIBLE),
            requires=("proceso",),
            description="El ticket es una solicitud de otro proceso: continúa como ese caso",
        ),
        Transition(
            _OPEN,
            command("cerrar"),
            "cerrado",
            ("MA-006 paso 16", "MA-006 paso 18"),
            action=close_by_specialist,
            requires=("motivo",),
            description="Cierre por el especialista (duplicado, improcedente)",
        ),
    ),
    settings={
        "first_response": business_hours(4),
        "follow_up": business_days(2),
        "validation_close": business_days(3),
        "validation_reminder": business_days(2),
    },
)
