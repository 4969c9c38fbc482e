"""Members and their read positions on MongoDB, and the conversation list.

A read position changes by compare-and-set: read the member document, compute the new
`ReadState` (domain rules), write it only if the document still holds the state that
was read; on a concurrent change (another device reading, a recall, a send), read
again. FerretDB has no update pipelines, so this is how a read stays exact.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import replace

from chalicelib.chat.domain import ConversationId, ConversationSummary, Membership, ReadState
from chalicelib.chat.ports import ListCursor
from chalicelib.errors import Unavailable
from chalicelib.mongo.base import ONE_BATCH, MongoBase
from chalicelib.mongo.documents import (
    member_key,
    membership,
    preview,
    read_fields,
    read_state,
    require_user_id,
)
from chalicelib.mongo.gaps import fill_abandoned
from chalicelib.mongo.queries import list_query

# Contention on one member's document is one user's devices reading at once; retries
# back off with jitter so they stop colliding.
_CAS_ATTEMPTS = 30
_CAS_BACKOFF_SECONDS = 0.002


class MongoReadStates(MongoBase):
    def membership(self, conversation: ConversationId, user: int) -> Membership | None:
        with self._io():
            doc = self._members.find_one({"_id": member_key(conversation, user)})
        return None if doc is None else membership(doc)

    def memberships(self, conversation: ConversationId) -> list[Membership]:
        with self._io():
            docs = list(self._members.find({"conv": str(conversation)}, sort=[("user", 1)]))
        return [membership(d) for d in docs]

    def memberships_of(self, user: int) -> list[Membership]:
        """Every membership, with each group's newest seq from the group itself (its
        members' copies are updated after the sender's ack)."""
        with self._io():
            docs = list(self._members.find({"user": require_user_id(user)}, batch_size=ONE_BATCH))
            groups = [d["conv"] for d in docs if d.get("kind") == "group"]
            newest = {}
            if groups:
                found = self._conversations.find({"_id": {"$in": groups}}, {"max_seq": 1})
                newest = {c["_id"]: int(c.get("max_seq", 0)) for c in found}
        return [
            replace(m, max_seq=max(m.max_seq, newest.get(str(m.conversation), 0)))
            for m in map(membership, docs)
        ]

    def change_read(
        self,
        conversation: ConversationId,
        user: int,
        change: Callable[[ReadState], ReadState],
    ) -> tuple[ReadState, ReadState] | None:
        key = member_key(conversation, user)
        with self._io():
            for attempt in range(1, _CAS_ATTEMPTS + 1):
                doc = self._members.find_one({"_id": key})
                if doc is None:
                    return None
                before = read_state(doc)
                after = change(before)
                if after == before:
                    self._fill_gaps(conversation, after)
                    return before, after
                # Compare what was read, byte for byte: the stored extra list's order.
                expected = {k: doc.get(k) for k in ("read_seq", "extra", "read_at")}
                result = self._members.update_one(
                    {"_id": key, **expected},
                    {"$set": {**read_fields(after), "updated_at": self._clock()}},
                )
                if result.matched_count:
                    self._fill_gaps(conversation, after)
                    return before, after
                time.sleep(random.uniform(0, _CAS_BACKOFF_SECONDS * attempt))  # noqa: S311
        raise Unavailable("read position is changing too fast; try again")

    def _fill_gaps(self, conversation: ConversationId, state: ReadState) -> None:
        # Numbers lost with no message would stay unread for ever (chalicelib/mongo/gaps.py).
        fill_abandoned(self._messages, self._members, conversation, state, self._clock())

    def note_peer_read(self, conversation: ConversationId, peer: int, read_seq: int) -> None:
        with self._io():
            self._members.update_one(
                {"_id": member_key(conversation, peer)}, {"$max": {"peer_read_seq": read_seq}}
            )

    def conversations(
        self, user: int, limit: int, cursor: ListCursor | None
    ) -> tuple[list[ConversationSummary], ListCursor | None]:
        query = list_query(user, limit + 1, cursor)
        with self._io():
            docs = list(
                self._members.find(
                    query.filter, sort=query.sort, limit=query.limit, batch_size=query.limit
                )
            )
        summaries = [ConversationSummary(membership(d), preview(d.get("last"))) for d in docs]
        if len(summaries) <= limit:
            return summaries, None
        summaries = summaries[:limit]
        last = summaries[-1].membership
        assert last.last_at is not None  # every member document has one
        return summaries, ListCursor(last.last_at, str(last.conversation))
