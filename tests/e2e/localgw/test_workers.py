"""The processes runtime: handlers in worker processes that behave like Lambda containers.

Observed from outside, as a developer would: the pids and the module state a handler
reports (the example app's `count`, `hold`), the admin API's view of the containers,
the REPORT lines in the gateway's log, and /proc.
"""

from __future__ import annotations

import json
import logging
import os
import re
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.localgw import Limits, LocalGateway, WorkerSettings
from tests.e2e.localgw.helpers import pid_alive, recv_json, wait_for, whoami, ws_connect

Start = Callable[..., LocalGateway]


def _count(ws: Any) -> dict[str, int]:
    ws.send(json.dumps({"action": "count"}))
    reply: dict[str, int] = recv_json(ws)
    return reply


def _hold(ws: Any, seconds: float) -> int:
    """Make the connection's next container busy for `seconds`; its pid, once busy."""
    ws.send(json.dumps({"action": "hold", "seconds": seconds}))
    pid: int = recv_json(ws)["holding"]
    return pid


def _pids(gateway: LocalGateway, function: str, state: str = "idle") -> list[int]:
    pids: list[int] = gateway.workers()["functions"][function][state]
    return pids


def test_each_function_has_its_own_containers_with_their_own_module_state(
    start_processes_gateway: Start,
) -> None:
    gw = start_processes_gateway()
    with ws_connect(gw.urls.ws_url) as ws:
        # When one connection sends twice, one warm container serves both
        first, second = _count(ws), _count(ws)
        assert first["pid"] == second["pid"] != os.getpid()
        assert (first["count"], second["count"]) == (1, 2)
        # Then the REST function runs elsewhere, with a module state of its own
        rest = httpx.get(f"{gw.urls.rest_url}/count").json()
        assert rest == {"pid": rest["pid"], "count": 1}
        assert rest["pid"] != first["pid"]
        # And so does $connect
        (connect_pid,) = _pids(gw, "websocket_connect")
    assert connect_pid not in (first["pid"], rest["pid"], os.getpid())


def test_a_busy_container_is_not_shared_a_new_one_starts(start_processes_gateway: Start) -> None:
    gw = start_processes_gateway()
    with ws_connect(gw.urls.ws_url) as holder, ws_connect(gw.urls.ws_url) as other:
        holder_pid = _count(holder)["pid"]
        _hold(holder, 1.0)
        # While the first container is busy, a message gets a cold one
        assert _count(other) == {"pid": _count_pid(other, holder_pid), "count": 1}
        assert recv_json(holder)["pid"] == holder_pid


def _count_pid(ws: Any, not_this: int) -> int:
    # The container `_count` just used, asserted different from `not_this`.
    pid = _count(ws)["pid"]
    assert pid != not_this
    return pid


def test_at_the_concurrency_cap_invocations_wait_for_a_container(
    start_processes_gateway: Start,
) -> None:
    gw = start_processes_gateway(workers=WorkerSettings(max_per_function=1))
    with ws_connect(gw.urls.ws_url) as holder, ws_connect(gw.urls.ws_url) as other:
        holder_pid = _count(holder)["pid"]
        _hold(holder, 0.5)
        other.send(json.dumps({"action": "count"}))
        # The second waits for the only container, and is served by it after the hold
        assert recv_json(holder) == {"pid": holder_pid, "count": 2}
        assert recv_json(other) == {"pid": holder_pid, "count": 3}


def test_idle_containers_retire_and_the_next_invocation_is_a_cold_start(
    start_processes_gateway: Start,
) -> None:
    gw = start_processes_gateway(workers=WorkerSettings(idle_timeout=0.3))
    with ws_connect(gw.urls.ws_url) as ws:
        first = _count(ws)
        wait_for(lambda: not pid_alive(first["pid"]), what="the idle container to retire")
        again = _count(ws)
    assert again["pid"] != first["pid"]
    assert again["count"] == 1  # fresh module state


def test_prewarmed_containers_are_ready_before_the_first_request(
    start_processes_gateway: Start, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="infra.localgw"):
        gw = start_processes_gateway(workers=WorkerSettings(prewarm=1))
        functions = gw.workers()["functions"]
        for name in ("api_handler", "websocket_connect", "websocket_message"):
            assert len(functions[name]["idle"]) == 1, name
        caplog.clear()
        with ws_connect(gw.urls.ws_url) as ws:
            assert _count(ws)["pid"] in functions["websocket_message"]["idle"]
    reports = [r.getMessage() for r in caplog.records if r.getMessage().startswith("REPORT")]
    assert reports and not any("Init Duration" in line for line in reports)


REPORT = re.compile(
    r"^REPORT RequestId: [0-9a-f-]{36}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
    r"Memory Size: 128 MB\tMax Memory Used: \d+ MB(\tInit Duration: \d+\.\d\d ms)?$"
)


def test_every_invocation_logs_a_lambda_report_line(
    start_processes_gateway: Start, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="infra.localgw"):
        gw = start_processes_gateway()
        with ws_connect(gw.urls.ws_url) as ws:
            whoami(ws)
            whoami(ws)
        # $connect, two messages, $disconnect (it runs after the client left)
        wait_for(
            lambda: len([r for r in caplog.records if r.getMessage().startswith("REPORT")]) >= 4,
            what="the $disconnect report",
        )
    reports = [r.getMessage() for r in caplog.records if r.getMessage().startswith("REPORT")]
    assert all(REPORT.match(line) for line in reports), reports
    cold = [r for r in caplog.records if r.getMessage() == "cold start"]
    assert {getattr(r, "function", None) for r in cold} == {
        "websocket_connect",
        "websocket_message",
        "websocket_disconnect",
    }
    message_reports = [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("REPORT") and getattr(r, "function", "") == "websocket_message"
    ]
    # Init Duration on the cold start only
    assert ["Init Duration" in line for line in message_reports] == [True, False]


def test_rest_over_the_integration_timeout_is_504_and_its_container_killed(
    start_processes_gateway: Start,
) -> None:
    gw = start_processes_gateway(limits=Limits(integration_timeout=1.0))
    pid = httpx.get(f"{gw.urls.rest_url}/count").json()["pid"]
    response = httpx.get(f"{gw.urls.rest_url}/slow-echo", params={"sleep": "5"}, timeout=10)
    assert response.status_code == 504
    assert response.json() == {"message": "Endpoint request timed out"}
    wait_for(lambda: not pid_alive(pid), what="the stuck container to be killed")
    assert httpx.get(f"{gw.urls.rest_url}/count").json()["pid"] != pid


def test_a_container_that_dies_mid_invocation_is_replaced(start_processes_gateway: Start) -> None:
    gw = start_processes_gateway()
    with ws_connect(gw.urls.ws_url) as ws:
        pid = _count(ws)["pid"]
        ws.send(json.dumps({"action": "exit"}))
        assert recv_json(ws)["message"] == "Internal server error"
        assert _count(ws)["pid"] != pid


def test_a_container_whose_import_fails_fails_the_invocation(
    tmp_path: Path, start_processes_gateway: Start, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an app that imports in the gateway but not with its message function's
    # environment (a variable only that function has)
    (tmp_path / ".chalice").mkdir()
    config = {
        "version": "2.0",
        "app_name": "broken",
        "stages": {
            "dev": {
                "lambda_functions": {
                    "websocket_message": {"environment_variables": {"BREAK_ME": "1"}}
                }
            }
        },
    }
    (tmp_path / ".chalice" / "config.json").write_text(json.dumps(config))
    (tmp_path / "app.py").write_text(
        textwrap.dedent(
            """
            import os
            from chalice import Chalice
            if os.environ.get("BREAK_ME"):
                raise ImportError("no module named 'missing_dependency'")
            app = Chalice(app_name="broken")
            @app.on_ws_message()
            def message(event):
                return None
            """
        )
    )
    gw = start_processes_gateway(tmp_path)
    with caplog.at_level(logging.ERROR, logger="infra.localgw"), ws_connect(gw.urls.ws_url) as ws:
        ws.send("hello")
        assert recv_json(ws)["message"] == "Internal server error"
    assert any("missing_dependency" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_stop_leaves_no_container_behind(start_processes_gateway: Start) -> None:
    gw = start_processes_gateway(workers=WorkerSettings(prewarm=2))
    with ws_connect(gw.urls.ws_url) as ws:
        _hold(ws, 30)
        pids = [
            pid
            for function in gw.workers()["functions"].values()
            for state in ("idle", "busy")
            for pid in function[state]
        ]
        assert len(pids) >= 8
        gw.stop()
    assert not [pid for pid in pids if pid_alive(pid)]


def test_handlers_of_many_connections_run_in_parallel_containers(
    start_processes_gateway: Start,
) -> None:
    gw = start_processes_gateway(workers=WorkerSettings(max_per_function=4))
    connections = [ws_connect(gw.urls.ws_url) for _ in range(4)]
    try:
        barrier = threading.Barrier(4)

        def hold(ws: Any) -> int:
            barrier.wait()
            pid = _hold(ws, 0.3)
            assert recv_json(ws)["pid"] == pid
            return pid

        results: list[int] = []
        threads = [
            threading.Thread(target=lambda ws=ws: results.append(hold(ws))) for ws in connections
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for ws in connections:
            ws.close()
    # Four held at once: four containers
    assert len(set(results)) == 4
