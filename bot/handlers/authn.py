"""Was the sender of an approval really who the From header says (CONTRACT: who may approve)?

Two sources count. On Graph/EWS the server's own verdict that the sender authenticated
inside the organization. Otherwise an Authentication-Results header (RFC 8601) written by
one of our own servers, named by its authserv-id in `[mail] trusted_authserv_ids`, that
reports dmarc=pass for the From domain, or a dkim=pass or spf=pass aligned with it.

Only the topmost header of a trusted server is read: our border server adds its own above
whatever the message already carried, so a forged copy further down never counts (RFC 8601
section 5 also asks that server to remove copies claiming its name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Comments in header values: "(...)", possibly nested one level, as servers write them.
_COMMENT = re.compile(r"\((?:[^()]|\([^()]*\))*\)")
_RESULT = re.compile(r"^\s*([a-z0-9_-]+)(?:/\d+)?\s*=\s*([a-z]+)\b(.*)$", re.IGNORECASE | re.DOTALL)
_PROPERTY = re.compile(r"\b([a-z]+)\.([a-z0-9_-]+)\s*=\s*(\"[^\"]*\"|[^\s;]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Authentication:
    """The verdict, and why, for the audit trail (Spanish, shown to specialists)."""

    ok: bool
    reason: str

    def as_json(self) -> dict[str, object]:
        """As stored in a message's detail."""
        return {"ok": self.ok, "reason": self.reason}


@dataclass(frozen=True)
class _Result:
    """One method's result in an Authentication-Results header."""

    method: str
    result: str
    properties: dict[str, str]


def authenticate(
    sender: str,
    auth_results: Sequence[str],
    trusted_authserv_ids: Iterable[str],
    server_verdict: bool | None = None,
) -> Authentication:
    """Whether the From address is authenticated, by the server's verdict or the header."""
    if server_verdict is True:
        return Authentication(True, "el servidor de correo lo marca como interno y autenticado")
    domain = sender.rpartition("@")[2].strip().lower()
    if not domain:
        return Authentication(False, "el remitente no tiene dominio")
    trusted = {t.strip().lower() for t in trusted_authserv_ids if t.strip()}
    if not trusted:
        return Authentication(False, "no hay servidores de confianza (trusted_authserv_ids)")
    for value in auth_results:
        authserv_id, results = _parse(value)
        if authserv_id not in trusted:
            continue
        # The topmost header of a trusted server decides, whatever it says.
        for r in results:
            if r.result != "pass":
                continue
            if r.method == "dmarc" and _aligned(r.properties.get("header.from", ""), domain):
                return Authentication(True, f"dmarc=pass para {domain} ({authserv_id})")
            if r.method == "dkim" and _aligned(r.properties.get("header.d", ""), domain):
                return Authentication(True, f"dkim=pass alineado con {domain} ({authserv_id})")
            if r.method == "spf" and _aligned(
                r.properties.get("smtp.mailfrom", "").rpartition("@")[2], domain
            ):
                return Authentication(True, f"spf=pass alineado con {domain} ({authserv_id})")
        summary = ", ".join(f"{r.method}={r.result}" for r in results) or "sin resultados"
        return Authentication(False, f"{authserv_id} informa {summary} para {domain}")
    return Authentication(False, "ningún servidor de confianza autenticó el mensaje")


def _parse(value: str) -> tuple[str, list[_Result]]:
    """The authserv-id and the results of one header value."""
    text = _COMMENT.sub(" ", value)
    head, *parts = _split(text)
    first = head.strip().split()[0].lower() if head.strip() else ""
    # Exchange Online writes results with no authserv-id at all: such a header names no
    # server, so it can never be a trusted one.
    authserv_id = "" if "=" in first else first
    if not authserv_id and first:
        parts = [head, *parts]
    results: list[_Result] = []
    for part in parts:
        match = _RESULT.match(part)
        if match is None:
            continue  # "none", or something this reader does not understand
        method, result, rest = match.groups()
        properties = {
            f"{ptype.lower()}.{prop.lower()}": val.strip('"').lower()
            for ptype, prop, val in _PROPERTY.findall(rest)
        }
        results.append(_Result(method.lower(), result.lower(), properties))
    return authserv_id, results


def _split(text: str) -> list[str]:
    """Split on semicolons outside quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _aligned(authenticated: str, from_domain: str) -> bool:
    """Relaxed alignment (RFC 7489): the same domain, or one a subdomain of the other."""
    d = authenticated.strip().lower().rstrip(".")
    if not d or "." not in d:
        return False
    return d == from_domain or from_domain.endswith("." + d) or d.endswith("." + from_domain)
