"""Red team (secret broker): a response's declared charset must not hide a withheld value from redaction.

The body was decoded with the charset the *server* names and only then redacted: the UTF-8 bytes of a withheld
value, served as ``charset=utf-16-le`` (or EBCDIC ``cp037``, ``utf-32``...), decoded to other characters that
no spelling matched, and the extension re-encoded the string to get the value back. Redaction now runs on the
bytes as received as well, before any decoding.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pi_sandbox.audit.port import StoreEvidence
from pi_sandbox.audit.store import AuditStore
from pi_sandbox.capabilities import Capability
from pi_sandbox.config.model import HttpSettings
from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.connectors.http import HttpConnector
from pi_sandbox.mediation.paths import PathRules
from pi_sandbox.mediation.secret_broker import SecretBroker
from tests.conftest import MakeConfig, PiEnv

SECRET = "xoxb-" + "2048-4096-Tq9Wr8Es7Dz6Xc5Vb4Nm3"
CHARSETS = ["utf-16-le", "utf-16-be", "utf-16", "utf-32", "cp037", "cp500", "utf-7", "latin-1", "shift_jis"]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_args: Any) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        charset = self.path.rsplit("=", 1)[-1]
        body = f"key={SECRET}\n".encode()  # UTF-8 bytes, whatever the header says
        self.send_response(200)
        self.send_header("Content-Type", f"text/plain; charset={charset}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.mark.parametrize("charset", CHARSETS)
def test_a_declared_charset_hides_nothing_from_redaction(make_config: MakeConfig, pi_env: PiEnv, server: str,
                                                         charset: str) -> None:
    config = make_config(env={"SLACK_TOKEN": SECRET})
    config = replace(config, http=HttpSettings(allow_hosts=("127.0.0.1",)))
    store = AuditStore.open(config.state_dir)
    try:
        ctx = ConnectorContext("ext", "c1", "http", Capability.HTTP, PathRules((pi_env.workspace,)), config,
                               StoreEvidence(store))
        out = HttpConnector(SecretBroker(config.secret_broker, config.environ)).call(ctx, {
            "url": f"{server}/x?cs={charset}"})
    finally:
        store.close()
    if "body_base64" in out:  # not text in the declared charset: the (redacted) bytes themselves
        assert SECRET.encode() not in base64.b64decode(out["body_base64"])
        return
    body = out["body"]
    # What an extension does with the string: encode it back in the charset the server named.
    for codec in (charset, "utf-8"):
        try:
            raw = body.encode(codec, errors="ignore")
        except LookupError:
            continue
        assert SECRET.encode() not in raw, (codec, body)
    assert SECRET not in body
