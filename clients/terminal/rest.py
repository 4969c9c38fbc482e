"""The REST calls the client makes (docs/protocol.md, v1.1): the conversation list,
history pages, conversation mark-read, recall, and the group routes.

Errors come back as `RestError` carrying the status and the server's `{"error": ...}`
text; network failures stay httpx exceptions. Neither ever includes the token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from clients.terminal.conversations import Fetch
from clients.terminal.messages import (
    BadFrame,
    ConversationInfo,
    ConversationPage,
    GroupInfo,
    HistoryPage,
    Member,
    members_from_wire,
)

CONVERSATIONS_PATH = "/api/v1/conversations"
HISTORY_PATH = "/api/v1/conversations/history"
CONVERSATION_READ_PATH = "/api/v1/conversations/mark-read"
RECALL_PATH = "/api/v1/messages/recall"
GROUP_CREATE_PATH = "/api/v1/groups/create"
GROUP_MEMBERS_PATH = "/api/v1/groups/members"
GROUP_ADD_PATH = "/api/v1/groups/add-members"
GROUP_REMOVE_PATH = "/api/v1/groups/remove-members"
GROUP_LEAVE_PATH = "/api/v1/groups/leave"
LIST_PAGE_SIZE = 100  # the server's maximum
LIST_PAGES_MAX = 10  # the first 1000 conversations, newest activity first


class RestError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text}")
        self.status = status
        self.text = text


@dataclass(frozen=True)
class MarkedRead:
    conversation_id: str
    read_seq: int
    unread_count: int


@dataclass(frozen=True)
class RecallDone:
    message_id: str
    conversation_id: str
    seq: int


def _int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if type(value) is not int:
        raise BadFrame(f"reply has no integer `{key}`")
    return value


def _str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise BadFrame(f"reply has no string `{key}`")
    return value


class RestApi:
    def __init__(self, http: httpx.AsyncClient, rest_url: str, token: str) -> None:
        self._http = http
        self._rest_url = rest_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self._http.post(
            f"{self._rest_url}{path}", json=body, headers=self._headers
        )
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code != 200 or not isinstance(payload, dict):
            text = payload.get("error") if isinstance(payload, dict) else None
            raise RestError(response.status_code, str(text or response.reason_phrase))
        return payload

    async def conversation_pages(
        self, pages: int = LIST_PAGES_MAX, page_size: int = LIST_PAGE_SIZE
    ) -> AsyncIterator[tuple[list[ConversationInfo], bool]]:
        """The conversation list, newest activity first, page by page, each with
        whether it was the last one (at most `pages` pages are read)."""
        cursor: str | None = None
        for _ in range(pages):
            body: dict[str, Any] = {"limit": page_size}
            if cursor is not None:
                body["cursor"] = cursor
            page = ConversationPage.from_wire(await self._post(CONVERSATIONS_PATH, body))
            cursor = page.next_cursor
            yield page.conversations, cursor is None
            if cursor is None:
                return

    async def history(self, fetch: Fetch) -> HistoryPage:
        body: dict[str, Any] = {"conversation_id": fetch.conversation_id, "limit": fetch.limit}
        if fetch.after_seq is not None:
            body["after_seq"] = fetch.after_seq
        if fetch.before_seq is not None:
            body["before_seq"] = fetch.before_seq
        page = HistoryPage.from_wire(await self._post(HISTORY_PATH, body))
        if page.conversation_id != fetch.conversation_id:
            raise BadFrame("history of another conversation")
        return page

    async def mark_conversation_read(self, conversation_id: str, seq: int) -> MarkedRead:
        body = {"conversation_id": conversation_id, "seq": seq}
        reply = await self._post(CONVERSATION_READ_PATH, body)
        return MarkedRead(conversation_id, _int(reply, "read_seq"), _int(reply, "unread_count"))

    async def recall(self, message_id: str) -> RecallDone:
        reply = await self._post(RECALL_PATH, {"message_id": message_id})
        return RecallDone(
            _str(reply, "message_id"), _str(reply, "conversation_id"), _int(reply, "seq")
        )

    async def create_group(self, name: str, members: Sequence[int]) -> GroupInfo:
        reply = await self._post(GROUP_CREATE_PATH, {"name": name, "members": list(members)})
        return GroupInfo.from_wire(reply.get("group"))

    async def group_members(self, group_id: int) -> list[Member]:
        return members_from_wire(await self._post(GROUP_MEMBERS_PATH, {"group_id": group_id}))

    async def add_members(self, group_id: int, user_ids: Sequence[int]) -> GroupInfo:
        body = {"group_id": group_id, "user_ids": list(user_ids)}
        return GroupInfo.from_wire((await self._post(GROUP_ADD_PATH, body)).get("group"))

    async def remove_members(self, group_id: int, user_ids: Sequence[int]) -> GroupInfo:
        body = {"group_id": group_id, "user_ids": list(user_ids)}
        return GroupInfo.from_wire((await self._post(GROUP_REMOVE_PATH, body)).get("group"))

    async def leave_group(self, group_id: int) -> None:
        await self._post(GROUP_LEAVE_PATH, {"group_id": group_id})
