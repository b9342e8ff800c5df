"""The Faust app around the pure fold: events in, per-customer state in RocksDB, profiles out.

One agent consumes three co-partitioned topics (same partition count, same murmur2 partitioner),
so every table write lands on the partition that owns its key and no two steps interleave:

- `preference-events` (keyed by subject): decode, validate (DLQ on failure); a customer-id subject
  is folded at once; an identifier subject is resolved through the `identities` table and
  re-sent to `prefstream-customer-events` keyed by the customer, or parked until it is known;
- `prefstream-customer-events` (keyed by customer id): resolved events, folded;
- `prefstream-identity-links` (keyed by identifier): which customer claims an identifier (null:
  none any more); updates `identities` and releases the identifier's parked events.

Folding goes through `processors.fold` only; this module does the I/O around it.
"""

from __future__ import annotations

import logging
import time

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
from faust.types import TP, EventT

from prefstream.dlq import dlq_headers
from prefstream.settings import Settings
from prefstream.topics import CUSTOMER_EVENTS, DLQ, EVENTS, IDENTITY_LINKS, PROFILES, TopicSpec
from processors import metrics, parking
from processors.admission import MAX_FUTURE_SKEW
from processors.durable_table import DurableTable
from processors.fold import apply, empty_state, identities, is_erased, profile_bytes, profile_time
from processors.redelivery import RedeliveryWindow
from processors.routing import restricts_contact
from processors.state_codec import decode_state, encode_state
from processors.views import register_views
from schemas.codec import CodecError, decode_event
from schemas.subjects import is_customer_id
from schemas.validation import validate_event

APP_ID = "prefstream-processor"
SOURCE_TOPICS = (EVENTS, CUSTOMER_EVENTS, IDENTITY_LINKS)
STALL_CHECK_SECONDS = 5.0
STALL_IDLE_SECONDS = 5.0
TABLES = ("profiles", "identities", "parked")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessorConfig:
    """What one worker needs beyond the shared settings."""

    app_id: str = APP_ID
    web_port: int = 6066
    data_dir: Path | None = None
    standby_replicas: int = 0
    block_cache_bytes: int = 64 * 1024 * 1024


def changelog_specs(settings: Settings, app_id: str) -> list[TopicSpec]:
    """The tables' changelog topics, created before the worker starts.

    Created by us rather than by Faust: a changelog Faust creates at start-up can be seen with 0
    partitions in the consumer's metadata snapshot, and every write to its table then fails.
    """
    return [TopicSpec(f"{app_id}-{table}-changelog", settings.partitions, {"cleanup.policy": "compact"}) for table in TABLES]


def create_app(settings: Settings, config: ProcessorConfig) -> faust.App:
    """Build the Faust app: topics, tables, the fold agent and the query views."""
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
    profiles, identity, parked = (DurableTable(tables[name]) for name in TABLES)
    topics = {
        name: app.topic(name, key_type=bytes, value_type=bytes, partitions=settings.partitions)
        for name in (CUSTOMER_EVENTS, IDENTITY_LINKS, PROFILES, DLQ)
    }
    source = app.topic(EVENTS, CUSTOMER_EVENTS, IDENTITY_LINKS, key_type=bytes, value_type=bytes)

    async def reject(message: Any, reason: str, error: str) -> None:
        metrics.EVENTS_REJECTED.labels(reason).inc()
        headers = dlq_headers(
            reason, error, "processor", datetime.now(UTC),
            topic=message.topic, partition=message.partition, offset=message.offset,
        )
        await topics[DLQ].send(key=message.key, value=message.value, headers=headers)

    async def fold_into(customer: str, event: dict[str, Any], redelivery: bool) -> None:
        raw = profiles.get(customer)
        before = decode_state(raw) if raw is not None else empty_state(customer)
        after = apply(before, event)
        if after != before:
            metrics.EVENTS_FOLDED.inc()
        elif redelivery:
            metrics.OUTPUTS_REEMITTED.inc()
        else:
            metrics.EVENTS_DUPLICATE.inc()
            return
        await profiles.set(customer, encode_state(after))
        if is_erased(after):
            metrics.TOMBSTONES_EMITTED.inc()
            await topics[PROFILES].send(key=customer.encode(), value=None)
        else:
            metrics.PROFILES_EMITTED.inc()
            await topics[PROFILES].send(key=customer.encode(), value=profile_bytes(after, profile_time(after)))
        old_ids, new_ids = set(identities(before)), set(identities(after))
        for identifier in sorted(new_ids if redelivery else new_ids - old_ids):
            await topics[IDENTITY_LINKS].send(key=identifier.encode(), value=customer.encode())
        for identifier in sorted(old_ids - new_ids):
            await topics[IDENTITY_LINKS].send(key=identifier.encode(), value=None)

    async def on_link(identifier: str, customer: bytes | None) -> None:
        if customer is None:
            await identity.delete(identifier)
            return
        await identity.set(identifier, customer)
        waiting = parked.get(identifier)
        if waiting is not None:
            for record in parking.unpack(waiting):
                metrics.PARKED_RELEASED.inc()
                await topics[CUSTOMER_EVENTS].send(key=customer, value=record)
            await parked.delete(identifier)

    async def on_event(message: Any, redelivery: bool) -> None:
        try:
            event = decode_event(message.value)
        except CodecError as error:
            await reject(message, type(error).__name__, str(error))
            return
        recorded = datetime.fromtimestamp(message.timestamp, UTC)
        problems = validate_event(event, now=recorded, max_future_skew=MAX_FUTURE_SKEW)
        if problems:
            await reject(message, "invalid", "; ".join(f"{p.path}: {p.message}" for p in problems))
            return
        if message.topic == CUSTOMER_EVENTS:
            await fold_into(message.key.decode(), event, redelivery)
            return
        subject = event["subject"]
        if is_customer_id(subject):
            await fold_into(subject, event, redelivery)
            return
        if restricts_contact(event):
            await fold_into(subject, event, redelivery)  # the bare identifier is suppressed at once
        customer = identity.get(subject)
        if customer is not None:
            await topics[CUSTOMER_EVENTS].send(key=customer, value=message.value)
            return
        metrics.IDENTIFIERS_PARKED.inc()
        await parked.set(subject, parking.add(parked.get(subject), message.value))

    async def end_offset(tp: TP) -> int | None:
        # The end offset cached from the fetch that brought this record: never a call into the
        # consumer thread, which may itself be waiting for this agent to drain its buffer.
        return app.consumer.highwater(tp)

    window = RedeliveryWindow(end_offset)

    progress: dict[TP, tuple[int, int]] = {}  # source partition -> (generation, next offset to fold)
    last_folded = [time.monotonic()]

    @app.agent(source, concurrency=1)
    async def fold_events(stream: faust.StreamT) -> None:
        event: EventT
        async for event in stream.events():
            message = event.message
            last_folded[0] = time.monotonic()
            progress[message.tp] = (message.generation_id, message.offset + 1)
            redelivery = await window.contains(message.tp, message.generation_id, message.offset)
            with metrics.FOLD_SECONDS.time():
                if message.topic == IDENTITY_LINKS:
                    await on_link(message.key.decode(), message.value)
                else:
                    await on_event(message, redelivery)

    @app.timer(STALL_CHECK_SECONDS)
    async def resume_stalled_partitions() -> None:
        """Re-read a source partition that has unread records while the worker sits idle.

        A watchdog for the fetcher: after a restart with a backlog, faust-streaming 0.15.3 was
        seen leaving some partitions of the processor's own topics unfetched for good (their
        committed offset frozen below the end, while every other partition was done). Nothing
        is lost by re-reading: the fold is idempotent.
        """
        if app.rebalancing or not app.tables.recovery.completed.is_set():
            return
        if time.monotonic() - last_folded[0] < STALL_IDLE_SECONDS:
            return
        generation = app.consumer_generation_id
        sources = [tp for tp in app.consumer.assignment() if tp.topic in SOURCE_TOPICS]
        ends = await app.consumer.highwaters(*sources) if sources else {}
        for tp in sources:
            seen = progress.get(tp)
            position = seen[1] if seen and seen[0] == generation else app.consumer._committed_offset.get(tp)
            end = ends.get(tp)
            if position is None or end is None or position >= end:
                continue
            log.warning("partition %s[%d] idle with %d unread records; re-reading from offset %d",
                        tp.topic, tp.partition, end - position, position)
            metrics.STALLED_PARTITIONS_RESUMED.inc()
            app.consumer.resume_partitions([tp])
            await app.consumer.seek(tp, position)

    register_views(app, tables["profiles"], tables["identities"])
    return app

