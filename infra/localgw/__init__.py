"""A local API Gateway for any Chalice app: WebSocket API, REST API and Management API.

Runs the app's real Lambda handlers in-process with the events API Gateway sends
(shared/specs/local-gateway.md; docs/local-gateway.md for usage). Lives outside
`chalicelib/`, so it never ships in a Lambda bundle.
"""

from infra.localgw.server import LocalGateway
from infra.localgw.settings import GatewayUrls, Limits

__all__ = ["GatewayUrls", "Limits", "LocalGateway"]
