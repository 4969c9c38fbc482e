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
from pymongo.collection import Collection

from bench.report import summary_ms, write_block
from chalicelib.store import MessageStore, unread_query
from infra.services import start_mongo, stop_all

TARGET_USER = 424242
TARGET_UNREAD = 300
OTHER_USERS = 500


def fill(collection: Collection[dict[str, Any]], total: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch: list[dict[str, Any]] = []
    for i in range(total):
        to = TARGET_USER if i % (total // TARGET_UNREAD) == 0 else 1 + i % OTHER_USERS
        batch.append(
            {
                "_id": ObjectId(),
                "from": 7,
                "to": to,
                "group_id": 0,
                "content": f"message {i} " + "x" * 80,
                "msg_type": 1,
                "ack_id": f"b-{i}",
                "status": 0 if i % 3 else 1,
                "created_at": start + timedelta(milliseconds=i),
                "updated_at": start + timedelta(milliseconds=i),
            }
        )
        if len(batch) == 2000:
            collection.insert_many(batch, ordered=False)
            batch.clear()
    if batch:
        collection.insert_many(batch, ordered=False)


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


def measure(collection: Collection[dict[str, Any]], rounds: int) -> dict[str, dict[str, float]]:
    store = MessageStore(collection)
    store.ensure_indexes()
    cursor = store.unread_page(TARGET_USER, 100).next_cursor
    result: dict[str, dict[str, float]] = {}
    for page, after in (("first page", None), ("next page", cursor)):
        query = unread_query(TARGET_USER, 100, after)
        ours, raw = alternating(
            lambda after=after: store.unread_page(TARGET_USER, 100, after),
            lambda query=query: list(
                collection.find(query.filter, sort=query.sort, limit=query.limit)
            ),
            rounds,
        )
        result[f"store {page}"] = summary_ms(ours)
        result[f"raw {page}"] = summary_ms(raw)
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
                f"Server: {server} {version}. Target user has ~{TARGET_UNREAD} messages "
                "(two thirds unread); the rest go to other users. Page = 100 messages.",
                "",
                "| messages in collection | query | p50 ms | p99 ms | store / raw (p50) |",
                "|---:|---|---:|---:|---:|",
            ]
            for size in args.sizes:
                collection = client["bench"][f"messages_{size}"]
                collection.drop()
                t0 = time.perf_counter()
                fill(collection, size)
                print(f"filled {size} in {time.perf_counter() - t0:.1f}s", flush=True)
                result = measure(collection, args.rounds)
                for page in ("first page", "next page"):
                    s, r = result[f"store {page}"], result[f"raw {page}"]
                    ratio = s["p50"] / r["p50"]
                    row = f"| {size:,} | store {page} | {s['p50']:.2f} | {s['p99']:.2f}"
                    lines.append(f"{row} | {ratio:.2f}x |")
                    lines.append(
                        f"| {size:,} | raw pymongo {page} | {r['p50']:.2f} | {r['p99']:.2f} | |"
                    )
                collection.drop()
            client.close()
        finally:
            stop_all()
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_block(args.write, f"store_unread_{server}", body)


if __name__ == "__main__":
    main()
