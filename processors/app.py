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

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import faust
from faust.types import EventT

from prefstream.dlq import dlq_headers
from prefstream.settings import Settings
from prefstream.topics import CUSTOMER_EVENTS, DLQ, EVENTS, IDENTITY_LINKS, PROFILES, TopicSpec
from processors import metrics, parking
from processors.durable_table import DurableTable
from processors.fold import apply, empty_state, identities, is_erased, is_restrictive, profile_bytes, profile_time
from processors.state_codec import decode_state, encode_state
from processors.views import register_views
from schemas.codec import CodecError, decode_event
from schemas.subjects import is_customer_id
from schemas.validation import validate_event

APP_ID = "prefstream-processor"
TABLES = ("profiles", "identities", "parked")
MAX_FUTURE_SKEW = timedelta(minutes=5)


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

    async def fold_into(customer: str, event: dict[str, Any]) -> None:
        raw = profiles.get(customer)
        before = decode_state(raw) if raw is not None else empty_state(customer)
        after = apply(before, event)
        if after == before:
            metrics.EVENTS_DUPLICATE.inc()
            return
        metrics.EVENTS_FOLDED.inc()
        await profiles.set(customer, encode_state(after))
        if is_erased(after):
            metrics.TOMBSTONES_EMITTED.inc()
            await topics[PROFILES].send(key=customer.encode(), value=None)
        else:
            metrics.PROFILES_EMITTED.inc()
            await topics[PROFILES].send(key=customer.encode(), value=profile_bytes(after, profile_time(after)))
        old_ids, new_ids = set(identities(before)), set(identities(after))
        for identifier in sorted(new_ids - old_ids):
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

    async def on_event(message: Any) -> None:
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
            await fold_into(message.key.decode(), event)
            return
        subject = event["subject"]
        if is_customer_id(subject):
            await fold_into(subject, event)
            return
        customer = identity.get(subject)
        if customer is not None:
            await topics[CUSTOMER_EVENTS].send(key=customer, value=message.value)
            return
        metrics.IDENTIFIERS_PARKED.inc()
        await parked.set(subject, parking.add(parked.get(subject), message.value))
        if restricts_contact(event):
            await fold_into(subject, event)  # suppress the bare identifier at once

    @app.agent(source, concurrency=1)
    async def fold_events(stream: faust.StreamT) -> None:
        event: EventT
        async for event in stream.events():
            message = event.message
            with metrics.FOLD_SECONDS.time():
                if message.topic == IDENTITY_LINKS:
                    await on_link(message.key.decode(), message.value)
                else:
                    await on_event(message)

    register_views(app, tables["profiles"])
    return app


def restricts_contact(event: dict[str, Any]) -> bool:
    """Whether an event opts out, unsubscribes or suppresses: acted on even before resolution."""
    return any(is_restrictive(change) for change in event["changes"])
