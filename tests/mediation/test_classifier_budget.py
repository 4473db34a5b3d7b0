"""Red team: the exec classifier does bounded work whatever the command (it runs in the supervisor, holding the
interpreter lock, for every ``exec`` / ``bash`` call an extension makes).

Before the budget, a file the command itself writes (``cat > f <<E``, ``echo ... > f``, ``printf``) and then runs
from inside itself (``sh f``, ``. f``, ``source f``, ``make``, ``python f.py``, ``node f.js``) was re-read and
re-classified at every level: three runs per level took 40 s of one CPU with the lock held (the whole supervisor
froze), four would take hours. ``eval "$x"`` repeated re-parsed ``$x`` every time, and a pipeline of n stages cost
n² (``a|a|...`` of 64 KiB: 8.7 s). Each must now finish quickly and, when it was cut short, be ``unclassifiable``
(critical): what was not read could be anything, so a cut-short classification is denied whatever the profile (a
critical command after 4,096 harmless ones must not pass as "high"). All pure classification: nothing is run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from pi_sandbox.dispatch import Sandbox
from pi_sandbox.mediation.exec_classifier import MAX_CLASSIFY_COMMANDS, ExecClassifier
from pi_sandbox.mediation.exec_result import ExecClassification
from tests.conftest import OpenSandbox

#: CPU seconds one hostile classification may take here (a shared, loaded 2-core machine); before: 40 s to hours.
CPU_BOUND_S = 5.0

# A file written by the command, then run from inside itself several times (exponential without a budget).
SELF_RUNNING = {
    "heredoc_sh": "cat > f <<'E'\n" + "sh f;" * 4 + "\nE\nsh f",
    "echo_sh": "echo 'sh f;sh f;sh f;sh f' > f; sh f",
    "printf_dot": "printf 'sh f\\n. f\\n. f\\n' > f; . f",
    "heredoc_source": "cat > f <<'E'\nsource f; source f; source f\nE\nsource f",
    "bash_c_file": "cat > f <<'E'\nbash f; bash -c 'sh f'; sh f\nE\nbash f",
    "makefile": "cat > Makefile <<'E'\nall:\n\tmake; make; make\nE\nmake",
    "python_file": "cat > f.py <<'E'\nimport os\nos.system('python3 f.py; python3 f.py; python3 f.py')\nE\n"
                   "python3 f.py",
    "node_file": "cat > f.js <<'E'\nrequire('child_process').execSync('node f.js; node f.js; node f.js')\nE\nnode f.js",
}
# The same shape for the tests that go through the real pipeline with exec allowed: the file exits first, so if the
# refusal ever broke, what ran would be one `sh f` that ends at once (tests run as root), not a recursive shell.
SELF_RUNNING_HARMLESS = "echo 'exit 0;sh f;sh f;sh f;sh f' > f; sh f"
# Linear text, superlinear work: the same text parsed again and again, or every stage re-reading the ones before.
REPEATED = {
    "eval_repeated": "x='" + "a;" * 2000 + "'; " + "eval \"$x\";" * 2000,
    "sh_c_repeated": "x='" + "a;" * 2000 + "'; " + "sh -c \"$x\";" * 2000,
    "pipeline": "a|" * 30000 + "b",
    "pipeline_to_sh": "echo x" + "|sh" * 16000,
    # aliases expanded where used: each level runs the next four times (4^11 commands without a budget)
    "alias_repeated": "".join(f"alias a{i}='a{i + 1};a{i + 1};a{i + 1};a{i + 1}'\n" for i in range(11)) + "a0\n",
    # function bodies classified at every call: the same fan-out through functions
    "function_repeated": "".join(f"f{i}() {{ f{i + 1}; f{i + 1}; f{i + 1}; f{i + 1}; }}\n" for i in range(11)) + "f0\n",
}


def _timed(run: Callable[[], ExecClassification]) -> tuple[ExecClassification, float]:
    started = time.process_time()
    result = run()
    return result, time.process_time() - started


def _rules(result: ExecClassification) -> set[str]:
    return {f.rule for f in result.findings}


@pytest.mark.parametrize("name", sorted(SELF_RUNNING))
@pytest.mark.parametrize("form", ["bash_tool", "sh_c"])
def test_a_command_running_a_file_it_wrote_from_inside_itself_is_cut_short_and_high(name: str, form: str) -> None:
    text = SELF_RUNNING[name]
    classifier = ExecClassifier()
    result, took = _timed(lambda: classifier.classify_script(text) if form == "bash_tool"
                          else classifier.classify("sh", ["-c", text]))
    assert took < CPU_BOUND_S, (name, took)
    assert len(result.units) <= MAX_CLASSIFY_COMMANDS + 16, len(result.units)
    assert "classification_budget" in _rules(result), _rules(result)
    assert result.risk_tier == "critical", result.risk_tier


@pytest.mark.parametrize("name", sorted(REPEATED))
def test_repeated_text_and_long_pipelines_cost_linear_work(name: str) -> None:
    result, took = _timed(lambda: ExecClassifier().classify_script(REPEATED[name]))
    assert took < CPU_BOUND_S, (name, took)
    if name.endswith("_repeated"):  # millions of commands' worth of work: cut short, and never allowed
        assert "classification_budget" in _rules(result) and result.risk_tier == "critical"


@pytest.mark.parametrize("padding", ["true;", "echo ok; ", "x=1 ", "eval true;", "sh -c true;"])
def test_padding_past_the_budget_cannot_hide_a_critical_command(padding: str) -> None:
    """The budget stops reading: a cut-short command must not be judged by the harmless part read."""
    text = padding * (MAX_CLASSIFY_COMMANDS + 100) + "rm -rf ~"
    for result in (ExecClassifier().classify_script(text), ExecClassifier().classify("bash", ["-c", text])):
        assert result.risk_tier == "critical", (padding, result.risk_tier, _rules(result))


def test_ordinary_scripts_stay_below_the_budget() -> None:
    """A long but ordinary script (2,000 commands, a 6-stage pipeline, a written script run once) is classified
    in full, as before: the budget never decides a real command."""
    script = "set -e\n" + "".join(f"echo step {i} >> log.txt\n" for i in range(2000))
    script += "cat > build.sh <<'E'\nls -la && wc -l log.txt\nE\nsh build.sh\n"
    script += "git log --oneline | grep fix | sort | uniq -c | sort -rn | head -5\n"
    result = ExecClassifier().classify_script(script)
    assert "classification_budget" not in _rules(result)
    assert result.risk_tier in (None, "low", "medium"), (result.risk_tier, _rules(result))
    piped = ExecClassifier().classify_script("echo cm0gLXJmIH4= | base64 -d | sh")  # decoded, then judged
    assert "classification_budget" not in _rules(piped) and piped.risk_tier in ("high", "critical")


@pytest.mark.parametrize("risk", ["enforce", "shadow"])
def test_the_pipeline_refuses_a_self_running_command_quickly(open_sandbox: OpenSandbox, risk: str,
                                                             make_request: Callable[..., dict[str, Any]]) -> None:
    """Through the real pipeline with exec allowed (permissive, dangerous allowed): the call is answered in
    seconds, not frozen for minutes; refused by mediation as unclassifiable (critical: as "high", permissive ran
    it, a recursive shell for 30 s); the ledger has its entry. The risk controller reads the first 16 KiB of a
    bash tool command (a comment that long hides the write-then-run from it) and may be in shadow mode (the
    runbook's rollback): the classifier must hold on its own either way."""
    settings: dict[str, Any] = {"extensionPolicy": {"profile": "permissive", "allowDangerous": True}}
    if risk == "shadow":
        settings["extensionRisk"] = {"enforce": False}
    box: Sandbox = open_sandbox(settings=settings)
    started = time.monotonic()
    if risk == "enforce":  # the bash tool's command: the risk reader reads its first 16 KiB
        command = "# " + "x" * 17000 + "\n" + SELF_RUNNING_HARMLESS
        res = box.hostcall("ext", make_request("tool", {"name": "bash", "input": {"command": command}}))
    else:
        res = box.hostcall("ext", make_request("exec", {"cmd": "sh", "args": ["-c", SELF_RUNNING_HARMLESS]}))
    assert time.monotonic() - started < 20
    assert not res.ok and res.error_code == "denied", (res.error_code, res.reason, res.message)
    entry = box.store.query_ledger(extension_id="ext")[-1]
    assert entry.decision == "deny" and entry.detail["stage"] == "mediation", str(entry.detail)
    (record,) = box.store.query_records(kind="exec_mediation", extension_id="ext")
    assert record.payload["decision"] == "deny" and record.payload["command_class"] == "unclassifiable", record.payload
