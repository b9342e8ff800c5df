"""The laws of the fold: a profile is a function of the set of its events."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.domain.fold import (
    apply,
    fold,
    identities,
    may_change_identities,
    merge,
    profile_time,
    released_identities,
    to_profile,
)
from schemas.codec import encode_profile
from tests import factories as f
from tests.reach import reach_checked, reached
from tests.strategies import contested, events, identity_change

AT = f.at(minutes=30)
fast = settings(max_examples=150, deadline=None)


def encoded(state) -> bytes:
    return encode_profile(to_profile(state, AT))


@reach_checked()
@fast
@given(events(), st.randoms(use_true_random=False))
def test_every_permutation_folds_to_byte_identical_profiles(history, rng) -> None:
    """Counts where events compete for a field: there the order of arrival could matter."""
    shuffled = list(history)
    rng.shuffle(shuffled)
    if contested(history):
        reached()
    assert encoded(fold("cust-1", history)) == encoded(fold("cust-1", shuffled))


@fast
@given(events(), st.randoms(use_true_random=False))
def test_duplicated_events_change_nothing(history, rng) -> None:
    redelivered = history + [rng.choice(history) for _ in range(len(history))]
    rng.shuffle(redelivered)
    once, many = fold("cust-1", history), fold("cust-1", redelivered)
    assert encoded(once) == encoded(many)
    assert many.version == len({e["event_id"] for e in history})


@fast
@given(events(), st.data())
def test_merging_two_partial_states_equals_folding_all(history, data) -> None:
    split = data.draw(st.integers(min_value=1, max_value=len(history) - 1))
    left, right = fold("cust-1", history[:split]), fold("cust-1", history[split:])
    whole = fold("cust-1", history)
    assert merge(left, right) == whole == merge(right, left)
    assert merge(whole, whole) == whole


@fast
@given(events(max_size=6), events(max_size=6), events(max_size=6))
def test_merge_is_associative(a, b, c) -> None:
    sa, sb, sc = (fold("cust-1", h) for h in (a, b, c))
    assert merge(merge(sa, sb), sc) == merge(sa, merge(sb, sc))


@fast
@given(events())
def test_applying_a_folded_event_again_returns_the_same_state(history) -> None:
    state = fold("cust-1", history)
    assert all(apply(state, e) is state for e in history)


def test_a_late_event_never_overrides_a_newer_one() -> None:
    newer = f.event("c", [f.consent("EMAIL", "OPTED_IN")], f.at(hours=5), event_id="newer")
    late = f.event("c", [f.consent("EMAIL", "OPTED_OUT")], f.at(hours=1), event_id="late", touchpoint="POS")
    state = fold("c", [newer, late])
    assert to_profile(state, AT)["consents"][0]["status"] == "OPTED_IN"
    assert to_profile(state, AT)["consents"][0]["provenance"]["event_id"] == "newer"


@fast
@given(st.sampled_from(["a", "z"]), st.sampled_from(["a", "z"]))
def test_at_an_equal_time_the_least_permissive_wins_whatever_the_ids(opt_in_id, opt_out_id) -> None:
    if opt_in_id == opt_out_id:
        opt_out_id += "2"
    ins = f.event("c", [f.consent("SMS", "OPTED_IN"), f.topic("sale", True), f.suppression("SMS", False)], f.T0, event_id=opt_in_id)
    outs = f.event("c", [f.consent("SMS", "OPTED_OUT"), f.topic("sale", False), f.suppression("SMS", True)], f.T0, event_id=opt_out_id)
    profile = to_profile(fold("c", [ins, outs]), AT)
    assert profile["consents"][0]["status"] == "OPTED_OUT"
    assert profile["topics"][0]["subscribed"] is False
    assert profile["suppressions"][0]["active"] is True


def test_pending_outranks_opt_in_at_an_equal_time() -> None:
    a = f.event("c", [f.consent("EMAIL", "OPTED_IN")], f.T0, event_id="z")
    b = f.event("c", [f.consent("EMAIL", "PENDING")], f.T0, event_id="a")
    assert to_profile(fold("c", [a, b]), AT)["consents"][0]["status"] == "PENDING"


def test_erasure_removes_older_fields_and_blocks_late_events() -> None:
    before = f.event("c", [f.contact("EMAIL", "x@y.com"), f.consent("EMAIL", "OPTED_IN")], f.at(0))
    erase = f.event("c", [f.erasure()], f.at(10))
    late = f.event("c", [f.attribute("size", "M")], f.at(5))
    after = f.event("c", [f.attribute("size", "L")], f.at(20))
    from processors.domain.fold import identities, is_erased

    erased = fold("c", [late, erase, before])
    assert is_erased(erased) and identities(erased) == []
    reborn = fold("c", [before, erase, late, after])
    assert not is_erased(reborn)
    profile = to_profile(reborn, AT)
    assert profile["consents"] == [] and profile["contact_points"] == []
    assert [a["value"] for a in profile["attributes"]] == ["L"]


def test_profile_time_is_the_latest_occurred_at_whatever_the_order() -> None:
    history = [f.event("c", [f.attribute("k", str(i))], f.at(i)) for i in (3, 9, 1)]
    assert profile_time(fold("c", history)) == f.at(9)


@reach_checked()
@settings(max_examples=300, deadline=None)
@given(events(max_size=8), st.data())
def test_identities_change_only_through_events_that_may_change_them(history, data) -> None:
    """The processor skips computing identity links for events `may_change_identities` rules out."""
    event = data.draw(st.sampled_from(history))
    state = fold("cust-1", [other for other in history if other is not event])
    if not may_change_identities(event):
        reached()
        assert identities(apply(state, event)) == identities(state)


def test_a_new_contact_point_and_an_erasure_may_change_identities() -> None:
    added = f.event("cust-1", [f.contact("EMAIL", "a@x.com", "ADD")], f.at(1))
    assert may_change_identities(added) and identities(fold("cust-1", [added])) == ["email:a@x.com"]
    erasure = f.event("cust-1", [f.erasure()], f.at(2), event_id="erase")
    assert may_change_identities(erasure) and identities(fold("cust-1", [added, erasure])) == []
    assert not may_change_identities(f.event("cust-1", [f.suppression(None, True)], f.at(3)))


def test_a_removed_contact_point_is_released_until_it_is_added_again() -> None:
    history = [f.event("c", [f.contact("EMAIL", "A@x.com"), f.contact("PHONE", "+15550001")], f.at(1), event_id="add"),
               f.event("c", [f.contact("EMAIL", "a@x.com", "REMOVE")], f.at(2), event_id="drop")]
    state = fold("c", history)
    assert (identities(state), released_identities(state)) == (["phone:+15550001"], ["email:a@x.com"])
    again = fold("c", [*history, f.event("c", [f.contact("EMAIL", "a@x.com")], f.at(3), event_id="again")])
    assert (identities(again), released_identities(again)) == (["email:a@x.com", "phone:+15550001"], [])


@reach_checked()
@settings(max_examples=300, deadline=None)
@given(events(max_size=8, changes=identity_change), st.data())
def test_an_identifier_once_claimed_stays_claimed_or_released_until_an_erasure(history, data) -> None:
    """A redelivered fold re-sends the claims and the releases of its state: together they cover
    every identifier the customer ever claimed, so no lost release goes unsent."""
    cut = len(history) - data.draw(st.integers(min_value=1, max_value=len(history) - 1))  # all but the last, often
    earlier, whole = fold("cust-1", history[:cut]), fold("cust-1", history)
    claimed, released = set(identities(whole)), set(released_identities(whole))
    assert not claimed & released
    if whole.erased is None:
        if identities(earlier):
            reached()
        assert set(identities(earlier)) <= claimed | released
