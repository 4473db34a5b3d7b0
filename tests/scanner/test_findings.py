"""Finding details, resolution edge cases and folder walking."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from pi_sandbox.errors import ScanError
from pi_sandbox.scanner import walker
from pi_sandbox.scanner.walker import scan_path, scan_source


def rules_of(source: str, language: str = "javascript") -> list[str]:
    return sorted({f.rule_id for f in scan_source(source.encode(), "x.js", language).findings})


def test_finding_carries_location_excerpt_and_explanation() -> None:
    result = scan_source(b"const a = 1;\n  const r = process.binding('fs');\n", "lib/a.js", "javascript")
    (finding,) = result.findings
    assert finding.rule_id == "PROCESS_BINDING"
    assert finding.cls == "forbidden"
    assert (finding.file, finding.line, finding.column) == ("lib/a.js", 2, 13)
    assert finding.excerpt == "const r = process.binding('fs');"
    assert "native" in finding.explanation
    assert len(finding.fingerprint) == 64


def test_excerpt_is_truncated_around_the_match() -> None:
    source = "const pad = '" + "x" * 300 + "'; eval(code);\n"
    finding = next(f for f in scan_source(source.encode(), "x.js", "javascript").findings if f.rule_id == "EVAL")
    assert len(finding.excerpt) <= 121
    assert "eval(code)" in finding.excerpt


@pytest.mark.parametrize(
    "source",
    [
        "const s = 'eval(x)'; // eval(y)\n/* new Function('z') */",
        "class A { eval(x) { return x } } new A().eval('1')",
        "const m = /a(b)/.exec(text); JSON.parse(s);",
        "db.exec('select 1'); obj.binding = 2; x.Function = 1;",
        "const o = { eval: 1, process: 2 }; o.eval;",
        "typeof eval === 'function'",
        "function f(exec) { return exec('x') }",
    ],
)
def test_benign_constructs_produce_no_findings(source: str) -> None:
    assert rules_of(source) == []


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        ("const k = ['ev', 'al'].join(''); const g = globalThis; g[k]('1')", "EVAL"),
        ("globalThis[`${'ev'}al`](1)", "EVAL"),
        ("const d = atob; eval(d('YWxlcnQoMSk='))", "DECODED_PAYLOAD"),
        ("eval(Buffer.from([97, 108], 'utf8').toString())", "EVAL"),
        ("process['\\u0062inding']('fs')", "PROCESS_BINDING"),
        ("const cp = require(['child', 'process'].join('_'))", "OBFUSCATED_ACCESS"),
        ("require('vm' )", "FORBIDDEN_MODULE"),
        ("import('node:inspector')", "FORBIDDEN_MODULE"),
        ("Object['proto' + 'type'].x = 1", "PROTOTYPE_POLLUTION"),
        ("const F = Object.getPrototypeOf(async () => {}).constructor; F('x')", "FUNCTION_CONSTRUCTOR"),
    ],
)
def test_resolution_reaches_the_sink(source: str, rule: str) -> None:
    assert rule in rules_of(source)


def test_typescript_grammar_is_chosen_by_suffix(tmp_path: Path) -> None:
    (tmp_path / "a.ts").write_text("const x = <T,>(v: T): T => v;\n(eval as any)(x);\n")
    (tmp_path / "b.tsx").write_text("export const C = () => <div>{(globalThis as any).eval('1')}</div>;\n")
    report = scan_path(tmp_path)
    by_file = {f.path: {x.rule_id for x in f.findings} for f in report.files}
    assert by_file == {"a.ts": {"EVAL"}, "b.tsx": {"EVAL"}}
    assert {f.language for f in report.files} == {"typescript", "tsx"}


def test_parse_error_is_flagged_and_hidden_eval_is_forbidden() -> None:
    assert rules_of("const a = ;\n") == ["PARSE_ERROR"]
    assert "PARSE_ERROR_HIDES_CODE" in rules_of("function ( { eval(atob(x)) \n")


def test_folder_scan_includes_node_modules_and_lists_other_files(tmp_path: Path) -> None:
    (tmp_path / "index.js").write_text("module.exports = 1;\n")
    deep = tmp_path / "node_modules" / "dep" / "lib"
    deep.mkdir(parents=True)
    (deep / "x.cjs").write_text("require('child_process').exec('id');\n")
    (tmp_path / "README.md").write_text("eval\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref\n")
    report = scan_path(tmp_path)
    assert [f.path for f in report.files] == ["index.js", "node_modules/dep/lib/x.cjs"]
    assert {(s.path, s.reason) for s in report.skipped} == {("README.md", "not_js_ts"), (".git/", "vcs_metadata")}
    assert report.verdict == "warn"
    assert report.capabilities == ("exec",)


def test_symlink_is_a_finding_and_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.js"
    outside.write_text("eval(x)\n")
    ext = tmp_path / "ext"
    ext.mkdir()
    (ext / "index.js").write_text("export {};\n")
    os.symlink(outside, ext / "link.js")
    report = scan_path(ext)
    assert [(f.rule_id, f.file) for f in report.findings] == [("SYMLINK", "link.js")]


def test_oversized_file_gets_token_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(walker, "MAX_FILE_BYTES", 1000)
    (tmp_path / "big.js").write_text("// padding\n" * 200 + "eval(x)\n")
    (tmp_path / "big2.js").write_text("const a = 1;\n" * 200)
    by_file = {f.path: sorted(x.rule_id for x in f.findings) for f in scan_path(tmp_path).files}
    assert by_file == {"big.js": ["FILE_TOO_LARGE", "PARSE_ERROR_HIDES_CODE"], "big2.js": ["FILE_TOO_LARGE"]}


def test_bad_targets_raise_scan_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ScanError, match="no such file"):
        scan_path(tmp_path / "missing")
    with pytest.raises(ScanError, match="not a JavaScript"):
        scan_path(tmp_path / "notes.txt")
    with pytest.raises(ScanError, match="no JavaScript"):
        scan_path(tmp_path)


def test_content_hash_changes_with_any_file(tmp_path: Path) -> None:
    (tmp_path / "index.js").write_text("export {};\n")
    (tmp_path / "data.json").write_text("{}")
    first = scan_path(tmp_path).content_hash
    assert scan_path(tmp_path).content_hash == first
    (tmp_path / "data.json").write_text("{\"a\": 1}")
    assert scan_path(tmp_path).content_hash != first


def test_obfuscation_signals_are_flagged_only() -> None:
    blob = base64.b64encode(bytes(range(256)) * 2).decode()
    rules = rules_of(f"const b = '{blob}';\n" + "var _0xab12 = 1;" * 12 + "\n")
    assert {"HIGH_ENTROPY_STRING", "OBFUSCATOR_NAMES"} <= set(rules)
    assert "LONG_LINE" in rules_of("const a = [" + "1," * 600 + "];\n")
    assert "ESCAPED_IDENTIFIER" in rules_of("const \\u0061 = 1;")


def test_unlistable_folder_is_a_finding_not_silently_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "index.js").write_text("export {};\n")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "x.js").write_text("eval(1)\n")
    real_scandir = os.scandir

    def scandir(path: str | os.PathLike[str]):  # type: ignore[no-untyped-def]
        if str(path).endswith("locked"):  # root can read anything, so simulate EACCES
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = scan_path(tmp_path)
    assert [(f.rule_id, f.file) for f in report.findings] == [("UNREADABLE_FILE", "locked")]


def test_code_in_non_js_file_loaded_by_require_is_scanned(tmp_path: Path) -> None:
    (tmp_path / "index.js").write_text("require('./data/blob.txt');\nrequire('./package.json');\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "blob.txt").write_text("process.binding('fs');\n")
    (tmp_path / "package.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("eval(x)\n")  # not loaded by anything: listed, not scanned
    report = scan_path(tmp_path)
    assert sorted((f.rule_id, f.file) for f in report.findings) == [
        ("NON_JS_MODULE", "data/blob.txt"), ("PROCESS_BINDING", "data/blob.txt")]
    assert {s.path for s in report.skipped} == {"notes.txt", "package.json"}


def test_native_addon_binary_is_flagged_and_loading_it_forbidden(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "addon.node").write_bytes(b"\x7fELF\x02\x01\x01\x00")
    (tmp_path / "index.js").write_text("module.exports = require('./build/addon.node');\n")
    report = scan_path(tmp_path)
    assert sorted((f.rule_id, f.file) for f in report.findings) == [
        ("NATIVE_ADDON_FILE", "build/addon.node"), ("NATIVE_ADDON_LOAD", "index.js")]
    assert report.verdict == "fail"


def _finishes(fn, timeout_s: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    """Run ``fn`` in a daemon thread; False when it is still blocked after ``timeout_s``."""
    import threading

    done = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - surfaced by the caller
            errors.append(exc)
        finally:
            done.set()

    threading.Thread(target=target, daemon=True).start()
    finished = done.wait(timeout_s)
    if errors:
        raise errors[0]
    return finished


def test_named_pipe_in_extension_is_forbidden_and_never_opened(tmp_path: Path) -> None:
    """A FIFO named like source (or not) must not hang the scanner, the content hash or the pin check."""
    (tmp_path / "index.js").write_text("export {};\n")
    os.mkfifo(tmp_path / "payload.js")
    os.mkfifo(tmp_path / "data.bin")
    reports = []
    assert _finishes(lambda: reports.append(scan_path(tmp_path))), "scan blocked on a named pipe"
    (report,) = reports
    assert sorted((f.rule_id, f.file) for f in report.findings) == [
        ("SPECIAL_FILE", "data.bin"), ("SPECIAL_FILE", "payload.js")]
    assert report.verdict == "fail"
    assert _finishes(lambda: walker.file_digest(tmp_path / "data.bin")), "file_digest blocked on a named pipe"


def remove_deep_tree(root: Path) -> None:
    """Delete a tree nested past the recursion limit (pytest's own tmp cleanup would crash on it)."""
    folders, pending = [], [root]
    while pending:
        folder = pending.pop()
        folders.append(folder)
        pending.extend(c for c in folder.iterdir() if c.is_dir() and not c.is_symlink())
    for folder in reversed(folders):
        for child in folder.iterdir():
            if not child.is_dir() or child.is_symlink():
                child.unlink()
        folder.rmdir()


def test_deeply_nested_folders_are_scanned_without_recursion_error(tmp_path: Path) -> None:
    """Regression: os.walk recursed once per level, so 1,100 nested folders crashed the scan (traceback)."""
    (tmp_path / "index.js").write_text("export {};\n")
    deep = tmp_path
    for _ in range(1100):  # os.makedirs itself recurses per level
        deep = deep / "a"
        deep.mkdir()
    (deep / "evil.js").write_text("eval(x)\n")
    try:
        report = scan_path(tmp_path)
    finally:
        remove_deep_tree(tmp_path / "a")
    assert [f.rule_id for f in report.findings] == ["EVAL"]
    assert report.verdict == "fail"


def test_a_file_named_through_a_symlink_is_scanned_not_just_flagged(tmp_path: Path) -> None:
    """Regression: ``pi ext scan link.js`` (link → eval code) reported only a flagged SYMLINK: the code the
    operator named was never scanned, and install would have copied it (copy2 follows links)."""
    (tmp_path / "evil.js").write_text("eval(atob('eA=='));\n")
    os.symlink("evil.js", tmp_path / "link.js")
    report = scan_path(tmp_path / "link.js")
    assert report.verdict == "fail"
    assert {f.rule_id for f in report.findings} >= {"EVAL"}
    assert [f.file for f in report.findings][0] == "link.js"


def test_self_referencing_property_chains_finish_and_resolve() -> None:
    """Regression: a minified bundle whose properties are built from each other (glob's index.min.js) recursed
    until Python's stack ran out (RecursionError, a traceback) and took seconds per file."""
    import time

    chain = "const o = {};\no.p0 = 'ev';\n" + "".join(f"o.p{i} = o.p{i - 1} + '';\n" for i in range(1, 400))
    cycle = "o.a = o.b + 'x';\no.b = o.a + 'y';\nglobalThis[o.a]();\n"
    started = time.process_time()
    rules = rules_of(chain + "o.p399 = o.p398 + 'al';\n" + cycle)
    assert time.process_time() - started < 10
    assert "COMPUTED_GLOBAL_CALL" in rules or "EVAL" in rules
