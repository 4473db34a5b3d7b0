"""Constant folding of method calls on known strings, arrays and Buffers (``'a,b'.split(',')``, ``[...].join``,
``Buffer.from(x, 'base64').toString()``), used by the resolver."""

from __future__ import annotations

import re
from collections.abc import Callable

from tree_sitter import Node

from pi_sandbox.scanner import values as v
from pi_sandbox.scanner.values import Val

#: The resolver's ``evaluate(node, depth)``.
Evaluate = Callable[[Node, int], Val]


def node_text(node: Node) -> str:
    """The source text of ``node`` (UTF-8, invalid bytes replaced)."""
    raw = node.text
    return raw.decode("utf-8", "replace") if raw is not None else ""


def fold_method_call(evaluate: Evaluate, obj: Val, method: str, args: list[Node], depth: int) -> Val | None:
    """Fold string/array/Buffer methods over constants; None when this is not such a call."""
    kind = obj.kind
    marks = {"obfuscated": True, "decoded": obj.decoded}
    if kind == v.FUNC and obj.path == "return-this" and method in ("call", "apply"):
        return None
    if kind == v.ARR:
        if method == "join":
            sep_val = evaluate(args[0], depth) if args else v.string(",")
            sep = sep_val.known_text
            texts = [i.known_text for i in obj.items]
            if sep is None or any(t is None for t in texts):
                return v.UNKNOWN
            return v.string(sep.join(t for t in texts if t is not None), **marks)
        if method == "reverse":
            return v.Val(v.ARR, items=obj.items[::-1], obfuscated=True, decoded=obj.decoded)
        if method == "map" and args and "fromCharCode" in node_text(args[0]):
            text = v.char_codes(obj.items)
            if text is None:
                return v.UNKNOWN
            return v.Val(v.ARR, items=tuple(v.string(c) for c in text), obfuscated=True, decoded=True)
        if method == "concat":
            extra = [evaluate(a, depth) for a in args]
            items = list(obj.items)
            for e in extra:
                items.extend(e.items if e.kind == v.ARR else (e,))
            return v.Val(v.ARR, items=tuple(items), obfuscated=True, decoded=obj.decoded)
        return None
    if kind == v.STR:
        return _string_method(evaluate, obj, method, args, depth)
    if kind == v.BUF and method == "toString":
        enc = evaluate(args[0], depth).known_text if args else "utf8"
        if enc is None:
            return v.UNKNOWN
        text = obj.text if enc.lower().replace("-", "") in ("utf8", "ascii", "latin1", "binary") else None
        return v.string(text, obfuscated=True, decoded=True) if text is not None else v.UNKNOWN
    if kind == v.REF and obj.path == "Buffer" and method == "from" and args:
        data = evaluate(args[0], depth)
        enc = evaluate(args[1], depth).known_text if len(args) > 1 else "utf8"
        if data.kind == v.ARR:
            text = v.char_codes(data.items)
        elif data.kind == v.STR and enc is not None:
            text = v.decode_buffer(data.text, enc)
        else:
            text = None
        if text is None:
            return v.UNKNOWN
        return v.Val(v.BUF, text=text, obfuscated=True, decoded=True)
    return None

def _string_method(evaluate: Evaluate, obj: Val, method: str, args: list[Node], depth: int) -> Val | None:
    text = obj.text
    vals = [evaluate(a, depth) for a in args[:3]]
    texts = [x.known_text for x in vals]
    marks = {"obfuscated": True, "decoded": obj.decoded or any(x.decoded for x in vals)}
    if method == "split":
        sep = texts[0] if texts else None
        if sep is None:
            return v.UNKNOWN
        parts = list(text) if sep == "" else text.split(sep)
        return v.Val(v.ARR, items=tuple(v.string(p) for p in parts[: v.MAX_ITEMS]),
                     obfuscated=True, decoded=marks["decoded"])
    if method == "concat":
        if any(t is None for t in texts):
            return v.UNKNOWN
        return v.string(text + "".join(t for t in texts if t is not None), **marks)
    if method in ("replace", "replaceAll") and len(args) >= 2:
        if args[0].type == "regex":
            return _regex_replace(text, node_text(args[0]), texts[1], method == "replaceAll", marks)
        if texts[0] is None or texts[1] is None:
            return v.UNKNOWN
        count = -1 if method == "replaceAll" else 1
        return v.string(text.replace(texts[0], texts[1], count), **marks)
    if method in ("toString", "valueOf", "trim", "toLowerCase", "toUpperCase", "normalize"):
        result = {"trim": text.strip(), "toLowerCase": text.lower(), "toUpperCase": text.upper()}
        return v.string(result.get(method, text), obfuscated=obj.obfuscated or method != "toString",
                        decoded=obj.decoded)
    if method in ("slice", "substring", "substr"):
        try:
            nums = [int(float(t)) for t in texts if t is not None]
        except ValueError:
            return v.UNKNOWN
        if len(nums) != len(texts) or not nums:
            return v.UNKNOWN
        start = nums[0]
        if method == "substr":
            end = start + nums[1] if len(nums) > 1 else None
        else:
            end = nums[1] if len(nums) > 1 else None
        return v.string(text[start:end], **marks)
    if method == "repeat" and texts and texts[0] is not None and texts[0].isdigit() and int(texts[0]) < 64:
        return v.string(text * int(texts[0]), **marks)
    if method == "charAt" or method == "at":
        return v.UNKNOWN
    return None


def _regex_replace(text: str, regex_src: str, repl: str | None, _all: bool, marks: dict[str, bool]) -> Val:
    """Apply a JS regex literal replacement when both are simple enough for Python's ``re``."""
    if repl is None or "$" in repl:
        return v.UNKNOWN
    end = regex_src.rfind("/")
    pattern, flags = regex_src[1:end], regex_src[end + 1 :]
    try:
        compiled = re.compile(pattern, re.IGNORECASE if "i" in flags else 0)
        return v.string(compiled.sub(repl, text, count=0 if "g" in flags else 1), **marks)
    except (re.error, ValueError):
        return v.UNKNOWN
