"""How the host serves one extension's hostcalls: through the dispatch ``Sandbox``, per-method deadlines.

``SandboxHostcalls`` is the :class:`~pi_sandbox.runtime.hostcalls.HostcallService` an extension's worker
hands its calls to (on the extension's lane threads): every call, a timed-out or late one included, goes
through the sandbox's pipeline or its recorders, so each leaves its ledger entry.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pi_sandbox.config.model import RuntimeSettings
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.runtime.hostcalls import Job


class SandboxHostcalls:
    """One extension's hostcalls, served through the host's ``Sandbox`` with per-method deadlines."""

    def __init__(self, sandbox: Sandbox, extension_id: str, runtime: RuntimeSettings, *,
                 call_id_prefix: str, call_ids: Iterator[int]) -> None:
        self.sandbox = sandbox
        self.extension_id = extension_id
        self._runtime = runtime
        self._prefix = call_id_prefix
        #: Shared by the session's extensions: a call id is unique in the session.
        self._call_ids = call_ids

    def deadline_s(self, method: Any) -> float:
        """How long a call of ``method`` may take (``extensionRuntime.hostcallDeadlineMs``), in seconds."""
        return self._runtime.deadline_ms(method.strip().lower() if isinstance(method, str) else "") / 1000.0

    def new_call_id(self) -> str:
        """A fresh call id, known before the call runs (so a timeout can name it)."""
        return self._prefix + str(next(self._call_ids))

    def serve(self, method: Any, params: Any, call_id: str, timeout_ms: int) -> dict[str, Any]:
        """Decide, carry out and record one call; the worker's answer frame body (never raises for a refusal)."""
        result = self.sandbox.hostcall(
            self.extension_id, {"call_id": call_id, "method": method, "params": params, "timeout_ms": timeout_ms}
        )
        if result.ok:
            return {"ok": True, "result": result.result}
        error = {"code": result.error_code or "internal", "message": result.message or "", "reason": result.reason}
        return {"ok": False, "error": error}

    def timed_out(self, job: Job) -> None:
        """Record that ``job`` ran past its deadline or was refused as a flood."""
        self.sandbox.record_hostcall_timeout(
            self.extension_id, job.call_id, str(job.method), job.params if isinstance(job.params, Mapping) else None,
            job.deadline_ms, started=job.started_at is not None, flooded=job.flooded,
        )

    def finished_late(self, job: Job, reply: Mapping[str, Any]) -> None:
        """Record that a call given up at its deadline completed after all (its result was dropped)."""
        self.sandbox.record_late_completion(self.extension_id, job.call_id, str(job.method), bool(reply.get("ok")))
