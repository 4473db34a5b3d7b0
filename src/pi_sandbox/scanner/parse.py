"""Tree-sitter parsing: which grammar a file needs, cached parsers and the candidate-node query.

Walking every node in Python would cost more than parsing. Instead a byte search finds the words the
analysis starts from (tracked globals, special member names, ``import``/``export``/``with``, ``[``) and
a node lookup per hit keeps the ones that are code (not comments or strings); the analysis then climbs
from those few nodes through their parents. Rare node kinds (parse errors, long strings, escaped
identifiers, TypeScript ``declare`` blocks) come from small queries run only where they can match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Final

import tree_sitter
import tree_sitter_javascript
import tree_sitter_typescript

from pi_sandbox.scanner.rules import TRACKED_GLOBALS
from pi_sandbox.scanner.signals import LONG_STRING_BYTES

JAVASCRIPT: Final = "javascript"
TYPESCRIPT: Final = "typescript"
TSX: Final = "tsx"

#: File suffix → grammar. ``.d.ts`` is TypeScript too (it is scanned: it can hide nothing, but cheap).
SUFFIX_LANGUAGE: Final[dict[str, str]] = {
    ".js": JAVASCRIPT,
    ".mjs": JAVASCRIPT,
    ".cjs": JAVASCRIPT,
    ".jsx": JAVASCRIPT,
    ".ts": TYPESCRIPT,
    ".mts": TYPESCRIPT,
    ".cts": TYPESCRIPT,
    ".tsx": TSX,
}


def language_for(name: str) -> str | None:
    """The grammar for a file name, or None when it is not JavaScript/TypeScript."""
    lower = name.lower()
    dot = lower.rfind(".")
    if dot < 0:
        return None
    return SUFFIX_LANGUAGE.get(lower[dot:])


@cache
def grammar(language: str) -> tree_sitter.Language:
    """The tree-sitter Language object for ``language``."""
    if language == JAVASCRIPT:
        return tree_sitter.Language(tree_sitter_javascript.language())
    if language == TYPESCRIPT:
        return tree_sitter.Language(tree_sitter_typescript.language_typescript())
    if language == TSX:
        return tree_sitter.Language(tree_sitter_typescript.language_tsx())
    raise ValueError(f"unknown grammar {language!r}")


#: Member names worth a look wherever they are written (``x.constructor``, ``{ __proto__: … }``).
SPECIAL_PROPERTIES: Final = frozenset(
    {"__proto__", "constructor", "eval", "Function", "binding", "_linkedBinding", "dlopen", "_load", "mainModule",
     "setTimeout", "setInterval", "execScript"}
)
#: Subscript keys that can spell a name (a plain number index cannot).
COMPUTED_KEYS: Final = frozenset(
    {"string", "template_string", "binary_expression", "call_expression", "parenthesized_expression",
     "member_expression", "identifier"}
)
_WORD = re.compile(
    rb"(?<![\w$])(" + b"|".join(re.escape(n.encode()) for n in sorted(TRACKED_GLOBALS | SPECIAL_PROPERTIES,
                                                                       key=lambda n: (-len(n), n)))
    + rb"|import|export|with)(?![\w$])"
)
_BRACKET = re.compile(rb"\[")


#: Queries run only when the file can match them (a cheap byte search decides), see ``extra_captures``.
_EXTRA_QUERIES: Final[dict[str, str]] = {
    # raw string: the query language unescapes once, the regex engine once more
    "escaped": r"""
((identifier) @escaped (#match? @escaped "\\\\"))
((property_identifier) @escaped (#match? @escaped "\\\\"))
((shorthand_property_identifier) @escaped (#match? @escaped "\\\\"))
""",
    "ambient": "(ambient_declaration) @ambient\n",  # TypeScript grammars only
    "string": "(string) @string\n(template_string) @string\n",
    "error": "(ERROR) @error\n",
}


@cache
def _extra_query(language: str, name: str) -> tree_sitter.Query:
    return tree_sitter.Query(grammar(language), _EXTRA_QUERIES[name])


def extra_captures(tree: tree_sitter.Tree, language: str, name: str,
                   byte_range: tuple[int, int] | None = None) -> list[tree_sitter.Node]:
    """Nodes of one of the lazily run queries (``escaped``, ``ambient``, ``string``, ``error``)."""
    cursor = tree_sitter.QueryCursor(_extra_query(language, name))
    if byte_range is not None:
        cursor.set_byte_range(*byte_range)
    return cursor.captures(tree.root_node).get(name, [])


def candidates(tree: tree_sitter.Tree, source: bytes, language: str) -> dict[str, list[tree_sitter.Node]]:
    """The nodes the analysis starts from, found by byte searches and checked against the tree.

    Mentions of tracked globals (``root``), special member names (``special``), imports, ``export … from``,
    ``import()``, ``with`` statements, computed member keys, long string literals and parse errors. A
    byte search plus a node lookup per hit costs a fraction of a tree-sitter query with predicates.
    """
    root = tree.root_node
    found: dict[str, list[tree_sitter.Node]] = {
        "root": [], "special": [], "import": [], "dynamic_import": [], "with": [], "computed": []}
    for match in _WORD.finditer(source):
        node = root.descendant_for_byte_range(match.start(), match.end())
        if node is None or node.start_byte != match.start() or node.end_byte != match.end():
            continue
        word = match.group(1)
        kind = node.type
        if word in (b"import", b"export", b"with"):
            parent = node.parent
            if parent is not None and parent.type == "import":  # TypeScript wraps the keyword once more
                parent = parent.parent
            if parent is None:
                continue
            if word == b"import" and parent.type == "import_statement":
                found["import"].append(parent)
            elif word == b"import" and parent.type == "call_expression":
                if not in_type_position(parent):
                    found["dynamic_import"].append(parent)
            elif word == b"export" and parent.type == "export_statement" and \
                    parent.child_by_field_name("source") is not None:
                found["import"].append(parent)
            elif word == b"with" and parent.type == "with_statement":
                found["with"].append(parent)
            continue
        if kind in ("identifier", "shorthand_property_identifier") and word.decode() in TRACKED_GLOBALS:
            found["root"].append(node)
        elif kind == "property_identifier" and word.decode() in SPECIAL_PROPERTIES:
            found["special"].append(node)
    for match in _BRACKET.finditer(source):
        node = root.descendant_for_byte_range(match.start(), match.start() + 1)
        parent = node.parent if node is not None else None
        if parent is not None and parent.type == "subscript_expression":
            index = parent.child_by_field_name("index")
            if index is not None and index.type in COMPUTED_KEYS:
                found["computed"].append(parent)
    found["string"] = _long_strings(tree, source, language)
    found["error"] = extra_captures(tree, language, "error") if root.has_error else []
    return found


#: TypeScript nodes that hold only types: TypeScript erases them, so an ``import('x')`` inside one
#: (``type T = import('x').T``, ``let a: import('x').T``, ``typeof import('x')``) loads nothing.
_TYPE_NODES: Final = frozenset({
    "type_annotation", "type_alias_declaration", "type_query", "type_arguments", "type_parameters",
    "interface_declaration", "implements_clause", "extends_type_clause", "asserts_annotation",
    "type_predicate_annotation", "opting_type_annotation", "omitting_type_annotation", "adding_type_annotation"})


def in_type_position(node: tree_sitter.Node) -> bool:
    """Whether ``node`` sits in a TypeScript type (including the type side of ``as`` / ``satisfies``)."""
    child, parent = node, node.parent
    while parent is not None:
        if parent.type in _TYPE_NODES:
            return True
        if parent.type == "ERROR":  # a tree the grammar could not read: assume code
            return False
        if parent.type in ("as_expression", "satisfies_expression") and parent.named_child_count > 1 and \
                parent.named_children[0] != child:
            return True
        child, parent = parent, parent.parent
    return False


def _long_strings(tree: tree_sitter.Tree, source: bytes, language: str) -> list[tree_sitter.Node]:
    """String literals of at least :data:`LONG_STRING_BYTES`: only a line that long, or a span between two
    backticks that long (a multi-line template), can hold one, so only those ranges are queried."""
    ranges: list[tuple[int, int]] = []
    offset = 0
    for line in source.split(b"\n"):
        if len(line) >= LONG_STRING_BYTES:
            ranges.append((offset, offset + len(line)))
        offset += len(line) + 1
    tick = source.find(b"`")
    while tick >= 0:
        close = source.find(b"`", tick + 1)
        if close < 0:
            break
        if close - tick >= LONG_STRING_BYTES:
            ranges.append((tick, close + 1))
        tick = source.find(b"`", close + 1)
    out: list[tree_sitter.Node] = []
    seen: set[int] = set()
    for start, end in ranges:
        for node in extra_captures(tree, language, "string", (start, end)):
            if node.end_byte - node.start_byte >= LONG_STRING_BYTES and node.start_byte not in seen:
                seen.add(node.start_byte)
                out.append(node)
    return out


@cache
def _parser(language: str) -> tree_sitter.Parser:
    return tree_sitter.Parser(grammar(language))


@dataclass(frozen=True)
class Parsed:
    """A parsed source file and its candidate nodes grouped by capture name."""

    tree: tree_sitter.Tree
    captures: dict[str, list[tree_sitter.Node]]
    language: str


def parse(source: bytes, language: str) -> Parsed:
    """Parse ``source`` with ``language``'s grammar and collect the candidate nodes."""
    tree = _parser(language).parse(source)
    return Parsed(tree=tree, captures=candidates(tree, source, language), language=language)
