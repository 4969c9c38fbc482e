"""The chat store on MongoDB: messages, conversations and members (chalicelib/mongo).

`MongoChatStore(database)` implements `chalicelib.chat.ports.ChatStore`; call
`ensure_indexes()` once per container (bootstrap does) before serving.
"""

from __future__ import annotations

from chalicelib.mongo.documents import INDEXES
from chalicelib.mongo.groups import MongoGroups
from chalicelib.mongo.members import MongoReadStates
from chalicelib.mongo.messages import MongoMessageLog


class MongoChatStore(MongoMessageLog, MongoReadStates, MongoGroups):
    def ensure_indexes(self) -> None:
        """Idempotent: creating an existing index with the same spec is a no-op."""
        with self._io():
            for collection, indexes in INDEXES.items():
                # One call per index: FerretDB 1.24 drops the connection when a single
                # createIndexes names several indexes that all exist already.
                for index in indexes:
                    self._db[collection].create_indexes([index])
