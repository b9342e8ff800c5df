"""Table writes that are durable before the source offset they came from is committed.

Faust sends a table's changelog records through its producer buffer, and that buffer's flush
gives up after 0.1 s without progress, so an at-least-once commit can overtake a changelog
write. After a failover the new owner then restores a table without that write and never
re-reads the event: an event silently missing from a profile (the two-worker integration test
caught it). Here the local store is written directly and the changelog record goes straight to
the Kafka producer, whose flush Faust awaits before every offset commit.
"""

from __future__ import annotations

import faust
from faust.types import EventT
from faust.streams import current_event


class DurableTable:
    """A Faust table read and written only from inside the agent that owns its partitions."""

    def __init__(self, table: faust.Table) -> None:
        self.table = table

    def get(self, key: str) -> bytes | None:
        """The value under `key` on the current event's partition, or None."""
        return self.table.data.get(key)

    async def set(self, key: str, value: bytes) -> None:
        """Store `value` locally and log it to the changelog before the offset may commit."""
        self.table.data[key] = value
        await self._log(key, value)

    async def delete(self, key: str) -> None:
        """Remove `key` locally and log a tombstone to the changelog."""
        if self.table.data.get(key) is not None:
            del self.table.data[key]
        await self._log(key, None)

    async def _log(self, key: str, value: bytes | None) -> None:
        event: EventT | None = current_event()
        if event is None:
            raise RuntimeError("table writes must happen while processing an event")
        await self.table.changelog_topic.send(
            key=key,
            value=value,
            partition=event.message.partition,
            key_serializer=self.table.key_serializer,
            value_serializer=self.table.value_serializer,
        )
