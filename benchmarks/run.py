"""Mesa Bot benchmarks: `python benchmarks/run.py`.

Prints a table and writes benchmarks/results/latest.json. Each figure is reported next to
a baseline measured the same way in the same process, so that results from different
machines can be compared through the ratio.

  startup   `python -m bot --help` against `python -c pass` (median of 15 runs each)
  engine    bot.rules.engine.step calls per second on MA-006 «resolver», against a loop
            of trivial Python function calls
  cycle     one `run --once` cycle that sends 200 MA-006 acknowledgements: in-process
            (bot.app.run_once) and through the command line, per message
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(ROOT))

STARTUP_RUNS = 15
STARTUP_TARGET_S = 0.3
ENGINE_SECONDS = 1.0
CYCLE_CASES = 200
MX = ZoneInfo("America/Mexico_City")
# Friday 20 November 2026 at 07:00: before opening, so the only mail due is the
# acknowledgements (sent whatever the hour); the daily digest at 08:00 is not due yet.
CYCLE_AT = datetime(2026, 11, 20, 7, 0, tzinfo=MX)


def _child_env() -> dict[str, str]:
    """The environment for child processes: the repo importable, no MESABOT_* overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESABOT_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _wall(cmd: Sequence[str], cwd: Path | None = None) -> float:
    """Seconds one run of a command takes; it must succeed."""
    start = time.perf_counter()
    subprocess.run(
        cmd, cwd=cwd, env=_child_env(), check=True, stdout=subprocess.DEVNULL, timeout=120
    )
    return time.perf_counter() - start


# --- (a) start-up ---------------------------------------------------------------------------


def bench_startup() -> dict[str, Any]:
    """Median wall time of `--help`, and of an empty interpreter, interleaved."""
    help_cmd = [sys.executable, "-m", "bot", "--help"]
    pass_cmd = [sys.executable, "-c", "pass"]
    _wall(help_cmd)  # warm the bytecode cache and the OS file cache
    _wall(pass_cmd)
    helps: list[float] = []
    passes: list[float] = []
    for _ in range(STARTUP_RUNS):
        helps.append(_wall(help_cmd))
        passes.append(_wall(pass_cmd))
    help_median = statistics.median(helps)
    pass_median = statistics.median(passes)
    overhead = help_median - pass_median
    return {
        "runs": STARTUP_RUNS,
        "help_median_s": help_median,
        "baseline_median_s": pass_median,
        "ratio": help_median / pass_median,
        "overhead_s": overhead,
        "target_overhead_s": STARTUP_TARGET_S,
        "within_target": overhead <= STARTUP_TARGET_S,
        "help_min_s": min(helps),
        "help_max_s": max(helps),
    }


# --- (b) rules engine -----------------------------------------------------------------------


def _rate(call: Callable[[], object], seconds: float = ENGINE_SECONDS) -> float:
    """Calls per second of `call`, measured in batches for about `seconds`."""
    batch = 1000
    count = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        for _ in range(batch):
            call()
        count += batch
        elapsed = time.perf_counter() - start
    return count / elapsed


def _trivial(case: object, trigger: object, now: object, calendar: object) -> object:
    """The baseline: a Python function call that does nothing."""
    return case


def bench_engine() -> dict[str, Any]:
    """bot.rules.engine.step on MA-006: resolve a ticket in progress."""
    from bot.calendar import BusinessCalendar
    from bot.rules import get_process
    from bot.rules.dsl import CaseView, Trigger, command
    from bot.rules.engine import Decision, step

    process = get_process("MA-006")
    calendar = BusinessCalendar()
    case = CaseView(
        id=1,
        process="MA-006",
        state="en_proceso",
        subject="No puedo entrar al portal",
        requester="ana.perez@example.com",
        assignee="sofia.ramirez@example.com",
        data={"tipo": "acceso", "descripcion": "Error de contraseña"},
    )
    trigger = Trigger(
        on=command("resolver"),
        actor="sofia.ramirez@example.com",
        actor_roles=frozenset({"specialist"}),
        values={"solucion": "Se restableció la contraseña"},
    )
    now = datetime(2026, 11, 20, 11, 0, tzinfo=MX)
    settings = dict(process.settings)
    first = step(process, case, trigger, now, calendar, settings)
    if not isinstance(first, Decision) or first.to_state != "en_validacion":
        raise SystemExit(f"engine benchmark set-up is wrong: {first!r}")

    steps_per_s = _rate(lambda: step(process, case, trigger, now, calendar, settings))
    calls_per_s = _rate(lambda: _trivial(case, trigger, now, calendar))
    return {
        "step_calls_per_s": steps_per_s,
        "baseline_calls_per_s": calls_per_s,
        "step_us": 1e6 / steps_per_s,
        "ratio": calls_per_s / steps_per_s,
    }


# --- (c) one cycle with 200 acknowledgements ------------------------------------------------


def _prepare_cases(folder: Path, count: int) -> None:
    """A config in `folder` and `count` freshly opened MA-006 tickets, nothing sent yet."""
    from bot.app import build_app, migrate
    from bot.clock import FixedClock
    from bot.config import load_config
    from bot.rules.dsl import event

    shutil.copyfile(ROOT / "config.toml", folder / "config.toml")
    config = load_config(folder / "config.toml", {})
    app = build_app(config, FixedClock(CYCLE_AT), folder)
    migrate(app)
    with app.db.transaction() as s:
        for n in range(1, count + 1):
            trigger = app.workflow.trigger(event("abrir"), text=f"Descripción del problema {n}")
            app.workflow.open_case(
                s,
                "MA-006",
                trigger,
                CYCLE_AT,
                subject=f"Ticket de prueba {n}",
                requester=f"usuario{n}@example.com",
            )
    app.db.dispose()


def _outbox_count(folder: Path) -> int:
    """Files in the folder's outbox/new."""
    new = folder / "var" / "mail" / "outbox" / "new"
    return sum(1 for _ in new.iterdir()) if new.is_dir() else 0


def bench_cycle() -> dict[str, Any]:
    """Time the cycle that dispatches CYCLE_CASES acknowledgements."""
    from bot.app import build_app, run_once
    from bot.clock import FixedClock
    from bot.config import load_config

    with tempfile.TemporaryDirectory(prefix="mesabot-bench-") as tmp:
        base = Path(tmp)
        seed = base / "seed"
        seed.mkdir()
        start = time.perf_counter()
        _prepare_cases(seed, CYCLE_CASES)
        prepare_s = time.perf_counter() - start
        in_process = base / "in_process"
        cli = base / "cli"
        shutil.copytree(seed, in_process)
        shutil.copytree(seed, cli)

        # In-process: only the cycle itself (sweep + dispatch + heartbeat).
        config = load_config(in_process / "config.toml", {})
        app = build_app(config, FixedClock(CYCLE_AT), in_process)
        start = time.perf_counter()
        report = run_once(app)
        cycle_s = time.perf_counter() - start
        app.db.dispose()
        sent = report.dispatch.sent
        if sent != CYCLE_CASES or _outbox_count(in_process) != CYCLE_CASES:
            raise SystemExit(f"expected {CYCLE_CASES} acknowledgements, the cycle sent {sent}")

        # Through the command line: start-up, migration check and the same cycle.
        cmd = [
            sys.executable,
            "-m",
            "bot",
            "--config",
            str(cli / "config.toml"),
            "--now",
            CYCLE_AT.isoformat(),
            "run",
            "--once",
        ]
        cli_s = _wall(cmd, cwd=cli)
        if _outbox_count(cli) != CYCLE_CASES:
            raise SystemExit(f"`run --once` wrote {_outbox_count(cli)} files, not {CYCLE_CASES}")
    return {
        "messages": CYCLE_CASES,
        "prepare_s": prepare_s,
        "cycle_s": cycle_s,
        "cycle_ms_per_message": 1000 * cycle_s / CYCLE_CASES,
        "messages_per_s": CYCLE_CASES / cycle_s,
        "cli_run_once_s": cli_s,
        "cli_ms_per_message": 1000 * cli_s / CYCLE_CASES,
    }


# --- report ---------------------------------------------------------------------------------


def _table(rows: list[tuple[str, str, str, str]]) -> str:
    """A plain fixed-width table."""
    header = ("benchmark", "measured", "baseline", "ratio")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [header, tuple("-" * w for w in widths), *rows]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def main() -> int:
    """Run every benchmark, print the table, write results/latest.json."""
    started = time.perf_counter()
    print(f"Mesa Bot benchmarks (python {platform.python_version()})...", flush=True)
    startup = bench_startup()
    engine = bench_engine()
    cycle = bench_cycle()

    rows = [
        (
            f"startup: mesabot --help (median of {startup['runs']})",
            f"{startup['help_median_s'] * 1000:.0f} ms",
            f"{startup['baseline_median_s'] * 1000:.0f} ms (python -c pass)",
            f"{startup['ratio']:.1f}x",
        ),
        (
            "engine: step() MA-006 resolver",
            f"{engine['step_calls_per_s']:,.0f} calls/s ({engine['step_us']:.1f} µs)",
            f"{engine['baseline_calls_per_s']:,.0f} calls/s (trivial call)",
            f"{engine['ratio']:.0f}x slower",
        ),
        (
            f"cycle: run_once, {cycle['messages']} acks",
            f"{cycle['cycle_s']:.2f} s ({cycle['cycle_ms_per_message']:.2f} ms/msg)",
            "-",
            "-",
        ),
        (
            f"cycle: mesabot run --once, {cycle['messages']} acks",
            f"{cycle['cli_run_once_s']:.2f} s ({cycle['cli_ms_per_message']:.2f} ms/msg)",
            f"{startup['help_median_s'] * 1000:.0f} ms (--help start-up)",
            "-",
        ),
    ]
    print()
    print(_table(rows))
    print()
    print(
        f"start-up overhead of --help over an empty interpreter: "
        f"{startup['overhead_s'] * 1000:.0f} ms (target < {STARTUP_TARGET_S * 1000:.0f} ms)"
    )
    if not startup["within_target"]:
        print(
            f"WARNING: mesabot --help start-up overhead {startup['overhead_s']:.3f} s "
            f"exceeds the {STARTUP_TARGET_S} s target"
        )

    total = time.perf_counter() - started
    results = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "total_s": total,
        "benchmarks": {"startup": startup, "engine": engine, "cycle": cycle},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "latest.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"results: {out.relative_to(ROOT)} ({total:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
