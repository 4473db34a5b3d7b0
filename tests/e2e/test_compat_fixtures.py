"""Compatibility fixtures (tests/fixtures/extensions/compat): each loads in a real worker under `safe`,
registers, and its tools answer the way pi's own runtime would (API shapes, built-ins, output, polyfills)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.runtime.discovery import ExtensionSource, scan_folder
from pi_sandbox.runtime.host import ExtensionHost, ToolArgumentsError
from tests.conftest import PiEnv
from tests.runtime.conftest import MakeHost

COMPAT = Path(__file__).resolve().parents[1] / "fixtures" / "extensions" / "compat"


def load(make_host: MakeHost, *names: str, **kwargs: Any) -> ExtensionHost:
    """A host with the named compat fixtures loaded (each must load)."""
    host = make_host(**kwargs)
    sources = [s for s in scan_folder(COMPAT) if s.extension_id in names]
    assert sorted(s.extension_id for s in sources) == sorted(names)
    for ext in host.load(sources):
        assert ext.status == "loaded", ext.error
    return host


def details(result: dict[str, Any]) -> Any:
    assert not result["isError"], result["content"]
    return result["details"]


def text(result: dict[str, Any]) -> str:
    return "".join(str(c.get("text", "")) for c in result["content"])


def test_every_compat_fixture_loads_and_registers(make_host: MakeHost) -> None:
    sources = scan_folder(COMPAT)
    assert len(sources) >= 30
    host = make_host()
    loaded = host.load(sources)
    assert {e.extension_id: e.error for e in loaded if e.status != "loaded"} == {}
    for ext in loaded:
        regs = ext.registrations
        assert any(regs.get(k) for k in ("tools", "commands", "events", "shortcuts")), ext.extension_id


# --- item 5: API shapes -------------------------------------------------------------------------------


def test_current_execute_signature(make_host: MakeHost, pi_env: PiEnv) -> None:
    host = load(make_host, "execute-current")
    result = host.call_tool("execute-current", "probe", {"n": 3}, tool_call_id="tc-1")
    assert details(result) == {"id": "tc-1", "n": 3, "signalAborted": False, "signalIsAbortSignal": True,
                               "cwd": str(pi_env.workspace), "hasUI": False, "updates": 2}
    assert result["updates"] == 2


def test_pre_051_execute_signature(make_host: MakeHost, pi_env: PiEnv) -> None:
    host = load(make_host, "execute-legacy")
    result = host.call_tool("execute-legacy", "legacy", {"n": 1})
    assert details(result) == {"n": 1, "cwd": str(pi_env.workspace), "uiNotify": "function",
                               "sessionEntries": "array", "signalAborted": False, "listened": True}
    assert result["updates"] == 1


def test_bare_results_json_schema_and_prepare_arguments(make_host: MakeHost) -> None:
    host = load(make_host, "execute-minimal")
    assert text(host.call_tool("execute-minimal", "bare", {})) == "bare result"
    assert text(host.call_tool("execute-minimal", "object_result", {})) == '{"a":1}'
    assert text(host.call_tool("execute-minimal", "json_schema", {"q": "x"})) == "q=x"
    prepared = host.call_tool("execute-minimal", "prepared", {"count": "7", "old": "renamed"})
    assert details(prepared) == {"count": 7, "type": "number", "legacyName": "renamed"}


def test_abort_signal_reaches_the_tool_and_what_it_passes_the_signal_to(make_host: MakeHost) -> None:
    host = load(make_host, "abort-signal")
    result = host.call_tool("abort-signal", "wait", {}, abort_after_ms=50)
    assert details(result) == {"aborted": True, "reasonName": "AbortError", "viaEvent": True, "fetch": "AbortError",
                               "piExec": {"killed": True}, "spawn": "ABORT_ERR", "ctxSignal": True}
    assert result["aborted"] is True
    quick = host.call_tool("abort-signal", "quick", {})
    assert details(quick) == {"aborted": False} and quick["aborted"] is False


def test_intl_constructors_with_and_without_new(make_host: MakeHost) -> None:
    host = load(make_host, "intl-forms")
    assert details(host.call_tool("intl-forms", "intl", {})) == {
        "called": "1,234.5", "constructed": "1,234.5", "instance": True, "bound": ["1", "22", "333"],
        "dateCalled": "1/2/2024", "collatorCalled": -1, "pluralWithoutNew": "TypeError", "pluralWithNew": "one",
        "segmenterWithoutNew": "TypeError", "listFormat": "a, b, and c", "currency": "$3.50", "percent": "42%",
        "supported": ["en-US"], "locale": "en-US"}


def test_child_error_without_listener_fails_the_call_instead_of_hanging(make_host: MakeHost) -> None:
    host = load(make_host, "cp-error-no-listener")
    unhandled = host.call_tool("cp-error-no-listener", "unhandled", {})
    assert unhandled["isError"] and "EACCES" in text(unhandled) and "denied" in text(unhandled)
    assert details(host.call_tool("cp-error-no-listener", "handled", {})) == {
        "error": "EACCES", "closed": True, "order": ["error", "close"]}
    # The extension is still healthy after the uncaught error.
    assert host.get("cp-error-no-listener").status == "loaded"


def test_every_child_process_form_reports_a_denial_like_node(make_host: MakeHost) -> None:
    host = load(make_host, "cp-forms")
    assert details(host.call_tool("cp-forms", "forms", {})) == {
        "execCallback": "EACCES", "execFileCallback": "EACCES", "promisifiedExec": "EACCES",
        "promisifiedExecFile": "EACCES", "execSync": "EACCES", "execFileSync": "EACCES", "spawnSync": "EACCES",
        "spawnSyncStatus": None, "piExec": {"code": 1, "killed": False, "deniedInStderr": True}}


# --- item 3: builtins load, effects are decided at use ------------------------------------------------------


def test_optional_net_extension_works_and_its_socket_use_is_decided_and_ledgered(make_host: MakeHost) -> None:
    host = load(make_host, "optional-net")
    assert details(host.call_tool("optional-net", "status", {})) == {"isIP": [4, 6, 0], "socketClass": "function"}
    assert details(host.call_tool("optional-net", "connect_editor", {})) == {"error": "EACCES", "syscall": "connect"}
    assert details(host.call_tool("optional-net", "tcp", {})) == {"error": "ERR_NOT_SUPPORTED"}
    net = [(e.decision, e.capability, e.reason) for e in host.sandbox.store.query_ledger(extension_id="optional-net")
           if e.method == "net"]
    assert net == [("deny", "exec", "deny_caps"), ("allow", "http", "default_caps")]


def test_every_builtin_loads_and_the_impossible_ones_throw_at_use(make_host: MakeHost) -> None:
    host = load(make_host, "builtins-load")
    assert details(host.call_tool("builtins-load", "probe", {})) == {
        "tlsConnect": "function", "dgramSocket": "function", "http2Connect": "function", "isMainThread": True,
        "isPrimary": True, "inspectorUrl": None, "v8RoundTrip": {"a": [1, 2], "d": "2024-01-02T00:00:00.000Z"},
        "replStart": "ERR_NOT_SUPPORTED", "sqlite": "ERR_NOT_SUPPORTED", "wasi": "ERR_NOT_SUPPORTED",
        "channel": "hello", "domainCaught": "boom", "consumers": "abc", "punycode": "xn--mnchen-3ya",
        "constantsEnoent": "number", "tracing": True}


def test_servers_and_udp_are_refused_at_listen_like_node(make_host: MakeHost) -> None:
    host = load(make_host, "server-listen")
    assert details(host.call_tool("server-listen", "http_server", {})) == {
        "error": "EACCES", "syscall": "listen", "listening": False}
    assert details(host.call_tool("server-listen", "dgram_bind", {})) == {"error": "EACCES"}
    unhandled = host.call_tool("server-listen", "unhandled_listen", {})
    assert unhandled["isError"] and "EACCES" in text(unhandled)


def test_commonjs_extension_with_an_optional_builtin(make_host: MakeHost) -> None:
    host = load(make_host, "cjs-optional")
    assert details(host.call_tool("cjs-optional", "info", {})) == {
        "sep": "/", "tmpIsString": True, "hasNet": True, "format": "a=1"}


# --- item 7: console and UI output --------------------------------------------------------------------------


def test_console_output_reaches_stderr_with_the_extension_id(
    make_host: MakeHost, capfd: pytest.CaptureFixture[str]
) -> None:
    host = load(make_host, "console-output")
    assert details(host.call_tool("console-output", "speak", {"who": "ann"})) == {"ok": True}
    err = capfd.readouterr().err.splitlines()
    mine = [line for line in err if line.startswith("[console-output]")]
    assert mine[0] == "[console-output] info: loaded v1"
    assert mine[1:3] == ["[console-output] info: hello ann", '[console-output] warn: careful {"n":1}']
    assert "[console-output] error: Error: bad" in mine  # then the stack, one line each, like Node
    assert "[console-output] debug: details" in mine and "[console-output] info: raw write" in mine
    assert not host.sandbox.store.query_alerts(category="policy_violation", extension_id="console-output")


def test_ui_output_is_shown_and_questions_get_headless_answers(
    make_host: MakeHost, capfd: pytest.CaptureFixture[str]
) -> None:
    host = load(make_host, "ui-output")
    assert details(host.call_tool("ui-output", "ui", {})) == {
        "confirm": False, "select": None, "input": None, "editor": None, "hasUI": False}
    err = capfd.readouterr().err
    for line in ("[ui-output] ui.notify: build done", "[ui-output] ui.set_status: build: green",
                 "[ui-output] ui.confirm: Deploy? — to prod → no (headless)",
                 "[ui-output] ui.select: Pick [a, b] → no answer (headless)"):
        assert line in err
    assert not host.sandbox.store.query_alerts(category="policy_violation", extension_id="ui-output")


def test_uncaught_errors_behave_like_node(make_host: MakeHost) -> None:
    host = load(make_host, "uncaught-errors")
    failed = host.call_tool("uncaught-errors", "timer_throws", {})
    assert failed["isError"] and "timer boom" in text(failed)
    assert details(host.call_tool("uncaught-errors", "with_listener", {})) == {"caught": "listened boom"}


# --- item 5: registration and event shapes -------------------------------------------------------------------


def test_registration_shapes_of_the_official_examples(make_host: MakeHost) -> None:
    # The tool renames the session: that needs session_admin, which no profile grants by default.
    refused = load(make_host, "registration-shapes").call_tool("registration-shapes", "shaped", {"x": "a"})
    assert refused["isError"] and "session_admin" in text(refused)
    grant = {"extensionPolicy": {"perExtension": {"registration-shapes": {"allow": ["session_admin"]}}}}
    host = load(make_host, "registration-shapes", sandbox_kwargs={"settings": grant})
    regs = host.get("registration-shapes").registrations
    assert [t["name"] for t in regs["tools"]] == ["shaped"]
    assert [c["name"] for c in regs["commands"]] == ["plain", "completing"]
    assert [s["key"] for s in regs["shortcuts"]] == ["ctrl+shift+r"]
    assert [f["name"] for f in regs["flags"]] == ["verbose-shapes"]
    assert regs["messageRenderers"] == ["shape-note"] and [p["name"] for p in regs["providers"]] == ["shape-llm"]
    assert details(host.call_tool("registration-shapes", "shaped", {"x": "a"})) == {
        "flag": False, "active": ["shaped"], "all": ["shaped"], "commands": ["plain", "completing"],
        "commandSource": "extension", "thinking": "high", "session": "shapes", "sent": True}
    assert host.run_command("registration-shapes", "plain", "args")["result"] == "plain:args"
    assert host.run_command("registration-shapes", "completing", "")["result"] == "done"
    assert [m["kind"] for m in host.outbox] == ["message", "user_message"]


def test_partial_events_get_the_fields_pi_always_sets(make_host: MakeHost) -> None:
    host = load(make_host, "event-shapes")
    results = lambda outcome: [r["result"] for r in outcome.get("results", [])]  # noqa: E731
    options = {"sections": 0, "snippets": 0, "guidelines": 0, "hidden": 0, "append": ""}
    assert results(host.emit("before_agent_start", {"prompt": "hi"})) == [{"systemPrompt": "sys+hi tools=0"}, options]
    partial = {"prompt": "hi", "systemPromptOptions": {"cwd": "/w", "selectedTools": ["read"]}}
    assert results(host.emit("before_agent_start", partial)) == [{"systemPrompt": "sys+hi tools=1"}, options]
    assert host.emit("tool_call", {"toolName": "bash"})["block"] is False
    blocked = host.emit("tool_call", {"toolName": "bash", "input": {"command": "rm -rf /"}})
    assert blocked["block"] is True and blocked["reason"] == "no root deletes"
    assert results(host.emit("turn_end", {})) == [{"seen": "assistant:0"}]
    assert results(host.emit("session_start", {})) == [{"reason": "startup"}]
    assert results(host.emit("agent_end", {})) == [{"count": 0}]
    assert not [e for e in host.emit("turn_end", {})["extensions"] if e.get("errors")]


# --- newer pi packages: TypeBox 1.x and the @earendil-works 1.x names (measured on published packages) ---------


def test_typebox_1x_functions_and_tool_validation(make_host: MakeHost) -> None:
    # pi-mcp-adapter 2.36 imports { Check, Errors } from "typebox/value": TypeBox 1.x's own API, served by the
    # real package; its schemas are validated (and converted, "3" -> 3) before execute, like 0.34 ones.
    host = load(make_host, "typebox1-api")
    got = details(host.call_tool("typebox1-api", "typebox1_check", {"count": "3", "email": "a@b.co"}))
    assert got == {"params": {"count": 3, "email": "a@b.co"}, "check": True, "errors": ["/count", "/email"],
                   "compiled": [True, False], "parsed": 5, "email": True}
    with pytest.raises(ToolArgumentsError, match="count"):
        host.call_tool("typebox1-api", "typebox1_check", {"count": 0, "email": "a@b.co"})


def test_names_and_sub_paths_of_the_newer_pi_packages(make_host: MakeHost) -> None:
    # pi-subagents, pi-web-access and pi-bash-confirm import from "@earendil-works/pi-ai/compat".
    host = load(make_host, "pi-newer-subpaths")
    got = details(host.call_tool("pi-newer-subpaths", "newer_names", {"mode": "a"}))
    assert got == {"mode": "a", "sameComplete": True, "envKey": "function", "modelType": "llm", "modelsError": True,
                   "parsed": {"a": 1}, "version": "string", "rendered": True, "stripped": "red", "hex": "#ff8000",
                   "machinery": "ERR_NOT_SUPPORTED", "agentIdentity": "object", "runToolCall": "function",
                   "ranges": [":10-19", ":5", "", "", ":1-4"]}
    with pytest.raises(ToolArgumentsError):
        host.call_tool("pi-newer-subpaths", "newer_names", {"mode": "z"})


def test_rare_builtin_names_and_web_globals_link(make_host: MakeHost) -> None:
    host = load(make_host, "rare-builtin-names")
    got = details(host.call_tool("rare-builtin-names", "rare_names", {}))
    assert got == {"e2big": 7, "rOnly": 0, "isString": True, "gzipIsClass": "function", "readStream": "function",
                   "form": "a.txt", "failures": ["ERR_NOT_SUPPORTED"] * 3}


def test_an_unserved_sub_path_of_a_served_package_is_named(make_host: MakeHost, tmp_path: Path) -> None:
    entry = tmp_path / "subpath.ts"
    entry.write_text('import { x } from "@earendil-works/pi-ai/providers/nowhere";\n'
                     "export default (pi: any) => { pi.registerCommand('c', { handler: async () => x }); };\n")
    host = make_host()
    [ext] = host.load([ExtensionSource("subpath", entry, tmp_path, "cli")])
    assert ext.status == "failed" and ext.error_code == "module_unavailable"
    assert "@earendil-works/pi-ai/providers/nowhere" in str(ext.error)
    assert "sub-path of a package the sandbox serves itself (@earendil-works/pi-ai)" in str(ext.error)


# --- item 4: writable places ---------------------------------------------------------------------------------


def test_tmp_and_data_dirs_are_the_extensions_own(make_host: MakeHost, pi_env: PiEnv) -> None:
    host = load(make_host, "tmpdir-writes", "execute-current")
    ext = host.get("tmpdir-writes")
    assert ext.dirs is not None and ext.dirs.tmp.is_relative_to(pi_env.state_dir)
    scratch = host.call_tool("tmpdir-writes", "scratch", {"text": "hello"})
    assert details(scratch) == {"tmpSame": True, "readBack": "hello", "mkdtemp": True, "listed": ["note.txt"]}
    assert Path(text(scratch)).read_text() == "hello" and Path(text(scratch)).is_relative_to(ext.dirs.tmp)
    assert details(host.call_tool("tmpdir-writes", "remember", {"text": "a"})) == {"count": 1}
    assert details(host.call_tool("tmpdir-writes", "remember", {"text": "b"})) == {"count": 2}
    # Writes there are ordinary fs writes: the quota meter counts them against the write quota.
    assert host.sandbox.quota.usage("tmpdir-writes")["write_bytes"] >= len("hello") + 2 * len('{"text":"a"}\n')
    other = host.get("execute-current").dirs
    assert other is not None and other.data != ext.dirs.data
    for path in (other.data, other.tmp, pi_env.state_dir, pi_env.state_dir / "extensions", ext.dirs.data.parent):
        assert details(host.call_tool("tmpdir-writes", "peek", {"path": str(path)})) == {"error": "EACCES"}, path
    assert details(host.call_tool("tmpdir-writes", "peek", {"path": str(ext.dirs.data)})) == {"error": None}


def test_tmp_is_emptied_per_session_and_data_is_kept(make_host: MakeHost, pi_env: PiEnv) -> None:
    first = load(make_host, "tmpdir-writes")
    note = Path(text(first.call_tool("tmpdir-writes", "scratch", {"text": "x"})))
    first.call_tool("tmpdir-writes", "remember", {"text": "kept"})
    first.shutdown()
    assert not note.exists()
    second = load(make_host, "tmpdir-writes", sandbox=first.sandbox)
    assert details(second.call_tool("tmpdir-writes", "remember", {"text": "again"})) == {"count": 2}


def test_temp_file_library_pattern_in_the_own_tmp_dir(make_host: MakeHost) -> None:
    host = load(make_host, "tmp-cleanup")
    assert details(host.call_tool("tmp-cleanup", "job", {"lines": 3})) == {
        "bytes": 21, "renamed": True, "removed": True, "underTmp": True}


# --- items 1 and 2: dependencies in place, manifest forms, folder conventions ---------------------------------


def test_dependencies_installed_in_place_resolve_and_find_their_own_files(make_host: MakeHost) -> None:
    host = load(make_host, "deps-lockfile")
    assert details(host.call_tool("deps-lockfile", "words", {"n": 2})) == {
        "words": ["alpha", "beta"], "ownDir": True, "count": 4, "kebab": "hello-big-world",
        "camel": "helloBigWorld", "entryDir": True}


def test_optional_native_addon_of_a_dependency_falls_back_to_javascript(make_host: MakeHost) -> None:
    host = load(make_host, "optional-native")
    assert details(host.call_tool("optional-native", "sum", {"values": [1, 2, 3.5]})) == {"sum": 6.5, "impl": "js"}


def test_every_manifest_form_of_one_package(make_host: MakeHost) -> None:
    forms = {"manifest-forms:main": ("forms_main", "file"),
             "manifest-forms:tools/a": ("forms_folder_file", "folder"),
             "manifest-forms:tools/nested/index": ("forms_subfolder_index", "sub-folder index"),
             "manifest-forms:bundled/index": ("forms_bundled", "folder index"),
             "manifest-forms:extra/one": ("forms_glob", "glob")}
    host = load(make_host, *forms)
    for ext_id, (tool, form) in forms.items():
        result = host.call_tool(ext_id, tool, {})
        assert (text(result), details(result)) == (tool, {"form": form}), ext_id


def test_folder_conventions_and_json_modules(make_host: MakeHost) -> None:
    host = load(make_host, "folder-index-js", "folder-index-ts", "json-import")
    greet = host.call_tool("folder-index-js", "greet", {"name": "ann"})
    assert (text(greet), details(greet)) == ("hello, ann", {"helperDir": True})
    assert details(host.call_tool("folder-index-ts", "shape", {"kind": "square", "size": 3})) == {"area": 9, "kind": 1}
    assert details(host.call_tool("json-import", "config", {})) == {"name": "json-import", "retries": 3,
                                                                   "plainImport": 3}


def test_optional_worker_is_refused_at_use_and_the_extension_falls_back(make_host: MakeHost) -> None:
    host = load(make_host, "worker-fallback")
    assert details(host.call_tool("worker-fallback", "fib", {"n": 20})) == {
        "value": 6765, "via": "inline", "workerError": "EACCES", "isMainThread": True}


# --- item 6: served modules answer like Node (expected values printed by Node 20 for the same code) ------------

NODE_ANSWERS: dict[tuple[str, str], dict[str, Any]] = {
    ("polyfill-buffer", "buffer"): {
        "hex": "68c3a96c6c6f2077c3b6726c64", "base64": "aMOpbGxvIHfDtnJsZA==", "base64url": "-__-", "latin1": 255,
        "utf16": "61006200", "slice": "él", "concat": "abc", "compare": -1, "equals": True, "indexOf": 7,
        "readBack": [3735928559, -2], "json": {"type": "Buffer", "data": [1, 2]}, "isBuffer": [True, False],
        "byteLength": 6, "fill": "abab", "bigint": "9223372036854775808", "float": 1.5, "uint8": True,
        "constants": True},
    ("polyfill-events-stream", "streams"): {
        "order": ["pre:1", "on:1", "once:1", "pre:2", "on:2"], "unhandled": "nobody", "ready": 42,
        "sink": ["A", "B", "C"], "collected": [1, 2, 3], "piped": "xy", "decoded": "|€|", "listenerCount": 2,
        "eventNames": ["x"], "defaultMax": 10},
    ("polyfill-util-assert", "util"): {
        "format": 'cart has 3 items (42%) {"a":[1]}', "formatExtra": "a b 3",
        "inspect": "{ a: 1, b: 'two', c: [ 1, 2, 3 ], d: { e: null } }", "inspectDepth": "{ a: [Object] }",
        "promisified": 42, "rejected": "nope", "isDeep": True, "types": [True, True, True], "inherits": True,
        "deepEqual": "passed", "notEqual": "AssertionError:ERR_ASSERTION", "throws": "passed",
        "strictOk": "AssertionError:ERR_ASSERTION", "match": "passed"},
    ("polyfill-url-path", "urls"): {
        "legacy": ["https:", "user:pw", "example.com", "8080", "/p/a/t/h", "1", "#hash"],
        "resolve": "http://a.example/d", "format": "https://e.example/x?q=1%202",
        "whatwg": ["https://h.example/a/c/d?e=f#g", "https://h.example", "f"],
        "params": [["1", "3"], "a=1&b=2&a=3&c=x+y"], "fileUrl": ["/tmp/a b.txt", "file:///tmp/x%20y"],
        "qsParse": {"a": ["1", "2"], "b": "x y"}, "qsStringify": "a=1&a=2&b=x%20y",
        "punycode": ["xn--bcher-kva.example", "bücher.example"],
        "paths": ["/a/c/d.txt", "../../d", ".gz", "a/c/", False, "w", "/", True]},
    ("crypto-hash", "hash"): {
        "sha256": "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
        "sha1": "Kq5sNclPz7QV2+lfQIuc6R7oRu0=", "md5": "5eb63bbbe01eeed093cb22bb8f5acdc3",
        "sha512": "309ecc489c12d6eb4cc40f50c902f2b4",
        "chunked": "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
        "big": "d69e68988157833272305aaf21f453c800346e8a3640db6578e260215542e5d4",
        "hmac": "0ba06f1f9a6300461e43454535dc3c4223e47b1d357073d7536eae90ec095be1", "uuid": True, "safeEqual": True,
        "sha3": "644bcc7e564373040999aac89e7622f3ca71fba1d972fd94a31c3bfbf24e3938",
        "unknown": "Digest method not supported"},
}


@pytest.mark.parametrize(("fixture", "tool"), sorted(NODE_ANSWERS), ids=[f for f, _ in sorted(NODE_ANSWERS)])
def test_served_modules_answer_like_node(make_host: MakeHost, fixture: str, tool: str) -> None:
    host = load(make_host, fixture)
    args = {"text": "hello world"} if tool == "hash" else {}
    got = details(host.call_tool(fixture, tool, args))
    assert {k: got.get(k) for k in NODE_ANSWERS[fixture, tool]} == NODE_ANSWERS[fixture, tool]


def test_rpc_tool_call_aborts_and_forwards_extension_output(make_host: MakeHost) -> None:
    import io
    import json

    from pi_sandbox.runtime.rpc import RpcServer

    host = load(make_host, "abort-signal", "ui-output")
    out = io.StringIO()
    server = RpcServer(host, out)
    server.handle_line(json.dumps({"id": 1, "method": "tool.call", "params": {
        "extension": "abort-signal", "tool": "wait", "args": {}, "abortAfterMs": 30}}))
    server.handle_line(json.dumps({"id": 2, "method": "tool.call", "params": {
        "extension": "abort-signal", "tool": "wait", "abortAfterMs": -5}}))
    server.handle_line(json.dumps({"id": 3, "method": "tool.call", "params": {"extension": "ui-output", "tool": "ui"}}))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["result"]["aborted"] is True and lines[0]["result"]["details"]["aborted"] is True
    assert lines[1]["error"]["code"] == "invalid_params"
    notes = [m["params"] for m in lines if m.get("method") == "extension.output"]
    assert {"extension_id": "ui-output", "source": "ui", "kind": "notify", "level": "info",
            "text": "build done"} in notes
    assert lines[-1]["id"] == 3  # notifications come before the response of the call that produced them


def test_ctx_shapes_of_pi_0_73_and_1_x(make_host: MakeHost) -> None:
    host = load(make_host, "context-shapes", model={"provider": "anthropic", "id": "claude-sonnet-4-5"})
    session = host.sandbox.session
    session.add_shared({"type": "message", "id": "m1", "parentId": None, "timestamp": "2026-01-01T00:00:00Z",
                        "message": {"role": "user", "content": "old", "timestamp": 1}})
    session.add_shared({"type": "compaction", "id": "c1", "parentId": "m1", "timestamp": "2026-01-01T00:00:01Z",
                        "summary": "earlier work", "firstKeptEntryId": "m2", "tokensBefore": 10})
    session.add_shared({"type": "message", "id": "m2", "parentId": "c1", "timestamp": "2026-01-01T00:00:02Z",
                        "message": {"role": "user", "content": "hi", "timestamp": 2}})
    session.add_shared({"type": "custom_message", "id": "x1", "parentId": "m2", "timestamp": "2026-01-01T00:00:03Z",
                        "customType": "note", "content": "n", "display": True})
    host.start_session()
    view = details(host.call_tool("context-shapes", "ctx_view", {}, tool_call_id="ctx-1"))
    assert view == {
        "started": "print:1", "mode": "print", "tuiOnly": False, "thinkingLevel": "off", "sessionDirJoin": True,
        "treeDepth": 4, "treeRoots": 1,
        # the compaction stands for what came before the entry it kept
        "contextRoles": ["compactionSummary", "user", "custom"],
        "contextModel": {"provider": "anthropic", "modelId": "claude-sonnet-4-5"},
        "contextEntries": ["compaction", "message", "custom_message"], "projection": [3, 3], "children": 1,
        "hasAuth": True, "hasAuthOther": False, "authStatus": True,
        # reading the key is an `env` hostcall the policy decides; refused, pi's {ok: false, error} comes back
        "authOk": False, "authError": "string",
        "promptCwd": True, "promptTools": True,
        # the registry streams through pi-ai's (the host's `complete_ai`), iterable at once
        "stream": ["start", "done"],
        "unsubscribe": "function", "unsubscribeLater": "function", "paste": "none", "tools": [],
        "nested": {"toolCall": {"type": "toolCall", "id": "ctx-1/0", "name": "read", "arguments": {}},
                   "result": {"details": {}, "content": [
                       {"type": "text", "text": "Nested tool calls are not available in this context"}]},
                   "isError": True},
        "toolInfo": ["ctx_view:object:string"], "commandSource": ["string"], "chatModels": 1, "imageModels": 0,
        "providerAuth": "none", "inMemoryTree": 0, "inMemoryContext": 0,
        "theme": ["a", "b", "c", "dark", "d", "truecolor"],
    }
    assert host.run_command("context-shapes", "models")["result"] == ["anthropic/claude-sonnet-4-5"]


def test_home_and_pwd_read_like_homedir_and_cwd_when_env_is_refused(make_host: MakeHost) -> None:
    host = load(make_host, "env-home")
    home = host.sandbox.config.environ.get("HOME", "/")
    assert details(host.call_tool("env-home", "paths", {})) == {
        "agentDir": f"{home.rstrip('/')}/.pi/agent", "sameAsHomedir": True, "pwdIsCwd": True, "editor": "unset"}


def test_pi_1x_registrations_are_recorded_and_start_nothing(make_host: MakeHost, pi_env: PiEnv) -> None:
    host = load(make_host, "pi-1x-registrations")
    regs = host.get("pi-1x-registrations").registrations
    assert regs["entryRenderers"] == ["note-entry"] and regs["mcpServers"] == ["local-docs"]
    assert regs["providers"] == [] and regs["virtualModels"] == []  # registered, then unregistered at load
    result = host.call_tool("pi-1x-registrations", "registry", {})
    assert details(result) == {"servers": ["local-docs:touch"], "theme": "dark", "settingsType": "object"}
    # the stdio server's command was recorded, never run
    assert not (pi_env.workspace / "mcp-started").exists()


def test_scope_mates_of_the_pi_packages_are_ordinary_dependencies(make_host: MakeHost) -> None:
    host = load(make_host, "pi-scope-deps")
    assert details(host.call_tool("pi-scope-deps", "scoped", {})) == {
        "sibling": "sibling:pi", "clip": "abc", "served": "function"}


def test_a_missing_scope_mate_is_named_as_not_installed(make_host: MakeHost, tmp_path: Path) -> None:
    ext = tmp_path / "needs-sibling"
    ext.mkdir()
    (ext / "package.json").write_text(
        '{"name": "needs-sibling", "type": "module", "dependencies": {"@earendil-works/fx-absent": "1.0.0"}}')
    (ext / "index.ts").write_text(
        'import { x } from "@earendil-works/fx-absent";\n'
        'export default (pi: any) => pi.on("session_start", () => x);\n')
    [loaded] = make_host().load(scan_folder(tmp_path))
    assert loaded.status == "failed" and loaded.error_code == "dependency_missing", loaded.error
    assert "@earendil-works/fx-absent" in str(loaded.error) and "npm install" in str(loaded.error)


class _BodyEcho(BaseHTTPRequestHandler):
    """Answers a POST with the Content-Type and body it got (/raw: the bytes); /hop redirects to /landed."""

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        raw = self.rfile.read(int(self.headers.get("content-length", "0")))
        binary = self.path == "/raw"  # the bytes back as they came
        reply = raw if binary else json.dumps({"type": self.headers.get("content-type"), "body": raw.decode()}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/octet-stream" if binary else "application/json")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/hop":
            self.send_response(302)
            self.send_header("location", "/landed")
            self.send_header("content-length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: Any) -> None:
        pass


def test_fetch_bodies_content_types_blobs_and_redirects_like_node(make_host: MakeHost) -> None:
    server = HTTPServer(("127.0.0.1", 0), _BodyEcho)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = load(make_host, "fetch-bodies", sandbox_kwargs={"settings": {"extensionPolicy": {
            "perExtension": {"fetch-bodies": {"http": {"allowHosts": ["127.0.0.1"]}}}}}})
        got = details(host.call_tool("fetch-bodies", "bodies", {"base": f"http://127.0.0.1:{server.server_address[1]}"}))
    finally:
        server.shutdown()
        server.server_close()
    assert got == {
        "binary": [256, True], "formBinary": True,
        "urlencoded": {"type": "application/x-www-form-urlencoded;charset=UTF-8",
                       "body": "grant_type=refresh_token&token=t"},
        "text": "text/plain;charset=UTF-8", "explicit": "application/json",
        "blobBody": {"type": "application/xml", "body": "<a/>"},
        "formType": "multipart/form-data", "formParts": True,
        "redirect": [200, True, "/landed", "OK"],
        "blob": [True, len(json.dumps({"type": "text/plain;charset=UTF-8", "body": "abc"})), "application/json"],
    }


def _monorepo(root: Path, *, listed: str = "packages/*") -> Path:
    """An npm workspace checkout as `npm install` leaves it: packages/ext (the extension) declares
    @mono-fx/shared; the root node_modules links both workspace packages (and an undeclared one)."""
    files = {
        "package.json": json.dumps({"name": "mono", "private": True, "workspaces": [listed]}),
        "packages/shared/package.json": json.dumps({"name": "@mono-fx/shared", "version": "1.0.0", "type": "module"}),
        "packages/shared/index.js": "export const shout = (s) => s.toUpperCase();\n",
        "packages/other/package.json": json.dumps({"name": "@mono-fx/other", "version": "1.0.0", "type": "module"}),
        "packages/other/index.js": "export const other = 1;\n",
        "packages/ext/package.json": json.dumps({"name": "@mono-fx/ext", "version": "1.0.0", "type": "module",
                                                 "pi": {"extensions": ["./index.ts"]},
                                                 "dependencies": {"@mono-fx/shared": "*"}}),
        "packages/ext/index.ts": 'import { shout } from "@mono-fx/shared";\n'
                                 "export default (pi: any) => pi.registerCommand('shout', "
                                 "{ handler: async () => shout('hi') });\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "node_modules" / "@mono-fx").mkdir(parents=True)
    for name in ("shared", "other", "ext"):
        (root / "node_modules" / "@mono-fx" / name).symlink_to(Path("..", "..", "packages", name))
    return root / "packages" / "ext"


def test_workspace_root_is_the_bound_only_for_a_listed_package(make_host: MakeHost, tmp_path: Path) -> None:
    host = make_host()
    ext = _monorepo(tmp_path / "mono")
    [loaded] = host.load([ExtensionSource("mono-ext", ext / "index.ts", ext, "cli")])
    assert loaded.status == "loaded", loaded.error
    assert host.run_command("mono-ext", "shout")["result"] == "HI"
    # an undeclared workspace sibling stays out of reach
    (ext / "index.ts").write_text('import { other } from "@mono-fx/other";\n'
                                  "export default (pi: any) => pi.registerCommand('o', "
                                  "{ handler: async () => other });\n")
    [refused] = make_host().load([ExtensionSource("mono-undeclared", ext / "index.ts", ext, "cli")])
    assert refused.status == "failed" and "@mono-fx/other" in str(refused.error)
    # a root whose workspaces do not list the folder is not a bound: the sibling is outside the extension
    unlisted = _monorepo(tmp_path / "other-mono", listed="libs/*")
    [outside] = make_host().load([ExtensionSource("mono-unlisted", unlisted / "index.ts", unlisted, "cli")])
    assert outside.status == "failed" and "outside the extension root" in str(outside.error)


def test_the_websocket_global_loads_and_a_connection_ends_like_a_refused_one(make_host: MakeHost) -> None:
    host = load(make_host, "websocket-global")
    assert details(host.call_tool("websocket-global", "ws", {})) == {
        "events": ["error", "close"], "code": 1006, "wasClean": False, "state": 3, "constants": [0, 1, 2, 3],
        "badUrl": "SyntaxError"}
    # the attempt is decided and recorded like a socket's TCP connection (the http capability)
    nets = [(e.decision, e.capability) for e in host.sandbox.store.query_ledger(extension_id="websocket-global")
            if e.method == "net"]
    assert nets == [("allow", "http")]


def test_dates_format_like_node_20(make_host: MakeHost) -> None:
    """Date#toLocale* honour their options and Intl.DateTimeFormat has real parts (the answers are Node 20.20's,
    ICU 74, TZ=UTC; the engine's own methods ignored every option)."""
    host = load(make_host, "date-locale")
    got = details(host.call_tool("date-locale", "date_locale", {}))
    assert got == {
        "plain": "1/15/2024, 1:05:07 PM", "date": "1/15/2024", "time": "1:05:07 PM", "shortDay": "Jan 15",
        "long": "Monday, January 15, 2024", "clock": "01:05 PM", "clock24": "13:05", "midnight24": "24:09:03",
        "monthTime": "Jan 15, 1:05 PM", "at": "January 15, 2024 at 1:05 PM", "styles": "Jan 15, 2024, 1:05 PM",
        "zone": "1:05:07 PM UTC", "millis": "01:05:07.089 PM", "isoCA": "2024-01-15", "isoSE": "2024-01-15 13:05:07",
        "gb": "15/01/2024, 13:05:07", "de": "15.1.2024", "formatter": "Jan 15",
        "parts": ["hour=1", "literal=:", "minute=05", "literal=\u202f", "dayPeriod=PM"], "invalid": "Invalid Date",
        "encodeInto": {"read": 2, "written": 3}}


def test_zlib_compresses_in_every_form_like_node(make_host: MakeHost) -> None:
    """node:zlib works (native in the worker, no hostcall): sync, callback, promisified and stream forms; Node's
    own gzip bytes decode; errors carry Node's code, errno and message (checked against Node 20.20); inflating
    stops at maxOutputLength. Brotli is named as unavailable."""
    import gzip
    import zlib

    host = load(make_host, "zlib-forms")
    got = details(host.call_tool("zlib-forms", "zlib_forms", {}))
    assert got == {
        "gzipMagic": "1f8b", "smaller": True, "roundTrip": True, "deflateHex": "789ccb48cdc9c90700062c0215",
        "inflate": "bytes", "raw": "010203", "unzipBoth": [2200, "z"], "fromNode": ["made by node\n", "raw"],
        "members": "one two", "callback": "cb", "promisified": "promise", "stream": True, "fileMagic": "1f8b",
        "crc32": [zlib.crc32(b"hello")] * 2,
        "badHeader": "Error:Z_DATA_ERROR:-3:incorrect header check",
        "truncated": "Error:Z_BUF_ERROR:-5:unexpected end of file",
        "capped": "RangeError:ERR_BUFFER_TOO_LARGE::Cannot create a Buffer larger than 1024 bytes",
        "brotli": "Error:ERR_NOT_SUPPORTED::pi-sandbox: zlib.brotliCompressSync is not available to extensions: "
                  "the sandbox has no brotli codec (gzip and deflate work)",
        "constants": [9, 1, -3], "callableClass": True}
    assert gzip.decompress(gzip.compress(b"x")) == b"x"  # the stdlib the worker uses reads what it writes


def test_zlib_output_is_capped_by_the_heap_limit(make_host: MakeHost, tmp_path: Path) -> None:
    """A small deflate bomb (100 MiB of zeros in ~100 KiB) inflates no further than the engine's heap limit (64 MiB
    here): the call fails with ERR_BUFFER_TOO_LARGE instead of allocating without bound outside the heap."""
    import zlib

    bomb = zlib.compress(b"\0" * (100 << 20), 9)
    ext = tmp_path / "bomb.js"
    ext.write_text(
        "import { inflateSync } from 'zlib'; import { readFileSync } from 'fs';\n"
        "export default function (pi) { pi.registerTool({ name: 'bomb', label: 'b', description: 'b',\n"
        "  parameters: { type: 'object', properties: {} }, async execute() {\n"
        f"    try {{ inflateSync(readFileSync({json.dumps(str(tmp_path / 'bomb.z'))}));\n"
        "      return { content: [], details: 'inflated' }; }\n"
        "    catch (e) { return { content: [], details: e.code }; } } }); }\n")
    (tmp_path / "bomb.z").write_bytes(bomb)
    host = make_host()
    (loaded,) = host.load(scan_folder(tmp_path))
    assert loaded.status == "loaded", loaded.error
    assert details(host.call_tool("bomb", "bomb", {})) == "ERR_BUFFER_TOO_LARGE"


class _Encoded(BaseHTTPRequestHandler):
    """Serves the same text gzip- or deflate-encoded, or with a coding no client knows (sent as is)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        import gzip
        import zlib

        text = b"compressed text"
        coding, body = {"/gzip": ("gzip", gzip.compress(text)), "/deflate": ("deflate", zlib.compress(text)),
                        "/custom": ("x-custom", text)}[self.path]
        self.send_response(200)
        self.send_header("content-encoding", coding)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


def test_http_responses_the_host_inflated_do_not_announce_their_encoding(make_host: MakeHost) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Encoded)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = load(make_host, "http-encoded", sandbox_kwargs={"settings": {"extensionPolicy": {
            "perExtension": {"http-encoded": {"http": {"allowHosts": ["127.0.0.1"]}}}}}})
        got = details(host.call_tool("http-encoded", "http_encoded",
                                     {"base": f"http://127.0.0.1:{server.server_address[1]}"}))
    finally:
        server.shutdown()
        server.server_close()
    assert got == {
        "gzip": {"encoding": None, "length": "15", "body": "compressed text"},
        "deflate": {"encoding": None, "length": "15", "body": "compressed text"},
        "unknown": {"encoding": "x-custom", "length": "15", "body": "compressed text"},
        "fetch": ["gzip", "compressed text"],
    }


def test_require_resolve_and_import_meta_resolve_find_files_next_to_the_extension(make_host: MakeHost) -> None:
    """jiti's `require.resolve("./file")` in an ES module and Node 20's `import.meta.resolve` (both threw
    "not a function"): a relative spec is the path (computed, not read), a builtin its id, an unknown package
    Node's ERR_MODULE_NOT_FOUND."""
    host = load(make_host, "resolve-forms")
    assert details(host.call_tool("resolve-forms", "resolve_forms", {})) == {
        "requireRelative": True, "up": True, "text": "You are a careful reviewer.", "metaRelative": True,
        "metaBuiltin": ["node:fs", "node:path"], "requireBuiltin": "node:os", "bare": "ERR_MODULE_NOT_FOUND"}


def test_default_import_of_a_dual_package_gets_its_commonjs_exports_like_pi(make_host: MakeHost) -> None:
    """`import yaml from "js-yaml"` (5.x: the ES entry has no default): pi's jiti requires the CommonJS entry and
    takes module.exports; the bundle failed with 'No matching export ... for import "default"'."""
    host = load(make_host, "deps-dual-default")
    assert details(host.call_tool("deps-dual-default", "dual_default", {})) == {
        "parsed": {"a": "1", "b": "2"}, "defaultFlavour": "cjs", "namedFlavour": "cjs", "legacy": "main"}


def test_default_import_of_an_es_only_package_without_default_still_fails(make_host: MakeHost, tmp_path: Path) -> None:
    """With no CommonJS entry to fall back on, the bundler's own error stands (named, not a crash)."""
    root = tmp_path / "esm-only"
    pkg = root / "node_modules" / "esm-only-lib"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"name": "esm-only-lib", "version": "1.0.0", "type": "module",
                                                  "exports": {".": {"import": "./index.js"}}}))
    (pkg / "index.js").write_text("export const x = 1;\n")
    (root / "package.json").write_text(json.dumps({"name": "esm-only", "version": "1.0.0", "type": "module",
                                                   "dependencies": {"esm-only-lib": "1.0.0"}}))
    (root / "index.ts").write_text("import lib from 'esm-only-lib';\n"
                                   "export default function (pi: any) { pi.on('session_start', () => lib); }\n")
    (loaded,) = make_host().load(scan_folder(tmp_path))
    assert loaded.status != "loaded"
    assert 'No matching export' in (loaded.error or "") and "esm-only-lib" in (loaded.error or "")


def test_a_refused_spawn_has_no_spawn_event_and_closes_stdin(make_host: MakeHost) -> None:
    """Node's order for a child that never started (here: exec refused under `safe`): 'error', no 'spawn', no pid,
    and stdin closed (it stayed open: execa waited on it forever)."""
    host = load(make_host, "spawn-lifecycle")
    got = details(host.call_tool("spawn-lifecycle", "spawn_lifecycle", {}))
    assert got == {"events": ["error:EACCES", "close:-2", "stdin-close"], "pid": "undefined", "stdinDestroyed": True}


def test_a_child_that_ran_emits_spawn_then_output_and_closes_stdin(make_host: MakeHost, open_sandbox: Any) -> None:
    from tests.runtime.conftest import promote_to_trusted

    sandbox = open_sandbox(settings={"extensionPolicy": {"profile": "permissive", "allowDangerous": True}})
    host = load(make_host, "spawn-lifecycle", sandbox=sandbox)
    promote_to_trusted(host, "spawn-lifecycle")
    got = details(host.call_tool("spawn-lifecycle", "spawn_lifecycle", {}))
    assert got == {"events": ["spawn", "out:hi", "exit:0", "close:0", "stdin-close"], "pid": "number",
                   "stdinDestroyed": True}


def test_node_22_names_libraries_touch_at_load(make_host: MakeHost) -> None:
    """undici 8's load-time uses of Node 22 names link and run; zstd itself is named as unavailable at use."""
    host = load(make_host, "node22-names")
    assert details(host.call_tool("node22-names", "node22_names", {})) == {"cache": True, "zstd": "ERR_NOT_SUPPORTED"}


def test_dependency_patterns_of_jsdom_and_napi_packages(make_host: MakeHost) -> None:
    """A per-platform package whose entry is a native addon is left external, so its loader's try/catch falls
    back to JavaScript (the bundle failed); Buffer carries no polyfill marker; UTF-16BE decodes;
    `require("punycode/")` is the served punycode; lowered template literals keep their meaning."""
    host = load(make_host, "deps-node-patterns")
    assert details(host.call_tool("deps-node-patterns", "node_patterns", {})) == {
        "native": ["js", ["MODULE_NOT_FOUND"]], "utf16be": "hi\u4e2d", "idna": "xn--bcher-kva.example",
        "division": 21, "templates": ["a2bcd", "x\\n|y|1,2", "\\tz"]}


@pytest.mark.parametrize(("used", "why"), [("WebAssembly.validate(new Uint8Array())", "runs no WebAssembly"),
                                           ("new DOMMatrix()", "native canvas addon")])
def test_a_load_that_needs_a_global_the_engine_lacks_says_why(make_host: MakeHost, tmp_path: Path, used: str,
                                                                 why: str) -> None:
    """tiktoken instantiates WebAssembly and pdfjs needs DOMMatrix while loading: the refusal names the reason
    and the way out instead of a bare ReferenceError."""
    (tmp_path / "needs.js").write_text(f"const x = {used};\nexport default function (pi) {{ pi.on('x', () => x); }}\n")
    (loaded,) = make_host().load(scan_folder(tmp_path))
    assert loaded.status == "failed" and loaded.error_code == "load_failed"
    assert "is not defined" in (loaded.error or "") and why in (loaded.error or "")
