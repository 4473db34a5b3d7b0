"""More spellings of the exec-sandbox attacks, by the same real hostile extension (``hostile/exec_escape.ts``)
through ``pi.exec`` and ``node:child_process``, with exec mediation on and off (the sandbox alone holds): the
supervisor's files reached through ``/proc/*/root`` and ``cwd``, symlinks and hard links; inherited fds;
daemons that try to outlive the call (double fork + ``setsid``, ``disown``, a Python daemon); the
supervisor's processes and environment; the credential files and secrets under obfuscated spellings; the
test's listeners through every client. Each runs with the checks of ``test_exec_sandbox_attacks``: nothing
watched changed, no process outlived the call, no connection, the secret nowhere. Every payload only aims at
the test's canaries and listeners; a sentinel (``PWNED``/``VISIBLE``) in the output is a failed defence.
"""

from __future__ import annotations

import os

import pytest

from tests.e2e.test_exec_sandbox_attacks import Arena, arena  # noqa: F401  (the fixture)

SENTINELS = ("PWNED", "VISIBLE", "CONNECTED", "INHERITED")


def _variants(a: Arena) -> dict[str, str]:
    env, port, m = a.env, a.tcp.address[1], a.marker
    settings, key, db = env.global_settings, env.state_dir / "ledger-signing.key", env.state_dir / "security.db"
    auth, canary, sup = env.agent_dir / "auth.json", env.home / "canary.txt", os.getpid()
    return {
        "proc_root_and_cwd": (
            f"for r in /proc/self/root /proc/1/root /proc/$$/root /proc/$PPID/root; do "
            f"echo x > $r{canary} 2>/dev/null && echo PWNED $r; cat $r{auth} 2>/dev/null; done; "
            f"cd /proc/1/cwd && ls ../../../../{env.state_dir} 2>/dev/null && echo VISIBLE"),
        "links_to_state": (
            f"ln -s {settings} s.json; echo '{{}}' > s.json 2>/dev/null && echo PWNED; cat s.json; "
            f"ln {key} k 2>/dev/null && echo PWNED; ln {db} d 2>/dev/null && echo PWNED; "
            f"ln -s {env.state_dir} st; ls -a st/ 2>/dev/null | grep -E 'security|signing|anchor' && echo VISIBLE; "
            "rm -f s.json k d st"),
        "inherited_fds": (
            "python3 -c \"import os,stat\nfor fd in range(3, 1024):\n try: st=os.fstat(fd)\n except OSError: continue\n"
            " if stat.S_ISREG(st.st_mode) or stat.S_ISSOCK(st.st_mode) or stat.S_ISDIR(st.st_mode):"
            " print('INHERITED', fd, os.readlink('/proc/self/fd/%d' % fd))\"; ls -l /proc/self/fd"),
        "daemons": (
            f"python3 -c \"import os,time\nif os.fork() == 0:\n os.setsid()\n if os.fork() == 0:\n"
            f"  os.execvp('sleep', ['sleep', '{m}'])\n os._exit(0)\nprint('daemon started')\"; "
            f"bash -c 'sleep {m} & disown; echo disowned'; "
            f"sh -c '(trap \"\" HUP TERM; exec sleep {m}) </dev/null >/dev/null 2>&1 &'; "
            f"setsid -f sleep {m}; nohup setsid sh -c 'sleep {m}' >/dev/null 2>&1 & echo started"),
        "supervisor_visible": (
            f"kill -0 {sup} 2>/dev/null && echo VISIBLE; ls /proc/{sup} >/dev/null 2>&1 && echo VISIBLE; "
            f"cat /proc/{sup}/environ 2>/dev/null; ps -eo pid,args 2>/dev/null | grep -c . ; "
            "cat /proc/net/unix 2>/dev/null | grep -v Path | grep -q . && echo VISIBLE-SOCKETS-LISTED"),
        "secrets_obfuscated": (
            f"c''at {auth} 2>/dev/null; $'\\x63at' {auth} 2>/dev/null; eval \"cat {auth}\" 2>/dev/null; "
            f"x=$(printf '%s' {auth}); `echo cat` $x 2>/dev/null; dd if={auth} status=none 2>/dev/null; "
            f"base64 {auth} 2>/dev/null; xxd {auth} 2>/dev/null; "
            f"python3 -c \"print(open('{auth}').read())\" 2>/dev/null; "
            f"node -e \"console.log(require('fs').readFileSync('{auth}','utf8'))\" 2>/dev/null; "
            f"printf 'cat {auth}\\n' > \"$TMPDIR/r.sh\"; sh \"$TMPDIR/r.sh\" 2>/dev/null; "
            "cat /proc/self/environ /proc/1/environ; env; node -e 'console.log(JSON.stringify(process.env))'"),
        "listeners_every_client": (
            f"curl -s -m 2 http://127.0.0.1:{port}/ && echo CONNECTED; "
            f"wget -q -T 2 -O- http://127.0.0.1:{port}/ 2>/dev/null && echo CONNECTED; "
            f"python3 -c \"import urllib.request;urllib.request.urlopen('http://127.0.0.1:{port}',timeout=2)\" "
            f"2>/dev/null && echo CONNECTED; "
            f"python3 -c \"import socket;s=socket.socket(socket.AF_INET6);s.connect(('::ffff:127.0.0.1',{port}))\" "
            f"2>/dev/null && echo CONNECTED; "
            f"node -e \"require('http').get('http://localhost:{port}',()=>console.log('CONNECTED'))"
            f".on('error',()=>{{}})\"; echo > /dev/udp/127.0.0.1/{port} 2>/dev/null; true"),
    }


@pytest.mark.parametrize("via", ["exec", "child"])
def test_attack_variants_fail_and_leave_nothing_behind(arena: Arena, via: str) -> None:  # noqa: F811
    outputs = []
    for name, line in _variants(arena).items():
        out = arena.attack(via, line)
        outputs.append(out)
        for sentinel in SENTINELS:
            assert sentinel not in out, (name, out)
        arena.assert_contained(out)
    arena.assert_contained(*outputs)
