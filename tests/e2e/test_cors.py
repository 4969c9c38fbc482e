"""Browsers: preflights and responses grant CORS to the configured origins only."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.support import Stack, new_user

ALLOWED = "https://chat.example.test"
PATHS = ["/api/v1/messages/unread", "/api/v1/messages/mark-read"]


@pytest.fixture
def cors_stack(local_stack: Stack) -> Stack:
    return local_stack  # the local stack is configured with ALLOWED in its origins


@pytest.mark.parametrize("path", PATHS)
def test_preflight_from_an_allowed_origin_is_granted(cors_stack: Stack, path: str) -> None:
    response = httpx.options(
        f"{cors_stack.rest_url}{path}",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers


@pytest.mark.parametrize("path", PATHS)
def test_preflight_from_another_origin_is_refused(cors_stack: Stack, path: str) -> None:
    response = httpx.options(
        f"{cors_stack.rest_url}{path}",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


def test_responses_carry_the_grant_for_allowed_origins_only(cors_stack: Stack) -> None:
    token = cors_stack.token(new_user())
    url = f"{cors_stack.rest_url}/api/v1/messages/unread"
    ok = httpx.post(url, json={}, headers={"Authorization": f"Bearer {token}", "Origin": ALLOWED})
    refused = httpx.post(url, json={}, headers={"Origin": ALLOWED})  # no token: 401
    other = httpx.post(
        url, json={}, headers={"Authorization": f"Bearer {token}", "Origin": "https://evil.example"}
    )
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ALLOWED
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == ALLOWED  # the page can read why
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
