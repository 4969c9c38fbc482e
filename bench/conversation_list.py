"""The conversation list and the v1 unread page for a user with 1,000 conversations:
time per page, time to walk every page, and the database commands each page sends.

    python -m bench.conversation_list [--direct 700] [--groups 300] [--rounds 5]
        [--write docs/benchmarks.md]

In this process, on real FerretDB (or MONGODB_URI): the use cases
(`chalicelib.chat.service.Chat`) over the MongoDB adapter (`MongoChatStore`) on a
`MongoClient` with a `pymongo.monitoring.CommandListener`, which counts every command
the driver sends while a page is read -- the proof of "one query round trip per page"
(the benchmark stops if a list page ever takes more). The data is made through the
same use cases: 1:1 conversations and groups of three, one to three messages each,
about a third of them with messages the user has not read.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pymongo import MongoClient, monitoring

from bench.report import summary_ms, write_block
from chalicelib.chat.domain import ConversationId, Page
from chalicelib.chat.sending import SendCommand
from chalicelib.chat.service import Chat, Policy
from chalicelib.clock import utc_now_ms
from chalicelib.delivery import NoDelivery
from chalicelib.observability import discard_metrics
from chalicelib.store import MongoChatStore
from infra.services import start_mongo, stop_all

ME = 1


class CommandCounter(monitoring.CommandListener):
    """The commands the driver starts (heartbeats are not commands here)."""

    def __init__(self) -> None:
        self.names: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class NoLimit:
    """The rate limiter is Redis's business and not what is measured here."""

    def hit(self, user_id: int, cost: int = 1) -> None:
        pass

    def charge(self, user_id: int, cost: int) -> None:
        pass


def send(chat: Chat, sender: int, conversation: ConversationId, text: str) -> None:
    to = None if conversation.is_group else conversation.peer_of(sender)
    group = conversation.group_id if conversation.is_group else None
    command = SendCommand(sender, to, group, text, 1, uuid.uuid4().hex)
    chat.send(command, lambda _appended, _last: None)


def forget_metrics() -> None:
    """No Lambda middleware flushes the use cases' metrics here; Powertools would print
    them to stdout once a metric reaches 100 values."""
    discard_metrics()


def make_data(chat: Chat, direct: int, groups: int) -> Counter[str]:
    """`direct` 1:1 conversations and `groups` groups for ME, in mixed order: in a third
    the last message is the other side's and unread, in a third it is ME's, in a third
    the other side's and read."""
    made: Counter[str] = Counter()
    peer = 1_000
    kinds = ["direct"] * direct + ["group"] * groups
    kinds = [kinds[(i * 7) % len(kinds)] for i in range(len(kinds))]  # interleave them
    for i, kind in enumerate(kinds):
        peer += 2
        if kind == "group":
            owner = ME if i % 2 else peer
            members = [peer, peer + 1] if owner == ME else [ME, peer + 1]
            conversation = chat.groups.create(owner, f"group {i}", members).conversation
        else:
            conversation = ConversationId.direct(ME, peer)
        for n in range(1 + i % 3):
            send(chat, peer, conversation, f"message {n} in {i} " + "x" * 60)
        state = i % 3
        if state == 1:
            send(chat, ME, conversation, f"my answer in {i}")
        elif state == 2:
            chat.mark_conversation_read(ME, conversation, None, None)
        made[f"{kind}, {['unread', 'mine last', 'read'][state]}"] += 1
        forget_metrics()
    return made


def walk(
    counter: CommandCounter, read_page: Callable[[str | None], Page[Any]]
) -> tuple[list[float], list[Counter[str]], int, float]:
    """Every page once: (seconds per page, commands per page, items, total seconds)."""
    times: list[float] = []
    commands: list[Counter[str]] = []
    items = 0
    cursor: str | None = None
    started = time.perf_counter()
    while True:
        counter.names.clear()
        t0 = time.perf_counter()
        page = read_page(cursor)
        times.append(time.perf_counter() - t0)
        commands.append(Counter(counter.names))
        items += len(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return times, commands, items, time.perf_counter() - started


def describe(commands: list[Counter[str]]) -> str:
    shapes = Counter(" + ".join(f"{n} {c}" for c, n in sorted(cs.items())) for cs in commands)
    return "; ".join(f"{shape} ({count} pages)" for shape, count in shapes.items())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--direct", type=int, default=700, help="1:1 conversations")
    parser.add_argument("--groups", type=int, default=300, help="groups of three")
    parser.add_argument("--rounds", type=int, default=5, help="walks of every page")
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-list-") as tmp:
        Path(tmp).chmod(0o711)  # PostgreSQL's own user must be able to traverse it
        try:
            mongo = start_mongo(Path(tmp) / "mongo")
            counter = CommandCounter()
            client: MongoClient[dict[str, Any]] = MongoClient(
                mongo.url, tz_aware=True, event_listeners=[counter]
            )
            database = client[f"bench_list_{uuid.uuid4().hex[:8]}"]
            store = MongoChatStore(database)
            store.ensure_indexes()
            chat = Chat(store, NoDelivery(), NoLimit(), utc_now_ms, Policy())
            t0 = time.perf_counter()
            made = make_data(chat, args.direct, args.groups)
            setup_s = time.perf_counter() - t0
            sizes = {c: database[c].estimated_document_count() for c in ("messages", "members")}

            results: dict[str, dict[str, Any]] = {}
            walks: list[tuple[str, Callable[[str | None], Page[Any]]]] = [
                ("conversation list, limit 20 (default)", lambda c: chat.conversations(ME, 20, c)),
                ("conversation list, limit 100", lambda c: chat.conversations(ME, 100, c)),
                ("v1 unread, limit 100 (default)", lambda c: chat.unread(ME, 100, c)),
            ]
            for _ in range(args.rounds):  # rounds alternate the kinds: drift hits all alike
                for name, read_page in walks:
                    times, commands, items, total = walk(counter, read_page)
                    got = results.setdefault(name, {"page": [], "walk": [], "commands": []})
                    got["page"] += times
                    got["walk"].append(total)
                    got["commands"] += commands
                    got["items"], got["pages"] = items, len(times)
            client.close()
        finally:
            stop_all()
    load_after = os.getloadavg()

    for name, got in results.items():  # the claim being measured; stop if it fails
        if name.startswith("conversation list"):
            ok = all(c == Counter({"find": 1}) for c in got["commands"])
        else:
            ok = all(set(c) == {"find"} and c["find"] <= 2 for c in got["commands"])
        assert ok, f"{name}: {describe(got['commands'])}"
    conversations = results["conversation list, limit 20 (default)"]["items"]
    assert conversations == args.direct + args.groups, conversations
    lines = [
        f"Server: {mongo.extra.get('server', 'MONGODB_URI')}. One user with {conversations} "
        f"conversations ({args.direct} 1:1, {args.groups} groups of three): "
        + ", ".join(f"{n} {kind}" for kind, n in sorted(made.items()))
        + f". The database holds {sizes['messages']:,} messages and {sizes['members']:,} "
        f"member documents (made in {setup_s:.0f} s through the use cases). "
        f"{args.rounds} walks of every page. Load average (1/5/15 min) before: "
        f"{load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, after: "
        f"{load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f} (2 cores, shared).",
        "",
        "| what | items | pages per walk | commands per page | page p50 ms | page p99 ms "
        "| walk p50 ms |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for name, got in results.items():
        page, whole = summary_ms(got["page"]), summary_ms(got["walk"])
        lines.append(
            f"| {name} | {got['items']} | {got['pages']} | {describe(got['commands'])} "
            f"| {page['p50']:.1f} | {page['p99']:.1f} | {whole['p50']:.0f} |"
        )
    lines += [
        "",
        "Commands are counted by a `CommandListener` on the client the store uses, over "
        "every page of every walk: a conversation-list page is one `find` on `members` "
        "(index `user_1_last_at_-1_conv_1`), always; a v1 unread page is the user's "
        "memberships and one `$or` over the conversations with unread messages.",
    ]
    body = "\n".join(lines)
    print(body)
    if args.write:
        server = str(mongo.extra.get("server", "MONGODB_URI")).replace(" ", "-")
        write_block(args.write, f"conversation_list_{server}", body)


if __name__ == "__main__":
    main()
