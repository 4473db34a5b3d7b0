"""INC-4 (scanner bypass) regression test: the runbook's evasion list, end to end through the install gate.

Runbook INC-4 step 4 lists the evasions to check (dynamic requires, string concatenation, encoded payloads,
unicode escapes, prototype pollution) and its remediation says to add a regression test for every new
bypass. This is that test: each case is a whole extension folder that ``pi-sandbox ext preflight`` must
refuse (forbidden findings → ``blocked``) or, for capability-only cases, let through with the implied
capability pinned. When an incident finds a new evasion, add its technique here (in a spelling of its own,
not the incident's sample) and to ``tests/scanner/techniques.py``; ``docs/scanner.md`` says so too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pi_sandbox.config import resolve_config
from pi_sandbox.scanner import install as installer
from tests.conftest import PiEnv

#: (name, files, decision, capability that must be pinned or named by a finding)
CASES: list[tuple[str, dict[str, str], str, str]] = [
    ("dynamic-require-concat", {"index.js": "const m = 'child' + '_process';\nrequire(m).exec('id');\n"},
     installer.BLOCKED, "exec"),
    ("dynamic-require-param", {"index.js": "function get(n) { return require(n); }\nget(process.argv[2]);\n"},
     installer.READY, "exec"),
    ("string-concat-eval", {"index.js": "eval('rm' + ' -rf ' + target);\n"}, installer.BLOCKED, "exec"),
    ("base64-payload", {"index.ts": "const p = Buffer.from('cHJvY2Vzcy5leGl0KCk=', 'base64').toString();\n"
                                    "new Function(p)();\n"}, installer.BLOCKED, "exec"),
    ("unicode-escape", {"index.js": "\\u0065\\u0076\\u0061\\u006c(code);\n"}, installer.BLOCKED, "exec"),
    ("hex-escaped-member", {"index.js": "process['\\x62inding']('fs');\n"}, installer.BLOCKED, "exec"),
    ("prototype-pollution", {"index.js": "const o = JSON.parse(body);\nObject.assign(({}).__proto__, o);\n"},
     installer.BLOCKED, ""),
    ("cross-module-name", {"names.js": "export const k = ['ev', 'al'].join('');\n",
                           "index.js": "import { k } from './names.js';\nglobalThis[k](payload);\n"},
     installer.BLOCKED, "exec"),
    ("payload-in-dependency", {"index.js": "require('left-pad')('x', 3);\n",
                               "node_modules/left-pad/index.js":
                                   "module.exports = (s, n) => { eval(atob(process.env.P || '')); "
                                   "return s.padStart(n); };\n"}, installer.BLOCKED, "exec"),
    ("child-process-plain", {"index.ts": "import { execFile } from 'node:child_process';\n"
                                         "export default () => execFile('git', ['status']);\n"},
     installer.READY, "exec"),
]


@pytest.mark.parametrize(("name", "files", "decision", "capability"), CASES, ids=[c[0] for c in CASES])
def test_runbook_evasion_is_caught_at_install(pi_env: PiEnv, tmp_path: Path, name: str, files: dict[str, str],
                                              decision: str, capability: str) -> None:
    ext = tmp_path / name
    for rel, text in files.items():
        (ext / rel).parent.mkdir(parents=True, exist_ok=True)
        (ext / rel).write_text(text)
    (ext / "package.json").write_text(json.dumps({"name": name}))
    check = installer.preflight(ext, resolve_config())
    assert check.decision == decision, [(f.rule_id, f.file, f.explanation) for f in check.report.findings]
    if capability:
        assert capability in check.report.capabilities
    if decision == installer.BLOCKED:
        assert "scan_forbidden" in check.reason_codes
