"""Prometheus metrics of the stream processor.

What every fold does (its outcome, from the step's `Counts`; its time, in a `FoldTally`) is given to
Prometheus once per batch: a prometheus-client counter or histogram takes a lock on each update.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from processors.domain.step import Counts

EVENTS_FOLDED = Counter("prefstream_processor_events_folded_total", "Events folded into a profile")
OUTPUTS_REEMITTED = Counter(
    "prefstream_processor_outputs_reemitted_total", "Unchanged folds of possibly redelivered records whose outputs were sent again"
)
EVENTS_DUPLICATE = Counter("prefstream_processor_events_duplicate_total", "Redelivered events that changed nothing")
EVENTS_REJECTED = Counter("prefstream_processor_events_rejected_total", "Records sent to the DLQ", ["reason"])
PROFILES_EMITTED = Counter("prefstream_processor_profiles_emitted_total", "Profiles produced to customer-profiles")
TOMBSTONES_EMITTED = Counter("prefstream_processor_tombstones_emitted_total", "Erasures produced as tombstones")
IDENTIFIERS_PARKED = Counter("prefstream_processor_identifiers_parked_total", "Events parked for an unknown identifier")
PARKED_RELEASED = Counter("prefstream_processor_parked_released_total", "Parked events re-sent to their customer")
CONSUMER_LAG = Gauge("prefstream_processor_consumer_lag", "Records not yet processed, per topic", ["topic"])
STALLED_PARTITIONS_RESUMED = Counter(
    "prefstream_processor_stalled_partitions_resumed_total", "Idle source partitions with unread records that were re-read"
)
GAPS_REWOUND = Counter(
    "prefstream_processor_gaps_rewound_total", "Source partitions sought back because records before a delivered one were missing"
)
FOLD_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05)  # upper bounds, seconds


class FoldSeconds(Collector):
    """The histogram `prefstream_processor_fold_seconds`, added to a batch at a time."""

    name = "prefstream_processor_fold_seconds"

    def __init__(self) -> None:
        self._counts = [0] * (len(FOLD_BUCKETS) + 1)  # per bucket, not cumulative; the last is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()  # a scrape may come from another thread than the fold's

    def add(self, counts: list[int], seconds: float) -> None:
        """Add per-bucket counts (as `FoldTally` keeps them) and their total time."""
        with self._lock:
            self._counts = [mine + theirs for mine, theirs in zip(self._counts, counts, strict=True)]
            self._sum += seconds

    def collect(self) -> Iterator[HistogramMetricFamily]:
        """The histogram as Prometheus exposes it: cumulative buckets, sum and count."""
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, buckets = 0, []
        for bound, count in zip((*map(floatToGoString, FOLD_BUCKETS), "+Inf"), counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(self.name, "Decode, fold and encode time of one event", buckets=buckets, sum_value=total)


FOLD_SECONDS = FoldSeconds()
REGISTRY.register(FOLD_SECONDS)


class FoldTally:
    """One batch's fold times, in plain ints until `publish()` adds them and the step's counts to Prometheus."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._counts = [0] * (len(FOLD_BUCKETS) + 1)
        self._seconds = 0.0

    def timed(self, seconds: float) -> None:
        """Count one fold that took `seconds`."""
        self._counts[bisect_left(FOLD_BUCKETS, seconds)] += 1  # bucket i holds FOLD_BUCKETS[i-1] < s <= FOLD_BUCKETS[i]
        self._seconds += seconds

    def publish(self, counts: Counts) -> None:
        """Add the batch's times and `counts` to the Prometheus metrics and start a new tally."""
        for counter, count in ((EVENTS_FOLDED, counts.folded), (OUTPUTS_REEMITTED, counts.reemitted),
                               (EVENTS_DUPLICATE, counts.duplicates), (PROFILES_EMITTED, counts.profiles),
                               (TOMBSTONES_EMITTED, counts.tombstones), (IDENTIFIERS_PARKED, counts.parked),
                               (PARKED_RELEASED, counts.released)):
            if count:
                counter.inc(count)
        for reason, count in counts.rejected.items():
            EVENTS_REJECTED.labels(reason).inc(count)
        if any(self._counts):
            FOLD_SECONDS.add(self._counts, self._seconds)
        self._reset()
