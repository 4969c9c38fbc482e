"""Send-handler cost against its own I/O floor, measured in one run.

    python -m bench.send_handler [--messages 600] [--write docs/benchmarks.md]

The app runs on the local API Gateway in this process, with real FerretDB (or
MONGODB_URI) and Redis; a sender and a recipient are connected over real WebSockets.
Each sample of the handler is one `$default` event with a `send` frame through the
Lambda entry point Chalice builds (middleware included): rate limit, store, presence
lookup, push to the recipient, ack to the sender. Each sample of the floor is what the
issue defines as the least any send must cost -- one insert of the same document, one
Redis read and one post_to_connection through the same gateway -- done with the same
clients the handler uses (pymongo, redis-py, our signed @connections client); boto3's
post_to_connection is timed beside it for reference. Samples alternate in blocks so
both see the same machine.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import redis
from botocore.config import Config
from bson import ObjectId
from chalice.local import LambdaContext
from pymongo import MongoClient, UpdateOne
from websockets.sync.client import ClientConnection, connect

from bench.report import summary_ms, write_block
from chalicelib.management import SignedConnectionsApi
from infra.dev.tokens import mint
from infra.localgw import LocalGateway
from infra.localgw.events import ConnectionFacts, message_event, new_id
from infra.services import start_mongo, start_redis, stop_all

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-" + "x" * 40


class Drain:
    """Reads every frame of a connection in the background and counts them."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws, self.count, self.types = ws, 0, {}  # type: ignore[var-annotated]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            for raw in self.ws:
                kind = json.loads(raw).get("type", "raw")
                self.types[kind] = self.types.get(kind, 0) + 1
                self.count += 1
        except Exception:  # noqa: S110 - closed at the end of the run
            pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--block", type=int, default=50)
    parser.add_argument("--write", type=Path)
    parser.add_argument("--profile", type=Path, help="cProfile the handler samples into this file")
    args = parser.parse_args()
    profiler = cProfile.Profile() if args.profile else None

    with tempfile.TemporaryDirectory(prefix="bench-send-") as tmp:
        gateway = None
        try:
            mongo = start_mongo(Path(tmp) / "mongo")
            red = start_redis(Path(tmp) / "redis", persist=False)
            database = f"bench_{uuid.uuid4().hex[:8]}"
            os.environ.update(
                {
                    "MONGODB_URI": mongo.url,
                    "MONGODB_DATABASE": database,
                    "REDIS_URL": red.url,
                    "IM_JWT_SECRET": SECRET,
                    "AWS_ACCESS_KEY_ID": "local",
                    "AWS_SECRET_ACCESS_KEY": "local",
                    "AWS_REGION": "us-east-1",
                    "POWERTOOLS_METRICS_DISABLED": "true",
                    "POWERTOOLS_LOG_LEVEL": "WARNING",
                    "IM_SEND_RATE_LIMIT": "1000000/1",
                    # As make deploy configures API Gateway: the ack is the return value.
                    "IM_ACK_ROUTE_RESPONSE": "true",
                }
            )
            gateway = LocalGateway(ROOT, port=0)
            urls = gateway.start()
            sender_ws = connect(f"{urls.ws_url}?token={mint(1, SECRET)}", legacy=True)
            before = set(gateway.connection_ids())
            recipient_ws = connect(f"{urls.ws_url}?token={mint(2, SECRET)}", legacy=True)
            (recipient_id,) = set(gateway.connection_ids()) - before
            sender_id = next(c for c in before)
            sender, recipient = Drain(sender_ws), Drain(recipient_ws)

            app = gateway.app
            handler = app.handler_map[app.websocket_handlers["$default"].name]
            context = LambdaContext("websocket_message", 1024, max_runtime_ms=28_000)
            facts = ConnectionFacts(
                sender_id, time.time(), "127.0.0.1", urls.domain_name, "api", "bench"
            )

            returned_acks = [0]

            def one_send(i: int) -> None:
                frame = {
                    "action": "send",
                    "to": 2,
                    "content": f"m{i} " + "x" * 100,
                    "ack_id": f"a{i}-{uuid.uuid4().hex[:6]}",
                }
                event = message_event(
                    facts, json.dumps(frame), "$default", new_id(), new_id(), time.time()
                )
                result = handler(event, context)
                if '"type":"ack"' in str(result.get("body", "")):
                    returned_acks[0] += 1

            client: MongoClient[dict[str, Any]] = MongoClient(mongo.url, tz_aware=True)
            floor_collection = client[database]["floor"]
            floor_collection.create_index([("from", 1), ("ack_id", 1)], unique=True)
            counters = client[database]["floor_counters"]
            counters.insert_one({"_id": "d:1:2", "max_seq": 0, "last_at": 0})
            copies = client[database]["floor_members"]
            copies.insert_many([{"_id": f"d:1:2|{u}", "max_seq": 0, "extra": []} for u in (1, 2)])
            rds = redis.Redis.from_url(red.url, decode_responses=True)
            rds.set("floor-key", "2:9999999999")
            session = boto3.session.Session(region_name="us-east-1")
            boto_management = session.client(
                "apigatewaymanagementapi",
                endpoint_url=urls.management_url,
                config=Config(retries={"max_attempts": 2, "mode": "standard"}),
            )
            credentials = session.get_credentials()
            assert credentials is not None
            management = SignedConnectionsApi(urls.management_url, credentials, "us-east-1")
            payload = json.dumps({"type": "message", "message": {"content": "x" * 100}}).encode()

            def one_store_floor(i: int) -> float:
                """The v1.1 store's three writes, in plain pymongo: number, insert, copies."""
                t0 = time.perf_counter()
                counters.find_one_and_update(
                    {"_id": "d:1:2"}, {"$inc": {"max_seq": 1}, "$max": {"last_at": i}}
                )
                floor_collection.insert_one({"from": 1, "ack_id": f"s{i}", "content": "x" * 100})
                copies.bulk_write(
                    [
                        UpdateOne({"_id": "d:1:2|1"}, {"$max": {"max_seq": i}}),
                        UpdateOne({"_id": "d:1:2|2"}, {"$max": {"max_seq": i}}),
                        UpdateOne({"_id": "d:1:2|1"}, {"$addToSet": {"extra": i}}),
                    ],
                    ordered=False,
                )
                return time.perf_counter() - t0

            def one_floor(i: int) -> dict[str, float]:
                t0 = time.perf_counter()
                floor_collection.insert_one(
                    {
                        "_id": ObjectId(),
                        "from": 1,
                        "to": 2,
                        "group_id": 0,
                        "content": f"m{i} " + "x" * 100,
                        "msg_type": 1,
                        "ack_id": f"f{i}",
                        "status": 0,
                        "created_at": time.time(),
                        "updated_at": time.time(),
                    }
                )
                t1 = time.perf_counter()
                rds.get("floor-key")
                t2 = time.perf_counter()
                assert management.post(recipient_id, payload)[0] == "delivered"
                t3 = time.perf_counter()
                boto_management.post_to_connection(Data=payload, ConnectionId=recipient_id)
                t4 = time.perf_counter()
                return {
                    "insert": t1 - t0,
                    "redis": t2 - t1,
                    "post": t3 - t2,
                    "total": t3 - t0,
                    "boto3 post": t4 - t3,
                    "store": one_store_floor(i),
                }

            for i in range(20):  # warm both paths: clients, pools, caches
                one_send(-i - 1)
                one_floor(-i - 1)
            handler_s: list[float] = []
            parts: dict[str, list[float]] = {
                "insert": [],
                "redis": [],
                "post": [],
                "total": [],
                "boto3 post": [],
                "store": [],
            }
            for block_start in range(0, args.messages, args.block):
                for i in range(block_start, block_start + args.block):
                    if profiler:
                        profiler.enable()
                    t0 = time.perf_counter()
                    one_send(i)
                    handler_s.append(time.perf_counter() - t0)
                    if profiler:
                        profiler.disable()
                for i in range(block_start, block_start + args.block):
                    for key, value in one_floor(i).items():
                        parts[key].append(value)

            time.sleep(0.5)
            expected = args.messages + 20
            delivered = recipient.types.get("message", 0) - 2 * expected  # minus floor posts
            acked = sender.types.get("ack", 0) + returned_acks[0]
            h, f = summary_ms(handler_s), summary_ms(parts["total"])
            p = {k: summary_ms(v) for k, v in parts.items()}
            # v1.1's floor: the store's three writes, the limiter and the presence lookup
            # (two Redis round trips: presence is read after the insert), one post (the
            # push; the ack is the route response).
            contract_floor = p["store"]["p50"] + 2 * p["redis"]["p50"] + p["post"]["p50"]
            lines = [
                f"Server: {mongo.extra.get('server', 'MONGODB_URI')}; {args.messages} sends, "
                f"{delivered}/{expected} delivered and {acked}/{expected} acked.",
                "",
                "| what | p50 ms | p90 ms | p99 ms | mean ms |",
                "|---|---:|---:|---:|---:|",
                *(
                    f"| {name} | {s['p50']:.3f} | {s['p90']:.3f} | {s['p99']:.3f} "
                    f"| {s['mean']:.3f} |"
                    for name, s in [
                        ("send handler (Lambda entry point)", h),
                        ("floor: insert + Redis read + post", f),
                        ("  insert_one", p["insert"]),
                        ("  Redis GET", p["redis"]),
                        ("  post_to_connection (our signed client)", p["post"]),
                        ("  for reference: boto3 post_to_connection", p["boto3 post"]),
                        ("v1.1 store: number + insert + copies", p["store"]),
                    ]
                ),
                "",
                f"**Handler / floor (p50): {h['p50'] / f['p50']:.2f}x**; "
                f"mean: {h['mean'] / f['mean']:.2f}x.",
                "",
                "The ack is the route response (IM_ACK_ROUTE_RESPONSE=true, as make deploy "
                "configures API Gateway): one post per 1:1 send, the push. What a v1.1 send must "
                "do is more than that floor: the conversation model's three writes (number the "
                "message, insert it, bring both members' copies up -- each a point update), the "
                "rate limit and the presence lookup (two Redis round trips: presence must be "
                "read *after* the insert, so a recipient who connects meanwhile finds the "
                "message in unread). That floor (v1.1 store + 2 Redis + 1 post, p50 of parts) "
                f"is {contract_floor:.3f} ms, and the handler is "
                f"**{h['p50'] / contract_floor:.2f}x** of it.",
            ]
            body = "\n".join(lines)
            print(body)
            if profiler and args.profile:
                profiler.dump_stats(args.profile)
            if args.write:
                write_block(args.write, "send_handler", body)
            sender_ws.close()
            recipient_ws.close()
            client.close()
        finally:
            if gateway is not None:
                gateway.stop()
            stop_all()


if __name__ == "__main__":
    main()
