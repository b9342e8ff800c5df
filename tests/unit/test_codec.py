"""Avro single-object codec: round trips, versions, and distinct errors for bad bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings

from processors.domain.fold import fold, to_profile
from schemas.codec import (
    MARKER,
    BadMarkerError,
    CorruptRecordError,
    SchemaFamily,
    UnknownFingerprintError,
    decode_event,
    decode_profile,
    encode_event,
    encode_profile,
    fingerprint,
)
from tests import factories as f
from tests.strategies import change, events

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_fingerprint_matches_the_avro_spec_test_vector_for_null() -> None:
    # Avro spec / Java SchemaNormalization.fingerprint64("null") = 7195948357588979594.
    assert int.from_bytes(fingerprint("null"), "little") == 7195948357588979594 == 0x63DD24E7CC258F8A
    assert fingerprint({"type": "string"}) == (0x8F014872634503C7).to_bytes(8, "little")


def test_the_header_carries_the_writer_fingerprint() -> None:
    data = encode_event(f.event("c", [f.erasure()]))
    assert data[2:10] == fingerprint(json.loads((SCHEMAS / "preference_event" / "v1.avsc").read_text()))


@settings(max_examples=200, deadline=None)
@given(change)
def test_every_change_kind_round_trips(one_change) -> None:
    original = f.event("cust-1", [one_change], proof=f.proof("VERBAL", recording_ref="rec-1"))
    data = encode_event(original)
    assert data[:2] == MARKER
    assert decode_event(data) == original


def test_erasure_round_trips() -> None:
    original = f.event("cust-1", [f.erasure()])
    assert decode_event(encode_event(original)) == original


@settings(max_examples=50, deadline=None)
@given(events())
def test_profiles_round_trip(history) -> None:
    profile = to_profile(fold("cust-1", history), f.at(30))
    assert decode_profile(encode_profile(profile)) == profile


def test_a_wrong_marker_is_its_own_error() -> None:
    with pytest.raises(BadMarkerError):
        decode_event(b'{"json": "not avro"}')


def test_an_unknown_fingerprint_is_its_own_error() -> None:
    data = encode_event(f.event("c", [f.erasure()]))
    with pytest.raises(UnknownFingerprintError):
        decode_event(data[:2] + b"\x00" * 8 + data[10:])


@pytest.mark.parametrize("cut", [3, 12, -1])
def test_truncated_bytes_are_a_corrupt_record(cut: int) -> None:
    data = encode_event(f.event("c", [f.consent("EMAIL", "OPTED_IN")]))
    with pytest.raises(CorruptRecordError):
        decode_event(data[:cut])


def test_trailing_garbage_is_a_corrupt_record() -> None:
    data = encode_event(f.event("c", [f.consent("EMAIL", "OPTED_IN")]))
    with pytest.raises(CorruptRecordError):
        decode_event(data + b"\x00\x01")


def _v2(tmp_path: Path) -> Path:
    """A family directory with the real v1 and a compatible v2: a new field and a new enum symbol."""
    family = tmp_path / "preference_event"
    family.mkdir()
    v1 = json.loads((SCHEMAS / "preference_event" / "v1.avsc").read_text())
    (family / "v1.avsc").write_text(json.dumps(v1))
    v2 = json.loads(json.dumps(v1))
    v2["fields"].append({"name": "campaign", "type": ["null", "string"], "default": None})
    touchpoint = v2["fields"][4]["type"]["fields"][0]["type"]
    touchpoint["symbols"].insert(-1, "KIOSK")
    (family / "v2.avsc").write_text(json.dumps(v2))
    return family


def test_a_v1_record_decodes_under_v2_and_a_v2_record_under_v1(tmp_path: Path) -> None:
    family_dir = _v2(tmp_path)
    v2_codec = SchemaFamily.load(family_dir)
    v1_codec = SchemaFamily.load(family_dir, reader_version=1)
    original = f.event("cust-1", [f.consent("EMAIL", "OPTED_IN")])
    old_bytes = v1_codec.encode(original)
    assert v2_codec.decode(old_bytes) == original | {"campaign": None}
    new_bytes = v2_codec.encode(original | {"campaign": "spring", "source": original["source"] | {"touchpoint": "KIOSK"}})
    assert new_bytes[2:10] != old_bytes[2:10]
    decoded = v1_codec.decode(new_bytes)
    assert "campaign" not in decoded
    assert decoded["source"]["touchpoint"] == "OTHER"  # the enum default stands in for an unknown symbol
