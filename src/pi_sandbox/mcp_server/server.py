"""``pi-sandbox mcp``: the sandboxed extensions' tools for any MCP client (docs/mcp.md).

Built on the official ``mcp`` SDK's low-level ``Server`` over a front-door :class:`~pi_sandbox.Session`:
``tools/list`` gives each loaded tool with its JSON Schema, ``tools/call`` runs it through the session
(every effect through the pipeline and the ledger). A tool error, and every hostcall the pipeline
denied during the call, come back as an MCP tool error (``isError``) whose text carries the
remediation. Permission prompts are asked by MCP elicitation: a request to the client during the call
(handshake-era protocol) or an ``input_required`` result the client answers by retrying the call
(2026-07-28, which has no back-channel).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

import anyio
import mcp.types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from pi_sandbox import __version__
from pi_sandbox.errors import PiSandboxError, ToolArgumentsError, ToolNotFoundError
from pi_sandbox.mcp_server.calls import (
    EXPIRED_REASON,
    Expired,
    Finished,
    PromptMode,
    PromptRouter,
    Question,
    RunningCall,
    Suspended,
)
from pi_sandbox.session import Dialog, PermissionAnswer, PermissionPrompt, Session, ToolResult, ToolSpec

SERVER_NAME: Final = "pi-sandbox"
#: Key of the question in a 2026-07-28 ``input_required`` result.
QUESTION_INPUT: Final = "pi-sandbox/question"
#: ``_meta`` key of a result's denials (capability, method, reason, remediation, ledger seq).
DENIALS_META: Final = "pi-sandbox/denials"
#: The answers a person can give, in the order a client shows them.
ELICIT_ANSWERS: Final = (PermissionAnswer.ONCE, PermissionAnswer.SESSION, PermissionAnswer.ALWAYS,
                         PermissionAnswer.DENY)
_ANSWER_TITLES: Final = {PermissionAnswer.ONCE: "Allow once", PermissionAnswer.SESSION: "Allow for this session",
                         PermissionAnswer.ALWAYS: "Always allow", PermissionAnswer.DENY: "Deny"}
#: The form a permission prompt asks for: one choice (spec-valid titled single-select enum).
ELICIT_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"answer": {
        "type": "string", "title": "Answer",
        "oneOf": [{"const": a.value, "title": _ANSWER_TITLES[a]} for a in ELICIT_ANSWERS],
    }},
    "required": ["answer"],
}
#: Longest idle wait between looks for extension timers (new timers are set by calls in between).
TIMER_POLL_S: Final = 1.0
#: MCP tool names: 1-128 of these characters (the spec's SHOULD; clients reject others).
_TOOL_NAME: Final = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_NAME_CHAR: Final = re.compile(r"[^A-Za-z0-9_.-]")
INSTRUCTIONS: Final = (
    "Tools of pi coding-agent extensions running in pi-sandbox: each call runs in a sandboxed worker and every "
    "effect (files, commands, network, environment) passes pi-sandbox's policy and is recorded in a "
    "tamper-evident ledger. A refused effect comes back as a tool error that says how an operator can allow it."
)


def mcp_tool_names(specs: Sequence[ToolSpec]) -> dict[str, ToolSpec]:
    """MCP name -> tool: the pi name when it is valid and unique, else ``<extension>.<name>`` made valid."""
    counts: dict[str, int] = {}
    for spec in specs:
        counts[spec.name] = counts.get(spec.name, 0) + 1
    names: dict[str, ToolSpec] = {}
    for spec in specs:
        name = spec.name
        if counts[name] > 1 or not _TOOL_NAME.match(name):
            name = _NAME_CHAR.sub("_", f"{spec.extension_id}.{spec.name}")[:128]
        base, n = name, 2
        while name in names:
            name, n = f"{base[:120]}-{n}", n + 1
        names[name] = spec
    return names


def prompt_message(prompt: PermissionPrompt) -> str:
    """What the client shows: who wants what, and why it asks."""
    target = f" on {prompt.target}" if prompt.target else ""
    return (f"pi-sandbox: extension '{prompt.extension_id}' wants '{prompt.capability}'{target} "
            f"({prompt.method}). {prompt.explanation}")


def dialog_form(dialog: Dialog) -> tuple[str, dict[str, Any]]:
    """An extension's dialog as an elicitation: the message and a one-field form of the op's type."""
    field: dict[str, Any] = {"type": "boolean"} if dialog.op == "confirm" else {"type": "string"}
    if dialog.op == "select":
        field["enum"] = list(dialog.options)
    field["title"] = dialog.title or dialog.op
    text = " — ".join(t for t in (dialog.title, dialog.message) if t)
    return (f"extension '{dialog.extension_id}' asks: {text}", {
        "type": "object", "properties": {"value": field}, "required": ["value"]})


def elicitation(question: Question) -> tuple[str, dict[str, Any]]:
    """The message and form for ``question``."""
    asked = question.asked
    if isinstance(asked, PermissionPrompt):
        return prompt_message(asked), ELICIT_SCHEMA
    return dialog_form(asked)


def _answer(question: Question, result: types.ElicitResult | None) -> Any:
    """The client's elicitation result as the question's answer (None: no answer / headless answer)."""
    if result is None:
        return None
    content = result.content or {}
    if not isinstance(question.asked, PermissionPrompt):
        return content.get("value") if result.action == "accept" else None  # the shape is checked downstream
    if result.action != "accept":
        return PermissionAnswer.DENY  # declined or dismissed: the person said no
    choice = content.get("answer")
    valid = isinstance(choice, str) and choice in {a.value for a in ELICIT_ANSWERS}
    return PermissionAnswer(choice) if valid and isinstance(choice, str) else None


def _content(part: Mapping[str, Any]) -> types.ContentBlock:
    if part.get("type") == "text":
        return types.TextContent(type="text", text=str(part.get("text", "")))
    if part.get("type") == "image" and isinstance(part.get("data"), str):
        return types.ImageContent(type="image", data=part["data"], mime_type=str(part.get("mimeType") or "image/png"))
    return types.TextContent(type="text", text=json.dumps(dict(part), default=str))


def tool_result(result: ToolResult) -> types.CallToolResult:
    """A session result as MCP: an error carries each denial's remediation in its text; every result
    carries the denials in ``_meta``."""
    content = [_content(part) for part in result.content]
    if result.is_error:
        text = result.text
        content += [types.TextContent(type="text", text=d.describe()) for d in result.denials
                    if not d.remediation or d.remediation not in text]
    meta = {DENIALS_META: [d.__dict__ for d in result.denials]} if result.denials else None
    return types.CallToolResult(content=content, is_error=result.is_error, _meta=meta)


def _error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def _can_elicit(ctx: ServerRequestContext[Any]) -> bool:
    caps = ctx.session.client_capabilities
    return caps is not None and caps.elicitation is not None


class SandboxMcp:
    """The MCP server over one session (build it with :func:`build_server`)."""

    def __init__(self, session: Session, router: PromptRouter) -> None:
        self.session = session
        self.router = router
        if router.on_expired is None:
            router.on_expired = self._record_expired
        self.server: Server[Any] = Server(
            SERVER_NAME, version=__version__, instructions=INSTRUCTIONS, lifespan=self._lifespan,
            on_list_tools=self._list_tools, on_call_tool=self._call_tool)

    def _record_expired(self, suspended: Suspended, expired: Expired) -> None:
        """A suspended call refused for want of its client's answer: a ledger entry (and alert) of its extension."""
        if not self.session.closed:
            self.session.record_refusal(suspended.call.extension_id, EXPIRED_REASON,
                                        f"MCP call of '{suspended.tool}' refused: {expired.why}")

    @asynccontextmanager
    async def _lifespan(self, _server: Server[Any]) -> AsyncIterator[dict[str, Any]]:
        """While the server runs, extension timers (``setTimeout``/``setInterval``) run when due, as in pi."""
        async with anyio.create_task_group() as group:
            group.start_soon(self._run_timers)
            yield {}
            group.cancel_scope.cancel()

    async def _run_timers(self) -> None:
        while True:
            due = self.session.next_timer_at()
            wait = TIMER_POLL_S if due is None else min(TIMER_POLL_S, max(0.0, due - time.monotonic()))
            await anyio.sleep(wait)
            if due is not None and due <= time.monotonic():
                await anyio.to_thread.run_sync(self.session.run_due_timers)

    async def _list_tools(self, _ctx: ServerRequestContext[Any],
                          _params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        names = await anyio.to_thread.run_sync(lambda: mcp_tool_names(self.session.tools()))
        return types.ListToolsResult(tools=[
            types.Tool(name=name, title=spec.label, description=spec.description or None,
                       input_schema=dict(spec.parameters),
                       _meta={"pi-sandbox/extension": spec.extension_id, "pi-sandbox/tool": spec.name})
            for name, spec in names.items()])

    async def _call_tool(self, ctx: ServerRequestContext[Any],
                         params: types.CallToolRequestParams) -> types.CallToolResult | types.InputRequiredResult:
        arguments = dict(params.arguments or {})
        if params.request_state is not None:
            return await self._resume(ctx, params, arguments)
        names = await anyio.to_thread.run_sync(lambda: mcp_tool_names(self.session.tools()))
        spec = names.get(params.name)
        if spec is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name} (tools/list shows the loaded tools)")
        call = RunningCall(spec.extension_id, lambda: self.session.call_tool(
            spec.name, arguments, extension=spec.extension_id))
        call.run(self.router)
        return await self._drive(ctx, call, params.name, arguments)

    async def _resume(self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams,
                      arguments: dict[str, Any]) -> types.CallToolResult | types.InputRequiredResult:
        suspended = self.router.resume(params.request_state or "")
        if isinstance(suspended, Expired):  # refused (and recorded) when its time ran out: fail closed
            return _error_result(suspended.message)
        if suspended is None or suspended.tool != params.name or suspended.arguments != arguments:
            raise MCPError(types.INVALID_PARAMS, "unknown or expired requestState for this tool call; call the "
                                                 "tool again without it")
        response = (params.input_responses or {}).get(QUESTION_INPUT)
        question = suspended.question
        question.settle(_answer(question, response) if isinstance(response, types.ElicitResult) else None)
        return await self._drive(ctx, suspended.call, params.name, arguments)

    async def _drive(self, ctx: ServerRequestContext[Any], call: RunningCall, name: str,
                     arguments: dict[str, Any]) -> types.CallToolResult | types.InputRequiredResult:
        """Wait for the call; put its questions to the client; map its end to an MCP result."""
        while True:
            event = await anyio.to_thread.run_sync(call.next_event, abandon_on_cancel=True)
            if isinstance(event, Finished):
                return self._finish(event)
            if self.router.mode is PromptMode.DENY or not _can_elicit(ctx):
                event.settle(event.unasked)
                continue
            if ctx.session.can_send_request:  # handshake era: ask during the call
                event.settle(await self._elicit(ctx, event))
                continue
            message, schema = elicitation(event)
            request = types.ElicitRequest(params=types.ElicitRequestFormParams(message=message,
                                                                               requested_schema=schema))
            token = self.router.suspend(Suspended(call, event, name, arguments))
            return types.InputRequiredResult(input_requests={QUESTION_INPUT: request}, request_state=token)

    async def _elicit(self, ctx: ServerRequestContext[Any], question: Question) -> Any:
        message, schema = elicitation(question)
        try:
            with anyio.fail_after(self.router.timeout_s):
                result = await ctx.session.elicit_form(message, schema, related_request_id=ctx.request_id)
        except (MCPError, TimeoutError, ValueError):  # refused, no answer in time, malformed: no answer
            return None
        return _answer(question, result)

    @staticmethod
    def _finish(event: Finished) -> types.CallToolResult:
        error = event.error
        if error is None:
            return tool_result(event.result)
        if isinstance(error, ToolNotFoundError):
            raise MCPError(types.INVALID_PARAMS, str(error))
        if isinstance(error, ToolArgumentsError):
            return _error_result(f"invalid arguments: {error}")
        if isinstance(error, PiSandboxError):
            return _error_result(error.describe())
        raise error


def build_server(session: Session, router: PromptRouter) -> Server[Any]:
    """The MCP server for ``session``; ``router`` must be the session's ``on_prompt`` (its ``ask``)."""
    return SandboxMcp(session, router).server
