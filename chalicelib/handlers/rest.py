"""REST routes (all POST): v1 unread and mark-read; v1.1 send, recall, receipts,
conversations, history, conversation mark-read and groups.

The caller is the token's user; a `user_id` in a v1 body must equal it (403 otherwise).
Every body is parsed into a strict model first, so a malformed or hostile request is a
400 that changed nothing; then one use case is called and its reply model encoded.

`OPERATIONS` is each route's contract, declared once by `@operation` on its handler:
the request and reply models, the refusals beyond the common ones, its rate-limit
cost. The handlers run by it, and docs/openapi.yaml is generated from it
(`make openapi`); app.REST_ROUTES maps the paths to these names.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from chalice.app import Request, Response

from chalicelib.auth import bearer_token
from chalicelib.chat.domain import ConversationId
from chalicelib.chat.sending import SendCommand
from chalicelib.chat.service import Chat
from chalicelib.deps import Services
from chalicelib.errors import Forbidden, Unauthorized
from chalicelib.handlers import views
from chalicelib.handlers.http import Handler, endpoint, json_response
from chalicelib.models.bodies import (
    ConversationReadBody,
    ConversationReadRequest,
    ConversationsBody,
    ConversationsRequest,
    GroupCreateRequest,
    GroupMembersRequest,
    GroupRef,
    GroupReply,
    GroupsBody,
    HistoryBody,
    HistoryRequest,
    LeaveBody,
    MarkReadBody,
    MarkReadRequest,
    MembersBody,
    MessageRef,
    NoFields,
    RecallBody,
    ReceiptsBody,
    Reply,
    RequestBody,
    SendBody,
    SendRequest,
    UnreadPageBody,
    UnreadRequest,
)
from chalicelib.models.frames import AckFrame
from chalicelib.models.messages import Message
from chalicelib.observability import count
from chalicelib.validation import parse_body

B = TypeVar("B", bound=RequestBody)
R = TypeVar("R", bound=Reply)

# What any route can answer besides its 200: a bad body (400), a missing or bad token
# (401), a body over the limit (413), not JSON (415, Chalice's), the rate limit (429,
# with Retry-After) and a dependency down (503).
COMMON_REFUSALS = frozenset({400, 401, 413, 415, 429, 503})
# A reply costs one more unit of the caller's rate limit per this many bytes, so big
# pages cannot be pulled as fast as small ones (what a 31-byte request can ask for).
BYTES_PER_UNIT = 64 * 1024


@dataclass(frozen=True)
class Operation:
    """One route's contract."""

    name: str  # the handler's name (app.REST_ROUTES maps a path to it)
    summary: str  # the first line of the handler's docstring
    request: type[RequestBody]
    reply: type[Reply]
    refusals: frozenset[int]  # every status other than 200 it can answer
    cost: int  # rate-limit units charged before the call (`send` counts in its use case)
    paged: bool  # charged one more unit per BYTES_PER_UNIT of reply


OPERATIONS: dict[str, Operation] = {}


@dataclass(frozen=True)
class Call(Generic[B]):
    """What a handler gets: who is calling, what they sent, and the use cases
    (delivering through the configured management endpoint, if any)."""

    caller: int
    body: B
    chat: Chat


def operation(
    request: type[B],
    reply: type[R],
    *,
    refusals: Iterable[int] = (),
    cost: int = 1,
    paged: bool = False,
) -> Callable[[Callable[[Call[B]], R]], Handler]:
    """Declare a route's contract in OPERATIONS and make its handler: authenticate,
    rate-limit, parse the body into `request`, run the use case, encode its `reply`."""

    def register(use: Callable[[Call[B]], R]) -> Handler:
        summary = (inspect.getdoc(use) or use.__name__).splitlines()[0]
        OPERATIONS[use.__name__] = Operation(
            use.__name__, summary, request, reply, COMMON_REFUSALS | set(refusals), cost, paged
        )

        @endpoint
        @functools.wraps(use)
        def handler(http: Request, services: Services) -> Response:
            caller = authenticate(http, services)
            services.rate_limiter.hit(caller, cost)
            body = parse_body(request, http.raw_body, services.settings.max_request_bytes)
            chat = services.chat(services.settings.management_url)
            response = json_response(use(Call(caller, body, chat)).wire())
            extra = len(response.body) // BYTES_PER_UNIT if paged else 0
            if extra:
                services.rate_limiter.charge(caller, extra)
            return response

        return handler

    return register


def authenticate(request: Request, services: Services) -> int:
    token = bearer_token(request.headers or {})
    try:
        if token is None:
            raise Unauthorized("missing bearer token")
        return services.verifier.user_of(token)
    except Unauthorized:
        count("AuthFailures")
        raise


def _own(body_user: int | None, caller: int) -> None:
    if body_user is not None and body_user != caller:
        raise Forbidden("user_id does not match the token's user")


# --- v1 -----------------------------------------------------------------------------


@operation(UnreadRequest, UnreadPageBody, refusals={403}, paged=True)
def unread(call: Call[UnreadRequest]) -> UnreadPageBody:
    """The caller's unread messages (1:1 and group), oldest first, a page at a time."""
    _own(call.body.user_id, call.caller)
    page = call.chat.unread(call.caller, call.body.limit, call.body.cursor)
    messages = [Message.of(m) for m in page.items]
    return UnreadPageBody(messages=messages, total=len(messages), next_cursor=page.next_cursor)


@operation(MarkReadRequest, MarkReadBody, refusals={403})
def mark_read(call: Call[MarkReadRequest]) -> MarkReadBody:
    """Mark the caller's own unread messages read, by id; says how many changed."""
    _own(call.body.user_id, call.caller)
    return MarkReadBody(updated=call.chat.mark_read(call.caller, call.body.message_ids, None))


# --- v1.1 messages ----------------------------------------------------------------------


@operation(SendRequest, SendBody, refusals={403, 404}, cost=0)  # the use case counts
def send(call: Call[SendRequest]) -> SendBody:
    """Send a message to a user (`to`) or a group (`group_id`), as the `send` frame."""
    body = call.body
    command = SendCommand(
        sender=call.caller,
        to=None if body.group else body.to,
        group_id=body.group,
        content=body.content,
        msg_type=body.msg_type,
        ack_id=body.ack_id,
    )
    appended = call.chat.send(command, lambda _appended, _last: None)
    # The ack frame's fields, the same as a WebSocket sender gets.
    ack = AckFrame.of(appended.message, appended.duplicate)
    return SendBody.model_validate(ack.model_dump(exclude={"type"}))


@operation(MessageRef, RecallBody, refusals={403, 404})
def recall(call: Call[MessageRef]) -> RecallBody:
    """Recall one of the caller's messages within the recall window (idempotent)."""
    m = call.chat.recall(call.caller, call.body.message_id)
    return RecallBody(
        message_id=m.id, conversation_id=str(m.conversation), seq=m.seq, recalled_at=m.updated_at
    )


@operation(MessageRef, ReceiptsBody, refusals={403, 404})
def receipts(call: Call[MessageRef]) -> ReceiptsBody:
    """Who has read one of the caller's messages."""
    return views.receipts(call.chat.read_by(call.caller, call.body.message_id))


# --- v1.1 conversations -----------------------------------------------------------------


@operation(ConversationsRequest, ConversationsBody, paged=True)
def conversations(call: Call[ConversationsRequest]) -> ConversationsBody:
    """The caller's conversations, newest activity first, a page at a time."""
    page = call.chat.conversations(call.caller, call.body.limit, call.body.cursor)
    return views.conversations(call.caller, page)


@operation(HistoryRequest, HistoryBody, refusals={403, 404}, paged=True)
def history(call: Call[HistoryRequest]) -> HistoryBody:
    """A page of one conversation's messages, by seq: before or after a seq, or the newest."""
    body = call.body
    conversation = ConversationId.parse(body.conversation_id)
    page = call.chat.history(call.caller, conversation, body.before_seq, body.after_seq, body.limit)
    return views.history(page)


@operation(ConversationReadRequest, ConversationReadBody, refusals={403, 404})
def conversation_read(call: Call[ConversationReadRequest]) -> ConversationReadBody:
    """Mark a conversation read up to a seq (by default, its newest message)."""
    conversation = ConversationId.parse(call.body.conversation_id)
    done = call.chat.mark_conversation_read(call.caller, conversation, call.body.seq, None)
    return ConversationReadBody(
        conversation_id=str(conversation),
        read_seq=done.read.read_seq,
        unread_count=done.unread_count,
        updated=done.updated,
    )


# --- v1.1 groups ------------------------------------------------------------------------


@operation(GroupCreateRequest, GroupReply)
def group_create(call: Call[GroupCreateRequest]) -> GroupReply:
    """Create a group owned by the caller, with the given members."""
    group = call.chat.groups.create(call.caller, call.body.name, call.body.members)
    return GroupReply(group=views.group(group, "owner"))


@operation(NoFields, GroupsBody)
def group_list(call: Call[NoFields]) -> GroupsBody:
    """The groups the caller is in, with the caller's role in each."""
    found = call.chat.groups.mine(call.caller)
    return GroupsBody(groups=[views.group(v.group, v.role) for v in found])


@operation(GroupRef, MembersBody, refusals={403, 404})
def group_members(call: Call[GroupRef]) -> MembersBody:
    """The members of a group the caller is in, in joining order."""
    group, members = call.chat.groups.members(call.caller, call.body.group_id)
    return views.members(group, members)


@operation(GroupMembersRequest, GroupReply, refusals={403, 404})
def group_add(call: Call[GroupMembersRequest]) -> GroupReply:
    """Add members to a group (its owner only)."""
    group = call.chat.groups.add(call.caller, call.body.group_id, call.body.user_ids)
    return GroupReply(group=views.group(group, "owner"))


@operation(GroupMembersRequest, GroupReply, refusals={403, 404})
def group_remove(call: Call[GroupMembersRequest]) -> GroupReply:
    """Remove members from a group (its owner only; never the owner)."""
    group = call.chat.groups.remove(call.caller, call.body.group_id, call.body.user_ids)
    return GroupReply(group=views.group(group, "owner"))


@operation(GroupRef, LeaveBody, refusals={403, 404})
def group_leave(call: Call[GroupRef]) -> LeaveBody:
    """Leave a group (an owner who leaves hands the group on)."""
    call.chat.groups.leave(call.caller, call.body.group_id)
    return LeaveBody(group_id=call.body.group_id)
