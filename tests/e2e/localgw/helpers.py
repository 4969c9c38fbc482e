"""Clients for driving a local gateway the way real callers do: `websockets`, boto3, httpx."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import boto3
import httpx
from botocore.config import Config
from websockets.sync.client import ClientConnection, connect

from infra.localgw import GatewayUrls

EXAMPLE_APP = Path(__file__).parent / "example_app"

T = TypeVar("T")


def ws_connect(url: str, **kwargs: Any) -> ClientConnection:
    kwargs.setdefault("open_timeout", 5)
    kwargs.setdefault("close_timeout", 2)
    kwargs.setdefault("legacy", True)  # a plain connection the caller owns and closes
    connection: ClientConnection = connect(url, **kwargs)
    return connection


def recv_json(ws: ClientConnection, timeout: float = 5.0) -> Any:
    return json.loads(ws.recv(timeout=timeout))


def whoami(ws: ClientConnection) -> str:
    ws.send(json.dumps({"action": "whoami"}))
    connection_id: str = recv_json(ws)["connection_id"]
    return connection_id


def management_client(endpoint_url: str) -> Any:
    """boto3's real apigatewaymanagementapi client, with dummy credentials, no retries."""
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=16),
    )


def recorded_events(urls: GatewayUrls) -> list[dict[str, Any]]:
    """Every WebSocket event the example app received, through its REST route."""
    response = httpx.get(f"{urls.rest_url}/events", timeout=10)
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def events_of(urls: GatewayUrls, connection_id: str) -> list[dict[str, Any]]:
    return [
        e for e in recorded_events(urls) if e["requestContext"]["connectionId"] == connection_id
    ]


def wait_for(probe: Callable[[], T | None], timeout: float = 5.0, what: str = "condition") -> T:
    """Poll until `probe` returns something truthy ($disconnect fires after the close)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def disconnect_event(urls: GatewayUrls, connection_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = [
            e
            for e in events_of(urls, connection_id)
            if e["requestContext"]["eventType"] == "DISCONNECT"
        ]
        return found[0] if found else None

    return wait_for(probe, what=f"$disconnect of {connection_id}")


def disconnect_code(urls: GatewayUrls, connection_id: str) -> int:
    code: int = disconnect_event(urls, connection_id)["requestContext"]["disconnectStatusCode"]
    return code


def pid_alive(pid: int) -> bool:
    """Whether a process exists and has not exited (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
