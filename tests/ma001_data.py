"""What MA-001's users send, built in memory: request forms, signed scans, photos."""

from __future__ import annotations

import io

from openpyxl import Workbook
from PIL import Image
from stdnum.mx import rfc as stdnum_rfc

PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def rfc(prefix: str) -> str:
    """A persona física RFC with its check digit."""
    return prefix + stdnum_rfc.calc_check_digit(prefix)


USER_A = ("Elena Gómez Ruiz", rfc("GORE850315H1"), "elena.gomez@promotoria-costera.mx")
USER_B = ("Raúl Sánchez Torres", rfc("SATR900720AB"), "raul.sanchez@promotoria-costera.mx")
USER_C = ("Jorge Luna Pérez", rfc("LUPJ800101A1"), "jorge.luna@promotoria-costera.mx")


def form(*users: tuple[str, str, str], movement: str | None = None) -> bytes:
    """The request form as a requester fills it."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    headers = ["Nombre completo", "RFC", "Correo", "Zona", "Paquete"]
    sheet.append([*headers, "Movimiento"] if movement else headers)
    for name, key, address in users:
        row: list[object] = [name, key, address, "Acapulco", 1]
        sheet.append([*row, movement] if movement else row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def pdf(title: str, *, javascript: bool = False) -> bytes:
    """A one-page PDF (each title its own bytes); with JavaScript run when it opens, if asked."""
    action = b" /OpenAction 5 0 R" if javascript else b""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R" + action + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        b"<< /Title (" + title.encode("ascii") + b") >>",
    ]
    if javascript:
        objects.append(b"<< /S /JavaScript /JS (app.alert\\(1\\);) >>")
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def image(width: int, height: int, kind: str = "PNG") -> bytes:
    """An image of that size: a phone photo of a page, or a signature logo when small."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, kind)
    return buffer.getvalue()
