"""Recall: only the sender, within the recall window. The content is removed from
storage, the message leaves every unread list and count, history shows it as
recalled, and every member's live connections get a `recalled` frame."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.chat.domain import StoredMessage
from chalicelib.chat.ports import Clock, Delivery, Groups, MessageLog
from chalicelib.errors import Forbidden, NotFound
from chalicelib.models.frames import RecalledFrame
from chalicelib.observability import count


class RecallMessage:
    def __init__(
        self, log: MessageLog, groups: Groups, delivery: Delivery, window: timedelta, clock: Clock
    ) -> None:
        self._log, self._groups, self._delivery = log, groups, delivery
        self._window, self._clock = window, clock

    def __call__(
        self, user: int, message_id: str, connection_id: str | None = None
    ) -> StoredMessage:
        """`connection_id`: where the request came from (None over REST); it is left out
        of the push, and its handler answers it -- also when asked again."""
        message = self._log.message(message_id)
        if message is None:
            raise NotFound("no such message")
        if message.sender != user:
            raise Forbidden("only its sender can recall a message")
        if message.recalled:
            return message  # asked twice: the same answer, nobody told again
        now = self._clock()
        if now - message.created_at > self._window:
            seconds = int(self._window.total_seconds())
            raise Forbidden(f"messages can be recalled for {seconds} seconds after sending")
        recalled = self._log.recall(message, now)
        if recalled is None:  # recalled meanwhile, from another device
            again = self._log.message(message_id)
            if again is None:
                raise NotFound("no such message")
            return again
        count("MessagesRecalled")
        self._delivery.push(
            self._delivery.audience(self._members(recalled), exclude=connection_id),
            recalled_frame(recalled),
        )
        return recalled

    def _members(self, message: StoredMessage) -> tuple[int, ...]:
        conversation = message.conversation
        if not conversation.is_group:
            return conversation.participants()
        group = self._groups.group(conversation.group_id)
        return group.members if group is not None else (message.sender,)


def recalled_frame(message: StoredMessage) -> RecalledFrame:
    """Only its sender can recall a message: `by` is the sender."""
    return RecalledFrame(
        message_id=message.id,
        conversation_id=str(message.conversation),
        seq=message.seq,
        by=message.sender,
        recalled_at=message.updated_at,
    )
