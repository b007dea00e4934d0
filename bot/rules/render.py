"""Readable views of a process: a text listing and a Mermaid state diagram."""

from __future__ import annotations

from bot.rules.dsl import Process, Transition


def _target(t: Transition) -> str:
    """Where a transition goes, in words."""
    return t.target if t.target is not None else "(se queda)"


def describe(proc: Process) -> str:
    """States, timers and transitions with the seed steps they fulfil."""
    lines = [f"{proc.code} {proc.name}", "", "Estados:"]
    for st in proc.states:
        flag = " [final]" if st.final else ""
        # "espera a el director" contracts to "espera al director", as Spanish requires.
        who = st.waiting_on
        whom = f"al {who[3:]}" if who.startswith("el ") else f"a {who}"
        waiting = f" [espera {whom}]" if st.waiting_on else ""
        lines.append(f"  {st.slug:<24} {st.label}{flag}{waiting}")
        for d in st.timers:
            delay = d.delay(proc.settings)
            every = "cada " if d.repeat else "a los "
            sla = " [SLA]" if d.sla else ""
            lines.append(f"      temporizador {d.kind}: {every}{delay}{sla}")
    lines += ["", "Transiciones:"]
    for t in proc.transitions:
        source = "|".join(t.source) or "(nuevo)"
        needs = f"  requiere: {', '.join(t.requires)}" if t.requires else ""
        guard = f"  si: {t.guard_label}" if t.guard_label else ""
        lines.append(f"  {source} --{t.on}--> {_target(t)}")
        lines.append(f"      {', '.join(t.steps)}{needs}{guard}")
        if t.description:
            lines.append(f"      {t.description}")
    return "\n".join(lines) + "\n"


def _node(slug: str) -> str:
    """A Mermaid-safe state id."""
    return slug.replace("-", "_")


def to_mermaid(proc: Process) -> str:
    """A stateDiagram-v2 that any Mermaid viewer renders."""
    lines = ["stateDiagram-v2", f"    %% {proc.code} {proc.name}"]
    for st in proc.states:
        lines.append(f'    state "{st.label}" as {_node(st.slug)}')
    for t in proc.transitions:
        label = f"{t.on.kind} {t.on.name}".replace(":", " ")
        steps = ", ".join(s.split(" ", 1)[1] for s in t.steps)
        sources = ["[*]"] if not t.source else [_node(s) for s in t.source]
        for src in sources:
            target = _node(t.target) if t.target is not None else src
            lines.append(f"    {src} --> {target} : {label} ({steps})")
    for st in proc.states:
        if st.final:
            lines.append(f"    {_node(st.slug)} --> [*]")
    return "\n".join(lines) + "\n"
