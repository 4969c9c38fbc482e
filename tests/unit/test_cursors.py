"""Page cursors: opaque, URL-safe, exact to the millisecond, and a 400 when forged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bson import ObjectId

from chalicelib.chat.ports import ListCursor, UnreadCursor
from chalicelib.cursors import decode_list, decode_unread, encode_list, encode_unread
from chalicelib.errors import BadRequest


@pytest.mark.parametrize(
    "ts",
    [
        datetime(2026, 11, 27, 8, 10, 21, 123000, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 0, 0, 999000, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 0, 0, 1000),  # naive, as a non-tz-aware client returns
    ],
)
def test_cursors_round_trip_to_the_millisecond(ts: datetime) -> None:
    oid = str(ObjectId())
    unread = decode_unread(encode_unread(UnreadCursor(ts, oid)))
    assert unread == UnreadCursor(ts.replace(tzinfo=ts.tzinfo or UTC), oid)
    listed = decode_list(encode_list(ListCursor(ts, "g:77")))
    assert listed == ListCursor(ts.replace(tzinfo=ts.tzinfo or UTC), "g:77")


def test_v1_unread_cursors_still_decode() -> None:
    # What v1 issued for 2026-11-27T08:10:21.123Z and 6745f0c2a1b2c3d4e5f60718.
    v1 = "AAABohwOLkNnRfDCobLD1OX2Bxg"
    assert decode_unread(v1) == UnreadCursor(
        datetime(2026, 11, 27, 8, 10, 21, 123000, tzinfo=UTC), "6745f0c2a1b2c3d4e5f60718"
    )


def test_cursors_are_opaque_url_safe_text() -> None:
    for c in (
        encode_unread(UnreadCursor(datetime.now(UTC), str(ObjectId()))),
        encode_list(ListCursor(datetime.now(UTC), "d:1:2")),
    ):
        assert c.isascii() and not set(c) & set("+/= ")


@pytest.mark.parametrize("bad", ["", "!!!", "QUJD", "A" * 40, "é"])
def test_malformed_unread_cursors_are_bad_requests(bad: str) -> None:
    with pytest.raises(BadRequest):
        decode_unread(bad)


@pytest.mark.parametrize("bad", ["", "!!!", "AAAAAAAAAAA", "AAAAAAAAAAB4OjE", "é"])
def test_malformed_list_cursors_are_bad_requests(bad: str) -> None:
    with pytest.raises(BadRequest):
        decode_list(bad)
