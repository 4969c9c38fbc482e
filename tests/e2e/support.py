"""Clients for the end-to-end tests: a WebSocket chat client, REST calls, and the stack
under test (the local one `make dev` runs, or any deployment given its URLs).

v1.1 helpers (groups, conversations, history, recall, receipts) sit beside the v1 ones;
each REST helper asserts a 200 and returns the decoded body, `Stack.refusal` is for the
calls that must fail."""

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
# Contract section 4: a v1 message object has these fields and no others.
V1_MESSAGE_FIELDS = frozenset(
    {"id", "from", "to", "group_id", "content", "msg_type", "ack_id", "status"}
    | {"created_at", "updated_at"}
)


def new_user() -> int:
    """A user id no other test (or earlier run against a remote stack) has used."""
    return random.randint(10**12, 2**53)


def direct_id(a: int, b: int) -> str:
    """The conversation id of a 1:1 pair, as clients compute it."""
    return f"d:{min(a, b)}:{max(a, b)}"


def new_ack_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Stack:
    ws_url: str
    rest_url: str
    token_for: Callable[[int], str]
    admin_url: str | None = None  # the local gateway's test API; None when remote
    secret: str | None = None  # known only for a local stack
    extra: dict[str, Any] = field(default_factory=dict)
    # One pooled client for every REST call (it may be shared between threads): a new
    # client per call costs ~20 ms of setup, more than most calls take to answer.
    http: httpx.Client = field(default_factory=httpx.Client, repr=False, compare=False)

    def close(self) -> None:
        self.http.close()

    @property
    def local(self) -> bool:
        return self.admin_url is not None

    def token(self, user: int) -> str:
        return self.token_for(user)

    def post(self, path: str, body: Any, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if isinstance(body, (bytes, str)):
            return self.http.post(
                f"{self.rest_url}{path}",
                content=body,
                headers={**headers, "Content-Type": "application/json"},
                timeout=DEFAULT_TIMEOUT,
            )
        return self.http.post(f"{self.rest_url}{path}", json=body, headers=headers, timeout=30)

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

    def chat_tracked(self, user: int) -> tuple[Chat, str]:
        """A connection and its id, read from the local gateway's test API (one opener
        at a time)."""
        before = self.connection_ids()
        chat = self.chat(user)
        (connection_id,) = self.connection_ids() - before
        return chat, connection_id

    # --- v1.1 REST ---------------------------------------------------------------------

    def call(self, path: str, body: Frame, user: int) -> Frame:
        """POST as `user`; the call must succeed. Returns the decoded body."""
        response = self.post(path, body, self.token(user))
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
        result: Frame = response.json()
        return result

    def refusal(self, path: str, body: Any, user: int) -> tuple[int, str]:
        """POST as `user`; the call must fail. Returns its status and error text."""
        response = self.post(path, body, self.token(user))
        assert response.status_code >= 400, f"{path} was accepted: {response.text}"
        error = response.json()["error"]
        assert isinstance(error, str) and error, response.text
        return response.status_code, error

    def send_rest(
        self,
        user: int,
        content: str,
        *,
        to: int | None = None,
        group_id: int | None = None,
        ack_id: str | None = None,
    ) -> Frame:
        body: Frame = {"content": content, "ack_id": ack_id or new_ack_id()}
        if to is not None:
            body["to"] = to
        if group_id is not None:
            body["group_id"] = group_id
        return self.call("/api/v1/messages/send", body, user)

    def recall(self, user: int, message_id: str) -> Frame:
        return self.call("/api/v1/messages/recall", {"message_id": message_id}, user)

    def receipts(self, user: int, message_id: str) -> Frame:
        return self.call("/api/v1/messages/receipts", {"message_id": message_id}, user)

    def conversations(self, user: int, **body: Any) -> Frame:
        return self.call("/api/v1/conversations", body, user)

    def all_conversations(self, user: int, limit: int = 100) -> list[Frame]:
        found: list[Frame] = []
        body: Frame = {"limit": limit}
        while True:
            page = self.conversations(user, **body)
            found += page["conversations"]
            if page["next_cursor"] is None:
                return found
            body["cursor"] = page["next_cursor"]

    def conversation(self, user: int, conversation_id: str) -> Frame | None:
        """`user`'s conversation-list entry for `conversation_id`, if it is listed."""
        entries = [
            c for c in self.all_conversations(user) if c["conversation_id"] == conversation_id
        ]
        assert len(entries) <= 1, entries
        return entries[0] if entries else None

    def history(self, user: int, conversation_id: str, **body: Any) -> Frame:
        return self.call(
            "/api/v1/conversations/history", {"conversation_id": conversation_id, **body}, user
        )

    def full_history(self, user: int, conversation_id: str) -> list[Frame]:
        """Every message of the conversation `user` can see, oldest first."""
        pages: list[list[Frame]] = []
        body: Frame = {"limit": 200}
        while True:
            page = self.history(user, conversation_id, **body)
            pages.append(page["messages"])
            if not page["has_more"]:
                return [m for p in reversed(pages) for m in p]
            body["before_seq"] = page["messages"][0]["seq"]

    def mark_conversation_read(
        self, user: int, conversation_id: str, seq: int | None = None
    ) -> Frame:
        body: Frame = {"conversation_id": conversation_id}
        if seq is not None:
            body["seq"] = seq
        return self.call("/api/v1/conversations/mark-read", body, user)

    def create_group(self, owner: int, members: list[int], name: str = "team") -> Frame:
        group: Frame = self.call(
            "/api/v1/groups/create", {"name": name, "members": members}, owner
        )["group"]
        return group

    def groups(self, user: int) -> list[Frame]:
        groups: list[Frame] = self.call("/api/v1/groups", {}, user)["groups"]
        return groups

    def group_members(self, user: int, group_id: int) -> Frame:
        return self.call("/api/v1/groups/members", {"group_id": group_id}, user)

    def member_ids(self, user: int, group_id: int) -> list[int]:
        return [m["user_id"] for m in self.group_members(user, group_id)["members"]]

    def add_members(self, owner: int, group_id: int, users: list[int]) -> Frame:
        group: Frame = self.call(
            "/api/v1/groups/add-members", {"group_id": group_id, "user_ids": users}, owner
        )["group"]
        return group

    def remove_members(self, owner: int, group_id: int, users: list[int]) -> Frame:
        group: Frame = self.call(
            "/api/v1/groups/remove-members", {"group_id": group_id, "user_ids": users}, owner
        )["group"]
        return group

    def leave(self, user: int, group_id: int) -> Frame:
        return self.call("/api/v1/groups/leave", {"group_id": group_id}, user)


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

    def send_group(
        self, group_id: int, content: str, ack_id: str | None = None, extra: Frame | None = None
    ) -> Frame:
        """Send to a group and wait for this frame's ack or error."""
        ack_id = ack_id or new_ack_id()
        frame = {"action": "send", "group_id": group_id, "content": content, "ack_id": ack_id}
        self.send_frame({**frame, **(extra or {})})
        return self.reply_to(ack_id)

    def read(self, frame: Frame) -> None:
        """A `read` frame (no answer on success); returns once the server handled it --
        frames from one connection are handled in order, so a pong means it is done --
        and fails if it was refused."""
        self.send_frame({"action": "read", **frame})
        self.ping()
        with self._cond:
            errors = [f for f in self._frames if f.get("type") == "error"]
        assert not errors, errors

    def recall(self, message_id: str, request_id: str | None = None) -> Frame:
        """Recall over the socket: the `recalled` frame for it, or the `error`."""
        request_id = request_id or new_ack_id()
        self.send_frame({"action": "recall", "message_id": message_id, "request_id": request_id})
        return self.wait_for(
            lambda f: (
                (f.get("type") == "recalled" and f.get("message_id") == message_id)
                or (f.get("type") == "error" and f.get("request_id") == request_id)
            )
        )

    def take(self, kind: str, settle: float = 0.3) -> list[Frame]:
        """Every frame of type `kind` received so far (after `settle` seconds); consumed."""
        time.sleep(settle)
        with self._cond:
            taken = [f for f in self._frames if f.get("type") == kind]
            self._frames = [f for f in self._frames if f.get("type") != kind]
        return taken

    def pending(self, settle: float = 0.3, done: bool = False) -> list[Frame]:
        """Frames not yet consumed, after waiting `settle` seconds for stragglers --
        without `done` (the two-way route's answer to a frame with nothing else to say)
        unless asked for."""
        time.sleep(settle)
        with self._cond:
            return [f for f in self._frames if done or f.get("type") != "done"]

    def ping(self) -> None:
        self.send_frame({"action": "ping"})
        self.expect("pong")

    def ping_signed_in(self, token: str) -> None:
        """Ping as a client does when presence may have lost this connection: a
        container that knows it answers `pong` (and registers it again); one that does
        not answers `unauthorized`, and the client signs in again with `auth`."""
        self.send_frame({"action": "ping"})
        answer = self.wait_for(lambda f: f.get("type") in ("pong", "error"))
        if answer["type"] == "pong":
            return
        assert answer["code"] == "unauthorized", answer
        self.send_frame({"action": "auth", "token": token})
        self.expect("authenticated")
        self.ping()

    def close(self) -> None:
        self.ws.close()
        self._reader.join(5)

    def __enter__(self) -> Chat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
