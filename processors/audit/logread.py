"""Reading the log for audits: one partition or whole topics, from the start to the end offsets.

Partitions are assigned and read from their low watermark (assign + seek; no consumer group
joins, no commits), up to the end offset taken when the read starts, so a read always ends.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from prefstream.core.kafka import consumer_config, partition_for, position, quiet_logger
from prefstream.core.settings import Settings
from prefstream.core.topics import CUSTOMER_EVENTS, EVENTS, IDENTITY_LINKS, PROFILES, KafkaUnreachable
from prefstream.errors import EXIT_SETUP, PrefstreamError
from processors.audit.replay import LogRecord, Role

BATCH = 10_000
_NO_LEADER_YET = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.UNKNOWN_TOPIC_OR_PART}


class MissingTopic(PrefstreamError):
    """A topic the audit needs does not exist."""

    exit_code = EXIT_SETUP


@dataclass(frozen=True)
class Topics:
    """The topic names an audit reads (injectable, so tests can use topics of their own)."""

    events: str = EVENTS
    customer_events: str = CUSTOMER_EVENTS
    profiles: str = PROFILES
    identity_links: str = IDENTITY_LINKS

    def of(self, role: Role) -> str:
        """The topic that holds records of `role`."""
        return self.events if role == "events" else self.customer_events


class LogReader:
    """A consumer that reads partitions from their start to their current end offset."""

    def __init__(self, settings: Settings, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self.consumer = Consumer(consumer_config(
            settings, f"prefstream-audit-{uuid.uuid4().hex}", logger=quiet_logger(),
            **{"enable.auto.offset.store": False, "fetch.max.bytes": 64 * 1024 * 1024,
               "max.partition.fetch.bytes": 16 * 1024 * 1024},
        ))
        try:
            self.topics = self.consumer.list_topics(timeout=timeout).topics
        except KafkaException:
            self.consumer.close()
            raise KafkaUnreachable(f"Kafka at {settings.bootstrap_servers} did not answer within {timeout:.0f} s") from None

    def close(self) -> None:
        """Leave the cluster (no group was joined, nothing is committed)."""
        self.consumer.close()

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def partitions(self, topic: str, required: bool = True) -> int:
        """The partition count of `topic`; 0 when it does not exist and is not required."""
        metadata = self.topics.get(topic)
        if metadata is None or metadata.error is not None:
            if required:
                raise MissingTopic(f"topic {topic} does not exist (run: prefstream topics create)")
            return 0
        return len(metadata.partitions)

    def partition_of(self, topic: str, key: str) -> int | None:
        """The partition of `key` in `topic` (Kafka's murmur2), or None when the topic does not exist."""
        count = self.partitions(topic, required=False)
        return partition_for(key, count) if count else None

    def extent(self, topic: str, partition: int) -> tuple[int, int]:
        """(low watermark, end offset) of one partition; a leader still being elected (a topic just
        created) is waited for, up to the timeout."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return self.consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=self.timeout)
            except KafkaException as error:
                code = error.args[0].code()
                if code not in _NO_LEADER_YET or time.monotonic() > deadline:
                    raise KafkaUnreachable(f"no offsets for {topic} partition {partition}: {error.args[0].str()}") from None
                time.sleep(0.2)

    def read(self, topic: str, partitions: list[int],
             on_batch: Callable[[int], None] = lambda n: None) -> Iterator[tuple[int, int, bytes | None, bytes | None, int]]:
        """(partition, offset, key, value, timestamp ms) of every record up to the end offsets now."""
        extents = {p: self.extent(topic, p) for p in partitions}
        ends = {p: high for p, (_, high) in extents.items()}
        todo = {p for p, (low, high) in extents.items() if high > low}
        if not todo:
            return
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(todo)])
        try:
            stalled = time.monotonic() + self.timeout
            while todo:
                batch = self.consumer.consume(BATCH, timeout=0.05)
                if not batch:
                    if time.monotonic() > stalled:
                        raise KafkaUnreachable(f"no records from {topic} within {self.timeout:.0f} s before its end offsets")
                    continue
                stalled = time.monotonic() + self.timeout
                for message in batch:
                    if message.error() is not None:
                        continue
                    _, partition, offset = position(message)
                    if partition in todo and offset < ends[partition]:
                        yield partition, offset, message.key(), message.value(), message.timestamp()[1]
                    if offset >= ends[partition] - 1:
                        todo.discard(partition)
                on_batch(len(batch))
        finally:
            self.consumer.unassign()

    def records(self, role: Role, topic: str, partitions: list[int],
                on_batch: Callable[[int], None] = lambda n: None) -> Iterator[LogRecord]:
        """The records of `partitions` of `topic` as LogRecords (keys as text)."""
        for partition, offset, key, value, timestamp in self.read(topic, partitions, on_batch):
            yield LogRecord(role, topic, partition, offset, (key or b"").decode("utf-8", "replace"), value, timestamp)

    def latest(self, topic: str, on_batch: Callable[[int], None] = lambda n: None) -> dict[str, bytes | None]:
        """The latest value per key of a (compacted) topic; None for a tombstone."""
        count = self.partitions(topic)
        return {(key or b"").decode("utf-8", "replace"): value for _, _, key, value, _ in self.read(topic, list(range(count)), on_batch)}

    def remaining(self, topic: str) -> int:
        """How many records a full read of `topic` goes through (0 when it does not exist)."""
        return sum(high - low for low, high in (self.extent(topic, p) for p in range(self.partitions(topic, required=False))))
