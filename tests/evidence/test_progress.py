"""Bundle export and verify draw a progress bar on a terminal's stderr (issue 11: 100k entries take seconds),
never on stdout where --json goes, and report monotonic progress to library callers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.cli import progress as cli_progress
from pi_sandbox.cli.main import main
from pi_sandbox.evidence import export_bundle, verify_bundle
from tests.cli.test_long_work_progress import FakeTerminal, Heard, _ledger
from tests.conftest import PiEnv


def test_library_calls_report_progress_to_the_end(pi_env: PiEnv, tmp_path: Path) -> None:
    _ledger(pi_env.state_dir, 3000)
    heard_export, heard_verify = Heard(), Heard()
    with AuditStore.open(pi_env.state_dir) as store:
        export_bundle(store, tmp_path / "b.json", progress=heard_export)
    assert verify_bundle(tmp_path / "b.json", progress=heard_verify).valid
    for heard in (heard_export, heard_verify):
        done = [d for d, _ in heard.calls]
        assert done == sorted(done) and heard.calls[-1][0] == heard.calls[-1][1]


def test_export_and_verify_draw_on_a_terminal_stderr_only(pi_env: PiEnv, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _ledger(pi_env.state_dir, 3000)
    monkeypatch.setattr(cli_progress, "DELAY_S", 0.0)
    close = cli_progress._DelayedBar.close

    def close_once_drawn(bar: cli_progress._DelayedBar) -> None:  # the work may beat the timer thread
        bar._timer.join()
        close(bar)

    monkeypatch.setattr(cli_progress._DelayedBar, "close", close_once_drawn)
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    out_file = tmp_path / "bundle.json"
    assert main(["security", "bundle", "export", "--out", str(out_file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["counts"]["risk_ledger"] >= 3000
    assert "exporting" in terminal.getvalue()
    assert main(["security", "bundle", "verify", str(out_file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True
    assert "verifying" in terminal.getvalue()
