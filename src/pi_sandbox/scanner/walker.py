"""Scanning an extension: walks the whole folder (``node_modules`` included) and scans each file.

Nothing is skipped silently: non-JS/TS files are listed as skipped with a reason, symlinks are a
flagged finding (never followed), files over the size limit get a token scan and a flagged finding.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Final

from pi_sandbox.errors import ScanError
from pi_sandbox.progress import ProgressCallback
from pi_sandbox.progress import report as report_progress
from pi_sandbox.scanner.analyze import FileAnalyzer
from pi_sandbox.scanner.model import EXTENSION, TYPES, FileResult, Finding, ScanReport, SkippedFile, make_finding
from pi_sandbox.scanner.parse import language_for, parse
from pi_sandbox.scanner.project import Project, file_context, is_test_path, package_of
from pi_sandbox.scanner.visits import token_scan

#: Bigger files are not parsed (a flagged finding plus a token scan). Bundled compilers reach ~10 MB.
MAX_FILE_BYTES: Final = 16 * 1024 * 1024
MAX_TOKEN_SCAN_BYTES: Final = 64 * 1024 * 1024
#: Directories that are version-control metadata, not extension code (listed as skipped).
METADATA_DIRS: Final = frozenset({".git", ".hg", ".svn"})


#: Signals that are only noise where nobody reads the code as written (generated, declarations, vendored).
_NOISE_IN_TYPES: Final = frozenset({"LONG_LINE", "HIGH_ENTROPY_STRING", "PARSE_ERROR", "OBFUSCATOR_NAMES"})


def scan_source(source: bytes, rel_path: str, language: str, links: Project | None = None) -> FileResult:
    """Scan one file's bytes as ``language`` (``links``: the rest of the extension, for its imports)."""
    digest = hashlib.sha256(source).hexdigest()
    lines = source.count(b"\n") + (1 if source and not source.endswith(b"\n") else 0)
    parsed = parse(source, language)
    analyzer = FileAnalyzer(source, parsed, rel_path, links, dependency=package_of(rel_path) is not None)
    try:
        findings = analyzer.run()
    except RecursionError:  # a construct nested past every bound: fail closed on what a token scan sees
        findings = list(_incomplete(source, rel_path))
    return FileResult(
        path=rel_path,
        language=language,
        lines=lines,
        size=len(source),
        sha256=digest,
        findings=tuple(sorted(findings, key=Finding.sort_key)),
        capabilities=frozenset(analyzer.capabilities),
        relative_imports=tuple(analyzer.relative_imports),
    )


def _oversized(source: bytes, rel_path: str, language: str, size: int) -> FileResult:
    findings = [make_finding("FILE_TOO_LARGE", rel_path, 1, 1, "", f"{size} bytes")]
    match = token_scan(source)
    if match is not None:
        line = source.count(b"\n", 0, match.start()) + 1
        findings.append(make_finding("PARSE_ERROR_HIDES_CODE", rel_path, line, 1,
                                     match.group(0).decode("utf-8", "replace")[:40]))
    return FileResult(rel_path, language, source.count(b"\n") + 1, size, "", tuple(findings))


def _incomplete(source: bytes, rel_path: str) -> tuple[Finding, ...]:
    """Findings for a file whose analysis could not finish: flagged, forbidden when eval-like tokens show."""
    findings = [make_finding("PARSE_ERROR", rel_path, 1, 1, "", "analysis nested too deeply to finish")]
    match = token_scan(source)
    if match is not None:
        line = source.count(b"\n", 0, match.start()) + 1
        findings.append(make_finding("PARSE_ERROR_HIDES_CODE", rel_path, line, 1,
                                     match.group(0).decode("utf-8", "replace")[:40]))
    return tuple(findings)


def _finding_only(rule_id: str, rel_path: str, detail: str, size: int = 0) -> FileResult:
    return FileResult(rel_path, None, 0, size, "", (make_finding(rule_id, rel_path, 1, 1, "", detail),))


class NotRegularFileError(OSError):
    """A path that is a pipe, socket, device or link where a regular file was expected."""


def read_regular(path: Path, limit: int = -1) -> bytes:
    """Read a regular file (at most ``limit`` bytes); never opens through a pipe, device or link.

    Opened non-blocking and without following links, then checked with ``fstat``: a FIFO would
    block the reader forever and a device such as ``/dev/zero`` never ends, and a check done
    before ``open`` could be raced by swapping the file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFileError(f"{path} is not a regular file")
        return handle.read(limit)


def special_kind(mode: int) -> str | None:
    """What a non-regular file is (named pipe, socket, device), None for anything else."""
    for test, kind in ((stat.S_ISFIFO, "named pipe"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device")):
        if test(mode):
            return kind
    return None


def scan_file(path: Path, rel_path: str, links: Project | None = None) -> FileResult | SkippedFile:
    """Scan one file on disk (``rel_path`` is how reports name it)."""
    language = language_for(path.name)
    try:
        info = path.lstat()
    except OSError as exc:
        return _finding_only("UNREADABLE_FILE", rel_path, exc.strerror or "stat failed")
    if stat.S_ISDIR(info.st_mode):  # only reaches here when os.walk could not list it
        return _finding_only("UNREADABLE_FILE", rel_path, "folder could not be listed")
    if stat.S_ISLNK(info.st_mode):
        return _finding_only("SYMLINK", rel_path, "not followed")
    special = special_kind(info.st_mode)
    if special is not None:
        return _finding_only("SPECIAL_FILE", rel_path, f"{special}, never opened")
    if path.name.endswith(".node"):
        return _finding_only("NATIVE_ADDON_FILE", rel_path, "native binary", info.st_size)
    if language is None:
        return SkippedFile(rel_path, "not_js_ts")
    try:
        if info.st_size > MAX_FILE_BYTES:  # token-scan a bounded prefix; the finding says it was not parsed
            return _oversized(read_regular(path, MAX_TOKEN_SCAN_BYTES), rel_path, language, info.st_size)
        source = read_regular(path)
    except NotRegularFileError:  # swapped for a pipe or device after lstat
        return _finding_only("SPECIAL_FILE", rel_path, "replaced while scanning, never read")
    except OSError as exc:
        return _finding_only("UNREADABLE_FILE", rel_path, exc.strerror or "read failed")
    return scan_source(source, rel_path, language, links)


def iter_extension_files(root: Path) -> tuple[list[tuple[Path, str]], list[SkippedFile]]:
    """Every file under ``root`` (sorted, relative POSIX paths); metadata dirs are listed as skipped.

    An explicit stack, not ``os.walk``: that recursed once per level, so a deeply nested folder made
    the scan die with ``RecursionError``. Symlinked folders are listed (never followed) and a folder
    that cannot be listed is listed itself, so nothing drops out silently.
    """
    files: list[tuple[Path, str]] = []
    skipped: list[SkippedFile] = []
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            files.append((folder, folder.relative_to(root).as_posix() if folder != root else "."))
            continue
        for entry in entries:
            full = folder / entry.name
            rel = full.relative_to(root).as_posix()
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if not is_dir:
                files.append((full, rel))  # files, links (to folders too), pipes: scan_file judges them
            elif entry.name in METADATA_DIRS:
                skipped.append(SkippedFile(rel + "/", "vcs_metadata"))
            else:
                pending.append(full)
    files.sort(key=lambda item: item[1])
    return files, skipped


def resolve_target(path: Path) -> tuple[Path, list[tuple[Path, str]], list[SkippedFile]]:
    """Validate a scan target; a folder or one JS/TS file. Raises ``ScanError`` on bad input."""
    if not path.exists():
        raise ScanError(f"{path}: no such file or folder; pass an extension folder or a .js/.ts file")
    if path.is_file():
        if language_for(path.name) is None:
            raise ScanError(f"{path}: not a JavaScript/TypeScript file (.js .mjs .cjs .jsx .ts .mts .cts .tsx)")
        # Named explicitly: a link is followed (install copies what it points to), under the given name.
        return path.parent, [(path.resolve(), path.name)], []
    if not path.is_dir():
        raise ScanError(f"{path}: not a regular file or folder")
    files, skipped = iter_extension_files(path)
    if not any(language_for(rel) for _, rel in files):
        raise ScanError(f"{path}: folder holds no JavaScript/TypeScript sources to scan")
    return path, files, skipped


def content_hash(entries: list[tuple[str, str]]) -> str:
    """SHA-256 over sorted ``relative path \\0 file sha256 \\n`` lines."""
    h = hashlib.sha256()
    for rel, digest in sorted(entries):
        h.update(f"{rel}\0{digest}\n".encode())
    return h.hexdigest()


#: Decides whether a file (by relative path) is left out of a scan, and says why (None: scan it).
SkipRule = Callable[[str], "str | None"]


def scan_path(path: Path, progress: ProgressCallback | None = None, skip: SkipRule | None = None) -> ScanReport:
    """Scan an extension folder or file and return the full report (``progress``: files done of total).

    ``skip`` leaves files out of the scan *and* the content hash (listed as skipped with its reason): a
    ``node_modules`` that install replaces with npm's.
    """
    started = time.perf_counter()
    root, files, skipped = resolve_target(path)
    results: list[FileResult] = []
    hashes: list[tuple[str, str]] = []
    project = Project(root, [rel for _, rel in files])
    for done, (full, rel) in enumerate(files):
        report_progress(progress, done, len(files), rel)
        why = skip(rel) if skip is not None else None
        if why is not None:
            skipped.append(SkippedFile(rel, why))
            continue
        outcome = scan_file(full, rel, project)
        if isinstance(outcome, SkippedFile):
            skipped.append(outcome)
            hashes.append((rel, file_digest(full)))
        else:
            results.append(outcome)
            hashes.append((rel, outcome.sha256 or file_digest(full)))
    results, skipped = _scan_code_loaded_from_other_files(root, results, skipped)
    results = _place(results, project)
    return ScanReport(
        root=path.name or str(path),
        files=tuple(results),
        skipped=tuple(sorted(skipped, key=lambda s: s.path)),
        content_hash=content_hash(hashes),
        duration_s=time.perf_counter() - started,
    )


def _place(results: list[FileResult], project: Project) -> list[FileResult]:
    """Give each file and its findings their context (see ``project.file_context``) and drop noise signals
    where code is generated, vendored or only declares types."""
    own_imports: set[str] = set()
    dependency_imports: set[str] = set()
    for result in results:
        if not is_test_path(result.path):
            imports = own_imports if package_of(result.path) is None else dependency_imports
            for spec in result.relative_imports:
                target = project.resolve_specifier(result.path, spec)
                if target is not None:
                    imports.add(target)
    placed = []
    for result in results:
        context = file_context(result.path, result.path in own_imports, result.path in dependency_imports)
        generated = result.path.endswith((".min.js", ".min.mjs", ".min.cjs")) or context != EXTENSION
        findings = tuple(
            replace(f, context=context) for f in result.findings
            if not (context == TYPES and f.rule_id in _NOISE_IN_TYPES)
            and not (generated and f.rule_id == "LONG_LINE"))
        placed.append(replace(result, findings=findings, context=context))
    return placed


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (of the link target text for a symlink, of the kind for a pipe or
    device); empty when unreadable."""
    try:
        if path.is_symlink():
            return hashlib.sha256(b"symlink:" + os.readlink(path).encode()).hexdigest()
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):  # a pipe or device: hash what it is, never read it
                return hashlib.sha256(f"special:{special_kind(mode)}".encode()).hexdigest()
            h = hashlib.sha256()
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    except OSError:
        return ""


#: Suffixes Node loads as something other than JavaScript source.
_NOT_CODE_SUFFIXES: Final = (".json", ".node")


def _scan_code_loaded_from_other_files(
    root: Path, results: list[FileResult], skipped: list[SkippedFile]
) -> tuple[list[FileResult], list[SkippedFile]]:
    """``require('./payload.dat')`` runs that file as JavaScript: scan such targets as code too."""
    skipped_by_path = {s.path: s for s in skipped}
    scanned = {r.path for r in results}
    queue = list(results)
    base = root.resolve()
    while queue:
        result = queue.pop()
        for spec in result.relative_imports:
            target = ((base / result.path).parent / spec).resolve()
            try:
                rel = target.relative_to(base).as_posix()
            except ValueError:
                continue  # outside the extension: not ours to scan
            if rel in scanned or rel not in skipped_by_path or target.name.endswith(_NOT_CODE_SUFFIXES):
                continue
            scanned.add(rel)
            try:
                source = read_regular(target, MAX_FILE_BYTES)
            except OSError:
                continue
            loaded = scan_source(source, rel, "javascript")
            note = make_finding("NON_JS_MODULE", rel, 1, 1, "", f"loaded by {result.path}")
            loaded = replace(loaded, findings=(*loaded.findings, note))
            del skipped_by_path[rel]
            results.append(loaded)
            queue.append(loaded)
    return results, list(skipped_by_path.values())
