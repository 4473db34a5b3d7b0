"""Names and what reaches them: declarations, assignments, imports, property writes, within one module.

A name's definition sites are found by a text search for the name and a look at each occurrence's
parent (declaration, ``=``, ``+=``, destructuring, parameter, import). At a *use*, the value is the
reaching definition: definitions earlier in the same function (or an enclosing one) are folded in
source order (``let k = 'ev'; k += 'al'``), and a definition that only runs conditionally (inside an
``if`` or a loop that does not enclose the use) is merged with what was there before. Where several
values can reach and they differ, the result is unknown, unless one is a sensitive name (``c ? 'fs' :
'vm'`` resolves to ``vm``: hiding it is the point). Minified code that reuses ``e``, ``t`` in every
function therefore resolves each use to its own function's definition.

Imports of the extension's own relative modules resolve through the :class:`ModuleLinks` hook (the
walker's project view) to the exporting module's value.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final, Protocol

from tree_sitter import Node

from pi_sandbox.scanner import ops
from pi_sandbox.scanner import values as v
from pi_sandbox.scanner.fold import node_text
from pi_sandbox.scanner.members import member, module_value
from pi_sandbox.scanner.rules import (
    CHILD_PROCESS_MODULES,
    FORBIDDEN_MODULES,
    RAW_SOCKET_MODULES,
    THREAD_MODULES,
    module_root,
)
from pi_sandbox.scanner.values import Val

if TYPE_CHECKING:
    pass

MAX_DECLARATIONS: Final = 512
MAX_CALL_SITES: Final = 16
#: Short-name lookups answered by a regex pass each before the file's short tokens are indexed at once.
SHORT_LOOKUPS_BEFORE_INDEX: Final = 6
FUNCTION_NODES: Final = frozenset(
    {"function_expression", "function", "arrow_function", "generator_function", "class",
     "function_declaration", "generator_function_declaration", "method_definition"}
)
#: Ancestors that make a definition conditional for uses outside them.
_BRANCHES: Final = frozenset(
    {"statement_block", "program", "if_statement", "else_clause", "for_statement", "for_in_statement",
     "while_statement", "do_statement", "switch_case", "switch_default", "ternary_expression", "catch_clause",
     "class_body"}
)
_PARAMETER_PARENTS: Final = frozenset(
    {"formal_parameters", "required_parameter", "optional_parameter", "for_in_statement", "catch_clause",
     "rest_pattern", "array_pattern", "assignment_pattern"}
)
#: Member names a merge resolves to when its other candidate is harmless (not ``exec``/``spawn``:
#: ``re[g ? 'exec' : 'test']`` is ordinary code; child_process members are judged by the import).
SENSITIVE_MEMBERS: Final = frozenset(
    {"eval", "Function", "constructor", "__proto__", "prototype", "binding", "_linkedBinding", "dlopen", "_load",
     "mainModule", "execScript"}
)
_WORD_CHAR = rb"[A-Za-z0-9_$\\]"
_TOKEN = re.compile(rb"[A-Za-z0-9_$\\\x80-\xff]+")
_WORD_BYTES: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$\\")


class ModuleLinks(Protocol):
    """The walker's view of the extension's other modules (relative imports)."""

    def imported(self, importer: str, specifier: str, name: str | None) -> Val | None:
        """Export ``name`` (None: the namespace) of the module ``specifier`` imported by ``importer``."""
        ...

    def call_function(self, fn: Val, args: list[Val]) -> Val:
        """Run a function another module defined."""
        ...


def identifier_name(node: Node) -> tuple[str, bool]:
    """An identifier's name with escapes decoded, and whether it was escaped at all."""
    raw = node_text(node)
    if "\\" not in raw:
        return raw, False
    name, _hiding = v.decode_escapes(raw)
    return name, True


def word_positions(source: bytes, word: bytes) -> list[int]:
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


def sensitive_name(text: str) -> bool:
    """A member or module name worth resolving an ambiguous value to (eval, constructor, vm, ...)."""
    root = module_root(text.strip())
    return text in SENSITIVE_MEMBERS or root in FORBIDDEN_MODULES or root in CHILD_PROCESS_MODULES \
        or root in RAW_SOCKET_MODULES or root in THREAD_MODULES


def merge(values: list[Val]) -> Val:
    """One value for several that can reach a use: the common one, a sensitive string, else unknown."""
    distinct: list[Val] = []
    for value in values:
        if value not in distinct:
            distinct.append(value)
    if len(distinct) == 1:
        return distinct[0]
    sensitive = [x for x in distinct if x.kind == v.STR and sensitive_name(x.text)]
    if sensitive and any(x.kind == v.STR for x in distinct):
        return v.tainted(sensitive[0], obfuscated=True)
    return v.UNKNOWN


def enclosing_function(node: Node) -> Node | None:
    """The innermost function around ``node`` (None at module level)."""
    parent = node.parent
    while parent is not None:
        if parent.type in FUNCTION_NODES:
            return parent
        parent = parent.parent
    return None


def _contains(outer: Node | None, inner: Node) -> bool:
    if outer is None:
        return True
    return outer.start_byte <= inner.start_byte and inner.end_byte <= outer.end_byte


class Bindings:
    """Definition sites and reaching values of one module's names (the resolver's base)."""

    source: bytes
    root: Node
    links: ModuleLinks | None
    file_key: str

    def __init__(self) -> None:
        self._occurrences: dict[str, list[Node]] = {}
        self._short_tokens: dict[bytes, list[int]] | None = None
        self._short_lookups = 0
        self._functions: dict[int, Node | None] = {}
        self._closure_writes: dict[str, list[Node]] = {}
        self._writes_by_prop: dict[str, dict[str, list[Node]]] = {}
        self._definitions: dict[str, list[Node]] = {}
        self._binding_values: dict[str, Val | None] = {}
        self._reaching: dict[tuple[str, int], Val | None] = {}
        self._in_progress: set[str] = set()
        self.frames: list[dict[str, Val]] = []

    def evaluate(self, node: Node, depth: int = 0) -> Val:
        """The abstract value of ``node`` (the resolver implements it)."""
        raise NotImplementedError

    # --- occurrences and definition sites --------------------------------------------------

    def occurrences(self, name: str) -> list[Node]:
        """Identifier-like nodes in the file spelled exactly ``name`` (found by a text search)."""
        cached = self._occurrences.get(name)
        if cached is not None:
            return cached
        found: list[Node] = []
        word = name.encode()
        if len(word) <= 2:
            self._short_lookups += 1
        if len(word) <= 2 and self._short_lookups > SHORT_LOOKUPS_BEFORE_INDEX:
            # minified code asks for many short names: index every short token once instead of a regex pass each
            if self._short_tokens is None:
                self._short_tokens = {}
                for match in _TOKEN.finditer(self.source):
                    if match.end() - match.start() <= 2:
                        self._short_tokens.setdefault(match.group(), []).append(match.start())
            positions = self._short_tokens.get(word, [])
        else:
            positions = word_positions(self.source, word)
        for start in positions:
            end = start + len(word)
            node = self.root.named_descendant_for_byte_range(start, end)
            if node is not None and node.start_byte == start and node.end_byte == end:
                found.append(node)
        self._occurrences[name] = found
        return found

    def function_of(self, node: Node) -> Node | None:
        """``enclosing_function(node)``, cached (reaching definitions ask it for every definition and use)."""
        key = node.id
        if key not in self._functions:
            self._functions[key] = enclosing_function(node)
        return self._functions[key]

    def closure_writes(self, name: str) -> list[Node]:
        """Assignments to ``name`` inside functions that do not declare it themselves (closures)."""
        cached = self._closure_writes.get(name)
        if cached is None:
            defs = self.definitions(name)
            owners = [(d, self.function_of(d)) for d in defs]
            declaring = {f.id for d, f in owners if f is not None and not _is_assignment(d)}
            cached = [d for d, f in owners if f is not None and _is_assignment(d) and f.id not in declaring]
            self._closure_writes[name] = cached
        return cached

    def definitions(self, name: str) -> list[Node]:
        """Occurrences of ``name`` that define it (declaration, assignment, parameter, import ...)."""
        cached = self._definitions.get(name)
        if cached is None:
            cached = [o for o in self.occurrences(name)[:MAX_DECLARATIONS] if _is_definition(o)]
            self._definitions[name] = cached
        return cached

    def declared_value(self, decl: Node) -> Val | None:
        """The value bound by definition site ``decl``, or None if it is not one (``+=`` is not folded here)."""
        parent = decl.parent
        if parent is None:
            return None
        ptype = parent.type
        if ptype == "variable_declarator" and parent.child_by_field_name("name") == decl:
            value = parent.child_by_field_name("value")
            return v.with_via(self.evaluate(value), node_text(decl)) if value is not None else v.UNKNOWN
        if ptype == "assignment_expression" and parent.child_by_field_name("left") == decl:
            right = parent.child_by_field_name("right")
            return v.with_via(self.evaluate(right), node_text(decl)) if right is not None else v.UNKNOWN
        if ptype in ("augmented_assignment_expression", "update_expression"):
            return v.UNKNOWN
        if decl.type == "shorthand_property_identifier_pattern":
            source = self._pattern_source(parent)
            return v.UNKNOWN if source is None else member(source, v.string(identifier_name(decl)[0]))
        if ptype == "pair_pattern" and parent.child_by_field_name("value") == decl:
            key = parent.child_by_field_name("key")
            source = self._pattern_source(parent.parent)
            if source is None or key is None:
                return v.UNKNOWN
            return member(source, self.key_value(key))
        if ptype in _PARAMETER_PARENTS:
            return v.UNKNOWN  # a parameter, loop or catch variable: a local whose value is not static
        if ptype in ("import_clause", "namespace_import", "import_specifier", "import_require_clause"):
            return self._import_binding(decl, parent)
        if ptype in FUNCTION_NODES and parent.child_by_field_name("name") == decl:
            return self.function_value(parent)
        return None

    def function_value(self, function: Node) -> Val:
        """A reference to a user function the interpreter can run."""
        return v.Val(v.FUNC, path=f"fn:{self.file_key}:{function.start_byte}:{function.end_byte}")

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

    def key_value(self, key: Node) -> Val:
        """The name a property key or destructuring key stands for (``[k]`` keys are evaluated)."""
        if key.type in ("property_identifier", "identifier", "shorthand_property_identifier_pattern"):
            return v.string(identifier_name(key)[0])
        if key.type == "computed_property_name" and key.named_child_count:
            return v.tainted(self.evaluate(key.named_children[0]), obfuscated=True)
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
        spec = self.evaluate(source)
        imported: str | None = None
        if parent.type == "import_specifier":
            name_node = parent.child_by_field_name("name")
            imported = identifier_name(name_node)[0] if name_node is not None else identifier_name(decl)[0]
        elif parent.type == "import_clause":
            imported = "default"
        if spec.kind == v.STR and spec.text.startswith((".", "/")) and self.links is not None:
            linked = self.links.imported(self.file_key, spec.text, imported)
            return linked if linked is not None else v.UNKNOWN
        module = module_value(spec)
        if parent.type == "import_specifier":
            return member(module, v.string(imported or ""))
        return module

    # --- values at a use -------------------------------------------------------------------

    def binding(self, name: str) -> Val | None:
        """The value ``name`` is bound to anywhere in the file (merged), or None when never defined."""
        if name in self._binding_values:
            return self._binding_values[name]  # None too: "never declared" is worth remembering
        if name in self._in_progress:
            return v.UNKNOWN
        self._in_progress.add(name)
        saved, self.frames = self.frames, []  # declarations are evaluated outside any running call
        found: list[Val] = []
        try:
            for occurrence in self.definitions(name):
                value = self.declared_value(occurrence)
                if value is not None:
                    found.append(value)
        finally:
            self.frames = saved
            self._in_progress.discard(name)
        best = merge(found) if found else None
        self._binding_values[name] = best
        return best

    def binding_at(self, name: str, use: Node) -> Val | None:
        """The value of ``name`` that reaches ``use`` (see the module docstring); None if never defined."""
        defs = self.definitions(name)
        if len(defs) <= 1 and not any(_is_update(d) for d in defs):
            return self.binding(name)
        key = (name, use.start_byte)
        if key in self._reaching:
            return self._reaching[key]
        if name in self._in_progress:
            return v.UNKNOWN
        self._in_progress.add(name)
        saved, self.frames = self.frames, []
        try:
            value = self._reaching_value(defs, use)
        finally:
            self.frames = saved
            self._in_progress.discard(name)
        self._reaching[key] = value
        return value

    def _reaching_value(self, defs: list[Node], use: Node) -> Val | None:
        before = [d for d in defs if d.start_byte < use.start_byte and _contains(self.function_of(d), use)]
        if not before:
            return self.binding(node_text(defs[0]))
        if any(not _contains(self.function_of(d), use) for d in self.closure_writes(node_text(defs[0]))):
            # `arr.forEach((c) => { s += … })`: a callback may have changed it, by an amount we do not know
            return merge([self._fold_chain(before, use) or v.UNKNOWN, v.UNKNOWN])
        return self._fold_chain(before, use)

    def _fold_chain(self, before: list[Node], use: Node) -> Val | None:
        current: Val | None = None
        for d in before:
            parent = d.parent
            if parent is not None and parent.type == "augmented_assignment_expression":
                operator = parent.child_by_field_name("operator")
                right = parent.child_by_field_name("right")
                op = node_text(operator)[:-1] if operator is not None else ""
                if current is None or right is None or op not in ops.BINARY_OPERATORS:
                    value = v.UNKNOWN
                else:
                    value = v.tainted(ops.binary(op, current, self.evaluate(right)), obfuscated=True)
            else:
                declared = self.declared_value(d)
                value = declared if declared is not None else v.UNKNOWN
            if current is None or _unconditional(d, use):
                current = value
            else:
                current = merge([current, value])
        return current

    def call_site_values(self, use: Node) -> list[tuple[Node, Val]]:
        """For a parameter used at ``use``: each call of its function and the argument passed there."""
        name = node_text(use)
        function = enclosing_function(use)
        if function is None or use.type != "identifier":
            return []
        params = function.child_by_field_name("parameters") or function.child_by_field_name("parameter")
        if params is None:
            return []
        nodes = [params] if params.type == "identifier" else params.named_children
        names = [node_text(p.child_by_field_name("pattern") or p) for p in nodes]
        fn_name = function_name(function)
        if name not in names or fn_name is None:
            return []
        index = names.index(name)
        found: list[tuple[Node, Val]] = []
        for occurrence in self.occurrences(fn_name)[:MAX_CALL_SITES]:
            call = call_of(occurrence)
            if call is None or function.start_byte <= call.start_byte < function.end_byte:
                continue
            args = call.child_by_field_name("arguments")
            values = [c for c in args.named_children if c.type != "comment"] if args is not None else []
            if index < len(values):
                found.append((call, self.evaluate(values[index])))
        return found

    def property_writes(self, name: str, prop: str) -> list[Val]:
        """Values assigned to ``name.prop`` / ``name['prop']`` anywhere in the file."""
        guard = f"{name}.{prop}"
        if guard in self._in_progress:
            return []  # `o.a = o.a + x`: the value depends on itself
        self._in_progress.add(guard)
        try:
            return self._property_writes(name, prop)
        finally:
            self._in_progress.discard(guard)

    def _property_writes(self, name: str, prop: str) -> list[Val]:
        index = self._writes_by_prop.get(name)
        if index is None:
            index = self._writes_by_prop[name] = self._index_property_writes(name)
        return [v.with_via(self.evaluate(right), f"{name}.{prop}") for right in index.get(prop, [])]

    def _index_property_writes(self, name: str) -> dict[str, list[Node]]:
        """One pass over ``name``'s occurrences: property → the right-hand sides assigned to it."""
        index: dict[str, list[Node]] = {}
        for occurrence in self.occurrences(name):
            holder = occurrence.parent
            if holder is None or holder.child_by_field_name("object") != occurrence:
                continue
            assignment = holder.parent
            if assignment is None or assignment.type != "assignment_expression" \
                    or assignment.child_by_field_name("left") != holder:
                continue
            if holder.type == "member_expression":
                key_node = holder.child_by_field_name("property")
                key = identifier_name(key_node)[0] if key_node is not None else None
            elif holder.type == "subscript_expression":
                key_index = holder.child_by_field_name("index")
                key = self.evaluate(key_index).known_text if key_index is not None else None
            else:
                continue
            right = assignment.child_by_field_name("right")
            if key is not None and right is not None:
                index.setdefault(key, []).append(right)
        return index


def pattern_elements(pattern: Node) -> list[tuple[int, Node]]:
    """``[a, , [b]]``: each element with its position (holes count, unlike ``named_children``)."""
    out: list[tuple[int, Node]] = []
    position = 0
    for child in pattern.children:
        if child.type == ",":
            position += 1
        elif child.is_named and child.type != "comment":
            out.append((position, child))
    return out


def call_of(name: Node | None) -> Node | None:
    """The call whose callee is ``name`` or ``x.name``."""
    if name is None or name.parent is None:
        return None
    callee = name.parent if name.type == "property_identifier" else name
    if name.type == "property_identifier" and callee.child_by_field_name("property") != name:
        return None
    call = callee.parent
    if call is not None and call.type == "call_expression" and call.child_by_field_name("function") == callee:
        return call
    return None


def function_name(function: Node) -> str | None:
    """The name calls use for ``function``: its declared name, or the variable/property it is assigned to."""
    name = function.child_by_field_name("name")
    if name is not None:
        return node_text(name)
    parent = function.parent
    if parent is not None and parent.type == "variable_declarator":
        target = parent.child_by_field_name("name")
    elif parent is not None and parent.type == "pair":
        target = parent.child_by_field_name("key")
    elif parent is not None and parent.type == "assignment_expression":
        target = parent.child_by_field_name("left")
        if target is not None and target.type == "member_expression":
            target = target.child_by_field_name("property")
    else:
        target = None
    return node_text(target) if target is not None and target.type in (
        "identifier", "property_identifier") else None


def _is_definition(occurrence: Node) -> bool:
    parent = occurrence.parent
    if parent is None:
        return False
    ptype = parent.type
    if ptype in ("variable_declarator", "assignment_expression", "augmented_assignment_expression"):
        field = "name" if ptype == "variable_declarator" else "left"
        return parent.child_by_field_name(field) == occurrence
    if ptype == "update_expression":
        return True
    if ptype in FUNCTION_NODES:
        return parent.child_by_field_name("name") == occurrence
    if occurrence.type == "shorthand_property_identifier_pattern":
        return True
    if ptype == "pair_pattern":
        return parent.child_by_field_name("value") == occurrence
    return ptype in _PARAMETER_PARENTS or ptype in (
        "import_clause", "namespace_import", "import_specifier", "import_require_clause")


def _is_update(occurrence: Node) -> bool:
    parent = occurrence.parent
    return parent is not None and parent.type in ("augmented_assignment_expression", "update_expression")


def _is_assignment(occurrence: Node) -> bool:
    parent = occurrence.parent
    return parent is not None and parent.type in (
        "assignment_expression", "augmented_assignment_expression", "update_expression") and (
        parent.type == "update_expression" or parent.child_by_field_name("left") == occurrence)


def _unconditional(definition: Node, use: Node) -> bool:
    """Whether ``definition`` runs whenever control reaches ``use`` (its branch encloses the use)."""
    node = definition.parent
    while node is not None and node.type not in _BRANCHES:
        if node.type in FUNCTION_NODES:
            return _contains(node, use)
        if node.type == "binary_expression":  # `c && (k = 'x')`
            operator = node.child_by_field_name("operator")
            if operator is not None and node_text(operator) in ("&&", "||", "??"):
                return _contains(node, use)
        node = node.parent
    return node is None or _contains(node, use)
