"""Start one exec child inside bubblewrap: the argv, the environment, the limits, the cleanup.

:class:`ExecSandbox` is made once per session from the full configuration (it is supervisor
code: it knows the real home, the state dir and the agent dir so it can hide them).
:meth:`ExecSandbox.prepare` turns one allowed call into a :class:`Launch`, which the exec connector
spawns and then :meth:`Launch.attach` es to the started bwrap process:

1. bwrap builds the namespaces and mounts, writes the child's pid to ``--info-fd`` and waits on
   ``--block-fd`` before running anything of the extension's;
2. ``attach`` sets the rlimits on that pid (inherited by everything the command starts) and, when
   the extension may use the network, opens the filtering proxy inside the child's network
   namespace; then it releases the block;
3. when the call ends the connector kills bwrap; its PID namespace dies with it, and every process
   the command left behind (``&``, ``nohup``, ``setsid``) dies with the namespace.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import select
import stat
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pi_sandbox.config.locations import ExtensionStateDirs, extension_state_dirs
from pi_sandbox.config.model import QuotaSettings, SecurityConfig
from pi_sandbox.errors import SandboxUnavailableError
from pi_sandbox.mediation.secret_files import SecretFiles
from pi_sandbox.mediation.secret_locations import credential_locations
from pi_sandbox.sandbox import seccomp
from pi_sandbox.sandbox.git_identity import GIT_USER_CONFIG, user_identity_config
from pi_sandbox.sandbox.gitindex import repository_of
from pi_sandbox.sandbox.host_code import host_code, inside
from pi_sandbox.sandbox.mounts import PLACEHOLDERS, View, bwrap_mount_args
from pi_sandbox.sandbox.pidns import cap_processes
from pi_sandbox.sandbox.planted import Planted, judge, quarantine, walk_recent
from pi_sandbox.sandbox.protected import HIDDEN_IN_HOME, ProtectedNames
from pi_sandbox.sandbox.secret_index import scan_limit
from pi_sandbox.sandbox.secret_links import SECRET_LINKS
from pi_sandbox.sandbox.support import (
    NAMESPACE_FLAGS,
    PROC_VIEW,
    SandboxSupport,
    bwrap_candidates,
    privilege_flags,
    probe,
)
from pi_sandbox.sandbox.watch import WATCHER

#: Folders masked for every child: home directories and where daemons keep their sockets.
MASKED_SYSTEM_DIRS: Final = ("/home", "/root", "/run", "/var/run", "/mnt", "/media")
#: Replaced by a private, size-capped tmpfs: no host temp files, no socket files of other programs.
SCRATCH_DIRS: Final = ("/tmp", "/var/tmp", "/dev/shm")
#: Variables the sandbox sets itself, over whatever the broker passed (documented in docs/sandbox.md).
SANDBOX_ENV: Final = ("HOME", "TMPDIR", "TMP", "TEMP", "PWD")
#: How long bwrap may take to set the sandbox up before the call is refused.
SETUP_TIMEOUT_S: Final = 10.0
#: Limits of every child on top of the extension's quota.
MAX_OPEN_FILES: Final = 1024
MAX_FILE_BYTES: Final = 1024 * 1024 * 1024
#: Processes and threads per child: a fork bomb stops here (``maxSubprocesses`` counts exec calls).
MAX_PROCESSES: Final = 256
#: Where a child with network finds the filtering proxy (inside its own network namespace).
PROXY_PORT: Final = 3128


def proxy_environment() -> dict[str, str]:
    """What a child with network gets: the proxy in every spelling programs read."""
    url = f"http://127.0.0.1:{PROXY_PORT}"
    return {"HTTP_PROXY": url, "HTTPS_PROXY": url, "http_proxy": url, "https_proxy": url, "ALL_PROXY": url,
            "all_proxy": url, "NO_PROXY": "", "no_proxy": ""}


@dataclass(frozen=True)
class Rlimits:
    """Kernel limits for one child and everything it starts (``None`` = unlimited)."""

    cpu_seconds: int | None
    address_space_bytes: int | None
    processes: int | None
    file_size_bytes: int | None
    open_files: int | None

    @classmethod
    def from_quota(cls, quota: QuotaSettings, timeout_ms: int) -> Rlimits:
        """CPU seconds from ``maxCpuTimeMs`` (else the wall-clock timeout), memory from ``maxMemoryMb``.

        The address-space limit is a multiple of the memory quota: virtual reservations (V8's heap
        cage, thread stacks, mapped libraries) are far larger than what a process really uses.
        """
        cpu_ms = quota.max_cpu_time_ms or timeout_ms
        return cls(cpu_seconds=max(1, -(-cpu_ms // 1000)),
                   address_space_bytes=max(quota.max_memory_mb, 64) * 1024 * 1024 * 16,
                   processes=MAX_PROCESSES, file_size_bytes=MAX_FILE_BYTES, open_files=MAX_OPEN_FILES)

    def pairs(self) -> list[tuple[int, int]]:
        out = []
        for name, value in ((resource.RLIMIT_CPU, self.cpu_seconds), (resource.RLIMIT_AS, self.address_space_bytes),
                            (resource.RLIMIT_NPROC, self.processes), (resource.RLIMIT_FSIZE, self.file_size_bytes),
                            (resource.RLIMIT_NOFILE, self.open_files)):
            if value is not None:
                out.append((name, value))
        return out


@dataclass(frozen=True)
class ChildRequest:
    """One allowed exec call, as the connector hands it over."""

    extension_id: str
    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]
    limits: Rlimits
    #: The extension's own code folder (read-only in the view), when it has one.
    own_root: Path | None = None
    #: Installed code: its folder stays read-only even where a writable root is the same folder.
    own_read_only: bool = False
    #: Whether the child reaches the network through the filtering proxy (else: no network at all).
    network: bool = False
    #: The extension's secret-file table (its ``readSecretFiles`` allowed): the workspace's secret files it
    #: may not read through ``fs`` are hidden from the child too. None: the secret broker is off.
    secret_files: SecretFiles | None = None


@dataclass
class Launch:
    """A prepared child: spawn ``argv`` with ``env`` and ``pass_fds``, then :meth:`attach`."""

    argv: list[str]
    env: dict[str, str]
    pass_fds: tuple[int, ...]
    limits: Rlimits
    _info_read: int
    _block_write: int
    _close_after_spawn: list[int]
    _stubs: list[str]
    _closed: bool = field(default=False)
    #: The first process of the sandbox's PID namespace (its end ends every process of the call), once known.
    child_pid: int | None = None
    #: Workspace paths bound read-only (or hidden) in this child's view: it cannot change anything there.
    bound: frozenset[str] = frozenset()

    def spawned(self) -> None:
        """Close the ends that now belong to bwrap (call right after the process started)."""
        for fd in self._close_after_spawn:
            _close(fd)
        self._close_after_spawn = []

    def attach(self, ready: Callable[[int], None] | None = None, deadline_s: float = SETUP_TIMEOUT_S) -> int:
        """Wait for bwrap's sandbox, apply the limits to its child, call ``ready(pid)`` (the network
        proxy is opened there), then let the command run; returns the pid."""
        info = _read_info(self._info_read, deadline_s)
        pid = self.child_pid = int(info["child-pid"])
        for which, value in self.limits.pairs():
            resource.prlimit(pid, which, (value, value))
        cap_processes(pid)  # root only: RLIMIT_NPROC does not bind root's processes
        if ready is not None:
            ready(pid)
        os.write(self._block_write, b"1")
        _close(self._block_write)
        self._block_write = -1
        return pid

    def wait_gone(self, timeout_s: float = 5.0) -> None:
        """Wait until the sandbox's PID namespace is gone (its first process exits only after the kernel killed
        and reaped every other one): after this no process of the call can change a file any more."""
        pid = self.child_pid
        if pid is None:
            return
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return  # already gone (reaped)
        try:
            select.select([fd], [], [], timeout_s)
        finally:
            os.close(fd)

    def close(self) -> None:
        """Release every descriptor and stand-in of this launch (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for fd in (*self._close_after_spawn, self._info_read, self._block_write):
            _close(fd)
        PLACEHOLDERS.release(self._stubs)


#: File status times come from a coarse clock (a few ms): a change made just before a call's start time was
#: taken may carry an older time, so the fallback walk looks this much further back.
CTIME_SLACK_NS: Final = 50_000_000


def _safe_name(text: str) -> str:
    """``text`` as one file name (an extension id or call id holds only a few safe characters anyway)."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)[:100] or "_"


def _close(fd: int) -> None:
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


def _read_info(fd: int, deadline_s: float) -> dict[str, Any]:
    """bwrap's ``--info-fd`` JSON (it writes it once the namespaces exist)."""
    data = b""
    end = time.monotonic() + deadline_s
    while True:
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise SandboxUnavailableError("the exec sandbox did not start in time (bwrap set-up took longer than "
                                          f"{deadline_s:.0f} s)")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise SandboxUnavailableError("the exec sandbox could not be set up (bwrap exited before starting "
                                          "the command; see its message in stderr)")
        data += chunk
        try:
            info = json.loads(data)
        except ValueError:
            continue
        if isinstance(info, dict) and isinstance(info.get("child-pid"), int):
            return info
        raise SandboxUnavailableError("bwrap reported no child pid")


#: git's default global excludes file, under the child's ``HOME`` (the extension's sandbox home).
GIT_EXCLUDES: Final = ".config/git/ignore"


def hide_stand_ins_from_git(home: Path, stubs: Sequence[str]) -> None:
    """List the empty stand-ins of this call in git's global excludes file of the child's home, so
    ``git add -A`` in the sandbox does not commit an empty ``.bashrc``, ``.envrc``, ``.mcp.json`` ... into
    the user's repository (empty folders git skips by itself). Anchored to the repository's root, so a
    real file of that name elsewhere in the tree is not ignored. The file is the child's own (its home):
    it can change it, which only changes what its own ``git`` ignores. Written only when it changes."""
    lines: list[str] = []
    repos: dict[str, tuple[str, str] | None] = {}
    for stub in stubs:
        folder = os.path.dirname(stub)
        found = repos[folder] if folder in repos else repos.setdefault(folder, repository_of(folder))
        if found is not None and os.path.isfile(stub) and stub.startswith(found[0].rstrip("/") + "/"):
            lines.append("/" + stub[len(found[0].rstrip("/")) + 1:])
    text = "".join(f"{line}\n" for line in sorted(set(lines)))
    try:
        _write_in_home(home, GIT_EXCLUDES, text)
    except OSError:
        pass  # only git's view of the stand-ins is at stake, never the sandbox


def give_git_identity(home: Path, text: str) -> None:
    """Write the user's git identity (``git_identity.identity_config``) to git's per-user file of the child's home,
    unless that file exists (the child's own settings stay) or there is no identity."""
    if text:
        try:
            _write_in_home(home, GIT_USER_CONFIG, text, only_if_missing=True)
        except OSError:
            pass  # only the child's commits' author is at stake, never the sandbox


def _write_in_home(home: Path, rel: str, text: str, *, only_if_missing: bool = False) -> None:
    """Write ``text`` to ``home/rel`` (unless it holds it already, or with ``only_if_missing`` unless something is
    there) without following a link anywhere below ``home``.

    The sandbox home is the children's to write: with ``~/.config/git/ignore`` (or ``.config``, or ``git``) made a
    link to a host file (the ledger database, ``settings.json``, ``~/.bashrc``), writing by path made the host
    overwrite that file with the excludes list. Folders are reached one name at a time (``O_NOFOLLOW``), a link in
    the way is replaced by a folder, and the file is written beside its place and renamed over it (a rename replaces
    a link itself, never its target)."""
    flags = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    *folders, name = rel.split("/")
    fd = os.open(home, flags)
    try:
        for part in folders:
            try:
                nxt = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    raise
                if exc.errno != errno.ENOENT:
                    os.unlink(part, dir_fd=fd)  # a link or a file where a folder belongs: the child's, replaced
                os.mkdir(part, 0o755, dir_fd=fd)
                nxt = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = nxt
        try:
            current = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
        except OSError:
            current = -1
        if current >= 0 and only_if_missing:
            os.close(current)
            return
        if current >= 0:
            try:
                same = stat.S_ISREG(os.fstat(current).st_mode) and os.read(current, len(text) + 2) == text.encode()
            finally:
                os.close(current)
            if same:
                return
        elif not text:
            return
        temp = f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=fd)
        try:
            os.write(out, text.encode())
        finally:
            os.close(out)
        os.rename(temp, name, src_dir_fd=fd, dst_dir_fd=fd)
    finally:
        os.close(fd)


class ExecSandbox:
    """Builds the bubblewrap sandbox of every exec child of one session."""

    def __init__(self, config: SecurityConfig) -> None:
        environ = config.environ
        self.config = config
        self.state_dir = config.state_dir
        self._environ = dict(environ)
        home = environ.get("HOME") or os.path.expanduser("~")
        self.home = Path(home)
        self.names = ProtectedNames(config.sandbox.protected_paths)
        config_path = environ.get("PI_CONFIG_PATH", "").strip()
        hidden = [config.state_dir, config.agent_dir, *(self.home / p for p in HIDDEN_IN_HOME),
                  *((Path(os.path.expanduser(config_path)),) if config_path else ()),
                  *(self._host(p) for p in config.sandbox.hidden_paths)]
        self.hidden: tuple[Path, ...] = tuple(hidden)
        #: Credential files and folders the environment names (``GOOGLE_APPLICATION_CREDENTIALS=./key.json``):
        #: secret whatever their name, hidden from children unless the extension's readSecretFiles names them.
        self.credential_locations = credential_locations(
            config.secret_broker, environ, cwd=str(config.project_dir),
            keep=(str(config.project_dir), str(self.home), str(config.state_dir)))
        # Their files' inodes are secrets too: a hard link to one in the workspace is hidden (and refused by fs).
        SECRET_LINKS.register(str(config.state_dir), (*map(str, hidden[2:]), *self.credential_locations),
                              shallow=(str(config.state_dir), str(config.agent_dir)))
        runtime_dir = environ.get("XDG_RUNTIME_DIR", "").strip()
        self.masks: tuple[Path, ...] = (self.home, *map(Path, MASKED_SYSTEM_DIRS),
                                        *((Path(runtime_dir),) if runtime_dir else ()))
        self._read_only: tuple[Path, ...] | None = None
        self._host_code_extra: tuple[str, ...] | None = None
        #: Folders searched for secret files per writable root (``PI_SANDBOX_SECRET_SCAN_MAX_DIRS``).
        self._scan_limit = scan_limit(self._environ)
        #: The user's git identity for children (``git_identity``), read at the first call that needs it.
        self._identity: str | None = None
        self._dirs: dict[str, ExtensionStateDirs] = {}
        self._support: SandboxSupport | None = None
        #: Per workspace: the calls running now (with their read-only binds) and what was moved out meanwhile.
        self._watch_lock = threading.Lock()
        #: One judge at a time: the watcher thread and a call's end must not move out the same name twice
        #: (the second move found nothing and recorded a quarantine that "failed").
        self._judge_lock = threading.Lock()
        self._watch_calls: dict[str, dict[tuple[str, str], frozenset[str] | None]] = {}
        self._watch_found: dict[str, list[Planted]] = {}

    def _host(self, raw: str) -> Path:
        return self.home / raw[2:] if raw.startswith("~/") else Path(raw)

    def _toolchains(self, path_var: str) -> list[Path]:
        """Installations under a masked folder that ``PATH`` leads to stay readable, so ``node`` from
        ``~/.nvm`` or a venv's ``python`` linking into ``~/.pyenv`` still run.

        A ``PATH`` folder under a mask is exposed, and so is the target of every symlink in a ``PATH``
        folder that lands under one; for ``.../bin`` the installation above it is exposed (its ``lib``
        sits beside its ``bin``), unless that is a home directory itself. Found once per session.
        """
        masked = [str(self.home), *MASKED_SYSTEM_DIRS]
        out: dict[Path, None] = {}
        # Folders children write (the project, the state dir with the extensions' data and tmp folders): a
        # ``PATH`` entry there (an activated project venv's ``bin``, ``node_modules/.bin``) holds what a child put
        # there, and a link of its making (``.venv/bin/helper -> ~/Documents/taxes.txt``) exposed that folder of
        # the home to every later child. Their links are never followed here.
        written = tuple(os.path.realpath(p).rstrip("/") + "/" for p in (self.config.project_dir, self.state_dir))

        def expose(path: Path) -> None:
            if not any(str(path).startswith(m.rstrip("/") + "/") for m in masked):
                return
            parent = path.parent
            wide = path.name == "bin" and str(parent) not in masked and parent != self.home.parent
            out[parent if wide else path] = None

        for entry in path_var.split(os.pathsep):
            if not entry.startswith("/"):
                continue
            if (os.path.realpath(entry).rstrip("/") + "/").startswith(written):
                continue  # inside a writable root: children see it there, and it may be a link of theirs
            expose(Path(entry))
            try:
                with os.scandir(entry) as items:
                    links = [item.path for item in items if item.is_symlink()]
            except OSError:
                continue
            for link in links:
                target = os.path.join(entry, os.readlink(link))  # cheap first look; resolve only candidates
                if any(target.startswith(m.rstrip("/") + "/") for m in masked) or "/.." in target:
                    expose(Path(os.path.realpath(link)).parent)
        expose(Path(sys.base_prefix) / "bin")
        return list(out)

    @property
    def read_only(self) -> tuple[Path, ...]:
        """Host paths under masked folders that children may read (found on first use, ~15 ms)."""
        if self._read_only is None:
            self._read_only = (*self._toolchains(self._environ.get("PATH", "")),
                               *(self._host(p) for p in self.config.sandbox.read_only_paths))
        return self._read_only

    @property
    def host_code_extra(self) -> tuple[str, ...]:
        """Host programs outside the interpreter's folders (``host_code.py``): every bwrap this sandbox may start
        (found without starting one) and the JS toolchain cache (esbuild runs on the host)."""
        if self._host_code_extra is None:
            from pi_sandbox.runtime.toolchain import cache_dir  # the runtime package imports the sandbox's

            self._host_code_extra = (*(path for path, _ in bwrap_candidates(self._environ)),
                                     str(cache_dir(self._environ)))
        return self._host_code_extra

    def _git_identity(self) -> str:
        """The user's git identity as configuration text (one ``git config`` run per session; empty for none)."""
        if self._identity is None:
            self._identity = user_identity_config(self._environ)
        return self._identity

    def support(self) -> SandboxSupport:
        """Whether children can be confined here (probed once)."""
        if self._support is None:
            self._support = probe(self._environ)
        return self._support

    def dirs(self, extension_id: str) -> ExtensionStateDirs:
        """The extension's data and tmp folders (created with its sandbox home when missing: they are
        looked at on every call, since the host clears the tmp folder when the extension stops)."""
        dirs = self._dirs.get(extension_id)
        if dirs is None:
            dirs = self._dirs[extension_id] = extension_state_dirs(self.state_dir, extension_id)
        for folder in (dirs.data, dirs.tmp, dirs.home):
            if not os.path.isdir(folder):
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return dirs

    def watch_begin(self, workspace: Sequence[Path], extension_id: str, call_id: str, listings: bool = True) -> bool:
        """Before a call's child starts: its workspace's changes are watched from now on (``watch.py``), and what
        it plants is judged as it happens (:meth:`_judge_now`). False when inotify cannot tell (then the call's
        end walks the tree). ``listings=False``: the call hides no secret files (the broker is off), so a new watch
        keeps no listings for the secret index."""
        if not workspace:
            return False
        root = str(workspace[0])
        with self._watch_lock:
            self._watch_calls.setdefault(root, {})[(extension_id, call_id)] = None  # binds not known yet
        return WATCHER.begin(root, self._judge_now, listings)

    def watch_bound(self, workspace: Sequence[Path], extension_id: str, call_id: str, bound: frozenset[str]) -> None:
        """The call's read-only binds (``Launch.bound``): what changes there is never the child's doing."""
        if workspace:
            with self._watch_lock:
                calls = self._watch_calls.get(str(workspace[0]))
                if calls is not None and (extension_id, call_id) in calls:
                    calls[(extension_id, call_id)] = bound

    def watch_abandon(self, workspace: Sequence[Path], extension_id: str, call_id: str) -> None:
        """A watched call started no child after all (set-up failed): end its watch without judging."""
        if workspace:
            WATCHER.end(str(workspace[0]))
            self._forget_call(str(workspace[0]), extension_id, call_id)

    def watch_end(self, workspace: Sequence[Path], extension_id: str, call_id: str, started_ns: int,
                  watched: bool) -> list[Planted]:
        """After a call's processes are gone: protected names planted where the binds could not reach (new
        folders, deeper than the scan), moved to the quarantine folder while it ran or now (``planted.py``).
        Recorded by the call of the workspace that ends first (concurrent calls share one account)."""
        if not workspace:
            return []
        root = str(workspace[0])
        touched, walk = WATCHER.end(root) if watched else (set(), [root])
        for top in walk:  # a lost event or no inotify: the whole tree; the folders the watch limit left out
            touched |= walk_recent(root, started_ns - CTIME_SLACK_NS, self.names, top=top)
        self._judge_now(root, touched)
        self._forget_call(root, extension_id, call_id)
        with self._watch_lock:
            return self._watch_found.pop(root, [])

    def _forget_call(self, root: str, extension_id: str, call_id: str) -> None:
        with self._watch_lock:
            calls = self._watch_calls.get(root, {})
            calls.pop((extension_id, call_id), None)
            if not calls:
                self._watch_calls.pop(root, None)

    def _judge_now(self, root: str, touched: set[str]) -> set[str]:
        """Move out the planted names among ``touched`` (``planted.judge``); returns what could not be judged yet.
        The running calls' read-only binds (and the stand-ins) were unchangeable to them: what changed there was
        someone else's doing (the user's `git config` while a command ran), never moved out — so nothing is judged
        before one call's binds are known. Quarantined under the call that started first."""
        with self._watch_lock:
            calls = dict(self._watch_calls.get(root, {}))
        known = [b for b in calls.values() if b is not None]
        if not known:
            return touched  # no child runs yet: its binds decide what is someone else's
        with self._judge_lock:
            found = judge(root, touched, self.names, skip=PLACEHOLDERS.paths() | frozenset().union(*known))
            if not found:
                return set()
            extension_id, call_id = next(iter(calls), ("unknown", "unknown"))
            into = self.state_dir / "quarantine" / _safe_name(extension_id) / f"{_safe_name(call_id)}-{time.time_ns()}"
            planted = quarantine(root, found, into)
        with self._watch_lock:
            self._watch_found.setdefault(root, []).extend(planted)
        return set()

    @staticmethod
    def _located(request: ChildRequest) -> tuple[Path, ...]:
        """The environment's credential locations this call's child may not read (its table's allow list
        applied), to be hidden wherever they lie, like the credential stores of the home."""
        table = request.secret_files
        if table is None:
            return ()
        return tuple(Path(p) for p in table.locations if table.refused(p))

    def prepare(self, request: ChildRequest, workspace: Sequence[Path]) -> Launch:
        """The bwrap command for ``request``; raises :class:`SandboxUnavailableError` when none can start."""
        support = self.support()
        if not support.available or support.bwrap_path is None:
            raise SandboxUnavailableError(support.refusal())
        dirs = self.dirs(request.extension_id)
        extra = self.config.sandbox_for(request.extension_id)
        # A named socket is bound read-only (connect() needs no write access) and lifts the AF_UNIX block.
        sockets = tuple(self._host(s) for s in extra.unix_sockets)
        own = (request.own_root,) if request.own_root else ()
        writable = (*workspace, dirs.data, dirs.tmp)
        # What the supervisor runs or imports, where a child could write it: read-only like installed code.
        host = inside(host_code(self.host_code_extra), writable)
        view = View(masks=self.masks, scratch=tuple(map(Path, SCRATCH_DIRS)),
                    read=(*self.read_only, *(() if request.own_read_only else own), *sockets),
                    write=writable, hide=(*self.hidden, *self._located(request)), names=self.names,
                    protect=tuple(workspace), home=self.home, code=(*(own if request.own_read_only else ()), *host),
                    secrets=request.secret_files, session=str(self.state_dir),
                    secret_scan_max_dirs=self._scan_limit)
        mount_args, stubs = bwrap_mount_args(view)
        hide_stand_ins_from_git(dirs.home, stubs)
        give_git_identity(dirs.home, self._git_identity())
        fds: list[int] = []
        try:
            filters = seccomp.program_fds(allow_unix_sockets=bool(sockets))
            fds.extend(filters)
            info_r, info_w = os.pipe2(os.O_CLOEXEC)
            fds.extend((info_r, info_w))
            block_r, block_w = os.pipe2(os.O_CLOEXEC)
            fds.extend((block_r, block_w))
        except OSError:
            for fd in fds:
                _close(fd)
            PLACEHOLDERS.release(stubs)
            raise
        argv = [support.bwrap_path, *NAMESPACE_FLAGS, *privilege_flags(), "--hostname", "sandbox",
                "--ro-bind", "/", "/", *PROC_VIEW, "--dev", "/dev", *mount_args,
                "--chdir", str(request.cwd), "--info-fd", str(info_w), "--block-fd", str(block_r)]
        for fd in filters:
            argv += ["--add-seccomp-fd", str(fd)]
        argv += ["--", *request.argv]
        env = {k: v for k, v in request.env.items() if k not in SANDBOX_ENV}
        env.update(HOME=str(dirs.home), TMPDIR=str(dirs.tmp), TMP=str(dirs.tmp), TEMP=str(dirs.tmp),
                   PWD=str(request.cwd))
        if request.network:
            env.update(proxy_environment())
        prefixes = tuple(str(w).rstrip("/") + "/" for w in workspace)
        bound = frozenset(mount_args[i + 2] for i, arg in enumerate(mount_args[:-2])
                          if arg in ("--ro-bind", "--tmpfs") and mount_args[i + 2].startswith(prefixes))
        return Launch(argv=argv, env=env, pass_fds=(*filters, info_w, block_r), limits=request.limits,
                      _info_read=info_r, _block_write=block_w, _close_after_spawn=[*filters, info_w, block_r],
                      _stubs=stubs, bound=bound)
