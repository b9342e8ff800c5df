"""Which records may be redeliveries of work whose outputs never reached Kafka.

At least once means: after a crash or a rebalance, a partition is read again from its last
committed offset, and the records between that offset and the partition's end at the time it
was (re)assigned may already have been folded into the local or restored state, while the
profile, changelog or identity records they caused were still in the dead worker's producer
buffer. Folding such a record again changes nothing, so "emit only on change" would never
resend those outputs. Inside this *redelivery window* the processor re-emits the current
outputs even when the fold reports no change; past it, an unchanged fold is a true duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Partition = TypeVar("Partition", bound=Hashable)


class RedeliveryWindow(Generic[Partition]):
    """Per partition and rebalance generation, the end offset at the first record read."""

    def __init__(self, end_offset: Callable[[Partition], int | None]) -> None:
        self._end_offset = end_offset
        self._ends: dict[Partition, tuple[int, int | None]] = {}

    def contains(self, partition: Partition, generation: int, offset: int) -> bool:
        """Whether the record at `offset` was on the partition when it was (re)assigned."""
        known = self._ends.get(partition)
        if known is None or known[0] != generation:
            known = self._ends[partition] = (generation, self._end_offset(partition))
        end = known[1]
        return end is None or offset < end
