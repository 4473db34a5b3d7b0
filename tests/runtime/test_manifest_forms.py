"""Every form pi's loader accepts: pi.extensions files, folders, globs, !/+/- patterns, folder
conventions, and the packages pi itself installed (settings ``packages``, user and project scope)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.runtime.conftest import MakeHost, write_file

from pi_sandbox.runtime.discover import discover
from pi_sandbox.runtime.discovery import resolve_path, scan_folder
from pi_sandbox.runtime.pi_packages import PiPackage, install_path

TOOL = """
export default function (pi: any) {{
  pi.registerTool({{ name: "{name}", label: "{name}", description: "d",
    parameters: {{ type: "object", properties: {{}} }},
    async execute() {{ return {{ content: [{{ type: "text", text: "{name}" }}], details: {{}} }}; }} }});
}}
"""


def ext(path: Path, name: str) -> Path:
    return write_file(path, TOOL.format(name=name))


def package(folder: Path, extensions: list[str] | None, name: str = "pkg") -> Path:
    manifest: dict[str, object] = {"name": name, "version": "1.0.0"}
    if extensions is not None:
        manifest["pi"] = {"extensions": extensions}
    write_file(folder / "package.json", json.dumps(manifest))
    return folder


def entries(folder: Path) -> list[str]:
    found, error = resolve_path(folder, folder)
    assert error is None, error
    return sorted(s.entry.relative_to(folder.resolve()).as_posix() for s in found)


def test_files_folders_globs_and_exclusions(tmp_path: Path) -> None:
    root = tmp_path / "p"
    ext(root / "main.ts", "main")
    ext(root / "tools" / "a.ts", "a")
    ext(root / "tools" / "b.js", "b")
    ext(root / "tools" / "skip.ts", "skip")
    ext(root / "tools" / "nested" / "index.ts", "nested")
    ext(root / "bundled" / "index.js", "bundled")
    ext(root / "more" / "x.ts", "x")
    ext(root / "more" / "y.ts", "y")
    package(root, ["./main.ts", "tools", "bundled", "more/*.ts", "!**/skip.ts", "!y.ts", "+more/y.ts", "-tools/b.js"])
    # tools/ expands to its code files and sub-folders' entries; bundled/ to its index; the glob to
    # x and y; !skip excluded; !y excluded then force-included by +; -b force-excluded.
    assert entries(root) == ["bundled/index.js", "main.ts", "more/x.ts", "more/y.ts", "tools/a.ts",
                             "tools/nested/index.ts"]


def test_missing_manifest_entries_fall_back_to_index(tmp_path: Path) -> None:
    root = tmp_path / "p"
    ext(root / "index.ts", "idx")
    package(root, ["./gone.ts"])
    assert entries(root) == ["index.ts"]
    ext(tmp_path / "q" / "index.js", "js")
    assert entries(tmp_path / "q") == ["index.js"]


def test_folder_without_entries_is_searched_like_an_extensions_folder(tmp_path: Path) -> None:
    root = tmp_path / "loose"
    ext(root / "one.ts", "one")
    ext(root / "sub" / "index.ts", "sub")
    ext(root / "node_modules" / "dep" / "index.js", "dep")
    write_file(root / ".hidden" / "index.ts", "export default () => {};\n")
    assert entries(root) == ["one.ts", "sub/index.ts"]
    assert [s.extension_id for s in scan_folder(root)] == ["one", "sub"]


def test_every_manifest_form_loads_and_registers(tmp_path: Path, make_host: MakeHost) -> None:
    root = tmp_path / "p"
    ext(root / "main.ts", "main_tool")
    ext(root / "tools" / "a.ts", "a_tool")
    ext(root / "more" / "x.ts", "x_tool")
    ext(root / "more" / "skip.ts", "skip_tool")
    package(root, ["./main.ts", "tools", "more/*.ts", "!skip.ts"], name="@acme/forms")
    found, _ = resolve_path(root, root)
    host = make_host()
    loaded = host.load(found)
    assert {e.extension_id: e.status for e in loaded} == {
        "@acme/forms:main": "loaded", "@acme/forms:tools/a": "loaded", "@acme/forms:more/x": "loaded"}
    assert host.call_tool("@acme/forms:more/x", "x_tool", {})["content"][0]["text"] == "x_tool"


def test_packages_pi_installed_are_found_in_both_scopes(tmp_path: Path) -> None:
    agent, project, global_root = tmp_path / "agent", tmp_path / "proj", tmp_path / "prefix" / "lib" / "node_modules"
    # user scope npm (npm install -g): the global root
    ext(global_root / "@u" / "user-ext" / "index.ts", "user_tool")
    package(global_root / "@u" / "user-ext", ["./index.ts"], name="@u/user-ext")
    # project scope npm: <project>/.pi/npm/node_modules
    proj_pkg = project / ".pi" / "npm" / "node_modules" / "proj-ext"
    ext(proj_pkg / "extensions" / "one.ts", "one")
    ext(proj_pkg / "extensions" / "two.ts", "two")
    package(proj_pkg, None, name="proj-ext")  # no pi field: the extensions/ convention folder
    # user scope git checkout (a package: pi loads nothing from a checkout without a manifest)
    ext(agent / "git" / "github.com" / "o" / "repo" / "src" / "main.ts", "git_tool")
    package(agent / "git" / "github.com" / "o" / "repo", ["src/main.ts"])
    ext(agent / "git" / "github.com" / "o" / "bare" / "index.ts", "bare_tool")
    # a local path source without a manifest: the folder itself, as pi adds it
    ext(tmp_path / "local-ext" / "index.ts", "local_tool")
    write_file(agent / "settings.json", json.dumps({"packages": [
        "npm:@u/user-ext@1.2.3", "git:github.com/o/repo@v1", "git:github.com/o/bare", "../local-ext",
        "npm:not-installed"]}))
    write_file(project / ".pi" / "settings.json", json.dumps({"packages": [
        {"source": "npm:proj-ext", "extensions": ["!two.ts"]}]}))
    found = discover(agent_dir=agent, project_dir=project, npm_global_root=lambda: global_root)
    by_entry = {s.entry.relative_to(tmp_path.resolve()).as_posix(): s.origin for s in found.sources}
    assert by_entry == {
        "proj/.pi/npm/node_modules/proj-ext/extensions/one.ts": "pi-project",
        "prefix/lib/node_modules/@u/user-ext/index.ts": "pi-user",
        "agent/git/github.com/o/repo/src/main.ts": "pi-user",
        "local-ext/index.ts": "pi-user",
    }
    [problem] = found.problems
    assert problem.path == "npm:not-installed" and "pi install" in problem.reason


def test_git_sources_map_to_pis_checkout_folders(tmp_path: Path) -> None:
    agent, project = tmp_path / "a", tmp_path / "p"
    for source in ("git:github.com/o/r", "https://github.com/o/r.git", "git:git@github.com:o/r@main",
                   "ssh://git@github.com/o/r"):
        got = install_path(PiPackage(source, "user", None), agent, project, lambda: None)
        assert got == agent / "git" / "github.com" / "o" / "r", source
    assert install_path(PiPackage("npm:@s/x@2", "project", None), agent, project, lambda: None) == (
        project / ".pi" / "npm" / "node_modules" / "@s" / "x")
    assert install_path(PiPackage("npm:x", "user", None), agent, project, lambda: None) is None
