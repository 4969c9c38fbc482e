"""`make dev` and `make token` as a user runs them: services started and stopped,
endpoints file, messages kept across a restart, store failures never acknowledged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest

from infra.dev.web import page_url
from infra.services import free_port
from tests.e2e.conftest import ROOT, running_stack
from tests.e2e.support import Stack, new_user

pytestmark = pytest.mark.slow


def _descendants(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        child, parent = (int(x) for x in line.split())
        children.setdefault(parent, []).append(child)
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"  # a zombie has already exited
    except FileNotFoundError:
        return False


def _own_services_env() -> dict[str, str]:
    """The environment without MONGODB_URI/REDIS_URL: make dev starts its own servers."""
    return {k: "" for k in ("MONGODB_URI", "REDIS_URL", "IM_JWT_SECRET")}


def test_make_dev_starts_stops_cleanly_and_keeps_messages(tmp_path: Path) -> None:
    if os.environ.get("MONGODB_URI") or os.environ.get("REDIS_URL"):
        pytest.skip("checks the servers make dev starts itself")
    data_dir = tmp_path / "data"
    a, b = new_user(), new_user()

    with running_stack(data_dir, _own_services_env()) as stack:
        process = stack.extra["process"]
        info = json.loads((data_dir / "local-endpoints.json").read_text())
        assert set(info) >= {"ws_url", "rest_url", "management_url", "pid"}
        assert info["pid"] == process.pid
        servers = _descendants(process.pid)
        assert len(servers) >= 2  # a MongoDB-compatible server and redis-server
        with stack.chat(a) as chat_a:
            sent = chat_a.send(b, "kept across restarts")["message_id"]

        os.kill(process.pid, signal.SIGINT)  # what Ctrl-C sends
        process.popen.wait(30)
        assert process.popen.returncode == 0
        assert not [pid for pid in servers if _alive(pid)]
        assert not (data_dir / "local-endpoints.json").exists()

    with running_stack(data_dir, _own_services_env()) as again:
        assert [m["id"] for m in again.all_unread(b)] == [sent]


def test_second_make_dev_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    if os.environ.get("MONGODB_URI") or os.environ.get("REDIS_URL"):
        pytest.skip("checks the servers make dev starts itself")
    data_dir = tmp_path / "data"
    with running_stack(data_dir, _own_services_env()):
        second = subprocess.run(
            [sys.executable, "-m", "infra.dev", "--data-dir", str(data_dir), "--port", "0"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert "already using" in second.stderr


def test_store_failure_is_an_error_never_an_ack(tmp_path: Path, redis_service: object) -> None:
    closed = f"mongodb://127.0.0.1:{free_port()}/"  # nothing listens there
    env = {"MONGODB_URI": closed, "REDIS_URL": redis_service.url}  # type: ignore[attr-defined]
    with running_stack(tmp_path / "data", env) as stack:
        a, b = new_user(), new_user()
        with stack.chat(a) as chat:  # $connect needs only Redis
            reply = chat.send(b, "must not be acknowledged", ack_id="u-1", timeout=30)
            assert reply["type"] == "error"
            assert reply["code"] == "unavailable" and reply["ack_id"] == "u-1"
            assert chat.pending(0) == []
            chat.ping()
        response = stack.post("/api/v1/messages/unread", {}, stack.token(b))
        assert response.status_code == 503
        assert response.json() == {"error": "message store unavailable"}


def test_make_token_prints_only_a_jwt_for_that_user(tmp_path: Path) -> None:
    out = subprocess.run(
        ["make", "-s", "token", "USER=42", f"DATA_DIR={tmp_path}", "TTL=120"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    token = out.stdout.strip()
    assert out.stdout == token + "\n"
    secret = (tmp_path / "jwt-secret").read_text().strip()
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert claims["sub"] == "42"
    assert 100 <= claims["exp"] - time.time() <= 121
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "path",
    ["/web/%2e%2e/%2e%2e/etc/passwd", "/web/index.html%00.js", "/web/%ff", "/web/nope.js"],
)
def test_the_dev_server_answers_404_to_paths_outside_the_page(
    local_stack: Stack, path: str
) -> None:
    page = page_url(local_stack.rest_url)
    origin = page.removesuffix("/web/index.html")

    response = local_stack.http.get(origin + path, timeout=10)

    assert response.status_code == 404, response.text
    assert "root:" not in response.text
