"""Cold start: `import app` beside `import boto3`, and the first invocation of each route
in a fresh process (clients built, indexes ensured), each in its own new interpreter.

    python -m bench.cold_start [--runs 7] [--write docs/benchmarks.md]

The parent starts FerretDB (or MONGODB_URI) and Redis, serves the app on an in-process
local gateway (for its @connections endpoint) and connects two real WebSocket clients;
every sample is then a new `python` process that imports the app and invokes one
Lambda entry point with the event API Gateway would send: `$connect` (verify the JWT,
register presence), `$default` with a `send` (store, presence, push, ack) and REST
`unread`. Samples of the kinds alternate, so machine noise hits all alike.

The child side of this module imports nothing before it starts its clock.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

_CHILD = "--child"


def child(spec_path: str) -> None:
    """One fresh process: time `import app`, then one invocation (or none)."""
    with open(spec_path) as f:
        spec = json.load(f)
    t0 = time.perf_counter()
    if spec["kind"] == "boto3":
        import boto3  # noqa: F401

        print(json.dumps({"import": time.perf_counter() - t0}))
        return
    import app

    t1 = time.perf_counter()
    result = None
    if spec["event"] is not None:
        context = _Context(spec["function"])
        # REST: the Chalice app object is the Lambda entry point; WebSocket: its handler.
        entry = (
            app.app if spec["handler"] == "api_handler" else app.app.handler_map[spec["handler"]]
        )
        result = entry(spec["event"], context)
    t2 = time.perf_counter()
    print(json.dumps({"import": t1 - t0, "invoke": t2 - t1, "result": str(result)[:200]}))


class _Context:
    """What Lambda passes and Powertools reads (chalice.local would import chalice.local)."""

    def __init__(self, function: str) -> None:
        self.function_name = function
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 1024
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function}"
        self.aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 28_000


def main() -> None:
    import argparse
    import os
    import statistics
    import tempfile
    import uuid
    from pathlib import Path

    from chalice.local import LambdaEventConverter, RouteMatcher
    from websockets.sync.client import connect

    from bench.report import write_block
    from infra.dev.tokens import mint
    from infra.localgw import LocalGateway
    from infra.localgw.events import ConnectionFacts, connect_event, message_event, new_id
    from infra.services import start_mongo, start_redis, stop_all

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--write", type=Path)
    parser.add_argument(
        "--app-dir", type=Path, help="another checkout's app (e.g. the one before a change)"
    )
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1]
    root = (args.app_dir or here).resolve()
    secret = "bench-secret-" + "x" * 40
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        gateway = None
        try:
            mongo = start_mongo(Path(tmp) / "mongo")
            red = start_redis(Path(tmp) / "redis", persist=False)
            env = {
                "MONGODB_URI": mongo.url,
                "MONGODB_DATABASE": f"cold_{uuid.uuid4().hex[:8]}",
                "REDIS_URL": red.url,
                "IM_JWT_SECRET": secret,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_REGION": "us-east-1",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
            os.environ.update(env)
            if args.app_dir:
                # That checkout's app must import its own chalicelib, not the one this
                # process imported (for tokens) from here.
                for name in [m for m in sys.modules if m.partition(".")[0] == "chalicelib"]:
                    del sys.modules[name]
            gateway = LocalGateway(root, env=env)
            urls = gateway.start()
            env["IM_MANAGEMENT_URL"] = urls.management_url
            sender, recipient = 5001, 5002
            before = set(gateway.connection_ids())
            ws_a = connect(f"{urls.ws_url}?token={mint(sender, secret)}", legacy=True)
            (conn_a,) = set(gateway.connection_ids()) - before
            ws_b = connect(f"{urls.ws_url}?token={mint(recipient, secret)}", legacy=True)
            facts = ConnectionFacts(
                connection_id=conn_a,
                connected_at=time.time(),
                source_ip="127.0.0.1",
                domain_name=urls.domain_name,
                stage="api",
                api_id="bench",
            )
            token = mint(sender, secret)
            rest = LambdaEventConverter(RouteMatcher(list(gateway.app.routes))).create_lambda_event(
                "POST",
                "/api/v1/messages/unread",
                {"authorization": f"Bearer {token}", "content-type": "application/json"},
                b"{}",
            )

            if isinstance(rest.get("body"), bytes):
                rest["body"] = rest["body"].decode()

            def connect_spec() -> dict[str, object]:
                fresh = ConnectionFacts(**{**facts.__dict__, "connection_id": new_id()})
                event = connect_event(
                    fresh, [("Host", urls.domain_name)], f"token={token}", new_id(), time.time()
                )
                return {"event": event, "handler": "connect", "function": "websocket_connect"}

            def send_spec() -> dict[str, object]:
                body = json.dumps(
                    {
                        "action": "send",
                        "to": recipient,
                        "content": "cold",
                        "ack_id": uuid.uuid4().hex,
                    }
                )
                event = message_event(facts, body, "$default", new_id(), new_id(), time.time())
                return {"event": event, "handler": "message", "function": "websocket_message"}

            kinds: dict[str, Callable[[], dict[str, object]]] = {
                "import boto3": lambda: {"kind": "boto3", "event": None},
                "import app": lambda: {"event": None},
                "first $connect": connect_spec,
                "first $default (send)": send_spec,
                "first REST unread": lambda: {
                    "event": rest,
                    "handler": "api_handler",
                    "function": "api_handler",
                },
            }
            samples: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
            # The child runs this file by its path and imports `app` (and that app's
            # chalicelib) from `root` only: another checkout need not have this module.
            child_env = {
                **os.environ,
                **env,
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONPATH": str(root),
            }
            spec_file = Path(tmp) / "spec.json"
            for _ in range(args.runs):
                for name, make in kinds.items():
                    spec: dict[str, object] = {"kind": "app"}
                    spec.update(make())
                    spec_file.write_text(json.dumps(spec))
                    out = subprocess.run(
                        [sys.executable, str(Path(__file__).resolve()), _CHILD, str(spec_file)],
                        cwd=root,
                        env=child_env,
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    samples[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
            ws_a.close()
            ws_b.close()
        finally:
            if gateway is not None:
                gateway.stop()
            stop_all()

    def median(name: str, key: str) -> float:
        return float(statistics.median(s[key] for s in samples[name])) * 1000

    boto3_ms = median("import boto3", "import")
    lines = [
        f"Medians of {args.runs} fresh processes each; a sample's clock starts before"
        " `import app` (or `import boto3`). First invocation = the handler's first event"
        " after the import: settings read, clients built, indexes ensured, the work done.",
        "",
        "| what | import ms | first invocation ms | import / `import boto3` |",
        "|---|---:|---:|---:|",
        f"| `import boto3` | {boto3_ms:.0f} | | 1.00x |",
    ]
    for name in list(kinds)[1:]:
        imp = median(name, "import")
        invoked = samples[name][0].get("result") not in (None, "None")
        inv = f"{median(name, 'invoke'):.0f}" if invoked else ""
        lines.append(f"| {name} | {imp:.0f} | {inv} | {imp / boto3_ms:.2f}x |")
    if args.app_dir:
        lines.append(f"\nApp: {args.app_dir} (`git -C {args.app_dir} log -1 --format=%h`).")
    body = "\n".join(lines)
    print(body)
    for name in list(kinds)[2:]:
        print(name, samples[name][-1].get("result"))
    if args.write:
        write_block(args.write, "cold_start_before" if args.app_dir else "cold_start", body)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == _CHILD:
        child(sys.argv[2])
    else:
        main()
