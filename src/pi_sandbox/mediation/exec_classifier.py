"""Classify a command (explicit argv or shell text) into risk classes and a worst tier.

The command is parsed as a shell would (``shell_parse``); every simple command — including those in
substitutions, subshells, function bodies and nested ``sh -c`` strings — is unwrapped through
wrappers (``sudo``, ``env``, ``timeout``, ``xargs``, ``find -exec``, ``busybox``...) and checked
(``exec_checks``). Pipelines are then judged as a whole: a network fetch feeding a shell, a secret
source feeding a network sink, a shell wired to a netcat. Findings are attributed to the simple
command ("unit") they came from, so allow patterns can exempt one command without exempting what it
is chained with.
"""

from __future__ import annotations

import functools
import hashlib
import re
import shlex
from collections.abc import Callable, Collection, Mapping, Sequence

from pi_sandbox.mediation import code_generic, code_js, code_python
from pi_sandbox.mediation import exec_checks as C
from pi_sandbox.mediation import exec_paths as P
from pi_sandbox.mediation import exec_rules as R
from pi_sandbox.mediation.code_facts import CodeFacts, CodeHooks, judge, too_long
from pi_sandbox.mediation.exec_env import classify_env
from pi_sandbox.mediation.exec_result import ExecClassification, Finding, Unit
from pi_sandbox.mediation.exec_tools import TOOLS_WITH_COMMAND_OPTIONS, Tools
from pi_sandbox.mediation.exec_unwrap import base_name, sub_kind
from pi_sandbox.mediation.script_source import (
    MAX_SCRIPT_DEPTH,
    MAX_SCRIPTS_PER_COMMAND,
    NoScripts,
    ScriptSource,
    ScriptUnavailable,
)
from pi_sandbox.mediation.shell_ast import Script, SimpleCommand, Word
from pi_sandbox.mediation.shell_lex import POSITIONAL, positional_env
from pi_sandbox.mediation.shell_parse import LIMIT_ERRORS, parse_script
from pi_sandbox.mediation.shell_static import STATIC_MAX_COMMANDS, static_output

MAX_NESTING = 12
#: The most work one classification does, counted in simple commands checked and characters of text parsed or
#: analysed (every nested ``sh -c`` string, ``eval``, script, heredoc, file the command wrote, code for an
#: interpreter). Each bound alone keeps one source's text small; together they did not bound the *sum*: a file the
#: command itself writes (``cat > f <<E``/``echo ... > f``) that runs ``sh f`` three times was re-read at every
#: level (797,163 commands, 40 s with the interpreter lock held, from a 30-character command; 4 copies: hours),
#: and ``eval "$x"`` repeated re-parsed ``$x`` each time. Past either bound the command is ``unclassifiable``
#: (``classification_budget``): critical, denied whatever the profile — the rest was not read and could hold a
#: critical command, so "high" would let padding hide one. Far above real commands (a 64 KiB script is ~3,000).
MAX_CLASSIFY_COMMANDS = 4096
MAX_CLASSIFY_CHARS = 512 * 1024


class _BudgetSpent(Exception):
    """The classification used up its budget (caught by ``ExecClassifier``; never leaves this module)."""
#: Where installed programs live: an absolute program path outside the roots under one of these is
#: judged by its name; anywhere else (``/tmp/x``) it is a script nobody could read.
_SYSTEM_PREFIXES = ("/usr/", "/bin/", "/sbin/", "/lib", "/opt/", "/nix/", "/snap/", "/etc/", "/System/",
                    "/Library/", "/Applications/", "/home/linuxbrew/", "/proc/self/exe")
_SPACE = re.compile(r"\s")
_EMPTY_CMD = SimpleCommand((), (), (), (), False, False, None, {})

__all__ = ["ExecClassification", "ExecClassifier", "Finding", "Unit"]
_SHELL_META = re.compile(r"[\s;&|<>()$`'\"\\*?{}\[\]~#]")


class _Run(Tools):
    """State of one classification: the units found so far, files read, files the command writes."""

    def __init__(self, scripts: ScriptSource | None = None, cwd: str | None = None, stdin: str | None = None) -> None:
        self.units: list[Unit] = []
        self.root = Unit(argv=())
        self.units.append(self.root)
        self.scripts = scripts or NoScripts()
        self.cwd = cwd
        self.stdin = stdin
        self.inspected: list[tuple[str, str]] = []  # (path, sha256 of the text or the reason it was unavailable)
        self.script_depth = 0
        self.scoped_cwd = False
        self.cd_path: str | None = ""  # where ``cd`` went, relative to ``cwd`` (None: unknown)
        self.written: dict[str, str] = {}  # files this command writes with statically known text
        self.downloaded: set[str] = set()  # files a fetcher writes
        self.decoded: set[str] = set()  # files a decoder writes
        #: Aliases a script defines (``alias x='rm -rf'``; None: a value known only at run time). A shell that
        #: expands them (dash always, bash with ``expand_aliases``) runs the value in place of the name.
        self.aliases: dict[str, str | None] = {}
        self.expanding: set[str] = set()  # aliases being expanded: the shell does not expand one in itself
        #: Function bodies the scripts define, and the ones being classified for a call (not again inside).
        self.bodies: dict[str, str] = {}
        self.calling: set[str] = set()
        self.commands_left = MAX_CLASSIFY_COMMANDS
        self.chars_left = MAX_CLASSIFY_CHARS

    def charge(self, *, commands: int = 0, chars: int = 0) -> None:
        """Take work from the classification's budget; ``_BudgetSpent`` when it is used up."""
        self.commands_left -= commands
        self.chars_left -= chars
        if self.commands_left < 0 or self.chars_left < 0:
            raise _BudgetSpent

    # ------------------------------------------------------------------ files and code
    def read_file(
        self, path: str, unit: Unit, purpose: str, *, language: str, missing_ok: bool = False, report: bool = True
    ) -> str | None:
        norm = P.normalize_path(path)
        if norm in self.downloaded:
            self.emit(unit, "pipe_to_shell", "download_then_execute")
        if norm in self.decoded:
            self.emit(unit, "decode_exec", "decode_to_file_then_execute")
        if norm in self.written:
            return self.written[norm]
        if len(self.inspected) >= MAX_SCRIPTS_PER_COMMAND or self.script_depth >= MAX_SCRIPT_DEPTH:
            self.emit(unit, "unreadable_script", f"{purpose}_beyond_read_bound")
            return None
        if self.cd_path is None and not path.startswith("/"):
            self.emit(unit, "unreadable_script", f"{purpose}_after_unknown_cd")
            return None
        if self.cd_path and not path.startswith(("/", "~")):
            path = f"{self.cd_path}/{path}"
        result = self.scripts.read(path, self.cwd)
        if isinstance(result, ScriptUnavailable):
            self.inspected.append((path, result.value))
            if report and not (missing_ok and result is ScriptUnavailable.MISSING):
                self.emit(unit, "opaque_binary" if result is ScriptUnavailable.BINARY else "unreadable_script",
                          f"{purpose}_{result.value}")
            return None
        self.inspected.append((path, hashlib.sha256(result.encode("utf-8", "surrogatepass")).hexdigest()))
        return result

    def run_file(self, path: str, language: str, unit: Unit, env: Mapping[str, str], depth: int) -> None:
        text = self.read_file(path, unit, "script", language=language)
        if text is None:
            return
        if language == "shell" or language == "":
            language = _shebang_language(text) or "shell"
        self.script_depth += 1
        try:
            self.code(language, text, unit, env, depth)
        finally:
            self.script_depth -= 1

    def code(self, language: str, text: str, unit: Unit, env: Mapping[str, str], depth: int) -> None:
        if depth > MAX_NESTING:
            self.emit(unit, "unclassifiable", "nesting_too_deep")
            return
        if language not in ("shell", "sh"):
            self.charge(chars=len(text))  # (shell text is charged by ``script``)
        if language in ("shell", "sh"):
            self.script(text, env, depth + 1, unit)
            return
        if language == "make":
            self.makefile(text, {}, unit, env, depth, "makefile")
            return
        if language == "sed":
            self.sed([Word("-e"), Word(text)], unit, dict(env), depth)
            return
        if language == "sqlite":
            self.sqlite_text(text, unit, env, depth)
            return
        if language == "vim":
            self.vim_commands(text, unit, env, depth)
            return
        if language not in _ANALYSERS:
            self.emit(unit, "opaque_inline_code", f"script_language_{language}")
            return
        if too_long(text, language, self._hooks(unit, env, depth)):
            return
        judge(_ANALYSERS[language](text), self._hooks(unit, env, depth))

    def _hooks(self, unit: Unit, env: Mapping[str, str], depth: int) -> CodeHooks:
        return CodeHooks(
            emit=lambda c, r: self.emit(unit, c, r),
            shell=lambda text: self.script(text, env, depth + 1, unit),
            argv=lambda argv: self.argv_of(argv, unit, env, depth + 1),
            code=lambda lang, text: self.code(lang, text, unit, env, depth + 1),
        )

    def argv_of(self, argv: Sequence[str], unit: Unit, env: Mapping[str, str], depth: int = 1) -> None:
        """Classify a literal argv found inside code or a variable."""
        self.argv([Word(a) for a in argv], unit, _EMPTY_CMD, [], dict(env), depth)

    def _static_input(self, cmd: SimpleCommand) -> bool:
        """Whether ``cmd`` reads text written in the call itself: a here-string or here-document without
        substitutions, or the call's own ``stdin`` (files it reads are not counted: a template is ordinary)."""
        for red in cmd.redirects:
            if red.op == "<<<" and red.target is not None:
                return not red.target.dynamic and not red.target.subs
            if red.op in ("<<", "<<-") and red.heredoc is not None:
                return not red.heredoc_subs
            if red.op == "<":
                return False
        return self.stdin is not None and not any(stage > 0 for _, stage in cmd.pipes[-1:])

    def stdin_for(self, cmd: SimpleCommand, *, program: bool = True) -> str | None:
        for red in cmd.redirects:
            if red.op == "<" and red.target is not None and not red.target.dynamic and not red.target.procsub:
                return self.read_file(red.target.text, self.root, "stdin_file", language="", report=program)
            if red.op in ("<<", "<<-") and red.heredoc is not None:
                return red.heredoc
            if red.op == "<<<" and red.target is not None and not red.target.dynamic:
                return red.target.text + "\n"
        if self.stdin is None or any(stage > 0 for _, stage in cmd.pipes[-1:]):
            return None
        return self.stdin

    def set_env(self, assigned: Mapping[str, str], unit: Unit, env: Mapping[str, str], depth: int) -> None:
        classify_env(
            assigned,
            lambda c, r: self.emit(unit, c, r),
            lambda text: self.script(text, env, depth + 1, unit),
            lambda tool, args: self.argv_of([tool, *args], unit, env, depth + 1),
            from_param=False,
        )

    def emit(self, unit: Unit, command_class: str, rule: str) -> None:
        finding = Finding(command_class, R.CLASS_TIER[command_class], rule)
        if finding not in unit.findings:
            unit.findings.append(finding)

    # ------------------------------------------------------------------ scripts
    def script(self, text: str, env: Mapping[str, str], depth: int, owner: Unit | None = None) -> None:
        if depth > MAX_NESTING:
            self.emit(owner or self.root, "unclassifiable", "nesting_too_deep")
            return
        self.charge(chars=len(text))
        parsed = parse_script(text, env)
        self.parsed(parsed, depth, owner)

    def parsed(self, script: Script, depth: int, owner: Unit | None = None) -> None:
        errors = script.all_errors()
        if errors:
            if LIMIT_ERRORS.intersection(errors):
                # valid shell the parser did not read to the end (bash nests and reads further): what the rest
                # runs is unknown, so "high" would let 70 KiB of comment or 30 nested $( hide a critical command
                self.emit(owner or self.root, "unclassifiable", "parse_limit")
            else:
                self.emit(owner or self.root, "unparseable", "shell_parse_error")
        commands = list(script.walk())
        stages: dict[int, dict[int, list[SimpleCommand]]] = {}
        for cmd in commands:
            for pid, stage in cmd.pipes:
                stages.setdefault(pid, {}).setdefault(stage, []).append(cmd)
        roles: dict[int, set[str]] = {}
        units: dict[int, Unit] = {}
        outer_scoped, outer_cd = self.scoped_cwd, self.cd_path
        self._define_aliases(commands, depth)
        self.bodies.update(script.bodies)
        for cmd in commands:
            upstream = self._upstream(cmd, stages)
            unit = Unit(argv=tuple(w.text for w in cmd.words))
            self.units.append(unit)
            units[id(cmd)] = unit
            roles[id(cmd)] = self.command(cmd, unit, upstream, depth)
            self._expand_alias(cmd, unit, depth)
            self._call_function(cmd, unit, depth)
            self._track_cd(cmd)
            if cmd.function and cmd.words and cmd.words[0].text == cmd.function:
                multi = any(len(stages.get(pid, {})) > 1 for pid, _ in cmd.pipes)
                if cmd.background or multi:
                    self.emit(unit, "fork_bomb", "recursive_function_fanout")
            if cmd.infinite_loop and cmd.background:
                self.emit(unit, "fork_bomb", "infinite_loop_background_spawn")
        for by_stage in stages.values():
            if len(by_stage) > 1:
                self.pipeline(by_stage, roles, units, depth)
        self.scoped_cwd, self.cd_path = outer_scoped, outer_cd

    def _define_aliases(self, commands: list[SimpleCommand], depth: int) -> None:
        """Record the aliases ``commands`` define, wherever they stand (a definition on an earlier line is
        expanded by dash, and by bash with ``expand_aliases``; taking every one counts a few more), and classify
        each value as what it runs (``alias x='rm -rf ~'``, ``BASH_ALIASES[x]=..`` whose name is not kept)."""
        for cmd in commands:
            values: list[tuple[str | None, Word]] = [(None, w) for n, w in cmd.assignments if n == "BASH_ALIASES"]
            if cmd.words and not cmd.words[0].dynamic and base_name(cmd.words[0].text) == "alias":
                for word in cmd.words[1:]:
                    defined, eq, _value = word.text.partition("=")
                    if eq and defined and not defined.startswith("-"):
                        values.append((defined, word))
            for name, word in values:
                value = None if word.dynamic else (word.text.partition("=")[2] if name else word.text)
                if name is not None:
                    self.aliases[name] = value
                unit = Unit(argv=tuple(w.text for w in cmd.words) or ("alias",))
                self.units.append(unit)
                if value is None:
                    self.emit(unit, "obfuscated_command", "alias_dynamic_value")
                elif name not in self.expanding:
                    self.script(value, cmd.env, depth + 1, unit)

    def _expand_alias(self, cmd: SimpleCommand, unit: Unit, depth: int) -> None:
        """``x ~`` where ``alias x='rm -rf'``: classify what the shell runs, the value followed by the words."""
        if not cmd.words or cmd.words[0].dynamic:
            return
        name = cmd.words[0].text
        if name not in self.aliases or name in self.expanding:
            return
        value = self.aliases[name]
        if value is None:
            self.emit(unit, "obfuscated_command", "alias_dynamic_value")
            return
        rest = " ".join(w.text if w.dynamic else shlex.quote(w.text) for w in cmd.words[1:])
        self.expanding.add(name)
        try:
            self.script(f"{value} {rest}", cmd.env, depth + 1, unit)
        finally:
            self.expanding.discard(name)

    def _call_function(self, cmd: SimpleCommand, unit: Unit, depth: int) -> None:
        """``f ~`` where ``f() { rm -rf "$1"; }``: the body again, with the call's words as ``$1`` ... ``$@`` (the
        body was classified where it stands too, with them unknown). A call from inside its own body is not
        followed again (the recursion is judged as a fork bomb where it fans out)."""
        if not cmd.words or cmd.words[0].dynamic:
            return
        name = cmd.words[0].text
        body = self.bodies.get(name)
        if body is None or name in self.calling or any(w.dynamic for w in cmd.words[1:]):
            return
        env = {k: v for k, v in cmd.env.items() if k not in POSITIONAL}
        env.update(positional_env(None, [w.text for w in cmd.words[1:]]))
        self.calling.add(name)
        try:
            self.script(body, env, depth + 1, unit)
        finally:
            self.calling.discard(name)

    def _cat_file(self, cmd: SimpleCommand, unit: Unit) -> str | None:
        """``cat FILE | sh``: the text of FILE (read through the script source)."""
        words = [w for w in cmd.words[1:] if w.text not in ("-", "--")]
        if not cmd.words or base_name(cmd.words[0].text) != "cat" or len(words) != 1 or words[0].dynamic:
            return None
        return self.read_file(words[0].text, unit, "piped_script", language="")

    def _track_cd(self, cmd: SimpleCommand) -> None:
        """After ``cd sub`` a later ``rm -rf *`` deletes inside ``sub``; after ``cd ..`` / ``cd ~`` it does not."""
        if not cmd.words or base_name(cmd.words[0].text) not in ("cd", "pushd", "popd"):
            return
        target = cmd.words[1] if len(cmd.words) > 1 else None
        if target is None or target.dynamic or base_name(cmd.words[0].text) == "popd" or target.text == "-":
            self.scoped_cwd = False
            self.cd_path = None
            return
        norm = P.normalize_path(target.text)
        if self.cd_path is not None and not norm.startswith(("/", "~")):
            norm = P.normalize_path(f"{self.cd_path}/{norm}") if self.cd_path not in ("", ".") else norm
        self.cd_path = norm
        self.scoped_cwd = not (norm.startswith(("/", "~", "..")) or norm == ".")

    @staticmethod
    def _upstream(cmd: SimpleCommand, stages: Mapping[int, Mapping[int, list[SimpleCommand]]]) -> list[SimpleCommand]:
        if not cmd.pipes:
            return []
        pid, stage = cmd.pipes[-1]
        return list(stages.get(pid, {}).get(stage - 1, [])) if stage > 0 else []

    def pipeline(
        self,
        by_stage: Mapping[int, list[SimpleCommand]],
        roles: Mapping[int, set[str]],
        units: Mapping[int, Unit],
        depth: int,
    ) -> None:
        ordered = [by_stage[k] for k in sorted(by_stage)]
        stage_roles = [set().union(*(roles.get(id(c), set()) for c in cmds)) for cmds in ordered]
        all_roles = set().union(*stage_roles)
        # what the stages before ``k`` add up to, kept as ``k`` grows: recomputed per stage, a pipeline of n stages
        # cost n² (``a|a|...`` of 64 KiB: 8.7 s with the interpreter lock held)
        before: set[str] = set(stage_roles[0]) if ordered else set()
        upstream_static = bool(ordered) and "static" in stage_roles[0]
        flat: list[SimpleCommand] = list(ordered[0]) if ordered else []
        for k in range(1, len(ordered)):
            if k > 1:
                before |= stage_roles[k - 1]
                upstream_static = upstream_static and "static" in stage_roles[k - 1]
                flat.extend(ordered[k - 1])
            here = stage_roles[k]
            unit = units[id(ordered[k][0])]
            if "shell_stdin" in here:
                # static_output reads at most 6 commands (longer: None), so a long pipeline copies no prefix
                text = static_output(Script(tuple(flat))) if len(flat) == k <= STATIC_MAX_COMMANDS else None
                if text is None and len(flat) == 1:
                    text = self._cat_file(flat[0], unit)
                if "fetcher" in before:
                    self.emit(unit, "pipe_to_shell", "network_fetch_piped_to_interpreter")
                if "decoder" in before:
                    self.emit(unit, "decode_exec", "decoded_data_piped_to_interpreter")
                if text is not None:
                    language = next((r[5:] for r in here if r.startswith("lang:")), "shell")
                    self.code(language, text, unit, {}, depth)
                elif not before & {"fetcher", "decoder"}:
                    if "static" in stage_roles[0] or any(self._static_input(c) for c in ordered[0]):
                        # text written in the command line itself, turned into a program by a filter the
                        # classifier cannot evaluate (``echo 'ez -es ~' | tr a-z n-za-m | sh``, sed, awk, a
                        # python filter): nobody writes a command that way but to hide it
                        self.emit(unit, "decode_exec", "transformed_text_piped_to_interpreter")
                    else:
                        self.emit(unit, "shell_from_stdin", "data_piped_to_interpreter")
            if "sink" in here and "secret_source" in before:
                self.emit(unit, "credential_exfil", "secret_piped_to_network")
            elif "sink" in here and not upstream_static:
                self.emit(unit, "data_exfil", "data_piped_to_network")
        if "netcat" in all_roles and "bare_shell" in all_roles:
            self.emit(units[id(ordered[-1][0])], "reverse_shell", "shell_wired_to_netcat")

    # ----------------------------------------------------------------- commands
    def command(self, cmd: SimpleCommand, unit: Unit, upstream: list[SimpleCommand], depth: int) -> set[str]:
        for red in cmd.redirects:
            self.redirect(cmd, red.op, red.target, unit)
        for name, _value in cmd.assignments:
            if name in ("HISTFILE", "HISTSIZE", "HISTFILESIZE") and not cmd.words:
                self.emit(unit, "history_tamper", "assign_histfile")
        env = dict(cmd.env)
        assigned = {n: w.text for n, w in cmd.assignments if not w.dynamic}
        env.update(assigned)
        if assigned:
            self.set_env(assigned, unit, env, depth)
        if not cmd.words:
            return set()
        roles = self.argv(list(cmd.words), unit, cmd, upstream, env, depth)
        self._track_writes(cmd, roles)
        return roles

    def _track_writes(self, cmd: SimpleCommand, roles: set[str]) -> None:
        """Remember files this command writes: downloaded, decoded, or with text known statically."""
        for red in cmd.redirects:
            if red.op not in (">", ">>", ">|") or red.target is None or red.target.dynamic:
                continue
            norm = P.normalize_path(red.target.text)
            if "fetcher" in roles:
                self.downloaded.add(norm)
            elif "decoder" in roles:
                self.decoded.add(norm)
            else:
                text = static_output(Script((cmd._replace(redirects=(), pipes=((0, 0),)),)))
                heredoc = next((r.heredoc for r in cmd.redirects if r.heredoc is not None), None)
                if heredoc is not None and cmd.words and base_name(cmd.words[0].text) == "cat":
                    text = heredoc
                if text is not None:
                    self.written[norm] = text

    def redirect(self, cmd: SimpleCommand, op: str, target: Word | None, unit: Unit) -> None:
        if target is None:
            return
        text = target.text
        if R.NETWORK_DEVICE_RE.search(text):
            shellish = cmd.words and base_name(cmd.words[0].text) in R.SHELLS | {"exec"}
            self.emit(
                unit,
                "reverse_shell" if shellish or op.startswith("<") or "&" in op else "data_exfil",
                "redirect_dev_tcp",
            )
            return
        if op in (">", ">>", ">|", "&>", "&>>", "<>") or (op == ">&" and not text.isdigit() and text != "-"):
            found = P.write_target_class(text)
            if found:
                self.emit(unit, found[0], "redirect_" + found[1])
        elif op == "<" and P.reads_credentials(text):
            name = base_name(cmd.words[0].text) if cmd.words else ""
            if name not in R.CREDENTIAL_USERS:
                self.emit(unit, "credential_exfil", "redirect_from_credential_file")

    def argv(
        self,
        words: list[Word],
        unit: Unit,
        cmd: SimpleCommand,
        upstream: list[SimpleCommand],
        env: dict[str, str],
        depth: int,
    ) -> set[str]:
        """Check one argv; unwrap wrappers recursively. Returns the roles of the innermost program."""
        if depth > MAX_NESTING:
            self.emit(unit, "unclassifiable", "nesting_too_deep")
            return set()
        if not words:
            return set()
        self.charge(commands=1)
        unit.variants.append(tuple(w.text for w in words))
        head = words[0]
        if head.dynamic:
            self.dynamic_code([head], unit, "dynamic_command_name", obfuscated=True)
            return set()
        if head.has_glob and head.text not in ("[", "[["):
            self.emit(unit, "obfuscated_command", "glob_in_command_name")
        if head.subs:
            # A program name computed by a substitution ($(printf '\x72m'), `echo rm`) is obfuscation
            # even when its value could be worked out statically; decoding it is decode-then-execute.
            decoded = any(sub_kind(sub) == "decode" for sub in head.subs)
            self.emit(unit, "decode_exec" if decoded else "obfuscated_command", "command_name_from_substitution")
        name = base_name(head.text)
        args = words[1:]
        roles: set[str] = set()
        if "/" in head.text and not head.has_glob and not _SPACE.search(head.text) and self.program_file(
                head.text, unit, env, depth):
            return roles
        if name in ("busybox", "toybox") and args:
            return self.argv(args, unit, cmd, upstream, env, depth + 1)
        if name == "perf" and args and not args[0].text.startswith("-"):
            args = args[1:]  # perf stat|record|trace ... [options] cmd
        if name in R.WRAPPERS:
            return roles | self.wrapper(name, args, unit, cmd, upstream, env, depth)
        if name in ("xargs",):
            return self.xargs(args, unit, cmd, upstream, env, depth)
        if name == "find":
            return roles | self.find(args, unit, cmd, upstream, env, depth)
        if name in R.SHELLS:
            return roles | self.shell(args, unit, cmd, env, depth)
        if name in R.SHELL_JOINING:
            if name == "ssh":
                self.option_commands(name, args, unit, env, depth)
            return roles | self.joining(name, args, unit, cmd, upstream, env, depth)
        if name in ("source", "."):
            return roles | self.source(args, unit, env, depth, cmd)
        if name in R.INTERPRETERS:
            roles |= self.interpreter(name, args, unit, cmd, env, depth)
        else:
            # Leaf programs only: a shell's or interpreter's code string is analysed as code instead.
            roles |= C.check_credentials(name, args, lambda c, r: self.emit(unit, c, r))
        roles |= self.tool(name, args, unit, cmd, env, depth)
        return roles | self.program(name, args, unit)

    def tool(
        self, name: str, args: list[Word], unit: Unit, cmd: SimpleCommand, env: dict[str, str], depth: int
    ) -> set[str]:
        """Tools whose options, configuration or own scripts run commands (``exec_tools``)."""
        if name in R.VCS:
            self.git(args, unit, env, depth)
        elif name in TOOLS_WITH_COMMAND_OPTIONS:
            self.option_commands(name, args, unit, env, depth)
        elif name in ("vim", "vi", "nvim", "ex", "view", "gvim", "vimdiff", "evim", "rvim", "gview"):
            return self.vim(args, unit, cmd, env, depth)
        elif name in ("gdb", "cgdb"):
            self.gdb(args, unit, env, depth)
        elif name in ("sqlite3", "sqlite"):
            return self.sqlite(args, unit, cmd, env, depth)
        elif name in ("make", "gmake", "bmake"):
            return self.make(args, unit, cmd, env, depth)
        elif name in ("sed", "gsed"):
            self.sed(args, unit, env, depth)
        elif name in ("npm", "yarn", "pnpm", "npx", "bun"):
            self.package_script(name, args, unit, env, depth)
        elif name in ("export", "declare", "typeset", "local", "readonly"):
            assigned = dict(w.text.split("=", 1) for w in args if "=" in w.text and not w.text.startswith("-"))
            if assigned:
                self.set_env(assigned, unit, env, depth)
        elif name == "deno" and any(re.match(r"^(?:https?|npm|jsr):", w.text) for w in args):
            self.emit(unit, "pipe_to_shell", "deno_remote_program")
        return set()

    def program_file(self, path: str, unit: Unit, env: Mapping[str, str], depth: int) -> bool:
        """A program named by a path: a workspace script is read and classified (True: nothing more to do)."""
        if path.startswith(_SYSTEM_PREFIXES):
            return False
        text = self.read_file(path, unit, "program", language="")
        if text is None:
            return False
        language = _shebang_language(text)
        if language is None and text.startswith("#!"):
            self.emit(unit, "opaque_inline_code", "script_unknown_interpreter")
            return True
        self.script_depth += 1
        try:
            self.code(language or "shell", text, unit, env, depth)
        finally:
            self.script_depth -= 1
        return True

    def program(self, name: str, args: list[Word], unit: Unit) -> set[str]:
        """Checks for a program that runs no other command."""

        def emit(c: str, r: str) -> None:
            self.emit(unit, c, r)

        roles: set[str] = set()
        texts = [w.text for w in args]
        if name in ("rm", "rmdir", "unlink", "shred", "srm"):
            C.check_delete(name, args, emit, scoped_cwd=self.scoped_cwd)
        elif name == "dd":
            C.check_dd(args, emit)
        elif name in R.DISK_TOOLS or C._MKFS.match(name):
            C.check_disk_tool(name, args, emit)
        elif name in ("chmod", "chown", "chgrp", "setcap"):
            C.check_chmod(name, args, emit)
        elif name in ("kill", "pkill", "killall", "killall5"):
            C.check_kill(name, args, emit)
        elif name in R.SHUTDOWN:
            emit("system_shutdown", name)
        elif name in (
            "systemctl",
            "service",
            "launchctl",
            "init",
            "telinit",
            "crontab",
            "at",
            "batch",
            "update-rc.d",
            "chkconfig",
            "schtasks",
        ):
            C.check_service(name, args, emit)
        elif name in R.ACCOUNT_TOOLS:
            emit("credential_file_modification", f"account_tool_{name}")
        elif name in R.SECURITY_TOOLS:
            if any(
                t
                in (
                    "0",
                    "disable",
                    "-F",
                    "--flush",
                    "flush",
                    "--master-disable",
                    "Permissive",
                    "reset",
                    "-X",
                    "--disable",
                )
                for t in texts
            ):
                emit("security_disable", f"{name}_disable")
        elif name in ("history", "unset"):
            C.check_history(name, args, emit)
        elif name in R.VCS:
            C.check_git(args, emit)
        elif name in ("docker", "podman", "nerdctl"):
            C.check_container(name, args, emit)
        if name in ("export", "declare", "typeset") and not [t for t in texts if not t.startswith("-")]:
            roles.add("secret_source")
        if name in ("env", "printenv", "set", "compgen"):
            roles.add("secret_source")
        if name in ("export",):
            C.check_history(name, args, emit)
        if (
            name in R.FETCHERS
            or name in R.NETCAT
            or name in ("socat", "telnet", "openssl", "scp", "rsync", "sftp", "rclone", "http", "https")
        ):
            roles |= C.check_network(name, args, emit)
        if name in R.WRITERS:
            C.check_writers(name, args, emit)
        if name in R.FETCHERS:
            self.downloaded.update(P.normalize_path(p) for p in C.fetch_outputs(name, texts))
        if name in ("base64", "base32") and any(t in ("-d", "--decode", "-D") for t in texts):
            roles.add("decoder")
        elif name in ("xxd",) and "-r" in texts or name in ("uudecode", "gunzip", "zcat", "rev"):
            roles.add("decoder")
        elif name == "openssl" and any(t in ("-d", "base64", "enc") for t in texts):
            roles.add("decoder")
        if name in ("echo", "printf") and not any(w.dynamic or w.subs for w in args):
            roles.add("static")
        if name == "cat" and not args:
            roles.add("static")
        return roles


class ExecClassifier:
    """Classifies commands; stateless and safe to share between threads."""

    def classify(
        self,
        cmd: str,
        args: Sequence[str] = (),
        *,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        scripts: ScriptSource | None = None,
        cwd: str | None = None,
        allow_env: Collection[str] = (),
    ) -> ExecClassification:
        """Classify the exec of ``cmd`` with ``args`` (an explicit argv, no shell in between).

        ``stdin`` is what the command reads (a shell or interpreter reads it as its program), ``env``
        the variables the call sets for it (dangerous ones are ``env_injection`` unless in
        ``allow_env``), ``scripts`` gives the text of files the command runs (``sh x``, ``./x``,
        ``make``); without one every such file is ``unreadable_script``.
        """
        run = _Run(scripts, cwd, stdin)
        try:
            self._classify(run, cmd, args, env, allow_env)
        except _BudgetSpent:
            run.emit(run.root, "unclassifiable", "classification_budget")
        return _result(run)

    @staticmethod
    def _classify(run: _Run, cmd: str, args: Sequence[str], env: Mapping[str, str] | None,
                  allow_env: Collection[str]) -> None:
        argv = [cmd, *args]
        if env:
            classify_env(
                env,
                lambda c, r: run.emit(run.root, c, r),
                lambda text: run.script(text, env, 1, run.root),
                lambda tool, words: run.argv_of([tool, *words], run.root, env),
                from_param=True,
                allowed=allow_env,
            )
        if _SHELL_META.search(cmd):
            # A command string with shell syntax in it: judge what a shell would make of it too.
            run.script(" ".join([cmd, *(shlex.quote(a) for a in args)]), {}, 0)
        words = [Word(a) for a in argv]
        unit = Unit(argv=tuple(argv))
        run.units.append(unit)
        run.argv(words, unit, SimpleCommand(tuple(words), (), (), (), False, False, None, {}), [], dict(env or {}), 0)

    def classify_script(self, text: str, *, scripts: ScriptSource | None = None, cwd: str | None = None,
                        stdin: str | None = None) -> ExecClassification:
        """Classify shell text (the ``bash`` tool's command string)."""
        run = _Run(scripts, cwd, stdin)
        try:
            run.script(text, {}, 0)
        except _BudgetSpent:
            run.emit(run.root, "unclassifiable", "classification_budget")
        return _result(run)


def _result(run: _Run) -> ExecClassification:
    findings = tuple(f for unit in run.units for f in unit.findings)
    return ExecClassification(findings=findings, units=tuple(run.units), inspected=tuple(run.inspected))


def _shebang_language(text: str) -> str | None:
    """The language a script's ``#!`` line names (``shell`` for shells); None without a known one."""
    if not text.startswith("#!"):
        return None
    words = text[2:].split("\n", 1)[0].split()
    while words and (base_name(words[0]) == "env" or words[0].startswith("-")):
        words = words[1:]
    if not words:
        return None
    name = base_name(words[0])
    if name in R.SHELLS:
        return "shell"
    return R.SHEBANG_LANG.get(name)


_ANALYSERS: dict[str, Callable[[str], CodeFacts]] = {
    "python": code_python.analyse,
    "javascript": code_js.analyse,
    **{lang: functools.partial(code_generic.analyse, lang) for lang in code_generic.SHELL_CALLS},
}
