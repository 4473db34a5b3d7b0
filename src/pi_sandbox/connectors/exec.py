"""The ``exec`` connector: run a mediated command with an explicit argv, confined and bounded.

- argv only: no shell is put in between (a ``sh -c`` the extension asks for was classified whole);
- the working directory must resolve inside an allowed root;
- the child environment is built by the secret broker — a minimal base, never a withheld value, never
  an injection variable such as ``LD_PRELOAD`` or ``NODE_OPTIONS``;
- the child leads its own process group (``start_new_session``); on timeout, cancel, or when it
  exits, the whole group is killed so no background process outlives the call;
- stdout / stderr are capped (truncation reported) and redacted by the broker before returning;
- running subprocesses are counted per extension (read by the quota layer).

Whether the command may run at all is decided by the pipeline's mediation stage before this
connector is called; it classifies the command, writes the ``exec_mediation`` record and raises the
alerts.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.connectors.fs import confine
from pi_sandbox.errors import ConnectorError
from pi_sandbox.mediation.secret_broker import SecretBroker

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


class _Capture(threading.Thread):
    """Drains one pipe, keeping at most ``cap`` bytes (the rest is read and dropped)."""

    def __init__(self, pipe: IO[bytes], cap: int) -> None:
        super().__init__(daemon=True)
        self.pipe = pipe
        self.cap = cap
        self.chunks: list[bytes] = []
        self.size = 0
        self.truncated = False

    def run(self) -> None:
        try:
            while True:
                chunk = self.pipe.read1(_READ_CHUNK) if hasattr(self.pipe, "read1") else self.pipe.read(_READ_CHUNK)
                if not chunk:
                    return
                room = self.cap - self.size
                if room > 0:
                    self.chunks.append(chunk[:room])
                    self.size += min(room, len(chunk))
                if len(chunk) > room:
                    self.truncated = True
        except (OSError, ValueError):
            return

    def data(self) -> bytes:
        return b"".join(self.chunks)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class ExecConnector:
    """Runs allowed, mediated commands for extensions."""

    def __init__(self, broker: SecretBroker, *, max_output_bytes: int = MAX_OUTPUT_BYTES) -> None:
        self.broker = broker
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

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        req = parse_exec_params(params)
        cwd = self._cwd(ctx, req.cwd)
        timeout_ms = min(req.timeout_ms or ctx.timeout_ms or ctx.config.runtime.call_timeout_ms, MAX_TIMEOUT_MS)
        env = self.broker.child_environment(req.env)
        env["PWD"] = str(cwd)
        key = (ctx.extension_id, ctx.call_id)
        try:
            try:
                proc = subprocess.Popen(
                    [req.cmd, *req.args],
                    cwd=cwd,
                    env=env,
                    start_new_session=True,
                    close_fds=True,
                    stdin=subprocess.PIPE if req.stdin is not None else subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            except FileNotFoundError:
                raise ConnectorError(f"command not found: {req.cmd}", code="io", reason="not_found") from None
            except PermissionError:
                raise ConnectorError(
                    f"command not executable: {req.cmd}", code="io", reason="permission_denied"
                ) from None
            except OSError as exc:
                raise ConnectorError(
                    f"cannot start command: {exc.strerror}", code="io", reason="spawn_failed"
                ) from None
            with self._lock:
                self._running[key] = proc
                self.subprocesses.enter(ctx.extension_id)
                cancelled_early = key in self._cancelled
            if cancelled_early:
                _kill_group(proc)
            try:
                return self._supervise(proc, req, timeout_ms, key)
            finally:
                self.subprocesses.leave(ctx.extension_id)
        finally:
            with self._lock:
                self._running.pop(key, None)
                self._cancelled.discard(key)

    def _cwd(self, ctx: ConnectorContext, raw: str | None) -> Path:
        cwd = confine(ctx, raw, "list") if raw else (ctx.paths.roots[0] if ctx.paths.roots else ctx.config.project_dir)
        if not Path(cwd).is_dir():
            raise ConnectorError(f"exec cwd '{raw}' is not a directory", code="invalid_request", reason="bad_cwd")
        return Path(cwd)

    def _supervise(
        self, proc: subprocess.Popen[bytes], req: ExecRequest, timeout_ms: int, key: tuple[str, str]
    ) -> dict[str, Any]:
        assert proc.stdout is not None and proc.stderr is not None
        out = _Capture(proc.stdout, self.max_output_bytes)
        err = _Capture(proc.stderr, self.max_output_bytes)
        out.start()
        err.start()
        if req.stdin is not None and proc.stdin is not None:
            threading.Thread(target=_feed, args=(proc.stdin, req.stdin.encode("utf-8")), daemon=True).start()
        killed = False
        try:
            proc.wait(timeout=timeout_ms / 1000)
        except subprocess.TimeoutExpired:
            killed = True
        # Kill the whole group either way: a timeout, or stragglers the command left in the background.
        _kill_group(proc)
        proc.wait()
        deadline = time.monotonic() + 2
        for reader in (out, err):
            reader.join(timeout=max(0.0, deadline - time.monotonic()))
        with self._lock:
            cancelled = key in self._cancelled
        return {
            "stdout": self.broker.redact(out.data().decode("utf-8", errors="replace")),
            "stderr": self.broker.redact(err.data().decode("utf-8", errors="replace")),
            "exit_code": proc.returncode,
            "killed": killed or cancelled,
            "timed_out": killed,
            "stdout_truncated": out.truncated,
            "stderr_truncated": err.truncated,
        }


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError, ValueError):
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass
