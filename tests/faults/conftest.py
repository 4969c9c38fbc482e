"""The fault tier: every test gets a stack whose servers are its own (tests/faults/
stack.py) -- never the session's shared ones -- so it can kill, pause and restart them.
Whatever a test starts is stopped afterwards, also when it fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.stack import FaultStack, fault_stack


@pytest.fixture
def faults(tmp_path: Path) -> Iterator[FaultStack]:
    """Redis without persistence: a restart brings it back empty."""
    with fault_stack(tmp_path) as stack:
        yield stack


@pytest.fixture
def durable_faults(tmp_path: Path) -> Iterator[FaultStack]:
    """Redis with its append-only file, as `make dev` runs it."""
    with fault_stack(tmp_path, redis_persist=True) as stack:
        yield stack
