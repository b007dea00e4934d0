"""Signed letters: sane scans and PDFs are accepted, hostile or damaged files refused fast."""

from __future__ import annotations

import io
import logging
import random
import struct
import sys
import zipfile
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw
from pypdf import PdfWriter

from bot.documents.signed import (
    MAX_BYTES,
    SignedFile,
    SignedLimits,
    UnacceptableDocument,
    check_signed,
    is_signed_candidate,
)
from bot.errors import MesabotError

# --- builders ---------------------------------------------------------------------------


def scan(size: tuple[int, int] = (1240, 1754), mode: str = "L") -> Image.Image:
    """A page that looks like a scanned letter: paper, lines of text, a signature."""
    image = Image.new(mode, size, "white")
    draw = ImageDraw.Draw(image)
    width, height = size
    for row in range(height // 10, height // 2, max(1, height // 40)):
        draw.line((width // 10, row, width * 9 // 10, row), fill="black", width=2)
    draw.arc((width // 2, height * 2 // 3, width * 4 // 5, height * 3 // 4), 0, 300, "black", 3)
    return image


def image_bytes(image: Image.Image, image_format: str, **options: object) -> bytes:
    """The image saved in ``image_format``."""
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def stream(dictionary: bytes, content: bytes) -> bytes:
    """A PDF stream object's body."""
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (dictionary, len(content), content)


def build_pdf(objects: list[bytes], *, trailer: bytes = b"") -> bytes:
    """A PDF with these objects (numbered from 1, the catalog first) and a correct xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    start = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R %s >>\n" % (len(objects) + 1, trailer)
    out += b"startxref\n%d\n%%%%EOF\n" % start
    return bytes(out)


def letter_pdf(
    *,
    catalog: bytes = b"",
    page: bytes = b"",
    extra: tuple[bytes, ...] = (),
    content: bytes = b"q 100 0 0 100 50 50 cm Q",
    media_box: bytes = b"[0 0 612 792]",
) -> bytes:
    """A one-page letter; ``extra`` objects are numbered from 5 on."""
    return build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R %s >>" % catalog,
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox %s /Resources << >> "
            b"/Contents 4 0 R %s >>" % (media_box, page),
            stream(b"", content),
            *extra,
        ]
    )


def text_pdf() -> bytes:
    """A born-digital page: a font and a line of text, no picture."""
    return build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [0 0 595 842] >>",
            b"<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 5 0 R >> >> "
            b"/Contents 4 0 R >>",
            stream(b"", b"BT /F1 12 Tf 72 720 Td (Oficio de respuesta) Tj ET"),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def compressed_pdf(hidden: bytes, *, padding: int = 0) -> bytes:
    """A PDF whose catalog opens object 6, kept compressed in an object stream (PDF 1.5)."""
    body = b"6 0 "
    packed = zlib.compress(body + hidden + b" " * padding)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        stream(b"", b""),
        stream(b"/Type /ObjStm /N 1 /First %d /Filter /FlateDecode" % len(body), packed),
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, object_body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, object_body)
    xref_offset = len(out)
    rows = [struct.pack(">BIH", 0, 0, 65535)]
    rows += [struct.pack(">BIH", 1, offset, 0) for offset in offsets]
    rows += [struct.pack(">BIH", 2, 5, 0), struct.pack(">BIH", 1, xref_offset, 0)]
    xref = stream(b"/Type /XRef /Size 8 /W [1 4 2] /Root 1 0 R", b"".join(rows))
    out += b"7 0 obj\n%s\nendobj\nstartxref\n%d\n%%%%EOF\n" % (xref, xref_offset)
    return bytes(out)


def writer_pdf(pages: int = 3, *, attach: bool = False, password: str | None = None) -> bytes:
    """A PDF written by pypdf: blank A4 pages, maybe an attachment or a password."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if attach:
        writer.add_attachment("macro.txt", b"no me abras")
    if password is not None:
        writer.encrypt(password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def scanned_pdf(pages: int = 3) -> bytes:
    """What a scanner sends: one JPEG picture per page, written by Pillow."""
    first, *rest = [scan((850, 1100)).convert("RGB") for _ in range(pages)]
    return image_bytes(first, "PDF", save_all=True, append_images=rest, resolution=100.0)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk with its CRC."""
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares its size but holds a few bytes of pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + png_chunk(b"IEND", b"")
    )


def refusal(data: bytes, filename: str = "carta.pdf", **limits: int) -> UnacceptableDocument:
    """The refusal check_signed raises for this file."""
    with pytest.raises(UnacceptableDocument) as caught:
        check_signed(data, filename, SignedLimits(**limits))
    return caught.value


JPEG = image_bytes(scan().convert("RGB"), "JPEG", quality=85)
PNG = image_bytes(scan(mode="1"), "PNG")
SMALL_PDF = letter_pdf()


# --- accepted ---------------------------------------------------------------------------


def test_scanned_jpeg_is_accepted() -> None:
    assert check_signed(JPEG, "carta firmada.jpg") == SignedFile(
        kind="image", content_type="image/jpeg", pages=1, width=1240, height=1754
    )


def test_scanned_png_is_accepted() -> None:
    result = check_signed(PNG, "carta.png")
    assert (result.kind, result.content_type, result.pages) == ("image", "image/png", 1)
    assert (result.width, result.height) == (1240, 1754)


def test_multipage_tiff_counts_its_pages() -> None:
    pages = [scan((1000, 1300), mode="1") for _ in range(3)]
    data = image_bytes(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    result = check_signed(data, "escaneo.tif")
    assert (result.content_type, result.pages, result.width) == ("image/tiff", 3, 1000)


def test_scanned_multipage_pdf_is_accepted() -> None:
    result = check_signed(scanned_pdf(3), "carta.pdf")
    assert (result.kind, result.content_type, result.pages) == ("pdf", "application/pdf", 3)
    assert (result.width, result.height) == (612, 792)
    assert result.has_text is False


def test_blank_pages_written_by_pypdf_are_accepted() -> None:
    result = check_signed(writer_pdf(5), "carta.pdf")
    assert (result.pages, result.width, result.height, result.has_text) == (5, 595, 842, False)


def test_born_digital_pdf_reports_text() -> None:
    result = check_signed(text_pdf(), "oficio.pdf")
    assert (result.pages, result.width, result.height, result.has_text) == (1, 595, 842, True)


def test_rotated_page_reports_its_displayed_size() -> None:
    result = check_signed(letter_pdf(page=b"/Rotate 90"), "carta.pdf")
    assert (result.width, result.height) == (792, 612)


def test_names_inside_picture_data_are_not_mistaken_for_scripts() -> None:
    picture = stream(
        b"/Type /XObject /Subtype /Image /Width 2 /Height 2 /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8",
        b"\x00/JavaScript /JS /Launch /EmbeddedFile /XFA\xff",
    )
    data = letter_pdf(page=b"/Resources << /XObject << /Im0 5 0 R >> >>", extra=(picture,))
    assert check_signed(data, "carta.pdf").pages == 1


# --- refused: size and type -------------------------------------------------------------


def test_empty_file_is_refused() -> None:
    assert refusal(b"", "carta.pdf").kind == "empty"


def test_file_over_max_bytes_is_refused_before_parsing() -> None:
    error = refusal(b"\x00" * (MAX_BYTES + 1), "carta.pdf")
    assert error.kind == "too_large"
    assert "20.0 MB" in error.reason
    assert refusal(JPEG, "carta.jpg", max_bytes=len(JPEG) - 1).kind == "too_large"


def test_pdf_that_is_really_a_zip_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("carta.pdf", SMALL_PDF)
    error = refusal(buffer.getvalue(), "carta.pdf")
    assert error.kind == "not_document"
    assert "«carta.pdf»" in error.reason


def test_executable_named_pdf_is_refused() -> None:
    assert refusal(b"MZ\x90\x00" + bytes(500), "carta.pdf").kind == "not_document"


def test_text_file_named_jpg_is_refused() -> None:
    error = refusal(b"Adjunto la carta firmada.\n" * 20, "carta.jpg")
    assert error.kind == "not_document"
    assert "JPG" in error.reason


def test_heic_photo_is_refused_with_advice() -> None:
    data = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(2000)
    error = refusal(data, "IMG_0001.HEIC")
    assert error.kind == "heic"
    assert "PDF" in error.reason and "JPG" in error.reason


def test_gif_is_refused_as_unsupported_image() -> None:
    assert refusal(image_bytes(scan((300, 300)), "GIF"), "carta.gif").kind == "unsupported_image"


# --- refused: images --------------------------------------------------------------------


def test_png_decompression_bomb_is_refused_without_decoding() -> None:
    error = refusal(png_header_only(100_000, 100_000), "carta.png")
    assert error.kind == "image_too_large"


def test_image_over_our_pixel_limit_is_refused_with_its_size() -> None:
    error = refusal(png_header_only(9_000, 9_000), "carta.png")
    assert error.kind == "image_too_large"
    assert "9000 × 9000" in error.reason


def test_image_over_max_side_is_refused() -> None:
    assert refusal(png_header_only(25_000, 300), "carta.png").kind == "image_too_large"


def test_tiny_image_is_refused_as_not_a_letter() -> None:
    data = image_bytes(scan((50, 50)).convert("RGB"), "JPEG")
    error = refusal(data, "logo.jpg")
    assert error.kind == "image_too_small"
    assert "50 × 50" in error.reason


def test_truncated_jpeg_is_refused() -> None:
    assert refusal(JPEG[: len(JPEG) // 2], "carta.jpg").kind == "corrupt"


def test_truncated_png_is_refused() -> None:
    assert refusal(PNG[: len(PNG) - 30], "carta.png").kind == "corrupt"


def test_truncated_tiff_is_refused() -> None:
    data = image_bytes(scan((600, 800)), "TIFF")
    assert refusal(data[: len(data) // 2], "carta.tif").kind == "corrupt"


def test_tiff_over_the_page_limit_is_refused() -> None:
    pages = [scan((300, 400), mode="1") for _ in range(4)]
    data = image_bytes(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    assert refusal(data, "carta.tif", max_pages=3).kind == "too_many_pages"


def test_progressive_jpeg_is_accepted_and_its_truncation_refused() -> None:
    data = image_bytes(scan().convert("RGB"), "JPEG", progressive=True)
    assert check_signed(data, "carta.jpg").content_type == "image/jpeg"
    assert refusal(data[: len(data) * 3 // 4], "carta.jpg").kind == "corrupt"


def test_jpeg_made_of_endless_comments_is_refused() -> None:
    data = JPEG[:2] + b"\xff\xfe\x00\x02" * 300_000 + JPEG[2:]
    assert refusal(data, "carta.jpg").kind == "complex"


def test_png_made_of_endless_chunks_is_refused() -> None:
    junk = png_chunk(b"abCd", b"") * 300_000
    data = PNG[:33] + junk + PNG[33:]
    assert refusal(data, "carta.png").kind == "complex"


def test_tiff_directory_loop_is_refused() -> None:
    data = bytearray(image_bytes(scan((300, 400)), "TIFF"))
    (first,) = struct.unpack_from("<I", data, 4)
    (entries,) = struct.unpack_from("<H", data, first)
    struct.pack_into("<I", data, first + 2 + 12 * entries, first)
    assert refusal(bytes(data), "carta.tif").kind == "corrupt"


def test_global_pillow_limit_is_left_alone() -> None:
    before = Image.MAX_IMAGE_PIXELS
    refusal(png_header_only(100_000, 100_000), "carta.png")
    check_signed(JPEG, "carta.jpg")
    assert before == Image.MAX_IMAGE_PIXELS


# --- refused: PDFs ----------------------------------------------------------------------


def test_pdf_over_the_page_limit_is_refused() -> None:
    error = refusal(writer_pdf(21), "carta.pdf")
    assert error.kind == "too_many_pages"
    assert "21 páginas" in error.reason


def test_page_count_that_lies_is_not_believed() -> None:
    kids = b" ".join(b"3 0 R" for _ in range(25))
    data = build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count 1 /MediaBox [0 0 612 792] >>" % kids,
            b"<< /Type /Page /Parent 2 0 R >>",
        ]
    )
    assert refusal(data).kind in ("too_many_pages", "complex")


def test_page_tree_loop_is_refused() -> None:
    data = build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [2 0 R] /Count 1 /MediaBox [0 0 612 792] >>",
        ]
    )
    assert refusal(data).kind == "complex"


def test_open_action_javascript_is_refused() -> None:
    action = b"<< /Type /Action /S /JavaScript /JS (app.alert\\(1\\)) >>"
    error = refusal(letter_pdf(catalog=b"/OpenAction 5 0 R", extra=(action,)))
    assert error.kind == "javascript"
    assert error.reason == (
        "El archivo «carta.pdf» contiene código JavaScript; por seguridad no lo podemos aceptar. "
        "Envía la carta escaneada como PDF sin formularios o como imagen JPG."
    )


def test_javascript_name_tree_is_refused() -> None:
    data = letter_pdf(
        catalog=b"/Names << /JavaScript 5 0 R >>",
        extra=(b"<< /Names [(inicio) 6 0 R] >>", b"<< /S /JavaScript /JS (this.print\\(\\)) >>"),
    )
    assert refusal(data).kind == "javascript"


def test_hex_escaped_javascript_is_refused() -> None:
    data = letter_pdf(
        catalog=b"/Names << /J#61vaScript 5 0 R >>",
        extra=(b"<< /Names [(x) 6 0 R] >>", b"<< /S /J#61v#61Script /J#53 (app.alert\\(1\\)) >>"),
    )
    assert refusal(data).kind == "javascript"


def test_javascript_hidden_in_an_object_stream_is_refused() -> None:
    data = compressed_pdf(b"<< /Type /Action /S /JavaScript /JS (app.alert\\(1\\)) >>")
    assert b"JavaScript" not in data
    assert refusal(data).kind == "javascript"


def test_page_additional_action_javascript_is_refused() -> None:
    data = letter_pdf(page=b"/AA << /O << /S /JavaScript /JS (1) >> >>")
    assert refusal(data).kind == "javascript"


def test_launch_action_is_refused() -> None:
    data = letter_pdf(catalog=b"/OpenAction << /S /Launch /F (cmd.exe) >>")
    assert refusal(data).kind == "action"


def test_submit_form_action_is_refused() -> None:
    link = b"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /A << /S /SubmitForm >> >>"
    assert refusal(letter_pdf(page=b"/Annots [5 0 R]", extra=(link,))).kind == "action"


def test_embedded_file_is_refused() -> None:
    assert refusal(writer_pdf(1, attach=True)).kind == "embedded"


def test_file_attachment_annotation_is_refused() -> None:
    note = (
        b"<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 10 10] "
        b"/FS << /Type /Filespec /F (factura.exe) /EF << /F 6 0 R >> >> >>"
    )
    data = letter_pdf(page=b"/Annots [5 0 R]", extra=(note, stream(b"", b"MZ")))
    assert b"EmbeddedFile" not in data
    assert refusal(data).kind == "embedded"


def test_link_to_another_file_is_refused() -> None:
    link = b"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /A << /S /GoToR /F (x.pdf) >> >>"
    assert refusal(letter_pdf(page=b"/Annots [5 0 R]", extra=(link,))).kind == "action"


def test_web_link_is_accepted() -> None:
    link = b"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /A << /S /URI /URI (https://x) >> >>"
    assert check_signed(letter_pdf(page=b"/Annots [5 0 R]", extra=(link,)), "carta.pdf").pages == 1


def test_xfa_form_is_refused() -> None:
    data = letter_pdf(catalog=b"/AcroForm << /Fields [] /XFA 5 0 R >>", extra=(stream(b"", b""),))
    assert refusal(data).kind == "xfa"


def test_encrypted_pdf_is_refused() -> None:
    error = refusal(writer_pdf(1, password="secreto"))
    assert error.kind == "encrypted"
    assert "contraseña" in error.reason


def test_truncated_pdf_is_refused() -> None:
    data = scanned_pdf(2)
    assert refusal(data[: len(data) * 2 // 3]).kind == "corrupt"


def test_deeply_nested_arrays_are_refused() -> None:
    depth = 50_000
    nested = b"[" * depth + b"]" * depth
    assert refusal(letter_pdf(catalog=b"/Nested 5 0 R", extra=(nested,))).kind in (
        "complex",
        "corrupt",
    )


def test_recursion_limit_is_restored() -> None:
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(50_000)
    try:
        nested = b"[" * 20_000 + b"]" * 20_000
        refusal(letter_pdf(catalog=b"/Nested 5 0 R", extra=(nested,)))
        assert sys.getrecursionlimit() == 50_000
    finally:
        sys.setrecursionlimit(before)


def nested_dictionaries(depth: int) -> bytes:
    """A valid object made of ``depth`` dictionaries, each inside the previous one."""
    return b"<< /a " * depth + b"1" + b" >>" * depth


def test_deeply_nested_dictionaries_are_refused() -> None:
    nested = nested_dictionaries(80)
    assert refusal(letter_pdf(catalog=b"/Nested 5 0 R", extra=(nested,))).kind == "complex"
    nested = nested_dictionaries(600)
    assert refusal(letter_pdf(catalog=b"/Nested 5 0 R", extra=(nested,))).kind in (
        "complex",
        "corrupt",
    )


def test_deep_page_tree_is_refused() -> None:
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    objects += [
        b"<< /Type /Pages /Kids [%d 0 R] /Count 1 /MediaBox [0 0 612 792] >>" % (number + 1)
        for number in range(2, 500)
    ]
    objects.append(b"<< /Type /Page >>")
    assert refusal(build_pdf(objects)).kind in ("complex", "too_many_pages")


def test_page_tree_with_thousands_of_kids_is_refused() -> None:
    kids = b" ".join(b"%d 0 R" % number for number in range(3, 3003))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count 1 /MediaBox [0 0 612 792] >>" % kids,
    ]
    objects += [b"<< /Type /Page /Parent 2 0 R >>"] * 3000
    assert refusal(build_pdf(objects)).kind in ("complex", "too_many_pages")


def test_too_much_to_parse_is_refused_before_parsing() -> None:
    numbers = b"[" + b"1 " * 100_000 + b"]"
    assert refusal(letter_pdf(catalog=b"/Big 5 0 R", extra=(numbers,))).kind == "complex"


def test_xref_hidden_inside_a_stream_is_refused() -> None:
    data = bytearray(SMALL_PDF)
    xref = data.rindex(b"xref\n0 ")
    data[xref:xref] = b"9 0 obj\n<< /Length 1 >>stream\n"
    tail = data.rindex(b"startxref\n")
    data[tail:tail] = b"endstream\nendobj\n"
    start = xref + len(b"9 0 obj\n<< /Length 1 >>stream\n")
    data[data.rindex(b"startxref\n") :] = b"startxref\n%d\n%%%%EOF\n" % start
    assert refusal(bytes(data)).kind == "complex"


def test_xref_stream_declaring_millions_of_objects_is_refused() -> None:
    data = compressed_pdf(b"<< >>").replace(b"/Size 8 ", b"/Size 9999999 ")
    assert refusal(data).kind == "complex"


def test_pypdf_logging_is_left_as_it_was() -> None:
    logger = logging.getLogger("pypdf")
    handlers, propagate = list(logger.handlers), logger.propagate
    refusal(letter_pdf(catalog=b"/Nested 5 0 R", extra=(nested_dictionaries(600),)))
    check_signed(text_pdf(), "oficio.pdf")
    assert (logger.handlers, logger.propagate) == (handlers, propagate)


def test_object_stream_bomb_is_refused() -> None:
    data = compressed_pdf(b"<< /S /GoTo /D [3 0 R /Fit] >>", padding=20_000_000)
    assert len(data) < 100_000
    assert refusal(data).kind in ("complex", "corrupt")


def test_huge_page_is_refused() -> None:
    assert refusal(letter_pdf(media_box=b"[0 0 14400 14400]")).kind == "page_size"
    assert refusal(letter_pdf(media_box=b"[0 0 10 10]")).kind == "page_size"
    assert refusal(letter_pdf(media_box=b"[0 0 612 1e400]")).kind in ("page_size", "corrupt")


def test_huge_embedded_picture_is_refused() -> None:
    picture = stream(
        b"/Type /XObject /Subtype /Image /Width 100000 /Height 100000 /BitsPerComponent 8 "
        b"/ColorSpace /DeviceGray /Filter /FlateDecode",
        zlib.compress(b"\x00" * 1000),
    )
    data = letter_pdf(page=b"/Resources << /XObject << /Im0 5 0 R >> >>", extra=(picture,))
    assert refusal(data).kind == "image_too_large"


def test_unparseable_pdf_is_refused() -> None:
    assert refusal(b"%PDF-1.7\nnada que ver aqui\n%%EOF\n").kind in ("corrupt", "empty")


def test_refusal_is_a_mesabot_error_with_the_reason_as_message() -> None:
    error = refusal(b"", "C:\\Users\\dir\\carta\nfirmada.pdf")
    assert isinstance(error, MesabotError)
    assert str(error) == error.reason
    assert "«cartafirmada.pdf»" in error.reason


# --- candidates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "content_type", "data", "expected"),
    [
        ("scan.bin", "application/octet-stream", SMALL_PDF, True),
        ("foto", "application/octet-stream", JPEG, True),
        ("carta.pdf", "application/pdf", b"PK\x03\x04", True),
        ("carta.JPG", "application/octet-stream", b"hola", True),
        ("IMG_0001.heic", "", b"\x00\x00\x00\x18ftypheic", True),
        ("notas.txt", "text/plain", b"Adjunto la carta", False),
        ("invitacion.ics", "text/calendar", b"BEGIN:VCALENDAR", False),
        ("datos.xlsx", "application/vnd.ms-excel", b"PK\x03\x04", False),
    ],
)
def test_is_signed_candidate(filename: str, content_type: str, data: bytes, expected: bool) -> None:
    assert is_signed_candidate(filename, content_type, data) is expected


# --- fuzzing ----------------------------------------------------------------------------

MAGICS = [b"", b"%PDF-1.7\n", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"II*\x00", b"MM\x00*"]
SEEDS = [
    SMALL_PDF,
    text_pdf(),
    compressed_pdf(b"<< /Type /Action /S /GoTo /D [3 0 R /Fit] >>"),
    image_bytes(scan((240, 240)).convert("RGB"), "JPEG"),
    image_bytes(scan((240, 240)), "PNG"),
    image_bytes(scan((240, 240)), "TIFF", compression="tiff_deflate"),
    image_bytes(scan((240, 240)).convert("RGB"), "JPEG", progressive=True),
]


def assert_only_refuses(data: bytes) -> None:
    """check_signed either accepts or raises its own error, nothing else."""
    try:
        result = check_signed(data, "fuzz.pdf")
    except UnacceptableDocument as error:
        assert error.reason
    else:
        assert result.pages >= 1


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=300, deadline=None)
@given(st.sampled_from(MAGICS), st.binary(max_size=4096))
def test_random_bytes_only_raise_unacceptable(magic: bytes, tail: bytes) -> None:
    assert_only_refuses(magic + tail)


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(range(len(SEEDS))),
    st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.binary(max_size=8)), max_size=8),
    st.floats(0.05, 1),
    st.randoms(use_true_random=False),
)
def test_mutated_samples_only_raise_unacceptable(
    seed: int, edits: list[tuple[float, bytes]], keep: float, rng: random.Random
) -> None:
    data = bytearray(SEEDS[seed])
    for where, replacement in edits:
        position = int(where * len(data))
        if rng.random() < 0.5:
            data[position : position + len(replacement)] = replacement
        else:
            data[position:position] = replacement
    if rng.random() < 0.3:
        del data[int(keep * len(data)) :]
    assert_only_refuses(bytes(data))
