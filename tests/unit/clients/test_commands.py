"""What the terminal client makes of a typed /command."""

from __future__ import annotations

import pytest

from clients.terminal.commands import (
    AddMembers,
    CommandError,
    Help,
    Leave,
    Members,
    More,
    NewGroup,
    OpenDirect,
    OpenGroup,
    Quit,
    Recall,
    RemoveMembers,
    parse_command,
)


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        ("/to 7", OpenDirect(7)),
        ("/group 42", OpenGroup(42)),
        ("/g g:42", OpenGroup(42)),
        ("/new team 2 3 2", NewGroup("team", (2, 3))),
        ("/new book club 7", NewGroup("book club", (7,))),
        ('/new "plans 2027" 7', NewGroup("plans 2027", (7,))),
        ("/new solo", NewGroup("solo", ())),
        ("/add 4 5", AddMembers((4, 5))),
        ("/remove 4", RemoveMembers((4,))),
        ("/kick 4", RemoveMembers((4,))),
        ("/leave", Leave()),
        ("/members", Members()),
        ("/recall", Recall(None)),
        ("/recall 12", Recall(12)),
        ("/recall #12", Recall(12)),
        ("/more", More()),
        ("/help", Help()),
        ("/QUIT", Quit()),
    ],
)
def test_commands(typed: str, command: object) -> None:
    assert parse_command(typed) == command


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("/to", "usage: /to <user id>"),
        ("/to 0", "user id"),
        ("/to 1 2", "usage"),
        ("/group x", "group id"),
        ("/new 2 3", "usage: /new"),
        ("/new 'open", "unbalanced quotes"),
        ("/add", "usage: /add"),
        ("/add 1 x", "user id"),
        ("/recall last", "usage: /recall"),
        ("/recall 0", "usage"),
        ("/leave now", "takes no arguments"),
        ("/frobnicate", "unknown command /frobnicate"),
    ],
)
def test_mistyped_commands_say_how(typed: str, says: str) -> None:
    with pytest.raises(CommandError, match=says):
        parse_command(typed)
