"""MA-001 Cuentas MET administrativos y promotorías: alta y baja (seeds/001, MA-001 pasos 1-28).

The bot reads the Excel form, writes the letter, gets the director's signature by mail,
hands the MetLife portal work (Remote SCAN) to a specialist as a task, keeps CAM Pegasus in
step, delivers the credentials with the carta custodia, and chases every wait.

Facts the pipeline puts on a trigger (bot.handlers.documents):
  formulario: {"estado": ok|errores|ilegible|ausente, "usuarios": [...], "informe": str,
               "movimiento": alta|baja|"", "archivo": str, "sha": str}
  firmados:   [{"sha", "archivo", "ok": bool, "motivo": str}]  PDF or image attachments
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from bot.rules.common import (
    answer_auto,
    desk_commands,
    director_bad_file,
    remind_assignee,
    signed_by_director,
    signed_by_hand,
    signed_files,
    tell_assignee,
    unproven_signature,
    validation_reminder,
)
from bot.rules.dsl import (
    Context,
    NewMail,
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
    CancelTimer,
    CompleteTasks,
    CreateTask,
    DeliverCredentials,
    Effect,
    KeepDocument,
    RecordKnowledge,
    RenderLetter,
    SendMail,
    UpdatePegasus,
    business_days,
    days,
)

CODE = "MA-001"
BLANK_FORM = "tpl:excel/solicitud_usuarios.xlsx"
AUTH_LETTER = "doc:autorizacion"
REMOVAL_LETTER = "doc:baja"
SIGNED = "doc:carta_firmada"
TEAM = frozenset({"specialist", "supervisor", "backup"})

Movement = Literal["alta", "baja"]

# --- claiming new mail ------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lower case without accents, for keyword matching."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_MOVE = r"(?:alta|altas|baja|bajas|dar de alta|dar de baja|alta/baja)"
_WHO = r"(?:usuari[oa]s?|cuentas?|accesos?|met|administrativ[oa]s?|personal|asistentes?)"
_REQUEST = re.compile(rf"\b{_MOVE}\b.{{0,60}}\b{_WHO}\b|\b{_WHO}\b.{{0,60}}\b{_MOVE}\b")
# In the body a request must be asked for: "mi cuenta aparece dada de baja" is a problem
# to solve (MA-006), "solicito dar de baja a ..." is a request.
_ASKED = re.compile(
    r"\b(?:solicit\w*|favor de|necesit\w*|requier\w*|requerimos|pid\w*|pedimos|"
    r"podr[ií]an|pueden|apoyo con|ayuda con|tramit\w*|gestion\w*)\b\W+(?:\w+\W+){0,5}?"
    r"(?:dar de )?(?:alta|altas|baja|bajas)\b"
)
_FORM_NAME = re.compile(r"(alta|baja|usuari|solicitud|formato)")
_SPREADSHEET = (".xlsx", ".xlsm", ".xls", ".csv", ".ods")
# Agents have a process of their own (MA-002): "Excluye agentes de seguros".
_AGENT = re.compile(r"\bagentes?\b")


def claims(mail: NewMail) -> bool:
    """A new mail asking for the alta or baja of an administrative or promotoría user."""
    subject = _fold(mail.subject)
    opening = _fold(mail.body[:3000])
    if _AGENT.search(subject) or _AGENT.search(opening[:500]):
        return False
    if _REQUEST.search(subject) or _ASKED.search(opening):
        return True
    return any(
        name.lower().endswith(_SPREADSHEET) and _FORM_NAME.search(_fold(name))
        for name in mail.attachments
    )


# --- reading facts ----------------------------------------------------------------------


def _form(ctx: Context) -> Mapping[str, Any]:
    """The Excel form found in the trigger's attachments (empty mapping when none)."""
    found = ctx.trigger.facts.get("formulario")
    return found if isinstance(found, Mapping) else {}


def _movement(ctx: Context) -> Movement:
    """Alta or baja: the form's Movimiento column, else the words of the request."""
    declared = _form(ctx).get("movimiento")
    if declared in ("alta", "baja"):
        return "baja" if declared == "baja" else "alta"
    words = _fold(f"{ctx.case.subject} {ctx.trigger.text[:2000]}")
    asks_baja = re.search(r"\b(baja|bajas|dar de baja)\b", words) is not None
    asks_alta = re.search(r"\b(alta|altas|dar de alta)\b", words) is not None
    return "baja" if asks_baja and not asks_alta else "alta"


def form_ok_alta(ctx: Context) -> bool:
    """Paso 4: a valid form for altas."""
    return _form(ctx).get("estado") == "ok" and _movement(ctx) == "alta"


def form_ok_baja(ctx: Context) -> bool:
    """Paso 28: a valid form for bajas."""
    return _form(ctx).get("estado") == "ok" and _movement(ctx) == "baja"


def form_present(ctx: Context) -> bool:
    """A spreadsheet came, but it is not a valid form."""
    return _form(ctx).get("estado") in ("errores", "ilegible")


def _dsn(ctx: Context) -> str:
    """The DSN given with a command (--set dsn=...) or named in a specialist's reply."""
    given = ctx.trigger.values.get("dsn", "").strip()
    if given:
        return given
    return ctx.trigger.entities.dsn[0] if ctx.trigger.entities.dsn else ""


def specialist_dsn(ctx: Context) -> bool:
    """Paso 13: a specialist answered the task with the DSN ("DSN 123456").

    A mailed answer moves CAM Pegasus, so it must be authenticated like an approval.
    """
    return bool(ctx.trigger.actor_roles & TEAM) and ctx.trigger.authenticated and bool(_dsn(ctx))


def _users(ctx: Context) -> list[Mapping[str, Any]]:
    """The users of the request."""
    return list(ctx.case.data.get("usuarios", []))


def _custody_pending(ctx: Context) -> list[str]:
    """RFCs whose signed carta custodia has not come back."""
    received = ctx.case.data.get("custodias", {})
    return [str(u["rfc"]) for u in _users(ctx) if str(u["rfc"]) not in received]


def _good_files(ctx: Context) -> list[Mapping[str, Any]]:
    """The acceptable signed files of the trigger."""
    return [f for f in signed_files(ctx) if f.get("ok")]


def custody_complete(ctx: Context) -> bool:
    """Paso 24: with these scans no user's signed custodia is missing."""
    matched = _match_custody(ctx)
    return bool(_good_files(ctx)) and all(str(u["rfc"]) in matched for u in _users(ctx))


def custody_partial(ctx: Context) -> bool:
    """Some scans came back, not all."""
    return bool(_good_files(ctx))


def from_requester(ctx: Context) -> bool:
    """The requester wrote (intents of a validation count only from them)."""
    return ctx.trigger.actor == ctx.case.requester


# --- helpers ----------------------------------------------------------------------------


def _knowledge(ctx: Context, outcome: str) -> RecordKnowledge:
    """The knowledge-base entry written when the request closes."""
    move = str(ctx.case.data.get("movimiento", "alta"))
    count = len(_users(ctx))
    return RecordKnowledge(
        kind="gestion_cuentas",
        problem=ctx.case.subject,
        solution=f"{move} de {count} usuario(s) MetLife; DSN {ctx.case.data.get('dsn', '-')}",
        outcome=outcome,
    )


def _date(ctx: Context, delay_key: str, start: datetime | None = None) -> str:
    """A date announced to someone (ISO): a setting's delay from the start of the wait."""
    due = ctx.settings[delay_key].due(start or ctx.wait_start, ctx.calendar)
    return ctx.calendar.local(due).date().isoformat()


def _form_wait_start(ctx: Context) -> datetime:
    """When the wait for a valid form began (the close date counts from there)."""
    since = ctx.case.data.get("datos_desde")
    return datetime.fromisoformat(since) if since else ctx.wait_start


# --- actions ----------------------------------------------------------------------------


def open_request(ctx: Context) -> Outcome:
    """Pasos 1-3: received; the Excel is checked right after, and one reply says both."""
    return Outcome(data={"descripcion": ctx.trigger.text[:4000]}, then="revisar_formato")


def accept_form(ctx: Context) -> Outcome:
    """Pasos 4-7 (or 28): the form is right; the letter for the director is generated."""
    form = _form(ctx)
    move = _movement(ctx)
    users = [dict(u) for u in form.get("usuarios", [])]
    ack = SendMail(
        to=("@requester",),
        template="MA-001/acuse_en_proceso",
        context={"informe": form.get("informe", ""), "movimiento": move},
        auto=answer_auto(ctx),
        reply=True,
        immediate=True,
    )
    packages = sorted({int(u.get("paquete", 0)) for u in users})
    data: dict[str, Any] = {
        "movimiento": move,
        "usuarios": users,
        "paquetes": packages,
        "formulario": {"archivo": form.get("archivo", ""), "sha": form.get("sha", "")},
    }
    effects: list[Effect] = [RenderLetter("autorizacion" if move == "alta" else "baja"), ack]
    if form.get("sha"):
        effects.insert(0, KeepDocument("formulario", str(form["sha"])))
    return Outcome(effects=tuple(effects), data=data, then="enviar_firma")


def ask_for_form(ctx: Context) -> Outcome:
    """Paso 4: the Excel is missing or wrong; every error by row and column, or the blank form."""
    form = _form(ctx)
    missing = form.get("estado", "ausente") == "ausente"
    # A second wrong file keeps the first deadline: the close timer is not re-armed.
    since = _form_wait_start(ctx)
    skipped = ctx.trigger.facts.get("omitidos", [])
    mail = SendMail(
        to=("@requester",),
        template="MA-001/datos_incompletos",
        context={
            "informe": form.get("informe", ""),
            "falta_archivo": missing,
            "omitidos": list(skipped) if isinstance(skipped, list) else [],
            "fecha_cierre": _date(ctx, "data_close", since),
        },
        auto=answer_auto(ctx),
        reply=True,
        immediate=True,
        attachments=(BLANK_FORM,) if missing else (),
    )
    return Outcome(
        effects=(mail,),
        data={"datos_desde": since.isoformat()},
        detail={"formulario": form.get("estado", "ausente")},
    )


def remind_form(ctx: Context) -> Outcome:
    """The requester has not sent the corrected form: remind them."""
    mail = SendMail(
        to=("@requester",),
        template="MA-001/recordatorio_datos",
        context={"fecha_cierre": _date(ctx, "data_close", _form_wait_start(ctx))},
        auto="auto-generated",
        attachments=(BLANK_FORM,),
    )
    return Outcome(effects=(mail,))


def close_without_form(ctx: Context) -> Outcome:
    """No form in 5 business days: the request closes; a new mail opens a new one."""
    mail = SendMail(to=("@requester",), template="MA-001/cerrado_sin_datos", auto="auto-generated")
    return Outcome(
        effects=(mail, _knowledge(ctx, "sin_datos"), CompleteTasks()),
        data={"motivo_cierre": "sin_datos"},
    )


def request_signature(ctx: Context) -> Outcome:
    """Paso 8: the letter goes to the director with clear instructions."""
    letter = AUTH_LETTER if ctx.case.data.get("movimiento") != "baja" else REMOVAL_LETTER
    mail = SendMail(
        to=("@director",),
        template="MA-001/firma_director",
        context={"limite": _date(ctx, "signature_escalation")},
        attachments=(letter,),
    )
    return Outcome(effects=(mail,), data={"firma_solicitada_at": ctx.now.isoformat()})


def remind_signature(ctx: Context) -> Outcome:
    """One business day without the signed letter: remind the director."""
    letter = AUTH_LETTER if ctx.case.data.get("movimiento") != "baja" else REMOVAL_LETTER
    mail = SendMail(
        to=("@director",),
        template="MA-001/recordatorio_firma",
        auto="auto-generated",
        attachments=(letter,),
    )
    return Outcome(effects=(mail,))


def escalate_signature(ctx: Context) -> Outcome:
    """Three business days without the signature: the supervisor and the team are told."""
    alert = SendMail(
        to=("@supervisor",),
        cc=("@specialists",),
        template="MA-001/escalar_firma",
        auto="auto-generated",
        immediate=True,
    )
    return Outcome(effects=(alert,), detail={"escalado": "firma_director"})


def _signature_received(task_kind: str, task_template: str, title: str) -> Callable[..., Outcome]:
    """Paso 9 (or 28): keep the signed letter and hand the Remote SCAN work to a specialist."""

    def action(ctx: Context) -> Outcome:
        """The signed letter is archived, linked, and the Remote SCAN task opened."""
        chosen = next(f for f in signed_files(ctx) if f.get("ok"))
        sha = str(chosen["sha"])
        effects: list[Effect] = [
            KeepDocument("carta_firmada", sha),
            CreateTask(
                kind=task_kind,
                title=title,
                template=task_template,
                due=business_days(1),
                attachments=(SIGNED,),
            ),
        ]
        if ctx.trigger.on.kind != "command":
            effects.append(
                SendMail(
                    to=("@director",),
                    template="MA-001/firma_recibida",
                    auto="auto-replied",
                    reply=True,
                    immediate=True,
                )
            )
        data = {
            "carta_firmada": {"sha": sha, "archivo": chosen.get("archivo", "")},
            "firmada_at": ctx.now.isoformat(),
            "firma_por": ctx.trigger.actor,
        }
        return Outcome(effects=tuple(effects), data=data)

    return action


def reject_director_file(ctx: Context) -> Outcome:
    """The director's file cannot be accepted: say why to them, and tell the team."""
    reasons = [str(f.get("motivo", "")) for f in signed_files(ctx)]
    reply = SendMail(
        to=("@director",),
        template="MA-001/firma_rechazada",
        context={"motivos": reasons},
        auto="auto-replied",
        reply=True,
        immediate=True,
    )
    alert = SendMail(
        to=("@specialists",),
        template="MA-001/firma_no_valida",
        context={"remitente": ctx.trigger.actor, "motivos": reasons, "autenticado": True},
        auto="auto-generated",
        immediate=True,
    )
    return Outcome(effects=(reply, alert), detail={"firma_rechazada": reasons})


def alert_unproven_signature(ctx: Context) -> Outcome:
    """A signed letter not proven to come from the director: recorded, nothing changes."""
    alert = SendMail(
        to=("@specialists",),
        cc=("@supervisor",),
        template="MA-001/firma_no_valida",
        context={
            "remitente": ctx.trigger.actor,
            "motivos": [],
            "autenticado": ctx.trigger.authenticated,
        },
        auto="auto-generated",
        immediate=True,
    )
    return Outcome(
        effects=(alert,),
        detail={"firma_no_valida": ctx.trigger.actor, "autenticado": ctx.trigger.authenticated},
    )


message_attached = tell_assignee("MA-001/nuevo_mensaje")
remind_task = remind_assignee("MA-001/seguimiento")


def dsn_recorded(ctx: Context) -> Outcome:
    """Pasos 13-17: DSN recorded, Pegasus Solicitado -> Escalado, the requester told."""
    dsn = _dsn(ctx)
    told = SendMail(
        to=("@requester",),
        template="MA-001/alta_en_proceso",
        context={"dsn": dsn},
    )
    effects = (
        CompleteTasks("remote_scan"),
        UpdatePegasus("Escalado", files=(SIGNED, AUTH_LETTER), note=f"DSN {dsn}"),
        told,
    )
    return Outcome(effects=effects, data={"dsn": dsn, "escalado_at": ctx.now.isoformat()})


def check_metlife(ctx: Context) -> Outcome:
    """Paso 18: 15 days after the request to MetLife, the assignee checks its status."""
    mail = SendMail(
        to=("@assignee",),
        template="MA-001/revision_metlife",
        context={"dsn": ctx.case.data.get("dsn", "")},
        auto="auto-generated",
        immediate=True,
    )
    return Outcome(effects=(mail,))


def escalate_metlife(ctx: Context) -> Outcome:
    """Paso 18: 20 days and MetLife has not confirmed: the supervisor is told."""
    alert = SendMail(
        to=("@supervisor",),
        cc=("@specialists",),
        template="MA-001/escalar_metlife",
        context={"dsn": ctx.case.data.get("dsn", "")},
        auto="auto-generated",
        immediate=True,
    )
    return Outcome(effects=(alert,), detail={"escalado": "metlife"})


def activate(ctx: Context) -> Outcome:
    """Pasos 19-21: MetLife confirmed; Pegasus Activo; credentials generated and delivered."""
    users = [dict(u) for u in _users(ctx)]
    given = ctx.trigger.values.get("usuario", "").strip()
    for user in users:
        user["usuario"] = given if given and len(users) == 1 else _login(user)
    effects = (
        UpdatePegasus(
            "Activo", note=f"Alta confirmada por MetLife; DSN {ctx.case.data.get('dsn')}"
        ),
        DeliverCredentials(template="MA-001/credenciales"),
    )
    data = {"usuarios": users, "activado_at": ctx.now.isoformat()}
    return Outcome(effects=effects, data=data, then="enviar_custodia")


def _login(user: Mapping[str, Any]) -> str:
    """The user name: the local part of the user's mail address."""
    return str(user.get("correo", "")).partition("@")[0]


def custody_sent(ctx: Context) -> Outcome:
    """Pasos 22-23: the carta custodia went with the credentials; wait for it signed."""
    return Outcome(
        data={"custodias": {}, "custodia_enviada_at": ctx.now.isoformat()},
        detail={"custodia": "enviada con las credenciales a cada usuario"},
    )


def remind_custody(ctx: Context) -> Outcome:
    """The signed carta custodia has not come back: remind the users and the requester."""
    pending = set(_custody_pending(ctx))
    addresses = tuple(str(u["correo"]) for u in _users(ctx) if str(u["rfc"]) in pending)
    mail = SendMail(
        to=addresses or ("@requester",),
        cc=("@requester",),
        template="MA-001/recordatorio_custodia",
        auto="auto-generated",
    )
    return Outcome(effects=(mail,))


def escalate_custody(ctx: Context) -> Outcome:
    """Five business days without the signed custodia: a specialist calls the promotoría."""
    task = CreateTask(
        kind="llamar_custodia",
        title="Llamar para recuperar la carta custodia firmada de {{ case.ref }}",
        template="MA-001/llamar_custodia",
        context={"pendientes": _custody_pending(ctx)},
        due=business_days(1),
    )
    return Outcome(effects=(task,), detail={"escalado": "custodia"})


def _match_custody(ctx: Context) -> dict[str, str]:
    """RFC -> scan: a user's own mail covers that user; anyone else's, the missing in order."""
    received = dict(ctx.case.data.get("custodias", {}))
    pending = _custody_pending(ctx)
    good = _good_files(ctx)
    by_mail = {str(u["correo"]).lower(): str(u["rfc"]) for u in _users(ctx)}
    own = by_mail.get(ctx.trigger.actor.lower())
    if own is not None:
        # A user signs for themselves only, however many pages or photos they attach.
        if own in pending and good:
            received[own] = str(good[0]["sha"])
        return received
    for rfc, file in zip(pending, good, strict=False):
        received[rfc] = str(file["sha"])
    return received


def custody_received(ctx: Context) -> Outcome:
    """Pasos 24-25: every signed custodia is back; task: print and file them."""
    received = _match_custody(ctx)
    keep = [KeepDocument(f"custodia_{rfc}", sha) for rfc, sha in received.items()]
    task = CreateTask(
        kind="archivo_fisico",
        title="Imprimir y archivar las cartas custodia firmadas de {{ case.ref }}",
        template="MA-001/archivo_fisico",
        due=business_days(2),
        attachments=tuple(f"doc:custodia_{rfc}" for rfc in received),
    )
    effects: list[Effect] = [*keep, CompleteTasks("llamar_custodia"), task]
    if ctx.trigger.on.kind != "command":
        effects.append(
            SendMail(
                to=("@requester",),
                template="MA-001/custodia_recibida",
                context={"faltan": []},
                auto="auto-replied",
                reply=True,
            )
        )
    return Outcome(effects=tuple(effects), data={"custodias": received})


def custody_some(ctx: Context) -> Outcome:
    """Some signed custodias came back: kept, and the sender told which are missing."""
    received = _match_custody(ctx)
    keep = [KeepDocument(f"custodia_{rfc}", sha) for rfc, sha in received.items()]
    names = {str(u["rfc"]): str(u["nombre"]) for u in _users(ctx)}
    missing = [names[r] for r in names if r not in received]
    ack = SendMail(
        to=(ctx.trigger.actor,),
        template="MA-001/custodia_recibida",
        context={"faltan": missing},
        auto="auto-replied",
        reply=True,
    )
    return Outcome(effects=(*keep, ack), data={"custodias": received})


def filed(ctx: Context) -> Outcome:
    """Pasos 25-26: archived on paper; the requester is asked to validate within 3 days."""
    mail = SendMail(
        to=("@requester",),
        template="MA-001/validacion",
        context={"fecha_cierre": _date(ctx, "validation_close")},
    )
    return Outcome(
        effects=(CompleteTasks("archivo_fisico"), mail), data={"archivado_at": ctx.now.isoformat()}
    )


remind_validation = validation_reminder("MA-001/recordatorio_validacion")


def validated(ctx: Context) -> Outcome:
    """Paso 27: the requester (or a specialist for them) confirms the access works."""
    mail = SendMail(
        to=("@requester",),
        template="MA-001/cerrado_validado",
        reply=True,
        auto=answer_auto(ctx),
    )
    return Outcome(
        effects=(mail, _knowledge(ctx, "validado"), CompleteTasks()),
        data={"motivo_cierre": "validado"},
    )


def not_working(ctx: Context) -> Outcome:
    """The access does not work yet: a specialist reviews it; no automatic close meanwhile."""
    task = CreateTask(
        kind="revisar_acceso",
        title="Revisar el acceso reportado con problemas en {{ case.ref }}",
        template="MA-001/revisar_acceso",
        context={"texto": ctx.trigger.text[:4000], "remitente": ctx.trigger.actor},
        due=business_days(1),
    )
    ack = SendMail(
        to=("@requester",),
        template="MA-001/revisamos_acceso",
        reply=True,
        auto=answer_auto(ctx),
    )
    effects = (
        CancelTimer("cierre_automatico"),
        CancelTimer("recordatorio_validacion"),
        task,
        ack,
    )
    return Outcome(effects=effects, data={"acceso_con_problemas": True})


def auto_close(ctx: Context) -> Outcome:
    """Paso 27: no answer in 3 business days closes the request."""
    mail = SendMail(
        to=("@requester",), template="MA-001/cerrado_sin_respuesta", auto="auto-generated"
    )
    return Outcome(
        effects=(mail, _knowledge(ctx, "sin_respuesta"), CompleteTasks()),
        data={"motivo_cierre": "sin_respuesta"},
    )


def removal_done(ctx: Context) -> Outcome:
    """Paso 28: MetLife was asked for the baja; Pegasus Baja; the requester told; closed."""
    dsn = _dsn(ctx)
    told = SendMail(to=("@requester",), template="MA-001/baja_realizada", context={"dsn": dsn})
    effects = (
        CompleteTasks(),
        UpdatePegasus("Baja", files=(SIGNED, REMOVAL_LETTER), note=f"DSN {dsn}" if dsn else ""),
        told,
        _knowledge(ctx, "baja"),
    )
    return Outcome(effects=effects, data={"dsn": dsn, "motivo_cierre": "baja_realizada"})


def close_by_specialist(ctx: Context) -> Outcome:
    """A specialist closes a request that will not go on (duplicate, withdrawn)."""
    reason = ctx.trigger.values["motivo"]
    mail = SendMail(
        to=("@requester",), template="MA-001/cerrado_especialista", context={"motivo": reason}
    )
    return Outcome(
        effects=(mail, _knowledge(ctx, "cerrado_por_especialista"), CompleteTasks()),
        data={"motivo_cierre": reason},
    )


# --- the machine ------------------------------------------------------------------------

ALTA_FLOW = (
    "pendiente_atencion",
    "datos_incompletos",
    "en_proceso",
    "esperando_firma",
    "solicitud_metlife",
    "escalado",
    "activo",
    "esperando_custodia",
    "archivo_fisico",
    "en_validacion",
)
BAJA_FLOW = ("baja_en_proceso", "baja_esperando_firma", "baja_solicitud_metlife")
OPEN = (*ALTA_FLOW, *BAJA_FLOW)
# States where a message nobody acts on is passed to the assignee (the form and signature
# states have their own catch-all).
_PASS_ON = (
    "solicitud_metlife",
    "baja_solicitud_metlife",
    "escalado",
    "esperando_custodia",
    "archivo_fisico",
    "en_validacion",
)


def _reminder(kind: str, after: str, label: str, *, repeat: bool = False) -> TimerDecl:
    """A reminder or escalation timer whose delay is a process setting."""
    return TimerDecl(kind, after, repeat=repeat, label=label)


def _form_transitions(source: str, trigger_name: str) -> tuple[Transition, ...]:
    """Checking a form: valid alta, valid baja, or a reply listing what is wrong."""
    steps_alta = ("MA-001 paso 4", "MA-001 paso 5", "MA-001 paso 6", "MA-001 paso 7")
    return (
        Transition(
            (source,),
            event(trigger_name),
            "en_proceso",
            steps_alta,
            action=accept_form,
            guard=form_ok_alta,
            guard_label="formato de alta válido",
            description="Formato válido: paquete identificado y carta de autorización generada",
        ),
        Transition(
            (source,),
            event(trigger_name),
            "baja_en_proceso",
            ("MA-001 paso 4", "MA-001 paso 28"),
            action=accept_form,
            guard=form_ok_baja,
            guard_label="formato de baja válido",
            description="Formato de baja válido: carta de baja generada",
        ),
        *(
            ()
            if source == "pendiente_atencion"
            else (
                Transition(
                    (source,),
                    event(trigger_name),
                    None,
                    ("MA-001 paso 4",),
                    action=ask_for_form,
                    guard=form_present,
                    guard_label="llegó un archivo con errores",
                    description="El archivo corregido aún tiene errores: se listan de nuevo",
                ),
            )
        ),
        Transition(
            (source,),
            event(trigger_name),
            "datos_incompletos" if source == "pendiente_atencion" else None,
            ("MA-001 paso 4",),
            action=ask_for_form if source == "pendiente_atencion" else message_attached,
            description=(
                "Falta el Excel o tiene errores: respuesta con cada error por fila y columna"
                if source == "pendiente_atencion"
                else "Mensaje sin formato: se avisa al asignado"
            ),
        ),
    )


def _signature_transitions(
    source: str, target: str, steps: Sequence[str], task: str, template: str, title: str
) -> tuple[Transition, ...]:
    """The director's signature loop of an alta or a baja."""
    received = _signature_received(task, template, title)
    return (
        Transition(
            (source,),
            event("mensaje"),
            target,
            tuple(steps),
            action=received,
            guard=signed_by_director,
            guard_label="carta firmada del director, autenticada",
            description="Carta firmada recibida del director, verificada y archivada",
        ),
        Transition(
            (source,),
            event("mensaje"),
            None,
            ("MA-001 paso 9",),
            action=reject_director_file,
            guard=director_bad_file,
            guard_label="archivo del director no aceptable",
            description="El archivo del director no se puede aceptar: se le explica por qué",
        ),
        Transition(
            (source,),
            event("mensaje"),
            None,
            ("MA-001 paso 9",),
            action=alert_unproven_signature,
            guard=unproven_signature,
            guard_label="firma de alguien que no es el director autenticado",
            description="«Carta firmada» no autenticada: se registra, no cambia nada, alerta",
        ),
        Transition(
            (source,),
            event("mensaje"),
            None,
            ("MA-001 paso 9",),
            action=message_attached,
            description="Mensaje sin carta firmada: se avisa al asignado",
        ),
        Transition(
            (source,),
            command("firma_recibida"),
            target,
            tuple(steps),
            action=received,
            guard=signed_by_hand,
            guard_label="adjunta la carta firmada (PDF o imagen) con --attach",
            description="El especialista registra la carta firmada en papel (--attach)",
        ),
        Transition(
            (source,),
            timer("recordatorio_firma"),
            None,
            ("MA-001 paso 8",),
            action=remind_signature,
            description="Recordatorio al director",
        ),
        Transition(
            (source,),
            timer("escalar_firma"),
            None,
            ("MA-001 paso 8",),
            action=escalate_signature,
            description="Escalamiento al supervisor: la carta sigue sin firma",
        ),
    )


def _signature_state(slug: str, label: str) -> State:
    """Waiting for the director's signature, with its reminder and escalation."""
    return State(
        slug,
        label,
        timers=(
            _reminder(
                "recordatorio_firma", "signature_reminder", "Recordatorio al director", repeat=True
            ),
            _reminder("escalar_firma", "signature_escalation", "Escalamiento de la firma"),
        ),
        waiting_on="el director",
    )


PROCESS = Process(
    code=CODE,
    name="Cuentas MET administrativos y promotorías",
    states=(
        State("pendiente_atencion", "Pendiente de atención"),
        State(
            "datos_incompletos",
            "Datos incompletos",
            timers=(
                _reminder("recordatorio_datos", "data_reminder", "Recordatorio del formato"),
                _reminder("cierre_datos", "data_close", "Cierre sin formato"),
            ),
            waiting_on="el solicitante",
        ),
        State("en_proceso", "En proceso"),
        _signature_state("esperando_firma", "Esperando firma del director"),
        State(
            "solicitud_metlife",
            "Solicitud a MetLife",
            timers=(
                _reminder("seguimiento", "task_reminder", "Recordatorio de la tarea", repeat=True),
            ),
            entities=True,
        ),
        State(
            "escalado",
            "Escalado a MetLife",
            timers=(
                _reminder("revision_metlife", "metlife_check", "Revisión con MetLife"),
                _reminder(
                    "escalar_metlife", "metlife_escalation", "Escalamiento MetLife", repeat=True
                ),
            ),
            waiting_on="MetLife",
        ),
        State("activo", "Activo"),
        State(
            "esperando_custodia",
            "Esperando carta custodia",
            timers=(
                _reminder(
                    "recordatorio_custodia",
                    "custody_reminder",
                    "Recordatorio de la carta custodia",
                    repeat=True,
                ),
                _reminder("escalar_custodia", "custody_escalation", "Escalamiento de la custodia"),
            ),
            waiting_on="el usuario",
        ),
        State(
            "archivo_fisico",
            "Archivo físico",
            timers=(
                _reminder("seguimiento", "task_reminder", "Recordatorio de la tarea", repeat=True),
            ),
        ),
        State(
            "en_validacion",
            "En validación",
            timers=(
                _reminder(
                    "recordatorio_validacion", "validation_reminder", "Recordatorio de validación"
                ),
                _reminder("cierre_automatico", "validation_close", "Cierre automático"),
            ),
            waiting_on="el usuario",
        ),
        State("baja_en_proceso", "Baja: carta en proceso"),
        _signature_state("baja_esperando_firma", "Baja: esperando firma del director"),
        State(
            "baja_solicitud_metlife",
            "Baja: solicitud a MetLife",
            timers=(
                _reminder("seguimiento", "task_reminder", "Recordatorio de la tarea", repeat=True),
            ),
            entities=True,
        ),
        State("cerrado", "Cerrado", final=True),
    ),
    transitions=(
        Transition(
            (),
            event("abrir"),
            "pendiente_atencion",
            ("MA-001 paso 1", "MA-001 paso 2", "MA-001 paso 3"),
            action=open_request,
            description="Solicitud de alta o baja recibida",
        ),
        *_form_transitions("pendiente_atencion", "revisar_formato"),
        *_form_transitions("datos_incompletos", "mensaje"),
        Transition(
            ("datos_incompletos",),
            timer("recordatorio_datos"),
            None,
            ("MA-001 paso 4",),
            action=remind_form,
            description="Recordatorio al solicitante: falta el formato corregido",
        ),
        Transition(
            ("datos_incompletos",),
            timer("cierre_datos"),
            "cerrado",
            ("MA-001 paso 4", "MA-001 paso 27"),
            action=close_without_form,
            description="Cierre: el formato no llegó",
        ),
        Transition(
            ("en_proceso",),
            event("enviar_firma"),
            "esperando_firma",
            ("MA-001 paso 8",),
            action=request_signature,
            description="Carta de autorización enviada al director para firma",
        ),
        Transition(
            ("baja_en_proceso",),
            event("enviar_firma"),
            "baja_esperando_firma",
            ("MA-001 paso 8", "MA-001 paso 28"),
            action=request_signature,
            description="Carta de baja enviada al director para firma",
        ),
        *_signature_transitions(
            "esperando_firma",
            "solicitud_metlife",
            ("MA-001 paso 9", "MA-001 paso 10", "MA-001 paso 11", "MA-001 paso 12"),
            "remote_scan",
            "MA-001/remote_scan",
            "Solicitar el alta en Remote SCAN y registrar el DSN de {{ case.ref }}",
        ),
        *_signature_transitions(
            "baja_esperando_firma",
            "baja_solicitud_metlife",
            ("MA-001 paso 9", "MA-001 paso 28"),
            "remote_scan_baja",
            "MA-001/remote_scan_baja",
            "Solicitar la baja en Remote SCAN para {{ case.ref }}",
        ),
        Transition(
            ("solicitud_metlife",),
            command("registrar_dsn"),
            "escalado",
            (
                "MA-001 paso 13",
                "MA-001 paso 14",
                "MA-001 paso 15",
                "MA-001 paso 16",
                "MA-001 paso 17",
            ),
            action=dsn_recorded,
            requires=("dsn",),
            description="DSN registrado; CAM Pegasus a Escalado; aviso al solicitante",
        ),
        Transition(
            ("solicitud_metlife",),
            event("mensaje"),
            "escalado",
            (
                "MA-001 paso 13",
                "MA-001 paso 14",
                "MA-001 paso 15",
                "MA-001 paso 16",
                "MA-001 paso 17",
            ),
            action=dsn_recorded,
            guard=specialist_dsn,
            guard_label="respuesta de un especialista con el DSN",
            description="El especialista responde la tarea con el DSN («DSN 123456»)",
        ),
        Transition(
            ("escalado",),
            timer("revision_metlife"),
            None,
            ("MA-001 paso 18",),
            action=check_metlife,
            description="Revisión a los 15 días: ¿MetLife ya confirmó el alta?",
        ),
        Transition(
            ("escalado",),
            timer("escalar_metlife"),
            None,
            ("MA-001 paso 18",),
            action=escalate_metlife,
            description="Escalamiento a los 20 días sin confirmación de MetLife",
        ),
        Transition(
            ("escalado",),
            command("confirmar_alta"),
            "activo",
            ("MA-001 paso 18", "MA-001 paso 19", "MA-001 paso 20", "MA-001 paso 21"),
            action=activate,
            description="MetLife confirmó: Pegasus a Activo; credenciales al usuario",
        ),
        Transition(
            ("activo",),
            event("enviar_custodia"),
            "esperando_custodia",
            ("MA-001 paso 22", "MA-001 paso 23"),
            action=custody_sent,
            description="Carta custodia con las credenciales enviada para firma",
        ),
        Transition(
            ("esperando_custodia",),
            event("mensaje"),
            "archivo_fisico",
            ("MA-001 paso 24",),
            action=custody_received,
            guard=custody_complete,
            guard_label="llegaron todas las cartas custodia firmadas",
            description="Cartas custodia firmadas recibidas; tarea de archivo físico",
        ),
        Transition(
            ("esperando_custodia",),
            event("mensaje"),
            None,
            ("MA-001 paso 24",),
            action=custody_some,
            guard=custody_partial,
            guard_label="llegó parte de las cartas custodia",
            description="Parte de las cartas custodia recibidas",
        ),
        Transition(
            ("esperando_custodia",),
            command("custodia_recibida"),
            "archivo_fisico",
            ("MA-001 paso 24",),
            action=custody_received,
            guard=signed_by_hand,
            guard_label="adjunta la carta custodia firmada con --attach",
            description="El especialista registra las cartas custodia recibidas (--attach)",
        ),
        Transition(
            ("esperando_custodia",),
            timer("recordatorio_custodia"),
            None,
            ("MA-001 paso 23",),
            action=remind_custody,
            description="Recordatorio de la carta custodia firmada",
        ),
        Transition(
            ("esperando_custodia",),
            timer("escalar_custodia"),
            None,
            ("MA-001 paso 23",),
            action=escalate_custody,
            description="Sin carta custodia: tarea para llamar a la promotoría",
        ),
        Transition(
            ("archivo_fisico",),
            command("archivado"),
            "en_validacion",
            ("MA-001 paso 25", "MA-001 paso 26"),
            action=filed,
            description="Carta custodia archivada; validación solicitada (3 días hábiles)",
        ),
        Transition(
            ("en_validacion",),
            intent("VALIDATED"),
            "cerrado",
            ("MA-001 paso 26", "MA-001 paso 27"),
            action=validated,
            guard=from_requester,
            guard_label="respuesta del solicitante",
            description="El solicitante confirma que el acceso funciona",
        ),
        Transition(
            ("en_validacion",),
            intent("THANKS_DONE"),
            "cerrado",
            ("MA-001 paso 26", "MA-001 paso 27"),
            action=validated,
            guard=from_requester,
            guard_label="respuesta del solicitante",
            description="El solicitante confirma («Muchas gracias, ya lo tengo»)",
        ),
        Transition(
            ("en_validacion",),
            intent("NOT_SOLVED"),
            None,
            ("MA-001 paso 26",),
            action=not_working,
            guard=from_requester,
            guard_label="respuesta del solicitante",
            description="El acceso no funciona: tarea de revisión, sin cierre automático",
        ),
        Transition(
            ("en_validacion",),
            command("validar"),
            "cerrado",
            ("MA-001 paso 26", "MA-001 paso 27"),
            action=validated,
            description="El especialista registra la validación",
        ),
        Transition(
            ("en_validacion",),
            timer("recordatorio_validacion"),
            None,
            ("MA-001 paso 26",),
            action=remind_validation,
            description="Recordatorio de validación un día hábil antes del cierre",
        ),
        Transition(
            ("en_validacion",),
            timer("cierre_automatico"),
            "cerrado",
            ("MA-001 paso 27",),
            action=auto_close,
            description="Cierre automático sin respuesta en 3 días hábiles",
        ),
        Transition(
            ("baja_solicitud_metlife",),
            command("registrar_baja"),
            "cerrado",
            ("MA-001 paso 28",),
            action=removal_done,
            description="Baja solicitada en Remote SCAN: Pegasus a Baja, aviso y cierre",
        ),
        Transition(
            ("baja_solicitud_metlife",),
            event("mensaje"),
            "cerrado",
            ("MA-001 paso 28",),
            action=removal_done,
            guard=specialist_dsn,
            guard_label="respuesta de un especialista con el DSN",
            description="El especialista responde la tarea de baja con el DSN",
        ),
        Transition(
            ("solicitud_metlife", "baja_solicitud_metlife", "archivo_fisico"),
            timer("seguimiento"),
            None,
            ("MA-001 paso 10",),
            action=remind_task,
            description="Recordatorio al asignado: la tarea sigue abierta",
        ),
        Transition(
            _PASS_ON,
            event("mensaje"),
            None,
            ("MA-001 paso 3",),
            action=message_attached,
            description="Mensaje que el estado no espera: se adjunta y se avisa al asignado",
        ),
        *desk_commands(OPEN, "MA-001 paso 3", "la solicitud"),
        Transition(
            OPEN,
            command("cerrar"),
            "cerrado",
            ("MA-001 paso 27",),
            action=close_by_specialist,
            requires=("motivo",),
            description="Cierre por el especialista (duplicada, retirada)",
        ),
    ),
    settings={
        "data_reminder": business_days(2),
        "data_close": business_days(5),
        "signature_reminder": business_days(1),
        "signature_escalation": business_days(3),
        "task_reminder": business_days(2),
        "metlife_check": days(15),
        "metlife_escalation": days(20),
        "custody_reminder": business_days(2),
        "custody_escalation": business_days(5),
        "validation_reminder": business_days(2),
        "validation_close": business_days(3),
    },
    claims=claims,
    inspects=("formulario", "firmados"),
)
