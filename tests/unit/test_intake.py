"""The MA-001 request form: header matching, row checks, the Spanish report, the blank form."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.mx import rfc as stdnum_rfc

from bot.config import Config, load_config
from bot.documents import blank_form
from bot.documents import intake as intake_module
from bot.documents.intake import (
    COLUMNS,
    HEADER_MAX_CHARS,
    INTAKE_LIMITS,
    MAX_USERS,
    REPORT_MAX_ERRORS,
    Column,
    Intake,
    RowError,
    UserRow,
    column_for,
    header_key,
    parse_intake,
    read_intake,
    report_es,
)
from bot.documents.xlsx import Limits, Sheet, SpreadsheetError, check_xlsx, read_rows

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / blank_form.TEMPLATE_PATH

# Module level rather than a fixture: hypothesis forbids function-scoped fixtures in @given.
CONFIG: Config = load_config(ROOT / "config.toml", {})
ZONES = [zone.name for zone in CONFIG.zones]
HEADERS = ["Nombre completo", "RFC", "Correo electrónico", "Zona", "Paquete"]
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def valid(prefix: str) -> str:
    """A persona física RFC with its check digit (prefix: 12 characters)."""
    return prefix + stdnum_rfc.calc_check_digit(prefix)


RFC_A = valid("LOMA850315H1")  # LOMA850315H1A
RFC_B = valid("RAMS900720AB")  # RAMS900720AB9
RFC_C = valid("PEPJ8001019Q")  # PEPJ8001019QA
RFC_D = valid("SAGR700412MN")
RFC_E = valid("TOHE751102K2")


def form_bytes(
    rows: Sequence[Sequence[object]],
    *,
    title: str | None = "Solicitud de alta de usuarios",
    first_row: int = 3,
    edit: Any = None,
) -> bytes:
    """An .xlsx whose rows start at ``first_row`` under a merged title row."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Usuarios"
    if title is not None:
        sheet["A1"] = title
        sheet.merge_cells("A1:H1")
    for offset, row in enumerate(rows):
        for column, value in enumerate(row, start=1):
            sheet.cell(row=first_row + offset, column=column, value=value)
    if edit is not None:
        edit(workbook)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def sheet_of(rows: Sequence[Sequence[object]], name: str = "Hoja1", **kwargs: Any) -> Sheet:
    """A Sheet as read_rows returns it (cells already normalised)."""
    return Sheet(name, tuple(tuple(row) for row in rows), **kwargs)  # type: ignore[arg-type]


def intake_of(*rows: Sequence[object], headers: Sequence[str] = HEADERS) -> Intake:
    """Parse one sheet: the header row then ``rows``."""
    return parse_intake([sheet_of([headers, *rows])], CONFIG)


# --- a valid file -----------------------------------------------------------------------


def test_valid_file_with_three_users() -> None:
    data = form_bytes(
        [
            [
                "Nombre Completo ",
                " R.F.C.",
                "Correo  Electrónico:",
                "ZONA ",
                "Paquete de Aplicaciones",
                "Promotoría",
                "Puesto",
                "Tipo",
            ],
            [
                "  José Ángel  Pérez Núñez ",
                RFC_C.lower(),
                "Jose.Perez@Example.com ",
                "oaxaca ",
                1.0,
                "Promotoría Oaxaca Centro",
                "Asistente",
                "Alta",
            ],
            [
                "María Fernanda López",
                "LOMA-850315-H1A",
                "maria.lopez@example.com",
                "Estado de México",
                "Paquete 2",
                None,
                " Gerente ",
                "alta de usuario",
            ],
            ["Roberto Sánchez", RFC_B, "roberto@example.com", "CDMX", "P1", None, None, None],
        ]
    )
    intake = read_intake(data, CONFIG)
    assert intake.errors == []
    assert intake.sheet == "Usuarios"
    assert intake.header_row == 3
    assert intake.rows_read == 3
    assert intake.ok
    assert intake.users == [
        UserRow(
            nombre="José Ángel Pérez Núñez",
            rfc=RFC_C,
            correo="jose.perez@example.com",
            zona="Oaxaca",
            paquete=1,
            promotoria="Promotoría Oaxaca Centro",
            puesto="Asistente",
            movimiento="alta",
            row=4,
        ),
        UserRow(
            nombre="María Fernanda López",
            rfc=RFC_A,
            correo="maria.lopez@example.com",
            zona="Edo México",
            paquete=2,
            puesto="Gerente",
            movimiento="alta",
            row=5,
        ),
        UserRow(
            nombre="Roberto Sánchez",
            rfc=RFC_B,
            correo="roberto@example.com",
            zona="CDMX",
            paquete=1,
            row=6,
        ),
    ]
    assert report_es(intake) == (
        "Revisamos el formato de solicitud de usuarios (hoja «Usuarios»): los 3 usuarios están "
        "completos y correctos (2 con Paquete 1 y 1 con Paquete 2). Continuamos con el trámite "
        "y te mantendremos informado."
    )


def test_one_user_report_is_singular() -> None:
    intake = intake_of(["Ana López", RFC_A, "ana@example.com", "Acapulco", 2])
    assert report_es(intake).startswith(
        "Revisamos el formato de solicitud de usuarios (hoja «Hoja1»): el usuario está completo "
        "y correcto (1 con Paquete 2)."
    )


# --- errors -----------------------------------------------------------------------------


def test_every_kind_of_row_error_with_row_and_column() -> None:
    data = form_bytes(
        [
            ["Nombre", "RFC", "Correo", "Zona", "Paquete", "Movimiento"],
            ["Ana López", RFC_A, "ana@example.com", "Acapulco", 1, "Alta"],
            ["Juan Pérez", "PEPJ8001019Q7", "juan@example.com", "CDMX", 1, "Alta"],
            [None, RFC_B, "roberto.example.com", "CDMX", 2, None],
            ["Empresa SA", "MAB9307148T4", "empresa@example.com", "Guadalajara", 1, None],
            ["Carlos Ruiz", "COMG600703", "carlos@example.com", "Oaxaca", 3, None],
            ["Pedro Pérez", valid("PEPJ801301H2"), "pedro@example.com", "Oaxaca", 2, "Cambio"],
            ["Ana L.", RFC_A.lower(), "ANA@example.com", "Acapulco", 1, None],
            ["12345", "PEPJ80010", "ana perez@example.com", None, None, None],
            ["Luis", "PEP18001019QA", "luis@example", "CDMX", "1.5", None],
            ["Rosa", "PEPJ800101001", "rosa@example.com", "CDMX", "Paquete 12", None],
        ],
        title="Formato MA-001",
        first_row=2,
    )
    intake = read_intake(data, CONFIG)
    zonas = "Acapulco, Oaxaca, Edo México, CDMX y Nuevo León"
    valid_zones = f"las zonas válidas son: {zonas}"
    assert intake.header_row == 2
    assert [user.nombre for user in intake.users] == ["Ana López"]
    assert intake.errors == [
        RowError(4, "RFC", "el RFC «PEPJ8001019Q7» no es válido (dígito verificador)"),
        RowError(5, "Nombre", "falta el nombre"),
        RowError(5, "Correo", "el correo «roberto.example.com» no es válido: le falta la @"),
        RowError(
            6,
            "RFC",
            "el RFC «MAB9307148T4» es de persona moral (12 caracteres); para un usuario se "
            "necesita el RFC de persona física, de 13 caracteres con homoclave",
        ),
        RowError(6, "Zona", f"la zona «Guadalajara» no existe; las zonas válidas son: {zonas}"),
        RowError(
            7,
            "RFC",
            "el RFC «COMG600703» no tiene homoclave; escribe el RFC completo, de 13 caracteres",
        ),
        RowError(7, "Paquete", "el paquete «3» no es válido; indica 1 o 2 (Paquete 1 o Paquete 2)"),
        RowError(
            8,
            "RFC",
            f"el RFC «{valid('PEPJ801301H2')}» no es válido (la fecha «801301» no existe; "
            "debe ser AAMMDD)",
        ),
        RowError(8, "Movimiento", "el movimiento «Cambio» no es válido; indica Alta o Baja"),
        RowError(9, "RFC", f"el RFC «{RFC_A}» está repetido: ya aparece en la fila 3"),
        RowError(9, "Correo", "el correo «ana@example.com» está repetido: ya aparece en la fila 3"),
        RowError(10, "Nombre", "«12345» no parece un nombre"),
        RowError(10, "RFC", "el RFC «PEPJ80010» debe tener 13 caracteres (tiene 9)"),
        RowError(10, "Correo", "el correo «ana perez@example.com» no es válido: tiene espacios"),
        RowError(10, "Zona", "falta la zona"),
        RowError(10, "Paquete", "falta el paquete (1 o 2)"),
        RowError(
            11,
            "RFC",
            "el RFC «PEP18001019QA» no es válido (deben ser 4 letras, 6 dígitos de la fecha "
            "de nacimiento y 3 caracteres de homoclave)",
        ),
        RowError(
            11,
            "Correo",
            "el correo «luis@example» no es válido: el dominio «example» está incompleto",
        ),
        RowError(
            11, "Paquete", "el paquete «1.5» no es válido; indica 1 o 2 (Paquete 1 o Paquete 2)"
        ),
        RowError(12, "RFC", "el RFC «PEPJ800101001» no es válido (homoclave)"),
        RowError(
            12,
            "Paquete",
            "el paquete «Paquete 12» no es válido; indica 1 o 2 (Paquete 1 o Paquete 2)",
        ),
    ]
    report = report_es(intake)
    lines = report.splitlines()
    assert lines[0] == (
        "Revisamos el formato de solicitud de usuarios (hoja «Usuarios») y encontramos "
        "21 detalles que es necesario corregir antes de continuar con el trámite:"
    )
    assert "- Fila 4, columna «RFC»: el RFC «PEPJ8001019Q7» no es válido (dígito verificador)." in (
        lines
    )
    assert "- Fila 5, columna «Nombre»: falta el nombre." in lines
    assert f"- Fila 6, columna «Zona»: la zona «Guadalajara» no existe; {valid_zones}." in lines
    assert sum(line.startswith("- Fila ") for line in lines) == 21
    assert (
        "En resumen: de 10 filas con datos, 1 está correcta y 9 requieren corrección. "
        "Las filas correctas no necesitan cambios."
    ) in lines
    assert lines[-1] == (
        "Te agradeceremos corregir el archivo y enviarlo de nuevo respondiendo a este mismo "
        "correo; en cuanto lo recibamos, continuamos con tu solicitud."
    )


def test_single_error_report_is_singular() -> None:
    intake = intake_of(["Ana López", "PEPJ8001019Q7", "ana@example.com", "Acapulco", 1])
    report = report_es(intake)
    assert "encontramos un detalle que" in report
    assert "En resumen: de una fila con datos, ninguna está correcta y 1 requiere corrección." in (
        report
    )


def test_missing_required_column_is_reported_at_the_header_row() -> None:
    data = form_bytes(
        [
            ["Nombre", "RFC", "Zona", "Paquete"],
            ["Ana López", RFC_A, "Acapulco", 1],
            ["Juan Pérez", "PEPJ8001019Q7", "CDMX", 2],
        ]
    )
    intake = read_intake(data, CONFIG)
    assert intake.users == []
    assert intake.errors == [
        RowError(3, "Correo electrónico", "falta esta columna obligatoria en los encabezados"),
        RowError(5, "RFC", "el RFC «PEPJ8001019Q7» no es válido (dígito verificador)"),
    ]
    report = report_es(intake)
    assert (
        "- Fila 3, columna «Correo electrónico»: falta esta columna obligatoria en los encabezados."
    ) in report
    assert "pero falta una columna obligatoria, así que aún no podemos tramitar" in report


def test_no_header_row() -> None:
    intake = parse_intake([sheet_of([["Hola"], ["Les envío los datos"], ["Ana", "x"]])], CONFIG)
    assert intake.header_row == 0
    assert intake.users == []
    assert intake.errors == [
        RowError(
            0,
            "",
            "no encontramos la fila de encabezados del formato; debe tener las columnas "
            "Nombre completo, RFC, Correo electrónico, Zona y Paquete",
        )
    ]
    report = report_es(intake)
    assert "- No encontramos la fila de encabezados del formato" in report
    assert "En resumen: todavía no pudimos revisar a ningún usuario." in report


def test_header_without_users() -> None:
    intake = intake_of()
    assert intake.errors == [
        RowError(1, "", "el formato no tiene usuarios capturados debajo de los encabezados")
    ]
    assert "- Fila 1: el formato no tiene usuarios capturados" in report_es(intake)


def test_empty_rows_are_skipped_and_a_long_run_ends_the_list() -> None:
    empty: list[object] = [None] * 5
    rows: list[list[object]] = [
        ["Ana López", RFC_A, "ana@example.com", "Acapulco", 1],
        empty,
        ["Juan Pérez", RFC_C, "juan@example.com", "CDMX", 2],
        *([empty] * 10),
        ["Nota: favor de tramitar", None, None, None, None],
    ]
    intake = intake_of(*rows)
    assert [user.row for user in intake.users] == [2, 4]
    assert intake.errors == []
    assert intake.rows_read == 2


def test_unknown_columns_do_not_make_a_row_non_empty() -> None:
    intake = intake_of(
        ["Ana López", RFC_A, "ana@example.com", "Acapulco", 1, 1],
        [None, None, None, None, None, 2],
        headers=[*HEADERS, "No."],
    )
    assert len(intake.users) == 1
    assert intake.errors == []


def test_generic_rfcs_are_valid_and_may_repeat() -> None:
    intake = intake_of(
        ["Ana López", "XAXX010101000", "ana@example.com", "Acapulco", 1],
        ["John Smith", "XEXX010101000", "john@example.com", "CDMX", 1],
        ["Luis Díaz", "XAXX010101000", "luis@example.com", "CDMX", 2],
    )
    assert intake.errors == []
    rfcs = [user.rfc for user in intake.users]
    assert rfcs == ["XAXX010101000", "XEXX010101000", "XAXX010101000"]


def user_rows(count: int, rfc: str = RFC_A) -> list[list[object]]:
    """``count`` rows of users, all with the same RFC (so every row after the first has errors)."""
    return [[f"Usuario {i}", rfc, f"u{i}@example.com", "CDMX", 1] for i in range(count)]


def test_too_many_users_are_not_checked_one_by_one() -> None:
    intake = intake_of(*user_rows(MAX_USERS + 1))
    assert intake.users == []
    assert intake.rows_read == MAX_USERS + 1
    assert intake.errors == [
        RowError(
            0,
            "",
            f"el archivo tiene {MAX_USERS + 1} usuarios y una solicitud admite como máximo "
            f"{MAX_USERS}; por favor divide la lista en archivos de hasta {MAX_USERS} usuarios: "
            "envía el primero respondiendo a este correo y cada uno de los demás en un correo "
            "nuevo",
        )
    ]
    report = report_es(intake)
    assert f"- El archivo tiene {MAX_USERS + 1} usuarios y una solicitud admite" in report
    assert (
        "En resumen: no revisamos a los usuarios uno por uno; lo haremos cuando cada archivo "
        f"tenga como máximo {MAX_USERS}."
    ) in report
    assert len(report) < 1_000


def test_the_users_are_counted_to_the_end_of_the_list() -> None:
    empty: list[object] = [None] * 5
    rows = [*user_rows(600), empty, *user_rows(40, RFC_C), *([empty] * 10), *user_rows(5)]
    intake = intake_of(*rows)
    assert intake.rows_read == 640
    assert "el archivo tiene 640 usuarios" in intake.errors[0].message


def test_a_missing_column_is_still_reported_with_too_many_users() -> None:
    rows = [row[:4] for row in user_rows(MAX_USERS + 1)]
    intake = intake_of(*rows, headers=HEADERS[:4])
    assert [(error.row, error.column) for error in intake.errors] == [(1, "Paquete"), (0, "")]


def test_exactly_max_users_are_checked() -> None:
    rows = user_rows(MAX_USERS)
    rows[-1][2] = "sin arroba"
    intake = intake_of(*rows)
    assert intake.rows_read == MAX_USERS
    # The RFC repeated in every row but the first, and the bad e-mail of the last one.
    assert len(intake.errors) == MAX_USERS
    assert intake.errors[-1].message == "el correo «sin arroba» no es válido: le falta la @"


def test_the_report_lists_the_first_errors_only() -> None:
    intake = intake_of(*user_rows(61))
    assert len(intake.errors) == 60
    lines = report_es(intake).splitlines()
    assert lines[0].endswith(
        "encontramos 60 detalles que es necesario corregir antes de continuar con el trámite:"
    )
    details = [line for line in lines if line.startswith("- ")]
    assert len(details) == REPORT_MAX_ERRORS + 1
    last_row = REPORT_MAX_ERRORS + 2  # the header is row 1, the first user (no error) row 2
    assert details[-2] == (
        f"- Fila {last_row}, columna «RFC»: el RFC «{RFC_A}» está repetido: "
        "ya aparece en la fila 2."
    )
    assert details[-1] == (
        "- … y 10 detalles más que no listamos aquí. Por favor revisa el archivo completo, no solo "
        "las filas de esta lista."
    )
    assert lines[-1].startswith("Te agradeceremos corregir el archivo")


@pytest.mark.parametrize(
    ("errors", "more"),
    [(REPORT_MAX_ERRORS, None), (REPORT_MAX_ERRORS + 1, "- … y un detalle más ")],
)
def test_the_report_cap_is_exact(errors: int, more: str | None) -> None:
    intake = intake_of(*user_rows(errors + 1))
    assert len(intake.errors) == errors
    details = [line for line in report_es(intake).splitlines() if line.startswith("- ")]
    if more is None:
        assert len(details) == errors
    else:
        assert len(details) == REPORT_MAX_ERRORS + 1
        assert details[-1].startswith(more)


def test_a_cell_longer_than_any_header_is_not_one() -> None:
    longest = "Nombre completo".ljust(HEADER_MAX_CHARS)
    found = intake_of(
        ["Ana López", RFC_A, "ana@example.com", "Acapulco", 1], headers=[longest, *HEADERS[1:]]
    )
    assert found.errors == []
    skipped = intake_of(
        ["Ana López", RFC_A, "ana@example.com", "Acapulco", 1],
        headers=[longest + " ", *HEADERS[1:]],
    )
    assert skipped.errors == [
        RowError(1, "Nombre completo", "falta esta columna obligatoria en los encabezados")
    ]


def test_long_cells_are_not_folded_when_looking_for_the_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folded: list[int] = []
    real = intake_module.column_for

    def spy(header: str) -> Column | None:
        """column_for, remembering how long a text it was given."""
        folded.append(len(header))
        return real(header)

    monkeypatch.setattr(intake_module, "column_for", spy)
    rows = [["x" * 1_000_000, "y" * 300], *([["otra nota"]] * 60)]
    intake = parse_intake([sheet_of(rows)], CONFIG)
    assert intake.header_row == 0
    assert folded and max(folded) <= HEADER_MAX_CHARS


def test_the_form_is_read_under_its_own_limits() -> None:
    """read_rows accepts a grid of 130,000 cells; a request form may not hold one."""
    data = form_bytes(
        [HEADERS, ["Ana López", RFC_A, "ana@example.com", "Acapulco", 1]],
        edit=lambda workbook: workbook.active.cell(row=5000, column=26, value="x"),
    )
    read_rows(data)
    with pytest.raises(SpreadsheetError) as caught:
        read_intake(data, CONFIG)
    assert caught.value.kind == "too_many_cells"
    assert "demasiados datos" in caught.value.reason_es
    assert INTAKE_LIMITS.max_cells < Limits().max_cells
    assert INTAKE_LIMITS.max_text < Limits().max_text
    assert INTAKE_LIMITS.max_uncompressed < Limits().max_uncompressed


def test_the_form_text_limit_counts_inline_strings() -> None:
    """Six million characters of inline text: fine for read_rows, too much for a form."""
    cells = "".join(
        f'<row r="{row}"><c r="A{row}" t="inlineStr"><is><t>{"x" * 30_000}</t></is></c></row>'
        for row in range(1, 201)
    )
    sheet = f'<worksheet xmlns="{NS}"><sheetData>{cells}</sheetData></worksheet>'
    source = zipfile.ZipFile(io.BytesIO(form_bytes([HEADERS])))
    out = io.BytesIO()
    with source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename == "xl/worksheets/sheet1.xml":
                # Stored: that much repeated text would otherwise be refused for its ratio.
                target.writestr(info.filename, sheet, compress_type=zipfile.ZIP_STORED)
            else:
                target.writestr(info.filename, source.read(info))
    data = out.getvalue()
    check_xlsx(data)
    with pytest.raises(SpreadsheetError) as caught:
        read_intake(data, CONFIG)
    assert caught.value.kind == "too_much_text"


# --- synonyms and tolerant values -------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        ["Nombre del usuario", "RFC con homoclave", "E-mail", "Zona comercial", "Paquete (1 o 2)"],
        ["NOMBRE(S)", "rfc", "EMAIL", "zona", "PAQUETE SOLICITADO"],
        ["nombre completo:", "R F C", "Mail", "Zona*", "Paquete de apps"],
        ["Nombre", "Registro Federal de Contribuyentes", "Dirección de correo", "Zona", "Paquete"],
    ],
)
def test_header_synonyms(headers: list[str]) -> None:
    intake = intake_of(["Ana López", RFC_A, "ana@example.com", "Acapulco", 1], headers=headers)
    assert intake.errors == []
    assert intake.users[0].correo == "ana@example.com"


def test_surnames_are_joined_to_the_name() -> None:
    intake = intake_of(
        ["Ana María", "López", "Mares", RFC_A, "ana@example.com", "Acapulco", 1, "Cobranza", "B"],
        ["Luis", "Díaz", None, RFC_C, "luis@example.com", "CDMX", 2, None, None],
        headers=[
            "Nombre(s)",
            "Apellido Paterno",
            "Apellido Materno",
            "RFC",
            "Correo",
            "Zona",
            "Paquete",
            "Cargo",
            "Tipo de movimiento",
        ],
    )
    assert intake.errors == []
    first, second = intake.users
    assert (first.nombre, first.puesto, first.movimiento) == (
        "Ana María López Mares",
        "Cobranza",
        "baja",
    )
    assert second.nombre == "Luis Díaz"


def test_the_file_header_is_quoted_in_errors() -> None:
    intake = intake_of(
        ["Ana López", "PEPJ8001019Q7", "ana@example.com", "Acapulco", 1],
        headers=["Nombre  del   usuario", "R.F.C.", "E-mail", "ZONA", "Paquete (1 o 2)"],
    )
    assert intake.errors[0].column == "R.F.C."
    assert "columna «R.F.C.»" in report_es(intake)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1),
        (2, 2),
        ("1", 1),
        (" 2 ", 2),
        ("1.0", 1),
        ("Paquete 1", 1),
        ("PAQUETE 2", 2),
        ("P1", 1),
        ("p 2", 2),
        ("Paq. 2", 2),
        ("Paquete #1", 1),
        ("Paquete No. 2", 2),
        ("paquete uno", 1),
        ("Dos", 2),
    ],
)
def test_package_values(value: object, expected: int) -> None:
    intake = intake_of(["Ana López", RFC_A, "ana@example.com", "Acapulco", value])
    assert intake.errors == []
    assert intake.users[0].paquete == expected


@pytest.mark.parametrize("value", [0, 3, 1.5, "3", "Paquete 3", "P12", "básico", True])
def test_invalid_package_values(value: object) -> None:
    intake = intake_of(["Ana López", RFC_A, "ana@example.com", "Acapulco", value])
    assert [error.column for error in intake.errors] == ["Paquete"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("oaxaca", "Oaxaca"),
        ("EDO. MÉX.", "Edo México"),
        ("Estado de México", "Edo México"),
        ("Edomex", "Edo México"),
        ("Ciudad de México", "CDMX"),
        ("Cd. de México", "CDMX"),
        ("cdmx", "CDMX"),
        ("Zona Acapulco", "Acapulco"),
        ("nuevo leon", "Nuevo León"),
    ],
)
def test_zone_names_are_matched_tolerantly(value: str, expected: str) -> None:
    intake = intake_of(["Ana López", RFC_A, "ana@example.com", value, 1])
    assert intake.errors == []
    assert intake.users[0].zona == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Alta", "alta"),
        ("ALTA", "alta"),
        ("A", "alta"),
        ("Baja", "baja"),
        ("baja definitiva", "baja"),
    ],
)
def test_movement_values(value: str, expected: str) -> None:
    intake = intake_of(
        ["Ana López", RFC_A, "ana@example.com", "Acapulco", 1, value],
        headers=[*HEADERS, "Movimiento"],
    )
    assert intake.users[0].movimiento == expected


# --- sheets -----------------------------------------------------------------------------


def test_hidden_sheets_are_not_read_but_noted() -> None:
    def hide(workbook: Any) -> None:
        """An older, hidden copy of the form with a bad row."""
        hidden = workbook.create_sheet("Anterior")
        hidden.sheet_state = "hidden"
        hidden.append(HEADERS)
        hidden.append(["Viejo Usuario", "PEPJ8001019Q7", "x", "y", 9])

    data = form_bytes([HEADERS, ["Ana López", RFC_A, "ana@example.com", "Acapulco", 1]], edit=hide)
    intake = read_intake(data, CONFIG)
    assert intake.errors == []
    assert intake.notes == ["el archivo tiene hojas ocultas que no se revisaron: «Anterior»"]
    assert report_es(intake).endswith(
        "Nota: el archivo tiene hojas ocultas que no se revisaron: «Anterior»."
    )


def test_header_only_in_a_hidden_sheet() -> None:
    sheets = [
        sheet_of([["Instrucciones"]], "Portada"),
        sheet_of(
            [HEADERS, ["Ana", RFC_A, "a@example.com", "CDMX", 1]], "Datos", visibility="hidden"
        ),
    ]
    intake = parse_intake(sheets, CONFIG)
    assert intake.errors == [
        RowError(
            0,
            "",
            "los encabezados del formato están en la hoja oculta «Datos»; por favor muéstrala o "
            "copia los datos a una hoja visible",
        )
    ]


def test_first_visible_sheet_with_headers_is_used_and_others_noted() -> None:
    sheets = [
        sheet_of([["Portada"]], "Portada"),
        sheet_of([HEADERS, ["Ana López", RFC_A, "ana@example.com", "CDMX", 1]], "Altas"),
        sheet_of([HEADERS, ["Luis Díaz", RFC_C, "luis@example.com", "CDMX", 1]], "Bajas"),
    ]
    intake = parse_intake(sheets, CONFIG)
    assert intake.sheet == "Altas"
    assert [user.nombre for user in intake.users] == ["Ana López"]
    assert intake.notes == [
        "la hoja «Bajas» también parece tener usuarios y no se revisó; solo se revisó la hoja "
        "«Altas»"
    ]


def test_formula_cells_use_their_cached_value() -> None:
    """A user-file formula is never evaluated; with no cached value the cell is empty."""

    def formulas(workbook: Any) -> None:
        """The RFC written as a formula (openpyxl stores no cached value)."""
        workbook.active["B4"] = '=CONCATENATE("LOMA","850315H1A")'

    data = form_bytes(
        [HEADERS, ["Ana López", None, "ana@example.com", "Acapulco", 1]], edit=formulas
    )
    intake = read_intake(data, CONFIG)
    assert intake.errors == [RowError(4, "RFC", "falta el RFC")]


# --- header matcher properties ----------------------------------------------------------

_ACCENTS = {"a": "áàä", "e": "éè", "i": "íï", "o": "óö", "u": "úü", "n": "ñ"}
SYNONYMS = [(synonym, column.key) for column in COLUMNS for synonym in column.synonyms]


@st.composite
def disguised(draw: st.DrawFn) -> tuple[str, str]:
    """A known header with random accents, case, spacing and punctuation; and its column."""
    synonym, key = draw(st.sampled_from(SYNONYMS))
    out = [draw(st.sampled_from(["", " ", "  ", "\t"]))]
    for character in synonym:
        if character == " ":
            out.append(draw(st.sampled_from([" ", "  ", "", " - ", "_", "/", ". "])))
            continue
        if character in _ACCENTS and draw(st.booleans()):
            character = draw(st.sampled_from(_ACCENTS[character]))
        out.append(character.upper() if draw(st.booleans()) else character)
    out.append(draw(st.sampled_from(["", " ", ":", "*", " (obligatorio)", ".", " :"])))
    return "".join(out), key


@settings(max_examples=300, deadline=None)
@given(disguised())
def test_disguised_headers_still_match(case: tuple[str, str]) -> None:
    header, key = case
    column = column_for(header)
    assert column is not None, header
    assert column.key == key


def test_synonym_keys_do_not_collide() -> None:
    keys = [header_key(synonym) for synonym, _key in SYNONYMS]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(
    "text", ["Solicitud de alta/baja de usuarios MetLife", "Observaciones", "No.", "Fecha", ""]
)
def test_other_texts_are_not_headers(text: str) -> None:
    assert column_for(text) is None


# --- the blank form ---------------------------------------------------------------------


def describe(data: bytes) -> dict[str, object]:
    """What must not drift in the blank form: texts, headers, validations, protection."""
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    sheet = workbook.active
    header_row = blank_form.HEADER_ROW
    return {
        "sheets": workbook.sheetnames,
        "title": sheet["A1"].value,
        "instructions": sheet["A2"].value,
        "headers": [cell.value for cell in sheet[header_row]],
        "bold_headers": all(cell.font.b for cell in sheet[header_row]),
        "merged": sorted(str(cells) for cells in sheet.merged_cells.ranges),
        "validations": sorted(
            (v.type, v.formula1, str(v.sqref), v.showErrorMessage)
            for v in sheet.data_validations.dataValidation
        ),
        "freeze": sheet.freeze_panes,
        "protected": sheet.protection.sheet,
        "widths": {letter: dim.width for letter, dim in sorted(sheet.column_dimensions.items())},
        "unlocked": sorted(
            cell.coordinate
            for row in sheet.iter_rows()
            for cell in row
            if not cell.protection.locked
        ),
        "formulas": [
            cell.coordinate for row in sheet.iter_rows() for cell in row if cell.data_type == "f"
        ],
    }


def test_committed_blank_form_matches_the_generator(tmp_path: Path) -> None:
    output = tmp_path / "solicitud_usuarios.xlsx"
    blank_form.write_blank_form(output, ZONES)
    committed = describe(TEMPLATE.read_bytes())
    assert committed == describe(output.read_bytes())
    # Fixed timestamps: rebuilding an unchanged form gives the same bytes.
    assert output.read_bytes() == blank_form.build_blank_form(ZONES)


def test_blank_form_layout() -> None:
    form = describe(TEMPLATE.read_bytes())
    assert form["title"] == "Solicitud de alta/baja de usuarios MetLife"
    assert form["headers"] == [
        "Nombre completo",
        "RFC",
        "Correo electrónico",
        "Zona",
        "Paquete",
        "Promotoría",
        "Puesto",
        "Movimiento",
    ]
    assert form["bold_headers"] is True
    assert form["freeze"] == "A4"
    assert form["protected"] is True
    assert form["formulas"] == []
    assert form["validations"] == [
        ("list", '"1,2"', "E4:E203", True),
        ("list", '"Acapulco,Oaxaca,Edo México,CDMX,Nuevo León"', "D4:D203", True),
        ("list", '"Alta,Baja"', "H4:H203", True),
    ]
    unlocked = form["unlocked"]
    assert isinstance(unlocked, list)
    assert len(unlocked) == 8 * blank_form.DATA_ROWS
    assert "A3" not in unlocked and "A4" in unlocked and "H203" in unlocked
    # Every header of the form is one the intake recognises.
    headers = form["headers"]
    assert isinstance(headers, list)
    assert all(column_for(str(header)) is not None for header in headers)


def test_blank_form_is_safe_and_has_no_users_yet() -> None:
    data = TEMPLATE.read_bytes()
    check_xlsx(data)
    intake = read_intake(data, CONFIG)
    assert intake.header_row == blank_form.HEADER_ROW
    assert intake.errors == [
        RowError(3, "", "el formato no tiene usuarios capturados debajo de los encabezados")
    ]


def test_filled_copy_of_the_blank_form_is_parsed() -> None:
    workbook = openpyxl.load_workbook(TEMPLATE)
    sheet = workbook.active
    users = [
        [
            "Ana López Mares",
            RFC_A,
            "ana.lopez@example.com",
            "Edo México",
            1,
            "Promotoría Toluca",
            "Asistente",
            "Alta",
        ],
        ["Luis Díaz", RFC_E, "luis.diaz@example.com", "Nuevo León", 2, None, None, "Baja"],
    ]
    for offset, values in enumerate(users):
        for column, value in enumerate(values, start=1):
            sheet.cell(row=blank_form.HEADER_ROW + 1 + offset, column=column, value=value)
    buffer = io.BytesIO()
    workbook.save(buffer)
    intake = read_intake(buffer.getvalue(), CONFIG)
    assert intake.errors == []
    assert [(u.nombre, u.zona, u.paquete, u.movimiento, u.row) for u in intake.users] == [
        ("Ana López Mares", "Edo México", 1, "alta", 4),
        ("Luis Díaz", "Nuevo León", 2, "baja", 5),
    ]


@pytest.mark.parametrize(
    "zones", [[], ["Norte, Sur"], ['Zona "A"'], [" "], [f"Zona {i:03d}" for i in range(40)]]
)
def test_blank_form_refuses_zone_lists_excel_cannot_hold(zones: list[str]) -> None:
    with pytest.raises(ValueError):
        blank_form.build_blank_form(zones)


def test_blank_form_main_writes_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "excel" / "form.xlsx"
    assert blank_form.main([str(ROOT / "config.toml"), str(output)]) == 0
    assert output.read_bytes() == TEMPLATE.read_bytes()
    assert "5 zones" in capsys.readouterr().out
    assert blank_form.main([str(tmp_path / "missing.toml"), str(output)]) == 2
