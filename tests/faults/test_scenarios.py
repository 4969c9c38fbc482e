"""Faults during traffic through the local gateway, each asserted as a user would check
it: every acknowledged message is in the recipient's unread exactly once, nothing is
acknowledged that is not stored, and the answers while degraded are the documented
ones. The drivers are tests/faults/scenarios.py (bench/faults.py runs the same ones
for docs/reliability.md); no timing is asserted here."""

from __future__ import annotations

import pytest

from tests.faults import scenarios
from tests.faults.scenarios import Audit, Outcome
from tests.faults.stack import FaultStack

pytestmark = pytest.mark.slow


def assert_exactly_once(outcome: Outcome) -> Audit:
    """Acked => stored exactly once under the acked id; no false ack."""
    found = outcome.audit
    assert found.lost == 0, f"acknowledged but not stored: {found}"
    assert found.mismatched == 0, f"acknowledged with another message's id: {found}"
    assert found.duplicated == 0, f"stored more than once: {found}"
    return found


def test_redis_killed_mid_stream_and_restarted_empty(faults: FaultStack) -> None:
    outcome = scenarios.redis_killed_mid_stream(faults, count=60)
    found = assert_exactly_once(outcome)
    # Every send was acknowledged, those during the outage too (the limiter fails open).
    assert [a.what for a in outcome.attempts] == ["ack"] * len(outcome.attempts)
    assert outcome.degraded, "the outage fell between two sends"
    assert found.acked == found.stored == len(outcome.attempts)
    # After the restart the recipient's keep-alive brought its pushes back: pong, or
    # `unauthorized` and a new `auth` (or `unavailable` while a breaker cools down).
    tries = outcome.notes["sign_in_again"]
    assert tries[-1].what == "pong"
    assert {t.what for t in tries[:-1]} <= {"error unavailable"}
    # ... and no message was pushed twice (the probe after the restart was pushed).
    assert max(outcome.notes["pushes"].values()) == 1


def test_mongodb_paused_mid_send_then_resumed(faults: FaultStack) -> None:
    # Paused longer than the app's driver waits for an answer (socketTimeoutMS, 10 s):
    # a shorter pause only delays the send it caught, which is then acknowledged.
    outcome = scenarios.mongo_paused_mid_send(faults, count=40, pause_s=12.0)
    found = assert_exactly_once(outcome)
    # While paused the stack answered, and only with `unavailable` (never a hang to
    # the client's timeout, never an ack); it refused something, so a resend was due.
    assert outcome.degraded
    assert {o.what for o in outcome.degraded} <= {"ack", "error unavailable"}
    assert "error unavailable" in {o.what for o in outcome.degraded}
    assert outcome.notes["unacked_before_resend"] > 0
    # The resends with the same ack_ids were all acknowledged, each stored once.
    assert outcome.attempts and not [a for a in outcome.attempts if a.what == "no answer"]
    sent = {a.ack_id for a in outcome.attempts}
    assert found.acked == found.stored == len(sent)
    assert max(outcome.notes["pushes"].values()) == 1


def test_mongodb_down_on_rest(faults: FaultStack) -> None:
    outcome = scenarios.mongo_down_on_rest(faults, rounds=2)
    assert_exactly_once(outcome)
    for name, status, body in outcome.notes["answers"]:
        assert status == 503, (name, status, body)
        assert isinstance(body, dict) and isinstance(body["error"], str) and body["error"]
    # Nothing changed: the refused mark-reads left unread as it was, the refused send
    # stored nothing; after the restart everything is there.
    assert outcome.notes["unread_after"] == outcome.notes["unread_before"]
    assert len(outcome.notes["unread_before"]) == 3
    assert not outcome.notes["refused_send_stored"]
    assert outcome.recover_s is not None, "REST did not come back after the restart"


def test_whole_stack_killed_and_restarted_on_the_same_data(
    durable_faults: FaultStack,
) -> None:
    outcome = scenarios.whole_stack_killed(durable_faults, count=60)
    found = assert_exactly_once(outcome)
    # Acknowledged before the kill => there after the restart; the sends the kill left
    # unanswered were sent again and are stored once; unread is complete.
    sent = {a.ack_id for a in outcome.attempts}
    assert found.acked == found.stored == len(sent)
    assert not [a for a in outcome.attempts if a.what.startswith("error")]
    # While down, the client could not connect at all (no half-working stack).
    assert outcome.degraded[-1].what.startswith("connect: ")


def test_abrupt_disconnect_churn(faults: FaultStack) -> None:
    outcome = scenarios.disconnect_churn(faults, recipients=4, doomed=5, per_sender=80)
    found = assert_exactly_once(outcome)
    assert [a.what for a in outcome.attempts] == ["ack"] * len(outcome.attempts)
    assert found.acked == found.stored == len(outcome.attempts)
    # Every connection that stayed got each of its user's messages pushed exactly once.
    for connection_id, expected in outcome.notes["expected_pushes"].items():
        assert outcome.notes["pushed"][connection_id] == expected, connection_id
    # The dead are pruned: presence holds exactly the live connections.
    assert outcome.notes["present"] == outcome.notes["live"]
    # And it stayed responsive: each live connection answered a ping.
    assert [o.what for o in outcome.degraded if o.what != "ack"] == ["pong"] * 8
