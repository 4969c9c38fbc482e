"""A local API Gateway for any Chalice app: WebSocket API, REST API and Management API.

Runs the app's real Lambda handlers with the events API Gateway sends, in worker
processes like Lambda containers or in the gateway's own threads
(shared/specs/local-gateway.md; docs/local-gateway.md for usage). Lives outside
`chalicelib/`, so it never ships in a Lambda bundle.

The names below are imported on first use: a worker process imports
`infra.localgw.worker` and must not pay for the server (uvicorn, Starlette) on every
cold start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.localgw.server import LocalGateway
    from infra.localgw.settings import GatewayUrls, Limits, WorkerSettings

__all__ = ["GatewayUrls", "Limits", "LocalGateway", "WorkerSettings"]

_HOMES = {
    "LocalGateway": "infra.localgw.server",
    "GatewayUrls": "infra.localgw.settings",
    "Limits": "infra.localgw.settings",
    "WorkerSettings": "infra.localgw.settings",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
