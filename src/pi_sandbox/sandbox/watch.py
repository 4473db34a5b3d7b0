"""What an exec call changed in the workspace, at any depth, from the kernel's own account (inotify).

The sandbox's read-only binds protect the names that exist (or get a stand-in) when a call starts, down to
two folder levels. A child can still make a folder and plant a name inside it — ``mkdir -p a/b/c && git init
a/b/c && echo .. > a/b/c/.git/hooks/pre-commit`` — or write one deeper than the scan looks. Walking the whole
tree after every call to find such names would cost more than the call itself in a project with
``node_modules``, so one inotify instance (per process) watches every folder of each workspace instead, and
after a call its events name exactly the entries created, moved in, written or changed (``planted.py``
judges them).

- A folder created or moved in is watched at once, and everything already inside it counts as touched
  (it may have been filled before the watch was added).
- Inside a ``.git`` folder only the folder itself and ``hooks`` are watched (objects, refs and logs change on
  every commit and run nothing).
- Events that arrive while no exec call of that workspace runs are not judged as planted (they are the user's
  own work, not a child's), but they keep the watches complete and the record of changed folders the secret
  index (``secret_index.py``) reads; the index's own look watches the roots no call begins (the extension's
  ``data`` and ``tmp`` folders).
- When the kernel's queue overflowed or inotify is not available, the caller walks the whole tree; folders
  a watch could not be added for (``max_user_watches``, :data:`MAX_WATCHES`) are walked, with all below them.
  After an overflow the next look (a call's start, the index's look) watches the tree again: folders made while
  events were lost have no watch until then.
- A root renamed away and made again is another folder (a watch follows its inode): each look compares the
  root's ``(st_dev, st_ino)`` and watches a new one anew. A root inside another shares its folders' watches (one
  per folder, mapped to the root that added it last): a change there is recorded for every root it lies in.
"""

from __future__ import annotations

import bisect
import ctypes
import ctypes.util
import errno
import itertools
import os
import select
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

from pi_sandbox.sandbox.listing import entries_of

IN_MODIFY: Final = 0x00000002
IN_ATTRIB: Final = 0x00000004
IN_CLOSE_WRITE: Final = 0x00000008
IN_MOVED_FROM: Final = 0x00000040
IN_MOVED_TO: Final = 0x00000080
IN_CREATE: Final = 0x00000100
IN_DELETE: Final = 0x00000200
IN_Q_OVERFLOW: Final = 0x00004000
IN_IGNORED: Final = 0x00008000
IN_ONLYDIR: Final = 0x01000000
IN_DONT_FOLLOW: Final = 0x02000000
IN_EXCL_UNLINK: Final = 0x04000000
IN_ISDIR: Final = 0x40000000
_MASK: Final = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
                | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)
_EVENT: Final = struct.Struct("iIII")
#: At most this many folders are watched per process (each watch costs the kernel ~1 KiB).
MAX_WATCHES: Final = 65_536
#: Inside a ``.git`` folder these sub-folders are not watched: they change on every commit and run nothing
#: (a submodule's git dir in ``modules/`` and a worktree's in ``worktrees/`` are watched like ``.git``).
GIT_UNWATCHED: Final = frozenset({"objects", "refs", "logs", "lfs", "rr-cache", "packed-refs"})
_EPOCHS: Final = itertools.count(1)
#: One folder as the watch listed it: its names, and its sub-folders (not links to one) with their inode.
Listing = tuple[tuple[str, ...], tuple[tuple[str, int], ...]]
#: Folders remembered as changed per root before the record is cut short (its lookers then check every folder).
MAX_CHANGED: Final = 20_000


@dataclass
class _Root:
    """One watched workspace."""

    path: str
    active: int = 0
    #: Touched paths (absolute) seen while a call of this root ran, not yet handed out.
    touched: set[str] = field(default_factory=set)
    #: Whether no event was lost since the last hand-out (the kernel's queue overflowed: walk everything).
    complete: bool = True
    #: Folders that could not be watched (the watch limit): they, and all below them, are walked instead.
    holes: set[str] = field(default_factory=set)
    #: The watch of the workspace folder itself (None: gone, e.g. the folder was removed and made again).
    root_wd: int | None = None
    #: Judges touched paths at once while calls run (``handler(root, touched)`` returns those it could not
    #: judge yet), from the watcher's thread.
    handler: Callable[[str, set[str]], set[str]] | None = None
    #: What was handed to ``handler`` while calls ran: judged again, on its final text, when a call ends (what a
    #: child writes through a shared mapping makes no event until the mapping goes). Cleared when no call runs.
    seen: set[str] = field(default_factory=set)
    #: Held while a batch is judged: :meth:`Watcher.end` waits for it before handing out the rest.
    judging: threading.Lock = field(default_factory=threading.Lock)
    #: Folders whose names changed (an entry created, moved in or out; the folder's own watch gone), with or
    #: without a call running, by the number of the last such change (``secret_index.py`` asks what changed
    #: after the number it saw last: several indexes may look at one root).
    changed: list[str] = field(default_factory=list)
    #: The number of each change in ``changed`` (ascending: looked up by bisection).
    changed_seq: list[int] = field(default_factory=list)
    #: The number of the last change.
    seq: int = 0
    #: The number at which events were last lost (the kernel's queue overflowed, or ``changed`` was cut short).
    lost_at: int = 0
    #: The number at which the kernel's queue last overflowed, and the one the tree was last watched again after:
    #: folders made while events were lost have no watch until then (the next look re-watches, not only a call's end).
    overflowed_at: int = 0
    rewatched_at: int = 0
    #: ``(st_dev, st_ino)`` of the root folder when it was watched (a folder renamed away and made again under the
    #: same name is another folder: its old watch follows the renamed one).
    identity: tuple[int, int] | None = None
    #: Which watch of this root it is (never reused: a root watched anew knows nothing of the old watch).
    epoch: int = field(default_factory=lambda: next(_EPOCHS))
    #: The entries of every folder the first watch of the root listed, until :meth:`Watcher.changes` hands them
    #: out or a call ends (the secret index is built from them instead of listing the tree a second time).
    listings: dict[str, Listing] | None = None

    def note(self, folder: str) -> None:
        """``folder``'s names changed (a burst in one folder takes one place, numbered by its last change)."""
        self.seq += 1
        if self.changed and self.changed[-1] == folder:
            self.changed_seq[-1] = self.seq
            return
        self.changed.append(folder)
        self.changed_seq.append(self.seq)
        if len(self.changed) > MAX_CHANGED:  # bounded here, not only when a looker asks: none may ever ask (the
            # broker off), and a child's create/unlink loop adds ~10,000 a second; the lookers check every folder
            self.changed.clear()
            self.changed_seq.clear()
            self.lost_at = self.seq


class Watcher:
    """One inotify instance for every workspace of the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fd = -1
        self._broken = False
        self._wds: dict[int, tuple[_Root, str]] = {}
        self._roots: dict[str, _Root] = {}
        #: The other roots holding a watched folder (a root inside another shares its folders' watches; the kernel
        #: gives one watch per folder, mapped to the root that added it last), by watch, worked out when needed.
        self._sharers: dict[int, tuple[_Root, ...]] = {}
        self._calls = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    # ---- the instance --------------------------------------------------------------------------

    def _instance(self) -> int:
        if self._fd < 0 and not self._broken:
            libc = _libc()
            fd = int(libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)) if libc is not None else -1
            if fd < 0:
                self._broken = True
            self._fd = fd
        return self._fd

    def _add(self, root: _Root, folder: str) -> int | None:
        """Watch ``folder`` (its path recorded for the events); None when no watch could be added."""
        libc = _libc()
        if libc is None or len(self._wds) >= MAX_WATCHES:
            return None
        wd = int(libc.inotify_add_watch(self._fd, os.fsencode(folder), _MASK))
        if wd < 0:
            return None
        if self._wds.get(wd, (root,))[0] is not root:
            self._sharers.pop(wd, None)  # now mapped to another root: its sharers differ
        self._wds[wd] = (root, folder)
        return wd

    def _watch_tree(self, root: _Root, top: str, touched: set[str] | None,
                    listings: dict[str, Listing] | None = None) -> bool:
        """Watch ``top`` and every folder below it; with ``touched``, every entry found is added to it; with
        ``listings``, each folder's entries are kept there (read after its watch was added). False when a watch
        could not be added (the root is then incomplete)."""
        ok = True
        stack = [top]
        while stack:
            folder = stack.pop()
            if self._add(root, folder) is None:
                ok = False
                root.holes.add(folder)
                continue
            in_git = _in_git(folder)
            entries = entries_of(folder)
            if entries is None:
                continue
            if listings is not None:
                # names and sub-folders only: a DirEntry held per entry was ~260 B (65,000 folders of 20: 340 MB)
                listings[folder] = (tuple(entry.name for entry in entries),
                                    tuple((entry.name, entry.inode()) for entry in entries
                                          if entry.is_dir(follow_symlinks=False)))
            for entry in entries:
                if touched is not None:
                    touched.add(entry.path)
                if entry.is_dir(follow_symlinks=False) and not (in_git and entry.name in GIT_UNWATCHED):
                    stack.append(entry.path)
        return ok

    # ---- calls -----------------------------------------------------------------------------------

    def _observe(self, root: str, listings: bool = True) -> _Root:
        """Under the lock, with the instance open: the state of ``root``, its tree watched (the first time, or
        again when the folder itself went or is another folder now: a new state, so what was known of the old one is
        not trusted), every queued event applied, and the tree watched again after an overflow. ``listings``: a new
        watch keeps its folders' listings for the secret index's first look (not when no index will look)."""
        state = self._roots.get(root)
        if state is not None:
            self._drain()
        identity = _identity(root)
        if state is None or state.root_wd is None or state.identity != identity:
            old = state
            state = self._roots[root] = _Root(root, active=old.active if old is not None else 0, identity=identity,
                                              handler=old.handler if old is not None else None)
            self._sharers.clear()
            if old is not None:
                self._retire(old)
            state.listings = {} if listings else None
            self._watch_tree(state, root, None, state.listings)
            state.root_wd = next((wd for wd, (s, f) in self._wds.items() if s is state and f == root), None)
            # what changed while the tree was listed (after a folder's watch was added): in ``changed`` now, before
            # the listings are handed out
            self._drain()
        if state.overflowed_at > state.rewatched_at:
            # folders made while events were lost have no watch: watched now, before the looker checks the tree by
            # stamp (a change after that is an event); ``complete`` stays for the call's end
            state.rewatched_at = state.overflowed_at
            self._rewatch(state)
        return state

    def _retire(self, old: _Root) -> None:
        """Stop watching what only ``old`` (a root's previous state: its folder renamed away) watched."""
        libc = _libc()
        others = [other.path.rstrip("/") + "/" for other in self._roots.values() if other.path != old.path]
        for wd, (state, folder) in list(self._wds.items()):
            if state is old:
                del self._wds[wd]
                if libc is not None and not any((folder + "/").startswith(prefix) for prefix in others):
                    libc.inotify_rm_watch(self._fd, wd)

    def changes(self, root: str, since: int, epoch: int | None = None) -> Changes | None:
        """What changed in ``root``'s folder names after change number ``since`` of watch ``epoch`` (the root is
        watched from now on, also when no call of it runs: the extension's own folders); None when inotify is not
        available. Of another watch (or ``epoch`` None) every change of the current one is reported."""
        with self._lock:
            if self._instance() < 0:
                return None
            state = self._observe(root)
            if epoch != state.epoch:
                since = 0  # numbers of another watch: this one's changes all came after what the looker saw
            first = bisect.bisect_right(state.changed_seq, since)
            # A root inside another watched root (the extension's folders in a state dir inside the workspace) shares
            # its folders' watches with it: an event goes to whichever root added the watch last, so its account is
            # not complete.
            inner = any(root.startswith(other.rstrip("/") + "/") for other in self._roots if other != root)
            listings, state.listings = state.listings, None  # for the first looker only
            return Changes(epoch=state.epoch, seq=state.seq, lost=state.lost_at > since,
                           folders=frozenset(state.changed[first:]), holes=frozenset(state.holes),
                           watched=state.root_wd is not None and not inner, listings=listings)

    def begin(self, root: str, handler: Callable[[str, set[str]], set[str]] | None = None,
              listings: bool = True) -> bool:
        """A call of ``root`` starts: its workspace is watched (the first time: every folder), and events
        that came in meanwhile are applied to the watches only. While calls of ``root`` run, what they touch is
        handed to ``handler`` as it happens (a planted name is moved out within a fraction of a second, not
        only when the call ends: an editor's git integration runs ``git status`` in a new repository on its
        own). ``listings=False``: no secret index looks at this call (the secret broker is off), so a new watch
        keeps no listings (held for the whole call: ~100 B per entry). False when inotify is unavailable."""
        with self._lock:
            if self._instance() < 0:
                return False
            state = self._observe(root, listings)
            if state.active == 0:
                state.touched.clear()
                state.seen.clear()
            state.active += 1
            if handler is not None:
                state.handler = handler
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="pi-sandbox-watch", daemon=True)
                    self._thread.start()
                self._calls.notify_all()
            return True

    def end(self, root: str) -> tuple[set[str], list[str]]:
        """A call of ``root`` ended (its processes are gone): the paths touched while any call of it ran (also
        those already judged while it ran), and the folders whose changes it could not see (to be walked: the
        whole workspace after a lost event, else the folders the watch limit left out)."""
        state = self._roots.get(root)
        if state is None or self._fd < 0:
            return set(), [root]
        with state.judging, self._lock:  # a batch being judged right now finishes first
            self._drain()
            touched, complete = state.touched | state.seen, state.complete
            walk = [root] if not complete else sorted(state.holes)
            state.touched = set()
            state.listings = None  # nobody took them during the call (the secret broker is off): not kept
            state.active = max(0, state.active - 1)
            if state.active == 0:
                state.seen = set()
            if not complete:
                state.complete = True
                if state.overflowed_at > state.rewatched_at:
                    state.rewatched_at = state.overflowed_at
                    self._rewatch(state)
            return touched, walk

    def _loop(self) -> None:
        """The watcher's thread: while any call runs, judge what it touches as it happens."""
        while True:
            with self._lock:
                while not any(state.active and state.handler for state in self._roots.values()):
                    self._calls.wait()
                fd = self._fd
            try:
                if not select.select([fd], [], [], 0.25)[0]:
                    continue
            except (OSError, ValueError):
                continue
            batches: list[tuple[_Root, Callable[[str, set[str]], set[str]], set[str]]] = []
            with self._lock:
                self._drain()
                for state in self._roots.values():
                    if state.active and state.touched and state.handler is not None:
                        batches.append((state, state.handler, state.touched))
                        state.seen |= state.touched
                        state.touched = set()
            for state, handler, touched in batches:
                with state.judging:
                    try:
                        left = handler(state.path, touched)
                    except Exception:  # noqa: BLE001 - the call's end judges again; this thread must live on
                        left = touched
                    if left:
                        with self._lock:
                            state.touched |= left

    def _rewatch(self, state: _Root) -> None:
        """After a lost event: watch every folder again (adding a watch twice returns the same one)."""
        state.holes.clear()
        self._watch_tree(state, state.path, None)

    # ---- events ----------------------------------------------------------------------------------

    def _drain(self) -> None:
        """Read every queued event (under the lock); each touched path goes to its root when a call runs."""
        moved_out: dict[int, str] = {}
        for wd, mask, cookie, name in self._events():
            if mask & IN_Q_OVERFLOW:
                for state in self._roots.values():
                    state.complete = False
                    state.seq += 1
                    state.lost_at = state.overflowed_at = state.seq
                continue
            hit = self._wds.get(wd)
            if hit is None:
                continue
            state, folder = hit
            if mask & IN_IGNORED:
                del self._wds[wd]
                for each in (state, *self._shared(wd, state, folder)):
                    each.note(folder)
                    if wd == each.root_wd:
                        each.root_wd = None
                self._sharers.pop(wd, None)
                continue
            if not name:
                continue
            if mask & (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE):
                state.note(folder)
                for other in self._shared(wd, state, folder):
                    other.note(folder)
            path = folder + "/" + name
            calling = state.active > 0
            if mask & IN_ISDIR:
                if mask & IN_MOVED_FROM:
                    moved_out[cookie] = path
                    continue
                if mask & (IN_CREATE | IN_MOVED_TO):
                    moved_out = {k: v for k, v in moved_out.items() if k != cookie}
                    if calling:
                        state.touched.add(path)
                    if not (_in_git(folder) and name in GIT_UNWATCHED):
                        self._watch_tree(state, path, state.touched if calling else None)
                continue
            if calling and mask & (IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB):
                state.touched.add(path)
        for path in moved_out.values():  # folders moved out of the workspace: stop watching what was inside
            self._forget(path)

    def _shared(self, wd: int, state: _Root, folder: str) -> tuple[_Root, ...]:
        """The roots other than ``state`` that ``folder`` (watch ``wd``) lies in: their accounts need its changes too
        (else an outer root was blind below an inner one watched after it)."""
        got = self._sharers.get(wd)
        if got is None:
            here = folder + "/"
            got = self._sharers[wd] = tuple(other for path, other in self._roots.items()
                                            if other is not state and here.startswith(path.rstrip("/") + "/"))
        return got

    def _forget(self, prefix: str) -> None:
        libc = _libc()
        for wd, (_state, folder) in list(self._wds.items()):
            if folder == prefix or folder.startswith(prefix + "/"):
                if libc is not None:
                    libc.inotify_rm_watch(self._fd, wd)
                del self._wds[wd]
                self._sharers.pop(wd, None)

    def _events(self) -> Iterator[tuple[int, int, int, str]]:
        while True:
            try:
                data = os.read(self._fd, 256 * 1024)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            pos = 0
            while pos + _EVENT.size <= len(data):
                wd, mask, cookie, size = _EVENT.unpack_from(data, pos)
                raw = data[pos + _EVENT.size:pos + _EVENT.size + size].split(b"\0", 1)[0]
                pos += _EVENT.size + size
                yield wd, mask, cookie, os.fsdecode(raw)


@dataclass(frozen=True)
class Changes:
    """What :meth:`Watcher.changes` reports of one root."""

    #: Which watch of the root this is (a new one after the root folder itself went: nothing before is known).
    epoch: int
    #: The number of the last change (pass it as ``since`` next time).
    seq: int
    #: Folders whose entries were created, moved in or out, or whose own watch went.
    folders: frozenset[str]
    #: An event was lost (the kernel's queue overflowed): every folder may have changed.
    lost: bool
    #: Folders no watch could be added for (the watch limit): they and all below them are unwatched.
    holes: frozenset[str]
    #: Whether the root folder itself is watched.
    watched: bool
    #: The entries the root's first watch listed (each read after its folder's watch was added: a later change
    #: is in ``folders``), for the first looker; None otherwise.
    listings: dict[str, Listing] | None = None


def _identity(folder: str) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of ``folder`` (None: gone)."""
    try:
        info = os.lstat(folder)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def in_git_dir(folder: str) -> bool:
    """Whether ``folder`` is a ``.git`` folder or a git dir inside one (its :data:`GIT_UNWATCHED` folders are
    left out of every walk)."""
    return _in_git(folder)


def _in_git(folder: str) -> bool:
    """Whether ``folder`` is a ``.git`` folder or a git dir inside one (``.git/modules/x``, ``.git/worktrees/x``)."""
    return "/.git" in folder and (folder.endswith("/.git") or "/.git/modules/" in folder
                                  or "/.git/worktrees/" in folder)


_LIBC: list[ctypes.CDLL | None] = []


def _libc() -> ctypes.CDLL | None:
    """libc with the inotify calls typed (None where they are missing: not Linux)."""
    if not _LIBC:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.inotify_init1.argtypes = [ctypes.c_int]
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        except (OSError, AttributeError):
            libc = None
        _LIBC.append(libc)
    return _LIBC[0]


WATCHER: Final = Watcher()
