"""Install-time scanner: parse JS/TS with tree-sitter, classify findings, preflight and install.

Public entry points: :func:`scan_path` (a folder or file → :class:`ScanReport`), :func:`to_json` /
:func:`to_sarif` / :func:`render_text` (renderings), ``scanner.install.preflight`` / ``.install`` (the
install gate with lockfile and ledger; not re-exported so the ``install`` submodule stays importable) and
:func:`pinned_content_status` (is an installed copy still the pinned one).
"""

from pi_sandbox.scanner.lockfile import pinned_content_status
from pi_sandbox.scanner.model import Finding, ScanReport
from pi_sandbox.scanner.report import render_text, to_json, to_sarif
from pi_sandbox.scanner.walker import scan_path

__all__ = [
    "Finding",
    "ScanReport",
    "pinned_content_status",
    "render_text",
    "scan_path",
    "to_json",
    "to_sarif",
]
