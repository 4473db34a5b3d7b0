"""The one exception tree of pi-sandbox.

Every error a user or operator can cause derives from :class:`PiSandboxError` and carries a message
that says what went wrong and what to do about it. Each class carries its :class:`ExitCode`; the CLI
exits with it and never shows a traceback for these errors.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The one exit-code table of the ``pi-sandbox`` command (docs/cli.md)."""

    OK = 0
    #: a check failed or found something: tampered ledger, refused install, denied call, failing scan
    FAILURE = 1
    #: the command line or an input file is wrong: unknown option, bad JSON, invalid settings
    USAGE = 2
    #: the machine is not ready: toolchain missing, sandbox unavailable, state dir unusable, wrong OS
    ENVIRONMENT = 3


class PiSandboxError(Exception):
    """Base class of every pi-sandbox error."""

    exit_code: ExitCode = ExitCode.USAGE


class EnvironmentProblem(PiSandboxError):
    """Base of the errors an operator fixes on the machine, not on the command line (exit 3)."""

    exit_code = ExitCode.ENVIRONMENT


class UnsupportedPlatformError(EnvironmentProblem):
    """pi-sandbox runs on Linux only (Landlock, user namespaces, bubblewrap, /proc)."""


# --- configuration -------------------------------------------------------------------------


class ConfigError(PiSandboxError):
    """A settings file, environment variable or CLI option is invalid."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None) -> None:
        where = ""
        if source and key:
            where = f"{source}: key '{key}': "
        elif source:
            where = f"{source}: "
        elif key:
            where = f"key '{key}': "
        super().__init__(where + message)
        self.source = source
        self.key = key


class StateDirError(EnvironmentProblem):
    """The security state directory cannot be created, read or written."""


# --- hostcalls -----------------------------------------------------------------------------


class InvalidRequestError(PiSandboxError):
    """A hostcall request is malformed, names an unknown method, or declares the wrong capability."""


class ConnectorError(PiSandboxError):
    """A connector could not carry out an allowed hostcall.

    ``code`` is one of the hostcall error codes (``io``, ``timeout``, ``denied``, ``invalid_request``,
    ``internal``).
    """

    def __init__(self, message: str, *, code: str = "io", reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class PathConfinementError(ConnectorError):
    """A filesystem path resolves outside the roots the extension may touch."""

    def __init__(self, message: str, *, reason: str = "path_outside_roots") -> None:
        super().__init__(message, code="denied", reason=reason)


class SandboxUnavailableError(ConnectorError):
    """Exec children cannot be confined here (no working bubblewrap); the command is refused, never run bare."""

    exit_code = ExitCode.ENVIRONMENT

    def __init__(self, message: str) -> None:
        super().__init__(message, code="denied", reason="sandbox_unavailable")


# --- audit store ---------------------------------------------------------------------------


class AuditStoreError(PiSandboxError):
    """The audit database cannot be opened or written."""

    exit_code = ExitCode.ENVIRONMENT


class LedgerCorruptError(AuditStoreError):
    """The audit database file is damaged and cannot be read as SQLite (evidence of damage: exit 1)."""

    exit_code = ExitCode.FAILURE


class LedgerRollbackError(AuditStoreError):
    """The audit database is older than, or not, the ledger its anchor witnessed (rows deleted,
    file replaced or gone); the store refuses to write on top of it."""

    exit_code = ExitCode.FAILURE


class SigningKeyError(AuditStoreError):
    """The ledger signing key is missing, unreadable or has unsafe permissions."""

    exit_code = ExitCode.ENVIRONMENT


class AuditRecordError(AuditStoreError):
    """A record handed to the audit store is malformed (unknown alert category, non-JSON detail)."""

    exit_code = ExitCode.USAGE


class LedgerVerificationError(PiSandboxError):
    """Ledger verification found tampering or corruption (see the attached report)."""

    exit_code = ExitCode.FAILURE


# --- policy --------------------------------------------------------------------------------


class PolicyError(PiSandboxError):
    """A policy evaluation request is invalid (unknown capability, bad scope)."""


class TrustTransitionError(PolicyError):
    """A trust transition that the lifecycle does not allow (e.g. leaving quarantine without an operator)."""


# --- scanner / install ---------------------------------------------------------------------


class ScanError(PiSandboxError):
    """An extension path cannot be scanned (missing, unreadable, not a JS/TS source)."""


class InstallError(PiSandboxError):
    """An extension cannot be installed (blocked by the scanner, confirmation missing, I/O)."""


# --- runtime -------------------------------------------------------------------------------


class ExtensionLoadError(PiSandboxError):
    """An extension could not be loaded: names the extension, the file and the reason.

    ``reason`` is the ledger reason code of the failure (``bundle_failed`` unless a more precise one
    applies: ``import_outside_root``, ``dependency_missing``, ``dependency_undeclared``,
    ``export_not_found``, ``native_addon``, ``integrity_mismatch``, ``internal_module``).
    """

    def __init__(self, message: str, *, reason: str = "bundle_failed") -> None:
        super().__init__(message)
        self.reason = reason


class ExtensionRuntimeError(PiSandboxError):
    """A loaded extension failed while running (crash, timeout, out of memory)."""

    exit_code = ExitCode.FAILURE


class ToolArgumentsError(PiSandboxError):
    """Tool arguments do not match the tool's TypeBox parameter schema."""


class ToolchainMissingError(ExtensionLoadError):
    """The JS toolchain is not installed (or incomplete): ``pi-sandbox setup`` installs it."""

    exit_code = ExitCode.ENVIRONMENT


class ToolchainSetupError(EnvironmentProblem):
    """``pi-sandbox setup`` could not install the JS toolchain (npm missing or failing)."""


# --- mediation -----------------------------------------------------------------------------


class MediationError(PiSandboxError):
    """Exec mediation or the secret broker was given invalid rules."""


# --- incidents and export ------------------------------------------------------------------


class IncidentError(PiSandboxError):
    """An incident command cannot run now: no open incident, a phase out of order, a closed incident."""


class CollectorExportError(EnvironmentProblem):
    """The fleet collector did not accept exported records (unreachable, refused, or an error status)."""


# --- evidence ------------------------------------------------------------------------------


class EvidenceError(PiSandboxError):
    """An evidence bundle cannot be built or read: bad filter or redaction option, unreadable or
    malformed bundle file (exit 2). A bundle that reads but fails verification is a report, not this."""
