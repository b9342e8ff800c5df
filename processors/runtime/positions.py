"""Where each source partition starts reading in the current rebalance generation.

After a rebalance Faust seeks the new assignment to its committed offsets (`perform_seek`), but
its fetcher may already hand the fold records fetched before that seek finished, and until it
finishes Faust does not know the committed offsets either (the gap guard then had no start and
once pinned a wrong one). Besides, the client seeks only partitions whose committed offset is
above 0; the others keep whatever position it had. So the processor wraps `perform_seek`: once it
is done, partitions without a commit are sought to their earliest offset too, and the start of
every source partition is known. Until then the fold takes nothing of that generation: it holds
each record back unacked, to be read again from the position the seek sets.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Generic, TypeVar

Partition = TypeVar("Partition", bound=Hashable)


class StartOffsets(Generic[Partition]):
    """The start offset of each source partition, known once the generation is positioned."""

    def __init__(self) -> None:
        self._generation: int | None = None
        self._starts: dict[Partition, int] = {}

    def settle(self, generation: int, starts: Mapping[Partition, int]) -> None:
        """Record that `generation`'s partitions are positioned at `starts`."""
        self._generation, self._starts = generation, dict(starts)

    def positioned(self, generation: int | None) -> bool:
        """Whether records of `generation` may be folded: its partitions are positioned."""
        return generation is not None and generation == self._generation

    def start(self, partition: Partition) -> int | None:
        """Where `partition` started in the positioned generation (None: not one of its partitions)."""
        return self._starts.get(partition)


def starts_after_seek(partitions: Iterable[Partition], committed: Mapping[Partition, int | None],
                      earliest: Mapping[Partition, int]) -> dict[Partition, int]:
    """Each partition's start: its committed offset, or its earliest offset when nothing above 0 is committed.

    `committed` is Faust's view, where None (or a missing key) stands for "nothing committed" and
    for a commit at 0; `earliest` must hold every partition without a commit above 0.
    """
    return {tp: committed.get(tp) or earliest[tp] for tp in partitions}


def unsought(partitions: Iterable[Partition], committed: Mapping[Partition, int | None]) -> list[Partition]:
    """The partitions the client did not seek: no committed offset above 0."""
    return [tp for tp in partitions if not committed.get(tp)]
