"""Two more ways past the critical floor, classified by technique (pure functions; nothing runs).

1. Text written in the call and turned into a program by a filter the classifier cannot evaluate, piped into a
   shell: ``echo 'ez -es ~' | tr a-z n-za-m | sh`` ran ``rm -rf ~`` as ``shell_from_stdin`` (medium: allowed in
   every profile), although the same through ``$(..)`` or ``<(..)`` was already ``decode_exec``.
2. A fork repeated by a loop written as a statement modifier or a self-restarting block: ``perl -e 'fork while
   1'`` was no finding at all.
"""

from __future__ import annotations

import pytest

from pi_sandbox.config.model import ExecMediationSettings
from pi_sandbox.mediation.exec_mediation import ExecMediator

PROFILES = ("safe", "balanced", "permissive")

TRANSFORMED = {
    "tr_rot13": "echo 'ez -es ~' | tr a-z n-za-m | sh",
    "tr_herestring": "tr a-z n-za-m <<< 'ez -es ~' | bash",
    "sed_heredoc": "sed s/z/r/ <<EOF | sh\nzm -rf ~\nEOF",
    "awk_filter": "echo 'zm -rf ~' | awk '{sub(/z/,\"r\"); print}' | sh",
    "python_filter": "echo 'zm -rf ~' | python3 -c \"import sys; print(sys.stdin.read().replace('z','r'))\" | sh",
    "cut_two_stages": "cat <<EOF | cut -c2- | tr -d Q | sh\nxrQm -rf ~\nEOF",
    "printf_perl": "printf 'zm -rf /' | perl -pe 's/z/r/' | dash",
}
FORK_LOOPS = {
    "perl_modifier_while": ["perl", "-e", "fork while 1"],
    "perl_modifier_until": ["perl", "-e", "fork until 0"],
    "perl_modifier_for": ["perl", "-e", "fork for 1..1e9"],
    "perl_redo_block": ["perl", "-e", "{ fork; redo }"],
    "ruby_modifier": ["ruby", "-e", "fork while true"],
    "ruby_times": ["ruby", "-e", "1_000_000.times { fork }"],
    "ruby_loop_do": ["ruby", "-e", "loop do fork end"],
    "ruby_step": ["ruby", "-e", "1.step { fork }"],
    "php_pcntl": ["php", "-r", "while(1) pcntl_fork();"],
}
ORDINARY = (
    ["sh", "-c", "find . -name '*.tmp' | sed 's/^/rm /' | sh"],   # generated from the tree: judged as before
    ["sh", "-c", "echo ls | sh"],
    ["sh", "-c", "cat <<EOF | sh\necho hi\nEOF"],
    ["perl", "-e", "my $p = fork; print $p"],
    ["perl", "-e", "for my $f (@ARGV) { print $f }"],
    ["ruby", "-e", "pid = fork { exec 'true' }; Process.wait(pid)"],
)


def _decide(profile: str, argv: list[str], stdin: str | None = None) -> tuple[str, str | None, str | None]:
    decision = ExecMediator(ExecMediationSettings(), profile).evaluate(argv[0], argv[1:], stdin=stdin)
    return decision.decision, decision.command_class, decision.risk_tier


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", sorted(TRANSFORMED))
def test_written_text_transformed_into_a_shell_is_decode_exec(profile: str, name: str) -> None:
    assert _decide(profile, ["sh", "-c", TRANSFORMED[name]]) == ("deny", "decode_exec", "critical"), name


@pytest.mark.parametrize("profile", PROFILES)
def test_the_calls_own_stdin_transformed_into_a_shell_is_decode_exec(profile: str) -> None:
    assert _decide(profile, ["sh", "-c", "tr a-z n-za-m | sh"], stdin="ez -es ~\n") == (
        "deny", "decode_exec", "critical")


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", sorted(FORK_LOOPS))
def test_fork_loops_in_every_shape_are_fork_bombs(profile: str, name: str) -> None:
    assert _decide(profile, FORK_LOOPS[name]) == ("deny", "fork_bomb", "critical"), name


@pytest.mark.parametrize("argv", ORDINARY, ids=lambda a: " ".join(a)[:40])
def test_ordinary_pipelines_and_forks_stay_below_critical(argv: list[str]) -> None:
    decision, command_class, tier = _decide("permissive", argv)
    assert decision != "deny" and tier != "critical", (argv, command_class)
