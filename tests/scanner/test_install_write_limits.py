"""``ext install`` when the machine refuses the copy (a file size limit; a full disk behaves the same).

It exited 2 with a Python repr of shutil's error list and the scanner's advice ("read the findings ... fix the
flagged code"). Now: exit 3, the first file that failed, a fix about space, nothing installed, and an installed
version left as it was. Run as real processes under ``RLIMIT_FSIZE``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

from tests.conftest import PiEnv

INDEX = "export default function (pi: any) { pi.registerCommand('hi', { handler: async () => {} }); }\n"


def _install(cwd: Path, folder: str, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def limited() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-m", "pi_sandbox", "ext", "install", folder], cwd=cwd,
                          capture_output=True, text=True, preexec_fn=limited, timeout=300)


def _extension(folder: Path, version: str, data_bytes: int) -> None:
    folder.mkdir()
    (folder / "package.json").write_text(json.dumps(
        {"name": "big", "version": version, "type": "module", "pi": {"extensions": ["./index.ts"]}}))
    (folder / "index.ts").write_text(INDEX)
    (folder / "data.txt").write_text("x" * data_bytes)


def test_a_refused_copy_installs_nothing_and_keeps_the_installed_version(pi_env: PiEnv) -> None:
    ws = pi_env.workspace
    _extension(ws / "v1", "1.0.0", 1_000)
    assert _install(ws, "./v1").returncode == 0
    installed = pi_env.agent_dir / "sandboxed-extensions" / "big"
    before = {p.name: p.read_bytes() for p in installed.iterdir() if p.is_file()}

    _extension(ws / "v2", "2.0.0", 400_000)
    done = _install(ws, "./v2", limit=200_000)

    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and "[(" not in done.stderr, done.stderr
    assert "data.txt" in done.stderr and "File too large" in done.stderr and "nothing was installed" in done.stderr
    assert "ulimit -f" in done.stderr and "flagged code" not in done.stderr
    assert {p.name: p.read_bytes() for p in installed.iterdir() if p.is_file()} == before
    assert [p.name for p in installed.parent.iterdir()] == ["big"]  # no staging folder left
    verify = subprocess.run([sys.executable, "-m", "pi_sandbox", "ext", "verify", "big"], cwd=ws,
                            capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
