"""The terminal client's wire types (v1 and v1.1), dedupe, the outbox, local time."""

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
    ConversationInfo,
    ConversationRef,
    GroupChange,
    HistoryPage,
    Outbox,
    Outgoing,
    ReadReceipt,
    Recalled,
    SeenIds,
    direct_id,
    local_time,
    parse_frame,
    parse_group_id,
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


def test_message_from_the_contract_example_with_its_place_beside_it() -> None:
    message = ChatMessage.from_wire(WIRE, "d:1:2", 7)
    assert (message.id, message.sender, message.to, message.content) == (WIRE["id"], 1, 2, "hi")
    assert message.created_at == datetime(2026, 11, 27, 8, 10, 21, 123000, tzinfo=UTC)
    assert (message.conversation_id, message.seq, message.status) == ("d:1:2", 7, 0)


def test_history_messages_carry_their_place_and_status_inside() -> None:
    message = ChatMessage.from_wire({**WIRE, "conversation_id": "g:9", "seq": 3, "status": 2})
    assert (message.conversation_id, message.seq, message.recalled) == ("g:9", 3, True)
    assert ChatMessage.from_wire(WIRE, "d:1:2", 1).recall() == ChatMessage.from_wire(
        {**WIRE, "content": "", "status": 2}, "d:1:2", 1
    )


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
        ChatMessage.from_wire(broken, "d:1:2", 1)


@pytest.mark.parametrize(
    ("conversation_id", "seq"),
    [
        (None, 1),
        ("d:2:1", 1),
        ("x:1", 1),
        ("g:0", 1),
        ("d:1:2", 0),
        ("d:1:2", "3"),
        ("d:1:2", None),
    ],
)
def test_a_message_needs_a_well_formed_place(conversation_id: object, seq: object) -> None:
    with pytest.raises(BadFrame):
        ChatMessage.from_wire(WIRE, conversation_id, seq)


def test_conversation_ids() -> None:
    assert direct_id(9, 3) == direct_id(3, 9) == "d:3:9"
    direct = ConversationRef.parse("d:3:9")
    assert (direct.is_group, direct.peer_of(3), direct.peer_of(9)) == (False, 9, 3)
    assert ConversationRef.direct(5, 5).peer_of(5) == 5  # a note to self
    group = ConversationRef.parse("g:42")
    assert (group.is_group, group.group_id) == (True, 42)
    for bad in ("d:3", "d:03:9", f"g:{2**53}", "g:-1", 5, None):
        with pytest.raises(BadFrame):
            ConversationRef.parse(bad)


def test_group_ids_typed_by_a_person() -> None:
    assert parse_group_id("42") == parse_group_id("g:42") == 42
    for bad in ("0", str(2**53), "x"):
        with pytest.raises(ValueError, match="group id"):
            parse_group_id(bad)


def test_conversation_list_entry() -> None:
    entry = ConversationInfo.from_wire(
        {
            "conversation_id": "g:5",
            "kind": "group",
            "group_id": 5,
            "name": "team",
            "last_message": {
                "id": "m9",
                "seq": 9,
                "from": 3,
                "msg_type": 1,
                "status": 2,
                "content": "",
                "content_truncated": False,
                "created_at": WIRE["created_at"],
            },
            "last_activity_at": WIRE["created_at"],
            "max_seq": 9,
            "read_seq": 4,
            "unread_count": 3,
            "peer_read_seq": None,
        }
    )
    assert (entry.ref.group_id, entry.name, entry.unread_count, entry.peer_read_seq) == (
        5,
        "team",
        3,
        0,
    )
    assert entry.last is not None and entry.last.recalled and entry.last.seq == 9
    with pytest.raises(BadFrame):
        ConversationInfo.from_wire({"conversation_id": "g:5", "max_seq": "9"})


def test_history_page_is_sorted_by_seq_and_of_one_conversation() -> None:
    body = {
        "conversation_id": "d:1:2",
        "messages": [
            {**WIRE, "id": "b", "conversation_id": "d:1:2", "seq": 2},
            {**WIRE, "id": "a", "conversation_id": "d:1:2", "seq": 1},
        ],
        "has_more": True,
        "max_seq": 2,
        "read_seq": 1,
        "peer_read_seq": 2,
    }
    page = HistoryPage.from_wire(body)
    assert [m.id for m in page.messages] == ["a", "b"]
    assert (page.has_more, page.max_seq, page.read_seq, page.peer_read_seq) == (True, 2, 1, 2)
    stray = {**WIRE, "conversation_id": "d:1:3", "seq": 3}
    with pytest.raises(BadFrame):
        HistoryPage.from_wire({**body, "messages": [stray]})


def test_v1_1_frames() -> None:
    receipt = ReadReceipt.from_wire(
        {
            "type": "read",
            "message_ids": ["a", 5],
            "by": 2,
            "conversation_id": "d:1:2",
            "read_seq": 4,
        }
    )
    assert receipt == ReadReceipt("d:1:2", 2, 4, ("a",))
    recalled = Recalled.from_wire(
        {"message_id": "a", "conversation_id": "g:3", "seq": 2, "by": 1, "recalled_at": "x"}
    )
    assert recalled == Recalled("a", "g:3", 2, 1)
    change = GroupChange.from_wire(
        {
            "event": "members_added",
            "group_id": 3,
            "conversation_id": "g:3",
            "name": "team",
            "by": 1,
            "user_ids": [4, 5],
        }
    )
    assert (change.ref.id, change.user_ids) == ("g:3", (4, 5))
    with pytest.raises(BadFrame):
        GroupChange.from_wire({**change.__dict__, "event": "renamed"})
    with pytest.raises(BadFrame):
        GroupChange.from_wire({"event": "created", "group_id": 3, "by": 1, "user_ids": ["4"]})


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


def test_outgoing_to_a_group_names_the_group_only() -> None:
    outgoing = Outgoing(None, "hi all", group_id=12)
    assert json.loads(outgoing.frame()) == {
        "action": "send",
        "group_id": 12,
        "content": "hi all",
        "ack_id": outgoing.ack_id,
    }


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


def test_ack_carries_the_server_time_when_it_can_be_read() -> None:
    ack = Ack.from_wire(
        {"type": "ack", "message_id": "m1", "created_at": WIRE["created_at"], "duplicate": True}
    )
    assert ack == Ack("m1", datetime(2026, 11, 27, 8, 10, 21, 123000, tzinfo=UTC), True)
    assert Ack.from_wire({"message_id": "m2", "duplicate": "yes"}) == Ack("m2", None, False)
    placed = Ack.from_wire({"message_id": "m3", "conversation_id": "g:4", "seq": 8})
    assert (placed.conversation_id, placed.seq) == ("g:4", 8)
    assert Ack.from_wire({"message_id": "m4", "conversation_id": "?", "seq": 0}).seq is None


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
