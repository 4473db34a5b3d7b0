"""The seccomp filter bubblewrap loads into every exec child (``bwrap --add-seccomp-fd``).

Built with ``seccompy`` (a maintained, typed, pure-Python seccomp-BPF assembler: no libseccomp, no
compiler, and it checks the audit architecture first, killing a process that switches ABI to get
other syscall numbers). What the filter refuses, with ``EPERM``:

- ``socket(AF_UNIX, ...)`` unless the extension's settings name a unix socket: a socket file is
  authority (the Docker socket is host root, ssh-agent signs with the user's keys, the D-Bus
  session bus starts anything). ``socketpair`` stays allowed: its two ends reach nobody else;
- reading or steering other processes: ``ptrace``, ``process_vm_readv/writev``, ``pidfd_getfd``;
- kernel attack surface no build or test needs: ``bpf``, ``userfaultfd``, ``perf_event_open``,
  ``io_uring_*`` (io_uring can open sockets without the ``socket`` syscall this filter watches),
  keyrings (``keyctl``, ``add_key``, ``request_key``), module and kexec loading, ``open_by_handle_at``;
- changing the sandbox itself: ``mount`` and the new mount API, ``pivot_root``, ``setns``, ``unshare``;
- injecting keystrokes into a terminal: ``ioctl(TIOCSTI / TIOCLINUX)``;
- setting the set-user-ID or set-group-ID bit (``chmod``, ``fchmod``, ``fchmodat``, ``fchmodat2``, ``mknod``,
  ``mknodat`` with ``S_ISUID``/``S_ISGID`` in the mode): the writable roots are host folders, and the
  ``nosuid`` of the sandbox's own mounts ends at its edge, so ``cp /usr/bin/python3 x && chmod 4755 x`` left a
  set-uid program owned by the user (by root when pi runs as root) in the workspace for any other account on
  the host that can reach it. Creating a file with those bits (``open``/``openat``/``creat`` with ``O_CREAT``
  or ``O_TMPFILE``) is refused too; through ``openat2`` (its mode is in a struct the filter cannot read) the
  file is empty and loses the bits at its first write (the child holds no ``CAP_FSETID``).

On x86_64 a second tiny program refuses every x32-ABI syscall (numbers with bit 30 set share
the x86_64 audit arch, so the main table alone would not see them).
"""

from __future__ import annotations

import errno
import functools
import os
import socket
from typing import Final

from seccompy import ArgCmp, CmpOp, Filter, UnsupportedError
from seccompy import bpf as _bpf
from seccompy.syscalls import AARCH64_SYSCALLS, AUDIT_ARCH_X86_64, X86_64_SYSCALLS, arch

#: Syscalls an exec child never makes (absent ones on an architecture are skipped).
DENIED_SYSCALLS: Final[tuple[str, ...]] = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "bpf", "userfaultfd", "perf_event_open", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key", "init_module", "finit_module", "delete_module", "kexec_load",
    "kexec_file_load", "open_by_handle_at", "name_to_handle_at", "lookup_dcookie", "fanotify_init",
    "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick",
    "mount_setattr", "setns", "unshare", "swapon", "swapoff", "reboot", "acct", "quotactl", "syslog",
    "iopl", "ioperm", "uselib",
)
#: Mode-setting syscalls and the index of their mode argument (absent ones on an architecture are skipped).
MODE_SYSCALLS: Final[tuple[tuple[str, int], ...]] = (
    ("chmod", 1), ("fchmod", 1), ("fchmodat", 2), ("fchmodat2", 2), ("mknod", 1), ("mknodat", 2),
)
#: File-creating syscalls: (name, index of the flags argument or None, index of the mode argument).
CREATE_SYSCALLS: Final[tuple[tuple[str, int | None, int], ...]] = (("open", 1, 2), ("openat", 2, 3), ("creat", None, 1))
_PRIVILEGE_BITS: Final = (0o4000, 0o2000)  # S_ISUID, S_ISGID
_CREATE_FLAGS: Final = (os.O_CREAT, 0o20000000)  # O_CREAT, __O_TMPFILE (the mode only counts with one of them)
_TIOCSTI: Final = 0x5412
_TIOCLINUX: Final = 0x541C
_U32: Final = 0xFFFFFFFF
_X32_SYSCALL_BIT: Final = 0x40000000
_SECCOMP_RET_ALLOW: Final = 0x7FFF0000
_SECCOMP_RET_ERRNO: Final = 0x00050000


def supported() -> str | None:
    """Why this machine cannot build the filter (an architecture seccompy has no table for), or None."""
    try:
        arch()
    except UnsupportedError as exc:
        return str(exc)
    return None


@functools.lru_cache(maxsize=4)
def programs(allow_unix_sockets: bool) -> tuple[bytes, ...]:
    """The compiled BPF programs (one, or two on x86_64) for a child; cached per variant."""
    table = X86_64_SYSCALLS if arch() == "x86_64" else AARCH64_SYSCALLS
    filt = Filter()
    for name in DENIED_SYSCALLS:
        if name in table:
            filt.errno(name, errno.EPERM)
    if not allow_unix_sockets:
        filt.errno("socket", errno.EPERM, args=[ArgCmp(0, CmpOp.MASKED_EQ, socket.AF_UNIX, mask=_U32)])
    for name, index in MODE_SYSCALLS:
        if name in table:
            for bit in _PRIVILEGE_BITS:
                filt.errno(name, errno.EPERM, args=[ArgCmp(index, CmpOp.MASKED_EQ, bit, mask=bit)])
    for name, flags, mode in CREATE_SYSCALLS:
        if name not in table:
            continue
        for bit in _PRIVILEGE_BITS:
            if flags is None:
                filt.errno(name, errno.EPERM, args=[ArgCmp(mode, CmpOp.MASKED_EQ, bit, mask=bit)])
                continue
            for flag in _CREATE_FLAGS:
                filt.errno(name, errno.EPERM, args=[ArgCmp(flags, CmpOp.MASKED_EQ, flag, mask=flag),
                                                    ArgCmp(mode, CmpOp.MASKED_EQ, bit, mask=bit)])
    for request in (_TIOCSTI, _TIOCLINUX):
        filt.errno("ioctl", errno.EPERM, args=[ArgCmp(1, CmpOp.MASKED_EQ, request, mask=_U32)])
    if arch() != "x86_64":
        return (filt.program,)
    return filt.program, _x32_guard()


def _x32_guard() -> bytes:
    """Refuse every syscall number with the x32 bit set (x86_64 audit arch only)."""
    insns: list[_bpf.Insn] = [
        _bpf.Load(4),  # seccomp_data.arch
        _bpf.Jump(_bpf.BPF_JEQ, AUDIT_ARCH_X86_64, None, "allow"),
        _bpf.Load(0),  # seccomp_data.nr
        _bpf.Jump(_bpf.BPF_JGEQ, _X32_SYSCALL_BIT, "deny", None),
        _bpf.Ret(_SECCOMP_RET_ALLOW),
        _bpf.Ret(_SECCOMP_RET_ERRNO | errno.EPERM),
    ]
    return _bpf.assemble(insns, {"allow": 4, "deny": 5})


def program_fds(allow_unix_sockets: bool) -> list[int]:
    """Fresh memfds holding the programs, positioned at the start (bwrap reads each to EOF)."""
    fds: list[int] = []
    try:
        for program in programs(allow_unix_sockets):
            fd = os.memfd_create("pi-sandbox-seccomp", os.MFD_CLOEXEC)
            fds.append(fd)
            os.write(fd, program)
            os.lseek(fd, 0, os.SEEK_SET)
    except OSError:
        for fd in fds:
            os.close(fd)
        raise
    return fds
