"""Command-line parsing into Limits and the ready document."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from infra.localgw.__main__ import (
    build_parser,
    env_from,
    limits_from,
    ready_document,
    workers_from,
    write_atomically,
)
from infra.localgw.settings import GatewayUrls, Limits, WorkerSettings


def test_defaults_are_the_aws_quotas() -> None:
    args = build_parser().parse_args(["--app-dir", "x"])
    assert limits_from(args) == Limits()
    assert args.port == 8000
    assert args.stage == "dev"
    assert args.host == "127.0.0.1"
    assert args.runtime == "processes"
    assert workers_from(args) == WorkerSettings()


def test_every_limit_is_an_option() -> None:
    args = build_parser().parse_args(
        [
            "--app-dir", "x", "--port", "0",
            "--max-message-bytes", "2048", "--max-frame-bytes", "1024",
            "--idle-timeout", "1.5", "--max-connection-duration", "60",
            "--integration-timeout", "2", "--new-connections-per-second", "10",
            "--send-buffer-bytes", "4096", "--max-header-bytes", "2000",
            "--max-rest-body-bytes", "5000", "--max-websocket-url-bytes", "300",
        ]
    )  # fmt: skip
    assert limits_from(args) == Limits(
        max_message_bytes=2048,
        max_frame_bytes=1024,
        idle_timeout=1.5,
        max_connection_duration=60,
        integration_timeout=2,
        new_connections_per_second=10,
        send_buffer_bytes=4096,
        max_header_bytes=2000,
        max_rest_body_bytes=5000,
        max_websocket_url_bytes=300,
    )


def test_ready_document_and_file(tmp_path: Path) -> None:
    document = ready_document(GatewayUrls.build("127.0.0.1", 9000, "api"))
    path = tmp_path / "ready.json"
    write_atomically(path, document)
    assert json.loads(path.read_text()) == {
        "event": "ready",
        "ws_url": "ws://127.0.0.1:9000/api",
        "rest_url": "http://127.0.0.1:9000/api",
        "management_url": "http://127.0.0.1:9000/api",
        "admin_url": "http://127.0.0.1:9000/_localgw",
        "pid": os.getpid(),
    }
    assert list(tmp_path.iterdir()) == [path]


def test_env_options() -> None:
    args = build_parser().parse_args(
        ["--app-dir", "x", "--env", "IM_MANAGEMENT_URL={management_url}", "--env", "A=b=c"]
    )
    assert env_from(args) == {"IM_MANAGEMENT_URL": "{management_url}", "A": "b=c"}


@pytest.mark.parametrize("item", ["NOVALUE", "=value"])
def test_env_option_needs_name_and_value(item: str) -> None:
    args = build_parser().parse_args(["--app-dir", "x", "--env", item])
    with pytest.raises(ValueError, match="NAME=VALUE"):
        env_from(args)


def test_route_response_option_is_repeatable() -> None:
    args = build_parser().parse_args(
        ["--app-dir", "x", "--route-response", "$default", "--route-response", "sendmessage"]
    )
    assert args.route_response == ["$default", "sendmessage"]
    assert build_parser().parse_args(["--app-dir", "x"]).route_response == []


def test_runtime_options() -> None:
    args = build_parser().parse_args(
        ["--app-dir", "x", "--runtime", "threads", "--max-concurrency", "3",
         "--worker-idle-timeout", "30", "--prewarm", "2"]
    )  # fmt: skip
    assert args.runtime == "threads"
    assert workers_from(args) == WorkerSettings(max_per_function=3, idle_timeout=30, prewarm=2)
