"""A connection acts as its user for as long as its token lives: refused and closed
after it, renewed by an `auth` frame, and back in presence after Redis lost it."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import redis
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from infra.dev.launcher import ROOT
from infra.dev.tokens import mint
from tests.e2e.support import Chat, Stack, new_user


def chat_with_token(stack: Stack, user: int, ttl: int) -> Chat:
    assert stack.secret is not None
    token = mint(user, stack.secret, ttl_seconds=ttl)
    return Chat(connect(f"{stack.ws_url}?token={token}", open_timeout=10, legacy=True), user)


def test_after_its_token_expires_a_connection_is_refused_and_closed(local_stack: Stack) -> None:
    a, b = new_user(), new_user()
    with chat_with_token(local_stack, a, ttl=2) as chat:
        assert chat.send(b, "while the token lives")["type"] == "ack"
        time.sleep(2.2)
        refused = chat.send(b, "after it expired", ack_id="late-1")
        assert (refused["type"], refused["code"], refused["ack_id"]) == (
            "error",
            "unauthorized",
            "late-1",
        )
        deadline = time.monotonic() + 5
        while not chat.closed and time.monotonic() < deadline:
            time.sleep(0.02)
        assert chat.closed  # the server closed it: the client must reconnect
    assert [m["content"] for m in local_stack.all_unread(b)] == ["while the token lives"]


def test_an_auth_frame_renews_the_session_without_reconnecting(local_stack: Stack) -> None:
    assert local_stack.secret is not None
    a, b = new_user(), new_user()
    with chat_with_token(local_stack, a, ttl=2) as chat:
        chat.send_frame({"action": "auth", "token": mint(a, local_stack.secret, 3600)})
        renewed = chat.expect("authenticated")
        assert renewed["user_id"] == a and renewed["expires_at"].endswith("Z")
        time.sleep(2.2)
        assert chat.send(b, "on the renewed session")["type"] == "ack"


def test_a_connection_cannot_become_another_user(local_stack: Stack) -> None:
    assert local_stack.secret is not None
    a, b = new_user(), new_user()
    with local_stack.chat(a) as chat:
        chat.send_frame(
            {"action": "auth", "token": mint(b, local_stack.secret), "request_id": "switch"}
        )
        error = chat.expect("error")
        assert (error["code"], error["request_id"]) == ("forbidden", "switch")
        ack = chat.send(new_user(), "still me")
        assert ack["type"] == "ack"
    assert local_stack.all_unread(b) == []


def test_pushes_resume_once_a_connection_that_presence_lost_says_anything(
    local_stack: Stack,
) -> None:
    client = redis.Redis.from_url(local_stack.extra["redis_url"], decode_responses=True)
    a, b = new_user(), new_user()
    before = local_stack.connection_ids()
    with local_stack.chat(b) as chat_b, local_stack.chat(a) as chat_a:
        b_id = next(
            c
            for c in local_stack.connection_ids() - before
            if str(client.get(f"im:conn:{{c:{c}}}") or "").startswith(f"{b}:")
        )
        # What a Redis restart without persistence does to this connection's entries.
        client.delete(f"im:conn:{{c:{b_id}}}", f"im:user:{{u:{b}}}")
        assert chat_a.send(b, "while b is lost")["type"] == "ack"
        assert chat_b.pending() == []  # nobody knew where b was
        chat_b.ping_signed_in(local_stack.token(b))  # anything b sends puts it back
        assert chat_a.send(b, "after b spoke")["type"] == "ack"
        assert chat_b.expect("message")["message"]["content"] == "after b spoke"
    # what was not pushed waited as unread
    assert [m["content"] for m in local_stack.all_unread(b)] == [
        "while b is lost",
        "after b spoke",
    ]


def test_revoking_a_user_closes_their_connections_and_refuses_their_old_tokens(
    local_stack: Stack,
) -> None:
    assert local_stack.secret is not None
    user = new_user()
    old_token = local_stack.token(user)
    phone, laptop = local_stack.chat(user), local_stack.chat(user)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.deploy.revoke",
            "--user",
            str(user),
            "--data-dir",
            str(local_stack.extra["data_dir"]),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "2 sessions ended, 2 connections closed" in done.stdout
    deadline = time.monotonic() + 5
    while not (phone.closed and laptop.closed) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert phone.closed and laptop.closed
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{local_stack.ws_url}?token={old_token}", open_timeout=10)
    assert refused.value.response.status_code == 401
    time.sleep(1.1)  # `iat` has one-second resolution
    with chat_with_token(local_stack, user, ttl=600) as again:
        again.ping()
