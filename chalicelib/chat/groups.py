"""Groups: create (the creator owns it), add and remove members (the owner), leave,
list mine, list a group's members (its members). At most `max_members` members.

Every change is a compare-and-set on the group's version, retried on a concurrent
change, and everyone concerned -- the members after the change and anyone removed --
hears of it in a `group` frame.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chalicelib.chat.domain import GROUP_ID_MAX, ConversationId, Group, Membership
from chalicelib.chat.ports import Clock, Delivery, Groups, ReadStates
from chalicelib.errors import BadRequest, Forbidden, NotFound, Unavailable
from chalicelib.models.frames import GroupEvent, GroupFrame
from chalicelib.observability import count

_ATTEMPTS = 8
# What a membership change wants, given the current group: (members, owner), or
# None when there is nothing to change. Raises to refuse.
_Rule = Callable[[Group], tuple[tuple[int, ...], int] | None]


@dataclass(frozen=True)
class GroupView:
    group: Group
    role: str | None = None


class GroupService:
    def __init__(
        self,
        groups: Groups,
        states: ReadStates,
        delivery: Delivery,
        clock: Clock,
        max_members: int,
    ) -> None:
        self._groups, self._states, self._delivery = groups, states, delivery
        self._clock, self._max = clock, max_members

    def create(self, owner: int, name: str, members: Sequence[int]) -> Group:
        everyone = tuple(dict.fromkeys([owner, *members]))
        self._check_size(len(everyone))
        for _ in range(_ATTEMPTS):
            group = Group(
                group_id=secrets.randbelow(GROUP_ID_MAX) + 1,
                name=name,
                owner=owner,
                members=everyone,
                created_at=self._clock(),
            )
            if self._groups.create_group(group):
                count("GroupsCreated")
                self._tell(group, "created", owner, list(everyone), everyone)
                return group
        raise Unavailable("could not allocate a group id")

    def add(self, actor: int, group_id: int, users: Sequence[int]) -> Group:
        def change(group: Group) -> tuple[tuple[int, ...], int] | None:
            self._require_owner(group, actor)
            new = [u for u in dict.fromkeys(users) if u not in group.members]
            if not new:
                return None
            self._check_size(len(group.members) + len(new))
            return (*group.members, *new), group.owner

        before, after = self._change(group_id, actor, change)
        added = [u for u in after.members if u not in before.members]
        if added:
            self._tell(after, "members_added", actor, added, after.members)
        return after

    def remove(self, actor: int, group_id: int, users: Sequence[int]) -> Group:
        def change(group: Group) -> tuple[tuple[int, ...], int] | None:
            self._require_owner(group, actor)
            if group.owner in users:
                raise BadRequest("the owner cannot be removed; the owner can leave instead")
            gone = set(users) & set(group.members)
            if not gone:
                return None
            return tuple(u for u in group.members if u not in gone), group.owner

        before, after = self._change(group_id, actor, change)
        removed = [u for u in before.members if u not in after.members]
        if removed:
            self._tell(after, "members_removed", actor, removed, (*after.members, *removed))
        return after

    def leave(self, actor: int, group_id: int) -> Group:
        def change(group: Group) -> tuple[tuple[int, ...], int] | None:
            self._require_member(group, actor)
            rest = tuple(u for u in group.members if u != actor)
            # The owner's role passes to whoever has been a member longest.
            owner = group.owner if group.owner != actor else (rest[0] if rest else actor)
            return rest, owner

        _, after = self._change(group_id, actor, change)
        self._tell(after, "member_left", actor, [actor], (*after.members, actor))
        return after

    def mine(self, user: int) -> list[GroupView]:
        memberships = [m for m in self._states.memberships_of(user) if m.conversation.is_group]
        roles = {m.conversation.group_id: str(m.role) for m in memberships}
        found = self._groups.groups(roles)
        found.sort(key=lambda g: (g.name.casefold(), g.group_id))
        return [GroupView(g, roles[g.group_id]) for g in found if user in g.members]

    def members(self, user: int, group_id: int) -> tuple[Group, list[Membership]]:
        group = self._load(group_id)
        self._require_member(group, user)
        listed = self._states.memberships(group.conversation)
        order = {u: i for i, u in enumerate(group.members)}
        current = [m for m in listed if m.user in order]
        return group, sorted(current, key=lambda m: order[m.user])

    # --- rules --------------------------------------------------------------------------

    def _check_size(self, size: int) -> None:
        if size > self._max:
            raise BadRequest(f"a group has at most {self._max} members")

    @staticmethod
    def _require_member(group: Group, user: int) -> None:
        if user not in group.members:
            raise Forbidden("you are not a member of this group")

    def _require_owner(self, group: Group, user: int) -> None:
        self._require_member(group, user)
        if group.owner != user:
            raise Forbidden("only the group's owner can change its members")

    def _load(self, group_id: int) -> Group:
        group = self._groups.group(group_id)
        if group is None:
            raise NotFound("no such group")
        return group

    def _change(self, group_id: int, actor: int, rule: _Rule) -> tuple[Group, Group]:
        for _ in range(_ATTEMPTS):
            group = self._load(group_id)
            wanted = rule(group)
            if wanted is None:
                return group, group  # nothing to change
            members, owner = wanted
            changed = self._groups.change_members(group, members, owner, self._clock())
            if changed is not None:
                count("GroupMembershipChanges")
                return group, changed
        raise Unavailable("the group is changing too fast; try again")

    def _tell(
        self,
        group: Group,
        event: GroupEvent,
        actor: int,
        users: list[int],
        audience: Sequence[int],
    ) -> None:
        frame = GroupFrame(
            event=event,
            group_id=group.group_id,
            conversation_id=str(ConversationId.group(group.group_id)),
            name=group.name,
            by=actor,
            user_ids=users,
        )
        self._delivery.push(self._delivery.audience(audience), frame)
