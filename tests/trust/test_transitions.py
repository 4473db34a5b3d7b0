"""The trust lifecycle: the transition table, replay from the ledger, automatic moves, verify."""

from __future__ import annotations

import itertools
import sqlite3
import time

import pytest

from pi_sandbox.audit import AuditStore, LedgerEntryDraft
from pi_sandbox.config.model import TrustSettings
from pi_sandbox.errors import TrustTransitionError
from pi_sandbox.trust import (
    Actor,
    TransitionReason,
    TrustRegistry,
    TrustState,
    promote,
    quarantine,
    verify_ledger_and_trust,
)
from pi_sandbox.trust.states import TRANSITIONS, check_transition
from tests.conftest import OpenSandbox, PiEnv

S = TrustState
LEGAL = {
    (S.UNKNOWN, S.PROBATION): {Actor.SYSTEM, Actor.OPERATOR},
    (S.UNKNOWN, S.TRUSTED): {Actor.OPERATOR},
    (S.PROBATION, S.TRUSTED): {Actor.SYSTEM, Actor.OPERATOR},
    (S.TRUSTED, S.PROBATION): {Actor.SYSTEM, Actor.OPERATOR},
    (S.PROBATION, S.PROBATION): {Actor.SYSTEM},
    (S.QUARANTINED, S.PROBATION): {Actor.OPERATOR},
    (S.QUARANTINED, S.TRUSTED): {Actor.OPERATOR},
    (S.UNKNOWN, S.QUARANTINED): {Actor.SYSTEM, Actor.OPERATOR},
    (S.PROBATION, S.QUARANTINED): {Actor.SYSTEM, Actor.OPERATOR},
    (S.TRUSTED, S.QUARANTINED): {Actor.SYSTEM, Actor.OPERATOR},
}


@pytest.mark.parametrize(("src", "dst", "actor"), list(itertools.product(S, S, Actor)))
def test_transition_table(src: TrustState, dst: TrustState, actor: Actor) -> None:
    legal = actor in LEGAL.get((src, dst), set())
    if legal:
        check_transition(src, dst, actor, "reviewed")
    else:
        with pytest.raises(TrustTransitionError):
            check_transition(src, dst, actor, "reviewed")
    assert {k: set(v) for k, v in TRANSITIONS.items()} == LEGAL


def test_leaving_quarantine_needs_a_reason() -> None:
    with pytest.raises(TrustTransitionError, match="reason"):
        check_transition(S.QUARANTINED, S.PROBATION, Actor.OPERATOR, "  ")


def _registry(pi_env: PiEnv, **settings: object) -> tuple[AuditStore, TrustRegistry]:
    store = AuditStore.open(pi_env.state_dir)
    return store, TrustRegistry(store, TrustSettings(**settings))  # type: ignore[arg-type]


def test_first_load_is_probation_and_changed_code_goes_back(pi_env: PiEnv) -> None:
    store, reg = _registry(pi_env)
    with store:
        assert reg.observe_load("ext.a", "project", "h1") is S.PROBATION
        reg.transition("ext.a", S.TRUSTED, actor=Actor.OPERATOR, reason=TransitionReason.OPERATOR_PROMOTION,
                       note="reviewed")
        assert reg.observe_load("ext.a", "project", "h1") is S.TRUSTED  # same code: stays trusted
        assert reg.observe_load("ext.a", "project", "h2") is S.PROBATION  # new code: probation again
        history = [(t.from_state, t.to_state, t.reason, t.actor) for t in reg.history("ext.a")]
        assert history == [
            (S.UNKNOWN, S.PROBATION, "first_seen", Actor.SYSTEM),
            (S.PROBATION, S.TRUSTED, "operator_promotion", Actor.OPERATOR),
            (S.TRUSTED, S.PROBATION, "content_changed", Actor.SYSTEM),
        ]
        assert {a.category for a in store.query_alerts(extension_id="ext.a")} == {"trust_transition"}


def test_probation_starts_over_when_code_or_source_changes(pi_env: PiEnv) -> None:
    """A clean record earned by one source's code never promotes another's: the count restarts."""
    store, reg = _registry(pi_env)
    with store:
        assert reg.observe_load("ext.a", "installed", "h1") is S.PROBATION
        assert reg.observe_load("ext.a", "installed", "h1") is S.PROBATION  # same identity: nothing recorded
        assert reg.observe_load("ext.a", "project:abc", "h1") is S.PROBATION
        assert reg.observe_load("ext.a", "project:abc", "h2") is S.PROBATION
        assert [(t.from_state, t.to_state, t.reason, t.source) for t in reg.history("ext.a")] == [
            (S.UNKNOWN, S.PROBATION, "first_seen", "installed"),
            (S.PROBATION, S.PROBATION, "content_changed", "project:abc"),
            (S.PROBATION, S.PROBATION, "content_changed", "project:abc"),
        ]
        reg.transition("ext.a", S.QUARANTINED, actor=Actor.OPERATOR, reason=TransitionReason.OPERATOR_QUARANTINE,
                       note="x")
        assert reg.observe_load("ext.a", "installed", "h3") is S.QUARANTINED  # quarantine is never shed
    assert not verify_ledger_and_trust(pi_env.state_dir).verification_errors


def test_state_survives_restart_and_is_shared_between_processes(pi_env: PiEnv) -> None:
    store, reg = _registry(pi_env)
    with store:
        reg.observe_load("ext.a", "project", "h1")
        quarantine(pi_env.state_dir, TrustSettings(), "ext.a", "suspicious exfil")  # another store, like the CLI
        reg.reload()
        assert reg.state("ext.a") is S.QUARANTINED
    store2, reg2 = _registry(pi_env)
    with store2:
        assert reg2.state("ext.a") is S.QUARANTINED
        assert reg2.observe_load("ext.a", "project", "h9") is S.QUARANTINED  # new code does not escape


def test_clean_record_counts_hostcalls_of_earlier_sessions(open_sandbox: OpenSandbox) -> None:
    box = open_sandbox(settings={"extensionTrust": {"promoteAfterHostcalls": 4, "promoteAfterHours": 1}})
    box.controls.registry.observe_load("ext.a", "project", "h1")
    for i in range(3):
        assert box.hostcall("ext.a", {"call_id": f"c{i}", "method": "fs", "params": {"op": "stat", "path": "."}}).ok
    box.close()
    again = open_sandbox(settings={"extensionTrust": {"promoteAfterHostcalls": 4, "promoteAfterHours": 1}})
    again.controls.registry._standing["ext.a"].since_ms -= 3_600_001  # noqa: SLF001
    assert again.hostcall("ext.a", {"call_id": "c9", "method": "fs", "params": {"op": "stat", "path": "."}}).ok
    assert again.controls.registry.state("ext.a") is S.TRUSTED  # 3 earlier + 1 now


def test_auto_promotion_after_a_clean_record(pi_env: PiEnv) -> None:
    store, reg = _registry(pi_env, promote_after_hostcalls=5, promote_after_hours=1)
    with store:
        reg.observe_load("ext.a", "project", "h1")
        for _ in range(10):
            reg.note_hostcall("ext.a", True)
        assert reg.state("ext.a") is S.PROBATION  # not old enough yet
        # an hour later (the registry measures age from the recorded transition time)
        reg._standing["ext.a"].since_ms -= 3_600_001  # noqa: SLF001 - age the record instead of sleeping
        reg.note_hostcall("ext.a", True)
        assert reg.state("ext.a") is S.TRUSTED
        assert reg.history("ext.a")[-1].reason == "clean_record"


def test_a_denial_blocks_auto_promotion(pi_env: PiEnv) -> None:
    store, reg = _registry(pi_env, promote_after_hostcalls=3, promote_after_hours=1)
    with store:
        reg.observe_load("ext.a", "project", "h1")
        reg._standing["ext.a"].since_ms -= 3_600_001  # noqa: SLF001
        reg.note_hostcall("ext.a", False)
        for _ in range(10):
            reg.note_hostcall("ext.a", True)
        assert reg.state("ext.a") is S.PROBATION


@pytest.mark.parametrize(("reason", "setting"), [
    (TransitionReason.QUOTA_BREACHES, "quarantine_after_quota_breaches"),
    (TransitionReason.RISK_DENIALS, "quarantine_after_risk_denials"),
    (TransitionReason.INTEGRITY_FAILURES, "quarantine_after_integrity_failures"),
])
def test_repeated_failures_quarantine(pi_env: PiEnv, reason: TransitionReason, setting: str) -> None:
    store, reg = _registry(pi_env, **{setting: 3})
    with store:
        reg.observe_load("ext.a", "project", "h1")
        assert [reg.note_event("ext.a", reason) for _ in range(3)] == [S.PROBATION, S.PROBATION, S.QUARANTINED]
        last = reg.history("ext.a")[-1]
        assert (last.to_state, last.actor, last.reason) == (S.QUARANTINED, Actor.SYSTEM, reason)
        (alert,) = store.query_alerts(category="quarantine")
        assert alert.severity == "critical"


def test_operator_release_from_quarantine(pi_env: PiEnv) -> None:
    store, reg = _registry(pi_env)
    with store:
        reg.observe_load("ext.a", "project", "h1")
        reg.transition("ext.a", S.QUARANTINED, actor=Actor.OPERATOR, reason="operator_quarantine", note="x")
        with pytest.raises(TrustTransitionError):
            reg.transition("ext.a", S.PROBATION, actor=Actor.SYSTEM, reason="clean_record", note="auto")
        with pytest.raises(TrustTransitionError, match="reason"):
            promote(pi_env.state_dir, TrustSettings(), "ext.a", S.PROBATION, "")
        released = promote(pi_env.state_dir, TrustSettings(), "ext.a", S.PROBATION, "false positive, reviewed")
        assert (released.from_state, released.to_state, released.actor) == (S.QUARANTINED, S.PROBATION, Actor.OPERATOR)
        assert verify_ledger_and_trust(pi_env.state_dir).chain_valid


def test_forged_exit_from_quarantine_moves_nothing_and_verify_reports_it(pi_env: PiEnv) -> None:
    """An entry appended through the store (so the chain is intact) that leaves quarantine as 'system'."""
    store, reg = _registry(pi_env)
    with store:
        reg.observe_load("ext.a", "project", "h1")
        quarantine(pi_env.state_dir, TrustSettings(), "ext.a", "exfil attempt")
        store.append(LedgerEntryDraft(kind="trust", extension_id="ext.a", decision="trusted", reason="clean_record",
                                      detail={"from": "quarantined", "to": "trusted", "actor": "system",
                                              "actor_name": "system", "note": ""}))
        reg.reload()
        assert reg.state("ext.a") is S.QUARANTINED  # fail closed
    report = verify_ledger_and_trust(pi_env.state_dir)
    assert not report.chain_valid
    assert [e.kind for e in report.verification_errors] == ["illegal_trust_transition"]


def test_edited_quarantine_row_is_reported_by_verify(pi_env: PiEnv) -> None:
    """The runbook's INC-5 case: someone edits the database so the extension looks trusted."""
    store, reg = _registry(pi_env)
    with store:
        reg.observe_load("ext.a", "project", "h1")
        seq = reg.transition("ext.a", S.QUARANTINED, actor=Actor.SYSTEM, reason="risk_denials", note="3").seq
    conn = sqlite3.connect(pi_env.state_dir / "security.db")
    conn.execute("UPDATE ledger SET decision = 'trusted', detail = replace(detail, '\"to\":\"quarantined\"', "
                 "'\"to\":\"trusted\"') WHERE seq = ?", (seq,))
    conn.commit()
    conn.close()
    report = verify_ledger_and_trust(pi_env.state_dir)
    assert not report.chain_valid
    assert report.first_invalid_seq == seq
    assert "hash_mismatch" in {e.kind for e in report.verification_errors}


def test_transition_time_is_recorded(pi_env: PiEnv) -> None:
    store, reg = _registry(pi_env)
    with store:
        before = int(time.time() * 1000)
        t = reg.observe_load("ext.a", "global", "h1")
        assert t is S.PROBATION
        (entry,) = store.query_ledger(kind="trust")
        assert entry.ts_ms >= before and entry.detail["actor_name"] == "system"
