"""Configs that make commit-hook managers, other agents and editors run code stay out of a child's reach.

A repository that uses pre-commit has ``.git/hooks/pre-commit`` run ``pre-commit``, which runs what
``.pre-commit-config.yaml`` names: a child that added ``- repo: local`` with ``entry: sh -c ...`` had its command run
by the user's next ``git commit``; the same for lefthook and overcommit. Other agents' project settings start MCP
servers or run hooks (``.cursor/``, ``.gemini/``, ``.kiro/`` ...), aider runs ``lint-cmd`` after every edit, and a
dev container's ``initializeCommand`` runs on the host. ``.husky/`` and ``.vscode/`` were protected; these were
ordinary files. Now: read-only for children when they exist, refused through fs, quarantined when planted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sandbox.conftest import Host

EXISTING = (".pre-commit-config.yaml", "lefthook.yml", ".overcommit.yml", ".cursor/mcp.json", ".gemini/settings.json",
            ".kiro/hooks/on-save.json", ".devcontainer/devcontainer.json", ".aider.conf.yml", "pkg/lefthook.yml",
            "pkg/.pre-commit-config.yaml")
PAYLOAD = "- repo: local\n  hooks: [{id: x, name: x, entry: sh -c 'touch /tmp/pwned', language: system}]\n"


def _write_all(ws: Path) -> dict[Path, bytes]:
    for rel in EXISTING:
        path = ws / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {rel}\n")
    return {ws / rel: (ws / rel).read_bytes() for rel in EXISTING}


def test_a_child_cannot_change_existing_hook_and_agent_configs(host: Host) -> None:
    before = _write_all(host.env.workspace)
    lines = []
    for rel in EXISTING:
        lines += [
            f"printf '%s' \"$P\" >> {rel}",
            f"sed -i 's/#/x/' {rel}",
            f"python3 -c \"open('{rel}', 'w').write('evil')\"",
            f"mv {rel} {rel}.old && printf '%s' \"$P\" > {rel}",
            f"rm -f {rel}; printf '%s' \"$P\" > {rel}",
            f"echo evil | cp /dev/stdin {rel}",
        ]
    folders = sorted({rel.split("/")[0] for rel in EXISTING if "/" in rel and not rel.startswith("pkg/")})
    lines += [f"mv {d} {d}.old && mkdir {d} && echo evil > {d}/x.json" for d in folders]
    out = host.sh("; ".join(f"({line}) 2>/dev/null" for line in lines) + "; echo DONE", env={"P": PAYLOAD})
    assert "DONE" in out["stdout"], out
    after = {path: path.read_bytes() for path in before if path.exists()}
    assert after == before
    host.unchanged()


@pytest.mark.parametrize("rel", EXISTING)
def test_fs_refuses_writing_the_configs(host: Host, rel: str) -> None:
    _write_all(host.env.workspace)
    result = host.box.hostcall("ext.a", {"call_id": "w", "method": "fs",
                                         "params": {"op": "write", "path": rel, "data": PAYLOAD}})
    assert (result.ok, result.reason) == (False, "protected_path"), result


def test_a_planted_config_is_moved_out_after_the_call(host: Host) -> None:
    ws = host.env.workspace
    out = host.sh("printf '%s' \"$P\" > .pre-commit-config.yaml; mkdir -p deep/er && printf '%s' \"$P\" > "
                  "deep/er/lefthook.yml; mkdir -p .cursor && echo '{}' > .cursor/mcp.json; echo DONE",
                  env={"P": PAYLOAD})
    assert "DONE" in out["stdout"], out
    for rel in (".pre-commit-config.yaml", "deep/er/lefthook.yml", ".cursor/mcp.json"):
        assert not (ws / rel).exists(), rel
