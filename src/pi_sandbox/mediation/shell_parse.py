"""A shell parser for exec mediation: turns a command line into the simple commands it would run.

It follows bash closely enough that the usual tricks to hide a command from a string matcher stop
working: quotes and escapes are removed (``r''m``, ``\\rm``), ANSI-C ``$'\\x72m'`` strings decoded,
unquoted ``$IFS`` splits words, brace expansion runs (``{rm,-rf,/}``), variables assigned earlier in
the same script are substituted, and ``$(echo ..)`` / ``$(printf ..)`` / ``$(echo .. | base64 -d)``
are evaluated statically. Command and process substitutions, backticks, subshells, brace groups,
``if``/``while``/``for``/``case``, function definitions and here-documents are all parsed, and every
simple command inside them is reported. What cannot be parsed is reported as an error so the caller
treats it as high risk instead of guessing.

Nothing here executes anything.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pi_sandbox.mediation.shell_ast import Redirect, Script, ShellParseError, SimpleCommand, Word
from pi_sandbox.mediation.shell_static import decode_ansi_c, static_output

__all__ = ["Redirect", "Script", "ShellParseError", "SimpleCommand", "Word", "parse_script", "static_output"]

MAX_SOURCE_CHARS = 64 * 1024
MAX_DEPTH = 24
MAX_BRACE_FIELDS = 256


@dataclass(slots=True)
class _Cmd:
    words: list[Word] = field(default_factory=list)
    assignments: list[tuple[str, Word]] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    pipes: tuple[tuple[int, int], ...] = ()
    background: bool = False
    infinite_loop: bool = False
    function: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Tok:
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
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]*\])?\+?=")
_DIGITS = re.compile(r"[0-9]+(?=[<>])")
_RESERVED_END = frozenset({"}", "fi", "done", "then", "do", "else", "elif", "esac"})
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


def parse_script(source: str, env: Mapping[str, str] | None = None) -> Script:
    """Parse ``source`` as a bash script. Never raises; problems are in ``Script.errors``."""
    if len(source) > MAX_SOURCE_CHARS:
        return Script(commands=(), errors=(f"script longer than {MAX_SOURCE_CHARS} characters",))
    parser = _Parser(source, 0, 0, dict(env or {}), itertools.count())
    try:
        parser.parse_list(frozenset())
        if parser.peek().kind != "eof":
            raise ShellParseError(f"unexpected '{parser.peek().value}'")
    except ShellParseError as exc:
        return parser.finish((str(exc),))
    except RecursionError:
        return parser.finish(("nesting too deep",))
    return parser.finish(())


class _Parser:
    def __init__(self, src: str, pos: int, depth: int, env: dict[str, str], ids: itertools.count[int]) -> None:
        if depth > MAX_DEPTH:
            raise ShellParseError("nesting too deep")
        self.src = src
        self.pos = pos
        self.depth = depth
        self.env = env
        self.ids = ids
        self.cmds: list[_Cmd] = []
        self.functions: set[str] = set()
        self.heredocs: list[tuple[str, bool, bool, _Cmd, int]] = []
        self.tok: _Tok | None = None
        self.pipes: tuple[tuple[int, int], ...] = ()
        self.loop = False
        self.function: str | None = None
        self.tainted: dict[str, tuple[Script, ...]] = {}

    def finish(self, errors: tuple[str, ...]) -> Script:
        commands = tuple(
            SimpleCommand(
                tuple(c.words),
                tuple(c.assignments),
                tuple(c.redirects),
                c.pipes,
                c.background,
                c.infinite_loop,
                c.function,
                c.env,
            )
            for c in self.cmds
        )
        return Script(commands, frozenset(self.functions), errors)

    # ----------------------------------------------------------------- grammar
    def peek(self) -> _Tok:
        if self.tok is None:
            self.tok = self._lex()
        return self.tok

    def take(self) -> _Tok:
        tok = self.peek()
        self.tok = None
        return tok

    def _is_word(self, tok: _Tok, values: frozenset[str] | set[str]) -> bool:
        return tok.kind == "word" and tok.plain and tok.value in values

    def expect_word(self, value: str) -> None:
        tok = self.take()
        if not (tok.kind == "word" and tok.plain and tok.value == value):
            raise ShellParseError(f"expected '{value}', found '{tok.value or tok.kind}'")

    def skip_newlines(self) -> None:
        while self.peek().kind == "nl":
            self.take()

    def _at_end(self, tok: _Tok, terms: frozenset[str]) -> bool:
        if tok.kind == "op" and tok.value in terms:
            return True
        return self._is_word(tok, terms)

    def parse_list(self, terms: frozenset[str]) -> None:
        while True:
            self.skip_newlines()
            tok = self.peek()
            if tok.kind == "eof":
                if terms:
                    raise ShellParseError(f"unexpected end of script (missing {' or '.join(sorted(terms))})")
                return
            if self._at_end(tok, terms):
                return
            start = len(self.cmds)
            self.parse_and_or()
            tok = self.peek()
            if tok.kind == "op" and tok.value == "&":
                for cmd in self.cmds[start:]:
                    cmd.background = True
            if tok.kind == "nl" or (tok.kind == "op" and tok.value in (";", "&")):
                self.take()
                continue
            if tok.kind == "eof" or self._at_end(tok, terms):
                continue
            raise ShellParseError(f"unexpected '{tok.value}'")

    def parse_and_or(self) -> None:
        self.parse_pipeline()
        while self.peek().kind == "op" and self.peek().value in ("&&", "||"):
            self.take()
            self.skip_newlines()
            self.parse_pipeline()

    def parse_pipeline(self) -> None:
        while self._is_word(self.peek(), {"!", "time"}):
            self.take()
        pid = next(self.ids)
        outer = self.pipes
        stage = 0
        while True:
            self.pipes = outer + ((pid, stage),)
            self.parse_command()
            tok = self.peek()
            if tok.kind == "op" and tok.value in ("|", "|&"):
                self.take()
                self.skip_newlines()
                stage += 1
                continue
            break
        self.pipes = outer

    def _new_cmd(self) -> _Cmd:
        return _Cmd(pipes=self.pipes, infinite_loop=self.loop, function=self.function, env=dict(self.env))

    def _trailing_redirects(self) -> None:
        holder = self._new_cmd()
        while self.peek().kind == "redir":
            self._redirect(holder)
        if holder.redirects:
            self.cmds.append(holder)

    def parse_command(self) -> None:
        tok = self.peek()
        if tok.kind == "op" and tok.value == "(":
            self.take()
            self.parse_list(frozenset({")"}))
            self._expect_op(")")
            self._trailing_redirects()
            return
        if tok.kind == "word" and tok.plain:
            handler = _COMPOUND.get(tok.value)
            if handler is not None:
                self.take()
                handler(self)
                self._trailing_redirects()
                return
            if tok.value in _RESERVED_END:
                raise ShellParseError(f"unexpected '{tok.value}'")
        self.parse_simple()

    def _expect_op(self, value: str) -> None:
        tok = self.take()
        if tok.kind != "op" or tok.value != value:
            raise ShellParseError(f"expected '{value}', found '{tok.value or tok.kind}'")

    def _brace(self) -> None:
        self.parse_list(frozenset({"}"}))
        self.expect_word("}")

    def _if(self) -> None:
        self.parse_list(frozenset({"then"}))
        self.expect_word("then")
        while True:
            self.parse_list(frozenset({"elif", "else", "fi"}))
            word = self.take().value
            if word == "fi":
                return
            if word == "elif":
                self.parse_list(frozenset({"then"}))
                self.expect_word("then")

    def _loop(self, until: bool) -> None:
        start = len(self.cmds)
        self.parse_list(frozenset({"do"}))
        names = [c.words[0].text for c in self.cmds[start:] if c.words]
        forever = {"false"} if until else {"true", ":"}
        infinite = bool(names) and all(n in forever for n in names)
        self.expect_word("do")
        self._body_until_done(infinite)

    def _body_until_done(self, infinite: bool) -> None:
        saved = self.loop
        self.loop = saved or infinite
        self.parse_list(frozenset({"done"}))
        self.expect_word("done")
        self.loop = saved

    def _for(self) -> None:
        tok = self.peek()
        infinite = False
        if tok.kind == "op" and tok.value == "(":
            close = self.src.find("))", self.pos)
            if close < 0:
                raise ShellParseError("unterminated arithmetic for loop")
            infinite = self.src[self.pos : close].replace(" ", "").strip("(") == ";;"
            self.pos = close + 2
            self.tok = None
        else:
            self.take()
            self.skip_newlines()
            if self._is_word(self.peek(), {"in"}):
                self.take()
                while self.peek().kind == "word":
                    self.take()
        if self.peek().kind == "op" and self.peek().value == ";":
            self.take()
        self.skip_newlines()
        self.expect_word("do")
        self._body_until_done(infinite)

    def _case(self) -> None:
        self.take()
        self.skip_newlines()
        self.expect_word("in")
        while True:
            self.skip_newlines()
            tok = self.peek()
            if self._is_word(tok, {"esac"}):
                self.take()
                return
            if tok.kind == "eof":
                raise ShellParseError("unterminated case (missing esac)")
            if tok.kind == "op" and tok.value == "(":
                self.take()
            while not (self.peek().kind == "op" and self.peek().value == ")"):
                if self.peek().kind in ("eof", "nl"):
                    raise ShellParseError("bad case pattern")
                self.take()
            self.take()
            self.parse_list(frozenset({";;", ";&", ";;&", "esac"}))
            if self.peek().kind == "op":
                self.take()

    def _function_kw(self) -> None:
        name = self.take()
        if name.kind != "word":
            raise ShellParseError("function needs a name")
        if self.peek().kind == "op" and self.peek().value == "(":
            self.take()
            self._expect_op(")")
        self._function_body(name.value)

    def _function_body(self, name: str) -> None:
        self.skip_newlines()
        self.functions.add(name)
        saved = self.function
        self.function = name
        self.parse_command()
        self.function = saved

    def _double_bracket(self) -> None:
        holder = self._new_cmd()
        holder.words.append(Word("[["))
        while not self._is_word(self.peek(), {"]]"}):
            tok = self.take()
            if tok.kind == "eof":
                raise ShellParseError("unterminated [[")
            holder.words.extend(tok.fields)
        self.take()
        self.cmds.append(holder)

    def parse_simple(self) -> None:
        cmd = self._new_cmd()
        while True:
            tok = self.tok if self.tok is not None else self.peek()
            if tok.kind == "word":
                self.tok = None
                if not cmd.words and tok.assign is not None:
                    assert tok.assign_word is not None
                    cmd.assignments.append((tok.assign, tok.assign_word))
                    continue
                if not cmd.words and not cmd.assignments and self.peek().kind == "op" and self.peek().value == "(":
                    self.take()
                    self._expect_op(")")
                    self._function_body(tok.value)
                    return
                cmd.words.extend(tok.fields)
                if len(cmd.words) > 0 and cmd.words[0].text in (
                    "export",
                    "declare",
                    "typeset",
                    "local",
                    "readonly",
                ):
                    if tok.assign is not None and tok.assign_word is not None and len(cmd.words) > 1:
                        self._set_var(tok.assign, tok.assign_word)
            elif tok.kind == "redir":
                self._redirect(cmd)
            else:
                break
        if not (cmd.words or cmd.assignments or cmd.redirects):
            tok = self.peek()
            raise ShellParseError(f"unexpected '{tok.value or tok.kind}'")
        if not cmd.words:
            for name, word in cmd.assignments:
                self._set_var(name, word)
        self.cmds.append(cmd)

    def _set_var(self, name: str, word: Word) -> None:
        if word.dynamic:
            self.env.pop(name, None)
            if word.subs:  # remember where the unknown value came from (e.g. a download)
                self.tainted[name] = word.subs
        else:
            self.env[name] = word.text
            self.tainted.pop(name, None)

    def _redirect(self, cmd: _Cmd) -> None:
        tok = self.take()
        target = self.take()
        if target.kind != "word":
            raise ShellParseError(f"redirection '{tok.value}' needs a target")
        if tok.value in ("<<", "<<-"):
            quoted = not target.plain
            delim = target.fields[0].text if target.fields else ""
            cmd.redirects.append(Redirect(tok.value, tok.fd, None, ""))
            self.heredocs.append((delim, quoted, tok.value == "<<-", cmd, len(cmd.redirects) - 1))
            return
        cmd.redirects.append(Redirect(tok.value, tok.fd, _join(target.fields)))

    # ------------------------------------------------------------------- lexer
    def _lex(self) -> _Tok:
        src, n = self.src, len(self.src)
        # blanks, line continuations and a comment up to (not including) the newline
        self.pos = _BLANKS.match(src, self.pos).end()  # type: ignore[union-attr]
        if self.pos >= n:
            return _Tok("eof", "")
        c = src[self.pos]
        if c == "\n":
            self.pos += 1
            self._read_heredocs()
            return _Tok("nl", "\n")
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
            return _Tok("redir", redir.group(), fd=fd)
        if c in ";&|()":
            op = _OP_RE.match(src, self.pos)
            assert op is not None
            self.pos = op.end()
            return _Tok("redir" if op.group() in ("&>", "&>>") else "op", op.group())
        return self._word()

    def _procsub(self, kind: str) -> _Tok:
        sub = _Parser(self.src, self.pos + 2, self.depth + 1, dict(self.env), self.ids)
        sub.parse_list(frozenset({")"}))
        sub._expect_op(")")
        self.pos = sub.pos
        script = sub.finish(())
        word = Word("/dev/fd/63", dynamic=False, subs=(script,), procsub=kind)
        return _Tok("word", "<(…)", [word])

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
                inner = _Parser(body, 0, self.depth + 1, dict(self.env), self.ids)
                chunks: list[_Chunk] = []
                inner._double_quoted(chunks, heredoc=True)
                body = "".join(ch[0] for ch in chunks)
                subs = tuple(s for ch in chunks for s in ch[3])
            old = cmd.redirects[index]
            cmd.redirects[index] = Redirect(old.op, old.fd, None, body, subs)

    def _word(self) -> _Tok:
        src, n = self.src, len(self.src)
        start = self.pos
        simple = _SIMPLE_WORD.match(src, start)
        if simple is not None and (simple.end() == n or src[simple.end()] in _WORD_END):
            text = simple.group()
            if "=" not in text:  # fast path: a plain literal word, nothing to expand
                self.pos = simple.end()
                return _Tok("word", text, [Word(text)], plain=True)
        chunks: list[_Chunk] = []
        assign: str | None = None
        prefix = ""
        match = _ASSIGN.match(src, self.pos)
        if match:
            assign, prefix = match.group(1), match.group()
            self.pos = match.end()
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
        return _Tok("word", value, fields, plain=plain, assign=assign, assign_word=assign_word)

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
            sub = _Parser(src, self.pos + 2, self.depth + 1, dict(self.env), self.ids)
            sub.parse_list(frozenset({")"}))
            sub._expect_op(")")
            self.pos = sub.pos
            self._substitution(chunks, sub.finish(()), quoted)
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
            chunks.append(("$" + nxt, quoted, True, (), True))
            self.pos += 2
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
                inner = _Parser(default, 0, self.depth + 1, dict(self.env), self.ids)
                inner._double_quoted(chunks, heredoc=True)
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
        sub = _Parser("".join(out), 0, self.depth + 1, dict(self.env), self.ids)
        sub.parse_list(frozenset())
        if sub.peek().kind != "eof":
            raise ShellParseError("bad command inside backticks")
        self._substitution(chunks, sub.finish(()), quoted)

    def _substitution(self, chunks: list[_Chunk], script: Script, quoted: bool) -> None:
        static = static_output(script)
        if static is None:
            chunks.append(("$(…)", quoted, True, (script,), True))
        else:
            chunks.append((static.rstrip("\n"), quoted, False, (script,), True))


_COMPOUND = {
    "{": _Parser._brace,
    "if": _Parser._if,
    "while": lambda p: p._loop(until=False),
    "until": lambda p: p._loop(until=True),
    "for": _Parser._for,
    "select": _Parser._for,
    "case": _Parser._case,
    "function": _Parser._function_kw,
    "[[": _Parser._double_bracket,
}


def _join(fields: list[Word]) -> Word:
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
