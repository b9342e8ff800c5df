"""Every record the processor writes, through one confluent-kafka producer, durable before an ack.

The processor folds a batch of source records and sends their outputs here (profiles, tombstones,
identity links, re-keyed events, changelog records, dead letters) without waiting for each. It
then `seal()`s the batch: the returned `Delivery` completes when the broker has acknowledged every
output of that batch, and only then are the batch's source records acked, so Faust can never
commit an offset whose effects are not in Kafka (at least once). The fold does not wait for it:
it folds the next batch while the broker acknowledges the last one (waiting in line cost 40 ms a
batch, about half the worker's time, when the worker, the broker and the clients share two cores).

librdkafka batches and sends from its own thread and reports each delivery to a callback, served
here by a thread of our own; faust's aiokafka producer, by contrast, spent most of the worker's
time in Python per record (the reason for this module: docs/decisions/0004-batch-intake.md).
"""

from __future__ import annotations

import asyncio
import threading

from confluent_kafka import KafkaError, Message, Producer

from prefstream.core.kafka import producer_config, quiet_logger
from prefstream.core.settings import Settings
from prefstream.errors import PrefstreamError

CLOSE_TIMEOUT_SECONDS = 10.0  # what is not delivered by then is re-read after the restart
POLL_SECONDS = 0.05  # the delivery thread's longest wait for a report (it wakes on each one)
ANY_PARTITION = -1  # RD_KAFKA_PARTITION_UA: the configured partitioner picks


class OutputsLost(PrefstreamError):
    """The broker did not acknowledge an output record; the batch's offsets must not be committed."""


class Delivery:
    """The outputs of one batch: done when the broker acknowledged them all, failed when it refused one."""

    def __init__(self) -> None:
        self._sent = 0
        self._acked = 0
        self._failure: KafkaError | None = None
        self._lock = threading.Lock()
        self._sealed: asyncio.Future[None] | None = None

    def add(self) -> None:
        """Count one more output sent in this batch (before it is sealed)."""
        self._sent += 1

    def report(self, error: KafkaError | None, _message: Message | None) -> None:
        """librdkafka's report for one output (on the delivery thread, or the fold's while it waits for room)."""
        with self._lock:
            self._acked += 1
            if error is not None and self._failure is None:
                self._failure = error
            self._settle()

    def seal(self, loop: asyncio.AbstractEventLoop) -> None:
        """No more outputs in this batch: `wait()` returns once each one is reported."""
        with self._lock:
            self._sealed = loop.create_future()
            self._settle()

    def _settle(self) -> None:
        # Called with the lock held: resolve the future once sealed and every output reported.
        future = self._sealed
        if future is None or self._acked < self._sent:
            return
        loop = future.get_loop()
        if self._failure is None:
            loop.call_soon_threadsafe(_resolve, future, None)
        else:
            loop.call_soon_threadsafe(_resolve, future, OutputsLost(f"an output record was not acknowledged: {self._failure.str()}"))

    async def wait(self) -> None:
        """Return when every output of the batch is acknowledged; raise OutputsLost if one was not."""
        assert self._sealed is not None, "wait() on a delivery that was not sealed"
        await asyncio.shield(self._sealed)  # a cancelled waiter leaves the delivery to others


def _resolve(future: asyncio.Future[None], error: Exception | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class Outputs:
    """A producer whose records are grouped by batch, each batch's delivery awaitable on its own."""

    def __init__(self, settings: Settings, **overrides: object) -> None:
        config = producer_config(settings, **{
            "logger": quiet_logger(),
            **overrides,
        })
        self._producer = Producer(config)
        self._open = Delivery()
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._serve_reports, name="outputs-delivery", daemon=True)
        self._poller.start()

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]] | None = None,
             partition: int = ANY_PARTITION) -> None:
        """Queue one record (partitioned by murmur2 of the key unless `partition` is given) in the open batch."""
        delivery = self._open
        while True:
            try:
                if headers is None:  # positional arguments: keywords cost half the call (1.3 vs 0.7 us)
                    self._producer.produce(topic, value, key, partition, delivery.report)
                else:
                    self._producer.produce(topic, value, key, partition, delivery.report,
                                           headers=headers)  # type: ignore[arg-type]  # stub: an invariant list[tuple[str, str | bytes | None]]
                delivery.add()
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                self._producer.poll(POLL_SECONDS)

    def seal(self) -> Delivery:
        """Close the open batch and return its delivery; later sends belong to the next batch."""
        delivery, self._open = self._open, Delivery()
        delivery.seal(asyncio.get_running_loop())
        return delivery

    def _serve_reports(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(POLL_SECONDS)

    def close(self) -> None:
        """Give what is queued a last chance to be delivered, then stop the delivery thread."""
        self._producer.flush(CLOSE_TIMEOUT_SECONDS)
        self._stopping.set()
        self._poller.join()
