# ruff: noqa: E501  (embedded JavaScript extension source)
"""Calls suspended for a 2026-07-28 client's retry (``input_required``) expire by time as well as by count: an
expired call is refused (its question counts as unanswered), recorded in the ledger, and a late retry gets a
clear tool error; nothing of it stays in memory.

The MCP server object runs in-process over a real front-door session (real workers, pipeline, ledger); only
the client's connection is a stand-in (a context saying: elicitation supported, no back-channel), because
the SDK's own client always retries at once.
"""

from __future__ import annotations

import gc
import json
import time
import weakref
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import mcp.types as types
import pytest

from pi_sandbox import open_session
from pi_sandbox.mcp_server.calls import (
    EXPIRED_REASON,
    MAX_EXPIRED,
    Expired,
    PromptMode,
    PromptRouter,
    Question,
    RunningCall,
    Suspended,
)
from pi_sandbox.mcp_server.server import QUESTION_INPUT, SandboxMcp
from pi_sandbox.session import PermissionAnswer, PermissionPrompt
from tests.runtime.conftest import write_file

PROBE = """
export default function (pi: any) {
  pi.registerTool({ name: "probe", description: "Read PROBE_VALUE",
    execute: async () => { const v = process.env.PROBE_VALUE; return { content: [{ type: "text", text: String(v) }], isError: v === undefined }; } });
}
"""

#: A client that can answer elicitations but has no back-channel (2026-07-28): questions become input_required.
CLIENT = SimpleNamespace(session=SimpleNamespace(client_capabilities=SimpleNamespace(elicitation=object()),
                                                 can_send_request=False))


def _wait_until(what: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture()
def probe(pi_env: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    pi_env.global_settings.write_text(json.dumps(
        {"extensionPolicy": {"profile": "balanced", "allowDangerous": True, "perExtension": {"probe": {"allow": ["env"]}}}}))
    monkeypatch.setenv("PROBE_VALUE", "plain-value")
    return write_file(pi_env.root / "exts" / "probe.ts", PROBE)


def _call(server: SandboxMcp, state: str | None = None, answer: str | None = None) -> Any:
    responses = None
    if answer is not None:
        responses = {QUESTION_INPUT: types.ElicitResult(action="accept", content={"answer": answer})}
    params = types.CallToolRequestParams(name="probe", arguments={}, request_state=state, input_responses=responses)
    return anyio.run(server._call_tool, CLIENT, params)  # type: ignore[arg-type]


@pytest.mark.parametrize("explicit", [False, True], ids=["prompt-timeout", "suspended-timeout"])
def test_a_suspended_call_past_its_time_is_refused_recorded_and_forgotten(probe: Path, explicit: bool) -> None:
    router = (PromptRouter(PromptMode.ELICIT, 60.0, suspended_timeout_s=0.4) if explicit
              else PromptRouter(PromptMode.ELICIT, 0.4))
    with open_session([probe], discover=False, on_prompt=router.ask, on_dialog=router.ask_dialog) as session:
        server = SandboxMcp(session, router)
        first = _call(server)
        assert isinstance(first, types.InputRequiredResult) and first.request_state
        assert router.pending() == 1
        # nobody retries: the call is refused when its time runs out, without waiting for a retry
        _wait_until(lambda: router.pending() == 0)
        _wait_until(lambda: any(e.reason == EXPIRED_REASON for e in session.ledger(extension="probe")))
        (entry,) = [e for e in session.ledger(extension="probe") if e.reason == EXPIRED_REASON]
        assert (entry.kind, entry.decision) == ("runtime", "deny")
        # the late retry, even with an "allow", is refused with a clear message; the value never leaves
        late = _call(server, first.request_state, answer="once")
        assert isinstance(late, types.CallToolResult) and late.is_error
        text = "\n".join(c.text for c in late.content if isinstance(c, types.TextContent))
        assert "plain-value" not in text and EXPIRED_REASON in text and "did not answer within 0.4 s" in text
        assert "--suspended-timeout" in text
        def reasons() -> list[str]:
            return [e.reason for e in session.ledger(extension="probe") if e.kind == "hostcall"]

        # the refused question's own decision is written by the call's hostcall thread as it unwinds (under
        # load, after the expiry entry above)
        _wait_until(lambda: "prompt_no_answer_deny" in reasons())
        assert "prompt_user_allow" not in reasons()
        # a fresh call is asked again and, answered in time, runs
        again = _call(server)
        assert isinstance(again, types.InputRequiredResult)
        done = _call(server, again.request_state, answer="once")
        assert isinstance(done, types.CallToolResult) and not done.is_error
        assert done.content[0].text == "plain-value"  # type: ignore[union-attr]


def test_an_answer_in_time_still_resumes(probe: Path) -> None:
    router = PromptRouter(PromptMode.ELICIT, 60.0, suspended_timeout_s=30.0)
    with open_session([probe], discover=False, on_prompt=router.ask, on_dialog=router.ask_dialog) as session:
        server = SandboxMcp(session, router)
        first = _call(server)
        done = _call(server, first.request_state, answer="once")
        assert isinstance(done, types.CallToolResult) and not done.is_error
        assert router.pending() == 0
        assert not [e for e in session.ledger(extension="probe") if e.reason == EXPIRED_REASON]


def test_expired_calls_leave_nothing_behind_and_ask_no_more() -> None:
    """Many suspended calls with a short time: all refused (each question answered no, each recorded once),
    the router's memory stays bounded, the calls are freed, and a refused call's next question is not asked."""
    recorded: list[Expired] = []
    router = PromptRouter(PromptMode.ELICIT, 60.0, suspended_timeout_s=0.2,
                          on_expired=lambda _s, e: recorded.append(e))
    questions: list[Question] = []
    calls: list[weakref.ref[RunningCall]] = []
    tokens = []
    n = MAX_EXPIRED + 50
    for i in range(n):
        call = RunningCall("ext", lambda: None)
        question = Question(PermissionPrompt("ext", "env", "env", "why", f"p{i}"))
        questions.append(question)
        calls.append(weakref.ref(call))
        tokens.append(router.suspend(Suspended(call, question, "tool", {})))
        del call
    _wait_until(lambda: router.pending() == 0)
    _wait_until(lambda: len(recorded) == n)
    assert all(q.wait(0) is None for q in questions)  # answered: no answer, i.e. a deny
    assert len(router._expired) == MAX_EXPIRED  # remembered for late retries, bounded
    assert isinstance(router.resume(tokens[-1]), Expired) and router.resume(tokens[0]) is None
    gc.collect()
    assert sum(ref() is not None for ref in calls) == 0, "refused calls are still referenced"
    _wait_until(lambda: router._sweeper is None)  # the expiry thread ends when nothing waits

    # a refused call that goes on running asks nobody: its next question gets the headless answer at once
    running = RunningCall("ext2", lambda: None)
    token = router.suspend(Suspended(running, Question(PermissionPrompt("ext2", "env", "env", "why", "x")),
                                     "tool", {}))
    _wait_until(lambda: router.pending() == 0)
    assert isinstance(router.resume(token), Expired)
    with router.holding(running):
        started = time.monotonic()
        assert router.ask(PermissionPrompt("ext2", "env", "env", "why", "y")) is PermissionAnswer.UNASKED  # headless deny
        assert time.monotonic() - started < 30 and running.events.empty()


def test_count_bound_still_refuses_the_oldest(monkeypatch: pytest.MonkeyPatch) -> None:
    import pi_sandbox.mcp_server.calls as calls

    monkeypatch.setattr(calls, "MAX_SUSPENDED", 3)
    recorded: list[Expired] = []
    router = PromptRouter(PromptMode.ELICIT, 60.0, suspended_timeout_s=600, on_expired=lambda _s, e: recorded.append(e))
    tokens = [router.suspend(Suspended(RunningCall("ext", lambda: None),
                                       Question(PermissionPrompt("ext", "env", "env", "why", f"p{i}")),
                                       "tool", {})) for i in range(5)]
    assert router.pending() == 3 and len(recorded) == 2 and "more than 3 calls" in recorded[0].why
    assert isinstance(router.resume(tokens[0]), Expired)
    assert isinstance(router.resume(tokens[4]), Suspended)
