"""Replay's fast admission (`admit_for_fold`) changes nothing: the same records admitted and
rejected as `admit`, the same states folded, for valid, invalid, damaged and unusual records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastavro.logical_readers import LOGICAL_READERS
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from processors.audit.replay import Rebuild, profile_keys
from processors.domain.admission import admit, admit_for_fold, rejection
from processors.domain.fold import apply, empty_state, millis
from schemas.codec import EVENTS, decode_event, encode_event
from schemas.compiled import MILLIS_RANGE, timestamp_millis
from schemas.validation import plainly_valid, validate_event
from tests import factories as f
from tests.reach import reach_checked, reached
from tests.strategies import DEFECTS, SUBJECTS, change, log, record, rejected_record, stamped_event

fast = settings(max_examples=300, deadline=None)
RECORDED_MS = int(f.at(0).timestamp() * 1000)
SKEW_MS = 5 * 60 * 1000
_datetime_of = LOGICAL_READERS["long-timestamp-millis"]


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
@given(stamped_event())
def test_decode_millis_is_decode_event_with_epoch_milliseconds(stamped: tuple[dict[str, Any], int]) -> None:
    data = encode_event(stamped[0])
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


def has_quiet_hours(stamped: tuple[dict[str, Any], int]) -> bool:
    """Whether the event sets quiet hours (a change the quick check always leaves to validation)."""
    return any("time_zone" in change for change in stamped[0]["changes"])


@reach_checked()
@fast
@given(stamped_event().filter(lambda stamped: not has_quiet_hours(stamped)))
def test_the_quick_check_passes_only_events_validation_passes(stamped: tuple[dict[str, Any], int]) -> None:
    event, recorded_ms = stamped
    data = encode_event(event)
    quick = EVENTS.decode_millis(data)
    now = datetime.fromtimestamp(recorded_ms / 1000, UTC)
    if plainly_valid(quick, recorded_ms + SKEW_MS):
        reached()
        assert validate_event(decode_event(data), now=now, max_future_skew=timedelta(minutes=5)) == []


def test_the_quick_check_holds_the_future_limit_to_the_millisecond() -> None:
    for field in ("occurred_at", "recorded_at"):
        for ahead, valid in ((SKEW_MS, True), (SKEW_MS + 1, False)):
            event = f.event("cust-1", [f.consent("SMS", "OPTED_IN")])
            event[field] = f.at(0) + timedelta(milliseconds=ahead)
            assert plainly_valid(EVENTS.decode_millis(encode_event(event)), RECORDED_MS + SKEW_MS) is valid
            assert (admit_for_fold(encode_event(event), RECORDED_MS) is not None) is valid


@fast
@given(st.sampled_from(SUBJECTS), st.lists(change.filter(lambda c: "time_zone" not in c), min_size=1, max_size=3))
def test_the_quick_check_takes_every_usual_valid_event(subject: str, changes: list[dict[str, Any]]) -> None:
    """Not vacuous: a valid event of any change kind but quiet hours takes the fast path."""
    data = encode_event(f.event(subject, changes, proof=f.proof()))
    assert validate_event(decode_event(data), now=f.at(0)) == []  # (the strategy's changes are all valid)
    assert plainly_valid(EVENTS.decode_millis(data), RECORDED_MS + SKEW_MS)


@pytest.mark.parametrize("defect", DEFECTS)
def test_an_event_breaking_any_one_rule_is_refused_by_the_fast_admission_too(defect) -> None:
    """Each validation rule once, whatever the draws of the property tests hit."""
    event = f.event("cust-1", [f.consent("SMS", "OPTED_IN"), f.contact("PHONE", "+15550001")], f.at(1), event_id="e1")
    assert admit_for_fold(encode_event(event), RECORDED_MS) is not None
    broken, recorded_ms = defect(event, RECORDED_MS)
    data = encode_event(broken)
    assert admit(data, recorded_ms) is None and admit_for_fold(data, recorded_ms) is None


@reach_checked()
@settings(max_examples=500, deadline=None)
@given(st.lists(record(), min_size=2, max_size=3))
def test_admit_for_fold_admits_exactly_what_admit_admits_and_folds_the_same(
        stored: list[tuple[bytes | None, int]]) -> None:
    """A few records an example, each on its own: counts where the fold comparison is reached."""
    for value, recorded_ms in stored:
        quick, reference = admit_for_fold(value, recorded_ms), admit(value, recorded_ms)
        assert (quick is None) == (reference is None)
        if reference is not None:
            reached()
            subject = reference["subject"]
            assert apply(empty_state("k"), quick) == apply(empty_state("k"), reference)
            assert profile_keys("events", subject, quick) == profile_keys("events", subject, reference)


def validating_replay(records: list[tuple[str, bytes | None, int]]) -> tuple[dict, int]:
    """The replay as it was: every record through `admit` (decode + full validation), then the fold."""
    states: dict = {}
    rejected = 0
    for key, value, recorded_ms in records:
        event = admit(value, recorded_ms)
        if event is None:
            rejected += 1
            continue
        for profile_key in profile_keys("events", key, event):
            states[profile_key] = apply(states.get(profile_key, empty_state(profile_key)), event)
    return states, rejected


@reach_checked()
@settings(max_examples=150, deadline=None)
@given(log())
def test_rebuild_gives_the_states_and_rejections_of_the_validating_replay(
        records: list[tuple[str, bytes | None, int]]) -> None:
    """An example reaches the comparison that matters when a profile folds several events."""
    rebuild = Rebuild()
    for key, value, recorded_ms in records:
        rebuild.add("events", key, value, recorded_ms)
    states, rejected = validating_replay(records)
    if any(state.version >= 2 for state in states.values()):
        reached()
    assert rebuild.states == states and rebuild.rejected == rejected and rebuild.records == len(records)


REASONS = {"NoValue", "BadMarkerError", "UnknownFingerprintError", "CorruptRecordError", "invalid"}


@reach_checked()
@settings(max_examples=300, deadline=None)
@given(rejected_record())
def test_every_record_admission_refuses_gets_a_reason_for_its_dead_letter(stored: tuple[bytes | None, int]) -> None:
    value, recorded_ms = stored
    assume(admit(value, recorded_ms) is None)
    reached()
    reason, detail = rejection(value, recorded_ms)
    assert reason in REASONS and detail


def test_the_reasons_name_what_is_wrong() -> None:
    future = encode_event(f.event("cust-1", [f.consent("EMAIL", "OPTED_IN")], f.at(days=30)))
    assert rejection(None, RECORDED_MS)[0] == "NoValue"
    assert rejection(b"not avro", RECORDED_MS)[0] == "BadMarkerError"
    assert rejection(b"\xc3\x01" + bytes(8) + b"\x00", RECORDED_MS)[0] == "UnknownFingerprintError"
    reason, detail = rejection(future, RECORDED_MS)
    assert reason == "invalid" and "occurred_at" in detail
