"""What a piece of interpreter code does, as far as static analysis can tell, and how that is judged.

The per-language readers (``code_python`` on the ``ast`` module, ``code_js`` on tree-sitter-javascript,
``code_generic`` on regular expressions for perl/ruby/php/lua/tcl/awk/AppleScript) each fill one
:class:`CodeFacts`; :func:`judge` turns the facts into findings. Keeping the judgement in one place
means a ``python -c`` one-liner and a ``node -e`` one-liner that do the same thing get the same class.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pi_sandbox.mediation.exec_paths import delete_scope, normalize_path, write_target_class
from pi_sandbox.mediation.exec_rules import CREDENTIAL_PATH_RE, NETWORK_DEVICE_RE
from pi_sandbox.mediation.shell_ast import Word

Emit = Callable[[str, str], None]

#: Taints a value can carry: decoded from an encoding, downloaded, or unknown until run time.
DECODED = "decode"
FETCHED = "fetch"
DYNAMIC = "dynamic"

MAX_CODE_CHARS = 256 * 1024
_COMMANDISH = re.compile(r"[ /;|&$`]")


@dataclass(slots=True)
class CodeHooks:
    """How code analysis reports: findings, and shell text / argv / nested code to classify in turn."""

    emit: Emit
    shell: Callable[[str], None]
    argv: Callable[[list[str]], None]
    code: Callable[[str, str], None]  # (language, code): decoded or embedded code of some language


@dataclass(slots=True)
class CodeFacts:
    """Effects found in one piece of code. ``rule`` prefixes say which language reader found them."""

    language: str
    shell_texts: list[str] = field(default_factory=list)  # static strings handed to a shell
    argvs: list[list[str]] = field(default_factory=list)  # static argv lists handed to exec
    spawn: bool = False  # starts processes at all
    spawn_taints: set[str] = field(default_factory=set)  # taints of commands whose text is not static
    exec_taints: set[str] = field(default_factory=set)  # taints of code handed to eval/exec/Function
    decoded_code: list[str] = field(default_factory=list)  # statically decoded code that is executed
    deletes: list[tuple[str | None, bool]] = field(default_factory=list)  # (static target, recursive)
    writes: list[str] = field(default_factory=list)  # static paths opened for writing
    socket: bool = False  # raw sockets (not HTTP)
    fetch: bool = False  # HTTP or other downloads
    fd_redirect: bool = False  # dup2 / pty / stdio wired to something (reverse-shell plumbing)
    fork_loop: bool = False
    strings: list[str] = field(default_factory=list)  # every static string literal
    opaque: list[str] = field(default_factory=list)  # reasons the code cannot be seen through


def judge(facts: CodeFacts, hooks: CodeHooks) -> None:
    """Findings for ``facts``; shell texts, argvs and decoded code are classified through ``hooks``."""
    lang = facts.language
    emit = hooks.emit
    for reason in facts.opaque:
        emit("opaque_inline_code", f"{lang}_{reason}")
    for text in facts.shell_texts:
        hooks.shell(text)
    for argv in facts.argvs:
        hooks.argv(argv)
    for code in facts.decoded_code:
        hooks.code(lang, code)
    taints = facts.spawn_taints | facts.exec_taints
    if DECODED in taints:
        emit("decode_exec", f"{lang}_decoded_code_executed")
    if FETCHED in taints:
        emit("pipe_to_shell", f"{lang}_downloaded_code_executed")
    if DYNAMIC in facts.exec_taints:
        emit("opaque_inline_code", f"{lang}_eval_of_runtime_value")
    if DYNAMIC in facts.spawn_taints:
        emit("dynamic_eval", f"{lang}_command_from_runtime_value")
        # The command is computed: any literal in the code may be (part of) it.
        for text in facts.strings:
            if _COMMANDISH.search(text) and text not in facts.shell_texts:
                hooks.shell(text)
    network = facts.socket or any(NETWORK_DEVICE_RE.search(s) for s in facts.strings)
    if network and (facts.spawn or facts.fd_redirect):
        emit("reverse_shell", f"{lang}_socket_and_process")
    if facts.fork_loop:
        emit("fork_bomb", f"{lang}_fork_loop")
    for target, recursive in facts.deletes:
        if target is None:
            emit("file_delete", f"{lang}_delete_runtime_path")
        elif recursive:
            found = delete_scope(Word(target))
            if found:
                emit(found[0], f"{lang}_{found[1]}")
        else:
            emit("file_delete", f"{lang}_unlink")
            found = write_target_class(target)
            if found and found[0] != "reverse_shell":
                emit(found[0], f"{lang}_delete_{found[1]}")
    for target in facts.writes:
        found = write_target_class(target)
        if found:
            emit(found[0], f"{lang}_write_{found[1]}")
    if any(CREDENTIAL_PATH_RE.search(normalize_path(s)) for s in facts.strings if len(s) < 512):
        if network or facts.fetch:
            emit("credential_exfil", f"{lang}_credential_file_to_network")
        else:
            emit("credential_read", f"{lang}_reads_credential_file")
    if facts.fetch or facts.socket:
        emit("network_fetch", f"{lang}_network")


def too_long(code: str, language: str, hooks: CodeHooks) -> bool:
    """Code beyond the analysis bound is opaque (reported), never skipped."""
    if len(code) > MAX_CODE_CHARS:
        hooks.emit("opaque_inline_code", f"{language}_code_too_long")
        return True
    return False
