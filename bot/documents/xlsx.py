"""Excel files from people: safety checks on the raw bytes, then reading with python-calamine.

``check_xlsx`` runs before any parser sees the file. It accepts only a plain .xlsx: a zip
whose central directory and actual contents stay within size, entry-count and compression
ratio bounds (every entry is inflated here, in chunks, and never past its declared size),
with no macros, ActiveX controls or links to other workbooks whatever the file is called,
and no grid or shared-string layout that would make the reader allocate far more memory
than the file's size suggests. ``read_rows`` runs the checks, then returns every worksheet
as rows of normalised cells starting at A1, so that row ``i`` is Excel's row ``i + 1``.

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
from itertools import pairwise
from typing import Literal, TypeAlias
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeElementTree
from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

__all__ = [
    "MAX_BYTES",
    "MAX_CELLS",
    "MAX_ENTRIES",
    "MAX_RATIO",
    "MAX_TEXT",
    "MAX_UNCOMPRESSED",
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
MAX_BYTES = 25 * MIB
MAX_UNCOMPRESSED = 200 * MIB
MAX_RATIO = 100
MAX_ENTRIES = 1000
MAX_CELLS = 2_000_000
MAX_TEXT = 50_000_000
# A small part made of repeated markup legitimately compresses beyond 100:1; only a part
# that actually expands to something big can hurt, so the ratio applies above this size.
RATIO_GRACE = 100 * 1024

OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
ZIP_MAGIC = b"PK\x03\x04"
_EOCD_MAGIC = b"PK\x05\x06"
_EOCD_SEARCH = 22 + 0xFFFF  # the record plus the longest possible archive comment
_CHUNK = 64 * 1024
_TAIL_MAX = 64 * 1024
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
    "Por favor ábralo en Excel, guárdelo como «Libro de Excel (*.xlsx)» y envíelo de nuevo."
)
_MESSAGES = {
    "not_xlsx": f"El archivo adjunto no es un archivo .xlsx válido. {_SAVE_AGAIN}",
    "ole": (
        "El archivo es un libro de Excel antiguo (.xls) o está protegido con contraseña, y así "
        "no lo podemos revisar. Por favor guárdelo como .xlsx sin contraseña "
        "(«Libro de Excel (*.xlsx)») y envíelo de nuevo."
    ),
    "xlsb": f"El archivo es un libro binario de Excel (.xlsb). {_SAVE_AGAIN}",
    "macros": (
        "El archivo contiene macros o controles ActiveX y, por seguridad, no lo abrimos "
        "(aunque su nombre termine en .xlsx). Por favor guárdelo como «Libro de Excel (*.xlsx)», "
        "sin macros, y envíelo de nuevo."
    ),
    "external_links": (
        "El archivo tiene vínculos a otros libros de Excel. Por favor quite los vínculos "
        "(Datos > Editar vínculos > Romper vínculo), guarde el archivo y envíelo de nuevo."
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
        "El archivo tiene demasiados datos para revisarlo automáticamente. Por favor envíe "
        "solo la hoja con la solicitud, sin filas ni columnas de más."
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
    "too_large": "bomb",
    "ratio": "bomb",
    "size_mismatch": "bomb",
    "too_many_entries": "structure",
    "duplicate_entry": "structure",
    "overlapping_entries": "structure",
    "unsupported_compression": "structure",
    "too_many_cells": "too_much_data",
    "too_much_text": "too_much_data",
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
            f"El archivo pesa {len(data) / MIB:.1f} MB y el máximo que podemos revisar es de "
            f"{max_bytes / MIB:.0f} MB. Por favor envíe solo la hoja con la solicitud.",
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
    _check_directory(infos, max_entries, max_uncompressed, max_ratio)
    view = memoryview(data)
    spans = [_data_span(view, info) for info in infos]
    _check_overlaps(infos, spans)
    kept = _inflate_all(
        view, infos, spans, max_uncompressed, max_ratio, max_cells=max_cells, max_text=max_text
    )
    _check_content_types(kept.get(_CONTENT_TYPES))


def _declared_entry_count(data: bytes) -> int:
    """The entry count of the end-of-central-directory record; raise if there is none."""
    position = data.rfind(_EOCD_MAGIC, max(0, len(data) - _EOCD_SEARCH))
    if position < 0 or position + 22 > len(data):
        raise _refuse("not_xlsx")
    (count,) = struct.unpack_from("<H", data, position + 10)
    # 0xFFFF defers to a ZIP64 record; no spreadsheet needs that many parts.
    return 1 << 32 if count == 0xFFFF else int(count)


def _check_directory(
    infos: Sequence[zipfile.ZipInfo], max_entries: int, max_uncompressed: int, max_ratio: int
) -> None:
    """Entry count, names, encryption, compression methods and declared sizes."""
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
    text = 0
    shared: list[int] = []
    for index in order:
        info, span = infos[index], spans[index]
        name = info.filename.lower()
        chunks = _inflate(view, info, span, max_uncompressed - totals.produced, max_ratio, totals)
        if name in (_CONTENT_TYPES, _SHARED_STRINGS):
            kept[name] = b"".join(chunks)
            if name == _SHARED_STRINGS:
                shared = _shared_string_lengths(kept[name])
            continue
        scan = _CellScan(shared)
        for chunk in chunks:
            scan.feed(chunk)
            _check_scan(scan, text, max_cells, max_text)
        scan.close()
        _check_scan(scan, text, max_cells, max_text)
        text += scan.text
    if _over_ratio(totals.produced, totals.consumed, max_ratio):
        raise _refuse("ratio")
    return kept


def _check_scan(scan: _CellScan, text_before: int, max_cells: int, max_text: int) -> None:
    """Refuse once the grid or the copied shared text would exceed the limits."""
    if scan.max_row * scan.max_col > max_cells:
        raise _refuse("too_many_cells")
    if text_before + scan.text > max_text:
        raise _refuse("too_much_text")


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


def _local_name(tag: object) -> str:
    """An element's name without its namespace."""
    return str(tag).rpartition("}")[2]


def _shared_string_lengths(xml: bytes) -> list[int]:
    """The length of each shared string, in table order."""
    lengths: list[int] = []
    try:
        for _event, element in SafeElementTree.iterparse(
            BytesIO(xml), events=("end",), forbid_dtd=True
        ):
            if _local_name(element.tag) == "si":
                lengths.append(
                    sum(len(t.text or "") for t in element.iter() if _local_name(t.tag) == "t")
                )
                element.clear()
    except (ParseError, DefusedXmlException):
        raise _refuse("corrupt") from None
    return lengths


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


# A row, cell, value or inline-string start tag, with any namespace prefix. Attribute
# values may hold ">" but never "<", so a tag always ends before the next "<".
_TAG = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?(row|c|v|is)(?=[\s/>])((?:[^<>\"']|\"[^\"<]*\"|'[^'<]*')*)>([0-9]*)"
)
_REF = re.compile(rb"(?:^|\s)r\s*=\s*[\"']\$?([A-Za-z]*)\$?([0-9]*)[\"']")
_SHARED_TYPE = re.compile(rb"(?:^|\s)t\s*=\s*[\"']s[\"']")
_HUGE = 10**9


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


# calamine allocates the whole rectangle up to the farthest valued cell and copies a shared
# string into every cell that refers to it (and to_python copies it again), so a file of a
# few kilobytes can demand gigabytes: follow its layout before letting it near the reader.
class _CellScan:
    """Where the reader will place each valued cell of a part, and the shared text it copies."""

    def __init__(self, shared_lengths: Sequence[int]) -> None:
        """Start before the first row."""
        self._shared = shared_lengths
        self._tail = b""
        self._row = 0
        self._col = 0
        self._cell_row = 0
        self._shared_cell = False
        self._cell_open = False
        self.max_row = 0
        self.max_col = 0
        self.text = 0

    def feed(self, chunk: bytes) -> None:
        """Scan the complete tags of this chunk; keep the unfinished one for the next."""
        buffer = self._tail + chunk
        cut = buffer.rfind(b"<")
        if cut < 0 or len(buffer) - cut > _TAIL_MAX:
            cut = len(buffer)
        self._scan(buffer[:cut])
        self._tail = buffer[cut:]

    def close(self) -> None:
        """Scan what is left."""
        self._scan(self._tail)
        self._tail = b""

    def _scan(self, text: bytes) -> None:
        """Follow rows and cells as the reader does, implicit positions included."""
        shared = self._shared
        for name, attributes, digits in _TAG.findall(text):
            if name == b"v" or name == b"is":
                if not self._cell_open:
                    continue
                self._cell_open = False
                if self._cell_row > self.max_row:
                    self.max_row = self._cell_row
                if self._col > self.max_col:
                    self.max_col = self._col
                if self._shared_cell and name == b"v" and 0 < len(digits) < 10:
                    index = int(digits)
                    if index < len(shared):
                        self.text += shared[index]
                continue
            ref = _REF.search(attributes)
            letters, number = ref.groups() if ref else (b"", b"")
            if name == b"row":
                self._row = _row_number(number) if number else self._row + 1
                self._col = 0
                self._cell_open = False
                continue
            self._col = _column_number(letters) if letters else self._col + 1
            self._cell_row = _row_number(number) if number else max(self._row, 1)
            # Most cells carry no type attribute; skip the search for them.
            self._shared_cell = b"t" in attributes and _SHARED_TYPE.search(attributes) is not None
            self._cell_open = True


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
