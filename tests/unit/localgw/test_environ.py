"""Per-thread environment overlays (never installed over os.environ here)."""

from __future__ import annotations

import threading

from infra.localgw.environ import ScopedEnviron


def test_overlay_is_visible_only_inside_its_scope() -> None:
    environ = ScopedEnviron({"BASE": "1", "SHARED": "base"})
    with environ.scoped({"SHARED": "overlay", "EXTRA": "x"}):
        assert environ["SHARED"] == "overlay"
        assert environ.get("EXTRA") == "x"
        assert environ["BASE"] == "1"
        assert dict(environ) == {"SHARED": "overlay", "EXTRA": "x", "BASE": "1"}
        assert len(environ) == 3
    assert environ["SHARED"] == "base"
    assert "EXTRA" not in environ


def test_nested_scopes_merge_and_unwind() -> None:
    environ = ScopedEnviron({})
    with environ.scoped({"A": "1"}):
        with environ.scoped({"B": "2"}):
            assert environ.copy() == {"A": "1", "B": "2"}
        assert environ.copy() == {"A": "1"}


def test_writes_to_an_overlaid_name_stay_in_the_invocation() -> None:
    base = {"A": "base"}
    environ = ScopedEnviron(base)
    with environ.scoped({"A": "overlay"}):
        environ["A"] = "changed"
        environ["NEW"] = "written"
        assert environ["A"] == "changed"
        del environ["A"]
        assert environ["A"] == "base"
    assert base == {"A": "base", "NEW": "written"}


def test_concurrent_threads_see_only_their_own_overlay() -> None:
    environ = ScopedEnviron({})
    barrier = threading.Barrier(8)
    seen: dict[int, list[str | None]] = {}

    def invocation(n: int) -> None:
        with environ.scoped({"FUNCTION": f"f{n}"}):
            barrier.wait()  # every thread is inside its scope at once
            seen[n] = [environ.get("FUNCTION") for _ in range(100)]
            barrier.wait()

    threads = [threading.Thread(target=invocation, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {n: [f"f{n}"] * 100 for n in range(8)}
    assert "FUNCTION" not in environ
