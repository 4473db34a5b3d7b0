"""Cost of the modules served to extensions, measured in a real jsbox engine.

Run: ``python benchmarks/bench_shims.py``. Prints p50/p99 for
  * evaluating each module cold after pi:globals (a fresh engine per sample: parse + top-level code, what a
    worker pays once; the pi:globals row is the floor every extension pays),
  * a few hot operations extensions do often (path.join, Buffer base64, sha256 of 4 KiB, util.format,
    a pi-tui render), per call.
The bridge is a do-nothing `pi:host` (no IPC), so these are the shims' own costs.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time

import jsbox

from pi_sandbox.runtime.modules import load_module_table
from pi_sandbox.runtime.toolchain import default_toolchain

NULL_HOST = """
export class HostcallError extends Error {}
export function callSync() { return null; }
export function call() { return Promise.resolve(null); }
export function info() { return { extensionId: "bench", cwd: "/work", platform: "linux", argv: [], pid: 1 }; }
export function log() {}
export function setTimer() { return 1; }
export function clearTimer() {}
export function randomBytes(n) { return new Uint8Array(n); }
export function digest(alg, bytes) { const d = __pi_digest(alg, bytes); return d === null ? null : new Uint8Array(d); }
export function emitError(emitter, err) { emitter.emit("error", err); }
export function reportUncaught() {}
"""

COLD_MODULES = [
    "pi:globals", "path", "buffer", "events", "stream", "assert", "fs", "child_process", "crypto", "url",
    "@mariozechner/pi-tui", "@sinclair/typebox",
    "@mariozechner/pi-ai", "@mariozechner/pi-coding-agent",
]

HOT_OPS = {
    "path.join": ('import path from "path";', 'path.join("/a/b", "../c", "d.txt")'),
    "Buffer base64 1 KiB": ('const b = Buffer.alloc(1024, 7);', 'b.toString("base64")'),
    "sha256 4 KiB": ('import { createHash } from "crypto"; const d = Buffer.alloc(4096, 1);',
                     'createHash("sha256").update(d).digest("hex")'),
    "sha512 4 KiB": ('import { createHash } from "crypto"; const d = Buffer.alloc(4096, 1);',
                     'createHash("sha512").update(d).digest("hex")'),
    "md5 4 KiB": ('import { createHash } from "crypto"; const d = Buffer.alloc(4096, 1);',
                  'createHash("md5").update(d).digest("hex")'),
    "util.format": ('import { format } from "util";', 'format("%s=%d %j", "a", 1, { x: [1, 2] })'),
    "pi-tui Text.render(80)": ('import { Text } from "@mariozechner/pi-tui"; const t = new Text("word ".repeat(60));',
                               't.render(80)'),
}


def new_runtime(sources: dict[str, str]) -> jsbox.Runtime:
    rt = jsbox.Runtime(memory_limit=256 << 20)
    # The worker's native digest (hashlib), as the real bridge binds it.
    rt.bind_function("__pi_digest", lambda alg, data: hashlib.new(alg.replace("-", "_"), bytes(data)).digest())
    for module_id, source in sources.items():
        if module_id not in ("pi:host", "pi:prelude"):
            rt.add_static_module(module_id, source)
    rt.add_static_module("pi:host", NULL_HOST)
    return rt


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    sources = dict(load_module_table(default_toolchain()).sources)
    print(f"{'cold: pi:globals + module':40s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for module_id in COLD_MODULES:
        samples = []
        for i in range(15):
            rt = new_runtime(sources)
            rt.add_static_module(f"m{i}", f'import "pi:globals"; import {json.dumps(module_id)}; export const x = 1;')
            start = time.perf_counter()
            rt.eval(f'import("m{i}").then((m) => m.x)')
            samples.append((time.perf_counter() - start) * 1000)
        print(f"{module_id:40s} {statistics.median(samples):8.2f} {pct(samples, 0.99):8.2f}")
    print()
    print(f"{'hot operation (per call)':40s} {'p50 us':>8s} {'p99 us':>8s}")
    rt = new_runtime(sources)
    for n, (label, (setup, expr)) in enumerate(HOT_OPS.items()):
        rt.add_static_module(
            f"hot{n}",
            f'import "pi:globals"; {setup}\n'
            "export const run = (k) => { const __t = []; for (let i = 0; i < k; i++) { const __s = performance.now(); "
            f"{expr}; __t.push((performance.now() - __s) * 1000); }} return JSON.stringify(__t); }};\n"
            f"globalThis.__bench{n} = run;",
        )
        rt.eval(f'import("hot{n}").then(() => 1)')
        samples = json.loads(rt.eval(f"__bench{n}(120)"))[20:]  # drop warm-up
        print(f"{label:40s} {statistics.median(samples):8.1f} {pct(samples, 0.99):8.1f}")


if __name__ == "__main__":
    main()
