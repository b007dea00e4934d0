"""Configuration: config.toml read with tomllib, validated into frozen pydantic models.

``load_config`` is the only entry point that applies everything the contract promises:
environment overrides, paths relative to the config file's folder, cross-field checks and
the check that every secret named for an enabled channel is present in the environment.
Every problem is collected and raised at once as a ``ConfigError``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import tomllib
import unicodedata
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from bot.systems.pegasus import PegasusSettings

__all__ = [
    "BACKENDS",
    "Agent",
    "CalendarSettings",
    "ChatSettings",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "DaemonSettings",
    "DigestSettings",
    "EwsSettings",
    "GraphSettings",
    "Hours",
    "ImapSettings",
    "MailSettings",
    "Organization",
    "People",
    "Person",
    "SlaSettings",
    "SmtpSettings",
    "Specialist",
    "StorageSettings",
    "SystemsSettings",
    "TelegramSettings",
    "Zone",
    "default_config_path",
    "fold_name",
    "load_config",
    "resolve_storage_url",
]

BACKENDS = ("maildir", "imap", "graph", "ews")
ENV_CONFIG = "MESABOT_CONFIG"
ENV_STORAGE_URL = "MESABOT_STORAGE_URL"
ENV_MAILDIR = "MESABOT_MAILDIR"
FILE_KEY = "<file>"

# Role names that map one-to-one onto a [people.<role>] table.
SINGLE_ROLES = (
    "director",
    "supervisor",
    "backup",
    "training",
    "metlife_recert",
    "commercial",
    "operations",
)
_SECRET_WORDS = ("password", "secret", "token")
_TIME_RE = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_SQLITE_RE = re.compile(r"^(sqlite(?:\+\w+)?):///(.*)$")
_M = TypeVar("_M", bound=BaseModel)


# --- issues and errors ------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigIssue:
    """One configuration problem, against the dotted key at fault."""

    key: str
    message: str


class ConfigError(Exception):
    """The configuration is unusable; ``issues`` lists every problem found."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        """Keep the issues; the tuple is also the exception's single arg so it pickles."""
        self.issues: tuple[ConfigIssue, ...] = tuple(issues)
        super().__init__(self.issues)

    def __str__(self) -> str:
        """One ``key: message`` line per issue."""
        return "\n".join(f"{issue.key}: {issue.message}" for issue in self.issues)


# --- field types ------------------------------------------------------------------------


def _check_email(value: str) -> str:
    """Validate e-mail syntax (no DNS) and return it lower-cased."""
    # Imported here so that importing bot.config stays cheap for `mesabot --help`.
    from email_validator import EmailNotValidError, validate_email

    try:
        normalized = validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise PydanticCustomError(
            "email", "not a valid e-mail address: {reason}", {"reason": str(exc)}
        ) from None
    return normalized.lower()


def _check_domain(value: str) -> str:
    """Validate a DNS domain name and return it lower-cased."""
    domain = value.strip().lower().rstrip(".")
    if not _DOMAIN_RE.match(domain):
        raise PydanticCustomError("domain", "not a valid domain name such as example.com")
    return domain


def _check_hhmm(value: str) -> str:
    """Validate ``H:MM``/``HH:MM`` and return it as ``HH:MM``."""
    return f"{_parse_hhmm(value):%H:%M}"


def _check_span(value: str) -> str:
    """Validate ``HH:MM-HH:MM`` with start before end and return it normalised."""
    parts = value.split("-")
    if len(parts) != 2:
        raise PydanticCustomError("time_span", "expected HH:MM-HH:MM, e.g. 08:00-18:00")
    start, end = (_parse_hhmm(part) for part in parts)
    if start >= end:
        raise PydanticCustomError("time_span", "the start must be before the end")
    return f"{start:%H:%M}-{end:%H:%M}"


def _parse_hhmm(value: str) -> dt.time:
    """Parse ``H:MM``/``HH:MM`` between 00:00 and 23:59."""
    match = _TIME_RE.match(value)
    if match is None:
        raise PydanticCustomError("time", "expected a time HH:MM between 00:00 and 23:59")
    return dt.time(int(match[1]), int(match[2]))


def _check_timezone(value: str) -> str:
    """Accept only keys the zoneinfo database knows."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone", "unknown time zone; use an IANA name such as America/Mexico_City"
        ) from None
    return value


def _check_url(value: str) -> str:
    """Accept only http(s) URLs."""
    if not re.match(r"^https?://[^\s/]+", value):
        raise PydanticCustomError("url", "expected an http:// or https:// URL")
    return value.rstrip("/")


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Email = Annotated[str, AfterValidator(_check_email)]
Domain = Annotated[str, AfterValidator(_check_domain)]
HHMM = Annotated[str, AfterValidator(_check_hhmm)]
TimeSpan = Annotated[str, AfterValidator(_check_span)]
Port = Annotated[int, Field(ge=1, le=65535)]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
TelegramId = Annotated[int, Field(gt=0)]
Security = Literal["tls", "starttls", "none"]


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Make a relative path absolute against ``context["base_dir"]`` when one is given."""
    base = info.context.get("base_dir") if isinstance(info.context, dict) else None
    if base is None or value.is_absolute():
        return value
    return Path(os.path.normpath(Path(base) / value))


def resolve_storage_url(url: str, base_dir: Path) -> str:
    """Make the file path of a relative ``sqlite:///`` URL absolute; leave others alone."""
    match = _SQLITE_RE.match(url)
    if match is None:
        return url
    scheme, rest = match.groups()
    path, sep, query = rest.partition("?")
    if not path or path == ":memory:" or path.startswith(("/", "file:")):
        return url
    return f"{scheme}:///{os.path.normpath(base_dir / path)}{sep}{query}"


# --- models -----------------------------------------------------------------------------


class Organization(BaseModel):
    """[organization]."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Text
    timezone: Annotated[str, AfterValidator(_check_timezone)] = "America/Mexico_City"
    mail_domain: Domain

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        """The organization's time zone."""
        return zoneinfo.ZoneInfo(self.timezone)


class StorageSettings(BaseModel):
    """[storage]: database URL and the folder of content-addressed attachments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: Text = Field(default="sqlite:///var/mesabot.db", validate_default=True)
    archive: Path = Field(default=Path("var/archive"), validate_default=True)

    @field_validator("url")
    @classmethod
    def _url_resolved(cls, value: str, info: ValidationInfo) -> str:
        """Resolve a relative SQLite path against the config file's folder."""
        base = info.context.get("base_dir") if isinstance(info.context, dict) else None
        return value if base is None else resolve_storage_url(value, Path(base))

    @field_validator("archive")
    @classmethod
    def _archive_resolved(cls, value: Path, info: ValidationInfo) -> Path:
        """Resolve against the config file's folder."""
        return _resolve_path(value, info)

    @property
    def sqlite_path(self) -> Path | None:
        """The database file for a file-backed SQLite URL, else None."""
        match = _SQLITE_RE.match(self.url)
        if match is None:
            return None
        path = match[2].partition("?")[0]
        if not path or path == ":memory:" or path.startswith("file:"):
            return None
        return Path(path)


class ImapSettings(BaseModel):
    """[mail.imap]: inbound mail over IMAP."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: Text
    port: Port
    security: Security = "tls"
    username: Text
    password_env: EnvName
    folder: Text = "INBOX"
    done_folder: Text | None = None
    sent_folder: Text | None = None


class SmtpSettings(BaseModel):
    """[mail.smtp]: outbound mail for the IMAP backend."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: Text
    port: Port
    security: Security = "tls"
    username: Text | None = None
    password_env: EnvName | None = None


class GraphSettings(BaseModel):
    """[mail.graph]: Exchange Online through Microsoft Graph (app credentials)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: Text
    client_id: Text
    secret_env: EnvName
    mailbox: Email
    done_folder: Text | None = None


class EwsSettings(BaseModel):
    """[mail.ews]: on-premises Exchange through EWS."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    server: Text
    username: Text
    password_env: EnvName | None = None
    mailbox: Email
    auth: Literal["ntlm", "oauth2"] = "ntlm"
    client_id: Text | None = None
    tenant_id: Text | None = None
    secret_env: EnvName | None = None


class MailSettings(BaseModel):
    """[mail]: which backend carries mail, and the bot's own address."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["maildir", "imap", "graph", "ews"] = "maildir"
    maildir: Path = Field(default=Path("var/mail"), validate_default=True)
    address: Email
    trusted_authserv_ids: tuple[Text, ...] = ()
    max_attachment_mb: Annotated[int, Field(ge=1)] = 25
    max_message_mb: Annotated[int, Field(ge=1)] = 35
    imap: ImapSettings | None = None
    smtp: SmtpSettings | None = None
    graph: GraphSettings | None = None
    ews: EwsSettings | None = None

    @field_validator("maildir")
    @classmethod
    def _maildir_resolved(cls, value: Path, info: ValidationInfo) -> Path:
        """Resolve against the config file's folder."""
        return _resolve_path(value, info)

    @field_validator("trusted_authserv_ids")
    @classmethod
    def _authserv_lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """Authserv-ids are host names: compare them case-insensitively."""
        return tuple(item.lower() for item in value)


class Person(BaseModel):
    """Someone the bot writes to: a name and an address."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Text
    email: Email


class Specialist(Person):
    """A help-desk specialist; may act on chat."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    telegram_id: TelegramId | None = None


class Agent(Person):
    """An agent authorized on chat (by Telegram id, or linked by an e-mailed code)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    clave: Text | None = None
    telegram_id: TelegramId | None = None


class People(BaseModel):
    """[people]: the directory of roles the processes write to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    director: Person
    specialists: tuple[Specialist, ...]
    supervisor: Person | None = None
    backup: Person | None = None
    training: Person | None = None
    metlife_recert: Person | None = None
    commercial: Person | None = None
    operations: Person | None = None
    agents: tuple[Agent, ...] = ()

    @field_validator("specialists")
    @classmethod
    def _some_specialist(cls, value: tuple[Specialist, ...]) -> tuple[Specialist, ...]:
        """Tasks and alerts go to the specialists, so there must be one."""
        if not value:
            raise PydanticCustomError("too_short", "at least one specialist is required")
        return value

    def role(self, name: str) -> Person | None:
        """The person in a single role (director, supervisor, ...), or None if unset."""
        if name not in SINGLE_ROLES:
            raise KeyError(name)
        person: Person | None = getattr(self, name)
        return person


class Zone(BaseModel):
    """[[zones]]: a commercial zone, its assistants and its promotorías."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Text
    assistants: tuple[Person, ...]
    promotorias: tuple[Text, ...] = ()
    # The zone's commercial manager: told when an assistant does not answer (MA-002).
    manager: Person | None = None

    @field_validator("assistants")
    @classmethod
    def _some_assistant(cls, value: tuple[Person, ...]) -> tuple[Person, ...]:
        """MA-002 asks the zone's assistants; a zone without one could never proceed."""
        if not value:
            raise PydanticCustomError("too_short", "a zone needs at least one assistant")
        return value


class Hours(BaseModel):
    """[hours]: published support hours (mail), chat closes at ``chat_until``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mon_thu: TimeSpan = "08:00-18:00"
    fri: TimeSpan = "08:00-15:00"
    chat_until: HHMM = "17:30"

    def span(self, weekday: int) -> tuple[dt.time, dt.time] | None:
        """Opening and closing time for a weekday (Monday is 0); None on weekends."""
        if weekday > 4:
            return None
        start, end = (self.fri if weekday == 4 else self.mon_thu).split("-")
        return _parse_hhmm(start), _parse_hhmm(end)

    @property
    def chat_until_time(self) -> dt.time:
        """The chat cut-off as a time."""
        return _parse_hhmm(self.chat_until)


class CalendarSettings(BaseModel):
    """[calendar]: closed days on top of the statutory holidays."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    extra_closed_days: tuple[dt.date, ...] = ()


class SlaSettings(BaseModel):
    """[sla]."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    first_response_business_hours: Annotated[int, Field(ge=1)] = 4
    # At least 2: the requester is reminded one business day before the automatic close.
    validation_business_days: Annotated[int, Field(ge=2)] = 3


class DigestSettings(BaseModel):
    """[digest]: the specialists' daily digest on business days."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    time: HHMM = "08:00"

    @property
    def at(self) -> dt.time:
        """The digest time as a time."""
        return _parse_hhmm(self.time)


class AgentsSettings(BaseModel):
    """[agents]: the daily CAM Pegasus sweep for new agents (MA-002)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sweep_time: HHMM = "08:00"
    # CAM Pegasus also holds administrative users (MA-001): a record is an agent when its
    # type has one of these words (ignoring case and accents), or has no type but an
    # agent key.
    types: tuple[Text, ...] = ("Agente",)
    # Types left out of the sweep and listed in the digest: BPN consultants need
    # MetLife's own enrolment.
    exclude_types: tuple[Text, ...] = ("BPN",)

    @property
    def sweep_at(self) -> dt.time:
        """The sweep time as a time."""
        return _parse_hhmm(self.sweep_time)


class DaemonSettings(BaseModel):
    """[daemon]: loop intervals."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sweep_interval_seconds: Annotated[int, Field(ge=1)] = 30
    poll_interval_seconds: Annotated[int, Field(ge=1)] = 60


class TelegramSettings(BaseModel):
    """[chat.telegram]."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    token_env: EnvName | None = None
    base_url: Annotated[str, AfterValidator(_check_url)] | None = None


class ChatSettings(BaseModel):
    """[chat]."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    telegram: TelegramSettings | None = None


class SystemsSettings(BaseModel):
    """[systems]: ports to external systems without an API of their own."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pegasus: PegasusSettings = PegasusSettings()


class Config(BaseModel):
    """The whole configuration; build it with ``load_config``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    organization: Organization
    storage: StorageSettings = StorageSettings()
    mail: MailSettings
    people: People
    zones: tuple[Zone, ...] = ()
    hours: Hours = Hours()
    calendar: CalendarSettings = CalendarSettings()
    sla: SlaSettings = SlaSettings()
    digest: DigestSettings = DigestSettings()
    agents: AgentsSettings = AgentsSettings()
    daemon: DaemonSettings = DaemonSettings()
    chat: ChatSettings = ChatSettings()
    systems: SystemsSettings = SystemsSettings()

    @property
    def telegram_enabled(self) -> bool:
        """True when the Telegram channel is configured and enabled."""
        return self.chat.telegram is not None and self.chat.telegram.enabled

    def specialist_emails(self) -> tuple[str, ...]:
        """Addresses of every specialist, in config order."""
        return tuple(s.email for s in self.people.specialists)

    def people_with_roles(self) -> Iterator[tuple[str, Person]]:
        """Every (role, person) pair in the directory, in a stable order."""
        for role in SINGLE_ROLES:
            person = self.people.role(role)
            if person is not None:
                yield role, person
        for specialist in self.people.specialists:
            yield "specialist", specialist
        for zone in self.zones:
            for assistant in zone.assistants:
                yield f"assistant:{zone.name}", assistant
            if zone.manager is not None:
                yield f"manager:{zone.name}", zone.manager
        for agent in self.people.agents:
            yield "agent", agent

    def roles_of(self, email: str) -> frozenset[str]:
        """Roles held by an address: director, specialist, assistant:<zone>, agent, ..."""
        wanted = email.strip().lower()
        return frozenset(
            role for role, person in self.people_with_roles() if person.email == wanted
        )

    def person_by_email(self, email: str) -> Person | None:
        """The first directory entry with this address (roles before assistants and agents)."""
        wanted = email.strip().lower()
        return next((p for _, p in self.people_with_roles() if p.email == wanted), None)

    def person_by_telegram_id(self, telegram_id: int) -> Specialist | Agent | None:
        """The specialist or agent with this Telegram user id."""
        people: tuple[Specialist | Agent, ...] = (*self.people.specialists, *self.people.agents)
        return next((p for p in people if p.telegram_id == telegram_id), None)

    def agent_by_clave(self, clave: str) -> Agent | None:
        """The authorized agent with this agent key."""
        wanted = clave.strip().lower()
        return next(
            (a for a in self.people.agents if a.clave is not None and a.clave.lower() == wanted),
            None,
        )

    def zone_by_name(self, name: str) -> Zone | None:
        """The zone with this name, ignoring case, accents and punctuation."""
        wanted = fold_name(name)
        return next((z for z in self.zones if fold_name(z.name) == wanted), None)

    def zone_of_promotoria(self, name: str) -> Zone | None:
        """The zone a promotoría belongs to, ignoring case, accents and punctuation."""
        wanted = fold_name(name)
        return next(
            (z for z in self.zones if any(fold_name(p) == wanted for p in z.promotorias)),
            None,
        )

    def zones_of_assistant(self, email: str) -> tuple[Zone, ...]:
        """Zones where this address is an assistant (one assistant may cover several)."""
        wanted = email.strip().lower()
        return tuple(z for z in self.zones if any(a.email == wanted for a in z.assistants))


def fold_name(text: str) -> str:
    """Comparison key for names typed by people: no case, accents or punctuation."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(re.sub(r"[^0-9a-z]+", " ", bare).split())


# --- loading ----------------------------------------------------------------------------


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$MESABOT_CONFIG`` if set, else ``./config.toml``."""
    env = os.environ if environ is None else environ
    return Path(env.get(ENV_CONFIG) or "config.toml")


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, override from the environment, validate; raise ConfigError listing every issue."""
    env = os.environ if environ is None else environ
    config_file = Path(os.path.normpath(Path.cwd() / path))
    raw = _read_toml(config_file)
    # An absent [storage] must still get its default paths resolved like written ones.
    raw.setdefault("storage", {})
    _apply_env_overrides(raw, env)

    issues: list[ConfigIssue] = []
    config: Config | None = None
    try:
        config = Config.model_validate(raw, context={"base_dir": config_file.parent})
    except ValidationError as exc:
        issues.extend(_issues_from_validation(exc))
    # Cross-field checks work on the raw data section by section, so they still report
    # what they can when unrelated parts of the file are broken.
    issues.extend(_cross_checks(raw, env))

    unique = list(dict.fromkeys(issues))
    if unique or config is None:
        raise ConfigError(unique)
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    """Parse the file; unreadable or malformed files become a ConfigError on ``<file>``."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError([ConfigIssue(FILE_KEY, f"cannot read {path}: {reason}")]) from None
    except tomllib.TOMLDecodeError as exc:
        # The message already carries "(at line L, column C)".
        raise ConfigError([ConfigIssue(FILE_KEY, f"{path}: invalid TOML: {exc}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [ConfigIssue(FILE_KEY, f"{path}: not UTF-8 (byte {exc.start})")]
        ) from None


def _apply_env_overrides(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    """``MESABOT_STORAGE_URL`` and ``MESABOT_MAILDIR`` win over the file; empty means unset."""
    for var, section, key in (
        (ENV_STORAGE_URL, "storage", "url"),
        (ENV_MAILDIR, "mail", "maildir"),
    ):
        value = env.get(var)
        if not value:
            continue
        table = raw.setdefault(section, {})
        # A section that is not a table is reported by validation; don't mask it.
        if isinstance(table, dict):
            table[key] = value


def _dotted(loc: Iterable[int | str]) -> str:
    """``("zones", 2, "assistants", 0, "email")`` -> ``zones[2].assistants[0].email``."""
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += f".{part}" if key else part
    return key or FILE_KEY


def _secret_hint(name: str) -> str | None:
    """For a key that looks like a secret, say which ``*_env`` key to use instead."""
    lowered = name.lower()
    for word in _SECRET_WORDS:
        if lowered == word or lowered.endswith(f"_{word}"):
            return (
                f"secrets are never read from the config file; put it in an environment "
                f"variable and name that variable in `{word}_env` instead"
            )
    return None


_MESSAGES = {
    "missing": "required key is missing",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
    "dict_type": "expected a table",
    "list_type": "expected an array",
    "tuple_type": "expected an array",
}


def _issues_from_validation(exc: ValidationError) -> Iterator[ConfigIssue]:
    """Turn pydantic errors into issues, never echoing the offending value."""
    for error in exc.errors(include_url=False, include_input=False):
        loc = error["loc"]
        key = _dotted(loc)
        kind = error["type"]
        if kind == "extra_forbidden":
            name = str(loc[-1]) if loc else ""
            message = _secret_hint(name) or "unknown key"
        else:
            message = _MESSAGES.get(kind) or error["msg"].removeprefix("Value error, ")
        yield ConfigIssue(key, message)


# --- cross-field checks -----------------------------------------------------------------


def _cross_checks(raw: Mapping[str, Any], env: Mapping[str, str]) -> list[ConfigIssue]:
    """All checks that involve more than one field, each against the key at fault."""
    issues: list[ConfigIssue] = []
    issues.extend(_check_mail(_table(raw.get("mail")), env))
    issues.extend(_check_telegram(_table(_table(raw.get("chat")).get("telegram")), env))
    issues.extend(_check_people(_table(raw.get("people"))))
    issues.extend(_check_zones(raw.get("zones")))
    hours = _valid(Hours, raw.get("hours", {}))
    if hours is not None:
        issues.extend(_check_hours(hours))
    return issues


def _table(value: object) -> Mapping[str, Any]:
    """The value if it is a TOML table, else an empty one (its type error is reported elsewhere)."""
    return value if isinstance(value, dict) else {}


def _valid(model: type[_M], value: object) -> _M | None:
    """Validate one piece alone; None when it is broken (already reported by the full pass)."""
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def _is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _env_issue(key: str, var: object, env: Mapping[str, str]) -> ConfigIssue | None:
    """An issue when the variable named at ``key`` is unset or empty (its value never shown)."""
    if isinstance(var, str) and var and not env.get(var):
        return ConfigIssue(key, f"environment variable {var} is not set")
    return None


def _check_mail(mail: Mapping[str, Any], env: Mapping[str, str]) -> Iterator[ConfigIssue]:
    """Backend sections present, plain text only to loopback, secrets of the backend set."""
    for section in ("imap", "smtp"):
        sub = _table(mail.get(section))
        host = sub.get("host")
        if sub.get("security") == "none" and isinstance(host, str) and not _is_loopback(host):
            yield ConfigIssue(
                f"mail.{section}.security",
                'security = "none" is allowed only for a loopback host '
                '(127.0.0.0/8, ::1, localhost); use "tls" or "starttls"',
            )
    smtp = _table(mail.get("smtp"))
    if smtp.get("username") is not None and smtp.get("password_env") is None:
        yield ConfigIssue("mail.smtp.password_env", "required when mail.smtp.username is set")
    ews = _table(mail.get("ews"))
    if ews:
        if ews.get("auth", "ntlm") == "ntlm" and ews.get("password_env") is None:
            yield ConfigIssue("mail.ews.password_env", 'required when mail.ews.auth = "ntlm"')
        if ews.get("auth") == "oauth2":
            for key in ("client_id", "tenant_id", "secret_env"):
                if ews.get(key) is None:
                    yield ConfigIssue(f"mail.ews.{key}", 'required when mail.ews.auth = "oauth2"')

    backend = mail.get("backend", "maildir")
    needed = {"imap": ("imap", "smtp"), "graph": ("graph",), "ews": ("ews",)}
    if not isinstance(backend, str) or backend not in needed:
        return
    for section in needed[backend]:
        if mail.get(section) is None:
            yield ConfigIssue(
                f"mail.{section}",
                f'a [mail.{section}] section is required by backend = "{backend}"',
            )
    # Only the enabled backend's secrets must be present: a documented but unused
    # section may name variables that this host does not have.
    env_keys = {
        "imap": (("imap", "password_env"), ("smtp", "password_env")),
        "graph": (("graph", "secret_env"),),
        "ews": (("ews", "password_env"), ("ews", "secret_env")),
    }
    for section, key in env_keys[backend]:
        issue = _env_issue(f"mail.{section}.{key}", _table(mail.get(section)).get(key), env)
        if issue is not None:
            yield issue


def _check_telegram(telegram: Mapping[str, Any], env: Mapping[str, str]) -> Iterator[ConfigIssue]:
    """An enabled Telegram channel needs its token variable, and it must be set."""
    if telegram.get("enabled") is not True:
        return
    token_env = telegram.get("token_env")
    if token_env is None:
        yield ConfigIssue("chat.telegram.token_env", "required when chat.telegram.enabled = true")
        return
    issue = _env_issue("chat.telegram.token_env", token_env, env)
    if issue is not None:
        yield issue


def _entries(value: object, key: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(key[i], table)`` for each table in a TOML array of tables."""
    if isinstance(value, list):
        for index, entry in enumerate(value):
            if isinstance(entry, dict):
                yield f"{key}[{index}]", entry


# Field-level normalisers for the duplicate checks: each returns None for a value that is
# broken (already reported), so one bad entry does not hide duplicates among the others.


def _norm_email(value: object) -> str | None:
    """The lower-cased address, or None if it is not a valid one."""
    if not isinstance(value, str):
        return None
    try:
        return _check_email(value)
    except PydanticCustomError:
        return None


def _norm_telegram_id(value: object) -> int | None:
    """A positive integer id, or None."""
    return value if type(value) is int and value > 0 else None


def _norm_key(value: object) -> str | None:
    """A non-empty string compared without case, or None."""
    return value.strip().lower() or None if isinstance(value, str) else None


def _norm_name(value: object) -> str | None:
    """A name folded for comparison, or None."""
    return fold_name(value) or None if isinstance(value, str) else None


def _duplicates(
    entries: Iterable[tuple[str, object]], describe: Callable[[object], str]
) -> Iterator[ConfigIssue]:
    """An issue for every repeated value, against the later key, naming the first one."""
    seen: dict[object, str] = {}
    for key, value in entries:
        if value is None:
            continue
        if value in seen:
            yield ConfigIssue(key, f"{describe(value)} already appears at {seen[value]}")
        else:
            seen[value] = key


def _check_people(people: Mapping[str, Any]) -> Iterator[ConfigIssue]:
    """No repeated specialist or agent address, Telegram id or agent key."""
    specialists = list(_entries(people.get("specialists"), "people.specialists"))
    agents = list(_entries(people.get("agents"), "people.agents"))
    for group in (specialists, agents):
        yield from _duplicates(
            ((f"{key}.email", _norm_email(e.get("email"))) for key, e in group),
            lambda v: f"e-mail {v}",
        )
    yield from _duplicates(
        (
            (f"{key}.telegram_id", _norm_telegram_id(e.get("telegram_id")))
            for key, e in (*specialists, *agents)
        ),
        lambda v: f"telegram id {v}",
    )
    yield from _duplicates(
        ((f"{key}.clave", _norm_key(e.get("clave"))) for key, e in agents),
        lambda v: f"agent key {v}",
    )


def _check_zones(zones: object) -> Iterator[ConfigIssue]:
    """Zone names are unique and a promotoría belongs to one zone only."""
    entries = list(_entries(zones, "zones"))
    yield from _duplicates(
        ((f"{key}.name", _norm_name(e.get("name"))) for key, e in entries),
        lambda v: "the same zone name",
    )
    yield from _duplicates(
        (
            (f"{key}.promotorias[{index}]", _norm_name(name))
            for key, entry in entries
            for index, name in enumerate(_as_list(entry.get("promotorias")))
        ),
        lambda v: "the same promotoría",
    )


def _as_list(value: object) -> list[object]:
    """The value if it is a TOML array, else an empty one."""
    return value if isinstance(value, list) else []


def _check_hours(hours: Hours) -> Iterator[ConfigIssue]:
    """Chat must open at least a little every business day."""
    chat_until = hours.chat_until_time
    for key, weekday in (("mon_thu", 0), ("fri", 4)):
        span = hours.span(weekday)
        if span is not None and chat_until <= span[0]:
            yield ConfigIssue(
                "hours.chat_until", f"must be after the hours.{key} opening {span[0]:%H:%M}"
            )
