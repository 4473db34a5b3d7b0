"""Module-loading rules: every way a module specifier reaches the loader.

Static ``import`` / ``export … from``, TS ``import x = require()``, ``require`` (also through a variable,
an array element, ``require.main.require``, ``module.require``, ``createRequire``), ``process.getBuiltinModule``
and ``import()``. The specifier is resolved first; then the module decides: forbidden builtins (a new JS
realm, the debugger), optional builtins with the capability they imply (raw sockets, threads), child
process and network packages, code from URLs, native addons, and paths that leave the extension (absolute,
``file:``, ``../`` past the root). A specifier built from pieces or decoded is obfuscation on its own.
"""

from __future__ import annotations

import posixpath
from typing import Final

from tree_sitter import Node

from pi_sandbox.scanner import values as v
from pi_sandbox.scanner.base import RuleBase
from pi_sandbox.scanner.members import member, module_value
from pi_sandbox.scanner.resolve import identifier_name
from pi_sandbox.scanner.rules import (
    CHILD_PROCESS_MODULES,
    FORBIDDEN_MODULES,
    FS_MODULES,
    NETWORK_MODULES,
    NODE_BUILTINS,
    PURE_MODULE_NAMES,
    RAW_SOCKET_MODULES,
    THREAD_MODULES,
    module_root,
)
from pi_sandbox.scanner.values import Val

#: Imported modules whose bindings are followed to their uses (``new Worker(code, { eval: true })``).
FOLLOWED_MODULES: Final = frozenset({"mod:worker_threads"})


class ModuleRules(RuleBase):
    """Rules on module specifiers and the bindings imports create."""

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
        if module.kind == v.REF and (not module.path.startswith("mod:") or module.path in FOLLOWED_MODULES):
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
            self.add(dynamic_rule, node, "specifier not resolvable", spec)
            for call, value in self.resolver.call_site_values(spec_node):  # `load(m) { require(m) }`
                if value.kind == v.STR:
                    self.judge_specifier(call, value, imported)
            return v.UNKNOWN
        return self.judge_specifier(node, spec, imported)

    def judge_specifier(self, node: Node, spec: Val, imported: tuple[str, ...] = ()) -> Val:
        """The rules for a resolved specifier ``spec`` loaded at ``node``; returns the module value."""
        text = spec.text.strip()
        root = module_root(text)
        hidden = spec.obfuscated or spec.decoded
        if text.startswith(("data:", "blob:", "http:", "https:")):
            self.add("CODE_FROM_URL", node, text[:40], spec)
        if text.endswith(".node"):
            self.add("NATIVE_ADDON_LOAD", node, text[-80:], spec)
        if self.escapes_root(text):
            self.add("MODULE_OUTSIDE_ROOT", node, text[:80], spec)
        imported = imported or _destructured(node)
        pure = bool(imported) and set(imported) <= PURE_MODULE_NAMES.get(root, frozenset())
        if root in FORBIDDEN_MODULES and not pure:
            self.add("FORBIDDEN_MODULE", node, root, spec)
        elif root in RAW_SOCKET_MODULES and not pure:
            self.add("RAW_SOCKET", node, root, spec)
        elif root in THREAD_MODULES:
            self.add("THREADS", node, root, spec)
        if hidden and (root in NODE_BUILTINS or root in CHILD_PROCESS_MODULES or root in NETWORK_MODULES
                       or root in FS_MODULES):
            self.add("OBFUSCATED_ACCESS", node, f"module {root}", spec)
        if root in CHILD_PROCESS_MODULES:
            self.add("CHILD_PROCESS", node, root, spec)
        elif root in NETWORK_MODULES:
            self.add("NETWORK", node, root, spec)
        elif root in FS_MODULES:
            self.has_fs = True
            self.capabilities.add("read")
        if text.startswith(("./", "../")):
            self.relative_imports.append(text)  # the walker scans targets without a JS suffix as code
        if text.startswith(".") and self.resolver.links is not None:
            linked = self.resolver.links.imported(self.rel_path, text, None)
            if linked is not None:
                return linked
        return module_value(spec)

    def escapes_root(self, specifier: str) -> bool:
        """Whether a specifier names code outside the extension (absolute, ``file:``, ``../`` past the root)."""
        if specifier.startswith("file:"):
            specifier = specifier[5:].removeprefix("//")  # our own import.meta.url is `file:./name`
            if not specifier.startswith("/"):
                specifier = "./" + specifier.removeprefix("./")
        if specifier.startswith(("/", "\\")) or (len(specifier) > 2 and specifier[1] == ":"
                                                          and specifier[0].isalpha()):
            return True
        if not specifier.startswith(".."):
            return False
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(self.rel_path), specifier))
        return joined == ".." or joined.startswith("../")

    def check_create_require(self, call: Node, args: list[Node]) -> None:
        """``createRequire(anchor)``: an anchor outside the extension loads code nobody scanned."""
        if not args:
            return
        anchor = self.resolver.evaluate(args[0])
        if anchor.kind == v.STR and self.escapes_root(anchor.text):
            self.add("MODULE_OUTSIDE_ROOT", call, f"createRequire({anchor.text[:60]!r})", anchor)


def _destructured(call: Node) -> tuple[str, ...]:
    """``const { getHeapStatistics } = require('v8')``: the names taken from a required module."""
    parent = call.parent
    while parent is not None and parent.type in ("await_expression", "parenthesized_expression"):
        parent = parent.parent
    pattern = parent.child_by_field_name("name") if parent is not None and parent.type == "variable_declarator" \
        else None
    if pattern is None or pattern.type != "object_pattern":
        return ()
    names = []
    for child in pattern.named_children:
        key = child.child_by_field_name("key") if child.type == "pair_pattern" else child
        if key is None or key.type not in ("shorthand_property_identifier_pattern", "property_identifier"):
            return ()  # a rest element or computed key can take anything
        names.append(identifier_name(key)[0])
    return tuple(names)


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
