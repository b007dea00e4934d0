"""Shared fixtures: real databases built by the migrations, a fixed clock, the app."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from bot.app import App, build_app
from bot.clock import FixedClock
from bot.config import Config, load_config
from storage.db import Database
from storage.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
MX = ZoneInfo("America/Mexico_City")
PG_URL = os.environ.get("MESABOT_TEST_DATABASE_URL", "").strip()
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


def mx(*args: int) -> datetime:
    """A Mexico City wall-clock instant."""
    return datetime(*args, tzinfo=MX)  # type: ignore[misc]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per test worker, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    db.dispose()
    return path


def _pg_schema_url(base: str, schema: str) -> str:
    """The PostgreSQL URL whose connections use their own schema."""
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path
) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path / "mesabot.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = _pg_schema_url(PG_URL, schema)
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The test database."""
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    """The shipped config.toml, with var/ in the test's folder and the test database."""
    shutil.copyfile(ROOT / "config.toml", tmp_path / "config.toml")
    return load_config(tmp_path / "config.toml", {"MESABOT_STORAGE_URL": database_url})


@pytest.fixture
def clock() -> FixedClock:
    """Monday 23 November 2026, 09:00 in Mexico City."""
    return FixedClock(mx(2026, 11, 23, 9, 0))


@pytest.fixture
def app(config: Config, clock: FixedClock) -> Iterator[App]:
    """The application wired on the test database and a fixed clock."""
    application = build_app(config, clock, ROOT)
    application.mail.ensure()
    yield application
    application.db.dispose()
