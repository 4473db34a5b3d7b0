"""Per-file analysis: climbs from candidate nodes through their parents and applies the rules.

Starting points come from the candidate query (see ``parse``): mentions of tracked globals, imports,
``__proto__`` / ``constructor`` members, computed member keys. From each, the analysis climbs the
parent chain, carrying the abstract value (``process`` → ``process.binding`` → a call of it), and
follows simple aliases (``const g = globalThis``) to the alias's uses. Values of arguments and keys
come from the :class:`~pi_sandbox.scanner.resolve.Resolver`.
"""

from __future__ import annotations

import re
from typing import Final

from tree_sitter import Node

from pi_sandbox.scanner import signals
from pi_sandbox.scanner import values as v
from pi_sandbox.scanner.model import EXCERPT_MAX, Finding, make_finding
from pi_sandbox.scanner.parse import Parsed, extra_captures
from pi_sandbox.scanner.resolve import TRANSPARENT, Resolver, identifier_name, member, module_value, node_text
from pi_sandbox.scanner.rules import (
    BUILTIN_CONSTRUCTORS,
    CHILD_PROCESS_MODULES,
    FLAGGED_PATHS,
    FORBIDDEN_MODULES,
    FORBIDDEN_PATHS,
    FS_MODULES,
    FS_WRITE_FUNCTIONS,
    GLOBAL_OBJECT_NAMES,
    NETWORK_MODULES,
    NODE_BUILTINS,
    PURE_NET_NAMES,
    SENSITIVE_MEMBER_NAMES,
    STRING_TIMERS,
    SUSPICIOUS_TOKEN_PATTERN,
    TRACKED_GLOBALS,
    module_root,
)
from pi_sandbox.scanner.values import Val

MAX_CLIMB: Final = 64
#: Alias chains (``a = b; c = a.x; ...``) are followed this deep, and this many per file.
MAX_ALIAS_DEPTH: Final = 8
MAX_ALIASES: Final = 2000
MAX_ALIAS_USES: Final = 1000

#: Objects whose computed members are worth a finding (a computed key can spell anything on them).
COMPUTED_HOLDERS: Final = GLOBAL_OBJECT_NAMES | {"globalThis", "process", "require", "module", "Module",
                                                 "Reflect", "Function"}
#: Values whose aliases are followed (``const g = globalThis``); everything else is reported where it is.
FOLLOWED_ROOTS: Final = COMPUTED_HOLDERS | {"eval", "execScript", "setTimeout", "setInterval", "setImmediate",
                                           "?ctor", "?proto", "__non_webpack_require__"}
FOLLOWED_PATHS: Final = frozenset(
    {"process.mainModule", "require.main", "module.constructor", "module.require", "Module.createRequire",
     "Function.prototype.constructor", "Reflect.construct", "Reflect.apply", "Reflect.get",
     "Object.defineProperty", "Object.defineProperties", "Object.assign", "Object.setPrototypeOf",
     "Reflect.set", "Reflect.defineProperty", "Reflect.setPrototypeOf", "Object.getPrototypeOf",
     "Object.getOwnPropertyDescriptor", "eval.call", "eval.apply", "Function.call", "Function.apply"}
)
#: Exact constant ``Function(...)`` argument lists emitted by common bundler runtimes (besides
#: ``Function('return this')``): constant, inspected code that only sets a global.
BUNDLER_FUNCTION_IDIOMS: Final = frozenset({("r", "regeneratorRuntime = r")})
#: Calls whose result the resolver can name (decoders, loaders, prototype lookups).
VALUE_CALLS: Final = frozenset(
    {"atob", "decodeURIComponent", "decodeURI", "unescape", "String.fromCharCode", "String.fromCodePoint",
     "String", "Object.getPrototypeOf", "Reflect.getPrototypeOf", "Reflect.get",
     "Object.getOwnPropertyDescriptor", "Reflect.getOwnPropertyDescriptor"}
)
REQUIRE_PATHS: Final = frozenset({"require", "__non_webpack_require__"})
POLLUTING_CALLS: Final = frozenset(
    {"Object.defineProperty", "Object.defineProperties", "Object.assign", "Object.setPrototypeOf",
     "Reflect.set", "Reflect.defineProperty", "Reflect.setPrototypeOf", "Object.prototype.__defineGetter__",
     "Object.prototype.__defineSetter__"}
)
DECLARATION_PARENTS: Final = frozenset(
    {"formal_parameters", "required_parameter", "optional_parameter", "rest_pattern", "import_specifier",
     "import_clause", "namespace_import", "export_specifier", "labeled_statement", "break_statement",
     "continue_statement", "type_query", "array_pattern", "pair_pattern", "object_pattern",
     "import_require_clause", "catch_clause", "for_in_statement", "nested_identifier"}
)
NAMED_DECLARATIONS: Final = frozenset(
    {"variable_declarator", "function_declaration", "function_expression", "class_declaration",
     "generator_function_declaration", "class", "function", "method_definition"}
)
_SUSPICIOUS = re.compile(SUSPICIOUS_TOKEN_PATTERN)
_COMMENTS = re.compile(rb"/\*[\s\S]*?\*/|(?<![:\\])//[^\n]*")
_FS_WRITE_CALL = re.compile(rb"(?<![\w$])(" + b"|".join(n.encode() for n in sorted(FS_WRITE_FUNCTIONS)) + rb")\s*\(")


def is_declaration(node: Node) -> bool:
    """Whether identifier ``node`` declares a name rather than referring to one."""
    parent = node.parent
    if parent is None:
        return False
    ptype = parent.type
    if ptype in DECLARATION_PARENTS:
        return True
    if ptype in NAMED_DECLARATIONS and parent.child_by_field_name("name") == node:
        return True
    return ptype == "assignment_expression" and parent.child_by_field_name("left") == node


class FileAnalyzer:
    """Finds rule matches in one parsed file."""

    def __init__(self, source: bytes, parsed: Parsed, rel_path: str) -> None:
        self.source = source
        self.parsed = parsed
        self.rel_path = rel_path
        self.root = parsed.tree.root_node
        self.resolver = Resolver(source, self.root)
        self.capabilities: set[str] = set()
        self._findings: dict[tuple[str, int], Finding] = {}
        self._climbed: set[tuple[int, int, str, str]] = set()
        self._followed: set[tuple[str, str, str]] = set()
        self.has_fs = False
        self.env_dumps: list[Node] = []
        self._alias_depth = 0

    # --- driver ----------------------------------------------------------------------------

    def run(self) -> list[Finding]:
        """Analyse the file; returns its findings (deduplicated by rule and position)."""
        caps = self.parsed.captures
        for node in caps.get("import", ()):
            self.visit_import(node)
        for node in caps.get("dynamic_import", ()):
            args = self.resolver._args(node)
            self.on_specifier(node, args[0] if args else None, "DYNAMIC_IMPORT")
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
        if self.has_fs:
            for match in _FS_WRITE_CALL.finditer(self.source):
                found = self.root.named_descendant_for_byte_range(match.start(1), match.end(1))
                if found is not None and found.type in ("identifier", "property_identifier"):
                    self.visit_fs_write(found)
        signals.long_strings(caps.get("string", ()), self.add)
        if self.root.has_error:
            self.visit_errors(caps.get("error", []))
        signals.text_signals(self.source, self.add_at)
        seen = {rule_id for rule_id, _ in self._findings}
        if self.env_dumps and "NETWORK" in seen:
            self.add("ENV_EXFILTRATION", self.env_dumps[0])
        signals.threat_signatures(self.source, self.root, seen, self.add_at)
        return list(self._findings.values())

    # --- findings --------------------------------------------------------------------------

    def add(self, rule_id: str, node: Node, detail: str = "") -> None:
        """Record a finding of ``rule_id`` at ``node`` (once per rule and position)."""
        self.add_at(rule_id, node.start_byte, detail)

    def add_at(self, rule_id: str, offset: int, detail: str = "") -> None:
        """Record a finding at byte ``offset``."""
        key = (rule_id, offset)
        if key in self._findings:
            return
        line_start = self.source.rfind(b"\n", 0, offset) + 1
        line_end = self.source.find(b"\n", offset)
        if line_end < 0:
            line_end = len(self.source)
        line_no = self.source.count(b"\n", 0, line_start) + 1
        prefix = self.source[line_start:offset].decode("utf-8", "replace")
        column = len(prefix) + 1
        excerpt = _excerpt(self.source[line_start:line_end].decode("utf-8", "replace"), column)
        self._findings[key] = make_finding(rule_id, self.rel_path, line_no, column, excerpt, detail)

    # --- climbing --------------------------------------------------------------------------

    def climb(self, node: Node, val: Val) -> None:
        """Follow ``val`` from ``node`` up through member accesses, calls and wrappers."""
        if val.kind not in (v.REF, v.COMPUTED, v.FUNC):
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
                val = member(val, self.key_value(index))
                node = parent
                continue
            if ptype == "call_expression":
                if parent.child_by_field_name("function") != node:
                    return
                result = self.on_call(parent, val, self.resolver._args(parent))
                if result is None or result.kind not in (v.REF, v.COMPUTED, v.FUNC):
                    return
                val = result
                node = parent
                continue
            if ptype == "new_expression":
                if parent.child_by_field_name("constructor") != node:
                    return
                created = self.on_new(parent, val, self.resolver._args(parent))
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
            if ptype in ("assignment_expression", "augmented_assignment_expression"):
                left = parent.child_by_field_name("left")
                if left == node:
                    self.on_write(node, val)
                elif left is not None and left.type == "identifier" and ptype == "assignment_expression":
                    self.on_binding(left, val)
                return
            return

    def key_value(self, index: Node) -> Val:
        """The value of a computed member key; marked obfuscated unless written as a plain literal."""
        key = self.resolver.evaluate(index)
        plain = index.type in ("string", "number") or (
            index.type == "template_string"
            and not any(c.type == "template_substitution" for c in index.named_children)
        )
        if not plain and key.kind == v.STR:
            key = v.tainted(key, obfuscated=True)
        return key

    def on_reference(self, node: Node, val: Val) -> None:
        """Rules that fire on any mention of a value (``eval``, ``process.binding``, ``process.env`` ...)."""
        if val.kind == v.COMPUTED:
            if val.path in COMPUTED_HOLDERS:
                self.add("COMPUTED_GLOBAL", node, val.path)
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
            self.add(rule_id, node, path)
        else:
            rule_id = FLAGGED_PATHS.get(path)
            if rule_id is not None:
                self.add(rule_id, node, path)
                if path == "process.env" and _serialised(node):
                    self.env_dumps.append(node)
            elif path.startswith("mod:"):
                self.module_member_reference(node, path[4:])
        if val.obfuscated:
            last = path.rsplit(".", 1)[-1]
            if last in SENSITIVE_MEMBER_NAMES or path in TRACKED_GLOBALS or rule_id is not None or \
                    path.startswith("mod:"):
                self.add("OBFUSCATED_ACCESS", node, path)

    def module_member_reference(self, node: Node, path: str) -> None:
        """A member of an imported module: fs writes are flagged."""
        module, _, rest = path.partition(".")
        if module in FS_MODULES and rest.split(".", 1)[0] in FS_WRITE_FUNCTIONS:
            self.add("FS_WRITE", node, rest)
        elif module in ("fs",) and rest.startswith("promises.") and rest[9:] in FS_WRITE_FUNCTIONS:
            self.add("FS_WRITE", node, rest)

    # --- calls -----------------------------------------------------------------------------

    def on_call(self, call: Node, val: Val, args: list[Node]) -> Val | None:
        """Rules on a call of ``val``; returns the call's value when it is worth following."""
        if val.kind == v.COMPUTED:
            if val.path in COMPUTED_HOLDERS:
                self.add("COMPUTED_GLOBAL_CALL", call, val.path)
            return None
        if val.kind == v.FUNC:
            return v.ref("globalThis") if val.path == "return-this" else None
        if val.kind != v.REF:
            return None
        path = val.path
        if path in ("eval", "execScript"):
            self.check_payload(call, args)
            return None
        if path == "Function":
            return self.function_constructor(call, args)
        if path in STRING_TIMERS:
            self.check_timer(call, args)
            return None
        if path in REQUIRE_PATHS:
            return self.on_specifier(call, args[0] if args else None, "DYNAMIC_REQUIRE")
        if path == "Reflect.apply" and args:
            target = self.resolver.evaluate(args[0])
            rest = args[2].named_children if len(args) > 2 and args[2].type == "array" else []
            return self.on_call(call, target, list(rest))
        if path == "Reflect.construct" and args:
            target = self.resolver.evaluate(args[0])
            rest = args[1].named_children if len(args) > 1 and args[1].type == "array" else []
            self.on_new(call, target, list(rest))
            return None
        if path.endswith((".call", ".apply")) and not path.startswith("?"):
            base, _, how = path.rpartition(".")
            if how == "call":
                shifted = args[1:]
            else:
                shifted = args[1].named_children if len(args) > 1 and args[1].type == "array" else []
            if base in ("eval", "Function", "execScript") or base in STRING_TIMERS or base in REQUIRE_PATHS:
                if not shifted and base in ("Function",) and how == "apply":
                    self.add("FUNCTION_CONSTRUCTOR", call, "Function.apply")
                    return None
                return self.on_call(call, v.ref(base, obfuscated=val.obfuscated), list(shifted))
            return None
        if path.endswith(("__defineGetter__", "__defineSetter__")) and _is_builtin_prototype(path):
            self.add("PROTOTYPE_POLLUTION", call, path)
            return None
        if path in POLLUTING_CALLS and args:
            target = self.resolver.evaluate(args[0])
            if target.kind == v.REF and _is_builtin_prototype(target.path) and target.path.endswith(".prototype"):
                self.add("PROTOTYPE_POLLUTION", call, f"{path} on {target.path}")
            return None
        if path in ("Module.createRequire", "Module.createRequireFromPath"):
            return v.ref("require")
        if path in VALUE_CALLS or path.endswith(".bind"):  # only these calls yield a value worth following
            return self.resolver.call_result(val, [self.resolver.evaluate(a) for a in args])
        return None

    def on_new(self, node: Node, val: Val, args: list[Node]) -> Val | None:
        """Rules on ``new val(...)``; returns the constructed value when worth following."""
        if val.kind == v.COMPUTED and val.path in COMPUTED_HOLDERS:
            self.add("COMPUTED_GLOBAL_CALL", node, val.path)
        elif val.kind == v.REF and val.path == "Function":
            return self.function_constructor(node, args)
        return None

    def function_constructor(self, node: Node, args: list[Node]) -> Val:
        """``Function(...)`` / ``new Function(...)``: forbidden, except the constant global-object idiom."""
        values = [self.resolver.evaluate(a) for a in args]
        if len(values) == 1 and values[0].kind == v.STR and \
                values[0].text.strip().rstrip(";").strip() == "return this" and not values[0].decoded:
            self.add("FUNCTION_GLOBAL_IDIOM", node)
            return v.Val(v.FUNC, path="return-this")
        texts = tuple(" ".join(x.text.split()).rstrip(";") for x in values if x.kind == v.STR and not x.obfuscated)
        if len(texts) == len(values) and texts in BUNDLER_FUNCTION_IDIOMS:
            self.add("FUNCTION_GLOBAL_IDIOM", node, "regenerator-runtime global assignment")
            return v.FUNCTION_VALUE
        self.add("FUNCTION_CONSTRUCTOR", node)
        self.check_payload(node, args, values)
        return v.FUNCTION_VALUE

    def check_payload(self, node: Node, args: list[Node], values: list[Val] | None = None) -> None:
        """A decoded payload reaching an eval-like sink is its own forbidden finding."""
        values = values if values is not None else [self.resolver.evaluate(a) for a in args]
        if any(x.decoded for x in values):
            self.add("DECODED_PAYLOAD", node)

    def check_timer(self, call: Node, args: list[Node]) -> None:
        """``setTimeout("code")``: a string (or anything folding to one) as the callback."""
        if not args:
            return
        first = args[0]
        value = self.resolver.evaluate(first)
        stringish = value.kind == v.STR or first.type in ("string", "template_string")
        if not stringish and first.type == "binary_expression":
            operator = first.child_by_field_name("operator")
            stringish = operator is not None and node_text(operator) == "+" and (
                "'" in node_text(first) or '"' in node_text(first) or "`" in node_text(first))
        if stringish:
            self.add("STRING_TIMER", call)
            if value.decoded:
                self.add("DECODED_PAYLOAD", call)

    # --- modules ---------------------------------------------------------------------------

    def visit_import(self, node: Node) -> None:
        """Static ``import`` / ``export ... from`` / TS ``import x = require(...)``."""
        for child in node.children:
            if child.type == "type" and not child.is_named:  # `import type` is erased at compile time
                return
        source = node.child_by_field_name("source")
        names: list[str] = []
        clauses: list[Node] = []
        for child in node.named_children:
            if child.type == "import_require_clause":
                source = child.child_by_field_name("source")
                clauses.append(child)
            elif child.type == "import_clause":
                names.extend(_imported_names(child))
                clauses.append(child)
        module = self.on_specifier(node, source, "DYNAMIC_IMPORT", tuple(names))
        if module.kind == v.REF and not module.path.startswith("mod:"):
            for clause in clauses:  # `import Module from 'module'`: follow the bindings like globals
                self.follow_import_bindings(clause, module)

    def follow_import_bindings(self, clause: Node, module: Val) -> None:
        """Follow the local names an import of a tracked module (module, process, timers) binds."""
        for child in clause.named_children:
            if child.type == "identifier":
                self.follow_alias(identifier_name(child)[0], module)
            elif child.type == "namespace_import":
                for inner in child.named_children:
                    if inner.type == "identifier":
                        self.follow_alias(identifier_name(inner)[0], module)
            elif child.type == "named_imports":
                for spec in child.named_children:
                    name = spec.child_by_field_name("name")
                    alias = spec.child_by_field_name("alias") or name
                    if name is None or alias is None:
                        continue
                    value = member(module, v.string(identifier_name(name)[0]))
                    self.on_reference(spec, value)
                    self.follow_alias(identifier_name(alias)[0], value)

    def on_specifier(self, node: Node, spec_node: Node | None, dynamic_rule: str,
                     imported: tuple[str, ...] = ()) -> Val:
        """Rules on a module specifier (require, import, dynamic import); returns the module value."""
        if spec_node is None:
            return v.UNKNOWN
        spec = self.resolver.evaluate(spec_node)
        if spec.kind != v.STR:
            self.add(dynamic_rule, node)
            return v.UNKNOWN
        text = spec.text.strip()
        root = module_root(text)
        hidden = spec.obfuscated or spec.decoded
        if text.startswith(("data:", "blob:", "http:", "https:")):
            self.add("CODE_FROM_URL", node, text[:40])
        if text.endswith(".node"):
            self.add("NATIVE_ADDON_LOAD", node, text[-80:])
        if root in FORBIDDEN_MODULES and not (root == "net" and imported and set(imported) <= PURE_NET_NAMES):
            self.add("FORBIDDEN_MODULE", node, root)
        if hidden and (root in NODE_BUILTINS or root in CHILD_PROCESS_MODULES or root in NETWORK_MODULES
                       or root in FS_MODULES):
            self.add("OBFUSCATED_ACCESS", node, f"module {root}")
        if root in CHILD_PROCESS_MODULES:
            self.add("CHILD_PROCESS", node, root)
        elif root in NETWORK_MODULES:
            self.add("NETWORK", node, root)
        elif root in FS_MODULES:
            self.has_fs = True
            self.capabilities.add("read")
        return module_value(spec)

    # --- aliases and writes ----------------------------------------------------------------

    def on_binding(self, name_node: Node, val: Val) -> None:
        """``const x = <val>`` / ``x = <val>`` / destructuring: follow the alias to its uses."""
        if name_node.type == "identifier":
            self.follow_alias(identifier_name(name_node)[0], val)
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
                sub = member(val, self.resolver._key_value(key))
                self.on_reference(key, sub)
                if value.type == "identifier":
                    self.follow_alias(identifier_name(value)[0], sub)

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
        """An assignment target: writes to built-in prototypes are pollution."""
        if val.kind != v.REF:
            return
        path = val.path
        if path == "?proto":
            self.add("PROTO_SET", node)
        elif _is_builtin_prototype(path) or path.startswith(("?proto.", "?ctor.prototype")):
            self.add("PROTOTYPE_POLLUTION", node, path)

    # --- other candidates ------------------------------------------------------------------

    def visit_escaped(self, node: Node) -> None:
        """An identifier spelled with escapes: flagged, and analysed under its decoded name."""
        name, escaped = identifier_name(node)
        if not escaped:
            return
        self.add("ESCAPED_IDENTIFIER", node, name)
        if node.type in ("identifier", "shorthand_property_identifier") and name in TRACKED_GLOBALS and \
                not is_declaration(node):
            self.climb(node, v.ref(name, obfuscated=True))

    def visit_special(self, node: Node) -> None:
        """``x.__proto__`` / ``x.constructor`` / ``<expr>.eval`` on objects the root analysis does not reach.

        The object is evaluated: a user object's ``.eval`` method stays unknown (no finding), while
        ``(function () { return this })().eval`` resolves to the global ``eval``.
        """
        parent = node.parent
        if parent is not None and parent.type == "pair_pattern" and parent.child_by_field_name("key") == node:
            pattern = parent.parent  # `const { constructor: F } = () => {}`
            owner = pattern.parent if pattern is not None else None
            value = owner.child_by_field_name("value") if owner is not None else None
            if pattern is not None and owner is not None and owner.type == "variable_declarator" and value:
                self.on_binding(pattern, self.resolver.evaluate(value))
            return
        if parent is None or parent.type != "member_expression" or parent.child_by_field_name("property") != node:
            return
        self.climb(parent, self.resolver.evaluate(parent))

    def visit_computed(self, node: Node) -> None:
        """``x['constr' + 'uctor']``: only keys that fold to a sensitive name are followed."""
        index = node.child_by_field_name("index")
        if index is None:
            return
        key = self.key_value(index)
        if key.kind != v.STR or key.text not in SENSITIVE_MEMBER_NAMES:
            return
        obj = node.child_by_field_name("object")
        if obj is None:
            return
        value = member(self.resolver.evaluate(obj), key)
        if key.obfuscated and value.kind not in (v.REF,):
            self.add("OBFUSCATED_ACCESS", node, f"member {key.text}")
        self.climb(node, value)

    def visit_fs_write(self, node: Node) -> None:
        """A call of an fs write function in a file that imports fs."""
        parent = node.parent
        if parent is None:
            return
        callee = parent
        if node.type == "property_identifier":
            if parent.type != "member_expression" or parent.child_by_field_name("property") != node:
                return
        else:
            callee = node
        call = callee.parent
        if call is not None and call.type == "call_expression" and call.child_by_field_name("function") == callee:
            self.add("FS_WRITE", node, node_text(node))

    def visit_errors(self, errors: list[Node]) -> None:
        """Syntax errors: flagged; forbidden when the unreadable region holds eval-like tokens."""
        if not errors:
            self.add_at("PARSE_ERROR", 0, "missing token")
            return
        for node in errors:
            region = _COMMENTS.sub(b" ", self.source[node.start_byte : node.end_byte])
            match = _SUSPICIOUS.search(region)
            if match:
                self.add("PARSE_ERROR_HIDES_CODE", node, match.group(0).decode("utf-8", "replace")[:40])
            else:
                self.add("PARSE_ERROR", node)


def token_scan(source: bytes) -> re.Match[bytes] | None:
    """Eval-like tokens in code that was not parsed (comments removed first)."""
    return _SUSPICIOUS.search(_COMMENTS.sub(b" ", source))


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


def _is_builtin_prototype(path: str) -> bool:
    head, _, rest = path.partition(".")
    return head in BUILTIN_CONSTRUCTORS and (rest == "prototype" or rest.startswith("prototype."))


def _worth_following(val: Val) -> bool:
    """Only aliases of values that can still reach a forbidden sink are followed to their uses."""
    if val.kind == v.FUNC:
        return val.path == "return-this"
    if val.kind == v.COMPUTED:
        return val.path in COMPUTED_HOLDERS
    if val.kind != v.REF:
        return False
    path = val.path
    if path.startswith(("desc:", "?ctor", "?proto", "Module.")):
        return True
    head, _, rest = path.partition(".")
    if not rest:
        return path in FOLLOWED_ROOTS or path in BUILTIN_CONSTRUCTORS
    if head in BUILTIN_CONSTRUCTORS and rest == "prototype":
        return True
    return path in FOLLOWED_PATHS


def _imported_names(clause: Node) -> list[str]:
    names: list[str] = []
    for child in clause.named_children:
        if child.type == "named_imports":
            for spec in child.named_children:
                name = spec.child_by_field_name("name")
                if name is not None:
                    names.append(identifier_name(name)[0])
        else:
            names.append("default" if child.type == "identifier" else "*")
    return names


def _excerpt(line: str, column: int) -> str:
    line = line.replace("\u2028", " ").replace("\u2029", " ").replace("\t", " ").rstrip()
    stripped = line.lstrip()
    lead = len(line) - len(stripped)
    if len(stripped) <= EXCERPT_MAX:
        return stripped
    start = max(0, column - 1 - lead - 40)
    piece = stripped[start : start + EXCERPT_MAX - 1]
    return ("…" if start else "") + piece + "…"
