"""Hostile .xlsx files are refused before any parser opens them; safe ones read normalised."""

from __future__ import annotations

import datetime as dt
import io
import random
import string
import struct
import tracemalloc
import warnings
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest

from bot.documents.xlsx import (
    OLE2_MAGIC,
    Limits,
    Sheet,
    UnreadableSpreadsheet,
    UnsafeSpreadsheet,
    check_xlsx,
    normalize_cell,
    read_rows,
)

MAIN_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
SHEET = "xl/worksheets/sheet1.xml"
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


# --- builders ---------------------------------------------------------------------------


def workbook_bytes(fill: Callable[[Any], None] | None = None) -> bytes:
    """A small workbook written by openpyxl; ``fill`` edits the workbook first."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Datos"
    sheet.append(["Nombre", "RFC", "Paquete"])
    sheet.append(["Ana López", "LOMA850315H1A", 1])
    if fill is not None:
        fill(workbook)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def rezip(
    data: bytes,
    *,
    replace: dict[str, bytes] | None = None,
    add: dict[str, bytes] | None = None,
) -> bytes:
    """The same archive with some entries replaced and others added."""
    replace = replace or {}
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, replace.get(info.filename, source.read(info)))
        for name, content in (add or {}).items():
            target.writestr(name, content)
    return out.getvalue()


def entry(data: bytes, name: str) -> bytes:
    """One entry's content."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(name)


def with_content_type(data: bytes, old: str, new: str) -> bytes:
    """The archive with one text replaced in [Content_Types].xml."""
    types = entry(data, "[Content_Types].xml").decode()
    assert old in types
    return rezip(data, replace={"[Content_Types].xml": types.replace(old, new).encode()})


def with_sheet_xml(data: bytes, sheet_data: str) -> bytes:
    """The archive with the first worksheet's <sheetData> content replaced."""
    xml = f'<worksheet xmlns="{NS}"><sheetData>{sheet_data}</sheetData></worksheet>'
    return rezip(data, replace={SHEET: xml.encode()})


def with_shared_strings(data: bytes, strings: list[str], sheet_data: str) -> bytes:
    """The archive with a shared-string table and a worksheet that refers to it."""
    items = "".join(f"<si><t>{text}</t></si>" for text in strings)
    sst = f'<sst xmlns="{NS}" count="{len(strings)}" uniqueCount="{len(strings)}">{items}</sst>'
    types = (
        entry(data, "[Content_Types].xml")
        .decode()
        .replace(
            "</Types>",
            '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        )
    )
    rels = (
        entry(data, "xl/_rels/workbook.xml.rels")
        .decode()
        .replace(
            "</Relationships>",
            '<Relationship Id="rIdSst" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        )
    )
    xml = f'<worksheet xmlns="{NS}"><sheetData>{sheet_data}</sheetData></worksheet>'
    return rezip(
        data,
        replace={
            "[Content_Types].xml": types.encode(),
            "xl/_rels/workbook.xml.rels": rels.encode(),
            SHEET: xml.encode(),
        },
        add={"xl/sharedStrings.xml": sst.encode()},
    )


def deflate(content: bytes) -> bytes:
    """A raw deflate stream, as zip stores it."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(content) + compressor.flush()


def local_header(name: bytes, method: int, crc: int, stored: int, size: int) -> bytes:
    """A local file header (version 2.0, no flags, no extra field)."""
    fields = (b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, stored, size, len(name), 0)
    return struct.pack("<4sHHHHHIIIHH", *fields) + name


def central_header(
    name: bytes, method: int, crc: int, stored: int, size: int, offset: int
) -> bytes:
    """A central directory record pointing at a local header."""
    fields = (b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc, stored, size, len(name))
    tail = (0, 0, 0, 0, 0, offset)
    return struct.pack("<4sHHHHHHIIIHHHHHII", *fields, *tail) + name


# Every size, CRC and offset is taken as given so that the archive can lie; ``offsets``
# overrides where each central record says its local header is.
def raw_zip(
    entries: list[tuple[str, bytes, int, int, int]], *, offsets: list[int] | None = None
) -> bytes:
    """A zip written by hand: (name, stored bytes, method, crc, declared size) per entry."""
    body = b""
    central = b""
    for index, (name, raw, method, crc, size) in enumerate(entries):
        encoded = name.encode()
        offset = len(body) if offsets is None else offsets[index]
        body += local_header(encoded, method, crc, len(raw), size) + raw
        central += central_header(encoded, method, crc, len(raw), size, offset)
    count = len(entries)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, len(central), len(body), 0)
    return body + central + end


def stored(name: str, content: bytes) -> tuple[str, bytes, int, int, int]:
    """An honest stored entry for raw_zip."""
    return (name, content, zipfile.ZIP_STORED, zlib.crc32(content), len(content))


def content_types(main: str = MAIN_TYPE) -> bytes:
    """A minimal [Content_Types].xml."""
    return (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        f'<Override PartName="/xl/workbook.xml" ContentType="{main}"/></Types>'
    ).encode()


def patch_central(data: bytes, name: str, *, flag_bits: int) -> bytes:
    """Set an entry's general-purpose flags in both its local and central headers."""
    buffer = bytearray(data)
    encoded = name.encode()
    central = buffer.find(b"PK\x01\x02")
    while central >= 0:
        if buffer[central + 46 : central + 46 + len(encoded)] == encoded:
            struct.pack_into("<H", buffer, central + 8, flag_bits)
            (local,) = struct.unpack_from("<I", buffer, central + 42)
            struct.pack_into("<H", buffer, local + 6, flag_bits)
            return bytes(buffer)
        central = buffer.find(b"PK\x01\x02", central + 4)
    raise AssertionError(name)


def refused(data: bytes, **limits: int) -> UnsafeSpreadsheet:
    """The refusal check_xlsx raises for these bytes."""
    with pytest.raises(UnsafeSpreadsheet) as caught:
        check_xlsx(data, Limits(**limits))
    return caught.value


# --- plain files ------------------------------------------------------------------------


def test_plain_workbook_passes_and_reads_normalised() -> None:
    def fill(workbook: Any) -> None:
        """Cells of every kind calamine returns."""
        sheet = workbook.active
        sheet.append(["  Juan Pérez  ", "pepj8001019qa", 2.0, 2.5, "", True])
        sheet.append([dt.datetime(2026, 3, 1), dt.datetime(2026, 3, 1, 9, 30), None, "\u200bx"])

    data = workbook_bytes(fill)
    check_xlsx(data)
    [sheet] = read_rows(data)
    assert sheet.name == "Datos"
    assert sheet.visibility == "visible"
    assert not sheet.hidden
    assert sheet.rows[0][:3] == ("Nombre", "RFC", "Paquete")
    assert sheet.rows[1][2] == 1 and type(sheet.rows[1][2]) is int
    assert sheet.rows[2] == ("Juan Pérez", "pepj8001019qa", 2, 2.5, None, True)
    # calamine gives a midnight datetime as a date.
    assert sheet.rows[3][:4] == (
        dt.date(2026, 3, 1),
        dt.datetime(2026, 3, 1, 9, 30),
        None,
        "x",
    )


def test_rows_start_at_a1_so_indexes_are_excel_rows() -> None:
    def fill(workbook: Any) -> None:
        """A sheet whose only value is at C5."""
        sheet = workbook.create_sheet("Abajo")
        sheet["C5"] = "aquí"

    sheets = read_rows(workbook_bytes(fill))
    below = next(sheet for sheet in sheets if sheet.name == "Abajo")
    assert len(below.rows) == 5
    assert below.rows[4][2] == "aquí"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, 1),
        (-3.0, -3),
        (1.5, 1.5),
        (1e300, 1e300),
        (True, True),
        (False, False),
        ("  a b  ", "a b"),
        ("", None),
        ("   ", None),
        ("\ufeff", None),
        (None, None),
        (dt.date(2026, 1, 2), dt.date(2026, 1, 2)),
        (dt.time(9, 30), dt.time(9, 30)),
    ],
)
def test_normalize_cell(value: object, expected: object) -> None:
    result = normalize_cell(value)
    assert result == expected
    assert type(result) is type(expected)


def test_hidden_sheets_are_noted() -> None:
    def fill(workbook: Any) -> None:
        """A hidden and a very hidden sheet."""
        workbook.create_sheet("Oculta").sheet_state = "hidden"
        workbook["Oculta"]["A1"] = "dato viejo"
        workbook.create_sheet("MuyOculta").sheet_state = "veryHidden"

    sheets = {sheet.name: sheet for sheet in read_rows(workbook_bytes(fill))}
    assert sheets["Datos"].visibility == "visible"
    assert sheets["Oculta"].visibility == "hidden" and sheets["Oculta"].hidden
    assert sheets["Oculta"].rows == (("dato viejo",),)
    assert sheets["MuyOculta"].visibility == "very_hidden" and sheets["MuyOculta"].hidden


def test_formula_without_cached_value_reads_empty() -> None:
    """openpyxl stores formulas without a result; calamine never evaluates them."""

    def fill(workbook: Any) -> None:
        """A formula cell followed by a text cell."""
        workbook.active["D2"] = "=1+1"
        workbook.active["E2"] = "fin"

    [sheet] = read_rows(workbook_bytes(fill))
    assert "<f>1+1</f>" in entry(workbook_bytes(fill), SHEET).decode()
    assert sheet.rows[1][3:5] == (None, "fin")


def test_formula_reads_its_cached_value_and_text_stays_text() -> None:
    data = with_sheet_xml(
        workbook_bytes(),
        '<row r="1"><c r="A1" t="str"><f>CONCATENATE("PEPJ","8001019QA")</f>'
        "<v>PEPJ8001019QA</v></c>"
        '<c r="B1"><f>1+1</f><v>2</v></c>'
        '<c r="C1" t="inlineStr"><is><t>=HYPERLINK("http://x.example")</t></is></c></row>',
    )
    [sheet] = read_rows(data)
    assert sheet.rows == (("PEPJ8001019QA", 2, '=HYPERLINK("http://x.example")'),)


def test_reader_failure_is_unreadable_not_a_crash() -> None:
    # A shared-string index with no shared-string table: calamine refuses the sheet.
    data = with_sheet_xml(workbook_bytes(), '<row r="1"><c r="A1" t="s"><v>5</v></c></row>')
    check_xlsx(data)
    with pytest.raises(UnreadableSpreadsheet) as caught:
        read_rows(data)
    assert caught.value.kind == "unreadable"
    assert "No pudimos leer" in caught.value.reason_es


def test_sheet_dataclass_defaults_to_visible() -> None:
    assert not Sheet("x", ()).hidden


# --- not an .xlsx -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"Nombre,RFC,Correo\nAna,LOMA850315H1A,ana@example.com\n",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        b"PK\x03\x04 truncated",
    ],
    ids=["empty", "csv", "pdf", "truncated-zip"],
)
def test_not_a_zip(data: bytes) -> None:
    error = refused(data)
    assert error.kind == "not_xlsx"
    assert "no es un archivo .xlsx" in error.reason_es
    assert isinstance(error, ValueError)


def test_zip_that_is_not_a_workbook() -> None:
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("notas.txt", "hola")
    assert refused(plain.getvalue()).kind == "not_xlsx"
    word_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    word = raw_zip([stored("[Content_Types].xml", content_types(word_type))])
    assert refused(word).kind == "not_xlsx"


def test_ole2_file_is_an_old_xls_or_a_password_protected_workbook() -> None:
    error = refused(OLE2_MAGIC + bytes(4096))
    assert error.kind == "ole"
    assert "guárdelo como .xlsx sin contraseña" in error.reason_es
    assert ".xls" in error.reason_es


def test_zip_encryption_is_refused_like_a_password() -> None:
    data = patch_central(workbook_bytes(), SHEET, flag_bits=0x1)
    error = refused(data)
    assert error.kind == "encrypted"
    assert "sin contraseña" in error.reason_es


def test_xlsb_is_refused() -> None:
    data = with_content_type(
        workbook_bytes(), MAIN_TYPE, "application/vnd.ms-excel.sheet.binary.macroEnabled.main"
    )
    error = refused(data)
    assert error.kind == "xlsb"
    assert ".xlsb" in error.reason_es


# --- macros and links -------------------------------------------------------------------


@pytest.mark.parametrize(
    "part", ["xl/vbaProject.bin", "xl/activeX/activeX1.xml", "xl/macrosheets/sheet1.xml"]
)
def test_macro_parts_are_refused_whatever_the_name(part: str) -> None:
    data = rezip(workbook_bytes(), add={part: b"\x00" * 64})
    error = refused(data)
    assert error.kind == "macros"
    assert "macros" in error.reason_es
    with pytest.raises(UnsafeSpreadsheet):
        read_rows(data)


@pytest.mark.parametrize(
    "macro_type",
    [
        "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
        "application/vnd.ms-excel.template.macroEnabled.main+xml",
    ],
)
def test_macro_content_type_alone_is_refused(macro_type: str) -> None:
    error = refused(with_content_type(workbook_bytes(), MAIN_TYPE, macro_type))
    assert error.kind == "macros"


def test_vba_content_type_default_is_refused() -> None:
    data = with_content_type(
        workbook_bytes(),
        "</Types>",
        '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>',
    )
    assert refused(data).kind == "macros"


def test_external_links_are_refused() -> None:
    data = rezip(workbook_bytes(), add={"xl/externalLinks/externalLink1.xml": b"<externalLink/>"})
    error = refused(data)
    assert error.kind == "external_links"
    assert "vínculos" in error.reason_es
    by_type = with_content_type(
        workbook_bytes(),
        "</Types>",
        '<Override PartName="/xl/links/l1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.externalLink+xml"/></Types>',
    )
    assert refused(by_type).kind == "external_links"


def test_content_types_with_a_dtd_are_refused() -> None:
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><Types>&lol2;</Types>'
    )
    data = rezip(workbook_bytes(), replace={"[Content_Types].xml": laughs.encode()})
    assert refused(data).kind == "corrupt"


# --- sizes and zip bombs ----------------------------------------------------------------


def test_file_over_max_bytes() -> None:
    error = refused(workbook_bytes(), max_bytes=1000)
    assert error.kind == "too_large"
    assert "MB" in error.reason_es


def test_too_many_entries() -> None:
    assert refused(workbook_bytes(), max_entries=5).kind == "too_many_entries"


def test_declared_total_over_max_uncompressed() -> None:
    assert refused(workbook_bytes(), max_uncompressed=1000).kind == "too_large"


def test_entry_declaring_more_than_100_to_1_is_a_bomb() -> None:
    data = rezip(workbook_bytes(), add={"xl/media/image1.png": bytes(5 * 1024 * 1024)})
    error = refused(data)
    assert error.kind == "ratio"
    assert "por seguridad" in error.reason_es


def test_actual_ratio_counts_the_bytes_really_consumed() -> None:
    """Padding after the deflate stream makes the declared ratio look harmless."""
    content = bytes(2 * 1024 * 1024)
    stream = deflate(content)
    padded = stream + random.Random(1).randbytes(len(content) // 50)
    types = content_types()
    data = raw_zip(
        [
            stored("[Content_Types].xml", types),
            ("xl/media/image1.png", padded, 8, zlib.crc32(content), len(content)),
        ]
    )
    assert len(content) / len(padded) < 100 < len(content) / len(stream)
    assert refused(data).kind == "ratio"


def test_lying_declared_size_stops_inflating_at_the_limit() -> None:
    """The central directory says 1 000 bytes; the stream inflates to 64 MiB."""
    content = bytes(64 * 1024 * 1024)
    stream = deflate(content)
    types = content_types()
    data = raw_zip(
        [
            stored("[Content_Types].xml", types),
            ("xl/worksheets/sheet1.xml", stream, 8, zlib.crc32(content[:1000]), 1000),
        ]
    )
    tracemalloc.start()
    try:
        error = refused(data)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.kind == "size_mismatch"
    assert peak < 4 * 1024 * 1024


def test_entry_shorter_than_declared_is_corrupt() -> None:
    content = b"<x/>" * 100
    types = content_types()
    data = raw_zip(
        [
            stored("[Content_Types].xml", types),
            ("xl/styles.xml", deflate(content), 8, zlib.crc32(content), len(content) + 10),
        ]
    )
    assert refused(data).kind == "corrupt"


def test_wrong_crc_is_corrupt() -> None:
    types = content_types()
    data = raw_zip([("[Content_Types].xml", types, 0, zlib.crc32(types) ^ 1, len(types))])
    assert refused(data).kind == "corrupt"


def test_overlapping_entries_are_refused() -> None:
    inner = b"<x/>" * 10
    inner_local = local_header(b"b.xml", 0, zlib.crc32(inner), len(inner), len(inner)) + inner
    data = raw_zip(
        [
            stored("a.xml", inner_local),
            stored("b.xml", inner),
        ],
        offsets=[0, 30 + len(b"a.xml")],
    )
    assert refused(data).kind == "overlapping_entries"


def test_names_differing_only_in_case_are_refused() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = rezip(workbook_bytes(), add={"XL/Styles.xml": b"<styleSheet/>"})
    assert refused(data).kind == "duplicate_entry"


# --- layouts that would make the reader allocate far more than the file ------------------


def test_two_far_apart_cells_are_a_sparse_bomb() -> None:
    data = with_sheet_xml(
        workbook_bytes(),
        '<row r="1"><c r="A1"><v>1</v></c></row>'
        '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>',
    )
    assert len(data) < 10_000
    error = refused(data)
    assert error.kind == "too_many_cells"
    assert "demasiados datos" in error.reason_es


def test_implicit_positions_are_followed() -> None:
    """Rows and cells without an r attribute continue from the previous one."""
    far_row = '<row r="900000"><c><v>1</v></c></row>'
    wide_row = "<row>" + "<c><v>1</v></c>" * 30 + "</row>"
    assert refused(with_sheet_xml(workbook_bytes(), far_row + wide_row)).kind == "too_many_cells"
    check_xlsx(with_sheet_xml(workbook_bytes(), far_row))


def test_far_styled_empty_cells_do_not_count() -> None:
    data = with_sheet_xml(
        workbook_bytes(),
        '<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576" s="0"/></row>',
    )
    check_xlsx(data)
    [sheet] = read_rows(data)
    assert sheet.rows == ((1,),)


def test_shared_string_copied_into_many_cells_is_refused() -> None:
    long_text = "".join(random.Random(2).choices(string.ascii_letters, k=20_000))
    cells = "".join(f'<row r="{i}"><c r="A{i}" t="s"><v>0</v></c></row>' for i in range(1, 201))
    data = with_shared_strings(workbook_bytes(), [long_text, "corto"], cells)
    error = refused(data, max_text=1_000_000)
    assert error.kind == "too_much_text"
    check_xlsx(data, Limits(max_text=5_000_000))


def test_shared_strings_read_back() -> None:
    data = with_shared_strings(
        workbook_bytes(),
        ["Nombre", "  Ana  "],
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>',
    )
    [sheet] = read_rows(data)
    assert sheet.rows == (("Nombre", "Ana"),)
