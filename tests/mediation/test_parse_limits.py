"""Valid shell the parser does not read to the end is refused, never "high" (unparseable) and allowed.

The parser stops at 64 KiB of text and 24 levels of nesting, and the classifier at 12 levels of nested shells;
bash reads further and runs what is there. Before, such text was ``unparseable`` (high: allowed with audit under
balanced, allowed under permissive), so a critical command hid behind 70 KiB of comment, 40,000 ``:;`` or 30
nested ``$(``. Now it is ``unclassifiable`` (critical) in every profile. Text that is not shell at all (an
unterminated quote, a stray ``fi``) stays ``unparseable``: bash refuses it too. Pure classification: nothing runs.
"""

from __future__ import annotations

import shlex

import pytest

from pi_sandbox.config.model import ExecMediationSettings
from pi_sandbox.mediation.exec_mediation import ExecMediator
from pi_sandbox.mediation.shell_lex import MAX_DEPTH
from pi_sandbox.mediation.shell_parse import MAX_SOURCE_CHARS

PROFILES = ("safe", "balanced", "permissive")
DEEP = MAX_DEPTH + 6


def _nested_shells(command: str, levels: int) -> str:
    for _ in range(levels):
        command = "bash -c " + shlex.quote(command)
    return command


HIDDEN = {
    "comment-after": "rm -rf .\n" + "#" * (MAX_SOURCE_CHARS + 10),
    "padding-before": ":;" * (MAX_SOURCE_CHARS // 2 + 10) + "rm -rf ~",
    "blank-lines-before": "\n" * (MAX_SOURCE_CHARS + 10) + "rm -rf .",
    "heredoc-then-command": "cat > f <<'EOF'\n" + "x\n" * (MAX_SOURCE_CHARS // 2) + "EOF\nrm -rf ~",
    "nested-substitutions": "echo " + "$(" * DEEP + "rm -rf ." + ")" * DEEP,
    "nested-backquote-substitutions": "echo " + "$(echo " * DEEP + "`rm -rf .`" + ")" * DEEP,
    "nested-default-expansions": "echo " + "${x:-" * DEEP + "$(rm -rf .)" + "}" * DEEP,
    "nested-evals": "eval " * 20 + "rm -rf .",
    "nested-shells": _nested_shells("rm -rf .", 13),
}


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("case", sorted(HIDDEN))
def test_text_read_only_in_part_is_refused_in_every_profile(profile: str, case: str) -> None:
    decision = ExecMediator(ExecMediationSettings(), profile).evaluate("sh", ["-c", HIDDEN[case]])
    assert (decision.decision, decision.risk_tier) == ("deny", "critical"), (case, decision)
    assert decision.command_class in ("unclassifiable", "recursive_delete"), decision


@pytest.mark.parametrize("case", ["comment-after", "padding-before", "nested-substitutions", "heredoc-then-command"])
def test_the_refusal_names_the_limit(case: str) -> None:
    decision = ExecMediator(ExecMediationSettings(), "permissive").evaluate("sh", ["-c", HIDDEN[case]])
    assert decision.command_class == "unclassifiable" and decision.rule == "parse_limit", decision


@pytest.mark.parametrize("line", ["echo 'unterminated", "fi\necho x", "echo $((\necho x", "if true; then echo x"])
def test_text_that_is_not_shell_stays_unparseable(line: str) -> None:
    decision = ExecMediator(ExecMediationSettings(), "permissive").evaluate("sh", ["-c", line])
    assert (decision.command_class, decision.risk_tier) == ("unparseable", "high"), decision


def test_commands_just_under_the_limits_are_judged_as_usual() -> None:
    long_ok = "cat > f <<'EOF'\n" + "x\n" * (MAX_SOURCE_CHARS // 2 - 64) + "EOF\n"
    nested_ok = "echo " + "$(echo " * 8 + "hi" + ")" * 8
    for line in (long_ok, nested_ok, _nested_shells("ls", 5)):
        decision = ExecMediator(ExecMediationSettings(), "balanced").evaluate("sh", ["-c", line])
        assert decision.risk_tier not in ("critical", "high"), (line[:40], decision)
