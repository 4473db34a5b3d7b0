"""What one hostcall tells the risk controller: an :class:`Observation` read from the derived call.

Every exec form reads the same way — the ``exec`` hostcall (also what ``child_process`` becomes, with
``sh -c`` for a shell), the ``bash`` tool (``sh -c <command>``) — through :mod:`risk.commands`. Paths are
normalised before they are compared (relative to the extension's workspace or the command's ``cwd``,
``~``/``$HOME`` folded, ``.``/``..``/``//`` removed), so ``./x.sh``, ``x.sh`` and ``sub/../x.sh`` are one file.
Secret files are the mediation table's (``SecretFiles``), secret variable names the broker's rules
(``name_rule``): nothing here keeps a list of its own.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any, Final, NamedTuple, Protocol

from pi_sandbox.capabilities import Capability, canonical_fs_op
from pi_sandbox.config.model import SecretBrokerSettings
from pi_sandbox.mediation import exec_rules as R
from pi_sandbox.mediation.secret_files import SecretFiles
from pi_sandbox.mediation.secret_names import name_rule
from pi_sandbox.risk.commands import CommandFacts, argv_facts, shell_facts

#: Capabilities whose use changes what an extension can do to the machine or send away.
EFFECTFUL: Final = frozenset({Capability.READ, Capability.WRITE, Capability.HTTP, Capability.EXEC, Capability.ENV})
#: Programs that carry data to another host (the classifier's tables).
SENDERS: Final = R.FETCHERS | R.NETWORK_SINKS
_HOME = re.compile(r"^(?:~|\$HOME|\$\{HOME\})(?=/|$)")
_URL_HOST = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)")
_TOOL_READS: Final = frozenset({"read", "edit"})
_TOOL_WRITES: Final = frozenset({"write", "edit"})
_NO_PATHS: Final[tuple[str, ...]] = ()
#: Command observations and normalised paths kept (the same ones come back every turn).
_COMMAND_CACHE: Final = 2048
_MISSING: Final = object()


class CallInfo(Protocol):
    """The parts of a derived call (``dispatch.call.CallInfo``) an observation is read from."""

    @property
    def extension_id(self) -> str: ...
    @property
    def call_id(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def capability(self) -> Capability: ...
    @property
    def params(self) -> Mapping[str, Any]: ...


class Workspace(Protocol):
    """Where an extension's relative paths point, and which secret files it may read."""

    def base(self, extension_id: str) -> str:
        """The folder relative paths of ``extension_id`` are resolved against (its workspace)."""
        ...

    def may_read_secret(self, extension_id: str, path: str) -> bool:
        """Whether ``extension_id`` may read the secret file ``path`` (``perExtension.<id>.readSecretFiles``)."""
        ...


class Observation(NamedTuple):
    """The facts of one call that the scoring uses (no raw parameters are kept).

    A ``NamedTuple`` rather than a frozen dataclass: as immutable, several times cheaper to make, and one is
    made per hostcall."""

    capability: Capability
    #: ``method:op`` (``fs:read``, ``exec:git``, ``bash:curl``...): what novelty and denial diversity count.
    kind: str
    #: A folder or a host: where the call acts (novelty).
    place: str | None = None
    #: The call is a host name (http, net).
    host: bool = False
    #: The call can carry data off the machine: http, net, or running a command.
    egress: bool = False
    #: The call runs a command.
    runs_code: bool = False
    #: The call names a secret file to read (fs/tool read, or a command naming one).
    secret_read: bool = False
    #: ...and nothing will refuse the read (an fs read the rules allow, or any command).
    secret_read_effective: bool = False
    #: An env read of a secret variable name.
    secret_env: bool = False
    #: One command both names a secret file and runs a program that sends data to a host.
    secret_send: bool = False
    #: Files written (normalised).
    writes: tuple[str, ...] = _NO_PATHS
    #: Files run as code (normalised).
    runs: tuple[str, ...] = _NO_PATHS
    #: A file the same command line wrote before running it.
    runs_own_write: bool = False

    @property
    def secret_any(self) -> bool:
        """Any contact with secrets (attempted file read, secret variable)."""
        return self.secret_read or self.secret_env


def normalise(raw: Any, base: str) -> str | None:
    """``raw`` as an absolute, normalised path (None: not a path). ``~``/``$HOME`` become ``/~``."""
    if not isinstance(raw, str) or not raw or "://" in raw or "\x00" in raw:
        return None
    text = _HOME.sub("/~", raw, 1) if raw[0] in "~$" else raw
    if text[0] != "/":
        text = f"{base}/{text}"
    text = posixpath.normpath(text)
    return "/" + text.lstrip("/") if text.startswith("//") else text


def url_host(url: Any) -> str | None:
    """The lower-cased host of an ``http(s)://`` URL."""
    if not isinstance(url, str):
        return None
    match = _URL_HOST.match(url)
    return match.group(1).lower() if match else None


class Observer:
    """Reads observations from calls for one sandbox."""

    def __init__(self, workspace: Workspace, secret_files: SecretFiles,
                 broker: SecretBrokerSettings | None = None) -> None:
        self.workspace = workspace
        self.secret_files = secret_files
        self._commands: dict[tuple[str, CommandFacts, str], Observation] = {}
        self._paths: dict[tuple[str, str], str | None] = {}
        self._plain: dict[tuple[str, Capability, str | None], Observation] = {}
        self._files: dict[tuple[Capability, str, str, str], Observation] = {}
        broker = broker or SecretBrokerSettings()
        self._names = (frozenset(n.upper() for n in broker.extra_names),
                       tuple(s.upper() for s in broker.extra_suffixes), tuple(p.upper() for p in broker.extra_prefixes))

    def observe(self, call: CallInfo) -> Observation:
        """The observation of ``call`` (never raises for odd parameters: they read as nothing)."""
        method, params, cap = call.method, call.params, call.capability
        if method == "fs":
            return self._fs(call, params.get("op", ""))
        if method == "tool":
            return self._tool(call)
        if method == "exec":
            cmd, args = params.get("cmd"), params.get("args") or []
            if not isinstance(cmd, str) or not isinstance(args, (list, tuple)) \
                    or not all(isinstance(a, str) for a in args):
                return Observation(cap, "exec", egress=True, runs_code=True)
            return self._command(call, argv_facts(cmd, tuple(args)), "exec", params.get("cwd"))
        if method == "http":
            host = url_host(params.get("url"))
            verb = str(params.get("method", "GET")).upper()[:10]
            return Observation(cap, f"http:{verb}", host, host=True, egress=True)
        if method == "net":
            host = params.get("host")
            place = host.lower()[:255] if isinstance(host, str) else None
            return Observation(cap, f"net:{str(params.get('op', '')).lower()[:16]}", place, host=place is not None,
                               egress=True, runs_code=cap is Capability.EXEC)
        if method == "env":
            return Observation(cap, f"env:{str(params.get('op', 'get'))[:8]}", secret_env=self._secret_env(params))
        op = params.get("op")
        if not isinstance(op, str):
            op = None
        key = (method, cap, op)
        seen = self._plain.get(key)
        if seen is None:  # log, ui, session, events...: the same few observations again and again
            if len(self._plain) >= _COMMAND_CACHE:
                self._plain.clear()
            seen = self._plain[key] = Observation(cap, f"{method}:{op[:32]}" if op is not None else method)
        return seen

    # --- per method ---------------------------------------------------------------------------

    def _path(self, raw: Any, base: str) -> str | None:
        """``normalise`` with a bounded cache: extensions read the same files again and again."""
        if not isinstance(raw, str):
            return None
        key = (raw, base)
        found = self._paths.get(key, _MISSING)
        if found is _MISSING:
            if len(self._paths) >= _COMMAND_CACHE:
                self._paths.clear()
            found = self._paths[key] = normalise(raw, base)
        return found  # type: ignore[return-value]

    def _fs(self, call: CallInfo, raw_op: Any) -> Observation:
        raw, base = call.params.get("path"), self.workspace.base(call.extension_id)
        key = (call.capability, raw_op, raw, base) if isinstance(raw, str) and isinstance(raw_op, str) else None
        seen = self._files.get(key) if key is not None else None
        if seen is None:
            seen = self._fs_observation(call, canonical_fs_op(str(raw_op)), raw, base)
            # Kept unless it names a secret file: whether *this* extension may read one is asked every time.
            if key is not None and not seen.secret_read:
                if len(self._files) >= _COMMAND_CACHE:
                    self._files.clear()
                self._files[key] = seen
        return seen

    def _fs_observation(self, call: CallInfo, op: str, raw: Any, base: str) -> Observation:
        path = self._path(raw, base)
        kind = f"fs:{op[:16]}"
        if path is None:
            return Observation(call.capability, kind)
        place = posixpath.dirname(path)
        if op == "read":
            return self._read(call, kind, path, place)
        if op == "write":
            return Observation(call.capability, kind, place, writes=(path,))
        return Observation(call.capability, kind, place)

    def _tool(self, call: CallInfo) -> Observation:
        name = str(call.params.get("name", "")).strip().lower()
        tool_input = call.params.get("input")
        tool_input = tool_input if isinstance(tool_input, Mapping) else {}
        kind = f"tool:{name[:32]}"
        if call.capability is Capability.EXEC:
            command = tool_input.get("command")
            text = command if isinstance(command, str) else ""
            return self._command(call, shell_facts(text), "bash", tool_input.get("cwd"))
        path = self._path(tool_input.get("path"), self.workspace.base(call.extension_id))
        if path is None:
            return Observation(call.capability, kind)
        place = posixpath.dirname(path)
        writes = (path,) if name in _TOOL_WRITES else _NO_PATHS
        if name in _TOOL_READS:
            read = self._read(call, kind, path, place)
            return Observation(read.capability, kind, place, secret_read=read.secret_read,
                               secret_read_effective=read.secret_read_effective, writes=writes)
        return Observation(call.capability, kind, place, writes=writes)

    def _read(self, call: CallInfo, kind: str, path: str, place: str) -> Observation:
        if not self.secret_files.is_secret(path):
            return Observation(call.capability, kind, place)
        allowed = self.workspace.may_read_secret(call.extension_id, path)
        return Observation(call.capability, kind, place, secret_read=True, secret_read_effective=allowed)

    def _command(self, call: CallInfo, facts: CommandFacts, label: str, cwd: Any) -> Observation:
        base = self.workspace.base(call.extension_id)
        if isinstance(cwd, str) and cwd:
            base = normalise(cwd, base) or base
        key = (label, facts, base)
        seen = self._commands.get(key)
        if seen is None or seen.capability is not call.capability:
            if len(self._commands) >= _COMMAND_CACHE:
                self._commands.clear()
            seen = self._commands[key] = self._read_command(call.capability, facts, label, base)
        return seen

    def _read_command(self, capability: Capability, facts: CommandFacts, label: str, base: str) -> Observation:
        secret = any(self._names_secret(word, base) for word in facts.words)
        writes = tuple(p for p in (normalise(w, base) for w in facts.writes) if p is not None)
        runs: list[str] = []
        own = False
        for raw, writes_before in facts.runs:
            path = normalise(raw, base)
            if path is None:
                continue
            runs.append(path)
            own = own or path in writes[:writes_before]
        program = facts.programs[0] if facts.programs else ""
        sends = secret and any(p in SENDERS for p in facts.programs)
        return Observation(capability, f"{label}:{program[:32]}", egress=True, runs_code=True,
                           secret_read=secret, secret_read_effective=secret, secret_send=sends,
                           writes=writes, runs=tuple(runs), runs_own_write=own)

    def _names_secret(self, word: str, base: str) -> bool:
        """Whether a command word names a secret file (also after ``=`` or ``@``: ``of=.env``, ``-d@.env``)."""
        for candidate in {word, word.rsplit("=", 1)[-1], word.rsplit("@", 1)[-1]}:
            path = normalise(candidate, base)
            if path is not None and self.secret_files.is_secret(path):
                return True
        return False

    def _secret_env(self, params: Mapping[str, Any]) -> bool:
        names = params.get("names")
        candidates = names if isinstance(names, list) else [params.get("name")]
        extra_names, extra_suffixes, extra_prefixes = self._names
        return any(isinstance(n, str) and name_rule(n, extra_names=extra_names, extra_suffixes=extra_suffixes,
                                                     extra_prefixes=extra_prefixes) is not None
                   for n in candidates[:64])
