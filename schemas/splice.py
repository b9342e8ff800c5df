"""Encode a CustomerProfile from pieces already in Avro binary: the processor's hot path.

A profile is re-encoded after every event although most of its items did not change. The fold
keeps each item's bytes (made once by `item_writer` or `field_writer`), and `encode_profile_from`
splices them: an `Encoded` value is copied as is, a list is an Avro array of its items, any
other value is encoded for its field's schema. The result is byte-identical to
`codec.encode_profile` of the same profile as plain values (a property test holds them equal).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastavro import parse_schema, schemaless_writer

from schemas.codec import MARKER, PROFILES

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Encoded(bytes):
    """Bytes already in Avro binary for the value (or array item) of a profile field."""


def _zigzag(number: int) -> bytes:
    number = (number << 1) ^ (number >> 63)
    out = bytearray()
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _millis(moment: datetime | int) -> int:
    """timestamp-millis exactly as fastavro computes it."""
    if isinstance(moment, int):
        return moment
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


_NAMED: dict[str, Any] = {}
parse_schema(PROFILES.current, named_schemas=_NAMED)


def _writer_for(schema: Any) -> Callable[[Any], Encoded]:
    """A function that encodes one value of `schema` (a type inside the profile schema)."""
    parsed = parse_schema(schema, named_schemas=dict(_NAMED))

    def write(value: Any) -> Encoded:
        buffer = io.BytesIO()
        schemaless_writer(buffer, parsed, value)
        return Encoded(buffer.getvalue())

    return write


def _field_type(name: str) -> Any:
    return next(field["type"] for field in PROFILES.current["fields"] if field["name"] == name)


def field_writer(name: str) -> Callable[[Any], Encoded]:
    """Encodes a value of the top-level profile field `name`."""
    return _writer_for(_field_type(name))


def item_writer(name: str) -> Callable[[dict[str, Any]], Encoded]:
    """Encodes one item of the top-level array field `name` of the profile."""
    return _writer_for(_field_type(name)["items"])


def _plan(field: dict[str, Any]) -> Callable[[Any], bytes]:
    """The cheapest encoder of a top-level field's value (Encoded and lists short-circuit)."""
    schema = field["type"]
    general = _writer_for(schema)
    if isinstance(schema, dict) and schema.get("type") == "array":
        item = _writer_for(schema["items"])

        def array(value: Any) -> bytes:
            if isinstance(value, Encoded):
                return value
            if not value:
                return b"\x00"
            items = [part if isinstance(part, Encoded) else item(part) for part in value]
            return _zigzag(len(items)) + b"".join(items) + b"\x00"

        return array
    if schema == "string":
        return lambda value: value if isinstance(value, Encoded) else _zigzag(len(data := value.encode())) + data
    if schema == "long" or (isinstance(schema, dict) and schema.get("logicalType") == "timestamp-millis"):
        return lambda value: value if isinstance(value, Encoded) else _zigzag(_millis(value))
    if isinstance(schema, list) and schema[0] == "null":
        return lambda value: b"\x00" if value is None else value if isinstance(value, Encoded) else general(value)
    return lambda value: value if isinstance(value, Encoded) else general(value)


_PLANS = [(field["name"], field.get("default"), _plan(field)) for field in PROFILES.current["fields"]]
_HEADER = MARKER + PROFILES.current_fingerprint


def encode_profile_from(fields: dict[str, Any]) -> bytes:
    """A CustomerProfile as single-object bytes, from plain values and `Encoded` pieces."""
    return _HEADER + b"".join(plan(fields.get(name, default)) for name, default, plan in _PLANS)
