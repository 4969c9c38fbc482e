"""Close codes, quotas and $disconnect: the limits table and the disconnect rows."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from infra.localgw import Limits, LocalGateway, WorkerSettings
from tests.e2e.localgw.helpers import (
    disconnect_code,
    disconnect_event,
    whoami,
    ws_connect,
)

KIB = 1024


def _closed_with(ws: ClientConnection) -> tuple[int, str]:
    """Read until the gateway closes the connection; its close code and reason."""
    try:
        while True:
            ws.recv(timeout=5)
    except ConnectionClosed as closed:
        frame = closed.rcvd
    assert frame is not None, "the gateway closed without a close frame"
    return frame.code, frame.reason


def _busy_until_closed(ws: ClientConnection) -> int:
    """Keep sending until the gateway closes; its close code."""
    for n in range(200):
        try:
            ws.send(f"busy {n}")
            ws.recv(timeout=5)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else 1006
        time.sleep(0.05)
    raise AssertionError("the gateway never closed the connection")


def test_client_close_fires_disconnect_with_its_code(gateway: LocalGateway) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        ws.close(4001, "bye now")
        context = disconnect_event(gateway.urls, connection_id)["requestContext"]
        assert context["disconnectStatusCode"] == 4001
        assert context["disconnectReason"] == "bye now"


def test_client_close_without_status_reports_1005(gateway: LocalGateway) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        # A close frame with no status code (the sync client's close() always sends one).
        with ws.send_context():
            ws.protocol.send_close()
        context = disconnect_event(gateway.urls, connection_id)["requestContext"]
        assert context["disconnectStatusCode"] == 1005
        assert context["disconnectReason"] == "Client-side close frame status not set"


def test_connection_lost_without_close_frame_reports_1006(gateway: LocalGateway) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        ws.socket.shutdown(socket.SHUT_RDWR)
        ws.close()
        context = disconnect_event(gateway.urls, connection_id)["requestContext"]
        assert context["disconnectStatusCode"] == 1006


def test_binary_frame_closes_with_1003(gateway: LocalGateway) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        ws.send(b"\x00\x01binary")
        assert _closed_with(ws)[0] == 1003
        assert disconnect_code(gateway.urls, connection_id) == 1003


def test_message_over_128_kib_closes_with_1009(gateway: LocalGateway) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        # Fragments of 16 KiB stay under the frame quota; the message does not.
        ws.send(["x" * (16 * KIB)] * 8 + ["x"])
        assert _closed_with(ws)[0] == 1009
        assert disconnect_code(gateway.urls, connection_id) == 1009


def test_message_of_exactly_128_kib_in_small_frames_is_accepted(gateway: LocalGateway) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        ws.send(["y" * (16 * KIB)] * 8)
        # Echoed through PostToConnection, whose 128 KiB limit it also meets.
        assert ws.recv(timeout=5) == "y" * (128 * KIB)


def test_frame_over_32_kib_closes_with_1009(gateway: LocalGateway) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        ws.send("z" * (32 * KIB + 1))
        code, reason = _closed_with(ws)
        assert code == 1009
        assert "Frame" in reason
        assert disconnect_code(gateway.urls, connection_id) == 1009


def test_frame_of_exactly_32_kib_is_accepted(gateway: LocalGateway) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        ws.send("z" * (32 * KIB))
        assert len(ws.recv(timeout=5)) == 32 * KIB


def test_bad_input_on_one_connection_leaves_the_others_served(gateway: LocalGateway) -> None:
    with ws_connect(gateway.urls.ws_url) as bystander:
        for bad in (b"binary", "q" * (32 * KIB + 1), json.dumps({"action": "raise"})):
            with ws_connect(gateway.urls.ws_url) as offender:
                offender.send(bad)
        bystander.send("fine")
        assert bystander.recv(timeout=5) == "fine"


def test_idle_connection_closes_with_1001_then_disconnect(
    start_gateway: Callable[..., LocalGateway],
) -> None:
    # Given a gateway with a 0.4 s idle timeout (and, with processes, a warm container:
    # a cold start answering the first message could outlast the timeout itself)
    gw = start_gateway(limits=Limits(idle_timeout=0.4), workers=WorkerSettings(prewarm=1))
    with ws_connect(gw.urls.ws_url) as ws:
        connection_id = whoami(ws)
        # When the client keeps talking, the connection stays open past the timeout
        for n in range(6):
            time.sleep(0.1)
            ws.send(f"keepalive {n}")
            assert ws.recv(timeout=5) == f"keepalive {n}"
        # Then once it goes quiet the gateway closes it with 1001 and fires $disconnect
        started = time.monotonic()
        assert _closed_with(ws)[0] == 1001
        assert time.monotonic() - started >= 0.3
        assert disconnect_code(gw.urls, connection_id) == 1001


def test_max_connection_duration_closes_with_1001_then_disconnect(
    start_gateway: Callable[..., LocalGateway],
) -> None:
    gw = start_gateway(limits=Limits(max_connection_duration=0.6))
    with ws_connect(gw.urls.ws_url) as ws:
        connection_id = whoami(ws)
        # Activity does not extend the maximum duration
        code = _busy_until_closed(ws)
        assert code == 1001
        assert disconnect_code(gw.urls, connection_id) == 1001
