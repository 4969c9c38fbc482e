"""The unread query's shape, pinned without a server.

FerretDB's SQLite backend scans for everything but `_id` equality, so it cannot show
that a page costs the same at any collection size; MongoDB can, *if* the query is
equality on the index prefix, range and sort on the index suffix, and a limit -- never
a skip. These tests hold the query to that shape.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bson import ObjectId

from chalicelib.errors import BadRequest
from chalicelib.store import (
    UNREAD_INDEX,
    decode_cursor,
    encode_cursor,
    parse_message_id,
    require_user_id,
    unread_query,
)

INDEX_KEYS = list(UNREAD_INDEX.document["key"].items())


def test_first_page_is_equality_on_index_prefix_sorted_by_index_suffix() -> None:
    q = unread_query(42, 100, None)
    assert q.filter == {"to": 42, "status": 0}
    assert [k for k, _ in INDEX_KEYS[:2]] == list(q.filter)
    assert q.sort == INDEX_KEYS[2:]
    assert q.limit == 101  # one extra to learn whether a next page exists


def test_next_page_is_a_keyset_range_on_the_sort_keys_never_a_skip() -> None:
    ts = datetime(2026, 11, 27, 8, 10, 21, 123000, tzinfo=UTC)
    oid = ObjectId("6745f0c2a1b2c3d4e5f60718")
    q = unread_query(42, 10, encode_cursor(ts, oid))
    assert q.filter == {
        "to": 42,
        "status": 0,
        "$or": [
            {"created_at": {"$gt": ts}},
            {"created_at": ts, "_id": {"$gt": oid}},
        ],
    }
    assert q.sort == [("created_at", 1), ("_id", 1)]
    assert "skip" not in q._fields


def test_index_is_equality_then_sort_keys() -> None:
    assert INDEX_KEYS == [("to", 1), ("status", 1), ("created_at", 1), ("_id", 1)]


@pytest.mark.parametrize(
    "ts",
    [
        datetime(2026, 11, 27, 8, 10, 21, 123000, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 0, 0, 999000, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 0, 0, 1000),  # naive, as a non-tz-aware client returns
    ],
)
def test_cursor_round_trips_to_the_millisecond(ts: datetime) -> None:
    oid = ObjectId()
    got_ts, got_oid = decode_cursor(encode_cursor(ts, oid))
    assert got_oid == oid
    assert got_ts == ts.replace(tzinfo=ts.tzinfo or UTC)


def test_cursor_is_opaque_url_safe_text() -> None:
    c = encode_cursor(datetime.now(UTC), ObjectId())
    assert c.isascii()
    assert not set(c) & set("+/= ")


@pytest.mark.parametrize("bad", ["", "!!!", "QUJD", "A" * 40, "é"])
def test_malformed_cursor_is_a_bad_request(bad: str) -> None:
    with pytest.raises(BadRequest):
        decode_cursor(bad)


@pytest.mark.parametrize("bad", [0, -1, 2**63, True, "1", 1.0, None, {"$ne": None}])
def test_user_ids_must_be_ints_in_range(bad: object) -> None:
    with pytest.raises(BadRequest):
        require_user_id(bad)


def test_user_id_bounds_are_accepted() -> None:
    assert require_user_id(1) == 1
    assert require_user_id(2**63 - 1) == 2**63 - 1


@pytest.mark.parametrize(
    "bad", ["", "g" * 24, "a" * 23, "a" * 25, 5, None, {"$ne": None}, ["a" * 24]]
)
def test_message_ids_must_be_24_hex(bad: object) -> None:
    with pytest.raises(BadRequest):
        parse_message_id(bad)


def test_message_id_accepts_either_case() -> None:
    assert parse_message_id("6745F0C2A1B2C3D4E5F60718") == ObjectId("6745f0c2a1b2c3d4e5f60718")
