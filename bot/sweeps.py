"""The daily CAM Pegasus sweep for new agents (MA-002 paso 1), run as a recurring job.

Every business day at [agents] sweep_time the sweep lists the agents in "Solicitado" and
opens an MA-002 case for each one that has none yet (the case_keys row "pegasus"/record id
makes that exactly once, even with two daemons). Administrative users (MA-001) are not
agents ([agents] types); types listed in exclude_types (BPN consultants) are left out and
listed in the digest. Cases whose promotoría had no
zone are routed again when the configuration now gives one. What the sweep saw is kept in
the cursor row ("ma002", "barrido") for the digest.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import fold_name
from bot.rules.dsl import event
from bot.rules.effects import SendMail
from bot.systems.pegasus import PegasusRecord
from bot.workflow import SYSTEM_ACTOR, Workflow, case_tag_ref
from storage.models import Case, CaseKey, Cursor, Event

log = logging.getLogger(__name__)

PROCESS = "MA-002"
SYSTEM = "pegasus"
CURSOR = ("ma002", "barrido")
# Keys looked up per query: well under every database's limit on bound parameters.
CHUNK = 500


class TypeWords:
    """Words of CAM Pegasus types ("BPN"), found in a record's type ignoring case and accents."""

    def __init__(self, words: Sequence[str]) -> None:
        folded = [re.escape(fold_name(w)) for w in words if w.strip()]
        self._pattern = re.compile(rf"\b(?:{'|'.join(folded)})\b") if folded else None

    def found_in(self, record: PegasusRecord) -> bool:
        """Whether the record's type has one of the words."""
        return (
            self._pattern is not None and self._pattern.search(fold_name(record.tipo)) is not None
        )


def is_agent(record: PegasusRecord, agent_types: TypeWords) -> bool:
    """An agent, not an administrative user: by type, or with no type by an agent key."""
    return agent_types.found_in(record) if record.tipo.strip() else bool(record.clave.strip())


def agents_sweep_job(wf: Workflow, s: Session, now: datetime) -> None:
    """Open a case for each new agent in "Solicitado"; route cases that now have a zone."""
    pegasus = wf.pegasus
    if pegasus is None or not pegasus.reads:
        _record(s, now, {"at": now.isoformat(), "manual": True})
        return
    # An unreachable CAM Pegasus raises here: the timer is retried, and parked with an
    # alert after repeated failures.
    records = pegasus.list_by_status("Solicitado")
    agent_types = TypeWords(wf.config.agents.types)
    excluded = TypeWords(wf.config.agents.exclude_types)
    left_out = [r for r in records if excluded.found_in(r)]
    wanted = [r for r in records if r.id and is_agent(r, agent_types) and not excluded.found_in(r)]
    known = _known_keys(s, [r.id for r in wanted])
    opened: list[str] = []
    failed: list[dict[str, str]] = []
    for record in wanted:
        if record.id in known:
            continue
        try:
            with s.begin_nested():
                opened.append(_open(wf, s, record, now))
        except Exception as exc:  # one odd record must not stop the others
            log.exception("agente %s: no se pudo abrir el caso", record.id)
            failed.append({"id": record.id, "nombre": record.nombre, "error": str(exc)[:300]})
    routed = _route_waiting(wf, s, now)
    summary: dict[str, Any] = {
        "at": now.isoformat(),
        "solicitados": len(records),
        "nuevos": opened,
        "ruteados": routed,
        "excluidos": [_shown(r) for r in left_out],
        "errores": failed,
    }
    _record(s, now, summary)
    if failed:
        alert = SendMail(
            to=("@specialists",),
            template="MA-002/barrido_errores",
            context={"errores": failed},
            auto="auto-generated",
            immediate=True,
        )
        wf.queue_mail(s, None, alert, now)


def _known_keys(s: Session, ids: Sequence[str]) -> set[str]:
    """Which of these CAM Pegasus records already have a case."""
    known: set[str] = set()
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        known.update(
            s.scalars(
                select(CaseKey.key).where((CaseKey.system == SYSTEM) & CaseKey.key.in_(chunk))
            )
        )
    return known


def _open(wf: Workflow, s: Session, record: PegasusRecord, now: datetime) -> str:
    """Open the agent's case and bind it to the record; returns its reference."""
    agent = {
        "id": record.id,
        "clave": record.clave,
        "nombre": record.nombre,
        "rfc": record.rfc,
        "correo": record.correo.strip().lower(),
        "promotoria": record.promotoria,
        "cedula": record.cedula,
        "tipo": record.tipo,
    }
    trigger = wf.trigger(event("abrir"), SYSTEM_ACTOR, facts={"agente": agent})
    clave = f" (clave {record.clave})" if record.clave else ""
    case, _ = wf.open_case(
        s,
        PROCESS,
        trigger,
        now,
        subject=f"Alta de agente {record.nombre}{clave}",
        requester=agent["correo"],
    )
    s.add(CaseKey(case_id=case.id, system=SYSTEM, key=record.id[:200], created_at=now))
    s.flush()  # a second sweeper racing on the same record fails here, on the unique key
    return case_tag_ref(case)


def _route_waiting(wf: Workflow, s: Session, now: datetime) -> list[str]:
    """Cases waiting for a zone whose promotoría the configuration now places."""
    routed: list[str] = []
    waiting = s.scalars(
        select(Case).where(
            (Case.process == PROCESS) & (Case.state == "sin_zona") & Case.closed_at.is_(None)
        )
    )
    for case in waiting:
        zone = wf.config.zone_of_promotoria(str(case.data.get("agente", {}).get("promotoria", "")))
        if zone is None:
            continue
        trigger = wf.trigger(event("zona_encontrada"), SYSTEM_ACTOR, facts={"zona": zone.name})
        wf.handle(s, case, trigger, now)
        routed.append(case_tag_ref(case))
    return routed


def _shown(record: PegasusRecord) -> dict[str, str]:
    """A record as the digest lists it."""
    return {
        "clave": record.clave,
        "nombre": record.nombre,
        "promotoria": record.promotoria,
        "tipo": record.tipo,
    }


def _record(s: Session, now: datetime, summary: dict[str, Any]) -> None:
    """Keep what the sweep saw (for the digest) and an audit event."""
    channel, key = CURSOR
    value = json.dumps(summary, ensure_ascii=False)
    row = s.get(Cursor, (channel, key))
    if row is None:
        s.add(Cursor(channel=channel, key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now
    s.add(
        Event(
            case_id=None,
            at=now,
            kind="sweep",
            actor=SYSTEM_ACTOR,
            steps=["MA-002 paso 1"],
            detail={
                k: (len(v) if isinstance(v, list) and k != "errores" else v)
                for k, v in summary.items()
            },
        )
    )


def last_sweep(s: Session) -> dict[str, Any] | None:
    """What the latest sweep saw, for the digest."""
    row = s.get(Cursor, CURSOR)
    if row is None or not row.value:
        return None
    found: dict[str, Any] = json.loads(row.value)
    return found


__all__ = ["TypeWords", "agents_sweep_job", "is_agent", "last_sweep"]
