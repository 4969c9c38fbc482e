"""End to end through the local gateway: latency from `send` to the recipient's frame,
and messages per second with many users sending at once.

    python -m bench.e2e_throughput [--users 50] [--messages 40] [--write docs/benchmarks.md]
                                   [--runtime processes|threads] [--max-concurrency N]

Runs `make dev`'s stack (python -m infra.dev) as its own process, with its own FerretDB
(or MONGODB_URI) and Redis, and drives it from this process with asyncio WebSocket
clients: users are paired, every user sends to its partner, waiting for each ack before
the next send (as the contract's ordering rule assumes), all users at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from bench.report import summary_ms, write_block
from infra.dev.launcher import running_stack
from infra.dev.tokens import mint


class User:
    def __init__(self, user_id: int, ws: ClientConnection) -> None:
        self.id, self.ws = user_id, ws
        self.acks: dict[str, asyncio.Future[dict[str, object]]] = {}
        self.latencies: list[float] = []
        self.received = 0

    async def read(self, sent_at: dict[str, float]) -> None:
        async for raw in self.ws:
            now = time.perf_counter()
            frame = json.loads(raw)
            if frame["type"] == "message":
                self.received += 1
                self.latencies.append(now - sent_at[frame["message"]["ack_id"]])
            elif frame["type"] in ("ack", "error"):
                future = self.acks.pop(str(frame.get("ack_id")), None)
                if future is not None:
                    future.set_result(frame)

    async def send(self, to: int, count: int, sent_at: dict[str, float]) -> int:
        errors = 0
        for i in range(count):
            ack_id = f"{self.id}-{i}-{uuid.uuid4().hex[:6]}"
            future: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
            self.acks[ack_id] = future
            sent_at[ack_id] = time.perf_counter()
            frame = {"action": "send", "to": to, "content": f"hello {i}", "ack_id": ack_id}
            await self.ws.send(json.dumps(frame))
            reply = await asyncio.wait_for(future, 30)
            errors += reply["type"] != "ack"
        return errors


async def drive(ws_url: str, secret: str, users: int, messages: int) -> dict[str, object]:
    ids = [10_000 + i for i in range(users)]
    sockets = [await connect(f"{ws_url}?token={mint(u, secret)}", max_queue=None) for u in ids]
    people = [User(u, ws) for u, ws in zip(ids, sockets, strict=True)]
    sent_at: dict[str, float] = {}
    readers = [asyncio.create_task(p.read(sent_at)) for p in people]
    partner = {p.id: ids[i ^ 1] for i, p in enumerate(people)}
    # one warm-up message each: first-use costs are not what is measured
    await asyncio.gather(*(p.send(partner[p.id], 1, sent_at) for p in people))
    await asyncio.sleep(0.5)
    for p in people:
        p.latencies.clear()
        p.received = 0
    started = time.perf_counter()
    errors = await asyncio.gather(*(p.send(partner[p.id], messages, sent_at) for p in people))
    deadline = time.monotonic() + 30
    while sum(p.received for p in people) < users * messages and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    for ws in sockets:
        await ws.close()
    for task in readers:
        task.cancel()
    latencies = [x for p in people for x in p.latencies]
    return {
        "elapsed": elapsed,
        "delivered": sum(p.received for p in people),
        "errors": sum(errors),
        "latency": summary_ms(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--messages", type=int, default=40, help="per user")
    parser.add_argument("--write", type=Path)
    parser.add_argument(
        "--runtime",
        choices=("processes", "threads"),
        default="processes",
        help="the gateway's runtime (make dev's default: processes)",
    )
    parser.add_argument(
        "--max-concurrency",
        type=int,
        help="processes: containers per function",
    )
    args = parser.parse_args()
    if args.users % 2:
        parser.error("--users must be even (users are paired)")

    env = {"IM_SEND_RATE_LIMIT": "1000000/1", "POWERTOOLS_LOG_LEVEL": "WARNING"}
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        Path(tmp).chmod(0o711)  # PostgreSQL's own user must be able to traverse it
        # The gateway's REPORT lines off, like the app's INFO logs (POWERTOOLS_LOG_LEVEL).
        stack_args: tuple[str, ...] = ("--runtime", args.runtime, "--log-level", "WARNING")
        if args.max_concurrency is not None:
            stack_args += ("--max-concurrency", str(args.max_concurrency))
        with running_stack(Path(tmp) / "data", env, args=stack_args) as stack:
            result = asyncio.run(
                drive(stack.endpoints["ws_url"], stack.secret, args.users, args.messages)
            )
    total = args.users * args.messages
    lat = result["latency"]
    assert isinstance(lat, dict)
    elapsed = float(result["elapsed"])  # type: ignore[arg-type]
    body = "\n".join(
        [
            f"{args.users} users connected at once, in pairs, each sending {args.messages} "
            "messages to its partner and waiting for each ack; clients in one process, the "
            "stack (gateway + app, FerretDB, Redis) in others, all on this machine.",
            "",
            "| messages | delivered | errors | wall s | messages/s | p50 ms | p90 ms | p99 ms |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {total} | {result['delivered']} | {result['errors']} | {elapsed:.1f} "
            f"| {total / elapsed:.0f} | {lat['p50']:.1f} | {lat['p90']:.1f} | {lat['p99']:.1f} |",
            "",
            "Latency is from the sender's `send` frame to the recipient's `message` frame.",
        ]
    )
    print(body)
    if args.write:
        write_block(args.write, f"e2e_throughput_{args.users}", body)


if __name__ == "__main__":
    main()
