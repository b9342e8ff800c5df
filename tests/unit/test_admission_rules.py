"""Admission, one literal case per rule: the reason and detail a rejected record gets, the skew a
record's event may be ahead of the record's own time, and the usual record taking the fast path
(its times as the epoch milliseconds Avro stores). Expected values are written out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from processors.domain.admission import admit, admit_for_fold, rejection
from schemas.codec import encode_event
from tests import factories as f

RECORD_MS = 1_772_366_400_000  # the record's Kafka timestamp: 2026-03-01T12:00Z
RECORD_TIME = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def record(occurred_at: datetime = RECORD_TIME, **fields: Any) -> bytes:
    """The encoded web event "e-1" with one topic subscription, and `fields` replaced."""
    return encode_event(f.event("cust-1", [f.topic("news", True)], occurred_at, event_id="e-1") | fields)


def admitted(event: dict[str, Any] | None) -> dict[str, Any]:
    """The event of a record that must have been admitted."""
    assert event is not None
    return event


def test_a_tombstone_is_rejected_as_no_value() -> None:
    assert admit(None, RECORD_MS) is None
    assert admit_for_fold(None, RECORD_MS) is None
    assert rejection(None, RECORD_MS) == ("NoValue", "the record has no value (a tombstone is not an event)")


@pytest.mark.parametrize(("value", "reason", "detail"), [
    (b"junk", "BadMarkerError", "preference_event: not an Avro single-object record (no C3 01 marker)"),
    (b"\xc3\x01" + bytes(8) + b"x", "UnknownFingerprintError",
     "preference_event: writer schema fingerprint 0000000000000000 is not a stored version"),
])
def test_bytes_that_do_not_decode_are_rejected_with_the_codecs_error(value: bytes, reason: str, detail: str) -> None:
    assert admit(value, RECORD_MS) is None
    assert admit_for_fold(value, RECORD_MS) is None
    assert rejection(value, RECORD_MS) == (reason, detail)


def test_an_invalid_event_is_rejected_with_every_problem_joined() -> None:
    value = record(event_id="x" * 201, subject="fax:1")
    assert admit(value, RECORD_MS) is None
    assert admit_for_fold(value, RECORD_MS) is None
    detail = ("event_id: longer than 200 characters; "
              "subject: not a customer id nor email:, phone:, loyalty: or social:<platform>: identifier")
    assert rejection(value, RECORD_MS) == ("invalid", detail)


def test_an_admitted_record_has_no_reason_to_be_rejected() -> None:
    assert rejection(record(), RECORD_MS) == ("", "")


def test_an_event_may_be_five_minutes_ahead_of_its_record_and_not_a_millisecond_more() -> None:
    limit = RECORD_TIME + timedelta(minutes=5)
    assert admitted(admit(record(limit), RECORD_MS))["occurred_at"] == limit
    assert admitted(admit_for_fold(record(limit), RECORD_MS))["occurred_at"] == RECORD_MS + 300_000
    too_far = limit + timedelta(milliseconds=1)
    assert admit(record(too_far), RECORD_MS) is None
    assert admit_for_fold(record(too_far), RECORD_MS) is None
    assert rejection(record(too_far), RECORD_MS) == (
        "invalid", "occurred_at: more than 0:05:00 in the future; recorded_at: more than 0:05:00 in the future")


def test_admit_gives_the_event_with_datetimes() -> None:
    event = admitted(admit(record(), RECORD_MS))
    assert (event["event_id"], event["occurred_at"], event["recorded_at"]) == ("e-1", RECORD_TIME, RECORD_TIME)


@pytest.mark.parametrize(("occurred_at", "record_ms", "occurred_ms"), [
    (RECORD_TIME, RECORD_MS, RECORD_MS),
    (RECORD_TIME + timedelta(minutes=4), RECORD_MS, RECORD_MS + 240_000),  # ahead, within the skew
    (datetime(1970, 1, 1, tzinfo=UTC), 0, 0),  # the first moment a record can have
])
def test_the_usual_record_takes_the_fast_path_with_epoch_milliseconds(occurred_at: datetime, record_ms: int,
                                                                       occurred_ms: int) -> None:
    event = admitted(admit_for_fold(record(occurred_at), record_ms))
    assert (event["event_id"], event["occurred_at"], event["recorded_at"]) == ("e-1", occurred_ms, occurred_ms)
