"""REST routes (all POST): v1 unread and mark-read; v1.1 send, recall, receipts,
conversations, history, conversation mark-read and groups.

The caller is the token's user; a `user_id` in a v1 body must equal it (403 otherwise).
Every body is parsed into a strict model first, so a malformed or hostile request is a
400 that changed nothing; then one use case is called and its result encoded.
"""

from __future__ import annotations

from typing import Any, TypeVar

from chalice.app import Request, Response
from pydantic import BaseModel

from chalicelib.auth import bearer_token
from chalicelib.chat.domain import ConversationId
from chalicelib.chat.sending import SendCommand
from chalicelib.chat.service import Chat
from chalicelib.deps import Services
from chalicelib.errors import Forbidden, Unauthorized
from chalicelib.handlers import views
from chalicelib.handlers.http import endpoint, json_response
from chalicelib.models.bodies import (
    ConversationReadBody,
    ConversationReadRequest,
    ConversationsRequest,
    GroupCreateRequest,
    GroupMembersRequest,
    GroupRef,
    GroupReply,
    GroupsBody,
    HistoryRequest,
    LeaveBody,
    MarkReadBody,
    MarkReadRequest,
    MessageRef,
    NoFields,
    RecallBody,
    SendRequest,
    UnreadPageBody,
    UnreadRequest,
)
from chalicelib.models.frames import AckFrame
from chalicelib.models.messages import Message
from chalicelib.observability import count
from chalicelib.validation import parse_body

B = TypeVar("B", bound=BaseModel)


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


def _call(
    request: Request, services: Services, model: type[B], cost: int = 1
) -> tuple[int, B, Chat]:
    """Who is calling (rate-limited per user, like the WebSocket), what they sent, and
    the use cases (delivering through the configured management endpoint, if any)."""
    caller = authenticate(request, services)
    services.rate_limiter.hit(caller, cost)
    body = parse_body(model, request.raw_body, services.settings.max_request_bytes)
    return caller, body, services.chat(services.settings.management_url)


# A reply costs one more unit of the caller's rate limit per this many bytes, so big
# pages cannot be pulled as fast as small ones (what a 31-byte request can ask for).
BYTES_PER_UNIT = 64 * 1024


def _page(services: Services, caller: int, body: dict[str, Any]) -> Response:
    response = json_response(body)
    extra = len(response.body) // BYTES_PER_UNIT
    if extra:
        services.rate_limiter.charge(caller, extra)
    return response


# --- v1 -----------------------------------------------------------------------------


@endpoint
def unread(request: Request, services: Services) -> Response:
    caller, body, chat = _call(request, services, UnreadRequest)
    _own(body.user_id, caller)
    page = chat.unread(caller, body.limit, body.cursor)
    messages = [Message.of(m) for m in page.items]
    reply = UnreadPageBody(messages=messages, total=len(messages), next_cursor=page.next_cursor)
    return _page(services, caller, reply.wire())


@endpoint
def mark_read(request: Request, services: Services) -> Response:
    caller, body, chat = _call(request, services, MarkReadRequest)
    _own(body.user_id, caller)
    updated = chat.mark_read(caller, body.message_ids, None)
    return json_response(MarkReadBody(updated=updated).model_dump())


# --- v1.1 messages ----------------------------------------------------------------------


@endpoint
def send(request: Request, services: Services) -> Response:
    caller, body, chat = _call(request, services, SendRequest, cost=0)  # the use case counts
    command = SendCommand(
        sender=caller,
        to=None if body.group else body.to,
        group_id=body.group,
        content=body.content,
        msg_type=body.msg_type,
        ack_id=body.ack_id,
    )
    appended = chat.send(command, lambda _appended, _last: None)
    # The ack frame's fields, the same as a WebSocket sender gets.
    reply = AckFrame.of(appended.message, appended.duplicate).wire()
    del reply["type"]
    return json_response(reply)


@endpoint
def recall(request: Request, services: Services) -> Response:
    caller, body, chat = _call(request, services, MessageRef)
    m = chat.recall(caller, body.message_id)
    reply = RecallBody(
        message_id=m.id, conversation_id=str(m.conversation), seq=m.seq, recalled_at=m.updated_at
    )
    return json_response(reply.wire())


@endpoint
def receipts(request: Request, services: Services) -> Response:
    caller, body, chat = _call(request, services, MessageRef)
    return json_response(views.receipts(chat.read_by(caller, body.message_id)).wire())


# --- v1.1 conversations -----------------------------------------------------------------


@endpoint
def conversations(request: Request, services: Services) -> Response:
    caller, body, chat = _call(request, services, ConversationsRequest)
    page = chat.conversations(caller, body.limit, body.cursor)
    return _page(services, caller, views.conversations(caller, page).wire())


@endpoint
def history(request: Request, services: Services) -> Response:
    caller, body, chat = _call(request, services, HistoryRequest)
    conversation = ConversationId.parse(body.conversation_id)
    page = chat.history(caller, conversation, body.before_seq, body.after_seq, body.limit)
    return _page(services, caller, views.history(page).wire())


@endpoint
def conversation_read(request: Request, services: Services) -> Response:
    caller, body, chat = _call(request, services, ConversationReadRequest)
    conversation = ConversationId.parse(body.conversation_id)
    done = chat.mark_conversation_read(caller, conversation, body.seq, None)
    reply = ConversationReadBody(
        conversation_id=str(conversation),
        read_seq=done.read.read_seq,
        unread_count=done.unread_count,
        updated=done.updated,
    )
    return json_response(reply.wire())


# --- v1.1 groups ------------------------------------------------------------------------


@endpoint
def group_create(request: Request, services: Services) -> Response:
    caller, body, chat = _call(request, services, GroupCreateRequest)
    group = chat.groups.create(caller, body.name, body.members)
    return json_response(GroupReply(group=views.group(group, "owner")).wire())


@endpoint
def group_list(request: Request, services: Services) -> Response:
    caller, _body, chat = _call(request, services, NoFields)
    found = chat.groups.mine(caller)
    return json_response(GroupsBody(groups=[views.group(v.group, v.role) for v in found]).wire())


@endpoint
def group_members(request: Request, services: Services) -> Response:
    caller, body, chat = _call(request, services, GroupRef)
    group, members = chat.groups.members(caller, body.group_id)
    return json_response(views.members(group, members).wire())


@endpoint
def group_add(request: Request, services: Services) -> Response:
    return _change_members(request, services, "add")


@endpoint
def group_remove(request: Request, services: Services) -> Response:
    return _change_members(request, services, "remove")


def _change_members(request: Request, services: Services, how: str) -> Response:
    caller, body, chat = _call(request, services, GroupMembersRequest)
    change = chat.groups.add if how == "add" else chat.groups.remove
    group = change(caller, body.group_id, body.user_ids)
    return json_response(GroupReply(group=views.group(group, "owner")).wire())


@endpoint
def group_leave(request: Request, services: Services) -> Response:
    caller, body, chat = _call(request, services, GroupRef)
    chat.groups.leave(caller, body.group_id)
    return json_response(LeaveBody(group_id=body.group_id).wire())
