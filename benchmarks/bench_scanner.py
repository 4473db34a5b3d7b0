"""Scanner throughput on a generated tree of real-looking extension code.

Run: ``python benchmarks/bench_scanner.py [--lines 400000] [--keep DIR]``

Generates a tree (TypeScript and JavaScript modules of varied shape: imports, classes, async
functions, template strings, regexes, tool registrations, a bundled ``node_modules`` with minified
and CommonJS files), then scans it once for warm-up of the grammar/query caches and measures a full
``scan_path`` of the tree on one core. Prints lines/s (per core: lines over the scan's CPU time, which a
shared, loaded machine distorts less than wall time; wall time is printed too), the parse-only floor of the
same tree in the same run (tree-sitter alone) and the ratio of the scan to it, the time for the whole tree
and per-file percentiles. Target: >= 50,000 lines/s per core.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pi_sandbox.scanner import walker
from pi_sandbox.scanner.parse import _parser, language_for
from pi_sandbox.scanner.walker import scan_path

TARGET_LINES_PER_S = 50_000

WORDS = ("session", "model", "tool", "branch", "entry", "widget", "status", "config", "token", "cache",
         "prompt", "result", "editor", "theme", "message", "queue", "plugin", "render", "buffer", "command")


def _name(rng: random.Random, style: str = "camel") -> str:
    a, b = rng.sample(WORDS, 2)
    return a + b.capitalize() if style == "camel" else a.capitalize() + b.capitalize()


def _ts_function(rng: random.Random) -> str:
    fn, arg, other = _name(rng), rng.choice(WORDS), rng.choice(WORDS)
    body = rng.choice([
        f"  const parts = {arg}.split(/[,;]\\s*/).map((p) => p.trim()).filter(Boolean);\n"
        f"  return parts.length > 0 ? parts.join(', ') : `no {other} for ${{{arg}}}`;\n",
        f"  let total = 0;\n  for (const [key, value] of Object.entries({arg} as Record<string, number>)) {{\n"
        f"    if (key.startsWith('_')) continue;\n    total += value * {rng.randint(2, 9)};\n  }}\n"
        f"  return String(total);\n",
        f"  const match = /^(\\w+)-(\\d+)$/.exec(String({arg}));\n  if (!match) return '';\n"
        f"  return match[1].toUpperCase() + ':' + match[2];\n",
        f"  try {{\n    const data = JSON.parse(String({arg}));\n    return JSON.stringify(data, null, 2);\n"
        f"  }} catch (error) {{\n    return `invalid {other}: ${{(error as Error).message}}`;\n  }}\n",
    ])
    return f"/** Format the {arg} for the {other} view. */\nexport function {fn}({arg}: unknown): string {{\n{body}}}\n"


def _ts_class(rng: random.Random) -> str:
    cls, field, method = _name(rng, "pascal"), rng.choice(WORDS), _name(rng)
    return (
        f"export class {cls} {{\n  private readonly items = new Map<string, number>();\n\n"
        f"  constructor(private {field}: string, private limit = {rng.randint(8, 512)}) {{}}\n\n"
        f"  {method}(key: string): number | undefined {{\n    const hit = this.items.get(key);\n"
        f"    if (hit !== undefined) {{\n      this.items.delete(key);\n      this.items.set(key, hit);\n    }}\n"
        f"    return hit;\n  }}\n\n  async load(path: string): Promise<string[]> {{\n"
        f"    const text = await readFile(join(this.{field}, path), 'utf8');\n"
        f"    return text.split('\\n').slice(0, this.limit);\n  }}\n}}\n"
    )


def _ts_extension(rng: random.Random) -> str:
    cmd = rng.choice(WORDS)
    return (
        f"export default function (pi: ExtensionAPI) {{\n"
        f"  pi.registerCommand('{cmd}', {{\n    description: 'Show the {cmd} summary',\n"
        f"    handler: async (_args, ctx) => {{\n      const home = process.env.HOME ?? '';\n"
        f"      ctx.ui.notify(`{cmd} ready in ${{home}}`, 'info');\n    }},\n  }});\n"
        f"  pi.on('session_start', async (_event, ctx) => {{\n"
        f"    const res = await fetch(`https://api.example.com/{cmd}/${{ctx.cwd.length}}`);\n"
        f"    if (!res.ok) return;\n    ctx.ui.setStatus('{cmd}', String(await res.text()).slice(0, 40));\n  }});\n}}\n"
    )


def ts_module(rng: random.Random) -> str:
    head = (
        "import type { ExtensionAPI } from '@mariozechner/pi-coding-agent';\n"
        "import { readFile } from 'node:fs/promises';\nimport { join } from 'node:path';\n"
        + ("import { execFileSync } from 'node:child_process';\n" if rng.random() < 0.3 else "")
        + "\n// Helpers for the extension. Nothing here uses eval or new Function.\n\n"
    )
    parts = [head]
    for _ in range(rng.randint(6, 14)):
        parts.append(rng.choice((_ts_function, _ts_function, _ts_class))(rng) + "\n")
    if rng.random() < 0.5:
        parts.append(_ts_extension(rng))
    return "".join(parts)


def cjs_module(rng: random.Random) -> str:
    parts = ["'use strict';\nconst path = require('path');\nconst util = require('util');\n\n"]
    for i in range(rng.randint(10, 25)):
        name = _name(rng)
        parts.append(
            f"function {name}(input, options) {{\n  options = options || {{}};\n"
            f"  if (typeof input !== 'string') {{\n    throw new TypeError('{name} expects a string');\n  }}\n"
            f"  var out = input.replace(/\\s+/g, ' ').trim();\n"
            f"  return options.prefix ? path.join(options.prefix, out) : util.format('%s-%d', out, {i});\n}}\n"
            f"module.exports.{name} = {name};\n\n"
        )
    return "".join(parts)


def minified_module(rng: random.Random) -> str:
    fns = "".join(f"e.f{i}=function(n){{return t(n).length+{i}}};" for i in range(rng.randint(30, 80)))
    body = ("!function(e,t){\"object\"==typeof exports?module.exports=t():e.lib=t()}(this,function(){var e={};"
            "function t(n){return n&&n.length?n.split(\",\").map(function(n){return n.trim()}).filter(Boolean):[]}"
            + fns + "return e.parse=t,e});\n")
    return body * rng.randint(1, 3)


def generate(root: Path, target_lines: int, seed: int = 7) -> tuple[int, int]:
    """Write a tree of about ``target_lines`` lines under ``root``; returns (files, lines)."""
    rng = random.Random(seed)
    lines = files = 0
    while lines < target_lines:
        ext = root / f"ext-{files // 40:03d}"
        roll = rng.random()
        if roll < 0.7:
            rel, text = f"src/{_name(rng)}-{files}.ts", ts_module(rng)
        elif roll < 0.95:
            rel, text = f"node_modules/{rng.choice(WORDS)}-lib/lib/{_name(rng)}-{files}.js", cjs_module(rng)
        else:
            rel, text = f"node_modules/{rng.choice(WORDS)}-min/dist/index-{files}.min.js", minified_module(rng)
        path = ext / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        files += 1
        lines += text.count("\n")
    return files, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=400_000, help="size of the generated tree in lines")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-scanner-"))
    try:
        t0 = time.perf_counter()
        files, lines = generate(root, args.lines)
        gen_s = time.perf_counter() - t0
        scan_path(next(root.iterdir()))  # warm the grammar and query caches
        per_file: list[float] = []
        original = walker.scan_file

        def timed(path: Path, rel: str, links: object = None) -> object:
            start = time.perf_counter()
            out = original(path, rel, links)  # type: ignore[arg-type]
            per_file.append((time.perf_counter() - start) * 1000)
            return out

        walker.scan_file = timed  # type: ignore[assignment]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        report = scan_path(root)
        cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
        walker.scan_file = original
        per_file.sort()
        sources = [(p.read_bytes(), language_for(p.name)) for p in root.rglob("*") if p.is_file()]
        parse0 = time.process_time()
        for data, language in sources:
            if language is not None:
                _parser(language).parse(data)
        parse_s = time.process_time() - parse0
        per_core = report.total_lines / cpu_s
        rows = [
            ("files scanned", f"{len(report.files)}"),
            ("lines scanned", f"{report.total_lines}"),
            ("tree generation", f"{gen_s:.2f} s"),
            ("scan wall time", f"{wall_s:.2f} s"),
            ("scan cpu time (one core)", f"{cpu_s:.2f} s"),
            ("throughput (per core, cpu time)", f"{per_core:,.0f} lines/s"),
            ("throughput (wall)", f"{report.total_lines / wall_s:,.0f} lines/s"),
            ("parse-only floor (tree-sitter)", f"{report.total_lines / parse_s:,.0f} lines/s"),
            ("scan / parse-only time", f"{cpu_s / parse_s:.2f}x"),
            ("per-file p50", f"{statistics.median(per_file):.2f} ms"),
            ("per-file p99", f"{per_file[int(len(per_file) * 0.99) - 1]:.2f} ms"),
            ("per-file max", f"{per_file[-1]:.2f} ms"),
            ("findings", f"{report.forbidden_count} forbidden, {report.flagged_count} flagged"),
            ("verdict", report.verdict),
        ]
        width = max(len(k) for k, _ in rows)
        print(f"scanner benchmark (generated {files} files / {lines} lines)")
        for key, value in rows:
            print(f"  {key.ljust(width)}  {value}")
        ok = per_core >= TARGET_LINES_PER_S
        print(f"  {f'target >= {TARGET_LINES_PER_S:,} lines/s per core'.ljust(width)}  {'met' if ok else 'MISSED'}")
        return 0 if ok else 1
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
