"""Who may see a conversation: its members -- and the refusal when the caller is not.

An unknown group is `not_found`; a group the caller is not in, or a 1:1 conversation
between two other users, is `forbidden`. A 1:1 conversation of the caller's with no
message yet is simply empty.
"""

from __future__ import annotations

from chalicelib.chat.domain import ConversationId, Membership
from chalicelib.chat.ports import Groups, ReadStates
from chalicelib.errors import Forbidden, NotFound


def member_of(
    states: ReadStates, groups: Groups, conversation: ConversationId, user: int
) -> Membership:
    if not conversation.is_group and not conversation.includes(user):
        raise Forbidden("this is not your conversation")
    membership = states.membership(conversation, user)
    if membership is not None:
        return membership
    if not conversation.is_group:
        return Membership(conversation, user)
    if groups.group(conversation.group_id) is None:
        raise NotFound("no such group")
    raise Forbidden("you are not a member of this group")
