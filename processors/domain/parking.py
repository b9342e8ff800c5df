"""Parked events: events whose subject is an identifier no customer has claimed yet.

They wait, keyed by the identifier, until a customer's contact point links it; then they are
re-sent to that customer. A parked value is a list of raw Avro records, length-prefixed.
"""

from __future__ import annotations

import struct

_LENGTH = struct.Struct(">I")


def pack(records: list[bytes]) -> bytes:
    """Join raw records into one value."""
    return b"".join(_LENGTH.pack(len(record)) + record for record in records)


def unpack(value: bytes | None) -> list[bytes]:
    """Split a value made by `pack` back into its records."""
    records: list[bytes] = []
    offset = 0
    data = value or b""
    while offset < len(data):
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        records.append(data[offset : offset + length])
        offset += length
    return records


def add(value: bytes | None, record: bytes) -> bytes:
    """The parked value with `record` added, unless it is already there (redelivery)."""
    records = unpack(value)
    if record not in records:
        records.append(record)
    return pack(records)
