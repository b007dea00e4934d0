"""Real mail servers for the tests: Dovecot (IMAP) on a loopback port, aiosmtpd (SMTP).

Dovecot runs from a throwaway configuration, passwd file and Maildir in a folder of its
own, as root (mail processes then run as `nobody`) or as the current user. Without the
`dovecot` binary the tests that need it are skipped, unless MESABOT_REQUIRE_DOVECOT=1
(set by .ci/run, which installs Debian's dovecot-imapd) turns that into a failure.
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER = "mesa.ayuda@example.com"
PASSWORD = "clave-de-prueba"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need_dovecot() -> None:
    """Skip (or, in CI, fail) when Dovecot is not installed."""
    if Path(DOVECOT).exists():
        return
    if os.environ.get("MESABOT_REQUIRE_DOVECOT") == "1":
        pytest.fail("dovecot no está instalado (apt-get install dovecot-imapd)")
    pytest.skip("dovecot no está instalado (apt-get install dovecot-imapd)")


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost: (cert, key) PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@dataclass
class Dovecot:
    """A running Dovecot with one mailbox; `port` speaks IMAP (STARTTLS), `tls_port` IMAPS."""

    root: Path
    port: int
    tls_port: int
    cert: Path
    key: Path
    process: subprocess.Popen[bytes] | None = None
    uid: int = 0
    gid: int = 0

    @property
    def maildir(self) -> Path:
        """The mailbox's Maildir on disk (INBOX is its top level)."""
        return self.root / "mail" / USER

    def config(self) -> str:
        """dovecot.conf for this instance."""
        me = pwd.getpwuid(os.getuid()).pw_name
        unprivileged = (
            "" if os.getuid() == 0 else f"default_login_user = {me}\ndefault_internal_user = {me}\n"
        )
        return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
info_log_path = {self.root}/dovecot.log
{unprivileged}ssl = yes
ssl_cert = <{self.cert}
ssl_key = <{self.key}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{self.root}/mail/%u
first_valid_uid = {self.uid}
first_valid_gid = {self.gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/passwd
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={self.root}/home/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
"""

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        conf = self.root / "dovecot.conf"
        conf.write_text(self.config())
        # Sockets left by a killed instance would stop the new one from listening.
        shutil.rmtree(self.root / "run", ignore_errors=True)
        (self.root / "run").mkdir()
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                log = (
                    (self.root / "dovecot.log").read_text()
                    if (self.root / "dovecot.log").exists()
                    else ""
                )
                raise RuntimeError(f"dovecot did not start: {err}\n{log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("dovecot did not listen in 15 s")

    def stop(self) -> None:
        """Kill the server and all its processes at once, as a crash or a pulled cable would."""
        if self.process is not None and self.process.poll() is None:
            # Its own process group: the master cannot respawn a child it is losing, and
            # no imap process outlives it holding a client's connection open.
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None
        # A process killed while taking a dotlock leaves the file empty, with no pid to show
        # it is stale, and the next instance waits on it for two minutes (its stale timeout).
        for folder in self.folders():
            for lock in folder.glob("*.lock"):
                lock.unlink(missing_ok=True)

    def folders(self) -> list[Path]:
        """INBOX and every other folder of the mailbox on disk."""
        return [self.maildir, *self.maildir.glob(".*")] if self.maildir.is_dir() else []

    def reset_uidvalidity(self) -> None:
        """What a restored or migrated mailbox looks like: same mail, new UIDVALIDITY and UIDs."""
        self.stop()
        for folder in self.folders():
            for index in folder.glob("dovecot*"):
                index.unlink(missing_ok=True)
        time.sleep(1.1)  # UIDVALIDITY is the creation second
        self.start()

    def restart(self) -> None:
        """Stop and start again on the same ports and mailbox."""
        self.stop()
        self.start()

    def deliver(self, raw: bytes, folder: str = "INBOX") -> Path:
        """File a message straight into the Maildir, as the local delivery agent does."""
        base = self.maildir if folder == "INBOX" else self.maildir / f".{folder}"
        for sub in ("tmp", "new", "cur"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}.M{os.getpid()}.test"
        tmp = base / "tmp" / name
        tmp.write_bytes(raw)
        os.chown(tmp, self.uid, self.gid)
        target = base / "new" / name
        tmp.replace(target)
        self._own(self.root / "mail")
        return target

    def _own(self, path: Path) -> None:
        """Give the mail files to the user the mail processes run as."""
        for item in [path, *path.rglob("*")]:
            os.chown(item, self.uid, self.gid)


@contextmanager
def dovecot() -> Iterator[Dovecot]:
    """A fresh Dovecot with the mailbox USER / PASSWORD; stopped and removed afterwards."""
    need_dovecot()
    # Its own folder under /tmp: pytest's are private to root, the mail user must get in.
    root = Path(tempfile.mkdtemp(prefix="mesabot-dovecot-"))
    root.chmod(0o755)
    if os.getuid() == 0:
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
    else:
        uid, gid = os.getuid(), os.getgid()
    cert, key = make_certificate(root)
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir()
    for sub in ("mail", "home"):
        os.chown(root / sub, uid, gid)
    server = Dovecot(root, free_port(), free_port(), cert, key, uid=uid, gid=gid)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


# --- SMTP ---------------------------------------------------------------------------------


@dataclass
class SmtpServer:
    """aiosmtpd on a loopback port, keeping what it accepts; can refuse or fail on demand."""

    port: int
    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)
    busy: int = 0  # answer the next N messages with 451
    users: dict[str, str] = field(default_factory=dict)
    tls_cert: tuple[Path, Path] | None = None
    controller: Any = None

    def start(self) -> None:
        """Listen (again) on the port."""
        import ssl

        from aiosmtpd.controller import Controller

        kwargs: dict[str, Any] = {"decode_data": False, "enable_SMTPUTF8": True}
        if self.tls_cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.tls_cert[0]), str(self.tls_cert[1]))
            kwargs.update(tls_context=context, require_starttls=True)
        if self.users:
            kwargs.update(
                authenticator=_authenticator(self),
                auth_required=True,
                auth_require_tls=self.tls_cert is not None,
            )
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)
        with warnings.catch_warnings():
            # AUTH without TLS is only ever set up on loopback for the plain-text test.
            warnings.simplefilter("ignore", UserWarning)
            self.controller.start()

    def stop(self) -> None:
        """Stop listening."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def messages(self) -> list[bytes]:
        """The raw messages accepted, in order."""
        return [raw for _, _, raw in self.received]


class _Handler:
    """aiosmtpd handler: refuse listed recipients (550), fail on demand (451), keep the rest."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, srv: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        """550 for a refused address."""
        if address.lower() in self.server.refused:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, srv: Any, session: Any, envelope: Any) -> str:
        """Keep the message, or answer 451 when told to."""
        if self.server.busy:
            self.server.busy -= 1
            return "451 4.3.0 Intente más tarde"
        self.server.received.append(
            (envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
        )
        return "250 2.0.0 OK"


def _authenticator(server: SmtpServer) -> Any:
    """Check AUTH PLAIN/LOGIN against the server's users."""
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def check(srv: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = (
            isinstance(data, LoginPassword)
            and server.users.get(data.login.decode()) == data.password.decode()
        )
        return AuthResult(success=ok, handled=False)

    return check


@contextmanager
def smtp_server(
    *, users: dict[str, str] | None = None, tls_cert: tuple[Path, Path] | None = None
) -> Iterator[SmtpServer]:
    """An SMTP server on 127.0.0.1; with users, AUTH is required; with a cert, STARTTLS."""
    server = SmtpServer(free_port(), users=dict(users or {}), tls_cert=tls_cert)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    """Poll until predicate() is true or the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())
