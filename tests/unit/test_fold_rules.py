"""The fold, one literal case per rule: what each change kind writes into the profile (every field
written out), which statement wins a tie, what an erasure removes, what `reachable` reads from a
profile, the identifiers a state holds, and the profile's Avro bytes (compared with the codec's
encoding of the literal profile, not with the fold's own rendering)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from processors.domain.fold import (
    IDS,
    IDS_FROM,
    apply,
    empty_state,
    fold,
    identities,
    is_erased,
    is_restrictive,
    may_change_identities,
    merge,
    millis,
    profile_time,
    provenance,
    reachable,
    released_identities,
    to_datetime,
    to_profile,
)
from processors.domain.profile_encoding import profile_bytes
from processors.domain.routing import restricts_contact
from schemas.codec import encode_profile
from tests import factories as f

C = "cust-1"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T0_MS = 1_772_366_400_000


def web(event_id: str, changes: list[dict[str, Any]], occurred_at: datetime = T0) -> dict[str, Any]:
    """An event from the web preference center, by the customer, without proof."""
    return f.event(C, changes, occurred_at, event_id=event_id)


def web_provenance(event_id: str, occurred_at: datetime = T0) -> dict[str, Any]:
    return {"event_id": event_id, "occurred_at": occurred_at, "touchpoint": "WEB", "system": "web-preference-center",
            "actor_type": "CUSTOMER", "actor_id": None, "interaction_id": None, "proof": None}


def reach(reasons: dict[str, str]) -> list[dict[str, Any]]:
    """The profile's `reachable` array: the six channels in order, NO_CONSENT unless given."""
    channels = ("EMAIL", "SMS", "PUSH", "PHONE", "DIRECT_MAIL", "WHATSAPP")
    return [{"channel": channel, "allowed": reasons.get(channel, "NO_CONSENT") == "OK",
             "reason": reasons.get(channel, "NO_CONSENT")} for channel in channels]


EVERYTHING = web("e1", [
    f.consent("EMAIL", "OPTED_IN", contact_point="ann@example.com", expires_at=T0 + timedelta(days=30)),
    f.topic("news", True, ["SMS", "EMAIL", "SMS"]),
    f.frequency("WEEKLY", channel="EMAIL", max_per_week=3),
    f.frequency("DAILY", topic="deals"),
    f.pause(T0 + timedelta(hours=1), ["SMS"]),
    f.attribute("size", "M", "Shirt size?"),
    f.suppression("PUSH", True, "BOUNCE"),
    f.quiet_hours("22:00", "07:00", "Europe/Paris"),
    f.contact("EMAIL", "Ann@Example.com", "MAKE_PRIMARY"),
    f.contact("PHONE", "+14155550100"),
])

EVERYTHING_PROFILE = {
    "customer_id": C,
    "version": 1,
    "updated_at": T0,
    "evaluated_at": T0 + timedelta(minutes=1),
    "contact_points": [
        {"kind": "EMAIL", "value": "ann@example.com", "primary": True, "provenance": web_provenance("e1")},
        {"kind": "PHONE", "value": "+14155550100", "primary": False, "provenance": web_provenance("e1")},
    ],
    "consents": [{"channel": "EMAIL", "purpose": "marketing", "status": "OPTED_IN", "contact_point": "ann@example.com",
                  "expires_at": datetime(2026, 3, 31, 12, 0, tzinfo=UTC), "provenance": web_provenance("e1")}],
    "topics": [{"topic": "news", "subscribed": True, "channels": ["EMAIL", "SMS"], "provenance": web_provenance("e1")}],
    "frequencies": [
        {"channel": None, "topic": "deals", "cadence": "DAILY", "max_per_week": None, "provenance": web_provenance("e1")},
        {"channel": "EMAIL", "topic": None, "cadence": "WEEKLY", "max_per_week": 3, "provenance": web_provenance("e1")},
    ],
    "pauses": [{"channel": "SMS", "until": datetime(2026, 3, 1, 13, 0, tzinfo=UTC), "provenance": web_provenance("e1")}],
    "attributes": [{"key": "size", "value": "M", "question": "Shirt size?", "provenance": web_provenance("e1")}],
    "suppressions": [{"channel": "PUSH", "active": True, "reason": "BOUNCE", "provenance": web_provenance("e1")}],
    "quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "Europe/Paris", "provenance": web_provenance("e1")},
    # 12:01 UTC is 13:01 in Paris: outside quiet hours; SMS is paused but has no consent; PUSH is suppressed
    "reachable": reach({"EMAIL": "OK", "PUSH": "SUPPRESSED"}),
}


def test_every_change_kind_lands_in_its_profile_section_with_every_field() -> None:
    assert to_profile(fold(C, [EVERYTHING]), T0 + timedelta(minutes=1)) == EVERYTHING_PROFILE


def test_the_profile_bytes_are_the_avro_encoding_of_that_profile() -> None:
    state = fold(C, [EVERYTHING])
    expected = encode_profile(EVERYTHING_PROFILE)
    assert profile_bytes(state, T0 + timedelta(minutes=1)) == expected
    assert profile_bytes(state, T0 + timedelta(minutes=1)) == expected  # again, from the memoized items


LIFTED = web("e2", [
    f.consent("EMAIL", "OPTED_IN"),
    f.pause(None),
    f.suppression(None, False, "OTHER"),
    f.quiet_hours(None, None),
    f.frequency(None, channel="SMS", topic="deals", max_per_week=0),
    f.topic("news", False),
    f.attribute("size", None, None),
], T0 + timedelta(hours=2))


def lifted_profile(later: datetime) -> dict[str, Any]:
    """The profile of LIFTED alone, evaluated at its own time."""
    prov = web_provenance("e2", later)
    return {
        "customer_id": C,
        "version": 1,
        "updated_at": later,
        "evaluated_at": later,
        "contact_points": [],
        "consents": [{"channel": "EMAIL", "purpose": "marketing", "status": "OPTED_IN", "contact_point": None,
                      "expires_at": None, "provenance": prov}],
        "topics": [{"topic": "news", "subscribed": False, "channels": [], "provenance": prov}],
        "frequencies": [{"channel": "SMS", "topic": "deals", "cadence": None, "max_per_week": 0, "provenance": prov}],
        "pauses": [{"channel": None, "until": None, "provenance": prov}],
        "attributes": [{"key": "size", "value": None, "question": None, "provenance": prov}],
        "suppressions": [{"channel": None, "active": False, "reason": "OTHER", "provenance": prov}],
        "quiet_hours": None,
        "reachable": reach({"EMAIL": "OK"}),
    }


def test_lifted_and_cleared_statements_render_as_nulls() -> None:
    later = T0 + timedelta(hours=2)
    assert to_profile(fold(C, [LIFTED]), later) == lifted_profile(later)


def test_the_bytes_of_lifted_statements_are_the_avro_encoding_too() -> None:
    later = T0 + timedelta(hours=2)
    assert profile_bytes(fold(C, [LIFTED]), later) == encode_profile(lifted_profile(later))


def test_a_state_of_nothing_renders_an_empty_profile_at_the_epoch() -> None:
    state = empty_state(C)
    assert (state.version, state.updated_ms, state.erased, state.registers, state.event_ids) == (0, 0, None, {}, frozenset())
    assert profile_time(state) == datetime(1970, 1, 1, tzinfo=UTC)
    assert to_profile(state, T0)["updated_at"] == datetime(1970, 1, 1, tzinfo=UTC)


def status_after(events: list[dict[str, Any]], section: str = "consents") -> list[dict[str, Any]]:
    """The section of the profile, each item without its provenance, after folding `events` in the given order."""
    items = to_profile(fold(C, events), T0)[section]
    return [{key: value for key, value in item.items() if key != "provenance"} for item in items]


@pytest.mark.parametrize(("weaker", "stronger"), [("OPTED_IN", "PENDING"), ("PENDING", "OPTED_OUT"), ("OPTED_IN", "OPTED_OUT")])
def test_at_an_equal_time_the_less_permissive_consent_wins_in_either_order(weaker: str, stronger: str) -> None:
    # the weaker statement carries the larger event id, so that only the rank can make the stronger win
    a, b = web("z-weaker", [f.consent("SMS", weaker)]), web("a-stronger", [f.consent("SMS", stronger)])
    assert [item["status"] for item in status_after([a, b])] == [stronger]
    assert [item["status"] for item in status_after([b, a])] == [stronger]


def test_at_an_equal_time_an_unsubscribe_a_suppression_a_pause_and_a_removal_win() -> None:
    permissive = web("z", [f.topic("news", True), f.suppression("SMS", False), f.pause(None, ["SMS"]),
                           f.contact("PHONE", "+14155550100")])
    restrictive = web("a", [f.topic("news", False), f.suppression("SMS", True), f.pause(T0 + timedelta(days=1), ["SMS"]),
                            f.contact("PHONE", "+14155550100", "REMOVE")])
    for events in ([permissive, restrictive], [restrictive, permissive]):
        assert [item["subscribed"] for item in status_after(events, "topics")] == [False]
        assert [item["active"] for item in status_after(events, "suppressions")] == [True]
        assert [item["until"] for item in status_after(events, "pauses")] == [datetime(2026, 3, 2, 12, 0, tzinfo=UTC)]
        assert released_identities(fold(C, events)) == ["phone:+14155550100"]


def test_at_an_equal_time_and_rank_the_larger_event_id_wins() -> None:
    a, b = web("a", [f.frequency("DAILY")]), web("b", [f.frequency("MONTHLY")])
    assert [item["cadence"] for item in status_after([a, b], "frequencies")] == ["MONTHLY"]
    assert [item["cadence"] for item in status_after([b, a], "frequencies")] == ["MONTHLY"]


def test_within_one_event_the_later_change_wins() -> None:
    event = web("e", [f.frequency("DAILY"), f.frequency("MONTHLY")])
    assert [item["cadence"] for item in status_after([event], "frequencies")] == ["MONTHLY"]


def test_a_later_statement_wins_whatever_its_rank_and_an_earlier_one_arriving_late_loses() -> None:
    out = web("a", [f.consent("EMAIL", "OPTED_OUT")], T0)
    back_in = web("b", [f.consent("EMAIL", "OPTED_IN")], T0 + timedelta(seconds=1))
    assert [item["status"] for item in status_after([out, back_in])] == ["OPTED_IN"]
    assert [item["status"] for item in status_after([back_in, out])] == ["OPTED_IN"]


def test_apply_counts_distinct_events_keeps_the_latest_time_and_ignores_a_repeat() -> None:
    first = web("e1", [f.topic("news", True)], T0 + timedelta(hours=1))
    second = web("e2", [f.topic("deals", True)], T0)
    state = apply(apply(empty_state(C), first), second)
    assert (state.version, state.event_ids, state.updated_ms) == (2, frozenset({"e1", "e2"}), T0_MS + 3_600_000)
    assert profile_time(state) == datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
    assert apply(state, first) is state


def test_a_register_an_event_does_not_win_is_shared_not_copied() -> None:
    state = fold(C, [web("e1", [f.topic("news", True), f.topic("deals", True)], T0 + timedelta(hours=1))])
    after = apply(state, web("e2", [f.topic("news", False)], T0))  # older: wins nothing
    assert after.registers[("topic", "news")] is state.registers[("topic", "news")]
    assert after.registers == state.registers


def test_apply_and_merge_leave_the_states_they_are_given_unchanged() -> None:
    state = fold(C, [web("e1", [f.topic("news", True)], T0)])
    newer = fold(C, [web("e2", [f.topic("news", False), f.topic("deals", True)], T0 + timedelta(hours=1))])
    apply(state, web("e3", [f.topic("news", False), f.consent("SMS", "OPTED_IN")], T0 + timedelta(hours=1)))
    merge(state, newer)
    assert (state.version, sorted(state.registers)) == (1, [("topic", "news")])
    assert state.registers[("topic", "news")].value == {"subscribed": True, "channels": []}
    assert (newer.version, sorted(newer.registers)) == (1, [("topic", "deals"), ("topic", "news")])


def test_an_unknown_change_is_refused_naming_its_fields() -> None:
    with pytest.raises(ValueError, match=r"not a known change: fields \['colour', 'shade'\]"):
        apply(empty_state(C), web("e", [{"shade": 1, "colour": 2}]))


def test_an_erasure_removes_what_was_said_before_or_with_it_and_keeps_what_came_after() -> None:
    before = web("z-before", [f.consent("EMAIL", "OPTED_IN"), f.contact("EMAIL", "ann@example.com")], T0)
    erase = web("a-erase", [f.erasure()], T0)
    after = web("after", [f.topic("news", True)], T0 + timedelta(seconds=1))
    for order in ([before, erase, after], [after, erase, before], [erase, after, before]):
        state = fold(C, order)
        assert status_after(order) == []
        assert status_after(order, "topics") == [{"topic": "news", "subscribed": True, "channels": []}]
        assert identities(state) == []
        assert not is_erased(state)
    assert is_erased(fold(C, [before, erase]))
    assert is_erased(fold(C, [erase]))
    assert not is_erased(fold(C, [before]))


def test_the_latest_of_two_erasures_decides_in_either_order() -> None:
    early = web("early", [f.erasure()], T0)
    said = web("said", [f.consent("SMS", "OPTED_IN")], T0 + timedelta(hours=1))
    late = web("late", [f.erasure()], T0 + timedelta(hours=2))
    for order in ([early, said, late], [late, said, early], [said, late, early], [late, early, said]):
        state = fold(C, order)
        assert is_erased(state)
        assert state.erased == (T0_MS + 2 * 3_600_000, 9, "late", 0)


def test_merge_takes_the_newer_register_of_each_side_and_the_later_erasure() -> None:
    old_sms = web("a1", [f.consent("SMS", "OPTED_IN"), f.topic("news", True)], T0)
    new_sms = web("b1", [f.consent("SMS", "OPTED_OUT")], T0 + timedelta(hours=1))
    email = web("b2", [f.consent("EMAIL", "OPTED_IN")], T0 + timedelta(hours=3))
    erase = web("b3", [f.erasure()], T0 + timedelta(hours=2))
    left, right = fold(C, [old_sms]), fold(C, [new_sms, email])
    for merged in (merge(left, right), merge(right, left)):
        consents = to_profile(merged, T0)["consents"]
        assert [(c["channel"], c["status"]) for c in consents] == [("EMAIL", "OPTED_IN"), ("SMS", "OPTED_OUT")]
        assert (merged.version, merged.updated_ms) == (3, T0_MS + 3 * 3_600_000)
        assert merged.registers[("topic", "news")].value == {"subscribed": True, "channels": []}
    erased_right = fold(C, [new_sms, erase])
    for merged in (merge(left, erased_right), merge(erased_right, left)):
        assert is_erased(merged)
        assert merged.erased == (T0_MS + 2 * 3_600_000, 9, "b3", 0)
        assert merged.customer_id == C


def test_identifiers_present_and_released_in_subject_syntax_sorted() -> None:
    events = [web("e1", [f.contact("PHONE", "+14155550100"), f.contact("EMAIL", "Zed@Example.com"),
                         f.contact("LOYALTY", "L-1"), f.contact("SOCIAL", "instagram:ann.b")], T0),
              web("e2", [f.contact("PHONE", "+14155550100", "REMOVE"), f.contact("EMAIL", "amy@example.com", "REMOVE")],
                  T0 + timedelta(minutes=1))]
    state = fold(C, events)
    assert identities(state) == ["email:zed@example.com", "loyalty:L-1", "social:instagram:ann.b"]
    assert released_identities(state) == ["email:amy@example.com", "phone:+14155550100"]


def test_a_removed_contact_point_is_not_shown_and_a_primary_follows_make_primary() -> None:
    events = [web("e1", [f.contact("EMAIL", "ann@example.com", "MAKE_PRIMARY"), f.contact("EMAIL", "bob@example.com")], T0),
              web("e2", [f.contact("EMAIL", "bob@example.com", "MAKE_PRIMARY"), f.contact("PHONE", "+14155550100")],
                  T0 + timedelta(minutes=1)),
              web("e3", [f.contact("PHONE", "+14155550100", "REMOVE")], T0 + timedelta(minutes=2))]
    assert status_after(events, "contact_points") == [
        {"kind": "EMAIL", "value": "ann@example.com", "primary": False},
        {"kind": "EMAIL", "value": "bob@example.com", "primary": True},
    ]


@pytest.mark.parametrize(("change", "restrictive"), [
    (f.consent("EMAIL", "OPTED_OUT"), True),
    (f.consent("EMAIL", "OPTED_IN"), False),
    (f.topic("news", False), True),
    (f.topic("news", True), False),
    (f.suppression("SMS", True), True),
    (f.suppression(None, True), True),
    (f.suppression("SMS", False), False),
    (f.pause(T0, ["SMS"]), False),
    (f.contact("EMAIL", "ann@example.com", "REMOVE"), False),
    (f.frequency("DAILY"), False),
    (f.attribute("size", "M"), False),
    (f.quiet_hours("22:00", "07:00"), False),
    (f.erasure(), False),
])
def test_only_opt_outs_unsubscribes_and_suppressions_are_restrictive(change: dict[str, Any], restrictive: bool) -> None:
    assert is_restrictive(change) is restrictive
    assert restricts_contact(web("e", [f.topic("news", True), change])) is restrictive


@pytest.mark.parametrize(("changes", "may"), [
    ([f.topic("news", True), f.contact("EMAIL", "ann@example.com")], True),
    ([f.erasure()], True),
    ([f.consent("EMAIL", "OPTED_OUT"), f.suppression()], False),
])
def test_only_contact_changes_and_erasures_may_change_identities(changes: list[dict[str, Any]], may: bool) -> None:
    assert may_change_identities(web("e", changes)) is may


def test_provenance_names_the_source_actor_interaction_and_proof() -> None:
    proof = f.proof("VERBAL", recording_ref="rec/1.wav")
    event = f.event(C, [f.consent("PHONE", "OPTED_IN")], T0, event_id="call-1", touchpoint="CALL_CENTER",
                    system="cc", actor="AGENT", actor_id="agent-7", interaction_id="call-991", proof=proof)
    expected = {"event_id": "call-1", "occurred_at": T0_MS, "touchpoint": "CALL_CENTER", "system": "cc",
                "actor_type": "AGENT", "actor_id": "agent-7", "interaction_id": "call-991", "proof": proof}
    assert provenance(event) == expected
    assert provenance(event, 5) == expected | {"occurred_at": 5}


def test_times_are_epoch_milliseconds_inside_and_utc_datetimes_outside() -> None:
    assert millis(datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)) == 1_772_366_400_123
    assert millis(1_772_366_400_123) == 1_772_366_400_123
    assert to_datetime(1_772_366_400_123) == datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert to_datetime(None) is None


def test_an_event_with_times_as_epoch_milliseconds_folds_like_one_with_datetimes() -> None:
    as_millis = web("e1", [f.consent("EMAIL", "OPTED_IN", expires_at=T0_MS + 1000)])  # type: ignore[arg-type]
    as_millis["occurred_at"] = as_millis["recorded_at"] = T0_MS
    [consent] = to_profile(fold(C, [as_millis]), T0)["consents"]
    assert consent["expires_at"] == datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC)
    assert consent["provenance"]["occurred_at"] == T0


def literal_profile(consents: list[dict[str, Any]], pauses: list[dict[str, Any]], suppressions: list[dict[str, Any]] | None = None,
                    quiet_hours: dict[str, Any] | None = None) -> dict[str, Any]:
    """The parts of a decoded CustomerProfile that `reachable` reads."""
    return {"consents": consents, "pauses": pauses, "suppressions": suppressions or [], "quiet_hours": quiet_hours}


def test_reachable_reads_consent_expiry_and_pauses_from_a_profile() -> None:
    profile = literal_profile(
        [{"channel": "EMAIL", "purpose": "marketing", "status": "OPTED_IN", "expires_at": T0 + timedelta(hours=3)},
         {"channel": "SMS", "purpose": "marketing", "status": "OPTED_IN", "expires_at": None}],
        [{"channel": None, "until": T0 + timedelta(hours=1)}, {"channel": "SMS", "until": T0 + timedelta(hours=2)}])
    assert reachable(profile, T0)["EMAIL"] == {"allowed": False, "reason": "PAUSED"}
    assert reachable(profile, T0 + timedelta(hours=1))["EMAIL"] == {"allowed": True, "reason": "OK"}
    assert reachable(profile, T0 + timedelta(hours=1))["SMS"] == {"allowed": False, "reason": "PAUSED"}
    assert reachable(profile, T0 + timedelta(hours=2))["SMS"] == {"allowed": True, "reason": "OK"}
    assert reachable(profile, T0 + timedelta(hours=3))["EMAIL"] == {"allowed": False, "reason": "EXPIRED"}


def test_reachable_reads_suppressions_and_quiet_hours_from_a_profile_for_a_purpose() -> None:
    profile = literal_profile(
        [{"channel": "EMAIL", "purpose": "service", "status": "OPTED_IN", "expires_at": None},
         {"channel": "PUSH", "purpose": "service", "status": "OPTED_IN", "expires_at": None}],
        [], [{"channel": "PUSH", "active": True}],
        {"start": "11:00", "end": "13:00", "time_zone": "UTC"})
    assert reachable(profile, T0, "service") == {
        "EMAIL": {"allowed": False, "reason": "QUIET_HOURS"}, "SMS": {"allowed": False, "reason": "NO_CONSENT"},
        "PUSH": {"allowed": False, "reason": "SUPPRESSED"}, "PHONE": {"allowed": False, "reason": "NO_CONSENT"},
        "DIRECT_MAIL": {"allowed": False, "reason": "NO_CONSENT"}, "WHATSAPP": {"allowed": False, "reason": "NO_CONSENT"}}
    assert reachable(profile, T0)["EMAIL"] == {"allowed": False, "reason": "NO_CONSENT"}  # marketing by default


def test_reachable_reads_a_state_with_marketing_by_default() -> None:
    state = fold(C, [web("e", [f.consent("EMAIL", "OPTED_IN"), f.consent("SMS", "OPTED_IN", purpose="service")])])
    assert reachable(state, T0)["EMAIL"] == {"allowed": True, "reason": "OK"}
    assert reachable(state, T0)["SMS"] == {"allowed": False, "reason": "NO_CONSENT"}
    assert reachable(state, T0, "service")["SMS"] == {"allowed": True, "reason": "OK"}


def test_an_encoder_memo_of_event_ids_is_carried_forward_as_the_ids_added_since() -> None:
    state = empty_state(C)
    assert apply(state, web("e1", [f.topic("news", True)])).memo == {}
    base = fold(C, [web("e0", [f.topic("news", True)])])
    base.memo[IDS] = "encoded e0"
    once = apply(base, web("e1", [f.topic("deals", True)]))
    twice = apply(once, web("e2", [f.topic("sale", True)]))
    assert once.memo == {IDS_FROM: ("encoded e0", ("e1",))}
    assert twice.memo == {IDS_FROM: ("encoded e0", ("e1", "e2"))}
