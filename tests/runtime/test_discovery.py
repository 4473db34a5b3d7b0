"""Discovery: auto folders, package.json pi.extensions, settings and -e paths, --no-extensions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.runtime.conftest import write_file

from pi_sandbox.runtime.discover import discover
from pi_sandbox.runtime.discovery import resolve_path


def layout(tmp_path: Path) -> tuple[Path, Path]:
    agent, project = tmp_path / "agent", tmp_path / "project"
    ext = agent / "extensions"
    write_file(ext / "single.ts", "export default () => {};\n")
    write_file(ext / "plain.js", "export default () => {};\n")
    write_file(ext / "types.d.ts", "export {};\n")
    write_file(ext / "README.md", "not code\n")
    write_file(ext / "folder" / "index.ts", "export default () => {};\n")
    write_file(ext / "empty-folder" / "notes.txt", "nothing\n")
    pkg = ext / "pkg"
    write_file(pkg / "package.json", json.dumps({"name": "@acme/tools", "pi": {"extensions": ["./a.ts", "./b.ts"]}}))
    write_file(pkg / "a.ts", "export default () => {};\n")
    write_file(pkg / "b.ts", "export default () => {};\n")
    write_file(project / ".pi" / "extensions" / "single.ts", "export default () => {};\n")
    return agent, project


def test_auto_discovery(tmp_path: Path) -> None:
    agent, project = layout(tmp_path)
    found = discover(agent_dir=agent, project_dir=project)
    ids = [s.extension_id for s in found.sources]
    # The project's "single" keeps the id the user's own "single" holds: it is not renamed out of the way
    # (that would hide the takeover attempt) but passed on for the loader to refuse (identity_conflict).
    assert ids == ["folder", "@acme/tools:a", "@acme/tools:b", "plain", "single", "single"]
    by_id = {s.extension_id: s for s in found.sources if s.origin != "project"}
    assert by_id["folder"].root == (agent / "extensions" / "folder").resolve()
    assert by_id["single"].root == (agent / "extensions").resolve()
    assert by_id["@acme/tools:a"].root == (agent / "extensions" / "pkg").resolve()
    assert [s.origin for s in found.sources if s.extension_id == "single"] == ["agent", "project"]
    assert found.problems == ()


def test_project_extensions_with_a_user_id_keep_it_in_any_case_and_any_order(tmp_path: Path) -> None:
    agent, project = layout(tmp_path)
    # The project's sandboxed folder is scanned before pi's user folder: order must not hand it the id.
    write_file(project / ".pi" / "sandboxed-extensions" / "PLAIN.ts", "export default () => {};\n")
    write_file(project / ".pi" / "extensions" / "other.ts", "export default () => {};\n")
    found = discover(agent_dir=agent, project_dir=project)
    pairs = [(s.extension_id, s.origin) for s in found.sources]
    assert ("plain", "agent") in pairs and ("PLAIN", "project-sandboxed") in pairs
    assert ("other", "project") in pairs and not any(i.startswith("plain-") for i, _ in pairs)


def test_settings_and_cli_paths_and_dedup(tmp_path: Path) -> None:
    agent, project = layout(tmp_path)
    extra = write_file(tmp_path / "elsewhere" / "tool.ts", "export default () => {};\n")
    found = discover(
        agent_dir=agent,
        project_dir=project,
        settings_paths=[extra],
        cli_paths=[str(extra), str(agent / "extensions" / "plain.js"), "missing.ts"],
        cwd=tmp_path,
    )
    entries = [s.entry for s in found.sources]
    assert entries.count(extra.resolve()) == 1
    assert [s.origin for s in found.sources if s.entry == extra.resolve()] == ["settings"]
    assert len(found.problems) == 1 and "does not exist" in found.problems[0].reason


def test_no_extensions_loads_nothing_even_explicit(tmp_path: Path) -> None:
    agent, project = layout(tmp_path)
    found = discover(
        agent_dir=agent, project_dir=project, cli_paths=[str(agent / "extensions" / "single.ts")], no_extensions=True
    )
    assert found.sources == () and found.problems == ()


def test_resolve_path_errors(tmp_path: Path) -> None:
    write_file(tmp_path / "dir" / "x.txt", "x")
    assert "no index.ts" in (resolve_path(tmp_path / "dir", tmp_path)[1] or "")
    assert "not a .ts/.js" in (resolve_path(tmp_path / "dir" / "x.txt", tmp_path)[1] or "")


def test_settings_paths_only_the_project_names_are_project_code_wherever_they_are(
        tmp_path: Path, pi_env: object, make_config: object) -> None:
    from pi_sandbox.identity import ORIGIN_KINDS, SourceKind

    outside = write_file(tmp_path / "outside" / "helper.ts", "export default () => {};\n")
    mine = write_file(tmp_path / "mine" / "tool.ts", "export default () => {};\n")
    config = make_config(settings={"extensions": [str(mine)]},  # type: ignore[operator]
                         project_settings={"extensions": [str(outside), str(mine)]})
    assert config.project_extensions == (outside,) and set(config.extensions) == {mine, outside}
    found = discover(agent_dir=config.agent_dir, project_dir=config.project_dir, settings_paths=config.extensions,
                     project_settings_paths=config.project_extensions)
    origins = {s.entry: s.origin for s in found.sources}
    assert origins == {mine.resolve(): "settings", outside.resolve(): "project-settings"}
    assert ORIGIN_KINDS["project-settings"] is SourceKind.PROJECT


@pytest.mark.parametrize(("entries", "named"), [
    (["./missing.ts"], "'./missing.ts', which matches"),
    (["./src/*.ts", "./gone"], "'./src/*.ts', './gone', which match"),
])
def test_a_folder_whose_manifest_names_nothing_says_which_entries(
    tmp_path: Path, entries: list[str], named: str
) -> None:
    # The message said "no package.json 'pi.extensions' entries" of a package.json that lists them.
    (tmp_path / "ext").mkdir()
    (tmp_path / "ext" / "package.json").write_text(json.dumps({"name": "ext", "pi": {"extensions": entries}}))
    found, error = resolve_path("ext", tmp_path)
    assert found == [] and error is not None and named in error and "no package.json" not in error
    (tmp_path / "ext" / "package.json").write_text("{}")  # no manifest at all: the general text
    assert "no package.json 'pi.extensions' entries" in str(resolve_path("ext", tmp_path)[1])
