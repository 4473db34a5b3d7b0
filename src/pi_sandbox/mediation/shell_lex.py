"""The lexer half of the shell parser: tokens, words and every expansion inside a word.

Quote removal, escapes, ANSI-C ``$'..'``, ``$VAR`` / ``${VAR...}`` with the variables the script set
earlier, ``$IFS`` word splitting, brace expansion, globs, command / process substitution and
here-document bodies live here; the grammar (lists, pipelines, compound commands) is in
``shell_parse``, which subclasses :class:`Lexer` and supplies :meth:`Lexer._sub_script`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from pi_sandbox.mediation.shell_ast import Redirect, Script, ShellParseError, Word
from pi_sandbox.mediation.shell_static import decode_ansi_c, static_output

MAX_DEPTH = 24
#: The parse error of text nested deeper than :data:`MAX_DEPTH` (one of ``shell_parse.LIMIT_ERRORS``).
NESTING_ERROR = "nesting too deep"
MAX_BRACE_FIELDS = 256


@dataclass(slots=True)
class Cmd:
    """A simple command while it is being parsed (frozen into ``SimpleCommand`` at the end)."""

    words: list[Word] = field(default_factory=list)
    assignments: list[tuple[str, Word]] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    pipes: tuple[tuple[int, int], ...] = ()
    background: bool = False
    infinite_loop: bool = False
    function: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Tok:
    """One token: a word (with its expanded fields), an operator, a redirection, a newline or the end."""

    kind: str  # word | op | redir | nl | eof
    value: str
    fields: list[Word] = field(default_factory=list)
    plain: bool = False
    assign: str | None = None
    assign_word: Word | None = None
    fd: int | None = None


_OP_RE = re.compile(r";;&|;;|;&|;|&&|&>>|&>|&|\|\||\|&|\||\(|\)")
_REDIR_RE = re.compile(r"<<<|<<-|<<|<&|<>|<|>>|>&|>\||>")
_WORD_END = frozenset(" \t\n;&|()<>")
_BLANKS = re.compile(r"(?:[ \t]|\\\n)*(?:#[^\n]*)?")
_SIMPLE_WORD = re.compile(r"[^\s;&|()<>\\'\"$`*?\[\]{}~]+")
_LITERAL_RUN = re.compile(r"[^\s;&|()<>\\'\"$`]+")
_DQ_RUN = re.compile(r"[^\"\\$`]+")
_HD_RUN = re.compile(r"[^\\$`]+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Special parameters substituted when the environment knows them (set by ``sh -c CODE ARG0 ARGS``, ``set --``).
POSITIONAL: Final = frozenset({*"0123456789", "@", "*", "#"})


def positional_env(arg0: str | None, args: list[str] | None) -> dict[str, str]:
    """The environment entries for ``$0`` and the positional parameters ``args`` (None: leave them unknown).

    Only parameters that are all known are set (``$@`` with an unknown one would be a guess)."""
    out: dict[str, str] = {}
    if arg0 is not None:
        out["0"] = arg0
    if args is not None:
        for i, text in enumerate(args[:9], start=1):
            out[str(i)] = text
        out.update({"@": " ".join(args), "*": " ".join(args), "#": str(len(args))})
    return out
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]*\])?\+?=")
_DIGITS = re.compile(r"[0-9]+(?=[<>])")
# Quoted characters that must not act as glob / brace syntax are swapped for private-use code points.
_PROTECT = str.maketrans({"{": "\ue000", "}": "\ue001", ",": "\ue002", "*": "\ue003", "?": "\ue004", "[": "\ue005"})
_UNPROTECT = str.maketrans({"\ue000": "{", "\ue001": "}", "\ue002": ",", "\ue003": "*", "\ue004": "?", "\ue005": "["})
_DEFAULT_IFS = " \t\n"

# chunk: (text, quoted, dynamic, subs, expanded) - "expanded" marks results of $-expansions
_Chunk = tuple[str, bool, bool, tuple[Script, ...], bool]


@dataclass(slots=True)
class _Field:
    parts: list[str] = field(default_factory=list)
    dynamic: bool = False
    kept: bool = False  # quoted or substituted: kept even when empty
    subs: list[Script] = field(default_factory=list)


class Lexer:
    """Reads tokens from ``src`` at ``pos``; subclasses add the grammar and sub-script parsing."""

    def __init__(self, src: str, pos: int, depth: int, env: dict[str, str], ids: itertools.count[int]) -> None:
        if depth > MAX_DEPTH:
            raise ShellParseError(NESTING_ERROR)
        self.src = src
        self.pos = pos
        self.depth = depth
        self.env = env
        self.ids = ids
        self.heredocs: list[tuple[str, bool, bool, Cmd, int]] = []
        self.tok: Tok | None = None
        self.tainted: dict[str, tuple[Script, ...]] = {}

    def _sub_script(self, src: str, pos: int, *, closing: bool) -> tuple[Script, int]:
        """Parse a nested script from ``pos`` (up to a closing ``)`` when ``closing``): script and end."""
        raise NotImplementedError

    def _child(self, src: str) -> Lexer:
        """A lexer over other text (a here-document body, a ``${x:-default}`` word) with our variables."""
        return type(self)(src, 0, self.depth + 1, dict(self.env), self.ids)

    def _lex(self) -> Tok:
        src, n = self.src, len(self.src)
        # blanks, line continuations and a comment up to (not including) the newline
        self.pos = _BLANKS.match(src, self.pos).end()  # type: ignore[union-attr]
        if self.pos >= n:
            return Tok("eof", "")
        c = src[self.pos]
        if c == "\n":
            self.pos += 1
            self._read_heredocs()
            return Tok("nl", "\n")
        if c in "<>" and src.startswith("(", self.pos + 1):
            return self._procsub(c)
        fd = None
        if c.isdigit():
            match = _DIGITS.match(src, self.pos)
            if match:
                fd = int(match.group())
                self.pos = match.end()
                c = src[self.pos]
        if c in "<>":
            redir = _REDIR_RE.match(src, self.pos)
            assert redir is not None
            self.pos = redir.end()
            return Tok("redir", redir.group(), fd=fd)
        if c in ";&|()":
            op = _OP_RE.match(src, self.pos)
            assert op is not None
            self.pos = op.end()
            return Tok("redir" if op.group() in ("&>", "&>>") else "op", op.group())
        return self._word()

    def _procsub(self, kind: str) -> Tok:
        script, self.pos = self._sub_script(self.src, self.pos + 2, closing=True)
        word = Word("/dev/fd/63", dynamic=False, subs=(script,), procsub=kind)
        return Tok("word", "<(…)", [word])

    def _read_heredocs(self) -> None:
        pending, self.heredocs = self.heredocs, []
        for delim, quoted, strip_tabs, cmd, index in pending:
            lines: list[str] = []
            src = self.src
            while self.pos < len(src):
                end = src.find("\n", self.pos)
                line = src[self.pos :] if end < 0 else src[self.pos : end]
                self.pos = len(src) if end < 0 else end + 1
                check = line.lstrip("\t") if strip_tabs else line
                if check == delim:
                    break
                lines.append(check)
            body = "\n".join(lines) + ("\n" if lines else "")
            subs: tuple[Script, ...] = ()
            if not quoted:
                chunks: list[_Chunk] = []
                self._child(body)._double_quoted(chunks, heredoc=True)
                body = "".join(ch[0] for ch in chunks)
                subs = tuple(s for ch in chunks for s in ch[3])
            old = cmd.redirects[index]
            cmd.redirects[index] = Redirect(old.op, old.fd, None, body, subs)

    def _word(self) -> Tok:
        src, n = self.src, len(self.src)
        start = self.pos
        simple = _SIMPLE_WORD.match(src, start)
        if simple is not None and (simple.end() == n or src[simple.end()] in _WORD_END):
            text = simple.group()
            if "=" not in text:  # fast path: a plain literal word, nothing to expand
                self.pos = simple.end()
                return Tok("word", text, [Word(text)], plain=True)
        chunks: list[_Chunk] = []
        assign: str | None = None
        prefix = ""
        match = _ASSIGN.match(src, self.pos)
        if match:
            assign, prefix = match.group(1), match.group()
            self.pos = match.end()
            if src.startswith("(", self.pos):  # array assignment: name=(a b $(c))
                return self._array_assignment(assign, prefix)
        while self.pos < n:
            c = src[self.pos]
            if c in _WORD_END:
                break
            if c == "\\":
                nxt = src[self.pos + 1 : self.pos + 2]
                if nxt == "\n":
                    self.pos += 2
                    continue
                chunks.append((nxt or "\\", True, False, (), False))
                self.pos += 2 if nxt else 1
            elif c == "'":
                end = src.find("'", self.pos + 1)
                if end < 0:
                    raise ShellParseError("unterminated single quote")
                chunks.append((src[self.pos + 1 : end], True, False, (), False))
                self.pos = end + 1
            elif c == '"':
                self.pos += 1
                self._double_quoted(chunks, heredoc=False)
            elif c == "$":
                self._dollar(chunks, quoted=False)
            elif c == "`":
                self._backtick(chunks, quoted=False)
            else:
                run = _LITERAL_RUN.match(src, self.pos)
                assert run is not None
                chunks.append((run.group(), False, False, (), False))
                self.pos = run.end()
        raw = src[start : self.pos]
        plain = all(not ch[1] and not ch[2] and not ch[3] for ch in chunks) and "$" not in raw
        fields = self._fields(chunks, split=assign is None)
        assign_word = None
        if assign is not None:
            assign_word = fields[0] if fields else Word("")
            fields = [Word(prefix + assign_word.text, assign_word.dynamic, assign_word.has_glob, assign_word.subs)]
        value = raw if plain else (fields[0].text if fields else "")
        return Tok("word", value, fields, plain=plain, assign=assign, assign_word=assign_word)

    def _array_assignment(self, name: str, prefix: str) -> Tok:
        end = _matching(self.src, self.pos, "(", ")")
        inner = self._child(self.src[self.pos + 1 : end])
        self.pos = end + 1
        items: list[Word] = []
        while True:
            tok = inner._lex()
            if tok.kind == "eof":
                break
            items.extend(tok.fields)
        value = Word(
            " ".join(w.text for w in items),
            dynamic=True,  # an array is never a plain string value
            subs=tuple(sub for w in items for sub in w.subs),
        )
        return Tok(
            "word", prefix + "(…)", [Word(prefix + "(…)", True, False, value.subs)], assign=name, assign_word=value
        )

    def _fields(self, chunks: list[_Chunk], *, split: bool) -> list[Word]:
        ifs = self.env.get("IFS", _DEFAULT_IFS)
        fields: list[_Field] = [_Field()]
        for text, quoted, dynamic, subs, expanded in chunks:
            cur = fields[-1]
            cur.subs.extend(subs)
            cur.dynamic = cur.dynamic or dynamic
            if quoted or not split or not expanded or not ifs:
                cur.parts.append(text.translate(_PROTECT) if quoted else text)
                cur.kept = cur.kept or quoted or bool(subs)
                continue
            # an unquoted expansion result is split on IFS characters, as bash does
            pieces = re.split("[" + re.escape(ifs) + "]+", text)
            for i, piece in enumerate(pieces):
                if i > 0:
                    fields.append(_Field(dynamic=dynamic))
                fields[-1].parts.append(piece.translate(_PROTECT))
        out: list[Word] = []
        for fld in fields:
            text = "".join(fld.parts)
            if not text and not fld.kept:
                continue
            items = _brace_expand(text) if "{" in text and "," in text else [text]
            for item in items:
                has_glob = "*" in item or "?" in item or "[" in item
                out.append(Word(item.translate(_UNPROTECT), fld.dynamic, has_glob, tuple(fld.subs)))
        return out

    def _double_quoted(self, chunks: list[_Chunk], *, heredoc: bool) -> None:
        src, n = self.src, len(self.src)
        run_re = _HD_RUN if heredoc else _DQ_RUN
        while self.pos < n:
            c = src[self.pos]
            if c == '"' and not heredoc:
                self.pos += 1
                chunks.append(("", True, False, (), False))
                return
            if c == "\\":
                nxt = src[self.pos + 1 : self.pos + 2]
                specials = "$`\\\n" if heredoc else '$`"\\\n'
                if nxt and nxt in specials:
                    if nxt != "\n":
                        chunks.append((nxt, True, False, (), False))
                    self.pos += 2
                else:
                    chunks.append(("\\", True, False, (), False))
                    self.pos += 1
            elif c == "$":
                self._dollar(chunks, quoted=True)
            elif c == "`":
                self._backtick(chunks, quoted=True)
            else:
                run = run_re.match(src, self.pos)
                assert run is not None
                chunks.append((run.group(), True, False, (), False))
                self.pos = run.end()
        if not heredoc:
            raise ShellParseError("unterminated double quote")

    def _dollar(self, chunks: list[_Chunk], *, quoted: bool) -> None:
        src = self.src
        nxt = src[self.pos + 1 : self.pos + 2]
        if nxt == "'" and not quoted:
            end = self.pos + 2
            while end < len(src) and src[end] != "'":
                end += 2 if src[end] == "\\" else 1
            if end >= len(src):
                raise ShellParseError("unterminated $'...' string")
            chunks.append((decode_ansi_c(src[self.pos + 2 : end]), True, False, (), False))
            self.pos = end + 1
        elif nxt == '"' and not quoted:
            self.pos += 2
            self._double_quoted(chunks, heredoc=False)
        elif nxt == "(":
            if src.startswith("((", self.pos + 1):
                end = _matching(src, self.pos + 1, "(", ")")
                chunks.append(("$((…))", quoted, True, (), True))
                self.pos = end + 1
                return
            script, self.pos = self._sub_script(src, self.pos + 2, closing=True)
            self._substitution(chunks, script, quoted)
        elif nxt == "{":
            end = _matching(src, self.pos + 1, "{", "}")
            body = src[self.pos + 2 : end]
            self.pos = end + 1
            self._parameter(chunks, body, quoted)
        elif nxt and (nxt.isalpha() or nxt == "_"):
            match = _NAME.match(src, self.pos + 1)
            assert match is not None
            self.pos = match.end()
            self._variable(chunks, match.group(), quoted)
        elif nxt and nxt in "@*#?$!-0123456789":
            self.pos += 2
            if nxt in POSITIONAL and nxt in self.env:
                # positional parameters known statically (``sh -c 'rm -rf "$1"' _ /``, ``set -- a b``); ``$@``
                # is split into words even when quoted: ``"$@"`` gives one word per parameter
                self._variable(chunks, nxt, quoted and nxt != "@")
            else:
                chunks.append(("$" + nxt, quoted, True, (), True))
        else:
            chunks.append(("$", quoted, False, (), False))
            self.pos += 1

    def _variable(self, chunks: list[_Chunk], name: str, quoted: bool) -> None:
        if name in self.env:
            chunks.append((self.env[name], quoted, False, (), True))
        elif name == "IFS":
            chunks.append((_DEFAULT_IFS, quoted, False, (), True))
        else:
            chunks.append(("$" + name, quoted, True, self.tainted.get(name, ()), True))

    def _parameter(self, chunks: list[_Chunk], body: str, quoted: bool) -> None:
        if body in POSITIONAL and body in self.env:  # ``${1}``, ``${@}``
            self._variable(chunks, body, quoted and body != "@")
            return
        match = _NAME.match(body)
        if not match:
            chunks.append(("${" + body + "}", quoted, True, (), True))
            return
        name, rest = match.group(), body[match.end() :]
        known = name in self.env or name == "IFS"
        value = self.env.get(name, _DEFAULT_IFS if name == "IFS" else "")
        if not rest:
            self._variable(chunks, name, quoted)
            return
        if rest[:2] in (":-", ":=") or rest[:1] in ("-", "="):
            default = rest[2:] if rest[:1] == ":" else rest[1:]
            if known and (value or rest[:1] != ":"):
                chunks.append((value, quoted, False, (), True))
            else:
                self._child(default)._double_quoted(chunks, heredoc=True)
            return
        slice_match = re.fullmatch(r":\s*(-?\d+)(?::\s*(\d+))?", rest)
        if slice_match and known:
            off = int(slice_match.group(1))
            length = slice_match.group(2)
            piece = value[off:] if off < 0 else value[off:]
            if length is not None:
                piece = piece[: int(length)]
            chunks.append((piece, quoted, False, (), True))
            return
        chunks.append(("${" + body + "}", quoted, True, (), True))

    def _backtick(self, chunks: list[_Chunk], *, quoted: bool) -> None:
        src = self.src
        i = self.pos + 1
        out: list[str] = []
        while i < len(src) and src[i] != "`":
            if src[i] == "\\" and i + 1 < len(src) and src[i + 1] in "`\\$":
                out.append(src[i + 1])
                i += 2
            else:
                out.append(src[i])
                i += 1
        if i >= len(src):
            raise ShellParseError("unterminated backtick")
        self.pos = i + 1
        script, _end = self._sub_script("".join(out), 0, closing=False)
        self._substitution(chunks, script, quoted)

    def _substitution(self, chunks: list[_Chunk], script: Script, quoted: bool) -> None:
        static = static_output(script)
        if static is None:
            chunks.append(("$(…)", quoted, True, (script,), True))
        else:
            chunks.append((static.rstrip("\n"), quoted, False, (script,), True))


def join_fields(fields: list[Word]) -> Word:
    if len(fields) == 1:
        return fields[0]
    subs = tuple(s for f in fields for s in f.subs)
    return Word(" ".join(f.text for f in fields), any(f.dynamic for f in fields), False, subs)


def _matching(src: str, pos: int, open_ch: str, close_ch: str) -> int:
    """Index of the bracket closing the one at ``pos`` (quotes respected)."""
    depth = 0
    i = pos
    while i < len(src):
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if c == "'" and open_ch == "{":
            end = src.find("'", i + 1)
            i = (end if end >= 0 else len(src)) + 1
            continue
        if c == open_ch:
            depth += 1
        elif c == close_ch:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ShellParseError(f"unterminated '{open_ch}'")


def _brace_expand(text: str) -> list[str]:
    """Bash brace expansion of unquoted ``{a,b}`` groups (quoted braces were protected)."""
    results = [text]
    out: list[str] = []
    while results:
        item = results.pop(0)
        opened = -1
        depth = 0
        commas: list[int] = []
        done = False
        for i, c in enumerate(item):
            if c == "{":
                if depth == 0:
                    opened, commas = i, []
                depth += 1
            elif c == "," and depth == 1:
                commas.append(i)
            elif c == "}" and depth > 0:
                depth -= 1
                if depth == 0 and commas:
                    pre, post = item[:opened], item[i + 1 :]
                    cuts = [opened, *commas, i]
                    for a, b in itertools.pairwise(cuts):
                        results.append(pre + item[a + 1 : b] + post)
                    done = True
                    break
        if not done:
            out.append(item)
        if len(out) + len(results) > MAX_BRACE_FIELDS:
            return [text]
    return out
