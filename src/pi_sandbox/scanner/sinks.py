"""Sink rules: what a call, a ``new``, an import or a module specifier means for the verdict.

:class:`SinkRules` holds a file's findings and the rules that fire where a value is *used*: calls of
``eval`` / ``Function`` / string timers / ``require``, ``.call`` / ``.apply`` / ``Reflect`` indirection,
pollution through ``Object.defineProperty`` and friends, and every module specifier (static and dynamic
imports, ``require``, TS ``import x = require()``). :class:`~pi_sandbox.scanner.analyze.FileAnalyzer`
adds the climbing and aliasing that bring values to these rules.
"""

from __future__ import annotations

from typing import Final

from tree_sitter import Node

from pi_sandbox.scanner import values as v
from pi_sandbox.scanner.fold import node_text
from pi_sandbox.scanner.members import member, module_value
from pi_sandbox.scanner.model import EXCERPT_MAX, Finding, make_finding
from pi_sandbox.scanner.parse import Parsed
from pi_sandbox.scanner.resolve import Resolver, identifier_name
from pi_sandbox.scanner.rules import (
    BUILTIN_CONSTRUCTORS,
    CHILD_PROCESS_MODULES,
    FORBIDDEN_MODULES,
    FS_MODULES,
    GLOBAL_OBJECT_NAMES,
    NETWORK_MODULES,
    NODE_BUILTINS,
    PURE_NET_NAMES,
    STRING_TIMERS,
    module_root,
)
from pi_sandbox.scanner.values import Val

#: Objects whose computed members are worth a finding (a computed key can spell anything on them).
COMPUTED_HOLDERS: Final = GLOBAL_OBJECT_NAMES | {"globalThis", "process", "require", "module", "Module",
                                                 "Reflect", "Function"}
#: Exact constant ``Function(...)`` argument lists emitted by common bundler runtimes (besides
#: ``Function('return this')``): constant, inspected code that only sets a global.
BUNDLER_FUNCTION_IDIOMS: Final = frozenset({("r", "regeneratorRuntime = r")})
#: Calls whose result the resolver can name (decoders, loaders, prototype lookups).
VALUE_CALLS: Final = frozenset(
    {"atob", "decodeURIComponent", "decodeURI", "unescape", "String.fromCharCode", "String.fromCodePoint",
     "String", "String.raw", "Object.getPrototypeOf", "Reflect.getPrototypeOf", "Reflect.get",
     "Object.getOwnPropertyDescriptor", "Reflect.getOwnPropertyDescriptor"}
)
ENUMERATING_CALLS: Final = frozenset(
    {"Object.keys", "Object.values", "Object.entries", "Object.getOwnPropertyNames",
     "Object.getOwnPropertyDescriptors", "Reflect.ownKeys"}
)
#: Calls that load a module by name (``process.getBuiltinModule`` loads any Node builtin, Node >= 22.3).
REQUIRE_PATHS: Final = frozenset({"require", "__non_webpack_require__", "process.getBuiltinModule"})
POLLUTING_CALLS: Final = frozenset(
    {"Object.defineProperty", "Object.defineProperties", "Object.assign", "Object.setPrototypeOf",
     "Reflect.set", "Reflect.defineProperty", "Reflect.setPrototypeOf", "Object.prototype.__defineGetter__",
     "Object.prototype.__defineSetter__"}
)


class SinkRules:
    """A file's findings plus the rules that fire where values are called, constructed or imported."""

    def __init__(self, source: bytes, parsed: Parsed, rel_path: str) -> None:
        self.source = source
        self.parsed = parsed
        self.rel_path = rel_path
        self.root = parsed.tree.root_node
        self.resolver = Resolver(source, self.root)
        self.capabilities: set[str] = set()
        self._findings: dict[tuple[str, int], Finding] = {}
        self.has_fs = False
        self.relative_imports: list[str] = []
        self.enumerated_globals: list[Node] = []

    # --- hooks the analyzer provides -------------------------------------------------------

    def on_reference(self, node: Node, val: Val) -> None:
        """Rules on any mention of a value (implemented by the analyzer)."""
        raise NotImplementedError

    def follow_alias(self, name: str, val: Val) -> None:
        """Follow a local name bound to ``val`` to its uses (implemented by the analyzer)."""
        raise NotImplementedError

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
        if path.endswith(("__defineGetter__", "__defineSetter__")) and is_builtin_prototype(path):
            self.add("PROTOTYPE_POLLUTION", call, path)
            return None
        if path in POLLUTING_CALLS and args:
            target = self.resolver.evaluate(args[0])
            if target.kind == v.REF and is_builtin_prototype(target.path) and target.path.endswith(".prototype"):
                self.add("PROTOTYPE_POLLUTION", call, f"{path} on {target.path}")
            return None
        if path in ENUMERATING_CALLS and args:
            target = self.resolver.evaluate(args[0])
            if target.kind == v.REF and target.path in COMPUTED_HOLDERS:
                # Walking the global object's keys is how `eval` is found without naming it.
                self.add("COMPUTED_GLOBAL", call, f"{path}({target.path})")
                self.enumerated_globals.append(call)
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
        if text.startswith(("./", "../")):
            self.relative_imports.append(text)  # the walker scans targets without a JS suffix as code
        return module_value(spec)


def is_builtin_prototype(path: str) -> bool:
    """Whether ``path`` is a built-in prototype (``Object.prototype``) or a member of one."""
    head, _, rest = path.partition(".")
    return head in BUILTIN_CONSTRUCTORS and (rest == "prototype" or rest.startswith("prototype."))


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
