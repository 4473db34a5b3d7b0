"""Extension console and UI output reaches the operator: stderr + listeners, redacted, terminal-safe, rate-limited."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from pi_sandbox.connectors.output import BURST, OperatorLine, OperatorOutput, escape_for_terminal
from tests.conftest import OpenSandbox

Request = Callable[..., dict[str, Any]]
SECRET = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def test_console_and_ui_lines_go_to_stderr_prefixed_with_the_extension(
    open_sandbox: OpenSandbox, make_request: Request, capsys: pytest.CaptureFixture[str]
) -> None:
    box = open_sandbox()  # safe: log and ui are default caps
    assert box.hostcall("fmt", make_request("log", {"level": "warn", "message": "two\nlines"})).ok
    assert box.hostcall("fmt", make_request("ui", {"op": "notify", "message": "built", "level": "warning"})).ok
    assert box.hostcall("fmt", make_request("ui", {"op": "set_status", "key": "lint", "text": "3 issues"})).ok
    answer = box.hostcall("fmt", make_request("ui", {"op": "confirm", "title": "Delete?", "message": "a.txt"}))
    assert answer.result == {"value": False, "has_ui": False}
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "[fmt] warn: two",
        "[fmt] warn: lines",
        "[fmt] ui.notify: built",
        "[fmt] ui.set_status: lint: 3 issues",
        "[fmt] ui.confirm: Delete? — a.txt → no (headless)",
    ]


def test_secrets_are_redacted_before_the_operator_sees_them(
    open_sandbox: OpenSandbox, make_request: Request, capsys: pytest.CaptureFixture[str]
) -> None:
    box = open_sandbox(env={"GITHUB_TOKEN": SECRET})
    seen: list[OperatorLine] = []
    box.output.add_listener(seen.append)
    assert box.hostcall("leaky", make_request("log", {"message": f"token={SECRET}"})).ok
    assert box.hostcall("leaky", make_request("ui", {"op": "notify", "message": f"t {SECRET}"})).ok
    err = capsys.readouterr().err
    assert SECRET not in err and "[leaky]" in err
    assert len(seen) == 2 and all(SECRET not in line.text for line in seen)


def test_control_and_bidi_characters_are_shown_not_interpreted() -> None:
    stream = io.StringIO()
    out = OperatorOutput(stream)
    out.emit("x\x1b[2J", "console", "log", "info", "ok\x1b[1A\x1b[2Kforged \u202egnp.exe\u200b\tend")
    assert stream.getvalue() == "[x\\x1b[2J] info: ok\\x1b[1A\\x1b[2Kforged \\u202egnp.exe\\u200b\tend\n"
    assert escape_for_terminal("\x00\x9b") == "\\x00\\x9b"


def test_rate_limit_drops_a_flood_per_extension_and_reports_the_count() -> None:
    stream = io.StringIO()
    out = OperatorOutput(stream, rate_per_s=0.0, burst=5)
    shown = [out.emit("noisy", "console", "log", "info", f"line {i}") for i in range(50)]
    assert shown == [True] * 5 + [False] * 45
    assert out.emit("quiet", "console", "log", "info", "still heard")  # another extension is not throttled
    out._buckets["noisy"].tokens = 1.0  # the bucket refilled (time passed)
    assert out.emit("noisy", "console", "log", "info", "back")
    lines = stream.getvalue().splitlines()
    assert lines[-2:] == ["[noisy] warn: (45 lines suppressed by the output rate limit)", "[noisy] info: back"]
    assert "[quiet] info: still heard" in lines
    assert BURST >= 50  # the default burst lets a normal start-up banner through


def test_long_lines_are_capped_and_a_broken_stream_never_fails_the_call(
    open_sandbox: OpenSandbox, make_request: Request
) -> None:
    stream = io.StringIO()
    out = OperatorOutput(stream)
    out.emit("big", "console", "log", "info", "y" * 10_000)
    assert len(stream.getvalue()) < 2_100 and "(+8000 chars)" in stream.getvalue()
    box = open_sandbox()
    closed = io.StringIO()
    closed.close()
    box.output.set_stream(closed)
    assert box.hostcall("e", make_request("log", {"message": "x"})).ok


def test_a_line_with_a_lone_surrogate_is_shown_and_still_redacted(
    open_sandbox: OpenSandbox, make_request: Request, capsys: pytest.CaptureFixture[str]
) -> None:
    # JS strings need not be valid UTF-16; such a line used to end as an internal error (the search refused it)
    box = open_sandbox(env={"GITHUB_TOKEN": SECRET})
    for method, params in (("log", {"message": f"half \ud800 of a pair, token={SECRET}"}),
                           ("ui", {"op": "notify", "message": f"\udfff {SECRET}"})):
        result = box.hostcall("odd", make_request(method, params))
        assert result.ok, result
    err = capsys.readouterr().err
    assert SECRET not in err and "[odd] info: half \\ud800 of a pair, token=[REDACTED]" in err
    assert "[odd] ui.notify: \\udfff [REDACTED]" in err
    entries = box.store.query_ledger(extension_id="odd")
    assert [e.decision for e in entries] == ["allow", "allow"]
