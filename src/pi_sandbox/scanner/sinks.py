"""Sink rules: what a call or a ``new`` means for the verdict, judged by what reaches it.

Code-from-string sinks (``eval``, ``Function``, string timers, ``Worker`` with ``eval: true``) are judged by
the origin of the code: decoded or hidden text, or text that comes from input (network, files, env), is
the dropper pattern; constant code is scanned as code itself and its own findings are reported at the
sink. In a dependency (``node_modules`` or a bundled ``node_modules`` region) code that the library
generated itself (schema compilers, templating) is ``LIBRARY_CODEGEN``, flagged. Other sinks: ``.call`` /
``.apply`` / ``Reflect`` indirection, prototype pollution and built-in tampering through
``Object.defineProperty`` and friends, enumeration of the global object, ``createRequire``.
"""

from __future__ import annotations

import re
from typing import Final

from tree_sitter import Node

from pi_sandbox.scanner import values as v
from pi_sandbox.scanner.fold import node_text
from pi_sandbox.scanner.loading import ModuleRules
from pi_sandbox.scanner.members import member
from pi_sandbox.scanner.model import Finding
from pi_sandbox.scanner.rules import (
    BUILTIN_CONSTRUCTORS,
    FORBIDDEN,
    GLOBAL_OBJECT_NAMES,
    STRING_TIMERS,
    TAMPER_GLOBALS,
    TAMPER_OBJECTS,
    TAMPER_PROCESS_MEMBERS,
)
from pi_sandbox.scanner.values import Val

#: Objects whose computed members are worth a finding (a computed key can spell anything on them).
COMPUTED_HOLDERS: Final = GLOBAL_OBJECT_NAMES | {"globalThis", "process", "require", "module", "Module",
                                                 "Reflect", "Function"}
#: Exact constant ``Function(...)`` argument lists emitted by common bundler runtimes and compilers
#: (besides ``Function('return this')``): constant, inspected code that only sets a global or imports.
BUNDLER_FUNCTION_IDIOMS: Final = frozenset(
    {("r", "regeneratorRuntime = r"), ("",), ("specifier", "return import(specifier)"),
     ("s", "return import(s)"), ("x", "return import(x)"), ("m", "return import(m)")}
)
#: Calls whose result can be a reference worth climbing on with (decoders yield strings: those are
#: evaluated where they are used as keys or specifiers, not climbed).
VALUE_CALLS: Final = frozenset(
    {"Object.getPrototypeOf", "Reflect.getPrototypeOf", "Reflect.get", "Object.getOwnPropertyDescriptor",
     "Reflect.getOwnPropertyDescriptor"}
)
ENUMERATING_CALLS: Final = frozenset(
    {"Object.keys", "Object.values", "Object.entries", "Object.getOwnPropertyNames",
     "Object.getOwnPropertyDescriptors", "Reflect.ownKeys"}
)
#: Calls that load a module by name (``process.getBuiltinModule`` loads any Node builtin, Node >= 22.3).
REQUIRE_PATHS: Final = frozenset({"require", "__non_webpack_require__", "process.getBuiltinModule"})
POLLUTING_CALLS: Final = frozenset(
    {"Object.defineProperty", "Object.defineProperties", "Object.assign", "Object.setPrototypeOf",
     "Reflect.set", "Reflect.defineProperty", "Reflect.setPrototypeOf", "Object.prototype.__defineGetter__",
     "Object.prototype.__defineSetter__"}
)
#: Where code handed to a code-from-string sink came from.
CONSTANT: Final = "constant"
OWN_FILE: Final = "own_file"
GENERATED: Final = "generated"
HIDDEN: Final = "hidden"
EXTERNAL: Final = "external"
#: Text around a code sink's argument that shows it carries input or decoded data, not generated code.
_EXTERNAL_SOURCES = re.compile(
    r"\b(?:fetch|readFileSync|readFile|createReadStream|XMLHttpRequest|axios|got|https?\.get|request|stdin|argv"
    r"|process\.env|execSync|spawnSync|atob|fromCharCode|fromCodePoint|Buffer\.from|decodeURIComponent|unescape"
    r"|responseText|getItem|WebSocket)\b|\.(?:text|json|arrayBuffer)\(\)"
)
#: Bundled-module markers: esbuild's ``// node_modules/pkg/file.js`` and webpack's ``!*** ./node_modules/...``.
_BUNDLE_MARKER = re.compile(
    rb"^[ \t]*//[ \t]+((?:[\w@.+-]+/)*[\w@.+-]+\.[cm]?[jt]sx?)[ \t]*$|!\*{3} \./((?:[\w@.+-]+/)+[\w@.+-]+) \*{3}!",
    re.MULTILINE,
)
MAX_SOURCE_TEXT: Final = 8192


class SinkRules(ModuleRules):
    """The rules that fire where values are called or constructed."""

    dependency = False  # set by the analyzer: the file sits under node_modules

    def scan_code_text(self, code: str) -> list[Finding]:
        """Findings of ``code`` scanned as a module of its own (implemented by the analyzer)."""
        raise NotImplementedError

    # --- calls -----------------------------------------------------------------------------

    def on_call(self, call: Node, val: Val, args: list[Node]) -> Val | None:  # noqa: C901 - one branch per sink
        """Rules on a call of ``val``; returns the call's value when it is worth following."""
        if val.kind == v.COMPUTED:
            if val.path in COMPUTED_HOLDERS:
                self.add("COMPUTED_GLOBAL_CALL", call, val.path, val)
            return None
        if val.kind == v.FUNC:
            return v.ref("globalThis") if val.path == "return-this" else None
        if val.kind != v.REF:
            return None
        path = val.path
        if path in ("eval", "execScript"):
            self.code_sink("EVAL", call, args, val)
            return None
        if path == "Function":
            return self.function_constructor(call, args, val)
        if path in STRING_TIMERS:
            self.check_timer(call, args)
            return None
        if path in REQUIRE_PATHS:
            return self.on_specifier(call, args[0] if args else None, "DYNAMIC_REQUIRE")
        if path == "Reflect.apply" and args:
            target = self.resolver.evaluate(args[0])
            rest = args[2].named_children if len(args) > 2 and args[2].type == "array" else []
            return self.on_call(call, target, list(rest))
        if path == "Reflect.construct" and args:
            target = self.resolver.evaluate(args[0])
            rest = args[1].named_children if len(args) > 1 and args[1].type == "array" else []
            self.on_new(call, target, list(rest))
            return None
        if path.endswith((".call", ".apply")) and not path.startswith("?"):
            base, _, how = path.rpartition(".")
            if how == "call":
                shifted = args[1:]
            else:
                shifted = args[1].named_children if len(args) > 1 and args[1].type == "array" else []
            if base in ("eval", "Function", "execScript") or base in STRING_TIMERS or base in REQUIRE_PATHS:
                if not shifted and base in ("Function",) and how == "apply":
                    self.add("FUNCTION_CONSTRUCTOR", call, "Function.apply", val)
                    return None
                return self.on_call(call, v.ref(base, obfuscated=val.obfuscated), list(shifted))
            return None
        if path.endswith(("__defineGetter__", "__defineSetter__")) and is_builtin_prototype(path):
            self.add("PROTOTYPE_POLLUTION", call, path, val)
            return None
        if path in POLLUTING_CALLS and args:
            self.check_redefinition(call, path, args)
            return None
        if path in ENUMERATING_CALLS and args:
            target = self.resolver.evaluate(args[0])
            if target.kind == v.REF and target.path in COMPUTED_HOLDERS:
                # Walking the global object's keys is how `eval` is found without naming it.
                self.add("COMPUTED_GLOBAL", call, f"{path}({target.path})")
                self.enumerated_globals.append(call)
                return self.resolver.call_result(val, [target])
            return None
        if path in ("Module.createRequire", "Module.createRequireFromPath"):
            self.check_create_require(call, args)
            return v.ref("require")
        if path in VALUE_CALLS or path.endswith(".bind"):  # only these calls yield a value worth following
            return self.resolver.call_result(val, [self.resolver.evaluate(a) for a in args])
        return None

    def on_new(self, node: Node, val: Val, args: list[Node]) -> Val | None:
        """Rules on ``new val(...)``; returns the constructed value when worth following."""
        if val.kind == v.COMPUTED and val.path in COMPUTED_HOLDERS:
            self.add("COMPUTED_GLOBAL_CALL", node, val.path, val)
        elif val.kind == v.REF and val.path == "Function":
            return self.function_constructor(node, args, val)
        elif val.kind == v.REF and val.path in ("mod:worker_threads.Worker", "Worker") and args:
            self.check_worker(node, args)
        return None

    # --- code from strings -----------------------------------------------------------------

    def function_constructor(self, node: Node, args: list[Node], callee: Val | None = None) -> Val:
        """``Function(...)`` / ``new Function(...)``: judged by its code, except the constant idioms."""
        values = [self.resolver.evaluate(a) for a in args]
        if len(values) == 1 and values[0].kind == v.STR and \
                values[0].text.strip().rstrip(";").strip() == "return this" and not values[0].decoded:
            self.add("FUNCTION_GLOBAL_IDIOM", node)
            return v.Val(v.FUNC, path="return-this")
        texts = tuple(" ".join(x.text.split()).rstrip(";") for x in values if x.kind == v.STR and not x.decoded)
        if len(texts) == len(values) and texts in BUNDLER_FUNCTION_IDIOMS:
            self.add("FUNCTION_GLOBAL_IDIOM", node, "constant bundler/compiler idiom")
            return v.FUNCTION_VALUE
        self.code_sink("FUNCTION_CONSTRUCTOR", node, args, callee, values)
        return v.FUNCTION_VALUE

    def check_timer(self, call: Node, args: list[Node]) -> None:
        """``setTimeout("code")``: a string (or anything folding to one) as the callback."""
        if not args:
            return
        first = args[0]
        value = self.resolver.evaluate(first)
        stringish = value.kind == v.STR or first.type in ("string", "template_string")
        if not stringish and first.type == "binary_expression":
            operator = first.child_by_field_name("operator")
            stringish = operator is not None and node_text(operator) == "+" and (
                "'" in node_text(first) or '"' in node_text(first) or "`" in node_text(first))
        if stringish:
            self.code_sink("STRING_TIMER", call, args[:1], None, [value])

    def check_worker(self, node: Node, args: list[Node]) -> None:
        """``new Worker(code, { eval: true })`` compiles a string; a ``data:`` URL worker is code from a URL."""
        options = self.resolver.evaluate(args[1]) if len(args) > 1 else v.UNKNOWN
        flag = member(options, v.string("eval")) if options.kind == v.OBJ else v.UNKNOWN
        if flag.truthy or (len(args) > 1 and re.search(r"\beval\s*:\s*(?!false)", node_text(args[1]))):
            self.code_sink("WORKER_EVAL", node, args[:1])
            return
        script = self.resolver.evaluate(args[0])
        if script.kind == v.STR and script.text.startswith(("data:", "blob:", "http:", "https:")):
            self.add("CODE_FROM_URL", node, script.text[:40], script)

    def code_sink(self, rule_id: str, node: Node, args: list[Node], callee: Val | None = None,
                  values: list[Val] | None = None) -> None:
        """A code-from-string sink, judged by where its code comes from (see the module docstring)."""
        values = values if values is not None else [self.resolver.evaluate(a) for a in args]
        origin = self.code_origin(args, values)
        inner = self.scan_code_text("\n".join(x.text for x in values if x.kind == v.STR)) \
            if origin == CONSTANT else []
        inner_forbidden = [f for f in inner if f.cls == FORBIDDEN]
        shown = next((x for x in values if x.via), callee)
        if origin in (CONSTANT, GENERATED) and not inner_forbidden and self.in_dependency(node):
            self.add("LIBRARY_CODEGEN", node, f"{origin} code", shown)
            return
        if origin == OWN_FILE:
            own = self.own_file_read(args[-1:]) or ""
            target = own if own.startswith(("./", "../")) else "./" + own
            self.relative_imports.append(target)  # scanned as code when it is not a JS file already
            self.add("CODE_FROM_OWN_FILE", node, target)
            return
        detail = {CONSTANT: "constant code", GENERATED: "code built at run time", HIDDEN: "decoded/hidden code",
                  EXTERNAL: "code read from input (network, file, environment)"}[origin]
        self.add(rule_id, node, detail, shown if shown is not None else (values[0] if values else None))
        if origin == HIDDEN and any(x.decoded for x in values):
            self.add("DECODED_PAYLOAD", node, "", next(x for x in values if x.decoded))
        for finding in inner_forbidden:
            self.add(finding.rule_id, node, f"inside the code string compiled here ({finding.excerpt[:60]})")

    def code_origin(self, args: list[Node], values: list[Val]) -> str:
        """Where a code sink's argument comes from: constant, generated, hidden (decoded) or external input."""
        if any(x.decoded for x in values):
            return HIDDEN
        if values and all(x.kind == v.STR for x in values):
            return CONSTANT
        if self.own_file_read(args[-1:]) is not None:
            return OWN_FILE
        if _EXTERNAL_SOURCES.search(self.source_text(args)):
            return EXTERNAL
        return GENERATED

    def own_file_read(self, args: list[Node]) -> str | None:
        """``readFileSync(join(__dirname, 'build', 'x.js'))`` bound to the code argument: the extension's own
        file (a relative path that stays inside the extension), else None."""
        for arg in args:
            if arg.type != "identifier":
                continue
            for definition in self.resolver.definitions(node_text(arg))[:4]:
                parent = definition.parent
                value = parent.child_by_field_name("value") if parent is not None else None
                while value is not None and value.type == "await_expression" and value.named_children:
                    value = value.named_children[0]
                if value is None or value.type != "call_expression":
                    continue
                callee = value.child_by_field_name("function")
                if callee is None or node_text(callee).rsplit(".", 1)[-1] not in ("readFileSync", "readFile"):
                    continue
                read_args = self.resolver.call_arguments(value)
                path = self.resolver.evaluate(read_args[0]) if read_args else v.UNKNOWN
                if path.kind == v.STR and not path.text.startswith(("/", "~", "file:")) and \
                        not self.escapes_root(path.text):
                    return path.text
        return None

    def source_text(self, nodes: list[Node]) -> str:
        """The text of ``nodes`` plus, one level deep, the definitions of the names they use."""
        parts = [node_text(n) for n in nodes]
        names = set(re.findall(r"[A-Za-z_$][\w$]*", " ".join(parts)))
        for name in sorted(names)[:32]:
            for definition in self.resolver.definitions(name)[:4]:
                parent = definition.parent
                value = parent.child_by_field_name("value") or parent.child_by_field_name("right") \
                    if parent is not None else None
                if value is not None:
                    parts.append(node_text(value)[:1024])
        return " ".join(parts)[:MAX_SOURCE_TEXT]

    def in_dependency(self, node: Node) -> bool:
        """Whether ``node`` is library code: the file sits under node_modules, or a bundled region does."""
        if self.dependency:
            return True
        marker = None
        for match in _BUNDLE_MARKER.finditer(self.source, 0, node.start_byte):
            marker = match.group(1) or match.group(2)
        return marker is not None and b"node_modules/" in marker

    # --- built-ins and prototypes ----------------------------------------------------------

    def check_redefinition(self, call: Node, path: str, args: list[Node]) -> None:
        """``Object.defineProperty(target, key, …)`` and friends: pollution or tampering by target."""
        target = self.resolver.evaluate(args[0])
        if target.kind != v.REF:
            return
        if (is_builtin_prototype(target.path) and target.path.endswith(".prototype")) or \
                target.path in ("?proto", "?ctor.prototype"):  # `Object.assign(({}).__proto__, input)`
            self.add("PROTOTYPE_POLLUTION", call, f"{path} on {target.path}", target)
            return
        if path in ("Object.assign", "Object.defineProperties"):
            keys = _object_keys(self.resolver.evaluate(args[1])) if len(args) > 1 else []
        elif len(args) > 1:
            named = self.resolver.evaluate(args[1])
            keys = [named.text] if named.kind == v.STR else [""]
        else:
            keys = [""]
        if path in ("Object.setPrototypeOf", "Reflect.setPrototypeOf"):
            keys = ["__proto__"]
        for key in keys or [""]:
            written = member(target, v.string(key)) if key else target
            if written.kind == v.REF and tampers(written.path, target.path):
                self.add("BUILTIN_TAMPERING", call, f"{path} on {written.path}", written)
                return

    def check_tampering(self, node: Node, val: Val, polyfill: bool) -> bool:
        """An assignment to ``val``: a built-in the sandbox relies on is tampering (a guarded polyfill is
        flagged). Returns whether it was one."""
        if val.kind != v.REF or not tampers(val.path, val.path.rsplit(".", 1)[0]):
            return False
        # a new well-known symbol (`Symbol.observable = Symbol('observable')`) only ever adds one
        polyfill = polyfill or val.path.startswith("Symbol.")
        self.add("BUILTIN_POLYFILL" if polyfill else "BUILTIN_TAMPERING", node, val.path, val)
        return True


def tampers(path: str, holder: str) -> bool:
    """Whether writing ``path`` replaces a built-in the sandbox's modules use."""
    head, _, rest = path.partition(".")
    if not rest:
        return path in TAMPER_GLOBALS or (holder in GLOBAL_OBJECT_NAMES and path in BUILTIN_CONSTRUCTORS)
    if head == "process":
        return rest in TAMPER_PROCESS_MEMBERS or holder == "process" and rest == "__proto__"
    if head in GLOBAL_OBJECT_NAMES:
        return rest == "__proto__"
    return (head in TAMPER_OBJECTS or head == "Symbol") and "." not in rest and rest != "prototype"


def is_builtin_prototype(path: str) -> bool:
    """Whether ``path`` is a built-in prototype (``Object.prototype``) or a member of one."""
    head, _, rest = path.partition(".")
    return head in BUILTIN_CONSTRUCTORS and (rest == "prototype" or rest.startswith("prototype."))


def _object_keys(obj: Val) -> list[str]:
    return [p.text for p in obj.items] if obj.kind == v.OBJ else [""]
