"""One write per fixed-length response; streams and everything else at once."""

from __future__ import annotations

from typing import Any

from dropline.api.http_protocol import CoalescingTransport


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> Any:
        return f"info:{name}"


HEAD = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n"


def transport() -> tuple[CoalescingTransport, Recorder]:
    rec = Recorder()
    return CoalescingTransport(rec), rec  # type: ignore[arg-type]


def test_head_and_body_of_a_fixed_length_response_are_one_write() -> None:
    t, rec = transport()
    t.write(HEAD)
    assert rec.writes == []
    t.write(b"{}")
    assert rec.writes == [HEAD + b"{}"]
    t.write(HEAD)
    t.write(b"")  # an empty body (HEAD request, 204) still releases the head
    assert rec.writes[-1] == HEAD


def test_streams_and_other_writes_are_not_held() -> None:
    t, rec = transport()
    chunked = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    t.write(chunked)
    assert rec.writes == [chunked]  # an SSE client sees its headers before any event
    t.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert rec.writes[-1] == b"HTTP/1.1 100 Continue\r\n\r\n"


def test_closing_sends_a_held_head_first_and_the_rest_passes_through() -> None:
    t, rec = transport()
    t.write(HEAD)
    t.close()
    assert rec.writes == [HEAD] and rec.closed and t.is_closing()
    assert t.get_extra_info("peername") == "info:peername"
