"""The message log on MongoDB: numbering, idempotent insert, fan-out, recall, reads.

A send is three round trips, each one atomic:

1. number it -- `findAndModify` on the conversation: `$inc` max_seq and `$max`
   last_at (so created_at never decreases along seq); for a group the filter also
   requires the sender in `members`, so membership is checked in the same write;
2. insert it -- unique on (from, ack_id) for retries and on (conv, seq);
3. fan out -- one `update` command: every member's max_seq, activity time and
   last-message preview (only where older) and the sender's own read position. For a
   1:1 message before the ack (two point updates); for a group, whose members are one
   document each, after the sender has its ack (`fan_out`), so a 500-member group is
   acknowledged as fast as a pair. Readers that need a group's newest seq before its
   fan-out (unread lists) read it from the conversation.

A retry (its ack_id already stored) gives its number back when nobody took the next
one, and otherwise leaves a *void* at that seq: no message, read by everyone, so no
count ever includes it. A failed 1:1 fan-out fails the send (no ack); the client's retry
with the same ack_id finds the message and runs the fan-out again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument, UpdateMany, UpdateOne
from pymongo.errors import DuplicateKeyError

from chalicelib.chat.domain import (
    Appended,
    ConversationId,
    Draft,
    Membership,
    MessageState,
    StoredMessage,
    preview_of,
)
from chalicelib.chat.ports import UnreadCursor
from chalicelib.cursors import as_utc
from chalicelib.errors import Forbidden, NotFound, Unavailable
from chalicelib.mongo.base import MongoBase, insert_missing
from chalicelib.mongo.documents import (
    Document,
    member_document,
    member_key,
    message_document,
    object_id,
    preview_document,
    require_user_id,
    stored_message,
)
from chalicelib.mongo.gaps import mark_void_read, void_document
from chalicelib.mongo.queries import history_query, unread_query

_NUMBERING_ATTEMPTS = 3
_COMPACT_EVERY = 64


class MongoMessageLog(MongoBase):
    def append(self, draft: Draft) -> Appended:
        sender = require_user_id(draft.sender)
        for _ in range(_NUMBERING_ATTEMPTS):
            now = self._clock()
            counter = self._number(draft.conversation, sender, now)
            seq, created_at = int(counter["max_seq"]), as_utc(counter["last_at"])
            doc = message_document(
                ObjectId(),
                draft.conversation,
                seq,
                sender,
                0 if draft.conversation.is_group else draft.conversation.peer_of(sender),
                content=draft.content,
                msg_type=draft.msg_type,
                ack_id=draft.ack_id,
                status=int(MessageState.ACTIVE),
                created_at=created_at,
                updated_at=created_at,
            )
            try:
                with self._io():
                    self._messages.insert_one(doc)
            except DuplicateKeyError:
                first = self._by_ack(sender, draft.ack_id)
                if first is None:  # the clash was on (conv, seq): the counter is behind
                    self._catch_up_counter(draft.conversation)
                    continue
                self._give_back(draft.conversation, seq, created_at)
                message = stored_message(first)
                self.fan_out(message)  # the first attempt may have failed before it
                return Appended(message, duplicate=True)
            except Unavailable:
                self._give_back_quietly(draft.conversation, seq, created_at)
                raise
            message = stored_message(doc)
            if not message.conversation.is_group:
                self.fan_out(message)
            return Appended(message, duplicate=False, members=tuple(counter["members"]))
        raise Unavailable("message store unavailable")

    def _number(self, conversation: ConversationId, sender: int, now: datetime) -> Document:
        key = str(conversation)
        update: Document = {
            "$inc": {"max_seq": 1},
            "$max": {"last_at": now},
            "$set": {"updated_at": now},
        }
        with self._io():
            if conversation.is_group:
                doc = self._conversations.find_one_and_update(
                    {"_id": key, "members": sender}, update, return_document=ReturnDocument.AFTER
                )
                if doc is None:
                    if self._conversations.find_one({"_id": key}, {"_id": 1}) is None:
                        raise NotFound("no such group")
                    raise Forbidden("you are not a member of this group")
                return doc
            doc = self._conversations.find_one_and_update(
                {"_id": key}, update, return_document=ReturnDocument.AFTER
            )
            if doc is None:  # the pair's first message: the conversation and its members
                self._open_direct(conversation, now)
                doc = self._conversations.find_one_and_update(
                    {"_id": key}, update, return_document=ReturnDocument.AFTER
                )
            if doc is None:
                raise Unavailable("message store unavailable")
            return doc

    def _open_direct(self, conversation: ConversationId, now: datetime) -> None:
        """Create a 1:1 conversation and both member documents, before its first message
        is numbered -- so no fan-out can miss them. Two first messages may both do this."""
        users = conversation.participants()
        doc = {
            "_id": str(conversation),
            "kind": str(conversation.kind),
            "members": list(users),
            "max_seq": 0,
            "last_at": now,
            "created_at": now,
            "updated_at": now,
        }
        insert_missing(self._conversations, [doc])
        insert_missing(self._members, [member_document(conversation, u, at=now) for u in users])

    def _by_ack(self, sender: int, ack_id: str) -> Document | None:
        with self._io():
            return self._messages.find_one({"from": sender, "ack_id": ack_id})

    def _catch_up_counter(self, conversation: ConversationId) -> None:
        with self._io():
            last = self._messages.find_one({"conv": str(conversation)}, sort=[("seq", -1)])
            if last is not None:
                self._conversations.update_one(
                    {"_id": str(conversation)}, {"$max": {"max_seq": int(last["seq"])}}
                )

    def _give_back(self, conversation: ConversationId, seq: int, at: datetime) -> None:
        """Return an unused number, or fill it with a void nobody will count."""
        key = str(conversation)
        with self._io():
            returned = self._conversations.update_one(
                {"_id": key, "max_seq": seq}, {"$inc": {"max_seq": -1}}
            )
            if returned.modified_count:
                return
            with contextlib.suppress(DuplicateKeyError):  # filled by an earlier attempt
                self._messages.insert_one(void_document(conversation, seq, at))
            mark_void_read(self._members, conversation, seq)

    def _give_back_quietly(self, conversation: ConversationId, seq: int, at: datetime) -> None:
        # The store is down: the number stays a gap, which history skips and a later
        # read fills (chalicelib/mongo/gaps.py).
        with contextlib.suppress(Unavailable):
            self._give_back(conversation, seq, at)

    def fan_out(self, message: StoredMessage) -> None:
        conversation, seq, at = message.conversation, message.seq, message.created_at
        # Only `$max` and `$addToSet`, so every statement is idempotent, commutes with
        # concurrent fan-outs, and filters on _id alone (a point update on any server).
        newer = {
            "$max": {
                "max_seq": seq,
                "last_at": at,
                "last": preview_document(preview_of(message)),
                "updated_at": at,
            }
        }
        # The sender has read what they wrote; readers see the position settled, and it
        # is written settled at the next compare-and-set (a read, or every 64 messages).
        own_read = {"$addToSet": {"extra": seq}}
        own = member_key(conversation, message.sender)
        ops: list[Any]
        if conversation.is_group:
            ops = [
                UpdateMany({"conv": str(conversation)}, newer),
                UpdateOne({"_id": own}, own_read),
            ]
        else:  # one statement per member: FerretDB runs each statement on its own
            ops = [
                UpdateOne({"_id": key}, {**newer, **own_read} if key == own else newer)
                for key in (member_key(conversation, u) for u in conversation.participants())
            ]
        with self._io():
            self._members.bulk_write(ops, ordered=False)
        if seq % _COMPACT_EVERY == 0:
            self._compact_read(conversation, message.sender)

    def message(self, message_id: str) -> StoredMessage | None:
        with self._io():
            doc = self._messages.find_one({"_id": object_id(message_id)})
        if doc is None or doc.get("status") == MessageState.VOID or "seq" not in doc:
            return None
        return stored_message(doc)

    def messages(self, message_ids: Sequence[str]) -> list[StoredMessage]:
        ids = list(dict.fromkeys(object_id(m) for m in message_ids))
        if not ids:
            return []
        with self._io():
            docs = list(self._messages.find({"_id": {"$in": ids}}))
        return [
            stored_message(d) for d in docs if "seq" in d and d.get("status") != MessageState.VOID
        ]

    def recall(self, message: StoredMessage, at: datetime) -> StoredMessage | None:
        key, seq = str(message.conversation), message.seq
        with self._io():
            doc = self._messages.find_one_and_update(
                {"_id": object_id(message.id), "status": int(MessageState.ACTIVE)},
                {"$set": {"status": int(MessageState.RECALLED), "content": "", "updated_at": at}},
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:
                return None
            # Out of every unread count, and out of every conversation list preview.
            self._members.update_many(
                {"conv": key, "read_seq": {"$lt": seq}}, {"$addToSet": {"extra": seq}}
            )
            recalled = stored_message(doc)
            self._members.update_many(
                {"conv": key, "last.seq": seq},
                {"$set": {"last": preview_document(preview_of(recalled))}},
            )
        return recalled

    def history(
        self,
        conversation: ConversationId,
        *,
        floor: int,
        after: int | None,
        before: int | None,
        limit: int,
    ) -> list[StoredMessage]:
        query = history_query(conversation, floor, after, before, limit)
        with self._io():
            docs = list(
                self._messages.find(
                    query.filter, sort=query.sort, limit=query.limit, batch_size=query.limit
                )
            )
        return [stored_message(d) for d in docs]

    def unread(
        self, user: int, memberships: Sequence[Membership], limit: int, cursor: UnreadCursor | None
    ) -> list[StoredMessage]:
        if not memberships:
            return []
        query = unread_query(user, memberships, limit, cursor)
        with self._io():
            docs = list(
                self._messages.find(
                    query.filter, sort=query.sort, limit=query.limit, batch_size=query.limit
                )
            )
        return [stored_message(d) for d in docs]
