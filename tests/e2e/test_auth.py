"""Who may connect and what they may read: the token decides, never the client's body."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.e2e.support import Stack, new_user


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def forged(user: int) -> str:
    return jwt.encode(
        {"sub": str(user), "exp": int(time.time()) + 600}, "not-the-server-secret" * 3, "HS256"
    )


def alg_none(user: int) -> str:
    claims = {"sub": str(user), "exp": int(time.time()) + 600}
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def tampered(stack: Stack, user: int, other: int) -> str:
    """A real token whose payload was edited to name someone else."""
    header, _, signature = stack.token(user).split(".")
    return f"{header}.{_b64({'sub': str(other), 'exp': int(time.time()) + 600})}.{signature}"


def handshake_status(stack: Stack, query: str = "", headers: dict[str, str] | None = None) -> int:
    try:
        with connect(f"{stack.ws_url}{query}", additional_headers=headers, open_timeout=10):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def test_valid_token_connects_by_query_or_bearer_header(stack: Stack) -> None:
    token = stack.token(new_user())
    assert handshake_status(stack, f"?token={token}") == 101
    assert handshake_status(stack, headers={"Authorization": f"Bearer {token}"}) == 101


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda stack, u: None, id="missing"),
        pytest.param(lambda stack, u: "garbage", id="malformed"),
        pytest.param(lambda stack, u: forged(u), id="forged-signature"),
        pytest.param(lambda stack, u: alg_none(u), id="alg-none"),
        pytest.param(lambda stack, u: tampered(stack, u, u + 1), id="tampered-payload"),
    ],
)
def test_bad_tokens_are_refused_with_401(stack: Stack, make_token: object) -> None:
    token = make_token(stack, new_user())  # type: ignore[operator]
    query = f"?token={token}" if token else ""
    assert handshake_status(stack, query) == 401
    headers = {"Authorization": f"Bearer {token}"} if token else None
    assert handshake_status(stack, headers=headers) == 401
    body = {"limit": 1}
    assert stack.post("/api/v1/messages/unread", body, token).status_code == 401
    assert (
        stack.post("/api/v1/messages/mark-read", {"message_ids": ["0" * 24]}, token).status_code
        == 401
    )


def test_expired_token_is_refused(stack: Stack) -> None:
    if stack.secret is None:
        pytest.skip("minting an expired token needs the local secret")
    expired = jwt.encode({"sub": "7", "exp": int(time.time()) - 3600}, stack.secret, "HS256")
    assert handshake_status(stack, f"?token={expired}") == 401
    assert stack.post("/api/v1/messages/unread", {}, expired).status_code == 401


def test_refused_connection_records_no_presence(stack: Stack) -> None:
    a, b = new_user(), new_user()
    assert handshake_status(stack, f"?token={forged(b)}") == 401
    with stack.chat(a) as chat_a:
        chat_a.send(b, "nobody is online as b")
    assert [m["content"] for m in stack.all_unread(b)] == ["nobody is online as b"]


def test_another_users_user_id_in_a_body_is_forbidden(stack: Stack) -> None:
    a, b = new_user(), new_user()
    with stack.chat(a) as chat_a:
        secret_id = chat_a.send(b, "private to b")["message_id"]
    token_a = stack.token(a)
    unread = stack.post("/api/v1/messages/unread", {"user_id": b}, token_a)
    mark = stack.post(
        "/api/v1/messages/mark-read", {"user_id": b, "message_ids": [secret_id]}, token_a
    )
    assert (unread.status_code, mark.status_code) == (403, 403)
    assert "error" in unread.json() and "private to b" not in unread.text
    assert [m["id"] for m in stack.all_unread(b)] == [secret_id]
    # naming yourself is fine
    assert stack.post("/api/v1/messages/unread", {"user_id": a}, token_a).status_code == 200
