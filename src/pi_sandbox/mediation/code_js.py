"""JavaScript code (``node -e/-p``, ``deno eval``, ``bun -e``, scripts) read with tree-sitter-javascript.

The grammar is already a dependency (the install-time scanner uses it). One compiled query hands
back the calls, ``new`` expressions, declarations and strings; callees are resolved through
``require`` / ``import`` aliases and destructuring, and literal arguments are folded (concatenation,
``Buffer.from(.., 'base64')``, ``atob``, ``String.fromCharCode``, ``os.homedir()``).
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import cache

import tree_sitter
import tree_sitter_javascript

from pi_sandbox.mediation.code_facts import DECODED, DYNAMIC, FETCHED, CodeFacts
from pi_sandbox.mediation.shell_static import decode_ansi_c

LANG = "javascript"

_QUERY = """
(call_expression) @call
(new_expression) @call
(variable_declarator name: (identifier) @name value: (_) @value)
(string) @string
(template_string) @string
(ERROR) @error
(MISSING) @error
"""
_SHELL_FNS = frozenset({"exec", "execSync"})
_ARGV_FNS = frozenset({"spawn", "spawnSync", "execFile", "execFileSync", "fork"})
_DISTINCT_SPAWN = frozenset({"execSync", "spawnSync", "execFileSync", "spawn", "execFile"})
_RM_FNS = frozenset({"rmSync", "rm", "rmdirSync", "rmdir"})
_ALWAYS_RECURSIVE = frozenset({"rimraf", "removeSync", "remove", "emptyDirSync", "emptyDir", "sync"})
_UNLINK_FNS = frozenset({"unlinkSync", "unlink"})
_SOCKET_FNS = frozenset({"net.Socket", "net.connect", "net.createConnection", "tls.connect", "dgram.createSocket",
                         "WebSocket", "Deno.connect", "Deno.connectTls", "Bun.connect", "Bun.listen"})
_FETCH_FNS = frozenset({"fetch", "http.get", "http.request", "https.get", "https.request", "axios", "axios.get",
                        "got", "undici.request", "XMLHttpRequest"})
_EVAL_FNS = frozenset({"eval", "Function", "vm.runInThisContext", "vm.runInNewContext", "vm.runInContext",
                       "vm.Script", "vm.compileFunction", "setTimeout", "setInterval", "globalThis.eval",
                       "window.eval", "global.eval"})
_REQUIRE = re.compile(r"""\(?\s*(?:await\s+)?(?:require|import)\s*\(\s*(['"`])(?:node:)?([\w./@-]+)\1\s*\)\s*\)?""")
_ALIAS = re.compile(
    r"""(?:const|let|var)\s+(\w+)\s*=\s*(?:await\s+)?(?:require|import)\s*\(\s*['"`](?:node:)?([\w./@-]+)""")
_DESTRUCT = re.compile(
    r"""(?:const|let|var)\s*\{([^}]*)\}\s*=\s*(?:await\s+)?(?:require|import)\s*\(\s*['"`](?:node:)?([\w./@-]+)""")
_IMPORT = re.compile(r"""import\s+(?:\*\s+as\s+)?(\w+)?\s*,?\s*(?:\{([^}]*)\})?\s*from\s*['"](?:node:)?([\w./@-]+)""")
_DYNAMIC_REQUIRE = re.compile(r"""\brequire\s*\(\s*(?!['"`][^'"`$]*['"`]\s*\))""")


@cache
def _query() -> tree_sitter.Query:
    return tree_sitter.Query(_language(), _QUERY)


@cache
def _language() -> tree_sitter.Language:
    return tree_sitter.Language(tree_sitter_javascript.language())


@cache
def _parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(_language())


def analyse(code: str) -> CodeFacts:
    """Facts about JavaScript source ``code``."""
    facts = CodeFacts(LANG)
    source = code.encode("utf-8", "surrogatepass")
    tree = _parser().parse(source)
    captures = tree_sitter.QueryCursor(_query()).captures(tree.root_node)
    if captures.get("error"):
        facts.opaque.append("syntax_error")
    reader = _Reader(facts, _aliases(code))
    for name, value in zip(captures.get("name", []), captures.get("value", []), strict=False):
        text, taints = reader.value(value)
        ident = _text(name)
        if text is not None:
            reader.values[ident] = text
        reader.taints[ident] = taints
    for node in captures.get("string", []):
        text, _ = reader.value(node)
        if text is not None:
            facts.strings.append(text)
    for node in sorted(captures.get("call", []), key=lambda n: n.start_byte):
        reader.call(node)
    if re.search(r"[(,]\s*(?:eval|Function)\s*[),]", code):  # eval handed over as a callback
        facts.exec_taints.add(FETCHED if facts.fetch else DYNAMIC)
    if _DYNAMIC_REQUIRE.search(code):
        facts.opaque.append("dynamic_require")
    if re.search(r"process\s*\.\s*(?:binding|_linkedBinding|dlopen)|(?:globalThis|global|window)\s*\[", code):
        facts.opaque.append("native_or_computed_global")
    return facts


def _aliases(code: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for match in _ALIAS.finditer(code):
        out[match.group(1)] = match.group(2)
    for match in _DESTRUCT.finditer(code):
        for part in match.group(1).split(","):
            src, _, local = part.partition(":")
            src, local = src.strip(), (local.strip() or src.strip())
            if src:
                out[local] = f"{match.group(2)}.{src}"
    for match in _IMPORT.finditer(code):
        default, names, module = match.groups()
        if default:
            out[default] = module
        for part in (names or "").split(","):
            src, _, local = part.partition(" as ")
            if src.strip():
                out[(local or src).strip()] = f"{module}.{src.strip()}"
    return out


def _text(node: tree_sitter.Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


class _Reader:
    def __init__(self, facts: CodeFacts, aliases: dict[str, str]) -> None:
        self.facts = facts
        self.aliases = aliases
        self.values: dict[str, str] = {}
        self.taints: dict[str, set[str]] = {}

    def qualify(self, node: tree_sitter.Node | None) -> str:
        if node is None:
            return ""
        text = _REQUIRE.sub(lambda m: m.group(2), re.sub(r"\s+", "", _text(node)))
        text = text.replace("?.", ".").replace("fs/promises", "fs").replace("fs.promises", "fs")
        text = re.sub(r"\[(['\"])(\w+)\1\]", r".\2", text)
        head, dot, rest = text.partition(".")
        head = self.aliases.get(head, head)
        return head + dot + rest

    def value(self, node: tree_sitter.Node | None) -> tuple[str | None, set[str]]:
        if node is None:
            return None, {DYNAMIC}
        kind = node.type
        if kind == "string":
            return decode_ansi_c(_text(node)[1:-1]), set()
        if kind == "template_string":
            if any(c.type == "template_substitution" for c in node.children):
                return None, {DYNAMIC}
            return decode_ansi_c(_text(node)[1:-1]), set()
        if kind in ("number",):
            return _text(node), set()
        if kind == "parenthesized_expression" and node.named_child_count == 1:
            return self.value(node.named_children[0])
        if kind == "identifier":
            name = _text(node)
            if name in self.values:
                return self.values[name], set(self.taints.get(name, ()))
            return None, set(self.taints.get(name, {DYNAMIC}))
        if kind == "binary_expression" and node.child_by_field_name("operator") is not None and _text(
                node.child_by_field_name("operator")) == "+":  # type: ignore[arg-type]
            left, lt = self.value(node.child_by_field_name("left"))
            right, rt = self.value(node.child_by_field_name("right"))
            if left is not None and right is not None:
                return left + right, lt | rt
            return None, lt | rt | {DYNAMIC}
        if kind == "member_expression":
            name = self.qualify(node)
            if name in ("process.env.HOME", "process.env.USERPROFILE"):
                return "~", set()
            return None, {DYNAMIC}
        if kind == "call_expression":
            return self.call_value(node)
        return None, {DYNAMIC}

    def call_value(self, node: tree_sitter.Node) -> tuple[str | None, set[str]]:
        fn = node.child_by_field_name("function")
        args = [a for a in (node.child_by_field_name("arguments") or node).named_children if a.type != "comment"]
        name = self.qualify(fn)
        last = name.rsplit(".", 1)[-1]
        first, taints = self.value(args[0]) if args else (None, set())
        if name in ("os.homedir",) or name.endswith("homedir"):
            return "~", set()
        if name in ("process.cwd", "Deno.cwd"):
            return ".", set()
        if name in ("atob", "Buffer.from", "Buffer.from.toString") or last in ("from", "atob"):
            encoding = self.value(args[1])[0] if len(args) > 1 else None
            if last == "atob" or encoding in ("base64", "base64url"):
                return _b64(first), taints | {DECODED}
            if encoding == "hex" and first is not None:
                try:
                    return bytes.fromhex(first).decode("utf-8", "replace"), taints | {DECODED}
                except ValueError:
                    return None, taints | {DECODED}
            return first, taints
        if name in ("path.join", "path.resolve", "path.posix.join"):
            parts = [self.value(a)[0] for a in args]
            if parts and all(p is not None for p in parts):
                return "/".join(p for p in parts if p is not None), set()
            return None, taints | {DYNAMIC}
        if last in ("toString", "trim") and fn is not None and fn.type == "member_expression":
            inner, t = self.value(fn.child_by_field_name("object"))
            return inner, t
        if name == "String.fromCharCode":
            codes = [self.value(a)[0] for a in args]
            if all(c is not None and c.isdigit() for c in codes):
                return "".join(chr(int(c)) for c in codes if c is not None), {DECODED}
            return None, {DECODED, DYNAMIC}
        if name in _FETCH_FNS or last in ("text", "json", "arrayBuffer") and "fetch" in _text(node):
            self.facts.fetch = True
            return None, {FETCHED}
        return None, taints | {DYNAMIC}

    def call(self, node: tree_sitter.Node) -> None:
        facts = self.facts
        fn = node.child_by_field_name("function") or node.child_by_field_name("constructor")
        name = self.qualify(fn)
        last = name.rsplit(".", 1)[-1]
        module = name.rsplit(".", 1)[0] if "." in name else ""
        arg_node = node.child_by_field_name("arguments")
        args = [a for a in (arg_node.named_children if arg_node is not None else []) if a.type != "comment"]
        if arg_node is not None and arg_node.type == "template_string":  # tagged template: $`cmd` (zx, Bun)
            if last in ("$", "sh", "exec"):
                self.command([arg_node], shell=True)
            return
        # exec() is too common a method name to count without the module; the others are distinctive
        spawner = module.endswith("child_process") or last in _DISTINCT_SPAWN
        if last == "doShellScript":  # JXA (osascript -l JavaScript)
            self.command(args[:1], shell=True)
        if spawner and last in _SHELL_FNS:
            self.command(args[:1], shell=True)
        elif spawner and last in _ARGV_FNS:
            options = _text(args[2]) if len(args) > 2 else (_text(args[1]) if len(args) > 1 else "")
            self.command(args[:2], shell=bool(re.search(r"shell\s*:\s*(?!false)", options)))
        elif name in ("Bun.spawn", "Bun.spawnSync", "Deno.run", "Deno.Command"):
            facts.spawn = True
            self.command(args[:1], shell=False)
        if name in _EVAL_FNS and args and (last not in ("setTimeout", "setInterval") or args[0].type != "arrow_function"
                                            and args[0].type != "function_expression" and args[0].type != "identifier"):
            text, taints = self.value(args[-1] if last == "Function" else args[0])
            if text is not None:
                facts.decoded_code.append(text)
            facts.exec_taints |= taints or ({DYNAMIC} if text is None else set())
        if module.endswith("fs") or module.endswith("fs-extra") or name in _ALWAYS_RECURSIVE or module in (
                "Deno", "rimraf", "fse"):
            options = " ".join(_text(a) for a in args[1:])
            target = self.value(args[0])[0] if args else None
            if last in _RM_FNS or name == "Deno.remove":
                facts.deletes.append((target, bool(re.search(r"recursive\s*:\s*(?!false)", options))))
            elif last in _ALWAYS_RECURSIVE and (module.endswith("fs-extra") or module in ("rimraf", "fse", "")):
                facts.deletes.append((target, True))
            elif last in _UNLINK_FNS:
                facts.deletes.append((target, False))
            elif last in ("writeFileSync", "writeFile", "appendFileSync", "appendFile") and target is not None:
                facts.writes.append(target)
        if name in _SOCKET_FNS or module in ("net", "tls", "dgram") and last in ("connect", "createConnection"):
            facts.socket = True
        if name in _FETCH_FNS:
            facts.fetch = True
        if last == "pipe" or last in ("dup2",):
            facts.fd_redirect = True

    def command(self, nodes: list[tree_sitter.Node], *, shell: bool) -> None:
        facts = self.facts
        facts.spawn = True
        if not nodes:
            return
        head, taints = self.value(nodes[0])
        argv: list[str] | None = [head] if head is not None else None
        if len(nodes) > 1 and nodes[1].type == "array":
            for item in nodes[1].named_children:
                text, t = self.value(item)
                taints |= t
                if text is None or argv is None:
                    argv = None
                    continue
                argv.append(text)
        elif head is None and nodes[0].type == "array":
            items = [self.value(i) for i in nodes[0].named_children]
            if items and all(v is not None for v, _ in items):
                argv = [v for v, _ in items if v is not None]
                taints = set()
        if argv is None:
            facts.spawn_taints |= taints or {DYNAMIC}
        elif shell:
            facts.shell_texts.append(" ".join(argv))
        else:
            facts.argvs.append(argv)
        facts.spawn_taints |= taints - {DYNAMIC}


def _b64(text: str | None) -> str | None:
    if text is None:
        return None
    data = text.strip()
    data += "=" * (-len(data) % 4)
    try:
        return base64.b64decode(data.replace("-", "+").replace("_", "/")).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None
