"""Encode a CustomerProfile from pieces already in Avro binary: the processor's hot path.

A profile is re-encoded after every event although most of its items did not change. The fold
keeps each item's bytes (made once by `item_writer` or `field_writer`), and `encode_profile_from`
splices them: an `Encoded` value is copied as is, a list is an Avro array of its items, any
other value is encoded for its field's schema. The result is byte-identical to
`codec.encode_profile` of the same profile as plain values (property tests hold them equal).

The writers are compiled from the profile schema into plain Python functions
(`schemas.compiled.compile_writer`): the same bytes as fastavro's `schemaless_writer`, without its
per-call set-up, which dominated the cost of encoding one small item.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastavro import parse_schema

from schemas.codec import MARKER, PROFILES
from schemas.compiled import Encoded, timestamp_millis, zigzag
from schemas.compiled import compile_writer as _compile

__all__ = ["FIELD_NAMES", "HEADER", "Encoded", "array_bytes", "compile_writer", "default_parts", "encode_profile_from",
           "field_writer", "item_writer", "join_profile", "long_bytes", "string_bytes", "timestamp_bytes",
           "timestamp_millis"]


def long_bytes(number: int) -> bytes:
    """An Avro long (or int)."""
    return zigzag(number)


def string_bytes(text: str) -> bytes:
    """An Avro string."""
    data = text.encode()
    return zigzag(len(data)) + data


def timestamp_bytes(moment: datetime | int) -> bytes:
    """An Avro timestamp-millis from an aware datetime or epoch milliseconds."""
    return zigzag(timestamp_millis(moment))


def array_bytes(items: list[bytes]) -> bytes:
    """An Avro array of items already encoded, in one block (as fastavro writes it)."""
    if not items:
        return b"\x00"
    return zigzag(len(items)) + b"".join(items) + b"\x00"


_NAMED: dict[str, Any] = {}
parse_schema(PROFILES.current, named_schemas=_NAMED)


def compile_writer(schema: Any) -> Callable[[Any], Encoded]:
    """A writer of one value of `schema`, a type inside the profile schema (see schemas.compiled)."""
    return _compile(schema, _NAMED)


def _field_type(name: str) -> Any:
    return next(field["type"] for field in PROFILES.current["fields"] if field["name"] == name)


def field_writer(name: str) -> Callable[[Any], Encoded]:
    """Encodes a value of the top-level profile field `name`."""
    return compile_writer(_field_type(name))


def item_writer(name: str) -> Callable[[dict[str, Any]], Encoded]:
    """Encodes one item of the top-level array field `name` of the profile."""
    return compile_writer(_field_type(name)["items"])


def _plan(field: dict[str, Any]) -> Callable[[Any], bytes]:
    """The cheapest encoder of a top-level field's value (Encoded and lists short-circuit)."""
    schema = field["type"]
    general = compile_writer(schema)
    if isinstance(schema, dict) and schema.get("type") == "array":
        item = compile_writer(schema["items"])

        def array(value: Any) -> bytes:
            if isinstance(value, Encoded):
                return value
            return array_bytes([part if isinstance(part, Encoded) else item(part) for part in value])

        return array
    return lambda value: value if isinstance(value, Encoded) else general(value)


FIELD_NAMES = tuple(field["name"] for field in PROFILES.current["fields"])
_PLANS = [(field["name"], field.get("default"), _plan(field)) for field in PROFILES.current["fields"]]
HEADER = MARKER + PROFILES.current_fingerprint


def default_parts() -> list[bytes | None]:
    """One slot per profile field in schema order: the encoded default where the field has one."""
    return [plan(default) if "default" in field else None
            for (_, default, plan), field in zip(_PLANS, PROFILES.current["fields"], strict=True)]


def encode_profile_from(fields: dict[str, Any]) -> bytes:
    """A CustomerProfile as single-object bytes, from plain values and `Encoded` pieces."""
    return HEADER + b"".join([plan(fields.get(name, default)) for name, default, plan in _PLANS])


def join_profile(parts: list[bytes]) -> bytes:
    """A CustomerProfile as single-object bytes from every field's bytes, in schema order."""
    return HEADER + b"".join(parts)
