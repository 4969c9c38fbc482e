"""v1.1 under concurrency, on a stack of its own (its messages would slow every later
query of the shared one: FerretDB-SQLite scans whole collections).

- unread counts stay exact while users send, read (four ways) and recall at once;
- history pages over 1,000 messages, backwards and forwards, while others keep sending:
  each message once, seqs strictly increasing, every acknowledged message found.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from infra.services import Service
from tests.e2e.conftest import running_stack
from tests.e2e.support import Chat, Frame, Stack, direct_id, new_user

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def busy_stack(
    tmp_path_factory: pytest.TempPathFactory, mongo_service: Service, redis_service: Service
) -> Iterator[Stack]:
    env = {
        "MONGODB_URI": mongo_service.url,
        "MONGODB_DATABASE": f"e2e_busy_{uuid.uuid4().hex[:8]}",
        "REDIS_URL": redis_service.url,
        "IM_SEND_RATE_LIMIT": "100000/1",
    }
    with running_stack(tmp_path_factory.mktemp("busy"), env) as stack:
        yield stack


def run_all(jobs: list[Callable[[], None]], timeout: float = 120) -> None:
    """Run `jobs` in threads at once; re-raise the first failure."""
    errors: list[BaseException] = []

    def guarded(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a job did not finish"
    assert not errors, errors


@dataclass
class Ledger:
    """What the users did, as the server acknowledged it: the truth to check against."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    # conversation -> seq -> (message id, sender, created_at)
    messages: dict[str, dict[int, tuple[str, int, str]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    read_ids: dict[tuple[int, str], set[int]] = field(default_factory=lambda: defaultdict(set))
    read_up_to: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))
    recalled: set[tuple[str, int]] = field(default_factory=set)

    def stored(self, ack: Frame, sender: int) -> None:
        assert ack["type"] == "ack" and ack["duplicate"] is False, ack
        with self.lock:
            entry = (ack["message_id"], sender, ack["created_at"])
            self.messages[ack["conversation_id"]][ack["seq"]] = entry

    def others(self, user: int, conv: str) -> list[tuple[int, str]]:
        """(seq, id) of the messages of `conv` not written by `user`, acknowledged so far."""
        with self.lock:
            known = dict(self.messages[conv])
        return [(seq, m[0]) for seq, m in sorted(known.items()) if m[1] != user]

    def has_read(self, user: int, conv: str, seq: int) -> bool:
        _, sender, _ = self.messages[conv][seq]
        return (
            sender == user
            or seq <= self.read_up_to[(user, conv)]
            or seq in self.read_ids[(user, conv)]
        )

    def unread(self, user: int, conv: str) -> list[int]:
        return [
            seq
            for seq in sorted(self.messages[conv])
            if (conv, seq) not in self.recalled and not self.has_read(user, conv, seq)
        ]


def test_unread_counts_stay_exact_under_concurrent_sends_reads_and_recalls(
    busy_stack: Stack,
) -> None:
    st = busy_stack
    a, b, c = new_user(), new_user(), new_user()
    group = st.create_group(a, [b, c], name="busy")["conversation_id"]
    gid = int(group.removeprefix("g:"))
    convs = {
        a: [group, direct_id(a, b)],
        b: [group, direct_id(a, b), direct_id(b, c)],
        c: [group, direct_id(b, c)],
    }
    ledger = Ledger()
    phones = {u: st.chat(u) for u in convs}  # they send
    laptops = {u: st.chat(u) for u in convs}  # they read over the socket
    rng = random.Random(20261127)

    def sender(user: int, count: int, recall_every: int) -> Callable[[], None]:
        def run() -> None:
            for i in range(count):
                conv = convs[user][i % len(convs[user])]
                text = f"{user} #{i}"
                if conv.startswith("g:"):
                    ack = phones[user].send_group(gid, text)
                else:
                    peer = next(int(p) for p in conv[2:].split(":") if int(p) != user)
                    ack = phones[user].send(peer, text)
                ledger.stored(ack, user)
                if recall_every and i % recall_every == recall_every - 1:
                    st.recall(user, ack["message_id"])
                    with ledger.lock:
                        ledger.recalled.add((conv, ack["seq"]))

        return run

    def reader(user: int, rounds: int, seed: int) -> Callable[[], None]:
        pick = random.Random(seed)

        def run() -> None:
            for _ in range(rounds):
                conv = pick.choice(convs[user])
                known = ledger.others(user, conv)
                if not known:
                    continue
                chosen = pick.sample(known, min(len(known), pick.randint(1, 3)))
                how = pick.randrange(4)
                if how == 0:
                    st.mark_read(user, [mid for _, mid in chosen])
                elif how == 1:
                    laptops[user].send_frame(
                        {"action": "read", "message_ids": [mid for _, mid in chosen]}
                    )
                else:
                    seq = max(s for s, _ in chosen)
                    if how == 2:
                        st.mark_conversation_read(user, conv, seq)
                    else:
                        frame = {"action": "read", "conversation_id": conv, "seq": seq}
                        laptops[user].send_frame(frame)
                with ledger.lock:
                    if how < 2:
                        ledger.read_ids[(user, conv)].update(s for s, _ in chosen)
                    else:
                        key = (user, conv)
                        ledger.read_up_to[key] = max(ledger.read_up_to[key], seq)

        return run

    try:
        run_all(
            [
                sender(a, 45, recall_every=5),
                sender(b, 45, recall_every=0),
                sender(c, 40, recall_every=7),
                *(reader(u, 45, rng.randrange(2**32)) for u in convs),
            ]
        )
        for user, laptop in laptops.items():  # every `read` frame has been handled
            laptop.ping()
            assert laptop.take("error", settle=0) == [], user
    finally:
        for chat in [*phones.values(), *laptops.values()]:
            chat.close()

    for user, mine in convs.items():
        expected_ids: list[tuple[str, str]] = []
        for conv in mine:
            seqs = sorted(ledger.messages[conv])
            assert seqs == list(range(1, len(seqs) + 1))  # nothing retried: no gaps
            unread = ledger.unread(user, conv)
            entry = st.conversation(user, conv)
            assert entry is not None
            assert (entry["max_seq"], entry["unread_count"]) == (len(seqs), len(unread)), (
                user,
                conv,
            )
            history = st.full_history(user, conv)
            assert [m["seq"] for m in history] == seqs
            for m in history:
                seq = m["seq"]
                if (conv, seq) in ledger.recalled:
                    want = 2
                elif conv.startswith("g:"):
                    want = int(ledger.has_read(user, conv, seq))
                else:  # 1:1: whether its recipient has read it
                    recipient = next(u for u in convs if u != m["from"] and conv in convs[u])
                    want = int(ledger.has_read(recipient, conv, seq))
                assert m["status"] == want, (user, conv, m)
            expected_ids += [
                (ledger.messages[conv][s][2], ledger.messages[conv][s][0]) for s in unread
            ]
        # v1 unread agrees: the same messages, oldest first
        assert [m["id"] for m in st.all_unread(user)] == [mid for _, mid in sorted(expected_ids)]


@dataclass
class Acked:
    seq: int
    message_id: str
    content: str
    at: float  # time.monotonic() when the ack was in


def test_history_pages_over_1000_messages_while_others_keep_sending(busy_stack: Stack) -> None:
    st = busy_stack
    senders = [new_user() for _ in range(4)]
    reader = new_user()
    group = st.create_group(senders[0], [*senders[1:], reader], name="busy history")
    gid, conv = group["group_id"], group["conversation_id"]
    acked: dict[int, Acked] = {}
    news = threading.Condition()  # notified on every ack, and when the senders are done
    retried: list[Frame] = []
    sockets: dict[int, Chat] = {}
    page_size = 50

    def send_batch(user: int, count: int, tag: str) -> Callable[[], None]:
        def run() -> None:
            for i in range(count):
                text = f"{user} {tag} {i}"
                if user in sockets:
                    ack = sockets[user].send_group(gid, text)
                    assert ack["type"] == "ack", ack
                else:
                    ack = st.send_rest(user, text, group_id=gid)
                assert ack["duplicate"] is False
                with news:
                    acked[ack["seq"]] = Acked(ack["seq"], ack["message_id"], text, time.monotonic())
                    news.notify_all()
                if tag == "late" and i == count // 2 and user == senders[3]:
                    # a client retrying a send it already had acknowledged: no new message
                    retried.append(st.send_rest(user, "retried", group_id=gid, ack_id="retry-1"))

        return run

    # Given 601 messages (the first with a known ack_id, to retry later), sent over REST
    # by two users at once -- nobody online, so these cost no pushes
    first = st.send_rest(senders[3], f"{senders[3]} early -1", group_id=gid, ack_id="retry-1")
    acked[1] = Acked(1, first["message_id"], f"{senders[3]} early -1", time.monotonic())
    run_all([send_batch(u, 300, "early") for u in senders[2:]])

    pages_back: list[tuple[float, Frame, int | None]] = []
    pages_forward: list[tuple[float, Frame, int]] = []
    senders_done = threading.Event()

    def walk_backwards() -> None:
        before: int | None = None
        while True:
            started = time.monotonic()
            body: dict[str, Any] = {"limit": page_size}
            if before is not None:
                body["before_seq"] = before
            page = st.history(reader, conv, **body)
            pages_back.append((started, page, before))
            if not page["has_more"]:
                return
            before = page["messages"][0]["seq"]

    def acknowledged(count: int) -> Callable[[], bool]:
        return lambda: len(acked) >= count or senders_done.is_set()

    def walk_forwards() -> None:
        after = 0
        while True:
            with news:
                known = len(acked)
            started = time.monotonic()
            done = senders_done.is_set()
            page = st.history(reader, conv, after_seq=after, limit=page_size)
            pages_forward.append((started, page, after))
            if page["messages"]:
                after = page["messages"][-1]["seq"]
            if page["has_more"]:
                continue
            if done:  # caught up, and nothing more is coming
                return
            with news:  # caught up for now: ask again when a page's worth is acknowledged
                news.wait_for(acknowledged(known + page_size))

    def sending() -> None:
        try:
            run_all([send_batch(u, 100, "late") for u in senders])
        finally:
            with news:
                senders_done.set()
                news.notify_all()

    # When four users send 400 more -- two over WebSocket, two over REST -- while the
    # reader pages backwards from the newest and forwards from the start
    sockets.update({u: st.chat(u) for u in senders[:2]})
    try:
        run_all([sending, walk_backwards, walk_forwards])
        copies = {u: len(chat.take("message", settle=0.5)) for u, chat in sockets.items()}
    finally:
        for chat in sockets.values():
            chat.close()

    # Given the retried send: the first message again, and nothing stored
    (again,) = retried
    assert (again["duplicate"], again["message_id"], again["seq"]) == (True, acked[1].message_id, 1)
    assert len(acked) == 1001
    by_id = {a.message_id: a for a in acked.values()}

    def check_page(
        page: Frame, started: float, low: float, high: float, backwards: bool
    ) -> list[int]:
        """Seqs of a page asked for in the range (low, high): strictly increasing, each
        message what was acknowledged for its seq, and none missing that was acknowledged
        before the page was asked for."""
        seqs = [m["seq"] for m in page["messages"]]
        assert seqs == sorted(set(seqs))
        for m in page["messages"]:
            a = by_id[m["id"]]
            assert (a.seq, a.content, m["conversation_id"]) == (m["seq"], m["content"], conv)
        if page["has_more"]:  # a full page covers the part of the range next to its bound
            assert seqs
            low, high = (seqs[0] - 1, high) if backwards else (low, seqs[-1] + 1)
        must = {s for s, a in acked.items() if a.at < started and low < s < high}
        assert must <= set(seqs), sorted(must - set(seqs))
        return seqs

    # Backwards: each page strictly below the one before; everything acked before the walk
    back_seen: list[int] = []
    for started, page, before in pages_back:
        high = float("inf") if before is None else before
        seqs = check_page(page, started, 0, high, backwards=True)
        assert not back_seen or not seqs or seqs[-1] < back_seen[0]
        back_seen = seqs + back_seen
    assert len(back_seen) == len(set(back_seen))
    walk_start = pages_back[0][0]
    assert {s for s, a in acked.items() if a.at < walk_start} <= set(back_seen)

    # Forwards: strictly increasing across pages; a gap is a message still being stored,
    # so (as the doc says) the client asks for it again -- and it is there
    forward_seen: list[int] = []
    for started, page, after in pages_forward:
        seqs = check_page(page, started, after, float("inf"), backwards=False)
        assert not forward_seen or not seqs or seqs[0] > forward_seen[-1]
        forward_seen += seqs
    gaps = sorted(set(acked) - set(forward_seen))
    for seq in gaps:
        refetched = st.history(reader, conv, after_seq=seq - 1, limit=1)["messages"]
        assert [m["seq"] for m in refetched] == [seq]
    assert sorted(forward_seen + gaps) == sorted(acked)

    # At rest: one walk finds every acknowledged message, once, in seq order
    everything = [m["seq"] for m in st.full_history(reader, conv)]
    assert everything == sorted(acked)
    entry = st.conversation(reader, conv)
    assert entry is not None and entry["unread_count"] == 1001
    # the retry leaves a void seq when someone else had taken the next number meanwhile
    assert entry["max_seq"] in (1001, 1002)
    missing = set(range(1, entry["max_seq"] + 1)) - set(everything)
    assert len(missing) == entry["max_seq"] - 1001  # the void, if any: never in history
    done = st.mark_conversation_read(reader, conv)
    assert (done["read_seq"], done["unread_count"], done["updated"]) == (entry["max_seq"], 0, 1001)
    assert st.unread(reader)["messages"] == []
    # the WebSocket senders got everyone else's later messages, each once
    late = [a for a in acked.values() if " late " in a.content]
    assert copies == {u: sum(1 for a in late if not a.content.startswith(f"{u} ")) for u in sockets}
