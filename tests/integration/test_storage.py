"""Storage on the real database (SQLite file and, when configured, PostgreSQL)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlalchemy.orm.exc import StaleDataError

from storage.archive import Archive
from storage.db import Database
from storage.migrate import HEAD, current_revision, downgrade, ensure_schema, head_revision
from storage.models import Case, Event, Message
from tests.conftest import mx

NOW = mx(2026, 11, 23, 9, 0)
TABLES = {
    "cases",
    "case_links",
    "events",
    "messages",
    "attachments",
    "timers",
    "outbox",
    "auto_mail",
    "tasks",
    "knowledge",
    "cursors",
}


def _case(db: Database) -> int:
    with db.transaction() as s:
        case = Case(process="MA-006", state="pendiente_atencion", created_at=NOW, updated_at=NOW)
        s.add(case)
        s.flush()
        return case.id


def test_migrations_build_every_table_and_go_down_and_up(db: Database) -> None:
    assert current_revision(db.engine) == head_revision() == HEAD
    assert set(inspect(db.engine).get_table_names()) >= TABLES
    downgrade(db.engine, "base")
    assert not TABLES & set(inspect(db.engine).get_table_names())
    ensure_schema(db.engine)
    assert set(inspect(db.engine).get_table_names()) >= TABLES
    assert current_revision(db.engine) == HEAD


def test_sqlite_runs_in_wal_mode(db: Database) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_audit_events_are_append_only(db: Database) -> None:
    case_id = _case(db)
    with db.transaction() as s:
        s.add(Event(case_id=case_id, at=NOW, kind="opened", actor="x", steps=[], detail={}))
    with pytest.raises(Exception, match="append-only"), db.transaction() as s:
        s.execute(update(Event).values(kind="forged"))
    with pytest.raises(Exception, match="append-only"), db.transaction() as s:
        s.execute(text("DELETE FROM events"))
    with db.sessions() as s:
        assert [e.kind for e in s.scalars(select(Event))] == ["opened"]


def test_message_ingestion_is_idempotent_per_channel(db: Database) -> None:
    def add(channel: str) -> None:
        with db.transaction() as s:
            s.add(Message(direction="in", channel=channel, external_id="<a@b>", at=NOW))

    add("mail")
    add("chat")  # same id on another channel is another message
    with pytest.raises(IntegrityError):
        add("mail")


def test_datetimes_round_trip_as_aware_utc(db: Database) -> None:
    case_id = _case(db)
    with db.sessions() as s:
        case = s.get_one(Case, case_id)
        assert case.created_at == NOW
        assert case.created_at.tzinfo is UTC
    with pytest.raises(StatementError, match="naive"), db.transaction() as s:
        s.add(
            Case(
                process="MA-006",
                state="x",
                created_at=datetime(2026, 1, 1),
                updated_at=datetime(2026, 1, 1),
            )
        )


def test_concurrent_case_updates_are_detected(db: Database) -> None:
    case_id = _case(db)
    # PostgreSQL: the version column catches the lost update. SQLite (WAL): the stale
    # snapshot cannot be upgraded to a write at all.
    lost_update = (StaleDataError, OperationalError)
    with db.sessions() as first, db.sessions() as second:
        a = first.get_one(Case, case_id)
        b = second.get_one(Case, case_id)
        a.state = "en_proceso"
        first.commit()
        b.state = "cerrado"
        with pytest.raises(lost_update):
            second.commit()
    with db.sessions() as s:
        assert s.get_one(Case, case_id).state == "en_proceso"


def test_json_data_round_trips_spanish_text(db: Database) -> None:
    case_id = _case(db)
    with db.transaction() as s:
        s.get_one(Case, case_id).data = {"nota": "Pérez & Hijos <SA> ñ", "n": [1, 2]}
    with db.sessions() as s:
        assert s.get_one(Case, case_id).data == {"nota": "Pérez & Hijos <SA> ñ", "n": [1, 2]}


def test_archive_is_content_addressed(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    first = archive.put(b"carta firmada")
    assert archive.put(b"carta firmada") == first
    assert archive.get(first) == b"carta firmada"
    assert archive.path(first).parent.parent.parent == tmp_path / "archive"
    assert not list((tmp_path / "archive").rglob("*.tmp"))
    with pytest.raises(ValueError):
        archive.path("../../etc/passwd")


def test_archive_deferred_sync_writes_at_once_and_syncs_on_leaving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import storage.archive as module

    synced: list[list[Path]] = []
    monkeypatch.setattr(module, "_sync_all", lambda root, targets: synced.append(list(targets)))
    archive = Archive(tmp_path / "archive")
    with archive.deferred_sync():
        first = archive.put(b"uno")
        with archive.deferred_sync():  # nested: the outer one syncs
            second = archive.put(b"dos")
        assert archive.get(first) == b"uno" and archive.get(second) == b"dos"
        assert synced == []
    assert synced == [[archive.path(first), archive.path(second)]]
    with pytest.raises(RuntimeError), archive.deferred_sync():
        archive.put(b"tres")
        raise RuntimeError("the batch failed: nothing refers to the file")
    assert len(synced) == 1
    archive.put(b"cuatro")  # outside a batch: synced by itself, not deferred
    assert len(synced) == 1 and archive._deferred is None


def test_archive_sync_all_falls_back_to_fsync_per_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import storage.archive as module

    archive = Archive(tmp_path / "archive")
    digest = archive.put(b"carta")
    monkeypatch.setattr(module, "_syncfs", lambda root: False)
    fsynced: list[int] = []
    monkeypatch.setattr(module.os, "fsync", fsynced.append)
    module._sync_all(archive.root, [archive.path(digest)])
    assert len(fsynced) == 2  # the file, then its folder


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs(2) is Linux's")
def test_archive_syncfs_runs_on_linux(tmp_path: Path) -> None:
    from storage.archive import _syncfs

    assert _syncfs(tmp_path) is True


def test_timestamps_compare_across_offsets(db: Database) -> None:
    case_id = _case(db)
    later = NOW.astimezone(UTC) + timedelta(hours=1)
    with db.sessions() as s:
        found = s.scalars(select(Case.id).where(Case.created_at < later)).all()
    assert found == [case_id]


def test_cursor_values_are_written_together_or_not_at_all(db: Database) -> None:
    from bot.channels.state import CursorStore

    cursors = CursorStore(db, "mail:imap")
    cursors.put_many({"uidvalidity": "1", "uid": "40"})
    with pytest.raises(StatementError):
        # The second value cannot be stored: the first must not be either.
        cursors.put_many({"uidvalidity": "2", "uid": object()})  # type: ignore[dict-item]
    assert (cursors.get("uidvalidity"), cursors.get("uid")) == ("1", "40")
    cursors.put("uid", None)
    assert cursors.get("uid") is None and cursors.get("uidvalidity") == "1"
