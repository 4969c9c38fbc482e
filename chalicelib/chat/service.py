"""The use cases wired to one set of adapters: what a handler calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from chalicelib.chat.browsing import History, ListConversations, UnreadMessages
from chalicelib.chat.groups import GroupService
from chalicelib.chat.ports import ChatStore, Clock, Delivery, RateLimiter
from chalicelib.chat.reading import MarkConversationRead, MarkRead, Receipts
from chalicelib.chat.recall import RecallMessage
from chalicelib.chat.receipts import ReadBy
from chalicelib.chat.sending import SendMessage


@dataclass(frozen=True)
class Policy:
    recall_window: timedelta = timedelta(minutes=2)
    max_group_members: int = 500
    push_before_ack_max: int = 50
    max_page_bytes: int = 1024 * 1024


class Chat:
    def __init__(
        self,
        store: ChatStore,
        delivery: Delivery,
        limiter: RateLimiter,
        clock: Clock,
        policy: Policy,
    ) -> None:
        self.delivery = delivery
        receipts = Receipts(delivery)
        self.send = SendMessage(store, delivery, limiter, policy.push_before_ack_max)
        self.mark_read = MarkRead(store, store, receipts)
        self.mark_conversation_read = MarkConversationRead(store, store, store, receipts)
        self.recall = RecallMessage(store, store, delivery, policy.recall_window, clock)
        self.unread = UnreadMessages(store, store, policy.max_page_bytes)
        self.history = History(store, store, store)
        self.conversations = ListConversations(store)
        self.groups = GroupService(store, store, delivery, clock, policy.max_group_members)
        self.read_by = ReadBy(store, store)
