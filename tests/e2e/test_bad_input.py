"""Bad frames and bodies: each gets an error with a code, the connection stays usable,
and nothing is stored."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.support import Stack, new_user

BAD_FRAMES = [
    pytest.param("this is not json", "bad_request", None, id="non-json"),
    # Both once escaped the error handling (API Gateway's bare "Internal server error").
    pytest.param(
        {"to": "TO", "content": "x", "ack_id": "\ud800"}, "bad_request", None, id="lone-surrogate"
    ),
    pytest.param("[" * 5000 + "]" * 5000, "bad_request", None, id="nested-5000-deep"),
    pytest.param("[1, 2, 3]", "bad_request", None, id="array"),
    pytest.param('"send"', "bad_request", None, id="string"),
    pytest.param("{}", "bad_request", None, id="no-action"),
    pytest.param('{"action": "teleport"}', "bad_request", None, id="unknown-action"),
    pytest.param(
        {"to": "TO", "content": 5, "ack_id": "w1"}, "bad_request", "w1", id="content-not-string"
    ),
    pytest.param(
        {"to": "2", "content": "x", "ack_id": "w2"}, "bad_request", "w2", id="to-as-string"
    ),
    pytest.param(
        {"to": {"$ne": None}, "content": "x", "ack_id": "w3"}, "bad_request", "w3", id="operator-to"
    ),
    pytest.param(
        {"to": "TO", "content": "x", "ack_id": {"$gt": ""}}, "bad_request", None, id="operator-ack"
    ),
    pytest.param(
        {"to": "TO", "content": "x" * 8001, "ack_id": "w4"},
        "too_large",
        "w4",
        id="oversize-content",
    ),
    pytest.param(
        {"to": "TO", "content": "x", "ack_id": "a" * 200}, "bad_request", None, id="ack-id-200"
    ),
    pytest.param(
        {"to": "TO", "content": "", "ack_id": "w5"}, "bad_request", "w5", id="empty-content"
    ),
    pytest.param(
        {"to": "TO", "content": "x", "ack_id": "w6", "msg_type": "text"},
        "bad_request",
        "w6",
        id="msg-type-string",
    ),
    pytest.param({"to": "TO", "content": "x"}, "bad_request", None, id="no-ack-id"),
    # v1 refused every group message; v1.1 has groups, and this one does not exist.
    pytest.param({"group_id": 5, "content": "x", "ack_id": "w7"}, "not_found", "w7", id="group"),
    pytest.param(
        {"to": "TO", "group_id": 5, "content": "x", "ack_id": "w8"},
        "bad_request",
        "w8",
        id="user-and-group",
    ),
    pytest.param(
        {"group_id": True, "content": "x", "ack_id": "w9"}, "bad_request", "w9", id="group-bool"
    ),
    pytest.param(
        {"group_id": 2**53, "content": "x", "ack_id": "w10"}, "bad_request", "w10", id="group-big"
    ),
]


@pytest.mark.parametrize(("frame", "code", "ack_id"), BAD_FRAMES)
def test_bad_frame_gets_an_error_and_stores_nothing(
    stack: Stack, frame: str | dict[str, object], code: str, ack_id: str | None
) -> None:
    a, b = new_user(), new_user()
    if isinstance(frame, dict):
        body = {"action": "send", **{k: (b if v == "TO" else v) for k, v in frame.items()}}
        raw = json.dumps(body)
    else:
        raw = frame
    with stack.chat(a) as chat:
        chat.send_raw(raw)
        error = chat.expect("error")
        assert error["code"] == code
        assert error["error"]
        assert error.get("ack_id") == ack_id
        content = frame.get("content") if isinstance(frame, dict) else None
        if isinstance(content, str) and len(content) > 20:
            assert content[:20] not in error["error"]  # never echoes content
        chat.ping()  # the connection is still usable
        assert chat.send(b, "after the bad frame")["type"] == "ack"
    assert [m["content"] for m in stack.all_unread(b)] == ["after the bad frame"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/messages/unread", b"not json"),
        ("/api/v1/messages/unread", b"[]"),
        ("/api/v1/messages/unread", b'{"user_id": {"$ne": null}}'),
        ("/api/v1/messages/unread", b'{"limit": 0}'),
        ("/api/v1/messages/unread", b'{"limit": 501}'),
        ("/api/v1/messages/unread", b'{"limit": "10"}'),
        ("/api/v1/messages/unread", b'{"cursor": "%%%"}'),
        ("/api/v1/messages/unread", b'{"cursor": {"$gt": ""}}'),
        ("/api/v1/messages/unread", b'{"status": 1}'),
        ("/api/v1/messages/mark-read", b"{}"),
        ("/api/v1/messages/mark-read", b'{"message_ids": []}'),
        ("/api/v1/messages/mark-read", b'{"message_ids": "all"}'),
        ("/api/v1/messages/mark-read", b'{"message_ids": [{"$ne": null}]}'),
        ("/api/v1/messages/mark-read", b'{"message_ids": ["zzzzzzzzzzzzzzzzzzzzzzzz"]}'),
        ("/api/v1/messages/mark-read", b'{"message_ids": ["MARK", "short"]}'),
    ],
)
def test_bad_rest_bodies_are_400_and_change_nothing(stack: Stack, path: str, body: bytes) -> None:
    a, b = new_user(), new_user()
    with stack.chat(a) as chat:
        mid = chat.send(b, "stays unread")["message_id"]
    response = stack.post(path, body.replace(b"MARK", mid.encode()), stack.token(b))
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str) and response.json()["error"]
    assert [m["id"] for m in stack.all_unread(b)] == [mid]


def test_mark_read_over_1000_ids_is_refused(stack: Stack) -> None:
    ids = [f"{i:024x}" for i in range(1001)]
    response = stack.post(
        "/api/v1/messages/mark-read", {"message_ids": ids}, stack.token(new_user())
    )
    assert response.status_code == 400


@pytest.mark.parametrize("path", ["/api/v1/messages/unread", "/api/v1/messages/mark-read"])
def test_a_body_that_is_not_declared_json_gets_the_usual_error_shape(
    stack: Stack, path: str
) -> None:
    response = httpx.post(
        f"{stack.rest_url}{path}",
        content=b"{}",
        headers={
            "Authorization": f"Bearer {stack.token(new_user())}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 415
    assert list(response.json()) == ["error"]
    assert "media type" in response.json()["error"]
