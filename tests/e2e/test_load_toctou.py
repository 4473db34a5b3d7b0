"""A pinned extension's files swapped between the integrity check and the bundler's read (TOCTOU): the code that
runs is exactly the code that was verified, for the entry, a local module it imports and a dependency package.

The seam is deterministic: the bundler's subprocess call (esbuild) is wrapped so the swap happens right before
esbuild reads the files, i.e. after the pin was checked; the wrapper can also put the original back afterwards
(which would poison a cache keyed by what is on disk after the build). A racing writer adds the
non-deterministic variant: a load either refuses the changed files or runs the pinned ones, never the others.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import pi_sandbox.runtime.bundler as bundler_module
from pi_sandbox.cli.main import main
from pi_sandbox.runtime.discovery import resolve_path
from tests.conftest import PiEnv
from tests.e2e.test_install_dependencies import registry  # noqa: F401  (the local npm registry fixture)
from tests.npm_registry import NPM, LocalRegistry, write_package
from tests.runtime.conftest import MakeHost

GOOD_LIB = "export const word = (): string => 'GOOD';\n"
EVIL_LIB = "export const word = (): string => 'EVIL-' + String(globalThis.constructor);\n"
ENTRY = """import {{ word }} from "./lib";
{dep_import}
export default function (pi: any) {{
  pi.registerTool({{ name: "answer", label: "answer", description: "d",
    async execute() {{ return {{ content: [{{ type: "text", text: {text} }}], details: {{}} }}; }} }});
}}
"""


def _entry(text: str = "word()", dep: bool = False) -> str:
    return ENTRY.format(dep_import='import { a } from "dep-a";' if dep else "", text=text)


def _install(pi_env: PiEnv, src: Path, name: str) -> Path:
    assert main(["ext", "install", str(src)]) == 0
    dest = pi_env.agent_dir / "sandboxed-extensions" / name
    assert (dest / "index.ts").is_file()
    return dest


def _own_extension(tmp_path: Path, name: str = "racy") -> Path:
    return write_package(tmp_path / "src", {"name": name, "version": "1.0.0", "pi": {"extensions": ["./index.ts"]}},
                         {"index.ts": _entry(), "lib.ts": GOOD_LIB})


def _load(make_host: MakeHost, folder: Path) -> tuple[Any, Any]:
    found, error = resolve_path(folder, folder)
    assert error is None
    host = make_host()
    [ext] = host.load([dataclasses.replace(s, origin="cli") for s in found])
    return host, ext


def _answer(host: Any, ext: Any) -> str:
    assert ext.status == "loaded", ext.error
    return str(host.call_tool(ext.extension_id, "answer", {})["content"][0]["text"])


@pytest.fixture()
def swap_before_bundling(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., list[int]]]:
    """Arm the seam: ``arm(path, text, restore=...)`` writes ``text`` into ``path`` right before the bundler's
    esbuild run (after the integrity check) and, with ``restore``, puts the original back right after it."""
    real_run = bundler_module.subprocess.run
    armed: list[tuple[Path, str, bool]] = []
    fired: list[int] = []

    def run(args: Any, *rest: Any, **kwargs: Any) -> Any:
        if not (isinstance(args, list) and str(args[0]).endswith("esbuild")) or not armed:
            return real_run(args, *rest, **kwargs)
        originals = [(path, path.read_bytes(), restore) for path, _text, restore in armed]
        for path, text, _restore in armed:
            path.write_text(text)
        fired.append(1)
        try:
            return real_run(args, *rest, **kwargs)
        finally:
            for path, data, restore in originals:
                if restore:
                    path.write_bytes(data)

    def arm(path: Path, text: str, restore: bool = False) -> list[int]:
        armed.append((path, text, restore))
        return fired

    monkeypatch.setattr(bundler_module, "subprocess", SimpleNamespace(**{
        **{k: getattr(bundler_module.subprocess, k) for k in dir(bundler_module.subprocess) if not k.startswith("__")},
        "run": run}))
    yield arm


@pytest.mark.parametrize("restore", [False, True], ids=["left-swapped", "swapped-back"])
@pytest.mark.parametrize("target", ["index.ts", "lib.ts"])
def test_own_file_swapped_after_the_check_never_runs(
    pi_env: PiEnv, tmp_path: Path, make_host: MakeHost, swap_before_bundling: Callable[..., list[int]],
    target: str, restore: bool,
) -> None:
    dest = _install(pi_env, _own_extension(tmp_path), "racy")
    evil = _entry(text="'EVIL-ENTRY'") if target == "index.ts" else EVIL_LIB
    fired = swap_before_bundling(dest / target, evil, restore)
    host, ext = _load(make_host, dest)
    assert fired, "the seam never ran: the bundler did not call esbuild"
    assert ext.bundle is not None and "EVIL" not in ext.bundle.source
    assert _answer(host, ext) == "GOOD"
    # The next load: with the swap left in place the pin refuses it; swapped back, the cached bundle is
    # the verified one (a cache filled from what was on disk after the build would hold the swapped code).
    host2, again = _load(make_host, dest)
    if restore:
        assert again.bundle is not None and "EVIL" not in again.bundle.source
        assert _answer(host2, again) == "GOOD"
    else:
        assert again.status == "failed" and again.error_code == "integrity_mismatch", again.error


@pytest.mark.skipif(NPM is None, reason="npm is not installed (pi-sandbox setup needs it)")
@pytest.mark.parametrize("restore", [False, True], ids=["left-swapped", "swapped-back"])
def test_dependency_file_swapped_after_the_check_never_runs(
    registry: LocalRegistry, pi_env: PiEnv, tmp_path: Path, make_host: MakeHost,  # noqa: F811
    swap_before_bundling: Callable[..., list[int]], restore: bool,
) -> None:
    manifest = {"name": "racy-deps", "version": "1.0.0", "pi": {"extensions": ["./index.ts"]},
                "dependencies": {"dep-a": "1.0.0"}}
    files = {"index.ts": _entry(text="word() + a()", dep=True), "lib.ts": GOOD_LIB}
    src = write_package(tmp_path / "src", manifest, files)
    dest = _install(pi_env, src, "racy-deps")
    target = dest / "node_modules" / "dep-b" / "index.js"
    fired = swap_before_bundling(target, "module.exports = { b: () => 'EVIL-DEP' };\n", restore)
    host, ext = _load(make_host, dest)
    assert fired
    assert ext.bundle is not None and "EVIL" not in ext.bundle.source
    assert _answer(host, ext) == "GOODAB"


def test_a_racing_writer_never_gets_its_code_run(pi_env: PiEnv, tmp_path: Path, make_host: MakeHost) -> None:
    """A writer flips ``lib.ts`` between the pinned and another text as fast as it can while the extension
    is loaded again and again (no cache: every load bundles): each load refuses or runs the pinned code
    (what every load bundled is checked, also when repeated refusals quarantined the extension)."""
    dest = _install(pi_env, _own_extension(tmp_path), "racy")
    lib = dest / "lib.ts"
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            for text in (EVIL_LIB, GOOD_LIB):
                tmp = lib.with_name(".lib.tmp")
                tmp.write_text(text)
                tmp.replace(lib)

    writer = threading.Thread(target=flip, daemon=True)
    writer.start()
    outcomes: list[str] = []
    try:
        for _ in range(8):
            for cached in (pi_env.state_dir / "bundle-cache").glob("*"):
                if cached.is_file():
                    cached.unlink()
            host, ext = _load(make_host, dest)
            assert ext.bundle is None or "EVIL" not in ext.bundle.source
            if ext.status == "failed":
                assert ext.error_code == "integrity_mismatch", ext.error
                outcomes.append("refused")
            elif ext.status == "quarantined":  # integrity failures count toward quarantine: refused as well
                outcomes.append("refused")
            else:
                outcomes.append(_answer(host, ext))
            host.shutdown(notify=False)
    finally:
        stop.set()
        writer.join(10)
    assert set(outcomes) <= {"refused", "GOOD"}, outcomes
    # every snapshot was removed after its bundle was built (in the state dir, never in a shared /tmp); when
    # every load was refused at the pin check, none was ever made (the folder may not exist)
    snapshots = pi_env.state_dir / "bundle-cache" / ".snapshots"
    assert not snapshots.exists() or list(snapshots.iterdir()) == []
