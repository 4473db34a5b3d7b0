"""Extensions installed the way npm and pi install them load with their dependencies, in real workers.

Packages are written here and served by a registry on 127.0.0.1; npm installs them hoisted (npm's
default, pi's project scope), nested (``--install-strategy=nested``) and global (``-g --prefix``,
pi's user scope). In every layout the same tool gives the same answer, and the same imports are
refused: an undeclared sibling package, a file outside the install root.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pi_sandbox.runtime.discovery import ExtensionSource, resolve_path
from pi_sandbox.scanner.packages import find_install_root
from tests.npm_registry import NPM, LocalRegistry, write_package
from tests.runtime.conftest import MakeHost

pytestmark = pytest.mark.skipif(NPM is None, reason="npm is not installed (pi setup needs it)")

EXT_SOURCE = """
import { a } from "dep-a";
import { helper } from "dep-a/util";
import { z } from "peer-z";
import { Type } from "@sinclair/typebox";
import * as fs from "node:fs";
import { createRequire } from "node:module";

export default function (pi: any) {
  pi.registerTool({
    name: "deps_echo",
    label: "deps",
    description: "answers with values from its dependencies",
    parameters: Type.Object({}),
    async execute() {
      return { content: [{ type: "text", text: `${a()}|${helper()}|${z}` }], details: {} };
    },
  });
  pi.registerTool({
    name: "dep_manifest",
    label: "dep manifest",
    description: "reads, then tries to change, a dependency's package.json",
    parameters: Type.Object({ path: Type.String() }),
    async execute(_id: string, params: { path: string }) {
      const text = fs.readFileSync(params.path, "utf8");
      let write = "written";
      try { fs.writeFileSync(params.path, "{}"); } catch (e: any) { write = "refused"; }
      return { content: [{ type: "text", text: `${JSON.parse(text).name}:${write}` }], details: {} };
    },
  });
}
"""


def _publish_fixtures(registry: LocalRegistry, src: Path) -> None:
    write_package(src / "dep-b", {"name": "dep-b", "version": "1.0.0", "main": "index.js"},
                  {"index.js": "module.exports = { b: () => 'B' };\n"})
    # dep-a: an exports map with import/require conditions and a subpath; requires dep-b.
    write_package(src / "dep-a", {
        "name": "dep-a", "version": "1.0.0", "dependencies": {"dep-b": "^1.0.0"},
        "exports": {".": {"import": "./esm.mjs", "require": "./cjs.js"}, "./util": "./util.js"},
    }, {
        "esm.mjs": "import depB from 'dep-b';\nexport const a = () => 'A' + depB.b();\n",
        "cjs.js": "exports.a = () => 'cjs-A';\n",
        "util.js": "exports.helper = () => 'U';\n",
        "private.js": "exports.secret = 1;\n",
    })
    write_package(src / "peer-z", {"name": "peer-z", "version": "1.0.0", "main": "index.js"},
                  {"index.js": "exports.z = 'Z';\n"})
    write_package(src / "sibling", {"name": "sibling", "version": "1.0.0", "main": "index.js"},
                  {"index.js": "exports.stolen = 'SIBLING';\n"})
    write_package(src / "my-ext", {
        "name": "my-ext", "version": "1.0.0", "pi": {"extensions": ["./index.ts"]},
        "dependencies": {"dep-a": "^1.0.0"}, "peerDependencies": {"peer-z": "^1.0.0"},
    }, {"index.ts": EXT_SOURCE})
    # Imports a package that is installed next to it but that it does not declare.
    write_package(src / "greedy-ext", {
        "name": "greedy-ext", "version": "1.0.0", "pi": {"extensions": ["./index.ts"]},
        "dependencies": {"dep-b": "^1.0.0"},
    }, {"index.ts": "import { stolen } from 'sibling';\nexport default (pi: any) => { pi.x = stolen; };\n"})
    # Imports a path that dep-a's exports map does not export.
    write_package(src / "private-ext", {
        "name": "private-ext", "version": "1.0.0", "pi": {"extensions": ["./index.ts"]},
        "dependencies": {"dep-a": "^1.0.0"},
    }, {"index.ts": "import { secret } from 'dep-a/private.js';\nexport default (pi: any) => { pi.x = secret; };\n"})
    # Climbs out of its package with ../ to a file in the install root that belongs to nobody.
    write_package(src / "climber-ext", {
        "name": "climber-ext", "version": "1.0.0", "pi": {"extensions": ["./index.ts"]},
    }, {"index.ts": "import { v } from '../../loot.js';\nexport default (pi: any) => { pi.x = v; };\n"})
    # No pi manifest: its entry is the built dist/index.js (what @agentuity/pi ships), loaded by path or found in
    # the package folder; it imports its declared dependency and a file of its own package outside dist/.
    write_package(src / "dist-ext", {
        "name": "dist-ext", "version": "1.0.0", "main": "./dist/index.js", "type": "module",
        "dependencies": {"dep-b": "^1.0.0"},
    }, {
        "dist/index.js": (
            "import depB from 'dep-b';\nimport { tag } from '../lib/tag.js';\n"
            "export default function (pi) {\n"
            "  pi.registerTool({ name: 'dist_echo', label: 'dist', description: 'dep-b through a dist entry',\n"
            "    parameters: { type: 'object', properties: {} },\n"
            "    async execute() { return { content: [{ type: 'text', text: tag + depB.b() }], details: {} }; } });\n"
            "}\n"),
        "lib/tag.js": "export const tag = 'dist:';\n",
    })
    for name in ("dep-b", "dep-a", "peer-z", "sibling", "my-ext", "greedy-ext", "private-ext", "climber-ext",
                 "dist-ext"):
        registry.publish(src / name)


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Install every fixture in the three layouts once; maps layout → the folder holding my-ext."""
    base = tmp_path_factory.mktemp("layouts")
    registry = LocalRegistry(base / "npm-home")
    try:
        _publish_fixtures(registry, base / "src")
        packages = ("my-ext", "greedy-ext", "private-ext", "climber-ext", "sibling", "dist-ext")
        registry.npm("install", *packages, "--prefix", str(base / "hoisted"))
        registry.npm("install", *packages, "--prefix", str(base / "nested"), "--install-strategy=nested")
        registry.npm("install", "-g", *packages, "--prefix", str(base / "global"))
        for folder in ("hoisted", "nested", "global/lib"):
            (base / folder / "loot.js").write_text("exports.v = 'LOOT';\n", encoding="utf-8")
        yield {
            "hoisted": base / "hoisted" / "node_modules",
            "nested": base / "nested" / "node_modules",
            "global": base / "global" / "lib" / "node_modules",
        }
    finally:
        registry.close()


def _source(modules: Path, name: str) -> ExtensionSource:
    found, error = resolve_path(modules / name, modules)
    assert error is None and len(found) == 1, error
    return found[0]


LAYOUTS = ("hoisted", "nested", "global")


def test_npm_really_produced_the_three_layouts(layouts: dict[str, Path]) -> None:
    # Guards the premise of the other tests: dependencies next to the package, inside it, peer beside it.
    assert (layouts["hoisted"] / "dep-a").is_dir() and (layouts["hoisted"] / "dep-b").is_dir()
    assert (layouts["nested"] / "my-ext" / "node_modules" / "dep-a" / "node_modules" / "dep-b").is_dir()
    assert (layouts["nested"] / "peer-z").is_dir() and not (layouts["nested"] / "dep-a").exists()
    assert (layouts["global"] / "my-ext" / "node_modules" / "dep-a").is_dir()
    assert find_install_root(layouts["hoisted"] / "my-ext").kind == "project"
    assert find_install_root(layouts["global"] / "my-ext").path == layouts["global"].resolve()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_extension_with_dependencies_and_peer_loads_and_its_tool_runs(
    layout: str, layouts: dict[str, Path], make_host: MakeHost
) -> None:
    host = make_host()
    [ext] = host.load([_source(layouts[layout], "my-ext")])
    assert ext.status == "loaded", ext.error
    result = host.call_tool(ext.extension_id, "deps_echo", {})
    # The import condition picked esm.mjs (not cjs.js), which pulled dep-b through dep-a's own lookup.
    assert result["content"][0]["text"] == "AB|U|Z"
    assert ext.bundle is not None and {Path(d).name for d in ext.bundle.dependency_dirs} == {
        "dep-a", "dep-b", "peer-z"}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_dependency_packages_are_readable_but_not_writable(
    layout: str, layouts: dict[str, Path], make_host: MakeHost
) -> None:
    host = make_host()
    [ext] = host.load([_source(layouts[layout], "my-ext")])
    assert ext.status == "loaded", ext.error
    assert ext.bundle is not None
    dep_a = next(Path(d) for d in ext.bundle.dependency_dirs if Path(d).name == "dep-a")
    manifest = dep_a / "package.json"
    before = manifest.read_bytes()
    result = host.call_tool(ext.extension_id, "dep_manifest", {"path": str(manifest)})
    assert result["content"][0]["text"] == "dep-a:refused"
    assert manifest.read_bytes() == before
    # A package that is installed next to it but not a dependency stays unreadable.
    sibling = layouts[layout] / "sibling" / "package.json"
    denied = host.call_tool(ext.extension_id, "dep_manifest", {"path": str(sibling)})
    assert denied.get("isError") and "outside" in denied["content"][0]["text"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_undeclared_sibling_package_is_refused(
    layout: str, layouts: dict[str, Path], make_host: MakeHost
) -> None:
    host = make_host()
    source = _source(layouts[layout], "greedy-ext")
    [ext] = host.load([source])
    assert ext.status == "failed" and ext.error is not None
    # Node's lookup reaches `sibling` in every layout (beside it, or one level up); it is not declared.
    assert ext.error_code == "dependency_undeclared"
    assert "'sibling'" in ext.error and str(source.entry) in ext.error and "npm " in ext.error
    assert "SIBLING" not in str(ext.bundle.source if ext.bundle else "")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_relative_import_out_of_the_package_is_refused(
    layout: str, layouts: dict[str, Path], make_host: MakeHost
) -> None:
    host = make_host()
    [ext] = host.load([_source(layouts[layout], "climber-ext")])
    assert ext.status == "failed" and ext.error_code == "import_outside_root", ext.error
    assert "loot.js" in str(ext.error)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_path_the_exports_map_does_not_export_is_named(
    layout: str, layouts: dict[str, Path], make_host: MakeHost
) -> None:
    host = make_host()
    [ext] = host.load([_source(layouts[layout], "private-ext")])
    assert ext.status == "failed" and ext.error_code == "export_not_found", ext.error
    assert "'dep-a'" in str(ext.error) and "./private.js" in str(ext.error) and "./util" in str(ext.error)



@pytest.mark.parametrize("layout", LAYOUTS)
def test_entry_in_a_subfolder_of_a_package_uses_the_packages_dependencies(
    layout: str, layouts: dict[str, Path], make_host: MakeHost
) -> None:
    # The entry's own folder (dist/) has no package.json: the package's declares dep-b, and lib/ is the package's.
    entry = layouts[layout] / "dist-ext" / "dist" / "index.js"
    by_file, error = resolve_path(entry, layouts[layout])
    assert error is None
    host = make_host()
    loaded = host.load([_source(layouts[layout], "dist-ext"), *by_file])  # found in the folder, and named by path
    assert [e.status for e in loaded] == ["loaded", "loaded"], [e.error for e in loaded]
    for ext in loaded:
        assert host.call_tool(ext.extension_id, "dist_echo", {})["content"][0]["text"] == "dist:B"
