"""Letters: committed templates, escaping of hostile values, dates, secrecy, soffice; responsiva."""

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
from typing import Any, Literal

import docx
import pytest
from docx.shared import Inches
from docxtpl import DocxTemplate

from bot.config import Organization, Person
from bot.documents import letters
from bot.documents.intake import UserRow
from bot.documents.letter_templates import build_responsiva
from bot.documents.letters import (
    CustodyContext,
    DirectorLetterContext,
    LetterError,
    ResponsivaContext,
    ResponsivaCounts,
    convert,
    custody_context,
    director_context,
    find_soffice,
    letter_template,
    local_date,
    render_letter,
    responsiva_context,
    responsiva_counts,
    spanish_list,
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
RESPONSIVA_VARIABLES = {
    "organization",
    "place",
    "date",
    "year",
    "case_ref",
    "director_name",
    "director_title",
    "metlife_contact",
    "applications_text",
    "file_name",
    "apps",
    "total",
    "active",
    "removed",
}
EXPECTED_VARIABLES = {
    "autorizacion": DIRECTOR_VARIABLES,
    "baja": DIRECTOR_VARIABLES,
    "custodia": {"organization", "place", "date", "case_ref", "user", "username", "password"},
    "responsiva": RESPONSIVA_VARIABLES,
}
CONTEXT_TYPES: dict[str, Any] = {
    "autorizacion": DirectorLetterContext,
    "baja": DirectorLetterContext,
    "custodia": CustodyContext,
    "responsiva": ResponsivaContext,
}
MA001_KINDS = ["autorizacion", "baja", "custodia"]
USER_HEADERS = ["Nombre", "RFC", "Correo electrónico", "Zona", "Paquete"]
APP_HEADERS = ["Aplicación", "Usuarios", "Activos", "Bajas"]

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
    movement: Literal["alta", "baja"] = "alta" if kind == "autorizacion" else "baja"
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
    assert set(CONTEXT_TYPES[kind].__annotations__) == EXPECTED_VARIABLES[kind]


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


@pytest.mark.parametrize("kind", MA001_KINDS)
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


# --- the carta responsiva (MA-005) ------------------------------------------------------

APPS = [("B'Life", 10, 2), ("Pro99", 1, 0), ("Gestión Móvil", 0, 1)]
CONTACT = "Lic. Ana O'Hara & <Equipo>"
FILE_NAME = 'recertificación 2026 <final> & "v2".xlsx'
RESPONSIVA_REF = "MA-005 #7 <&>"


def hostile_responsiva(apps: Any = APPS, **changes: Any) -> ResponsivaContext:
    """A responsiva context with hostile values."""
    arguments: dict[str, Any] = {
        "org": ORG,
        "director": DIRECTOR,
        "metlife_contact": CONTACT,
        "apps": apps,
        "file_name": FILE_NAME,
        "today": TODAY,
        "case_ref": RESPONSIVA_REF,
    }
    return responsiva_context(**{**arguments, **changes})


def rendered_responsiva(apps: Any = APPS) -> bytes:
    """The committed responsiva template filled with hostile values."""
    return render_letter(letter_template("responsiva"), hostile_responsiva(apps))


def with_cells(data: bytes, changes: dict[tuple[int, int], str]) -> bytes:
    """A rendered letter with some cells of its first table rewritten, as in Word."""
    document = docx.Document(io.BytesIO(data))
    table = document.tables[0]
    for (row, column), text in changes.items():
        table.rows[row].cells[column].text = text
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_responsiva_template_layout() -> None:
    """Letterhead, date, MetLife with the contact, subject, apps table with totals, signature."""
    document = docx.Document(str(letter_template("responsiva")))
    section = document.sections[0]
    assert (section.page_width, section.page_height) == (Inches(8.5), Inches(11))
    header = "\n".join(p.text for p in section.header.paragraphs)
    assert "{{ organization }}" in header and "Mesa de Ayuda N1" in header
    assert "{{ case_ref }}" in "\n".join(p.text for p in section.footer.paragraphs)
    body = [p.text for p in document.paragraphs]
    assert "{{ place }}, a {{ date }}" in body
    assert "Asunto: Carta responsiva: recertificación anual de usuarios {{ year }}" in body
    assert body.index("MetLife México, S.A.") + 1 == body.index("Atención: {{ metlife_contact }}")
    signature = body[body.index("Atentamente,") + 2 :]
    assert signature == [
        "{{ director_name }}",
        "{{ director_title }}",
        "Representante legal",
        "{{ organization }}",
    ]
    [table] = document.tables
    rows = [[cell.text for cell in row.cells] for row in table.rows]
    assert rows[0] == APP_HEADERS
    assert rows[1][0] == "{%tr for a in apps %}"
    assert rows[2] == ["{{ a.name }}", "{{ a.total }}", "{{ a.active }}", "{{ a.removed }}"]
    assert rows[3][0] == "{%tr endfor %}"
    assert rows[4] == ["Total", "{{ total }}", "{{ active }}", "{{ removed }}"]
    assert table.rows[0]._tr.find(f"{W}trPr/{W}tblHeader") is not None
    assert document.core_properties.keywords == "MA-005"


def test_responsiva_builder_is_deterministic() -> None:
    """Rebuilding the template gives the same bytes."""
    assert build_responsiva() == build_responsiva()


def test_responsiva_escapes_hostile_values() -> None:
    """The organization "Pérez & Hijos <SA>" and the other values survive, in valid XML."""
    data = rendered_responsiva()
    raw = "".join(parts(data).values())
    assert "&lt;SA&gt;" in raw and "&amp;" in raw
    assert "<SA>" not in raw and "<Equipo>" not in raw and "<final>" not in raw
    text = letter_text(data)
    assert not re.search(r"\{[{%#]|[}%#]\}", text)
    for value in [ORG_NAME, DIRECTOR.name, CONTACT, FILE_NAME, RESPONSIVA_REF, DATE_LINE]:
        assert value in text, value
    assert "Asunto: Carta responsiva: recertificación anual de usuarios 2026" in text
    assert f"Atención: {CONTACT}" in text
    assert (
        f"Por medio de la presente, {ORG_NAME}, por conducto de su representante legal, "
        "hace constar que, como parte de la recertificación anual de usuarios 2026, revisó "
        "a los usuarios que tienen acceso a B'Life, Pro99 y Gestión Móvil." in text
    )
    assert (
        f"el archivo adjunto “{FILE_NAME}” contiene la relación de 14 usuarios con su "
        "estatus final: 11 con estatus de activo, cuyo acceso se mantiene, y 3 con estatus "
        "de baja" in text
    )
    assert "Representante legal" in text
    rows = [
        [cell.text for cell in row.cells] for row in docx.Document(io.BytesIO(data)).tables[0].rows
    ]
    assert rows == [
        APP_HEADERS,
        ["B'Life", "12", "10", "2"],
        ["Pro99", "1", "1", "0"],
        ["Gestión Móvil", "1", "0", "1"],
        ["Total", "14", "11", "3"],
    ]


def test_responsiva_one_user_is_singular() -> None:
    """One user in all: "1 usuario", not "1 usuarios"."""
    text = letter_text(rendered_responsiva([("Pro99", 1, 0)]))
    assert "la relación de 1 usuario con su estatus final" in text
    assert "tienen acceso a Pro99." in text


def test_responsiva_context() -> None:
    """Names cleaned, totals computed, the year and long date from today."""
    context = hostile_responsiva(
        [(" B'Life\x0b ", 10, 2), ("Pro99", 1, 0), ("Gestión  Móvil", 0, 1)]
    )
    assert set(context) == RESPONSIVA_VARIABLES
    assert context["apps"] == [
        {"name": "B'Life", "total": 12, "active": 10, "removed": 2},
        {"name": "Pro99", "total": 1, "active": 1, "removed": 0},
        {"name": "Gestión Móvil", "total": 1, "active": 0, "removed": 1},
    ]
    assert (context["total"], context["active"], context["removed"]) == (14, 11, 3)
    assert context["applications_text"] == "B'Life, Pro99 y Gestión Móvil"
    assert (context["year"], context["date"]) == (2026, "23 de noviembre de 2026")
    assert context["director_title"] == "Director General"
    assert context["place"] == "Ciudad de México"
    other = hostile_responsiva(director_title="Apoderado", place="Monterrey")
    assert (other["director_title"], other["place"]) == ("Apoderado", "Monterrey")


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], ""),
        (["B'Life"], "B'Life"),
        (["B'Life", "Pro99"], "B'Life y Pro99"),
        (["B'Life", "Pro99", "Gestión Móvil"], "B'Life, Pro99 y Gestión Móvil"),
        (["Pro99", "Intranet"], "Pro99 e Intranet"),
        (["Pro99", "Ícaro"], "Pro99 e Ícaro"),
        (["Pro99", "Hidalgo"], "Pro99 e Hidalgo"),
        (["Pro99", "hielo"], "Pro99 y hielo"),
        (["Pro99", "iPad"], "Pro99 y iPad"),
        (["Intranet", "Pro99"], "Intranet y Pro99"),
    ],
)
def test_spanish_list(items: list[str], expected: str) -> None:
    """Commas, then "y" (or "e" before an /i/ sound) before the last item."""
    assert spanish_list(items) == expected


@pytest.mark.parametrize(
    ("apps", "changes", "error", "match"),
    [
        ([], {}, ValueError, "at least one application"),
        ([("Pro99", -1, 0)], {}, ValueError, "Pro99: active users must not be negative"),
        ([("Pro99", 1, -2)], {}, ValueError, "Pro99: removed users must not be negative"),
        ([("Pro99", 1, 0), ("pro99", 2, 0)], {}, ValueError, "listed twice"),
        ([(" \x00 ", 1, 0)], {}, ValueError, "empty application name"),
        ([("Pro99", 1.0, 0)], {}, TypeError, "must be an int"),
        ([("Pro99", True, 0)], {}, TypeError, "must be an int"),
        (APPS, {"metlife_contact": "  "}, ValueError, "MetLife contact is empty"),
        (APPS, {"file_name": ""}, ValueError, "file name is empty"),
        (APPS, {"today": datetime(2026, 11, 23, 12, tzinfo=UTC)}, TypeError, "local_date"),
    ],
)
def test_responsiva_context_checks(
    apps: Any, changes: dict[str, Any], error: type[Exception], match: str
) -> None:
    """Empty lists, negative or non-integer counts, repeated or empty names are refused."""
    with pytest.raises(error, match=match):
        hostile_responsiva(apps, **changes)


def test_responsiva_counts_match_the_context() -> None:
    """The counts read back from the rendered table are the ones given."""
    counts = responsiva_counts(rendered_responsiva())
    assert counts == ResponsivaCounts(
        total=14,
        active=11,
        removed=3,
        apps={"B'Life": (10, 2), "Pro99": (1, 0), "Gestión Móvil": (0, 1)},
    )
    assert list(counts.apps) == ["B'Life", "Pro99", "Gestión Móvil"]
    assert hash(counts) == hash(dataclasses.replace(counts, apps={}))
    with pytest.raises(TypeError):
        counts.apps["Pro99"] = (0, 0)  # type: ignore[index]
    single = responsiva_counts(rendered_responsiva([("Pro99", 0, 0)]))
    assert (single.total, single.active, single.removed, dict(single.apps)) == (
        0,
        0,
        0,
        {"Pro99": (0, 0)},
    )


def test_responsiva_counts_come_from_the_table() -> None:
    """A table edited in Word is what counts; the body text's numbers are not read."""
    data = rendered_responsiva()
    document = docx.Document(io.BytesIO(data))
    for paragraph in document.paragraphs:
        if "contiene la relación" in paragraph.text:
            paragraph.text = "contiene la relación de 999 usuarios"
    buffer = io.BytesIO()
    document.save(buffer)
    edited = with_cells(
        buffer.getvalue(),
        {(2, 1): "1,000", (2, 2): "1000", (4, 1): "1,013", (4, 2): "1,010"},
    )
    counts = responsiva_counts(edited)
    assert (counts.total, counts.active, counts.removed) == (1013, 1010, 3)
    assert counts.apps["Pro99"] == (1000, 0)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({(2, 1): "2"}, "Pro99 suma 1 activos y 0 bajas, pero indica 2 usuarios"),
        ({(4, 2): "12", (4, 1): "15"}, "no coincide con la suma de las aplicaciones"),
        ({(2, 2): "uno"}, "cantidad no válida en Pro99: 'uno'"),
        ({(3, 0): "B'Life"}, "aplicación vacía o repetida"),
        ({(4, 0): "Suma"}, "terminar con la fila «Total»"),
        ({(0, 0): "App"}, "no tiene la tabla de usuarios por aplicación"),
    ],
)
def test_responsiva_counts_refuse_inconsistent_tables(
    changes: dict[tuple[int, int], str], match: str
) -> None:
    """A table whose rows do not add up, or that cannot be read, gives a Spanish LetterError."""
    with pytest.raises(LetterError, match=match):
        responsiva_counts(with_cells(rendered_responsiva(), changes))


def test_responsiva_counts_need_a_responsiva() -> None:
    """Another letter, or bytes that are not a .docx, give a LetterError."""
    other = render_letter(letter_template("autorizacion"), hostile_director("autorizacion"))
    with pytest.raises(LetterError, match="no tiene la tabla"):
        responsiva_counts(other)
    with pytest.raises(LetterError, match=r"no es un documento de Word \(\.docx\) válido"):
        responsiva_counts(b"no es un docx")
