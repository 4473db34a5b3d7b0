"""The small ``Engine`` adapter over the embedded JS engine (jsbox 0.1.3, QuickJS-ng).

Everything the worker needs from an engine is here, so another QuickJS binding can replace jsbox
by reimplementing this one class: create a runtime with limits, bind host functions, register
module sources, evaluate a script or module, drain the job queue.

jsbox facts this relies on (measured, see the engine evaluation): only registered module names
resolve; ``eval`` returns when its result settles, and a never-settling promise makes it run every
queued job before it raises "promise never settled (no pending jobs)"; an out-of-memory error may
leave the runtime unusable, so the caller must discard it.
"""

from __future__ import annotations

import importlib.machinery
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any


def _load_native() -> ModuleType:
    """The engine's native module, without running ``jsbox/__init__.py``.

    The package's ``__init__`` only adds ``eval_async`` (which we do not use) and imports asyncio,
    which costs ~30 ms per worker start; the native module has everything else. Falls back to the
    normal import if the layout ever differs.
    """
    for entry in sys.path:
        folder = Path(entry or ".") / "jsbox"
        for candidate in sorted(folder.glob("_jsbox*.so")) if folder.is_dir() else ():
            loader = importlib.machinery.ExtensionFileLoader("jsbox._jsbox", str(candidate))
            spec = importlib.machinery.ModuleSpec("jsbox._jsbox", loader, origin=str(candidate))
            module = loader.create_module(spec)
            if module is not None:
                loader.exec_module(module)
                return module
    import jsbox as package  # type: ignore[import-untyped]  # pragma: no cover - fallback

    fallback: ModuleType = package  # pragma: no cover
    return fallback  # pragma: no cover


jsbox = _load_native()

_NEVER_SETTLED = "promise never settled"
#: A global promise that never settles; evaluating it drains the job queue (see module docstring).
_FOREVER = "__pi_forever"


class EngineError(Exception):
    """A script failed inside the engine (the message is the engine's text)."""


class EngineTimeout(EngineError):
    """A script ran past its time budget and was interrupted."""


class EngineOutOfMemory(EngineError):
    """The engine hit its heap limit; the runtime must be thrown away."""


def _classify(exc: BaseException) -> EngineError:
    if isinstance(exc, jsbox.JsTimeoutError):
        return EngineTimeout(str(exc))
    text = str(exc)
    if text.startswith("out of memory") or text == "null":
        return EngineOutOfMemory(text.split("\n", 1)[0])
    return EngineError(text)


class Engine:
    """One JS runtime with a heap limit and a stack limit; no ambient authority."""

    def __init__(self, *, memory_limit_bytes: int, max_stack_bytes: int) -> None:
        self._rt = jsbox.Runtime(
            memory_limit=memory_limit_bytes,
            max_stack_size=max_stack_bytes,
            # Large values still cross (module tables, file contents), but not unbounded ones.
            max_value_bytes=64 * 1024 * 1024,
        )
        self._rt.eval(f"globalThis.{_FOREVER} = new Promise(() => {{}}); undefined")

    def bind(self, name: str, fn: Callable[..., Any]) -> None:
        """Expose a Python callable as a JS global function (arguments and results are copied)."""
        self._rt.bind_function(name, fn)

    def add_module(self, name: str, source: str) -> None:
        """Register an ES module source under ``name`` (the only way a module becomes importable)."""
        self._rt.add_static_module(name, source)

    def eval(self, code: str, *, timeout_s: float | None = None) -> Any:
        """Evaluate a script and return its (copied) result."""
        try:
            return self._rt.eval(code, timeout=timeout_s)
        except (jsbox.JavaScriptError, jsbox.JsTimeoutError) as exc:
            raise _classify(exc) from None

    def run_and_drain(self, code: str, *, timeout_s: float | None = None) -> None:
        """Run ``code`` (a statement list) and then every queued job until the queue is empty."""
        try:
            self._rt.eval(f"{code};\n{_FOREVER}", timeout=timeout_s)
        except (jsbox.JavaScriptError, jsbox.JsTimeoutError) as exc:
            if isinstance(exc, jsbox.JavaScriptError) and str(exc).startswith(_NEVER_SETTLED):
                return
            raise _classify(exc) from None

    def eval_module(self, name: str, *, timeout_s: float | None = None) -> dict[str, Any]:
        """Evaluate a registered module; returns its non-function exports."""
        try:
            exports: dict[str, Any] = self._rt.eval_module(name, timeout=timeout_s)
            return exports
        except (jsbox.JavaScriptError, jsbox.JsTimeoutError) as exc:
            raise _classify(exc) from None

    def check_syntax(self, code: str, *, module: bool = True) -> None:
        """Parse without running; raise ``EngineError`` on a syntax error."""
        try:
            self._rt.check_syntax(code, module=module)
        except jsbox.JavaScriptError as exc:
            raise EngineError(str(exc)) from None
