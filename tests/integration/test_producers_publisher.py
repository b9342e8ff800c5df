"""The shared publisher against the real broker: ack, key, partition, DLQ, rejection, and the
64 KiB a DLQ record keeps of an input at most."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from prefstream.core.dlq import read_headers
from prefstream.core.kafka import partition_for
from prefstream.core.settings import Settings
from prefstream.core.topics import DLQ, EVENTS
from producers.publisher import Publisher, Rejected
from schemas.codec import decode_event, encode_event
from tests.factories import attribute, consent, event
from tests.integration.helpers import read_all


def test_accepted_event_is_on_the_log_under_its_key_and_partition(kafka: Settings, publisher: Publisher) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    events = [event(f"cust-{uuid.uuid4().hex[:8]}", [consent("EMAIL", "OPTED_IN")], now) for _ in range(5)]

    async def publish_all():
        return await asyncio.gather(*(publisher.publish(e) for e in events))

    accepted = asyncio.run(publish_all())
    sync = publisher.publish_sync(event("cust-sync", [consent("SMS", "OPTED_OUT")], now))
    accepted.append(sync)
    events.append(event("cust-sync", [], now, event_id=sync.event_id))
    for item, source in zip(accepted, events, strict=True):
        assert item.topic == EVENTS and item.event_id == source["event_id"]
        assert item.partition == partition_for(source["subject"], kafka.partitions)
    wanted = {(a.partition, a.offset): e for a, e in zip(accepted, events, strict=True)}
    messages = read_all(kafka, EVENTS, lambda ms: wanted.keys() <= {(m.partition(), m.offset()) for m in ms})
    found = {(m.partition(), m.offset()): m for m in messages}
    assert wanted.keys() <= found.keys()  # every acknowledged event is where the ack said
    for position, source in wanted.items():
        assert found[position].key() == source["subject"].encode()
        assert decode_event(found[position].value())["event_id"] == source["event_id"]


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


# -- a DLQ record keeps at most 64 KiB of the input, and says when it cut ---------------------------

DLQ_LIMIT = 64 * 1024


def numbered(size: int) -> bytes:
    """`size` bytes in a cycle of 251 (a prime): a record cut at another length differs from the expected prefix."""
    return bytes(index % 251 for index in range(size))


def dlq_record(kafka: Settings, key: bytes) -> tuple[bytes, dict[str, str]]:
    """The value and prefstream headers of the DLQ record under `key`."""
    record = next(m for m in read_all(kafka, DLQ, lambda ms: any(m.key() == key for m in ms)) if m.key() == key)
    return record.value(), read_headers(record.headers())


@pytest.mark.parametrize("size", [DLQ_LIMIT - 1, DLQ_LIMIT])
def test_raw_rejection_up_to_64_kib_is_kept_whole(kafka: Settings, publisher: Publisher, size: int) -> None:
    key = uuid.uuid4().hex.encode()
    asyncio.run(publisher.reject_raw(key, numbered(size), "bad_line", "line 3: unknown column"))
    value, headers = dlq_record(kafka, key)
    assert value == numbered(size)
    assert headers["prefstream.error"] == "line 3: unknown column"


@pytest.mark.parametrize("size", [DLQ_LIMIT + 1, 1024 * 1024 + 3])
def test_larger_raw_rejection_is_cut_to_64_kib_and_the_error_says_so(kafka: Settings, publisher: Publisher, size: int) -> None:
    awaited, submitted = uuid.uuid4().hex.encode(), uuid.uuid4().hex.encode()
    asyncio.run(publisher.reject_raw(awaited, numbered(size), "malformed_json", "body is not JSON"))
    assert publisher.submit_raw(submitted, numbered(size), "bad_line", "line 3: unknown column").result(30) is None
    for key, error in ((awaited, "body is not JSON"), (submitted, "line 3: unknown column")):
        value, headers = dlq_record(kafka, key)
        assert len(value) == DLQ_LIMIT and value == numbered(size)[:DLQ_LIMIT]
        assert headers["prefstream.error"] == f"{error} (input cut to its first 65536 of {size} bytes)"


def test_oversized_invalid_event_is_cut_to_64_kib_on_the_dlq(kafka: Settings, publisher: Publisher) -> None:
    subject = f"cust-{uuid.uuid4().hex[:8]}"
    bad = event(subject, [attribute("notes", "n" * 100_000)], datetime.now(UTC) + timedelta(days=30))
    encoded = encode_event(bad)
    assert len(encoded) > DLQ_LIMIT
    with pytest.raises(Rejected):
        publisher.publish_sync(bad)
    value, headers = dlq_record(kafka, subject.encode())
    assert value == encoded[:DLQ_LIMIT]
    assert headers["prefstream.reason"] == "future_time"
    assert headers["prefstream.error"].endswith(f" (input cut to its first 65536 of {len(encoded)} bytes)")
    assert "occurred_at" in headers["prefstream.error"]
