"""The @connections Management API through boto3's real client, plus the drop hook."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed

from infra.localgw import Limits, LocalGateway
from tests.e2e.localgw.helpers import (
    disconnect_code,
    disconnect_event,
    events_of,
    management_client,
    recv_json,
    wait_for,
    whoami,
    ws_connect,
)

KIB = 1024


def test_post_to_connection_delivers_one_text_frame(gateway: LocalGateway) -> None:
    client = management_client(gateway.urls.management_url)
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        response = client.post_to_connection(ConnectionId=connection_id, Data=b'{"hi": 1}')
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert ws.recv(timeout=5) == '{"hi": 1}'


def test_post_of_non_utf8_data_delivers_a_binary_frame(gateway: LocalGateway) -> None:
    client = management_client(gateway.urls.management_url)
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        client.post_to_connection(ConnectionId=connection_id, Data=b"\xff\xfe\x00")
        assert ws.recv(timeout=5) == b"\xff\xfe\x00"


def test_get_connection_describes_it(gateway: LocalGateway) -> None:
    client = management_client(gateway.urls.management_url)
    before = datetime.now(UTC) - timedelta(seconds=1)
    with ws_connect(gateway.urls.ws_url, user_agent_header="probe/1.0") as ws:
        connection_id = whoami(ws)
        info = client.get_connection(ConnectionId=connection_id)
    assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "probe/1.0"}
    assert before <= info["ConnectedAt"] <= info["LastActiveAt"]
    assert info["LastActiveAt"] <= datetime.now(UTC) + timedelta(seconds=1)


def test_delete_connection_closes_with_1000_then_fires_disconnect(gateway: LocalGateway) -> None:
    client = management_client(gateway.urls.management_url)
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        response = client.delete_connection(ConnectionId=connection_id)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1000
        assert disconnect_code(gateway.urls, connection_id) == 1000


def test_frames_posted_before_a_delete_arrive_before_the_close(gateway: LocalGateway) -> None:
    client = management_client(gateway.urls.management_url)
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        for n in range(5):
            client.post_to_connection(ConnectionId=connection_id, Data=f"f{n}".encode())
        client.delete_connection(ConnectionId=connection_id)
        assert [ws.recv(timeout=5) for _ in range(5)] == [f"f{n}" for n in range(5)]
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)


def test_handler_closing_its_own_connection(gateway: LocalGateway) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        ws.send(json.dumps({"action": "close"}))
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert disconnect_code(gateway.urls, connection_id) == 1000


@pytest.mark.parametrize("operation", ["post_to_connection", "get_connection", "delete_connection"])
def test_unknown_connection_is_gone(gateway: LocalGateway, operation: str) -> None:
    client = management_client(gateway.urls.management_url)
    kwargs: dict[str, Any] = {"ConnectionId": "AAAAAAAAAAAAAAA="}
    if operation == "post_to_connection":
        kwargs["Data"] = b"x"
    with pytest.raises(client.exceptions.GoneException) as gone:
        getattr(client, operation)(**kwargs)
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_closed_connection_is_gone_and_chalice_raises_disconnected(gateway: LocalGateway) -> None:
    client = management_client(gateway.urls.management_url)
    with ws_connect(gateway.urls.ws_url) as closed:
        closed_id = whoami(closed)
    disconnect_event(gateway.urls, closed_id)
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId=closed_id, Data=b"late")
    # Chalice's app.websocket_api.send turns the 410 into WebsocketDisconnectedError.
    with ws_connect(gateway.urls.ws_url) as sender:
        sender.send(json.dumps({"action": "send_to", "target": closed_id, "data": "x"}))
        assert recv_json(sender) == {"gone": closed_id}


def test_post_over_128_kib_is_payload_too_large(gateway: LocalGateway) -> None:
    client = management_client(gateway.urls.management_url)
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        with pytest.raises(client.exceptions.PayloadTooLargeException) as too_large:
            client.post_to_connection(ConnectionId=connection_id, Data=b"x" * (128 * KIB + 1))
        assert too_large.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
        client.post_to_connection(ConnectionId=connection_id, Data=b"x" * (128 * KIB))
        assert len(ws.recv(timeout=5)) == 128 * KIB


def test_wrong_stage_is_forbidden(gateway: LocalGateway) -> None:
    wrong = gateway.urls.management_url.rsplit("/", 1)[0] + "/prod"
    client = management_client(wrong)
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        with pytest.raises(client.exceptions.ForbiddenException) as forbidden:
            client.post_to_connection(ConnectionId=connection_id, Data=b"x")
    assert forbidden.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def _post_until_refused(client: Any, connection_id: str, data: bytes) -> ClientError:
    for _ in range(2000):
        try:
            client.post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as refused:
            return refused
    raise AssertionError("PostToConnection never refused")


def test_full_send_buffer_is_limit_exceeded(start_gateway: Callable[..., LocalGateway]) -> None:
    # Given a small send budget and a client that never reads, on a tiny receive window
    gw = start_gateway(limits=Limits(send_buffer_bytes=256 * KIB))
    client = management_client(gw.urls.management_url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(gw.urls.ws_url.split(":")[2].split("/")[0])))
    with ws_connect(gw.urls.ws_url, sock=sock) as ws:
        connection_id = whoami(ws)
        # When frames pile up faster than the (stalled) client takes them
        refusal = _post_until_refused(client, connection_id, b"p" * (100 * KIB))
        assert refusal.response["Error"]["Code"] == "LimitExceededException"
        assert refusal.response["ResponseMetadata"]["HTTPStatusCode"] == 429


@pytest.mark.parametrize("at", ["@", "%40"])
def test_raw_requests_accept_at_or_percent_40_and_encoded_ids(
    gateway: LocalGateway, at: str
) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        encoded_id = connection_id.replace("=", "%3D")
        url = f"{gateway.urls.management_url}/{at}connections/{encoded_id}"
        response = httpx.post(url, content=b"raw")
        assert response.status_code == 200
        assert ws.recv(timeout=5) == "raw"


def test_malformed_connection_id_is_a_bad_request(gateway: LocalGateway) -> None:
    url = f"{gateway.urls.management_url}/@connections/not%20an%20id"
    response = httpx.post(url, content=b"x")
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "BadRequestException"
    client = management_client(gateway.urls.management_url)
    with pytest.raises(ClientError) as bad:
        client.post_to_connection(ConnectionId="a" * 200, Data=b"x")
    assert bad.value.response["Error"]["Code"] == "BadRequestException"


def test_errors_are_rest_json_with_error_type_header(gateway: LocalGateway) -> None:
    response = httpx.get(f"{gateway.urls.management_url}/@connections/AAAAAAAAAAAAAAA%3D")
    assert response.status_code == 410
    assert response.headers["x-amzn-ErrorType"] == "GoneException"
    assert response.headers["content-type"] == "application/json"
    assert "message" in response.json()


def test_drop_closes_without_firing_disconnect(gateway: LocalGateway) -> None:
    # Given a connection the app knows about
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        # When the test drops it through the in-process hook
        assert gateway.drop(connection_id) is True
        # Then the client loses the socket without a close frame
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd is None
        # And the app gets no $disconnect, but learns on its next send that it is gone
        wait_for(lambda: connection_id not in gateway.connection_ids(), what="the drop")
        with ws_connect(gateway.urls.ws_url) as sender:
            sender.send(json.dumps({"action": "send_to", "target": connection_id}))
            assert recv_json(sender) == {"gone": connection_id}
        kinds = [e["requestContext"]["eventType"] for e in events_of(gateway.urls, connection_id)]
        assert "DISCONNECT" not in kinds
        assert gateway.drop(connection_id) is False


def test_drop_over_http_admin_api(gateway: LocalGateway) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        assert (
            connection_id
            in httpx.get(f"{gateway.urls.admin_url}/connections").json()["connections"]
        )
        response = httpx.post(f"{gateway.urls.admin_url}/connections/{connection_id}/drop")
        assert response.status_code == 204
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        wait_for(
            lambda: (
                connection_id
                not in httpx.get(f"{gateway.urls.admin_url}/connections").json()["connections"]
            ),
            what="the dropped connection to leave the registry",
        )
        again = httpx.post(f"{gateway.urls.admin_url}/connections/{connection_id}/drop")
        assert again.status_code == 410
        kinds = [e["requestContext"]["eventType"] for e in events_of(gateway.urls, connection_id)]
        assert "DISCONNECT" not in kinds
