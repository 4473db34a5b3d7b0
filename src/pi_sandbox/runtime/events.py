"""How the results of several extensions' handlers for one pi event combine (pi's semantics).

Extensions run in load order and each sees the event as the previous one left it:
``tool_call`` — the first ``{block: true, reason}`` wins and stops the chain, and **later handlers can
only make a call stricter**: every extension whose handler ran without blocking has approved the call
as it saw it, so once one has, a later change to the call (its ``input`` or anything else) is refused —
the approved call stands, the attempt is listed in ``rewrites_refused`` (the host records it) — while
blocking stays possible; only the first extension to approve may change ``input``; ``input`` — a
``transform`` rewrites the text for the next extension, ``handled`` stops the chain;
``before_agent_start`` — a returned ``systemPrompt`` replaces the prompt, messages accumulate;
``tool_result`` — returned ``content`` / ``details`` / ``isError`` replace the result's fields;
``session_before_*`` — ``cancel: true`` stops the chain; ``context`` — ``messages`` are replaced.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

_EMPTY_ASSISTANT: dict[str, Any] = {"role": "assistant", "content": [], "stopReason": "stop"}


def complete_event(event: str, data: Mapping[str, Any], *, cwd: str, model: Any = None) -> dict[str, Any]:
    """The event as pi shapes it: fields pi always sets are filled in when the caller left them out.

    Handlers written for pi read them without checks (``event.systemPromptOptions.selectedTools``,
    ``event.messages.length``, ``event.input.command``), so a host that emits a partial event
    (``pi-sandbox events emit tool_call --data '{"toolName": "bash"}'``) must not make them throw. Values the
    caller gave are never changed. Shapes from pi's ``ExtensionEvent`` types (coding-agent 0.73).
    """
    now = int(time.time() * 1000)
    defaults: dict[str, dict[str, Any]] = {
        "session_start": {"reason": "startup"},
        "session_shutdown": {"reason": "quit"},
        "session_before_switch": {"reason": "new"},
        "session_before_fork": {"entryId": "", "position": "before"},
        "session_tree": {"newLeafId": None, "oldLeafId": None},
        "resources_discover": {"cwd": cwd, "reason": "startup"},
        "before_agent_start": {"prompt": "", "systemPrompt": "", "systemPromptOptions": prompt_options(cwd)},
        "agent_end": {"messages": []},
        "turn_start": {"turnIndex": 0, "timestamp": now},
        "turn_end": {"turnIndex": 0, "message": _EMPTY_ASSISTANT, "toolResults": []},
        "message_start": {"message": _EMPTY_ASSISTANT},
        "message_end": {"message": _EMPTY_ASSISTANT},
        "context": {"messages": []},
        "tool_call": {"toolCallId": "", "toolName": "", "input": {}},
        "tool_result": {"toolCallId": "", "toolName": "", "input": {}, "content": [], "isError": False},
        "tool_execution_start": {"toolCallId": "", "toolName": "", "args": {}},
        "tool_execution_end": {"toolCallId": "", "toolName": "", "result": None, "isError": False},
        "user_bash": {"command": "", "excludeFromContext": False, "cwd": cwd},
        "input": {"text": "", "source": "interactive"},
        "model_select": {"model": model, "previousModel": None, "source": "set"},
        "thinking_level_select": {"level": "off", "previousLevel": "off"},
    }
    completed = {**defaults.get(event, {}), **data}
    given = data.get("systemPromptOptions")
    if event == "before_agent_start" and isinstance(given, Mapping):
        completed["systemPromptOptions"] = {**prompt_options(cwd), **given}
    return completed


def prompt_options(cwd: str) -> dict[str, Any]:
    """pi's ``systemPromptOptions`` as handlers see them (1.x ``normalizeBuildSystemPromptOptions``: every
    collection present, so ``options.sections.x = ...`` and ``options.toolSnippets[name]`` work)."""
    return {"cwd": cwd, "selectedTools": [], "hiddenTools": [], "toolSnippets": {}, "toolGuidelines": {},
            "promptGuidelines": [], "appendSystemPrompt": "", "sections": {}, "contextFiles": [], "skills": []}


def combine_event(
    event: str, state: dict[str, Any], reply: dict[str, Any], extension_id: str, outcome: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Fold one extension's event reply into ``outcome``; returns (state for the next, stop?)."""
    updated = reply.get("event")
    new_state = dict(updated) if isinstance(updated, dict) else dict(state)
    new_state.pop("type", None)
    results = reply.get("results") or []
    if results:
        outcome.setdefault("results", []).extend({"extension_id": extension_id, "result": r} for r in results)
    if event == "tool_call":
        new_state = _only_stricter(state, new_state, extension_id, outcome)
        block = reply.get("block")
        if isinstance(block, dict):
            outcome.update(block=True, reason=str(block.get("reason", "")), blocked_by=extension_id)
            return new_state, True
        outcome.setdefault("block", False)
        if reply.get("handled", 0):
            outcome.setdefault("approved_by", []).append(extension_id)
    elif event == "input":
        if new_state.get("text") != state.get("text") or new_state.get("images") != state.get("images"):
            outcome["action"] = "transform"
            outcome.setdefault("transformed_by", []).append(extension_id)
        if reply.get("action") == "handled":
            outcome.update(action="handled", handled_by=extension_id)
            if "response" in reply:
                outcome["response"] = reply["response"]  # e.g. an instant answer without the LLM
            return new_state, True
        outcome.setdefault("action", "continue")
    elif event == "before_agent_start":
        if new_state.get("systemPrompt") != state.get("systemPrompt"):
            outcome["systemPrompt"] = new_state.get("systemPrompt")
            outcome["systemPrompt_by"] = extension_id
        messages = reply.get("messages") or []
        if messages:
            outcome.setdefault("messages", []).extend(messages)
    elif event == "tool_result":
        if any(new_state.get(k) != state.get(k) for k in ("content", "details", "isError")):
            outcome.setdefault("modified_by", []).append(extension_id)
    elif event.startswith("session_before_") and reply.get("cancel"):
        outcome.update(cancel=True, cancelled_by=extension_id)
        return new_state, True
    return new_state, False


def _only_stricter(state: dict[str, Any], new_state: dict[str, Any], extension_id: str,
                   outcome: dict[str, Any]) -> dict[str, Any]:
    """The ``tool_call`` this extension may pass on: its change if it is the first to approve and only
    ``input`` changed, else the call as it was (and the attempt is listed in ``rewrites_refused``)."""
    if new_state == state:
        return new_state
    other_fields = {k for k in {*state, *new_state} if k != "input" and state.get(k) != new_state.get(k)}
    if outcome.get("approved_by") or other_fields:
        outcome.setdefault("rewrites_refused", []).append(extension_id)
        return dict(state)
    outcome["modified_by"] = extension_id
    return new_state
