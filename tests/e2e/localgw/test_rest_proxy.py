"""The app's REST routes through the gateway (chalice.local.LocalGateway underneath)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from infra.localgw import Limits, LocalGateway
from tests.e2e.localgw.helpers import whoami, ws_connect


def _base(gateway: LocalGateway) -> str:
    return gateway.urls.rest_url.rsplit("/", 1)[0]


@pytest.mark.parametrize("prefix", ["/api", ""])
def test_route_with_or_without_stage_prefix(gateway: LocalGateway, prefix: str) -> None:
    response = httpx.get(f"{_base(gateway)}{prefix}/hello")
    assert response.status_code == 200
    assert response.json() == {"hello": "world", "env": "rest"}


def test_app_route_that_starts_like_the_stage(gateway: LocalGateway) -> None:
    # Stage "api" and an app route "/api/nested": both spellings reach the route.
    assert httpx.get(f"{_base(gateway)}/api/nested").json() == {"nested": True}
    assert httpx.get(f"{_base(gateway)}/api/api/nested").json() == {"nested": True}


def test_unknown_route_is_forbidden_like_api_gateway(gateway: LocalGateway) -> None:
    response = httpx.get(f"{gateway.urls.rest_url}/no/such/route")
    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}


def test_raising_view_is_a_500_from_chalice(gateway: LocalGateway) -> None:
    response = httpx.get(f"{gateway.urls.rest_url}/boom")
    assert response.status_code == 500


def test_view_over_integration_timeout_is_a_504(gateway: LocalGateway) -> None:
    response = httpx.get(f"{gateway.urls.rest_url}/slow-echo", params={"sleep": "1.3"}, timeout=10)
    assert response.status_code == 504


def test_current_request_is_per_thread(start_gateway: Callable[..., LocalGateway]) -> None:
    # Its own gateway: with the processes runtime, cold starts of up to eight
    # containers would not fit the shared gateway's 1 s integration timeout.
    gateway = start_gateway(limits=Limits(integration_timeout=20.0))

    # Twenty overlapping requests, each sleeping before it reads current_request again.
    def call(n: int) -> object:
        params = {"value": str(n), "sleep": "0.2"}
        return httpx.get(f"{gateway.urls.rest_url}/slow-echo", params=params, timeout=30).json()

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(call, range(20)))
    assert results == [{"value": str(n)} for n in range(20)]


def test_rest_view_can_push_to_a_websocket(gateway: LocalGateway) -> None:
    with ws_connect(gateway.urls.ws_url) as ws:
        connection_id = whoami(ws)
        response = httpx.post(f"{gateway.urls.rest_url}/notify/{connection_id}", content=b"ping")
        assert response.json() == {"sent": connection_id}
        assert ws.recv(timeout=5) == "ping"
    gone = httpx.post(f"{gateway.urls.rest_url}/notify/AAAAAAAAAAAAAAA=", content=b"ping")
    assert gone.status_code == 410


def test_admin_info_lists_the_urls(gateway: LocalGateway) -> None:
    info = httpx.get(f"{gateway.urls.admin_url}/info").json()
    assert info["ws_url"] == gateway.urls.ws_url
    assert info["management_url"] == gateway.urls.management_url
    assert info["stage"] == "api"
