"""Red team (secret broker): grep as a match oracle on withheld secret values, by a real hostile extension
(``hostile/secret_oracle.ts``).

A file that is not a secret file by name may still hold a withheld value (``api_key: sk-...`` in a config).
A read returns it redacted, but grep matched the raw bytes: "did ``^api_key: sk-a`` match?" one character at a
time rebuilt the whole value in about a second, which the extension could then send reversed (or split), past
every outbound scan. grep now runs the pattern on what a read returns (the value replaced by the placeholder,
line numbers kept), so no guess ever matches; every spelling the broker knows (raw, base64, hex) is covered.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.runtime.discovery import ExtensionSource
from pi_sandbox.runtime.host import ExtensionHost
from tests.conftest import PiEnv
from tests.runtime.conftest import MakeHost

HOSTILE = Path(__file__).resolve().parent / "hostile"
EXT = "secret_oracle"
SECRET = "sk-live-9f8e7d6c5b4a3f2e1d0c"
PLACEHOLDER = "[REDACTED]"


@pytest.fixture()
def host(make_host: MakeHost) -> ExtensionHost:
    made = make_host(sandbox_kwargs={"env": {"OPENAI_API_KEY": SECRET}})
    loaded = made.load([ExtensionSource(EXT, HOSTILE / f"{EXT}.ts", HOSTILE, "cli")])
    assert [e.status for e in loaded] == ["loaded"], [e.error for e in loaded]
    return made


def _text(result: dict[str, Any]) -> str:
    return "".join(str(c.get("text", "")) for c in result["content"])


def _spellings(value: str) -> list[str]:
    raw = value.encode()
    return [value, base64.b64encode(raw).decode(), raw.hex(), value[::-1]]


# (file text, the prefix the extension knows, what a successful oracle would rebuild)
FILES = {
    "raw": (f"name: demo\napi_key: {SECRET}\n", "api_key: ", SECRET),
    "base64": (f"kind: Secret\ntoken: {base64.b64encode(SECRET.encode()).decode()}\n", "token: ",
               base64.b64encode(SECRET.encode()).decode()),
    "hex": (f"key_hex: {SECRET.encode().hex()}\n", "key_hex: ", SECRET.encode().hex()),
}


@pytest.mark.parametrize("how", ["anchored", "literal", "ignorecase", "folder"])
@pytest.mark.parametrize("spelling", sorted(FILES))
def test_grep_is_no_oracle_for_a_withheld_value(host: ExtensionHost, pi_env: PiEnv, spelling: str, how: str) -> None:
    content, prefix, _value = FILES[spelling]
    (pi_env.workspace / "config.yaml").write_text(content)
    rebuilt = _text(host.call_tool(EXT, "rebuild", {"how": how, "prefix": prefix, "path": "config.yaml", "max": 40}))
    # Before: the whole value, reversed ("c0d1e2f3a4b5c6d7e8f9-evil-ks"). Now no first character is ever confirmed
    # (the base64 form may confirm the character or two whose bits it shares with the prefix, no more).
    assert len(rebuilt) <= 2, rebuilt
    for secret_form in _spellings(SECRET):
        assert secret_form[:8] not in rebuilt[::-1] and secret_form[:8] not in rebuilt
    entries = host.sandbox.store.query_ledger(extension_id=EXT, limit=5000)
    assert entries and all(SECRET not in json.dumps(e.detail) for e in entries)


def test_grep_still_finds_lines_and_numbers_them_as_in_the_file(host: ExtensionHost, pi_env: PiEnv) -> None:
    multi = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0\n-----END KEY-----"
    (pi_env.workspace / "config.yaml").write_text(f"a: 1\napi_key: {SECRET}\nb: {multi}\nc: needle\n")
    made = host
    found = _text(made.call_tool(EXT, "grep", {"pattern": "api_key|needle", "path": "config.yaml"}))
    assert found.splitlines() == [f"config.yaml:2: api_key: {PLACEHOLDER}", "config.yaml:6: c: needle"], found
    assert SECRET not in found


def test_a_multi_line_secret_keeps_the_line_numbers_after_it(make_host: MakeHost, pi_env: PiEnv) -> None:
    multi = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0\n-----END KEY-----"
    made = make_host(sandbox_kwargs={"env": {"SERVICE_PRIVATE_KEY": multi}})
    made.load([ExtensionSource(EXT, HOSTILE / f"{EXT}.ts", HOSTILE, "cli")])
    (pi_env.workspace / "key.yaml").write_text(f"a: 1\nkey: {multi}\nc: needle\n")
    found = _text(made.call_tool(EXT, "grep", {"pattern": "needle|MIIE|key", "path": "key.yaml"}))
    assert found.splitlines() == [f"key.yaml:2: key: {PLACEHOLDER}", "key.yaml:5: c: needle"], found
