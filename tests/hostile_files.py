"""Hostile attachments sent instead of the MA-001 form, built byte for byte, deterministically.

Each generator returns the bytes of one file that reaches the check it targets: zips are
written by hand where the directory has to lie or entries have to overlap, compound files
(OLE2/CFB) have a real header, FAT, directory and mini stream, and the bombs really inflate
to what they claim. ``HOSTILE`` lists them with the name a requester would give the file
and a Spanish fragment the answer must contain; ``VALID_FORM`` builds a correct one-user form.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import random
import re
import string
import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import openpyxl

__all__ = ["HOSTILE", "VALID_FORM", "HostileFile", "valid_form"]

MIB = 1024 * 1024
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
TYPES_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
MAIN_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
SHEET = "xl/worksheets/sheet1.xml"
HEADERS = ("Nombre completo", "RFC", "Correo", "Zona", "Paquete")
ELENA = ("Elena Gómez Díaz", "GODE561231GR8", "elena.gomez@promotoria.mx", "CDMX", 1)
# Zip entries and document properties carry this instant, so that every build is identical.
FIXED = dt.datetime(2026, 1, 12, 9, 30, 0)
EXCEL_MAX_CELL_TEXT = 32_767


@dataclass(frozen=True)
class HostileFile:
    """One hostile attachment: its name, its file name, how to build it, the expected answer."""

    name: str
    filename: str  # what the requester (or the attacker) calls the attachment
    build: Callable[[], bytes]
    expect: str  # a Spanish fragment of the refusal message or of the report


# --- zips written by hand -----------------------------------------------------------------

_DOS_TIME = (FIXED.hour << 11) | (FIXED.minute << 5) | (FIXED.second // 2)
_DOS_DATE = ((FIXED.year - 1980) << 9) | (FIXED.month << 5) | FIXED.day

# (name, stored bytes, method, crc, declared uncompressed size)
ZipEntry = tuple[str, bytes, int, int, int]


def local_header(name: bytes, method: int, crc: int, stored: int, size: int) -> bytes:
    """A local file header (version 2.0, no flags, no extra field)."""
    fields = (b"PK\x03\x04", 20, 0, method, _DOS_TIME, _DOS_DATE, crc, stored, size, len(name), 0)
    return struct.pack("<4sHHHHHIIIHH", *fields) + name


def central_header(
    name: bytes, method: int, crc: int, stored: int, size: int, offset: int
) -> bytes:
    """A central directory record pointing at a local header."""
    fields = (b"PK\x01\x02", 20, 20, 0, method, _DOS_TIME, _DOS_DATE, crc, stored, size)
    tail = (len(name), 0, 0, 0, 0, 0, offset)
    return struct.pack("<4sHHHHHHIIIHHHHHII", *fields, *tail) + name


def end_record(count: int, central_size: int, central_offset: int) -> bytes:
    """The end-of-central-directory record."""
    fields = (b"PK\x05\x06", 0, 0, count, count, central_size, central_offset, 0)
    return struct.pack("<4sHHHHIIH", *fields)


def raw_zip(entries: Sequence[ZipEntry]) -> bytes:
    """A zip whose sizes and CRCs are written exactly as given, true or not."""
    body = bytearray()
    central = bytearray()
    for name, raw, method, crc, size in entries:
        encoded = name.encode()
        central += central_header(encoded, method, crc, len(raw), size, len(body))
        body += local_header(encoded, method, crc, len(raw), size) + raw
    return bytes(body + central + end_record(len(entries), len(central), len(body)))


def deflate(content: bytes) -> bytes:
    """A raw deflate stream, as zip stores it."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(content) + compressor.flush()


def deflated(name: str, content: bytes) -> ZipEntry:
    """An honest deflated entry."""
    return (name, deflate(content), zipfile.ZIP_DEFLATED, zlib.crc32(content), len(content))


def stored(name: str, content: bytes) -> ZipEntry:
    """An honest stored entry."""
    return (name, content, zipfile.ZIP_STORED, zlib.crc32(content), len(content))


def repeated_stream(prefix: bytes, block: bytes, count: int, suffix: bytes) -> bytes:
    """Raw deflate of prefix + block * count + suffix, compressing the block only once."""
    # A full flush leaves no reference to earlier data, so the compressed block repeats as is.

    def segment(data: bytes, mode: int) -> bytes:
        """``data`` compressed by a fresh compressor, ending with ``mode``."""
        compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        return compressor.compress(data) + compressor.flush(mode)

    return (
        segment(prefix, zlib.Z_FULL_FLUSH)
        + segment(block, zlib.Z_FULL_FLUSH) * count
        + segment(suffix, zlib.Z_FINISH)
    )


def repeated_entry(name: str, prefix: bytes, block: bytes, count: int, suffix: bytes) -> ZipEntry:
    """An honest deflated entry holding prefix + block * count + suffix."""
    crc = zlib.crc32(prefix)
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(suffix, crc)
    size = len(prefix) + len(block) * count + len(suffix)
    raw = repeated_stream(prefix, block, count, suffix)
    return (name, raw, zipfile.ZIP_DEFLATED, crc, size)


def with_sheet_entry(sheet: ZipEntry) -> bytes:
    """A minimal workbook whose worksheet is this prepared entry."""
    parts = workbook_parts(b"")
    del parts[SHEET]
    return raw_zip([*(deflated(name, content) for name, content in parts.items()), sheet])


def canonical_zip(data: bytes) -> bytes:
    """The same archive with fixed timestamps (openpyxl stamps the time of saving)."""
    out = io.BytesIO()
    stamp = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*")
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "docProps/core.xml":
                content = stamp.sub(rb"\g<1>" + FIXED.isoformat().encode() + b"Z", content)
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(fixed, content)
    return out.getvalue()


def workbook_parts(
    worksheet: bytes,
    *,
    main_type: str = MAIN_TYPE,
    extra_types: str = "",
    extra_rels: str = "",
) -> dict[str, bytes]:
    """The parts of a minimal one-sheet workbook, as Excel names them."""
    types = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="{TYPES_NS}">'
        '<Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{main_type}"/>'
        f'<Override PartName="/{SHEET}" ContentType="{SHEET_TYPE}"/>{extra_types}</Types>'
    )
    root_rels = (
        f'<Relationships xmlns="{PKG_REL_NS}"><Relationship Id="rId1" '
        f'Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    workbook = (
        f'<workbook xmlns="{NS}" xmlns:r="{REL_NS}"><sheets>'
        '<sheet name="Hoja1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    rels = (
        f'<Relationships xmlns="{PKG_REL_NS}"><Relationship Id="rId1" '
        f'Type="{REL_NS}/worksheet" Target="worksheets/sheet1.xml"/>{extra_rels}</Relationships>'
    )
    return {
        "[Content_Types].xml": types.encode(),
        "_rels/.rels": root_rels.encode(),
        "xl/workbook.xml": workbook.encode(),
        "xl/_rels/workbook.xml.rels": rels.encode(),
        SHEET: worksheet,
    }


def zip_parts(parts: dict[str, bytes]) -> bytes:
    """An honest archive of these parts, each deflated."""
    return raw_zip([deflated(name, content) for name, content in parts.items()])


def sheet_xml(sheet_data: str, *, doctype: str = "") -> bytes:
    """A worksheet part with this <sheetData> content."""
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n{doctype}'
        f'<worksheet xmlns="{NS}"><sheetData>{sheet_data}</sheetData></worksheet>'
    ).encode()


def openpyxl_workbook(
    rows: Sequence[Sequence[object]], *, title: str = "Usuarios", write_only: bool = False
) -> bytes:
    """A workbook saved by openpyxl with these rows from A1, timestamps fixed."""
    workbook = openpyxl.Workbook(write_only=write_only)
    sheet: Any = workbook.create_sheet(title) if write_only else workbook.active
    if not write_only:
        sheet.title = title
    for row in rows:
        sheet.append(list(row))
    workbook.properties.creator = "Promotoría"
    workbook.properties.created = FIXED
    buffer = io.BytesIO()
    workbook.save(buffer)
    return canonical_zip(buffer.getvalue())


# --- compound files (OLE2 / CFB), as Excel 97-2003 and Office encryption write them -------

_CFB_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_SECTOR = 512
_MINI_SECTOR = 64
_MINI_CUTOFF = 4096
_FREE = 0xFFFFFFFF
_END = 0xFFFFFFFE
_FAT_SECTOR = 0xFFFFFFFD
_NO_STREAM = 0xFFFFFFFF


def _sectors(size: int, sector: int = _SECTOR) -> int:
    """How many sectors hold ``size`` bytes."""
    return -(-size // sector)


def _pad(data: bytes, sector: int = _SECTOR) -> bytes:
    """The bytes padded with zeros to a whole number of sectors."""
    return data + bytes(_sectors(len(data), sector) * sector - len(data))


def _tree(order: list[int], depth: int, out: dict[int, tuple[int, int, int]]) -> int:
    """A balanced binary tree over ``order``; out[id] = (left, right, depth). Returns its root."""
    if not order:
        return _NO_STREAM
    middle = len(order) // 2
    node = order[middle]
    left = _tree(order[:middle], depth + 1, out)
    right = _tree(order[middle + 1 :], depth + 1, out)
    out[node] = (left, right, depth)
    return node


def _directory_entry(
    name: str, kind: int, color: int, links: tuple[int, int, int], start: int, size: int
) -> bytes:
    """A 128-byte directory entry (kind: 1 storage, 2 stream, 5 root)."""
    encoded = (name + "\0").encode("utf-16-le") if name else b""
    left, right, child = links
    head = struct.pack("<64sHBBIII", encoded, len(encoded), kind, color, left, right, child)
    return head + bytes(16 + 4 + 8 + 8) + struct.pack("<IQ", start, size)


def compound_file(streams: Sequence[tuple[str, bytes]]) -> bytes:
    """A version 3 compound file (512-byte sectors) with these streams in its root storage."""
    # Streams under 4096 bytes live in the mini stream, as the format requires; the siblings
    # form a balanced red-black tree ordered by name length, then upper-case name.
    small = [(name, data) for name, data in streams if len(data) < _MINI_CUTOFF]
    big = [(name, data) for name, data in streams if len(data) >= _MINI_CUTOFF]
    starts: dict[str, int] = {}
    mini = bytearray()
    mini_fat: list[int] = []
    for name, data in small:
        count = max(1, _sectors(len(data), _MINI_SECTOR))
        starts[name] = len(mini_fat)
        mini_fat += [len(mini_fat) + i + 1 for i in range(count - 1)] + [_END]
        mini += _pad(data or b"\0", _MINI_SECTOR)
    directory_sectors = _sectors(128 * (1 + len(streams)))
    mini_fat_sectors = _sectors(4 * len(mini_fat))
    mini_stream_sectors = _sectors(len(mini))
    big_sectors = [_sectors(len(data)) for _, data in big]
    body = directory_sectors + mini_fat_sectors + mini_stream_sectors + sum(big_sectors)
    fat_sectors = 1
    while fat_sectors * (_SECTOR // 4) < fat_sectors + body:
        fat_sectors += 1
    if fat_sectors > 109:
        raise ValueError("too big for a header-only DIFAT")
    fat = [_FAT_SECTOR] * fat_sectors

    def chain(count: int) -> int:
        """Allocate ``count`` consecutive sectors as one chain; its first sector."""
        if count == 0:
            return _END
        first = len(fat)
        fat.extend(range(first + 1, first + count))
        fat.append(_END)
        return first

    directory_start = chain(directory_sectors)
    mini_fat_start = chain(mini_fat_sectors)
    mini_stream_start = chain(mini_stream_sectors)
    for (name, _), count in zip(big, big_sectors, strict=True):
        starts[name] = chain(count)
    fat += [_FREE] * (fat_sectors * (_SECTOR // 4) - len(fat))

    names = [name for name, _ in streams]
    order = sorted(
        range(1, len(names) + 1),
        key=lambda i: (len(names[i - 1]), names[i - 1].upper()),
    )
    nodes: dict[int, tuple[int, int, int]] = {}
    root_child = _tree(order, 0, nodes)
    deepest = max((depth for _, _, depth in nodes.values()), default=0)
    entries = [
        _directory_entry(
            "Root Entry", 5, 1, (_NO_STREAM, _NO_STREAM, root_child), mini_stream_start, len(mini)
        )
    ]
    for index, (name, data) in enumerate(streams, start=1):
        left, right, depth = nodes[index]
        # Nodes on the deepest level are red, the others black: equal black height everywhere.
        color = 0 if depth == deepest and depth > 0 else 1
        entries.append(
            _directory_entry(name, 2, color, (left, right, _NO_STREAM), starts[name], len(data))
        )
    unused = _directory_entry("", 0, 0, (_NO_STREAM, _NO_STREAM, _NO_STREAM), 0, 0)
    entries += [unused] * (directory_sectors * 4 - len(entries))

    difat = list(range(fat_sectors)) + [_FREE] * (109 - fat_sectors)
    header = (
        _CFB_MAGIC
        + bytes(16)
        + struct.pack("<HHHHH6s", 0x3E, 3, 0xFFFE, 9, 6, bytes(6))
        + struct.pack(
            "<9I",
            0,  # directory sectors: always 0 in version 3
            fat_sectors,
            directory_start,
            0,  # transaction signature
            _MINI_CUTOFF,
            mini_fat_start,
            mini_fat_sectors,
            _END,  # no DIFAT sector: the header holds all the FAT sector numbers
            0,
        )
        + struct.pack("<109I", *difat)
    )
    parts = [
        header,
        struct.pack(f"<{len(fat)}I", *fat),
        b"".join(entries),
        _pad(struct.pack(f"<{len(mini_fat)}I", *mini_fat)) if mini_fat else b"",
        _pad(bytes(mini)) if mini else b"",
        *(_pad(data) for _, data in big),
    ]
    return b"".join(parts)


def _biff_record(kind: int, data: bytes = b"") -> bytes:
    """One BIFF8 record."""
    return struct.pack("<HH", kind, len(data)) + data


def _biff_bof(substream: int) -> bytes:
    """A BIFF8 BOF record (0x0005 workbook globals, 0x0010 worksheet)."""
    return _biff_record(0x0809, struct.pack("<HHHHII", 0x0600, substream, 0x0DBB, 0x07CC, 0, 6))


def _biff_label(row: int, column: int, text: str) -> bytes:
    """A LABEL record: a text cell."""
    encoded = text.encode("latin-1")
    return _biff_record(0x0204, struct.pack("<HHHHB", row, column, 15, len(encoded), 0) + encoded)


def _biff_number(row: int, column: int, value: float) -> bytes:
    """A NUMBER record: a numeric cell."""
    return _biff_record(0x0203, struct.pack("<HHHd", row, column, 15, value))


# --- the hostile files --------------------------------------------------------------------


def zip_bomb() -> bytes:
    """A worksheet of 256 MiB of blanks in a 270 KB entry, sizes declared honestly."""
    prefix = f'<worksheet xmlns="{NS}"><sheetData>'.encode()
    suffix = b"</sheetData></worksheet>"
    return with_sheet_entry(repeated_entry(SHEET, prefix, b" " * MIB, 256, suffix))


def zip_bomb_lying_sizes() -> bytes:
    """A 1 MB entry that inflates to 1 GiB while the directory says 16 KiB."""
    prefix = f'<worksheet xmlns="{NS}"><sheetData>'.encode()
    raw = repeated_stream(prefix, b" " * MIB, 1024, b"</sheetData></worksheet>")
    declared = 16 * 1024
    head = (prefix + b" " * declared)[:declared]  # what the directory's CRC describes
    return with_sheet_entry((SHEET, raw, zipfile.ZIP_DEFLATED, zlib.crc32(head), declared))


def overlapping_zip_bomb() -> bytes:
    """900 entries sharing one deflate kernel (Fifield's zip bomb): 110 KB inflating to 80 MB."""
    # Each entry's data quotes the next local header in a stored block and then runs on into
    # the next entry's data, so that every entry ends with the same 64 KiB kernel.
    count = 900
    kernel_content = bytes(64 * 1024)
    kernel = deflate(kernel_content)
    types = workbook_parts(b"")["[Content_Types].xml"]
    names = [f"xl/media/image{i:03d}.png".encode() for i in range(count)]
    headers: list[bytes] = [b""] * count
    quotes: list[bytes] = [b""] * count
    compressed = [0] * count
    sizes = [0] * count
    crcs = [0] * count
    # From the last entry back: entry i inflates to header i+1 then entry i+1's content, and
    # its data is a stored block quoting header i+1 followed by entry i+1's data.
    quoted_after = b""  # the local headers of entries i+1 .. count-1, as entry i inflates them
    for i in reversed(range(count)):
        if i + 1 < count:
            after = headers[i + 1]
            quotes[i] = struct.pack("<BHH", 0, len(after), 0xFFFF ^ len(after))
            quoted_after = after + quoted_after
            compressed[i] = len(quotes[i]) + len(after) + compressed[i + 1]
        else:
            compressed[i] = len(kernel)
        sizes[i] = len(quoted_after) + len(kernel_content)
        crcs[i] = zlib.crc32(kernel_content, zlib.crc32(quoted_after))
        headers[i] = local_header(names[i], 8, crcs[i], compressed[i], sizes[i])
    first = stored("[Content_Types].xml", types)
    first_local = local_header(first[0].encode(), 0, first[3], len(types), len(types)) + types
    body = bytearray(first_local)
    central = bytearray(central_header(first[0].encode(), 0, first[3], len(types), len(types), 0))
    for i in range(count):
        central += central_header(names[i], 8, crcs[i], compressed[i], sizes[i], len(body))
        body += headers[i] + quotes[i]
    body += kernel
    return bytes(body + central + end_record(count + 1, len(central), len(body)))


def macro_workbook() -> bytes:
    """An .xlsm (VBA project and macro-enabled content type) renamed to .xlsx."""
    project = (
        b'ID="{5F1F0C3E-8A52-4B1D-9C3A-0D1E2F3A4B5C}"\r\nDocument=ThisWorkbook/&H00000000\r\n'
        b'Name="VBAProject"\r\nHelpContextID="0"\r\nVersionCompatible32="393222000"\r\n'
    )
    vba = compound_file([("PROJECT", project), ("PROJECTwm", b"ThisWorkbook\0T\0\0\0\0\0")])
    types = '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
    rels = (
        '<Relationship Id="rId9" Type="http://schemas.microsoft.com/office/2006/relationships/'
        'vbaProject" Target="vbaProject.bin"/>'
    )
    parts = workbook_parts(
        sheet_xml(_header_row()),
        main_type="application/vnd.ms-excel.sheet.macroEnabled.main+xml",
        extra_types=types,
        extra_rels=rels,
    )
    parts["xl/vbaProject.bin"] = vba
    return zip_parts(parts)


def _laughs(levels: int = 10) -> str:
    """The DTD of the billion-laughs entity bomb: &lol9; is 10**9 times "lol"."""
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels)
    )
    return f"<!DOCTYPE lolz [{entities}]>"


def entity_bomb_sheet() -> bytes:
    """Billion laughs in the worksheet: a cell whose inline text is &lol9;."""
    cell = '<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
    return zip_parts(workbook_parts(sheet_xml(cell, doctype=_laughs())))


def entity_bomb_shared_strings() -> bytes:
    """Billion laughs in xl/sharedStrings.xml, referenced from A1."""
    sst = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n{_laughs()}'
        f'<sst xmlns="{NS}" count="1" uniqueCount="1"><si><t>&lol9;</t></si></sst>'
    )
    parts = workbook_parts(
        sheet_xml('<row r="1"><c r="A1" t="s"><v>0</v></c></row>'),
        extra_types=f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SST_TYPE}"/>',
        extra_rels=(
            f'<Relationship Id="rId2" Type="{REL_NS}/sharedStrings" Target="sharedStrings.xml"/>'
        ),
    )
    parts["xl/sharedStrings.xml"] = sst.encode()
    return zip_parts(parts)


def oversized_30mb() -> bytes:
    """A correct form carrying a 30 MB photo (stored: photos do not compress)."""
    # Blocks of 1 MiB lie beyond deflate's 32 KiB window: the photo stays incompressible.
    photo = random.Random(30).randbytes(MIB) * 30
    parts = workbook_parts(
        sheet_xml(_header_row() + _user_row(2, ELENA)),
        extra_types='<Default Extension="png" ContentType="image/png"/>',
    )
    entries = [deflated(name, content) for name, content in parts.items()]
    return raw_zip([*entries, stored("xl/media/image1.png", b"\x89PNG\r\n\x1a\n" + photo)])


def wrong_columns() -> bytes:
    """Another form: Nombre completo, RFC, Teléfono, Puesto, Zona (no Correo, no Paquete)."""
    return openpyxl_workbook(
        [
            ("Nombre completo", "RFC", "Teléfono", "Puesto", "Zona"),
            ("Elena Gómez Díaz", "GODE561231GR8", "55 1234 5678", "Asistente", "CDMX"),
        ]
    )


def empty_sheet() -> bytes:
    """A workbook with one empty sheet."""
    return openpyxl_workbook([], title="Hoja1")


def headers_only() -> bytes:
    """The form's headers with no user below them."""
    return openpyxl_workbook([HEADERS])


def _agile_encryption_info() -> bytes:
    """An EncryptionInfo stream of agile encryption (version 4.4), as Excel writes it."""
    rng = random.Random(44)

    def b64(size: int) -> str:
        """Random bytes in base64."""
        return base64.b64encode(rng.randbytes(size)).decode()

    algorithm = (
        'saltSize="16" blockSize="16" keyBits="256" hashSize="64" cipherAlgorithm="AES" '
        'cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512"'
    )
    password = "http://schemas.microsoft.com/office/2006/keyEncryptor/password"
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        '<encryption xmlns="http://schemas.microsoft.com/office/2006/encryption" '
        f'xmlns:p="{password}" '
        'xmlns:c="http://schemas.microsoft.com/office/2006/keyEncryptor/certificate">'
        f'<keyData {algorithm} saltValue="{b64(16)}"/>'
        f'<dataIntegrity encryptedHmacKey="{b64(64)}" encryptedHmacValue="{b64(64)}"/>'
        f'<keyEncryptors><keyEncryptor uri="{password}"><p:encryptedKey spinCount="100000" '
        f'{algorithm} saltValue="{b64(16)}" encryptedVerifierHashInput="{b64(16)}" '
        f'encryptedVerifierHashValue="{b64(64)}" encryptedKeyValue="{b64(32)}"/>'
        "</keyEncryptor></keyEncryptors></encryption>"
    )
    return struct.pack("<HHI", 4, 4, 0x40) + xml.encode()


def password_protected() -> bytes:
    """A password-protected .xlsx: a compound file with EncryptionInfo and EncryptedPackage."""
    package_size = 9_000
    ciphertext = random.Random(45).randbytes(_sectors(package_size, 16) * 16)
    package = struct.pack("<Q", package_size) + ciphertext
    return compound_file(
        [("EncryptionInfo", _agile_encryption_info()), ("EncryptedPackage", package)]
    )


def legacy_xls() -> bytes:
    """An Excel 97-2003 .xls: a compound file whose Workbook stream is BIFF8."""
    sheet = [_biff_bof(0x0010), _biff_record(0x0200, struct.pack("<IIHHH", 0, 2, 0, 5, 0))]
    sheet += [_biff_label(0, column, text) for column, text in enumerate(HEADERS)]
    sheet += [_biff_label(1, column, str(text)) for column, text in enumerate(ELENA[:4])]
    sheet += [_biff_number(1, 4, 1.0), _biff_record(0x000A)]
    name = b"Hoja1"

    def globals_(sheet_offset: int) -> bytes:
        """The workbook globals substream, its sheet at ``sheet_offset``."""
        boundsheet = struct.pack("<IHBB", sheet_offset, 0, len(name), 0) + name
        return b"".join(
            [
                _biff_bof(0x0005),
                _biff_record(0x0042, struct.pack("<H", 1200)),
                _biff_record(0x0085, boundsheet),
                _biff_record(0x000A),
            ]
        )

    head = globals_(0)
    workbook = globals_(len(head)) + b"".join(sheet)
    return compound_file([("Workbook", workbook)])


def csv_renamed() -> bytes:
    """The form saved as CSV (Windows-1252, as Excel writes it), renamed to .xlsx."""
    lines = [",".join(HEADERS), ",".join(str(value) for value in ELENA)]
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def sparse_cell_bomb() -> bytes:
    """Two valued cells, A1 and XFD1048576: calamine would allocate 17 billion cells."""
    cells = (
        '<row r="1"><c r="A1"><v>1</v></c></row>'
        '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    )
    return zip_parts(workbook_parts(sheet_xml(cells)))


def shared_string_bomb() -> bytes:
    """One 25,000-character shared string copied into 2,100 cells: 52 million characters."""
    text = "".join(random.Random(25).choices(string.ascii_letters, k=25_000))
    sst = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<sst xmlns="{NS}" count="2100" uniqueCount="1"><si><t>{text}</t></si></sst>'
    )
    cells = "".join(
        f'<row r="{row}">' + '<c t="s"><v>0</v></c>' * 21 + "</row>" for row in range(1, 101)
    )
    parts = workbook_parts(
        sheet_xml(cells),
        extra_types=f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SST_TYPE}"/>',
        extra_rels=(
            f'<Relationship Id="rId2" Type="{REL_NS}/sharedStrings" Target="sharedStrings.xml"/>'
        ),
    )
    parts["xl/sharedStrings.xml"] = sst.encode()
    return zip_parts(parts)


def truncated_download() -> bytes:
    """The valid form cut off halfway, as an interrupted download leaves it."""
    data = valid_form()
    return data[: len(data) // 2]


def external_links() -> bytes:
    """A form whose cells link to another workbook on the requester's disk."""
    link = (
        f'<externalLink xmlns="{NS}"><externalBook xmlns:r="{REL_NS}" r:id="rId1">'
        '<sheetNames><sheetName val="Usuarios"/></sheetNames></externalBook></externalLink>'
    )
    parts = workbook_parts(
        sheet_xml(_header_row() + _user_row(2, ELENA)),
        extra_types=(
            '<Override PartName="/xl/externalLinks/externalLink1.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.externalLink+xml"/>'
        ),
    )
    parts["xl/externalLinks/externalLink1.xml"] = link.encode()
    return zip_parts(parts)


def xlsb_renamed() -> bytes:
    """An Excel binary workbook (.xlsb) renamed to .xlsx."""
    parts = workbook_parts(b"", main_type="application/vnd.ms-excel.sheet.binary.macroEnabled.main")
    del parts[SHEET]
    parts["xl/workbook.bin"] = bytes.fromhex("8301 0080 0100") + bytes(64)
    parts["xl/worksheets/sheet1.bin"] = bytes.fromhex("8101 0093 0100") + bytes(64)
    return zip_parts(parts)


def inline_string_bomb() -> bytes:
    """4,800 cells of 32,767 inline characters (Excel's maximum): 2.9 MB inflating to 157 MB."""
    # Inline strings are not shared strings: only a count of every cell's text catches them.
    # The text compresses 65 to 1, under the ratio limit, and the total stays under 200 MiB.
    rng = random.Random(32_767)
    text = bytearray(b"A" * EXCEL_MAX_CELL_TEXT)
    for position in range(0, len(text), 120):
        text[position] = rng.choice(string.ascii_uppercase.encode())
    row = b'<row><c t="inlineStr"><is><t>' + bytes(text) + b"</t></is></c></row>"
    prefix = f'<worksheet xmlns="{NS}"><sheetData>'.encode()
    return with_sheet_entry(repeated_entry(SHEET, prefix, row, 4_800, b"</sheetData></worksheet>"))


def giant_cell() -> bytes:
    """One inline cell of 8 MiB of words in A1, where the header is looked for."""
    rng = random.Random(8)
    words = ["usuario", "alta", "promotoria", "zona", "paquete", "correo", "nombre", "RFC"]
    block = " ".join(rng.choice(words) for _ in range(12_000)).encode()[: 64 * 1024]
    start = f'<worksheet xmlns="{NS}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>'
    end = b"</t></is></c></row></sheetData></worksheet>"
    return with_sheet_entry(repeated_entry(SHEET, start.encode(), block, 128, end))


def _roster_rfc(index: int) -> str:
    """A distinct, valid RFC de persona física for the index-th person."""
    from stdnum.mx import rfc

    born = dt.date(1960, 1, 1) + dt.timedelta(days=index)
    prefix = f"MAGL{born:%y%m%d}H1"
    return prefix + rfc.calc_check_digit(prefix)


def pasted_roster() -> bytes:
    """The form with 8,000 users pasted from a directory and the Paquete column left empty."""
    rows = [_header_row()]
    for index in range(8_000):
        user = (
            f"Usuario {index:05d} Martínez López",
            _roster_rfc(index),
            f"usuario{index:05d}@promotoria.mx",
            "CDMX",
            None,
        )
        rows.append(_user_row(index + 2, user))
    return zip_parts(workbook_parts(sheet_xml("".join(rows))))


def _header_row() -> str:
    """The form's header row as sheet XML (inline strings)."""
    return _user_row(1, HEADERS)


def _user_row(number: int, values: Sequence[object]) -> str:
    """A row of sheet XML: text as inline strings, numbers as values, None left out."""
    cells = []
    for column, value in enumerate(values):
        ref = f"{string.ascii_uppercase[column]}{number}"
        if value is None:
            continue
        if isinstance(value, int):
            cells.append(f'<c r="{ref}"><v>{value}</v></c>')
        else:
            cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>')
    return f'<row r="{number}">{"".join(cells)}</row>'


def valid_form() -> bytes:
    """A correct MA-001 form with one user, saved by openpyxl."""
    return openpyxl_workbook([HEADERS, ELENA])


VALID_FORM: Callable[[], bytes] = valid_form

HOSTILE: tuple[HostileFile, ...] = (
    HostileFile("zip_bomb", "usuarios.xlsx", zip_bomb, "se expande mucho más de lo normal"),
    HostileFile(
        "zip_bomb_lying_sizes",
        "alta usuarios.xlsx",
        zip_bomb_lying_sizes,
        "se expande mucho más de lo normal",
    ),
    HostileFile(
        "overlapping_zip_bomb",
        "formato_MA-001.xlsx",
        overlapping_zip_bomb,
        "La estructura interna del archivo es anómala",
    ),
    HostileFile("macro_workbook", "usuarios.xlsx", macro_workbook, "contiene macros"),
    HostileFile(
        "entity_bomb_sheet",
        "solicitud.xlsx",
        entity_bomb_sheet,
        "La estructura interna del archivo es anómala",
    ),
    HostileFile(
        "entity_bomb_shared_strings",
        "solicitud.xlsx",
        entity_bomb_shared_strings,
        "La estructura interna del archivo es anómala",
    ),
    HostileFile(
        "oversized_30mb",
        "Formato alta usuarios (con foto).xlsx",
        oversized_30mb,
        "el máximo que podemos revisar es de 25 MB",
    ),
    HostileFile(
        "wrong_columns",
        "usuarios nuevos.xlsx",
        wrong_columns,
        "Correo electrónico»: falta esta columna obligatoria",
    ),
    HostileFile("empty_sheet", "Libro1.xlsx", empty_sheet, "No encontramos la fila de encabezados"),
    HostileFile(
        "headers_only",
        "MA-001 solicitud de usuarios.xlsx",
        headers_only,
        "no tiene usuarios capturados",
    ),
    HostileFile("password_protected", "usuarios.xlsx", password_protected, "sin contraseña"),
    HostileFile("legacy_xls", "usuarios.xls", legacy_xls, "libro de Excel antiguo (.xls)"),
    HostileFile("csv_renamed", "usuarios.xlsx", csv_renamed, "no es un archivo .xlsx válido"),
    HostileFile("sparse_cell_bomb", "usuarios.xlsx", sparse_cell_bomb, "demasiados datos"),
    HostileFile("shared_string_bomb", "usuarios.xlsx", shared_string_bomb, "demasiados datos"),
    HostileFile(
        "truncated_download",
        "MA-001 solicitud de usuarios.xlsx",
        truncated_download,
        "no es un archivo .xlsx válido",
    ),
    HostileFile(
        "external_links", "usuarios.xlsx", external_links, "vínculos a otros libros de Excel"
    ),
    HostileFile("xlsb_renamed", "usuarios.xlsx", xlsb_renamed, "libro binario de Excel (.xlsb)"),
    HostileFile("inline_string_bomb", "usuarios.xlsx", inline_string_bomb, "demasiados datos"),
    HostileFile("giant_cell", "usuarios.xlsx", giant_cell, "más de 32,767 caracteres"),
    HostileFile(
        "pasted_roster",
        "directorio agentes.xlsx",
        pasted_roster,
        "El archivo tiene 8000 usuarios y una solicitud admite como máximo 500",
    ),
)
