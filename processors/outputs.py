"""Every record the processor writes, through one confluent-kafka producer, durable before an ack.

The agent folds a batch of source records, sends their outputs here (profiles, tombstones,
identity links, re-keyed events, changelog records, dead letters) without waiting for each, then
awaits `flush()`: only when the broker has acknowledged every output of the batch are the source
records acked, so Faust can never commit an offset whose effects are not in Kafka (at least once).

librdkafka batches and sends from its own thread; faust's aiokafka producer, by contrast, spent
most of the worker's time in Python per record (the reason for this module, see the README).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from confluent_kafka import KafkaError, Message, Producer

from prefstream.kafka_config import producer_config, quiet_logger
from prefstream.settings import Settings

FLUSH_TIMEOUT_SECONDS = 300.0  # librdkafka's own message.timeout.ms: it retries until then


class OutputsLost(RuntimeError):
    """The broker did not acknowledge an output record; the batch's offsets must not be committed."""


class Outputs:
    """A producer whose records are all acknowledged (or an error raised) by `flush()`."""

    def __init__(self, settings: Settings, **overrides: object) -> None:
        self._failure: KafkaError | None = None
        config = producer_config(settings, **{
            "linger.ms": 0,  # a batch is queued whole, then flushed: lingering only delays the flush (13 vs 6 ms here)
            "logger": quiet_logger(),
            "on_delivery": self._delivered, "delivery.report.only.error": True,  # no Python call per success
            **overrides,
        })
        self._producer = Producer(config)

    def send(self, topic: str, key: bytes, value: bytes | None, partition: int | None = None,
             headers: Sequence[tuple[str, bytes]] | None = None) -> None:
        """Queue one record (partitioned by murmur2 of the key unless `partition` is given)."""
        extra = {} if partition is None else {"partition": partition}
        while True:
            try:
                self._producer.produce(topic, value, key, headers=headers, **extra)
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                self._producer.poll(0.05)

    def _delivered(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None and self._failure is None:
            self._failure = error

    async def flush(self) -> None:
        """Wait until every queued record is acknowledged; raise OutputsLost if any was not.

        If the waiting task is cancelled (a rebalance or shutdown stops the agent), the rest is
        waited for right here, blocking: the batch's events are acked on the way out regardless.
        """
        try:
            left = await asyncio.to_thread(self._producer.flush, FLUSH_TIMEOUT_SECONDS) if len(self._producer) else 0
        except asyncio.CancelledError:
            self._check(self._producer.flush(FLUSH_TIMEOUT_SECONDS))
            raise
        self._check(left)

    def _check(self, left: int) -> None:
        if left:
            raise OutputsLost(f"{left} output records not acknowledged within {FLUSH_TIMEOUT_SECONDS:.0f} s")
        self._producer.poll(0)
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise OutputsLost(f"an output record was not acknowledged: {failure.str()}")
