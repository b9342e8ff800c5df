"""The hot path: spliced profile bytes equal the plain encoding, and reachability reads both forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.domain.fold import apply, fold, reachable, to_profile
from processors.domain.profile_encoding import profile_bytes
from schemas.codec import encode_profile
from tests import factories as f
from tests.strategies import events

fast = settings(max_examples=150, deadline=None)


@fast
@given(events(), st.integers(min_value=0, max_value=60 * 24 * 3))
def test_spliced_bytes_equal_the_plain_encoding(history, minutes) -> None:
    """From registers with empty memos, and from memos filled at another time: the plain bytes."""
    at = f.at(minutes)
    state, memoized = fold("cust-1", history), fold("cust-1", history)
    plain = encode_profile(to_profile(state, at))
    assert profile_bytes(state, at) == plain
    profile_bytes(memoized, f.at(0) - timedelta(days=1))  # fills its registers' memos
    assert profile_bytes(memoized, at) == plain


@fast
@given(events(), events(subject="cust-1", max_size=3, min_size=1))
def test_memoized_items_stay_right_as_the_state_moves_on(history, more) -> None:
    state = fold("cust-1", history)
    profile_bytes(state, f.at(30))
    for event in more:
        state = apply(state, event)
        assert profile_bytes(state, f.at(30)) == encode_profile(to_profile(state, f.at(30)))


@fast
@given(events(), st.integers(min_value=0, max_value=60 * 24 * 3))
def test_reachable_reads_a_state_and_its_profile_alike(history, minutes) -> None:
    at = f.at(minutes)
    state = fold("cust-1", history)
    assert reachable(to_profile(state, f.at(0)), at) == reachable(state, at)
    assert [{"channel": c, **answer} for c, answer in reachable(state, at).items()] == to_profile(state, at)["reachable"]


def test_the_primary_flag_of_a_contact_follows_a_later_make_primary() -> None:
    first = fold("c", [f.event("c", [f.contact("EMAIL", "a@x.com", "MAKE_PRIMARY")], f.at(0), event_id="1")])
    profile_bytes(first, f.at(1))
    second = apply(first, f.event("c", [f.contact("EMAIL", "b@x.com", "MAKE_PRIMARY")], f.at(1), event_id="2"))
    assert profile_bytes(second, f.at(2)) == encode_profile(to_profile(second, f.at(2)))
    assert [c["primary"] for c in to_profile(second, f.at(2))["contact_points"]] == [False, True]


@settings(max_examples=100, deadline=None)
@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
       st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2500, 1, 1), timezones=st.just(UTC)))
def test_spliced_bytes_equal_the_plain_encoding_for_far_and_early_times(far, occurred) -> None:
    """Millisecond times outside the range where ms -> datetime -> ms is exact take the slow path, to the same bytes."""
    far = far.replace(microsecond=far.microsecond // 1000 * 1000)
    occurred = occurred.replace(microsecond=occurred.microsecond // 1000 * 1000)
    history = [f.event("c", [f.consent("EMAIL", "OPTED_IN", expires_at=far), f.pause(far, ["SMS"])], occurred, event_id="1"),
               f.event("c", [f.attribute("k", "v")], far - timedelta(days=1), event_id="2")]
    state = fold("c", history)
    for at in (occurred, far, f.T0):
        assert profile_bytes(state, at) == encode_profile(to_profile(state, at))
