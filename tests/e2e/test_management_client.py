"""Our signed @connections client against the local gateway, beside boto3's client:
the same outcome for every case the Management API distinguishes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from websockets.sync.client import ClientConnection

from chalicelib.management import SignedConnectionsApi
from infra.localgw import LocalGateway
from tests.e2e.localgw.helpers import EXAMPLE_APP, recv_json, whoami, ws_connect


@pytest.fixture(scope="module")
def gateway() -> Iterator[LocalGateway]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    with LocalGateway(EXAMPLE_APP) as gw:
        yield gw


@pytest.fixture
def clients(gateway: LocalGateway) -> tuple[SignedConnectionsApi, Any]:
    session = boto3.session.Session(region_name="us-east-1")
    credentials = session.get_credentials()
    assert credentials is not None
    ours = SignedConnectionsApi(gateway.urls.management_url, credentials, "us-east-1")
    theirs = session.client("apigatewaymanagementapi", endpoint_url=gateway.urls.management_url)
    return ours, theirs


def boto3_outcome(client: Any, connection_id: str, data: bytes) -> tuple[str, str | None]:
    try:
        client.post_to_connection(Data=data, ConnectionId=connection_id)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        return ("gone", None) if code == "GoneException" else ("failed", code)
    return "delivered", None


@pytest.fixture
def live(gateway: LocalGateway) -> Iterator[tuple[ClientConnection, str]]:
    ws = ws_connect(gateway.urls.ws_url)
    try:
        yield ws, whoami(ws)
    finally:
        ws.close()


def test_delivers_the_frame_like_boto3(
    clients: tuple[SignedConnectionsApi, Any], live: tuple[ClientConnection, str]
) -> None:
    ours, theirs = clients
    ws, connection_id = live
    assert ours.post(connection_id, b'{"n": 1}') == ("delivered", None)
    assert recv_json(ws) == {"n": 1}
    assert boto3_outcome(theirs, connection_id, b'{"n": 2}') == ("delivered", None)
    assert recv_json(ws) == {"n": 2}


@pytest.mark.parametrize(
    ("connection_id", "data", "expected"),
    [
        ("AAAAAAAAAAAAAAA=", b"{}", ("gone", None)),  # well formed, not connected
        ("has space", b"{}", ("failed", "BadRequestException")),
        ("LIVE", b"x" * (128 * 1024 + 1), ("failed", "PayloadTooLargeException")),
    ],
)
def test_refusals_match_boto3(
    clients: tuple[SignedConnectionsApi, Any],
    live: tuple[ClientConnection, str],
    connection_id: str,
    data: bytes,
    expected: tuple[str, str | None],
) -> None:
    ours, theirs = clients
    target = live[1] if connection_id == "LIVE" else connection_id
    assert ours.post(target, data) == expected
    assert boto3_outcome(theirs, target, data) == expected
