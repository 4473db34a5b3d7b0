"""How many of pi's official example extensions load and register under `safe`.

    python benchmarks/compat_examples.py [--examples DIR] [--json]

Without ``--examples`` the examples come from the npm package ``@mariozechner/pi-coding-agent``,
installed with ``npm install --ignore-scripts`` into a temporary folder (set-up: this needs the npm
registry; nothing of it is kept or committed). Two passes over the same examples, each in a fresh
isolated pi environment:

* ``as shipped``: the examples folder auto-discovered as it is (no ``node_modules``);
* ``installed``: every example folder that declares npm dependencies installed with
  ``pi-sandbox ext install`` (its dependencies with ``npm ci --ignore-scripts``), the others as shipped.

"Registers" means at least one tool, command, event handler, shortcut, flag or provider.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pi_sandbox.audit import AuditStore
from pi_sandbox.config import resolve_config
from pi_sandbox.config.locations import SANDBOXED_EXTENSIONS_FOLDER
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.runtime.discovery import scan_folder
from pi_sandbox.runtime.host import ExtensionHost
from pi_sandbox.scanner.fetch import needs_dependencies
from pi_sandbox.scanner.install import install

_KINDS = ("tools", "commands", "events", "shortcuts", "flags", "providers", "busChannels")


def _examples(tmp: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is required to fetch the examples (or pass --examples DIR)")
    subprocess.run([npm, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix", str(tmp / "pkg"),
                    "@mariozechner/pi-coding-agent"], check=True, capture_output=True)
    return tmp / "pkg" / "node_modules" / "@mariozechner" / "pi-coding-agent" / "examples" / "extensions"


def _environment(base: Path) -> dict[str, str]:
    env = {"HOME": str(base / "home"), "PI_CODING_AGENT_DIR": str(base / "agent"),
           "PI_SECURITY_DIR": str(base / "agent" / "security"), "PATH": os.environ.get("PATH", "")}
    for key, value in os.environ.items():  # the user's npm settings (registry, cache) for installs
        if key.lower().startswith("npm_config_"):
            env[key] = value
    (base / "home").mkdir(parents=True, exist_ok=True)
    (base / "workspace").mkdir(parents=True, exist_ok=True)
    return env


def _measure(base: Path) -> dict[str, Any]:
    config = resolve_config(cwd=base / "workspace", env=_environment(base))
    sandbox = Sandbox.open(config)
    host = ExtensionHost(sandbox)
    try:
        # `pi-sandbox ext install` puts what it installs in sandboxed-extensions/, beside pi's own folder.
        sources = scan_folder(config.agent_dir / "extensions")
        sandboxed = config.agent_dir / SANDBOXED_EXTENSIONS_FOLDER
        if sandboxed.is_dir():
            sources += scan_folder(sandboxed)
        loaded = host.load(sources)
        rows = [{"id": e.extension_id, "status": e.status, "code": e.error_code,
                 "registered": sum(len(e.registrations.get(k, [])) for k in _KINDS),
                 "error": (e.error or "")[:300]} for e in loaded]
    finally:
        host.shutdown(notify=False)
        sandbox.close()
    ok = sum(1 for r in rows if r["status"] == "loaded" and r["registered"])
    return {"total": len(rows), "load_and_register": ok, "failures": [r for r in rows if r["status"] != "loaded"]}


def run(examples: Path) -> dict[str, Any]:
    """Both passes; returns their counts and failures."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pi-compat-") as tmp:
        shipped = Path(tmp) / "shipped"
        shutil.copytree(examples, shipped / "agent" / "extensions")
        results["as_shipped"] = _measure(shipped)
        installed = Path(tmp) / "installed"
        shutil.copytree(examples, installed / "agent" / "extensions")
        config = resolve_config(cwd=installed / "workspace", env=_environment(installed))
        store = AuditStore.open(config.state_dir)
        installs: list[str] = []
        refused: list[dict[str, Any]] = []
        try:
            for folder in sorted((installed / "agent" / "extensions").iterdir()):
                if folder.is_dir() and needs_dependencies(folder):
                    source = Path(tmp) / "sources" / folder.name
                    shutil.move(folder, source)
                    outcome = install(source, config, store)
                    installs.append(f"{folder.name}: {outcome.decision} ({outcome.preflight.npm_command})")
                    if not outcome.installed:
                        findings = outcome.preflight.report.findings
                        rules = sorted({f"{f.rule_id} in {f.file}" for f in findings if f.cls == "forbidden"})
                        refused.append({"id": folder.name, "status": "not installed", "registered": 0,
                                        "code": ",".join(outcome.reason_codes), "error": f"forbidden: {rules}"})
        finally:
            store.close()
        measured = _measure(installed)
        results["installed"] = {**measured, "total": measured["total"] + len(refused),
                                "failures": measured["failures"] + refused, "installs": installs}
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--examples", type=Path, help="an examples/extensions folder (default: fetch from npm)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pi-examples-") as tmp:
        examples = args.examples or _examples(Path(tmp))
        results = run(examples)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for name, data in results.items():
        print(f"{name}: {data['load_and_register']} / {data['total']} load and register under safe")
        for line in data.get("installs", []):
            print(f"  install {line}")
        for failure in data["failures"]:
            print(f"  {failure['id']}: {failure['code']}: {failure['error'][:200]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
