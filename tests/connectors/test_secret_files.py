"""Files that hold secrets are not readable, writable or searchable without an explicit allow.

Through the real pipeline (default ``safe`` profile): the refusal comes from the mediation stage,
is recorded once with reason ``secret_file`` and a ``secret_exposure`` alert, and ``grep``/``find``
skip the files so that no match oracle is left.
"""

from __future__ import annotations

import os
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.dispatch import Sandbox
from pi_sandbox.dispatch.request import HostcallResult
from pi_sandbox.errors import ConfigError
from pi_sandbox.mediation.secret_files import SecretFiles, secret_file_table_markdown
from tests.conftest import OpenSandbox, PiEnv

SECRET = "s3cr3t-Value-7781"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "mediation.md"


@pytest.fixture()
def workspace(pi_env: PiEnv) -> Path:
    ws = pi_env.workspace
    (ws / ".env").write_text(f"API_KEY={SECRET}\nDEBUG=1\n")
    (ws / "notes.txt").write_text(f"API_KEY={SECRET}\n")  # the control: an ordinary file is searchable
    (ws / "config").mkdir()
    (ws / "config" / "prod.env").write_text(f"TOKEN={SECRET}\n")
    (ws / "config" / ".ENV.Local").write_text(f"TOKEN={SECRET}\n")
    (ws / "keys").mkdir()
    (ws / "keys" / "deploy.pem").write_text(f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n")
    (ws / ".ssh").mkdir()
    (ws / ".ssh" / "id_github").write_text(SECRET)
    (ws / ".npmrc").write_text(f"//registry.npmjs.org/:_authToken={SECRET}\n")
    (ws / ".aws").mkdir()
    (ws / ".aws" / "credentials").write_text(f"aws_secret_access_key={SECRET}\n")
    (ws / ".env.example").write_text("API_KEY=\n")
    os.symlink(ws / ".env", ws / "innocent.txt")
    return ws


def call(sandbox: Sandbox, make_request: Any, ext: str = "ext.a") -> Callable[..., HostcallResult]:
    def run(method: str, **params: Any) -> HostcallResult:
        return sandbox.hostcall(ext, make_request(method, params))
    return run


def tool(sandbox: Sandbox, make_request: Any, name: str, ext: str = "ext.a", **args: Any) -> HostcallResult:
    return sandbox.hostcall(ext, make_request("tool", {"name": name, "input": args}))


SECRET_PATHS = [".env", "innocent.txt", "config/prod.env", "config/.ENV.Local", "keys/deploy.pem",
                ".ssh/id_github", ".npmrc", ".aws/credentials", ".env.example"]


@pytest.mark.parametrize("path", SECRET_PATHS)
def test_secret_files_are_not_readable_and_each_refusal_is_recorded(
    workspace: Path, sandbox: Sandbox, make_request: Any, path: str
) -> None:
    before = len(sandbox.store.query_ledger())
    for result in (call(sandbox, make_request)("fs", op="read", path=path),
                   tool(sandbox, make_request, "read", path=path)):
        assert not result.ok and result.error_code == "denied" and result.reason == "secret_file"
        assert SECRET not in (result.message or "")
    entries = sandbox.store.query_ledger()[before:]
    assert [(e.decision, e.reason, e.detail["stage"]) for e in entries] == [("deny", "secret_file", "mediation")] * 2
    alerts = sandbox.store.query_alerts(category="secret_exposure")
    assert alerts and "readSecretFiles" in alerts[-1].remediation


def test_grep_is_no_match_oracle_and_find_skips_secret_files(
    workspace: Path, sandbox: Sandbox, make_request: Any
) -> None:
    # The attack of issue 9: grow a prefix one character at a time while grep says "match".
    found = ""
    for _ in range(len(SECRET)):
        nxt = next((c for c in string.ascii_letters + string.digits + "-"
                    if any(m["path"] != "notes.txt" for m in tool(
                        sandbox, make_request, "grep", pattern=f"^API_KEY={found}{c}", path=".").result["matches"])),
                   None)
        if nxt is None:
            break
        found += nxt
    assert found == ""
    hits = tool(sandbox, make_request, "grep", pattern="API_KEY|TOKEN|authToken|secret_access", path=".").result
    assert {m["path"] for m in hits["matches"]} == {"notes.txt"}  # the ordinary file is still searched
    names = {m["path"] for m in tool(sandbox, make_request, "find", pattern="*", path=".").result["matches"]}
    assert "notes.txt" in names and not names & {p for p in SECRET_PATHS}
    listing = call(sandbox, make_request)("fs", op="list", path=".").result
    assert ".env" in str(listing)  # existence is not a secret: ls and stat still see the file


@pytest.mark.parametrize("op,extra", [("write", {"data": "registry=https://evil.example/\n"}), ("delete", {})])
def test_secret_files_are_not_writable_or_deletable(
    workspace: Path, sandbox: Sandbox, make_request: Any, op: str, extra: dict[str, Any]
) -> None:
    before = (workspace / "keys" / "deploy.pem").read_text()
    result = call(sandbox, make_request)("fs", op=op, path="keys/deploy.pem", **extra)
    assert not result.ok and result.reason == "secret_file"
    assert (workspace / "keys" / "deploy.pem").read_text() == before
    new = call(sandbox, make_request)("fs", op="write", path="sub/prod.env", data="TOKEN=planted")
    assert not new.ok and new.reason == "secret_file" and not (workspace / "sub" / "prod.env").exists()
    # .npmrc is also a protected name (the exec sandbox's table): refused as that, before it is a secret.
    assert call(sandbox, make_request)("fs", op=op, path=".npmrc", **extra).reason == "protected_path"


def test_edit_cannot_probe_a_secret_file(workspace: Path, sandbox: Sandbox, make_request: Any) -> None:
    result = tool(sandbox, make_request, "edit", path=".env", oldText="API_KEY=s", newText="API_KEY=s")
    assert not result.ok and result.reason == "secret_file"


def test_explicit_per_extension_allow_reads_only_what_it_names(
    workspace: Path, open_sandbox: Any, make_request: Any
) -> None:
    box = open_sandbox(settings={"extensionPolicy": {"perExtension": {
        "ext.dotenv": {"readSecretFiles": [".env.example", "config/*.env"]}}}})
    box.register_extension("ext.dotenv", workspace / "unused-root")
    allowed = call(box, make_request, "ext.dotenv")
    assert allowed("fs", op="read", path=".env.example").ok
    assert allowed("fs", op="read", path="config/prod.env").result["content"] == f"TOKEN={SECRET}\n"
    assert allowed("fs", op="read", path=".env").reason == "secret_file"
    assert call(box, make_request, "ext.other")("fs", op="read", path=".env.example").reason == "secret_file"


def test_a_project_cannot_allow_secret_files_but_can_add_patterns(
    workspace: Path, open_sandbox: Any, make_request: Any
) -> None:
    (workspace / "db.secret").write_text(SECRET)
    box = open_sandbox(project_settings={"extensionPolicy": {
        "perExtension": {"ext.a": {"readSecretFiles": [".env"]}},
        "secretBroker": {"extraSecretFiles": ["*.secret"]}}})
    assert "extensionPolicy.perExtension.ext.a.readSecretFiles" in box.config.refused_loosenings
    box.register_extension("ext.a", workspace / "unused-root")
    assert call(box, make_request)("fs", op="read", path=".env").reason == "secret_file"
    assert call(box, make_request)("fs", op="read", path="db.secret").reason == "secret_file"


@pytest.mark.parametrize("value", ["not-a-list", [""], ["ok", 3], ["bad\u0000glob"]])
def test_bad_secret_file_settings_are_errors_naming_the_key(make_config: Any, value: Any) -> None:
    with pytest.raises(ConfigError, match="readSecretFiles"):
        make_config(settings={"extensionPolicy": {"perExtension": {"x": {"readSecretFiles": value}}}})
    with pytest.raises(ConfigError, match="extraSecretFiles"):
        make_config(settings={"extensionPolicy": {"secretBroker": {"extraSecretFiles": value}}})


def test_table_matching_is_by_name_not_by_folder_and_case_insensitive() -> None:
    rules = SecretFiles()
    assert rules.refused("/w/.ENV") and rules.refused("/w/a/B.PEM") and rules.refused("/h/.docker/config.json")
    assert not rules.refused("/w/.env/lib/site.py")  # a virtualenv called .env: its files are code
    assert not rules.refused("/w/config.json") and not rules.refused("/w/src/id_utils.js")
    assert not rules.refused("/w/environment.ts") and not rules.refused("/w/keys.ts")


def test_docs_publish_the_secret_file_table() -> None:
    text = DOCS.read_text(encoding="utf-8")
    start, end = "<!-- secret-file-table:start -->\n", "\n<!-- secret-file-table:end -->"
    assert start in text and end in text
    assert text.split(start, 1)[1].split(end, 1)[0] == secret_file_table_markdown()


@pytest.mark.parametrize("path", [".env", "link.txt", "d/l2", "./d/../link.txt", "ENVLINK"])
@pytest.mark.parametrize("tool", ["grep", "find"])
def test_grep_and_find_given_a_secret_file_or_a_link_to_one_are_refused(
    pi_env: PiEnv, open_sandbox: OpenSandbox, tool: str, path: str
) -> None:
    """grep on a symlink to `.env` used to return its lines (the tool's path was checked as a folder listing,
    which secret files pass); walking a folder skipped them already."""
    ws = pi_env.workspace
    (ws / ".env").write_text("KEY=dotenv-only-value\n")
    (ws / "link.txt").symlink_to(ws / ".env")
    (ws / "ENVLINK").symlink_to(".env")
    (ws / "d").mkdir()
    (ws / "d" / "l2").symlink_to("../.env")
    (ws / "venv-named" / ".env").mkdir(parents=True)  # a folder named like a secret file is searched
    (ws / "venv-named" / ".env" / "ok.txt").write_text("dotenv-only-value in a plain file\n")
    box = open_sandbox()
    pattern = "dotenv" if tool == "grep" else "*"
    result = box.hostcall("ext.a", {"call_id": "c1", "method": "tool",
                                    "params": {"name": tool, "input": {"pattern": pattern, "path": path}}})
    assert (result.ok, result.reason) == (False, "secret_file"), result
    assert "KEY=" not in str(result.message)
    folder = box.hostcall("ext.a", {"call_id": "c2", "method": "tool",
                                    "params": {"name": tool, "input": {"pattern": pattern, "path": "venv-named/.env"}}})
    assert folder.ok and "KEY=" not in str(folder.result), folder
