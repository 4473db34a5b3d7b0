"""The ``fs`` connector: file operations confined to the workspace and the extension's own folder.

Which paths a call may touch is decided by the mediation stage (``mediation.paths``, which also
refuses FIFOs, sockets and devices); the connector resolves the path again when it acts, reaches it one
folder at a time without following any link (a folder swapped for a link since the check is ``path_changed``),
opens files without blocking, refuses anything but a regular file for
reading or writing (``special_file``: a FIFO would block the host thread forever), and moves at most
``extensionRuntime.maxFsIoBytes`` per read or write.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import shutil
import stat as stat_mod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pi_sandbox.capabilities import canonical_fs_op
from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.errors import ConnectorError
from pi_sandbox.sandbox.planted import layout_refusal, nested_guard
from pi_sandbox.sandbox.secret_links import SECRET_LINKS
from pi_sandbox.vocabulary import Reason

MAX_LIST_ENTRIES = 10_000


def confine(ctx: ConnectorContext, raw: Any, op: str = "read") -> Path:
    """Resolve ``raw`` under the caller's path rules at the moment of the effect (see ``mediation.paths``).

    The full check runs again here (not a result the mediation stage passed on): the path may have
    changed since the decision; ``PathRules`` compiles the rules once, so the re-check is cheap."""
    return ctx.paths.resolve(raw, op)


_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _path_changed(path: str) -> ConnectorError:
    return ConnectorError(f"'{path}' changed while in use (a folder on the way became a link); try again",
                          code="io", reason="path_changed")


def parent_fd(path: Path | str) -> tuple[int, str]:
    """An ``O_PATH`` fd of the folder holding ``path`` (a resolved absolute path), reached one name at a
    time from ``/`` without following any link, and the last name.

    The mediation stage and :func:`confine` judged the path with every link resolved; a folder on the way
    that is a link *now* was swapped in since (an exec child can make links to any host path: ``x`` →
    ``~`` between the check of ``x/docs`` and its deletion), and the call fails (``path_changed``) instead
    of following it. Opening by the whole path text would follow it.
    """
    text = os.fspath(path)
    folder, _, name = text.rpartition("/")
    fd = os.open("/", _DIR_FLAGS)
    walked = ""
    try:
        for part in folder.split("/"):
            if not part:
                continue
            walked += "/" + part
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ENOTDIR, errno.ELOOP) and os.path.islink(walked):
                    raise _path_changed(text) from None
                raise
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd, name


def open_regular(path: Path | str, flags: int = os.O_RDONLY, mode: int = 0o644) -> int:
    """Open a regular file (no link followed on the way or at the end, never blocking); a pipe, socket or
    device is refused.

    Non-blocking open: opening or using a FIFO would block the host thread forever. A write open
    that would create the file still creates a regular one.
    """
    folder, name = parent_fd(path)
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode, dir_fd=folder)
    finally:
        os.close(folder)
    kind = os.fstat(fd).st_mode
    if not stat_mod.S_ISREG(kind):
        os.close(fd)
        if stat_mod.S_ISDIR(kind):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        raise ConnectorError(f"'{path}' is a FIFO, socket or device; only regular files are read or written",
                             code="denied", reason=Reason.SPECIAL_FILE)
    return fd


def refuse_secret_link(ctx: ConnectorContext, fd: int, path: str) -> int:
    """``fd`` when the file it is open on is not a secret file under another name (a hard link to ``.env`` or a
    broker-known credential made outside the sandbox); else it is closed and the call refused (``secret_file``).
    Judged on the open file (``fstat``): what is checked is what would be read or written."""
    secrets = ctx.paths.secret_files
    if secrets is None:
        return fd
    info = os.fstat(fd)
    if info.st_nlink <= 1:
        return fd
    secret = SECRET_LINKS.secret_of(info, ctx.paths.base, secrets, str(ctx.config.state_dir))
    if secret is None:
        return fd
    os.close(fd)
    raise ConnectorError(f"'{path}' is a hard link to a file that holds secrets (another name for the same bytes); "
                         "reading or writing it needs extensionPolicy.perExtension.<id>.readSecretFiles to name "
                         "that file", code="denied", reason=Reason.SECRET_FILE)


def _refuse_git_layout(ctx: ConnectorContext, path: str, op: str, raw: Any) -> None:
    """A write or mkdir that plants a config or hook in a folder git takes for a repository by its layout (a bare
    repository: ``HEAD`` + ``objects/``), or changes what a *nested* repository's config makes git run (its
    ``core.hooksPath`` folder, a script it names), is refused like one in ``.git`` (``protected_path``)."""
    if op not in ("write", "mkdir", "delete"):
        return
    what = layout_refusal(path, op) if op != "delete" else None
    if what is None and path.startswith(ctx.paths.base.rstrip("/") + "/"):
        what = nested_guard(ctx.paths.base, path)
    if what is not None:
        raise ConnectorError(f"path '{raw}' is protected ({what} of a folder git takes for a repository by its "
                             "layout): files that make other programs run code are never changed by extensions",
                             code="denied", reason=Reason.PROTECTED_PATH)


def _io_error(exc: OSError, raw: str) -> ConnectorError:
    reason = {2: "not_found", 13: "permission_denied", 17: "exists", 20: "not_a_directory",
              21: "is_a_directory", 39: "not_empty"}.get(exc.errno or 0, "os_error")
    return ConnectorError(f"{exc.strerror or exc} : '{raw}'", code="io", reason=reason)


def _payload(ctx: ConnectorContext, params: Mapping[str, Any]) -> bytes:
    """The bytes an fs write writes: ``data`` (or ``content``) as UTF-8, or strict base64; at most
    ``extensionRuntime.maxFsIoBytes``."""
    data = params.get("data", params.get("content", ""))
    if not isinstance(data, str):
        raise ConnectorError("fs write needs string 'data'", code="invalid_request")
    if params.get("encoding") == "base64":
        try:  # strict: lenient decoding turns garbage into b"" and the O_TRUNC of a write empties the file
            payload = base64.b64decode(data, validate=True)
        except binascii.Error:
            raise ConnectorError("fs write 'data' is not valid base64", code="invalid_request") from None
    else:
        payload = data.encode("utf-8")
    cap = ctx.config.runtime.max_fs_io_bytes
    if len(payload) > cap:
        raise ConnectorError(f"write of {len(payload)} bytes is larger than {cap} bytes "
                             "(extensionRuntime.maxFsIoBytes); write in smaller pieces",
                             code="io", reason="too_large")
    return payload


class FsConnector:
    """Implements fs ops read, write, list, stat, mkdir, delete."""

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        op = canonical_fs_op(str(params.get("op", "")))
        raw = params.get("path")
        path = ctx.paths.resolve_text(raw, op)  # confine(), as text: the handlers use os, not pathlib
        _refuse_git_layout(ctx, path, op, raw)
        try:
            if op in ("read", "write"):
                return getattr(self, f"_{op}")(ctx, path, params)
            return getattr(self, f"_{op}")(path, params)
        except OSError as exc:
            raise _io_error(exc, str(raw)) from None

    def check(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> None:
        """What :meth:`call` refuses before it touches the file (a dry run): the path under the caller's rules
        and, for a write, the data (type, base64, size); never opens, reads or writes."""
        op = canonical_fs_op(str(params.get("op", "")))
        _refuse_git_layout(ctx, ctx.paths.resolve_text(params.get("path"), op), op, params.get("path"))
        if op == "write":
            _payload(ctx, params)

    def _read(self, ctx: ConnectorContext, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        cap = ctx.config.runtime.max_fs_io_bytes
        fd = refuse_secret_link(ctx, open_regular(path), path)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(cap + 1)
        if len(data) > cap:
            raise ConnectorError(f"file is larger than {cap} bytes (extensionRuntime.maxFsIoBytes)",
                                 code="io", reason="too_large")
        if params.get("encoding") == "base64":
            return {"content": base64.b64encode(data).decode("ascii"), "encoding": "base64"}
        try:
            return {"content": data.decode("utf-8"), "encoding": "utf8"}
        except UnicodeDecodeError:
            return {"content": base64.b64encode(data).decode("ascii"), "encoding": "base64"}

    def _write(self, ctx: ConnectorContext, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        payload = _payload(ctx, params)
        # Truncate only after the type check: O_TRUNC at open would act before a device is refused.
        fd = refuse_secret_link(ctx, open_regular(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if params.get("append")
                                                                                 else 0)), path)
        with os.fdopen(fd, "wb") as handle:
            if not params.get("append"):
                handle.truncate(0)
            handle.write(payload)
        return {"bytes_written": len(payload)}

    def _list(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        entries: list[dict[str, str]] = []
        folder, name = parent_fd(path)
        try:
            fd = os.open(name or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
        finally:
            os.close(folder)
        with os.scandir(fd) as it:
            for entry in it:
                if len(entries) >= MAX_LIST_ENTRIES:
                    break
                kind = "symlink" if entry.is_symlink() else "directory" if entry.is_dir() else \
                    "file" if entry.is_file() else "other"  # a FIFO, socket or device is not a "file"
                entries.append({"name": entry.name, "type": kind})
        os.close(fd)
        entries.sort(key=lambda e: e["name"])
        return {"entries": entries, "truncated": len(entries) >= MAX_LIST_ENTRIES}

    def _stat(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        folder, name = parent_fd(path)
        try:
            st = os.stat(name, dir_fd=folder, follow_symlinks=False) if name else os.stat(folder)
        finally:
            os.close(folder)
        kind = "directory" if stat_mod.S_ISDIR(st.st_mode) else "file" if stat_mod.S_ISREG(st.st_mode) else "other"
        return {"type": kind, "size": st.st_size, "mtime_ms": int(st.st_mtime * 1000),
                "mode": stat_mod.S_IMODE(st.st_mode)}

    def _mkdir(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        existed = os.path.isdir(path) and not os.path.islink(path)
        if params.get("recursive", False):
            missing: list[str] = []
            head = path
            while head != "/" and not os.path.lexists(head):
                head, _, tail = head.rpartition("/")
                head = head or "/"
                missing.insert(0, tail)
            for i in range(len(missing)):  # one level at a time, each under a folder reached without links
                self._mkdir_one(head.rstrip("/") + "/" + "/".join(missing[:i + 1]), exist_ok=True)
            if not missing and not existed:
                self._mkdir_one(path, exist_ok=True)  # raises: something other than a folder is there
        else:
            self._mkdir_one(path, exist_ok=False)
        return {"created": not existed}

    @staticmethod
    def _mkdir_one(path: str, *, exist_ok: bool) -> None:
        folder, name = parent_fd(path)
        try:
            os.mkdir(name, dir_fd=folder)
        except FileExistsError:
            if not exist_ok or not stat_mod.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
                raise
        finally:
            os.close(folder)

    def _delete(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        folder, name = parent_fd(path)
        try:
            if stat_mod.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
                if params.get("recursive"):
                    shutil.rmtree(name, dir_fd=folder)  # fd-based below this point: links are never followed
                else:
                    os.rmdir(name, dir_fd=folder)
            else:
                os.unlink(name, dir_fd=folder)
        finally:
            os.close(folder)
        return {"deleted": True}
