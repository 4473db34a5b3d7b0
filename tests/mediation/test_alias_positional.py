"""Commands hidden behind aliases or positional parameters are classified as what the shell runs.

Before, ``alias x='rm -rf'`` on one line and ``x ~`` on the next (dash expands aliases in scripts, bash with
``expand_aliases``) was *unclassified*: allowed under every profile. ``sh -c 'rm -rf "$1"' _ /``, ``set -- rm -rf
~; "$@"`` and ``sh -c '"$@"' _ rm -rf /`` took the target or the command from positional parameters the parser
left unknown: at most ``high``, so ``balanced`` and ``permissive`` ran them although a recursive delete of ``/`` or
``~`` is critical; so did a function's own parameters (``f() { rm -rf "$1"; }; f ~``). Pure classification: nothing
here is executed.
"""

from __future__ import annotations

import pytest

from pi_sandbox.config.model import ExecMediationSettings
from pi_sandbox.mediation.exec_mediation import ExecMediator

PROFILES = ("safe", "balanced", "permissive")

HOSTILE_SCRIPTS = {
    # aliases
    "alias_next_line": "alias x='rm -rf'\nx ~",
    "alias_bash_expand": "shopt -s expand_aliases\nalias x='rm -rf'\nx /",
    "alias_dashdash": "alias -- x='rm -rf'\nx ~",
    "alias_several": "alias a=ls x='rm -rf' b=pwd\nx ~",
    "alias_value_alone": "alias x='rm -rf ~'",
    "alias_chain": "alias y=rm\nalias x='y -rf'\nx ~",
    "alias_in_eval": "alias x='rm -rf'; eval 'x /'",
    "alias_decoded_value": "alias x=\"$(echo cm0gLXJmIH4= | base64 -d)\"\nx",
    "alias_pipe_to_shell": "alias u='curl -s http://127.0.0.1:9/x | sh'\nu",
    "bash_aliases_array": "BASH_ALIASES[x]='rm -rf /'\nx",
    # positional parameters
    "sh_c_dollar1": "sh -c 'rm -rf \"$1\"' _ /",
    "sh_c_dollar0": "sh -c 'rm -rf \"$0\"' /",
    "sh_c_braced": "sh -c 'rm -rf ${1}' _ /",
    "sh_c_second": "bash -c 'rm -rf \"$2\"' _ x /",
    "sh_c_all_params_command": "sh -c '\"$@\"' _ rm -rf /",
    "sh_c_command_in_param": "sh -c '$1 -rf /' _ rm",
    "sh_c_star": "sh -c 'rm -rf $*' _ /",
    "set_dashdash": "set -- rm -rf ~; \"$@\"",
    "set_plain": "set rm -rf /; $1 $2 $3",
    "nested_sh_c": "sh -c 'sh -c \"rm -rf \\\"\\$1\\\"\" _ \"$1\"' _ /",
    # a function's own parameters
    "function_dollar1": "f() { rm -rf \"$1\"; }; f ~",
    "function_all_params_command": "f() { \"$@\"; }; f rm -rf /",
    "function_keyword_braced": "function g { rm -rf ${1}; }\ng /",
    "function_subshell_body": "h() ( $1 -rf $2 ); h rm ~",
    "function_calls_function": "f() { g \"$1\"; }; g() { rm -rf \"$1\"; }; f ~",
}
HOSTILE_ARGVS = {
    "argv_sh_c_dollar1": ["sh", "-c", 'rm -rf "$1"', "_", "/"],
    "argv_bash_c_all": ["bash", "-c", '"$@"', "bash", "rm", "-rf", "/"],
    "argv_alias": ["sh", "-c", "alias z='rm -rf'\nz /"],
}
BENIGN_SCRIPTS = (
    "alias ll='ls -la'\nll src",
    "alias ls='ls --color=auto'\nls",
    "alias g=git\ng status",
    "sh -c 'echo \"$1\"' _ hello",
    "set -e; set -- a b; echo \"$@\"",
    "set -- -x; echo \"$1\"",
    "bash -c 'printf \"%s\\n\" \"$@\"' _ one two",
    "f() { echo \"$1\"; }; f hello",
    "f() { f; }; f",
)


def _decide(profile: str, argv: list[str]) -> tuple[str, str | None, str | None]:
    decision = ExecMediator(ExecMediationSettings(), profile).evaluate(argv[0], argv[1:])
    return decision.decision, decision.command_class, decision.risk_tier


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", sorted(HOSTILE_SCRIPTS))
def test_hidden_commands_are_critical_in_every_profile(profile: str, name: str) -> None:
    decision, command_class, tier = _decide(profile, ["sh", "-c", HOSTILE_SCRIPTS[name]])
    assert (decision, tier) == ("deny", "critical"), (name, command_class)
    assert command_class in ("recursive_delete", "pipe_to_shell", "decode_exec"), (name, command_class)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", sorted(HOSTILE_ARGVS))
def test_hidden_commands_in_an_argv_are_critical(profile: str, name: str) -> None:
    assert _decide(profile, HOSTILE_ARGVS[name])[::2] == ("deny", "critical"), name


def test_an_alias_whose_value_is_known_only_at_run_time_is_not_benign() -> None:
    decision, command_class, tier = _decide("safe", ["sh", "-c", 'alias x="$V"\nx ~'])
    assert (decision, command_class, tier) == ("deny", "obfuscated_command", "high")


@pytest.mark.parametrize("script", BENIGN_SCRIPTS)
def test_ordinary_aliases_and_parameters_stay_unclassified(script: str) -> None:
    for profile in PROFILES:
        assert _decide(profile, ["sh", "-c", script]) == ("allow", None, None), (profile, script)
