"""Environment variables that make a program run code of the setter's choosing.

Two places set them: the ``env`` parameter of an ``exec`` hostcall, and the command itself
(``LD_PRELOAD=x ls``, ``env BASH_ENV=x sh``, ``export GIT_SSH_COMMAND=..``). Which names are
dangerous is decided in one place, ``secret_rules.is_injection_var`` (the secret broker uses the same
test to build child environments), plus overrides of ``PATH`` / ``HOME`` / ``SHELL``.

- From the ``env`` parameter every such name is ``env_injection`` (critical: denied in every profile)
  unless ``execMediation.allowEnv`` names it.
- In command text, loader and shell-startup variables and interpreter option variables that load
  code (``NODE_OPTIONS=--require``, ``PERL5OPT=-M``, ``RUBYOPT=-r``) are ``env_injection`` too; a variable
  whose value is a command (``GIT_SSH_COMMAND``, ``PAGER``, ``EDITOR`` ...) is ``command_hook`` and its
  command is classified; search paths (``PYTHONPATH=src``) are left to the sandbox.

Either way a command-valued variable's command, and option variables (``TAR_OPTIONS``, ``MAKEFLAGS``,
``GIT_CONFIG_*``, ``LESS``, ``ZIPOPT``, ``MANOPT``) are unwrapped like the tool's own options.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Collection, Mapping
from typing import Final

from pi_sandbox.mediation.secret_rules import is_injection_var

Emit = Callable[[str, str], None]

#: Base variables whose override changes which program or which configuration is used.
BASE_OVERRIDES: Final = frozenset({"PATH", "HOME", "SHELL", "XDG_CONFIG_HOME", "ZDOTDIR"})
#: Variables whose value is a command line some program runs.
COMMAND_VARS: Final = frozenset({
    "GIT_SSH_COMMAND", "GIT_SSH", "GIT_EXTERNAL_DIFF", "GIT_PAGER", "GIT_EDITOR", "GIT_SEQUENCE_EDITOR",
    "GIT_ASKPASS", "GIT_PROXY_COMMAND", "SSH_ASKPASS", "SUDO_ASKPASS", "PAGER", "MANPAGER", "EDITOR", "VISUAL",
    "BROWSER", "FCEDIT", "SYSTEMD_PAGER", "SYSTEMD_EDITOR", "SUDO_EDITOR", "PSQL_PAGER", "RSYNC_RSH", "CVS_RSH",
    "RSYNC_CONNECT_PROG", "PROMPT_COMMAND", "LESSOPEN", "LESSCLOSE",
})
#: Variables that are option strings for one tool: (tool, how to split the value).
OPTION_VARS: Final[Mapping[str, str]] = {
    "TAR_OPTIONS": "tar", "MAKEFLAGS": "make", "GNUMAKEFLAGS": "make", "ZIPOPT": "zip", "LESS": "less",
    "MORE": "less", "MANOPT": "man",
}
#: Always code injection, in the command text too: the loader and shell start-up files.
_STARTUP: Final = re.compile(r"^(?:LD_|DYLD_|BASH_FUNC_)|^(?:BASH_ENV|ENV|SHELLOPTS|BASHOPTS|PS4|GCONV_PATH|"
                             r"OPENSSL_CONF|OPENSSL_ENGINES|LUA_INIT|PERL5DB|PYTHONSTARTUP|PYTHONBREAKPOINT|"
                             r"PYTHONWARNINGS|GLIBC_TUNABLES|DOTNET_STARTUP_HOOKS|CORECLR_\w*|COR_PROFILER\w*|"
                             r"JAVA_TOOL_OPTIONS|_JAVA_OPTIONS|JDK_JAVA_OPTIONS|MAKEFILES|VIMINIT|EXINIT|IFS)$")
#: Interpreter option variables: dangerous when the options load code.
_LOADING_OPTIONS: Final[Mapping[str, re.Pattern[str]]] = {
    "NODE_OPTIONS": re.compile(r"(?:^|\s)(?:-r|--require|--import|--loader|--experimental-loader|--eval|-e|"
                               r"--experimental-policy|--inspect\S*|--env-file)\b"),
    "PERL5OPT": re.compile(r"(?:^|\s)-[MmdI]"),
    "RUBYOPT": re.compile(r"(?:^|\s)-[rIe]"),
}


def dangerous_name(name: str) -> bool:
    """True for variables an extension may not set for a child unless ``allowEnv`` names them."""
    return is_injection_var(name) or name.upper() in BASE_OVERRIDES


def classify_env(
    env: Mapping[str, str],
    emit: Emit,
    shell: Callable[[str], None],
    tool: Callable[[str, list[str]], None],
    *,
    from_param: bool,
    allowed: Collection[str] = (),
) -> None:
    """Findings for variables set for a command; ``shell`` / ``tool`` classify what they make run."""
    pairs = git_config_pairs(env)
    if pairs:
        tool("git", [arg for key, value in pairs for arg in ("-c", f"{key}={value}")])
    for name, value in env.items():
        upper = name.upper()
        if from_param and dangerous_name(name) and name not in allowed:
            emit("env_injection", f"env_param_{upper.lower()}")
        elif not from_param and _STARTUP.match(upper):
            emit("env_injection", f"assign_{upper.lower()}")
        elif not from_param and upper in _LOADING_OPTIONS and _LOADING_OPTIONS[upper].search(value):
            emit("env_injection", f"assign_{upper.lower()}")
        if upper in COMMAND_VARS and value.strip():
            if not from_param:
                emit("command_hook", f"env_{upper.lower()}")
            shell(value.strip().lstrip("|").replace("%s", "FILE"))
        elif upper in OPTION_VARS and value.strip():
            try:
                words = shlex.split(value)
            except ValueError:
                words = value.split()
            if OPTION_VARS[upper] == "make" and words and not words[0].startswith("-"):
                words[0] = "-" + words[0]  # MAKEFLAGS may leave out the dash of single-letter flags
            tool(OPTION_VARS[upper], words)


def git_config_pairs(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """``git -c`` pairs passed through ``GIT_CONFIG_PARAMETERS`` or ``GIT_CONFIG_COUNT``/``KEY_n``/``VALUE_n``."""
    pairs: list[tuple[str, str]] = []
    params = env.get("GIT_CONFIG_PARAMETERS", "")
    for match in re.finditer(r"'([^']*)'(?:='([^']*)')?", params):
        key, _, value = match.group(1).partition("=")
        pairs.append((key, match.group(2) if match.group(2) is not None else value))
    for name, key in env.items():
        found = re.fullmatch(r"GIT_CONFIG_KEY_(\d+)", name)
        if found:
            pairs.append((key, env.get(f"GIT_CONFIG_VALUE_{found.group(1)}", "")))
    return pairs
