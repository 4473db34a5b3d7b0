"""The workspace's secret files (``.env``, keys, ``secrets.json`` ... — the fs connector's table) are hidden
from exec children too, whatever reads them: a tool, an interpreter, a link, a copy, an archive of the whole
folder, shell obfuscation. An extension whose ``readSecretFiles`` names a file reads it; files git tracks
stay (their committed text is in ``.git`` anyway) so ``git add -A`` keeps working; npm's and yarn's rc files
stay readable. Canary values only; nothing leaves the test's temp folders."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from pi_sandbox.audit.verify import verify_ledger
from tests.conftest import OpenSandbox, PiEnv
from tests.sandbox.conftest import Host, digest

CANARIES = {".env": "dotenv-canary-1", "sub/.ENV": "upper-canary-2", "config/secrets.json": "json-canary-3",
            "keys/server.pem": "pem-canary-4", "prod.env": "prod-canary-5"}
READS = {
    "cat": "cat .env sub/.ENV config/secrets.json keys/server.pem prod.env",
    "dd": "for f in .env sub/.ENV config/secrets.json; do dd if=$f status=none; done",
    "python": "python3 -c \"import sys\nfor f in sys.argv[1:]:\n try: print(open(f).read())\n except OSError as e:"
              " print(e.errno)\" .env sub/.ENV config/secrets.json keys/server.pem",
    "node": "node -e \"for (const f of process.argv.slice(1)) { try { console.log(require('fs')"
            ".readFileSync(f, 'utf8')) } catch (e) { console.log(e.code) } }\" .env config/secrets.json",
    "base64_od": "base64 .env; od -c config/secrets.json; base64 < keys/server.pem",
    "links": "ln -s .env l1; cat l1; ln -s \"$PWD/config/secrets.json\" l2; cat l2; ln .env h 2>&1; cat h",
    "copies": "cp .env c1; cat c1; cp -r config c2; cat c2/secrets.json; mv .env m 2>&1; cat m",
    "archive": "tar cf - . 2>/dev/null | strings; cat */* * 2>/dev/null; grep -r canary . 2>/dev/null",
    "find_exec": "find . -type f -exec cat {} + 2>/dev/null",
    "script": "printf 'cat \"$1\"\\n' > \"$TMPDIR/r.sh\"; sh \"$TMPDIR/r.sh\" .env; sh \"$TMPDIR/r.sh\" prod.env",
    "obfuscated": "c''at .e\"n\"v; $'\\x63at' config/secrets.json; eval 'cat sub/.ENV'; `echo cat` prod.env; "
                  "IFS=_; x=cat_.env; $x; unset IFS; g() { cat \"$@\"; }; g keys/server.pem",
    "fd_tricks": "exec 3< .env; cat <&3; cat /dev/fd/3; cat /proc/self/fd/3; cat < prod.env",
    "dotdot": "cat ./sub/../.env; cat \"$PWD/.env\"; cd sub && cat ../.env ../config/secrets.json",
}


@pytest.fixture()
def secrets_host(pi_env: PiEnv, open_sandbox: OpenSandbox) -> Host:
    settings = pi_env.write_global({"extensionPolicy": {"profile": "safe", "perExtension": {
        "ext.reader": {"readSecretFiles": [".env"]}}}})
    ws = pi_env.workspace
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / ".env.example").write_text("TOKEN=example\n")
    (ws / "README.md").write_text("readme\n")
    # as in real projects: the secrets are ignored (an unignored one makes `git add -A` fail in the sandbox
    # instead of committing it)
    (ws / ".gitignore").write_text(".env\nsub/.ENV\nconfig/secrets.json\nkeys/\n*.env\n")
    subprocess.run(["git", "-C", str(ws), "add", ".env.example", "README.md", ".gitignore"], check=True)
    subprocess.run(["git", "-C", str(ws), "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "one"],
                   check=True)
    for rel, value in CANARIES.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(f"KEY={value}\n")
    (ws / ".npmrc").write_text("registry=https://registry.example/\n")
    box = open_sandbox()
    key = pi_env.state_dir / "ledger-signing.key"
    host = Host(pi_env, box, ws / ".env", settings, key, pi_env.db_path)
    host.before = {ws / rel: digest(ws / rel) for rel in CANARIES}
    host.entries_before = verify_ledger(box.store).entry_count
    return host


@pytest.mark.parametrize("technique", sorted(READS))
def test_secret_files_are_hidden_from_exec_children_whatever_reads_them(secrets_host: Host, technique: str) -> None:
    out = secrets_host.sh(READS[technique])
    text = out["stdout"] + out["stderr"]
    for value in CANARIES.values():
        encoded = base64.b64encode(f"KEY={value}\n".encode()).decode()
        assert value not in text and encoded not in text, (technique, text)
        assert value[:6] not in text.replace(" ", "").replace("\\n", ""), (technique, text)  # od -c spacing
    secrets_host.unchanged()


def test_an_extension_that_may_read_a_secret_file_reads_it(secrets_host: Host) -> None:
    code = secrets_host.env.root / "reader"
    code.mkdir()
    secrets_host.box.register_extension("ext.reader", code)
    out = secrets_host.sh("cat .env; cat prod.env", ext="ext.reader")
    assert "dotenv-canary-1" in out["stdout"] and "prod-canary-5" not in out["stdout"], out


def test_tracked_files_and_package_manager_rc_files_stay_and_git_commits(secrets_host: Host) -> None:
    out = secrets_host.sh("cat .env.example .npmrc && echo more >> README.md && echo x >> .env.example && "
                          "git -c user.name=t -c user.email=t@e commit -qam two && git status --short")
    assert out["exit_code"] == 0, out
    assert "TOKEN=example" in out["stdout"] and "registry=" in out["stdout"], out
    ws = secrets_host.env.workspace
    log = subprocess.run(["git", "-C", str(ws), "show", "--stat", "--format=", "HEAD"], capture_output=True,
                         text=True, check=True).stdout
    assert sorted(line.split()[0] for line in log.splitlines() if "|" in line) == [".env.example", "README.md"], log
    assert (ws / ".env").read_text() == "KEY=dotenv-canary-1\n"


#: Ways a child makes the repository's index claim a secret file it cannot read (each writes an entry naming a
#: blob that is not the file's text: the empty stand-in it sees, or any object id).
FORGED_INDEX = {
    "cacheinfo_empty_blob": "git update-index --add --cacheinfo 100644,e69de29bb2d1d6434b8b29ae775ad8c2e48c5391,.env "
                            "&& git update-index --add --cacheinfo 100644,e69de29bb2d1d6434b8b29ae775ad8c2e48c5391,"
                            "config/secrets.json",
    "cacheinfo_other_blob": "h=$(echo KEY=guess | git hash-object -w --stdin) && "
                            "git update-index --add --cacheinfo 100644,$h,.env --cacheinfo 100644,$h,sub/.ENV",
    "index_info": "printf '100644 e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\\t.env\\n"
                  "100644 e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\\tprod.env\\n' | git update-index --index-info",
    "stand_in_committed": "h=$(git hash-object -w --stdin < /dev/null) && "
                          "git update-index --add --cacheinfo 100644,$h,.env && "
                          "git -c user.name=t -c user.email=t@e commit -qm forged",
}


@pytest.mark.parametrize("technique", sorted(FORGED_INDEX))
def test_an_index_entry_a_child_wrote_does_not_unhide_a_secret_file(secrets_host: Host, technique: str) -> None:
    forged = secrets_host.sh(FORGED_INDEX[technique])
    assert forged["exit_code"] == 0, forged
    ws = secrets_host.env.workspace
    claimed = subprocess.run(["git", "-C", str(ws), "ls-files"], capture_output=True, text=True,
                             check=True).stdout.split()
    assert ".env" in claimed, claimed  # the index does claim it (what the exemption used to trust)
    out = secrets_host.sh("cat .env sub/.ENV config/secrets.json prod.env")
    for value in CANARIES.values():
        assert value not in out["stdout"] + out["stderr"], (technique, out)
    assert (ws / ".env").read_text() == "KEY=dotenv-canary-1\n"


def test_a_tracked_secret_file_changed_since_it_was_added_is_hidden(secrets_host: Host) -> None:
    ws = secrets_host.env.workspace
    assert "TOKEN=example" in secrets_host.sh("cat .env.example")["stdout"]  # tracked, unchanged: visible
    (ws / ".env.example").write_text("TOKEN=new-local-canary\n")  # its new text is in no object of .git
    out = secrets_host.sh("cat .env.example; git show HEAD:.env.example")
    assert "new-local-canary" not in out["stdout"] + out["stderr"], out
    assert "TOKEN=example" in out["stdout"], out  # the committed text stays readable, as in .git
    subprocess.run(["git", "-C", str(ws), "add", ".env.example"], check=True)  # added by the user: visible again
    assert "new-local-canary" in secrets_host.sh("cat .env.example")["stdout"]


def test_secret_files_are_hidden_only_when_the_broker_is_on(pi_env: PiEnv, open_sandbox: OpenSandbox) -> None:
    (pi_env.workspace / ".env").write_text("KEY=broker-off\n")
    box = open_sandbox(settings={"extensionPolicy": {"secretBroker": {"enabled": False}}})
    host = Host(pi_env, box, pi_env.workspace / ".env", Path(), Path(), pi_env.db_path)
    assert "broker-off" in host.sh("cat .env")["stdout"]


# Hard links made outside the sandbox (by the user, an earlier process): the same inode under an innocent name.
# ``where``: the innocent name; ``to``: the secret it shares bytes with (workspace-relative, or ``~/`` for the
# broker-known credential stores outside the workspace).
LINKS = {
    "root": ("notes.txt", ".env"),
    "deep_name": ("a/b/c/d/notes.txt", "prod.env"),
    "deep_secret": ("innocent.md", "x/y/z/w/.env.local"),
    "ssh_key": ("docs/key.txt", "~/.ssh/id_rsa"),
    "aws": ("creds.txt", "~/.aws/credentials"),
    "two_links": ("n1.txt", "keys/server.pem"),
}


def _link(host: Host, name: str, to: str) -> tuple[Path, str]:
    ws, home = host.env.workspace, host.env.home
    secret = home / to[2:] if to.startswith("~/") else ws / to
    if not secret.exists():
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_text(f"KEY=linked-canary-{secret.name}\n")
    value = secret.read_text().strip().split("=", 1)[1]
    (ws / name).parent.mkdir(parents=True, exist_ok=True)
    (ws / name).hardlink_to(secret)
    if name == "n1.txt":
        (ws / "n2.txt").hardlink_to(secret)
    return ws / name, value


@pytest.mark.parametrize("case", sorted(LINKS))
def test_a_hard_link_to_a_secret_file_reads_nothing_in_a_child(secrets_host: Host, case: str) -> None:
    name, to = LINKS[case]
    path, value = _link(secrets_host, name, to)
    out = secrets_host.sh(f"cat {name}; cat n2.txt 2>/dev/null; python3 -c \"print(open('{name}').read())\"; "
                          "grep -r linked-canary . 2>/dev/null; tar cf - . 2>/dev/null | strings | grep canary")
    text = out["stdout"] + out["stderr"]
    assert value not in text, text
    assert path.read_text().strip().endswith(value)  # nothing changed on the host
    secrets_host.unchanged()


@pytest.mark.parametrize("case", sorted(LINKS))
def test_a_hard_link_to_a_secret_file_is_refused_through_fs_and_grep(secrets_host: Host, case: str) -> None:
    name, to = LINKS[case]
    path, value = _link(secrets_host, name, to)
    box = secrets_host.box
    for n, params in enumerate(({"op": "read", "path": name}, {"op": "write", "path": name, "data": "x"},
                                {"op": "read", "path": "./" + name, "encoding": "base64"})):
        result = box.hostcall("ext.hostile", {"call_id": f"l{n}", "method": "fs", "params": params})
        assert (result.ok, result.reason) == (False, "secret_file"), (params, result)
    grep = box.hostcall("ext.hostile", {"call_id": "g", "method": "tool", "params": {
        "name": "grep", "input": {"pattern": "canary", "path": "."}}})
    assert value not in str(grep.result), grep
    assert path.read_text().strip().endswith(value)


def test_hard_linked_files_that_are_no_secrets_stay_readable_and_a_later_link_is_seen(secrets_host: Host) -> None:
    """Package stores (pnpm) hard-link every file: those are read as before. A name that becomes a secret's after a
    first read (the other name renamed to `.env`) is judged again: the link changed the inode's ctime."""
    ws = secrets_host.env.workspace
    (ws / "lib.js").write_text("module.exports = 1\n")
    (ws / "store-copy.js").hardlink_to(ws / "lib.js")
    box = secrets_host.box
    read = box.hostcall("ext.hostile", {"call_id": "r1", "method": "fs", "params": {"op": "read", "path": "lib.js"}})
    assert read.ok and read.result["content"] == "module.exports = 1\n", read
    assert "module.exports" in secrets_host.sh("cat store-copy.js")["stdout"]
    (ws / "store-copy.js").rename(ws / "deep" / ".env") if (ws / "deep").mkdir() is None else None
    read = box.hostcall("ext.hostile", {"call_id": "r2", "method": "fs", "params": {"op": "read", "path": "lib.js"}})
    assert (read.ok, read.reason) == (False, "secret_file"), read
    # the extension whose readSecretFiles names `.env` (one level: `deep/.env` is not named) — still refused
    reader = box.hostcall("ext.reader", {"call_id": "r3", "method": "fs", "params": {"op": "read", "path": "lib.js"}})
    assert (reader.ok, reader.reason) == (False, "secret_file"), reader
