"""The worker protocol's framing, the REPORT line, and worker settings."""

from __future__ import annotations

import asyncio
import socket

import pytest

from infra.localgw.process_invoker import describe_error, report_line
from infra.localgw.settings import WorkerSettings
from infra.localgw.wire import BlockingChannel, WireError, decode, encode, read_message


def test_a_message_round_trips_through_a_stream() -> None:
    async def scenario() -> dict[str, object]:
        reader = asyncio.StreamReader()
        reader.feed_data(encode({"kind": "websocket", "event": {"body": "é"}}))
        return await read_message(reader)

    assert asyncio.run(scenario()) == {"kind": "websocket", "event": {"body": "é"}}


def test_the_blocking_end_reads_what_the_other_writes_and_sees_the_close() -> None:
    left, right = socket.socketpair()
    with left, right:
        channel = BlockingChannel(right)
        left.sendall(encode({"n": 1}) + encode({"n": 2}))
        left.shutdown(socket.SHUT_WR)
        assert [channel.receive(), channel.receive(), channel.receive()] == [
            {"n": 1},
            {"n": 2},
            None,
        ]


def test_what_is_not_json_is_refused() -> None:
    with pytest.raises(TypeError):
        encode({"result": object()})
    with pytest.raises(WireError):
        decode(b"[1, 2]")


def test_report_line_is_lambdas() -> None:
    assert report_line("r-1", 12.341, 512, 70, None) == (
        "REPORT RequestId: r-1\tDuration: 12.34 ms\tBilled Duration: 13 ms\t"
        "Memory Size: 512 MB\tMax Memory Used: 70 MB"
    )
    assert report_line("r-2", 0.2, 128, 40, 250.5).endswith("\tInit Duration: 250.50 ms")
    assert "Billed Duration: 1 ms" in report_line("r-3", 0.2, 128, 40, None)


def test_a_workers_error_keeps_its_traceback() -> None:
    error = {"type": "KeyError", "message": "'x'", "traceback": "Traceback ...\nKeyError: 'x'"}
    assert describe_error(error).startswith("KeyError: 'x'\n--- in the container:\nTraceback")


@pytest.mark.parametrize(
    "kwargs",
    [{"max_per_function": 0}, {"idle_timeout": 0}, {"prewarm": -1}, {"prewarm": 9}],
)
def test_invalid_worker_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        WorkerSettings(**kwargs)  # type: ignore[arg-type]
