"""The scanner on real extensions: the official pi examples and the dependencies the sandbox serves.

Run: ``python benchmarks/bench_scanner_examples.py [--package @mariozechner/pi-coding-agent@0.73.1] [--dir D]``

Fetches the published ``@mariozechner/pi-coding-agent`` package with ``npm pack`` into a temporary folder
(nothing is committed or installed), scans every extension under its ``examples/extensions/`` one by one,
and prints per extension the verdict and rules, then how many were forbidden (target: none; issue 13 asks
for at most 1 % of real extensions). It also scans the TypeBox copy the sandbox serves (from the toolchain,
``pi-sandbox setup``) once as a served package and once as an ordinary dependency. ``--dir`` scans an
already unpacked ``examples/extensions`` folder instead (no network). Throughput on this real code is
printed too. Exit 1 when anything was forbidden.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from pi_sandbox.runtime.toolchain import default_toolchain
from pi_sandbox.scanner.model import ScanReport
from pi_sandbox.scanner.walker import scan_path

DEFAULT_PACKAGE = "@mariozechner/pi-coding-agent"


def fetch_examples(package: str, into: Path) -> Path:
    """``npm pack`` the package into ``into`` and unpack it; returns its ``examples/extensions`` folder."""
    subprocess.run(["npm", "pack", package, "--silent", "--pack-destination", str(into)], check=True,
                   capture_output=True, timeout=300)
    (tarball,) = into.glob("*.tgz")
    with tarfile.open(tarball) as archive:
        archive.extractall(into, filter="data")
    return into / "package" / "examples" / "extensions"


def _line(name: str, report: ScanReport) -> str:
    rules = sorted({f.rule_id for f in report.findings})
    apart = len(report.separate_findings)
    extra = f"  (+{apart} reported apart)" if apart else ""
    return f"  {name:36} {report.verdict:5} {', '.join(rules) or '-'}{extra}"


def scan_examples(folder: Path) -> tuple[int, int, int, float]:
    """Scan each example; returns (extensions, forbidden, lines, seconds)."""
    total = forbidden = lines = 0
    seconds = 0.0
    for ext in sorted(folder.iterdir()):
        if ext.name.lower() == "readme.md" or ext.suffix not in ("", ".ts", ".js", ".mjs", ".tsx"):
            continue
        started = time.perf_counter()
        report = scan_path(ext)
        seconds += time.perf_counter() - started
        total += 1
        lines += report.total_lines
        forbidden += report.verdict == "fail"
        print(_line(ext.name, report))
        for finding in report.findings:
            if finding.cls == "forbidden":
                print(f"      {finding.rule_id} {finding.file}:{finding.line} {finding.excerpt[:80]}")
    return total, forbidden, lines, seconds


def scan_served_typebox(work: Path) -> int:
    """TypeBox as a served package and as an ordinary dependency; returns how many scans were forbidden."""
    source = default_toolchain().node_modules / "@sinclair" / "typebox"
    failures = 0
    for where in ("node_modules/@sinclair/typebox", "node_modules/schema-lib"):
        ext = work / f"typebox-{where.rsplit('/', 1)[-1]}"
        (ext / where).parent.mkdir(parents=True)
        shutil.copytree(source, ext / where)
        (ext / "index.ts").write_text("import { Type } from '@sinclair/typebox';\nexport const T = Type.String();\n")
        report = scan_path(ext)
        failures += report.verdict == "fail"
        print(_line(f"TypeBox as {where}", report))
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default=DEFAULT_PACKAGE, help="npm package spec holding examples/extensions")
    parser.add_argument("--dir", type=Path, help="scan this examples/extensions folder instead of fetching one")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-scanner-examples-"))
    try:
        folder = args.dir or fetch_examples(args.package, work)
        print(f"official examples ({folder}):")
        total, forbidden, lines, seconds = scan_examples(folder)
        print("served dependencies:")
        served_failures = scan_served_typebox(work)
        rate = forbidden / total if total else 0.0
        print(f"\nofficial examples forbidden: {forbidden}/{total} = {rate:.1%} (target <= 1%); "
              f"served TypeBox scans forbidden: {served_failures}/2")
        print(f"real-code throughput: {lines:,} lines in {seconds:.2f} s = {lines / max(seconds, 1e-9):,.0f} lines/s "
              f"(small files: per-extension overhead dominates)")
        return 0 if forbidden == 0 and served_failures == 0 else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
