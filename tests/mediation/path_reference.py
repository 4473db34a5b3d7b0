"""The path checks as they were before the fast path (main f5538f5): the reference the fast ones must equal.

:func:`reference_resolve` is ``PathRules.resolve`` of that version, line for line, with pathlib and
one comparison per rule (and one regex per secret-file pattern). The differential tests
(``test_path_fast.py``) compare the current resolver with it on generated paths; the benchmark
(``benchmarks/bench_mediation.py``) times both in one run. Nothing in ``src`` uses it.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
from pathlib import Path
from typing import Any

from pi_sandbox.errors import ConnectorError, PathConfinementError
from pi_sandbox.fscase import within
from pi_sandbox.hashing import is_unicode_text
from pi_sandbox.mediation.paths import (
    CONTENT_OPS,
    TRANSFER_OPS,
    WRITE_OPS,
    PathRules,
    refuse_special_file,
)
from pi_sandbox.mediation.secret_files import SecretFiles, glob_regex
from pi_sandbox.vocabulary import Reason

_JOIN_REALPATH = getattr(posixpath, "_joinrealpath", None)


def realpath_below(root: str, candidate: str) -> str:
    """The old ``realpath_below``: CPython's whole walk below ``root`` (no fast loop of its own)."""
    if _JOIN_REALPATH is not None and root != "/" and candidate.startswith(root + "/"):
        path, _ok = _JOIN_REALPATH(root, candidate[len(root):].lstrip("/"), False, {})
        return os.path.abspath(str(path))
    return os.path.realpath(candidate)


@functools.lru_cache(maxsize=64)
def _compile(patterns: tuple[str, ...]) -> tuple[tuple[int, re.Pattern[str]], ...]:
    out = []
    for pattern in patterns:
        text = pattern.strip().strip("/").lower()
        if text:
            out.append((text.count("/") + 1, re.compile(glob_regex(text))))
    return tuple(out)


def _matches(compiled: tuple[tuple[int, re.Pattern[str]], ...], parts: list[str]) -> str | None:
    for depth, regex in compiled:
        if len(parts) >= depth and regex.match("/".join(parts[-depth:])):
            return regex.pattern
    return None


def reference_secret_refused(files: SecretFiles, resolved: str) -> bool:
    """``SecretFiles.refused`` as it was: one regex per pattern."""
    parts = resolved.lower().split("/")
    return _matches(_compile(files.patterns), parts) is not None and _matches(_compile(files.allowed), parts) is None


def reference_is_secret(files: SecretFiles, path: str) -> bool:
    """``SecretFiles.is_secret`` as a plain loop over the patterns (any depth)."""
    return _matches(_compile(files.patterns), path.lower().split("/")) is not None


_TEXTS: dict[int, tuple[PathRules, tuple[str, ...], tuple[str, ...]]] = {}


def _texts(rules: PathRules) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The root and protected texts the old ``__post_init__`` kept (computed once per rules object)."""
    known = _TEXTS.get(id(rules))
    if known is None or known[0] is not rules:
        known = _TEXTS[id(rules)] = (rules, tuple(str(p) for p in rules.roots), tuple(str(p) for p in rules.protected))
    return known[1], known[2]


def reference_resolve(rules: PathRules, raw: Any, op: str = "read") -> Path:
    """``PathRules.resolve`` before the fast path."""
    root_texts, protected_texts = _texts(rules)
    if not isinstance(raw, str) or not raw:
        raise ConnectorError("fs hostcall needs a non-empty string 'path'", code="invalid_request")
    if "\x00" in raw:
        raise ConnectorError("path contains a NUL byte", code="invalid_request")
    if not is_unicode_text(raw):
        raise ConnectorError("path is not valid Unicode text (lone surrogate)", code="invalid_request")
    candidate = raw
    if raw.startswith("~"):
        try:
            candidate = str(Path(raw).expanduser())
        except RuntimeError:
            raise ConnectorError(f"cannot expand '{raw}': no such user home", code="invalid_request") from None
    if not os.path.isabs(candidate) and root_texts:
        candidate = os.path.join(root_texts[0], candidate)
    base = next((r for r in root_texts if candidate.startswith(r + "/")), None)
    text = realpath_below(base, candidate) if base is not None else os.path.realpath(candidate)
    if not any(within(text, r) for r in root_texts):
        raise PathConfinementError(
            f"path '{raw}' resolves outside the workspace and the extension's folder; extensions may only "
            "touch files under those roots"
        )
    for p in protected_texts:
        if rules.case.refuses(text, p) and not any(within(r, p) and within(text, r) for r in root_texts):
            raise PathConfinementError(
                f"path '{raw}' is pi-sandbox security state or settings; extensions may not touch it"
            )
    resolved = Path(text)
    if op in WRITE_OPS:
        _check_writable(rules, raw, resolved, op)
        _check_protected_names(rules, root_texts, raw, (os.path.normpath(candidate), text), op)
    if (op in CONTENT_OPS or op == "list") and rules.secret_files is not None \
            and reference_secret_refused(rules.secret_files, text) and not os.path.isdir(text):
        raise PathConfinementError(
            f"path '{raw}' is a file that holds secrets (.env, keys, credentials); reading, writing or "
            "searching it needs extensionPolicy.perExtension.<id>.readSecretFiles in the global settings",
            reason=Reason.SECRET_FILE,
        )
    if op in TRANSFER_OPS:
        refuse_special_file(raw, text)
    return resolved


def _check_protected_names(rules: PathRules, root_texts: tuple[str, ...], raw: str, spellings: tuple[str, ...],
                           op: str) -> None:
    for spelling in spellings:
        root = max((r for r in root_texts if within(spelling, r)), key=len, default=None)
        if root is None:
            continue
        entry = rules.names.match(spelling[len(root):])
        if entry is None and op == "delete" and os.path.isdir(spelling):
            entry = next((e for e, _ in rules.names.inside(Path(spelling))), None)
        if entry is not None:
            raise PathConfinementError(
                f"path '{raw}' is protected ({entry.path}): files that make other programs run code are "
                "never changed by extensions", reason=Reason.PROTECTED_PATH)


def _check_writable(rules: PathRules, raw: str, path: Path, op: str) -> None:
    case = rules.case
    if op == "delete" and any(path == r for r in rules.roots):
        raise PathConfinementError(f"refusing to delete an allowed root itself: '{raw}'")
    text = str(path)
    if op == "delete" and any(os.path.lexists(p) and case.refuses(str(p), text) for p in rules.protected):
        raise PathConfinementError(f"refusing to delete '{raw}': it contains pi-sandbox security state or settings")
    own = rules.own_root
    if rules.own_read_only and own is not None and (
            case.refuses(text, str(own)) or (op == "delete" and case.refuses(str(own), text))):
        raise PathConfinementError(
            f"path '{raw}' is the extension's own installed code, which is read-only to it; installed code "
            "changes only through `pi-sandbox ext install` (and is checked against its pin at every load)",
            reason=Reason.EXTENSION_CODE,
        )
    for real in rules.read_only:
        if own is not None and own != real and own.is_relative_to(real) and path.is_relative_to(own):
            continue
        if case.refuses(text, str(real)) or (op == "delete" and case.refuses(str(real), text)):
            raise PathConfinementError(
                f"path '{raw}' is inside another extension's folder; extension code can only be "
                "changed with `pi-sandbox ext install`",
                reason=Reason.EXTENSION_CODE,
            )
