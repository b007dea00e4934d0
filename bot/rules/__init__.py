"""Processes as declarative state machines, and the pure engine that runs them."""

from __future__ import annotations

from bot.rules import ma001_accounts, ma002_agents, ma005_recert, ma006_tickets, ma007_chat
from bot.rules.dsl import Process

# The explicit registry of processes; order is the order `mesabot rules` lists them and
# the order in which they may claim a new mail. MA-005 comes first: MetLife's
# recertification mail also names users and brings an Excel, which MA-001 would claim.
PROCESSES: tuple[Process, ...] = (
    ma005_recert.PROCESS,
    ma001_accounts.PROCESS,
    ma002_agents.PROCESS,
    ma006_tickets.PROCESS,
    ma007_chat.PROCESS,
)


def get_process(code: str) -> Process:
    """The process with this code (case-insensitive), or KeyError."""
    for proc in PROCESSES:
        if proc.code.lower() == code.lower():
            return proc
    raise KeyError(code)
