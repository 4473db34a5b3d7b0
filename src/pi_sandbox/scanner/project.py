"""The extension as a whole: its own relative imports resolved across files, and where each file sits.

:class:`Project` implements :class:`~.bindings.ModuleLinks`: ``import { k } from './names'`` or
``require('./lib/decode')`` in one module resolves to the value the other module exports (ES ``export``,
CommonJS ``module.exports`` / ``exports.x``), and a function exported there can be run by the interpreter
with the importer's arguments. Modules are parsed on demand and kept in a small cache; an import cycle
resolves to unknown.

:func:`file_context` says where a file sits: the extension's own code, a dependency, a copy of a package
the sandbox serves itself, a type declaration, or a test fixture that no shipped file imports.
"""

from __future__ import annotations

import posixpath
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tree_sitter import Node

from pi_sandbox.scanner import values as v
from pi_sandbox.scanner.fold import node_text
from pi_sandbox.scanner.model import DEPENDENCY, EXTENSION, SERVED, TEST_FIXTURE, TYPES
from pi_sandbox.scanner.parse import language_for, parse
from pi_sandbox.scanner.resolve import Resolver
from pi_sandbox.scanner.rules import SERVED_PACKAGES
from pi_sandbox.scanner.values import Val

MAX_CACHED_MODULES: Final = 64
MAX_LINK_BYTES: Final = 2 * 1024 * 1024
MAX_EXPORTS: Final = 64
#: Suffixes Node and bundlers try for an extension-less relative specifier, in order.
_RESOLVE_SUFFIXES: Final = ("", ".js", ".ts", ".mjs", ".cjs", ".mts", ".cts", ".jsx", ".tsx", "/index.js",
                            "/index.ts", "/index.mjs", "/index.cjs")
TYPE_SUFFIXES: Final = (".d.ts", ".d.mts", ".d.cts")
TEST_DIRS: Final = frozenset({"test", "tests", "__tests__", "__mocks__", "fixtures", "__fixtures__", "spec", "e2e"})


@dataclass
class _Module:
    resolver: Resolver
    exports: dict[str, Node]  # export name → value/declaration node (evaluated on demand)


class Project:
    """Cross-module resolution for one extension folder."""

    def __init__(self, root: Path, rel_paths: list[str]) -> None:
        self.root = root
        self.files = set(rel_paths)
        self._modules: OrderedDict[str, _Module | None] = OrderedDict()
        self._active: set[str] = set()

    def resolve_specifier(self, importer: str, specifier: str) -> str | None:
        """The file a relative specifier of ``importer`` names, if it is one of the extension's JS/TS files."""
        base = posixpath.normpath(posixpath.join(posixpath.dirname(importer), specifier))
        if base.startswith("../") or base == "..":
            return None
        for suffix in _RESOLVE_SUFFIXES:
            candidate = base + suffix
            if candidate in self.files and language_for(candidate) is not None:
                return candidate
        if base.endswith(".js"):  # TypeScript sources imported with their output suffix
            for swapped in (base[:-3] + ".ts", base[:-3] + ".tsx"):
                if swapped in self.files:
                    return swapped
        return None

    def imported(self, importer: str, specifier: str, name: str | None) -> Val | None:
        """Export ``name`` (None: the whole namespace) of the module ``specifier`` imported by ``importer``."""
        target = self.resolve_specifier(importer, specifier)
        if target is None or target in self._active:
            return None
        module = self._module(target)
        if module is None:
            return None
        self._active.add(target)
        try:
            if name is None:
                if "=" in module.exports:  # `module.exports = value`
                    return module.resolver.evaluate(module.exports["="])
                props = tuple(v.Val(v.PROP, text=key, items=(self._export_value(module, key),))
                              for key in list(module.exports)[:MAX_EXPORTS])
                return v.Val(v.OBJ, items=props) if props else None
            if name in module.exports:
                return self._export_value(module, name)
            if name == "default" and "=" in module.exports:
                return module.resolver.evaluate(module.exports["="])
            return None
        finally:
            self._active.discard(target)

    def call_function(self, fn: Val, args: list[Val]) -> Val:
        """Run a function another module exported (its path names the module)."""
        file_key = fn.path[3:].rsplit(":", 2)[0]
        module = self._module(file_key) if file_key in self.files else None
        if module is None or file_key in self._active:
            return v.UNKNOWN
        self._active.add(file_key)
        try:
            return module.resolver.call_value(fn, args)
        finally:
            self._active.discard(file_key)

    def _export_value(self, module: _Module, name: str) -> Val:
        node = module.exports[name]
        if node.type == "identifier":
            bound = module.resolver.binding_at(node_text(node), node)
            return bound if bound is not None else v.UNKNOWN
        if node.type in ("function_declaration", "generator_function_declaration", "class_declaration"):
            return module.resolver.function_value(node)
        return module.resolver.evaluate(node)

    def _module(self, rel: str) -> _Module | None:
        if rel in self._modules:
            self._modules.move_to_end(rel)
            return self._modules[rel]
        module = None
        language = language_for(rel)
        path = self.root / rel
        try:
            if language is not None and path.is_file() and not path.is_symlink() and \
                    path.stat().st_size <= MAX_LINK_BYTES:
                source = path.read_bytes()
                tree = parse(source, language).tree
                resolver = Resolver(source, tree.root_node, rel, self)
                module = _Module(resolver, _exports(tree.root_node))
        except OSError:
            module = None
        self._modules[rel] = module
        if len(self._modules) > MAX_CACHED_MODULES:
            self._modules.popitem(last=False)
        return module


def _exports(root: Node) -> dict[str, Node]:
    """Export name → the node holding its value, for ES exports and CommonJS assignments."""
    exports: dict[str, Node] = {}
    for statement in root.named_children:
        if statement.type == "export_statement":
            _es_export(statement, exports)
        elif statement.type == "expression_statement" and statement.named_children:
            expr = statement.named_children[0]
            if expr.type != "assignment_expression":
                continue
            left, right = expr.child_by_field_name("left"), expr.child_by_field_name("right")
            if left is None or right is None:
                continue
            target = node_text(left)
            if target == "module.exports":
                exports["="] = right
                if right.type == "object":
                    for pair in right.named_children:
                        key = pair.child_by_field_name("key") if pair.type == "pair" else pair
                        value = pair.child_by_field_name("value") if pair.type == "pair" else pair
                        if key is not None and value is not None:
                            exports.setdefault(node_text(key).strip("'\""), value)
            elif target.startswith(("exports.", "module.exports.")):
                exports[target.rsplit(".", 1)[1]] = right
    return exports


def _es_export(statement: Node, exports: dict[str, Node]) -> None:
    value = statement.child_by_field_name("value")
    if value is not None:
        exports["default"] = value
    declaration = statement.child_by_field_name("declaration")
    if declaration is not None:
        if declaration.type in ("lexical_declaration", "variable_declaration"):
            for decl in declaration.named_children:
                name = decl.child_by_field_name("name") if decl.type == "variable_declarator" else None
                init = decl.child_by_field_name("value") if decl.type == "variable_declarator" else None
                if name is not None and name.type == "identifier" and init is not None:
                    exports[node_text(name)] = init
        else:
            name = declaration.child_by_field_name("name")
            if name is not None:
                exports[node_text(name)] = declaration
            if any(child.type == "default" for child in statement.children):  # export default function f() {}
                exports["default"] = declaration
    for child in statement.named_children:
        if child.type == "export_clause":
            for spec in child.named_children:
                local = spec.child_by_field_name("name")
                alias = spec.child_by_field_name("alias") or local
                if local is not None and alias is not None:
                    exports[node_text(alias)] = local


def package_of(rel: str) -> str | None:
    """The package a path under ``node_modules`` belongs to (``node_modules/@s/p/x.js`` → ``@s/p``)."""
    marker = rel.rfind("node_modules/")
    if marker < 0:
        return None
    parts = rel[marker + len("node_modules/"):].split("/")
    if parts[0].startswith("@") and len(parts) > 2:
        return f"{parts[0]}/{parts[1]}"
    return parts[0] if len(parts) > 1 else None


def is_test_path(rel: str) -> bool:
    """A test file or fixture by its path (``test/``, ``__tests__/``, ``*.test.ts``, ``*.spec.js``); under
    ``node_modules`` the path inside its package counts (a package may be called ``test``)."""
    package = package_of(rel)
    if package is not None:
        rel = rel[rel.rfind("node_modules/") + len("node_modules/") + len(package) + 1:]
    parts = rel.split("/")
    name = parts[-1]
    return any(p in TEST_DIRS for p in parts[:-1]) or ".test." in name or ".spec." in name


def file_context(rel: str, imported_by_own_code: bool, imported_by_dependency: bool = False) -> str:
    """Where ``rel`` sits (see the module docstring); a file the extension's own code imports is its own.
    A dependency's test file (zod ships ``src/v3/tests/*.test.ts``) that no dependency code imports is a
    test fixture like the extension's own."""
    if rel.endswith(TYPE_SUFFIXES):
        return TYPES
    package = package_of(rel)
    if package is not None:
        if package in SERVED_PACKAGES and not imported_by_own_code:
            return SERVED
        if is_test_path(rel) and not (imported_by_own_code or imported_by_dependency):
            return TEST_FIXTURE
        return DEPENDENCY
    if is_test_path(rel) and not imported_by_own_code:
        return TEST_FIXTURE
    return EXTENSION
