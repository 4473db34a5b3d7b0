"""The one exception tree of pi-sandbox.

Every error a user or operator can cause derives from :class:`PiSandboxError` and carries a message
that says what went wrong, plus :attr:`PiSandboxError.remediation`: what an operator does about it
(the class's advice unless the code that raised it knew better). Each class carries its
:class:`ExitCode`; the CLI exits with it and never shows a traceback for these errors.

Every exception class of the package lives here; older import paths (``pi_sandbox.cli.context.UsageError``,
``pi_sandbox.timeparse.TimeValueError``, ``pi_sandbox.connectors.events.SessionLimitError``) keep working.
The few exceptions defined elsewhere are internal signals that never leave their module;
``tests/test_errors.py`` keeps that list and fails on a new one.
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
    """Base class of every pi-sandbox error.

    ``remediation=`` (keyword) replaces the class's advice for this one error.
    """

    exit_code: ExitCode = ExitCode.USAGE
    #: What an operator does about this kind of error (every subclass says it for its own case).
    remediation: str = "read the message: it names what is wrong; `pi-sandbox doctor` checks this machine"

    def __init__(self, *args: object, remediation: str | None = None) -> None:
        super().__init__(*args)
        if remediation:
            self.remediation = remediation

    def describe(self) -> str:
        """The message and, unless the message already says it, the remediation."""
        message = str(self)
        if not self.remediation or self.remediation in message:
            return message
        return f"{message} (fix: {self.remediation})"


class EnvironmentProblem(PiSandboxError):
    """Base of the errors an operator fixes on the machine, not on the command line (exit 3)."""

    exit_code = ExitCode.ENVIRONMENT
    remediation = "run `pi-sandbox doctor`: it checks this machine and lists each problem with its fix"


class OutputWriteError(EnvironmentProblem):
    """An output file (bundle, report, export) or stdout cannot be written: disk full, file size limit, quota."""

    remediation = ("free space, raise the file size limit (`ulimit -f`) or write to another place, then run the "
                   "command again")

    @classmethod
    def of(cls, what: str, exc: OSError) -> OutputWriteError:
        """The error for writing ``what`` (e.g. "the report to r.html"); the fix fits the cause."""
        import errno

        message = f"cannot write {what}: {exc.strerror or exc}; nothing was written there"
        if exc.errno in (errno.EFBIG, errno.ENOSPC, errno.EDQUOT):
            return cls(message)
        return cls(message, remediation="name a file in a folder that exists and that you may write to")


class UnsupportedPlatformError(EnvironmentProblem):
    """pi-sandbox runs on Linux only (Landlock, user namespaces, bubblewrap, /proc)."""

    remediation = "run pi-sandbox on Linux (x86-64 or arm64); elsewhere it refuses rather than run less isolated"


# --- configuration and operator input ------------------------------------------------------


class ConfigError(PiSandboxError):
    """A settings file, environment variable or CLI option is invalid."""

    remediation = ("fix the named key in the named settings file or variable (docs/configuration.md lists "
                   "every key); `pi-sandbox config validate` checks the files")

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

    remediation = ("make the security state dir (~/.pi/agent/security or $PI_SECURITY_DIR) a directory you "
                   "own and only you can write (chmod 700); `pi-sandbox doctor` checks it")


class UsageError(PiSandboxError):
    """The command line itself is wrong (unknown option, missing argument, bad JSON argument)."""

    remediation = "see `pi-sandbox COMMAND --help` for the options and arguments"


class TimeValueError(PiSandboxError):
    """A time or duration given on the command line cannot be understood."""

    remediation = "give a duration as a number and a unit (90s, 15m, 2h, 7d) or an ISO 8601 time"


# --- hostcalls -----------------------------------------------------------------------------


class InvalidRequestError(PiSandboxError):
    """A hostcall request is malformed, names an unknown method, or declares the wrong capability."""

    remediation = ("the caller sent a malformed hostcall: fix the call (docs/pipeline.md), or disable the "
                   "extension that sent it (`pi-sandbox --no-extensions`)")


class ConnectorError(PiSandboxError):
    """A connector could not carry out an allowed hostcall.

    ``code`` is one of the hostcall error codes (``io``, ``timeout``, ``denied``, ``invalid_request``,
    ``internal``).
    """

    remediation = ("the call was allowed but could not be carried out; the message names the cause (missing "
                   "file, timeout, refused address) and `pi-sandbox security ledger show` has the entry")

    def __init__(self, message: str, *, code: str = "io", reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class PathConfinementError(ConnectorError):
    """A filesystem path resolves outside the roots the extension may touch."""

    remediation = ("keep file access inside the workspace, the extension's folder and its data dir; "
                   "`pi-sandbox --explain-extension-policy --extension ID` shows what it may touch")

    def __init__(self, message: str, *, reason: str = "path_outside_roots") -> None:
        super().__init__(message, code="denied", reason=reason)


class SandboxUnavailableError(ConnectorError):
    """Exec children cannot be confined here (no working bubblewrap); the command is refused, never run bare."""

    exit_code = ExitCode.ENVIRONMENT
    remediation = ("make bubblewrap work here (unprivileged user namespaces); `pi-sandbox doctor` shows the "
                   "exact fix, and commands stay refused until then")

    def __init__(self, message: str) -> None:
        super().__init__(message, code="denied", reason="sandbox_unavailable")


class SecretScanIncompleteError(ConnectorError):
    """The exec sandbox could not find every secret file a child must not read (too many folders, too many
    secret files to hide one by one): the command is refused, never run with them readable."""

    exit_code = ExitCode.ENVIRONMENT
    remediation = ("start pi in a smaller folder (the project, not a monorepo root or the home folder), hide big "
                   "folders with extensionPolicy.sandbox.hiddenPaths, or raise PI_SANDBOX_SECRET_SCAN_MAX_DIRS; "
                   "the refusal's message names the folder and the numbers")

    #: The advice when the cause is too many secret files (the class's is for too many folders).
    TOO_MANY_FILES_REMEDIATION = ("move the secret files out of the workspace, hide their folder with "
                                  "extensionPolicy.sandbox.hiddenPaths, or name the ones this extension may read in "
                                  "its readSecretFiles; the refusal's message names the folders that hold most")

    def __init__(self, message: str, *, cause: str) -> None:
        super().__init__(message, code="denied", reason="secret_scan_incomplete")
        #: ``too_many_folders`` or ``too_many_secret_files``.
        self.cause = cause
        if cause == "too_many_secret_files":  # raising the folder limit would not help
            self.remediation = self.TOO_MANY_FILES_REMEDIATION


class SessionLimitError(ConnectorError):
    """An extension's session entries would pass its cap (entries or bytes)."""

    remediation = ("the extension stores more session entries than its cap allows: start a new session, or "
                   "inspect it (`pi-sandbox security ledger show --extension ID`)")

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, code="quota_exceeded", reason=reason)


# --- audit store ---------------------------------------------------------------------------


class AuditStoreError(PiSandboxError):
    """The audit database cannot be opened or written."""

    exit_code = ExitCode.ENVIRONMENT
    remediation = ("check the ledger database in the security state dir (disk space, owner, permissions); "
                   "`pi-sandbox doctor` checks it")


class LedgerCorruptError(AuditStoreError):
    """The audit database file is damaged and cannot be read as SQLite (evidence of damage: exit 1)."""

    exit_code = ExitCode.FAILURE
    remediation = ("keep the damaged file as evidence (never repair it in place): `pi-sandbox security ledger "
                   "set-aside --reason TEXT` moves it aside and starts a new ledger with every extension stopped; "
                   "then follow INC-3 of the runbook (`pi-sandbox incident open --kind INC-3`)")


class LedgerRollbackError(AuditStoreError):
    """The audit database is older than, or not, the ledger its anchor witnessed (rows deleted,
    file replaced or gone); the store refuses to write on top of it."""

    exit_code = ExitCode.FAILURE
    remediation = ("treat it as tampering: `pi-sandbox security ledger verify` shows the break; `pi-sandbox "
                   "security ledger set-aside --reason TEXT` keeps the files as evidence and starts a new ledger "
                   "with every extension stopped; then follow INC-3 of the runbook "
                   "(`pi-sandbox incident open --kind INC-3`)")


class LedgerSetAsideError(PiSandboxError):
    """Setting the ledger aside was refused: no reason given, the ledger verifies, or a session holds it."""

    remediation = ("`pi-sandbox security ledger verify` shows whether the ledger is damaged; stop running "
                   "sessions (rpc, mcp, the pi bridge) before setting it aside")


class SigningKeyError(AuditStoreError):
    """The ledger signing key is missing, unreadable or has unsafe permissions."""

    exit_code = ExitCode.ENVIRONMENT
    remediation = ("restore the signing key in the security state dir, owned by you with mode 0600; never "
                   "copy one from another machine")


class AuditRecordError(AuditStoreError):
    """A record handed to the audit store is malformed (unknown alert category, non-JSON detail)."""

    exit_code = ExitCode.USAGE
    remediation = "the caller built a malformed ledger record: report it as a bug, with the message"


class LedgerVerificationError(PiSandboxError):
    """Ledger verification found tampering or corruption (see the attached report)."""

    exit_code = ExitCode.FAILURE
    remediation = ("the ledger changed after it was written: export the evidence (`pi-sandbox security bundle "
                   "export`) and follow INC-3 of the runbook")


# --- policy --------------------------------------------------------------------------------


class PolicyError(PiSandboxError):
    """A policy evaluation request is invalid (unknown capability, bad scope)."""

    remediation = "use a capability and scope that `pi-sandbox --explain-extension-policy` lists"


class TrustTransitionError(PolicyError):
    """A trust transition that the lifecycle does not allow (e.g. leaving quarantine without an operator)."""

    remediation = ("`pi-sandbox ext trust show --extension ID` shows the state; leaving quarantine takes an "
                   "operator's `pi-sandbox ext trust promote --extension ID --reason TEXT`")


# --- scanner / install ---------------------------------------------------------------------


class ScanError(PiSandboxError):
    """An extension path cannot be scanned (missing, unreadable, not a JS/TS source)."""

    remediation = "pass a readable extension folder or a .js/.ts/.mjs file (check the path for typos)"


class InstallError(PiSandboxError):
    """An extension cannot be installed (blocked by the scanner, confirmation missing, I/O)."""

    remediation = ("read the findings (`pi-sandbox ext scan PATH`), fix or remove the flagged code, then "
                   "install again; installs go to pi-sandbox's own folder, never pi's")


# --- runtime -------------------------------------------------------------------------------


class ExtensionLoadError(PiSandboxError):
    """An extension could not be loaded: names the extension, the file and the reason.

    ``reason`` is the ledger reason code of the failure (``bundle_failed`` unless a more precise one
    applies: ``import_outside_root``, ``dependency_missing``, ``dependency_undeclared``,
    ``export_not_found``, ``native_addon``, ``integrity_mismatch``, ``internal_module``,
    ``identity_conflict``).
    """

    remediation = "run `pi-sandbox ext check PATH`: it runs every load check without running code and names the fix"

    def __init__(self, message: str, *, reason: str = "bundle_failed") -> None:
        super().__init__(message)
        self.reason = reason


class ExtensionIdentityError(ExtensionLoadError):
    """An extension tried to load under an id that another source holds (``identity_conflict``): a
    project-local extension claiming the id of the user's installed or global extension, or other code
    under an id the lockfile pins. Rename the extension; grants never move between sources."""

    remediation = ("rename the project's extension (its file, folder or package.json name) if it is a different "
                   "extension; otherwise treat the project as hostile: it tried to take over your extension's id")

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="identity_conflict")


class IntegrityMismatchError(ExtensionLoadError):
    """A pinned extension's own files or dependency files differ from its lockfile pin
    (``integrity_mismatch``): inspect the change, then re-install with ``pi-sandbox ext install``."""

    remediation = ("inspect what changed in the installed copy (`pi-sandbox ext verify`), then re-install it with "
                   "`pi-sandbox ext install` and release it from quarantine with `pi-sandbox ext trust promote`")

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="integrity_mismatch")


class ExtensionRuntimeError(PiSandboxError):
    """A loaded extension failed while running (crash, timeout, out of memory)."""

    exit_code = ExitCode.FAILURE
    remediation = ("inspect the extension (`pi-sandbox security ledger show --extension ID`); stop it with "
                   "`pi-sandbox security kill-switch on --extension ID` or run with `--no-extensions`")


class ToolArgumentsError(PiSandboxError):
    """Tool arguments do not match the tool's TypeBox parameter schema."""

    remediation = "pass arguments that match the tool's parameter schema (`pi-sandbox ext list --json`: tool_specs)"


class ToolchainMissingError(ExtensionLoadError):
    """The JS toolchain is not installed (or incomplete): ``pi-sandbox setup`` installs it."""

    exit_code = ExitCode.ENVIRONMENT
    remediation = "run `pi-sandbox setup` (it installs the pinned bundler and TypeBox with npm)"


class ToolchainSetupError(EnvironmentProblem):
    """``pi-sandbox setup`` could not install the JS toolchain (npm missing or failing)."""

    remediation = "install Node.js with npm, then run `pi-sandbox setup` again (npm's own error is in the message)"


# --- mediation -----------------------------------------------------------------------------


class MediationError(PiSandboxError):
    """Exec mediation or the secret broker was given invalid rules."""

    remediation = "fix the exec or secret rule in the settings (docs/mediation.md); `pi-sandbox config validate`"


# --- incidents and export ------------------------------------------------------------------


class IncidentError(PiSandboxError):
    """An incident command cannot run now: no open incident, a phase out of order, a closed incident."""

    remediation = "`pi-sandbox incident status` shows the open incident and the next phase to run"


class CollectorExportError(EnvironmentProblem):
    """The fleet collector did not accept exported records (unreachable, refused, or an error status)."""

    remediation = ("check that the collector at --endpoint is reachable and accepts the format; "
                   "`--after-seq` resumes where the last export stopped")


# --- evidence ------------------------------------------------------------------------------


class EvidenceError(PiSandboxError):
    """An evidence bundle cannot be built or read: bad filter or redaction option, unreadable or
    malformed bundle file (exit 2). A bundle that reads but fails verification is a report, not this."""

    remediation = "check the bundle path and the filter and redaction options (docs/evidence.md)"


# --- the Python front door (pi_sandbox.open_session) and the MCP server ---------------------


class SessionError(PiSandboxError):
    """A front-door session was used wrongly."""

    remediation = "use the session inside `with pi_sandbox.open_session(...) as session:` (docs/embedding.md)"


class SessionClosedError(SessionError):
    """The session was closed: its workers are stopped and its ledger sealed."""

    remediation = "open a new session with pi_sandbox.open_session(); a closed session cannot be reused"


class ToolNotFoundError(ExtensionLoadError):
    """No loaded extension registers this tool, or several do and none was named."""

    remediation = ("session.tools() lists the tools that loaded and session.extensions() says why an extension "
                   "did not; when two extensions register the same name, pass extension=")

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="unknown_tool")


class ServerStartError(EnvironmentProblem):
    """``pi-sandbox mcp`` cannot start its server (HTTP port taken, address not local)."""

    remediation = "choose another --port, or stop the program that holds it; HTTP listens on 127.0.0.1 only"
