"""Unread page of 100 with 1,000 vs 100,000 messages in the collection, and the store's
own overhead over the same raw pymongo query.

    python -m bench.store_unread [--sizes 1000 100000] [--write docs/benchmarks.md]

Uses MONGODB_URI when set, else starts the project's FerretDB (SQLite backend).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import MongoClient
from pymongo.database import Database

from bench.report import summary_ms, write_block
from chalicelib.chat.browsing import UnreadMessages
from chalicelib.chat.domain import ConversationId, Draft
from chalicelib.cursors import decode_unread
from chalicelib.mongo.documents import membership
from chalicelib.mongo.queries import unread_query
from chalicelib.store import MongoChatStore
from infra.services import start_mongo, stop_all

TARGET_USER = 424242
TARGET_UNREAD = 300
OTHER_USERS = 500
PEERS = 5  # the target's unread come from this many 1:1 conversations


def fill(db: Database[dict[str, Any]], total: int) -> MongoChatStore:
    """`total` messages: TARGET_UNREAD to the target from PEERS senders (stored by the
    store itself, so members and counters are right), the rest between other users."""
    store = MongoChatStore(db)
    store.ensure_indexes()
    for i in range(TARGET_UNREAD):
        peer = 1 + i % PEERS
        store.append(Draft(ConversationId.direct(peer, TARGET_USER), peer, f"to you {i}", f"t{i}"))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    seqs: dict[str, int] = {}
    batch: list[dict[str, Any]] = []
    for i in range(total - TARGET_UNREAD):
        a, b = 1000 + i % OTHER_USERS, 2000 + i % 37
        conv = str(ConversationId.direct(a, b))
        seqs[conv] = seqs.get(conv, 0) + 1
        at = start + timedelta(milliseconds=i)
        batch.append(
            {
                "_id": ObjectId(),
                "conv": conv,
                "seq": seqs[conv],
                "from": a,
                "to": b,
                "group_id": 0,
                "content": f"message {i} " + "x" * 80,
                "msg_type": 1,
                "ack_id": f"b-{i}",
                "status": 0,
                "created_at": at,
                "updated_at": at,
            }
        )
        if len(batch) == 2000:
            db["messages"].insert_many(batch, ordered=False)
            batch.clear()
    if batch:
        db["messages"].insert_many(batch, ordered=False)
    return store


def alternating(a: Any, b: Any, rounds: int) -> tuple[list[float], list[float]]:
    """Time `a` and `b` in alternation, so drift on the server hits both alike."""
    a()
    b()  # warm
    times_a: list[float] = []
    times_b: list[float] = []
    for _ in range(rounds):
        for fn, out in ((a, times_a), (b, times_b)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return times_a, times_b


def measure(db: Database[dict[str, Any]], store: MongoChatStore, rounds: int) -> dict[str, Any]:
    unread = UnreadMessages(store, store, 4 * 1024 * 1024)
    cursor = unread(TARGET_USER, 100, None).next_cursor
    result: dict[str, dict[str, float]] = {}
    for page, after in (("first page", None), ("next page", cursor)):

        def raw(after: str | None = after) -> None:
            # The same two round trips the use case makes: memberships, then messages.
            docs = db["members"].find({"user": TARGET_USER})
            pending = [m for m in map(membership, docs) if m.unread_count() > 0]
            position = decode_unread(after) if after else None
            q = unread_query(TARGET_USER, pending, 101, position)
            list(db["messages"].find(q.filter, sort=q.sort, limit=q.limit))

        ours, theirs = alternating(lambda after=after: unread(TARGET_USER, 100, after), raw, rounds)
        result[f"store {page}"] = summary_ms(ours)
        result[f"raw {page}"] = summary_ms(theirs)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        Path(tmp).chmod(0o711)  # PostgreSQL's own user must be able to traverse it
        try:
            mongo = start_mongo(Path(tmp) / "mongo")
            client: MongoClient[dict[str, Any]] = MongoClient(mongo.url, tz_aware=True)
            server = mongo.extra.get("server", "MONGODB_URI")
            version = client.server_info().get("ferretdbVersion") or client.server_info()["version"]
            lines = [
                f"Server: {server} {version}. Target user has {TARGET_UNREAD} unread messages "
                f"in {PEERS} conversations; the rest are other users'. Page = 100 messages; "
                "raw = the same two queries (memberships, messages) in plain pymongo.",
                "",
                "| messages in collection | query | p50 ms | p99 ms | store / raw (p50) |",
                "|---:|---|---:|---:|---:|",
            ]
            for size in args.sizes:
                db = client[f"bench_{size}"]
                client.drop_database(db.name)
                t0 = time.perf_counter()
                store = fill(db, size)
                print(f"filled {size} in {time.perf_counter() - t0:.1f}s", flush=True)
                result = measure(db, store, args.rounds)
                for page in ("first page", "next page"):
                    s, r = result[f"store {page}"], result[f"raw {page}"]
                    ratio = s["p50"] / r["p50"]
                    row = f"| {size:,} | store {page} | {s['p50']:.2f} | {s['p99']:.2f}"
                    lines.append(f"{row} | {ratio:.2f}x |")
                    lines.append(
                        f"| {size:,} | raw pymongo {page} | {r['p50']:.2f} | {r['p99']:.2f} | |"
                    )
                client.drop_database(db.name)
            client.close()
        finally:
            stop_all()
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_block(args.write, f"store_unread_{server}", body)


if __name__ == "__main__":
    main()
