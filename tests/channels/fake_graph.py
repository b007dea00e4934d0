"""A stateful fake of Microsoft Graph mail and of Entra ID's token endpoint.

Built from Microsoft's documented protocol (message delta with $skiptoken/$deltatoken,
changeType, Prefer odata.maxpagesize, 410 Gone on an expired sync state, sendMail in MIME
format, move, PATCH isRead, mailFolders and childFolders, extended properties, uniqueBody,
{"error": {"code", "message"}} bodies), served as an httpx.MockTransport handler. Failures
are injected on purpose: throttling, 5xx, expired tokens, expired sync state, a mailbox
behind an application access policy, refused recipients, an unreachable network.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.utils import getaddresses, make_msgid
from typing import Any
from urllib.parse import unquote, urlencode

import httpx

GRAPH_HOST = "graph.microsoft.com"
LOGIN_HOST = "login.microsoftonline.com"
GRAPH = f"https://{GRAPH_HOST}/v1.0"
TENANT = "5f2c8a4e-1b7d-4c3a-9e6f-2a1b3c4d5e6f"
CLIENT_ID = "a3b9c1d2-7e8f-4a5b-8c9d-0e1f2a3b4c5d"
SECRET = "Qx8Q~secreto.de.prueba-no-real"
MAILBOX = "mesa.ayuda@example.com"
WELL_KNOWN = {
    "msgfolderroot": "Top of Information Store",
    "inbox": "Bandeja de entrada",
    "sentitems": "Elementos enviados",
    "drafts": "Borradores",
    "deleteditems": "Elementos eliminados",
    "archive": "Archivo",
}
EXCHANGE_ORG_HEADER = re.compile(rb"^x-ms-exchange-organization-", re.IGNORECASE)


def _error(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    """Graph's documented error body."""
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": "2026-11-23T15:00:00",
                "request-id": "fake",
                "client-request-id": "fake",
            },
        }
    }
    return httpx.Response(status, json=body, headers=headers)


def _ids(prefix: str) -> Iterator[str]:
    """Opaque ids shaped like Exchange's (base64url of a store key)."""
    for n in itertools.count(1):
        key = b"\x00\x09\x00\x2e\x00\x00\x00\x00\x00\x1d\x84\x03\x11\xaa" + n.to_bytes(8, "big")
        yield prefix + base64.urlsafe_b64encode(key).decode()


@dataclass
class FakeFolder:
    """A mail folder."""

    id: str
    display_name: str
    parent_id: str | None
    well_known: str | None = None


@dataclass
class FakeMessage:
    """A message in the mailbox, with its immutable id and its history of folders."""

    id: str
    folder_id: str
    mime: bytes
    internet_message_id: str
    received: datetime
    is_read: bool
    headers: list[dict[str, str]]
    unique_body: str
    subject: str
    entered: list[tuple[int, str]] = field(default_factory=list)  # (seq, folder id)
    updated_seq: int = 0

    def folder_at(self, seq: int) -> str | None:
        """The folder it was in right after change number `seq`, None before it existed."""
        where = None
        for at, folder in self.entered:
            if at <= seq:
                where = folder
        return where


@dataclass
class Fault:
    """A failure served instead of the next matching Graph answer."""

    status: int
    code: str
    message: str
    headers: dict[str, str]
    path_contains: str | None = None


@dataclass
class DeltaQuery:
    """What the first request of a round asked for; tokens carry it onwards."""

    folder_id: str
    select: list[str] | None
    expand_tags: list[int]
    change_type: str | None
    received_from: datetime | None
    inclusive: bool


@dataclass
class DeltaRound:
    """The rest of a round being paged through ($skiptoken)."""

    query: DeltaQuery
    items: list[dict[str, Any]]
    snapshot: int


class FakeGraph:
    """One tenant, one application, one mailbox."""

    def __init__(
        self,
        mailbox: str = MAILBOX,
        *,
        tenant: str = TENANT,
        client_id: str = CLIENT_ID,
        secret: str = SECRET,
        page_size: int = 2,
        require_immutable_ids: bool = True,
    ) -> None:
        self.mailbox = mailbox
        self.tenant = tenant
        self.client_id = client_id
        self.secret = secret
        self.page_size = page_size
        self.require_immutable_ids = require_immutable_ids
        self.seq = 0
        self.clock = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
        self.folders: dict[str, FakeFolder] = {}
        self.messages: dict[str, FakeMessage] = {}
        self.sent: list[bytes] = []
        self.requests: list[httpx.Request] = []
        self.token_requests: list[dict[str, str]] = []
        self.downloads: list[str] = []
        self.valid_tokens: set[str] = set()
        self.refused: set[str] = set()
        self.down = False
        self.denied = False
        self.duplicate_entries = False
        self.faults: list[Fault] = []
        self._rounds: dict[str, DeltaRound] = {}
        self._deltas: dict[str, tuple[DeltaQuery, int]] = {}
        self._gone_status = 410
        self._message_ids = _ids("AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A")
        self._folder_ids = _ids("AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZi")
        self._tokens = (f"eyJ0eXAiOiJKV1QifQ.fake{n}.sig" for n in itertools.count(1))
        self._state_tokens = (f"GwcBoTmPuoTQWfcsAbkYM{n:04d}" for n in itertools.count(1))
        root = self._add_folder(WELL_KNOWN["msgfolderroot"], None, "msgfolderroot")
        for name, display in WELL_KNOWN.items():
            if name != "msgfolderroot":
                self._add_folder(display, root.id, name)

    # --- what tests do to the server ----------------------------------------------------

    def deliver(
        self,
        raw: bytes,
        *,
        auth_as: str | None = "Anonymous",
        unique_body: str | None = None,
        is_read: bool = False,
        folder: str = "inbox",
    ) -> FakeMessage:
        """A message arrives, stamped by Exchange as transport would (AuthAs verdict)."""
        mime = _stamp(raw, auth_as)
        parsed = message_from_bytes(mime, policy=policy.default)
        self.clock += timedelta(seconds=30)
        if unique_body is None:
            body = parsed.get_body(preferencelist=("plain",))
            text = body.get_content() if body is not None else ""
            unique_body = "\n".join(line for line in text.splitlines() if not line.startswith(">"))
        message = FakeMessage(
            id=next(self._message_ids),
            folder_id=self._folder(folder).id,
            mime=mime,
            internet_message_id=str(parsed["Message-ID"] or make_msgid()),
            received=self.clock,
            is_read=is_read,
            headers=[{"name": k, "value": str(v)} for k, v in parsed.items()],
            unique_body=unique_body,
            subject=str(parsed["Subject"] or ""),
        )
        self.seq += 1
        message.entered.append((self.seq, message.folder_id))
        message.updated_seq = self.seq
        self.messages[message.id] = message
        return message

    def issue_token(self) -> str:
        """A new access token Graph accepts."""
        token = next(self._tokens)
        self.valid_tokens.add(token)
        return token

    def revoke_tokens(self) -> None:
        """Every access token issued so far expires."""
        self.valid_tokens.clear()

    def expire_sync_state(self, status: int = 410) -> None:
        """Every delta and skip token is forgotten (410 Gone, or 400 syncStateNotFound)."""
        self._rounds.clear()
        self._deltas.clear()
        self._gone_status = status

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: str | None = None,
        code: str | None = None,
        message: str | None = None,
        path_contains: str | None = None,
    ) -> None:
        """Serve this failure to the next `times` Graph requests (matching the path)."""
        codes = {429: "ApplicationThrottled", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
        messages = {
            429: "Application is over its MailboxConcurrency limit.",
            503: "Service Unavailable",
            504: "Gateway Timeout",
        }
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        for _ in range(times):
            self.faults.append(
                Fault(
                    status,
                    code or codes.get(status, "InternalServerError"),
                    message or messages.get(status, "An internal server error occurred."),
                    headers,
                    path_contains,
                )
            )

    def move(self, message_id: str, folder: str) -> None:
        """A person moves a message in Outlook."""
        message = self.messages[message_id]
        self.seq += 1
        message.folder_id = self._folder(folder).id
        message.entered.append((self.seq, message.folder_id))
        message.updated_seq = self.seq

    def mark_read(self, message_id: str) -> None:
        """A person opens a message in Outlook."""
        self.seq += 1
        self.messages[message_id].is_read = True
        self.messages[message_id].updated_seq = self.seq

    def in_folder(self, name: str) -> list[FakeMessage]:
        """Messages in a folder given by well-known name or display name."""
        folder = self._folder(name)
        return [m for m in self.messages.values() if m.folder_id == folder.id]

    def folder_named(self, display_name: str) -> FakeFolder | None:
        """A folder by display name, anywhere."""
        for folder in self.folders.values():
            if folder.display_name.lower() == display_name.lower():
                return folder
        return None

    # --- the transport ------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as Graph or Entra ID would."""
        if self.down:
            raise httpx.ConnectError(
                "[Errno -3] Temporary failure in name resolution", request=request
            )
        if request.url.host == LOGIN_HOST:
            return self._entra(request)
        if request.url.host != GRAPH_HOST:
            raise httpx.ConnectError(f"unknown host {request.url.host}", request=request)
        self.requests.append(request)
        prefer = _prefer(request)
        if self.require_immutable_ids:
            assert prefer.get("idtype") == '"ImmutableId"', f"no ImmutableId: {request.url}"
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.valid_tokens:
            return _error(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
                **{"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'},
            )
        for fault in self.faults:
            if fault.path_contains is None or fault.path_contains in request.url.path:
                self.faults.remove(fault)
                return _error(fault.status, fault.code, fault.message, **fault.headers)
        response = self._route(request, prefer)
        if prefer.get("idtype"):
            response.headers["Preference-Applied"] = 'IdType="ImmutableId"'
        return response

    def _route(self, request: httpx.Request, prefer: dict[str, str]) -> httpx.Response:
        """Dispatch on /v1.0/users/{mailbox}/..."""
        path = re.sub(r"mailFolders\('([^']*)'\)", r"mailFolders/\1", unquote(request.url.path))
        parts = [p for p in path.split("/") if p]
        if parts[:2] != ["v1.0", "users"] or len(parts) < 4:
            return _error(400, "BadRequest", f"Resource not found for the segment '{path}'.")
        if parts[2].lower() != self.mailbox.lower():
            return _error(404, "ErrorInvalidUser", f"The requested user '{parts[2]}' is invalid.")
        if self.denied:
            return _error(403, "ErrorAccessDenied", "Access to OData is disabled.")
        rest = parts[3:]
        method = request.method
        if rest == ["sendMail"] and method == "POST":
            return self._send_mail(request)
        if rest[0] == "mailFolders" and len(rest) >= 2:
            folder = self._folder_or_none(rest[1])
            if folder is None:
                return _error(
                    404, "ErrorItemNotFound", "The specified object was not found in the store."
                )
            tail = rest[2:]
            if not tail and method == "GET":
                return self._json(200, self._folder_json(folder, request), "mailFolders/$entity")
            if tail == ["childFolders"] and method == "GET":
                return self._child_folders(folder, request)
            if tail == ["childFolders"] and method == "POST":
                return self._create_folder(folder, request)
            if tail == ["messages"] and method == "GET":
                return self._list_messages(folder, request, prefer)
            if tail == ["messages", "delta"] and method == "GET":
                return self._delta(folder, request, prefer)
        if rest[0] == "messages" and len(rest) >= 2:
            message = self.messages.get(rest[1])
            if message is None:
                return _error(
                    404, "ErrorItemNotFound", "The specified object was not found in the store."
                )
            tail = rest[2:]
            if not tail and method == "GET":
                return self._json(
                    200, self._message_json(message, request, prefer), "messages/$entity"
                )
            if not tail and method == "PATCH":
                return self._patch(message, request, prefer)
            if tail == ["$value"] and method == "GET":
                self.downloads.append(message.id)
                return httpx.Response(
                    200, content=message.mime, headers={"Content-Type": "text/plain"}
                )
            if tail == ["move"] and method == "POST":
                return self._move(message, request, prefer)
        return _error(400, "BadRequest", f"Unsupported request {method} {path}")

    # --- folders ------------------------------------------------------------------------

    def _add_folder(
        self, name: str, parent: str | None, well_known: str | None = None
    ) -> FakeFolder:
        """A new folder."""
        folder = FakeFolder(next(self._folder_ids), name, parent, well_known)
        self.folders[folder.id] = folder
        return folder

    def _folder_or_none(self, ref: str) -> FakeFolder | None:
        """A folder by id or well-known name."""
        if ref in self.folders:
            return self.folders[ref]
        for folder in self.folders.values():
            if folder.well_known == ref.lower():
                return folder
        return None

    def _folder(self, ref: str) -> FakeFolder:
        """A folder by id, well-known name or display name; it must exist."""
        folder = self._folder_or_none(ref) or self.folder_named(ref)
        if folder is None:
            raise KeyError(ref)
        return folder

    def _folder_json(self, folder: FakeFolder, request: httpx.Request) -> dict[str, Any]:
        """A mailFolder resource."""
        inside = [m for m in self.messages.values() if m.folder_id == folder.id]
        data = {
            "id": folder.id,
            "displayName": folder.display_name,
            "parentFolderId": folder.parent_id,
            "childFolderCount": sum(f.parent_id == folder.id for f in self.folders.values()),
            "unreadItemCount": sum(not m.is_read for m in inside),
            "totalItemCount": len(inside),
            "isHidden": False,
        }
        return _selected(data, request.url.params.get("$select"))

    def _child_folders(self, parent: FakeFolder, request: httpx.Request) -> httpx.Response:
        """GET childFolders, with $filter=displayName eq '...'."""
        children = [f for f in self.folders.values() if f.parent_id == parent.id]
        wanted = request.url.params.get("$filter")
        if wanted:
            match = re.fullmatch(r"displayName eq '((?:[^']|'')*)'", wanted)
            if match is None:
                return _error(
                    400,
                    "ErrorInvalidUrlQueryFilter",
                    "The query filter contains one or more invalid nodes.",
                )
            name = match.group(1).replace("''", "'").lower()
            children = [f for f in children if f.display_name.lower() == name]
        value = [self._folder_json(f, request) for f in children]
        return self._json(
            200,
            {"value": value},
            f"users('{self.mailbox}')/mailFolders('{parent.id}')/childFolders",
        )

    def _create_folder(self, parent: FakeFolder, request: httpx.Request) -> httpx.Response:
        """POST childFolders."""
        name = str(json.loads(request.content).get("displayName", "")).strip()
        if not name:
            return _error(400, "ErrorInvalidRequest", "The displayName is required.")
        if any(
            f.parent_id == parent.id and f.display_name.lower() == name.lower()
            for f in self.folders.values()
        ):
            return _error(
                409, "ErrorFolderExists", "A folder with the specified name already exists."
            )
        folder = self._add_folder(name, parent.id)
        return self._json(201, self._folder_json(folder, request), "mailFolders/$entity")

    # --- messages -----------------------------------------------------------------------

    def _message_json(
        self,
        message: FakeMessage,
        request: httpx.Request,
        prefer: dict[str, str],
        select: str | None = None,
    ) -> dict[str, Any]:
        """A message resource, as $select and $expand ask."""
        text = prefer.get("outlook.body-content-type") == '"text"'
        params = request.url.params
        select = select if select is not None else params.get("$select")
        data: dict[str, Any] = {
            "@odata.etag": f'W/"CQAAABYAAAARn2vdzPFjSbaPPxzjlzOTAAA{message.updated_seq:04d}"',
            "id": message.id,
            "createdDateTime": _iso(message.received),
            "lastModifiedDateTime": _iso(message.received),
            "receivedDateTime": _iso(message.received),
            "sentDateTime": _iso(message.received - timedelta(seconds=5)),
            "hasAttachments": b"Content-Disposition: attachment" in message.mime,
            "internetMessageId": message.internet_message_id,
            "subject": message.subject,
            "bodyPreview": message.unique_body[:255],
            "importance": "normal",
            "parentFolderId": message.folder_id,
            "conversationId": "AAQkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OAAQ",
            "isRead": message.is_read,
            "isDraft": False,
            "body": _body(message.unique_body, text),
        }
        if select:
            # Returned only when asked for by $select.
            data["uniqueBody"] = _body(message.unique_body, text)
            data["internetMessageHeaders"] = message.headers
        data = _selected(data, select)
        tags = _expand_tags(params.get("$expand"))
        if tags:
            data["singleValueExtendedProperties"] = [
                {"id": f"Integer {tag:#x}", "value": str(len(message.mime))}
                for tag in tags
                if tag == 0x0E08
            ]
        return data

    def _list_messages(
        self, folder: FakeFolder, request: httpx.Request, prefer: dict[str, str]
    ) -> httpx.Response:
        """GET messages of a folder, with $filter=internetMessageId eq '...', $top, $skip."""
        params = request.url.params
        found = [m for m in self.messages.values() if m.folder_id == folder.id]
        wanted = params.get("$filter")
        if wanted:
            match = re.fullmatch(r"internetMessageId eq '((?:[^']|'')*)'", wanted)
            if match is None:
                return _error(
                    400,
                    "ErrorInvalidUrlQueryFilter",
                    "The query filter contains one or more invalid nodes.",
                )
            value = match.group(1).replace("''", "'")
            found = [m for m in found if m.internet_message_id == value]
        found.sort(key=lambda m: m.received, reverse=True)
        top = int(params.get("$top", "10"))
        skip = int(params.get("$skip", "0"))
        page: dict[str, Any] = {
            "value": [self._message_json(m, request, prefer) for m in found[skip : skip + top]]
        }
        if skip + top < len(found):
            query = dict(params.items()) | {"$skip": str(skip + top)}
            page["@odata.nextLink"] = (
                f"{GRAPH}/users/{self.mailbox}/mailFolders('{folder.id}')/messages?{urlencode(query)}"
            )
        return self._json(200, page, f"users('{self.mailbox}')/mailFolders('{folder.id}')/messages")

    def _patch(
        self, message: FakeMessage, request: httpx.Request, prefer: dict[str, str]
    ) -> httpx.Response:
        """PATCH a message (isRead)."""
        changes = json.loads(request.content)
        if "isRead" in changes and bool(changes["isRead"]) != message.is_read:
            message.is_read = bool(changes["isRead"])
            self.seq += 1
            message.updated_seq = self.seq
        return self._json(200, self._message_json(message, request, prefer), "messages/$entity")

    def _move(
        self, message: FakeMessage, request: httpx.Request, prefer: dict[str, str]
    ) -> httpx.Response:
        """POST move: the immutable id survives the move."""
        target = self._folder_or_none(str(json.loads(request.content).get("destinationId", "")))
        if target is None:
            return _error(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        if target.id != message.folder_id:
            self.seq += 1
            message.folder_id = target.id
            message.entered.append((self.seq, target.id))
            message.updated_seq = self.seq
        return self._json(201, self._message_json(message, request, prefer), "messages/$entity")

    def _send_mail(self, request: httpx.Request) -> httpx.Response:
        """POST sendMail with MIME content (base64, Content-Type text/plain)."""
        if not request.headers.get("Content-Type", "").startswith("text/plain"):
            raise AssertionError("this fake only takes sendMail in MIME format")
        try:
            mime = base64.b64decode(request.content, validate=True)
        except (binascii.Error, ValueError):
            return _error(
                400,
                "ErrorMimeContentInvalidBase64String",
                "Invalid base64 string for MIME content.",
            )
        parsed = message_from_bytes(mime, policy=policy.default)
        recipients = [
            address.lower()
            for _, address in getaddresses(
                [str(v) for h in ("To", "Cc", "Bcc") for v in parsed.get_all(h, [])]
            )
            if address
        ]
        if not recipients:
            return _error(
                400,
                "ErrorInvalidRecipients",
                "At least one recipient is required, but none were found.",
            )
        refused = [a for a in recipients if a in self.refused]
        if refused:
            return _error(
                400,
                "ErrorInvalidRecipients",
                f"At least one recipient is not valid., Recipient '{refused[0]}' is not resolved. "
                "All recipients must be resolved before a message can be submitted.",
            )
        self.sent.append(mime)
        self.deliver(mime, auth_as="Internal", is_read=True, folder="sentitems")
        return httpx.Response(202)

    # --- delta --------------------------------------------------------------------------

    def _delta(
        self, folder: FakeFolder, request: httpx.Request, prefer: dict[str, str]
    ) -> httpx.Response:
        """GET .../messages/delta: a round of pages ending in a deltaLink."""
        params = request.url.params
        if "$skiptoken" in params:
            round_ = self._rounds.pop(params["$skiptoken"], None)
            if round_ is None:
                return self._gone(folder)
        elif "$deltatoken" in params:
            state = self._deltas.get(params["$deltatoken"])
            if state is None:
                return self._gone(folder)
            query, since = state
            round_ = DeltaRound(query, self._changes(query, since, request, prefer), self.seq)
        else:
            query = _delta_query(folder.id, params)
            round_ = DeltaRound(query, self._changes(query, None, request, prefer), self.seq)
        size = min(self.page_size, int(prefer.get("odata.maxpagesize", "10")))
        page, rest = round_.items[:size], round_.items[size:]
        body: dict[str, Any] = {"value": page}
        base = f"{GRAPH}/users/{self.mailbox}/mailFolders('{folder.id}')/messages/delta"
        if rest:
            token = next(self._state_tokens)
            self._rounds[token] = DeltaRound(round_.query, rest, round_.snapshot)
            body["@odata.nextLink"] = f"{base}?$skiptoken={token}"
        else:
            token = next(self._state_tokens)
            self._deltas[token] = (round_.query, round_.snapshot)
            body["@odata.deltaLink"] = f"{base}?$deltatoken={token}"
        return self._json(200, body, "Collection(message)")

    def _changes(
        self, query: DeltaQuery, since: int | None, request: httpx.Request, prefer: dict[str, str]
    ) -> list[dict[str, Any]]:
        """What changed in the folder after change number `since` (None: everything there)."""
        items: list[dict[str, Any]] = []
        # Graph does not promise an order; newest first makes clients sort for themselves.
        for message in sorted(self.messages.values(), key=lambda m: m.received, reverse=True):
            here = message.folder_id == query.folder_id
            if since is None:
                kind = "created" if here else None
            else:
                was_here = message.folder_at(since) == query.folder_id
                came_in = any(at > since and f == query.folder_id for at, f in message.entered)
                if here and (came_in or not was_here):
                    kind = "created"
                elif here and message.updated_seq > since:
                    kind = "updated"
                elif not here and (was_here or came_in):
                    kind = "deleted"
                else:
                    kind = None
            if kind is None:
                continue
            if since is not None and query.change_type and kind != query.change_type:
                continue
            if kind == "deleted":
                items.append(
                    {
                        "@odata.type": "#microsoft.graph.message",
                        "id": message.id,
                        "@removed": {"reason": "deleted"},
                    }
                )
                continue
            if query.received_from is not None and (
                message.received < query.received_from
                or (message.received == query.received_from and not query.inclusive)
            ):
                continue
            select = ",".join(query.select) if query.select else ""
            item = {"@odata.type": "#microsoft.graph.message"} | self._message_json(
                message, _with_expand(request, query.expand_tags), prefer, select=select
            )
            items.append(item)
        if self.duplicate_entries:
            items += [dict(item) for item in items if "@removed" not in item]
        return items

    def _gone(self, folder: FakeFolder) -> httpx.Response:
        """The sync state is no longer known."""
        if self._gone_status == 410:
            base = f"{GRAPH}/users/{self.mailbox}/mailFolders('{folder.id}')"
            location = f"{base}/messages/delta?$deltatoken="
            return _error(
                410,
                "SyncStateNotFound",
                "The sync state generation is not found. The delta token is expired and "
                "data must be synchronized again.",
                Location=location,
            )
        return _error(
            self._gone_status, "syncStateNotFound", "The sync state generation is not found."
        )

    # --- Entra ID -----------------------------------------------------------------------

    def _entra(self, request: httpx.Request) -> httpx.Response:
        """OpenID configuration, instance discovery and the v2.0 token endpoint."""
        parts = [p for p in request.url.path.split("/") if p]
        if parts[:3] == ["common", "discovery", "instance"]:
            return httpx.Response(200, json=_instance_discovery(self.tenant))
        if parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            if parts[0] != self.tenant:
                return _entra_error(
                    400,
                    "invalid_tenant",
                    90002,
                    f"AADSTS90002: Tenant '{parts[0]}' not found. Check to make sure you "
                    "have the correct tenant ID and are signing into the correct cloud.",
                )
            return httpx.Response(200, json=_openid_configuration(self.tenant))
        if parts[1:] == ["oauth2", "v2.0", "token"] and request.method == "POST":
            form = dict(httpx.QueryParams(request.content.decode()))
            self.token_requests.append({k: v for k, v in form.items() if k != "client_secret"})
            if form.get("grant_type") != "client_credentials":
                return _entra_error(
                    400,
                    "unsupported_grant_type",
                    70003,
                    "AADSTS70003: The app requested an unsupported grant type.",
                )
            if form.get("client_id") != self.client_id:
                return _entra_error(
                    400,
                    "unauthorized_client",
                    700016,
                    f"AADSTS700016: Application with identifier '{form.get('client_id')}' "
                    f"was not found in the directory '{self.tenant}'.",
                )
            if form.get("client_secret") != self.secret:
                return _entra_error(
                    401,
                    "invalid_client",
                    7000215,
                    "AADSTS7000215: Invalid client secret provided. Ensure the secret being "
                    "sent in the request is the client secret value, not the client secret "
                    f"ID, for a secret added to app '{self.client_id}'.",
                )
            if form.get("scope") != "https://graph.microsoft.com/.default":
                return _entra_error(
                    400,
                    "invalid_scope",
                    1002012,
                    "AADSTS1002012: The provided value for scope is not valid.",
                )
            return httpx.Response(
                200,
                json={
                    "token_type": "Bearer",
                    "expires_in": 3599,
                    "ext_expires_in": 3599,
                    "access_token": self.issue_token(),
                },
            )
        return httpx.Response(404, text="Not Found")

    def _json(self, status: int, body: dict[str, Any], context: str) -> httpx.Response:
        """A JSON answer with its @odata.context (relative to the mailbox unless absolute)."""
        if not context.startswith(("Collection(", "users(")):
            context = f"users('{self.mailbox}')/{context}"
        return httpx.Response(
            status, json={"@odata.context": f"{GRAPH}/$metadata#{context}"} | body
        )


# --- helpers ----------------------------------------------------------------------------


def _iso(when: datetime) -> str:
    """Graph's timestamp format."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _body(text: str, as_text: bool) -> dict[str, str]:
    """An itemBody in the preferred content type."""
    if as_text:
        return {"contentType": "text", "content": text}
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {"contentType": "html", "content": f"<html><body><div>{escaped}</div></body></html>"}


def _selected(data: dict[str, Any], select: str | None) -> dict[str, Any]:
    """Only what $select named, plus what Graph always returns."""
    if not select:
        return {k: v for k, v in data.items() if k not in ("uniqueBody", "internetMessageHeaders")}
    keep = {s.strip() for s in select.split(",")} | {"id", "@odata.etag"}
    return {k: v for k, v in data.items() if k in keep}


def _prefer(request: httpx.Request) -> dict[str, str]:
    """Every preference of every Prefer header: name (lower-cased) -> value."""
    found: dict[str, str] = {}
    for header in request.headers.get_list("Prefer"):
        for item in header.split(","):
            name, _, value = item.strip().partition("=")
            if name:
                found[name.strip().lower()] = value.strip()
    return found


def _expand_tags(expand: str | None) -> list[int]:
    """Property tags asked for by $expand=singleValueExtendedProperties($filter=id eq '...')."""
    tags = []
    for ref in re.findall(
        r"singleValueExtendedProperties\(\$filter=id eq '([^']+)'\)", expand or ""
    ):
        kind, _, tag = ref.partition(" ")
        if kind.lower() == "integer":
            tags.append(int(tag, 16))
    return tags


def _with_expand(request: httpx.Request, tags: list[int]) -> httpx.Request:
    """The request as if it carried the round's $expand (later pages do not repeat it)."""
    expand = ",".join(
        f"singleValueExtendedProperties($filter=id eq 'Integer {t:#06x}')" for t in tags
    )
    params = {k: v for k, v in request.url.params.items() if k not in ("$expand", "$select")}
    if expand:
        params["$expand"] = expand
    return httpx.Request(
        request.method, request.url.copy_with(params=params), headers=request.headers
    )


def _delta_query(folder_id: str, params: httpx.QueryParams) -> DeltaQuery:
    """The options of a round's first request."""
    select = params.get("$select")
    received_from, inclusive = None, True
    wanted = params.get("$filter")
    if wanted:
        match = re.fullmatch(r"receivedDateTime (ge|gt) (\S+)", wanted)
        if match is None:
            raise AssertionError(f"delta supports only receivedDateTime ge/gt, not {wanted!r}")
        received_from = datetime.fromisoformat(match.group(2).replace("Z", "+00:00"))
        inclusive = match.group(1) == "ge"
    return DeltaQuery(
        folder_id=folder_id,
        select=[s.strip() for s in select.split(",")] if select else None,
        expand_tags=_expand_tags(params.get("$expand")),
        change_type=params.get("changeType"),
        received_from=received_from,
        inclusive=inclusive,
    )


def _stamp(raw: bytes, auth_as: str | None) -> bytes:
    """Exchange's header firewall and its own stamps on an accepted message."""
    newline = b"\r\n" if b"\r\n" in raw.split(b"\n\n", 1)[0] else b"\n"
    head, sep, body = raw.partition(newline + newline)
    kept: list[bytes] = []
    dropping = False
    for line in head.split(newline):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = bool(EXCHANGE_ORG_HEADER.match(line))
        if not dropping:
            kept.append(line)
    stamps = [b"Received: from mail.example.net by BN8PR04MB6180.namprd04.prod.outlook.com"]
    if auth_as is not None:
        stamps += [
            b"X-MS-Exchange-Organization-AuthAs: " + auth_as.encode(),
            b"X-MS-Exchange-Organization-AuthSource: BN8PR04MB6180.namprd04.prod.outlook.com",
        ]
    return newline.join(stamps + kept) + sep + body


def _entra_error(status: int, error: str, number: int, description: str) -> httpx.Response:
    """Entra ID's documented OAuth error body."""
    body = {
        "error": error,
        "error_description": f"{description}\r\nTrace ID: 0000aaaa-11bb-cccc-dd22-eeeeee333333\r\n"
        "Correlation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2026-11-23 15:00:00Z",
        "error_codes": [number],
        "timestamp": "2026-11-23 15:00:00Z",
        "trace_id": "0000aaaa-11bb-cccc-dd22-eeeeee333333",
        "correlation_id": "aaaa0000-bb11-2222-33cc-444444dddddd",
        "error_uri": f"https://{LOGIN_HOST}/error?code={number}",
    }
    return httpx.Response(status, json=body)


def _openid_configuration(tenant: str) -> dict[str, Any]:
    """The v2.0 OpenID Connect metadata document of a tenant."""
    base = f"https://{LOGIN_HOST}/{tenant}"
    return {
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "nonce",
            "tid",
            "ver",
        ],
        "kerberos_endpoint": f"{base}/kerberos",
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


def _instance_discovery(tenant: str) -> dict[str, Any]:
    """The instance discovery answer for the worldwide cloud."""
    return {
        "tenant_discovery_endpoint": f"https://{LOGIN_HOST}/{tenant}/v2.0/.well-known/openid-configuration",
        "api-version": "1.1",
        "metadata": [
            {
                "preferred_network": LOGIN_HOST,
                "preferred_cache": "login.windows.net",
                "aliases": [
                    LOGIN_HOST,
                    "login.windows.net",
                    "login.microsoft.com",
                    "sts.windows.net",
                ],
            }
        ],
    }
