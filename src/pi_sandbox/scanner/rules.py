"""The scanner's rule table and blocklists: the one place that says what is forbidden or flagged.

Every finding the scanner emits names a rule from :data:`RULES`. A rule carries its class
(``forbidden`` blocks install, ``flagged`` is recorded and informs the trust decision), a one-line
explanation for the operator, and the capability the finding implies (pinned in the lockfile so a
later update that grows the capability set needs confirmation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

FORBIDDEN: Final = "forbidden"
FLAGGED: Final = "flagged"


@dataclass(frozen=True)
class Rule:
    """One scanner rule: id, class, explanation and implied capability (if any)."""

    id: str
    cls: str
    explanation: str
    capability: str | None = None


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {r.id: r for r in rules}


RULES: Final[dict[str, Rule]] = _rules(
    # --- forbidden: code execution from strings ------------------------------------------------
    Rule("EVAL", FORBIDDEN, "eval in any form (direct, indirect, aliased or via a global object)", "exec"),
    Rule("FUNCTION_CONSTRUCTOR", FORBIDDEN, "the Function constructor compiles a string into code", "exec"),
    Rule("STRING_TIMER", FORBIDDEN, "a string passed to setTimeout/setInterval is compiled as code", "exec"),
    Rule("DECODED_PAYLOAD", FORBIDDEN, "an encoded (base64/hex/char-code) payload reaches an eval-like sink",
         "exec"),
    Rule("COMPUTED_GLOBAL_CALL", FORBIDDEN,
         "a computed member of the global object is called; it can be eval or Function", "exec"),
    Rule("WORKER_EVAL", FORBIDDEN, "a Worker built from a code string (eval: true) compiles that string",
         "exec"),
    Rule("WITH_SCOPE", FORBIDDEN,
         "a with statement binds the global object/process/require as a scope: names inside resolve to "
         "hidden members", "exec"),
    Rule("REFLECTIVE_LOOKUP", FORBIDDEN,
         "a member of the global object/process/module is picked by enumerating it, so its name never appears",
         "exec"),
    # --- forbidden: native access and module-system tampering ----------------------------------
    Rule("PROCESS_BINDING", FORBIDDEN,
         "process.binding/_linkedBinding/dlopen reach native internals outside the sandbox", "exec"),
    Rule("FORBIDDEN_MODULE", FORBIDDEN,
         "imports a Node builtin that escapes the sandbox (vm, worker_threads, net, tls, inspector, ...)", "exec"),
    Rule("NATIVE_ADDON_LOAD", FORBIDDEN, "loads a native .node addon, which runs unsandboxed machine code",
         "exec"),
    Rule("MODULE_TAMPERING", FORBIDDEN,
         "tampers with the module system (require.cache, Module._load, require.extensions)", "exec"),
    Rule("MODULE_OUTSIDE_ROOT", FORBIDDEN,
         "loads code from outside the extension (absolute path, file: URL, ../ past the root, createRequire "
         "anchored elsewhere): that code was never scanned", "exec"),
    Rule("BUILTIN_TAMPERING", FORBIDDEN,
         "replaces a built-in (JSON.parse, Reflect.*, Function.prototype.call, globalThis.fetch, process "
         "internals) that the sandbox's own modules rely on", "exec"),
    Rule("OBFUSCATED_ACCESS", FORBIDDEN,
         "a sensitive module or API name is built from encoded or concatenated pieces to hide it", "exec"),
    # --- forbidden: prototype pollution --------------------------------------------------------
    Rule("PROTOTYPE_POLLUTION", FORBIDDEN,
         "writes to a built-in prototype (Object.prototype, __proto__, constructor.prototype)", None),
    Rule("CODE_FROM_URL", FORBIDDEN, "imports code from a data:/blob:/http(s): URL (code built from a string)",
         "exec"),
    Rule("JSFUCK_CODE", FORBIDDEN, "JSFuck-style code built only from []()!+ characters", "exec"),
    # --- forbidden: threat signatures (intent, not just capability) ----------------------------
    Rule("ENV_EXFILTRATION", FORBIDDEN, "serialises the whole process.env in a file that talks to the network",
         "env"),
    Rule("CREDENTIAL_EXFILTRATION", FORBIDDEN,
         "names a credential store (ssh keys, cloud/npm/git credentials) in a file that talks to the network",
         "read"),
    Rule("SHELL_PAYLOAD", FORBIDDEN, "reverse-shell command pattern (/dev/tcp, nc -e, bash -i >&)", "exec"),
    Rule("PERSISTENCE_WRITE", FORBIDDEN,
         "writes a persistence location (authorized_keys, cron, LaunchAgents, autostart, systemd)", "write"),
    # --- forbidden: a syntax error that hides code ---------------------------------------------
    Rule("PARSE_ERROR_HIDES_CODE", FORBIDDEN,
         "code the parser cannot read contains eval-like or sandbox-escaping tokens", "exec"),
    # --- flagged: capabilities -----------------------------------------------------------------
    Rule("CHILD_PROCESS", FLAGGED, "uses child_process to run programs (needs the exec capability)", "exec"),
    Rule("ENV_ACCESS", FLAGGED, "reads process.env (needs the env capability)", "env"),
    Rule("NETWORK", FLAGGED, "makes network requests (fetch/http/https/WebSocket; needs http)", "http"),
    Rule("FS_WRITE", FLAGGED, "writes, deletes or renames files (needs the write capability)", "write"),
    Rule("DYNAMIC_REQUIRE", FLAGGED, "require() with a specifier that cannot be resolved statically", "exec"),
    Rule("DYNAMIC_IMPORT", FLAGGED, "import() with a specifier that cannot be resolved statically", "exec"),
    Rule("CREATE_REQUIRE", FLAGGED, "createRequire builds a require function outside the module graph", None),
    Rule("WEBASSEMBLY", FLAGGED, "compiles or runs WebAssembly", "exec"),
    Rule("COMPUTED_GLOBAL", FLAGGED, "computed member access on the global object/process/require", None),
    Rule("RAW_SOCKET", FLAGGED,
         "imports a raw socket builtin (net, tls, dgram): the sandbox refuses to load it, the extension's "
         "optional feature needs network access", "http"),
    Rule("THREADS", FLAGGED, "imports worker_threads/cluster: runs code in other threads or processes", "exec"),
    Rule("PI_EXEC", FLAGGED, "runs programs through pi.exec or the bash tool (needs the exec capability)", "exec"),
    Rule("FS_OUTSIDE_ROOT", FLAGGED,
         "a file operation on a constant path outside the workspace (absolute, home directory or ../ past "
         "the extension)", "read"),
    Rule("LIBRARY_CODEGEN", FLAGGED,
         "a dependency compiles code it generated itself (schema compilers, templating): nothing decoded, "
         "fetched or read reaches it", "exec"),
    Rule("CODE_FROM_OWN_FILE", FLAGGED,
         "compiles code read from a file inside the extension (a build artifact); the file is scanned as code "
         "when the extension ships it", "exec"),
    Rule("BUILTIN_POLYFILL", FLAGGED, "installs a missing built-in only when it is absent (polyfill)", None),
    Rule("WITH_STATEMENT", FLAGGED, "a with statement makes name resolution depend on an object", None),
    Rule("FUNCTION_GLOBAL_IDIOM", FLAGGED,
         "bundler idiom (Function('return this'), regenerator-runtime): constant code that only reads or "
         "sets a global", None),
    Rule("PROTO_SET", FLAGGED, "sets an object's prototype via __proto__ (common in compiled class helpers)",
         None),
    # --- flagged: obfuscation signals ----------------------------------------------------------
    Rule("LONG_LINE", FLAGGED, "a very long line (minified or packed code hides what it does)", None),
    Rule("HIGH_ENTROPY_STRING", FLAGGED, "a long high-entropy string literal (possible encoded payload)", None),
    Rule("ESCAPED_IDENTIFIER", FLAGGED, "an identifier written with unicode escapes (obfuscation)", None),
    Rule("OBFUSCATOR_NAMES", FLAGGED, "many _0x… identifiers, typical of javascript-obfuscator output", None),
    Rule("NON_JS_MODULE", FLAGGED,
         "a file without a JS/TS suffix is loaded as code by require/import (scanned as JavaScript)", None),
    Rule("NATIVE_ADDON_FILE", FLAGGED, "ships a native .node binary", "exec"),
    # --- flagged: files the scanner could not fully read ---------------------------------------
    Rule("PARSE_ERROR", FLAGGED, "the file has syntax errors; the unreadable part could not be analysed",
         None),
    Rule("FILE_TOO_LARGE", FLAGGED, "file too large to parse; only a token scan was done", None),
    Rule("UNREADABLE_FILE", FLAGGED, "the file could not be read", None),
    Rule("SYMLINK", FLAGGED, "a symbolic link (not followed; it may point outside the extension)", None),
    Rule("SPECIAL_FILE", FORBIDDEN,
         "a named pipe, socket or device file: no extension ships one, and reading it can hang or flood "
         "the tools that inspect the extension (never opened)", None),
)

# --- module blocklists ----------------------------------------------------------------------------

#: Node builtins that escape the sandbox: new JS realms from strings, the debugger, engine internals.
FORBIDDEN_MODULES: Final[frozenset[str]] = frozenset({"vm", "inspector", "v8", "repl", "wasi"})
#: Optional builtins real extensions import for a feature (Unix-socket IPC, a local server, subagents):
#: flagged with the capability they imply; the runtime refuses to load them, so nothing escapes.
RAW_SOCKET_MODULES: Final[frozenset[str]] = frozenset({"net", "tls", "dgram", "_tls_wrap", "_stream_wrap"})
THREAD_MODULES: Final[frozenset[str]] = frozenset({"worker_threads", "cluster"})
#: Named imports of an optional or forbidden builtin that are pure functions (no socket, no engine access):
#: a file importing only these gets no finding for the module.
PURE_MODULE_NAMES: Final[dict[str, frozenset[str]]] = {
    "net": frozenset({"isIP", "isIPv4", "isIPv6"}),
    "v8": frozenset({"getHeapStatistics", "getHeapSpaceStatistics", "getHeapCodeStatistics",
                     "cachedDataVersionTag"}),
}

CHILD_PROCESS_MODULES: Final[frozenset[str]] = frozenset(
    {"child_process", "execa", "cross-spawn", "node-pty", "shelljs", "zx"}
)
NETWORK_MODULES: Final[frozenset[str]] = frozenset(
    {"http", "https", "http2", "dns", "undici", "node-fetch", "axios", "got", "ws", "cross-fetch", "superagent",
     "request", "isomorphic-fetch"}
)
FS_MODULES: Final[frozenset[str]] = frozenset({"fs", "fs/promises", "fs-extra", "graceful-fs"})

#: Packages the sandbox serves itself (mirrors ``runtime.modules.HOST_PACKAGES``; a test keeps them equal):
#: an extension's own copy under ``node_modules`` is never loaded, so its findings are reported apart.
SERVED_PACKAGES: Final[frozenset[str]] = frozenset(
    {"@mariozechner/pi-coding-agent", "@mariozechner/pi-tui", "@mariozechner/pi-ai", "@mariozechner/pi-agent-core",
     "@sinclair/typebox", "@earendil-works/pi-coding-agent", "@earendil-works/pi-tui", "@earendil-works/pi-ai",
     "@earendil-works/pi-agent-core", "typebox"}
)

#: Built-ins whose replacement subverts the sandbox's own modules, which run in the same realm:
#: every static member of these objects, and these globals themselves.
TAMPER_OBJECTS: Final[frozenset[str]] = frozenset(
    {"JSON", "Reflect", "Object", "Function", "Array", "String", "Promise", "Proxy", "Math", "Buffer", "Number"}
)
TAMPER_GLOBALS: Final[frozenset[str]] = TAMPER_OBJECTS | frozenset(
    {"eval", "fetch", "atob", "btoa", "setTimeout", "setInterval", "setImmediate", "queueMicrotask",
     "structuredClone", "require", "WebAssembly", "process", "TextDecoder", "TextEncoder", "Headers", "Request",
     "Response", "URL", "crypto"}
)
#: ``process`` members whose replacement hides native access or the module system (``process.emit`` and
#: ``process.exitCode`` are replaced by ordinary libraries such as signal-exit).
TAMPER_PROCESS_MEMBERS: Final[frozenset[str]] = frozenset(
    {"binding", "_linkedBinding", "dlopen", "getBuiltinModule", "mainModule", "env", "moduleLoadList"}
)

#: Names a ``.find(...)`` over ``Object.keys(globalThis)`` / ``(process)`` can pick (what such a
#: predicate is run against to see which member it selects).
GLOBAL_MEMBER_NAMES: Final[tuple[str, ...]] = (
    "eval", "Function", "process", "require", "module", "fetch", "setTimeout", "setInterval", "setImmediate",
    "atob", "btoa", "Buffer", "globalThis", "global", "Object", "Array", "String", "JSON", "Reflect", "Proxy",
    "Promise", "Symbol", "WebAssembly", "queueMicrotask", "structuredClone", "console", "escape", "unescape",
    "decodeURIComponent", "encodeURIComponent", "isNaN", "parseInt", "parseFloat", "Math", "Date", "Error",
)
PROCESS_MEMBER_NAMES: Final[tuple[str, ...]] = (
    "binding", "_linkedBinding", "dlopen", "env", "argv", "mainModule", "getBuiltinModule", "exit", "kill",
    "cwd", "chdir", "pid", "platform", "version", "versions", "nextTick", "emit", "on", "stdout", "stderr",
    "stdin", "hrtime", "memoryUsage", "umask", "execPath", "execArgv", "config", "features",
)

#: Every Node builtin root name; a builtin name hidden behind encoding or concatenation is obfuscation.
NODE_BUILTINS: Final[frozenset[str]] = frozenset(
    {"assert", "buffer", "child_process", "cluster", "console", "constants", "crypto", "dgram", "dns",
     "domain", "events", "fs", "http", "http2", "https", "inspector", "module", "net", "os", "path",
     "perf_hooks", "process", "punycode", "querystring", "readline", "repl", "stream", "string_decoder",
     "sys", "timers", "tls", "trace_events", "tty", "url", "util", "v8", "vm", "wasi", "worker_threads",
     "zlib", "async_hooks", "diagnostics_channel", "test", "sqlite"}
)

#: fs functions that change the filesystem.
FS_WRITE_FUNCTIONS: Final[frozenset[str]] = frozenset(
    {name + suffix for name in ("writeFile", "appendFile", "mkdir", "rm", "rmdir", "unlink", "rename",
                                "copyFile", "cp", "symlink", "link", "chmod", "chown", "truncate",
                                "mkdtemp", "utimes", "lchown", "lutimes")
     for suffix in ("", "Sync")}
    | {"createWriteStream", "outputFile", "outputFileSync", "outputJson", "outputJsonSync", "writeJson",
       "writeJsonSync", "remove", "removeSync", "emptyDir", "emptyDirSync", "ensureDir", "ensureDirSync",
       "move", "moveSync", "copy", "copySync"}
)

#: fs functions whose first argument is a path (reads and writes), checked for paths outside the workspace.
FS_PATH_FUNCTIONS: Final[frozenset[str]] = FS_WRITE_FUNCTIONS | frozenset(
    {name + suffix for name in ("readFile", "readdir", "stat", "lstat", "access", "open", "opendir", "readlink",
                                "realpath") for suffix in ("", "Sync")}
    | {"createReadStream", "existsSync", "readJson", "readJsonSync"}
)

#: Global names the analysis tracks from their first mention. Anything else is not a root.
GLOBAL_OBJECT_NAMES: Final[frozenset[str]] = frozenset(
    {"globalThis", "global", "window", "self", "frames", "GLOBAL"}
)
BUILTIN_CONSTRUCTORS: Final[frozenset[str]] = frozenset(
    {"Object", "Array", "String", "Number", "Boolean", "Function", "Promise", "RegExp", "Date", "Map", "Set",
     "WeakMap", "WeakSet", "Error", "Symbol", "BigInt", "ArrayBuffer", "Uint8Array", "JSON", "Math",
     "Reflect", "Proxy", "Buffer", "Iterator", "AsyncFunction", "GeneratorFunction"}
)
#: Constructors that give no reach when read under a computed name (lodash's ``getNative(root, 'Map')``
#: picks ``Map``, ``Set``, ``Promise``, ``WeakMap`` so): such a read is not obfuscation. A write to them is
#: still judged (tampering, pollution) by its path; ``Function``, ``Reflect``, ``Proxy``, ``Object``
#: and ``Buffer`` stay sensitive.
INERT_CONSTRUCTORS: Final[frozenset[str]] = frozenset(
    {"Array", "String", "Number", "Boolean", "Promise", "RegExp", "Date", "Map", "Set", "WeakMap", "WeakSet",
     "Error", "Symbol", "BigInt", "ArrayBuffer", "Uint8Array", "JSON", "Math", "Iterator"}
)
TRACKED_GLOBALS: Final[frozenset[str]] = (
    GLOBAL_OBJECT_NAMES
    | BUILTIN_CONSTRUCTORS
    | {"eval", "process", "require", "module", "setTimeout", "setInterval", "setImmediate", "execScript",
       "atob", "fetch", "WebAssembly", "XMLHttpRequest", "WebSocket", "EventSource", "importScripts",
       "decodeURIComponent", "unescape", "__non_webpack_require__"}
)

#: Paths (``process.binding``) that are forbidden on any reference, with their rule.
FORBIDDEN_PATHS: Final[dict[str, str]] = {
    "eval": "EVAL",
    "execScript": "EVAL",
    "process.binding": "PROCESS_BINDING",
    "process._linkedBinding": "PROCESS_BINDING",
    "process.dlopen": "PROCESS_BINDING",
    "require.cache": "MODULE_TAMPERING",
    "require.extensions": "MODULE_TAMPERING",
    "Module._load": "MODULE_TAMPERING",
    "Module._cache": "MODULE_TAMPERING",
    "Module._resolveFilename": "MODULE_TAMPERING",
    "Module._extensions": "MODULE_TAMPERING",
    "Module._compile": "MODULE_TAMPERING",
    "Module.prototype._compile": "MODULE_TAMPERING",
    "Module.prototype.require": "MODULE_TAMPERING",
    "Module.wrap": "MODULE_TAMPERING",
    "module._compile": "MODULE_TAMPERING",
}

#: Paths that are flagged on reference, with their rule.
FLAGGED_PATHS: Final[dict[str, str]] = {
    "process.env": "ENV_ACCESS",
    "fetch": "NETWORK",
    "XMLHttpRequest": "NETWORK",
    "WebSocket": "NETWORK",
    "EventSource": "NETWORK",
    "WebAssembly": "WEBASSEMBLY",
    "Module.createRequire": "CREATE_REQUIRE",
}

#: Callables that compile their (first / last) string argument.
STRING_TIMERS: Final[frozenset[str]] = frozenset({"setTimeout", "setInterval", "setImmediate"})

#: Property names whose computed (obfuscated) spelling on a tracked object is forbidden.
SENSITIVE_MEMBER_NAMES: Final[frozenset[str]] = frozenset(
    {"eval", "Function", "constructor", "binding", "_linkedBinding", "dlopen", "env", "mainModule", "require",
     "cache", "_load", "exec", "execSync", "spawn", "spawnSync", "execFile", "execFileSync", "fork",
     "__proto__", "prototype", "process", "child_process", "setTimeout", "setInterval", "fromCharCode",
     "atob"}
)

#: Tokens that, inside code the parser could not read (or a file too large to parse), block install.
#: Only forbidden-grade constructs: capability words (child_process, atob) or ``\u001b`` escapes are
#: common in benign code and would turn a harmless syntax error into a block.
SUSPICIOUS_TOKEN_PATTERN: Final = (
    rb"\beval\b(?!\s*:)|\bFunction\s*\(|\bnew\s+Function\b|process\s*\.\s*(?:binding|dlopen|_linkedBinding)"
    rb"|\\u00[2-7][0-9a-fA-F]|\\u\{[2-7][0-9a-fA-F]\}|\\x[2-7][0-9a-fA-F]|constructor\s*\.\s*constructor"
    rb"|require\s*\.\s*cache|\bModule\s*\.\s*_(?:load|resolveFilename|compile)|__proto__"
    rb"|['\"`](?:node:)?(?:vm|inspector|v8|repl|wasi)['\"`]"
    rb"|\bset(?:Timeout|Interval)\s*\(\s*['\"`]"
)


def module_root(specifier: str) -> str:
    """Fold a module specifier to its package/builtin root: ``node:fs/promises`` → ``fs``."""
    spec = specifier.strip()
    if spec.startswith("node:"):
        spec = spec[5:]
    if spec.startswith("@"):
        parts = spec.split("/")
        return "/".join(parts[:2])
    return spec.split("/", 1)[0]
