"""The fast path checks refuse exactly what the per-rule checks refused (``path_reference.py``).

Path mediation compiles its rules into sets (``fscase.BaseSet``: one lookup per ancestor of the path),
walks plain path components itself (``realpath_below``), caches what a resolved path passed, and matches
secret-file patterns with one regex per depth. Each piece is compared here with the straightforward
version on generated input: paths with ``..``, ``.``, doubled slashes, symlinks (in, out, onto protected
and read-only folders, loops), other letter case and Unicode case folding (``ß``, the Kelvin sign), under
case-sensitive, case-insensitive, unknown and mixed file-system answers, for every fs operation. A fast
path that allowed anything the reference refused (or the other way round) fails here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi_sandbox.errors import ConnectorError
from pi_sandbox.fscase import Ancestry, BaseSet, CaseRules, ancestors, within
from pi_sandbox.mediation.paths import PathRules, realpath
from pi_sandbox.mediation.secret_files import SECRET_FILE_PATTERNS, SecretFiles
from pi_sandbox.sandbox.protected import ProtectedNames
from tests.mediation.path_reference import reference_is_secret, reference_resolve, reference_secret_refused

SENSITIVE = CaseRules(lambda _d: False)
INSENSITIVE = CaseRules(lambda _d: True)
UNKNOWN = CaseRules(lambda _d: None)
#: A different answer per folder (as on a machine with a case-insensitive volume mounted somewhere).
MIXED = CaseRules(lambda d: (None, True, False)[sum(map(ord, d)) % 3])
CASES = {"sensitive": SENSITIVE, "insensitive": INSENSITIVE, "unknown": UNKNOWN, "mixed": MIXED}
OPS = ("read", "stat", "list", "write", "mkdir", "delete")

# --- BaseSet and ancestors against within / CaseRules.refuses -----------------------------------------

_WORDS = ["a", "A", "b", "ß", "SS", "ss", "\u212a", "k", "K", ".pi", ".PI", "x.y", "", ".", ".."]
_texts = st.lists(st.sampled_from(_WORDS), max_size=5).map(lambda parts: "/".join(parts))
_abs = st.builds(lambda lead, t, tail: lead + t + tail, st.sampled_from(["/", "//", ""]), _texts,
                 st.sampled_from(["", "/"]))


@settings(max_examples=500, deadline=None)
@given(path=_abs, base=_abs)
def test_ancestors_are_exactly_the_within_bases(path: str, base: str) -> None:
    if not base.endswith("/"):
        assert (base in ancestors(path)) == within(path, base)
    assert ancestors(path)[-1] == path and ancestors(path) == sorted(ancestors(path), key=len)


@settings(max_examples=500, deadline=None)
@given(path=_abs, bases=st.lists(_abs, max_size=6), case=st.sampled_from([None, *CASES]))
def test_base_set_matches_every_base_it_should(path: str, bases: list[str], case: str | None) -> None:
    rules = CASES[case] if case is not None else None
    found = BaseSet(bases, rules).matches(Ancestry(path))
    expected = {b for b in bases if (rules.refuses(path, b) if rules is not None else within(path, b))}
    assert set(found) == expected and len(found) == len(set(found))
    assert BaseSet(bases, rules).any(Ancestry(path)) == bool(expected)


@settings(max_examples=300, deadline=None)
@given(path=_abs, bases=st.lists(_abs, max_size=6))
def test_shortest_parent_is_a_root_the_path_lies_below(path: str, bases: list[str]) -> None:
    below = [b for b in bases if not b.endswith("/") and path.startswith(b + "/")]
    assert BaseSet(bases).shortest_parent(path) == min(below, key=len, default=None)


# --- secret files: combined regexes against one regex per pattern -------------------------------------

_NAMES = ["", ".env", ".ENV", ".env.local", "prod.env", ".envrc", "k.pem", "K.PEM", "id_rsa", "id_rsa.pub",
          ".ssh", "config", ".docker", "config.json", ".kube", "credentials", "mod.py", "a", "service-account-1.json",
          "x.tfstate.backup", "kubeconfig", "notes.md", "secrets.yaml", "weird[1].key", "my.env.bak"]


@settings(max_examples=500, deadline=None)
@given(parts=st.lists(st.sampled_from(_NAMES), max_size=5), absolute=st.booleans(),
       extra=st.lists(st.sampled_from(["*.bak", "deploy/*.yml", "a/b/c", "[!x]*.cfg", "?.txt", "/lead/"]),
                      max_size=3),
       allowed=st.lists(st.sampled_from([".env", "*.pem", ".ssh/*", "config.json", "nothing", ".docker/config.json"]),
                        max_size=3))
def test_secret_file_matching_equals_the_per_pattern_loop(parts: list[str], absolute: bool, extra: list[str],
                                                          allowed: list[str]) -> None:
    path = ("/" if absolute else "") + "/".join(parts)
    files = SecretFiles((*SECRET_FILE_PATTERNS, *extra), tuple(allowed))
    assert files.refused(path) == reference_secret_refused(files, path)
    assert files.is_secret(path) == reference_is_secret(files, path)


# --- PathRules.resolve against the reference on a tree with symlinks and case variants ----------------


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace with the extension's own folder inside a shared extensions folder, dependencies, the
    state dir (with the extension's data dir, a root) and settings, and symlinks onto each of them."""
    base = realpath(tmp_path_factory.mktemp("fast"))
    ws = base / "ws"
    for folder in ("src/pkg", ".pi/extensions/own/lib", ".pi/extensions/other", ".git/hooks", "notes",
                   "node_modules/dep-1", "node_modules/Dep-2", "unreadable"):
        (ws / folder).mkdir(parents=True)
    (base / "state" / "ext-data").mkdir(parents=True)
    (base / "outside").mkdir()
    for file in ("src/pkg/mod.py", ".pi/settings.json", ".env", "src/id_rsa", ".git/config", "notes/a.md",
                 ".pi/extensions/other/index.ts", ".pi/extensions/own/index.ts", "node_modules/dep-1/i.js"):
        (ws / file).write_text("x")
    (base / "state" / "security.db").write_text("x")
    links = {"to_state": base / "state", "to_other": ws / ".pi/extensions/other", "to_out": base / "outside",
             "to_env": ws / ".env", "up": Path(".."), "loop": Path("loop"), "to_own": ws / ".pi/extensions/own",
             "src/pkg/back": Path("../.."), "dangling": Path("nowhere/deeper"), ".envrc": ws / "notes/a.md",
             "to_dep": ws / "node_modules/dep-1", "to_data": base / "state/ext-data"}
    for name, target in links.items():
        (ws / name).symlink_to(target)
    os.mkfifo(ws / "fifo")
    (ws / "unreadable").chmod(0)  # matters for a non-root run: its entries cannot be looked at
    yield ws
    (ws / "unreadable").chmod(0o755)


_PARTS = ["to_own/lib", "to_own/LIB",
          "src", "SRC", "pkg", "mod.py", "MOD.PY", "..", ".", "", ".pi", ".PI", "settings.json", "Settings.JSON",
          "extensions", "EXTENSIONS", "own", "OWN", "other", "lib", "index.ts", "to_state", "to_other", "to_out",
          "to_env", "to_own", "to_dep", "to_data", "up", "loop", "back", "dangling", ".env", ".ENV", ".envrc",
          "id_rsa", ".git", ".GIT", "config", "hooks", "node_modules", "dep-1", "DEP-1", "Dep-2", "notes", "a.md",
          "missing", "fifo", "unreadable", "security.db", "state", "ext-data", "ws"]


def _outcome(fn: object, *args: object) -> tuple[str, ...]:
    try:
        return ("ok", str(fn(*args)))  # type: ignore[operator]
    except ConnectorError as exc:
        return (type(exc).__name__, exc.code, str(exc.reason), str(exc))


def _rules(ws: Path, case: CaseRules, own_read_only: bool, allowed: tuple[str, ...], nested: bool = False) -> PathRules:
    state = ws.parent / "state"
    shared = ws / ".pi" / "extensions"
    own = shared / "own"
    # A dependency of its own, inside its folder: read-only although the own folder is writable.
    deps = (ws / "node_modules" / "dep-1", ws / "node_modules" / "Dep-2", own / "lib")
    # ``nested``: relative paths start in a folder that is itself inside another root.
    first = (ws / "src", ws) if nested else (ws,)
    return PathRules((*first, own, *deps, state / "ext-data"), (state, ws / ".pi" / "settings.json"), (shared, *deps),
                     own_root=own, own_read_only=own_read_only, names=ProtectedNames(["notes/private"]),
                     secret_files=SecretFiles(SECRET_FILE_PATTERNS, allowed), case=case)


_SHARED: dict[tuple[object, ...], PathRules] = {}


@settings(max_examples=1500, deadline=None)
@given(parts=st.lists(st.sampled_from(_PARTS), min_size=1, max_size=6),
       lead=st.sampled_from(["", "/", "//", "ws/", "~/", "../ws/"]), op=st.sampled_from(OPS),
       case=st.sampled_from(sorted(CASES)), own_read_only=st.booleans(),
       allowed=st.sampled_from([(), (".env",), ("id_rsa", "*.md")]), nested=st.booleans())
def test_resolve_equals_the_reference(tree: Path, parts: list[str], lead: str, op: str, case: str,
                                      own_read_only: bool, allowed: tuple[str, ...], nested: bool) -> None:
    ws = tree
    raw = lead + "/".join(parts)
    if lead in ("/", "//"):
        raw = lead + str(ws).lstrip("/") + "/" + "/".join(parts)
    # One rules object per setting for the whole run: what one path passed stays remembered for the next ones.
    rules = _SHARED.setdefault((ws, case, own_read_only, allowed, nested),
                               _rules(ws, CASES[case], own_read_only, allowed, nested))
    expected = _outcome(reference_resolve, rules, raw, op)
    for _ in range(2):  # the second time from what the first one cached
        assert _outcome(rules.resolve, raw, op) == expected, raw
        assert _outcome(rules.resolve_text, raw, op)[-1] == expected[-1]
    assert rules.allows(raw, op) == (expected[0] == "ok")


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_check_still_refuses(tree: Path, case: str) -> None:
    """One of each refusal, spelled the plain way, so a broken fast path cannot hide behind generation."""
    rules = _rules(tree, CASES[case], True, ())
    refusals = {
        ("../outside", "read"): "outside", ("to_out/x", "read"): "outside",
        ("to_state/security.db", "read"): "security state", (".pi/settings.json", "write"): "security state",
        (".pi/extensions/other/index.ts", "write"): "another extension", ("to_other/new.ts", "write"): "another",
        (".pi/extensions/own/index.ts", "write"): "own installed", ("node_modules/dep-1/i.js", "write"): "another",
        (".git/config", "write"): "protected", (".envrc", "write"): "protected", ("notes/private/x", "write"): "prot",
        (".env", "read"): "secrets", ("to_env", "read"): "secrets", ("fifo", "read"): "FIFO",
        (".", "delete"): "root itself", ("node_modules", "delete"): "another extension",
    }
    for (raw, op), words in refusals.items():
        with pytest.raises(ConnectorError, match=words.split()[0]):
            rules.resolve(raw, op)
    for raw, op in (("src/pkg/mod.py", "write"), ("notes/a.md", "read"), ("to_data/f", "write"), ("src", "list")):
        assert rules.allows(raw, op), raw
    # Not installed: its own folder is writable to it (though inside the shared one), its dependency is not.
    mutable = _rules(tree, CASES[case], False, ())
    assert mutable.allows("to_own/index.ts", "write") and mutable.allows(".pi/extensions/own/new.ts", "write")
    for raw in ("to_own/lib/x.js", ".pi/extensions/own/lib", ".pi/extensions/other/x.ts"):
        with pytest.raises(ConnectorError, match="another extension's folder"):
            mutable.resolve(raw, "write")


@pytest.mark.parametrize("case", ["insensitive", "mixed"])
def test_one_rules_object_over_every_short_path(tree: Path, case: str) -> None:
    """Every path of up to two parts, every op, through one rules object in two orders: what one spelling
    passed must never let another spelling of the same resolved file through (``.envrc`` a symlink to an
    ordinary file, ``to_own/lib`` the own folder's read-only dependency)."""
    words = [p for p in _PARTS if p not in ("", ".")]
    raws = [w for w in words] + [f"{a}/{b}" for a in words for b in words]
    reference = _rules(tree, CASES[case], False, ())
    for op in OPS:
        for order in (raws, raws[::-1]):
            rules = _rules(tree, CASES[case], False, ())  # fewer paths than it remembers: nothing forgotten
            for raw in order:
                assert _outcome(rules.resolve_text, raw, op)[-1] == _outcome(reference_resolve, reference, raw, op)[-1]


def test_a_changed_path_is_checked_again(tmp_path: Path) -> None:
    """The connector's re-check sees a path that changed after the stage's check: a symlink turned to the
    state dir, a folder named like a key file turned into a key file, a new FIFO, a folder that now holds
    a repository (deleting it would delete ``.git``)."""
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (tmp_path / "state").mkdir()
    (ws / "keys.pem").mkdir()
    (ws / "link").symlink_to(ws / "src")
    (ws / "vendor").mkdir()
    rules = PathRules((ws,), (tmp_path / "state",), secret_files=SecretFiles())
    for _ in range(2):
        assert rules.allows("link/db", "read") and rules.allows("keys.pem", "read") and rules.allows("pipe", "write")
        assert rules.allows("vendor", "delete")
    (ws / "vendor" / ".git").mkdir()
    with pytest.raises(ConnectorError, match="protected"):
        rules.resolve("vendor", "delete")
    (ws / "link").unlink()
    (ws / "link").symlink_to(tmp_path / "state")
    (ws / "keys.pem").rmdir()
    (ws / "keys.pem").write_text("-----BEGIN PRIVATE KEY-----")
    os.mkfifo(ws / "pipe")
    with pytest.raises(ConnectorError, match="resolves outside"):
        rules.resolve("link/db", "read")
    with pytest.raises(ConnectorError, match="holds secrets"):
        rules.resolve("keys.pem", "read")
    with pytest.raises(ConnectorError, match="FIFO"):
        rules.resolve("pipe", "write")
