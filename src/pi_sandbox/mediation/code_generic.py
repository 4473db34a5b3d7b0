"""Perl, Ruby, PHP, Lua, Tcl, awk and AppleScript code, read with patterns over literals.

These languages have no grammar among our dependencies, and one-liners in them are short: string
literals are extracted (adjacent literals joined, as awk and PHP concatenation do), and calls that
spawn, delete, open sockets, download or evaluate are recognised per language. What is handed to a
spawn or an eval without being a literal taints the result (decoded, downloaded, or unknown).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from pi_sandbox.mediation.code_facts import DECODED, DYNAMIC, FETCHED, CodeFacts
from pi_sandbox.mediation.shell_static import decode_ansi_c

_STR = r"""(?:"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')"""
_LITERALS = re.compile(_STR, re.S)
#: a run of string literals joined by concatenation operators (or juxtaposed, as in awk)
_ARG = rf"(?P<arg>{_STR}(?:\s*(?:\.|\+|\.\.|,)?\s*{_STR})*)"

#: language → call names that run a shell command string
SHELL_CALLS: Mapping[str, str] = {
    "perl": r"system|exec|readpipe|open\s*\(\s*\w+\s*,\s*['\"]-?\|",
    "ruby": r"system|exec|spawn|%x|IO\.popen|Open3\.\w+|Kernel\.system|Kernel\.exec|Process\.spawn|popen",
    "php": r"system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec",
    "lua": r"os\.execute|io\.popen",
    "tcl": r"exec|spawn|open\s+\|",
    "awk": r"system",
    "applescript": r"do\s+shell\s+script",
}
_DELETE_RECURSIVE = r"rmtree|remove_tree|rm_rf|rm_r|remove_dir|remove_entry_secure|remove_entry|FileUtils\.rm_rf"
_DELETE = r"unlink|File\.delete|os\.remove|rmdir|Dir\.rmdir|file\s+delete"
_SOCKET = re.compile(
    r"IO::Socket|Socket\b|TCPSocket|UDPSocket|fsockopen|stream_socket_client|socket_create|socket\.tcp|"
    r"socket\.connect|/inet/(?:tcp|udp)|require\s*\(?\s*['\"]socket['\"]|\bsocket\s+-|\bsocket\s+\w|Net::Telnet|lsocket"
)
_FETCH = re.compile(
    r"LWP::|HTTP::Tiny|Net::HTTP|open-uri|URI\.open|Net::HTTP|file_get_contents\s*\(\s*['\"]https?:|curl_exec|"
    r"http\.request|socket\.http|::http::geturl|fopen\s*\(\s*['\"]https?:"
)
_DECODE = re.compile(
    r"decode_base64|MIME::Base64|unpack\s*\(?\s*['\"][mu]|base64_decode|Base64\.(?:decode64|strict_decode64|"
    r"urlsafe_decode64)|\.unpack1?\s*\(\s*['\"]m|gzinflate|gzuncompress|str_rot13|hex2bin|pack\s*\(\s*['\"]H|"
    r"mime\.unb64|from_base64|binary\s+decode|base64\s*-d"
)
_EVAL = {
    "perl": r"\beval\s*(?!\{)",
    "ruby": r"\b(?:eval|instance_eval|class_eval|module_eval|binding\.eval)\b",
    "php": r"\b(?:eval|assert|create_function|preg_replace\s*\(\s*['\"].*?/e)\b",
    "lua": r"\b(?:load|loadstring|dofile|loadfile)\b",
    "tcl": r"\b(?:eval|uplevel|subst)\b",
    "awk": r"(?!)",
    "applescript": r"\brun\s+script\b",
}
_HOME = re.compile(r"\$ENV\{\s*['\"]?HOME['\"]?\s*\}|ENV\[\s*['\"]HOME['\"]\s*\]|Dir\.home|getenv\s*\(\s*['\"]HOME['\"]"
                   r"|os\.getenv\s*\(\s*['\"]HOME['\"]|File\.expand_path\s*\(\s*['\"]~['\"]|\$::env\(HOME\)|\$HOME")
_BACKTICK = re.compile(r"`([^`]*)`")
_QUOTED = r"\s*(?:\{(?P<a>.*?)\}|\((?P<b>.*?)\)|\[(?P<c>.*?)\]|<(?P<d>.*?)>|(?P<q>[|/!#'\"])(?P<e>.*?)(?P=q))"
_PERL_QX = re.compile(r"\bqx" + _QUOTED, re.S)
_RUBY_X = re.compile(r"%x" + _QUOTED, re.S)
_RUN = rf"{_STR}(?:\s*(?:\.|\+|\.\.)?\s*{_STR})*"
_AWK_PIPE = re.compile(rf"\|\s*&?\s*{_RUN}|{_RUN}\s*\|\s*&?\s*getline")
#: ``fork`` repeated by a loop construct, in any of its shapes: a loop before it (``while (1) { fork }``,
#: ``until false; fork``, ``for(;;)``, ruby's ``loop``/``.times``/``.step``/``.each`` blocks), a statement modifier
#: after it (perl/ruby ``fork while 1``, ``fork until 0``, ``fork for 1..1e9``), or a block that restarts itself
#: (perl ``{ fork; redo }``). Before, the modifier forms (``perl -e 'fork while 1'``) were no finding at all.
_FORK: Final = r"\b(?:pcntl_)?fork\b"
_FORK_LOOP = re.compile(
    rf"{_FORK}[^\n;]{{0,40}}\b(?:while|until|for|foreach)\b|(?:\bwhile\b|\buntil\b)[^\n]{{0,40}}{_FORK}|"
    rf"for\s*\(\s*;\s*;\s*\)[^\n]{{0,40}}{_FORK}|\b(?:loop|times|step|each|upto|downto)\b\s*(?:\([^)]{{0,20}}\)\s*)?"
    rf"(?:\{{|\bdo\b)[^}}]{{0,40}}{_FORK}|{_FORK}[^}}]{{0,40}}\bredo\b|\bredo\b[^}}]{{0,40}}{_FORK}")
_SPAWN_WORD = re.compile(r"dup2|pty|/bin/(?:ba)?sh\b|\bsh\s+-i|exec\s*\(|spawn|\bsystem\b|popen|proc_open|"
                         r"shell_exec|\|&|getline|cmd\.exe|\bexec\b")


def literals(text: str) -> list[str]:
    """Adjacent/concatenated string literals of ``text`` joined into one value each."""
    return [_join(m.group(0)) for m in re.finditer(_RUN, text, re.S)]


def _join(run: str) -> str:
    parts = []
    for match in _LITERALS.finditer(run):
        body = match.group(0)[1:-1]
        parts.append(decode_ansi_c(body) if match.group(0)[0] == '"' else body.replace("\\'", "'"))
    return "".join(parts)


def analyse(language: str, code: str) -> CodeFacts:
    """Facts about ``code`` in ``language`` (a key of :data:`SHELL_CALLS`)."""
    facts = CodeFacts(language)
    facts.strings = literals(code)
    calls = SHELL_CALLS[language]
    for match in re.finditer(rf"(?:{calls})\s*\(?\s*", code):
        rest = code[match.end():]
        arg = re.match(_ARG, rest, re.S)
        facts.spawn = True
        if arg is not None and not re.match(r"\s*(?:[.+]|\.\.)\s*[\w$]", rest[arg.end():]):
            items = [_join(m.group(0)) for m in re.finditer(_RUN, arg.group(0))]
            if "," in arg.group(0) and len(items) > 1 and language in ("perl", "ruby", "tcl"):
                facts.argvs.append(items)
            else:
                facts.shell_texts.append("".join(items))
        elif language == "tcl" and re.match(r"(?:exec|spawn)\b", match.group(0)):
            words = re.match(r"[^\]\n;]*", rest)
            facts.argvs.append((words.group(0) if words else "").split())
        else:
            facts.spawn_taints |= _taints(rest[:200])
    if language in ("perl", "ruby", "php"):
        for match in _BACKTICK.finditer(code):
            facts.spawn = True
            facts.shell_texts.append(match.group(1))
    for pattern in (_PERL_QX if language == "perl" else None, _RUBY_X if language == "ruby" else None):
        for match in pattern.finditer(code) if pattern else ():
            facts.spawn = True
            facts.shell_texts.append(next(g for g in match.group("a", "b", "c", "d", "e") if g is not None))
    if language == "awk":
        for match in _AWK_PIPE.finditer(code):
            facts.spawn = True
            facts.shell_texts.append(_join(match.group(0).replace("getline", "").strip(" |&")))
        if re.search(r"\|\s*&?\s*[A-Za-z_$]|[A-Za-z_$)]\s*\|\s*&?\s*getline", code):
            facts.spawn = True
            facts.spawn_taints.add(DYNAMIC)
    for match in re.finditer(rf"(?:{_EVAL[language]})\s*\(?\s*", code):
        rest = code[match.end():match.end() + 300]
        arg = re.match(_ARG, rest, re.S)
        if arg is not None and not re.match(r"\s*[.+]", rest[arg.end():]):
            facts.decoded_code.append(_join(arg.group(0)))
        else:
            facts.exec_taints |= _taints(rest)
    for match in re.finditer(rf"\b(?:{_DELETE_RECURSIVE})\b\s*\(?\s*", code):
        facts.deletes.append((_target(code[match.end():match.end() + 200]), True))
    for match in re.finditer(rf"\b(?:{_DELETE})\b\s*\(?\s*", code):
        facts.deletes.append((_target(code[match.end():match.end() + 200]), False))
    facts.socket = bool(_SOCKET.search(code))
    facts.fetch = bool(_FETCH.search(code))
    facts.fd_redirect = bool(_SPAWN_WORD.search(code)) and facts.socket
    facts.fork_loop = bool(_FORK_LOOP.search(code))
    if _DECODE.search(code) and (facts.spawn or facts.exec_taints or facts.decoded_code):
        facts.exec_taints.add(DECODED)
    return facts


def _taints(text: str) -> set[str]:
    if _DECODE.search(text):
        return {DECODED}
    if _FETCH.search(text):
        return {FETCHED}
    return {DYNAMIC}


def _target(rest: str) -> str | None:
    if _HOME.match(rest) or re.match(r"(?:File\.expand_path\s*\(\s*)?['\"]~['\"]", rest):
        return "~"
    arg = re.match(_STR, rest)
    return _join(arg.group(0)) if arg else None
