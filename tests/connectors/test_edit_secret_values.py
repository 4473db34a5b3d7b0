"""Red team (secret broker): pi's host-side ``edit`` tool as an oracle on, and a knife for, withheld values.

A config file that is not a secret file by name may hold a value the broker withholds (``api_key: sk-...``); a
read shows it as the placeholder. ``edit`` matched ``oldText`` against the raw text, so "does ``api_key: sk-a``
occur once?" answered one character at a time (the same technique the grep fix closed), and an edit that cut the
value (``oldText: "sk-"`` → ``"sk--"``) made every later read return the rest of it, no longer recognised. Now
edit matches the redacted view and never touches a withheld value, in any spelling the broker knows. Through the
real pipeline (a real Sandbox, its dispatch and the fs connector on a temp workspace).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.dispatch import Sandbox
from pi_sandbox.dispatch.request import HostcallResult
from tests.conftest import OpenSandbox, PiEnv

SECRET = "sk-live-9f8e7d6c5b4a3f2e1d0c"
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-_+/="
SPELLINGS = {
    "raw": SECRET,
    "base64": base64.b64encode(SECRET.encode()).decode(),
    "hex": SECRET.encode().hex(),
}


@pytest.fixture()
def box(open_sandbox: OpenSandbox) -> Sandbox:
    return open_sandbox(env={"OPENAI_API_KEY": SECRET})


def edit(box: Sandbox, make_request: Any, path: str, old: str, new: str) -> HostcallResult:
    return box.hostcall("ext.a", make_request("tool", {"name": "edit", "input": {
        "path": path, "oldText": old, "newText": new}}))


def read(box: Sandbox, make_request: Any, path: str) -> str:
    result = box.hostcall("ext.a", make_request("fs", {"op": "read", "path": path}))
    assert result.ok, result
    return str(result.result["content"])


@pytest.mark.parametrize("spelling", ["raw", "base64", "hex"])
def test_edit_is_no_oracle_on_a_withheld_value(box: Sandbox, pi_env: PiEnv, make_request: Any, spelling: str) -> None:
    value = SPELLINGS[spelling]
    target = pi_env.workspace / "config.yaml"
    target.write_text(f"name: demo\napi_key: {value}\n")
    known = "api_key: "
    for _ in range(12):  # before the fix: one character confirmed per round, the whole value in ~40 rounds
        hits = [c for c in ALPHABET + ALPHABET.upper() if edit(box, make_request, "config.yaml", known + c,
                                                               known + c).ok]
        if not hits:
            break
        known += hits[0]
    assert known == "api_key: ", known
    assert target.read_text() == f"name: demo\napi_key: {value}\n"  # nothing written by the guesses


@pytest.mark.parametrize("spelling", ["raw", "base64", "hex"])
@pytest.mark.parametrize(("old", "new"), [("api_key: ", "api_key: x"),  # ahead of the value: allowed, kept whole
                                          ("api_key: [REDACTED]", "api_key: [REDACTED]-"),  # on the placeholder
                                          ("[REDACTED]\n", "[REDACTED]-\n"), ("[REDACTED]", "X")])
def test_edit_never_cuts_a_withheld_value(box: Sandbox, pi_env: PiEnv, make_request: Any, spelling: str,
                                          old: str, new: str) -> None:
    value = SPELLINGS[spelling]
    target = pi_env.workspace / "config.yaml"
    target.write_text(f"api_key: {value}\nother: 1\n")
    before = read(box, make_request, "config.yaml")
    # The attack before the fix: cut the value where the extension knows a piece of it, then read the rest.
    for cut_old, cut_new in ((value[:3], value[:3] + "-"), (value[:8], value[:8] + " "), (value[-4:] + "\n", "\n")):
        cut = edit(box, make_request, "config.yaml", cut_old, cut_new)
        assert not cut.ok and cut.reason == "edit_not_unique", cut
    result = edit(box, make_request, "config.yaml", old, new)
    assert result.ok == (old == "api_key: "), result
    if old not in before:  # base64: the view shows the padding characters after the placeholder
        assert result.reason == "edit_not_unique", result
    elif not result.ok:
        assert result.reason == "secret_exposure" and "withholds" in (result.message or ""), result
    text = target.read_text()
    assert value in text  # the value stays whole on disk, whatever was edited around it
    assert SECRET not in read(box, make_request, "config.yaml")
    shown = read(box, make_request, "config.yaml")
    assert shown == (before.replace("api_key: ", "api_key: x") if result.ok else before), shown


def test_edits_between_two_values_land_in_the_right_place(box: Sandbox, pi_env: PiEnv, make_request: Any) -> None:
    target = pi_env.workspace / "two.env.yaml"
    target.write_text(f"a: {SECRET}\nb: mid\nc: {SECRET}\nd: end\n")
    assert edit(box, make_request, "two.env.yaml", "b: mid", "b: middle").ok
    assert edit(box, make_request, "two.env.yaml", "d: end", "d: fin").ok
    assert target.read_text() == f"a: {SECRET}\nb: middle\nc: {SECRET}\nd: fin\n"
    # "[REDACTED]\n" occurs twice in the view: not unique, whatever the raw text says
    assert edit(box, make_request, "two.env.yaml", "[REDACTED]\n", "x\n").reason == "edit_not_unique"


def test_edit_of_an_ordinary_file_is_unchanged(box: Sandbox, pi_env: PiEnv, make_request: Any) -> None:
    target = pi_env.workspace / "notes.txt"
    target.write_text("alpha\nbeta\n[REDACTED]\nbeta2\n")  # the placeholder's text alone is ordinary text
    assert edit(box, make_request, "notes.txt", "alpha", "gamma").ok
    assert edit(box, make_request, "notes.txt", "beta", "x").reason == "edit_not_unique"
    assert edit(box, make_request, "notes.txt", "[REDACTED]", "done").ok
    assert target.read_text() == "gamma\nbeta\ndone\nbeta2\n"


def test_edit_refuses_a_file_that_is_not_utf8(box: Sandbox, pi_env: PiEnv, make_request: Any) -> None:
    target: Path = pi_env.workspace / "blob.bin"
    target.write_bytes(b"\xff\xfeab" + SECRET.encode("utf-16-le"))
    result = edit(box, make_request, "blob.bin", "YWI", "xx")  # base64 text of the bytes: never edited as text
    assert not result.ok and result.reason == "not_text", result
    assert target.read_bytes() == b"\xff\xfeab" + SECRET.encode("utf-16-le")
