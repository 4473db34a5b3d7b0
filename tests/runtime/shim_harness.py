"""Loads the served shim modules into a real jsbox runtime with a recording `pi:host` edge fake.

The fake stands in for the runtime engineer's bridge only: every hostcall is recorded and answered by a
Python callback the test provides, so the shims' behaviour and the exact params they send can be asserted.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsbox

from pi_sandbox.runtime.modules import load_module_table
from pi_sandbox.runtime.toolchain import default_toolchain

MODULES_DIR = Path(__file__).resolve().parents[2] / "src" / "pi_sandbox" / "runtime" / "js" / "modules"
_ROW = re.compile(r"^\|\s*([^|\s]+)\s*\|\s*([^|\s]+\.js)\s*\|\s*$")

# The fake bridge. `__pi_hc(method, paramsJson)` returns JSON `{ok, result}` or `{ok:false, code, message}`;
# timers are kept in JS and run by `__pi_runTimers()` so tests can drive them deterministically.
FAKE_HOST_SOURCE = r"""
const timers = new Map();
let nextTimer = 1;
export class HostcallError extends Error {
  constructor(code, message, reason) {
    super(message); this.name = "HostcallError"; this.code = code;
    if (reason) this.reason = reason;
  }
}
function unwrap(raw) {
  const res = JSON.parse(raw);
  if (!res.ok) throw new HostcallError(res.code, res.message, res.reason);
  return res.result;
}
function enc(params) {
  return JSON.stringify(params, (k, v) => (v instanceof Uint8Array ? { __bytes__: Array.from(v) } : v));
}
export function callSync(method, params) { return unwrap(__pi_hc(method, enc(params))); }
export function call(method, params) {
  return new Promise((resolve, reject) => {
    try { resolve(callSync(method, params)); } catch (e) { reject(e); }
  });
}
export function info() { return JSON.parse(__pi_info()); }
export function log(level, ...args) { __pi_hc("log", JSON.stringify({ level, message: args.map(String).join(" ") })); }
export function setTimer(fn, ms, repeat) { const id = nextTimer++; timers.set(id, { fn, ms, repeat }); return id; }
export function clearTimer(id) { timers.delete(id); }
export function randomBytes(n) { return new Uint8Array(JSON.parse(__pi_random(n))); }
export function reportUncaught(err) {
  globalThis.__pi_uncaught = (globalThis.__pi_uncaught || []).concat([String(err && err.message)]);
}
export function emitError(emitter, err) {
  if (emitter.listenerCount("error") > 0) emitter.emit("error", err); else reportUncaught(err);
}
globalThis.__pi_runTimers = () => {
  let ran = 0;
  for (const [id, t] of [...timers]) {
    if (!t.repeat) timers.delete(id);
    t.fn();
    ran++;
  }
  return ran;
};
"""


def module_table() -> dict[str, str]:
    """Parse `README.md`'s `| id | file |` rows into {module id: file name}."""
    table: dict[str, str] = {}
    for line in (MODULES_DIR / "README.md").read_text().splitlines():
        match = _ROW.match(line.strip())
        if match:
            table[match.group(1)] = match.group(2)
    return table


Responder = Callable[[str, dict[str, Any]], Any]


class FakeHostError(Exception):
    """Raised by a responder to make the fake bridge answer with a HostcallError."""

    def __init__(self, code: str, message: str = "", reason: str | None = None) -> None:
        super().__init__(message or code)
        self.code = code
        self.reason = reason


@dataclass
class ShimRuntime:
    """A jsbox runtime with every shim registered and a recording fake `pi:host`."""

    responder: Responder
    info: dict[str, Any] = field(
        default_factory=lambda: {
            "extensionId": "ext-test", "cwd": "/work/space", "platform": "linux", "argv": [],
            "hasUI": False, "pid": 4242, "version": "0.1.0",
        }
    )
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: Export `digest(alg, bytes)` from the fake bridge, backed by hashlib (the worker's native path).
    native_digest: bool = True
    digest_calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rt = jsbox.Runtime(memory_limit=128 << 20)
        self.rt.bind_function("__pi_hc", self._hostcall)
        self.rt.bind_function("__pi_info", lambda: json.dumps(self.info))
        self.rt.bind_function("__pi_random", lambda n: json.dumps(list(range(int(n)))))
        host_source = FAKE_HOST_SOURCE
        if self.native_digest:
            self.rt.bind_function("__pi_digest", self._digest)
            host_source += ("export function digest(alg, bytes) { const d = __pi_digest(alg, bytes); "
                            "return d === null ? null : new Uint8Array(d); }\n")
        self.rt.add_static_module("pi:host", host_source)
        # The real module table (README rows + generated TypeBox), with pi:host replaced by the fake.
        sources = dict(load_module_table(default_toolchain()).sources)
        for module_id, file_name in module_table().items():  # every README row, even if the loader skips it
            if module_id not in sources and not file_name.startswith("vendor/"):
                sources[module_id] = (MODULES_DIR / file_name).read_text()
        for module_id, source in sources.items():
            if module_id not in ("pi:host", "pi:prelude"):
                self.rt.add_static_module(module_id, source)
        self._counter = 0

    def _digest(self, algorithm: str, data: bytes) -> bytes:
        self.digest_calls.append(algorithm)
        return hashlib.new(algorithm.replace("-", "_"), bytes(data)).digest()

    def _hostcall(self, method: str, params_json: str) -> str:
        params = json.loads(params_json)
        self.calls.append((method, params))
        try:
            return json.dumps({"ok": True, "result": self.responder(method, params)})
        except FakeHostError as err:
            return json.dumps({"ok": False, "code": err.code, "message": str(err), "reason": err.reason})

    def run(self, body: str, *, globals_first: bool = True) -> Any:
        """Run `body` as a module (top-level await allowed); it must assign `result`. Returns it via JSON."""
        self._counter += 1
        name = f"test_main_{self._counter}"
        prefix = 'import "pi:globals";\n' if globals_first else ""
        suffix = "export const __out = JSON.stringify(result === undefined ? null : result);\n"
        source = f"{prefix}let result;\n{body}\n{suffix}"
        self.rt.add_static_module(name, source)
        # jsbox 0.1.3: after one eval_module(), modules not yet loaded fail to load ("ArrayBuffer object
        # expected"); a dynamic import() from eval() keeps working, so every run goes through it.
        out = self.rt.eval(f"import({json.dumps(name)}).then((m) => m.__out)", timeout=10)
        return json.loads(out)

    def host_calls(self, method: str) -> list[dict[str, Any]]:
        """Params of the recorded hostcalls of one method, in order."""
        return [p for m, p in self.calls if m == method]
