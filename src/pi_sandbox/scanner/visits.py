"""Visits of the candidate nodes that are not climbs from a tracked global: computed keys, special member
names, escaped identifiers, ``with`` statements, fs calls and parse errors.

:class:`Visits` sits between the sink rules and the analyzer: each visit resolves what it needs and hands
values to the analyzer's climb (``visit_computed`` climbs from ``x['constr' + 'uctor']``, ``visit_with`` from
every free name in the block).
"""

from __future__ import annotations

import re
from typing import Final

from tree_sitter import Node

from pi_sandbox.scanner import values as v
from pi_sandbox.scanner.bindings import call_of
from pi_sandbox.scanner.fold import node_text
from pi_sandbox.scanner.members import member
from pi_sandbox.scanner.resolve import identifier_name
from pi_sandbox.scanner.rules import (
    FS_MODULES,
    FS_PATH_FUNCTIONS,
    FS_WRITE_FUNCTIONS,
    SENSITIVE_MEMBER_NAMES,
    SUSPICIOUS_TOKEN_PATTERN,
    TRACKED_GLOBALS,
)
from pi_sandbox.scanner.sinks import COMPUTED_HOLDERS, SinkRules
from pi_sandbox.scanner.values import Val

#: Absolute paths a file operation may name without leaving anything an extension should not see.
_HARMLESS_ABSOLUTE = ("/tmp/", "/dev/null", "/dev/stdout", "/dev/stderr", "/proc/self/", "/etc/os-release",
                      "/etc/hosts", "/etc/localtime", "/usr/share/zoneinfo/")

_FS_NAMES: Final = tuple((name, name.encode()) for name in sorted(FS_PATH_FUNCTIONS))

_FS_PATHS: Final = tuple(f"mod:{m}." for m in FS_MODULES)

_COMMENTS = re.compile(rb"/\*[\s\S]*?\*/|(?<![:\\])//[^\n]*")

_SUSPICIOUS = re.compile(SUSPICIOUS_TOKEN_PATTERN)

NAMED_DECLARATIONS: Final = frozenset(
    {"variable_declarator", "function_declaration", "function_signature", "function_expression", "class_declaration",
     "generator_function_declaration", "class", "function", "method_definition"}
)

DECLARATION_PARENTS: Final = frozenset(
    {"formal_parameters", "required_parameter", "optional_parameter", "rest_pattern", "import_specifier",
     "import_clause", "namespace_import", "export_specifier", "labeled_statement", "break_statement",
     "continue_statement", "type_query", "array_pattern", "pair_pattern", "object_pattern",
     "import_require_clause", "catch_clause", "for_in_statement", "nested_identifier"}
)

#: Nodes of a ``with`` body looked at.
MAX_WITH_NODES: Final = 5000


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


def token_scan(source: bytes) -> re.Match[bytes] | None:
    """Eval-like tokens in code that was not parsed (comments removed first)."""
    return _SUSPICIOUS.search(_COMMENTS.sub(b" ", source))


def in_comment_or_string(root: Node, offset: int) -> bool:
    """Whether byte ``offset`` lies inside a comment, string or regex literal."""
    node: Node | None = root.descendant_for_byte_range(offset, offset + 1)
    while node is not None:
        if node.type in ("comment", "string", "template_string", "regex"):
            return True
        node = node.parent
    return False


class Visits(SinkRules):
    """Visits of candidate nodes; the analyzer provides ``climb`` and ``on_binding``."""

    def on_binding(self, name_node: Node, val: Val) -> None:
        """Follow a binding of ``val`` (implemented by the analyzer)."""
        raise NotImplementedError

    def key_value(self, index: Node) -> Val:
        """The value of a computed member key; marked obfuscated unless written as a plain literal.

        A key held in a variable (``o[k]``) carries the marks of the value it is bound to: a plain
        ``const k = 'env'`` stays plain, ``const k = 'constr' + 'uctor'`` is already obfuscated.
        """
        key = self.resolver.evaluate(index)
        plain = index.type in ("string", "number", "identifier") or (
            index.type == "template_string"
            and not any(c.type == "template_substitution" for c in index.named_children)
        )
        if not plain and key.kind == v.STR:
            key = v.tainted(key, obfuscated=True)
        return key

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
            while owner is not None and owner.type == "pair_pattern" and owner.parent is not None \
                    and owner.parent.type == "object_pattern":  # nested: bind from the outermost pattern
                pattern = owner.parent
                owner = pattern.parent
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

    def check_fs_calls(self) -> None:
        """In a file that imports fs: writes are flagged, and so are operations on constant paths outside the
        workspace (absolute, home, ``../`` past the root)."""
        for name, word in _FS_NAMES:
            if word not in self.source:  # a byte search per name beats one regex over the file
                continue
            for found in self.resolver.occurrences(name):
                self.check_fs_call(name, found)

    def check_fs_call(self, name: str, found: Node) -> None:
        """One use of an fs function name: a write is flagged; a constant path outside the workspace too."""
        if name in FS_WRITE_FUNCTIONS and found.type in ("identifier", "property_identifier"):
            self.visit_fs_write(found)
        call = call_of(found)
        args = self.resolver.call_arguments(call) if call is not None else []
        target = self.resolver.evaluate(args[0]) if args else v.UNKNOWN
        if call is None or target.kind != v.STR:
            return
        path = target.text.strip()
        outside = path.startswith(("~", "$HOME")) or (
            path.startswith("/") and not path.startswith(_HARMLESS_ABSOLUTE)) or (
            path.startswith("..") and self.escapes_root(path))
        callee = call.child_by_field_name("function")
        if outside and callee is not None and self.resolver.evaluate(callee).path.startswith(_FS_PATHS):
            # only Node's fs: emscripten's in-memory `FS.mkdir('/tmp')` is no host file
            self.add("FS_OUTSIDE_ROOT", call, f"{name}({path[:60]!r})", target)

    def visit_with(self, node: Node) -> None:
        """``with (process) { binding('fs') }``: names in the body can be members of the scope object."""
        obj_node = node.child_by_field_name("object")
        body = node.child_by_field_name("body")
        scope = self.resolver.evaluate(obj_node) if obj_node is not None else v.UNKNOWN
        if scope.kind != v.REF or scope.path not in COMPUTED_HOLDERS:
            self.add("WITH_STATEMENT", node)
            return
        self.add("WITH_SCOPE", node, scope.path, scope)
        pending = [body] if body is not None else []
        visited = 0
        while pending and visited < MAX_WITH_NODES:
            current = pending.pop()
            visited += 1
            if current.type == "identifier" and not is_declaration(current):
                name = identifier_name(current)[0]
                if name not in TRACKED_GLOBALS and self.resolver.binding(name) is None:
                    self.climb(current, v.tainted(member(scope, v.string(name)), obfuscated=True))
            pending.extend(current.named_children)

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
