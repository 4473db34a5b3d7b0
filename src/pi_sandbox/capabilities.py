"""Capability names and the one table that derives a hostcall's capability from its method.

The capability a hostcall needs is always derived here, server-side, from the method and its
sub-operation. What the caller declares is only checked against the derived value (INV-001/002).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final

from pi_sandbox.errors import InvalidRequestError


class Capability(StrEnum):
    """What a hostcall may touch. Order follows the upstream ordinal order."""

    READ = "read"
    WRITE = "write"
    HTTP = "http"
    EVENTS = "events"
    SESSION = "session"
    UI = "ui"
    EXEC = "exec"
    ENV = "env"
    TOOL = "tool"
    LOG = "log"
    #: Change the session itself (rename it) rather than the caller's own entries. In no profile's
    #: default list: denied under ``safe``, prompted under ``balanced`` (docs/policy.md).
    SESSION_ADMIN = "session_admin"


ALL_CAPABILITIES: Final[tuple[Capability, ...]] = tuple(Capability)

#: Capabilities that the policy treats as dangerous: denied unless ``allowDangerous`` is set.
DANGEROUS_CAPABILITIES: Final[frozenset[Capability]] = frozenset({Capability.EXEC, Capability.ENV})

#: ``tool`` hostcall: built-in tool names whose capability is not the generic ``tool``.
TOOL_NAME_CAPABILITY: Final[Mapping[str, Capability]] = {
    "read": Capability.READ,
    "grep": Capability.READ,
    "find": Capability.READ,
    "ls": Capability.READ,
    "write": Capability.WRITE,
    "edit": Capability.WRITE,
    "bash": Capability.EXEC,
}

#: ``fs`` hostcall: operation → capability. Aliases are folded to one canonical op first.
FS_OP_CAPABILITY: Final[Mapping[str, Capability]] = {
    "read": Capability.READ,
    "list": Capability.READ,
    "stat": Capability.READ,
    "write": Capability.WRITE,
    "mkdir": Capability.WRITE,
    "delete": Capability.WRITE,
}
FS_OP_ALIASES: Final[Mapping[str, str]] = {"readdir": "list", "remove": "delete", "rm": "delete"}

#: ``net`` hostcall — the effects of the socket, server and thread builtins (net, tls, dgram, http(s)/http2
#: servers, worker_threads, cluster, child_process.fork, inspector): op → capability. A TCP/TLS client
#: connection to a host is network egress like ``http``. The rest reaches past both the http connector's URL and
#: host rules and exec mediation — a unix socket to a local daemon (docker, ssh-agent), a listening server, UDP,
#: a second JS thread or process, a debugger port — so it needs ``exec``, which is dangerous (denied under
#: ``safe`` and ``balanced`` unless ``allowDangerous``). No new capability: these are the two the effect amounts to.
NET_OP_CAPABILITY: Final[Mapping[str, Capability]] = {
    "connect": Capability.HTTP,
    "connect_unix": Capability.EXEC,
    "listen": Capability.EXEC,
    "udp": Capability.EXEC,
    "thread": Capability.EXEC,
    "inspector": Capability.EXEC,
}

#: Methods whose capability is the method name itself, whatever the sub-operation.
SELF_NAMED_METHODS: Final[frozenset[str]] = frozenset(
    {"exec", "env", "http", "session", "ui", "events", "log"}
)

#: Every hostcall method the pipeline knows. A test enumerates these and proves each maps.
KNOWN_METHODS: Final[frozenset[str]] = SELF_NAMED_METHODS | {"tool", "fs", "net"}

#: ``session`` ops that change what every extension sees of the session (its name, model, thinking
#: level) — they need ``session_admin``; every other op acts on the caller's own entries or reads.
SESSION_ADMIN_OPS: Final[frozenset[str]] = frozenset({"set_name", "set_model", "set_thinking_level"})


def parse_capability(value: str) -> Capability:
    """Parse a capability name (trimmed, case-insensitive); raise ``InvalidRequestError`` if unknown."""
    token = value.strip().lower()
    try:
        return Capability(token)
    except ValueError:
        import difflib  # only on a mistake

        names = [c.value for c in ALL_CAPABILITIES]
        close = difflib.get_close_matches(token, names, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise InvalidRequestError(f"unknown capability '{value}' ({hint}known: {', '.join(names)})") from None


def canonical_fs_op(op: str) -> str:
    """Fold an fs operation token to its canonical name (``readdir`` → ``list``)."""
    token = op.strip().lower()
    return FS_OP_ALIASES.get(token, token)


def canonical_session_op(op: Any) -> str:
    """Fold a ``session`` op token (trimmed, lower-case, ``-`` and spaces as ``_``)."""
    return str(op).strip().lower().replace("-", "_").replace(" ", "_")


def required_capability(method: str, params: Mapping[str, Any]) -> Capability:
    """Derive the capability a hostcall needs from its method and sub-operation.

    Raises ``InvalidRequestError`` when the method is unknown or the sub-operation is missing or
    unknown: such a call can never be authorised, so nothing about it may run.
    """
    name = method.strip().lower()
    if name == "session" and canonical_session_op(params.get("op", "")) in SESSION_ADMIN_OPS:
        return Capability.SESSION_ADMIN
    if name in SELF_NAMED_METHODS:
        return Capability(name)
    if name == "tool":
        tool = params.get("name")
        if not isinstance(tool, str) or not tool.strip():
            raise InvalidRequestError("tool hostcall needs a non-empty string 'name' parameter")
        return TOOL_NAME_CAPABILITY.get(tool.strip().lower(), Capability.TOOL)
    if name == "fs":
        op = params.get("op")
        if not isinstance(op, str):
            raise InvalidRequestError("fs hostcall needs a string 'op' parameter")
        cap = FS_OP_CAPABILITY.get(canonical_fs_op(op))
        if cap is None:
            known = ", ".join(sorted(FS_OP_CAPABILITY))
            raise InvalidRequestError(f"unknown fs op '{op}' (known: {known})")
        return cap
    if name == "net":
        op = params.get("op")
        net_cap = NET_OP_CAPABILITY.get(op.strip().lower()) if isinstance(op, str) else None
        if net_cap is None:
            raise InvalidRequestError(f"unknown net op '{op}' (known: {', '.join(sorted(NET_OP_CAPABILITY))})")
        return net_cap
    raise InvalidRequestError(f"unknown hostcall method '{method}' (known: {', '.join(sorted(KNOWN_METHODS))})")
