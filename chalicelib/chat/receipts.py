"""Who has read a message: for its sender only (what the big messengers show as
"message info"); in a group, every member who joined before it counts as a recipient."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.chat.domain import StoredMessage
from chalicelib.chat.ports import MessageLog, ReadStates
from chalicelib.errors import Forbidden, NotFound


@dataclass(frozen=True)
class ReadReport:
    message: StoredMessage
    recipients: int
    read_by: list[int]


class ReadBy:
    def __init__(self, log: MessageLog, states: ReadStates) -> None:
        self._log, self._states = log, states

    def __call__(self, user: int, message_id: str) -> ReadReport:
        message = self._log.message(message_id)
        if message is None:
            raise NotFound("no such message")
        if message.sender != user:
            raise Forbidden("only its sender can see who read a message")
        recipients = [
            m
            for m in self._states.memberships(message.conversation)
            if m.user != user and m.sees(message.seq)
        ]
        read_by = sorted(m.user for m in recipients if m.read.has_read(message.seq))
        return ReadReport(message, len(recipients), read_by)
