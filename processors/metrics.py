"""Prometheus metrics of the stream processor."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
FOLD_SECONDS = Histogram(
    "prefstream_processor_fold_seconds",
    "Decode, fold and encode time of one event",
    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05),
)
CONSUMER_LAG = Gauge("prefstream_processor_consumer_lag", "Records not yet processed, per topic", ["topic"])
STALLED_PARTITIONS_RESUMED = Counter(
    "prefstream_processor_stalled_partitions_resumed_total", "Idle source partitions with unread records that were re-read"
)
GAPS_REWOUND = Counter(
    "prefstream_processor_gaps_rewound_total", "Source partitions sought back because records before a delivered one were missing"
)
