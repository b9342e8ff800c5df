"""A benchmark's broker, warmed up first when the benchmark starts it.

A freshly started JVM runs Kafka's request path interpreted while its JIT compiles it: on the
2-core machine the C2 compiler threads took 0.4-0.8 of a core for the first minute, beside the
request handlers, and a processor pass over the same backlog went from 5,600 to 8,100 events/s
between the first and third run on one broker. A broker in service has long been compiled, so
a benchmark that starts its own broker first drives produce, fetch and commit traffic through
it, with the clients and settings prefstream uses, before it measures anything (`make bench`:
every part warms the broker it starts). A cluster given in KAFKA_BOOTSTRAP is used as it is.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Consumer, Producer

from prefstream.core.kafka import consumer_config, producer_config, quiet_logger
from prefstream.core.settings import Settings
from prefstream.core.topics import TopicSpec, create_topics
from tests.kafka_for_tests import kafka_broker

WARM_UP_SECONDS = 25.0
WARM_UP_TOPIC = "bench-broker-warm-up"
VALUE = bytes(200)  # about a profile's size


def warm_up(settings: Settings, seconds: float = WARM_UP_SECONDS) -> dict[str, int]:
    """Produce keyed records to a scratch topic and consume them in a committing group for `seconds`."""
    create_topics(settings, [TopicSpec(WARM_UP_TOPIC, settings.partitions, {"retention.ms": "600000"})])
    stop = threading.Event()
    produced = [0]

    def produce() -> None:
        producer = Producer(producer_config(settings, logger=quiet_logger()))
        while not stop.is_set():
            try:
                producer.produce(WARM_UP_TOPIC, VALUE, f"warm-{produced[0] % 10_000}".encode())
                produced[0] += 1
            except BufferError:
                producer.poll(0.01)
            if produced[0] % 1000 == 0:
                producer.poll(0)
                time.sleep(0.01)  # leave the consumer and the broker room: this is traffic, not a race
        producer.flush(30)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    consumer = Consumer(consumer_config(settings, f"bench-warm-up-{uuid.uuid4().hex[:6]}", logger=quiet_logger(),
                                        **{"fetch.wait.max.ms": 20}))
    consumer.subscribe([WARM_UP_TOPIC])
    consumed, deadline = 0, time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            consumed += sum(1 for message in consumer.consume(1000, timeout=0.2) if not message.error())
            consumer.commit(asynchronous=True)
    finally:
        stop.set()
        thread.join(60)
        consumer.close()
    return {"seconds": round(seconds), "produced": produced[0], "consumed": consumed}


@contextmanager
def warm_broker(home: Path | None = None, seconds: float = WARM_UP_SECONDS) -> Iterator[Settings]:
    """`kafka_broker(home)`, warmed up by `warm_up` when it is a broker started here."""
    started_here = not os.environ.get("KAFKA_BOOTSTRAP")
    with kafka_broker(home) as settings:
        if started_here:
            began = time.monotonic()
            figures = warm_up(settings, seconds)
            print(f"broker warmed up in {time.monotonic() - began:.0f} s "
                  f"({figures['produced']:,} records produced, {figures['consumed']:,} consumed)", flush=True)
        yield settings
