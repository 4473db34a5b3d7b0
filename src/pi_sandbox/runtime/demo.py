"""``pi demo``: bundled example extensions, well-behaved and hostile, in a throw-away environment.

The demo builds its own agent dir, workspace, fake home (with a decoy SSH key) and security state
under a temporary folder, so it never touches the operator's real setup. It loads four
extensions, drives them, and shows what was allowed, denied, blocked and killed, what the ledger
and alerts recorded, and finally verifies the ledger's hash chain.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pi_sandbox.audit.verify import verify_ledger
from pi_sandbox.config import resolve_config
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.errors import ExtensionRuntimeError, PiSandboxError, ToolArgumentsError
from pi_sandbox.runtime.host import ExtensionHost
from pi_sandbox.runtime.loading import discover_and_load

DEMO_EXTENSIONS = Path(__file__).resolve().parent / "demo_extensions"


@dataclass
class DemoReport:
    """Everything ``pi demo`` shows, JSON-ready via ``to_dict``."""

    base_dir: str
    extensions: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    ledger_counts: dict[str, int] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    ledger_valid: bool = False
    ledger_entries: int = 0

    @property
    def all_as_expected(self) -> bool:
        """True when every step's outcome is the one the demo expects."""
        return all(s["outcome"] in str(s["expected"]).split("|") for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "base_dir": self.base_dir,
            "extensions": self.extensions,
            "steps": self.steps,
            "ledger_counts": self.ledger_counts,
            "alerts": self.alerts,
            "ledger_valid": self.ledger_valid,
            "ledger_entries": self.ledger_entries,
            "all_as_expected": self.all_as_expected,
        }


def _prepare(base: Path) -> dict[str, str]:
    home, agent, workspace = base / "home", base / "agent", base / "workspace"
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    (home / ".ssh" / "id_rsa").write_text("-----BEGIN DECOY KEY-----\nnot a real key\n", encoding="utf-8")
    (agent / "extensions").mkdir(parents=True, exist_ok=True)
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "README.md").write_text("demo workspace\n", encoding="utf-8")
    for source in sorted(DEMO_EXTENSIONS.glob("*.ts")):
        shutil.copy(source, agent / "extensions" / source.name)
    settings = {
        "extensionRuntime": {"callTimeoutMs": 1500, "maxMemoryMb": 64},
        # Outbound HTTP only to an allowlisted API: the exfiltration attempt is refused by host policy.
        "extensionPolicy": {"http": {"allowHosts": ["api.github.com"]}},
    }
    (agent / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    return {
        "HOME": str(home),
        "PI_CODING_AGENT_DIR": str(agent),
        "PI_SECURITY_DIR": str(agent / "security"),
        "DEMO_API_TOKEN": "demo-secret-token-3f9a",
        "PATH": "/usr/bin:/bin",
    }


def _denials(sandbox: Sandbox, extension_id: str) -> int:
    entries = sandbox.store.query_ledger(extension_id=extension_id, limit=100000)
    return sum(1 for e in entries if e.decision == "deny")


def _step(host: ExtensionHost, sandbox: Sandbox, step: dict[str, Any], action: Any) -> dict[str, Any]:
    before = _denials(sandbox, step["extension"])
    try:
        result = action()
        denied = _denials(sandbox, step["extension"]) > before
        text = " ".join(
            str(c.get("text", "")) for c in (result or {}).get("content", []) if isinstance(c, dict)
        )
        if isinstance(result, dict) and result.get("block"):
            outcome, detail = "blocked", str(result.get("reason", ""))
        elif denied:
            outcome, detail = "denied", text or "denied by the pipeline"
        elif isinstance(result, dict) and result.get("isError"):
            outcome, detail = "failed", text
        else:
            outcome, detail = "allowed", text or "ok"
    except ToolArgumentsError as exc:
        outcome, detail = "rejected", str(exc)
    except ExtensionRuntimeError as exc:
        outcome = "killed" if "was killed" in str(exc) else "error"
        detail = str(exc)
    return {**step, "outcome": outcome, "detail": detail[:110]}


def run_demo(keep_dir: Path | None = None) -> DemoReport:
    """Run the demo; the environment lives in ``keep_dir`` (kept) or a temp dir (removed)."""
    base = keep_dir or Path(tempfile.mkdtemp(prefix="pi-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        env = _prepare(base)
        config = resolve_config(cwd=base / "workspace", env=env)
        sandbox = Sandbox.open(config)
        report = DemoReport(base_dir=str(base))
        host = ExtensionHost(sandbox)
        try:
            loaded = discover_and_load(host, cwd=base / "workspace")
            report.extensions = [
                {
                    **e.summary(),
                    "tools": ",".join(e.summary()["tools"]),
                    "events": ",".join(e.summary()["events"]),
                }
                for e in loaded.extensions
            ]
            plan: list[tuple[dict[str, Any], Any]] = [
                (
                    {"extension": "greeter", "action": "greet {name: operator}", "expected": "allowed"},
                    lambda: host.call_tool("greeter", "greet", {"name": "operator"}),
                ),
                (
                    {
                        "extension": "greeter",
                        "action": "greet {name: [1, 2]} (bad params)",
                        "expected": "rejected",
                    },
                    lambda: host.call_tool("greeter", "greet", {"name": [1, 2]}),
                ),
                (
                    {"extension": "guard", "action": "tool_call bash `rm -rf /`", "expected": "blocked"},
                    lambda: host.emit("tool_call", {"toolName": "bash", "input": {"command": "rm -rf /"}}),
                ),
                (
                    {"extension": "snoop", "action": "read ../home/.ssh/id_rsa", "expected": "denied"},
                    lambda: host.call_tool("snoop", "steal_ssh_key", {}),
                ),
                (
                    {"extension": "snoop", "action": "read $DEMO_API_TOKEN", "expected": "denied"},
                    lambda: host.call_tool("snoop", "steal_env", {}),
                ),
                (
                    {"extension": "snoop", "action": "execSync(curl | sh)", "expected": "denied"},
                    lambda: host.call_tool("snoop", "spawn_shell", {}),
                ),
                (
                    {"extension": "snoop", "action": "fetch() POST to unlisted host", "expected": "denied"},
                    lambda: host.call_tool("snoop", "exfiltrate", {}),
                ),
                (
                    {"extension": "hog", "action": "for(;;){} in a tool", "expected": "killed"},
                    lambda: host.call_tool("hog", "spin", {}),
                ),
                (
                    {"extension": "hog", "action": "memory bomb", "expected": "killed"},
                    lambda: host.call_tool("hog", "bomb", {}),
                ),
                (
                    {
                        "extension": "greeter",
                        "action": "greet again (others unaffected)",
                        "expected": "allowed",
                    },
                    lambda: host.call_tool("greeter", "greet", {"name": "again"}),
                ),
            ]
            for number, (step, action) in enumerate(plan, start=1):
                report.steps.append(_step(host, sandbox, {"step": number, **step}, action))
        finally:
            host.shutdown()
        entries = sandbox.store.query_ledger(limit=100000)
        counts = Counter(f"{e.kind}/{e.decision}" for e in entries)
        report.ledger_counts = dict(sorted(counts.items()))
        report.alerts = [
            {k: a.to_dict()[k] for k in ("category", "severity", "extension_id", "summary")}
            for a in sandbox.store.query_alerts()
        ]
        sandbox.close()
        verification = verify_ledger(config.state_dir)
        report.ledger_valid = verification.chain_valid
        report.ledger_entries = verification.entry_count
        return report
    except PiSandboxError:
        raise
    finally:
        if keep_dir is None:
            shutil.rmtree(base, ignore_errors=True)
