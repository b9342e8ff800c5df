"""Start offsets of a generation: nothing is folded before its partitions are positioned."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from processors.positions import StartOffsets, starts_after_seek, unsought


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


@given(st.dictionaries(st.integers(0, 20), st.one_of(st.none(), st.integers(1, 10**6))),
       st.lists(st.integers(0, 20), unique=True))
def test_every_partition_gets_a_start_and_only_unsought_ones_need_the_earliest(
        committed: dict[int, int | None], partitions: list[int]) -> None:
    earliest = {tp: 5 for tp in unsought(partitions, committed)}
    starts = starts_after_seek(partitions, committed, earliest)
    assert set(starts) == set(partitions)
    assert all(starts[tp] == (committed.get(tp) or 5) for tp in partitions)
