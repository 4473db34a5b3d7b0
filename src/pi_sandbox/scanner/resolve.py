"""Static resolution: what an expression evaluates to, when the source alone can tell.

Folds string concatenation, template literals with constant parts, ``[...].join``, ``split`` /
``reverse``, ``String.fromCharCode``, ``atob`` / ``Buffer.from(x, 'base64'|'hex')``,
``decodeURIComponent``, escapes in strings and identifiers, and follows simple bindings
(``const e = eval``, ``const g = globalThis``, destructuring, imports). Scope is approximated by the
file: a name's declarations anywhere in the file are its candidate values. That over-approximates
(an alias in one function is visible in another), which errs toward reporting.
"""

from __future__ import annotations

import re
from typing import Final

from tree_sitter import Node

from pi_sandbox.scanner import values as v
from pi_sandbox.scanner.fold import fold_method_call, node_text
from pi_sandbox.scanner.members import member, module_value
from pi_sandbox.scanner.rules import (
    CHILD_PROCESS_MODULES,
    FORBIDDEN_MODULES,
    TRACKED_GLOBALS,
    module_root,
)
from pi_sandbox.scanner.values import Val

MAX_DEPTH: Final = 40
MAX_DECLARATIONS: Final = 512
MAX_OBJECT_PROPS: Final = 64
#: Expression evaluations per file; past it everything is unknown (and reported as unresolved).
EVALUATION_BUDGET: Final = 250_000
#: Property values of object literals are resolved only when they are this simple (no nested literals).
SIMPLE_VALUES: Final = frozenset(
    {"identifier", "member_expression", "subscript_expression", "string", "template_string", "number",
     "binary_expression", "parenthesized_expression"}
)
TRANSPARENT: Final = frozenset(
    {"parenthesized_expression", "non_null_expression", "as_expression", "satisfies_expression",
     "type_assertion", "await_expression"}
)
FUNCTION_NODES: Final = frozenset(
    {"function_expression", "function", "arrow_function", "generator_function", "class",
     "function_declaration", "generator_function_declaration", "method_definition"}
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


def identifier_name(node: Node) -> tuple[str, bool]:
    """An identifier's name with escapes decoded, and whether it was escaped at all."""
    raw = node_text(node)
    if "\\" not in raw:
        return raw, False
    name, _hiding = v.decode_escapes(raw)
    return name, True


_WORD_CHAR = rb"[A-Za-z0-9_$\\]"
_WORD_BYTES: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$\\")


def _word_positions(source: bytes, word: bytes) -> list[int]:
    """Offsets where ``word`` occurs as a whole identifier token."""
    if not word:
        return []
    if len(word) <= 2:  # short names are everywhere as substrings: let the regex engine skip them
        pattern = re.compile(rb"(?<!" + _WORD_CHAR + rb")" + re.escape(word) + rb"(?!" + _WORD_CHAR + rb")")
        return [m.start() for m in pattern.finditer(source)]
    positions = []
    size = len(word)
    index = source.find(word)
    while index >= 0:
        before = source[index - 1] if index else 0x20
        after = source[index + size] if index + size < len(source) else 0x20
        if before not in _WORD_BYTES and after not in _WORD_BYTES:
            positions.append(index)
        index = source.find(word, index + size)
    return positions


class Resolver:
    """Evaluates expressions of one file; caches each name's declarations."""

    def __init__(self, source: bytes, root: Node) -> None:
        self.source = source
        self.root = root
        self._occurrences: dict[str, list[Node]] = {}
        self._binding_values: dict[str, Val | None] = {}
        self._in_progress: set[str] = set()
        self._budget = EVALUATION_BUDGET

    # --- names -----------------------------------------------------------------------------

    def occurrences(self, name: str) -> list[Node]:
        """Identifier-like nodes in the file spelled exactly ``name`` (found by a text search)."""
        cached = self._occurrences.get(name)
        if cached is not None:
            return cached
        found: list[Node] = []
        for start in _word_positions(self.source, name.encode()):
            end = start + len(name.encode())
            node = self.root.named_descendant_for_byte_range(start, end)
            if node is not None and node.start_byte == start and node.end_byte == end:
                found.append(node)
        self._occurrences[name] = found
        return found

    def declared_value(self, decl: Node) -> Val | None:
        """The value bound by declaration site ``decl`` (an occurrence of a name), or None if not one."""
        parent = decl.parent
        if parent is None:
            return None
        ptype = parent.type
        if ptype == "variable_declarator" and parent.child_by_field_name("name") == decl:
            value = parent.child_by_field_name("value")
            return self.evaluate(value) if value is not None else v.UNKNOWN
        if ptype == "assignment_expression" and parent.child_by_field_name("left") == decl:
            right = parent.child_by_field_name("right")
            return self.evaluate(right) if right is not None else v.UNKNOWN
        if decl.type == "shorthand_property_identifier_pattern":
            source = self._pattern_source(parent)
            if source is None:
                return v.UNKNOWN
            return member(source, v.string(identifier_name(decl)[0]))
        if ptype == "pair_pattern" and parent.child_by_field_name("value") == decl:
            key = parent.child_by_field_name("key")
            source = self._pattern_source(parent.parent)
            if source is None or key is None:
                return v.UNKNOWN
            return member(source, self._key_value(key))
        if ptype in ("formal_parameters", "required_parameter", "optional_parameter", "for_in_statement",
                     "catch_clause", "rest_pattern", "array_pattern"):
            return v.UNKNOWN  # a parameter, loop or catch variable: a local whose value is not static
        if ptype in ("import_clause", "namespace_import", "import_specifier", "import_require_clause"):
            return self._import_binding(decl, parent)
        if ptype in FUNCTION_NODES and parent.child_by_field_name("name") == decl:
            return v.FUNCTION_VALUE
        return None

    def _pattern_source(self, pattern: Node | None) -> Val | None:
        if pattern is None or pattern.type != "object_pattern":
            return None
        owner = pattern.parent
        if owner is not None and owner.type == "variable_declarator":
            value = owner.child_by_field_name("value")
            return self.evaluate(value) if value is not None else None
        if owner is not None and owner.type == "assignment_expression":
            right = owner.child_by_field_name("right")
            return self.evaluate(right) if right is not None else None
        return None

    def _key_value(self, key: Node) -> Val:
        if key.type in ("property_identifier", "identifier"):
            return v.string(identifier_name(key)[0])
        if key.type == "computed_property_name" and key.named_child_count:
            inner = key.named_children[0]
            return self.evaluate(inner)
        return self.evaluate(key)

    def _import_binding(self, decl: Node, parent: Node) -> Val:
        statement: Node | None = parent
        while statement is not None and statement.type != "import_statement":
            statement = statement.parent
        if statement is None:
            return v.UNKNOWN
        source = statement.child_by_field_name("source")
        if source is None:
            for child in statement.named_children:
                if child.type == "import_require_clause":
                    source = child.child_by_field_name("source")
        if source is None:
            return v.UNKNOWN
        module = module_value(self.evaluate(source))
        if parent.type == "import_specifier":
            name_node = parent.child_by_field_name("name")
            if name_node is not None and name_node != decl or parent.child_by_field_name("alias") == decl:
                imported = identifier_name(name_node)[0] if name_node is not None else ""
                return member(module, v.string(imported))
            return member(module, v.string(identifier_name(decl)[0]))
        return module

    def binding(self, name: str) -> Val | None:
        """The most telling value ``name`` is bound to in this file, or None when it is never declared."""
        if name in self._binding_values:
            return self._binding_values[name]  # None too: "never declared" is worth remembering
        if name in self._in_progress:
            return v.UNKNOWN
        self._in_progress.add(name)
        found: list[Val] = []
        try:
            for occurrence in self.occurrences(name)[:MAX_DECLARATIONS]:
                value = self.declared_value(occurrence)
                if value is not None and value not in found:
                    found.append(value)
        finally:
            self._in_progress.discard(name)
        if not found:
            self._binding_values[name] = None
            return None
        # Scope is approximated by the file, so a name declared with different values in different
        # functions (minified code reuses `e`, `t`, `u` everywhere) is ambiguous: unknown.
        best = found[0] if len(found) == 1 else v.UNKNOWN
        self._binding_values[name] = best
        return best

    def identifier_value(self, node: Node) -> Val:
        """What an identifier refers to: its binding in the file, else the tracked global, else unknown."""
        name, escaped = identifier_name(node)
        if name in TRACKED_GLOBALS and name not in REBOUND_GLOBALS:
            # Built-ins such as Object or eval are not re-declared in practice; skipping the file-wide
            # declaration search for them keeps the scan fast. A re-declaration only makes us stricter.
            return v.ref(name, obfuscated=escaped)
        bound = self.binding(name)
        if bound is not None and bound.kind != v.UNKNOWN_KIND:
            return v.tainted(bound, obfuscated=escaped)
        if bound is not None and name in LOCALLY_SHADOWED:
            return v.UNKNOWN  # `const self = this`, `for (const module of mods)`: a local, not the global
        if name in TRACKED_GLOBALS:
            return v.ref(name, obfuscated=escaped)
        return v.UNKNOWN

    # --- expressions -----------------------------------------------------------------------

    def evaluate(self, node: Node, depth: int = 0) -> Val:
        """The abstract value of expression ``node``."""
        if depth > MAX_DEPTH or self._budget <= 0:
            return v.UNKNOWN
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
        if t in TRANSPARENT:
            inner = node.named_children
            return self.evaluate(inner[0], d) if inner else v.UNKNOWN
        if t == "sequence_expression":
            children = node.named_children
            return self.evaluate(children[-1], d) if children else v.UNKNOWN
        if t == "member_expression":
            obj = node.child_by_field_name("object")
            prop = node.child_by_field_name("property")
            if obj is None or prop is None:
                return v.UNKNOWN
            name, escaped = identifier_name(prop)
            return member(self.evaluate(obj, d), v.string(name, obfuscated=escaped))
        if t == "subscript_expression":
            obj = node.child_by_field_name("object")
            index = node.child_by_field_name("index")
            if obj is None or index is None:
                return v.UNKNOWN
            key = self.evaluate(index, d)
            if index.type not in ("string", "number"):
                key = v.tainted(key, obfuscated=key.kind == v.STR)
            return member(self.evaluate(obj, d), key)
        if t == "binary_expression":
            return self._binary(node, d)
        if t == "array":
            items = tuple(self.evaluate(c, d) for c in node.named_children[: v.MAX_ITEMS])
            return v.Val(v.ARR, items=items, obfuscated=any(i.obfuscated for i in items),
                         decoded=any(i.decoded for i in items))
        if t == "call_expression":
            return self._call(node, d)
        if t == "new_expression":
            return self._new(node, d)
        if t in FUNCTION_NODES:
            return v.FUNCTION_VALUE
        if t == "object":
            return self._object(node, d)
        if t == "ternary_expression":
            return self._ternary(node, d)
        return v.UNKNOWN

    def _object(self, node: Node, depth: int) -> Val:
        """An object literal with its first properties (``{ g: globalThis }`` keeps ``g``)."""
        props: list[Val] = []
        for child in node.named_children[:MAX_OBJECT_PROPS]:
            if child.type == "pair":
                key = child.child_by_field_name("key")
                value = child.child_by_field_name("value")
                if key is None or value is None:
                    continue
                name = self._key_value(key).known_text
                if name is not None and value.type in SIMPLE_VALUES:
                    props.append(v.Val(v.PROP, text=name, items=(self.evaluate(value, depth),)))
            elif child.type == "shorthand_property_identifier":
                props.append(v.Val(v.PROP, text=node_text(child), items=(self.identifier_value(child),)))
        return v.Val(v.OBJ, items=tuple(props)) if props else v.OBJECT_VALUE

    def _template(self, node: Node, depth: int) -> Val:
        parts: list[str] = []
        obfuscated = False
        decoded = False
        pieces = 0
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
                pieces += 1
            elif child.type in ("string_fragment", "escape_sequence"):
                text, hiding = v.decode_escapes(node_text(child))
                obfuscated = obfuscated or hiding
                parts.append(text)
        return v.string("".join(parts), obfuscated=obfuscated, decoded=decoded)

    def _binary(self, node: Node, depth: int) -> Val:
        operator = node.child_by_field_name("operator")
        op = node_text(operator) if operator is not None else ""
        left_node = node.child_by_field_name("left")
        right_node = node.child_by_field_name("right")
        if left_node is None or right_node is None:
            return v.UNKNOWN
        if op in ("||", "??", "&&"):
            left = self.evaluate(left_node, depth)
            if left.kind != v.UNKNOWN_KIND and op != "&&":
                return left
            return self.evaluate(right_node, depth)
        if op != "+":
            return v.UNKNOWN
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
        pieces = [self.evaluate(n, depth) for n in reversed(operands)]
        texts = [p.known_text for p in pieces]
        if any(t is None for t in texts) or all(p.kind == v.NUM for p in pieces[:2]):
            return v.UNKNOWN
        return v.string("".join(t for t in texts if t is not None), obfuscated=True,
                        decoded=any(p.decoded for p in pieces))

    def _ternary(self, node: Node, depth: int) -> Val:
        """``c ? a : b``: the first known branch (``globalThis : window`` are both the global object).

        Strings that differ must not resolve to the harmless one: ``c ? 'fs' : 'vm'`` is the sensitive
        branch (marked obfuscated, as hiding it is the point), else unknown, which is at least flagged
        where it is used.
        """
        branches = [node.child_by_field_name(f) for f in ("consequence", "alternative")]
        values = [self.evaluate(b, depth) for b in branches if b is not None]
        texts = {x.text for x in values if x.kind == v.STR}
        if texts and (len(texts) > 1 or any(x.kind != v.STR for x in values)):
            sensitive = [x for x in values if x.kind == v.STR and _sensitive_name(x.text)]
            return v.tainted(sensitive[0], obfuscated=True) if sensitive else v.UNKNOWN
        return next((x for x in values if x.kind != v.UNKNOWN_KIND), v.UNKNOWN)

    def _args(self, call: Node) -> list[Node]:
        args = call.child_by_field_name("arguments")
        if args is None:
            return []
        if args.type == "template_string":
            return [args]
        return [c for c in args.named_children if c.type != "comment"]

    def argument_values(self, call: Node, depth: int = 0) -> list[Val]:
        """Abstract values of a call's arguments."""
        return [self.evaluate(a, depth + 1) for a in self._args(call)]

    def _call(self, node: Node, depth: int) -> Val:
        callee = node.child_by_field_name("function")
        if callee is None:
            return v.UNKNOWN
        if callee.type == "import":
            return v.UNKNOWN
        args = self._args(node)
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
                folded = fold_method_call(self.evaluate, self.evaluate(obj_node, depth), method, args, depth)
                if folded is not None:
                    return folded
        fn = self.evaluate(callee, depth)
        return self.call_result(fn, [self.evaluate(a, depth) for a in args])

    def _new(self, node: Node, depth: int) -> Val:
        ctor = node.child_by_field_name("constructor")
        if ctor is None:
            return v.UNKNOWN
        fn = self.evaluate(ctor, depth)
        if fn.kind == v.REF and fn.path == "Buffer":
            args = self._args(node)
            data = self.evaluate(args[0], depth) if args else v.UNKNOWN
            enc = self.evaluate(args[1], depth).known_text if len(args) > 1 else "utf8"
            text = v.decode_buffer(data.text, enc) if data.kind == v.STR and enc is not None else None
            return v.Val(v.BUF, text=text, obfuscated=True, decoded=True) if text is not None else v.UNKNOWN
        if fn.kind == v.REF and fn.path == "Function":
            return v.FUNCTION_VALUE
        return v.UNKNOWN

    def call_result(self, fn: Val, args: list[Val]) -> Val:
        """The value a call of ``fn`` with ``args`` yields, when a decoder or loader is called."""
        if fn.kind == v.FUNC and fn.path == "return-this":
            return v.ref("globalThis")
        if fn.kind != v.REF:
            return v.UNKNOWN
        path = fn.path
        first = args[0] if args else v.UNKNOWN
        if path == "atob" and first.kind == v.STR:
            text = v.decode_base64(first.text)
            return v.string(text, obfuscated=True, decoded=True) if text is not None else v.UNKNOWN
        if path in ("decodeURIComponent", "unescape", "decodeURI") and first.kind == v.STR:
            decoded = v.url_decode(first.text)
            return v.string(decoded, obfuscated=True, decoded=decoded != first.text or first.decoded)
        if path in ("String.fromCharCode", "String.fromCodePoint"):
            flat = first.items if len(args) == 1 and first.kind == v.ARR else tuple(args)
            text = v.char_codes(flat)
            return v.string(text, obfuscated=True, decoded=True) if text is not None else v.UNKNOWN
        if path in ("require", "__non_webpack_require__"):
            return module_value(first)
        if path in ("Module.createRequire", "Module.createRequireFromPath"):
            return v.ref("require")
        if path == "String.raw" and first.kind == v.STR:
            return v.string(first.text, obfuscated=True, decoded=first.decoded)
        if path == "String" and first.kind in (v.STR, v.NUM):
            return v.string(first.text, obfuscated=first.obfuscated, decoded=first.decoded)
        if path == "Function" and len(args) == 1 and _is_return_this(first):
            return v.Val(v.FUNC, path="return-this")
        if path in ("Object.getPrototypeOf", "Reflect.getPrototypeOf"):
            ctor = {v.FUNC: "Function", v.STR: "String", v.ARR: "Array", v.OBJ: "Object"}.get(first.kind)
            return v.ref(ctor + ".prototype") if ctor else v.UNKNOWN
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


#: Member names a ternary resolves to when its other branch is a harmless string (not ``exec``/``spawn``:
#: ``re[g ? 'exec' : 'test']`` is ordinary code; child_process members are judged by the import).
_TERNARY_SENSITIVE_MEMBERS: Final = frozenset(
    {"eval", "Function", "constructor", "__proto__", "prototype", "binding", "_linkedBinding", "dlopen", "_load",
     "mainModule", "execScript"}
)


def _sensitive_name(text: str) -> bool:
    """A member or module name worth resolving a ternary to (eval, constructor, vm, child_process, ...)."""
    root = module_root(text.strip())
    return text in _TERNARY_SENSITIVE_MEMBERS or root in FORBIDDEN_MODULES or root in CHILD_PROCESS_MODULES


def _returns_this(function: Node) -> bool:
    body = function.child_by_field_name("body")
    if body is None:
        return False
    text = re.sub(r"\s+", " ", node_text(body)).strip("{} ;")
    return text == "return this"


def _is_return_this(value: Val) -> bool:
    return value.kind == v.STR and value.text.strip().rstrip(";").strip() == "return this"
