"""make dev's local-only routes (infra/dev/web.py), served in-process over ASGI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import jwt
import pytest
from starlette.routing import Router

from infra.dev.web import dev_routes, host_name, is_loopback, page_url, parse_user_id

SECRET = "dev-web-unit-test-secret-" + "0123456789abcdef" * 2


def call(
    data_dir: Path,
    method: str,
    path: str,
    *,
    client: str = "127.0.0.1",
    host: str = "127.0.0.1:8000",
    **kwargs: object,
) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(
            app=Router(routes=dev_routes(data_dir, SECRET)), client=(client, 50000)
        )
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as http:
            return await http.request(method, path, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def test_token_for_a_user_id(tmp_path: Path) -> None:
    response = call(tmp_path, "POST", "/_dev/token", json={"user_id": 42})

    assert response.status_code == 200
    body = response.json()
    claims = jwt.decode(body["token"], SECRET, algorithms=["HS256"])
    assert (claims["sub"], body["user_id"]) == ("42", "42")
    assert response.headers["cache-control"] == "no-store"


def test_a_decimal_string_keeps_64_bit_ids_exact(tmp_path: Path) -> None:
    big = str(2**63 - 1)
    response = call(tmp_path, "POST", "/_dev/token", json={"user_id": big})
    assert jwt.decode(response.json()["token"], SECRET, algorithms=["HS256"])["sub"] == big


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"user_id": 0},
        {"user_id": -3},
        {"user_id": 2**63},
        {"user_id": True},
        {"user_id": 1.5},
        {"user_id": "1e3"},
        {"user_id": [1]},
        [1],
    ],
)
def test_bad_user_ids_are_400(tmp_path: Path, body: object) -> None:
    response = call(tmp_path, "POST", "/_dev/token", json=body)
    assert response.status_code == 400 and "error" in response.json()


def test_bodies_that_are_not_json_are_400(tmp_path: Path) -> None:
    not_json = call(
        tmp_path, "POST", "/_dev/token", content=b"{", headers={"content-type": "application/json"}
    )
    plain = call(tmp_path, "POST", "/_dev/token", content=b'{"user_id": 1}')
    huge = call(tmp_path, "POST", "/_dev/token", json={"user_id": 1, "pad": "x" * 2000})
    assert [r.status_code for r in (not_json, plain, huge)] == [400, 400, 400]


@pytest.mark.parametrize(
    ("client", "host", "origin"),
    [
        ("192.168.1.20", "127.0.0.1:8000", None),  # another machine
        ("127.0.0.1", "evil.example:8000", None),  # DNS rebinding
        ("127.0.0.1", "127.0.0.1:8000", "https://evil.example"),  # another site
        ("127.0.0.1", "127.0.0.1:8000", "null"),
    ],
)
def test_tokens_only_for_this_machine_and_this_page(
    tmp_path: Path, client: str, host: str, origin: str | None
) -> None:
    headers = {"origin": origin} if origin else {}
    response = call(
        tmp_path,
        "POST",
        "/_dev/token",
        client=client,
        host=host,
        json={"user_id": 1},
        headers=headers,
    )
    assert response.status_code == 403
    assert "token" not in response.json()


def test_same_origin_page_gets_a_token(tmp_path: Path) -> None:
    response = call(
        tmp_path,
        "POST",
        "/_dev/token",
        host="localhost:8000",
        json={"user_id": 1},
        headers={"origin": "http://localhost:8000"},
    )
    assert response.status_code == 200


def test_config_uses_the_host_the_page_was_opened_on(tmp_path: Path) -> None:
    assert call(tmp_path, "GET", "/_dev/config").status_code == 503  # not started yet
    endpoints = {"ws_url": "ws://127.0.0.1:8000/api", "rest_url": "http://127.0.0.1:8000/api"}
    (tmp_path / "local-endpoints.json").write_text(json.dumps(endpoints))

    response = call(tmp_path, "GET", "/_dev/config", host="localhost:8000")

    assert response.json() == {
        "ws_url": "ws://localhost:8000/api",
        "rest_url": "http://localhost:8000/api",
    }


def test_the_page_and_its_scripts_are_served(tmp_path: Path) -> None:
    assert call(tmp_path, "GET", "/web").headers["location"].endswith("/web/index.html")
    page = call(tmp_path, "GET", "/web/index.html")
    script = call(tmp_path, "GET", "/web/chat.js")
    assert page.status_code == 200 and 'src="app.js"' in page.text
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert call(tmp_path, "GET", "/web/../infra/dev/tokens.py").status_code == 404


# Encoded traversal, a NUL byte, a byte that is not UTF-8, a file that is not there.
ESCAPING_PATHS = (
    "/web/%2e%2e/%2e%2e/etc/passwd",
    "/web/%2e%2e/infra/dev/tokens.py",
    "/web/..%2f..%2fetc%2fpasswd",
    "/web/index.html%00.js",
    "/web/%ff",
    "/web/no-such-file.js",
)


@pytest.mark.parametrize("path", ESCAPING_PATHS)
def test_paths_outside_the_page_are_404(tmp_path: Path, path: str) -> None:
    response = call(tmp_path, "GET", path)

    assert response.status_code == 404
    assert "root:" not in response.text and "mint" not in response.text


def test_helpers() -> None:
    assert page_url("http://127.0.0.1:8000/api") == "http://127.0.0.1:8000/web/index.html"
    assert [host_name(a) for a in ("127.0.0.1:80", "[::1]:80", "localhost")] == [
        "127.0.0.1",
        "::1",
        "localhost",
    ]
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.1", "::1", "app.localhost"))
    assert not any(is_loopback(h) for h in ("10.0.0.1", "example.com", "", "localhost.evil"))
    assert parse_user_id("007") == 7 and parse_user_id("٣") is None
