"""Excel files from people: safety checks on the raw bytes, then reading with python-calamine.

``check_xlsx`` runs before any parser sees the file. It accepts only a plain .xlsx: a zip
whose central directory and actual contents stay within size, entry-count and compression
ratio bounds (every entry is inflated here, in chunks, and never past its declared size),
with no macros, ActiveX controls or links to other workbooks whatever the file is called,
no DTD or entity declaration in any part, no cell holding more text than Excel allows, and
no grid, shared-string or cell-text layout that would make the reader allocate far more
memory than the file's size suggests. ``read_rows`` runs the checks, then returns every
worksheet as rows of normalised cells starting at A1, so that row ``i`` is Excel's row
``i + 1``.

Formulas are never evaluated: calamine returns the value cached in the file (what Excel
last showed), or an empty cell when the writer stored none.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from io import BytesIO
from itertools import compress, pairwise
from typing import Literal, TypeAlias
from xml.etree.ElementTree import ParseError
from xml.parsers import expat

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeElementTree
from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

__all__ = [
    "MAX_BYTES",
    "MAX_CELLS",
    "MAX_CELL_TEXT",
    "MAX_ENTRIES",
    "MAX_RATIO",
    "MAX_TEXT",
    "MAX_UNCOMPRESSED",
    "MB",
    "MIB",
    "Cell",
    "Limits",
    "Sheet",
    "SpreadsheetError",
    "UnreadableSpreadsheet",
    "UnsafeSpreadsheet",
    "check_xlsx",
    "normalize_cell",
    "read_rows",
]

MIB = 1024 * 1024
MB = 1_000_000  # sizes shown to people: office users read a megabyte as a million bytes
MAX_BYTES = 25 * MB
MAX_UNCOMPRESSED = 200 * MIB
MAX_RATIO = 100
MAX_ENTRIES = 1000
MAX_CELLS = 2_000_000
# Cell text the reader may hold: shared strings as copied into cells, and every other cell's
# text as the UTF-8 bytes it takes (at least its length in characters).
MAX_TEXT = 50_000_000
MAX_CELL_TEXT = 32_767  # Excel's own limit on the characters of one cell
# A small part made of repeated markup legitimately compresses beyond 100:1; only a part
# that actually expands to something big can hurt, so the ratio applies above this size.
RATIO_GRACE = 100 * 1024

OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
ZIP_MAGIC = b"PK\x03\x04"
_EOCD_MAGIC = b"PK\x05\x06"
_EOCD_SEARCH = 22 + 0xFFFF  # the record plus the longest possible archive comment
_CHUNK = 64 * 1024
_PENDING_MAX = MIB  # no tag, comment or processing instruction of a real workbook is this long
_TAGS_PER_CELL = 2  # cell and row tags allowed per cell of max_cells
_UTF8_NAME_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1

_CONTENT_TYPES = "[content_types].xml"
_SHARED_STRINGS = "xl/sharedstrings.xml"  # calamine reads this path, ignoring relationships
_WORKBOOK_TYPES = frozenset(
    {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    }
)
_MACRO_TYPE_MARKERS = ("macroenabled", "vbaproject", "vbadata", "activex", "macrosheet")
_MACRO_NAME_MARKERS = ("vbaproject", "vbadata")
_MACRO_FOLDERS = ("/activex/", "/macrosheets/", "/dialogsheets/")
_EXTERNAL_FOLDER = "/externallinks/"

Cell: TypeAlias = str | int | float | bool | dt.date | dt.datetime | dt.time | dt.timedelta | None
Visibility = Literal["visible", "hidden", "very_hidden"]

_SAVE_AGAIN = (
    "Por favor ábrelo en Excel, guárdalo como «Libro de Excel (*.xlsx)» y envíalo de nuevo."
)
_MESSAGES = {
    "not_xlsx": f"El archivo adjunto no es un archivo .xlsx válido. {_SAVE_AGAIN}",
    "ole": (
        "El archivo es un libro de Excel antiguo (.xls) o está protegido con contraseña, y así "
        "no lo podemos revisar. Por favor guárdalo como .xlsx sin contraseña "
        "(«Libro de Excel (*.xlsx)») y envíalo de nuevo."
    ),
    "xlsb": f"El archivo es un libro binario de Excel (.xlsb). {_SAVE_AGAIN}",
    "macros": (
        "El archivo contiene macros o controles ActiveX y, por seguridad, no lo abrimos "
        "(aunque su nombre termine en .xlsx). Por favor guárdalo como «Libro de Excel (*.xlsx)», "
        "sin macros, y envíalo de nuevo."
    ),
    "external_links": (
        "El archivo tiene vínculos a otros libros de Excel. Por favor quita los vínculos "
        "(Datos > Editar vínculos > Romper vínculo), guarda el archivo y envíalo de nuevo."
    ),
    "bomb": (
        "El contenido comprimido del archivo es anómalo (se expande mucho más de lo normal) y, "
        f"por seguridad, no lo abrimos. {_SAVE_AGAIN}"
    ),
    "structure": (
        "La estructura interna del archivo es anómala y, por seguridad, no lo abrimos. "
        f"{_SAVE_AGAIN}"
    ),
    "too_much_data": (
        "El archivo tiene demasiados datos para revisarlo automáticamente. Por favor envía "
        "solo la hoja con la solicitud, sin filas ni columnas de más."
    ),
    "cell_too_long": (
        f"Una celda del archivo tiene más de {MAX_CELL_TEXT:,} caracteres, el máximo que Excel "
        "admite en una celda, y por seguridad no lo abrimos. Por favor revisa que cada dato esté "
        "en su propia celda, guarda el archivo como «Libro de Excel (*.xlsx)» y envíalo de nuevo."
    ),
    "corrupt": f"El archivo está dañado o incompleto y no se pudo abrir. {_SAVE_AGAIN}",
    "unreadable": f"No pudimos leer el contenido del archivo. {_SAVE_AGAIN}",
}
# Each refusal's kind (for logs and tests) and the message family shown to the requester.
_KINDS = {
    "not_xlsx": "not_xlsx",
    "ole": "ole",
    "encrypted": "ole",
    "xlsb": "xlsb",
    "macros": "macros",
    "external_links": "external_links",
    "too_large": "too_much_data",
    "ratio": "bomb",
    "size_mismatch": "bomb",
    "too_many_entries": "structure",
    "duplicate_entry": "structure",
    "overlapping_entries": "structure",
    "unsupported_compression": "structure",
    "dtd": "structure",
    "long_markup": "structure",
    "too_many_cells": "too_much_data",
    "too_much_text": "too_much_data",
    "cell_too_long": "cell_too_long",
    "corrupt": "corrupt",
}


class SpreadsheetError(ValueError):
    """A spreadsheet that cannot be used; ``reason_es`` is the Spanish text for the requester."""

    def __init__(self, reason_es: str, *, kind: str = "unreadable") -> None:
        """Keep the requester's text as the message and the machine-readable kind."""
        super().__init__(reason_es)
        self.reason_es = reason_es
        self.kind = kind


class UnsafeSpreadsheet(SpreadsheetError):
    """The file was refused before any parser opened it."""

    def __init__(self, reason_es: str, *, kind: str = "unsafe") -> None:
        """Same as SpreadsheetError, with a default kind for refusals."""
        super().__init__(reason_es, kind=kind)


class UnreadableSpreadsheet(SpreadsheetError):
    """The file passed the checks but the reader could not make sense of it."""


def _refuse(kind: str, message: str | None = None) -> UnsafeSpreadsheet:
    """The refusal of this kind, with its family's Spanish message unless one is given."""
    return UnsafeSpreadsheet(message or _MESSAGES[_KINDS[kind]], kind=kind)


@dataclass(frozen=True)
class Sheet:
    """One worksheet: its name, its rows from A1 (normalised cells) and its visibility."""

    name: str
    rows: tuple[tuple[Cell, ...], ...]
    visibility: Visibility = "visible"

    @property
    def hidden(self) -> bool:
        """True for hidden and very hidden sheets."""
        return self.visibility != "visible"


# --- safety checks ----------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """How big a spreadsheet may be, in every dimension, before it is refused unopened."""

    max_bytes: int = MAX_BYTES
    max_uncompressed: int = MAX_UNCOMPRESSED
    max_ratio: int = MAX_RATIO
    max_entries: int = MAX_ENTRIES
    max_cells: int = MAX_CELLS
    max_text: int = MAX_TEXT


DEFAULT_LIMITS = Limits()


def check_xlsx(data: bytes, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise UnsafeSpreadsheet unless the bytes are a plain .xlsx within every limit."""
    max_bytes, max_uncompressed = limits.max_bytes, limits.max_uncompressed
    max_ratio, max_entries = limits.max_ratio, limits.max_entries
    max_cells, max_text = limits.max_cells, limits.max_text
    if len(data) > max_bytes:
        raise _refuse(
            "too_large",
            f"El archivo pesa {_megabytes(len(data))} y el máximo que podemos revisar es de "
            f"{_megabytes(max_bytes)}. Por favor envía solo la hoja con la solicitud.",
        )
    if data.startswith(OLE2_MAGIC):
        raise _refuse("ole")
    if not data.startswith(ZIP_MAGIC):
        raise _refuse("not_xlsx")
    # zipfile builds an object per central-directory record: count them before it does.
    declared_entries = _declared_entry_count(data)
    if declared_entries > max_entries:
        raise _refuse("too_many_entries")
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error):
        raise _refuse("not_xlsx") from None
    with archive:
        infos = archive.infolist()
    _check_directory(infos, max_entries, max_ratio)
    view = memoryview(data)
    spans = [_data_span(view, info) for info in infos]
    # Before the declared total: entries that overlap are a bomb, whatever they claim to hold.
    _check_overlaps(infos, spans)
    _check_declared_total(infos, max_uncompressed, max_ratio)
    kept = _inflate_all(
        view, infos, spans, max_uncompressed, max_ratio, max_cells=max_cells, max_text=max_text
    )
    _check_content_types(kept.get(_CONTENT_TYPES))


def _megabytes(size: int) -> str:
    """A size as people read it: "31.5 MB", "25 MB"."""
    return f"{size / MB:.1f}".removesuffix(".0") + " MB"


def _declared_entry_count(data: bytes) -> int:
    """The entry count of the end-of-central-directory record; raise if there is none."""
    position = data.rfind(_EOCD_MAGIC, max(0, len(data) - _EOCD_SEARCH))
    if position < 0 or position + 22 > len(data):
        raise _refuse("not_xlsx")
    (count,) = struct.unpack_from("<H", data, position + 10)
    # 0xFFFF defers to a ZIP64 record; no spreadsheet needs that many parts.
    return 1 << 32 if count == 0xFFFF else int(count)


def _check_directory(infos: Sequence[zipfile.ZipInfo], max_entries: int, max_ratio: int) -> None:
    """Entry count, names, encryption, compression methods and each declared size."""
    if len(infos) > max_entries:
        raise _refuse("too_many_entries")
    seen: set[str] = set()
    for info in infos:
        name = info.filename.replace("\\", "/").lower()
        rooted = "/" + name.lstrip("/")
        if info.flag_bits & _ENCRYPTED_FLAG:
            raise _refuse("encrypted")
        if any(marker in name for marker in _MACRO_NAME_MARKERS) or any(
            folder in rooted for folder in _MACRO_FOLDERS
        ):
            raise _refuse("macros")
        if _EXTERNAL_FOLDER in rooted:
            raise _refuse("external_links")
        # Two entries that differ only in case resolve differently in different readers.
        if name in seen:
            raise _refuse("duplicate_entry")
        seen.add(name)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _refuse("unsupported_compression")
        if _over_ratio(info.file_size, info.compress_size, max_ratio):
            raise _refuse("ratio")


def _check_declared_total(
    infos: Sequence[zipfile.ZipInfo], max_uncompressed: int, max_ratio: int
) -> None:
    """What the whole archive claims to inflate to."""
    declared = sum(info.file_size for info in infos)
    if declared > max_uncompressed:
        raise _refuse("too_large")
    if _over_ratio(declared, sum(info.compress_size for info in infos), max_ratio):
        raise _refuse("ratio")


def _over_ratio(expanded: int, compressed: int, max_ratio: int) -> bool:
    """True when a big enough payload expands more than ``max_ratio`` times."""
    return expanded > RATIO_GRACE and expanded > max_ratio * max(compressed, 1)


def _data_span(view: memoryview, info: zipfile.ZipInfo) -> tuple[int, int]:
    """Where the entry's compressed bytes lie, read from its local header."""
    offset = info.header_offset
    header = bytes(view[offset : offset + 30])
    if len(header) < 30 or not header.startswith(ZIP_MAGIC):
        raise _refuse("corrupt")
    (method,) = struct.unpack_from("<H", header, 8)
    name_length, extra_length = struct.unpack_from("<HH", header, 26)
    raw_name = bytes(view[offset + 30 : offset + 30 + name_length])
    encoding = "utf-8" if info.flag_bits & _UTF8_NAME_FLAG else "cp437"
    try:
        local_name = raw_name.decode(encoding)
    except UnicodeDecodeError:
        raise _refuse("corrupt") from None
    # A local header that disagrees with the central directory shows different files to
    # different readers.
    if local_name != info.orig_filename or method != info.compress_type:
        raise _refuse("corrupt")
    start = offset + 30 + name_length + extra_length
    end = start + info.compress_size
    if end > len(view):
        raise _refuse("corrupt")
    return start, end


def _check_overlaps(infos: Sequence[zipfile.ZipInfo], spans: Sequence[tuple[int, int]]) -> None:
    """Refuse entries that share compressed bytes (the overlapping-entries zip bomb)."""
    ordered = sorted(zip((info.header_offset for info in infos), spans, strict=True))
    for (_, (_, end)), (next_header, _) in pairwise(ordered):
        if end > next_header:
            raise _refuse("overlapping_entries")


@dataclass
class _Totals:
    """Bytes produced and consumed so far over the whole archive."""

    produced: int = 0
    consumed: int = 0


def _inflate_all(
    view: memoryview,
    infos: Sequence[zipfile.ZipInfo],
    spans: Sequence[tuple[int, int]],
    max_uncompressed: int,
    max_ratio: int,
    *,
    max_cells: int,
    max_text: int,
) -> dict[str, bytes]:
    """Inflate every entry within the limits; keep the content types and shared strings."""
    totals = _Totals()
    kept: dict[str, bytes] = {}
    # The shared strings come first so that the cell scan knows each string's length.
    order = sorted(
        range(len(infos)),
        key=lambda i: infos[i].filename.lower() not in (_CONTENT_TYPES, _SHARED_STRINGS),
    )
    scanned = _Scanned()
    shared: list[int] = []
    for index in order:
        info, span = infos[index], spans[index]
        name = info.filename.lower()
        chunks = _inflate(view, info, span, max_uncompressed - totals.produced, max_ratio, totals)
        declarations = _DeclarationGuard()
        if name in (_CONTENT_TYPES, _SHARED_STRINGS):
            parts = []
            for chunk in chunks:
                declarations.feed(chunk)
                parts.append(chunk)
            kept[name] = b"".join(parts)
            if name == _SHARED_STRINGS:
                shared = _shared_string_lengths(kept[name])
            continue
        scan = _CellScan(shared)
        for chunk in chunks:
            declarations.feed(chunk)
            scan.feed(chunk)
            _check_scan(scan, scanned, max_cells, max_text)
        scan.close()
        _check_scan(scan, scanned, max_cells, max_text)
        scanned.tags += scan.tags
        scanned.text += scan.text
    if _over_ratio(totals.produced, totals.consumed, max_ratio):
        raise _refuse("ratio")
    return kept


def _check_scan(scan: _CellScan, before: _Scanned, max_cells: int, max_text: int) -> None:
    """Refuse once the grid, the cells and rows or the cell text would exceed the limits."""
    if scan.max_row * scan.max_col > max_cells:
        raise _refuse("too_many_cells")
    # Empty formatted cells and rows beyond the data are normal, but not this many of them.
    if before.tags + scan.tags > _TAGS_PER_CELL * max_cells:
        raise _refuse("too_many_cells")
    if before.text + scan.text > max_text:
        raise _refuse("too_much_text")


@dataclass
class _Scanned:
    """Cell and row tags and cell text in the parts scanned so far."""

    tags: int = 0
    text: int = 0


def _inflate(
    view: memoryview,
    info: zipfile.ZipInfo,
    span: tuple[int, int],
    budget: int,
    max_ratio: int,
    totals: _Totals,
) -> Iterator[bytes]:
    """Yield an entry's bytes as they inflate, never past its declared size or the budget."""
    raw = view[span[0] : span[1]]
    limit = min(info.file_size, budget)
    produced = 0
    crc = 0
    if info.compress_type == zipfile.ZIP_STORED:
        consumed = len(raw)
        for position in range(0, len(raw), _CHUNK):
            chunk = bytes(raw[position : position + _CHUNK])
            produced += len(chunk)
            if produced > limit:
                raise _refuse("size_mismatch" if produced > info.file_size else "too_large")
            crc = zlib.crc32(chunk, crc)
            yield chunk
    else:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        fed = 0
        pending: bytes | memoryview = b""
        while not inflater.eof:
            if not pending and fed < len(raw):
                pending = raw[fed : fed + _CHUNK]
                fed += len(pending)
            try:
                chunk = inflater.decompress(pending, _CHUNK)
            except zlib.error:
                raise _refuse("corrupt") from None
            pending = inflater.unconsumed_tail
            if not chunk and not pending and fed >= len(raw):
                break
            produced += len(chunk)
            if produced > limit:
                raise _refuse("size_mismatch" if produced > info.file_size else "too_large")
            crc = zlib.crc32(chunk, crc)
            yield chunk
        if not inflater.eof:
            raise _refuse("corrupt")
        consumed = fed - len(pending) - len(inflater.unused_data)
    if produced != info.file_size or crc != info.CRC:
        raise _refuse("corrupt")
    if _over_ratio(produced, consumed, max_ratio):
        raise _refuse("ratio")
    totals.produced += produced
    totals.consumed += consumed


class _SharedStringLengths:
    """Expat handlers measuring each <si> of the shared strings: the text of all its <t>."""

    def __init__(self) -> None:
        """An empty table."""
        self.lengths: list[int] = []
        self._length = 0
        self._in_text = 0

    def start(self, name: str, attributes: object) -> None:
        """A string starts at zero; text counts inside a <t>."""
        local = name.rpartition(":")[2]
        if local == "si":
            self._length = 0
        elif local == "t":
            self._in_text += 1

    def end(self, name: str) -> None:
        """A whole string is measured; none may exceed Excel's cell limit."""
        local = name.rpartition(":")[2]
        if local == "t":
            self._in_text -= 1
        elif local == "si":
            if self._length > MAX_CELL_TEXT:
                raise _refuse("cell_too_long")
            self.lengths.append(self._length)

    def data(self, text: str) -> None:
        """Characters, counted inside a <t>."""
        if self._in_text:
            self._length += len(text)


def _no_declarations(*_args: object) -> None:
    """Refuse a DTD (the part was already checked for one: this is a second lock)."""
    raise _refuse("dtd")


def _shared_string_lengths(xml: bytes) -> list[int]:
    """The length of each shared string, in table order."""
    # Plain expat: ElementTree's tree building costs seconds on a table of 100,000 strings.
    table = _SharedStringLengths()
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _no_declarations
    parser.EntityDeclHandler = _no_declarations
    parser.StartElementHandler = table.start
    parser.EndElementHandler = table.end
    parser.CharacterDataHandler = table.data
    try:
        parser.Parse(xml, True)
    except expat.ExpatError:
        raise _refuse("corrupt") from None
    return table.lengths


def _check_content_types(xml: bytes | None) -> None:
    """A spreadsheet's main part, and no macro, binary-workbook or external-link part."""
    if xml is None:
        raise _refuse("not_xlsx")
    try:
        root = SafeElementTree.fromstring(xml, forbid_dtd=True)
    except (ParseError, DefusedXmlException):
        raise _refuse("corrupt") from None
    types = [str(element.get("ContentType") or "").strip().lower() for element in root.iter()]
    # The binary workbook's type also says "macroEnabled", with or without macros.
    if any("sheet.binary" in kind for kind in types):
        raise _refuse("xlsb")
    if any(marker in kind for kind in types for marker in _MACRO_TYPE_MARKERS):
        raise _refuse("macros")
    if any("externallink" in kind for kind in types):
        raise _refuse("external_links")
    if not _WORKBOOK_TYPES.intersection(types):
        raise _refuse("not_xlsx")


# --- what the reader will hold ------------------------------------------------------------

# quick-xml, calamine's parser, takes a DOCTYPE in any letter case and in any part.
_DECLARATION = re.compile(rb"<!(?i:doctype|entity)")
_DECLARATION_OVERLAP = len(b"<!doctype") - 1


class _DeclarationGuard:
    """Refuses a DTD or entity declaration anywhere in one part, across chunk boundaries."""

    def __init__(self) -> None:
        """Nothing seen yet."""
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        """Look at this chunk, and at a declaration straddling it and the previous one."""
        straddling = self._tail + chunk[:_DECLARATION_OVERLAP]
        if _DECLARATION.search(straddling) or _DECLARATION.search(chunk):
            raise _refuse("dtd")
        self._tail = (self._tail + chunk[-_DECLARATION_OVERLAP:])[-_DECLARATION_OVERLAP:]


# The lexer's tokens, tried in this order wherever it stands, so that it never skips a byte:
# a whole cell written the usual way (double-quoted attributes one space apart, its reference
# first if it has one, at most one type, then an optional formula and a value or an inline
# string), a plain value, a plain text, characters with the tags that do not matter, the
# opener of a comment, CDATA section, processing instruction or other declaration (each
# skipped to its end), any other tag, or a stray "<". Like quick-xml, a tag ends at the first
# ">" outside quotes, and a quoted value may hold "<".
_NAME = rb"[A-Za-z_\x80-\xff][\w.\-\x80-\xff]*+"
_WHOLE_ATTRIBUTES = rb'(?: (?![rt]=)[\w:.-]++="[^<>"]*+")*+'
_TEXT_START = rb'<t(?: xml:space="preserve")?>'
_WHOLE_TOKENS = (
    rb'(?P<cell><c(?: r="(?P<letters>[A-Z]{0,3})(?P<digits>[0-9]{0,9})")?'
    + _WHOLE_ATTRIBUTES
    + rb'(?: t="(?P<type>[A-Za-z]*)")?'
    + _WHOLE_ATTRIBUTES
    + rb"(?:/>|>(?:<f"
    + _WHOLE_ATTRIBUTES
    + rb"(?:/>|>[^<]*+</f>))?"
    + rb"(?:<v>(?P<value>[^<]*+)</v>|<is>"
    + _TEXT_START
    + rb"(?P<inline>[^<]*+)</t></is>|(?P<empty><v/>))?</c>))"
    + rb"|<v>(?P<plain_value>[^<]*+)</v>|"
    + _TEXT_START
    + rb"(?P<plain_text>[^<]*+)</t>|"
)
_QUOTED_ATTRIBUTES = rb"[^>\"']*+(?:(?:\"[^\"]*+\"|'[^']*+')[^>\"']*+)*+"
# Start tags of rows, cells, values and texts and end tags of cells, values and texts matter.
_MATTERS = rb"(?:" + _NAME + rb":)?(?:row|c|v|is|t)[\s/>]|/(?:" + _NAME + rb":)?(?:c|v|t)[\s>]"
_OTHER_TOKENS = (
    rb"(?P<chars>(?:[^<]++|<(?!" + _MATTERS + rb")/?" + _NAME + _QUOTED_ATTRIBUTES + rb">)++)"
    rb"|<(?P<opener>!--|!\[CDATA\[|\?|!)"
    rb"|(?P<tag><(?P<slash>/?)(?:" + _NAME + rb":)?(?P<name>" + _NAME + rb")"
    rb"(?P<attributes>" + _QUOTED_ATTRIBUTES + rb")>)"
    rb"|(?P<stray><)"
)
_TOKEN = re.compile(_WHOLE_TOKENS + _OTHER_TOKENS)
_CELL_GROUPS = tuple(
    _TOKEN.groupindex[name] for name in ("letters", "digits", "type", "value", "inline", "empty")
)
# Inside a <t> or a <v> everything up to its end tag is the reader's text, cells included.
_TOKEN_IN_TEXT = re.compile(_OTHER_TOKENS)
_SKIP_TO = {b"!--": b"-->", b"![CDATA[": b"]]>", b"?": b"?>", b"!": b">"}
_MARKUP_START = frozenset(
    b"!?/_" + bytes(range(65, 91)) + bytes(range(97, 123)) + bytes(range(128, 256))
)
_LONGEST_OPENER = len(b"<![CDATA[")
_REF = re.compile(rb"(?:^|\s)r\s*=\s*[\"']\$?([A-Za-z]*)\$?([0-9]*)[\"']")
_TYPE = re.compile(rb"(?:^|\s)t\s*=\s*[\"']([^\"']*)[\"']")
_DIGITS = re.compile(rb"[0-9]*")
_ENTITY = re.compile(rb"&#?\w+;")
_ENTITY_MAX = 32  # longer than any entity or character reference
_CONTINUATION = bytes(range(0x80, 0xC0))  # UTF-8 bytes that do not start a character
_HUGE = 10**9

# The layout Excel, LibreOffice and openpyxl write: unprefixed tags, double-quoted attributes
# one space apart, no value holding "<" or ">", no comment, CDATA or processing instruction.
# In such a block every "<" starts a real tag and each tag ends at its first ">", so counting
# occurrences tells whether the patterns below saw every cell, row, value and text, and whole
# blocks are counted without a step per cell.
_PLAIN_BLOCK = re.compile(rb'[^<]*+(?:</?[A-Za-z]++(?: [\w:.-]++="[^<>"]*+")*+/?>[^<]*+)*+')
_PLAIN_CELL = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,9})"[^>/]*(?:/>|></c>|(>))')
_PLAIN_ROW = re.compile(rb'<row r="([0-9]{1,9})"')
_PLAIN_VALUE = re.compile(rb"<v>([^<]*)</v>")
_PLAIN_TEXT = re.compile(rb'<t(?: xml:space="preserve")?>([^<]*)</t>')
_PLAIN_SHARED = re.compile(rb' t="s"[^>/]*><v>([0-9]{1,9})</v>')
_PLAIN_TAIL_MAX = 64 * 1024  # a block ends at its last cell or row, if that is this near


def _row_number(digits: bytes) -> int:
    """A 1-based row number, saturated so absurd values stay cheap to handle."""
    return _HUGE if len(digits) > 9 else int(digits)


@functools.lru_cache(maxsize=4096)
def _column_number(letters: bytes) -> int:
    """A 1-based column number from its letters (A=1), saturated like rows."""
    if len(letters) > 4:
        return _HUGE
    number = 0
    for letter in letters.upper():
        number = number * 26 + letter - ord("A") + 1
    return number


def _reference(attributes: bytes) -> tuple[int, int]:
    """The column and row an r attribute gives (0 for none); of two, the farthest."""
    # The reader takes the last of duplicated attributes: no order can hide the far one.
    column = row = 0
    for letters, digits in _REF.findall(attributes) if b"r" in attributes else ():
        if letters:
            column = max(column, _column_number(letters))
        if digits:
            row = max(row, _row_number(digits))
    return column, row


def _characters(text: bytes, *, literal: bool = False) -> int:
    """How many characters UTF-8 text holds once its entities are read (not in CDATA)."""
    shrink = 0 if literal else sum(len(entity) - 1 for entity in _ENTITY.findall(text))
    return len(text.translate(None, _CONTINUATION)) - shrink


# calamine allocates the whole rectangle up to the farthest valued cell, holds every cell's
# text and copies a shared string into every cell that refers to it (to_python copies it all
# again), so a file of a few kilobytes can demand gigabytes: follow its layout first.
class _CellScan:
    """Where the reader will place each valued cell of a part, and the cell text it holds."""

    def __init__(self, shared_lengths: Sequence[int]) -> None:
        """Start before the first row."""
        self._shared = shared_lengths
        self._pending = b""
        self._row = 0
        self._col = 0
        self._cell_row = 0
        self._shared_cell = False
        self._cell_open = False  # a cell whose first value has not been seen yet
        self._in_cell = False  # between a cell's start and end tags
        self._cell_chars = 0
        self._text_in = b""  # "t" or "v" while inside one: its characters are cell text
        self._skip = b""  # the end of the comment, CDATA section or instruction being skipped
        self._cdata = False
        self.max_row = 0
        self.max_col = 0
        self.text = 0
        self.tags = 0  # cells and rows, empty ones included: the reader walks through them all

    def feed(self, chunk: bytes) -> None:
        """Account every complete construct so far; keep an unfinished one for the next chunk."""
        buffer = self._pending + chunk
        cut = max(buffer.rfind(b'<c r="'), buffer.rfind(b"<row "))
        if (
            cut > 0
            and len(buffer) - cut <= _PLAIN_TAIL_MAX
            and not (self._skip or self._text_in)
            and self._plain(buffer[:cut])
        ):
            self._pending = buffer[cut:]
            return
        done = self._lex(buffer, final=False)
        self._pending = buffer[done:]
        if len(self._pending) > _PENDING_MAX:
            raise _refuse("long_markup")

    def close(self) -> None:
        """Account what is left."""
        self._lex(self._pending, final=True)
        self._pending = b""

    def _plain(self, block: bytes) -> bool:
        """Account a block of whole cells in the usual layout; False if it is not one."""
        if not _PLAIN_BLOCK.fullmatch(block):
            return False
        parts = _PLAIN_CELL.split(block)
        head, letters, numbers = parts[0], parts[1::4], parts[2::4]
        opened: list[bytes | None] = parts[3::4]  # ">" for a cell that holds something
        rows = _PLAIN_ROW.findall(block)
        values = _PLAIN_VALUE.findall(block)
        texts = _PLAIN_TEXT.findall(block)
        shared = _PLAIN_SHARED.findall(block)
        if (
            block.count(b"<c") != len(letters)
            or block.count(b"<row") != len(rows)
            # A second r attribute would be the one the reader takes.
            or block.count(b' r="') != len(letters) + len(rows)
            or block.count(b"<v") != len(values)
            or block.count(b"<t") != len(texts)
            or block.count(b' t="s"') != len(shared)
            # One value in each cell that is not empty, as the lexer pairs them.
            or len(values) + block.count(b"<is") != len(opened) - opened.count(None)
            # A value before the first cell belongs to a cell the lexer has open.
            or b"<v" in head
            or b"<is" in head
            or b"<t" in head
            # No cell spans more bytes than it may hold characters.
            or max(map(len, parts[::4])) > MAX_CELL_TEXT
        ):
            return False
        self.tags += len(letters) + len(rows)
        self.text += len(b"".join(values)) - len(b"".join(shared)) + len(b"".join(texts))
        self.text += self._shared_total(shared)
        valued_rows = set(compress(numbers, opened))
        if valued_rows:
            self.max_row = max(self.max_row, max(map(int, valued_rows)))
        valued_columns = set(compress(letters, opened))
        if valued_columns:
            self.max_col = max(self.max_col, max(map(_column_number, valued_columns)))
        # Leave the lexer in the state it would have reached at the end of the block.
        if rows:
            self._row = int(rows[-1])
        last_row, last_cell = block.rfind(b"<row "), block.rfind(b'<c r="')
        if last_cell > last_row:
            self._open_cell(block[last_cell + 2 : block.index(b">", last_cell)])
            self._cell_open = opened[-1] is None
        elif last_row >= 0:
            self._col = 0
            self._cell_open = False
        self._in_cell = False
        self._cell_chars = 0
        return True

    def _shared_total(self, indexes: Sequence[bytes]) -> int:
        """The length of the shared strings these cells copy (a missing one copies nothing)."""
        lengths = self._shared
        try:
            return sum(map(lengths.__getitem__, map(int, indexes)))
        except IndexError:
            return sum(lengths[i] for i in map(int, indexes) if i < len(lengths))

    def _lex(self, text: bytes, *, final: bool) -> int:
        """Follow every construct of ``text`` as the reader does; where an unfinished one starts."""
        position, end = 0, len(text)
        while position < end:
            if self._skip:
                stop = text.find(self._skip, position)
                if stop < 0:
                    keep = end if final else max(position, end - len(self._skip) + 1)
                    if self._cdata:
                        self._chars(text, position, keep, literal=True)
                    return keep
                if self._cdata:
                    self._chars(text, position, stop, literal=True)
                position = stop + len(self._skip)
                self._skip = b""
            resumed = self._tokens(text, position, final=final)
            if resumed < 0:
                return -resumed - 1
            position = resumed
        return end

    def _tokens(self, text: bytes, position: int, *, final: bool) -> int:
        """Tokens up to a change of mode: where to go on, or -1 - where an unfinished one starts."""
        end = len(text)
        in_text = bool(self._text_in)
        for token in (_TOKEN_IN_TEXT if in_text else _TOKEN).finditer(text, position):
            kind = token.lastgroup
            if kind == "tag":
                slash, name, attributes = token.group("slash", "name", "attributes")
                if slash:
                    self._end(name)
                # A shared cell's index, whole, before the value is taken.
                elif (
                    name == b"v"
                    and self._shared_cell
                    and self._cell_open
                    and not final
                    and text.find(b"<", token.end()) < 0
                ):
                    return -1 - token.start()
                else:
                    self._start(name, attributes, text, token.end())
                if bool(self._text_in) != in_text:
                    return token.end()
                continue
            if kind == "cell":
                self._cell(token)
                continue
            if kind == "plain_value":
                self._value(token["plain_value"])
                continue
            if kind == "plain_text":
                self._add_text(token["plain_text"])
                continue
            start = token.start()
            if kind == "chars":
                stop = token.end()
                if stop == end and not final and in_text:
                    # An entity cut by the chunk's end is counted whole with the next chunk.
                    entity = text.rfind(b"&", max(start, end - _ENTITY_MAX))
                    if entity >= 0 and b";" not in text[entity:]:
                        self._chars(text, start, entity)
                        return -1 - entity
                self._chars(text, start, stop)
            elif kind == "stray":
                if not final and (start + 1 == end or text[start + 1] in _MARKUP_START):
                    return -1 - start
                # Otherwise a "<" that starts nothing, where quick-xml stops with an error.
            elif kind == "opener":
                opener = token["opener"]
                # "<!-" or "<![CDA" cut by the chunk's end must not pass for a declaration.
                if opener == b"!" and end - start < _LONGEST_OPENER and not final:
                    return -1 - start
                self._skip = _SKIP_TO[opener]
                self._cdata = opener == b"![CDATA["
                return token.end()
        return end

    def _cell(self, token: re.Match[bytes]) -> None:
        """A whole cell in the usual layout, as its tags one by one would be taken."""
        letters, digits, kind, value, inline, empty = token.group(*_CELL_GROUPS)
        self.tags += 1
        self._col = _column_number(letters) if letters else self._col + 1
        self._cell_row = int(digits) if digits else max(self._row, 1)
        self._shared_cell = kind == b"s"
        self._in_cell = False
        self._cell_chars = 0
        if value is None and inline is None and empty is None:
            self._cell_open = True
            return
        self._cell_open = False
        self.max_row = max(self.max_row, self._cell_row)
        self.max_col = max(self.max_col, self._col)
        if value is not None and self._shared_cell:
            self._shared_text(value)
            return
        self._cell_text(inline if value is None else value)

    def _value(self, text: bytes) -> None:
        """A <v> holding characters only: a cell's first value marks it."""
        if self._cell_open:
            self._cell_open = False
            self.max_row = max(self.max_row, self._cell_row)
            self.max_col = max(self.max_col, self._col)
            if self._shared_cell:
                self._shared_text(text)
                return
        self._add_text(text)

    def _cell_text(self, text: bytes | None) -> None:
        """The whole text of a cell."""
        if text:
            self.text += len(text)
            if len(text) > MAX_CELL_TEXT and _characters(text) > MAX_CELL_TEXT:
                raise _refuse("cell_too_long")

    def _add_text(self, text: bytes, *, literal: bool = False) -> None:
        """Characters of a <t> or a <v>, part of the open cell's text if there is one."""
        self.text += len(text)
        if self._in_cell:
            self._cell_chars += _characters(text, literal=literal)
            if self._cell_chars > MAX_CELL_TEXT:
                raise _refuse("cell_too_long")

    def _shared_text(self, value: bytes) -> None:
        """The shared string a cell copies: its index, a missing one copies nothing."""
        digits = _DIGITS.match(value)
        if digits and 0 < len(digits[0]) < 10 and int(digits[0]) < len(self._shared):
            self.text += self._shared[int(digits[0])]

    def _start(self, name: bytes, attributes: bytes, text: bytes, after: int) -> None:
        """A start tag: rows and cells move the position, a cell's first value marks it."""
        closed = attributes.endswith(b"/")
        if name == b"row":
            self.tags += 1
            _column, row = _reference(attributes)
            self._row = row or self._row + 1
            self._col = 0
            self._cell_open = False
            if not self._text_in:
                self._in_cell = False
        elif name == b"c":
            self.tags += 1
            self._open_cell(attributes)
        elif (name == b"v" or name == b"is") and self._cell_open:
            self._cell_open = False
            self.max_row = max(self.max_row, self._cell_row)
            self.max_col = max(self.max_col, self._col)
            if name == b"v" and self._shared_cell:
                # Its characters are an index, not text.
                self._shared_text(text[after : after + 10])
                return
        if (name == b"t" or name == b"v") and not (closed or self._text_in):
            self._text_in = name

    def _open_cell(self, attributes: bytes) -> None:
        """A cell's start tag: its position, its type, and no value yet."""
        column, row = _reference(attributes)
        self._col = column or self._col + 1
        self._cell_row = row or max(self._row, 1)
        types = _TYPE.findall(attributes) if b"t" in attributes else []
        self._shared_cell = bool(types) and types.count(b"s") == len(types)
        self._cell_open = True
        if not self._text_in:
            self._in_cell = not attributes.endswith(b"/")
            self._cell_chars = 0

    def _end(self, name: bytes) -> None:
        """An end tag: the end of a value's or text's characters, or of a cell."""
        if self._text_in:
            if name == self._text_in:
                self._text_in = b""
        elif name == b"c":
            self._in_cell = False

    def _chars(self, text: bytes, start: int, stop: int, *, literal: bool = False) -> None:
        """Characters between tags: cell text inside a <t> or a <v>."""
        if stop > start and self._text_in:
            self._add_text(text[start:stop], literal=literal)


# --- reading ----------------------------------------------------------------------------

_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


def normalize_cell(value: object) -> Cell:
    """Integral floats to int, strings stripped (empty to None), dates and times as given."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):
        # calamine returns every number as a float; 2**53 keeps the conversion exact.
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return value.strip().strip(_INVISIBLE).strip() or None
    if isinstance(value, dt.date | dt.time | dt.timedelta):
        return value
    return str(value)


def _visibility(visible: SheetVisibleEnum) -> Visibility:
    """calamine's visibility as a plain string."""
    if visible == SheetVisibleEnum.Hidden:
        return "hidden"
    if visible == SheetVisibleEnum.VeryHidden:
        return "very_hidden"
    return "visible"


def read_rows(data: bytes, limits: Limits = DEFAULT_LIMITS) -> list[Sheet]:
    """Check the file, then read every worksheet from A1 with normalised cells."""
    check_xlsx(data, limits)
    sheets: list[Sheet] = []
    try:
        with CalamineWorkbook.from_filelike(BytesIO(data)) as workbook:
            for meta in workbook.sheets_metadata:
                if meta.typ != SheetTypeEnum.WorkSheet:
                    continue
                rows = workbook.get_sheet_by_name(meta.name).to_python(skip_empty_area=False)
                sheets.append(
                    Sheet(
                        name=meta.name,
                        rows=tuple(tuple(normalize_cell(value) for value in row) for row in rows),
                        visibility=_visibility(meta.visible),
                    )
                )
    except (CalamineError, ValueError, OverflowError) as exc:
        raise UnreadableSpreadsheet(_MESSAGES["unreadable"], kind="unreadable") from exc
    return sheets
