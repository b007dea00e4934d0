"""MA-002 Cuentas MET agentes (seeds/001, MA-002 pasos 1-20).

The daily sweep of CAM Pegasus (bot.sweeps) opens a case for each new agent in
"Solicitado". The bot asks the zone's commercial assistants to confirm the alta with an
Excel form for the complementary data, understands "Sí adelante" / "Deténlo" / "Te aviso
cuando proceda", chases the answer, hands the DES 3.0 capture to a specialist, keeps CAM
Pegasus in step, sends the credentials through the assistant and closes on "Muchas
gracias, ya lo tengo".

Only the zone's assistants or the team, authenticated (CONTRACT "Who may approve"), move a
case by mail; a specialist may also forward an assistant's reply, and then the assistant
inside the forward is who is checked. Anyone else is recorded and alerted.

Facts the pipeline and the sweep put on a trigger:
  agente:             the CAM Pegasus record (sweep only)
  formulario_agente:  {"estado": ok|ilegible|ausente, "datos", "errores", "decision",
                       "caso", "clave", "archivo", "sha"}  the assistant's Excel form
  firmados:           [{"sha", "archivo", "ok", "motivo", ...}]  screenshots (PDF, image)
  reenvio:            {"por", "remitente", "fecha", "asunto"}  a forwarded reply
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

from bot.config import fold_name
from bot.rules.common import answer_auto, desk_commands, remind_assignee, tell_assignee
from bot.rules.dsl import (
    CaseView,
    Context,
    Outcome,
    Process,
    State,
    TimerDecl,
    Transition,
    Trigger,
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
    DeliverCredentials,
    Effect,
    KeepDocument,
    OpenCase,
    RecordKnowledge,
    RenderAgentForm,
    SendMail,
    UpdatePegasus,
    business_days,
    days,
)

if TYPE_CHECKING:
    from bot.documents.agent_form import AgentData, AgentInfo

# bot.documents.agent_form (the form's fields and readers) is imported where it is used: the
# rules load with every command of the CLI, and the form's module costs tens of ms.

CODE = "MA-002"
FORM = "doc:formato"
FILLED_FORM = "doc:formato_lleno"
CAPTURE = "doc:captura"
TEAM = frozenset({"specialist", "supervisor", "backup"})
# A snoozed case re-asks every few business days; after this many unanswered, escalate.
SNOOZE_ESCALATION = 3

# --- who may answer ---------------------------------------------------------------------


def _zone(case: CaseView) -> str:
    """The case's commercial zone ("" while unknown)."""
    return str(case.data.get("zona", ""))


def may_answer(case: CaseView, trigger: Trigger) -> bool:
    """The zone's assistants or the team, authenticated; closing needs no authentication."""
    zone = _zone(case)
    roles = trigger.actor_roles
    allowed = bool(roles & TEAM) or (bool(zone) and f"assistant:{zone}" in roles)
    if case.state == "esperando_cierre":
        # "Muchas gracias, ya lo tengo" approves nothing (the agent is already active), so,
        # as with a requester's validation, it needs no authentication; the agent may say it.
        return allowed or trigger.actor == case.requester != ""
    return allowed and trigger.authenticated


def _authorized(ctx: Context) -> bool:
    """The sender may move this case (see may_answer)."""
    return may_answer(ctx.case, ctx.trigger)


def _stranger(ctx: Context) -> bool:
    """Someone who may not answer for this case wrote: recorded and alerted, never acted on.

    The agent themselves is no stranger: their mail goes to a specialist like any other.
    """
    return not _authorized(ctx) and ctx.trigger.actor != ctx.case.requester


def _team(ctx: Context) -> bool:
    """An authenticated member of the help desk (a task answered by mail moves Pegasus)."""
    return bool(ctx.trigger.actor_roles & TEAM) and ctx.trigger.authenticated


# --- reading what came ------------------------------------------------------------------


def _agent(ctx: Context) -> AgentInfo:
    """The agent as CAM Pegasus knows them, with the zone."""
    from bot.documents.agent_form import AgentInfo

    agent: Mapping[str, Any] = ctx.case.data.get("agente", {})
    fields = {k: str(agent.get(k, "") or "") for k in AgentInfo.__dataclass_fields__}
    return AgentInfo(**{**fields, "zona": _zone(ctx.case)})


def _today(ctx: Context) -> date:
    """Today in the organization's time zone."""
    return ctx.calendar.local(ctx.now).date()


def _form(ctx: Context) -> Mapping[str, Any]:
    """The assistant's Excel form among the trigger's attachments (empty when none)."""
    found = ctx.trigger.facts.get("formulario_agente")
    return found if isinstance(found, Mapping) else {}


def _given(ctx: Context) -> AgentData:
    """Complementary data given now: the form, the mail body, or a command's --set values."""
    from bot.documents.agent_form import FIELDS, AgentData, data_from_text, merged

    form = _form(ctx)
    sources: list[AgentData] = []
    if form.get("estado") == "ok":
        sources.append(
            AgentData(
                values=dict(form.get("datos", {})),
                errors=tuple(form.get("errores", ())),
                decision=str(form.get("decision", "")),
                case_ref=str(form.get("caso", "")),
                clave=str(form.get("clave", "")),
            )
        )
    labels = {f.key: f.label for f in FIELDS}
    typed = "\n".join(f"{labels[k]}: {v}" for k, v in ctx.trigger.values.items() if k in labels)
    text = f"{ctx.trigger.text}\n{typed}" if typed else ctx.trigger.text
    sources.append(data_from_text(text, _today(ctx)))
    return merged(*sources)


def _data(ctx: Context) -> tuple[dict[str, str], tuple[str, ...]]:
    """All valid data so far (stored, then what came now) and the errors of what came now."""
    from bot.documents.agent_form import AgentData, merged

    stored = AgentData(
        values=dict(ctx.case.data.get("datos", {})), errors=(), decision="", case_ref="", clave=""
    )
    both = merged(stored, _given(ctx))
    return dict(both.values), tuple(both.errors)


def _missing(ctx: Context) -> list[str]:
    """Labels of the required data still missing."""
    from bot.documents.agent_form import missing_fields

    values, _ = _data(ctx)
    return [f.label for f in missing_fields(_agent(ctx), values)]


def _complete(ctx: Context) -> bool:
    """Pasos 6-7: every datum the DES 3.0 capture needs is there, none of it wrong."""
    _, errors = _data(ctx)
    return not _missing(ctx) and not errors


def _form_decision(ctx: Context) -> str:
    """The decision chosen in the form's "Decisión" row ("" when none)."""
    return str(_form(ctx).get("decision", "")) if _form(ctx).get("estado") == "ok" else ""


def _approved(ctx: Context) -> bool:
    """The assistant already said "Sí adelante" (data may still be missing)."""
    return bool(ctx.case.data.get("aprobado"))


def _form_says(decision: str) -> Callable[[Context], bool]:
    """Guard: an authorized sender's form chose this decision (the body said nothing)."""

    def guard(ctx: Context) -> bool:
        """The form's "Decisión" row says it."""
        return _authorized(ctx) and _form_decision(ctx) == decision

    return guard


def _data_now_complete(ctx: Context) -> bool:
    """An approved case's missing data arrived (a reply without data goes to a person)."""
    return _authorized(ctx) and _approved(ctx) and _brought_data(ctx) and _complete(ctx)


def _data_still_missing(ctx: Context) -> bool:
    """An approved case got data, still not all of it (or with errors)."""
    return _authorized(ctx) and _approved(ctx) and _brought_data(ctx)


def _data_unconfirmed(ctx: Context) -> bool:
    """Data arrived without a decision on a case not approved yet."""
    return _authorized(ctx) and not _approved(ctx) and _brought_data(ctx)


def _brought_data(ctx: Context) -> bool:
    """The message carries complementary data or a form (right or wrong)."""
    given = _given(ctx)
    return bool(given.values or given.errors or _form(ctx).get("estado") in ("ok", "ilegible"))


def _captures(ctx: Context) -> list[Mapping[str, Any]]:
    """Acceptable screenshots (PDF or image) attached to the trigger."""
    found = ctx.trigger.facts.get("firmados", [])
    files = [f for f in found if isinstance(f, Mapping)] if isinstance(found, list) else []
    return [f for f in files if f.get("ok")]


def _capture_by_mail(ctx: Context) -> bool:
    """Paso 12: a specialist answered the DES 3.0 task with the screenshot."""
    return _team(ctx) and bool(_captures(ctx))


def _capture_attached(ctx: Context) -> bool:
    """The command came with an acceptable screenshot (--attach)."""
    return bool(_captures(ctx))


def _zone_for(ctx: Context, promotoria: str) -> str:
    """The configured zone of a promotoría ("" when none claims it)."""
    zones: Mapping[str, str] = ctx.settings.get("zonas_por_promotoria", {})
    return zones.get(fold_name(promotoria), "")


def _zone_known(ctx: Context) -> bool:
    """Pasos 1-2: an agent with a name whose promotoría belongs to a configured zone."""
    return _has_agent(ctx) and bool(_zone_for(ctx, _record(ctx).get("promotoria", "")))


def _has_agent(ctx: Context) -> bool:
    """Paso 1: the case names an agent (CAM Pegasus' record, or typed with --set)."""
    return bool(str(_record(ctx).get("nombre", "")).strip())


# What a specialist gives to register an agent by hand (`mesabot new MA-002 --set ...`),
# when CAM Pegasus cannot be read.
AGENT_KEYS = ("clave", "nombre", "rfc", "correo", "promotoria", "cedula")


def _record(ctx: Context) -> Mapping[str, str]:
    """The agent's CAM Pegasus record: found by the sweep, or typed by a specialist."""
    found = ctx.trigger.facts.get("agente")
    if isinstance(found, Mapping):
        return found
    typed = {k: ctx.trigger.values.get(k, "").strip() for k in AGENT_KEYS}
    typed["correo"] = typed["correo"].lower()
    return {**typed, "id": "", "tipo": ""}


def _named_zone(ctx: Context) -> str:
    """The configured zone named by `asignar_zona --set zona=...`, or found by the sweep."""
    wanted = fold_name(ctx.trigger.values.get("zona", "") or str(ctx.trigger.facts.get("zona", "")))
    names: tuple[str, ...] = tuple(ctx.settings.get("zonas", ()))
    return next((z for z in names if fold_name(z) == wanted), "")


def _zone_named(ctx: Context) -> bool:
    """The zone given is configured."""
    return bool(_named_zone(ctx))


def _snooze_until(ctx: Context) -> datetime | None:
    """The opening on the date the assistant named ("el lunes"), if it is still ahead."""
    given = ctx.trigger.values.get("fecha", "").strip()
    dates: list[date] = []
    if given:
        with contextlib.suppress(ValueError):  # a wrong --set fecha falls back to the default
            dates.append(date.fromisoformat(given))
    dates.extend(ctx.trigger.entities.dates)
    today = _today(ctx)
    ahead = [d for d in dates if d > today]
    if not ahead:
        return None
    midnight = datetime.combine(ahead[0], time(0), tzinfo=ctx.calendar.tz)
    return ctx.calendar.next_opening(midnight)


def _evidence(ctx: Context) -> dict[str, Any]:
    """Who answered, when, in which message, and who forwarded it if anyone."""
    record: dict[str, Any] = {"por": ctx.trigger.actor, "at": ctx.now.isoformat()}
    if ctx.trigger.message_id:
        record["message_id"] = ctx.trigger.message_id
    forward = ctx.trigger.facts.get("reenvio")
    if isinstance(forward, Mapping):
        record["reenviado_por"] = str(forward.get("por", ""))
    return record


def _date_text(ctx: Context, at: datetime) -> str:
    """A date as ISO text in the organization's zone, for templates."""
    return ctx.calendar.local(at).date().isoformat()


# --- effects shared by actions ------------------------------------------------------------


def _to_assistants(ctx: Context) -> tuple[str, ...]:
    """The zone's assistants, resolved from the configuration when the mail is queued."""
    return (f"@assistants:{_zone(ctx.case)}",)


def _to_assistants_and_sender(ctx: Context) -> tuple[str, ...]:
    """An answer goes to whoever wrote and the zone's assistants (a command to them only)."""
    sender = ctx.trigger.actor
    if ctx.trigger.on.kind == "command" or "@" not in sender:
        return _to_assistants(ctx)
    return (sender, *_to_assistants(ctx))


def _keep_form(ctx: Context) -> list[Effect]:
    """The assistant's filled form kept with the case (it goes to the DES 3.0 task)."""
    form = _form(ctx)
    return [KeepDocument("formato_lleno", str(form["sha"]))] if form.get("sha") else []


def _data_update(ctx: Context) -> dict[str, Any]:
    """Case data with the valid complementary data so far."""
    values, errors = _data(ctx)
    return {"datos": values, "errores_datos": list(errors)}


def _knowledge(ctx: Context, outcome: str) -> RecordKnowledge:
    """The knowledge-base entry written when the case closes."""
    agent = _agent(ctx)
    return RecordKnowledge(
        kind="gestion_cuentas",
        problem=f"Alta de agente {agent.nombre} (clave {agent.clave}), zona {agent.zona}",
        solution=f"Alta MetLife de agente por {outcome}",
        outcome=outcome,
    )


# --- actions ------------------------------------------------------------------------------


def _ask(ctx: Context, zone: str) -> SendMail:
    """Pasos 4-5: the confirmation request to the zone's assistants, with the form."""
    answer_by = ctx.settings["assistant_escalation"].due(ctx.wait_start, ctx.calendar)
    return SendMail(
        to=(f"@assistants:{zone}",),
        template="MA-002/confirmacion",
        context={"limite": _date_text(ctx, answer_by)},
        auto="auto-generated" if ctx.trigger.on.kind != "command" else None,
        attachments=(FORM,),
    )


def open_agent(ctx: Context) -> Outcome:
    """Pasos 1-5: a new agent in "Solicitado"; the zone's assistants are asked to confirm."""
    record = dict(_record(ctx))
    zone = _zone_for(ctx, record.get("promotoria", ""))
    return Outcome(
        effects=(RenderAgentForm(), _ask(ctx, zone)),
        data={"agente": {**record, "estatus_pegasus": "Solicitado"}, "zona": zone},
    )


def open_without_zone(ctx: Context) -> Outcome:
    """Paso 2: no zone claims the promotoría; a specialist decides (never a silent drop)."""
    record = dict(_record(ctx))
    task = CreateTask(
        kind="zona",
        title="Definir la zona de «{{ case.data.agente.promotoria }}» ({{ case.ref }})",
        template="MA-002/zona",
        due=business_days(1),
    )
    return Outcome(
        effects=(task,),
        data={"agente": {**record, "estatus_pegasus": "Solicitado"}, "zona": ""},
    )


def zone_found(ctx: Context) -> Outcome:
    """Paso 3: the zone is known now; its assistants are asked to confirm."""
    zone = _named_zone(ctx)
    return Outcome(
        effects=(CompleteTasks("zona"), RenderAgentForm(), _ask(ctx, zone)), data={"zona": zone}
    )


def remind_assistants(ctx: Context) -> Outcome:
    """Every 2 business days without an answer: the assistants are reminded, form attached."""
    mail = SendMail(
        to=_to_assistants(ctx),
        template="MA-002/recordatorio",
        context=_pending(ctx),
        auto="auto-generated",
        attachments=(FORM,),
    )
    return Outcome(effects=(mail,))


def _pending(ctx: Context) -> dict[str, Any]:
    """What an approved case still needs: data missing, or what DES 3.0 asked for."""
    approved = _approved(ctx)
    return {
        "aprobado": approved,
        "faltan": _missing(ctx) if approved else [],
        "pedido": str(ctx.case.data.get("datos_pedidos", "")) if approved else "",
    }


def escalate_assistants(ctx: Context) -> Outcome:
    """Five business days without an answer: the zone's manager and the supervisor are told."""
    zone = _zone(ctx.case)
    alert = SendMail(
        to=(f"@manager:{zone}",),
        cc=("@supervisor", "@specialists"),
        template="MA-002/escalar_asistente",
        context=_pending(ctx),
        auto="auto-generated",
        immediate=True,
    )
    task = CreateTask(
        kind="llamar_asistente",
        title="Llamar a la asistente comercial de {{ case.data.zona }} por {{ case.ref }}",
        template="MA-002/llamar_asistente",
        due=business_days(1),
    )
    return Outcome(effects=(alert, task), detail={"escalado": "asistente"})


def proceed(ctx: Context) -> Outcome:
    """Pasos 6-8: "Sí adelante" with the data: the specialist captures the alta in DES 3.0."""
    filled = bool(_form(ctx).get("sha")) or "formato_lleno" in ctx.case.data.get("documentos", {})
    task = CreateTask(
        kind="des",
        title="Alta en DES 3.0 de {{ case.data.agente.nombre }} ({{ case.ref }})",
        template="MA-002/alta_des",
        due=business_days(1),
        attachments=(FILLED_FORM,) if filled else (),
    )
    effects: list[Effect] = [*_keep_form(ctx), task]
    if ctx.trigger.on.kind != "command":
        effects.append(
            SendMail(
                to=_to_assistants_and_sender(ctx),
                template="MA-002/procedemos",
                auto="auto-replied",
                reply=True,
                immediate=True,
            )
        )
    data = {
        **_data_update(ctx),
        "aprobado": ctx.case.data.get("aprobado") or _evidence(ctx),
        "datos_completos_at": ctx.now.isoformat(),
        "datos_pedidos": "",  # what DES 3.0 asked for, if anything, has come
    }
    return Outcome(effects=tuple(effects), data=data)


def ask_missing(ctx: Context) -> Outcome:
    """Paso 7: approved, but data are missing or wrong: asked back, naming each one."""
    _, errors = _data(ctx)
    mail = SendMail(
        to=_to_assistants_and_sender(ctx),
        template="MA-002/faltan_datos",
        context={"faltan": _missing(ctx), "errores": list(errors)},
        auto=answer_auto(ctx),
        reply=True,
        immediate=True,
        attachments=(FORM,),
    )
    data = {**_data_update(ctx), "aprobado": ctx.case.data.get("aprobado") or _evidence(ctx)}
    return Outcome(effects=(*_keep_form(ctx), mail), data=data)


def confirm_data(ctx: Context) -> Outcome:
    """Data came without "Sí adelante": kept, and the assistant asked to confirm the alta."""
    _, errors = _data(ctx)
    mail = SendMail(
        to=_to_assistants_and_sender(ctx),
        template="MA-002/confirma_decision",
        context={"faltan": _missing(ctx), "errores": list(errors)},
        auto="auto-replied",
        reply=True,
        immediate=True,
    )
    return Outcome(effects=(*_keep_form(ctx), mail), data=_data_update(ctx))


def stop(ctx: Context) -> Outcome:
    """Paso 6: "Deténlo": the alta stops; CAM Pegasus keeps a note with the answer attached."""
    by = ctx.trigger.actor
    reason = ctx.trigger.values.get("motivo", "").strip()
    files = (f"msg:{ctx.trigger.message_id}",) if ctx.trigger.message_id else ()
    note = f"Alta detenida por {by}" + (f": {reason}" if reason else "")
    effects: list[Effect] = [
        UpdatePegasus("Solicitado", files=files, note=note),
        CompleteTasks(),
        _knowledge(ctx, "detenido"),
    ]
    effects.append(
        SendMail(
            to=_to_assistants_and_sender(ctx),
            template="MA-002/detenido",
            auto=answer_auto(ctx),
            reply=ctx.trigger.on.kind != "command",
            immediate=ctx.trigger.on.kind != "command",
        )
    )
    return Outcome(
        effects=tuple(effects),
        data={"detenido": _evidence(ctx), "motivo_cierre": "detenido"},
    )


def snooze(ctx: Context) -> Outcome:
    """Paso 6: "Te aviso cuando proceda": asked again on the date given, else in 5 days."""
    until = _snooze_until(ctx)
    if until is None:
        until = ctx.settings["snooze"].due(ctx.wait_start, ctx.calendar)
        named = False
    else:
        named = True
    ack = SendMail(
        to=_to_assistants_and_sender(ctx),
        template="MA-002/en_espera",
        context={"fecha": _date_text(ctx, until), "fecha_dada": named},
        auto=answer_auto(ctx),
        reply=ctx.trigger.on.kind != "command",
        immediate=ctx.trigger.on.kind != "command",
    )
    data = {
        "espera": {**_evidence(ctx), "hasta": until.isoformat(), "fecha_dada": named},
        "recordatorios_espera": 0,
    }
    return Outcome(effects=(ArmTimer("reanudar", at=until), ack), data=data)


def resume_ask(ctx: Context) -> Outcome:
    """The snooze is over: the assistants are asked again whether the alta proceeds."""
    count = int(ctx.case.data.get("recordatorios_espera", 0)) + 1
    effects: list[Effect] = [
        SendMail(
            to=_to_assistants(ctx),
            template="MA-002/reanudar",
            auto="auto-generated",
            attachments=(FORM,),
        )
    ]
    if count == SNOOZE_ESCALATION:
        effects.append(
            SendMail(
                to=(f"@manager:{_zone(ctx.case)}",),
                cc=("@specialists",),
                template="MA-002/escalar_espera",
                context={"veces": count},
                auto="auto-generated",
                immediate=True,
            )
        )
    return Outcome(effects=tuple(effects), data={"recordatorios_espera": count})


def question(ctx: Context) -> Outcome:
    """A question from the assistant: a specialist answers it; the sender is told so."""
    task = CreateTask(
        kind="responder",
        title="Responder la pregunta de {{ remitente }} sobre {{ case.ref }}",
        template="MA-002/responder",
        context={"texto": ctx.trigger.text[:4000], "remitente": ctx.trigger.actor},
        due=business_days(1),
    )
    ack = SendMail(
        to=(ctx.trigger.actor,),
        template="MA-002/pregunta_recibida",
        auto="auto-replied",
        reply=True,
        immediate=True,
    )
    return Outcome(effects=(task, ack))


def answer(ctx: Context) -> Outcome:
    """A specialist answers the assistants through the bot (`responder --note ...`)."""
    mail = SendMail(
        to=_to_assistants(ctx),
        template="MA-002/respuesta",
        context={"texto": ctx.trigger.values["nota"], "especialista": ctx.trigger.actor},
        attachments=(FORM,) if ctx.case.state in ASKING else (),
    )
    return Outcome(effects=(CompleteTasks("responder"), mail))


def alert_stranger(ctx: Context) -> Outcome:
    """A reply from someone who may not answer for this case: recorded and alerted."""
    forward = ctx.trigger.facts.get("reenvio")
    alert = SendMail(
        to=("@specialists",),
        template="MA-002/remitente_no_autorizado",
        context={
            "remitente": ctx.trigger.actor,
            "autenticado": ctx.trigger.authenticated,
            "reenviado_por": forward.get("por", "") if isinstance(forward, Mapping) else "",
            "texto": ctx.trigger.text[:2000],
        },
        auto="auto-generated",
        immediate=True,
    )
    return Outcome(
        effects=(alert,),
        detail={"no_autorizado": ctx.trigger.actor, "autenticado": ctx.trigger.authenticated},
    )


message_attached = tell_assignee("MA-002/nuevo_mensaje")
remind_task = remind_assignee("MA-002/seguimiento")


def ask_more_data(ctx: Context) -> Outcome:
    """Paso 9: DES 3.0 needs something else: the assistants are asked for it."""
    note = ctx.trigger.values["nota"]
    mail = SendMail(
        to=_to_assistants(ctx),
        template="MA-002/datos_adicionales",
        context={"texto": note},
        attachments=(FORM,),
    )
    return Outcome(effects=(CompleteTasks("des"), mail), data={"datos_pedidos": note})


def alta_generated(ctx: Context) -> Outcome:
    """Pasos 9-13: alta generated in DES 3.0; Pro99 "En proceso" with screenshot and mail."""
    shot = _captures(ctx)[0]
    approval = ctx.case.data.get("aprobado", {})
    message = approval.get("message_id") if isinstance(approval, Mapping) else None
    files = (CAPTURE, f"msg:{message}") if message else (CAPTURE,)
    effects: list[Effect] = [
        KeepDocument("captura", str(shot["sha"])),
        CompleteTasks("des"),
        UpdatePegasus("En proceso", files=files, note="Alta generada en DES 3.0 (Pro99)"),
    ]
    data = {
        "des": {**_evidence(ctx), "captura": str(shot.get("archivo", ""))},
        "en_proceso_at": ctx.now.isoformat(),
    }
    return Outcome(effects=tuple(effects), data=data)


def check_metlife(ctx: Context) -> Outcome:
    """Paso 14: 12 days processing: the assignee checks Pro99."""
    mail = SendMail(
        to=("@assignee",), template="MA-002/revision_metlife", auto="auto-generated", immediate=True
    )
    return Outcome(effects=(mail,))


def escalate_metlife(ctx: Context) -> Outcome:
    """Paso 14: 15 days and still processing: the supervisor is told."""
    alert = SendMail(
        to=("@supervisor",),
        cc=("@specialists",),
        template="MA-002/escalar_metlife",
        auto="auto-generated",
        immediate=True,
    )
    return Outcome(effects=(alert,), detail={"escalado": "metlife"})


def processed(ctx: Context) -> Outcome:
    """Pasos 15-17: processing complete; the assistants told and asked to confirm the access."""
    agent = dict(ctx.case.data.get("agente", {}))
    given = ctx.trigger.values.get("usuario", "").strip()
    agent["usuario"] = given or agent.get("clave", "")
    told = SendMail(
        to=_to_assistants(ctx),
        template="MA-002/alta_completa",
        context={"usuario": agent["usuario"]},
    )
    effects = (
        UpdatePegasus("Activo", note="Alta en Pro99 completa"),
        told,
    )
    data = {"agente": {**agent, "estatus_pegasus": "Activo"}, "procesado_at": ctx.now.isoformat()}
    return Outcome(effects=effects, data=data, then="enviar_credenciales")


def send_credentials(ctx: Context) -> Outcome:
    """Paso 18: the credentials go to the agent through the zone's assistants."""
    delivery = DeliverCredentials(
        template="MA-002/credenciales", to=_to_assistants(ctx), custody_letter=False
    )
    return Outcome(effects=(delivery,), data={"credenciales_at": ctx.now.isoformat()})


def thanked(ctx: Context) -> Outcome:
    """Paso 19: "Muchas gracias, ya lo tengo": closed."""
    mail = SendMail(
        to=_to_assistants_and_sender(ctx),
        template="MA-002/cerrado",
        auto=answer_auto(ctx),
        reply=ctx.trigger.on.kind != "command",
    )
    return Outcome(
        effects=(mail, CompleteTasks(), _knowledge(ctx, "confirmado")),
        data={"motivo_cierre": "confirmado", "cierre": _evidence(ctx)},
    )


def doubt(ctx: Context) -> Outcome:
    """Paso 20: a doubt after the alta opens a linked support ticket; no automatic close."""
    agent = _agent(ctx)
    ticket = OpenCase(
        "MA-006",
        relation="duda_de",
        requester=ctx.trigger.actor,
        subject=f"Duda sobre el acceso del agente {agent.nombre} (clave {agent.clave})",
        text=ctx.trigger.text[:4000],
        carry_files=False,
    )
    effects = (ticket, CancelTimer("recordatorio_cierre"), CancelTimer("cierre_automatico"))
    return Outcome(effects=effects, data={"duda": _evidence(ctx)})


def remind_close(ctx: Context) -> Outcome:
    """The assistants have not confirmed: reminded one business day before the close."""
    closes = ctx.calendar.add_business_days(ctx.now, 1)
    mail = SendMail(
        to=_to_assistants(ctx),
        template="MA-002/recordatorio_cierre",
        context={"fecha_cierre": _date_text(ctx, closes)},
        auto="auto-generated",
    )
    return Outcome(effects=(mail,))


def auto_close(ctx: Context) -> Outcome:
    """No confirmation in 3 business days: closed without an answer."""
    mail = SendMail(
        to=_to_assistants(ctx), template="MA-002/cerrado_sin_respuesta", auto="auto-generated"
    )
    return Outcome(
        effects=(mail, CompleteTasks(), _knowledge(ctx, "sin_respuesta")),
        data={"motivo_cierre": "sin_respuesta"},
    )


def close_by_specialist(ctx: Context) -> Outcome:
    """A specialist closes a case that will not go on (duplicate, the agent withdrew)."""
    reason = ctx.trigger.values["motivo"]
    effects: list[Effect] = [CompleteTasks(), _knowledge(ctx, "cerrado_por_especialista")]
    if _zone(ctx.case):
        effects.append(
            SendMail(
                to=_to_assistants(ctx),
                template="MA-002/cerrado_especialista",
                context={"motivo": reason},
            )
        )
    return Outcome(effects=tuple(effects), data={"motivo_cierre": reason})


# --- the machine --------------------------------------------------------------------------

# States where the assistants are being asked to decide.
ASKING = ("confirmacion_asistente", "en_espera_asistente")
OPEN = (
    "sin_zona",
    *ASKING,
    "alta_des",
    "procesando_metlife",
    "confirmacion_acceso",
    "esperando_cierre",
)
_STEPS_PROCEED = ("MA-002 paso 6", "MA-002 paso 7", "MA-002 paso 8")


def _decision_transitions(source: str) -> tuple[Transition, ...]:
    """The assistant's answer in a state that asks for one: by words, form or command."""
    missing_target = "confirmacion_asistente" if source != "confirmacion_asistente" else None
    proceed_ok = Transition(
        (source,),
        intent("PROCEED"),
        "alta_des",
        _STEPS_PROCEED,
        action=proceed,
        guard=_complete,
        guard_label="con todos los datos",
        description="«Sí adelante» con los datos: tarea de alta en DES 3.0",
    )
    proceed_missing = Transition(
        (source,),
        intent("PROCEED"),
        missing_target,
        ("MA-002 paso 6", "MA-002 paso 7"),
        action=ask_missing,
        description="«Sí adelante» sin todos los datos: se piden los que faltan",
    )
    return (
        proceed_ok,
        proceed_missing,
        Transition(
            (source,),
            intent("STOP"),
            "detenido",
            ("MA-002 paso 6",),
            action=stop,
            description="«Deténlo»: el alta se detiene; nota en CAM Pegasus",
        ),
        Transition(
            (source,),
            intent("LATER"),
            "en_espera_asistente",
            ("MA-002 paso 6",),
            action=snooze,
            description="«Te aviso cuando proceda»: en espera hasta la fecha dada o 5 días hábiles",
        ),
        Transition(
            (source,),
            intent("QUESTION"),
            None,
            ("MA-002 paso 6",),
            action=question,
            description="Pregunta de la asistente: tarea para responderla",
        ),
        # The same answers chosen in the form's "Decisión" row, with no words in the body.
        Transition(
            (source,),
            event("mensaje"),
            None,
            ("MA-002 paso 6",),
            action=alert_stranger,
            guard=_stranger,
            guard_label="remitente que no puede responder por el caso",
            description="Respuesta de alguien que no es asistente de la zona: alerta",
        ),
        Transition(
            (source,),
            event("mensaje"),
            "alta_des",
            _STEPS_PROCEED,
            action=proceed,
            guard=_proceed_by_form,
            guard_label="formato con «Sí adelante» y todos los datos",
            description="Formato con «Sí adelante» y los datos: tarea de alta en DES 3.0",
        ),
        Transition(
            (source,),
            event("mensaje"),
            missing_target,
            ("MA-002 paso 6", "MA-002 paso 7"),
            action=ask_missing,
            guard=_form_says("PROCEED"),
            guard_label="formato con «Sí adelante», faltan datos",
            description="Formato con «Sí adelante» sin todos los datos: se piden",
        ),
        Transition(
            (source,),
            event("mensaje"),
            "detenido",
            ("MA-002 paso 6",),
            action=stop,
            guard=_form_says("STOP"),
            guard_label="formato con «Deténlo»",
            description="Formato con «Deténlo»: el alta se detiene",
        ),
        Transition(
            (source,),
            event("mensaje"),
            "en_espera_asistente",
            ("MA-002 paso 6",),
            action=snooze,
            guard=_form_says("LATER"),
            guard_label="formato con «Te aviso cuando proceda»",
            description="Formato con «Te aviso cuando proceda»: en espera",
        ),
        Transition(
            (source,),
            event("mensaje"),
            "alta_des",
            _STEPS_PROCEED,
            action=proceed,
            guard=_data_now_complete,
            guard_label="ya aprobado y llegaron los datos que faltaban",
            description="Llegaron los datos que faltaban: tarea de alta en DES 3.0",
        ),
        Transition(
            (source,),
            event("mensaje"),
            None,
            ("MA-002 paso 7",),
            action=ask_missing,
            guard=_data_still_missing,
            guard_label="ya aprobado, los datos siguen incompletos",
            description="Llegaron datos, aún incompletos: se piden los que faltan",
        ),
        Transition(
            (source,),
            event("mensaje"),
            None,
            ("MA-002 paso 5",),
            action=confirm_data,
            guard=_data_unconfirmed,
            guard_label="datos sin decisión",
            description="Llegaron datos sin «Sí adelante»: se pide confirmar el alta",
        ),
        Transition(
            (source,),
            event("mensaje"),
            None,
            ("MA-002 paso 6",),
            action=message_attached,
            description="Mensaje sin respuesta clara: se avisa al especialista",
        ),
        Transition(
            (source,),
            command("adelante"),
            "alta_des",
            _STEPS_PROCEED,
            action=proceed,
            guard=_complete,
            guard_label="con todos los datos (--set o --attach)",
            description="El especialista registra «Sí adelante» con los datos",
        ),
        Transition(
            (source,),
            command("adelante"),
            missing_target,
            ("MA-002 paso 6", "MA-002 paso 7"),
            action=ask_missing,
            description="El especialista registra «Sí adelante»; se piden los datos que faltan",
        ),
        Transition(
            (source,),
            command("detener"),
            "detenido",
            ("MA-002 paso 6",),
            action=stop,
            requires=("motivo",),
            description="El especialista registra «Deténlo»",
        ),
        Transition(
            (source,),
            command("esperar"),
            "en_espera_asistente",
            ("MA-002 paso 6",),
            action=snooze,
            description="El especialista registra «Te aviso cuando proceda» (--set fecha=)",
        ),
    )


def _proceed_by_form(ctx: Context) -> bool:
    """The form says "Sí adelante" and brings every datum."""
    return _authorized(ctx) and _form_decision(ctx) == "PROCEED" and _complete(ctx)


def _timer(kind: str, after: str, label: str, *, repeat: bool = False) -> TimerDecl:
    """A reminder or escalation whose delay is a process setting."""
    return TimerDecl(kind, after, repeat=repeat, label=label)


def _pass_on(source: str, steps: tuple[str, ...]) -> tuple[Transition, ...]:
    """In a state waiting on the team: strangers alerted, the rest passed to the assignee."""
    return (
        Transition(
            (source,),
            event("mensaje"),
            None,
            steps,
            action=alert_stranger,
            guard=_stranger,
            guard_label="remitente que no puede responder por el caso",
            description="Mensaje de alguien que no es asistente de la zona: alerta",
        ),
        Transition(
            (source,),
            event("mensaje"),
            None,
            steps,
            action=message_attached,
            description="Mensaje que el estado no espera: se avisa al especialista",
        ),
    )


PROCESS = Process(
    code=CODE,
    name="Cuentas MET agentes",
    states=(
        State(
            "sin_zona",
            "Zona por definir",
            timers=(
                _timer("seguimiento", "task_reminder", "Recordatorio de la tarea", repeat=True),
            ),
        ),
        State(
            "confirmacion_asistente",
            "Confirmación de la asistente",
            timers=(
                _timer(
                    "recordatorio_asistente",
                    "assistant_reminder",
                    "Recordatorio a la asistente",
                    repeat=True,
                ),
                _timer("escalar_asistente", "assistant_escalation", "Escalamiento al gerente"),
            ),
            waiting_on="la asistente comercial",
            entities=True,
        ),
        State(
            "en_espera_asistente",
            "En espera de la asistente",
            timers=(_timer("reanudar", "snooze", "Volver a preguntar", repeat=True),),
            waiting_on="la asistente comercial",
            entities=True,
        ),
        State("detenido", "Detenido", final=True),
        State(
            "alta_des",
            "Alta en DES 3.0",
            timers=(
                _timer("seguimiento", "task_reminder", "Recordatorio de la tarea", repeat=True),
            ),
        ),
        State(
            "procesando_metlife",
            "Procesando en MetLife",
            timers=(
                _timer("revision_metlife", "metlife_check", "Revisión en Pro99"),
                _timer(
                    "escalar_metlife", "metlife_escalation", "Escalamiento MetLife", repeat=True
                ),
            ),
            waiting_on="MetLife",
        ),
        State("confirmacion_acceso", "Confirmación de acceso"),
        State(
            "esperando_cierre",
            "Esperando confirmación de cierre",
            timers=(
                _timer("recordatorio_cierre", "validation_reminder", "Recordatorio de cierre"),
                _timer("cierre_automatico", "validation_close", "Cierre automático"),
            ),
            waiting_on="la asistente comercial",
        ),
        State("cerrado", "Cerrado", final=True),
    ),
    transitions=(
        Transition(
            (),
            event("abrir"),
            "confirmacion_asistente",
            ("MA-002 paso 1", "MA-002 paso 2", "MA-002 paso 3", "MA-002 paso 4", "MA-002 paso 5"),
            action=open_agent,
            guard=_zone_known,
            guard_label="promotoría con zona configurada",
            description="Agente en «Solicitado»: se pide confirmación a la asistente de la zona",
        ),
        Transition(
            (),
            event("abrir"),
            "sin_zona",
            ("MA-002 paso 1", "MA-002 paso 2"),
            action=open_without_zone,
            guard=_has_agent,
            guard_label="datos del agente (--set nombre=... clave=... promotoria=...)",
            description="Agente en «Solicitado» de una promotoría sin zona: tarea al especialista",
        ),
        Transition(
            ("sin_zona",),
            command("asignar_zona"),
            "confirmacion_asistente",
            ("MA-002 paso 3", "MA-002 paso 4", "MA-002 paso 5"),
            action=zone_found,
            guard=_zone_named,
            guard_label="una zona configurada (--set zona=...)",
            requires=("zona",),
            description="El especialista define la zona: se pide confirmación a sus asistentes",
        ),
        Transition(
            ("sin_zona",),
            event("zona_encontrada"),
            "confirmacion_asistente",
            ("MA-002 paso 2", "MA-002 paso 3", "MA-002 paso 4", "MA-002 paso 5"),
            action=zone_found,
            guard=_zone_named,
            guard_label="la promotoría ya tiene zona en la configuración",
            description="La configuración ya da la zona: se pide confirmación a sus asistentes",
        ),
        Transition(
            ("sin_zona", "alta_des"),
            timer("seguimiento"),
            None,
            ("MA-002 paso 2",),
            action=remind_task,
            description="Recordatorio al asignado: la tarea sigue abierta",
        ),
        *_pass_on("sin_zona", ("MA-002 paso 2",)),
        *_decision_transitions("confirmacion_asistente"),
        *_decision_transitions("en_espera_asistente"),
        Transition(
            ("confirmacion_asistente",),
            timer("recordatorio_asistente"),
            None,
            ("MA-002 paso 4",),
            action=remind_assistants,
            description="Recordatorio a la asistente cada 2 días hábiles",
        ),
        Transition(
            ("confirmacion_asistente",),
            timer("escalar_asistente"),
            None,
            ("MA-002 paso 4",),
            action=escalate_assistants,
            description="Escalamiento al gerente comercial a los 5 días hábiles sin respuesta",
        ),
        Transition(
            ("en_espera_asistente",),
            timer("reanudar"),
            None,
            ("MA-002 paso 6",),
            action=resume_ask,
            description="Fin de la espera: se pregunta de nuevo si procede el alta",
        ),
        Transition(
            ("alta_des",),
            event("mensaje"),
            "procesando_metlife",
            (
                "MA-002 paso 9",
                "MA-002 paso 10",
                "MA-002 paso 11",
                "MA-002 paso 12",
                "MA-002 paso 13",
            ),
            action=alta_generated,
            guard=_capture_by_mail,
            guard_label="respuesta de un especialista con la captura del alta",
            description="El especialista responde la tarea con la captura: Pro99 «En proceso»",
        ),
        *_pass_on("alta_des", ("MA-002 paso 8",)),
        Transition(
            ("alta_des",),
            command("alta_generada"),
            "procesando_metlife",
            (
                "MA-002 paso 9",
                "MA-002 paso 10",
                "MA-002 paso 11",
                "MA-002 paso 12",
                "MA-002 paso 13",
            ),
            action=alta_generated,
            guard=_capture_attached,
            guard_label="adjunta la captura del alta en DES 3.0 (--attach)",
            description="El especialista registra el alta en DES 3.0 con la captura",
        ),
        Transition(
            ("alta_des",),
            command("pedir_datos"),
            "confirmacion_asistente",
            ("MA-002 paso 8",),
            action=ask_more_data,
            requires=("nota",),
            description="DES 3.0 pide otro dato: se solicita a la asistente",
        ),
        Transition(
            ("procesando_metlife",),
            timer("revision_metlife"),
            None,
            ("MA-002 paso 14",),
            action=check_metlife,
            description="Revisión a los 12 días: ¿terminó el procesamiento en Pro99?",
        ),
        Transition(
            ("procesando_metlife",),
            timer("escalar_metlife"),
            None,
            ("MA-002 paso 14",),
            action=escalate_metlife,
            description="Escalamiento a los 15 días sin terminar el procesamiento",
        ),
        *_pass_on("procesando_metlife", ("MA-002 paso 14",)),
        Transition(
            ("procesando_metlife",),
            command("procesado"),
            "confirmacion_acceso",
            ("MA-002 paso 15", "MA-002 paso 16", "MA-002 paso 17"),
            action=processed,
            description="Procesamiento completo: aviso a la asistente; Pegasus «Activo»",
        ),
        Transition(
            ("confirmacion_acceso",),
            event("enviar_credenciales"),
            "esperando_cierre",
            ("MA-002 paso 18",),
            action=send_credentials,
            description="Credenciales enviadas a través de la asistente comercial",
        ),
        Transition(
            ("esperando_cierre",),
            intent("THANKS_DONE"),
            "cerrado",
            ("MA-002 paso 19",),
            action=thanked,
            description="«Muchas gracias, ya lo tengo»: cierre",
        ),
        Transition(
            ("esperando_cierre",),
            intent("VALIDATED"),
            "cerrado",
            ("MA-002 paso 19",),
            action=thanked,
            description="La asistente confirma que el agente ya entró: cierre",
        ),
        Transition(
            ("esperando_cierre",),
            intent("QUESTION"),
            None,
            ("MA-002 paso 20",),
            action=doubt,
            description="Dudas: se abre un ticket de soporte ligado",
        ),
        Transition(
            ("esperando_cierre",),
            intent("NOT_SOLVED"),
            None,
            ("MA-002 paso 20",),
            action=doubt,
            description="El agente no puede entrar: se abre un ticket de soporte ligado",
        ),
        *_pass_on("esperando_cierre", ("MA-002 paso 19",)),
        Transition(
            ("esperando_cierre",),
            command("confirmar_cierre"),
            "cerrado",
            ("MA-002 paso 19",),
            action=thanked,
            description="El especialista registra la confirmación de la asistente",
        ),
        Transition(
            ("esperando_cierre",),
            timer("recordatorio_cierre"),
            None,
            ("MA-002 paso 19",),
            action=remind_close,
            description="Recordatorio de confirmación un día hábil antes del cierre",
        ),
        Transition(
            ("esperando_cierre",),
            timer("cierre_automatico"),
            "cerrado",
            ("MA-002 paso 19",),
            action=auto_close,
            description="Cierre automático sin confirmación en 3 días hábiles",
        ),
        Transition(
            (*ASKING, "alta_des", "procesando_metlife", "esperando_cierre"),
            command("responder"),
            None,
            ("MA-002 paso 6",),
            action=answer,
            requires=("nota",),
            description="Respuesta del especialista a la asistente, por el bot",
        ),
        *desk_commands(OPEN, "MA-002 paso 8", "el caso"),
        Transition(
            OPEN,
            command("cerrar"),
            "cerrado",
            ("MA-002 paso 19",),
            action=close_by_specialist,
            requires=("motivo",),
            description="Cierre por el especialista (duplicado, el agente desistió)",
        ),
    ),
    settings={
        "assistant_reminder": business_days(2),
        "assistant_escalation": business_days(5),
        "snooze": business_days(5),
        "task_reminder": business_days(1),
        "metlife_check": days(12),
        "metlife_escalation": days(15),
        "validation_reminder": business_days(2),
        "validation_close": business_days(3),
    },
    inspects=("formulario_agente", "firmados"),
    replies_from=may_answer,
    forwards=True,
)

__all__ = ["CODE", "PROCESS", "may_answer"]
