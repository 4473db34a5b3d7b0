"""``open_session()``: one object to load extensions, offer and call their tools, send events and
answer permission prompts, with the ledger sealed when the session ends.

It is a thin shell over the layers the CLI uses too (``dispatch.Sandbox`` holds the authority and
the ledger, ``runtime.host.ExtensionHost`` the workers); nothing here decides anything.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pi_sandbox.errors import ExtensionLoadError, SessionClosedError, ToolNotFoundError
from pi_sandbox.policy.prompts import UNASKED, PromptAnswer, PromptRequest
from pi_sandbox.session.model import (
    Denial,
    Dialog,
    DialogCallback,
    ExtensionInfo,
    PermissionAnswer,
    PermissionPrompt,
    PromptCallback,
    ToolResult,
    ToolSpec,
)

if TYPE_CHECKING:
    from pi_sandbox.audit.records import LedgerEntry
    from pi_sandbox.audit.verify import LedgerVerificationReport
    from pi_sandbox.config.model import SecurityConfig
    from pi_sandbox.dispatch import Sandbox
    from pi_sandbox.runtime.host import ExtensionHost

#: What a prompt callback may return, read as an answer (anything else is a deny).
_ANSWERS: dict[object, PermissionAnswer] = {
    **{a: a for a in PermissionAnswer}, **{a.value: a for a in PermissionAnswer}, True: PermissionAnswer.ONCE,
}

#: The answers that allow (each is also the scope the answer is remembered for).
_ALLOWING: frozenset[PermissionAnswer] = frozenset(
    {PermissionAnswer.ONCE, PermissionAnswer.SESSION, PermissionAnswer.ALWAYS})


def _to_prompt_answer(answer: object) -> PromptAnswer:
    """A callback's return value as the policy layer's answer; unknown values deny (fail closed)."""
    choice = _ANSWERS.get(answer) if isinstance(answer, (str, bool)) else None
    if choice is None or choice not in _ALLOWING:  # deny, unasked, unknown: never an allow
        return PromptAnswer(allow=False)
    return PromptAnswer(allow=True, scope=choice.value)


class _CallbackPrompter:
    """The policy layer's ``Prompter`` over a session's ``on_prompt`` callback."""

    def __init__(self, callback: PromptCallback) -> None:
        self.callback = callback

    def ask(self, request: PromptRequest) -> PromptAnswer | None:
        prompt = PermissionPrompt(request.extension_id, request.capability.value, request.method,
                                  request.explanation, request.target)
        answer = self.callback(prompt)  # an exception is a deny (the resolver fails closed)
        if answer is None:
            return None  # no answer: a deny, recorded as such
        if answer == PermissionAnswer.UNASKED:
            return UNASKED
        return _to_prompt_answer(answer)


def _dialog_asker(callback: DialogCallback) -> Callable[[str, str, Mapping[str, Any]], Any]:
    """The ui connector's asker over a session's ``on_dialog`` callback (a failing callback: headless answer)."""

    def ask(extension_id: str, op: str, question: Mapping[str, Any]) -> Any:
        dialog = Dialog(extension_id, op, str(question.get("title") or ""), str(question.get("message") or ""),
                        tuple(str(o) for o in question.get("options") or ()))
        try:
            return callback(dialog)
        except Exception:  # a broken UI must not fail the extension's call: it gets the headless answer
            return None

    return ask


class Session:
    """Extensions loaded into sandboxed workers, every effect through the pipeline and the ledger.

    Made by :func:`open_session`; use it as a context manager so the workers stop and the ledger is
    sealed however the block ends. Tool calls to different extensions may run on different threads.
    """

    def __init__(self, sandbox: Sandbox, host: ExtensionHost) -> None:
        self._sandbox = sandbox
        self._host = host
        self._closed = False
        self._close_lock = threading.Lock()

    # ---- what is loaded ----------------------------------------------------------------------

    @property
    def session_id(self) -> str:
        """This session's id (as extensions see it in ``ctx.sessionId``)."""
        return self._host.session_id

    @property
    def config(self) -> SecurityConfig:
        """The resolved security configuration the session runs under."""
        return self._sandbox.config

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` ran."""
        return self._closed

    def _live(self) -> ExtensionHost:
        if self._closed:
            raise SessionClosedError("this pi-sandbox session is closed")
        return self._host

    def extensions(self) -> list[ExtensionInfo]:
        """Every extension the session knows, in load order, with its status and load error."""
        return [ExtensionInfo.from_summary(e.summary()) for e in self._live().extensions()]

    def load(self, *paths: str | os.PathLike[str]) -> list[ExtensionInfo]:
        """Load more extensions (files or folders) into this session; returns them, failed ones too."""
        from pi_sandbox.runtime.discovery import resolve_path, with_origin

        host = self._live()
        known = {e.source.entry for e in host.extensions()}
        sources = []
        for raw in paths:
            found, error = resolve_path(os.fspath(raw), self.config.project_dir)
            if error:
                raise ExtensionLoadError(f"cannot load {os.fspath(raw)}: {error}")
            sources += [with_origin(s, "cli") for s in found if s.entry not in known]  # as a -e path
        return [ExtensionInfo.from_summary(e.summary()) for e in host.load(_unique_ids(host, sources))]

    def tools(self) -> list[ToolSpec]:
        """The tools of the loaded extensions with their JSON Schemas, in load order."""
        specs: list[ToolSpec] = []
        for ext in self._live().extensions():
            if ext.status != "loaded":
                continue
            for spec in ext.summary()["tool_specs"]:
                specs.append(ToolSpec(ext.extension_id, spec["name"], spec["label"], spec["description"],
                                      spec["parameters"]))
        return specs

    def tool(self, name: str, *, extension: str | None = None) -> ToolSpec:
        """The one tool called ``name`` (of ``extension``); :class:`ToolNotFoundError` if none or ambiguous."""
        matches = [t for t in self.tools() if t.name == name and extension in (None, t.extension_id)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            owners = ", ".join(t.extension_id for t in matches)
            raise ToolNotFoundError(f"tool '{name}' is registered by {owners}: pass extension= to choose one")
        known = ", ".join(sorted({t.name for t in self.tools()})) or "none"
        where = f" of extension '{extension}'" if extension else ""
        raise ToolNotFoundError(f"no tool '{name}'{where} is loaded (tools: {known})")

    # ---- calling -----------------------------------------------------------------------------

    def call_tool(self, name: str, args: Mapping[str, Any] | None = None, *, extension: str | None = None,
                  tool_call_id: str | None = None, abort_after_ms: int | None = None) -> ToolResult:
        """Run a tool; every effect it has passes the pipeline. Denied hostcalls are listed in ``denials``
        with their remediation (the tool itself sees them as errors, e.g. ``EACCES``).

        Raises :class:`~pi_sandbox.errors.ToolArgumentsError` for arguments that fail the tool's schema,
        :class:`~pi_sandbox.errors.ExtensionRuntimeError` when the extension crashes or is killed.
        """
        spec = self.tool(name, extension=extension)
        host = self._live()
        before = self._sandbox.store.head()[0]
        own: list[str] = []
        raw = host.call_tool(spec.extension_id, spec.name, dict(args or {}), tool_call_id=tool_call_id,
                             abort_after_ms=abort_after_ms, hostcall_ids=own)
        return ToolResult(
            extension_id=spec.extension_id, tool=spec.name,
            content=tuple(c for c in raw.get("content") or () if isinstance(c, Mapping)),
            details=raw.get("details"), is_error=bool(raw.get("isError")), aborted=bool(raw.get("aborted")),
            denials=tuple(self._denials(spec.extension_id, before, frozenset(own))))

    def _denials(self, extension_id: str, after_seq: int, call_ids: frozenset[str]) -> Iterator[Denial]:
        """The denials of this call's own hostcalls (by call id): another call of the same extension, run
        by another thread while or right after this one ran, is in the same ledger range but not in ``call_ids``."""
        if not call_ids:
            return
        store = self._sandbox.store
        for entry in store.query_ledger(extension_id=extension_id, kind="hostcall", after_seq=after_seq):
            if entry.decision != "deny" or entry.call_id not in call_ids:
                continue
            remediation = str(store.forensic_fields(entry.seq).get("remediation") or "")
            yield Denial(entry.seq, entry.capability, entry.method, entry.reason, remediation)

    def record_refusal(self, extension_id: str, reason: str, message: str) -> None:
        """Record that the host refused something on ``extension_id``'s behalf outside a hostcall (a ledger
        entry of kind ``runtime``, decision ``deny``, with an alert; the message is kept as its hash), e.g. an
        MCP call whose client did not answer in time."""
        from pi_sandbox.runtime.extension import record_runtime_event

        record_runtime_event(self._live().sandbox.evidence, extension_id, reason, message, decision="deny")

    def run_command(self, name: str, args: str = "", *, extension: str | None = None) -> Any:
        """Run a slash command an extension registered; returns what its handler returned."""
        host = self._live()
        owners = [e.extension_id for e in host.extensions()
                  if e.status == "loaded" and name in e.summary()["commands"] and extension in (None, e.extension_id)]
        if len(owners) != 1:
            problem = "is registered by " + ", ".join(owners) if owners else "is not loaded"
            raise ToolNotFoundError(f"command '{name}' {problem}" + (": pass extension=" if owners else ""))
        return host.run_command(owners[0], name, args).get("result")

    def emit(self, event: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Send a pi event (``tool_call``, ``input``, ``before_agent_start``...) to every extension that
        handles it; returns the combined outcome as pi would see it (``block``, ``action``, ``data``...)."""
        return self._live().emit(event, data or {})

    def next_timer_at(self) -> float | None:
        """When (``time.monotonic()`` seconds) the next extension timer (``setTimeout``/``setInterval``) is due."""
        return self._live().next_timer_at()

    def run_due_timers(self) -> int:
        """Run the extensions' due timers now; returns how many extensions ran some. Tool calls and events
        run timers that are due on the way; a host that stays idle calls this when :meth:`next_timer_at` says."""
        return self._live().tick()

    # ---- evidence ----------------------------------------------------------------------------

    def ledger(self, *, extension: str | None = None, limit: int | None = None) -> list[LedgerEntry]:
        """Ledger entries in chain order (the newest ``limit``), optionally of one extension."""
        self._live()
        return self._sandbox.store.query_ledger(extension_id=extension, limit=limit)

    def verify_ledger(self) -> LedgerVerificationReport:
        """Check the whole ledger now: hashes, links, signed checkpoints, anchors (``report.chain_valid``)."""
        from pi_sandbox.audit.verify import verify_ledger

        self._live()
        return verify_ledger(self._sandbox.store, anchor_copy=self.config.ledger.anchor_copy)

    # ---- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Emit ``session_shutdown``, stop every worker, write pending evidence and seal the ledger
        with a signed checkpoint. Idempotent; the ledger is sealed even if stopping a worker fails."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        try:
            self._host.shutdown()
        finally:
            self._sandbox.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._host.extensions())} extension(s)"
        return f"<pi_sandbox.Session {self._host.session_id} {state}>"


def _unique_ids(host: ExtensionHost, sources: Sequence[Any]) -> list[Any]:
    """Sources with ids not yet used in ``host`` (``name-2``... as discovery does)."""
    from pi_sandbox.runtime.discovery import ExtensionSource

    used = {e.extension_id for e in host.extensions()}
    unique: list[ExtensionSource] = []
    for source in sources:
        ext_id, n = source.extension_id, 2
        while ext_id in used:
            ext_id, n = f"{source.extension_id}-{n}", n + 1
        used.add(ext_id)
        unique.append(ExtensionSource(ext_id, source.entry, source.root, source.origin))
    return unique


def open_session(
    extensions: Sequence[str | os.PathLike[str]] = (),
    *,
    discover: bool = True,
    sandboxed_only: bool = False,
    project_dir: str | os.PathLike[str] | None = None,
    profile: str | None = None,
    on_prompt: PromptCallback | None = None,
    on_dialog: DialogCallback | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    model: Mapping[str, Any] | None = None,
) -> Session:
    """Open a sandboxed session: resolve the settings, open the ledger, load the extensions and send
    ``session_start``. Use it as ``with open_session(...) as session:``.

    * ``extensions``: extension files or folders to load (relative to ``project_dir``).
    * ``discover``: also load the configured extensions (pi-sandbox's folders, the agent and project
      folders, ``settings.json``), as ``pi-sandbox rpc`` does; ``sandboxed_only`` limits that to
      pi-sandbox's own folders (what the pi bridge loads).
    * ``project_dir``: the workspace (default: the current directory); its ``.pi/settings.json`` applies.
    * ``profile``: ``safe`` | ``balanced`` | ``permissive`` for this session (default: the settings').
    * ``on_prompt``: answers permission prompts (policy decision *prompt*), see :data:`PromptCallback`.
      Without it nobody is asked and every prompt is a deny (headless), as in ``pi-sandbox rpc``.
    * ``on_dialog``: answers extensions' ``ctx.ui.confirm/select/input/editor``, see :data:`DialogCallback`;
      without it they get the headless answers (``false`` / ``undefined``) and are shown on stderr.
    * ``env``: the environment to resolve settings from (default: ``os.environ``).
    * ``flags`` / ``model``: what extensions see as ``pi.getFlag()`` values and ``ctx.model``.

    Raises :class:`~pi_sandbox.errors.ConfigError` for invalid settings and
    :class:`~pi_sandbox.errors.ToolchainMissingError` before ``pi-sandbox setup`` ran. An extension
    that fails to load does not raise: :meth:`Session.extensions` shows it with its error.
    """
    from pi_sandbox.config import resolve_config
    from pi_sandbox.connectors.events import HeadlessUiConnector
    from pi_sandbox.dispatch import Sandbox
    from pi_sandbox.runtime.host import ExtensionHost
    from pi_sandbox.runtime.loading import discover_and_load
    from pi_sandbox.support import require_supported_platform

    require_supported_platform()
    cwd = Path(project_dir if project_dir is not None else Path.cwd()).resolve()
    config = resolve_config(cwd=cwd, env=env, cli_profile=profile)
    prompter = _CallbackPrompter(on_prompt) if on_prompt is not None else None
    sandbox = Sandbox.open(config, prompter=prompter)
    ui = sandbox.connectors.get("ui")
    if on_dialog is not None and isinstance(ui, HeadlessUiConnector):
        ui.asker = _dialog_asker(on_dialog)
    try:
        host = ExtensionHost(sandbox, flags=flags, model=model)
        session = Session(sandbox, host)
    except BaseException:
        sandbox.close()
        raise
    try:
        paths = [os.fspath(p) for p in extensions]
        if discover:
            report = discover_and_load(host, cli_paths=paths, cwd=cwd, sandboxed_only=sandboxed_only)
            # A path the caller named that holds no extension raises, as session.load() does (and as
            # discover=False did); silently the session ran with the configured extensions only.
            wrong = [p for p in report.problems if p.origin == "cli"]
            if wrong:
                raise ExtensionLoadError(f"cannot load {wrong[0].path}: {wrong[0].reason}")
        elif paths:
            session.load(*paths)
        host.start_session()
    except BaseException:
        session.close()
        raise
    return session
