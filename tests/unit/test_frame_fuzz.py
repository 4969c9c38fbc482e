"""Fuzzing the `$default` handler with fakes behind it (issue 11): random JSON shapes,
bytes and near-valid frames, in both answer modes (route response, posted). The
strategies, oracle and properties are tests/frame_fuzz.py's; the same run against
MongoDB and Redis is tests/integration/test_frame_fuzz_real.py."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from chalicelib.config import RateLimit
from tests.fakes.presence import FakePresence
from tests.fakes.ratelimit import FakeRateLimiter
from tests.fakes.store import FakeChatStore
from tests.frame_fuzz import Gateway, RawConnections, Snapshot, app_environment, app_services, fuzz

# Reproducible in CI: the same examples every run, no example database.
FUZZ = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _value(value: Any) -> Any:
    # Domain values are frozen dataclasses; the fake's own conversation records are not.
    if hasattr(value, "__dict__") and not hasattr(value, "__dataclass_fields__"):
        return dict(vars(value))
    return value


def fake_snapshot(store: FakeChatStore) -> Snapshot:
    """The fake store's whole state, as values that compare by content."""
    state = {
        name: {k: _value(v) for k, v in table.items()}
        for name, table in vars(store).items()
        if isinstance(table, dict)
    }
    return Snapshot(state.pop("_messages"), state)


@pytest.mark.parametrize("route_response", [True, False], ids=["route-response", "posted"])
def test_no_frame_breaks_the_handler_or_stores_what_it_should_not(
    route_response: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in app_environment(route_response).items():
        monkeypatch.setenv(name, value)
    api = RawConnections()
    with app_services(api) as services:
        store = FakeChatStore()
        # The fakes pass the ports' contract suites (tests/contracts) as the real ones do.
        services.store = store  # type: ignore[assignment]
        services.presence = FakePresence()  # type: ignore[assignment]
        services.rate_limiter = FakeRateLimiter(RateLimit(0, 10))  # type: ignore[assignment]
        fuzz(Gateway(api), services, route_response, lambda: fake_snapshot(store), FUZZ)
