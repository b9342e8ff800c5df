"""Kafka topic target: the projected profile as JSON on a compacted per-business-unit topic.

Key = customer id; value = the projected profile as JSON, or null (a tombstone) on delete, so
compaction keeps exactly each customer's latest state. The topic is created explicitly with
`cleanup.policy=compact`.
"""

from __future__ import annotations

import json

from confluent_kafka import KafkaException, Producer

from prefstream.core.kafka import producer_config, quiet_logger
from prefstream.core.settings import Settings
from prefstream.core.topics import TopicSpec, create_topics
from sinks.delivery import Delivery
from sinks.targets.base import Failure


class TopicTarget:
    """Produces each delivery to `topic` and waits for every acknowledgement before returning."""

    name = "topic"

    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self._producer: Producer | None = None

    def open(self) -> None:
        spec = TopicSpec(self.topic, self.settings.partitions, {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"})
        create_topics(self.settings, [spec])
        self._producer = Producer(producer_config(self.settings, logger=quiet_logger()))

    def write(self, deliveries: list[Delivery]) -> list[Failure]:
        assert self._producer is not None, "open() first"
        errors: list[str] = []

        def report(error: object, _message: object) -> None:
            if error is not None:
                errors.append(str(error))

        for d in deliveries:
            value = None if d.profile is None else json.dumps(d.profile, separators=(",", ":"), sort_keys=True).encode()
            self._producer.produce(self.topic, value, d.customer_id.encode(), on_delivery=report)
        if self._producer.flush(60) or errors:
            raise KafkaException(f"topic {self.topic}: {len(errors) or 'some'} deliveries not acknowledged")
        return []

    def interrupt(self) -> None:
        """Nothing to do: a write waits at most 60 s for the broker's acknowledgements."""

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None
