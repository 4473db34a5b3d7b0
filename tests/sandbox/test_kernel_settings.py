"""Exec children cannot change the host kernel's settings (``/proc/sys``) and hold no capabilities.

Most sysctls are global, and the kernel lets a process whose user id is the host's root (kuid 0) write
them from any user namespace, capabilities or not. When pi runs as root (a container, CI), the child's
uid 0 is the host's, so ``kernel.core_pattern = |<workspace file>`` had the host kernel run that file
as root, outside every namespace, on the next crash. bwrap's own read-only cover of ``/proc/sys`` is
skipped (its ``access(W_OK)`` test looks at the folder, which is never writable).

The payloads write each setting's *current* value back (nothing on the machine changes even where the
write succeeds); a ``WROTE`` marker in the output is the failed defence. As uid 65534
(``test_unprivileged.py``) the kernel already refuses the writes: the test must hold there too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sandbox.conftest import Host

#: Global settings whose value written back changes nothing (and that exist on every kernel with printk).
SETTINGS = ("kernel/printk_ratelimit", "kernel/printk_ratelimit_burst", "vm/stat_interval")


def _ways(setting: str) -> dict[str, str]:
    """Several ways to write ``/proc/sys/<setting>`` (its own value back) from a child."""
    path = f"/proc/sys/{setting}"
    folder, name = setting.rsplit("/", 1)
    py_write = ("import sys; p = sys.argv[1]; v = open(p).read(); "
                "open(p, 'w').write(v) and print('WROTE', p)")
    py_dirfd = ("import os, sys; d = os.open('/proc/sys/" + folder + "', os.O_RDONLY | os.O_DIRECTORY); "
                "v = open('/proc/sys/" + setting + "').read(); "
                "fd = os.open('" + name + "', os.O_WRONLY, dir_fd=d); os.write(fd, v.encode()); print('WROTE dirfd')")
    return {
        "redirect": f'v=$(cat {path}) && echo "$v" > {path} && echo WROTE redirect',
        "tee": f'cat {path} | tee {path} >/dev/null && echo WROTE tee',
        "dd": f'cat {path} > "$TMPDIR/v" && dd if="$TMPDIR/v" of={path} conv=notrunc status=none && echo WROTE dd',
        "python": f'python3 -c "{py_write}" {path}',
        "python_dirfd": f'python3 -c "{py_dirfd}"',
        "proc_self_root": f'p=/proc/self/root{path}; v=$(cat $p) && echo "$v" > $p && echo WROTE self-root',
        "proc_1_root": f'p=/proc/1/root{path}; v=$(cat $p) && echo "$v" > $p && echo WROTE 1-root',
        "dot_path": f'p=/proc/./sys/../sys/{setting}; v=$(cat $p) && echo "$v" > $p && echo WROTE dot',
        "cd_relative": f'cd /proc/sys/{folder} && v=$(cat {name}) && echo "$v" > {name} && echo WROTE cd',
        "symlink": (f'ln -sfn /proc/sys "$TMPDIR/s" && v=$(cat "$TMPDIR/s/{setting}") && '
                    f'echo "$v" > "$TMPDIR/s/{setting}" && echo WROTE link'),
        "sysctl": (f'command -v sysctl >/dev/null && v=$(sysctl -n {setting.replace("/", ".")}) && '
                   f'sysctl -q -w {setting.replace("/", ".")}="$v" 2>/dev/null && echo WROTE sysctl; true'),
    }


@pytest.mark.parametrize("setting", SETTINGS)
def test_a_child_cannot_write_any_kernel_setting(host: Host, setting: str) -> None:
    source = Path("/proc/sys") / setting
    if not source.exists():
        pytest.fail(f"{source} missing on this kernel: pick another harmless global setting")
    before = source.read_text()
    ways = _ways(setting)
    out = host.sh("; ".join(f"( {script} ) 2>/dev/null" for script in ways.values()) + "; echo DONE")
    assert "DONE" in out["stdout"], out
    assert "WROTE" not in out["stdout"], out["stdout"]
    assert source.read_text() == before
    host.unchanged()


def test_the_child_reads_kernel_settings_of_its_own_namespaces(host: Host) -> None:
    """Reading still works (tools read ``/proc/sys``), and namespaced settings answer for the child's
    namespaces (the bind's source is the host's ``/proc``: a sysctl answers for whoever opens it)."""
    out = host.sh("cat /proc/sys/kernel/hostname /proc/sys/kernel/ns_last_pid /proc/sys/kernel/pid_max")
    lines = out["stdout"].split()
    assert out["exit_code"] == 0, out
    assert lines[0] == "sandbox"
    assert int(lines[1]) < 50, "ns_last_pid is the child's PID namespace's"


def test_a_child_holds_no_capabilities(host: Host) -> None:
    """A root supervisor's bwrap kept every capability of the child's user namespace (CAP_DAC_OVERRIDE
    read a mode-000 file, CAP_NET_ADMIN reconfigured the network namespace); unprivileged ones had none."""
    out = host.sh("grep -E '^Cap(Eff|Prm|Amb):' /proc/self/status; "
                  "echo hidden > own.txt && chmod 000 own.txt && cat own.txt 2>/dev/null && echo READ-MODE-000; "
                  "python3 -c \"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 1); "
                  "print('RAW-SOCKET')\" 2>/dev/null; true")
    caps = dict(line.split(":\t") for line in out["stdout"].splitlines() if line.startswith("Cap"))
    assert caps == {"CapPrm": "0000000000000000", "CapEff": "0000000000000000", "CapAmb": "0000000000000000"}, out
    assert "READ-MODE-000" not in out["stdout"]
    assert "RAW-SOCKET" not in out["stdout"]
