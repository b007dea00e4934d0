"""The daily digest on a realistic week: every section, per recipient, as text and HTML."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any

from typer.testing import CliRunner

from bot.app import App, run_once
from bot.cli import cli
from bot.digest import digest_contexts, render_digest
from bot.rules.dsl import command, event, intent
from bot.rules.engine import Rejected
from storage.models import Task
from tests.conftest import mx

SOFIA = "sofia.ramirez@example.com"
DIEGO = "diego.hernandez@example.com"
PATRICIA = "patricia.morales@example.com"  # the supervisor, not a specialist
ANA = "ana.perez@example.com"
ROBERTO = "roberto.sanchez@example.com"  # a configured agent: shown by name
ELENA = "elena.torres@example.com"
HOSTILE = "<script>alert(1)</script> Facturas & notas"
# Monday 23 November 2026 at the digest's hour; Nov 16 (Revolución) was a holiday.
DIGEST_AT = mx(2026, 11, 23, 8, 0)


def _open(app: App, when: datetime, subject: str, requester: str = ANA) -> int:
    with app.db.transaction() as s:
        trigger = app.workflow.trigger(event("abrir"), requester, text="Me marca error")
        case, _ = app.workflow.open_case(
            s, "MA-006", trigger, when, subject=subject, requester=requester
        )
        return case.id


def _act(app: App, case_id: int, name: str, by: str, when: datetime, **values: str) -> None:
    with app.db.transaction() as s:
        case = app.workflow.get_case(s, case_id)
        trigger = app.workflow.trigger(command(name), by, values=values)
        result = app.workflow.handle(s, case, trigger, when)
    assert not isinstance(result, Rejected), result


def _reply(app: App, case_id: int, name: str, when: datetime) -> None:
    with app.db.transaction() as s:
        case = app.workflow.get_case(s, case_id)
        trigger = app.workflow.trigger(intent(name), case.requester, text="...")
        result = app.workflow.handle(s, case, trigger, when)
    assert not isinstance(result, Rejected), result


def _sweep(app: App, when: datetime) -> None:
    """Fire what came due, as the daemon would have by then."""
    app.sweeper.sweep_all(when)


@dataclass(frozen=True)
class Scene:
    """Case ids of the week before the digest, by what each one shows."""

    old: int  # Sofía's, open since Friday 13 (across a weekend and the holiday)
    late_taken: int  # Sofía's, taken after its SLA alert: no longer a breach
    waiting: int  # Diego's, solved and waiting for the requester's validation
    closed_friday: int  # Sofía's, validated on Friday
    closed_saturday: int  # Diego's, validated on Saturday
    closed_thursday: int  # closed before the period: not listed
    breach: int  # nobody took it; first response due Friday 09:00
    weekend: int  # arrived on Saturday; its SLA runs from Monday's opening
    tasks: dict[str, int]


def build_scene(app: App) -> Scene:
    """A week of the help desk through the real workflow, ending before Monday's digest."""
    old = _open(app, mx(2026, 11, 13, 10, 0), "Alta de usuario en BLife", ROBERTO)
    _act(app, old, "tomar", SOFIA, mx(2026, 11, 13, 10, 30), tipo="gestion_cuentas")

    closed_saturday = _open(app, mx(2026, 11, 18, 9, 0), "Reinstalar token")
    _act(app, closed_saturday, "tomar", DIEGO, mx(2026, 11, 18, 9, 10), tipo="acceso")
    closed_friday = _open(app, mx(2026, 11, 18, 10, 0), "Cambio de contraseña")
    _act(app, closed_friday, "tomar", SOFIA, mx(2026, 11, 18, 10, 15), tipo="acceso")
    _act(
        app,
        closed_friday,
        "resolver",
        SOFIA,
        mx(2026, 11, 18, 12, 0),
        solucion="Se restableció la contraseña",
    )

    late_taken = _open(app, mx(2026, 11, 19, 8, 0), "Consulta de comisiones")
    waiting = _open(app, mx(2026, 11, 19, 9, 0), "Error al subir documentos")
    _act(app, waiting, "tomar", DIEGO, mx(2026, 11, 19, 9, 30), tipo="soporte_tecnico")
    closed_thursday = _open(app, mx(2026, 11, 19, 10, 0), "Ticket repetido")
    _act(app, closed_thursday, "cerrar", SOFIA, mx(2026, 11, 19, 10, 5), motivo="Duplicado")
    _sweep(app, mx(2026, 11, 19, 12, 0))  # late_taken's first-response alert goes out
    _act(app, late_taken, "tomar", SOFIA, mx(2026, 11, 19, 14, 0), tipo="consultas")
    breach = _open(app, mx(2026, 11, 19, 15, 0), HOSTILE, ELENA)
    _act(
        app,
        closed_saturday,
        "resolver",
        DIEGO,
        mx(2026, 11, 19, 16, 0),
        solucion="Token reinstalado",
    )

    _sweep(app, mx(2026, 11, 20, 10, 0))  # breach's alert (due 09:00) goes out
    _act(
        app,
        waiting,
        "resolver",
        DIEGO,
        mx(2026, 11, 20, 11, 0),
        solucion="Se amplió el límite de carga",
    )
    _reply(app, closed_friday, "VALIDATED", mx(2026, 11, 20, 11, 30))
    _reply(app, closed_saturday, "VALIDATED", mx(2026, 11, 21, 10, 0))
    weekend = _open(app, mx(2026, 11, 21, 12, 0), "Acceso al portal de agentes")
    _sweep(app, mx(2026, 11, 23, 7, 59))

    with app.db.transaction() as s:
        created = mx(2026, 11, 19, 9, 0)
        rows = {
            "sofia": Task(
                case_id=old,
                kind="carta",
                title="Subir carta firmada al portal",
                assignee=SOFIA,
                due_at=mx(2026, 11, 20, 12, 0),
                created_at=created,
            ),
            "diego": Task(
                case_id=waiting,
                kind="llamada",
                title="Llamar al usuario para confirmar",
                assignee=DIEGO,
                due_at=mx(2026, 11, 24, 10, 0),
                created_at=created,
            ),
            "nadie": Task(
                case_id=None,
                kind="revision",
                title="Revisar buzón de rebotes",
                assignee="",
                created_at=created,
            ),
            "hecha": Task(
                case_id=old,
                kind="carta",
                title="Tarea ya terminada",
                assignee=SOFIA,
                status="done",
                created_at=created,
            ),
        }
        s.add_all(rows.values())
        s.flush()
        tasks = {key: task.id for key, task in rows.items()}
    return Scene(
        old=old,
        late_taken=late_taken,
        waiting=waiting,
        closed_friday=closed_friday,
        closed_saturday=closed_saturday,
        closed_thursday=closed_thursday,
        breach=breach,
        weekend=weekend,
        tasks=tasks,
    )


def _contexts(app: App, now: datetime = DIGEST_AT) -> dict[str, dict[str, Any]]:
    with app.db.sessions() as s:
        return {ctx["email"]: ctx for ctx in digest_contexts(app.workflow, s, now)}


def _ref(case_id: int) -> str:
    return f"MA-006 #{case_id}"


def _open_by_state(ctx: dict[str, Any]) -> dict[str, list[str]]:
    """The open-cases section as state label -> refs, in the order shown."""
    (group,) = ctx["abiertos"]
    assert group["process"] == "MA-006" and group["process_name"] == "Gestión de tickets"
    return {e["state_label"]: [c["ref"] for c in e["casos"]] for e in group["estados"]}


def test_each_section_for_each_recipient(app: App) -> None:
    sc = build_scene(app)
    ctx = _contexts(app)
    assert list(ctx) == [SOFIA, DIEGO, PATRICIA]
    sofia, diego, patricia = ctx[SOFIA], ctx[DIEGO], ctx[PATRICIA]
    assert sofia["fecha_texto"] == "lunes 23 de noviembre de 2026"
    assert (sofia["todo"], diego["todo"], patricia["todo"]) == (False, False, True)

    # Open cases: a specialist sees theirs and the unassigned ones; the supervisor all.
    pending, in_progress = "Pendiente de atención", "En proceso"
    assert _open_by_state(sofia) == {
        pending: [_ref(sc.breach), _ref(sc.weekend)],
        in_progress: [_ref(sc.old), _ref(sc.late_taken)],
    }
    assert _open_by_state(diego) == {
        pending: [_ref(sc.breach), _ref(sc.weekend)],
        "En validación": [_ref(sc.waiting)],
    }
    assert _open_by_state(patricia) == {
        pending: [_ref(sc.breach), _ref(sc.weekend)],
        in_progress: [_ref(sc.old), _ref(sc.late_taken)],
        "En validación": [_ref(sc.waiting)],
    }
    rows = {c["ref"]: c for g in patricia["abiertos"] for e in g["estados"] for c in e["casos"]}
    old = rows[_ref(sc.old)]
    assert (old["requester_name"], old["assignee_name"]) == ("Roberto Sánchez", "Sofía Ramírez")
    assert rows[_ref(sc.breach)]["assignee_name"] == "Sin asignar"
    # Ages in business days: Friday 13 -> Monday 23 skips two weekends and Monday 16.
    assert old["edad"] == 5 and old["edad_texto"] == "5 días hábiles"
    assert rows[_ref(sc.breach)]["edad"] == 2  # Thursday 19 -> Friday 20, Monday 23
    assert rows[_ref(sc.waiting)]["edad"] == 2
    # Arrived on Saturday: the team has not had a full business day yet.
    assert rows[_ref(sc.weekend)]["edad"] == 0
    assert rows[_ref(sc.weekend)]["edad_texto"] == "menos de 1 día hábil"

    # Tasks: own and unassigned ones; the supervisor sees every open task.
    t = sc.tasks
    assert [x["id"] for x in sofia["tareas"]] == [t["sofia"], t["nadie"]]
    assert [x["id"] for x in diego["tareas"]] == [t["diego"], t["nadie"]]
    assert [x["id"] for x in patricia["tareas"]] == [t["sofia"], t["diego"], t["nadie"]]
    overdue = sofia["tareas"][0]
    assert overdue["vencida"] and overdue["vence"] == "20/11/2026 12:00"
    assert overdue["case_ref"] == _ref(sc.old)
    assert sofia["tareas"][1]["assignee_name"] == "Sin asignar"

    # Waiting on others: the solved case waits on the requester; next reminder Tuesday.
    assert sofia["en_espera"] == []
    for person in (diego, patricia):
        (row,) = person["en_espera"]
        assert row["ref"] == _ref(sc.waiting)
        assert row["espera"] == "el usuario"
        assert row["desde"] == "20/11/2026 11:00"
        assert row["proximo"] == {
            "kind": "recordatorio_validacion",
            "label": "Recordatorio de validación al usuario",
            "vence": "24/11/2026 11:00",
        }

    # SLA: only the ticket nobody took; the one taken late and the weekend one are not.
    for person in (sofia, diego, patricia):
        (row,) = person["sla"]
        assert row["ref"] == _ref(sc.breach)
        assert row["limite"] == "Límite de primera respuesta"
        assert row["vencio"] == "20/11/2026 09:00"
        assert row["retraso"] == "6 h"  # Friday 09:00-15:00; Monday has not opened yet

    # Closed since the previous business day (Friday), weekend included; Thursday's not.
    assert sofia["cerrados_periodo"] == "del viernes 20 al domingo 22 de noviembre"
    assert [c["ref"] for c in sofia["cerrados"]] == [_ref(sc.closed_friday)]
    assert [c["ref"] for c in diego["cerrados"]] == [_ref(sc.closed_saturday)]
    assert [c["ref"] for c in patricia["cerrados"]] == [
        _ref(sc.closed_friday),
        _ref(sc.closed_saturday),
    ]
    friday = patricia["cerrados"][0]
    assert friday["cerrado"] == "20/11/2026 11:30" and friday["motivo"] == "validado"

    for person in (sofia, diego, patricia):
        assert person["totales"] == {
            "abiertos": 5,
            "sin_asignar": 2,
            "en_espera": 1,
            "sla": 1,
            "tareas": 3,
            "cerrados": 2,
        }


def test_text_says_so_when_a_section_is_empty(app: App) -> None:
    with app.db.sessions() as s:
        text = render_digest(app.workflow, s, mx(2026, 11, 24, 8, 0))
    assert text.count("Para: ") == 3
    for line in (
        "No hay casos abiertos.",
        "No hay tareas pendientes.",
        "Ningún caso está esperando respuesta de otras personas.",
        "No hay casos fuera de SLA.",
        "No se cerró ningún caso ayer, lunes 23 de noviembre.",
    ):
        assert text.count(line) == 3, line


def test_a_breach_is_listed_before_the_alert_fires_and_leaves_once_taken(app: App) -> None:
    case_id = _open(app, mx(2026, 11, 20, 9, 0), "Sin acceso al correo")  # due 13:00
    assert _contexts(app, mx(2026, 11, 20, 12, 59))[SOFIA]["sla"] == []
    # No sweep has run: the deadline alone makes it a breach.
    (row,) = _contexts(app, mx(2026, 11, 20, 14, 0))[SOFIA]["sla"]
    assert (row["ref"], row["vencio"], row["retraso"]) == (_ref(case_id), "20/11/2026 13:00", "1 h")
    _sweep(app, mx(2026, 11, 20, 14, 0))
    assert len(_contexts(app, mx(2026, 11, 20, 14, 5))[SOFIA]["sla"]) == 1
    _act(app, case_id, "tomar", SOFIA, mx(2026, 11, 20, 14, 10), tipo="acceso")
    assert _contexts(app, mx(2026, 11, 20, 14, 15))[SOFIA]["sla"] == []


class _Tags(HTMLParser):
    """Start and end tags of a document, to check it is well formed."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []
        self.closed: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.opened.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self.closed.append(tag)


def _outbox(app: App) -> list[EmailMessage]:
    folder = app.config.mail.maildir / "outbox" / "new"
    return [
        message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(folder.iterdir())
    ]


def test_digest_mail_has_an_escaped_html_alternative(app: App) -> None:
    sc = build_scene(app)
    report = run_once(app, DIGEST_AT)
    assert report.sweep.jobs == ["barrido_agentes", "resumen_diario"]
    assert report.dispatch.failed == 0
    sent = _outbox(app)
    digests = {str(m["To"]): m for m in sent if str(m["Subject"]).startswith("Resumen diario")}
    assert set(digests) == {SOFIA, DIEGO, PATRICIA}
    msg = digests[PATRICIA]
    assert msg["Subject"] == "Resumen diario de la Mesa de Ayuda, lunes 23 de noviembre de 2026"
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"

    text = plain.get_content()
    assert HOSTILE in text  # plain text is shown as is, never escaped
    for heading in (
        "CASOS ABIERTOS POR PROCESO Y ESTADO (5)",
        "TAREAS PENDIENTES (3)",
        "CASOS EN ESPERA DE OTRAS PERSONAS (1)",
        "CASOS FUERA DE SLA (1)",
        "CASOS CERRADOS DEL VIERNES 20 AL DOMINGO 22 DE NOVIEMBRE (2)",
    ):
        assert heading in text, heading

    body = html.get_content()
    assert "<script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Facturas &amp; notas" in body
    assert "Próximo aviso" in body and "Recordatorio de validación al usuario" in body
    assert _ref(sc.closed_saturday) in body and "Sofía Ramírez" in body
    tags = _Tags()
    tags.feed(body)
    tags.close()
    assert "script" not in tags.opened
    for tag in ("html", "body", "table", "tr", "td", "th", "h2", "p"):
        assert tags.opened.count(tag) == tags.closed.count(tag), tag
    assert not any(x in body for x in ("src=", "href=", "<link", "url(")), "external resource"

    # A specialist's HTML is filtered like the text: Diego's waiting case is not Sofía's.
    sofia_html = digests[SOFIA].get_body(preferencelist=("html",))
    assert sofia_html is not None
    assert "Ningún caso está esperando" in sofia_html.get_content()

    # Mail without an HTML template is still a single text/plain part.
    acks = [m for m in sent if str(m["To"]) == ELENA]
    assert acks and all(m.get_content_type() == "text/plain" for m in acks)


def test_digest_print_shows_every_section(app: App, database_url: str) -> None:
    sc = build_scene(app)
    config_path = app.config.mail.maildir.parent.parent / "config.toml"
    result = CliRunner().invoke(
        cli,
        ["--config", str(config_path), "--now", "2026-11-23T08:00", "digest", "--print"],
        env={"MESABOT_STORAGE_URL": database_url},
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert [line for line in out.splitlines() if line.startswith("Para: ")] == [
        f"Para: {SOFIA}",
        f"Para: {DIEGO}",
        f"Para: {PATRICIA}",
    ]
    for heading in (
        "CASOS ABIERTOS POR PROCESO Y ESTADO",
        "TAREAS PENDIENTES",
        "CASOS EN ESPERA DE OTRAS PERSONAS",
        "CASOS FUERA DE SLA",
        "CASOS CERRADOS",
        "TOTALES DE LA MESA",
    ):
        assert out.count(heading) == 3, heading
    assert "<table" not in out  # the plain text, not the HTML
    assert f"{_ref(sc.old)} · Alta de usuario en BLife" in out
    assert "Antigüedad: 5 días hábiles" in out
    assert "Próximo aviso: Recordatorio de validación al usuario, 24/11/2026 11:00" in out
    assert not any((app.config.mail.maildir / "outbox" / "new").iterdir())
