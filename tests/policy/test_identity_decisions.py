"""Remembered prompt decisions belong to an identity (id + source), and old decisions keep their meaning."""

from __future__ import annotations

import json

from pi_sandbox import schemas
from pi_sandbox.capabilities import Capability
from pi_sandbox.identity import ExtensionIdentity, SourceKind, same_source
from pi_sandbox.policy import PermissionStore, PromptAnswer, PromptRequest, PromptResolver, StoredDecision
from pi_sandbox.policy.prompts import source_candidates
from pi_sandbox.trust import Actor, TransitionReason, TrustState
from tests.conftest import OpenSandbox, PiEnv

INSTALLED = ExtensionIdentity("formatter", SourceKind.INSTALLED, "/home/u/.pi/agent/sandboxed-extensions/formatter")
PROJECT_A = ExtensionIdentity("formatter", SourceKind.PROJECT, "/work/repo-a/.pi/extensions")
PROJECT_B = ExtensionIdentity("formatter", SourceKind.PROJECT, "/work/repo-b/.pi/extensions")
PATH = ExtensionIdentity("formatter", SourceKind.PATH, "/home/u/dev/formatter")


class _Always:
    def __init__(self, allow: bool = True) -> None:
        self.asked: list[PromptRequest] = []
        self.allow = allow

    def ask(self, request: PromptRequest) -> PromptAnswer:
        self.asked.append(request)
        return PromptAnswer(self.allow, "always")


def _request(identity: ExtensionIdentity | None) -> PromptRequest:
    return PromptRequest("formatter", Capability.EXEC, "exec", "x", identity=identity)


def test_an_answer_stays_with_the_identity_that_got_it(pi_env: PiEnv) -> None:
    store = PermissionStore(pi_env.state_dir)
    asker = _Always()
    resolver = PromptResolver(store, asker)
    assert resolver.resolve(_request(INSTALLED)).allow and len(asker.asked) == 1
    # The same id from a project (any checkout) or a path is asked again; the installed one is not.
    refuser = PromptResolver(PermissionStore(pi_env.state_dir), None)
    for other in (PROJECT_A, PATH):
        assert not refuser.resolve(_request(other)).allow
    assert refuser.resolve(_request(INSTALLED)).allow
    [stored] = list(PermissionStore(pi_env.state_dir))
    assert stored.source == "installed"
    # A project checkout's answer does not reach another checkout, nor the user's own extension.
    PromptResolver(store, _Always()).resolve(_request(PROJECT_A))
    assert PromptResolver(PermissionStore(pi_env.state_dir)).resolve(_request(PROJECT_A)).allow
    assert not PromptResolver(PermissionStore(pi_env.state_dir)).resolve(_request(PROJECT_B)).allow
    denier = _Always(allow=False)
    PromptResolver(store, denier).resolve(_request(PATH))
    assert PromptResolver(PermissionStore(pi_env.state_dir)).resolve(_request(INSTALLED)).allow


def test_unscoped_decisions_reach_the_users_own_sources_never_a_project(pi_env: PiEnv) -> None:
    store = PermissionStore(pi_env.state_dir)
    store.put(StoredDecision("formatter", "exec", True, "always", 1))  # `pi-sandbox policy grant` by id
    resolver = PromptResolver(PermissionStore(pi_env.state_dir))
    for identity in (INSTALLED, PATH, None):
        assert resolver.resolve(_request(identity)).allow, identity
    assert not resolver.resolve(_request(PROJECT_A)).allow
    assert source_candidates(PROJECT_A) == (PROJECT_A.source_key, "project")
    assert source_candidates(INSTALLED) == ("installed", "installed", None)


def test_session_answers_are_per_identity_too(pi_env: PiEnv) -> None:
    class Session:
        def ask(self, request: PromptRequest) -> PromptAnswer:
            return PromptAnswer(True, "session")

    resolver = PromptResolver(PermissionStore(pi_env.state_dir), Session())
    assert resolver.resolve(_request(INSTALLED)).allow
    resolver.prompter = None
    assert resolver.resolve(_request(INSTALLED)).allow
    assert not resolver.resolve(_request(PROJECT_A)).allow


def test_decisions_from_before_identities_keep_their_source(pi_env: PiEnv, open_sandbox: OpenSandbox) -> None:
    """A permissions.json written before identities (no ``source``): the decision of an extension that trust
    last recorded as a project's is bound to ``project``; the user's own stay unscoped (theirs)."""
    box = open_sandbox()
    registry = box.controls.registry
    registry.transition("helper", TrustState.PROBATION, actor=Actor.SYSTEM, reason=TransitionReason.FIRST_SEEN,
                        source="project")
    registry.transition("formatter", TrustState.PROBATION, actor=Actor.SYSTEM,
                        reason=TransitionReason.FIRST_SEEN, source="sandboxed")
    box.close()
    legacy = {"schema": schemas.PERMISSION_STORE, "decisions": [
        {"extension_id": "helper", "capability": "exec", "allow": True, "scope": "always", "decided_at_ms": 1},
        {"extension_id": "formatter", "capability": "exec", "allow": True, "scope": "always", "decided_at_ms": 1},
        {"extension_id": "never-seen", "capability": "env", "allow": False, "scope": "always", "decided_at_ms": 1},
    ]}
    (pi_env.state_dir / "permissions.json").write_text(json.dumps(legacy))
    box = open_sandbox()
    rows = {d.extension_id: d for d in box.prompts.store}
    assert len(rows) == 3  # nothing lost
    assert rows["helper"].source == "project" and rows["formatter"].source is None
    assert rows["never-seen"].source is None and rows["never-seen"].allow is False
    [record] = box.store.query_records(kind="identity_migration")
    assert record.payload == {"decisions_bound_to_project": 1}
    helper_project = ExtensionIdentity("helper", SourceKind.PROJECT, "/work/repo/.pi/extensions")
    helper_installed = ExtensionIdentity("helper", SourceKind.INSTALLED, "/x")
    req = PromptRequest("helper", Capability.EXEC, "exec", "x", identity=helper_project)
    assert box.prompts.resolve(req).allow  # the project extension it was given to keeps it
    req = PromptRequest("helper", Capability.EXEC, "exec", "x", identity=helper_installed)
    assert not box.prompts.resolve(req).allow  # and it never reaches a same-named extension of the user
    box.close()
    box = open_sandbox()  # migrating again changes nothing and records nothing more
    assert len(box.store.query_records(kind="identity_migration")) == 1


def test_trust_sources_from_before_identities_keep_their_meaning() -> None:
    assert same_source("sandboxed", "installed") and same_source("sandboxed", "global")
    assert same_source("project", PROJECT_A.source_key) and same_source("cli", PATH.source_key)
    assert not same_source("sandboxed", PROJECT_A.source_key) and not same_source("project", "installed")
    assert not same_source(PROJECT_A.source_key, PROJECT_B.source_key)
    assert same_source("installed", "installed") and not same_source(None, "installed")
