"""Secret files at any depth of the workspace (and of the extension's own writable folders) are hidden from exec
children: three, five and eight folder levels down, inside the folders the protected-name scan skips
(``node_modules``, ``build``, ``.venv``, ``dist``), beyond the scan's folder cap, and files the user made (or
renamed, linked, moved in) between two calls. Each is read several ways — ``cat``, ``grep -r``,
``find -exec cat``, shell redirection, an archive or a copy of the tree, an interpreter's walk — and the canary
must appear neither in the child's output nor in any file the child wrote. Canary values only."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pi_sandbox.config.locations import extension_state_dirs
from tests.conftest import OpenSandbox, PiEnv
from tests.sandbox.conftest import Host

MARK = "DEEPCANARY"
#: workspace-relative secret files, each with its own canary value
DEEP = {
    "services/api/config/.env": "depth3",
    "l1/l2/l3/l4/l5/.env.local": "depth5",
    "deploy/k8s/prod/x/y/z/w/v/id_rsa": "depth8",
    "node_modules/pkg/.env": "nodemodules",
    "node_modules/@scope/pkg/lib/deep/secrets.json": "scoped",
    "build/out/server.key": "build",
    ".venv/lib/credentials.json": "venv",
    "dist/prod.env": "dist",
    "target/release/deep/.ENV": "target",
}
#: folders beyond the scan's old cap of 400: the secret files sit in the last ones
MANY = 520
CAPPED = {f"many/f{MANY - 1}/.env": "capped2", f"many/f{MANY - 2}/sub/secrets.yml": "capped3",
          "zz/last/.env": "capped-last"}
READS = {
    "cat": "for f in $(cat \"$TMPDIR/list\"); do cat \"$f\"; done 2>&1",
    "grep_r": "grep -r DEEPCANARY . 2>/dev/null; grep -ra DEEPCANARY . 2>/dev/null",
    "find_exec": "find . -type f -exec cat {} + 2>/dev/null; find . -name '*.env*' -exec sh -c 'cat \"$1\"' _ {} \\;",
    "redirect": "for f in $(cat \"$TMPDIR/list\"); do while IFS= read -r l; do echo \"$l\"; done < \"$f\"; "
                "exec 3< \"$f\" && cat <&3; done 2>&1",
    "tar": "tar cf out.tar --exclude=out.tar . 2>/dev/null; tar xOf out.tar 2>/dev/null; tar cf - . 2>/dev/null | "
           "tar xOf - 2>/dev/null | base64 -w0",
    "copy": "cp -r . \"$TMPDIR/copy\" 2>/dev/null; grep -r DEEPCANARY \"$TMPDIR/copy\"; mkdir -p copied && "
            "for f in $(cat \"$TMPDIR/list\"); do cp \"$f\" copied/$(echo $f | tr / _) 2>/dev/null; done; "
            "cat copied/* 2>/dev/null; cp -r services copied/services 2>/dev/null; grep -r DEEPCANARY copied",
    "python": "python3 -c \"import os\nfor d, _, fs in os.walk('.'):\n for f in fs:\n  try: print(open(os.path.join(d,"
              " f), errors='replace').read())\n  except OSError: pass\" > walked.txt; cat walked.txt",
}


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, value in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"KEY={MARK}-{value}\n")


@pytest.fixture()
def deep_host(pi_env: PiEnv, open_sandbox: OpenSandbox) -> Iterator[Host]:
    settings = pi_env.write_global({"extensionPolicy": {"profile": "safe", "perExtension": {
        "ext.reader": {"readSecretFiles": [".env"]}}}})
    ws = pi_env.workspace
    for n in range(MANY):
        (ws / "many" / f"f{n:03d}" if n < MANY - 2 else ws / "many" / f"f{n}").mkdir(parents=True)
    _write(ws, {**DEEP, **CAPPED})
    (ws / "README.md").write_text("readme\n")
    box = open_sandbox()
    host = Host(pi_env, box, ws / "README.md", settings, Path(), pi_env.db_path)
    yield host
    locked = ws / "vault" / "locked"
    if locked.is_dir():  # a test made it unreadable: let pytest remove it
        locked.chmod(0o755)


def _secrets(host: Host) -> set[Path]:
    """Every host file holding a canary (the secret files themselves)."""
    out = set()
    for root in _roots(host):
        for folder, _dirs, files in os.walk(root):
            for name in files:
                path = Path(folder) / name
                if not path.is_symlink() and MARK.encode() in path.read_bytes():
                    out.add(path)
    return out


def _roots(host: Host) -> list[Path]:
    dirs = extension_state_dirs(host.env.state_dir, "ext.hostile")
    return [host.env.workspace, dirs.data, dirs.tmp]


def _assert_no_leak(host: Host, out: dict[str, object], secrets: set[Path], what: str) -> None:
    text = f"{out.get('stdout', '')}{out.get('stderr', '')}"
    assert MARK not in text, (what, text[-3000:])
    assert base64.b64encode(f"KEY={MARK}".encode()).decode()[:12] not in text, (what, text[-3000:])
    for root in _roots(host):  # nothing the child wrote holds a canary
        for folder, _dirs, files in os.walk(root):
            for name in files:
                path = Path(folder) / name
                if path in secrets or path.is_symlink() or not path.is_file():
                    continue
                assert MARK.encode() not in path.read_bytes(), (what, path)


def _list(host: Host, rels: list[str]) -> None:
    tmp = extension_state_dirs(host.env.state_dir, "ext.hostile").tmp
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "list").write_text("\n".join(rels) + "\n")


@pytest.mark.parametrize("technique", sorted(READS))
def test_deep_secret_files_are_hidden_whatever_reads_them(deep_host: Host, technique: str) -> None:
    _list(deep_host, [*DEEP, *CAPPED])
    secrets = _secrets(deep_host)
    assert len(secrets) == len(DEEP) + len(CAPPED)
    out = deep_host.sh(READS[technique])
    _assert_no_leak(deep_host, out, secrets, technique)
    for path in secrets:  # nothing changed on the host
        assert path.read_text().startswith(f"KEY={MARK}-")


def test_secret_files_made_between_two_calls_are_hidden(deep_host: Host, tmp_path: Path) -> None:
    ws = deep_host.env.workspace
    first = deep_host.sh("cat services/api/config/.env; ls node_modules/pkg")
    assert first["exit_code"] == 0 and MARK not in first["stdout"], first
    # the user's work between two calls: new deep files, a rename, a hard link, a folder moved in, a new folder
    _write(ws, {"services/api/config/new/deeper/secrets.json": "new-deep", "node_modules/pkg/sub/.env.test": "new-nm",
                "fresh/a/b/c/d/prod.env": "new-folder"})
    (ws / "services/api/notes.txt").write_text(f"KEY={MARK}-renamed\n")
    (ws / "services/api/notes.txt").rename(ws / "services/api/.env.production")
    outside = tmp_path / "outside" / "pkg" / "conf"
    outside.mkdir(parents=True)
    (outside / "credentials.json").write_text(f"KEY={MARK}-moved-in\n")
    shutil.move(str(tmp_path / "outside" / "pkg"), str(ws / "l1" / "l2" / "l3" / "moved"))
    rels = ["services/api/config/new/deeper/secrets.json", "node_modules/pkg/sub/.env.test", "fresh/a/b/c/d/prod.env",
            "services/api/.env.production", "l1/l2/l3/moved/conf/credentials.json"]
    _list(deep_host, rels)
    secrets = _secrets(deep_host)
    for technique in ("cat", "grep_r", "find_exec", "copy"):
        _assert_no_leak(deep_host, deep_host.sh(READS[technique]), secrets, technique)
    # and once more after a file is replaced by a folder of the same name and a folder removed and made again
    shutil.rmtree(ws / "fresh")
    (ws / "l1/l2/l3/l4/l5/.env.local").unlink()
    _write(ws, {"fresh/a/b/c/d/prod.env": "remade", "l1/l2/l3/l4/l5/.env.local/inner/.env": "dir-now"})
    _list(deep_host, ["fresh/a/b/c/d/prod.env", "l1/l2/l3/l4/l5/.env.local/inner/.env"])
    secrets = _secrets(deep_host)
    for technique in ("cat", "grep_r"):
        _assert_no_leak(deep_host, deep_host.sh(READS[technique]), secrets, technique)


def test_secret_files_deep_in_the_extensions_own_folders_are_hidden(deep_host: Host) -> None:
    """What the user put into the extension's data folder (a service account for it) is a secret file too."""
    dirs = extension_state_dirs(deep_host.env.state_dir, "ext.hostile")
    deep_host.sh("true")  # the folders exist from the first call on
    _write(dirs.data, {"config/a/b/service-account-prod.json": "data-deep", "credentials.json": "data-top"})
    out = deep_host.sh("grep -r DEEPCANARY \"$HOME/..\" \"$TMPDIR/..\" 2>/dev/null; "
                       f"cat {dirs.data}/credentials.json {dirs.data}/config/a/b/service-account-prod.json 2>&1; "
                       f"find {dirs.data} -type f -exec cat {{}} + 2>&1")
    _assert_no_leak(deep_host, out, _secrets(deep_host), "data")


def test_an_unlistable_folder_does_not_give_its_secret_files_away(deep_host: Host) -> None:
    """A folder that can be entered but not listed (mode 0311): whoever knows the name reads the file; the child may
    also make it readable (it owns it). As root the folder is listed anyway; as the user it is hidden whole."""
    ws = deep_host.env.workspace
    _write(ws, {"vault/locked/inner/.env": "locked-deep", "vault/locked/.env": "locked-top"})
    (ws / "vault" / "locked").chmod(0o311)
    secrets = {ws / "vault/locked/inner/.env", ws / "vault/locked/.env"}
    out = deep_host.sh("cat vault/locked/.env vault/locked/inner/.env; chmod 755 vault/locked vault/locked/inner; "
                       "cat vault/locked/.env vault/locked/inner/.env; grep -r DEEPCANARY vault; "
                       "cp -r vault copied-vault 2>&1; cat copied-vault/locked/.env 2>&1")
    _assert_no_leak(deep_host, out, secrets | _secrets_except(deep_host, secrets), "unlistable")


def _secrets_except(host: Host, known: set[Path]) -> set[Path]:
    mode = (host.env.workspace / "vault" / "locked").stat().st_mode
    (host.env.workspace / "vault" / "locked").chmod(0o755)
    try:
        return _secrets(host) - known
    finally:
        (host.env.workspace / "vault" / "locked").chmod(mode & 0o7777)


def test_deep_allow_list_and_tracked_files_keep_their_exemptions(deep_host: Host) -> None:
    """``readSecretFiles: [".env"]`` names every ``.env`` (a last-component pattern), at any depth; a secret file git
    tracks stays readable at any depth (its committed text is in ``.git``)."""
    ws = deep_host.env.workspace
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    _write(ws, {"pkg/a/b/c/.env.example": "tracked-deep"})
    subprocess.run(["git", "-C", str(ws), "add", "pkg/a/b/c/.env.example"], check=True)
    subprocess.run(["git", "-C", str(ws), "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "one"],
                   check=True)
    code = deep_host.env.root / "reader"
    code.mkdir()
    deep_host.box.register_extension("ext.reader", code)
    out = deep_host.sh("cat services/api/config/.env node_modules/pkg/.env; cat deploy/k8s/prod/x/y/z/w/v/id_rsa "
                       "build/out/server.key 2>&1", ext="ext.reader")
    assert f"{MARK}-depth3" in out["stdout"] and f"{MARK}-nodemodules" in out["stdout"], out
    assert f"{MARK}-depth8" not in out["stdout"] and f"{MARK}-build" not in out["stdout"], out
    tracked = deep_host.sh("cat pkg/a/b/c/.env.example; cat l1/l2/l3/l4/l5/.env.local")
    assert f"{MARK}-tracked-deep" in tracked["stdout"] and f"{MARK}-depth5" not in tracked["stdout"], tracked


EXEC_OK = {"extensionPolicy": {"profile": "permissive", "allowDangerous": True}}


def test_a_tree_too_big_to_search_refuses_the_call_with_the_fix(pi_env: PiEnv, open_sandbox: OpenSandbox,
                                                                tmp_path: Path) -> None:
    """Beyond the folder limit the sandbox cannot vouch that no secret file is readable: the call is refused (never
    run with them readable), the ledger has the refusal and the fix; a larger limit lets it run, still hiding."""
    ws = pi_env.workspace
    for n in range(150):
        (ws / "tree" / f"d{n}").mkdir(parents=True)
    _write(ws, {"tree/d149/x/y/.env": "too-big"})
    marker = tmp_path / "ran"
    box = open_sandbox(settings=EXEC_OK, env={"PI_SANDBOX_SECRET_SCAN_MAX_DIRS": "100"})
    requests = ({"method": "exec", "params": {"cmd": "sh", "args": ["-c", f"cat tree/d149/x/y/.env; touch {marker}"]}},
                {"method": "tool", "params": {"name": "bash", "input": {"command": f"touch {marker}"}}},
                {"method": "exec", "params": {"cmd": "touch", "args": [str(marker)]}})
    for n, request in enumerate(requests):
        result = box.hostcall("ext.a", {"call_id": f"big-{n}", **request})
        assert (result.ok, result.reason) == (False, "secret_scan_incomplete"), result
        assert "PI_SANDBOX_SECRET_SCAN_MAX_DIRS" in (result.message or "") and "100" in (result.message or ""), result
        entries = [e for e in box.store.query_ledger() if e.call_id == result.call_id]
        assert {(e.decision, e.reason) for e in entries} >= {("deny", "secret_scan_incomplete")}, entries
        (scan,) = [e for e in entries if e.kind == "exec_sandbox"]
        assert scan.detail["cause"] == "too_many_folders" and "hiddenPaths" in scan.detail["remediation"], scan
        alerts = [a for a in box.store.query_alerts() if a.call_id == result.call_id]
        assert any(a.reason_codes == ("secret_scan_incomplete",) and a.remediation for a in alerts), alerts
    assert not marker.exists()
    box.close()
    # the same tree under a larger limit: the call runs and the deep file is hidden
    roomy = open_sandbox(settings=EXEC_OK, env={"PI_SANDBOX_SECRET_SCAN_MAX_DIRS": "1000"})
    out = roomy.hostcall("ext.a", {"call_id": "roomy", "method": "exec", "params": {
        "cmd": "sh", "args": ["-c", "cat tree/d149/x/y/.env; grep -r DEEPCANARY .; echo done"]}})
    assert out.ok and "done" in out.result["stdout"] and MARK not in str(out.result), out


def test_more_secret_files_than_one_sandbox_binds_refuses_the_call(deep_host: Host) -> None:
    """Thousands of ``/dev/null`` binds would take bwrap seconds to minutes: past the limit the call is refused and
    the folders holding most of them are named (hide them, move them out, or allow them)."""
    from pi_sandbox.errors import SecretScanIncompleteError
    from pi_sandbox.sandbox.mounts import SECRET_MOUNTS_MAX

    ws = deep_host.env.workspace
    _write(ws, {f"fixtures/keys/k{n}.pem": f"many-{n}" for n in range(SECRET_MOUNTS_MAX + 5)})
    with pytest.raises(SecretScanIncompleteError, match="fixtures/keys") as raised:
        deep_host.sh("cat fixtures/keys/k0.pem; grep -r DEEPCANARY .")
    assert raised.value.cause == "too_many_secret_files"
    # the advice fits the cause: a larger folder limit would not help
    assert "readSecretFiles" in raised.value.remediation and "MAX_DIRS" not in raised.value.remediation
    entries = [e for e in deep_host.box.store.query_ledger() if e.kind == "exec_sandbox"]
    assert entries and entries[-1].reason == "secret_scan_incomplete", entries
    assert entries[-1].detail["remediation"] == raised.value.remediation, entries[-1].detail
    # the user moved them out: the call runs again
    shutil.rmtree(ws / "fixtures")
    after = deep_host.sh("grep -r DEEPCANARY . ; echo ok")  # refused or failed would pass a bare "not in"
    assert after["exit_code"] == 0 and "ok" in after["stdout"], after
    assert MARK not in str(after), "after removal"
