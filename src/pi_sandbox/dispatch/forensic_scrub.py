"""Credentials an extension sends on its own, kept out of the forensic record (INV-012: never raw secrets).

The secret broker redacts the values it withholds: the supervisor's environment. A credential an extension holds
by other means — configured for it, read from a secret file it may read, typed by the user, returned by an API —
went into the forensic record exactly as sent, and from there into the database and every evidence bundle:
``Authorization: Bearer ghp_...`` and ``X-Api-Key`` headers, ``?access_token=...`` in a URL, ``{"password": ...}``
in a request body, ``--password=...`` in an argv, ``AWS_SECRET_ACCESS_KEY=...`` in the data of a file write.

This pass replaces them in the record's copy only (the entry's ``params_hash`` still commits to what was sent):

- the value under a key that names a secret (the broker's name rules: ``password``, ``api_key``, ``X-Api-Key``,
  ``apiKey``, ``Authorization``, ``Cookie``, ``client_secret`` ...), whatever it holds; a header given as a
  ``[name, value]`` pair; the argv word after a flag that names one (``--password X``);
- inside any string: the value of a ``name=value`` / ``name: value`` pair whose name names a secret (also quoted,
  as in JSON text, and after ``Bearer`` / ``Basic`` / ``Token``), the password of a URL, and every span the
  broker's value rules recognise (token shapes, JWTs, PEM keys, credential fields, random-looking tokens).

It runs on the cut copy (strings of at most 512 bytes, bounded depth and width), so its cost is bounded too.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, Final

from pi_sandbox.mediation.secret_names import name_rule
from pi_sandbox.mediation.secret_rules import VALUE_RULES, _random_looking

#: What a credential is replaced with in the record (the broker's default placeholder).
PLACEHOLDER: Final = "[REDACTED]"
#: Strings shorter than this hold no credential worth a search (``pwd=ab`` aside: shorter than any rule's).
_MIN_CHARS: Final = 6
#: ``name = value`` / ``"name": "value"`` / ``Authorization: Bearer value`` inside a string.
_PAIR: Final = re.compile(
    r"(?<![A-Za-z0-9_.])(?P<key>[A-Za-z_][A-Za-z0-9_.\-]{0,63})(?P<sep>[\"']?[ \t]*[:=][ \t]*[\"']?)"
    r"(?P<scheme>(?:Bearer|Basic|Token|Digest)[ \t]+)?(?P<value>[^\s\"'&;,]{2,})")
#: The password of ``scheme://user:password@host``.
_URL_PASSWORD: Final = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^/\s:@]*:)([^/\s@]{3,})(?=@)", re.I)
_PEM: Final = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|$)",
                         re.S)
#: Every value rule as one search (the URL-password and PEM rules have their own spans above).
_SHAPES: Final = re.compile("|".join(f"(?:{p.pattern})" for r, p in VALUE_RULES
                                     if r not in ("value_url_with_password", "value_pem_private_key",
                                                  "value_credential_field", "value_webhook_url")))
_WEBHOOK: Final = dict(VALUE_RULES)["value_webhook_url"]
_TOKEN: Final = re.compile(r"[A-Za-z0-9+=_\-]{24,}")
#: A run no token shape goes without (the shortest: ``AKIA`` + 16, ``xox?-`` + 10, a PEM line): one cheap search
#: before the rules run, so ordinary text (paths, words, messages) costs one scan.
_RUN: Final = re.compile(r"[A-Za-z0-9_\-+=.]{14}")
_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
#: Short names the broker's table leaves alone (they mean nothing as environment variables) that do name a
#: credential as a parameter or header.
_EXTRA_NAMES: Final = frozenset({"PWD", "PASS", "PASSWD", "AUTH", "APIKEY", "API_KEY", "X_AUTH", "BEARER"})


@functools.lru_cache(maxsize=4096)
def secret_key(name: str) -> bool:
    """True when a parameter, header or field called ``name`` holds a credential (``apiKey``, ``X-Api-Key``)."""
    if not name or len(name) > 128:
        return False
    norm = _CAMEL.sub("_", name.strip().lstrip("-")).replace("-", "_").replace(".", "_").upper()
    if norm in _EXTRA_NAMES or norm.endswith("_APIKEY"):
        return True
    return name_rule(norm) is not None


def scrub_text(text: str) -> str:
    """``text`` with every credential it spells out replaced by the placeholder (see the module doc)."""
    if len(text) < _MIN_CHARS:
        return text
    spans: list[tuple[int, int]] = []
    if "=" in text or ":" in text:  # a pair, a URL's password, a webhook URL
        for found in _PAIR.finditer(text):
            if secret_key(found.group("key")):
                spans.append(found.span("value"))
        if "://" in text:  # the URL rules only where a URL is (each is a slow search over any text)
            if "@" in text:
                spans.extend(m.span(2) for m in _URL_PASSWORD.finditer(text))
            lower = text.lower()
            if "hook" in lower or "discord" in lower or "/spaces/" in lower:
                spans.extend(m.span() for m in _WEBHOOK.finditer(text))
    if _RUN.search(text) is not None:  # every token shape, PEM body and random token has such a run
        spans.extend(m.span() for m in _PEM.finditer(text))
        spans.extend(m.span() for m in _SHAPES.finditer(text))
        spans.extend(m.span() for m in _TOKEN.finditer(text) if _random_looking(m.group()))
    if not spans:
        return text
    spans.sort()
    out: list[str] = []
    last = 0
    for start, end in spans:
        if end <= last:
            continue
        if start < last:  # overlapping spans: one placeholder for both
            last = end
            continue
        out.append(text[last:start])
        out.append(PLACEHOLDER)
        last = end
    out.append(text[last:])
    return "".join(out)


def _all(value: Any) -> Any:
    """Every string inside ``value`` replaced (the value of a key that names a secret)."""
    if isinstance(value, str):
        return PLACEHOLDER if value else value
    if isinstance(value, Mapping):
        return {k: _all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_all(v) for v in value]
    return value


def scrub(value: Any) -> Any:
    """The forensic copy ``value`` (JSON-like, already cut to size) with every credential replaced."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {k: (_all(v) if isinstance(k, str) and secret_key(k) else scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) == 2 and isinstance(value[0], str) and secret_key(value[0]):  # a [name, value] header
            return [value[0], _all(value[1])]
        out: list[Any] = []
        hide_next = False
        for item in value:
            if hide_next and isinstance(item, str):
                out.append(PLACEHOLDER)
                hide_next = False
                continue
            hide_next = isinstance(item, str) and item.startswith("-") and "=" not in item and secret_key(item)
            out.append(scrub(item))
        return out
    return value
