"""Red team: decompression bombs in HTTP responses (``Content-Encoding``) from a 127.0.0.1 listener.

httpx inflated each network read whole, and stacked codings (``gzip, gzip``): an 824-byte response made the
supervisor allocate 400 MB before the ``maxResponseBytes`` cap saw a byte (5.9 s); a bigger ratio kills the
supervisor with every extension. The connector now inflates in bounded steps and stops at the cap, holding at
most a few steps per layer. Ordinary coded bodies decode as before.
"""

from __future__ import annotations

import functools
import gzip
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pi_sandbox.connectors.http_decode import BoundedDecoder, codings_to_decode
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.errors import ConnectorError
from tests.conftest import OpenSandbox

CAP = 1024 * 1024
INFLATED = 64 * 1024 * 1024  # what each bomb inflates to: 64x the cap (the attack scales it to any size)


@functools.cache
def _zeros_compressed(size: int, wbits: int) -> bytes:
    """``size`` zero bytes compressed (gzip: wbits 31, zlib: 15, raw deflate: -15), built in pieces."""
    comp = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = b"\0" * (1024 * 1024)
    out = [comp.compress(block) for _ in range(size // len(block))]
    out.append(comp.flush())
    return b"".join(out)


WBITS = {"gzip": 31, "deflate": 15}


def _bomb(codings: list[str]) -> bytes:
    """Zeros coded with ``codings`` in header order (the first named was applied first)."""
    body = _zeros_compressed(INFLATED, WBITS[codings[0]])
    for coding in codings[1:]:
        if coding != "identity":
            body = gzip.compress(body, 9) if coding == "gzip" else zlib.compress(body, 9)
    return body


BOMBS = {"gzip": ["gzip"], "deflate": ["deflate"], "gzip_gzip": ["gzip", "gzip"],
         "deflate_gzip": ["deflate", "gzip"], "gzip_x3": ["gzip", "gzip", "gzip"],
         "gzip_identity_deflate": ["gzip", "identity", "deflate"]}
TEXT = "compressed text, " * 1000
BODIES: dict[str, tuple[str, bytes]] = {}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        coding, body = BODIES[self.path.strip("/")]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Encoding", coding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    for name, codings in BOMBS.items():
        BODIES[name] = (", ".join(codings), _bomb(codings))
    raw = TEXT.encode()
    BODIES.update({
        "ok_gzip": ("gzip", gzip.compress(raw)), "ok_deflate": ("deflate", zlib.compress(raw)),
        "ok_raw_deflate": ("deflate", _raw_deflate(raw)), "ok_stacked": ("deflate, gzip",
                                                                        gzip.compress(zlib.compress(raw))),
        "ok_identity": ("identity", raw), "ok_unknown": ("x-custom", raw),
        "ok_multi_member": ("gzip", gzip.compress(raw) + gzip.compress(b"ignored second member")),
    })
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _raw_deflate(data: bytes) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return comp.compress(data) + comp.flush()


@pytest.fixture()
def box(open_sandbox: OpenSandbox) -> Sandbox:
    return open_sandbox(settings={"extensionPolicy": {"http": {"allowHosts": ["127.0.0.1"],
                                                               "maxResponseBytes": CAP}}})


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_decompression_bomb_stops_at_the_cap_without_inflating_it(
        box: Sandbox, base: str, make_request: Callable[..., dict[str, Any]], name: str) -> None:
    assert len(BODIES[name][1]) < INFLATED // 200  # small on the wire
    tracemalloc.start()
    try:
        started = time.monotonic()
        result = box.hostcall("ext", make_request("http", {"url": f"{base}/{name}"}))
        took = time.monotonic() - started
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.ok, result.error_code, result.reason) == (False, "io", "response_too_large"), result
    # a few inflate steps and the capped body, never the bomb (before: 400 MB from 824 bytes)
    assert peak < 8 * CAP, peak
    assert took < 10, took


@pytest.mark.parametrize("name", ["ok_gzip", "ok_deflate", "ok_raw_deflate", "ok_stacked", "ok_identity",
                                  "ok_multi_member"])
def test_ordinary_coded_bodies_decode_as_before(box: Sandbox, base: str,
                                                make_request: Callable[..., dict[str, Any]], name: str) -> None:
    result = box.hostcall("ext", make_request("http", {"url": f"{base}/{name}"}))
    assert result.ok, result
    assert result.result["body"] == TEXT
    assert bool(result.result.get("decoded")) is (name != "ok_identity")


def test_an_unknown_coding_is_passed_through_untouched(box: Sandbox, base: str,
                                                       make_request: Callable[..., dict[str, Any]]) -> None:
    result = box.hostcall("ext", make_request("http", {"url": f"{base}/ok_unknown"}))
    assert result.ok and result.result["body"] == TEXT and "decoded" not in result.result
    assert result.result["headers"]["content-encoding"] == "x-custom"


def test_the_decoder_bounds_every_layer_and_the_raw_stream() -> None:
    """Unit level: fed in network-sized pieces, no layer's output ever exceeds one step, the cap holds on the
    output and on the raw input (empty gzip members forever inflate to nothing), and corrupt data is an error."""
    assert codings_to_decode(["gzip", " Deflate "]) == ["deflate", "gzip"]
    assert codings_to_decode(["identity"]) is None and codings_to_decode(["gzip", "br"]) is None
    decoder = BoundedDecoder(["gzip", "gzip"], CAP)
    body = gzip.compress(_zeros_compressed(64 * CAP, 31), 9)
    with pytest.raises(ConnectorError) as raised:
        for i in range(0, len(body), 65536):
            decoder.feed(body[i:i + 65536])
            assert max((len(c) for c in decoder.chunks), default=0) <= 64 * 1024
        decoder.finish()
    assert raised.value.reason == "response_too_large"
    empty_members = BoundedDecoder(["gzip"], CAP)
    member = gzip.compress(b"")
    with pytest.raises(ConnectorError) as raised:
        for _ in range(CAP // len(member) + 2):
            empty_members.feed(member)
    assert raised.value.reason == "response_too_large"
    with pytest.raises(ConnectorError) as raised:
        corrupt = BoundedDecoder(["gzip"], CAP)
        corrupt.feed(b"\x1f\x8b\x08\x00garbage-that-is-not-deflate" * 4)
        corrupt.finish()
    assert raised.value.reason == "http_error"
