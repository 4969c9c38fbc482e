"""The conversation data model's rules, as plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.chat.domain import EXTRA_MAX, ConversationId, Kind, ReadState
from chalicelib.errors import BadRequest

T0 = datetime(2026, 11, 27, tzinfo=UTC)


def at(seq: int) -> datetime:
    return T0 + timedelta(seconds=seq)


class TestConversationId:
    def test_a_pair_has_one_id_whoever_writes(self) -> None:
        assert ConversationId.direct(9, 3) == ConversationId.direct(3, 9)
        assert str(ConversationId.direct(9, 3)) == "d:3:9"
        assert ConversationId.direct(3, 9).peer_of(3) == 9
        assert ConversationId.direct(5, 5).participants() == (5,)

    @pytest.mark.parametrize(
        "text", ["d:3:9", "d:5:5", "g:1", "g:9007199254740991", f"d:1:{2**63 - 1}"]
    )
    def test_ids_round_trip(self, text: str) -> None:
        assert str(ConversationId.parse(text)) == text

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "d:9:3",
            "d:0:3",
            "d:03:9",
            "g:0",
            "g:9007199254740992",
            "x:1",
            "d:1",
            "g:1 ",
            f"d:1:{2**63}",
            "D:1:2",
            "g:-1",
            "d:1:2:3",
        ],
    )
    def test_malformed_ids_are_bad_requests(self, text: str) -> None:
        with pytest.raises(BadRequest):
            ConversationId.parse(text)

    def test_groups_and_pairs_differ(self) -> None:
        g = ConversationId.group(7)
        assert g.kind is Kind.GROUP and g.is_group and not g.includes(7)
        with pytest.raises(ValueError, match="stored"):
            g.participants()


class TestReadState:
    def test_unread_count_is_what_lies_above_the_position_and_not_read(self) -> None:
        state = ReadState(read_seq=3, extra=(5, 6))
        assert state.unread_count(10) == 5  # 4, 7, 8, 9, 10
        assert state.unread_count(3) == 0
        assert state.unread_count(5) == 1  # only 4: extras above max_seq don't count

    def test_reading_out_of_order_joins_the_position_when_contiguous(self) -> None:
        state = ReadState().with_read([3, 2], {2: at(2), 3: at(3)})
        assert (state.read_seq, state.extra, state.read_at) == (0, (2, 3), None)
        state = state.with_read([1], {1: at(1)})
        assert (state.read_seq, state.extra, state.read_at) == (3, (), at(1))
        assert state.has_read(2) and not state.has_read(4)

    def test_read_up_to_a_seq_keeps_what_was_read_above_it(self) -> None:
        state = ReadState(2, (6, 9)).up_to(5, {5: at(5)})
        assert (state.read_seq, state.extra, state.read_at) == (6, (9,), at(5))
        assert state.up_to(4) == state  # never backwards

    def test_newly_read_names_only_the_changes(self) -> None:
        before = ReadState(2, (4,))
        after = before.with_read([3, 4, 5, 1])
        assert after.newly_read(before, [1, 3, 4, 5]) == [3, 5]

    def test_read_at_only_moves_forward(self) -> None:
        state = ReadState(5, (), at(5)).with_read([6], {6: at(1)})
        assert state.read_at == at(5)

    def test_extras_stay_bounded(self) -> None:
        odd = range(3, 4 * EXTRA_MAX, 2)  # every other message read: nothing contiguous
        state = ReadState().with_read(odd)
        assert len(state.extra) == EXTRA_MAX and state.extra == tuple(odd[-EXTRA_MAX:])
        assert state.read_seq == odd[-EXTRA_MAX - 1]

    def test_settled_is_the_canonical_form(self) -> None:
        assert ReadState(3, (4, 5, 8)).settled() == ReadState(5, (8,))
