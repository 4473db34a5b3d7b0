"""Tree-sitter parsing: which grammar a file needs, cached parsers and the candidate-node query.

Walking every node in Python would cost more than parsing. Instead one compiled query per grammar
hands back, in C, only the nodes the analysis starts from (mentions of tracked globals, imports,
``__proto__``, computed member keys, long string literals, parse errors); the analysis then climbs
from those few nodes through their parents.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Final

import tree_sitter
import tree_sitter_javascript
import tree_sitter_typescript

from pi_sandbox.scanner.rules import FS_WRITE_FUNCTIONS, TRACKED_GLOBALS

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


def _any_of(names: frozenset[str] | set[str]) -> str:
    return " ".join(f'"{n}"' for n in sorted(names))


def _query_source() -> str:
    tracked = _any_of(set(TRACKED_GLOBALS))
    return f"""
((identifier) @root (#any-of? @root {tracked}))
((shorthand_property_identifier) @root (#any-of? @root {tracked}))
(import_statement) @import
(export_statement source: (_)) @import
(call_expression function: (import)) @dynamic_import
((property_identifier) @special (#any-of? @special "__proto__" "constructor" "eval" "Function" "binding"
  "_linkedBinding" "dlopen" "_load" "mainModule" "setTimeout" "setInterval" "execScript"))
(subscript_expression index: [(string) (template_string) (binary_expression) (call_expression)
                              (parenthesized_expression) (member_expression) (identifier)]) @computed
(string) @string
(template_string) @string
(ERROR) @error
(with_statement) @with
"""


#: Queries run only when the file can match them (a cheap byte search decides), see ``extra_captures``.
_EXTRA_QUERIES: Final[dict[str, str]] = {
    # raw string: the query language unescapes once, the regex engine once more
    "escaped": r"""
((identifier) @escaped (#match? @escaped "\\\\"))
((property_identifier) @escaped (#match? @escaped "\\\\"))
((shorthand_property_identifier) @escaped (#match? @escaped "\\\\"))
""",
    "ambient": "(ambient_declaration) @ambient\n",  # TypeScript grammars only
    "fs_write": "((property_identifier) @fs_write (#any-of? @fs_write NAMES))\n"
                "((identifier) @fs_write (#any-of? @fs_write NAMES))\n",
}


@cache
def candidate_query(language: str) -> tree_sitter.Query:
    """The compiled candidate-node query for ``language`` (compiled once per process)."""
    return tree_sitter.Query(grammar(language), _query_source())


@cache
def _extra_query(language: str, name: str) -> tree_sitter.Query:
    source = _EXTRA_QUERIES[name].replace("NAMES", _any_of(set(FS_WRITE_FUNCTIONS)))
    return tree_sitter.Query(grammar(language), source)


def extra_captures(tree: tree_sitter.Tree, language: str, name: str) -> list[tree_sitter.Node]:
    """Nodes of one of the lazily run queries (``escaped``, ``fs_write``)."""
    captures = tree_sitter.QueryCursor(_extra_query(language, name)).captures(tree.root_node)
    return captures.get(name, [])


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
    cursor = tree_sitter.QueryCursor(candidate_query(language))
    captures = cursor.captures(tree.root_node)
    return Parsed(tree=tree, captures=captures, language=language)
