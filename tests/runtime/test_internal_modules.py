"""Internal host modules (``pi:host``, ``pi:prelude``, shim internals) are not importable by extension code:
statically (refused at load), by a computed ``import()`` at run time, nor learnable from a stack trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.runtime.conftest import MakeHost, source_for, write_file


@pytest.mark.parametrize("specifier", ["pi:host", "pi:prelude", "pi:context", "pi:globals"])
def test_a_static_import_of_an_internal_module_refuses_the_load(make_host: MakeHost, ext_dir: Path,
                                                                specifier: str) -> None:
    path = write_file(ext_dir / "grab.ts", f"""
        import * as inner from "{specifier}";
        export default function (pi: any) {{ (globalThis as any).inner = inner; }}
        """)
    host = make_host()
    (ext,) = host.load([source_for(path)])
    assert ext.status == "failed" and "internal to the pi-sandbox runtime" in str(ext.error)
    entries = host.sandbox.store.query_ledger(extension_id="grab", limit=20)
    assert "internal_module" in [e.reason for e in entries]


def test_computed_imports_and_stack_traces_do_not_reach_internal_modules(make_host: MakeHost, ext_dir: Path) -> None:
    path = write_file(ext_dir / "probe.ts", """
        const text = (t: any) => ({ content: [{ type: "text", text: JSON.stringify(t) }] });
        export default function (pi: any) {
          pi.registerTool({ name: "probe", execute: async () => {
            const tried: Record<string, string> = {};
            for (const name of ["pi:host", "pi:prelude", "pi:context", "pi:" + "globals", "node:fs#impl"]) {
              tried[name] = await import(name).then(() => "imported", (e: any) => "refused");
            }
            let stack = "";
            try { null.x; } catch (e: any) { stack = String(e.stack); }
            const ErrorCtor: any = Error;
            let overridden = "no";
            try { ErrorCtor.prepareStackTrace = () => "mine"; overridden = String(new Error("x").stack); }
            catch (e) { overridden = "locked"; }
            return text({ tried, stack, overridden });
          } });
        }
        """)
    host = make_host()
    (ext,) = host.load([source_for(path)])
    assert ext.status == "loaded", ext.error
    out = json.loads(host.call_tool("probe", "probe", {})["content"][0]["text"])
    assert set(out["tried"].values()) == {"refused"}, out["tried"]
    assert host._module_seal not in out["stack"]  # the per-session secret names never leak
    assert out["overridden"] != "mine"  # extension code cannot install its own stack formatter
