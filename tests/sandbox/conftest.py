"""A real ``Sandbox`` over a temp HOME with everything an exec child must not reach, and a helper
that runs commands through its exec connector (the OS wall alone, without exec mediation)."""

from __future__ import annotations

import hashlib
import itertools
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.audit.verify import verify_ledger
from pi_sandbox.capabilities import Capability
from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.sandbox.mounts import PLACEHOLDERS
from tests.conftest import OpenSandbox, PiEnv
from tests.runtime.conftest import ext_dir, make_host  # noqa: F401  (re-exported fixtures)

SECRET = "ghp_SupervisorSecretValue1234567890abcd"
PY = sys.executable


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Host:
    """The host side of a sandbox test: paths, canaries and a function that runs a child."""

    env: PiEnv
    box: Sandbox
    canary: Path
    settings: Path
    key: Path
    db: Path
    before: dict[Path, str] = field(default_factory=dict)
    entries_before: int = 0
    calls: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def run(self, cmd: str, *args: str, ext: str = "ext.hostile", **params: Any) -> dict[str, Any]:
        """Run ``cmd args`` through the exec connector of the real sandbox."""
        ctx = ConnectorContext(ext, f"c{next(self.calls)}", "exec", Capability.EXEC, self.box.rules_for(ext),
                               self.box.public_config, self.box.evidence)
        result: dict[str, Any] = self.box.exec.call(ctx, {"cmd": cmd, "args": list(args), **params})
        return result

    def sh(self, script: str, *args: str, **params: Any) -> dict[str, Any]:
        return self.run("sh", "-c", script, *args, **params)

    def unchanged(self) -> None:
        """settings.json, auth.json, the ledger key and the canary are byte-identical to before the
        test, and the ledger still verifies with no entry lost."""
        for path, was in self.before.items():
            assert path.exists() and digest(path) == was, path
        report = verify_ledger(self.box.store)
        assert report.chain_valid and report.entry_count >= self.entries_before, report.to_dict()


@pytest.fixture()
def host(pi_env: PiEnv, open_sandbox: OpenSandbox, monkeypatch: pytest.MonkeyPatch) -> Host:
    monkeypatch.setenv("GITHUB_TOKEN", SECRET)
    settings = pi_env.write_global({"extensionPolicy": {"profile": "safe"}})
    box = open_sandbox()
    canary = pi_env.home / "canary.txt"
    canary.write_text("canary\n")
    (pi_env.agent_dir / "auth.json").write_text(f'{{"token": "{SECRET}"}}')
    ssh = pi_env.home / ".ssh"
    ssh.mkdir()
    (ssh / "id_rsa").write_text("PRIVATE KEY " + SECRET)
    key = pi_env.state_dir / "ledger-signing.key"
    out = Host(pi_env, box, canary, settings, key, pi_env.db_path)
    out.before = {p: digest(p) for p in (settings, key, canary, pi_env.agent_dir / "auth.json")}
    out.entries_before = verify_ledger(box.store).entry_count
    return out


class Listener:
    """A listening socket of the test (TCP on 127.0.0.1 or unix) that counts connections."""

    def __init__(self, family: int, address: Any) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.address = self.sock.getsockname()
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture()
def listeners() -> Iterator[Callable[[int, Any], Listener]]:
    made: list[Listener] = []

    def make(family: int, address: Any) -> Listener:
        listener = Listener(family, address)
        made.append(listener)
        return listener

    yield make
    time.sleep(0.1)
    for listener in made:
        listener.close()


def stand_ins_removed(timeout_s: float = 5.0) -> bool:
    """Wait until the exec sandbox's empty stand-ins for missing protected names are gone again
    (they stay a short grace period after the last call, for the next one to take over)."""
    deadline = time.monotonic() + timeout_s
    while not PLACEHOLDERS.idle():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def host_pids_with(marker: str) -> list[int]:
    """Host pids whose command line holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        if marker.encode() in cmdline and "State:\tZ" not in status:
            found.append(int(entry))
    return found
