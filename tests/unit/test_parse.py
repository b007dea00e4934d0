"""Tests for bot.handlers.parse: tolerant parsing of inbound mail."""

from __future__ import annotations

import dataclasses
import io
import re
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.handlers.parse import (
    MailParseError,
    ParsedMail,
    html_to_text,
    parse_mail,
)

MAIL = Path(__file__).resolve().parent.parent / "data" / "mail" / "auto"
FIXTURES = sorted(path.name for path in MAIL.glob("*.eml"))
CST = timezone(timedelta(hours=-6))


def load(name: str) -> ParsedMail:
    """Parse one of the .eml files in tests/data/mail/auto."""
    return parse_mail((MAIL / name).read_bytes())


def test_all_fixtures_are_present() -> None:
    assert len(FIXTURES) == 13


@pytest.mark.parametrize("name", FIXTURES)
def test_every_fixture_parses_cleanly(name: str) -> None:
    raw = (MAIL / name).read_bytes()
    mail = parse_mail(raw)
    assert mail.size == len(raw)
    assert mail.message_id.startswith("<") and mail.message_id.endswith(">")
    assert mail.sender and "@" in mail.sender and mail.sender == mail.sender.lower()
    assert mail.date is not None and mail.date.tzinfo is not None
    assert mail.text.strip()
    assert "\r" not in mail.text
    assert mail.defects == ()


# --- the human mail from Outlook desktop -------------------------------------------------


def test_outlook_desktop_mail() -> None:
    mail = load("outlook_cp1252_excel_inline.eml")
    assert mail.message_id == "<SA1PR09MB88991C0E5D4A3B2F1E0D9C8BA7B6@SA1PR09MB8899.example.org>"
    assert mail.message_id_generated is False
    assert mail.in_reply_to == "<mesabot.7.20261123152001.0a1b2c3d@example.com>"
    assert mail.references == ("<mesabot.7.20261123152001.0a1b2c3d@example.com>",)
    assert mail.subject == "RE: Alta de usuario [MA-001 #7]"
    assert mail.sender == "martha.nunez@example.org"
    assert mail.sender_name == "Martha Patricia Núñez Gómez"
    assert mail.to == ("mesa.ayuda@example.com",)
    assert mail.cc == ("jorge.dominguez@example.org", "ana.castaneda@example.org")
    assert mail.reply_to is None
    assert mail.date == datetime(2026, 11, 23, 16, 47, 4, tzinfo=UTC)
    assert mail.notes == ()
    assert mail.auto.automatic is False


def test_outlook_desktop_text_is_the_windows_1252_plain_part() -> None:
    mail = load("outlook_cp1252_excel_inline.eml")
    assert mail.text.startswith("Buenos días:\n\nLes comparto la relación de agentes")
    assert "el “alta masiva” del mes" in mail.text
    assert "¿pueden revisarlo?" in mail.text
    assert "Enviado el: lunes, 23 de noviembre de 2026 09:20 a. m." in mail.text
    assert mail.html is not None and "cid:image001.png@01DB3D7A.5E2F1C40" in mail.html
    # The HTML part, declared iso-8859-1 but written in Windows-1252, reads the same.
    assert "“alta masiva”" in mail.html


def test_outlook_desktop_attachments() -> None:
    mail = load("outlook_cp1252_excel_inline.eml")
    image, sheet = mail.attachments
    assert (image.filename, image.content_type, image.inline) == (
        "image001.png",
        "image/png",
        True,
    )
    assert image.content.startswith(b"\x89PNG")
    assert sheet.filename == "Relación de agentes Acapulco.xlsx"
    assert sheet.content_type.endswith("spreadsheetml.sheet")
    assert sheet.inline is False
    assert "xl/workbook.xml" in zipfile.ZipFile(io.BytesIO(sheet.content)).namelist()


def test_headers_mapping() -> None:
    mail = load("outlook_cp1252_excel_inline.eml")
    assert mail.headers["subject"] == ("RE: Alta de usuario [MA-001 #7]",)
    assert mail.headers["from"] == ("Martha Patricia Núñez Gómez <Martha.Nunez@Example.org>",)
    assert mail.headers["x-auto-response-suppress"] == ("All",)
    assert mail.headers["x-ms-has-attach"] == ("yes",)
    assert mail.headers["received"][0].startswith("from SA1PR09MB8899.example.org")
    assert "\n" not in mail.headers["received"][0]
    assert all(name == name.lower() for name in mail.headers)
    with pytest.raises(TypeError):
        mail.headers["subject"] = ("otro",)  # type: ignore[index]


def test_parsed_mail_is_frozen() -> None:
    mail = load("winmail_dat.eml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        mail.subject = "otro"  # type: ignore[misc]


# --- the other fixtures ------------------------------------------------------------------


def test_winmail_dat_note() -> None:
    mail = load("winmail_dat.eml")
    assert mail.notes == ("winmail.dat (TNEF) recibido: el contenido puede no ser legible",)
    (tnef,) = mail.attachments
    assert (tnef.filename, tnef.content_type, tnef.inline) == (
        "winmail.dat",
        "application/ms-tnef",
        False,
    )
    assert tnef.content.startswith(bytes.fromhex("789f3e22"))
    assert mail.sender_name == "Raúl Sandoval Quintero"
    assert "firmado por el director de la promotoría" in mail.text


def test_missing_message_id_is_derived_from_the_bytes() -> None:
    raw = (MAIL / "no_message_id.eml").read_bytes()
    mail = parse_mail(raw)
    assert re.fullmatch(r"<sha256-[0-9a-f]{32}@mesabot\.invalid>", mail.message_id)
    assert mail.message_id_generated is True
    assert "mensaje sin Message-ID" in mail.notes
    # Stable for the same bytes (re-delivery), different for different bytes.
    assert parse_mail(raw).message_id == mail.message_id
    assert parse_mail(raw + b"\n").message_id != mail.message_id
    (pdf,) = mail.attachments
    assert (pdf.filename, pdf.content_type) == ("adjunto-1.pdf", "application/pdf")
    assert pdf.content.startswith(b"%PDF-1.4")


def test_empty_message_id_is_generated_too() -> None:
    mail = parse_mail(b"From: a@example.com\nMessage-ID: \nSubject: x\n\nhola\n")
    assert mail.message_id_generated is True
    assert mail.message_id.endswith("@mesabot.invalid>")


def test_broken_encoded_word_subject() -> None:
    mail = load("broken_subject.eml")
    assert mail.subject.startswith("Solicitud de alta ")
    assert "=?utf-8?B?!!!*?=" in mail.subject
    assert mail.subject.endswith("póliza sin cerrar")
    assert "asunto con codificación defectuosa" in mail.notes
    assert mail.sender_name == "Sofía Juárez"
    assert mail.text == (
        "Buen día, solicito el alta de la agente Sofía Juárez en la promotoría Chilpancingo."
    )


def test_forwarded_message_is_kept_as_an_eml_attachment() -> None:
    mail = load("forwarded_rfc822.eml")
    assert mail.subject == "Fwd: Solicitud de alta de clave de agente"
    assert mail.text == (
        "Hola, les reenvío la solicitud del agente. ¿Me confirman si procede?\n\nAna Sofía"
    )
    (eml,) = mail.attachments
    assert eml.content_type == "message/rfc822"
    # "/" in the subject must not become a folder.
    assert eml.filename == "Solicitud de alta de clave de agente _ promotoria Iguala.eml"
    inner = parse_mail(eml.content)
    assert inner.message_id == "<CAJx9Lw3pRq7=mN2vB4cX8zT1kY6hG5fD0sA@mail.example.net>"
    assert inner.sender == "hector.villalobos@example.net"
    assert "constancia de situación fiscal" in inner.text


def test_html_only_newsletter_is_converted_to_text() -> None:
    mail = load("newsletter_bulk.eml")
    assert mail.text == (
        "Boletín de noviembre\n"
        "Conoce las nuevas coberturas de Gastos Médicos Mayores y los cambios en la emisión"
        " de pólizas.\n"
        "- Nuevo deducible en plan Esencial\n"
        "- Webinar: ventas en temporada decembrina\n"
        "Leer más\n"
        "Si ya no deseas recibir estos correos, date de baja aquí."
    )
    assert mail.reply_to == "no-responder@news.example.org"
    assert mail.auto.reason == "precedence-bulk"


def test_bounce_fixture_carries_auto_check_and_report_parts() -> None:
    mail = load("postfix_bounce.eml")
    assert mail.auto.bounce is True
    assert mail.auto.bounced_message_ids == ("<mesabot.7.20261123151401.1a2b3c4d@example.com>",)
    assert mail.text.startswith("This is the mail system at host mx1.example.com.")
    assert [a.content_type for a in mail.attachments] == [
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    assert [a.filename for a in mail.attachments] == ["adjunto-1.txt", "adjunto-2.txt"]
    assert b"Status: 5.1.1" in mail.attachments[0].content


def test_gmail_bounce_icon_is_inline_by_content_id_reference() -> None:
    mail = load("gmail_dsn_failure.eml")
    icon = mail.attachments[0]
    assert (icon.filename, icon.inline) == ("icon.png", True)
    assert mail.attachments[-1].filename == ("Recordatorio_ documentos pendientes [MA-006 #12].eml")


def test_out_of_office_text_from_base64_crlf_body() -> None:
    mail = load("outlook_ooo_auto_submitted.eml")
    assert mail.subject == "Respuesta automática: Alta de usuario [MA-001 #7]"
    assert mail.sender_name == "Jorge Luis Domínguez Ávila"
    assert mail.text.splitlines()[0] == "Buen día:"
    assert "\r" not in mail.text


def test_read_receipt_text_in_latin_1() -> None:
    mail = load("read_receipt.eml")
    assert mail.subject == "Leído: Alta de usuario [MA-001 #7]"
    assert "Ciudad de México" in mail.text
    assert mail.auto.reason == "read-receipt"


# --- built messages: charsets and encodings ----------------------------------------------


def mail_bytes(headers: str, body: bytes, *, content_type: str = "text/plain") -> bytes:
    """A single-part message with the given extra headers and raw body."""
    head = (
        "From: =?utf-8?q?Karla_Ben=C3=ADtez?= <Karla.Benitez@Example.org>\r\n"
        "To: mesa.ayuda@example.com\r\n"
        "Subject: =?utf-8?q?Alta_de_usuario_=5BMA-001_=237=5D?=\r\n"
        "Date: Mon, 23 Nov 2026 10:00:00 -0600\r\n"
        "Message-ID: <k1@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}\r\n"
    )
    return (head + headers + "\r\n").encode("ascii") + body


LATIN_BODIES = [
    ("", "Sí, adelante con el trámite.".encode("latin-1")),
    ("Content-Transfer-Encoding: quoted-printable\r\n", b"S=ED, adelante con el tr=E1mite."),
    ("Content-Transfer-Encoding: 8bit\r\n", "Sí, adelante con el trámite.".encode("cp1252")),
]
UTF8_BODIES = [
    ("", "Sí, adelante con el trámite.".encode()),
    ("Content-Transfer-Encoding: quoted-printable\r\n", b"S=C3=AD, adelante con el tr=C3=A1mite."),
    ("Content-Transfer-Encoding: base64\r\n", b"U8OtLCBhZGVsYW50ZSBjb24gZWwgdHLDoW1pdGUu"),
]
CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "us-ascii", "x-desconocido", ""]


def plain(charset: str) -> str:
    """A text/plain Content-Type with an optional charset."""
    return f'text/plain; charset="{charset}"' if charset else "text/plain"


@pytest.mark.parametrize(("headers", "body"), LATIN_BODIES)
@pytest.mark.parametrize("charset", CHARSETS)
def test_latin_bodies_read_under_any_label(headers: str, body: bytes, charset: str) -> None:
    mail = parse_mail(mail_bytes(headers, body, content_type=plain(charset)))
    assert mail.text == "Sí, adelante con el trámite."
    assert mail.subject == "Alta de usuario [MA-001 #7]"
    assert mail.sender == "karla.benitez@example.org"


@pytest.mark.parametrize(("headers", "body"), UTF8_BODIES)
@pytest.mark.parametrize("charset", ["utf-8", "us-ascii", "x-desconocido", ""])
def test_utf8_bodies(headers: str, body: bytes, charset: str) -> None:
    mail = parse_mail(mail_bytes(headers, body, content_type=plain(charset)))
    assert mail.text == "Sí, adelante con el trámite."


def test_utf8_body_declared_latin_1_is_read_as_latin_1() -> None:
    # The declared charset wins when it decodes: mojibake, but no crash and no data loss.
    mail = parse_mail(mail_bytes("", "Sí".encode(), content_type="text/plain; charset=iso-8859-1"))
    assert mail.text == "SÃ\xad"


def test_eight_bit_headers_in_utf8_and_latin_1() -> None:
    raw = (
        b"From: Jos\xc3\xa9 P\xc3\xa9rez <jose.perez@example.net>\r\n"
        b'To: "Casta\xf1eda, Ana" <ana@example.org>, mesa.ayuda@example.com\r\n'
        b"Subject: Relaci\xf3n de p\xf3lizas\r\n"
        b"X-Nota: se\xc3\xb1or\r\n"
        b"\r\n"
        b"Hola\r\n"
    )
    mail = parse_mail(raw)
    assert (mail.sender_name, mail.sender) == ("José Pérez", "jose.perez@example.net")
    assert mail.to == ("ana@example.org", "mesa.ayuda@example.com")
    assert mail.subject == "Relación de pólizas"
    assert mail.headers["x-nota"] == ("señor",)
    assert mail.text == "Hola"


def test_subject_is_unfolded_and_whitespace_collapsed() -> None:
    raw = (
        b"From: a@example.com\nSubject: Re:   Alta de\n usuario\n\t=?utf-8?q?=5BMA-001?=\n"
        b"  =?utf-8?q?_=237=5D?=\n\nhola\n"
    )
    assert parse_mail(raw).subject == "Re: Alta de usuario [MA-001 #7]"


# --- built messages: structure -----------------------------------------------------------

NESTED = b"""\
From: "Ing. Pablo Ochoa" <pablo.ochoa@example.net>
To: mesa.ayuda@example.com
Subject: Constancia
Message-ID: <nested@example.net>
Content-Type: multipart/related; boundary="REL"

--REL
Content-Type: multipart/alternative; boundary="ALT"

--ALT
Content-Type: multipart/mixed; boundary="MIX"

--MIX
Content-Type: text/plain; charset=utf-8

Adjunto la constancia.
--MIX
Content-Type: application/pdf; name="constancia.pdf"
Content-Disposition: attachment; filename*=utf-8''..%2F..%2Fconstancia%20fiscal%20%C3%A1.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--MIX--
--ALT
Content-Type: text/html; charset=utf-8

<p>Adjunto la <b>constancia</b>.</p><img src="cid:firma@example.net">
--ALT--
--REL
Content-Type: image/jpeg
Content-ID: <firma@example.net>
Content-Transfer-Encoding: base64

/9j/4AAQ
--REL
Content-Type: image/png
Content-ID: <no-usada@example.net>
Content-Transfer-Encoding: base64

iVBORw0K
--REL--
"""


def test_nested_mixed_inside_alternative_inside_related() -> None:
    mail = parse_mail(NESTED)
    assert mail.text == "Adjunto la constancia."
    assert mail.html is not None and "<b>constancia</b>" in mail.html
    pdf, signature, unused = mail.attachments
    assert (pdf.filename, pdf.content, pdf.inline) == (
        "constancia fiscal á.pdf",
        b"%PDF-1.4\n",
        False,
    )
    # Referenced by cid: in the HTML, without Content-Disposition: inline.
    assert (signature.filename, signature.inline) == ("adjunto-2.jpg", True)
    # A Content-ID nobody references, without a disposition: a real attachment.
    assert (unused.filename, unused.inline) == ("adjunto-3.png", False)


def test_inline_disposition_with_content_id_is_inline_even_unreferenced() -> None:
    raw = NESTED.replace(
        b"Content-ID: <no-usada@example.net>",
        b"Content-ID: <no-usada@example.net>\nContent-Disposition: inline",
    )
    assert parse_mail(raw).attachments[2].inline is True


def test_attached_image_with_content_id_but_disposition_attachment_is_not_inline() -> None:
    raw = NESTED.replace(
        b"Content-ID: <firma@example.net>",
        b"Content-ID: <firma@example.net>\nContent-Disposition: attachment; filename=firma.jpg",
    )
    signature = parse_mail(raw).attachments[1]
    assert (signature.filename, signature.inline) == ("firma.jpg", False)


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        # Backslashes quoted as RFC 5322 quoted-pairs, i.e. a Windows path.
        (r'attachment; filename="C:\\Users\\mfh\\póliza.pdf"', "póliza.pdf"),
        ('attachment; filename="póliza.pdf"', "póliza.pdf"),
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename="=?utf-8?B?UMOzbGl6YS5wZGY=?="', "Póliza.pdf"),
        ("attachment; filename*0*=utf-8''P%C3%B3liza%20; filename*1=2026.pdf", "Póliza 2026.pdf"),
        ('attachment; filename=""', "adjunto-1.pdf"),
        ('attachment; filename="  .. "', "adjunto-1.pdf"),
        ("attachment", "adjunto-1.pdf"),
    ],
)
def test_attachment_filenames(disposition: str, expected: str) -> None:
    raw = (
        "From: a@example.com\nSubject: x\nContent-Type: multipart/mixed; boundary=B\n\n"
        "--B\nContent-Type: text/plain\n\nVer adjunto.\n"
        f"--B\nContent-Type: application/pdf\nContent-Disposition: {disposition}\n\n%PDF\n--B--\n"
    ).encode()
    (attachment,) = parse_mail(raw).attachments
    assert attachment.filename == expected


def test_missing_boundary_reads_the_body_as_text() -> None:
    raw = (
        b"From: a@example.com\nSubject: sin frontera\nContent-Type: multipart/mixed\n\n"
        b"--abc\nContent-Type: text/plain\n\nHola, adjunto la p\xc3\xb3liza.\n--abc--\n"
    )
    mail = parse_mail(raw)
    assert "Hola, adjunto la póliza." in mail.text
    assert "estructura MIME defectuosa: el cuerpo se leyó como texto" in mail.notes
    assert "NoBoundaryInMultipartDefect" in mail.defects


def test_boundary_never_found() -> None:
    raw = (
        b"From: a@example.com\nSubject: x\nContent-Type: multipart/mixed; boundary=NOPE\n\n"
        b"--otra\nContent-Type: text/plain\n\nHola\n"
    )
    mail = parse_mail(raw)
    assert "Hola" in mail.text
    assert mail.defects


def test_html_only_body_with_unknown_charset() -> None:
    body = "<html><body><div>Buen día</div><div>Sí procede</div></body></html>".encode()
    mail = parse_mail(mail_bytes("", body, content_type="text/html; charset=x-rara"))
    assert mail.text == "Buen día\nSí procede"
    assert mail.html is not None


def test_empty_plain_part_falls_back_to_html() -> None:
    raw = (
        b"From: a@example.com\nSubject: x\nContent-Type: multipart/alternative; boundary=B\n\n"
        b"--B\nContent-Type: text/plain\n\n\n--B\nContent-Type: text/html\n\n<p>Hola</p>\n--B--\n"
    )
    assert parse_mail(raw).text == "Hola"


# --- built messages: headers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Date: Mon, 23 Nov 2026 10:00:00 -0600", datetime(2026, 11, 23, 10, tzinfo=CST)),
        ("Date: Mon, 23 Nov 2026 16:00:00 -0000", datetime(2026, 11, 23, 16, tzinfo=UTC)),
        ("Date: 23 Nov 2026 10:00 CST", datetime(2026, 11, 23, 10, tzinfo=CST)),
        ("Date: lunes 23 de noviembre", None),
        ("Date: Mon, 99 Nov 2026 10:00:00 -0600", None),
        ("Date: ", None),
        ("X-Sin-Fecha: 1", None),
    ],
)
def test_dates(header: str, expected: datetime | None) -> None:
    mail = parse_mail(f"From: a@example.com\n{header}\n\nhola\n".encode())
    assert mail.date == expected
    if expected is None:
        assert "fecha ausente o ilegible" in mail.notes
    else:
        assert mail.date is not None and mail.date.tzinfo is not None


def test_threading_headers_are_normalised() -> None:
    raw = (
        b"From: a@example.com\n"
        b"Message-ID: CAF3xk9m2Qw@mail.example.net\n"
        b"In-Reply-To: <mesabot.7.a@example.com> (mensaje de la Mesa del 23 de noviembre)\n"
        b"References: <r1@example.com>\n <r2@example.com>,<mesabot.7.a@example.com>\n"
        b"  <r1@example.com>\n\nhola\n"
    )
    mail = parse_mail(raw)
    assert mail.message_id == "<CAF3xk9m2Qw@mail.example.net>"
    assert mail.message_id_generated is False
    assert mail.in_reply_to == "<mesabot.7.a@example.com>"
    assert mail.references == ("<r1@example.com>", "<r2@example.com>", "<mesabot.7.a@example.com>")


def test_unparseable_sender() -> None:
    mail = parse_mail(b"From: Mesa de Ayuda\nTo: undisclosed-recipients:;\nSubject: x\n\nhola\n")
    assert (mail.sender, mail.to) == ("", ())
    assert "remitente ausente o ilegible" in mail.notes


def test_reply_to_and_multiple_addresses() -> None:
    raw = (
        b"From: Mesa <mesa.ayuda@example.com>\n"
        b"Reply-To: =?utf-8?q?Asistente_Zona_Acapulco?= <Asistente.Acapulco@example.org>\n"
        b"To: a@example.org, A@EXAMPLE.ORG, b@example.org\nCc: \n\nhola\n"
    )
    mail = parse_mail(raw)
    assert mail.reply_to == "asistente.acapulco@example.org"
    assert mail.to == ("a@example.org", "b@example.org")
    assert mail.cc == ()


# --- not a mail, and hostile input --------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"   ", b"\r\n\r\n", b"\n"])
def test_not_a_mail(raw: bytes) -> None:
    with pytest.raises(MailParseError):
        parse_mail(raw)
    assert issubclass(MailParseError, ValueError)


def test_body_without_headers_is_still_parsed() -> None:
    mail = parse_mail(b"Hola, esto no trae encabezados\n")
    assert "Hola" in mail.text
    assert mail.message_id_generated is True
    assert mail.sender == ""


def test_headers_without_body() -> None:
    mail = parse_mail(b"From: a@example.com\nSubject: Solo asunto\n")
    assert (mail.subject, mail.text, mail.attachments) == ("Solo asunto", "", ())
    assert "mensaje sin texto" in mail.notes


def test_deeply_nested_multiparts_do_not_exhaust_the_stack() -> None:
    for depth in (100, 3000):
        parts = b"".join(
            b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i, i + 1)
            for i in range(depth)
        )
        closing = b"".join(b"--b%d--\n" % i for i in reversed(range(depth + 1)))
        raw = (
            b"From: a@example.com\nContent-Type: multipart/mixed; boundary=b0\n\n"
            + parts
            + b"--b%d\nContent-Type: text/plain\n\nhola\n" % depth
            + closing
        )
        mail = parse_mail(raw)
        assert mail.notes


def test_many_headers_stay_fast() -> None:
    raw = b"From: a@example.com\n" + b"".join(b"X-H%d: v\n" % i for i in range(20000)) + b"\nhola\n"
    assert len(parse_mail(raw).headers) == 20001


FIXTURE_BYTES = [(MAIL / name).read_bytes() for name in FIXTURES]
NASTY = [b"=?", b"?=", b"?B?", b"?Q?", b"\xff", b"\xc3", b"<", b">", b";", b'"', b"--", b"\n"]
NASTY += [b"\r\n", b"boundary=", b"charset=", b"*=", b"''", b"%", b":", b"\x00", b"\n\n", b"\\"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(FIXTURE_BYTES),
    edits=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=20000),
            st.integers(min_value=0, max_value=60),
            st.sampled_from(NASTY) | st.binary(max_size=8),
        ),
        max_size=8,
    ),
)
def test_damaged_mail_never_raises(base: bytes, edits: list[tuple[int, int, bytes]]) -> None:
    data = base
    for position, cut, insert in edits:
        position %= len(data) + 1
        data = data[:position] + insert + data[position + cut :]
    try:
        mail = parse_mail(data)
    except MailParseError:
        assert not data.strip()
        return
    assert mail.size == len(data)
    assert mail.message_id.startswith("<")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(data: bytes) -> None:
    try:
        parse_mail(data)
    except MailParseError:
        assert not data.strip()


# --- html_to_text --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("Hola<br>Juan<br/>Pérez", "Hola\nJuan\nPérez"),
        ("<p>Uno</p>\n  <p>Dos</p>", "Uno\nDos"),
        ("<div>Uno</div><div><br></div><div>Dos</div>", "Uno\n\nDos"),
        ("<ul>\n<li>uno</li>\n<li>dos</li></ul>", "- uno\n- dos"),
        ("<style>p {color: red}</style><script>alert(1)</script><p>Visible</p>", "Visible"),
        ("<title>Título</title><p>Cuerpo</p>", "Cuerpo"),
        ("P&eacute;rez &amp; Hijos &lt;SA&gt;&nbsp;&#161;ya!", "Pérez & Hijos <SA> ¡ya!"),
        ("<p>texto\n  partido   en\nlíneas</p>", "texto partido en líneas"),
        ("<!--[if gte mso 9]><xml><o:x>no</o:x></xml><![endif]--><p>Sí</p>", "Sí"),
        ("<p>a</p><p>&nbsp;</p><p>b</p>", "a\n\nb"),
        (
            "<table><tr><td>Clave</td><td>A-1</td></tr><tr><td>RFC</td></tr></table>",
            "Clave A-1\nRFC",
        ),
        ("<p>sin cerrar <b>negrita", "sin cerrar negrita"),
        ("<<<>>>&&&", "<<<>>>&&&"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected
