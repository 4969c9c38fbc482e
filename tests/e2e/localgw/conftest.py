"""Gateways for the local gateway's end-to-end tests, always stopped, also on failure.

Every gateway test runs once per runtime (`runtime`: handlers in the gateway's threads,
and in worker processes like Lambda containers). `gateway` is shared by the session
for each runtime (short integration timeout, AWS quotas otherwise; with processes,
two containers per function are pre-warmed so a 1 s timeout is not spent on cold
starts). When it stops, every WebSocket event it emitted during the run is parsed
with Powertools' Parser models: a failure there means some event shape drifted.
`start_gateway` starts extra gateways with their own limits, stopped after the test;
`start_module_gateway` the same, stopped after the module. Each gateway gets its own
EXAMPLE_STATE_DIR, where the example app keeps what its functions share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from pydantic import BaseModel

from infra.localgw import Limits, LocalGateway, WorkerSettings
from infra.localgw.server import RUNTIMES
from tests.e2e.localgw.helpers import EXAMPLE_APP, recorded_events

SHARED_LIMITS = Limits(integration_timeout=1.0)

EVENT_MODELS: dict[str, type[BaseModel]] = {
    "CONNECT": APIGatewayWebSocketConnectEventModel,
    "MESSAGE": APIGatewayWebSocketMessageEventModel,
    "DISCONNECT": APIGatewayWebSocketDisconnectEventModel,
}


def validate_event(event: dict[str, Any]) -> BaseModel:
    model = EVENT_MODELS[event["requestContext"]["eventType"]]
    return model.model_validate(event)


@pytest.fixture(scope="session", params=RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    runtime: str = request.param
    return runtime


def gateway_options(runtime: str, state_dir: Path, **kwargs: Any) -> dict[str, Any]:
    """LocalGateway keyword arguments: the runtime, and the example app's state dir."""
    kwargs.setdefault("runtime", runtime)
    kwargs["env"] = {"EXAMPLE_STATE_DIR": str(state_dir), **kwargs.get("env", {})}
    return kwargs


@pytest.fixture(scope="session")
def gateway(runtime: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGateway]:
    options = gateway_options(runtime, tmp_path_factory.mktemp("state"), limits=SHARED_LIMITS)
    if runtime == "processes":
        options["workers"] = WorkerSettings(prewarm=2)
    gw = LocalGateway(EXAMPLE_APP, **options)
    gw.start()
    try:
        yield gw
        events = recorded_events(gw.urls)
    finally:
        gw.stop()
    for event in events:
        validate_event(event)


@contextmanager
def _gateways(
    runtime: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., LocalGateway]]:
    started: list[LocalGateway] = []

    def start(app_dir: Path = EXAMPLE_APP, **kwargs: Any) -> LocalGateway:
        options = gateway_options(runtime, tmp_path_factory.mktemp("state"), **kwargs)
        gw = LocalGateway(app_dir, **options)
        started.append(gw)
        gw.start()
        return gw

    try:
        yield start
    finally:
        for gw in reversed(started):
            gw.stop()


@pytest.fixture
def start_gateway(
    runtime: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., LocalGateway]]:
    with _gateways(runtime, tmp_path_factory) as start:
        yield start


@pytest.fixture(scope="module")
def start_module_gateway(
    runtime: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., LocalGateway]]:
    with _gateways(runtime, tmp_path_factory) as start:
        yield start


@pytest.fixture
def start_processes_gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., LocalGateway]]:
    """Gateways with the processes runtime, for tests of the containers themselves."""
    with _gateways("processes", tmp_path_factory) as start:
        yield start
