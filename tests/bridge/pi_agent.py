"""The real pi coding agent for the bridge tests: installed from the pinned lockfile, driven in its RPC mode.

``install_pi_agent`` runs ``npm ci --ignore-scripts`` on ``tests/bridge/pi_agent/`` (package.json + lockfile
pinning ``@mariozechner/pi-coding-agent``) once into the user cache, keyed by the lockfile's hash.
``PiAgent`` starts ``pi --mode rpc`` with the scripted model provider of ``fixtures/scripted-provider.ts``:
each prompt is a JSON plan naming the tool the "model" calls.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from queue import Empty, Queue
from typing import Any

from pi_sandbox.runtime.toolchain import cache_dir, lock_hash

LOCK_DIR = Path(__file__).resolve().parent / "pi_agent"
SCRIPTED_PROVIDER = Path(__file__).resolve().parent / "fixtures" / "scripted-provider.ts"
PI_PACKAGE = "@mariozechner/pi-coding-agent"


def pinned_version() -> str:
    return str(json.loads((LOCK_DIR / "package.json").read_text())["dependencies"][PI_PACKAGE])


def install_pi_agent() -> Path:
    """The pinned pi's ``cli.js`` (installed on first use; needs node and npm)."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("the real-pi tests need Node.js and npm on PATH")
    root = cache_dir() / "test-pi-agent" / lock_hash(LOCK_DIR)
    cli = root / "node_modules" / PI_PACKAGE / "dist" / "cli.js"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not cli.is_file():
            staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=".staging-"))
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(LOCK_DIR / name, staging / name)
            subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=staging, check=True,
                           capture_output=True, timeout=900,
                           env={**os.environ, "npm_config_cache": str(cache_dir() / "npm")})
            shutil.rmtree(root, ignore_errors=True)
            staging.rename(root)
    installed = json.loads((root / "node_modules" / PI_PACKAGE / "package.json").read_text())["version"]
    assert installed == pinned_version(), (installed, pinned_version())
    return cli


UiAnswer = Callable[[dict[str, Any]], dict[str, Any] | None]


class PiAgent:
    """``pi --mode rpc --no-session --offline`` with the scripted provider; ``ui`` answers dialogs."""

    def __init__(self, cli: Path, env: Mapping[str, str], cwd: Path, ui: UiAnswer | None = None,
                 args: Sequence[str] = ()) -> None:
        self.proc = subprocess.Popen(
            ["node", str(cli), "--mode", "rpc", "--no-session", "--offline", "--provider", "scripted",
             "--model", "script-1", "-e", str(SCRIPTED_PROVIDER), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=dict(env),
        )
        self.ui = ui
        self.events: Queue[dict[str, Any]] = Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.rstrip(b"\n").rstrip(b"\r")
            if line:
                self.events.put(json.loads(line))

    def send(self, message: Mapping[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()

    def next_event(self, timeout_s: float) -> dict[str, Any]:
        event = self.events.get(timeout=timeout_s)
        self.seen.append(event)
        if event.get("type") == "extension_ui_request" and event.get("method") in ("select", "confirm", "input",
                                                                                   "editor"):
            answer = self.ui(event) if self.ui is not None else None
            self.send({"type": "extension_ui_response", "id": event["id"], **(answer or {"cancelled": True})})
        return event

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                event = self.next_event(max(0.1, deadline - time.monotonic()))
            except Empty:
                raise AssertionError(f"timed out; events so far: {self.seen[-20:]}") from None
            if predicate(event):
                return event

    def ready(self) -> None:
        """Wait until pi has loaded its extensions (the bridge sets its status line at session start)."""
        self.send({"id": "state", "type": "get_state"})
        self.wait_for(lambda e: e.get("id") == "state")

    def run_tool(self, tool: str, args: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        """Prompt the scripted model to call ``tool``; returns pi's ``tool_execution_end`` event and the model's
        answer after it saw the result."""
        self.send({"type": "prompt", "message": json.dumps({"tool": tool, "args": dict(args)})})
        end = self.wait_for(lambda e: e.get("type") == "tool_execution_end")
        done = self.wait_for(lambda e: e.get("type") == "agent_end")
        last = done["messages"][-1]
        return end, "".join(c.get("text", "") for c in last["content"] if c.get("type") == "text")

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()  # EOF: pi shuts down (and the bridge stops pi-sandbox)
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
