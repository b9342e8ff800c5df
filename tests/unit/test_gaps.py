"""The gap guard: records reach the fold in offset order; a hole is rewound, not skipped."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.runtime.gaps import MAX_REWINDS, REWIND_INTERVAL_SECONDS, GapGuard
from tests.reach import reach_checked, reached


def test_contiguous_records_are_all_admitted_from_the_start_offset() -> None:
    guard = GapGuard()
    assert [guard.admit("p", 1, offset, start=5) for offset in range(5, 10)] == [True] * 5
    assert guard.position("p", 1) == 10 and guard.rewinds(0.0) == {}


def test_a_record_past_a_hole_is_held_back_and_the_partition_rewound_to_the_hole() -> None:
    guard = GapGuard()
    assert guard.admit("p", 1, 3, start=3)
    assert not guard.admit("p", 1, 7, start=3)  # 4, 5, 6 missing
    assert not guard.admit("p", 1, 8, start=3)
    assert guard.rewinds(0.0) == {"p": 4}
    assert guard.rewinds(0.0) == {}
    assert [guard.admit("p", 1, offset, start=3) for offset in (4, 5, 6, 7, 8)] == [True] * 5


def test_the_first_record_of_a_generation_is_checked_against_the_committed_offset() -> None:
    guard = GapGuard()
    assert not guard.admit("p", 2, 12, start=10)
    assert guard.rewinds(0.0) == {"p": 10}
    assert guard.admit("p", 2, 10, start=10)


def test_a_new_generation_starts_over_and_an_unknown_start_admits_anything() -> None:
    guard = GapGuard()
    assert guard.admit("p", 1, 0, start=None) and guard.admit("p", 1, 1, start=None)
    assert guard.admit("p", 2, 40, start=None)  # reassigned: nothing known about the position
    assert guard.position("p", 1) is None and guard.position("p", 2) == 41


def test_rereads_of_earlier_records_are_admitted() -> None:
    guard = GapGuard()
    for offset in range(0, 5):
        guard.admit("p", 1, offset, start=0)
    assert guard.admit("p", 1, 2, start=0)  # a re-read after a seek: folding again is harmless
    assert guard.position("p", 1) == 3


def test_a_hole_that_stays_is_accepted_after_max_rewinds_seeks() -> None:
    guard = GapGuard()
    guard.admit("p", 1, 0, start=0)
    for seek in range(MAX_REWINDS):
        assert not guard.admit("p", 1, 5, start=0)
        assert guard.rewinds(seek * REWIND_INTERVAL_SECONDS) == {"p": 1}
    assert guard.admit("p", 1, 5, start=0)
    assert guard.accepted == [("p", 1, 5)]


def test_records_buffered_before_a_seek_do_not_use_up_the_seeks() -> None:
    """A burst of held-back records asks for one seek per interval, not one per batch."""
    guard = GapGuard()
    guard.admit("p", 1, 0, start=0)
    sought = []
    for batch in range(3 * MAX_REWINDS):
        assert not guard.admit("p", 1, 5 + batch, start=0)
        sought.append(guard.rewinds(batch * 0.01))
    assert sought[0] == {"p": 1} and all(due == {} for due in sought[1:])
    assert not guard.admit("p", 1, 40, start=0)  # still held back: the re-read has not arrived yet
    assert guard.rewinds(REWIND_INTERVAL_SECONDS) == {"p": 1}
    assert [guard.admit("p", 1, offset, start=0) for offset in range(1, 6)] == [True] * 5
    assert guard.accepted == []


def test_a_filled_hole_starts_counting_afresh() -> None:
    guard = GapGuard()
    guard.admit("p", 1, 0, start=0)
    for seek in range(MAX_REWINDS - 1):
        guard.admit("p", 1, 3, start=0)
        guard.rewinds(float(seek))
    assert guard.admit("p", 1, 1, start=0) and guard.admit("p", 1, 2, start=0)
    guard.admit("p", 1, 3, start=0)
    guard.admit("p", 1, 4, start=0)
    for seek in range(MAX_REWINDS - 1):  # a new hole at the same partition gets all its seeks
        assert not guard.admit("p", 1, 9, start=0)
        guard.rewinds(100.0 + seek)
    assert guard.accepted == []


# where a run of reads starts (see the test); holes and seeks twice as often as the others
MOVES = ["next", "skip", "skip", "seek", "seek", "back"]


@reach_checked()
@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from(MOVES), st.integers(min_value=1, max_value=4)), min_size=6, max_size=30))
def test_every_admitted_record_follows_the_previous_one_or_rereads(runs: list[tuple[str, int]]) -> None:
    """Law: an admitted offset never jumps past an unfolded one, unless that hole was given up on.

    A consumer reads runs of consecutive offsets, one run a second: from where it stopped (next),
    past a hole (skip), from where the guard last asked it to seek (seek), or from earlier (back).
    Examples count where a record is admitted after some were held back.
    """
    guard = GapGuard()
    folded: set[int] = set()
    position, sought, held_back = 0, 0, False
    for second, (move, length) in enumerate(runs):
        first = {"next": position, "skip": position + length, "seek": sought, "back": max(0, position - length)}[move]
        for offset in range(first, first + length):
            if guard.admit("p", 1, offset, start=0):
                given_up = {hole for _, missing, present in guard.accepted for hole in range(missing, present)}
                if held_back:
                    reached()
                assert all(earlier in folded or earlier in given_up for earlier in range(offset))
                folded.add(offset)
            else:
                held_back = True
        position = first + length
        sought = guard.rewinds(float(second)).get("p", sought)
