"""`make dev`: the whole service on one machine, in the foreground.

Starts Redis and a MongoDB-compatible server (unless REDIS_URL / MONGODB_URI are given)
with their data under DATA_DIR, then serves this app through the local API Gateway:
REST routes, the WebSocket API and the @connections management API on one port, with
the local-only browser page and its token endpoint beside them (infra/dev/web.py). When
ready it writes DATA_DIR/local-endpoints.json; on SIGINT/SIGTERM it stops everything it
started. Messages live in DATA_DIR, so a restart with the same DATA_DIR keeps them.
"""

from __future__ import annotations

import argparse
import faulthandler
import fcntl
import json
import os
import signal
import sys
from pathlib import Path
from typing import TextIO

from infra.dev import ENDPOINTS_FILE
from infra.dev.tokens import local_secret
from infra.dev.web import dev_routes, page_url
from infra.localgw import LocalGateway
from infra.services import start_mongo, start_redis, stop_all
from infra.services.process import install_signal_handlers, wait_for_signal

ROOT = Path(__file__).resolve().parents[2]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make dev")
    parser.add_argument("--data-dir", type=Path, default=Path(".data"))
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--stage", default="dev")
    return parser


def _app_environment(mongo_url: str, redis_url: str, secret: str) -> dict[str, str]:
    return {
        "MONGODB_URI": mongo_url,
        "REDIS_URL": redis_url,
        "IM_JWT_SECRET": secret,
        # The management client signs its calls; the local gateway accepts any key.
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        # EMF metric lines are for CloudWatch; locally they would drown the logs.
        "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
    }


def _lock(data_dir: Path) -> TextIO | None:
    """One stack per DATA_DIR: two servers on the same database files would corrupt them."""
    handle = open(data_dir / ".dev.lock", "a+")  # noqa: SIM115 - held for the process's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    data_dir = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock(data_dir)
    if lock is None:
        print(f"another `make dev` is already using {data_dir}", file=sys.stderr)
        return 1
    endpoints = data_dir / ENDPOINTS_FILE
    install_signal_handlers()
    gateway: LocalGateway | None = None
    try:
        mongo = start_mongo(data_dir / "mongo")
        redis = start_redis(data_dir / "redis", persist=True)
        secret = local_secret(data_dir)
        os.environ.update(_app_environment(mongo.url, redis.url, secret))
        gateway = LocalGateway(
            ROOT,
            stage=args.stage,
            host=args.host,
            port=args.port,
            extra_routes=dev_routes(data_dir, secret),
        )
        urls = gateway.start()
        info = {
            "ws_url": urls.ws_url,
            "rest_url": urls.rest_url,
            "management_url": urls.management_url,
            "admin_url": urls.admin_url,
            "pid": os.getpid(),
        }
        partial = endpoints.with_suffix(".tmp")
        partial.write_text(json.dumps(info, indent=2) + "\n")
        partial.replace(endpoints)
        print(
            f"serverless-im is running (data in {data_dir})\n"
            f"  WebSocket   {urls.ws_url}?token=<JWT>\n"
            f"  REST        {urls.rest_url}/api/v1/messages/unread  (and /mark-read)\n"
            f"  Management  {urls.management_url}/@connections/<id>\n"
            f"  Token       make -s token USER=<id>\n"
            f"  Web page    {page_url(urls.rest_url)}\n"
            f"  Terminal    make client USER=<id>\n"
            f"  Endpoints   {endpoints}\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        wait_for_signal()
    except KeyboardInterrupt:
        pass
    finally:
        endpoints.unlink(missing_ok=True)
        if gateway is not None:
            gateway.stop()
        stop_all()
        lock.close()
        print("stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` prints every thread's stack
    sys.exit(main())
