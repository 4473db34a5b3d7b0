"""Behaviour of the modules served to extensions, run in a real jsbox engine.

The only fake is the edge: a recording `pi:host` (see shim_harness.py) that answers hostcalls from a Python
responder, so each test can assert both what the shim returns and the exact hostcall params it sends.
"""

# ruff: noqa: E501  (embedded JavaScript test programs read better unwrapped)
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.runtime.shim_harness import FakeHostError, ShimRuntime, module_table


def no_host(method: str, params: dict[str, Any]) -> Any:
    raise FakeHostError("denied", f"{method} not allowed in this test")


@pytest.fixture(scope="module")
def pure() -> ShimRuntime:
    """One runtime for pure-computation tests (no hostcalls expected)."""
    return ShimRuntime(no_host)


# ---- module table ------------------------------------------------------------------------------------------


#: Node 20's ``require("module").builtinModules`` (without the internal ``_http_*``/``_tls_*`` ids), written
#: out here so the check does not depend on a Node installation; then the ids that exist only as ``node:``.
NODE_BUILTINS = (
    "assert assert/strict async_hooks buffer child_process cluster console constants crypto dgram "
    "diagnostics_channel dns dns/promises domain events fs fs/promises http http2 https inspector "
    "inspector/promises module net os path path/posix path/win32 perf_hooks process punycode querystring readline "
    "readline/promises repl stream stream/consumers stream/promises stream/web string_decoder sys timers "
    "timers/promises tls trace_events tty url util util/types v8 vm wasi worker_threads zlib"
).split()
NODE_ONLY = ("node:sqlite", "node:test", "node:sea")


def test_every_node_builtin_is_served_and_loads() -> None:
    """Importing any Node builtin never fails (issue 12 item 3): effects are decided at use, not at import."""
    ids = set(module_table())
    wanted = [*NODE_BUILTINS, *(f"node:{n}" for n in NODE_BUILTINS), *NODE_ONLY]
    assert sorted(set(wanted) - ids) == []
    rt = ShimRuntime(no_host)
    out = rt.run(
        f"""
        const ids = {json.dumps(sorted(ids))};
        result = {{}};
        for (const id of ids) {{
          try {{ const m = await import(id); result[id] = Object.keys(m).length > 0 ? "ok" : "empty"; }}
          catch (e) {{ result[id] = [e.code || e.name, e.message]; }}
        }}
        """
    )
    assert {k: v for k, v in out.items() if v != "ok"} == {"pi:globals": "empty"}  # side effects only


def test_node_prefixed_ids_share_one_module_instance(pure: ShimRuntime) -> None:
    out = pure.run(
        """const pairs = [["fs", "node:fs"], ["fs/promises", "node:fs/promises"], ["buffer", "node:buffer"],
                       ["events", "node:events"], ["path", "path/posix"], ["assert", "assert/strict"]];
        result = [];
        for (const [a, b] of pairs) { const x = await import(a), y = await import(b); result.push(x.default === y.default); }
        const { Buffer: B1 } = await import("buffer"); const { Buffer: B2 } = await import("node:buffer");
        result.push(B1 === B2, B1 === globalThis.Buffer);"""
    )
    assert out == [True] * 8


# ---- path --------------------------------------------------------------------------------------------------

PATH_CASES = [
    ('path.join("/a/b", "../c", "./d.txt")', "/a/c/d.txt"),
    ('path.join("a", "", "b/")', "a/b/"),
    ('path.join()', "."),
    ('path.normalize("/a//b/../../..")', "/"),
    ('path.normalize("../x/./y")', "../x/y"),
    ('path.resolve("x", "../y")', "/work/space/y"),
    ('path.resolve("/etc", "passwd")', "/etc/passwd"),
    ('path.relative("/a/b/c", "/a/d/e")', "../../d/e"),
    ('path.relative("/a", "/a")', ""),
    ('path.dirname("/a/b/")', "/a"),
    ('path.dirname("file")', "."),
    ('path.dirname("/")', "/"),
    ('path.basename("/a/b.test.ts", ".ts")', "b.test"),
    ('path.basename("/a/b/")', "b"),
    ('path.extname(".bashrc")', ""),
    ('path.extname("x.tar.gz")', ".gz"),
    ('path.isAbsolute("./x")', False),
    ('path.format({dir: "/x", name: "f", ext: ".js"})', "/x/f.js"),
    ('path.sep + path.delimiter', "/:"),
    ('path.posix === path', True),
    # cases where a naive implementation differs from Node (expectations taken from Node 20)
    ('path.dirname("b//dir//a/")', "b//dir/"),
    ('path.dirname("//a")', "//"),
    ('path.extname("..")', ""),
    ('path.extname("a/b.")', "."),
    ('path.parse("é/").dir', ""),
    ('path.parse("//a").dir', "/"),
]


@pytest.mark.parametrize(("expr", "expected"), PATH_CASES)
def test_path_posix_semantics(pure: ShimRuntime, expr: str, expected: Any) -> None:
    assert pure.run(f'import path from "node:path";\nresult = {expr};') == expected


def test_path_parse(pure: ShimRuntime) -> None:
    assert pure.run('import { parse } from "path"; result = parse("/home/u/f.txt");') == {
        "root": "/", "dir": "/home/u", "base": "f.txt", "ext": ".txt", "name": "f"}


# ---- Buffer / crypto ---------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=300))
def test_buffer_encodings_match_python(data: bytes) -> None:
    rt = _shared_pure()
    arr = list(data)
    out = rt.run(
        f"""const b = Buffer.from({arr});
        result = [b.toString("hex"), b.toString("base64"), b.toString("base64url"), b.toString("latin1"),
                  Array.from(Buffer.from(b.toString("base64"), "base64")), Buffer.byteLength(b), Buffer.isBuffer(b)];"""
    )
    assert out[0] == data.hex()
    assert out[1] == base64.b64encode(data).decode()
    assert out[2] == base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert out[3] == data.decode("latin1")
    assert out[4] == arr
    assert out[5:] == [len(data), True]


@settings(max_examples=25, deadline=None)
@given(text=st.text(max_size=80))
def test_buffer_utf8_matches_python(text: str) -> None:
    rt = _shared_pure()
    out = rt.run(f"const s = {json.dumps(text)}; result = [Array.from(Buffer.from(s)), Buffer.byteLength(s)];")
    # Node encodes a lone surrogate as U+FFFD; hypothesis text may contain them.
    encoded = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text).encode("utf-8")
    assert out == [list(encoded), len(encoded)]


def test_buffer_concat_slice_compare(pure: ShimRuntime) -> None:
    out = pure.run(
        """const a = Buffer.from("hello "), b = Buffer.from("world");
        const c = Buffer.concat([a, b]);
        const s = c.slice(6); s[0] = 87;  // a view, like Node
        result = [c.toString(), Buffer.compare(a, b), c.indexOf("World"), c.includes("lo W"), c.readUInt32BE(0),
                  Buffer.alloc(3, "ab").toString(), JSON.stringify(Buffer.from([1, 2])), c.lastIndexOf("o"),
                  String(Buffer.from([0, 0, 0, 0, 0, 0, 1, 0]).readBigUInt64BE(0)), Buffer.from("\\ud83d").toString("hex")];"""
    )
    assert out == ["hello World", -1, 6, True, int.from_bytes(b"hell", "big"), "aba",
                   '{"type":"Buffer","data":[1,2]}', 7, "256", "efbfbd"]


_PURE: list[ShimRuntime] = []


def _shared_pure() -> ShimRuntime:
    if not _PURE:
        _PURE.append(ShimRuntime(no_host))
    return _PURE[0]


HASHES = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]


@pytest.mark.parametrize("size", [0, 1, 55, 56, 63, 64, 65, 111, 112, 127, 128, 129, 1000])
def test_hashes_match_hashlib_at_block_boundaries(pure: ShimRuntime, size: int) -> None:
    data = bytes((i * 7 + 3) % 256 for i in range(size))
    out = pure.run(
        f"""import crypto from "node:crypto";
        const data = Buffer.from({list(data)});
        result = {json.dumps(HASHES)}.map((a) => [crypto.createHash(a).update(data).digest("hex"),
                                                  crypto.createHash(a).update(data).digest("base64")]);"""
    )
    for alg, (hex_digest, b64_digest) in zip(HASHES, out, strict=True):
        expected = hashlib.new(alg, data).digest()
        assert hex_digest == expected.hex(), alg
        assert b64_digest == base64.b64encode(expected).decode(), alg


@settings(max_examples=15, deadline=None)
@given(key=st.binary(max_size=200), msg=st.binary(max_size=200), alg=st.sampled_from(["sha1", "sha256", "sha512", "md5"]))
def test_hmac_matches_python(key: bytes, msg: bytes, alg: str) -> None:
    out = _shared_pure().run(
        f"""import {{ createHmac }} from "crypto";
        result = createHmac("{alg}", Buffer.from({list(key)})).update(Buffer.from({list(msg)})).digest("hex");"""
    )
    assert out == hmac.new(key, msg, alg).hexdigest()


def test_hash_update_chunks_and_string_encodings(pure: ShimRuntime) -> None:
    out = pure.run(
        """import { createHash } from "crypto";
        result = [createHash("sha256").update("ab").update("c").digest("hex"),
                  createHash("sha256").update("616263", "hex").digest("hex")];"""
    )
    assert out == [hashlib.sha256(b"abc").hexdigest()] * 2


def test_unknown_digest_is_a_clear_error(pure: ShimRuntime) -> None:
    out = pure.run('import crypto from "crypto"; try { crypto.createHash("whirlpool"); } catch (e) { result = e.code; }')
    assert out == "ERR_CRYPTO_INVALID_DIGEST"


def test_randomness_comes_from_host_random_bytes(pure: ShimRuntime) -> None:
    # The fake host's randomBytes(n) returns 0..n-1, so the shim's output is predictable here.
    out = pure.run(
        """import { randomBytes, randomUUID } from "crypto";
        result = [Array.from(randomBytes(4)), randomUUID(), Array.from(crypto.getRandomValues(new Uint8Array(3)))];"""
    )
    assert out[0] == [0, 1, 2, 3]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", out[1])
    assert out[2] == [0, 1, 2]


# ---- events / util -----------------------------------------------------------------------------------------


def test_event_emitter_semantics(pure: ShimRuntime) -> None:
    out = pure.run(
        """import EventEmitter, { once } from "node:events";
        const e = new EventEmitter(); const log = [];
        e.on("x", (v) => log.push("on:" + v));
        e.prependListener("x", (v) => log.push("first:" + v));
        e.once("x", (v) => log.push("once:" + v));
        e.emit("x", 1); e.emit("x", 2);
        const f = (v) => log.push("removed:" + v); e.on("y", f); e.off("y", f);
        const hadY = e.emit("y", 3);
        let thrown = null; try { e.emit("error", new Error("boom")); } catch (err) { thrown = err.message; }
        setTimeout(() => e.emit("later", "v"), 0);
        const p = once(e, "later");
        __pi_runTimers();
        const [v] = await p;
        class Sub extends EventEmitter {} const s = new Sub(); s.on("z", () => log.push("sub"));
        s.emit("z");
        result = [log, hadY, thrown, v, e.listenerCount("x"), e.eventNames()];"""
    )
    assert out == [["first:1", "on:1", "once:1", "first:2", "on:2", "sub"], False, "boom", "v", 2, ["x"]]


UTIL_CASES = [
    ('format("%s=%d", "a", 42)', "a=42"),
    ('format("%i %f", "3.9", "1.5")', "3 1.5"),
    ('format("%j", {a: [1]})', '{"a":[1]}'),
    ('format("100%%", 1)', "100% 1"),
    ('format("a", "b", 3)', "a b 3"),
    ('format("%o", [1, "x"])', "[ 1, 'x' ]"),
    ('inspect({a: {b: {c: {d: 1}}}})', "{ a: { b: { c: [Object] } } }"),
    ('inspect(new Map([["k", 1]]))', "Map(1) { 'k' => 1 }"),
    ('inspect("s")', "'s'"),
    ('isDeepStrictEqual({a: [1, {b: 2}]}, {a: [1, {b: 2}]})', True),
    ('isDeepStrictEqual([1], ["1"])', False),
    ('types.isPromise(Promise.resolve())', True),
]


@pytest.mark.parametrize(("expr", "expected"), UTIL_CASES)
def test_util_format_and_friends(pure: ShimRuntime, expr: str, expected: Any) -> None:
    assert pure.run(f'import {{ format, inspect, isDeepStrictEqual, types }} from "util";\nresult = {expr};') == expected


def test_util_promisify_and_inherits(pure: ShimRuntime) -> None:
    out = pure.run(
        """import util from "util";
        const ok = util.promisify((a, cb) => cb(null, a * 2));
        const bad = util.promisify((cb) => cb(new Error("nope")));
        function A() {} A.prototype.hi = () => "hi"; function B() {} util.inherits(B, A);
        let err; try { await bad(); } catch (e) { err = e.message; }
        result = [await ok(21), err, new B().hi(), B.super_ === A];"""
    )
    assert out == [42, "nope", "hi", True]


# ---- fs → the fs hostcall -----------------------------------------------------------------------------------


class FakeFs:
    """A dict-backed fs responder speaking the fs connector's contract (shapes and error codes)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {"/work/space/a.txt": b"hello\n", "/work/space/bin": bytes([0, 255, 7])}
        self.dirs = {"/work/space", "/work/space/sub"}

    @staticmethod
    def missing() -> FakeHostError:
        return FakeHostError("io", "No such file or directory", reason="not_found")

    def __call__(self, method: str, params: dict[str, Any]) -> Any:
        if method == "log":
            return None
        assert method == "fs"
        op, path = params["op"], params["path"]
        if path.startswith("/etc"):
            raise FakeHostError("policy_denied", "path outside the allowed roots")
        if op == "read":
            if path not in self.files:
                raise self.missing()
            raw = self.files[path]
            try:
                return {"content": raw.decode() if params["encoding"] == "utf8" else base64.b64encode(raw).decode(),
                        "encoding": params["encoding"]}
            except UnicodeDecodeError:
                return {"content": base64.b64encode(raw).decode(), "encoding": "base64"}
        if op == "write":
            data = params["data"]
            payload = data.encode() if params["encoding"] == "utf8" else base64.b64decode(data)
            self.files[path] = (self.files.get(path, b"") if params.get("append") else b"") + payload
            return {"bytes_written": len(payload)}
        if op == "stat":
            if path in self.dirs:
                return {"type": "directory", "size": 4096, "mtime_ms": 1_700_000_000_000, "mode": 0o755}
            if path in self.files:
                return {"type": "file", "size": len(self.files[path]), "mtime_ms": 1_700_000_000_000, "mode": 0o644}
            raise self.missing()
        if op == "list":
            prefix = path.rstrip("/") + "/"
            names = {p[len(prefix):].split("/")[0] for p in [*self.files, *self.dirs] if p.startswith(prefix)}
            entries = [{"name": n, "type": "directory" if prefix + n in self.dirs else "file"} for n in sorted(names)]
            return {"entries": entries, "truncated": False}
        if op == "mkdir":
            self.dirs.add(path)
            return {"created": True}
        if op == "delete":
            if path not in self.files:
                raise self.missing()
            del self.files[path]
            return {"deleted": True}
        raise AssertionError(f"unexpected fs op {op}")


def test_fs_sync_calls_send_absolute_paths_and_contract_params() -> None:
    fake = FakeFs()
    rt = ShimRuntime(fake)
    out = rt.run(
        """import fs from "node:fs";
        const text = fs.readFileSync("a.txt", "utf8");
        const bin = Array.from(fs.readFileSync("/work/space/bin"));
        fs.writeFileSync("out.txt", "data");
        fs.writeFileSync("out.bin", Buffer.from([1, 2, 3]));
        fs.mkdirSync("new/dir", { recursive: true });
        const st = fs.statSync("sub");
        result = [text, bin, st.isDirectory(), st.isFile(), fs.existsSync("nope"), fs.readdirSync("."),
                  fs.statSync("a.txt").mode.toString(8), st.mode.toString(8)];"""
    )
    assert out == ["hello\n", [0, 255, 7], True, False, False, ["a.txt", "bin", "new", "out.bin", "out.txt", "sub"],
                   "100644", "40755"]
    calls = rt.host_calls("fs")
    assert calls[0] == {"op": "read", "path": "/work/space/a.txt", "encoding": "utf8"}
    assert calls[1] == {"op": "read", "path": "/work/space/bin", "encoding": "base64"}
    assert calls[2] == {"op": "write", "path": "/work/space/out.txt", "data": "data", "encoding": "utf8"}
    assert calls[3] == {"op": "write", "path": "/work/space/out.bin", "data": "AQID", "encoding": "base64"}
    assert {"op": "mkdir", "path": "/work/space/new/dir", "recursive": True} in calls
    assert fake.files["/work/space/out.bin"] == b"\x01\x02\x03"


def test_fs_errors_map_to_node_codes_and_keep_the_host_code() -> None:
    rt = ShimRuntime(FakeFs())
    out = rt.run(
        """import fs from "fs";
        const grab = (fn) => { try { fn(); return null; } catch (e) { return [e.code, e.syscall, e.path, e.hostCode]; } };
        result = [grab(() => fs.readFileSync("missing.txt")), grab(() => fs.readFileSync("/etc/shadow")),
                  fs.existsSync("/etc/shadow"), grab(() => fs.chmodSync("a.txt", 0o755))];"""
    )
    assert out[0] == ["ENOENT", "open", "/work/space/missing.txt", "io"]
    assert out[1] == ["EACCES", "open", "/etc/shadow", "policy_denied"]
    assert out[2] is False
    assert out[3][0] == "ENOTSUP"


def test_fs_promises_callbacks_dirents_append_rename() -> None:
    fake = FakeFs()
    rt = ShimRuntime(fake)
    out = rt.run(
        """import { promises as fsp, readFile, appendFileSync, renameSync, existsSync } from "fs";
        import * as fsp2 from "node:fs/promises";
        const viaCb = await new Promise((res) => readFile("a.txt", "utf8", (err, d) => res([err, d])));
        appendFileSync("a.txt", "more");
        renameSync("a.txt", "b.txt");
        const dirents = (await fsp2.readdir(".", { withFileTypes: true })).map((d) => [d.name, d.isDirectory()]);
        let missing; try { await fsp.readFile("a.txt"); } catch (e) { missing = e.code; }
        const st = await fsp.stat("b.txt");
        result = [viaCb, await fsp.readFile("b.txt", "utf8"), existsSync("a.txt"), dirents, missing, st.size,
                  st.mtime.toISOString(), fsp === fsp2.default];"""
    )
    assert {"op": "write", "path": "/work/space/a.txt", "append": True, "data": "more", "encoding": "utf8"} in rt.host_calls("fs")
    assert out == [[None, "hello\n"], "hello\nmore", False, [["b.txt", False], ["bin", False], ["sub", True]],
                   "ENOENT", 10, "2023-11-14T22:13:20.000Z", True]
    assert "/work/space/a.txt" not in fake.files


# ---- child_process → the exec hostcall ----------------------------------------------------------------------


def exec_responder(method: str, params: dict[str, Any]) -> Any:
    if method != "exec":
        return None
    line = " ".join([params["cmd"], *params["args"]])
    if "rm -rf" in line:
        raise FakeHostError("mediation_denied", "exec mediation blocked a critical command")
    if params["cmd"] == "false":
        return {"stdout": "", "stderr": "bad\n", "exit_code": 1, "killed": False}
    if params["cmd"] == "sleep":
        return {"stdout": "", "stderr": "", "exit_code": -9, "killed": True}
    return {"stdout": f"ran:{line}|stdin:{params.get('stdin', '')}", "stderr": "", "exit_code": 0, "killed": False}


def test_child_process_sync_forms_send_exec_params() -> None:
    rt = ShimRuntime(exec_responder)
    out = rt.run(
        """import cp from "node:child_process";
        const a = cp.execSync("git status | head", { encoding: "utf8", cwd: "/work/space/sub", timeout: 500 });
        const b = cp.execFileSync("git", ["log", "-1"], { input: "x" }).toString();
        const c = cp.spawnSync("ls", ["-la"], { encoding: "utf8" });
        let d; try { cp.execFileSync("false"); } catch (e) { d = [e.status, e.message, String(e.stderr)]; }
        let f; try { cp.execSync("rm -rf /"); } catch (e) { f = [e.code, e.hostCode]; }
        const g = cp.spawnSync("sh", ["-c", "rm -rf ~"]);
        result = [a, b, [c.status, c.stdout], d, f, [g.error.code, g.status]];"""
    )
    assert out[0] == "ran:sh -c git status | head|stdin:"
    assert out[1] == "ran:git log -1|stdin:x"
    assert out[2] == [0, "ran:ls -la|stdin:"]
    assert out[3] == [1, "Command failed: false\nbad\n", "bad\n"]
    assert out[4] == ["EACCES", "mediation_denied"]
    assert out[5] == ["EACCES", None]
    calls = rt.host_calls("exec")
    assert calls[0] == {"cmd": "sh", "args": ["-c", "git status | head"], "cwd": "/work/space/sub", "timeout_ms": 500}
    assert calls[1] == {"cmd": "git", "args": ["log", "-1"], "stdin": "x"}


def test_child_process_async_forms() -> None:
    rt = ShimRuntime(exec_responder)
    out = rt.run(
        """import { exec, execFile, spawn } from "child_process";
        import { promisify } from "util";
        const viaPromisify = await promisify(exec)("echo hi");
        const viaCb = await new Promise((res) => execFile("false", [], (err, so, se) => res([err.code, se])));
        const child = spawn("cat", ["-n"]);
        const events = [];
        child.on("spawn", () => events.push("spawn"));
        child.stdin.write("abc"); child.stdin.end("def");
        const [text, code] = await new Promise((res) => {
          let o = ""; child.stdout.on("data", (d) => (o += d));
          child.on("exit", (c) => events.push("exit:" + c));
          child.on("close", (c) => res([o, c]));
        });
        const denied = await new Promise((res) => spawn("rm -rf x", { shell: true }).on("error", (e) => res(e.code)));
        const killed = await new Promise((res) => execFile("sleep", ["100"], (err) => res([err.killed, err.signal])));
        result = [viaPromisify, viaCb, text, code, events, denied, killed];"""
    )
    assert out[0] == {"stdout": "ran:sh -c echo hi|stdin:", "stderr": ""}
    assert out[1] == [1, "bad\n"]
    assert out[2:5] == ["ran:cat -n|stdin:abcdef", 0, ["spawn", "exit:0"]]
    assert out[5] == "EACCES"
    assert out[6] == [True, "SIGTERM"]
    assert {"cmd": "cat", "args": ["-n"], "stdin": "abcdef"} in rt.host_calls("exec")


# ---- process / os ------------------------------------------------------------------------------------------


def env_responder(method: str, params: dict[str, Any]) -> Any:
    values = {"HOME": "/home/u", "EDITOR": "vim", "API_TOKEN": "s3cret"}
    if method != "env":
        return None
    if params.get("op") == "list":
        return {"names": sorted(values)}
    if "names" in params:  # batch read; the broker withholds API_TOKEN
        return {"values": {n: None if n == "API_TOKEN" else values.get(n) for n in params["names"]}}
    if params["name"] == "SECRET_TOKEN":
        raise FakeHostError("policy_denied", "env capability denied")
    if params["name"] == "API_TOKEN":
        return {"withheld": True}
    return {"value": values.get(params["name"])}


def test_process_env_reads_through_the_env_hostcall() -> None:
    rt = ShimRuntime(env_responder)
    out = rt.run(
        """result = [process.env.HOME, process.env.SECRET_TOKEN, process.env.NOPE, "EDITOR" in process.env];
        process.env.LOCAL = 1;
        delete process.env.HOME;
        result.push(process.env.LOCAL, process.env.HOME, Object.keys(process.env).sort());"""
    )
    # PWD is answered locally (process.cwd()'s value, like HOME when the host gives a homedir)
    assert out == ["/home/u", None, None, True, "1", None, ["EDITOR", "LOCAL", "PWD"]]
    env_calls = rt.host_calls("env")
    assert env_calls[:3] == [{"name": "HOME"}, {"name": "SECRET_TOKEN"}, {"name": "NOPE"}]
    assert {"op": "list"} in env_calls
    assert all(c.get("name") != "LOCAL" for c in env_calls)  # local writes never reach the host


def test_env_spread_is_batched_and_withheld_values_stay_unset() -> None:
    rt = ShimRuntime(env_responder)
    out = rt.run(
        """const copy = { ...process.env };
        const entries = Object.entries(process.env).length;
        await null;
        const token = process.env.API_TOKEN;
        result = [copy, entries, token === undefined];"""
    )
    assert out == [{"EDITOR": "vim", "HOME": "/home/u", "PWD": "/work/space"}, 3, True]
    calls = rt.host_calls("env")
    # two enumerations: each is one list + one batch read, then a single read after the snapshot expired
    assert calls == [{"op": "list"}, {"names": ["API_TOKEN", "EDITOR", "HOME"]},
                     {"op": "list"}, {"names": ["API_TOKEN", "EDITOR", "HOME"]}, {"name": "API_TOKEN"}]


def test_process_facts_exit_and_os(pure: ShimRuntime) -> None:
    out = pure.run(
        """import os from "node:os"; import proc from "process";
        let exit; try { process.exit(3); } catch (e) { exit = [e.code, e.exitCode]; }
        const t = process.hrtime(); const ticks = [];
        process.nextTick(() => ticks.push("tick")); await Promise.resolve();
        result = [process.cwd(), process.platform, process.pid, exit, proc === process, os.platform(), os.EOL,
                  os.homedir(), os.tmpdir(), os.cpus().length, t.length, ticks, typeof process.memoryUsage().heapUsed];"""
    )
    assert out == ["/work/space", "linux", 4242, ["ERR_PROCESS_EXIT", 3], True, "linux", "\n", "/work/space",
                   "/tmp", 1, 2, ["tick"], "number"]


# ---- globals: console, timers, fetch, URL, structuredClone ---------------------------------------------------


def test_console_goes_to_the_log_hostcall() -> None:
    rt = ShimRuntime(lambda m, p: None)
    rt.run('console.log("n=%d", 5, {a: 1}); console.error(new Error("bad").message); console.warn("w");')
    assert rt.host_calls("log") == [
        {"level": "info", "message": "n=5 { a: 1 }"},
        {"level": "error", "message": "bad"},
        {"level": "warn", "message": "w"},
    ]


def test_timers_are_host_driven(pure: ShimRuntime) -> None:
    out = pure.run(
        """const log = [];
        const t = setTimeout((a, b) => log.push(a + b), 10, 1, 2);
        const cancelled = setTimeout(() => log.push("never"), 5); clearTimeout(cancelled);
        const iv = setInterval(() => { log.push("iv"); if (log.filter((x) => x === "iv").length === 2) clearInterval(iv); }, 1);
        setImmediate(() => log.push("imm"));
        let stringTimer; try { setTimeout("alert(1)", 1); } catch (e) { stringTimer = e.code; }
        __pi_runTimers(); __pi_runTimers(); __pi_runTimers();
        result = [log, stringTimer, typeof t.unref().hasRef];"""
    )
    assert out == [[3, "iv", "imm", "iv"], "ERR_INVALID_ARG_TYPE", "function"]


def test_fetch_uses_the_http_hostcall() -> None:
    def http(method: str, params: dict[str, Any]) -> Any:
        if method != "http":
            return None
        if "evil" in params["url"]:
            raise FakeHostError("policy_denied", "http capability denied")
        return {"status": 201, "headers": {"Content-Type": "application/json"}, "body": json.dumps({"echo": params})}

    rt = ShimRuntime(http)
    out = rt.run(
        """const res = await fetch("https://api.example.com/v1/x?q=1", {
          method: "post", headers: { "X-Key": "k" }, body: JSON.stringify({ a: 1 }) });
        const body = await res.json();
        let denied; try { await fetch(new URL("https://evil.example/")); } catch (e) { denied = [e.name, e.code, e.message]; }
        const ac = new AbortController(); ac.abort();
        let aborted; try { await fetch("https://api.example.com", { signal: ac.signal }); } catch (e) { aborted = e.name; }
        result = [res.status, res.ok, res.headers.get("content-type"), body.echo, denied, aborted];"""
    )
    assert out[:3] == [201, True, "application/json"]
    # a string body without a Content-Type gets Node's text/plain;charset=UTF-8
    assert out[3] == {"method": "POST", "url": "https://api.example.com/v1/x?q=1",
                      "headers": {"x-key": "k", "content-type": "text/plain;charset=UTF-8"}, "body": '{"a":1}'}
    assert out[4] == ["TypeError", "policy_denied", "fetch failed: http capability denied"]
    assert out[5] == "AbortError"
    assert len(rt.host_calls("http")) == 2  # the pre-aborted request never reached the host


URL_CASES = [
    ('new URL("HTTPS://Ex.COM:443/a/./b/../c?x=1#h").href', "https://ex.com/a/c?x=1#h"),
    ('new URL("http://h:8080/p").port', "8080"),
    ('new URL("../z?q=2", "http://h/a/b/c").href', "http://h/a/z?q=2"),
    ('new URL("//other/x", "https://h/a").href', "https://other/x"),
    ('new URL("?k=v", "http://h/p").href', "http://h/p?k=v"),
    ('new URL("http://u:p@h/").username + ":" + new URL("http://u:p@h/").password', "u:p"),
    ('new URL("file:///tmp/a%20b").pathname', "/tmp/a%20b"),
    ('new URL("mailto:a@b.c").pathname', "a@b.c"),
    ('new URL("https://h/a b").href', "https://h/a%20b"),
    ('new URL("https://h").origin', "https://h"),
    ('URL.canParse("not a url")', False),
    ('(() => { const u = new URL("https://h/?a=1"); u.searchParams.append("b", "x y"); return u.href; })()',
     "https://h/?a=1&b=x+y"),
    ('new URLSearchParams({a: "1", b: "&"}).toString()', "a=1&b=%26"),
    ('[...new URLSearchParams("a=1&a=2&b=%20").entries()]', [["a", "1"], ["a", "2"], ["b", " "]]),
    ('fileURLToPath("file:///home/u/a%20b.txt")', "/home/u/a b.txt"),
    ('pathToFileURL("/tmp/x#y").href', "file:///tmp/x%23y"),
    ('new URL("file://localhost/etc/hosts").href', "file:///etc/hosts"),
    ('new URL("http://user:pa ss@h.com:8080/p a/t?q=a b#f g").href', "http://user:pa%20ss@h.com:8080/p%20a/t?q=a%20b#f%20g"),
    ('new URL("https://h/ä?ä=ö#ü").href', "https://h/%C3%A4?%C3%A4=%C3%B6#%C3%BC"),
]


@pytest.mark.parametrize(("expr", "expected"), URL_CASES)
def test_url(pure: ShimRuntime, expr: str, expected: Any) -> None:
    assert pure.run(f'import {{ fileURLToPath, pathToFileURL }} from "node:url";\nresult = {expr};') == expected


def test_invalid_url_throws_type_error(pure: ShimRuntime) -> None:
    assert pure.run('try { new URL("nope"); } catch (e) { result = [e.name, e.code]; }') == ["TypeError", "ERR_INVALID_URL"]


def test_structured_clone_and_base64_globals(pure: ShimRuntime) -> None:
    out = pure.run(
        """const src = { d: new Date(0), m: new Map([[1, { x: 1 }]]), a: [1, 2] }; src.self = src;
        const c = structuredClone(src);
        let fnErr; try { structuredClone({ f() {} }); } catch (e) { fnErr = e.name; }
        result = [c !== src, c.self === c, c.d instanceof Date, c.m.get(1).x, c.a, fnErr, btoa("hi"), atob("aGk="),
                  typeof global, typeof TextEncoder, typeof crypto.randomUUID];"""
    )
    assert out == [True, True, True, 1, [1, 2], "DataCloneError", "aGk=", "hi", "object", "function", "function"]


# ---- streams, string_decoder, readline, assert, module -------------------------------------------------------


def test_stream_readline_string_decoder(pure: ShimRuntime) -> None:
    out = pure.run(
        """import { Readable, Transform, PassThrough } from "stream";
        import { createInterface } from "readline";
        import { StringDecoder } from "string_decoder";
        const upper = new Transform({ transform(c, _e, cb) { cb(null, String(c).toUpperCase()); } });
        const chunks = [];
        for await (const c of Readable.from(["a\\nb", "c\\n", "d"]).pipe(upper)) chunks.push(String(c));
        const lines = [];
        const rl = createInterface({ input: Readable.from(["x\\ny", "z\\n", "last"]) });
        for await (const l of rl) lines.push(l);
        const d = new StringDecoder("utf8"); const e = Buffer.from("é€");
        const decoded = d.write(e.subarray(0, 1)) + d.write(e.subarray(1, 3)) + d.end(e.subarray(3));
        const pt = new PassThrough(); const got = []; pt.on("data", (x) => got.push(String(x))); pt.write("p"); pt.end("q");
        await new Promise((r) => pt.on("end", r));
        result = [chunks.join(""), lines, decoded, got];"""
    )
    assert out == ["A\nBC\nD", ["x", "yz", "last"], "é€", ["p", "q"]]


def test_assert_module(pure: ShimRuntime) -> None:
    out = pure.run(
        """import assert from "node:assert";
        const errs = [];
        for (const f of [() => assert.strictEqual(1, 2), () => assert.deepStrictEqual({a: [1]}, {a: [2]}),
                         () => assert.ok(0, "custom"), () => assert.throws(() => {})]) {
          try { f(); errs.push(null); } catch (e) { errs.push([e.code, e.name]); }
        }
        assert.deepStrictEqual({a: [1]}, {a: [1]}); assert.throws(() => { throw new TypeError("t"); }, TypeError);
        await assert.rejects(Promise.reject(new Error("r")), /r/);
        result = errs;"""
    )
    assert out == [["ERR_ASSERTION", "AssertionError"]] * 4


def test_require_tables_and_create_require() -> None:
    fake = FakeFs()
    fake.files["/work/space/a.json"] = b'{"v": 1}'
    out = ShimRuntime(fake).run(
        """import { createRequire as tableRequire, registerModules } from "pi:require";
        import * as fsNs from "fs"; import * as pathNs from "node:path";
        import { createRequire } from "node:module";
        registerModules({ "node:path": pathNs });
        const req = tableRequire({ fs: fsNs });
        const viaModule = createRequire(import.meta.url);
        const errs = [];
        for (const id of ["./helper.js", "left-pad", "./missing.json"]) { try { viaModule(id); } catch (e) { errs.push([e.code, e.message]); } }
        const fromFileUrl = createRequire("file:///work/space/ext/index.js");
        result = [req("node:fs") === fsNs.default, typeof req("fs").readFileSync, viaModule("path").join("a", "b"), errs,
                  fromFileUrl("../a.json"), fromFileUrl.resolve("./x.json")];"""
    )
    assert out[:3] == [True, "function", "a/b"]
    assert [e[0] for e in out[3]] == ["MODULE_NOT_FOUND"] * 3
    assert "bundler included them" in out[3][0][1]
    assert "not served by the pi-sandbox runtime" in out[3][1][1]
    assert out[4] == {"v": 1} and out[5] == "/work/space/ext/x.json"


# ---- pi packages ------------------------------------------------------------------------------------------------


def test_pi_tui_components_render_to_plain_lines(pure: ShimRuntime) -> None:
    out = pure.run(
        """import { Container, Text, Box, Spacer, Markdown, SelectList, Input, matchesKey, Key, visibleWidth,
                 truncateToWidth, wrapTextWithAnsi, fuzzyFilter, getEditorKeybindings } from "@mariozechner/pi-tui";
        const c = new Container();
        c.addChild(new Text("hello wide world", 1, 0)); c.addChild(new Spacer(1));
        const box = new Box(1, 0); box.addChild(new Text("in box", 0, 0)); c.addChild(box);
        const sel = new SelectList([{ value: "a", label: "Alpha" }, { value: "b", label: "Beta", description: "second" }], 5, {});
        let chosen; sel.onSelect = (it) => (chosen = it.value);
        sel.handleInput("\\x1b[B"); sel.handleInput("\\r");
        const input = new Input(); for (const ch of "hey") input.handleInput(ch); input.handleInput("\\x7f");
        result = { lines: c.render(12), sel: [chosen, sel.render(20)], input: input.getValue(),
          keys: [matchesKey("\\x1b", Key.escape), matchesKey("\\x03", Key.ctrl("c")), matchesKey("\\x1b[Z", "shift+tab"),
                 matchesKey("\\x1b[99;5u", "ctrl+c"), matchesKey("x", "y"), getEditorKeybindings().matches("\\r", "submit")],
          width: [visibleWidth("\\x1b[1mab\\x1b[0m"), visibleWidth("日本語"), visibleWidth("😀")],
          trunc: [truncateToWidth("abcdefgh", 5), truncateToWidth("abc", 5), truncateToWidth("\\x1b[31mredred\\x1b[0m", 4, "…")],
          wrap: wrapTextWithAnsi("\\x1b[32mgreen words here\\x1b[0m", 6),
          md: new Markdown("## Head\\n\\nSome **bold** `code`\\n\\n```\\nx = 1\\n```", 0, 0, {}).render(30),
          fuzzy: fuzzyFilter(["read_file", "write_file", "grep"], "rf") };"""
    )
    assert out["lines"] == [" hello wide ", " world      ", "", " in box     "]
    assert out["sel"] == ["b", ["  Alpha", "→ Beta  second"]]
    assert out["input"] == "he"
    assert out["keys"] == [True, True, True, True, False, True]
    assert out["width"] == [2, 6, 2]
    assert out["trunc"] == ["ab...", "abc", "\x1b[31mred\x1b[0m…"]
    assert out["wrap"] == ["\x1b[32mgreen", "\x1b[32mwords", "\x1b[32mhere\x1b[0m"]
    assert out["md"] == ["Head", "", "Some bold code", "", "  x = 1"]
    assert out["fuzzy"] == ["read_file", "write_file"]


def test_pi_coding_agent_helpers(pure: ShimRuntime) -> None:
    out = pure.run(
        """import * as pca from "@mariozechner/pi-coding-agent";
        const big = Array.from({ length: 10 }, (_, i) => "line" + i).join("\\n");
        const head = pca.truncateHead(big, { maxLines: 3 });
        const tail = pca.truncateTail(big, { maxBytes: 12 });
        const order = [];
        await Promise.all([
          pca.withFileMutationQueue("/work/f", async () => { await null; await null; order.push(1); }),
          pca.withFileMutationQueue("/work/space/../f", async () => order.push(2)),
        ]);
        const loader = new pca.BorderedLoader(null, pca.theme, "Working");
        loader.handleInput("\\x1b");
        result = { head: [head.content, head.truncated, head.truncatedBy, head.totalLines],
          tail: [tail.content, tail.truncatedBy], sizes: [pca.formatSize(10), pca.formatSize(1536), pca.formatSize(3 * 1048576)],
          order, border: new pca.DynamicBorder().render(4), loader: [loader.signal.aborted, loader.render(10)],
          isTool: pca.isToolCallEventType("bash", { toolName: "bash" }), md: typeof pca.getMarkdownTheme().heading,
          fm: pca.parseFrontmatter("---\\ndescription: \\"Do x\\"\\nargs:\\n  - a\\n  - b\\n---\\nBody"),
          llm: pca.convertToLlm([{ role: "custom", customType: "t", content: "note" }, { role: "user", content: "q" }]).map((m) => m.role),
          consts: [pca.DEFAULT_MAX_LINES, pca.DEFAULT_MAX_BYTES, typeof pca.VERSION, pca.keyHint("submit", "to send")] };"""
    )
    assert out["head"] == ["line0\nline1\nline2", True, "lines", 10]
    assert out["tail"] == ["line8\nline9", "bytes"]
    assert out["sizes"] == ["10B", "1.5KB", "3.0MB"]
    assert out["order"] == [1, 2]
    assert out["border"] == ["────"]
    assert out["loader"][0] is True
    assert " Working  " in out["loader"][1]
    assert out["isTool"] is True and out["md"] == "function"
    assert out["fm"] == {"frontmatter": {"description": "Do x", "args": ["a", "b"]}, "body": "Body"}
    assert out["llm"] == ["user", "user"]
    assert out["consts"] == [2000, 51200, "string", "enter to send"]


def test_pi_coding_agent_tools_go_through_hostcalls() -> None:
    fake = FakeFs()

    def responder(method: str, params: dict[str, Any]) -> Any:
        if method == "exec":
            return {"stdout": "out\n", "stderr": "", "exit_code": 0 if "ok" in params["args"][1] else 2, "killed": False}
        return fake(method, params)

    rt = ShimRuntime(responder)
    out = rt.run(
        """import { createReadTool, createWriteTool, createEditTool, createBashTool } from "@mariozechner/pi-coding-agent";
        const cwd = "/work/space";
        const w = await createWriteTool(cwd).execute("1", { path: "n.txt", content: "one two" });
        const e = await createEditTool(cwd).execute("2", { path: "n.txt", oldText: "two", newText: "three" });
        const r = await createReadTool(cwd).execute("3", { path: "n.txt" });
        const b = await createBashTool(cwd).execute("4", { command: "echo ok" });
        let bad; try { await createBashTool(cwd).execute("5", { command: "exit 2" }); } catch (err) { bad = err.message; }
        let dup; try { await createEditTool(cwd).execute("6", { path: "n.txt", oldText: "zzz", newText: "" }); } catch (err) { dup = err.message; }
        result = [w.content[0].text, e.content[0].text, r.content[0].text, b.content[0].text, bad, dup];"""
    )
    assert out[0] == "Successfully wrote 7 bytes to n.txt"
    assert out[2] == "one three"
    assert out[3] == "out\n"
    assert out[4].endswith("Command exited with code 2")
    assert "Could not find the exact text" in out[5]
    assert fake.files["/work/space/n.txt"] == b"one three"
    assert rt.host_calls("exec")[0] == {"cmd": "bash", "args": ["-c", "echo ok"], "cwd": "/work/space"}


def test_pi_ai_string_enum_validates_and_complete_fails_cleanly() -> None:
    def responder(method: str, params: dict[str, Any]) -> Any:
        if method == "events" and params["op"] == "complete_ai":
            raise FakeHostError("unavailable", "no model provider configured")
        return None

    rt = ShimRuntime(responder)
    out = rt.run(
        """import { StringEnum, Type, complete, stream, getModel } from "@mariozechner/pi-ai";
        import { Value } from "@sinclair/typebox/value";
        const schema = Type.Object({ action: StringEnum(["list", "add"]), n: Type.Optional(Type.Number()) });
        const model = getModel("anthropic", "claude-x");
        let err; try { await complete(model, { messages: [] }, { apiKey: "sk-secret" }); } catch (e) { err = [e.code, e.hostCode]; }
        const events = []; for await (const ev of stream(model, { messages: [] })) events.push(ev.type);
        result = [Value.Check(schema, { action: "add" }), Value.Check(schema, { action: "rm" }),
                  Value.Check(schema, { action: "list", n: "x" }), schema.properties.action.enum, err, events, model.api];"""
    )
    assert out == [True, False, False, ["list", "add"], ["ERR_AI_UNAVAILABLE", "unavailable"], ["error"],
                   "anthropic-messages"]
    sent = rt.host_calls("events")[0]
    assert sent["op"] == "complete_ai" and "apiKey" not in sent["options"]  # secrets never ride in params


# ---- pi:web: TextDecoder, Intl, Blob ------------------------------------------------------------------------


def test_text_decoder_streams_and_decodes_more_encodings(pure: ShimRuntime) -> None:
    out = pure.run(
        """const euro = new TextEncoder().encode("a€b");
        const d = new TextDecoder();
        const streamed = d.decode(euro.subarray(0, 2), { stream: true }) + d.decode(euro.subarray(2, 4), { stream: true }) + d.decode(euro.subarray(4));
        let fatal; try { new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xff])); } catch (e) { fatal = e.name; }
        result = [streamed, new TextDecoder("latin1").decode(new Uint8Array([0x63, 0x61, 0x66, 0xe9])),
                  new TextDecoder("utf-16le").decode(new Uint8Array([0x68, 0, 0x69, 0])),
                  new TextDecoder().decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])), fatal, new TextDecoder("utf8").encoding];"""
    )
    assert out == ["a€b", "café", "hi", "A", "TypeError", "utf-8"]


def test_minimal_intl(pure: ShimRuntime) -> None:
    out = pure.run(
        """result = [new Intl.NumberFormat("en-US").format(1234567.891), (1234.5).toLocaleString(),
          new Intl.NumberFormat("en-US", { style: "percent" }).format(0.256),
          new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" }).format(3.5),
          new Intl.NumberFormat("en", { notation: "compact" }).format(15300),
          Array.from(new Intl.Segmenter("en", { granularity: "grapheme" }).segment("e\\u0301👍🏽🇫🇷x"), (s) => s.segment),
          ["b10", "a", "b2"].sort(new Intl.Collator("en", { numeric: true }).compare),
          new Intl.PluralRules("en").select(1), new Intl.RelativeTimeFormat("en").format(-3, "days"),
          new Intl.ListFormat("en").format(["a", "b", "c"]),
          new Intl.DateTimeFormat("en-US", { timeZone: "UTC", year: "numeric", month: "short", day: "numeric" }).format(new Date(0)),
          await new Blob(["ab", new Uint8Array([99])]).text()];"""
    )
    assert out == ["1,234,567.891", "1,234.5", "26%", "$3.50", "15.3K", ["e\u0301", "👍🏽", "🇫🇷", "x"],
                   ["a", "b2", "b10"], "one", "3 days ago", "a, b, and c", "Jan 1, 1970", "abc"]


# ---- upstream export coverage and the newer package names ---------------------------------------------------

UPSTREAM_EXPORTS = json.loads((Path(__file__).parent / "data" / "upstream_exports.json").read_text())["packages"]


@pytest.mark.parametrize("package", sorted(UPSTREAM_EXPORTS))
def test_every_upstream_value_export_exists(pure: ShimRuntime, package: str) -> None:
    # An ES import of a name a module does not export is a link error that stops the whole extension from loading.
    names = UPSTREAM_EXPORTS[package]["exports"]
    out = pure.run(f"const ns = await import({json.dumps(package)}); result = {json.dumps(names)}.filter((n) => !(n in ns));")
    assert out == []


NODE_EXPORTS = json.loads((Path(__file__).parent / "data" / "node_exports.json").read_text())


@pytest.mark.parametrize("module_id", sorted(NODE_EXPORTS["modules"]))
def test_every_node_builtin_export_exists(pure: ShimRuntime, module_id: str) -> None:
    # A named import of a builtin export the shim lacks (pi-web-access: `fchmodSync` from node:fs) is a link error
    # that stops the whole extension; the generated node_extras fill in the rest of Node's names.
    names = [n for n in NODE_EXPORTS["modules"][module_id] if n.isidentifier()]
    for served in (module_id, f"node:{module_id}"):
        out = pure.run(f"const ns = await import({json.dumps(served)}); result = {json.dumps(names)}.filter((n) => !(n in ns));")
        assert out == [], served


def test_node_extras_keep_values_and_name_what_is_unsupported(pure: ShimRuntime) -> None:
    out = pure.run(
        """import { fchmodSync, ReadStream } from "node:fs";
        import { E2BIG } from "constants";
        import { NOTFOUND } from "dns";
        import { isString, isPrimitive } from "util";
        import { defaultMaxListeners } from "events";
        const errs = [];
        for (const f of [() => fchmodSync(3, 0o600), () => new ReadStream("x")]) {
          try { f(); errs.push(null); } catch (e) { errs.push([e.code, e.message]); }
        }
        result = [errs, E2BIG, NOTFOUND, isString("a"), isPrimitive({}), defaultMaxListeners, fchmodSync.name];"""
    )
    assert out == [[["ERR_NOT_SUPPORTED", "pi-sandbox: fs.fchmodSync is not available to extensions in the sandbox"],
                    ["ERR_NOT_SUPPORTED", "pi-sandbox: fs.ReadStream is not available to extensions in the sandbox"]],
                   7, "ENOTFOUND", True, False, 10, "fchmodSync"]


#: Node 20's web-platform globals (`Object.getOwnPropertyNames(globalThis)` less the builtin-module names the
#: REPL adds and WebAssembly, which the engine lacks: left undefined so feature detection takes the JS path).
NODE20_WEB_GLOBALS = [
    "AbortController", "AbortSignal", "Blob", "BroadcastChannel", "ByteLengthQueuingStrategy", "CompressionStream",
    "CountQueuingStrategy", "Crypto", "CryptoKey", "CustomEvent", "DOMException", "DecompressionStream", "Event",
    "EventTarget", "File", "FormData", "Headers", "MessageChannel", "MessageEvent", "MessagePort", "Performance",
    "PerformanceEntry", "PerformanceMark", "PerformanceMeasure", "PerformanceObserver", "PerformanceObserverEntryList",
    "PerformanceResourceTiming", "ReadableByteStreamController", "ReadableStream", "ReadableStreamBYOBReader",
    "ReadableStreamBYOBRequest", "ReadableStreamDefaultController", "ReadableStreamDefaultReader", "Request",
    "Response", "SubtleCrypto", "TextDecoder", "TextDecoderStream", "TextEncoder", "TextEncoderStream",
    "TransformStream", "TransformStreamDefaultController", "URL", "URLSearchParams", "WritableStream",
    "WritableStreamDefaultController", "WritableStreamDefaultWriter", "atob", "btoa", "clearImmediate",
    "clearInterval", "clearTimeout", "crypto", "fetch", "global", "navigator", "performance", "process",
    "queueMicrotask", "setImmediate", "setInterval", "setTimeout", "structuredClone", "Buffer",
]


def test_node_web_globals_exist_and_form_data_works(pure: ShimRuntime) -> None:
    # @agentuity/pi referenced FormData at its top level: "ReferenceError: FormData is not defined" failed the load.
    out = pure.run(
        f"""const missing = {json.dumps(NODE20_WEB_GLOBALS)}.filter((n) => !(n in globalThis));
        const fd = new FormData();
        fd.append("a", "1"); fd.append("a", "2"); fd.set("b", new Blob(["xyz"], {{ type: "text/plain" }}), "b.txt");
        const file = fd.get("b");
        let compression; try {{ new CompressionStream("gzip"); }} catch (e) {{ compression = e.code; }}
        result = [missing, fd.getAll("a"), [...fd.keys()], file instanceof File, file.name, await file.text(),
                  new CustomEvent("x", {{ detail: 5 }}).detail, typeof WebAssembly, compression,
                  Object.prototype.toString.call(fd)];""",
        globals_first=True,
    )
    assert out == [[], ["1", "2"], ["a", "a", "b"], True, "b.txt", "xyz", 5, "undefined", "ERR_NOT_SUPPORTED",
                   "[object FormData]"]


def test_newer_package_names_are_the_same_modules(pure: ShimRuntime) -> None:
    out = pure.run(
        """const pairs = [["@earendil-works/pi-coding-agent", "@mariozechner/pi-coding-agent"], ["@earendil-works/pi-tui", "@mariozechner/pi-tui"],
                       ["@earendil-works/pi-ai", "@mariozechner/pi-ai"], ["@earendil-works/pi-ai/compat", "@mariozechner/pi-ai"]];
        result = [];
        for (const [a, b] of pairs) { const x = await import(a), y = await import(b); result.push(x.Text === y.Text && x.Type === y.Type && x.VERSION === y.VERSION); }
        // `typebox` is the real TypeBox 1.x (its own API), one instance across its sub-paths.
        const { default: T, Type } = await import("typebox");
        const { default: V, Check, Errors } = await import("typebox/value");
        const { Compile } = await import("typebox/compile");
        const { Object: TypeObject } = await import("typebox/type");
        const { Compile: SinclairCompile } = await import("@sinclair/typebox/compile");  // pi 0.7x's alias of 1.x
        const schema = T.Object({ mode: (await import("@earendil-works/pi-ai")).StringEnum(["a", "b"]), n: Type.Number() });
        result.push(T === Type, TypeObject === Type.Object, V.Check(schema, { mode: "a", n: 1 }), Check(schema, { mode: "a", n: "x" }),
                    Errors(schema, { mode: "a", n: "x" }).map((e) => e.instancePath), Compile(schema).Check({ mode: "z", n: 1 }), SinclairCompile === Compile);"""
    )
    assert out == [True, True, True, True, True, True, True, False, ["/n"], False, True]


def test_agent_internal_exports_fail_clearly_and_components_render_nothing(pure: ShimRuntime) -> None:
    out = pure.run(
        """import * as pca from "@mariozechner/pi-coding-agent";
        const errs = [];
        for (const f of [() => new pca.AgentSession(), () => pca.createAgentSession(), () => pca.readStoredCredential("anthropic")]) {
          try { f(); errs.push(null); } catch (e) { errs.push(e.code); }
        }
        result = [errs, new pca.FooterComponent({}).render(40), pca.estimateTokens("abcdefgh"),
                  pca.parseSessionEntries('{"type":"session"}\\n{"type":"message","message":{"role":"user"}}\\n{torn').length,
                  pca.buildSessionContext([{ type: "message", message: { role: "user", content: "x" } }]).messages.length,
                  pca.generateDiffString("a\\nb\\nc", "a\\nB\\nc").diff];"""
    )
    assert out == [["ERR_NOT_SUPPORTED"] * 3, [], 2, 2, 1, "-2 b\n+2 B"]


def test_pbkdf2_and_hkdf_match_python(pure: ShimRuntime) -> None:
    out = pure.run(
        """import { pbkdf2Sync, hkdfSync } from "node:crypto";
        result = [pbkdf2Sync("pw", "salt", 1000, 40, "sha256").toString("hex"), pbkdf2Sync("pw", "salt", 3, 20, "sha1").toString("hex"),
                  Buffer.from(hkdfSync("sha256", "ikm", "salt", "info", 42)).toString("hex")];"""
    )
    assert out[0] == hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", 1000, 40).hex()
    assert out[1] == hashlib.pbkdf2_hmac("sha1", b"pw", b"salt", 3, 20).hex()
    prk = hmac.new(b"salt", b"ikm", "sha256").digest()
    okm, prev = b"", b""
    for i in range(2):
        prev = hmac.new(prk, prev + b"info" + bytes([i + 1]), "sha256").digest()
        okm += prev
    assert out[2] == okm[:42].hex()


def test_linkable_but_absent_builtins(pure: ShimRuntime) -> None:
    out = pure.run(
        """import tty from "node:tty"; import { gzipSync } from "node:zlib"; import dns from "node:dns";
        import { AsyncLocalStorage } from "node:async_hooks"; import { channel } from "node:diagnostics_channel";
        const errs = [];
        try { gzipSync("x"); } catch (e) { errs.push(e.code); }
        errs.push(await new Promise((res) => dns.lookup("example.com", (err) => res(err.code))));
        const als = new AsyncLocalStorage();
        const seen = als.run({ id: 7 }, () => als.getStore().id);
        const ch = channel("x"); const got = []; ch.subscribe((m) => got.push(m)); ch.publish(1);
        result = [tty.isatty(1), errs, seen, als.getStore() === undefined, got];"""
    )
    assert out == [False, ["ERR_NOT_SUPPORTED", "ERR_NOT_SUPPORTED"], 7, True, [1]]


def test_fs_glob_and_opendir() -> None:
    fake = FakeFs()
    fake.files["/work/space/sub/x.ts"] = b"x"
    rt = ShimRuntime(fake)
    out = rt.run(
        """import fs from "fs"; import { glob } from "fs/promises";
        const viaPromises = []; for await (const f of glob("**/*.ts")) viaPromises.push(f);
        const dir = fs.opendirSync("."); const names = []; let d; while ((d = dir.readSync())) names.push(d.name);
        result = [fs.globSync("*.txt"), viaPromises, names];"""
    )
    assert out == [["a.txt"], ["sub/x.ts"], ["a.txt", "bin", "sub"]]


def test_path_survives_push_hijack_in_the_extension_realm() -> None:
    rt = ShimRuntime(FakeFs())
    out = rt.run(
        """import path from "path"; import fs from "fs";
        const push = Array.prototype.push;
        Array.prototype.push = function () { return 0; };
        try { result = [path.resolve("a/b/../c"), fs.statSync("sub").isDirectory()]; } finally { Array.prototype.push = push; }"""
    )
    assert out == ["/work/space/a/c", True]


def test_event_emitter_once_and_on_with_the_same_function(pure: ShimRuntime) -> None:
    out = pure.run(
        """import { EventEmitter } from "events";
        const e = new EventEmitter(); let n = 0; const f = () => n++;
        e.on("x", f); e.once("x", f);
        e.emit("x"); e.emit("x");
        result = [n, e.listenerCount("x")];"""
    )
    assert out == [3, 1]


def test_legacy_buffer_constructor(pure: ShimRuntime) -> None:
    assert pure.run('result = [new Buffer("hi").toString("hex"), Array.from(new Buffer([1, 2])), new Buffer(3).length];') == [
        "6869", [1, 2], 3]


def test_http_client_over_the_http_hostcall() -> None:
    def http(method: str, params: dict[str, Any]) -> Any:
        if method == "net":
            raise FakeHostError("denied", f"capability 'exec' denied by policy ({params['op']})", "deny_caps")
        if method != "http":
            return None
        if "denied" in params["url"]:
            raise FakeHostError("policy_denied", "http capability denied")
        return {"status": 200, "headers": {"X-Echo": params["method"]}, "body": params.get("body", "")}

    rt = ShimRuntime(http)
    out = rt.run(
        """import http from "node:http"; import https from "node:https";
        const viaGet = await new Promise((res) => https.get("https://api.example.com/x", (r) => {
          let body = ""; r.on("data", (c) => (body += c)); r.on("end", () => res([r.statusCode, r.headers["x-echo"], body]));
        }));
        const viaRequest = await new Promise((res) => {
          const req = http.request({ hostname: "h.example", port: 8080, path: "/p?q=1", method: "POST", headers: { "Content-Type": "text/plain" } },
            (r) => { let b = ""; r.setEncoding("utf8"); r.on("data", (c) => (b += c)); r.on("end", () => res(b)); });
          req.write("a"); req.end("b");
        });
        const denied = await new Promise((res) => https.get("https://denied.example/", () => res("ran")).on("error", (e) => res(e.code)));
        const server = await new Promise((res) => http.createServer(() => {}).listen(8080, () => res("listening"))
          .on("error", (e) => res([e.code, e.syscall])));
        result = [viaGet, viaRequest, denied, server];"""
    )
    assert out == [[200, "GET", ""], "ab", "EACCES", ["EACCES", "listen"]]
    assert rt.host_calls("http")[1] == {"method": "POST", "url": "http://h.example:8080/p?q=1",
                                        "headers": {"content-type": "text/plain"}, "body": "ab"}


def test_spawn_stdio_inherit_goes_to_the_log() -> None:
    rt = ShimRuntime(exec_responder)
    out = rt.run(
        """import { spawn } from "child_process";
        const child = spawn("make", ["build"], { stdio: "inherit" });
        const code = await new Promise((res) => child.on("close", res));
        result = [child.stdout === null, child.stderr === null, code];"""
    )
    assert out == [True, True, 0]
    assert {"level": "info", "message": "ran:make build|stdin:"} in rt.host_calls("log")


def test_native_digest_path_matches_hashlib_and_is_used() -> None:
    rt = ShimRuntime(no_host, native_digest=True)
    data = bytes(range(256)) * 3
    out = rt.run(
        f"""import {{ createHash, createHmac, pbkdf2Sync }} from "crypto";
        const d = Buffer.from({list(data)});
        result = [createHash("sha512").update(d).digest("hex"), createHmac("md5", "k").update(d).digest("hex"),
                  pbkdf2Sync("pw", "salt", 2, 16, "sha256").toString("hex")];"""
    )
    assert out == [hashlib.sha512(data).hexdigest(), hmac.new(b"k", data, "md5").hexdigest(),
                   hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", 2, 16).hex()]
    assert {"sha512", "md5", "sha256"} <= set(rt.digest_calls)


def test_global_crypto_subtle_digest(pure: ShimRuntime) -> None:
    out = pure.run('const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode("abc")); result = Buffer.from(d).toString("hex");')
    assert out == hashlib.sha256(b"abc").hexdigest()


def test_web_streams_and_fetch_body_stream() -> None:
    def http(method: str, params: dict[str, Any]) -> Any:
        return {"status": 200, "headers": {}, "body": "data: a\n\ndata: é\n\n"} if method == "http" else None

    rt = ShimRuntime(http)
    out = rt.run(
        """const res = await fetch("https://sse.example/stream");
        const events = [];
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) { const { value, done } = await reader.read(); if (done) break; events.push(...value.split("\\n\\n").filter(Boolean)); }
        const upper = new TransformStream({ transform(chunk, c) { c.enqueue(chunk.toUpperCase()); } });
        const collected = [];
        const sink = new WritableStream({ write(chunk) { collected.push(chunk); } });
        await ReadableStream.from(["x", "y"]).pipeThrough(upper).pipeTo(sink);
        const chunks = []; for await (const c of ReadableStream.from([1, 2, 3])) chunks.push(c);
        result = [events, collected, chunks, res.bodyUsed];"""
    )
    assert out == [["data: a", "data: é"], ["X", "Y"], [1, 2, 3], True]


def test_namespaced_keybindings_and_transcript_format(pure: ShimRuntime) -> None:
    out = pure.run(
        """import { getKeybindings, TUI_KEYBINDINGS } from "@mariozechner/pi-tui";
        import { serializeConversation } from "@mariozechner/pi-coding-agent";
        const kb = getKeybindings();
        result = [kb.matches("\\r", "tui.input.submit"), kb.matches("\\x1b[B", "tui.select.down"), kb.matches("\\x02", "tui.editor.cursorLeft"),
                  TUI_KEYBINDINGS["tui.select.cancel"].defaultKeys,
                  serializeConversation([{ role: "assistant", content: [{ type: "text", text: "yo" }, { type: "toolCall", id: "1", name: "read", arguments: { path: "x" } }] },
                                         { role: "toolResult", toolCallId: "1", toolName: "read", content: [{ type: "text", text: "data" }] }])];"""
    )
    assert out == [True, True, True, ["escape", "ctrl+c"], '[Assistant]: yo\n\n[Assistant tool calls]: read(path="x")\n\n[Tool result]: data']


def test_emoji_sequences_are_one_glyph_wide(pure: ShimRuntime) -> None:
    out = pure.run(
        """import { visibleWidth, wrapTextWithAnsi } from "@mariozechner/pi-tui";
        result = [visibleWidth("😀👍🏽🇫🇷"), visibleWidth("👨\\u200d👩\\u200d👧"), wrapTextWithAnsi("👨\\u200d👩\\u200d👧 family", 10).length];"""
    )
    assert out == [6, 2, 1]


def test_require_returns_builtin_objects_and_package_namespaces(pure: ShimRuntime) -> None:
    out = pure.run(
        """import { createRequire } from "pi:require";
        import * as ev from "events"; import * as tb from "typebox"; import * as tui from "@mariozechner/pi-tui"; import * as u from "util";
        const req = createRequire({ events: ev, typebox: tb, "@mariozechner/pi-tui": tui, util: u });
        const { Type } = req("typebox");
        result = [req("events") === ev.EventEmitter, typeof req("events").once, typeof Type.Object, typeof req("@mariozechner/pi-tui").Text,
                  typeof req("util").getSystemErrorName];"""
    )
    assert out == [True, "function", "function", "function", "function"]
