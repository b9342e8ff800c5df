"""Kafka client configuration shared by producers, processors, sinks and tools.

Every producer uses `murmur2_random`, the Java/aiokafka-compatible partitioner, so every
client (Faust, replay tools, a Java consumer) agrees on the partition of a key.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from confluent_kafka import Message

from prefstream.core.settings import Settings


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """An idempotent, acks=all producer that partitions keys like the Java client."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "partitioner": "murmur2_random",
        "compression.type": "lz4",
        "linger.ms": 5,
        "queue.buffering.max.messages": 100_000,
    }
    config.update(overrides)
    return config


def consumer_config(settings: Settings, group_id: str, **overrides: Any) -> dict[str, Any]:
    """A consumer that commits only when told to (at-least-once)."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
    }
    config.update(overrides)
    return config


def partition_for(key: str | bytes, partitions: int) -> int:
    """The partition of a non-null key among `partitions`, as the Java client (and `murmur2_random`) puts it."""
    return DefaultPartitioner()(key.encode() if isinstance(key, str) else key, range(partitions), None)


def position(message: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a record consumed or delivered; ValueError for an error event,
    which has none (confluent-kafka types all three as optional for that case)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("an error event, not a record: no topic, partition or offset")
    return topic, partition, offset


def admin_config(settings: Settings) -> dict[str, Any]:
    """Configuration for the admin client."""
    return {"bootstrap.servers": settings.bootstrap_servers}


def quiet_logger() -> logging.Logger:
    """A logger for librdkafka that keeps connection-refused chatter off the terminal.

    Failures still surface: calls raise or time out with a clear message of ours.
    """
    logger = logging.getLogger("prefstream.librdkafka")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
    return logger
