"""Exercise pi's official example extensions under ``safe``: run their tools and send them events.

Run: ``python benchmarks/compat_exercise.py [--examples DIR] [--json]``. ``compat_examples.py`` counts
what loads and registers (as shipped and with dependencies installed); this goes one step further on
the examples as shipped. Without ``--examples`` they are fetched like ``compat_examples.py`` does
(npm, into a temporary folder; nothing is kept or committed).

Per extension it reports whether it loaded, whether it registered anything, and for every tool
whether a call with arguments made from its schema ran: a result came back (a policy denial
inside the tool is still a run; an engine-level failure, a kill or a thrown ``TypeError`` /
``ReferenceError`` — what a missing or wrong shim produces — is not). ``session_start`` and a few
lifecycle events are emitted too, and handler errors of those kinds are counted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compat_examples import _examples as fetch_examples  # noqa: E402

from pi_sandbox.config import resolve_config  # noqa: E402
from pi_sandbox.dispatch import Sandbox  # noqa: E402
from pi_sandbox.errors import PiSandboxError  # noqa: E402
from pi_sandbox.runtime.discovery import scan_folder  # noqa: E402
from pi_sandbox.runtime.host import ExtensionHost  # noqa: E402

#: Errors that mean the runtime (not the extension's logic or the policy) is at fault.
SHIM_ERRORS = ("TypeError", "ReferenceError", "SyntaxError", "not a function", "not a constructor",
               "is not defined", "cannot read property", "ERR_NOT_SUPPORTED", "ERR_FORBIDDEN_BUILTIN")
EVENTS = ("session_start", "before_agent_start", "agent_start", "turn_start", "turn_end", "agent_end")
#: With ``--more-events``: what an agent run also sends (pi 1.x's ``agent_settled`` included), each with the
#: fields handlers read; ``session_shutdown`` last.
MORE_EVENTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("input", {"text": "hello", "source": "interactive"}),
    ("tool_call", {"toolName": "bash", "toolCallId": "t1", "input": {"command": "ls"}}),
    ("tool_result", {"toolName": "bash", "toolCallId": "t1", "input": {"command": "ls"},
                     "content": [{"type": "text", "text": "ok"}], "isError": False}),
    ("tool_call", {"toolName": "write", "toolCallId": "t2", "input": {"path": "README.md", "content": "x"}}),
    ("agent_settled", {}),
    ("session_shutdown", {}),
)


def sample_value(schema: Any) -> Any:
    """A value that satisfies a (TypeBox / JSON) schema well enough for a smoke call."""
    if not isinstance(schema, Mapping):
        return None
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return sample_value(schema[key][0])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: sample_value(v) for k, v in props.items() if k in (schema.get("required") or [])}
    if kind == "array":
        n = int(schema.get("minItems") or 0)
        return [sample_value(schema.get("items")) for _ in range(n)]
    if kind == "string":
        return "x" * max(1, int(schema.get("minLength") or 1))
    if kind in ("number", "integer"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    return None


def is_shim_error(text: str) -> bool:
    return any(marker in text for marker in SHIM_ERRORS)


def measure(examples: Path, *, more: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pi-compat-") as tmp:
        base = Path(tmp)
        agent, workspace = base / "agent", base / "workspace"
        agent.mkdir()
        workspace.mkdir()
        (workspace / "README.md").write_text("# demo\n", encoding="utf-8")
        env = {"HOME": str(base), "PI_CODING_AGENT_DIR": str(agent), "PI_SECURITY_DIR": str(agent / "security")}
        config = resolve_config(cwd=workspace, env=env)
        sandbox = Sandbox.open(config)
        host = ExtensionHost(sandbox, model={"provider": "anthropic", "id": "claude-sonnet-4-5"})
        rows: list[dict[str, Any]] = []
        try:
            loaded = host.load(scan_folder(examples))
            event_errors: dict[str, list[str]] = {}
            sends = [(e, {"reason": "startup", "prompt": "hi", "systemPrompt": "sys"}) for e in EVENTS]
            for event, data in [*sends, *(MORE_EVENTS if more else ())]:
                outcome = host.emit(event, data)
                for per in outcome["extensions"]:
                    found = [str(e.get("message", "")) for e in per.get("errors", [])]
                    found += [per["error"]] if "error" in per else []
                    event_errors.setdefault(per["extension_id"], []).extend(f"{event}: {m[:200]}" for m in found)
            for ext in loaded:
                regs = ext.registrations
                row: dict[str, Any] = {
                    "id": ext.extension_id, "loaded": ext.status == "loaded",
                    "registered": any(regs.get(k) for k in ("tools", "commands", "events", "shortcuts",
                                                             "flags", "messageRenderers", "entryRenderers",
                                                             "mcpServers", "virtualModels", "providers")),
                    "error": ext.error, "tools": {}, "outputs": {}, "commands": {},
                    "event_errors": event_errors.get(ext.extension_id, []),
                }
                for tool in regs.get("tools", []) if ext.status == "loaded" else []:
                    args = sample_value(tool.get("parameters") or {"type": "object"}) or {}
                    try:
                        result = host.call_tool(ext.extension_id, tool["name"], args)
                        text = " ".join(str(c.get("text", "")) for c in result.get("content", [])
                                        if isinstance(c, Mapping))
                        ok = not (result.get("isError") and is_shim_error(text))
                        row["tools"][tool["name"]] = "ran" if ok else f"shim error: {text[:200]}"
                        row["outputs"][tool["name"]] = text[:300]
                    except PiSandboxError as exc:
                        message = str(exc)
                        ok = "invalid arguments" in message  # our synthetic args, not the runtime
                        row["tools"][tool["name"]] = ("bad sample args" if ok else f"failed: {message[:200]}")
                # With --more-events, every command runs too, with no arguments (headless: dialogs get no answer)
                for command in regs.get("commands", []) if more and ext.status == "loaded" else []:
                    try:
                        host.run_command(ext.extension_id, command["name"], "")
                        row["commands"][command["name"]] = "ran"
                    except PiSandboxError as exc:
                        row["commands"][command["name"]] = (f"shim error: {str(exc)[:200]}" if is_shim_error(str(exc))
                                                            else "ran")  # the command's own failure
                rows.append(row)
        finally:
            host.shutdown(notify=False)
            sandbox.close()
    tools = [v for r in rows for v in r["tools"].values()]
    return {
        "examples": len(rows),
        "loaded": sum(r["loaded"] for r in rows),
        "loaded_and_registered": sum(r["loaded"] and r["registered"] for r in rows),
        "tools": len(tools),
        "tools_ran": sum(v in ("ran", "bad sample args") for v in tools),
        "with_tools_all_ran": sum(
            1 for r in rows if r["tools"] and all(v in ("ran", "bad sample args") for v in r["tools"].values())),
        "with_tools": sum(1 for r in rows if r["tools"]),
        "event_handler_errors": sum(len(r["event_errors"]) for r in rows),
        "commands": sum(len(r["commands"]) for r in rows),
        "commands_ran": sum(v == "ran" for r in rows for v in r["commands"].values()),
        "rows": rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=Path)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--more-events", action="store_true",
                        help="also send input/tool_call/tool_result/agent_settled/session_shutdown; run every "
                             "command")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pi-examples-") as tmp:
        examples = args.examples or fetch_examples(Path(tmp))
        report = measure(examples, more=args.more_events)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for row in report["rows"]:
        both = [*row["tools"].items(), *row["commands"].items()]
        bad = {k: v for k, v in both if v not in ("ran", "bad sample args")}
        if not row["loaded"] or not row["registered"] or bad or row["event_errors"]:
            print(f"{row['id']:32s} loaded={row['loaded']} registered={row['registered']} "
                  f"{(row['error'] or '')[:160]} {bad or ''} {row['event_errors'] or ''}")
    print(f"examples: {report['examples']}  loaded: {report['loaded']}  "
          f"loaded+registered: {report['loaded_and_registered']}  tools ran: {report['tools_ran']}/{report['tools']}  "
          f"extensions whose tools all ran: {report['with_tools_all_ran']}/{report['with_tools']}  "
          f"event handler errors: {report['event_handler_errors']}"
          + (f"  commands ran: {report['commands_ran']}/{report['commands']}" if args.more_events else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
