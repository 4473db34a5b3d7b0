"""Bundle one extension into a single ES module with esbuild, confined to its folder and dependencies.

TypeScript, ESM and CommonJS sources and the extension's npm dependencies are bundled, resolved as
Node resolves them (:mod:`.depcheck`); node builtins, the pi packages and TypeBox stay external
imports that the engine's module table serves, and so do native addons (``*.node``), which cannot
run in the engine. Every file esbuild read (the metafile's inputs) must lie inside the extension's
install root and inside its own folder or one of its dependency packages after symlinks are
resolved, otherwise the load fails and nothing of the bundle reaches a worker.

Bundles are cached under ``<state_dir>/bundle-cache/`` keyed by content: a manifest per entry
records the SHA-256 of every input, and the cached bundle is reused only while all of them match.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pi_sandbox.errors import ExtensionLoadError
from pi_sandbox.hashing import sha256_hex
from pi_sandbox.runtime.depcheck import check_graph, diagnose_unresolved
from pi_sandbox.runtime.interop import cjs_aliases, native_externals
from pi_sandbox.runtime.modules import HOST_PACKAGES, HOST_PATTERNS, SEAL_MARK, ModuleTable, is_internal
from pi_sandbox.runtime.snapshot import VerifiedFiles, snapshot_path
from pi_sandbox.runtime.toolchain import Toolchain
from pi_sandbox.scanner.packages import DependencyPlan, plan_dependencies, within

_FORMAT = 9  # bump when the bundle post-processing changes
# Node's resolution: the `node` condition (with import/require/default), `main` before `module`.
_ESBUILD_FLAGS = (
    "--bundle",
    "--format=esm",
    "--platform=neutral",
    "--conditions=node",
    "--main-fields=main,module",
    "--target=es2023",
    "--jsx=automatic",
    "--charset=utf8",
    "--log-level=error",
    "--resolve-extensions=.ts,.tsx,.mts,.cts,.js,.mjs,.cjs,.jsx,.json",
    "--external:*.node",
    # Template literals become string concatenation: QuickJS-ng's look-ahead scan (arrow / destructuring
    # detection) takes the `/` after a template literal for the start of a regexp in some large modules, so jsdom
    # failed to parse ("unexpected line terminator in regexp") though each function parses alone.
    "--supported:template-literal=false",
)
#: The one internal module a bundle imports: the first line the bundler prepends for CommonJS
#: ``require`` (the host points it at the sealed name, see ``sealed_bundle``).
REQUIRE_MODULE = "pi:require"
REQUIRE_IMPORT = f'import * as __pi_require_mod from "{REQUIRE_MODULE}";\n'
_REQUIRE_CALL = re.compile(r"""\b(?:__require|require)\(\s*(["'])([^"'\\\n]+)\1\s*\)""")
#: ``require`` used other than as a call of a builtin id: ``require.resolve(...)``, ``typeof require`` (not the
#: ``function __require()`` esbuild names its CommonJS wrapper).
_REQUIRE_USE = re.compile(r"(?<!function )(?<![\w$.\"'`])(?:__require|require)\s*(?:\.\s*[A-Za-z_$]|\((?!\) \{))"
                          r"|\btypeof\s+(?:__require|require)\b")


@dataclass(frozen=True)
class Bundle:
    """One extension bundled into a single module."""

    source: str
    sha256: str
    inputs: tuple[str, ...]
    cached: bool
    #: Module ids the bundle imports statically from the runtime's module table (or fails to).
    static_imports: tuple[str, ...] = ()
    #: The extension's dependency closure (package folders it may read, never write).
    dependency_dirs: tuple[str, ...] = ()


def _externals(table: ModuleTable) -> list[str]:
    ids = set(table.public_ids) | set(HOST_PACKAGES)
    patterns = set(HOST_PATTERNS)
    # Internal ids stay external too, so the metafile lists them and the load is refused with a
    # clear error (``refuse_internal_imports``) instead of esbuild's "could not resolve".
    return [f"--external:{i}" for i in sorted(ids | patterns) if not i.startswith("ext:")] + ["--external:pi:*"]


def refuse_internal_imports(metafile: dict[str, object], entry: Path) -> None:
    """``ExtensionLoadError`` (``internal_module``) when the bundle imports a runtime-internal module."""
    outputs = metafile.get("outputs")
    for output in outputs.values() if isinstance(outputs, dict) else ():
        for item in output.get("imports", []) if isinstance(output, dict) else ():
            path = str(item.get("path")) if isinstance(item, dict) else ""
            if isinstance(item, dict) and item.get("external") and is_internal(path):
                raise ExtensionLoadError(
                    f"{entry}: imports '{path}', a module internal to the pi-sandbox runtime; extensions may "
                    "only import node builtins, the pi packages, TypeBox and their own files",
                    reason="internal_module",
                )


def _location_defines(entry: Path) -> list[str]:
    """``import.meta.url`` / ``__dirname`` and friends, which the engine does not provide.

    ``import.meta.*`` is the entry's location in every file (an ES module is not wrapped in a bundle, so
    nothing can tell its files apart): what extensions use it for is finding files shipped next to the
    entry. ``__dirname`` / ``__filename`` become variables that :func:`_module_locations` sets per
    CommonJS module, so a bundled dependency finds its own files (a name the file binds itself is
    left alone by esbuild).
    """
    values = {
        "import.meta.url": json.dumps(entry.as_uri()),
        "import.meta.filename": json.dumps(str(entry)),
        "import.meta.dirname": json.dumps(str(entry.parent)),
        "import.meta.resolve": _META_RESOLVE_VAR,
        "__filename": _FILENAME_VAR,
        "__dirname": _DIRNAME_VAR,
    }
    return [f"--define:{name}={value}" for name, value in values.items()]


_DIRNAME_VAR = "__pi_dirname"
_FILENAME_VAR = "__pi_filename"
# esbuild wraps each CommonJS module as `__commonJS({\n  "<path relative to cwd>"(exports, module) {\n`.
_CJS_WRAPPER = re.compile(r'(__commonJS\(\{\n[ \t]*)("(?:[^"\\\n]|\\.)*")(\([\w, ]*\) \{\n)')


def _location_vars(file: Path) -> str:
    return f"var {_DIRNAME_VAR} = {json.dumps(str(file.parent))}, {_FILENAME_VAR} = {json.dumps(str(file))};\n"


def _module_locations(body: str, entry: Path, root: Path) -> str:
    """The entry's ``__dirname`` for the bundle, and each CommonJS module's own inside its wrapper."""
    def own(match: re.Match[str]) -> str:
        try:
            file = (root / json.loads(match.group(2))).resolve()
        except (ValueError, TypeError):
            return match.group(0)
        return match.group(0) + _location_vars(file) if within(file, root) else match.group(0)

    meta = _meta_resolve(entry) if _META_RESOLVE_VAR in body else ""
    return _location_vars(entry) + meta + _CJS_WRAPPER.sub(own, body)


_META_RESOLVE_VAR = "__pi_meta_resolve"


def _meta_resolve(entry: Path) -> str:
    """``import.meta.resolve`` (Node 20): a path or URL against the entry's URL, a builtin to its ``node:`` id.
    A bare package name has no file the bundle could load later, so it fails like Node's unresolvable one."""
    url = json.dumps(entry.as_uri())
    return (
        f"var {_META_RESOLVE_VAR} = (s) => {{ s = String(s);\n"
        "  if (/^(\\.{1,2}\\/|\\/|[a-z][a-z0-9+.-]*:)/i.test(s)) return new URL(s, " + url + ").href;\n"
        "  if (__pi_is_builtin(s)) return s.startsWith('node:') ? s : 'node:' + s;\n"
        "  throw Object.assign(new Error(`Cannot find package '${s}' imported from " + entry.as_uri().replace("`", "")
        + "`), { code: 'ERR_MODULE_NOT_FOUND' }); };\n"
    )


def _static_imports(metafile: dict[str, object]) -> tuple[str, ...]:
    """External ids the bundle imports with ``import`` statements (resolved at link time)."""
    found: set[str] = set()
    outputs = metafile.get("outputs")
    for output in outputs.values() if isinstance(outputs, dict) else ():
        for item in output.get("imports", []) if isinstance(output, dict) else ():
            if isinstance(item, dict) and item.get("external") and item.get("kind") == "import-statement":
                found.add(str(item.get("path")))
    return tuple(sorted(found))


def _require_prelude(source: str, table: ModuleTable, entry: Path, uses_require: bool) -> str:
    """Static imports + a global ``require`` for CommonJS ``require("<builtin>")`` calls; also for a bundle that
    uses ``require`` otherwise (``require.resolve("./file")``, jiti gives every TypeScript file one)."""
    meta = 'import { isBuiltin as __pi_is_builtin } from "module";\n' if f"var {_META_RESOLVE_VAR} =" in source else ""
    # `require("punycode/")` (a trailing slash asks for the npm package of a builtin's name: tr46, readable-stream)
    # gets the served module, which is that npm package for punycode, buffer, events, string_decoder, util.
    wanted = sorted({m.group(2).rstrip("/") for m in _REQUIRE_CALL.finditer(source)} & table.public_ids)
    if not wanted and (REQUIRE_MODULE not in table.ids or not uses_require):
        return meta
    lines = [meta] + [f"import * as __pi_req_{n} from {json.dumps(i)};\n" for n, i in enumerate(wanted)]
    entries = ", ".join(f"{json.dumps(i)}: __pi_req_{n}" for n, i in enumerate(wanted))
    lines.append(f"const __pi_req_table = {{ {entries} }};\n")
    if REQUIRE_MODULE in table.ids:
        lines.insert(0, REQUIRE_IMPORT)
        lines.append(
            "if (typeof __pi_require_mod.registerModules === 'function') "
            "__pi_require_mod.registerModules(__pi_req_table);\n"
            f"globalThis.require = __pi_require_mod.createRequire(__pi_req_table, {json.dumps(str(entry))});\n"
        )
    else:
        lines.append(
            "globalThis.require = (id) => { const m = __pi_req_table[id]; "
            "if (!m) throw new Error(`Cannot find module '${id}'`); "
            "return m.default !== undefined ? m.default : m; };\n"
        )
    return "".join(lines)


def _esbuild(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
                          timeout=120, check=False)


class Bundler:
    """esbuild runner with a content-hash cache."""

    def __init__(self, toolchain: Toolchain, cache_dir: Path, table: ModuleTable) -> None:
        self.toolchain = toolchain
        self.cache_dir = cache_dir
        self.table = table
        self._externals = _externals(table)
        self._signature = sha256_hex(
            json.dumps([_FORMAT, toolchain.package_version("esbuild"), _ESBUILD_FLAGS, self._externals])
        )

    def _manifest_path(self, entry: Path, plan: DependencyPlan) -> Path:
        # The plan is part of the key: a changed declaration or closure re-checks the import graph.
        key = f"{self._signature}|{plan.root}|{entry}|{plan.fingerprint()}"
        return self.cache_dir / f"{sha256_hex(key)}.json"

    def _cached(self, manifest_path: Path, plan: DependencyPlan, verified: VerifiedFiles | None) -> Bundle | None:
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            if verified is not None and manifest.get("verified") is not True:
                return None  # built from what was on disk, not from checked bytes: never serves a pinned load
            for path, digest in manifest["inputs"].items():
                # A pinned load compares with the digests its pin was checked on (no second read of the file).
                now = verified.digests.get(path) if verified is not None else sha256_hex(Path(path).read_bytes())
                if now != digest:
                    return None
            source = (self.cache_dir / f"{manifest['bundle']}.mjs").read_text(encoding="utf-8")
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if sha256_hex(source) != manifest["bundle"]:
            return None  # a damaged cache entry is rebuilt, never trusted
        return Bundle(
            source=source,
            sha256=manifest["bundle"],
            inputs=tuple(manifest["inputs"]),
            cached=True,
            static_imports=tuple(manifest.get("static_imports", [])),
            dependency_dirs=tuple(str(d) for d in plan.dependency_dirs),
        )

    def bundle(
        self, entry: Path, root: Path, *, plan: DependencyPlan | None = None, use_cache: bool = True,
        verified: VerifiedFiles | None = None,
    ) -> Bundle:
        """Bundle ``entry`` (inside ``root``); raises ``ExtensionLoadError`` naming file and reason.

        ``plan`` is the extension's dependency plan (computed from ``root`` when not given). ``verified``:
        the reading a pin was checked on; the bundle is then built from a snapshot of exactly those bytes
        (esbuild never reads the installed copy) and every file it read must be one of them.
        """
        root = root.resolve()
        entry = entry.resolve()
        if not within(entry, root):
            raise ExtensionLoadError(f"entry {entry} is outside the extension root {root}")
        if not entry.is_file():
            raise ExtensionLoadError(f"entry file {entry} does not exist")
        self.toolchain.require_installed()
        plan = plan or plan_dependencies(root)
        manifest_path = self._manifest_path(entry, plan)
        if use_cache:
            hit = self._cached(manifest_path, plan, verified)
            if hit is not None:
                return hit
        with tempfile.TemporaryDirectory(prefix="pi-bundle-") as tmp, contextlib.ExitStack() as stack:
            out = Path(tmp) / "out.mjs"
            meta = Path(tmp) / "meta.json"
            snapshot = None
            if verified is not None:
                snapshot = Path(stack.enter_context(tempfile.TemporaryDirectory(
                    prefix="pi-snapshot-", dir=self._snapshot_parent())))
                verified.materialise(snapshot)
            cwd = root if snapshot is None else snapshot_path(snapshot, root)
            command = [
                str(self.toolchain.esbuild),
                str(entry if snapshot is None else snapshot_path(snapshot, entry)),
                *_ESBUILD_FLAGS,
                *self._externals,
                *_location_defines(entry),
                f"--outfile={out}",
                f"--metafile={meta}",
            ]
            proc = _esbuild(command, cwd)
            for _retry in range(3):  # each fix can uncover the next package of the same kind
                # a default import of a dual package whose ES entry has none (what pi's jiti gives), a package
                # whose entry is a native addon (external: its loader's fallback runs)
                more = [*cjs_aliases(proc.stderr, cwd), *native_externals(proc.stderr, cwd)] if proc.returncode else []
                if not more:
                    break
                command += more
                proc = _esbuild(command, cwd)
            if proc.returncode != 0:
                precise = diagnose_unresolved(proc.stderr, root, plan)
                if precise is not None:
                    raise precise
                message = (
                    " ".join(proc.stderr.strip().split())[:800] or f"esbuild exit code {proc.returncode}"
                )
                raise ExtensionLoadError(f"{entry}: bundling failed: {message}")
            metafile = json.loads(meta.read_text(encoding="utf-8"))
            refuse_internal_imports(metafile, entry)
            inputs = check_graph(metafile.get("inputs", {}), root, plan, snapshot=snapshot)
            static_imports = _static_imports(metafile)
            built = out.read_text(encoding="utf-8")
            uses_require = bool(_REQUIRE_USE.search(built))
            body = _module_locations(built, entry, root)
        source = _require_prelude(body, self.table, entry, uses_require) + body
        digest = sha256_hex(source)
        if verified is not None:
            unchecked = sorted(str(p) for p in inputs if str(p) not in verified.digests)
            if unchecked:  # cannot happen with a complete snapshot; refuse rather than run an unchecked file
                raise ExtensionLoadError(f"{entry}: the bundle read file(s) the integrity check did not cover: "
                                         f"{', '.join(unchecked[:5])}", reason="integrity_mismatch")
        self._store(manifest_path, inputs, source, digest, static_imports, verified)
        return Bundle(
            source=source,
            sha256=digest,
            inputs=tuple(str(p) for p in inputs),
            cached=False,
            static_imports=static_imports,
            dependency_dirs=tuple(str(d) for d in plan.dependency_dirs),
        )

    def _snapshot_parent(self) -> Path | None:
        """Where snapshots are made: inside the state dir (``bundle-cache/.snapshots``, private to the user),
        because esbuild reads ``tsconfig.json`` / ``package.json`` from every folder above the files it
        bundles, and a shared ``/tmp`` above them would let another local user plant one. The system temp
        folder only when the state dir cannot be written."""
        parent = self.cache_dir / ".snapshots"
        try:
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            return None
        return parent

    def _store(
        self,
        manifest_path: Path,
        inputs: list[Path],
        source: str,
        digest: str,
        static_imports: tuple[str, ...],
        verified: VerifiedFiles | None = None,
    ) -> None:
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            # Built from checked bytes: their digests; otherwise what is on disk now (an unpinned extension).
            hashes = {str(p): verified.digests[str(p)] if verified is not None else sha256_hex(p.read_bytes())
                      for p in inputs}
            _atomic_write(self.cache_dir / f"{digest}.mjs", source)
            manifest = {"bundle": digest, "inputs": hashes, "static_imports": list(static_imports),
                        "verified": verified is not None}
            _atomic_write(manifest_path, json.dumps(manifest))
        except OSError:
            pass  # the cache is an optimisation; a read-only state dir must not fail the load


def sealed_bundle(source: str, seal: str) -> str:
    """``source`` with the bundler's own ``pi:require`` import pointed at its sealed name."""
    if source.startswith(REQUIRE_IMPORT):
        sealed = REQUIRE_IMPORT.replace(REQUIRE_MODULE, f"{REQUIRE_MODULE}{SEAL_MARK}{seal}")
        return sealed + source[len(REQUIRE_IMPORT):]
    return source


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
