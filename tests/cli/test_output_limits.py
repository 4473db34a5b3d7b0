"""Output that cannot be written (a file size limit, a full disk) is a clean exit 3, and never a partial file.

Run as real processes under ``RLIMIT_FSIZE`` (``ulimit -f``): ``security export --out``, ``bundle report --html``
and ``--json`` to a redirected stdout printed a traceback, and the first two left a file cut off at the limit
(a collector would import a partial JSON-lines file; a report would open shorter). ``bundle export --out``
exited 2, a usage error, for what is the machine's problem.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from pi_sandbox.audit import AuditStore
from tests.audit.conftest import fill
from tests.conftest import PiEnv

LIMIT = 48 * 1024  # above SQLite's 32 KiB -shm index (readers create it), below every output here


def _limited(cwd: Path, *argv: str, stdout: Path | None = None,
             size: int = LIMIT) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    out = stdout.open("w") if stdout is not None else subprocess.PIPE
    try:
        return subprocess.run([sys.executable, "-m", "pi_sandbox", *argv], cwd=cwd, stdout=out,
                              stderr=subprocess.PIPE, text=True, preexec_fn=limit, timeout=120)
    finally:
        if stdout is not None:
            out.close()  # type: ignore[union-attr]


@pytest.fixture()
def big_ledger(pi_env: PiEnv) -> PiEnv:
    with AuditStore.open(pi_env.state_dir) as store:
        fill(store, 400)
    with AuditStore.open_read_only(pi_env.state_dir) as store:
        store.query_ledger(limit=1)  # the -shm index exists before the limit applies
    return pi_env


def _clean(done: subprocess.CompletedProcess[str], folder: Path, name: str) -> None:
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert "File too large" in done.stderr and "ulimit -f" in done.stderr
    assert not (folder / name).exists()
    assert not [p.name for p in folder.iterdir() if p.name.startswith(f".{name}")]  # no temp file left


def test_export_out_is_whole_or_absent(big_ledger: PiEnv, tmp_path: Path) -> None:
    ws = big_ledger.workspace
    _clean(_limited(ws, "security", "export", "--out", "host.jsonl"), ws, "host.jsonl")
    done = _limited(ws, "security", "bundle", "export", "--out", "b.json")
    _clean(done, ws, "b.json")
    assert "nothing was written there" in done.stderr


def test_report_html_is_whole_or_absent(big_ledger: PiEnv, tmp_path: Path) -> None:
    ws = big_ledger.workspace
    assert subprocess.run([sys.executable, "-m", "pi_sandbox", "security", "bundle", "export", "--out", "b.json"],
                          cwd=ws, capture_output=True, timeout=120).returncode == 0
    # (reading a bundle file needs no database: the report itself is what hits the limit)
    _clean(_limited(ws, "security", "bundle", "report", "b.json", "--html", "r.html", size=2048), ws, "r.html")


@pytest.mark.parametrize("argv", [("security", "ledger", "show", "--json"), ("security", "export")])
def test_stdout_past_the_limit_is_a_clean_error(big_ledger: PiEnv, tmp_path: Path, argv: tuple[str, ...]) -> None:
    done = _limited(big_ledger.workspace, *argv, stdout=tmp_path / "out.txt")
    assert done.returncode == 3, done.stderr
    assert "cannot write the output: File too large" in done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr


def test_an_unwritable_destination_gets_a_fix_that_fits(big_ledger: PiEnv) -> None:
    done = subprocess.run([sys.executable, "-m", "pi_sandbox", "security", "export", "--out", "no/such/dir/h.jsonl"],
                          cwd=big_ledger.workspace, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3 and "No such file or directory" in done.stderr
    assert "folder that exists" in done.stderr and "ulimit" not in done.stderr and "Traceback" not in done.stderr
