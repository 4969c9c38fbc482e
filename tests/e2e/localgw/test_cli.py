"""`python -m infra.localgw` as `make dev` and fixtures run it: a subprocess, a ready line,
a ready file, and a clean exit on SIGTERM / SIGINT."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.localgw.helpers import (
    EXAMPLE_APP,
    management_client,
    pid_alive,
    wait_for,
    whoami,
    ws_connect,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def run_cli(tmp_path: Path) -> Iterator[Any]:
    """Start the CLI; every process started is killed at teardown, also on failure."""
    processes: list[subprocess.Popen[str]] = []

    def run(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.localgw", *args],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        return process

    try:
        yield run
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=10)


def _ready_line(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, "the gateway exited before it was ready"
    document: dict[str, Any] = json.loads(line)
    return document


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_signalled(run_cli: Any, tmp_path: Path, stop_signal: int) -> None:
    # Given the gateway started on a free port with a ready file
    ready_file = tmp_path / "ready.json"
    process = run_cli(
        "--app-dir", str(EXAMPLE_APP), "--port", "0", "--ready-file", str(ready_file),
        "--env", "APP_WS_URL={ws_url}",
    )  # fmt: skip
    ready = _ready_line(process)
    # Then the printed line and the file carry the bound URLs and the pid
    assert ready["event"] == "ready"
    assert ready["pid"] == process.pid
    assert json.loads(ready_file.read_text()) == ready
    assert ready["ws_url"].startswith("ws://127.0.0.1:")
    assert not ready["ws_url"].endswith(":0/api")
    # And all three APIs answer on that port
    assert httpx.get(f"{ready['rest_url']}/hello").json()["hello"] == "world"
    with ws_connect(ready["ws_url"] + "?token=do-not-log-me") as ws:
        connection_id = whoami(ws)
        client = management_client(ready["management_url"])
        client.post_to_connection(ConnectionId=connection_id, Data=b"via cli")
        assert ws.recv(timeout=5) == "via cli"
        ws.send(json.dumps({"action": "env", "names": ["APP_WS_URL"]}))
        assert json.loads(ws.recv(timeout=5)) == {"APP_WS_URL": ready["ws_url"]}
    # When signalled, it exits 0 and removes its ready file
    process.send_signal(stop_signal)
    _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0
    assert not ready_file.exists()
    # And its logs never carried the query string or the message body
    assert "do-not-log-me" not in stderr
    assert "via cli" not in stderr
    assert "connected" in stderr


def test_cli_stops_while_a_handler_hangs(run_cli: Any) -> None:
    process = run_cli("--app-dir", str(EXAMPLE_APP), "--port", "0", "--integration-timeout", "60")
    ready = _ready_line(process)
    with ws_connect(ready["ws_url"]) as ws:
        ws.send(json.dumps({"action": "sleep", "seconds": 30}))
        wait_for(lambda: httpx.get(f"{ready['admin_url']}/connections").json()["connections"])
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)
    assert process.returncode == 0


def test_cli_fails_on_a_directory_without_an_app(run_cli: Any, tmp_path: Path) -> None:
    process = run_cli("--app-dir", str(tmp_path), "--port", "0")
    _, stderr = process.communicate(timeout=15)
    assert process.returncode == 1
    assert "app.py" in stderr


def test_cli_rejects_invalid_limits(run_cli: Any) -> None:
    process = run_cli(
        "--app-dir", str(EXAMPLE_APP), "--max-frame-bytes", "999999", "--max-message-bytes", "10"
    )
    _, stderr = process.communicate(timeout=15)
    assert process.returncode == 2
    assert "max_frame_bytes cannot exceed max_message_bytes" in stderr


def test_cli_refuses_a_route_response_on_connect(run_cli: Any) -> None:
    process = run_cli("--app-dir", str(EXAMPLE_APP), "--route-response", "$connect")
    _, stderr = process.communicate(timeout=15)
    assert process.returncode == 2
    assert "only message routes" in stderr


def _container_pids(admin_url: str) -> list[int]:
    functions = httpx.get(f"{admin_url}/workers").json()["functions"]
    return [pid for f in functions.values() for state in ("idle", "busy") for pid in f[state]]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_no_container_outlives_the_gateway(run_cli: Any, stop_signal: int) -> None:
    # Given the CLI's default runtime with containers pre-warmed and one busy
    process = run_cli("--app-dir", str(EXAMPLE_APP), "--port", "0", "--prewarm", "1")
    ready = _ready_line(process)
    with ws_connect(ready["ws_url"]) as ws:
        ws.send(json.dumps({"action": "hold", "seconds": 30}))
        assert "holding" in json.loads(ws.recv(timeout=10))
        pids = _container_pids(ready["admin_url"])
        assert len(pids) >= 4
        assert all(pid_alive(pid) for pid in pids)
        # When the gateway is stopped, or killed outright (SIGKILL: no cleanup code
        # runs; the kernel's parent-death signal ends the containers)
        process.send_signal(stop_signal)
        process.communicate(timeout=15)
    # Then none of its containers is left
    wait_for(lambda: not any(pid_alive(pid) for pid in pids), what="the containers to end")


def test_cli_threads_runtime_serves_in_process(run_cli: Any) -> None:
    process = run_cli("--app-dir", str(EXAMPLE_APP), "--port", "0", "--runtime", "threads")
    ready = _ready_line(process)
    assert httpx.get(f"{ready['admin_url']}/workers").json()["runtime"] == "threads"
    with ws_connect(ready["ws_url"]) as ws:
        ws.send(json.dumps({"action": "count"}))
        assert json.loads(ws.recv(timeout=5))["pid"] == process.pid
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=15)
    assert process.returncode == 0
