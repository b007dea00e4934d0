"""MA-005 Recertificación anual de usuarios MetLife (seeds/001, MA-005 pasos 1-27).

If the package does not reach MetLife before the deadline, MetLife removes every user, so
every wait here has a reminder, and a countdown watches the whole case until it is sent.
Work that needs I/O (reading CAM Pegasus, writing the Excel files and the letter, packing
the evidence) is a job (RunJob) the dispatcher runs after the commit; its result comes
back as the event of the same name, with its facts under that name.

Facts the pipeline puts on a trigger (bot.handlers.documents):
  recertificacion:   {"estado": ok|sin_usuarios|ilegible|ausente, "usuarios": [...],
                      "hojas": [...], "aplicaciones": [...], "problemas": [...], "archivo", "sha"}
  respuestas_recert: {"estado": ok|ilegible|sin_respuestas|ausente, "respuestas": {clave:
                      {decision, comentario, fila}}, "pegasus": {clave: estatus},
                      "problemas", "archivo", "sha"}
  firmados:          as MA-001 (signed PDF or image files)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from bot.calendar import spanish_long_date, spanish_when
from bot.documents.hid import hid_key
from bot.handlers.entities import find_deadline, fold
from bot.rules.common import (
    desk_commands,
    director_bad_file,
    is_director,
    notes,
    signed_by_director,
    signed_by_hand,
    signed_files,
    unproven_signature,
)
from bot.rules.dsl import (
    Action,
    Context,
    NewMail,
    Outcome,
    Process,
    State,
    TimerDecl,
    Transition,
    command,
    event,
    timer,
)
from bot.rules.effects import (
    ArmTimer,
    CancelTimer,
    CompleteTasks,
    CreateTask,
    Effect,
    KeepDocument,
    RecordKnowledge,
    RunJob,
    SendChat,
    SendMail,
    business_days,
    business_hours,
    minutes,
)

if TYPE_CHECKING:
    from bot.calendar import BusinessCalendar

CODE = "MA-005"
TEAM = frozenset({"specialist", "supervisor", "backup"})
# Business days before the deadline at which the countdown alerts; from ESCALATE_FROM on
# the supervisor and the director hear too (PROCESSES.md).
ALERT_DAYS = (7, 5, 3, 2, 1)
ESCALATE_FROM = 3
# The package leaves this many business days before the deadline (paso 24: "1-2 días ANTES").
SEND_BEFORE = 2
# Without a deadline in MetLife's mail: two weeks (paso 3), flagged for a person to confirm.
DEFAULT_WINDOW_DAYS = 14
AREAS = {"comercial": "commercial", "operaciones": "operations"}
AREA_TOKENS = {"comercial": "@commercial", "operaciones": "@operations"}
AREA_NAMES = {"comercial": "Comercial", "operaciones": "Operaciones"}
FINAL = ("Activo", "Baja")
PEGASUS_LABELS = ("Activo", "Baja", "Sin información")
# Above this many users, or this many discrepancies, the backup helps to consolidate (17).
BACKUP_USERS = 300
BACKUP_DISCREPANCIES = 20

JOB_VALIDATE = "validacion_pegasus"
JOB_PACKAGE = "paquete"
JOB_EVIDENCE = "expediente"

ORIGINAL = "doc:original"
ENRICHED = "doc:validacion"
FINAL_XLSX = "doc:archivo_final"
LETTER = "doc:carta_responsiva"
SIGNED = "doc:carta_firmada"
EVIDENCE = "doc:expediente"

# --- claiming new mail ------------------------------------------------------------------

_RECERT_WORDS = re.compile(r"\brecertifica\w*|\brecerti\w*")
_SPREADSHEET = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods", ".csv")


def claims(mail: NewMail) -> bool:
    """MetLife's recertification mail: from its configured contact, or naming it with a file."""
    spreadsheet = any(name.lower().endswith(_SPREADSHEET) for name in mail.attachments)
    words = _RECERT_WORDS.search(fold(f"{mail.subject} {mail.body[:2000]}")) is not None
    named = any(_RECERT_WORDS.search(fold(name)) for name in mail.attachments)
    if "metlife_recert" in mail.sender_roles:
        return spreadsheet or words
    return spreadsheet and (words or named)


# --- reading facts ----------------------------------------------------------------------


def _fact(ctx: Context, name: str) -> Mapping[str, Any]:
    """One fact mapping of the trigger (empty when absent)."""
    found = ctx.trigger.facts.get(name)
    return found if isinstance(found, Mapping) else {}


def _file(ctx: Context) -> Mapping[str, Any]:
    """MetLife's recertification file found in the trigger's attachments."""
    return _fact(ctx, "recertificacion")


def _roles(ctx: Context) -> frozenset[str]:
    """The roles of whoever fired the trigger."""
    return ctx.trigger.actor_roles


def from_metlife(ctx: Context) -> bool:
    """CONTRACT "Who may approve": the configured MetLife contact, authenticated."""
    return "metlife_recert" in _roles(ctx) and ctx.trigger.authenticated


def authentic(ctx: Context) -> bool:
    """The request may start: MetLife's authenticated contact, or the team converting a ticket.

    A conversion's opening trigger is the specialist's command, with no message of its own.
    """
    converted = bool(_roles(ctx) & TEAM) and not ctx.trigger.message_id
    return from_metlife(ctx) or converted


def file_ok(ctx: Context) -> bool:
    """The trigger brings a readable recertification file with users."""
    return _file(ctx).get("estado") == "ok"


def authentic_with_file(ctx: Context) -> bool:
    """Pasos 1-2: an authentic request with a readable file."""
    return authentic(ctx) and file_ok(ctx)


def _team_vouched(ctx: Context) -> bool:
    """A team member's command, or their mail when authenticated (it moves the case)."""
    return bool(_roles(ctx) & TEAM) and (
        ctx.trigger.on.kind == "command" or ctx.trigger.authenticated
    )


def authentic_file_from_metlife_or_team(ctx: Context) -> bool:
    """A readable file from MetLife's authenticated contact or from the team."""
    return file_ok(ctx) and (from_metlife(ctx) or _team_vouched(ctx))


def area_of(ctx: Context) -> str:
    """Which area wrote ("comercial", "operaciones"), or ""."""
    roles = _roles(ctx)
    return next((area for area, role in AREAS.items() if role in roles), "")


def area_authenticated(ctx: Context) -> bool:
    """An area's answer counts only authenticated, like every approval."""
    return bool(area_of(ctx)) and ctx.trigger.authenticated


def area_unproven(ctx: Context) -> bool:
    """An area's address wrote, but the message is not authenticated."""
    return bool(area_of(ctx)) and not ctx.trigger.authenticated


def director_decides(ctx: Context) -> bool:
    """The authenticated director answered the discrepancies."""
    return is_director(ctx) and has_decisions(ctx)


# --- dates ------------------------------------------------------------------------------


def _deadline(ctx: Context) -> date:
    """The deadline the case works to."""
    return date.fromisoformat(str(ctx.case.data["fecha_limite"]))


def opening_of(calendar: BusinessCalendar, day: date) -> datetime:
    """The support window's opening on a day (the next one when the office is closed)."""
    return calendar.next_opening(datetime.combine(day, time(0, 0), calendar.tz))


def _opening(ctx: Context, day: date) -> datetime:
    """The support window's opening on a day, in a rule."""
    return opening_of(ctx.calendar, day)


def send_at_for(calendar: BusinessCalendar, deadline: date) -> datetime:
    """When the package leaves: SEND_BEFORE business days before the deadline, at opening."""
    start = datetime.combine(deadline, time(12, 0), calendar.tz)
    return opening_of(calendar, calendar.add_business_days(start, -SEND_BEFORE).date())


def send_at(ctx: Context, deadline: date | None = None) -> datetime:
    """When this case's package leaves."""
    return send_at_for(ctx.calendar, deadline or _deadline(ctx))


def respond_by(
    now: datetime, calendar: BusinessCalendar, settings: Mapping[str, Any], deadline: date
) -> datetime:
    """The end of the areas' window: 3 business days, never after the package must be ready.

    However close the deadline, the areas keep a few business hours to answer.
    """
    start = calendar.next_opening(now)
    window: datetime = settings["areas_window"].due(start, calendar)
    latest = calendar.add_business_days(send_at_for(calendar, deadline), -1)
    floor: datetime = settings["areas_minimum"].due(start, calendar)
    return max(min(window, latest), floor)


def _countdown(ctx: Context, deadline: date) -> list[Effect]:
    """The countdown alerts still ahead, and the moment the package must be ready.

    A moment already past is not armed: the alert that opens the case (or the correction
    round) already says how late it is, to the supervisor and the director.
    """
    start = datetime.combine(deadline, time(12, 0), ctx.calendar.tz)
    effects: list[Effect] = [CancelTimer("cuenta_regresiva"), CancelTimer("limite_envio")]
    for days_before in ALERT_DAYS:
        at = _opening(ctx, ctx.calendar.add_business_days(start, -days_before).date())
        if at > ctx.now:
            effects.append(ArmTimer("cuenta_regresiva", at=at))
    leaves = send_at(ctx, deadline)
    if leaves > ctx.now:
        effects.append(ArmTimer("limite_envio", at=leaves))
    return effects


def days_left(ctx: Context, deadline: date | None = None) -> int:
    """Business days from today to the deadline (0 on the day, negative after it)."""
    today = ctx.calendar.local(ctx.now).date()
    return ctx.calendar.business_days_between(today, deadline or _deadline(ctx))


# --- decisions in free text ------------------------------------------------------------

_DECISION_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Reactivar", re.compile(r"\breactiva\w*")),
    ("Baja", re.compile(r"\b(?:baja|bajas|dar de baja|eliminar|inactiv[oa]s?|desactivar)\b")),
    ("Activo", re.compile(r"\b(?:activ[oa]s?|mantener|mantiene|vigentes?|sigue)\b")),
    ("Confirmar", re.compile(r"\b(?:confirm\w*|de acuerdo|conforme|correct[oa]s?|ok)\b")),
)
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
# A decision or an agreement that is denied ("no se da de baja", "no estamos de acuerdo",
# "no hemos recibido") says nothing: it is removed before the words are read.
_NEGATED = re.compile(
    r"\b(?:no|ni|tampoco|nunca)\s+(?:\w+\s+){0,3}?"
    r"(?:baja|bajas|activ\w*|reactiv\w*|mantener|eliminar|confirm\w*|de acuerdo|conformes?|"
    r"procede|autoriz\w*|aprob\w*|valid\w*|recibid[oa]s?|recibimos|correct[oa]s?|"
    r"procesad[oa]s?|aplicad[oa]s?|sin cambios)\b"
)
# A question asks, it does not state ("¿ya lo recibieron?").
_QUESTION = re.compile(r"¿[^?]*\?|[^.!?\n]*\?")


def affirmed(text: str) -> str:
    """The folded text without its questions and denied words."""
    return _NEGATED.sub(" ", _QUESTION.sub(" ", fold(text)))


_AGREE_ALL = re.compile(
    r"\b(?:sin cambios|sin observaciones|de acuerdo|conformes?|todo (?:esta )?correcto|"
    r"confirm\w* (?:las|los|la) (?:bajas|propuestas?|usuarios)|adelante|procede|"
    r"estamos de acuerdo|sin comentarios|validad[oa]s?|aprobad[oa]s?|autoriz\w*)\b"
)


def parse_decisions(text: str, known: Iterable[str]) -> dict[str, str]:
    """HID key -> decision named in a reply, line by line ("12345 baja", "Bajas: 1, 2").

    A line with a decision word and no HID sets the decision for the HIDs on the lines
    that follow, until a blank line ("Se mantienen activos:" then a list).
    """
    keys = set(known)
    found: dict[str, str] = {}
    heading = ""
    for raw in text.splitlines():
        line = _NEGATED.sub(" ", fold(raw))
        if not raw.strip():
            heading = ""
            continue
        hids = [k for k in (hid_key(t) for t in _TOKEN.findall(raw)) if k in keys]
        decision = next((name for name, rx in _DECISION_WORDS if rx.search(line)), "")
        if not hids:
            heading = decision or heading
            continue
        for key in hids:
            if decision or heading:
                found[key] = decision or heading
    return found


def agrees_with_everything(text: str) -> bool:
    """A reply that accepts the proposal as a whole ("De acuerdo, sin cambios")."""
    return _AGREE_ALL.search(affirmed(text)) is not None


def _users(ctx: Context) -> list[Mapping[str, Any]]:
    """The users of MetLife's file, with what the bot learned about each."""
    return list(ctx.case.data.get("usuarios", []))


def _keys(ctx: Context) -> set[str]:
    """Every user's HID key."""
    return {str(u["clave"]) for u in _users(ctx)}


def _decisions_in(ctx: Context, who: str) -> dict[str, str]:
    """Decisions of a director or specialist: --set HID=Estatus, else the reply's lines."""
    keys = _keys(ctx)
    given = {
        hid_key(k): _final_word(v)
        for k, v in ctx.trigger.values.items()
        if hid_key(k) in keys and _final_word(v)
    }
    if given:
        return given
    parsed = parse_decisions(ctx.trigger.text, keys)
    return {k: _final_word(v) for k, v in parsed.items() if _final_word(v)}


def _final_word(value: str) -> str:
    """A decision as a final status (Reactivar keeps the user: Activo), or ""."""
    folded = fold(value).strip()
    if folded.startswith(("reactiv", "activ")) or folded == "mantener":
        return "Activo"
    if folded.startswith("baja") or folded in ("eliminar", "inactivo", "inactiva"):
        return "Baja"
    return ""


# --- consolidation (pure; the package job uses it too) ------------------------------------


def area_opinion(answer: Mapping[str, Any], user: Mapping[str, Any]) -> tuple[str, bool]:
    """What one area says of one user as a final status, and whether it named that user.

    ("", False) when the area did not answer. A row it left blank, or a reply that agrees
    as a whole, counts as agreeing with the proposal without naming the user.
    """
    if not answer:
        return "", False
    row = dict(answer.get("filas", {})).get(str(user["clave"]))
    decision = str(row.get("decision", "")) if isinstance(row, Mapping) else ""
    named = bool(decision)
    if decision in ("", "Confirmar"):
        return str(user.get("propuesta", "")), named
    return _final_word(decision), named


def consolidate(
    users: Sequence[Mapping[str, Any]],
    answers: Mapping[str, Mapping[str, Any]],
    decisions: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Final status per HID key, and the discrepancies still waiting for the director.

    The director's (or the team's) decision wins; then what the areas said of that user
    by name (they were asked to report exactly these: actives marked baja, reactivations);
    then the proposal from CAM Pegasus, which also stands when nobody answered (paso 13).
    Areas that name a user with different statuses make a discrepancy.
    """
    final: dict[str, str] = {}
    pending: list[dict[str, Any]] = []
    for user in users:
        key = str(user["clave"])
        decided = decisions.get(key)
        if decided:
            final[key] = str(decided["estatus"])
            continue
        opinions = {area: area_opinion(answers.get(area, {}), user) for area in AREAS}
        named = {status for status, by_name in opinions.values() if by_name and status}
        if len(named) > 1:
            pending.append(
                {
                    "clave": key,
                    "hid": user.get("hid", key),
                    "nombre": user.get("nombre", ""),
                    "aplicacion": user.get("aplicacion", ""),
                    "pegasus": user.get("pegasus", ""),
                    "propuesta": user.get("propuesta", ""),
                    **{area: status for area, (status, _) in opinions.items()},
                }
            )
            continue
        final[key] = named.pop() if named else str(user.get("propuesta") or "Baja")
    return final, pending


def counts(
    users: Sequence[Mapping[str, Any]], final: Mapping[str, str]
) -> dict[str, dict[str, int]]:
    """Per application: how many stay active and how many are removed."""
    out: dict[str, dict[str, int]] = {}
    for user in users:
        status = final.get(str(user["clave"]))
        if status not in FINAL:
            continue
        app = str(user.get("aplicacion") or "Sin aplicación")
        slot = out.setdefault(app, {"Activo": 0, "Baja": 0})
        slot[status] += 1
    return out


def _state_of_answers(ctx: Context) -> dict[str, Any]:
    """The areas' answers recorded so far."""
    return dict(ctx.case.data.get("respuestas", {}))


def _state_of_decisions(ctx: Context) -> dict[str, Any]:
    """The director's and the team's decisions recorded so far."""
    return dict(ctx.case.data.get("decisiones", {}))


def _consolidated(ctx: Context) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Consolidation of what the case holds now."""
    return consolidate(_users(ctx), _state_of_answers(ctx), _state_of_decisions(ctx))


# --- what is missing (for the countdown and escalations) ----------------------------------


def missing(ctx: Context) -> list[str]:
    """What still stands between the case and MetLife, in Spanish."""
    state = ctx.case.state
    if state == "por_verificar":
        return ["verificar que el archivo viene de MetLife (`verificar`)"]
    if state == "recibido":
        return ["un archivo de recertificación legible de MetLife"]
    if state == "validando":
        return ["la validación de cada usuario en CAM Pegasus"]
    if state == "validacion_areas":
        answers = _state_of_answers(ctx)
        lacking = [AREA_NAMES[a] for a in AREAS if not answers.get(a)]
        return [f"la respuesta de {' y '.join(lacking)}"] if lacking else []
    if state in ("consolidando", "inconsistencias"):
        _, pending = _consolidated(ctx)
        items = []
        if pending:
            items.append(f"la decisión del director sobre {len(pending)} discrepancia(s)")
        if state == "inconsistencias":
            items.append("corregir las inconsistencias que reportó MetLife (`corregir`)")
        return items or ["generar el archivo final y la carta responsiva"]
    if state == "esperando_firma":
        return ["la carta responsiva firmada por el director"]
    return []


# --- actions ----------------------------------------------------------------------------


def _alert_effects(
    ctx: Context, template: str, context: Mapping[str, Any], *, director: bool = False
) -> list[Effect]:
    """A high-priority alert by mail and chat to the specialists and the supervisor."""
    bosses = ("@supervisor", "@director") if director else ("@supervisor",)
    return [
        SendMail(
            to=("@specialists",),
            cc=bosses,
            template=template,
            context=context,
            auto="auto-generated",
            immediate=True,
            priority=True,
        ),
        SendChat(to=("@specialists", *bosses), template=template, context=context, immediate=True),
    ]


def _file_data(ctx: Context) -> dict[str, Any]:
    """What the case keeps of MetLife's file: users, sheet layouts, applications."""
    found = _file(ctx)
    return {
        "usuarios": [dict(u) for u in found.get("usuarios", [])],
        "hojas": [dict(h) for h in found.get("hojas", [])],
        "problemas_archivo": list(found.get("problemas", [])),
        "archivo": {"archivo": found.get("archivo", ""), "sha": found.get("sha", "")},
    }


def _applications(ctx: Context) -> list[str]:
    """Applications named by the file, else by the mail's words (paso 2)."""
    from_file = list(_file(ctx).get("aplicaciones", []))
    if from_file:
        return from_file
    from bot.documents.recert import applications_in

    return list(applications_in(f"{ctx.case.subject}\n{ctx.trigger.text[:4000]}"))


def _file_report(ctx: Context) -> str:
    """What was wrong with the file, including one too large to be received at all."""
    skipped = ctx.trigger.facts.get("omitidos", [])
    dropped = [str(x) for x in skipped] if isinstance(skipped, list) else []
    return " ".join([str(_file(ctx).get("informe", "")), *dropped]).strip()


def open_recert(ctx: Context) -> Outcome:
    """Pasos 1-4: file, applications and deadline noted; every specialist alerted at once."""
    local = ctx.calendar.local(ctx.now)
    confirmed = ctx.case.data.get("fecha_limite")
    if confirmed and not ctx.case.data.get("fecha_limite_estimada"):
        # Set with `fecha_limite` while the sender was being verified: it stands.
        found: date | None = date.fromisoformat(str(confirmed))
    else:
        found = find_deadline(ctx.trigger.text, local.replace(tzinfo=None))
    estimated = found is None or found < local.date()
    deadline = local.date() + timedelta(days=DEFAULT_WINDOW_DAYS) if estimated else found
    assert deadline is not None
    data: dict[str, Any] = {
        "fecha_limite": deadline.isoformat(),
        "fecha_limite_estimada": estimated,
        "envio_programado": send_at(ctx, deadline).isoformat(),
        "aplicaciones": _applications(ctx),
        "descripcion": ctx.trigger.text[:4000],
    }
    ok = file_ok(ctx)
    if ok:
        data.update(_file_data(ctx))
    context = {
        "fecha_limite": spanish_long_date(deadline),
        "estimada": estimated,
        "aplicaciones": data["aplicaciones"],
        "usuarios": len(data.get("usuarios", [])),
        "archivo_ok": ok,
        "informe": _file_report(ctx),
        "envio": spanish_long_date(send_at(ctx, deadline).date()),
    }
    effects: list[Effect] = [*_countdown(ctx, deadline)]
    # Close to the deadline the bosses hear at once, as the countdown would tell them.
    urgent = days_left(ctx, deadline) <= ESCALATE_FROM
    effects += _alert_effects(ctx, "MA-005/alerta_recepcion", context, director=urgent)
    if ok and _file(ctx).get("sha"):
        effects.insert(0, KeepDocument("original", str(_file(ctx)["sha"])))
    if ctx.trigger.message_id:
        effects.append(
            SendMail(
                to=("@requester",),
                template="MA-005/acuse" if ok else "MA-005/archivo_ilegible",
                context=context,
                auto="auto-replied",
                reply=True,
                immediate=True,
            )
        )
    return Outcome(
        effects=tuple(effects),
        data=data,
        detail={"fecha_limite": deadline.isoformat(), "estimada": estimated},
        then="validar" if ok else None,
    )


def hold_unverified(ctx: Context) -> Outcome:
    """A recertification file not proven to come from MetLife: recorded, the team alerted."""
    context = {
        "remitente": ctx.trigger.actor,
        "autenticado": ctx.trigger.authenticated,
        "archivo_ok": file_ok(ctx),
    }
    data = {"descripcion": ctx.trigger.text[:4000], "remitente_original": ctx.trigger.actor}
    if file_ok(ctx):
        data.update(_file_data(ctx))
    effects: list[Effect] = _alert_effects(ctx, "MA-005/no_verificado", context)
    if file_ok(ctx) and _file(ctx).get("sha"):
        effects.insert(0, KeepDocument("original", str(_file(ctx)["sha"])))
    return Outcome(effects=tuple(effects), data=data, detail={"no_verificado": ctx.trigger.actor})


def verified(ctx: Context) -> Outcome:
    """A specialist vouches for the unverified file: the recertification starts (pasos 1-4)."""
    return open_recert(_with_file_from_case(ctx))


def _with_file_from_case(ctx: Context) -> Context:
    """The context with the file the case already holds as if it came with the trigger."""
    from dataclasses import replace

    if file_ok(ctx) or not ctx.case.data.get("usuarios"):
        return ctx
    held = {
        "estado": "ok",
        "usuarios": ctx.case.data.get("usuarios", []),
        "hojas": ctx.case.data.get("hojas", []),
        "problemas": ctx.case.data.get("problemas_archivo", []),
        "aplicaciones": ctx.case.data.get("aplicaciones", []),
        **dict(ctx.case.data.get("archivo", {})),
    }
    facts = {**ctx.trigger.facts, "recertificacion": held}
    text = ctx.trigger.text or str(ctx.case.data.get("descripcion", ""))
    return replace(ctx, trigger=replace(ctx.trigger, facts=facts, text=text))


def file_arrived(ctx: Context) -> Outcome:
    """A readable file came after an unreadable one: kept, and the validation starts."""
    data = _file_data(ctx)
    if not ctx.case.data.get("aplicaciones"):
        data["aplicaciones"] = _applications(ctx)
    effects: list[Effect] = []
    if _file(ctx).get("sha"):
        effects.append(KeepDocument("original", str(_file(ctx)["sha"])))
    return Outcome(effects=tuple(effects), data=data, then="validar")


def ask_for_file(ctx: Context) -> Outcome:
    """MetLife's file still cannot be read: its sender is told why, the team too."""
    context = {"informe": _file_report(ctx), "archivo_ok": False}
    effects: list[Effect] = [
        SendMail(
            to=("@specialists",),
            template="MA-005/archivo_con_problemas",
            context=context,
            auto="auto-generated",
            immediate=True,
        )
    ]
    if ctx.trigger.message_id and ctx.trigger.on.kind != "command":
        effects.append(
            SendMail(
                to=(ctx.trigger.actor,),
                template="MA-005/archivo_ilegible",
                context=context,
                auto="auto-replied",
                reply=True,
                immediate=True,
            )
        )
    return Outcome(effects=tuple(effects), detail={"archivo": _file(ctx).get("estado", "ausente")})


def start_validation(ctx: Context) -> Outcome:
    """Pasos 5-7: every user is checked against CAM Pegasus (a job with I/O)."""
    return Outcome(effects=(RunJob(JOB_VALIDATE),))


def _job(ctx: Context, name: str) -> Mapping[str, Any]:
    """The result a job brought back."""
    return _fact(ctx, name)


def validated_ok(ctx: Context) -> bool:
    """The validation job checked every user."""
    return _job(ctx, JOB_VALIDATE).get("estado") == "ok"


def validated_manual(ctx: Context) -> bool:
    """CAM Pegasus cannot be read here: a specialist checks it by hand."""
    return _job(ctx, JOB_VALIDATE).get("estado") == "manual"


def send_to_areas(ctx: Context) -> Outcome:
    """Pasos 8-12: the enriched file to Comercial and Operaciones, 3 business days to answer."""
    result = _job(ctx, JOB_VALIDATE)
    users = [dict(u) for u in result.get("usuarios", [])]
    until = respond_by(ctx.now, ctx.calendar, ctx.settings, _deadline(ctx))
    summary = dict(result.get("resumen", {}))
    context = {
        "fecha_respuesta": spanish_long_date(ctx.calendar.local(until).date()),
        "fecha_limite": spanish_long_date(_deadline(ctx)),
        "resumen": summary,
        "total": len(users),
    }
    mail = SendMail(
        to=("@commercial", "@operations"),
        cc=("@specialists",),
        template="MA-005/validacion_areas",
        context=context,
        attachments=(ENRICHED,),
        immediate=True,
        priority=True,
    )
    effects: list[Effect] = [
        KeepDocument("validacion", str(result["sha"])),
        CompleteTasks("validacion_manual"),
        mail,
        ArmTimer("cierre_areas", at=until),
        ArmTimer(
            "recordatorio_areas", at=max(ctx.calendar.add_business_days(until, -1), ctx.wait_start)
        ),
    ]
    if len(users) > BACKUP_USERS:
        effects.append(_backup_task(len(users), 0))
    return Outcome(
        effects=tuple(effects),
        data={
            "usuarios": users,
            "resumen_pegasus": summary,
            "respuestas": {},
            "areas_hasta": until.isoformat(),
        },
        detail={"resumen": summary},
    )


def _backup_task(users: int, discrepancies: int) -> CreateTask:
    """Paso 17: the backup helps to consolidate a large file."""
    return CreateTask(
        kind="apoyo_consolidacion",
        title="Apoyar en la consolidación de la recertificación {{ case.ref }}",
        assignee="@backup",
        template="MA-005/apoyo_consolidacion",
        context={"usuarios": users, "discrepancias": discrepancies},
        due=business_days(1),
    )


def manual_validation(ctx: Context) -> Outcome:
    """CAM Pegasus cannot be read here: the file goes to a specialist to fill by hand."""
    result = _job(ctx, JOB_VALIDATE)
    task = CreateTask(
        kind="validacion_manual",
        title="Validar en CAM Pegasus los usuarios de la recertificación {{ case.ref }}",
        template="MA-005/validacion_manual",
        context={"total": len(_users(ctx))},
        due=business_days(1),
        attachments=(ENRICHED,),
    )
    return Outcome(effects=(KeepDocument("validacion", str(result["sha"])), task))


def _answers_fact(ctx: Context) -> Mapping[str, Any]:
    """An Excel answer found in the trigger's attachments."""
    return _fact(ctx, "respuestas_recert")


def manual_statuses_given(ctx: Context) -> bool:
    """A specialist sent the validation file back with CAM Pegasus' column filled."""
    return _team_vouched(ctx) and bool(_answers_fact(ctx).get("pegasus"))


def take_manual_statuses(ctx: Context) -> Outcome:
    """Pasos 6-7 by hand: the statuses the specialist read in CAM Pegasus, then the areas."""
    given = {
        str(k): str(v)
        for k, v in dict(_answers_fact(ctx).get("pegasus", {})).items()
        if v in PEGASUS_LABELS
    }
    return Outcome(
        effects=(RunJob(JOB_VALIDATE),),
        data={"pegasus_manual": given},
        detail={"estatus_capturados": len(given)},
    )


def job_failed(job: str) -> Action:
    """The action when a job could not finish: the team told why, a retry offered."""

    def failed(ctx: Context) -> Outcome:
        """A job reported an error: specialists alerted with the reason."""
        reason = str(_job(ctx, job).get("motivo", "error desconocido"))
        context = {"motivo": reason, "trabajo": job}
        alert = SendMail(
            to=("@specialists",),
            cc=("@supervisor",),
            template="MA-005/falla",
            context=context,
            auto="auto-generated",
            immediate=True,
            priority=True,
        )
        return Outcome(effects=(alert,), detail={"falla": reason})

    return failed


def retry_job(job: str) -> Action:
    """The `reintentar` action: run the state's job again."""

    def again(ctx: Context) -> Outcome:
        """Queue the job once more."""
        return Outcome(effects=(RunJob(job),))

    return again


def _record_answer(ctx: Context) -> dict[str, Any]:
    """The area's answer merged with what it said before: rows, a general reply, who, when."""
    area = area_of(ctx)
    answers = _state_of_answers(ctx)
    previous = dict(answers.get(area, {}))
    rows: dict[str, Any] = dict(previous.get("filas", {}))
    sheet = _answers_fact(ctx)
    for key, row in dict(sheet.get("respuestas", {})).items():
        if isinstance(row, Mapping) and row.get("decision"):
            rows[str(key)] = {
                "decision": str(row["decision"]),
                "comentario": str(row.get("comentario", ""))[:500],
                "fila": row.get("fila"),
                "origen": "excel",
            }
    for key, decision in parse_decisions(ctx.trigger.text, _keys(ctx)).items():
        rows[key] = {"decision": decision, "comentario": "", "origen": "correo"}
    history = [
        *previous.get("mensajes", []),
        {"at": ctx.now.isoformat(), "message_id": ctx.trigger.message_id or ""},
    ]
    answers[area] = {
        "por": ctx.trigger.actor,
        "at": ctx.now.isoformat(),
        "filas": rows,
        "general": "Confirmar" if agrees_with_everything(ctx.trigger.text) else "",
        "archivo": sheet.get("archivo", "") if sheet.get("estado") == "ok" else "",
        "problemas": list(sheet.get("problemas", []))[:50],
        "mensajes": history[-20:],
    }
    return answers


def answer_is_usable(ctx: Context) -> bool:
    """The area's message says something the consolidation can use."""
    sheet = _answers_fact(ctx)
    return (
        bool(sheet.get("respuestas"))
        or bool(parse_decisions(ctx.trigger.text, _keys(ctx)))
        or agrees_with_everything(ctx.trigger.text)
    )


def both_areas_done(ctx: Context) -> bool:
    """This answer completes the areas' validation (pasos 13-14)."""
    if not (area_authenticated(ctx) and answer_is_usable(ctx)):
        return False
    answers = _record_answer(ctx)
    return all(answers.get(area) for area in AREAS)


def one_area_answers(ctx: Context) -> bool:
    """An area answered; the other has not yet."""
    return area_authenticated(ctx) and answer_is_usable(ctx)


def area_says_nothing_usable(ctx: Context) -> bool:
    """An authenticated area wrote without decisions: a person reads it."""
    return area_authenticated(ctx)


def take_answer(ctx: Context) -> Outcome:
    """Paso 14: the area's feedback merged row by row, with who said what; the area thanked."""
    answers = _record_answer(ctx)
    area = area_of(ctx)
    row_count = len(answers[area]["filas"])
    ack = SendMail(
        to=(ctx.trigger.actor,),
        template="MA-005/respuesta_recibida",
        context={
            "area": AREA_NAMES[area],
            "filas": row_count,
            "general": answers[area]["general"],
            "problemas": answers[area]["problemas"],
        },
        auto="auto-replied",
        reply=True,
        immediate=True,
    )
    done = all(answers.get(a) for a in AREAS)
    return Outcome(
        effects=(ack,),
        data={"respuestas": answers},
        detail={"area": area, "filas": row_count, "general": answers[area]["general"]},
        then="consolidar" if done else None,
    )


def area_unclear(ctx: Context) -> Outcome:
    """An area wrote without decisions the bot can read: the assignee reads it."""
    mail = SendMail(
        to=("@assignee",),
        template="MA-005/mensaje_area",
        context={"texto": ctx.trigger.text[:4000], "remitente": ctx.trigger.actor},
        auto="auto-generated",
        immediate=True,
    )
    return Outcome(effects=(mail,))


def alert_unproven(ctx: Context) -> Outcome:
    """An answer or a letter not proven to come from its sender: recorded, nothing changes."""
    alert = SendMail(
        to=("@specialists",),
        cc=("@supervisor",),
        template="MA-005/no_autenticado",
        context={"remitente": ctx.trigger.actor, "autenticado": ctx.trigger.authenticated},
        auto="auto-generated",
        immediate=True,
    )
    return Outcome(effects=(alert,), detail={"no_autenticado": ctx.trigger.actor})


def remind_areas(ctx: Context) -> Outcome:
    """One business day before the areas' window closes: the silent ones are reminded."""
    answers = _state_of_answers(ctx)
    silent = tuple(AREA_TOKENS[a] for a in AREAS if not answers.get(a))
    if not silent:
        return Outcome()
    until = datetime.fromisoformat(str(ctx.case.data.get("areas_hasta", ctx.now.isoformat())))
    mail = SendMail(
        to=silent,
        cc=("@specialists",),
        template="MA-005/recordatorio_areas",
        context={"fecha_respuesta": spanish_long_date(ctx.calendar.local(until).date())},
        auto="auto-generated",
        attachments=(ENRICHED,),
        immediate=True,
    )
    return Outcome(effects=(mail,))


def areas_window_over(ctx: Context) -> Outcome:
    """Paso 13: no (complete) answer in 3 business days: CAM Pegasus' data stands."""
    answers = _state_of_answers(ctx)
    silent = [AREA_NAMES[a] for a in AREAS if not answers.get(a)]
    return Outcome(detail={"sin_respuesta": silent}, then="consolidar")


def consolidate_now(ctx: Context) -> Outcome:
    """Pasos 13-17: answers integrated; discrepancies to the director, else the package."""
    _, pending = _consolidated(ctx)
    effects: list[Effect] = [CompleteTasks("validacion_manual")]
    data: dict[str, Any] = {"discrepancias": pending}
    if not pending:
        effects.append(RunJob(JOB_PACKAGE))
        return Outcome(effects=tuple(effects), data=data, detail={"discrepancias": 0})
    effects.append(
        SendMail(
            to=("@director",),
            cc=("@specialists",),
            template="MA-005/discrepancias",
            context={"discrepancias": pending[:200], "total": len(pending)},
            attachments=(ENRICHED,),
            immediate=True,
            priority=True,
        )
    )
    if len(pending) > BACKUP_DISCREPANCIES:
        effects.append(_backup_task(len(_users(ctx)), len(pending)))
    return Outcome(
        effects=tuple(effects),
        data={**data, "discrepancias_desde": ctx.now.isoformat()},
        detail={"discrepancias": len(pending)},
    )


def take_decisions(ctx: Context) -> Outcome:
    """Paso 16: the director's decision wins; with none pending, the package is built."""
    decided = dict(_state_of_decisions(ctx))
    origin = "director" if "director" in _roles(ctx) else "especialista"
    chosen = _decisions_in(ctx, origin)
    _, pending = _consolidated(ctx)
    if not chosen and agrees_with_everything(ctx.trigger.text):
        # "De acuerdo": the desk's proposal (CAM Pegasus) settles each open discrepancy.
        chosen = {str(d["clave"]): str(d["propuesta"] or "Baja") for d in pending}
    for key, status in chosen.items():
        decided[key] = {
            "estatus": status,
            "por": ctx.trigger.actor,
            "origen": origin,
            "at": ctx.now.isoformat(),
        }
    still = consolidate(_users(ctx), _state_of_answers(ctx), decided)[1]
    effects: list[Effect] = []
    if not still and ctx.case.state == "consolidando":
        effects.append(RunJob(JOB_PACKAGE))
    if ctx.trigger.message_id and ctx.trigger.on.kind != "command":
        effects.append(
            SendMail(
                to=(ctx.trigger.actor,),
                template="MA-005/decision_recibida",
                context={"decididas": len(chosen), "pendientes": len(still)},
                auto="auto-replied",
                reply=True,
                immediate=True,
            )
        )
    return Outcome(
        effects=tuple(effects),
        data={"decisiones": decided, "discrepancias": still},
        detail={"decisiones": len(chosen), "pendientes": len(still), "por": origin},
    )


def has_decisions(ctx: Context) -> bool:
    """The trigger decides at least one user, or accepts the proposal as a whole."""
    return bool(_decisions_in(ctx, "")) or agrees_with_everything(ctx.trigger.text)


def remind_decision(ctx: Context) -> Outcome:
    """Discrepancies still open: the director is reminded."""
    _, pending = _consolidated(ctx)
    if not pending:
        return Outcome()
    mail = SendMail(
        to=("@director",),
        cc=("@specialists",),
        template="MA-005/discrepancias",
        context={"discrepancias": pending[:200], "total": len(pending), "recordatorio": True},
        auto="auto-generated",
        immediate=True,
        priority=True,
    )
    return Outcome(effects=(mail,))


def package_ok(ctx: Context) -> bool:
    """The package job wrote the final Excel and the letter, and they agree."""
    return _job(ctx, JOB_PACKAGE).get("estado") == "ok"


def request_signature(ctx: Context) -> Outcome:
    """Pasos 18-21: letter and final Excel, checked consistent, to the director for signature."""
    result = _job(ctx, JOB_PACKAGE)
    effects: list[Effect] = [
        KeepDocument("archivo_final", str(result["excel"])),
        KeepDocument("carta_responsiva", str(result["carta"])),
        CompleteTasks("apoyo_consolidacion"),
    ]
    context = {
        "conteos": dict(result.get("conteos", {})),
        "total": result.get("total", 0),
        "activos": result.get("activos", 0),
        "bajas": result.get("bajas", 0),
        "fecha_limite": spanish_long_date(_deadline(ctx)),
        "envio": spanish_long_date(send_at(ctx).date()),
    }
    effects.append(
        SendMail(
            to=("@director",),
            cc=("@specialists",),
            template="MA-005/firma_director",
            context=context,
            attachments=(LETTER, FINAL_XLSX),
            immediate=True,
            priority=True,
        )
    )
    data = {
        "final": dict(result.get("final", {})),
        "conteos": dict(result.get("conteos", {})),
        "totales": {
            "total": result.get("total", 0),
            "activos": result.get("activos", 0),
            "bajas": result.get("bajas", 0),
        },
        "firma_solicitada_at": ctx.now.isoformat(),
    }
    return Outcome(effects=tuple(effects), data=data)


def signature_received(ctx: Context) -> Outcome:
    """Pasos 22-23: the signed letter (and the director's mail) archived; the send scheduled."""
    chosen = next(f for f in signed_files(ctx) if f.get("ok"))
    at = max(send_at(ctx), ctx.now)
    effects: list[Effect] = [
        KeepDocument("carta_firmada", str(chosen["sha"])),
        ArmTimer("envio", at=at),
    ]
    if ctx.trigger.on.kind != "command":
        effects.append(
            SendMail(
                to=("@director",),
                cc=("@specialists",),
                template="MA-005/firma_recibida",
                context={"envio": _spanish_when(ctx, at)},
                auto="auto-replied",
                reply=True,
                immediate=True,
            )
        )
    data = {
        "carta_firmada": {"sha": str(chosen["sha"]), "archivo": chosen.get("archivo", "")},
        "firmada_at": ctx.now.isoformat(),
        "firma_por": ctx.trigger.actor,
        "firma_message_id": ctx.trigger.message_id or "",
        "envio_programado": at.isoformat(),
    }
    return Outcome(effects=tuple(effects), data=data, detail={"envio": at.isoformat()})


def _spanish_when(ctx: Context, at: datetime) -> str:
    """A moment as the mails say it: "martes 1 de diciembre a las 8:00"."""
    return spanish_when(ctx.calendar.local(at))


def reject_director_file(ctx: Context) -> Outcome:
    """The director's file cannot be accepted: say why to them, and tell the team."""
    reasons = [str(f.get("motivo", "")) for f in signed_files(ctx)]
    reply = SendMail(
        to=("@director",),
        cc=("@specialists",),
        template="MA-005/firma_rechazada",
        context={"motivos": reasons},
        auto="auto-replied",
        reply=True,
        immediate=True,
    )
    return Outcome(effects=(reply,), detail={"firma_rechazada": reasons})


def remind_signature(ctx: Context) -> Outcome:
    """The letter is still unsigned: the director is reminded, with the package."""
    mail = SendMail(
        to=("@director",),
        template="MA-005/recordatorio_firma",
        context={"fecha_limite": spanish_long_date(_deadline(ctx)), "faltan": days_left(ctx)},
        auto="auto-generated",
        attachments=(LETTER, FINAL_XLSX),
        immediate=True,
        priority=True,
    )
    return Outcome(effects=(mail,))


def send_package(ctx: Context) -> Outcome:
    """Paso 24: the package goes to MetLife; the countdown ends."""
    mail = SendMail(
        to=("@metlife_recert",),
        cc=("@specialists",),
        template="MA-005/envio_metlife",
        context={
            "totales": dict(ctx.case.data.get("totales", {})),
            "conteos": dict(ctx.case.data.get("conteos", {})),
            "aplicaciones": list(ctx.case.data.get("aplicaciones", [])),
        },
        attachments=(FINAL_XLSX, SIGNED),
        immediate=True,
        priority=True,
    )
    effects = (
        CancelTimer("cuenta_regresiva"),
        CancelTimer("limite_envio"),
        CompleteTasks(),
        mail,
    )
    return Outcome(effects=effects, data={"enviado_at": ctx.now.isoformat()})


_PROBLEM = re.compile(
    r"\b(?:inconsistenci\w*|no coincid\w*|no cuadr\w*|discrepanci\w*|diferenci\w*|"
    r"error\w*|falt\w*|incorrect\w*|corregir|correcci\w*|rechaz\w*|incomplet\w*|observaci\w+)\b"
)
_NO_PROBLEM = re.compile(
    r"\b(?:sin\s+|no\s+(?:\w+\s+){0,3}?)(?:ningun[oa]?\s+)?"
    r"(?:inconsistencias?|observacion(?:es)?|errore?s?|diferencias?|problemas?|discrepancias?)\b"
)
_CONFIRM = re.compile(
    r"\b(?:recibid[oa]s?|recibimos|confirm\w*|correct[oa]s?|completad[oa]s?|"
    r"procesad[oa]s?|validad[oa]s?|aplicad[oa]s?|sin observaciones)\b"
)


def metlife_reports_problem(ctx: Context) -> bool:
    """Paso 26: MetLife's authenticated contact reports inconsistencies."""
    text = _NO_PROBLEM.sub(" ", fold(ctx.trigger.text))
    return from_metlife(ctx) and _PROBLEM.search(text) is not None


def metlife_confirms(ctx: Context) -> bool:
    """Paso 25: MetLife's authenticated contact confirms reception."""
    return from_metlife(ctx) and _CONFIRM.search(affirmed(ctx.trigger.text)) is not None


def inconsistencies(ctx: Context) -> Outcome:
    """Paso 26: MetLife's inconsistencies to the team and the supervisor; a task to correct."""
    text = ctx.trigger.text or ctx.trigger.values.get("nota", "")
    context = {"texto": text[:4000], "remitente": ctx.trigger.actor}
    effects: list[Effect] = [*_alert_effects(ctx, "MA-005/inconsistencias", context)]
    effects.append(
        CreateTask(
            kind="inconsistencias",
            title="Corregir las inconsistencias que reportó MetLife en {{ case.ref }}",
            template="MA-005/corregir",
            context=context,
            due=business_days(1),
            attachments=ctx.trigger.attachments,
            action="corregir",
        )
    )
    rounds = int(ctx.case.data.get("rondas_inconsistencias", 0)) + 1
    # The deadline is watched again until the corrected package leaves.
    effects += _countdown(ctx, _deadline(ctx))
    return Outcome(
        effects=tuple(effects),
        data={
            "rondas_inconsistencias": rounds,
            "inconsistencias": [
                *ctx.case.data.get("inconsistencias", []),
                {"at": ctx.now.isoformat(), "por": ctx.trigger.actor, "texto": text[:2000]},
            ],
        },
        detail={"ronda": rounds},
    )


def corrected(ctx: Context) -> Outcome:
    """Corrections recorded as the team's decisions; consolidation runs again."""
    decided = dict(_state_of_decisions(ctx))
    for key, status in _decisions_in(ctx, "especialista").items():
        decided[key] = {
            "estatus": status,
            "por": ctx.trigger.actor,
            "origen": "correccion",
            "at": ctx.now.isoformat(),
        }
    return Outcome(
        effects=(CompleteTasks("inconsistencias"), *_countdown(ctx, _deadline(ctx))),
        data={"decisiones": decided},
        detail={"correcciones": len(decided) - len(_state_of_decisions(ctx))},
        then="consolidar",
    )


def confirmed(ctx: Context) -> Outcome:
    """Paso 25: MetLife confirmed; the evidence pack is built (paso 27)."""
    effects: list[Effect] = [CancelTimer("limite_envio"), RunJob(JOB_EVIDENCE)]
    if ctx.trigger.on.kind != "command":
        effects.append(
            SendMail(
                to=("@specialists",),
                cc=("@supervisor",),
                template="MA-005/confirmado",
                context={"texto": ctx.trigger.text[:2000]},
                auto="auto-generated",
                immediate=True,
            )
        )
    return Outcome(
        effects=tuple(effects),
        data={"confirmado_at": ctx.now.isoformat(), "confirmado_por": ctx.trigger.actor},
    )


def remind_confirmation(ctx: Context) -> Outcome:
    """MetLife usually confirms at once: a day without it, a specialist checks."""
    mail = SendMail(
        to=("@assignee",),
        template="MA-005/sin_confirmacion",
        auto="auto-generated",
        immediate=True,
    )
    return Outcome(effects=(mail,))


def archived(ctx: Context) -> Outcome:
    """Paso 27: everything archived as one evidence pack; the case closes."""
    result = _job(ctx, JOB_EVIDENCE)
    totals = dict(ctx.case.data.get("totales", {}))
    knowledge = RecordKnowledge(
        kind="recertificacion",
        problem=ctx.case.subject,
        solution=(
            f"Recertificación MetLife de {totals.get('total', 0)} usuario(s): "
            f"{totals.get('activos', 0)} activos, {totals.get('bajas', 0)} bajas; "
            f"{ctx.case.data.get('rondas_inconsistencias', 0)} ronda(s) de inconsistencias"
        ),
        outcome="confirmado",
    )
    mail = SendMail(
        to=("@specialists",),
        cc=("@supervisor",),
        template="MA-005/cerrado",
        context={"archivos": result.get("archivos", 0)},
        auto="auto-generated",
        attachments=(EVIDENCE,),
        immediate=True,
    )
    return Outcome(
        effects=(KeepDocument("expediente", str(result["sha"])), CompleteTasks(), knowledge, mail),
        data={"expediente": {"sha": result["sha"], "archivos": result.get("archivos", 0)}},
    )


# --- the countdown ------------------------------------------------------------------------


def countdown_alert(ctx: Context) -> Outcome:
    """Business days left until the deadline: the team, and from 3 days on its bosses."""
    left = days_left(ctx)
    if ctx.case.data.get("ultimo_aviso") == left:
        # A missed alert fired late (the daemon was down) says what the last one said.
        return Outcome(detail={"dias": left, "repetido": True})
    lacking = missing(ctx)
    escalate = left <= ESCALATE_FROM
    cc: tuple[str, ...] = ("@supervisor", "@director") if escalate else ()
    context = {
        "dias": left,
        "fecha_limite": spanish_long_date(_deadline(ctx)),
        "envio": spanish_long_date(send_at(ctx).date()),
        "estado": ctx.case.state,
        "falta": lacking,
        "estimada": bool(ctx.case.data.get("fecha_limite_estimada")),
    }
    mail = SendMail(
        to=("@specialists",),
        cc=cc,
        template="MA-005/cuenta_regresiva",
        context=context,
        auto="auto-generated",
        immediate=True,
        priority=True,
    )
    chat = SendChat(
        to=("@specialists", *cc),
        template="MA-005/cuenta_regresiva",
        context=context,
        immediate=True,
    )
    return Outcome(
        effects=(mail, chat), data={"ultimo_aviso": left}, detail={"dias": left, "falta": lacking}
    )


def late_escalation(ctx: Context) -> Outcome:
    """The package should leave now and is not ready: the bosses hear what is missing."""
    lacking = missing(ctx)
    context = {
        "dias": days_left(ctx),
        "fecha_limite": spanish_long_date(_deadline(ctx)),
        "falta": lacking,
        "estado": ctx.case.state,
    }
    mail = SendMail(
        to=("@supervisor", "@director"),
        cc=("@specialists",),
        template="MA-005/no_llega",
        context=context,
        auto="auto-generated",
        immediate=True,
        priority=True,
    )
    chat = SendChat(
        to=("@specialists", "@supervisor", "@director"),
        template="MA-005/no_llega",
        context=context,
        immediate=True,
    )
    # Asked again at the next opening until the package is ready.
    tomorrow = ctx.calendar.next_business_day(ctx.calendar.local(ctx.now).date())
    again = ArmTimer("limite_envio", at=_opening(ctx, tomorrow))
    return Outcome(
        effects=(mail, chat, again), detail={"escalado": "fecha_limite", "falta": lacking}
    )


def new_deadline(ctx: Context) -> Outcome:
    """A specialist sets the deadline MetLife confirmed (`fecha_limite --set fecha=...`)."""
    given = ctx.trigger.values["fecha"].strip()
    try:
        deadline = date.fromisoformat(given)
    except ValueError:
        parsed = find_deadline(
            f"fecha límite {given}", ctx.calendar.local(ctx.now).replace(tzinfo=None)
        )
        if parsed is None:
            raise
        deadline = parsed
    effects = _countdown(ctx, deadline)
    at = send_at(ctx, deadline)
    if ctx.case.state == "listo_para_envio":
        effects.append(ArmTimer("envio", at=max(at, ctx.now)))
    return Outcome(
        effects=tuple(effects),
        data={
            "fecha_limite": deadline.isoformat(),
            "fecha_limite_estimada": False,
            "envio_programado": max(at, ctx.now).isoformat(),
        },
        detail={"fecha_limite": deadline.isoformat()},
    )


def valid_deadline(ctx: Context) -> bool:
    """The date given is a real date, today or later."""
    given = ctx.trigger.values.get("fecha", "").strip()
    today = ctx.calendar.local(ctx.now).date()
    try:
        return date.fromisoformat(given) >= today
    except ValueError:
        found = find_deadline(
            f"fecha límite {given}", ctx.calendar.local(ctx.now).replace(tzinfo=None)
        )
        return found is not None and found >= today


def message_to_assignee(ctx: Context) -> Outcome:
    """A message the state does not act on: the assignee reads it."""
    mail = SendMail(
        to=("@assignee",),
        template="MA-005/nuevo_mensaje",
        context={"texto": ctx.trigger.text[:4000], "remitente": ctx.trigger.actor},
        auto="auto-generated",
        immediate=True,
    )
    return Outcome(effects=(mail,))


def close_by_specialist(ctx: Context) -> Outcome:
    """A specialist closes a recertification that will not go on (duplicate, not MetLife's)."""
    reason = ctx.trigger.values["motivo"]
    return Outcome(
        effects=(
            CompleteTasks(),
            RecordKnowledge(
                "recertificacion", ctx.case.subject, reason, "cerrado_por_especialista"
            ),
        ),
        data={"motivo_cierre": reason, "notas": notes(ctx, f"Cerrado: {reason}")},
    )


# --- the machine ------------------------------------------------------------------------

BEFORE_SENT = (
    "por_verificar",
    "recibido",
    "validando",
    "validacion_areas",
    "consolidando",
    "esperando_firma",
    "listo_para_envio",
    "inconsistencias",
)
OPEN = (*BEFORE_SENT, "enviado", "confirmado")
# The countdown runs in every state before the package leaves.
COUNTDOWN = BEFORE_SENT


def _steps(*numbers: int) -> tuple[str, ...]:
    """Seed step names of MA-005."""
    return tuple(f"MA-005 paso {n}" for n in numbers)


def _job_transitions(
    source: str,
    job: str,
    target: str,
    steps: tuple[str, ...],
    ok_action: Action,
    description: str,
    *,
    other_results: tuple[Transition, ...] = (),
) -> tuple[Transition, ...]:
    """A job's result in a state: success moves on; an error alerts and offers `reintentar`.

    Other guarded results of the same job (CAM Pegasus read by hand) come before the error.
    """
    ok_guard = {JOB_VALIDATE: validated_ok, JOB_PACKAGE: package_ok}.get(job)
    return (
        Transition(
            (source,),
            event(job),
            target,
            steps,
            action=ok_action,
            guard=ok_guard,
            guard_label="el trabajo terminó bien",
            description=description,
        ),
        *other_results,
        Transition(
            (source,),
            event(job),
            None,
            steps,
            action=job_failed(job),
            description="El trabajo no pudo terminar: alerta a los especialistas",
        ),
        Transition(
            (source,),
            command("reintentar"),
            None,
            steps,
            action=retry_job(job),
            description="Volver a ejecutar el trabajo",
        ),
    )


PROCESS = Process(
    code=CODE,
    name="Recertificación anual de usuarios MetLife",
    states=(
        State("por_verificar", "Por verificar el remitente"),
        State("recibido", "Recibido"),
        State("validando", "Validando en CAM Pegasus"),
        State(
            "validacion_areas",
            "Validación con Comercial y Operaciones",
            timers=(
                TimerDecl("recordatorio_areas", "areas_reminder", label="Recordatorio a las áreas"),
                TimerDecl("cierre_areas", "areas_window", label="Cierre de la validación"),
            ),
            waiting_on="Comercial y Operaciones",
        ),
        State(
            "consolidando",
            "Consolidando",
            timers=(
                TimerDecl(
                    "recordatorio_decision",
                    "decision_reminder",
                    repeat=True,
                    label="Recordatorio de discrepancias al director",
                ),
            ),
        ),
        State(
            "esperando_firma",
            "Esperando firma del director",
            timers=(
                TimerDecl(
                    "recordatorio_firma",
                    "signature_reminder",
                    repeat=True,
                    label="Recordatorio al director",
                ),
            ),
            waiting_on="el director",
        ),
        State(
            "listo_para_envio",
            "Listo para envío",
            timers=(TimerDecl("envio", minutes(0), label="Envío a MetLife"),),
        ),
        State(
            "enviado",
            "Enviado a MetLife",
            timers=(
                TimerDecl(
                    "sin_confirmacion",
                    "confirmation_reminder",
                    repeat=True,
                    label="Confirmación de MetLife",
                ),
            ),
            waiting_on="MetLife",
        ),
        State("confirmado", "Confirmado por MetLife"),
        State("inconsistencias", "Inconsistencias reportadas por MetLife"),
        State("cerrado", "Cerrado", final=True),
    ),
    transitions=(
        Transition(
            (),
            event("abrir"),
            "recibido",
            _steps(1, 2, 3, 4),
            action=open_recert,
            guard=authentic,
            guard_label="correo autenticado del contacto de MetLife",
            description="Archivo de recertificación recibido: aplicaciones, fecha límite, alerta",
        ),
        Transition(
            (),
            event("abrir"),
            "por_verificar",
            _steps(1),
            action=hold_unverified,
            description="Archivo de recertificación sin verificar: se registra y se alerta",
        ),
        Transition(
            ("por_verificar",),
            command("verificar"),
            "recibido",
            _steps(1, 2, 3, 4),
            action=verified,
            description="Un especialista confirma que el archivo es de MetLife",
        ),
        Transition(
            ("por_verificar",),
            event("mensaje"),
            None,
            _steps(1),
            action=message_to_assignee,
            description="Mensaje mientras se verifica el remitente: se avisa al asignado",
        ),
        Transition(
            ("recibido",),
            event("validar"),
            "validando",
            _steps(5, 6, 7),
            action=start_validation,
            description="Cada usuario se revisa contra CAM Pegasus",
        ),
        Transition(
            ("recibido",),
            event("mensaje"),
            None,
            _steps(1, 2),
            action=file_arrived,
            guard=authentic_file_from_metlife_or_team,
            guard_label="llegó el archivo legible",
            description="Llegó el archivo legible: comienza la validación",
        ),
        Transition(
            ("recibido",),
            event("mensaje"),
            None,
            _steps(1),
            action=ask_for_file,
            guard=from_metlife,
            guard_label="correo de MetLife sin archivo legible",
            description="El archivo sigue sin poder leerse: se pide de nuevo",
        ),
        Transition(
            ("recibido",),
            event("mensaje"),
            None,
            _steps(1),
            action=message_to_assignee,
            description="Mensaje sin archivo: se avisa al asignado",
        ),
        Transition(
            ("recibido",),
            command("cargar_archivo"),
            None,
            _steps(1, 2),
            action=file_arrived,
            guard=file_ok,
            guard_label="adjunta el archivo de MetLife legible con --attach",
            description="El especialista carga el archivo de MetLife (--attach)",
        ),
        *_job_transitions(
            "validando",
            JOB_VALIDATE,
            "validacion_areas",
            _steps(8, 9, 10, 11, 12),
            send_to_areas,
            "Archivo enriquecido a Comercial y Operaciones: 3 días hábiles para responder",
            other_results=(
                Transition(
                    ("validando",),
                    event(JOB_VALIDATE),
                    None,
                    _steps(6, 7),
                    action=manual_validation,
                    guard=validated_manual,
                    guard_label="CAM Pegasus sin consulta automática",
                    description="CAM Pegasus se revisa a mano: tarea con el archivo para llenar",
                ),
            ),
        ),
        Transition(
            ("validando",),
            event("mensaje"),
            None,
            _steps(6, 7),
            action=take_manual_statuses,
            guard=manual_statuses_given,
            guard_label="archivo con la columna «Estatus CAM Pegasus» llena",
            description="El especialista devuelve el archivo con los estatus de CAM Pegasus",
        ),
        Transition(
            ("validando",),
            command("validacion_manual"),
            None,
            _steps(6, 7),
            action=take_manual_statuses,
            guard=manual_statuses_given,
            guard_label="adjunta el archivo con la columna «Estatus CAM Pegasus» llena",
            description="El especialista carga los estatus de CAM Pegasus (--attach)",
        ),
        Transition(
            ("validando",),
            event("mensaje"),
            None,
            _steps(5),
            action=message_to_assignee,
            description="Mensaje durante la validación: se avisa al asignado",
        ),
        Transition(
            ("validacion_areas",),
            event("mensaje"),
            "consolidando",
            _steps(13, 14),
            action=take_answer,
            guard=both_areas_done,
            guard_label="con esta respuesta contestaron las dos áreas",
            description="Respondieron Comercial y Operaciones: se consolida",
        ),
        Transition(
            ("validacion_areas",),
            event("mensaje"),
            None,
            _steps(14),
            action=take_answer,
            guard=one_area_answers,
            guard_label="respuesta autenticada de un área",
            description="Respuesta de un área integrada fila por fila",
        ),
        Transition(
            ("validacion_areas",),
            event("mensaje"),
            None,
            _steps(14),
            action=area_unclear,
            guard=area_says_nothing_usable,
            guard_label="mensaje de un área sin decisiones",
            description="Mensaje de un área sin decisiones legibles: lo revisa el asignado",
        ),
        Transition(
            ("validacion_areas",),
            event("mensaje"),
            None,
            _steps(14),
            action=alert_unproven,
            guard=area_unproven,
            guard_label="respuesta de un área no autenticada",
            description="Respuesta de un área no autenticada: se registra y se alerta",
        ),
        Transition(
            ("validacion_areas",),
            event("mensaje"),
            None,
            _steps(14),
            action=message_to_assignee,
            description="Mensaje de otra persona: se avisa al asignado",
        ),
        Transition(
            ("validacion_areas",),
            timer("recordatorio_areas"),
            None,
            _steps(9),
            action=remind_areas,
            description="Recordatorio a las áreas que no han respondido",
        ),
        Transition(
            ("validacion_areas",),
            timer("cierre_areas"),
            "consolidando",
            _steps(13),
            action=areas_window_over,
            description="Sin respuesta en 3 días hábiles: se procede con CAM Pegasus",
        ),
        Transition(
            ("validacion_areas",),
            command("consolidar"),
            "consolidando",
            _steps(13, 14),
            action=areas_window_over,
            description="El especialista consolida sin esperar más a las áreas",
        ),
        Transition(
            ("consolidando",),
            event("consolidar"),
            None,
            _steps(14, 15, 16, 17),
            action=consolidate_now,
            description="Respuestas integradas; discrepancias al director",
        ),
        Transition(
            ("consolidando",),
            event("mensaje"),
            None,
            _steps(16),
            action=take_decisions,
            guard=director_decides,
            guard_label="decisión autenticada del director",
            description="El director resuelve las discrepancias (su decisión prevalece)",
        ),
        Transition(
            ("consolidando",),
            event("mensaje"),
            None,
            _steps(16),
            action=alert_unproven,
            guard=unproven_signature,
            guard_label="archivos de alguien que no es el director autenticado",
            description="Decisión no autenticada: se registra y se alerta",
        ),
        Transition(
            ("consolidando",),
            event("mensaje"),
            None,
            _steps(16),
            action=message_to_assignee,
            description="Mensaje durante la consolidación: se avisa al asignado",
        ),
        Transition(
            ("consolidando",),
            command("decidir"),
            None,
            _steps(16),
            action=take_decisions,
            guard=has_decisions,
            guard_label="--set HID=Activo|Baja, o «de acuerdo» con la propuesta",
            description="El especialista registra la decisión del director",
        ),
        Transition(
            ("consolidando",),
            timer("recordatorio_decision"),
            None,
            _steps(16),
            action=remind_decision,
            description="Recordatorio al director: discrepancias abiertas",
        ),
        *_job_transitions(
            "consolidando",
            JOB_PACKAGE,
            "esperando_firma",
            _steps(15, 18, 19, 20, 21),
            request_signature,
            "Carta responsiva y archivo final consistentes: al director para firma",
        ),
        Transition(
            ("esperando_firma",),
            event("mensaje"),
            "listo_para_envio",
            _steps(22, 23),
            action=signature_received,
            guard=signed_by_director,
            guard_label="carta firmada del director, autenticada",
            description="Carta firmada recibida y archivada; envío programado",
        ),
        Transition(
            ("esperando_firma",),
            event("mensaje"),
            None,
            _steps(22),
            action=reject_director_file,
            guard=director_bad_file,
            guard_label="archivo del director no aceptable",
            description="El archivo del director no se puede aceptar: se le explica por qué",
        ),
        Transition(
            ("esperando_firma",),
            event("mensaje"),
            None,
            _steps(22),
            action=alert_unproven,
            guard=unproven_signature,
            guard_label="firma de alguien que no es el director autenticado",
            description="«Carta firmada» no autenticada: se registra, no cambia nada, alerta",
        ),
        Transition(
            ("esperando_firma",),
            event("mensaje"),
            None,
            _steps(22),
            action=message_to_assignee,
            description="Mensaje sin carta firmada: se avisa al asignado",
        ),
        Transition(
            ("esperando_firma",),
            command("firma_recibida"),
            "listo_para_envio",
            _steps(22, 23),
            action=signature_received,
            guard=signed_by_hand,
            guard_label="adjunta la carta firmada (PDF o imagen) con --attach",
            description="El especialista registra la carta firmada en papel (--attach)",
        ),
        Transition(
            ("esperando_firma",),
            timer("recordatorio_firma"),
            None,
            _steps(21),
            action=remind_signature,
            description="Recordatorio al director: la carta sigue sin firma",
        ),
        Transition(
            ("listo_para_envio",),
            timer("envio"),
            "enviado",
            _steps(24),
            action=send_package,
            description="Paquete enviado a MetLife antes de la fecha límite",
        ),
        Transition(
            ("listo_para_envio",),
            command("enviar_ahora"),
            "enviado",
            _steps(24),
            action=send_package,
            description="El especialista envía el paquete sin esperar la fecha programada",
        ),
        Transition(
            ("listo_para_envio",),
            event("mensaje"),
            None,
            _steps(23),
            action=message_to_assignee,
            description="Mensaje mientras espera el envío: se avisa al asignado",
        ),
        Transition(
            ("enviado",),
            event("mensaje"),
            "inconsistencias",
            _steps(26),
            action=inconsistencies,
            guard=metlife_reports_problem,
            guard_label="MetLife reporta inconsistencias",
            description="MetLife reporta inconsistencias: se avisa y se corrigen",
        ),
        Transition(
            ("enviado",),
            event("mensaje"),
            "confirmado",
            _steps(25),
            action=confirmed,
            guard=metlife_confirms,
            guard_label="MetLife confirma la recepción",
            description="MetLife confirma la recepción",
        ),
        Transition(
            ("enviado",),
            event("mensaje"),
            None,
            _steps(25),
            action=message_to_assignee,
            description="Mensaje sin confirmación: se avisa al asignado",
        ),
        Transition(
            ("enviado",),
            command("confirmar"),
            "confirmado",
            _steps(25),
            action=confirmed,
            description="El especialista registra la confirmación de MetLife",
        ),
        Transition(
            ("enviado",),
            command("inconsistencias"),
            "inconsistencias",
            _steps(26),
            action=inconsistencies,
            requires=("nota",),
            description="El especialista registra inconsistencias reportadas por MetLife",
        ),
        Transition(
            ("enviado",),
            timer("sin_confirmacion"),
            None,
            _steps(25),
            action=remind_confirmation,
            description="Sin confirmación de MetLife: un especialista lo revisa",
        ),
        Transition(
            ("inconsistencias",),
            command("corregir"),
            "consolidando",
            _steps(26, 15),
            action=corrected,
            description="Correcciones registradas: se consolida y se firma de nuevo",
        ),
        Transition(
            ("inconsistencias",),
            event("mensaje"),
            None,
            _steps(26),
            action=message_to_assignee,
            description="Mensaje durante la corrección: se avisa al asignado",
        ),
        Transition(
            ("confirmado",),
            event(JOB_EVIDENCE),
            "cerrado",
            _steps(27),
            action=archived,
            guard=lambda ctx: _job(ctx, JOB_EVIDENCE).get("estado") == "ok",
            guard_label="expediente armado",
            description="Expediente completo archivado: cierre",
        ),
        Transition(
            ("confirmado",),
            event(JOB_EVIDENCE),
            None,
            _steps(27),
            action=job_failed(JOB_EVIDENCE),
            description="El expediente no se pudo armar: alerta",
        ),
        Transition(
            ("confirmado",),
            command("reintentar"),
            None,
            _steps(27),
            action=retry_job(JOB_EVIDENCE),
            description="Volver a armar el expediente",
        ),
        Transition(
            COUNTDOWN,
            timer("cuenta_regresiva"),
            None,
            _steps(4, 24),
            action=countdown_alert,
            description="Cuenta regresiva: días hábiles para la fecha límite",
        ),
        Transition(
            tuple(s for s in COUNTDOWN if s != "listo_para_envio"),
            timer("limite_envio"),
            None,
            _steps(4, 24),
            action=late_escalation,
            description="El paquete debía salir y no está listo: escalamiento con lo que falta",
        ),
        Transition(
            ("listo_para_envio",),
            timer("limite_envio"),
            None,
            _steps(24),
            description="Momento de envío con el paquete listo: lo envía el temporizador «envio»",
        ),
        Transition(
            COUNTDOWN,
            command("fecha_limite"),
            None,
            _steps(3),
            action=new_deadline,
            guard=valid_deadline,
            guard_label="--set fecha=AAAA-MM-DD, hoy o después",
            requires=("fecha",),
            description="Fecha límite confirmada por MetLife: la cuenta regresiva se ajusta",
        ),
        *desk_commands(OPEN, "MA-005 paso 4", "la recertificación"),
        Transition(
            OPEN,
            command("cerrar"),
            "cerrado",
            _steps(27),
            action=close_by_specialist,
            requires=("motivo",),
            description="Cierre por el especialista (duplicada, no es de MetLife)",
        ),
    ),
    case_timers=("cuenta_regresiva", "limite_envio"),
    settings={
        "areas_window": business_days(3),
        "areas_reminder": business_days(2),
        # However close the deadline, the areas get at least this much of their day.
        "areas_minimum": business_hours(4),
        "decision_reminder": business_days(1),
        "signature_reminder": business_days(1),
        "confirmation_reminder": business_days(1),
    },
    claims=claims,
    inspects=("recertificacion", "respuestas_recert", "firmados"),
)
