"""Dead-letter records: the original bytes, with the reason in headers.

Reasons are short codes plus a message that names the problem and the field, never the value
(values may be personal data).
"""

from __future__ import annotations

from datetime import datetime

HEADER_REASON = "prefstream.reason"
HEADER_ERROR = "prefstream.error"
HEADER_SOURCE = "prefstream.source"
HEADER_TOPIC = "prefstream.original.topic"
HEADER_PARTITION = "prefstream.original.partition"
HEADER_OFFSET = "prefstream.original.offset"
HEADER_REJECTED_AT = "prefstream.rejected_at"


def dlq_headers(
    reason: str,
    error: str,
    source: str,
    rejected_at: datetime,
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> list[tuple[str, bytes]]:
    """Headers for a DLQ record: why, who rejected it, and where the original came from."""
    headers = [
        (HEADER_REASON, reason.encode()),
        (HEADER_ERROR, error.encode()[:4096]),
        (HEADER_SOURCE, source.encode()),
        (HEADER_REJECTED_AT, rejected_at.isoformat().encode()),
    ]
    if topic is not None:
        headers += [
            (HEADER_TOPIC, topic.encode()),
            (HEADER_PARTITION, str(partition).encode()),
            (HEADER_OFFSET, str(offset).encode()),
        ]
    return headers


def read_headers(headers: list[tuple[str, bytes]] | None) -> dict[str, str]:
    """The prefstream headers of a DLQ record as text."""
    return {key: value.decode(errors="replace") for key, value in headers or [] if key.startswith("prefstream.")}
