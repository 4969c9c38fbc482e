"""Command line: serve a Chalice project on the local API Gateway until SIGINT/SIGTERM.

    python -m infra.localgw --app-dir DIR --port PORT [--stage STAGE] [--host 127.0.0.1]
                            [--ready-file PATH] [--env NAME=VALUE ...]
                            [--route-response ROUTE_KEY ...]
                            [--runtime processes|threads] [--max-concurrency N]
                            [--worker-idle-timeout S] [--prewarm N]
                            [limit options, see --help]

Once serving, one JSON line goes to stdout (and, with --ready-file, to that file,
written atomically):
    {"event": "ready", "ws_url": ..., "rest_url": ..., "management_url": ...,
     "admin_url": ..., "pid": ...}
Logs are JSON lines on stderr (with the processes runtime, a Lambda-style REPORT line
per invocation and a "cold start" line per new container). Exit status 0 after a
signal, 1 if the app fails to load, 2 on bad options.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from types import FrameType

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from infra.localgw.loader import AppLoadError
from infra.localgw.server import (
    DEFAULT_MAX_WORKERS,
    RUNTIMES,
    LocalGateway,
    validate_route_responses,
)
from infra.localgw.settings import GatewayUrls, Limits, WorkerSettings

_DEFAULTS = Limits()
_WORKERS = WorkerSettings()


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    """Where handlers run, for every command line that starts a gateway (this one and
    make dev's); `workers_from` reads them back."""
    workers = parser.add_argument_group("runtime (where handlers run)")
    workers.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="processes",
        help="processes: worker processes per Lambda function, like containers (default); "
        "threads: handler threads in the gateway's process",
    )
    workers.add_argument(
        "--max-concurrency",
        type=int,
        default=_WORKERS.max_per_function,
        help="processes: containers per function at most",
    )
    workers.add_argument(
        "--worker-idle-timeout",
        type=float,
        default=_WORKERS.idle_timeout,
        help="processes: seconds before an unused container is retired",
    )
    workers.add_argument(
        "--prewarm",
        type=int,
        default=_WORKERS.prewarm,
        help="processes: containers started per function at start, kept warm",
    )
    workers.add_argument(
        "--max-workers",
        type=int,
        default=DEFAULT_MAX_WORKERS,
        help="threads: handler threads",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra.localgw",
        description="Local API Gateway (WebSocket, REST, @connections) for a Chalice app.",
    )
    parser.add_argument("--app-dir", required=True, type=Path, help="Chalice project directory")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--stage", default="dev", help="Chalice stage in .chalice/config.json")
    parser.add_argument("--region", default=None, help="default: $AWS_REGION or us-east-1")
    parser.add_argument("--ready-file", type=Path, help="write the ready JSON here too")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra handler environment variable (repeatable); {ws_url}, {rest_url}, "
        "{management_url} and {admin_url} in VALUE are replaced by the bound URLs; "
        ".chalice/config.json still wins",
    )
    parser.add_argument(
        "--route-response",
        action="append",
        default=[],
        metavar="ROUTE_KEY",
        help="send this route's handler result body back to the client, as a $default "
        "route response on AWS does (repeatable); Chalice creates none",
    )
    add_runtime_options(parser)
    parser.add_argument("--log-level", default="INFO")
    limits = parser.add_argument_group("limits (API Gateway quotas by default)")
    limits.add_argument("--max-message-bytes", type=int, default=_DEFAULTS.max_message_bytes)
    limits.add_argument("--max-frame-bytes", type=int, default=_DEFAULTS.max_frame_bytes)
    limits.add_argument("--idle-timeout", type=float, default=_DEFAULTS.idle_timeout)
    limits.add_argument(
        "--max-connection-duration", type=float, default=_DEFAULTS.max_connection_duration
    )
    limits.add_argument("--integration-timeout", type=float, default=_DEFAULTS.integration_timeout)
    limits.add_argument(
        "--new-connections-per-second", type=float, default=None, help="default: no throttle"
    )
    limits.add_argument("--send-buffer-bytes", type=int, default=_DEFAULTS.send_buffer_bytes)
    limits.add_argument("--max-header-bytes", type=int, default=_DEFAULTS.max_header_bytes)
    limits.add_argument("--max-rest-body-bytes", type=int, default=_DEFAULTS.max_rest_body_bytes)
    limits.add_argument(
        "--max-websocket-url-bytes", type=int, default=_DEFAULTS.max_websocket_url_bytes
    )
    return parser


def limits_from(args: argparse.Namespace) -> Limits:
    return Limits(
        max_message_bytes=args.max_message_bytes,
        max_frame_bytes=args.max_frame_bytes,
        idle_timeout=args.idle_timeout,
        max_connection_duration=args.max_connection_duration,
        integration_timeout=args.integration_timeout,
        new_connections_per_second=args.new_connections_per_second,
        send_buffer_bytes=args.send_buffer_bytes,
        max_header_bytes=args.max_header_bytes,
        max_rest_body_bytes=args.max_rest_body_bytes,
        max_websocket_url_bytes=args.max_websocket_url_bytes,
    )


def workers_from(args: argparse.Namespace) -> WorkerSettings:
    return WorkerSettings(
        max_per_function=args.max_concurrency,
        idle_timeout=args.worker_idle_timeout,
        prewarm=args.prewarm,
    )


def env_from(args: argparse.Namespace) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in args.env:
        name, equals, value = item.partition("=")
        if not name or not equals:
            raise ValueError(f"--env expects NAME=VALUE, got {item!r}")
        env[name] = value
    return env


def ready_document(urls: GatewayUrls) -> str:
    return json.dumps({"event": "ready", **asdict(urls), "pid": os.getpid()})


def write_atomically(path: Path, text: str) -> None:
    # A fixture polling for the file must never read it half-written.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text + "\n", encoding="utf-8")
    partial.replace(path)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LambdaPowertoolsFormatter(service="localgw"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        limits = limits_from(args)
        env = env_from(args)
        route_responses = validate_route_responses(args.route_response)
        workers = workers_from(args)
    except ValueError as exc:
        parser.error(str(exc))
    configure_logging(args.log_level)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    gateway = LocalGateway(
        args.app_dir,
        stage=args.stage,
        host=args.host,
        port=args.port,
        limits=limits,
        max_workers=args.max_workers,
        region=args.region,
        env=env,
        route_responses=route_responses,
        runtime=args.runtime,
        workers=workers,
    )
    try:
        urls = gateway.start()
    except AppLoadError as exc:
        logging.getLogger("infra.localgw").error("cannot load the app: %s", exc)
        return 1
    except Exception:
        logging.getLogger("infra.localgw").exception("the gateway failed to start")
        return 1
    try:
        document = ready_document(urls)
        if args.ready_file is not None:
            write_atomically(args.ready_file, document)
        print(document, flush=True)
        print(
            f"localgw: WebSocket {urls.ws_url}  REST {urls.rest_url}  "
            f"Management {urls.management_url}/@connections",
            file=sys.stderr,
            flush=True,
        )
        # wait() with a timeout keeps the main thread responsive to signals.
        while not stop.wait(1.0):
            pass
    finally:
        gateway.stop()
        if args.ready_file is not None:
            args.ready_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
