"""The command table (``command_table``): class and decision per profile for every row.

Scripts are read from a real workspace on disk through the real confined reader; the ``exec`` call
forms (``env``, ``stdin``) go through ``ExecMediator.evaluate`` exactly as the pipeline calls it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pi_sandbox.config.model import ExecMediationSettings
from pi_sandbox.connectors.script_reader import ConfinedScriptReader
from pi_sandbox.mediation.exec_mediation import ExecMediator
from tests.mediation.command_table import BENIGN, HOSTILE, REQUESTS, TABLE, WORKSPACE

PROFILES = ("safe", "balanced", "permissive")
LETTER = {"deny": "D", "allow_with_audit": "A", "allow": "a"}
MEDIATORS = {p: ExecMediator(ExecMediationSettings(), p) for p in PROFILES}


def build_workspace(root: Path) -> Path:
    for rel, content in WORKSPACE.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str) and content.startswith("->"):
            path.symlink_to(content[2:])
        elif isinstance(content, bytes):
            path.write_bytes(content)
            path.chmod(0o755)
        else:
            path.write_text(content, encoding="utf-8")
            path.chmod(0o755)
    return root


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_workspace(tmp_path_factory.mktemp("ws"))


def decide(workspace: Path, command: str) -> tuple[str, tuple[str, ...]]:
    reader = ConfinedScriptReader([workspace])
    letters = ""
    classes: tuple[str, ...] = ()
    for profile in PROFILES:
        decision = MEDIATORS[profile].evaluate("sh", ["-c", command], scripts=reader, cwd=str(workspace), cached=False)
        letters += LETTER[decision.decision]
    result = MEDIATORS["safe"].classifier.classify("sh", ["-c", command], scripts=reader, cwd=str(workspace))
    classes = result.classes
    return letters, classes


def test_table_size_and_balance() -> None:
    assert len(TABLE) >= 300
    assert len(BENIGN) >= 100 and len(HOSTILE) >= 200
    assert len({row[0] for row in TABLE}) == len(TABLE), "duplicate rows"


@pytest.mark.parametrize(("command", "expected", "letters"), TABLE, ids=[f"{i:03d}" for i in range(len(TABLE))])
def test_row(workspace: Path, command: str, expected: str | None, letters: str) -> None:
    got, classes = decide(workspace, command)
    if expected is None:
        assert classes == (), (command, classes)
    else:
        assert expected in classes, (command, classes)
    assert got == letters, (command, classes)


def test_no_benign_command_is_denied_under_permissive(workspace: Path) -> None:
    denied = [c for c, _, _ in BENIGN if decide(workspace, c)[0][2] == "D"]
    assert denied == []


@pytest.mark.parametrize(
    ("cmd", "args", "env", "stdin", "expected", "letters"), REQUESTS, ids=[f"req{i:02d}" for i in range(len(REQUESTS))]
)
def test_exec_call_parameters(
    workspace: Path, cmd: str, args: list[str], env: dict[str, str], stdin: str | None, expected: str | None,
    letters: str,
) -> None:
    reader = ConfinedScriptReader([workspace])
    got = "".join(
        LETTER[MEDIATORS[p].evaluate(cmd, args, env=env, stdin=stdin, scripts=reader, cwd=str(workspace)).decision]
        for p in PROFILES
    )
    classes = MEDIATORS["safe"].classifier.classify(cmd, args, env=env, stdin=stdin, scripts=reader,
                                                     cwd=str(workspace)).classes
    if expected is None:
        assert classes == ()
    else:
        assert expected in classes, classes
    assert got == letters, classes


def test_allow_env_lets_a_named_variable_through_but_still_classifies_its_command(workspace: Path) -> None:
    med = ExecMediator(ExecMediationSettings(allow_env=("GIT_SSH_COMMAND", "PYTHONPATH")), "permissive")
    assert med.evaluate("git", ["fetch"], env={"GIT_SSH_COMMAND": "ssh -i key"}).decision == "allow"
    assert med.evaluate("python3", ["-m", "pytest"], env={"PYTHONPATH": "src"}).decision == "allow"
    assert med.evaluate("git", ["fetch"], env={"GIT_SSH_COMMAND": "rm -rf ~"}).denied
    assert med.evaluate("ls", [], env={"LD_PRELOAD": "x.so"}).denied  # not named: still denied


def test_counts_report(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Denied hostile rows and denied benign rows per profile (printed for the report; asserted as floors)."""
    hostile = {p: 0 for p in PROFILES}
    benign = {p: 0 for p in PROFILES}
    for rows, counts in ((HOSTILE, hostile), (BENIGN, benign)):
        for command, _, _ in rows:
            letters, _ = decide(workspace, command)
            for profile, letter in zip(PROFILES, letters, strict=True):
                counts[profile] += letter == "D"
    with capsys.disabled():
        print(f"\ncommand table: {len(TABLE)} rows ({len(HOSTILE)} hostile, {len(BENIGN)} benign); "
              f"hostile denied {hostile}; benign denied {benign}", file=os.sys.stderr)  # type: ignore[attr-defined]
    assert benign["permissive"] == 0 and benign["balanced"] == 0
    assert hostile["safe"] >= hostile["balanced"] >= hostile["permissive"] > 0.7 * len(HOSTILE)
