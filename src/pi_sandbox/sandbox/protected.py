"""The protected-path table: files that make *other* programs run code, and the credential stores.

Two lists, one home each:

- :data:`PROTECTED` — names inside a writable root (the workspace, an extension's folder) that stay
  read-only for extensions: an fs write there is refused by the mediation stage
  (:meth:`ProtectedNames.match`), and inside the exec sandbox they are bound read-only (with an
  empty read-only stand-in when they do not exist yet). Each one runs attacker code later without
  the user asking for it: ``.git/config`` (``core.fsmonitor``, ``core.pager``, aliases),
  ``.git/hooks/``, ``.envrc`` (direnv), editor task files, shell rc files, agent settings
  (``.pi/``, ``.claude/``, ``.mcp.json``), package-manager rc files.
- :data:`HIDDEN_IN_HOME` — credential stores under the user's home that exec children never see.

Settings may add entries to both (``extensionPolicy.sandbox.protectedPaths`` / ``hiddenPaths``);
nothing removes a built-in one. Matching is case-insensitive always: right on case-insensitive file
systems, and on case-sensitive ones it only protects a few more odd spellings.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final


class EntryKind(StrEnum):
    """What a missing protected entry's stand-in is in the exec sandbox."""

    FILE = "file"
    DIR = "dir"
    #: ``.git``: the name itself may not be created or replaced (a ``.git`` *file* redirects git to
    #: any folder, whose config then runs); an existing ``.git`` folder stays writable inside, apart
    #: from the entries below it in this table, so git keeps working in the sandbox.
    REPO = "repo"


@dataclass(frozen=True)
class ProtectedEntry:
    """One protected name, relative to a writable root and matched at any depth."""

    path: str
    kind: EntryKind
    #: Whether the exec sandbox puts an empty read-only stand-in where it is missing, so a child cannot
    #: create it: for names that run code without anyone asking (a new repository, pi's project
    #: extensions, editor and agent settings, shell and package-manager rc files). Not for names whose
    #: empty existence changes behaviour (an empty ``.git/commondir`` makes git abort); ``home_only``
    #: ones only when the workspace *is* the home directory (``~/.ssh``, ``~/.gitconfig``).
    placeholder: bool = False
    home_only: bool = False
    #: What a ``FILE`` stand-in holds (empty unless an empty file would change behaviour).
    stand_in: str = ""

    @functools.cached_property
    def parts(self) -> tuple[str, ...]:
        """The path's names (read for every protected name on every exec call: computed once)."""
        return tuple(self.path.split("/"))


_SHELL_RC: Final = (".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc", ".zshenv",
                    ".zprofile", ".zlogin", ".zlogout", ".cshrc", ".tcshrc", ".kshrc", ".inputrc")

_AGENT_DIRS: Final = (".cursor", ".gemini", ".codex", ".windsurf", ".kiro", ".continue", ".roo", ".amazonq", ".zed",
                      ".opencode", ".devcontainer")
_AGENT_FILES: Final = ("opencode.json", ".aider.conf.yml", ".cursorrules", ".windsurfrules")
_HOOK_MANAGER_FILES: Final = (".pre-commit-config.yaml", ".pre-commit-config.yml", "lefthook.yml", "lefthook.yaml",
                              ".lefthook.yml", ".lefthook.yaml", "lefthook-local.yml", ".lefthook-local.yml",
                              "lefthook.toml", "lefthook.json", ".overcommit.yml")

#: The built-in table (lower case). Order: git, agent and editor config, shell, package managers.
PROTECTED: Final[tuple[ProtectedEntry, ...]] = (
    ProtectedEntry(".git", EntryKind.REPO, placeholder=True),
    ProtectedEntry(".git/config", EntryKind.FILE, placeholder=True),
    ProtectedEntry(".git/config.worktree", EntryKind.FILE),
    # ``commondir`` names the folder git takes ``config`` and ``hooks`` from: a child that wrote one
    # (``../evil``) ran its own fsmonitor on the user's next ``git status``. An empty one makes git abort;
    # ``.`` (the repository itself) changes nothing, so that is the stand-in.
    ProtectedEntry(".git/commondir", EntryKind.FILE, placeholder=True, stand_in=".\n"),
    ProtectedEntry(".git/hooks", EntryKind.DIR, placeholder=True),
    ProtectedEntry(".git/modules", EntryKind.DIR),
    ProtectedEntry(".git/worktrees", EntryKind.DIR),
    ProtectedEntry(".gitmodules", EntryKind.FILE, placeholder=True),
    ProtectedEntry(".gitconfig", EntryKind.FILE, placeholder=True, home_only=True),
    ProtectedEntry(".git-credentials", EntryKind.FILE),
    ProtectedEntry(".pi", EntryKind.DIR, placeholder=True),
    ProtectedEntry(".claude", EntryKind.DIR, placeholder=True),
    ProtectedEntry(".mcp.json", EntryKind.FILE, placeholder=True),
    ProtectedEntry(".vscode", EntryKind.DIR, placeholder=True),
    ProtectedEntry(".idea", EntryKind.DIR, placeholder=True),
    # other agents' and editors' project settings: MCP servers they start, hooks and tasks they run, commands
    # they run after every edit (aider's lint-cmd / test-cmd), a dev container's initializeCommand (on the host)
    *(ProtectedEntry(name, EntryKind.DIR) for name in _AGENT_DIRS),
    *(ProtectedEntry(name, EntryKind.FILE) for name in _AGENT_FILES),
    ProtectedEntry(".envrc", EntryKind.FILE, placeholder=True),
    *(ProtectedEntry(name, EntryKind.FILE, placeholder=True) for name in _SHELL_RC),
    ProtectedEntry(".config/fish", EntryKind.DIR),
    ProtectedEntry(".ssh", EntryKind.DIR, placeholder=True, home_only=True),
    ProtectedEntry(".npmrc", EntryKind.FILE, placeholder=True),
    # package managers that run code from the project on the user's next install or run: yarn 1's
    # ``yarn-path``, yarn 2+'s ``yarnPath``/plugins, pnpm's ``.pnpmfile.cjs`` hooks (run on every install),
    # husky's hook scripts (``core.hooksPath = .husky``: the user's next commit runs them)
    ProtectedEntry(".yarnrc", EntryKind.FILE, placeholder=True),
    ProtectedEntry(".yarnrc.yml", EntryKind.FILE, placeholder=True),
    ProtectedEntry(".pnpmfile.cjs", EntryKind.FILE, placeholder=True),
    ProtectedEntry(".husky", EntryKind.DIR),
    # the other commit-hook managers: their hook in .git/hooks runs what the project's config names, on the
    # user's next commit (a ``repo: local`` hook with ``entry: sh -c ...``)
    *(ProtectedEntry(name, EntryKind.FILE) for name in _HOOK_MANAGER_FILES),
    ProtectedEntry(".lefthook", EntryKind.DIR),
    ProtectedEntry(".pypirc", EntryKind.FILE, placeholder=True),
    ProtectedEntry(".netrc", EntryKind.FILE),
    ProtectedEntry(".ripgreprc", EntryKind.FILE),
)

#: Credential stores under the user's home: never visible to exec children (the whole home is
#: hidden by default; this list also holds when the workspace *is* the home directory).
HIDDEN_IN_HOME: Final[tuple[str, ...]] = (
    ".ssh", ".aws", ".gnupg", ".config/gcloud", ".kube", ".docker", ".netrc", ".npmrc", ".pypirc",
    ".git-credentials", ".azure", ".config/gh", ".config/hub", ".password-store", ".local/share/keyrings",
    ".vault-token", ".terraform.d", ".cargo/credentials", ".cargo/credentials.toml", ".m2/settings.xml",
    ".gradle/gradle.properties", ".pgpass", ".my.cnf", ".bash_history", ".zsh_history", ".python_history",
    ".node_repl_history", ".pi",
)

#: Operations that change the file system, as the mediation stage names them (fs has no rename or
#: link op: the shims build rename from write + delete, and refuse links).
MUTATING_OPS: Final = frozenset({"write", "mkdir", "delete", "rename", "link", "symlink"})


class ProtectedNames:
    """The built-in table plus settings-added names, matched case-insensitively at any depth."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        entries = list(PROTECTED)
        known = {e.path for e in entries}
        for name in extra:
            folded = name.casefold().strip("/")
            if folded and folded not in known:
                known.add(folded)
                entries.append(ProtectedEntry(folded, EntryKind.DIR))
        self.entries: tuple[ProtectedEntry, ...] = tuple(entries)
        self._first = frozenset(e.parts[0] for e in entries)

    def match(self, relative: str) -> ProtectedEntry | None:
        """The entry that protects ``relative`` (a path inside a writable root), or None.

        ``relative`` is protected when it *is* an entry or lies inside one (``.git/hooks/pre-commit``),
        at any depth (``vendor/lib/.git/config``). A ``REPO`` entry protects only the name itself.
        """
        parts = [p.casefold() for p in relative.replace(os.sep, "/").split("/") if p and p != "."]
        for i, part in enumerate(parts):
            if part not in self._first:
                continue
            for entry in self.entries:
                want = entry.parts
                if tuple(parts[i:i + len(want)]) != want:
                    continue
                if entry.kind is EntryKind.REPO and len(parts) != i + len(want):
                    continue
                return entry
        return None

    def inside(self, directory: Path) -> Iterator[tuple[ProtectedEntry, Path]]:
        """Entries that exist directly inside ``directory`` (one lstat each, no walk)."""
        for entry in self.entries:
            candidate = directory.joinpath(*entry.parts)
            if os.path.lexists(candidate):
                yield entry, candidate
