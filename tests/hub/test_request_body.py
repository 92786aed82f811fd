"""HubRequest.body: a body of known length is read in one call, and then reads as webob's would."""

from __future__ import annotations

import io

import pytest
from webob.request import DisconnectionError

from hub.request import HubRequest


class Trickle(io.RawIOBase):
    """A non-seekable input that hands out at most ``step`` bytes per read, as a socket may."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data = data
        self.step = step
        self.reads = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        size = self.step if size < 0 else min(size, self.step)
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk


def _request(stream: io.RawIOBase, length: int) -> HubRequest:
    request = HubRequest.blank("/api/v1/certificates/verify", method="POST")
    request.environ["wsgi.input"] = stream
    request.environ["CONTENT_LENGTH"] = str(length)
    request.environ["webob.is_body_seekable"] = False
    return request


def test_the_body_is_read_once_and_then_seekable_for_every_later_reader() -> None:
    body = '{"number": "MPCZ/ND/2026-27/0000001", "holder_name": "किरण"}'.encode()
    stream = Trickle(body + b"trailing bytes that are not the body", step=1 << 20)
    request = _request(stream, len(body))
    assert request.body == body
    assert request.body == body
    assert stream.reads == 1
    assert request.is_body_seekable and request.content_length == len(body)
    assert request.body_file.read() == body
    assert request.json_body["holder_name"] == "किरण"


def test_a_body_that_arrives_in_pieces_is_put_together() -> None:
    body = b"x" * 1000
    request = _request(Trickle(body, step=7), len(body))
    assert request.body == body


def test_a_client_that_stops_sending_early_is_a_disconnection() -> None:
    request = _request(Trickle(b"x" * 10, step=4), 100)
    with pytest.raises(DisconnectionError):
        _ = request.body


def test_bodies_without_a_length_or_over_the_memory_cap_are_left_to_webob() -> None:
    chunked = HubRequest.blank("/", method="POST")
    chunked.environ["wsgi.input"] = io.BytesIO(b"abc")
    chunked.environ.pop("CONTENT_LENGTH", None)
    chunked.environ["webob.is_body_seekable"] = False
    assert chunked.body == b""  # webob: no length, no chunked marker, not readable
    big = b"y" * (HubRequest.request_body_tempfile_limit + 1)
    request = _request(Trickle(big, step=1 << 22), len(big))
    assert request.body == big
