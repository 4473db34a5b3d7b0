"""The ``fs`` connector: file operations confined to the workspace and the extension's own folder.

Every path is resolved with symlinks followed before the check, so ``..``, absolute paths outside
the roots and symlinks that point out are all refused the same way. The security state directory
and settings files are refused even when they lie inside a root: an extension must never edit the
evidence or the policy that judges it.
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
from pi_sandbox.errors import ConnectorError, PathConfinementError

MAX_READ_BYTES = 16 * 1024 * 1024
MAX_LIST_ENTRIES = 10_000


def _realpath(path: Path) -> Path:
    return Path(os.path.realpath(path))


def confine(ctx: ConnectorContext, raw: Any) -> Path:
    """Resolve ``raw`` against the workspace and require it to stay inside an allowed root."""
    if not isinstance(raw, str) or not raw:
        raise ConnectorError("fs hostcall needs a non-empty string 'path'", code="invalid_request")
    if "\x00" in raw:
        raise ConnectorError("path contains a NUL byte", code="invalid_request")
    base = ctx.roots[0] if ctx.roots else ctx.config.project_dir
    try:
        candidate = Path(raw).expanduser() if raw.startswith("~") else Path(raw)
    except RuntimeError:  # an unknown ~user
        raise ConnectorError(f"cannot expand '{raw}': no such user home", code="invalid_request") from None
    resolved = _realpath(candidate if candidate.is_absolute() else base / candidate)
    # Roots are resolved once when they are set (config, register_extension), not on every call.
    if not any(resolved == r or resolved.is_relative_to(r) for r in ctx.roots):
        raise PathConfinementError(
            f"path '{raw}' resolves outside the workspace and the extension's folder; extensions may only "
            "touch files under those roots"
        )
    for protected in ctx.protected:
        p = _realpath(protected)
        if resolved == p or resolved.is_relative_to(p):
            raise PathConfinementError(
                f"path '{raw}' is pi-sandbox security state or settings; extensions may not touch it"
            )
    return resolved


def open_regular(path: Path | str) -> int:
    """Open a regular file for reading (no link followed); a pipe or device is refused, never read.

    Non-blocking open: reading a FIFO (or opening one) would block the host thread forever.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    mode = os.fstat(fd).st_mode
    if not stat_mod.S_ISREG(mode):
        os.close(fd)
        if stat_mod.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        raise ConnectorError(f"'{path}' is not a regular file", code="io", reason="not_a_regular_file")
    return fd


def _io_error(exc: OSError, raw: str) -> ConnectorError:
    reason = {2: "not_found", 13: "permission_denied", 17: "exists", 20: "not_a_directory",
              21: "is_a_directory", 39: "not_empty"}.get(exc.errno or 0, "os_error")
    return ConnectorError(f"{exc.strerror or exc} : '{raw}'", code="io", reason=reason)


class FsConnector:
    """Implements fs ops read, write, list, stat, mkdir, delete."""

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        op = canonical_fs_op(str(params.get("op", "")))
        raw = params.get("path")
        path = confine(ctx, raw)
        if op == "delete" and any(path == r for r in ctx.roots):
            raise PathConfinementError(f"refusing to delete an allowed root itself: '{raw}'")
        # Deleting a directory that holds the state dir or a settings file would remove the
        # evidence or the policy as surely as touching them directly.
        if op == "delete" and any(
            os.path.lexists(p) and _realpath(p).is_relative_to(path) for p in ctx.protected
        ):
            raise PathConfinementError(f"refusing to delete '{raw}': it contains pi-sandbox security state or settings")
        if op in ("write", "mkdir", "delete"):
            own = _realpath(ctx.own_root) if ctx.own_root is not None else None
            for folder in ctx.read_only:
                real = _realpath(folder)
                # The own-folder exemption holds only for a folder *inside* the shared one: a single-file
                # extension's root is the shared folder itself (or the workspace holding it), and that
                # folder holds other extensions' code.
                if own is not None and own != real and own.is_relative_to(real) and path.is_relative_to(own):
                    continue
                if path == real or path.is_relative_to(real) or (op == "delete" and real.is_relative_to(path)):
                    raise PathConfinementError(
                        f"path '{raw}' is inside another extension's folder; extension code can only be "
                        "changed with `pi ext install`"
                    )
        try:
            return getattr(self, f"_{op}")(path, params)
        except OSError as exc:
            raise _io_error(exc, str(raw)) from None

    def _read(self, path: Path, params: Mapping[str, Any]) -> dict[str, Any]:
        fd = open_regular(path)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_READ_BYTES + 1)
        if len(data) > MAX_READ_BYTES:
            raise ConnectorError(f"file is larger than {MAX_READ_BYTES} bytes", code="io", reason="too_large")
        if params.get("encoding") == "base64":
            return {"content": base64.b64encode(data).decode("ascii"), "encoding": "base64"}
        try:
            return {"content": data.decode("utf-8"), "encoding": "utf8"}
        except UnicodeDecodeError:
            return {"content": base64.b64encode(data).decode("ascii"), "encoding": "base64"}

    def _write(self, path: Path, params: Mapping[str, Any]) -> dict[str, Any]:
        data = params.get("data", params.get("content", ""))
        if not isinstance(data, str):
            raise ConnectorError("fs write needs string 'data'", code="invalid_request")
        if params.get("encoding") == "base64":
            try:  # strict: lenient decoding turns garbage into b"" and the O_TRUNC below empties the file
                payload = base64.b64decode(data, validate=True)
            except binascii.Error:
                raise ConnectorError("fs write 'data' is not valid base64", code="invalid_request") from None
        else:
            payload = data.encode("utf-8")
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if params.get("append") else os.O_TRUNC)
        fd = os.open(path, flags, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        return {"bytes_written": len(payload)}

    def _list(self, path: Path, params: Mapping[str, Any]) -> dict[str, Any]:
        entries: list[dict[str, str]] = []
        with os.scandir(path) as it:
            for entry in it:
                if len(entries) >= MAX_LIST_ENTRIES:
                    break
                kind = "symlink" if entry.is_symlink() else "directory" if entry.is_dir() else "file"
                entries.append({"name": entry.name, "type": kind})
        entries.sort(key=lambda e: e["name"])
        return {"entries": entries, "truncated": len(entries) >= MAX_LIST_ENTRIES}

    def _stat(self, path: Path, params: Mapping[str, Any]) -> dict[str, Any]:
        st = os.stat(path)
        kind = "directory" if stat_mod.S_ISDIR(st.st_mode) else "file" if stat_mod.S_ISREG(st.st_mode) else "other"
        return {"type": kind, "size": st.st_size, "mtime_ms": int(st.st_mtime * 1000),
                "mode": stat_mod.S_IMODE(st.st_mode)}

    def _mkdir(self, path: Path, params: Mapping[str, Any]) -> dict[str, Any]:
        existed = path.is_dir()
        path.mkdir(parents=bool(params.get("recursive", False)), exist_ok=bool(params.get("recursive", False)))
        return {"created": not existed}

    def _delete(self, path: Path, params: Mapping[str, Any]) -> dict[str, Any]:
        if path.is_dir() and not path.is_symlink():
            if params.get("recursive"):
                shutil.rmtree(path)
            else:
                path.rmdir()
        else:
            path.unlink()
        return {"deleted": True}
