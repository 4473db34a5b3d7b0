"""Path comparisons follow the file system's letter case: asked of the folder (``pi_sandbox.fscase``).

The comparison logic is tested with the probe's answer injected (any user, any file system); the probe
itself on this machine's file system; and everything together on a real case-insensitive file system:
vfat or tmpfs casefold where the kernel has them (as root), else a small case-insensitive FUSE file system
(``casefold_fuse.py``; Debian's ``fuse3``, installed by ``.ci/run``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pi_sandbox.errors import InstallError, PathConfinementError
from pi_sandbox.fscase import CaseRules, nearest_directory, probe_case_insensitive
from pi_sandbox.mediation.paths import PathRules
from pi_sandbox.runtime.discovery import is_bridge_file
from pi_sandbox.scanner.install import refuse_pi_folder
from tests.conftest import MakeConfig, PiEnv
from tests.mediation.path_reference import reference_resolve

INSENSITIVE = CaseRules(lambda _d: True)
SENSITIVE = CaseRules(lambda _d: False)
UNKNOWN = CaseRules(lambda _d: None)


def test_comparisons_follow_the_probe_answer() -> None:
    assert INSENSITIVE.refuses("/w/.PI/Settings.json", "/w/.pi/settings.json")
    assert INSENSITIVE.refuses("/w/.PI/x/y", "/w/.pi")
    assert not INSENSITIVE.refuses("/w/.pix", "/w/.pi")
    assert not SENSITIVE.refuses("/w/.PI/Settings.json", "/w/.pi/settings.json")
    assert SENSITIVE.refuses("/w/.pi/settings.json", "/w/.pi/settings.json")
    # Unknown counts as case-insensitive: it only ever widens a refusal.
    assert UNKNOWN.refuses("/w/.PI/settings.json", "/w/.pi/settings.json")
    assert INSENSITIVE.same("/a/Extensions", "/a/extensions") and not SENSITIVE.same("/a/Extensions", "/a/extensions")


def _rules(ws: Path, case: CaseRules, **kwargs: object) -> PathRules:
    protected = (ws / ".pi" / "settings.json", ws / "state")
    return PathRules((ws,), protected, (ws / "shared-exts",), case=case, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", [".PI/Settings.json", ".pi/SETTINGS.JSON", "STATE/security.db", "State"])
def test_protected_state_and_settings_in_any_case(tmp_path: Path, raw: str) -> None:
    ws = tmp_path
    (ws / ".pi").mkdir()
    (ws / "state").mkdir()
    with pytest.raises(PathConfinementError, match="security state or settings"):
        _rules(ws, INSENSITIVE).resolve(raw, "read")
    # Where the file system is case-sensitive these are other files: the workspace rules apply.
    _rules(ws, SENSITIVE).resolve(raw, "read")


@pytest.mark.parametrize("raw", ["SHARED-EXTS/other.ts", "Shared-Exts/new/index.ts"])
def test_other_extensions_code_read_only_in_any_case(tmp_path: Path, raw: str) -> None:
    (tmp_path / "shared-exts").mkdir()
    with pytest.raises(PathConfinementError, match="another extension's folder") as caught:
        _rules(tmp_path, INSENSITIVE).resolve(raw, "write")
    assert caught.value.reason == "extension_code"
    _rules(tmp_path, SENSITIVE).resolve(raw, "write")


@pytest.mark.parametrize("raw", ["MY-EXT/index.ts", "my-ext/../My-Ext/index.ts", "My-ext"])
def test_installed_code_read_only_in_any_case(tmp_path: Path, raw: str) -> None:
    own = tmp_path / "my-ext"
    own.mkdir()
    rules = _rules(tmp_path, INSENSITIVE, own_root=own, own_read_only=True)
    with pytest.raises(PathConfinementError, match="own installed code"):
        rules.resolve(raw, "delete" if raw == "My-ext" else "write")
    with pytest.raises(PathConfinementError, match="own installed code"):
        rules.resolve("my-ext/index.ts", "write")  # and, of course, in its own spelling
    _rules(tmp_path, SENSITIVE, own_root=own, own_read_only=True).resolve("MY-EXT/index.ts", "write")


def test_deleting_a_folder_that_holds_state_in_other_case(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    with pytest.raises(PathConfinementError):
        _rules(tmp_path, INSENSITIVE).resolve("STATE", "delete")


def test_pi_folder_refused_for_installs_in_any_case(pi_env: PiEnv, make_config: MakeConfig) -> None:
    config = make_config()
    (pi_env.agent_dir / "extensions").mkdir()
    for spelled in ("Extensions", "EXTENSIONS/sub"):
        with pytest.raises(InstallError, match="pi's own extensions folder"):
            refuse_pi_folder(pi_env.agent_dir / spelled, config, INSENSITIVE)
        refuse_pi_folder(pi_env.agent_dir / spelled, config, SENSITIVE)


def test_probe_on_this_file_system(tmp_path: Path) -> None:
    """The probe asks the folder: here (a case-sensitive file system) the answer is no, whether the folder
    has entries to look up or is empty (then a probe file is made and removed again)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    assert probe_case_insensitive(str(empty)) is False
    assert list(empty.iterdir()) == []
    (tmp_path / "Named").write_text("x")
    assert probe_case_insensitive(str(tmp_path / "Named")) is False  # a file: asks its folder
    assert nearest_directory(str(tmp_path / "missing" / "deeper")) == str(tmp_path)
    assert CaseRules().refuses(str(tmp_path / "a" / "B"), str(tmp_path / "a"))
    assert not CaseRules().refuses(str(tmp_path / "A" / "b"), str(tmp_path / "a"))


# --- a real case-insensitive file system, where one can be mounted -------------------------------------


def _mount_kernel_case_insensitive(target: Path, image: Path) -> bool:
    """Mount a kernel case-insensitive file system (vfat, else tmpfs casefold) on ``target``, as root."""
    if os.geteuid() != 0:
        return False
    filesystems = Path("/proc/filesystems").read_text()
    mkfs = shutil.which("mkfs.vfat") or shutil.which("mkfs.fat")
    if "vfat" in filesystems and mkfs:
        subprocess.run(["truncate", "-s", "8M", str(image)], check=True)
        subprocess.run([mkfs, str(image)], check=True, capture_output=True)
        if subprocess.run(["mount", "-o", "loop", str(image), str(target)], capture_output=True).returncode == 0:
            return True
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "casefold=utf8", "tmpfs", str(target)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return False
    (target / "cf").mkdir()
    if subprocess.run(["chattr", "+F", str(target / "cf")], capture_output=True).returncode == 0:
        return True
    subprocess.run(["umount", str(target)], check=False)
    return False


def _fusermount() -> str | None:
    return shutil.which("fusermount3") or shutil.which("fusermount")


def _no_new_privileges() -> bool:
    status = Path("/proc/self/status").read_text()
    return any(line.split() == ["NoNewPrivs:", "1"] for line in status.splitlines())


def _unmount(target: Path) -> None:
    """Unmount ``target`` whatever mounted it (lazily, so a busy or dead FUSE mount never stays behind)."""
    fusermount = _fusermount()
    if os.geteuid() != 0 and fusermount:
        subprocess.run([fusermount, "-u", "-z", str(target)], check=False, capture_output=True)
    else:
        subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)


def _mount_fuse_case_insensitive(target: Path, backing: Path) -> subprocess.Popen[bytes]:
    """Mount ``casefold_fuse.py`` (case-insensitive pass-through to ``backing``) on ``target``.

    Needs FUSE: the kernel module, ``/dev/fuse``, libfuse and (for a user other than root) the setuid
    ``fusermount``; ``.ci/run`` installs Debian's ``fuse3`` when it is missing (README)."""
    missing = [what for what, ok in (("kernel fuse", "fuse" in Path("/proc/filesystems").read_text()),
                                     ("/dev/fuse", Path("/dev/fuse").exists()),
                                     ("fusermount (Debian fuse3)", _fusermount() is not None)) if not ok]
    if os.geteuid() != 0 and _no_new_privileges():
        # The suite's uid-65534 re-run (under bwrap) sets no_new_privs: the setuid fusermount cannot mount.
        pytest.skip("the uid-65534 re-run sets no_new_privs, under which the setuid fusermount cannot mount "
                    "FUSE; this test runs as root in the main pass, and the path checks it covers are re-run "
                    "unprivileged by tests/mediation/test_path_fast.py")
    if missing:
        pytest.fail(f"no case-insensitive file system can be mounted here: missing {', '.join(missing)}")
    backing.mkdir()
    server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("casefold_fuse.py")), str(backing),
                               str(target)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not os.path.ismount(target):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            _unmount(target)
            stderr = server.communicate()[1].decode(errors="replace").strip()
            pytest.fail(f"the case-insensitive FUSE file system did not mount: {stderr}")
        time.sleep(0.05)
    return server


@pytest.fixture()
def insensitive_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder on a real case-insensitive file system: vfat or casefold where the kernel has them, else FUSE."""
    mount_point = tmp_path / "mnt"
    mount_point.mkdir()
    server = None
    if not _mount_kernel_case_insensitive(mount_point, tmp_path / "fat.img"):
        server = _mount_fuse_case_insensitive(mount_point, tmp_path / "backing")
    folder = mount_point / "cf" if (mount_point / "cf").is_dir() else mount_point
    try:
        yield folder
    finally:
        _unmount(mount_point)
        if server is not None:
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        assert not os.path.ismount(mount_point)


def test_on_a_real_case_insensitive_file_system(insensitive_dir: Path) -> None:
    ws = insensitive_dir / "ws"
    (ws / ".pi").mkdir(parents=True)
    (ws / ".pi" / "settings.json").write_text("{}")
    (ws / "my-ext").mkdir()
    assert probe_case_insensitive(str(ws)) is True
    rules = PathRules((ws,), (ws / ".pi" / "settings.json",), (), own_root=ws / "my-ext", own_read_only=True,
                      case=CaseRules())
    with pytest.raises(PathConfinementError):
        rules.resolve(".PI/SETTINGS.JSON", "write")
    with pytest.raises(PathConfinementError):
        rules.resolve("MY-EXT/index.ts", "write")
    assert is_bridge_file(ws / "PI-Sandbox-Bridge.ts")


def test_fast_checks_equal_the_reference_on_a_real_case_insensitive_file_system(insensitive_dir: Path) -> None:
    """The compiled rule sets (``fscase.BaseSet``) against the per-rule checks, with the real probe's answers."""
    ws = insensitive_dir / "ws"
    for folder in (".pi", "shared-exts/other", "shared-exts/my-ext", "state", "src"):
        (ws / folder).mkdir(parents=True)
    (ws / ".pi" / "settings.json").write_text("{}")
    rules = PathRules((ws, ws / "shared-exts" / "my-ext"), (ws / ".pi" / "settings.json", ws / "state"),
                      (ws / "shared-exts",), own_root=ws / "shared-exts" / "my-ext", case=CaseRules())
    spellings = [".PI/SETTINGS.JSON", ".pi/settings.json", "State/x", "STATE", "Shared-Exts/Other/i.ts",
                 "SHARED-EXTS/MY-EXT/i.ts", "shared-exts/my-ext/../OTHER/x", "SRC/.GIT/config", "src/a.ts", "."]
    for raw in spellings:
        for op in ("read", "list", "write", "delete"):
            outcomes = []
            for resolve in (rules.resolve, lambda r, o: reference_resolve(rules, r, o)):
                try:
                    outcomes.append(str(resolve(raw, op)))
                except PathConfinementError as exc:
                    outcomes.append(str(exc))
            assert outcomes[0] == outcomes[1], (raw, op, outcomes)
    for raw in (".PI/SETTINGS.JSON", "Shared-Exts/Other/i.ts"):
        with pytest.raises(PathConfinementError):
            rules.resolve(raw, "write")
