"""Records must reach the fold in offset order with none missing: a gap is rewound, not skipped.

faust-streaming can hand the agent a record past a hole: a record prefetched before a seek to the
committed offset (faust-streaming issue 221), or records its consumer drops as "already read"
after a seek. Faust then counts the hole as done and commits over it, and the events in it are
never folded. On a topic with no gaps of its own (delete policy, no transactions) the processor
therefore skips every record after a hole, seeks the partition back to the first missing offset,
and folds from there. Should the hole be real after all (a transactional producer's markers), it
is accepted after `MAX_REWINDS` seeks, with a warning. Faust keeps handing over records it had
buffered before a seek, so one seek is not proof: the compacted identity-links topic gets the same
patience, though holes are normal where its log was cleaned. Cleaned segments lie behind the
processor's committed offset unless it lagged for longer than the topic's segment and compaction
times; then each cleaned hole costs up to `MAX_REWINDS` seeks once.
"""

from __future__ import annotations

from collections.abc import Hashable

MAX_REWINDS = 50  # seeks back to one hole before it is taken as real


class GapGuard:
    """Per partition and rebalance generation, the next offset the fold expects."""

    def __init__(self) -> None:
        self._next: dict[Hashable, tuple[int, int]] = {}
        self._due: dict[Hashable, int] = {}
        self._seeks: dict[tuple[Hashable, int], int] = {}
        self.accepted: list[tuple[Hashable, int, int]] = []  # (partition, first missing, next present)

    def admit(self, partition: Hashable, generation: int, offset: int, start: int | None) -> bool:
        """Whether to fold the record at `offset`; False when records before it are missing.

        `start` is where the partition was positioned when assigned (its committed offset), used
        for the first record of a generation; None when unknown.
        """
        known = self._next.get(partition)
        expected = known[1] if known is not None and known[0] == generation else start
        if expected is not None and offset > expected:
            if self._seeks.get((partition, expected), 0) < MAX_REWINDS:
                self._next[partition] = (generation, expected)
                self._due[partition] = expected
                return False
            self.accepted.append((partition, expected, offset))
        self._next[partition] = (generation, offset + 1)
        return True

    def position(self, partition: Hashable, generation: int) -> int | None:
        """The next offset expected on `partition` in `generation`, if any record was seen."""
        known = self._next.get(partition)
        return known[1] if known is not None and known[0] == generation else None

    def rewinds(self) -> dict[Hashable, int]:
        """The partitions to seek back now, and where to; each call counts as one seek per hole."""
        due, self._due = self._due, {}
        for partition, offset in due.items():
            self._seeks[(partition, offset)] = self._seeks.get((partition, offset), 0) + 1
        return due
