"""Path helpers for exec mediation: normalise a target and judge how much a delete or write can hurt."""

from __future__ import annotations

import functools
import posixpath
import re

from pi_sandbox.mediation.exec_rules import (
    ACCOUNT_FILE_RE,
    CREDENTIAL_PATH_RE,
    HOME_PREFIX_RE,
    NETWORK_DEVICE_RE,
    PERSISTENCE_PATH_RE,
    SAFE_DEVICES,
    SYSTEM_DIRS,
)
from pi_sandbox.mediation.shell_ast import Word

_SLASHES = re.compile(r"/{2,}")
_TRAILING = re.compile(r"(?:/\.?\*?|/\.\*)+$")


@functools.lru_cache(maxsize=4096)
def normalize_path(text: str) -> str:
    """Spell the home directory ``~``, collapse ``//`` and ``.``/``..``, drop a trailing ``/``, ``/*``, ``/.``.

    ``~/..`` becomes ``/home`` so a parent-directory escape out of home is seen for what it is.
    """
    if text.startswith("file://"):
        text = text[7:]
    text = HOME_PREFIX_RE.sub("~", text, count=1)
    if text.startswith("~/..") or text == "~/..":
        text = "/home/user" + text[1:]
    text = _SLASHES.sub("/", text)
    trimmed = _TRAILING.sub("", text)
    if text.startswith("/"):
        return posixpath.normpath(trimmed or "/") if trimmed else "/"
    if text.startswith("~"):
        rest = posixpath.normpath("/" + trimmed[1:].lstrip("/")) if trimmed[1:].strip("/") else "/"
        if rest.startswith("/.."):
            return "/home"
        return "~" if rest == "/" else "~" + rest
    if not trimmed:
        return "." if text.startswith(".") or text.startswith("*") else text
    return posixpath.normpath(trimmed)


_CWD_SPELLING = re.compile(r"^(?:\$PWD|\$\{PWD\}|\$\(pwd\)|`pwd`)(?=/|$)")
#: A last path component made of nothing but wildcards (after an optional dot): ``*``, ``?*``, ``[a-z]*``,
#: ``.[!.]*``, ``.??*`` — every name, or every hidden name, of the folder around it.
_ANY_NAME = re.compile(r"\.?(?:\*|\?|\[[^\]/]*\])+")


def delete_scope(word: Word, *, scoped_cwd: bool = False) -> tuple[str, str] | None:
    """Class and rule for recursively deleting ``word``.

    The working directory is the workspace unless ``scoped_cwd`` (an earlier ``cd`` into a
    subdirectory): deleting ``.``, ``*`` or ``$PWD`` then deletes the workspace, and ``..`` more.
    """
    text = _CWD_SPELLING.sub(".", word.text)
    if text != word.text:
        word = Word(text)
    if word.has_glob:
        # ``~/.[!.]*`` deletes every hidden entry of the home (.ssh, .config, .gnupg ...), ``~/?*`` every entry:
        # judged as the folder itself, like ``~/*`` (before: a home subdirectory, high)
        parent, _, last = text.rstrip("/").rpartition("/")
        if _ANY_NAME.fullmatch(last) and last not in ("*", ".*"):
            text = parent + "/" if parent or text.startswith("/") else "."
            word = Word(text, word.dynamic)
    if word.dynamic and (text.startswith("$") or text.startswith("`")) and not HOME_PREFIX_RE.match(text):
        return ("recursive_delete_broad", "delete_dynamic_target")
    norm = normalize_path(text)
    if norm in ("/", "~") or norm in SYSTEM_DIRS:
        return ("recursive_delete", "delete_root_home_or_system_dir")
    if norm.startswith("/"):
        parts = norm.strip("/").split("/")
        if word.has_glob and any(ch in parts[0] for ch in "*?["):
            return ("recursive_delete", "delete_glob_at_root")
        if len(parts) == 2 and "/" + parts[0] in SYSTEM_DIRS and parts[0] not in ("tmp", "home", "Users"):
            return ("recursive_delete_broad", "delete_system_subdir")
        if parts[0] in ("home", "Users") and len(parts) <= 2:
            return ("recursive_delete", "delete_user_home")
        return ("file_delete", "delete_absolute_path")
    if norm.startswith("~"):
        if norm.count("/") == 1:
            return ("recursive_delete_broad", "delete_home_subdir")
        return ("file_delete", "delete_in_home")
    if norm in (".", "*", ".*") or norm.startswith("*"):
        if scoped_cwd:
            return ("file_delete", "delete_current_subdir")
        return ("recursive_delete", "delete_workspace")
    if norm == ".." or norm in ("../*", "../.*"):
        return ("recursive_delete", "delete_workspace_parent")
    if norm.startswith("../"):
        return ("recursive_delete_broad", "delete_outside_workspace")
    return ("file_delete", "delete_scoped_relative")


@functools.lru_cache(maxsize=4096)
def path_candidates(text: str) -> tuple[str, ...]:
    """The path-like parts of an argument: itself, after ``=``, after ``@`` / ``<`` (curl), after ``file://``."""
    out = [text]
    if "=" in text:
        out.append(text.split("=", 1)[1])
    for cand in list(out):
        if cand[:1] in ("@", "<"):
            out.append(cand[1:])
    return tuple(normalize_path(c) for c in out if c)


@functools.lru_cache(maxsize=4096)
def reads_credentials(text: str) -> bool:
    """True when an argument names a credential file (``~/.ssh/id_rsa``, ``~/.aws/credentials``...)."""
    return any(CREDENTIAL_PATH_RE.search(c) for c in path_candidates(text))


@functools.lru_cache(maxsize=4096)
def write_target_class(text: str) -> tuple[str, str] | None:
    """Class and rule for writing to ``text``: devices, network sockets, account and persistence files."""
    norm = normalize_path(text)
    if NETWORK_DEVICE_RE.search(text):
        return ("reverse_shell", "write_dev_tcp")
    if norm.startswith("/dev/") and not SAFE_DEVICES.match(norm + ("/" if norm == "/dev/shm" else "")):
        return ("device_write", "write_block_device")
    if ACCOUNT_FILE_RE.match(norm):
        return ("credential_file_modification", "write_account_file")
    if PERSISTENCE_PATH_RE.search(norm):
        return ("persistence", "write_startup_or_auth_file")
    return None
