"""Signed letters sent back by mail: sanity checks on an untrusted PDF or image.

``check_signed`` decides what the bytes are from their magic numbers alone (never from the
filename or the declared content type) and accepts only a PDF or a JPEG, PNG or TIFF image of
sane size. A PDF must not be encrypted nor carry active content (JavaScript, actions that
launch programs or send or import data, embedded files, XFA forms, rich media): the raw bytes
outside streams, and the inflated object streams, are searched for those names (#xx escapes
included), then every object in the cross-reference table is inspected through pypdf. pypdf
only ever parses what was sized beforehand, one PDF at a time, under a recursion ceiling. An
image's segments are walked and its size read from the header before any pixel is decoded, so
a decompression bomb is refused without allocating it.

``is_signed_candidate`` tells, without parsing, whether an attachment is meant to be the letter
at all, so that "nothing attached" and "attached but refused" get different answers.
"""

from __future__ import annotations

import inspect
import logging
import math
import re
import struct
import sys
import threading
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from io import BytesIO
from pathlib import PurePosixPath
from typing import Any, Literal

import pypdf
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject

from bot.errors import MesabotError

__all__ = [
    "MAX_BYTES",
    "MAX_PAGES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "MIN_SIDE",
    "SignedFile",
    "SignedLimits",
    "UnacceptableDocument",
    "check_signed",
    "is_signed_candidate",
]

MIB = 1024 * 1024
MAX_BYTES = 20 * MIB
MAX_PAGES = 20
MAX_PIXELS = 50_000_000
MAX_SIDE = 20_000
MIN_SIDE = 200

# PDF pages are measured as a 300 ppi scan of them would be, the resolution letters are
# scanned at, so that the image limits mean the same for both kinds of file.
RENDER_PPI = 300
POINTS_PER_INCH = 72
# A scanned or born-digital letter has at most a few thousand objects; these bound the work
# spent on a hostile file long before pypdf's own limits would.
MAX_OBJECTS = 10_000
MAX_NODES = 500_000
# Arrays and dictionaries written inside one another; real files nest a handful deep.
MAX_DEPTH = 64
# What pypdf may parse (objects outside streams and in object streams), in rough units of
# its parse time at worst (about a microsecond): a byte, plus four per token, plus one more per
# byte of hex string, the slowest kinds. This keeps a hostile file under half a second; a
# letter of a few pages, even a tagged born-digital one, needs a fraction of it.
MAX_PARSE_WORK = 400_000
_TOKEN_COST = 4
# Inflating one object stream, damaged ones included (see zlib_maximum_recovery_input_length).
_OBJECT_STREAM_COST = 10_000
# startxref, /Prev and /XRefStm pointers: one or two per revision of the file.
MAX_XREF_POINTERS = 32
_SEPARATORS = b"\x00\t\n\x0c\r /[]<>()"
# A slightly broken file makes pypdf log a few workarounds; a hostile one, thousands.
MAX_COMPLAINTS = 100
# Image headers: segments (JPEG), chunks (PNG; libpng writes 8 KiB ones) and tags per page
# (TIFF; scanners write about twenty), far above real files and far below a slow walk.
MAX_SEGMENTS = 20_000
MAX_JPEG_SCANS = 100
MAX_TIFF_TAGS = 1_000
MAX_TIFF_STRIPS = 100_000
# Frames pypdf may recurse beyond the caller: the default limit's worth, never more, so that a
# host that raised the limit cannot be driven into a C stack overflow by nesting.
PDF_FRAMES = 1000
_TAIL = 1024

_PDF_MAGIC = b"%PDF-"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_IMAGE_MAGICS = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (_PNG_MAGIC, "image/png"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"II+\x00", "image/tiff"),
    (b"MM\x00+", "image/tiff"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_HEIF_BRANDS = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"heim": "image/heic",
    b"heis": "image/heic",
    b"hevc": "image/heic",
    b"hevx": "image/heic",
    b"hevm": "image/heic",
    b"hevs": "image/heic",
    b"mif1": "image/heif",
    b"msf1": "image/heif",
    b"avif": "image/avif",
    b"avis": "image/avif",
}
# A marker is 0xFF (maybe repeated as fill) and a code; in scan data 0xFF is followed by 0x00
# (a stuffed byte) or a restart marker, which belong to the scan.
_JPEG_MARKER = re.compile(rb"\xff+([^\x00\xff])")
_JPEG_ENTROPY_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_JPEG_EOI = 0xD9
_JPEG_SOS = 0xDA
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_JPEG_PROGRESSIVE = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_PILLOW_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/tiff": "TIFF"}
_UNSUPPORTED_LABELS = {
    "image/gif": "GIF",
    "image/bmp": "BMP",
    "image/webp": "WebP",
    "image/avif": "AVIF",
}
_LETTER_SUFFIXES = frozenset(
    {".pdf", ".jpg", ".jpeg", ".jfif", ".png", ".tif", ".tiff", ".heic", ".heif", ".webp"}
    | {".gif", ".bmp", ".avif"}
)

# Names that only active content uses, as they may be spelt in the raw file.
_RAW_ACTIVE_NAMES = {
    b"JavaScript": "javascript",
    b"JS": "javascript",
    b"Launch": "action",
    b"SubmitForm": "action",
    b"ImportData": "action",
    b"EmbeddedFile": "embedded",
    b"EmbeddedFiles": "embedded",
    b"XFA": "xfa",
    b"RichMedia": "media",
    b"RichMediaExecute": "media",
}
# What the parsed objects are checked for: dictionary keys, action types (/S) and subtypes.
_ACTIVE_KEYS = {
    "/JS": "javascript",
    "/JavaScript": "javascript",
    "/EmbeddedFiles": "embedded",
    "/EF": "embedded",
    "/XFA": "xfa",
    "/RichMediaContent": "media",
    "/RichMediaSettings": "media",
}
_ACTIVE_ACTIONS = {
    "/JavaScript": "javascript",
    "/Launch": "action",
    "/SubmitForm": "action",
    "/ImportData": "action",
    "/GoToR": "action",
    "/GoToE": "embedded",
    "/RichMediaExecute": "media",
    "/Rendition": "media",
}
_ACTIVE_SUBTYPES = {
    "/FileAttachment": "embedded",
    "/RichMedia": "media",
    "/Screen": "media",
    "/Movie": "media",
    "/Sound": "media",
    "/3D": "media",
}
_INHERITED = ("/MediaBox", "/Resources", "/Rotate", "/UserUnit")

_PDF_WHITESPACE = rb"\x00\t\n\x0c\r "
_NAME_END = rb"(?![^" + _PDF_WHITESPACE + rb"()<>\[\]{}/%])"
_STREAM_START = re.compile(rb">>[" + _PDF_WHITESPACE + rb"]*+stream(?:\r\n|\n|\r)")
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_HEX_STRING = re.compile(rb"<[0-9A-Fa-f" + _PDF_WHITESPACE + rb"]*>")


def _spellings(name: bytes) -> bytes:
    """A pattern for ``name`` with any of its characters possibly written as #xx."""
    parts = []
    for char in name:
        digits = (bytes([digit]) for digit in b"%02x" % char)
        hex_pattern = b"".join(
            b"[%s%s]" % (digit, digit.upper()) if digit.isalpha() else digit for digit in digits
        )
        parts.append(b"(?:%s|#%s)" % (re.escape(bytes([char])), hex_pattern))
    return b"".join(parts)


_RAW_ACTIVE = re.compile(
    rb"/("
    + b"|".join(_spellings(name) for name in sorted(_RAW_ACTIVE_NAMES, key=len, reverse=True))
    + rb")"
    + _NAME_END
)


def _key(name: bytes, value: bytes) -> re.Pattern[bytes]:
    """A pattern for a dictionary key, however escaped, followed by ``value`` (one group)."""
    return re.compile(
        rb"/" + _spellings(name) + _NAME_END + rb"[" + _PDF_WHITESPACE + rb"]*" + value
    )


_STARTXREF = re.compile(rb"startxref[" + _PDF_WHITESPACE + rb"]*(\d+)")
_PREV = _key(b"Prev", rb"(\d+)")
_XREF_STREAM = _key(b"XRefStm", rb"(\d+)")
_SIZE = _key(b"Size", rb"(\d+)")
_INDEX = _key(b"Index", rb"\[([\d" + _PDF_WHITESPACE + rb"]*)\]")

# Only the decoding pypdf does by itself (object and cross-reference streams) is affected.
_PYPDF_LIMITS = {
    "zlib_maximum_output_length": MIB,
    "lzw_maximum_output_length": MIB,
    "run_length_maximum_output_length": MIB,
    "brotli_maximum_output_length": MIB,
    "jbig2_maximum_output_length": MIB,
    "stream_decoding_work_maximum_length": 4 * MIB,
    # A damaged zlib stream is retried a byte at a time, a couple of microseconds per byte.
    "zlib_maximum_recovery_input_length": 4 * 1024,
    "array_maximum_element_count": 20_000,
    "dictionary_maximum_element_count": 20_000,
    # JBIG2 is decoded by an external program; nothing here needs it.
    "jbig2dec_binary": None,
}
_PDF_LOCK = threading.Lock()

_SEND_AGAIN = "Envía la carta firmada escaneada como PDF o como imagen JPG."
_NOT_SAFE = (
    "por seguridad no lo podemos aceptar. Envía la carta escaneada como PDF sin formularios "
    "o como imagen JPG."
)
_ACTIVE_MESSAGES = {
    "javascript": "El archivo «{name}» contiene código JavaScript; " + _NOT_SAFE,
    "action": (
        "El archivo «{name}» contiene acciones automáticas (abrir programas, enviar o importar "
        "datos); " + _NOT_SAFE
    ),
    "embedded": "El archivo «{name}» lleva otros archivos incrustados; " + _NOT_SAFE,
    "xfa": "El archivo «{name}» contiene un formulario XFA; " + _NOT_SAFE,
    "media": "El archivo «{name}» contiene contenido multimedia; " + _NOT_SAFE,
}


class UnacceptableDocument(MesabotError):
    """A file refused as the signed letter; ``reason`` is the Spanish text for the sender."""

    def __init__(self, reason: str, *, kind: str = "unacceptable") -> None:
        """Keep the sender's text as the message and a machine-readable kind for logs."""
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


@dataclass(frozen=True)
class SignedLimits:
    """How big a signed letter may be before it is refused, and how small."""

    max_bytes: int = MAX_BYTES
    max_pages: int = MAX_PAGES
    max_pixels: int = MAX_PIXELS
    max_side: int = MAX_SIDE
    min_side: int = MIN_SIDE


@dataclass(frozen=True)
class SignedFile:
    """An accepted letter: its real type, page count and size (pixels, or points for a PDF)."""

    kind: Literal["pdf", "image"]
    content_type: str
    pages: int
    width: int
    height: int
    has_text: bool = False


DEFAULT_LIMITS = SignedLimits()


def is_signed_candidate(filename: str, content_type: str, data: bytes) -> bool:
    """True when the attachment is, or claims to be, a PDF or an image; nothing is parsed."""
    if _sniff(data) is not None:
        return True
    declared = content_type.split(";", 1)[0].strip().lower()
    if declared == "application/pdf" or declared.startswith("image/"):
        return True
    return PurePosixPath(filename.replace("\\", "/")).suffix.lower() in _LETTER_SUFFIXES


def check_signed(data: bytes, filename: str, limits: SignedLimits = DEFAULT_LIMITS) -> SignedFile:
    """Accept a PDF or image within the limits and free of active content, or raise."""
    name = _display_name(filename)
    try:
        return _check(data, name, limits)
    except UnacceptableDocument:
        raise
    except Exception as exc:  # whatever else a parser throws means a bad file
        raise _corrupt(name) from exc


def _check(data: bytes, name: str, limits: SignedLimits) -> SignedFile:
    """Dispatch on the real type once the size is known to be reasonable."""
    if not data:
        raise UnacceptableDocument(f"El archivo «{name}» está vacío. {_SEND_AGAIN}", kind="empty")
    if len(data) > limits.max_bytes:
        raise UnacceptableDocument(
            f"El archivo «{name}» pesa {len(data) / MIB:.1f} MB y el máximo es de "
            f"{limits.max_bytes / MIB:.1f} MB. Escanea la carta a 200 o 300 ppp, o envíala como "
            "PDF o JPG más liviano.",
            kind="too_large",
        )
    content_type = _sniff(data)
    if content_type == "application/pdf":
        return _check_pdf(data, name, limits)
    if content_type in _PILLOW_FORMATS:
        return _check_image(data, name, content_type, limits)
    if content_type in ("image/heic", "image/heif"):
        raise UnacceptableDocument(
            f"El archivo «{name}» es una foto en formato HEIC (el de las fotos del iPhone), que no "
            "podemos abrir. Envía la carta escaneada como PDF o como imagen JPG (en el iPhone: "
            "Ajustes > Cámara > Formatos > Más compatible).",
            kind="heic",
        )
    if content_type is not None:
        raise UnacceptableDocument(
            f"El archivo «{name}» es una imagen {_UNSUPPORTED_LABELS[content_type]}, un formato "
            f"que no aceptamos para la carta. {_SEND_AGAIN}",
            kind="unsupported_image",
        )
    suffix = PurePosixPath(name).suffix.lower()
    claim = f", aunque su nombre termine en {suffix}" if suffix in _LETTER_SUFFIXES else ""
    raise UnacceptableDocument(
        f"El archivo «{name}» no es un PDF ni una imagen{claim}. {_SEND_AGAIN}",
        kind="not_document",
    )


def _sniff(data: bytes) -> str | None:
    """The content type the magic bytes announce, for PDFs and images only."""
    if data.startswith(_PDF_MAGIC):
        return "application/pdf"
    for magic, content_type in _IMAGE_MAGICS:
        if data.startswith(magic):
            return content_type
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    # The BMP header's reserved fields are zero; "BM" alone also starts ordinary text.
    if data.startswith(b"BM") and data[6:10] == b"\x00\x00\x00\x00":
        return "image/bmp"
    if data[4:8] == b"ftyp":
        return _HEIF_BRANDS.get(data[8:12])
    return None


def _display_name(filename: str) -> str:
    """The attachment's base name, printable and short enough to quote back to the sender."""
    base = PurePosixPath(filename.replace("\\", "/")).name
    printable = "".join(char for char in base if char.isprintable()).strip()
    if len(printable) > 80:
        printable = printable[:79] + "…"
    return printable or "adjunto"


def _corrupt(name: str) -> UnacceptableDocument:
    """The refusal for a file no parser could make sense of."""
    return UnacceptableDocument(
        f"El archivo «{name}» está dañado o incompleto y no lo pudimos abrir. {_SEND_AGAIN}",
        kind="corrupt",
    )


def _too_complex(name: str) -> UnacceptableDocument:
    """The refusal for a structure far beyond what a letter needs."""
    return UnacceptableDocument(
        f"La estructura interna del archivo «{name}» es anómala y, por seguridad, no lo abrimos. "
        f"{_SEND_AGAIN}",
        kind="complex",
    )


def _too_many_pages(name: str, count: int | None, limits: SignedLimits) -> UnacceptableDocument:
    """The refusal for more pages than a letter has; ``count`` is None when not known."""
    pages = str(count) if count is not None else f"más de {limits.max_pages}"
    return UnacceptableDocument(
        f"El archivo «{name}» tiene {pages} páginas y el máximo es de {limits.max_pages}. "
        "Envía solo la carta firmada.",
        kind="too_many_pages",
    )


def _active(kind: str, name: str) -> UnacceptableDocument:
    """The refusal for one kind of active content."""
    return UnacceptableDocument(_ACTIVE_MESSAGES[kind].format(name=name), kind=kind)


# --- PDF ----------------------------------------------------------------------------------


def _check_pdf(data: bytes, name: str, limits: SignedLimits) -> SignedFile:
    """Raw-byte checks first, then pypdf on one PDF at a time within its limits."""
    # A file cut short still parses with strict=False (pypdf rebuilds the xref), so the end
    # marker is what tells a truncated upload apart.
    if b"%%EOF" not in data[-_TAIL:]:
        raise _corrupt(name)
    # pypdf rebuilds a broken xref by matching every "n g obj" in the file, streams included.
    if data.count(b"endstream") > MAX_OBJECTS or data.count(b"obj") > 4 * MAX_OBJECTS:
        raise _too_complex(name)
    layout = _Layout.of(data)
    if _parse_work(layout.structure) > MAX_PARSE_WORK:
        raise _too_complex(name)
    _scan_names(layout.structure, name)
    _check_xref_pointers(layout, name)
    with _pdf_guard() as complaints:
        try:
            return _inspect_pdf(data, layout, name, limits, complaints)
        except UnacceptableDocument:
            raise
        except RecursionError:
            raise _too_complex(name) from None
        except Exception as exc:  # pypdf raises many types on hostile input
            raise _corrupt(name) from exc


@dataclass(frozen=True)
class _Layout:
    """The file with stream contents cut out, and where those contents lay in the file."""

    structure: bytes
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    @classmethod
    def of(cls, data: bytes) -> _Layout:
        """Split the file: stream contents (pictures, fonts) hold arbitrary bytes, not objects."""
        parts, starts, ends = [], [], []
        position = 0
        while (start := _STREAM_START.search(data, position)) is not None:
            parts.append(data[position : start.end()])
            end = data.find(b"endstream", start.end())
            position = len(data) if end < 0 else end
            starts.append(start.end())
            ends.append(position)
        parts.append(data[position:])
        return cls(b"".join(parts), tuple(starts), tuple(ends))

    def outside_streams(self, offset: int) -> bool:
        """True when ``offset`` points at structure that the raw checks have seen."""
        index = bisect_right(self.starts, offset) - 1
        return index < 0 or offset >= self.ends[index]


def _parse_work(chunk: bytes) -> int:
    """Roughly how many microseconds pypdf may spend parsing these bytes (see MAX_PARSE_WORK)."""
    tokens = len(chunk) - len(chunk.translate(None, _SEPARATORS))
    hex_bytes = len(chunk) - len(_HEX_STRING.sub(b"", chunk))
    return len(chunk) + _TOKEN_COST * tokens + hex_bytes


def _scan_names(chunk: bytes, name: str) -> None:
    """Refuse bytes that name active content anywhere, however the name is escaped."""
    found = _RAW_ACTIVE.search(chunk)
    if found is not None:
        spelt = _NAME_ESCAPE.sub(lambda match: bytes([int(match[1], 16)]), found[1])
        raise _active(_RAW_ACTIVE_NAMES.get(spelt, "javascript"), name)


def _check_xref_pointers(layout: _Layout, name: str) -> None:
    """Cross-reference sections must lie where the raw checks looked, and stay small."""
    structure = layout.structure
    pointers = [
        match[1]
        for pattern in (_STARTXREF, _PREV, _XREF_STREAM)
        for match in pattern.finditer(structure)
    ]
    if len(pointers) > MAX_XREF_POINTERS:
        raise _too_complex(name)
    for pointer in pointers:
        if _over(pointer, 1 << 40) or not layout.outside_streams(int(pointer)):
            raise _too_complex(name)
    # pypdf reads one entry per declared object of an xref stream, however few bytes it has.
    if any(_over(match[1], 2 * MAX_OBJECTS) for match in _SIZE.finditer(structure)):
        raise _too_complex(name)
    for match in _INDEX.finditer(structure):
        counts = match[1].split()[1::2]
        if (
            any(_over(count, 2 * MAX_OBJECTS) for count in counts)
            or sum(int(count) for count in counts) > 2 * MAX_OBJECTS
        ):
            raise _too_complex(name)


def _over(digits: bytes, bound: int) -> bool:
    """True when a decimal number (as written in the file) exceeds ``bound``."""
    return not digits.isdigit() or len(digits) > 15 or int(digits) > bound


class _Complaints(logging.Handler):
    """Counts the problems pypdf logs (and works around) while it reads one file."""

    def __init__(self) -> None:
        """Start from zero, at pypdf's warning level."""
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Count the record instead of printing it: a hostile file can cause thousands."""
        self.count += 1


@contextmanager
def _pdf_guard() -> Iterator[_Complaints]:
    """Parse one PDF at a time, under tightened pypdf limits, a recursion ceiling and muted logs."""
    with _PDF_LOCK, _pypdf_limits():
        logger = logging.getLogger("pypdf")
        complaints = _Complaints()
        propagate = logger.propagate
        previous = sys.getrecursionlimit()
        ceiling = _stack_depth() + PDF_FRAMES
        # The lock keeps two checks from restoring each other's settings out of order.
        logger.addHandler(complaints)
        logger.propagate = False
        if previous > ceiling:
            sys.setrecursionlimit(ceiling)
        try:
            yield complaints
        finally:
            sys.setrecursionlimit(previous)
            logger.propagate = propagate
            logger.removeHandler(complaints)


def _pypdf_limits() -> AbstractContextManager[object]:
    """pypdf's own decoding limits, tightened where this version of pypdf has them (7+)."""
    current = getattr(pypdf, "get_configuration", None)
    apply = getattr(pypdf, "apply_configuration", None)
    if current is None or apply is None:
        return nullcontext()
    settings = current()
    known = {key: value for key, value in _PYPDF_LIMITS.items() if hasattr(settings, key)}
    manager: AbstractContextManager[object] = apply(**known)
    return manager


def _stack_depth() -> int:
    """How many frames are on the current thread's stack."""
    depth = 0
    frame = inspect.currentframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth


@dataclass
class _Walk:
    """One file's reader and what an inspection of its objects may still spend."""

    reader: PdfReader
    name: str
    limits: SignedLimits
    complaints: _Complaints
    nodes: int = MAX_NODES

    def resolve(self, value: Any) -> Any:
        """The object behind a reference (or the value itself), counted against the budget."""
        if isinstance(value, IndirectObject):
            self.spend()
            return self.reader.get_object(value)
        return value

    def spend(self) -> None:
        """Take one node from the budget; refuse a file that exhausts it or keeps failing."""
        self.nodes -= 1
        if self.nodes < 0:
            raise _too_complex(self.name)
        if self.complaints.count > MAX_COMPLAINTS:
            raise _corrupt(self.name)


def _inspect_pdf(
    data: bytes, layout: _Layout, name: str, limits: SignedLimits, complaints: _Complaints
) -> SignedFile:
    """Encryption, every object's content and the page tree, through pypdf."""
    reader = PdfReader(BytesIO(data), strict=False)
    walk = _Walk(reader, name, limits, complaints)
    walk.spend()
    if reader.is_encrypted:
        raise UnacceptableDocument(
            f"El archivo «{name}» está protegido con contraseña o cifrado y no lo podemos "
            "revisar. Envía la carta escaneada como PDF sin contraseña o como imagen JPG.",
            kind="encrypted",
        )
    references: set[tuple[int, int]] = set()
    for generation, offsets in reader.xref.items():
        for number, offset in offsets.items():
            # An object inside what looked like a stream would escape the raw checks.
            if not isinstance(offset, int) or not layout.outside_streams(offset):
                raise _too_complex(name)
            if number not in reader.xref_objStm:
                references.add((number, generation))
    references.update((number, 0) for number in reader.xref_objStm)
    if len(references) > MAX_OBJECTS:
        raise _too_complex(name)
    _check_object_streams(walk, _parse_work(layout.structure))
    _inspect_tree(reader.trailer, walk)
    # Every object the file lists, reachable or not: another reader may reach what pypdf's
    # view of the file does not.
    for number, generation in sorted(references):
        _inspect_tree(walk.resolve(IndirectObject(number, generation, walk.reader)), walk)
    return _read_pages(walk)


def _check_object_streams(walk: _Walk, work: int) -> None:
    """Inflate the compressed objects before pypdf parses them: size them and scan their names."""
    holders = {entry[0] for entry in walk.reader.xref_objStm.values()}
    for number in sorted(holders):
        holder = walk.resolve(IndirectObject(number, 0, walk.reader))
        if not isinstance(holder, StreamObject):
            raise _corrupt(walk.name)
        content = holder.get_data()
        work += _OBJECT_STREAM_COST + _parse_work(content)
        if work > MAX_PARSE_WORK:
            raise _too_complex(walk.name)
        _scan_names(content, walk.name)


def _inspect_tree(root: Any, walk: _Walk) -> None:
    """Check one object and the direct objects inside it; references are checked on their own."""
    stack = [(root, 0)]
    while stack:
        item, depth = stack.pop()
        walk.spend()
        # How deep pypdf got before running out of stack depends on the caller's stack; this
        # makes the answer for deep nesting the same everywhere.
        if depth > MAX_DEPTH:
            raise _too_complex(walk.name)
        if isinstance(item, DictionaryObject):
            _check_dictionary(item, walk)
            stack.extend((value, depth + 1) for value in dict.values(item))
        elif isinstance(item, ArrayObject):
            stack.extend((value, depth + 1) for value in list.__iter__(item))


def _check_dictionary(item: DictionaryObject, walk: _Walk) -> None:
    """Refuse a dictionary that is, or carries, active content or an oversized image."""
    for key in dict.keys(item):
        kind = _ACTIVE_KEYS.get(str(key))
        if kind is not None:
            raise _active(kind, walk.name)
    action = walk.resolve(dict.get(item, "/S"))
    subtype = walk.resolve(dict.get(item, "/Subtype"))
    kind = _ACTIVE_ACTIONS.get(action) if isinstance(action, str) else None
    if kind is None and isinstance(subtype, str):
        kind = _ACTIVE_SUBTYPES.get(subtype)
    if kind is None and walk.resolve(dict.get(item, "/Type")) == "/EmbeddedFile":
        kind = "embedded"
    if kind is not None:
        raise _active(kind, walk.name)
    if subtype == "/Image":
        width = _number(walk.resolve(dict.get(item, "/Width")))
        height = _number(walk.resolve(dict.get(item, "/Height")))
        limits = walk.limits
        if (
            width is not None
            and height is not None
            and (max(width, height) > limits.max_side or width * height > limits.max_pixels)
        ):
            raise UnacceptableDocument(
                f"El archivo «{walk.name}» contiene una imagen de {width:.0f} × {height:.0f} "
                "píxeles, más de lo que podemos revisar. Escanea la carta a 200 o 300 ppp y "
                "envíala de nuevo.",
                kind="image_too_large",
            )


def _number(value: Any) -> float | None:
    """A finite PDF number as a float, or None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _read_pages(walk: _Walk) -> SignedFile:
    """Walk the page tree (bounded, loops refused), then check each page's size."""
    name, limits = walk.name, walk.limits
    root = walk.resolve(dict.get(walk.reader.trailer, "/Root"))
    if not isinstance(root, DictionaryObject):
        raise _corrupt(name)
    tree = dict.get(root, "/Pages")
    top = walk.resolve(tree)
    if not isinstance(top, DictionaryObject):
        raise _corrupt(name)
    declared = _number(walk.resolve(dict.get(top, "/Count")))
    if declared is not None and declared > limits.max_pages:
        raise _too_many_pages(name, int(declared), limits)
    pages = _page_leaves(tree, walk)
    if not pages:
        raise UnacceptableDocument(f"El PDF «{name}» no tiene páginas. {_SEND_AGAIN}", kind="empty")
    sizes = [_page_size(attributes, walk) for attributes in pages]
    return SignedFile(
        kind="pdf",
        content_type="application/pdf",
        pages=len(pages),
        width=round(sizes[0][0]),
        height=round(sizes[0][1]),
        has_text=any(_has_fonts(attributes, walk) for attributes in pages),
    )


def _page_leaves(tree: Any, walk: _Walk) -> list[dict[str, Any]]:
    """Each page's attributes, inherited ones included, in document order."""
    name, limits = walk.name, walk.limits
    budget = 3 * limits.max_pages + 16
    seen: set[tuple[int, int]] = set()
    pages: list[dict[str, Any]] = []
    stack: list[tuple[Any, dict[str, Any]]] = [(tree, {})]
    while stack:
        reference, inherited = stack.pop()
        if isinstance(reference, IndirectObject):
            key = (reference.idnum, reference.generation)
            if key in seen:
                raise _too_complex(name)
            seen.add(key)
        budget -= 1
        if budget < 0:
            raise _too_many_pages(name, None, limits)
        node = walk.resolve(reference)
        if not isinstance(node, DictionaryObject):
            raise _corrupt(name)
        attributes = dict(inherited)
        attributes.update((key, dict.get(node, key)) for key in _INHERITED if key in node)
        kids = walk.resolve(dict.get(node, "/Kids"))
        node_type = walk.resolve(dict.get(node, "/Type"))
        if node_type == "/Pages" or (node_type != "/Page" and kids is not None):
            if not isinstance(kids, ArrayObject):
                raise _corrupt(name)
            if len(kids) > budget:
                raise _too_many_pages(name, None, limits)
            stack.extend((kid, attributes) for kid in reversed(kids))
            continue
        pages.append(attributes)
        if len(pages) > limits.max_pages:
            raise _too_many_pages(name, None, limits)
    return pages


def _page_size(attributes: dict[str, Any], walk: _Walk) -> tuple[float, float]:
    """The page's displayed size in points; refused when a 300 ppi scan of it would not fit."""
    name, limits = walk.name, walk.limits
    box = walk.resolve(attributes.get("/MediaBox"))
    if not isinstance(box, ArrayObject) or len(box) != 4:
        raise _corrupt(name)
    corners = [_number(walk.resolve(value)) for value in box]
    unit = _number(walk.resolve(attributes.get("/UserUnit"))) or 1.0
    rotate = _number(walk.resolve(attributes.get("/Rotate"))) or 0.0
    # Real coordinates stay within ±32767; far beyond that the numbers are not a page.
    if any(corner is None or abs(corner) > 1e6 for corner in corners) or not 0 < unit <= 75_000:
        raise _corrupt(name)
    x0, y0, x1, y1 = (float(corner or 0.0) for corner in corners)
    width, height = abs(x1 - x0) * unit, abs(y1 - y0) * unit
    if rotate % 180 == 90:
        width, height = height, width
    scale = RENDER_PPI / POINTS_PER_INCH
    pixels_wide, pixels_high = width * scale, height * scale
    if (
        max(pixels_wide, pixels_high) > limits.max_side
        or min(pixels_wide, pixels_high) < limits.min_side
        or pixels_wide * pixels_high > limits.max_pixels
    ):
        centimetres = 2.54 / POINTS_PER_INCH
        raise UnacceptableDocument(
            f"Las páginas del archivo «{name}» tienen un tamaño anómalo "
            f"({width * centimetres:.0f} × {height * centimetres:.0f} cm). Escanea la carta en "
            "tamaño carta u oficio, o A4, y envíala de nuevo.",
            kind="page_size",
        )
    return width, height


def _has_fonts(attributes: dict[str, Any], walk: _Walk) -> bool:
    """True when the page's resources name a font: text drawn as text, not a scanned picture."""
    resources = walk.resolve(attributes.get("/Resources"))
    if not isinstance(resources, DictionaryObject):
        return False
    fonts = walk.resolve(dict.get(resources, "/Font"))
    return isinstance(fonts, DictionaryObject) and len(fonts) > 0


# --- images -------------------------------------------------------------------------------


def _check_image(data: bytes, name: str, content_type: str, limits: SignedLimits) -> SignedFile:
    """Walk the file's segments, read the size from the header, then check without decoding."""
    image_format = _PILLOW_FORMATS[content_type]
    # Pillow reads headers one segment at a time in Python; a file made of millions of tiny
    # segments would keep it busy for seconds, so the segments are counted here first.
    progressive = False
    if image_format == "JPEG":
        progressive = _walk_jpeg(data, name)
    elif image_format == "PNG":
        _walk_png(data, name)
    else:
        _walk_tiff(data, name, limits)
    try:
        with Image.open(BytesIO(data), formats=[image_format]) as image:
            width, height = image.size
            _check_pixels(width, height, name, limits, first=True)
            pages = 1
            if image_format == "TIFF":
                pages = _tiff_pages(image, len(data), name, limits)
            # verify() reads a PNG's chunks and checksums without inflating the pixels.
            image.verify()
        # Each progressive scan is another pass over the whole image: those are only walked.
        if image_format == "JPEG" and not progressive:
            _decode_reduced(data)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnacceptableDocument(
            f"La imagen «{name}» es demasiado grande para revisarla. Escanea la carta a 200 o "
            "300 ppp o envíala como PDF.",
            kind="image_too_large",
        ) from None
    except UnacceptableDocument:
        raise
    except Exception as exc:  # Pillow raises many types on damaged files
        raise _corrupt(name) from exc
    return SignedFile(
        kind="image", content_type=content_type, pages=pages, width=width, height=height
    )


def _walk_jpeg(data: bytes, name: str) -> bool:
    """Follow the JPEG's segments and scans to its end marker; True when it is progressive."""
    position, segments, scans, progressive = 2, 0, 0, False
    while True:
        # Like libjpeg, skip stray bytes between segments (some cameras pad with zeros).
        marker = _JPEG_MARKER.search(data, position)
        if marker is None:
            raise _corrupt(name)
        code, position = marker[1][0], marker.end()
        if code == _JPEG_EOI:
            return progressive
        segments += 1
        if segments > MAX_SEGMENTS:
            raise _too_complex(name)
        if code in _JPEG_STANDALONE:
            continue
        length = int.from_bytes(data[position : position + 2], "big")
        position += length
        if length < 2 or position > len(data):
            raise _corrupt(name)
        progressive = progressive or code in _JPEG_PROGRESSIVE
        if code == _JPEG_SOS:
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise _too_complex(name)
            end = _JPEG_ENTROPY_END.search(data, position)
            if end is None:
                raise _corrupt(name)
            position = end.start()


def _walk_png(data: bytes, name: str) -> None:
    """Follow the PNG's chunks to IEND; a chunk running past the end means a truncated file."""
    position = len(_PNG_MAGIC)
    for _ in range(MAX_SEGMENTS):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        position += 12 + length
        if position > len(data):
            raise _corrupt(name)
        if kind == b"IEND":
            return
    raise _too_complex(name)


def _walk_tiff(data: bytes, name: str, limits: SignedLimits) -> None:
    """Follow the TIFF's directory chain (one per page): no loops, few tags, within the file."""
    order = "<" if data.startswith(b"II") else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    count_format, entry_size, pointer_format = ("Q", 20, "Q") if big else ("H", 12, "I")
    count_size, pointer_size = struct.calcsize(count_format), struct.calcsize(pointer_format)
    pointer_at = 8 if big else 4
    seen: set[int] = set()
    for _ in range(limits.max_pages + 1):
        if pointer_at + pointer_size > len(data):
            raise _corrupt(name)
        (directory,) = struct.unpack_from(order + pointer_format, data, pointer_at)
        if directory == 0:
            return
        if directory in seen or directory + count_size > len(data):
            raise _corrupt(name)
        seen.add(directory)
        (entries,) = struct.unpack_from(order + count_format, data, directory)
        if entries > MAX_TIFF_TAGS:
            raise _too_complex(name)
        pointer_at = directory + count_size + entries * entry_size
    raise _too_many_pages(name, None, limits)


def _check_pixels(width: int, height: int, name: str, limits: SignedLimits, *, first: bool) -> None:
    """Refuse an image too big to decode safely or, for the first page, too small to be a letter."""
    if max(width, height) > limits.max_side or width * height > limits.max_pixels:
        raise UnacceptableDocument(
            f"La imagen «{name}» mide {width} × {height} píxeles, más de lo que podemos revisar "
            f"(hasta {limits.max_side} píxeles por lado y {limits.max_pixels / 1e6:.0f} "
            "megapíxeles). Escanea la carta a 200 o 300 ppp o envíala como PDF.",
            kind="image_too_large",
        )
    if first and min(width, height) < limits.min_side:
        raise UnacceptableDocument(
            f"La imagen «{name}» mide solo {width} × {height} píxeles: parece un logo o una "
            "miniatura, no la carta escaneada. Envía la carta completa escaneada como PDF o JPG.",
            kind="image_too_small",
        )


def _tiff_pages(image: Image.Image, size: int, name: str, limits: SignedLimits) -> int:
    """Count a TIFF's pages (up to the limit) and check each one's size and data extent."""
    for index in range(limits.max_pages + 1):
        try:
            image.seek(index)
        except EOFError:
            return index
        if index == limits.max_pages:
            break
        _check_pixels(*image.size, name, limits, first=index == 0)
        _check_tiff_strips(image, size, name)
    raise _too_many_pages(name, None, limits)


def _check_tiff_strips(image: Image.Image, size: int, name: str) -> None:
    """Refuse a TIFF page whose pixel data lies past the end of the file (a truncated scan)."""
    tags = getattr(image, "tag_v2", {})
    # Strips (273, 279) or tiles (324, 325): where each block of pixel data starts, and its size.
    for offsets_tag, counts_tag in ((273, 279), (324, 325)):
        offsets, counts = tags.get(offsets_tag), tags.get(counts_tag)
        if offsets is None:
            continue
        offsets = offsets if isinstance(offsets, tuple) else (offsets,)
        counts = counts if isinstance(counts, tuple) else (counts,)
        if len(offsets) > MAX_TIFF_STRIPS:
            raise _too_complex(name)
        if len(offsets) != len(counts) or any(
            start + length > size for start, length in zip(offsets, counts, strict=True)
        ):
            raise _corrupt(name)
        return
    raise _corrupt(name)


def _decode_reduced(data: bytes) -> None:
    """Decode a JPEG at 1/8 scale: every byte is read (truncation shows) but little is allocated."""
    with Image.open(BytesIO(data), formats=["JPEG"]) as image:
        width, height = image.size
        image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
        image.load()
