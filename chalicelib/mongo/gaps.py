"""Numbers with no message behind them, and how they are filled with voids.

A message's number is taken (findAndModify on its conversation) before the message is
inserted. When the insert fails the number is given back, or filled with a void that
every member counts as read (`MongoMessageLog._give_back`). One failure escapes that:
the server applies the numbering but its answer never reaches the handler (a socket
timeout, a server paused mid-request). The sender is told `unavailable` and resends
under the next number; the lost number is a gap that each member's unread count
(newest seq - read position) would include for ever, since no message can be marked
read there.

So when a read leaves reads above an unread number (`ReadState.extra`), the numbers in
between are looked up. One with no document, below a message created more than
`ABANDONED_AFTER` ago, can no longer be inserted by anyone -- the handler that took it
has ended (the Lambda timeout is 28 s), and an acknowledged message is inserted before
its ack -- so it is filled with a void and marked read for every member, as a
given-back number is. The unique index on (conv, seq) settles a race with a late
insert: whichever lands first keeps the number, and a void never hides a message.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from chalicelib.chat.domain import ConversationId, MessageState, ReadState
from chalicelib.cursors import as_utc
from chalicelib.mongo.documents import Document, message_document

# Longer than any invocation that took a number can still be running (28 s), with room
# for the clocks of two containers to disagree.
ABANDONED_AFTER = timedelta(seconds=90)
# A read looks at this many unread numbers below its newest read at most.
_HOLES_MAX = 64


def void_document(conversation: ConversationId, seq: int, at: datetime) -> Document:
    """The placeholder that fills number `seq`: no sender, no content; history, unread
    and lookups skip it."""
    key = str(conversation)
    return message_document(
        ObjectId(),
        conversation,
        seq,
        0,
        0,
        content="",
        msg_type=0,
        ack_id=f"void:{key}:{seq}",
        status=int(MessageState.VOID),
        created_at=at,
        updated_at=at,
    )


def mark_void_read(members: Collection[Document], conversation: ConversationId, seq: int) -> None:
    """Every member has read a void (it is not a message)."""
    members.update_many(
        {"conv": str(conversation), "read_seq": {"$lt": seq}}, {"$addToSet": {"extra": seq}}
    )


def fill_abandoned(
    messages: Collection[Document],
    members: Collection[Document],
    conversation: ConversationId,
    state: ReadState,
    now: datetime,
) -> list[int]:
    """Fill the abandoned numbers below `state`'s newest read (see the module's
    docstring) and mark them read; returns those numbers. One query when there is
    nothing to fill."""
    if not state.extra:
        return []
    read = set(state.extra)
    holes = [s for s in range(state.read_seq + 1, state.extra[-1]) if s not in read]
    holes = holes[:_HOLES_MAX]
    if not holes:
        return []
    # The first read message above the holes was numbered after all of them.
    anchor = min(s for s in state.extra if s > holes[-1])
    found: dict[int, Document] = {
        int(d["seq"]): d
        for d in messages.find(
            {"conv": str(conversation), "seq": {"$in": [*holes, anchor]}},
            {"seq": 1, "created_at": 1, "status": 1},
        )
    }
    # A void this reader counts as unread: its filler stopped before marking it read.
    voids = [s for s in holes if found.get(s, {}).get("status") == MessageState.VOID]
    missing = [s for s in holes if s not in found]
    anchored_at = found.get(anchor, {}).get("created_at")
    if missing and isinstance(anchored_at, datetime):
        anchored_at = as_utc(anchored_at)
        if now - anchored_at >= ABANDONED_AFTER:  # else it may still be on its way
            voids += [s for s in missing if _fill(messages, conversation, s, anchored_at)]
    for seq in sorted(voids):
        mark_void_read(members, conversation, seq)
    return sorted(voids)


def _fill(
    messages: Collection[Document], conversation: ConversationId, seq: int, at: datetime
) -> bool:
    """Put a void at `seq`; False if a message got there first."""
    try:
        messages.insert_one(void_document(conversation, seq, at))
    except DuplicateKeyError:
        doc = messages.find_one({"conv": str(conversation), "seq": seq}, {"status": 1})
        return doc is not None and doc.get("status") == MessageState.VOID
    return True
