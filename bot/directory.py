"""Role tokens (@requester, @specialists...) resolved to addresses against the config."""

from __future__ import annotations

from bot.config import Config

# Zone tokens: @assistants:<zone> (the zone's commercial assistants) and @manager:<zone>
# (its commercial manager, else the supervisor).
# Single-person roles configured under [people.<role>]; unset ones fall back to specialists.
SINGLE_ROLES = frozenset(
    {"director", "supervisor", "backup", "training", "metlife_recert", "commercial", "operations"}
)
# The help-desk team: mail to them is never held for support hours.
TEAM_ROLES = frozenset({"specialist", "supervisor", "backup"})


class Directory:
    """The configured people, looked up by role token or by address."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.specialists: tuple[str, ...] = config.specialist_emails()

    def roles_of(self, email: str) -> frozenset[str]:
        """Roles held by this address (empty for strangers)."""
        return self.config.roles_of(email)

    def name_of(self, email: str) -> str:
        """The configured name for an address, or the address itself."""
        person = self.config.person_by_email(email)
        return person.name if person is not None else email

    def is_team(self, email: str) -> bool:
        """True for specialists, the supervisor and the backup."""
        return bool(self.roles_of(email) & TEAM_ROLES)

    def resolve(self, token: str, requester: str = "", assignee: str | None = None) -> list[str]:
        """Addresses for a recipient token (or a literal address)."""
        if not token.startswith("@"):
            return [token.strip().lower()]
        role = token[1:]
        if role == "requester":
            return [requester] if requester else []
        if role == "assignee":
            return [assignee] if assignee else list(self.specialists)
        if role == "specialists":
            return list(self.specialists)
        kind, _, zone_name = role.partition(":")
        if zone_name and kind in ("assistants", "manager"):
            return self._zone_people(kind, zone_name)
        if role in SINGLE_ROLES:
            person = self.config.people.role(role)
            return [person.email] if person is not None else list(self.specialists)
        raise KeyError(f"unknown recipient token {token!r}")

    def _zone_people(self, kind: str, zone_name: str) -> list[str]:
        """A zone's assistants or manager; someone always gets it (never a silent drop)."""
        zone = self.config.zone_by_name(zone_name)
        if kind == "assistants" and zone is not None:
            return [a.email for a in zone.assistants]
        if kind == "manager" and zone is not None and zone.manager is not None:
            return [zone.manager.email]
        supervisor = self.config.people.supervisor
        if kind == "manager" and supervisor is not None:
            return [supervisor.email]
        return list(self.specialists)
