"""A monorepo's workspace root is an extension's install root only when its workspace patterns list it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pi_sandbox.scanner.packages import find_install_root, workspace_root


def _folder(root: Path, rel: str) -> Path:
    folder = root / rel
    folder.mkdir(parents=True)
    return folder


@pytest.mark.parametrize("workspaces", [
    ["packages/*"], ["./packages/*"], {"packages": ["packages/*"]}, ["packages/**"], ["**/ext"], ["packages/ext/"],
])
def test_npm_and_yarn_workspace_forms(tmp_path: Path, workspaces: object) -> None:
    (tmp_path / "package.json").write_text(json.dumps({"name": "mono", "workspaces": workspaces}))
    ext = _folder(tmp_path, "packages/ext")
    assert workspace_root(ext) == tmp_path
    install = find_install_root(ext)
    assert (install.path, install.kind) == (tmp_path, "workspace")
    assert install.install_command(None) == f"cd {tmp_path} && npm install --omit=dev --ignore-scripts"


def test_pnpm_workspace_yaml(tmp_path: Path) -> None:
    (tmp_path / "pnpm-workspace.yaml").write_text("# pnpm\npackages:\n  - 'tools/*'\n  - \"extensions/**\"\n"
                                                  "  - '!extensions/skip'\ncatalog:\n  - not/a/package\n")
    assert workspace_root(_folder(tmp_path, "extensions/a/b")) == tmp_path
    assert workspace_root(_folder(tmp_path, "extensions/skip")) is None  # a negated pattern excludes it
    assert workspace_root(_folder(tmp_path, "not/a/package")) is None


@pytest.mark.parametrize("workspaces", [["libs/*"], ["*"], ["packages/*/nested"], [], "packages/*", {"nohoist": []}])
def test_a_root_that_does_not_list_the_folder_is_no_bound(tmp_path: Path, workspaces: object) -> None:
    # `*` is one path segment: a project listing its top-level folders does not reach .pi/extensions/x
    (tmp_path / "package.json").write_text(json.dumps({"name": "proj", "workspaces": workspaces}))
    ext = _folder(tmp_path, "packages/ext") if workspaces != ["*"] else _folder(tmp_path, ".pi/extensions/x")
    assert workspace_root(ext) is None
    assert find_install_root(ext).kind == "extension"


def test_the_search_stops_a_few_levels_up(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(json.dumps({"name": "far", "workspaces": ["**"]}))
    deep = _folder(tmp_path, "a/b/c/d/e/f/g/ext")
    assert workspace_root(deep) is None
    assert workspace_root(_folder(tmp_path, "a/ext")) == tmp_path
