# ruff: noqa: E501  (embedded JavaScript extension source)
"""The README's embedding example, run exactly as it is printed there (extracted from README.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from pi_sandbox.audit.verify import verify_ledger
from tests.runtime.conftest import write_file

README = Path(__file__).resolve().parents[2] / "README.md"
EXTENSION = """
import { Type } from "@sinclair/typebox";
export default function (pi: any) {
  pi.registerTool({ name: "greet", description: "Greets someone", parameters: Type.Object({ name: Type.String() }),
    execute: async (_id: string, p: any) => ({ content: [{ type: "text", text: `Hello, ${p.name}! EDITOR=${process.env.EDITOR}` }] }) });
}
"""


def readme_example() -> str:
    """The first Python block of the README's "Embed it in Python" section."""
    section = README.read_text(encoding="utf-8").split("## Embed it in Python", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README: the section has a python block"
    return match.group(1)


def test_readme_example_runs_as_printed(pi_env: Any) -> None:
    code = readme_example()
    assert len(code.strip().splitlines()) <= 12
    write_file(pi_env.workspace / "my-extension.ts", EXTENSION)
    run = subprocess.run([sys.executable, "-c", code], cwd=pi_env.workspace, capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("greet Greets someone {") and "'name': {'type': 'string'}" in lines[0]
    # `safe` denies env without asking: the tool still answers, and the denial comes with its remediation
    assert lines[1].startswith("Hello, ann! EDITOR=undefined [") and "allowDangerous" in lines[1]
    report = verify_ledger(pi_env.state_dir)
    assert report.chain_valid and report.unsealed_entries == 0 and report.entry_count >= 2
