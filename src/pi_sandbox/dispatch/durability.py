"""Durability classes: which hostcalls must have their ledger entry synced to disk before they run.

Every hostcall's entry is *written* (committed to the WAL) before the call's result reaches the
extension, so ``kill -9`` never loses an acknowledged entry. What a power loss may take is bounded by
the class of the call (the auditd ``flush = incremental_async`` model, ``docs/ledger.md``):

* :attr:`Durability.EFFECT` — the call changes something outside the supervisor's memory or reaches
  another party (a file written, a command, a request, a message to another extension or the agent).
  Its entry — and with it every entry before it — is synced before the connector runs, so no effect
  can outlive the evidence of the decision that permitted it.
* :attr:`Durability.GROUP` — reads, environment lookups, log and UI output, the caller's own session
  entries: nothing they do survives a power loss that their entry would not. The entry is synced by
  the background group commit (at most ``flush_interval_s`` later, or sooner by the next effect).

Refused, invalid, timed-out and dry-run calls carry nothing out, so they never wait for a sync of
their own whatever their class. The class is decided from the *derived* capability (``capabilities``
folds the method's sub-operation into it), so an extension cannot pick a cheaper class by the way it
spells a call; a capability missing from the table is an effect (fail safe).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from pi_sandbox.capabilities import Capability


class Durability(StrEnum):
    """How durable a call's ledger entry must be before the call is carried out."""

    EFFECT = "effect"
    GROUP = "group"


#: The one table: derived capability -> durability class (``docs/ledger.md`` lists it with the reasons).
DURABILITY: Final[Mapping[Capability, Durability]] = MappingProxyType({
    Capability.READ: Durability.GROUP,  # fs read/list/stat; read, grep, find and ls tools
    Capability.ENV: Durability.GROUP,  # a lookup in the supervisor's memory
    Capability.LOG: Durability.GROUP,  # operator output (the terminal is not evidence)
    Capability.UI: Durability.GROUP,  # operator output and dialogs
    Capability.SESSION: Durability.GROUP,  # session reads and the caller's own entries (host memory)
    Capability.WRITE: Durability.EFFECT,  # fs write/mkdir/delete; write and edit tools
    Capability.EXEC: Durability.EFFECT,  # commands, bash tool, sockets/servers/threads (net)
    Capability.HTTP: Durability.EFFECT,  # requests and TCP/TLS connections
    Capability.EVENTS: Durability.EFFECT,  # messages to other extensions and to the agent
    Capability.TOOL: Durability.EFFECT,  # host-registered tools: effects unknown here
    Capability.SESSION_ADMIN: Durability.EFFECT,  # renames etc. every extension sees
})


def durability_of(capability: Capability) -> Durability:
    """The class of a call needing ``capability`` (``EFFECT`` for anything the table does not name)."""
    return DURABILITY.get(capability, Durability.EFFECT)
