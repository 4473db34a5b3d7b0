"""Red team (ledger / evidence): credentials an extension sends on its own never reach the database raw.

The broker redacts the values it withholds (the supervisor's environment). A credential the extension holds by
other means — its own API key, a token from a secret file it may read, a password the user typed — went into the
forensic record as sent, and from there into every evidence bundle: a header, a URL query, a JSON body, an argv
flag, the data of a file write (INV-012: never raw secrets). Each spelling below goes through a real Sandbox
(allowed, confined, policy-denied and invalid calls), then the database files are searched for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pi_sandbox.dispatch.forensic_scrub import scrub, secret_key
from tests.conftest import OpenSandbox, PiEnv

Request = Callable[..., dict[str, Any]]

# Each is a credential no environment variable holds, so the broker does not know it.
CREDS = {
    "bearer": "ghp_AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHH1234",
    "apikey": "hunter2-plain-pass",
    "password": "Sup3rS3cret!",
    "query": "q8Zt3LmVx9Kp2Rw7Yb4Nc6Df1",
    "aws": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "url_password": "pa55word-db",
    "basic": "dXNlcjpwYXNzd29yZA==",
    "flag": "tok-flag-value-77",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVlLXh5eg",
    "cookie": "sid-31415926535",
}


def _calls() -> list[tuple[str, dict[str, Any]]]:
    c = CREDS
    return [
        ("http", {"method": "POST", "url": f"https://api.example.com/x?access_token={c['query']}&page=2",
                  "headers": {"Authorization": f"Bearer {c['bearer']}", "X-Api-Key": c["apikey"],
                              "Cookie": c["cookie"], "Accept": "application/json"},
                  "body": json.dumps({"password": c["password"], "user": "bob"})}),
        ("http", {"method": "GET", "url": "https://api.example.com/y",
                  "headers": [["authorization", f"Basic {c['basic']}"], ["accept", "*/*"]]}),
        ("exec", {"cmd": "mysql", "args": ["-u", "root", f"--password={c['password']}", "--token", c["flag"],
                                           f"postgres://app:{c['url_password']}@db:5432/x"]}),
        ("exec", {"cmd": "sh", "args": ["-c", f"curl -H 'Authorization: Bearer {c['jwt']}' https://h/"]}),
        ("fs", {"op": "write", "path": "notes.txt", "data": f"AWS_SECRET_ACCESS_KEY={c['aws']}\nREGION=us-east-1\n"}),
        ("fs", {"op": "write", "path": "cfg.json", "data": json.dumps({"apiKey": c["apikey"], "name": "demo"})}),
        ("fs", {"op": "read", "path": f"/etc/{c['query']}"}),  # refused: outside the roots
        ("tool", {"name": "custom", "input": {"client_secret": c["password"], "nested": {"auth": [c["flag"]]}}}),
        ("fs", {"op": "zap", "path": "x", "token": c["bearer"]}),  # invalid
    ]


@pytest.mark.parametrize("profile", ["safe", "permissive"])
def test_credentials_in_params_never_reach_the_database(pi_env: PiEnv, open_sandbox: OpenSandbox,
                                                        make_request: Request, profile: str) -> None:
    box = open_sandbox(cli_profile=profile)
    for method, params in _calls():
        box.hostcall("ext.a", make_request(method, params))
    entries = box.store.query_ledger(extension_id="ext.a")
    assert len(entries) >= len(_calls())
    records = box.store.forensic_records(entries[0].seq, entries[-1].seq)
    kept = json.dumps([r["disclosed"]["params"]["value"] for r in records.values()
                       if "params" in r.get("disclosed", {})])
    # What an investigator needs is still there: the host, the command, the path, the ordinary fields.
    for ordinary in ("api.example.com", "mysql", "notes.txt", "REGION=us-east-1", "bob", "page=2", "demo",
                     "application/json", "db:5432"):
        assert ordinary in kept, ordinary
    box.close()
    db = b"".join(p.read_bytes() for p in sorted(pi_env.state_dir.glob("security.db*")))
    leaked = [name for name, value in CREDS.items() if value.encode() in db]
    assert leaked == [], leaked


@pytest.mark.parametrize(("value", "expected"), [
    ({"Authorization": "token abc"}, {"Authorization": "[REDACTED]"}),
    ({"proxy-authorization": "Basic x"}, {"proxy-authorization": "[REDACTED]"}),
    ({"x-auth-token": "abcdef"}, {"x-auth-token": "[REDACTED]"}),
    ({"apiKey": "abcdef", "max_tokens": 100}, {"apiKey": "[REDACTED]", "max_tokens": 100}),
    ({"credentials": {"user": "u", "pass": "p"}}, {"credentials": {"user": "[REDACTED]", "pass": "[REDACTED]"}}),
    ({"args": ["--api-key", "k1", "--verbose", "-v"]}, {"args": ["--api-key", "[REDACTED]", "--verbose", "-v"]}),
    ({"data": "DB_PASSWORD = 'opensesame'\nDEBUG=1"}, {"data": "DB_PASSWORD = '[REDACTED]'\nDEBUG=1"}),
    ({"data": "password: opensesame"}, {"data": "password: [REDACTED]"}),
    ({"data": 'x = {"secret": "opensesame"}'}, {"data": 'x = {"secret": "[REDACTED]"}'}),
    ({"url": "redis://:opensesame@cache:6379"}, {"url": "redis://:[REDACTED]@cache:6379"}),
    ({"url": "redis://default:opensesame@cache:6379"}, {"url": "redis://default:[REDACTED]@cache:6379"}),
    ({"k": "key AKIAABCDEFGHIJKLMNOP in text"}, {"k": "key [REDACTED] in text"}),
])
def test_scrub_spellings(value: Any, expected: Any) -> None:
    assert scrub(value) == expected


@pytest.mark.parametrize("text", [
    "src/components/Button.tsx", "git commit -m 'fix the parser'", "processing item 42 of 100: done",
    "https://api.github.com/repos/o/r/issues?page=2&per_page=50", "sha 6f1ed002ab5595859014ebf0951522d9",
    "uuid 123e4567-e89b-12d3-a456-426614174000", "author: Ann Example", "max_tokens=100", "Bearer of news",
])
def test_ordinary_text_is_kept(text: str) -> None:
    assert scrub({"t": text}) == {"t": text}
    assert scrub([text]) == [text]


def test_secret_key_names() -> None:
    for name in ("password", "Authorization", "X-Api-Key", "apiKey", "client_secret", "access_token", "pwd",
                 "--password", "GITHUB_TOKEN", "cookie", "privateKey"):
        assert secret_key(name), name
    for name in ("path", "author", "max_tokens", "key", "url", "name", "data", "headers", "op", "tokens"):
        assert not secret_key(name), name
