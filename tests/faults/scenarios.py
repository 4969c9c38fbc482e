"""The fault scenarios, driven as a client sees them: shared by the tests beside this
module (which assert on what they observe) and by bench/faults.py (which writes the
figures into docs/reliability.md).

Each scenario breaks a `FaultStack` during traffic through the local gateway and
returns an `Outcome`: what every send was answered (a `Ledger` of attempts), what the
recipients' unread holds afterwards (an `Audit`: acked, stored, duplicated, lost), how
the stack answered while degraded, and how long it took to recover. Nothing here
asserts a timing; the tests assert the counts and the answers.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.e2e.support import (
    DEFAULT_TIMEOUT,
    Chat,
    Frame,
    Stack,
    direct_id,
    new_ack_id,
    new_user,
)
from tests.faults.stack import FaultStack

# --- what a client saw ----------------------------------------------------------------


@dataclass
class Attempt:
    """One `send` frame and its answer (None: none came -- timeout, connection gone)."""

    to: int
    ack_id: str
    content: str
    sent_at: float
    answered_at: float | None = None
    answer: Frame | None = None

    @property
    def acked(self) -> bool:
        return self.answer is not None and self.answer["type"] == "ack"

    @property
    def what(self) -> str:
        """ "ack", "error <code>" or "no answer"."""
        if self.answer is None:
            return "no answer"
        if self.answer["type"] == "ack":
            return "ack"
        return f"error {self.answer.get('code')}"

    def observation(self) -> Observation:
        end = self.answered_at if self.answered_at is not None else time.monotonic()
        return Observation(self.what, end - self.sent_at)


@dataclass(frozen=True)
class Observation:
    """One answer while degraded: what it was and how long it took to come."""

    what: str
    seconds: float


class Ledger:
    """Every send of a scenario, from any thread, in the order they were sent."""

    def __init__(self) -> None:
        self._attempts: list[Attempt] = []
        self._lock = threading.Lock()

    @property
    def attempts(self) -> list[Attempt]:
        with self._lock:
            return list(self._attempts)

    def send(
        self,
        chat: Chat,
        to: int,
        content: str,
        ack_id: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Attempt:
        """Send and wait for this frame's ack or error, as a client does."""
        attempt = Attempt(to, ack_id or new_ack_id(), content, time.monotonic())
        with self._lock:
            self._attempts.append(attempt)
        frame = {"action": "send", "to": to, "content": content, "ack_id": attempt.ack_id}
        try:
            chat.send_frame(frame)
            answer = chat.reply_to(attempt.ack_id, timeout)
        except (AssertionError, ConnectionClosed, OSError):  # no answer in time / socket gone
            return attempt
        attempt.answer, attempt.answered_at = answer, time.monotonic()
        return attempt

    def acks(self) -> dict[str, set[str]]:
        """ack_id -> the message ids its acks named (one, unless something is wrong)."""
        found: dict[str, set[str]] = {}
        for a in self.attempts:
            if a.acked:
                assert a.answer is not None
                found.setdefault(a.ack_id, set()).add(str(a.answer["message_id"]))
        return found

    def duplicates(self) -> int:
        """Acks that said `duplicate`: a resend of something already stored."""
        return sum(1 for a in self.attempts if a.acked and a.answer and a.answer["duplicate"])

    def unacked(self) -> list[Attempt]:
        """The first attempt of every ack_id no attempt got an ack for, in order."""
        acked = set(self.acks())
        seen: set[str] = set()
        left = []
        for a in self.attempts:
            if a.ack_id not in acked and a.ack_id not in seen:
                seen.add(a.ack_id)
                left.append(a)
        return left

    def between(self, start: float, end: float) -> list[Attempt]:
        """Attempts sent in [start, end) or still unanswered at `start`."""
        return [
            a
            for a in self.attempts
            if a.sent_at < end
            and (a.sent_at >= start or a.answered_at is None or a.answered_at > start)
        ]

    def first_ack_after(self, t: float) -> float | None:
        """Seconds from `t` to the first ack that came after it."""
        times = [
            a.answered_at
            for a in self.attempts
            if a.acked and a.answered_at is not None and a.answered_at >= t
        ]
        return min(times) - t if times else None


class Stream(threading.Thread):
    """One connection sending `count` messages, each after the previous one's answer
    (the contract's ordering rule), round-robin to `to`; stops when its socket closes."""

    def __init__(
        self,
        ledger: Ledger,
        chat: Chat,
        to: Sequence[int],
        count: int,
        label: str,
        timeout: float = DEFAULT_TIMEOUT,
        pause: float = 0.0,
    ) -> None:
        super().__init__(daemon=True, name=f"stream-{label}")
        self.ledger, self.chat, self.to = ledger, chat, list(to)
        self.count, self.label, self.timeout, self.pause = count, label, timeout, pause
        self.answered = 0

    def run(self) -> None:
        for i in range(self.count):
            if self.chat.closed:
                return
            self.ledger.send(
                self.chat, self.to[i % len(self.to)], f"{self.label} {i}", None, self.timeout
            )
            self.answered += 1
            if self.pause:
                time.sleep(self.pause)

    def wait_answered(self, n: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.answered < n and self.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)

    def finish(self, timeout: float = 60.0) -> None:
        self.join(timeout)
        assert not self.is_alive(), f"{self.name} did not finish"


@dataclass(frozen=True)
class Audit:
    """The recipients' unread against the acks their senders got."""

    acked: int  # distinct ack_ids acknowledged
    stored: int  # distinct ack_ids in unread
    duplicated: int  # copies beyond the first of an ack_id
    lost: int  # acknowledged, not stored: a false ack
    mismatched: int  # acknowledged with a message id unread does not hold for it
    stored_unacked: int  # stored, never acknowledged (the client resends those)


def audit(stack: Stack, ledger: Ledger, recipients: Iterable[int]) -> Audit:
    acks = ledger.acks()
    copies: Counter[str] = Counter()
    stored_id: dict[str, str] = {}
    for user in recipients:
        ours = {a.ack_id for a in ledger.attempts if a.to == user}
        for message in stack.all_unread(user):
            if message["ack_id"] in ours:
                copies[message["ack_id"]] += 1
                stored_id[message["ack_id"]] = message["id"]
    return Audit(
        acked=len(acks),
        stored=len(copies),
        duplicated=sum(n - 1 for n in copies.values()),
        lost=len(set(acks) - set(copies)),
        mismatched=sum(1 for k, ids in acks.items() if k in stored_id and ids != {stored_id[k]}),
        stored_unacked=len(set(copies) - set(acks)),
    )


@dataclass
class Outcome:
    scenario: str
    audit: Audit
    degraded: list[Observation]  # every answer (or failure to answer) while degraded
    recover_s: float | None  # from the repair to the first ack that came
    push_s: float | None = None  # from the repair to the first push that came
    attempts: list[Attempt] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def codes(self) -> Counter[str]:
        return Counter(o.what for o in self.degraded)


# --- client habits ----------------------------------------------------------------------


def resend_until_acked(
    ledger: Ledger, chat: Chat, deadline_s: float = 30.0, pause: float = 0.25
) -> None:
    """What a client does with sends it has no ack for: send them again, same ack_id,
    until each is acknowledged (or the deadline passes)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        left = ledger.unacked()
        if not left:
            return
        for attempt in left:
            ledger.send(chat, attempt.to, attempt.content, attempt.ack_id)
        if ledger.unacked():
            time.sleep(pause)


def keep_alive(chat: Chat, token: str, deadline_s: float = 20.0) -> list[Observation]:
    """A client's keep-alive after presence may have lost it: ping; on `unauthorized`
    sign in again with `auth`; on `unavailable` try again shortly. Returns what each
    try was answered, ending with the pong."""
    seen: list[Observation] = []
    deadline = time.monotonic() + deadline_s
    while True:
        started = time.monotonic()
        chat.send_frame({"action": "ping"})
        answer = chat.wait_for(lambda f: f.get("type") in ("pong", "error"))
        if answer["type"] == "error" and answer["code"] == "unauthorized":
            chat.send_frame({"action": "auth", "token": token})
            answer = chat.wait_for(lambda f: f.get("type") in ("authenticated", "error"))
        kind = "pong" if answer["type"] in ("pong", "authenticated") else f"error {answer['code']}"
        seen.append(Observation(kind, time.monotonic() - started))
        if kind == "pong":
            return seen
        assert answer["code"] == "unavailable", answer
        assert time.monotonic() < deadline, f"no pong for user {chat.user}: {seen}"
        time.sleep(0.25)


def pushed_ack_ids(chat: Chat) -> Counter[str]:
    """How many times each message (by ack_id) was pushed to this connection so far."""
    return Counter(f["message"]["ack_id"] for f in chat.take("message", settle=0.3))


def wait_push(chat: Chat, ack_id: str, timeout: float = DEFAULT_TIMEOUT) -> Frame:
    return chat.wait_for(
        lambda f: f.get("type") == "message" and f["message"]["ack_id"] == ack_id, timeout
    )


def abort(chat: Chat) -> None:
    """Vanish without a close frame: RST, as a phone losing its network looks to the
    server (the gateway sees the socket die and runs $disconnect)."""
    sock = chat.ws.socket
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)  # wakes the reader thread
        sock.close()


@contextlib.contextmanager
def closing(chats: list[Chat]) -> Iterator[list[Chat]]:
    try:
        yield chats
    finally:
        for chat in chats:
            with contextlib.suppress(Exception):  # some are already dead on purpose
                chat.close()


# --- the scenarios ----------------------------------------------------------------------


def redis_killed_mid_stream(faults: FaultStack, count: int = 60) -> Outcome:
    """Redis SIGKILLed while a sender streams, restarted empty on the same port. The
    recipient then does what its keep-alive does (ping, `auth` if told to), and one more
    message must reach it as a push."""
    a, b = new_user(), new_user()
    ledger = Ledger()
    with ExitStack() as chats:
        chat_a = chats.enter_context(faults.stack.chat(a))
        chat_b = chats.enter_context(faults.stack.chat(b))
        warm = ledger.send(chat_a, b, "warm-up")
        wait_push(chat_b, warm.ack_id)
        stream = Stream(ledger, chat_a, [b], count, "stream")
        stream.start()
        stream.wait_answered(count // 4)
        down = time.monotonic()
        faults.kill_redis()
        stream.wait_answered(count // 2)
        faults.start_redis()
        up = time.monotonic()
        stream.finish()
        sign_in = keep_alive(chat_b, faults.stack.token(b))
        probe = ledger.send(chat_a, b, "after the restart")
        wait_push(chat_b, probe.ack_id)
        push_s = time.monotonic() - up
        pushes = pushed_ack_ids(chat_b)
        pushes[warm.ack_id] += 1
        pushes[probe.ack_id] += 1
    return Outcome(
        "redis_killed_mid_stream",
        audit(faults.stack, ledger, [b]),
        [a.observation() for a in ledger.between(down, up)],
        ledger.first_ack_after(up),
        push_s,
        ledger.attempts,
        {"sign_in_again": sign_in, "pushes": pushes},
    )


def mongo_paused_mid_send(faults: FaultStack, count: int = 40, pause_s: float = 12.0) -> Outcome:
    """FerretDB and its wire lock SIGSTOPped while a sender streams (requests are
    taken by the kernel and answered by nobody), resumed `pause_s` later; the client
    then resends every send it has no ack for, with the same ack_id."""
    a, b = new_user(), new_user()
    ledger = Ledger()
    with ExitStack() as chats:
        chat_a = chats.enter_context(faults.stack.chat(a))
        chat_b = chats.enter_context(faults.stack.chat(b))
        warm = ledger.send(chat_a, b, "warm-up")
        wait_push(chat_b, warm.ack_id)
        # A client waits longer than the stack takes to give up (the driver's timeouts).
        stream = Stream(ledger, chat_a, [b], count, "stream", timeout=25.0)
        stream.start()
        stream.wait_answered(count // 4)
        down = time.monotonic()
        faults.pause_mongo()
        time.sleep(pause_s)
        faults.resume_mongo()
        up = time.monotonic()
        stream.finish()
        first_unacked = len(ledger.unacked())
        resend_until_acked(ledger, chat_a)
        probe = ledger.send(chat_a, b, "after the pause")
        wait_push(chat_b, probe.ack_id)
        push_s = time.monotonic() - up
        pushes = pushed_ack_ids(chat_b)
        pushes[warm.ack_id] += 1
    entry = faults.stack.conversation(b, direct_id(a, b))
    return Outcome(
        "mongo_paused_mid_send",
        audit(faults.stack, ledger, [b]),
        [a.observation() for a in ledger.between(down, up)],
        ledger.first_ack_after(up),
        push_s,
        ledger.attempts,
        {
            "unacked_before_resend": first_unacked,
            "resends_stored_already": ledger.duplicates(),
            "pushes": pushes,
            # The conversation list's count beside the messages unread lists (a number
            # taken by a numbering the pause interrupted stays counted: see the report).
            "unread_count": entry["unread_count"] if entry else None,
        },
    )


REST_CALLS: tuple[tuple[str, str], ...] = (
    ("unread", "/api/v1/messages/unread"),
    ("mark-read", "/api/v1/messages/mark-read"),
    ("conversations", "/api/v1/conversations"),
    ("history", "/api/v1/conversations/history"),
    ("conversation mark-read", "/api/v1/conversations/mark-read"),
    ("send", "/api/v1/messages/send"),
)


def mongo_down_on_rest(faults: FaultStack, rounds: int = 3) -> Outcome:
    """MongoDB SIGKILLed, then every REST route a client uses, `rounds` times; then it
    is restarted on the same data and port. Unread must be exactly as before."""
    a, b = new_user(), new_user()
    ledger = Ledger()
    stack = faults.stack
    with stack.chat(a) as chat_a:
        for i in range(3):
            ledger.send(chat_a, b, f"before {i}")
    before = stack.all_unread(b)
    ids = [m["id"] for m in before]
    refused_ack_id = new_ack_id()
    bodies: dict[str, tuple[int, dict[str, Any]]] = {
        "unread": (b, {}),
        "mark-read": (b, {"message_ids": ids}),
        "conversations": (b, {}),
        "history": (b, {"conversation_id": direct_id(a, b)}),
        "conversation mark-read": (b, {"conversation_id": direct_id(a, b)}),
        "send": (a, {"to": b, "content": "while down", "ack_id": refused_ack_id}),
    }
    down = time.monotonic()
    faults.kill_mongo()
    degraded: list[Observation] = []
    answers: list[tuple[str, int, Any]] = []
    for _ in range(rounds):
        for name, path in REST_CALLS:
            user, body = bodies[name]
            started = time.monotonic()
            response = stack.post(path, body, stack.token(user))
            seconds = time.monotonic() - started
            try:
                decoded: Any = response.json()
            except ValueError:
                decoded = response.text
            answers.append((name, response.status_code, decoded))
            degraded.append(Observation(str(response.status_code), seconds))
    down_s = time.monotonic() - down
    faults.start_mongo()
    up = time.monotonic()
    recover_s = None
    deadline = up + 30
    while time.monotonic() < deadline:
        if stack.post("/api/v1/messages/unread", {}, stack.token(b)).status_code == 200:
            recover_s = time.monotonic() - up
            break
        time.sleep(0.1)
    after = stack.all_unread(b)
    return Outcome(
        "mongo_down_on_rest",
        audit(stack, ledger, [b]),
        degraded,
        recover_s,
        None,
        ledger.attempts,
        {
            "answers": answers,
            "unread_before": [m["id"] for m in before],
            "unread_after": [m["id"] for m in after],
            "refused_send_stored": any(m["ack_id"] == refused_ack_id for m in after),
            "outage_s": down_s,
        },
    )


def whole_stack_killed(faults: FaultStack, count: int = 60) -> Outcome:
    """Gateway (with its handler processes), MongoDB and Redis SIGKILLed while a
    sender streams; everything restarted on the same data directories. The clients
    reconnect and the sender resends what it has no ack for."""
    a, b = new_user(), new_user()
    ledger = Ledger()
    with closing([faults.stack.chat(a), faults.stack.chat(b)]) as (chat_a, chat_b):
        warm = ledger.send(chat_a, b, "warm-up")
        wait_push(chat_b, warm.ack_id)
        stream = Stream(ledger, chat_a, [b], count, "stream")
        stream.start()
        stream.wait_answered(count // 3)
        old = faults.stack
        down = time.monotonic()
        faults.kill_all()
        stream.finish()
    degraded = [a.observation() for a in ledger.between(down, time.monotonic())]
    started = time.monotonic()  # while it is down, a client cannot even connect
    try:
        Chat.open(old, a).close()
        degraded.append(Observation("connected?!", time.monotonic() - started))
    except (OSError, InvalidHandshake) as exc:
        degraded.append(Observation(f"connect: {type(exc).__name__}", time.monotonic() - started))
    restart = time.monotonic()
    faults.start()
    restarted_s = time.monotonic() - restart
    with closing([faults.stack.chat(a), faults.stack.chat(b)]) as (chat_a, chat_b):
        resend_until_acked(ledger, chat_a)
        probe = ledger.send(chat_a, b, "after the restart")
        wait_push(chat_b, probe.ack_id)
        push_s = time.monotonic() - restart
    return Outcome(
        "whole_stack_killed",
        audit(faults.stack, ledger, [b]),
        degraded,
        ledger.first_ack_after(restart),
        push_s,
        ledger.attempts,
        {"restart_s": restarted_s, "resends_stored_already": ledger.duplicates()},
    )


def disconnect_churn(
    faults: FaultStack, recipients: int = 4, doomed: int = 5, per_sender: int = 80
) -> Outcome:
    """Two senders stream to `recipients` users, each with two connections that stay
    and `doomed` that die during the traffic -- half dropped by the gateway without
    $disconnect (as API Gateway may), half reset by the client -- while new connections
    open and vanish at once. Afterwards one more message to each recipient, then:
    unread complete, every live connection pushed each message once, presence holding
    exactly the live connections."""
    stack = faults.stack
    senders = [new_user(), new_user()]
    users = [new_user() for _ in range(recipients)]
    ledger = Ledger()
    opened: list[Chat] = []
    live: dict[int, list[tuple[Chat, str]]] = {u: [] for u in users}
    doomed_list: list[tuple[Chat, str]] = []
    with closing(opened):
        for user in users:
            for i in range(2 + doomed):
                chat, connection_id = stack.chat_tracked(user)
                opened.append(chat)
                (live[user] if i < 2 else doomed_list).append((chat, connection_id))
        sender_chats = [stack.chat(s) for s in senders]
        opened += sender_chats
        # Warm first (a container's first send pays its cold start): measured is churn.
        warm = [ledger.send(chat, users[0], "warm-up") for chat in sender_chats]
        streams = [
            Stream(ledger, chat, users, per_sender, f"from {chat.user}", pause=0.005)
            for chat in sender_chats
        ]
        started = time.monotonic()
        for stream in streams:
            stream.start()
        dropped = reset = flashes = 0
        for n, (chat, connection_id) in enumerate(doomed_list):
            if n % 2:
                abort(chat)
                reset += 1
            else:
                stack.drop(connection_id)
                dropped += 1
            flash = stack.chat(users[n % recipients])  # opens and vanishes at once
            opened.append(flash)
            abort(flash)
            flashes += 1
            time.sleep(0.05)
        for stream in streams:
            stream.finish()
        churn_s = time.monotonic() - started
        finals = [ledger.send(sender_chats[0], user, "last one") for user in users]
        pings: list[Observation] = []
        for user in users:
            for chat, _ in live[user]:
                t0 = time.monotonic()
                chat.ping()
                pings.append(Observation("pong", time.monotonic() - t0))
        pushed = {
            connection_id: pushed_ack_ids(chat)
            for user in users
            for chat, connection_id in live[user]
        }
        present = {u: faults.connections_of(u) for u in users}
    expected = {
        u: Counter(a.ack_id for a in ledger.attempts if a.to == u and a.acked) for u in users
    }
    return Outcome(
        "disconnect_churn",
        audit(stack, ledger, users),
        [a.observation() for a in ledger.attempts if a not in finals + warm] + pings,
        None,
        None,
        ledger.attempts,
        {
            "dropped": dropped,
            "reset": reset,
            "flashes": flashes,
            "churn_s": churn_s,
            "live": {u: sorted(c for _, c in live[u]) for u in users},
            "present": present,
            "pushed": pushed,
            "expected_pushes": {c: expected[u] for u in users for _, c in live[u]},
        },
    )
