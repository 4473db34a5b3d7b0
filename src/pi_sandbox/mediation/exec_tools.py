"""Tool features that run commands: the command inside an option, a config value or a tool's own script.

``git -c alias.x='!cmd' x``, ``git -c core.sshCommand=..``, ``tar --checkpoint-action=exec=..``,
``vim -c '!cmd'``, ``sqlite3 db '.shell cmd'``, ``make --eval`` / ``-f -`` / a Makefile's recipes,
``sed 's/x/cmd/e'``, ``rsync -e cmd``, ``ssh -o ProxyCommand=cmd``, ``less +!cmd``, ``man -P cmd``,
``zip -TT cmd``, ``flock f -c cmd``, ``gdb -ex 'shell cmd'``, ``npm test`` (a package.json script):
each method finds the command and hands it to the classifier one level deeper. Finding the command at
all is a ``command_hook`` (medium); what the command does is classified on its own.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping

from pi_sandbox.mediation import exec_paths as P
from pi_sandbox.mediation.exec_result import Unit
from pi_sandbox.mediation.exec_unwrap import Unwrapper
from pi_sandbox.mediation.shell_ast import SimpleCommand, Word

#: git config keys (lower case, ``*`` = any subsection) whose value is a command git runs.
GIT_COMMAND_KEYS = re.compile(
    r"^(?:core\.(?:sshcommand|fsmonitor|pager|editor|gitproxy|askpass|alternaterefscommand)|sequence\.editor"
    r"|diff\.external|diff\..+\.(?:textconv|command)|merge\..+\.driver|filter\..+\.(?:clean|smudge|process)"
    r"|gpg\.program|gpg\..+\.program|pager\..+|uploadpack\.packobjectshook|remote\..+\.(?:uploadpack|receivepack)"
    r"|credential(?:\..+)?\.helper|interactive\.difffilter|difftool\..+\.cmd|mergetool\..+\.cmd|web\.browser"
    r"|browser\..+\.cmd|man\..+\.cmd|sendemail\.(?:smtpserver|tocmd|cccmd)|alias\..+)$"
)
#: git config keys that point at files or directories whose contents then run (hooks, templates, includes).
GIT_PATH_KEYS = re.compile(r"^(?:core\.hookspath|init\.templatedir|include\.path|includeif\..+\.path"
                           r"|core\.worktree|protocol\..+\.allow|url\..+\.insteadof)$")
_GIT_GLOBAL_ARG = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path", "--config-env",
                             "--super-prefix", "--list-cmds", "--attr-source"})
_STDIN_PATHS = frozenset({"-", "/dev/stdin", "/proc/self/fd/0", "/dev/fd/0"})
_VIM_LANG = {"py": "python", "py3": "python", "python": "python", "python3": "python", "pyx": "python",
             "pythonx": "python", "py3do": "python", "pydo": "python", "lua": "lua", "luado": "lua", "perl": "perl",
             "perldo": "perl", "ruby": "ruby", "rubydo": "ruby", "tcl": "tcl"}
_MAKE_DEFAULTS = {"MAKE": "make", "CC": "cc", "CXX": "c++", "RM": "rm -f", "AR": "ar", "CPP": "cc -E",
                  "LD": "ld", "AS": "as", "INSTALL": "install", "SHELL": "/bin/sh"}


class Tools(Unwrapper):
    """Mixin of the classifier run: tools whose options, config or scripts run commands."""

    def hook(self, unit: Unit, rule: str, text: str, env: Mapping[str, str], depth: int) -> None:
        """A command inside a tool feature: ``command_hook`` plus the classes of the command."""
        self.emit(unit, "command_hook", rule)
        self.script(text, env, depth + 1, unit)

    # ------------------------------------------------------------------ git
    def git(self, args: list[Word], unit: Unit, env: dict[str, str], depth: int) -> None:
        texts = [w.text for w in args]
        i = 0
        workdirs: list[str] = []
        while i < len(texts) and texts[i].startswith("-"):
            flag, _, inline = texts[i].partition("=")
            value = inline if inline else (texts[i + 1] if i + 1 < len(texts) else "")
            if flag == "-c" or flag == "--config-env":
                self.git_config(value, unit, env, depth, transient=True)
            elif flag in ("-C", "--work-tree", "--git-dir"):
                workdirs.append(value)
            elif flag == "--exec-path" and inline:
                self.emit(unit, "unreadable_script", "git_exec_path")
            i += 1 if inline or flag not in _GIT_GLOBAL_ARG else 2
        if i >= len(texts):
            return
        sub, rest = texts[i], texts[i + 1:]
        for text in rest:
            if text.startswith("ext::"):  # ext::CMD ARGS: '% ' is a space inside one argument
                self.emit(unit, "command_hook", "git_ext_transport")
                argv = [a.replace("\0", " ").replace("%%", "%") for a in text[5:].replace("% ", "\0").split()]
                self.argv_of(argv, unit, env, depth + 1)
        for j, text in enumerate(rest):
            flag, _, inline = text.partition("=")
            value = inline if inline else (rest[j + 1] if j + 1 < len(rest) else "")
            if sub in ("clone", "submodule") and flag in ("-c", "--config"):
                self.git_config(value, unit, env, depth, transient=True)
            elif flag in ("--upload-pack", "--receive-pack", "--exec") and sub in (
                    "clone", "fetch", "pull", "push", "ls-remote", "archive"):
                self.hook(unit, f"git_{sub}_{flag.strip('-')}", value, env, depth)
            elif sub == "clone" and flag in ("-u",):
                self.hook(unit, "git_clone_upload_pack", value, env, depth)
            elif sub == "clone" and flag == "--template":
                self.emit(unit, "unreadable_script", "git_clone_template")
            elif sub == "rebase" and flag in ("-x", "--exec"):
                self.hook(unit, "git_rebase_exec", value, env, depth)
            elif sub == "difftool" and flag in ("-x", "--extcmd"):
                self.hook(unit, "git_difftool_extcmd", value, env, depth)
            elif sub == "grep" and (flag in ("-O", "--open-files-in-pager") and inline or text.startswith("-O")):
                self.hook(unit, "git_grep_pager", inline or text[2:], env, depth)
            elif sub == "filter-branch" and flag.endswith("-filter"):
                self.hook(unit, f"git_filter_branch_{flag.strip('-')}", value, env, depth)
        if sub == "submodule" and "foreach" in rest:
            cmd = [t for t in rest[rest.index("foreach") + 1:] if t not in ("--recursive", "-q", "--quiet")]
            if cmd:
                self.hook(unit, "git_submodule_foreach", " ".join(cmd), env, depth)
        if sub == "bisect" and rest[:1] == ["run"] and len(rest) > 1:
            self.hook(unit, "git_bisect_run", shlex.join(rest[1:]), env, depth)
        if sub == "config":
            values = [t for t in rest if not t.startswith("-")]
            if len(values) >= 2:
                self.git_config(f"{values[0]}={values[1]}", unit, env, depth, transient=False)
        if sub == "clean" and any(t.startswith("-") and not t.startswith("--") and "f" in t or t == "--force"
                                  for t in rest):
            for target in workdirs:
                found = P.delete_scope(Word(target))
                if found and found[0] == "recursive_delete":
                    self.emit(unit, "recursive_delete", "git_clean_of_" + found[1])

    def git_config(self, pair: str, unit: Unit, env: Mapping[str, str], depth: int, *, transient: bool) -> None:
        key, _, value = pair.partition("=")
        lower = key.lower()
        if GIT_COMMAND_KEYS.match(lower):
            if not transient:
                self.emit(unit, "persistence", "git_config_command")
            if lower.startswith("alias.") and not value.startswith("!"):
                return  # an alias to another git subcommand runs nothing else
            command = value[1:] if value.startswith("!") else value
            if lower.endswith(".helper") and not value.startswith(("!", "/", ".")):
                command = "git-credential-" + value
            self.hook(unit, "git_config_" + re.sub(r"\W+", "_", lower.split(".")[0]), command, env, depth)
        elif GIT_PATH_KEYS.match(lower):
            self.emit(unit, "persistence" if not transient else "unreadable_script", "git_config_code_path")

    # ------------------------------------------------------------------ tar, zip, rsync, ssh, pagers
    def option_commands(self, name: str, args: list[Word], unit: Unit, env: dict[str, str], depth: int) -> None:
        """Options of ``tar`` / ``zip`` / ``rsync`` / ``ssh``-family / ``less`` / ``man`` whose value runs."""
        texts = [w.text for w in args]
        wanted = _COMMAND_OPTIONS.get(name, {})
        for i, text in enumerate(texts):
            flag, eq, inline = text.partition("=")
            value = inline if eq else (texts[i + 1] if i + 1 < len(texts) else "")
            kind = wanted.get(flag)
            if kind is None and len(text) > 2 and text[:2] in wanted and not text.startswith("--"):
                kind, value = wanted[text[:2]], text[2:]  # -ICMD, -oProxyCommand=..
            if kind is None:
                if name in ("less", "more", "most") and text.startswith("+") and "!" in text:
                    self.hook(unit, f"{name}_initial_command", text[text.index("!") + 1:], env, depth)
                continue
            if kind == "exec=":  # tar --checkpoint-action=exec=CMD
                if value.startswith("exec="):
                    self.hook(unit, f"{name}_checkpoint_exec", value[5:], env, depth)
            elif kind == "ssh-option":
                found = re.match(r"\s*(\w+)\s*(?:=|\s)\s*(.*)$", value, re.S)
                key, val = (found.group(1), found.group(2)) if found else (value, "")
                if key.lower() in ("proxycommand", "localcommand", "knownhostscommand", "match"):
                    self.hook(unit, f"{name}_option_{key.lower()}", val.replace("%h", "host").replace("%p", "22"),
                              env, depth)
            elif kind == "config-file":
                text_ = self.read_file(value, unit, f"{name}_config", language="ssh_config")
                for line in (text_ or "").splitlines():
                    found = re.match(r"\s*(ProxyCommand|LocalCommand|KnownHostsCommand|Match\s+exec)\s*=?\s*(.+)",
                                     line, re.I)
                    if found:
                        self.hook(unit, f"{name}_config_{found.group(1).split()[0].lower()}",
                                  found.group(2).strip().strip('"'), env, depth)
            else:
                self.hook(unit, f"{name}_{kind}", value.replace("{}", "FILE"), env, depth)

    # ------------------------------------------------------------------ editors, gdb, sqlite3
    def vim(self, args: list[Word], unit: Unit, cmd: SimpleCommand, env: dict[str, str], depth: int) -> set[str]:
        texts = [w.text for w in args]
        for i, text in enumerate(texts):
            if text in ("-c", "--cmd") and i + 1 < len(texts):
                self.vim_commands(texts[i + 1], unit, env, depth)
            elif text.startswith("+") and len(text) > 1:
                self.vim_commands(text[1:], unit, env, depth)
            elif text in ("-S", "-u", "-s", "-W") and i + 1 < len(texts) and text != "-W":
                body = self.read_file(texts[i + 1], unit, "vim_script", language="vim")
                if body is not None:
                    self.vim_commands(body, unit, env, depth)
        if any(t in ("-e", "-es", "-E", "-Es", "-s") for t in texts):  # ex mode: commands come from stdin
            body = self.stdin_for(cmd)
            if body is None:
                return {"shell_stdin", "lang:vim"}
            self.vim_commands(body, unit, env, depth)
        return set()

    def vim_commands(self, text: str, unit: Unit, env: Mapping[str, str], depth: int) -> None:
        for line in _vim_segments(text):
            line = re.sub(r"^[\s:]*(?:(?:silent!?|sil!?|exe(?:cute)?|norm(?:al)?!?|call)\s+)*", "", line).strip()
            line = line.strip("\"'") if line[:1] in "\"'" else line
            word = re.match(r"(\w+)", line)
            if line.startswith("!"):
                self.hook(unit, "vim_bang", line[1:], env, depth)
            elif re.match(r"(?:r|read|w|write|\d*,?\$?\d*)\s*!", line):
                self.hook(unit, "vim_filter", line.split("!", 1)[1], env, depth)
            elif word and word.group(1) in _VIM_LANG:
                self.emit(unit, "command_hook", "vim_" + word.group(1))
                self.code(_VIM_LANG[word.group(1)], line[word.end():].lstrip("<").strip(), unit, env, depth)
            elif word and word.group(1) in ("term", "terminal", "shell", "sh"):
                self.hook(unit, "vim_terminal", line[word.end():].strip() or "sh", env, depth)
            for found in re.finditer(r"(?:system|systemlist|jobstart|termopen)\s*\(\s*(['\"])(.*?)\1", line):
                self.hook(unit, "vim_system_call", found.group(2), env, depth)
            pattern = r"delete\s*\(\s*(?:expand\s*\(\s*)?(['\"])(.*?)\1\s*\)?\s*,\s*['\"]rf?['\"]"
            for found in re.finditer(pattern, line):
                scope = P.delete_scope(Word(found.group(2)))
                if scope:
                    self.emit(unit, scope[0], "vim_delete_" + scope[1])

    def gdb(self, args: list[Word], unit: Unit, env: dict[str, str], depth: int) -> None:
        texts = [w.text for w in args]
        commands: list[str] = []
        for i, text in enumerate(texts):
            flag, eq, inline = text.partition("=")
            if flag in ("-ex", "--eval-command", "-iex", "--init-eval-command"):
                commands.append(inline if eq else (texts[i + 1] if i + 1 < len(texts) else ""))
            elif flag in ("-x", "--command", "-ix"):
                commands.append(self.read_file(inline if eq else texts[i + 1] if i + 1 < len(texts) else "",
                                               unit, "gdb_script", language="gdb") or "")
        for block in commands:
            for line in block.splitlines():
                line = line.strip()
                found = re.match(r"(?:shell|!|pipe\s+.*\|)\s*(.*)", line)
                if found and (line.startswith(("shell", "!", "pipe"))):
                    self.hook(unit, "gdb_shell", found.group(1), env, depth)
                elif re.match(r"(?:python|py|pi)\b", line):
                    self.emit(unit, "command_hook", "gdb_python")
                    self.code("python", re.sub(r"^(?:python|py|pi)\s*", "", line), unit, env, depth)

    def sqlite(self, args: list[Word], unit: Unit, cmd: SimpleCommand, env: dict[str, str], depth: int) -> set[str]:
        texts = [w.text for w in args]
        chunks: list[str] = []
        i = 0
        operands: list[str] = []
        while i < len(texts):
            text = texts[i]
            if text in ("-cmd", "--cmd") and i + 1 < len(texts):
                chunks.append(texts[i + 1])
                i += 2
                continue
            if text in ("-init", "--init") and i + 1 < len(texts):
                chunks.append(self.read_file(texts[i + 1], unit, "sqlite_init", language="sql") or "")
                i += 2
                continue
            if text in ("-separator", "-newline", "-nullvalue", "-vfs", "-maxsize", "-mmap", "-pagecache",
                        "-lookaside", "-heap", "-pcachetrace"):
                i += 2
                continue
            if not text.startswith("-"):
                operands.append(text)
            i += 1
        chunks.extend(operands[1:])  # operands after the database file are SQL / dot-commands
        stdin = self.stdin_for(cmd) if len(operands) < 2 else None
        if stdin is not None:
            chunks.append(stdin)
        for chunk in chunks:
            self.sqlite_text(chunk, unit, env, depth)
        return {"shell_stdin", "lang:sqlite"} if len(operands) < 2 and stdin is None else set()

    def sqlite_text(self, text: str, unit: Unit, env: Mapping[str, str], depth: int) -> None:
        for line in text.splitlines():
            line = line.strip()
            found = re.match(r"\.(?:shell|system)\s+(.*)", line)
            if found:
                self.hook(unit, "sqlite_shell", found.group(1), env, depth)
            found = re.match(r"\.(?:once|output|import|read|excel)\s+(?:-\w+\s+)*['\"]?\|(.*?)['\"]?(?:\s+\w+)?$", line)
            if found:
                self.hook(unit, "sqlite_pipe", found.group(1), env, depth)
            if re.match(r"\.load\b", line) or re.search(r"load_extension\s*\(", line, re.I):
                self.emit(unit, "opaque_inline_code", "sqlite_load_extension")

    # ------------------------------------------------------------------ make, sed, npm
    def make(self, args: list[Word], unit: Unit, cmd: SimpleCommand, env: dict[str, str], depth: int) -> set[str]:
        texts = [w.text for w in args]
        files: list[str] = []
        evals: list[str] = []
        variables = dict(_MAKE_DEFAULTS)
        directory = ""
        i = 0
        while i < len(texts):
            text = texts[i]
            flag, eq, inline = text.partition("=")
            following = texts[i + 1] if i + 1 < len(texts) else ""
            if flag in ("-f", "--file", "--makefile"):
                files.append(inline if eq else following)
                i += 1 if eq else 2
                continue
            if text.startswith("-f") and len(text) > 2 and not text.startswith("--"):
                files.append(text[2:])
            elif flag in ("--eval", "-E"):
                evals.append(inline if eq else following)
                i += 1 if eq else 2
                continue
            elif flag in ("-C", "--directory"):
                directory = inline if eq else following
                i += 1 if eq else 2
                continue
            elif not text.startswith("-") and eq and re.match(r"^[A-Za-z_][\w.]*$", flag):
                variables[flag] = inline
                if flag == "SHELL":
                    self.hook(unit, "make_shell_override", inline, env, depth)
            elif flag in ("-I", "--include-dir", "-o", "-W", "-j", "-l", "--old-file", "--what-if"):
                i += 2
                continue
            i += 1
        roles: set[str] = set()
        for text in evals:
            self.makefile(text, variables, unit, env, depth, "make_eval")
        for name in files:
            if name in _STDIN_PATHS:
                body = self.stdin_for(cmd)
                if body is None:
                    roles |= {"shell_stdin", "lang:make"}
                else:
                    self.makefile(body, variables, unit, env, depth, "make_stdin")
                continue
            body = self.read_file(_join(directory, name), unit, "makefile", language="make")
            if body is not None:
                self.makefile(body, variables, unit, env, depth, "makefile")
        if not files:
            for name in ("GNUmakefile", "makefile", "Makefile"):
                body = self.read_file(_join(directory, name), unit, "makefile", language="make", missing_ok=True)
                if body is not None:
                    self.makefile(body, variables, unit, env, depth, "makefile")
                    break
        return roles

    def makefile(self, text: str, overrides: Mapping[str, str], unit: Unit, env: Mapping[str, str], depth: int,
                 rule: str) -> None:
        text = text.replace("\\\n", " ")
        variables = dict(overrides)
        recipes: list[str] = []
        for line in text.splitlines():
            if line.startswith("\t"):
                recipes.append(line[1:])
                continue
            found = re.match(r"^\s*(?:override\s+|export\s+)*([A-Za-z_][\w.]*)\s*([:+?!]*)=\s*(.*)$", line)
            if found:
                name, op, value = found.groups()
                if op == "!":
                    self.hook(unit, f"{rule}_shell_assignment", value, env, depth)
                elif name not in overrides:
                    variables[name] = (variables.get(name, "") + " " + value).strip() if op == "+" else value
                continue
            target = re.match(r"^[^:#=]+::?[^=;]*;(.*)$", line)
            if target:
                recipes.append(target.group(1))
            included = re.match(r"^\s*-?include\s+(.+)$", line)
            if included:
                for name in included.group(1).split():
                    body = self.read_file(name, unit, "makefile_include", language="make", missing_ok=True)
                    if body is not None and depth < 8:
                        self.makefile(body, variables, unit, env, depth + 1, rule)
        for found in re.finditer(r"\$[({]shell\s+([^)}]*)[)}]", text):
            self.hook(unit, f"{rule}_shell_function", _make_expand(found.group(1), variables), env, depth)
        for recipe in recipes:
            line = _make_expand(recipe.lstrip("@-+ \t"), variables)
            if line.strip():
                self.script(line, env, depth + 1, unit)

    def sed(self, args: list[Word], unit: Unit, env: dict[str, str], depth: int) -> None:
        texts = [w.text for w in args]
        if "--sandbox" in texts:
            return  # sed refuses e, r and w commands in sandbox mode
        scripts: list[str] = []
        plain: list[str] = []
        i = 0
        while i < len(texts):
            flag, eq, inline = texts[i].partition("=")
            following = texts[i + 1] if i + 1 < len(texts) else ""
            if flag in ("-e", "--expression"):
                scripts.append(inline if eq else following)
                i += 1 if eq else 2
                continue
            if flag in ("-f", "--file"):
                scripts.append(self.read_file(inline if eq else following, unit, "sed_script", language="sed") or "")
                i += 1 if eq else 2
                continue
            if flag in ("-l", "--line-length"):
                i += 2
                continue
            if not texts[i].startswith("-") or texts[i] == "-":
                plain.append(texts[i])
            i += 1
        if not scripts and plain:
            scripts.append(plain[0])
        for script in scripts:
            for command, argument in sed_commands(script):
                if command == "e":
                    if argument.strip():
                        self.hook(unit, "sed_e_command", argument, env, depth)
                    else:
                        self.emit(unit, "shell_from_stdin", "sed_e_runs_input_lines")
                elif command == "s_e":
                    self.hook(unit, "sed_s_e_flag", argument, env, depth)
                elif command == "w":
                    found = P.write_target_class(argument.strip())
                    if found:
                        self.emit(unit, found[0], "sed_w_" + found[1])

    def package_script(self, name: str, args: list[Word], unit: Unit, env: dict[str, str], depth: int) -> None:
        """``npm test`` / ``npm run x`` / ``yarn x`` / ``pnpm x``: the package.json script that runs."""
        texts = [w.text for w in args if not w.text.startswith("-")]
        if name in ("npm", "pnpm", "bun") and texts[:1] in (["exec"], ["x"]) or name == "npx":
            for i, text in enumerate(w.text for w in args):
                if text in ("-c", "--call") and i + 1 < len(args):
                    self.hook(unit, f"{name}_exec_call", args[i + 1].text, env, depth)
            return
        if not texts:
            return
        aliases = {"t": "test", "tst": "test", "run-script": "run", "rum": "run", "urn": "run"}
        verb = aliases.get(texts[0], texts[0])
        if verb in ("test", "start", "stop", "restart"):
            script = verb
        elif verb == "run" and len(texts) > 1:
            script = texts[1]
        elif name in ("yarn", "pnpm", "bun") and verb not in ("install", "add", "remove", "i", "ci", "init",
                                                               "create", "dlx", "up", "upgrade", "why", "info"):
            script = verb
        else:
            return
        body = self.read_file("package.json", unit, "package_json", language="json", missing_ok=True)
        if body is None:
            return
        try:
            scripts = json.loads(body).get("scripts") or {}
        except (ValueError, AttributeError):
            self.emit(unit, "unreadable_script", "package_json_invalid")
            return
        if not isinstance(scripts, dict):
            return
        for key in (f"pre{script}", script, f"post{script}"):
            value = scripts.get(key)
            if isinstance(value, str):
                self.script(value, env, depth + 1, unit)


#: tool → {option: kind}; the kind names the rule (``exec=`` is tar's checkpoint action syntax).
_COMMAND_OPTIONS: Mapping[str, Mapping[str, str]] = {
    "tar": {"--checkpoint-action": "exec=", "--to-command": "to_command", "--use-compress-program": "compress_program",
            "-I": "compress_program", "--info-script": "info_script", "--new-volume-script": "info_script",
            "-F": "info_script", "--rsh-command": "rsh_command", "--rmt-command": "rmt_command"},
    "zip": {"-TT": "unzip_command", "--unzip-command": "unzip_command"},
    "rsync": {"-e": "rsh", "--rsh": "rsh", "--rsync-path": "rsync_path"},
    "ssh": {"-o": "ssh-option", "-F": "config-file"},
    "scp": {"-o": "ssh-option", "-F": "config-file", "-S": "program"},
    "sftp": {"-o": "ssh-option", "-F": "config-file", "-S": "program", "-D": "program"},
    "autossh": {"-o": "ssh-option", "-F": "config-file"},
    "man": {"-P": "pager", "--pager": "pager", "--html": "browser", "-H": "browser"},
    "less": {"--lesskey-src": "lesskey"},
}
TOOLS_WITH_COMMAND_OPTIONS = frozenset(_COMMAND_OPTIONS) | {"more", "most"}


def _vim_segments(text: str) -> list[str]:
    """Ex commands of ``text``: lines, split at ``|`` except inside a ``!`` command (which takes the rest)."""
    out: list[str] = []
    for line in text.split("\n"):
        while line:
            head = re.sub(r"^[\s:]*(?:(?:silent!?|sil!?)\s*)*", "", line)
            if head.startswith("!") or re.match(r"(?:r|read|w|write)\s*!", head):
                out.append(line)
                break
            first, bar, line = line.partition("|")
            out.append(first)
            if not bar:
                break
    return out


def sed_commands(script: str) -> list[tuple[str, str]]:
    """``(command, argument)`` for the sed commands that run or write: ``e``, ``s///e`` (as ``s_e``), ``w``."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(script)
    while i < n:
        c = script[i]
        if c in " \t\n;{}!":
            i += 1
            continue
        if c.isdigit() or c in "$,~+":
            i += 1
            continue
        if c == "/" or c == "\\":
            delim = script[i + 1] if c == "\\" and i + 1 < n else "/"
            i = _sed_until(script, i + (2 if c == "\\" else 1), delim) + 1
            continue
        if c == "#" or c in ":btT":
            end = script.find("\n", i)
            i = n if end < 0 else end
            if c != "#":
                semi = script.find(";", i)
                i = i if semi < 0 else min(i, semi)
            continue
        if c in "aic":
            end = script.find("\n", i)
            i = n if end < 0 else end
            continue
        if c in "ewWrR":
            end = script.find("\n", i)
            argument = script[i + 1: n if end < 0 else end]
            if c == "e":
                out.append(("e", argument.strip()))
            elif c in "wW":
                out.append(("w", argument))
            i = n if end < 0 else end
            continue
        if c in "sy" and i + 1 < n:
            delim = script[i + 1]
            end_pattern = _sed_until(script, i + 2, delim)
            end_replacement = _sed_until(script, end_pattern + 1, delim)
            replacement = script[end_pattern + 1:end_replacement].replace("\\" + delim, delim)
            flags = re.match(r"[gpiImMe0-9]*(?:w\s*\S*)?", script[end_replacement + 1:])
            flag_text = flags.group(0) if flags else ""
            if c == "s" and "e" in flag_text.split("w")[0]:
                out.append(("s_e", replacement.replace("\\n", "\n")))
            if c == "s" and "w" in flag_text:
                out.append(("w", flag_text.split("w", 1)[1]))
            i = end_replacement + 1 + len(flag_text)
            continue
        i += 1
    return out


def _sed_until(script: str, start: int, delim: str) -> int:
    i = start
    while i < len(script) and script[i] != delim:
        i += 2 if script[i] == "\\" else 1
    return min(i, len(script))


def _make_expand(text: str, variables: Mapping[str, str], depth: int = 0) -> str:
    """Make's variable references with known values substituted (``$$`` is a literal ``$``)."""

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name in variables and depth < 8:
            return _make_expand(variables[name], variables, depth + 1)
        return "target" if name in "@<^*?%+|" else "make_" + re.sub(r"\W", "_", name)

    text = text.replace("$$", "\0")
    text = re.sub(r"\$\(([^()$]+)\)|\$\{([^{}$]+)\}|\$(.)", repl, text)
    return text.replace("\0", "$")


def _join(directory: str, name: str) -> str:
    if not directory or name.startswith("/"):
        return name
    return directory.rstrip("/") + "/" + name

