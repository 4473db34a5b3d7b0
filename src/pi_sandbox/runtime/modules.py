"""The engine's module table: every module id an extension may import, with its source.

Sources come from three places: the shims listed in ``js/modules/README.md`` (table rows
``| id | file |``), the runtime's own ``pi:host`` and ``pi:prelude``, and the generated modules of
pinned npm packages (``vendor/`` rows: TypeBox and the Node polyfills, see ``vendor.py``). Nothing outside
this table can be imported by extension code.

**Internal modules** — ``pi:*`` (the bridge, the prelude, shim internals; any id with a ``#``
too) — serve the runtime, not extensions. A bundle that imports one is
refused at load (``internal_module``); in a worker they are registered under per-session secret
names (:func:`sealed_sources`), so a computed ``import()`` cannot name them, and stack traces show
them without the secret (``pi:host`` installs a locked ``Error.prepareStackTrace``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pi_sandbox.errors import ExtensionLoadError
from pi_sandbox.runtime.toolchain import Toolchain, default_toolchain, setup_toolchain
from pi_sandbox.runtime.vendor import build_vendor_modules

JS_DIR = Path(__file__).resolve().parent / "js"
MODULES_DIR = JS_DIR / "modules"
_ROW = re.compile(r"^\|\s*`?([^|`\s]+)`?\s*\|\s*`?([^|`\s]+)`?\s*\|\s*$")
#: Prefix of the generated modules holding the Node exports a builtin shim lacks (``node_extras/``).
NODE_EXTRAS = "pi:node-extras/"
#: Modules the prelude imports first when present (installs globals: console, process, timers...).
GLOBALS_MODULE = "pi:globals"
#: Module ids of pi packages and TypeBox: left external by the bundler even if no shim exists yet.
HOST_PACKAGES = (
    "@mariozechner/pi-coding-agent",
    "@mariozechner/pi-tui",
    "@mariozechner/pi-ai",
    "@mariozechner/pi-agent-core",
    "@sinclair/typebox",
    # Newer releases: the pi packages under @earendil-works, TypeBox 1.x as plain `typebox`.
    "@earendil-works/pi-coding-agent",
    "@earendil-works/pi-tui",
    "@earendil-works/pi-ai",
    "@earendil-works/pi-agent-core",
    "typebox",
)
#: Sub-path patterns left external as well (served when the table has them, else a clear load error):
#: the sub-paths of the packages above only. The two scopes hold other packages too
#: (``@earendil-works/gondolin``, ``@mariozechner/clipboard``, ...): those are ordinary npm dependencies,
#: bundled from the extension's ``node_modules`` or named as not installed, never claimed by the runtime.
HOST_PATTERNS = ("node:*", *(f"{package}/*" for package in HOST_PACKAGES))
#: Imports that mean an extension builds TypeBox schemas (TypeBox is evaluated before its top level).
TYPEBOX_USERS = ("@sinclair/typebox", "typebox", "@mariozechner/pi-ai", "@earendil-works/pi-ai")


#: Separates an internal module's id from its per-session secret (stripped again in stack traces).
SEAL_MARK = "~"


def is_internal(module_id: str) -> bool:
    """Whether ``module_id`` names a runtime-internal module that extension code may not import."""
    return module_id.startswith("pi:") or "#" in module_id


@dataclass(frozen=True)
class ModuleTable:
    """Module id → source, plus the boot order for a worker."""

    sources: dict[str, str]
    boot: tuple[str, ...]

    @property
    def ids(self) -> frozenset[str]:
        """Every importable id."""
        return frozenset(self.sources)

    @property
    def public_ids(self) -> frozenset[str]:
        """Every id extension code may import."""
        return frozenset(i for i in self.sources if not is_internal(i))


def parse_readme_table(text: str) -> dict[str, str]:
    """Module id → file (relative to the modules dir) from the README's table rows."""
    rows: dict[str, str] = {}
    for line in text.splitlines():
        match = _ROW.match(line.strip())
        if not match:
            continue
        module_id, file_name = match.groups()
        if set(module_id) <= {"-", ":"}:  # the |---|---| separator row
            continue
        rows[module_id] = file_name
    return rows


_CACHE: dict[tuple[str, ...], ModuleTable] = {}


def load_module_table(toolchain: Toolchain, modules_dir: Path = MODULES_DIR) -> ModuleTable:
    """Read every module source once per process (cached by the files' modification times)."""
    readme = modules_dir / "README.md"
    try:
        rows = parse_readme_table(readme.read_text(encoding="utf-8")) if readme.is_file() else {}
    except OSError as exc:
        raise ExtensionLoadError(f"cannot read the module table {readme}: {exc}") from None
    vendor = build_vendor_modules(toolchain, toolchain.vendor_dir, rows)
    files: dict[str, Path] = {}
    for module_id, file_name in rows.items():
        if file_name.startswith("vendor/"):
            continue  # generated below from the pinned package
        path = modules_dir / file_name
        if path.is_file():  # rows for shims not written yet are skipped
            files[module_id] = path
    files.update(vendor)
    files["pi:host"] = JS_DIR / "host.js"
    files["pi:prelude"] = JS_DIR / "prelude.js"
    files["pi:context"] = JS_DIR / "context.js"
    key = tuple(sorted(f"{i}={p}:{_mtime(p)}" for i, p in files.items()))
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    by_path: dict[Path, str] = {}
    sources: dict[str, str] = {}
    for module_id, path in files.items():
        if path not in by_path:
            try:
                by_path[path] = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ExtensionLoadError(f"cannot read module source {path}: {exc}") from None
        sources[module_id] = by_path[path]
    for module_id in list(sources):
        # Node's names a builtin shim does not implement (generated, see node_extras/): importing one of them
        # must not fail the load. Local exports of the shim take precedence over these star exports. A
        # `node:` id served by the same file as its bare id gets the same extras.
        bare = module_id.removeprefix("node:")
        if f"{NODE_EXTRAS}{bare}" in sources and (bare == module_id or files.get(module_id) == files.get(bare)):
            sources[module_id] += f'\nexport * from "{NODE_EXTRAS}{bare}";\n'
    boot = (GLOBALS_MODULE, "pi:prelude") if GLOBALS_MODULE in sources else ("pi:prelude",)
    table = ModuleTable(sources=sources, boot=boot)
    _CACHE.clear()
    _CACHE[key] = table
    return table


def sealed_sources(table: ModuleTable, secret: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """The table's sources and boot list with every internal id renamed to ``<id>~<secret>``.

    References inside our own module sources are quoted import specifiers (``"pi:host"``), rewritten
    to match; extension bundles are never rewritten (and cannot import internal ids: the bundler
    refuses that). ``secret`` is 32 hex digits, fresh per host session.
    """
    if len(secret) != 32 or any(c not in "0123456789abcdef" for c in secret):
        raise ValueError("the module seal must be 32 lower-case hex digits")
    renamed = {i: f"{i}{SEAL_MARK}{secret}" for i in table.sources if is_internal(i)}
    names = "|".join(re.escape(i) for i in sorted(renamed, key=len, reverse=True))
    pattern = re.compile(f"([\"'])({names})\\1")

    def seal(text: str) -> str:
        return pattern.sub(lambda m: f"{m.group(1)}{renamed[m.group(2)]}{m.group(1)}", text)

    sources = {renamed.get(i, i): seal(src) for i, src in table.sources.items()}
    return sources, tuple(renamed.get(i, i) for i in table.boot)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def setup_runtime(toolchain: Toolchain | None = None, *, timeout_s: float = 600.0) -> str:
    """``pi-sandbox setup``: install the JS toolchain (:func:`setup_toolchain`), then build the module table
    from it (the vendored modules: TypeBox, Node polyfills), so that the first extension load does not.
    Returns the toolchain's one-line summary."""
    tc = toolchain or default_toolchain()
    summary = setup_toolchain(tc, timeout_s=timeout_s)
    load_module_table(tc)
    return summary
