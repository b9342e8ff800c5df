"""Table writes that are durable before the source offset they came from is committed.

Faust sends a table's changelog records through its own producer buffer, whose flush gives up
after 0.1 s without progress, so an at-least-once commit could overtake a changelog write; after
a failover the new owner then restored a table without that write and never re-read the event
(the two-worker integration test caught it). Here the local store is written directly and the
changelog record goes through the processor's `Outputs`, which the agent flushes before it acks.
"""

from __future__ import annotations

import faust

from processors.outputs import Outputs


class DurableTable:
    """A Faust table read and written only by the agent that owns its partitions."""

    def __init__(self, table: faust.Table, outputs: Outputs) -> None:
        self.table = table
        self._outputs = outputs

    @property
    def changelog(self) -> str:
        """The name of the table's changelog topic."""
        return self.table.changelog_topic.get_topic_name()

    def get(self, key: str) -> bytes | None:
        """The value under `key` in this worker's store, or None."""
        return self.table.data.get(key)

    def _changelog_key(self, key: str) -> bytes:
        """The key as the table's serializer writes it to the changelog (its recovery reads it so)."""
        return self.table.changelog_topic.prepare_key(key, self.table.key_serializer)[0]

    def set(self, key: str, value: bytes, partition: int) -> None:
        """Store `value` locally and log it to the changelog partition of the source record."""
        self.table.data[key] = value
        self._outputs.send(self.changelog, self._changelog_key(key), value, partition=partition)

    def delete(self, key: str, partition: int) -> None:
        """Remove `key` locally and log a tombstone to the changelog."""
        if self.table.data.get(key) is not None:
            del self.table.data[key]
        self._outputs.send(self.changelog, self._changelog_key(key), None, partition=partition)
