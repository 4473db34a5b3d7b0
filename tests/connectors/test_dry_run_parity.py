"""A dry run answers what the real call would, for every connector that refuses something itself before its
effect: a refusal or an invalid request the real call gets is what the dry run gets (code and reason), and a
call the real run carries out is a dry-run allow — with nothing carried out by the dry run.

Every real call here is harmless: it is refused before any effect, or writes in the test's own workspace, or
runs ``true`` in the exec sandbox.
"""

from __future__ import annotations

from typing import Any

import pytest

from pi_sandbox.sandbox.support import probe
from tests.conftest import OpenSandbox, PiEnv

PERMISSIVE = {"extensionPolicy": {"profile": "permissive", "allowDangerous": True}}

CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("exec cwd is a file", "exec", {"cmd": "true", "cwd": "afile"}),
    ("exec args not a list", "exec", {"cmd": "true", "args": "x"}),
    ("exec timeout not positive", "exec", {"cmd": "true", "timeout_ms": -5}),
    ("exec env not strings", "exec", {"cmd": "true", "env": {"A": 1}}),
    ("exec runs", "exec", {"cmd": "true"}),
    ("fs write data not text", "fs", {"op": "write", "path": "w1.txt", "data": 5}),
    ("fs write bad base64", "fs", {"op": "write", "path": "w2.txt", "data": "!!!", "encoding": "base64"}),
    ("fs write too large", "fs", {"op": "write", "path": "w3.txt", "data": "x" * 2048}),
    ("fs write works", "fs", {"op": "write", "path": "w4.txt", "data": "hi"}),
    ("tool unknown", "tool", {"name": "nosuchtool", "input": {}}),
    ("tool input not an object", "tool", {"name": "read", "input": "afile"}),
    ("tool edit without oldText", "tool", {"name": "edit", "input": {"path": "afile", "oldText": "", "newText": "y"}}),
    ("tool write data not text", "tool", {"name": "write", "input": {"path": "w5.txt", "content": 7}}),
    ("tool grep empty pattern", "tool", {"name": "grep", "input": {"pattern": ""}}),
    ("tool grep backreference", "tool", {"name": "grep", "input": {"pattern": r"(a)\1"}}),
    ("tool find bad limit", "tool", {"name": "find", "input": {"pattern": "*.txt", "limit": 0}}),
    ("tool grep bad glob", "tool", {"name": "grep", "input": {"pattern": "x", "glob": ""}}),
    ("tool grep works", "tool", {"name": "grep", "input": {"pattern": "x"}}),
    ("env unknown op", "env", {"op": "set", "name": "PATH"}),
    ("env names not a list", "env", {"names": "PATH"}),
    ("env name missing", "env", {"op": "get"}),
    ("env read works", "env", {"name": "PATH"}),
]


@pytest.mark.parametrize(("method", "params"), [(m, p) for _n, m, p in CASES], ids=[n for n, _m, _p in CASES])
def test_dry_run_answers_what_the_real_call_answers(
    open_sandbox: OpenSandbox, pi_env: PiEnv, method: str, params: dict[str, Any]
) -> None:
    if method == "exec" and probe().bwrap_path is None:
        pytest.skip("no bubblewrap: every exec is refused as sandbox_unavailable")
    (pi_env.workspace / "afile").write_text("x\n")
    box = open_sandbox(settings={**PERMISSIVE, "extensionRuntime": {"maxFsIoBytes": 1024}})
    before = sorted(p.name for p in pi_env.workspace.iterdir())
    dry = box.hostcall("ext.a", {"call_id": "dry", "method": method, "params": params}, dry_run=True)
    assert sorted(p.name for p in pi_env.workspace.iterdir()) == before, "the dry run carried something out"
    real = box.hostcall("ext.a", {"call_id": "real", "method": method, "params": params})
    assert dry.ok is real.ok, (dry.to_dict(), real.to_dict())
    if real.ok:
        assert dry.result == {"dry_run": True, "decision": "allow"}
    else:
        assert (dry.error_code, dry.reason, dry.message) == (real.error_code, real.reason, real.message)
