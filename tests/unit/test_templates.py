"""Every mail template renders with the context the bot gives it; missing variables fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import UndefinedError

from bot.templates import Templates

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
BASE = {"org": "Promotoría Ejemplo", "bot": "mesa.ayuda@example.com", "horario": "lunes..."}
# The extra variables each template declares through the effect that uses it.
EXTRA = {
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
    "common/resumen_diario": {
        "fecha": "2026-11-23",
        "hora": "08:00",
        "nombre": "Sofía",
        "email": "sofia.ramirez@example.com",
        "asignados": [],
        "sin_asignar": [],
        "tareas": [],
        "proximos": [],
        "totales": {"abiertos": 0, "tareas": 0, "cerrados_ayer": 0},
    },
}


@pytest.mark.parametrize("name", TEMPLATES.names())
def test_each_mail_template_renders_in_spanish_with_a_subject(name: str) -> None:
    mail = TEMPLATES.mail(name, {**BASE, "case": CASE, **EXTRA.get(name, {})})
    assert mail.subject
    assert mail.body.strip()
    assert "{{" not in mail.body and "{%" not in mail.body


@pytest.mark.parametrize("name", [n for n in TEMPLATES.names() if n in EXTRA])
def test_a_missing_variable_is_an_error_not_a_blank(name: str) -> None:
    with pytest.raises(UndefinedError):
        TEMPLATES.mail(name, {**BASE, "case": CASE})
