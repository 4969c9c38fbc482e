"""`make migrate`: bring a v1 database to the v1.1 conversation model, in place.

v1 stored each message once with `from`, `to` and a per-message `status` (0 unread,
1 read by its recipient, 2 recalled). v1.1 numbers messages per conversation and keeps
read state per member. For every 1:1 pair with v1 messages, oldest first, this:

1. takes a block of sequence numbers from the conversation's counter (created with
   its two member documents when missing, as a first send would);
2. writes `conv` and `seq` onto each message (status 1 becomes 0: "read" now lives in
   the reader's position; 2 stays recalled, with its content already gone);
3. folds the read state into both members' positions -- the recipient has read what
   v1 marked read, the sender their own messages, everyone the recalled ones -- and
   their conversation-list copies (max_seq, last activity, last-message preview).
   A v1 note to self that was still unread becomes read: in v1.1 nobody's own
   messages are unread.

Messages already migrated (they have a `seq`) are skipped, so a second run, or a run
after an interruption, finishes the job and changes nothing else. Run it once right
after deploying v1.1 (docs/deploy.md): until then v1 messages are stored but not in
anyone's unread list or history. Sends that v1.1 stored in a pair before its v1
messages were migrated keep their lower numbers; the v1 messages follow them.

    python -m infra.deploy.migrate --uri mongodb://... [--database im] [--dry-run]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import MongoClient, ReturnDocument, UpdateMany, UpdateOne
from pymongo.database import Database

from chalicelib.chat.domain import (
    ConversationId,
    MessageState,
    ReadState,
    StoredMessage,
    preview_of,
)
from chalicelib.mongo.base import insert_missing
from chalicelib.mongo.documents import (
    CONVERSATIONS,
    MEMBERS,
    MESSAGES,
    member_document,
    preview_document,
    stored_message,
)
from chalicelib.store import MongoChatStore

Document = dict[str, Any]
V1_READ, V1_RECALLED = 1, 2
V1_UNREAD_INDEX = "to_1_status_1_created_at_1__id_1"
BATCH = 5000


@dataclass
class Report:
    conversations: int = 0
    messages: int = 0
    unread: int = 0


def pairs(db: Database[Document]) -> list[tuple[int, int]]:
    """Every 1:1 pair with v1 messages, each once."""
    found = db[MESSAGES].aggregate(
        [{"$match": _legacy()}, {"$group": {"_id": {"from": "$from", "to": "$to"}}}]
    )
    unique = {tuple(sorted((int(d["_id"]["from"]), int(d["_id"]["to"])))) for d in found}
    return sorted((a, b) for a, b in unique)


def _legacy() -> Document:
    """What only v1 wrote: a message without a sequence number."""
    return {"seq": {"$exists": False}}


def _batches(db: Database[Document], a: int, b: int) -> Iterator[list[Document]]:
    flt = {**_legacy(), "$or": [{"from": a, "to": b}, {"from": b, "to": a}]}
    while True:
        batch = list(db[MESSAGES].find(flt, sort=[("created_at", 1), ("_id", 1)], limit=BATCH))
        if not batch:
            return
        yield batch


def migrate_pair(db: Database[Document], a: int, b: int, now: datetime) -> tuple[int, int]:
    """Number and fold one pair's v1 messages; returns (messages, still unread)."""
    conversation = ConversationId.direct(a, b)
    key = str(conversation)
    users = conversation.participants()
    insert_missing(
        db[CONVERSATIONS],
        [
            {
                "_id": key,
                "kind": "direct",
                "members": list(users),
                "max_seq": 0,
                "last_at": now,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    insert_missing(db[MEMBERS], [member_document(conversation, u, at=now) for u in users])
    moved = unread = 0
    for batch in _batches(db, a, b):
        counter = db[CONVERSATIONS].find_one_and_update(
            {"_id": key},
            {"$inc": {"max_seq": len(batch)}, "$max": {"last_at": batch[-1]["created_at"]}},
            return_document=ReturnDocument.AFTER,
        )
        assert counter is not None  # created above
        first = int(counter["max_seq"]) - len(batch) + 1
        numbered = [(first + i, doc) for i, doc in enumerate(batch)]
        db[MESSAGES].bulk_write(
            [
                UpdateOne(
                    {"_id": doc["_id"], "seq": {"$exists": False}},
                    {"$set": {"conv": key, "seq": seq, "status": _state(doc)}},
                )
                for seq, doc in numbered
            ],
            ordered=False,
        )
        store = MongoChatStore(db)
        for user in users:
            _fold_reads(store, conversation, user, numbered)
        newest = stored_message(
            {**batch[-1], "conv": key, "seq": numbered[-1][0], "status": _state(batch[-1])}
        )
        _fan_out(db, newest)
        moved += len(batch)
        unread += sum(_unread(doc) for _, doc in numbered)
    return moved, unread


def _unread(doc: Document) -> int:
    """1 if the message stays unread: v1 status 0, and not a note to self (a writer
    has read their own messages)."""
    return int(doc.get("status", 0) == 0 and doc["from"] != doc["to"])


def _state(doc: Document) -> int:
    recalled = doc.get("status") == V1_RECALLED
    return int(MessageState.RECALLED if recalled else MessageState.ACTIVE)


def _fold_reads(
    store: MongoChatStore,
    conversation: ConversationId,
    user: int,
    numbered: Iterable[tuple[int, Document]],
) -> None:
    """The user has read their own messages, what v1 marked read for them, and (as
    everyone) the recalled ones."""
    done: dict[int, datetime] = {}
    for seq, doc in numbered:
        own = doc["from"] == user
        read = doc.get("status") == V1_READ and doc["to"] == user
        if own or read or doc.get("status") == V1_RECALLED:
            done[seq] = doc["created_at"]
    if done:
        store.change_read(conversation, user, lambda r: _with(r, done))


def _with(state: ReadState, done: dict[int, datetime]) -> ReadState:
    return state.with_read(done, done)


def _fan_out(db: Database[Document], newest: StoredMessage) -> None:
    seq, at = newest.seq, newest.created_at
    db[MEMBERS].bulk_write(
        [
            UpdateMany(
                {"conv": str(newest.conversation), "max_seq": {"$lt": seq}},
                {
                    "$set": {
                        "max_seq": seq,
                        "last_at": at,
                        "last": preview_document(preview_of(newest)),
                    }
                },
            )
        ]
    )


def migrate(db: Database[Document], now: datetime, dry_run: bool = False) -> Report:
    MongoChatStore(db).ensure_indexes()
    report = Report()
    found = pairs(db)
    if dry_run:
        report.conversations = len(found)
        for doc in db[MESSAGES].find(_legacy(), {"from": 1, "to": 1, "status": 1}):
            report.messages += 1
            report.unread += _unread(doc)
        return report
    for a, b in found:
        moved, unread = migrate_pair(db, a, b, now)
        report.conversations += 1
        report.messages += moved
        report.unread += unread
    if V1_UNREAD_INDEX in {i["name"] for i in db[MESSAGES].list_indexes()}:
        db[MESSAGES].drop_index(V1_UNREAD_INDEX)  # v1's unread query is gone
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.deploy.migrate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--uri", default=os.environ.get("MONGODB_URI"))
    parser.add_argument("--database", default=os.environ.get("MONGODB_DATABASE", "im"))
    parser.add_argument("--dry-run", action="store_true", help="count, change nothing")
    args = parser.parse_args(argv)
    if not args.uri:
        parser.error("give --uri or set MONGODB_URI")
    from chalicelib.clock import utc_now_ms

    client: MongoClient[Document] = MongoClient(args.uri, tz_aware=True)
    try:
        report = migrate(client[args.database], utc_now_ms(), args.dry_run)
    finally:
        client.close()
    verb = "would migrate" if args.dry_run else "migrated"
    print(
        f"{verb} {report.messages} v1 messages in {report.conversations} conversations "
        f"({report.unread} unread)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
