"""Our shell parser against tree-sitter-bash: a second, independent reading of the same text.

tree-sitter-bash is a well-tested grammar but does no expansion (quotes, ``$IFS``, brace expansion,
ANSI-C strings, variables), so it cannot replace the parser (see docs/mediation.md). It is a good
oracle for *structure*: every command tree-sitter finds whose name is a plain word must also be a
command our parser reports. A command we missed would be a command the classifier never judged.
"""

from __future__ import annotations

import os

import pytest
import tree_sitter
import tree_sitter_bash
from hypothesis import given, settings
from hypothesis import strategies as st

from pi_sandbox.mediation.shell_parse import parse_script
from tests.mediation.command_table import TABLE, WORKSPACE
from tests.mediation.corpus import BENIGN, DANGEROUS

# Bash reserved words. tree-sitter-bash 0.25 reads one as a command name after '!' ('! { a; }',
# '! if a; then b; fi' give commands '{', 'if', 'then', 'fi'); bash never runs one as a command except
# after an assignment or redirection ('> f { {'), which our parser refuses (the test then skips).
RESERVED = frozenset({"!", "{", "}", "if", "then", "elif", "else", "fi", "for", "while", "until", "do", "done",
                      "case", "esac", "in", "select", "function", "time", "coproc", "[[", "]]"})

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))
QUERY = tree_sitter.Query(tree_sitter.Language(tree_sitter_bash.language()), "(command_name (word) @name)")


def grammar_names(text: str) -> set[str] | None:
    """Plain command names tree-sitter-bash finds (None when it could not parse the text cleanly)."""
    tree = PARSER.parse(text.encode())
    if tree.root_node.has_error or _joined_backticks(tree.root_node):
        return None
    nodes = tree_sitter.QueryCursor(QUERY).captures(tree.root_node).get("name", [])
    return {(n.text or b"").decode() for n in nodes}


def _joined_backticks(node: tree_sitter.Node) -> bool:
    """tree-sitter-bash 0.25 reads `` `a` `b` `` as ONE backtick substitution running ``a` `b``; bash
    runs two. Its reading of the rest of the line is then off by a word, so it is no oracle there."""
    if node.type == "command_substitution":
        text = (node.text or b"").decode()
        if text.startswith("`") and "`" in text[1:-1].replace("\\`", ""):
            return True
    return any(_joined_backticks(child) for child in node.children)


def our_names(text: str) -> set[str]:
    script = parse_script(text)
    return {c.words[0].text for c in script.walk() if c.words}


SCRIPTS = [row[0] for row in TABLE] + [c for c, _ in DANGEROUS] + list(BENIGN) + [
    v for v in WORKSPACE.values() if isinstance(v, str) and not v.startswith("->") and len(v) < 4096
]


@pytest.mark.parametrize("text", SCRIPTS)
def test_every_command_the_grammar_sees_is_seen_by_our_parser(text: str) -> None:
    names = grammar_names(text)
    if names is None or parse_script(text).all_errors():
        return  # one side refuses the text; ours then reports it as unparseable (high)
    missing = {n for n in names if "\\" not in n and "{" not in n and n not in RESERVED} - our_names(text)
    assert not missing, (text, missing)


WORDS = st.sampled_from(["ls", "rm", "-rf", "x", "echo", "cat", "sh", "-c", "'a b'", '"$x"', "$(id)", "`id`",
                         "a=1", "{", "}", "(", ")", ";", "&&", "||", "|", "&", "\n", "if", "then", "fi", "for",
                         "i", "in", "do", "done", "<<EOF\nrm -rf /\nEOF\n", ">", "f", "<(ls)", "#c", "!",
                         "time", "-p", "coproc", "while", "case", "esac", ";;", "f()", "function", "2>&1"])
# PI_SANDBOX_FUZZ_EXAMPLES=20000 runs a longer search locally (CI keeps the default).
EXAMPLES = int(os.environ.get("PI_SANDBOX_FUZZ_EXAMPLES", "400"))


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(WORDS, max_size=14))
def test_differential_on_generated_scripts(words: list[str]) -> None:
    text = " ".join(words)
    names = grammar_names(text)
    if names is None or parse_script(text).all_errors():
        return
    # tree-sitter reads the second '!' of '! ! cmd' as a command (bash negates twice), and a keyword after
    # '!' as a command name: reserved words are no command names (see RESERVED)
    missing = {n for n in names if "\\" not in n and n not in RESERVED} - our_names(text)
    assert not missing, (text, missing)
