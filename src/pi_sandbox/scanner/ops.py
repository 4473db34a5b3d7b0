"""JS operators over constant abstract values: what ``a ^ 7``, ``c - 97 + 13 & 31`` or ``x === 'e'`` yield.

Char-code arithmetic is how names are hidden (shifted or XOR'd codes, rot-N), so the folding has to
compute it the way JS does: ``+`` concatenates as soon as one side is a string, bitwise operators work
on 32-bit integers, ``%`` keeps the dividend's sign. Anything not constant stays unknown.
"""

from __future__ import annotations

import math
from typing import Final, TypeVar

from pi_sandbox.scanner import values as v
from pi_sandbox.scanner.values import Val

_ARITHMETIC: Final = frozenset({"-", "*", "/", "%", "**"})
_BITWISE: Final = frozenset({"^", "&", "|", "<<", ">>", ">>>"})
_COMPARISON: Final = frozenset({"<", ">", "<=", ">="})
_EQUALITY: Final = frozenset({"===", "!==", "==", "!="})
BINARY_OPERATORS: Final = _ARITHMETIC | _BITWISE | _COMPARISON | _EQUALITY | {"+"}


def _int32(value: float) -> int:
    if not math.isfinite(value):
        return 0
    n = int(value) & 0xFFFFFFFF
    return n - (1 << 32) if n >= 1 << 31 else n


def _marks(a: Val, b: Val) -> v.Marks:
    return {"obfuscated": True, "decoded": a.decoded or b.decoded}


def binary(op: str, left: Val, right: Val) -> Val:
    """``left op right`` for constants; unknown otherwise (``+`` of strings is folded by the resolver)."""
    if op == "+":
        if left.kind == v.STR or right.kind == v.STR:
            lt, rt = left.known_text, right.known_text
            if lt is None or rt is None:
                return v.UNKNOWN
            return v.string(lt + rt, **_marks(left, right))
        a, b = left.number, right.number
        if a is None or b is None:
            return v.UNKNOWN
        return v.tainted(v.number(a + b), **_marks(left, right))
    if op in _EQUALITY:
        return _equality(op, left, right)
    a, b = left.number, right.number
    if a is None or b is None:
        return v.UNKNOWN
    if op in _COMPARISON:
        if left.kind == v.STR and right.kind == v.STR:
            return v.boolean(_compare(op, left.text, right.text))
        return v.boolean(_compare(op, a, b))
    result = _arithmetic(op, a, b) if op in _ARITHMETIC else _bitwise(op, a, b)
    return v.UNKNOWN if result is None else v.tainted(v.number(result), **_marks(left, right))


_Ordered = TypeVar("_Ordered", float, str)


def _compare(op: str, a: _Ordered, b: _Ordered) -> bool:
    if op == "<":
        return a < b
    if op == ">":
        return a > b
    if op == "<=":
        return a <= b
    return a >= b


def _arithmetic(op: str, a: float, b: float) -> float | None:
    try:
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b if b else (math.nan if a == 0 or a != a else math.copysign(math.inf, a))
        if op == "%":
            return math.fmod(a, b) if b else math.nan
        return float(a**b) if abs(b) < 64 else None
    except (OverflowError, ValueError, ZeroDivisionError):
        return None


def _bitwise(op: str, a: float, b: float) -> float:
    x, y = _int32(a), _int32(b)
    if op == "^":
        return float(x ^ y)
    if op == "&":
        return float(x & y)
    if op == "|":
        return float(x | y)
    shift = y & 31
    if op == "<<":
        return float(_int32(x << shift))
    if op == ">>":
        return float(x >> shift)
    return float((x & 0xFFFFFFFF) >> shift)


def _equality(op: str, left: Val, right: Val) -> Val:
    if left.known_text is None or right.known_text is None:
        return v.UNKNOWN
    strict = op in ("===", "!==")
    if left.kind == right.kind:
        same = left.number == right.number if left.kind == v.NUM else left.text == right.text
    elif strict:
        same = False
    else:
        same = left.number is not None and left.number == right.number
    return v.boolean(same if op in ("===", "==") else not same)


def unary(op: str, operand: Val) -> Val:
    """``op operand`` for constants (``-``, ``+``, ``~``, ``!``, ``typeof`` of a string or number)."""
    if op == "!":
        truth = operand.truthy
        return v.UNKNOWN if truth is None else v.boolean(not truth)
    if op == "typeof":
        name = {v.STR: "string", v.NUM: "number", v.BOOL: "boolean", v.FUNC: "function"}.get(operand.kind)
        return v.string(name) if name else v.UNKNOWN
    n = operand.number
    if n is None:
        return v.UNKNOWN
    marks: v.Marks = {"obfuscated": operand.obfuscated, "decoded": operand.decoded}
    if op == "-":
        return v.tainted(v.number(-n), **marks)
    if op == "+":
        return v.tainted(v.number(n), **marks)
    if op == "~":
        return v.tainted(v.number(float(~_int32(n))), **marks)
    return v.UNKNOWN


def to_radix(n: float, radix: int) -> str | None:
    """``n.toString(radix)`` for integers (``(14).toString(36)`` is ``'e'``)."""
    if not n.is_integer() or not 2 <= radix <= 36:
        return None
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    value, out = abs(int(n)), ""
    while True:
        value, rem = divmod(value, radix)
        out = digits[rem] + out
        if not value:
            break
    return "-" + out if n < 0 else out


def parse_int(text: str, radix: int | None) -> float | None:
    """``parseInt(text, radix)``: the longest valid prefix, None (NaN) when there is none."""
    s = text.strip()
    sign = -1 if s.startswith("-") else 1
    s = s.lstrip("+-")
    base = radix or 10
    if (radix in (None, 16)) and s.lower().startswith("0x"):
        s, base = s[2:], 16
    if not 2 <= base <= 36:
        return None
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"[:base]
    prefix = ""
    for ch in s.lower():
        if ch not in digits:
            break
        prefix += ch
    return float(sign * int(prefix, base)) if prefix else None
