"""The processor's state codec: lossless, deterministic, and the per-event round trip equals the fold."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.domain.fold import Register, State, apply, empty_state, fold, to_profile
from processors.domain.profile_encoding import profile_bytes
from processors.domain.state_codec import decode_state, encode_state
from schemas.codec import encode_profile
from tests import factories as f
from tests.reach import reach_checked, reached
from tests.strategies import contested, events

fast = settings(max_examples=150, deadline=None)
AT = f.at(minutes=30)

# Text JSON must escape: quotes, backslashes, newlines (the line separator), control and non-ASCII characters.
awkward = st.text(alphabet=st.sampled_from(['a', 'Z', '"', '\\', '\n', '\r', '\t', ',', '[', ']', '\x00', 'é', '中', '😀']),
                  min_size=1, max_size=8)


def first_format(state: State) -> bytes:
    """What encode_state wrote before the JSON-lines format (kept here to hold decode_state to it)."""
    return json.dumps(
        {
            "customer_id": state.customer_id,
            "registers": [
                [list(key), list(register.clock), register.value, register.provenance]
                for key, register in sorted(state.registers.items())
            ],
            "event_ids": sorted(state.event_ids),
            "erased": list(state.erased) if state.erased else None,
            "updated_ms": state.updated_ms,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


@fast
@given(events())
def test_decoding_an_encoded_state_gives_the_state_back(history) -> None:
    state = fold("cust-1", history)
    decoded = decode_state(encode_state(state))
    assert decoded == state
    assert decoded.version == state.version and decoded.erased == state.erased


@reach_checked()
@fast
@given(events(), st.randoms(use_true_random=False))
def test_equal_states_encode_to_equal_bytes_however_they_were_made(history, rng) -> None:
    """Counts where events compete for a field: there the order of arrival could matter."""
    shuffled = list(history)
    rng.shuffle(shuffled)
    state, other = fold("cust-1", history), fold("cust-1", shuffled)
    if contested(history):
        reached()
    assert encode_state(state) == encode_state(other) == encode_state(state)
    assert encode_state(decode_state(encode_state(state))) == encode_state(state)


@fast
@given(events())
def test_the_processors_per_event_round_trip_equals_the_fold(history) -> None:
    """decode_state -> apply -> encode_state on every event, as the processor does, ends where the fold does."""
    stored: bytes | None = None
    for event in history:
        before = decode_state(stored) if stored is not None else empty_state("cust-1")
        after = apply(before, event)
        assert profile_bytes(after, AT) == encode_profile(to_profile(after, AT))
        stored = encode_state(after)
    whole = fold("cust-1", history)
    assert decode_state(stored) == whole
    assert stored == encode_state(whole)
    assert profile_bytes(decode_state(stored), AT) == encode_profile(to_profile(whole, AT))


@fast
@given(events())
def test_states_stored_in_the_first_format_still_decode(history) -> None:
    state = fold("cust-1", history)
    decoded = decode_state(first_format(state))
    assert decoded == state
    assert encode_state(decoded) == encode_state(state)


@fast
@given(awkward, awkward, awkward, st.integers(min_value=0, max_value=2**53))
def test_any_text_survives_the_round_trip(customer_id, event_id, value, minutes) -> None:
    events_ = [
        f.event(customer_id, [f.attribute(value, value, question=value), f.contact("EMAIL", value, "MAKE_PRIMARY")],
                f.at(minutes % 100_000), event_id=event_id, system=value, interaction_id=value,
                proof=f.proof("VERBAL", recording_ref=value, user_agent=value)),
        f.event(customer_id, [f.erasure(value)], f.at(1), event_id=event_id + "x"),
    ]
    state = fold(customer_id, events_)
    data = encode_state(state)
    assert data.isascii()
    assert data.count(b"\n") == 1 + len(state.registers)  # one line per register: no raw newline inside a line
    assert decode_state(data) == state
    assert encode_state(decode_state(data)) == data


def test_the_empty_state_round_trips() -> None:
    assert decode_state(encode_state(empty_state("c"))) == empty_state("c")


def test_an_erased_state_keeps_its_erasure_clock() -> None:
    state = fold("c", [f.event("c", [f.consent("EMAIL", "OPTED_IN")], f.at(0)), f.event("c", [f.erasure()], f.at(5), event_id="x")])
    decoded = decode_state(encode_state(state))
    assert decoded.erased == state.erased and isinstance(decoded.erased, tuple)
    assert decoded.registers == {}


def test_the_encoding_is_json_lines_readable_in_a_changelog() -> None:
    state = fold("c", [f.event("c", [f.consent("EMAIL", "OPTED_IN")], f.T0, event_id="e1")])
    header, ids, register = encode_state(state).decode().split("\n")
    assert json.loads(header) == [2, "c", state.updated_ms, None]
    assert json.loads(ids) == ["e1"]
    key, clock, value, prov = json.loads(register)
    assert key == ["consent", "EMAIL", "marketing"] and clock[2] == "e1"
    assert value["status"] == "OPTED_IN" and prov["event_id"] == "e1"


def test_a_decoded_register_keeps_its_line_so_unchanged_registers_are_not_serialized_again() -> None:
    state = fold("c", [f.event("c", [f.consent("EMAIL", "OPTED_IN"), f.consent("SMS", "OPTED_IN")], f.T0, event_id="e1")])
    decoded = decode_state(encode_state(state))
    after = apply(decoded, f.event("c", [f.consent("SMS", "OPTED_OUT")], f.at(1), event_id="e2"))
    email = ("consent", "EMAIL", "marketing")
    assert after.registers[email] is decoded.registers[email]  # shared, with its memo
    assert "state" in after.registers[email].memo
    both = [f.event("c", [f.consent("EMAIL", "OPTED_IN"), f.consent("SMS", "OPTED_IN")], f.T0, event_id="e1"),
            f.event("c", [f.consent("SMS", "OPTED_OUT")], f.at(1), event_id="e2")]
    assert encode_state(after) == encode_state(fold("c", both))


@pytest.mark.parametrize("data", [b"", b"[2,\"c\",0,null]", b"[3,\"c\",0,null]\n[]", b"[2,\"c\",0,null]\n[]\n[1,2",
                                  b"[2,\"c\",0,null] x\n[]", b"{\"customer_id\": 1"])
def test_damaged_bytes_are_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_state(data)


def test_registers_compare_by_content_not_by_memo() -> None:
    one = Register((1, 0, "e", 0), {"a": 1}, {"p": 2})
    other = Register((1, 0, "e", 0), {"a": 1}, {"p": 2}, {"state": "anything"})
    assert one == other


@fast
@given(st.lists(awkward, min_size=1, max_size=12, unique=True), st.data())
def test_event_ids_added_after_decoding_are_spliced_into_their_sorted_place(ids, data) -> None:
    """encode_state writes the parent's id line with the new ids inserted, exactly what sorting all gives."""
    split = data.draw(st.integers(min_value=0, max_value=len(ids)))
    history = [f.event("c", [f.attribute("k", str(i))], f.at(i), event_id=event_id) for i, event_id in enumerate(ids)]
    state = decode_state(encode_state(fold("c", history[:split])))
    for event in history[split:]:  # several events between decode and encode, as replay may do
        state = apply(state, event)
    assert encode_state(state) == encode_state(fold("c", history))
    assert json.loads(encode_state(state).decode().split("\n")[1]) == sorted(ids)


def test_a_fold_from_nothing_carries_no_id_encoding_along() -> None:
    state = fold("c", [f.event("c", [f.attribute("k", str(i))], f.at(i), event_id=f"e{i}") for i in range(50)])
    assert state.memo == {}  # nothing to derive from: no chain of earlier states is kept alive


def test_an_unsorted_id_line_from_elsewhere_still_decodes_to_the_canonical_state() -> None:
    state = fold("c", [f.event("c", [f.attribute("k", "v")], f.at(0), event_id=i) for i in ("b", "a", "c")])
    header, _, register = encode_state(state).decode().split("\n")
    decoded = decode_state(f'{header}\n["c","a","b","a"]\n{register}'.encode())
    assert decoded == state
    assert encode_state(apply(decoded, f.event("c", [], f.at(1), event_id="aa"))) == \
        encode_state(apply(state, f.event("c", [], f.at(1), event_id="aa")))


@pytest.mark.parametrize("ids", [[",", '"', "\r,"], ["a,", "b"], ['x",', "y"], ["b", "a,\"", "c"]])
def test_ids_whose_json_hides_a_separator_are_still_spliced_into_their_sorted_place(ids: list[str]) -> None:
    """An id ending in a comma makes `,"` appear inside a string: the splice must not be fooled by it."""
    history = [f.event("c", [f.attribute("k", str(i))], f.at(i), event_id=event_id) for i, event_id in enumerate(ids)]
    for split in range(len(ids) + 1):
        state = decode_state(encode_state(fold("c", history[:split])))
        for event in history[split:]:
            state = apply(state, event)
        assert json.loads(encode_state(state).decode().split("\n")[1]) == sorted(ids)
