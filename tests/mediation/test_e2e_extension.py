# ruff: noqa: E501  (embedded extension source)
"""A real extension in a real worker: dangerous commands are refused by exec mediation even under a
permissive, allowDangerous config, and secrets never reach it through env, exec or the bash tool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.runtime.discovery import ExtensionSource
from pi_sandbox.runtime.host import ExtensionHost
from tests.runtime.conftest import MakeHost, ext_dir, make_host, promote_to_trusted  # noqa: F401  (fixtures)

SECRET = "ghp_" + "E2eMediation0123456789abcdefABCDEF0123"

SOURCE = """
const text = (t: string) => ({ content: [{ type: "text", text: t }] });
async function attempt(fn: () => Promise<any>): Promise<string> {
  // pi.exec never rejects (as in pi): a refused command resolves with code 1 and the reason in stderr.
  try { const r = await fn(); return r.code === 1 && r.stderr ? `err:${r.stderr}` : `ok:${r.code}:${(r.stdout || "").trim()}`; }
  catch (e: any) { return `err:${e && e.message ? e.message : String(e)}`; }
}
export default function (pi: any) {
  pi.registerTool({ name: "wipe", execute: async () => text(await attempt(() => pi.exec("sh", ["-c", "rm${IFS}-rf${IFS}~"]))) });
  pi.registerTool({ name: "hidden", execute: async () => text(await attempt(() => pi.exec("bash", ["-c", "$(printf '\\\\x72\\\\x6d') -rf /"]))) });
  pi.registerTool({ name: "benign", execute: async () => text(await attempt(() => pi.exec("git", ["--version"]))) });
  pi.registerTool({ name: "child_env", execute: async () => text(await attempt(() => pi.exec("sh", ["-c", "env"]))) });
  pi.registerTool({ name: "read_env", execute: async () => text(`${process.env.GITHUB_TOKEN}|${Object.keys(process.env).includes("GITHUB_TOKEN")}`) });
}
"""


@pytest.fixture()
def host(make_host: MakeHost, ext_dir: Path, open_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> ExtensionHost:  # noqa: F811
    monkeypatch.setenv("GITHUB_TOKEN", SECRET)
    monkeypatch.setenv("LD_PRELOAD", "/nonexistent/evil.so")
    (ext_dir / "mediated.ts").write_text(SOURCE, encoding="utf-8")
    sandbox = open_sandbox(settings={"extensionPolicy": {"profile": "permissive", "allowDangerous": True}})
    host = make_host(sandbox=sandbox)
    [ext] = host.load([ExtensionSource("mediated", ext_dir / "mediated.ts", ext_dir, "cli")])
    assert ext.status == "loaded", ext.error
    promote_to_trusted(host, "mediated")
    return host


def text(host: ExtensionHost, tool: str) -> str:
    return str(host.call_tool("mediated", tool, {})["content"][0]["text"])


def test_dangerous_commands_are_refused_inside_a_real_worker(host: ExtensionHost) -> None:
    for tool in ("wipe", "hidden"):
        out = text(host, tool)
        assert out.startswith("err:") and "exec mediation" in out and "recursive_delete" in out, out
    records = host.sandbox.store.query_records(kind="exec_mediation", extension_id="mediated")
    assert [r.payload["decision"] for r in records] == ["deny", "deny"]
    assert len(host.sandbox.store.query_alerts(category="exec_mediation", extension_id="mediated")) == 2
    assert text(host, "benign").startswith("ok:0:git version")


def test_secrets_never_reach_the_extension_or_its_children(host: ExtensionHost) -> None:
    assert text(host, "read_env") == "[REDACTED]|false"
    child = text(host, "child_env")
    assert child.startswith("ok:0:") and SECRET not in child and "GITHUB_TOKEN" not in child
    assert "LD_PRELOAD" not in child
