"""A JSON-lines client for ``pi-sandbox rpc`` checking every message both ways against the RPC JSON Schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "schemas"
RPC_SCHEMA: dict[str, Any] = json.loads((SCHEMA_DIR / "rpc.schema.json").read_text(encoding="utf-8"))

Answer = Callable[[dict[str, Any]], Any]


def validator(definition: str) -> jsonschema.Draft202012Validator:
    """A validator for one ``$defs`` entry of the RPC schema (``request.tool.call``, ``client_message``...)."""
    jsonschema.Draft202012Validator.check_schema(RPC_SCHEMA)
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{definition}", "$defs": RPC_SCHEMA["$defs"]})


def check(definition: str, message: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``message`` matches ``$defs/definition``."""
    validator(definition).validate(message)


class RpcClient:
    """Drives one ``pi-sandbox rpc`` process; answers its questions with ``answer(question) -> result``."""

    def __init__(self, *argv: str, answer: Answer | None = None, env: Mapping[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pi_sandbox", *argv, "rpc"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=dict(env if env is not None else os.environ),
        )
        self.answer = answer
        self.notifications: list[dict[str, Any]] = []
        self.questions: list[dict[str, Any]] = []
        self._ids = 0
        self.ready = self._next()
        check("notification.ready", self.ready)

    def _send(self, message: Mapping[str, Any], *, checked: bool = True) -> None:
        if checked:
            check("client_message", message)
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def _next(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"pi-sandbox rpc ended: {self.proc.stderr.read() if self.proc.stderr else ''}")
        message: dict[str, Any] = json.loads(line)
        check("server_message", message)
        return message

    def request(self, method: str, params: Mapping[str, Any] | None = None, *, checked: bool = True) -> dict[str, Any]:
        """Send one request and return its response; notifications and questions meanwhile are handled.

        ``checked=False`` sends a request the schema rejects (to see the server reject it too)."""
        self._ids += 1
        message: dict[str, Any] = {"id": self._ids, "method": method}
        if params is not None:
            message["params"] = dict(params)
        if checked:
            check(f"request.{method}", message)
        self._send(message, checked=checked)
        while True:
            reply = self._next()
            if "method" not in reply:
                assert reply["id"] == self._ids
                check("error" if "error" in reply else f"result.{method}", reply)
                return reply
            if "id" not in reply:
                check(f"notification.{reply['method']}", reply)
                self.notifications.append(reply)
                continue
            kind = str(reply["method"]).replace("/", "_")  # permission/request -> $defs/host_request.permission_request
            check(f"host_request.{kind}", reply)
            self.questions.append(reply)
            result = self.answer(reply) if self.answer is not None else None
            if result is not None:  # None: leave the question unanswered (the server times out)
                answer = {"id": reply["id"], "result": result}
                check(f"host_answer.{kind}", answer)
                self._send(answer)

    def close(self) -> int:
        """Shut the server down and return its exit code."""
        try:
            if self.proc.poll() is None:
                self.request("shutdown")
            return self.proc.wait(timeout=30)
        finally:
            self.proc.kill()
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
