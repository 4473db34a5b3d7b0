"""The log connector's file: one open/fstat/write/close per line, nothing kept between lines, so a moved or
deleted file (or folder) is made again by the very next line; the size cap read on the open file; output
escaping equal to the character-by-character reference for any text."""

from __future__ import annotations

import shutil
import stat
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi_sandbox.connectors import log as log_module
from pi_sandbox.connectors.log import log_path
from pi_sandbox.connectors.output import escape_for_terminal
from pi_sandbox.dispatch import Sandbox
from tests.conftest import OpenSandbox, PiEnv

Request = Callable[..., dict[str, Any]]


def _log(box: Sandbox, make_request: Request, message: str, ext: str = "ext.l") -> Any:
    result = box.hostcall(ext, make_request("log", {"message": message}))
    assert result.ok, result
    return result.result


def test_a_deleted_file_or_folder_is_made_again_by_the_next_line(
        pi_env: PiEnv, open_sandbox: OpenSandbox, make_request: Request) -> None:
    box = open_sandbox()
    path = log_path(pi_env.state_dir, "ext.l")
    _log(box, make_request, "one")
    path.rename(path.with_suffix(".old"))  # an operator rotates the file
    _log(box, make_request, "two")
    assert path.read_text().endswith(" info two\n") and "one" not in path.read_text()
    shutil.rmtree(path.parent)  # ... or removes the whole folder
    _log(box, make_request, "three")
    assert path.read_text().endswith(" info three\n")
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700 and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_size_cap_is_read_on_the_open_file(pi_env: PiEnv, open_sandbox: OpenSandbox, make_request: Request,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    box = open_sandbox()
    monkeypatch.setattr(log_module, "MAX_FILE_BYTES", 60)  # one line of 30 x is 57 bytes
    path = log_path(pi_env.state_dir, "ext.l")
    assert _log(box, make_request, "x" * 30)["written"] is True
    assert _log(box, make_request, "y")["written"] is True  # 57 -> 85 bytes: over the cap from now on
    assert _log(box, make_request, "z") == {"written": False, "reason": "log_full", "shown": True}
    assert "z" not in path.read_text()
    path.unlink()  # room again, at once
    assert _log(box, make_request, "after")["written"] is True


def _reference_escape(text: str) -> str:
    return "".join((f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
                   if ch != "\t" and unicodedata.category(ch) in ("Cc", "Cf", "Cs") else ch for ch in text)


@given(st.text(max_size=40) | st.text(st.characters(categories=("Cc", "Cf", "Zs", "Zl", "Zp", "Co", "Cs")),
                                      max_size=8).map(lambda t: "ok " + t))
@settings(max_examples=500, deadline=None)
def test_terminal_escaping_equals_the_character_by_character_reference(text: str) -> None:
    assert escape_for_terminal(text) == _reference_escape(text)
