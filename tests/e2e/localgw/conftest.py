"""Gateways for the local gateway's end-to-end tests, always stopped, also on failure.

`gateway` is shared by the whole directory (short integration timeout, AWS quotas
otherwise). When it stops, every WebSocket event it emitted during the run is parsed
with Powertools' Parser models: a failure there means some event shape drifted.
`start_gateway` starts extra gateways with their own limits, stopped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from pydantic import BaseModel

from infra.localgw import Limits, LocalGateway
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


@pytest.fixture(scope="session")
def gateway() -> Iterator[LocalGateway]:
    gw = LocalGateway(EXAMPLE_APP, limits=SHARED_LIMITS)
    gw.start()
    try:
        yield gw
        events = recorded_events(gw.urls)
    finally:
        gw.stop()
    for event in events:
        validate_event(event)


@pytest.fixture
def start_gateway() -> Iterator[Callable[..., LocalGateway]]:
    started: list[LocalGateway] = []

    def start(app_dir: Path = EXAMPLE_APP, **kwargs: Any) -> LocalGateway:
        gw = LocalGateway(app_dir, **kwargs)
        started.append(gw)
        gw.start()
        return gw

    try:
        yield start
    finally:
        for gw in reversed(started):
            gw.stop()
