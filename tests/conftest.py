"""Shared fixtures: an isolated pi environment per test, resolved configs, open sandboxes.

Every test that touches settings, the security state dir or the workspace should start from
``pi_env``: it points ``PI_CODING_AGENT_DIR``, ``PI_SECURITY_DIR`` and ``HOME`` into ``tmp_path``,
clears the ``PI_*`` variables that change policy, and chdirs into a fresh workspace, so no test
ever reads or writes the real home directory.

Fixtures (all function-scoped):

- ``pi_env`` → :class:`PiEnv`: the paths plus ``write_global(...)`` / ``write_project(...)``.
- ``make_config(settings=..., project_settings=..., env=..., cli_profile=...)`` → a resolved
  ``SecurityConfig`` (settings are dicts written as JSON, or raw strings written verbatim; ``env``
  overrides the monkeypatched process environment, a ``None`` value removes a variable).
- ``open_sandbox(config=None, prompter=None, **make_config_kwargs)`` → a real ``Sandbox`` (real
  SQLite audit store in the state dir), closed at teardown.
- ``sandbox`` → ``open_sandbox()`` with default settings (profile ``safe``).
- ``make_request`` → ``make_request(method, params, capability=None)`` builds a hostcall request dict with a
  unique ``call_id``.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.config import SecurityConfig, resolve_config
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.policy import Prompter
from pi_sandbox.runtime.toolchain import CACHE_ENV, cache_dir

# The JS toolchain lives in the user cache, found through HOME; tests point HOME elsewhere, so pin the
# cache where `pi-sandbox setup` put it (inherited by every subprocess a test starts).
os.environ.setdefault(CACHE_ENV, str(cache_dir()))

#: Variables that change the resolved config; cleared so the developer's shell cannot leak in.
POLICY_ENV_VARS = (
    "PI_EXTENSION_POLICY",
    "PI_EXTENSION_ALLOW_DANGEROUS",
    "PI_CONFIG_PATH",
    "PI_EXTENSION_RISK_ENABLED",
    "PI_EXTENSION_RISK_ENFORCE",
    "PI_EXTENSION_RISK_FAIL_CLOSED",
    "PI_EXTENSION_RISK_ALPHA",
    "PI_EXTENSION_RISK_WINDOW",
    "PI_EXTENSION_RISK_LEDGER_LIMIT",
    "PI_EXTENSION_RISK_DECISION_TIMEOUT_MS",
    "PI_HTTP_ALLOW_LOOPBACK",
)

Settings = Mapping[str, Any] | str


@dataclass(frozen=True)
class PiEnv:
    """Paths of one isolated pi installation under ``tmp_path``."""

    root: Path
    home: Path
    agent_dir: Path
    state_dir: Path
    workspace: Path

    @property
    def global_settings(self) -> Path:
        return self.agent_dir / "settings.json"

    @property
    def project_settings(self) -> Path:
        return self.workspace / ".pi" / "settings.json"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "security.db"

    @staticmethod
    def _write(path: Path, settings: Settings) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = settings if isinstance(settings, str) else json.dumps(settings, indent=2)
        path.write_text(text, encoding="utf-8")
        return path

    def write_global(self, settings: Settings) -> Path:
        """Write ``<agent dir>/settings.json`` (dict → JSON, str → verbatim)."""
        return self._write(self.global_settings, settings)

    def write_project(self, settings: Settings) -> Path:
        """Write ``<workspace>/.pi/settings.json`` (dict → JSON, str → verbatim)."""
        return self._write(self.project_settings, settings)

    def environ(self, overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
        """The current (monkeypatched) process environment with ``overrides`` applied."""
        env = dict(os.environ)
        for key, value in (overrides or {}).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env


@pytest.fixture()
def pi_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PiEnv:
    """An isolated environment: agent dir, state dir, HOME and a workspace (the cwd) in tmp_path."""
    env = PiEnv(
        root=tmp_path,
        home=tmp_path / "home",
        agent_dir=tmp_path / "agent",
        state_dir=tmp_path / "agent" / "security",
        workspace=tmp_path / "workspace",
    )
    env.home.mkdir()
    env.agent_dir.mkdir()
    env.workspace.mkdir()
    monkeypatch.setenv("HOME", str(env.home))
    monkeypatch.setenv("PI_CODING_AGENT_DIR", str(env.agent_dir))
    monkeypatch.setenv("PI_SECURITY_DIR", str(env.state_dir))
    for name in POLICY_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(env.workspace)
    return env


MakeConfig = Callable[..., SecurityConfig]


@pytest.fixture()
def make_config(pi_env: PiEnv) -> MakeConfig:
    """Factory: write the given settings files and resolve a config for the workspace."""

    def make(
        settings: Settings | None = None,
        project_settings: Settings | None = None,
        env: Mapping[str, str | None] | None = None,
        cli_profile: str | None = None,
    ) -> SecurityConfig:
        if settings is not None:
            pi_env.write_global(settings)
        if project_settings is not None:
            pi_env.write_project(project_settings)
        return resolve_config(cwd=pi_env.workspace, env=pi_env.environ(env), cli_profile=cli_profile)

    return make


OpenSandbox = Callable[..., Sandbox]


@pytest.fixture()
def open_sandbox(make_config: MakeConfig) -> Iterator[OpenSandbox]:
    """Factory: ``Sandbox.open`` on a given config (or one built by ``make_config(**kwargs)``)."""
    opened: list[Sandbox] = []

    def open_(config: SecurityConfig | None = None, prompter: Prompter | None = None, **kwargs: Any) -> Sandbox:
        box = Sandbox.open(config if config is not None else make_config(**kwargs), prompter=prompter)
        opened.append(box)
        return box

    yield open_
    for box in opened:
        box.close()


@pytest.fixture()
def sandbox(open_sandbox: OpenSandbox) -> Sandbox:
    """A sandbox with default settings (profile ``safe``) on the isolated environment."""
    return open_sandbox()


@pytest.fixture()
def make_request() -> Callable[..., dict[str, Any]]:
    """``make_request(method, params, capability=None)`` → a hostcall request with a unique call id."""
    counter = itertools.count(1)

    def build(method: str, params: Mapping[str, Any] | None = None, capability: str | None = None) -> dict[str, Any]:
        req: dict[str, Any] = {"call_id": f"call-{next(counter)}", "method": method, "params": dict(params or {})}
        if capability is not None:
            req["capability"] = capability
        return req

    return build
