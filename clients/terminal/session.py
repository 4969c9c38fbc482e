"""A chat session: one user's connection to the service, kept up for as long as it runs.

Each connection goes: WebSocket handshake -> catch up through every unread page
(shown oldest first, then marked read) -> realtime. Frames pushed while catching up
wait in the socket and are handled after it; ChatState shows each message once.

Sends go one at a time, each waiting for its `ack` or `error`: that gives the
contract's ordering and tells which line a refusal is about. A send in flight when the
connection drops is sent again after the reconnect with the same `ack_id`, which the
server answers with a duplicate ack, never a second message.

A `ping` every `Timing.ping_interval` keeps API Gateway's 10-minute idle timeout away;
a missing pong or ack means a dead connection. After each pong the unread list is read
again: the server keeps a message unread when it could not push it (presence lost or
unavailable, a failed push), and this sweep shows it without waiting for a reconnect.
Any drop (API Gateway's 2-hour limit included) is followed by a reconnect after a
jittered exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from clients.terminal.backoff import Backoff
from clients.terminal.messages import BadFrame, Outgoing, token_user
from clients.terminal.rest import DEFAULT_PAGE_SIZE, RestApi, RestError
from clients.terminal.state import ChatEvents, ChatState, Effect, Status

PING_FRAME = '{"action":"ping"}'


@dataclass(frozen=True)
class Timing:
    ping_interval: float = 300.0  # well inside API Gateway's 10-minute idle timeout
    pong_timeout: float = 30.0
    ack_timeout: float = 35.0  # API Gateway's 29 s integration timeout, plus a margin
    open_timeout: float = 10.0
    request_timeout: float = 15.0
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    page_size: int = DEFAULT_PAGE_SIZE


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
        return f"unread messages unavailable (HTTP {exc.status})"
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
        self.state = ChatState(events)
        self.timing = timing or Timing()
        self.backoff = Backoff(self.timing.backoff_base, self.timing.backoff_cap, rng)
        self.user: int | None = None
        self.connections = 0  # successful connects so far
        self._wakeups = {effect: asyncio.Event() for effect in Effect}
        self._outbox_ready = asyncio.Event()
        self._closing = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._connected = False
        self._task: asyncio.Task[None] | None = None

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

    def send(self, to: int, content: str) -> Outgoing:
        """Queue a line for `to`; the answer comes as send_acknowledged / send_refused."""
        if not self._connected:
            raise Offline("not connected")
        outgoing = Outgoing(to, content)
        self.state.outbox.add(outgoing)
        self._outbox_ready.set()
        return outgoing

    # --- the connection loop ----------------------------------------------------------

    async def _run(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=self.timing.request_timeout) as http:
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
            )

    async def _catch_up(self, rest: RestApi) -> int:
        await self._flush_marks(rest)
        shown = 0
        async for page in rest.unread_pages(self.timing.page_size):
            shown += self.state.show_unread(page)
            await self._flush_marks(rest)
        if shown:
            self._events.notice(f"{shown} unread message{'s' if shown != 1 else ''} above")
        return shown

    async def _flush_marks(self, rest: RestApi) -> bool:
        """Mark read what was shown; on failure the ids wait for the next flush."""
        ids = list(self.state.to_mark)
        if not ids:
            return True
        try:
            await rest.mark_read(ids)
        except (RestError, httpx.HTTPError) as exc:
            self._events.notice(f"could not mark messages read yet: {describe_failure(exc)}")
            return False
        self.state.marked(ids)
        return True

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            effect = self.state.handle_frame(raw)
            if effect is Effect.RECONNECT:
                raise ConnectionLost("the server asked to sign in again")
            self._wakeups[effect].set()

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
            try:
                await self._catch_up(rest)  # what the server could not push
            except (RestError, httpx.HTTPError, BadFrame) as exc:
                self._events.notice(f"could not check for unread messages: {describe_failure(exc)}")

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
