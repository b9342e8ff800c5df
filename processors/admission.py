"""Which log records the processor folds: the rule shared by the live processor and replay.

A record is folded when it decodes (any stored schema version) and validates against its own
Kafka timestamp; every other record went to the DLQ and is part of no profile.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.codec import CodecError, decode_event
from schemas.validation import validate_event

MAX_FUTURE_SKEW = timedelta(minutes=5)


def admit(value: bytes | None, timestamp_ms: int) -> dict[str, Any] | None:
    """The decoded event when the processor folds this record, None when it was rejected."""
    if value is None:
        return None
    try:
        event = decode_event(value)
    except CodecError:
        return None
    recorded = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return None if validate_event(event, now=recorded, max_future_skew=MAX_FUTURE_SKEW) else event
