"""Calls of built-ins the resolver can compute: decoders, loaders, path helpers, prototype and reflection
lookups (``atob``, ``String.fromCharCode``, ``require``, ``path.join``, ``Object.getPrototypeOf``,
``Object.keys(globalThis)``, ``Reflect.get``, ``.bind``)."""

from __future__ import annotations

import posixpath
from typing import Final

from pi_sandbox.scanner import ops
from pi_sandbox.scanner import values as v
from pi_sandbox.scanner.bindings import Bindings
from pi_sandbox.scanner.members import member, module_value
from pi_sandbox.scanner.rules import GLOBAL_MEMBER_NAMES, PROCESS_MEMBER_NAMES
from pi_sandbox.scanner.values import Val

#: Built-ins whose calls the resolver computes (see ``call_result``).
_CHAR_DECODERS: Final = frozenset({"String.fromCharCode", "String.fromCodePoint"})
ENUMERATING: Final = frozenset(
    {"Object.keys", "Object.values", "Object.entries", "Object.getOwnPropertyNames", "Reflect.ownKeys"}
)
_PATH_JOINS: Final = frozenset(
    {"mod:path.join", "mod:path.resolve", "mod:path.posix.join", "mod:path.posix.resolve"}
)
_ENUMERABLE: Final = frozenset({"globalThis", "global", "window", "self", "process"})


class BuiltinCalls(Bindings):
    """``call_result`` for the resolver; user functions go through ``call_value``."""

    def call_value(self, fn: Val, args: list[Val]) -> Val:
        """The result of calling ``fn`` with ``args`` (implemented by the resolver)."""
        raise NotImplementedError

    def call_result(self, fn: Val, args: list[Val]) -> Val:  # noqa: C901 - one branch per built-in
        """The value a call of built-in ``fn`` with ``args`` yields (decoders, loaders, prototype lookups)."""
        if fn.kind == v.FUNC and fn.path == "return-this":
            return v.ref("globalThis")
        if fn.kind != v.REF:
            return v.UNKNOWN
        path = fn.path
        first = args[0] if args else v.UNKNOWN
        if path == "atob" and first.kind == v.STR:
            text = v.decode_base64(first.text)
            return _decoded(text, first, "atob(…)")
        if path in ("decodeURIComponent", "unescape", "decodeURI") and first.kind == v.STR:
            decoded = v.url_decode(first.text)
            return v.with_via(v.string(decoded, obfuscated=True, decoded=decoded != first.text or first.decoded),
                              f"{path}(…)")
        if path in _CHAR_DECODERS:
            flat = first.items if len(args) == 1 and first.kind == v.ARR else tuple(args)
            text = v.char_codes(flat, code_points=path.endswith("CodePoint"))
            return _decoded(text, first, f"{path}(…)")
        if path in ("String.fromCharCode.apply", "String.fromCodePoint.apply") and len(args) > 1:
            return self.call_result(v.ref(path[:-6]), list(args[1].items) if args[1].kind == v.ARR else [])
        if path in ("require", "__non_webpack_require__"):
            if first.kind == v.STR and first.text.startswith(".") and self.links is not None:
                linked = self.links.imported(self.file_key, first.text, None)
                if linked is not None:
                    return linked
            return module_value(first)
        if path in ("Module.createRequire", "Module.createRequireFromPath"):
            return v.ref("require")
        if path == "String.raw" and first.kind == v.STR:
            return v.string(first.text, obfuscated=True, decoded=first.decoded)
        if path == "String" and first.kind in (v.STR, v.NUM, v.BOOL):
            return v.Val(v.STR, text=first.text, obfuscated=first.obfuscated, decoded=first.decoded, via=first.via)
        if path in ("Number", "parseInt", "parseFloat", "Number.parseInt") and first.known_text is not None:
            radix = args[1].number if len(args) > 1 else None
            n = ops.parse_int(first.text, int(radix) if radix else None) if "parseInt" in path else first.number
            return v.tainted(v.number(n if n is not None else float("nan")), obfuscated=True,
                             decoded=first.decoded)
        if path == "Array.from" and first.kind in (v.STR, v.ARR):
            items = tuple(v.string(c) for c in first.text) if first.kind == v.STR else first.items
            if len(args) > 1:
                mapped = [self.call_value(args[1], [item, v.number(i)]) for i, item in enumerate(items[:512])]
                return v.Val(v.ARR, items=tuple(mapped), obfuscated=True, decoded=first.decoded)
            return v.Val(v.ARR, items=items, obfuscated=True, decoded=first.decoded)
        if path in ENUMERATING and first.kind == v.REF and first.path in _ENUMERABLE:
            return enumerate_holder(path, first)
        if path in _PATH_JOINS:
            return _join_paths(args)
        if path in ("mod:url.fileURLToPath", "mod:path.dirname", "mod:path.basename") and first.kind == v.STR:
            text = first.text.removeprefix("file://").removeprefix("file:")
            if path.endswith("dirname"):
                text = posixpath.dirname(text) or "."
            elif path.endswith("basename"):
                text = posixpath.basename(text)
            return v.string(text, obfuscated=first.obfuscated, decoded=first.decoded)
        if path == "mod:os.homedir":
            return v.string("~")
        if path == "Function" and len(args) == 1 and _is_return_this(first):
            return v.Val(v.FUNC, path="return-this")
        if path in ("Object.getPrototypeOf", "Reflect.getPrototypeOf"):
            if first.path.startswith("proto:"):  # made by Object.create(P): its prototype is P
                return v.ref(first.path[6:], obfuscated=first.obfuscated)
            ctor = {v.FUNC: "Function", v.STR: "String", v.ARR: "Array", v.OBJ: "Object"}.get(first.kind)
            return v.ref(ctor + ".prototype") if ctor else v.UNKNOWN
        if path == "Object.create" and first.kind == v.REF:
            return v.Val(v.OBJ, path="proto:" + first.path)
        if path == "Reflect.get" and len(args) >= 2:
            return member(first, args[1])
        if path in ("Object.getOwnPropertyDescriptor", "Reflect.getOwnPropertyDescriptor") and len(args) >= 2:
            target = member(first, args[1])  # its `.value` / `.get` is the member itself
            return v.Val(v.REF, path="desc:" + target.path, obfuscated=target.obfuscated,
                         decoded=target.decoded) if target.kind == v.REF else v.UNKNOWN
        if path.endswith((".call.bind", ".apply.bind")):
            return v.UNKNOWN  # `Function.call.bind(f)` calls f, not Function
        if path.endswith(".bind") and path != "?function.bind":
            return v.ref(path[: -len(".bind")], obfuscated=fn.obfuscated, decoded=fn.decoded)
        return v.UNKNOWN


def enumerate_holder(call: str, holder: Val) -> Val:
    """``Object.keys(globalThis)`` / ``.entries`` / ``.values``: the members a reflective pick can choose from."""
    names = PROCESS_MEMBER_NAMES if holder.path == "process" else GLOBAL_MEMBER_NAMES
    keys = [v.string(n, obfuscated=True) for n in names]
    if call == "Object.values":
        items = tuple(member(holder, k) for k in keys)
    elif call == "Object.entries":
        items = tuple(v.Val(v.ARR, items=(k, member(holder, k))) for k in keys)
    else:
        items = tuple(keys)
    return v.Val(v.ARR, path=f"enum:{holder.path}", items=items, obfuscated=True,
                 via=(f"{call}({holder.path})",))


def _join_paths(args: list[Val]) -> Val:
    """``path.join(__dirname, '..', x)`` / ``path.resolve``: a constant path when every part is known."""
    parts: list[str] = []
    for arg in args:
        if arg.kind == v.REF and arg.path in ("process.env.HOME", "process.env.USERPROFILE"):
            parts.append("~")
        elif arg.kind == v.STR:
            parts.append(arg.text)
        else:
            return v.UNKNOWN
    joined = posixpath.normpath(posixpath.join(*parts)) if parts else "."
    return v.string(joined, obfuscated=any(a.obfuscated for a in args), decoded=any(a.decoded for a in args))


def _decoded(text: str | None, source: Val, step: str) -> Val:
    if text is None:
        return v.UNKNOWN
    return v.with_via(v.Val(v.STR, text=text[: v.MAX_STR], obfuscated=True, decoded=True, via=source.via), step)


def _is_return_this(value: Val) -> bool:
    return value.kind == v.STR and value.text.strip().rstrip(";").strip() == "return this"
