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

from bot.documents import xlsx
from bot.documents.xlsx import (
    MAX_BYTES,
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
    assert "guárdalo como .xlsx sin contraseña" in error.reason_es
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
    error = refused(data)
    assert error.kind == "dtd"
    assert "por seguridad" in error.reason_es


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


def test_far_more_empty_cells_than_the_grid_may_hold_are_refused() -> None:
    """An empty formatted cell or row costs the scan and the reader a step all the same."""
    rows = "".join(
        f'<row r="{i}"><c r="A{i}" s="1"/><c r="B{i}" s="1"/></row>' for i in range(1, 101)
    )
    data = with_sheet_xml(workbook_bytes(), rows)
    assert refused(data, max_cells=149).kind == "too_many_cells"
    check_xlsx(data, Limits(max_cells=150))  # 300 tags: twice the grid the limit allows


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


def test_size_is_shown_in_megabytes_of_a_million_bytes() -> None:
    error = refused(b"PK\x03\x04" + bytes(2_496_000), max_bytes=2_000_000)
    assert error.kind == "too_large"
    assert error.reason_es.startswith(
        "El archivo pesa 2.5 MB y el máximo que podemos revisar es de 2 MB. Por favor envía"
    )
    assert MAX_BYTES == 25_000_000


def test_messages_address_the_requester_as_tu() -> None:
    formal = ("envíe", "guárdelo", "ábralo", "quite", "guarde", "revise", "su solicitud")
    for message in xlsx._MESSAGES.values():
        assert not any(word in message for word in formal), message


# --- declarations -----------------------------------------------------------------------


def with_part(data: bytes, name: str, content: bytes, *, stored: bool = False) -> bytes:
    """The archive with one part replaced or added, deflated unless ``stored``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename != name:
                target.writestr(info.filename, source.read(info))
        method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        target.writestr(name, content, compress_type=method)
    return out.getvalue()


@pytest.mark.parametrize(
    "declaration",
    ['<!DOCTYPE worksheet [<!ENTITY a "b">]>', "<!doctype worksheet>", '<!ENTITY a "b">'],
    ids=["dtd", "lower-case", "entity-alone"],
)
@pytest.mark.parametrize(
    "part", [SHEET, "xl/styles.xml", "xl/sharedStrings.xml", "docProps/custom.xml"]
)
def test_a_declaration_in_any_part_is_refused(part: str, declaration: str) -> None:
    content = f'<?xml version="1.0" encoding="UTF-8"?>\n{declaration}<root/>'.encode()
    error = refused(with_part(workbook_bytes(), part, content))
    assert error.kind == "dtd"
    assert "La estructura interna del archivo es anómala y, por seguridad" in error.reason_es
    with pytest.raises(UnsafeSpreadsheet):
        read_rows(with_part(workbook_bytes(), part, content))


@pytest.mark.parametrize("offset", [1, 4, 8, 9])
def test_a_declaration_across_two_chunks_is_refused(offset: int) -> None:
    """Stored parts are read in 64 KiB chunks: put the declaration across the first cut."""
    content = b" " * (64 * 1024 - offset) + b"<!DOCTYPE x>" + b"<root/>"
    data = with_part(workbook_bytes(), "xl/styles.xml", content, stored=True)
    assert refused(data).kind == "dtd"


def test_comments_and_cdata_are_not_declarations() -> None:
    data = with_sheet_xml(
        workbook_bytes(),
        '<!-- escrito a mano --><row r="1"><c r="A1" t="inlineStr"><is><t><![CDATA[a<b]]>'
        "</t></is></c></row>",
    )
    check_xlsx(data)
    [sheet] = read_rows(data)
    assert sheet.rows == (("a<b",),)


# --- cell text --------------------------------------------------------------------------


def inline(ref: str, text: str) -> str:
    """An inline-string cell."""
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def test_inline_strings_count_toward_the_text_limit() -> None:
    rows = "".join(f'<row r="{i}">{inline(f"A{i}", "x" * 1000)}</row>' for i in range(1, 101))
    data = with_sheet_xml(workbook_bytes(), rows)
    error = refused(data, max_text=50_000)
    assert error.kind == "too_much_text"
    assert "demasiados datos" in error.reason_es
    check_xlsx(data, Limits(max_text=200_000))


def test_formula_text_and_untyped_values_count_toward_the_text_limit() -> None:
    """calamine keeps a t="str" value as text, and an untyped one that is not a number."""
    rows = "".join(
        f'<row r="{i}"><c r="A{i}" t="str"><f>REPT("x",900)</f><v>{"x" * 900}</v></c>'
        f'<c r="B{i}"><v>{"y" * 900}</v></c></row>'
        for i in range(1, 51)
    )
    data = with_sheet_xml(workbook_bytes(), rows)
    assert refused(data, max_text=80_000).kind == "too_much_text"
    check_xlsx(data, Limits(max_text=100_000))


def test_inline_string_bomb_is_refused_for_its_text() -> None:
    from tests.hostile_files import inline_string_bomb

    assert refused(inline_string_bomb()).kind == "too_much_text"


TOO_LONG = 32_768
CELLS_OVER_THE_LIMIT = {
    "inline": inline("A1", "x" * TOO_LONG),
    "formula-text": f'<c r="A1" t="str"><f>A2</f><v>{"x" * TOO_LONG}</v></c>',
    "untyped": f'<c r="A1"><v>{"x" * TOO_LONG}</v></c>',
    "rich-text-runs": (
        f'<c r="A1" t="inlineStr"><is><r><t>{"x" * 20_000}</t></r>'
        f"<r><rPr><b/></rPr><t>{'y' * 20_000}</t></r></is></c>"
    ),
    "cdata": f'<c r="A1" t="inlineStr"><is><t><![CDATA[{"<" * TOO_LONG}]]></t></is></c>',
    # The reader takes all the text up to the real </t>: neither one in a quoted attribute
    # nor one in a comment ends it.
    "end-tag-in-attribute": (
        f'<c r="A1" t="inlineStr"><is><t>{"x" * 20_000}<x y="</t>"/>{"x" * 20_000}</t></is></c>'
    ),
    "end-tag-in-comment": (
        f'<c r="A1" t="inlineStr"><is><t>{"x" * 20_000}<!-- </t> -->{"x" * 20_000}</t></is></c>'
    ),
    "no-row": inline("B7", "x" * 40_000),
}


@pytest.mark.parametrize("cell", CELLS_OVER_THE_LIMIT.values(), ids=CELLS_OVER_THE_LIMIT.keys())
def test_a_cell_over_excels_limit_is_refused(cell: str) -> None:
    sheet_data = cell if "B7" in cell else f'<row r="1">{cell}</row>'
    error = refused(with_sheet_xml(workbook_bytes(), sheet_data))
    assert error.kind == "cell_too_long"
    assert "más de 32,767 caracteres" in error.reason_es
    assert "Por favor revisa que cada dato esté en su propia celda" in error.reason_es


def test_a_shared_string_over_excels_limit_is_refused() -> None:
    data = with_shared_strings(
        workbook_bytes(), ["x" * TOO_LONG], '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
    )
    assert refused(data).kind == "cell_too_long"


ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&#65;": "A", "&#x00F1;": "ñ"}
MIXED = random.Random(7).choices(list(ENTITIES), k=32_767)


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("x" * 32_767, "x" * 32_767),
        ("ñ" * 32_767, "ñ" * 32_767),
        ("".join(MIXED), "".join(ENTITIES[entity] for entity in MIXED)),
    ],
    ids=["ascii", "two-byte-utf8", "entities"],
)
def test_a_cell_at_excels_limit_is_read(written: str, read: str) -> None:
    """The limit is on characters, not on the bytes that encode them."""
    data = with_sheet_xml(workbook_bytes(), f'<row r="1">{inline("A1", written)}</row>')
    check_xlsx(data)
    [sheet] = read_rows(data)
    assert sheet.rows == ((read,),)


def test_the_giant_cell_is_refused_without_reading_it_all() -> None:
    from tests.hostile_files import giant_cell

    tracemalloc.start()
    try:
        error = refused(giant_cell())
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.kind == "cell_too_long"
    assert peak < 4 * 1024 * 1024


# --- how the scan follows the reader ----------------------------------------------------


@pytest.mark.parametrize(
    "attributes", ['r="A1" r="XFD1048576"', 'r="XFD1048576" r="A1"'], ids=["last", "first"]
)
def test_a_duplicated_reference_counts_at_its_farthest(attributes: str) -> None:
    """calamine reads the last of two r attributes."""
    data = with_sheet_xml(workbook_bytes(), f'<row r="1"><c {attributes}><v>1</v></c></row>')
    assert refused(data).kind == "too_many_cells"


def test_a_tag_longer_than_any_workbook_writes_is_refused() -> None:
    noise = "".join(random.Random(3).choices(string.ascii_letters, k=1_100_000))
    data = with_sheet_xml(workbook_bytes(), f'<row r="1"><c r="A1" x="{noise}"><v>1</v></c></row>')
    error = refused(data)
    assert error.kind == "long_markup"
    assert "por seguridad" in error.reason_es


def test_cells_in_comments_and_quoted_attributes_are_not_missed_nor_invented() -> None:
    far = '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    hidden = with_sheet_xml(
        workbook_bytes(), f'<row r="1"><c r="A1"><v>1</v></c></row><!--{far}-->'
    )
    check_xlsx(hidden)  # calamine skips comments too
    quoted = with_sheet_xml(
        workbook_bytes(), f'<row r="1" x="<!--"><c r="A1"><v>1</v></c></row>{far}<x y="-->"/>'
    )
    assert refused(quoted).kind == "too_many_cells"


def random_sheet_data(rng: random.Random, *, plain: bool) -> str:
    """Rows of cells of every kind; ``plain`` keeps to the layout Excel and openpyxl write."""
    rows = []
    row = 0
    for _ in range(rng.randint(1, 120)):
        row += rng.choice([1, 1, 1, 2, 40])
        explicit_row = plain or rng.random() < 0.8
        cells = []
        column = 0
        for _ in range(rng.randint(0, 12)):
            column += rng.choice([1, 1, 1, 3])
            letters = "".join(
                string.ascii_uppercase[(n - 1) % 26] for n in (column // 26, column % 26 or 26) if n
            )
            ref = f' r="{letters}{row}"' if plain or rng.random() < 0.8 else ""
            style = rng.choice(["", ' s="1"'])
            kind = rng.randrange(9)
            text = "".join(rng.choices("abcñ &<>", k=rng.randint(0, 30)))
            text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            if kind == 0:
                cells.append(f"<c{ref}{style}/>")
            elif kind == 1:
                cells.append(f"<c{ref}{style}></c>")
            elif kind == 2:
                cells.append(f'<c{ref} t="s"><v>{rng.randrange(4)}</v></c>')
            elif kind == 3:
                cells.append(f'<c{ref}{style} t="inlineStr"><is><t>{text}</t></is></c>')
            elif kind == 4:
                space = ' xml:space="preserve"'
                cells.append(
                    f'<c{ref} t="inlineStr"><is><r><t{space}>{text}</t></r><r><t>x</t></r></is></c>'
                )
            elif kind == 5:
                cells.append(f'<c{ref} t="str"><f>A1&amp;"x"</f><v>{text}</v></c>')
            elif kind == 6:
                cells.append(f"<c{ref}><f>1+1</f><v>2</v></c>")
            elif kind == 7 and not plain:
                cells.append(f'<c{ref}\n t="inlineStr"><is><t><![CDATA[{text}]]></t></is></c>')
            else:
                cells.append(f"<c{ref}{style}><v>{rng.randrange(10**6)}</v></c>")
        spans = f' spans="1:{max(column, 1)}"' if rng.random() < 0.5 else ""
        number = f' r="{row}"' if explicit_row else ""
        rows.append(f"<row{number}{spans}>{''.join(cells)}</row>")
    return "".join(rows)


def scan(xml: bytes, chunk: int) -> tuple[int, int, int, int]:
    """The scan's grid, text and cell and row tags for one part fed in chunks."""
    scanner = xlsx._CellScan([5, 0, 12, 3])
    for start in range(0, len(xml), chunk):
        scanner.feed(xml[start : start + chunk])
    scanner.close()
    return scanner.max_row, scanner.max_col, scanner.text, scanner.tags


@pytest.mark.parametrize("seed", range(40))
def test_the_shortcuts_count_as_the_tags_do(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks counted in bulk and cells taken whole give what following every tag gives."""
    rng = random.Random(seed)
    plain = seed % 2 == 0
    sheet_data = random_sheet_data(rng, plain=plain)
    xml = f'<?xml version="1.0"?>\n<worksheet xmlns="{NS}"><sheetData>{sheet_data}</sheetData>'
    xml += '<pageMargins left="0.7" right="0.7"/></worksheet>'
    data = xml.encode()
    chunk = rng.choice([7, 100, 1000, 70_000])
    bulk: list[bool] = []
    in_bulk = xlsx._CellScan._plain

    def counted(self: Any, block: bytes) -> bool:
        """The bulk count, remembering whether it took the block."""
        bulk.append(in_bulk(self, block))
        return bulk[-1]

    monkeypatch.setattr(xlsx._CellScan, "_plain", counted)
    full = scan(data, chunk)
    if plain and chunk >= 1000 and len(data) > 2 * chunk:
        assert any(bulk)
    monkeypatch.setattr(xlsx._CellScan, "_plain", lambda self, block: False)
    whole_cells = scan(data, chunk)
    if plain and "<c " in sheet_data:
        assert any(token.lastgroup == "cell" for token in xlsx._TOKEN.finditer(data))
    monkeypatch.setattr(xlsx, "_TOKEN", xlsx._TOKEN_IN_TEXT)
    assert scan(data, chunk) == whole_cells == full


@pytest.mark.parametrize("seed", range(12))
def test_the_scan_covers_what_calamine_reads(seed: int) -> None:
    """The grid the scan predicts is never smaller than the one the reader builds."""
    rng = random.Random(seed)
    sheet_data = random_sheet_data(rng, plain=seed % 2 == 0)
    data = with_shared_strings(workbook_bytes(), ["uno", "", "doce letras.", "tre"], sheet_data)
    grid = scan(entry(data, SHEET), 1000)
    try:
        [sheet] = read_rows(data)
    except UnreadableSpreadsheet:
        return
    assert grid[0] >= len(sheet.rows)
    assert grid[1] >= max((len(row) for row in sheet.rows), default=0)
    if seed % 2 == 0:
        assert grid[:2] == (len(sheet.rows), max((len(row) for row in sheet.rows), default=0))
