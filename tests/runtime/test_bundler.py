"""esbuild bundling: TS/ESM/CJS, multi-file, confinement to the extension root, content-hash cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.runtime.conftest import write_file

from pi_sandbox.errors import ExtensionLoadError
from pi_sandbox.runtime.bundler import Bundler
from pi_sandbox.runtime.depcheck import check_graph
from pi_sandbox.runtime.modules import load_module_table
from pi_sandbox.runtime.toolchain import Toolchain, default_toolchain
from pi_sandbox.scanner.packages import plan_dependencies


@pytest.fixture()
def bundler(tmp_path: Path) -> Bundler:
    tc = default_toolchain()
    return Bundler(tc, tmp_path / "cache", load_module_table(tc))


def test_typescript_multi_file_bundle_keeps_builtins_external(bundler: Bundler, tmp_path: Path) -> None:
    root = tmp_path / "ext"
    write_file(root / "util.ts", "export const shout = (s: string): string => s.toUpperCase();\n")
    entry = write_file(
        root / "index.ts",
        """
        import { shout } from "./util";
        import * as fs from "node:fs";
        import { Type } from "@sinclair/typebox";
        enum Mode { A = 1 }
        export default function (pi: any) { pi.x = [shout("a"), Mode.A, fs, Type]; }
        """,
    )
    bundle = bundler.bundle(entry, root)
    assert 'from "node:fs"' in bundle.source and 'from "@sinclair/typebox"' in bundle.source
    assert "toUpperCase" in bundle.source
    assert not bundle.cached
    assert {Path(p).name for p in bundle.inputs} == {"index.ts", "util.ts"}


def test_commonjs_require_of_builtins_gets_static_imports(bundler: Bundler, tmp_path: Path) -> None:
    entry = write_file(
        tmp_path / "cjs" / "index.js",
        """
        const path = require("path");
        module.exports = function (pi) { pi.joined = path.join("a", "b"); };
        """,
    )
    source = bundler.bundle(entry, entry.parent).source
    assert source.startswith("import") and '"path"' in source.split("\n", 3)[1] + source.split("\n", 3)[0]
    assert "globalThis.require" in source


def test_relative_import_outside_root_is_rejected(bundler: Bundler, tmp_path: Path) -> None:
    write_file(tmp_path / "secret.ts", "export const key = 'outside';\n")
    entry = write_file(tmp_path / "ext" / "index.ts", 'import { key } from "../secret";\nexport default () => key;\n')
    with pytest.raises(ExtensionLoadError, match="outside the extension root"):
        bundler.bundle(entry, entry.parent)


def test_symlink_escaping_the_root_is_rejected(bundler: Bundler, tmp_path: Path) -> None:
    write_file(tmp_path / "elsewhere" / "lib.ts", "export const v = 1;\n")
    root = tmp_path / "ext"
    root.mkdir()
    os.symlink(tmp_path / "elsewhere" / "lib.ts", root / "lib.ts")
    entry = write_file(root / "index.ts", 'import { v } from "./lib";\nexport default () => v;\n')
    with pytest.raises(ExtensionLoadError, match="outside the extension root"):
        bundler.bundle(entry, root)


def test_absolute_path_import_is_rejected(bundler: Bundler, tmp_path: Path) -> None:
    target = write_file(tmp_path / "abs" / "x.js", "export const x = 1;\n")
    entry = write_file(tmp_path / "ext" / "index.js", f'import {{ x }} from "{target}";\nexport default () => x;\n')
    with pytest.raises(ExtensionLoadError, match="outside the extension root"):
        bundler.bundle(entry, entry.parent)


def test_own_node_modules_are_bundled(bundler: Bundler, tmp_path: Path) -> None:
    root = tmp_path / "withdeps"
    write_file(root / "node_modules" / "left-pad" / "package.json", '{"name":"left-pad","main":"index.js"}')
    write_file(root / "node_modules" / "left-pad" / "index.js", "module.exports = (s) => 'LEFTPAD_MARKER' + s;\n")
    entry = write_file(root / "index.ts", 'import pad from "left-pad";\nexport default () => pad("x");\n')
    assert "LEFTPAD_MARKER" in bundler.bundle(entry, root).source


def test_syntax_error_names_the_file(bundler: Bundler, tmp_path: Path) -> None:
    entry = write_file(tmp_path / "bad" / "index.ts", "export default function (pi) { pi.on( }\n")
    with pytest.raises(ExtensionLoadError) as info:
        bundler.bundle(entry, entry.parent)
    assert str(entry.resolve()) in str(info.value) and "bundling failed" in str(info.value)


def test_cache_hits_until_an_input_changes(bundler: Bundler, tmp_path: Path) -> None:
    root = tmp_path / "cached"
    write_file(root / "dep.ts", "export const n = 1;\n")
    entry = write_file(root / "index.ts", 'import { n } from "./dep";\nexport default () => n;\n')
    first = bundler.bundle(entry, root)
    second = bundler.bundle(entry, root)
    assert second.cached and second.sha256 == first.sha256 and second.source == first.source
    write_file(root / "dep.ts", "export const n = 2;\n")
    third = bundler.bundle(entry, root)
    assert not third.cached and third.sha256 != first.sha256


def test_tampered_cache_entry_is_rebuilt(bundler: Bundler, tmp_path: Path) -> None:
    entry = write_file(tmp_path / "t" / "index.ts", "export default () => 1;\n")
    first = bundler.bundle(entry, entry.parent)
    (bundler.cache_dir / f"{first.sha256}.mjs").write_text("export default () => 'evil';\n", encoding="utf-8")
    again = bundler.bundle(entry, entry.parent)
    assert not again.cached and "evil" not in again.source


def test_check_graph_accepts_inside_and_disabled_stubs(tmp_path: Path) -> None:
    root = tmp_path / "ext"
    write_file(root / "a.ts", "x")
    plan = plan_dependencies(root)
    assert check_graph({"a.ts": {}, "(disabled):fs": {}}, root, plan) == [(root / "a.ts").resolve()]
    write_file(tmp_path / "b.ts", "x")
    with pytest.raises(ExtensionLoadError) as info:
        check_graph({"../b.ts": {}}, root, plan)
    assert info.value.reason == "import_outside_root"


def test_check_graph_reads_the_file_of_an_input_imported_with_attributes(tmp_path: Path) -> None:
    root = tmp_path / "ext"
    write_file(root / "a.json", "{}")
    write_file(tmp_path / "b.json", "{}")
    plan = plan_dependencies(root)
    assert check_graph({"a.json with { type: 'json' }": {}}, root, plan) == [(root / "a.json").resolve()]
    with pytest.raises(ExtensionLoadError) as info:
        check_graph({"../b.json with { type: 'json' }": {}}, root, plan)
    assert info.value.reason == "import_outside_root"
    with pytest.raises(ExtensionLoadError, match="unsupported namespace"):  # a path in the attributes is no suffix
        check_graph({"a.json with { type: '/../../b' }": {}, "x:y": {}}, root, plan)


def test_each_commonjs_module_sees_its_own_dirname(bundler: Bundler, tmp_path: Path) -> None:
    root = tmp_path / "ext"
    write_file(root / "package.json", '{"name": "ext", "dependencies": {"dep": "1.0.0"}}')
    write_file(root / "node_modules" / "dep" / "package.json", '{"name": "dep", "version": "1.0.0"}')
    write_file(root / "node_modules" / "dep" / "index.js",
               "exports.dir = __dirname; exports.file = __filename;\n"
               "exports.own = (() => { const __dirname = 'mine'; return __dirname; })();\n")
    entry = write_file(root / "index.ts", "import * as d from 'dep';\nexport const here = [__dirname, __filename];\n"
                                          "export default d;\n")
    source = bundler.bundle(entry, root).source
    dep = root.resolve() / "node_modules" / "dep"
    assert f'var __pi_dirname = "{dep}", __pi_filename = "{dep / "index.js"}";' in source
    assert source.startswith(f'var __pi_dirname = "{root.resolve()}", __pi_filename = "{entry.resolve()}";')
    assert 'const __dirname2 = "mine";' in source  # a name the file binds itself is its own


def test_missing_toolchain_says_run_pi_setup(tmp_path: Path) -> None:
    with pytest.raises(ExtensionLoadError, match="run `pi-sandbox setup`"):
        Toolchain(tmp_path / "nowhere").require_installed()


def test_setup_without_npm_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pi_sandbox.errors import ToolchainSetupError
    from pi_sandbox.runtime.toolchain import setup_toolchain

    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(ToolchainSetupError, match="npm is not installed"):
        setup_toolchain(Toolchain(tmp_path))


def test_template_literals_are_lowered_for_the_engine(bundler: Bundler, tmp_path: Path) -> None:
    """QuickJS-ng's look-ahead scan misreads a `/` after a template literal in some large modules (jsdom failed to
    parse): bundles carry string concatenation instead of template literals."""
    entry = write_file(tmp_path / "ext" / "index.ts",
                       "const n = 'f';\nexport const alpha = (`0x${n}${n}` as any) / 255;\n"
                       "export default function (pi: any) { pi.on('x', () => `a${alpha}`); }\n")
    source = bundler.bundle(entry, tmp_path / "ext").source
    body = source[source.index("var n"):]
    assert "`" not in body and "\"0x\".concat(n).concat(n)" in body, body
