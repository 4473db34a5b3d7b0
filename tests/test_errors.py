"""errors.py is the one exception tree: every exception class of the package is in it (or is an internal
signal listed below), each with its own remediation; old import paths keep working."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pi_sandbox
from pi_sandbox import errors

#: Exceptions defined outside errors.py: signals inside one module or between the worker and its
#: supervisor, never raised to a caller of the package (each is turned into an errors.py error or handled).
INTERNAL_SIGNALS = {
    "pi_sandbox.runtime.protocol.ProtocolError": "a worker broke the frame protocol; the supervisor kills it "
                                                 "and the host raises ExtensionRuntimeError",
    "pi_sandbox.runtime.supervisor.WorkerFailure": "a worker died or timed out; the host records it and raises "
                                                   "ExtensionRuntimeError",
    "pi_sandbox.runtime.engine.EngineError": "inside the worker process: reported over the frame protocol",
    "pi_sandbox.runtime.engine.EngineTimeout": "inside the worker process",
    "pi_sandbox.runtime.engine.EngineOutOfMemory": "inside the worker process",
    "pi_sandbox.runtime.worker._Fatal": "inside the worker process: ends it",
    "pi_sandbox.runtime.rpc.RpcError": "becomes an error response of `pi-sandbox rpc`",
    "pi_sandbox.mediation.shell_ast.ShellParseError": "unparsable shell text: the classifier treats it as opaque",
    "pi_sandbox.scanner.walker.NotRegularFileError": "an OSError for a file swapped during a scan; the walker skips it",
    "pi_sandbox.scanner.interp.GiveUp": "the scanner's interpreter stops evaluating; the finding stands",
    "pi_sandbox.scanner.interp._Return": "control flow of the scanner's interpreter",
    "pi_sandbox.scanner.interp._Break": "control flow of the scanner's interpreter",
    "pi_sandbox.scanner.interp._Continue": "control flow of the scanner's interpreter",
    "pi_sandbox.dispatch.forensic._Unkeyed": "parameters too deep or wide for a remembered shape key; the "
                                             "shape hash is computed afresh",
    "pi_sandbox.risk.controller.RiskTimeout": "a risk decision past its budget; becomes a fail_closed/fail_open "
                                              "decision inside the controller",
    "pi_sandbox.sandbox.secret_index._TooBig": "a root holds more folders than the secret scan's limit; "
                                               "becomes SecretScanIncompleteError in the same module",
    "pi_sandbox.dispatch.forensic._TooMany": "parameters with more members than a forensic copy visits; the "
                                             "copy becomes size and hash in the same module",
    "pi_sandbox.mediation.exec_classifier._BudgetSpent": "a classification past its work bound; becomes the "
                                                         "finding unclassifiable (critical) in the same module",
}


def _package_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(pi_sandbox.__path__, "pi_sandbox."):
        if info.name == "pi_sandbox.__main__":  # runs the CLI
            continue
        module = importlib.import_module(info.name)
        for _name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == info.name:
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def test_every_exception_is_in_the_tree_or_a_listed_internal_signal() -> None:
    found = _package_exceptions()
    outside = {name for name in found if not name.startswith("pi_sandbox.errors.")}
    assert outside == set(INTERNAL_SIGNALS), "a new exception belongs in errors.py (or, if it never leaves " \
                                             "its module, in INTERNAL_SIGNALS with the reason)"
    tree = {name: cls for name, cls in found.items() if name.startswith("pi_sandbox.errors.")}
    assert len(tree) >= 30
    for name, cls in tree.items():
        assert issubclass(cls, errors.PiSandboxError), name
        own = cls.__dict__.get("remediation")
        assert isinstance(own, str) and len(own) > 30, f"{name} says what to do in its own words"
        assert cls.__doc__, name


def test_remediation_per_error_and_describe() -> None:
    plain = errors.ToolchainMissingError("JS toolchain missing")
    assert plain.remediation.startswith("run `pi-sandbox setup`")
    assert plain.describe() == f"JS toolchain missing (fix: {plain.remediation})"
    told = errors.ToolchainMissingError("missing: run `pi-sandbox setup` (it installs the pinned bundler and "
                                        "TypeBox with npm)")
    assert told.describe() == str(told)  # the message already says it: not twice
    own = errors.InstallError("blocked", remediation="remove the eval() call")
    assert own.remediation == "remove the eval() call" and errors.InstallError.remediation != own.remediation
    config = errors.ConfigError("must be a boolean", source="settings.json", key="extensionPolicy.allowDangerous")
    assert str(config).startswith("settings.json: key 'extensionPolicy.allowDangerous'") and config.key
    assert errors.ConnectorError("gone", code="timeout").code == "timeout"


def test_old_import_paths_still_name_the_same_classes() -> None:
    from pi_sandbox.cli.context import UsageError
    from pi_sandbox.connectors.events import SessionLimitError
    from pi_sandbox.timeparse import TimeValueError

    assert UsageError is errors.UsageError and TimeValueError is errors.TimeValueError
    assert SessionLimitError is errors.SessionLimitError and issubclass(SessionLimitError, errors.ConnectorError)
    assert SessionLimitError("too many", "session_entries_cap").code == "quota_exceeded"
    assert pi_sandbox.PiSandboxError is errors.PiSandboxError
