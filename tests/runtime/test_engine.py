"""The Engine adapter: modules, job draining, and limits mapped to typed errors."""

from __future__ import annotations

import pytest

from pi_sandbox.runtime.engine import Engine, EngineError, EngineOutOfMemory, EngineTimeout


def make() -> Engine:
    return Engine(memory_limit_bytes=32 * 1024 * 1024, max_stack_bytes=256 * 1024)


def test_only_registered_modules_resolve() -> None:
    engine = make()
    engine.add_module("m:a", "export const x = 41;")
    engine.add_module("m:b", 'import { x } from "m:a"; export const y = x + 1;')
    assert engine.eval_module("m:b") == {"y": 42}
    with pytest.raises(EngineError, match="module not found"):
        engine.eval('import("/etc/passwd")')
    with pytest.raises(EngineError):
        engine.eval('import("node:fs")')


def test_run_and_drain_runs_every_queued_job() -> None:
    engine = make()
    seen: list[str] = []
    engine.bind("note", seen.append)
    engine.run_and_drain("Promise.resolve().then(() => note('a')).then(() => note('b'))")
    assert seen == ["a", "b"]


def test_no_ambient_authority_in_globals() -> None:
    engine = make()
    kinds = engine.eval(
        "[typeof require, typeof process, typeof fetch, typeof setTimeout, typeof std, typeof os].join(',')"
    )
    assert kinds == "undefined,undefined,undefined,undefined,undefined,undefined"


def test_timeout_is_typed_and_runtime_stays_usable() -> None:
    engine = make()
    with pytest.raises(EngineTimeout):
        engine.eval("try { while (true) {} } catch (e) {}", timeout_s=0.2)
    assert engine.eval("1 + 1") == 2


def test_out_of_memory_is_typed() -> None:
    engine = make()
    with pytest.raises(EngineOutOfMemory):
        engine.eval("const a = []; for (;;) a.push(new Array(100000).fill(1));")


def test_deep_recursion_is_a_catchable_range_error() -> None:
    engine = make()
    assert engine.eval("try { (function f() { return f() + 1; })(); } catch (e) { e.name }") == "RangeError"


def test_syntax_check() -> None:
    engine = make()
    engine.check_syntax("export default 1;")
    with pytest.raises(EngineError):
        engine.check_syntax("export default (;")
