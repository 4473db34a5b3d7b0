"""Static resolution: what an expression evaluates to, when the source alone can tell.

Folds string concatenation, template literals, arithmetic and XOR on char codes, ``[...].join``,
``split``/``reverse``/``map``/``reduce``, ``String.fromCharCode``/``fromCodePoint`` (also through
``.apply``/``.call`` and spreads), ``codePointAt``/``charCodeAt``, ``atob``/``Buffer.from(x, 'base64'|'hex')``,
``decodeURIComponent``, ``parseInt``/``toString(radix)``, escapes in strings and identifiers; follows
bindings to their reaching definitions (:mod:`.bindings`), object properties (literal and assigned later),
array elements, and runs small user functions (:mod:`.interp`) when they are called with values it knows.
"""

from __future__ import annotations

import posixpath
import re
from typing import Final

from tree_sitter import Node

from pi_sandbox.scanner import ops
from pi_sandbox.scanner import values as v
from pi_sandbox.scanner.bindings import (
    FUNCTION_NODES,
    ModuleLinks,
    identifier_name,
    merge,
)
from pi_sandbox.scanner.builtin_calls import BuiltinCalls
from pi_sandbox.scanner.fold import buffer_from, fold_method_call, node_text
from pi_sandbox.scanner.interp import Interpreter
from pi_sandbox.scanner.members import member
from pi_sandbox.scanner.rules import TRACKED_GLOBALS
from pi_sandbox.scanner.values import Val

__all__ = ["TRANSPARENT", "Resolver", "identifier_name"]

MAX_DEPTH: Final = 40
#: Evaluations in progress at once, across bindings, property writes and calls (Python's stack is ~1000).
MAX_NESTING: Final = 120
MAX_OBJECT_PROPS: Final = 64
#: Expression evaluations per file; past it everything is unknown (and reported as unresolved).
EVALUATION_BUDGET: Final = 250_000
#: Property values of object literals are resolved only when they are this simple (no nested literals).
SIMPLE_VALUES: Final = frozenset(
    {"identifier", "member_expression", "subscript_expression", "string", "template_string", "number",
     "binary_expression", "parenthesized_expression", "call_expression", "array", "arrow_function",
     "function_expression", "function", "true", "false"}
)
TRANSPARENT: Final = frozenset(
    {"parenthesized_expression", "non_null_expression", "as_expression", "satisfies_expression",
     "type_assertion", "await_expression"}
)
#: Tracked global names that code often re-declares locally (``const self = this``, a ``module`` loop
#: variable, ``const fetch = require('node-fetch')``): their declarations are looked up first.
REBOUND_GLOBALS: Final = frozenset(
    {"self", "window", "global", "frames", "module", "fetch", "process", "require", "atob", "Buffer",
     "WebSocket", "setTimeout", "setInterval", "setImmediate"}
)
#: Of those, names whose local declaration (with a value we cannot resolve) means the global is not meant.
#: ``require``/``process``/``eval`` are absent on purpose: a UMD wrapper's ``require`` parameter is still
#: the loader, so for them an unknown local falls back to the global.
LOCALLY_SHADOWED: Final = frozenset({"self", "window", "global", "frames", "module", "fetch", "WebSocket", "atob"})
#: `var String =`, `class Reflect`, `function Buffer(`: a declaration of a tracked global's name.
_DECLARED_GLOBAL = re.compile(
    rb"\b(?:var|let|const|class|function)\s+("
    + "|".join(sorted(TRACKED_GLOBALS - REBOUND_GLOBALS, key=lambda n: (-len(n), n))).encode() + rb")\b")


class Resolver(BuiltinCalls):
    """Evaluates expressions of one module."""

    def __init__(self, source: bytes, root: Node, file_key: str = "", links: ModuleLinks | None = None) -> None:
        super().__init__()
        self.source = source
        self.root = root
        self.file_key = file_key
        self.links = links
        self._budget = EVALUATION_BUDGET
        self._memo: dict[tuple[int, int, int], Val] = {}
        self._nesting = 0
        self._redeclared: frozenset[str] | None = None
        self.interp = Interpreter(self)

    def redeclared_globals(self) -> frozenset[str]:
        """Tracked global names this file declares itself (``class String``, ``var Reflect = …``)."""
        if self._redeclared is None:
            self._redeclared = frozenset(m.group(1).decode() for m in _DECLARED_GLOBAL.finditer(self.source))
        return self._redeclared

    def out_of_budget(self) -> bool:
        """Whether the per-file evaluation budget is spent."""
        return self._budget <= 0

    def identifier_value(self, node: Node) -> Val:
        """What an identifier refers to: a running call's local, its reaching definition, a tracked global."""
        name, escaped = identifier_name(node)
        for frame in reversed(self.frames):
            if name in frame:
                return frame[name]
        if name in ("__dirname", "__filename") and not self.definitions(name):
            return v.string("." if name == "__dirname" else "./" + posixpath.basename(self.file_key or "index.js"))
        if name in TRACKED_GLOBALS and name not in REBOUND_GLOBALS and name not in self.redeclared_globals():
            # Built-ins such as Object or eval are rarely re-declared; skipping the file-wide declaration
            # search for them keeps the scan fast (compiled code does declare `var String = (function …)`).
            return v.ref(name, obfuscated=escaped)
        bound = self.binding_at(name, node)
        if bound is not None and bound.kind != v.UNKNOWN_KIND:
            return v.with_via(v.tainted(bound, obfuscated=escaped), name) if bound.via else \
                v.tainted(bound, obfuscated=escaped)
        if bound is not None and (name in LOCALLY_SHADOWED or name in self.redeclared_globals()):
            return v.UNKNOWN  # `const self = this`, `for (const module of mods)`: a local, not the global
        if name in TRACKED_GLOBALS:
            return v.ref(name, obfuscated=escaped)
        return v.UNKNOWN

    # --- expressions -----------------------------------------------------------------------

    def evaluate(self, node: Node | None, depth: int = 0) -> Val:
        """The abstract value of expression ``node`` (memoised outside running calls: the climb, the sinks
        and the bindings ask for the same nodes again and again)."""
        if node is None or depth > MAX_DEPTH or self._budget <= 0 or self._nesting >= MAX_NESTING:
            return v.UNKNOWN
        self._nesting += 1  # bindings and property writes start new `depth` chains: this bounds them all
        try:
            if self.frames or self._in_progress:
                return self._evaluate(node, depth)
            key = (node.start_byte, node.end_byte, node.kind_id)
            cached = self._memo.get(key)
            if cached is None:
                cached = self._memo[key] = self._evaluate(node, depth)
            return cached
        finally:
            self._nesting -= 1

    def _evaluate(self, node: Node, depth: int) -> Val:  # noqa: C901 - one branch per node type
        self._budget -= 1  # a crafted file (nested literals) must not make the scan unbounded
        t = node.type
        d = depth + 1
        if t == "string":
            text, hiding = v.literal_text(node_text(node))
            return v.string(text, obfuscated=hiding)
        if t == "template_string":
            return self._template(node, d)
        if t == "number":
            return v.Val(v.NUM, text=v.number_text(node_text(node)))
        if t in ("identifier", "shorthand_property_identifier"):
            return self.identifier_value(node)
        if t in ("true", "false"):
            return v.boolean(t == "true")
        if t in TRANSPARENT:
            inner = node.named_children
            return self.evaluate(inner[0], d) if inner else v.UNKNOWN
        if t == "sequence_expression":
            children = node.named_children
            return self.evaluate(children[-1], d) if children else v.UNKNOWN
        if t == "member_expression":
            return self._member(node, d)
        if t == "subscript_expression":
            obj = node.child_by_field_name("object")
            index = node.child_by_field_name("index")
            if obj is None or index is None:
                return v.UNKNOWN
            key = self.evaluate(index, d)
            if index.type not in ("string", "number"):
                key = v.tainted(key, obfuscated=key.kind == v.STR)
            return self._property(obj, self.evaluate(obj, d), key)
        if t == "binary_expression":
            return self._binary(node, d)
        if t == "unary_expression":
            operator, argument = node.child_by_field_name("operator"), node.child_by_field_name("argument")
            if operator is None or argument is None:
                return v.UNKNOWN
            return ops.unary(node_text(operator), self.evaluate(argument, d))
        if t == "array":
            return self._array(node, d)
        if t == "call_expression":
            return self._call(node, d)
        if t == "new_expression":
            return self._new(node, d)
        if t in FUNCTION_NODES:
            return self.function_value(node)
        if t == "object":
            return self._object(node, d)
        if t == "ternary_expression":
            return self._ternary(node, d)
        return v.UNKNOWN

    def _member(self, node: Node, depth: int) -> Val:
        obj = node.child_by_field_name("object")
        prop = node.child_by_field_name("property")
        if obj is None or prop is None:
            return v.UNKNOWN
        name, escaped = identifier_name(prop)
        if obj.type == "meta_property":  # import.meta.url / .dirname / .filename: this module's own location
            here = "./" + posixpath.basename(self.file_key or "index.js")
            return v.string({"url": "file:" + here, "dirname": ".", "filename": here}.get(name, "")) \
                if name in ("url", "dirname", "filename") else v.UNKNOWN
        return self._property(obj, self.evaluate(obj, depth), v.string(name, obfuscated=escaped))

    def _property(self, obj_node: Node, obj: Val, key: Val) -> Val:
        """``obj[key]``, also for properties assigned after an object was built (``o.k = 'eval'``)."""
        name = key.known_text
        if name is not None and obj.kind in (v.STR, v.ARR):
            element = _element(obj, name)
            if element is not None:
                return v.tainted(element, obfuscated=key.obfuscated)
        value = member(obj, key)
        if value.kind == v.UNKNOWN_KIND and name is not None and obj_node.type == "identifier" \
                and obj.kind in (v.OBJ, v.ARR):
            writes = self.property_writes(node_text(obj_node), name)
            if writes:
                return merge(writes)
        return value

    def member_of(self, obj: Val, name: str) -> Val:
        """``obj.name`` for a value (the interpreter's destructured parameters)."""
        if obj.kind in (v.STR, v.ARR):
            element = _element(obj, name)
            if element is not None:
                return element
        return member(obj, v.string(name))

    def _array(self, node: Node, depth: int) -> Val:
        items: list[Val] = []
        for child in node.named_children[: v.MAX_ITEMS]:
            if child.type == "spread_element" and child.named_children:
                spread = self.evaluate(child.named_children[0], depth)
                if spread.kind == v.ARR:
                    items.extend(spread.items)
                elif spread.kind == v.STR:
                    items.extend(v.string(c) for c in spread.text)
                else:
                    items.append(v.UNKNOWN)
            elif child.type != "comment":
                items.append(self.evaluate(child, depth))
        return v.Val(v.ARR, items=tuple(items), obfuscated=any(i.obfuscated for i in items),
                     decoded=any(i.decoded for i in items))

    def _object(self, node: Node, depth: int) -> Val:
        """An object literal with its first properties (``{ g: globalThis }`` keeps ``g``)."""
        props: list[Val] = []
        for child in node.named_children[:MAX_OBJECT_PROPS]:
            if child.type == "pair":
                key = child.child_by_field_name("key")
                value = child.child_by_field_name("value")
                if key is None or value is None:
                    continue
                name = self.key_value(key).known_text
                if name is not None and value.type in SIMPLE_VALUES:
                    props.append(v.Val(v.PROP, text=name, items=(self.evaluate(value, depth),)))
            elif child.type == "shorthand_property_identifier":
                props.append(v.Val(v.PROP, text=node_text(child), items=(self.identifier_value(child),)))
            elif child.type == "method_definition":
                key = child.child_by_field_name("name")
                if key is not None:
                    props.append(v.Val(v.PROP, text=node_text(key), items=(self.function_value(child),)))
        return v.Val(v.OBJ, items=tuple(props)) if props else v.OBJECT_VALUE

    def _template(self, node: Node, depth: int) -> Val:
        parts: list[str] = []
        obfuscated = decoded = False
        via: tuple[str, ...] = ()
        for child in node.named_children:
            if child.type == "template_substitution":
                inner = child.named_children
                value = self.evaluate(inner[0], depth) if inner else v.UNKNOWN
                text = value.known_text
                if text is None:
                    return v.UNKNOWN
                parts.append(text)
                obfuscated = True
                decoded = decoded or value.decoded
                via = via or value.via
            elif child.type in ("string_fragment", "escape_sequence"):
                text, hiding = v.decode_escapes(node_text(child))
                obfuscated = obfuscated or hiding
                parts.append(text)
        result = v.string("".join(parts), obfuscated=obfuscated, decoded=decoded)
        return v.with_via(v.Val(v.STR, text=result.text, obfuscated=obfuscated, decoded=decoded, via=via),
                          "`…${}`") if via else result

    def _binary(self, node: Node, depth: int) -> Val:
        operator = node.child_by_field_name("operator")
        op = node_text(operator) if operator is not None else ""
        left_node = node.child_by_field_name("left")
        right_node = node.child_by_field_name("right")
        if left_node is None or right_node is None:
            return v.UNKNOWN
        if op in ("||", "??", "&&"):
            left = self.evaluate(left_node, depth)
            truth = left.truthy
            if op == "&&":
                return self.evaluate(right_node, depth) if truth is not False else left
            if left.kind != v.UNKNOWN_KIND and (op == "??" or truth is not False):
                return left
            return self.evaluate(right_node, depth)
        if op != "+":
            return ops.binary(op, self.evaluate(left_node, depth), self.evaluate(right_node, depth)) \
                if op in ops.BINARY_OPERATORS else v.UNKNOWN
        # `'a' + 'b' + ... + 'z'` is a left-deep chain: flatten it without recursing once per piece.
        operands = [right_node]
        head = left_node
        while head.type == "binary_expression" and len(operands) < v.MAX_ITEMS:
            head_op = head.child_by_field_name("operator")
            head_left, head_right = head.child_by_field_name("left"), head.child_by_field_name("right")
            if head_op is None or node_text(head_op) != "+" or head_left is None or head_right is None:
                break
            operands.append(head_right)
            head = head_left
        operands.append(head)
        result: Val | None = None
        via: tuple[str, ...] = ()
        for piece_node in reversed(operands):
            piece = self.evaluate(piece_node, depth)
            via = via or piece.via
            result = piece if result is None else ops.binary("+", result, piece)
            if result.kind == v.UNKNOWN_KIND:
                return v.UNKNOWN
        if result is None or result.kind != v.STR:
            return result or v.UNKNOWN
        return v.Val(v.STR, text=result.text, obfuscated=True, decoded=result.decoded, via=via)

    def _ternary(self, node: Node, depth: int) -> Val:
        """``c ? a : b``: the branch a known condition picks, else the merge of both branches."""
        condition = node.child_by_field_name("condition")
        truth = self.evaluate(condition, depth).truthy if condition is not None else None
        if truth is not None:
            return self.evaluate(node.child_by_field_name("consequence" if truth else "alternative"), depth)
        branches = [node.child_by_field_name(f) for f in ("consequence", "alternative")]
        values = [self.evaluate(b, depth) for b in branches if b is not None]
        known = [x for x in values if x.kind != v.UNKNOWN_KIND]
        if known and all(x.kind == v.REF for x in known):  # `globalThis : window`: both the global object
            return known[0]
        return merge(values)

    def call_arguments(self, call: Node) -> list[Node]:
        """The argument nodes of a call or ``new`` (a tagged template is one argument)."""
        args = call.child_by_field_name("arguments")
        if args is None:
            return []
        if args.type == "template_string":
            return [args]
        return [c for c in args.named_children if c.type != "comment"]

    def _argument_values(self, args: list[Node], depth: int) -> list[Val]:
        values: list[Val] = []
        for arg in args:
            if arg.type == "spread_element" and arg.named_children:
                spread = self.evaluate(arg.named_children[0], depth)
                if spread.kind == v.ARR:
                    values.extend(spread.items)
                    continue
                if spread.kind == v.STR:
                    values.extend(v.string(c) for c in spread.text)
                    continue
            values.append(self.evaluate(arg, depth))
        return values

    def _call(self, node: Node, depth: int) -> Val:
        callee = node.child_by_field_name("function")
        if callee is None or callee.type == "import":
            return v.UNKNOWN
        args = self.call_arguments(node)
        inner = callee
        while inner.type == "parenthesized_expression" and inner.named_child_count:
            inner = inner.named_children[0]
        if inner.type in ("function_expression", "function") and _returns_this(inner):
            return v.ref("globalThis")  # sloppy-mode `(function () { return this })()` is the global object
        if callee.type == "member_expression":
            obj_node = callee.child_by_field_name("object")
            prop_node = callee.child_by_field_name("property")
            if obj_node is not None and prop_node is not None:
                method = identifier_name(prop_node)[0]
                obj = self.evaluate(obj_node, depth)
                folded = fold_method_call(self, obj, method, args, depth)
                if folded is not None:
                    return folded
                if method in ("call", "apply") and obj.kind in (v.FUNC, v.REF):
                    values = self._argument_values(args, depth)
                    rest = values[1:] if method == "call" else (
                        list(values[1].items) if len(values) > 1 and values[1].kind == v.ARR else None)
                    return self.call_value(obj, rest) if rest is not None else v.UNKNOWN
        fn = self.evaluate(callee, depth)
        values = self._argument_values(args, depth)
        result = self.call_value(fn, values)
        if fn.kind == v.FUNC and result.kind == v.STR:
            result = v.with_via(v.tainted(result, obfuscated=True), f"{node_text(callee)[:30]}(…)")
        return result

    def function_node(self, fn: Val) -> Node | None:
        """The node of a user function of this module named by ``fn`` (``fn:<file>:<start>:<end>``)."""
        file_key, start, end = fn.path[3:].rsplit(":", 2)
        if file_key != self.file_key:
            return None
        function = self.root.descendant_for_byte_range(int(start), int(end))
        while function is not None and function.type not in FUNCTION_NODES:
            function = function.parent
        return function if function is not None and function.start_byte == int(start) else None

    def call_value(self, fn: Val, args: list[Val]) -> Val:
        """The result of calling ``fn`` with ``args``: a user function is run, a known built-in folded."""
        if fn.kind == v.FUNC and fn.path.startswith("fn:"):
            if fn.path[3:].rsplit(":", 2)[0] != self.file_key:
                return self.links.call_function(fn, args) if self.links is not None else v.UNKNOWN
            function = self.function_node(fn)
            return self.interp.call(function, args) if function is not None else v.UNKNOWN
        return self.call_result(fn, args)

    def _new(self, node: Node, depth: int) -> Val:
        ctor = node.child_by_field_name("constructor")
        if ctor is None:
            return v.UNKNOWN
        fn = self.evaluate(ctor, depth)
        if fn.kind == v.REF and fn.path == "Buffer":
            args = self.call_arguments(node)
            data = self.evaluate(args[0], depth) if args else v.UNKNOWN
            enc = self.evaluate(args[1], depth).known_text if len(args) > 1 else "utf8"
            return buffer_from(data, enc)
        if fn.kind == v.REF and fn.path == "Function":
            return v.FUNCTION_VALUE
        if node_text(ctor) == "URL" or (fn.kind == v.REF and fn.path == "mod:url.URL"):  # `new URL('data:…')`
            args = self.call_arguments(node)
            first = self.evaluate(args[0], depth) if args else v.UNKNOWN
            return first if first.kind == v.STR and len(args) == 1 else v.UNKNOWN
        return v.UNKNOWN


def _element(obj: Val, name: str) -> Val | None:
    """``s[0]`` / ``a[1]`` / ``.length`` of a constant string or array."""
    if name == "length":
        return v.number(float(len(obj.text if obj.kind == v.STR else obj.items)))
    if not name.isdigit():
        return None
    index = int(name)
    if obj.kind == v.STR:
        return v.string(obj.text[index], obfuscated=True) if index < len(obj.text) else v.UNKNOWN
    return obj.items[index] if index < len(obj.items) else v.UNKNOWN


def _returns_this(function: Node) -> bool:
    body = function.child_by_field_name("body")
    if body is None:
        return False
    text = re.sub(r"\s+", " ", node_text(body)).strip("{} ;")
    return text == "return this"
