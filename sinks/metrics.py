"""Prometheus metrics of the sinks, labelled by business unit."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERED = Counter("prefstream_sink_delivered_total", "Deliveries acknowledged by the target", ["business_unit"])
RETRIED = Counter("prefstream_sink_retried_total",
                  "Deliveries retried (a failed webhook attempt, or each record of a batch the target failed)", ["business_unit"])
DEAD_LETTERED = Counter("prefstream_sink_dead_lettered_total", "Records sent to the dead-letter topic",
                        ["business_unit", "reason"])
LATENCY = Histogram(
    "prefstream_sink_delivery_latency_seconds",
    "Profile produced (Kafka timestamp) to target acknowledgement",
    ["business_unit"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
REBALANCES = Counter("prefstream_sink_rebalances_total", "Times the business unit's partitions were revoked or lost while running",
                     ["business_unit"])
LAG = Gauge("prefstream_sink_consumer_lag", "Records of customer-profiles not yet committed", ["business_unit"])
