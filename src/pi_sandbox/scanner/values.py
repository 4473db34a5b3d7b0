"""Abstract values of the static resolver, and the decoders it folds through.

The resolver never runs code. It computes what an expression *is* when that can be known from the
source alone: a constant string (possibly built from pieces or decoded from base64/hex/char codes),
a reference to a tracked global or module member (``process.binding``, ``mod:child_process.exec``),
an array of values, a function, or unknown. ``obfuscated`` records that a string or member name was
built from pieces or escapes instead of being written plainly; ``decoded`` that it went through a
decoder. Both matter for the verdict: benign code spells ``require('fs')`` plainly.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field, replace
from typing import Final, TypedDict
from urllib.parse import unquote

STR: Final = "str"
NUM: Final = "num"
BOOL: Final = "bool"  # text "true" / "false"
REF: Final = "ref"
ARR: Final = "arr"
FUNC: Final = "func"
OBJ: Final = "obj"
BUF: Final = "buf"
PROP: Final = "prop"  # one property of an object literal: text = key, items = (value,)
COMPUTED: Final = "computed"
UNKNOWN_KIND: Final = "unknown"

#: Longest constant string the resolver keeps (folding is for names and short payloads).
MAX_STR: Final = 1 << 16
MAX_ITEMS: Final = 4096


class Marks(TypedDict):
    """How a value was obtained: built from pieces (``obfuscated``), through a decoder (``decoded``)."""

    obfuscated: bool
    decoded: bool


@dataclass(frozen=True, slots=True)
class Val:
    """An abstract value: see the module docstring for the kinds."""

    kind: str
    path: str = ""
    text: str = ""
    items: tuple[Val, ...] = ()
    obfuscated: bool = False
    decoded: bool = False
    #: How the value got here, for the finding's explanation (``atob(...)``, ``k``): not part of equality.
    via: tuple[str, ...] = field(default=(), compare=False)

    @property
    def known_text(self) -> str | None:
        """The constant text of a string, number or boolean, else None."""
        if self.kind in (STR, NUM, BOOL):
            return self.text
        return None

    @property
    def number(self) -> float | None:
        """The numeric value (JS ``Number(x)`` of a constant), else None."""
        if self.kind == NUM:
            return to_number(self.text)
        if self.kind == BOOL:
            return 1.0 if self.text == "true" else 0.0
        if self.kind == STR:
            return to_number(self.text.strip() or "0")
        return None

    @property
    def truthy(self) -> bool | None:
        """JS truthiness of a constant, else None."""
        if self.kind == BOOL:
            return self.text == "true"
        if self.kind == STR:
            return bool(self.text)
        if self.kind == NUM:
            n = to_number(self.text)
            return n is not None and n != 0 and n == n
        if self.kind in (ARR, OBJ, FUNC, REF, BUF):
            return True
        return None


UNKNOWN: Final = Val(UNKNOWN_KIND)
TRUE: Final = Val(BOOL, text="true")
FALSE: Final = Val(BOOL, text="false")
#: Trail entries kept per value (the explanation shows the first and last ones).
MAX_VIA: Final = 6
FUNCTION_VALUE: Final = Val(FUNC)
OBJECT_VALUE: Final = Val(OBJ)


def ref(path: str, *, obfuscated: bool = False, decoded: bool = False) -> Val:
    """A reference to a tracked global or module member."""
    return Val(REF, path=path, obfuscated=obfuscated, decoded=decoded)


def string(text: str, *, obfuscated: bool = False, decoded: bool = False) -> Val:
    """A constant string (truncated to :data:`MAX_STR` characters)."""
    return Val(STR, text=text[:MAX_STR], obfuscated=obfuscated, decoded=decoded)


def array(items: tuple[Val, ...], *, obfuscated: bool = False, decoded: bool = False,
          via: tuple[str, ...] = (), path: str = "") -> Val:
    """An array of abstract values (at most :data:`MAX_ITEMS`)."""
    return Val(ARR, path=path, items=items[:MAX_ITEMS], obfuscated=obfuscated, decoded=decoded, via=via)


def boolean(flag: bool) -> Val:
    """A constant boolean."""
    return TRUE if flag else FALSE


def number(value: float) -> Val:
    """A constant number, written as JS prints it (``65``, ``1.5``, ``NaN``)."""
    return Val(NUM, text=format_number(value))


def format_number(value: float) -> str:
    """JS ``String(n)`` for the numbers folding meets (integers, simple fractions, NaN, Infinity)."""
    value = float(value)
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def to_number(text: str) -> float | None:
    """JS ``Number(text)`` for decimal, hex, octal and binary literals; None when it is not a number."""
    clean = text.strip().replace("_", "")
    try:
        if clean.lower().startswith(("0x", "0o", "0b")):
            return float(int(clean, 0))
        if clean in ("NaN", "Infinity", "-Infinity"):
            return float(clean.replace("Infinity", "inf"))
        return float(clean)
    except ValueError:
        return None


def with_via(value: Val, step: str) -> Val:
    """``value`` with ``step`` appended to its trail (kept short)."""
    if not step or (value.via and value.via[-1] == step):
        return value
    trail = (*value.via, step)
    if len(trail) > MAX_VIA:
        trail = (*trail[:2], "…", *trail[-(MAX_VIA - 3):])
    return replace(value, via=trail)


def tainted(value: Val, *, obfuscated: bool = False, decoded: bool = False) -> Val:
    """``value`` with the obfuscation/decoding marks of its inputs added."""
    if (obfuscated and not value.obfuscated) or (decoded and not value.decoded):
        return replace(value, obfuscated=value.obfuscated or obfuscated, decoded=value.decoded or decoded)
    return value


# --- escapes ------------------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[0-7]{1,3}|\r\n|[\s\S])")
_SIMPLE_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}


def _is_hiding_char(ch: str) -> bool:
    """True when an escape spells a plain printable ASCII character: nobody needs to escape those."""
    return ch.isascii() and (ch.isalnum() or ch in "_$./:-")


def decode_escapes(raw: str) -> tuple[str, bool]:
    """Decode JS string/identifier escapes in ``raw``.

    Returns the decoded text and whether any escape spelled a plain ASCII letter/digit (an
    obfuscation signal: ``'\\x65val'``). Line continuations are removed.
    """
    if "\\" not in raw:
        return raw, False
    hiding = False

    def sub(match: re.Match[str]) -> str:
        nonlocal hiding
        body = match.group(1)
        if body[0] == "u" and len(body) > 1 and (body[1] == "{" or len(body) == 5):
            code = int(body[2:-1] if body[1] == "{" else body[1:], 16)
            ch = chr(code) if code <= 0x10FFFF else "\ufffd"
        elif body[0] == "x" and len(body) == 3:
            ch = chr(int(body[1:], 16))
        elif body[0] in "01234567":
            ch = "\0" if body == "0" else chr(int(body, 8))
        elif body in ("\n", "\r\n", "\r", "\u2028", "\u2029"):
            return ""
        else:
            return _SIMPLE_ESCAPES.get(body, body)
        if _is_hiding_char(ch):
            hiding = True
        return ch

    return _ESCAPE.sub(sub, raw), hiding


def literal_text(raw: str) -> tuple[str, bool]:
    """Decode the source text of a string literal (quotes included)."""
    if len(raw) >= 2 and raw[0] in "'\"`" and raw[-1] == raw[0]:
        raw = raw[1:-1]
    return decode_escapes(raw)


# --- decoders -----------------------------------------------------------------------------------

_B64_CHARS = re.compile(r"^[A-Za-z0-9+/_\-\s]*={0,2}\s*$")


def decode_base64(text: str) -> str | None:
    """Decode standard or URL-safe base64 text to a string (latin-1 fallback), or None."""
    if not _B64_CHARS.match(text):
        return None
    compact = re.sub(r"\s+", "", text).replace("-", "+").replace("_", "/")
    compact += "=" * (-len(compact) % 4)
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    return bytes_to_text(data)


def decode_hex(text: str) -> str | None:
    """Decode a hex string to text, or None."""
    try:
        return bytes_to_text(bytes.fromhex(text))
    except ValueError:
        return None


def bytes_to_text(data: bytes) -> str:
    """UTF-8 when valid, else latin-1 (every byte maps to one character)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def decode_buffer(text: str, encoding: str) -> str | None:
    """What ``Buffer.from(text, encoding).toString()`` yields, or None when unknown."""
    enc = encoding.lower().replace("-", "")
    if enc in ("base64", "base64url"):
        return decode_base64(text)
    if enc == "hex":
        return decode_hex(text)
    if enc in ("utf8", "ascii", "latin1", "binary", "ucs2", "utf16le"):
        return text
    return None


def char_codes(values: tuple[Val, ...], *, code_points: bool = False) -> str | None:
    """``String.fromCharCode(...)`` (or ``fromCodePoint``) over constant numbers, or None."""
    out = []
    for v in values:
        n = v.number if v.kind in (NUM, STR) else None
        if n is None or n != n:
            return None
        code = int(n) if code_points else int(n) & 0xFFFF  # fromCharCode takes the code unit mod 2^16
        if not 0 <= code <= 0x10FFFF:
            return None
        out.append(chr(code) if not 0xD800 <= code <= 0xDFFF else "\ufffd")
    return "".join(out)


def url_decode(text: str) -> str:
    """``decodeURIComponent`` / ``unescape`` of constant text."""
    text = re.sub(r"%u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    return unquote(text)


def number_text(raw: str) -> str:
    """Normalise a numeric literal's text (``0x41`` → ``65``) so it can be concatenated."""
    value = to_number(raw.rstrip("nN") if raw.lower().startswith(("0x", "0o", "0b")) else raw.rstrip("n"))
    return raw.replace("_", "") if value is None else format_number(value)
