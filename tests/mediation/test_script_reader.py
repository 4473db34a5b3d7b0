"""The script reader exec mediation uses through the pipeline: one reader per extension's rules, and
still every script read fresh, confined to the roots and never from the protected state."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pi_sandbox.connectors.script_reader import ConfinedScriptReader
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.dispatch.stages.mediation import MediationStage
from pi_sandbox.mediation.script_source import ScriptUnavailable
from pi_sandbox.vocabulary import StageName
from tests.conftest import OpenSandbox, PiEnv

Request = Callable[..., dict[str, Any]]
PERMISSIVE = {"extensionPolicy": {"profile": "permissive", "allowDangerous": True}}


def _scripts(box: Sandbox) -> list[list[str]]:
    return [r.payload["scripts"] for r in box.store.query_records(kind="exec_mediation")]


def test_a_script_changed_between_identical_calls_is_judged_anew(
        open_sandbox: OpenSandbox, make_request: Request, pi_env: PiEnv) -> None:
    box = open_sandbox(settings=PERMISSIVE)
    script = pi_env.workspace / "build.sh"
    canary = pi_env.workspace / "canary"
    script.write_text("echo building\n")
    call = {"name": "bash", "input": {"command": "sh build.sh"}}
    res = box.hostcall("ext", make_request("tool", call))
    assert res.ok and res.result["stdout"] == "building\n"
    # Same command, same cwd: only the file changed. If a broken defence ran it, it exits first, and `~` is
    # the test's temp HOME (pi_env), whose canary must survive.
    home_canary = pi_env.home / "canary"
    home_canary.write_text("still here", encoding="utf-8")
    script.write_text(f"touch {canary}; exit 0\nrm -rf ~\n")
    res = box.hostcall("ext", make_request("tool", call))
    assert not res.ok and res.reason == "critical_always_denied"
    assert not canary.exists() and home_canary.read_text(encoding="utf-8") == "still here"
    first, second = _scripts(box)
    assert len(first) == 1 and len(second) == 1 and first != second


def test_scripts_outside_the_roots_or_in_the_state_dir_are_not_read(
        open_sandbox: OpenSandbox, make_request: Request, pi_env: PiEnv, tmp_path: Path) -> None:
    box = open_sandbox(settings=PERMISSIVE)
    outside = tmp_path / "outside.sh"
    outside.write_text("echo outside\n")
    (pi_env.workspace / "link.sh").symlink_to(outside)
    pi_env.state_dir.mkdir(parents=True, exist_ok=True)
    (pi_env.state_dir / "state.sh").write_text("echo state\n")
    os.symlink(pi_env.state_dir / "state.sh", pi_env.workspace / "state-link.sh")
    for name in ("link.sh", "state-link.sh", "../outside.sh"):
        box.hostcall("ext", make_request("tool", {"name": "bash", "input": {"command": f"sh {name}"}}))
    assert _scripts(box) == [[ScriptUnavailable.OUTSIDE.value]] * 3


def test_the_stage_keeps_one_reader_per_rules(open_sandbox: OpenSandbox, pi_env: PiEnv) -> None:
    box = open_sandbox(settings=PERMISSIVE)
    stage = box.pipeline.stage(StageName.MEDIATION)
    assert isinstance(stage, MediationStage)
    rules = box.rules_for("ext")
    reader = stage._reader(rules)
    assert stage._reader(rules) is reader
    assert reader.roots == rules.roots and reader.excluded == rules.protected


def test_an_unresolved_reader_resolves_its_roots(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "x.sh").write_text("echo hi\n")
    (tmp_path / "alias").symlink_to(real)
    reader = ConfinedScriptReader([tmp_path / "alias"])
    assert reader.roots == (real,)
    assert reader.read("x.sh", None) == "echo hi\n"
    assert reader.read("x.sh", str(tmp_path / "alias")) == "echo hi\n"
    assert reader.read("missing.sh", None) is ScriptUnavailable.MISSING
    assert ConfinedScriptReader([real], excluded=[real / "x.sh"]).read("x.sh", None) is ScriptUnavailable.OUTSIDE


def test_secret_files_are_not_read_as_scripts_by_name_or_through_a_hard_link(
        open_sandbox: OpenSandbox, make_request: Request, pi_env: PiEnv) -> None:
    """What the classifier decides about a file's text tells the caller something of it: a secret file the
    extension may not read (or a hard link to one, made outside) is not read as a script either."""
    box = open_sandbox(settings={**PERMISSIVE, "extensionRisk": {"enabled": False}})  # (each call judged alone)
    canary = pi_env.workspace / "ran"  # the payload only ever touches a canary (writable to the child)
    (pi_env.workspace / ".env").write_text(f"TOKEN=abc\ntouch {canary}\n")
    (pi_env.workspace / "notes.sh").hardlink_to(pi_env.workspace / ".env")
    (pi_env.workspace / "plain.sh").write_text("echo plain\n")
    results = [box.hostcall("ext", make_request("tool", {"name": "bash", "input": {"command": f"sh {name}"}}))
               for name in (".env", "notes.sh", "plain.sh")]
    secret, link, plain = _scripts(box)
    assert secret == link == [ScriptUnavailable.SECRET.value] != plain, (_scripts(box), results)
    assert results[2].ok and results[2].result["stdout"] == "plain\n", results[2]
    assert not canary.exists()  # and the children never saw the secret's text either (hidden from exec)
