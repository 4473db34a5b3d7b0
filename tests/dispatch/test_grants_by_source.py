"""``perExtension.<id>`` grants belong to identity sources: by default the user's own (installed, global,
path); a project's extension under the same id gets only the entry's restrictions, unless ``sources`` names
``project``. A project settings file can never widen ``sources``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.capabilities import Capability
from pi_sandbox.config.posture import loosened_fields, security_posture
from pi_sandbox.config.snapshot import from_snapshot
from pi_sandbox.errors import ConfigError
from pi_sandbox.identity import ExtensionIdentity, SourceKind
from pi_sandbox.policy import CompiledPolicy
from tests.conftest import MakeConfig, OpenSandbox, PiEnv

GRANT = {"allow": ["session_admin"], "deny": ["http"], "quota": {"maxMemoryMb": 64, "maxHttpRequests": 10**9},
         "http": {"allowHosts": ["api.example.com"], "denyHosts": ["evil.example"]}}


def _identity(kind: SourceKind) -> ExtensionIdentity:
    return ExtensionIdentity("formatter", kind, f"/somewhere/{kind}")


def _rename(open_sandbox: OpenSandbox, make_request: Callable[..., dict[str, Any]], tmp: Path,
            kind: SourceKind, **settings: Any) -> tuple[Any, Any]:
    box = open_sandbox(settings={"extensionPolicy": {"perExtension": {"formatter": {**GRANT, **settings}}}})
    root = tmp / str(kind)
    root.mkdir(exist_ok=True)
    box.register_extension("formatter", root, identity=_identity(kind))
    result = box.hostcall("formatter", make_request("session", {"op": "set_name", "name": "x"}), dry_run=True)
    return box, result


@pytest.mark.parametrize("kind", [SourceKind.INSTALLED, SourceKind.GLOBAL, SourceKind.PATH])
def test_the_users_own_sources_get_the_grants(open_sandbox: OpenSandbox, make_request: Callable[..., Any],
                                              tmp_path: Path, kind: SourceKind) -> None:
    box, result = _rename(open_sandbox, make_request, tmp_path, kind)
    assert result.ok, result
    assert not [e for e in box.store.query_ledger(kind="config") if e.reason == "grants_not_for_source"]


def test_a_project_extension_gets_only_the_restrictions(open_sandbox: OpenSandbox,
                                                        make_request: Callable[..., Any], tmp_path: Path) -> None:
    box, result = _rename(open_sandbox, make_request, tmp_path, SourceKind.PROJECT)
    assert not result.ok and result.reason == "not_in_default_caps", result
    override = box.config.per_extension["formatter"]
    assert override.allow == frozenset() and override.deny == frozenset({"http"})
    assert override.http_allow_hosts == () and override.http_deny_hosts == ("evil.example",)
    assert override.quota is not None and override.quota.max_memory_mb == 64  # a lower limit stays
    assert override.quota.max_http_requests == box.config.quota.max_http_requests  # a higher one does not
    [entry] = [e for e in box.store.query_ledger(kind="config") if e.reason == "grants_not_for_source"]
    assert entry.extension_id == "formatter" and entry.decision == "deny"
    assert entry.detail["source"] == "project" and "allow" in entry.detail["withheld"]
    # Every later decision names the configuration it was made under, and replaying it gives the same answer.
    [hostcall] = [e for e in box.store.query_ledger(kind="hostcall") if e.extension_id == "formatter"]
    digest = hostcall.detail["config_digest"]
    assert digest == box.config_digest == entry.detail["config_digest"]
    version = box.store.config_version(digest)
    assert version is not None
    replayed = CompiledPolicy.from_config(from_snapshot(version))
    assert replayed.evaluate(Capability.SESSION_ADMIN, "formatter").decision == "deny"


def test_sources_can_name_the_project(open_sandbox: OpenSandbox, make_request: Callable[..., Any],
                                      tmp_path: Path) -> None:
    _box, result = _rename(open_sandbox, make_request, tmp_path, SourceKind.PROJECT, sources=["project"])
    assert result.ok, result
    box, result = _rename(open_sandbox, make_request, tmp_path, SourceKind.INSTALLED, sources=["project"])
    assert not result.ok  # and then the installed one no longer gets them


def test_sources_settings_are_validated_and_tighten_only(make_config: MakeConfig, pi_env: PiEnv) -> None:
    for bad in ([], ["nowhere"], "project"):
        with pytest.raises(ConfigError, match="sources"):
            make_config(settings={"extensionPolicy": {"perExtension": {"x": {"sources": bad}}}})
    config = make_config(settings={"extensionPolicy": {"perExtension": {"x": {"allow": ["exec"]}}}},
                         project_settings={"extensionPolicy": {"perExtension": {"x": {"sources": ["project"]}}}})
    assert config.per_extension["x"].sources == frozenset({"installed", "global", "path"})
    assert "extensionPolicy.perExtension.x.sources" in config.refused_loosenings
    narrowed = make_config(project_settings={"extensionPolicy": {"perExtension": {"x": {"sources": ["installed"]}}}})
    assert narrowed.per_extension["x"].sources == frozenset({"installed"})
    pi_env.project_settings.unlink()
    wide = make_config(settings={"extensionPolicy": {"perExtension": {"x": {"sources": ["project", "installed"]}}}})
    assert loosened_fields(security_posture(narrowed), security_posture(wide)) == ["per_extension_sources.x"]
