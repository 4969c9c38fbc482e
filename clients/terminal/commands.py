"""The slash commands a user types, parsed into small values -- no I/O.

A line that starts with `/` (but not `//`) is a command; `parse_command` turns it into
one of the types below or raises `CommandError` with what to type instead.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from clients.terminal.messages import parse_group_id, parse_user_id


class CommandError(ValueError):
    """A line that is not a command as typed; the text says how to type it."""


@dataclass(frozen=True)
class OpenDirect:
    user: int


@dataclass(frozen=True)
class OpenGroup:
    group_id: int


@dataclass(frozen=True)
class NewGroup:
    name: str
    members: tuple[int, ...]


@dataclass(frozen=True)
class AddMembers:
    user_ids: tuple[int, ...]


@dataclass(frozen=True)
class RemoveMembers:
    user_ids: tuple[int, ...]


@dataclass(frozen=True)
class Leave:
    pass


@dataclass(frozen=True)
class Members:
    pass


@dataclass(frozen=True)
class Recall:
    seq: int | None  # None: your newest message in the open conversation


@dataclass(frozen=True)
class More:
    pass


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Quit:
    pass


Command = (
    OpenDirect
    | OpenGroup
    | NewGroup
    | AddMembers
    | RemoveMembers
    | Leave
    | Members
    | Recall
    | More
    | Help
    | Quit
)

HELP = (
    "/to <user id> talks to a user · /group <id> opens a group · Tab: the list (↑/↓, Enter)\n"
    "/new <name> <user ids…> creates a group · in a group: /add, /remove <user ids…>, "
    "/members, /leave\n"
    "/recall [n] recalls your last message (or #n) · /more or PageUp: older messages · "
    "//x sends /x · /quit"
)

USAGE = {
    "/to": "/to <user id>",
    "/group": "/group <group id>",
    "/new": "/new <name> <user ids…> (quote a name that ends in a number)",
    "/add": "/add <user ids…>",
    "/remove": "/remove <user ids…>",
    "/recall": "/recall [message number]",
}
ALIASES = {"/g": "/group", "/kick": "/remove", "/who": "/members", "/exit": "/quit"}


def _users(words: list[str], usage: str) -> tuple[int, ...]:
    if not words:
        raise CommandError(f"usage: {usage}")
    try:
        return tuple(dict.fromkeys(parse_user_id(w) for w in words))
    except ValueError as exc:
        raise CommandError(f"{exc}; usage: {usage}") from None


def _no_arguments(name: str, words: list[str]) -> None:
    if words:
        raise CommandError(f"{name} takes no arguments")


def parse_command(text: str) -> Command:
    name, _, rest = text.strip().partition(" ")
    name = ALIASES.get(name.lower(), name.lower())
    try:
        words = shlex.split(rest)
    except ValueError:
        raise CommandError("unbalanced quotes") from None
    usage = USAGE.get(name, name)
    if name in ("/to", "/group"):
        if len(words) != 1:
            raise CommandError(f"usage: {usage}")
        try:
            if name == "/to":
                return OpenDirect(parse_user_id(words[0]))
            return OpenGroup(parse_group_id(words[0]))
        except ValueError as exc:
            raise CommandError(f"{name}: {exc}") from None
    if name == "/new":
        # The trailing numbers are the members; the words before them, the name.
        split = len(words)
        while split > 0 and words[split - 1].isascii() and words[split - 1].isdigit():
            split -= 1
        group_name = " ".join(words[:split]).strip()
        if not group_name:
            raise CommandError(f"usage: {usage}")
        members = _users(words[split:], usage) if split < len(words) else ()
        return NewGroup(group_name, members)
    if name == "/add":
        return AddMembers(_users(words, usage))
    if name == "/remove":
        return RemoveMembers(_users(words, usage))
    if name == "/recall":
        if not words:
            return Recall(None)
        number = words[0].removeprefix("#")
        if len(words) != 1 or not (number.isascii() and number.isdigit()) or int(number) < 1:
            raise CommandError(f"usage: {usage}")
        return Recall(int(number))
    simple: dict[str, type[Leave | Members | More | Help | Quit]] = {
        "/leave": Leave,
        "/members": Members,
        "/more": More,
        "/help": Help,
        "/quit": Quit,
    }
    if name in simple:
        _no_arguments(name, words)
        return simple[name]()
    raise CommandError(f"unknown command {name}; /help lists them")
