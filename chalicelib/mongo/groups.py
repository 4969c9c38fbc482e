"""Groups on MongoDB: the conversation document holds the member list (the send path
checks membership in its numbering write), member documents hold each member's view.

Membership changes are a compare-and-set on the group's `version`, made on the same
document that numbers messages: a message numbered before the change is not for a new
member (its seq is at most their `joined_seq`), one numbered after is.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from chalicelib.chat.domain import ConversationId, Group, Role
from chalicelib.cursors import as_utc
from chalicelib.mongo.base import MongoBase, insert_missing
from chalicelib.mongo.documents import Document, group, member_document, member_key


class MongoGroups(MongoBase):
    def create_group(self, new: Group) -> bool:
        conversation = new.conversation
        doc: Document = {
            "_id": str(conversation),
            "kind": str(conversation.kind),
            "name": new.name,
            "owner": new.owner,
            "members": list(new.members),
            "max_seq": 0,
            "last_at": new.created_at,
            "version": 0,
            "created_at": new.created_at,
            "updated_at": new.created_at,
        }
        with self._io():
            try:
                self._conversations.insert_one(doc)
            except DuplicateKeyError:
                return False
            self._add_member_documents(new, new.members, 0, None, new.created_at)
        return True

    def group(self, group_id: int) -> Group | None:
        with self._io():
            doc = self._conversations.find_one({"_id": str(ConversationId.group(group_id))})
        return None if doc is None else group(doc)

    def groups(self, group_ids: Iterable[int]) -> list[Group]:
        keys = [str(ConversationId.group(g)) for g in dict.fromkeys(group_ids)]
        if not keys:
            return []
        with self._io():
            docs = list(self._conversations.find({"_id": {"$in": keys}}))
        return [group(d) for d in docs]

    def change_members(
        self, current: Group, members: tuple[int, ...], owner: int, at: datetime
    ) -> Group | None:
        with self._io():
            doc = self._conversations.find_one_and_update(
                {"_id": str(current.conversation), "version": current.version},
                {
                    "$set": {"members": list(members), "owner": owner, "updated_at": at},
                    "$inc": {"version": 1},
                },
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:
                return None
            changed = group(doc)
            joined = [u for u in members if u not in current.members]
            left = [u for u in current.members if u not in members]
            # New members have read everything numbered before they joined.
            last_at = doc.get("last_at")
            self._add_member_documents(
                changed, joined, changed.max_seq, as_utc(last_at) if last_at else None, at
            )
            if left:
                self._members.delete_many(
                    {"_id": {"$in": [member_key(current.conversation, u) for u in left]}}
                )
            if owner != current.owner and owner in members:
                self._members.update_one(
                    {"_id": member_key(current.conversation, owner)},
                    {"$set": {"role": str(Role.OWNER)}},
                )
        return changed

    def _add_member_documents(
        self,
        g: Group,
        users: Iterable[int],
        joined_seq: int,
        read_at: datetime | None,
        at: datetime,
    ) -> None:
        docs = [
            member_document(
                g.conversation,
                user,
                at=at,
                role=Role.OWNER if user == g.owner else Role.MEMBER,
                joined_seq=joined_seq,
                read_at=read_at,
                name=g.name,
            )
            for user in users
        ]
        insert_missing(self._members, docs)
