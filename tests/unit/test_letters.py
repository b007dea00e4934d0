"""MA-001 letters: committed templates, escaping of hostile values, dates, secrecy, soffice."""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import re
import shutil
import stat
import time
import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import docx
import pytest
from docx.shared import Inches
from docxtpl import DocxTemplate

from bot.config import Organization, Person
from bot.documents import letters
from bot.documents.intake import UserRow
from bot.documents.letters import (
    CustodyContext,
    DirectorLetterContext,
    LetterError,
    convert,
    custody_context,
    director_context,
    find_soffice,
    letter_template,
    local_date,
    render_letter,
    spanish_long_date,
    to_pdf,
)

ROOT = Path(__file__).resolve().parents[2]
LETTERS = ROOT / "templates" / "letters"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"

DIRECTOR_VARIABLES = {
    "organization",
    "place",
    "date",
    "case_ref",
    "director_name",
    "director_title",
    "users",
}
EXPECTED_VARIABLES = {
    "autorizacion": DIRECTOR_VARIABLES,
    "baja": DIRECTOR_VARIABLES,
    "custodia": {"organization", "place", "date", "case_ref", "user", "username", "password"},
}
USER_HEADERS = ["Nombre", "RFC", "Correo electrónico", "Zona", "Paquete"]

ORG_NAME = 'Pérez & Hijos <SA> "Seguros" D\'Ángelo'
HOSTILE_NAME = "Ñúñez & <Cía> \"La 'Güera'\" Peña"
LONG_NAME = ("José Ñúñez-Pérez " * 18)[:299] + "z"
DIRECTOR = Person(name="Jesús Quiriarte <Dir> & O'Neill", email="director@example.com")
ORG = Organization(name=ORG_NAME, mail_domain="example.com")
TODAY = date(2026, 11, 23)
DATE_LINE = "Ciudad de México, a 23 de noviembre de 2026"
CASE_REF = "MA-001 #42 <&>"
PASSWORD = "Qx7&<b>\"'9ñZ"
USERNAME = "nunez.pena&01"

HOSTILE_USER = UserRow(
    nombre=HOSTILE_NAME,
    rfc="NUPG800101AB1",
    correo="o'brien&co@example.com",
    zona="Nuevo León",
    paquete=1,
    promotoria="Norte & Sur <Promotores>",
    puesto='Asistente "A"',
    row=4,
)
LONG_USER = UserRow(
    nombre=LONG_NAME,
    rfc="XAXX010101000",
    correo="largo@example.com",
    zona="CDMX",
    paquete=2,
    promotoria=None,  # the empty optional field
    row=5,
)
HOSTILE_VALUES = [
    ORG_NAME,
    HOSTILE_NAME,
    LONG_NAME,
    "o'brien&co@example.com",
    "Nuevo León",
    DIRECTOR.name,
    DATE_LINE,
]


def parts(data: bytes) -> dict[str, str]:
    """The document, header and footer XML parts of a .docx."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {
            name: archive.read(name).decode("utf-8")
            for name in archive.namelist()
            if re.fullmatch(r"word/(document|header\d*|footer\d*)\.xml", name)
        }


def paragraphs(xml: str) -> list[str]:
    """The text of every paragraph; parsing also proves the XML is well formed."""
    root = ET.fromstring(xml)
    return ["".join(t.text or "" for t in p.iter(f"{W}t")) for p in root.iter(f"{W}p")]


def letter_text(data: bytes) -> str:
    """All the text of a rendered letter, one paragraph per line."""
    return "\n".join(line for xml in parts(data).values() for line in paragraphs(xml))


def hostile_director(kind: str) -> DirectorLetterContext:
    """A context with hostile values for the letters the director signs."""
    movement = "alta" if kind == "autorizacion" else "baja"
    return director_context(movement, ORG, DIRECTOR, [HOSTILE_USER, LONG_USER], TODAY, CASE_REF)


def hostile_custody(user: UserRow = HOSTILE_USER) -> CustodyContext:
    """A custody context with hostile values."""
    return custody_context(ORG, user, USERNAME, PASSWORD, TODAY, CASE_REF)


# --- the committed templates ------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(EXPECTED_VARIABLES))
def test_template_uses_exactly_the_expected_variables(kind: Any) -> None:
    """Each committed template asks for exactly the variables its context provides."""
    template = letter_template(kind)
    assert template.parent == LETTERS
    found = DocxTemplate(str(template)).get_undeclared_template_variables()
    assert found == EXPECTED_VARIABLES[kind]
    context_type = CustodyContext if kind == "custodia" else DirectorLetterContext
    assert set(context_type.__annotations__) == EXPECTED_VARIABLES[kind]


@pytest.mark.parametrize("kind", sorted(EXPECTED_VARIABLES))
def test_template_tags_are_plain_ascii(kind: Any) -> None:
    """Word's smart quotes or a tag broken across paragraphs would break the template."""
    data = letter_template(kind).read_bytes()
    tags = []
    for xml in parts(data).values():
        for text in paragraphs(xml):
            found = re.findall(r"\{[{%#].*?[}%#]\}", text)
            tags += found
            rest = re.sub(r"\{[{%#].*?[}%#]\}", "", text)
            assert not re.search(r"\{[{%#]|[}%#]\}", rest), f"tag left open: {text!r}"
    assert tags
    for tag in tags:
        assert tag.isascii(), f"non-ASCII character in {tag!r}"


@pytest.mark.parametrize("kind", sorted(EXPECTED_VARIABLES))
def test_template_layout(kind: Any) -> None:
    """Letter page, letterhead with organization and desk, a users table with a header row."""
    document = docx.Document(str(letter_template(kind)))
    section = document.sections[0]
    assert (section.page_width, section.page_height) == (Inches(8.5), Inches(11))
    header = "\n".join(p.text for p in section.header.paragraphs)
    assert "{{ organization }}" in header
    assert "Mesa de Ayuda N1" in header
    body = "\n".join(p.text for p in document.paragraphs)
    assert "{{ place }}, a {{ date }}" in body
    table = document.tables[0]
    assert [cell.text for cell in table.rows[0].cells] == USER_HEADERS
    assert table.rows[0]._tr.find(f"{W}trPr/{W}tblHeader") is not None
    if kind == "custodia":
        credentials = document.tables[1]
        assert [cell.text for cell in credentials.rows[0].cells] == ["Usuario", "Contraseña"]
        assert [cell.text for cell in credentials.rows[1].cells] == [
            "{{ username }}",
            "{{ password }}",
        ]
    else:
        assert table.rows[1].cells[0].text == "{%tr for u in users %}"
        assert table.rows[-1].cells[0].text == "{%tr endfor %}"


# --- rendering --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["autorizacion", "baja"])
def test_director_letters_escape_hostile_values(kind: Any) -> None:
    """&, <, >, quotes, accents, ñ and a 300-character name survive, escaped, in valid XML."""
    data = render_letter(letter_template(kind), hostile_director(kind))
    xml = parts(data)
    raw = "".join(xml.values())
    assert "&lt;SA&gt;" in raw and "&amp;" in raw
    assert "<SA>" not in raw and "<Cía>" not in raw and "<Dir>" not in raw
    text = letter_text(data)
    for value in HOSTILE_VALUES:
        assert value in text, value
    assert CASE_REF in text  # in the footer
    assert not re.search(r"\{[{%#]|[}%#]\}", text)
    table = docx.Document(io.BytesIO(data)).tables[0]
    rows = [[cell.text for cell in row.cells] for row in table.rows]
    assert rows == [
        USER_HEADERS,
        [HOSTILE_NAME, "NUPG800101AB1", "o'brien&co@example.com", "Nuevo León", "1"],
        [LONG_NAME, "XAXX010101000", "largo@example.com", "CDMX", "2"],
    ]


def test_custody_letter_escapes_hostile_values() -> None:
    """The credentials and the user's data come out exactly, with valid XML around them."""
    data = render_letter(letter_template("custodia"), hostile_custody())
    raw = "".join(parts(data).values())
    assert "<b>" not in raw and "<Promotores>" not in raw
    text = letter_text(data)
    assert DATE_LINE in text
    assert PASSWORD in text and USERNAME in text
    assert (
        f'Yo, {HOSTILE_NAME}, con RFC NUPG800101AB1, Asistente "A", de la promotoría '
        "Norte & Sur <Promotores>, hago constar" in text
    )
    assert ORG_NAME in text
    assert not re.search(r"\{[{%#]|[}%#]\}", text)
    tables = docx.Document(io.BytesIO(data)).tables
    assert [cell.text for cell in tables[1].rows[1].cells] == [USERNAME, PASSWORD]


def test_custody_letter_leaves_out_empty_optional_fields() -> None:
    """No puesto or promotoría: the sentence closes without dangling commas."""
    data = render_letter(letter_template("custodia"), hostile_custody(LONG_USER))
    text = letter_text(data)
    assert f"Yo, {LONG_NAME}, con RFC XAXX010101000, hago constar" in text
    assert "promotoría ," not in text and ", ," not in text


def test_control_characters_are_removed_and_spaces_collapsed() -> None:
    """A stray control character from a spreadsheet cannot make the XML invalid."""
    user = UserRow(
        nombre="Ana\x0bLuz\x00  Ríos\x1b",
        rfc="RILA800101AB1",
        correo="ana@example.com",
        zona="CDMX",
        paquete=1,
    )
    context = director_context("alta", ORG, DIRECTOR, [user], TODAY, "MA-001 #1")
    assert context["users"][0]["nombre"] == "Ana Luz Ríos"
    letter_text(render_letter(letter_template("autorizacion"), context))


def test_render_errors_are_spanish(tmp_path: Path) -> None:
    """Missing template, smart quotes in a tag and a missing variable give a LetterError."""
    with pytest.raises(LetterError, match="No se encontró la plantilla"):
        render_letter(tmp_path / "no_existe.docx", {})

    # docxtpl itself straightens Word's curly quotes inside tags; other typographic quotes
    # and unclosed blocks still break the template.
    for number, tag in enumerate(["{{ place or «CDMX» }}", "{% if place %}sí"]):
        broken = tmp_path / f"rota{number}.docx"
        document = docx.Document()
        document.add_paragraph(tag)
        document.save(str(broken))
        with pytest.raises(LetterError, match="comillas rectas"):
            render_letter(broken, {"place": "CDMX"})
    curly = tmp_path / "curvas.docx"
    document = docx.Document()
    document.add_paragraph("{% if place == “CDMX” %}sí{% endif %}")
    document.save(str(curly))
    assert "sí" in letter_text(render_letter(curly, {"place": "CDMX"}))

    with pytest.raises(LetterError, match="usa un campo que la carta no tiene"):
        render_letter(letter_template("autorizacion"), {"organization": "X"})

    not_docx = tmp_path / "texto.docx"
    not_docx.write_text("no es un docx")
    with pytest.raises(LetterError, match="no es un documento de Word"):
        render_letter(not_docx, {})


def test_context_checks() -> None:
    """Empty user lists, the wrong movement and datetimes for dates are refused."""
    with pytest.raises(ValueError, match="at least one user"):
        director_context("alta", ORG, DIRECTOR, [], TODAY, "x")
    baja = UserRow(
        nombre="Ana", rfc="RILA800101AB1", correo="a@example.com", zona="CDMX", paquete=1
    )
    baja = dataclasses.replace(baja, movimiento="baja")
    with pytest.raises(ValueError, match="movimiento 'baja'"):
        director_context("alta", ORG, DIRECTOR, [baja], TODAY, "x")
    assert (
        director_context("baja", ORG, DIRECTOR, [baja], TODAY, "x")["users"][0]["nombre"] == "Ana"
    )
    with pytest.raises(TypeError, match="local_date"):
        director_context("baja", ORG, DIRECTOR, [baja], datetime(2026, 11, 23, 12, tzinfo=UTC), "x")


# --- dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2027, 1, 1), "1 de enero de 2027"),
        (date(2026, 2, 2), "2 de febrero de 2026"),
        (date(2024, 2, 29), "29 de febrero de 2024"),
        (date(2026, 3, 16), "16 de marzo de 2026"),
        (date(2026, 9, 16), "16 de septiembre de 2026"),
        (date(2026, 11, 23), "23 de noviembre de 2026"),
        (date(2026, 12, 31), "31 de diciembre de 2026"),
    ],
)
def test_spanish_long_date(day: date, expected: str) -> None:
    """Day without a leading zero, month in lower case, four-digit year."""
    assert spanish_long_date(day) == expected


def test_spanish_long_date_every_month() -> None:
    """The twelve months in Spanish, in order."""
    months = [spanish_long_date(date(2026, month, 10)).split()[2] for month in range(1, 13)]
    assert months == [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ]


def test_local_date_uses_the_organization_time_zone() -> None:
    """03:00 UTC on the 24th is still the 23rd in Mexico City."""
    assert local_date(datetime(2026, 11, 24, 3, 0, tzinfo=UTC), ORG) == date(2026, 11, 23)
    assert local_date(datetime(2026, 11, 24, 7, 0, tzinfo=UTC), ORG) == date(2026, 11, 24)
    with pytest.raises(ValueError, match="timezone-aware"):
        local_date(datetime(2026, 11, 24, 3, 0), ORG)


# --- the password -----------------------------------------------------------------------


def test_password_never_reaches_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    """The password is in the letter, but in no log record, even of a logged context."""
    caplog.set_level(logging.DEBUG)
    context = hostile_custody()
    data = render_letter(letter_template("custodia"), context)
    assert PASSWORD in letter_text(data)
    logging.getLogger("mesabot.test").info("contexto de la carta: %s", context)
    logging.getLogger("mesabot.test").info("contexto de la carta: %r", context)
    with pytest.raises(ValueError) as refused:
        custody_context(ORG, HOSTILE_USER, USERNAME, "con espacio", TODAY, CASE_REF)
    assert "con espacio" not in str(refused.value)
    assert any(record.name == "bot.documents.letters" for record in caplog.records)
    for record in caplog.records:
        shown = f"{record.getMessage()} {record.args!r} {record.__dict__!r}"
        assert PASSWORD not in shown, record.name
    assert PASSWORD not in repr(context)
    assert context["password"] == PASSWORD


# --- running soffice (a stand-in script: no LibreOffice needed) ---------------------------


def fake_soffice(folder: Path, body: str) -> Path:
    """An executable shell script standing in for soffice."""
    script = folder / "soffice"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_missing_soffice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without LibreOffice the error says what to install."""
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(LetterError, match="libreoffice-writer-nogui"):
        find_soffice()
    with pytest.raises(LetterError, match="No se encontró LibreOffice"):
        to_pdf(b"PK")


def test_convert_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Headless, its own profile, all sources in one run; outputs returned in order."""
    arguments = tmp_path / "args.txt"
    script = fake_soffice(
        tmp_path,
        f'printf "%s\\n" "$@" > {arguments}\n'
        'out=""; prev=""\n'
        'for a in "$@"; do [ "$prev" = "--outdir" ] && out="$a"; prev="$a"; done\n'
        'for a in "$@"; do case "$a" in *.docx) '
        'printf "%%PDF-1.7 fake" > "$out/$(basename "$a" .docx).pdf";; esac; done\n',
    )
    monkeypatch.setattr(letters, "find_soffice", lambda: str(script))
    sources = [tmp_path / "a.docx", tmp_path / "b.docx"]
    for source in sources:
        source.write_bytes(b"PK")
    outputs = convert(sources, "pdf", tmp_path / "out", profile=tmp_path / "perfil")
    assert outputs == [tmp_path / "out" / "a.pdf", tmp_path / "out" / "b.pdf"]
    args = arguments.read_text().splitlines()
    assert f"-env:UserInstallation={(tmp_path / 'perfil').as_uri()}" in args
    assert "--headless" in args
    assert args[args.index("--convert-to") + 1] == "pdf"
    assert args[-2:] == [str(source) for source in sources]
    assert to_pdf(b"PK").startswith(b"%PDF")
    fresh = next(a for a in arguments.read_text().splitlines() if a.startswith("-env:"))
    assert fresh.startswith("-env:UserInstallation=file:///") and "perfil" not in fresh


def test_convert_failure_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing run, or one that writes nothing, gives LibreOffice's last message."""
    source = tmp_path / "carta.docx"
    source.write_bytes(b"PK")
    failing = fake_soffice(tmp_path, 'echo "Error: source file could not be loaded" >&2\nexit 1\n')
    monkeypatch.setattr(letters, "find_soffice", lambda: str(failing))
    with pytest.raises(LetterError, match=r"código 1\): Error: source file could not be loaded"):
        convert([source], "pdf", tmp_path / "out")
    not_executable = tmp_path / "no_ejecutable"
    not_executable.write_text("#!/bin/sh\n")
    monkeypatch.setattr(letters, "find_soffice", lambda: str(not_executable))
    with pytest.raises(LetterError, match="No se pudo ejecutar LibreOffice"):
        convert([source], "pdf", tmp_path / "out")
    silent = fake_soffice(tmp_path, "exit 0\n")
    monkeypatch.setattr(letters, "find_soffice", lambda: str(silent))
    with pytest.raises(LetterError, match=r"no pudo convertir carta\.docx a PDF"):
        convert([source], "pdf", tmp_path / "out")


def _gone(pid: int) -> bool:
    """True when the process has exited (a zombie awaiting its reaper counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in {"Z", "X"}


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_timeout_kills_the_process_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hung conversion is stopped at the time limit, child processes included."""
    pid_file = tmp_path / "child.pid"
    script = fake_soffice(tmp_path, f"sleep 60 &\necho $! > {pid_file}\nwait\n")
    monkeypatch.setattr(letters, "find_soffice", lambda: str(script))
    source = tmp_path / "carta.docx"
    source.write_bytes(b"PK")
    started = time.monotonic()
    with pytest.raises(LetterError, match=r"no terminó la conversión a PDF en 0\.5 s"):
        convert([source], "pdf", tmp_path / "out", timeout=0.5)
    assert time.monotonic() - started < 10
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child), f"the child {child} survived"
    if not _gone(child):  # pragma: no cover - clean up a survivor
        os.kill(child, 9)
