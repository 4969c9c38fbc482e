"""The terminal client's data: wire messages, dedupe, batches, the outbox, local time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import jwt
import pytest

from clients.terminal.backoff import Backoff
from clients.terminal.messages import (
    Ack,
    BadFrame,
    ChatMessage,
    Outbox,
    Outgoing,
    SeenIds,
    batches,
    local_time,
    parse_frame,
    parse_user_id,
    printable,
    token_user,
)

WIRE = {
    "id": "6745f0c2a1b2c3d4e5f60718",
    "from": 1,
    "to": 2,
    "group_id": 0,
    "content": "hi",
    "msg_type": 1,
    "ack_id": "c-123",
    "status": 0,
    "created_at": "2026-11-27T08:10:21.123Z",
    "updated_at": "2026-11-27T08:10:21.123Z",
}


def test_message_from_the_contract_example() -> None:
    message = ChatMessage.from_wire(WIRE)
    assert (message.id, message.sender, message.to, message.content) == (WIRE["id"], 1, 2, "hi")
    assert message.created_at == datetime(2026, 11, 27, 8, 10, 21, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    "broken",
    [
        None,
        [],
        {k: v for k, v in WIRE.items() if k != "id"},
        {**WIRE, "from": "1"},
        {**WIRE, "to": True},
        {**WIRE, "content": 5},
        {**WIRE, "created_at": "yesterday"},
        {**WIRE, "created_at": "2026-11-27T08:10:21"},  # no zone
    ],
)
def test_malformed_messages_are_refused(broken: object) -> None:
    with pytest.raises(BadFrame):
        ChatMessage.from_wire(broken)


def test_frames_must_be_json_objects_with_a_type() -> None:
    assert parse_frame('{"type":"pong"}') == {"type": "pong"}
    for raw in ("nope", "[]", '{"action":"x"}', '{"type":1}'):
        with pytest.raises(BadFrame):
            parse_frame(raw)


def test_user_ids_are_positive_64_bit_integers() -> None:
    assert parse_user_id(" 42 ") == 42
    assert parse_user_id(str(2**63 - 1)) == 2**63 - 1
    for bad in ("0", "-1", "1.5", "abc", "", str(2**63), "٣"):
        with pytest.raises(ValueError, match="user id"):
            parse_user_id(bad)


def test_outgoing_frame_is_the_contract_send() -> None:
    outgoing = Outgoing(7, 'say "hi" ☺')
    assert json.loads(outgoing.frame()) == {
        "action": "send",
        "to": 7,
        "content": 'say "hi" ☺',
        "ack_id": outgoing.ack_id,
    }
    assert 1 <= len(outgoing.ack_id) <= 64
    assert Outgoing(7, "x").ack_id != outgoing.ack_id


def test_seen_ids_tell_new_from_repeated_and_stay_bounded() -> None:
    seen = SeenIds(capacity=3)
    assert [seen.add(i) for i in ("a", "b", "a")] == [True, True, False]
    seen.add("c")
    seen.add("d")  # over capacity: the least recently seen ("b") goes
    assert "b" not in seen and {"a", "c", "d"} <= {i for i in "abcd" if i in seen}
    assert len(seen) == 3


def test_batches_keep_order_drop_repeats_and_respect_the_limit() -> None:
    ids = [f"{i:024x}" for i in range(2500)]
    chunks = batches(ids + ids[:10])
    assert [len(c) for c in chunks] == [1000, 1000, 500]
    assert [i for c in chunks for i in c] == ids
    assert batches([]) == []


def test_ack_carries_the_server_time_when_it_can_be_read() -> None:
    ack = Ack.from_wire(
        {"type": "ack", "message_id": "m1", "created_at": WIRE["created_at"], "duplicate": True}
    )
    assert ack == Ack("m1", datetime(2026, 11, 27, 8, 10, 21, 123000, tzinfo=UTC), True)
    assert Ack.from_wire({"message_id": "m2", "duplicate": "yes"}) == Ack("m2", None, False)


def test_outbox_settles_only_the_send_in_flight() -> None:
    outbox = Outbox()
    first, second = Outgoing(1, "one"), Outgoing(1, "two")
    outbox.add(first)
    outbox.add(second)
    assert outbox.head() is first
    assert outbox.settle(second.ack_id) is None  # not in flight yet
    assert outbox.settle(None) is None
    assert outbox.settle(first.ack_id) is first
    assert outbox.head() is second and len(outbox) == 1
    assert outbox.settle(first.ack_id) is None  # a late twin of the first ack


def test_local_time_shows_the_date_only_for_other_days() -> None:
    zone = timezone(timedelta(hours=2))
    sent = datetime(2026, 11, 27, 8, 10, 21, tzinfo=UTC)
    assert local_time(sent, now=sent + timedelta(hours=1), zone=zone) == "10:10:21"
    assert local_time(sent, now=sent + timedelta(days=1), zone=zone) == "2026-11-27 10:10:21"


def test_control_characters_are_made_visible() -> None:
    assert printable("a\x1b[2Jb\x07\x9b") == "a\\x1b[2Jb\\x07\\x9b"
    assert printable("tab\tand ünïcödé") == "tab\tand ünïcödé"


def test_token_user_reads_sub_without_verifying() -> None:
    assert token_user(jwt.encode({"sub": "42"}, "any-secret-at-all-32-bytes-long!!")) == 42
    assert token_user(jwt.encode({"sub": "x"}, "any-secret-at-all-32-bytes-long!!")) is None
    assert token_user("not a token") is None


def test_backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    low, high = Backoff(1.0, 8.0, rng=lambda: 0.0), Backoff(1.0, 8.0, rng=lambda: 0.999999)
    assert [low.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert [round(high.next_delay(), 3) for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    low.reset()
    assert low.next_delay() == 0.5 and low.attempt == 1


def test_backoff_survives_very_many_attempts() -> None:
    backoff = Backoff(1.0, 30.0)
    for _ in range(10_000):
        assert 0 < backoff.next_delay() <= 30.0
    with pytest.raises(ValueError, match="base"):
        Backoff(0, 1)
