"""Ordering of evidence and effects: no effect is visible before its ledger entry is durable.

Every connector is wrapped by a probe that, at the moment the connector is about to act, looks at what a
power loss would leave of the ledger (``tests/audit/power_loss.py``: a copy of the database taken at each
sync). For every call of an effect class the decision's entry must already be there; calls of the group
class (reads, env, log/ui, own session entries) and refused calls never wait for a sync of their own.
Real connectors throughout: files, commands (bubblewrap), HTTP to a 127.0.0.1 listener, the event bus.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Mapping
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.capabilities import ALL_CAPABILITIES, Capability, required_capability
from pi_sandbox.connectors.base import Connector, ConnectorContext
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.dispatch.durability import DURABILITY, Durability, durability_of
from pi_sandbox.trust import Actor, TransitionReason, TrustState
from tests.audit.power_loss import model_power_loss, surviving_call_ids
from tests.conftest import MakeConfig, PiEnv

EXT = "durable-ext"


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: Any) -> None:
        pass


class OrderingProbe:
    """Wraps a real connector; notes, per call id, whether its entry had survived a power loss by the
    moment of the effect: when the connector is called, or — for a connector that gates its effect
    itself (exec: bwrap waits on ``--block-fd``) — when its gate opens, right after ``ctx.durable``."""

    def __init__(self, inner: Connector, disk: Path, scratch: Path, seen: dict[str, bool]) -> None:
        self.inner = inner
        self.disk = disk
        self.scratch = scratch
        self.seen = seen
        self.waits_durable = getattr(inner, "waits_durable", False) is True
        #: Calls whose entry the connector synced at its gate.
        self.gated: set[str] = set()
        self._n = itertools.count()

    def _on_disk(self, call_id: str) -> bool:
        return call_id in surviving_call_ids(self.disk, self.scratch / f"probe-{next(self._n)}")

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        sync = ctx.durable
        if sync is None:
            self.seen[ctx.call_id] = self._on_disk(ctx.call_id)
            return self.inner.call(ctx, params)

        def at_gate() -> None:
            sync()
            self.gated.add(ctx.call_id)
            self.seen[ctx.call_id] = self._on_disk(ctx.call_id)

        return self.inner.call(replace(ctx, durable=at_gate), params)


@pytest.fixture()
def durable_sandbox(make_config: MakeConfig, pi_env: PiEnv,
                    tmp_path: Path) -> Iterator[tuple[Sandbox, dict[str, bool]]]:
    config = make_config(settings={"extensionPolicy": {
        "profile": "permissive", "allowDangerous": True, "http": {"allowLoopback": True},
        "perExtension": {EXT: {"allow": ["session_admin"]}}}})
    # The flusher never runs during the test: every sync seen here was asked for by a call.
    store = AuditStore.open(config.state_dir, flush_interval_s=3600)
    sandbox = Sandbox(config, store)
    sandbox.controls.registry.transition(EXT, TrustState.TRUSTED, actor=Actor.OPERATOR,
                                         reason=TransitionReason.OPERATOR_PROMOTION, note="test")
    store.sync()
    model_power_loss(store, tmp_path / "disk")
    seen: dict[str, bool] = {}
    for name, connector in list(sandbox.connectors.items()):
        sandbox.connectors[name] = OrderingProbe(connector, tmp_path / "disk", tmp_path / "scratch", seen)
    (pi_env.workspace / "notes.txt").write_text("alpha beta\n", encoding="utf-8")
    yield sandbox, seen
    sandbox.close()


@pytest.fixture()
def local_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def route_of(method: str, params: dict[str, Any]) -> str:
    """The connector a call reaches (the bash tool runs on the exec connector)."""
    return "exec" if method == "exec" or (method == "tool" and params.get("name") == "bash") else method


EFFECTS: list[tuple[str, dict[str, Any]]] = [
    ("fs", {"op": "write", "path": "out.txt", "data": "written"}),
    ("fs", {"op": "mkdir", "path": "made"}),
    ("fs", {"op": "delete", "path": "notes.txt"}),
    ("tool", {"name": "write", "input": {"path": "tool-out.txt", "content": "x"}}),
    ("tool", {"name": "edit", "input": {"path": "notes.txt", "oldText": "alpha", "newText": "gamma"}}),
    ("tool", {"name": "bash", "input": {"command": "echo hi > bash-out.txt"}}),
    ("exec", {"cmd": "sh", "args": ["-c", "echo hi > exec-out.txt"]}),
    ("events", {"op": "emit", "event": "ping", "data": {}}),
    ("session", {"op": "set_name", "name": "renamed"}),
]
GROUP: list[tuple[str, dict[str, Any]]] = [
    ("fs", {"op": "read", "path": "notes.txt"}),
    ("fs", {"op": "stat", "path": "notes.txt"}),
    ("fs", {"op": "list", "path": "."}),
    ("tool", {"name": "read", "input": {"path": "notes.txt"}}),
    ("tool", {"name": "ls", "input": {"path": "."}}),
    ("tool", {"name": "grep", "input": {"pattern": "alpha", "path": "."}}),
    ("env", {"op": "get", "name": "HOME"}),
    ("log", {"level": "info", "message": "hello"}),
    ("ui", {"op": "notify", "message": "hi"}),
    ("session", {"op": "append_entry", "data": {"n": 1}}),
    ("session", {"op": "get_entries"}),
]


def test_every_capability_has_a_durability_class() -> None:
    assert set(DURABILITY) == set(ALL_CAPABILITIES)
    for method, params in EFFECTS:
        assert durability_of(required_capability(method, params)) is Durability.EFFECT, (method, params)
    for method, params in GROUP:
        assert durability_of(required_capability(method, params)) is Durability.GROUP, (method, params)


@pytest.mark.parametrize(("method", "params"), EFFECTS, ids=[f"{m}-{p.get('op') or p.get('name') or p.get('cmd')}"
                                                               for m, p in EFFECTS])
def test_no_effect_is_visible_before_its_entry_is_durable(
    durable_sandbox: tuple[Sandbox, dict[str, bool]], local_url: str, method: str, params: dict[str, Any],
) -> None:
    sandbox, seen = durable_sandbox
    syncs = sandbox.store.syncs
    result = sandbox.hostcall(EXT, {"call_id": "effect-1", "method": method, "params": params})
    assert result.ok, result
    assert seen == {"effect-1": True}, "the connector ran before its ledger entry was on disk"
    assert sandbox.store.syncs == syncs + 1  # one sync covered it
    # Commands (exec, the bash tool) sync at the exec sandbox's gate, while bwrap starts up.
    probe = sandbox.connectors["exec"]
    assert isinstance(probe, OrderingProbe)
    assert probe.gated == ({"effect-1"} if route_of(method, params) == "exec" else set())


def test_http_effect_is_durable_before_the_request_leaves(
    durable_sandbox: tuple[Sandbox, dict[str, bool]], local_url: str,
) -> None:
    sandbox, seen = durable_sandbox
    result = sandbox.hostcall(EXT, {"call_id": "http-1", "method": "http", "params": {"url": local_url}})
    assert result.ok, result
    assert seen == {"http-1": True}


def test_reads_log_ui_and_own_session_entries_never_wait_for_a_sync(
    durable_sandbox: tuple[Sandbox, dict[str, bool]],
) -> None:
    sandbox, seen = durable_sandbox
    syncs = sandbox.store.syncs
    head = sandbox.store.head()[0]
    for i, (method, params) in enumerate(GROUP):
        result = sandbox.hostcall(EXT, {"call_id": f"group-{i}", "method": method, "params": params})
        assert result.ok, (method, params, result)
    assert sandbox.store.syncs == syncs  # written (one entry each), not synced
    assert sandbox.store.head()[0] == head + len(GROUP)
    assert not any(seen.values())  # none of them was on disk yet: nothing waited
    # The next effect syncs them all with its own entry.
    assert sandbox.hostcall(EXT, {"call_id": "effect-after", "method": "fs",
                                  "params": {"op": "write", "path": "after.txt", "data": "x"}}).ok
    assert sandbox.store.durable_seq == sandbox.store.head()[0]


def test_refused_effects_never_wait_for_a_sync(durable_sandbox: tuple[Sandbox, dict[str, bool]],
                                               pi_env: PiEnv) -> None:
    sandbox, seen = durable_sandbox
    syncs = sandbox.store.syncs
    # `~` is the test's HOME (pi_env: a temp dir, which a child inherits); its canary must survive.
    home_canary = pi_env.home / "canary"
    home_canary.write_text("still here", encoding="utf-8")
    refused = [
        ("fs", {"op": "write", "path": "/etc/pi-sandbox-canary", "data": "x"}),  # outside the roots
        # critical class, refused in every profile; if a broken defence ran it, it exits first, and
        # its target is the temp HOME
        ("exec", {"cmd": "sh", "args": ["-c", "exit 0; rm -rf ~"]}),
        ("fs", {"op": "explode"}),  # invalid
    ]
    for i, (method, params) in enumerate(refused):
        result = sandbox.hostcall(EXT, {"call_id": f"refused-{i}", "method": method, "params": params})
        assert not result.ok and result.ledger_seq is not None, (method, result)
    assert sandbox.store.syncs == syncs
    assert seen == {}  # no connector ran
    assert not Path("/etc/pi-sandbox-canary").exists()
    assert home_canary.read_text(encoding="utf-8") == "still here"


def test_dry_run_of_an_effect_does_not_sync(durable_sandbox: tuple[Sandbox, dict[str, bool]]) -> None:
    sandbox, _seen = durable_sandbox
    syncs = sandbox.store.syncs
    result = sandbox.hostcall(EXT, {"call_id": "dry", "method": "fs",
                                    "params": {"op": "write", "path": "dry.txt", "data": "x"}}, dry_run=True)
    assert result.ok and result.result == {"dry_run": True, "decision": "allow"}
    assert sandbox.store.syncs == syncs


def test_capability_table_covers_write_effects_of_every_spelling() -> None:
    """The class follows the derived capability, so aliases and case cannot pick the cheaper class."""
    for op in ("write", "WRITE", " mkdir", "delete", "remove", "rm"):
        assert durability_of(required_capability("fs", {"op": op})) is Durability.EFFECT
    for name in ("bash", "Bash", "edit", " write "):
        assert durability_of(required_capability("tool", {"name": name})) is Durability.EFFECT
    assert durability_of(required_capability("Exec", {})) is Durability.EFFECT
    assert durability_of(Capability.TOOL) is Durability.EFFECT  # host-registered tools: unknown effects
