"""Frame format: round trips, limits, malformed input, deadlines."""

from __future__ import annotations

import io
import os
import time

import pytest

from pi_sandbox.runtime.protocol import (
    HEADER,
    MAX_FRAME_BYTES,
    FdChannel,
    ProtocolError,
    decode_body,
    encode_frame,
    read_frame,
    write_frame,
)


def test_round_trip_over_a_stream() -> None:
    stream = io.BytesIO()
    write_frame(stream, {"type": "call", "id": 1, "payload": {"text": "héllo \u2028 ✓"}})
    write_frame(stream, {"type": "done", "id": 1})
    stream.seek(0)
    assert read_frame(stream) == {"type": "call", "id": 1, "payload": {"text": "héllo \u2028 ✓"}}
    assert read_frame(stream)["type"] == "done"
    with pytest.raises(EOFError):
        read_frame(stream)


def test_truncated_frame_is_eof() -> None:
    frame = encode_frame({"type": "x"})
    with pytest.raises(EOFError):
        read_frame(io.BytesIO(frame[:-2]))


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'{"no_type": 1}', b'{"type": 5}', b"\xff\xfe"])
def test_malformed_bodies_are_protocol_errors(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_body(body)


def test_oversized_announcement_is_rejected_without_reading_it() -> None:
    stream = io.BytesIO(HEADER.pack(MAX_FRAME_BYTES + 1) + b"{}")
    with pytest.raises(ProtocolError):
        read_frame(stream)


def test_fd_channel_deadline_and_split_frames() -> None:
    r1, w1 = os.pipe()
    channel = FdChannel(r1, w1)
    started = time.monotonic()
    assert channel.read(deadline=time.monotonic() + 0.05) is None
    assert time.monotonic() - started >= 0.04
    frame = encode_frame({"type": "hc_result", "hid": 7, "ok": True, "result": list(range(50))})
    os.write(w1, frame[:3])
    assert channel.read(deadline=time.monotonic() + 0.05) is None  # partial frame: keep waiting
    os.write(w1, frame[3:] + encode_frame({"type": "second"}))
    assert channel.read()["hid"] == 7
    assert channel.has_buffered_frame()
    assert channel.read()["type"] == "second"
    os.close(w1)
    with pytest.raises(EOFError):
        channel.read()
    os.close(r1)
