"""The hostcall pipeline: validation, capability mismatch, stage order, one ledger entry per decision."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from pi_sandbox.audit import AuditStore, verify_ledger
from pi_sandbox.config import SecurityConfig
from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.dispatch import AlertSpec, CallInfo, HostcallRequest, Sandbox, Verdict
from pi_sandbox.hashing import params_hash, sha256_hex
from pi_sandbox.vocabulary import AlertCategory, ErrorCode, Severity, StageName
from tests.conftest import MakeConfig, OpenSandbox, PiEnv

Request = Callable[..., dict[str, Any]]


class ProbeConnector:
    """A connector at the true edge: records each call and what the ledger held when it ran."""

    def __init__(self, store: AuditStore | None = None, fail: Exception | None = None) -> None:
        self.store = store
        self.fail = fail
        self.calls: list[tuple[str, Mapping[str, Any]]] = []
        self.ledger_at_call: list[list[Any]] = []

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        self.calls.append((ctx.call_id, dict(params)))
        if self.store is not None:
            self.ledger_at_call.append(self.store.query_ledger())
        if self.fail is not None:
            raise self.fail
        return {"probe": True}


class DenyStage:
    """A stage that refuses every call (what a quota / risk / trust stage does when it trips)."""

    def __init__(self, name: StageName, reason: str) -> None:
        self.name = name
        self.reason = reason
        self.seen: list[CallInfo] = []

    def decide(self, call: CallInfo) -> Verdict:
        self.seen.append(call)
        code = ErrorCode.QUOTA_EXCEEDED if self.name == StageName.QUOTA else ErrorCode.DENIED
        return Verdict.deny(self.reason, f"refused by {self.name}", code=code,
                            alert=AlertSpec(AlertCategory.QUOTA_BREACH, Severity.WARNING))


@pytest.fixture()
def custom_sandbox(make_config: MakeConfig, pi_env: PiEnv) -> Iterator[Callable[..., Sandbox]]:
    """A sandbox built with extra connectors / gates on a real store."""
    boxes: list[Sandbox] = []

    def build(config: SecurityConfig | None = None, **kwargs: Any) -> Sandbox:
        cfg = config or make_config()
        box = Sandbox(cfg, AuditStore.open(cfg.state_dir), **kwargs)
        boxes.append(box)
        return box

    yield build
    for box in boxes:
        box.close()


# --- capability derivation is server-side (INV-001 / INV-002) -----------------------------------


@pytest.mark.parametrize(("method", "params", "declared"), [
    ("fs", {"op": "write", "path": "pwned.txt", "data": "x"}, "read"),
    ("tool", {"name": "write", "input": {"path": "pwned.txt", "content": "x"}}, "read"),
    ("tool", {"name": "bash", "input": {"command": "touch pwned.txt"}}, "tool"),
    ("fs", {"op": "write", "path": "pwned.txt", "data": "x"}, "nonsense"),
], ids=["fs-write-as-read", "tool-write-as-read", "bash-as-tool", "unknown-declared"])
def test_declared_capability_mismatch_is_invalid_nothing_runs_and_alerts(
    pi_env: PiEnv, open_sandbox: OpenSandbox, make_request: Request, method: str, params: dict[str, Any],
    declared: str,
) -> None:
    box = open_sandbox(cli_profile="permissive", env={"PI_EXTENSION_ALLOW_DANGEROUS": "1"})
    result = box.hostcall("ext.evil", make_request(method, params, capability=declared))
    assert (result.ok, result.error_code, result.reason) == (False, "invalid_request", "invalid_request")
    assert "derived by pi-sandbox" in (result.message or "")
    assert not (pi_env.workspace / "pwned.txt").exists()
    entries = box.store.query_ledger(extension_id="ext.evil")
    assert [(e.kind, e.decision, e.reason) for e in entries] == [("hostcall", "invalid", "invalid_request")]
    assert entries[0].detail["capability_mismatch"] is True
    assert entries[0].params_hash == params_hash(method, params)
    alerts = box.store.query_alerts(category="policy_violation", extension_id="ext.evil")
    assert [(a.reason_codes, a.severity) for a in alerts] == [(("capability_mismatch",), "error")]


def test_matching_declared_capability_is_accepted_case_insensitively(
    sandbox: Sandbox, make_request: Request
) -> None:
    result = sandbox.hostcall("ext.a", make_request("fs", {"op": "stat", "path": "."}, capability=" READ "))
    assert result.ok and result.capability == "read"


def test_unknown_method_is_invalid_without_alert(sandbox: Sandbox, make_request: Request) -> None:
    result = sandbox.hostcall("ext.a", make_request("teleport", {}))
    assert result.error_code == "invalid_request"
    assert sandbox.store.query_alerts(extension_id="ext.a") == []
    assert sandbox.store.query_ledger(extension_id="ext.a")[0].detail["capability_mismatch"] is False


# --- evidence: one ledger entry per decision ------------------------------------------------------


def test_allowed_call_is_recorded_once_before_the_effect(
    custom_sandbox: Callable[..., Sandbox], make_request: Request
) -> None:
    probe = ProbeConnector()
    box = custom_sandbox(connectors={"events": probe})
    probe.store = box.store
    params = {"op": "emit", "event": "ping"}
    result = box.hostcall("ext.a", make_request("events", params))
    assert result.ok and result.result == {"probe": True}
    (seen,) = probe.ledger_at_call
    assert [(e.decision, e.reason, e.layer, e.call_id) for e in seen] == [("allow", "default_caps", 4, "call-1")]
    after = box.store.query_ledger(extension_id="ext.a")
    assert after == seen
    entry = after[0]
    assert (entry.capability, entry.method, entry.params_hash) == ("events", "events", params_hash("events", params))
    assert result.ledger_seq == entry.seq


def test_policy_deny_is_recorded_once_with_alert_and_connector_not_run(
    custom_sandbox: Callable[..., Sandbox], make_request: Request
) -> None:
    probe = ProbeConnector()
    box = custom_sandbox(connectors={"tool": probe, "exec": probe})
    tool = box.hostcall("ext.a", make_request("tool", {"name": "custom"}))
    ex = box.hostcall("ext.a", make_request("exec", {"cmd": "rm", "args": ["-rf", "/"]}))
    assert (tool.error_code, tool.reason) == ("denied", "not_in_default_caps")
    assert (ex.error_code, ex.reason) == ("denied", "deny_caps")
    assert "layer 2" in (ex.message or "") and "allowDangerous" in (ex.message or "")
    assert probe.calls == []
    entries = box.store.query_ledger(extension_id="ext.a")
    assert [(e.decision, e.layer, e.reason, e.capability) for e in entries] == [
        ("deny", 5, "not_in_default_caps", "tool"), ("deny", 2, "deny_caps", "exec")]
    alerts = box.store.query_alerts(category="policy_violation", extension_id="ext.a")
    assert [(a.reason_codes, a.capability, a.call_id) for a in alerts] == [
        (("not_in_default_caps",), "tool", "call-1"), (("deny_caps",), "exec", "call-2")]


def test_every_decision_appends_exactly_one_entry(
    sandbox: Sandbox, make_request: Request
) -> None:
    calls = [
        make_request("fs", {"op": "stat", "path": "."}),       # allow
        make_request("tool", {"name": "custom"}),                  # policy deny
        make_request("fs", {"op": "bogus", "path": "."}),      # invalid
        make_request("log", {"message": "x"}, capability="write"),  # mismatch
        make_request("fs", {"op": "read", "path": "missing.txt"}),  # allowed, connector io error
        make_request("events", {"op": "emit", "event": "e"}),  # allow
    ]
    for req in calls:
        sandbox.hostcall("ext.a", req)
    entries = sandbox.store.query_ledger(extension_id="ext.a")
    assert [e.call_id for e in entries] == [c["call_id"] for c in calls]
    assert [e.decision for e in entries] == ["allow", "deny", "invalid", "invalid", "allow", "allow"]
    assert verify_ledger(sandbox.store).chain_valid


def test_io_error_result_is_operator_readable(sandbox: Sandbox, make_request: Request) -> None:
    result = sandbox.hostcall("ext.a", make_request("fs", {"op": "read", "path": "missing.txt"}))
    assert (result.ok, result.error_code, result.reason) == (False, "io", "not_found")
    assert "missing.txt" in (result.message or "")


def test_connector_crash_is_internal_error_not_exception(
    custom_sandbox: Callable[..., Sandbox], make_request: Request
) -> None:
    box = custom_sandbox(connectors={"events": ProbeConnector(fail=RuntimeError("secret internals sk-123"))})
    result = box.hostcall("ext.a", make_request("events", {"op": "emit", "event": "x"}))
    assert (result.ok, result.error_code, result.reason) == (False, "internal", "connector_crash")
    assert "sk-123" not in (result.message or "")
    assert [e.decision for e in box.store.query_ledger(extension_id="ext.a")] == ["allow"]


def test_hostile_numbers_in_params_are_recorded_not_crashing(sandbox: Sandbox, make_request: Request) -> None:
    """Regression: params_hash used to raise on 2**64 / inf, escaping hostcall with no ledger entry."""
    ok = sandbox.hostcall("ext.a", make_request("fs", {"op": "stat", "path": ".", "n": 2**64}))
    bad = sandbox.hostcall("ext.a", make_request("nope", {"n": float("inf")}))
    assert ok.ok and bad.error_code == "invalid_request"
    assert [e.decision for e in sandbox.store.query_ledger(extension_id="ext.a")] == ["allow", "invalid"]


# --- stage slots: trust first, then policy, then quota / risk / mediation --------------------------


def test_trust_gate_runs_before_policy(custom_sandbox: Callable[..., Sandbox], make_request: Request) -> None:
    trust = DenyStage(StageName.TRUST, "kill_switch_active")
    probe = ProbeConnector()
    box = custom_sandbox(stages={StageName.TRUST: trust}, connectors={"tool": probe})
    result = box.hostcall("ext.a", make_request("tool", {"name": "custom"}))  # policy would deny too
    assert (result.error_code, result.reason) == ("denied", "kill_switch_active")
    (entry,) = box.store.query_ledger(extension_id="ext.a")
    assert (entry.decision, entry.reason, entry.layer, entry.detail["stage"]) == (
        "deny", "kill_switch_active", None, "trust")
    assert trust.seen[0].capability.value == "tool"
    assert probe.calls == []


@pytest.mark.parametrize("stage", ["quota", "risk", "mediation"])
def test_later_gates_only_tighten_after_policy_allows(
    custom_sandbox: Callable[..., Sandbox], make_request: Request, stage: str
) -> None:
    gate = DenyStage(StageName(stage), f"{stage}_refused")
    probe = ProbeConnector()
    box = custom_sandbox(stages={StageName(stage): gate}, connectors={"events": probe, "tool": probe})
    denied_by_policy = box.hostcall("ext.a", make_request("tool", {"name": "custom"}))
    assert denied_by_policy.reason == "not_in_default_caps"
    assert gate.seen == []  # a policy deny is final: later stages never see the call
    result = box.hostcall("ext.a", make_request("events", {"op": "emit", "event": "x"}))
    assert (result.ok, result.reason) == (False, f"{stage}_refused")
    assert probe.calls == []
    entry = box.store.query_ledger(extension_id="ext.a")[-1]
    assert (entry.decision, entry.layer, entry.detail["stage"]) == ("deny", 4, stage)
    assert [a.reason_codes for a in box.store.query_alerts(category="quota_breach")] == [(f"{stage}_refused",)]


# --- config events on open -------------------------------------------------------------------------


def _config_entries(box: Sandbox) -> list[tuple[str, str]]:
    return [(e.decision, e.reason) for e in box.store.query_ledger() if e.kind == "config"]


def test_allow_dangerous_opt_in_is_recorded_on_open(pi_env: PiEnv, open_sandbox: OpenSandbox) -> None:
    box = open_sandbox(settings={"extensionPolicy": {"allowDangerous": True}})
    (entry,) = [e for e in box.store.query_ledger() if e.reason == "allow_dangerous_opt_in"]
    assert entry.kind == "config" and entry.extension_id is None
    assert entry.detail["capabilities_unblocked"] == ["env", "exec"]
    assert entry.detail["profile"] == "safe"
    assert str(pi_env.global_settings) in entry.detail["source"]


def test_allow_dangerous_from_env_records_env_source(open_sandbox: OpenSandbox) -> None:
    box = open_sandbox(cli_profile="balanced", env={"PI_EXTENSION_ALLOW_DANGEROUS": "true"})
    (entry,) = [e for e in box.store.query_ledger() if e.reason == "allow_dangerous_opt_in"]
    assert entry.detail["source"] == "env:PI_EXTENSION_ALLOW_DANGEROUS"


def test_no_opt_in_entry_without_allow_dangerous(sandbox: Sandbox) -> None:
    assert _config_entries(sandbox) == []


def test_loosening_between_opens_is_recorded(open_sandbox: OpenSandbox, make_config: MakeConfig) -> None:
    open_sandbox(make_config()).close()
    box = open_sandbox(make_config(settings={"extensionPolicy": {"profile": "permissive",
                                                                 "execMediation": {"enabled": False}}}))
    loosened = [e for e in box.store.query_ledger() if e.reason == "settings_loosened"]
    assert len(loosened) == 1
    assert set(loosened[0].detail["fields"]) == {"profile", "exec_mediation_enabled"}
    box.close()
    again = open_sandbox(make_config())  # same settings file → no new loosening
    tighter = [e for e in again.store.query_ledger() if e.reason == "settings_loosened"]
    assert len(tighter) == 1
    again.close()
    back = open_sandbox(make_config(settings={}))  # tightening is not a loosening
    assert len([e for e in back.store.query_ledger() if e.reason == "settings_loosened"]) == 1


def test_per_extension_allow_added_between_opens_is_a_loosening(
    open_sandbox: OpenSandbox, make_config: MakeConfig
) -> None:
    open_sandbox(make_config()).close()
    box = open_sandbox(make_config(settings={"extensionPolicy": {"perExtension": {"ext.a": {"allow": ["tool"]}}}}))
    (entry,) = [e for e in box.store.query_ledger() if e.reason == "settings_loosened"]
    assert entry.detail["fields"] == ["per_extension_allow.ext.a"]


@pytest.mark.parametrize(("before", "field"), [
    ({"extensionPolicy": {"perExtension": {"ext.a": {"deny": ["http", "write"]}}}}, "per_extension_deny.ext.a"),
    ({"extensionPolicy": {"execMediation": {"denyPatterns": ["curl *"]}}}, "exec_deny_patterns"),
    ({"extensionPolicy": {"http": {"denyHosts": ["evil.example"]}}}, "http_deny_hosts"),
    ({"extensionPolicy": {"secretBroker": {"extraNames": ["MY_TOKEN"]}}}, "secret_extra_rules"),
])
def test_removing_a_deny_rule_between_opens_is_a_loosening(
    open_sandbox: OpenSandbox, make_config: MakeConfig, pi_env: PiEnv, before: dict[str, Any], field: str
) -> None:
    """Regression: only added allows were detected; dropping a deny rule went unrecorded."""
    open_sandbox(make_config(settings=before)).close()
    box = open_sandbox(make_config(settings={}))
    (entry,) = [e for e in box.store.query_ledger() if e.reason == "settings_loosened"]
    assert entry.detail["fields"] == [field]
    postures = box.store.query_records(kind="config_posture")
    assert "curl" not in str([p.payload for p in postures]) and "MY_TOKEN" not in str([p.payload for p in postures])


def test_refused_project_loosening_is_recorded(open_sandbox: OpenSandbox) -> None:
    box = open_sandbox(project_settings={"extensionPolicy": {"allowDangerous": True}})
    assert ("deny", "project_loosening_refused") in _config_entries(box)
    (entry,) = [e for e in box.store.query_ledger() if e.reason == "project_loosening_refused"]
    assert entry.detail == {"key": "extensionPolicy.allow_dangerous"}


# --- INV-012: parameters are kept only in redacted form ---------------------------------------------


def test_secret_values_never_reach_the_database_while_redacted_params_do(
    pi_env: PiEnv, open_sandbox: OpenSandbox, make_request: Request
) -> None:
    """Every decision keeps a redacted copy of its parameters (which path, command, host) — but a withheld
    secret value inside them is the broker's placeholder, and a large payload only its size and hash."""
    secret = "sk-live-7f3a9c1e-d0e5-4b1f-9a77-5c2d8e6b0a44"
    marker = "MARKER-path-5c2d8e6b"
    bulk = "B" * 50_000
    box = open_sandbox(cli_profile="balanced", env={"OPENAI_API_KEY": secret})
    results = [
        box.hostcall("ext.a", make_request("fs", {"op": "write", "path": f"{marker}.txt", "data": secret})),
        box.hostcall("ext.a", make_request("fs", {"op": "read", "path": f"/etc/{marker}/{secret}"})),  # confinement
        box.hostcall("ext.a", make_request("tool", {"name": "custom", "input": {"t": secret}})),  # prompt deny
        box.hostcall("ext.a", make_request("exec", {"cmd": secret})),  # policy deny
        box.hostcall("ext.a", make_request("fs", {"op": "zap", "path": secret})),  # invalid
        box.hostcall("ext.a", make_request("fs", {"op": "write", "path": secret}, capability="read")),  # mismatch
        box.hostcall("ext.a", make_request("events", {"op": "emit", "event": marker, "data": {secret: secret}})),
        box.hostcall("ext.a", make_request("fs", {"op": "write", "path": f"{marker}-bulk.txt", "data": bulk})),
    ]
    assert [r.ok for r in results] == [True, False, False, False, False, False, True, True]
    assert (pi_env.workspace / f"{marker}.txt").read_text() == secret  # the effect happened
    expected_hash = params_hash("fs", {"op": "write", "path": f"{marker}.txt", "data": secret})
    entries = box.store.query_ledger(extension_id="ext.a")
    assert entries[0].params_hash == expected_hash
    records = box.store.forensic_records(entries[0].seq, entries[-1].seq)
    assert len(records) == len(entries)  # every decision, invalid ones included, has its forensic record
    first = records[entries[0].seq]["disclosed"]["params"]["value"]
    assert first == {"op": "write", "path": f"{marker}.txt", "data": "[REDACTED]"}
    last = records[entries[-1].seq]["disclosed"]["params"]["value"]
    assert last["data"] == {"truncated": True, "size": 50_000, "sha256": sha256_hex(bulk)}
    box.close()
    db = b"".join(p.read_bytes() for p in sorted(pi_env.state_dir.glob("security.db*")))
    assert secret.encode() not in db and bulk[:1000].encode() not in db
    assert marker.encode() in db and expected_hash.encode() in db


def test_concurrent_hostcalls_each_leave_exactly_one_entry(sandbox: Sandbox) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(20):
                method, params = (("fs", {"op": "stat", "path": "."}) if i % 2 else ("tool", {"name": "custom"}))
                result = sandbox.hostcall(f"ext.{n}", {"call_id": f"t{n}-{i}", "method": method, "params": params})
                assert result.ok == (i % 2 == 1)
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    entries = [e for e in sandbox.store.query_ledger() if e.kind == "hostcall"]
    assert sorted(e.call_id for e in entries) == sorted(f"t{n}-{i}" for n in range(6) for i in range(20))
    assert [e.seq for e in sandbox.store.query_ledger()] == list(range(1, len(sandbox.store.query_ledger()) + 1))
    assert verify_ledger(sandbox.store).chain_valid


def test_request_object_form_is_accepted(sandbox: Sandbox) -> None:
    result = sandbox.hostcall("ext.a", HostcallRequest("c-obj", "fs", {"op": "stat", "path": "."}, "read"))
    assert (result.ok, result.call_id, result.capability) == (True, "c-obj", "read")
    bad = sandbox.hostcall("ext.a", HostcallRequest("c-bad", "fs", {"op": "stat", "path": "."}, "write"))
    assert (bad.error_code, bad.call_id) == ("invalid_request", "c-bad")
    assert [e.decision for e in sandbox.store.query_ledger(extension_id="ext.a")] == ["allow", "invalid"]


def test_first_open_records_settings_looser_than_defaults(make_config: Any) -> None:
    """A config that is loose from the very first open (mediation off) is recorded as loosened."""
    config = make_config(settings={"extensionPolicy": {"execMediation": {"enabled": False}}})
    sandbox = Sandbox.open(config)
    try:
        loosened = [e for e in sandbox.store.query_ledger() if e.reason == "settings_loosened"]
        assert len(loosened) == 1
        assert "exec_mediation_enabled" in loosened[0].detail["fields"]
    finally:
        sandbox.close()


def test_allowed_env_and_exec_entries_carry_name_and_command_hashes(make_config: Any) -> None:
    """INC-2 evidence: an env read's ledger entry carries the name's hash; exec carries the command hash."""
    from pi_sandbox.hashing import sha256_hex

    config = make_config(settings={"extensionPolicy": {"profile": "permissive"}},
                         env={"MY_SERVICE_TOKEN": "tok-4f9a8b7c6d5e"})
    sandbox = Sandbox.open(config)
    try:
        assert sandbox.hostcall("x", {"call_id": "e1", "method": "env", "params": {"name": "MY_SERVICE_TOKEN"}}).ok
        assert sandbox.hostcall("x", {"call_id": "x1", "method": "exec", "params": {"cmd": "true", "args": []}}).ok
        entries = {e.call_id: e for e in sandbox.store.query_ledger(extension_id="x")}
        assert sandbox.store.forensic_fields(entries["e1"].seq)["name_hash"] == sha256_hex("MY_SERVICE_TOKEN")
        assert entries["e1"].detail["secret_verdict"] != "allowed"
        assert len(sandbox.store.forensic_fields(entries["x1"].seq)["command_hash"]) == 64
        # In the forensic record (which a bundle can withhold), not in the chained detail.
        assert "name_hash" not in entries["e1"].detail and "command_hash" not in entries["x1"].detail
    finally:
        sandbox.close()


@pytest.mark.parametrize(("before", "after", "field"), [
    # Same number of allow patterns, but a different (broader) one: the count did not change.
    ({"execMediation": {"allowPatterns": ["git status"]}}, {"execMediation": {"allowPatterns": ["rm *"]}},
     "exec_allow_patterns"),
    # An empty allowHosts means any host: dropping or widening the allowlist loosens.
    ({"http": {"allowHosts": ["api.example"]}}, {}, "http_allow_hosts"),
    ({"http": {"allowHosts": ["api.example"]}}, {"http": {"allowHosts": ["api.example", "evil.example"]}},
     "http_allow_hosts"),
    ({"execMediation": {"auditAllClassified": True}}, {"execMediation": {"auditAllClassified": False}},
     "exec_audit_all_classified"),
    ({}, {"execMediation": {"auditAllClassified": False}}, "exec_audit_all_classified"),
])
def test_loosening_that_posture_used_to_miss_is_recorded(
    open_sandbox: OpenSandbox, make_config: MakeConfig, before: dict[str, Any], after: dict[str, Any], field: str
) -> None:
    """Regression: these changes loosened security without a ``settings_loosened`` ledger entry."""
    first = open_sandbox(make_config(settings={"extensionPolicy": before}))
    head = first.store.head()[0]
    first.close()
    box = open_sandbox(make_config(settings={"extensionPolicy": after}))
    (entry,) = [e for e in box.store.query_ledger() if e.reason == "settings_loosened" and e.seq > head]
    assert entry.detail["fields"] == [field]
    payloads = str([p.payload for p in box.store.query_records(kind="config_posture")])
    assert "api.example" not in payloads and "git status" not in payloads


def test_risk_fail_open_is_a_loosening(open_sandbox: OpenSandbox, make_config: MakeConfig) -> None:
    first = open_sandbox(make_config(settings={"extensionRisk": {"enabled": True}}))
    head = first.store.head()[0]
    first.close()
    box = open_sandbox(make_config(settings={"extensionRisk": {"enabled": True, "failClosed": False}}))
    (entry,) = [e for e in box.store.query_ledger() if e.reason == "settings_loosened" and e.seq > head]
    assert entry.detail["fields"] == ["risk_fail_closed"]


def test_posture_recorded_by_an_older_version_compares_without_crashing(
    open_sandbox: OpenSandbox, make_config: MakeConfig
) -> None:
    from pi_sandbox.config.posture import loosened_fields, security_posture

    old = {**security_posture(make_config()), "exec_allow_patterns": 0}  # counts, before hashes
    for key in ("http_allow_hosts", "risk_fail_closed", "exec_audit_all_classified"):
        old.pop(key, None)
    now = security_posture(make_config(settings={"extensionPolicy": {"execMediation": {"allowPatterns": ["ls"]}}}))
    assert loosened_fields(old, now) == ["exec_allow_patterns"]
    assert loosened_fields(old, security_posture(make_config(settings={}))) == []


def test_lone_surrogates_in_a_request_are_recorded_not_crashing(sandbox: Sandbox, make_request: Request) -> None:
    """Regression: JSON from a worker may carry lone surrogates (JS strings can). They made params_hash
    and the ledger raise out of hostcall, so the call left no ledger entry at all (a way to hide probes)."""
    results = [
        sandbox.hostcall("ext.a", make_request("fs", {"op": "stat", "path": "\ud800"})),
        sandbox.hostcall("ext.a", make_request("exec", {"cmd": "rm", "args": ["-rf", "\udfff"]})),
        sandbox.hostcall("ext.a", {"call_id": "c\ud800", "method": "fs", "params": {"op": "stat", "path": "."}}),
        sandbox.hostcall("ext.a", {"call_id": "c1", "method": "f\ud800s", "params": {}}),
        sandbox.hostcall("ext.a", {"call_id": "c2", "method": "fs", "capability": "w\ud800",
                                   "params": {"op": "stat", "path": "."}}),
        sandbox.hostcall("ext.a", make_request("fs", {"op": "stat", "path": ".", "k\ud800": 1})),
    ]
    assert [r.ok for r in results] == [False] * 5 + [True]
    assert [r.error_code for r in results[2:5]] == ["invalid_request"] * 3
    assert results[2].call_id == "c\ud800"  # the caller matches the answer by its own call_id
    entries = sandbox.store.query_ledger(extension_id="ext.a")
    assert [e.decision for e in entries] == ["allow", "deny", "invalid", "invalid", "invalid", "allow"]
    assert len({e.params_hash for e in entries[:2]}) == 2
    for entry in entries:
        assert "\ud800" not in (entry.call_id or "") + (entry.method or "")


@pytest.mark.parametrize("tool_input", ["rm -rf /", [1, 2], [["command", "echo x"]], 5])
def test_tool_input_that_is_not_an_object_is_invalid_and_recorded(
    open_sandbox: OpenSandbox, make_request: Request, tool_input: Any
) -> None:
    """Regression: ``dict(input)`` in the mediation stage raised out of hostcall (no ledger entry), or
    turned a list of pairs into a command."""
    box = open_sandbox(cli_profile="permissive")
    result = box.hostcall("ext.a", make_request("tool", {"name": "bash", "input": tool_input}))
    assert (result.ok, result.error_code) == (False, "invalid_request")
    (entry,) = box.store.query_ledger(extension_id="ext.a")
    assert entry.decision == "invalid"


def test_unknown_method_text_is_recorded_as_a_hash_only(sandbox: Sandbox) -> None:
    """Regression: an invalid call's method (free text from the extension) went into the ledger raw, so
    an extension could write a secret it holds into the evidence as a 'method name'."""
    secret = "sk-live-4f9a8b7c6d5e4f3a2b1c"
    result = sandbox.hostcall("ext.a", {"call_id": "c1", "method": secret, "params": {}})
    mismatch = sandbox.hostcall("ext.a", {"call_id": "c2", "method": secret, "capability": "read", "params": {}})
    assert result.error_code == mismatch.error_code == "invalid_request"
    entries = sandbox.store.query_ledger(extension_id="ext.a")
    assert [e.decision for e in entries] == ["invalid", "invalid"]
    assert entries[0].method is None and len(entries[0].detail["method_hash"]) == 64
    evidence = str([e.to_dict() for e in entries]) + str([a.to_dict() for a in sandbox.store.query_alerts()])
    assert secret not in evidence and secret[:20] not in evidence
    known = sandbox.hostcall("ext.a", {"call_id": "c3", "method": "fs", "params": {"op": "nope"}})
    assert known.error_code == "invalid_request"
    assert sandbox.store.query_ledger(extension_id="ext.a")[-1].method == "fs"


@pytest.mark.parametrize("payload", [{"http_allow_hosts": 5}, {"per_extension_allow": [1]}, {"profile": {"x": 1}}])
def test_malformed_previous_posture_record_does_not_break_open(
    open_sandbox: OpenSandbox, make_config: MakeConfig, payload: dict[str, Any]
) -> None:
    """A damaged side record must not make every Sandbox.open raise a TypeError (traceback)."""
    first = open_sandbox(make_config())
    first.store.record("config_posture", payload)
    first.close()
    box = open_sandbox(make_config(settings={"extensionPolicy": {"profile": "permissive"}}))
    loosened = [e for e in box.store.query_ledger() if e.reason == "settings_loosened"]
    assert loosened and "profile" in loosened[-1].detail["fields"]
