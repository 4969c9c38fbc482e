"""One Lambda container: a process serving one Chalice function, one invocation at a time.

Started by the gateway (containers.py) with a fresh interpreter -- never a fork of a
process that imported the app -- and the function's environment already in
`os.environ`. It imports the app as Lambda's runtime does (module `app`, the project
directory first on `sys.path`), points `app.websocket_api` at the gateway, says
"ready" on its socket and then answers one request after another until the gateway
closes the socket. Module state lives as long as the process, as in a warm container.

It dies with the gateway thread that started it (PR_SET_PDEATHSIG), so a gateway killed
by SIGKILL leaves nothing behind; the gateway kills it on stop and after a timeout.
"""

from __future__ import annotations

import base64
import ctypes
import io
import json
import os
import resource
import signal
import socket
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from infra.localgw.loader import load_app, point_websocket_api
from infra.localgw.runtime import ChaliceRuntime
from infra.localgw.wire import BlockingChannel, Message

_PR_SET_PDEATHSIG = 1
# Lambda's name for a result its runtime cannot serialise.
MARSHAL_ERROR = "Runtime.MarshalError"


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a container needs besides its environment (passed as JSON in argv)."""

    app_dir: str
    chalice_stage: str
    function_name: str
    management_url: str
    region: str
    parent_pid: int
    fd: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        return cls(**json.loads(text))


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when the thread that started it ends, however it ends."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: the gateway's stop() still kills us
        return
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    # The gateway may have died before prctl took effect: then nobody would kill us.
    if os.getppid() != parent_pid:
        os._exit(1)


def error_of(exc: BaseException) -> dict[str, str]:
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


def max_memory_used_mb() -> int:
    """Peak RSS of this container so far, what Lambda reports as Max Memory Used."""
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return -(-peak_kib // 1024)


class Container:
    def __init__(self, spec: WorkerSpec) -> None:
        self._loaded = load_app(Path(spec.app_dir), spec.chalice_stage, None, keep_module=True)
        # No client yet: Chalice builds it on first use, as it would on Lambda.
        point_websocket_api(self._loaded.app, spec.management_url, spec.region)
        self._runtime = ChaliceRuntime(self._loaded, spec.chalice_stage, None, {})
        self.memory_size = self._runtime.memory_size(spec.function_name)

    def invoke(self, request: Message) -> Message:
        started = time.perf_counter()
        self._runtime.forget_latest()
        response: Message
        try:
            response = {"ok": True, **self._call(request)}
        except Exception as exc:
            response = {"ok": False, "error": error_of(exc)}
        response["duration_ms"] = (time.perf_counter() - started) * 1000
        response["request_id"] = self._runtime.latest_request_id
        response["max_memory_used_mb"] = max_memory_used_mb()
        return response

    def _call(self, request: Message) -> Message:
        if request["kind"] == "websocket":
            result = self._runtime.invoke_websocket(request["route_key"], request["event"])
            return {"result": result}
        body = request["body"]
        answer = self._runtime.serve_rest(
            request["method"],
            request["path"],
            request["headers"],
            None if body is None else base64.b64decode(body),
        )
        return {
            "answer": {
                "status": answer.status,
                "headers": [list(pair) for pair in answer.headers],
                "body": base64.b64encode(answer.body).decode("ascii"),
            }
        }


def send_response(channel: BlockingChannel, response: Mapping[str, Any]) -> None:
    try:
        channel.send(response)
    except (TypeError, ValueError) as exc:
        # A result that is not JSON: Lambda fails the invocation the same way.
        failed = {**response, "ok": False, "result": None}
        failed["error"] = {"type": MARSHAL_ERROR, "message": f"Unable to marshal response: {exc}"}
        channel.send(failed)


def main(argv: list[str]) -> int:
    spec = WorkerSpec.from_json(argv[0])
    die_with_parent(spec.parent_pid)
    # Handler prints reach the gateway's stdout whole, not interleaved with other
    # containers' mid-line (a block-buffered stdout flushes at arbitrary points).
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    channel = BlockingChannel(socket.socket(fileno=spec.fd))
    try:
        container = Container(spec)
    except BaseException as exc:
        channel.send({"type": "init_error", "error": error_of(exc)})
        return 1
    channel.send({"type": "ready", "pid": os.getpid(), "memory_size": container.memory_size})
    while (request := channel.receive()) is not None:
        send_response(channel, container.invoke(request))
    return 0
