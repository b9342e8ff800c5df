"""The worker's intake: Faust's fetch loop, with the source topics' records handed over in batches.

faust-streaming passes every record to an agent through the conductor, a channel queue and the
stream's iterator: four asyncio tasks (`Service.wait_first`) and a dozen awaits per record, about
two thirds of the worker's time in a py-spy profile. This loop replaces the consumer's
`_drain_messages` (private, faust-streaming 0.15.3) and keeps everything else it does: the same
read offsets (a record below the last one read is dropped, as Faust drops it), the same gap
bookkeeping, the same commit cadence, and the conductor for every other topic (the tables'
changelogs while they recover). Only the records of the source topics take another way: they are
collected and handed to one callable per fetched chunk, at most `batch_max` at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import faust

Batch = list[Any]  # faust Messages of the source topics, in fetch order


def drain_in_batches(app: faust.App, sources: Collection[str], handle: Callable[[Batch], Awaitable[None]],
                     batch_max: int) -> None:
    """Make the app's consumer hand the records of `sources` to `handle` in batches (call before it starts)."""
    consumer = app.consumer

    async def drain(fetcher: Any) -> None:
        callback = consumer.callback
        consumer_should_stop = consumer._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        read_offsets = consumer._read_offset
        acks_enabled_for = app.topics.acks_enabled_for
        commit_every = consumer._commit_every
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
        except (*consumer.consumer_stopped_errors, asyncio.CancelledError):
            if app.should_stop:  # stopping anyway, as Faust's own loop returns then
                return
            raise

    consumer._drain_messages = drain
