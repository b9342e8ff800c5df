"""The redelivery window: records present at (re)assignment may be redeliveries; later ones not."""

from __future__ import annotations

from processors.runtime.redelivery import RedeliveryWindow


def test_the_window_ends_at_the_partition_end_seen_first_in_each_generation() -> None:
    ends = {"p0": 10}
    lookups: list[str] = []

    def end_offset(partition: str) -> int | None:
        lookups.append(partition)
        return ends[partition]

    window = RedeliveryWindow(end_offset)
    answers = [window.contains("p0", 1, offset) for offset in (3, 9, 10, 11)]
    ends["p0"] = 20  # more records arrive; the same generation keeps its window
    answers.append(window.contains("p0", 1, 15))
    answers.append(window.contains("p0", 2, 15))  # a rebalance opens a new window
    assert answers == [True, True, False, False, False, True]
    assert lookups == ["p0", "p0"]


def test_an_unknown_end_treats_every_record_as_a_possible_redelivery() -> None:
    assert RedeliveryWindow(lambda partition: None).contains("p", 1, 10**9)

