"""Tests for bot.handlers.loops: RFC 3834 auto-reply, list, loop and bounce detection."""

from __future__ import annotations

import base64
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

from bot.handlers.loops import (
    AutoCheck,
    check_automatic,
    decode_bytes,
    decode_words,
    header_addresses,
    header_values,
    message_ids,
)

MAIL = Path(__file__).resolve().parent.parent / "data" / "mail" / "auto"


def parse(raw: bytes) -> EmailMessage:
    """Raw bytes as the pipeline parses them."""
    return BytesParser(policy=policy.default).parsebytes(raw)


def fixture(name: str) -> EmailMessage:
    """One of the .eml files in tests/data/mail/auto."""
    return parse((MAIL / name).read_bytes())


def human(headers: str, body: str = "Buen día, les escribo por la póliza 12345.\n") -> bytes:
    """A plain UTF-8 message from a promotoría with extra header lines."""
    base = (
        "From: =?utf-8?q?Karla_Ben=C3=ADtez?= <karla.benitez@example.org>\n"
        "To: Mesa de Ayuda <mesa.ayuda@example.com>\n"
        "Date: Mon, 23 Nov 2026 10:00:00 -0600\n"
        "Message-ID: <k1@example.org>\n"
    )
    tail = "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
    return (base + headers + tail + body).encode("utf-8")


# --- the fixture files ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "automatic", "reason", "bounce"),
    [
        ("postfix_bounce.eml", True, "bounce", True),
        ("exchange_ndr_es.eml", True, "bounce", True),
        ("gmail_dsn_failure.eml", True, "bounce", True),
        ("outlook_ooo_auto_submitted.eml", True, "auto-submitted", False),
        ("vacation_x_autoreply.eml", True, "x-autoreply", False),
        ("mailing_list.eml", True, "list", False),
        ("newsletter_bulk.eml", True, "precedence-bulk", False),
        ("read_receipt.eml", True, "read-receipt", False),
        ("outlook_cp1252_excel_inline.eml", False, None, False),
        ("winmail_dat.eml", False, None, False),
        ("no_message_id.eml", False, None, False),
        ("broken_subject.eml", False, None, False),
        ("forwarded_rfc822.eml", False, None, False),
    ],
)
def test_fixture_classification(
    name: str, automatic: bool, reason: str | None, bounce: bool
) -> None:
    check = check_automatic(fixture(name))
    assert (check.automatic, check.reason, check.bounce) == (automatic, reason, bounce)
    if not bounce:
        assert check.bounced_message_ids == ()
        assert check.bounce_permanent is None
        assert check.bounce_recipients == ()


def test_postfix_bounce_reads_original_headers_and_dsn() -> None:
    check = check_automatic(fixture("postfix_bounce.eml"))
    # The Message-ID is folded onto its own line in the returned headers.
    assert check.bounced_message_ids == ("<mesabot.7.20261123151401.1a2b3c4d@example.com>",)
    assert check.bounce_permanent is True
    assert check.bounce_recipients == ("jperez@example.net",)


def test_exchange_ndr_in_spanish() -> None:
    check = check_automatic(fixture("exchange_ndr_es.eml"))
    assert check.bounced_message_ids == ("<mesabot.8.20261124160208.5e6f7a8b@example.com>",)
    assert check.bounce_permanent is True
    assert check.bounce_recipients == ("guadalupe.ramirez@example.org",)


def test_gmail_dsn_failure() -> None:
    check = check_automatic(fixture("gmail_dsn_failure.eml"))
    assert check.bounced_message_ids == ("<mesabot.12.20261125163145.9c8b7a6d@example.com>",)
    assert check.bounce_permanent is True
    assert check.bounce_recipients == ("rosa.mtz@example.net",)


def test_outlook_header_x_auto_response_suppress_alone_is_human() -> None:
    msg = fixture("outlook_cp1252_excel_inline.eml")
    assert header_values(msg, "x-auto-response-suppress") == ["All"]
    assert check_automatic(msg) == AutoCheck(automatic=False, reason=None)


# --- classic bounces without multipart/report --------------------------------------------

EXIM_BOUNCE = """\
Return-path: <>
Envelope-to: mesa.ayuda@example.com
Received: from Debian-exim by mail.example.net with local (Exim 4.96)
\tid 1tFqXy-0004Ab-2C; Mon, 23 Nov 2026 11:02:10 -0600
X-Failed-Recipients: ricardo.salinas@example.net
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@mail.example.net>
To: mesa.ayuda@example.com
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1tFqXy-0004Ab-2C@mail.example.net>
Date: Mon, 23 Nov 2026 11:02:10 -0600

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  ricardo.salinas@example.net
    host mx.example.net [203.0.113.9]
    SMTP error from remote mail server after RCPT TO:<ricardo.salinas@example.net>:
    550 5.1.1 <ricardo.salinas@example.net>: Recipient address rejected: User unknown

------ This is a copy of the message, including all the headers. ------

Return-path: <mesa.ayuda@example.com>
From: Mesa de Ayuda <mesa.ayuda@example.com>
To: ricardo.salinas@example.net
Subject: Alta de usuario [MA-001 #15]
Message-ID: <mesabot.15.20261123170209.77aa88bb@example.com>
Date: Mon, 23 Nov 2026 11:02:09 -0600

Buen día, Ricardo.
""".encode()


def test_exim_bounce_reads_message_id_from_the_body() -> None:
    check = check_automatic(parse(EXIM_BOUNCE))
    assert check.bounce and check.reason == "bounce"
    assert check.bounced_message_ids == ("<mesabot.15.20261123170209.77aa88bb@example.com>",)
    assert check.bounce_permanent is True
    assert check.bounce_recipients == ("ricardo.salinas@example.net",)


def test_spanish_classic_bounce_from_postmaster_without_status() -> None:
    raw = (
        "From: postmaster@example.org\n"
        "To: mesa.ayuda@example.com\n"
        "Subject: =?iso-8859-1?Q?Correo_no_entregado:_Alta_de_usuario_[MA-001_#9]?=\n"
        "Date: Mon, 23 Nov 2026 12:00:00 -0600\n"
        "Content-Type: text/plain; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: quoted-printable\n\n"
        "Su mensaje no pudo entregarse a uno o m=E1s destinatarios.\n"
        "Message-ID: <mesabot.9.abc@example.com>\n"
    ).encode("ascii")
    check = check_automatic(parse(raw))
    assert check.bounce
    assert check.bounced_message_ids == ("<mesabot.9.abc@example.com>",)
    assert check.bounce_permanent is None
    assert check.bounce_recipients == ()


def test_bounce_subject_from_a_person_is_not_a_bounce() -> None:
    raw = human("Subject: RE: Undelivered Mail Returned to Sender\n", "¿Por qué me llegó esto?\n")
    assert check_automatic(parse(raw)).automatic is False


def test_postmaster_writing_a_normal_mail_is_human() -> None:
    raw = human("Subject: Cambio de contraseña del buzón\n").replace(
        b"karla.benitez@example.org", b"postmaster@example.org"
    )
    assert check_automatic(parse(raw)).automatic is False


def _report(status_block: str, report_type: str = "delivery-status") -> bytes:
    return (
        "From: MAILER-DAEMON@mx1.example.com (Mail Delivery System)\n"
        "To: mesa.ayuda@example.com\n"
        "Subject: Delayed Mail (still being retried)\n"
        f"Content-Type: multipart/report; report-type={report_type}; boundary=R\n\n"
        "--R\nContent-Type: text/plain\n\nThis is the mail system at host mx1.example.com.\n"
        "--R\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx1.example.com\n\n"
        f"{status_block}\n"
        "--R\nContent-Type: text/rfc822-headers\n\n"
        "Message-ID: <mesabot.3.x@example.com>\nSubject: Recordatorio [MA-006 #3]\n"
        "--R--\n"
    ).encode("ascii")


def test_delayed_dsn_is_temporary() -> None:
    raw = _report(
        "Final-Recipient: rfc822; lupita@example.net\nAction: delayed\nStatus: 4.4.1\n"
        "Diagnostic-Code: X-Postfix; connect to mx.example.net: Connection timed out\n"
    )
    check = check_automatic(parse(raw))
    assert check.bounce
    assert check.bounce_permanent is False
    assert check.bounce_recipients == ("lupita@example.net",)
    assert check.bounced_message_ids == ("<mesabot.3.x@example.com>",)


def test_mixed_dsn_is_permanent_and_lists_failed_recipients_only() -> None:
    raw = _report(
        "Final-Recipient: rfc822; a@example.net\nAction: delayed\nStatus: 4.4.1\n\n"
        "Final-Recipient: rfc822; b@example.net\nAction: failed\nStatus: 5.7.1\n\n"
        "Final-Recipient: rfc822; c@example.net\nAction: delivered\nStatus: 2.0.0\n"
    )
    check = check_automatic(parse(raw))
    assert check.bounce_permanent is True
    assert check.bounce_recipients == ("b@example.net",)


def test_success_only_dsn_is_automatic_but_not_a_bounce() -> None:
    raw = _report(
        "Final-Recipient: rfc822; a@example.net\nAction: delivered\nStatus: 2.0.0\n\n"
        "Final-Recipient: rfc822; b@example.net\nAction: relayed\n"
    )
    check = check_automatic(parse(raw))
    assert check == AutoCheck(automatic=True, reason="delivery-report")


def test_dsn_action_without_status() -> None:
    raw = _report("Final-Recipient: rfc822;<x@example.net>\nAction: failed\n")
    check = check_automatic(parse(raw))
    assert check.bounce_permanent is True
    assert check.bounce_recipients == ("x@example.net",)


def test_base64_encoded_delivery_status() -> None:
    dsn = b"Reporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; a@example.net\n"
    dsn += b"Action: failed\nStatus: 5.2.2\n"
    raw = (
        b"From: MAILER-DAEMON@example.com\nSubject: Returned mail: see transcript\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=X\n\n"
        b"--X\nContent-Type: text/plain\n\nsorry\n"
        b"--X\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(dsn)
        + b"--X--\n"
    )
    check = check_automatic(parse(raw))
    assert (check.bounce, check.bounce_permanent) == (True, True)
    assert check.bounce_recipients == ("a@example.net",)


def test_other_report_types_are_automatic() -> None:
    raw = _report("Feedback-Type: abuse\n", report_type="feedback-report").replace(
        b"message/delivery-status", b"message/feedback-report"
    )
    check = check_automatic(parse(raw))
    assert (check.automatic, check.reason, check.bounce) == (True, "report", False)


def test_forwarded_bounce_inside_a_human_mail_is_human() -> None:
    inner = (MAIL / "postfix_bounce.eml").read_bytes()
    raw = (
        b"From: karla.benitez@example.org\nTo: mesa.ayuda@example.com\n"
        b"Subject: Fwd: Undelivered Mail Returned to Sender\n"
        b"Content-Type: multipart/mixed; boundary=F\n\n"
        b"--F\nContent-Type: text/plain; charset=utf-8\n\n"
        b"Me reboto este correo, \xc2\xbfqu\xc3\xa9 hago?\n"
        b"--F\nContent-Type: message/rfc822\n\n" + inner + b"\n--F--\n"
    )
    assert check_automatic(parse(raw)).automatic is False


# --- RFC 3834 and friends ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-generated\n", "auto-submitted"),
        ('Auto-Submitted: auto-replied; owner-email="x@example.org"\n', "auto-submitted"),
        ("Auto-Submitted: auto-notified\n", "auto-submitted"),
        ("Precedence: bulk\n", "precedence-bulk"),
        ("Precedence: junk\n", "precedence-bulk"),
        ("Precedence: List\n", "precedence-bulk"),
        ("List-Id: Agentes Guerrero <agentes.example.org>\n", "list"),
        ("List-Unsubscribe: <mailto:baja@example.org>\n", "list"),
        ("X-Loop: mesabot\n", "x-loop"),
        ("X-Loop: MesaBot@example.com\n", "x-loop"),
        ("Return-Path: <>\n", "empty-return-path"),
        ("Return-Path: < >\n", "empty-return-path"),
        ("X-Autoreply: yes\n", "x-autoreply"),
        ("X-Autorespond: Vacaciones\n", "x-autoreply"),
        ("Subject: Respuesta automática: Alta de usuario [MA-001 #7]\n", "autoreply-subject"),
        ("Subject: =?utf-8?q?Respuesta_autom=C3=A1tica=3A_Alta?=\n", "autoreply-subject"),
        ("Subject: Fuera de la oficina\n", "autoreply-subject"),
        ("Subject: Automatic reply: Alta de usuario [MA-001 #7]\n", "autoreply-subject"),
        ("Subject: Out of Office: Alta de usuario\n", "autoreply-subject"),
    ],
)
def test_automatic_signals(headers: str, reason: str) -> None:
    check = check_automatic(parse(human(headers)))
    assert check == AutoCheck(automatic=True, reason=reason)


@pytest.mark.parametrize(
    "headers",
    [
        "Auto-Submitted: no\n",
        "Auto-Submitted: No\n",
        "X-Auto-Response-Suppress: All\n",
        "X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply\n",
        "X-Loop: otro-sistema@example.net\n",
        "Return-Path: <karla.benitez@example.org>\n",
        "Precedence: normal\n",
        "X-Autoreply: no\n",
        "Subject: RE: Respuesta automática: Alta de usuario [MA-001 #7]\n",
        "Subject: Alta de usuario para agente fuera de la oficina\n",
        "Thread-Topic: Fuera de la oficina\n",
    ],
)
def test_human_signals(headers: str) -> None:
    assert check_automatic(parse(human(headers))) == AutoCheck(automatic=False, reason=None)


def test_x_loop_with_own_address() -> None:
    msg = parse(human("X-Loop: mesa.ayuda@example.com\n"))
    assert check_automatic(msg).automatic is False
    check = check_automatic(msg, own_addresses=frozenset({"Mesa.Ayuda@example.com"}))
    assert check.reason == "x-loop"


def test_custom_loop_marker_and_empty_marker() -> None:
    msg = parse(human("X-Loop: helpdesk-seguros\n"))
    assert check_automatic(msg, loop_marker="helpdesk-seguros").reason == "x-loop"
    assert check_automatic(parse(human("X-Loop: algo\n")), loop_marker="").automatic is False


def test_programmatic_email_message() -> None:
    msg = EmailMessage()
    msg["From"] = "Mesa de Ayuda <mesa.ayuda@example.com>"
    msg["To"] = "karla.benitez@example.org"
    msg["Subject"] = "Respuesta automática: Alta de usuario"
    msg.set_content("Hola")
    assert check_automatic(msg).reason == "autoreply-subject"
    del msg["Subject"]
    msg["Subject"] = "Alta de usuario"
    assert check_automatic(msg).automatic is False
    msg["Auto-Submitted"] = "auto-replied"
    assert check_automatic(msg).reason == "auto-submitted"


def test_eight_bit_and_garbage_headers_do_not_raise() -> None:
    raw = (
        b"From: \xd1o\xf1o <\xff@@example..org>\nTo: ,,,;\nSubject: Respuesta autom\xe1tica: hola\n"
        b"Auto-Submitted: \xff\xfe\nContent-Type: multipart/report; report-type=\xff\n\nhola\n"
    )
    check = check_automatic(parse(raw))
    assert check.automatic is True


# --- helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<a@example.com>", ("<a@example.com>",)),
        ("  <a@example.com>\n <b@example.com>", ("<a@example.com>", "<b@example.com>")),
        ("<a@example.com>,<b@example.com> <a@example.com>", ("<a@example.com>", "<b@example.com>")),
        ("a@example.com", ("<a@example.com>",)),
        ("<a@example.com> (mensaje de Juan del 3 de mayo)", ("<a@example.com>",)),
        ("<a@exam\n ple.com>", ("<a@example.com>",)),
        ("<>", ()),
        ("", ()),
        ("sin identificador", ()),
    ],
)
def test_message_ids(value: str, expected: tuple[str, ...]) -> None:
    assert message_ids(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=?utf-8?q?Respuesta_autom=C3=A1tica?=", "Respuesta automática"),
        ("=?UTF-8?B?w5FvbW8=?= =?UTF-8?B?IGRlIHDDs2xpemE=?=", "Ñomo de póliza"),
        ("=?iso-8859-1?Q?P=F3liza?= n\u00famero 5", "Póliza número 5"),
        # A character split across two words (Outlook does this on long subjects).
        ("=?utf-8?B?w6E=?= =?utf-8?B?w6k=?=", "áé"),
        ("=?utf-8?B?ww==?= =?utf-8?B?oQ==?=", "á"),
        ("=?utf-8?B?!!!*?=", "=?utf-8?B?!!!*?="),
        ("=?x-desconocido?Q?cl=E1ve?=", "cláve"),
        ("=?utf-8?Q?p=C3=B3liza_sin_cerrar", "póliza sin cerrar"),
        ("=?utf-8*es?Q?ma=C3=B1ana?=", "mañana"),
        ("Texto sin codificar", "Texto sin codificar"),
        ("=?utf-8?Q?a?= b =?utf-8?Q?c?=", "a b c"),
    ],
)
def test_decode_words(value: str, expected: str) -> None:
    assert decode_words(value) == expected


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        ("Sí, adelante".encode(), "utf-8", "Sí, adelante"),
        ("Sí, “adelante”".encode("windows-1252"), "iso-8859-1", "Sí, “adelante”"),
        ("Sí".encode("windows-1252"), "us-ascii", "Sí"),
        ("Sí".encode(), None, "Sí"),
        ("Sí".encode(), "x-mac-desconocido", "Sí"),
        ("Sí".encode("latin-1"), "utf-8", "Sí"),
        (b"\x81\x8d", "utf-8", "\x81\x8d"),
        ("Sí".encode(), "utf\x00-8", "Sí"),
        ("Sí".encode(), "base64", "Sí"),
    ],
)
def test_decode_bytes(data: bytes, charset: str | None, expected: str) -> None:
    assert decode_bytes(data, charset) == expected


def test_header_addresses_decode_names_and_skip_garbage() -> None:
    msg = parse(
        b"To: =?iso-8859-1?Q?Casta=F1eda=2C_Ana?= <Ana@Example.org>, no-es-correo,"
        b' "P\xc3\xa9rez, Jos\xc3\xa9" <jose@example.net>\n\nhola\n'
    )
    assert header_addresses(msg, "to") == [
        ("Castañeda, Ana", "ana@example.org"),
        ("Pérez, José", "jose@example.net"),
    ]
