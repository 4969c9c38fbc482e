"""Fuzzing WebSocket frames against the `$default` handler (issue 11): the strategies,
an oracle written from docs/protocol.md and shared/specs/contract.md, and the harness
that runs the app's registered Chalice handlers on the local gateway's events.

Used with fakes (tests/unit/test_frame_fuzz.py) and with MongoDB and Redis
(tests/integration/test_frame_fuzz_real.py). The oracle deliberately does not use
chalicelib's models or parsers: it re-states the documented rules in plain Python, so
the two can disagree and the fuzz can tell.

The properties, checked for every frame:

- the handler returns (never raises) a valid API Gateway integration response;
- every frame a client receives (returned as the route response or posted) is JSON
  with a `type`; an `error` has a documented `code` (never `internal`: that is a bug)
  and echoes a well-formed `ack_id` / `request_id` of the frame;
- a message is stored iff the frame is a valid `send` the world allows (a user, or a
  group the sender is in), exactly once, acknowledged with the stored id; a retried
  `ack_id` is acknowledged as a duplicate and stores nothing;
- a refused frame changes nothing in the store, and no frame but a `send` adds a message.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

import jwt
from chalice.local import LambdaContext
from hypothesis import event, given
from hypothesis import strategies as st

from chalicelib import deps
from chalicelib.chat.domain import StoredMessage
from chalicelib.deps import Services
from chalicelib.management import Delivery
from chalicelib.push import Pusher
from infra.localgw.events import ConnectionFacts, connect_event, message_event, new_id
from infra.localgw.responses import route_response_frame
from tests.fakes.connections import RecordingConnections

# --- the documented rules (docs/protocol.md, shared/specs/contract.md) -------------------

CONTENT_MAX = 8000  # "content (string, 1..8000 chars)"; over it: too_large
ID_MAX = 64  # ack_id, request_id: "1..64 characters"
USER_MAX = 2**63 - 1  # "Users are positive 64-bit integers (1 .. 2^63-1)"
GROUP_MAX = 2**53 - 1  # "ids are positive integers below 2^53"
SEQ_MAX = 2**53 - 1  # "Frames": seq is 1 .. 2^53-1
MSG_TYPE_MAX = 2**31 - 1  # "Frames": msg_type is 1 .. 2^31-1
MARK_READ_MAX = 1000  # mark-read: "1..1000 items"
FRAME_MAX = 128 * 1024  # "frame ... over its limit": API Gateway's 128 KiB message quota
TOKEN_MAX = 8192  # no documented bound: a longer token may be bad_request or unauthorized
# RFC 8259 section 9 lets a parser limit nesting depth and number size; the docs name no
# limits, so past these a bad_request refusal is also correct (nothing stored, nothing
# changed), and within them a frame must be judged on its content.
DEPTH_LIMIT = 100
NUMBER_LIMIT = 1000  # characters of one number literal

ACTIONS = ("send", "ping", "read", "recall", "auth")
CODES = frozenset(
    {
        "bad_request",
        "unauthorized",
        "forbidden",
        "not_found",
        "too_large",
        "rate_limited",
        "unavailable",
        "internal",
    }
)
# A fuzzed frame never makes a healthy server fail: `internal` is an unexpected
# exception, `unavailable` a dependency down; the limiter is off in these tests.
NEVER = frozenset({"internal", "unavailable", "rate_limited"})

_HEX24 = re.compile(r"[0-9a-fA-F]{24}")
_USER = r"[1-9][0-9]*"
_CONVERSATION = re.compile(rf"d:({_USER}):({_USER})|g:({_USER})")


class Ref(Enum):
    """A value known only when the frame is sent: ids and tokens of the example's scene."""

    SELF = "self"
    PEER = "peer"
    MEMBER_GROUP = "member group"  # a group the sender is in
    OTHER_GROUP = "other group"  # a group the sender is not in
    OWN_CONVERSATION = "d:self:peer"
    MEMBER_CONVERSATION = "g:member group"
    OTHER_CONVERSATION = "g:other group"
    TOKEN_SELF = "a fresh token of the sender"
    TOKEN_PEER = "a fresh token of another user"
    TOKEN_EXPIRED = "an expired token of the sender"
    LAST_MESSAGE = "the id of the message stored last in this example"


# --- probes: what a strategy draws, rendered into a frame body against a scene -----------


@dataclass(frozen=True)
class Doc:
    """A JSON document (may hold Refs; floats NaN/inf render as the NaN/Infinity tokens)."""

    value: Any
    ascii: bool = True


@dataclass(frozen=True)
class Spliced:
    """A JSON object with one more member whose value is raw text (NaN, deep nesting,
    huge numbers), spliced in before the closing brace."""

    doc: Doc
    key: str
    raw: str


@dataclass(frozen=True)
class Padded:
    """A JSON object padded to `delta` characters from the 128 KiB message limit."""

    doc: Doc
    delta: int


@dataclass(frozen=True)
class Text:
    """A frame body exactly as given (any text, lone surrogates included)."""

    body: str


@dataclass(frozen=True)
class Binary:
    """A binary frame as a base64 event body (`isBase64Encoded: true`)."""

    data: bytes


Probe = Doc | Spliced | Padded | Text | Binary


# --- JSON values and text ----------------------------------------------------------------

# Any character, lone surrogates included (they cannot be UTF-8: never valid text).
any_char = st.characters(exclude_categories=())
any_text = st.text(any_char, max_size=40)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.sampled_from([0, -1, 1, 2**31 - 1, 2**31, 2**53 - 1, 2**53, 2**63 - 1, 2**63, 2**64])
    | st.floats()  # NaN and infinities included
    | any_text
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=12,
)


def _nested(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    if kind == "object":
        return '{"a":' * depth + "1" + "}" * depth
    return "[" * depth  # unbalanced


raw_values = st.one_of(
    st.sampled_from(["NaN", "Infinity", "-Infinity", "nan", "inf", "-0", "1e400", "-1e-400"]),
    st.sampled_from(["1", "-1", "9", "1.5"]).flatmap(
        lambda head: st.integers(1, 6000).map(lambda n: head + "0" * n)
    ),
    st.tuples(st.integers(1, 3000), st.sampled_from(["array", "object", "open"])).map(
        lambda t: _nested(*t)
    ),
    st.sampled_from(
        ['"\\ud800"', '"\\udfff\\ud800"', '"a\\ud83d"', '"\\ud83d\\ude00"', '"\\u0000"']
    ),
    st.sampled_from(["", "]", "}", "'x'", "undefined", "True", "0x10", "01", "1.", ".5", "+1"]),
)


# --- valid frames, then one field wrong --------------------------------------------------

ack_ids = st.text(any_char, min_size=1, max_size=ID_MAX) | st.sampled_from(["a", "c-1", "😀" * 64])
contents = st.one_of(
    st.text(any_char, min_size=1, max_size=30),
    st.sampled_from(["hi", "NaN", '{"$ne": 1}', "\x00", " ", "\u202e"]),
    st.sampled_from([CONTENT_MAX - 1, CONTENT_MAX, CONTENT_MAX + 1]).flatmap(
        lambda n: st.sampled_from(["x", "é", "😀", "\ufeff"]).map(lambda ch: ch * n)
    ),
)
targets = st.one_of(
    st.fixed_dictionaries({"to": st.sampled_from([Ref.PEER, Ref.SELF])}),
    st.fixed_dictionaries({"to": st.integers(1, USER_MAX)}),
    st.fixed_dictionaries({"to": st.just(Ref.PEER), "group_id": st.just(0)}),
    st.fixed_dictionaries({"group_id": st.sampled_from([Ref.MEMBER_GROUP, Ref.OTHER_GROUP])}),
    st.fixed_dictionaries({"group_id": st.integers(1, GROUP_MAX)}),
)


@st.composite
def valid_sends(draw: st.DrawFn) -> dict[str, Any]:
    frame = {"action": "send", **draw(targets), "content": draw(contents), "ack_id": draw(ack_ids)}
    if draw(st.booleans()):
        frame["msg_type"] = draw(st.integers(1, MSG_TYPE_MAX))
    return frame


hex_ids = st.text("0123456789abcdefABCDEF", min_size=24, max_size=24)
request_ids = st.text(any_char, min_size=1, max_size=ID_MAX)


def _with_request_id(frames: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    return st.tuples(frames, st.none() | request_ids).map(
        lambda t: t[0] if t[1] is None else {**t[0], "request_id": t[1]}
    )


valid_frames = st.one_of(
    valid_sends(),
    _with_request_id(st.just({"action": "ping"})),
    _with_request_id(
        st.one_of(
            st.fixed_dictionaries(
                {
                    "action": st.just("read"),
                    "message_ids": st.lists(
                        hex_ids | st.just(Ref.LAST_MESSAGE), min_size=1, max_size=3
                    ),
                }
            ),
            st.fixed_dictionaries(
                {
                    "action": st.just("read"),
                    "conversation_id": st.sampled_from(
                        [Ref.OWN_CONVERSATION, Ref.MEMBER_CONVERSATION, Ref.OTHER_CONVERSATION]
                    ),
                },
                optional={"seq": st.integers(1, SEQ_MAX)},
            ),
        )
    ),
    _with_request_id(
        st.fixed_dictionaries(
            {"action": st.just("recall"), "message_id": hex_ids | st.just(Ref.LAST_MESSAGE)}
        )
    ),
    _with_request_id(
        st.fixed_dictionaries(
            {
                "action": st.just("auth"),
                "token": st.sampled_from([Ref.TOKEN_SELF, Ref.TOKEN_PEER, Ref.TOKEN_EXPIRED])
                | st.text(any_char, min_size=1, max_size=20),
            }
        )
    ),
)

FIELDS = (
    "action", "to", "group_id", "content", "msg_type", "ack_id", "request_id",
    "message_ids", "conversation_id", "seq", "message_id", "token",
)  # fmt: skip
# Values worth trying in any field: wrong types, edges of every range, placeholders.
field_values = st.one_of(
    json_values,
    st.sampled_from(list(Ref)),
    st.sampled_from(
        [0, -1, 1, 2**31, 2**53, 2**63, -(2**63), True, False, None, 1.0, "1", "", [], {}]
    ),
    st.sampled_from(
        ["d:1:2", "d:2:1", "d:01:2", "g:0", "g:9007199254740992", "d:1:9223372036854775808"]
    ),
    st.text(any_char, min_size=ID_MAX, max_size=ID_MAX + 1),
    st.integers(0, 3).map(lambda n: ["6745f0c2a1b2c3d4e5f60718"] * (MARK_READ_MAX - 1 + n)),
    st.sampled_from([TOKEN_MAX, TOKEN_MAX + 1]).map(lambda n: "t" * n),
    contents,
)


@st.composite
def near_valid(draw: st.DrawFn) -> dict[str, Any]:
    """A valid frame with one thing wrong (or, sometimes, still right)."""
    frame = dict(draw(valid_frames))
    how = draw(st.sampled_from(["set", "drop", "extra", "action"]))
    if how == "set":
        frame[draw(st.sampled_from(FIELDS))] = draw(field_values)
    elif how == "drop" and len(frame) > 1:
        del frame[draw(st.sampled_from(sorted(frame)))]
    elif how == "extra":
        key = draw(any_text | st.sampled_from(["from", "status", "_id", "$where", "ACTION"]))
        frame[key] = draw(json_values)
    else:
        frame["action"] = draw(
            st.sampled_from(["Send", "SEND", " send", "send ", "sen", "pong", "", "recalled"])
            | any_text
            | json_values
        )
    return frame


def documents(frames: st.SearchStrategy[Any]) -> st.SearchStrategy[Doc]:
    return st.builds(Doc, frames, st.booleans())


# Arbitrary bytes as the text a gateway could hand over: UTF-8 if they are, else as a
# lenient decoder would (surrogateescape leaves lone surrogates; latin-1 any character).
byte_texts = st.tuples(st.binary(max_size=64), st.sampled_from(["surrogateescape", "latin-1"])).map(
    lambda t: Text(t[0].decode("utf-8", t[1]) if t[1] != "latin-1" else t[0].decode("latin-1"))
)

probes: st.SearchStrategy[Probe] = st.one_of(
    documents(valid_frames),
    documents(near_valid()),
    documents(json_values),
    st.builds(Padded, documents(valid_frames | near_valid()), st.integers(-2, 2)),
    st.builds(
        Spliced,
        documents(valid_frames | near_valid()),
        st.sampled_from(["x", "to", "group_id", "msg_type", "content", "ack_id", "seq"]),
        raw_values,
    ),
    st.builds(Text, st.text(any_char, max_size=60)),
    byte_texts,
    st.builds(Binary, st.binary(max_size=64) | st.just(b'{"action": "ping"}')),
)


@st.composite
def sessions(draw: st.DrawFn) -> list[Probe]:
    """What one connection sends in an example: mostly one frame; sometimes a send and
    its retry (same frame, or the same ack_id with something else changed)."""
    if draw(st.integers(0, 4)) == 0:
        send = draw(valid_sends())
        retry = dict(send)
        if draw(st.booleans()):
            retry.update(draw(targets) | {"content": draw(contents)})
            if "group_id" in retry and "to" in retry and retry["group_id"] != 0:
                del retry["to"]
        return [Doc(send), Doc(retry), *draw(st.lists(probes, max_size=1))]
    return draw(st.lists(probes, min_size=1, max_size=3))


# --- the scene an example runs in ----------------------------------------------------------

_ids = itertools.count(1)


def fresh_user() -> int:
    """Distinct, reproducible user ids (1..2^63-1, spread over the whole range)."""
    return (next(_ids) * 0x9E3779B97F4A7C15) % USER_MAX + 1


@dataclass
class Scene:
    user: int
    peer: int
    member_group: int
    other_group: int
    connection: str
    tokens: dict[Ref, str]
    token_users: dict[str, int]  # fresh tokens -> their user
    acked: dict[str, tuple[str, str]] = field(default_factory=dict)  # ack_id -> (id, conv)
    last_message: str = "6745f0c2a1b2c3d4e5f60718"

    def value(self, ref: Ref) -> Any:
        low, high = sorted((self.user, self.peer))
        return {
            Ref.SELF: self.user,
            Ref.PEER: self.peer,
            Ref.MEMBER_GROUP: self.member_group,
            Ref.OTHER_GROUP: self.other_group,
            Ref.OWN_CONVERSATION: f"d:{low}:{high}",
            Ref.MEMBER_CONVERSATION: f"g:{self.member_group}",
            Ref.OTHER_CONVERSATION: f"g:{self.other_group}",
            Ref.LAST_MESSAGE: self.last_message,
        }.get(ref, self.tokens.get(ref))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, Ref):
            return self.value(value)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def render(self, probe: Probe) -> tuple[str, bool]:
        """The event's body and isBase64Encoded."""
        if isinstance(probe, Binary):
            return base64.b64encode(probe.data).decode(), True
        if isinstance(probe, Text):
            return probe.body, False
        if isinstance(probe, Spliced | Padded):
            body = self.render(probe.doc)[0]
            if not body.endswith("}"):
                return body, False
            if isinstance(probe, Padded):
                size = FRAME_MAX + probe.delta - len(body) - len(',"pad":""')
                member = '"pad":"' + "p" * max(0, size) + '"'
            else:
                member = json.dumps(probe.key) + ":" + probe.raw
            return body[:-1] + ("," if body != "{}" else "") + member + "}", False
        return json.dumps(self.resolve(probe.value), ensure_ascii=probe.ascii), False


# --- the oracle ----------------------------------------------------------------------------


class _Huge:
    """A number literal too long to be an exact integer here (it is no valid id)."""


@dataclass(frozen=True)
class Parsed:
    value: Any
    limited: bool  # past DEPTH_LIMIT or NUMBER_LIMIT


def _depth(text: str) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _valid_text(value: Any) -> bool:
    """No string (key or value) holds a lone surrogate: JSON text is UTF-8 (RFC 8259 8.1)."""
    stack = [value]
    while stack:  # not recursive: a valid frame may nest deeper than Python recurses
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def parse_json(body: str) -> Parsed | None:
    """RFC 8259 JSON text, or None. Python's json is RFC-strict but for the NaN and
    Infinity tokens (refused here) and unpaired surrogate escapes (checked after)."""
    limited = _depth(body) > DEPTH_LIMIT

    def number(literal: str, exact: Callable[[str], Any]) -> Any:
        nonlocal limited
        if len(literal) > NUMBER_LIMIT:
            limited = True
            return _Huge()
        return exact(literal)

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        body.encode()
        value = json.loads(
            body,
            parse_constant=constant,
            parse_int=lambda s: number(s, int),
            parse_float=lambda s: number(s, float),
        )
    except (ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return None
    return Parsed(value, limited) if _valid_text(value) else None


def _int(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _text(value: Any, low: int, high: int) -> bool:
    return isinstance(value, str) and low <= len(value) <= high


def _id_field(frame: dict[str, Any], key: str) -> str | None:
    value = frame.get(key)
    return value if _text(value, 1, ID_MAX) else None


def _optional(frame: dict[str, Any], key: str) -> Any:
    """Optional fields may be null, as if absent (docs/protocol.md, "Frames")."""
    return frame.get(key)


def _request_id_problems(frame: dict[str, Any]) -> set[str]:
    value = _optional(frame, "request_id")
    return set() if value is None or _text(value, 1, ID_MAX) else {"bad_request"}


def _conversation_ok(value: Any) -> bool:
    if not _text(value, 1, 64):
        return False
    match = _CONVERSATION.fullmatch(value)
    if match is None:
        return False
    if match[3] is not None:
        return int(match[3]) <= GROUP_MAX
    low, high = int(match[1]), int(match[2])
    return low <= high <= USER_MAX


def _send_problems(frame: dict[str, Any]) -> set[str]:
    problems = _request_id_problems(frame)
    to, group = _optional(frame, "to"), _optional(frame, "group_id")
    if to is not None and not _int(to, 1, USER_MAX):
        problems.add("bad_request")
    if group is not None and not ((group == 0 and type(group) is int) or _int(group, 1, GROUP_MAX)):
        problems.add("bad_request")
    grouped = group not in (None, 0)
    if (grouped and to is not None) or (not grouped and to is None):
        problems.add("bad_request")
    content = frame.get("content")
    if not _text(content, 1, CONTENT_MAX):
        too_long = isinstance(content, str) and len(content) > CONTENT_MAX
        problems.add("too_large" if too_long else "bad_request")
    if "msg_type" in frame and not _int(frame["msg_type"], 1, MSG_TYPE_MAX):
        problems.add("bad_request")
    if not _text(frame.get("ack_id"), 1, ID_MAX):
        problems.add("bad_request")
    return problems


def _read_problems(frame: dict[str, Any]) -> set[str]:
    problems = _request_id_problems(frame)
    ids = _optional(frame, "message_ids")
    conversation = _optional(frame, "conversation_id")
    seq = _optional(frame, "seq")
    if ids is not None and not (
        isinstance(ids, list)
        and 1 <= len(ids) <= MARK_READ_MAX
        and all(isinstance(i, str) and _HEX24.fullmatch(i) for i in ids)
    ):
        problems.add("bad_request")
    if conversation is not None and not _conversation_ok(conversation):
        problems.add("bad_request")
    if (ids is None) == (conversation is None):
        problems.add("bad_request")
    if seq is not None and (not _int(seq, 1, SEQ_MAX) or conversation is None):
        problems.add("bad_request")
    return problems


def _recall_problems(frame: dict[str, Any]) -> set[str]:
    problems = _request_id_problems(frame)
    message_id = frame.get("message_id")
    if not (isinstance(message_id, str) and _HEX24.fullmatch(message_id)):
        problems.add("bad_request")
    return problems


def _auth_problems(frame: dict[str, Any]) -> set[str]:
    problems = _request_id_problems(frame)
    if not _text(frame.get("token"), 1, TOKEN_MAX):
        # Empty or no string: malformed. Longer than any real JWT: either.
        long = isinstance(frame.get("token"), str) and len(frame["token"]) > TOKEN_MAX
        problems |= {"bad_request", "unauthorized"} if long else {"bad_request"}
    return problems


_PROBLEMS: dict[str, Callable[[dict[str, Any]], set[str]]] = {
    "send": _send_problems,
    "ping": _request_id_problems,
    "read": _read_problems,
    "recall": _recall_problems,
    "auth": _auth_problems,
}


@dataclass(frozen=True)
class Stored:
    """The message a valid send must store."""

    conversation: str
    content: str
    msg_type: int
    ack_id: str


@dataclass(frozen=True)
class Verdict:
    # refuse: an error with one of `codes`, nothing changed.
    # store: `message` stored and acked. duplicate: acked as `first`, nothing new stored
    # (or, when `codes`, refused with one of them). accept: one of `answers` (None: no
    # frame) or an error with one of `codes` (then nothing changed); no message added.
    outcome: str
    codes: frozenset[str] = frozenset()
    answers: frozenset[str | None] = frozenset()
    message: Stored | None = None
    first: tuple[str, str] | None = None
    lenient: bool = False  # past RFC 8259 limits: a bad_request refusal is also right
    ack_id: str | None = None  # error frames must echo these
    request_id: str | None = None


def _refuse(*codes: str, ack_id: str | None = None, request_id: str | None = None) -> Verdict:
    return Verdict("refuse", frozenset(codes), ack_id=ack_id, request_id=request_id)


def judge(body: str, is_base64: bool, scene: Scene, route_response: bool) -> Verdict:
    """What the docs say must happen to this frame, sent by `scene.user`."""
    if is_base64:
        return _refuse("bad_request")  # binary frames are not part of the protocol
    if body == "":
        return _refuse("bad_request")
    if len(body) > FRAME_MAX:
        return _refuse("too_large")
    parsed = parse_json(body)
    if parsed is None or not isinstance(parsed.value, dict):
        return _refuse("bad_request")
    frame: dict[str, Any] = parsed.value
    ack_id, request_id = _id_field(frame, "ack_id"), _id_field(frame, "request_id")
    action = frame.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        return _refuse("bad_request", ack_id=ack_id, request_id=request_id)
    problems = _PROBLEMS[action](frame)
    if problems:
        return _refuse(*problems, ack_id=ack_id, request_id=request_id)
    verdict = _allowed(action, frame, scene, route_response)
    return replace(verdict, lenient=parsed.limited, ack_id=ack_id, request_id=request_id)


def _allowed(action: str, frame: dict[str, Any], scene: Scene, route_response: bool) -> Verdict:
    """A well-formed frame: what the scene's world allows."""
    if action == "ping":
        return Verdict("accept", answers=frozenset({"pong"}))
    if action == "read":
        # Nothing on success (v1), `done` on a two-way route; not yours: forbidden.
        done = "done" if route_response else None
        return Verdict("accept", frozenset({"forbidden", "not_found"}), frozenset({done}))
    if action == "recall":
        return Verdict("accept", frozenset({"forbidden", "not_found"}), frozenset({"recalled"}))
    if action == "auth":
        user = scene.token_users.get(frame["token"])
        if user is None:
            return _refuse("unauthorized")
        if user != scene.user:
            return _refuse("forbidden")  # a connection never changes its user
        return Verdict("accept", answers=frozenset({"authenticated"}))
    group = _optional(frame, "group_id")
    refusal: str | None = None
    if group in (None, 0):
        low, high = sorted((scene.user, frame["to"]))
        conversation = f"d:{low}:{high}"
    else:
        conversation = f"g:{group}"
        if group == scene.other_group:
            refusal = "forbidden"
        elif group != scene.member_group:
            refusal = "not_found"
    first = scene.acked.get(frame["ack_id"])
    if first is not None:
        # A retry stores nothing new; one to another target may also be refused.
        codes = frozenset({refusal}) if refusal and first[1] != conversation else frozenset()
        return Verdict("duplicate", codes, first=first)
    if refusal:
        return _refuse(refusal)
    return Verdict(
        "store",
        message=Stored(conversation, frame["content"], frame.get("msg_type", 1), frame["ack_id"]),
    )


# --- the harness: the app's handlers, on the local gateway's events ------------------------

MANAGEMENT_URL = "http://management.fuzz.invalid"
SECRET = "frame-fuzz-secret-at-least-32-bytes-long"
DOMAIN = "localhost:8000"
CONTEXT = LambdaContext("serverless-im-dev", 128, 60_000)


class RawConnections(RecordingConnections):
    """Records the bytes of every post too: a post that is not JSON is a finding, not a
    crash inside the fake."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: list[tuple[str, bytes]] = []

    def post(self, connection_id: str, data: bytes) -> tuple[Delivery, str | None]:
        self.raw.append((connection_id, data))
        try:
            return super().post(connection_id, data)
        except ValueError:
            return "delivered", None


def app_environment(route_response: bool, **extra: str) -> dict[str, str]:
    return {
        "AWS_REGION": "us-east-1",  # Lambda always sets it; Chalice's handler reads it
        "IM_JWT_SECRET": SECRET,
        "IM_MANAGEMENT_URL": MANAGEMENT_URL,
        "IM_ACK_ROUTE_RESPONSE": "true" if route_response else "false",
        "IM_SEND_RATE_LIMIT": "0/10",  # off: a valid frame is never rate limited
        # Thousands of frames: keep refusals and metrics out of the test output.
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
        **extra,
    }


@contextmanager
def app_services(api: RawConnections) -> Iterator[Services]:
    """The warm container's `Services` (chalicelib.deps.services(), what app.py's
    handlers use), built from the environment the caller set, posting to `api`."""
    deps.services.cache_clear()
    try:
        services = deps.services()
        # The one seam without a cached property: the pusher per management endpoint.
        services._pushers[MANAGEMENT_URL] = Pusher(api, 4)
        yield services
    finally:
        deps.services.cache_clear()


def token(user: int, ttl: int = 3600) -> str:
    now = int(time.time())
    return jwt.encode({"sub": str(user), "iat": now, "exp": now + ttl}, SECRET, "HS256")


@dataclass(frozen=True)
class Reply:
    result: Any
    posted: list[tuple[str, bytes]]  # every post during the call, to any connection


class Gateway:
    """Calls app.py's registered handlers (`connect`, `message`) the way the local
    gateway does, with the events it builds."""

    def __init__(self, api: RawConnections) -> None:
        from app import app

        self._handlers = app.handler_map
        self._api = api
        self._facts: dict[str, ConnectionFacts] = {}

    def connect(self, jwt_token: str) -> str:
        facts = ConnectionFacts(new_id(), time.time(), "198.51.100.7", DOMAIN, "api", "fuzzapi")
        event = connect_event(
            facts, [("Host", DOMAIN)], f"token={jwt_token}", new_id(), facts.connected_at
        )
        result = self._handlers["connect"](event, CONTEXT)
        assert result == {"statusCode": 200}, result
        self._facts[facts.connection_id] = facts
        return facts.connection_id

    def message(self, connection_id: str, body: str, is_base64: bool = False) -> Reply:
        event = message_event(
            self._facts[connection_id], body, "$default", new_id(), new_id(), time.time()
        )
        event["isBase64Encoded"] = is_base64
        mark = len(self._api.raw)
        result = self._handlers["message"](event, CONTEXT)
        return Reply(result, self._api.raw[mark:])


def new_scene(gateway: Gateway, services: Services) -> Scene:
    """Two connected users and two groups: one the sender is in, one it is not."""
    user, peer, third = fresh_user(), fresh_user(), fresh_user()
    tokens = {
        Ref.TOKEN_SELF: token(user),
        Ref.TOKEN_PEER: token(peer),
        Ref.TOKEN_EXPIRED: token(user, ttl=-3600),
    }
    connection = gateway.connect(tokens[Ref.TOKEN_SELF])
    gateway.connect(tokens[Ref.TOKEN_PEER])
    groups = services.chat(MANAGEMENT_URL).groups
    member_group = groups.create(user, "fuzz", [peer]).group_id
    other_group = groups.create(peer, "not yours", [third]).group_id
    return Scene(
        user,
        peer,
        member_group,
        other_group,
        connection,
        tokens,
        token_users={tokens[Ref.TOKEN_SELF]: user, tokens[Ref.TOKEN_PEER]: peer},
    )


# --- the properties ------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    messages: Mapping[str, StoredMessage]
    rest: Any  # everything else the store keeps


def _frame(data: str | bytes, where: str) -> dict[str, Any]:
    text = data.decode() if isinstance(data, bytes) else data
    try:
        frame = json.loads(text, parse_constant=lambda name: _fail(f"{where}: {name} in {text!r}"))
    except ValueError as exc:
        raise AssertionError(f"{where} is not JSON: {text[:200]!r}") from exc
    assert isinstance(frame, dict), f"{where} is not a JSON object: {text[:200]!r}"
    assert isinstance(frame.get("type"), str) and frame["type"], f"{where} has no type: {frame}"
    if frame["type"] == "error":
        code = frame.get("code")
        assert isinstance(code, str) and code in CODES, f"{where}: undocumented code {frame}"
        assert code not in NEVER, f"{where}: {code} for a fuzzed frame (a server bug): {frame}"
        assert isinstance(frame.get("error"), str) and frame["error"], f"{where}: no text {frame}"
    return frame


def _fail(message: str) -> Any:
    raise AssertionError(message)


def _integration_response(result: Any, route_response: bool) -> str | None:
    assert isinstance(result, dict), f"not a proxy result: {result!r}"
    assert type(result.get("statusCode")) is int and 200 <= result["statusCode"] < 600, result
    assert set(result) <= {"statusCode", "body", "headers", "isBase64Encoded"}, result
    if not route_response:
        assert "body" not in result, f"a body nobody receives: {result}"
        return None
    frame = route_response_frame(result, FRAME_MAX)  # what API Gateway would send
    assert isinstance(frame, str) and frame, f"route response frame {frame!r}"
    return frame


def check_frame(
    gateway: Gateway,
    scene: Scene,
    probe: Probe,
    route_response: bool,
    snapshot: Callable[[], Snapshot],
) -> Verdict:
    body, is_base64 = scene.render(probe)
    verdict = judge(body, is_base64, scene, route_response)
    before = snapshot()
    reply = gateway.message(scene.connection, body, is_base64)  # raising fails the test
    after = snapshot()

    returned = _integration_response(reply.result, route_response)
    posted = [(c, _frame(data, f"post to {c}")) for c, data in reply.posted]
    # A note to self reaches every connection of its writer, the sending one too.
    pushed = [f for c, f in posted if c == scene.connection and f["type"] == "message"]
    to_sender = [f for c, f in posted if c == scene.connection and f["type"] != "message"]
    if route_response:
        assert returned is not None
        assert not to_sender, f"posted to the sender as well as answered: {to_sender}"
        answer: dict[str, Any] | None = _frame(returned, "route response")
    else:
        assert len(to_sender) <= 1, f"more than one answer: {to_sender}"
        answer = to_sender[0] if to_sender else None

    context = f"frame {body[:300]!r} -> {answer}; expected {verdict}"
    refused = answer is not None and answer["type"] == "error"
    if refused:
        assert answer is not None
        for key in ("ack_id", "request_id"):
            wanted = getattr(verdict, key)
            if wanted is not None:
                assert answer.get(key) == wanted, f"{key} not echoed: {context}"
            elif key in answer:
                assert _text(answer[key], 1, ID_MAX), context
        assert after == before, f"a refused frame changed the store: {context}"
        assert not pushed, f"a refused frame was pushed: {pushed}"
        codes = verdict.codes | ({"bad_request"} if verdict.lenient else set())
        assert answer["code"] in codes, f"refused with the wrong code: {context}"
        return verdict
    assert verdict.outcome != "refuse", f"an invalid frame was not refused: {context}"
    assert not pushed or verdict.outcome == "store", f"pushed to the sender: {pushed}"
    assert answer is not None or None in verdict.answers, f"no answer: {context}"
    if verdict.outcome == "accept":
        assert answer is None or answer["type"] in verdict.answers, context
        assert set(after.messages) == set(before.messages), f"a message appeared: {context}"
        return verdict
    assert answer is not None and answer["type"] == "ack", context
    sent = parse_json(body)
    assert sent is not None and answer["ack_id"] == sent.value["ack_id"], context
    if verdict.outcome == "duplicate":
        assert verdict.first is not None
        assert answer["duplicate"] is True and answer["message_id"] == verdict.first[0], context
        assert after.messages == before.messages, f"a retry stored something: {context}"
        return verdict
    assert verdict.message is not None
    new = {k: v for k, v in after.messages.items() if k not in before.messages}
    assert list(new) == [answer["message_id"]], f"not stored exactly once: {context}; {new}"
    to_self = verdict.message.conversation == f"d:{scene.user}:{scene.user}"
    assert [f["message"]["id"] for f in pushed] == ([answer["message_id"]] if to_self else [])
    assert answer["duplicate"] is False, context
    assert answer["conversation_id"] == verdict.message.conversation, context
    stored = new[answer["message_id"]]
    got = Stored(str(stored.conversation), stored.content, stored.msg_type, stored.ack_id)
    assert got == verdict.message and stored.sender == scene.user, f"stored {stored}: {context}"
    assert {k: v for k, v in after.messages.items() if k in before.messages} == before.messages
    scene.acked[verdict.message.ack_id] = (answer["message_id"], verdict.message.conversation)
    scene.last_message = answer["message_id"]
    return verdict


def check_session(
    gateway: Gateway,
    services: Services,
    frames: list[Probe],
    route_response: bool,
    snapshot: Callable[[], Snapshot],
) -> list[str]:
    """Runs one example in a new scene; the outcomes, for statistics."""
    scene = new_scene(gateway, services)
    return [check_frame(gateway, scene, p, route_response, snapshot).outcome for p in frames]


def fuzz(
    gateway: Gateway,
    services: Services,
    route_response: bool,
    snapshot: Callable[[], Snapshot],
    fuzz_settings: Callable[[Any], Any],
) -> Counter[str]:
    """Runs the property over `sessions()` with the given Hypothesis settings; how often
    each outcome came, checked to cover them all (a fuzz that never stores tests little)."""
    outcomes: Counter[str] = Counter()

    @fuzz_settings
    @given(frames=sessions())
    def run(frames: list[Probe]) -> None:
        for outcome in check_session(gateway, services, frames, route_response, snapshot):
            outcomes[outcome] += 1
            event(outcome)

    run()
    assert {"refuse", "store", "duplicate", "accept"} <= set(outcomes), outcomes
    return outcomes
