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
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pi_sandbox.mediation import exec_checks as C
from pi_sandbox.mediation import exec_paths as P
from pi_sandbox.mediation import exec_rules as R
from pi_sandbox.mediation.shell_ast import Script, SimpleCommand, Word
from pi_sandbox.mediation.shell_parse import parse_script
from pi_sandbox.mediation.shell_static import static_output

MAX_NESTING = 12
_SHELL_META = re.compile(r"[\s;&|<>()$`'\"\\*?{}\[\]~#]")
_VERSIONED = re.compile(r"^(python|perl|ruby|node|php|lua|pip|bash|zsh)[0-9.]*$")


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason a command is risky: its class, the class's tier, and the rule that matched."""

    command_class: str
    risk_tier: str
    rule: str


@dataclass(slots=True)
class Unit:
    """One simple command: its argv variants (as written, then each unwrapped form) and own findings."""

    argv: tuple[str, ...]
    variants: list[tuple[str, ...]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ExecClassification:
    """Result of classifying one command: every finding, the worst one, and the per-command units."""

    findings: tuple[Finding, ...]
    units: tuple[Unit, ...] = ()

    @property
    def worst(self) -> Finding | None:
        """The finding with the highest tier (first one wins ties)."""
        best: Finding | None = None
        for finding in self.findings:
            if best is None or R.TIER_RANK[finding.risk_tier] > R.TIER_RANK[best.risk_tier]:
                best = finding
        return best

    @property
    def command_class(self) -> str | None:
        """Class of the worst finding (None when nothing matched)."""
        return self.worst.command_class if self.worst else None

    @property
    def risk_tier(self) -> str | None:
        """Worst tier (None when nothing matched)."""
        return self.worst.risk_tier if self.worst else None

    @property
    def rule(self) -> str | None:
        """Rule id of the worst finding."""
        return self.worst.rule if self.worst else None

    @property
    def classes(self) -> tuple[str, ...]:
        """Every distinct class found, in order of first appearance."""
        return tuple(dict.fromkeys(f.command_class for f in self.findings))


class _Run:
    """State of one classification: the units found so far."""

    def __init__(self) -> None:
        self.units: list[Unit] = []
        self.root = Unit(argv=())
        self.units.append(self.root)

    def emit(self, unit: Unit, command_class: str, rule: str) -> None:
        finding = Finding(command_class, R.CLASS_TIER[command_class], rule)
        if finding not in unit.findings:
            unit.findings.append(finding)

    # ------------------------------------------------------------------ scripts
    def script(self, text: str, env: Mapping[str, str], depth: int, owner: Unit | None = None) -> None:
        if depth > MAX_NESTING:
            self.emit(owner or self.root, "unparseable", "nesting_too_deep")
            return
        parsed = parse_script(text, env)
        self.parsed(parsed, depth, owner)

    def parsed(self, script: Script, depth: int, owner: Unit | None = None) -> None:
        if script.all_errors():
            self.emit(owner or self.root, "unparseable", "shell_parse_error")
        commands = list(script.walk())
        stages: dict[int, dict[int, list[SimpleCommand]]] = {}
        for cmd in commands:
            for pid, stage in cmd.pipes:
                stages.setdefault(pid, {}).setdefault(stage, []).append(cmd)
        roles: dict[int, set[str]] = {}
        units: dict[int, Unit] = {}
        for cmd in commands:
            upstream = self._upstream(cmd, stages)
            unit = Unit(argv=tuple(w.text for w in cmd.words))
            self.units.append(unit)
            units[id(cmd)] = unit
            roles[id(cmd)] = self.command(cmd, unit, upstream, depth)
            if cmd.function and cmd.words and cmd.words[0].text == cmd.function:
                multi = any(len(stages.get(pid, {})) > 1 for pid, _ in cmd.pipes)
                if cmd.background or multi:
                    self.emit(unit, "fork_bomb", "recursive_function_fanout")
            if cmd.infinite_loop and cmd.background:
                self.emit(unit, "fork_bomb", "infinite_loop_background_spawn")
        for by_stage in stages.values():
            if len(by_stage) > 1:
                self.pipeline(by_stage, roles, units, depth)

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
        for k in range(1, len(ordered)):
            before = set().union(*stage_roles[:k])
            here = stage_roles[k]
            unit = units[id(ordered[k][0])]
            upstream_static = all("static" in r for r in stage_roles[:k])
            if "shell_stdin" in here:
                flat = [c for cmds in ordered[:k] for c in cmds]
                text = static_output(Script(tuple(flat))) if len(flat) == k else None
                if "fetcher" in before:
                    self.emit(unit, "pipe_to_shell", "network_fetch_piped_to_interpreter")
                if "decoder" in before:
                    self.emit(unit, "obfuscated_command", "decoded_data_piped_to_interpreter")
                if text is not None:
                    self.script(text, {}, depth + 1, unit)
                elif not before & {"fetcher", "decoder"}:
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
            if name in ("LD_PRELOAD", "LD_LIBRARY_PATH", "BASH_ENV", "PROMPT_COMMAND") and cmd.words:
                self.emit(unit, "obfuscated_command", f"inject_{name.lower()}")
        if not cmd.words:
            return set()
        env = dict(cmd.env)
        env.update({n: w.text for n, w in cmd.assignments if not w.dynamic})
        return self.argv(list(cmd.words), unit, cmd, upstream, env, depth)

    def redirect(self, cmd: SimpleCommand, op: str, target: Word | None, unit: Unit) -> None:
        if target is None:
            return
        text = target.text
        if R.NETWORK_DEVICE_RE.search(text):
            shellish = cmd.words and _base(cmd.words[0].text) in R.SHELLS | {"exec"}
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
            name = _base(cmd.words[0].text) if cmd.words else ""
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
            self.emit(unit, "unparseable", "nesting_too_deep")
            return set()
        if not words:
            return set()
        unit.variants.append(tuple(w.text for w in words))
        head = words[0]
        if head.dynamic:
            self.dynamic_code([head], unit, "dynamic_command_name", obfuscated=True)
            return set()
        if head.has_glob and head.text not in ("[", "[["):
            self.emit(unit, "obfuscated_command", "glob_in_command_name")
        if head.subs:
            # A program name computed by a substitution ($(printf '\x72m'), `echo rm`) is obfuscation
            # even when its value could be worked out statically.
            self.emit(unit, "obfuscated_command", "command_name_from_substitution")
        name = _base(head.text)
        args = words[1:]
        roles: set[str] = set()
        if name in ("busybox", "toybox") and args:
            return self.argv(args, unit, cmd, upstream, env, depth + 1)
        if name in R.WRAPPERS:
            return roles | self.wrapper(name, args, unit, cmd, upstream, env, depth)
        if name in ("xargs",):
            return self.xargs(args, unit, cmd, upstream, env, depth)
        if name == "find":
            return roles | self.find(args, unit, cmd, upstream, env, depth)
        if name in R.SHELLS:
            return roles | self.shell(args, unit, cmd, env, depth)
        if name in R.SHELL_JOINING:
            return roles | self.joining(name, args, unit, cmd, upstream, env, depth)
        if name in ("source", "."):
            return roles | self.source(args, unit)
        if name in R.INTERPRETERS:
            roles |= self.interpreter(name, args, unit, cmd, env, depth)
        else:
            # Leaf programs only: a shell's or interpreter's code string is analysed as code instead.
            roles |= C.check_credentials(name, args, lambda c, r: self.emit(unit, c, r))
        return roles | self.program(name, args, unit)

    def program(self, name: str, args: list[Word], unit: Unit) -> set[str]:
        """Checks for a program that runs no other command."""

        def emit(c: str, r: str) -> None:
            self.emit(unit, c, r)

        roles: set[str] = set()
        texts = [w.text for w in args]
        if name in ("rm", "rmdir", "unlink", "shred", "srm"):
            C.check_delete(name, args, emit)
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

    # ----------------------------------------------------------------- wrappers
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
            if up.words and _base(up.words[0].text) == "find":
                roots, filtered = _find_roots([w for w in up.words[1:]])
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
        roots, filtered = _find_roots(args)
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
                if red.heredoc_subs and any(_sub_kind(s) for s in red.heredoc_subs):
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
        kinds = {_sub_kind(s) for w in words for s in w.subs}
        if "fetch" in kinds:
            self.emit(unit, "pipe_to_shell", rule + "_from_network")
        elif "decode" in kinds:
            self.emit(unit, "obfuscated_command", rule + "_from_decoder")
        elif obfuscated:
            self.emit(unit, "obfuscated_command", rule)
        else:
            self.emit(unit, "dynamic_eval", rule)


def _sub_kind(script: Script) -> str | None:
    """ "fetch" if a substitution downloads something, "decode" if it decodes data, else None."""
    kind = None
    for cmd in script.walk():
        if not cmd.words:
            continue
        texts = [_base(w.text) for w in cmd.words]
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


def _find_roots(args: Sequence[Word]) -> tuple[list[str], bool]:
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
def _base(text: str) -> str:
    """Program name for lookups: basename, lower case (case-insensitive file systems), version dropped."""
    name = text.rsplit("/", 1)[-1].lower()
    if name.endswith(".exe"):
        name = name[:-4]
    match = _VERSIONED.match(name)
    return match.group(1) if match else name


class ExecClassifier:
    """Classifies commands; stateless and safe to share between threads."""

    def classify(self, cmd: str, args: Sequence[str] = ()) -> ExecClassification:
        """Classify the exec of ``cmd`` with ``args`` (an explicit argv, no shell in between)."""
        run = _Run()
        argv = [cmd, *args]
        if _SHELL_META.search(cmd):
            # A command string with shell syntax in it: judge what a shell would make of it too.
            run.script(" ".join([cmd, *(shlex.quote(a) for a in args)]), {}, 0)
        words = [Word(a) for a in argv]
        unit = Unit(argv=tuple(argv))
        run.units.append(unit)
        run.argv(words, unit, SimpleCommand(tuple(words), (), (), (), False, False, None, {}), [], {}, 0)
        return _result(run)

    def classify_script(self, text: str) -> ExecClassification:
        """Classify shell text (the ``bash`` tool's command string)."""
        run = _Run()
        run.script(text, {}, 0)
        return _result(run)


def _result(run: _Run) -> ExecClassification:
    findings = tuple(f for unit in run.units for f in unit.findings)
    return ExecClassification(findings=findings, units=tuple(run.units))
