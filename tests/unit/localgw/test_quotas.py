"""Request-size quotas: head arithmetic, refusals, and the capped body reader."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from infra.localgw.quotas import (
    ClientGoneError,
    declared_length,
    head_refusal,
    head_size,
    read_capped_body,
    upgrade_refusal,
)
from infra.localgw.settings import Limits

LIMITS = Limits(max_header_bytes=100, max_websocket_url_bytes=20)


def test_head_size_counts_the_request_line_and_header_values_only() -> None:
    # "GET /x HTTP/1.1" is 15 bytes; names are not counted by the quota
    assert head_size(b"GET", b"/x", [b"abc", b"de"]) == 15 + 5


def test_head_at_the_quota_passes_and_one_byte_over_is_431() -> None:
    line = len("GET /x HTTP/1.1")
    assert head_refusal(b"GET", b"/x", [(b"h", b"v" * (100 - line))], LIMITS) is None
    refusal = head_refusal(b"GET", b"/x", [(b"h", b"v" * (101 - line))], LIMITS)
    assert refusal is not None and refusal.status == 431


def _upgrade(target: bytes, headers: list[tuple[bytes, bytes]]) -> int | None:
    refusal = upgrade_refusal(
        b"GET", target, headers, LIMITS, max_line_bytes=40, max_header_lines=3
    )
    return None if refusal is None else refusal.status


def test_upgrade_url_quota_is_414() -> None:
    assert _upgrade(b"/api?t=" + b"x" * 13, []) is None
    assert _upgrade(b"/api?t=" + b"x" * 14, []) == 414


def test_upgrade_lines_the_handshake_parser_refuses_are_431() -> None:
    # "name: value\r\n" over 40 bytes, though the head total is within 100
    assert _upgrade(b"/api", [(b"n", b"v" * 35)]) is None
    assert _upgrade(b"/api", [(b"n", b"v" * 36)]) == 431
    assert _upgrade(b"/api", [(b"a", b"1"), (b"b", b"2"), (b"c", b"3"), (b"d", b"4")]) == 431


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"Content-Length", b"12")], 12),
        ([(b"content-length", b"x")], None),
        ([(b"transfer-encoding", b"chunked")], None),
    ],
)
def test_declared_length(headers: list[tuple[bytes, bytes]], expected: int | None) -> None:
    assert declared_length(headers) == expected


class Body:
    """An ASGI receive callable over given chunks, counting how many were taken."""

    def __init__(self, *chunks: bytes, disconnect: bool = False) -> None:
        self.chunks = list(chunks)
        self.disconnect = disconnect
        self.taken = 0

    async def __call__(self) -> dict[str, Any]:
        if not self.chunks:
            assert self.disconnect, "read past the end of the body"
            return {"type": "http.disconnect"}
        self.taken += 1
        chunk = self.chunks.pop(0)
        more = bool(self.chunks) or self.disconnect
        return {"type": "http.request", "body": chunk, "more_body": more}


def _read(body: Body, cap: int, headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    return asyncio.run(read_capped_body(body, headers or [], cap))


def test_body_within_the_cap_is_returned_whole() -> None:
    assert _read(Body(b"ab", b"cd"), cap=4) == b"abcd"


def test_declared_length_over_the_cap_reads_nothing() -> None:
    body = Body(b"x" * 10)
    assert _read(body, cap=4, headers=[(b"content-length", b"10")]) is None
    assert body.taken == 0


def test_counted_body_stops_at_the_first_chunk_past_the_cap() -> None:
    body = Body(b"aaa", b"bbb", b"ccc", b"ddd")
    assert _read(body, cap=5) is None
    assert body.taken == 2


def test_client_leaving_mid_body_is_reported() -> None:
    with pytest.raises(ClientGoneError):
        _read(Body(b"a", disconnect=True), cap=10)
