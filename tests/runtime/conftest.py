"""Fixtures for runtime tests: real workers, real esbuild, real Sandbox on an isolated environment."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.dispatch import Sandbox
from pi_sandbox.runtime.discovery import ExtensionSource
from pi_sandbox.runtime.host import ExtensionHost
from pi_sandbox.runtime.supervisor import WorkerLimits

#: Short budgets keep hostile-extension tests fast; the defaults (30 s, 256 MB) are tested elsewhere.
FAST_LIMITS = WorkerLimits(memory_bytes=64 * 1024 * 1024, stack_bytes=512 * 1024, call_timeout_s=1.5)


def write_file(path: Path, source: str) -> Path:
    """Write dedented source, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return path


def source_for(path: Path, extension_id: str | None = None, root: Path | None = None) -> ExtensionSource:
    """An ExtensionSource for a single file (root = its folder unless given)."""
    return ExtensionSource(extension_id or path.stem, path.resolve(), (root or path.parent).resolve(), "cli")


MakeHost = Callable[..., ExtensionHost]


@pytest.fixture()
def make_host(open_sandbox: Callable[..., Sandbox]) -> Iterator[MakeHost]:
    """Factory: an ExtensionHost over a real Sandbox (``sandbox=`` to share one); shut down at teardown."""
    hosts: list[ExtensionHost] = []

    def make(sandbox: Sandbox | None = None, limits: WorkerLimits | None = FAST_LIMITS, **kwargs: Any) -> ExtensionHost:
        host = ExtensionHost(sandbox or open_sandbox(**kwargs.pop("sandbox_kwargs", {})), limits=limits, **kwargs)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.shutdown(notify=False)


@pytest.fixture()
def ext_dir(pi_env: Any) -> Path:
    """A folder outside the workspace for test extensions."""
    path = pi_env.root / "exts"
    path.mkdir()
    return path


def promote_to_trusted(host: ExtensionHost, extension_id: str) -> None:
    """What an operator does with `pi-sandbox ext trust promote --to trusted` after reviewing a loaded
    extension: its dangerous capabilities no longer need a prompt (new code starts in probation)."""
    from pi_sandbox.trust import Actor, TransitionReason, TrustState

    host.sandbox.controls.registry.transition(extension_id, TrustState.TRUSTED, actor=Actor.OPERATOR,
                                              reason=TransitionReason.OPERATOR_PROMOTION, note="reviewed in test")
