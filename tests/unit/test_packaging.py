"""The Dockerfile installs the same package and runs the same command as `make run`."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _instructions() -> list[tuple[str, str]]:
    """Dockerfile instructions as (KEYWORD, arguments), continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            out.append((keyword.upper(), args.strip()))
    return out


def _make_target(name: str) -> list[str]:
    """The recipe lines of a Makefile target."""
    lines = (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_dockerfile_runs_the_daemon_like_make_run() -> None:
    instructions = _instructions()
    cmd = [json.loads(args) for kw, args in instructions if kw == "CMD"]
    assert cmd == [["mesabot", "run"]]
    run_recipe = _make_target("run")
    assert run_recipe[-1].split()[-1] == "run"
    assert "mesabot" in run_recipe[-1]
    console = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert console == {"mesabot": "bot.cli:main"}


def test_dockerfile_installs_the_same_package() -> None:
    runs = " ".join(args for kw, args in _instructions() if kw == "RUN")
    assert re.search(r"pip install \.(\s|$)", runs)
    make_install = " ".join(_make_target("$(VENV)/.installed"))
    assert "pip install --quiet -e ." in make_install
    copied = " ".join(args for kw, args in _instructions() if kw == "COPY")
    for part in ("pyproject.toml", "bot", "storage", "templates", "config.toml"):
        assert part in copied


def test_dockerfile_is_slim_non_root_with_volume_and_healthcheck() -> None:
    instructions = dict(_instructions())
    assert instructions["FROM"].startswith("python:3.11-slim")
    users = [args for kw, args in _instructions() if kw == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert "/data" in instructions["VOLUME"]
    assert "mesabot" in instructions["HEALTHCHECK"] and "health" in instructions["HEALTHCHECK"]


def test_ci_runs_make_test() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in script
