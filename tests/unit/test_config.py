"""Tests for bot.config."""

import pickle
from datetime import date, time
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import (
    Config,
    ConfigError,
    ConfigIssue,
    default_config_path,
    fold_name,
    load_config,
    resolve_storage_url,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

ORGANIZATION = """
[organization]
name = "Promotoría Prueba"
mail_domain = "example.com"
"""

MAIL = """
[mail]
address = "mesa@example.com"
"""

PEOPLE = """
[people.director]
name = "Director"
email = "director@example.com"

[[people.specialists]]
name = "Ana"
email = "ana@example.com"
"""

ZONES = """
[[zones]]
name = "Acapulco"
assistants = [{ name = "Marcela", email = "marcela@example.com" }]
promotorias = ["Promotoría Costera"]
"""


def write(folder: Path, *parts: str, name: str = "config.toml") -> Path:
    """Write a config file made of TOML fragments and return its path."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def minimal(
    *, mail: str = MAIL, people: str = PEOPLE, zones: str = ZONES, extra: str = ""
) -> tuple[str, ...]:
    """The fragments of a small valid config, any of them replaceable."""
    return (ORGANIZATION, mail, people, zones, extra)


def issues_of(path: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Load a config expected to fail and return its issues as {key: message}."""
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ or {})
    return {issue.key: issue.message for issue in caught.value.issues}


# --- the shipped default ----------------------------------------------------------------


def test_shipped_config_loads_without_any_environment() -> None:
    config = load_config(REPO_ROOT / "config.toml", {})
    assert config.organization.name == "Promotoría Ejemplo"
    assert config.organization.timezone == "America/Mexico_City"
    assert config.organization.mail_domain == "example.com"
    assert config.mail.backend == "maildir"
    assert config.mail.address == "mesa.ayuda@example.com"
    assert config.mail.maildir == REPO_ROOT / "var" / "mail"
    assert config.storage.url == f"sqlite:///{REPO_ROOT / 'var' / 'mesabot.db'}"
    assert config.storage.sqlite_path == REPO_ROOT / "var" / "mesabot.db"
    assert config.storage.archive == REPO_ROOT / "var" / "archive"
    assert not config.telegram_enabled
    assert len(config.people.specialists) == 2
    assert config.people.backup is not None and config.people.backup.name == "Carlos"
    assert config.people.training is not None and config.people.training.name == "Lupita"
    assert len(config.people.agents) == 2
    assert [z.name for z in config.zones] == [
        "Acapulco",
        "Oaxaca",
        "Edo México",
        "CDMX",
        "Nuevo León",
    ]
    assert {date(2026, 11, 2), date(2027, 3, 26)} <= set(config.calendar.extra_closed_days)


def test_shipped_config_zone_table_matches_the_processes() -> None:
    config = load_config(REPO_ROOT / "config.toml", {})
    assistants = {z.name: [a.name for a in z.assistants] for z in config.zones}
    assert assistants == {
        "Acapulco": ["Marcela"],
        "Oaxaca": ["Mariana", "Juan Velázquez"],
        "Edo México": ["Andrea", "Ana Luna"],
        "CDMX": ["Julio", "Alexis"],
        "Nuevo León": ["Mariana"],
    }
    mariana = config.zones[1].assistants[0].email
    assert config.roles_of(mariana) == {"assistant:Oaxaca", "assistant:Nuevo León"}
    assert [z.name for z in config.zones_of_assistant(mariana)] == ["Oaxaca", "Nuevo León"]


def test_shipped_config_ignores_unrelated_environment() -> None:
    environ = {"MESABOT_IMAP_PASSWORD": "", "HOME": "/nowhere"}
    assert load_config(REPO_ROOT / "config.toml", environ).mail.backend == "maildir"


# --- collecting every error -------------------------------------------------------------


def test_broken_config_lists_every_fault_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[organization]
name = "X"
timezone = "Mars/Olympus"
mail_domain = "not a domain"

[mail]
backend = "imap"
address = "not-an-address"
max_attachment_mb = "lots"

[mail.imap]
host = "imap.example.com"
port = 99999
security = "none"
username = "bot"
password_env = "IMAP_PW"

[people.director]
name = "D"

[[people.specialists]]
name = "A"
email = "a@example.com"
telegram_id = 7

[[people.specialists]]
name = "B"
email = "A@Example.com"
telegram_id = 7

[[zones]]
name = "Norte"
assistants = []
promotorias = ["Uno"]

[[zones]]
name = "Sur"
assistants = [{ name = "S", email = "s@example.com" }]
promotorias = ["uno"]

[hours]
mon_thu = "18:00-08:00"
fri = "8-3"
chat_until = "25:00"

[digest]
time = "noon"

[daemon]
sweep_interval_seconds = 0
colour = "blue"
""",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    issues = {issue.key: issue.message for issue in caught.value.issues}
    expected = {
        "organization.timezone",
        "organization.mail_domain",
        "mail.address",
        "mail.max_attachment_mb",
        "mail.imap.port",
        "mail.imap.security",
        "mail.smtp",
        "people.director.email",
        "people.specialists[1].email",
        "people.specialists[1].telegram_id",
        "zones[0].assistants",
        "zones[1].promotorias[0]",
        "hours.mon_thu",
        "hours.fri",
        "hours.chat_until",
        "digest.time",
        "daemon.sweep_interval_seconds",
        "daemon.colour",
    }
    assert expected <= issues.keys(), sorted(expected - issues.keys())
    assert len(issues) >= 6
    assert issues["people.director.email"] == "required key is missing"
    assert issues["daemon.colour"] == "unknown key"
    assert "people.specialists[0].email" in issues["people.specialists[1].email"]
    # The environment check for the imap password still runs alongside the rest.
    assert "IMAP_PW" in issues["mail.imap.password_env"]


def test_config_error_str_lists_one_issue_per_line() -> None:
    error = ConfigError([ConfigIssue("mail.imap.port", "bad"), ConfigIssue("zones[0].name", "x")])
    assert str(error) == "mail.imap.port: bad\nzones[0].name: x"
    assert pickle.loads(pickle.dumps(error)).issues == error.issues


def test_missing_file_is_reported_against_the_file(tmp_path: Path) -> None:
    issues = issues_of(tmp_path / "absent.toml")
    assert list(issues) == ["<file>"]
    assert "absent.toml" in issues["<file>"]


def test_toml_syntax_error_reports_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[organization]\nname = 'x'\nmail_domain = \n")
    issues = issues_of(path)
    assert list(issues) == ["<file>"]
    assert "line 3" in issues["<file>"]


def test_list_indexes_and_nested_keys_are_dotted(tmp_path: Path) -> None:
    zones = """
[[zones]]
name = "A"
assistants = [{ name = "a", email = "a@example.com" }]

[[zones]]
name = "B"
assistants = [{ name = "b", email = "b@example.com" }, { name = "c", email = "nope" }]
"""
    issues = issues_of(write(tmp_path, *minimal(zones=zones)))
    assert list(issues) == ["zones[1].assistants[1].email"]
    assert issues["zones[1].assistants[1].email"].startswith("not a valid e-mail address")


# --- plain text only to loopback --------------------------------------------------------

IMAP_SMTP = """
[mail]
backend = "imap"
address = "mesa@example.com"

[mail.imap]
host = "{host}"
port = 143
security = "none"
username = "bot"
password_env = "IMAP_PW"

[mail.smtp]
host = "{host}"
port = 25
security = "none"
"""


@pytest.mark.parametrize("host", ["mail.example.com", "10.0.0.1", "192.168.1.5", "::2"])
def test_security_none_is_rejected_for_a_remote_host(tmp_path: Path, host: str) -> None:
    path = write(tmp_path, *minimal(mail=IMAP_SMTP.format(host=host)))
    issues = issues_of(path, {"IMAP_PW": "pw"})
    assert set(issues) == {"mail.imap.security", "mail.smtp.security"}
    assert "loopback" in issues["mail.imap.security"]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.5.0.1", "localhost", "LOCALHOST", "::1"])
def test_security_none_is_accepted_for_loopback(tmp_path: Path, host: str) -> None:
    path = write(tmp_path, *minimal(mail=IMAP_SMTP.format(host=host)))
    config = load_config(path, {"IMAP_PW": "pw"})
    assert config.mail.imap is not None and config.mail.imap.security == "none"
    assert config.mail.smtp is not None and config.mail.smtp.host == host


# --- secrets ----------------------------------------------------------------------------

IMAP_TLS = """
[mail]
backend = "imap"
address = "mesa@example.com"

[mail.imap]
host = "imap.example.com"
port = 993
username = "bot"
password_env = "IMAP_PW"

[mail.smtp]
host = "smtp.example.com"
port = 587
security = "starttls"
username = "bot"
password_env = "SMTP_PW"
"""


def test_missing_env_var_for_the_enabled_backend_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, *minimal(mail=IMAP_TLS))
    issues = issues_of(path, {"SMTP_PW": "s3cr3t-value"})
    assert issues == {"mail.imap.password_env": "environment variable IMAP_PW is not set"}


def test_env_var_set_but_empty_counts_as_missing(tmp_path: Path) -> None:
    path = write(tmp_path, *minimal(mail=IMAP_TLS))
    issues = issues_of(path, {"IMAP_PW": "", "SMTP_PW": "x"})
    assert "IMAP_PW" in issues["mail.imap.password_env"]


def test_secret_values_never_appear_in_errors(tmp_path: Path) -> None:
    path = write(tmp_path, *minimal(mail=IMAP_TLS, extra="[sla]\nvalidation_business_days = 0"))
    with pytest.raises(ConfigError) as caught:
        load_config(path, {"SMTP_PW": "s3cr3t-value"})
    assert "s3cr3t-value" not in str(caught.value)


def test_env_vars_of_an_unused_backend_are_not_required(tmp_path: Path) -> None:
    mail = MAIL + IMAP_TLS.split("[mail.imap]", 1)[1].join(["[mail.imap]", ""])
    config = load_config(write(tmp_path, *minimal(mail=mail)), {})
    assert config.mail.backend == "maildir"
    assert config.mail.imap is not None


def test_enabled_backend_needs_its_sections(tmp_path: Path) -> None:
    for backend, keys in (
        ("imap", {"mail.imap", "mail.smtp"}),
        ("graph", {"mail.graph"}),
        ("ews", {"mail.ews"}),
    ):
        mail = f'[mail]\nbackend = "{backend}"\naddress = "mesa@example.com"\n'
        assert set(issues_of(write(tmp_path, *minimal(mail=mail)))) == keys, backend


def test_graph_backend_loads_with_its_secret(tmp_path: Path) -> None:
    mail = """
[mail]
backend = "graph"
address = "mesa@example.com"

[mail.graph]
tenant_id = "t"
client_id = "c"
secret_env = "GRAPH_SECRET"
mailbox = "Mesa@Example.com"
"""
    path = write(tmp_path, *minimal(mail=mail))
    assert issues_of(path) == {
        "mail.graph.secret_env": "environment variable GRAPH_SECRET is not set"
    }
    config = load_config(path, {"GRAPH_SECRET": "x"})
    assert config.mail.graph is not None and config.mail.graph.mailbox == "mesa@example.com"


def test_ews_auth_modes_need_their_keys(tmp_path: Path) -> None:
    mail = """
[mail]
backend = "ews"
address = "mesa@example.com"

[mail.ews]
server = "mail.example.com"
username = "bot"
mailbox = "mesa@example.com"
auth = "{auth}"
"""
    assert set(issues_of(write(tmp_path, *minimal(mail=mail.format(auth="ntlm"))))) == {
        "mail.ews.password_env"
    }
    assert set(issues_of(write(tmp_path, *minimal(mail=mail.format(auth="oauth2"))))) == {
        "mail.ews.client_id",
        "mail.ews.tenant_id",
        "mail.ews.secret_env",
    }


@pytest.mark.parametrize(
    ("section", "key", "hint"),
    [
        ("[mail.imap]", "password", "password_env"),
        ("[mail.graph]", "secret", "secret_env"),
        ("[chat.telegram]", "token", "token_env"),
        ("[mail.smtp]", "smtp_password", "password_env"),
    ],
)
def test_secret_in_the_file_is_rejected_with_the_env_hint(
    tmp_path: Path, section: str, key: str, hint: str
) -> None:
    path = write(tmp_path, *minimal(extra=f'{section}\n{key} = "x-secret-value"\n'))
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    dotted = section.strip("[]") + "." + key
    messages = {i.key: i.message for i in caught.value.issues}
    assert hint in messages[dotted]
    assert "environment variable" in messages[dotted]
    assert "x-secret-value" not in str(caught.value)


def test_telegram_enabled_needs_a_token_variable(tmp_path: Path) -> None:
    no_token = write(tmp_path, *minimal(extra="[chat.telegram]\nenabled = true\n"))
    assert set(issues_of(no_token)) == {"chat.telegram.token_env"}
    telegram = '[chat.telegram]\nenabled = true\ntoken_env = "TG_TOKEN"\n'
    path = write(tmp_path, *minimal(extra=telegram))
    assert issues_of(path) == {
        "chat.telegram.token_env": "environment variable TG_TOKEN is not set"
    }
    config = load_config(path, {"TG_TOKEN": "123:abc"})
    assert config.telegram_enabled


def test_telegram_disabled_does_not_need_its_variable(tmp_path: Path) -> None:
    telegram = '[chat.telegram]\nenabled = false\ntoken_env = "TG_TOKEN"\n'
    assert not load_config(write(tmp_path, *minimal(extra=telegram)), {}).telegram_enabled


# --- environment overrides and paths ----------------------------------------------------


def test_env_overrides_replace_storage_url_and_maildir(tmp_path: Path) -> None:
    path = write(tmp_path, *minimal())
    config = load_config(
        path,
        {
            "MESABOT_STORAGE_URL": "postgresql+psycopg://mesabot@127.0.0.1/test",
            "MESABOT_MAILDIR": "/srv/mail",
        },
    )
    assert config.storage.url == "postgresql+psycopg://mesabot@127.0.0.1/test"
    assert config.storage.sqlite_path is None
    assert config.mail.maildir == Path("/srv/mail")


def test_empty_env_override_is_ignored(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, *minimal()), {"MESABOT_STORAGE_URL": ""})
    assert config.storage.url == f"sqlite:///{tmp_path / 'var' / 'mesabot.db'}"


def test_relative_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc" / "mesabot"
    extra = '[storage]\nurl = "sqlite:///data/bot.db"\narchive = "../shared/archive"\n'
    mail = MAIL + 'maildir = "mail"\n'
    path = write(folder, *minimal(mail=mail, extra=extra))
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("etc/mesabot/config.toml"), {})
    assert config.storage.url == f"sqlite:///{folder / 'data' / 'bot.db'}"
    assert config.storage.archive == tmp_path / "etc" / "shared" / "archive"
    assert config.mail.maildir == folder / "mail"
    assert load_config(path, {}) == config


def test_default_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "x", *minimal()), {})
    assert config.storage.url == f"sqlite:///{tmp_path / 'x' / 'var' / 'mesabot.db'}"
    assert config.storage.archive == tmp_path / "x" / "var" / "archive"
    assert config.mail.maildir == tmp_path / "x" / "var" / "mail"


def test_relative_env_override_resolves_like_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, *minimal()), {"MESABOT_MAILDIR": "other"})
    assert config.mail.maildir == tmp_path / "other"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///:memory:",
        "sqlite://",
        "sqlite:////abs/path.db",
        "postgresql+psycopg://u@h/db",
        "sqlite:///file:x.db?mode=memory&uri=true",
    ],
)
def test_storage_urls_left_alone(url: str) -> None:
    assert resolve_storage_url(url, Path("/base")) == url


def test_relative_sqlite_url_keeps_driver_and_query() -> None:
    assert (
        resolve_storage_url("sqlite+pysqlite:///var/x.db?timeout=5", Path("/base"))
        == "sqlite+pysqlite:////base/var/x.db?timeout=5"
    )


def test_default_config_path() -> None:
    assert default_config_path({}) == Path("config.toml")
    assert default_config_path({"MESABOT_CONFIG": ""}) == Path("config.toml")
    assert default_config_path({"MESABOT_CONFIG": "/etc/m.toml"}) == Path("/etc/m.toml")


# --- duplicates -------------------------------------------------------------------------


def test_duplicate_specialists_and_telegram_ids_are_errors(tmp_path: Path) -> None:
    people = """
[people.director]
name = "D"
email = "d@example.com"

[[people.specialists]]
name = "A"
email = "a@example.com"
telegram_id = 11

[[people.specialists]]
name = "A bis"
email = "  A@EXAMPLE.COM "

[[people.agents]]
name = "Agente"
email = "agente@example.com"
clave = "K1"
telegram_id = 11

[[people.agents]]
name = "Agente 2"
email = "agente2@example.com"
clave = "k1"
"""
    issues = issues_of(write(tmp_path, *minimal(people=people)))
    assert set(issues) == {
        "people.specialists[1].email",
        "people.agents[0].telegram_id",
        "people.agents[1].clave",
    }
    assert "people.specialists[0].telegram_id" in issues["people.agents[0].telegram_id"]


def test_duplicate_zones_and_promotorias_are_errors(tmp_path: Path) -> None:
    zones = """
[[zones]]
name = "Edo México"
assistants = [{ name = "Andrea", email = "andrea@example.com" }]
promotorias = ["Promotoría Toluca"]

[[zones]]
name = "edo mexico"
assistants = [{ name = "Andrea", email = "andrea@example.com" }]
promotorias = ["PROMOTORIA TOLUCA", "Otra"]

[[zones]]
name = "Vacía"
assistants = []
"""
    issues = issues_of(write(tmp_path, *minimal(zones=zones)))
    assert set(issues) == {"zones[1].name", "zones[1].promotorias[0]", "zones[2].assistants"}
    assert "zones[0].promotorias[0]" in issues["zones[1].promotorias[0]"]
    assert "assistant" in issues["zones[2].assistants"]


def test_an_assistant_may_cover_several_zones(tmp_path: Path) -> None:
    zones = """
[[zones]]
name = "Oaxaca"
assistants = [{ name = "Mariana", email = "mariana@example.com" }]

[[zones]]
name = "Nuevo León"
assistants = [{ name = "Mariana", email = "mariana@example.com" }]
"""
    config = load_config(write(tmp_path, *minimal(zones=zones)), {})
    assert config.roles_of("mariana@example.com") == {"assistant:Oaxaca", "assistant:Nuevo León"}


def test_duplicates_are_found_even_when_other_sections_are_broken(tmp_path: Path) -> None:
    zones = ZONES + ZONES.replace("Promotoría Costera", "Otra")
    path = write(tmp_path, *minimal(zones=zones, mail="[mail]\nbackend = 5\n"))
    issues = issues_of(path)
    assert {"mail.backend", "mail.address", "zones[1].name"} <= issues.keys()


# --- lookups and values -----------------------------------------------------------------


def test_zone_lookup_is_tolerant_of_case_and_accents() -> None:
    config = load_config(REPO_ROOT / "config.toml", {})
    zone = config.zone_of_promotoria("promotoria edo mexico norte")
    assert zone is not None and zone.name == "Edo México"
    assert config.zone_of_promotoria("PROMOTORÍA EDO. MÉXICO NORTE") is zone
    assert config.zone_of_promotoria("Promotoría Coyoacan") == config.zone_by_name("cdmx")
    assert config.zone_by_name("nuevo leon") == config.zones[4]
    assert config.zone_of_promotoria("Promotoría Inexistente") is None


def test_fold_name() -> None:
    assert fold_name("  Edo. México ") == "edo mexico"
    assert fold_name("Nuevo  León") == fold_name("NUEVO LEON")


def test_roles_and_person_lookup(tmp_path: Path) -> None:
    config = load_config(REPO_ROOT / "config.toml", {})
    director = config.people.director.email
    assert config.roles_of(director.upper()) == {"director"}
    first = config.people.specialists[0]
    assert config.roles_of(first.email) == {"specialist"}
    assert config.specialist_emails() == tuple(s.email for s in config.people.specialists)
    agent = config.people.agents[0]
    assert config.roles_of(agent.email) == {"agent"}
    assert agent.clave is not None and config.agent_by_clave(agent.clave.lower()) == agent
    assert config.person_by_email(f" {first.email.upper()} ") == first
    assert config.person_by_email("nadie@example.com") is None
    assert config.roles_of("nadie@example.com") == frozenset()
    assert config.roles_of(config.people.training.email if config.people.training else "") == {
        "training"
    }


def test_person_by_telegram_id(tmp_path: Path) -> None:
    people = PEOPLE.replace(
        'email = "ana@example.com"', 'email = "ana@example.com"\ntelegram_id = 5'
    )
    config = load_config(write(tmp_path, *minimal(people=people)), {})
    assert config.person_by_telegram_id(5) == config.people.specialists[0]
    assert config.person_by_telegram_id(6) is None


def test_emails_are_lower_cased(tmp_path: Path) -> None:
    mail = '[mail]\naddress = "Mesa.Ayuda@EXAMPLE.com"\n'
    config = load_config(write(tmp_path, *minimal(mail=mail)), {})
    assert config.mail.address == "mesa.ayuda@example.com"
    assert config.zones[0].assistants[0].email == "marcela@example.com"


def test_hours_digest_and_calendar_values(tmp_path: Path) -> None:
    extra = """
[hours]
mon_thu = "9:00-19:00"
fri = "09:00-14:00"
chat_until = "13:45"

[calendar]
extra_closed_days = [2026-12-24, 2026-12-31]

[digest]
time = "7:30"
"""
    config = load_config(write(tmp_path, *minimal(extra=extra)), {})
    assert config.hours.mon_thu == "09:00-19:00"
    assert config.hours.span(0) == (time(9, 0), time(19, 0))
    assert config.hours.span(4) == (time(9, 0), time(14, 0))
    assert config.hours.span(5) is None
    assert config.hours.chat_until_time == time(13, 45)
    assert config.digest.at == time(7, 30)
    assert config.calendar.extra_closed_days == (date(2026, 12, 24), date(2026, 12, 31))


def test_chat_until_before_opening_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, *minimal(extra='[hours]\nchat_until = "07:00"\n'))
    assert set(issues_of(path)) == {"hours.chat_until"}


def test_config_is_frozen() -> None:
    config = load_config(REPO_ROOT / "config.toml", {})
    with pytest.raises(ValidationError):
        config.mail.address = "x@example.com"  # type: ignore[misc]
    assert isinstance(config, Config)
    assert hash(config.zones[0]) == hash(config.zones[0])


@pytest.mark.parametrize(
    ("backend", "sections", "env"),
    [
        ("imap", ("mail.imap", "mail.smtp"), ("MESABOT_IMAP_PASSWORD", "MESABOT_SMTP_PASSWORD")),
        ("graph", ("mail.graph",), ("MESABOT_GRAPH_SECRET",)),
        ("ews", ("mail.ews",), ("MESABOT_EWS_PASSWORD",)),
    ],
)
def test_each_backend_example_in_the_shipped_config_works_by_switching_one_key(
    tmp_path: Path, backend: str, sections: tuple[str, ...], env: tuple[str, ...]
) -> None:
    lines = (REPO_ROOT / "config.toml").read_text(encoding="utf-8").splitlines()
    out: list[str] = []
    inside = False
    for line in lines:
        if line.startswith("# [") and line[3:].rstrip("]") in sections:
            inside = True
        elif inside and not line.startswith("# "):
            inside = False
        if inside:
            line = line[2:].split("  #", 1)[0].rstrip()  # uncomment, drop trailing notes
        elif line.startswith('backend = "maildir"'):
            line = f'backend = "{backend}"'
        out.append(line)
    path = tmp_path / "config.toml"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    config = load_config(path, dict.fromkeys(env, "secreto"))
    assert config.mail.backend == backend
    assert all(getattr(config.mail, s.split(".")[1]) is not None for s in sections)
