"""Default imports of dual packages the way pi's loader (jiti) resolves them.

pi loads an extension with jiti, which compiles it to CommonJS: ``import yaml from "js-yaml"`` becomes a
``require("js-yaml")`` (the package's ``require`` entry) with the default taken from ``module.exports``. The
bundler builds ES modules, so esbuild picks the package's ``import`` entry, and when that ES module has no
default export (js-yaml 5, pdf-parse 2 and other dual packages that dropped it) the whole extension failed to
bundle with ``No matching export ... for import "default"`` although it loads in pi.

:func:`cjs_aliases` reads esbuild's errors and points each such package at its own CommonJS entry (``--alias``),
so the retry gets what pi gets. The target is a file of the same package inside the extension's dependency
tree, so the dependency checks judge it like any other input; nothing new becomes reachable.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pi_sandbox.scanner.packages import within

_NO_DEFAULT = re.compile(r'No matching export in "([^"]+)" for import "default"')
_NATIVE_MAIN = re.compile(r'No loader is configured for "\.node" files: (\S+\.node)')
_MAX_DEPTH = 8  # conditions nest a few levels at most ({"require": {"node": {"default": "..."}}})


def cjs_aliases(stderr: str, cwd: Path) -> list[str]:
    """``--alias:<package>=<its CommonJS entry>`` for every package whose ES entry lacked the default export an
    import asked for; empty when there is none (or the package has no CommonJS entry: the error stands)."""
    flags: list[str] = []
    for rel in sorted(set(_NO_DEFAULT.findall(stderr))):
        file = (cwd / rel).resolve()
        found = _package_of(file)
        if found is None:
            continue
        folder, manifest = found
        name = manifest.get("name")
        target = _require_entry(manifest, file, folder)
        if not isinstance(name, str) or target is None:
            continue
        cjs = (folder / target).resolve()
        if within(cjs, folder) and cjs.is_file() and cjs != file:
            flags.append(f"--alias:{name}={cjs}")
    return flags


def native_externals(stderr: str, cwd: Path) -> list[str]:
    """``--external:<package>`` for every package whose entry is a native addon (napi-rs's per-platform packages,
    ``@napi-rs/canvas-linux-x64-gnu`` with ``"main": "skia.linux-x64-gnu.node"``, required inside a try by their
    loader). ``*.node`` paths are already external; a package name resolving to one made esbuild fail the whole
    bundle. External, its ``require`` throws MODULE_NOT_FOUND at run time, so the loader's fallback runs (as in
    pi when the addon is missing); a native addon never loads in the sandbox either way."""
    flags: list[str] = []
    for rel in sorted(set(_NATIVE_MAIN.findall(stderr))):
        found = _package_of((cwd / rel).resolve())
        if found is not None:
            flags.append(f"--external:{found[1]['name']}")
    return flags


def _package_of(file: Path) -> tuple[Path, dict[str, Any]] | None:
    """The installed package (a folder under ``node_modules`` with a named package.json) holding ``file``."""
    for folder in file.parents:
        if folder.parent.name != "node_modules" and folder.parent.parent.name != "node_modules":
            continue
        try:
            manifest = json.loads((folder / "package.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and isinstance(manifest.get("name"), str):
            return folder, manifest
    return None


def _require_entry(manifest: dict[str, Any], file: Path, folder: Path) -> str | None:
    """The package's CommonJS entry for its root (``exports["."].require``, else ``main`` when ``module`` is the
    file esbuild chose), provided the failing file is that root's ES entry (a sub-path is left alone)."""
    exports = manifest.get("exports")
    if isinstance(exports, dict):
        root = exports.get(".") if any(str(k).startswith(".") for k in exports) else exports
        if not isinstance(root, dict):
            return None
        esm = _condition(root, ("import", "module", "default"), 0)
        cjs = _condition(root, ("require", "node", "default"), 0)
        if esm is None or cjs is None or (folder / esm).resolve() != file:
            return None
        return cjs
    module, main = manifest.get("module"), manifest.get("main")
    if isinstance(module, str) and isinstance(main, str) and (folder / module).resolve() == file:
        return main
    return None


def _condition(value: Any, keys: tuple[str, ...], depth: int) -> str | None:
    """Follow export conditions: the first of ``keys`` present at each level, down to a path."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or depth > _MAX_DEPTH:
        return None
    for key in keys:
        if key in value:
            return _condition(value[key], ("node", "default", *keys), depth + 1)
    return None
