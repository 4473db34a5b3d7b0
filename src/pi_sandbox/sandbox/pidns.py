"""A bound on the processes of one exec call when pi runs as root: the PID namespace's own ``pid_max``.

Every child gets ``RLIMIT_NPROC`` (256), but the kernel does not apply that limit to root's processes
(``real_cred->user == INIT_USER`` is exempt, whatever the user namespace), and a root supervisor's child is the
host's uid 0: measured, a child forked 400 processes where the limit says 256, so a fork bomb was bounded only by
the call's timeout, with the host's PID space and memory as the stake. Since Linux 6.14 ``kernel.pid_max`` is per
PID namespace; the sandbox's namespace gets the smallest value the kernel takes (301: pids 1-300), set from a
helper that joins only that namespace, before the command is let run.

On an older kernel that file is global: writing it would cap the *host's* pids. So it is written only when the
kernel is 6.14 or later and exports the per-namespace table (``register_pidns_sysctls`` in ``/proc/kallsyms``),
and the host's value is compared before and after (restored and the feature switched off if it moved). Where
the per-namespace value is unavailable the limit stays what it was (the call's timeout); unprivileged users are
bound by ``RLIMIT_NPROC``.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import subprocess
import threading
from typing import Final

#: The smallest ``pid_max`` the kernel accepts (``RESERVED_PIDS + 1``): at most 300 processes in the namespace.
NAMESPACE_PID_MAX: Final = 301
_PID_MAX: Final = "/proc/sys/kernel/pid_max"
_CLONE_NEWPID: Final = 0x20000000
_SYMBOL: Final = re.compile(rb" register_pidns_sysctls$", re.MULTILINE)
_HELPER_TIMEOUT_S: Final = 5.0
_SH: Final = ("/bin/sh", "/usr/bin/sh")
_disabled = threading.Event()


def _kernel_at_least(release: str, want: tuple[int, int]) -> bool:
    match = re.match(r"(\d+)\.(\d+)", release)
    return match is not None and (int(match.group(1)), int(match.group(2))) >= want


@functools.cache
def namespaced_pid_max() -> bool:
    """Whether this process must and can bound a sandbox's processes by its PID namespace's ``pid_max``:
    running as root (``RLIMIT_NPROC`` does not bind root) on a kernel whose ``pid_max`` is per namespace."""
    if os.getuid() != 0 or not _kernel_at_least(os.uname().release, (6, 14)):
        return False
    try:
        with open("/proc/kallsyms", "rb") as symbols:
            return _SYMBOL.search(symbols.read()) is not None
    except OSError:
        return False


def _host_pid_max() -> str:
    with open(_PID_MAX) as f:
        return f.read().strip()


def cap_processes(child_pid: int) -> bool:
    """Set ``pid_max`` of ``child_pid``'s PID namespace to :data:`NAMESPACE_PID_MAX`; True when it was set.

    False (nothing done) where the kernel has no per-namespace value or a root supervisor is not needed.
    Raises ``OSError`` when it should have worked and did not (the caller refuses the call: its fork bomb
    would be unbounded).
    """
    if _disabled.is_set() or not namespaced_pid_max():
        return False
    sh = next((s for s in _SH if os.path.exists(s)), None)
    if sh is None:
        raise OSError(f"no shell to set the sandbox's pid_max ({', '.join(_SH)})")
    before = _host_pid_max()
    ns = os.open(f"/proc/{child_pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    errors: list[BaseException] = []

    def helper() -> None:
        # setns(CLONE_NEWPID) changes where *this thread's* children are born: a thread of its own, ended after.
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.setns(ns, _CLONE_NEWPID) != 0:
                raise OSError(ctypes.get_errno(), "setns(pid): " + os.strerror(ctypes.get_errno()))
            # A spawned shell (vfork + exec: 3.9 ms measured), not os.fork() of the supervisor (29 ms: its page
            # tables are copied and Python's after-fork handlers run).
            done = subprocess.run([sh, "-c", f"echo {NAMESPACE_PID_MAX} > {_PID_MAX}"], env={}, check=False,
                                  capture_output=True, timeout=_HELPER_TIMEOUT_S, stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                raise OSError(f"setting the sandbox's pid_max failed: {done.stderr.decode(errors='replace')[-200:]}")
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)

    try:
        thread = threading.Thread(target=helper, name="pi-sandbox-pidns", daemon=True)
        thread.start()
        thread.join(_HELPER_TIMEOUT_S + 1)
    finally:
        os.close(ns)
    after = _host_pid_max()
    if after != before:
        # The value was not the namespace's after all: give the host its own back, never try again.
        with open(_PID_MAX, "w") as f:
            f.write(before)
        _disabled.set()
        return False
    if thread.is_alive():
        raise OSError("setting the sandbox's pid_max timed out")
    if errors:
        raise OSError(str(errors[0]))
    return True
