"""What the host knows about one extension, its worker limits, and how failures are recorded."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from pi_sandbox.audit.port import EvidencePort
from pi_sandbox.audit.records import AlertDraft, LedgerEntryDraft
from pi_sandbox.config.locations import ExtensionStateDirs
from pi_sandbox.config.model import SecurityConfig
from pi_sandbox.hashing import sha256_hex
from pi_sandbox.identity import ExtensionIdentity
from pi_sandbox.runtime.bundler import Bundle
from pi_sandbox.runtime.discovery import ExtensionSource
from pi_sandbox.runtime.supervisor import ExtensionWorker, WorkerLimits

REMEDIATION = {
    "timeout": "the extension exceeded its time budget (extensionRuntime.callTimeoutMs); inspect or disable it",
    "oom": "the extension exceeded its memory limit (extensionRuntime.maxMemoryMb); inspect or disable it",
    "crash": "the worker process died; inspect the extension or disable it with --no-extensions",
    "protocol": "the worker broke the frame protocol; treat the extension as hostile and disable it",
    "boot_failed": "the runtime could not start; check `pi-sandbox setup` and the module table",
    "integrity_mismatch": "the extension or a dependency changed since it was pinned: inspect the change, "
    "then re-install it with `pi-sandbox ext install`",
    "import_outside_root": "the extension imports code outside its folder and its installed dependencies",
    "dependency_missing": "install the extension's dependencies (the load error names the command)",
    "dependency_undeclared": "declare the imported package in the extension's package.json and install it",
    "export_not_found": "import a path the package exports, or a version of the package that exports it",
    "internal_module": "the extension imports a pi-sandbox runtime module (pi:host, pi:prelude, ...); extensions "
    "may not, so treat it as probing the sandbox",
    "identity_conflict": "a project-local extension tried to load under the id of the user's installed or global "
    "extension (or other code under an id the lockfile pins); it was refused and the holder keeps its id, grants, "
    "decisions and trust. Treat the project as hostile unless the names clash by accident (then rename one)",
    "tool_call_rewrite_refused": "a tool_call handler tried to change a call that another extension had already "
    "approved; the approved call stood. Treat the extension as hostile unless it is meant to rewrite calls "
    "(then load it before the guards)",
}


@dataclass
class LoadedExtension:
    """One extension known to the host (loaded, failed or dead)."""

    source: ExtensionSource
    status: str = "pending"  # pending | loaded | failed | dead | killed | quarantined | stopped
    error: str | None = None
    error_code: str | None = None
    registrations: dict[str, Any] = field(default_factory=dict)
    bundle_sha256: str | None = None
    bundle_cached: bool = False
    restarts: int = 0
    registration_version: int = 0
    worker: ExtensionWorker | None = None
    bundle: Bundle | None = None
    #: Trust state when loaded (``probation``, ``trusted``, ``quarantined``...).
    trust: str | None = None
    #: What stopped it for this session: ``kill_switch``, ``quarantined`` or ``quota`` (None: running).
    stopped_by: str | None = None
    #: CPU time of its earlier (restarted) workers.
    cpu_ms_before: int = 0
    #: Its own data (kept) and tmp (per session) folders in the state dir, once it is started.
    dirs: ExtensionStateDirs | None = None
    #: Who it is: id + source (installed, global, path, project) + content hash (``pi_sandbox.identity``).
    identity: ExtensionIdentity | None = None
    #: One request at a time per extension; different extensions may be called from different threads.
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def extension_id(self) -> str:
        """The extension's id (policy key)."""
        return self.source.extension_id

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (no bundle source)."""
        regs = self.registrations
        return {
            "id": self.extension_id,
            "entry": str(self.source.entry),
            "root": str(self.source.root),
            "origin": self.source.origin,
            "source": str(self.identity.kind) if self.identity else None,
            "status": self.status,
            "error": self.error,
            "error_code": self.error_code,
            "bundle_sha256": self.bundle_sha256,
            "tools": [t["name"] for t in regs.get("tools", [])],
            "tool_specs": [tool_spec(t) for t in regs.get("tools", [])],
            "commands": [c["name"] for c in regs.get("commands", [])],
            "command_specs": [
                {"name": c["name"], "description": str(c.get("description") or "")} for c in regs.get("commands", [])
            ],
            "events": list(regs.get("events", [])),
            "flags": [f["name"] for f in regs.get("flags", [])],
            "flag_specs": [flag_spec(f) for f in regs.get("flags", [])],
            "shortcuts": [s["key"] for s in regs.get("shortcuts", [])],
            "shortcut_specs": [
                {"key": s["key"], "description": str(s.get("description") or "")} for s in regs.get("shortcuts", [])
            ],
            "message_renderers": list(regs.get("messageRenderers", [])),
            "providers": [p["name"] for p in regs.get("providers", [])],
            "restarts": self.restarts,
            "trust": self.trust,
            "stopped_by": self.stopped_by,
            "confinement": self.worker.confinement if self.worker else None,
        }


#: The parameter schema of a tool registered without one: an object with any properties (as in pi).
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


def flag_spec(flag: dict[str, Any]) -> dict[str, Any]:
    """A CLI flag as pi's ``registerFlag`` takes it: name, description, ``boolean``/``string``, default."""
    kind = "string" if flag.get("type") == "string" else "boolean"
    default = flag.get("default")
    return {"name": flag["name"], "description": str(flag.get("description") or ""), "type": kind,
            "default": default if isinstance(default, (bool, str)) else None}


def tool_spec(tool: dict[str, Any]) -> dict[str, Any]:
    """What a host needs to offer a tool to its model: name, label, description, JSON Schema of the arguments."""
    parameters = tool.get("parameters")
    return {
        "name": tool["name"],
        "label": str(tool.get("label") or tool["name"]),
        "description": str(tool.get("description") or ""),
        "parameters": parameters if isinstance(parameters, dict) else dict(EMPTY_PARAMETERS),
    }


def limits_for(config: SecurityConfig, extension_id: str) -> WorkerLimits:
    """Worker limits from ``extensionRuntime.*`` and the extension's memory quota (the lower wins)."""
    memory_mb = min(config.runtime.max_memory_mb, config.quota_for(extension_id).max_memory_mb)
    return WorkerLimits(
        memory_bytes=max(16, memory_mb) * 1024 * 1024,
        stack_bytes=max(64, config.runtime.max_stack_kb) * 1024,
        call_timeout_s=max(1, config.runtime.call_timeout_ms) / 1000.0,
    )


def record_runtime_event(
    evidence: EvidencePort,
    extension_id: str,
    code: str,
    message: str,
    *,
    decision: str,
    call_id: str | None = None,
    category: str = "runtime",
    identity: ExtensionIdentity | None = None,
) -> None:
    """Ledger entry (kind ``runtime``) + alert (``category``, folded past the extension's budget);
    hashes and codes only (INV-012). ``identity`` (source kind, location hash, content hash) is recorded
    when known, so a refused claimant is told apart from the holder of the same id."""
    detail: dict[str, Any] = {"message_hash": sha256_hex(message), "code": code}
    if identity is not None:
        detail["identity"] = identity.to_dict()
    evidence.append_decision(
        LedgerEntryDraft(
            kind="runtime",
            extension_id=extension_id,
            decision=decision,
            reason=code,
            call_id=call_id,
            detail=detail,
        )
    )
    evidence.raise_alert(
        AlertDraft(
            category=category,
            severity="error" if decision in ("kill", "deny") else "warning",
            extension_id=extension_id,
            summary=f"extension '{extension_id}'"
            + (f" ({identity.kind})" if identity is not None else "") + f": {code}",
            reason_codes=(code,),
            call_id=call_id,
            action="kill" if decision == "kill" else decision,
            remediation=REMEDIATION.get(code, "inspect the extension; disable it with --no-extensions"),
            context_hash=detail["message_hash"],
        )
    )
