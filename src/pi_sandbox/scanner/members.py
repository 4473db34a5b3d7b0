"""Member access on abstract values: what ``obj.key`` / ``obj[key]`` and ``require(spec)`` refer to.

``member`` maps a tracked path and a key to the next path (``globalThis.eval`` is ``eval``,
``x.constructor`` of anything callable is ``Function``, ``process.mainModule`` is ``module``); the
resolver and the sink rules build every chain from it.
"""

from __future__ import annotations

from typing import Final

from pi_sandbox.scanner import values as v
from pi_sandbox.scanner.rules import BUILTIN_CONSTRUCTORS, GLOBAL_OBJECT_NAMES, TRACKED_GLOBALS, module_root
from pi_sandbox.scanner.values import Val

MAX_PATH_SEGMENTS: Final = 12
#: Node modules whose namespace is the global object's timers (``require('timers').setTimeout``).
GLOBAL_ALIAS_MODULES: Final = frozenset({"timers"})


def module_value(spec: Val) -> Val:
    """The value of ``require(spec)`` / an import of ``spec``."""
    if spec.kind != v.STR:
        return v.UNKNOWN
    root = module_root(spec.text)
    if root == "module":
        path = "Module"
    elif root == "process":
        path = "process"
    elif root in GLOBAL_ALIAS_MODULES:
        path = "globalThis"
    else:
        path = "mod:" + root
    return v.ref(path, obfuscated=spec.obfuscated, decoded=spec.decoded)


def _is_callable_path(path: str) -> bool:
    """Whether a tracked path names something callable (its ``.constructor`` is ``Function``)."""
    if path in BUILTIN_CONSTRUCTORS or path in TRACKED_GLOBALS - GLOBAL_OBJECT_NAMES - {"process", "module"}:
        return True
    last = path.rsplit(".", 1)[-1]
    return "." in path and last not in ("prototype", "env", "cache", "exports") and not path.startswith("?")


def member(obj: Val, key: Val) -> Val:
    """The value of ``obj[key]`` / ``obj.key``."""
    name = key.known_text
    marks: v.Marks = {"obfuscated": obj.obfuscated or key.obfuscated, "decoded": obj.decoded or key.decoded}
    if name is None:
        if obj.kind == v.REF:
            return v.Val(v.COMPUTED, path=obj.path, obfuscated=marks["obfuscated"], decoded=marks["decoded"])
        return v.UNKNOWN
    kind = obj.kind
    if kind == v.OBJ and obj.items:
        for prop in obj.items:
            if prop.text == name:
                return v.tainted(prop.items[0], obfuscated=key.obfuscated)
    if kind == v.REF:
        if obj.path.count(".") >= MAX_PATH_SEGMENTS:
            return v.UNKNOWN
        via = (obj.via + key.via)[-v.MAX_VIA:]
        return v.Val(v.REF, path=_ref_member(obj.path, name), via=via, **marks)
    if name == "constructor":
        ctor = {v.FUNC: "Function", v.STR: "String", v.NUM: "Number", v.ARR: "Array", v.OBJ: "Object",
                v.BUF: "Buffer"}.get(kind, "?ctor")
        return v.ref(ctor, **marks)
    if kind == v.STR and name != "length":
        return v.ref("String.prototype." + name, **marks)
    if kind == v.ARR and name != "length":
        return v.ref("Array.prototype." + name, **marks)
    if kind == v.FUNC and name in ("call", "apply", "bind"):
        return v.ref("?function." + name, **marks)
    if kind == v.OBJ and name == "__proto__" and obj.path.startswith("proto:"):
        return v.ref(obj.path[6:], **marks)
    if kind in (v.UNKNOWN_KIND, v.OBJ, v.COMPUTED) and name == "__proto__":
        return v.ref("?proto", **marks)
    if kind == v.BUF:
        return v.Val(v.BUF, path=name, text=obj.text, obfuscated=marks["obfuscated"], decoded=marks["decoded"])
    return v.UNKNOWN


def _ref_member(path: str, name: str) -> str:
    if path.startswith("desc:"):
        return path[5:] if name in ("value", "get") else "?"
    if path in GLOBAL_OBJECT_NAMES:
        if name in GLOBAL_OBJECT_NAMES:
            return "globalThis"
        return "Object" if name == "constructor" else name
    if name == "constructor":
        if path.endswith(".prototype"):
            return path[: -len(".prototype")]
        if path == "module":
            return "Module"
        if path == "?ctor" or _is_callable_path(path):
            return "Function"
        return "?ctor"
    joined = f"{path}.{name}"
    return {
        "process.mainModule": "module",
        "require.main": "module",
        "module.require": "require",
        "Module.prototype.constructor": "Module",
        "Module.Module": "Module",
    }.get(joined, joined)
