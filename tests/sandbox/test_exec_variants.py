"""The exec-sandbox attack variants of ``tests/e2e/test_exec_sandbox_variants.py`` straight through the exec
connector (no mediation, no risk controller in front: there several are refused before they run, e.g. a
command naming the state dir), so each shows the OS wall alone holds. A sentinel in the output, a changed
canary, settings file, key or ledger, a leaked secret or a process left behind is a failed defence."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.sandbox.conftest import SECRET, Host, Listener, host_pids_with

SENTINELS = ("PWNED", "VISIBLE", "CONNECTED", "INHERITED")


def _variants(host: Host, port: int, marker: str) -> dict[str, str]:
    env = host.env
    auth, sup = env.agent_dir / "auth.json", os.getpid()
    ssh = env.home / ".ssh" / "id_rsa"
    return {
        "proc_root_and_cwd": (
            f"for r in /proc/self/root /proc/1/root /proc/$$/root /proc/$PPID/root; do "
            f"echo x > $r{host.canary} 2>/dev/null && echo PWNED $r; cat $r{auth} $r{ssh} 2>/dev/null; done; "
            f"cd /proc/1/cwd && ls ../../../../{env.state_dir} 2>/dev/null && echo VISIBLE"),
        "links_to_state": (
            f"ln -s {host.settings} s.json; echo '{{}}' > s.json 2>/dev/null && echo PWNED; cat s.json; "
            f"ln {host.key} k 2>/dev/null && echo PWNED; ln {host.db} d 2>/dev/null && echo PWNED; "
            f"ln -s {env.state_dir} st; ls -a st/ 2>/dev/null | grep -E 'security|signing|anchor' && echo VISIBLE; "
            "rm -f s.json k d st"),
        "inherited_fds": (
            "python3 -c \"import os,stat\nfor fd in range(3, 1024):\n try: st=os.fstat(fd)\n except OSError: continue\n"
            " if stat.S_ISREG(st.st_mode) or stat.S_ISSOCK(st.st_mode) or stat.S_ISDIR(st.st_mode):"
            " print('INHERITED', fd, os.readlink('/proc/self/fd/%d' % fd))\""),
        "daemons": (
            f"python3 -c \"import os\nif os.fork() == 0:\n os.setsid()\n if os.fork() == 0:\n"
            f"  os.execvp('sleep', ['sleep', '{marker}'])\n os._exit(0)\"; "
            f"bash -c 'sleep {marker} & disown'; "
            f"sh -c '(trap \"\" HUP TERM; exec sleep {marker}) </dev/null >/dev/null 2>&1 &'; "
            f"setsid -f sleep {marker}; nohup setsid sh -c 'sleep {marker}' >/dev/null 2>&1 & echo started"),
        "supervisor_visible": (
            f"kill -0 {sup} 2>/dev/null && echo VISIBLE; ls /proc/{sup} >/dev/null 2>&1 && echo VISIBLE; "
            f"cat /proc/{sup}/environ 2>/dev/null; "
            "cat /proc/net/unix 2>/dev/null | grep -v Path | grep -q . && echo VISIBLE-SOCKETS-LISTED"),
        "secrets_obfuscated": (
            f"c''at {auth} {ssh}; $'\\x63at' {auth}; eval \"cat {ssh}\"; x=$(printf '%s' {auth}); `echo cat` $x; "
            f"dd if={auth} status=none; base64 {ssh}; xxd {auth}; python3 -c \"print(open('{auth}').read())\"; "
            f"node -e \"console.log(require('fs').readFileSync('{ssh}','utf8'))\"; "
            f"printf 'cat {auth}\\n' > \"$TMPDIR/r.sh\"; sh \"$TMPDIR/r.sh\"; alias c=cat; c {auth}; "
            "cat /proc/self/environ /proc/1/environ; env; node -e 'console.log(JSON.stringify(process.env))'"),
        "listeners_every_client": (
            f"curl -s -m 2 http://127.0.0.1:{port}/ && echo CONNECTED; "
            f"wget -q -T 2 -O- http://127.0.0.1:{port}/ 2>/dev/null && echo CONNECTED; "
            f"python3 -c \"import socket;s=socket.socket(socket.AF_INET6);s.settimeout(2);"
            f"s.connect(('::ffff:127.0.0.1',{port}))\" 2>/dev/null && echo CONNECTED; "
            f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' 2>/dev/null && echo CONNECTED; "
            f"node -e \"require('http').get('http://localhost:{port}',()=>console.log('CONNECTED'))"
            ".on('error',()=>{})\"; true"),
    }


@pytest.mark.parametrize("name", ["proc_root_and_cwd", "links_to_state", "inherited_fds", "daemons",
                                  "supervisor_visible", "secrets_obfuscated", "listeners_every_client"])
def test_the_os_wall_holds_against_each_variant(host: Host, listeners: Callable[[int, Any], Listener],
                                                name: str) -> None:
    tcp = listeners(socket.AF_INET, ("127.0.0.1", 0))
    marker = f"48.{os.getpid()}7"
    out = host.sh(_variants(host, tcp.address[1], marker)[name])
    text = out["stdout"] + out["stderr"]
    for sentinel in SENTINELS:
        assert sentinel not in text, (name, text)
    assert SECRET not in text and "PRIVATE KEY" not in text, (name, text)
    deadline = time.monotonic() + 3
    while host_pids_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_pids_with(marker) == [], "a process outlived the call"
    time.sleep(0.2)
    assert tcp.connections == 0
    host.unchanged()
