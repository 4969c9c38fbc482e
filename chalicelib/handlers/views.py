"""Use-case results -> response bodies (the encoding half of the REST handlers)."""

from __future__ import annotations

from chalicelib.chat.browsing import HistoryPage
from chalicelib.chat.domain import ConversationSummary, Group, Membership, Page
from chalicelib.chat.receipts import ReadReport
from chalicelib.models.bodies import (
    ConversationEntry,
    ConversationsBody,
    GroupBody,
    HistoryBody,
    MemberBody,
    MembersBody,
    ReceiptsBody,
)
from chalicelib.models.messages import ConversationMessage, LastMessage


def conversations(user: int, page: Page[ConversationSummary]) -> ConversationsBody:
    return ConversationsBody(
        conversations=[_entry(user, s) for s in page.items], next_cursor=page.next_cursor
    )


def _entry(user: int, summary: ConversationSummary) -> ConversationEntry:
    m, last = summary.membership, summary.last
    c = m.conversation
    last_message = None
    if last is not None:
        if last.sender == user:  # mine: read if the peer got that far (1:1 only)
            read = not c.is_group and m.peer_read_seq >= last.seq
        else:
            read = m.read.has_read(last.seq)
        last_message = LastMessage.of(last, read)
    return ConversationEntry(
        conversation_id=str(c),
        kind=str(c.kind),
        peer=None if c.is_group else c.peer_of(user),
        group_id=c.group_id if c.is_group else None,
        name=m.name if c.is_group else None,
        last_message=last_message,
        last_activity_at=m.last_at,
        max_seq=m.max_seq,
        read_seq=m.read.read_seq,
        unread_count=m.unread_count(),
        peer_read_seq=None if c.is_group else m.peer_read_seq,
    )


def history(page: HistoryPage) -> HistoryBody:
    return HistoryBody(
        conversation_id=str(page.conversation),
        messages=[ConversationMessage.placed(m, read) for m, read in page.messages],
        has_more=page.has_more,
        max_seq=page.me.max_seq,
        read_seq=page.me.read.read_seq,
        peer_read_seq=None if page.peer is None else page.peer.read.read_seq,
    )


def receipts(report: ReadReport) -> ReceiptsBody:
    m = report.message
    return ReceiptsBody(
        message_id=m.id,
        conversation_id=str(m.conversation),
        seq=m.seq,
        recipients=report.recipients,
        read_count=len(report.read_by),
        read_by=report.read_by,
    )


def group(g: Group, role: str | None) -> GroupBody:
    return GroupBody(
        group_id=g.group_id,
        conversation_id=str(g.conversation),
        name=g.name,
        owner=g.owner,
        member_count=len(g.members),
        created_at=g.created_at,
        role=role,
    )


def members(g: Group, listed: list[Membership]) -> MembersBody:
    return MembersBody(
        group_id=g.group_id,
        conversation_id=str(g.conversation),
        owner=g.owner,
        members=[
            MemberBody(
                user_id=m.user, role=str(m.role), joined_at=m.joined_at, read_seq=m.read.read_seq
            )
            for m in listed
        ],
    )
