"""The Faust app around the pure fold: events in, per-customer state in RocksDB, profiles out.

One fold consumes three co-partitioned topics (same partition count, same murmur2 partitioner),
so every table write lands on the partition that owns its key and no two steps interleave:

- `preference-events` (keyed by subject): decode, validate (DLQ on failure); a customer-id subject
  is folded at once; an identifier subject is resolved through the `identities` table and
  re-sent to `prefstream-customer-events` keyed by the customer, or parked until it is known;
- `prefstream-customer-events` (keyed by customer id): resolved events, folded;
- `prefstream-identity-links` (keyed by identifier): which customer claims an identifier, or a
  release by the customer that let go of it (`processors.domain.identity`); updates `identities`
  and releases the identifier's parked events.

The records come in batches straight from Faust's fetch loop (`processors.runtime.framework`); each record
is folded in order and every output sent through one confluent-kafka producer
(`processors.runtime.outputs`). A second task acks a batch's records once the broker acknowledged all of
its outputs, while the next batch is folded. Folding goes through `processors.domain.fold` only; this
module does the I/O around it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
from aiokafka.errors import KafkaError
from faust.types import TP

from prefstream.core import ports
from prefstream.core.settings import DEFAULT_FETCH_MIN_BYTES, DEFAULT_FETCH_WAIT_MS, Settings
from prefstream.core.topics import CUSTOMER_EVENTS, EVENTS, IDENTITY_LINKS, TopicSpec
from processors.domain.step import FoldStep, Released
from processors.runtime import framework, metrics
from processors.runtime.durable_table import DurableTable
from processors.runtime.gaps import GapGuard
from processors.runtime.outputs import Delivery, Outputs, OutputsLost
from processors.runtime.positions import StartOffsets, starts_after_seek
from processors.runtime.redelivery import RedeliveryWindow
from processors.runtime.views import register_views

APP_ID = "prefstream-processor"
SOURCE_TOPICS = (EVENTS, CUSTOMER_EVENTS, IDENTITY_LINKS)
STALL_CHECK_SECONDS = 5.0
STANDBY_FLUSH_SECONDS = 1.0  # the longest a standby copy lags the changelog records this worker has read
STALL_IDLE_SECONDS = 5.0
TABLES = ("profiles", "identities", "parked")
BATCH_MAX = 1000  # source records folded, at most, before their outputs are sealed as one delivery
EXIT_OUTPUTS_LOST = 75  # EX_TEMPFAIL: restart the worker; it re-reads from the last commit
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessorConfig:
    """What one worker needs beyond the shared settings."""

    app_id: str = APP_ID
    web_port: int = ports.PROCESSOR
    data_dir: Path | None = None
    standby_replicas: int = 0
    block_cache_bytes: int = 64 * 1024 * 1024
    fetch_wait_ms: int = DEFAULT_FETCH_WAIT_MS
    fetch_min_bytes: int = DEFAULT_FETCH_MIN_BYTES


def changelog_specs(settings: Settings, app_id: str) -> list[TopicSpec]:
    """The tables' changelog topics, created before the worker starts.

    Created by us rather than by Faust: a changelog Faust creates at start-up can be seen with 0
    partitions in the consumer's metadata snapshot, and every write to its table then fails.
    """
    return [TopicSpec(f"{app_id}-{table}-changelog", settings.partitions, {"cleanup.policy": "compact"}) for table in TABLES]


def create_app(settings: Settings, config: ProcessorConfig) -> faust.App:
    """Build the Faust app: topics, tables, the batch fold and the query views."""
    app = faust.App(
        config.app_id,
        broker=f"kafka://{settings.bootstrap_servers}",
        store="rocksdb://",
        datadir=str(config.data_dir or settings.home / f"processor-{config.web_port}"),
        processing_guarantee="at_least_once",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        table_standby_replicas=config.standby_replicas,
        web_port=config.web_port,
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        producer_acks=-1,
        key_serializer="raw",
        value_serializer="raw",
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        stream_wait_empty=False,
    )
    rocksdb = {"driver": "rocksdict", "block_cache_size": config.block_cache_bytes}
    tables = {name: app.Table(name, key_type=str, value_type=bytes, options=rocksdb) for name in TABLES}
    outputs = Outputs(settings)
    durable = [DurableTable(tables[name], outputs) for name in TABLES]
    profiles_table, identities_table, parked_table = durable
    step = FoldStep(profiles_table, identities_table, parked_table, outputs, lambda: datetime.now(UTC))
    tally = metrics.FoldTally()  # the fold times of the batch being folded, published after it
    source = app.topic(EVENTS, CUSTOMER_EVENTS, IDENTITY_LINKS, key_type=bytes, value_type=bytes)

    # The end offset cached from the fetch that brought the record: never a call into the
    # consumer thread, which may itself be waiting for the fold to drain its buffer.
    window = RedeliveryWindow(app.consumer.highwater)

    guard: GapGuard[TP] = GapGuard()
    starts: StartOffsets[TP] = StartOffsets()
    last_folded = [time.monotonic()]

    def positioned(generation: int, committed: Mapping[TP, int | None], earliest: Mapping[TP, int]) -> None:
        starts.settle(generation, starts_after_seek(committed.keys(), committed, earliest))

    def process(message: Any) -> bool:
        """Fold one source record; False when it is held back, never to be acked: Faust would count
        what lies before it as done and commit over it (it commits up to an acked offset one past its
        committed one). The record is read again after the seek; that copy is acked as usual."""
        if not (starts.positioned(message.generation_id)
                and guard.admit(message.tp, message.generation_id, message.offset, starts.start(message.tp))):
            return False
        generation = message.generation_id
        began = time.perf_counter()
        step.fold(message, generation if window.contains(message.tp, generation, message.offset) else None)
        tally.timed(time.perf_counter() - began)
        return True

    def report_lag(batch: list[Any]) -> None:
        lag: dict[str, int] = {}
        for tp in {message.tp for message in batch}:
            end = app.consumer.highwater(tp)
            if end is not None:
                position = guard.position(tp, app.consumer_generation_id)
                if position is not None:
                    lag[tp.topic] = lag.get(tp.topic, 0) + max(0, end - position)
        for topic, records in lag.items():
            metrics.CONSUMER_LAG.labels(topic).set(records)

    delivering: asyncio.Queue[tuple[list[Any], Delivery, list[Released]]] = asyncio.Queue()

    async def fold_batch(batch: list[Any]) -> None:
        """Fold a fetched batch of source records, then queue it to be acked once its outputs are delivered."""
        last_folded[0] = time.monotonic()
        generation = app.consumer_generation_id
        if not app.flow_control.is_active():
            return  # a rebalance began: the partitions' owners read these records from the committed offsets
        folded = [message for message in batch if message.generation_id == generation and process(message)]
        for table in durable:
            table.write_pending()
        tally.publish(step.take_counts())
        delivering.put_nowait((folded, outputs.seal(), step.take_released()))
        report_lag(batch)
        await rewind_gaps()

    framework.install(app, sources=SOURCE_TOPICS, handle=fold_batch, batch_max=BATCH_MAX, fetch_wait_ms=config.fetch_wait_ms,
                      fetch_min_bytes=config.fetch_min_bytes, positioned=positioned)
    app.topics.add(source)  # subscribed by the conductor; its records take the batch path above

    @app.task
    async def ack_when_delivered() -> None:
        """Ack each batch's records, in order, once the broker acknowledged all of its outputs."""
        while True:
            messages, delivery, done = await delivering.get()
            try:
                await delivery.wait()
            except OutputsLost as lost:
                log.critical("%s; exiting without committing the batch's offsets", lost)
                os._exit(EXIT_OUTPUTS_LOST)
            for message in messages:
                app.consumer.ack(message)
            if done:
                forget_released(done)

    def forget_released(done: list[Released]) -> None:
        """`step.forget` the re-sent parked records, between two folds (a fold never awaits)."""
        if app.rebalancing:
            return
        assigned = app.consumer.assignment()
        step.forget(done, lambda tp, generation: generation == app.consumer_generation_id and tp in assigned)
        parked_table.write_pending()
        delivering.put_nowait(([], outputs.seal(), []))

    @app.on_before_shutdown.connect
    async def close_outputs(_app: faust.App, /, *_args: Any, **_kwargs: Any) -> None:
        outputs.close()

    async def seek(tp: Any, offset: int) -> None:
        """Seek one partition from the consumer's own thread (Faust's `seek` calls the client from
        the event loop's thread, racing its fetcher: a KeyError crashed the worker in a handover run).
        A partition revoked meanwhile is skipped: its new owner reads from the committed offset."""
        try:
            await app.consumer.seek_wait({tp: offset})
        except (KafkaError, TimeoutError) as error:
            log.warning("no seek of %s[%d]: %s", tp.topic, tp.partition, type(error).__name__)

    async def rewind_gaps() -> None:
        due = guard.rewinds(time.monotonic())
        if app.rebalancing:  # a partition may be gone; its new owner starts from the committed offset
            return
        assigned = app.consumer.assignment()
        for tp, offset in due.items():
            if tp not in assigned:
                continue
            log.warning("records missing before a record of %s[%d]; re-reading from offset %d", tp.topic, tp.partition, offset)
            metrics.GAPS_REWOUND.inc()
            await seek(tp, offset)
        for tp, first, present in guard.accepted:
            log.warning("offsets %d to %d of %s[%d] never arrived; taken as a real hole", first, present - 1, tp.topic, tp.partition)
        guard.accepted.clear()

    @app.task
    async def learn_changelog_partitions() -> None:
        """Faust routes a query by its own producer's metadata of the table's changelog topic,
        learned only when that producer sends there, and ours never does (see `Outputs`): without
        this, queries on a worker that has not folded anything yet fail."""
        await framework.learn_changelog_partitions(app, tables.values())

    @app.timer(STANDBY_FLUSH_SECONDS)
    async def flush_standby_buffers() -> None:
        """Write the changelog records a standby has read into its copy of the tables.

        Faust applies a standby's records in chunks of the table's `standby_buffer_size` (1,000) and
        otherwise only when recovery ends: with less traffic than that, a standby copy stayed behind
        by up to 999 records per table for as long as the traffic stayed low."""
        recovery = framework.table_recovery(app)
        if recovery.completed.is_set():
            recovery.flush_buffers()

    @app.timer(STALL_CHECK_SECONDS)
    async def resume_stalled_partitions() -> None:
        """Re-read a source partition that has unread records while the worker sits idle.

        A watchdog for the fetcher: after a restart with a backlog, faust-streaming 0.15.3 was
        seen leaving some partitions of the processor's own topics unfetched for good (their
        committed offset frozen below the end, while every other partition was done). Nothing
        is lost by re-reading: the fold is idempotent.
        """
        if app.rebalancing or not framework.table_recovery(app).completed.is_set():
            return
        if time.monotonic() - last_folded[0] < STALL_IDLE_SECONDS:
            return
        generation = app.consumer_generation_id
        sources = [tp for tp in app.consumer.assignment() if tp.topic in SOURCE_TOPICS]
        ends = await app.consumer.highwaters(*sources) if sources else {}
        for tp in sources:
            position = guard.position(tp, generation)
            if position is None and starts.positioned(generation):
                position = starts.start(tp)
            end = ends.get(tp)
            if position is None or end is None or position >= end:
                continue
            log.warning("partition %s[%d] idle with %d unread records; re-reading from offset %d",
                        tp.topic, tp.partition, end - position, position)
            metrics.STALLED_PARTITIONS_RESUMED.inc()
            app.consumer.resume_partitions([tp])
            await seek(tp, position)

    register_views(app, tables["profiles"], tables["identities"])
    return app

