"""The exec sandbox on its own: what a child sees, may change, may reach and leaves behind.

Every command here runs through the real exec connector of a real ``Sandbox`` (bubblewrap,
seccomp, rlimits), without exec mediation in front, so each test shows the OS wall holds even
for a command the classifier let through. Hostile payloads target only canaries in temp dirs and
the test's own 127.0.0.1 / unix listeners.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.sandbox.conftest import PY, SECRET, Host, host_pids_with, stand_ins_removed


def test_state_agent_and_credential_dirs_are_invisible(host: Host) -> None:
    env = host.env
    targets = [env.state_dir / "security.db", host.key, env.agent_dir / "settings.json",
               env.agent_dir / "auth.json", env.home / ".ssh" / "id_rsa", host.canary]
    out = host.sh("for p in \"$@\"; do if [ -e \"$p\" ]; then echo SEEN $p; fi; done; cat \"$@\" 2>/dev/null; "
                  "ls -a \"$0\" 2>&1", str(env.home), *map(str, targets))
    assert "SEEN" not in out["stdout"] and SECRET not in out["stdout"]
    assert "canary" not in out["stdout"]
    # the home directory is an empty read-only view: nothing of the user's is listed
    assert set(out["stdout"].split()) <= {".", ".."}, out


def test_child_cannot_change_settings_ledger_key_or_home(host: Host) -> None:
    env = host.env
    script = (
        "import os,sqlite3,sys\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n"
        "        open(p, 'w').write('{\"extensionPolicy\": {\"profile\": \"permissive\"}}')\n"
        "        print('WROTE', p)\n"
        "    except OSError as e: print('refused', e.errno)\n"
        "    try:\n"
        "        os.unlink(p); print('DELETED', p)\n"
        "    except OSError as e: print('refused', e.errno)\n"
    )
    out = host.run(PY, "-c", script, str(host.settings), str(host.key), str(host.db), str(host.canary),
                   str(env.workspace / ".pi" / "settings.json"))
    assert "WROTE" not in out["stdout"] and "DELETED" not in out["stdout"], out
    assert out["stdout"].count("refused 30") + out["stdout"].count("refused 2") == 10, out  # EROFS / ENOENT
    host.unchanged()


def test_workspace_and_own_folders_are_writable_home_is_the_sandbox_home(host: Host) -> None:
    out = host.sh('echo made > made.txt && echo "$HOME" && echo data > "$HOME/h.txt" && echo "$TMPDIR" && '
                  'touch "$TMPDIR/t" && echo t > /tmp/pi-sbx-scratch-$$ && cat /tmp/pi-sbx-scratch-* && ls /tmp')
    assert out["exit_code"] == 0, out
    home, tmpdir, scratch, *listing = out["stdout"].split()
    assert (host.env.workspace / "made.txt").read_text() == "made\n"
    # HOME and TMPDIR are the extension's own folders in the state dir (whose location is withheld)
    dirs = host.box.exec_sandbox.dirs("ext.hostile")
    assert home == "[REDACTED]" + str(dirs.home)[len(str(host.env.state_dir)):]
    assert (dirs.home / "h.txt").read_text() == "data\n" and (dirs.tmp / "t").exists() and scratch == "t"
    assert tmpdir.endswith(str(dirs.tmp)[len(str(host.env.state_dir)):])
    # the child has its own /tmp: its file, and the mount point of the workspace (which is under /tmp here)
    assert {n for n in listing if not n.startswith("pi-sbx-scratch-")} <= {host.env.workspace.parts[2]}


@pytest.mark.parametrize("target", [".git/config", ".git/hooks/pre-commit", ".envrc", ".vscode/tasks.json",
                                    ".pi/settings.json", ".bashrc", ".mcp.json", ".gitmodules", ".npmrc",
                                    "sub/.git/config"])
def test_protected_paths_stay_read_only_inside_the_workspace(host: Host, target: str) -> None:
    ws = host.env.workspace
    (ws / ".git" / "hooks").mkdir(parents=True)
    (ws / ".git" / "config").write_text("[core]\n\tbare = false\n")
    (ws / "sub" / ".git").mkdir(parents=True)
    (ws / "sub" / ".git" / "config").write_text("[core]\n")
    before = {p: p.read_bytes() for p in ws.rglob("*") if p.is_file()}
    out = host.sh(f'mkdir -p "$(dirname {target})" 2>/dev/null; '
                  f'printf "[core]\\n\\tfsmonitor = touch {ws}/pwned\\n" > {target} && echo WROTE; '
                  f'rm -rf {target} 2>/dev/null; mv {target} moved 2>/dev/null; ln -sf /tmp/x {target} 2>/dev/null; '
                  f'test -e {target} && echo EXISTS')
    assert "WROTE" not in out["stdout"], out
    assert stand_ins_removed()
    # `mv` across the mount around a protected name falls back to copy + unlink: the copy ("moved") is text
    # the child could read anyway; the unlink fails. Nothing else is created, changed or removed.
    after = {p: p.read_bytes() for p in ws.rglob("*") if p.is_file() and p.name != "moved"}
    assert after == before  # stand-ins are gone again
    assert not (ws / ".envrc").exists() and not (ws / ".vscode").exists()


def test_git_keeps_working_in_the_sandbox(host: Host) -> None:
    out = host.sh("git init -q . 2>&1; echo x > f && git add f && git -c user.name=t -c user.email=t@e "
                  "commit -qm one && git log --oneline | wc -l")
    # the workspace had no .git: the stand-in keeps a new repository from being planted at its root
    assert stand_ins_removed() and not (host.env.workspace / ".git").exists()
    ws = host.env.workspace
    os.system(f"git -C {ws} init -q && git -C {ws} config user.email t@e && git -C {ws} config user.name t")
    config_before = (ws / ".git" / "config").read_bytes()
    out = host.sh("echo y > g && git add g && git commit -qm two && git log --oneline | wc -l && git status --short")
    assert out["exit_code"] == 0 and out["stdout"].split()[0] == "1", out
    assert (ws / ".git" / "config").read_bytes() == config_before


def test_supervisor_secrets_appear_nowhere(host: Host) -> None:
    script = ("for f in /proc/[0-9]*/environ /proc/$PPID/environ /proc/1/environ; do "
              "cat $f 2>/dev/null | tr '\\0' '\\n'; done; env; cat /proc/*/cmdline 2>/dev/null | tr '\\0' ' '")
    out = host.sh(script)
    assert SECRET not in out["stdout"] + out["stderr"]
    assert "GITHUB_TOKEN" not in out["stdout"]
    # the child sees only its own PID namespace
    pids = host.sh("ls /proc | grep -c '^[0-9]'")["stdout"].strip()
    assert int(pids) < 10


def test_no_network_by_default(host: Host, listeners) -> None:  # type: ignore[no-untyped-def]
    tcp = listeners(socket.AF_INET, ("127.0.0.1", 0))
    port = tcp.address[1]
    node = (f"const s=require('net').connect({port},'127.0.0.1',()=>{{console.log('CONNECTED');s.end()}});"
            "s.on('error',e=>console.log('refused',e.code))")
    py = (f"import socket\ntry:\n socket.create_connection(('127.0.0.1',{port}),2); print('CONNECTED')\n"
          "except OSError as e: print('refused', e.errno)")
    outs = [host.run("node", "-e", node), host.run(PY, "-c", py),
            host.run("bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo CONNECTED")]
    for out in outs:
        assert "CONNECTED" not in out["stdout"], out
    assert tcp.connections == 0
    ifaces = host.sh("cat /proc/net/dev")["stdout"]
    assert "lo:" in ifaces and all(line.split(":")[0].strip() == "lo" for line in ifaces.splitlines()[2:])


def test_unix_sockets_are_unreachable_by_path_or_abstract_name(host: Host, listeners, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    outside = listeners(socket.AF_UNIX, str(tmp_path / "agent.sock"))
    abstract = listeners(socket.AF_UNIX, f"\0pi-test-{os.getpid()}")
    inside = listeners(socket.AF_UNIX, str(host.env.workspace / "daemon.sock"))
    script = (
        "import socket,sys\n"
        "for a in sys.argv[1:]:\n"
        "    a = a.replace('@', '\\0', 1)\n"
        "    try:\n"
        "        s = socket.socket(socket.AF_UNIX); s.connect(a); print('CONNECTED', a)\n"
        "    except OSError as e: print('refused', e.errno)\n"
    )
    out = host.run(PY, "-c", script, str(tmp_path / "agent.sock"), f"@pi-test-{os.getpid()}",
                   str(host.env.workspace / "daemon.sock"))
    assert "CONNECTED" not in out["stdout"] and out["stdout"].count("refused 1") == 3, out  # EPERM: seccomp
    assert (outside.connections, abstract.connections, inside.connections) == (0, 0, 0)
    # socketpair stays usable (libuv and multiprocessing need it)
    pair = host.run(PY, "-c", "import socket; a,b=socket.socketpair(); a.send(b'ok'); print(b.recv(2).decode())")
    assert pair["stdout"].strip() == "ok"


def test_seccomp_refuses_process_and_kernel_attack_surface(host: Host) -> None:
    calls = {  # x86_64 numbers: (nr, args)
        "ptrace": (101, (16, 1, 0, 0)), "process_vm_readv": (310, (1, 0, 0, 0)), "io_uring_setup": (425, (1, 0, 0, 0)),
        "keyctl": (250, (0, 0, 0, 0)), "bpf": (321, (0, 0, 0, 0)), "userfaultfd": (323, (0, 0, 0, 0)),
        "unshare": (272, (0x10000000, 0, 0, 0)), "x32_socket": (0x40000000 | 41, (1, 1, 0, 0)),
    }
    script = ("import ctypes,json,sys\nlibc = ctypes.CDLL(None, use_errno=True)\nout = {}\n"
              "for name, (nr, args) in json.loads(sys.argv[1]).items():\n"
              "    out[name] = [libc.syscall(nr, *args), ctypes.get_errno()]\nprint(json.dumps(out))")
    out = host.run(PY, "-c", script, json.dumps(calls))
    assert json.loads(out["stdout"]) == {name: [-1, errno.EPERM] for name in calls}, out


def test_rlimits_come_from_the_quota(pi_env, open_sandbox) -> None:  # type: ignore[no-untyped-def]
    pi_env.write_global({"extensionPolicy": {"perExtension": {"ext.q": {"quota": {"maxCpuTimeMs": 2000,
                                                                                   "maxMemoryMb": 128}}}}})
    from tests.sandbox.conftest import Host as _Host

    box = open_sandbox()
    host = _Host(pi_env, box, pi_env.home, pi_env.home, pi_env.home, pi_env.home)
    limits = host.run("cat", "/proc/self/limits", ext="ext.q")["stdout"]
    rows = {line[:26].strip(): line[26:].split()[:2] for line in limits.splitlines()[1:]}
    assert rows["Max cpu time"] == ["2", "2"]
    assert rows["Max address space"] == [str(128 * 16 * 1024 * 1024)] * 2
    assert rows["Max open files"] == ["1024", "1024"] and rows["Max processes"] == ["256", "256"]
    assert rows["Max file size"] == [str(1024 ** 3)] * 2
    burn = host.run(PY, "-c", "while True: pass", ext="ext.q", timeout_ms=20000)
    assert burn["exit_code"] != 0 and not burn["timed_out"]  # SIGXCPU / SIGKILL from RLIMIT_CPU


def test_nothing_outlives_the_call(host: Host) -> None:
    marker = f"41.{os.getpid()}7"
    host.sh(f"sleep {marker} & nohup sleep {marker} >/dev/null 2>&1 & "
            f"setsid sleep {marker} </dev/null >/dev/null 2>&1 & ( ( sleep {marker} & ) & ) ; echo spawned")
    host.run("node", "-e", f"require('child_process').spawn('sleep',['{marker}'],{{detached:true,stdio:'ignore'}})"
             ".unref()")
    deadline = time.monotonic() + 3
    while host_pids_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_pids_with(marker) == []


def test_a_named_unix_socket_can_be_allowed_per_extension(pi_env, open_sandbox, listeners, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    allowed = listeners(socket.AF_UNIX, str(tmp_path / "allowed.sock"))
    other = listeners(socket.AF_UNIX, str(tmp_path / "other.sock"))
    pi_env.write_global({"extensionPolicy": {"perExtension": {"ext.sock": {"sandbox": {
        "unixSockets": [str(tmp_path / "allowed.sock")]}}}}})
    box = open_sandbox()
    host = Host(pi_env, box, pi_env.home, pi_env.home, pi_env.home, pi_env.home)
    script = ("import socket,sys\nfor a in sys.argv[1:]:\n    try:\n"
              "        s = socket.socket(socket.AF_UNIX); s.connect(a); print('CONNECTED')\n"
              "    except OSError as e: print('refused', e.errno)\n")
    out = host.run(PY, "-c", script, str(tmp_path / "allowed.sock"), str(tmp_path / "other.sock"), ext="ext.sock")
    assert out["stdout"].split("\n")[:2] == ["CONNECTED", "refused 2"], out  # the other one is not there at all
    time.sleep(0.3)
    assert (allowed.connections, other.connections) == (1, 0)
    # another extension gets neither
    out = host.run(PY, "-c", script, str(tmp_path / "allowed.sock"), ext="ext.other")
    assert out["stdout"].strip() == "refused 1" and allowed.connections == 1


@pytest.mark.parametrize("where", ["workspace", "inside"])
def test_installed_code_stays_read_only_even_where_a_writable_root_is_or_holds_it(host: Host, where: str) -> None:
    """An installed extension's folder is bound read-only above every writable root: also when it *is* the
    workspace (a user working in the install folder) or sits inside it. Other extensions keep their rules."""
    from pi_sandbox.identity import ExtensionIdentity, SourceKind

    ws = host.env.workspace
    root = ws if where == "workspace" else ws / "vendor" / "ext"
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.ts").write_text("original\n")
    host.box.register_extension("ext.installed", root,
                                identity=ExtensionIdentity("ext.installed", SourceKind.INSTALLED, str(root)))
    host.box.register_extension("ext.path", root, identity=ExtensionIdentity("ext.path", SourceKind.PATH, str(root)))
    attack = (f'echo pwned > "{root}/index.ts"; echo new > "{root}/planted"; rm -f "{root}/index.ts"; '
              f'mv "{root}/index.ts" "{root}/moved"; '
              f'cd "{ws}/.." && echo pwned > "./{root.relative_to(ws.parent)}/index.ts"; '
              # the folder around it moved aside and rebuilt (the read-only mount would go with it)
              f'cd "{ws}" && mv vendor moved-vendor && mkdir -p vendor/ext && echo pwned > vendor/ext/index.ts')
    out = host.run("sh", "-c", attack, ext="ext.installed")
    assert "Read-only file system" in out["stderr"], out
    assert (root / "index.ts").read_text() == "original\n" and not (root / "planted").exists()
    assert stand_ins_removed() and sorted(p.name for p in root.iterdir() if p.name != "vendor") == ["index.ts"]
    if where == "inside":  # the rest of the workspace stays writable for the installed extension
        assert host.sh("echo ok > made.txt", ext="ext.installed")["exit_code"] == 0
    # A path extension whose folder is the workspace is not installed code: the workspace stays writable to
    # it (a code folder inside the workspace is read-only to exec children of any extension, as before).
    wrote = host.run("sh", "-c", f'echo new > "{root}/planted"', ext="ext.path")["exit_code"] == 0
    assert wrote is (where == "workspace")


# Moving aside the folder that *holds* a read-only mount takes the mount with it; a folder of the child's
# own under the old name then carries its own `.git/config`. Each spelling of the swap must fail.
SWAPS = {
    "mv_git": "mv .git old && mkdir -p .git/hooks && printf \"$CFG\" > .git/config",
    "python_rename_git": ("python3 -c \"import os; os.rename('.git', 'old')\" && mkdir .git && "
                          "printf \"$CFG\" > .git/config"),
    "symlink_swap_git": "mv .git old && mkdir -p fake && printf \"$CFG\" > fake/config && ln -s fake .git",
    "mv_sub": "mv sub old && mkdir -p sub/.git && printf \"$CFG\" > sub/.git/config && echo evil > sub/.envrc",
    "mv_nested_git": "mv sub/.git sub/old && mkdir sub/.git && printf \"$CFG\" > sub/.git/config",
    "rmdir_dance": "cp -a .git old && rm -rf .git; mkdir -p .git && printf \"$CFG\" > .git/config",
}


@pytest.mark.parametrize("swap", sorted(SWAPS))
def test_protected_names_cannot_be_replaced_by_moving_the_folder_around_them(host: Host, swap: str) -> None:
    ws = host.env.workspace
    for repo in (ws, ws / "sub"):
        (repo / ".git" / "hooks").mkdir(parents=True)
        (repo / ".git" / "config").write_text("[core]\n\tbare = false\n")
        (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (ws / "sub" / ".envrc").write_text("export A=1\n")
    kept = [ws / ".git" / "config", ws / "sub" / ".git" / "config", ws / "sub" / ".envrc"]
    before = {p: p.read_bytes() for p in kept}
    out = host.sh(f"CFG='[core]\\n\\tfsmonitor = touch {ws}/pwned\\n'; " + SWAPS[swap] + " && echo SWAPPED")
    assert "SWAPPED" not in out["stdout"], out
    assert stand_ins_removed()
    assert {p: p.read_bytes() for p in kept if p.exists()} == before, out  # (the rest of .git stays writable)
    assert not (ws / ".git").is_symlink() and not (ws / "sub" / ".git").is_symlink()


def test_git_add_all_in_the_sandbox_does_not_commit_the_stand_ins(host: Host) -> None:
    """The empty read-only stand-ins for missing protected names (.bashrc, .envrc, .mcp.json ...) are files in
    the child's view: an agent's `git add -A && git commit` committed ~20 empty dotfiles into the user's repo."""
    ws = host.env.workspace
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / "sub").mkdir()
    (ws / "sub" / ".bashrc").write_text("# a real one, not a stand-in\n")
    out = host.sh("echo x > f && git add -A && git -c user.name=t -c user.email=t@e commit -qm one && "
                  "git show --name-only --format= HEAD")
    assert out["exit_code"] == 0, out
    assert sorted(out["stdout"].split()) == ["f", "sub/.bashrc"], out
    assert stand_ins_removed()
    status = subprocess.run(["git", "-C", str(ws), "status", "--short"], capture_output=True, text=True, check=True)
    assert status.stdout == "", status.stdout  # nothing committed that then vanished with the stand-ins


@pytest.mark.parametrize("repo", [".", "sub", "sub/lib"])
def test_a_commondir_cannot_redirect_git_to_a_config_of_the_childs(host: Host, repo: str) -> None:
    """`.git/commondir` names the folder git takes `config` and `hooks` from; written by a child it ran the
    child's fsmonitor on the user's next `git status` (in the workspace's repository or a nested one). Its
    stand-in holds "." (the repository itself): git works as before, and it cannot be replaced."""
    ws = host.env.workspace
    where = ws / repo
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(where)], check=True)
    pwned = host.env.root / "pwned"
    evil = (f"mkdir -p evil/hooks evil/objects evil/refs && cp .git/HEAD evil/ && printf '[core]\\n\\t"
            f"repositoryformatversion = 0\\n\\tfsmonitor = \"touch {pwned}; false\"\\n' > evil/config")
    out = host.sh(f"cd {repo} && {evil}; echo ../evil > .git/commondir && echo WROTE; "
                  "rm -f .git/commondir; mv .git/commondir .git/x 2>/dev/null; "
                  "git status --short >/dev/null && echo GIT-OK")
    assert "WROTE" not in out["stdout"] and "GIT-OK" in out["stdout"], out
    assert stand_ins_removed()
    assert not (where / ".git" / "commondir").exists()  # the stand-in is gone again, nothing of the child's
    subprocess.run(["git", "-C", str(where), "status", "--short"], check=True, capture_output=True)
    assert not pwned.exists()


@pytest.mark.parametrize("hooks", [".githooks", "tools/hooks", "missing-hooks", ".husky"])
def test_the_folder_core_hooks_path_names_is_protected_like_git_hooks(host: Host, hooks: str) -> None:
    """`core.hooksPath` (husky's `.husky`, a project's `.githooks` ...) runs its scripts on the user's next
    commit like `.git/hooks`: through exec (changed, created, moved aside) and through fs, it stays as it was."""
    ws = host.env.workspace
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    subprocess.run(["git", "-C", str(ws), "config", "core.hooksPath", hooks], check=True)
    if hooks != "missing-hooks":
        (ws / hooks).mkdir(parents=True)
        (ws / hooks / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    before = {p: p.read_bytes() for p in ws.rglob("*") if p.is_file() and ".git/" not in str(p)}
    out = host.sh(f"mkdir -p {hooks} 2>/dev/null; printf '#!/bin/sh\\ntouch {ws}/pwned\\n' > {hooks}/pre-commit "
                  f"&& echo WROTE; printf x > {hooks}/post-checkout && echo WROTE; "
                  f"mv {hooks} moved 2>/dev/null && mkdir -p {hooks} && echo evil > {hooks}/pre-commit && echo WROTE")
    assert "WROTE" not in out["stdout"], out
    assert stand_ins_removed()
    # (`mv` across the mount falls back to copy + unlink: a copy in "moved" of what the child could read)
    after = {p: p.read_bytes() for p in ws.rglob("*") if p.is_file() and ".git/" not in str(p)
             and not p.is_relative_to(ws / "moved")}
    assert after == before
    for n, path in enumerate((f"{hooks}/pre-commit", f"{hooks}/new-hook", f"./{hooks}/./x")):
        result = host.box.hostcall("ext.a", {"call_id": f"h{n}", "method": "fs",
                                             "params": {"op": "write", "path": path, "data": "evil"}})
        assert (result.ok, result.reason) == (False, "protected_path"), (path, result)


def test_a_git_file_naming_another_folder_gets_that_folders_config_and_hooks_protected(host: Host) -> None:
    """`.git` as a file (`git init --separate-git-dir meta`, a worktree's or submodule's checkout) makes git take
    config and hooks from the folder it names: those were writable to a child under an innocent name."""
    ws = host.env.workspace
    subprocess.run(["git", "init", "-q", "--separate-git-dir", str(ws / "meta"), str(ws)], check=True)
    assert (ws / ".git").is_file()
    config = (ws / "meta" / "config").read_bytes()
    pwned = host.env.root / "pwned"
    out = host.sh(f"printf '[core]\\n\\tfsmonitor = \"touch {pwned}; false\"\\n' >> meta/config && echo WROTE; "
                  "printf '#!/bin/sh\\ntouch x\\n' > meta/hooks/pre-commit && echo WROTE; "
                  "echo ../evil > meta/commondir && echo WROTE; git status --short >/dev/null && echo GIT-OK")
    assert "WROTE" not in out["stdout"] and "GIT-OK" in out["stdout"], out
    assert stand_ins_removed()
    assert (ws / "meta" / "config").read_bytes() == config and not (ws / "meta" / "commondir").exists()
    assert not (ws / "meta" / "hooks" / "pre-commit").exists()
    subprocess.run(["git", "-C", str(ws), "status", "--short"], check=True, capture_output=True)
    assert not pwned.exists()
