"""A chat session: one user's connection to the service, kept up for as long as it runs.

Each connection goes (docs/protocol.md, "How sync works"): WebSocket handshake ->
the conversation list (unread counts, last messages) -> history of the open
conversation after what it has -> mark read what was shown -> realtime. Frames pushed
meanwhile wait in the socket and are handled after it; ChatState places each message
once, by seq, and asks for history when it sees a gap.

Sends go one at a time, each waiting for its `ack` or `error`: that gives the
contract's ordering and tells which line a refusal is about. A send in flight when the
connection drops is sent again after the reconnect with the same `ack_id`, which the
server answers with a duplicate ack, never a second message.

A `ping` every `Timing.ping_interval` keeps API Gateway's 10-minute idle timeout away;
a missing pong or ack means a dead connection. After each pong the conversation list is
read again: the server keeps a message stored and unread when it could not push it
(presence lost or unavailable, a failed push), and this sweep counts it (or, in the
open conversation, fetches and shows it) without waiting for a reconnect. Any drop
(API Gateway's 2-hour limit included) is followed by a reconnect after a jittered
exponential backoff.

Everything else the user does (recall, groups) is a REST call made from here, with
the connection's HTTP client and a fresh token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from clients.terminal.backoff import Backoff
from clients.terminal.conversations import Conversation
from clients.terminal.messages import (
    BadFrame,
    ChatMessage,
    ConversationRef,
    GroupInfo,
    Member,
    Outgoing,
    token_user,
)
from clients.terminal.rest import LIST_PAGE_SIZE, LIST_PAGES_MAX, RestApi, RestError
from clients.terminal.state import FETCHES_PER_PASS, PAGE, ChatEvents, ChatState, Effect, Status

PING_FRAME = '{"action":"ping"}'


@dataclass(frozen=True)
class Timing:
    # Well inside API Gateway's 10-minute idle timeout, and short enough that a
    # connection Redis lost is back in presence soon (docs/protocol.md).
    ping_interval: float = 120.0
    pong_timeout: float = 30.0
    ack_timeout: float = 35.0  # API Gateway's 29 s integration timeout, plus a margin
    open_timeout: float = 10.0
    request_timeout: float = 15.0
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    list_page_size: int = LIST_PAGE_SIZE
    history_page_size: int = PAGE


class Offline(Exception):
    """A send while there is no connection: nothing was sent."""


class ConnectionLost(Exception):
    """The connection is open on paper but the server stopped answering."""


def describe_failure(exc: BaseException) -> str:
    """A short reason for the status line; never a URL (it may hold a token)."""
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if status == 401:
            return "the server refused the token (HTTP 401)"
        return f"the server refused the connection (HTTP {status})"
    if isinstance(exc, ConnectionClosed):
        return "connection lost"
    if isinstance(exc, RestError):
        return f"the REST API refused (HTTP {exc.status}: {exc.text})"
    if isinstance(exc, httpx.HTTPError):
        return "REST API unreachable"
    if isinstance(exc, (ConnectionLost, BadFrame)):
        return str(exc)
    if isinstance(exc, (OSError, TimeoutError, WebSocketException)):
        return "server unreachable"
    return f"unexpected error ({type(exc).__name__})"


class ChatSession:
    def __init__(
        self,
        ws_url: str,
        rest_url: str,
        token: Callable[[], str],
        events: ChatEvents,
        timing: Timing | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._ws_url = ws_url
        self._rest_url = rest_url
        self._token = token
        self._events = events
        self.timing = timing or Timing()
        self.state = ChatState(events, page_size=self.timing.history_page_size)
        self.backoff = Backoff(self.timing.backoff_base, self.timing.backoff_cap, rng)
        self.connections = 0  # successful connects so far
        self._wakeups = {
            effect: asyncio.Event()
            for effect in (Effect.SETTLED, Effect.TO_MARK, Effect.PONG, Effect.SYNC)
        }
        self._outbox_ready = asyncio.Event()
        self._closing = asyncio.Event()
        self._sync_lock = asyncio.Lock()
        self._ws: ClientConnection | None = None
        self._http: httpx.AsyncClient | None = None
        self._connected = False
        self._task: asyncio.Task[None] | None = None

    @property
    def user(self) -> int | None:
        return self.state.me

    @user.setter
    def user(self, user: int | None) -> None:
        self.state.me = user

    @property
    def connected(self) -> bool:
        return self._connected

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="chat-session")

    async def close(self, timeout: float = 3.0) -> None:
        """Close the connection, mark read what was shown, stop; bounded by `timeout`."""
        self._closing.set()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), timeout / 2)
        task = self._task
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # --- what the user does -------------------------------------------------------------

    def send(self, content: str) -> Outgoing:
        """Queue a line for the open conversation; the answer comes as
        send_acknowledged / send_refused. Offline: nothing is queued."""
        if not self._connected:
            raise Offline("not connected")
        outgoing = self.state.outgoing(content)
        self._outbox_ready.set()
        return outgoing

    def open(self, ref: ConversationRef) -> Conversation:
        """Show a conversation; its history is fetched now, or on (re)connecting."""
        conversation, effect = self.state.open(ref)
        self._wake(effect)
        return conversation

    def more(self) -> None:
        """Fetch an older page of the open conversation."""
        if not self._connected:
            raise Offline("not connected")
        self.state.older_wanted = True
        self._wake(Effect.SYNC)

    async def recall(self, message: ChatMessage) -> None:
        done = await self._rest().recall(message.id)
        self.state.recalled(done.conversation_id, done.seq, message.sender)

    async def create_group(self, name: str, members: list[int]) -> Conversation:
        info = await self._rest().create_group(name, members)
        self.state.group_known(info)
        return self.open(info.ref)

    async def add_members(self, group_id: int, user_ids: list[int]) -> GroupInfo:
        return await self._rest().add_members(group_id, user_ids)

    async def remove_members(self, group_id: int, user_ids: list[int]) -> GroupInfo:
        return await self._rest().remove_members(group_id, user_ids)

    async def leave(self, group_id: int) -> None:
        await self._rest().leave_group(group_id)
        self.state.conversation(ConversationRef.group(group_id)).member = False
        self._events.conversations_changed()

    async def members(self, group_id: int) -> list[Member]:
        members = await self._rest().group_members(group_id)
        self.state.members_loaded(ConversationRef.group(group_id).id, members)
        return members

    def _rest(self) -> RestApi:
        if self._http is None:
            raise Offline("not connected")
        return RestApi(self._http, self._rest_url, self._token())

    def _wake(self, effect: Effect) -> None:
        for flag, event in self._wakeups.items():
            if effect & flag:
                event.set()

    # --- the connection loop ------------------------------------------------------------

    async def _run(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=self.timing.request_timeout) as http:
                self._http = http
                while not self._closing.is_set():
                    reason = "the server closed the connection"
                    try:
                        await self._connection(http)
                    except Exception as exc:  # any failure: report, back off, try again
                        reason = describe_failure(exc)
                    finally:
                        self._ws, self._connected = None, False
                    if self._closing.is_set():
                        break
                    delay = self.backoff.next_delay()
                    self._events.status_changed(
                        Status.RECONNECTING, f"{reason}; retrying in {delay:.1f} s"
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._closing.wait(), delay)
                if self.state.to_mark:  # shown just before quitting
                    await self._flush_marks(RestApi(http, self._rest_url, self._token()))
        finally:
            self._http = None
            self._events.status_changed(Status.CLOSED, "")

    async def _connection(self, http: httpx.AsyncClient) -> None:
        token = self._token()
        self.user = self.user or token_user(token)
        rest = RestApi(http, self._rest_url, token)
        status = Status.RECONNECTING if self.backoff.attempt else Status.CONNECTING
        self._events.status_changed(status, "")
        async with connect(
            self._ws_url,
            additional_headers={"Authorization": f"Bearer {token}"},
            open_timeout=self.timing.open_timeout,
            ping_interval=None,  # API Gateway counts data frames: the `ping` action
            close_timeout=2,
            max_size=256 * 1024,
        ) as ws:
            self._ws = ws
            await self._catch_up(rest)
            self._connected = True
            self.backoff.reset()
            self.connections += 1
            self._events.status_changed(Status.CONNECTED, "")
            await _first_to_finish(
                self._read(ws),
                self._keep_alive(ws, rest),
                self._send_loop(ws),
                self._mark_loop(rest),
                self._sync_loop(rest),
            )

    async def _catch_up(self, rest: RestApi) -> None:
        """The whole list, then the open conversation; what was shown is marked read."""
        await self._flush_marks(rest)
        await self._refresh_list(rest, LIST_PAGES_MAX)
        await self._sync(rest)
        await self._flush_marks(rest)
        unread = self.state.unread_elsewhere()
        if unread:
            plural = "s" if unread != 1 else ""
            where = "in other conversations" if self.state.open_id else "in the list"
            self._events.notice(f"{unread} unread message{plural} {where}")

    async def _refresh_list(self, rest: RestApi, pages: int) -> None:
        entries, complete = [], False
        async for page, last in rest.conversation_pages(pages, self.timing.list_page_size):
            entries += page
            complete = last
        self._wake(self.state.merge_list(entries, complete))

    async def _sync(self, rest: RestApi) -> None:
        """Fetch what the open conversation lacks (gaps, its first page, older pages)."""
        async with self._sync_lock:
            if self.state.list_stale:
                await self._refresh_list(rest, 1)
            previous = None
            for _ in range(FETCHES_PER_PASS):
                fetch = self.state.next_fetch()
                if fetch is None or fetch == previous:  # no progress: the next sweep retries
                    break
                previous = fetch
                try:
                    page = await rest.history(fetch)
                except RestError as exc:
                    if exc.status not in (403, 404):
                        raise
                    self.state.history_refused(fetch, exc.status, exc.text)
                    break
                self._wake(self.state.history_loaded(fetch, page))
            group = self.state.members_wanted()
            if group is not None:
                ref = ConversationRef.parse(group)
                assert ref.group_id is not None
                try:
                    members = await rest.group_members(ref.group_id)
                except RestError as exc:
                    if exc.status not in (403, 404):
                        raise
                    members = []
                self.state.members_loaded(group, members)

    async def _flush_marks(self, rest: RestApi) -> bool:
        """Mark read what was shown; on failure it waits for the next flush."""
        for conversation_id, seq in list(self.state.to_mark.items()):
            try:
                done = await rest.mark_conversation_read(conversation_id, seq)
            except RestError as exc:
                if exc.status in (400, 403, 404):  # never going to work: drop it
                    self.state.mark_refused(conversation_id)
                    continue
                self._events.notice(f"could not mark read yet: {describe_failure(exc)}")
                return False
            except (httpx.HTTPError, BadFrame) as exc:
                self._events.notice(f"could not mark read yet: {describe_failure(exc)}")
                return False
            self.state.marked(conversation_id, seq, done.read_seq, done.unread_count)
        return True

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            effect = self.state.handle_frame(raw)
            if effect & Effect.RECONNECT:
                raise ConnectionLost("the server asked to sign in again")
            if effect & Effect.AUTH:  # sign this connection in again, on it
                await ws.send(json.dumps({"action": "auth", "token": self._token()}))
            if effect & Effect.RETRY:
                if not self._wakeups[Effect.PONG].is_set():
                    await ws.send(PING_FRAME)  # the ping that was refused
                effect |= Effect.SETTLED  # the send loop sends its head again, same ack_id
            self._wake(effect)

    async def _keep_alive(self, ws: ClientConnection, rest: RestApi) -> None:
        pong = self._wakeups[Effect.PONG]
        while True:
            await asyncio.sleep(self.timing.ping_interval)
            pong.clear()
            await ws.send(PING_FRAME)
            try:
                await asyncio.wait_for(pong.wait(), self.timing.pong_timeout)
            except TimeoutError:
                raise ConnectionLost("no answer to ping") from None
            try:  # what the server could not push
                await self._refresh_list(rest, 1)
                await self._sync(rest)
            except (RestError, httpx.HTTPError, BadFrame) as exc:
                self._events.notice(f"could not check for new messages: {describe_failure(exc)}")

    async def _send_loop(self, ws: ClientConnection) -> None:
        settled = self._wakeups[Effect.SETTLED]
        while True:
            head = self.state.outbox.head()
            if head is None:
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
                continue
            settled.clear()
            await ws.send(head.frame())
            try:
                await asyncio.wait_for(settled.wait(), self.timing.ack_timeout)
            except TimeoutError:
                # Stored or not: the resend after the reconnect reuses the ack_id.
                raise ConnectionLost("no acknowledgement from the server") from None

    async def _mark_loop(self, rest: RestApi) -> None:
        to_mark = self._wakeups[Effect.TO_MARK]
        while True:
            await to_mark.wait()
            to_mark.clear()
            if not await self._flush_marks(rest):
                await asyncio.sleep(self.backoff.cap)
                to_mark.set()

    async def _sync_loop(self, rest: RestApi) -> None:
        wanted = self._wakeups[Effect.SYNC]
        while True:
            await wanted.wait()
            wanted.clear()
            try:
                await self._sync(rest)
            except (RestError, httpx.HTTPError, BadFrame) as exc:
                self._events.notice(f"could not load messages: {describe_failure(exc)}")


async def _first_to_finish(*jobs: Coroutine[Any, Any, None]) -> None:
    """Run `jobs` until one ends (returns or raises); cancel the rest; re-raise."""
    tasks = [asyncio.create_task(job) for job in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        error = task.exception()
        if error is not None:
            raise error
