"""Credential files the environment names are secret files, whatever their name and wherever they lie.

``GOOGLE_APPLICATION_CREDENTIALS=./keys/gcp-key.json`` (a service-account private key kept in the project,
git-ignored) had the broker withhold the *variable* — only a path — while the file itself was read by the
extension's ``fs`` and by every exec child: no name rule knows ``gcp-key.json`` and nothing redacts its text.
The same for ``KUBECONFIG`` (a list), ``DOCKER_CONFIG`` (a folder) and any withheld variable whose value is a
path (``SIGNER_KEY_FILE=./svc/signer.json``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pi_sandbox.config.model import SecretBrokerSettings
from pi_sandbox.mediation.secret_locations import credential_locations
from tests.sandbox.conftest import Host

FILES = {
    "keys/gcp-key.json": '{"private_key": "-----BEGIN PRIVATE KEY-----CANARY_GCP"}',
    "deploy/kube-prod.yaml": "users:\n- user:\n    token: CANARY_KUBE\n",
    "dockercfg/config.json": '{"auths": {"r.example": {"auth": "CANARY_DOCKER"}}}',
    "dockercfg/sub/extra.txt": "CANARY_DOCKER_SUB",
    "svc/signer.json": '{"key": "CANARY_SIGNER"}',
}


@pytest.fixture()
def located(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Host:
    """The sandbox of ``host`` opened with the environment naming the files above (set before it opens)."""
    pi_env = request.getfixturevalue("pi_env")
    ws: Path = pi_env.workspace
    for name, text in FILES.items():
        (ws / name).parent.mkdir(parents=True, exist_ok=True)
        (ws / name).write_text(text)
    (ws / "svc" / "readme.txt").write_text("ORDINARY\n")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "./keys/gcp-key.json")
    monkeypatch.setenv("KUBECONFIG", f"/nonexistent/kube:{ws}/deploy/kube-prod.yaml")
    monkeypatch.setenv("DOCKER_CONFIG", str(ws / "dockercfg"))
    monkeypatch.setenv("SIGNER_KEY_FILE", "./svc/signer.json")
    host: Host = request.getfixturevalue("host")
    return host


def test_a_child_reads_no_credential_file_the_environment_names(located: Host) -> None:
    script = (
        "cat keys/gcp-key.json deploy/kube-prod.yaml dockercfg/config.json dockercfg/sub/extra.txt svc/signer.json; "
        "cat $PWD/keys/./gcp-key.json; dd if=svc/signer.json status=none; "
        "grep -r CANARY . ; tar -cf - keys deploy dockercfg svc 2>/dev/null | grep -a -o 'CANARY_[A-Z_]*'; "
        "cp -r . \"$TMPDIR/copy\" 2>/dev/null; grep -r CANARY \"$TMPDIR/copy\"; "
        "python3 -c \"import os\nfor d, _, fs in os.walk('.'):\n for f in fs:\n"
        "  try: print(open(os.path.join(d, f), errors='replace').read())\n  except OSError: pass\"; "
        "ln -s keys/gcp-key.json innocent.txt; cat innocent.txt; cat svc/readme.txt"
    )
    out = located.sh(script)
    text = out["stdout"] + out["stderr"]
    assert "CANARY" not in text, text
    assert "ORDINARY" in out["stdout"], out


def test_fs_refuses_the_credential_files_the_environment_names(located: Host) -> None:
    ws = located.env.workspace
    box = located.box
    paths = [*FILES, str(ws / "keys" / "gcp-key.json"), "keys/../keys/gcp-key.json", "dockercfg/sub/extra.txt"]
    for n, path in enumerate(paths):
        result = box.hostcall("ext.a", {"call_id": f"r{n}", "method": "fs", "params": {"op": "read", "path": path}})
        assert (result.ok, result.reason) == (False, "secret_file"), (path, result)
        assert "CANARY" not in f"{result.result} {result.message}"
    ok = box.hostcall("ext.a", {"call_id": "ok", "method": "fs", "params": {"op": "read", "path": "svc/readme.txt"}})
    assert ok.ok and "ORDINARY" in str(ok.result), ok


def test_locations_are_read_from_the_environment_with_broad_folders_left_out(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "k").mkdir(parents=True)
    (ws / "k" / "key.json").write_text("x")
    home = tmp_path / "home"
    home.mkdir()
    settings = SecretBrokerSettings()
    env = {
        "GOOGLE_APPLICATION_CREDENTIALS": "k/key.json",   # relative to the project
        "KUBECONFIG": f"{ws}/k/key.json:/nonexistent",    # a list; a missing part is skipped
        "DOCKER_CONFIG": str(ws),                          # the workspace itself: too broad, left out
        "GNUPGHOME": str(tmp_path),                        # holds the workspace: too broad
        "API_TOKEN": "./k/key.json",                       # withheld by name, spelled as a path
        "EDITOR_THEME": "./k/key.json",                    # neither: an ordinary variable
        "KRB5CCNAME": f"FILE:{ws}/k/key.json",
    }
    found = credential_locations(settings, env, cwd=str(ws), keep=(str(ws), str(home)))
    assert found == (str((ws / "k" / "key.json").resolve()),)
    assert credential_locations(SecretBrokerSettings(enabled=False), env, cwd=str(ws)) == ()
    allowed = SecretBrokerSettings(disclosure_allowlist=("API_TOKEN",))
    assert credential_locations(allowed, {"API_TOKEN": "./k/key.json"}, cwd=str(ws)) == ()
