"""e2e fixtures: real extensions in real workers on a real Sandbox (isolated environment)."""

from __future__ import annotations

from tests.runtime.conftest import ext_dir, make_host  # noqa: F401  (re-exported fixtures)
