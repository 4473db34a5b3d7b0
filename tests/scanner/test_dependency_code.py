"""Real dependency code the install scan met (issue 12): TypeScript type-position ``import()``, a
dependency's own test files, lodash's ``getNative(root, 'Map')``. None of them loads or hides anything;
the same techniques where they do run stay forbidden."""

from __future__ import annotations

from pathlib import Path

from pi_sandbox.scanner.walker import scan_path


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def forbidden(root: Path) -> list[tuple[str, str, int]]:
    return sorted((f.rule_id, f.file, f.line) for f in scan_path(root).findings
                  if f.cls == "forbidden" and f.context in ("extension", "dependency"))


def test_type_position_import_loads_nothing_but_a_value_import_does(tmp_path: Path) -> None:
    # As in @anthropic-ai/sdk/src/internal/types.ts: types probed from folders above the package.
    types = "\n".join([
        "type A = NotAny<import('../../../../../x').RequestInit> | import('../../../../../y').T;",
        "type B = typeof import('../../../../../z');",
        "let c: import('../../../../../c').T;",
        "function f(a: Array<import('../../../../../d').R>): import('../../../../../e').S {",
        "  return a as import('../../../../../f').U;\n}",
        "interface I { p: import('../../../../../g').V }",
        "export const h = 1 satisfies import('../../../../../h').X;",
        "export {};",
    ]) + "\n"
    code = "\n".join([
        "export const v = import('../../../../../v');",
        "export const w = (import('../../../../../w') as unknown);",
        "export const s = (await import('../../../../../s')) satisfies unknown;",
    ]) + "\n"
    root = write(tmp_path / "ext", {"index.ts": "export {};\n",
                                    "node_modules/sdk/src/internal/types.ts": types,
                                    "node_modules/sdk/src/internal/code.ts": code})
    assert forbidden(root) == [("MODULE_OUTSIDE_ROOT", "node_modules/sdk/src/internal/code.ts", n)
                               for n in (1, 2, 3)]


def test_a_dependencys_unimported_test_files_are_reported_apart(tmp_path: Path) -> None:
    pollution = "const bad = JSON.parse('{\"__proto__\": {\"polluted\": 1}}');\nObject.prototype.x = 1;\n"
    root = write(tmp_path / "ext", {
        "index.ts": "import { z } from 'zod';\nexport default z;\n",
        "node_modules/zod/index.js": "export const z = 1;\n",
        "node_modules/zod/src/v3/tests/record.test.ts": pollution,
        "node_modules/zod/__tests__/helper.js": pollution,
    })
    report = scan_path(root)
    contexts = {f.file: f.context for f in report.all_findings}
    assert contexts == {"node_modules/zod/src/v3/tests/record.test.ts": "test_fixture",
                        "node_modules/zod/__tests__/helper.js": "test_fixture"}
    assert report.verdict != "fail"


def test_a_test_file_a_dependency_imports_and_a_package_named_test_are_code(tmp_path: Path) -> None:
    root = write(tmp_path / "ext", {
        "index.js": "require('dep'); require('test');\n",
        "node_modules/dep/index.js": "require('./spec/setup.spec.js');\n",
        "node_modules/dep/spec/setup.spec.js": "Object.prototype.polluted = 1;\n",
        "node_modules/test/index.js": "Object.prototype.polluted = 2;\n",
    })
    assert forbidden(root) == [("PROTOTYPE_POLLUTION", "node_modules/dep/spec/setup.spec.js", 1),
                               ("PROTOTYPE_POLLUTION", "node_modules/test/index.js", 1)]


def test_inert_constructor_read_by_computed_name_is_not_obfuscation(tmp_path: Path) -> None:
    # lodash-es: getNative(root, 'Map') reads root[key] through a helper.
    root = write(tmp_path / "ext", {
        "getValue.js": "export default function getValue(o, k) { return o == null ? undefined : o[k]; }\n",
        "index.js": "\n".join([
            "import getValue from './getValue.js';",
            "const root = globalThis;",
            "export const M = getValue(root, 'Map'), S = getValue(root, 'Set'), P = getValue(root, 'Promise');",
            "export const hidden = getValue(root, 'process');",
            "const k = 'Ma' + 'p';",
            "root[k].prototype.get = function () {};",
            "root[k].constructor('return 1')();",
        ]) + "\n",
    })
    assert forbidden(root) == [("FUNCTION_CONSTRUCTOR", "index.js", 7), ("OBFUSCATED_ACCESS", "index.js", 4),
                               ("OBFUSCATED_ACCESS", "index.js", 6), ("OBFUSCATED_ACCESS", "index.js", 7),
                               ("PROTOTYPE_POLLUTION", "index.js", 6)]


def test_a_helper_exported_as_export_default_function_is_followed(tmp_path: Path) -> None:
    root = write(tmp_path / "ext", {
        "get.js": "export default function get(o, k) { return o == null ? undefined : o[k]; }\n",
        "index.js": "import get from './get.js';\nconst p = get(globalThis, 'process');\np.binding('fs');\n",
    })
    assert ("PROCESS_BINDING", "index.js", 3) in forbidden(root)
