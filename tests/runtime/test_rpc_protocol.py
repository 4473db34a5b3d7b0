# ruff: noqa: E501  (embedded JavaScript extension source)
"""``pi-sandbox rpc`` completeness: tool/command specs, permission and UI round trips, alerts; every message
checked against docs/schemas/rpc.schema.json by a real client on a real server process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from tests.runtime.conftest import write_file
from tests.runtime.rpc_client import RPC_SCHEMA, RpcClient, check

from pi_sandbox.audit import AuditStore

EXT = """
import { Type } from "@sinclair/typebox";
export default function (pi: any) {
  pi.registerTool({ name: "echo", label: "Echo", description: "Echo the text back",
    parameters: Type.Object({ text: Type.String({ description: "what to echo" }) }),
    execute: async (_id: string, p: any) => ({ content: [{ type: "text", text: p.text }], details: {} }) });
  pi.registerTool({ name: "probe", description: "Read PROBE_VALUE from the environment",
    execute: async () => { const v = process.env.PROBE_VALUE; return { content: [{ type: "text", text: String(v) }], isError: v === undefined }; } });
  pi.registerTool({ name: "ask", description: "Ask the user twice",
    execute: async (_id: string, _p: any, _s: any, _u: any, ctx: any) => {
      const ok = await ctx.ui.confirm("Proceed?", "the ask tool wants to go on");
      const pick = await ctx.ui.select("Colour", ["red", "blue"]);
      console.log("asked", ok, pick);
      return { content: [{ type: "text", text: `${ok} ${pick}` }] };
    } });
  pi.registerCommand("hello", { description: "Say hello", handler: async () => { pi.sendMessage({ customType: "hi", content: "hello" }); } });
  pi.registerFlag("loud", { description: "shout", type: "boolean", default: false });
  pi.registerTool({ name: "loud", description: "Report the loud flag",
    execute: async () => ({ content: [{ type: "text", text: JSON.stringify(pi.getFlag("loud")) }] }) });
  pi.registerShortcut("ctrl+shift+l", { description: "say hi", handler: async () => { console.log("shortcut hi"); } });
}
"""


@pytest.fixture()
def asker(pi_env: Any) -> Path:
    """The extension above; env is allowed for it, so as a new (probation) extension every env read is a prompt."""
    pi_env.global_settings.write_text(json.dumps(
        {"extensionPolicy": {"profile": "balanced", "allowDangerous": True, "perExtension": {"asker": {"allow": ["env"]}}}}))
    return write_file(pi_env.agent_dir / "extensions" / "asker.ts", EXT)


@pytest.fixture()
def clients(asker: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[RpcClient]]:
    monkeypatch.setenv("PROBE_VALUE", "plain-value")
    started: list[RpcClient] = []
    yield started
    for client in started:
        client.close()


def _reasons(pi_env: Any) -> list[str]:
    with AuditStore.open_read_only(pi_env.state_dir) as store:
        return [e.reason for e in store.query_ledger(extension_id="asker") if e.detail.get("method") == "env"
                or e.kind == "hostcall" and "prompt" in e.reason]


def test_initialize_and_list_carry_tool_and_command_specs(clients: list[RpcClient]) -> None:
    client = RpcClient()
    clients.append(client)
    session = client.request("initialize")["result"]
    assert session["capabilities"] == {"permissions": False, "ui": False}
    defs = RPC_SCHEMA["$defs"]  # every method the server has, and only those, has a request and a result schema
    assert {f"request.{m}" for m in session["methods"]} == {k for k in defs if k.startswith("request.")}
    assert all(f"result.{m}" in defs for m in session["methods"])
    (ext,) = session["extensions"]
    specs = {t["name"]: t for t in ext["tool_specs"]}
    assert specs["echo"]["description"] == "Echo the text back" and specs["echo"]["label"] == "Echo"
    assert specs["echo"]["parameters"]["properties"]["text"] == {"type": "string", "description": "what to echo"}
    assert specs["echo"]["parameters"]["required"] == ["text"]
    assert specs["probe"]["parameters"] == {"type": "object", "properties": {}}  # registered without a schema
    assert ext["command_specs"] == [{"name": "hello", "description": "Say hello"}]
    assert client.request("list")["result"]["extensions"][0]["tool_specs"] == ext["tool_specs"]
    # the JSON Schema a host gets really describes the tool: arguments it rejects, the tool rejects too
    jsonschema.Draft202012Validator(specs["echo"]["parameters"]).validate({"text": "x"})
    assert client.request("tool.call", {"extension": "asker", "tool": "echo", "args": {}})["error"]["code"] == "invalid_params"


def test_permission_round_trip_once_session_deny(clients: list[RpcClient], pi_env: Any) -> None:
    answers = iter(["deny", "once", "session"])
    client = RpcClient(answer=lambda q: {"answer": next(answers)})
    clients.append(client)
    client.request("initialize", {"capabilities": {"permissions": True}, "prompt_timeout_ms": 20_000})
    texts = [client.request("tool.call", {"extension": "asker", "tool": "probe"})["result"]["content"][0]["text"]
             for _ in range(4)]
    assert texts == ["undefined", "plain-value", "plain-value", "plain-value"]  # the 4th: the session answer
    assert len(client.questions) == 3
    asked = client.questions[0]["params"]
    assert (asked["extension_id"], asked["capability"], asked["method"]) == ("asker", "env", "env")
    assert "probation" in asked["explanation"]
    alerts = [n["params"] for n in client.notifications if n["method"] == "alert"]
    assert any(a["reason_codes"] == ["prompt_user_deny"] and a["extension_id"] == "asker" for a in alerts)
    client.close()
    reasons = _reasons(pi_env)
    assert reasons[:4] == ["prompt_user_deny", "prompt_user_allow", "prompt_user_allow", "prompt_cache_allow"]


def test_headless_by_default_and_unanswered_prompt_times_out_to_deny(clients: list[RpcClient], pi_env: Any) -> None:
    headless = RpcClient(answer=lambda q: {"answer": "always"})
    clients.append(headless)
    result = headless.request("tool.call", {"extension": "asker", "tool": "probe"})["result"]
    assert result["isError"] and headless.questions == []  # never asked: no capability, no question
    headless.close()
    silent = RpcClient(answer=lambda q: None)
    clients.append(silent)
    silent.request("initialize", {"capabilities": {"permissions": True}, "prompt_timeout_ms": 300})
    result = silent.request("tool.call", {"extension": "asker", "tool": "probe"})["result"]
    assert result["isError"] and len(silent.questions) == 1
    silent.close()
    assert _reasons(pi_env)[:2] == ["prompt_headless_deny", "prompt_no_answer_deny"]


def test_ui_dialogs_go_to_the_host_and_bad_answers_fall_back(clients: list[RpcClient]) -> None:
    replies = {"confirm": {"value": True}, "select": {"value": "blue"}}
    client = RpcClient(answer=lambda q: replies[q["params"]["op"]])
    clients.append(client)
    client.request("initialize", {"capabilities": {"ui": True}})
    assert client.request("tool.call", {"extension": "asker", "tool": "ask"})["result"]["content"][0]["text"] == "true blue"
    assert [q["params"]["op"] for q in client.questions] == ["confirm", "select"]
    assert client.questions[1]["params"]["options"] == ["red", "blue"]
    output = [n["params"] for n in client.notifications if n["method"] == "extension.output"]
    assert any(o["source"] == "console" and o["text"] == "asked true blue" for o in output)
    # an answer outside the options (or of the wrong type) is not given to the extension
    replies.update(confirm={"value": "yes"}, select={"value": "green"})
    assert client.request("tool.call", {"extension": "asker", "tool": "ask"})["result"]["content"][0]["text"] == "false undefined"


def test_flags_set_reaches_get_flag_and_bad_values_are_clear_errors(clients: list[RpcClient]) -> None:
    client = RpcClient()
    clients.append(client)
    (ext,) = client.request("initialize")["result"]["extensions"]
    assert ext["flag_specs"] == [{"name": "loud", "description": "shout", "type": "boolean", "default": False}]
    assert ext["shortcut_specs"] == [{"key": "ctrl+shift+l", "description": "say hi"}]

    def loud() -> Any:
        reply = client.request("tool.call", {"extension": "asker", "tool": "loud"})
        return json.loads(reply["result"]["content"][0]["text"])

    assert loud() is False  # the registered default until the host says otherwise
    assert client.request("flags.set", {"values": {"loud": True}})["result"] == {"flags": ["loud"]}
    assert loud() is True
    for values in ({"loud": 3}, {"loud": None}, {"": True}, [], {f"f{i}": True for i in range(257)}):
        with pytest.raises(jsonschema.ValidationError):
            check("request.flags.set", {"id": 0, "method": "flags.set", "params": {"values": values}})
        error = client.request("flags.set", {"values": values}, checked=False)["error"]
        assert error["code"] == "invalid_params" and error["message"]
    assert loud() is True  # a refused update changes nothing
    assert client.request("shortcut.run", {"extension": "asker", "key": "ctrl+shift+l"})["result"] == {"result": None}
    assert any(n["params"]["text"] == "shortcut hi" for n in client.notifications if n["method"] == "extension.output")


def test_bad_initialize_params_are_clear_errors(clients: list[RpcClient]) -> None:
    client = RpcClient()
    clients.append(client)
    for params in ({"capabilities": {"permissions": "yes"}}, {"capabilities": {"telepathy": True}},
                   {"prompt_timeout_ms": 0}, {"capabilities": []}):
        with pytest.raises(jsonschema.ValidationError):
            check("request.initialize", {"id": 0, "method": "initialize", "params": params})
        error = client.request("initialize", params, checked=False)["error"]
        assert error["code"] == "invalid_params" and error["message"]


@pytest.mark.parametrize(("definition", "message"), [
    ("request.tool.call", {"id": 1, "method": "tool.call", "params": {"tool": "x"}}),
    ("request.initialize", {"id": 1, "method": "initialize", "params": {"capabilities": {"permissions": 1}}}),
    ("host_answer.permission_request", {"id": "pi-sandbox:1", "result": {"answer": "maybe"}}),
    ("notification.extension.output", {"method": "extension.output", "params": {"extension_id": "a", "source": "tty",
                                                                                "kind": "log", "level": "info", "text": ""}}),
    ("error", {"id": 1, "error": {"code": "oops", "message": "x"}}),
])
def test_schema_rejects_malformed_messages(definition: str, message: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        check(definition, message)


def test_a_person_may_take_longer_than_the_hostcall_deadline(asker: Path, pi_env: Any,
                                                             clients: list[RpcClient]) -> None:
    # env and ui calls get a 300 ms deadline for host work; the person answers after 1.2 s. The wait
    # for a person is bounded by prompt_timeout_ms, not by the deadline: the answers still count.
    settings = json.loads(pi_env.global_settings.read_text())
    settings["extensionRuntime"] = {"hostcallDeadlineMs": {"env": 300, "ui": 300}}
    pi_env.global_settings.write_text(json.dumps(settings))

    def slow(question: dict[str, Any]) -> dict[str, Any]:
        import time
        time.sleep(1.2)
        if question["method"] == "permission/request":
            return {"answer": "once"}
        return {"value": True} if question["params"]["op"] == "confirm" else {"value": "red"}

    client = RpcClient(answer=slow)
    clients.append(client)
    client.request("initialize", {"capabilities": {"permissions": True, "ui": True}, "prompt_timeout_ms": 20_000})
    assert client.request("tool.call", {"extension": "asker", "tool": "probe"})["result"]["content"][0]["text"] \
        == "plain-value"
    assert client.request("tool.call", {"extension": "asker", "tool": "ask"})["result"]["content"][0]["text"] \
        == "true red"
    client.close()
    assert _reasons(pi_env)[:1] == ["prompt_user_allow"]
    with AuditStore.open_read_only(pi_env.state_dir) as store:
        assert not [e for e in store.query_ledger(extension_id="asker") if e.decision == "timeout"]
