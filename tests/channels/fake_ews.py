"""A fake Exchange Web Services endpoint, built from Microsoft's documented SOAP schema.

A real HTTP server on 127.0.0.1 (HTTP Basic authentication, a wrong password gets 401)
answering the operations the EWS backend sends, with the shapes of messages.xsd and
types.xsd: envelopes with ServerVersionInfo, ResponseMessages with ResponseClass and
ResponseCode, ItemId/ChangeKey, MimeContent in base64, SyncFolderItems with SyncState,
MaxChangesReturned paging and IncludesLastItemInRange. The mailbox is stateful: folders
(root, Top of Information Store, Inbox, Sent Items, created ones) and items that move
between them. exchangelib talks to it through its real network stack.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import itertools
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from string import Template
from typing import Any
from xml.sax.saxutils import escape, quoteattr

S = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
PATH = "/EWS/Exchange.asmx"

# -- response templates, as the EWS reference shows them ----------------------------------

ENVELOPE = Template(
    """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Header>
    <h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507"
      MinorBuildNumber="6" Version="V2017_07_11"
      xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types"
      xmlns="http://schemas.microsoft.com/exchange/services/2006/types"
      xmlns:xsd="http://www.w3.org/2001/XMLSchema"
      xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>
  </s:Header>
  <s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema">
    <m:${operation}Response
      xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
      xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
      <m:ResponseMessages>${messages}</m:ResponseMessages>
    </m:${operation}Response>
  </s:Body>
</s:Envelope>"""
)
SUCCESS = Template(
    '<m:${operation}ResponseMessage ResponseClass="Success">'
    "<m:ResponseCode>NoError</m:ResponseCode>${content}"
    "</m:${operation}ResponseMessage>"
)
ERROR = Template(
    '<m:${operation}ResponseMessage ResponseClass="Error">'
    "<m:MessageText>${text}</m:MessageText>"
    "<m:ResponseCode>${code}</m:ResponseCode>"
    "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>${content}"
    "</m:${operation}ResponseMessage>"
)
# ErrorServerBusy comes as a SOAP fault with HTTP 500 and a back-off hint.
SERVER_BUSY = Template(
    """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Body>
    <s:Fault>
      <faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types"
        >a:ErrorServerBusy</faultcode>
      <faultstring xml:lang="en-US"
        >The server cannot service this request right now. Try again later.</faultstring>
      <detail>
        <e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors"
          >ErrorServerBusy</e:ResponseCode>
        <e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors"
          >The server cannot service this request right now. Try again later.</e:Message>
        <t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
          <t:Value Name="BackOffMilliseconds">${back_off_ms}</t:Value>
        </t:MessageXml>
      </detail>
    </s:Fault>
  </s:Body>
</s:Envelope>"""
)
INVALID_REQUEST = Template(
    """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Body>
    <s:Fault>
      <faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types"
        >a:ErrorInvalidRequest</faultcode>
      <faultstring xml:lang="en-US">The request is invalid.</faultstring>
      <detail>
        <e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors"
          >ErrorInvalidRequest</e:ResponseCode>
        <e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors"
          >${text}</e:Message>
      </detail>
    </s:Fault>
  </s:Body>
</s:Envelope>"""
)
FOLDER = Template(
    '<t:Folder><t:FolderId Id="${id}" ChangeKey="${changekey}"/>${parent}${folder_class}'
    "<t:DisplayName>${name}</t:DisplayName><t:TotalCount>${total}</t:TotalCount>"
    "<t:ChildFolderCount>${children}</t:ChildFolderCount>"
    "<t:EffectiveRights><t:CreateAssociated>true</t:CreateAssociated>"
    "<t:CreateContents>true</t:CreateContents>"
    "<t:CreateHierarchy>${create_hierarchy}</t:CreateHierarchy><t:Delete>true</t:Delete>"
    "<t:Modify>true</t:Modify><t:Read>true</t:Read>"
    "<t:ViewPrivateItems>true</t:ViewPrivateItems></t:EffectiveRights>"
    "<t:UnreadCount>${unread}</t:UnreadCount></t:Folder>"
)
ROOT_FOLDER = Template(
    '<m:RootFolder IndexedPagingOffset="${offset}" TotalItemsInView="${total}" '
    'IncludesLastItemInRange="${last}"><t:${kind}>${content}</t:${kind}></m:RootFolder>'
)
ITEM_ID = Template('<t:ItemId Id="${id}" ChangeKey="${changekey}"/>')

# Item properties in the order of types.xsd (ItemType, then MessageType).
ITEM_PROPERTIES = (
    "item:MimeContent",
    "item:ItemId",
    "item:ParentFolderId",
    "item:ItemClass",
    "item:Subject",
    "item:DateTimeReceived",
    "item:Size",
    "item:InternetMessageHeaders",
    "message:InternetMessageId",
    "message:IsRead",
)
ALL_PROPERTIES = frozenset(ITEM_PROPERTIES) - {"item:MimeContent"}
DISTINGUISHED = {
    "root": ("", None),
    "msgfolderroot": ("Parte superior del almacén de información", "IPF.Note"),
    "inbox": ("Bandeja de entrada", "IPF.Note"),
    "sentitems": ("Elementos enviados", "IPF.Note"),
    "deleteditems": ("Elementos eliminados", "IPF.Note"),
    "drafts": ("Borradores", "IPF.Note"),
    "outbox": ("Bandeja de salida", "IPF.Note"),
    "junkemail": ("Correo no deseado", "IPF.Note"),
}
RECEIVED_BASE = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def q(tag: str) -> str:
    """A types-namespace tag."""
    return f"{{{T}}}{tag}"


def xs_boolean(text: str | None) -> bool:
    """An xs:boolean value: "true" or "1" (also "false" or "0")."""
    return (text or "").strip() in ("true", "1")


def mq(tag: str) -> str:
    """A messages-namespace tag."""
    return f"{{{M}}}{tag}"


@dataclass
class FakeFolder:
    """A mailbox folder."""

    id: str
    name: str
    parent: str | None
    folder_class: str | None = "IPF.Note"
    distinguished: str | None = None
    changekey: str = "AQAAABYAAAA="


@dataclass
class FakeItem:
    """A message stored in a folder."""

    id: str
    folder: str
    mime: bytes
    received: datetime
    seq: int
    is_read: bool = False
    inbound: bool = True
    transport_headers: list[tuple[str, str]] = field(default_factory=list)
    version: int = 1

    @property
    def changekey(self) -> str:
        """Changes on every update, as Exchange's does."""
        return base64.b64encode(f"CQAAABYAAAC{self.version:04d}".encode()).decode()

    def header(self, name: str) -> str | None:
        """One header of the MIME content."""
        parsed = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(self.mime)
        value = parsed.get(name)
        return None if value is None else str(value)


@dataclass
class Call:
    """One operation the fake answered."""

    operation: str
    detail: dict[str, Any]


class FakeEws:
    """The server and its one mailbox."""

    def __init__(self, mailbox: str, username: str, password: str) -> None:
        """A mailbox with the well-known folders, reachable with this user and password."""
        self.mailbox = mailbox.lower()
        self.username = username
        self.password = password
        self.folders: dict[str, FakeFolder] = {}
        self.items: dict[str, FakeItem] = {}
        self.sent: list[bytes] = []
        self.refused: set[str] = set()
        self.calls: list[Call] = []
        self.busy_ms: int | None = None
        self.forbidden = False
        # Requests the fake could not answer: a test harness fails on any of them.
        self.unexpected: list[str] = []
        self.sync_epoch = 1
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        # root > Top of Information Store > Inbox, Sent Items, ...
        parent: str | None = None
        for name, (display, folder_class) in DISTINGUISHED.items():
            folder = self._add_folder(display, parent, folder_class, distinguished=name)
            if name in ("root", "msgfolderroot"):
                parent = folder.id

    # -- the HTTP side -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The service endpoint."""
        return f"http://127.0.0.1:{self.port}{PATH}"

    def start(self) -> FakeEws:
        """Listen on 127.0.0.1 (a free port the first time, the same one afterwards)."""
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @contextmanager
    def down(self) -> Iterator[None]:
        """Within it, nothing listens on the port."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    @contextmanager
    def busy(self, back_off_ms: int = 100) -> Iterator[None]:
        """Within it, every request gets ErrorServerBusy with this back-off hint."""
        self.busy_ms = back_off_ms
        try:
            yield
        finally:
            self.busy_ms = None

    @contextmanager
    def forbid(self) -> Iterator[None]:
        """Within it, EWS is disabled for the mailbox: every request gets HTTP 403."""
        self.forbidden = True
        try:
            yield
        finally:
            self.forbidden = False

    def answer(self, authorization: str | None, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for one POST."""
        if not self._authorized(authorization):
            return 401, {"WWW-Authenticate": 'Basic realm="127.0.0.1"'}, b""
        if self.forbidden:
            return 403, {}, b""
        if self.busy_ms is not None:
            with self._lock:
                self.calls.append(Call("busy", {}))
            return 500, {}, SERVER_BUSY.substitute(back_off_ms=self.busy_ms).encode()
        try:
            envelope = ET.fromstring(body)
            request = envelope.find(f"{{{S}}}Body")
            assert request is not None and len(request), "no SOAP body"
            operation = request[0].tag.rpartition("}")[2]
            handler: Callable[[ET.Element], list[str]] | None = getattr(
                self, f"_op_{operation}", None
            )
            if handler is None:
                raise NotImplementedError(f"operation {operation}")
            with self._lock:
                messages = handler(request[0])
        except (AssertionError, NotImplementedError, ET.ParseError, ValueError) as exc:
            self.unexpected.append(f"{type(exc).__name__}: {exc}")
            text = escape(f"{type(exc).__name__}: {exc}")
            return 500, {}, INVALID_REQUEST.substitute(text=text).encode()
        xml = ENVELOPE.substitute(operation=operation, messages="".join(messages))
        return 200, {}, xml.encode()

    def _authorized(self, authorization: str | None) -> bool:
        """HTTP Basic with the mailbox user's password."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(token).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == self.username and password == self.password

    # -- the mailbox, as tests set it up and look at it ----------------------------------

    def _new_id(self, prefix: str) -> str:
        """An opaque id in the style of Exchange's (base64)."""
        raw = f"{prefix}:{self.mailbox}:{next(self._ids):08d}".encode()
        return base64.b64encode(raw).decode()

    def _add_folder(
        self,
        name: str,
        parent: str | None,
        folder_class: str | None,
        distinguished: str | None = None,
    ) -> FakeFolder:
        """Create a folder."""
        folder = FakeFolder(self._new_id("F"), name, parent, folder_class, distinguished)
        self.folders[folder.id] = folder
        return folder

    def _distinguished(self, name: str) -> FakeFolder:
        """The well-known folder of this name."""
        return next(f for f in self.folders.values() if f.distinguished == name)

    def folder_named(self, name: str) -> FakeFolder | None:
        """A folder by display name (any level)."""
        return next((f for f in self.folders.values() if f.name.lower() == name.lower()), None)

    def deliver(
        self,
        raw: bytes,
        *,
        auth_as: str | None = None,
        received: datetime | None = None,
        is_read: bool = False,
        folder: str = "inbox",
        inbound: bool = True,
    ) -> FakeItem:
        """A message filed by the transport, with its AuthAs verdict when given."""
        with self._lock:
            seq = next(self._seq)
            headers = [("Received", "from edge.example.com by mbx01.example.com")]
            if auth_as is not None:
                headers.append(("X-MS-Exchange-Organization-AuthAs", auth_as))
            item = FakeItem(
                id=self._new_id("I"),
                folder=self._distinguished(folder).id,
                mime=raw,
                received=received or RECEIVED_BASE + timedelta(seconds=seq),
                seq=seq,
                is_read=is_read,
                inbound=inbound,
                transport_headers=headers,
            )
            self.items[item.id] = item
            return item

    def in_folder(self, folder_id: str) -> list[FakeItem]:
        """Items of a folder, in arrival order."""
        return sorted(
            (i for i in self.items.values() if i.folder == folder_id), key=lambda i: i.seq
        )

    def inbox(self) -> list[FakeItem]:
        """Items in the Inbox."""
        return self.in_folder(self._distinguished("inbox").id)

    def quarantine(self) -> list[FakeItem]:
        """Items in the quarantine folder."""
        folder = self.folder_named("Cuarentena")
        return [] if folder is None else self.in_folder(folder.id)

    def operations(self) -> list[str]:
        """The operations answered, in order."""
        return [c.operation for c in self.calls]

    def downloaded(self) -> list[str]:
        """Message-IDs whose MIME content was sent to the client."""
        return [mid for c in self.calls if c.operation == "GetItem" for mid in c.detail["mime"]]

    def invalidate_sync_states(self) -> None:
        """Every sync state handed out so far becomes invalid (as after a mailbox move)."""
        self.sync_epoch += 1

    # -- request parsing -----------------------------------------------------------------

    def _folder_ref(self, elem: ET.Element) -> FakeFolder | str:
        """The folder a FolderId/DistinguishedFolderId names, or an error code."""
        if elem.tag == q("DistinguishedFolderId"):
            address = elem.findtext(f"{q('Mailbox')}/{q('EmailAddress')}")
            if address is not None and address.lower() != self.mailbox:
                return "ErrorNonExistentMailbox"
            try:
                return self._distinguished(elem.get("Id", ""))
            except StopIteration:
                return "ErrorFolderNotFound"
        folder = self.folders.get(elem.get("Id", ""))
        return folder if folder is not None else "ErrorFolderNotFound"

    @staticmethod
    def _shape(op: ET.Element, tag: str) -> set[str]:
        """The item properties a shape asks for (ItemId always)."""
        shape = op.find(mq(tag))
        wanted = {"item:ItemId"}
        if shape is None:
            return wanted
        if shape.findtext(q("BaseShape")) in ("AllProperties", "Default"):
            wanted |= ALL_PROPERTIES
        for uri in shape.iter(q("FieldURI")):
            wanted.add(uri.get("FieldURI", ""))
        return wanted

    # -- response pieces -----------------------------------------------------------------

    def _folder_xml(self, folder: FakeFolder) -> str:
        """A t:Folder with the properties exchangelib asks for."""
        items = self.in_folder(folder.id)
        parent = (
            f'<t:ParentFolderId Id="{folder.parent}" ChangeKey="AQAAAA=="/>'
            if folder.parent
            else ""
        )
        folder_class = (
            f"<t:FolderClass>{folder.folder_class}</t:FolderClass>" if folder.folder_class else ""
        )
        children = sum(1 for f in self.folders.values() if f.parent == folder.id)
        return FOLDER.substitute(
            id=folder.id,
            changekey=folder.changekey,
            parent=parent,
            folder_class=folder_class,
            name=escape(folder.name),
            total=len(items),
            children=children,
            create_hierarchy="true",
            unread=sum(1 for i in items if not i.is_read),
        )

    def _item_xml(self, item: FakeItem, wanted: set[str]) -> str:
        """A t:Message with the requested properties, in schema order."""
        parts: list[str] = []
        for prop in ITEM_PROPERTIES:
            if prop not in wanted:
                continue
            if prop == "item:MimeContent":
                encoded = base64.b64encode(item.mime).decode()
                parts.append(f'<t:MimeContent CharacterSet="UTF-8">{encoded}</t:MimeContent>')
            elif prop == "item:ItemId":
                parts.append(ITEM_ID.substitute(id=item.id, changekey=item.changekey))
            elif prop == "item:ParentFolderId":
                parts.append(f'<t:ParentFolderId Id="{item.folder}" ChangeKey="AQAAAA=="/>')
            elif prop == "item:ItemClass":
                parts.append("<t:ItemClass>IPM.Note</t:ItemClass>")
            elif prop == "item:Subject":
                parts.append(f"<t:Subject>{escape(item.header('Subject') or '')}</t:Subject>")
            elif prop == "item:DateTimeReceived":
                stamp = item.received.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                parts.append(f"<t:DateTimeReceived>{stamp}</t:DateTimeReceived>")
            elif prop == "item:Size":
                parts.append(f"<t:Size>{len(item.mime)}</t:Size>")
            elif prop == "item:InternetMessageHeaders":
                parts.append(self._headers_xml(item))
            elif prop == "message:InternetMessageId":
                message_id = item.header("Message-ID")
                if message_id:
                    parts.append(f"<t:InternetMessageId>{escape(message_id)}</t:InternetMessageId>")
            elif prop == "message:IsRead":
                parts.append(f"<t:IsRead>{str(item.is_read).lower()}</t:IsRead>")
        return f"<t:Message>{''.join(parts)}</t:Message>"

    @staticmethod
    def _headers_xml(item: FakeItem) -> str:
        """InternetMessageHeaders: the transport's own headers, then the message's."""
        parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(item.mime)
        pairs = [*item.transport_headers, *((k, str(v)) for k, v in parsed.items())]
        rows = "".join(
            f"<t:InternetMessageHeader HeaderName={quoteattr(k)}>{escape(v)}"
            "</t:InternetMessageHeader>"
            for k, v in pairs
        )
        return f"<t:InternetMessageHeaders>{rows}</t:InternetMessageHeaders>"

    @staticmethod
    def _error(operation: str, code: str, text: str, content: str = "") -> str:
        """A ResponseClass="Error" message."""
        return ERROR.substitute(operation=operation, code=code, text=escape(text), content=content)

    # -- restrictions --------------------------------------------------------------------

    def _matches(self, cond: ET.Element, value_of: Callable[[str], str | None]) -> bool:
        """Evaluate the subset of the Restriction grammar the backend uses."""
        tag = cond.tag.rpartition("}")[2]
        if tag == "Restriction":
            return all(self._matches(c, value_of) for c in cond)
        if tag == "And":
            return all(self._matches(c, value_of) for c in cond)
        if tag == "Or":
            return any(self._matches(c, value_of) for c in cond)
        if tag == "Not":
            return not self._matches(cond[0], value_of)
        if tag == "IsEqualTo":
            uri = cond.find(q("FieldURI"))
            constant = cond.find(f"{q('FieldURIOrConstant')}/{q('Constant')}")
            if uri is None or constant is None:
                raise NotImplementedError("IsEqualTo without FieldURI and Constant")
            actual = value_of(uri.get("FieldURI", ""))
            expected = constant.get("Value", "")
            return actual is not None and actual.lower() == expected.lower()
        raise NotImplementedError(f"restriction {tag}")

    # -- operations (messages.xsd) -------------------------------------------------------

    def _op_GetFolder(self, op: ET.Element) -> list[str]:
        """GetFolder: one message per FolderId/DistinguishedFolderId."""
        out = []
        ids = op.find(mq("FolderIds"))
        for ref in list(ids) if ids is not None else []:
            folder = self._folder_ref(ref)
            self.calls.append(Call("GetFolder", {"folder": getattr(folder, "name", folder)}))
            if isinstance(folder, str):
                out.append(
                    self._error(
                        "GetFolder", folder, "The specified folder could not be found in the store."
                    )
                )
            else:
                out.append(
                    SUCCESS.substitute(
                        operation="GetFolder",
                        content=f"<m:Folders>{self._folder_xml(folder)}</m:Folders>",
                    )
                )
        return out

    def _op_FindFolder(self, op: ET.Element) -> list[str]:
        """FindFolder: Shallow or Deep under each parent, with an optional Restriction."""
        deep = op.get("Traversal") == "Deep"
        restriction = op.find(mq("Restriction"))
        parents = op.find(mq("ParentFolderIds"))
        out = []
        for ref in list(parents) if parents is not None else []:
            parent = self._folder_ref(ref)
            self.calls.append(Call("FindFolder", {"parent": getattr(parent, "name", parent)}))
            if isinstance(parent, str):
                out.append(
                    self._error("FindFolder", parent, "The specified folder could not be found.")
                )
                continue
            found = list(self._descendants(parent.id, deep))
            if restriction is not None:
                found = [f for f in found if self._matches(restriction, _folder_value(f))]
            content = ROOT_FOLDER.substitute(
                offset=len(found),
                total=len(found),
                last="true",
                kind="Folders",
                content="".join(self._folder_xml(f) for f in found),
            )
            out.append(SUCCESS.substitute(operation="FindFolder", content=content))
        return out

    def _descendants(self, folder_id: str, deep: bool) -> Iterator[FakeFolder]:
        """Child folders, and with `deep` theirs too."""
        for folder in list(self.folders.values()):
            if folder.parent == folder_id:
                yield folder
                if deep:
                    yield from self._descendants(folder.id, deep)

    def _op_CreateFolder(self, op: ET.Element) -> list[str]:
        """CreateFolder under ParentFolderId; a taken name is ErrorFolderExists."""
        ref = op.find(mq("ParentFolderId"))
        assert ref is not None and len(ref), "CreateFolder without ParentFolderId"
        parent = self._folder_ref(ref[0])
        out = []
        folders = op.find(mq("Folders"))
        for new in list(folders) if folders is not None else []:
            name = new.findtext(q("DisplayName")) or ""
            self.calls.append(Call("CreateFolder", {"name": name}))
            if isinstance(parent, str):
                out.append(self._error("CreateFolder", parent, "The parent folder was not found."))
                continue
            if any(
                f.parent == parent.id and f.name.lower() == name.lower()
                for f in self.folders.values()
            ):
                out.append(
                    self._error(
                        "CreateFolder",
                        "ErrorFolderExists",
                        "A folder with the specified name already exists.",
                    )
                )
                continue
            folder = self._add_folder(name, parent.id, new.findtext(q("FolderClass")))
            content = (
                f'<m:Folders><t:Folder><t:FolderId Id="{folder.id}" '
                f'ChangeKey="{folder.changekey}"/></t:Folder></m:Folders>'
            )
            out.append(SUCCESS.substitute(operation="CreateFolder", content=content))
        return out

    def _sync_token(self, folder: FakeFolder, known: dict[str, bool]) -> str:
        """An opaque SyncState: what the client has been told about the folder."""
        data = {"epoch": self.sync_epoch, "folder": folder.id, "known": known}
        return base64.b64encode(json.dumps(data, sort_keys=True).encode()).decode()

    def _op_SyncFolderItems(self, op: ET.Element) -> list[str]:
        """SyncFolderItems: changes since SyncState, at most MaxChangesReturned of them."""
        ref = op.find(mq("SyncFolderId"))
        assert ref is not None and len(ref), "SyncFolderItems without SyncFolderId"
        folder = self._folder_ref(ref[0])
        token = op.findtext(mq("SyncState"))
        limit = int(op.findtext(mq("MaxChangesReturned")) or "512")
        wanted = self._shape(op, "ItemShape")
        self.calls.append(Call("SyncFolderItems", {"state": token, "max": limit}))
        # The error shape keeps SyncState and IncludesLastItemInRange, as the schema allows.
        tail = "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>"
        if isinstance(folder, str):
            return [self._error("SyncFolderItems", folder, "The folder was not found.", tail)]
        known: dict[str, bool] = {}
        if token:
            try:
                data = json.loads(base64.b64decode(token))
                valid = data["epoch"] == self.sync_epoch and data["folder"] == folder.id
            except (ValueError, KeyError, binascii.Error):
                valid = False
            if not valid:
                return [
                    self._error(
                        "SyncFolderItems",
                        "ErrorInvalidSyncStateData",
                        "Synchronization state data is corrupt or otherwise invalid.",
                        tail,
                    )
                ]
            known = dict(data["known"])
        current = self.in_folder(folder.id)
        present = {i.id for i in current}
        changes: list[tuple[str, str, bool]] = []
        changes += [("Delete", item_id, False) for item_id in known if item_id not in present]
        changes += [
            ("ReadFlagChange", i.id, i.is_read)
            for i in current
            if i.id in known and known[i.id] != i.is_read
        ]
        changes += [("Create", i.id, i.is_read) for i in current if i.id not in known]
        page, rest = changes[:limit], changes[limit:]
        xml: list[str] = []
        for kind, item_id, is_read in page:
            if kind == "Delete":
                known.pop(item_id, None)
                xml.append(f'<t:Delete><t:ItemId Id="{item_id}" ChangeKey="AAAA"/></t:Delete>')
                continue
            known[item_id] = is_read
            item = self.items[item_id]
            if kind == "Create":
                xml.append(f"<t:Create>{self._item_xml(item, wanted)}</t:Create>")
            else:
                xml.append(
                    f"<t:ReadFlagChange>{ITEM_ID.substitute(id=item.id, changekey=item.changekey)}"
                    f"<t:IsRead>{str(is_read).lower()}</t:IsRead></t:ReadFlagChange>"
                )
        content = (
            f"<m:SyncState>{self._sync_token(folder, known)}</m:SyncState>"
            f"<m:IncludesLastItemInRange>{str(not rest).lower()}</m:IncludesLastItemInRange>"
            f"<m:Changes>{''.join(xml)}</m:Changes>"
        )
        return [SUCCESS.substitute(operation="SyncFolderItems", content=content)]

    def _op_GetItem(self, op: ET.Element) -> list[str]:
        """GetItem: the requested properties of each ItemId."""
        wanted = self._shape(op, "ItemShape")
        ids = op.find(mq("ItemIds"))
        out = []
        mime: list[str] = []
        for ref in list(ids) if ids is not None else []:
            item = self.items.get(ref.get("Id", ""))
            if item is None:
                out.append(
                    self._error(
                        "GetItem",
                        "ErrorItemNotFound",
                        "The specified object was not found in the store.",
                    )
                )
                continue
            if "item:MimeContent" in wanted:
                mime.append(item.header("Message-ID") or item.id)
            xml = self._item_xml(item, wanted)
            out.append(SUCCESS.substitute(operation="GetItem", content=f"<m:Items>{xml}</m:Items>"))
        self.calls.append(Call("GetItem", {"fields": sorted(wanted), "mime": mime}))
        return out

    def _op_UpdateItem(self, op: ET.Element) -> list[str]:
        """UpdateItem: SetItemField of message:IsRead (the only change the backend makes)."""
        changes = op.find(mq("ItemChanges"))
        out = []
        for change in list(changes) if changes is not None else []:
            ref = change.find(q("ItemId"))
            item = self.items.get("" if ref is None else ref.get("Id", ""))
            self.calls.append(Call("UpdateItem", {"item": None if item is None else item.id}))
            if item is None:
                out.append(
                    self._error(
                        "UpdateItem",
                        "ErrorItemNotFound",
                        "The specified object was not found in the store.",
                    )
                )
                continue
            for set_field in change.iter(q("SetItemField")):
                uri = set_field.find(q("FieldURI"))
                if uri is None or uri.get("FieldURI") != "message:IsRead":
                    raise NotImplementedError("UpdateItem of a field other than IsRead")
                item.is_read = xs_boolean(set_field.findtext(f"{q('Message')}/{q('IsRead')}"))
                item.version += 1
            content = (
                f"<m:Items><t:Message>{ITEM_ID.substitute(id=item.id, changekey=item.changekey)}"
                "</t:Message></m:Items><m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>"
            )
            out.append(SUCCESS.substitute(operation="UpdateItem", content=content))
        return out

    def _op_MoveItem(self, op: ET.Element) -> list[str]:
        """MoveItem to ToFolderId; the moved item gets a new ItemId, as in Exchange."""
        ref = op.find(mq("ToFolderId"))
        assert ref is not None and len(ref), "MoveItem without ToFolderId"
        target = self._folder_ref(ref[0])
        ids = op.find(mq("ItemIds"))
        out = []
        for item_ref in list(ids) if ids is not None else []:
            item = self.items.get(item_ref.get("Id", ""))
            self.calls.append(Call("MoveItem", {"item": item_ref.get("Id")}))
            if isinstance(target, str):
                out.append(self._error("MoveItem", target, "The destination folder was not found."))
                continue
            if item is None:
                out.append(
                    self._error(
                        "MoveItem",
                        "ErrorItemNotFound",
                        "The specified object was not found in the store.",
                    )
                )
                continue
            del self.items[item.id]
            item.id, item.folder, item.seq = self._new_id("I"), target.id, next(self._seq)
            self.items[item.id] = item
            content = (
                f"<m:Items><t:Message>{ITEM_ID.substitute(id=item.id, changekey=item.changekey)}"
                "</t:Message></m:Items>"
            )
            out.append(SUCCESS.substitute(operation="MoveItem", content=content))
        return out

    def _op_CreateItem(self, op: ET.Element) -> list[str]:
        """CreateItem of messages from MimeContent: SendAndSaveCopy, SendOnly or SaveOnly."""
        disposition = op.get("MessageDisposition", "SaveOnly")
        saved = op.find(mq("SavedItemFolderId"))
        target = self._folder_ref(saved[0]) if saved is not None and len(saved) else None
        items = op.find(mq("Items"))
        out = []
        for message in list(items) if items is not None else []:
            mime_text = message.findtext(q("MimeContent"))
            if not mime_text:
                raise NotImplementedError("CreateItem without MimeContent")
            raw = base64.b64decode(mime_text)
            headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
            recipients = [
                address.lower()
                for _, address in getaddresses(
                    [str(v) for h in ("To", "Cc", "Bcc") for v in headers.get_all(h, [])]
                )
                if address
            ]
            self.calls.append(Call("CreateItem", {"disposition": disposition, "to": recipients}))
            if disposition != "SaveOnly":
                if not recipients:
                    out.append(
                        self._error(
                            "CreateItem",
                            "ErrorMissingRecipients",
                            "The item cannot be sent because it has no recipients.",
                            "<m:Items/>",
                        )
                    )
                    continue
                if any(r in self.refused for r in recipients):
                    out.append(
                        self._error(
                            "CreateItem",
                            "ErrorInvalidRecipients",
                            "At least one recipient isn't valid.",
                            "<m:Items/>",
                        )
                    )
                    continue
                self.sent.append(raw)
            if disposition == "SendOnly":
                out.append(SUCCESS.substitute(operation="CreateItem", content="<m:Items/>"))
                continue
            folder = target if isinstance(target, FakeFolder) else self._distinguished("sentitems")
            item = self.deliver(
                raw,
                folder=folder.distinguished or "sentitems",
                is_read=xs_boolean(message.findtext(q("IsRead"))),
                inbound=False,
            )
            item.folder = folder.id
            item_id = ITEM_ID.substitute(id=item.id, changekey=item.changekey)
            content = (
                "<m:Items/>"
                if disposition == "SendAndSaveCopy"
                else f"<m:Items><t:Message>{item_id}</t:Message></m:Items>"
            )
            out.append(SUCCESS.substitute(operation="CreateItem", content=content))
        return out

    def _op_FindItem(self, op: ET.Element) -> list[str]:
        """FindItem (Shallow) with an optional Restriction and IndexedPageItemView."""
        wanted = self._shape(op, "ItemShape")
        restriction = op.find(mq("Restriction"))
        view = op.find(mq("IndexedPageItemView"))
        limit = int(view.get("MaxEntriesReturned", "1000")) if view is not None else 1000
        offset = int(view.get("Offset", "0")) if view is not None else 0
        parents = op.find(mq("ParentFolderIds"))
        out = []
        for ref in list(parents) if parents is not None else []:
            folder = self._folder_ref(ref)
            detail = {
                "folder": getattr(folder, "name", folder),
                "restricted": restriction is not None,
            }
            self.calls.append(Call("FindItem", detail))
            if isinstance(folder, str):
                out.append(
                    self._error("FindItem", folder, "The specified folder could not be found.")
                )
                continue
            found = self.in_folder(folder.id)
            if restriction is not None:
                found = [i for i in found if self._matches(restriction, _item_value(i))]
            page = found[offset : offset + limit]
            end = offset + len(page)
            content = ROOT_FOLDER.substitute(
                offset=end,
                total=len(found),
                last=str(end >= len(found)).lower(),
                kind="Items",
                content="".join(self._item_xml(i, wanted) for i in page),
            )
            out.append(SUCCESS.substitute(operation="FindItem", content=content))
        return out


def _folder_value(folder: FakeFolder) -> Callable[[str], str | None]:
    """The value of a FieldURI on a folder, for restrictions."""

    def value_of(uri: str) -> str | None:
        """The folder's value for this FieldURI."""
        if uri == "folder:DisplayName":
            return folder.name
        raise NotImplementedError(f"restriction on {uri}")

    return value_of


def _item_value(item: FakeItem) -> Callable[[str], str | None]:
    """The value of a FieldURI on an item, for restrictions."""

    def value_of(uri: str) -> str | None:
        """The item's value for this FieldURI."""
        if uri == "message:InternetMessageId":
            return item.header("Message-ID")
        if uri == "item:Subject":
            return item.header("Subject")
        raise NotImplementedError(f"restriction on {uri}")

    return value_of


def _handler(fake: FakeEws) -> type[BaseHTTPRequestHandler]:
    """The request handler class bound to one fake."""

    class Handler(BaseHTTPRequestHandler):
        """POST /EWS/Exchange.asmx; HTTP/1.0, so every response closes its connection."""

        def do_POST(self) -> None:
            """Answer one SOAP request."""
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers: dict[str, str] = {}
            if self.path != PATH:
                status, payload = 404, b""
            else:
                status, headers, payload = fake.answer(self.headers.get("Authorization"), body)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if payload:
                self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests look at fake.calls instead."""

    return Handler
