"""Python code (``python -c``, ``python x.py``, stdin) read with the standard ``ast`` module.

A real grammar, not patterns: comments and strings that merely mention ``os.system`` do nothing,
import aliases (``import subprocess as s``, ``from os import system as run``, ``__import__('os')``)
are followed, and constant expressions are folded — string concatenation, ``''.join``, ``chr()``
sequences, slicing reversals, ``base64.b64decode`` / ``bytes.fromhex`` / ``codecs.decode(.., 'rot13')``
of literals — so the command or code they build is classified too.
"""

from __future__ import annotations

import ast
import base64
import binascii
import codecs
import zlib

from pi_sandbox.mediation.code_facts import DECODED, DYNAMIC, FETCHED, CodeFacts

LANG = "python"

_SHELL_CALLS = frozenset({"os.system", "os.popen", "commands.getoutput", "commands.getstatusoutput",
                          "subprocess.getoutput", "subprocess.getstatusoutput", "pty.spawn", "platform.popen"})
_ARGV_CALLS = frozenset({"subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
                         "subprocess.Popen", "asyncio.create_subprocess_exec", "asyncio.create_subprocess_shell",
                         "os.execv", "os.execve", "os.execvp", "os.execvpe", "os.execl", "os.execle", "os.execlp",
                         "os.execlpe", "os.spawnv", "os.spawnve", "os.spawnvp", "os.spawnl", "os.spawnlp",
                         "os.posix_spawn", "os.posix_spawnp"})
_EXEC_CALLS = frozenset({"exec", "eval", "compile", "builtins.exec", "builtins.eval", "execfile",
                         "runpy.run_path", "code.interact"})
_RECURSIVE_DELETE = frozenset({"shutil.rmtree", "os.removedirs", "distutils.dir_util.remove_tree"})
_DELETE = frozenset({"os.remove", "os.unlink", "os.rmdir", "unlink", "rmdir", "os.truncate"})
_SOCKETS = ("socket.", "telnetlib.", "asyncio.open_connection", "ssl.wrap_socket", "paramiko.")
_FETCH = ("urllib.", "urllib2.", "requests.", "httpx.", "http.client.", "aiohttp.", "urllib3.", "ftplib.")
_DECODERS = frozenset({"base64.b64decode", "base64.standard_b64decode", "base64.urlsafe_b64decode",
                       "base64.b32decode", "base64.b16decode", "base64.b85decode", "base64.a85decode",
                       "base64.decodebytes", "base64.decodestring", "binascii.a2b_base64", "binascii.unhexlify",
                       "binascii.a2b_hex", "bytes.fromhex", "codecs.decode", "zlib.decompress", "gzip.decompress",
                       "bz2.decompress", "lzma.decompress", "marshal.loads", "pickle.loads", "cPickle.loads"})
_OPAQUE_CALLS = frozenset({"ctypes.CDLL", "ctypes.cdll.LoadLibrary", "marshal.loads", "pickle.loads", "cPickle.loads",
                           "types.FunctionType", "types.CodeType"})
_HOME = frozenset({"pathlib.Path.home", "os.path.expanduser", "os.getcwd", "pathlib.Path.cwd"})


def analyse(code: str) -> CodeFacts:
    """Facts about Python source ``code`` (a syntax error makes it opaque, not harmless)."""
    facts = CodeFacts(LANG)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        facts.opaque.append("syntax_error")
        return facts
    _Reader(facts).visit(tree)
    return facts


class _Reader(ast.NodeVisitor):
    def __init__(self, facts: CodeFacts) -> None:
        self.facts = facts
        self.aliases: dict[str, str] = {}
        self.values: dict[str, str] = {}
        self.taints: dict[str, set[str]] = {}
        self.loop = 0

    # ------------------------------------------------------------ names
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(
                ".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                continue
            self.aliases[alias.asname or alias.name] = f"{node.module or ''}.{alias.name}".lstrip(".")

    def qualify(self, node: ast.AST) -> str | None:
        """Dotted name of a callee: aliases resolved, ``__import__('os').system`` is ``os.system``."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualify(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call):
            func = self.qualify(node.func)
            if func in ("__import__", "importlib.import_module") and node.args:
                name, _ = self.value(node.args[0])
                return name
            if func in ("pathlib.Path", "pathlib.PurePath", "Path"):
                return "pathlib.Path()"
            return func
        if isinstance(node, ast.Subscript):
            return self.qualify(node.value)
        return None

    # ------------------------------------------------------------ values
    def value(self, node: ast.AST) -> tuple[str | None, set[str]]:
        """A static string for ``node`` when it can be folded, and its taints."""
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bytes):
                return node.value.decode("utf-8", "replace"), set()
            return (node.value, set()) if isinstance(node.value, str) else (str(node.value), set())
        if isinstance(node, ast.Name):
            if node.id in self.values:
                return self.values[node.id], set(self.taints.get(node.id, ()))
            return None, set(self.taints.get(node.id, {DYNAMIC}))
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Div)):
            left, lt = self.value(node.left)
            right, rt = self.value(node.right)
            if left is not None and right is not None:
                joiner = "/" if isinstance(node.op, ast.Div) else ""
                return left + joiner + right, lt | rt
            return None, lt | rt | {DYNAMIC}
        if isinstance(node, ast.JoinedStr):
            parts: list[str] = []
            taints: set[str] = set()
            for piece in node.values:
                text, t = self.value(piece.value if isinstance(piece, ast.FormattedValue) else piece)
                taints |= t
                if text is None:
                    return None, taints | {DYNAMIC}
                parts.append(text)
            return "".join(parts), taints
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.value(e) for e in node.elts]
            taints = set().union(*(t for _, t in items)) if items else set()
            if all(v is not None for v, _ in items):
                return " ".join(v for v, _ in items if v is not None), taints
            return None, taints | {DYNAMIC}
        if isinstance(node, ast.Subscript):
            inner, taints = self.value(node.value)
            sl = node.slice
            if inner is not None and isinstance(sl, ast.Slice) and sl.lower is None and sl.upper is None:
                try:
                    step = ast.literal_eval(sl.step) if sl.step is not None else None
                except ValueError:
                    step = None
                if step == -1:
                    return inner[::-1], taints
            name = self.qualify(node.value)
            if name in ("os.environ",) and isinstance(sl, ast.Constant) and sl.value == "HOME":
                return "~", set()
            return None, taints | {DYNAMIC}
        if isinstance(node, ast.Call):
            return self.call_value(node)
        if isinstance(node, ast.Attribute):
            return None, set(self.taints.get(self.qualify(node) or "", {DYNAMIC}))
        return None, {DYNAMIC}

    def call_value(self, node: ast.Call) -> tuple[str | None, set[str]]:
        func = self.qualify(node.func) or ""
        args = [self.value(a) for a in node.args]
        first, taints = args[0] if args else (None, set())
        method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        if func in _DECODERS or method in ("b64decode", "decodebytes", "fromhex", "unhexlify", "decompress", "loads"):
            return _decode(func or method, first, args), taints | {DECODED}
        if method in ("decode", "encode", "strip", "lower", "upper", "read", "text", "format") or func in (
                "str", "bytes", "bytearray"):
            inner, t = self.value(node.func.value) if isinstance(node.func, ast.Attribute) else (first, taints)
            return inner if method not in ("read", "text", "format") else None, t | (
                {DYNAMIC} if method in ("read", "text", "format") else set())
        if method == "join" and isinstance(node.func, ast.Attribute) and args:
            sep, _ = self.value(node.func.value)
            if sep is not None and isinstance(node.args[0], (ast.List, ast.Tuple)):
                items = [self.value(e) for e in node.args[0].elts]
                if all(v is not None for v, _ in items):
                    return sep.join(v for v, _ in items if v is not None), set().union(*(t for _, t in items))
            return None, taints | {DYNAMIC}
        if func == "chr" and args and first is not None and first.isdigit():
            return chr(int(first) % 0x110000), set()
        if func in _HOME or func.endswith(".home") or func == "os.path.expanduser":
            if func.endswith("getcwd") or func.endswith(".cwd"):
                return ".", set()
            return (first or "~") if first is None or first.startswith("~") else first, set()
        if func in ("os.getenv", "os.environ.get") and first == "HOME":
            return "~", set()
        if func in ("pathlib.Path", "Path", "pathlib.Path()", "os.path.join", "os.fspath", "os.path.abspath",
                    "os.path.realpath", "pathlib.PurePath"):
            values = [v for v, _ in args]
            if values and all(v is not None for v in values):
                return "/".join(v for v in values if v is not None), set()
            return None, taints | {DYNAMIC}
        if any(func.startswith(p) for p in _FETCH) or method in ("urlopen", "urlretrieve"):
            self.facts.fetch = True
            return None, {FETCHED}
        if func == "open" or method == "open":
            return None, taints | {DYNAMIC}
        return None, taints | {DYNAMIC}

    # ------------------------------------------------------------ statements
    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        text, taints = self.value(node.value)
        for target in node.targets:
            if isinstance(target, ast.Name):
                if text is not None:
                    self.values[target.id] = text
                else:
                    self.values.pop(target.id, None)
                self.taints[target.id] = taints
                callee = self.qualify(node.value.func) if isinstance(node.value, ast.Call) else None
                if callee and callee.startswith(_SOCKETS):
                    self.aliases.setdefault(target.id, "socket.socket()")

    def visit_While(self, node: ast.While) -> None:
        self.loop += 1
        self.generic_visit(node)
        self.loop -= 1

    def visit_For(self, node: ast.For) -> None:
        self.loop += 1
        self.generic_visit(node)
        self.loop -= 1

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            self.facts.strings.append(node.value)

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        facts = self.facts
        func = self.qualify(node.func) or ""
        method = node.func.attr if isinstance(node.func, ast.Attribute) else func
        first = node.args[0] if node.args else None
        if func in _OPAQUE_CALLS or func in ("getattr", "setattr", "globals", "locals", "vars") and _dynamic_name(
                node, self):
            facts.opaque.append(f"dynamic_{func.replace('.', '_')}")
        if func in ("__import__", "importlib.import_module") and first is not None and self.value(first)[0] is None:
            facts.opaque.append("dynamic_import")
        if func in _SHELL_CALLS or (func in _ARGV_CALLS and _shell_true(node)):
            facts.spawn = True
            if first is not None:
                self.command(first, shell=True)
        elif func in _ARGV_CALLS:
            facts.spawn = True
            args = node.args[1:] if func.startswith(("os.exec", "os.spawn", "os.posix")) else node.args
            if func.startswith("os.spawn"):
                args = node.args[2:]
            if args:
                self.command(args[0] if isinstance(args[0], (ast.List, ast.Tuple)) or len(args) == 1
                             else ast.List(elts=list(args)), shell=False)
        elif func in _EXEC_CALLS and first is not None:
            text, taints = self.value(first)
            if text is not None:
                facts.decoded_code.append(text)
            facts.exec_taints |= taints or ({DYNAMIC} if text is None else set())
        if func in _RECURSIVE_DELETE and first is not None:
            facts.deletes.append((self.value(first)[0], True))
        elif func in _DELETE or (func.startswith("pathlib.Path()") and method in ("unlink", "rmdir")):
            target = first if first is not None else (
                node.func.value if isinstance(node.func, ast.Attribute) else None)
            if isinstance(target, ast.Call) and target.args:
                target = target.args[0]
            facts.deletes.append((self.value(target)[0] if target is not None else None, False))
        if func.startswith(_SOCKETS) or func.startswith("socket.socket()"):
            facts.socket = True
        if any(func.startswith(p) for p in _FETCH):
            facts.fetch = True
        if func in ("os.dup2", "os.dup", "pty.spawn") or method == "fileno":
            facts.fd_redirect = True
        if func in ("os.fork", "os.forkpty") and self.loop:
            facts.fork_loop = True
        if func == "open" and first is not None and len(node.args) > 1:
            mode, _ = self.value(node.args[1])
            path, _ = self.value(first)
            if mode and path and any(c in mode for c in "wax+"):
                facts.writes.append(path)

    def command(self, node: ast.AST, *, shell: bool) -> None:
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.value(e) for e in node.elts]
            if items and all(v is not None for v, _ in items):
                argv = [v for v, _ in items if v is not None]
                if shell:
                    self.facts.shell_texts.append(" ".join(argv))
                else:
                    self.facts.argvs.append(argv)
                return
            self.facts.spawn_taints |= set().union(*(t for _, t in items)) if items else {DYNAMIC}
            return
        text, taints = self.value(node)
        if text is not None:
            if shell:
                self.facts.shell_texts.append(text)
            else:
                self.facts.argvs.append([text])
        self.facts.spawn_taints |= taints or ({DYNAMIC} if text is None else set())


def _shell_true(node: ast.Call) -> bool:
    return any(k.arg == "shell" and not (isinstance(k.value, ast.Constant) and not k.value.value)
               for k in node.keywords)


def _dynamic_name(node: ast.Call, reader: _Reader) -> bool:
    """``getattr(os, 'sys' + x)``-style lookups whose name is not a literal."""
    if len(node.args) < 2:
        return bool(node.args) and reader.qualify(node.func) in ("globals", "locals", "vars")
    return reader.value(node.args[1])[0] is None


def _decode(func: str, first: str | None, args: list[tuple[str | None, set[str]]]) -> str | None:
    if first is None:
        return None
    raw = first.encode("latin-1", "replace")
    try:
        if "b64decode" in func or "decodebytes" in func or "a2b_base64" in func or "decodestring" in func:
            data = first.strip()
            data += "=" * (-len(data) % 4)
            altchars = data.replace("-", "+").replace("_", "/")
            return base64.b64decode(altchars).decode("utf-8", "replace")
        if "b32decode" in func:
            return base64.b32decode(first).decode("utf-8", "replace")
        if "fromhex" in func or "unhexlify" in func or "a2b_hex" in func or "b16decode" in func:
            return bytes.fromhex(first).decode("utf-8", "replace")
        if func.endswith("codecs.decode") or func == "decode":
            encoding = args[1][0] if len(args) > 1 else None
            if encoding and encoding.replace("_", "").lower() in ("rot13", "rot13"):
                return codecs.decode(first, "rot13")
            return None
        if "decompress" in func:
            return zlib.decompress(raw).decode("utf-8", "replace")
    except (ValueError, binascii.Error, zlib.error, LookupError):
        return None
    return None
