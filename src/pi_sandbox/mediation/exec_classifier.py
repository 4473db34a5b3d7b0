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

import re
import shlex
from collections.abc import Mapping, Sequence

from pi_sandbox.mediation import exec_checks as C
from pi_sandbox.mediation import exec_paths as P
from pi_sandbox.mediation import exec_rules as R
from pi_sandbox.mediation.exec_result import ExecClassification, Finding, Unit
from pi_sandbox.mediation.exec_unwrap import Unwrapper, base_name
from pi_sandbox.mediation.shell_ast import Script, SimpleCommand, Word
from pi_sandbox.mediation.shell_parse import parse_script
from pi_sandbox.mediation.shell_static import static_output

MAX_NESTING = 12

__all__ = ["ExecClassification", "ExecClassifier", "Finding", "Unit"]
_SHELL_META = re.compile(r"[\s;&|<>()$`'\"\\*?{}\[\]~#]")


class _Run(Unwrapper):
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
        name = base_name(head.text)
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
