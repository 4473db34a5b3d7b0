"""Text-level signals: obfuscation (long lines, encoded blobs, obfuscator names, JSFuck) and threat
signatures (whole-environment dumps, credential stores, reverse shells, persistence locations).

These complement the AST rules in ``analyze``: they look at literal text, and the threat signatures
only fire together with the capability that would carry the threat out (network, exec, fs writes),
so a README-like string in a harmless file stays harmless.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Final

from tree_sitter import Node

LONG_LINE_CHARS: Final = 1000
LONG_STRING_BYTES: Final = 200
HIGH_ENTROPY_BITS: Final = 5.2
OBFUSCATOR_NAME_MIN: Final = 10
STRING_NODE_TYPES: Final = frozenset({"string", "string_fragment", "template_string", "escape_sequence"})

_OBFUSCATOR_NAME = re.compile(rb"\b_0x[0-9a-fA-F]{4,}\b")
_JSFUCK = re.compile(rb"[\[\]()!+]{60,}")
_BASE64ISH = re.compile(r"^[A-Za-z0-9+/=_\-]+$")
_PROTO_JSON = re.compile(rb"""\\?["']__proto__\\?["']\s*:|\\?["']constructor\\?["']\s*:\s*\{\s*\\?["']prototype""")
_CREDENTIAL_STORES = re.compile(
    rb"\.ssh/id_(?:rsa|dsa|ecdsa|ed25519)|\.aws/credentials|\.npmrc|\.git-credentials|\.netrc|/etc/shadow"
    rb"|\.docker/config\.json|\.kube/config|\.config/gh/hosts\.yml|Login Data|\.gnupg/|keychain-db"
)
_SHELL_PAYLOAD = re.compile(
    rb"/dev/tcp/|\bnc(?:at)?\s+(?:-\w+\s+)*-e\s|bash\s+-i\s*>&|\bsh\s+-i\s*[<>]|mkfifo\s+/tmp/"
    # download piped into a shell or interpreter: `curl -fsSL https://x | sh`, `wget -qO- … | sudo bash`
    rb"|\b(?:curl|wget|fetch)\b[^|'\"`\n]{0,200}\|\s*(?:sudo\s+)?(?:ba|z|da|k)?sh\b"
    rb"|\b(?:curl|wget)\b[^|'\"`\n]{0,200}\|\s*(?:sudo\s+)?(?:python3?|node|perl|ruby)\b"
    rb"|\b(?:iwr|Invoke-WebRequest|irm|Invoke-RestMethod)\b[^|'\"`\n]{0,200}\|\s*(?:iex|Invoke-Expression)\b"
)
#: Every shell payload pattern contains one of these (a byte search skips the regex for ordinary code).
_SHELL_TOKENS: Final = (b"/dev/tcp/", b"-e", b"-i", b"mkfifo", b"curl", b"wget", b"iwr", b"irm", b"Invoke-")
#: A shell program named in a string: with a raw socket and a child process in the same file, a reverse shell.
_SHELL_PROGRAM = re.compile(rb"""['"`](?:/usr)?(?:/bin/)?(?:ba|z|da|k)?sh['"`]|cmd\.exe|powershell""")
_PERSISTENCE = re.compile(
    rb"authorized_keys|LaunchAgents/|LaunchDaemons/|/etc/cron|/var/spool/cron|\.config/autostart|/etc/systemd/"
    rb"|/etc/rc\.local|\.config/systemd/user"
)

AddAt = Callable[[str, int, str], None]


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text``."""
    if not text:
        return 0.0
    counts = Counter(text)
    total = len(text)
    return -sum(c / total * math.log2(c / total) for c in counts.values())


def long_strings(strings: Iterable[Node], add: Callable[[str, Node, str], None]) -> None:
    """Long literals that look like encoded blobs (base64, hex, random)."""
    for node in strings:
        if node.end_byte - node.start_byte < LONG_STRING_BYTES:
            continue
        raw = node.text
        text = raw.decode("utf-8", "replace")[1:-1] if raw else ""
        if not text:
            continue
        compact = text.replace("\\n", "").replace("\n", "")
        looks_encoded = bool(_BASE64ISH.match(compact)) and not compact.isalpha()
        if looks_encoded or shannon_entropy(text) >= HIGH_ENTROPY_BITS:
            add("HIGH_ENTROPY_STRING", node, f"{len(text)} chars")


def text_signals(source: bytes, add_at: AddAt) -> None:
    """Whole-file obfuscation signals: very long lines, obfuscator-style names, JSFuck runs."""
    offset = 0
    for line in source.split(b"\n"):
        if len(line) > LONG_LINE_CHARS:
            add_at("LONG_LINE", offset, f"{len(line)} bytes")
            break
        offset += len(line) + 1
    names = _OBFUSCATOR_NAME.findall(source) if b"_0x" in source else []
    if len(names) >= OBFUSCATOR_NAME_MIN:
        first = _OBFUSCATOR_NAME.search(source)
        add_at("OBFUSCATOR_NAMES", first.start() if first else 0, f"{len(names)} names")
    # JSFuck cannot do without `+[]` / `![]`; the byte search skips the regex for ordinary code
    for jsfuck in _JSFUCK.finditer(source) if b"+[]" in source or b"![]" in source else ():
        run = jsfuck.group(0)
        # JSFuck needs all of [ ] ! + ; a comment ruler of `+` or `)` characters does not qualify.
        if all(ch in run for ch in b"[]!+"):
            add_at("JSFUCK_CODE", jsfuck.start(), f"{len(run)} chars")
            break


def _in_string(root: Node, start: int, end: int) -> bool:
    node = root.descendant_for_byte_range(start, end)
    while node is not None and node.type not in STRING_NODE_TYPES and node.type != "comment":
        if node.type in ("program", "statement_block", "expression_statement"):
            return False
        node = node.parent
    return node is not None and node.type in STRING_NODE_TYPES


def threat_signatures(source: bytes, root: Node, rules_seen: set[str], add_at: AddAt) -> None:
    """Literal text that shows intent, when the file also has the capability to act on it."""
    if b"__proto__" in source or (b"constructor" in source and b"prototype" in source):
        for match in _PROTO_JSON.finditer(source):
            if _in_string(root, match.start(), match.end()):
                add_at("PROTOTYPE_POLLUTION", match.start(), "__proto__ key in JSON text")
                break
    network = bool(rules_seen & {"NETWORK", "FORBIDDEN_MODULE", "RAW_SOCKET"})
    execs = bool(rules_seen & {"CHILD_PROCESS", "FORBIDDEN_MODULE", "PI_EXEC"})
    writes = bool(rules_seen & {"FS_WRITE"})
    reverse_shell = "RAW_SOCKET" in rules_seen and "CHILD_PROCESS" in rules_seen
    checks = ((network, _CREDENTIAL_STORES, "CREDENTIAL_EXFILTRATION"), (execs, _SHELL_PAYLOAD, "SHELL_PAYLOAD"),
              (writes, _PERSISTENCE, "PERSISTENCE_WRITE"), (reverse_shell, _SHELL_PROGRAM, "SHELL_PAYLOAD"))
    for enabled, pattern, rule_id in checks:
        if not enabled or (pattern is _SHELL_PAYLOAD and not any(t in source for t in _SHELL_TOKENS)):
            continue
        for match in pattern.finditer(source):
            if _in_string(root, match.start(), match.end()):
                add_at(rule_id, match.start(), match.group(0).decode("utf-8", "replace")[:40])
                break


_EVAL_LIKE_NAMES: Final = frozenset({"eval", "Function", "binding", "_linkedBinding", "dlopen", "execScript"})


def names_eval_like(strings: Iterable[Node]) -> bool:
    """Whether a string literal is exactly an eval-like global's name (``'eval'``, ``"Function"``)."""
    for node in strings:
        if node.end_byte - node.start_byte > 16:
            continue
        raw = node.text
        if raw and raw[1:-1].decode("utf-8", "replace") in _EVAL_LIKE_NAMES:
            return True
    return False
