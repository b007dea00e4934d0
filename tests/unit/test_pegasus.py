"""Tests for bot.systems.pegasus: the manual adapter, and the sql one on real databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    select,
    text,
)

from bot.clock import FixedClock
from bot.errors import ChannelUnavailable, MesabotError
from bot.systems.pegasus import (
    ADAPTERS,
    STATUSES,
    ManualPegasus,
    PegasusError,
    PegasusFile,
    PegasusQueries,
    PegasusRecord,
    PegasusSettings,
    PegasusUnavailable,
    SqlPegasus,
    build_pegasus,
    describe_change,
)

PG_URL = os.environ.get("MESABOT_TEST_DATABASE_URL", "").strip()
NOW = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not PG_URL, reason="MESABOT_TEST_DATABASE_URL is not set"),
        ],
    ),
]

metadata = MetaData()
usuarios = Table(
    "pegasus_usuarios",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("nombre", String(200), nullable=False),
    Column("rfc", String(20), nullable=False),
    Column("correo", String(254), nullable=False),
    Column("estatus", String(20), nullable=False),
    Column("promotoria", String(200)),
    Column("clave", String(20)),
    Column("tipo", String(50)),
    Column("cedula", String(20)),
    Column("hid", String(20)),
)
adjuntos = Table(
    "pegasus_adjuntos",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("usuario_id", Integer, ForeignKey("pegasus_usuarios.id"), nullable=False),
    Column("nombre", String(255), nullable=False),
    Column("tipo_contenido", String(100), nullable=False),
    Column("contenido", LargeBinary, nullable=False),
    Column("nota", Text),
    Column("creado", DateTime(timezone=True), nullable=False),
)

USERS: list[dict[str, Any]] = [
    {
        "id": 1,
        "nombre": "Juan Gómez Martínez",
        "rfc": "GOMJ800101AB1",
        "correo": "juan.gomez@example.com",
        "estatus": "Solicitado",
        "promotoria": "Promotoría Norte",
        "clave": "A1001",
        "tipo": "agente",
        "cedula": "CED-1",
    },
    {
        "id": 2,
        "nombre": "Ana Pérez López",
        "rfc": "PELA 750505 XY9",
        "correo": "Ana.Perez@Example.com",
        "estatus": "Activo",
        "promotoria": "Promotoría Norte",
        "clave": "a1002",
        "tipo": "administrativo",
        "cedula": None,
    },
    {
        "id": 3,
        "nombre": "Luis Ruiz",
        "rfc": "RUIL900202CD3",
        "correo": "luis@example.com",
        "estatus": "Solicitado",
        "promotoria": "Promotoría Sur",
        "clave": "A1003",
        "tipo": "consultor BPN",
        "cedula": "CED-3",
    },
    {
        "id": 4,
        "nombre": "Luis Ruiz (duplicado)",
        "rfc": "RUIL900202CD3",
        "correo": "luis.ruiz@example.com",
        "estatus": "Baja",
        "promotoria": "Promotoría Sur",
        "clave": "A1004",
        "tipo": "agente",
        "cedula": None,
    },
]

# An installation whose registry is a view with its own Spanish column names.
VIEW_DDL = [
    """CREATE TABLE agentes_cam (
        folio VARCHAR(10) PRIMARY KEY,
        nombre_completo VARCHAR(200) NOT NULL,
        rfc_agente VARCHAR(20) NOT NULL,
        correo_electronico VARCHAR(254) NOT NULL,
        situacion VARCHAR(20) NOT NULL,
        oficina VARCHAR(200),
        numero_agente VARCHAR(20),
        categoria VARCHAR(50),
        fecha_alta DATE
    )""",
    """CREATE VIEW vista_agentes AS
        SELECT folio, nombre_completo, rfc_agente, correo_electronico, situacion, oficina,
               numero_agente, categoria, fecha_alta
        FROM agentes_cam""",
    """INSERT INTO agentes_cam VALUES
        ('F-001', 'María Torres', 'TOMM850303EF5', 'maria@example.com', 'Escalado',
         'Promotoría Centro', 'B2001', 'agente', '2024-03-01'),
        ('F-002', 'Pedro Sosa', 'SOSP700707GH7', 'pedro@example.com', 'Escalado',
         'Promotoría Centro', 'B2002', 'consultor BPN', '2023-01-15')""",
]
VIEW_COLUMNS = (
    "folio AS id, nombre_completo AS nombre, rfc_agente AS rfc, correo_electronico AS correo,"
    " situacion AS status, oficina AS promotoria, numero_agente AS clave, categoria AS tipo,"
    " fecha_alta"
)
VIEW_QUERIES = PegasusQueries(
    find_user=f"SELECT {VIEW_COLUMNS} FROM vista_agentes"
    " WHERE rfc_agente = :rfc OR LOWER(correo_electronico) = :correo OR numero_agente = :clave",
    status="SELECT situacion FROM vista_agentes WHERE folio = :id",
    set_status="UPDATE agentes_cam SET situacion = :status WHERE folio = :id",
    add_file="",
    list_by_status=f"SELECT {VIEW_COLUMNS} FROM vista_agentes"
    " WHERE situacion = :status ORDER BY folio",
    roster=f"SELECT {VIEW_COLUMNS} FROM vista_agentes ORDER BY folio",
)


def pg_schema_url(base: str, schema: str) -> str:
    """The PostgreSQL URL whose connections use their own schema (as tests/conftest.py)."""
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pegasus.db'}"
        return
    schema = f"pegasus_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield pg_schema_url(PG_URL, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def pegasus_url(empty_url: str) -> str:
    """The default schema, with four users."""
    engine = create_engine(empty_url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(usuarios), USERS)
    engine.dispose()
    return empty_url


@pytest.fixture
def pegasus(pegasus_url: str) -> Iterator[SqlPegasus]:
    """The sql adapter on the default schema, with a fixed clock."""
    adapter = SqlPegasus(pegasus_url, clock=FixedClock(NOW))
    yield adapter
    adapter.close()


def fetch(url: str, statement: Any) -> list[Any]:
    """Rows of a statement, read with a connection of its own."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(statement).all())
    finally:
        engine.dispose()


def estatus(url: str, user_id: int) -> str:
    """The stored status of a user of the default schema."""
    rows = fetch(url, select(usuarios.c.estatus).where(usuarios.c.id == user_id))
    return str(rows[0].estatus)


# --- find_user ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rfc", ["GOMJ800101AB1", " gomj800101ab1 ", "GOMJ 800101 AB1", "gomj-800101-ab1"]
)
def test_find_user_by_rfc_ignores_case_spaces_and_hyphens(pegasus: SqlPegasus, rfc: str) -> None:
    """The RFC is compared upper-case, without spaces, on both sides."""
    record = pegasus.find_user(rfc=rfc)
    assert record is not None
    assert record.id == "1"


def test_find_user_by_rfc_stored_with_spaces(pegasus: SqlPegasus) -> None:
    """A stored RFC with spaces still matches a compact one."""
    record = pegasus.find_user(rfc="pela750505xy9")
    assert record is not None
    assert record.id == "2"


@pytest.mark.parametrize("correo", ["ana.perez@example.com", "  ANA.PEREZ@EXAMPLE.COM "])
def test_find_user_by_correo_ignores_case(pegasus: SqlPegasus, correo: str) -> None:
    """The address is compared lower-case, even when stored in mixed case."""
    record = pegasus.find_user(correo=correo)
    assert record is not None
    assert record.id == "2"


@pytest.mark.parametrize(("clave", "expected"), [("A1001", "1"), (" a1001 ", "1"), ("A1002", "2")])
def test_find_user_by_clave_ignores_case(pegasus: SqlPegasus, clave: str, expected: str) -> None:
    """The agent key is trimmed and compared upper-case."""
    record = pegasus.find_user(clave=clave)
    assert record is not None
    assert record.id == expected


def test_find_user_reads_every_field(pegasus: SqlPegasus) -> None:
    """Columns land in the record as text; NULL is ""; nothing extra."""
    assert pegasus.find_user(clave="A1001") == PegasusRecord(
        id="1",
        nombre="Juan Gómez Martínez",
        rfc="GOMJ800101AB1",
        correo="juan.gomez@example.com",
        status="Solicitado",
        promotoria="Promotoría Norte",
        clave="A1001",
        tipo="agente",
        cedula="CED-1",
    )
    ana = pegasus.find_user(rfc="PELA750505XY9")
    assert ana is not None
    assert (ana.cedula, ana.tipo, dict(ana.extra)) == ("", "administrativo", {})


def test_find_user_not_found(pegasus: SqlPegasus) -> None:
    """No match is None, not an error."""
    assert pegasus.find_user(rfc="XAXX010101000") is None
    assert pegasus.find_user(correo="nadie@example.com", clave="Z9") is None


def test_find_user_needs_a_key(pegasus: SqlPegasus) -> None:
    """Without any (non-blank) key there is nothing to look for."""
    with pytest.raises(ValueError, match="rfc, correo o clave"):
        pegasus.find_user()
    with pytest.raises(ValueError):
        pegasus.find_user(rfc="  ", correo="")


def test_find_user_ambiguous_lists_the_ids(pegasus: SqlPegasus) -> None:
    """Two users with one RFC: refused, naming both."""
    with pytest.raises(PegasusError, match=r"ids 3, 4|ids 4, 3") as caught:
        pegasus.find_user(rfc="RUIL900202CD3")
    assert not isinstance(caught.value, ChannelUnavailable)


def test_find_user_ambiguous_across_keys(pegasus: SqlPegasus) -> None:
    """The RFC of one user and the address of another are two users."""
    with pytest.raises(PegasusError, match="2 usuarios"):
        pegasus.find_user(rfc="GOMJ800101AB1", correo="luis@example.com")


def test_find_user_two_keys_of_the_same_user(pegasus: SqlPegasus) -> None:
    """Several keys matching the same row are one user."""
    record = pegasus.find_user(rfc="GOMJ800101AB1", correo="JUAN.GOMEZ@example.com", clave="a1001")
    assert record is not None
    assert record.id == "1"


# --- status, set_status, list_by_status ---------------------------------------------------


def test_status(pegasus: SqlPegasus) -> None:
    """The stored status, or None for an unknown id."""
    assert pegasus.status("1") == "Solicitado"
    assert pegasus.status("2") == "Activo"
    assert pegasus.status("99") is None


def test_set_status_with_files(pegasus: SqlPegasus, pegasus_url: str) -> None:
    """The status changes and each file lands as a row, bytes intact, in one go."""
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 40
    files = [
        PegasusFile("carta_firmada.pdf", pdf, "application/pdf"),
        PegasusFile("DSN.pdf", b"\x00\xff\x00DSN", "application/pdf"),
    ]
    pegasus.set_status("1", "Escalado", files=files, note="DSN 123456")

    assert pegasus.status("1") == "Escalado"
    assert estatus(pegasus_url, 3) == "Solicitado"
    rows = fetch(pegasus_url, select(adjuntos).order_by(adjuntos.c.id))
    assert [(r.usuario_id, r.nombre, r.tipo_contenido, r.nota) for r in rows] == [
        (1, "carta_firmada.pdf", "application/pdf", "DSN 123456"),
        (1, "DSN.pdf", "application/pdf", "DSN 123456"),
    ]
    assert bytes(rows[0].contenido) == pdf
    assert bytes(rows[1].contenido) == b"\x00\xff\x00DSN"
    creado = rows[0].creado
    assert (creado if creado.tzinfo else creado.replace(tzinfo=UTC)) == NOW


def test_set_status_without_files(pegasus: SqlPegasus, pegasus_url: str) -> None:
    """No files: only the status changes."""
    pegasus.set_status("2", "Baja")
    assert estatus(pegasus_url, 2) == "Baja"
    assert fetch(pegasus_url, select(adjuntos)) == []


def test_set_status_unknown_id_writes_nothing(pegasus: SqlPegasus, pegasus_url: str) -> None:
    """An UPDATE that touches no row is refused and no file is stored."""
    files = [PegasusFile("carta.pdf", b"%PDF", "application/pdf")]
    with pytest.raises(PegasusError, match="no existe el usuario con id 99"):
        pegasus.set_status("99", "Escalado", files=files)
    assert fetch(pegasus_url, select(adjuntos)) == []
    assert [estatus(pegasus_url, user["id"]) for user in USERS] == [u["estatus"] for u in USERS]


def test_set_status_rolled_back_when_a_file_fails(pegasus_url: str) -> None:
    """A failing file insert undoes the status change already made in the transaction."""
    queries = PegasusQueries(
        add_file="INSERT INTO no_existe (usuario_id, contenido) VALUES (:id, :content)"
    )
    adapter = SqlPegasus(pegasus_url, queries)
    try:
        with pytest.raises(PegasusError, match="add_file"):
            adapter.set_status(
                "1", "Escalado", files=[PegasusFile("a.pdf", b"x", "application/pdf")]
            )
    finally:
        adapter.close()
    assert estatus(pegasus_url, 1) == "Solicitado"


def test_set_status_touching_several_rows_is_rolled_back(pegasus_url: str) -> None:
    """An UPDATE must affect exactly one row; more is refused and undone."""
    queries = PegasusQueries(
        set_status="UPDATE pegasus_usuarios SET estatus = :status WHERE promotoria = :id"
    )
    adapter = SqlPegasus(pegasus_url, queries)
    try:
        with pytest.raises(PegasusError, match="cambiaría 2 filas"):
            adapter.set_status("Promotoría Norte", "Baja")
    finally:
        adapter.close()
    assert (estatus(pegasus_url, 1), estatus(pegasus_url, 2)) == ("Solicitado", "Activo")


def test_invalid_status_is_refused(pegasus: SqlPegasus, pegasus_url: str) -> None:
    """Only the statuses CAM Pegasus has; nothing is run for another."""
    with pytest.raises(ValueError, match="estatus desconocido"):
        pegasus.set_status("1", "Suspendido")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        pegasus.list_by_status("activo")  # type: ignore[arg-type]
    assert estatus(pegasus_url, 1) == "Solicitado"


def test_list_by_status(pegasus: SqlPegasus) -> None:
    """Every user with the status, in the query's order (by name)."""
    assert [r.id for r in pegasus.list_by_status("Solicitado")] == ["1", "3"]
    assert [r.nombre for r in pegasus.list_by_status("Activo")] == ["Ana Pérez López"]
    assert pegasus.list_by_status("En proceso") == []


def test_check(pegasus: SqlPegasus) -> None:
    """check() reaches the database and runs the read queries."""
    line = pegasus.check()
    assert line.startswith("sql: ")
    assert "responde; cambia estatus y anexa archivos" in line
    assert "\n" not in line


# --- custom queries -----------------------------------------------------------------------


@pytest.fixture
def view_url(empty_url: str) -> str:
    """A registry exposed as a view with its own Spanish column names."""
    engine = create_engine(empty_url)
    with engine.begin() as conn:
        for statement in VIEW_DDL:
            conn.execute(text(statement))
    engine.dispose()
    return empty_url


def test_custom_queries_on_a_view(view_url: str) -> None:
    """Aliased columns map onto the record; the rest goes to extra; add_file "" skips files."""
    settings = PegasusSettings.model_validate(
        {"adapter": "sql", "url_env": "CAM_URL", "queries": VIEW_QUERIES.model_dump()}
    )
    adapter = build_pegasus(settings, {"CAM_URL": view_url})
    try:
        record = adapter.find_user(correo="MARIA@example.com")
        assert record is not None
        assert (record.id, record.nombre, record.status, record.clave, record.tipo) == (
            "F-001",
            "María Torres",
            "Escalado",
            "B2001",
            "agente",
        )
        assert record.cedula == ""
        assert dict(record.extra) == {"fecha_alta": "2024-03-01"}
        assert adapter.status("F-002") == "Escalado"

        adapter.set_status("F-002", "Activo", files=[PegasusFile("x.pdf", b"x", "application/pdf")])
        assert adapter.status("F-002") == "Activo"
        assert [r.id for r in adapter.list_by_status("Escalado")] == ["F-001"]
        roster = adapter.roster()
        assert roster is not None and [(r.id, r.hid) for r in roster] == [
            ("F-001", ""),
            ("F-002", ""),
        ]
        assert "sin anexar archivos" in adapter.check()
    finally:
        adapter.close()


def test_read_only_when_set_status_is_empty(pegasus_url: str) -> None:
    """An empty set_status query reads but never writes."""
    adapter = SqlPegasus(pegasus_url, PegasusQueries(set_status=""))
    try:
        assert (adapter.reads, adapter.writes) == (True, False)
        assert adapter.find_user(clave="A1001") is not None
        with pytest.raises(PegasusError, match="solo lectura"):
            adapter.set_status("1", "Escalado")
        assert "solo lectura" in adapter.check()
    finally:
        adapter.close()
    assert estatus(pegasus_url, 1) == "Solicitado"


def test_roster_reads_every_user_with_the_hid(pegasus_url: str) -> None:
    """The default roster query lists every user with the HID column (MA-005)."""
    engine = create_engine(pegasus_url)
    with engine.begin() as conn:
        conn.execute(usuarios.update().where(usuarios.c.id == 1).values(hid="0012345"))
        ids = {str(i) for i in conn.execute(select(usuarios.c.id)).scalars()}
    engine.dispose()
    adapter = SqlPegasus(pegasus_url)
    try:
        roster = adapter.roster()
        assert roster is not None
        by_id = {r.id: r for r in roster}
        assert set(by_id) == ids and len(roster) == len(ids)
        assert by_id["1"].hid == "0012345"
        assert all(r.hid == "" for key, r in by_id.items() if key != "1")
    finally:
        adapter.close()


def test_roster_can_be_switched_off(pegasus_url: str) -> None:
    """An empty roster query (and the manual adapter) cannot list: None, checked by hand."""
    adapter = SqlPegasus(pegasus_url, PegasusQueries(roster=""))
    try:
        assert adapter.roster() is None
        assert "responde" in adapter.check()
    finally:
        adapter.close()
    assert ManualPegasus().roster() is None


def test_broken_query_names_it(pegasus_url: str) -> None:
    """A query against a missing table is a permanent error naming the query."""
    adapter = SqlPegasus(
        pegasus_url, PegasusQueries(status="SELECT estatus FROM no_existe WHERE id = :id")
    )
    try:
        with pytest.raises(PegasusError, match="falló la consulta status") as caught:
            adapter.status("1")
        assert not isinstance(caught.value, PegasusUnavailable)
        with pytest.raises(PegasusError, match="status"):
            adapter.check()
    finally:
        adapter.close()


def test_query_without_required_columns(pegasus_url: str) -> None:
    """A user query must alias its columns to the record's names."""
    queries = PegasusQueries(
        find_user="SELECT id, nombre, rfc, correo, estatus FROM pegasus_usuarios "
        "WHERE clave = :clave"
    )
    adapter = SqlPegasus(pegasus_url, queries)
    try:
        with pytest.raises(PegasusError, match="find_user no devuelve las columnas status"):
            adapter.find_user(clave="A1001")
        with pytest.raises(PegasusError, match="find_user"):
            adapter.check()
    finally:
        adapter.close()


# --- reachability -------------------------------------------------------------------------


def test_unreachable_postgresql_is_temporary() -> None:
    """Nothing listening: PegasusUnavailable, a ChannelUnavailable, without the password."""
    adapter = SqlPegasus("postgresql+psycopg://pegasus:secreto@127.0.0.1:1/cam")
    try:
        for call in (
            lambda: adapter.find_user(rfc="GOMJ800101AB1"),
            lambda: adapter.status("1"),
            lambda: adapter.set_status("1", "Escalado"),
            lambda: adapter.list_by_status("Activo"),
            adapter.check,
        ):
            with pytest.raises(PegasusUnavailable) as caught:
                call()
            assert isinstance(caught.value, ChannelUnavailable)
            assert "secreto" not in str(caught.value)
            assert "pegasus:***@127.0.0.1:1/cam" in str(caught.value)
    finally:
        adapter.close()


def test_unopenable_sqlite_is_temporary(tmp_path: Path) -> None:
    """A database file that cannot be opened is unavailable, not a bad query."""
    adapter = SqlPegasus(f"sqlite:///{tmp_path / 'no' / 'existe' / 'cam.db'}")
    try:
        with pytest.raises(PegasusUnavailable, match="unable to open"):
            adapter.status("1")
    finally:
        adapter.close()


def test_bad_url_or_driver_is_permanent() -> None:
    """A URL SQLAlchemy cannot use is a PegasusError at build time."""
    with pytest.raises(PegasusError, match="URL"):
        SqlPegasus("esto no es una url")
    with pytest.raises(PegasusError, match="dialecto o controlador"):
        SqlPegasus("nodb+nodriver://u@h/db")


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="MESABOT_TEST_DATABASE_URL is not set")
def test_check_hides_the_password() -> None:
    """check() names the database it reached, password masked."""
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL).set(password="secreto")
    schema = f"pegasus_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        schema_url = pg_schema_url(url.render_as_string(hide_password=False), schema)
        engine = create_engine(schema_url)
        metadata.create_all(engine)
        engine.dispose()
        adapter = SqlPegasus(schema_url)
        try:
            line = adapter.check()
        finally:
            adapter.close()
        assert "secreto" not in line
        assert ":***@" in line
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


# --- settings and registry ----------------------------------------------------------------


def test_settings_default_to_manual() -> None:
    """Without configuration the port is manual."""
    settings = PegasusSettings()
    assert settings.adapter == "manual"
    assert isinstance(build_pegasus(settings, {}), ManualPegasus)
    assert set(ADAPTERS) == {"manual", "sql"}


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://pegasus:secreto@db.example.com/cam",
        "mssql+pyodbc://pegasus:secreto@cam-dsn",
        "postgresql+psycopg://pegasus@db.example.com/cam?password=secreto",
    ],
)
def test_url_with_password_is_refused(url: str) -> None:
    """A password in url is refused, pointing at url_env."""
    with pytest.raises(ValidationError, match="url_env") as caught:
        PegasusSettings(adapter="sql", url=url)
    assert "secreto" not in caught.value.errors()[0]["msg"]


def test_url_without_password_is_accepted(tmp_path: Path) -> None:
    """A password-less URL is kept; a relative SQLite path is resolved like storage's."""
    settings = PegasusSettings(adapter="sql", url="postgresql+psycopg://pegasus@db/cam")
    assert settings.url == "postgresql+psycopg://pegasus@db/cam"
    relative = PegasusSettings.model_validate(
        {"adapter": "sql", "url": "sqlite:///var/cam.db"}, context={"base_dir": tmp_path}
    )
    assert relative.url == f"sqlite:///{tmp_path / 'var' / 'cam.db'}"


def test_sql_adapter_needs_exactly_one_url() -> None:
    """adapter = "sql" needs url_env or url, not both, not neither."""
    with pytest.raises(ValidationError, match="url_env"):
        PegasusSettings(adapter="sql")
    with pytest.raises(ValidationError, match="no los dos"):
        PegasusSettings(adapter="sql", url="sqlite:///cam.db", url_env="CAM_URL")
    with pytest.raises(ValidationError):
        PegasusSettings(url_env="NO VALE")
    with pytest.raises(ValidationError, match="SQLAlchemy"):
        PegasusSettings(adapter="sql", url="no es url")


def test_queries_binds_are_checked() -> None:
    """Each query may use only the binds its operation supplies, and needs the essential ones."""
    with pytest.raises(ValidationError, match=r"find_user usa :nombre"):
        PegasusQueries(find_user="SELECT * FROM u WHERE nombre = :nombre")
    with pytest.raises(ValidationError, match=r"status necesita :id"):
        PegasusQueries(status="SELECT estatus AS status FROM u")
    with pytest.raises(ValidationError, match=r"find_user necesita :clave, :correo, :rfc"):
        PegasusQueries(find_user="SELECT * FROM u")
    with pytest.raises(ValidationError, match="list_by_status no puede estar vacía"):
        PegasusQueries(list_by_status="  ")
    # PostgreSQL casts (::) are not binds.
    assert PegasusQueries(status="SELECT estatus::text AS status FROM u WHERE id = :id")
    assert PegasusQueries(add_file=" ", set_status="").add_file == ""
    defaults = PegasusQueries()
    assert PegasusQueries.model_validate(defaults.model_dump()) == defaults


def test_url_env_read_from_environ(pegasus_url: str) -> None:
    """The URL comes from the variable url_env names."""
    settings = PegasusSettings(adapter="sql", url_env="MESABOT_PEGASUS_URL")
    adapter = build_pegasus(settings, {"MESABOT_PEGASUS_URL": pegasus_url})
    try:
        assert (adapter.name, adapter.reads, adapter.writes) == ("sql", True, True)
        assert adapter.status("1") == "Solicitado"
    finally:
        adapter.close()
    with pytest.raises(PegasusError, match="MESABOT_PEGASUS_URL"):
        build_pegasus(settings, {})


# --- manual adapter and describe_change ---------------------------------------------------


def test_manual_adapter() -> None:
    """Reads nothing, writes nothing, says so."""
    manual = build_pegasus(PegasusSettings(), {"MESABOT_PEGASUS_URL": "sqlite://"})
    assert (manual.name, manual.reads, manual.writes) == ("manual", False, False)
    assert manual.find_user(rfc="GOMJ800101AB1") is None
    assert manual.status("1") is None
    assert manual.list_by_status("Activo") == []
    with pytest.raises(PegasusError, match="a mano") as caught:
        manual.set_status("1", "Escalado")
    assert isinstance(caught.value, MesabotError)
    assert not isinstance(caught.value, ChannelUnavailable)
    with pytest.raises(ValueError):
        manual.set_status("1", "Otro")  # type: ignore[arg-type]
    assert manual.check() == "manual: los cambios se hacen a mano (tareas)"
    manual.close()


def test_statuses() -> None:
    """The five statuses CAM Pegasus has, in their order."""
    assert STATUSES == ("Solicitado", "Escalado", "En proceso", "Activo", "Baja")


def test_describe_change_with_record() -> None:
    """The full instruction: who, from which status to which, the files and the note."""
    record = PegasusRecord(
        id="1",
        nombre="Juan Gómez Martínez",
        rfc="GOMJ800101AB1",
        correo="juan.gomez@example.com",
        status="Solicitado",
    )
    assert describe_change(
        record,
        "gomj 800101 ab1",
        "Escalado",
        ["carta_firmada.pdf", "DSN.pdf"],
        "DSN 123456",
    ) == (
        "En CAM Pegasus, busca al usuario con RFC GOMJ800101AB1 (nombre Juan Gómez Martínez), "
        "cambia el estatus de «Solicitado» a «Escalado», anexa: carta_firmada.pdf, DSN.pdf; "
        "nota: DSN 123456"
    )


def test_describe_change_without_record() -> None:
    """Without a record: the key as given, the target status, nothing else."""
    assert describe_change(None, "Juan.Gomez@Example.com", "Baja", [], "") == (
        "En CAM Pegasus, busca al usuario con correo juan.gomez@example.com, "
        "cambia el estatus a «Baja»"
    )
    assert describe_change(None, "A1001", "Activo", [" alta.pdf "], "  firmado\n  hoy ") == (
        "En CAM Pegasus, busca al usuario con clave A1001, cambia el estatus a «Activo», "
        "anexa: alta.pdf; nota: firmado hoy"
    )


def test_describe_change_same_status_and_key_from_record() -> None:
    """A record already in the status is left there; a blank key falls back to its RFC."""
    record = PegasusRecord(
        id="2", nombre="Ana", rfc="PELA750505XY9", correo="ana@example.com", status="Activo"
    )
    assert describe_change(record, "", "Activo", [], "") == (
        "En CAM Pegasus, busca al usuario con RFC PELA750505XY9 (nombre Ana), "
        "deja el estatus en «Activo» (ya lo tiene)"
    )
