"""Client frames and REST bodies: what is accepted, and the error each refusal gets."""

from __future__ import annotations

import json

import pytest

from chalicelib.errors import BadRequest, TooLarge
from chalicelib.models import MarkReadRequest, PingFrame, ReadFrame, SendFrame, UnreadRequest
from chalicelib.validation import parse_body, parse_client_frame, recover_ids


def frame(**fields: object) -> str:
    return json.dumps(fields)


def test_send_frame_with_defaults() -> None:
    got = parse_client_frame(frame(action="send", to=2, content="hi", ack_id="c-1"))
    assert got == SendFrame(action="send", to=2, content="hi", ack_id="c-1", msg_type=1)


def test_spoofed_from_and_unknown_keys_are_ignored_not_stored() -> None:
    got = parse_client_frame(
        frame(action="send", to=2, content="hi", ack_id="a", **{"from": 99, "x": {"$ne": 1}})
    )
    assert isinstance(got, SendFrame)
    assert "from" not in got.model_dump() and "x" not in got.model_dump()


def test_ping_and_read() -> None:
    assert parse_client_frame('{"action":"ping"}') == PingFrame(action="ping")
    ids = ["6745F0C2A1B2C3D4E5F60718"]
    got = parse_client_frame(frame(action="read", message_ids=ids))
    assert got == ReadFrame(action="read", message_ids=["6745f0c2a1b2c3d4e5f60718"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "body is not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('"send"', "expected a JSON object"),
        ("{}", "`action` is required"),
        ('{"action": "fly"}', "unknown action; expected one of send, ping, read, recall, auth"),
        ('{"action": 5}', "unknown action; expected one of send, ping, read, recall, auth"),
        (
            frame(action="send", content="x", ack_id="a"),
            "`to` (a user id) or `group_id` is required",
        ),
        (
            frame(action="send", to="2", content="x", ack_id="a"),
            "`to`: Input should be a valid integer",
        ),
        (
            frame(action="send", to=2.0, content="x", ack_id="a"),
            "`to`: Input should be a valid integer",
        ),
        (
            frame(action="send", to=True, content="x", ack_id="a"),
            "`to`: Input should be a valid integer",
        ),
        (
            frame(action="send", to=0, content="x", ack_id="a"),
            "`to`: Input should be greater than or equal to 1",
        ),
        (
            frame(action="send", to=2**63, content="x", ack_id="a"),
            "`to`: Input should be less than or equal to 9223372036854775807",
        ),
        (
            frame(action="send", to={"$ne": None}, content="x", ack_id="a"),
            "`to`: Input should be a valid integer",
        ),
        (
            frame(action="send", to=2, content="", ack_id="a"),
            "`content`: String should have at least 1 character",
        ),
        (
            frame(action="send", to=2, content=5, ack_id="a"),
            "`content`: Input should be a valid string",
        ),
        (frame(action="send", to=2, content="x"), "`ack_id` is required"),
        (
            frame(action="send", to=2, content="x", ack_id="a" * 65),
            "`ack_id`: String should have at most 64 characters",
        ),
        (
            frame(action="send", to=2, content="x", ack_id="a", msg_type="1"),
            "`msg_type`: Input should be a valid integer",
        ),
        (
            frame(action="send", group_id=3, to=2, content="x", ack_id="a"),
            "give `to` or `group_id`, not both",
        ),
        (
            frame(action="send", group_id=0, content="x", ack_id="a"),
            "`to` (a user id) or `group_id` is required",
        ),
        (
            frame(action="send", group_id=2**53, content="x", ack_id="a"),
            "`group_id` is an integer from 1 to 2^53-1",
        ),
        (
            frame(action="read", message_ids=["6745f0c2a1b2c3d4e5f60718"], conversation_id="g:1"),
            "give `message_ids` or `conversation_id`",
        ),
        (frame(action="read"), "give `message_ids` or `conversation_id`"),
        (
            frame(action="read", message_ids=["6745f0c2a1b2c3d4e5f60718"], seq=3),
            "`seq` goes with `conversation_id`",
        ),
        (
            frame(action="read", conversation_id="d:2:1"),
            "conversation_id is d:<lower user id>:<higher user id>",
        ),
        (
            frame(action="read", conversation_id="x:1"),
            "conversation_id is d:<user>:<user> or g:<group id>",
        ),
        (frame(action="recall"), "`message_id` is required"),
        (
            frame(action="recall", message_id="6745f0c2a1b2c3d4e5f60718", request_id=""),
            "`request_id`: String should have at least 1 character",
        ),
        (
            frame(action="read", message_ids=[]),
            "`message_ids`: List should have at least 1 item after validation, not 0",
        ),
        (
            frame(action="read", message_ids=["nope"]),
            "`message_ids.0`: String should match pattern '^[0-9a-fA-F]{24}$'",
        ),
        (
            frame(action="read", message_ids="6745f0c2a1b2c3d4e5f60718"),
            "`message_ids`: Input should be a valid array",
        ),
        ("", "empty frame"),
    ],
)
def test_bad_frames_are_bad_requests_with_a_clear_message(body: str, message: str) -> None:
    with pytest.raises(BadRequest) as err:
        parse_client_frame(body)
    assert err.value.message == message
    assert err.value.code == "bad_request"


def test_content_over_8000_characters_is_too_large() -> None:
    with pytest.raises(TooLarge) as err:
        parse_client_frame(frame(action="send", to=2, content="é" * 8001, ack_id="a"))
    assert err.value.code == "too_large"


def test_content_of_exactly_8000_characters_is_accepted() -> None:
    got = parse_client_frame(frame(action="send", to=2, content="😀" * 8000, ack_id="a"))
    assert isinstance(got, SendFrame) and len(got.content) == 8000


def test_refusal_messages_never_echo_the_input() -> None:
    secret = "s3cr3t-content"
    with pytest.raises(BadRequest) as err:
        parse_client_frame(frame(action="send", to=secret, content=secret, ack_id="a"))
    assert secret not in err.value.message


def test_unread_body_defaults_and_empty_body() -> None:
    assert parse_body(UnreadRequest, b"", 1000) == UnreadRequest(limit=100)
    assert parse_body(UnreadRequest, b'{"limit": 5, "user_id": 3}', 1000) == UnreadRequest(
        limit=5, user_id=3
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"user_id": {"$ne": null}}',
        b'{"limit": 0}',
        b'{"limit": 501}',
        b'{"limit": "10"}',
        b'{"cursor": 5}',
        b'{"cursor": {"$gt": ""}}',
        b'{"filter": {"$where": "1"}}',
        b"[]",
        b"nope",
    ],
)
def test_bad_unread_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_body(UnreadRequest, body, 1000)


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b'{"message_ids": []}',
        b'{"message_ids": [{"$ne": null}]}',
        b'{"message_ids": ["6745f0c2a1b2c3d4e5f60718", "x"]}',
        b'{"message_ids": ["6745f0c2a1b2c3d4e5f60718"], "user_id": "1"}',
        b'{"message_ids": ["6745f0c2a1b2c3d4e5f60718"], "status": 1}',
    ],
)
def test_bad_mark_read_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_body(MarkReadRequest, body, 1000)


def test_mark_read_accepts_1000_ids_and_refuses_1001() -> None:
    ids = [f"{i:024x}" for i in range(1001)]
    ok = json.dumps({"message_ids": ids[:1000]}).encode()
    assert len(parse_body(MarkReadRequest, ok, 10**6).message_ids) == 1000
    with pytest.raises(BadRequest):
        parse_body(MarkReadRequest, json.dumps({"message_ids": ids}).encode(), 10**6)


def test_oversize_body_is_too_large() -> None:
    with pytest.raises(TooLarge):
        parse_body(UnreadRequest, b" " * 2000 + b"{}", 1000)


@pytest.mark.parametrize(
    ("body", "ack"),
    [
        (frame(action="send", to="x", content="y", ack_id="c-9"), "c-9"),
        (frame(action="send", ack_id=5), None),
        (frame(action="send", ack_id="a" * 65), None),
        ("not json", None),
        ("[]", None),
        (None, None),
    ],
)
def test_ack_id_is_recovered_from_refused_frames_when_well_formed(
    body: str | None, ack: str | None
) -> None:
    assert recover_ids(body)[0] == ack


@pytest.mark.parametrize(
    "body",
    [
        '{"action": "send", "to": 2, "content": "x", "ack_id": "\\ud800"}',
        '{"action": "recall", "message_id": "x", "request_id": "\\udfff"}',
        "[" * 5000 + "]" * 5000,
        '{"a":' * 5000 + "1" + "}" * 5000,
    ],
)
def test_ids_that_cannot_be_sent_back_are_not_recovered(body: str) -> None:
    assert recover_ids(body) == (None, None)
    with pytest.raises(BadRequest):
        parse_client_frame(body)


def test_request_id_is_recovered_too() -> None:
    body = frame(action="recall", message_id="nope", request_id="q-1")
    assert recover_ids(body) == (None, "q-1")


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json_even_in_an_ignored_key(token: str) -> None:
    # pydantic's JSON parser takes them; a frame carrying one used to be stored.
    body = frame(action="send", to=2, content="x", ack_id="a")[:-1] + f', "x": {token}}}'
    with pytest.raises(BadRequest) as err:
        parse_client_frame(body)
    assert err.value.message == "body is not valid JSON"
    with pytest.raises(BadRequest):
        parse_client_frame(f'{{"action": "ping", "x": [{token}]}}')


@pytest.mark.parametrize("request_id", ["", "r" * 65, 5, None])
def test_request_id_is_checked_on_send_and_ping_too(request_id: object) -> None:
    send = {"action": "send", "to": 2, "content": "x", "ack_id": "a", "request_id": request_id}
    ping = {"action": "ping", "request_id": request_id}
    if request_id is None:  # null is as if absent
        assert isinstance(parse_client_frame(json.dumps(send)), SendFrame)
        assert isinstance(parse_client_frame(json.dumps(ping)), PingFrame)
        return
    for body in (send, ping):
        with pytest.raises(BadRequest) as err:
            parse_client_frame(json.dumps(body))
        assert err.value.message.startswith("`request_id`")
