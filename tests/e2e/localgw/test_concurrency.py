"""Many connections, posts from many threads: every frame delivered exactly once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
from websockets.sync.client import ClientConnection

from infra.localgw import Limits, LocalGateway
from tests.e2e.localgw.helpers import (
    management_client,
    recv_json,
    whoami,
    ws_connect,
)

CONNECTIONS = 200
POSTS = 2000
POSTING_THREADS = 8
BROADCASTERS = 10
SENTINEL = "sentinel"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gateway(start_module_gateway: Callable[..., LocalGateway]) -> LocalGateway:
    # Its own gateway: ten handlers posting 200 frames each need more than the shared
    # gateway's 1 s integration timeout on a small machine.
    return start_module_gateway(limits=Limits(integration_timeout=20.0))


@pytest.fixture(scope="module")
def clients(gateway: LocalGateway) -> Iterator[dict[str, ClientConnection]]:
    # Shared by the module: every test drains its frames up to a sentinel.
    with ExitStack() as stack:
        connections = [
            stack.enter_context(ws_connect(gateway.urls.ws_url)) for _ in range(CONNECTIONS)
        ]
        yield {whoami(ws): ws for ws in connections}


def _drain_until_sentinel(
    gateway: LocalGateway, clients: dict[str, ClientConnection]
) -> dict[str, list[str]]:
    """Everything each client received before a sentinel posted after all other frames.

    Frames to one connection keep their order, so a duplicate would show up here."""
    client = management_client(gateway.urls.management_url)
    for connection_id in clients:
        client.post_to_connection(ConnectionId=connection_id, Data=SENTINEL.encode())
    received: dict[str, list[str]] = {}
    for connection_id, ws in clients.items():
        frames = received[connection_id] = []
        while (frame := ws.recv(timeout=10)) != SENTINEL:
            assert isinstance(frame, str)
            frames.append(frame)
    return received


def test_posts_from_several_threads_are_delivered_exactly_once(
    gateway: LocalGateway, clients: dict[str, ClientConnection]
) -> None:
    # Given 200 open connections and 2,000 distinct frames spread over them
    ids = list(clients)
    plan = [(ids[n % CONNECTIONS], f"post-{n}") for n in range(POSTS)]

    # When 8 threads post them concurrently through boto3's real client
    def post_share(thread: int) -> None:
        client = management_client(gateway.urls.management_url)
        for connection_id, data in plan[thread::POSTING_THREADS]:
            client.post_to_connection(ConnectionId=connection_id, Data=data.encode())

    with ThreadPoolExecutor(POSTING_THREADS) as pool:
        list(pool.map(post_share, range(POSTING_THREADS)))

    # Then every connection got exactly its frames, each once
    received = _drain_until_sentinel(gateway, clients)
    expected: dict[str, Counter[str]] = {connection_id: Counter() for connection_id in ids}
    for connection_id, data in plan:
        expected[connection_id][data] += 1
    assert {cid: Counter(frames) for cid, frames in received.items()} == expected
    assert sum(len(frames) for frames in received.values()) == POSTS


def test_broadcasts_from_handler_threads_are_delivered_exactly_once(
    gateway: LocalGateway, clients: dict[str, ClientConnection]
) -> None:
    # Given 10 of the 200 connections broadcasting at once: 2,000 posts made by
    # handlers running in the gateway's worker threads
    broadcasters = list(clients.items())[:BROADCASTERS]
    for n, (_, ws) in enumerate(broadcasters):
        ws.send(json.dumps({"action": "broadcast", "data": n}))

    # Then each of the 200 connections receives each broadcast once
    expected = Counter({(cid, n) for n, (cid, _) in enumerate(broadcasters)})
    for ws in clients.values():
        frames = [recv_json(ws, timeout=30) for _ in range(BROADCASTERS)]
        assert Counter((f["from"], f["data"]) for f in frames) == expected
    # And nothing else
    assert all(not frames for frames in _drain_until_sentinel(gateway, clients).values())


def test_handlers_keep_serving_during_a_post_storm(
    gateway: LocalGateway, clients: dict[str, ClientConnection]
) -> None:
    # Given thousands of posts in flight
    ids = list(clients)
    client = management_client(gateway.urls.management_url)
    with ThreadPoolExecutor(1) as pool:
        storm = pool.submit(
            lambda: [client.post_to_connection(ConnectionId=i, Data=b"storm") for i in ids * 3]
        )
        # When a handler calls back into the gateway meanwhile (GetConnection, then Post)
        probe = clients[ids[0]]
        probe.send(json.dumps({"action": "info"}))
        probe_frames = [str(probe.recv(timeout=30))]
        while probe_frames[-1] == "storm":
            probe_frames.append(str(probe.recv(timeout=30)))
        storm.result(timeout=60)
    # Then neither the event loop nor the worker pool deadlocked, and nothing was lost
    assert "connectedAt" in json.loads(probe_frames.pop())
    received = _drain_until_sentinel(gateway, clients)
    received[ids[0]] += probe_frames
    assert all(frames == ["storm"] * 3 for frames in received.values())
