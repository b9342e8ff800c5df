"""Replay's fast admission (`admit_for_fold`) changes nothing: the same records admitted and
rejected as `admit`, the same states folded, for valid, invalid, damaged and unusual records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastavro.logical_readers import LOGICAL_READERS
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from processors.admission import admit, admit_for_fold, rejection
from processors.fold import apply, empty_state, millis
from processors.replay import Rebuild, profile_keys
from schemas.codec import EVENTS, decode_event, encode_event
from schemas.compiled import MILLIS_RANGE, timestamp_millis
from schemas.validation import plainly_valid, validate_event
from tests import factories as f
from tests.strategies import CHANNELS, change

fast = settings(max_examples=300, deadline=None)
RECORDED_MS = int(f.at(0).timestamp() * 1000)
SKEW_MS = 5 * 60 * 1000
_datetime_of = LOGICAL_READERS["long-timestamp-millis"]

# Events that are often invalid, each for one reason validate_event knows.
odd_change = st.one_of(
    st.builds(f.consent, st.sampled_from([*CHANNELS, "UNKNOWN"]), st.sampled_from(["OPTED_IN", "OPTED_OUT"])),
    st.builds(f.contact, st.sampled_from(["EMAIL", "PHONE", "LOYALTY", "POSTAL"]),
              st.sampled_from(["a@x.com", "not-an-email", "+15550001", "0155", "L-1", "bad id"])),
    st.builds(f.frequency, st.sampled_from(["DAILY", None]), max_per_week=st.none() | st.integers(-2, 3)),
    st.builds(f.topic, st.just("sale"), st.booleans(), st.lists(st.sampled_from(["SMS", "UNKNOWN"]), max_size=2)),
    st.builds(f.quiet_hours, st.sampled_from(["22:00", "25:00"]), st.just("07:00"), st.sampled_from(["UTC", "Mars/Base"])),
    st.builds(f.suppression, st.none() | st.sampled_from(["SMS", "UNKNOWN"]), st.booleans()),
    st.builds(f.pause, st.none() | st.just(f.at(days=3)), st.lists(st.sampled_from(["PUSH", "UNKNOWN"]), max_size=2)),
)


@st.composite
def maybe_invalid_event(draw: st.DrawFn) -> dict[str, Any]:
    subject = draw(st.sampled_from(["cust-1", "email:a@x.com", "email:nope", "phone:+14155550100", "phone:12", "x:y", "a b"]))
    occurred = f.at(0) + timedelta(milliseconds=draw(st.sampled_from([-3_600_000, 0, 299_999, 300_000, 300_001, 86_400_000])))
    return f.event(
        subject, draw(st.lists(odd_change | change, min_size=0, max_size=3)), occurred,
        event_id=draw(st.sampled_from(["e1", "e2", "", "x" * 200, "x" * 201])),
        recorded_at=draw(st.sampled_from([occurred, f.at(0) + timedelta(milliseconds=300_001), f.at(0)])),
        proof=draw(st.none() | st.builds(f.proof, st.sampled_from(["CLICKWRAP", "VERBAL"]))),
    )


def with_datetimes(value: Any, reference: Any) -> Any:
    """`value` (from decode_millis) with each int where `reference` (from decode_event) has a datetime as that datetime."""
    if isinstance(reference, datetime):
        return _datetime_of(value, None, None)
    if isinstance(reference, dict):
        return {key: with_datetimes(value[key], reference[key]) for key in reference}
    if isinstance(reference, list):
        return [with_datetimes(v, r) for v, r in zip(value, reference, strict=True)]
    return value


@fast
@given(maybe_invalid_event())
def test_decode_millis_is_decode_event_with_epoch_milliseconds(event: dict[str, Any]) -> None:
    data = encode_event(event)
    quick, reference = EVENTS.decode_millis(data), decode_event(data)
    assert quick is not None and list(quick) == list(reference)
    assert with_datetimes(quick, reference) == reference
    assert quick["occurred_at"] == timestamp_millis(reference["occurred_at"])


@given(st.sampled_from([-1, MILLIS_RANGE.stop, -(2**62), 2**62]), st.sampled_from(["occurred_at", "expires_at"]))
def test_times_a_datetime_cannot_hold_or_before_1970_are_left_to_the_codec(ms: int, where: str) -> None:
    event = f.event("cust-1", [f.consent("SMS", "OPTED_IN", expires_at=f.at(0))])
    assert EVENTS.decode_millis(encode_event(event)) is not None
    patched = dict(event, occurred_at=ms) if where == "occurred_at" else dict(event, changes=[dict(event["changes"][0], expires_at=ms)])
    assert EVENTS.decode_millis(encode_event(patched)) is None


@fast
@given(st.integers(min_value=MILLIS_RANGE.start, max_value=MILLIS_RANGE.stop - 1))
@example(541_169_507_341)  # float seconds round below the millisecond: millis of the datetime is one less
@example(1_772_366_400_123)
def test_the_fold_reads_an_epoch_millisecond_as_the_datetime_decoded_from_it(ms: int) -> None:
    assert millis(ms) == millis(_datetime_of(ms, None, None))


@fast
@given(maybe_invalid_event(), st.sampled_from([RECORDED_MS, RECORDED_MS + 60_000, RECORDED_MS - 3_600_000]))
def test_the_quick_check_passes_only_events_validation_passes(event: dict[str, Any], recorded_ms: int) -> None:
    data = encode_event(event)
    quick = EVENTS.decode_millis(data)
    now = datetime.fromtimestamp(recorded_ms / 1000, UTC)
    if plainly_valid(quick, recorded_ms + SKEW_MS):
        assert validate_event(decode_event(data), now=now, max_future_skew=timedelta(minutes=5)) == []


def test_the_quick_check_holds_the_future_limit_to_the_millisecond() -> None:
    for field in ("occurred_at", "recorded_at"):
        for ahead, valid in ((SKEW_MS, True), (SKEW_MS + 1, False)):
            event = f.event("cust-1", [f.consent("SMS", "OPTED_IN")])
            event[field] = f.at(0) + timedelta(milliseconds=ahead)
            assert plainly_valid(EVENTS.decode_millis(encode_event(event)), RECORDED_MS + SKEW_MS) is valid
            assert (admit_for_fold(encode_event(event), RECORDED_MS) is not None) is valid


@fast
@given(st.lists(change.filter(lambda c: "time_zone" not in c), min_size=1, max_size=3))
def test_the_quick_check_takes_every_usual_valid_event(changes: list[dict[str, Any]]) -> None:
    """Not vacuous: a valid event of any change kind but quiet hours takes the fast path."""
    data = encode_event(f.event("cust-1", changes, proof=f.proof()))
    assume(validate_event(decode_event(data), now=f.at(0)) == [])  # (the strategy pairs contact kinds and values freely)
    assert plainly_valid(EVENTS.decode_millis(data), RECORDED_MS + SKEW_MS)


def damaged(data: bytes, how: str, at: int, byte: int) -> bytes:
    if how == "truncate":
        return data[:at]
    if how == "append":
        return data + bytes([byte])
    return data[:at] + bytes([byte]) + data[at + 1:]


records = st.one_of(
    maybe_invalid_event().map(encode_event),
    st.tuples(maybe_invalid_event().map(encode_event), st.sampled_from(["truncate", "append", "byte"]),
              st.integers(0, 60), st.integers(0, 255)).map(lambda t: damaged(t[0], t[1], min(t[2], len(t[0]) - 1), t[3])),
    st.sampled_from([None, b"", b"not avro", b"\xc3\x01" + bytes(8) + b"\x00"]),
)


@settings(max_examples=500, deadline=None)
@given(records, st.sampled_from([RECORDED_MS, RECORDED_MS + 60_000, -5, 5_000_000_000_000]))
def test_admit_for_fold_admits_exactly_what_admit_admits_and_folds_the_same(value: bytes | None, recorded_ms: int) -> None:
    quick, reference = admit_for_fold(value, recorded_ms), admit(value, recorded_ms)
    assert (quick is None) == (reference is None)
    if reference is not None:
        assert apply(empty_state("k"), quick) == apply(empty_state("k"), reference)
        assert profile_keys("events", reference["subject"], quick) == profile_keys("events", reference["subject"], reference)


def validating_replay(log: list[tuple[str, bytes | None, int]]) -> tuple[dict, int]:
    """The replay as it was: every record through `admit` (decode + full validation), then the fold."""
    states: dict = {}
    rejected = 0
    for key, value, recorded_ms in log:
        event = admit(value, recorded_ms)
        if event is None:
            rejected += 1
            continue
        for profile_key in profile_keys("events", key, event):
            states[profile_key] = apply(states.get(profile_key, empty_state(profile_key)), event)
    return states, rejected


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["cust-1", "cust-2", "email:a@x.com", "phone:+14155550100"]), records,
                          st.sampled_from([RECORDED_MS, RECORDED_MS - 3_600_000])), max_size=25))
def test_rebuild_gives_the_states_and_rejections_of_the_validating_replay(log: list[tuple[str, bytes | None, int]]) -> None:
    rebuild = Rebuild()
    for key, value, recorded_ms in log:
        rebuild.add("events", key, value, recorded_ms)
    states, rejected = validating_replay(log)
    assert rebuild.states == states and rebuild.rejected == rejected and rebuild.records == len(log)


REASONS = {"NoValue", "BadMarkerError", "UnknownFingerprintError", "CorruptRecordError", "invalid"}


@settings(max_examples=300, deadline=None)
@given(records, st.sampled_from([RECORDED_MS, RECORDED_MS + 60_000, -5, 5_000_000_000_000]))
def test_every_record_admission_refuses_gets_a_reason_for_its_dead_letter(value: bytes | None, recorded_ms: int) -> None:
    assume(admit(value, recorded_ms) is None)
    reason, detail = rejection(value, recorded_ms)
    assert reason in REASONS and detail


def test_the_reasons_name_what_is_wrong() -> None:
    future = encode_event(f.event("cust-1", [f.consent("EMAIL", "OPTED_IN")], f.at(days=30)))
    assert rejection(None, RECORDED_MS)[0] == "NoValue"
    assert rejection(b"not avro", RECORDED_MS)[0] == "BadMarkerError"
    assert rejection(b"\xc3\x01" + bytes(8) + b"\x00", RECORDED_MS)[0] == "UnknownFingerprintError"
    reason, detail = rejection(future, RECORDED_MS)
    assert reason == "invalid" and "occurred_at" in detail
