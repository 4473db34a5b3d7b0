"""The baseline of the overhead benchmarks: the same runtime and connectors, decisions and records bypassed."""

from __future__ import annotations

from typing import Any

from pi_sandbox.dispatch import HostcallResult, Sandbox
from pi_sandbox.dispatch.pipeline import route
from pi_sandbox.errors import PiSandboxError


class PassThroughSandbox(Sandbox):
    """No stage, no ledger entry, no alert, no telemetry, no redaction: the connector is called directly
    (with the capability derived only because the connector context names it)."""

    def hostcall(self, extension_id: str, request: Any, *, dry_run: bool = False) -> HostcallResult:  # type: ignore[override]
        try:
            call = self.pipeline.capability.derive(extension_id, request)
        except PiSandboxError as exc:
            return HostcallResult.error(str(request.get("call_id", "")), "invalid_request", str(exc))
        method, params = route(call)
        try:
            result = self.connectors[method].call(self._context(call, method), params)
        except Exception as exc:  # noqa: BLE001 - answer like the pipeline would
            return HostcallResult.error(call.call_id, getattr(exc, "code", "io"), str(exc))
        return HostcallResult(ok=True, call_id=call.call_id, result=result)


class ConstantSandbox(PassThroughSandbox):
    """No decision, no record, no connector for ``fs``: a constant answer, so only the IPC is measured."""

    def hostcall(self, extension_id: str, request: Any, *, dry_run: bool = False) -> HostcallResult:  # type: ignore[override]
        if request["method"] != "fs":
            return super().hostcall(extension_id, request)
        stat = {"type": "file", "size": 1, "mtime_ms": 0, "mode": 0o644, "is_file": True, "is_dir": False}
        return HostcallResult(ok=True, call_id=str(request["call_id"]), result=stat)
