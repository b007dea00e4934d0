"""The EWS mail backend: on-premises Exchange through exchangelib.

Inbound follows the Inbox with SyncFolderItems. The sync state read from the database is
the start of every pass; the new one is kept in memory and stored only in `done`, after
the batch is committed, so a crash before it only means the same items come again. Only
created items count (updates, deletions and read-flag changes are ignored); the first pass
ever takes unread mail only, so that pointing the bot at an old mailbox does not open a
case for every message it ever received. Before downloading, the Message-IDs of the new
items are looked up in the database: mail already ingested is only marked read. Mail over
the size limit is announced without downloading it. Acknowledged mail is marked read;
quarantined mail is moved to a "Cuarentena" folder next to the Inbox. Nothing is deleted.

Outbound sends the complete MIME as it is (our Message-ID, In-Reply-To, References and
Auto-Submitted stay) with a copy in Sent Items, where a retry first looks for the same
Message-ID so that a message is never sent twice.

exchangelib is synchronous; the daemon runs the cycle off the event loop. The Account is
created on first use, so building the app never touches the network.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from exchangelib import (
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Configuration,
    Credentials,
    FaultTolerance,
    Folder,
    Identity,
    Message,
    OAuth2Credentials,
    Version,
)
from exchangelib import UTC as EWS_UTC
from exchangelib import errors as ews
from exchangelib.items import ALWAYS_OVERWRITE, SEND_AND_SAVE_COPY
from exchangelib.protocol import Protocol
from exchangelib.services import CreateFolder
from exchangelib.version import EXCHANGE_2016
from oauthlib.oauth2 import OAuth2Error  # type: ignore[import-untyped]

from bot.channels.base import Check, InboundMessage
from bot.channels.state import CursorStore
from bot.config import Config, EwsSettings
from bot.errors import ChannelAuthFailed, ChannelUnavailable, MesabotError, MessageRejected
from storage.db import Database

log = logging.getLogger(__name__)

QUARANTINE_FOLDER = "Cuarentena"
STATE_KEY = "sync_state"
# Properties asked for in the sync: enough to decide without downloading the message.
SYNC_FIELDS = ("message_id", "size", "datetime_received", "is_read")
DOWNLOAD_FIELDS = ("mime_content", "headers")
# Messages per GetItem of MIME content: few round trips, bounded memory.
FETCH_CHUNK = 10
FETCH_CHUNK_BYTES = 16 * 1024 * 1024
# Exchange's own verdict on the sender, stamped by its transport (see _authenticated).
AUTH_AS = "x-ms-exchange-organization-authas"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Errors that say this message can never be sent as it is.
_REJECTED: tuple[type[Exception], ...] = (
    ews.ErrorInvalidRecipients,
    ews.ErrorMailRecipientNotFound,
    ews.ErrorMissingRecipients,
    ews.ErrorInvalidSmtpAddress,
    ews.ErrorMessageSizeExceeded,
    ews.ErrorAttachmentSizeLimitExceeded,
    ews.ErrorMimeContentConversionFailed,
    ews.ErrorMimeContentInvalid,
    ews.ErrorUnsupportedMimeConversion,
)
# Errors that no retry fixes: the account lacks a right an administrator must grant.
_DENIED: tuple[type[Exception], ...] = (
    ews.UnauthorizedError,
    ews.ErrorAccessDenied,
    ews.ErrorAccountDisabled,
    ews.ErrorNonExistentMailbox,
    ews.ErrorImpersonateUserDenied,
    ews.ErrorImpersonationDenied,
    ews.ErrorImpersonationFailed,
    ews.ErrorSendAsDenied,
    ews.ErrorCreateItemAccessDenied,
    ews.ErrorCreateSubfolderAccessDenied,
)


class _BoundedRetry(FaultTolerance):  # type: ignore[misc]
    """exchangelib's FaultTolerance, bounded per operation and strict about a 401."""

    def __init__(self, max_wait: float) -> None:
        """Back-offs of one operation add up to at most `max_wait` seconds."""
        super().__init__(max_wait=max_wait)
        self._local = threading.local()
        self._busy_until = 0.0

    @contextmanager
    def operation(self) -> Iterator[None]:
        """Within it, back-offs stop at max_wait seconds from now."""
        left = self._busy_until - time.monotonic()
        if left > 0:
            # The server asked for a longer pause than one operation may wait: honour it
            # without a request (which would prolong Exchange's throttling).
            raise ews.RateLimitError(f"pidió esperar {left:.1f} s más", wait=left)
        self._local.deadline = time.monotonic() + self.max_wait
        try:
            yield
        finally:
            self._local.deadline = None

    def back_off(self, seconds: float | None) -> None:
        """Give up once the next wait would pass the operation's deadline."""
        # FaultTolerance compares each single wait with max_wait, so a server that keeps
        # asking for short back-offs would be retried forever.
        wait = self.DEFAULT_BACKOFF if seconds is None else seconds
        deadline = getattr(self._local, "deadline", None)
        if deadline is not None and time.monotonic() + wait > deadline:
            self._busy_until = time.monotonic() + wait
            raise ews.RateLimitError(f"pidió esperar {wait:.1f} s", wait=wait)
        super().back_off(wait)

    def raise_response_errors(self, response: Any) -> None:
        """Read 401 and 403 as refusals, not as throttling to be waited out."""
        # FaultTolerance retries a 401 as throttling until max_wait: a wrong password
        # would look like an outage for minutes.
        if response.status_code == 401:
            raise ews.UnauthorizedError(f"HTTP 401 de {response.url}")
        if response.status_code == 403:
            raise ews.ErrorAccessDenied(f"HTTP 403 de {response.url}")
        super().raise_response_errors(response)


@dataclass(frozen=True)
class _Candidate:
    """A created item as the sync described it, before any download."""

    key: str
    message_id: str | None
    size: int
    received_at: datetime | None
    order: int


class EwsChannel:
    """The EWS mail backend (exchangelib), one mailbox."""

    def __init__(
        self,
        *,
        endpoint: str,
        mailbox: str,
        credentials: Any,
        cursors: CursorStore,
        max_message_bytes: int,
        auth_type: str = NTLM,
        access_type: str = DELEGATE,
        version: Any = None,
        max_wait: float = 120.0,
        timeout: float = 120.0,
        page_size: int = 100,
        username: str = "",
        secret_env: str | None = None,
        account_factory: Callable[[Any], Any] | None = None,
    ) -> None:
        """Keep the settings; `account_factory` turns a Configuration into an Account."""
        self.endpoint = endpoint
        self.mailbox = mailbox
        self.credentials = credentials
        self.cursors = cursors
        self.max_message_bytes = max_message_bytes
        self.auth_type = auth_type
        self.access_type = access_type
        # An explicit version saves the round trips exchangelib spends guessing it; the
        # ServerVersionInfo of the first answer corrects the build where it differs.
        self.version = version if version is not None else Version(build=EXCHANGE_2016)
        self.timeout = timeout
        self.page_size = page_size
        self.username = username
        self.secret_env = secret_env
        self._policy = _BoundedRetry(max_wait)
        # exchangelib's debug log carries the HTTP headers of every request, NTLM or Basic
        # authorization included; keep it at INFO unless someone set a level on purpose.
        library_log = logging.getLogger("exchangelib")
        if library_log.level == logging.NOTSET:
            library_log.setLevel(logging.INFO)
        self._account_factory = account_factory or self._new_account
        self._account: Any = None
        self._quarantine: Any = None
        # The pass in progress: the new sync state once every item was handed out, the
        # keys handed out, and those acknowledged or quarantined.
        self._next_state: str | None = None
        self._fetched: set[str] = set()
        self._answered: set[str] = set()

    @property
    def max_wait(self) -> float:
        """The longest an operation waits for a busy server, in seconds."""
        return float(self._policy.max_wait)

    # -- connection ----------------------------------------------------------------------

    def configuration(self) -> Any:
        """exchangelib's Configuration for this endpoint (no network)."""
        return Configuration(
            service_endpoint=self.endpoint,
            credentials=self.credentials,
            auth_type=self.auth_type,
            version=self.version,
            retry_policy=self._policy,
        )

    def _new_account(self, config: Any) -> Any:
        """The Account, without autodiscover (which would probe several URLs)."""
        return Account(
            primary_smtp_address=self.mailbox,
            config=config,
            autodiscover=False,
            access_type=self.access_type,
            default_timezone=EWS_UTC,
        )

    def _get_account(self) -> Any:
        """The Account, created on first use."""
        if self._account is None:
            account = self._account_factory(self.configuration())
            protocol = account.protocol
            # exchangelib shares one Protocol per endpoint and credentials; make sure it
            # uses this channel's retry bound and HTTP timeout.
            protocol.config.retry_policy = self._policy
            protocol.TIMEOUT = self.timeout
            self._account = account
        return self._account

    @contextmanager
    def _ews(self, what: str) -> Iterator[Any]:
        """The Account, with exchangelib's errors translated into the seam's vocabulary."""
        try:
            with self._policy.operation():
                yield self._get_account()
        except MesabotError:
            raise
        except Exception as exc:
            error = self._translate(exc, what)
            if error is None:
                raise
            raise error from exc

    def _translate(self, exc: Exception, what: str) -> MesabotError | None:
        """The seam's error for an exchangelib or network error; None for anything else."""
        where = f"EWS {self.endpoint} ({what})"
        if isinstance(exc, _REJECTED):
            return MessageRejected(f"{where}: Exchange rechazó el mensaje: {exc}")
        if isinstance(exc, ews.UnauthorizedError):
            return ChannelAuthFailed(f"{where}: el servidor rechazó las credenciales ({exc})")
        if isinstance(exc, _DENIED):
            return ChannelAuthFailed(f"{where}: acceso denegado: {type(exc).__name__}: {exc}")
        if isinstance(exc, OAuth2Error):
            return ChannelAuthFailed(f"{where}: OAuth2 rechazó la aplicación: {exc.error}")
        if isinstance(exc, ews.RateLimitError):
            return ChannelUnavailable(f"{where}: el servidor está ocupado y {exc}")
        if isinstance(exc, (ews.EWSError, requests.RequestException, OSError)):
            return ChannelUnavailable(f"{where}: {type(exc).__name__}: {exc}")
        return None

    # -- inbound -------------------------------------------------------------------------

    def fetch(self) -> Iterator[InboundMessage]:
        """Items created in the Inbox since the stored sync state, oldest first."""
        self._next_state = None
        self._fetched, self._answered = set(), set()
        stored = self.cursors.get(STATE_KEY)
        with self._ews("sincronización") as account:
            candidates, state = self._sync(account, stored)
        ids = {c.message_id for c in candidates if c.message_id}
        known = self.cursors.known_message_ids(ids) if ids else set()
        seen = [c.key for c in candidates if c.message_id in known]
        if seen:
            # Ingested before: the commit happened, the acknowledgement did not.
            with self._ews("marcar como leído") as account:
                self._mark_read(account, seen)
            self._answered.update(seen)
        wanted = sorted(
            (c for c in candidates if c.message_id not in known),
            key=lambda c: (c.received_at or _EPOCH, c.order),
        )
        chunk: list[_Candidate] = []
        chunk_bytes = 0
        for candidate in wanted:
            if candidate.size > self.max_message_bytes:
                yield from self._download(chunk)
                chunk, chunk_bytes = [], 0
                # Left on the server unread: the pipeline sets it aside with one notice.
                self._fetched.add(candidate.key)
                yield InboundMessage(
                    channel="mail", key=candidate.key, raw=b"", size=candidate.size
                )
                continue
            if chunk and (
                len(chunk) >= FETCH_CHUNK or chunk_bytes + candidate.size > FETCH_CHUNK_BYTES
            ):
                yield from self._download(chunk)
                chunk, chunk_bytes = [], 0
            chunk.append(candidate)
            chunk_bytes += candidate.size
        yield from self._download(chunk)
        # Every item was handed out: done() may store the state once they are answered.
        self._next_state = state

    def _sync(self, account: Any, stored: str | None) -> tuple[list[_Candidate], str | None]:
        """The created items since `stored` (every page), and the new sync state."""
        inbox = account.inbox
        try:
            return self._sync_from(inbox, stored)
        except ews.ErrorInvalidSyncStateData:
            if stored is None:
                raise
            # The server no longer knows the state (mailbox moved, state expired): start
            # over; Message-IDs already ingested are recognised, not ingested twice.
            log.warning("EWS %s: estado de sincronización inválido; se resincroniza", self.mailbox)
            return self._sync_from(inbox, None)

    def _sync_from(self, inbox: Any, stored: str | None) -> tuple[list[_Candidate], str | None]:
        """One complete SyncFolderItems run from `stored`."""
        # sync_items falls back to the folder's own last state when given None.
        inbox.item_sync_state = stored
        candidates: list[_Candidate] = []
        changes = inbox.sync_items(
            sync_state=stored, only_fields=list(SYNC_FIELDS), max_changes_returned=self.page_size
        )
        for order, (change, item) in enumerate(changes):
            if isinstance(item, Exception):
                raise item
            if change != "create":
                continue
            if stored is None and getattr(item, "is_read", False):
                continue  # the first pass ever: unread mail only
            candidates.append(
                _Candidate(
                    key=str(item.id),
                    message_id=_normal_id(getattr(item, "message_id", None)),
                    size=int(getattr(item, "size", None) or 0),
                    received_at=_aware(getattr(item, "datetime_received", None)),
                    order=order,
                )
            )
        state = inbox.item_sync_state
        return candidates, None if state is None else str(state)

    def _download(self, chunk: Sequence[_Candidate]) -> Iterator[InboundMessage]:
        """The MIME content and headers of a few items, in one GetItem."""
        if not chunk:
            return
        with self._ews("descarga") as account:
            items = list(
                account.fetch(ids=[(c.key, None) for c in chunk], only_fields=list(DOWNLOAD_FIELDS))
            )
        for candidate, item in zip(chunk, items, strict=True):
            if isinstance(item, ews.ErrorItemNotFound):
                continue  # moved or deleted by someone else meanwhile
            if isinstance(item, Exception):
                error = self._translate(item, "descarga")
                raise error if error is not None else item
            self._fetched.add(candidate.key)
            yield InboundMessage(
                channel="mail",
                key=candidate.key,
                raw=bytes(item.mime_content or b""),
                received_at=candidate.received_at,
                authenticated=_authenticated(item.headers),
            )

    def _mark_read(self, account: Any, keys: Sequence[str]) -> None:
        """Set IsRead on these items; one already gone is not an error."""
        # No ChangeKey: the item id alone finds the item, and AlwaysOverwrite makes a
        # change made meanwhile (a flag, a category) no conflict.
        results = account.bulk_update(
            items=[(Message(account=account, id=key, is_read=True), ["is_read"]) for key in keys],
            conflict_resolution=ALWAYS_OVERWRITE,
            suppress_read_receipts=True,
        )
        _raise_first(results)

    def ack(self, key: str) -> None:
        """Mark the message read."""
        with self._ews("marcar como leído") as account:
            self._mark_read(account, [key])
        self._answered.add(key)

    def quarantine(self, key: str) -> None:
        """Move the message, untouched and unread, to the quarantine folder."""
        with self._ews("cuarentena") as account:
            folder = self._quarantine_folder(account, create=True)
            _raise_first(account.bulk_move(ids=[(key, None)], to_folder=folder))
        self._answered.add(key)

    def _quarantine_folder(self, account: Any, *, create: bool) -> Any:
        """The "Cuarentena" folder beside the Inbox; made when missing and `create`."""
        if self._quarantine is not None:
            return self._quarantine
        parent = account.msg_folder_root
        try:
            self._quarantine = parent // QUARANTINE_FOLDER
        except ews.ErrorFolderNotFound:
            if not create:
                return None
            # CreateFolder itself: Folder.save() would first map the whole folder tree.
            folder = Folder(root=parent.root, name=QUARANTINE_FOLDER, folder_class="IPF.Note")
            try:
                self._quarantine = CreateFolder(account=account).get(
                    parent_folder=parent, folders=[folder]
                )
            except ews.ErrorFolderExists:  # made by someone else meanwhile
                self._quarantine = parent // QUARANTINE_FOLDER
        return self._quarantine

    def done(self) -> None:
        """Store the pass's sync state, if every message handed out was answered."""
        if self._next_state is None or not self._fetched <= self._answered:
            return
        self.cursors.put(STATE_KEY, self._next_state)
        self._next_state = None

    # -- outbound ------------------------------------------------------------------------

    def send(self, raw: bytes, key: str) -> None:
        """Send the MIME as is, with a copy in Sent Items, unless that copy already exists."""
        with self._ews("envío") as account:
            sent = account.sent
            if sent.filter(message_id=key).exists():
                log.info("EWS: %s ya está en Elementos enviados; no se envía de nuevo", key)
                return
            message = Message(account=account, folder=sent, mime_content=raw, is_read=True)
            results = account.bulk_create(
                folder=sent, items=[message], message_disposition=SEND_AND_SAVE_COPY
            )
            _raise_first(results, missing_ok=False)

    # -- set-up, diagnosis ---------------------------------------------------------------

    def ensure(self) -> None:
        """Nothing local to prepare: the quarantine folder is made on first use."""

    def check(self) -> list[Check]:
        """Log in, open the Inbox and Sent Items, look for the quarantine folder."""
        where = f"{self.endpoint} como {self.username or self.mailbox}"
        if self.secret_env is not None and not os.environ.get(self.secret_env):
            return [
                Check(
                    "EWS: credenciales",
                    False,
                    f"La variable de entorno {self.secret_env} no está definida o está vacía.",
                    f"Defina {self.secret_env} con la contraseña o el secreto antes de iniciar "
                    "el bot.",
                )
            ]
        try:
            with self._ews("diagnóstico") as account:
                inbox = account.inbox
                total, unread = inbox.total_count, inbox.unread_count
        except ChannelAuthFailed as exc:
            return [Check("EWS: inicio de sesión", False, str(exc), self._login_fix(exc))]
        except ChannelUnavailable as exc:
            return [Check("EWS: conexión", False, str(exc), self._connection_fix())]
        checks = [
            Check("EWS: inicio de sesión", True, where),
            Check(
                "EWS: bandeja de entrada",
                True,
                f"{self.mailbox}: {total or 0} mensajes, {unread or 0} sin leer",
            ),
        ]
        checks.append(self._check_sent())
        checks.append(self._check_quarantine())
        return checks

    def _check_sent(self) -> Check:
        """Sent Items can be opened (a retried send looks there first)."""
        try:
            with self._ews("diagnóstico") as account:
                account.sent.filter(message_id="<mesabot-doctor@invalid>").exists()
        except MesabotError as exc:
            return Check(
                "EWS: elementos enviados",
                False,
                str(exc),
                f"Dé al usuario {self.username or self.mailbox} acceso total al buzón "
                f"{self.mailbox} (Add-MailboxPermission -AccessRights FullAccess).",
            )
        return Check("EWS: elementos enviados", True, "accesible")

    def _check_quarantine(self) -> Check:
        """The quarantine folder exists, or the account may create it."""
        name = f"EWS: carpeta {QUARANTINE_FOLDER}"
        try:
            with self._ews("diagnóstico") as account:
                folder = self._quarantine_folder(account, create=False)
                rights = None if folder is not None else account.msg_folder_root.effective_rights
        except MesabotError as exc:
            return Check(
                name,
                False,
                str(exc),
                f"Dé al usuario acceso total al buzón {self.mailbox} o cree la carpeta "
                f"«{QUARANTINE_FOLDER}» junto a la Bandeja de entrada.",
            )
        if folder is not None:
            return Check(name, True, "existe")
        if rights is not None and getattr(rights, "create_hierarchy", True) is False:
            return Check(
                name,
                False,
                "no existe y el usuario no puede crear carpetas en el buzón",
                f"Cree la carpeta «{QUARANTINE_FOLDER}» junto a la Bandeja de entrada o dé al "
                "usuario acceso total al buzón.",
            )
        return Check(name, True, "no existe; se creará al usarla")

    def _login_fix(self, exc: ChannelAuthFailed) -> str:
        """How to fix a refused login, in the operator's words."""
        cause = exc.__cause__
        online = _exchange_online(self.endpoint)
        if online:
            return (
                'Exchange Online bloquea EWS: use backend = "graph" en [mail] con la '
                "sección [mail.graph]."
            )
        if isinstance(cause, ews.ErrorAccessDenied) and "403" in str(cause):
            return (
                f"EWS está deshabilitado o bloqueado para {self.mailbox}: en el Exchange "
                f"Management Shell, Set-CASMailbox -Identity {self.mailbox} -EwsEnabled $true "
                "(y revise EwsApplicationAccessPolicy)."
            )
        if isinstance(cause, (ews.UnauthorizedError, OAuth2Error)):
            if self.auth_type == OAUTH2:
                return (
                    "Revise client_id, tenant_id y el secreto en la variable "
                    f"{self.secret_env or '(secret_env)'}, y que la aplicación tenga el "
                    "permiso full_access_as_app de EWS."
                )
            return (
                f"Revise el usuario «{self.username}» (en NTLM, DOMINIO\\usuario o "
                "usuario@dominio) y la contraseña en la variable "
                f"{self.secret_env or '(password_env)'}."
            )
        if self.access_type == IMPERSONATION:
            return (
                f"Dé a la aplicación el rol ApplicationImpersonation sobre {self.mailbox}, "
                "o revise que el buzón exista."
            )
        return (
            f"El usuario inició sesión pero no puede abrir {self.mailbox}: dele acceso total "
            "(Add-MailboxPermission -AccessRights FullAccess) o revise mailbox en [mail.ews]."
        )

    def _connection_fix(self) -> str:
        """How to fix an unreachable server, in the operator's words."""
        if _exchange_online(self.endpoint):
            return (
                'Exchange Online bloquea EWS: use backend = "graph" en [mail] con la '
                "sección [mail.graph]."
            )
        return (
            f"Revise server en [mail.ews] y que {self.endpoint} responda desde este equipo "
            "(red, cortafuegos); si el certificado es de una CA interna, ponga su ruta en la "
            "variable REQUESTS_CA_BUNDLE; si el servidor está ocupado, reintente más tarde."
        )

    def close(self) -> None:
        """Close exchangelib's HTTP connections; the next use opens new ones."""
        account, self._account, self._quarantine = self._account, None, None
        if account is None:
            return
        protocol = account.protocol
        with suppress(Exception):
            protocol.close()
        with suppress(KeyError):
            # Without this, exchangelib would hand the next Account the same Protocol.
            del Protocol[protocol.config]


def _raise_first(results: Sequence[Any], *, missing_ok: bool = True) -> None:
    """Raise the first error among per-item results; a vanished item is fine if missing_ok."""
    for result in results:
        if missing_ok and isinstance(result, ews.ErrorItemNotFound):
            continue  # moved or deleted by someone meanwhile: nothing left to do
        if isinstance(result, Exception):
            raise result


def _normal_id(value: object) -> str | None:
    """A Message-ID as the pipeline stores it: "<...>" without spaces."""
    if not isinstance(value, str):
        return None
    compact = "".join(value.split())
    if not compact:
        return None
    return compact if compact.startswith("<") else f"<{compact}>"


def _aware(value: object) -> datetime | None:
    """An EWS date-time as a plain aware datetime in UTC."""
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(value.timestamp(), UTC)


def _authenticated(headers: object) -> bool | None:
    """Exchange's verdict on the sender, from X-MS-Exchange-Organization-AuthAs."""
    # Exchange's transport removes X-MS-Exchange-Organization-* headers from mail coming
    # in from outside (the header firewall) and stamps its own AuthAs, read here from the
    # headers as the transport recorded them (InternetMessageHeaders); should "Anonymous"
    # and "Internal" both appear, the distrustful one wins.
    # "Internal": submitted by an authenticated user or server of the organization (also
    # mail over a connector the administrator marked Externally Secured, and a hybrid
    # tenant's own mail); "Anonymous": mail from the internet. "Partner" and "External"
    # are authenticated but not internal: those, and mail without the header, are left to
    # Authentication-Results (None).
    verdicts: set[str] = set()
    for header in headers if isinstance(headers, list) else []:
        if str(getattr(header, "name", "") or "").strip().lower() == AUTH_AS:
            verdicts.add(str(getattr(header, "value", "") or "").strip().lower())
    if "anonymous" in verdicts:
        return False
    if "internal" in verdicts:
        return True
    return None


def _exchange_online(endpoint: str) -> bool:
    """Whether the endpoint is Microsoft's cloud, where EWS is blocked."""
    host = (urlsplit(endpoint).hostname or "").lower()
    return host.endswith(("office365.com", "outlook.com", "office.com"))


def ews_endpoint(server: str) -> str:
    """The EWS URL of a server given by name, or the URL itself when one is given."""
    server = server.strip()
    if server.startswith(("https://", "http://")):
        return server
    return f"https://{server.strip('/')}/EWS/Exchange.asmx"


def ews_credentials(settings: EwsSettings, environ: Mapping[str, str]) -> tuple[Any, str, str]:
    """exchangelib credentials, auth type and access type for the settings."""
    if settings.auth == "oauth2":
        secret = environ.get(settings.secret_env or "", "")
        credentials = OAuth2Credentials(
            client_id=settings.client_id or "",
            client_secret=secret,
            tenant_id=settings.tenant_id or "",
            identity=Identity(primary_smtp_address=settings.mailbox),
        )
        return credentials, OAUTH2, IMPERSONATION
    password = environ.get(settings.password_env or "", "")
    return Credentials(settings.username, password), NTLM, DELEGATE


def build_ews_channel(config: Config, db: Database) -> EwsChannel:
    """The EWS channel of `[mail.ews]`; no network until first use."""
    settings = config.mail.ews
    if settings is None:
        raise ValueError('[mail.ews] is required with backend = "ews"')
    credentials, auth_type, access_type = ews_credentials(settings, os.environ)
    secret_env = settings.secret_env if settings.auth == "oauth2" else settings.password_env
    return EwsChannel(
        endpoint=ews_endpoint(settings.server),
        mailbox=settings.mailbox,
        credentials=credentials,
        cursors=CursorStore(db, "mail:ews"),
        max_message_bytes=config.mail.max_message_mb * 1024 * 1024,
        auth_type=auth_type,
        access_type=access_type,
        username=settings.username,
        secret_env=secret_env,
    )
