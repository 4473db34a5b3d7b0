"""``pi-sandbox ext scan``: exit codes, output formats, a real subprocess run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pi_sandbox.cli.main import main


@pytest.fixture()
def samples(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "pass": tmp_path / "clean.ts",
        "warn": tmp_path / "env.ts",
        "fail": tmp_path / "evil.js",
        "text": tmp_path / "notes.txt",
    }
    paths["pass"].write_text("export const a = (x: number) => x + 1;\n")
    paths["warn"].write_text("export const home = process.env.HOME;\n")
    paths["fail"].write_text("require('vm').runInThisContext(code);\n")
    paths["text"].write_text("hello\n")
    return paths


def test_exit_codes(samples: dict[str, Path]) -> None:
    assert main(["ext", "scan", str(samples["pass"])]) == 0
    assert main(["ext", "scan", str(samples["warn"])]) == 0
    assert main(["ext", "scan", str(samples["warn"]), "--fail-on", "flagged"]) == 1
    assert main(["ext", "scan", str(samples["fail"])]) == 1
    assert main(["ext", "scan", str(samples["text"])]) == 2
    assert main(["ext", "scan", str(samples["pass"].parent / "nope")]) == 2
    assert main(["ext", "scan", str(samples["pass"]), "--fail-on", "maybe"]) == 2
    assert main(["ext", "scan", str(samples["pass"]), "--json", "--sarif"]) == 2


def test_json_and_sarif_outputs(samples: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ext", "scan", str(samples["fail"]), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "fail"
    assert doc["files"][0]["findings"][0]["rule"] == "FORBIDDEN_MODULE"
    assert main(["ext", "scan", str(samples["fail"]), "--sarif"]) == 1
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["version"] == "2.1.0"
    assert sarif["runs"][0]["results"][0]["ruleId"] == "FORBIDDEN_MODULE"


def test_human_output_and_error_message(samples: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    main(["ext", "scan", str(samples["warn"])])
    out = capsys.readouterr().out
    assert "ENV_ACCESS" in out and "env.ts:1:" in out and "verdict: WARN" in out
    main(["ext", "scan", str(samples["text"])])
    err = capsys.readouterr().err
    assert "not a JavaScript/TypeScript file" in err and "Traceback" not in err


def test_real_subprocess(samples: dict[str, Path]) -> None:
    proc = subprocess.run([sys.executable, "-m", "pi_sandbox.cli.main", "ext", "scan", str(samples["fail"]),
                           "--json"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["counts"]["forbidden"] == 1


def test_terminal_control_characters_from_extension_code_are_neutralised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: excerpts and file names were printed raw, so an extension could move the cursor, erase
    the FORBIDDEN lines and print its own 'verdict: PASS' (or reorder text with bidi overrides)."""
    ext = tmp_path / "ext"
    ext.mkdir()
    (ext / "index.js").write_text("eval(x); // \x1b[2K\x1b[1A\rverdict: PASS \u202e\n")
    (ext / "a\x1b[2Kb.js").write_text("eval(y);\n")
    assert main(["ext", "scan", str(ext)]) == 1
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err and "\r" not in out and "\u202e" not in out
    assert "\\x1b[2K" in out and "FORBIDDEN" in out
    assert main(["ext", "scan", str(ext), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)  # JSON keeps the exact text (escaped by the encoder)
    assert any("\x1b" in f["path"] for f in report["files"])


@pytest.mark.parametrize("command", ["scan", "preflight", "install"])
def test_empty_path_is_a_usage_error_not_the_current_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """Regression: ``pi ext install "$UNSET"`` scanned and installed the current directory."""
    monkeypatch.setenv("PI_CODING_AGENT_DIR", str(tmp_path / "agent"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "index.js").write_text("export {};\n")
    assert main(["ext", command, ""]) == 2
    assert "empty" in capsys.readouterr().err
    assert not (tmp_path / "agent" / "extensions").exists()


def test_unknown_user_home_in_the_path_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ext", "scan", "~nosuchuser-pi-test/x"]) == 2
    assert "~nosuchuser-pi-test" in capsys.readouterr().err


def test_text_output_shows_flows_and_what_is_reported_apart(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "index.js").write_text("const k = atob('ZXZhbA==');\nconst g = globalThis;\ng[k]('1');\n")
    served = tmp_path / "node_modules" / "@sinclair" / "typebox"
    served.mkdir(parents=True)
    (served / "compiler.js").write_text("module.exports = (...a) => new Function(...a);\n")
    assert main(["ext", "scan", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "index.js:3: atob(…) → k → `g[k]`" in out
    assert "reported apart" in out and "1 in served dependencies" in out
    assert "compiler.js" not in out  # summarised, not listed among the findings that decide the verdict


@pytest.mark.parametrize("command", ["scan", "preflight", "install"])
def test_a_wrong_path_gets_a_fix_for_the_command_that_was_run(
    pi_env: object, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # `ext install ./nope` answered "give `pi-sandbox ext scan` a readable extension folder".
    code = main(["ext", command, "./no-such-extension"])
    err = capsys.readouterr().err
    assert code == 2 and "no-such-extension" in err and "check the path" in err and "ext scan`" not in err
