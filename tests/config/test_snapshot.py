"""Configuration snapshots: plain JSON without secrets, a content digest, and the way back."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pi_sandbox.config.snapshot import from_snapshot, snapshot, snapshot_digest


def test_snapshot_round_trips_and_leaves_the_environment_out(make_config: Any) -> None:
    settings = {"extensionPolicy": {
        "profile": "balanced", "allowDangerous": True,
        "perExtension": {"x": {"allow": ["exec"], "deny": ["http"], "quota": {"maxHostcallsPerSecond": 5}}},
        "execMediation": {"allowPatterns": ["git status"]},
    }}
    config = make_config(settings=settings, env={"OPENAI_API_KEY": "sk-test-should-not-appear-123"})
    data = snapshot(config)
    text = json.dumps(data)
    assert "sk-test-should-not-appear-123" not in text and "environ" not in data
    back = from_snapshot(json.loads(text))
    assert back == dataclasses.replace(config, environ={}, warnings=())
    assert snapshot_digest(snapshot(back)) == snapshot_digest(data)


def test_digest_changes_with_any_setting(make_config: Any) -> None:
    base = snapshot_digest(snapshot(make_config(settings={})))
    assert snapshot_digest(snapshot(make_config(settings={}))) == base
    changed = make_config(settings={"extensionPolicy": {"perExtension": {"x": {"deny": ["write"]}}}})
    assert snapshot_digest(snapshot(changed)) != base


def test_every_sandbox_keeps_its_config_version_and_entries_name_it(open_sandbox: Any, make_request: Any) -> None:
    first = open_sandbox(settings={})
    first.hostcall("x", make_request("log", {"level": "info", "message": "one"}))
    first.close()
    second = open_sandbox(settings={"extensionPolicy": {"perExtension": {"x": {"deny": ["log"]}}}})
    second.hostcall("x", make_request("log", {"level": "info", "message": "two"}))
    one, two = second.store.query_ledger(extension_id="x")
    assert one.detail["config_digest"] == first.config_digest != two.detail["config_digest"] == second.config_digest
    for box in (first, second):
        stored = second.store.config_version(box.config_digest)
        assert stored is not None and snapshot_digest(stored) == box.config_digest
        assert from_snapshot(stored).per_extension.get("x") == box.config.per_extension.get("x")
