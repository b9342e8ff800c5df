"""Parked values: raw records joined with a 4-byte big-endian length before each, split back
exactly, and a record already parked is not parked twice. Expected bytes are written out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from processors.domain.parking import add, pack, unpack


def test_pack_prefixes_each_record_with_its_big_endian_length() -> None:
    assert pack([b"ab", b"", b"xyz"]) == b"\x00\x00\x00\x02ab" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x03xyz"


def test_a_long_record_has_its_length_in_all_four_bytes() -> None:
    record = b"r" * 0x010203
    assert pack([record])[:4] == b"\x00\x01\x02\x03"


def test_nothing_parked_packs_to_nothing_and_unpacks_to_no_record() -> None:
    assert pack([]) == b""
    assert unpack(b"") == []
    assert unpack(None) == []


def test_unpack_splits_a_value_written_out_by_hand() -> None:
    value = b"\x00\x00\x00\x03one" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x05three"
    assert unpack(value) == [b"one", b"", b"three"]


def test_adding_to_nothing_parks_one_record() -> None:
    assert add(None, b"rec") == b"\x00\x00\x00\x03rec"


def test_adding_keeps_the_records_in_arrival_order() -> None:
    value = add(add(None, b"first"), b"second")
    assert value == b"\x00\x00\x00\x05first" + b"\x00\x00\x00\x06second"


def test_a_redelivered_record_is_not_parked_twice() -> None:
    once = add(add(None, b"a"), b"b")
    assert add(once, b"a") == once
    assert add(once, b"b") == once


records = st.lists(st.binary(max_size=40), max_size=8)


@given(records)
def test_unpack_gives_back_what_was_packed(parked: list[bytes]) -> None:
    assert unpack(pack(parked)) == parked


@given(records, st.binary(max_size=40))
def test_add_appends_a_new_record_and_ignores_a_known_one(parked: list[bytes], record: bytes) -> None:
    expected = parked if record in parked else [*parked, record]
    assert unpack(add(pack(parked), record)) == expected
