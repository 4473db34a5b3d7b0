"""Protected names a child planted where the read-only binds could not reach: found after the call, quarantined.

The binds of ``mounts.py`` cover the protected names that exist when a call starts, two folder levels deep
(and stand-ins for missing ones). What a child creates in a *new* folder, or deeper, is judged here once the
call's processes are gone (``watch.py`` names what was touched): a planted name is **moved out** of the
workspace into ``<state dir>/quarantine/<extension>/<call>/`` (the child's view never holds the state dir) and
the move is recorded in the ledger (``kind = exec_sandbox``, reason ``planted_protected_name``) with an alert.
Nothing is deleted: the operator can look at it and put it back.

What counts, at any depth below the workspace:

- git: a ``.git`` that is a file or a link (it names another folder as the repository: a submodule's or
  worktree's ``.git`` pointing at a config of the child's); in a ``.git`` folder — or a folder git takes for a
  repository by its layout (``HEAD`` + ``objects/``: a bare repository) — ``hooks/*`` other than git's own
  ``*.sample`` files, ``commondir``, ``config.worktree``, and a ``config`` that sets
  anything beyond what ``git init`` / ``git clone`` write (:data:`SAFE_GIT_KEYS`: the rest can run code —
  ``core.fsmonitor``, ``core.hooksPath``, ``core.pager``, aliases, filters, ``include.path`` ...): that one is
  moved out and replaced by its safe lines, so a repository an agent made keeps working;
- the folder the workspace repository's ``core.hooksPath`` names, and the git dir a ``.git`` file names;
- every other protected name of the table (``.envrc``, ``.vscode/``, ``.pi/``, ``.mcp.json``, shell rc files,
  ``.npmrc`` ...), except inside ``node_modules`` (packages ship editor folders; nothing opens them there —
  git names are judged there too).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pi_sandbox.sandbox.gitindex import guarded
from pi_sandbox.sandbox.listing import entries_of
from pi_sandbox.sandbox.protected import ProtectedNames
from pi_sandbox.sandbox.watch import GIT_UNWATCHED

#: ``section.key`` (lower case; ``*`` for a subsection name) a repository's config may hold without being
#: moved out: what ``git init`` and ``git clone`` write, and identity. Nothing here names a program to run.
SAFE_GIT_KEYS: Final = frozenset({
    "core.repositoryformatversion", "core.filemode", "core.bare", "core.logallrefupdates", "core.ignorecase",
    "core.precomposeunicode", "core.symlinks", "core.autocrlf", "core.eol", "core.safecrlf", "core.worktree",
    "remote.*.url", "remote.*.fetch", "remote.*.pushurl", "branch.*.remote", "branch.*.merge",
    "branch.*.rebase", "user.name", "user.email", "init.defaultbranch", "extensions.objectformat",
    "extensions.refstorage",
})
#: What a repository's config is read up to (a larger one is not a repository git made: moved out).
MAX_CONFIG_BYTES: Final = 64 * 1024
#: A ``.git`` entry's parts that are moved out whole when a child made or changed them.
_GIT_WHOLE: Final = frozenset({"commondir", "config.worktree"})
_SECTION: Final = re.compile(r'^\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]\s*(.*)$')
_KEY: Final = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$")


@dataclass(frozen=True)
class Planted:
    """One planted name and what was done with it."""

    #: Workspace-relative path.
    path: str
    #: The protected name it matched (``.git/hooks``, ``.envrc``, ``core.hookspath``, ``.git`` ...).
    what: str
    #: ``quarantined`` (moved out), ``neutralised`` (a config moved out and replaced by its safe lines), or
    #: ``failed`` (it could not be moved: it stays, and the alert says so).
    action: str


def judge(root: str, touched: Iterable[str], names: ProtectedNames, *, skip: frozenset[str] = frozenset()
          ) -> list[tuple[str, str, bool]]:
    """``(absolute path, what, is_config)`` of the touched paths under ``root`` that are planted protected names
    (shortest first, so a folder is moved before what is inside it). ``skip``: the sandbox's own stand-ins."""
    prefix = root.rstrip("/") + "/"
    guards = RepositoryGuards(root)
    out: dict[str, tuple[str, bool]] = {}
    for path in sorted(_with_layouts(touched), key=len):
        if not path.startswith(prefix) or _under(path, skip) or _under(path, out):
            continue
        found = _judge_one(path, path[len(prefix):], names, guards.of(path))
        if found is not None and os.path.lexists(found[0]):  # (gone again: nothing to move)
            out[found[0]] = (found[1], found[2])
    return [(path, what, config) for path, (what, config) in out.items()]


class RepositoryGuards:
    """What :func:`~pi_sandbox.sandbox.gitindex.guarded` names for the repository a path lies in — the workspace's
    own, or a nested one (its ``core.hooksPath``, the scripts its config runs: the user's next ``git`` in that
    folder runs them) — each folder looked at once per judgement."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/") or "/"
        self._by_folder: dict[str, tuple[tuple[str, str], ...]] = {}

    def of(self, path: str) -> tuple[tuple[str, str], ...]:
        """The guarded paths of the repository around ``path`` and of the workspace's repository."""
        folder = path.rpartition("/")[0]
        return self._folder(folder) + (self._folder(self.root) if folder != self.root else ())

    def _folder(self, folder: str) -> tuple[tuple[str, str], ...]:
        hit = self._by_folder.get(folder)
        if hit is not None:
            return hit
        if folder == self.root or not folder.startswith(self.root + "/"):
            found = guarded(self.root) if folder == self.root else ()
        elif os.path.lexists(folder + "/.git"):
            found = guarded(folder)
        else:
            found = self._folder(folder.rpartition("/")[0])
        self._by_folder[folder] = found
        return found


def _with_layouts(touched: Iterable[str]) -> set[str]:
    """``touched`` plus the config, hooks and commondir of every folder a touched ``HEAD`` or ``objects`` just
    made a repository by its layout: a config written *before* the folder looked like a repository (judged then
    as an ordinary file) runs once it does."""
    out = set(touched)
    for path in list(out):
        folder, _, name = path.rpartition("/")
        if name.casefold() in ("head", "objects") and folder.rpartition("/")[2].casefold() != ".git" \
                and _looks_like_git_dir(folder):
            out.update((folder + "/config", folder + "/commondir", folder + "/config.worktree"))
            try:
                out.update(folder + "/hooks/" + hook for hook in os.listdir(folder + "/hooks"))
            except OSError:
                pass
    return out


def _under(path: str, folders: frozenset[str] | dict[str, tuple[str, bool]]) -> bool:
    """Whether ``path`` is one of ``folders`` or inside one (a set lookup per ancestor)."""
    if not folders:
        return False
    while path and path != "/":
        if path in folders:
            return True
        path = path.rpartition("/")[0]
    return False


def _judge_one(path: str, rel: str, names: ProtectedNames, hooks: Iterable[tuple[str, str]]
               ) -> tuple[str, str, bool] | None:
    parts = rel.split("/")
    low = [p.casefold() for p in parts]
    for guard, what in hooks:
        if path == guard or path.startswith(guard + "/"):
            return path, what, False
    if ".git" in low:
        i = low.index(".git")
        top = "/".join(parts[:i + 1])
        base = path[:len(path) - len(rel)] + top
        if i == len(parts) - 1:
            return (path, ".git", False) if not _is_dir(path) else None  # a file or link naming another folder
        return _judge_git_dir(path, base, low[i + 1:])
    if low[-1] in ("config", "commondir", "config.worktree") and _looks_like_git_dir(os.path.dirname(path)):
        return _judge_git_dir(path, os.path.dirname(path), [low[-1]])
    if len(parts) >= 2 and low[-2] == "hooks" and _looks_like_git_dir(os.path.dirname(os.path.dirname(path))):
        return _judge_git_dir(path, os.path.dirname(os.path.dirname(path)), low[-2:])
    if "node_modules" in low[:-1]:
        return None
    entry = names.match(rel)
    if entry is None or entry.home_only:  # ``~/.ssh``, ``~/.gitconfig``: read only where they are the home's
        return None
    return path, entry.path, False


def nested_guard(root: str, path: str) -> str | None:
    """What protects ``path`` in a repository nested in the workspace ``root`` (its ``core.hooksPath`` folder, a
    script its config runs or includes, the git dir its ``.git`` file names), or None: the fs connector refuses
    a change there like one in the workspace's own repository (which ``mediation.paths`` judges)."""
    guards = RepositoryGuards(root)
    folder = path.rpartition("/")[0]
    if folder == guards.root:
        return None
    for guard, what in guards._folder(folder):
        if path == guard or path.startswith(guard + "/") or guard.startswith(path + "/"):
            return what
    return None


def layout_refusal(path: str, op: str) -> str | None:
    """What an ``fs`` write or mkdir of the resolved ``path`` would plant in a folder git takes for a repository
    by its layout (``HEAD`` + ``objects/``, a bare repository: its config and hooks run like ``.git``'s), or None.
    Refused before the effect: its config, commondir or hooks, and the ``HEAD`` or ``objects`` that would turn
    a folder already holding a config or hooks into such a repository (the order of the steps does not matter)."""
    folder, _, name = path.rpartition("/")
    low = name.casefold()
    if low in ("config", "commondir", "config.worktree") and _looks_like_git_dir(folder):
        return f".git/{low}"
    if folder.rpartition("/")[2].casefold() == "hooks" and _looks_like_git_dir(folder.rpartition("/")[0]):
        return ".git/hooks"
    if low in ("head", "objects") and folder.rpartition("/")[2].casefold() != ".git":
        other = folder + ("/objects" if low == "head" else "/HEAD")
        if (_is_dir(other) if low == "head" else _is_regular(other)) and (
                os.path.lexists(folder + "/config") or os.path.lexists(folder + "/hooks")):
            return ".git/config"
    return None


def _judge_git_dir(path: str, git_dir: str, rest: list[str]) -> tuple[str, str, bool] | None:
    """A touched path inside a repository folder ``git_dir`` (``rest``: its parts below it, lower case)."""
    head = rest[0]
    if head in ("modules", "worktrees"):
        # A submodule's git dir (``modules/<name>``, nested: ``modules/a/modules/b``) is a repository folder of its
        # own; a worktree's (``worktrees/<name>``) holds a ``commondir`` back to this one (``../..``).
        if len(rest) <= 2:
            return None  # the folders themselves: what goes inside is judged
        inner = git_dir + "/" + "/".join(path[len(git_dir) + 1:].split("/")[:2])
        if head == "worktrees" and rest[2:] == ["commondir"]:
            text = _read_small(path)
            return None if text is not None and text.strip() in ("../..", "../../") else (path, ".git/commondir", False)
        return _judge_git_dir(path, inner, rest[2:])
    if head == "config" and len(rest) == 1:
        return (path, ".git/config", True) if not _safe_config(path) else None
    if head == "hooks":
        if len(rest) == 1:
            return (path, ".git/hooks", False) if not _is_dir(path) else None
        hook = git_dir + "/" + "/".join(path[len(git_dir) + 1:].split("/")[:2])
        if rest[1].endswith(".sample") and _is_regular(hook):
            return None  # git's own examples: never run
        return hook, ".git/hooks", False
    if head in _GIT_WHOLE:
        return git_dir + "/" + path[len(git_dir) + 1:].split("/", 1)[0], ".git/" + head, False
    return None


def _is_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _looks_like_git_dir(folder: str) -> bool:
    """Whether git would take ``folder`` for a repository by its layout (a bare repository: ``HEAD`` and
    ``objects/``; ``git status`` run inside it reads its config)."""
    return _is_regular(folder + "/HEAD") and _is_dir(folder + "/objects")


def config_keys(text: str) -> list[tuple[str, str]] | None:
    """``(section.key pattern, line)`` of a git config, or None when it is not plain enough to judge (an
    include, a continuation line, an unknown shape: treated as unsafe)."""
    out: list[tuple[str, str]] = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            found = _SECTION.match(line)
            if found is None:
                return None
            name, sub, rest = found.group(1).lower(), found.group(2), found.group(3)
            section = f"{name}.*" if sub is not None or "." in name else name
            if name.split(".", 1)[0] in ("include", "includeif"):
                return None
            line = rest.strip()
            out.append((f"[{section}]", raw.strip().split("]", 1)[0] + "]"))
            if not line:
                continue
        if line.endswith("\\"):
            return None
        key = _KEY.match(line)
        if key is None or not section:
            return None
        out.append((f"{section.split('.', 1)[0]}{'.*' if section.endswith('.*') else ''}.{key.group(1).lower()}",
                    line))
    return out


def _safe_config(path: str) -> bool:
    text = _read_small(path)
    if text is None:
        return False
    keys = config_keys(text)
    return keys is not None and all(k.startswith("[") or k in SAFE_GIT_KEYS for k, _line in keys)


def safe_lines(text: str) -> str:
    """The sections and lines of a git config that :data:`SAFE_GIT_KEYS` allows (what replaces a config a child
    changed): a repository made in the sandbox keeps working, without what could run code."""
    keys = config_keys(text) or []
    lines: list[str] = []
    header = ""
    for key, line in keys:
        if key.startswith("["):
            header = line
        elif key in SAFE_GIT_KEYS:
            if header:
                lines.append(header)
                header = ""
            lines.append("\t" + line)
    return "".join(f"{line}\n" for line in lines) or "[core]\n\trepositoryformatversion = 0\n"


def _read_small(path: str) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, MAX_CONFIG_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        return None
    return data.decode("utf-8", errors="replace")


def quarantine(root: str, found: list[tuple[str, str, bool]], into: Path) -> list[Planted]:
    """Move each planted path out of ``root`` into ``into`` (same relative path); a config is replaced by its
    safe lines. Every step runs on folder fds reached from ``root`` without following a link."""
    out: list[Planted] = []
    prefix = root.rstrip("/") + "/"
    for path, what, is_config in found:
        rel = path[len(prefix):]
        moved = _move_out(root, rel, into / rel)
        if not moved and not os.path.lexists(path):
            continue  # gone meanwhile (the child removed it): nothing is left to move or to record
        action = "failed"
        if moved:
            action = "quarantined"
            if is_config:
                # The safe lines of what was moved, read where it now lies (the state dir: no child reaches it).
                # Read by its workspace path before the move, a folder on the way swapped for a link to another
                # repository (``x`` -> ``~/private/.git``'s parent) and back again made the host copy that
                # repository's remote URLs — tokens in them included — into the workspace for the child to read.
                text = _read_small(str(into / rel))
                _write_new(root, rel, safe_lines(text or ""))
                action = "neutralised"
        out.append(Planted(rel, what, action))
    return out


def _parent_fd(root: str, rel: str) -> tuple[int, str] | None:
    """An ``O_PATH`` fd of ``rel``'s folder, reached from ``root`` one name at a time without following links."""
    flags = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    *folders, name = rel.split("/")
    try:
        fd = os.open(root, flags)
    except OSError:
        return None
    for part in folders:
        try:
            nxt = os.open(part, flags, dir_fd=fd)
        except OSError:
            os.close(fd)
            return None
        os.close(fd)
        fd = nxt
    return fd, name


def _move_out(root: str, rel: str, dest: Path) -> bool:
    opened = _parent_fd(root, rel)
    if opened is None:
        return False
    fd, name = opened
    try:
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            os.rename(name, dest, src_dir_fd=fd)
            return True
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                return False
        source = f"/proc/self/fd/{fd}/{name}"  # another file system: copy (links kept as links), then remove
        if os.path.isdir(source) and not os.path.islink(source):
            shutil.copytree(source, dest, symlinks=True)
            shutil.rmtree(name, dir_fd=fd)
        else:
            shutil.copy2(source, dest, follow_symlinks=False)
            os.unlink(name, dir_fd=fd)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _write_new(root: str, rel: str, text: str) -> None:
    opened = _parent_fd(root, rel)
    if opened is None:
        return
    fd, name = opened
    try:
        out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=fd)
        try:
            os.write(out, text.encode())
        finally:
            os.close(out)
    except OSError:
        pass  # someone made it meanwhile: theirs is judged on the next call's account
    finally:
        os.close(fd)


def walk_recent(root: str, since_ns: int, names: ProtectedNames, *, top: str | None = None) -> set[str]:
    """Where the watch's account is incomplete: every entry below ``top`` (default: the workspace ``root``)
    whose status changed since ``since_ns`` and that could be a planted name (one ``lstat`` only for those)."""
    out: set[str] = set()
    prefix = root.rstrip("/") + "/"
    guards = RepositoryGuards(root)
    # what the repositories met on the way guard (their hooksPath folders, the scripts their configs run)
    guarded_here = {path for path, _what in guards.of((top or root) + "/x")}
    stack = [top or root]
    while stack:
        folder = stack.pop()
        entries = entries_of(folder)
        if entries is None:
            continue
        if any(entry.name == ".git" for entry in entries):
            guarded_here.update(path for path, _what in guards.of(folder + "/.git"))
        for entry in entries:
            rel = entry.path[len(prefix):]
            low = rel.casefold()
            relevant = (".git" in low.split("/") or low.endswith("/config") or "/hooks/" in low
                        or names.match(rel) is not None or _under(entry.path, frozenset(guarded_here)))
            if relevant:
                try:
                    if entry.stat(follow_symlinks=False).st_ctime_ns >= since_ns:
                        out.add(entry.path)
                except OSError:
                    pass
            if entry.is_dir(follow_symlinks=False) and not (entry.name in GIT_UNWATCHED and "/.git" in folder):
                stack.append(entry.path)
    return out
