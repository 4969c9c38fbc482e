"""Worker processes as the gateway sees them: start one, call it, kill it.

A container is `python -c <bootstrap>` running worker.py: a fresh interpreter (the app
is imported anew, never inherited from a fork), in its own session and process group
(Ctrl-C on the terminal reaches only the gateway, and killing the group also kills
anything the handler started), with the function's environment, inheriting the
gateway's stdout and stderr (handler output and logs appear with the gateway's, as in
one CloudWatch stream per function). It talks to the gateway over a socketpair
(wire.py). `ProcessTable` remembers every process started so any thread -- the
gateway's stop(), an atexit hook -- can kill them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.localgw.invokers import HandlerError
from infra.localgw.wire import Message, WireError, encode, read_message
from infra.localgw.worker import WorkerSpec

# The directory holding the `infra` package, for the worker's `import infra...`
# wherever the gateway was started from.
_IMPORT_ROOT = str(Path(__file__).resolve().parents[2])
_BOOTSTRAP = (
    f"import sys; sys.path.insert(0, {_IMPORT_ROOT!r}); "
    "from infra.localgw.worker import main; sys.exit(main(sys.argv[1:]))"
)


class ContainerInitError(HandlerError):
    """The container could not start: the app failed to import in it, or it died."""


class ContainerGoneError(HandlerError):
    """The container's process exited during an invocation."""


@dataclass(frozen=True)
class ContainerSpec:
    """One function's containers: what to run and with which environment."""

    app_dir: str
    chalice_stage: str
    function_name: str
    management_url: str
    region: str
    env: Mapping[str, str]


class ProcessTable:
    """Every worker process this gateway started; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processes: set[subprocess.Popen[bytes]] = set()
        self._closed = False

    def spawn(self, argv: list[str], env: Mapping[str, str], fd: int) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._closed:
                raise ContainerInitError("the gateway is stopping")
            process = subprocess.Popen(
                argv,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                pass_fds=(fd,),
                start_new_session=True,
            )
            self._processes.add(process)
        return process

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    def reap(self) -> None:
        """Collect the exit status of processes that ended (no zombies)."""
        with self._lock:
            ended = {p for p in self._processes if p.poll() is not None}
            self._processes -= ended

    def pids(self) -> list[int]:
        with self._lock:
            return sorted(p.pid for p in self._processes if p.poll() is None)

    def kill_all(self, timeout: float = 5.0) -> None:
        """Kill every process, refuse new ones, and wait for them to be gone."""
        with self._lock:
            self._closed = True
            processes = list(self._processes)
            self._processes.clear()
        for process in processes:
            self.kill(process)
        deadline = time.monotonic() + timeout
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, deadline - time.monotonic()))


@dataclass
class Container:
    """One warm container: a ready worker process and its channel."""

    function_name: str
    process: subprocess.Popen[bytes]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    memory_size: int
    # Reported on the container's first invocation only, as Lambda's Init Duration.
    init_ms: float | None
    idle_since: float = 0.0
    invocations: int = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None and not self.reader.at_eof()

    async def invoke(self, request: Message) -> Message:
        """Send one request, wait for its response; ContainerGoneError if the process
        exits meanwhile."""
        self.invocations += 1
        try:
            self.writer.write(encode(request))
            await self.writer.drain()
            return await read_message(self.reader)
        except (asyncio.IncompleteReadError, ConnectionError, WireError) as exc:
            raise ContainerGoneError(
                f"the {self.function_name} container (pid {self.pid}) exited "
                f"mid-invocation: {self._exit_status()}"
            ) from exc

    def take_init_ms(self) -> float | None:
        init_ms, self.init_ms = self.init_ms, None
        return init_ms

    def kill(self) -> None:
        ProcessTable.kill(self.process)
        self.writer.close()

    def _exit_status(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(0.5)
        code = self.process.returncode
        if code is None:
            return "still running"
        return f"killed by signal {-code}" if code < 0 else f"exit status {code}"


async def start_container(spec: ContainerSpec, table: ProcessTable) -> Container:
    """Start a worker and wait until it has imported the app (a cold start)."""
    started = time.perf_counter()
    ours, theirs = socket.socketpair()
    try:
        worker_spec = WorkerSpec(
            app_dir=spec.app_dir,
            chalice_stage=spec.chalice_stage,
            function_name=spec.function_name,
            management_url=spec.management_url,
            region=spec.region,
            parent_pid=os.getpid(),
            fd=theirs.fileno(),
        )
        argv = [sys.executable, "-c", _BOOTSTRAP, worker_spec.to_json()]
        process = table.spawn(argv, spec.env, theirs.fileno())
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    try:
        reader, writer = await asyncio.open_unix_connection(sock=ours)
    except BaseException:
        ours.close()
        table.kill(process)
        raise
    try:
        hello = await read_message(reader)
    except BaseException as exc:
        writer.close()
        table.kill(process)
        if isinstance(exc, asyncio.IncompleteReadError | WireError):
            raise ContainerInitError(
                f"the {spec.function_name} container exited during init"
            ) from exc
        raise
    if hello.get("type") != "ready":
        writer.close()
        table.kill(process)
        raise ContainerInitError(_describe(hello.get("error")))
    return Container(
        function_name=spec.function_name,
        process=process,
        reader=reader,
        writer=writer,
        memory_size=int(hello["memory_size"]),
        init_ms=(time.perf_counter() - started) * 1000,
    )


def _describe(error: Any) -> str:
    if not isinstance(error, dict):
        return "the container failed to start"
    return f"{error.get('type')}: {error.get('message')}\n{error.get('traceback', '')}".rstrip()
