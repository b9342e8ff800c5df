"""Every hook into faust-streaming's and aiokafka's internals, in one place, for the pinned versions only.

The processor keeps what Faust is good at (group membership, assignment, commits, table recovery and
standbys, the web views) and replaces or reaches into these parts of it (`install` wires them all):

- the consumer's fetch loop (`Consumer._drain_messages`): the source topics' records are handed over
  in batches of at most `batch_max`, as fetched, instead of one at a time through the conductor, a
  channel and a stream (four asyncio tasks a record); every other topic (the tables' changelogs)
  still goes through the conductor, and the read offsets, gap bookkeeping and commit cadence stay
  Faust's own;
- the fetch window (`AIOKafkaConsumerThread._create_worker_consumer`): Faust builds its aiokafka
  consumer with a fixed `fetch_max_wait_ms` of 1,500 and `fetch_min_bytes` of 1;
- the seek to the committed offsets (`Consumer.perform_seek`): afterwards, partitions with nothing
  committed above 0 (which the client does not seek) are sought to their earliest offset, and the
  start of every source partition is reported;
- a table partition's RocksDB database (`Store._db_for_partition`), which the processor reads and
  writes directly (processors.runtime.durable_table);
- the producer Faust routes queries with (`Producer._ensure_producer`), which must learn the
  tables' changelog partitions although the processor never sends through it.

`PINNED` names the versions these hooks are written for: the worker refuses to start on others
(`check_versions`), and `UPSTREAM` fingerprints the source of every upstream function a hook replaces,
wraps, calls or relies on, so an upgrade fails the unit tests (tests/unit/test_framework.py), naming
the hook, before it can fail in production.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
from collections.abc import Awaitable, Callable, Collection, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, cast

import faust
from faust.types import TP, TableT

from prefstream.errors import PrefstreamError
from processors.runtime.positions import unsought

if TYPE_CHECKING:
    from faust.stores.rocksdb import Store as RocksStore
    from faust.tables.manager import TableManager
    from faust.tables.recovery import Recovery
    from faust.transport.drivers.aiokafka import Consumer as KafkaConsumer
    from faust.transport.drivers.aiokafka import Producer as KafkaProducer

PINNED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}

# "module:qualified.name" of each upstream function, and the sha256 of its source as pinned
UPSTREAM: dict[str, str] = {
    "faust.transport.consumer:Consumer._drain_messages": "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417",
    "faust.transport.consumer:Consumer.perform_seek": "0e8c130ff4b0afd82c0be9c5fd831316e10febc62c94032833911096e156d7c6",
    "faust.transport.consumer:Consumer._new_offset": "1d2c7ea89a7ad4f1a216c1d51936e569162cd66bd56f889e13fd29c910b58eb0",
    "faust.transport.consumer:Consumer.ack": "5fcf41cf45153475de3790dc56fec1b83335956dc8b3bf7ff6bbb2b57627f03f",
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread._create_worker_consumer":
        "c2701bfc3e6f6cad95c2be36d6a255a86e2c57d18d36cc1082b5fb5c482d99d7",
    "faust.transport.drivers.aiokafka:Producer._ensure_producer": "5592a4bbdf2513253f98233a4eac931ded2a531a86f269cddcc33bc3f5827db5",
    "faust.stores.rocksdb:Store._db_for_partition": "cb7e67d5f9efc4bced7b7ab09a55fe717c352daad5b693594e3f7ca52a98787f",
    "faust.tables.recovery:Recovery._slurp_changelogs": "7825c7e50f766d5ab0fd246b63420ea0dfcd732d005f1057cc9da656ff5d3967",
    "aiokafka.consumer.consumer:AIOKafkaConsumer.start": "2f1ba70443327538800d348e61042cdedd5a5e6306f40ebe1a06dddba7494c45",
}

Batch = list[Any]  # faust Messages of the source topics, in fetch order
Positioned = Callable[[int, Mapping[TP, int | None], Mapping[TP, int]], None]


class FrameworkMismatch(PrefstreamError):
    """An installed framework version other than the one the processor's hooks are written for."""

    exit_code = 3


def check_versions(installed: Callable[[str], str] = version) -> None:
    """Raise FrameworkMismatch, naming the package, unless the pinned versions are installed."""
    for package, pinned in PINNED.items():
        try:
            found = installed(package)
        except PackageNotFoundError:
            found = "none"
        if found != pinned:
            raise FrameworkMismatch(f"{package} {found} is installed; the processor's hooks into its internals are written "
                                    f"for {pinned} (pinned in pyproject.toml)")


def upstream_source(name: str) -> str:
    """The source of an upstream function named "module:Qualified.name"."""
    module, _, qualified = name.partition(":")
    target: Any = importlib.import_module(module)
    for part in qualified.split("."):
        target = getattr(target, part)
    return inspect.getsource(getattr(target, "fun", target))  # a mode ServiceTask wraps its function as `fun`


def fingerprint(source: str) -> str:
    """The sha256 of a function's source, as `UPSTREAM` holds it."""
    return hashlib.sha256(source.encode()).hexdigest()


def changed_upstream(source_of: Callable[[str], str] = upstream_source) -> list[str]:
    """One line per upstream function whose source is not the one the hooks were written against."""
    return [f"{name}: its source changed since faust-streaming {PINNED['faust-streaming']} / aiokafka {PINNED['aiokafka']}; "
            f"review the hook before updating its fingerprint" for name, expected in UPSTREAM.items()
            if fingerprint(source_of(name)) != expected]


def install(app: faust.App, *, sources: Collection[str], handle: Callable[[Batch], Awaitable[None]], batch_max: int,
            fetch_wait_ms: int, fetch_min_bytes: int,
            positioned: Positioned) -> None:
    """Wire every hook into `app` (before it starts): batches of `sources` to `handle`, the fetch window,
    and `positioned(generation, committed, earliest)` once a generation's partitions are sought."""
    _drain_in_batches(app, sources, handle, batch_max)
    _tune_fetches(app, fetch_wait_ms, fetch_min_bytes)
    _report_positions(app, sources, positioned)


# Faust types the app's parts by their interfaces (ConsumerT, ProducerT, StoreT, TableManagerT), which
# declare none of the internals the hooks reach into; these give each part as the class it is with the
# pinned versions, a kafka:// broker and the rocksdb:// store.
def _consumer(app: faust.App) -> KafkaConsumer:
    return cast("KafkaConsumer", app.consumer)


def _producer(app: faust.App) -> KafkaProducer:
    return cast("KafkaProducer", app.producer)


def _store(table: TableT) -> RocksStore:
    return cast("RocksStore", table.data)


def table_recovery(app: faust.App) -> Recovery:
    """Faust's recovery of the app's tables (its `completed` event, its standby buffers)."""
    return cast("TableManager", app.tables).recovery


def partition_database(table: TableT, partition: int) -> Any:
    """The rocksdict database of one partition of a table (rocksdb:// store)."""
    return _store(table)._db_for_partition(partition)


async def learn_changelog_partitions(app: faust.App, tables: Collection[TableT]) -> None:
    """Make Faust's own producer learn the tables' changelog partitions: Faust routes a query by that
    producer's metadata, learned only when it sends to the topic, and the processor never does."""
    producer = _producer(app)._ensure_producer()
    for table in tables:
        await producer.partitions_for(table.changelog_topic.get_topic_name())


def _drain_in_batches(app: faust.App, sources: Collection[str], handle: Callable[[Batch], Awaitable[None]], batch_max: int) -> None:
    consumer = _consumer(app)

    async def drain(fetcher: Any) -> None:
        callback = consumer.callback
        consumer_should_stop = consumer._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        read_offsets = consumer._read_offset
        acks_enabled_for = app.topics.acks_enabled_for
        commit_every = consumer._commit_every
        stopped: tuple[type[BaseException], ...] = (*consumer.consumer_stopped_errors, asyncio.CancelledError)
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                batch: Batch = []
                await asyncio.sleep(0)
                if consumer.should_stop:
                    continue
                async for tp, message in consumer.getmany(timeout=1.0):
                    offset = message.offset
                    read = read_offsets[tp]
                    if read is not None and offset < read:
                        continue  # already read: Faust drops it too
                    if read and offset - read > 1 and acks_enabled_for(message.topic):
                        await consumer._add_gap(tp, read + 1, offset)
                    if commit_every is not None and consumer._n_acked >= commit_every:
                        consumer._n_acked = 0
                        await consumer.commit()
                    if message.topic in sources:
                        consumer.track_message(message)
                        batch.append(message)
                        if len(batch) >= batch_max:
                            await handle(batch)
                            batch = []
                    else:
                        await consumer.wait_first(callback(message), consumer.suspend_flow.wait())
                    read_offsets[tp] = offset
                if batch:
                    await handle(batch)
        except stopped:
            if app.should_stop:  # stopping anyway, as Faust's own loop returns then
                return
            raise

    consumer._drain_messages = drain  # type: ignore[method-assign]  # the hook: this instance's method replaced


def _tune_fetches(app: faust.App, wait_ms: int, min_bytes: int) -> None:
    thread = _consumer(app)._thread
    create = thread._create_worker_consumer

    def create_tuned(transport: Any) -> Any:
        made = create(transport)
        made._fetch_max_wait_ms = wait_ms  # read when the aiokafka consumer starts
        made._fetch_min_bytes = min_bytes
        return made

    thread._create_worker_consumer = create_tuned  # type: ignore[method-assign]  # the hook: this instance's method replaced


def _report_positions(app: faust.App, sources: Collection[str], positioned: Positioned) -> None:
    seek_to_committed = app.consumer.perform_seek

    async def perform_seek() -> None:
        generation = app.consumer_generation_id
        await seek_to_committed()
        consumer = _consumer(app)
        committed = consumer._committed_offset  # filled by the seek: None stands for 0
        left = unsought([tp for tp in consumer.assignment() if tp.topic in sources], committed)
        earliest: dict[TP, int] = {}
        if left:
            earliest = dict(await consumer.earliest_offsets(*left))
            await consumer.seek_wait({tp: earliest[tp] for tp in left})
        if app.consumer_generation_id == generation:
            positioned(generation, {tp: committed.get(tp) for tp in consumer.assignment() if tp.topic in sources}, earliest)

    app.consumer.perform_seek = perform_seek  # type: ignore[method-assign]  # the hook: this instance's method replaced
