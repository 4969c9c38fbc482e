"""Where the client connects and with which token: the local stack or a deployment.

Local: `make dev` wrote DATA_DIR/local-endpoints.json, and a token is minted for the
user with the stack's secret, as `make token` does (a fresh one per connection, so a
client left running outlives any token's expiry). Deployment: the URLs and a token
are given.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from clients.terminal.messages import token_user

# The file infra/dev/__main__.py writes when the stack is ready.
ENDPOINTS_FILE = "local-endpoints.json"


class TargetError(Exception):
    """The client cannot tell where to connect; the message says what to do."""


@dataclass(frozen=True)
class Target:
    ws_url: str
    rest_url: str
    token: Callable[[], str]
    user: int | None


def local_target(data_dir: Path, user: int) -> Target:
    endpoints = data_dir / ENDPOINTS_FILE
    try:
        info = json.loads(endpoints.read_text())
        ws_url, rest_url = str(info["ws_url"]), str(info["rest_url"])
    except FileNotFoundError:
        raise TargetError(
            f"no local stack in {data_dir}: start `make dev` first "
            "(or give --ws-url, --rest-url and --token for a deployment)"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise TargetError(f"{endpoints} is not what `make dev` writes") from exc
    # Local-only tooling: imported here so that a deployment needs none of infra/.
    from infra.dev.tokens import local_secret, mint

    secret = local_secret(data_dir)
    return Target(ws_url, rest_url, lambda: mint(user, secret), user)


def deployment_target(ws_url: str, rest_url: str, token: str) -> Target:
    if not ws_url.startswith(("ws://", "wss://")):
        raise TargetError("--ws-url must start with ws:// or wss://")
    if not rest_url.startswith(("http://", "https://")):
        raise TargetError("--rest-url must start with http:// or https://")
    token = token.strip()
    if token.count(".") != 2:
        raise TargetError("--token is not a JWT")
    return Target(ws_url.rstrip("/"), rest_url.rstrip("/"), lambda: token, token_user(token))
