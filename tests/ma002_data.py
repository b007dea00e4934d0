"""MA-002 test data: agents in a CAM Pegasus SQLite database, valid CURPs, filled forms."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
from stdnum.mx import curp as stdnum_curp

from bot.documents.agent_form import DECISION_LABEL, FIELDS, SHEET_TITLE
from tests.mail_data import AUTHSERV

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_PEGASUS = '[systems.pegasus]\nadapter = "manual"\n'

# The shipped config.toml's zones: who is asked for each promotoría.
ZONES: dict[str, tuple[str, ...]] = {
    "Acapulco": ("marcela@example.com",),
    "Oaxaca": ("mariana@example.com", "juan.velazquez@example.com"),
    "Edo México": ("andrea@example.com", "ana.luna@example.com"),
    "CDMX": ("julio@example.com", "alexis@example.com"),
    "Nuevo León": ("mariana@example.com",),
}
PROMOTORIAS: dict[str, tuple[str, ...]] = {
    "Acapulco": ("Promotoría Acapulco Costera",),
    "Oaxaca": ("Promotoría Oaxaca Centro", "Promotoría Istmo"),
    "Edo México": ("Promotoría Toluca", "Promotoría Edo México Norte"),
    "CDMX": ("Promotoría Reforma", "Promotoría Coyoacán"),
    "Nuevo León": ("Promotoría Monterrey",),
}
SCHEMA = """
CREATE TABLE pegasus_usuarios (id INTEGER PRIMARY KEY, nombre TEXT, rfc TEXT, correo TEXT,
    estatus TEXT, promotoria TEXT, clave TEXT, tipo TEXT, cedula TEXT, hid TEXT);
CREATE TABLE pegasus_adjuntos (id INTEGER PRIMARY KEY, usuario_id INTEGER, nombre TEXT,
    tipo_contenido TEXT, contenido BLOB, nota TEXT, creado TEXT);
"""


@dataclass(frozen=True)
class Agent:
    """An agent as CAM Pegasus lists them."""

    clave: str
    nombre: str
    rfc: str
    correo: str
    promotoria: str
    tipo: str = "Agente"
    cedula: str = ""
    estatus: str = "Solicitado"

    @property
    def curp(self) -> str:
        """A valid CURP agreeing with the RFC (birth date, initials)."""
        return curp_for(self.rfc)


def curp_for(rfc: str, sex: str = "H") -> str:
    """A CURP whose first ten characters are the RFC's and whose check digit is right."""
    base = f"{rfc[:10]}{sex}DFRRN0"
    return base + stdnum_curp.calc_check_digit(base)


def agent(n: int, promotoria: str, *, tipo: str = "Agente", cedula: str = "") -> Agent:
    """The n-th made-up agent of a promotoría (unique key, RFC and address)."""
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    initials = "".join(letters[(n // len(letters) ** i) % len(letters)] for i in range(3))
    rfc = f"Z{initials}{80 + n % 20:02d}{1 + n % 12:02d}{1 + n % 28:02d}AB{n % 10}"
    return Agent(
        clave=f"A{100000 + n}",
        nombre=f"Agente {n} Pérez",
        rfc=rfc,
        correo=f"agente{n}@correo.example.net",
        promotoria=promotoria,
        tipo=tipo,
        cedula=cedula,
    )


def sql_pegasus_config(pegasus: Path) -> str:
    """The shipped config.toml trusting AUTHSERV, with CAM Pegasus read and written by SQL."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    assert "trusted_authserv_ids = []" in text and SHIPPED_PEGASUS in text
    text = text.replace("trusted_authserv_ids = []", f'trusted_authserv_ids = ["{AUTHSERV}"]')
    return text.replace(
        SHIPPED_PEGASUS, f'[systems.pegasus]\nadapter = "sql"\nurl = "sqlite:///{pegasus}"\n'
    )


def pegasus_db(path: Path, agents: Iterable[Agent]) -> Path:
    """A CAM Pegasus SQLite file with these agents (ids in order from 1)."""
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    add_agents(path, agents, con)
    con.close()
    return path


def add_agents(path: Path, agents: Iterable[Agent], con: sqlite3.Connection | None = None) -> None:
    """Register more agents, as new requests appear in CAM Pegasus."""
    own = con is None
    con = con or sqlite3.connect(path)
    con.executemany(
        "INSERT INTO pegasus_usuarios (nombre, rfc, correo, estatus, promotoria, clave, tipo, "
        "cedula) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (a.nombre, a.rfc, a.correo, a.estatus, a.promotoria, a.clave, a.tipo, a.cedula)
            for a in agents
        ],
    )
    con.commit()
    if own:
        con.close()


def pegasus_state(path: Path) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """Agent key -> (status, [(file name, note)]) in the CAM Pegasus database."""
    con = sqlite3.connect(path)
    found: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    for user_id, clave, status in con.execute("SELECT id, clave, estatus FROM pegasus_usuarios"):
        files = [
            (str(name), str(note))
            for name, note in con.execute(
                "SELECT nombre, nota FROM pegasus_adjuntos WHERE usuario_id = ? ORDER BY id",
                (user_id,),
            )
        ]
        found[str(clave)] = (str(status), files)
    con.close()
    return found


def data_for(a: Agent) -> dict[str, str]:
    """Complementary data an assistant gives for this agent, by field key."""
    return {
        "correo": a.correo,
        "celular": "55 1234 5678",
        "curp": a.curp,
        "cedula": "1234567",
        "vigencia_cedula": "31/12/2027",
        "ramo": "Vida",
    }


def data_text(a: Agent, keys: Sequence[str] | None = None) -> str:
    """The data written in a mail body, one "Label: value" line each."""
    labels = {f.key: f.label for f in FIELDS}
    given = data_for(a)
    return "\n".join(f"{labels[k]}: {given[k]}" for k in keys or list(given))


def fill(form: bytes, values: Mapping[str, Any], decision: str = "") -> bytes:
    """The bot's form filled as an assistant would: column B of each field's row."""
    labels = {f.key: f.label for f in FIELDS}
    book = openpyxl.load_workbook(io.BytesIO(form))
    sheet = book[SHEET_TITLE]
    rows = {str(r[0].value): r[0].row for r in sheet.iter_rows(min_col=1, max_col=1) if r[0].value}
    for key, value in values.items():
        if labels[key] in rows:  # what CAM Pegasus knows is shown locked, not asked
            sheet.cell(row=rows[labels[key]], column=2, value=value)
    if decision:
        sheet.cell(row=rows[DECISION_LABEL], column=2, value=decision)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
