"""The two REST calls a client makes: unread pages (keyset cursor) and mark-read.

Errors come back as `RestError` carrying the status and the server's `{"error": ...}`
text; network failures stay httpx exceptions. Neither ever includes the token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from clients.terminal.messages import BadFrame, ChatMessage, batches

UNREAD_PATH = "/api/v1/messages/unread"
MARK_READ_PATH = "/api/v1/messages/mark-read"
DEFAULT_PAGE_SIZE = 200


class RestError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text}")
        self.status = status
        self.text = text


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

    async def unread_pages(
        self, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[list[ChatMessage]]:
        """Every unread page, oldest first, until the server says there is no next one."""
        cursor: str | None = None
        while True:
            body: dict[str, Any] = {"limit": page_size}
            if cursor is not None:
                body["cursor"] = cursor
            page = await self._post(UNREAD_PATH, body)
            raw_messages = page.get("messages")
            if not isinstance(raw_messages, list):
                raise BadFrame("unread page has no message list")
            yield [ChatMessage.from_wire(m) for m in raw_messages]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def mark_read(self, message_ids: Sequence[str]) -> int:
        """Mark `message_ids` read in batches the server accepts; the number updated."""
        updated = 0
        for batch in batches(message_ids):
            reply = await self._post(MARK_READ_PATH, {"message_ids": batch})
            count = reply.get("updated")
            updated += count if isinstance(count, int) else 0
        return updated
