"""Exchange Online through Microsoft Graph: httpx for the REST calls, msal for app tokens.

Inbound is a delta query on the inbox (only messages created since the stored deltaLink);
the deltaLink is stored in the cursors table only at `done`. Every request asks for
immutable ids, so a message keeps its key when it is moved to the done or quarantine
folder. Outbound is sendMail in MIME format, which keeps our own headers.
"""

from __future__ import annotations

import base64
import email.utils
import functools
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from bot.channels.base import Check, InboundMessage
from bot.channels.state import CursorStore
from bot.config import Config
from bot.errors import ChannelAuthFailed, ChannelUnavailable, MessageRejected
from storage.db import Database

log = logging.getLogger(__name__)

GRAPH = "https://graph.microsoft.com/v1.0"
LOGIN = "https://login.microsoftonline.com"
SCOPES = ["https://graph.microsoft.com/.default"]
IMMUTABLE_IDS = 'IdType="ImmutableId"'
TEXT_BODIES = 'outlook.body-content-type="text"'
QUARANTINE_FOLDER = "Cuarentena"
SIZE_PROPERTY = "Integer 0x0E08"  # PidTagMessageSize
SIZE_TAG = 0x0E08
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MAX_WAIT = 30.0  # a longer Retry-After is left to the caller's own backoff
MAX_TRIES = 3  # attempts in all, the first one included
RESYNC_MARGIN = timedelta(days=1)
# Error codes that, like 410 Gone, mean the delta token is no longer usable.
SYNC_RESET_CODES = frozenset(
    {"syncstatenotfound", "syncstateinvalid", "resyncrequired", "errorinvalidsyncstatedata"}
)
# Error codes that say the mailbox itself is wrong: a configuration problem, not a blip.
MAILBOX_CODES = frozenset({"errorinvaliduser", "mailboxnotenabledforrestapi", "mailboxnotfound"})

FIX_SECRET = (
    "En Microsoft Entra ID (Registros de aplicaciones) revise el id de inquilino "
    "(tenant_id), el id de la aplicación (client_id) y que el secreto de cliente no haya "
    "caducado; si caducó, cree uno nuevo y póngalo en la variable de entorno que indica "
    "[mail.graph] secret_env."
)
FIX_NETWORK = (
    "Compruebe que este equipo llega a https://graph.microsoft.com y a "
    "https://login.microsoftonline.com (conexión a internet, proxy o firewall)."
)
FIX_PERMISSIONS = (
    "En Microsoft Entra ID dé a la aplicación los permisos de aplicación Mail.ReadWrite y "
    "Mail.Send de Microsoft Graph, con consentimiento de administrador; si una directiva de "
    "acceso de aplicaciones (New-ApplicationAccessPolicy) limita la aplicación, incluya el "
    "buzón {mailbox} en el grupo que permite."
)
FIX_MAILBOX = (
    "Revise [mail.graph] mailbox: debe ser un buzón de Exchange Online que exista (de "
    "usuario con licencia o compartido)."
)


class TokenProvider(Protocol):
    """Gives a bearer token for Graph; `refresh` asks for a new one (the last was refused)."""

    def __call__(self, refresh: bool = False) -> str:
        """The access token; raises ChannelAuthFailed or ChannelUnavailable."""
        ...


class _MailboxNotFound(ChannelAuthFailed):
    """The configured mailbox does not exist in Exchange Online."""


class _GraphError(Exception):
    """A 4xx answer the caller decides about (not found, sync reset, rejected)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        """Keep Graph's status, error code and message."""
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @property
    def sync_reset(self) -> bool:
        """The delta token expired or is unknown: a full round must start again."""
        return self.status == 410 or self.code.lower() in SYNC_RESET_CODES


@dataclass(frozen=True)
class _Entry:
    """A message as the delta round listed it."""

    id: str
    internet_id: str | None
    received: datetime | None
    is_read: bool
    size: int | None


class GraphChannel:
    """One Exchange Online mailbox through Microsoft Graph, with application permissions."""

    def __init__(
        self,
        client: httpx.Client,
        token: TokenProvider,
        mailbox: str,
        cursors: CursorStore,
        *,
        done_folder: str | None = None,
        max_message_bytes: int | None = None,
        page_size: int = 50,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        owns_client: bool = False,
    ) -> None:
        """Wire the channel; `owns_client` makes `close` close the HTTP client."""
        self.mailbox = mailbox
        self.done_folder = done_folder
        self.max_message_bytes = max_message_bytes
        self.page_size = page_size
        self._client = client
        self._token = token
        self._cursors = cursors
        self._sleep = sleep
        self._now = now
        self._owns_client = owns_client
        self._user = f"{GRAPH}/users/{quote(mailbox, safe='@')}"
        self._folders: dict[str, str] = {}
        # Set only when a fetch ran to its end: (deltaLink, when that round started).
        self._pending: tuple[str, datetime] | None = None

    # --- inbound ------------------------------------------------------------------------

    def fetch(self) -> Iterator[InboundMessage]:
        """New inbox messages, oldest first; known Message-IDs are settled, not downloaded."""
        self._pending = None
        started = self._now()
        entries, delta_link = self._delta_round()
        wanted = [e.internet_id for e in entries if e.internet_id]
        known = self._cursors.known_message_ids(wanted) if wanted else set()
        for entry in entries:
            if entry.internet_id in known:
                # Already recorded, so its effects are committed: what `ack` is for, and
                # what the pipeline would do with it after downloading it for nothing.
                self._settle(entry.id, entry.is_read)
                continue
            message = self._download(entry)
            if message is not None:
                yield message
        self._pending = (delta_link, started)

    def ack(self, key: str) -> None:
        """Mark the message read and, with a done folder, move it there."""
        self._settle(key, False)

    def quarantine(self, key: str) -> None:
        """Move the message, untouched, to the quarantine folder."""
        target = self._folder(QUARANTINE_FOLDER)
        try:
            self._move(key, target)
        except _GraphError as err:
            if err.status != 404:  # a person moved or deleted it meanwhile
                raise self._unavailable(err) from err

    def done(self) -> None:
        """Store the deltaLink of the last complete fetch; a cut-short pass stores nothing."""
        if self._pending is None:
            return
        delta_link, started = self._pending
        self._cursors.put_many({"delta": delta_link, "since": started.astimezone(UTC).isoformat()})
        self._pending = None

    # --- outbound -----------------------------------------------------------------------

    def send(self, raw: bytes, key: str) -> str:
        """sendMail in MIME format, unless Sent Items already holds this Message-ID."""
        try:
            if self._already_sent(key):
                return key
        except _GraphError as err:
            raise self._unavailable(err) from err
        try:
            self._request(
                "POST",
                f"{self._user}/sendMail",
                content=base64.b64encode(raw),
                headers={"Content-Type": "text/plain"},
            )
        except _GraphError as err:
            raise MessageRejected(
                f"Exchange Online rechazó el mensaje {key}: {err.code}: {err.message}"
            ) from err
        return key

    # --- set-up, diagnosis, shutdown ----------------------------------------------------

    def ensure(self) -> None:
        """Find or create the quarantine folder and the done folder."""
        self._folder(QUARANTINE_FOLDER)
        if self.done_folder:
            self._folder(self.done_folder)

    def check(self) -> list[Check]:
        """Token, inbox, done and quarantine folders: what fails, and how to fix it."""
        name = "Graph: token de acceso"
        try:
            self._token(False)
        except ChannelAuthFailed as exc:
            return [Check(name, False, str(exc), FIX_SECRET)]
        except ChannelUnavailable as exc:
            return [Check(name, False, str(exc), FIX_NETWORK)]
        checks = [Check(name, True, "Microsoft Entra ID emitió un token para la aplicación")]
        inbox = self._check("Graph: bandeja de entrada", self._inbox_summary)
        checks.append(inbox)
        if not inbox.ok:
            return checks
        folders = [self.done_folder] if self.done_folder else []
        for folder in (*folders, QUARANTINE_FOLDER):
            label = f"Graph: carpeta {folder}"
            checks.append(self._check(label, functools.partial(self._folder_summary, folder)))
        return checks

    def close(self) -> None:
        """Close the HTTP client if this channel made it."""
        if self._owns_client:
            self._client.close()

    # --- delta rounds -------------------------------------------------------------------

    def _delta_round(self) -> tuple[list[_Entry], str]:
        """Every message the round lists, oldest first, and the round's deltaLink."""
        stored = self._cursors.get("delta")
        since = self._cursors.get("since")
        for attempt in range(2):
            try:
                if stored:
                    return self._collect(stored, None, unread_only=False)
                return self._collect(*self._initial_request(since))
            except _GraphError as err:
                if not err.sync_reset or attempt:
                    raise self._unavailable(err) from err
                log.warning("Graph delta token no longer valid (%s); full round again", err)
                self._cursors.put("delta", None)
                stored = None
        raise AssertionError("unreachable")

    def _initial_request(self, since: str | None) -> tuple[str, dict[str, str], bool]:
        """The first request of a full round, and whether to skip mail already read."""
        params = {
            # Only additions: our own isRead changes must not bring messages back.
            "changeType": "created",
            "$select": "id,internetMessageId,receivedDateTime,isRead",
            "$expand": f"singleValueExtendedProperties($filter=id eq '{SIZE_PROPERTY}')",
        }
        if since is None:
            # The first run on a mailbox that may hold years of mail people already
            # handled: only unread messages are new.
            return f"{self._user}/mailFolders/inbox/messages/delta", params, True
        # After a reset the round is bounded by the last complete pass instead, read or
        # not: a person may have opened a message the bot has not processed yet.
        start = datetime.fromisoformat(since).astimezone(UTC) - RESYNC_MARGIN
        params["$filter"] = f"receivedDateTime ge {start:%Y-%m-%dT%H:%M:%SZ}"
        return f"{self._user}/mailFolders/inbox/messages/delta", params, False

    def _collect(
        self, url: str, params: Mapping[str, str] | None, unread_only: bool
    ) -> tuple[list[_Entry], str]:
        """Follow every nextLink to the deltaLink; later pages override earlier ones."""
        entries: dict[str, _Entry] = {}
        prefer = f"odata.maxpagesize={self.page_size}"
        while True:
            page = self._request("GET", url, params=params, prefer=prefer).json()
            params = None  # the links carry the query from here on
            for item in page.get("value", []):
                if "@removed" in item:
                    entries.pop(str(item.get("id")), None)
                    continue
                entry = _entry(item)
                if unread_only and entry.is_read:
                    continue
                entries.pop(entry.id, None)
                entries[entry.id] = entry
            if "@odata.nextLink" in page:
                url = self._own_link(page["@odata.nextLink"])
            elif "@odata.deltaLink" in page:
                delta_link = self._own_link(page["@odata.deltaLink"])
                break
            else:
                raise ChannelUnavailable("Microsoft Graph respondió sin nextLink ni deltaLink")
        listed = list(entries.values())
        order = {entry.id: n for n, entry in enumerate(listed)}
        # Delta order is not guaranteed: sort by arrival, listing order breaking ties.
        listed.sort(key=lambda e: (e.received or datetime.min.replace(tzinfo=UTC), order[e.id]))
        return listed, delta_link

    def _own_link(self, link: object) -> str:
        """A link from Graph, refused unless it points back at Graph (it gets our token)."""
        if not isinstance(link, str) or not link.startswith(f"{GRAPH}/"):
            raise ChannelUnavailable(f"Microsoft Graph devolvió un enlace inesperado: {link!r}")
        return link

    def _download(self, entry: _Entry) -> InboundMessage | None:
        """The message's MIME and Graph's own view of it; None if it vanished meanwhile."""
        limit = self.max_message_bytes
        if limit is not None and entry.size is not None and entry.size > limit:
            return _oversize(entry, entry.size)
        url = f"{self._user}/messages/{quote(entry.id, safe='')}"
        try:
            meta = self._request(
                "GET",
                url,
                params={"$select": "uniqueBody,internetMessageHeaders"},
                prefer=TEXT_BODIES,
            ).json()
            raw = self._request("GET", f"{url}/$value").content
        except _GraphError as err:
            if err.status == 404:  # moved or deleted by a person since the round
                return None
            raise self._unavailable(err) from err
        if limit is not None and len(raw) > limit:
            return _oversize(entry, len(raw))
        body = meta.get("uniqueBody") or {}
        unique = body.get("content") if body.get("contentType", "").lower() == "text" else None
        return InboundMessage(
            channel="mail",
            key=entry.id,
            raw=raw,
            received_at=entry.received,
            authenticated=_authenticated(meta.get("internetMessageHeaders")),
            unique_body=unique if isinstance(unique, str) else None,
        )

    def _settle(self, key: str, is_read: bool) -> None:
        """Mark read (unless it already is) and move to the done folder when there is one."""
        url = f"{self._user}/messages/{quote(key, safe='')}"
        target = self._folder(self.done_folder) if self.done_folder else None
        try:
            if not is_read:
                self._request("PATCH", url, json={"isRead": True})
            if target is not None:
                self._move(key, target)
        except _GraphError as err:
            if err.status != 404:  # a person moved or deleted it meanwhile
                raise self._unavailable(err) from err

    def _move(self, key: str, folder_id: str) -> None:
        """Move a message; its immutable id stays the same."""
        url = f"{self._user}/messages/{quote(key, safe='')}/move"
        self._request("POST", url, json={"destinationId": folder_id})

    def _already_sent(self, key: str) -> bool:
        """Whether Sent Items holds a message with this Message-ID."""
        page = self._request(
            "GET",
            f"{self._user}/mailFolders/sentitems/messages",
            params={
                "$filter": f"internetMessageId eq '{_odata_string(key)}'",
                "$select": "id",
                "$top": "1",
            },
        ).json()
        return bool(page.get("value"))

    # --- folders ------------------------------------------------------------------------

    def _folder(self, path: str) -> str:
        """The folder's id, found or created; any refusal is a channel error."""
        try:
            return self._folder_id(path)
        except _GraphError as err:
            raise self._unavailable(err) from err

    def _folder_id(self, path: str) -> str:
        """The id of a folder under the mailbox root ("A/B" nests), created if missing."""
        if path in self._folders:
            return self._folders[path]
        parent = "msgfolderroot"
        for name in (part.strip() for part in path.split("/") if part.strip()):
            parent = self._child_folder(parent, name)
        self._folders[path] = parent
        return parent

    def _child_folder(self, parent: str, name: str) -> str:
        """Find a child folder by display name, or create it."""
        url = f"{self._user}/mailFolders/{quote(parent, safe='')}/childFolders"
        query = {"$filter": f"displayName eq '{_odata_string(name)}'", "$select": "id"}
        found = self._request("GET", url, params=query).json().get("value") or []
        if found:
            return str(found[0]["id"])
        try:
            created = self._request("POST", url, json={"displayName": name}).json()
        except _GraphError as err:
            if err.status != 409:
                raise
            # Made by someone else in between (ErrorFolderExists): look again.
            found = self._request("GET", url, params=query).json().get("value") or []
            if not found:
                raise
            return str(found[0]["id"])
        return str(created["id"])

    def _inbox_summary(self) -> str:
        """How the inbox looks, for `check`."""
        inbox = self._request(
            "GET",
            f"{self._user}/mailFolders/inbox",
            params={"$select": "id,totalItemCount,unreadItemCount"},
        ).json()
        return (
            f"{self.mailbox}: {inbox.get('unreadItemCount', '?')} sin leer de "
            f"{inbox.get('totalItemCount', '?')}"
        )

    def _folder_summary(self, path: str) -> str:
        """Find or create a folder, for `check`."""
        self._folder_id(path)
        return f"la carpeta '{path}' existe en {self.mailbox}"

    def _check(self, name: str, probe: Callable[[], str]) -> Check:
        """Run one probe and turn its failure into a line with a fix."""
        try:
            detail = probe()
        except _MailboxNotFound as exc:
            return Check(name, False, str(exc), FIX_MAILBOX)
        except ChannelAuthFailed as exc:
            return Check(name, False, str(exc), FIX_PERMISSIONS.format(mailbox=self.mailbox))
        except ChannelUnavailable as exc:
            return Check(name, False, str(exc), FIX_NETWORK)
        except _GraphError as err:
            return Check(
                name,
                False,
                f"Microsoft Graph respondió {err}",
                FIX_PERMISSIONS.format(mailbox=self.mailbox),
            )
        return Check(name, True, detail)

    # --- HTTP ---------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        prefer: str | None = None,
    ) -> httpx.Response:
        """One Graph call: token, ImmutableId, short throttling waits, errors translated."""
        refreshed = False
        tries = 1
        token = self._token(False)
        while True:
            sent_headers = {
                "Authorization": f"Bearer {token}",
                "Prefer": f"{IMMUTABLE_IDS}, {prefer}" if prefer else IMMUTABLE_IDS,
                **(headers or {}),
            }
            try:
                response = self._client.request(
                    method, url, params=params, json=json, content=content, headers=sent_headers
                )
            except httpx.TransportError as exc:
                raise ChannelUnavailable(
                    f"Microsoft Graph no responde ({type(exc).__name__}): {exc}"
                ) from exc
            status = response.status_code
            if status < 400:
                return response
            if status == 401 and not refreshed:
                refreshed = True
                token = self._token(True)
                continue
            if status in (429, 503, 504):
                wait = _retry_after(response.headers.get("Retry-After"), self._now())
                if wait is not None and wait <= MAX_WAIT and tries < MAX_TRIES:
                    log.warning("Graph answered %d; waiting %.0f s as asked", status, wait)
                    tries += 1
                    self._sleep(wait)
                    continue
            raise self._error(response)

    def _error(self, response: httpx.Response) -> Exception:
        """The exception for a failed answer; 4xx the caller decides about are _GraphError."""
        status = response.status_code
        code, message = _error_body(response)
        if status == 401:
            return ChannelAuthFailed(
                f"Microsoft Graph rechazó el token de acceso ({status} {code}): {message}"
            )
        if status == 403:
            return ChannelAuthFailed(
                f"Microsoft Graph negó el acceso al buzón {self.mailbox} ({status} {code}): "
                f"{message}. Suele faltar el permiso de aplicación Mail.ReadWrite o Mail.Send, "
                "o una directiva de acceso de aplicaciones no incluye este buzón."
            )
        if code.lower() in MAILBOX_CODES:
            return _MailboxNotFound(
                f"El buzón {self.mailbox} no existe o no tiene Exchange Online "
                f"({status} {code}): {message}"
            )
        if status == 429 or status >= 500:
            return ChannelUnavailable(
                f"Microsoft Graph no está disponible ahora ({status} {code}): {message}"
            )
        return _GraphError(status, code, message)

    def _unavailable(self, err: _GraphError) -> ChannelUnavailable:
        """An unexpected 4xx outside sending: reported, retried later."""
        return ChannelUnavailable(f"Microsoft Graph respondió {err}")


# --- helpers ----------------------------------------------------------------------------


def _entry(item: Mapping[str, Any]) -> _Entry:
    """A delta item as an _Entry."""
    received = item.get("receivedDateTime")
    internet_id = item.get("internetMessageId")
    return _Entry(
        id=str(item["id"]),
        internet_id=internet_id if isinstance(internet_id, str) and internet_id else None,
        received=_parse_time(received) if isinstance(received, str) else None,
        is_read=item.get("isRead") in (True, "true"),
        size=_size(item.get("singleValueExtendedProperties")),
    )


def _parse_time(value: str) -> datetime | None:
    """An ISO 8601 instant as Graph writes it ("...Z"), or None."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _size(properties: object) -> int | None:
    """PidTagMessageSize from the expanded extended properties, or None."""
    if not isinstance(properties, list):
        return None
    for prop in properties:
        if not isinstance(prop, dict):
            continue
        # Graph writes the id back in its own spelling ("Integer 0xe08"): compare the tag.
        kind, _, tag = str(prop.get("id", "")).partition(" ")
        try:
            if kind.lower() == "integer" and int(tag, 16) == SIZE_TAG:
                return int(prop["value"])
        except (KeyError, TypeError, ValueError):
            return None
    return None


def _authenticated(headers: object) -> bool | None:
    """Exchange's own verdict on the sender, read from the message's internet headers."""
    # Exchange stamps X-MS-Exchange-Organization-AuthAs on the mail it accepts: "Internal"
    # when the sender authenticated as someone of this organization, "Anonymous" for mail
    # from the internet ("External" and "Partner" for other authenticated servers). Its
    # header firewall strips X-MS-Exchange-Organization-* headers arriving from outside,
    # so what is present is Exchange's stamp, not the sender's claim. Every stamp must say
    # Internal for True; any other value gives False; no stamp at all gives None.
    if not isinstance(headers, list):
        return None
    verdicts = [
        str(h.get("value", "")).strip().lower()
        for h in headers
        if isinstance(h, dict)
        and str(h.get("name", "")).lower() == "x-ms-exchange-organization-authas"
    ]
    if not verdicts:
        return None
    return all(v == "internal" for v in verdicts)


def _oversize(entry: _Entry, size: int) -> InboundMessage:
    """The announcement of a message left on the server for being too big."""
    return InboundMessage(
        channel="mail", key=entry.id, raw=b"", size=size, received_at=entry.received
    )


def _odata_string(value: str) -> str:
    """A value for an OData string literal: single quotes doubled."""
    return value.replace("'", "''")


def _error_body(response: httpx.Response) -> tuple[str, str]:
    """Graph's {"error": {"code", "message"}}, or the status text when it is not JSON."""
    try:
        error = response.json().get("error") or {}
        return str(error.get("code") or ""), str(error.get("message") or "")
    except (ValueError, AttributeError):
        return "", response.reason_phrase


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), or None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


# --- tokens -----------------------------------------------------------------------------


class MsalHttp:
    """The requests-like get/post msal wants, over our httpx client (one pool, one timeout)."""

    def __init__(self, client: httpx.Client) -> None:
        """Use this client for msal's calls."""
        self._client = client

    def get(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        **_: object,
    ) -> httpx.Response:
        """HTTP GET."""
        return self._client.get(url, params=params, headers=headers)

    def post(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        **_: object,
    ) -> httpx.Response:
        """HTTP POST of a form (a dict) or of a body as-is (a string)."""
        if isinstance(data, str | bytes):
            return self._client.post(url, params=params, content=data, headers=headers)
        return self._client.post(url, params=params, data=data, headers=headers)

    def close(self) -> None:
        """The client belongs to the channel, which closes it."""


class MsalTokenProvider:
    """Application tokens from Microsoft Entra ID through msal, which caches them."""

    def __init__(
        self, tenant_id: str, client_id: str, secret: str, *, http_client: object = None
    ) -> None:
        """Keep the credentials; msal is set up at the first call (it goes to the network)."""
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._secret = secret
        self._http_client = http_client
        self._app: Any = None

    def __repr__(self) -> str:
        """Never shows the secret."""
        return f"MsalTokenProvider(tenant_id={self.tenant_id!r}, client_id={self.client_id!r})"

    def __call__(self, refresh: bool = False) -> str:
        """A token for Graph; with `refresh`, a new one rather than the cached one."""
        import msal

        if refresh:
            # msal refuses to bypass its cache for client credentials: a new application
            # object starts with an empty one.
            self._app = None
        try:
            if self._app is None:
                self._app = msal.ConfidentialClientApplication(
                    self.client_id,
                    authority=f"{LOGIN}/{self.tenant_id}",
                    client_credential=self._secret,
                    http_client=self._http_client,
                )
            result = self._app.acquire_token_for_client(scopes=SCOPES)
        except (httpx.TransportError, OSError, msal.exceptions.MsalServiceError) as exc:
            # OSError covers requests' errors when msal uses its own HTTP client.
            self._app = None
            raise ChannelUnavailable(
                f"Microsoft Entra ID no responde ({type(exc).__name__}): {exc}"
            ) from exc
        except ValueError as exc:  # msal's OIDC discovery: an unknown tenant, for one
            self._app = None
            raise ChannelAuthFailed(
                f"Microsoft Entra ID no reconoce el inquilino {self.tenant_id}: {exc}"
            ) from exc
        if isinstance(result, dict) and result.get("access_token"):
            return str(result["access_token"])
        result = result if isinstance(result, dict) else {}
        error = str(result.get("error") or "sin código")
        description = str(result.get("error_description") or "sin descripción")
        if error == "temporarily_unavailable":
            raise ChannelUnavailable(f"Microsoft Entra ID no está disponible: {description}")
        raise ChannelAuthFailed(f"Microsoft Entra ID no dio un token ({error}): {description}")


def build_graph_channel(config: Config, db: Database) -> GraphChannel:
    """The Graph backend as `[mail.graph]` describes it, with its own HTTP client."""
    settings = config.mail.graph
    if settings is None:
        raise ChannelAuthFailed("Falta la sección [mail.graph] de la configuración")
    secret = os.environ.get(settings.secret_env, "")
    if not secret:
        raise ChannelAuthFailed(
            f"Falta el secreto de la aplicación en la variable de entorno {settings.secret_env}"
        )
    client = httpx.Client(timeout=TIMEOUT)
    token = MsalTokenProvider(
        settings.tenant_id, settings.client_id, secret, http_client=MsalHttp(client)
    )
    return GraphChannel(
        client,
        token,
        settings.mailbox,
        CursorStore(db, "mail:graph"),
        done_folder=settings.done_folder,
        max_message_bytes=config.mail.max_message_mb * 1024 * 1024,
        owns_client=True,
    )
