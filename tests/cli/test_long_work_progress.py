"""Long work reports progress: ledger verification, install preflight and install, and the commands draw it.

The library calls hear ``(done, total)`` as they go; the commands pass a progress bar that draws on a
terminal's stderr (never on a pipe, and never on stdout, where ``--json`` goes).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from pi_sandbox.audit import AuditStore, LedgerEntryDraft, verify_ledger
from pi_sandbox.cli import progress as cli_progress
from pi_sandbox.cli.main import main
from pi_sandbox.scanner import install as installer
from tests.conftest import MakeConfig, PiEnv


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Heard:
    """A progress callback that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int | None]] = []

    def __call__(self, done: int, total: int | None = None, detail: str = "") -> None:
        self.calls.append((done, total))


def _ledger(state_dir: Path, entries: int) -> None:
    with AuditStore.open(state_dir) as store:
        store.append_many([LedgerEntryDraft(kind="hostcall", extension_id="ext.a", decision="allow", capability="read",
                                            method="fs", reason="default_caps") for _ in range(entries)])


def test_ledger_verification_reports_entries_checked(pi_env: PiEnv) -> None:
    _ledger(pi_env.state_dir, 9000)
    heard = Heard()
    report = verify_ledger(pi_env.state_dir, progress=heard)
    assert report.chain_valid
    total = report.entry_count
    assert total == 9000
    assert heard.calls[-1] == (total, total)
    assert len(heard.calls) >= 3 and all(t == total for _d, t in heard.calls)
    assert [d for d, _t in heard.calls] == sorted(d for d, _t in heard.calls)


def test_preflight_reports_the_files_it_scans(make_config: MakeConfig, pi_env: PiEnv) -> None:
    ext = pi_env.workspace / "many"
    ext.mkdir()
    (ext / "package.json").write_text('{"name": "many", "pi": {"extensions": ["./index.ts"]}}')
    (ext / "index.ts").write_text("export default function (pi: any) {}\n")
    for i in range(30):
        (ext / f"lib{i}.ts").write_text(f"export const v{i} = {i};\n")
    heard = Heard()
    check = installer.preflight(ext, make_config(), progress=heard)
    assert check.decision == installer.READY
    assert heard.calls and heard.calls[-1][0] >= 31


def test_commands_draw_progress_on_a_terminal_stderr_only(pi_env: PiEnv, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _ledger(pi_env.state_dir, 5000)
    monkeypatch.setattr(cli_progress, "DELAY_S", 0.0)
    close = cli_progress._DelayedBar.close

    def close_once_drawn(bar: cli_progress._DelayedBar) -> None:  # the work may beat the timer thread
        bar._timer.join()
        close(bar)

    monkeypatch.setattr(cli_progress._DelayedBar, "close", close_once_drawn)
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["security", "ledger", "verify", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"chain_valid": true' in out and "verifying" not in out
    assert "verifying the ledger" in terminal.getvalue()
