"""Oversize requests get API Gateway's answer, never a socket held open (raw sockets).

A request is written by hand so nothing in a client library pads, splits or refuses it
first; every read has a timeout, so a gateway that never answers fails the test
instead of hanging it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from infra.localgw import Limits, LocalGateway

KIB = 1024
UPGRADE = (
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


def _port(gateway: LocalGateway) -> int:
    return int(gateway.urls.ws_url.split(":")[2].split("/")[0])


@contextmanager
def _raw(gateway: LocalGateway) -> Iterator[socket.socket]:
    sock = socket.create_connection(("127.0.0.1", _port(gateway)), timeout=5)
    try:
        yield sock
    finally:
        sock.close()


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one HTTP response (Content-Length framed)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed without a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return int(status_line.split()[1]), headers, body


def _upgrade(path: str, extra_headers: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{UPGRADE}{extra_headers}\r\n".encode()


def _filler_headers(total: int, each: int = 1000) -> str:
    return "".join(f"X-Filler-{n}: {'f' * each}\r\n" for n in range(total // each))


def test_upgrade_with_a_long_authorization_header_is_refused_with_431(
    gateway: LocalGateway,
) -> None:
    # Given a 9 KiB bearer token: within the 10 KiB head quota, but a header line the
    # WebSocket handshake parser refuses (the gateway used to leave this socket hanging)
    with _raw(gateway) as sock:
        sock.sendall(_upgrade("/api", f"Authorization: Bearer {'t' * 9 * KIB}\r\n"))
        status, headers, body = _read_response(sock)
        # Then an HTTP error answers it and the connection is closed
        assert status == 431
        assert json.loads(body) == {"message": "Request Header Fields Too Large"}
        assert headers["connection"] == "close"
        assert sock.recv(1) == b""


def test_upgrade_over_the_websocket_url_quota_is_refused_with_414(gateway: LocalGateway) -> None:
    with _raw(gateway) as sock:
        sock.sendall(_upgrade(f"/api?token={'q' * 4100}"))
        status, _, _ = _read_response(sock)
        assert status == 414
        assert sock.recv(1) == b""


def test_upgrade_whose_headers_add_up_over_10_kib_is_refused_with_431(
    gateway: LocalGateway,
) -> None:
    # Each line is small; together they pass the quota
    with _raw(gateway) as sock:
        sock.sendall(_upgrade("/api", _filler_headers(11 * KIB)))
        status, _, _ = _read_response(sock)
        assert status == 431


def test_upgrade_just_under_the_quota_is_accepted(gateway: LocalGateway) -> None:
    with _raw(gateway) as sock:
        sock.sendall(_upgrade("/api?token=" + "k" * 3000, _filler_headers(6 * KIB)))
        status, _, _ = _read_response(sock)
        assert status == 101


@pytest.mark.parametrize(("size", "expected"), [(9 * KIB, 200), (11 * KIB, 431)])
def test_rest_request_head_quota(gateway: LocalGateway, size: int, expected: int) -> None:
    with _raw(gateway) as sock:
        head = f"GET /api/hello HTTP/1.1\r\nHost: localhost\r\n{_filler_headers(size)}\r\n"
        sock.sendall(head.encode())
        status, _, _ = _read_response(sock)
        assert status == expected


def test_a_head_too_large_to_buffer_is_431_not_400(gateway: LocalGateway) -> None:
    # 40 KiB of headers: h11 stops buffering before the head is complete
    with _raw(gateway) as sock:
        head = f"GET /api/hello HTTP/1.1\r\nHost: localhost\r\n{_filler_headers(40 * KIB)}"
        sock.sendall(head.encode())
        status, _, _ = _read_response(sock)
        assert status == 431


def test_rest_body_declared_over_10_mib_is_refused_before_it_is_sent(
    gateway: LocalGateway,
) -> None:
    # Given a request announcing 50 MiB and sending none of it
    with _raw(gateway) as sock:
        sock.sendall(
            b"POST /api/body-length HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/octet-stream\r\n"
            + f"Content-Length: {50 * 1024 * KIB}\r\n\r\n".encode()
        )
        # Then the gateway answers 413 at once: it cannot have read (or held) the body
        status, _, body = _read_response(sock)
        assert status == 413
        assert json.loads(body) == {"message": "Request Too Long"}


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def test_chunked_rest_body_is_refused_as_soon_as_it_passes_the_cap(
    start_gateway: Callable[..., LocalGateway],
) -> None:
    # Given a 256 KiB cap and a chunked body that passes it and never ends
    gw = start_gateway(limits=Limits(max_rest_body_bytes=256 * KIB))
    with _raw(gw) as sock:
        sock.sendall(
            b"POST /api/body-length HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        for _ in range(5):
            sock.sendall(_chunk(b"c" * 64 * KIB))
        # Then 413 arrives while the body is still open: the gateway counted it as it
        # came instead of waiting for (and buffering) the whole of it
        status, _, _ = _read_response(sock)
        assert status == 413


def test_rest_body_at_the_cap_is_served(start_gateway: Callable[..., LocalGateway]) -> None:
    gw = start_gateway(limits=Limits(max_rest_body_bytes=256 * KIB))
    with _raw(gw) as sock:
        body = b"b" * 256 * KIB
        sock.sendall(
            b"POST /api/body-length HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/octet-stream\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        status, _, answer = _read_response(sock)
        assert status == 200
        assert json.loads(answer) == {"length": 256 * KIB}


def test_post_to_connection_declared_over_128_kib_is_refused_unread(
    gateway: LocalGateway,
) -> None:
    with _raw(gateway) as sock:
        sock.sendall(
            b"POST /api/@connections/AAAAAAAAAAAAAAA%3D HTTP/1.1\r\nHost: localhost\r\n"
            + f"Content-Length: {128 * KIB + 1}\r\n\r\n".encode()
        )
        status, headers, _ = _read_response(sock)
        assert status == 413
        assert headers["x-amzn-errortype"] == "PayloadTooLargeException"
