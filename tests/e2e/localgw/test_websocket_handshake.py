"""Handshake and routing rows of the spec, driven by a real `websockets` client."""

from __future__ import annotations

import json
import logging
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from infra.localgw import Limits, LocalGateway, WorkerSettings
from tests.e2e.localgw.helpers import (
    events_of,
    recorded_events,
    recv_json,
    wait_for,
    whoami,
    ws_connect,
)


def _write_app(directory: Path, source: str) -> Path:
    (directory / ".chalice").mkdir()
    (directory / ".chalice" / "config.json").write_text(
        json.dumps({"version": "2.0", "app_name": "tiny", "stages": {"dev": {}}})
    )
    (directory / "app.py").write_text(textwrap.dedent(source))
    return directory


def test_connect_accepts_and_emits_connect_event(gateway: LocalGateway) -> None:
    # Given a client connecting with a query string
    with ws_connect(f"{gateway.urls.ws_url}?token=t0k&tag=a&tag=b") as ws:
        connection_id = whoami(ws)
    # Then $connect saw the query as API Gateway passes it
    connect = events_of(gateway.urls, connection_id)[0]
    assert connect["requestContext"]["eventType"] == "CONNECT"
    assert connect["queryStringParameters"] == {"token": "t0k", "tag": "b"}
    assert connect["multiValueQueryStringParameters"] == {"token": ["t0k"], "tag": ["a", "b"]}
    # And the headers keep the client's spelling
    assert "Sec-WebSocket-Key" in connect["headers"]
    assert connect["multiValueHeaders"]["Host"] == [gateway.urls.domain_name]


def test_connect_without_query_has_no_query_keys(gateway: LocalGateway) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
    connect = events_of(gateway.urls, connection_id)[0]
    assert "queryStringParameters" not in connect
    assert "multiValueQueryStringParameters" not in connect


def test_handshake_is_held_until_connect_returns(gateway: LocalGateway) -> None:
    # Given a $connect handler that takes 0.4 s
    started = time.monotonic()
    with ws_connect(f"{gateway.urls.ws_url}?sleep=0.4") as ws:
        # Then the upgrade completed only after it returned
        assert time.monotonic() - started >= 0.4
        # And the connection is registered and served
        ws.send("plain text")
        assert ws.recv(timeout=5) == "plain text"


@pytest.mark.parametrize("status", [401, 403, 429])
def test_connect_non_2xx_rejects_the_handshake_with_that_status(
    gateway: LocalGateway, status: int
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(f"{gateway.urls.ws_url}?reject={status}")
    assert refused.value.response.status_code == status
    assert json.loads(refused.value.response.body or b"{}") == {"rejected": True}


def test_raising_connect_handler_refuses_with_500(gateway: LocalGateway) -> None:
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(f"{gateway.urls.ws_url}?raise=1")
    assert refused.value.response.status_code == 500


def test_connect_over_integration_timeout_refuses_with_504(gateway: LocalGateway) -> None:
    # The shared gateway's integration timeout is 1 s.
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(f"{gateway.urls.ws_url}?sleep=1.3")
    assert refused.value.response.status_code == 504


def test_subprotocol_returned_by_connect_is_echoed(gateway: LocalGateway) -> None:
    url = f"{gateway.urls.ws_url}?protocol=chat.v2"
    with ws_connect(url, subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"


def test_upgrade_on_another_path_is_forbidden(gateway: LocalGateway) -> None:
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(gateway.urls.ws_url.rsplit("/", 1)[0] + "/otherstage")
    assert refused.value.response.status_code == 403


def test_connection_ids_look_like_api_gateway_ids(gateway: LocalGateway) -> None:
    ids = set()
    for _ in range(5):
        with ws_connect(gateway.urls.ws_url) as ws:
            ids.add(whoami(ws))
    assert len(ids) == 5
    for connection_id in ids:
        assert len(connection_id) == 16
        assert connection_id.endswith("=")
        assert "/" not in connection_id
        assert "+" not in connection_id


def test_app_without_connect_or_default_handlers(
    tmp_path: Path, start_gateway: Callable[..., LocalGateway]
) -> None:
    # Given an app with no WebSocket handlers at all
    app_dir = _write_app(
        tmp_path,
        """
        from chalice import Chalice
        app = Chalice(app_name="tiny")
        """,
    )
    gw = start_gateway(app_dir)
    # When a client connects: no $connect handler means accept
    with ws_connect(gw.urls.ws_url) as ws:
        # And a message no route handles gets API Gateway's Forbidden error frame
        ws.send(json.dumps({"action": "anything"}))
        frame = recv_json(ws)
    assert frame["message"] == "Forbidden"
    assert set(frame) == {"message", "connectionId", "requestId"}


def test_blueprint_websocket_handler_fails_clearly(
    tmp_path: Path,
    start_gateway: Callable[..., LocalGateway],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given an app whose $connect is registered on a Blueprint (Chalice leaves it unwrapped)
    app_dir = _write_app(
        tmp_path,
        """
        from chalice import Blueprint, Chalice
        bp = Blueprint(__name__)
        @bp.on_ws_connect()
        def connect(event):
            return {"statusCode": 200}
        app = Chalice(app_name="tiny")
        app.register_blueprint(bp)
        """,
    )
    with caplog.at_level(logging.ERROR, logger="infra.localgw"):
        gw = start_gateway(app_dir)
        # Then connecting fails as it would on Lambda, with a message saying why
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(gw.urls.ws_url)
    assert refused.value.response.status_code == 500
    assert any("Blueprint" in record.getMessage() for record in caplog.records)
    assert any(
        "registered on a Blueprint" in str(record.exc_info[1])
        for record in caplog.records
        if record.exc_info
    )


def test_new_connection_throttle_answers_429(start_gateway: Callable[..., LocalGateway]) -> None:
    # Given a gateway allowing one new connection per second (burst of one)
    gw = start_gateway(limits=Limits(new_connections_per_second=1.0))
    # When a second client connects right away
    with ws_connect(gw.urls.ws_url), pytest.raises(InvalidStatus) as refused:
        ws_connect(gw.urls.ws_url)
    assert refused.value.response.status_code == 429


def test_management_api_keeps_serving_while_connect_is_held(
    start_gateway: Callable[..., LocalGateway],
) -> None:
    # Warm containers (processes): the 1.2 s below is for the slow $connect, not for
    # a cold start.
    gw = start_gateway(limits=Limits(integration_timeout=10.0), workers=WorkerSettings(prewarm=2))
    # Given one connection open and another whose $connect runs for 1.5 s
    with ws_connect(gw.urls.ws_url) as ws:

        def open_slowly() -> None:
            with ws_connect(f"{gw.urls.ws_url}?sleep=1.5"):
                pass

        opener = threading.Thread(target=open_slowly)
        opener.start()
        try:
            wait_for(lambda: len(recorded_events(gw.urls)) == 2, what="the slow $connect")
            # Then the open one is served meanwhile, its handler calling the Management API
            ws.send(json.dumps({"action": "info"}))
            assert "connectedAt" in recv_json(ws, timeout=1.2)
            assert opener.is_alive()
        finally:
            opener.join()
