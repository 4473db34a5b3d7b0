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

from pi_sandbox.mediation.shell_ast import Redirect, Script, ShellParseError, SimpleCommand, Word
from pi_sandbox.mediation.shell_lex import NESTING_ERROR, POSITIONAL, Cmd, Lexer, Tok, join_fields, positional_env
from pi_sandbox.mediation.shell_static import static_output

__all__ = ["LIMIT_ERRORS", "Redirect", "Script", "ShellParseError", "SimpleCommand", "Word", "parse_script",
           "static_output"]

MAX_SOURCE_CHARS = 64 * 1024
#: Parse errors that mean "not read", not "not shell": the text past the limit may be valid and run (bash nests
#: ``$(`` far deeper and reads scripts far longer), so what it holds is unknown (``exec_classifier`` refuses it).
TOO_LONG_ERROR = f"script longer than {MAX_SOURCE_CHARS} characters"
LIMIT_ERRORS = frozenset({NESTING_ERROR, TOO_LONG_ERROR})
# Reserved words that close a construct: never the start of a command ("in" and "]]" too, as in bash).
_RESERVED_END = frozenset({"}", "fi", "done", "then", "do", "else", "elif", "esac", "in", "]]"})
# Every bash reserved word. After an assignment or redirection bash reads one as a plain command name
# (``> f { {`` runs a command named ``{``); other readers (tree-sitter-bash, people) read it as syntax,
# so such a script is refused instead of guessed at.
_RESERVED = _RESERVED_END | frozenset(
    {"!", "case", "coproc", "for", "function", "if", "select", "time", "until", "while", "{", "[["}
)
# ``time`` is bash's keyword (not a command) when a compound command or '!' follows it.
_COMPOUND_AHEAD = r"(?:\(|(?:\{|if|while|until|for|case|select|\[\[)(?:[ \t\n;]|$))"
_TIME_KEYWORD = re.compile(r"(?:[ \t]+-p)*(?:[ \t]+--)?[ \t]+(?:!(?:[ \t\n;]|$)|" + _COMPOUND_AHEAD + ")")
_TIME_BEFORE_RESERVED = re.compile(
    r"[ \t]+(?:[|&;]|(?:[}\]]\]?|fi|done|then|do|else|elif|esac|in|function|coproc)(?:[ \t\n;]|$))"
)
# ``coproc NAME compound``: NAME is only a name when a compound command follows it.
_COPROC_NAME = re.compile(r"[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]+(?=" + _COMPOUND_AHEAD + ")")


def parse_script(source: str, env: Mapping[str, str] | None = None) -> Script:
    """Parse ``source`` as a bash script. Never raises; problems are in ``Script.errors``."""
    if len(source) > MAX_SOURCE_CHARS:
        return Script(commands=(), errors=(TOO_LONG_ERROR,))
    parser = _Parser(source, 0, 0, dict(env or {}), itertools.count())
    try:
        parser.parse_list(frozenset())
        if parser.peek().kind != "eof":
            raise ShellParseError(f"unexpected '{parser.peek().value}'")
    except ShellParseError as exc:
        return parser.finish((str(exc),))
    except RecursionError:
        return parser.finish((NESTING_ERROR,))
    return parser.finish(())


class _Parser(Lexer):
    def __init__(self, src: str, pos: int, depth: int, env: dict[str, str], ids: itertools.count[int]) -> None:
        super().__init__(src, pos, depth, env, ids)
        self.cmds: list[Cmd] = []
        self.functions: set[str] = set()
        self.bodies: dict[str, str] = {}
        self.pipes: tuple[tuple[int, int], ...] = ()
        self.loop = False
        self.function: str | None = None
        # Text one shell rejects but another runs (dash takes ``f() cmd``, bash does not): reported as an
        # error, so the script is never benign, but parsed on so what it would run is still classified.
        self.soft: list[str] = []

    def _doubt(self, message: str) -> None:
        self.soft.append(message)

    def _sub_script(self, src: str, pos: int, *, closing: bool) -> tuple[Script, int]:
        sub = _Parser(src, pos, self.depth + 1, dict(self.env), self.ids)
        sub.parse_list(frozenset({")"}) if closing else frozenset())
        if closing:
            sub._expect_op(")")
        elif sub.peek().kind != "eof":
            raise ShellParseError("bad command inside backticks")
        return sub.finish(()), sub.pos

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
        return Script(commands, frozenset(self.functions), (*self.soft, *errors), tuple(self.bodies.items()))

    # ----------------------------------------------------------------- grammar
    def peek(self) -> Tok:
        if self.tok is None:
            self.tok = self._lex()
        return self.tok

    def take(self) -> Tok:
        tok = self.peek()
        self.tok = None
        return tok

    def _is_word(self, tok: Tok, values: frozenset[str] | set[str]) -> bool:
        return tok.kind == "word" and tok.plain and tok.value in values

    def expect_word(self, value: str) -> None:
        tok = self.take()
        if not (tok.kind == "word" and tok.plain and tok.value == value):
            raise ShellParseError(f"expected '{value}', found '{tok.value or tok.kind}'")

    def skip_newlines(self) -> None:
        while self.peek().kind == "nl":
            self.take()

    def _at_end(self, tok: Tok, terms: frozenset[str]) -> bool:
        if tok.kind == "op" and tok.value in terms:
            return True
        return self._is_word(tok, terms)

    def parse_list(self, terms: frozenset[str], *, body: bool = False) -> None:
        """Commands up to one of ``terms``; a compound command's ``body`` must hold at least one (bash)."""
        empty = True
        while True:
            self.skip_newlines()
            tok = self.peek()
            if tok.kind == "eof":
                if terms:
                    raise ShellParseError(f"unexpected end of script (missing {' or '.join(sorted(terms))})")
                return
            if self._at_end(tok, terms):
                if body and empty:
                    self._doubt(f"unexpected '{tok.value}' (empty command list)")
                return
            empty = False
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
        while True:
            tok = self.peek()
            if self._is_word(tok, {"!"}):
                self.take()
            elif self._is_word(tok, {"time"}) and _TIME_KEYWORD.match(self.src, self.pos):
                self.take()  # bash's keyword before a compound command or '!'; skip its -p / --
                while self._is_word(self.peek(), {"-p", "--"}):
                    self.take()
            else:
                if self._is_word(tok, {"time"}) and _TIME_BEFORE_RESERVED.match(self.src, self.pos):
                    self._doubt("reserved word after 'time'")  # bash: syntax error; dash: /usr/bin/time
                break  # ``time cmd``: dash runs /usr/bin/time, so it stays a command (a wrapper)
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

    def _new_cmd(self) -> Cmd:
        return Cmd(pipes=self.pipes, infinite_loop=self.loop, function=self.function, env=dict(self.env))

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
            self.parse_list(frozenset({")"}), body=True)
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
            if tok.value == "!":  # '!' after '|': a syntax error in bash and dash, a negation to others
                self._doubt("'!' inside a pipeline")
                self.take()
                self.parse_command()
                return
        self.parse_simple()

    def _is_compound_start(self) -> bool:
        tok = self.peek()
        if tok.kind == "op":
            return tok.value == "("
        return tok.kind == "word" and tok.plain and tok.value in _COMPOUND and tok.value not in ("function", "coproc")

    def _expect_op(self, value: str) -> None:
        tok = self.take()
        if tok.kind != "op" or tok.value != value:
            raise ShellParseError(f"expected '{value}', found '{tok.value or tok.kind}'")

    def _brace(self) -> None:
        self.parse_list(frozenset({"}"}), body=True)
        self.expect_word("}")

    def _coproc(self) -> None:
        """``coproc cmd args`` / ``coproc [NAME] compound``: the command runs in the background."""
        start = len(self.cmds)
        if self.tok is None:
            name = _COPROC_NAME.match(self.src, self.pos)
            if name is not None:
                self.pos = name.end()
        if self.peek().kind != "word" and not self._is_compound_start():
            raise ShellParseError("coproc needs a command")
        self.parse_command()
        for cmd in self.cmds[start:]:
            cmd.background = True

    def _if(self) -> None:
        self.parse_list(frozenset({"then"}), body=True)
        self.expect_word("then")
        while True:
            self.parse_list(frozenset({"elif", "else", "fi"}), body=True)
            word = self.take().value
            if word == "fi":
                return
            if word == "elif":
                self.parse_list(frozenset({"then"}), body=True)
                self.expect_word("then")

    def _loop(self, until: bool) -> None:
        start = len(self.cmds)
        self.parse_list(frozenset({"do"}), body=True)
        names = [c.words[0].text for c in self.cmds[start:] if c.words]
        forever = {"false"} if until else {"true", ":"}
        infinite = bool(names) and all(n in forever for n in names)
        self.expect_word("do")
        self._body_until_done(infinite)

    def _body_until_done(self, infinite: bool) -> None:
        saved = self.loop
        self.loop = saved or infinite
        self.parse_list(frozenset({"done"}), body=True)
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
        if name.plain and name.value in _RESERVED:
            self._doubt(f"reserved word '{name.value}' as a function name")
        if self.peek().kind == "op" and self.peek().value == "(":
            self.take()
            self._expect_op(")")
        self._function_body(name.value)

    def _function_body(self, name: str) -> None:
        self.skip_newlines()
        if not self._is_compound_start():  # bash wants a compound command; dash also runs ``f() cmd``
            self._doubt(f"function '{name}' without a compound command as its body")
        self.functions.add(name)
        saved = self.function
        self.function = name
        opener = self.peek()
        closer = {"{": "}", "(": ")"}.get(opener.value) if opener.kind in ("word", "op") else None
        start = self.src.rfind(opener.value, 0, self.pos) if closer else -1
        self.parse_command()
        self.function = saved
        if start >= 0 and closer is not None:
            # the body as written, from its opening to its closing brace or parenthesis (a token after it may
            # already be read: the last closer before the position)
            end = self.src.rfind(closer, start, self.pos)
            if end > start:
                self.bodies[name] = self.src[start:end + 1]

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
                prefixed = cmd.assignments or cmd.redirects
                if not cmd.words and prefixed and tok.plain and tok.value in _RESERVED and tok.value != "time":
                    self._doubt(f"reserved word '{tok.value}' after an assignment or redirection")
                bare = not (cmd.words or cmd.assignments or cmd.redirects)
                if bare and self.peek().kind == "op" and self.peek().value == "(":
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
        elif cmd.words[0].text == "set" and not cmd.words[0].dynamic:
            self._set_positional(cmd.words[1:])
        self.cmds.append(cmd)

    def _set_positional(self, args: list[Word]) -> None:
        """``set -- a b`` / ``set a b``: the positional parameters for the commands after it."""
        if not args or (args[0].text.startswith(("-", "+")) and args[0].text != "--"):
            return  # options only (``set -e``): the parameters stay
        values = args[1:] if args[0].text == "--" else args
        for key in POSITIONAL - {"0"}:
            self.env.pop(key, None)
        if not any(w.dynamic for w in values):
            self.env.update(positional_env(None, [w.text for w in values]))

    def _set_var(self, name: str, word: Word) -> None:
        if word.dynamic:
            self.env.pop(name, None)
            if word.subs:  # remember where the unknown value came from (e.g. a download)
                self.tainted[name] = word.subs
        else:
            self.env[name] = word.text
            self.tainted.pop(name, None)

    def _redirect(self, cmd: Cmd) -> None:
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
        cmd.redirects.append(Redirect(tok.value, tok.fd, join_fields(target.fields)))


_COMPOUND = {
    "{": _Parser._brace,
    "if": _Parser._if,
    "while": lambda p: p._loop(until=False),
    "until": lambda p: p._loop(until=True),
    "for": _Parser._for,
    "select": _Parser._for,
    "case": _Parser._case,
    "function": _Parser._function_kw,
    "coproc": _Parser._coproc,
    "[[": _Parser._double_bracket,
}
