"""Clients for the end-to-end tests: a WebSocket chat client, REST calls, and the stack
under test (the local one `make dev` runs, or any deployment given its URLs)."""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

Frame = dict[str, Any]
DEFAULT_TIMEOUT = 10.0


def new_user() -> int:
    """A user id no other test (or earlier run against a remote stack) has used."""
    return random.randint(10**12, 2**53)


@dataclass
class Stack:
    ws_url: str
    rest_url: str
    token_for: Callable[[int], str]
    admin_url: str | None = None  # the local gateway's test API; None when remote
    secret: str | None = None  # known only for a local stack
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def local(self) -> bool:
        return self.admin_url is not None

    def token(self, user: int) -> str:
        return self.token_for(user)

    def post(self, path: str, body: Any, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if isinstance(body, (bytes, str)):
            return httpx.post(
                f"{self.rest_url}{path}",
                content=body,
                headers={**headers, "Content-Type": "application/json"},
                timeout=DEFAULT_TIMEOUT,
            )
        return httpx.post(f"{self.rest_url}{path}", json=body, headers=headers, timeout=30)

    def unread(self, user: int, **body: Any) -> Frame:
        response = self.post("/api/v1/messages/unread", body, self.token(user))
        assert response.status_code == 200, response.text
        result: Frame = response.json()
        return result

    def all_unread(self, user: int, limit: int = 100) -> list[Frame]:
        messages: list[Frame] = []
        cursor = None
        while True:
            body: dict[str, Any] = {"limit": limit}
            if cursor:
                body["cursor"] = cursor
            page = self.unread(user, **body)
            messages += page["messages"]
            cursor = page["next_cursor"]
            if cursor is None:
                return messages

    def mark_read(self, user: int, ids: list[str]) -> int:
        response = self.post("/api/v1/messages/mark-read", {"message_ids": ids}, self.token(user))
        assert response.status_code == 200, response.text
        updated: int = response.json()["updated"]
        return updated

    def connection_ids(self) -> set[str]:
        assert self.admin_url, "needs the local gateway's admin API"
        return set(httpx.get(f"{self.admin_url}/connections", timeout=5).json()["connections"])

    def drop(self, connection_id: str) -> None:
        """Close a connection without $disconnect: API Gateway does not promise one."""
        assert self.admin_url, "needs the local gateway's admin API"
        response = httpx.post(f"{self.admin_url}/connections/{connection_id}/drop", timeout=5)
        assert response.status_code in (200, 204), response.text

    def chat(self, user: int) -> Chat:
        return Chat.open(self, user)


def token_from_command(command: str) -> Callable[[int], str]:
    """TOKEN_CMD is run with the user id appended; its stdout is the token."""

    def token(user: int) -> str:
        out = subprocess.run(  # noqa: S602 - the command line is the tester's own
            f"{command} {user}", shell=True, check=True, capture_output=True, text=True
        )
        return out.stdout.strip()

    return token


class Chat:
    """One WebSocket connection of one user, reading frames in the background."""

    def __init__(self, ws: ClientConnection, user: int) -> None:
        self.ws = ws
        self.user = user
        self._frames: list[Frame] = []
        self._cond = threading.Condition()
        self.closed = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @classmethod
    def open(cls, stack: Stack, user: int, **kwargs: Any) -> Chat:
        # legacy=True: a plain connection object that this class owns and closes.
        ws = connect(
            f"{stack.ws_url}?token={stack.token(user)}", open_timeout=10, legacy=True, **kwargs
        )
        return cls(ws, user)

    def _read(self) -> None:
        try:
            for raw in self.ws:
                frame = json.loads(raw)
                with self._cond:
                    self._frames.append(frame)
                    self._cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                self.closed = True
                self._cond.notify_all()

    def send_raw(self, data: str | bytes) -> None:
        self.ws.send(data)

    def send_frame(self, frame: Frame) -> None:
        self.ws.send(json.dumps(frame))

    def wait_for(self, match: Callable[[Frame], bool], timeout: float = DEFAULT_TIMEOUT) -> Frame:
        """The first frame (received or to come) that matches; it is consumed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, frame in enumerate(self._frames):
                    if match(frame):
                        return self._frames.pop(i)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    raise AssertionError(
                        f"no matching frame for user {self.user}; have {self._frames}"
                    )
                self._cond.wait(remaining)

    def expect(self, kind: str, timeout: float = DEFAULT_TIMEOUT) -> Frame:
        return self.wait_for(lambda f: f.get("type") == kind, timeout)

    def messages(self, count: int, timeout: float = DEFAULT_TIMEOUT) -> list[Frame]:
        return [self.expect("message", timeout)["message"] for _ in range(count)]

    def send(
        self,
        to: int,
        content: str,
        ack_id: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        extra: Frame | None = None,
    ) -> Frame:
        """Send (with any `extra` fields) and wait for this frame's ack or error."""
        ack_id = ack_id or uuid.uuid4().hex
        frame = {"action": "send", "to": to, "content": content, "ack_id": ack_id, **(extra or {})}
        self.send_frame(frame)
        return self.reply_to(ack_id, timeout)

    def reply_to(self, ack_id: str, timeout: float = DEFAULT_TIMEOUT) -> Frame:
        return self.wait_for(
            lambda f: f.get("type") in ("ack", "error") and f.get("ack_id") == ack_id, timeout
        )

    def pending(self, settle: float = 0.3) -> list[Frame]:
        """Frames not yet consumed, after waiting `settle` seconds for stragglers."""
        time.sleep(settle)
        with self._cond:
            return list(self._frames)

    def ping(self) -> None:
        self.send_frame({"action": "ping"})
        self.expect("pong")

    def close(self) -> None:
        self.ws.close()
        self._reader.join(5)

    def __enter__(self) -> Chat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
