"""The command-line stack itself: names, global options anywhere, "did you mean", exit codes, output rules."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from importlib import metadata

import pytest

from pi_sandbox import __version__
from pi_sandbox.cli.context import CliContext, print_human, render_table, with_iso_times
from pi_sandbox.cli.main import main
from pi_sandbox.cli.progress import progress_bar, suspend
from tests.conftest import PiEnv


class FakeTerminal(io.StringIO):
    """A stream that says it is a terminal (colour and progress bars switch on for terminals only)."""

    def isatty(self) -> bool:
        return True


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, object]:
    assert main(argv) == 0, capsys.readouterr().err
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


CHECK = ["--extension", "ext.a", "--capability", "read"]


@pytest.mark.parametrize("argv", [
    ["--json", "policy", "check", *CHECK],
    ["policy", "--json", "check", *CHECK],
    ["policy", "check", *CHECK, "--json"],
    ["policy", "check", "--json", *CHECK],
])
def test_global_options_work_anywhere(pi_env: PiEnv, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert _json(capsys, argv)["decision"] == "allow"


@pytest.mark.parametrize("argv", [
    ["--extension-policy", "permissive", "policy", "check", "-e", "x", "--capability", "exec", "--json"],
    ["policy", "check", "-e", "x", "--capability", "exec", "--json", "--extension-policy", "permissive"],
])
def test_profile_option_before_or_after_the_command(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert _json(capsys, argv)["decision"] == "allow"


@pytest.mark.parametrize(("argv", "words"), [
    (["polcy"], "Did you mean 'policy'?"),
    (["policy", "chek"], "Did you mean 'check'?"),
    (["security", "ledgr", "verify"], "Did you mean 'ledger'?"),
    (["policy", "check", "--extenson", "x"], "--extension"),
    (["--jsn", "policy"], "--json"),
])
def test_did_you_mean(pi_env: PiEnv, capsys: pytest.CaptureFixture[str], argv: list[str], words: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and err.startswith("pi-sandbox")


def test_exit_code_table(pi_env: PiEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """0 ok, 1 a check failed, 2 usage, 3 environment: one example each, through the real entry point."""
    assert main(["policy", "check", *CHECK]) == 0
    assert main(["debug", "hostcall", "-e", "x", "--method", "exec", "--params", '{"cmd": "id"}']) == 1  # denied
    assert main(["policy", "check", "--capability", "read"]) == 2  # missing --extension
    blocker = pi_env.root / "blocker"
    blocker.write_text("a file where the state dir should be")
    monkeypatch.setenv("PI_SECURITY_DIR", str(blocker / "security"))
    assert main(["debug", "hostcall", "-e", "x", "--method", "log", "--params", '{"message": "m"}']) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(blocker) in err


def test_group_without_subcommand_shows_help_and_exits_2(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["security", "ledger"]) == 2
    out = capsys.readouterr().out
    assert "verify" in out and "show" in out


def test_explain_flag_runs_on_its_own(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--explain-extension-policy", "ext", "list"]) == 2
    assert "runs on its own" in capsys.readouterr().err
    assert _json(capsys, ["policy", "explain", "--json"])["effective_profile"] == "safe"


def test_explain_text_for_one_extension(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    pi_env.write_global({"extensionPolicy": {"perExtension": {"ext.a": {"deny": ["http"], "allow": ["ui"]}}}})
    assert main(["--explain-extension-policy", "-e", "ext.a"]) == 0
    out = capsys.readouterr().out
    assert "extension         : ext.a" in out and "override ext.a" in out and "deny http" in out
    assert "extension_deny" in out and "{'" not in out and "None" not in out  # no Python reprs


def test_no_extensions_alone_confirms_that_nothing_loads(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    """The runbook's emergency stop, spelled `pi --no-extensions`, works as `pi-sandbox --no-extensions`."""
    (pi_env.agent_dir / "extensions").mkdir()
    (pi_env.agent_dir / "extensions" / "x.ts").write_text("export default function (pi: any) {}\n")
    assert main(["--no-extensions"]) == 0
    out = capsys.readouterr().out
    assert "(none)" in out and "no extension was discovered or loaded" in out


def test_json_keeps_epoch_milliseconds_and_adds_iso_times(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, ["policy", "grant", "-e", "ext.a", "--capability", "ui", "--expires", "1h", "--json"])
    assert isinstance(doc["expires_at_ms"], int) and isinstance(doc["decided_at_ms"], int)
    assert doc["expires_at"] == with_iso_times({"expires_at_ms": doc["expires_at_ms"]})["expires_at"]
    assert str(doc["decided_at"]).endswith("Z") and "T" in str(doc["decided_at"])
    assert main(["policy", "decisions"]) == 0
    out = capsys.readouterr().out
    assert str(doc["expires_at"])[:19] + "Z" in out and str(doc["expires_at_ms"]) not in out  # to the second


def test_with_iso_times_leaves_durations_and_existing_keys_alone() -> None:
    doc = with_iso_times({"ts_ms": 0, "timeout_ms": 5, "nested": [{"created_at_ms": 1000}], "ts": "keep"})
    assert doc == {"ts_ms": 0, "timeout_ms": 5, "ts": "keep",
                   "nested": [{"created_at_ms": 1000, "created_at": "1970-01-01T00:00:01.000Z"}]}


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)

    def show(stream: io.StringIO, no_color: bool = False) -> str:
        """Render and print a table with ``stream`` as stdout (tables and colour follow stdout)."""
        real, sys.stdout = sys.stdout, stream
        try:
            print_human([render_table([{"decision": "deny"}], ["decision"])], no_color=no_color)
        finally:
            sys.stdout = real
        return stream.getvalue()

    assert "\x1b[" in show(FakeTerminal())
    piped = show(io.StringIO())
    assert "\x1b" not in piped and "deny" in piped
    assert "\x1b" not in show(FakeTerminal(), no_color=True)
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b" not in show(FakeTerminal())


def test_extension_text_cannot_style_or_control_the_terminal() -> None:
    """Cells are terminal-safe and never parsed as rich markup."""
    out = FakeTerminal()
    print_human([render_table([{"id": "[red]x[/red]\x1b[2J"}], ["id"]), "[bold]y\x1b]0;t\x07"], stream=out)
    text = out.getvalue()
    assert "[red]x[/red]" in text and "[bold]y" in text and "\\x1b[2J" in text
    assert "\x1b[2J" not in text and "\x1b]0" not in text


def test_tables_fit_the_width(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"id": f"extension-{i}", "reason": "word " * 30} for i in range(3)]
    for columns in (40, 80, 200):
        monkeypatch.setenv("COLUMNS", str(columns))
        out = io.StringIO()
        print_human(render_table(rows, ["id", "reason"]), stream=out)
        lines = out.getvalue().splitlines()
        assert max(len(line) for line in lines) <= columns
        assert "".join(lines).count("word") == 90  # wrapped, nothing cut off
    monkeypatch.delenv("COLUMNS")
    out = io.StringIO()
    print_human(render_table(rows, ["id", "reason"]), stream=out)
    assert len(out.getvalue().splitlines()) == 4  # piped without $COLUMNS: one line per row


def test_a_table_too_wide_for_whole_ids_becomes_one_block_per_row(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"time": "2026-01-01T00:00:00.000Z", "call_id": "ext-a:0123456789abcdef:1", "reason": "default_caps",
             "note": ""}, {"time": "2026-01-01T00:00:01.000Z", "call_id": "ext-b:fedcba9876543210:2",
                           "reason": "deny_caps", "note": "n"}]
    monkeypatch.setenv("COLUMNS", "50")
    out = io.StringIO()
    print_human(render_table(rows, ["time", "call_id", "reason", "note"]), stream=out)
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["TIME     2026-01-01T00:00:00.000Z", "CALL_ID  ext-a:0123456789abcdef:1",
                         "REASON   default_caps"]  # ids and times whole; the empty NOTE left out
    assert lines[3] == "" and lines[-1] == "NOTE     n"
    monkeypatch.setenv("COLUMNS", "200")
    out = io.StringIO()
    print_human(render_table(rows, ["time", "call_id", "reason", "note"]), stream=out)
    assert len(out.getvalue().splitlines()) == 3  # header + one line per row


def test_progress_is_drawn_on_a_terminal_only_and_only_for_slow_work() -> None:
    terminal = FakeTerminal()
    with progress_bar(CliContext(), "scanning", unit="files", stream=terminal, delay_s=0) as bar:
        bar(3, 10, "a.ts")
        # The bar is drawn by its refresh thread: wait for it (a fixed 0.3 s was too short under load).
        end = time.monotonic() + 10
        while "scanning" not in terminal.getvalue() and time.monotonic() < end:
            time.sleep(0.02)
    assert "scanning" in terminal.getvalue()
    fast = FakeTerminal()
    with progress_bar(CliContext(), "scanning", stream=fast, delay_s=5) as bar:
        bar(1, 2, "x")
    assert fast.getvalue() == ""
    piped = io.StringIO()
    with progress_bar(CliContext(), "scanning", stream=piped, delay_s=0) as bar:
        bar(1, 2, "x")
    assert piped.getvalue() == ""


def test_help_imports_no_layer_and_no_rich() -> None:
    """``--help`` stays fast because it loads nothing but click (timings: benchmarks/bench_cli.py)."""
    code = ("import sys; from pi_sandbox.cli.main import main; main(['--help']); "
            "print(sorted(m for m in sys.modules if m.startswith(('pi_sandbox.', 'rich'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    loaded = json.loads(proc.stdout.strip().splitlines()[-1].replace("'", '"'))
    assert set(loaded) <= {"pi_sandbox.cli", "pi_sandbox.cli.main", "pi_sandbox.cli.app", "pi_sandbox.cli.commands",
                           "pi_sandbox.cli.context", "pi_sandbox.errors"}, loaded


def test_help_imports_nothing_beyond_what_click_itself_needs() -> None:
    """Standard-library modules count too (json, difflib, shutil, pathlib, dataclasses: 10-30 ms together)."""
    probe = ("import sys, io, contextlib\n{body}\n"
             "print(sorted(m for m in sys.modules if not m.startswith('pi_sandbox')))")
    ours = probe.format(body="from pi_sandbox.cli.main import main\n"
                             "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])")
    bare = probe.format(body="import click\n@click.group()\ndef g(): pass\n"
                             "with contextlib.redirect_stdout(io.StringIO()):\n"
                             "    g.main(['--help'], standalone_mode=False)")
    loaded = {}
    for name, code in (("ours", ours), ("bare", bare)):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
        loaded[name] = set(json.loads(proc.stdout.strip().splitlines()[-1].replace("'", '"')))
    assert loaded["ours"] - loaded["bare"] == set()


def test_progress_can_be_suspended_before_a_question() -> None:
    terminal = FakeTerminal()
    with progress_bar(CliContext(), "scanning", stream=terminal, delay_s=0) as bar:
        bar(1, 10)
        time.sleep(0.3)
        suspend(bar)
        drawn = len(terminal.getvalue())
        bar(5, 10)  # after suspend: nothing more is drawn
        time.sleep(0.3)
    assert drawn > 0 and len(terminal.getvalue()) == drawn
    suspend(None)  # nothing to suspend: fine


def test_python_dash_m_and_the_console_script_name(pi_env: PiEnv) -> None:
    proc = subprocess.run([sys.executable, "-m", "pi_sandbox", "--version"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert (proc.returncode, proc.stdout.strip()) == (0, f"pi-sandbox {__version__}")
    scripts = {ep.name for ep in metadata.distribution("pi-sandbox").entry_points if ep.group == "console_scripts"}
    assert scripts == {"pi-sandbox"}  # never `pi`: that name belongs to the pi agent


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_and_answers(pi_env: PiEnv, capsys: pytest.CaptureFixture[str], shell: str) -> None:
    assert main(["completion", shell]) == 0
    assert "_PI_SANDBOX_COMPLETE" in capsys.readouterr().out
    env = {**os.environ, "_PI_SANDBOX_COMPLETE": "bash_complete", "COMP_WORDS": "pi-sandbox security led",
           "COMP_CWORD": "2"}
    proc = subprocess.run([sys.executable, "-m", "pi_sandbox"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0 and "plain,ledger" in proc.stdout, proc.stderr


def test_other_platforms_are_refused_with_the_reason(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert main(["policy", "check", *CHECK]) == 3
    err = capsys.readouterr().err
    assert "Linux only (this is darwin)" in err and "Landlock" in err and "Traceback" not in err
    assert main(["--help"]) == 0  # help still explains what the tool is


@pytest.mark.parametrize(("argv", "hint"), [
    (["policy", "check", "--capability", "exce", "-e", "x"], "did you mean 'exec'?"),
    (["security", "alerts", "list", "--min-severity", "warn"], "Did you mean 'warning'?"),
    (["config", "validate", "bad.json"], "did you mean 'exec'?"),
])
def test_mistyped_values_name_the_closest_one(pi_env: PiEnv, capsys: pytest.CaptureFixture[str], argv: list[str],
                                             hint: str) -> None:
    (pi_env.workspace / "bad.json").write_text('{"extensionPolicy": {"perExtension": {"x": {"allow": ["exce"]}}}}')
    assert main(argv) in (1, 2)
    captured = capsys.readouterr()
    assert hint in captured.out + captured.err
