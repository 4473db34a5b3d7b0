"""Path mediation: which files a call may touch, decided before any connector runs.

Every path is resolved with symlinks followed before the check, so ``..``, absolute paths outside
the roots and symlinks that point out are all refused the same way. The security state directory
and settings files are refused even inside a root (an extension must never edit the evidence or the
policy that judges it); other extensions' code folders are read-only; and the protected names of
``sandbox.protected`` (``.git/config``, ``.git/hooks/``, ``.envrc``, ``.vscode/`` ...) are never
changed, under any profile: a write, mkdir or delete there is refused with reason ``protected_path``.
That table is the same one the exec sandbox binds read-only, so fs and exec agree.

The mediation stage calls :meth:`PathRules.resolve` for each path a call names
(:func:`call_paths`); connectors call it again at the moment of the effect, as a backstop against a
path that changed in between. Both run the full check (the path is resolved again each time); what makes
that cheap is that the rules are compiled once (:class:`~pi_sandbox.fscase.BaseSet`: one set lookup per
ancestor of the path, not one comparison per root or read-only folder) and plain strings, not pathlib.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Final

from pi_sandbox.capabilities import canonical_fs_op
from pi_sandbox.errors import ConnectorError, PathConfinementError
from pi_sandbox.fscase import CASE_RULES, Ancestry, BaseSet, CaseRules, within
from pi_sandbox.hashing import is_unicode_text
from pi_sandbox.mediation.secret_files import SecretFiles
from pi_sandbox.sandbox.gitindex import CONFIG_NAMED, HOOKS_PATH
from pi_sandbox.sandbox.gitindex import guarded as git_guarded
from pi_sandbox.sandbox.protected import MUTATING_OPS, ProtectedNames
from pi_sandbox.vocabulary import Reason

_BUILTIN_NAMES: Final = ProtectedNames()

#: Operations that change the file system (the others only read or look).
WRITE_OPS: Final = MUTATING_OPS
#: Operations on a file's content: refused on secret files without an allow (list and stat only look).
CONTENT_OPS: Final = frozenset({"read", "write", "delete"})
#: Operations that move file contents: refused on FIFOs, sockets and devices.
TRANSFER_OPS: Final = frozenset({"read", "write"})
#: Tool name → the fs operation it performs on its ``path`` (and the default path when none is given).
TOOL_PATH_OPS: Final[Mapping[str, tuple[str, str | None]]] = {
    "read": ("read", None), "ls": ("list", "."), "find": ("list", "."), "grep": ("list", "."),
    "write": ("write", None), "edit": ("write", None),
}


def realpath(path: Path | str) -> Path:
    """``path`` with every symlink and ``..`` resolved (missing tail components kept)."""
    return Path(os.path.realpath(path))


#: How many passed (operation, spelling, resolved path) a rules object remembers before it starts over.
_PASSED_LIMIT: Final = 4096
#: Longest path a hostcall may name, in UTF-8 bytes: Linux's PATH_MAX (no system call takes a longer one).
MAX_PATH_BYTES: Final = 4096

#: CPython's step of ``realpath`` that resolves ``rest`` below an already resolved ``path`` (3.11, 3.12;
#: None where the implementation differs, and then the plain ``realpath`` is used).
_JOIN_REALPATH = getattr(posixpath, "_joinrealpath", None)


def realpath_below(root: str, candidate: str) -> str:
    """``os.path.realpath(candidate)``, resolving only what lies below ``root`` when ``candidate`` starts there.

    ``root`` must already be resolved (no symlink, no ``..``): every root of :class:`PathRules` is,
    when the rules are made. Walking from it instead of from ``/`` skips one ``lstat`` per component
    of the root (a hostcall path is resolved twice per call). ``..`` may still climb above the root;
    whatever the walk visits is resolved as ``realpath`` would (a property test compares the two).

    Plain names (no symlink, no ``..``) are walked here with one ``lstat`` each and string joins; at the
    first symlink or ``..`` the rest goes to CPython's own step from exactly that state (nothing was
    followed yet, so its loop memory starts empty), or to ``realpath`` itself where that step is missing.
    """
    return _walk_below(root, candidate)[0]


def _walk_below(root: str, candidate: str) -> tuple[str, os.stat_result | None]:
    """:func:`realpath_below`, and the ``lstat`` of the resolved path when the walk's last look was at it
    and found no symlink (then it is what ``stat`` would say); None when that is not known."""
    if root == "/" or not candidate.startswith(root + "/"):
        return os.path.realpath(candidate), None
    path = root
    rest = candidate[len(root) + 1:]
    lstat, is_link = os.lstat, stat.S_ISLNK
    last: os.stat_result | None = None  # the lstat of ``path`` (None: not looked at, or missing)
    while rest:
        name, _, tail = rest.partition("/")
        if not name or name == ".":
            rest = tail
            continue
        if name == "..":
            break
        step = path + "/" + name  # posixpath.join's answer: ``path`` never ends in "/" here
        try:
            last = lstat(step)
        except OSError:
            last = None  # missing (or unreadable): kept as written, as realpath does
        else:
            if is_link(last.st_mode):
                break
        path, rest = step, tail
    else:
        return path, last  # a resolved root plus plain names: already what abspath would make of it
    if _JOIN_REALPATH is None:
        return os.path.realpath(candidate), None
    resolved, _ok = _JOIN_REALPATH(path, rest, False, {})
    return os.path.abspath(str(resolved)), None


@dataclass(frozen=True)
class _WriteRules:
    """What a change is checked against, compiled once per rules object (on the first change asked for)."""

    #: Roots as text: deleting one is refused.
    roots: frozenset[str]
    #: Other extensions' code folders (``PathRules.read_only``).
    read_only: BaseSet
    #: The read-only folders the calling extension's own folder lies strictly inside (its own folder is
    #: exempt from them, see ``_check_writable``).
    own_exempt: frozenset[str]
    own: str | None


@dataclass(frozen=True)
class PathRules:
    """Where one extension may act: its roots, and what is refused or read-only inside them.

    Every path given here is resolved once, when the rules are made (symlinks followed): a path
    that does not exist yet is kept as written, and nothing an extension can do through fs creates
    a symlink, so the resolved forms stay valid for the rules' lifetime.
    """

    #: Allowed roots, already resolved; the first is the base for relative paths.
    roots: tuple[Path, ...]
    #: Paths no extension may touch even inside a root (the security state dir, settings files).
    protected: tuple[Path, ...] = ()
    #: Paths that may be read but never changed: extension code folders.
    read_only: tuple[Path, ...] = ()
    #: The calling extension's own folder: writable by it even inside ``read_only``, unless ``own_read_only``.
    own_root: Path | None = None
    #: Installed code is read-only to the extension itself (``ext install`` pinned it; a change would
    #: only be refused at the next load): no write, mkdir or delete in ``own_root``.
    own_read_only: bool = False
    #: Names inside the roots that are never changed (``.git/config`` ...; settings may add more).
    names: ProtectedNames = field(default=_BUILTIN_NAMES, compare=False)
    #: Files that hold secrets, with this extension's allow list (None: no secret-file rules).
    secret_files: SecretFiles | None = None
    #: How refusal checks compare paths: case-insensitively where the file system is (``pi_sandbox.fscase``).
    case: CaseRules = field(default=CASE_RULES, compare=False, repr=False)
    #: What the supervisor itself runs or imports inside the roots (``sandbox/host_code.py``: a project's ``.venv``
    #: holding pi-sandbox, an editable install's package folder): readable, never changed.
    host_code: tuple[Path, ...] = ()

    _root_texts: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _protected_texts: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _root_set: BaseSet = field(init=False, repr=False, compare=False)
    _first_base: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("roots", "protected", "read_only", "host_code"):
            object.__setattr__(self, name, tuple(realpath(p) for p in getattr(self, name)))
        if self.own_root is not None:
            object.__setattr__(self, "own_root", realpath(self.own_root))
        object.__setattr__(self, "_root_texts", tuple(str(p) for p in self.roots))
        object.__setattr__(self, "_protected_texts", tuple(str(p) for p in self.protected))
        object.__setattr__(self, "_root_set", BaseSet(self._root_texts))
        first = self._root_texts[0] if self._root_texts else "/"
        # The shortest root that every path below the first root lies below (the first root or a root above it).
        object.__setattr__(self, "_first_base",
                           None if first.endswith("/") else self._root_set.shortest_parent(first + "/x"))

    # The case-aware sets ask the file system (fscase) about each folder once: on the first resolve
    # (protected) and the first change (read-only), as the per-rule checks they replace did.
    @cached_property
    def _protected_set(self) -> BaseSet:
        return BaseSet(self._protected_texts, self.case)

    @cached_property
    def _write_rules(self) -> _WriteRules:
        own = str(self.own_root) if self.own_root is not None else None
        read_only = tuple(str(p) for p in self.read_only)
        return _WriteRules(
            roots=frozenset(self._root_texts), read_only=BaseSet(read_only, self.case),
            own_exempt=frozenset(r for r in read_only if own is not None and own != r and within(own, r)),
            own=own)

    @property
    def base(self) -> str:
        """The folder relative paths resolve against (the first root), as text."""
        return self._root_texts[0] if self._root_texts else "/"

    def resolve(self, raw: Any, op: str = "read") -> Path:
        """The resolved path for ``op`` on ``raw``; ``ConnectorError`` when it is malformed or refused."""
        return Path(self.resolve_text(raw, op))

    def resolve_text(self, raw: Any, op: str = "read") -> str:
        """:meth:`resolve` as text (what the mediation stage and the fs connector use: no pathlib object)."""
        if not isinstance(raw, str) or not raw:
            raise ConnectorError("fs hostcall needs a non-empty string 'path'", code="invalid_request")
        if "\x00" in raw:
            raise ConnectorError("path contains a NUL byte", code="invalid_request")
        if len(raw) > MAX_PATH_BYTES or len(raw.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
            # before anything walks it: the walk below copies the rest of the path at every component (n²) and
            # looks at each one, so an 8 MB path of "a/" held the supervisor's lock for minutes
            raise ConnectorError(f"path is longer than the system allows ({MAX_PATH_BYTES} bytes, ENAMETOOLONG)",
                                 code="invalid_request", reason="path_too_long")
        if not is_unicode_text(raw):
            raise ConnectorError("path is not valid Unicode text (lone surrogate)", code="invalid_request")
        candidate = raw
        base = None
        if raw.startswith("~"):
            try:
                candidate = str(Path(raw).expanduser())
            except RuntimeError:  # an unknown ~user
                raise ConnectorError(f"cannot expand '{raw}': no such user home", code="invalid_request") from None
        # Resolving below the shortest root that holds the path leaves the fewest components unresolved
        # (the walk's only shortcut) and gives realpath's answer, like any resolved root would.
        if not candidate.startswith("/") and self._root_texts:  # os.path.join's answer, without its overhead
            first = self._root_texts[0]
            candidate = (first if first.endswith("/") else first + "/") + candidate
            base = self._first_base  # a path below the first root: the shortest root is known
        elif self._first_below is not None and candidate.startswith(self._first_below):
            # An absolute path below the first root (the file tools send absolute workspace paths): the same
            # shortest root, without a set lookup per folder level of the path
            base = self._first_base
        if base is None:
            base = self._root_set.shortest_parent(candidate)
        if base is not None:
            text, looked = _walk_below(base, candidate)
        elif candidate in self._root_exact:
            # A root itself (an exec's cwd): resolved when the rules were made, as the root part of a path below
            # it is taken to be; one ``lstat`` says it is still no symlink (``realpath`` would walk it from ``/``
            # again, one ``lstat`` per component), and a root replaced by one is resolved as ``realpath`` does.
            try:
                looked = os.lstat(candidate)
            except OSError:
                looked = None
            text = os.path.realpath(candidate) if looked is not None and stat.S_ISLNK(looked.st_mode) else candidate
            if text != candidate:
                looked = None
        else:
            text, looked = os.path.realpath(candidate), None
        # The path is resolved afresh on every call (it may have changed since the last one); what the
        # resolved text then passed is a function of that text alone, remembered per rules object.
        spelled = os.path.normpath(candidate) if op in WRITE_OPS else None
        # A change's pass also depends on where git takes hooks and config from (core.hooksPath, a `.git` file
        # naming another folder): looked up afresh (an lstat and a stat) and part of what is remembered.
        key = (op, spelled, text, git_guarded(self.base) if spelled is not None else ())
        passed = self._passed
        if key not in passed and self._check(raw, op, text, spelled):
            if len(passed) >= _PASSED_LIMIT:
                passed.clear()
            passed[key] = None
        if op in TRANSFER_OPS:
            refuse_special_file(raw, text, looked)
        return text

    @cached_property
    def _first_below(self) -> str | None:
        """``first root + "/"``: what every path below the first root starts with (None: no such shortcut)."""
        return self._root_texts[0] + "/" if self._first_base is not None else None

    @cached_property
    def _root_exact(self) -> frozenset[str]:
        return frozenset(self._root_texts)

    @cached_property
    def _passed(self) -> dict[tuple[str, str | None, str, tuple[tuple[str, str], ...]], None]:
        return {}

    def _check(self, raw: str, op: str, text: str, spelled: str | None) -> bool:
        """Raise ``PathConfinementError`` when ``op`` on resolved ``text`` is refused; else whether the
        pass depended on nothing but the text (no file-system look), so that it may be remembered."""
        roots = self._root_set
        ancestry = Ancestry(text)
        if not roots.any(ancestry):
            raise PathConfinementError(
                f"path '{raw}' resolves outside the workspace and the extension's folder; extensions may only "
                "touch files under those roots"
            )
        for p in self._protected_set.matches(ancestry):
            # A root inside a protected folder (an extension's own data/tmp dirs in the state dir) is the one
            # part of it that extension may use; the rest of the folder stays refused. On a case-insensitive
            # file system ``.PI/Settings.json`` is the settings file: compared without case there (BaseSet).
            if not any(within(r, p) for r in roots.matches(ancestry)):
                raise PathConfinementError(
                    f"path '{raw}' is pi-sandbox security state or settings; extensions may not touch it"
                )
        # A delete also looks at what exists inside the folder it would remove: never remembered.
        pure = op != "delete"
        if spelled is not None:
            self._check_writable(raw, ancestry, op)
            if not self._check_protected_names(raw, (spelled,) if spelled == text else (spelled, text), op):
                pure = False  # judged by another root's repository: the remembered key holds only the first's
        # After the protected-path checks: a protected file that also holds secrets (.envrc) is refused as protected.
        # "list" too: grep/find given a secret file itself (or a link to one: ``text`` is resolved) read or name
        # just that file; listing a folder named like a secret file (a virtualenv called ``.env``) still passes.
        if (op in CONTENT_OPS or op == "list") and self.secret_files is not None and self.secret_files.refused(text):
            if not os.path.isdir(text):
                raise PathConfinementError(
                    f"path '{raw}' is a file that holds secrets (.env, keys, credentials); reading, writing or "
                    "searching it needs extensionPolicy.perExtension.<id>.readSecretFiles in the global settings",
                    reason=Reason.SECRET_FILE,
                )
            pure = False  # a folder named like a secret file passes only while it is a folder
        return pure

    def _check_protected_names(self, raw: str, spellings: tuple[str, ...], op: str) -> bool:
        """Refuse a change to a protected name, as written (a symlink named ``.envrc``) or as resolved; True
        when only the first root's repository was consulted (what :meth:`resolve_text` remembers a pass by)."""
        first_only = True
        for spelling in spellings:
            root = max(self._root_set.matches(Ancestry(spelling)), key=len, default=None)
            if root is None:
                continue
            first_only = first_only and root == self.base
            entry = self.names.match(spelling[len(root):])
            if entry is None and op == "delete" and os.path.isdir(spelling):
                entry = next((e for e, _ in self.names.inside(Path(spelling))), None)
            if entry is not None:
                raise PathConfinementError(
                    f"path '{raw}' is protected ({entry.path}): files that make other programs run code are "
                    "never changed by extensions", reason=Reason.PROTECTED_PATH)
            for guarded, what in git_guarded(root.rstrip("/") or "/"):
                if spelling == guarded or spelling.startswith(guarded + "/") or (
                        op == "delete" and guarded.startswith(spelling.rstrip("/") + "/")):
                    name = ("the repository's core.hooksPath" if what == HOOKS_PATH else what if what == CONFIG_NAMED
                            else f"the repository's {what}")
                    raise PathConfinementError(
                        f"path '{raw}' is protected ({name}): files git runs code from are never changed "
                        "by extensions", reason=Reason.PROTECTED_PATH)
        return first_only

    def _check_writable(self, raw: str, ancestry: Ancestry, op: str) -> None:
        rules = self._write_rules
        case = self.case
        text = ancestry.path
        delete = op == "delete"
        if delete and text in rules.roots:
            raise PathConfinementError(f"refusing to delete an allowed root itself: '{raw}'")
        # Deleting a directory that holds the state dir or a settings file would remove the
        # evidence or the policy as surely as touching them directly.
        if delete and any(os.path.lexists(p) and case.refuses(p, text) for p in self._protected_texts):
            raise PathConfinementError(f"refusing to delete '{raw}': it contains pi-sandbox security state or settings")
        for code in self.host_code:
            real = str(code)
            if case.refuses(text, real) or (delete and case.refuses(real, text)):
                raise PathConfinementError(
                    f"path '{raw}' is pi-sandbox's own code or the environment it runs from ({real}); the sandbox "
                    "would run what is written there outside every sandbox, so it is never changed by extensions",
                    reason=Reason.PROTECTED_PATH,
                )
        own = rules.own
        if self.own_read_only and own is not None and (
                case.refuses(text, own) or (delete and case.refuses(own, text))):
            raise PathConfinementError(
                f"path '{raw}' is the extension's own installed code, which is read-only to it; installed code "
                "changes only through `pi-sandbox ext install` (and is checked against its pin at every load)",
                reason=Reason.EXTENSION_CODE,
            )
        # A change inside a read-only folder; a delete also of a folder that holds one (every one is looked at).
        for real in rules.read_only.bases if delete else rules.read_only.matches(ancestry):
            # The own-folder exemption holds only for a folder *inside* the shared one: a single-file
            # extension's root is the shared folder itself (or the workspace holding it), and that
            # folder holds other extensions' code.
            if own is not None and real in rules.own_exempt and within(text, own):
                continue
            if case.refuses(text, real) or (delete and case.refuses(real, text)):
                raise PathConfinementError(
                    f"path '{raw}' is inside another extension's folder; extension code can only be "
                    "changed with `pi-sandbox ext install`",
                    reason=Reason.EXTENSION_CODE,
                )

    def allows(self, raw: str, op: str = "read") -> bool:
        """Whether ``raw`` passes these rules for ``op``."""
        try:
            self.resolve_text(raw, op)
        except ConnectorError:
            return False
        return True


def refuse_special_file(raw: str, path: str, looked: os.stat_result | None = None) -> None:
    """``PathConfinementError`` (``special_file``) when ``path`` exists and is a FIFO, socket or device.

    ``looked``: the ``lstat`` the resolution just made of ``path``, no symlink (so the same as ``stat``), saving
    one system call; the connector checks the type again on the open file either way."""
    try:
        mode = looked.st_mode if looked is not None else os.stat(path).st_mode
    except OSError:
        return  # missing (a write creates a regular file) or unreadable: the connector reports it
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise PathConfinementError(
            f"'{raw}' is a FIFO, socket or device; extensions may only read and write regular files",
            reason=Reason.SPECIAL_FILE,
        )


def call_paths(method: str, params: Mapping[str, Any]) -> list[tuple[Any, str]]:
    """The (raw path, fs operation) pairs a call touches, for the mediation stage to decide.

    Only methods whose connector acts on named paths appear; the values are taken as given (the
    resolver refuses what is not a string).
    """
    if method == "fs":
        return [(params.get("path"), canonical_fs_op(str(params.get("op", ""))))]
    if method == "tool":
        name = str(params.get("name", "")).strip().lower()
        spec = TOOL_PATH_OPS.get(name)
        tool_input = params.get("input")
        if spec is None or not isinstance(tool_input, Mapping):
            return []
        op, default = spec
        return [(tool_input.get("path", default), op)]
    if method == "exec" and params.get("cwd") is not None:
        return [(params.get("cwd"), "list")]
    return []
