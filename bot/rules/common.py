"""Actions and helpers every process shares: notes, reassignment, notices to the assignee,
RFC 3834 marking, and the desk's own commands."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from bot.rules.dsl import Context, Outcome, Transition, command
from bot.rules.effects import SendMail


def notes(ctx: Context, text: str) -> list[dict[str, Any]]:
    """The case's notes with one more, stamped with who and when."""
    kept = list(ctx.case.data.get("notas", []))
    kept.append({"at": ctx.now.isoformat(), "by": ctx.trigger.actor, "text": text})
    return kept


def add_note(ctx: Context) -> Outcome:
    """An internal note (`nota --note ...`)."""
    return Outcome(data={"notas": notes(ctx, ctx.trigger.values["nota"])})


def assign(ctx: Context) -> Outcome:
    """Reassign the case (`asignar --set asignado=...`)."""
    return Outcome(assignee=ctx.trigger.values["asignado"])


def answer_auto(ctx: Context) -> Literal["auto-replied"] | None:
    """RFC 3834: what the bot answers on its own to someone's mail is auto-replied.

    A specialist's command is a person speaking through the bot, so it is not marked.
    """
    return None if ctx.trigger.on.kind == "command" else "auto-replied"


def validation_reminder(template: str) -> Callable[[Context], Outcome]:
    """The action reminding the requester one business day before the automatic close."""

    def remind(ctx: Context) -> Outcome:
        """Remind the requester, naming the day the case closes."""
        closes = ctx.calendar.add_business_days(ctx.now, 1)
        mail = SendMail(
            to=("@requester",),
            template=template,
            context={"fecha_cierre": ctx.calendar.local(closes).date().isoformat()},
            auto="auto-generated",
        )
        return Outcome(effects=(mail,))

    return remind


def assignee_notice(ctx: Context, template: str) -> SendMail:
    """The assignee (else the specialists) told what someone wrote on the case."""
    return SendMail(
        to=("@assignee",),
        template=template,
        context={"texto": ctx.trigger.text[:4000], "remitente": ctx.trigger.actor},
        auto="auto-generated",
        immediate=True,
    )


def tell_assignee(template: str) -> Callable[[Context], Outcome]:
    """The action keeping a message the state does not act on, with the assignee told."""

    def told(ctx: Context) -> Outcome:
        """A message nobody acts on is passed to a person."""
        return Outcome(effects=(assignee_notice(ctx, template),))

    return told


def remind_assignee(template: str) -> Callable[[Context], Outcome]:
    """The action reminding the assignee that the case still waits on the desk."""

    def remind(ctx: Context) -> Outcome:
        """The case is still on the desk's side: remind its assignee."""
        mail = SendMail(to=("@assignee",), template=template, auto="auto-generated", immediate=True)
        return Outcome(effects=(mail,))

    return remind


def desk_commands(
    sources: tuple[str, ...], step: str, what: str, *, assign_step: str = ""
) -> tuple[Transition, ...]:
    """`nota --note` and `asignar --set asignado=` on every open state of a process."""
    return (
        Transition(
            sources,
            command("nota"),
            None,
            (step,),
            action=add_note,
            requires=("nota",),
            description="Nota interna",
        ),
        Transition(
            sources,
            command("asignar"),
            None,
            (assign_step or step,),
            action=assign,
            requires=("asignado",),
            description=f"Reasignar {what}",
        ),
    )


# --- the director's signed letter (CONTRACT "Who may approve") --------------------------


def signed_files(ctx: Context) -> list[Mapping[str, Any]]:
    """PDF or image attachments of the trigger, checked (the "firmados" inspection)."""
    found = ctx.trigger.facts.get("firmados", [])
    return [f for f in found if isinstance(f, Mapping)] if isinstance(found, list) else []


def is_director(ctx: Context) -> bool:
    """The configured director, authenticated."""
    return "director" in ctx.trigger.actor_roles and ctx.trigger.authenticated


def signed_by_director(ctx: Context) -> bool:
    """The authenticated director sent at least one acceptable signed file."""
    return is_director(ctx) and any(f.get("ok") for f in signed_files(ctx))


def director_bad_file(ctx: Context) -> bool:
    """The authenticated director sent files, none of them acceptable."""
    return is_director(ctx) and bool(signed_files(ctx))


def unproven_signature(ctx: Context) -> bool:
    """A "signed letter" from someone who is not the authenticated director."""
    return bool(signed_files(ctx)) and not is_director(ctx)


def signed_by_hand(ctx: Context) -> bool:
    """A specialist attached an acceptable signed file (the director signed on paper)."""
    return any(f.get("ok") for f in signed_files(ctx))
