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

from pi_sandbox.mediation import exec_checks as C
from pi_sandbox.mediation import exec_paths as P
from pi_sandbox.mediation import exec_rules as R
from pi_sandbox.mediation.exec_result import Unit
from pi_sandbox.mediation.shell_ast import Script, SimpleCommand, Word
from pi_sandbox.mediation.shell_static import static_output

_VERSIONED = re.compile(r"^(python|perl|ruby|node|php|lua|pip|bash|zsh)[0-9.]*$")


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
            if name == "env" and text in ("-S", "--split-string") and i + 1 < len(args):
                split = [Word(t) for t in shlex.split(args[i + 1].text)] if args[i + 1].text else []
                return self.argv(split + args[i + 2 :], unit, cmd, upstream, env, depth + 1)
            if name in ("command", "builtin") and text in ("-v", "-V"):
                return set()
            if name == "sudo" and text in ("-e", "--edit"):
                for target in args[i + 1 :]:
                    found = P.write_target_class(target.text)
                    if found:
                        self.emit(unit, found[0], "sudoedit_" + found[1])
                return set()
            if text.startswith("-") and len(text) > 1:
                i += 2 if text in takes_arg else 1
                continue
            if name == "env" and "=" in text and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", text):
                key, value = text.split("=", 1)
                env[key] = value
                if key in ("LD_PRELOAD", "BASH_ENV", "PROMPT_COMMAND", "LD_LIBRARY_PATH"):
                    self.emit(unit, "obfuscated_command", f"inject_{key.lower()}")
                i += 1
                continue
            break
        i += R.WRAPPER_SKIP_OPERANDS.get(name, 0)
        rest = args[i:]
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
                return [Word(r if not filtered else r.rstrip("/") + "/match") for r in roots]
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
            target = Word(root if not filtered else root.rstrip("/") + "/match")
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
                    spot = root if not filtered else root.rstrip("/") + "/match"
                    inner = [Word(w.text.replace("{}", spot), w.dynamic, w.has_glob, w.subs) for w in args[i + 1 : j]]
                    self.argv(inner, unit, cmd, [], env, depth + 1)
                i = j
            i += 1
        return set()

    def shell(self, args: list[Word], unit: Unit, cmd: SimpleCommand, env: dict[str, str], depth: int) -> set[str]:
        code: Word | None = None
        operand: Word | None = None
        i = 0
        while i < len(args):
            text = args[i].text
            if text in ("-o", "+o", "--rcfile", "--init-file", "-O", "+O"):
                i += 2
                continue
            if text.startswith("-") and len(text) > 1 and not text.startswith("--") and "c" in text[1:]:
                code = args[i + 1] if i + 1 < len(args) else Word("")
                break
            if text.startswith(("-", "+")) and len(text) > 1:
                i += 1
                continue
            operand = args[i]
            break
        if code is not None:
            if code.dynamic:
                self.dynamic_code([code], unit, "shell_c_dynamic_string")
            else:
                self.script(code.text, env, depth + 1, unit)
            return set()
        if operand is not None:
            return self.source([operand], unit)
        self.heredoc_bodies(cmd, unit, env, depth)
        if any(r.op in ("<<", "<<-", "<<<") for r in cmd.redirects):
            return {"bare_shell"}
        if any(r.op == "<" for r in cmd.redirects):
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

    def source(self, args: list[Word], unit: Unit) -> set[str]:
        if not args:
            return set()
        target = args[0]
        if target.procsub or target.dynamic:
            self.dynamic_code([target], unit, "source_substitution")
            return set()
        if target.text in ("/dev/stdin", "-", "/proc/self/fd/0", "/dev/fd/0"):
            return {"shell_stdin"}
        if R.NETWORK_DEVICE_RE.search(target.text):
            self.emit(unit, "reverse_shell", "source_dev_tcp")
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
        flags = R.INTERPRETERS[name]
        texts = [w.text for w in args]
        code: str | None = None
        operand = False
        for i, text in enumerate(texts):
            if text in flags or (
                text.startswith("-") and not text.startswith("--") and text[-1:] in "ceEr" and "-" + text[-1] in flags
            ):
                code = texts[i + 1] if i + 1 < len(texts) else ""
                if args[i + 1 : i + 2] and args[i + 1].dynamic:
                    self.dynamic_code([args[i + 1]], unit, f"{name}_dynamic_code")
                break
            if text in ("-m", "-f", "--file") or (name.endswith("awk") and text.startswith("-f")):
                operand = True
                break
            if not text.startswith("-"):
                if name.endswith("awk"):
                    code = text
                elif args[i].procsub or args[i].dynamic:
                    self.dynamic_code([args[i]], unit, f"{name}_substituted_program")
                operand = True
                break
        if code is not None:
            C.check_code(code, lambda c, r: self.emit(unit, c, r), lambda text: self.script(text, env, depth + 1, unit))
            return set()
        self.heredoc_bodies_code(cmd, unit, env, depth)
        if not operand and not any(r.op in ("<", "<<", "<<-", "<<<") for r in cmd.redirects):
            return {"shell_stdin"}
        return set()

    def heredoc_bodies_code(self, cmd: SimpleCommand, unit: Unit, env: dict[str, str], depth: int) -> None:
        for red in cmd.redirects:
            body = (
                red.heredoc
                if red.op in ("<<", "<<-")
                else (red.target.text if red.op == "<<<" and red.target else None)
            )
            if body:
                C.check_code(
                    body, lambda c, r: self.emit(unit, c, r), lambda text: self.script(text, env, depth + 1, unit)
                )

    def dynamic_code(self, words: Sequence[Word], unit: Unit, rule: str, *, obfuscated: bool = False) -> None:
        """Code whose text is only known at run time: judged by where it comes from."""
        kinds = {sub_kind(s) for w in words for s in w.subs}
        if "fetch" in kinds:
            self.emit(unit, "pipe_to_shell", rule + "_from_network")
        elif "decode" in kinds:
            self.emit(unit, "obfuscated_command", rule + "_from_decoder")
        elif obfuscated:
            self.emit(unit, "obfuscated_command", rule)
        else:
            self.emit(unit, "dynamic_eval", rule)


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
