"""Prometheus metrics of the touchpoint adapters, labelled by adapter (`source`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ACCEPTED = Counter("prefstream_producer_events_accepted_total", "Events acknowledged by Kafka", ["source"])
REJECTED = Counter("prefstream_producer_rejected_total", "Inputs rejected and sent to the DLQ", ["source", "reason"])
PUBLISH_SECONDS = Histogram(
    "prefstream_producer_publish_seconds",
    "Time from publish call to the broker's acknowledgement",
    ["source"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
UNAVAILABLE = Counter("prefstream_producer_unavailable_total", "Publishes that failed because Kafka did not acknowledge", ["source"])
