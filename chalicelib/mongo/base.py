"""What every MongoDB adapter module shares: the collections, the clock, and how driver
errors become ours -- through the container's circuit breaker (chalicelib/breaker.py),
so that once MongoDB is known to be unreachable, requests fail at once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, PyMongoError

from chalicelib.breaker import CircuitBreaker
from chalicelib.chat.domain import ConversationId
from chalicelib.clock import utc_now_ms
from chalicelib.errors import Unavailable
from chalicelib.mongo.documents import (
    CONVERSATIONS,
    MEMBERS,
    MESSAGES,
    Document,
    member_key,
    read_fields,
    read_state,
)

_DUPLICATE_KEY = 11000
# A find returns at most 101 documents in its first batch unless told otherwise; the
# rest would cost a getMore each (and FerretDB answers a find whose limit is exactly
# 101 with an open cursor, which pymongo then kills: another round trip). Reads that
# want everything in one reply say so; the server still stops a batch at 16 MB.
ONE_BATCH = 1_000_000


class MongoBase:
    def __init__(
        self,
        database: Database[Document],
        clock: Callable[[], datetime] = utc_now_ms,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._db = database
        self._messages: Collection[Document] = database[MESSAGES]
        self._conversations: Collection[Document] = database[CONVERSATIONS]
        self._members: Collection[Document] = database[MEMBERS]
        self._clock = clock
        self._breaker = breaker or CircuitBreaker()
        self._depth = threading.local()

    @contextmanager
    def _io(self) -> Iterator[None]:
        """One store operation: refused at once while the breaker is open; a driver
        error is `Unavailable` (nothing acknowledged); DuplicateKeyError passes through
        for the caller's idempotency logic. Nested uses count once."""
        depth = getattr(self._depth, "n", 0)
        if depth == 0 and not self._breaker.allow():
            raise Unavailable("message store unavailable")
        self._depth.n = depth + 1
        try:
            yield
        except DuplicateKeyError:
            self._breaker.succeeded()  # the server answered
            raise
        except ConnectionFailure as exc:  # unreachable, timed out, no primary
            self._breaker.failed()
            raise Unavailable("message store unavailable") from exc
        except PyMongoError as exc:
            self._breaker.succeeded()
            raise Unavailable("message store unavailable") from exc
        else:
            if depth == 0:
                self._breaker.succeeded()
        finally:
            self._depth.n = depth

    def _compact_read(self, conversation: ConversationId, user: int) -> None:
        """Write a member's read position settled (fold its contiguous extras)."""
        key = member_key(conversation, user)
        with self._io():
            doc = self._members.find_one({"_id": key})
            if doc is None:
                return
            settled = read_state(doc)
            if list(settled.extra) == doc.get("extra") and settled.read_seq == doc.get("read_seq"):
                return
            expected = {k: doc.get(k) for k in ("read_seq", "extra", "read_at")}
            self._members.update_one({"_id": key, **expected}, {"$set": read_fields(settled)})


def insert_missing(collection: Collection[Document], docs: list[Document]) -> None:
    """Insert `docs`, leaving alone those whose _id exists (another writer was first).

    Not upserts: FerretDB 1.24 answers an upsert that loses a race inside a bulk write
    without `nModified`, which pymongo cannot parse."""
    if not docs:
        return
    try:
        collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if not errors or any(e.get("code") != _DUPLICATE_KEY for e in errors):
            raise
