"""``ext trust``, ``security kill-switch``, ``security quota status`` and ``security stats`` through main()."""

from __future__ import annotations

import json

import pytest

from pi_sandbox.audit import AuditStore, LedgerEntryDraft
from pi_sandbox.cli.main import main
from tests.conftest import OpenSandbox, PiEnv


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_kill_switch_on_status_off(capsys: pytest.CaptureFixture[str], pi_env: PiEnv) -> None:
    code, out, _ = run(capsys, "security", "kill-switch", "on", "--extension", "ext.a", "--reason", "INC-1 #7")
    assert code == 0 and "ON for extension 'ext.a'" in out
    code, out, _ = run(capsys, "security", "kill-switch", "status", "--json")
    data = json.loads(out)
    assert [(e["scope"], e["reason"]) for e in data["active"]] == [("ext.a", "INC-1 #7")]
    assert data["active"][0]["actor"] and data["active"][0]["ts"]  # who, and an ISO time next to ts_ms
    assert run(capsys, "security", "kill-switch", "off", "--extension", "ext.a", "--reason", "contained")[0] == 0
    code, out, _ = run(capsys, "security", "kill-switch", "status")
    assert "no kill switch is on" in out
    code, _, err = run(capsys, "security", "kill-switch", "on", "--reason", " ")
    assert code == 2 and "reason" in err
    alerts = json.loads(run(capsys, "security", "alerts", "list", "--category", "kill_switch", "--json")[1])
    assert [a["severity"] for a in alerts] == ["critical", "info"]


def test_trust_commands(capsys: pytest.CaptureFixture[str], pi_env: PiEnv, open_sandbox: OpenSandbox) -> None:
    box = open_sandbox()
    box.controls.registry.observe_load("ext.a", "project", "h1")
    box.close()
    assert json.loads(run(capsys, "ext", "trust", "show", "--extension", "ext.a", "--json")[1])["state"] == "probation"
    code, out, _ = run(capsys, "ext", "trust", "quarantine", "--extension", "ext.a", "--reason", "exfil")
    assert code == 0 and "quarantined" in out
    code, _, err = run(capsys, "ext", "trust", "promote", "--extension", "ext.a", "--to", "trusted")
    assert code == 2 and "--reason" in err  # the reason is required
    code, out, _ = run(capsys, "ext", "trust", "promote", "--extension", "ext.a", "--to", "trusted",
                       "--reason", "false positive")
    assert code == 0 and "quarantined → trusted" in out
    history = json.loads(run(capsys, "ext", "trust", "history", "--extension", "ext.a", "--json")[1])
    assert [(h["from"], h["to"], h["actor"]) for h in history] == [
        ("unknown", "probation", "system"), ("probation", "quarantined", "operator"),
        ("quarantined", "trusted", "operator")]
    assert run(capsys, "security", "ledger", "verify")[0] == 0


def test_verify_reports_an_illegal_exit_from_quarantine(capsys: pytest.CaptureFixture[str], pi_env: PiEnv) -> None:
    assert run(capsys, "ext", "trust", "quarantine", "--extension", "ext.a", "--reason", "x")[0] == 0
    with AuditStore.open(pi_env.state_dir) as store:  # a forged, well-chained entry
        store.append(LedgerEntryDraft(kind="trust", extension_id="ext.a", decision="trusted", reason="clean_record",
                                      detail={"from": "quarantined", "to": "trusted", "actor": "system"}))
    code, out, _ = run(capsys, "security", "ledger", "verify", "--json")
    report = json.loads(out)
    assert code == 1 and [e["kind"] for e in report["verification_errors"]] == ["illegal_trust_transition"]


def test_quota_status_and_stats(capsys: pytest.CaptureFixture[str], pi_env: PiEnv, open_sandbox: OpenSandbox) -> None:
    box = open_sandbox(settings={"extensionPolicy": {"quota": {"maxWriteBytes": 10}}})
    for i in range(3):
        box.hostcall("ext.a", {"call_id": f"c{i}", "method": "fs", "params": {"op": "write", "path": "f",
                                                                             "data": "123456"}})
    box.hostcall("ext.a", {"call_id": "u", "method": "tool", "params": {"name": "custom"}})  # policy deny
    box.close()
    (status,) = json.loads(run(capsys, "security", "quota", "status", "--json")[1])
    assert {r["resource"]: r["used"] for r in status["resources"]}["write_bytes"] == 6
    assert status["breaches"][0]["resource"] == "write_bytes"
    code, out, _ = run(capsys, "security", "quota", "status")
    assert code == 0 and "write_bytes" in out
    stats = json.loads(run(capsys, "security", "stats", "--extension", "ext.a", "--json")[1])
    ext = stats["extensions"]["ext.a"]
    assert ext["hostcalls"] == 4 and ext["by_decision"]["allow"] == 1
    assert ext["denied_by_stage"] == {"quota": 2, "policy": 1}
    assert ext["bytes_in"] == 6 and set(ext["stage_us"]) >= {"trust", "policy", "quota"}
    assert "ext.a" in run(capsys, "security", "stats")[1]


def test_alerts_until(capsys: pytest.CaptureFixture[str], pi_env: PiEnv) -> None:
    run(capsys, "security", "kill-switch", "on", "--reason", "a")
    alerts = json.loads(run(capsys, "security", "alerts", "list", "--until", "1h", "--json")[1])
    assert alerts == []
    assert len(json.loads(run(capsys, "security", "alerts", "list", "--min-severity", "critical", "--json")[1])) == 1


@pytest.mark.parametrize("argv", [
    ("security", "kill-switch", "on", "--reason", "INC-1"),
    ("ext", "trust", "quarantine", "--reason", "INC-5"),
    ("incident", "open", "--kind", "INC-1"),
])
def test_containing_an_id_nothing_knows_warns_with_the_closest(
    capsys: pytest.CaptureFixture[str], pi_env: PiEnv, argv: tuple[str, ...]
) -> None:
    # A typo (word-cuont) used to be contained silently while word-count kept running.
    folder = pi_env.agent_dir / "sandboxed-extensions"
    folder.mkdir(parents=True)
    (folder / "word-count.ts").write_text("export default function (pi: any) {}\n")
    with AuditStore.open(pi_env.state_dir) as store:  # an extension known only from what it did
        store.append(LedgerEntryDraft(kind="hostcall", extension_id="ran.before", decision="allow", reason="ok"))
    code, _, err = run(capsys, *argv, "-e", "word-cuont")
    assert code == 0 and "no extension 'word-cuont' is known here" in err and "did you mean 'word-count'" in err
    for known in ("word-count", "ran.before"):
        code, _, err = run(capsys, *argv, "-e", known)
        assert code == 0 and "is known here" not in err, err
    code, _, err = run(capsys, *argv, "-e", "word-cuont")  # naming it once does not make it known
    assert "no extension 'word-cuont' is known here" in err


def test_lifting_a_switch_that_is_not_on_says_so(capsys: pytest.CaptureFixture[str], pi_env: PiEnv) -> None:
    assert run(capsys, "security", "kill-switch", "on", "-e", "ext.a", "--reason", "INC-1")[0] == 0
    code, _, err = run(capsys, "security", "kill-switch", "off", "--reason", "done")  # the global one: not on
    assert code == 0 and "no kill switch was on for all extensions: nothing is lifted (switches on: ext.a)" in err
    code, _, err = run(capsys, "security", "kill-switch", "off", "-e", "ext.a", "--reason", "done")
    assert code == 0 and "nothing is lifted" not in err


@pytest.mark.parametrize("argv", [
    ("security", "kill-switch", "on", "-e", "ext.a", "--reason", "INC-1"),
    ("ext", "trust", "quarantine", "-e", "ext.a", "--reason", "INC-5"),
    ("ext", "trust", "promote", "-e", "ext.a", "--to", "trusted", "--reason", "reviewed"),
])
def test_operator_commands_keep_the_settings_anchor_copy(
    capsys: pytest.CaptureFixture[str], pi_env: PiEnv, argv: tuple[str, ...]
) -> None:
    # They opened the ledger without the copy: the first such command left it empty, verification then said
    # the ledger was tampered with, and every writer (every session) refused it as rolled back.
    copy = pi_env.root / "offsite" / "anchor.jsonl"
    copy.parent.mkdir()
    pi_env.write_global({"extensionPolicy": {"ledger": {"anchorCopy": str(copy)}}})
    code, _, err = run(capsys, *argv)
    assert code == 0, err
    assert copy.is_file() and copy.read_text().strip()
    code, out, err = run(capsys, "security", "ledger", "verify")
    assert code == 0, out + err
    with AuditStore.open(pi_env.state_dir, anchor_copy=copy):  # what the next session does
        pass
    run(capsys, "incident", "open", "--kind", "INC-1", "-e", "ext.b")
    assert run(capsys, "incident", "contain")[0] == 0
    assert run(capsys, "security", "ledger", "verify")[0] == 0
