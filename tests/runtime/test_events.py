"""Combining event results across extensions the way pi does (pure function)."""

from __future__ import annotations

from typing import Any

from pi_sandbox.runtime.events import combine_event


def reply(event: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"event": {**event, "type": "x"}, "results": [], **extra}


def test_tool_call_block_stops_the_chain() -> None:
    outcome: dict[str, Any] = {}
    state, stop = combine_event("tool_call", {"toolName": "bash"}, reply({"toolName": "bash"}), "a", outcome)
    assert not stop and outcome["block"] is False and "type" not in state
    _, stop = combine_event("tool_call", state, reply(state, block={"reason": "no"}), "b", outcome)
    assert stop and outcome["block"] is True and outcome["reason"] == "no" and outcome["blocked_by"] == "b"


def test_input_transform_chains_and_handled_stops() -> None:
    outcome: dict[str, Any] = {}
    state, stop = combine_event("input", {"text": " hi "}, reply({"text": "hi"}), "a", outcome)
    assert state["text"] == "hi" and outcome["action"] == "transform" and not stop
    _, stop = combine_event("input", state, reply(state, action="handled", response="pong"), "b", outcome)
    assert stop and outcome["action"] == "handled" and outcome["handled_by"] == "b"
    assert outcome["response"] == "pong"


def test_before_agent_start_replaces_prompt_and_collects_messages() -> None:
    outcome: dict[str, Any] = {}
    new, _ = combine_event(
        "before_agent_start",
        {"systemPrompt": "base"},
        reply({"systemPrompt": "base + rules"}, messages=[{"customType": "note"}]),
        "a",
        outcome,
    )
    assert new["systemPrompt"] == "base + rules" and outcome["systemPrompt"] == "base + rules"
    assert outcome["messages"] == [{"customType": "note"}]


def test_tool_result_modification_and_session_cancel() -> None:
    outcome: dict[str, Any] = {}
    combine_event("tool_result", {"content": []}, reply({"content": [{"type": "text", "text": "x"}]}), "a", outcome)
    assert outcome["modified_by"] == ["a"]
    cancel_outcome: dict[str, Any] = {}
    _, stop = combine_event("session_before_switch", {}, reply({}, cancel=True), "b", cancel_outcome)
    assert stop and cancel_outcome["cancel"] is True
