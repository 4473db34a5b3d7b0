"""Which files git tracks in a workspace, read from the repository's index (no ``git`` process).

The exec sandbox hides a workspace's secret files from children, but not the ones git tracks *with the text
they hold*: that text is in ``.git``'s object store, which a child reads anyway, and a tracked file that became
unreadable breaks ``git add -A`` / ``git commit -a`` (``can only add regular files``) for every agent
that commits. The index is parsed once per change (keyed on its size and modification time).

The index is a file children may write (``git add`` runs in the sandbox), so what it claims is never taken
on trust: a file counts as tracked only when its own bytes, hashed here, are the blob the index names
(:func:`holds_indexed_text`). A child that adds a hidden ``.env`` (it reads the empty stand-in) or writes
an entry for it with ``git update-index --cacheinfo`` gets an index naming a blob the real file is not.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import threading
from collections.abc import Mapping
from typing import Final

#: Fixed part of an index entry before the flags (ctime, mtime, dev, ino, mode, uid, gid, size, oid).
_FIXED: Final = 60
_EXTENDED: Final = 0x4000
#: Where an entry's object id lies (after ctime, mtime, dev, ino, mode, uid, gid, size) and its length (SHA-1;
#: a SHA-256 repository's index does not parse as one, so nothing in it is exempt).
_OID_AT: Final = 40
_OID_LEN: Final = 20
#: Indexes larger than this are not parsed (treated as "cannot tell": nothing is exempt).
MAX_INDEX_BYTES: Final = 64 * 1024 * 1024
#: Files larger than this are not hashed to compare with their index entry (not exempt: hidden).
MAX_HASHED_BYTES: Final = 8 * 1024 * 1024
#: Remembered blob ids of working-tree files (by path and stat key) before the table is emptied.
_MAX_BLOBS: Final = 4096

_lock = threading.Lock()
_cache: dict[str, tuple[tuple[int, int], Mapping[str, bytes] | None]] = {}
_blobs: dict[str, tuple[tuple[int, int, int, int, int], bytes | None]] = {}


def repository_of(folder: str) -> tuple[str, str] | None:
    """``(work tree root, git dir)`` of the repository ``folder`` lies in, or None."""
    here = folder
    while True:
        dot_git = here.rstrip("/") + "/.git"
        if os.path.isdir(dot_git) and not os.path.islink(dot_git):
            return here, dot_git
        if os.path.isfile(dot_git) and not os.path.islink(dot_git):
            try:
                with open(dot_git, encoding="utf-8") as fh:
                    line = fh.read(4096).strip()
            except (OSError, UnicodeDecodeError):
                return None
            if not line.startswith("gitdir:"):
                return None
            gitdir = line[len("gitdir:"):].strip()
            return here, os.path.normpath(os.path.join(here, gitdir))
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def tracked(git_dir: str) -> Mapping[str, bytes] | None:
    """The paths (relative to the work tree, ``/``-separated) in ``git_dir``'s index, each with the object id
    (20 bytes) the index names for it; None when there is no index or it cannot be read (then nothing counts
    as tracked). What the index says is the claim of whoever wrote it: see :func:`holds_indexed_text`."""
    index = git_dir + "/index"
    try:
        info = os.stat(index)
    except OSError:
        return None
    key = (info.st_size, info.st_mtime_ns)
    with _lock:
        hit = _cache.get(index)
    if hit is not None and hit[0] == key:
        return hit[1]
    paths = _parse(index) if info.st_size <= MAX_INDEX_BYTES else None
    with _lock:
        _cache[index] = (key, paths)
    return paths


def _parse(index: str) -> Mapping[str, bytes] | None:
    try:
        with open(index, "rb") as fh:
            data = fh.read(MAX_INDEX_BYTES + 1)
    except OSError:
        return None
    if len(data) < 12 or data[:4] != b"DIRC":
        return None
    version, count = struct.unpack(">II", data[4:12])
    if version not in (2, 3, 4):
        return None
    out: dict[str, bytes] = {}
    pos, previous = 12, b""
    try:
        for _ in range(count):
            start = pos
            (flags,) = struct.unpack(">H", data[pos + _FIXED:pos + _FIXED + 2])
            pos += _FIXED + 2
            if version >= 3 and flags & _EXTENDED:
                pos += 2
            if version == 4:
                byte = data[pos]  # git's offset varint: 7 bits a byte, +1 per continuation
                pos += 1
                strip = byte & 0x7F
                while byte & 0x80:
                    byte = data[pos]
                    pos += 1
                    strip = ((strip + 1) << 7) | (byte & 0x7F)
                end = data.index(b"\0", pos)
                name = previous[:len(previous) - strip] + data[pos:end]
                pos = end + 1
            else:
                end = data.index(b"\0", pos)
                name = data[pos:end]
                pos = start + ((end - start) // 8 + 1) * 8  # NUL padding to a multiple of 8
            previous = name
            oid = data[start + _OID_AT:start + _OID_AT + _OID_LEN]
            if len(oid) != _OID_LEN:
                return None
            out[name.decode("utf-8", "surrogateescape")] = oid
    except (struct.error, ValueError, IndexError):
        return None
    return out


def holds_indexed_text(path: str, oid: bytes) -> bool:
    """Whether the regular file ``path`` holds exactly the blob ``oid`` (git's SHA-1 of ``blob <size>\\0`` and
    the bytes): its text is then in the object store the index points to. False for anything else (another
    text, not a regular file, larger than :data:`MAX_HASHED_BYTES`, unreadable). Remembered per path and
    ``(dev, ino, size, mtime, ctime)``: a file rewritten since is hashed again."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_HASHED_BYTES:
            return False
        key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        with _lock:
            hit = _blobs.get(path)
        if hit is not None and hit[0] == key:
            return hit[1] == oid
        blob = hashlib.sha1(b"blob %d\0" % info.st_size)
        remaining = info.st_size
        while remaining > 0:  # the size fstat gave: a file growing meanwhile gets another stat key next time
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                return False  # shrank while read: not what was stat-ed
            blob.update(chunk)
            remaining -= len(chunk)
        digest = blob.digest()
    except OSError:
        return False
    finally:
        os.close(fd)
    with _lock:
        if len(_blobs) >= _MAX_BLOBS:
            _blobs.clear()
        _blobs[path] = (key, digest)
    return digest == oid


#: The repository found above a folder that has no ``.git`` of its own (the walk up is remembered).
_repos: dict[str, tuple[str, str]] = {}
#: ``folder/.git`` as a file: its ``lstat`` key and the repository it names.
_redirects: dict[str, tuple[tuple[int, int, int, int], tuple[str, str] | None]] = {}

#: Entries of a git dir that run code or redirect git (the ``.git/...`` names of the protected table).
GIT_DIR_ENTRIES: Final = ("config", "config.worktree", "commondir", "hooks", "modules", "worktrees")
#: The name :func:`guarded` gives the ``core.hooksPath`` folder.
HOOKS_PATH: Final = "core.hookspath"
#: ... and a file the repository's config names as a command or an include (:func:`config_named`).
CONFIG_NAMED: Final = "a file the repository's config runs or includes"


def current_repository(folder: str) -> tuple[str, str] | None:
    """:func:`repository_of` ``folder``, with ``folder/.git`` looked at afresh on every call (one ``lstat``): a
    ``.git`` that appeared, was replaced or became a file naming another folder is seen at once. Only the walk
    up from a folder without a ``.git`` of its own is remembered (its ancestors are outside the writable roots)."""
    dot = folder.rstrip("/") + "/.git"
    try:
        info = os.lstat(dot)
    except OSError:
        info = None
    if info is not None and stat.S_ISDIR(info.st_mode):
        return folder, dot
    if info is not None and stat.S_ISREG(info.st_mode):
        key = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        hit = _redirects.get(folder)
        if hit is not None and hit[0] == key:
            return hit[1]
        found = repository_of(folder)
        with _lock:
            _redirects[folder] = (key, found)
        return found
    if info is not None:
        return None  # a link or something else named .git: git refuses it (and the table protects the name)
    repo = _repos.get(folder)
    if repo is None:
        repo = repository_of(folder)
        if repo is None:
            return None
        with _lock:
            _repos[folder] = repo
    return repo


def hooks_dir(folder: str) -> str | None:
    """:func:`hooks_path` of the repository ``folder`` lies in."""
    repo = current_repository(folder)
    return hooks_path(*repo) if repo is not None else None


def guarded(folder: str) -> tuple[tuple[str, str], ...]:
    """``(path, what)`` git of the repository ``folder`` lies in runs code from that the protected-name table
    does not reach by name: the ``core.hooksPath`` folder (``what`` = :data:`HOOKS_PATH`), the work-tree files
    its config runs or includes (:data:`CONFIG_NAMED`) and, when ``.git``
    is a file naming another folder (``git init --separate-git-dir``, a worktree's or submodule's checkout),
    that folder's config, hooks, commondir ... (``what`` = the table's ``.git/<entry>`` name).

    Looked up afresh on every call (an ``lstat`` of ``.git``, a ``stat`` of the config; parsed again only when
    one changed): a decision made before the repository pointed there must not stand after it does."""
    repo = current_repository(folder)
    if repo is None:
        return ()
    worktree, git_dir = repo
    out: list[tuple[str, str]] = []
    if git_dir != worktree.rstrip("/") + "/.git":
        out.extend((git_dir + "/" + name, ".git/" + name) for name in GIT_DIR_ENTRIES)
    hooks, named = _config(worktree, git_dir)
    if hooks is not None:
        out.append((hooks, HOOKS_PATH))
    out.extend((path, CONFIG_NAMED) for path in named)
    return tuple(out)


def hooks_path(worktree: str, git_dir: str | None = None) -> str | None:
    """The folder ``core.hooksPath`` in ``worktree``'s ``.git/config`` names (absolute, normalised; a
    relative value is taken from the work tree, as git does for a non-bare repository), or None.

    The scripts there run on the user's next commit, checkout or push like ``.git/hooks`` (husky sets
    ``.husky``, many projects ``.githooks``): the exec sandbox and the fs connector protect that folder too.
    Read again only when the config file changes (a new inode: git writes it by rename)."""
    return _config(worktree, git_dir)[0]


def config_named(worktree: str, git_dir: str | None = None) -> tuple[str, ...]:
    """Files in the work tree the repository's config makes git run or read as config: the paths in a
    command-valued key (``core.fsmonitor = tools/fsmon.sh``, ``alias.t = !./scripts/t.sh``, a filter's
    ``clean``, ``diff.*.textconv``, ``credential.helper`` ...) and the files ``include.path`` /
    ``includeIf.*.path`` name (their keys count as the config's). A child that edits one runs its code on the
    user's next ``git`` — as surely as one that edits the config."""
    return _config(worktree, git_dir)[1]


#: ``section.key`` (``*``: any subsection) whose value is a command git runs, or a config file it reads.
COMMAND_KEYS: Final = frozenset({
    "core.fsmonitor", "core.pager", "core.editor", "core.sshcommand", "core.askpass", "core.gitproxy",
    "sequence.editor", "diff.external", "diff.*.textconv", "diff.*.command", "difftool.*.cmd", "mergetool.*.cmd",
    "merge.*.driver", "filter.*.clean", "filter.*.smudge", "filter.*.process", "credential.helper",
    "credential.*.helper", "gpg.program", "gpg.*.program", "alias.*", "pager.*", "uploadpack.packobjectshook",
    "web.browser", "browser.*.cmd", "man.*.cmd", "include.path", "includeif.*.path",
})
#: Included config files followed at most this deep.
_INCLUDE_DEPTH: Final = 3
_config_cache: dict[str, tuple[tuple[tuple[int, int, int, int], ...], tuple[str | None, tuple[str, ...]]]] = {}


def _stat_key(path: str) -> tuple[int, int, int, int]:
    try:
        info = os.stat(path)
    except OSError:
        return (-1, -1, -1, -1)
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _config(worktree: str, git_dir: str | None) -> tuple[str | None, tuple[str, ...]]:
    """``(core.hooksPath folder, files the config names)`` of the repository, read again only when the config
    or a file it includes changed."""
    config = (git_dir or worktree.rstrip("/") + "/.git") + "/config"
    # ``config.worktree`` is read too when ``extensions.worktreeConfig`` is on: its keys count the same
    worktree_config = config + ".worktree"
    with _lock:
        hit = _config_cache.get(config)
    if hit is not None and hit[0] == tuple(_stat_key(p) for p in (config, worktree_config, *hit[1][1])):
        return hit[1]
    found: str | None = None
    named: list[str] = []
    pending = [(worktree_config, 0), (config, 0)]
    seen: set[str] = set()
    while pending:
        current, depth = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for key, value in _read_entries(current):
            if key == "core.hookspath" and value:
                value = os.path.expanduser(value)
                found = os.path.normpath(value if value.startswith("/") else os.path.join(worktree, value))
            elif key in ("include.path", "includeif.*.path") and value and depth < _INCLUDE_DEPTH:
                value = os.path.expanduser(value)
                path = os.path.normpath(value if value.startswith("/") else
                                        os.path.join(os.path.dirname(current), value))
                named.append(path)
                pending.append((path, depth + 1))
            elif key in COMMAND_KEYS or key.rsplit(".", 1)[0] + ".*" in COMMAND_KEYS:  # alias.<name>, pager.<cmd>
                for word in value.replace("!", " ").replace(";", " ").replace("&", " ").replace("|", " ").split():
                    word = word.strip("'\"")
                    if "/" in word and not word.startswith(("-", "$")):
                        named.append(os.path.normpath(word if word.startswith("/") else os.path.join(worktree, word)))
    prefix = worktree.rstrip("/") + "/"
    result = (found, tuple(dict.fromkeys(p for p in named if p.startswith(prefix))))
    stamp = tuple(_stat_key(p) for p in (config, worktree_config, *result[1]))
    with _lock:
        _config_cache[config] = (stamp, result)
    return result


def _read_entries(config: str) -> list[tuple[str, str]]:
    """``(section.key, value)`` of a git config file, leniently (``section.*.key`` for a subsection)."""
    try:
        with open(config, encoding="utf-8", errors="replace") as fh:
            text = fh.read(1024 * 1024)
    except OSError:
        return []
    out: list[tuple[str, str]] = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            head = line[1:line.find("]")].strip() if "]" in line else ""
            name = head.split()[0].lower() if head else ""
            section = f"{name.split('.', 1)[0]}.*" if ('"' in head or "." in name) else name
            line = line[line.find("]") + 1:].strip() if "]" in line else ""
            if not line:
                continue
        if not section or line.startswith(("#", ";")):
            continue
        name, _, value = line.partition("=")
        key = f"{section}.{name.strip().lower()}"
        value = value.split(" #")[0].split(" ;")[0].strip().strip('"') if "=" in line else "true"
        out.append((key, value))
    return out
