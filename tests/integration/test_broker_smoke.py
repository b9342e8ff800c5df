"""Smoke tests of the real broker: topics, both client libraries, compaction."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Producer

from prefstream.core.kafka import consumer_config, producer_config
from prefstream.core.settings import Settings
from prefstream.core.topics import TopicSpec, create_topics, describe_topics, topic_specs


def test_pipeline_topics_are_created_with_their_configs_idempotently(kafka: Settings) -> None:
    first = create_topics(kafka)
    second = create_topics(kafka)
    names = [spec.name for spec in topic_specs(kafka)]
    assert set(first) == set(names)
    assert set(second.values()) == {"exists"}
    described = {d.name: d for d in describe_topics(kafka, names)}
    assert described["preference-events"].config["retention.ms"] == "-1"
    assert described["preference-events"].partitions == kafka.partitions
    assert described["customer-profiles"].config["cleanup.policy"] == "compact"
    assert described["preference-events-dlq"].config["cleanup.policy"] == "delete"
    assert int(described["preference-events-dlq"].config["retention.ms"]) > 0


def _consume_all(kafka: Settings, topic: str, group: str, expected: int, timeout: float = 30) -> list[tuple[bytes, bytes | None, int]]:
    consumer = Consumer(consumer_config(kafka, group))
    consumer.subscribe([topic])
    records: list[tuple[bytes, bytes | None, int]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            records.append((message.key(), message.value(), message.partition()))
    finally:
        consumer.close()
    return records


def test_confluent_kafka_round_trip_keeps_keys_on_one_partition(kafka: Settings, unique: str) -> None:
    topic = f"smoke-confluent-{unique}"
    create_topics(kafka, [TopicSpec(topic, 6)])
    producer = Producer(producer_config(kafka))
    sent = {f"customer-{i}".encode(): f"value-{i}".encode() for i in range(300)}
    for key, value in sent.items():
        producer.produce(topic, value, key)
    assert producer.flush(30) == 0
    records = _consume_all(kafka, topic, f"g-{unique}", len(sent))
    assert {key: value for key, value, _ in records} == sent
    assert len({partition for _, _, partition in records}) == 6


def test_aiokafka_and_confluent_agree_on_the_partition_of_a_key(kafka: Settings, unique: str) -> None:
    """murmur2_random in librdkafka must match the Java/aiokafka default partitioner."""
    topic = f"smoke-aiokafka-{unique}"
    create_topics(kafka, [TopicSpec(topic, 12)])
    keys = [f"customer-{i}".encode() for i in range(200)]
    producer = Producer(producer_config(kafka))
    for key in keys:
        producer.produce(topic, b"confluent", key)
    assert producer.flush(30) == 0

    async def produce_and_consume() -> list[tuple[bytes, bytes, int]]:
        aio_producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all", enable_idempotence=True)
        await aio_producer.start()
        try:
            for key in keys:
                await aio_producer.send_and_wait(topic, b"aiokafka", key=key)
        finally:
            await aio_producer.stop()
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka.bootstrap_servers, auto_offset_reset="earliest")
        await consumer.start()
        seen: list[tuple[bytes, bytes, int]] = []
        try:
            while len(seen) < 2 * len(keys):
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), timeout=30)
                for messages in batch.values():
                    seen += [(m.key, m.value, m.partition) for m in messages]
        finally:
            await consumer.stop()
        return seen

    seen = asyncio.run(produce_and_consume())
    by_client: dict[bytes, dict[bytes, int]] = {b"confluent": {}, b"aiokafka": {}}
    for key, value, partition in seen:
        by_client[value][key] = partition
    assert len(by_client[b"confluent"]) == len(keys)
    assert by_client[b"confluent"] == by_client[b"aiokafka"]


def test_compacted_topic_keeps_only_the_latest_value_per_key(kafka: Settings, unique: str) -> None:
    topic = f"smoke-compact-{unique}"
    fast_compaction = {
        "cleanup.policy": "compact",
        "segment.ms": "100",
        "min.cleanable.dirty.ratio": "0.01",
        "min.compaction.lag.ms": "0",
        "delete.retention.ms": "100",
    }
    create_topics(kafka, [TopicSpec(topic, 1, fast_compaction)])
    producer = Producer(producer_config(kafka))
    keys = [f"k{i}".encode() for i in range(10)]
    for version in range(20):
        for key in keys:
            producer.produce(topic, f"v{version}".encode(), key)
        producer.flush(10)
        time.sleep(0.12)  # roll a segment now and then, so the cleaner has closed segments to compact
    deadline = time.monotonic() + 60
    latest: dict[bytes, bytes] = {}
    while time.monotonic() < deadline:
        producer.produce(topic, b"tick", b"roll")  # keeps rolling the active segment
        producer.flush(10)
        records = _consume_all(kafka, topic, f"g-{unique}-{time.monotonic_ns()}", 10_000, timeout=3)
        data = [(key, value) for key, value, _ in records if key != b"roll"]
        latest = dict(data)
        if len(data) == len(keys):
            break
        time.sleep(1)
    assert len(data) == len(keys), f"compaction left {len(data)} records for {len(keys)} keys"
    assert latest == {key: b"v19" for key in keys}
