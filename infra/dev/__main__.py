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
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TextIO

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from chalicelib.config import ConfigError, Settings
from infra.dev import ENDPOINTS_FILE
from infra.dev.tokens import local_secret
from infra.dev.web import dev_routes, page_url
from infra.localgw import LocalGateway
from infra.localgw.__main__ import add_runtime_options, workers_from
from infra.services import start_mongo, start_redis, stop_all
from infra.services.process import install_signal_handlers, wait_for_signal

ROOT = Path(__file__).resolve().parents[2]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make dev")
    parser.add_argument("--data-dir", type=Path, default=Path(".data"))
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--stage", default="dev")
    parser.add_argument(
        "--no-route-responses",
        action="store_true",
        help="a one-way $default, as plain `chalice deploy` leaves it: acks are posted",
    )
    add_runtime_options(parser)
    parser.add_argument(
        "--log-level",
        default="INFO",
        help="the gateway's own log (cold starts, REPORT lines, connections); "
        "the app's is POWERTOOLS_LOG_LEVEL",
    )
    return parser


def _gateway_logging(level: str) -> None:
    """The gateway's JSON log lines on stderr, beside the app's (make dev's terminal)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LambdaPowertoolsFormatter(service="localgw"))
    gateway_logger = logging.getLogger("infra.localgw")
    gateway_logger.addHandler(handler)
    gateway_logger.setLevel(level.upper())
    gateway_logger.propagate = False


def _app_environment(
    mongo_url: str, redis_url: str, secret: str, two_way: bool = True
) -> dict[str, str]:
    return {
        # The gateway's `$default` answers with the Lambda's return value, as `make
        # deploy` configures API Gateway: acks are route responses, not posts.
        "IM_ACK_ROUTE_RESPONSE": "true" if two_way else "false",
        "MONGODB_URI": mongo_url,
        "REDIS_URL": redis_url,
        "IM_JWT_SECRET": secret,
        # This machine only: allows what a deployment refuses (IM_CORS_ALLOW_ORIGINS=*).
        "IM_ALLOW_INSECURE_LOCAL": "true",
        # The management client signs its calls; the local gateway accepts any key.
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        # EMF metric lines are for CloudWatch; locally they would drown the logs.
        "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
    }


def _settings_problem(stage: str, app_env: dict[str, str]) -> str | None:
    """What the app would refuse at its first invocation, found before anything starts:
    the settings as the gateway will give them (process, make dev's, then the stage's)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    stage_env = config.get("stages", {}).get(stage, {}).get("environment_variables", {})
    try:
        Settings.from_env({**os.environ, **app_env, **stage_env})
    except ConfigError as exc:
        return str(exc)
    return None


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
    secret = local_secret(data_dir)
    # Placeholder URLs: the real ones exist once the servers run.
    problem = _settings_problem(
        args.stage, _app_environment("mongodb://127.0.0.1/", "redis://127.0.0.1/0", secret)
    )
    if problem is not None:
        print(f"make dev: configuration error: {problem}", file=sys.stderr)
        lock.close()
        return 2
    endpoints = data_dir / ENDPOINTS_FILE
    _gateway_logging(args.log_level)
    install_signal_handlers()
    gateway: LocalGateway | None = None
    try:
        mongo = start_mongo(data_dir / "mongo")
        redis = start_redis(data_dir / "redis", persist=True)
        two_way = not args.no_route_responses
        os.environ.update(_app_environment(mongo.url, redis.url, secret, two_way))
        gateway = LocalGateway(
            ROOT,
            stage=args.stage,
            host=args.host,
            port=args.port,
            extra_routes=dev_routes(data_dir, secret),
            route_responses={"$default"} if two_way else (),
            runtime=args.runtime,
            workers=workers_from(args),
            max_workers=args.max_workers,
        )
        urls = gateway.start()
        info = {
            "ws_url": urls.ws_url,
            "rest_url": urls.rest_url,
            "management_url": urls.management_url,
            "admin_url": urls.admin_url,
            "redis_url": redis.url,  # for `make revoke`
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
