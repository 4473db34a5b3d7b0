"""The secret broker: what environment an extension (or its child processes) may see, and redaction.

The broker is built from the supervisor's environment. It decides per variable name whether an
extension may read it (``allowed``), gets the placeholder instead (``redacted``) or is refused
(``denied``: loader/injection variables an extension has no business reading). Because it knows the
real values it withholds, it can remove them exactly from anything leaving the supervisor — raw and
encoded as base64 (standard and URL-safe, at each of the three byte alignments), hex (either case),
URL-encoding and JSON escaping — in one Aho-Corasick pass.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import ahocorasick_rs
import orjson

from pi_sandbox.config.model import SecretBrokerSettings
from pi_sandbox.hashing import sha256_hex
from pi_sandbox.mediation import secret_rules as S
from pi_sandbox.mediation.secret_names import name_rule

#: Values shorter than this are not redacted: replacing every "abc" in all output would destroy it.
MIN_SECRET_CHARS: Final = 6
#: Encoded forms shorter than this are skipped for the same reason.
MIN_FORM_CHARS: Final = 8
#: The sandbox's own control variables: an extension may not read them at all.
_DENIED_NAMES: Final = frozenset({"PI_SECURITY_DIR", "PI_LEDGER_SIGNING_KEY"})


@dataclass(frozen=True, slots=True)
class SecretDecision:
    """The broker's verdict on one variable name; carries the name's hash, never the value."""

    name_hash: str
    verdict: str  # allowed | redacted | denied
    rule: str

    @property
    def withheld(self) -> bool:
        """True when the value must not reach the extension."""
        return self.verdict != "allowed"

    def record_payload(self) -> dict[str, str]:
        """The ``secret_broker`` record."""
        return {"name_hash": self.name_hash, "verdict": self.verdict, "rule": self.rule}


def name_hash(name: str) -> str:
    """SHA-256 hex of a variable name (what records carry instead of the name)."""
    return sha256_hex(name)


def value_fingerprint(value: str) -> str:
    """First 16 hex of SHA-256 of a secret value: enough to correlate alerts, useless to recover it."""
    return sha256_hex(value)[:16]


def os_bytes(value: str) -> bytes:
    """The bytes of an environment value as the OS holds them: Python decodes undecodable bytes to lone
    surrogates (``surrogateescape``), which are turned back here; any other lone surrogate is kept as
    its own three bytes rather than refused."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def encoded_forms(value: str) -> set[str]:
    """Every spelling of ``value`` redaction looks for (raw, base64 x3 alignments x2 alphabets, hex, URL, JSON)."""
    raw = os_bytes(value)
    forms = {value, raw.hex(), raw.hex().upper()}
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode("ascii")
        # Keep only the characters that depend on the value's bytes alone, so the form is found
        # wherever the value sits inside a larger base64 stream.
        start = -(-8 * shift // 6)
        end = (8 * (shift + len(raw))) // 6
        core = encoded[start:end]
        forms.add(core)
        forms.add(core.replace("+", "-").replace("/", "_"))
    forms.add(urllib.parse.quote(raw, safe=""))
    forms.add(urllib.parse.quote_plus(raw, safe=""))
    forms.add(json.dumps(value)[1:-1])
    return {f for f in forms if len(f) >= MIN_FORM_CHARS or f == value}


class Redactor:
    """Replaces every spelling of a fixed set of secret values with a placeholder."""

    def __init__(self, values: Iterable[str], placeholder: str) -> None:
        owner: dict[str, str] = {}
        for value in values:
            if len(value) >= MIN_SECRET_CHARS:
                for form in encoded_forms(value):
                    owner.setdefault(form, value_fingerprint(value))
        self.placeholder = placeholder
        self._forms = sorted(owner, key=len, reverse=True)
        self._owner = [owner[f] for f in self._forms]
        self._text = (
            ahocorasick_rs.AhoCorasick(self._forms, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
            if self._forms
            else None
        )
        # Bytes: each form as UTF-8. A form holding a lone surrogate (a value with an undecodable byte) is
        # there twice: as the OS bytes a child prints, and as the three bytes of the surrogate itself.
        byte_owner: dict[bytes, str] = {}
        for form, fingerprint in zip(self._forms, self._owner, strict=True):
            byte_owner.setdefault(os_bytes(form), fingerprint)
            byte_owner.setdefault(form.encode("utf-8", "surrogatepass"), fingerprint)
        byte_forms = sorted(byte_owner, key=len, reverse=True)
        self._bytes_owner = [byte_owner[f] for f in byte_forms]
        self._bytes = (
            ahocorasick_rs.BytesAhoCorasick(byte_forms, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
            if byte_forms
            else None
        )
        self._placeholder_bytes = placeholder.encode("utf-8")
        self._json = self._json_automaton(self._forms)

    @staticmethod
    def _json_automaton(forms: list[str]) -> ahocorasick_rs.BytesAhoCorasick | None:
        """Every form as it appears inside a JSON string written by ``orjson`` (None: no forms, or one that
        JSON cannot hold, such as a lone surrogate from an undecodable environment byte).

        JSON escapes character by character, so a form inside a string is, escaped, inside that string escaped:
        one search over a value's JSON finds every string of it (keys included) that holds a form."""
        try:
            escaped = [orjson.dumps(f)[1:-1] for f in forms]
        except orjson.JSONEncodeError:
            return None
        return ahocorasick_rs.BytesAhoCorasick(escaped) if escaped else None

    def holds_none(self, value: Any) -> bool:
        """True when no string inside the JSON-like ``value`` (keys included) holds a form; False when one
        may (a match across JSON syntax) or ``value`` is not plain JSON (the caller then looks string by string)."""
        if self._json is None:
            return False
        try:
            data = orjson.dumps(value)
        except (TypeError, orjson.JSONEncodeError):  # bytes, non-text keys, huge ints, deep nesting...
            return False
        return not self._json.find_matches_as_indexes(data)

    def __bool__(self) -> bool:
        return bool(self._forms)

    def redact_text(self, text: str) -> str:
        """``text`` with every secret spelling replaced."""
        if self._text is None or not text:
            return text
        try:
            matches = self._text.find_matches_as_indexes(text)
        except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800" from an extension): search its bytes
            # (surrogatepass both ways: the text comes back unchanged but for the placeholders)
            return self.redact_bytes(text.encode("utf-8", "surrogatepass")).decode("utf-8", "surrogatepass")
        if not matches:
            return text
        out: list[str] = []
        last = 0
        for _index, start, end in matches:
            out.append(text[last:start])
            out.append(self.placeholder)
            last = end
        out.append(text[last:])
        return "".join(out)

    def spans(self, text: str) -> list[tuple[int, int]] | None:
        """``(start, end)`` of every secret spelling in ``text``, left to right: the pieces :meth:`redact_text`
        replaces. None when ``text`` holds one but its places cannot be told (a lone surrogate: the search ran on
        bytes), so a caller that must keep the values whole refuses instead of guessing."""
        if self._text is None or not text:
            return []
        try:
            return [(start, end) for _index, start, end in self._text.find_matches_as_indexes(text)]
        except UnicodeEncodeError:
            data = text.encode("utf-8", "surrogatepass")
            return [] if self.redact_bytes(data) == data else None

    def redact_bytes(self, data: bytes, *, keep_lines: bool = False) -> bytes:
        """``data`` with every secret spelling (as UTF-8 bytes) replaced; ``keep_lines``: each placeholder is
        followed by as many line breaks as the spelling it replaced held (the lines after it keep their numbers)."""
        if self._bytes is None or not data:
            return data
        matches = self._bytes.find_matches_as_indexes(data)
        if not matches:
            return data
        out: list[bytes] = []
        last = 0
        for _index, start, end in matches:
            out.append(data[last:start])
            out.append(self._placeholder_bytes)
            if keep_lines:
                out.append(b"\n" * data.count(b"\n", start, end))
            last = end
        out.append(data[last:])
        return b"".join(out)

    def first_match(self, data: str | bytes) -> str | None:
        """Fingerprint (``value_fingerprint``) of the first secret found in ``data``, or None."""
        if isinstance(data, str) and self._text is not None:
            try:
                found = self._text.find_matches_as_indexes(data)
            except UnicodeEncodeError:  # a lone surrogate: search the text's bytes instead
                data = data.encode("utf-8", "surrogatepass")
            else:
                return self._owner[found[0][0]] if found else None
        if isinstance(data, bytes):
            found = self._bytes.find_matches_as_indexes(data) if self._bytes is not None else []
            return self._bytes_owner[found[0][0]] if found else None
        return None


class SecretBroker:
    """Per-environment secret decisions, the child environment, and exact redaction."""

    def __init__(self, settings: SecretBrokerSettings, environ: Mapping[str, str]) -> None:
        self.settings = settings
        self.placeholder = settings.redaction_placeholder
        self._environ = dict(environ)
        self._allow = frozenset(n.upper() for n in settings.disclosure_allowlist)
        self._extra_names = frozenset(n.upper() for n in settings.extra_names)
        self._extra_suffixes = tuple(s.upper() for s in settings.extra_suffixes)
        self._extra_prefixes = tuple(p.upper() for p in settings.extra_prefixes)
        self._decisions: dict[str, SecretDecision] = {}
        withheld = [value for name, value in self._environ.items() if self.is_secret(name).withheld]
        self.redactor = Redactor(withheld, self.placeholder)

    # ------------------------------------------------------------------ decisions
    def is_secret(self, name: str) -> SecretDecision:
        """Verdict and rule for ``name`` (value rules apply when the variable is set).

        Remembered only for the names the environment holds (a fixed set): an extension asks about any names it
        likes, and remembering each one (names of any length) grew the supervisor without bound, ~6 MB a second
        from one extension reading ``process.env[<200 KB name> + n]`` in a loop."""
        cached = self._decisions.get(name)
        if cached is not None:
            return cached
        decision = SecretDecision(name_hash(name), *self._verdict(name))
        if name in self._environ:
            self._decisions[name] = decision
        return decision

    def _verdict(self, name: str) -> tuple[str, str]:
        upper = name.upper()
        if not self.settings.enabled:
            return ("allowed", "broker_disabled")
        if upper in self._allow:
            return ("allowed", "disclosure_allowlist")
        if upper in _DENIED_NAMES:
            return ("denied", "sandbox_control_variable")
        rule = name_rule(
            name,
            extra_names=self._extra_names,
            extra_suffixes=self._extra_suffixes,
            extra_prefixes=self._extra_prefixes,
        )
        if rule is not None:
            return ("redacted", rule)
        value = self._environ.get(name)
        if value:
            found = S.value_rule(value)
            if found is not None:
                return ("redacted", found)
        return ("allowed", "no_rule_matched")

    def read(self, name: str) -> str | None:
        """What an extension reading ``name`` gets: the value, the placeholder, or None (unset or denied)."""
        if name not in self._environ:
            return None
        verdict = self.is_secret(name).verdict
        if verdict == "allowed":
            return self._environ[name]
        return self.placeholder if verdict == "redacted" else None

    def is_set(self, name: str) -> bool:
        """True when ``name`` is set in the environment the broker guards."""
        return name in self._environ

    def visible_names(self) -> list[str]:
        """Names an extension may see when it lists the environment (secrets are not listed)."""
        return sorted(n for n in self._environ if self.is_secret(n).verdict == "allowed")

    def withheld_count(self) -> int:
        """How many variables of the environment are withheld."""
        return sum(1 for n in self._environ if self.is_secret(n).withheld)

    # ------------------------------------------------------------------ children
    def child_environment(
        self, extra: Mapping[str, str] | None = None, allowed: Collection[str] = ()
    ) -> dict[str, str]:
        """A minimal environment for a child process: safe base variables plus the extension's extras.

        Never a withheld variable, never an injection variable (``LD_PRELOAD``, ``NODE_OPTIONS``...)
        or an override of a base variable unless ``allowed`` (``execMediation.allowEnv``, whose command
        values exec mediation has classified) names it, never a value that carries a withheld secret.
        """
        env = {n: self._environ[n] for n in S.CHILD_BASE if n in self._environ and not self.is_secret(n).withheld}
        for name, value in (extra or {}).items():
            if not isinstance(name, str) or not isinstance(value, str) or not name or "=" in name or "\0" in name:
                continue
            injecting = name in S.CHILD_BASE or name.upper() in S.CHILD_BASE or S.is_injection_var(name)
            if injecting and name not in allowed:
                continue
            if "\0" in value or self.find_secret(value):
                continue
            env[name] = value
        return env

    @staticmethod
    def rejected_extras(extra: Mapping[str, str] | None, built: Mapping[str, str]) -> list[str]:
        """Extra names ``child_environment`` dropped (for the alert that reports them, by hash)."""
        return sorted(n for n in (extra or {}) if n not in built or built[n] != (extra or {})[n])

    # ------------------------------------------------------------------ redaction
    def redact(self, data: str | bytes) -> Any:
        """``data`` (text or bytes) with every withheld value, raw or encoded, replaced by the placeholder."""
        if isinstance(data, bytes):
            return self.redactor.redact_bytes(data)
        return self.redactor.redact_text(data)

    def redact_value(self, value: Any, _depth: int = 0) -> Any:
        """Redact every string (keys included) inside a JSON-like value.

        A value none of whose strings holds a withheld value is returned as it is (one search over its JSON,
        in C); otherwise every string is looked at, and containers are copied."""
        if _depth:
            if _depth > 200:
                return value
        else:
            # Every hostcall comes here twice (its parameters' forensic copy, its result): the outermost
            # level does :meth:`Redactor.holds_none` inline (one orjson call, one search).
            redactor = self.redactor
            if not redactor._forms:
                return value
            kind = type(value)
            if kind is str:
                return redactor.redact_text(value)
            if value is None or kind is bool or kind is int or kind is float:
                return value
            if redactor._json is not None:
                try:
                    data = orjson.dumps(value)
                except (TypeError, orjson.JSONEncodeError):  # not plain JSON: string by string below
                    pass
                else:
                    if not redactor._json.find_matches_as_indexes(data):
                        return value
        if isinstance(value, str):
            return self.redactor.redact_text(value)
        if isinstance(value, bytes):
            return self.redactor.redact_bytes(value)
        if isinstance(value, Mapping):
            return {self.redact_value(k, _depth + 1): self.redact_value(v, _depth + 1) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.redact_value(v, _depth + 1) for v in value]
        return value

    def find_secret(self, data: str | bytes) -> bool:
        """True when ``data`` holds a withheld value in any spelling (outbound scanning)."""
        return self.redactor.first_match(data) is not None

    def secret_fingerprint(self, data: str | bytes) -> str | None:
        """Fingerprint of the first withheld value found in ``data`` (for alerts), or None."""
        return self.redactor.first_match(data)
