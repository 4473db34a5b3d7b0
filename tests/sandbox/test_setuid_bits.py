"""Exec children cannot leave set-user-ID / set-group-ID files on the host.

The writable roots are host folders; the ``nosuid`` of the sandbox's mounts ends at its edge. A child that
ran ``cp /usr/bin/python3 x && chmod 4755 x`` left a program that runs as the user (as root when pi runs as
root) for any other account that can reach the workspace, and for the user's own later sessions outside
the sandbox. Each way of setting the bits is tried; afterwards no file the child made carries one, and
ordinary mode changes still work.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

from tests.sandbox.conftest import Host

_PY_WAYS = (
    "import os, shutil\n"
    "for n, m in (('py_chmod', 0o4755), ('py_chmod_g', 0o2755)):\n"
    "    shutil.copy('/bin/true', n)\n"
    "    try: os.chmod(n, m)\n"
    "    except OSError: pass\n"
    "shutil.copy('/bin/true', 'py_fchmod'); fd = os.open('py_fchmod', os.O_RDONLY)\n"
    "try: os.fchmod(fd, 0o6755)\n"
    "except OSError: pass\n"
    "shutil.copy('/bin/true', 'py_at'); d = os.open('.', os.O_RDONLY)\n"
    "try: os.chmod('py_at', 0o4711, dir_fd=d)\n"
    "except OSError: pass\n"
    "for n, flags in (('py_creat', os.O_CREAT | os.O_WRONLY), ('py_excl', os.O_CREAT | os.O_EXCL | os.O_WRONLY)):\n"
    "    try: os.close(os.open(n, flags, 0o4755))\n"
    "    except OSError: pass\n"
    "try:\n"
    "    fd = os.open('.', os.O_TMPFILE | os.O_WRONLY, 0o4755); os.link(f'/proc/self/fd/{fd}', 'py_tmpfile')\n"
    "except OSError: pass\n"
    "try: os.mknod('py_mknod', 0o4755 | stat.S_IFREG)\n"
    "except (OSError, NameError): pass\n"
)


def _setuid_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = Path("/bin/true").read_bytes()
        info = tarfile.TarInfo("tar_suid")
        info.size, info.mode = len(data), 0o4755
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _privileged_files(root: Path) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in [*dirs, *files]:
            mode = os.lstat(os.path.join(folder, name)).st_mode
            if mode & (stat.S_ISUID | stat.S_ISGID):
                found.append(f"{os.path.relpath(os.path.join(folder, name), root)} {oct(mode)}")
    return found


def test_no_way_of_setting_the_setuid_or_setgid_bit_reaches_the_host(host: Host) -> None:
    workspace = host.env.workspace
    (workspace / "payload.tar").write_bytes(_setuid_tar())
    script = (
        "cp /bin/true sh_octal; chmod 4755 sh_octal; "
        "cp /bin/true sh_symbolic; chmod u+s sh_symbolic; "
        "cp /bin/true sh_group; chmod g+s sh_group; "
        "cp /bin/true sh_both; chmod 6755 sh_both; "
        "install -m 4755 /bin/true sh_install; "
        "mkdir -m 2775 sh_dir_m; mkdir sh_dir; chmod g+s sh_dir; "
        "tar -xpf payload.tar --no-same-owner; "
        "mkfifo -m 4644 sh_fifo; "
        f"python3 -c \"import stat\n{_PY_WAYS}\"; "
        "node -e \"const fs=require('fs'); fs.copyFileSync('/bin/true','js_chmod');"
        " try{fs.chmodSync('js_chmod',0o4755)}catch(e){};"
        " try{fs.closeSync(fs.openSync('js_open','w',0o6755))}catch(e){}\"; "
        "cp /bin/true plain; chmod 700 plain; chmod +x plain; mkdir -m 755 plain_dir; echo DONE"
    )
    out = host.sh(script)
    assert "DONE" in out["stdout"], out
    assert _privileged_files(workspace) == []
    plain = workspace / "plain"
    assert stat.S_IMODE(plain.stat().st_mode) == 0o711, "ordinary chmod must keep working"
    assert (workspace / "plain_dir").is_dir()
    host.unchanged()


def test_a_setuid_file_from_the_host_keeps_nothing_in_a_copy_with_modes(host: Host) -> None:
    """``cp -p`` / ``cp -a`` of a set-uid program into the workspace copies the program, not the bit."""
    source = next((p for p in ("/usr/bin/su", "/usr/bin/passwd", "/bin/su", "/usr/bin/mount", "/usr/bin/newgrp")
                   if os.path.exists(p) and os.stat(p).st_mode & stat.S_ISUID), None)
    if source is None:
        source_path = host.env.workspace / "host_suid"
        source_path.write_bytes(Path("/bin/true").read_bytes())
        source_path.chmod(0o4755)
        source = str(source_path)
    out = host.sh(f"cp -p {source} cp_p; cp -a {source} cp_a; rsync -p {source} rsync_p 2>/dev/null; echo DONE")
    assert "DONE" in out["stdout"], out
    found = [f for f in _privileged_files(host.env.workspace) if not f.startswith("host_suid ")]
    assert found == []
