"""Helpers shared by the sink integration tests and benchmark: profile histories, a source
topic, a business unit's config, what it must receive (from tests/sink_reference.py, never from
sinks/), a sink runner in a thread, waiting for a condition."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from prefstream.core.kafka import consumer_config, producer_config
from prefstream.core.settings import Settings
from prefstream.core.topics import TopicSpec, create_topics
from processors.domain.fold import fold, is_erased, profile_time
from processors.domain.profile_encoding import profile_bytes
from schemas.codec import decode_profile
from sinks.config import SinkConfig, parse_sinks
from sinks.runner import SinkRunner
from tests import factories as f
from tests import sink_reference as reference


def history(customer: str, versions: int, *, email: str = "OPTED_IN") -> list[bytes]:
    """A customer's profile after each of its first `versions` events (version 1..versions)."""
    steps = [
        [f.contact("EMAIL", f"{customer}@example.com", "MAKE_PRIMARY"), f.consent("EMAIL", email)],
        [f.topic("news", True, ["EMAIL"])],
        [f.consent("SMS", "OPTED_IN", purpose="service"), f.contact("PHONE", "+15550100")],
        [f.frequency("WEEKLY", channel="EMAIL")],
        [f.attribute("size", "M", "Your size?")],
    ]
    events = [f.event(customer, steps[i % len(steps)], f.at(i), event_id=f"{customer}-e{i}") for i in range(versions)]
    profiles = []
    for count in range(1, versions + 1):
        state = fold(customer, events[:count])
        profiles.append(profile_bytes(state, profile_time(state)))
    return profiles


def erased_then_back(customer: str) -> list[bytes | None]:
    """A customer's records: two profiles, the erasure's tombstone, then a profile (version 4)
    from what the customer said after it, under a new email."""
    events = [f.event(customer, [f.contact("EMAIL", f"{customer}@example.com", "MAKE_PRIMARY"),
                                 f.consent("EMAIL", "OPTED_IN")], f.at(0), event_id=f"{customer}-e0"),
              f.event(customer, [f.topic("news", True, ["EMAIL"])], f.at(1), event_id=f"{customer}-e1"),
              f.event(customer, [f.erasure()], f.at(2), event_id=f"{customer}-e2"),
              f.event(customer, [f.contact("EMAIL", f"{customer}-again@example.com", "MAKE_PRIMARY"),
                                 f.consent("EMAIL", "OPTED_IN")], f.at(3), event_id=f"{customer}-e3")]
    records: list[bytes | None] = []
    for count in range(1, len(events) + 1):
        state = fold(customer, events[:count])
        records.append(None if is_erased(state) else profile_bytes(state, profile_time(state)))
    return records


def expected_documents(settings: dict[str, Any], latest: dict[str, bytes | None]) -> dict[str, dict[str, Any]]:
    """The document a business unit configured with `settings` (as in TOML) must hold per customer,
    given each customer's latest record (profile bytes, or None for a tombstone)."""
    return {customer: reference.document(customer, None if value is None else decode_profile(value), settings)
            for customer, value in latest.items()}


def source_topic(settings: Settings, name: str, partitions: int = 3) -> str:
    """A fresh compacted profiles topic for one test."""
    create_topics(settings, [TopicSpec(name, partitions, {"cleanup.policy": "compact"})])
    return name


def produce(settings: Settings, topic: str, records: list[tuple[str, bytes | None]]) -> None:
    """Produce (customer id, profile bytes or None) records in order, and wait for the acks."""
    producer = Producer(producer_config(settings))
    for key, value in records:
        producer.produce(topic, value, key.encode())
        producer.poll(0)
    assert producer.flush(30) == 0


def committed(settings: Settings, group: str, topic: str, partitions: int = 3) -> int:
    """The sum of a group's committed offsets over a topic's partitions."""
    consumer = Consumer(consumer_config(settings, group))
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    finally:
        consumer.close()
    return sum(max(0, tp.offset) for tp in offsets)


def unit(name: str, topic: str, target: dict[str, Any], **settings: Any) -> SinkConfig:
    """One business unit's config, parsed as from the TOML file."""
    return parse_sinks({"source_topic": topic, "business_units": {name: {"target": target, **settings}}})[name]


@contextmanager
def running(config: SinkConfig, settings: Settings) -> Iterator[SinkRunner]:
    """A sink runner in a thread; on exit it is stopped (flush, commit) and joined."""
    runner = SinkRunner(config, settings)
    errors: list[BaseException] = []

    def main() -> None:
        try:
            runner.run()
        except BaseException as error:  # surfaced in the test below
            errors.append(error)

    thread = threading.Thread(target=main, name=f"sink-{config.name}", daemon=True)
    thread.start()
    try:
        yield runner
    finally:
        runner.stop()
        thread.join(60)
    assert not thread.is_alive(), "sink did not stop"
    assert not errors, errors


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def settle(read: Callable[[], Any], expected: Any, timeout: float, what: str) -> None:
    """Wait until `read()` equals `expected`; on timeout, assert it so the difference is shown."""
    deadline = time.monotonic() + timeout
    while (found := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    if found != expected:
        missing = "<missing>"
        differ = sorted(k for k in set(found) | set(expected) if found.get(k, missing) != expected.get(k, missing)) \
            if isinstance(found, dict) and isinstance(expected, dict) else []
        sample = differ[0] if differ else None
        raise AssertionError(f"{what} did not settle in {timeout} s; differing keys {differ}; first: found "
                             f"{found.get(sample, missing) if differ else found!r:.600} expected "
                             f"{expected.get(sample, missing) if differ else expected!r:.600}")
