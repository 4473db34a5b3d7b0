"""docs/first-extension.md, followed to the letter in a fresh HOME: every file written, every command run.

The commands run as a newcomer runs them: the ``pi-sandbox`` console script in a shell, default paths under
HOME (``~/.pi/agent``), no ``PI_*`` variables; only the JS toolchain cache is shared with the test session
(``pi-sandbox setup`` then finds it installed instead of running npm).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.guide import Expect, Run, WriteFile, missing_lines, resolve, steps

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "first-extension.md"


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PI_") or k == "PI_SANDBOX_CACHE_DIR"}
    env.pop("COLUMNS", None)  # piped output: one line per table row, as a script sees it
    scripts = str(Path(sys.executable).parent)  # the pi-sandbox script of the environment under test
    env.update(HOME=str(home), NO_COLOR="1", PATH=scripts + os.pathsep + env.get("PATH", ""))
    return env


def test_the_guide_is_a_complete_walk_through() -> None:
    script = steps(GUIDE.read_text(encoding="utf-8"))
    commands = [s.command for s in script if isinstance(s, Run)]
    written = [s.path for s in script if isinstance(s, WriteFile)]
    assert "word-count/index.ts" in written and "~/.pi/agent/settings.json" in written
    for step in ("setup", "ext scan", "ext install", "ext list", "tool call", "security ledger show",
                 "security ledger verify", "--explain-extension-policy", "ext uninstall"):
        assert any(f"pi-sandbox {step}" in c for c in commands), step
    assert sum(isinstance(s, Expect) for s in script) >= 8  # outputs are shown, hence checked


def test_following_the_guide(tmp_path: Path) -> None:
    home = tmp_path / "home"
    workspace = home / "project"
    workspace.mkdir(parents=True)
    env = _environment(home)
    assert (Path(sys.executable).parent / "pi-sandbox").exists(), "the pi-sandbox console script is not installed"

    output = ""
    transcript: list[str] = []
    for step in steps(GUIDE.read_text(encoding="utf-8")):
        if isinstance(step, WriteFile):
            target = resolve(step.path, workspace, home)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.text, encoding="utf-8")
            output = ""
        elif isinstance(step, Run):
            proc = subprocess.run(["bash", "-c", step.command], cwd=workspace, env=env, capture_output=True,
                                  text=True, timeout=300, check=False)
            printed = proc.stdout + proc.stderr
            transcript.append(f"$ {step.command}  (exit {proc.returncode})\n{printed}")
            assert proc.returncode == step.exit_code, "\n".join(transcript)
            output += printed
        else:
            missing = missing_lines(step.lines, output)
            assert not missing, f"expected, in order: {missing}\n--- output ---\n{output}"
            output = ""


@pytest.mark.parametrize(("expected", "output", "found"), [
    (("a … c",), "x\na b c\n", True),
    (("CHECK … STATUS",), "CHECK   STATUS  DETAIL\n", True),
    (("one", "two"), "two\none\n", False),  # order matters
    (("…", "two"), "two\n", True),
    (("notes.txt: 9 words",), "notes.txt: 10 words\n", False),
])
def test_expected_output_matching(expected: tuple[str, ...], output: str, found: bool) -> None:
    assert (missing_lines(expected, output) == []) is found
