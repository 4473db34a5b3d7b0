"""Constant folding of method calls on known strings, numbers, arrays and Buffers, used by the resolver.

``'a,b'.split(',')``, ``[...].reverse().join('')``, ``s.charCodeAt(i) ^ 7``, ``codes.map(c =>
String.fromCharCode(c - 3))``, ``s.replace(/[a-z]/g, rot13)``, ``(14).toString(36)``,
``Buffer.from(x, 'base64').toString()``: each returns the folded value, marked ``obfuscated`` (built
rather than written) and ``decoded`` when a decoder was involved.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import replace
from typing import Final, Protocol

from tree_sitter import Node

from pi_sandbox.scanner import ops
from pi_sandbox.scanner import values as v
from pi_sandbox.scanner.values import Val

#: Longest array a callback is run over (``map``/``filter``/``reduce``).
MAX_CALLBACK_ITEMS: Final = 512


class Folder(Protocol):
    """What folding needs from the resolver: evaluate a node, call a function value."""

    def evaluate(self, node: Node, depth: int = 0) -> Val:
        """The abstract value of ``node``."""
        ...

    def call_value(self, fn: Val, args: list[Val]) -> Val:
        """The result of calling ``fn`` (a user function or a known built-in) with ``args``."""
        ...


def node_text(node: Node) -> str:
    """The source text of ``node`` (UTF-8, invalid bytes replaced)."""
    raw = node.text
    return raw.decode("utf-8", "replace") if raw is not None else ""


def fold_method_call(r: Folder, obj: Val, method: str, args: list[Node], depth: int) -> Val | None:
    """Fold string/number/array/Buffer methods over constants; None when this is not such a call."""
    kind = obj.kind
    if kind == v.FUNC and obj.path == "return-this" and method in ("call", "apply"):
        return None
    if kind == v.ARR:
        return _array_method(r, obj, method, args, depth)
    if kind == v.STR:
        return _string_method(r, obj, method, args, depth)
    if kind == v.NUM and method == "toString":
        radix = r.evaluate(args[0], depth).number if args else 10.0
        n = obj.number
        text = ops.to_radix(n, int(radix)) if n is not None and radix is not None else None
        return v.string(text, obfuscated=True, decoded=obj.decoded) if text is not None else v.UNKNOWN
    if kind == v.BUF and method == "toString":
        enc = r.evaluate(args[0], depth).known_text if args else "utf8"
        if enc is None:
            return v.UNKNOWN
        text = obj.text if enc.lower().replace("-", "") in ("utf8", "ascii", "latin1", "binary") else None
        return v.string(text, obfuscated=True, decoded=True) if text is not None else v.UNKNOWN
    if kind == v.REF and obj.path == "Buffer" and method == "from" and args:
        data = r.evaluate(args[0], depth)
        enc = r.evaluate(args[1], depth).known_text if len(args) > 1 else "utf8"
        return buffer_from(data, enc)
    return None


def buffer_from(data: Val, enc: str | None) -> Val:
    """``Buffer.from(data, enc)`` of a constant string or array of byte values."""
    if data.kind == v.ARR:
        text = v.char_codes(data.items)
    elif data.kind == v.STR and enc is not None:
        text = v.decode_buffer(data.text, enc)
    else:
        text = None
    if text is None:
        return v.UNKNOWN
    return v.with_via(v.Val(v.BUF, text=text, obfuscated=True, decoded=True, via=data.via), f"Buffer.from(…, {enc})")


def _marks(obj: Val, vals: list[Val]) -> v.Marks:
    return {"obfuscated": True, "decoded": obj.decoded or any(x.decoded for x in vals)}


def _callback_items(r: Folder, fn: Val, items: tuple[Val, ...]) -> list[Val] | None:
    out = []
    for index, item in enumerate(items[:MAX_CALLBACK_ITEMS]):
        result = r.call_value(fn, [item, v.number(index)])
        if result.kind == v.UNKNOWN_KIND:
            return None
        out.append(result)
    return out if len(items) <= MAX_CALLBACK_ITEMS else None


def _array_method(r: Folder, obj: Val, method: str, args: list[Node], depth: int) -> Val | None:
    vals = [r.evaluate(a, depth) for a in args[:3]]
    marks = _marks(obj, vals)
    if method == "join":
        sep = vals[0].known_text if vals else ","
        texts = [i.known_text for i in obj.items]
        if sep is None or any(t is None for t in texts):
            return v.UNKNOWN
        joined = v.string(sep.join(t for t in texts if t is not None), **marks)
        return v.with_via(replace(joined, via=obj.via), ".join()")
    if method in ("reverse", "toReversed"):
        return v.array(obj.items[::-1], via=obj.via, **marks)
    if method == "concat":
        items = list(obj.items)
        for e in vals:
            items.extend(e.items if e.kind == v.ARR else (e,))
        return v.array(tuple(items), **marks)
    if method == "slice":
        nums = [x.number for x in vals]
        if any(n is None for n in nums):
            return v.UNKNOWN
        bounds = [int(n) for n in nums if n is not None]
        return v.array(obj.items[slice(*bounds[:2])] if bounds else obj.items, **marks)
    if method in ("map", "filter", "reduce", "flatMap") and vals:
        return _array_callback(r, obj, method, vals, marks)
    if method in ("find", "findLast", "findIndex", "some", "every") and vals:
        return _array_search(r, obj, method, vals[0])
    if method in ("at",) and vals and vals[0].number is not None:
        index = int(vals[0].number or 0)
        return obj.items[index] if -len(obj.items) <= index < len(obj.items) else v.UNKNOWN
    if method in ("indexOf", "includes", "forEach", "sort"):
        return v.UNKNOWN
    return None


def _array_search(r: Folder, obj: Val, method: str, fn: Val) -> Val:
    """``find``/``findIndex``/``some``/``every`` with a predicate the resolver can run."""
    items = list(enumerate(obj.items[:MAX_CALLBACK_ITEMS]))
    if method == "findLast":
        items.reverse()
    for index, item in items:
        truth = r.call_value(fn, [item, v.number(index)]).truthy
        if truth is None:
            return v.UNKNOWN
        if truth != (method == "every"):
            if method in ("some", "every"):
                return v.boolean(method == "some")
            picked = v.number(index) if method == "findIndex" else item
            return v.with_via(v.tainted(picked, obfuscated=True), f".{method}(…)")
    if method in ("some", "every"):
        return v.boolean(method == "every")
    return v.number(-1) if method == "findIndex" else v.UNKNOWN


def _array_callback(r: Folder, obj: Val, method: str, vals: list[Val], marks: v.Marks) -> Val:
    fn = vals[0]
    if method == "reduce":
        acc = vals[1] if len(vals) > 1 else (obj.items[0] if obj.items else v.UNKNOWN)
        for index, item in enumerate(obj.items[(0 if len(vals) > 1 else 1):][:MAX_CALLBACK_ITEMS]):
            acc = r.call_value(fn, [acc, item, v.number(index)])
            if acc.kind == v.UNKNOWN_KIND:
                return v.UNKNOWN
        return v.tainted(acc, **marks)
    results = _callback_items(r, fn, obj.items)
    if results is None:
        return v.UNKNOWN
    if method == "filter":
        kept = [item for item, keep in zip(obj.items, results, strict=False) if keep.truthy]
        return v.array(tuple(kept), **marks)
    if method == "flatMap":
        flat: list[Val] = []
        for res in results:
            flat.extend(res.items if res.kind == v.ARR else (res,))
        results = flat
    decoded = marks["decoded"] or any(x.decoded for x in results)
    return v.array(tuple(results), obfuscated=True, decoded=decoded,
                 via=tuple(results[0].via[-1:]) if results and results[0].via else obj.via)


def _string_method(r: Folder, obj: Val, method: str, args: list[Node], depth: int) -> Val | None:  # noqa: C901
    text = obj.text
    vals = [r.evaluate(a, depth) for a in args[:3]]
    texts = [x.known_text for x in vals]
    marks = _marks(obj, vals)
    nums = [x.number for x in vals]
    if method == "split":
        if args and args[0].type == "regex":
            return _regex_split(text, node_text(args[0]), marks)
        sep = texts[0] if texts else None
        if sep is None:
            return v.array((obj,), **marks) if not args else v.UNKNOWN
        parts = list(text) if sep == "" else text.split(sep)
        return v.array(tuple(v.string(p) for p in parts[: v.MAX_ITEMS]), via=obj.via, **marks)
    if method == "concat":
        if any(t is None for t in texts):
            return v.UNKNOWN
        return v.string(text + "".join(t for t in texts if t is not None), **marks)
    if method in ("replace", "replaceAll") and len(args) >= 2:
        if args[0].type == "regex":
            return _regex_replace(r, text, node_text(args[0]), vals[1], marks)
        if texts[0] is None:
            return v.UNKNOWN
        if vals[1].kind == v.FUNC:
            return v.UNKNOWN
        if texts[1] is None:
            return v.UNKNOWN
        count = -1 if method == "replaceAll" else 1
        return v.string(text.replace(texts[0], texts[1], count), **marks)
    if method in ("toString", "valueOf", "trim", "trimStart", "trimEnd", "toLowerCase", "toUpperCase",
                  "normalize", "toLocaleLowerCase", "toLocaleUpperCase"):
        result = {"trim": text.strip(), "trimStart": text.lstrip(), "trimEnd": text.rstrip(),
                  "toLowerCase": text.lower(), "toUpperCase": text.upper(), "toLocaleLowerCase": text.lower(),
                  "toLocaleUpperCase": text.upper()}
        return v.Val(v.STR, text=result.get(method, text), obfuscated=obj.obfuscated or method != "toString",
                     decoded=obj.decoded, via=obj.via)
    if method in ("slice", "substring", "substr"):
        if any(n is None for n in nums) or not nums:
            return v.UNKNOWN if args else v.string(text, **marks)
        ints = [int(n) for n in nums if n is not None]
        start = ints[0]
        if method == "substr":
            end = start + ints[1] if len(ints) > 1 else None
        elif method == "substring":
            start, end = max(0, start), (max(0, ints[1]) if len(ints) > 1 else None)
            if end is not None and end < start:
                start, end = end, start
        else:
            end = ints[1] if len(ints) > 1 else None
        return v.string(text[start:end], **marks)
    if method == "repeat" and nums and nums[0] is not None and 0 <= nums[0] < 64:
        return v.string(text * int(nums[0]), **marks)
    if method in ("charCodeAt", "codePointAt"):
        index = int(nums[0]) if nums and nums[0] is not None else 0 if not nums else None
        if index is None or not 0 <= index < len(text):
            return v.UNKNOWN
        return v.tainted(v.number(float(ord(text[index]))), **marks)
    if method in ("charAt", "at"):
        index = int(nums[0]) if nums and nums[0] is not None else 0 if not nums else None
        if index is None:
            return v.UNKNOWN
        if method == "at" and index < 0:
            index += len(text)
        return v.string(text[index] if 0 <= index < len(text) else "", **marks)
    if method in ("padStart", "padEnd") and nums and nums[0] is not None:
        fill = texts[1] if len(texts) > 1 and texts[1] is not None else " "
        width = int(nums[0])
        if width > 256 or not fill:
            return v.UNKNOWN
        pad = (fill * width)[: max(0, width - len(text))]
        return v.string(pad + text if method == "padStart" else text + pad, **marks)
    if method in ("indexOf", "lastIndexOf") and texts and texts[0] is not None:
        position = text.find(texts[0]) if method == "indexOf" else text.rfind(texts[0])
        return v.number(float(position))
    if method in ("startsWith", "endsWith", "includes") and texts and texts[0] is not None:
        test = {"startsWith": text.startswith, "endsWith": text.endswith, "includes": text.__contains__}[method]
        return v.boolean(test(texts[0]))
    if method == "match":
        return v.UNKNOWN
    return None


def _js_regex(regex_src: str) -> tuple[re.Pattern[str], str] | None:
    end = regex_src.rfind("/")
    pattern, flags = regex_src[1:end], regex_src[end + 1 :]
    try:
        with warnings.catch_warnings():  # JS patterns can look like future Python set syntax (`[[`)
            warnings.simplefilter("ignore", FutureWarning)
            return re.compile(pattern, re.IGNORECASE if "i" in flags else 0), flags
    except (re.error, ValueError, RecursionError):
        return None


def _regex_split(text: str, regex_src: str, marks: v.Marks) -> Val:
    compiled = _js_regex(regex_src)
    if compiled is None:
        return v.UNKNOWN
    parts = compiled[0].split(text)
    return v.array(tuple(v.string(p) for p in parts[: v.MAX_ITEMS] if p is not None), **marks)


def _regex_replace(r: Folder, text: str, regex_src: str, repl: Val, marks: v.Marks) -> Val:
    """A JS regex-literal replacement, with a constant or a callback (``c => rot13(c)``) replacement."""
    compiled = _js_regex(regex_src)
    if compiled is None:
        return v.UNKNOWN
    pattern, flags = compiled
    count = 0 if "g" in flags else 1
    if repl.kind == v.FUNC or repl.kind == v.REF:
        failed = False
        calls = 0

        def substitute(match: re.Match[str]) -> str:
            nonlocal failed, calls
            calls += 1
            if failed or calls > MAX_CALLBACK_ITEMS:
                failed = True
                return ""
            groups = [v.string(g) if g is not None else v.UNKNOWN for g in match.groups()]
            out = r.call_value(repl, [v.string(match.group(0)), *groups])
            if out.known_text is None:
                failed = True
                return ""
            return out.known_text

        result = pattern.sub(substitute, text, count=count)
        return v.UNKNOWN if failed else v.string(result, obfuscated=True, decoded=True)
    if repl.known_text is None or "$" in repl.known_text:
        return v.UNKNOWN
    try:
        return v.string(pattern.sub(repl.known_text.replace("\\", "\\\\"), text, count=count), **marks)
    except (re.error, ValueError):
        return v.UNKNOWN
