"""Per-file analysis: climbs from candidate nodes through their parents and applies the rules.

Starting points come from the candidate search (see ``parse``): mentions of tracked globals, imports,
``__proto__`` / ``constructor`` members, computed member keys. From each, the analysis climbs the
parent chain, carrying the abstract value (``process`` → ``process.binding`` → a call of it); it follows
aliases (``const g = globalThis``, destructuring) to their uses, values passed into user functions to the
parameter's uses, and values returned from them to every call site. Values of arguments and keys come from
the :class:`~pi_sandbox.scanner.resolve.Resolver`; the other visits are in :mod:`.visits`.
"""

from __future__ import annotations

import re
from typing import Final

from tree_sitter import Node

from pi_sandbox.scanner import signals
from pi_sandbox.scanner import values as v
from pi_sandbox.scanner.bindings import ModuleLinks, call_of, enclosing_function, function_name, pattern_elements
from pi_sandbox.scanner.fold import node_text
from pi_sandbox.scanner.members import member
from pi_sandbox.scanner.model import Finding
from pi_sandbox.scanner.parse import JAVASCRIPT, Parsed, extra_captures, parse
from pi_sandbox.scanner.resolve import TRANSPARENT, identifier_name
from pi_sandbox.scanner.rules import (
    BUILTIN_CONSTRUCTORS,
    FLAGGED_PATHS,
    FORBIDDEN_PATHS,
    FS_MODULES,
    FS_WRITE_FUNCTIONS,
    INERT_CONSTRUCTORS,
    SENSITIVE_MEMBER_NAMES,
    TRACKED_GLOBALS,
)
from pi_sandbox.scanner.sinks import COMPUTED_HOLDERS, is_builtin_prototype
from pi_sandbox.scanner.values import Val
from pi_sandbox.scanner.visits import Visits, in_comment_or_string, is_declaration

MAX_CLIMB: Final = 64
MAX_CODE_NESTING: Final = 2
MAX_CODE_TEXT: Final = 64 * 1024
#: Alias chains (``a = b; c = a.x; ...``) are followed this deep, and this many per file.
MAX_ALIAS_DEPTH: Final = 8
MAX_ALIASES: Final = 2000
MAX_ALIAS_USES: Final = 1000

#: Values whose aliases are followed (``const g = globalThis``); everything else is reported where it is.
FOLLOWED_ROOTS: Final = COMPUTED_HOLDERS | {"eval", "execScript", "setTimeout", "setInterval", "setImmediate",
                                           "?ctor", "?proto", "__non_webpack_require__"}
FOLLOWED_PATHS: Final = frozenset(
    {"process.mainModule", "require.main", "module.constructor", "module.require", "Module.createRequire",
     "Function.prototype.constructor", "Reflect.construct", "Reflect.apply", "Reflect.get",
     "Object.defineProperty", "Object.defineProperties", "Object.assign", "Object.setPrototypeOf",
     "Reflect.set", "Reflect.defineProperty", "Reflect.setPrototypeOf", "Object.getPrototypeOf",
     "Object.getOwnPropertyDescriptor", "eval.call", "eval.apply", "Function.call", "Function.apply",
     "process.getBuiltinModule", "require.main.require", "module.require.bind"}
)
_PI_EXEC = re.compile(rb"\bpi\s*\.\s*exec\s*\(|\bcreateBashTool\s*\(")


class FileAnalyzer(Visits):
    """Finds rule matches in one parsed file."""

    def __init__(self, source: bytes, parsed: Parsed, rel_path: str, links: ModuleLinks | None = None,
                 *, dependency: bool = False, nesting: int = 0) -> None:
        super().__init__(source, parsed, rel_path, links)
        self.dependency = dependency
        self.nesting = nesting
        self._climbed: set[tuple[int, int, str, str]] = set()
        self._followed: set[tuple[str, str, str]] = set()
        self.env_dumps: list[Node] = []
        self._alias_depth = 0

    # --- driver ----------------------------------------------------------------------------

    def run(self) -> list[Finding]:
        """Analyse the file; returns its findings (deduplicated by rule and position)."""
        caps = self.parsed.captures
        for node in caps.get("import", ()):
            self.visit_import(node)
        for node in caps.get("dynamic_import", ()):
            args = self.resolver.call_arguments(node)
            module = self.on_specifier(node, args[0] if args else None, "DYNAMIC_IMPORT")
            if module.kind == v.REF and not module.path.startswith("mod:"):  # `await import('module')`
                self.climb(node, module)
        for node in caps.get("root", ()):
            if not is_declaration(node):
                self.climb(node, self.resolver.identifier_value(node))
        if b"\\u" in self.source:  # identifier escapes are \\uXXXX; skip the query otherwise
            for node in extra_captures(self.parsed.tree, self.parsed.language, "escaped"):
                self.visit_escaped(node)
        for node in caps.get("special", ()):
            self.visit_special(node)
        for node in caps.get("computed", ()):
            self.visit_computed(node)
        for node in caps.get("with", ()):
            self.visit_with(node)
        if b"exec" in self.source or b"BashTool" in self.source:
            match = _PI_EXEC.search(self.source)
            if match is not None and not in_comment_or_string(self.root, match.start()):
                self.add_at("PI_EXEC", match.start(), match.group(0).decode("utf-8", "replace"))
        if self.has_fs:
            self.check_fs_calls()
        signals.long_strings(caps.get("string", ()), self.add)
        if self.root.has_error:
            self.visit_errors(caps.get("error", []))
        signals.text_signals(self.source, self.add_at)
        seen = {rule_id for rule_id, _ in self._findings}
        if self.env_dumps and "NETWORK" in seen:
            self.add("ENV_EXFILTRATION", self.env_dumps[0])
        if self.enumerated_globals and signals.names_eval_like(
                extra_captures(self.parsed.tree, self.parsed.language, "string")):
            self.add("COMPUTED_GLOBAL_CALL", self.enumerated_globals[0], "global object searched for an eval-like name")
        signals.threat_signatures(self.source, self.root, seen, self.add_at)
        if self.parsed.language != JAVASCRIPT and b"declare" in self.source:
            self.drop_ambient_findings()
        return list(self._findings.values())

    def drop_ambient_findings(self) -> None:
        """``declare function eval(...)`` / ``declare module 'node:vm' { export * from 'vm' }`` (as in
        ``@types/node``) are types only: nothing inside a ``declare`` block ever runs."""
        ranges = [(n.start_byte, n.end_byte)
                  for n in extra_captures(self.parsed.tree, self.parsed.language, "ambient")]
        if not ranges:
            return
        for key in list(self._findings):
            if any(start <= key[1] < end for start, end in ranges):
                del self._findings[key]

    # --- climbing --------------------------------------------------------------------------

    def climb(self, node: Node, val: Val) -> None:
        """Follow ``val`` from ``node`` up through member accesses, calls and wrappers."""
        if not climbable(val):
            return
        key = (node.start_byte, node.end_byte, val.kind, val.path)
        if key in self._climbed:
            return
        self._climbed.add(key)
        reported: Val | None = None
        for _ in range(MAX_CLIMB):
            if val is not reported:  # wrappers such as `(0, eval)` keep the value: report it once
                self.on_reference(node, val)
                reported = val
            parent = node.parent
            if parent is None:
                return
            ptype = parent.type
            if ptype in TRANSPARENT:
                node = parent
                continue
            if ptype == "sequence_expression":
                if parent.named_children[-1] != node:
                    return
                node = parent
                continue
            if ptype == "ternary_expression":
                if parent.child_by_field_name("condition") == node:
                    return
                node = parent
                continue
            if ptype == "binary_expression":
                operator = parent.child_by_field_name("operator")
                if operator is None or node_text(operator) not in ("||", "&&", "??"):
                    return
                node = parent
                continue
            if ptype == "member_expression":
                prop = parent.child_by_field_name("property")
                if parent.child_by_field_name("object") != node or prop is None:
                    return
                name, escaped = identifier_name(prop)
                val = member(val, v.string(name, obfuscated=escaped))
                node = parent
                continue
            if ptype == "subscript_expression":
                index = parent.child_by_field_name("index")
                if parent.child_by_field_name("object") != node or index is None:
                    return
                index_value = self.key_value(index)
                if val.kind == v.ARR and index_value.kind in (v.NUM, v.STR):  # `hit[1]` of a picked entry
                    val = self.resolver.member_of(val, index_value.text)
                else:
                    val = member(val, index_value)
                node = parent
                continue
            if ptype == "call_expression":
                if parent.child_by_field_name("function") != node:
                    return
                result = self.on_call(parent, val, self.resolver.call_arguments(parent))
                if result is None and val.path.startswith(("Array.prototype.", "String.prototype.")):
                    result = self.resolver.evaluate(parent)  # `entries.find(...)`: fold the call itself
                    self.check_reflective_pick(parent, result)
                if result is None or not climbable(result):
                    return
                val = result
                node = parent
                continue
            if ptype == "new_expression":
                if parent.child_by_field_name("constructor") != node:
                    return
                created = self.on_new(parent, val, self.resolver.call_arguments(parent))
                if created is None:
                    return
                val = created
                node = parent
                continue
            if ptype == "variable_declarator":
                name_node = parent.child_by_field_name("name")
                if parent.child_by_field_name("value") == node and name_node is not None:
                    self.on_binding(name_node, val)
                return
            if ptype == "arguments":
                if parent.parent is not None and parent.parent.type == "call_expression":
                    self.flow_into_call(parent.parent, node, val)
                return
            if ptype == "return_statement" or (ptype == "arrow_function" and
                                               parent.child_by_field_name("body") == node):
                self.return_to_callers(node, val)
                return
            if ptype in ("assignment_expression", "augmented_assignment_expression"):
                left = parent.child_by_field_name("left")
                if left == node:
                    self.on_write(node, val)
                elif left is not None and left.type == "identifier" and ptype == "assignment_expression":
                    self.on_binding(left, val)
                return
            return

    def check_reflective_pick(self, call: Node, picked: Val) -> None:
        """``Object.values(globalThis).find(pred)`` with a predicate we cannot decide: a hidden member."""
        callee = call.child_by_field_name("function")
        obj = callee.child_by_field_name("object") if callee is not None else None
        source = self.resolver.evaluate(obj) if obj is not None else v.UNKNOWN
        if picked.kind != v.UNKNOWN_KIND or not source.path.startswith("enum:") or not source.items:
            return
        first = source.items[0]
        if first.kind == v.REF or (first.kind == v.ARR and len(first.items) > 1):  # values / entries
            self.add("REFLECTIVE_LOOKUP", call, source.path[5:], source)


    def on_reference(self, node: Node, val: Val) -> None:
        """Rules that fire on any mention of a value (``eval``, ``process.binding``, ``process.env`` ...)."""
        if val.kind == v.COMPUTED:
            # Reported where the computed access is written, not again at every use of an alias of it.
            if val.path in COMPUTED_HOLDERS and node.type == "subscript_expression":
                self.add("COMPUTED_GLOBAL", node, val.path, val)
            return
        if val.kind != v.REF:
            return
        path = val.path
        rule_id = FORBIDDEN_PATHS.get(path)
        if rule_id is not None:
            parent = node.parent
            if rule_id == "EVAL" and parent is not None and parent.type in ("unary_expression", "type_query"):
                operator = parent.child_by_field_name("operator")
                if parent.type == "type_query" or (operator is not None and node_text(operator) == "typeof"):
                    return
            if rule_id == "EVAL" and _called_here(node):
                pass  # the call is judged by what it compiles (sinks.code_sink)
            else:
                self.add(rule_id, node, path, val)
        else:
            rule_id = FLAGGED_PATHS.get(path)
            if rule_id is not None:
                self.add(rule_id, node, path, val)
                if path == "process.env" and _serialised(node):
                    self.env_dumps.append(node)
            elif path.startswith("mod:"):
                self.module_member_reference(node, path[4:])
        if val.obfuscated:
            last = path.rsplit(".", 1)[-1]
            if last in SENSITIVE_MEMBER_NAMES or (path in TRACKED_GLOBALS and path not in INERT_CONSTRUCTORS) or \
                    rule_id is not None or path.startswith("mod:"):
                self.add("OBFUSCATED_ACCESS", node, path, val)

    def module_member_reference(self, node: Node, path: str) -> None:
        """A member of an imported module: fs writes are flagged."""
        module, _, rest = path.partition(".")
        if module in FS_MODULES and rest.split(".", 1)[0] in FS_WRITE_FUNCTIONS:
            self.add("FS_WRITE", node, rest)
        elif module in ("fs",) and rest.startswith("promises.") and rest[9:] in FS_WRITE_FUNCTIONS:
            self.add("FS_WRITE", node, rest)

    # --- aliases and writes ----------------------------------------------------------------

    def on_binding(self, name_node: Node, val: Val) -> None:
        """``const x = <val>`` / ``x = <val>`` / destructuring: follow the alias to its uses."""
        if name_node.type == "identifier":
            self.follow_alias(identifier_name(name_node)[0], val)
            return
        if name_node.type == "array_pattern":
            for position, item in pattern_elements(name_node):
                if val.kind == v.ARR and position < len(val.items):
                    self.on_binding(item, val.items[position])  # nested `[[, fn]]` patterns too
            return
        if name_node.type != "object_pattern":
            return
        for child in name_node.named_children:
            if child.type == "shorthand_property_identifier_pattern":
                name = identifier_name(child)[0]
                sub = member(val, v.string(name))
                self.on_reference(child, sub)
                self.follow_alias(name, sub)
            elif child.type == "pair_pattern":
                key = child.child_by_field_name("key")
                value = child.child_by_field_name("value")
                if key is None or value is None:
                    continue
                sub = member(val, self.resolver.key_value(key))
                self.on_reference(key, sub)
                if value.type == "identifier":
                    self.follow_alias(identifier_name(value)[0], sub)
                elif value.type == "object_pattern":  # `{ constructor: { constructor: F } }`
                    self.on_binding(value, sub)

    def follow_alias(self, name: str, val: Val) -> None:
        """Climb from every use of ``name`` with ``val`` (file-wide; see the resolver on scope)."""
        if not _worth_following(val):
            return
        key = (name, val.kind, val.path)
        if key in self._followed or self._alias_depth >= MAX_ALIAS_DEPTH or len(self._followed) > MAX_ALIASES:
            return
        self._followed.add(key)
        self._alias_depth += 1
        try:
            for occurrence in self.resolver.occurrences(name)[:MAX_ALIAS_USES]:
                if occurrence.type not in ("identifier", "shorthand_property_identifier"):
                    continue
                if is_declaration(occurrence):
                    continue
                self.climb(occurrence, val)
        finally:
            self._alias_depth -= 1

    def on_write(self, node: Node, val: Val) -> None:
        """An assignment target: replacing a built-in is tampering, writing a built-in prototype pollution."""
        if val.kind != v.REF:
            return
        path = val.path
        if self.check_tampering(node, val, _guarded(node, path)):
            return
        if path == "?proto":
            self.add("PROTO_SET", node)
        elif is_builtin_prototype(path) or path.startswith(("?proto.", "?ctor.prototype")):
            self.add("PROTOTYPE_POLLUTION", node, path, val)

    def flow_into_call(self, call: Node, argument: Node, val: Val) -> None:
        """``pick(globalThis, 'ev' + 'al')``: a tracked value passed to a user function.

        The call's own value is computed when the interpreter can run the function; otherwise the value is
        followed to the parameter's uses inside the function.
        """
        if not _worth_following(val) or self._alias_depth >= MAX_ALIAS_DEPTH:
            return  # `format(process.env.HOME)`: only values that can still reach a sink are followed
        callee = call.child_by_field_name("function")
        fn = self.resolver.evaluate(callee) if callee is not None else v.UNKNOWN
        if not fn.path.startswith("fn:"):
            return
        result = self.resolver.evaluate(call)
        if climbable(result):
            self.climb(call, result)
            return
        function = self.resolver.function_node(fn)
        args = self.resolver.call_arguments(call)
        params = function.child_by_field_name("parameters") if function is not None else None
        names = [p.child_by_field_name("pattern") or p for p in params.named_children] if params is not None else []
        index = next((i for i, a in enumerate(args) if a == argument), -1)
        if function is None or not 0 <= index < len(names) or names[index].type != "identifier":
            return
        self._alias_depth += 1
        try:
            for occurrence in self.resolver.occurrences(node_text(names[index]))[:MAX_ALIAS_USES]:
                inside = function.start_byte <= occurrence.start_byte < function.end_byte
                if inside and occurrence.type == "identifier" and not is_declaration(occurrence):
                    self.climb(occurrence, val)
        finally:
            self._alias_depth -= 1

    def return_to_callers(self, node: Node, val: Val) -> None:
        """A value returned from a user function reaches its callers: climb on from each call site.

        ``function pick(k) { return globalThis[k] } pick('ev' + 'al')('x')``: at each call the call's own
        value is computed (the interpreter runs ``pick``); when it cannot be, the value returned inside
        (an unresolved member of the global object, say) is carried on.
        """
        function = enclosing_function(node)
        name = function_name(function) if function is not None else None
        if name is None or self._alias_depth >= MAX_ALIAS_DEPTH:
            return
        self._alias_depth += 1
        try:
            for occurrence in self.resolver.occurrences(name)[:MAX_ALIAS_USES]:
                call = call_of(occurrence)
                if call is None:
                    continue
                at_call = self.resolver.evaluate(call)
                self.climb(call, at_call if at_call.kind in (v.REF, v.COMPUTED, v.FUNC) else val)
        finally:
            self._alias_depth -= 1

    # --- other candidates ------------------------------------------------------------------


    def scan_code_text(self, code: str) -> list[Finding]:
        """Findings of a constant code string (what ``eval``/``Function`` would compile), nested twice at most."""
        if self.nesting >= MAX_CODE_NESTING or not code.strip() or len(code) > MAX_CODE_TEXT:
            return []
        data = code.encode("utf-8", "replace")
        nested = FileAnalyzer(data, parse(data, JAVASCRIPT), self.rel_path, dependency=self.dependency,
                              nesting=self.nesting + 1)
        return nested.run()


def _called_here(node: Node) -> bool:
    """Whether ``node`` (through wrappers such as ``(0, eval)``) is the callee of a call."""
    current = node
    parent = current.parent
    while parent is not None and (parent.type in TRANSPARENT or (
            parent.type == "sequence_expression" and parent.named_children[-1] == current)):
        current, parent = parent, parent.parent
    return parent is not None and parent.type == "call_expression" and \
        parent.child_by_field_name("function") == current


def _guarded(node: Node, path: str) -> bool:
    """Whether an assignment to ``path`` only runs when the built-in is missing (a polyfill)."""
    last = path.rsplit(".", 1)[-1]
    current: Node | None = node.parent
    for _ in range(8):
        if current is None:
            return False
        if current.type == "augmented_assignment_expression":
            operator = current.child_by_field_name("operator")
            if operator is not None and node_text(operator) in ("??=", "||="):
                return True
        condition = None
        if current.type in ("if_statement", "ternary_expression"):
            condition = current.child_by_field_name("condition")
        elif current.type == "binary_expression":
            condition = current.child_by_field_name("left")
        if condition is not None:
            text = node_text(condition)
            if last in text and any(mark in text for mark in ("!", "typeof", "undefined", " in ")):
                return True
        current = current.parent
    return False


def _serialised(node: Node) -> bool:
    """Whether the whole ``process.env`` object is turned into text here (stringify, template, concat)."""
    parent = node.parent
    while parent is not None and parent.type in TRANSPARENT:
        node, parent = parent, parent.parent
    if parent is None:
        return False
    if parent.type == "template_substitution" or parent.type == "binary_expression":
        return True
    if parent.type == "arguments" and parent.parent is not None:
        callee = parent.parent.child_by_field_name("function")
        return callee is not None and node_text(callee) in ("JSON.stringify", "String", "Buffer.from", "btoa")
    return False


def climbable(val: Val, depth: int = 2) -> bool:
    """Values worth carrying up the tree: references, computed members, functions, and arrays holding them
    (enumerated members, picked ``[name, member]`` entries)."""
    if val.kind in (v.REF, v.COMPUTED, v.FUNC):
        return True
    return val.kind == v.ARR and depth > 0 and (
        val.path.startswith("enum:") or any(climbable(i, depth - 1) for i in val.items[:8]))


def _worth_following(val: Val) -> bool:
    """Only aliases of values that can still reach a forbidden sink are followed to their uses."""
    if val.kind == v.FUNC:
        return val.path == "return-this"
    if val.kind == v.ARR:
        return climbable(val)
    if val.kind == v.COMPUTED:
        return val.path in COMPUTED_HOLDERS
    if val.kind != v.REF:
        return False
    path = val.path
    if path.startswith(("desc:", "?ctor", "?proto", "Module.", "mod:worker_threads")):
        return True
    head, _, rest = path.partition(".")
    if not rest:
        return path in FOLLOWED_ROOTS or path in BUILTIN_CONSTRUCTORS
    if head in BUILTIN_CONSTRUCTORS and rest == "prototype":
        return True
    return path in FOLLOWED_PATHS

