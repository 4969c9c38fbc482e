"""A local stack whose servers are its own, so they can be killed, paused and restarted.

`fault_stack(root)` starts a FerretDB (or mongod) behind its wire lock, a redis-server
and `make dev`'s gateway (python -m infra.dev) pointed at them, each with its data under
`root`. `FaultStack` then breaks them the way production breaks: SIGKILL, SIGSTOP /
SIGCONT, and a restart on the same data directory and port. Everything it started is
stopped when the block ends, also when it fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import redis

from chalicelib.presence import Presence
from infra.services import Service, start_mongo, start_redis
from infra.services.process import ManagedProcess
from tests.e2e.conftest import running_stack
from tests.e2e.support import Stack


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


def _processes(service: Service) -> list[ManagedProcess]:
    """The processes behind a service, the one clients talk to first (for MongoDB on
    FerretDB: the wire lock, then FerretDB)."""
    own = [service.process] if service.process is not None else []
    companions = [c.process for c in service.companions if c.process is not None]
    return [*companions, *own] if service.name == "mongodb" else [*own, *companions]


def _signal(process: ManagedProcess, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _kill(service: Service) -> None:
    """SIGKILL: no shutdown, no flush -- a crash, as far as the server can tell."""
    for process in _processes(service):
        _signal(process, signal.SIGKILL)
    for process in _processes(service):
        process.popen.wait(10)
    service.stop()  # nothing left to stop; forgets the processes


class FaultStack:
    def __init__(self, root: Path, redis_persist: bool = False) -> None:
        self.root = root
        self.redis_persist = redis_persist
        self.database = f"faults_{uuid.uuid4().hex[:8]}"
        self._mongo: Service | None = None
        self._redis: Service | None = None
        self._gateway: ExitStack | None = None
        self._stack: Stack | None = None
        self._paused = False
        self._mongo_port: int | None = None  # kept for restarts: clients keep their URL
        self._redis_port: int | None = None

    # --- the parts --------------------------------------------------------------------

    @property
    def stack(self) -> Stack:
        assert self._stack is not None, "the gateway is not running"
        return self._stack

    @property
    def mongo(self) -> Service:
        assert self._mongo is not None, "MongoDB is not running"
        return self._mongo

    @property
    def redis(self) -> Service:
        assert self._redis is not None, "Redis is not running"
        return self._redis

    def connections_of(self, user: int) -> list[str]:
        """The connections presence holds for `user`, as the app would read them."""
        client = redis.Redis.from_url(self.redis.url, decode_responses=True)
        try:
            return sorted(Presence(client).connections_of(user))
        finally:
            client.close()

    def start(self) -> None:
        self.start_mongo()
        self.start_redis()
        self.start_gateway()

    def start_mongo(self) -> None:
        """Start (or restart on the same data and port) the MongoDB-compatible server."""
        assert self._mongo is None
        self._mongo = start_mongo(self.root / "mongo", port=self._mongo_port, use_env=False)
        self._mongo_port = _port(self._mongo.url)

    def start_redis(self) -> None:
        """Start (or restart on the same port) redis-server; without persistence it
        comes back empty."""
        assert self._redis is None
        self._redis = start_redis(
            self.root / "redis", port=self._redis_port, persist=self.redis_persist, use_env=False
        )
        self._redis_port = _port(self._redis.url)

    def start_gateway(self) -> None:
        """`make dev` on the same data directory (secret, endpoints) and our servers."""
        assert self._gateway is None
        env = {
            "MONGODB_URI": self.mongo.url,
            "MONGODB_DATABASE": self.database,
            "REDIS_URL": self.redis.url,
            "IM_SEND_RATE_LIMIT": "100000/1",
        }
        gateway = ExitStack()
        try:
            self._stack = gateway.enter_context(running_stack(self.root / "stack", env))
        except BaseException:
            gateway.close()
            raise
        self._stack.extra["redis_url"] = self.redis.url
        self._gateway = gateway

    # --- faults -----------------------------------------------------------------------

    def kill_redis(self) -> None:
        _kill(self.redis)
        self._redis = None

    def kill_mongo(self) -> None:
        _kill(self.mongo)
        self._mongo = None

    def pause_mongo(self) -> None:
        """SIGSTOP what the app talks to and the server behind it: connections stay
        open, requests are read by nobody, nothing is answered."""
        for process in _processes(self.mongo):
            _signal(process, signal.SIGSTOP)
        self._paused = True

    def resume_mongo(self) -> None:
        for process in reversed(_processes(self.mongo)):
            _signal(process, signal.SIGCONT)
        self._paused = False

    def kill_gateway(self) -> None:
        """SIGKILL the gateway (its handler processes die with it: PDEATHSIG)."""
        process: ManagedProcess = self.stack.extra["process"]
        _signal(process, signal.SIGKILL)
        process.popen.wait(10)
        self.stop_gateway()

    def kill_all(self) -> None:
        """The machine's power cord: every process, at once, no shutdown."""
        self.kill_gateway()
        self.kill_mongo()
        self.kill_redis()

    # --- cleanup ----------------------------------------------------------------------

    def stop_gateway(self) -> None:
        gateway, self._gateway, self._stack = self._gateway, None, None
        if gateway is not None:
            gateway.close()

    def close(self) -> None:
        if self._paused and self._mongo is not None:
            self.resume_mongo()  # a stopped process would not see SIGTERM
        try:
            self.stop_gateway()
        finally:
            for service in (self._mongo, self._redis):
                if service is not None:
                    service.stop()
            self._mongo = self._redis = None


@contextmanager
def fault_stack(root: Path, redis_persist: bool = False) -> Iterator[FaultStack]:
    faults = FaultStack(root, redis_persist=redis_persist)
    try:
        faults.start()
        yield faults
    finally:
        faults.close()
