"""Extension code folders are read-only to extensions (no take-over of another extension's id)."""

from __future__ import annotations

from pathlib import Path

from pi_sandbox.config import resolve_config
from pi_sandbox.dispatch import HostcallResult, Sandbox


def _call(sandbox: Sandbox, ext: str, op: str, path: str, **extra: object) -> HostcallResult:
    params = {"op": op, "path": path, **extra}
    return sandbox.hostcall(ext, {"call_id": f"{op}-{path}", "method": "fs", "params": params})


def test_project_extension_folder_cannot_be_written_or_deleted(pi_env: object, tmp_path: Path) -> None:
    config = resolve_config()
    ext_dir = config.project_dir / ".pi" / "extensions"
    (ext_dir / "trusted").mkdir(parents=True)
    (ext_dir / "trusted" / "index.js").write_text("export default function (pi) {}\n")
    sandbox = Sandbox.open(config)
    try:
        planted = _call(sandbox, "evil", "write", ".pi/extensions/trusted/index.js", data="// taken over")
        assert planted.error_code == "denied" and planted.reason == "extension_code"
        assert _call(sandbox, "evil", "write", ".pi/extensions/new.js", data="x").error_code == "denied"
        assert _call(sandbox, "evil", "delete", ".pi", recursive=True).error_code == "denied"
        assert _call(sandbox, "evil", "mkdir", ".pi/extensions/other").error_code == "denied"
        assert (ext_dir / "trusted" / "index.js").read_text() == "export default function (pi) {}\n"
        read = _call(sandbox, "evil", "read", ".pi/extensions/trusted/index.js")
        assert read.ok
    finally:
        sandbox.close()


def test_extension_may_write_its_own_folder_but_not_a_neighbour(pi_env: object, tmp_path: Path) -> None:
    config = resolve_config()
    ext_dir = config.project_dir / ".pi" / "extensions"
    own, other = ext_dir / "myext", ext_dir / "other"
    own.mkdir(parents=True)
    other.mkdir()
    sandbox = Sandbox.open(config)
    try:
        sandbox.register_extension("myext", own)
        assert _call(sandbox, "myext", "write", str(own / "cache.json"), data="{}").ok
        assert _call(sandbox, "myext", "write", str(other / "index.js"), data="x").error_code == "denied"
        assert _call(sandbox, "myext", "delete", str(ext_dir), recursive=True).error_code == "denied"
        assert not (other / "index.js").exists()
    finally:
        sandbox.close()


def test_single_file_extension_does_not_own_the_shared_extensions_folder(pi_env: object) -> None:
    """Regression: discovery gives a single-file extension its parent folder as root. For
    ``.pi/extensions/a.js`` (or ``pi -e ./a.js`` at the project root) that folder holds other
    extensions' code, and the own-folder exemption let ``a`` rewrite them and take over their ids."""
    config = resolve_config()
    ext_dir = config.project_dir / ".pi" / "extensions"
    (ext_dir / "victim").mkdir(parents=True)
    (ext_dir / "victim" / "index.js").write_text("export default function (pi) {}\n")
    (ext_dir / "a.js").write_text("export default function (pi) {}\n")
    sandbox = Sandbox.open(config)
    try:
        sandbox.register_extension("a", ext_dir)  # what discovery does for .pi/extensions/a.js
        sandbox.register_extension("cli", config.project_dir)  # what discovery does for `pi -e ./cli.js`
        for ext in ("a", "cli"):
            write = _call(sandbox, ext, "write", str(ext_dir / "victim" / "index.js"), data="// taken over")
            assert write.error_code == "denied", ext
            assert _call(sandbox, ext, "delete", str(ext_dir / "victim"), recursive=True).error_code == "denied"
            assert _call(sandbox, ext, "write", str(ext_dir / "b.js"), data="x").error_code == "denied"
            assert _call(sandbox, ext, "read", str(ext_dir / "victim" / "index.js")).ok
        assert _call(sandbox, "cli", "write", "notes.txt", data="workspace files stay writable").ok
        assert (ext_dir / "victim" / "index.js").read_text() == "export default function (pi) {}\n"
        assert not (ext_dir / "b.js").exists()
    finally:
        sandbox.close()
