"""Red team: the forensic copy of a call's params does bounded work (every call gets one, refused or not).

Lists were cut to 32 items and strings to 512 bytes, but dicts were copied whole and every key checked for a
credential name before the 8 KiB limit replaced the copy: an ``exec`` whose ``env`` held 100,000 keys took 17 s
with the interpreter lock held — under ``safe``, where exec is refused, from an extension with no capability.
Nested lists 32 wide were kept whole too. Now a copy that would visit more members than could ever fit is replaced
by its size and hash at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from pi_sandbox.dispatch import Sandbox
from tests.conftest import OpenSandbox

Request = Callable[..., dict[str, Any]]


def _nested(width: int, depth: int) -> Any:
    value: Any = "--api-token"
    for _ in range(depth):
        value = [value] * width
    return value


HUGE: dict[str, tuple[str, dict[str, Any]]] = {
    "exec_env_keys": ("exec", {"cmd": "ls", "args": [], "env": {f"V{i}": "x" for i in range(300_000)}}),
    "http_header_keys": ("http", {"url": "https://x.example/", "headers": {f"h{i}": "v" for i in range(100_000)}}),
    "fs_extra_keys": ("fs", {"op": "stat", "path": "a.txt", **{f"k{i}": i for i in range(300_000)}}),
    "nested_dicts": ("session", {"op": "append_entry", "customType": "t",
                                 "data": {f"a{i}": {f"b{j}": "-token" for j in range(300)} for i in range(300)}}),
    "nested_lists": ("log", {"level": "info", "message": "m", "args": _nested(32, 4)}),
}


@pytest.mark.parametrize("name", sorted(HUGE))
def test_huge_params_get_a_bounded_forensic_copy(open_sandbox: OpenSandbox, make_request: Request,
                                                 name: str) -> None:
    box: Sandbox = open_sandbox()  # safe
    method, params = HUGE[name]
    started = time.monotonic()
    res = box.hostcall("ext", make_request(method, params))
    took = time.monotonic() - started
    assert took < 3.0, (name, took)  # before: 4-17 s with the interpreter lock held
    entry = box.store.query_ledger(extension_id="ext")[-1]
    assert entry.method == method and entry.decision in ("allow", "deny", "error", "invalid"), res
    kept = box.store.forensic_fields(entry.seq)["params"]
    assert kept.get("truncated") is True and kept["size"] > 8 * 1024 and len(kept["sha256"]) == 64, kept


def test_ordinary_params_are_kept_as_before(open_sandbox: OpenSandbox, make_request: Request) -> None:
    box: Sandbox = open_sandbox()
    params = {"cmd": "ls", "args": ["-la"], "env": {f"V{i}": "x" for i in range(40)}}
    box.hostcall("ext", make_request("exec", params))
    entry = box.store.query_ledger(extension_id="ext")[-1]
    assert box.store.forensic_fields(entry.seq)["params"] == params
