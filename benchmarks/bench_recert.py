"""The recert section of benchmarks/run.py: MA-005 from MetLife's mail to the areas' mail.

A MetLife recertification file (tests/recert_data.py: the realistic 900-user workbook, and a
100,000-row one) arrives authenticated in the Maildir inbox of the shipped config switched to
the sql CAM Pegasus adapter over a SQLite roster holding every user; one `run_once` reads the
file (python-calamine, after the safety checks), opens the case, checks every user against
CAM Pegasus, writes the enriched workbook and sends it to Comercial and Operaciones. Each
side runs in a fresh child process so its peak RSS (VmHWM) is its own; the baseline is
openpyxl read_only reading every cell of the same file, before and after (mean time, higher
peak). Fails unless the areas' mail leaves with the enriched file, or a target is missed.
"""

from __future__ import annotations

import io
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

MX = ZoneInfo("America/Mexico_City")
# Monday 23 November 2026, 09:00: within support hours, a month before the deadline.
AT = datetime(2026, 11, 23, 9, 0, tzinfo=MX)
SIZES = ((900, 2.0, None), (100_000, 20.0, 500.0))  # users, seconds, peak RSS MB
COMMERCIAL = "comercial@example.com"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def prepare(folder: Path, users: int) -> None:
    """The config, CAM Pegasus' roster, and MetLife's mail waiting in the inbox."""
    from bot.app import build_app, migrate
    from bot.clock import FixedClock
    from bot.config import load_config
    from bot.documents.recert import read_recert
    from tests.ma002_data import SCHEMA, sql_pegasus_config
    from tests.mail_data import incoming
    from tests.recert_data import big_metlife_file, metlife_file

    folder.mkdir(parents=True)
    data = metlife_file(users) if users <= 5000 else big_metlife_file(users)
    (folder / "metlife.xlsx").write_bytes(data)
    pegasus = folder / "pegasus.db"
    con = sqlite3.connect(pegasus)
    con.executescript(SCHEMA)
    # Every 20th user is a baja in CAM Pegasus, every 50th is missing from it.
    con.executemany(
        "INSERT INTO pegasus_usuarios (nombre, rfc, correo, estatus, tipo, hid) "
        "VALUES (?, '', '', ?, 'administrativo', ?)",
        [
            (u.nombre, "Baja" if n % 20 == 0 else "Activo", u.hid)
            for n, u in enumerate(read_recert(data).users)
            if n % 50 != 1
        ],
    )
    con.commit()
    con.close()
    (folder / "config.toml").write_text(sql_pegasus_config(pegasus), encoding="utf-8")
    app = build_app(load_config(folder / "config.toml", {}), FixedClock(AT), folder)
    migrate(app)
    app.mail.ensure()
    app.db.dispose()
    mail = incoming(
        "recertificacion@metlife.example.com",
        "mesa.ayuda@example.com",
        "Recertificación anual de usuarios 2026",
        "Adjunto el archivo. Fecha límite: viernes 11 de diciembre.",
        AT,
        files=(("Recertificacion_2026.xlsx", XLSX, data),),
        authenticated=True,
    )
    (folder / "var" / "mail" / "inbox" / "new" / "1.metlife.mx").write_bytes(mail.as_bytes())


def child_pipeline(folder: Path, peak: Callable[[], float]) -> dict[str, Any]:
    """One run_once from MetLife's mail to the areas' mail; wall time and peak RSS."""
    from bot.app import build_app, run_once
    from bot.clock import FixedClock
    from bot.config import load_config

    app = build_app(load_config(folder / "config.toml", {}), FixedClock(AT), folder)
    start = time.perf_counter()
    run_once(app)
    wall = time.perf_counter() - start
    outbox = folder / "var" / "mail" / "outbox" / "new"
    areas = [
        m
        for m in (
            message_from_bytes(p.read_bytes(), policy=policy.default) for p in outbox.iterdir()
        )
        if COMMERCIAL in str(m["To"])
    ]
    files = [str(a.get_filename()) for m in areas for a in m.iter_attachments()]  # type: ignore[attr-defined]
    return {"wall_s": wall, "peak_mb": peak(), "areas_mails": len(areas), "files": files}


def child_baseline(folder: Path, peak: Callable[[], float]) -> dict[str, Any]:
    """openpyxl read_only reading every cell of the same file."""
    import openpyxl

    data = (folder / "metlife.xlsx").read_bytes()
    start = time.perf_counter()
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    cells = 0
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows(values_only=True):
            cells += len(row)
    workbook.close()
    return {"wall_s": time.perf_counter() - start, "peak_mb": peak(), "cells": cells}


def bench(run_child: Callable[..., dict[str, Any]], tmp: Path) -> dict[str, Any]:
    """Both sizes, each next to its baseline; raises when a target is missed."""
    out: dict[str, Any] = {}
    for users, target_s, target_mb in SIZES:
        folder = tmp / f"recert-{users}"
        prepare(folder, users)
        before = run_child("recert-baseline", str(folder))
        pipeline = run_child("recert", str(folder))
        after = run_child("recert-baseline", str(folder))
        if pipeline["areas_mails"] != 1 or not any(
            f.startswith("validacion_recertificacion") for f in pipeline["files"]
        ):
            raise SystemExit(f"recert {users}: the areas' mail did not leave: {pipeline}")
        base_s = (before["wall_s"] + after["wall_s"]) / 2
        base_mb = max(before["peak_mb"], after["peak_mb"])
        result = {
            "users": users,
            "wall_s": pipeline["wall_s"],
            "peak_mb": pipeline["peak_mb"],
            "baseline_s": base_s,
            "baseline_mb": base_mb,
            "ratio": pipeline["wall_s"] / base_s,
            "target_s": target_s,
            "target_mb": target_mb,
            "cells": before["cells"],
        }
        out[str(users)] = result
        if pipeline["wall_s"] > target_s or (target_mb and pipeline["peak_mb"] > target_mb):
            raise SystemExit(f"recert {users}: over target: {result}")
    return out


def rows(recert: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Table rows: one per size."""
    found: list[tuple[str, str, str, str]] = []
    for result in recert.values():
        found.append(
            (
                f"recert: {result['users']:,} users, MetLife's mail to the areas' mail",
                f"{result['wall_s']:.2f} s, {result['peak_mb']:.0f} MB peak",
                f"{result['baseline_s']:.2f} s, {result['baseline_mb']:.0f} MB "
                "(openpyxl read_only reads it)",
                f"{result['ratio']:.1f}x",
            )
        )
    return found
