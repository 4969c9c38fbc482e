"""Group send through the local gateway: the sender's ack latency and the time until the
last member has the frame, for groups of 10, 100 and 500 members online (one
connection each), beside a 1:1 send measured the same way in the same run.

    python -m bench.group_send [--rounds 20] [--settings default,1000] [--write docs/benchmarks.md]

Starts FerretDB (or uses MONGODB_URI) and Redis, then runs `make dev`'s stack (python
-m infra.dev) on them as its own process -- once per `IM_PUSH_BEFORE_ACK_MAX` setting,
each with a fresh database -- and drives it from this process with asyncio WebSocket
clients: the gateway and the handlers get their process to themselves, as they would
on AWS, and 500 client sockets do not compete with them for one GIL. The sender is a
member of every group; each round sends one message of each kind (1:1, then each group
size), and every send waits for its ack and for the last member's frame before the
next starts, so samples never overlap and drift hits every kind alike.

Afterwards the store's part of a send (`MongoChatStore.append`: numbering, insert,
fan-out to the members' documents) is timed per command in this process, on the same
server and database, to show where the ack latency goes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient, monitoring
from websockets.asyncio.client import ClientConnection, connect

from bench.report import summary_ms, write_block
from chalicelib.chat.domain import ConversationId, Draft
from chalicelib.store import MongoChatStore
from infra.dev.launcher import running_stack
from infra.dev.tokens import mint
from infra.services import Service, start_mongo, start_redis, stop_all

SIZES = (10, 100, 500)
DELIVERY_TIMEOUT_SECONDS = 20
DEFAULT_PUSH_BEFORE_ACK_MAX = 50  # chalicelib.config.Settings.push_before_ack_max


@dataclass
class InFlight:
    expected: int  # connections that must get the message frame
    sent_at: float
    acked: asyncio.Future[float]
    delivered: asyncio.Event = field(default_factory=asyncio.Event)
    received: int = 0
    last_at: float = 0.0


class Tracker:
    """Every connection's reader reports here; one send is in flight at a time."""

    def __init__(self) -> None:
        self.sends: dict[str, InFlight] = {}
        self.errors = 0

    async def read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            now = time.perf_counter()
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "message":
                sent = self.sends.get(frame["message"]["ack_id"])
                if sent is not None:
                    sent.received += 1
                    sent.last_at = now
                    if sent.received == sent.expected:
                        sent.delivered.set()
            elif kind in ("ack", "error"):
                self.errors += kind == "error"
                sent = self.sends.get(str(frame.get("ack_id")))
                if sent is not None and not sent.acked.done():
                    sent.acked.set_result(now if kind == "ack" else float("nan"))


async def one_send(
    tracker: Tracker, sender: ClientConnection, target: dict[str, int], expected: int
) -> tuple[float, float, int]:
    """(ack latency, last delivery) in seconds for one message, and how many frames
    never came: a push that fails (e.g. times out on a loaded machine) is not retried --
    the message waits as unread, by design -- so waiting for it would wait forever."""
    ack_id = uuid.uuid4().hex
    loop = asyncio.get_running_loop()
    sent = InFlight(expected, time.perf_counter(), loop.create_future())
    tracker.sends[ack_id] = sent
    frame = {"action": "send", **target, "content": "x" * 100, "ack_id": ack_id}
    sent.sent_at = time.perf_counter()
    await sender.send(json.dumps(frame))
    acked_at = await asyncio.wait_for(sent.acked, 60)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sent.delivered.wait(), DELIVERY_TIMEOUT_SECONDS)
    del tracker.sends[ack_id]
    return acked_at - sent.sent_at, sent.last_at - sent.sent_at, expected - sent.received


def create_groups(rest_url: str, secret: str, users: list[int]) -> dict[int, int]:
    """Group size -> group id; the first user owns every group."""
    owner = users[0]
    groups: dict[int, int] = {}
    with httpx.Client(timeout=60) as http:
        for size in SIZES:
            response = http.post(
                f"{rest_url}/api/v1/groups/create",
                json={"name": f"bench {size}", "members": users[1:size]},
                headers={"Authorization": f"Bearer {mint(owner, secret)}"},
            )
            response.raise_for_status()
            groups[size] = response.json()["group"]["group_id"]
    return groups


def store_barrier(rest_url: str, secret: str, user: int) -> None:
    response = httpx.post(
        f"{rest_url}/api/v1/conversations",
        json={"limit": 1},
        headers={"Authorization": f"Bearer {mint(user, secret)}"},
        timeout=60,
    )
    response.raise_for_status()


async def drive(
    ws_url: str,
    rest_url: str,
    secret: str,
    users: list[int],
    groups: dict[int, int],
    rounds: int,
) -> dict[str, Any]:
    tracker = Tracker()
    sockets: list[ClientConnection] = []
    for start in range(0, len(users), 50):  # connect in batches: $connect is a handler
        batch = users[start : start + 50]
        sockets += await asyncio.gather(
            *(connect(f"{ws_url}?token={mint(u, secret)}", max_queue=None) for u in batch)
        )
    readers = [asyncio.create_task(tracker.read(ws)) for ws in sockets]
    sender = sockets[0]
    kinds: list[tuple[str, dict[str, int], int]] = [("1:1", {"to": users[1]}, 1)]
    kinds += [(f"group of {n}", {"group_id": groups[n]}, n - 1) for n in SIZES]
    samples: dict[str, dict[str, list[float]]] = {k: {"ack": [], "last": []} for k, _, _ in kinds}
    missing = 0
    for i in range(rounds + 3):  # three warm-up rounds: first-use costs are not measured
        for name, target, expected in kinds:
            ack, last, lost = await one_send(tracker, sender, target, expected)
            # Let the send's work after its ack (pushes, then the members' copies) finish,
            # so each send is timed on an idle stack, not queued behind the one before:
            # a pause for the copies to be sent, then a read the store answers only
            # after them (the local store runs one command at a time, in order).
            await asyncio.sleep(SETTLE_SECONDS)
            await asyncio.to_thread(store_barrier, rest_url, secret, users[0])
            if i < 3:
                continue
            missing += lost
            if not math.isnan(ack):  # an error instead of an ack is counted, not timed
                samples[name]["ack"].append(ack)
            if not lost:
                samples[name]["last"].append(last)
    for ws in sockets:
        await ws.close()
    for task in readers:
        task.cancel()
    return {"samples": samples, "errors": tracker.errors, "missing": missing}


SETTLE_SECONDS = 0.2
USERS = [30_000 + i for i in range(max(SIZES))]


def run_setting(
    setting: str, rounds: int, mongo: Service, redis: Service, database: str
) -> dict[str, Any]:
    env = {
        "MONGODB_URI": mongo.url,
        "MONGODB_DATABASE": database,
        "REDIS_URL": redis.url,
        "IM_SEND_RATE_LIMIT": "1000000/1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    if setting != "default":
        env["IM_PUSH_BEFORE_ACK_MAX"] = setting
    with (
        tempfile.TemporaryDirectory(prefix="bench-group-") as tmp,
        running_stack(Path(tmp) / "data", env) as stack,
    ):
        urls = stack.endpoints
        groups = create_groups(urls["rest_url"], stack.secret, USERS)
        result = asyncio.run(
            drive(urls["ws_url"], urls["rest_url"], stack.secret, USERS, groups, rounds)
        )
    result["groups"] = groups
    return result


class CommandTimes(monitoring.CommandListener):
    """Time spent per command name, as the driver measured it (round trip)."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        name = event.command_name
        self.ms[name] = self.ms.get(name, 0.0) + event.duration_micros / 1000

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def store_breakdown(
    mongo_url: str, database: str, groups: dict[int, int], samples: int = 10
) -> dict[str, dict[str, float]]:
    """Mean ms per command of one `append`, per kind of send."""
    times = CommandTimes()
    client: MongoClient[dict[str, Any]] = MongoClient(
        mongo_url, tz_aware=True, event_listeners=[times]
    )
    store = MongoChatStore(client[database])
    sender = USERS[0]
    targets = {"1:1": ConversationId.direct(sender, USERS[1])}
    targets |= {f"group of {n}": ConversationId.group(g) for n, g in groups.items()}
    found: dict[str, dict[str, float]] = {}
    try:
        for name, conversation in targets.items():
            times.ms.clear()
            started = time.perf_counter()
            for _ in range(samples):
                store.append(Draft(conversation, sender, "x" * 100, uuid.uuid4().hex))
            total = (time.perf_counter() - started) * 1000 / samples
            found[name] = {"total": total, **{k: v / samples for k, v in times.ms.items()}}
    finally:
        client.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20, help="sends of each kind")
    parser.add_argument(
        "--settings",
        default="default,1000",
        help="IM_PUSH_BEFORE_ACK_MAX values to run, comma-separated ('default' = 50)",
    )
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()

    load_before = os.getloadavg()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-group-services-") as tmp:
        Path(tmp).chmod(0o711)  # PostgreSQL's own user must be able to traverse it
        try:
            mongo = start_mongo(Path(tmp) / "mongo")
            redis = start_redis(Path(tmp) / "redis", persist=False)
            server = mongo.extra.get("server", "MONGODB_URI")
            for i, setting in enumerate(args.settings.split(",")):
                database = f"bench_group_{i}_{uuid.uuid4().hex[:6]}"
                results[setting] = run_setting(setting, args.rounds, mongo, redis, database)
                results[setting]["database"] = database
            first = next(iter(results.values()))
            breakdown = store_breakdown(mongo.url, first["database"], first["groups"])
        finally:
            stop_all()
    load_after = os.getloadavg()

    lines = [
        f"Server: {server}. "
        f"{args.rounds} sends of each kind per setting, one at a time; every member online "
        "with one connection, the sender a member of each group. Load average (1/5/15 min) "
        f"before: {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, after: "
        f"{load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f} (2 cores, shared "
        "with other work).",
        "",
        "| IM_PUSH_BEFORE_ACK_MAX | send | connections pushed | ack p50 ms | ack p99 ms "
        "| last frame p50 ms | last frame p99 ms | ack p50 / 1:1 |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for setting, result in results.items():
        label = f"{DEFAULT_PUSH_BEFORE_ACK_MAX} (default)" if setting == "default" else setting
        samples = result["samples"]
        direct = summary_ms(samples["1:1"]["ack"])["p50"]
        for name, got in samples.items():
            ack, last = summary_ms(got["ack"]), summary_ms(got["last"])
            pushed = 1 if name == "1:1" else int(name.split()[-1]) - 1
            lines.append(
                f"| {label} | {name} | {pushed} | {ack['p50']:.1f} | {ack['p99']:.1f} "
                f"| {last['p50']:.1f} | {last['p99']:.1f} | {ack['p50'] / direct:.2f}x |"
            )
        if result["errors"] or result["missing"]:
            lines.append(
                f"| {label} | errors: {result['errors']}, frames never delivered: "
                f"{result['missing']} | | | | | | |"
            )
    lines += [
        "",
        "Ack latency: from the sender's `send` frame to its `ack`. Last frame: from the same "
        "`send` to the moment the last receiving connection has its `message` frame (the "
        "clients run in one process, so reading 499 frames adds its own few ms).",
        "",
        "The store's part of one send (`MongoChatStore.append`, in this process on the same "
        "server and database; mean ms per command, round trip as pymongo times it):",
        "",
        "| send | append total | findAndModify (number) | insert | update (fan-out) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, parts in breakdown.items():
        lines.append(
            f"| {name} | {parts['total']:.1f} | {parts.get('findAndModify', 0):.1f} "
            f"| {parts.get('insert', 0):.1f} | {parts.get('update', 0):.1f} |"
        )
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_block(args.write, f"group_send_{server.replace(' ', '-')}", body)


if __name__ == "__main__":
    main()
