"""How the worker's fetch requests wait at the broker: a short, bounded batching window.

faust-streaming 0.15.3 builds its aiokafka consumer with `fetch_max_wait_ms=1500` and
`fetch_min_bytes=1`, and no setting changes either.

- The wait: aiokafka keeps one fetch in flight per broker, and leaves out of it every partition
  whose records are still buffered, not yet handed to the fold. When a fetch is sent just then it
  holds only quiet partitions (the identity links, the re-keyed events), so the broker keeps it
  for the whole 1.5 s while the busy partitions' new records wait for the next one. Measured at
  1,000 events/s (tests/bench/bench_processor.py, same code otherwise): p50 1,015 / p99 2,018 ms
  from the event's ack to its profile with 1.5 s, p50 106 / p99 631 ms with 20 ms.
- The minimum: with 1 byte the broker answers as soon as any record is there, so at 1,000
  events/s the worker fetched 242 times a second, ~4 records each, every fetch naming all 61
  partitions it reads. Asking for 1 MiB makes each fetch wait out the window unless a backlog
  fills it at once: ~50 fetches a second. Same benchmark, one run each: the worker's CPU at
  1,000 events/s 69 % -> 33 % of a core, latency p50 15 -> 27 ms, p99 62 -> 55 ms. A backlog is
  read as before (138 vs 144 us of CPU per event).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import faust

DEFAULT_FETCH_WAIT_MS = 20
DEFAULT_FETCH_MIN_BYTES = 1024 * 1024


def tune_fetches(app: faust.App, wait_ms: int, min_bytes: int) -> None:
    """Make each fetch of the worker's aiokafka consumer return once it holds `min_bytes` or has
    waited `wait_ms` (call before the app starts).

    Wraps the consumer thread's `_create_worker_consumer` (private, faust-streaming 0.15.3): the
    aiokafka consumer is built there and only reads these settings when it starts.
    """
    thread = app.consumer._thread
    create = thread._create_worker_consumer

    def create_tuned(transport: Any) -> Any:
        consumer = create(transport)
        consumer._fetch_max_wait_ms = wait_ms
        consumer._fetch_min_bytes = min_bytes
        return consumer

    thread._create_worker_consumer = create_tuned
