"""Generated module sources for real npm packages served to extensions: TypeBox and the Node polyfills.

Two TypeBox lines are served, each the real package pinned in the toolchain lockfile: 0.34 as
``@sinclair/typebox`` (what extensions for pi before the ``@earendil-works`` rename import) and 1.x as
``typebox`` (what newer ones import: a different API, e.g. ``typebox/value`` exports ``Check`` and
``Errors`` as functions). All sub-path modules of one line re-export from ONE shared bundle (module id
``pi:typebox`` / ``pi:typebox1``), so ``@sinclair/typebox`` and ``@sinclair/typebox/value`` share one
``TypeRegistry`` and schemas made by one are understood by the other, as in Node.

Pure-JS Node builtins (``buffer``, ``events``, ``util``, ``stream``, ...) are maintained npm packages pinned in
the toolchain's lockfile (see ``POLYFILLS``). Each is served through a small hand-written ESM wrapper in
``js/polyfills/`` (Node's export names, the few APIs the package lacks) that esbuild bundles with every other
builtin left external, so ``readable-stream`` and ``assert`` use the served ``buffer``/``events``/``util``
instances instead of private copies. esbuild turns a ``require`` of an external into a call of a global
``require``; each output gets a module-local ``require`` over static imports of those ids (the engine has no
synchronous loading).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pi_sandbox.errors import ExtensionLoadError
from pi_sandbox.runtime.toolchain import Toolchain


@dataclass(frozen=True)
class SharedPackage:
    """A package served as one shared bundle plus one thin module per sub-path (one instance, as in Node)."""

    package: str
    shared_id: str
    shared_file: str
    #: npm sub-path → generated file name (module id = package + "/" + sub-path). Names match the module README.
    subpaths: dict[str, str]

    def module_id(self, subpath: str) -> str:
        return self.package + (f"/{subpath}" if subpath else "")


TYPEBOX = SharedPackage("@sinclair/typebox", "pi:typebox", "sinclair_typebox_shared.js", {
    "": "sinclair_typebox.js", "value": "sinclair_typebox_value.js", "compiler": "sinclair_typebox_compiler.js",
    "errors": "sinclair_typebox_errors.js", "system": "sinclair_typebox_system.js", "type": "sinclair_typebox_type.js",
})
#: TypeBox 1.x, every sub-path its package.json exports.
TYPEBOX1 = SharedPackage("typebox", "pi:typebox1", "typebox1_shared.js", {
    "": "typebox.js", "compile": "typebox_compile.js", "error": "typebox_error.js", "format": "typebox_format.js",
    "guard": "typebox_guard.js", "schema": "typebox_schema.js", "system": "typebox_system.js",
    "type": "typebox_type.js", "value": "typebox_value.js",
})
SHARED_PACKAGES: tuple[SharedPackage, ...] = (TYPEBOX, TYPEBOX1)
SHARED_ID = TYPEBOX.shared_id
_STAMP = "stamp.json"
POLYFILL_DIR = Path(__file__).resolve().parent / "js" / "polyfills"


@dataclass(frozen=True)
class Polyfill:
    """A Node builtin served from a maintained npm package through a wrapper in ``js/polyfills/``."""

    module_id: str
    package: str
    wrapper: str

    @property
    def out_file(self) -> str:
        return "node_" + self.module_id.replace("/", "_") + ".js"


#: Builtin id → npm package (pinned in the toolchain lockfile) and its wrapper. docs/extension-modules.md says
#: which builtins stay hand-written and why.
POLYFILLS: tuple[Polyfill, ...] = (
    Polyfill("buffer", "buffer", "buffer.js"),
    Polyfill("events", "events", "events.js"),
    Polyfill("path", "path-browserify", "path.js"),
    Polyfill("string_decoder", "string_decoder", "string_decoder.js"),
    Polyfill("querystring", "querystring-es3", "querystring.js"),
    Polyfill("punycode", "punycode", "punycode.js"),
    Polyfill("stream", "readable-stream", "stream.js"),
    Polyfill("assert", "assert", "assert.js"),
)
_EXTERNAL_REQUIRE = re.compile(r"""__require\(\s*(["'])([^"'\\]+)\1\s*\)""")


def _alias(subpath: str) -> str:
    return "m_" + (subpath or "root")


def _run_esbuild(tc: Toolchain, workdir: Path, args: list[str]) -> None:
    proc = subprocess.run(
        [str(tc.esbuild), *args, "--log-level=error"],
        cwd=workdir,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "NODE_PATH": str(tc.node_modules)},
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise ExtensionLoadError(f"building a vendored module failed: {proc.stderr.strip()[:500]}")


def vendor_modules(out_dir: Path) -> dict[str, Path]:
    """Module id → generated file for every vendored module (files may not exist yet)."""
    table: dict[str, Path] = {}
    for shared in SHARED_PACKAGES:
        table[shared.shared_id] = out_dir / shared.shared_file
        for subpath, file_name in shared.subpaths.items():
            table[shared.module_id(subpath)] = out_dir / file_name
    for polyfill in POLYFILLS:
        table[polyfill.module_id] = out_dir / polyfill.out_file
    return table


def _stamp(tc: Toolchain, builtins: list[str]) -> dict[str, object]:
    """What the generated files depend on: package versions and the wrappers' content."""
    wrappers = hashlib.sha256()
    for polyfill in POLYFILLS:
        wrappers.update(polyfill.wrapper.encode() + b"\0" + (POLYFILL_DIR / polyfill.wrapper).read_bytes())
    return {
        "shared": {p.package: tc.package_version(p.package) for p in SHARED_PACKAGES},
        "esbuild": tc.package_version("esbuild"),
        "polyfills": {p.package: tc.package_version(p.package) for p in POLYFILLS},
        "wrappers": wrappers.hexdigest(),
        "builtins": builtins,
        "format": 6,  # bump when the build flags change
    }


def build_vendor_modules(tc: Toolchain, out_dir: Path, builtin_ids: Iterable[str] = ()) -> dict[str, Path]:
    """Build (or reuse) the TypeBox and polyfill modules into ``out_dir``; returns module id → file.

    ``builtin_ids`` are the ids the runtime serves: a polyfill's imports of them stay external (one instance).
    """
    builtins = sorted({i for i in builtin_ids if not i.startswith(("pi:", "ext:", "@", "node:")) and "#" not in i}
                      | {p.module_id for p in POLYFILLS})
    stamp = _stamp(tc, builtins)
    table = vendor_modules(out_dir)
    stamp_file = out_dir / _STAMP
    try:
        if json.loads(stamp_file.read_text(encoding="utf-8")) == stamp and all(
            p.is_file() for p in table.values()
        ):
            return table
    except (OSError, ValueError):
        pass
    out_dir.mkdir(parents=True, exist_ok=True)
    for shared in SHARED_PACKAGES:
        _build_shared(tc, table, shared)
    _build_polyfills(tc, table, builtins)
    _replace(stamp_file, json.dumps(stamp))
    return table


def _build_shared(tc: Toolchain, table: dict[str, Path], shared: SharedPackage) -> None:
    with tempfile.TemporaryDirectory(dir=tc.root) as tmp:
        work = Path(tmp)
        # 1. export names of every sub-path (esbuild's metafile lists an output's exports).
        entries = []
        for subpath in shared.subpaths:
            entry = work / f"names_{_alias(subpath)}.js"
            entry.write_text(f'export * from "{shared.module_id(subpath)}";\n', encoding="utf-8")
            entries.append(entry.name)
        _run_esbuild(
            tc, work, [*entries, "--bundle", "--format=esm", "--outdir=names", "--metafile=names.json"]
        )
        meta = json.loads((work / "names.json").read_text(encoding="utf-8"))
        exports: dict[str, list[str]] = {}
        for output in meta["outputs"].values():
            entry_point = str(output.get("entryPoint", ""))
            for subpath in shared.subpaths:
                if entry_point.endswith(f"names_{_alias(subpath)}.js"):
                    exports[subpath] = sorted(output.get("exports", []))
        # 2. one shared bundle holding every sub-path as a namespace.
        shared_entry = work / "shared.js"
        shared_entry.write_text(
            "".join(f'export * as {_alias(s)} from "{shared.module_id(s)}";\n' for s in shared.subpaths),
            encoding="utf-8",
        )
        _run_esbuild(
            tc,
            work,
            [
                "shared.js",
                "--bundle",
                "--format=esm",
                "--target=es2023",
                "--minify-whitespace",
                "--minify-syntax",
                f"--outfile={work / shared.shared_file}",
            ],
        )
        _replace(table[shared.shared_id], (work / shared.shared_file).read_text(encoding="utf-8"))
    # 3. thin wrappers: named re-exports of the shared namespaces.
    for subpath in shared.subpaths:
        module_id = shared.module_id(subpath)
        names = [n for n in exports.get(subpath, []) if n != "default"]
        alias = _alias(subpath)
        lines = [f'import {{ {alias} as __ns }} from "{shared.shared_id}";\n']
        if names:
            lines.append(f"export const {{ {', '.join(names)} }} = __ns;\n")
        # `export *` leaves `default` out of the listed names, but the namespace holds it when the module has one
        # (TypeBox 1.x default-exports Type and Value); without one, the namespace is the default, as in Node's
        # CommonJS interop.
        lines.append('export default ("default" in __ns ? __ns.default : __ns);\n')
        _replace(table[module_id], "".join(lines))


def _build_polyfills(tc: Toolchain, table: dict[str, Path], builtins: list[str]) -> None:
    with tempfile.TemporaryDirectory(dir=tc.root) as tmp:
        work = Path(tmp)
        for polyfill in POLYFILLS:
            # Every builtin but the package itself stays external ("buffer/" = the npm package in browser code).
            served = {*builtins, *(f"{b}/" for b in builtins), "pi:*"}
            externals = sorted(served - {polyfill.package, polyfill.module_id})
            out = work / polyfill.out_file
            _run_esbuild(tc, POLYFILL_DIR, [
                polyfill.wrapper, "--bundle", "--format=esm", "--platform=neutral", "--target=es2023",
                "--main-fields=browser,module,main", "--minify-syntax", "--minify-whitespace", f"--outfile={out}",
                *(f"--external:{e}" for e in externals),
            ])
            _replace(table[polyfill.module_id], _with_require(out.read_text(encoding="utf-8")))


def _with_require(source: str) -> str:
    """Give a bundle a module-local ``require`` over static imports of the external ids it requires."""
    wanted = sorted({m.group(2) for m in _EXTERNAL_REQUIRE.finditer(source)})
    if not wanted:
        return source
    lines = [f"import * as __pi_ext_{n} from {json.dumps(i.rstrip('/'))};\n" for n, i in enumerate(wanted)]
    cases = "".join(f"    case {json.dumps(i)}: return __pi_cjs(__pi_ext_{n});\n" for n, i in enumerate(wanted))
    lines.append(
        "const __pi_cjs = (ns) => (ns.default !== undefined ? ns.default : ns);\n"
        "const require = (id) => {\n  switch (id) {\n" + cases +
        "  }\n  throw new Error(`pi-sandbox: cannot require('${id}') from a served module`);\n};\n"
    )
    return "".join(lines) + source


def _replace(path: Path, text: str) -> None:
    """Write a file atomically (a concurrent loader never reads half a module)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
