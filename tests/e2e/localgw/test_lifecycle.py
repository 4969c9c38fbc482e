"""The in-process API: start/stop, several gateways per process, event shapes end to end."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from infra.localgw import Limits, LocalGateway
from tests.e2e.localgw.conftest import validate_event
from tests.e2e.localgw.helpers import (
    disconnect_event,
    events_of,
    management_client,
    recorded_events,
    whoami,
    ws_connect,
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_every_emitted_event_parses_with_powertools_models(
    start_gateway: Callable[..., LocalGateway],
) -> None:
    # Given a fresh gateway and one connection going through every kind of event
    gw = start_gateway()
    with ws_connect(f"{gw.urls.ws_url}?token=abc") as ws:
        connection_id = whoami(ws)
        ws.send("plain")
        ws.recv(timeout=5)
    disconnect_event(gw.urls, connection_id)
    with ws_connect(gw.urls.ws_url) as ws:
        deleted_id = whoami(ws)
        management_client(gw.urls.management_url).delete_connection(ConnectionId=deleted_id)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    disconnect_event(gw.urls, deleted_id)
    # Then every event parses, and the fields tie together as on AWS
    events = recorded_events(gw.urls)
    assert [e["requestContext"]["eventType"] for e in events] == [
        "CONNECT", "MESSAGE", "MESSAGE", "DISCONNECT", "CONNECT", "MESSAGE", "DISCONNECT",
    ]  # fmt: skip
    for event in events:
        parsed = validate_event(event)
        context = event["requestContext"]
        assert context["requestId"] == context["extendedRequestId"]
        assert context["stage"] == "api"
        assert context["domainName"] == gw.urls.domain_name
        assert context["messageDirection"] == "IN"
        assert event["isBase64Encoded"] is False
        assert parsed.model_dump(by_alias=True)["requestContext"]["connectionId"]
    first = events_of(gw.urls, connection_id)
    assert len({e["requestContext"]["connectedAt"] for e in first}) == 1
    assert len({e["requestContext"]["requestId"] for e in first}) == len(first)
    assert (
        first[-1]["requestContext"]["requestTimeEpoch"] >= first[0]["requestContext"]["connectedAt"]
    )


def test_stop_does_not_wait_for_a_hanging_handler(
    start_gateway: Callable[..., LocalGateway],
) -> None:
    gw = start_gateway(limits=Limits(integration_timeout=60.0), shutdown_timeout=1)
    with ws_connect(gw.urls.ws_url) as ws:
        ws.send(json.dumps({"action": "sleep", "seconds": 20}))
        time.sleep(0.1)
        started = time.monotonic()
        gw.stop()
        assert time.monotonic() - started < 5
        # The client is told the server is going away (uvicorn sends 1012)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1012


def test_fixed_port(start_gateway: Callable[..., LocalGateway]) -> None:
    port = _free_port()
    gw = start_gateway(port=port)
    assert gw.urls.ws_url == f"ws://127.0.0.1:{port}/api"
    with ws_connect(gw.urls.ws_url) as ws:
        ws.send("hi")
        assert ws.recv(timeout=5) == "hi"


def test_other_chalice_stage_uses_its_api_gateway_stage(
    start_gateway: Callable[..., LocalGateway],
) -> None:
    gw = start_gateway(stage="other")
    assert gw.urls.ws_url.endswith("/v1")
    with ws_connect(gw.urls.ws_url) as ws:
        ws.send(json.dumps({"action": "env", "names": ["EXAMPLE_STAGE_VAR"]}))
        assert json.loads(ws.recv(timeout=5)) == {"EXAMPLE_STAGE_VAR": "other"}


def test_two_gateways_in_one_process_keep_their_apps_apart(
    start_gateway: Callable[..., LocalGateway],
) -> None:
    app_module_before = sys.modules.get("app")
    first, second = start_gateway(), start_gateway()
    assert first.app is not second.app
    with ws_connect(first.urls.ws_url) as ws:
        connection_id = whoami(ws)
    assert events_of(first.urls, connection_id)
    assert not events_of(second.urls, connection_id)
    # Loading an app leaves `import app` in the test process alone.
    assert sys.modules.get("app") is app_module_before


def test_stopped_gateway_releases_its_port(start_gateway: Callable[..., LocalGateway]) -> None:
    gw = start_gateway()
    port = int(gw.urls.ws_url.split(":")[2].split("/")[0])
    gw.stop()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_project_without_config_json_uses_chalice_defaults(
    tmp_path: Path, start_gateway: Callable[..., LocalGateway]
) -> None:
    (tmp_path / "app.py").write_text(
        "from chalice import Chalice\n"
        "app = Chalice(app_name='bare')\n"
        "@app.route('/')\n"
        "def index():\n"
        "    return {'bare': True}\n"
    )
    gw = start_gateway(tmp_path)
    assert gw.urls.rest_url.endswith("/api")
    assert httpx.get(f"{gw.urls.rest_url}/").json() == {"bare": True}


def test_injected_clock_stamps_the_events(start_gateway: Callable[..., LocalGateway]) -> None:
    # 11/Nov/2024:13:45:46.514 UTC, frozen
    gw = start_gateway(clock=lambda: 1731332746.514)
    with ws_connect(gw.urls.ws_url) as ws:
        connection_id = whoami(ws)
    connect = events_of(gw.urls, connection_id)[0]["requestContext"]
    assert connect["requestTime"] == "11/Nov/2024:13:45:46 +0000"
    assert connect["requestTimeEpoch"] == connect["connectedAt"] == 1731332746514
