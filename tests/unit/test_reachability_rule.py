"""`reasons` answers what the documented per-channel order of checks answers, for any register values."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.domain.reachability import CHANNELS, _in_quiet_hours, reasons

T0_MS = 1_772_366_400_000  # 2026-03-01T12:00Z


def by_the_documented_order(values, channel: str, at_ms: int, purpose: str) -> str:
    """The rule as the module docstring states it, one channel at a time (the first implementation)."""
    for scope in (channel, ""):
        suppression = values.get(("suppression", scope))
        if suppression and suppression["active"]:
            return "SUPPRESSED"
    consent = values.get(("consent", channel, purpose))
    if consent is None:
        return "NO_CONSENT"
    if consent["status"] == "OPTED_OUT":
        return "OPTED_OUT"
    if consent["status"] == "PENDING":
        return "PENDING_CONFIRMATION"
    if consent["expires_at"] is not None and consent["expires_at"] <= at_ms:
        return "EXPIRED"
    for scope in (channel, ""):
        pause = values.get(("pause", scope))
        if pause and pause["until"] is not None and pause["until"] > at_ms:
            return "PAUSED"
    quiet = values.get(("quiet_hours",))
    if quiet and quiet["start"] is not None and _in_quiet_hours(quiet, at_ms):
        return "QUIET_HOURS"
    return "OK"


channel = st.sampled_from([*CHANNELS, "UNKNOWN"])
scope = channel | st.just("")
moment = st.integers(min_value=-3, max_value=3).map(lambda hours: T0_MS + hours * 3_600_000)
entry = st.one_of(
    st.tuples(st.tuples(st.just("consent"), channel, st.sampled_from(["marketing", "service"])),
              st.fixed_dictionaries({"status": st.sampled_from(["OPTED_IN", "OPTED_OUT", "PENDING"]),
                                     "expires_at": st.none() | moment, "contact_point": st.none()})),
    st.tuples(st.tuples(st.just("suppression"), scope), st.fixed_dictionaries({"active": st.booleans(), "reason": st.just("OTHER")})),
    st.tuples(st.tuples(st.just("pause"), scope), st.fixed_dictionaries({"until": st.none() | moment})),
    st.tuples(st.just(("quiet_hours",)), st.fixed_dictionaries({
        "start": st.none() | st.sampled_from(["22:00", "08:00", "12:00"]), "end": st.sampled_from(["07:00", "13:00"]),
        "time_zone": st.sampled_from(["UTC", "America/Toronto", "Asia/Kolkata"])})),
    st.tuples(st.tuples(st.just("attribute"), st.just("size")), st.just({"value": "M", "question": None})),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(entry, max_size=10).map(dict), moment, st.sampled_from(["marketing", "service"]))
def test_reasons_follow_the_documented_order(values, at_ms, purpose) -> None:
    expected = {channel: by_the_documented_order(values, channel, at_ms, purpose) for channel in CHANNELS}
    found = reasons(values, at_ms, purpose)
    assert found == expected
    assert list(found) == list(CHANNELS)
