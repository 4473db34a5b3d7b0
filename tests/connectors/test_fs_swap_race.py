"""A folder on the way swapped for a link between the check and the effect (TOCTOU).

The mediation stage and the connector judge a path with every link resolved; an exec child (or any other
process) can then replace a folder of that path with a link to anywhere — ``x`` → the user's home, the
repository's ``.git/hooks`` — before the connector opens it. The swap is made here at the worst moment,
deterministically: right after the connector's own resolution. Every op must then fail (``path_changed``)
and leave the link's target untouched; before, each followed the link (a recursive delete removed a folder
outside the workspace). The targets are canaries under the test's temp folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.mediation.paths import PathRules
from tests.conftest import OpenSandbox, PiEnv

OPS: dict[str, dict[str, Any]] = {
    "delete_recursive": {"op": "delete", "path": "x/victim", "recursive": True},
    "delete_file": {"op": "delete", "path": "x/victim/canary.txt"},
    "write": {"op": "write", "path": "x/victim/canary.txt", "data": "pwned"},
    "append": {"op": "write", "path": "x/victim/canary.txt", "data": "pwned", "append": True},
    "read": {"op": "read", "path": "x/victim/canary.txt"},
    "mkdir_recursive": {"op": "mkdir", "path": "x/victim/new/deeper", "recursive": True},
    "mkdir": {"op": "mkdir", "path": "x/victim/new"},
    "list": {"op": "list", "path": "x/victim"},
    "stat": {"op": "stat", "path": "x/victim/canary.txt"},
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_a_folder_swapped_for_a_link_after_the_check_is_not_followed(
    pi_env: PiEnv, open_sandbox: OpenSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    ws = pi_env.workspace
    outside = tmp_path / "outside"  # stands in for the user's home
    (outside / "victim").mkdir(parents=True)
    (outside / "victim" / "canary.txt").write_text("canary\n")
    (ws / "x" / "victim").mkdir(parents=True)
    (ws / "x" / "victim" / "canary.txt").write_text("inside\n")
    box = open_sandbox(settings={"extensionPolicy": {"profile": "permissive", "allowDangerous": True},
                                 "extensionRisk": {"enabled": False}})
    original = PathRules.resolve_text

    def resolve_then_swap(self: PathRules, raw: Any, op: str = "read") -> str:
        resolved: str = original(self, raw, op)
        if sys._getframe(1).f_code.co_filename.endswith(os.path.join("connectors", "fs.py")) and \
                not (ws / "x").is_symlink():
            (ws / "x").rename(ws / "x-moved")
            (ws / "x").symlink_to(outside)
        return resolved

    monkeypatch.setattr(PathRules, "resolve_text", resolve_then_swap)
    result = box.hostcall("ext.a", {"call_id": "c1", "method": "fs", "params": OPS[name]})
    assert (ws / "x").is_symlink(), "the swap did not happen: nothing was tested"
    assert (result.ok, result.reason) == (False, "path_changed"), result
    assert sorted(p.name for p in (outside / "victim").iterdir()) == ["canary.txt"]
    assert (outside / "victim" / "canary.txt").read_text() == "canary\n"
    assert result.result is None  # nothing read, listed or stat-ed through the link
