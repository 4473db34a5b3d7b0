"""Controller behaviour around the decision: faults and time budget, trust, refusals it observes, off, status."""

from __future__ import annotations

import gc
import json
import threading
import time
from typing import Any

import pytest

from pi_sandbox.cli.main import main
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.risk import RiskController
from pi_sandbox.risk.status import risk_status
from pi_sandbox.trust import TrustState
from pi_sandbox.vocabulary import AlertCategory, Reason
from tests.conftest import OpenSandbox, PiEnv
from tests.risk.conftest import EXT, Listener, RiskyBox, entry_for, hostcall, warm_up


def _controller(box: Sandbox) -> RiskController:
    controller = box.risk_stage.controller
    assert controller is not None
    return controller


def _broken(*_: Any) -> Any:
    raise RuntimeError("scoring bug")


def test_a_controller_fault_with_fail_closed_refuses(risky_box: RiskyBox, pi_env: PiEnv,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    box = risky_box()
    warm_up(box, pi_env.workspace, 3)
    monkeypatch.setattr(_controller(box).observer, "observe", _broken)
    result = hostcall(box, "fs", {"op": "read", "path": "f1.txt"})
    assert not result.ok and result.reason == Reason.RISK_FAIL_CLOSED != Reason.RISK_DENIED
    entry = entry_for(box, result)
    assert entry.detail["stage"] == "risk" and entry.detail["risk"]["fault"] == "error:RuntimeError"
    [alert] = box.store.query_alerts(category=AlertCategory.RUNTIME, extension_id=EXT)
    assert Reason.RISK_FAIL_CLOSED in alert.reason_codes
    [alarm] = [r.payload for r in box.store.query_records(kind="risk_alarm")]
    assert alarm["action"] == "fail_closed"
    # the trust record is not charged for the controller's own failure
    assert box.controls.registry.state(EXT) is not TrustState.QUARANTINED


def test_a_controller_fault_with_fail_open_lets_the_call_go_on_and_records_it(
        risky_box: RiskyBox, pi_env: PiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    box = risky_box(failClosed=False)
    warm_up(box, pi_env.workspace, 3)
    monkeypatch.setattr(_controller(box).observer, "observe", _broken)
    result = hostcall(box, "fs", {"op": "read", "path": "f1.txt"})
    assert result.ok
    assert entry_for(box, result).detail["risk"]["fault"] == "error:RuntimeError"
    assert [r.payload["action"] for r in box.store.query_records(kind="risk_alarm")] == ["fail_open"]


def test_a_decision_past_its_time_budget_refuses(risky_box: RiskyBox, pi_env: PiEnv,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    box = risky_box(decisionTimeoutMs=5)
    warm_up(box, pi_env.workspace, 3)
    observe = _controller(box).observer.observe

    def slow(call: Any) -> Any:
        end = time.thread_time() + 0.05
        while time.thread_time() < end:  # the controller's own work (CPU), not a sleep
            pass
        return observe(call)

    monkeypatch.setattr(_controller(box).observer, "observe", slow)
    result = hostcall(box, "fs", {"op": "read", "path": "f1.txt"})
    assert result.reason == Reason.RISK_FAIL_CLOSED
    assert entry_for(box, result).detail["risk"]["fault"] == "timeout"


def test_a_garbage_collection_during_the_decision_is_not_counted_against_its_budget(
        risky_box: RiskyBox, pi_env: PiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full collection of a big heap can take longer than the budget; that is not the controller's work
    (a long test run flaked on it: the risk stage refused an ordinary call as `risk_fail_closed`)."""
    box = risky_box(decisionTimeoutMs=5)
    warm_up(box, pi_env.workspace, 3)
    observe = _controller(box).observer.observe

    def stall(phase: str, _info: Any) -> None:
        if phase == "start":  # a slow collection: 50 ms of CPU inside the collector
            end = time.thread_time() + 0.05
            while time.thread_time() < end:
                pass

    def collecting(call: Any) -> Any:
        gc.callbacks.append(stall)  # after the controller's hook: inside the timed collection
        try:
            gc.collect()
        finally:
            gc.callbacks.remove(stall)
        return observe(call)

    monkeypatch.setattr(_controller(box).observer, "observe", collecting)
    result = hostcall(box, "fs", {"op": "read", "path": "f1.txt"})
    assert result.ok, result
    assert "fault" not in entry_for(box, result).detail.get("risk", {})


def test_a_window_held_past_the_budget_refuses(risky_box: RiskyBox, pi_env: PiEnv) -> None:
    box = risky_box(decisionTimeoutMs=20)
    warm_up(box, pi_env.workspace, 3)
    window = _controller(box)._windows[EXT]
    held = threading.Event()

    def hold() -> None:  # another call of the same extension stuck inside the controller for 0.5 s
        with window.lock:
            held.set()
            time.sleep(0.5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    result = hostcall(box, "fs", {"op": "read", "path": "f1.txt"})
    holder.join()
    assert result.reason == Reason.RISK_FAIL_CLOSED
    assert entry_for(box, result).detail["risk"]["fault"] == "timeout"
    assert hostcall(box, "fs", {"op": "read", "path": "f1.txt"}).ok  # released: decided again


def test_risk_denials_quarantine_the_extension(risky_box: RiskyBox, pi_env: PiEnv, listener: Listener) -> None:
    box = risky_box()
    warm_up(box, pi_env.workspace)
    assert hostcall(box, "fs", {"op": "read", "path": ".env"}).ok
    threshold = box.config.trust.quarantine_after_risk_denials
    for i in range(threshold):
        result = hostcall(box, "http", {"url": f"{listener.url}/x{i}", "method": "GET"})
        assert result.reason == Reason.RISK_DENIED
    assert box.controls.registry.state(EXT) is TrustState.QUARANTINED
    assert hostcall(box, "fs", {"op": "read", "path": "f1.txt"}).reason == Reason.QUARANTINED
    [transition] = box.controls.registry.history(EXT)[-1:]
    assert transition.reason == "risk_denials" and transition.to_state is TrustState.QUARANTINED
    assert listener.paths == []


def test_refusals_before_the_stage_are_part_of_the_behaviour(open_sandbox: OpenSandbox, pi_env: PiEnv) -> None:
    """Under ``safe``, exec is refused by policy: the controller never scores those calls, but counts them."""
    box = open_sandbox()
    for _ in range(5):
        assert hostcall(box, "exec", {"cmd": "id", "args": []}).reason != Reason.RISK_DENIED
    state = _controller(box).state(EXT)
    assert state["window_fill"] == 5 and state["window_denials"] == 5 and state["scored"] == 0


def test_probing_is_refused_and_the_pivot_never_happens(risky_box: RiskyBox, pi_env: PiEnv,
                                                          listener: Listener) -> None:
    """Many different refused attempts (outside the workspace, protected files, the state dir, secret
    variables, commands in other folders) and then a capability the extension had not used: the soft
    features add up, the controller refuses, and the refusals quarantine the extension before it reaches
    the network."""
    box = risky_box()
    results = []
    for path in ("/etc/shadow", "../../.ssh/id_rsa", "~/.aws/credentials", ".git/hooks/pre-commit",
                 str(pi_env.state_dir / "security.db"), "/root/.bash_history", "/proc/1/environ", "../x"):
        results.append(hostcall(box, "fs", {"op": "read" if "hooks" not in path else "write", "path": path,
                                            "data": "x"}))
    for name in ("AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN"):
        results.append(hostcall(box, "env", {"name": name}))
    results.append(hostcall(box, "fs", {"op": "write", "path": ".pi/settings.json", "data": "{}"}))
    for cwd in ("/etc", "/root", "/var/lib"):
        results.append(hostcall(box, "exec", {"cmd": "ls", "args": ["-la"], "cwd": cwd}))
    results.append(hostcall(box, "http", {"url": f"{listener.url}/pivot", "method": "POST", "body": "x"}))
    refused = [r for r in results if r.reason == Reason.RISK_DENIED]
    assert refused and results[-1].reason in (Reason.RISK_DENIED, Reason.QUARANTINED)
    features = entry_for(box, refused[0]).detail["risk"]["features"]
    assert {"denial_rate", "denial_variety"} & set(features)
    assert listener.paths == []


def test_every_decision_records_score_threshold_and_features(risky_box: RiskyBox, pi_env: PiEnv) -> None:
    box = risky_box()
    warm_up(box, pi_env.workspace, 3)
    risk = entry_for(box, hostcall(box, "fs", {"op": "read", "path": "f0.txt"})).detail["risk"]
    assert set(risk) >= {"score", "threshold", "p", "features"}
    assert risk["threshold"] == _controller(box).calibration.threshold(0.01)
    assert all(isinstance(v, float | int) for v in risk["features"].values()) and len(risk["features"]) <= 3


def test_disabled_controller_scores_nothing(open_sandbox: OpenSandbox, pi_env: PiEnv, listener: Listener) -> None:
    from tests.risk.conftest import register, risky_settings

    settings = risky_settings(listener.port)
    settings["extensionRisk"] = {"enabled": False}
    box = open_sandbox(settings=settings)
    register(box, pi_env)
    (pi_env.workspace / ".env").write_text("T=x\n")
    assert hostcall(box, "fs", {"op": "read", "path": ".env"}).ok
    result = hostcall(box, "http", {"url": f"{listener.url}/x", "method": "GET"})
    assert result.ok and "risk" not in entry_for(box, result).detail
    assert box.risk_stage.controller is None


def test_on_and_enforcing_by_default(open_sandbox: OpenSandbox) -> None:
    box = open_sandbox()
    assert box.config.risk.enabled and box.config.risk.enforce and box.config.risk.fail_closed
    assert box.risk_stage.controller is not None


def test_concurrent_calls_of_one_extension_keep_the_window_consistent(risky_box: RiskyBox, pi_env: PiEnv) -> None:
    box = risky_box()
    warm_up(box, pi_env.workspace, 3)

    def work() -> None:
        for _ in range(40):
            hostcall(box, "fs", {"op": "read", "path": "f1.txt"})

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state = _controller(box).state(EXT)
    assert state["window_pending"] == 0 and state["window_fill"] == 128 and state["denied"] == 0


def test_status_library_and_cli(risky_box: RiskyBox, pi_env: PiEnv, listener: Listener,
                                capsys: pytest.CaptureFixture[str]) -> None:
    box = risky_box()
    warm_up(box, pi_env.workspace, 3)
    assert hostcall(box, "fs", {"op": "read", "path": ".env"}).ok
    assert hostcall(box, "http", {"url": f"{listener.url}/x", "method": "GET"}).reason == Reason.RISK_DENIED
    box.close()
    data = risk_status(None, box.config.risk)
    assert data["settings"]["threshold"] > 0 and data["extensions"] == []
    capsys.readouterr()
    assert main(["security", "risk", "status", "--extension", EXT, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["enforce"] is True and out["settings"]["certified_alpha"] == 0.01
    [ext] = out["extensions"]
    assert ext["extension_id"] == EXT and ext["denied"] == 1 and ext["scored"] == 5
    [alarm] = ext["alarms"]
    assert alarm["action"] == "deny" and alarm["method"] == "http" and "secret_then_egress" in alarm["features"]
    assert main(["security", "risk", "status"]) == 0
    text = capsys.readouterr().out
    assert "ENFORCE" in text and EXT in text and "secret_then_egress" in text
