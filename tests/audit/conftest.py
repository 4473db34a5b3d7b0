"""Fixtures for the audit tests: a private state dir per test, never the real home directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pi_sandbox.audit import AuditStore, LedgerEntryDraft


@pytest.fixture()
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh security state dir; HOME-derived paths point into tmp_path too."""
    monkeypatch.setenv("PI_CODING_AGENT_DIR", str(tmp_path / "agent"))
    monkeypatch.setenv("PI_SECURITY_DIR", str(tmp_path / "agent" / "security"))
    return tmp_path / "agent" / "security"


@pytest.fixture()
def store(state_dir: Path) -> Iterator[AuditStore]:
    """An open store with a small checkpoint interval so tests cross several checkpoints."""
    opened = AuditStore.open(state_dir, checkpoint_interval=10)
    yield opened
    opened.close()


def draft(n: int = 0, extension_id: str | None = "ext.alpha", **overrides: object) -> LedgerEntryDraft:
    """A plausible hostcall decision entry; ``n`` varies the call id."""
    fields: dict[str, object] = {
        "kind": "hostcall",
        "extension_id": extension_id,
        "decision": "allow",
        "reason": "default_caps",
        "call_id": f"call-{n}",
        "capability": "read",
        "method": "fs",
        "params_hash": f"{n:064x}",
        "layer": 4,
        "detail": {"bytes": n, "codes": ["ok"]},
    }
    fields.update(overrides)
    return LedgerEntryDraft(**fields)  # type: ignore[arg-type]


def fill(store: AuditStore, count: int, start: int = 0) -> None:
    """Append ``count`` entries in one group commit."""
    store.append_many([draft(start + i) for i in range(count)])
