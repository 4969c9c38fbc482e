"""The in-memory chat store passes the store contract."""

from __future__ import annotations

import pytest

from tests.clocks import ManualTime
from tests.contracts.store_contract import ChatStoreContract
from tests.fakes.store import FakeChatStore


@pytest.fixture
def clock() -> ManualTime:
    return ManualTime(step_ms=1)


@pytest.fixture
def store(clock: ManualTime) -> FakeChatStore:
    return FakeChatStore(clock)


class TestFakeChatStore(ChatStoreContract):
    pass
