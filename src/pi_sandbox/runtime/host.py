"""``ExtensionHost``: load extensions into workers, call their tools and commands, emit events.

Each extension gets its own worker process; every hostcall a worker makes is passed to the
dispatch ``Sandbox`` (the single chokepoint that decides, carries out and records it). A worker
that hangs, runs out of memory or crashes is killed, reported as an alert (category ``runtime``)
plus a ledger entry (kind ``runtime``), and restarted on next use up to ``max_restarts`` times;
the other extensions carry on.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from pi_sandbox.dispatch import Sandbox
from pi_sandbox.errors import (
    ConnectorError,
    ExtensionLoadError,
    ExtensionRuntimeError,
    IntegrityMismatchError,
    PiSandboxError,
    SessionLimitError,
    ToolArgumentsError,
)
from pi_sandbox.hashing import sha256_hex
from pi_sandbox.identity import ExtensionIdentity
from pi_sandbox.runtime.bundler import Bundler, sealed_bundle
from pi_sandbox.runtime.controls import HostControls
from pi_sandbox.runtime.discovery import ExtensionSource
from pi_sandbox.runtime.events import combine_event, complete_event
from pi_sandbox.runtime.extdirs import clear_tmp, prepare_dirs
from pi_sandbox.runtime.extension import REMEDIATION, LoadedExtension, limits_for, record_runtime_event
from pi_sandbox.runtime.identity import (
    IDENTITY_CONFLICT,
    Holder,
    claim_problem,
    held_ids,
    identity_of,
    user_holders,
)
from pi_sandbox.runtime.modules import TYPEBOX_USERS, ModuleTable, load_module_table, sealed_sources
from pi_sandbox.runtime.prepare import LOAD_DECISIONS, prepare_bundle, static_import_problem
from pi_sandbox.runtime.serving import SandboxHostcalls
from pi_sandbox.runtime.supervisor import ExtensionWorker, WorkerFailure, WorkerLimits
from pi_sandbox.runtime.toolchain import Toolchain, default_toolchain
from pi_sandbox.sandbox.process import make_undumpable
from pi_sandbox.scanner.integrity import PinIndex
from pi_sandbox.scanner.lockfile import load_lockfile
from pi_sandbox.trust import TransitionReason

#: Load failures recorded as alert category ``integrity`` (the code is not what was pinned or claimed).
INTEGRITY_CODES = frozenset({"integrity_mismatch", IDENTITY_CONFLICT})

#: What a queued message carries from the extension's params (everything else is dropped).
MESSAGE_FIELDS = ("message", "content", "options")
#: Events waiting for the end of a host call to be delivered (``pi.events.emit``), and their bytes (UTF-8 JSON of
#: the data). The delivery loop stops at the first number anyway; the bytes bound what one call can make the
#: supervisor hold (1 MiB events in a loop held ~250 MB after 8 s, ~1 GB within one 30 s call).
MAX_BUS_QUEUE_EVENTS = 200
MAX_BUS_QUEUE_BYTES = 16 * 1024 * 1024

__all__ = [
    "ExtensionHost",
    "LoadedExtension",
    "ToolArgumentsError",
    "limits_for",
]


class ExtensionHost:
    """Hosts extensions for one agent session."""

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        toolchain: Toolchain | None = None,
        flags: Mapping[str, Any] | None = None,
        model: Mapping[str, Any] | None = None,
        max_restarts: int = 2,
        limits: WorkerLimits | None = None,
    ) -> None:
        # The supervisor holds every secret: no other process of this user may read its memory or environ.
        make_undumpable()
        self.sandbox = sandbox
        self.config = sandbox.config
        self.toolchain = toolchain or default_toolchain()
        self.flags = dict(flags or {})
        self.model = dict(model) if model else None
        self.max_restarts = max_restarts
        self._limits_override = limits
        self.session_id = secrets.token_hex(8)
        self._extensions: dict[str, LoadedExtension] = {}
        self._table: ModuleTable | None = None
        self._modules_json: str | None = None
        self._boot: tuple[str, ...] = ()
        #: Secret suffix of internal module names in this session's workers (see modules.sealed_sources).
        self._module_seal = secrets.token_hex(16)
        self._bundler: Bundler | None = None
        #: Numbers for this session's hostcall ids (``<extension>:<session>:<n>``) and default tool call ids.
        self._call_ids = itertools.count(1)
        self._bus_queue: deque[tuple[str, str, Any, int]] = deque()
        #: Per emitter: how many of its events wait in ``_bus_queue``, and their bytes (each has its own bound).
        self._bus_waiting: dict[str, tuple[int, int]] = {}
        self._bus_lock = threading.Lock()
        self._session_started = False
        #: Messages extensions asked the agent to deliver (sendMessage / sendUserMessage).
        self.outbox: list[dict[str, Any]] = []
        #: (messages, bytes) each extension has queued in this session: capped like its session entries.
        self._message_usage: dict[str, tuple[int, int]] = {}
        self._controls = HostControls(sandbox, self._extensions)
        sandbox.bus.subscribe(self._on_bus_event)
        # Kill switches and quarantine reach running workers within the watcher's poll interval.
        sandbox.controls.subscribe(self._controls.enforce)
        sandbox.quota.cpu_probe = self._controls.cpu_time_ms
        sandbox.bus.register_op("send_message", self._on_send_message)
        sandbox.bus.register_op("send_user_message", self._on_send_message)

    # ---- set-up ------------------------------------------------------------------------------

    def _module_table(self) -> ModuleTable:
        if self._table is None:
            self.toolchain.require_installed()
            self._table = load_module_table(self.toolchain)
        return self._table

    def _get_bundler(self) -> Bundler:
        if self._bundler is None:
            self._bundler = Bundler(
                self.toolchain, self.config.state_dir / "bundle-cache", self._module_table()
            )
        return self._bundler

    def _limits(self, extension_id: str) -> WorkerLimits:
        # The sandbox's current config: an extension's grants (its memory quota too) follow its identity source.
        return self._limits_override or limits_for(self.sandbox.config, extension_id)

    def _info(self, ext: LoadedExtension) -> dict[str, Any]:
        return {
            "extensionId": ext.extension_id,
            "cwd": str(self.config.project_dir),
            "platform": "linux",
            "argv": ["pi"],
            "hasUI": False,
            "pid": 1,
            "version": "0.1.0",
            "sessionId": self.session_id,
            "flags": self.flags,
            "model": self.model,
            "models": [self.model] if self.model else [],
            "extensionRoot": str(ext.source.root),
            "usesTypebox": bool(
                ext.bundle and any(i.startswith(TYPEBOX_USERS) for i in ext.bundle.static_imports)
            ),
            # The real home, so paths look right; every access is still decided by the pipeline (outside the
            # workspace, the extension's folder and its own data/tmp dirs it is denied).
            "homedir": self.config.environ.get("HOME", "/"),
            "tmpdir": str(ext.dirs.tmp) if ext.dirs else "/tmp",
            "dataDir": str(ext.dirs.data) if ext.dirs else None,
        }

    # ---- loading -----------------------------------------------------------------------------

    def load(self, sources: Iterable[ExtensionSource], holders: Iterable[Holder] = ()) -> list[LoadedExtension]:
        """Bundle and start every source; a failing extension never stops the others.

        Each source's identity is settled first (``runtime.identity``): a project-local extension under an
        id the user's installed or global extensions hold (``holders`` adds ones found by discovery, e.g.
        user-scope pi packages) is refused with ``identity_conflict``; a pinned one whose files changed is
        refused with ``integrity_mismatch``, which also counts toward quarantine.
        Raises ``ExtensionLoadError`` only when nothing can load at all (toolchain missing).
        """
        table = self._module_table()
        bundler = self._get_bundler()
        started: list[LoadedExtension] = []
        batch: list[LoadedExtension] = []
        config = self.config
        pins = PinIndex.of(load_lockfile(config.state_dir))
        held = held_ids(pins, [*user_holders(config.agent_dir, config.project_dir, pins), *holders])
        for source in sources:
            identity = identity_of(source.extension_id, source.origin, source.root, source.entry,
                                   config.project_dir, pins)
            problem = claim_problem(identity, held)
            if problem is not None:
                # Refused before anything is registered under the id: the holder keeps it (and its grants).
                refused = LoadedExtension(source, identity=identity)
                batch.append(refused)
                self._fail(refused, IDENTITY_CONFLICT, problem, decision="deny")
                continue
            if source.extension_id in self._extensions:
                raise ExtensionLoadError(f"extension id '{source.extension_id}' is already loaded")
            ext = LoadedExtension(source, identity=identity)
            self._extensions[source.extension_id] = ext
            batch.append(ext)
            try:
                ext.bundle = prepare_bundle(bundler, source, config.state_dir, pins)
            except ExtensionLoadError as exc:
                self._fail(ext, exc.reason, str(exc), decision=LOAD_DECISIONS.get(exc.reason, "deny"))
                if isinstance(exc, IntegrityMismatchError):
                    ext.trust = self.sandbox.controls.registry.note_event(
                        source.extension_id, TransitionReason.INTEGRITY_FAILURES)
                continue
            ext.bundle_sha256, ext.bundle_cached = ext.bundle.sha256, ext.bundle.cached
            ext.identity = identity = replace(identity, content_hash=ext.bundle.sha256)
            ext.trust = self.sandbox.controls.registry.observe_load(source.extension_id, identity.source_key,
                                                                    ext.bundle.sha256)
            if self._controls.stopped(ext):
                continue
            if not self._imports_available(ext, table):
                continue
            try:
                ext.dirs = prepare_dirs(self.config.state_dir, source.extension_id)
            except OSError as exc:
                self._fail(ext, "boot_failed", f"cannot create the extension's data/tmp dirs: {exc}")
                continue
            self.sandbox.register_extension(
                source.extension_id, source.root, tuple(Path(d) for d in ext.bundle.dependency_dirs),
                writable=(ext.dirs.data, ext.dirs.tmp), identity=identity,
            )
            self._spawn(ext, table)
            started.append(ext)
        for ext in started:
            self._finish_load(ext)
        self._settle()
        return batch

    def _imports_available(self, ext: LoadedExtension, table: ModuleTable) -> bool:
        """Refuse an extension that imports modules the runtime does not serve, before any code runs."""
        assert ext.bundle is not None
        problem = static_import_problem(ext.bundle, table, ext.source.entry)
        if problem is not None:
            self._fail(ext, problem.reason, problem.message, decision=problem.decision)
            return False
        return True

    def _spawn(self, ext: LoadedExtension, table: ModuleTable) -> None:
        assert ext.bundle is not None
        service = SandboxHostcalls(self.sandbox, ext.extension_id, self.config.runtime,
                                   call_id_prefix=f"{ext.extension_id}:{self.session_id}:", call_ids=self._call_ids)
        worker = ExtensionWorker(ext.extension_id, service, self._limits(ext.extension_id))
        ext.worker = worker
        try:
            if self._modules_json is None:
                sources, self._boot = sealed_sources(table, self._module_seal)
                self._modules_json = json.dumps(sources, separators=(",", ":"), ensure_ascii=False)
            worker.spawn(
                {"bundle": sealed_bundle(ext.bundle.source, self._module_seal), "boot": list(self._boot),
                 "info": self._info(ext)},
                modules_json=self._modules_json,
            )
        except OSError as exc:
            self._fail(ext, "boot_failed", f"cannot start the worker process: {exc}")

    def _finish_load(self, ext: LoadedExtension) -> None:
        worker = ext.worker
        if worker is None or ext.status == "failed":
            return
        try:
            worker.wait_ready()
            reply = worker.request("load", {})
        except WorkerFailure as exc:
            self._fail(ext, exc.code, f"{ext.source.entry}: {exc}", decision="kill")
            return
        if not reply.get("ok"):
            error = reply.get("error") or {}
            text = str(error.get("message", "load failed"))
            message = f"{ext.source.entry}: {error.get('name', 'Error')}: {text}{_missing_global_hint(text)}"
            self._fail(ext, "load_failed", message, decision="error")
            worker.close()
            return
        ext.registrations = dict(reply.get("result") or {})
        ext.registration_version = worker.registration_version
        ext.status = "loaded"
        for provider in ext.registrations.get("providers", []):
            # Custom LLM providers are recorded for the audit trail (name and a hash of the endpoint).
            self.sandbox.store.record(
                "runtime_event",
                {
                    "event": "register_provider",
                    "provider": str(provider.get("name", ""))[:100],
                    "base_url_hash": sha256_hex(str(provider.get("baseUrl") or "")),
                },
                extension_id=ext.extension_id,
            )

    def _restart(self, ext: LoadedExtension) -> None:
        """Start a fresh worker for a dead extension (re-runs its top level and registration)."""
        if ext.restarts >= self.max_restarts or ext.bundle is None:
            raise ExtensionRuntimeError(
                f"extension '{ext.extension_id}' is disabled after {ext.restarts} restarts ({ext.error})"
            )
        ext.restarts += 1
        ext.status = "pending"
        ext.cpu_ms_before += ext.worker.cpu_time_ms() if ext.worker is not None else 0
        self._spawn(ext, self._module_table())
        self._finish_load(ext)
        if ext.status != "loaded":
            raise ExtensionRuntimeError(f"extension '{ext.extension_id}' could not be restarted: {ext.error}")
        if self._session_started and "session_start" in ext.registrations.get("events", []):
            # A fresh worker has fresh state: let it initialise like at session start.
            self._request(
                ext, "event", {"event": "session_start", "data": {"reason": "restart"}}, restart=False
            )

    # ---- runtime controls (kill switches, quarantine, CPU and memory quotas: runtime/controls.py) ----

    def cpu_time_ms(self, extension_id: str) -> int | None:
        """CPU time the extension's workers used this session (the quota's ``maxCpuTimeMs``)."""
        return self._controls.cpu_time_ms(extension_id)

    # ---- failure reporting -------------------------------------------------------------------

    def _fail(self, ext: LoadedExtension, code: str, message: str, *, decision: str = "error") -> None:
        # A worker that was serving calls is "dead" (restartable); one that never loaded "failed".
        ext.status = "dead" if ext.status == "loaded" else "failed"
        ext.error, ext.error_code = message, code
        self._record(ext.extension_id, code, message, decision=decision,
                     identity=ext.identity if code in INTEGRITY_CODES else None)

    def _record(
        self, extension_id: str, code: str, message: str, *, decision: str, call_id: str | None = None,
        identity: ExtensionIdentity | None = None,
    ) -> None:
        record_runtime_event(
            self.sandbox.evidence, extension_id, code, message, decision=decision, call_id=call_id,
            category="integrity" if code in INTEGRITY_CODES else "runtime", identity=identity,
        )

    # ---- hostcalls ---------------------------------------------------------------------------

    def _on_bus_event(self, source: str, event: str, data: Any) -> None:
        """Queue an emitted event for delivery when the host call ends; refuse it (``quota_exceeded`` /
        ``event_queue_full``, the emitter's call only) past :data:`MAX_BUS_QUEUE_EVENTS` or
        :data:`MAX_BUS_QUEUE_BYTES` of *this emitter's* events waiting (an extension filling the queue never
        refuses another's emit). Before, every emit was kept until then (and past 200 dropped without a word)."""
        try:
            size = len(orjson.dumps(data))
        except (TypeError, orjson.JSONEncodeError):
            size = len(json.dumps(data, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass"))
        with self._bus_lock:
            count, used = self._bus_waiting.get(source, (0, 0))
            if count >= MAX_BUS_QUEUE_EVENTS or used + size > MAX_BUS_QUEUE_BYTES:
                raise ConnectorError(
                    f"event queue full: {count} events ({used} bytes) this extension emitted wait for delivery "
                    f"at the end of this call (at most {MAX_BUS_QUEUE_EVENTS} events, {MAX_BUS_QUEUE_BYTES} "
                    "bytes); emit fewer or smaller events per call", code="quota_exceeded", reason="event_queue_full")
            self._bus_queue.append((source, event, data, size))
            self._bus_waiting[source] = (count + 1, used + size)

    def _take_bus_event(self) -> tuple[str, str, Any] | None:
        """The next queued event, off the queue and its emitter's count (None when none waits)."""
        with self._bus_lock:
            if not self._bus_queue:
                return None
            source, event, data, size = self._bus_queue.popleft()
            count, used = self._bus_waiting[source]
            if count <= 1:
                del self._bus_waiting[source]
            else:
                self._bus_waiting[source] = (count - 1, used - size)
        return source, event, data

    def _on_send_message(self, extension_id: str, params: Mapping[str, Any]) -> Any:
        """Queue a message for the agent. The sender is the pipeline's caller id, stamped last: a
        ``extension_id`` (or any other field) in the params can never claim another sender."""
        kind = "user_message" if params.get("op") == "send_user_message" else "message"
        body = {k: params[k] for k in MESSAGE_FIELDS if k in params}
        self._charge_message(extension_id, body)
        self.outbox.append({**body, "kind": kind, "extension_id": extension_id})
        return {"accepted": True, "queued": len(self.outbox)}

    def _charge_message(self, extension_id: str, body: Mapping[str, Any]) -> None:
        """Count a message against the sender's session budget, or refuse it (``quota_exceeded``).

        In pi a sent message is a session entry; here it is also kept in :attr:`outbox` for the whole session
        (the RPC host and the CLI read it from there). Unbounded, one extension sending 1 MiB messages in a
        loop grew the supervisor by ~16 MB a second, for as long as the session lasted. So messages take the
        same caps as the extension's own session entries: ``extensionRuntime.sessionMaxEntries`` messages and
        ``sessionMaxBytes`` bytes (UTF-8 JSON) per extension and session."""
        runtime = self.sandbox.config.runtime
        count, used = self._message_usage.get(extension_id, (0, 0))
        if count >= runtime.session_max_entries:
            raise SessionLimitError(
                f"message limit reached: this extension sent {count} messages in this session "
                f"(extensionRuntime.sessionMaxEntries = {runtime.session_max_entries})", "session_messages_limit")
        try:
            size = len(json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)
                       .encode("utf-8", "surrogatepass"))
        except (ValueError, RecursionError):
            raise ConnectorError("message is not JSON", code="invalid_request") from None
        if used + size > runtime.session_max_bytes:
            raise SessionLimitError(
                f"message size limit reached: {used} + {size} bytes of messages would pass "
                f"extensionRuntime.sessionMaxBytes = {runtime.session_max_bytes}", "session_messages_limit")
        self._message_usage[extension_id] = (count + 1, used + size)

    def _settle(self) -> None:
        """The end of every host call: deliver the bus events it caused, then wait for the posts.

        Console lines and status-like UI updates are posts (docs/runtime.md): an extension does not wait for
        them, so the host carries them out while the extension, and the other extensions' handlers, run on.
        The host's caller waits once, here: when a host call returns, its output has been shown and every
        call it made is in the ledger, in the order sent (as in pi, where they take effect at once)."""
        self._flush_bus()
        for ext in list(self._extensions.values()):
            worker = ext.worker
            if worker is None or not worker.posts_pending:
                continue
            with ext.lock:
                try:
                    worker.finish_posts()
                except WorkerFailure as exc:
                    self._fail(ext, exc.code, f"finishing its posts: {exc}", decision="kill")

    def _flush_bus(self) -> None:
        """Deliver queued ``pi.events.emit`` events to the other extensions (bounded, no recursion).

        Every event waiting when the flush starts is delivered (at most :data:`MAX_BUS_QUEUE_EVENTS` per emitter),
        and :data:`MAX_BUS_QUEUE_EVENTS` more that receivers emit while they are delivered; a longer cascade (two
        extensions answering each other) is cut there. The bound counts events, not deliveries: counting
        deliveries, 200 events queued with two receivers lost half of them without a word."""
        with self._bus_lock:
            limit = len(self._bus_queue) + MAX_BUS_QUEUE_EVENTS
        delivered = 0
        while delivered < limit:
            # taken under the lock, one at a time: calls of different extensions end (and flush) concurrently, and
            # each event goes to whichever flush takes it, once
            taken = self._take_bus_event()
            if taken is None:
                return
            source, event, data = taken
            for ext in list(self._extensions.values()):
                if ext.extension_id == source or ext.status != "loaded":
                    continue
                try:
                    self._request(ext, "bus", {"channel": event, "data": data, "source": source}, restart=False)
                except PiSandboxError:
                    pass  # recorded by _request; a failing listener must not fail the emitter's call
            delivered += 1
        while self._take_bus_event() is not None:  # a cascade past the bound: the rest is cut
            pass

    # ---- requests ----------------------------------------------------------------------------

    def get(self, extension_id: str) -> LoadedExtension:
        """The loaded extension with this id (``ExtensionLoadError`` if unknown)."""
        ext = self._extensions.get(extension_id)
        if ext is None:
            known = ", ".join(sorted(self._extensions)) or "none loaded"
            raise ExtensionLoadError(f"no extension '{extension_id}' (loaded: {known})")
        return ext

    def extensions(self) -> list[LoadedExtension]:
        """Every extension the host knows, in load order."""
        return list(self._extensions.values())

    def _request(
        self, ext: LoadedExtension, kind: str, payload: Mapping[str, Any], *, restart: bool = True
    ) -> dict[str, Any]:
        """One request to an extension's worker; failures are recorded and raised.

        Requests to one extension take turns; requests to different extensions may run at the same
        time on different threads (each worker has its own request loop and hostcall lane).
        """
        with ext.lock:
            return self._request_locked(ext, kind, payload, restart=restart)

    def _request_locked(
        self, ext: LoadedExtension, kind: str, payload: Mapping[str, Any], *, restart: bool
    ) -> dict[str, Any]:
        if self._controls.stopped(ext):
            raise ExtensionRuntimeError(f"extension '{ext.extension_id}' is stopped: {ext.error}")
        if ext.status == "dead" and restart:
            self._restart(ext)
        if ext.status != "loaded" or ext.worker is None:
            raise ExtensionRuntimeError(
                f"extension '{ext.extension_id}' is not loaded: {ext.error or ext.status}"
            )
        try:
            reply = ext.worker.request(kind, payload)
            if ext.worker.registration_version != ext.registration_version and kind != "registrations":
                # Tools/commands registered at run time (e.g. by a command): refresh the host's copy.
                fresh = ext.worker.request("registrations", {})
                if fresh.get("ok"):
                    ext.registrations = dict(fresh.get("result") or {})
                ext.registration_version = ext.worker.registration_version
        except WorkerFailure as exc:
            if self._controls.stopped(ext):  # killed on purpose by a kill switch or quarantine
                raise ExtensionRuntimeError(f"extension '{ext.extension_id}' is stopped: {ext.error}") from None
            ext.status = "loaded"
            self._fail(ext, exc.code, f"{kind} call: {exc}", decision="kill")
            if exc.code == "oom":
                self._controls.memory_breach(ext)
            raise ExtensionRuntimeError(
                f"extension '{ext.extension_id}' was killed: {exc} ({REMEDIATION.get(exc.code, '')})"
            ) from None
        finally:
            self._controls.check_cpu(ext)
        if not reply.get("ok"):
            error = reply.get("error") or {}
            message = str(error.get("message", "extension error"))
            code = str(error.get("code") or "")
            if code == "invalid_params":
                raise ToolArgumentsError(message)
            if code in ("unknown_tool", "unknown_command", "unknown_shortcut"):
                raise ExtensionLoadError(f"extension '{ext.extension_id}': {message}")
            reason = "stack_overflow" if "call stack size" in message else "extension_error"
            self._record(ext.extension_id, reason, message, decision="error")
            raise ExtensionRuntimeError(f"extension '{ext.extension_id}' failed in {kind}: {message}")
        return dict(reply.get("result") or {})

    def call_tool(
        self,
        extension_id: str,
        tool: str,
        args: Mapping[str, Any],
        *,
        tool_call_id: str | None = None,
        abort_after_ms: int | None = None,
        hostcall_ids: list[str] | None = None,
    ) -> dict[str, Any]:
        """Run a registered tool (parameters validated against its TypeBox schema first).

        ``abort_after_ms`` aborts the ``AbortSignal`` the tool gets after that long (the result then
        has ``aborted: true``); what the tool does about it is up to the tool, as in pi.
        ``hostcall_ids``, when given, receives the call ids of the hostcalls this call made (also when it
        raises): the only sound way to tell its ledger entries from those of other calls of the extension.
        """
        ext = self.get(extension_id)
        payload: dict[str, Any] = {
            "name": tool,
            "input": dict(args),
            "toolCallId": tool_call_id or f"call-{next(self._call_ids)}",
        }
        if abort_after_ms is not None:
            payload["abortAfterMs"] = max(1, int(abort_after_ms))
        try:
            with ext.lock:  # the ids are read under the same turn as the request that made them
                try:
                    result = self._request_locked(ext, "tool", payload, restart=True)
                finally:
                    if hostcall_ids is not None and ext.worker is not None:
                        hostcall_ids.extend(ext.worker.request_call_ids)
        finally:
            self._settle()
        thrown = result.pop("thrown", None)
        if thrown:
            message = str(thrown.get("message", ""))
            reason = "stack_overflow" if "call stack size" in message else "extension_error"
            self._record(extension_id, reason, message, decision="error")
        return result

    def set_flags(self, values: Mapping[str, bool | str]) -> None:
        """The extensions' CLI flags as the agent parsed its command line (pi: ``--name`` / ``--name value``,
        known only after every extension registered its flags); ``pi.getFlag`` answers them from now on,
        also in workers started later. A worker that cannot take them is recorded like any failed request."""
        self.flags = dict(values)
        for ext in list(self._extensions.values()):
            if ext.status != "loaded":
                continue
            try:
                self._request(ext, "flags", {"values": self.flags})
            except PiSandboxError:
                continue  # recorded by _request; a restarted worker starts with the new values

    def run_command(self, extension_id: str, name: str, args: str = "") -> dict[str, Any]:
        """Run a registered slash command with its argument string."""
        ext = self.get(extension_id)
        try:
            return self._request(ext, "command", {"name": name, "args": args})
        finally:
            self._settle()

    def run_shortcut(self, extension_id: str, key: str) -> dict[str, Any]:
        """Run a registered keyboard shortcut's handler."""
        ext = self.get(extension_id)
        try:
            return self._request(ext, "shortcut", {"key": key})
        finally:
            self._settle()

    def emit(
        self, event: str, data: Mapping[str, Any] | None = None, *, only: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """Emit a pi lifecycle event to every loaded extension and combine the results like pi.

        A failing or killed extension is recorded and skipped; the others still answer.
        """
        state = complete_event(event, data or {}, cwd=str(self.config.project_dir), model=self.model)
        per_extension: list[dict[str, Any]] = []
        outcome: dict[str, Any] = {"event": event}
        for ext in list(self._extensions.values()):
            if only is not None and ext.extension_id not in only:
                continue
            if ext.status not in ("loaded", "dead") or event not in ext.registrations.get("events", []):
                continue
            try:
                reply = self._request(ext, "event", {"event": event, "data": state})
            except PiSandboxError as exc:
                per_extension.append({"extension_id": ext.extension_id, "error": str(exc)})
                continue
            per_extension.append(
                {
                    "extension_id": ext.extension_id,
                    "handled": reply.get("handled", 0),
                    "errors": reply.get("errors", []),
                }
            )
            for err in reply.get("errors", []):
                self._record(
                    ext.extension_id, "extension_error", str(err.get("message", "")), decision="error"
                )
            refused_before = len(outcome.get("rewrites_refused", ()))
            state, stop = combine_event(event, state, reply, ext.extension_id, outcome)
            if len(outcome.get("rewrites_refused", ())) > refused_before:
                self._record(ext.extension_id, "tool_call_rewrite_refused",
                             f"{event}: tried to change a call already approved by {outcome.get('approved_by')}",
                             decision="deny")
            if stop:
                break
        self._settle()
        outcome["data"] = state
        outcome["extensions"] = per_extension
        return outcome

    def start_session(self, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Emit ``session_start`` (as pi does after loading extensions); later restarts re-emit it."""
        self._session_started = True
        return self.emit("session_start", data or {})

    def tick(self, *, only_due: bool = True) -> int:
        """Let extensions run their due timers (the host drives the job loop); returns how many ran."""
        now = time.monotonic()
        ticked = 0
        for ext in list(self._extensions.values()):
            worker = ext.worker
            if ext.status != "loaded" or worker is None:
                continue
            if only_due and (worker.next_timer_at is None or worker.next_timer_at > now):
                continue
            try:
                self._request(ext, "tick", {}, restart=False)
                ticked += 1
            except PiSandboxError:
                continue
        self._settle()
        return ticked

    def next_timer_at(self) -> float | None:
        """The earliest time (monotonic seconds) any loaded extension has a timer due, if any."""
        times = [
            e.worker.next_timer_at
            for e in self._extensions.values()
            if e.status == "loaded" and e.worker is not None and e.worker.next_timer_at is not None
        ]
        return min(times) if times else None

    def worker_rss(self) -> dict[str, int]:
        """RSS in bytes of every live worker."""
        return {
            e.extension_id: e.worker.rss_bytes()
            for e in self._extensions.values()
            if e.worker and e.worker.alive
        }

    def shutdown(self, *, notify: bool = True) -> None:
        """Emit ``session_shutdown`` (best effort, short budget) and stop every worker."""
        if notify:
            for ext in self._extensions.values():
                if (
                    ext.status == "loaded"
                    and "session_shutdown" in ext.registrations.get("events", [])
                    and ext.worker
                ):
                    try:
                        ext.worker.request("event", {"event": "session_shutdown", "data": {}}, budget_s=2.0)
                    except WorkerFailure as exc:
                        self._fail(ext, exc.code, f"session_shutdown: {exc}", decision="kill")
        for ext in self._extensions.values():
            if ext.worker is not None:
                ext.worker.close()
            if ext.dirs is not None:
                clear_tmp(ext.dirs)  # tmp files live for one session; the data dir is kept
            if ext.status == "loaded":
                ext.status = "stopped"

    def __enter__(self) -> ExtensionHost:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.shutdown()


def replace_limits(limits: WorkerLimits, **changes: Any) -> WorkerLimits:
    """A copy of ``limits`` with some fields changed (tests and benchmarks)."""
    return replace(limits, **changes)


# Re-exported: ``from pi_sandbox.runtime.loading import discover_and_load`` is the documented entry point.


#: Globals Node has and the sandbox's engine cannot give, and what the user can do about a load that needs one.
_MISSING_GLOBALS: dict[str, str] = {
    "WebAssembly": "the sandbox's JavaScript engine runs no WebAssembly; use a pure-JavaScript package instead "
                   "(js-tiktoken for tiktoken, for example)",
    "DOMMatrix": "a canvas API, which Node gets from an optional native canvas addon; native addons cannot load in "
                 "the sandbox",
    "Path2D": "a canvas API, which Node gets from an optional native canvas addon; native addons cannot load in "
              "the sandbox",
    "ImageData": "a canvas API, which Node gets from an optional native canvas addon; native addons cannot load in "
                 "the sandbox",
}


def _missing_global_hint(message: str) -> str:
    """Why a load failed on ``X is not defined`` for a global the engine lacks by design (empty otherwise)."""
    for name, why in _MISSING_GLOBALS.items():
        if message.startswith(f"{name} is not defined"):
            return f" ({why})"
    return ""
