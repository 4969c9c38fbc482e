"""Limits, timeouts and URLs of the local gateway, plus the new-connection throttle.

Defaults are the API Gateway WebSocket quotas (shared/specs/local-gateway.md, "Limits");
every one can be changed so tests can use short timeouts instead of sleeping minutes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

KIB = 1024
MIB = 1024 * KIB

Clock = Callable[[], float]


@dataclass(frozen=True)
class Limits:
    """API Gateway quotas the gateway enforces (sizes in bytes, times in seconds)."""

    max_message_bytes: int = 128 * KIB
    max_frame_bytes: int = 32 * KIB
    idle_timeout: float = 10 * 60.0
    max_connection_duration: float = 2 * 60 * 60.0
    integration_timeout: float = 29.0
    # None: no throttle. AWS allows 500 new connections per second per account.
    new_connections_per_second: float | None = None
    # Frames accepted by PostToConnection but not yet written to the client socket; over
    # it PostToConnection answers 429 LimitExceededException (a client that stopped
    # reading must not grow the gateway's memory without bound).
    send_buffer_bytes: int = 4 * MIB
    # REST quotas ("request line and header values", payload), applied to every HTTP
    # request and to WebSocket upgrades; over them: 431 / 413.
    max_header_bytes: int = 10 * KIB
    max_rest_body_bytes: int = 10 * MIB
    # WebSocket URL length (path and query of the upgrade); over it: 414.
    max_websocket_url_bytes: int = 4096

    def __post_init__(self) -> None:
        sizes = (
            "max_message_bytes",
            "max_frame_bytes",
            "send_buffer_bytes",
            "max_header_bytes",
            "max_rest_body_bytes",
            "max_websocket_url_bytes",
        )
        for name in sizes:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("idle_timeout", "max_connection_duration", "integration_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.max_frame_bytes > self.max_message_bytes:
            raise ValueError("max_frame_bytes cannot exceed max_message_bytes")
        rate = self.new_connections_per_second
        if rate is not None and rate <= 0:
            raise ValueError("new_connections_per_second must be positive")


def default_max_per_function() -> int:
    """Two containers per CPU, at least four."""
    return max(4, 2 * (os.cpu_count() or 1))


@dataclass(frozen=True)
class WorkerSettings:
    """The containers of the processes runtime, per Lambda function.

    On AWS each function scales to the account's concurrency; locally every container
    is a Python process (tens of MB), hence a cap.
    """

    # Containers per function at most; beyond it invocations wait for a free one
    # (within the integration timeout). More busy processes than the CPUs can run only
    # add contention: 50 users on 2 cores did best at 4 (docs/benchmarks.md).
    max_per_function: int = field(default_factory=default_max_per_function)
    # A container unused this long is retired (Lambda keeps idle ones for minutes).
    idle_timeout: float = 10 * 60.0
    # Containers started per function when the gateway starts, and kept warm.
    prewarm: int = 0

    def __post_init__(self) -> None:
        if self.max_per_function < 1:
            raise ValueError("max_per_function must be at least 1")
        if self.idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive")
        if not 0 <= self.prewarm <= self.max_per_function:
            raise ValueError("prewarm must be between 0 and max_per_function")


@dataclass(frozen=True)
class GatewayUrls:
    """Where a running gateway answers; what `make dev` and test fixtures need."""

    ws_url: str
    rest_url: str
    management_url: str
    admin_url: str

    @classmethod
    def build(cls, host: str, port: int, stage: str) -> GatewayUrls:
        authority = f"{url_host(host)}:{port}"
        return cls(
            ws_url=f"ws://{authority}/{stage}",
            rest_url=f"http://{authority}/{stage}",
            management_url=f"http://{authority}/{stage}",
            admin_url=f"http://{authority}/_localgw",
        )

    @property
    def domain_name(self) -> str:
        """host:port, what API Gateway puts in requestContext.domainName."""
        return self.ws_url.split("/")[2]

    def expand(self, template: str) -> str:
        """Fill `{ws_url}`, `{rest_url}`, `{management_url}`, `{admin_url}` in a value.

        Lets a caller hand the app a URL only known once a port-0 gateway is bound,
        under the app's own variable name (`--env IM_MANAGEMENT_URL={management_url}`).
        Plain replacement, so other braces (JSON values) pass through untouched.
        """
        for name in ("ws_url", "rest_url", "management_url", "admin_url"):
            template = template.replace("{" + name + "}", getattr(self, name))
        return template


def url_host(host: str) -> str:
    """The host to put in URLs: a wildcard bind address is reached through loopback."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


class ConnectionThrottle:
    """Token bucket over new connections (API Gateway's per-account connect rate).

    Thread-safe and clock-injected so the unit tests need no sleeping.
    """

    def __init__(self, rate_per_second: float, clock: Clock = time.monotonic) -> None:
        self._rate = rate_per_second
        # A burst of one second's worth, like API Gateway's token bucket.
        self._capacity = max(1.0, rate_per_second)
        self._tokens = self._capacity
        self._clock = clock
        self._updated = clock()
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
            self._updated = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False
