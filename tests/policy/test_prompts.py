"""Prompt resolution (INV-008): headless fails closed and is not persisted; scopes; expiry; revoke."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from pi_sandbox.capabilities import Capability
from pi_sandbox.cli.main import main
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.errors import StateDirError
from pi_sandbox.policy import PermissionStore, PromptAnswer, PromptRequest, PromptResolver, StoredDecision
from tests.conftest import MakeConfig, OpenSandbox, PiEnv

#: A hostcall whose capability (``tool``) is in no profile's default caps: balanced prompts for it.
CUSTOM_TOOL = {"name": "custom", "input": {}}


class ScriptedPrompter:
    """A UI that answers from a script and remembers what it was asked."""

    def __init__(self, *answers: PromptAnswer | None | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[PromptRequest] = []

    def ask(self, request: PromptRequest) -> PromptAnswer | None:
        self.asked.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture()
def balanced(open_sandbox: OpenSandbox) -> Callable[..., Sandbox]:
    """A balanced-profile sandbox (``tool`` prompts) with an optional prompter."""

    def make(prompter: Any = None) -> Sandbox:
        box = open_sandbox(cli_profile="balanced", prompter=prompter)
        box.tools.handler = lambda _ext, name, _args: {"ran": name}
        return box

    return make


def _prompted(box: Sandbox, make_request: Callable[..., dict[str, Any]], ext: str = "ext.a") -> Any:
    return box.hostcall(ext, make_request("tool", CUSTOM_TOOL))


def test_headless_prompt_denies_and_is_not_persisted(
    pi_env: PiEnv, balanced: Callable[..., Sandbox], make_request: Callable[..., dict[str, Any]]
) -> None:
    box = balanced()
    perms = pi_env.state_dir / "permissions.json"
    before = perms.read_bytes() if perms.exists() else None
    result = _prompted(box, make_request)
    assert (result.ok, result.error_code, result.reason) == (False, "denied", "prompt_headless_deny")
    assert "pi-sandbox policy grant" in (result.message or "")
    assert (perms.read_bytes() if perms.exists() else None) == before
    assert list(box.prompts.store) == []
    # A UI attached later is still asked: the headless deny was not remembered.
    ui = ScriptedPrompter(PromptAnswer(True, "once"))
    assert _prompted(balanced(ui), make_request).ok
    assert len(ui.asked) == 1
    entries = box.store.query_ledger(extension_id="ext.a")
    assert [(e.decision, e.reason, e.layer) for e in entries] == [
        ("deny", "prompt_headless_deny", 5), ("allow", "prompt_user_allow", 5)]
    alerts = box.store.query_alerts(category="policy_violation", extension_id="ext.a")
    assert [a.reason_codes for a in alerts] == [("prompt_headless_deny",)]


def test_prompt_request_names_extension_capability_and_method(
    balanced: Callable[..., Sandbox], make_request: Callable[..., dict[str, Any]]
) -> None:
    ui = ScriptedPrompter(PromptAnswer(False, "once"))
    result = _prompted(balanced(ui), make_request, ext="ext.z")
    assert (result.ok, result.reason) == (False, "prompt_user_deny")
    (asked,) = ui.asked
    assert (asked.extension_id, asked.capability, asked.method) == ("ext.z", Capability.TOOL, "tool")
    assert asked.explanation


def test_allow_once_is_not_cached(
    pi_env: PiEnv, balanced: Callable[..., Sandbox], make_request: Callable[..., dict[str, Any]]
) -> None:
    ui = ScriptedPrompter(PromptAnswer(True, "once"))
    box = balanced(ui)
    assert _prompted(box, make_request).ok and _prompted(box, make_request).ok
    assert len(ui.asked) == 2
    assert not (pi_env.state_dir / "permissions.json").exists()


def test_allow_session_is_cached_in_memory_only(
    pi_env: PiEnv, balanced: Callable[..., Sandbox], make_request: Callable[..., dict[str, Any]]
) -> None:
    ui = ScriptedPrompter(PromptAnswer(True, "session"))
    box = balanced(ui)
    first, second = _prompted(box, make_request), _prompted(box, make_request)
    assert first.ok and second.ok
    assert len(ui.asked) == 1
    assert [e.reason for e in box.store.query_ledger(extension_id="ext.a")] == [
        "prompt_user_allow", "prompt_cache_allow"]
    assert not (pi_env.state_dir / "permissions.json").exists()
    # Other extensions and other capabilities are not covered by this answer.
    assert _prompted(box, make_request, ext="ext.b").ok
    assert len(ui.asked) == 2
    # A new session (new sandbox) asks again.
    ui2 = ScriptedPrompter(PromptAnswer(False, "once"))
    assert not _prompted(balanced(ui2), make_request).ok
    assert len(ui2.asked) == 1


def test_allow_always_is_persisted_and_survives_restart(
    pi_env: PiEnv, balanced: Callable[..., Sandbox], make_request: Callable[..., dict[str, Any]]
) -> None:
    ui = ScriptedPrompter(PromptAnswer(True, "always"))
    assert _prompted(balanced(ui), make_request).ok
    doc = json.loads((pi_env.state_dir / "permissions.json").read_text())
    assert [(d["extension_id"], d["capability"], d["allow"], d["scope"]) for d in doc["decisions"]] == [
        ("ext.a", "tool", True, "always")]
    headless = balanced()
    result = _prompted(headless, make_request)
    assert result.ok
    assert headless.store.query_ledger(limit=1)[0].reason == "prompt_store_allow"


def test_deny_always_is_persisted(
    balanced: Callable[..., Sandbox], make_request: Callable[..., dict[str, Any]]
) -> None:
    ui = ScriptedPrompter(PromptAnswer(False, "always"))
    assert not _prompted(balanced(ui), make_request).ok
    ui2 = ScriptedPrompter(PromptAnswer(True, "once"))
    result = _prompted(balanced(ui2), make_request)
    assert (result.ok, result.reason) == (False, "prompt_store_deny")
    assert ui2.asked == []


@pytest.mark.parametrize("failure", [RuntimeError("ui crashed"), None], ids=["raises", "no-answer"])
def test_broken_prompter_fails_closed(
    balanced: Callable[..., Sandbox], make_request: Callable[..., dict[str, Any]], failure: Exception | None
) -> None:
    box = balanced(ScriptedPrompter(failure))
    result = _prompted(box, make_request)
    assert (result.ok, result.error_code, result.reason) == (False, "denied", "prompt_no_answer_deny")
    assert box.store.query_ledger(limit=1)[0].decision == "deny"


def test_prompter_with_invalid_scope_fails_closed(
    balanced: Callable[..., Sandbox], make_request: Callable[..., dict[str, Any]]
) -> None:
    """Regression: an answer with an unknown scope used to raise PolicyError out of the hostcall."""
    box = balanced(ScriptedPrompter(PromptAnswer(True, "forever")))
    result = _prompted(box, make_request)
    assert (result.ok, result.error_code, result.reason) == (False, "denied", "prompt_invalid_answer_deny")
    assert [e.decision for e in box.store.query_ledger(extension_id="ext.a")] == ["deny"]
    assert list(box.prompts.store) == []


def test_prompts_only_for_prompt_decisions(
    balanced: Callable[..., Sandbox], make_request: Callable[..., dict[str, Any]]
) -> None:
    ui = ScriptedPrompter(PromptAnswer(True, "always"))
    box = balanced(ui)
    assert box.hostcall("ext.a", make_request("fs", {"op": "stat", "path": "."})).ok  # default cap
    assert not box.hostcall("ext.a", make_request("exec", {"cmd": "true"})).ok  # deny_caps
    assert ui.asked == []
    assert box.prompts.store.get("ext.a", "exec") is None


# --- store and resolver units --------------------------------------------------------------------


def test_store_expiry_is_checked_on_every_lookup(pi_env: PiEnv) -> None:
    store = PermissionStore(pi_env.state_dir)
    store.put(StoredDecision("ext.a", "ui", True, "always", 1_000, expires_at_ms=5_000))
    assert store.get("ext.a", "ui", now_ms=4_999) is not None
    assert store.get("ext.a", "ui", now_ms=5_000) is None
    reopened = PermissionStore(pi_env.state_dir)
    assert reopened.get("ext.a", "ui", now_ms=4_000) is not None
    assert reopened.get("ext.a", "ui", now_ms=6_000) is None


def test_resolver_ignores_expired_always_and_asks_again(pi_env: PiEnv) -> None:
    store = PermissionStore(pi_env.state_dir)
    store.put(StoredDecision("ext.a", "ui", True, "always", 0, expires_at_ms=_now_ms() - 1))
    ui = ScriptedPrompter(PromptAnswer(False, "once"))
    resolution = PromptResolver(store, ui).resolve(PromptRequest("ext.a", Capability.UI, "ui", ""))
    assert (resolution.allow, resolution.reason) == (False, "prompt_user_deny")
    assert len(ui.asked) == 1


def test_session_answer_with_expiry_expires(pi_env: PiEnv) -> None:
    ui = ScriptedPrompter(PromptAnswer(True, "session", expires_at_ms=_now_ms() + 150),
                          PromptAnswer(False, "once"))
    resolver = PromptResolver(PermissionStore(pi_env.state_dir), ui)
    request = PromptRequest("ext.a", Capability.UI, "ui", "")
    assert resolver.resolve(request).reason == "prompt_user_allow"
    assert resolver.resolve(request).reason == "prompt_cache_allow"
    time.sleep(0.2)
    assert resolver.resolve(request).reason == "prompt_user_deny"


def test_revoke_forgets_session_and_persisted_decisions(pi_env: PiEnv) -> None:
    store = PermissionStore(pi_env.state_dir)
    ui = ScriptedPrompter(PromptAnswer(True, "session"), PromptAnswer(True, "always"), PromptAnswer(False, "once"))
    resolver = PromptResolver(store, ui)
    resolver.resolve(PromptRequest("ext.a", Capability.UI, "ui", ""))
    resolver.resolve(PromptRequest("ext.a", Capability.LOG, "log", ""))
    store.put(StoredDecision("ext.b", "ui", True, "always", 0))
    assert resolver.revoke("ext.a") == 2
    assert resolver.resolve(PromptRequest("ext.a", Capability.UI, "ui", "")).reason == "prompt_user_deny"
    assert PermissionStore(pi_env.state_dir).get("ext.a", "log") is None
    assert PermissionStore(pi_env.state_dir).get("ext.b", "ui") is not None
    assert store.revoke("ext.b", "log") == 0
    assert store.revoke("ext.b", "ui") == 1


def test_permission_store_file_is_atomic_json_with_schema(pi_env: PiEnv) -> None:
    store = PermissionStore(pi_env.state_dir)
    store.put(StoredDecision("ext.a", "ui", True, "always", 1))
    doc = json.loads((pi_env.state_dir / "permissions.json").read_text())
    assert doc["schema"] == "pi.security.permission_store.v1"
    assert not [p for p in pi_env.state_dir.iterdir() if p.name.startswith(".permissions.")]


def test_cli_grant_revoke_decisions(
    pi_env: PiEnv, make_config: MakeConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "grant", "--extension", "ext.a", "--capability", "TOOL", "--expires", "1h", "--json"]) == 0
    granted = json.loads(capsys.readouterr().out)
    assert (granted["capability"], granted["allow"], granted["scope"]) == ("tool", True, "always")
    assert 3_500_000 < granted["expires_at_ms"] - granted["decided_at_ms"] <= 3_600_000
    assert main(["policy", "decisions", "--json"]) == 0
    assert [d["extension_id"] for d in json.loads(capsys.readouterr().out)] == ["ext.a"]
    box = Sandbox.open(make_config(cli_profile="balanced"))
    box.tools.handler = lambda _ext, name, _args: {"ran": name}
    try:
        assert box.hostcall("ext.a", {"call_id": "c", "method": "tool", "params": CUSTOM_TOOL}).ok
    finally:
        box.close()
    assert main(["policy", "revoke", "--extension", "ext.a", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"revoked": 1}
    assert main(["policy", "grant", "--extension", "ext.a", "--capability", "root"]) == 2
    assert "unknown capability" in capsys.readouterr().err


def test_cli_revoke_reaches_a_running_host_and_is_not_resurrected(
    pi_env: PiEnv, balanced: Callable[..., Sandbox], make_request: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regression: the store was read once at start, so a revoke from another process did not reach a
    running host, and the host's next persisted answer rewrote the revoked grant back into the file."""
    assert main(["policy", "grant", "--extension", "ext.a", "--capability", "tool"]) == 0
    host = balanced(ScriptedPrompter(PromptAnswer(True, "always")))
    assert _prompted(host, make_request).ok
    assert host.store.query_ledger(limit=1)[0].reason == "prompt_store_allow"
    assert main(["policy", "revoke", "--extension", "ext.a"]) == 0
    capsys.readouterr()
    assert host.prompts.store.get("ext.a", "tool") is None
    assert _prompted(host, make_request, ext="ext.b").ok  # the host persists a new 'always' answer...
    doc = json.loads((pi_env.state_dir / "permissions.json").read_text())
    assert [d["extension_id"] for d in doc["decisions"]] == ["ext.b"]  # ...without resurrecting ext.a
    assert host.store.query_ledger(limit=1)[0].reason == "prompt_user_allow"


def test_permission_file_damaged_while_running_fails_closed(pi_env: PiEnv) -> None:
    store = PermissionStore(pi_env.state_dir)
    store.put(StoredDecision("ext.a", "ui", True, "always", 0))
    (pi_env.state_dir / "permissions.json").write_text("{damaged")
    assert store.get("ext.a", "tool") is None


def _write_decisions(pi_env: PiEnv, decisions: Any) -> None:
    pi_env.state_dir.mkdir(parents=True, exist_ok=True)
    (pi_env.state_dir / "permissions.json").write_text(
        json.dumps({"schema": "pi.security.permission_store.v1", "decisions": decisions}))


@pytest.mark.parametrize(
    "entry",
    [
        {"allow": "false"},  # a hand-edited string: truthy, so it used to ALLOW
        {"allow": "no"},
        {"allow": 1},
        {"expires_at_ms": "1"},  # used to raise TypeError out of the hostcall
        {"expires_at_ms": True},
        {"scope": "forever"},
        {"capability": 5},
        {"extension_id": None},
    ],
)
def test_mistyped_permission_entry_never_allows(
    pi_env: PiEnv, balanced: Callable[..., Sandbox], make_request: Callable[..., dict[str, Any]],
    entry: dict[str, Any],
) -> None:
    """Regression: entries were built with ``StoredDecision(**item)`` without type checks, so
    ``"allow": "false"`` granted the capability; a damaged file must fail closed with a clear error."""
    base = {"extension_id": "ext.a", "capability": "tool", "allow": False, "scope": "always", "decided_at_ms": 0,
            "expires_at_ms": None}
    _write_decisions(pi_env, [{**base, **entry}])
    with pytest.raises(StateDirError, match="malformed decision entry"):
        PermissionStore(pi_env.state_dir)
    _write_decisions(pi_env, [])
    host = balanced()  # a running host whose file is damaged later: the prompt path fails closed
    _write_decisions(pi_env, [{**base, **entry}, {**base, "capability": "log", "allow": True}])
    assert host.prompts.store.get("ext.a", "ui") is None
    assert not _prompted(host, make_request).ok


@pytest.mark.parametrize("decisions", [5, "x", {"a": 1}, [1], [[1, 2]]])
def test_malformed_decisions_list_is_a_state_dir_error(pi_env: PiEnv, decisions: Any) -> None:
    _write_decisions(pi_env, decisions)
    with pytest.raises(StateDirError, match=str(pi_env.state_dir / "permissions.json")):
        PermissionStore(pi_env.state_dir)


def test_deeply_nested_permission_file_is_a_state_dir_error(pi_env: PiEnv) -> None:
    pi_env.state_dir.mkdir(parents=True, exist_ok=True)
    (pi_env.state_dir / "permissions.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(StateDirError):
        PermissionStore(pi_env.state_dir)


def test_concurrent_revoke_in_another_process_is_not_overwritten(pi_env: PiEnv) -> None:
    """Regression: put() re-read the file and wrote it back without a cross-process lock; a revoke that
    landed between the two was overwritten and the revoked grant came back."""
    import threading

    host, cli = PermissionStore(pi_env.state_dir), PermissionStore(pi_env.state_dir)
    host.put(StoredDecision("ext.a", "ui", True, "always", 0))
    revoker: list[threading.Thread] = []
    real_write = host._write

    def write_after_a_concurrent_revoke() -> None:
        thread = threading.Thread(target=cli.revoke, args=("ext.a",))
        revoker.append(thread)
        thread.start()
        thread.join(0.5)  # with the lock the revoke waits for this write; without it, it lands first
        real_write()

    host._write = write_after_a_concurrent_revoke  # type: ignore[method-assign]
    host.put(StoredDecision("ext.b", "ui", True, "always", 0))
    revoker[0].join(10)
    doc = json.loads((pi_env.state_dir / "permissions.json").read_text())
    assert [d["extension_id"] for d in doc["decisions"]] == ["ext.b"]


@pytest.mark.parametrize("answer", [
    PromptAnswer("no", "once"),  # type: ignore[arg-type]  # a UI bridged from JSON: truthy string
    PromptAnswer(1, "always"),  # type: ignore[arg-type]
    PromptAnswer(True, "always", expires_at_ms="tomorrow"),  # type: ignore[arg-type]
    PromptAnswer(True, "session", expires_at_ms=True),  # type: ignore[arg-type]
    True,  # not a PromptAnswer at all: raised AttributeError out of the hostcall
])
def test_prompter_answer_with_wrong_types_fails_closed(
    balanced: Callable[..., Sandbox], make_request: Callable[..., dict[str, Any]], answer: PromptAnswer
) -> None:
    """Regression: ``allow="no"`` allowed the call, and a non-integer expiry was persisted and later raised."""
    box = balanced(ScriptedPrompter(answer))
    for _ in range(2):
        result = _prompted(box, make_request)
        assert (result.ok, result.reason) == (False, "prompt_invalid_answer_deny")
    assert list(box.prompts.store) == []
