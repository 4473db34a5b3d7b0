"""How many published pi extension packages load and register under `safe`, installed the way pi installs them.

    python benchmarks/compat_npm.py [--packages FILE] [--latest] [--only NAME ...] [--layouts hoisted,nested]
                                    [--cache DIR] [--install-timeout S] [--load-timeout S] [--json]

Packages: the registry's search for the ``pi-package`` / ``pi-extension`` / ``pi-coding-agent``
keywords (``npm search``; where the registry does not answer searches, a note says so) merged with
``benchmarks/compat_npm_packages.txt`` (names and versions from a public corpus; ``--latest`` ignores
the versions). Nothing of the packages is kept in the repository.

Each package is installed twice with npm, each time into its own root under ``--cache`` (default
``/tmp/pi-compat-npm``; npm's download cache is kept there too, so reruns are cheap), with
``--ignore-scripts`` and a per-package time limit:

* ``hoisted``: ``npm install <spec> --prefix <root>``, what pi runs for project-scope installs
  (dependencies and peer dependencies land next to the package);
* ``nested``: the same with ``--install-strategy=nested``, the layout of pi's user-scope
  ``npm install -g`` (dependencies inside the package, peers still next to it).

Then every package folder is loaded the way ``pi-sandbox -e <folder>`` does, in a fresh isolated pi
environment under ``safe``, in a child process with a time limit. A package counts as loaded when
every extension it declares loads and together they register at least one tool, command, event
handler, shortcut, flag or provider. Packages that declare no extension (skills or themes only) are
listed but not counted. Failures are grouped by their reason code.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_LIST = HERE / "compat_npm_packages.txt"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "pi-compat-npm"
SEARCHES = ("keywords:pi-package", "keywords:pi-extension", "keywords:pi-coding-agent")
KINDS = ("tools", "commands", "events", "shortcuts", "flags", "providers", "busChannels")
LAYOUTS = {"hoisted": [], "nested": ["--install-strategy=nested"]}


# ---- which packages ---------------------------------------------------------------------------

def split_spec(spec: str) -> tuple[str, str | None]:
    """``@scope/name@1.2.3`` → (``@scope/name``, ``1.2.3``); no version → None."""
    at = spec.rfind("@")
    if at > 0:
        return spec[:at], spec[at + 1:]
    return spec, None


def listed_packages(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def searched_packages(npm: str, env: dict[str, str]) -> tuple[list[str], list[str]]:
    """Names the registry's search returns for the pi keywords, and notes on searches that failed."""
    names: list[str] = []
    notes: list[str] = []
    for query in SEARCHES:
        try:
            out = subprocess.run([npm, "search", "--json", "--searchlimit", "250", query], env=env,
                                 capture_output=True, text=True, timeout=120)
            found = json.loads(out.stdout or "null")
        except (subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
            notes.append(f"npm search {query}: {type(exc).__name__}")
            continue
        if not isinstance(found, list):
            detail = (found or {}).get("error", {}).get("summary", "") if isinstance(found, dict) else ""
            notes.append(f"npm search {query}: no result list ({detail[:120] or out.stderr.strip()[:120]})")
            continue
        names.extend(str(item["name"]) for item in found if isinstance(item, dict) and item.get("name"))
    return names, notes


def choose_packages(args: argparse.Namespace, npm: str, env: dict[str, str]) -> tuple[list[str], list[str]]:
    specs = listed_packages(args.packages)
    if args.latest:
        specs = [split_spec(s)[0] for s in specs]
    notes: list[str] = []
    if not args.no_search:
        found, notes = searched_packages(npm, env)
        known = {split_spec(s)[0] for s in specs}
        specs += sorted(set(found) - known)
    if args.only:
        specs = [s for s in specs if split_spec(s)[0] in set(args.only)]
    return specs, notes


# ---- installing -------------------------------------------------------------------------------

def npm_env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"npm_config_cache": str(cache / "npm-cache"), "npm_config_audit": "false",
                "npm_config_fund": "false", "npm_config_update_notifier": "false"})
    return env


def slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", spec).strip("_")


def install(npm: str, spec: str, layout: str, cache: Path, env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Install one package in one layout; a pinned version the registry lacks falls back to the latest."""
    result = _install(npm, spec, layout, cache, env, timeout)
    name, version = split_spec(spec)
    if not result["ok"] and version and result.get("missing") == "version":
        result = {**_install(npm, name, layout, cache, env, timeout), "instead_of": spec}
    return result


def _install(npm: str, spec: str, layout: str, cache: Path, env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Install one spec in one layout (cached: a finished install is reused)."""
    root = cache / layout / slug(spec)
    marker = root / ".pi-compat-install.json"
    if marker.is_file():
        return dict(json.loads(marker.read_text(encoding="utf-8")))
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    command = [npm, "install", spec, "--prefix", str(root), "--ignore-scripts", "--no-audit", "--no-fund",
               *LAYOUTS[layout]]
    started = time.monotonic()
    missing = ""
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
        ok, detail = done.returncode == 0, done.stderr.strip().splitlines()
        if not ok and "code ETARGET" in done.stderr:
            missing = "version"
        elif not ok and "code E404" in done.stderr:
            # The package, or one of its dependencies, is not served by this registry: not measurable here.
            missing = "package"
    except subprocess.TimeoutExpired:
        ok, detail = False, [f"npm install did not finish in {timeout:.0f} s"]
    name = split_spec(spec)[0]
    error = " | ".join(line for line in detail if "npm error" in line or "did not finish" in line)
    result = {"ok": ok, "folder": str(root / "node_modules" / name), "seconds": round(time.monotonic() - started, 1),
              "error": "" if ok else error[:400], "missing": missing}
    if ok or missing == "package":  # reused: a finished install, or the registry's 404 (a failure is retried)
        marker.write_text(json.dumps(result), encoding="utf-8")
    return result


# ---- loading (in a child process, so a hung or crashing load is bounded) -----------------------

def load_one(folder: Path) -> dict[str, Any]:
    """Load every extension of one package folder under `safe` in a fresh pi environment."""
    from pi_sandbox.config import resolve_config
    from pi_sandbox.dispatch import Sandbox
    from pi_sandbox.runtime.discovery import resolve_path
    from pi_sandbox.runtime.host import ExtensionHost

    sources, error = resolve_path(folder, folder.parent)
    if not sources:
        return {"extensions": [], "none": error or "no extensions"}
    with tempfile.TemporaryDirectory(prefix="pi-compat-load-") as tmp:
        base = Path(tmp)
        env = {"HOME": str(base / "home"), "PI_CODING_AGENT_DIR": str(base / "agent"),
               "PI_SECURITY_DIR": str(base / "agent" / "security"), "PATH": os.environ.get("PATH", "")}
        (base / "home").mkdir()
        (base / "workspace").mkdir()
        config = resolve_config(cwd=base / "workspace", env=env)
        sandbox = Sandbox.open(config)
        host = ExtensionHost(sandbox)
        try:
            loaded = host.load(sources)
            rows = [{"id": e.extension_id, "status": e.status, "code": e.error_code or "",
                     "registered": sum(len(e.registrations.get(k, [])) for k in KINDS),
                     "error": (e.error or "")[:600]} for e in loaded]
        finally:
            host.shutdown(notify=False)
            sandbox.close()
    return {"extensions": rows}


def load(folder: Path, timeout: float) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--load-one", str(folder)]
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"extensions": [], "crash": f"load did not finish in {timeout:.0f} s", "code": "load_timeout"}
    seconds = round(time.monotonic() - started, 1)
    try:
        result = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    except (IndexError, json.JSONDecodeError):
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return {"extensions": [], "crash": tail[:400], "code": "loader_crash", "seconds": seconds}
    result["seconds"] = seconds
    return result


def _version(folder: Path) -> str:
    try:
        return str(json.loads((folder / "package.json").read_text(encoding="utf-8")).get("version", ""))
    except (OSError, ValueError):
        return ""


def verdict(loaded: dict[str, Any]) -> tuple[str, str, str]:
    """(``ok`` | ``failed`` | ``none``, reason code, message) for one package."""
    if "crash" in loaded:
        return "failed", loaded["code"], loaded["crash"]
    rows = loaded["extensions"]
    if not rows:
        return "none", "no_extensions", loaded.get("none", "")
    bad = [r for r in rows if r["status"] != "loaded"]
    if bad:
        return "failed", bad[0]["code"] or "failed", f"{bad[0]['id']}: {bad[0]['error']}"
    if not sum(r["registered"] for r in rows):
        return "failed", "registers_nothing", "every extension loaded but none registered anything"
    return "ok", "", ""


# ---- the run ----------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> dict[str, Any]:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is required")
    args.cache.mkdir(parents=True, exist_ok=True)
    env = npm_env(args.cache)
    specs, notes = choose_packages(args, npm, env)
    results: dict[str, Any] = {"packages": len(specs), "notes": notes, "layouts": {}}
    jobs = [(spec, layout) for layout in args.layouts for spec in specs]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # installs wait on the network, not the CPU
        installs = dict(zip(jobs, pool.map(
            lambda job: install(npm, job[0], job[1], args.cache, env, args.install_timeout), jobs), strict=True))
    for layout in args.layouts:
        rows = []
        for spec in specs:
            installed = installs[(spec, layout)]
            if not installed["ok"] and installed.get("missing") == "package":
                rows.append({"spec": spec, "state": "unavailable", "code": "not_in_registry",
                             "error": installed["error"]})
                continue
            if not installed["ok"]:
                rows.append({"spec": spec, "state": "failed", "code": "install_failed", "error": installed["error"]})
                continue
            folder = Path(installed["folder"])
            state, code, error = verdict(load(folder, args.load_timeout))
            rows.append({"spec": spec, "state": state, "code": code, "error": error, "version": _version(folder)})
            if args.verbose:
                print(f"  [{layout}] {spec}: {state} {code} {error[:160]}", file=sys.stderr, flush=True)
        counted = [r for r in rows if r["state"] in ("ok", "failed")]
        ok = sum(1 for r in counted if r["state"] == "ok")
        results["layouts"][layout] = {
            "counted": len(counted), "ok": ok, "no_extensions": [r["spec"] for r in rows if r["state"] == "none"],
            "unavailable": [r["spec"] for r in rows if r["state"] == "unavailable"],
            "by_cause": dict(Counter(r["code"] for r in counted if r["state"] == "failed").most_common()),
            "rows": rows,
        }
    return results


def report(results: dict[str, Any]) -> None:
    for note in results["notes"]:
        print(f"note: {note}")
    layouts = results["layouts"]
    specs = [r["spec"] for r in next(iter(layouts.values()))["rows"]] if layouts else []
    width = max((len(s) for s in specs), default=10)
    print(f"{'package'.ljust(width)}  " + "  ".join(f"{name:<28}" for name in layouts))
    for i, spec in enumerate(specs):
        cells = []
        for data in layouts.values():
            row = data["rows"][i]
            cells.append(f"{row['state'] if row['state'] != 'failed' else row['code']:<28}")
        print(f"{spec.ljust(width)}  " + "  ".join(cells))
    print()
    for name, data in layouts.items():
        share = 100.0 * data["ok"] / data["counted"] if data["counted"] else 0.0
        print(f"{name}: {data['ok']} / {data['counted']} packages load and register under safe ({share:.1f} %); "
              f"{len(data['no_extensions'])} declare no extension, {len(data['unavailable'])} not in the registry")
        for code, count in data["by_cause"].items():
            print(f"  {count:3d}  {code}")
        for row in data["rows"]:
            if row["state"] == "failed":
                print(f"    {row['spec']}: {row['code']}: {row['error'][:240]}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--packages", type=Path, default=DEFAULT_LIST, help="name[@version] a line")
    parser.add_argument("--latest", action="store_true", help="ignore the versions in the list")
    parser.add_argument("--no-search", action="store_true", help="do not ask the registry's search")
    parser.add_argument("--only", nargs="*", help="only these package names")
    parser.add_argument("--layouts", default="hoisted,nested", type=lambda s: s.split(","))
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--install-timeout", type=float, default=300.0)
    parser.add_argument("--load-timeout", type=float, default=120.0)
    parser.add_argument("--jobs", type=int, default=4, help="parallel npm installs")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--save", type=Path, help="also write the results as JSON here")
    parser.add_argument("--verbose", "-v", action="store_true")
    parser.add_argument("--load-one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load_one:
        print(json.dumps(load_one(args.load_one)))
        return 0
    unknown = set(args.layouts) - set(LAYOUTS)
    if unknown:
        parser.error(f"unknown layouts: {sorted(unknown)}")
    results = run(args)
    if args.save:
        args.save.write_text(json.dumps(results, indent=2), encoding="utf-8")
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
