"""Records must reach the fold in offset order with none missing: a gap is rewound, not skipped.

faust-streaming can hand the fold a record past a hole: a record prefetched before a seek to the
committed offset (faust-streaming issue 221), or records its consumer drops as "already read"
after a seek. Faust then counts the hole as done and commits over it, and the events in it are
never folded. On a topic with no gaps of its own (delete policy, no transactions) the processor
therefore skips every record after a hole, without acking it (an acked record one past Faust's
committed offset lets it commit over the hole), seeks the partition back to the first missing
offset, and folds from there. Should the hole be real after all (a transactional producer's
markers), it is accepted after `MAX_REWINDS` seeks, with a warning. Faust keeps handing over records it had
buffered before a seek, so one seek is not proof, and neither are many seeks in a row: seeks to one
hole are spaced `REWIND_INTERVAL_SECONDS` apart (a burst of buffered records once used up every
seek in a tenth of a second, and the hole was "accepted" before the re-read arrived). The compacted
identity-links topic gets the same patience, though holes are normal where its log was cleaned.
Cleaned segments lie behind the processor's committed offset unless it lagged for longer than the
topic's segment and compaction times; then each cleaned hole costs about `MAX_REWINDS` seconds once.
The guard is pure: the caller passes the time.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

Partition = TypeVar("Partition", bound=Hashable)

MAX_REWINDS = 10  # seeks back to one hole before it is taken as real
REWIND_INTERVAL_SECONDS = 1.0  # between two seeks back to the same hole


class GapGuard(Generic[Partition]):
    """Per partition and rebalance generation, the next offset the fold expects."""

    def __init__(self) -> None:
        self._next: dict[Partition, tuple[int, int]] = {}
        self._due: dict[Partition, int] = {}
        self._sought: dict[tuple[Partition, int], tuple[int, float]] = {}  # hole -> (seeks, time of the last)
        self.accepted: list[tuple[Partition, int, int]] = []  # (partition, first missing, next present)

    def admit(self, partition: Partition, generation: int, offset: int, start: int | None) -> bool:
        """Whether to fold the record at `offset`; False when records before it are missing.

        `start` is where the partition was positioned when assigned (its committed offset), used
        for the first record of a generation; None when unknown.
        """
        known = self._next.get(partition)
        expected = known[1] if known is not None and known[0] == generation else start
        if expected is not None and offset > expected:
            if self._sought.get((partition, expected), (0, 0.0))[0] < MAX_REWINDS:
                self._next[partition] = (generation, expected)
                self._due[partition] = expected
                return False
            self.accepted.append((partition, expected, offset))
        if expected is not None and offset >= expected:  # the hole, if there was one, is behind us
            self._sought.pop((partition, expected), None)
        self._next[partition] = (generation, offset + 1)
        return True

    def position(self, partition: Partition, generation: int) -> int | None:
        """The next offset expected on `partition` in `generation`, if any record was seen."""
        known = self._next.get(partition)
        return known[1] if known is not None and known[0] == generation else None

    def rewinds(self, now: float) -> dict[Partition, int]:
        """The partitions to seek back at time `now` (seconds), and where to; each counts as one seek.

        A hole sought less than `REWIND_INTERVAL_SECONDS` ago stays due for a later call.
        """
        due: dict[Partition, int] = {}
        for partition, offset in list(self._due.items()):
            hole = (partition, offset)
            seeks, last = self._sought.get(hole, (0, None))
            if last is not None and now - last < REWIND_INTERVAL_SECONDS:
                continue
            del self._due[partition]
            self._sought[hole] = (seeks + 1, now)
            due[partition] = offset
        return due
