"""Static evaluation of the few commands whose output is evident from their words.

``$(printf '\\x72\\x6d')``, ``$(echo cm0gLXJmIC8= | base64 -d)`` and ``$'\\x72m'`` are classic ways to hide
a command name from a string matcher; evaluating them without running anything lets the classifier
see the command that would really run.
"""

from __future__ import annotations

import base64
import binascii
import re

from pi_sandbox.mediation.shell_ast import Script, SimpleCommand

_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}
_ESC_RE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|u[0-9a-fA-F]{1,4}|U[0-9a-fA-F]{1,8}|0?[0-7]{1,3}|c.|.)", re.S)


def decode_ansi_c(text: str, *, octal_needs_zero: bool = False) -> str:
    """Decode backslash escapes as in ``$'...'`` / ``printf`` / ``echo -e`` (hex, octal, unicode)."""

    def repl(match: re.Match[str]) -> str:
        esc = match.group(1)
        head = esc[0]
        try:
            if head == "x":
                return chr(int(esc[1:], 16))
            if head in "uU":
                return chr(int(esc[1:], 16))
            if head in "01234567":
                if octal_needs_zero and head != "0":
                    return "\\" + esc
                return chr(int(esc, 8) & 0xFF)
            if head == "c":
                return chr(ord(esc[1]) & 0x1F)
        except ValueError:
            return "\\" + esc
        return _ESCAPES.get(esc, "\\" + esc)

    return _ESC_RE.sub(repl, text) if "\\" in text else text


_PRINTF_SPEC = re.compile(r"%[-+ #0-9.]*([sbcdiuxXo%])")


def _printf(args: list[str]) -> str:
    """``printf FORMAT ARGS...``: the format is reused while arguments remain, as printf(1) does."""
    if not args:
        return ""
    fmt = decode_ansi_c(args[0])
    queue = list(args[1:])
    out: list[str] = []
    while True:
        used = [0]

        def conv(match: re.Match[str], queue: list[str] = queue, used: list[int] = used) -> str:
            spec = match.group(1)
            if spec == "%":
                return "%"
            arg = queue[used[0]] if used[0] < len(queue) else ""
            used[0] += 1
            if spec == "b":
                return decode_ansi_c(arg, octal_needs_zero=True)
            return arg[:1] if spec == "c" else arg

        out.append(_PRINTF_SPEC.sub(conv, fmt))
        queue = queue[used[0] :]
        if not queue or used[0] == 0:
            return "".join(out)


def _echo(args: list[str]) -> str:
    interpret, newline = False, True
    while args and re.fullmatch(r"-[neE]+", args[0]):
        flags, args = args[0], args[1:]
        newline = newline and "n" not in flags
        interpret = "e" in flags or (interpret and "E" not in flags)
    text = " ".join(args)
    if interpret:
        text = decode_ansi_c(text, octal_needs_zero=True)
    return text + ("\n" if newline else "")


def _b64(text: str) -> str | None:
    data = re.sub(r"\s+", "", text)
    data += "=" * (-len(data) % 4)
    try:
        raw = base64.b64decode(data.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.decode("utf-8", errors="replace")


def argv_name(cmd: SimpleCommand) -> str:
    """Base name of a command's program word ('' when it has none)."""
    return cmd.words[0].text.rsplit("/", 1)[-1] if cmd.words else ""


#: The longest pipeline :func:`static_output` evaluates (more commands: None).
STATIC_MAX_COMMANDS = 6


def static_output(script: Script) -> str | None:
    """The stdout of ``script`` when it is a pipeline of echo/printf and decoders with literal words."""
    cmds = script.commands
    if script.errors or not cmds or len(cmds) > STATIC_MAX_COMMANDS:
        return None
    pid = cmds[0].pipes[-1][0] if cmds[0].pipes else None
    text: str | None = None
    for i, cmd in enumerate(cmds):
        if cmd.assignments or not cmd.words or any(w.dynamic or w.subs or w.procsub for w in cmd.words):
            return None
        heredocs = [r for r in cmd.redirects if r.op in ("<<", "<<-", "<<<")]
        if any(r not in heredocs and (r.target is None or r.target.text != "/dev/null") for r in cmd.redirects):
            return None
        if len(heredocs) > 1 or (heredocs and (i > 0 or argv_name(cmd) != "cat" or len(cmd.words) > 1)):
            return None
        if not cmd.pipes or cmd.pipes[-1] != (pid, i):
            return None
        argv = [w.text for w in cmd.words]
        name = argv[0].rsplit("/", 1)[-1]
        if i == 0:
            if heredocs:
                body = heredocs[0].heredoc if heredocs[0].op != "<<<" else None
                target = heredocs[0].target
                if body is None and (target is None or target.dynamic or target.subs):
                    return None
                text = body if body is not None else (target.text + "\n" if target is not None else "")
            elif name == "echo":
                text = _echo(argv[1:])
            elif name == "printf":
                text = _printf(argv[1:])
            else:
                return None
            continue
        assert text is not None
        if name in ("base64", "openssl") and any(a in ("-d", "--decode", "-D") for a in argv[1:]):
            text = _b64(text)
            if text is None:
                return None
        elif name == "xxd" and "-r" in argv and "-p" in argv:
            try:
                text = bytes.fromhex(re.sub(r"\s+", "", text)).decode("utf-8", errors="replace")
            except ValueError:
                return None
        elif name == "rev":
            text = "\n".join(line[::-1] for line in text.split("\n"))
        elif name == "cat" and len(argv) == 1:
            pass
        else:
            return None
    return text
