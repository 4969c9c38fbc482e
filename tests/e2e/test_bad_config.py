"""An unsafe setting is refused loudly: `make dev` will not start with it, and the app
on the gateway (as on Lambda, where nothing runs before the first invocation) answers
every request with a bare 500 while its log says which setting breaks which rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from infra.services.process import ManagedProcess
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.slow

SHORT_SECRET = "tiny-secret-0123"  # 16 bytes: HS256 needs 32


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("IM_SEND_RATE_LIMIT", "100/0"),
        ("IM_JWT_SECRET", SHORT_SECRET),
        ("IM_JWT_LEEWAY_SECONDS", "999999999"),
    ],
)
def test_make_dev_refuses_to_start(tmp_path: Path, setting: str, value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "infra.dev", "--port", "0", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, setting: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "configuration error" in done.stderr and setting in done.stderr
    assert SHORT_SECRET not in done.stderr + done.stdout
    assert not (tmp_path / "mongo").exists()  # nothing was started


@pytest.fixture
def misconfigured(tmp_path: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    """The app on the gateway CLI with IM_SEND_RATE_LIMIT=-5/10, bypassing make dev."""
    log = tmp_path / "gateway.log"
    process = ManagedProcess(
        "localgw",
        [
            sys.executable,
            "-m",
            "infra.localgw",
            "--app-dir",
            str(ROOT),
            "--port",
            "0",
            "--env",
            "IM_SEND_RATE_LIMIT=-5/10",
        ],
        log,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            ready = [line for line in log.read_text().splitlines() if '"event": "ready"' in line]
            if ready:
                break
            assert process.alive() and time.monotonic() < deadline, process.log_tail()
            time.sleep(0.05)
        yield json.loads(ready[0]), log
    finally:
        process.stop()


def test_a_misconfigured_app_answers_500_and_logs_why(
    misconfigured: tuple[dict[str, Any], Path],
) -> None:
    urls, log = misconfigured
    response = httpx.post(f"{urls['rest_url']}/api/v1/messages/unread", json={}, timeout=10)
    assert (response.status_code, response.json()) == (500, {"error": "internal error"})
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{urls['ws_url']}?token=x", open_timeout=10)
    assert refused.value.response.status_code == 500
    lines = log.read_text().splitlines()
    errors = [json.loads(line) for line in lines if line.startswith("{") and "configur" in line]
    assert any(
        e.get("message") == "configuration error" and "IM_SEND_RATE_LIMIT" in e.get("error", "")
        for e in errors
    ), log.read_text()
