"""Per-invocation environment variables that are safe with concurrent handlers.

On AWS every Chalice function runs in its own container with its own
`environment_variables` (stage-wide merged with per-function ones). Chalice's test
client emulates that by swapping `os.environ` around each call, which is not safe when
handlers run in parallel threads: one thread's restore undoes another's patch. Here
`os.environ` is replaced once per process by a mapping that reads a thread-local
overlay first and the real process environment second; each invocation sets its
overlay for its own thread only. Writes go to the overlay when the name is in it (they
stay local to that invocation, as on Lambda) and to the real environment otherwise.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager


class ScopedEnviron(MutableMapping[str, str]):
    def __init__(self, base: MutableMapping[str, str]) -> None:
        self._base = base
        self._local = threading.local()

    def _overlay(self) -> dict[str, str] | None:
        overlay: dict[str, str] | None = getattr(self._local, "overlay", None)
        return overlay

    @contextmanager
    def scoped(self, values: Mapping[str, str]) -> Iterator[None]:
        """Make `values` visible (over the process environment) in this thread only."""
        previous = self._overlay()
        merged = dict(previous or {})
        merged.update(values)
        self._local.overlay = merged
        try:
            yield
        finally:
            self._local.overlay = previous

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            return overlay[key]
        return self._base[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            overlay[key] = value
        else:
            self._base[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            del overlay[key]
        else:
            del self._base[key]

    def __iter__(self) -> Iterator[str]:
        overlay = self._overlay() or {}
        yield from overlay
        yield from (key for key in self._base if key not in overlay)

    def __len__(self) -> int:
        overlay = self._overlay() or {}
        return len(overlay) + sum(1 for key in self._base if key not in overlay)

    def copy(self) -> dict[str, str]:
        # os.environ.copy() returns a plain dict; code that snapshots the environment
        # (subprocess helpers, Chalice's test client) expects that.
        return dict(self)


_install_lock = threading.Lock()


def install_scoped_environ() -> ScopedEnviron:
    """Replace `os.environ` once per process; later calls return the same object."""
    with _install_lock:
        current = os.environ
        if isinstance(current, ScopedEnviron):
            return current
        scoped = ScopedEnviron(current)
        # os.getenv and friends read the module global, so this is seen everywhere.
        os.environ = scoped  # type: ignore[assignment]  # noqa: B003 -- replacing, not clearing
        return scoped
