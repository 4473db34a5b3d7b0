"""Runtime controls the extension host applies to running workers: kill switches, quarantine, CPU and
memory quotas.

The decisions themselves live elsewhere (``trust`` holds kill switches and quarantine, ``quota`` the limits);
this module turns them into worker actions: a stopped extension's worker is SIGKILLed and its status says
why, a lifted control lets the next request start a fresh worker, and a CPU or memory breach is reported
to the quota stage (ledger entry and alert).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from pi_sandbox.dispatch import Sandbox
from pi_sandbox.quota import QuotaBreach, Resource
from pi_sandbox.runtime.extension import LoadedExtension


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class HostControls:
    """The controls over one host's extensions (``extensions`` is the host's live table, by id)."""

    def __init__(self, sandbox: Sandbox, extensions: Mapping[str, LoadedExtension]) -> None:
        self.sandbox = sandbox
        self._extensions = extensions

    def stopped(self, ext: LoadedExtension) -> bool:
        """Whether a kill switch, quarantine or exhausted CPU quota stops ``ext`` (status and error set)."""
        if ext.stopped_by == "quota":
            return True
        blocked = self.sandbox.controls.blocked(ext.extension_id)
        if blocked is None:
            if ext.stopped_by is not None:  # lifted: the next request starts a fresh worker
                ext.stopped_by = None
                ext.status = "dead" if ext.bundle is not None else "failed"
            return False
        reason, message = blocked
        ext.stopped_by, ext.error, ext.error_code = str(reason), message, str(reason)
        ext.status = "killed" if reason == "kill_switch" else "quarantined"
        return True

    def enforce(self) -> None:
        """Runs on the control watcher's thread: SIGKILL the worker of every extension that is now stopped
        (its running request, if any, ends at once; its exec children are killed by the sandbox)."""
        for ext in list(self._extensions.values()):
            worker = ext.worker
            if worker is not None and worker.alive and self.sandbox.controls.blocked(ext.extension_id):
                worker.signal_kill()

    def cpu_time_ms(self, extension_id: str, max_age_s: float = 0.0) -> int | None:
        """CPU time the extension's workers used this session (the quota's ``maxCpuTimeMs``); ``max_age_s``: a
        reading of the worker's at most this old will do (see ``ExtensionWorker.cpu_time_ms``)."""
        ext = self._extensions.get(extension_id)
        if ext is None:
            return None
        worker = ext.worker
        return ext.cpu_ms_before + (worker.cpu_time_ms(max_age_s) if worker is not None else 0)

    def check_cpu(self, ext: LoadedExtension) -> None:
        """After a request: past its CPU quota an extension is stopped for the rest of the session."""
        used = self.cpu_time_ms(ext.extension_id) or 0
        limit = self.sandbox.quota_limits(ext.extension_id).max_cpu_time_ms
        if used < limit or ext.stopped_by == "quota":
            return
        ext.stopped_by, ext.status, ext.error_code = "quota", "stopped", "quota_exceeded"
        ext.error = f"CPU time quota exhausted ({used} ms of {limit} ms); raise extensionPolicy.quota.maxCpuTimeMs"
        self.sandbox.quota_stage.breached(QuotaBreach(ext.extension_id, Resource.CPU_TIME, limit, used, _now_ms()))
        if ext.worker is not None:
            ext.worker.signal_kill()

    def memory_breach(self, ext: LoadedExtension) -> None:
        """The worker ran out of its memory quota (it is dead already): report the breach."""
        limit = self.sandbox.quota_limits(ext.extension_id).max_memory_mb
        self.sandbox.quota_stage.breached(QuotaBreach(ext.extension_id, Resource.MEMORY, limit, limit, _now_ms()))
