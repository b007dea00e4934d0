"""Actions and helpers every process shares: notes, reassignment, RFC 3834 marking."""

from __future__ import annotations

from typing import Any, Literal

from bot.rules.dsl import Context, Outcome


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
