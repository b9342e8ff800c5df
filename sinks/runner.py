"""The sink runner of one business unit: consume `customer-profiles` in its own group, batch,
write the batch to the target, dead-letter what the target gave up on, then commit.

At least once: offsets are committed synchronously and only after the target acknowledged the
batch (and the dead-letter topic acknowledged its records). A batch closes at `batch_size`
records or `batch_seconds` after its first record. A target that fails a whole batch (database
down) keeps the batch pending: consumption pauses and the write is retried with backoff.
`stop()` (SIGTERM/SIGINT in `prefstream sink run`) flushes the pending batch and commits.

The target writes in a worker thread. A write still running after half a second (a webhook
retrying through an outage) pauses every partition and this thread keeps polling, so however long
the retries take the member never exceeds `max.poll.interval.ms` and keeps its partitions. If a
rebalance takes the partitions meanwhile, the write is interrupted and its batch left uncommitted
for the new owner. After `stop()`, a write gets STOP_GRACE_SECONDS before it is interrupted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as WriteRunning
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from prefstream.core.dlq import dlq_headers
from prefstream.core.kafka import consumer_config, position, producer_config, quiet_logger
from prefstream.core.settings import Settings
from prefstream.core.topics import DLQ_RETENTION_MS, TopicSpec, create_topics
from sinks.backoff import backoff
from sinks.config import SinkConfig
from sinks.delivery import Delivery, Source, Undecodable, latest_per_customer, to_delivery
from sinks.metrics import DEAD_LETTERED, DELIVERED, LAG, LATENCY, REBALANCES, RETRIED
from sinks.targets import Failure, Target, make_target
from sinks.targets.base import TargetError

log = logging.getLogger("prefstream.sinks")

KEEPALIVE_AFTER_SECONDS = 0.5  # a write running longer than this pauses the partitions and polls
STOP_GRACE_SECONDS = 10.0  # after stop(), how long a write may still take before it is interrupted
LAG_REFRESH_SECONDS = 5.0  # the lag gauge is set at most this often


def _source(message: Message) -> Source:
    return Source(*position(message), message.key() or b"", message.value(), message.timestamp()[1])


def cached_lag(consumer: Consumer, committed: Mapping[tuple[str, int], int]) -> int:
    """Records on the consumer's assigned partitions past the `committed` offsets ((topic, partition)
    -> next offset), by the end offsets librdkafka cached from its last fetch of each partition, never
    asked of the broker. A partition with no commit, or not fetched yet (nothing cached), counts none."""
    lag = 0
    for tp in consumer.assignment():
        done = committed.get((tp.topic, tp.partition))
        if done is not None:
            # The broker answers one request per connection at a time: a query would wait behind a
            # fetch held up to fetch.wait.max.ms, and one per partition stalled the sink loop.
            watermarks = consumer.get_watermark_offsets(tp, cached=True)
            if watermarks and watermarks[1] >= 0:  # negative: not fetched yet, nothing cached
                lag += max(0, watermarks[1] - done)
    return lag


class LagGauge:
    """A sink's consumer-lag gauge: `cached_lag` of the offsets it committed, set at most every
    LAG_REFRESH_SECONDS."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._committed: dict[tuple[str, int], int] = {}
        self._due = 0.0

    def update(self, consumer: Consumer, committed: Mapping[tuple[str, int], int]) -> None:
        """Take the offsets just `committed` ((topic, partition) -> next offset; none is fine) and set
        the gauge if it is due."""
        self._committed.update(committed)
        if time.monotonic() < self._due:
            return
        self._due = time.monotonic() + LAG_REFRESH_SECONDS
        LAG.labels(self.label).set(cached_lag(consumer, self._committed))

    def forget(self) -> None:
        """Forget the commits taken so far (the partitions were revoked)."""
        self._committed.clear()


class SinkRunner:
    """Moves one business unit's profiles from Kafka to its target, batch by batch."""

    def __init__(self, config: SinkConfig, settings: Settings, target: Target | None = None) -> None:
        self.config = config
        self.settings = settings
        self.target = target or make_target(config, settings)
        self.label = config.name
        self._pending: list[Source] = []
        self._batch_started = 0.0
        self._stopping = threading.Event()
        self._running_consumer: Consumer | None = None
        self._running_producer: Producer | None = None
        self._failed_writes = 0
        self._retry_at = 0.0
        self._lag = LagGauge(config.name)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix=f"sink-{config.name}-write")
        self._writing: Future[list[Failure]] | None = None
        self._abandoned = False
        self._stop_at = 0.0

    @property
    def _consumer(self) -> Consumer:
        """The consumer `run` made; RuntimeError before."""
        if self._running_consumer is None:
            raise RuntimeError(f"sink {self.label}: not running")
        return self._running_consumer

    @property
    def _producer(self) -> Producer:
        """The dead-letter producer `run` made; RuntimeError before."""
        if self._running_producer is None:
            raise RuntimeError(f"sink {self.label}: not running")
        return self._running_producer

    def stop(self) -> None:
        """Ask the loop to flush, commit and return (safe from a signal handler or another thread)."""
        self._stop_at = self._stop_at or time.monotonic()
        self._stopping.set()

    def run(self) -> None:
        """Consume and deliver until `stop()`; then flush the pending batch, commit and close."""
        create_topics(self.settings, [TopicSpec(self.config.dlq_topic, self.settings.partitions,
                                                {"cleanup.policy": "delete", "retention.ms": str(DLQ_RETENTION_MS)})])
        try:
            self.target.open()
        except Exception as error:
            raise TargetError(f"sink {self.label}: {self.target.name} target did not open: {type(error).__name__}: {error}") from None
        producer = self._running_producer = Producer(producer_config(self.settings, logger=quiet_logger()))
        overrides: dict[str, object] = {"session.timeout.ms": int(self.config.session_timeout_seconds * 1000),
                                        "max.poll.interval.ms": int(self.config.max_poll_interval_seconds * 1000)}
        if self.config.instance_id:  # static membership: a restarted replica gets its partitions back at once
            overrides["group.instance.id"] = self.config.instance_id
        consumer = self._running_consumer = Consumer(
            consumer_config(self.settings, self.config.group_id, logger=quiet_logger(), **overrides))
        consumer.subscribe([self.config.source_topic], on_revoke=self._on_revoke, on_lost=self._on_revoke)
        try:
            while not self._stopping.is_set():
                self._step()
            self._final_flush()
        finally:
            consumer.close()
            producer.flush(10)
            self._writer.shutdown(wait=True)
            self.target.close()

    def _final_flush(self) -> None:
        try:
            self._flush()
        except Exception as error:  # nothing of the batch was committed: a restart redelivers it
            log.warning("%s: last batch not delivered at shutdown (%s)", self.label, type(error).__name__)

    def _step(self) -> None:
        """Consume what fits in the batch, then flush if the batch is full or old enough."""
        consumer = self._consumer
        if self._failed_writes:
            # Paused: this keeps the group membership alive; a partition assigned since is not
            # paused, so whatever it yields joins the pending batch.
            self._pending += [_source(m) for m in consumer.consume(1, timeout=0.1) if not m.error()]
            if time.monotonic() >= self._retry_at:
                self._try_flush()
            return
        if not self._pending:  # one record, returned as it arrives: the batch's clock starts with it
            room, wait = 1, self.config.batch_seconds
        else:
            room = self.config.batch_size - len(self._pending)
            wait = max(0.0, self._batch_started + self.config.batch_seconds - time.monotonic())
        for message in consumer.consume(room, timeout=min(wait, 0.5)):
            if message.error():
                log.warning("consumer error: %s", message.error())
                continue
            if not self._pending:
                self._batch_started = time.monotonic()
            self._pending.append(_source(message))
        full = len(self._pending) >= self.config.batch_size
        old = self._pending and time.monotonic() - self._batch_started >= self.config.batch_seconds
        if full or old:
            self._try_flush()
        self._lag.update(consumer, {})

    def _try_flush(self) -> None:
        """Flush; if the target failed the whole batch, keep it, pause consumption and retry later."""
        try:
            self._flush()
        except Exception as error:
            self._failed_writes += 1
            RETRIED.labels(self.label).inc(len(self._pending))
            wait = backoff(self._failed_writes, self.config.retry)
            log.warning("%s: batch of %d not delivered by the %s target (%s, failure %d in a row); nothing committed, "
                        "consumption paused, retrying in %.1f s", self.label, len(self._pending), self.target.name,
                        type(error).__name__, self._failed_writes, wait)
            self._consumer.pause(self._consumer.assignment())
            self._retry_at = time.monotonic() + wait
            return
        if self._failed_writes:
            self._failed_writes = 0
            self._consumer.resume(self._consumer.assignment())

    def _flush(self, keep_polling: bool = True) -> None:
        """Write the pending batch to the target, dead-letter its failures, commit its offsets.

        If the write raises, the batch is pending again (ahead of anything read meanwhile)."""
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        deliveries: list[Delivery] = []
        dead: list[tuple[Source, str, str]] = []
        for source in batch:
            try:
                deliveries.append(to_delivery(source, self.config))
            except Undecodable as error:
                dead.append((source, "undecodable", str(error)))
        latest = latest_per_customer(deliveries)
        try:
            failures = self._write(latest, keep_polling) if latest else []
        except BaseException:
            self._pending = batch + self._pending
            raise
        if failures is None:  # a rebalance took the partitions: the new owner redelivers the batch
            return
        acked_at = time.time()
        dead += [(f.delivery.source, f.reason, f.error) for f in failures]
        self._dead_letter(dead)
        failed = {id(f.delivery) for f in failures}
        for delivery in latest:
            if id(delivery) not in failed:
                LATENCY.labels(self.label).observe(max(0.0, acked_at - delivery.source.timestamp_ms / 1000))
        DELIVERED.labels(self.label).inc(len(latest) - len(failures))
        self._commit(batch)

    def _write(self, deliveries: list[Delivery], keep_polling: bool) -> list[Failure] | None:
        """The target's write in the worker thread; meanwhile, if it takes long, poll with every
        partition paused. None if a rebalance abandoned the write (see `_on_revoke`)."""
        self._abandoned = False
        self._writing = future = self._writer.submit(self.target.write, deliveries)
        paused = False
        try:
            while True:
                try:
                    return future.result(timeout=KEEPALIVE_AFTER_SECONDS if not paused else 0.0)
                except WriteRunning:
                    pass
                if self._stopping.is_set() and time.monotonic() >= self._stop_at + STOP_GRACE_SECONDS:
                    self.target.interrupt()
                if not keep_polling:  # in a rebalance callback: no polling from here
                    continue
                if not paused:
                    self._consumer.pause(self._consumer.assignment())
                    paused = True
                self._keep_alive()
                if self._abandoned:
                    return None
        finally:
            self._writing = None
            if paused and not self._abandoned:
                self._consumer.resume(self._consumer.assignment())

    def _keep_alive(self) -> None:
        """One poll while a write runs: keeps the group membership; whatever a partition assigned
        since yields joins the next batch."""
        for message in self._consumer.consume(100, timeout=0.1):
            if message.error():
                log.warning("consumer error: %s", message.error())
                continue
            if not self._pending:
                self._batch_started = time.monotonic()
            self._pending.append(_source(message))

    def _dead_letter(self, dead: list[tuple[Source, str, str]]) -> None:
        if not dead:
            return
        errors: list[str] = []
        now = datetime.now(UTC)
        for source, reason, error in dead:
            headers = dlq_headers(reason, error, f"sink:{self.label}", now,
                                  topic=source.topic, partition=source.partition, offset=source.offset)
            self._producer.produce(self.config.dlq_topic, source.value, source.key,
                                   headers=headers,  # type: ignore[arg-type]  # stub: an invariant list[tuple[str, str | bytes | None]]
                                   on_delivery=lambda err, _m: errors.append(str(err)) if err else None)
            DEAD_LETTERED.labels(self.label, reason).inc()
            log.warning("%s: record %s/%d@%d dead-lettered: %s", self.label, source.topic, source.partition, source.offset, reason)
        if self._producer.flush(30) or errors:
            raise KafkaException(f"dead-letter topic {self.config.dlq_topic} did not acknowledge")

    def _commit(self, batch: list[Source]) -> None:
        ends: dict[tuple[str, int], int] = {}
        for source in batch:
            key = (source.topic, source.partition)
            ends[key] = max(ends.get(key, -1), source.offset + 1)
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in ends.items()]
        self._consumer.commit(offsets=offsets, asynchronous=False)
        self._lag.update(self._consumer, ends)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Before partitions move to another member, deliver and commit what was read from them.

        A write in flight (we are in its keep-alive poll) is interrupted and waited for, and its
        batch left uncommitted: the new owner redelivers it, and this member writes nothing late."""
        if not self._stopping.is_set():  # leaving the group at shutdown is no rebalance
            REBALANCES.labels(self.label).inc()
        writing = self._writing
        if writing is not None:
            if not writing.done():
                self.target.interrupt()
            try:
                writing.result()
            except Exception:  # the batch is abandoned whatever the write's outcome
                pass
            self._abandoned = True
            log.warning("%s: partitions revoked during a write; its batch is left to the new owner", self.label)
        else:
            try:
                self._flush(keep_polling=False)
            except Exception as error:  # the new owner redelivers from the last commit
                log.warning("%s: batch not delivered before rebalance (%s)", self.label, type(error).__name__)
        self._pending = []
        self._failed_writes = 0
        self._lag.forget()
        consumer.resume(partitions)
