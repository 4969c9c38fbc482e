"""Send: rate limit -> number and store -> push -> acknowledge.

Pushing *before* acknowledging gives the contract's ordering: a client that waits for
each ack has each message on the recipients' connections before its next send starts.
A fan-out to more live connections than `push_before_ack_max` is acknowledged first
(its sender should not wait for hundreds of posts) and pushed right after, in the same
invocation; members order those by `seq`. Every live connection of every member gets
the message except the one it came from -- so the sender's other devices get their
copy -- but a note to self reaches every connection of its writer, as in v1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.chat.domain import Appended, ConversationId, Draft
from chalicelib.chat.ports import Delivery, MessageLog, RateLimiter
from chalicelib.errors import ImError
from chalicelib.models.frames import MessageFrame
from chalicelib.observability import count, logger


@dataclass(frozen=True)
class SendCommand:
    sender: int
    to: int | None
    group_id: int | None
    content: str
    msg_type: int
    ack_id: str
    connection_id: str | None = None  # where it came from (None over REST)

    def conversation(self) -> ConversationId:
        if self.group_id is not None:
            return ConversationId.group(self.group_id)
        assert self.to is not None  # the request models require one of them
        return ConversationId.direct(self.sender, self.to)


# acknowledge(appended, last): `last` is False when the invocation still has work to do
# after the ack (a big fan-out), so the ack must go out now, not with the return value.
Acknowledge = Callable[[Appended, bool], None]


class SendMessage:
    def __init__(
        self,
        log: MessageLog,
        delivery: Delivery,
        limiter: RateLimiter,
        push_before_ack_max: int,
    ) -> None:
        self._log = log
        self._delivery = delivery
        self._limiter = limiter
        self._push_before_ack_max = push_before_ack_max

    def __call__(self, command: SendCommand, acknowledge: Acknowledge) -> Appended:
        self._limiter.hit(command.sender)
        conversation = command.conversation()
        appended = self._log.append(
            Draft(
                conversation=conversation,
                sender=command.sender,
                content=command.content,
                ack_id=command.ack_id,
                msg_type=command.msg_type,
            )
        )
        if appended.duplicate:
            # The first attempt pushed it (or it waits as unread): never deliver twice.
            count("MessagesDuplicate")
            acknowledge(appended, True)
            return appended
        count("MessagesStored")
        note_to_self = (
            conversation.participants() == (command.sender,)
            if not (conversation.is_group)
            else False
        )
        audience = self._delivery.audience(
            appended.members, exclude=None if note_to_self else command.connection_id
        )
        frame = MessageFrame.of(appended.message)
        later = conversation.is_group  # its members' copies are updated after the ack
        if audience.size <= self._push_before_ack_max:
            self._delivery.push(audience, frame)
            # `last`: on a two-way route the ack is the return value, after the group's
            # fan-out -- a few member documents, cheaper than a post of its own.
            acknowledge(appended, True)
        else:
            acknowledge(appended, False)
            self._delivery.push(audience, frame)
        if later:
            self._fan_out(appended)
        return appended

    def _fan_out(self, appended: Appended) -> None:
        try:
            self._log.fan_out(appended.message)
        except ImError:  # acknowledged and stored: the copies catch up with the next one
            logger.warning("group fan-out failed; member copies lag until the next message")
            count("FanoutFailed")
