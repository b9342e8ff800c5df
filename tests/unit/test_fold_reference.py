"""The fold against the contract's deliberately simple reference (tests/reference.py): the emitted
profile, decoded, is field for field what the reference gives, for any set of events and any time."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.domain.fold import fold, is_erased, profile_time
from processors.domain.profile_encoding import profile_bytes
from schemas.codec import decode_profile
from tests import factories as f
from tests import reference
from tests.strategies import events


@settings(max_examples=400, deadline=None)
@given(events(), st.integers(min_value=0, max_value=60 * 24 * 3))
def test_the_emitted_profile_is_the_references(history: list[dict], minutes: int) -> None:
    state = fold("cust-1", history)
    expected = reference.profile("cust-1", history)
    assert is_erased(state) == (expected is None)
    if expected is not None:
        assert decode_profile(profile_bytes(state, profile_time(state))) == expected
        at = f.at(minutes)
        assert decode_profile(profile_bytes(state, at)) == reference.profile("cust-1", history, at)


def test_a_removed_contact_point_is_not_in_the_profile() -> None:
    history = [f.event("c", [f.contact("EMAIL", "Ann@X.com", "MAKE_PRIMARY"), f.contact("PHONE", "+15550001")], f.at(0), event_id="1"),
               f.event("c", [f.contact("EMAIL", "ann@x.com", "REMOVE")], f.at(5), event_id="2"),
               f.event("c", [f.contact("EMAIL", "ann@x.com", "ADD")], f.at(1), event_id="3")]  # older than the removal
    profile = decode_profile(profile_bytes(fold("c", history), f.at(6)))
    assert [(c["kind"], c["value"], c["primary"]) for c in profile["contact_points"]] == [("PHONE", "+15550001", False)]
