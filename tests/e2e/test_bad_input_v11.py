"""Bad input on every v1.1 field, over REST and the socket: each is refused (400, or the
status the doc gives) and changes nothing -- checked against a small world of one group
and one 1:1 conversation with unread messages in both. A refusal of a route that only
reads has nothing to change; for the others, the state the route writes is compared."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.support import Stack, direct_id, new_user

MEMBERS_MAX_PER_REQUEST = 1000
TOO_BIG_SEQ = 2**53  # seqs are at most 2^53-1


@dataclass(frozen=True)
class World:
    owner: int  # owns the group, wrote every message
    member: int  # in the group and the 1:1; has read nothing
    outsider: int
    group_id: int
    group_conv: str
    direct_conv: str
    direct_message: str
    group_message: str
    unread_cursor: str  # a v1 unread page's cursor, handed to the wrong route


@pytest.fixture(scope="module")
def world(stack: Stack) -> World:
    owner, member, outsider = new_user(), new_user(), new_user()
    group = stack.create_group(owner, [member], name="bad input")
    gid = group["group_id"]
    direct = stack.send_rest(owner, "to the member", to=member)
    in_group = stack.send_rest(owner, "to the group", group_id=gid)
    unread_cursor = stack.unread(member, limit=1)["next_cursor"]
    assert isinstance(unread_cursor, str)
    return World(
        owner,
        member,
        outsider,
        gid,
        group["conversation_id"],
        direct_id(owner, member),
        direct["message_id"],
        in_group["message_id"],
        unread_cursor,
    )


# What a refused request could have changed, one REST call each: a user's conversation
# list shows sends (max_seq), reads (read_seq, unread_count), recalls (the preview) and
# new groups; the member list shows additions, removals and leaving.
VIEWS = ("owner_list", "member_list", "members")


def view(stack: Stack, w: World, name: str) -> Any:
    if name == "owner_list":
        return stack.conversations(w.owner, limit=100)
    if name == "member_list":
        return stack.conversations(w.member, limit=100)
    return stack.group_members(w.owner, w.group_id)


@pytest.fixture(scope="module")
def initial(stack: Stack, world: World) -> dict[str, Any]:
    views = {name: view(stack, world, name) for name in VIEWS}
    counts = [c["unread_count"] for c in views["member_list"]["conversations"]]
    assert counts == [1, 1]
    return views


def fill(value: Any, w: World) -> Any:
    """Placeholders in a parameter, replaced by the world's values."""
    names = {
        "GROUP": w.group_id,
        "MEMBER": w.member,
        "OWNER": w.owner,
        "DIRECT_MSG": w.direct_message,
        "GROUP_MSG": w.group_message,
        "GCONV": w.group_conv,
        "DCONV": w.direct_conv,
        "UNREAD_CURSOR": w.unread_cursor,
    }
    if isinstance(value, str) and value in names:
        return names[value]
    if isinstance(value, dict):
        return {k: fill(v, w) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, w) for v in value]
    return value


SEND = "/api/v1/messages/send"
RECALL = "/api/v1/messages/recall"
RECEIPTS = "/api/v1/messages/receipts"
LIST = "/api/v1/conversations"
HISTORY = "/api/v1/conversations/history"
CONV_READ = "/api/v1/conversations/mark-read"
CREATE = "/api/v1/groups/create"
GROUPS = "/api/v1/groups"
MEMBERS = "/api/v1/groups/members"
ADD = "/api/v1/groups/add-members"
REMOVE = "/api/v1/groups/remove-members"
LEAVE = "/api/v1/groups/leave"

MALFORMED_CONVERSATION_IDS = [
    "",
    "d:1",
    "d:0:5",
    "d:05:7",
    "d:7:5",  # the lower id comes first
    "d:1:2:3",
    "d:-1:2",
    "D:1:2",
    " d:1:2",
    "g:0",
    "g:01",
    "g:9007199254740992",  # above 2^53-1
    "g:1 ",
    "x:1",
    "d:1:99999999999999999999",
    5,
    ["g:1"],
    {"$gt": ""},
    None,
]

# (path, body, who asks, status); who is "owner" or "member"
BAD_REST: list[Any] = [
    # send
    pytest.param(SEND, {}, "owner", 400, id="send-empty"),
    pytest.param(SEND, {"to": "MEMBER", "content": "x"}, "owner", 400, id="send-no-ack-id"),
    pytest.param(
        SEND,
        {"to": "MEMBER", "group_id": "GROUP", "content": "x", "ack_id": "k"},
        "owner",
        400,
        id="send-to-and-group",
    ),
    pytest.param(
        SEND, {"group_id": 0, "content": "x", "ack_id": "k"}, "owner", 400, id="send-group-0"
    ),
    pytest.param(
        SEND, {"group_id": -1, "content": "x", "ack_id": "k"}, "owner", 400, id="send-group-neg"
    ),
    pytest.param(
        SEND, {"group_id": 2**53, "content": "x", "ack_id": "k"}, "owner", 400, id="send-group-big"
    ),
    pytest.param(
        SEND, {"group_id": 1.5, "content": "x", "ack_id": "k"}, "owner", 400, id="send-group-float"
    ),
    pytest.param(
        SEND,
        {"group_id": "GROUP_S", "content": "x", "ack_id": "k"},
        "owner",
        400,
        id="send-group-s",
    ),
    pytest.param(
        SEND, {"group_id": True, "content": "x", "ack_id": "k"}, "owner", 400, id="send-group-bool"
    ),
    pytest.param(
        SEND, {"to": "1", "content": "x", "ack_id": "k"}, "owner", 400, id="send-to-string"
    ),
    pytest.param(
        SEND, {"to": "MEMBER", "content": "", "ack_id": "k"}, "owner", 400, id="send-empty-content"
    ),
    pytest.param(
        SEND, {"to": "MEMBER", "content": 7, "ack_id": "k"}, "owner", 400, id="send-content-int"
    ),
    pytest.param(
        SEND,
        {"to": "MEMBER", "content": "x" * 8001, "ack_id": "k"},
        "owner",
        413,
        id="send-content-8001",
    ),
    pytest.param(
        SEND, {"to": "MEMBER", "content": "x", "ack_id": ""}, "owner", 400, id="send-ack-id-empty"
    ),
    pytest.param(
        SEND, {"to": "MEMBER", "content": "x", "ack_id": "a" * 65}, "owner", 400, id="send-ack-65"
    ),
    pytest.param(
        SEND,
        {"to": "MEMBER", "content": "x", "ack_id": "k", "msg_type": 0},
        "owner",
        400,
        id="send-msg-type-0",
    ),
    pytest.param(
        SEND,
        {"to": "MEMBER", "content": "x", "ack_id": "k", "from": "MEMBER"},
        "owner",
        400,
        id="send-unknown-field",
    ),
    # recall and receipts
    pytest.param(RECALL, {}, "owner", 400, id="recall-empty"),
    pytest.param(RECALL, {"message_id": "xyz"}, "owner", 400, id="recall-short-id"),
    pytest.param(RECALL, {"message_id": "z" * 24}, "owner", 400, id="recall-not-hex"),
    pytest.param(RECALL, {"message_id": 5}, "owner", 400, id="recall-int-id"),
    pytest.param(RECALL, {"message_id": ["DIRECT_MSG"]}, "owner", 400, id="recall-list-id"),
    pytest.param(
        RECALL, {"message_id": "DIRECT_MSG", "force": True}, "owner", 400, id="recall-unknown"
    ),
    pytest.param(RECEIPTS, {}, "owner", 400, id="receipts-empty"),
    pytest.param(RECEIPTS, {"message_id": "0" * 25}, "owner", 400, id="receipts-25-chars"),
    pytest.param(
        RECEIPTS, {"message_id": "DIRECT_MSG", "all": 1}, "owner", 400, id="receipts-unknown"
    ),
    # conversation list
    pytest.param(LIST, {"limit": 0}, "member", 400, id="list-limit-0"),
    pytest.param(LIST, {"limit": 101}, "member", 400, id="list-limit-101"),
    pytest.param(LIST, {"limit": "5"}, "member", 400, id="list-limit-string"),
    pytest.param(LIST, {"limit": 5.0}, "member", 400, id="list-limit-float"),
    pytest.param(LIST, {"cursor": ""}, "member", 400, id="list-cursor-empty"),
    pytest.param(LIST, {"cursor": "%%%"}, "member", 400, id="list-cursor-garbage"),
    pytest.param(LIST, {"cursor": "x" * 129}, "member", 400, id="list-cursor-long"),
    pytest.param(LIST, {"cursor": {"$gt": ""}}, "member", 400, id="list-cursor-operator"),
    pytest.param(LIST, {"cursor": "UNREAD_CURSOR"}, "member", 400, id="list-cursor-of-unread"),
    pytest.param(LIST, {"user_id": "MEMBER"}, "member", 400, id="list-unknown-field"),
    # history
    pytest.param(HISTORY, {}, "member", 400, id="history-no-conversation"),
    pytest.param(
        HISTORY,
        {"conversation_id": "GCONV", "before_seq": 2, "after_seq": 0},
        "member",
        400,
        id="history-both-directions",
    ),
    pytest.param(
        HISTORY, {"conversation_id": "GCONV", "before_seq": 0}, "member", 400, id="history-before-0"
    ),
    pytest.param(
        HISTORY,
        {"conversation_id": "GCONV", "before_seq": -1},
        "member",
        400,
        id="history-before-n",
    ),
    pytest.param(
        HISTORY,
        {"conversation_id": "GCONV", "before_seq": TOO_BIG_SEQ},
        "member",
        400,
        id="history-before-big",
    ),
    pytest.param(
        HISTORY, {"conversation_id": "GCONV", "after_seq": -1}, "member", 400, id="history-after-n"
    ),
    pytest.param(
        HISTORY, {"conversation_id": "GCONV", "after_seq": "1"}, "member", 400, id="history-after-s"
    ),
    pytest.param(
        HISTORY, {"conversation_id": "GCONV", "limit": 0}, "member", 400, id="history-limit-0"
    ),
    pytest.param(
        HISTORY, {"conversation_id": "GCONV", "limit": 201}, "member", 400, id="history-limit-201"
    ),
    pytest.param(
        HISTORY, {"conversation_id": "GCONV", "seq": 1}, "member", 400, id="history-unknown-field"
    ),
    # conversation mark-read
    pytest.param(CONV_READ, {}, "member", 400, id="conv-read-empty"),
    pytest.param(CONV_READ, {"conversation_id": "GCONV", "seq": 0}, "member", 400, id="cr-seq-0"),
    pytest.param(CONV_READ, {"conversation_id": "GCONV", "seq": -3}, "member", 400, id="cr-seq-n"),
    pytest.param(CONV_READ, {"conversation_id": "GCONV", "seq": "1"}, "member", 400, id="cr-seq-s"),
    pytest.param(CONV_READ, {"conversation_id": "GCONV", "seq": 1.0}, "member", 400, id="cr-seq-f"),
    pytest.param(
        CONV_READ, {"conversation_id": "GCONV", "seq": TOO_BIG_SEQ}, "member", 400, id="cr-seq-big"
    ),
    pytest.param(
        CONV_READ,
        {"conversation_id": "DCONV", "message_ids": ["DIRECT_MSG"]},
        "member",
        400,
        id="cr-unknown-field",
    ),
    # group create
    pytest.param(CREATE, {}, "owner", 400, id="create-empty"),
    pytest.param(CREATE, {"name": ""}, "owner", 400, id="create-name-empty"),
    pytest.param(CREATE, {"name": "   "}, "owner", 400, id="create-name-blank"),
    pytest.param(CREATE, {"name": "n" * 101}, "owner", 400, id="create-name-101"),
    pytest.param(CREATE, {"name": "a\nb"}, "owner", 400, id="create-name-newline"),
    pytest.param(CREATE, {"name": "a\x00b"}, "owner", 400, id="create-name-nul"),
    pytest.param(CREATE, {"name": "a\x1bb"}, "owner", 400, id="create-name-escape"),
    pytest.param(CREATE, {"name": "a\x7fb"}, "owner", 400, id="create-name-delete"),
    pytest.param(CREATE, {"name": "a\x85b"}, "owner", 400, id="create-name-c1-next-line"),
    pytest.param(CREATE, {"name": "abc\u202egpj.exe"}, "owner", 400, id="create-name-bidi"),
    pytest.param(CREATE, {"name": 5}, "owner", 400, id="create-name-int"),
    pytest.param(
        CREATE, {"name": "ok", "members": "MEMBER"}, "owner", 400, id="create-members-int"
    ),
    pytest.param(CREATE, {"name": "ok", "members": [0]}, "owner", 400, id="create-member-0"),
    pytest.param(CREATE, {"name": "ok", "members": ["5"]}, "owner", 400, id="create-member-string"),
    pytest.param(CREATE, {"name": "ok", "members": [True]}, "owner", 400, id="create-member-bool"),
    pytest.param(CREATE, {"name": "ok", "members": [2**63]}, "owner", 400, id="create-member-big"),
    pytest.param(
        CREATE,
        {"name": "ok", "members": list(range(1, MEMBERS_MAX_PER_REQUEST + 2))},
        "owner",
        400,
        id="create-members-1001",
    ),
    pytest.param(CREATE, {"name": "ok", "owner": "MEMBER"}, "owner", 400, id="create-unknown"),
    # groups, members, add, remove, leave
    pytest.param(GROUPS, {"all": True}, "owner", 400, id="groups-unknown-field"),
    pytest.param(MEMBERS, {}, "owner", 400, id="members-empty"),
    pytest.param(MEMBERS, {"group_id": 0}, "owner", 400, id="members-group-0"),
    pytest.param(MEMBERS, {"group_id": "GROUP_S"}, "owner", 400, id="members-group-string"),
    pytest.param(MEMBERS, {"group_id": True}, "owner", 400, id="members-group-bool"),
    pytest.param(MEMBERS, {"group_id": 2**53}, "owner", 400, id="members-group-big"),
    pytest.param(ADD, {"group_id": "GROUP"}, "owner", 400, id="add-no-users"),
    pytest.param(ADD, {"user_ids": [5]}, "owner", 400, id="add-no-group"),
    pytest.param(ADD, {"group_id": "GROUP", "user_ids": []}, "owner", 400, id="add-users-empty"),
    pytest.param(ADD, {"group_id": "GROUP", "user_ids": [0]}, "owner", 400, id="add-user-0"),
    pytest.param(ADD, {"group_id": "GROUP", "user_ids": ["5"]}, "owner", 400, id="add-user-str"),
    pytest.param(ADD, {"group_id": "GROUP", "user_ids": 5}, "owner", 400, id="add-users-int"),
    pytest.param(
        ADD,
        {"group_id": "GROUP", "user_ids": list(range(1, MEMBERS_MAX_PER_REQUEST + 2))},
        "owner",
        400,
        id="add-users-1001",
    ),
    pytest.param(
        ADD, {"group_id": "GROUP", "user_ids": [5], "role": "owner"}, "owner", 400, id="add-unknown"
    ),
    pytest.param(REMOVE, {"group_id": "GROUP"}, "owner", 400, id="remove-no-users"),
    pytest.param(
        REMOVE, {"group_id": "GROUP", "user_ids": []}, "owner", 400, id="remove-users-empty"
    ),
    pytest.param(
        REMOVE, {"group_id": "GROUP", "user_ids": ["MEMBER_S"]}, "owner", 400, id="remove-user-str"
    ),
    pytest.param(
        REMOVE,
        {"group_id": "GROUP", "user_ids": list(range(1, MEMBERS_MAX_PER_REQUEST + 2))},
        "owner",
        400,
        id="remove-users-1001",
    ),
    pytest.param(LEAVE, {}, "member", 400, id="leave-empty"),
    pytest.param(LEAVE, {"group_id": "GROUP_S"}, "member", 400, id="leave-group-string"),
    pytest.param(LEAVE, {"group_id": -5}, "member", 400, id="leave-group-negative"),
    pytest.param(LEAVE, {"group_id": "GROUP", "user_id": "MEMBER"}, "member", 400, id="leave-uf"),
    *(
        pytest.param(HISTORY, {"conversation_id": c}, "member", 400, id=f"history-conv-{i}")
        for i, c in enumerate(MALFORMED_CONVERSATION_IDS)
    ),
    *(
        pytest.param(CONV_READ, {"conversation_id": c}, "member", 400, id=f"conv-read-conv-{i}")
        for i, c in enumerate(MALFORMED_CONVERSATION_IDS)
    ),
]


def stringly(value: Any, w: World) -> Any:
    """GROUP_S / MEMBER_S: the id as a JSON string, which must not be coerced."""
    if value == "GROUP_S":
        return str(w.group_id)
    if value == "MEMBER_S":
        return str(w.member)
    if isinstance(value, dict):
        return {k: stringly(v, w) for k, v in value.items()}
    if isinstance(value, list):
        return [stringly(v, w) for v in value]
    return value


# The state each writing route could change; the others only read.
CHANGES = {
    SEND: "owner_list",
    RECALL: "owner_list",
    CONV_READ: "member_list",
    CREATE: "owner_list",
    ADD: "members",
    REMOVE: "members",
    LEAVE: "members",
}


@pytest.mark.parametrize(("path", "body", "who", "status"), BAD_REST)
def test_bad_v11_rest_bodies_are_refused_and_change_nothing(
    stack: Stack,
    world: World,
    initial: dict[str, Any],
    path: str,
    body: Any,
    who: str,
    status: int,
) -> None:
    user = world.owner if who == "owner" else world.member
    sent = stringly(fill(body, world), world)
    got, error = stack.refusal(path, sent, user)
    assert got == status, error
    content = sent.get("content") if isinstance(sent, dict) else None
    if isinstance(content, str) and len(content) > 20:
        assert content[:20] not in error  # never echoes content
    if path in CHANGES:
        assert view(stack, world, CHANGES[path]) == initial[CHANGES[path]]


# (frame, expected code, echoed request_id / ack_id); the member sends them
BAD_FRAMES: list[Any] = [
    pytest.param({"action": "read", "request_id": "r1"}, "bad_request", "r1", id="read-neither"),
    pytest.param(
        {
            "action": "read",
            "message_ids": ["DIRECT_MSG"],
            "conversation_id": "DCONV",
            "request_id": "r2",
        },
        "bad_request",
        "r2",
        id="read-both",
    ),
    pytest.param(
        {"action": "read", "conversation_id": "d:2:1", "request_id": "r3"},
        "bad_request",
        "r3",
        id="read-conv-order",
    ),
    pytest.param(
        {"action": "read", "conversation_id": 5, "request_id": "r4"},
        "bad_request",
        "r4",
        id="read-conv-int",
    ),
    pytest.param(
        {"action": "read", "conversation_id": "GCONV", "seq": 0, "request_id": "r5"},
        "bad_request",
        "r5",
        id="read-seq-0",
    ),
    pytest.param(
        {"action": "read", "conversation_id": "GCONV", "seq": "2", "request_id": "r6"},
        "bad_request",
        "r6",
        id="read-seq-string",
    ),
    pytest.param(
        {"action": "read", "message_ids": ["GROUP_MSG"], "seq": 2, "request_id": "r7"},
        "bad_request",
        "r7",
        id="read-seq-with-ids",
    ),
    pytest.param(
        {"action": "read", "conversation_id": "g:987654321012", "request_id": "r8"},
        "not_found",
        "r8",
        id="read-unknown-group",
    ),
    pytest.param(
        {"action": "read", "conversation_id": "d:3:4", "request_id": "r9"},
        "forbidden",
        "r9",
        id="read-others-direct",
    ),
    pytest.param(
        {"action": "read", "conversation_id": "GCONV", "request_id": "q" * 65},
        "bad_request",
        None,
        id="read-request-id-65",
    ),
    pytest.param({"action": "recall", "request_id": "c1"}, "bad_request", "c1", id="recall-no-id"),
    pytest.param(
        {"action": "recall", "message_id": "xyz", "request_id": "c2"},
        "bad_request",
        "c2",
        id="recall-bad-id",
    ),
    pytest.param(
        {"action": "recall", "message_id": 5, "request_id": "c3"},
        "bad_request",
        "c3",
        id="recall-int-id",
    ),
    pytest.param(
        {"action": "recall", "message_id": "DIRECT_MSG", "request_id": "c4"},
        "forbidden",
        "c4",
        id="recall-not-yours",
    ),
    pytest.param(
        {"action": "recall", "message_id": "DIRECT_MSG", "request_id": 7},
        "bad_request",
        None,
        id="recall-request-id-int",
    ),
    pytest.param(
        {"action": "send", "group_id": "GROUP_S", "content": "x", "ack_id": "s1"},
        "bad_request",
        "s1",
        id="send-group-string",
    ),
    pytest.param(
        {"action": "send", "group_id": -1, "content": "x", "ack_id": "s2"},
        "bad_request",
        "s2",
        id="send-group-negative",
    ),
    pytest.param(
        {"action": "send", "group_id": 1.5, "content": "x", "ack_id": "s3"},
        "bad_request",
        "s3",
        id="send-group-float",
    ),
    pytest.param(
        {"action": "send", "group_id": "GROUP", "content": "", "ack_id": "s4", "request_id": "q"},
        "bad_request",
        "s4",
        id="send-group-empty-content",
    ),
]


@pytest.mark.parametrize(("frame", "code", "echo"), BAD_FRAMES)
def test_bad_v11_frames_get_an_error_and_change_nothing(
    stack: Stack, world: World, initial: dict[str, Any], frame: Any, code: str, echo: str | None
) -> None:
    sent = stringly(fill(frame, world), world)
    with stack.chat(world.member) as chat:
        chat.send_raw(json.dumps(sent))
        error = chat.expect("error")
        assert error["code"] == code, error
        echoed = error.get("ack_id") if "ack_id" in sent else error.get("request_id")
        assert echoed == echo
        chat.ping()  # the connection is still usable
        assert chat.pending(0) == []
    # the member's list shows the member's reads and sends, and recalls of any message
    assert view(stack, world, "member_list") == initial["member_list"]


def test_a_name_is_trimmed_and_may_be_100_characters(stack: Stack) -> None:
    owner = new_user()
    name = "n" * 100
    assert stack.create_group(owner, [], name=f"{name}")["name"] == name
    assert stack.create_group(owner, [], name="  padded\t")["name"] == "padded"
    assert sorted(g["name"] for g in stack.groups(owner)) == [name, "padded"]
