"""Red team: a hostcall path longer than the system allows is refused before anything walks it.

The path walk (``mediation/paths.py``) copied the rest of the path at every component and looked at each one
(``lstat``): an 8 MB path of ``a/`` held the supervisor's interpreter lock for minutes, from any tool or fs call
that names a path. No system call takes a path over PATH_MAX (4096 bytes), so a longer one is now
``invalid_request`` / ``path_too_long`` at once, whatever spells it and whichever call carries it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from pi_sandbox.dispatch import Sandbox
from pi_sandbox.mediation.paths import MAX_PATH_BYTES
from tests.conftest import OpenSandbox

Request = Callable[..., dict[str, Any]]
N = 8 * 1024 * 1024
SPELLINGS = {"names": "a/" * (N // 2), "dots": "./" * (N // 2), "dotdots": "../" * (N // 3),
             "one_name": "x" * N, "absolute": "/" + "b/" * (N // 2), "multibyte": "é/" * (N // 3)}
CALLS: dict[str, Callable[[str], tuple[str, dict[str, Any]]]] = {
    "tool_read": lambda p: ("tool", {"name": "read", "input": {"path": p}}),
    "tool_write": lambda p: ("tool", {"name": "write", "input": {"path": p, "content": "x"}}),
    "tool_edit": lambda p: ("tool", {"name": "edit", "input": {"path": p, "oldText": "a", "newText": "b"}}),
    "tool_grep": lambda p: ("tool", {"name": "grep", "input": {"pattern": "x", "path": p}}),
    "tool_ls": lambda p: ("tool", {"name": "ls", "input": {"path": p}}),
    "fs_stat": lambda p: ("fs", {"op": "stat", "path": p}),
    "fs_write": lambda p: ("fs", {"op": "write", "path": p, "content": "x"}),
}


@pytest.fixture()
def box(open_sandbox: OpenSandbox) -> Sandbox:
    # permissive: the calls reach the path checks (the risk controller may refuse some first: also fine, if fast)
    return open_sandbox(settings={"extensionPolicy": {"profile": "permissive"}, "extensionRisk": {"enabled": False}})


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
@pytest.mark.parametrize("call", sorted(CALLS))
def test_an_overlong_path_is_refused_at_once(box: Sandbox, make_request: Request, call: str, spelling: str) -> None:
    method, params = CALLS[call](SPELLINGS[spelling])
    started = time.monotonic()
    res = box.hostcall("ext", make_request(method, params))
    took = time.monotonic() - started
    assert not res.ok and (res.error_code, res.reason) == ("invalid_request", "path_too_long"), res
    assert took < 3.0, took  # before: minutes with the interpreter lock held


def test_paths_up_to_the_limit_still_work(box: Sandbox, make_request: Request) -> None:
    deep = "/".join(["d" * 100] * 30)  # 3,029 bytes: long, but a path the system takes
    assert len(deep) < MAX_PATH_BYTES
    res = box.hostcall("ext", make_request("fs", {"op": "mkdir", "path": deep, "recursive": True}))
    assert res.ok, res
    res = box.hostcall("ext", make_request("fs", {"op": "write", "path": deep + "/f.txt", "content": "ok"}))
    assert res.ok, res
    res = box.hostcall("ext", make_request("tool", {"name": "read", "input": {"path": deep + "/f.txt"}}))
    assert res.ok, res
