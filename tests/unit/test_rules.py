"""The DSL's import-time validation, the pure engine, and the registered processes."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.calendar import BusinessCalendar
from bot.rules import PROCESSES, get_process
from bot.rules.dsl import (
    CaseView,
    Outcome,
    Process,
    ProcessDefinitionError,
    State,
    TimerDecl,
    Transition,
    Trigger,
    command,
    event,
    intent,
    timer,
)
from bot.rules.effects import ArmTimer, CancelTimer, SendMail, business_days, hours
from bot.rules.engine import Decision, Rejected, step
from bot.rules.render import describe, to_mermaid

MX = ZoneInfo("America/Mexico_City")
CAL = BusinessCalendar()
NOW = datetime(2026, 11, 20, 11, 0, tzinfo=MX)  # Friday
ROOT = Path(__file__).resolve().parents[2]
SPECIALIST = frozenset({"specialist"})


def _open(target: str = "a") -> Transition:
    return Transition((), event("abrir"), target, ("MA-999 paso 1",))


def _proc(states: tuple[State, ...], transitions: tuple[Transition, ...]) -> Process:
    return Process("MA-999", "Prueba", states, transitions)


def _problems(states: tuple[State, ...], transitions: tuple[Transition, ...]) -> str:
    with pytest.raises(ProcessDefinitionError) as info:
        _proc(states, transitions)
    return str(info.value)


def test_a_sound_process_validates() -> None:
    proc = _proc(
        (State("a", "A", timers=(TimerDecl("t", hours(1)),)), State("z", "Z", final=True)),
        (
            _open(),
            Transition(("a",), timer("t"), "z", ("MA-999 paso 2",)),
            Transition(("a",), command("cerrar"), "z", ("MA-999 paso 3",)),
        ),
    )
    assert proc.commands("a") == ("cerrar",)
    assert proc.accepted_intents("a") == frozenset()


def test_unreachable_state_is_an_error() -> None:
    msg = _problems(
        (State("a", "A"), State("b", "B"), State("z", "Z", final=True)),
        (
            _open(),
            Transition(("a",), command("x"), "z", ("MA-999 paso 2",)),
            Transition(("b",), command("y"), "z", ("MA-999 paso 3",)),
        ),
    )
    assert "'b' is unreachable" in msg


def test_dead_end_is_an_error() -> None:
    msg = _problems(
        (State("a", "A"), State("b", "B"), State("z", "Z", final=True)),
        (
            _open(),
            Transition(("a",), command("x"), "b", ("MA-999 paso 2",)),
            Transition(("a",), command("y"), "z", ("MA-999 paso 3",)),
        ),
    )
    assert "'b' is a dead end" in msg


def test_unhandled_timer_is_an_error() -> None:
    msg = _problems(
        (State("a", "A", timers=(TimerDecl("olvidado", hours(1)),)), State("z", "Z", final=True)),
        (_open(), Transition(("a",), command("x"), "z", ("MA-999 paso 2",))),
    )
    assert "timer 'olvidado' of state 'a' has no transition" in msg


def test_timer_handled_where_never_armed_is_an_error() -> None:
    msg = _problems(
        (State("a", "A"), State("z", "Z", final=True)),
        (_open(), Transition(("a",), timer("fantasma"), "z", ("MA-999 paso 2",))),
    )
    assert "never armed" in msg


def test_ambiguous_transitions_are_an_error() -> None:
    msg = _problems(
        (State("a", "A"), State("b", "B", final=True), State("z", "Z", final=True)),
        (
            _open(),
            Transition(("a",), intent("PROCEED"), "b", ("MA-999 paso 2",)),
            Transition(("a",), intent("PROCEED"), "z", ("MA-999 paso 3",)),
        ),
    )
    assert "2 unguarded intent:PROCEED transitions" in msg


def test_unguarded_fallback_must_come_last() -> None:
    msg = _problems(
        (State("a", "A"), State("b", "B", final=True), State("z", "Z", final=True)),
        (
            _open(),
            Transition(("a",), intent("PROCEED"), "b", ("MA-999 paso 2",)),
            Transition(("a",), intent("PROCEED"), "z", ("MA-999 paso 3",), guard=lambda c: True),
        ),
    )
    assert "must come last" in msg


def test_missing_steps_undeclared_states_and_final_exits_are_errors() -> None:
    msg = _problems(
        (State("a", "A"), State("z", "Z", final=True)),
        (
            _open(),
            Transition(("a",), command("x"), "z", ()),
            Transition(("a",), command("y"), "nowhere", ("MA-999 paso 2",)),
            Transition(("z",), command("z"), "a", ("paso libre",)),
        ),
    )
    assert "names no seed step" in msg
    assert "undeclared state 'nowhere'" in msg
    assert "final state 'z' has outgoing transitions" in msg
    assert "malformed step 'paso libre'" in msg


def test_no_entry_is_an_error() -> None:
    msg = _problems((State("z", "Z", final=True),), ())
    assert "no entry transition" in msg


def test_waiting_on_and_sla_timers_are_declared_consistently() -> None:
    msg = _problems(
        (
            State(
                "a",
                "A",
                timers=(TimerDecl("plazo", hours(1), sla=True, repeat=True),),
                waiting_on="el usuario",
            ),
            State("b", "B", waiting_on=" "),
            State("z", "Z", final=True, waiting_on="el director"),
        ),
        (
            _open(),
            Transition(("a",), timer("plazo"), "b", ("MA-999 paso 2",)),
            Transition(("b",), command("cerrar"), "z", ("MA-999 paso 3",)),
        ),
    )
    assert "state 'a' waits on 'el usuario' yet its timer 'plazo' is an SLA" in msg
    assert "SLA timer 'plazo' of state 'a' cannot repeat" in msg
    assert "state 'b' has a blank or padded waiting_on" in msg
    assert "final state 'z' cannot be waiting on anyone" in msg


def test_ma006_declares_its_wait_on_the_requester_and_its_sla() -> None:
    proc = get_process("MA-006")
    assert proc.waiting_states() == {"en_validacion": "el usuario"}
    assert proc.sla_timers() == frozenset({("pendiente_atencion", "sla_primera_respuesta")})
    assert proc.timer_label("recordatorio_validacion") == "Recordatorio de validación al usuario"
    assert proc.timer_label("sin_etiqueta") == "Sin etiqueta"
    text = describe(proc)
    assert "[espera al usuario]" in text and "[SLA]" in text


def test_unknown_intent_is_refused() -> None:
    with pytest.raises(ValueError):
        intent("MAYBE")


@pytest.mark.parametrize("proc", PROCESSES, ids=lambda p: p.code)
def test_every_registered_process_is_valid_and_documented(proc: Process) -> None:
    assert proc.entries()
    for t in proc.transitions:
        assert t.steps and all(s.startswith(proc.code) for s in t.steps)
        assert t.description
    text = describe(proc)
    for st in proc.states:
        assert st.slug in text
    diagram = to_mermaid(proc)
    assert diagram.startswith("stateDiagram-v2")
    assert "[*] -->" in diagram


def test_every_mail_template_a_process_uses_exists() -> None:
    sources = [*(ROOT / "bot" / "rules").glob("ma*.py"), *(ROOT / "bot").glob("*.py")]
    names = {
        name
        for path in sources
        for name in re.findall(r'template="([^"]+)"', path.read_text(encoding="utf-8"))
    }
    assert "MA-006/acuse" in names
    for name in names:
        # Mail templates live in templates/email, task descriptions in templates/tasks.
        candidates = [ROOT / "templates" / kind / f"{name}.txt.j2" for kind in ("email", "tasks")]
        assert any(path.is_file() for path in candidates), name


# -- the engine on MA-006 --------------------------------------------------------------------

MA006 = get_process("MA-006")


def _case(state: str, **data: object) -> CaseView:
    return CaseView(7, "MA-006", state, "No entra a BLife", "ana@example.com", None, data)


def _cmd(name: str, roles: frozenset[str] = SPECIALIST, **values: str) -> Trigger:
    return Trigger(command(name), "sofia@example.com", roles, values)


def test_entry_acknowledges_and_arms_the_first_response_sla() -> None:
    result = step(MA006, _case(""), Trigger(event("abrir"), "ana@example.com"), NOW, CAL)
    assert isinstance(result, Decision)
    assert (result.from_state, result.to_state) == ("", "pendiente_atencion")
    (ack,) = result.effects
    assert isinstance(ack, SendMail) and ack.immediate and ack.auto == "auto-replied"
    # Friday 11:00 + 4 business hours: 11-15 on Friday (short day) -> Friday 15:00.
    assert [(a.kind, a.due_at) for a in result.arm] == [
        ("sla_primera_respuesta", datetime(2026, 11, 20, 15, 0, tzinfo=MX))
    ]


def test_resolve_arms_reminder_and_close_on_business_days() -> None:
    result = step(MA006, _case("en_proceso"), _cmd("resolver", solucion="Listo"), NOW, CAL)
    assert isinstance(result, Decision)
    assert result.to_state == "en_validacion"
    assert {a.kind: a.due_at.day for a in result.arm} == {
        "recordatorio_validacion": 24,
        "cierre_automatico": 25,
    }
    (mail,) = result.effects
    assert isinstance(mail, SendMail) and mail.context["fecha_cierre"] == "2026-11-25"


def test_config_settings_override_process_delays() -> None:
    settings = {"validation_close": business_days(5), "validation_reminder": business_days(4)}
    result = step(MA006, _case("en_proceso"), _cmd("resolver", solucion="x"), NOW, CAL, settings)
    assert isinstance(result, Decision)
    assert {a.kind: a.due_at.day for a in result.arm}["cierre_automatico"] == 27


def test_step_is_pure_and_deterministic() -> None:
    case = _case("en_proceso")
    trig = _cmd("resolver", solucion="Listo")
    assert step(MA006, case, trig, NOW, CAL) == step(MA006, case, trig, NOW, CAL)
    assert case.state == "en_proceso"


@pytest.mark.parametrize(
    ("state", "trigger", "code"),
    [
        ("cerrado", _cmd("nota", nota="x"), "closed"),
        ("pendiente_atencion", _cmd("resolver", solucion="x"), "no_transition"),
        ("pendiente_atencion", _cmd("tomar"), "missing_values"),
        ("pendiente_atencion", _cmd("tomar", tipo="urgente"), "guard"),
        ("pendiente_atencion", _cmd("tomar", frozenset({"agent"}), tipo="acceso"), "not_allowed"),
        ("en_proceso", Trigger(intent("VALIDATED"), "ana@example.com"), "no_transition"),
    ],
)
def test_rejections(state: str, trigger: Trigger, code: str) -> None:
    result = step(MA006, _case(state), trigger, NOW, CAL)
    assert isinstance(result, Rejected)
    assert result.code == code
    assert "MA-006 #7" in result.reason


def test_repeat_timer_is_rearmed_when_it_fires() -> None:
    result = step(MA006, _case("en_proceso"), Trigger(timer("seguimiento")), NOW, CAL)
    assert isinstance(result, Decision) and not result.changed
    assert [(a.kind, a.due_at.day) for a in result.arm] == [("seguimiento", 24)]


def test_arm_and_cancel_effects_become_case_timers() -> None:
    def action(_ctx: object) -> Outcome:
        return Outcome(effects=(ArmTimer("revision", business_days(15)), CancelTimer("otro")))

    proc = Process(
        "MA-998",
        "Prueba",
        (State("a", "A"), State("z", "Z", final=True)),
        (
            Transition((), event("abrir"), "a", ("MA-998 paso 1",), action=action),
            Transition(("a",), timer("revision"), "z", ("MA-998 paso 2",)),
        ),
        case_timers=("revision",),
    )
    result = step(
        proc, CaseView(1, "MA-998", "", "", "", None, {}), Trigger(event("abrir")), NOW, CAL
    )
    assert isinstance(result, Decision)
    assert [(a.kind, a.scope) for a in result.arm] == [("revision", "case")]
    assert result.cancel_kinds == ("otro",)
    assert result.effects == ()
