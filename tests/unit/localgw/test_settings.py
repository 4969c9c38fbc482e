"""Limits validation, URLs, and the new-connection throttle on an injected clock."""

from __future__ import annotations

import pytest

from infra.localgw.settings import ConnectionThrottle, GatewayUrls, Limits


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_defaults_are_the_api_gateway_quotas() -> None:
    limits = Limits()
    assert limits.max_message_bytes == 128 * 1024
    assert limits.max_frame_bytes == 32 * 1024
    assert limits.idle_timeout == 600
    assert limits.max_connection_duration == 7200
    assert limits.integration_timeout == 29
    assert limits.new_connections_per_second is None
    assert limits.max_header_bytes == 10 * 1024
    assert limits.max_rest_body_bytes == 10 * 1024 * 1024
    assert limits.max_websocket_url_bytes == 4096


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_message_bytes": 0},
        {"idle_timeout": -1},
        {"integration_timeout": 0},
        {"max_frame_bytes": 200 * 1024},
        {"new_connections_per_second": 0},
        {"send_buffer_bytes": 0},
        {"max_header_bytes": 0},
        {"max_rest_body_bytes": -1},
        {"max_websocket_url_bytes": 0},
    ],
)
def test_invalid_limits_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must be positive|cannot exceed"):
        Limits(**kwargs)  # type: ignore[arg-type]


def test_urls_for_loopback_and_wildcards() -> None:
    urls = GatewayUrls.build("127.0.0.1", 8080, "api")
    assert urls.ws_url == "ws://127.0.0.1:8080/api"
    assert urls.rest_url == "http://127.0.0.1:8080/api"
    assert urls.management_url == "http://127.0.0.1:8080/api"
    assert urls.admin_url == "http://127.0.0.1:8080/_localgw"
    assert urls.domain_name == "127.0.0.1:8080"
    assert GatewayUrls.build("0.0.0.0", 1, "v1").ws_url == "ws://127.0.0.1:1/v1"
    assert GatewayUrls.build("::", 1, "v1").ws_url == "ws://[::1]:1/v1"
    assert GatewayUrls.build("::1", 1, "v1").domain_name == "[::1]:1"


def test_throttle_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    throttle = ConnectionThrottle(2.0, clock=clock)
    assert [throttle.try_acquire() for _ in range(3)] == [True, True, False]
    clock.now += 0.5
    assert throttle.try_acquire() is True
    assert throttle.try_acquire() is False
    clock.now += 10
    assert [throttle.try_acquire() for _ in range(3)] == [True, True, False]


def test_throttle_below_one_per_second_still_allows_one() -> None:
    clock = FakeClock()
    throttle = ConnectionThrottle(0.5, clock=clock)
    assert throttle.try_acquire() is True
    assert throttle.try_acquire() is False
    clock.now += 2
    assert throttle.try_acquire() is True


def test_expand_fills_bound_urls_and_leaves_other_braces() -> None:
    urls = GatewayUrls.build("127.0.0.1", 9000, "api")
    assert urls.expand("{management_url}") == "http://127.0.0.1:9000/api"
    assert (
        urls.expand('{"ws": "{ws_url}", "x": {}}') == '{"ws": "ws://127.0.0.1:9000/api", "x": {}}'
    )
