"""WebSocket `$connect` (authenticate, register presence) and `$disconnect`
(unregister). Kept apart from `$default` so a `$connect` cold start imports only what
it needs: the token verifier and Redis, not MongoDB or the frame models."""

from __future__ import annotations

from typing import Any

from chalicelib.auth import connect_token
from chalicelib.deps import Services
from chalicelib.errors import ImError, Unauthorized
from chalicelib.observability import count, logger

_ACCEPT = {"statusCode": 200}


def on_connect(event: Any, services: Services) -> dict[str, Any]:
    raw = event.to_dict()
    token = connect_token(raw.get("queryStringParameters"), raw.get("headers"))
    try:
        if token is None:
            raise Unauthorized("missing token")
        verified = services.verifier.verify(token)
    except Unauthorized as err:
        count("AuthFailures")
        logger.info("connect refused", extra={"reason": err.message})
        return {"statusCode": 401}
    except ImError as err:  # the token cannot be checked now (JWKS down): 503, retry
        logger.warning("connect failed", extra={"code": err.code})
        return {"statusCode": err.status}
    try:
        # Registered until the token expires, and refused past the per-user cap.
        services.sessions.bind(
            event.connection_id, verified.user, verified.expires_at, verified.issued_at
        )
    except ImError as err:
        if err.status == 429:
            count("ConnectionsRefused")
        logger.warning("connect failed", extra={"code": err.code})
        return {"statusCode": err.status}
    count("Connections")
    logger.info("connected", extra={"user_id": verified.user})
    return _ACCEPT


def on_disconnect(event: Any, services: Services) -> dict[str, Any]:
    services.sessions.forget(event.connection_id)
    try:
        services.presence.remove(event.connection_id)
    except ImError as err:  # best-effort, like $disconnect itself: the entry expires
        logger.warning("disconnect cleanup failed", extra={"code": err.code})
    return _ACCEPT
