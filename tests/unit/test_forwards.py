"""Forwarded answers: golden forwards from real clients, reply look-alikes and hostile text."""

from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.handlers.forwards import Forwarded, find_forward, forward_from_eml, is_forward_subject
from bot.handlers.parse import parse_mail

SUBJECT = "Confirmación de alta de agente [MA-002 #12]"
MARIANA = "Mariana López <mariana@example.com>"
SOFIA = "Sofía Ramírez <sofia.ramirez@example.com>"

# The bot's request as the assistant's client quotes it under her answer.
GMAIL_HISTORY = (
    "El lun, 23 nov 2026 a las 9:00, Mesa de Ayuda <mesa.ayuda@example.com> escribió:\n"
    "\n"
    "> Hola Mariana López:\n"
    ">\n"
    "> Sofía Ramírez pidió el alta del agente Juan Pérez (clave 12345) [MA-002 #12].\n"
    '> ¿Procede? Responde "Sí adelante" o "Deténlo".\n'
    ">\n"
    "> Mesa de Ayuda N1 · Promotoría Ejemplo\n"
)
OUTLOOK_HISTORY = (
    "De: Mesa de Ayuda <mesa.ayuda@example.com>\n"
    "Enviado el: lunes, 23 de noviembre de 2026 09:00\n"
    "Para: Mariana López <mariana@example.com>\n"
    f"Asunto: {SUBJECT}\n"
    "\n"
    "Hola Mariana López:\n"
    "\n"
    "Sofía Ramírez pidió el alta del agente Juan Pérez (clave 12345) [MA-002 #12].\n"
    '¿Procede? Responde "Sí adelante" o "Deténlo".\n'
)
GMAIL_FORWARD_ES = (
    "Les reenvío la respuesta de Mariana.\n"
    "\n"
    "Saludos,\n"
    "Sofía\n"
    "\n"
    "---------- Mensaje reenviado ---------\n"
    f"De: {MARIANA}\n"
    "Date: lun, 23 nov 2026 a las 10:02\n"
    f"Subject: Re: {SUBJECT}\n"
    f"To: {SOFIA}\n"
    "\n"
    "\n"
    "Sí adelante, te mando los datos del agente en la tarde.\n"
    "\n"
    "Saludos\n"
    "Mariana López\n"
    "Asistente Comercial Zona Centro\n"
    "\n"
    f"{GMAIL_HISTORY}"
)
OUTLOOK_FORWARD_ES = (
    "Para tu seguimiento.\n"
    "\n"
    f"De: {MARIANA}\n"
    "Enviado el: lunes, 23 de noviembre de 2026 10:02\n"
    f"Para: {SOFIA}\n"
    f"Asunto: RE: {SUBJECT}\n"
    "\n"
    "Te aviso cuando proceda, todavía falta la firma del director.\n"
    "\n"
    f"{OUTLOOK_HISTORY}"
)


@dataclass(frozen=True)
class Want:
    """What find_forward must return for one golden forward."""

    sender: str
    sender_name: str
    subject: str
    body: str
    note: str = ""
    sent: str | None = None  # None: not checked
    body_prefix: bool = False  # body only has to start with ``body``


def _outlook_block(
    sender: str = MARIANA,
    sent: str = "Enviado el: lunes, 23 de noviembre de 2026 10:02",
    body: str = "Sí adelante",
) -> str:
    """An Outlook desktop header block and the assistant's answer above the bot's request."""
    return (
        f"De: {sender}\n{sent}\nPara: {SOFIA}\nAsunto: RE: {SUBJECT}\n\n{body}\n\n{OUTLOOK_HISTORY}"
    )


FORWARDS = [
    pytest.param(
        f"Fwd: Re: {SUBJECT}",
        GMAIL_FORWARD_ES,
        Want(
            "mariana@example.com",
            "Mariana López",
            f"Re: {SUBJECT}",
            "Sí adelante, te mando los datos del agente en la tarde.\n\n"
            "Saludos\nMariana López\nAsistente Comercial Zona Centro",
            "Les reenvío la respuesta de Mariana.\n\nSaludos,\nSofía",
            sent="lun, 23 nov 2026 a las 10:02",
        ),
        id="gmail-es",
    ),
    pytest.param(
        "",
        GMAIL_FORWARD_ES,
        Want(
            "mariana@example.com",
            "Mariana López",
            f"Re: {SUBJECT}",
            "Sí adelante, te mando los datos",
            "Les reenvío la respuesta de Mariana.\n\nSaludos,\nSofía",
            body_prefix=True,
        ),
        id="gmail-separator-counts-without-subject",
    ),
    pytest.param(
        f"Fwd: Re: {SUBJECT}",
        "---------- Mensaje reenviado ---------\n"
        f"De: {MARIANA}\n"
        "Fecha: lun, 23 nov 2026 a las 10:02\n"
        f"Asunto: Re: {SUBJECT}\n"
        f"Para: {SOFIA}\n"
        "Cc: Jorge Villa <jorge.villa@example.com>\n"
        "\n"
        "\n"
        "Deténlo por favor, el agente todavía no entrega su cédula.\n"
        "\n"
        f"{GMAIL_HISTORY}",
        Want(
            "mariana@example.com",
            "Mariana López",
            f"Re: {SUBJECT}",
            "Deténlo por favor, el agente todavía no entrega su cédula.",
            sent="lun, 23 nov 2026 a las 10:02",
        ),
        id="gmail-spanish-labels-no-note",
    ),
    pytest.param(
        f"Fwd: Re: {SUBJECT}",
        "Please see below.\n"
        "\n"
        "---------- Forwarded message ---------\n"
        "From: Mariana Lopez <mariana@example.com>\n"
        "Date: Mon, Nov 23, 2026 at 10:02 AM\n"
        f"Subject: Re: {SUBJECT}\n"
        "To: Sofia Ramirez <sofia.ramirez@example.com>\n"
        "\n"
        "\n"
        "Yes, go ahead.\n"
        "\n"
        "On Mon, Nov 23, 2026 at 9:00 AM Mesa de Ayuda <mesa.ayuda@example.com> wrote:\n"
        "\n"
        "> Hola Mariana López:\n",
        Want(
            "mariana@example.com",
            "Mariana Lopez",
            f"Re: {SUBJECT}",
            "Yes, go ahead.",
            "Please see below.",
            sent="Mon, Nov 23, 2026 at 10:02 AM",
        ),
        id="gmail-en",
    ),
    pytest.param(
        f"RV: RE: {SUBJECT}",
        "Te reenvío lo que contestó Mariana.\n"
        "\n"
        "Saludos,\n"
        "\n"
        "Sofía Ramírez\n"
        "Especialista Mesa de Ayuda N1\n"
        "\n"
        "________________________________\n"
        f"De: {MARIANA}\n"
        "Enviado el: lunes, 23 de noviembre de 2026 10:02\n"
        f"Para: {SOFIA}\n"
        "CC: Jorge Villa <jorge.villa@example.com>\n"
        f"Asunto: RE: {SUBJECT}\n"
        "\n"
        "Sí adelante\n"
        "\n"
        f"{OUTLOOK_HISTORY}",
        Want(
            "mariana@example.com",
            "Mariana López",
            f"RE: {SUBJECT}",
            "Sí adelante",
            "Te reenvío lo que contestó Mariana.\n\nSaludos,\n\n"
            "Sofía Ramírez\nEspecialista Mesa de Ayuda N1",
            sent="lunes, 23 de noviembre de 2026 10:02",
        ),
        id="outlook-desktop-es-ruler",
    ),
    pytest.param(
        f"RV: RE: {SUBJECT}",
        OUTLOOK_FORWARD_ES,
        Want(
            "mariana@example.com",
            "Mariana López",
            f"RE: {SUBJECT}",
            "Te aviso cuando proceda, todavía falta la firma del director.",
            "Para tu seguimiento.",
        ),
        id="outlook-desktop-es-no-ruler",
    ),
    pytest.param(
        f"[EXTERNO] RV: RE: {SUBJECT}",
        _outlook_block("Mariana López [mailto:mariana@example.com]"),
        Want("mariana@example.com", "Mariana López", f"RE: {SUBJECT}", "Sí adelante"),
        id="outlook-old-mailto",
    ),
    pytest.param(
        f"RV: {SUBJECT}",
        _outlook_block("Mariana López <mariana@example.com<mailto:mariana@example.com>>"),
        Want("mariana@example.com", "Mariana López", f"RE: {SUBJECT}", "Sí adelante"),
        id="exchange-mailto-inside-brackets",
    ),
    pytest.param(
        f"RV: {SUBJECT}",
        _outlook_block("Mariana López"),
        Want("", "Mariana López", f"RE: {SUBJECT}", "Sí adelante"),
        id="outlook-name-only",
    ),
    pytest.param(
        f"RV: RE: {SUBJECT}",
        "Te lo paso.\n"
        "\n"
        "-----Mensaje original-----\n"
        "De: Mariana López [mailto:mariana@example.com]\n"
        "Enviado el: lunes, 23 de noviembre de 2026 10:02 a.m.\n"
        "Para: Sofía Ramírez\n"
        f"Asunto: RE: {SUBJECT}\n"
        "\n"
        "Deténlo, por favor. Falta la firma del agente.\n"
        "\n"
        "-----Mensaje original-----\n"
        "De: Mesa de Ayuda [mailto:mesa.ayuda@example.com]\n"
        "Enviado el: lunes, 23 de noviembre de 2026 09:00 a.m.\n"
        f"Asunto: {SUBJECT}\n"
        "\n"
        "Hola Mariana López:\n",
        Want(
            "mariana@example.com",
            "Mariana López",
            f"RE: {SUBJECT}",
            "Deténlo, por favor. Falta la firma del agente.",
            "Te lo paso.",
            sent="lunes, 23 de noviembre de 2026 10:02 a.m.",
        ),
        id="outlook-mensaje-original",
    ),
    pytest.param(
        f"FW: RE: {SUBJECT}",
        "-----Original Message-----\n"
        "From: Mariana Lopez <mariana@example.com>\n"
        "Sent: Monday, November 23, 2026 10:02 AM\n"
        "To: Sofia Ramirez <sofia.ramirez@example.com>\n"
        f"Subject: RE: {SUBJECT}\n"
        "\n"
        "Hold it, please.\n",
        Want(
            "mariana@example.com",
            "Mariana Lopez",
            f"RE: {SUBJECT}",
            "Hold it, please.",
            sent="Monday, November 23, 2026 10:02 AM",
        ),
        id="outlook-original-message-en",
    ),
    pytest.param(
        f"RV: RE: {SUBJECT}",
        "Va la respuesta.\n"
        "\n"
        "Obtener Outlook para Android\n"
        "________________________________\n"
        f"De: {MARIANA}\n"
        "Enviado: lunes, 23 de noviembre de 2026 10:02 a. m.\n"
        f"Para: {SOFIA}\n"
        f"Asunto: RE: {SUBJECT}\n"
        "\n"
        "Te aviso cuando proceda.\n"
        "\n"
        "Obtener Outlook para iOS\n"
        "________________________________\n"
        "De: Mesa de Ayuda <mesa.ayuda@example.com>\n"
        "Enviado: lunes, 23 de noviembre de 2026 09:00 a. m.\n"
        f"Para: {MARIANA}\n"
        f"Asunto: {SUBJECT}\n"
        "\n"
        "Hola Mariana López:\n",
        Want(
            "mariana@example.com",
            "Mariana López",
            f"RE: {SUBJECT}",
            "Te aviso cuando proceda.",
            "Va la respuesta.",
            sent="lunes, 23 de noviembre de 2026 10:02 a. m.",
        ),
        id="outlook-web-es",
    ),
    pytest.param(
        f"RV: RE: {SUBJECT}",
        f"*De:* {MARIANA}\n"
        "*Enviado:* lunes, 23 de noviembre de 2026 10:02 a. m.\n"
        f"*Para:* {SOFIA}\n"
        f"*Asunto:* RE: {SUBJECT}\n"
        "\n"
        "Sí adelante\n",
        Want(
            "mariana@example.com",
            "Mariana López",
            f"RE: {SUBJECT}",
            "Sí adelante",
            sent="lunes, 23 de noviembre de 2026 10:02 a. m.",
        ),
        id="outlook-web-bold-labels",
    ),
    pytest.param(
        f"RV: {SUBJECT}",
        "Va.\n"
        "\n"
        "________________________________\n"
        "\n"
        f"De: {MARIANA}\n"
        "\n"
        "Enviado: lunes, 23 de noviembre de 2026 10:02 a. m.\n"
        "\n"
        f"Para: {SOFIA}\n"
        "\n"
        f"Asunto: RE: {SUBJECT}\n"
        "\n"
        "Sí adelante\n",
        Want("mariana@example.com", "Mariana López", f"RE: {SUBJECT}", "Sí adelante", "Va."),
        id="html-conversion-blank-lines-between-headers",
    ),
    pytest.param(
        f"Fw: {SUBJECT}",
        "FYI\n"
        "\n"
        "From: Mariana Lopez <mariana@example.com>\n"
        "Sent: Monday, November 23, 2026 10:02 AM\n"
        "To: Sofia Ramirez <sofia.ramirez@example.com>\n"
        f"Subject: RE: {SUBJECT}\n"
        "\n"
        "Go ahead.\n",
        Want("mariana@example.com", "Mariana Lopez", f"RE: {SUBJECT}", "Go ahead.", "FYI"),
        id="outlook-en",
    ),
    pytest.param(
        f"Fwd: Re: {SUBJECT}",
        "Te reenvío lo de Mariana\n"
        "\n"
        "Enviado desde mi iPhone\n"
        "\n"
        "Inicio del mensaje reenviado:\n"
        "\n"
        f"De: {MARIANA}\n"
        "Fecha: 23 de noviembre de 2026, 10:02:11 GMT-6\n"
        f"Para: {SOFIA}\n"
        f"Asunto: Re: {SUBJECT}\n"
        "\n"
        "\ufeffSí adelante\n"
        "\n"
        "Enviado desde mi iPhone\n"
        "\n"
        "El 23 nov 2026, a las 9:00, Mesa de Ayuda <mesa.ayuda@example.com> escribió:\n"
        "\n"
        "\ufeff> Hola Mariana López:\n",
        Want(
            "mariana@example.com",
            "Mariana López",
            f"Re: {SUBJECT}",
            "Sí adelante",
            "Te reenvío lo de Mariana",
            sent="23 de noviembre de 2026, 10:02:11 GMT-6",
        ),
        id="apple-mail-es",
    ),
    pytest.param(
        f"Fwd: {SUBJECT}",
        "Begin forwarded message:\n"
        "\n"
        "From: Mariana Lopez <mariana@example.com>\n"
        f"Subject: Re: {SUBJECT}\n"
        "Date: November 23, 2026 at 10:02:11 AM CST\n"
        "To: Sofia Ramirez <sofia.ramirez@example.com>\n"
        "Reply-To: Mariana Lopez <mariana@example.com>\n"
        "\n"
        "Go ahead, thanks.\n"
        "\n"
        "Sent from my iPhone\n",
        Want(
            "mariana@example.com",
            "Mariana Lopez",
            f"Re: {SUBJECT}",
            "Go ahead, thanks.",
            sent="November 23, 2026 at 10:02:11 AM CST",
        ),
        id="apple-mail-en",
    ),
    pytest.param(
        f"Fwd: Re: {SUBJECT}",
        "\n\n\n-------- Mensaje reenviado --------\n"
        f"Asunto: \tRe: {SUBJECT}\n"
        "Fecha: \tMon, 23 Nov 2026 10:02:11 -0600\n"
        f"De: \t{MARIANA}\n"
        f"Para: \t{SOFIA}\n"
        "\n\n\n"
        "Sí adelante.\n",
        Want(
            "mariana@example.com",
            "Mariana López",
            f"Re: {SUBJECT}",
            "Sí adelante.",
            sent="Mon, 23 Nov 2026 10:02:11 -0600",
        ),
        id="thunderbird-subject-first",
    ),
    pytest.param(
        f"Fw: Re: {SUBJECT}",
        "----- Mensaje reenviado -----\n"
        f"De: {MARIANA}\n"
        f"Para: {SOFIA}\n"
        "Enviado: lunes, 23 de noviembre de 2026 10:02:11 GMT-6\n"
        f"Asunto: Re: {SUBJECT}\n"
        "\n"
        "Sí adelante\n",
        Want("mariana@example.com", "Mariana López", f"Re: {SUBJECT}", "Sí adelante"),
        id="yahoo-es",
    ),
    pytest.param(
        f"ENC: RE: {SUBJECT}",
        "Segue.\n"
        "\n"
        "________________________________\n"
        f"De: {MARIANA}\n"
        "Enviada em: segunda-feira, 23 de novembro de 2026 10:02\n"
        f"Para: {SOFIA}\n"
        f"Assunto: RE: {SUBJECT}\n"
        "\n"
        "Sí adelante\n",
        Want("mariana@example.com", "Mariana López", f"RE: {SUBJECT}", "Sí adelante", "Segue."),
        id="outlook-portuguese",
    ),
    pytest.param(
        f"Fwd: Fwd: {SUBJECT}",
        "Ojo con esto.\n"
        "\n"
        "---------- Forwarded message ---------\n"
        f"From: {MARIANA}\n"
        "Date: lun, 23 nov 2026 a las 10:30\n"
        f"Subject: Fwd: {SUBJECT}\n"
        f"To: {SOFIA}\n"
        "\n"
        "\n"
        "Te paso lo que me dijo Jorge: sí adelante.\n"
        "\n"
        "---------- Forwarded message ---------\n"
        "From: Jorge Villa <jorge.villa@example.com>\n"
        "Date: lun, 23 nov 2026 a las 10:15\n"
        f"Subject: {SUBJECT}\n"
        f"To: {MARIANA}\n"
        "\n"
        "\n"
        "Sí, dale.\n",
        Want(
            "mariana@example.com",
            "Mariana López",
            f"Fwd: {SUBJECT}",
            "Te paso lo que me dijo Jorge: sí adelante.",
            "Ojo con esto.",
        ),
        id="gmail-forward-of-a-forward",
    ),
    pytest.param(
        f"RV: RV: {SUBJECT}",
        "Ve abajo.\n"
        "\n"
        "________________________________\n"
        f"De: {MARIANA}\n"
        "Enviado el: lunes, 23 de noviembre de 2026 10:30\n"
        f"Para: {SOFIA}\n"
        f"Asunto: RV: {SUBJECT}\n"
        "\n"
        "Sí adelante de mi parte.\n"
        "\n"
        "________________________________\n"
        "De: Jorge Villa <jorge.villa@example.com>\n"
        "Enviado el: lunes, 23 de noviembre de 2026 10:15\n"
        f"Para: {MARIANA}\n"
        f"Asunto: {SUBJECT}\n"
        "\n"
        "Deténlo.\n",
        Want(
            "mariana@example.com",
            "Mariana López",
            f"RV: {SUBJECT}",
            "Sí adelante de mi parte.",
            "Ve abajo.",
        ),
        id="outlook-forward-of-a-forward",
    ),
    pytest.param(
        f"Fwd: {SUBJECT}",
        "\ufeffLes reenvío.\r\n"
        "\r\n"
        "\u200b---------- Mensaje reenviado ---------\r\n"
        "De:\xa0Mariana\xa0López <mariana@example.com>\r\n"
        "Date:\xa0lun, 23 nov 2026 a las 10:02\r\n"
        f"Subject:\xa0Re: {SUBJECT}\r\n"
        f"To:\xa0{SOFIA}\r\n"
        "\r\n"
        "\r\n"
        "\u200bSí adelante\r\n",
        Want(
            "mariana@example.com",
            "Mariana López",
            f"Re: {SUBJECT}",
            "Sí adelante",
            "Les reenvío.",
            sent="lun, 23 nov 2026 a las 10:02",
        ),
        id="invisible-characters-crlf-nbsp",
    ),
    pytest.param(
        f"RV: {SUBJECT}",
        "Te reenvío.\r\r"
        "De: Mariana López <mariana@example.com>\r"
        "Enviado el:\u202flunes, 23 de noviembre de 2026 10:02\r"
        "Para: Sofía Ramírez\r"
        f"Asunto: RE: {SUBJECT}\r\r"
        "Sí adelante\r",
        Want(
            "mariana@example.com", "Mariana López", f"RE: {SUBJECT}", "Sí adelante", "Te reenvío."
        ),
        id="bare-cr",
    ),
    pytest.param(
        f"RV: {SUBJECT}",
        f"De: {MARIANA}\n"
        "Enviado el: lunes, 23 de noviembre de 2026 10:02\n"
        f"Para: {SOFIA}; Jorge Villa\n"
        "<jorge.villa@example.com>; Ana Pérez <ana.perez@example.com>;\n"
        "Luis Gómez <luis.gomez@example.com>\n"
        "CC: Mesa de Ayuda\n"
        "<mesa.ayuda@example.com>\n"
        f"Asunto: RE: {SUBJECT}\n"
        "\n"
        "Sí adelante\n",
        Want("mariana@example.com", "Mariana López", f"RE: {SUBJECT}", "Sí adelante"),
        id="wrapped-para-and-cc",
    ),
    pytest.param(
        f"Fwd: {SUBJECT}",
        "---------- Forwarded message ---------\n"
        f"From: {MARIANA}\n"
        "Date: lun, 23 nov 2026 a las 10:02\n"
        "Subject: Re: Confirmación de alta de agente\n"
        " [MA-002 #12]\n"
        f"To: {SOFIA}, Jorge Villa <\n"
        "jorge.villa@example.com>\n"
        "\n"
        "\n"
        "Sí adelante\n",
        Want("mariana@example.com", "Mariana López", f"Re: {SUBJECT}", "Sí adelante"),
        id="wrapped-subject-and-to",
    ),
    pytest.param(
        f"RV: {SUBJECT}",
        _outlook_block(body="CC: a Jorge Villa, por favor.\nSí adelante."),
        Want(
            "mariana@example.com",
            "Mariana López",
            f"RE: {SUBJECT}",
            "CC: a Jorge Villa, por favor.\nSí adelante.",
        ),
        id="body-opening-with-a-header-word",
    ),
    pytest.param(
        f"RV: {SUBJECT}",
        _outlook_block("Mariana López <Mariana.Lopez@Example.COM>"),
        Want("mariana.lopez@example.com", "Mariana López", f"RE: {SUBJECT}", "Sí adelante"),
        id="uppercase-address",
    ),
    pytest.param(
        f"RV: {SUBJECT}",
        _outlook_block("Mariana López <mariana@example.com>, Jorge Villa <jorge@example.com>"),
        Want("mariana@example.com", "Mariana López", f"RE: {SUBJECT}", "Sí adelante"),
        id="two-addresses-take-the-first",
    ),
    pytest.param(
        f"RV: {SUBJECT}",
        _outlook_block("Mariana <Asistente Comercial> López <mariana@example.com>"),
        Want(
            "mariana@example.com",
            "Mariana <Asistente Comercial> López",
            f"RE: {SUBJECT}",
            "Sí adelante",
        ),
        id="display-name-with-angle-brackets",
    ),
    pytest.param(
        f"RV: {SUBJECT}",
        _outlook_block('"López, Mariana" <mariana@example.com>'),
        Want("mariana@example.com", "López, Mariana", f"RE: {SUBJECT}", "Sí adelante"),
        id="quoted-name-with-comma",
    ),
    pytest.param(
        f"RV: {SUBJECT}",
        _outlook_block("mariana@example.com"),
        Want("mariana@example.com", "", f"RE: {SUBJECT}", "Sí adelante"),
        id="address-only",
    ),
    pytest.param(
        f"RV: {SUBJECT}",
        _outlook_block("mariana@example.com (Mariana López)"),
        Want("mariana@example.com", "Mariana López", f"RE: {SUBJECT}", "Sí adelante"),
        id="name-in-a-comment",
    ),
    pytest.param(
        f"Fwd: {SUBJECT}",
        "---------- Forwarded message ---------\n"
        "From: *Mariana López* <mariana@example.com>\n"
        "Date: lun, 23 nov 2026 a las 10:02\n"
        f"Subject: Re: {SUBJECT}\n"
        f"To: {SOFIA}\n\n\nSí adelante\n",
        Want("mariana@example.com", "Mariana López", f"Re: {SUBJECT}", "Sí adelante"),
        id="bold-name-from-html",
    ),
    pytest.param(
        f"Fwd: {SUBJECT}",
        "---------- Mensaje reenviado ---------\n"
        "De:\n"
        "Date: lun, 23 nov 2026 a las 10:02\n"
        f"Subject: Re: {SUBJECT}\n"
        f"To: {SOFIA}\n\nSí adelante\n",
        Want("", "", f"Re: {SUBJECT}", "Sí adelante"),
        id="de-without-anything",
    ),
    pytest.param(
        f"RV: {SUBJECT}",
        _outlook_block("<>"),
        Want("", "", f"RE: {SUBJECT}", "Sí adelante"),
        id="de-with-empty-brackets",
    ),
    pytest.param(
        "",
        "Va el correo\n\n---------- Mensaje reenviado ---------\nSí adelante\n",
        Want("", "", "", "Sí adelante", "Va el correo"),
        id="separator-without-headers",
    ),
    pytest.param(
        f"Fwd: {SUBJECT}",
        "Te lo reenvío\n\n---------- Mensaje reenviado ---------\n"
        f"De: {MARIANA}\nDate: lun, 23 nov 2026 a las 10:02\nSubject: Re: x\nTo: {SOFIA}\n",
        Want("mariana@example.com", "Mariana López", "Re: x", "", "Te lo reenvío"),
        id="empty-forwarded-body",
    ),
]


@pytest.mark.parametrize(("subject", "text", "want"), FORWARDS)
def test_golden_forward(subject: str, text: str, want: Want) -> None:
    found = find_forward(text, subject=subject)
    assert found is not None
    assert found.sender == want.sender
    assert found.sender_name == want.sender_name
    assert found.subject == want.subject
    if want.body_prefix:
        assert found.body.startswith(want.body)
    else:
        assert found.body == want.body
    assert found.note == want.note
    if want.sent is not None:
        assert found.sent == want.sent


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        pytest.param("", "", id="empty"),
        pytest.param("RV: x", " \n\n\t\n", id="only-whitespace"),
        pytest.param("RV: x", "\ufeff\u200b", id="only-invisible"),
        pytest.param(
            f"RE: {SUBJECT}", f"Sí adelante\n\n{OUTLOOK_HISTORY}", id="outlook-reply-history"
        ),
        pytest.param("", f"Sí adelante\n\n{OUTLOOK_HISTORY}", id="outlook-reply-no-subject"),
        # An Outlook forward and a reply's history look alike: the subject decides.
        pytest.param(f"RE: {SUBJECT}", OUTLOOK_FORWARD_ES, id="outlook-block-under-re"),
        pytest.param("", OUTLOOK_FORWARD_ES, id="outlook-block-without-subject"),
        pytest.param(
            f"RE: {SUBJECT}",
            "Gracias\n\n-----Mensaje original-----\n" + OUTLOOK_HISTORY,
            id="mensaje-original-under-re",
        ),
        pytest.param(
            f"RE: RV: {SUBJECT}",
            "Sí adelante\n\n"
            "El lun, 23 nov 2026 a las 9:30, Sofía Ramírez <sofia.ramirez@example.com> "
            "escribió:\n"
            "> Mariana, ¿me confirmas?\n"
            ">\n"
            "> ---------- Forwarded message ---------\n"
            "> From: Mesa de Ayuda <mesa.ayuda@example.com>\n"
            "> Date: lun, 23 nov 2026 a las 9:00\n"
            f"> Subject: {SUBJECT}\n",
            id="gmail-reply-quoting-a-forward",
        ),
        pytest.param(
            f"RE: RV: {SUBJECT}",
            "Sí adelante\n\n"
            "El lun, 23 nov 2026 a las 9:30, Sofía Ramírez <sofia.ramirez@example.com> "
            "escribió:\n\n"
            "Mariana, ¿me confirmas?\n\n"
            "---------- Forwarded message ---------\n"
            "From: Mesa de Ayuda <mesa.ayuda@example.com>\n"
            "Date: lun, 23 nov 2026 a las 9:00\n"
            f"Subject: {SUBJECT}\n\nHola Mariana López:\n",
            id="html-reply-history-holding-a-forward",
        ),
        pytest.param(
            f"RE: {SUBJECT}",
            f"Sí adelante\n\n{OUTLOOK_HISTORY}\n"
            "---------- Mensaje reenviado ---------\n"
            "De: Jorge Villa <jorge.villa@example.com>\n"
            "Date: lun, 16 nov 2026 a las 10:00\nSubject: x\n\nSí, dale.\n",
            id="outlook-reply-history-holding-a-forward",
        ),
        pytest.param(
            "RV: x", "Te mando el mensaje reenviado: ya lo revisé.", id="words-in-a-sentence"
        ),
        pytest.param("RV: x", "Horario de atención\nDe: 9 a 18 h\nLunes a viernes", id="de-line"),
        pytest.param(
            "RV: x",
            "Gracias\n\nDe: Mariana López\nPara: Sofía Ramírez\n\nHola",
            id="block-without-date-and-subject",
        ),
    ],
)
def test_not_a_forward(subject: str, text: str) -> None:
    assert find_forward(text, subject=subject) is None


def test_the_same_outlook_text_is_a_forward_under_a_forward_subject() -> None:
    found = find_forward(OUTLOOK_FORWARD_ES, subject=f"RV: RE: {SUBJECT}")
    assert found is not None
    assert found.sender == "mariana@example.com"


def test_forwarded_is_frozen() -> None:
    found = find_forward(GMAIL_FORWARD_ES)
    assert isinstance(found, Forwarded)
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.sender = "otro@example.com"  # type: ignore[misc]


@pytest.mark.parametrize(
    "subject",
    [
        "RV: x",
        "Rv: x",
        "rv: x",
        "FW: x",
        "Fw: x",
        "Fwd: x",
        "FWD: x",
        "RE: RV: x",
        "Re: Fwd: x",
        "RE: RE: FW: x",
        "ENC: x",
        "Enc: RE: x",
        "[EXTERNO] RV: x",
        "[EXTERNO]RV: x",
        "[EXTERNAL] [SPAM] FW: x",
        "(EXTERNO) Fwd: x",
        "EXTERNO: RV: x",
        "RE[2]: FW: x",
        "RV : x",
        "\u200bRV:\xa0x",
        "  Fwd:x",
        "RV：x",
    ],
)
def test_forward_subjects(subject: str) -> None:
    assert is_forward_subject(subject)


@pytest.mark.parametrize(
    "subject",
    [
        "",
        "RE: x",
        "Re: Re: x",
        "[EXTERNO] RE: x",
        SUBJECT,
        "Alta RV: x",
        "Rvw: x",
        "FWD",
        "Fwd",
        "Reenvío de documentos",
        "RE: Confirmación RV: x",
        "[" * 5000,
    ],
)
def test_not_forward_subjects(subject: str) -> None:
    assert not is_forward_subject(subject)


# --- forwards sent as attachments --------------------------------------------------------


def _eml(**headers: str) -> EmailMessage:
    """An assistant's answer with the given headers (From, Date and Subject by default)."""
    msg = EmailMessage()
    defaults = {
        "From": "Mariana López <Mariana@Example.com>",
        "To": SOFIA,
        "Date": "Mon, 23 Nov 2026 10:02:11 -0600",
        "Subject": f"Re: {SUBJECT}",
    }
    for name, value in (defaults | headers).items():
        if value:
            msg[name] = value
    return msg


def _check_mariana(found: Forwarded | None, body: str) -> None:
    assert found is not None
    assert found.sender == "mariana@example.com"
    assert found.sender_name == "Mariana López"
    assert found.sent == "Mon, 23 Nov 2026 10:02:11 -0600"
    assert found.subject == f"Re: {SUBJECT}"
    assert found.body == body
    assert found.note == ""


def test_eml_plain_text() -> None:
    msg = _eml()
    msg.set_content(f"Sí adelante\n\n{GMAIL_HISTORY}")
    _check_mariana(forward_from_eml(msg.as_bytes()), "Sí adelante")


def test_eml_alternative_prefers_the_text_part() -> None:
    msg = _eml()
    msg.set_content(f"Deténlo, por favor.\n\n{GMAIL_HISTORY}")
    msg.add_alternative("<p>Otro texto en HTML</p>", subtype="html")
    _check_mariana(forward_from_eml(msg.as_bytes()), "Deténlo, por favor.")


def test_eml_html_only_is_converted_to_text() -> None:
    msg = _eml()
    msg.set_content(
        "<html><head><style>p {color: red}</style></head><body>"
        "<div dir='ltr'>Sí adelante&nbsp;&amp; gracias</div><br>"
        "<div class='gmail_quote'><div>El lun, 23 nov 2026 a las 9:00, Mesa de Ayuda "
        "&lt;mesa.ayuda@example.com&gt; escribió:<br></div>"
        "<blockquote>Hola Mariana López:<br>¿Procede?</blockquote></div></body></html>",
        subtype="html",
    )
    _check_mariana(forward_from_eml(msg.as_bytes()), "Sí adelante & gracias")


def test_eml_quoted_printable() -> None:
    msg = _eml()
    msg.set_content(
        "Sí adelante, ya revisé la cédula y la firma del agente; todo está en orden.\n",
        cte="quoted-printable",
    )
    raw = msg.as_bytes()
    assert b"Content-Transfer-Encoding: quoted-printable" in raw
    assert b"S=C3=AD adelante" in raw
    _check_mariana(
        forward_from_eml(raw),
        "Sí adelante, ya revisé la cédula y la firma del agente; todo está en orden.",
    )


def test_eml_with_an_attachment() -> None:
    msg = _eml()
    msg.set_content("Te aviso cuando proceda.\n")
    msg.add_attachment(b"%PDF-1.4\n", maintype="application", subtype="pdf", filename="a.pdf")
    _check_mariana(forward_from_eml(msg.as_bytes()), "Te aviso cuando proceda.")


def test_eml_with_a_name_only_sender() -> None:
    msg = _eml(From="Mariana López")
    msg.set_content("Sí adelante\n")
    found = forward_from_eml(msg.as_bytes())
    assert found is not None
    assert (found.sender, found.sender_name, found.body) == ("", "Mariana López", "Sí adelante")


def test_an_attached_forward_read_through_parse_mail() -> None:
    inner = _eml()
    inner.set_content(f"Sí adelante\n\n{GMAIL_HISTORY}")
    outer = EmailMessage()
    outer["From"] = SOFIA
    outer["To"] = "Mesa de Ayuda <mesa.ayuda@example.com>"
    outer["Subject"] = f"RV: Re: {SUBJECT}"
    outer["Message-ID"] = "<fwd-1@example.com>"
    outer["Date"] = "Mon, 23 Nov 2026 10:30:00 -0600"
    outer.set_content("Les reenvío la respuesta de Mariana.\n")
    outer.add_attachment(inner)
    mail = parse_mail(outer.as_bytes())
    attached = [a for a in mail.attachments if a.content_type == "message/rfc822"]
    assert len(attached) == 1
    _check_mariana(forward_from_eml(attached[0].content), "Sí adelante")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x00" * 100, id="nul-bytes"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", id="png"),
        pytest.param(random.Random(7).randbytes(4000), id="random-bytes"),
        pytest.param(b"solo texto, no es un correo", id="plain-words"),
        pytest.param(b"Subject: hola\r\n\r\nSin remitente.\r\n", id="no-from"),
        pytest.param(b"From: <>\r\nSubject: hola\r\n\r\nx\r\n", id="empty-from"),
    ],
)
def test_eml_that_is_no_mail_with_a_sender(raw: bytes) -> None:
    assert forward_from_eml(raw) is None


# --- hostile text ----------------------------------------------------------------------

MB = 1_000_000
PROSE = "Sí adelante, te mando los datos del agente por favor revisa.\n"
HUGE = {
    "prose": PROSE * (MB // len(PROSE)),
    "forward-then-prose": GMAIL_FORWARD_ES + PROSE * (MB // len(PROSE)),
    "one-line": "a" * MB,
    "from-line-of-ats": "De: " + "a@" * (MB // 2),
    "from-lines": "De: x\nPara: y\n" * (MB // 14),
    "blank-lines": "\n" * MB,
    "crlf": "\r\n" * (MB // 2),
    "dashes": "-" * MB,
    "separators": "---------- Mensaje reenviado ---------\n" * (MB // 39),
    "stars": "*" * MB,
    "spaces": " " * MB,
    "attributions": ("El 1:11 2:22 3:33 4:44 5:55 " * 14 + "\n") * (MB // 393),
    "invisible": "\u200b\xa0" * (MB // 2),
}


@pytest.mark.parametrize("subject", ["", "RV: x"])
@pytest.mark.parametrize("name", sorted(HUGE))
def test_huge_text_is_fast(name: str, subject: str) -> None:
    text = HUGE[name]
    started = time.perf_counter()
    find_forward(text, subject=subject)
    assert time.perf_counter() - started < 0.2


def test_huge_forward_keeps_the_start_of_the_body() -> None:
    found = find_forward(HUGE["forward-then-prose"])
    assert found is not None
    assert found.sender == "mariana@example.com"
    assert found.body.startswith("Sí adelante, te mando los datos del agente en la tarde.")


def test_a_forward_past_the_searched_start_is_not_found() -> None:
    text = "Nota larguísima.\n" * 10_000 + GMAIL_FORWARD_ES
    assert find_forward(text) is None


MARKER_LINES = st.sampled_from(
    [
        "---------- Mensaje reenviado ---------",
        "---------- Forwarded message ---------",
        "-----Mensaje original-----",
        "Inicio del mensaje reenviado:",
        "________________________________",
        "De: Mariana López <mariana@example.com>",
        "*De:* Mariana <MARIANA@EXAMPLE.COM<mailto:mariana@example.com>>",
        "De: <<<@@@>>>",
        "From: a@b, c@d.e",
        "Enviado el: lunes, 23 de noviembre de 2026 10:02",
        "Date: lun, 23 nov 2026 a las 10:02",
        "Asunto: RE: x",
        "Para: Sofía;",
        " [MA-002 #12]",
        "El lun, 23 nov 2026 a las 9:00, X <x@example.com> escribió:",
        "> Hola",
        "",
        "\r",
        "\ufeff",
        "Sí adelante",
        "-- ",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(max_size=300)
    | st.lists(MARKER_LINES | st.text(max_size=40), max_size=25).map("\n".join),
    subject=st.sampled_from(["", "RV: x", "RE: x", "[EXTERNO] Fwd:"]) | st.text(max_size=20),
)
def test_find_forward_never_raises(text: str, subject: str) -> None:
    found = find_forward(text, subject=subject)
    if found is not None:
        assert found.sender == found.sender.lower()
        assert not any(ch.isspace() for ch in found.sender)
        assert found.sender == "" or "@" in found.sender
