"""The stack under test.

Local (default): `python -m infra.dev` -- what `make dev` runs -- on a free port, using
the session's FerretDB/MongoDB and Redis and a database of its own.

Remote: with IM_E2E_WS_URL, IM_E2E_REST_URL and IM_E2E_TOKEN_CMD (a command that prints
a JWT for the user id appended to it) the same tests run against any deployment
(`make e2e WS_URL=... REST_URL=... TOKEN_CMD=...`). Tests that need the local gateway's
test API (dropping a connection without $disconnect) or the servers themselves are
skipped there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from infra.dev import launcher
from infra.dev.tokens import mint
from infra.services import Service
from tests.e2e.support import Stack, token_from_command

ROOT = launcher.ROOT


@contextmanager
def running_stack(
    data_dir: Path, env: dict[str, str], args: tuple[str, ...] = ()
) -> Iterator[Stack]:
    """The local stack as `make dev` runs it (with `args`), seen through the test client."""
    with launcher.running_stack(data_dir, env, args=args) as running:
        info, secret = running.endpoints, running.secret
        stack = Stack(
            ws_url=info["ws_url"],
            rest_url=info["rest_url"],
            token_for=lambda user: mint(user, secret),
            admin_url=info["admin_url"],
            secret=secret,
            extra={"data_dir": data_dir, "process": running.process, "info": info},
        )
        try:
            yield stack
        finally:
            stack.close()


def remote_stack() -> Stack | None:
    ws_url = os.environ.get("IM_E2E_WS_URL")
    if not ws_url:
        return None
    return Stack(
        ws_url=ws_url.rstrip("/"),
        rest_url=os.environ["IM_E2E_REST_URL"].rstrip("/"),
        token_for=token_from_command(os.environ["IM_E2E_TOKEN_CMD"]),
    )


@pytest.fixture(scope="session")
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    remote = remote_stack()
    if remote is not None:
        try:
            yield remote
        finally:
            remote.close()
        return
    mongo: Service = request.getfixturevalue("mongo_service")
    redis: Service = request.getfixturevalue("redis_service")
    env = {
        "MONGODB_URI": mongo.url,
        "MONGODB_DATABASE": f"e2e_{uuid.uuid4().hex[:12]}",
        "REDIS_URL": redis.url,
        # Tests send quickly from few users; the limiter has its own tests.
        "IM_SEND_RATE_LIMIT": "100000/1",
        "IM_CORS_ALLOW_ORIGINS": "https://chat.example.test,http://localhost:5173",
    }
    with running_stack(tmp_path_factory.mktemp("stack"), env) as stack:
        stack.extra["redis_url"] = redis.url
        yield stack


# v1.1 limits small enough to reach in a test: a group of three, a one-second recall window.
SMALL_GROUP_MAX_MEMBERS = 3
SHORT_RECALL_WINDOW_SECONDS = 1


@pytest.fixture(scope="session")
def small_limits_stack(
    tmp_path_factory: pytest.TempPathFactory, mongo_service: Service, redis_service: Service
) -> Iterator[Stack]:
    """A second local stack, started only by the tests that use it, with its own
    database and the limits above (always local: the limits are its configuration)."""
    env = {
        "MONGODB_URI": mongo_service.url,
        "MONGODB_DATABASE": f"e2e_small_{uuid.uuid4().hex[:8]}",
        "REDIS_URL": redis_service.url,
        "IM_SEND_RATE_LIMIT": "100000/1",
        "IM_GROUP_MAX_MEMBERS": str(SMALL_GROUP_MAX_MEMBERS),
        "IM_RECALL_WINDOW_SECONDS": str(SHORT_RECALL_WINDOW_SECONDS),
    }
    with running_stack(tmp_path_factory.mktemp("small-limits"), env) as stack:
        yield stack


@pytest.fixture
def local_stack(stack: Stack) -> Stack:
    if not stack.local:
        pytest.skip("needs the local gateway's test API")
    return stack
