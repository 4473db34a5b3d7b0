"""Unwrapping for the exec classifier: wrappers, shells, interpreters, ``xargs``, ``find -exec``, ``eval``.

Each method receives an argv that starts with a program which runs *other* code, works out that code
(the wrapped argv, the ``-c`` string, the here-document, the inline program) and hands it back to the
classifier (``argv`` / ``script``) one level deeper.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Mapping, Sequence

from pi_sandbox.mediation import exec_paths as P
from pi_sandbox.mediation import exec_rules as R
from pi_sandbox.mediation.exec_result import Unit
from pi_sandbox.mediation.shell_ast import Script, SimpleCommand, Word
from pi_sandbox.mediation.shell_lex import POSITIONAL, positional_env
from pi_sandbox.mediation.shell_static import static_output

_VERSIONED = re.compile(r"^(python|pypy|perl|ruby|node|php|lua|pip|bash|zsh|tclsh|wish)[0-9.]*$")


class Unwrapper:
    """Mixin of the classifier run: the methods that find the code a program will run."""

    def emit(self, unit: Unit, command_class: str, rule: str) -> None:
        """Record a finding on ``unit`` (implemented by the classifier run)."""
        raise NotImplementedError

    def script(self, text: str, env: Mapping[str, str], depth: int, owner: Unit | None = None) -> None:
        """Parse and classify shell text one level deeper (implemented by the classifier run)."""
        raise NotImplementedError

    def argv(
        self,
        words: list[Word],
        unit: Unit,
        cmd: SimpleCommand,
        upstream: list[SimpleCommand],
        env: dict[str, str],
        depth: int,
    ) -> set[str]:
        """Classify an argv one level deeper (implemented by the classifier run)."""
        raise NotImplementedError

    def code(self, language: str, text: str, unit: Unit, env: Mapping[str, str], depth: int) -> None:
        """Analyse interpreter code one level deeper (implemented by the classifier run)."""
        raise NotImplementedError

    def read_file(
        self, path: str, unit: Unit, purpose: str, *, language: str, missing_ok: bool = False, report: bool = True
    ) -> str | None:
        """Text of a file the command will run or read as a program; None (reported) if unavailable."""
        raise NotImplementedError

    def stdin_for(self, cmd: SimpleCommand, *, program: bool = True) -> str | None:
        """What ``cmd`` reads on stdin, when known: the exec call's stdin, a here-document, a ``< file``.

        ``program``: the stdin is code to run, so a file that cannot be read is reported.
        """
        raise NotImplementedError

    def run_file(self, path: str, language: str, unit: Unit, env: Mapping[str, str], depth: int) -> None:
        """Read a script and classify its contents in ``language`` (implemented by the classifier run)."""
        raise NotImplementedError

    def argv_of(self, argv: Sequence[str], unit: Unit, env: Mapping[str, str], depth: int = 1) -> None:
        """Classify a literal argv found inside code, an option or a variable (implemented by the run)."""
        raise NotImplementedError

    def set_env(self, assigned: Mapping[str, str], unit: Unit, env: Mapping[str, str], depth: int) -> None:
        """Classify variables a command sets for the program it runs (implemented by the classifier run)."""
        raise NotImplementedError

    def wrapper(
        self,
        name: str,
        args: list[Word],
        unit: Unit,
        cmd: SimpleCommand,
        upstream: list[SimpleCommand],
        env: dict[str, str],
        depth: int,
    ) -> set[str]:
        if name in R.ESCALATING_WRAPPERS:
            self.emit(unit, "privilege_escalation", f"wrapper_{name}")
        takes_arg = R.WRAPPERS[name]
        i = 0
        env = dict(env)
        while i < len(args):
            text = args[i].text
            if text == "--":
                i += 1
                break
            if name == "env" and (text in ("-S", "--split-string") and i + 1 < len(args) or (
                    text.startswith(("-S", "--split-string=")) and len(text) > 2 and text != "--split-string")):
                attached = text.startswith("-S") and len(text) > 2 or text.startswith("--split-string=")
                value = (text[2:] if text.startswith("-S") else text.split("=", 1)[1]) if attached else args[i + 1].text
                try:
                    split = [Word(t) for t in shlex.split(value)]
                except ValueError:
                    self.emit(unit, "unparseable", "env_split_string")
                    return set()
                return self.argv(split + args[i + (1 if attached else 2) :], unit, cmd, upstream, env, depth + 1)
            if name in ("command", "builtin") and text in ("-v", "-V"):
                return set()
            if name == "sudo" and text in ("-e", "--edit"):
                for target in args[i + 1 :]:
                    found = P.write_target_class(target.text)
                    if found:
                        self.emit(unit, found[0], "sudoedit_" + found[1])
                return set()
            if text.startswith("-") and len(text) > 1:
                i += 3 if text in R.WRAPPER_TWO_ARGS.get(name, ()) else 2 if text in takes_arg else 1
                continue
            if name == "env" and "=" in text and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", text):
                key, value = text.split("=", 1)
                env[key] = value
                self.set_env({key: value}, unit, env, depth)
                i += 1
                continue
            break
        i += R.WRAPPER_SKIP_OPERANDS.get(name, 0)
        rest = args[i:]
        if name in ("flock", "sg") and rest and rest[0].text in ("-c", "--command"):
            if len(rest) > 1:
                self.script(rest[1].text, env, depth + 1, unit)
            return set()
        if name == "exec" and not rest:
            return set()
        if name in ("sudo", "doas", "run0") and not rest:
            return set()
        if name == "env" and not rest:
            return {"secret_source"}
        return self.argv(rest, unit, cmd, upstream, env, depth + 1)

    def xargs(
        self,
        args: list[Word],
        unit: Unit,
        cmd: SimpleCommand,
        upstream: list[SimpleCommand],
        env: dict[str, str],
        depth: int,
    ) -> set[str]:
        with_arg = {
            "-I",
            "-L",
            "-n",
            "-P",
            "-d",
            "-E",
            "-s",
            "-a",
            "--max-args",
            "--max-procs",
            "--delimiter",
            "--arg-file",
            "--replace",
            "-i",
        }
        i = 0
        replace: str | None = None
        while i < len(args) and args[i].text.startswith("-"):
            text = args[i].text
            if text == "-I" and i + 1 < len(args):
                replace = args[i + 1].text
            elif text.startswith("-I") and len(text) > 2:
                replace = text[2:]
            i += 2 if text in with_arg and text != "-i" else 1
        stdin_words = self._stdin_words(upstream)
        stdin = self.stdin_for(cmd, program=False) if not upstream else None
        if stdin is not None:
            stdin_words = [Word(t) for t in stdin.split()]
        inner = list(args[i:]) or [Word("echo")]
        if replace:
            joined = " ".join(w.text for w in stdin_words)
            inner = [
                Word(w.text.replace(replace, joined), w.dynamic or any(s.dynamic for s in stdin_words)) for w in inner
            ]
        else:
            inner += stdin_words
        return self.argv(inner, unit, cmd, [], env, depth + 1)

    @staticmethod
    def _stdin_words(upstream: list[SimpleCommand]) -> list[Word]:
        """What ``xargs`` would append: static echo output, a find root, or an unknown value."""
        if len(upstream) == 1:
            up = upstream[0]
            text = static_output(Script((up,)))
            if text is not None:
                return [Word(t) for t in text.split()]
            if up.words and base_name(up.words[0].text) == "find":
                roots, filtered = find_roots([w for w in up.words[1:]])
                return [_find_root_word(r, filtered) for r in roots]
        return [Word("$(stdin)", dynamic=True)]

    def find(
        self,
        args: list[Word],
        unit: Unit,
        cmd: SimpleCommand,
        upstream: list[SimpleCommand],
        env: dict[str, str],
        depth: int,
    ) -> set[str]:
        roots, filtered = find_roots(args)
        texts = [w.text for w in args]
        for root in roots:
            target = _find_root_word(root, filtered)
            if "-delete" in texts:
                found = P.delete_scope(target)
                if found:
                    self.emit(unit, found[0], "find_delete_" + found[1])
        i = 0
        while i < len(texts):
            if texts[i] in ("-exec", "-execdir", "-ok", "-okdir"):
                j = i + 1
                while j < len(texts) and texts[j] not in (";", "+"):
                    j += 1
                for root in roots:
                    spot = _find_root_word(root, filtered)
                    inner = [Word(w.text.replace("{}", spot.text), w.dynamic,
                                  w.has_glob or ("{}" in w.text and spot.has_glob), w.subs) for w in args[i + 1 : j]]
                    self.argv(inner, unit, cmd, [], env, depth + 1)
                i = j
            i += 1
        return set()

    def shell(self, args: list[Word], unit: Unit, cmd: SimpleCommand, env: dict[str, str], depth: int) -> set[str]:
        code: Word | None = None
        operand: Word | None = None
        roles: set[str] = set()
        i = 0
        while i < len(args):
            text = args[i].text
            if text in ("-o", "+o", "--rcfile", "--init-file", "-O", "+O"):
                if text in ("--rcfile", "--init-file") and i + 1 < len(args):
                    self.run_file(args[i + 1].text, "shell", unit, env, depth)
                i += 2
                continue
            if text.startswith("-") and len(text) > 1 and not text.startswith("--") and "c" in text[1:]:
                code = args[i + 1] if i + 1 < len(args) else Word("")
                positional = args[i + 2 :]
                if positional and re.search(r"\$(?:[0-9@*]|\{[0-9@*])", code.text):
                    # sh -c 'exec "$0" "$@"' rm -rf /: the operands may be the command itself
                    roles = self.argv(list(positional), unit, cmd, [], env, depth + 1)
                break
            if text.startswith("-") and len(text) > 1 and not text.startswith("--") and "s" in text[1:]:
                break  # -s: commands come from stdin, the operands are positional parameters
            if text.startswith(("-", "+")) and len(text) > 1:
                i += 1
                continue
            operand = args[i]
            break
        if code is not None:
            if code.dynamic:
                self.dynamic_code([code], unit, "shell_c_dynamic_string")
            else:
                self.origin([code], unit, "shell_c_string")
                # sh -c CODE ARG0 ARGS...: the operands are $0, $1 ... inside CODE (``rm -rf "$1"`` _ /)
                operands = args[i + 2:] if i < len(args) else []
                static = [w.text for w in operands] if not any(w.dynamic for w in operands) else None
                inner = {k: v for k, v in env.items() if k not in POSITIONAL}
                if static:
                    inner.update(positional_env(static[0], static[1:]))
                self.script(code.text, inner, depth + 1, unit)
            return roles
        if operand is not None:
            return self.source([operand], unit, env, depth, cmd)
        self.heredoc_bodies(cmd, unit, env, depth)
        stdin = self.stdin_for(cmd)
        if stdin is not None:
            self.script(stdin, env, depth + 1, unit)
            return {"bare_shell"}
        if any(r.op in ("<<", "<<-", "<<<") for r in cmd.redirects):
            return {"bare_shell"}
        return {"shell_stdin", "bare_shell"}

    def heredoc_bodies(self, cmd: SimpleCommand, unit: Unit, env: dict[str, str], depth: int) -> None:
        for red in cmd.redirects:
            if red.op in ("<<", "<<-") and red.heredoc is not None:
                if red.heredoc_subs and any(sub_kind(s) for s in red.heredoc_subs):
                    self.dynamic_code([Word("", True, False, red.heredoc_subs)], unit, "heredoc_dynamic")
                self.script(red.heredoc, env, depth + 1, unit)
            elif red.op == "<<<" and red.target is not None:
                if red.target.dynamic:
                    self.dynamic_code([red.target], unit, "herestring_dynamic")
                else:
                    self.script(red.target.text, env, depth + 1, unit)

    def source(
        self, args: list[Word], unit: Unit, env: Mapping[str, str], depth: int, cmd: SimpleCommand | None = None
    ) -> set[str]:
        if not args:
            return set()
        target = args[0]
        if target.procsub or target.dynamic:
            self.dynamic_code([target], unit, "source_substitution")
            return set()
        if target.text in ("/dev/stdin", "-", "/proc/self/fd/0", "/dev/fd/0"):
            if cmd is not None:  # source /dev/stdin <<< "$(curl ..)"
                self.heredoc_bodies(cmd, unit, dict(env), depth)
                stdin = self.stdin_for(cmd)
                if stdin is not None:
                    self.script(stdin, env, depth + 1, unit)
                    return set()
            return {"shell_stdin"}
        if R.NETWORK_DEVICE_RE.search(target.text):
            self.emit(unit, "reverse_shell", "source_dev_tcp")
            return set()
        self.run_file(target.text, "shell", unit, env, depth)
        return set()

    def joining(
        self,
        name: str,
        args: list[Word],
        unit: Unit,
        cmd: SimpleCommand,
        upstream: list[SimpleCommand],
        env: dict[str, str],
        depth: int,
    ) -> set[str]:
        texts = [w.text for w in args]
        if name == "eval":
            if any(w.dynamic for w in args):
                self.dynamic_code(args, unit, "eval_dynamic")
            else:
                self.origin(args, unit, "eval_string")
                self.script(" ".join(texts), env, depth + 1, unit)
            return set()
        if name == "trap":  # trap CODE SIGNAL...: CODE runs later, in this shell
            if len(args) >= 2 and not texts[0].startswith("-"):
                if args[0].dynamic:
                    self.dynamic_code([args[0]], unit, "trap_dynamic")
                else:
                    self.script(texts[0], env, depth + 1, unit)
            return set()
        if name in ("su", "script"):
            if name == "su":
                self.emit(unit, "privilege_escalation", "wrapper_su")
            for i, text in enumerate(texts[:-1]):
                if text in ("-c", "--command"):
                    self.script(texts[i + 1], env, depth + 1, unit)
            return set()
        if name == "ssh":
            roles = {"sink", "fetcher"}
            with_arg = set("bcDEeFIiJLlmOopQRSWw")
            i = 0
            while i < len(texts) and texts[i].startswith("-"):
                flag = texts[i]
                i += 2 if len(flag) == 2 and flag[1] in with_arg else 1
            if i + 1 < len(texts):
                self.script(" ".join(texts[i + 1 :]), {}, depth + 1, unit)
            else:  # `ssh host <<EOF ... EOF`: the here-document is the remote script
                self.heredoc_bodies(cmd, unit, {}, depth)
            return roles
        # watch / parallel: options, then a command joined with spaces and run by sh -c
        i = 0
        while i < len(texts) and texts[i].startswith("-"):
            i += 2 if texts[i] in ("-n", "--interval", "-j", "--jobs", "-d", "--differences") else 1
        rest = [t for t in texts[i:] if t not in (":::", "::::")]
        if rest:
            self.script(" ".join(rest), env, depth + 1, unit)
        return set()

    def interpreter(
        self, name: str, args: list[Word], unit: Unit, cmd: SimpleCommand, env: dict[str, str], depth: int
    ) -> set[str]:
        language, code_flags, arg_flags = R.INTERPRETERS[name]
        if name == "osascript" and any(w.text.lower() in ("javascript", "-ljavascript") for w in args):
            language = "javascript"
        codes: list[str] = []
        operand: Word | None = None
        module = False
        i = 0
        while i < len(args):
            word = args[i]
            text = word.text
            flag, eq, inline = text.partition("=")
            following = args[i + 1] if i + 1 < len(args) else Word("")
            if text in code_flags or (eq and flag in code_flags and flag.startswith("--")):
                code_word = Word(inline) if eq else following
                if code_word.dynamic or code_word.procsub:
                    self.dynamic_code([code_word], unit, f"{name}_dynamic_code")
                else:
                    self.origin([code_word], unit, f"{name}_code")
                codes.append(code_word.text)
                i += 1 if eq else 2
                if name == "deno":
                    break
                continue
            if _clustered_code_flag(text, code_flags):
                if following.dynamic:
                    self.dynamic_code([following], unit, f"{name}_dynamic_code")
                codes.append(following.text)
                i += 2
                continue
            if text in ("-m",) and language == "python" or text == "-":
                module = text == "-m"
                break
            if text in ("-f", "--file") or (language == "awk" and text.startswith("-f") and len(text) > 2):
                target = following.text if text in ("-f", "--file") else text[2:]
                self.run_file(target, language, unit, env, depth)
                return set()
            if language == "javascript" and flag in ("-r", "--require", "--import", "--preload") and not eq:
                self.run_file(following.text, language, unit, env, depth)
                i += 2
                continue
            if text.startswith("-"):
                i += 2 if text in arg_flags else 1
                continue
            if name in ("deno", "bun") and text in ("run", "x", "install", "test", "compile") and not codes:
                i += 1
                continue
            operand = word
            break
        if codes:
            self.code(language, "\n".join(codes), unit, env, depth)
            return set()
        if language == "awk" and operand is not None:
            self.code(language, operand.text, unit, env, depth)
            return set()
        if operand is not None:
            if operand.procsub or operand.dynamic:
                self.dynamic_code([operand], unit, f"{name}_substituted_program")
            elif re.match(r"^(?:https?|ftp)://", operand.text):
                self.emit(unit, "pipe_to_shell", f"{name}_remote_program")
            else:
                self.run_file(operand.text, language, unit, env, depth)
            return set()
        if module:
            return set()
        for red in cmd.redirects:
            here = red.target.text if red.op == "<<<" and red.target else None
            body = red.heredoc if red.op in ("<<", "<<-") else here
            if body:
                self.code(language, body, unit, env, depth)
        stdin = self.stdin_for(cmd)
        if stdin is not None:
            self.code(language, stdin, unit, env, depth)
            return set()
        if not any(r.op in ("<", "<<", "<<-", "<<<") for r in cmd.redirects):
            return {"shell_stdin", f"lang:{language}"}
        return set()

    def origin(self, words: Sequence[Word], unit: Unit, rule: str) -> None:
        """Code whose text is known but was produced by a download or a decoder (``$(echo .. | base64 -d)``)."""
        kinds = {sub_kind(s) for w in words for s in w.subs}
        if "fetch" in kinds:
            self.emit(unit, "pipe_to_shell", rule + "_from_network")
        elif "decode" in kinds:
            self.emit(unit, "decode_exec", rule + "_from_decoder")

    def dynamic_code(self, words: Sequence[Word], unit: Unit, rule: str, *, obfuscated: bool = False) -> None:
        """Code whose text is only known at run time: judged by where it comes from."""
        kinds = {sub_kind(s) for w in words for s in w.subs}
        if "fetch" in kinds:
            self.emit(unit, "pipe_to_shell", rule + "_from_network")
        elif "decode" in kinds:
            self.emit(unit, "decode_exec", rule + "_from_decoder")
        elif obfuscated:
            self.emit(unit, "obfuscated_command", rule)
        else:
            self.emit(unit, "dynamic_eval", rule)


def _clustered_code_flag(text: str, code_flags: frozenset[str]) -> bool:
    """``perl -ne``, ``ruby -pe``, ``python -Ic``: single-letter flags clustered, the code flag last."""
    return (
        len(text) > 2
        and text.startswith("-")
        and not text.startswith("--")
        and "-" + text[-1] in code_flags
        and text[1:-1].isalpha()
    )


def sub_kind(script: Script) -> str | None:
    """ "fetch" if a substitution downloads something, "decode" if it decodes data, else None."""
    kind = None
    for cmd in script.walk():
        if not cmd.words:
            continue
        texts = [base_name(w.text) for w in cmd.words]
        for i, text in enumerate(texts):
            if text in R.FETCHERS or text in R.NETCAT or text in ("socat", "telnet"):
                return "fetch"
            if i == 0 and text in R.DECODERS:
                kind = "decode"
            if text in R.WRAPPERS or text in R.SHELLS:
                continue
            if i == 0:
                break
        if any(R.NETWORK_DEVICE_RE.search(w.text) for r in cmd.redirects for w in ([r.target] if r.target else [])):
            return "fetch"
    return kind


def find_roots(args: Sequence[Word]) -> tuple[list[str], bool]:
    """The start points of ``find`` and whether any test narrows what it matches."""
    roots: list[str] = []
    i = 0
    while i < len(args) and args[i].text in ("-H", "-L", "-P", "-O0", "-O1", "-O2", "-O3", "-D"):
        i += 2 if args[i].text == "-D" else 1
    while i < len(args) and not args[i].text.startswith(("-", "(", "!")):
        roots.append(args[i].text)
        i += 1
    tests = {
        "-name",
        "-iname",
        "-path",
        "-ipath",
        "-regex",
        "-iregex",
        "-newer",
        "-mtime",
        "-mmin",
        "-size",
        "-user",
        "-group",
        "-perm",
        "-atime",
        "-ctime",
        "-empty",
        "-wholename",
        "-links",
        "-inum",
    }
    texts = [w.text for w in args[i:]]
    filtered = any(t in tests and (j + 1 >= len(texts) or texts[j + 1] not in ("*", "**")) for j, t in enumerate(texts))
    return roots or ["."], filtered


@functools.lru_cache(maxsize=4096)
def base_name(text: str) -> str:
    """Program name for lookups: basename, lower case (case-insensitive file systems), version dropped."""
    name = text.rsplit("/", 1)[-1].lower()
    if name.endswith(".exe"):
        name = name[:-4]
    match = _VERSIONED.match(name)
    return match.group(1) if match else name


def _find_root_word(root: str, filtered: bool) -> Word:
    """What ``find`` walks from ``root`` as a path word: its wildcards kept (``find ~/.[!.]* -delete`` walks every
    hidden entry of the home, judged as the home), or a matched entry below it when tests filter what is acted on."""
    if filtered:
        return Word(root.rstrip("/") + "/match")
    return Word(root, has_glob=any(ch in root for ch in "*?["))
