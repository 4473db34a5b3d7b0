"""The user's git identity (``user.name`` / ``user.email``) for exec children, whose home is not the user's.

Children run with the extension's own home (docs/sandbox.md), so ``git commit`` in the sandbox stopped with
"Author identity unknown" (exit 128) even where the user's ``~/.gitconfig`` names them: every extension that
commits failed (pi's own ``auto-commit-on-exit`` example among them). The identity, and nothing else of the
user's git configuration (credential helpers, aliases, includes, hooks settings: they can run code or hold
tokens), is written to git's per-user file of the sandbox home (``~/.config/git/config``) when that file does
not exist yet, so what a child sets there itself stays and a repository's own ``user.*`` still wins. It tells a
child nothing a repository with history does not: every commit there carries the same name and address.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from typing import Final

from pi_sandbox.sandbox.host_code import host_path, host_which

#: git's per-user configuration file under the child's ``HOME`` (read besides ``~/.gitconfig``).
GIT_USER_CONFIG: Final = ".config/git/config"
#: The keys given to children, in the order written.
IDENTITY_KEYS: Final = ("user.name", "user.email")
#: Variables that say where git finds the user's configuration (passed to the one ``git config`` run).
_LOCATION_VARS: Final = ("HOME", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_SYSTEM")


def read_identity(environ: Mapping[str, str]) -> dict[str, str]:
    """The user's ``user.name`` and ``user.email`` as git resolves them outside any repository (system and global
    files, their includes), from the environment ``environ`` names; empty when git is missing, fails or has none.

    Run in ``/`` (never the workspace: a repository's config there is the children's to write), with the host's
    own ``git`` (``host_which``: no ``PATH`` entry inside the project)."""
    git = host_which("git", environ.get("PATH"))
    if git is None:
        return {}
    env = {k: environ[k] for k in _LOCATION_VARS if k in environ}
    env["PATH"] = host_path(environ.get("PATH"))
    try:
        done = subprocess.run([git, "config", "-z", "--get-regexp", r"^user\.(name|email)$"], cwd="/", env=env,
                              capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return {}
    if done.returncode != 0:
        return {}
    found: dict[str, str] = {}
    for record in done.stdout.decode("utf-8", "replace").split("\0"):
        key, _, value = record.partition("\n")
        # one line of printable text (git's last value wins, as in git itself)
        if key in IDENTITY_KEYS and value and value.isprintable():
            found[key] = value
    return found


def identity_config(identity: Mapping[str, str]) -> str:
    """git configuration text holding ``identity`` (quoted: a name may hold ``#``, ``;`` or ``"``); empty for none."""
    lines = [f'\t{key.split(".", 1)[1]} = "{_quoted(identity[key])}"' for key in IDENTITY_KEYS if identity.get(key)]
    return "[user]\n" + "".join(f"{line}\n" for line in lines) if lines else ""


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def user_identity_config(environ: Mapping[str, str] | None = None) -> str:
    """:func:`identity_config` of :func:`read_identity` (``environ``: the process environment by default)."""
    return identity_config(read_identity(os.environ if environ is None else environ))
