"""Start offsets of a generation: nothing is folded before its partitions are positioned."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from processors.runtime.positions import StartOffsets, starts_after_seek, unsought


def test_records_of_a_generation_wait_until_it_is_positioned() -> None:
    starts = StartOffsets()
    assert not starts.positioned(1) and not starts.positioned(None)
    starts.settle(1, {"a": 10})
    assert starts.positioned(1) and starts.start("a") == 10 and starts.start("b") is None
    assert not starts.positioned(2)  # a newer generation: not positioned until its own seek is done
    starts.settle(2, {"b": 3})
    assert not starts.positioned(1) and starts.start("a") is None and starts.start("b") == 3


def test_partitions_without_a_commit_above_zero_start_at_their_earliest_offset() -> None:
    committed = {"a": 120, "b": None}  # Faust keeps None for a commit at 0; "c" has none at all
    assert unsought(["a", "b", "c"], committed) == ["b", "c"]
    assert starts_after_seek(["a", "b", "c"], committed, {"b": 0, "c": 7}) == {"a": 120, "b": 0, "c": 7}


COMMIT_STATES = st.one_of(
    st.tuples(st.just("committed"), st.integers(1, 10**6)),
    st.tuples(st.sampled_from(["committed at 0", "None", "missing"]), st.just(0)),
)


@given(st.dictionaries(st.integers(0, 20), st.tuples(COMMIT_STATES, st.integers(0, 10**6)), max_size=12))
def test_a_partition_starts_at_its_own_commit_or_else_at_its_own_earliest_offset(
        cases: dict[int, tuple[tuple[str, int], int]]) -> None:
    """Each partition's case is drawn first; the expected start follows from the case, not from the code.

    The earliest offsets differ per partition and are given only for the partitions `unsought`
    names, so reading another partition's earliest offset, or any earliest offset for a partition
    that has a commit, fails.
    """
    committed: dict[int, int | None] = {}
    for tp, ((state, offset), _earliest) in cases.items():
        if state != "missing":
            committed[tp] = {"committed": offset, "committed at 0": 0, "None": None}[state]
    partitions = list(cases)
    needs_earliest = unsought(partitions, committed)
    assert needs_earliest == [tp for tp, ((state, _), _) in cases.items() if state != "committed"]
    starts = starts_after_seek(partitions, committed, {tp: cases[tp][1] for tp in needs_earliest})
    expected = {tp: offset if state == "committed" else earliest
                for tp, ((state, offset), earliest) in cases.items()}
    assert starts == expected
