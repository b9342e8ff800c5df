"""How long the worker's fetch requests may wait at the broker for new records.

faust-streaming 0.15.3 builds its aiokafka consumer with `fetch_max_wait_ms=1500`, and no setting
changes it. aiokafka keeps one fetch in flight per broker, and leaves out of it every partition
whose records are still buffered, not yet handed to the fold. When a fetch is sent just then it
holds only quiet partitions (the identity links, the re-keyed events), so the broker keeps it for
the whole 1.5 s while the busy partitions' new records wait for the next one. Measured at 1,000
events/s (tests/bench/bench_processor.py, same code otherwise): p50 1,015 / p99 2,018 ms from the
event's ack to its profile with 1.5 s, p50 106 / p99 631 ms with 20 ms. A short wait bounds it; the
price is one empty fetch per wait on an idle worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import faust

DEFAULT_FETCH_WAIT_MS = 20


def cap_fetch_wait(app: faust.App, wait_ms: int) -> None:
    """Make the worker's aiokafka consumer wait at most `wait_ms` per fetch (call before the app starts).

    Wraps the consumer thread's `_create_worker_consumer` (private, faust-streaming 0.15.3): the
    aiokafka consumer is built there and only reads its fetch wait when it starts.
    """
    thread = app.consumer._thread
    create = thread._create_worker_consumer

    def create_with_short_wait(transport: Any) -> Any:
        consumer = create(transport)
        consumer._fetch_max_wait_ms = wait_ms
        return consumer

    thread._create_worker_consumer = create_with_short_wait
