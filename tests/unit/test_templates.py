"""Every mail template renders with the context the bot gives it; missing variables fail."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError

from bot.templates import Templates, load_known_answers

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = Templates(ROOT / "templates")

CASE = {
    "id": 12,
    "ref": "MA-006 #12",
    "process": "MA-006",
    "process_name": "Gestión de tickets",
    "state": "en_proceso",
    "state_label": "En proceso",
    "subject": "No puedo entrar a BLife",
    "requester": "ana.perez@example.com",
    "requester_name": "Ana Pérez",
    "assignee": "sofia.ramirez@example.com",
    "assignee_name": "Sofía Ramírez",
    "data": {},
}
# An agent's case (MA-002): its templates read the agent, the zone and the data given.
AGENT_CASE = {
    **CASE,
    "ref": "MA-002 #12",
    "process": "MA-002",
    "process_name": "Cuentas MET agentes",
    "state": "confirmacion_asistente",
    "state_label": "Confirmación de la asistente",
    "subject": "Alta de agente Juan Pérez (clave A100200)",
    "data": {
        "agente": {
            "id": "7",
            "clave": "A100200",
            "nombre": "Juan Pérez",
            "rfc": "PEGJ800101AB1",
            "correo": "juan.perez@example.net",
            "promotoria": "Promotoría Reforma",
            "cedula": "",
        },
        "zona": "CDMX",
        "datos": {"curp": "PEGJ800101HDFRRN09", "celular": "5512345678"},
        "aprobado": {"por": "julio@example.com", "reenviado_por": ""},
    },
}
# An agent's chat (MA-007), already followed up by a linked ticket.
CHAT_CASE = {
    **CASE,
    "ref": "MA-007 #12",
    "process": "MA-007",
    "process_name": "Atención a agentes por chat",
    "state": "en_seguimiento",
    "state_label": "En seguimiento",
    "subject": "Chat: No puedo emitir en BLife",
    "requester": "juan.perez@example.net",
    "requester_name": "Juan Pérez",
    "data": {
        "agente": {"nombre": "Juan Pérez", "correo": "juan.perez@example.net", "clave": "A100200"},
        "canal": "telegram",
        "descripcion": "No puedo emitir en BLife, me marca error.\nTengo al cliente esperando.",
        "urgencia": "alta",
        "motivo_urgencia": "no puedo emitir",
        "mensajes": 2,
        "adjuntos": 1,
        "casos_relacionados": ["MA-006 #13"],
        "plazo": "2026-11-20T09:00:00-06:00",
    },
}
# A recertification (MA-005): its templates read the deadline and the applications.
RECERT_CASE = {
    **CASE,
    "ref": "MA-005 #12",
    "process": "MA-005",
    "process_name": "Recertificación anual de usuarios MetLife",
    "state": "validacion_areas",
    "state_label": "Validación con Comercial y Operaciones",
    "subject": "Recertificación anual de usuarios 2026",
    "requester": "recertificacion@metlife.example.com",
    "data": {"fecha_limite": "2026-12-04", "aplicaciones": ["B'Life", "Pro99"]},
}
CASES = {"MA-002": AGENT_CASE, "MA-005": RECERT_CASE, "MA-007": CHAT_CASE}
BASE = {
    "org": "Promotoría Ejemplo",
    "bot": "mesa.ayuda@example.com",
    "horario": "lunes a jueves de 8:00 a 18:00 y viernes de 8:00 a 15:00",
    "horario_chat": "lunes a jueves de 8:00 a 17:30 y viernes de 8:00 a 15:00",
}
HOSTILE = "<script>alert(1)</script> Facturas & notas"
# One case as the daily digest lists it, with a subject a stranger could have written.
ROW = {
    "id": 12,
    "ref": "MA-006 #12",
    "process": "MA-006",
    "state": "en_proceso",
    "state_label": "En proceso",
    "subject": HOSTILE,
    "requester": "ana.perez@example.com",
    "requester_name": "Ana Pérez",
    "assignee": "sofia.ramirez@example.com",
    "assignee_name": "Sofía Ramírez",
    "abierto": "13/11/2026 10:00",
    "edad": 5,
    "edad_texto": "5 días hábiles",
}
# The extra variables each template declares through the effect that uses it.
EXTRA: dict[str, dict[str, Any]] = {
    "MA-006/respuesta_inicial": {"texto": "Lo revisamos"},
    "MA-006/mensaje": {"texto": "Avance"},
    "MA-006/nuevo_mensaje": {"texto": "Sigue igual", "remitente": "ana.perez@example.com"},
    "common/rebote": {"destinatarios": "no.existe@example.net", "asunto": "Alta"},
    "common/cuarentena": {"archivo": "1700000000.M1.mx", "motivo": "no es un correo"},
    "common/entrega_fallida": {
        "destinatarios": "ana.perez@example.com",
        "asunto": "Alta",
        "motivo": "sin entrega",
        "error": "ChannelUnavailable: 421",
        "creado": "2026-11-23 09:00",
        "intentos": 12,
    },
    "MA-006/no_resuelto": {"texto": "No funciona"},
    "MA-006/solucion": {"solucion": "Se restableció", "fecha_cierre": "2026-11-25"},
    "MA-006/recordatorio_validacion": {"fecha_cierre": "2026-11-25"},
    "MA-006/cerrado_especialista": {"motivo": "Duplicado"},
    "common/tarea": {"task": {"id": 3, "title": "Subir carta", "body": "..."}},
    "common/temporizador_fallido": {
        "aviso": "barrido_agentes",
        "error": "PegasusUnavailable: sin conexión",
        "intentos": 5,
    },
    "MA-002/confirmacion": {"limite": "2026-11-30"},
    "MA-002/recordatorio": {"aprobado": True, "faltan": ["CURP"], "pedido": ""},
    "MA-002/escalar_asistente": {"aprobado": True, "faltan": [], "pedido": "Fecha de alta"},
    "MA-002/faltan_datos": {"faltan": ["CURP"], "errores": ["Teléfono celular: «55 1» ..."]},
    "MA-002/confirma_decision": {"faltan": [], "errores": []},
    "MA-002/en_espera": {"fecha": "2026-11-30", "fecha_dada": True},
    "MA-002/escalar_espera": {"veces": 3},
    "MA-002/respuesta": {"texto": "Sí, la cédula basta", "especialista": "sofia@example.com"},
    "MA-002/remitente_no_autorizado": {
        "remitente": "andrea@example.com",
        "autenticado": True,
        "reenviado_por": "",
        "texto": "Sí adelante",
    },
    "MA-002/nuevo_mensaje": {"texto": "¿Cómo va?", "remitente": "julio@example.com"},
    "MA-002/datos_adicionales": {"texto": "Fecha de nacimiento"},
    "MA-002/alta_completa": {"usuario": "A100200"},
    "MA-002/credenciales": {
        "usuario": {"nombre": "Juan Pérez", "clave": "A100200"},
        "login": "A100200",
        "contrasena": "(contraseña)",
    },
    "MA-002/recordatorio_cierre": {"fecha_cierre": "2026-11-30"},
    "MA-002/cerrado_especialista": {"motivo": "Duplicado"},
    "MA-002/barrido_errores": {"errores": [{"id": "7", "nombre": "Juan", "error": "x"}]},
    "MA-001/acuse_en_proceso": {"informe": "Revisamos el formato...", "movimiento": "alta"},
    "MA-001/datos_incompletos": {
        "informe": "Fila 2, columna «RFC»: ...",
        "falta_archivo": False,
        "omitidos": [],
        "fecha_cierre": "2026-11-30",
    },
    "MA-001/recordatorio_datos": {"fecha_cierre": "2026-11-30"},
    "MA-001/nuevo_mensaje": {"texto": "¿Cómo va?", "remitente": "ana.perez@example.com"},
    "MA-001/firma_director": {"limite": "2026-11-26"},
    "MA-001/firma_rechazada": {"motivos": ["El archivo contiene JavaScript."]},
    "MA-001/firma_no_valida": {
        "remitente": "director.general@example.com",
        "motivos": [],
        "autenticado": False,
    },
    "MA-001/alta_en_proceso": {"dsn": "4471203"},
    "MA-001/revision_metlife": {"dsn": "4471203"},
    "MA-001/escalar_metlife": {"dsn": "4471203"},
    "MA-001/baja_realizada": {"dsn": "5550001"},
    "MA-001/credenciales": {
        "usuario": {"nombre": "Elena Gómez"},
        "login": "elena.gomez",
        "contrasena": "(contraseña)",
    },
    "MA-001/custodia_recibida": {"faltan": ["Raúl Sánchez"]},
    "MA-001/validacion": {"fecha_cierre": "2026-11-30"},
    "MA-001/recordatorio_validacion": {"fecha_cierre": "2026-11-30"},
    "MA-001/cerrado_especialista": {"motivo": "Duplicada"},
    "common/chat_caido": {"motivo": "TelegramUnavailable: 502 Bad Gateway"},
    "common/codigo_chat": {
        "nombre": "Juan Pérez",
        "codigo": "(código)",
        "minutos": 10,
        "vence": "10:25",
    },
    "MA-007/nuevo_mensaje": {"texto": "Ya mandé la captura", "remitente": "juan.perez@example.net"},
    "common/resumen_diario": {
        "recertificaciones": [
            {
                **ROW,
                "ref": "MA-005 #14",
                "state_label": "Esperando firma del director",
                "fecha_limite": "4 de diciembre de 2026",
                "estimada": True,
                "dias": 3,
                "envio": "02/12/2026 08:00",
                "enviado": "",
                "falta": ["la carta responsiva firmada por el director"],
            }
        ],
        "fecha": "2026-11-23",
        "fecha_texto": "lunes 23 de noviembre de 2026",
        "hora": "08:00",
        "nombre": "Sofía",
        "email": "sofia.ramirez@example.com",
        "todo": False,
        "abiertos": [
            {
                "process": "MA-006",
                "process_name": "Gestión de tickets",
                "total": 1,
                "estados": [{"state": "en_proceso", "state_label": "En proceso", "casos": [ROW]}],
            }
        ],
        "abiertos_total": 1,
        "tareas": [
            {
                "id": 3,
                "title": "Subir carta",
                "vence": "20/11/2026 12:00",
                "vencida": True,
                "case_ref": "MA-006 #12",
                "assignee": "",
                "assignee_name": "Sin asignar",
            }
        ],
        "en_espera": [
            {
                **ROW,
                "espera": "el usuario",
                "desde": "20/11/2026 11:00",
                "espera_texto": "1 día hábil",
                "proximo": {
                    "kind": "recordatorio_validacion",
                    "label": "Recordatorio de validación al usuario",
                    "vence": "24/11/2026 11:00",
                },
            }
        ],
        "sla": [
            {
                **ROW,
                "limite": "Límite de primera respuesta",
                "vencio": "20/11/2026 09:00",
                "retraso": "6 h",
            }
        ],
        "chat_en_cola": [
            {
                **ROW,
                "ref": "MA-007 #14",
                "agente": "Juan Pérez",
                "recibido": "19/11/2026 20:15",
                "apertura": "20/11/2026 08:00",
                "urgente": True,
                "texto": HOSTILE,
            }
        ],
        "cerrados": [{**ROW, "cerrado": "20/11/2026 11:30", "motivo": "validado"}],
        "cerrados_periodo": "del viernes 20 al domingo 22 de noviembre",
        "barrido": {
            "cuando": "23/11/2026 08:00",
            "solicitados": 3,
            "nuevos": ["MA-002 #13"],
            "ruteados": [],
            "excluidos": [
                {"clave": "B1", "nombre": HOSTILE, "promotoria": "Reforma", "tipo": "BPN"}
            ],
            "errores": [],
        },
        "totales": {
            "abiertos": 1,
            "sin_asignar": 0,
            "en_espera": 1,
            "sla": 1,
            "tareas": 1,
            "cerrados": 1,
        },
    },
}


@pytest.mark.parametrize("name", TEMPLATES.names())
def test_each_mail_template_renders_in_spanish_with_a_subject(name: str) -> None:
    case = CASES.get(name.partition("/")[0], CASE)
    mail = TEMPLATES.mail(name, {**BASE, "case": case, **EXTRA.get(name, {})})
    assert mail.subject
    assert mail.body.strip()
    assert "{{" not in mail.body and "{%" not in mail.body
    if name not in TEMPLATES.html_names():
        assert mail.html is None  # plain text only: sent as a single text/plain part


@pytest.mark.parametrize("name", [n for n in TEMPLATES.names() if n in EXTRA])
def test_a_missing_variable_is_an_error_not_a_blank(name: str) -> None:
    case = CASES.get(name.partition("/")[0], CASE)
    with pytest.raises(UndefinedError):
        TEMPLATES.mail(name, {**BASE, "case": case})


@pytest.mark.parametrize("name", TEMPLATES.html_names())
def test_html_versions_are_escaped_and_well_formed(name: str) -> None:
    assert name in TEMPLATES.names(), "an HTML version needs its plain-text twin"
    mail = TEMPLATES.mail(name, {**BASE, "case": CASE, **EXTRA.get(name, {})})
    assert mail.html is not None
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Facturas &amp; notas" in mail.html
    assert HOSTILE in mail.body  # the plain text is never escaped
    tags = _Tags()
    tags.feed(mail.html)
    tags.close()
    assert tags.opened[:2] == ["html", "head"]
    for tag in set(tags.opened) - {"meta", "br"}:
        assert tags.opened.count(tag) == tags.closed.count(tag), tag


@pytest.mark.parametrize("name", [n for n in TEMPLATES.html_names() if n in EXTRA])
def test_a_missing_variable_in_html_is_an_error_not_a_blank(name: str) -> None:
    with pytest.raises(UndefinedError):
        TEMPLATES.html(name, {**BASE, "case": CASE})


class _Tags(HTMLParser):
    """Start and end tags of a document."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []
        self.closed: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.opened.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self.closed.append(tag)


# What each MA-005 mail passes (bot/rules/ma005_recert.py).
_RECEIVED = {
    "fecha_limite": "4 de diciembre de 2026",
    "estimada": True,
    "aplicaciones": ["B'Life", "Pro99"],
    "usuarios": 900,
    "archivo_ok": True,
    "informe": "El archivo «recert.xlsx» trae 900 usuario(s) de B'Life, Pro99.",
    "envio": "2 de diciembre de 2026",
}
_COUNTDOWN = {
    "dias": 3,
    "fecha_limite": "4 de diciembre de 2026",
    "envio": "2 de diciembre de 2026",
    "estado": "esperando_firma",
    "falta": ["la carta responsiva firmada por el director"],
    "estimada": False,
}
_DISCREPANCY = {
    "clave": "12345",
    "hid": "012345",
    "nombre": "José Ñúñez",
    "aplicacion": "B'Life",
    "pegasus": "Activo",
    "propuesta": "Activo",
    "comercial": "Activo",
    "operaciones": "Baja",
}
MA005_EXTRA: dict[str, dict[str, Any]] = {
    "MA-005/alerta_recepcion": _RECEIVED,
    "MA-005/acuse": _RECEIVED,
    "MA-005/archivo_ilegible": {"informe": "El archivo tiene macros."},
    "MA-005/archivo_con_problemas": {"informe": "El archivo tiene macros."},
    "MA-005/no_verificado": {
        "remitente": "otro@metlife.example.com",
        "autenticado": False,
        "archivo_ok": True,
    },
    "MA-005/validacion_areas": {
        "fecha_respuesta": "27 de noviembre de 2026",
        "fecha_limite": "4 de diciembre de 2026",
        "resumen": {"Activo": 850, "Baja": 30, "Sin información": 20},
        "total": 900,
    },
    "MA-005/recordatorio_areas": {"fecha_respuesta": "27 de noviembre de 2026"},
    "MA-005/respuesta_recibida": {
        "area": "Comercial",
        "filas": 12,
        "general": "Confirmar",
        "problemas": ["Hoja «Validación», fila 7: «quizá» no es una respuesta válida"],
    },
    "MA-005/mensaje_area": {"texto": "Lo revisamos mañana", "remitente": "comercial@example.com"},
    "MA-005/no_autenticado": {"remitente": "comercial@example.com", "autenticado": False},
    "MA-005/discrepancias": {"discrepancias": [_DISCREPANCY], "total": 2},
    "MA-005/decision_recibida": {"decididas": 2, "pendientes": 0},
    "MA-005/firma_director": {
        "conteos": {"B'Life": {"Activo": 800, "Baja": 50}, "Pro99": {"Activo": 40, "Baja": 10}},
        "total": 900,
        "activos": 840,
        "bajas": 60,
        "fecha_limite": "4 de diciembre de 2026",
        "envio": "2 de diciembre de 2026",
    },
    "MA-005/recordatorio_firma": {"fecha_limite": "4 de diciembre de 2026", "faltan": 3},
    "MA-005/firma_recibida": {"envio": "miércoles 2 de diciembre a las 8:00"},
    "MA-005/firma_rechazada": {"motivos": ["El PDF tiene JavaScript."]},
    "MA-005/envio_metlife": {
        "totales": {"total": 900, "activos": 840, "bajas": 60},
        "conteos": {},
        "aplicaciones": ["B'Life", "Pro99"],
    },
    "MA-005/inconsistencias": {
        "texto": "El HID 12345 no coincide.",
        "remitente": "recertificacion@metlife.example.com",
    },
    "MA-005/confirmado": {"texto": "Recibido, gracias."},
    "MA-005/cerrado": {"archivos": 14},
    "MA-005/cuenta_regresiva": _COUNTDOWN,
    "MA-005/no_llega": _COUNTDOWN,
    "MA-005/falla": {"motivo": "CAM Pegasus: falló la consulta roster", "trabajo": "paquete"},
    "MA-005/nuevo_mensaje": {"texto": "¿Cómo vamos?", "remitente": "sofia.ramirez@example.com"},
}
EXTRA.update(MA005_EXTRA)

# --- chat messages and task bodies (MA-007) ---------------------------------------------

# What each SendChat of MA-007 passes (bot/rules/ma007_chat.py); the workflow adds BASE.
CHAT_EXTRA: dict[str, dict[str, Any]] = {
    "MA-007/fuera_de_horario": {
        "apertura": "lunes 23 de noviembre a las 8:00",
        "horario_chat": "lunes a jueves de 8:00 a 17:30 y viernes de 8:00 a 15:00",
    },
    "MA-007/archivo_no_recibido": {
        "omitidos": ["«poliza.pdf» pesa 30.0 MB y el máximo que podemos recibir es de 20 MB"]
    },
    "MA-007/en_seguimiento": {
        "plazo": "viernes 20 de noviembre a las 12:00",
        "horas": 4,
        "tiempo": "4 horas hábiles",
    },
    "MA-007/nuevo_mensaje": {"texto": "Ya mandé la captura", "adjuntos": 1},
    "MA-007/mensaje": {"texto": "Ya lo estamos revisando con MetLife."},
    "MA-007/solucion": {
        "solucion": "Reinstala Pro99 desde la App Store.",
        "fecha_cierre": "miércoles 25 de noviembre",
    },
    "MA-007/recordatorio": {"fecha_cierre": "miércoles 25 de noviembre"},
    "MA-007/caso_metlife": {"caso": "C-2026-004512"},
    "MA-007/cerrado_especialista": {"motivo": "Se resolvió por teléfono."},
    "MA-007/reabierto": {"plazo": "viernes 20 de noviembre a las 15:00"},
    "MA-007/conocido/reset_ipad": {"fecha_cierre": "miércoles 25 de noviembre"},
    "MA-007/conocido/pro99": {"fecha_cierre": "miércoles 25 de noviembre"},
    "MA-007/conocido/blife": {"fecha_cierre": "miércoles 25 de noviembre"},
    "MA-005/alerta_recepcion": _RECEIVED,
    "MA-005/no_verificado": MA005_EXTRA["MA-005/no_verificado"],
    "MA-005/inconsistencias": MA005_EXTRA["MA-005/inconsistencias"],
    "MA-005/cuenta_regresiva": _COUNTDOWN,
    "MA-005/no_llega": _COUNTDOWN,
}
# The chat channel's own messages (common/, desk/) are not about a process's case.
PROCESS_CHATS = [n for n in TEMPLATES.names("chat") if n.startswith("MA-")]
TASK_EXTRA: dict[str, dict[str, Any]] = {
    "MA-007/atender": {"texto": "No puedo emitir en BLife.\nMe marca error.", "urgencia": "alta"},
    "MA-007/escalamiento_metlife": {"nota": "MetLife pide la captura del error."},
}
MA007_TASKS = [n for n in TEMPLATES.names("tasks") if n.startswith("MA-007/")]


def _chat(name: str, extra: dict[str, Any]) -> str:
    """A chat message as the workflow renders it (stripped)."""
    case = CASES.get(name.partition("/")[0], CASE)
    return TEMPLATES.text(f"chat/{name}.txt.j2", {**BASE, "case": case, **extra}).strip()


def test_every_ma007_chat_template_is_known() -> None:
    assert "MA-007/fuera_de_horario" in PROCESS_CHATS
    assert "MA-007/conocido/reset_ipad" in PROCESS_CHATS
    assert set(CHAT_EXTRA) <= set(PROCESS_CHATS)


@pytest.mark.parametrize("name", PROCESS_CHATS)
def test_each_chat_template_renders_plain_text(name: str) -> None:
    text = _chat(name, CHAT_EXTRA.get(name, {}))
    assert text
    assert "{{" not in text and "{%" not in text and "{#" not in text
    assert not text.startswith("Asunto:")
    # Sent without a parse mode: Markdown marks would reach the agent as they are.
    for mark in ("**", "__", "`", "]("):
        assert mark not in text, mark


@pytest.mark.parametrize("name", [n for n in PROCESS_CHATS if CHAT_EXTRA.get(n)])
def test_a_missing_variable_in_a_chat_is_an_error_not_a_blank(name: str) -> None:
    with pytest.raises(UndefinedError):
        _chat(name, {})


def test_chat_messages_say_what_the_agent_needs() -> None:
    hours = _chat("MA-007/fuera_de_horario", CHAT_EXTRA["MA-007/fuera_de_horario"])
    assert "MA-007 #12" in hours and "lunes 23 de noviembre a las 8:00" in hours
    assert "de 8:00 a 17:30" in hours
    follow = _chat("MA-007/en_seguimiento", CHAT_EXTRA["MA-007/en_seguimiento"])
    assert "MA-006 #13" in follow
    assert "a más tardar el viernes 20 de noviembre a las 12:00" in follow
    assert "4 horas hábiles" in follow
    solution = _chat("MA-007/solucion", CHAT_EXTRA["MA-007/solucion"])
    assert "«sí, ya quedó»" in solution and "«no, sigue igual»" in solution
    assert "miércoles 25 de noviembre" in solution
    assert _chat("MA-007/solucion", CHAT_EXTRA["MA-007/solucion"]).startswith("Hola, Juan.")


@pytest.mark.parametrize("topic", ["reset_ipad", "pro99", "blife"])
def test_known_answers_hide_their_keywords_and_ask_if_solved(topic: str) -> None:
    name = f"MA-007/conocido/{topic}"
    text = _chat(name, CHAT_EXTRA[name])
    assert "palabras" not in text
    assert text.startswith("Hola, Juan.")
    assert "1." in text and "2." in text
    assert text.rstrip().endswith("miércoles 25 de noviembre.")
    assert "«sí, ya quedó»" in text


@pytest.mark.parametrize("name", MA007_TASKS)
def test_each_ma007_task_body_renders(name: str) -> None:
    case = CASES["MA-007"]
    body = TEMPLATES.text(f"tasks/{name}.txt.j2", {**BASE, "case": case, **TASK_EXTRA[name]})
    assert "Juan Pérez" in body and "A100200" in body and "juan.perez@example.net" in body
    assert "mesabot case 12 " in body
    assert "{{" not in body and "{%" not in body
    with pytest.raises(UndefinedError):
        TEMPLATES.text(f"tasks/{name}.txt.j2", {**BASE, "case": case})


# --- the known answers' keyword phrases -------------------------------------------------


def test_known_answers_load_from_the_shipped_templates() -> None:
    answers = load_known_answers(ROOT / "templates")
    assert sorted(answers) == ["blife", "pro99", "reset_ipad"]
    assert "contrasena ipad" in answers["reset_ipad"]
    assert "olvide mi contrasena" in answers["reset_ipad"]
    assert "como usar b life" in answers["blife"]
    assert all(p and p == p.strip() for phrases in answers.values() for p in phrases)


def test_known_answers_header_variants(tmp_path: Path) -> None:
    folder = tmp_path / "chat" / "MA-007" / "conocido"
    folder.mkdir(parents=True)
    files = {
        "dashes": "{#- palabras: Contraseña iPad; OLVIDÉ mi contraseña -#}\nHola\n",
        "plain": "{# palabras: cómo usar BLife #}\nHola\n",
        "spaces": "  {#-   Palabras :  B'Life ;; ;  guía de Pro99   -#}  \nHola\n",
        "repeated": "{#- palabras: iPad; ipad; IPAD -#}\n",
        "no_header": "Hola, esta respuesta no tiene palabras.\n",
        "late_header": "Hola\n{#- palabras: ipad -#}\n",
        "other_comment": "{#- nota: revisar -#}\nHola\n",
        "empty": "",
    }
    for stem, text in files.items():
        (folder / f"{stem}.txt.j2").write_text(text, encoding="utf-8")
    (folder / "_parcial.j2").write_text("{#- palabras: x -#}\n", encoding="utf-8")
    (folder / "notas.txt").write_text("{#- palabras: x -#}\n", encoding="utf-8")
    assert load_known_answers(tmp_path) == {
        "dashes": ("contrasena ipad", "olvide mi contrasena"),
        "plain": ("como usar blife",),
        "spaces": ("b life", "guia de pro99"),
        "repeated": ("ipad",),
        "no_header": (),
        "late_header": (),
        "other_comment": (),
        "empty": (),
    }


def test_no_known_answers_folder_means_none(tmp_path: Path) -> None:
    assert load_known_answers(tmp_path) == {}
