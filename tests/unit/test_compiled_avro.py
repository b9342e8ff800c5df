"""The compiled Avro writers and readers are fastavro's, byte for byte and record for record."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.validation import validate
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.domain.fold import fold, to_datetime, to_profile
from processors.domain.profile_encoding import wire_ms
from schemas.codec import EVENTS, HEADER_SIZE, MARKER, PROFILES, CodecError, EncodeError, decode_event, encode_event
from schemas.compiled import UnsupportedSchema, _fastavro_writer, compile_reader, compile_writer, timestamp_millis, zigzag
from schemas.splice import _NAMED, _field_type, field_writer, item_writer
from schemas.validation import validate_event
from tests import factories as f
from tests.reach import reach_checked, reached
from tests.strategies import change, events

fast = settings(max_examples=200, deadline=None)
FASTAVRO_ONLY = dataclasses.replace(EVENTS, fast_reader=None)  # the codec as it was: fastavro decides everything


def fastavro_bytes(schema, value) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, schema, value)
    return buffer.getvalue()


def outcome(decode, data: bytes):
    """What decoding gives: the record, or the error's class and message."""
    try:
        return "ok", decode(data)
    except CodecError as error:
        return type(error).__name__, str(error)


@fast
@given(events(), st.integers(min_value=0, max_value=60 * 24 * 3))
def test_the_compiled_profile_writer_is_fastavros(history, minutes) -> None:
    profile = to_profile(fold("cust-1", history), f.at(minutes))
    assert compile_writer(PROFILES.current)(profile) == fastavro_bytes(PROFILES.current, profile)
    for name in ("contact_points", "consents", "topics", "frequencies", "pauses", "attributes", "suppressions", "reachable"):
        reference = _fastavro_writer(_field_type(name)["items"], _NAMED)
        for item in profile[name]:
            assert item_writer(name)(item) == reference(item)
    quiet_reference = _fastavro_writer(_field_type("quiet_hours"), _NAMED)
    assert field_writer("quiet_hours")(profile["quiet_hours"]) == quiet_reference(profile["quiet_hours"])


@fast
@given(st.lists(change, min_size=1, max_size=4), st.none() | st.sampled_from(["VERBAL", "WRITTEN"]), st.text(max_size=5))
def test_the_compiled_event_reader_gives_fastavros_record(changes, method, text) -> None:
    proof = None if method is None else f.proof(method, recording_ref=text or None, locale="fr-CA")
    data = encode_event(f.event(text or "c", changes, proof=proof, interaction_id=text or None, actor_id=text))
    record, end = EVENTS.fast_reader(data, HEADER_SIZE)
    reference = schemaless_reader(io.BytesIO(data[HEADER_SIZE:]), EVENTS.current, None)
    assert end == len(data)
    assert record == reference and list(record) == list(reference)
    assert decode_event(data) == FASTAVRO_ONLY.decode(data) == reference


@settings(max_examples=300, deadline=None)
@given(st.lists(change, min_size=1, max_size=3), st.data())
def test_damaged_records_decode_exactly_as_fastavro_decodes_them(changes, data) -> None:
    """Truncated, extended or bit-flipped: the same record, or the same error, as the fastavro-only codec."""
    record = bytearray(encode_event(f.event("cust-1", changes, proof=f.proof())))
    damage = data.draw(st.sampled_from(["truncate", "flip", "append", "byte"]))
    at = data.draw(st.integers(min_value=HEADER_SIZE, max_value=len(record) - 1))
    if damage == "truncate":
        del record[at:]
    elif damage == "flip":
        record[at] ^= 1 << data.draw(st.integers(0, 7))
    elif damage == "append":
        record += bytes(data.draw(st.lists(st.integers(0, 255), min_size=1, max_size=3)))
    else:
        record[at] = data.draw(st.integers(0, 255))
    assert outcome(decode_event, bytes(record)) == outcome(FASTAVRO_ONLY.decode, bytes(record))


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_zigzag_is_the_avro_long(number) -> None:
    assert zigzag(number) == fastavro_bytes("long", number)


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=4_000_000_000_000 - 1)
       | st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999))  # years 1 to 9999
def test_wire_millis_is_what_the_rendered_datetime_encodes_to(ms) -> None:
    rendered = to_datetime(ms)
    assert wire_ms(ms) == timestamp_millis(rendered)
    assert zigzag(wire_ms(ms)) == fastavro_bytes({"type": "long", "logicalType": "timestamp-millis"}, rendered)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_timestamps_are_prepared_as_fastavro_prepares_them(moment) -> None:
    assert zigzag(timestamp_millis(moment)) == fastavro_bytes({"type": "long", "logicalType": "timestamp-millis"}, moment)


OTHER = parse_schema({
    "type": "record", "name": "Other", "fields": [
        {"name": "ratio", "type": "double"},
        {"name": "tags", "type": {"type": "map", "values": "string"}},
        {"name": "either", "type": ["null", "string", "long"]},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "raw", "type": "bytes"},
        {"name": "flags", "type": {"type": "array", "items": "boolean"}},
        {"name": "missing", "type": ["null", "string"], "default": None},
    ],
})


@fast
@given(st.floats(allow_nan=False), st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=3),
       st.none() | st.text(max_size=3) | st.integers(-(2**40), 2**40), st.dates(), st.binary(max_size=70),
       st.lists(st.booleans(), max_size=70))
def test_a_construct_the_writer_does_not_compile_is_written_by_fastavro(ratio, tags, either, day, raw, flags) -> None:
    value = {"ratio": ratio, "tags": tags, "either": either, "day": day, "raw": raw, "flags": flags}
    assert compile_writer(OTHER)(value) == fastavro_bytes(OTHER, value)


def test_a_schema_the_reader_does_not_compile_is_refused_at_once() -> None:
    with pytest.raises(UnsupportedSchema):
        compile_reader(OTHER)


@reach_checked()
@fast
@given(st.binary(max_size=70), st.lists(st.booleans(), max_size=70), st.lists(st.integers(-(2**63), 2**63 - 1), max_size=6))
def test_the_reader_reads_bytes_long_arrays_and_negative_block_counts(raw, flags, numbers) -> None:
    """Counts where the long array is not empty: then it is also written as one negatively counted block."""
    schema = parse_schema({"type": "record", "name": "R", "fields": [
        {"name": "raw", "type": "bytes"}, {"name": "flags", "type": {"type": "array", "items": "boolean"}},
        {"name": "numbers", "type": {"type": "array", "items": "long"}}]})
    value = {"raw": raw, "flags": flags, "numbers": numbers}
    data = fastavro_bytes(schema, value)
    assert compile_reader(schema)(data, 0) == (value, len(data))
    if numbers:  # the same array written as one block with a negative count and its byte size
        reached()
        body = b"".join(zigzag(n) for n in numbers)
        head = data[: len(data) - len(b"".join(zigzag(n) for n in numbers)) - len(zigzag(len(numbers))) - 1]
        blocked = head + zigzag(-len(numbers)) + zigzag(len(body)) + body + b"\x00"
        assert compile_reader(schema)(blocked, 0) == (value, len(blocked))
        assert schemaless_reader(io.BytesIO(blocked), schema, None) == value


# -- the strict writer: the codec's encoder for records nobody has checked ---------------------

def fastavro_encoded(event) -> bytes:
    """The event as the codec encoded it before: fastavro chose each change's branch."""
    return MARKER + EVENTS.current_fingerprint + fastavro_bytes(EVENTS.current, event)


EDGES = st.sampled_from([2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63) - 1])  # just in and just out of int and long
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), EDGES, EDGES, st.floats(allow_nan=False), st.text(max_size=3),
                 st.binary(max_size=3), st.lists(st.integers(0, 3), max_size=2), st.tuples(st.text(max_size=2)),
                 st.dictionaries(st.text(max_size=2), st.integers(0, 3), max_size=2), st.just(f.at(1)),
                 st.sampled_from(["SMS", "EMAIL", "OPTED_IN", "CLICKWRAP", "WEB", "ADD", "DAILY", "marketing", "OTHER"]))
PROOFS = st.none() | st.builds(f.proof, st.sampled_from(["CLICKWRAP", "VERBAL", "DOUBLE_OPT_IN"]), ip=st.none() | st.just("10.0.0.1"))
CHANGES = next(field for field in EVENTS.current["fields"] if field["name"] == "changes")["type"]
BRANCHES = {frozenset(field["name"] for field in branch["fields"]): branch["name"]
            for branch in (_NAMED[item] if isinstance(item, str) else item for item in CHANGES["items"])}


def tagged(event):
    """The event with each change in fastavro's tuple notation, naming the branch whose fields are
    exactly its keys (the codec's contract); None when a change has no such branch."""
    changes = event.get("changes")
    if not isinstance(changes, list) or not all(isinstance(change, dict) for change in changes):
        return None
    names = [BRANCHES.get(frozenset(change)) for change in changes]
    if None in names:
        return None
    return event | {"changes": [(name, change) for name, change in zip(names, changes, strict=True)]}


def expected(event):
    """What the codec must give: fastavro's bytes for the exactly tagged event, or an EncodeError."""
    exact = tagged(event)
    try:
        if exact is None or not validate(exact, EVENTS.current, raise_errors=False):
            return "EncodeError"
    except Exception:  # noqa: BLE001 - validate raises on some shapes instead of saying False
        return "EncodeError"
    return fastavro_encoded(exact)


def encoding(codec, record):
    """What encoding gives: the bytes, or the error's class."""
    try:
        return codec.encode(record)
    except Exception as error:  # noqa: BLE001 - compared, whatever it is
        return type(error).__name__


@fast
@given(events(max_size=3), PROOFS)
def test_the_strict_writer_writes_every_valid_event_as_fastavro_does(history, proof) -> None:
    for event in history:
        event = event | {"proof": proof}
        assert EVENTS.encode(event) == expected(event)
        assert EVENTS.encode(event)[HEADER_SIZE:] == fastavro_bytes(EVENTS.current, event)  # fastavro alone agrees here


@reach_checked()
@settings(max_examples=1500, deadline=None)
@given(st.lists(change, min_size=1, max_size=2), PROOFS, st.data())
def test_an_event_with_a_wrong_value_anywhere_is_written_as_tagged_or_refused(changes, proof, data) -> None:
    """A field replaced by junk, removed, or joined by an unknown key, at the top, in a change or in
    the proof: fastavro's bytes with each change tagged as the branch of exactly its keys, when
    fastavro's `validate` takes that, else an EncodeError (also, on purpose, for bytes as an array)."""
    event = f.event("cust-1", [dict(item) for item in changes], f.at(2), proof=proof)
    targets = [event, *event["changes"], *([event["proof"]] if event["proof"] else [])]
    target = data.draw(st.sampled_from(targets))
    key = data.draw(st.sampled_from(sorted(target)))
    action = data.draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "replace":
        target[key] = data.draw(JUNK)
    elif action == "remove":
        del target[key]
    else:
        target[data.draw(st.text(min_size=1, max_size=3))] = data.draw(JUNK)
    outcome = encoding(EVENTS, event)
    if outcome == "EncodeError" and channels_not_a_list(event):
        return  # stricter than validate on purpose: bytes pass as a sequence there, not here
    reached()
    assert outcome == expected(event)


def channels_not_a_list(event) -> bool:
    """Whether a change's `channels` (an array) holds something other than a list or tuple."""
    changes = event.get("changes")
    return isinstance(changes, list) and any(
        isinstance(change, dict) and "channels" in change and type(change["channels"]) not in (list, tuple)
        for change in changes)


def test_a_change_is_written_as_the_branch_of_exactly_its_keys() -> None:
    # fastavro alone wrote an erasure whose reason is also a suppression reason as a Suppression of
    # every channel (the first branch it validates against with as many fields in common).
    erasure = f.event("cust-1", [{"reason": "OTHER"}], f.at(0))
    suppression = [{"channel": None, "active": True, "reason": "OTHER"}]
    assert decode_event(fastavro_encoded(erasure))["changes"] == suppression
    assert decode_event(encode_event(erasure))["changes"] == [{"reason": "OTHER"}]
    # and a frequency change whose max_per_week is no Avro int, likewise; the codec refuses it, and
    # validation tells the sender first
    too_big = f.event("cust-1", [f.frequency("DAILY", channel=None) | {"max_per_week": 2**40}], f.at(0))
    assert decode_event(fastavro_encoded(too_big))["changes"] == suppression
    with pytest.raises(EncodeError):
        encode_event(too_big)
    assert [problem.path for problem in validate_event(too_big, f.at(0))] == ["changes[0].max_per_week"]


def test_the_strict_writer_refuses_what_fastavro_would_not_validate() -> None:
    event = f.event("cust-1", [f.topic("sale", True)], f.at(0))
    for bad in (1, "yes", None):
        with pytest.raises(EncodeError):  # a boolean must be True or False
            encode_event(event | {"changes": [f.topic("sale", True) | {"subscribed": bad}]})
    with pytest.raises(EncodeError):  # a bool is no timestamp, though fastavro's writer writes it as 1 ms
        encode_event(event | {"occurred_at": True})
    with pytest.raises(ValueError):  # a long may not be a bool, though fastavro's writer would write it as 1
        compile_writer("long", strict=True)(True)
    assert compile_writer("long")(True) == fastavro_bytes("long", True)
