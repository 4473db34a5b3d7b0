"""Health checks of this machine and the security state (``pi-sandbox doctor``), each with its fix.

Every check returns ``ok``, ``warn`` (works, with less protection or a missing convenience) or ``fail``
(something pi-sandbox needs is broken). Checks never change anything: the ledger is verified read-only,
a missing state dir or key is reported as "created at first use".
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pi_sandbox.config import resolve_config, resolve_paths
from pi_sandbox.errors import PiSandboxError
from pi_sandbox.progress import ProgressCallback
from pi_sandbox.progress import report as report_progress
from pi_sandbox.sandbox.host_code import host_which

OK: Final = "ok"
WARN: Final = "warn"
FAIL: Final = "fail"


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, the outcome, what was seen, and how to fix it."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


def check_python() -> Check:
    """The interpreter (3.11+ is enforced by the package metadata) and the OS."""
    version = ".".join(map(str, sys.version_info[:3]))
    if not sys.platform.startswith("linux"):
        return Check("python", FAIL, f"Python {version} on {sys.platform}", "run pi-sandbox on Linux")
    return Check("python", OK, f"Python {version} on {sys.platform} ({sys.executable})")


def check_toolchain() -> Check:
    from pi_sandbox.runtime.toolchain import default_toolchain

    npm = host_which("npm")
    try:
        toolchain = default_toolchain()
        installed = toolchain.installed()
    except PiSandboxError as exc:
        return Check("js toolchain", FAIL, str(exc), "reinstall pi-sandbox")
    if installed:
        detail = f"esbuild {toolchain.package_version('esbuild')}, TypeBox " \
                 f"{toolchain.package_version('@sinclair/typebox')} in {toolchain.root}"
        return Check("js toolchain", OK, detail + ("" if npm else "; npm not on PATH (only setup needs it)"))
    if npm is None:
        return Check("js toolchain", FAIL, f"not installed at {toolchain.root}, and npm is not on PATH",
                     "install Node.js/npm (e.g. apt-get install npm), then run: pi-sandbox setup")
    return Check("js toolchain", FAIL, f"not installed (or not the pinned versions) at {toolchain.root}",
                 "run: pi-sandbox setup")


def check_bubblewrap(environ: Mapping[str, str] | None = None) -> Check:
    """The exec sandbox (``security sandbox check``): bwrap found and able to start a full sandbox."""
    from pi_sandbox.sandbox.support import probe

    support = probe(environ)
    if not support.available:
        return Check("bubblewrap", FAIL, f"exec children cannot be confined: {support.problem}; every exec call "
                     "is refused", support.fix or "")
    return Check("bubblewrap", OK, f"bwrap {support.bwrap_version} ({support.bwrap_source}) creates user, mount, "
                 "pid, ipc, uts and network namespaces with the seccomp filter")


def check_landlock(abi: Callable[[], int] | None = None) -> Check:
    from pi_sandbox.sandbox.landlock import landlock_abi

    version = (abi or landlock_abi)()
    if version <= 0:
        return Check("landlock", WARN, "the kernel offers no Landlock: workers rely on the JS engine alone",
                     "use Linux 5.13+ with Landlock enabled (lsm=...,landlock on the kernel command line); in a "
                     "container, allow the landlock_* syscalls in its seccomp profile")
    return Check("landlock", OK, f"Landlock ABI {version}: workers confine themselves to nothing after boot")


def check_state_dir(state_dir: Path) -> Check:
    if not state_dir.exists():
        return Check("state dir", OK, f"{state_dir} does not exist yet (created with mode 0700 at first use)")
    try:
        info = state_dir.stat()
    except OSError as exc:
        return Check("state dir", FAIL, f"{state_dir}: {exc.strerror}", "fix the path or PI_SECURITY_DIR")
    if not stat.S_ISDIR(info.st_mode):
        return Check("state dir", FAIL, f"{state_dir} is not a folder", "move it aside or set PI_SECURITY_DIR")
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.geteuid():
        return Check("state dir", FAIL, f"{state_dir} belongs to uid {info.st_uid}, not you ({os.geteuid()})",
                     f"chown -R {os.geteuid()} {state_dir}")
    if mode & 0o022:
        return Check("state dir", FAIL, f"{state_dir} is writable by others (mode {mode:04o})",
                     f"chmod 700 {state_dir}")
    if not os.access(state_dir, os.W_OK):
        return Check("state dir", FAIL, f"{state_dir} is not writable", f"chmod u+w {state_dir}")
    if mode & 0o077:
        return Check("state dir", WARN, f"{state_dir} is readable by others (mode {mode:04o})",
                     f"chmod 700 {state_dir}")
    return Check("state dir", OK, f"{state_dir} (mode {mode:04o})")


def check_signing_key(state_dir: Path) -> Check:
    from pi_sandbox.audit.db import DB_FILE
    from pi_sandbox.audit.signing import KEY_FILE, PUBLIC_KEY_FILE

    key = state_dir / KEY_FILE
    if not key.exists():
        if (state_dir / DB_FILE).exists():
            return Check("signing key", FAIL, f"{key} is missing but a ledger exists: new checkpoints cannot be "
                         "signed with the key that sealed the old ones",
                         f"restore {KEY_FILE} from backup (verify meanwhile with --public-key HEX of "
                         f"{PUBLIC_KEY_FILE})")
        return Check("signing key", OK, f"{key} not created yet (made with mode 0600 at first use)")
    mode = stat.S_IMODE(key.stat().st_mode)
    if mode & 0o077:
        return Check("signing key", FAIL, f"{key} has mode {mode:04o}: others can read or change it",
                     f"chmod 600 {key}")
    return Check("signing key", OK, f"{key} (mode {mode:04o})")


def check_ledger(state_dir: Path, progress: ProgressCallback | None = None) -> Check:
    from pi_sandbox.audit import verify_ledger
    from pi_sandbox.audit.db import DB_FILE

    set_aside = ("keep the files as evidence: `pi-sandbox security ledger verify` shows the break, `pi-sandbox "
                 "security ledger set-aside --reason TEXT` starts a new ledger with containment kept (runbook INC-3)")
    if state_dir.exists() and not state_dir.is_dir():  # verify_ledger would read that file as the database
        return Check("ledger", WARN, f"not checked: {state_dir} is not a directory", "fix the state dir first")
    report_progress(progress, 0, None, "verifying the ledger")
    try:
        # Also when security.db is missing: a deleted ledger whose signed anchor (or signing key) remains is a
        # finding of verify_ledger, not "nothing recorded yet".
        report = verify_ledger(state_dir)
    except PiSandboxError as exc:
        from pi_sandbox.errors import LedgerCorruptError

        # Damage is evidence (set it aside); a ledger that cannot be opened (permissions, disk) is not.
        return Check("ledger", FAIL, str(exc), set_aside if isinstance(exc, LedgerCorruptError) else exc.remediation)
    if not report.chain_valid:
        kinds = sorted({issue.kind for issue in report.verification_errors})
        return Check("ledger", FAIL, f"verification FAILED ({', '.join(kinds)}) over {report.entry_count} entries",
                     set_aside)
    if not (state_dir / DB_FILE).exists():
        return Check("ledger", OK, "nothing recorded yet")
    return Check("ledger", OK, f"{report.entry_count} entries verify (hash chain and signed checkpoints)")


def check_settings(env: Mapping[str, str] | None = None) -> Check:
    from pi_sandbox.errors import ConfigError

    try:
        config = resolve_config(cwd=Path.cwd(), env=env)
    except ConfigError as exc:
        return Check("settings", FAIL, str(exc), "fix the key named above; check with: pi-sandbox config validate")
    files = ", ".join(str(p) for p in config.settings_files) or "none (defaults: profile safe)"
    if config.warnings:
        return Check("settings", WARN, f"{files}; " + "; ".join(config.warnings),
                     "see: pi-sandbox config show")
    return Check("settings", OK, f"{files}; profile {config.profile} (from {config.profile_source})")


def check_bridge(agent_dir: Path) -> Check:
    """The pi bridge, when installed, is this pi-sandbox's current one and can start."""
    from pi_sandbox.runtime.bridge import bridge_path, installed_bridge_problem

    problem = installed_bridge_problem(agent_dir)
    if problem is not None:
        return Check("pi bridge", WARN, problem, "run: pi-sandbox bridge install")
    installed = bridge_path(agent_dir).is_file()
    return Check("pi bridge", OK, "installed, current" if installed else "not installed (pi-sandbox bridge install)")


def run_checks(progress: ProgressCallback | None = None) -> list[Check]:
    """Every check, in the order an operator would fix things."""
    state_dir = resolve_paths().state_dir
    checks: list[Callable[[], Check]] = [
        check_python, check_toolchain, check_bubblewrap, check_landlock, lambda: check_state_dir(state_dir),
        lambda: check_signing_key(state_dir), lambda: check_ledger(state_dir, progress), check_settings,
        lambda: check_bridge(resolve_paths().agent_dir),
    ]
    out = []
    for done, check in enumerate(checks):
        report_progress(progress, done, len(checks))
        out.append(check())
    return out
