"""The bounded daemon thread pool handlers run in."""

from __future__ import annotations

import threading

import pytest

from infra.localgw.executor import DaemonThreadPool


def test_runs_work_and_propagates_results_and_errors() -> None:
    pool = DaemonThreadPool(2)
    try:
        assert pool.submit(lambda x: x * 2, 21).result(timeout=5) == 42
        failing = pool.submit(lambda: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            failing.result(timeout=5)
    finally:
        pool.shutdown()


def test_never_runs_more_than_max_workers_at_once() -> None:
    pool = DaemonThreadPool(3)
    release = threading.Event()
    lock = threading.Lock()
    running = [0]
    peak = [0]

    def work() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(5)
        with lock:
            running[0] -= 1

    futures = [pool.submit(work) for _ in range(10)]
    release.set()
    for future in futures:
        future.result(timeout=5)
    pool.shutdown()
    assert peak[0] == 3


def test_workers_are_daemons_and_shutdown_does_not_wait_for_a_hung_call() -> None:
    pool = DaemonThreadPool(1, thread_name_prefix="test-daemons")
    hang = threading.Event()
    started = threading.Event()

    def hung() -> None:
        started.set()
        hang.wait(30)

    pool.submit(hung)
    queued = pool.submit(lambda: None)
    assert started.wait(5)
    assert all(t.daemon for t in threading.enumerate() if t.name.startswith("test-daemons"))
    pool.shutdown(wait=False, cancel_futures=True)
    assert queued.cancelled()
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)
    hang.set()


def test_idle_workers_are_reused() -> None:
    pool = DaemonThreadPool(8, thread_name_prefix="test-reuse")
    try:
        for _ in range(20):
            pool.submit(lambda: None).result(timeout=5)
        names = {t.name for t in threading.enumerate() if t.name.startswith("test-reuse")}
        assert len(names) <= 2
    finally:
        pool.shutdown()
