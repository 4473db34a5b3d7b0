"""Dangerous sequences on a real Sandbox: refused in enforce mode, only recorded in shadow mode.

Each technique is written several ways — fs or the file tools, the ``exec`` hostcall (what
``child_process`` sends), ``sh -c`` strings, the ``bash`` tool, path spellings that normalise to the
same file — since an attacker picks the spelling the controller does not know.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.dispatch import Sandbox
from pi_sandbox.vocabulary import AlertCategory, Reason
from tests.conftest import PiEnv
from tests.risk.conftest import EXT, SECRET_VALUE, Listener, RiskyBox, entry_for, hostcall, warm_up

Call = tuple[str, dict[str, Any]]


def _read_secret_ways() -> list[tuple[str, list[Call]]]:
    return [
        ("fs read", [("fs", {"op": "read", "path": ".env"})]),
        ("read tool, dotted path", [("tool", {"name": "read", "input": {"path": "./sub/../.env"}})]),
        ("fs read, up and back in", [("fs", {"op": "read", "path": "../workspace//.env"})]),
        ("exec cat", [("exec", {"cmd": "cat", "args": [".env"]})]),
        ("child_process shell", [("exec", {"cmd": "sh", "args": ["-c", "cat ./.env | base64"]})]),
        ("bash tool, quoted", [("tool", {"name": "bash", "input": {"command": "c'a't \".e\"nv > /dev/null"}})]),
        ("interpreter one-liner", [("exec", {"cmd": "python3", "args": ["-c", "print(open('.env').read())"]})]),
        ("home key via $HOME", [("exec", {"cmd": "sh", "args": ["-c", "head -c 100 $HOME/.ssh/id_ed25519"]})]),
    ]


def _egress_ways(url: str) -> list[tuple[str, Call]]:
    return [
        ("http post", ("http", {"url": f"{url}/collect", "method": "POST", "body": "data"})),
        ("http get query", ("http", {"url": f"{url}/c?d=abc", "method": "GET"})),
        ("exec curl", ("exec", {"cmd": "curl", "args": ["-s", f"{url}/x"]})),
        ("bash tool", ("tool", {"name": "bash", "input": {"command": "echo hi"}})),
        ("socket", ("net", {"op": "connect", "host": "127.0.0.1", "port": 9})),
    ]


def _reads_and_egress(url: str) -> list[Any]:
    reads = _read_secret_ways()
    egress = _egress_ways(url)
    # every read once, every egress once (pairs rotate so the matrix stays small)
    return [pytest.param(reads[i % len(reads)][1], egress[i % len(egress)][1],
                         id=f"{reads[i % len(reads)][0]} -> {egress[i % len(egress)][0]}")
            for i in range(max(len(reads), len(egress)))]


def _run(box: Sandbox, calls: list[Call]) -> None:
    for method, params in calls:
        hostcall(box, method, params)


def _assert_no_secret(box: Sandbox) -> None:
    for entry in box.store.query_ledger():
        assert SECRET_VALUE not in json.dumps(entry.to_dict())
    for record in box.store.query_records():
        assert SECRET_VALUE not in json.dumps(record.payload)


@pytest.mark.parametrize(("reads", "egress"), _reads_and_egress("http://127.0.0.1:0"))
def test_secret_read_then_egress_is_refused_in_enforce(risky_box: RiskyBox, pi_env: PiEnv, listener: Listener,
                                                       reads: list[Call], egress: Call) -> None:
    box = risky_box()
    warm_up(box, pi_env.workspace)
    _run(box, reads)
    method, params = egress
    params = json.loads(json.dumps(params).replace("http://127.0.0.1:0", listener.url))
    result = hostcall(box, method, params)
    assert not result.ok and result.reason == Reason.RISK_DENIED, result
    entry = entry_for(box, result)
    assert entry.detail["stage"] == "risk"
    risk = entry.detail["risk"]
    assert risk["score"] > risk["threshold"] and risk["p"] <= 0.01
    assert "secret_then_egress" in risk["features"]
    assert listener.paths == []  # nothing left the machine
    [alert] = box.store.query_alerts(category=AlertCategory.ANOMALY_DENIAL)
    assert alert.extension_id == EXT and Reason.RISK_DENIED in alert.reason_codes
    _assert_no_secret(box)


@pytest.mark.parametrize(("reads", "egress"), _reads_and_egress("http://127.0.0.1:0")[:2])
def test_secret_read_then_egress_is_only_recorded_in_shadow(risky_box: RiskyBox, pi_env: PiEnv, listener: Listener,
                                                            reads: list[Call], egress: Call) -> None:
    box = risky_box(enforce=False)
    warm_up(box, pi_env.workspace)
    _run(box, reads)
    method, params = egress
    params = json.loads(json.dumps(params).replace("http://127.0.0.1:0", listener.url))
    result = hostcall(box, method, params)
    assert result.ok, result  # shadow mode never refuses
    assert len(listener.paths) == 1
    risk = entry_for(box, result).detail["risk"]
    assert risk["would_deny"] is True and risk["mode"] == "shadow" and risk["score"] > risk["threshold"]
    assert box.store.query_alerts(category=AlertCategory.ANOMALY_DENIAL) == []
    [alarm] = [r.payload for r in box.store.query_records(kind="risk_alarm")]
    assert alarm["action"] == "shadow_deny" and "secret_then_egress" in alarm["features"]
    _assert_no_secret(box)


def _write_then_run_ways() -> list[Any]:
    return [
        pytest.param([("fs", {"op": "write", "path": "run.sh", "data": "echo hi\n"})],
                     ("exec", {"cmd": "sh", "args": ["run.sh"]}), id="fs write, sh script"),
        pytest.param([("tool", {"name": "write", "input": {"path": "scripts/../run.sh", "content": "echo hi\n"}})],
                     ("tool", {"name": "bash", "input": {"command": "chmod +x ./run.sh && ./run.sh"}}),
                     id="write tool, run by path"),
        pytest.param([("fs", {"op": "write", "path": "c3.sh", "data": "echo hi\n"})],
                     ("exec", {"cmd": "sh", "args": ["-c", ". ./c3.sh"]}), id="sourced"),
        pytest.param([("fs", {"op": "write", "path": "c4.sh", "data": "echo hi\n"})],
                     ("exec", {"cmd": "bash", "args": ["-c", "bash < c4.sh"]}), id="script on stdin"),
        pytest.param([("fs", {"op": "write", "path": "Makefile", "data": "all:\n\techo hi\n"})],
                     ("exec", {"cmd": "make", "args": []}), id="implicit Makefile"),
        pytest.param([("fs", {"op": "write", "path": "package.json", "data": '{"scripts": {"test": "echo"}}'})],
                     ("tool", {"name": "bash", "input": {"command": "npm test"}}), id="implicit package.json"),
        pytest.param([("fs", {"op": "write", "path": "tool.py", "data": "print(1)\n"})],
                     ("exec", {"cmd": "env", "args": ["A=1", "nohup", "python3", "-u", "tool.py"]}),
                     id="interpreter behind wrappers"),
        pytest.param([], ("exec", {"cmd": "sh", "args": ["-c", "printf 'echo hi' > a.sh; sh a.sh"]}),
                     id="written and run by one command"),
        pytest.param([("fs", {"op": "write", "path": "notes.txt", "data": "echo hi\n"}),
                      ("exec", {"cmd": "cp", "args": ["notes.txt", "b.sh"]})],
                     ("exec", {"cmd": "sh", "args": ["b.sh"]}), id="copied then run"),
    ]


@pytest.mark.parametrize(("writes", "run"), _write_then_run_ways())
def test_write_then_exec_is_refused_in_enforce(risky_box: RiskyBox, pi_env: PiEnv, writes: list[Call],
                                               run: Call) -> None:
    box = risky_box()
    warm_up(box, pi_env.workspace)
    _run(box, writes)
    result = hostcall(box, *run)
    assert not result.ok and result.reason == Reason.RISK_DENIED, result
    assert "write_then_exec" in entry_for(box, result).detail["risk"]["features"]


def test_write_then_exec_in_shadow_goes_on_to_mediation(risky_box: RiskyBox, pi_env: PiEnv) -> None:
    box = risky_box(enforce=False)
    warm_up(box, pi_env.workspace)
    assert hostcall(box, "fs", {"op": "write", "path": "run.sh", "data": "echo hi\n"}).ok
    result = hostcall(box, "exec", {"cmd": "sh", "args": ["run.sh"]})
    assert result.reason != Reason.RISK_DENIED  # decided by mediation (the classifier reads the script)
    entry = entry_for(box, result)
    assert entry.detail["stage"] != "risk" and entry.detail["risk"]["would_deny"] is True


def test_the_same_calls_in_a_benign_order_are_allowed(risky_box: RiskyBox, pi_env: PiEnv, listener: Listener) -> None:
    """Running a script the extension did not write, and egress with no secret read before it."""
    box = risky_box()
    warm_up(box, pi_env.workspace)
    (pi_env.workspace / "build.sh").write_text("echo built\n")
    assert hostcall(box, "exec", {"cmd": "sh", "args": ["build.sh"]}).reason != Reason.RISK_DENIED
    assert hostcall(box, "http", {"url": f"{listener.url}/ok", "method": "GET"}).ok
    assert hostcall(box, "fs", {"op": "write", "path": "out.txt", "data": "x"}).ok
    assert hostcall(box, "exec", {"cmd": "cat", "args": ["out.txt"]}).ok  # reading a written file is not running it
    assert hostcall(box, "fs", {"op": "stat", "path": ".env"}).ok  # looking is not reading
    assert hostcall(box, "http", {"url": f"{listener.url}/ok2", "method": "GET"}).ok


def test_secret_read_refused_by_mediation_does_not_arm_the_sequence(open_sandbox: Any, pi_env: PiEnv,
                                                                    listener: Listener) -> None:
    """dotenv looks for .env at start; without readSecretFiles mediation refuses it, and nothing was read."""
    settings = {"extensionPolicy": {"profile": "permissive", "allowDangerous": True,
                                    "http": {"allowHosts": ["127.0.0.1"], "allowLoopback": True}}}
    box = open_sandbox(settings=settings)
    (Path(pi_env.workspace) / ".env").write_text(f"T={SECRET_VALUE}\n")
    warm_up(box, pi_env.workspace)
    refused = hostcall(box, "fs", {"op": "read", "path": ".env"})
    assert refused.reason == Reason.SECRET_FILE
    assert hostcall(box, "http", {"url": f"{listener.url}/api", "method": "GET"}).ok


def test_the_window_forgets(risky_box: RiskyBox, pi_env: PiEnv, listener: Listener) -> None:
    """A secret read more than windowSize calls ago no longer arms the sequence."""
    box = risky_box(windowSize=16)
    warm_up(box, pi_env.workspace)
    assert hostcall(box, "fs", {"op": "read", "path": ".env"}).ok
    for _ in range(16):
        assert hostcall(box, "fs", {"op": "read", "path": "f1.txt"}).ok
    assert hostcall(box, "http", {"url": f"{listener.url}/later", "method": "GET"}).ok
