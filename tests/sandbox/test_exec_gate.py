"""The exec gate: a command's ledger entry is synced while bwrap sets the sandbox up, and the command
runs only once the sync succeeded (bwrap waits on ``--block-fd``); a failed sync kills the waiting
sandbox and refuses the call. Real bwrap, real SQLite, real fdatasync; only a failing disk is modelled.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.connectors.exec import ExecConnector
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.errors import AuditStoreError
from pi_sandbox.trust import Actor, TransitionReason, TrustState
from tests.audit.power_loss import model_power_loss, surviving_call_ids
from tests.conftest import MakeConfig, PiEnv

EXT = "gated-ext"
#: How long the probe watches for a command that ran before its gate opened (it writes a file at once).
WATCH_S = 0.5


class GateProbe:
    """Stands in for the exec connector; at the moment the connector waits for the sync it looks at the
    sandbox (started, and the command not run yet), then at what a power loss would leave after it."""

    waits_durable = True

    def __init__(self, inner: ExecConnector, disk: Path, scratch: Path, effect: Path) -> None:
        self.inner = inner
        self.disk = disk
        self.scratch = scratch
        self.effect = effect
        self.at_gate: dict[str, dict[str, bool]] = {}
        self.procs: list[subprocess.Popen[bytes]] = []

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        assert ctx.durable is not None, "the pipeline synced the entry itself: the gate path was not taken"
        sync: Callable[[], None] = ctx.durable

        def watched() -> None:
            proc = self.inner._running[(ctx.extension_id, ctx.call_id)]
            self.procs.append(proc)
            seen = self.at_gate.setdefault(ctx.call_id, {})
            end = time.monotonic() + WATCH_S
            ran_early = False
            while time.monotonic() < end and not ran_early:
                ran_early = self.effect.exists()
                time.sleep(0.02)
            seen["sandbox_started"] = proc.poll() is None
            seen["ran_before_sync"] = ran_early
            sync()
            seen["durable_at_gate"] = ctx.call_id in surviving_call_ids(self.disk, self.scratch / ctx.call_id)

        return self.inner.call(replace(ctx, durable=watched), params)


@pytest.fixture()
def gated(make_config: MakeConfig, pi_env: PiEnv, tmp_path: Path) -> Iterator[tuple[Sandbox, GateProbe]]:
    config = make_config(settings={"extensionPolicy": {"profile": "permissive", "allowDangerous": True}})
    store = AuditStore.open(config.state_dir, flush_interval_s=3600)  # every sync here is one a call asked for
    sandbox = Sandbox(config, store)
    sandbox.controls.registry.transition(EXT, TrustState.TRUSTED, actor=Actor.OPERATOR,
                                         reason=TransitionReason.OPERATOR_PROMOTION, note="test")
    store.sync()
    model_power_loss(store, tmp_path / "disk")
    probe = GateProbe(sandbox.exec, tmp_path / "disk", tmp_path / "scratch", pi_env.workspace / "effect.txt")
    sandbox.connectors["exec"] = probe  # type: ignore[assignment]
    yield sandbox, probe
    sandbox.close()


CALLS: list[tuple[str, dict[str, Any]]] = [
    ("exec", {"cmd": "sh", "args": ["-c", "echo ran > effect.txt"]}),
    ("tool", {"name": "bash", "input": {"command": "echo ran > effect.txt"}}),
]


@pytest.mark.parametrize(("method", "params"), CALLS, ids=["exec", "bash-tool"])
def test_the_command_waits_at_the_gate_until_its_entry_is_durable(
        gated: tuple[Sandbox, GateProbe], pi_env: PiEnv, method: str, params: dict[str, Any]) -> None:
    sandbox, probe = gated
    syncs = sandbox.store.syncs
    result = sandbox.hostcall(EXT, {"call_id": "gated-1", "method": method, "params": params})
    assert result.ok and result.result["exit_code"] == 0, result
    assert probe.at_gate == {"gated-1": {"sandbox_started": True, "ran_before_sync": False,
                                         "durable_at_gate": True}}
    assert (pi_env.workspace / "effect.txt").read_text() == "ran\n"
    assert sandbox.store.syncs == syncs + 1  # one sync, made by the connector at its gate


@pytest.mark.parametrize(("method", "params"), CALLS, ids=["exec", "bash-tool"])
def test_a_failed_sync_kills_the_waiting_sandbox_and_the_command_never_runs(
        gated: tuple[Sandbox, GateProbe], pi_env: PiEnv, method: str, params: dict[str, Any]) -> None:
    sandbox, probe = gated

    def failing_disk() -> None:
        raise OSError(5, "Input/output error")

    sandbox.store._fsync_wal = failing_disk  # type: ignore[method-assign]
    with pytest.raises(AuditStoreError, match="refused"):
        sandbox.hostcall(EXT, {"call_id": "doomed-1", "method": method, "params": params})
    assert probe.at_gate["doomed-1"]["sandbox_started"] is True  # the failure met a live, waiting sandbox
    (proc,) = probe.procs
    assert proc.returncode is not None  # killed and reaped: nothing of it is left to open the gate
    time.sleep(WATCH_S)
    assert not (pi_env.workspace / "effect.txt").exists()
    assert sandbox.exec.subprocesses.running(EXT) == 0
    # The disk is not trusted any more: later commands are refused too, before anything runs.
    with pytest.raises(AuditStoreError):
        sandbox.hostcall(EXT, {"call_id": "doomed-2", "method": method, "params": params})
    assert not (pi_env.workspace / "effect.txt").exists()
    with pytest.raises(AuditStoreError):
        sandbox.close()  # closing cannot seal a ledger whose disk failed, and says so
