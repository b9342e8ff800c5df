"""The shared publisher against the real broker: ack, key, partition, DLQ, rejection."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from prefstream.dlq import read_headers
from prefstream.settings import Settings
from prefstream.topics import DLQ, EVENTS
from producers.publisher import Publisher, Rejected
from schemas.codec import decode_event
from tests.factories import consent, event
from tests.integration.helpers import read_all
from processors.partitioner import partition_for


def test_accepted_event_is_on_the_log_under_its_key_and_partition(kafka: Settings, publisher: Publisher) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    events = [event(f"cust-{uuid.uuid4().hex[:8]}", [consent("EMAIL", "OPTED_IN")], now) for _ in range(5)]

    async def publish_all():
        return await asyncio.gather(*(publisher.publish(e) for e in events))

    accepted = asyncio.run(publish_all())
    sync = publisher.publish_sync(event("cust-sync", [consent("SMS", "OPTED_OUT")], now))
    accepted.append(sync)
    events.append(event("cust-sync", [], now, event_id=sync.event_id))
    for item, source in zip(accepted, events):
        assert item.topic == EVENTS and item.event_id == source["event_id"]
        assert item.partition == partition_for(source["subject"], kafka.partitions)
    wanted = {(a.partition, a.offset): e for a, e in zip(accepted, events)}
    found = read_all(kafka, EVENTS, lambda ms: wanted.keys() <= {(m.partition(), m.offset()) for m in ms})
    for message in found:
        if (message.partition(), message.offset()) in wanted:
            source = wanted[(message.partition(), message.offset())]
            assert message.key() == source["subject"].encode()
            assert decode_event(message.value())["event_id"] == source["event_id"]


def test_invalid_event_is_rejected_with_every_problem_and_lands_on_the_dlq(kafka: Settings, publisher: Publisher) -> None:
    far = datetime.now(UTC) + timedelta(days=30)
    bad = event("phone:555-0100", [consent("FAX", "OPTED_IN")], far)
    with pytest.raises(Rejected) as caught:
        publisher.publish_sync(bad)
    paths = {problem.path for problem in caught.value.problems}
    assert {"subject", "occurred_at", "changes[0].channel"} <= paths
    assert caught.value.dlq_reason == "future_time"
    assert "555" not in str(caught.value)  # the message names fields, never values
    dlq = read_all(kafka, DLQ, lambda ms: any(m.key() == b"phone:555-0100" for m in ms))
    record = next(m for m in dlq if m.key() == b"phone:555-0100")
    headers = read_headers(record.headers())
    assert headers["prefstream.reason"] == "future_time"
    assert headers["prefstream.source"] == "integration-test"  # the shared fixture's source
    assert "changes[0].channel" in headers["prefstream.error"]


def test_raw_rejection_is_confirmed_on_the_dlq(kafka: Settings, publisher: Publisher) -> None:
    marker = uuid.uuid4().hex.encode()
    asyncio.run(publisher.reject_raw(marker, b"{not json", "malformed_json", "body is not JSON"))
    dlq = read_all(kafka, DLQ, lambda ms: any(m.key() == marker for m in ms))
    record = next(m for m in dlq if m.key() == marker)
    assert record.value() == b"{not json"
    assert read_headers(record.headers())["prefstream.reason"] == "malformed_json"
