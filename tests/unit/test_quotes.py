"""Quote, footer and signature stripping: golden replies from real clients and tricky cases."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot.handlers.quotes import split_reply, strip_reply

ROOT = Path(__file__).resolve().parents[2]
REPLIES = ROOT / "tests" / "data" / "mail" / "replies"
GOLDEN = sorted(REPLIES.glob("*.eml"))

BOT_QUOTE = (
    "> Hola Ana Pérez:\n"
    ">\n"
    "> Atendimos tu solicitud MA-006 #7. Esta es la solución aplicada:\n"
    ">\n"
    "> Restablecimos tu contraseña de BLife.\n"
    ">\n"
    "> Mesa de Ayuda N1 · Promotoría Ejemplo\n"
)
GMAIL_ATTRIBUTION = (
    "El lun, 23 nov 2026 a las 10:15, Mesa de Ayuda <mesa.ayuda@example.com> escribió:"
)
OUTLOOK_ES = (
    "De: Mesa de Ayuda <mesa.ayuda@example.com>\n"
    "Enviado el: lunes, 23 de noviembre de 2026 10:15\n"
    "Para: Ana Pérez <ana.perez@example.net>\n"
    "Asunto: Solución a tu solicitud: No puedo entrar a BLife [MA-006 #7]\n"
    "\n"
    "Hola Ana Pérez:\n"
    "\n"
    "Atendimos tu solicitud MA-006 #7.\n"
)


def _plain_body(path: Path) -> str:
    """The text/plain body of a stored message, decoded the way the mail channel does."""
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None, f"{path.name} has no text/plain part"
    content = part.get_content()
    assert isinstance(content, str)
    return content


def test_the_golden_corpus_is_there() -> None:
    assert len(GOLDEN) >= 16
    for path in GOLDEN:
        assert path.with_name(f"{path.stem}.expected.txt").is_file(), path.name


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_reply(path: Path) -> None:
    expected = path.with_name(f"{path.stem}.expected.txt").read_text(encoding="utf-8")
    assert strip_reply(_plain_body(path)).strip() == expected.strip()


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_output_is_a_fixed_point(path: Path) -> None:
    expected = path.with_name(f"{path.stem}.expected.txt").read_text(encoding="utf-8").strip()
    assert strip_reply(expected) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Le comento que el error de: acceso aparece al entrar.\nGracias",
            "Le comento que el error de: acceso aparece al entrar.\nGracias",
            id="de-colon-inside-a-sentence",
        ),
        pytest.param(
            "Hola,\nPara: Juan\nEl lunes le marco para revisarlo.",
            "Hola,\nPara: Juan\nEl lunes le marco para revisarlo.",
            id="lone-para-line",
        ),
        pytest.param(
            "Horario de atención\nDe: 9 a 18 h\nLunes a viernes",
            "Horario de atención\nDe: 9 a 18 h\nLunes a viernes",
            id="lone-de-line",
        ),
        pytest.param(
            "Saludos,\nMarcela Ruiz\nAsistente Comercial Zona Acapulco\nTel. 744 123 4567",
            "Saludos,\nMarcela Ruiz\nAsistente Comercial Zona Acapulco\nTel. 744 123 4567",
            id="signature-without-delimiter-stays",
        ),
        pytest.param(
            "El técnico me escribió:\nque reinicie el equipo",
            "El técnico me escribió:\nque reinicie el equipo",
            id="escribio-without-a-time-is-text",
        ),
        pytest.param(
            "Enviado desde mi correo personal porque el institucional no sirve.",
            "Enviado desde mi correo personal porque el institucional no sirve.",
            id="enviado-desde-mi-in-a-sentence",
        ),
        pytest.param(
            "Primera parte\n______________________________\nSegunda parte",
            "Primera parte\n______________________________\nSegunda parte",
            id="ruler-without-headers-stays",
        ),
        pytest.param(
            "Ya quedó.\n\n\nGracias",
            "Ya quedó.\n\n\nGracias",
            id="own-blank-lines-stay",
        ),
        pytest.param(
            f"Sí\n\n{GMAIL_ATTRIBUTION}\n\n{BOT_QUOTE * 20}", "Sí", id="si-above-long-quote"
        ),
        pytest.param(
            "Sigue sin funcionar\n\n"
            "El lun, 23 nov 2026 a las 10:15, Mesa de Ayuda (<mesa.ayuda@example.com>)\n"
            f"escribió:\n\n{BOT_QUOTE}",
            "Sigue sin funcionar",
            id="gmail-attribution-wrapped-over-two-lines",
        ),
        pytest.param(
            "Listo\n\n"
            "El lun, 23 nov 2026 a las 10:15, Mesa de Ayuda de la Promotoría Ejemplo (<\n"
            "mesa.ayuda@example.com>)\n"
            f"escribió:\n\n{BOT_QUOTE}",
            "Listo",
            id="gmail-attribution-wrapped-over-three-lines",
        ),
        pytest.param(
            "Thanks, it works\n\n"
            "On Mon, Nov 23, 2026 at 10:15 AM Mesa de Ayuda <mesa.ayuda@example.com> wrote:\n\n"
            f"{BOT_QUOTE}",
            "Thanks, it works",
            id="gmail-english-attribution",
        ),
        pytest.param(
            "Ya quedó\n\n"
            "El 23 nov 2026, a las 10:15, Mesa de Ayuda <mesa.ayuda@example.com> escribió:\n\n"
            f"{BOT_QUOTE}",
            "Ya quedó",
            id="apple-mail-attribution",
        ),
        pytest.param(
            f"Ya quedó\n\n{GMAIL_ATTRIBUTION}\n\nHola Ana Pérez:\nAtendimos tu solicitud.\n",
            "Ya quedó",
            id="attribution-above-unquoted-history",
        ),
        pytest.param(
            f"No, todavía no\n\n{OUTLOOK_ES}",
            "No, todavía no",
            id="outlook-desktop-spanish",
        ),
        pytest.param(
            "No, todavía no\n\n"
            "De: Mesa de Ayuda <mesa.ayuda@example.com>\n"
            "Enviado: lunes, 23 de noviembre de 2026 10:15\n"
            "Para: Ana Pérez <ana.perez@example.net>\n"
            "CC: Sofía Ramírez <sofia.ramirez@example.com>\n"
            "Asunto: Solución a tu solicitud [MA-006 #7]\n\nHola",
            "No, todavía no",
            id="outlook-enviado-with-cc",
        ),
        pytest.param(
            "Still broken\n\n"
            "From: Mesa de Ayuda <mesa.ayuda@example.com>\n"
            "Sent: Monday, November 23, 2026 10:15 AM\n"
            "To: Ana Perez <ana.perez@example.net>\n"
            "Subject: Solución a tu solicitud [MA-006 #7]\n\nHola",
            "Still broken",
            id="outlook-english-headers",
        ),
        pytest.param(
            "Gracias\n\n________________________________\n"
            "De: Mesa de Ayuda <mesa.ayuda@example.com>\n"
            "Enviado: lunes, 23 de noviembre de 2026 10:15\n"
            "Para: Ana Pérez\nAsunto: Solución\n\nHola",
            "Gracias",
            id="outlook-ruler-and-headers",
        ),
        pytest.param(
            "Gracias\n\n"
            "*De:* Mesa de Ayuda <mesa.ayuda@example.com>\n"
            "*Enviado el:* lunes, 23 de noviembre de 2026 10:15\n"
            "*Para:* Ana Pérez\n*Asunto:* Solución\n\nHola",
            "Gracias",
            id="outlook-bold-headers",
        ),
        pytest.param(
            "Gracias\n\nDe: Mesa de Ayuda\nPara: Ana Pérez\n\nHola",
            "Gracias",
            id="two-header-lines-are-enough",
        ),
        pytest.param(
            "Gracias\n\n-----Mensaje original-----\nDe: Mesa de Ayuda\nHola",
            "Gracias",
            id="mensaje-original",
        ),
        pytest.param(
            "Thanks\n\n-----Original Message-----\nFrom: Mesa de Ayuda\nHola",
            "Thanks",
            id="original-message",
        ),
        pytest.param(
            "Les reenvío el error.\n\n"
            "---------- Forwarded message ---------\n"
            "De: Jorge Villa <jorge.villa@example.net>\n"
            "Date: lun, 23 nov 2026 a las 20:02\n"
            "Subject: Fwd: Error\n\n"
            "Te paso esto.\n\n"
            "---------- Mensaje reenviado ---------\n"
            "De: Notificaciones <notificaciones@example.org>\n"
            "Date: lun, 23 nov 2026 a las 19:45\n"
            "Subject: Error\n\n"
            "Estimado agente: ...\n",
            "Les reenvío el error.",
            id="nested-forwards",
        ),
        pytest.param(
            "Va el correo\n\n---------- Mensaje reenviado ---------\nDe: X\nHola",
            "Va el correo",
            id="mensaje-reenviado",
        ),
        pytest.param(
            "Va el correo\n\nInicio del mensaje reenviado:\n\nDe: X\nHola",
            "Va el correo",
            id="apple-forward",
        ),
        pytest.param(
            "Hola, contesto abajo.\n\n"
            f"{GMAIL_ATTRIBUTION}\n\n"
            "> 1. ¿Qué navegador usas?\n>\n\n"
            "Chrome.\n\n"
            "> 2. ¿Desde cuándo ocurre?\n>\n\n"
            "Desde el viernes.\n\n"
            "> Mesa de Ayuda N1\n",
            "Hola, contesto abajo.\n\nChrome.\n\nDesde el viernes.",
            id="interleaved-reply",
        ),
        pytest.param(
            "> ¿Ya quedó?\n\nSí, gracias",
            "Sí, gracias",
            id="bottom-posted",
        ),
        pytest.param(
            "Sí, gracias\n\n> ¿Ya quedó?\n> Mesa de Ayuda\n",
            "Sí, gracias",
            id="trailing-quote-without-attribution",
        ),
        pytest.param(
            "Ya quedó\n\n-- \nAna Pérez\nEjecutiva de cuenta\nTel. 55 1234 5678",
            "Ya quedó",
            id="signature-delimiter",
        ),
        pytest.param(
            "Ya quedó\n\n--\nAna Pérez",
            "Ya quedó",
            id="signature-delimiter-without-trailing-space",
        ),
        pytest.param(
            "Sí\n\n\u200bEnviado desde mi iPhone\ufeff\n\n> \ufeffHola",
            "Sí",
            id="invisible-characters",
        ),
        pytest.param("", "", id="empty"),
        pytest.param(" \n\n\t\n", "", id="only-whitespace"),
        pytest.param(f"{GMAIL_ATTRIBUTION}\n\n{BOT_QUOTE}", "", id="only-a-quote"),
        pytest.param(
            "Sí, ya quedó\r\n\r\nSaludos\r\n\r\n"
            "De: Mesa de Ayuda <mesa.ayuda@example.com>\r\n"
            "Enviado el: lunes, 23 de noviembre de 2026 10:15\r\n"
            "Para: Ana\r\nAsunto: Solución\r\n\r\nHola\r\n",
            "Sí, ya quedó\n\nSaludos",
            id="crlf",
        ),
        pytest.param(
            f"Sí, ya quedó\r\rEnviado desde mi iPhone\r\r{BOT_QUOTE}",
            "Sí, ya quedó",
            id="bare-cr",
        ),
    ],
)
def test_tricky_cases(text: str, expected: str) -> None:
    assert strip_reply(text) == expected


@pytest.mark.parametrize(
    "footer",
    [
        "Enviado desde mi iPhone",
        "Enviado desde mi iPad",
        "Enviado desde Outlook para Android",
        "Enviado desde Outlook para iOS",
        "Enviado desde Outlook para iOS<https://aka.example.com/o0ukef>",
        "Obtener Outlook para Android",
        "Obtener Outlook para Android<https://aka.example.com/AAb9ysg>",
        "Obtener Outlook para iOS",
        "Get Outlook for Android",
        "Sent from my iPhone",
        "Enviado desde mi dispositivo Samsung",
        "Enviado desde mi dispositivo Huawei",
        "Enviado desde mi dispositivo Samsung Galaxy",
        "Enviado desde mi smartphone Samsung Galaxy.",
        "ENVIADO DESDE MI IPHONE",
    ],
)
def test_mobile_footers_are_removed(footer: str) -> None:
    text = f"Sigue sin funcionar\n\n{footer}\n\n> El 23 nov 2026 ... escribió:\n> Hola\n"
    cleaned = strip_reply(text)
    assert cleaned == "Sigue sin funcionar"
    # Date parsing later reads "mi" as "miércoles": the footer must not survive.
    assert " mi " not in f" {cleaned} "


@pytest.mark.parametrize(
    "disclaimer",
    [
        "AVISO DE CONFIDENCIALIDAD: Este mensaje y sus anexos son confidenciales.",
        "Aviso de confidencialidad",
        "*** AVISO DE CONFIDENCIALIDAD ***",
        "Este correo electrónico y sus anexos pueden contener información confidencial.",
        "La información contenida en este correo es confidencial y de uso exclusivo.",
    ],
)
def test_disclaimers_are_removed(disclaimer: str) -> None:
    text = f"Ya quedó, gracias\n\nAna Pérez\nTel. 55 1234 5678\n\n{disclaimer}\nMás texto legal."
    assert strip_reply(text) == "Ya quedó, gracias\n\nAna Pérez\nTel. 55 1234 5678"


def test_a_disclaimer_phrase_inside_a_sentence_stays() -> None:
    text = "Les reenvío la información contenida en este correo que me llegó ayer."
    assert strip_reply(text) == text


def test_split_reply_returns_the_removed_part() -> None:
    new, removed = split_reply(f"Sí\n\nEnviado desde mi iPhone\n\n{GMAIL_ATTRIBUTION}\n")
    assert new == "Sí"
    assert removed.startswith("Enviado desde mi iPhone")
    assert GMAIL_ATTRIBUTION in removed


def test_split_reply_keeps_interleaved_quotes_in_the_removed_part() -> None:
    new, removed = split_reply("Uno\n> pregunta 1\nDos\n> pregunta 2\n")
    assert new == "Uno\nDos"
    assert removed == "> pregunta 1\n> pregunta 2"


def test_split_reply_of_empty_text() -> None:
    assert split_reply("") == ("", "")


def test_strip_reply_is_split_reply_new_part() -> None:
    text = f"Listo, muchas gracias!!\n\n{OUTLOOK_ES}"
    assert strip_reply(text) == split_reply(text)[0] == "Listo, muchas gracias!!"
