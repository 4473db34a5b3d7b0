"""Generated module sources for real npm packages served to extensions (TypeBox).

All TypeBox sub-path modules re-export from ONE shared bundle (module id ``pi:typebox``), so
``@sinclair/typebox`` and ``@sinclair/typebox/value`` share one ``TypeRegistry`` and schemas made
by one are understood by the other, as in Node.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from pi_sandbox.errors import ExtensionLoadError
from pi_sandbox.runtime.toolchain import Toolchain

SHARED_ID = "pi:typebox"
SHARED_FILE = "sinclair_typebox_shared.js"
#: npm sub-path → (module id, generated file name). File names match the shims' module README.
TYPEBOX_SUBPATHS: dict[str, tuple[str, str]] = {
    "": ("@sinclair/typebox", "sinclair_typebox.js"),
    "value": ("@sinclair/typebox/value", "sinclair_typebox_value.js"),
    "compiler": ("@sinclair/typebox/compiler", "sinclair_typebox_compiler.js"),
    "errors": ("@sinclair/typebox/errors", "sinclair_typebox_errors.js"),
    "system": ("@sinclair/typebox/system", "sinclair_typebox_system.js"),
    "type": ("@sinclair/typebox/type", "sinclair_typebox_type.js"),
}
_STAMP = "stamp.json"


def _alias(subpath: str) -> str:
    return "m_" + (subpath or "root")


def _spec(subpath: str) -> str:
    return "@sinclair/typebox" + (f"/{subpath}" if subpath else "")


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
        raise ExtensionLoadError(f"building the TypeBox module failed: {proc.stderr.strip()[:500]}")


def vendor_modules(out_dir: Path) -> dict[str, Path]:
    """Module id → generated file for every vendored module (files may not exist yet)."""
    table = {SHARED_ID: out_dir / SHARED_FILE}
    for module_id, file_name in TYPEBOX_SUBPATHS.values():
        table[module_id] = out_dir / file_name
    return table


def build_vendor_modules(tc: Toolchain, out_dir: Path) -> dict[str, Path]:
    """Build (or reuse) the TypeBox modules into ``out_dir``; returns module id → file."""
    version = tc.package_version("@sinclair/typebox")
    stamp = {"typebox": version, "esbuild": tc.package_version("esbuild"), "format": 2}
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
    with tempfile.TemporaryDirectory(dir=tc.root) as tmp:
        work = Path(tmp)
        # 1. export names of every sub-path (esbuild's metafile lists an output's exports).
        entries = []
        for subpath in TYPEBOX_SUBPATHS:
            entry = work / f"names_{_alias(subpath)}.js"
            entry.write_text(f'export * from "{_spec(subpath)}";\n', encoding="utf-8")
            entries.append(entry.name)
        _run_esbuild(
            tc, work, [*entries, "--bundle", "--format=esm", "--outdir=names", "--metafile=names.json"]
        )
        meta = json.loads((work / "names.json").read_text(encoding="utf-8"))
        exports: dict[str, list[str]] = {}
        for output in meta["outputs"].values():
            entry_point = str(output.get("entryPoint", ""))
            for subpath in TYPEBOX_SUBPATHS:
                if entry_point.endswith(f"names_{_alias(subpath)}.js"):
                    exports[subpath] = sorted(output.get("exports", []))
        # 2. one shared bundle holding every sub-path as a namespace.
        shared_entry = work / "shared.js"
        shared_entry.write_text(
            "".join(f'export * as {_alias(s)} from "{_spec(s)}";\n' for s in TYPEBOX_SUBPATHS),
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
                f"--outfile={work / SHARED_FILE}",
            ],
        )
        _replace(table[SHARED_ID], (work / SHARED_FILE).read_text(encoding="utf-8"))
    # 3. thin wrappers: named re-exports of the shared namespaces.
    for subpath, (module_id, _file) in TYPEBOX_SUBPATHS.items():
        names = [n for n in exports.get(subpath, []) if n != "default"]
        alias = _alias(subpath)
        lines = [f'import {{ {alias} as __ns }} from "{SHARED_ID}";\n']
        if names:
            lines.append(f"export const {{ {', '.join(names)} }} = __ns;\n")
        lines.append(
            "export default __ns;\n"
            if "default" not in exports.get(subpath, [])
            else "export default __ns.default;\n"
        )
        _replace(table[module_id], "".join(lines))
    _replace(stamp_file, json.dumps(stamp))
    return table


def _replace(path: Path, text: str) -> None:
    """Write a file atomically (a concurrent loader never reads half a module)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
