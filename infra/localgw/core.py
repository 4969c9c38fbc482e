"""State shared by the gateway's endpoints: the invoker, the connections, the limits."""

from __future__ import annotations

import time
from dataclasses import dataclass

from infra.localgw.connections import ConnectionRegistry
from infra.localgw.invokers import IntegrationTimeoutError, Invoker
from infra.localgw.settings import Clock, ConnectionThrottle, GatewayUrls, Limits

__all__ = ["GatewayCore", "IntegrationTimeoutError"]


@dataclass
class GatewayCore:
    invoker: Invoker
    registry: ConnectionRegistry
    limits: Limits
    urls: GatewayUrls
    stage: str
    api_id: str
    clock: Clock = time.time
    throttle: ConnectionThrottle | None = None
    # Set when the gateway stops: nothing new is invoked ($disconnect included), so
    # shutdown never waits on application code.
    shutting_down: bool = False
    # Route keys configured for two-way communication (a $default route response):
    # their handlers' results are sent back as a frame. Chalice creates none.
    route_responses: frozenset[str] = frozenset()

    def has_route(self, route_key: str) -> bool:
        return route_key in self.invoker.route_keys
