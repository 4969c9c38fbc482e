"""Connection lifecycle: $disconnect unregisters; a connection that vanished without
$disconnect is pruned on the next push, and the message waits as unread."""

from __future__ import annotations

import time

import redis

from chalicelib.presence import Presence
from tests.e2e.support import Stack, new_user


def presence_of(stack: Stack) -> Presence:
    return Presence(redis.Redis.from_url(stack.extra["redis_url"], decode_responses=True))


def wait_until(check: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_connect_registers_and_disconnect_unregisters(local_stack: Stack) -> None:
    presence = presence_of(local_stack)
    user = new_user()
    chat, connection_id = local_stack.chat_tracked(user)
    assert presence.connections_of(user) == [connection_id]
    assert presence.user_of(connection_id) == user

    chat.close()
    assert wait_until(lambda: presence.connections_of(user) == [])
    assert presence.user_of(connection_id) is None


def test_stale_connection_is_pruned_on_next_push_and_message_stays_unread(
    local_stack: Stack,
) -> None:
    presence = presence_of(local_stack)
    a, b = new_user(), new_user()
    stale, stale_id = local_stack.chat_tracked(b)
    live, live_id = local_stack.chat_tracked(b)
    local_stack.drop(stale_id)  # gone, and no $disconnect ran
    assert sorted(presence.connections_of(b)) == sorted([stale_id, live_id])

    with local_stack.chat(a) as chat_a:
        ack = chat_a.send(b, "one device left")
        assert ack["type"] == "ack"
        assert live.expect("message")["message"]["id"] == ack["message_id"]

    assert presence.connections_of(b) == [live_id]
    assert presence.user_of(stale_id) is None
    assert [m["id"] for m in local_stack.all_unread(b)] == [ack["message_id"]]
    live.close()
    stale.close()


def test_only_stale_connections_means_the_message_waits_for_next_login(
    local_stack: Stack,
) -> None:
    presence = presence_of(local_stack)
    a, b = new_user(), new_user()
    stale, stale_id = local_stack.chat_tracked(b)
    local_stack.drop(stale_id)

    with local_stack.chat(a) as chat_a:
        ack = chat_a.send(b, "see you later")
    assert ack["type"] == "ack"
    assert presence.connections_of(b) == []
    stale.close()

    with local_stack.chat(b) as back_online:
        assert [m["id"] for m in local_stack.all_unread(b)] == [ack["message_id"]]
        assert back_online.pending() == []  # the backlog comes over REST, not pushed


def test_ping_puts_a_lost_connection_back_into_presence(local_stack: Stack) -> None:
    presence = presence_of(local_stack)
    a, b = new_user(), new_user()
    chat_b, b_id = local_stack.chat_tracked(b)
    presence.remove(b_id)  # as after a Redis failover that lost the entry
    chat_b.ping_signed_in(local_stack.token(b))
    assert presence.connections_of(b) == [b_id]
    with local_stack.chat(a) as chat_a:
        ack = chat_a.send(b, "found you again")
    assert chat_b.expect("message")["message"]["id"] == ack["message_id"]
    chat_b.close()
