"""What a command does to files, read cheaply: which files it runs as code, writes, or names.

The exec classifier (``mediation/``) parses every command in depth, after this stage; the risk
controller needs only three facts per command, on every ``exec`` and ``bash`` call, within its time
budget: the files it would *run* (a program path, a shell or interpreter script, a sourced file, the
implicit ``Makefile``/``package.json``), the files it would *write* (redirections, ``tee``, the
destination of ``cp``/``mv``/``ln``/``install``, downloads), and every word (to find secret files it
names). So this is a one-pass tokenizer with quote removal — ``s"h" x``, ``'sh' x`` and ``$'\\x73h' x``
all read as ``sh x`` — and ``$(…)``/backquote bodies and ``sh -c`` strings read as commands of their own.
The program tables (shells, interpreters, wrappers, writers) are the classifier's (``exec_rules``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from pi_sandbox.mediation import exec_rules as R
from pi_sandbox.mediation.exec_unwrap import base_name
from pi_sandbox.mediation.shell_static import decode_ansi_c

#: ``sh -c`` inside ``sh -c`` …: deeper nesting is read as plain words.
MAX_DEPTH: Final = 4
#: Most characters of one command read, its words and script text together (the rest is cut: the classifier still
#: reads up to 64 KiB). Before, only the ``bash`` tool's text was cut: an ``exec`` of ``sh -c`` with 4 MiB of words
#: took the supervisor 44 s of CPU with the interpreter lock held — even refused by policy, as every call is
#: observed — and the caches below kept each call's full text as their key (8 MiB per call, 1,024 calls).
MAX_TEXT: Final = 16_384
#: Most words of an ``exec`` argv read (a million one-letter arguments fit in one frame).
MAX_ARGS: Final = 1024

_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r]+|\\\n)
    |(?P<sep>\n|&&|\|\||;;|\|&|[;&|()])
    |(?P<redir>[0-9]*(?:&>>|&>|>>|>\||>&|<<<|<<-|<<|<>|<&|>|<))
    |(?P<sq>'[^']*'?)
    |(?P<ansi>\$'(?:[^'\\]|\\.)*'?)
    |(?P<dq>"(?:[^"\\]|\\.)*"?)
    |(?P<esc>\\.?)
    |(?P<lit>[^\s'"\\;&|()<>]+)""",
    re.X | re.S,
)
_SUBST = re.compile(r"\$\(([^()]*)\)|`([^`]*)`")
_DQ_ESCAPE = re.compile(r"\\([\"\\$`\n])")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")
#: String literals inside inline code (``python -c``, ``node -e``): where a path in code appears.
_LITERAL = re.compile(r"""'([^'\\\n]{1,4096})'|"([^"\\\n]{1,4096})"|`([^`\\]{1,4096})`""")
#: Build files a program runs without naming them.
IMPLICIT_SCRIPTS: Final = {
    "make": ("Makefile", "makefile", "GNUmakefile"), "gmake": ("Makefile", "makefile", "GNUmakefile"),
    "npm": ("package.json",), "pnpm": ("package.json",), "yarn": ("package.json",), "bun": ("package.json",),
}
_SOURCE = frozenset({".", "source"})
_DOWNLOAD_OUT = frozenset({"-o", "--output", "-O", "--output-document"})


@dataclass(slots=True, eq=False)
class CommandFacts:
    """What one command line does to files (paths as written; the caller normalises them).

    Compared and hashed by identity: the readers below are cached, so one text gives one object."""

    #: Files run as code, in order, each with how many ``writes`` came before it (a file the same
    #: command line wrote and then runs is caught that way).
    runs: list[tuple[str, int]] = field(default_factory=list)
    #: Files written, in order.
    writes: list[str] = field(default_factory=list)
    #: Every word and inline-code string literal (to look for secret files).
    words: list[str] = field(default_factory=list)
    #: Programs invoked (base names), wrappers removed.
    programs: list[str] = field(default_factory=list)

    def run(self, path: str) -> None:
        """Record that ``path`` is run as code."""
        self.runs.append((path, len(self.writes)))


def bounded_argv(cmd: str, args: tuple[str, ...]) -> tuple[str, ...]:
    """``cmd`` and ``args`` as read: at most :data:`MAX_ARGS` words and :data:`MAX_TEXT` characters in all (the
    word that crosses the bound is cut there)."""
    out: list[str] = []
    left = MAX_TEXT
    for word in (cmd, *args[:MAX_ARGS]):
        if left <= 0:
            break
        out.append(word[:left])
        left -= len(word)
    return tuple(out)


def argv_facts(cmd: str, args: tuple[str, ...]) -> CommandFacts:
    """Facts of an ``exec`` call (``cmd`` + ``args``, no shell unless ``cmd`` is one), read within
    :func:`bounded_argv`. Cached: the same commands come back (``git status`` every turn); callers must not change
    the result."""
    return _argv_facts(bounded_argv(cmd, args))


@functools.lru_cache(maxsize=1024)
def _argv_facts(argv: tuple[str, ...]) -> CommandFacts:
    facts = CommandFacts()
    _command(facts, list(argv), [], 0)
    return facts


def shell_facts(text: str) -> CommandFacts:
    """Facts of a shell command line (the ``bash`` tool, ``sh -c``): its first :data:`MAX_TEXT` characters.
    Cached like :func:`argv_facts` (by the text read: the cache never holds more than that per entry)."""
    return _shell_facts(text[:MAX_TEXT])


@functools.lru_cache(maxsize=1024)
def _shell_facts(text: str) -> CommandFacts:
    facts = CommandFacts()
    _script(facts, text, 0)
    return facts


def _script(facts: CommandFacts, text: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        facts.words.append(text)
        return
    # Command substitutions run before the command around them: read their bodies first, then the
    # command with each substitution as one opaque word.
    if "$(" in text or "`" in text:
        for match in _SUBST.finditer(text):
            _script(facts, match.group(1) if match.group(1) is not None else match.group(2), depth + 1)
        text = _SUBST.sub("__subst__", text)
    for words, redirects in _commands(text):
        _command(facts, words, redirects, depth)


def _commands(text: str) -> Iterator[tuple[list[str], list[tuple[str, str]]]]:
    """(words, [(redirect op, target)]) per simple command, quotes removed."""
    words: list[str] = []
    redirects: list[tuple[str, str]] = []
    pending_redirect: str | None = None
    current: list[str] | None = None  # pieces of the word being built
    comment = False

    def end_word() -> None:
        nonlocal current, pending_redirect
        if current is None:
            return
        word = "".join(current)
        current = None
        if pending_redirect is not None:
            if not pending_redirect.endswith(("<<", "<<-")):  # a here-document delimiter is not a file
                redirects.append((pending_redirect, word))
            pending_redirect = None
        else:
            words.append(word)

    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        token = match.group()
        if comment:  # a comment runs to the end of the line
            if token != "\n":
                continue
            comment = False
        if kind == "lit":
            if current is None and token.startswith("#"):
                comment = True
                continue
            current = [*(current or []), token]
        elif kind == "sq":
            current = [*(current or []), token[1:-1] if token.endswith("'") and len(token) > 1 else token[1:]]
        elif kind == "dq":
            body = token[1:-1] if token.endswith('"') and len(token) > 1 else token[1:]
            current = [*(current or []), _DQ_ESCAPE.sub(r"\1", body)]
        elif kind == "ansi":
            body = token[2:-1] if token.endswith("'") and len(token) > 2 else token[2:]
            current = [*(current or []), decode_ansi_c(body)]
        elif kind == "esc":
            current = [*(current or []), token[1:]]
        elif kind == "ws":
            end_word()
        elif kind == "redir":
            end_word()
            pending_redirect = token.lstrip("0123456789")
        else:  # a separator ends the simple command
            end_word()
            if words or redirects:
                yield words, redirects
            words, redirects, pending_redirect = [], [], None
    end_word()
    if words or redirects:
        yield words, redirects


def _skip_wrappers(words: list[str]) -> list[str]:
    """The command a chain of wrappers (``env X=1 nohup timeout 5 sh …``) finally runs."""
    i = 0
    while i < len(words) and _ASSIGNMENT.match(words[i]):
        i += 1
    for _ in range(8):
        if i >= len(words):
            return []
        name = base_name(words[i])
        takes_value = R.WRAPPERS.get(name)
        if takes_value is None:
            break
        i += 1
        while i < len(words) and words[i].startswith("-") and words[i] != "--":
            i += 2 if words[i] in takes_value else 1
        if i < len(words) and words[i] == "--":
            i += 1
        if name == "timeout" and i < len(words):
            i += 1  # its DURATION
        while name == "env" and i < len(words) and _ASSIGNMENT.match(words[i]):
            i += 1
    return words[i:]


def _operands(args: list[str], takes_value: frozenset[str] = frozenset()) -> Iterator[tuple[int, str]]:
    """(index, word) of each non-option argument."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            for j in range(i + 1, len(args)):
                yield j, args[j]
            return
        if arg.startswith("-") and arg != "-":
            i += 2 if arg in takes_value else 1
            continue
        yield i, arg
        i += 1


def _command(facts: CommandFacts, words: list[str], redirects: list[tuple[str, str]], depth: int) -> None:
    facts.words.extend(words)
    for op, target in redirects:
        facts.words.append(target)
        if ">" in op:
            facts.writes.append(target)
    argv = _skip_wrappers(words)
    stdin = next((t for op, t in redirects if op in ("<", "<>")), None)
    if not argv:
        return
    program, args = argv[0], argv[1:]
    name = base_name(program)
    facts.programs.append(name)
    if "/" in program:
        facts.run(program)
    if name in R.SHELLS:
        _shell(facts, args, stdin, depth)
    elif name in R.INTERPRETERS:
        _interpreter(facts, name, args, stdin)
    elif name in _SOURCE and args:
        facts.run(args[0])
    elif name in IMPLICIT_SCRIPTS:
        file_flag = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-f", "--file", "--makefile")), None)
        for path in (file_flag,) if file_flag else IMPLICIT_SCRIPTS[name]:
            facts.run(path)
    _writes(facts, name, args)


def _shell(facts: CommandFacts, args: list[str], stdin: str | None, depth: int) -> None:
    for i, arg in enumerate(args):
        if arg.startswith("-") and not arg.startswith("--") and "c" in arg[1:]:
            if i + 1 < len(args):
                _script(facts, args[i + 1], depth + 1)
            return
        if not arg.startswith(("-", "+")):
            facts.run(arg)
            return
    if stdin is not None:
        facts.run(stdin)


def _interpreter(facts: CommandFacts, name: str, args: list[str], stdin: str | None) -> None:
    _, code_flags, takes_value = R.INTERPRETERS[name]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in code_flags or (name.startswith(("python", "pypy")) and arg.startswith("-") and arg.endswith("c")
                                 and not arg.startswith("--")):
            code = args[i + 1] if i + 1 < len(args) else ""
            # a path in inline code is what the code opens: named (secret files), not run — ``open(p, 'w')``
            # writes it; code that runs a file it reads is the classifier's to see
            facts.words.extend(next(g for g in m.groups() if g is not None) for m in _LITERAL.finditer(code))
            return
        if arg in takes_value:
            i += 2
            continue
        if arg.startswith("-") and arg != "-":
            i += 1
            continue
        if arg != "-":
            facts.run(arg)
        elif stdin is not None:
            facts.run(stdin)
        return
    if stdin is not None:
        facts.run(stdin)


def _writes(facts: CommandFacts, name: str, args: list[str]) -> None:
    if name == "tee":
        facts.writes.extend(word for _, word in _operands(args, frozenset({"-p"})))
    elif name in R.DEST_LAST:
        operands = [word for _, word in _operands(args, frozenset({"-t", "-S", "--suffix", "-m", "-o", "-g"}))]
        target_dir = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-t", "--target-directory")), None)
        if target_dir is not None:
            facts.writes.extend(f"{target_dir}/{w.rsplit('/', 1)[-1]}" for w in operands)
        elif len(operands) >= 2:
            facts.writes.append(operands[-1])
    elif name in ("curl", "wget"):
        for i, arg in enumerate(args):
            if arg in _DOWNLOAD_OUT and i + 1 < len(args):
                facts.writes.append(args[i + 1])
            elif arg.startswith(("--output=", "--output-document=")):
                facts.writes.append(arg.split("=", 1)[1])
    elif name == "dd":
        facts.writes.extend(arg[3:] for arg in args if arg.startswith("of="))
