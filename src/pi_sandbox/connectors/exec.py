"""The ``exec`` connector: run a mediated command with an explicit argv, inside the OS sandbox.

- argv only: no shell is put in between (a ``sh -c`` the extension asks for was classified whole);
- the working directory must resolve inside an allowed root;
- the child environment is built by the secret broker — a minimal base, never a withheld value, never
  an injection variable such as ``LD_PRELOAD`` or ``NODE_OPTIONS`` — and the sandbox then points
  ``HOME`` and ``TMPDIR`` at the extension's own folders;
- the command runs under bubblewrap (``sandbox.launch``): read-only system, writable workspace and
  the extension's own folders, state/agent/credential folders invisible, protected files read-only,
  no network, own PID namespace, seccomp filter, rlimits from the quota. Where no sandbox can start
  the call is refused (``sandbox_unavailable``); a command never runs unconfined;
- on timeout, cancel, or when the command exits, bwrap is killed and its PID namespace with it, so
  no background process (``&``, ``nohup``, ``setsid``) outlives the call;
- stdout / stderr are capped (truncation reported) and redacted by the broker before returning;
- running subprocesses are counted per extension (read by the quota layer).

Whether the command may run at all is decided by the pipeline's mediation stage before this
connector is called; it classifies the command, writes the ``exec_mediation`` record and raises the
alerts.
"""

from __future__ import annotations

import errno
import math
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pi_sandbox.audit import AlertDraft, LedgerEntryDraft
from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.connectors.exec_io import communicate
from pi_sandbox.connectors.exec_network import Decide, ExecProxy, open_listener
from pi_sandbox.connectors.fs import confine
from pi_sandbox.errors import ConnectorError, SandboxUnavailableError, SecretScanIncompleteError
from pi_sandbox.hashing import sha256_hex
from pi_sandbox.mediation.secret_broker import SecretBroker
from pi_sandbox.sandbox.launch import ChildRequest, ExecSandbox, Launch, Rlimits
from pi_sandbox.vocabulary import AlertCategory, Decision, Severity

#: The ledger reason of a protected name an exec child planted beyond the binds (moved to quarantine).
PLANTED = "planted_protected_name"

MAX_OUTPUT_BYTES = 1024 * 1024
MAX_TIMEOUT_MS = 10 * 60 * 1000
_READ_CHUNK = 64 * 1024


class SubprocessCounter:
    """Thread-safe count of running subprocesses per extension."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def enter(self, extension_id: str) -> None:
        with self._lock:
            self._counts[extension_id] = self._counts.get(extension_id, 0) + 1

    def leave(self, extension_id: str) -> None:
        with self._lock:
            left = self._counts.get(extension_id, 0) - 1
            if left > 0:
                self._counts[extension_id] = left
            else:
                self._counts.pop(extension_id, None)

    def running(self, extension_id: str) -> int:
        """How many subprocesses ``extension_id`` has running right now."""
        with self._lock:
            return self._counts.get(extension_id, 0)


@dataclass(frozen=True)
class ExecRequest:
    """A validated ``exec`` hostcall."""

    cmd: str
    args: tuple[str, ...]
    cwd: str | None
    timeout_ms: int | None
    stdin: str | None
    env: Mapping[str, str]


def parse_exec_params(params: Mapping[str, Any]) -> ExecRequest:
    """Validate ``{cmd, args?, cwd?, timeout_ms?, stdin?, env?}``; bad input is ``invalid_request``."""
    cmd = params.get("cmd")
    if not isinstance(cmd, str) or not cmd or "\0" in cmd:
        raise ConnectorError("exec needs a non-empty string 'cmd' without NUL bytes", code="invalid_request")
    args = params.get("args", [])
    if args is None:
        args = []
    if not isinstance(args, (list, tuple)) or not all(isinstance(a, str) and "\0" not in a for a in args):
        raise ConnectorError("exec 'args' must be a list of strings without NUL bytes", code="invalid_request")
    cwd = params.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise ConnectorError("exec 'cwd' must be a string", code="invalid_request")
    timeout = params.get("timeout_ms", params.get("timeout"))
    if isinstance(timeout, float) and math.isfinite(timeout) and timeout > 0:
        timeout = math.ceil(timeout)  # JS numbers arrive as floats sometimes
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0):
        raise ConnectorError("exec 'timeout_ms' must be a positive number of milliseconds", code="invalid_request")
    stdin = params.get("stdin")
    if stdin is not None and not isinstance(stdin, str):
        raise ConnectorError("exec 'stdin' must be a string", code="invalid_request")
    env = params.get("env") or {}
    if not isinstance(env, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise ConnectorError("exec 'env' must map strings to strings", code="invalid_request")
    return ExecRequest(cmd, tuple(args), cwd, timeout, stdin, dict(env))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class ExecConnector:
    """Runs allowed, mediated commands for extensions."""

    #: bwrap holds the command on ``--block-fd`` until :meth:`Launch.attach` releases it, so the
    #: decision's ledger entry is synced while the sandbox starts (``ConnectorContext.durable``).
    waits_durable: ClassVar[bool] = True

    def __init__(self, broker: SecretBroker, sandbox: ExecSandbox, *, destinations: Callable[
                 [ConnectorContext], Decide] | None = None, max_output_bytes: int = MAX_OUTPUT_BYTES) -> None:
        self.broker = broker
        self.sandbox = sandbox
        #: The http connector's host policy, for children with network (None: no child gets network).
        self.destinations = destinations
        self.max_output_bytes = max_output_bytes
        self.subprocesses = SubprocessCounter()
        self._running: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
        self._cancelled: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def running_extensions(self) -> set[str]:
        """Extensions with a command running now."""
        with self._lock:
            return {ext for ext, _ in self._running}

    def cancel(self, extension_id: str, call_id: str | None = None) -> int:
        """Kill the process group of one running call (or all of an extension's); returns how many."""
        with self._lock:
            keys = [k for k in self._running if k[0] == extension_id and (call_id is None or k[1] == call_id)]
            procs = [self._running[k] for k in keys]
            self._cancelled.update(keys)
            if call_id is not None:
                # a call that is still starting is killed as soon as its process exists
                self._cancelled.add((extension_id, call_id))
        for proc in procs:
            _kill_group(proc)
        return len(procs)

    def check(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> None:
        """What :meth:`call` refuses before a sandbox starts (a dry run): the params and the working folder.
        The hosts a child with network reaches are decided while it runs, so a dry run cannot know them."""
        self._cwd(ctx, parse_exec_params(params).cwd)

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        req = parse_exec_params(params)
        cwd = self._cwd(ctx, req.cwd)
        timeout_ms = min(req.timeout_ms or ctx.timeout_ms or ctx.config.runtime.call_timeout_ms, MAX_TIMEOUT_MS)
        network = ctx.config.sandbox_for(ctx.extension_id).network and self.destinations is not None
        workspace = ctx.paths.roots[:1]
        started_ns = time.time_ns()
        watched = self.sandbox.watch_begin(workspace, ctx.extension_id, ctx.call_id,
                                           listings=ctx.paths.secret_files is not None)
        started: list[bool] = []
        try:
            return self._run(ctx, req, cwd, timeout_ms, network, started)
        finally:
            if started:
                self._sweep(ctx, workspace, started_ns, watched)
            else:  # no child was started: nothing of the call's to judge
                self.sandbox.watch_abandon(workspace, ctx.extension_id, ctx.call_id)

    def _run(self, ctx: ConnectorContext, req: ExecRequest, cwd: Path, timeout_ms: int, network: bool,
             started: list[bool]) -> Any:
        own = ctx.paths.own_root
        try:
            launch = self.sandbox.prepare(ChildRequest(
                extension_id=ctx.extension_id, argv=(req.cmd, *req.args), cwd=cwd,
                env=self.broker.child_environment(req.env, ctx.config.exec_mediation.allow_env),
                limits=Rlimits.from_quota(ctx.config.quota_for(ctx.extension_id), timeout_ms),
                own_root=own if own is not None and (ctx.paths.own_read_only or own not in ctx.paths.roots[:1])
                else None,
                own_read_only=ctx.paths.own_read_only, network=network, secret_files=ctx.paths.secret_files,
            ), workspace=ctx.paths.roots[:1])
        except SecretScanIncompleteError as exc:
            self._scan_refused(ctx, exc)
            raise
        self.sandbox.watch_bound(ctx.paths.roots[:1], ctx.extension_id, ctx.call_id, launch.bound)
        started.append(True)
        key = (ctx.extension_id, ctx.call_id)
        proxies: list[ExecProxy] = []
        try:
            proc = self._spawn(launch, req, cwd)
            with self._lock:
                self._running[key] = proc
                self.subprocesses.enter(ctx.extension_id)
                cancelled_early = key in self._cancelled
            try:
                self._await_durable(ctx, proc)
                ready = None
                if network and self.destinations is not None:
                    decide = self.destinations(ctx)
                    ready = lambda pid: proxies.append(ExecProxy(ctx, open_listener(pid), decide))  # noqa: E731
                self._attach(launch, proc, key, cancelled_early, ready)
                return self._supervise(proc, req, timeout_ms, key)
            finally:
                _kill_group(proc)
                launch.wait_gone()
                self.subprocesses.leave(ctx.extension_id)
        finally:
            for proxy in proxies:
                proxy.close()
            launch.close()
            with self._lock:
                self._running.pop(key, None)
                self._cancelled.discard(key)

    def _sweep(self, ctx: ConnectorContext, workspace: Sequence[Path], started_ns: int, watched: bool) -> None:
        """Quarantine what the call planted beyond the sandbox's binds, and record each in the ledger."""
        planted = self.sandbox.watch_end(workspace, ctx.extension_id, ctx.call_id, started_ns, watched)
        for item in planted:
            ctx.evidence.append_decision(LedgerEntryDraft(
                kind="exec_sandbox", extension_id=ctx.extension_id, decision=Decision.DENY, reason=PLANTED,
                call_id=ctx.call_id, capability=ctx.capability.value, method="exec",
                detail={"path_hash": sha256_hex(item.path), "protected": item.what, "action": item.action}),
                sync=False)
        if planted:
            kinds = sorted({item.what for item in planted})
            ctx.evidence.raise_alert(AlertDraft(
                category=AlertCategory.EXEC_MEDIATION, severity=Severity.CRITICAL, extension_id=ctx.extension_id,
                summary=f"an exec child planted {len(planted)} protected name(s) ({', '.join(kinds)}) beyond the "
                        "sandbox's read-only binds; moved to the quarantine folder",
                reason_codes=(PLANTED,), method="exec", call_id=ctx.call_id, action="quarantine",
                remediation="look at <security dir>/quarantine/<extension>/<call>/ (files a child made that run "
                            "code later: git hooks, a config, .envrc ...); `pi-sandbox ext trust quarantine "
                            "--extension ID --reason TEXT` stops the extension"))

    @staticmethod
    def _scan_refused(ctx: ConnectorContext, exc: SecretScanIncompleteError) -> None:
        """The sandbox could not vouch for every secret file: the refusal and what to do, in the ledger and an
        alert (the hostcall's own entry carries only the reason)."""
        ctx.evidence.append_decision(LedgerEntryDraft(
            kind="exec_sandbox", extension_id=ctx.extension_id, decision=Decision.DENY, reason=exc.reason or "",
            call_id=ctx.call_id, capability=ctx.capability.value, method="exec",
            detail={"cause": exc.cause, "message_hash": sha256_hex(str(exc)), "remediation": exc.remediation}),
            sync=False)
        ctx.evidence.raise_alert(AlertDraft(
            category=AlertCategory.EXEC_MEDIATION, severity=Severity.WARNING, extension_id=ctx.extension_id,
            summary=f"an exec call was refused: the sandbox could not hide every secret file ({exc.cause})",
            reason_codes=(exc.reason or "",), method="exec", call_id=ctx.call_id, action="refuse",
            remediation=exc.remediation))

    @staticmethod
    def _spawn(launch: Launch, req: ExecRequest, cwd: Path) -> subprocess.Popen[bytes]:
        try:
            proc = subprocess.Popen(
                launch.argv, cwd=cwd, env=launch.env, start_new_session=True, close_fds=True,
                pass_fds=launch.pass_fds,
                stdin=subprocess.PIPE if req.stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
        except OSError as exc:
            if exc.errno == errno.E2BIG:  # the call's own arguments, not the sandbox: say so, never "unavailable"
                size = sum(len(a) + 1 for a in (req.cmd, *req.args))
                raise ConnectorError(f"the command line is too long for the system ({size} bytes of arguments); "
                                     "pass large data on stdin or in a file", code="invalid_request",
                                     reason="too_large") from None
            raise SandboxUnavailableError(f"cannot start the exec sandbox: {exc.strerror or exc}") from None
        finally:
            launch.spawned()
        return proc

    @staticmethod
    def _await_durable(ctx: ConnectorContext, proc: subprocess.Popen[bytes]) -> None:
        """Sync the decision's ledger entry while bwrap sets the sandbox up (it runs nothing of the
        extension's before its gate opens); a failed sync kills bwrap, so the command never runs."""
        if ctx.durable is None:
            return  # the pipeline synced it before calling (or no ledger: the benchmark's baseline)
        try:
            ctx.durable()
        except BaseException:
            _kill_group(proc)
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
            raise

    def _attach(self, launch: Launch, proc: subprocess.Popen[bytes], key: tuple[str, str], cancelled: bool,
                ready: Callable[[int], None] | None) -> None:
        """Let the command run once its limits are set; a sandbox that fails to come up refuses the call."""
        if cancelled:
            _kill_group(proc)  # cancelled while starting: the gate stays shut and bwrap goes, not at the timeout
            return
        try:
            launch.attach(ready)
        except (SandboxUnavailableError, OSError) as exc:
            _kill_group(proc)
            with self._lock:
                if key in self._cancelled:
                    return  # cancelled while starting: reported as killed
            detail = b""
            if proc.stderr is not None:
                try:
                    proc.wait(timeout=2)
                    detail = proc.stderr.read(2000)
                except (subprocess.TimeoutExpired, OSError, ValueError):
                    pass
            message = str(exc) if isinstance(exc, SandboxUnavailableError) else f"sandbox set-up failed: {exc}"
            text = detail.decode("utf-8", errors="replace").strip()
            raise SandboxUnavailableError(f"{message}{': ' + text if text else ''}") from None

    def _cwd(self, ctx: ConnectorContext, raw: str | None) -> Path:
        cwd = confine(ctx, raw, "list") if raw else (ctx.paths.roots[0] if ctx.paths.roots else ctx.config.project_dir)
        if not Path(cwd).is_dir():
            raise ConnectorError(f"exec cwd '{raw}' is not a directory", code="invalid_request", reason="bad_cwd")
        return Path(cwd)

    def _supervise(
        self, proc: subprocess.Popen[bytes], req: ExecRequest, timeout_ms: int, key: tuple[str, str]
    ) -> dict[str, Any]:
        stdin = req.stdin.encode("utf-8") if req.stdin is not None else None
        # Kill bwrap once the command ended (or timed out): its PID namespace, and everything left in it
        # in the background, ends with it.
        io = communicate(proc, stdin, timeout_ms / 1000, self.max_output_bytes, lambda: _kill_group(proc))
        out, err, killed = io.out, io.err, io.timed_out
        with self._lock:
            cancelled = key in self._cancelled
        _raise_exec_failure(proc.returncode, err.data())
        return {
            "stdout": self.broker.redact(out.data().decode("utf-8", errors="replace")),
            "stderr": self.broker.redact(err.data().decode("utf-8", errors="replace")),
            "exit_code": proc.returncode,
            "killed": killed or cancelled,
            "timed_out": killed,
            "stdout_truncated": out.truncated,
            "stderr_truncated": err.truncated,
        }


def _raise_exec_failure(returncode: int | None, stderr: bytes) -> None:
    """bwrap could not run the command itself (not found, not executable): an error, not a result."""
    if returncode != 1 or not stderr.startswith(b"bwrap: execvp "):
        return
    text = stderr.decode("utf-8", errors="replace").strip()
    command = text.removeprefix("bwrap: execvp ").rsplit(":", 1)[0]
    if "No such file" in text:
        raise ConnectorError(f"command not found: {command}", code="io", reason="not_found")
    if "Permission denied" in text:
        raise ConnectorError(f"command not executable: {command}", code="io", reason="permission_denied")
    raise ConnectorError(f"cannot start command: {text[:200]}", code="io", reason="spawn_failed")
