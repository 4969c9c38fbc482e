"""Local-only routes of `make dev`: the browser chat page and the token endpoint it uses.

    GET  /web/index.html   the page (clients/web/, static files, no build step)
    GET  /_dev/config      {"ws_url", "rest_url"} of this stack, on the host the page used
    POST /_dev/token       {"user_id": <int or decimal string>} -> {"token", "user_id",
                           "expires_in"}: a JWT signed with the stack's local secret

These exist only in the dev server, never in the deployed app: deployed stages verify
tokens from their own issuer and mint none. Even locally the token endpoint answers
only loopback clients that name a loopback host (so neither another machine nor a web
page on another site, through DNS rebinding or a cross-site form, can get tokens).
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from urllib.parse import urlsplit

from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from chalicelib.models import USER_ID_MAX
from infra.dev import ENDPOINTS_FILE
from infra.dev.tokens import DEFAULT_TTL_SECONDS, mint

WEB_DIR = Path(__file__).resolve().parents[2] / "clients" / "web"
PAGE_PATH = "/web/index.html"
MAX_BODY_BYTES = 1024
LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "127.0.0.1", "::1"})


def _error(status: int, text: str) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=status)


def is_loopback(host: str) -> bool:
    """A loopback address or name: `127.x.y.z`, `::1`, `localhost`, `*.localhost`."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(authority: str) -> str:
    """`127.0.0.1` from `127.0.0.1:8000`, `::1` from `[::1]:8000`."""
    return urlsplit(f"//{authority}").hostname or ""


def parse_user_id(value: object) -> int | None:
    """An int, or a decimal string (JavaScript numbers lose digits past 2^53)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if type(value) is int and 1 <= value <= USER_ID_MAX:
        return value
    return None


def local_request_refusal(request: Request) -> str | None:
    """Why a token must not be handed to this request, or None."""
    client = request.client.host if request.client else ""
    if not is_loopback(client):
        return "tokens are handed out to this machine only"
    authority = request.headers.get("host", "")
    if not is_loopback(host_name(authority)):
        return "open the page on localhost or 127.0.0.1"
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != authority:
        return "cross-site requests are refused"
    return None


class TokenEndpoint:
    def __init__(self, secret: str, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._secret = secret
        self._ttl = ttl_seconds

    async def handle(self, request: Request) -> JSONResponse:
        refusal = local_request_refusal(request)
        if refusal is not None:
            return _error(403, refusal)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _error(400, "send a JSON body with Content-Type: application/json")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(400, "body too large")
        try:
            data = json.loads(body)
        except ValueError:
            return _error(400, "body is not valid JSON")
        user = parse_user_id(data.get("user_id")) if isinstance(data, dict) else None
        if user is None:
            return _error(400, "`user_id` must be a whole number from 1 to 2^63-1")
        token = mint(user, self._secret, self._ttl)
        # A string id: JavaScript cannot hold every 64-bit integer exactly.
        return JSONResponse(
            {"token": token, "user_id": str(user), "expires_in": self._ttl},
            headers={"Cache-Control": "no-store"},
        )


class ConfigEndpoint:
    """The stack's URLs with the host the browser used, so REST calls stay same-origin."""

    def __init__(self, data_dir: Path) -> None:
        self._endpoints = data_dir / ENDPOINTS_FILE

    async def handle(self, request: Request) -> JSONResponse:
        try:
            info = json.loads(self._endpoints.read_text())
            ws_path, rest_path = urlsplit(info["ws_url"]).path, urlsplit(info["rest_url"]).path
        except (OSError, ValueError, KeyError, TypeError):
            return _error(503, "the stack is still starting")
        authority = request.headers.get("host") or request.url.netloc
        secure = request.url.scheme == "https"
        return JSONResponse(
            {
                "ws_url": f"{'wss' if secure else 'ws'}://{authority}{ws_path}",
                "rest_url": f"{'https' if secure else 'http'}://{authority}{rest_path}",
            }
        )


def page_url(rest_url: str) -> str:
    """The page's address on the gateway serving `rest_url`."""
    parts = urlsplit(rest_url)
    return f"{parts.scheme}://{parts.netloc}{PAGE_PATH}"


async def _to_page(_request: Request) -> RedirectResponse:
    return RedirectResponse(PAGE_PATH)


def dev_routes(data_dir: Path, secret: str) -> list[BaseRoute]:
    """The routes `make dev` serves beside the app (LocalGateway(extra_routes=...))."""
    return [
        Route("/_dev/token", TokenEndpoint(secret).handle, methods=["POST"]),
        Route("/_dev/config", ConfigEndpoint(data_dir).handle, methods=["GET"]),
        Route("/web", _to_page, methods=["GET"]),
        # StaticFiles refuses a missing or escaping path (`/web/%2e%2e/...`, a NUL byte)
        # by raising HTTPException; the gateway's router has no exception middleware of
        # its own, so this mount carries one and those paths are 404s, not 500s.
        Mount(
            "/web",
            app=ExceptionMiddleware(StaticFiles(directory=WEB_DIR, html=True)),
            name="web",
        ),
    ]
