"""Kernel-level confinement of a worker process with Landlock (defence in depth).

The JS engine already gives extension code no ambient authority; this guards against the engine
itself being compromised (a memory-safety bug in the native library). After boot the worker needs
no file, no socket and no signal to anyone else, so it restricts itself to nothing:

* every filesystem access right Landlock knows is handled and none is granted (no open, exec,
  create, remove, truncate, ioctl on any path; already-open descriptors keep working);
* TCP bind/connect are handled and not granted (Landlock ABI ≥ 4);
* signals to, and abstract unix sockets of, processes outside the worker's domain are scoped away
  (ABI ≥ 6).

``no_new_privs`` is set first, as Landlock requires. On kernels without Landlock (or where a
container's seccomp profile hides it) nothing is restricted and the caller is told so.
"""

from __future__ import annotations

import ctypes
import os
import struct

_SYS_CREATE_RULESET = 444  # the same number on every architecture (unified syscall table)
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_PR_SET_NO_NEW_PRIVS = 38

#: Filesystem access bits by the ABI version that introduced them.
_FS_BITS = {1: (1 << 13) - 1, 2: 1 << 13, 3: 1 << 14, 5: 1 << 15}
_NET_ALL = (1 << 0) | (1 << 1)  # BIND_TCP | CONNECT_TCP (ABI 4)
_SCOPE_ALL = (1 << 0) | (1 << 1)  # ABSTRACT_UNIX_SOCKET | SIGNAL (ABI 6)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        version = int(libc.syscall(_SYS_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(0, version)


def confine_to_nothing() -> str:
    """Restrict this process with Landlock; returns e.g. ``"landlock-abi7"`` or ``"none: <why>"``."""
    abi = landlock_abi()
    if abi <= 0:
        return "none: landlock unavailable"
    libc = ctypes.CDLL(None, use_errno=True)
    fs_mask = 0
    for version, bits in _FS_BITS.items():
        if abi >= version:
            fs_mask |= bits
    if abi >= 6:
        attr = struct.pack("=QQQ", fs_mask, _NET_ALL, _SCOPE_ALL)
    elif abi >= 4:
        attr = struct.pack("=QQ", fs_mask, _NET_ALL)
    else:
        attr = struct.pack("=Q", fs_mask)
    buffer = ctypes.create_string_buffer(attr, len(attr))
    ruleset = int(libc.syscall(_SYS_CREATE_RULESET, buffer, ctypes.c_size_t(len(attr)), 0))
    if ruleset < 0:
        return f"none: create_ruleset failed ({os.strerror(ctypes.get_errno())})"
    try:
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return f"none: no_new_privs failed ({os.strerror(ctypes.get_errno())})"
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0) != 0:
            return f"none: restrict_self failed ({os.strerror(ctypes.get_errno())})"
    finally:
        os.close(ruleset)
    return f"landlock-abi{abi}"
