"""``pi-sandbox security ledger set-aside``: a damaged or rolled-back ledger is kept as evidence and a new
one starts without lifting any containment, so the INC-3 workflow can run at all.

Before it existed the messages said "move security.db (and the anchor) aside and re-run": the new, empty
ledger then let every quarantined or kill-switched extension run again, and ``incident open --kind INC-3``
(the fix the errors named) was refused by the very ledger it was meant to investigate.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.cli.main import main
from pi_sandbox.config.model import TrustSettings
from pi_sandbox.trust import Controls
from pi_sandbox.trust.set_aside import MANIFEST, SET_ASIDE_DIR
from tests.audit.conftest import fill
from tests.conftest import PiEnv


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def blocked(state_dir: Path, extension_id: str) -> str | None:
    """What the pipeline's trust stage would say for the extension's next hostcall (None = runs)."""
    with AuditStore.open_read_only(state_dir) as store:
        controls = Controls(store, TrustSettings(), state_dir, watch=False)
        try:
            found = controls.blocked(extension_id)
        finally:
            controls.close()
    return None if found is None else found[0].value


def contained_ledger(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    """ext.q quarantined, ext.k kill-switched, then ten ordinary entries."""
    assert run(capsys, "ext", "trust", "quarantine", "-e", "ext.q", "--reason", "exfiltration")[0] == 0
    assert run(capsys, "security", "kill-switch", "on", "-e", "ext.k", "--reason", "runaway")[0] == 0
    with AuditStore.open(pi_env.state_dir) as store:
        fill(store, 10)


def test_rolled_back_ledger_is_set_aside_with_containment_kept(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    contained_ledger(pi_env, capsys)
    conn = sqlite3.connect(pi_env.db_path, isolation_level=None)
    conn.execute("DELETE FROM ledger WHERE seq > (SELECT MAX(seq) - 3 FROM ledger)")  # the tail is gone
    conn.close()
    # The INC-3 workflow is refused by the ledger it investigates; the fix names set-aside, not a bare mv.
    code, _, err = run(capsys, "incident", "open", "--kind", "INC-3")
    assert code == 1 and "security ledger set-aside --reason" in err and "Traceback" not in err
    before = {name: hashlib.sha256((pi_env.state_dir / name).read_bytes()).hexdigest()
              for name in ("security.db", "ledger-anchor.json")}

    result = run_json(capsys, "security", "ledger", "set-aside", "--reason", "tail deleted")

    folder = Path(result["folder"])
    assert folder.parent == pi_env.state_dir / SET_ASIDE_DIR
    assert "entries were deleted" in result["problem"]
    moved = {f["name"]: f["sha256"] for f in result["files"]}
    assert {k: moved[k] for k in before} == before  # moved byte for byte, hashes recorded
    assert all(hashlib.sha256((folder / n).read_bytes()).hexdigest() == moved[n] for n in before)
    manifest_text = (folder / MANIFEST).read_text()
    assert hashlib.sha256(manifest_text.encode()).hexdigest() == result["manifest_sha256"]
    assert json.loads(manifest_text)["reason"] == "tail deleted"
    assert result["containment_read"] and result["quarantined"] == ["ext.q"] and result["kill_switches"] == ["ext.k"]

    # The new ledger verifies, stops everything, and names the manifest in its chain.
    assert run(capsys, "security", "ledger", "verify")[0] == 0
    for ext in ("ext.q", "ext.k", "ext.innocent"):
        assert blocked(pi_env.state_dir, ext) == "kill_switch"
    switches = run_json(capsys, "security", "kill-switch", "status")["active"]
    assert result["manifest_sha256"] in next(s["reason"] for s in switches if s["scope"] == "*")
    # Lifting the global switch releases only what the old ledger had not contained.
    assert run(capsys, "security", "kill-switch", "off", "--reason", "reviewed")[0] == 0
    assert blocked(pi_env.state_dir, "ext.q") == "quarantined"
    assert blocked(pi_env.state_dir, "ext.k") == "kill_switch"
    assert blocked(pi_env.state_dir, "ext.innocent") is None

    # The old ledger is verified where it lies, against the state dir's key: the break is shown.
    code, out, _ = run(capsys, "security", "ledger", "verify", "--ledger", str(folder), "--json")
    assert code == 1 and any(e["kind"] == "rollback" for e in json.loads(out)["verification_errors"])

    # And INC-3 runs from detection to the postmortem.
    run_json(capsys, "incident", "open", "--kind", "INC-3")
    for phase in ("contain", "collect", "verify", "analyze", "close"):
        run_json(capsys, "incident", phase)


def test_damaged_database_is_set_aside_with_everything_stopped(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    contained_ledger(pi_env, capsys)
    with pi_env.db_path.open("r+b") as handle:
        handle.truncate(pi_env.db_path.stat().st_size // 2)
    digest = hashlib.sha256(pi_env.db_path.read_bytes()).hexdigest()
    code, _, err = run(capsys, "ext", "list")
    assert code == 1 and "damaged" in err and "set-aside" in err and "mv " not in err

    result = run_json(capsys, "security", "ledger", "set-aside", "--reason", "disk error")

    assert "damaged" in result["problem"] and not result["containment_read"]
    assert {f["name"]: f["sha256"] for f in result["files"]}["security.db"] == digest
    assert hashlib.sha256((Path(result["folder"]) / "security.db").read_bytes()).hexdigest() == digest
    # Nothing could be read from the old ledger, so the global switch is the whole containment: it stands.
    assert blocked(pi_env.state_dir, "ext.q") == "kill_switch"
    code, _, err = run(capsys, "security", "ledger", "set-aside", "--reason", "again")
    assert code == 2 and "nothing to set aside" in err  # the new ledger is sound


def test_set_aside_refuses_a_sound_ledger_no_reason_and_a_running_writer(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    contained_ledger(pi_env, capsys)
    code, _, err = run(capsys, "security", "ledger", "set-aside", "--reason", "just because")
    assert code == 2 and "nothing to set aside" in err
    assert blocked(pi_env.state_dir, "ext.q") == "quarantined"  # untouched
    code, _, err = run(capsys, "security", "ledger", "set-aside")
    assert code == 2 and "--reason" in err
    code, _, err = run(capsys, "security", "ledger", "set-aside", "--reason", " ")
    assert code == 2 and "needs a reason" in err

    conn = sqlite3.connect(pi_env.db_path, isolation_level=None)
    conn.execute("DELETE FROM ledger WHERE seq = (SELECT MAX(seq) FROM ledger)")
    conn.close()
    with AuditStore.open_read_only(pi_env.state_dir):
        pass  # a reader does not hold the writers' lock
    fd = os.open(pi_env.state_dir / "ledger-writers.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # what every open store holds while a session runs
        code, _, err = run(capsys, "security", "ledger", "set-aside", "--reason", "tampered")
        assert code == 2 and "running pi-sandbox session" in err
        assert pi_env.db_path.exists() and not (pi_env.state_dir / SET_ASIDE_DIR).exists()
    finally:
        os.close(fd)


def test_verify_ledger_option_needs_a_database(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "security", "ledger", "verify", "--ledger", str(pi_env.root / "nowhere"))
    assert code == 2 and "no security.db there" in err and "Traceback" not in err
