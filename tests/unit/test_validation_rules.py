"""Validation, one literal case per rule: the exact problems (path and message) an event gets, each
boundary on both sides, and the quick check (`plainly_valid`) passing the usual valid events and
refusing every one that validation refuses. Expected problems are written out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from schemas.validation import Problem, plainly_valid, validate_event
from tests import factories as f

NOW = f.at(0)
NOW_MS = 1_772_366_400_000  # NOW in epoch ms
CHANNEL_MESSAGE = "unknown channel (one of DIRECT_MAIL, EMAIL, PHONE, PUSH, SMS, WHATSAPP)"


def problems(changes: list[dict[str, Any]], /, **fields: Any) -> list[Problem]:
    """The problems of a web event with `changes`, and `fields` replaced, validated at NOW."""
    event = f.event("cust-1", changes, event_id="e-1") | fields
    return validate_event(event, now=NOW)


def test_a_valid_event_of_every_change_kind_has_no_problem() -> None:
    assert problems([
        f.consent("EMAIL", "OPTED_IN", expires_at=f.at(days=1)), f.topic("news", True, ["EMAIL", "SMS"]),
        f.frequency("WEEKLY", channel="EMAIL", max_per_week=0), f.frequency(None, topic="deals"),
        f.pause(f.at(hours=1), ["SMS"]), f.quiet_hours("22:00", "07:00", "Europe/Paris"), f.quiet_hours(None, None),
        f.contact("EMAIL", "ann@example.com"), f.attribute("size", "M"), f.suppression(None), f.erasure(),
    ], proof=f.proof("DOUBLE_OPT_IN")) == []


@pytest.mark.parametrize("field", ["event_id", "subject", "source", "changes"])
@pytest.mark.parametrize("missing", [None, ""])
def test_a_missing_or_empty_field_is_required_and_nothing_else(field: str, missing: Any) -> None:
    assert problems([f.topic("news", True)], **{field: missing}) == [Problem(field, "required")]


def test_missing_times_are_required_and_the_other_time_is_still_checked() -> None:
    naive = datetime(2026, 3, 1, 12, 0)
    assert problems([f.topic("news", True)], occurred_at=None, recorded_at=naive) == [
        Problem("occurred_at", "required"), Problem("recorded_at", "not a time with a time zone")]


@pytest.mark.parametrize("moment", [datetime(2026, 3, 1, 12, 0), "2026-03-01T12:00:00Z", NOW_MS])
def test_a_time_must_be_a_datetime_with_a_time_zone(moment: Any) -> None:
    assert problems([f.topic("news", True)], occurred_at=moment) == [Problem("occurred_at", "not a time with a time zone")]


def test_a_time_may_be_up_to_five_minutes_ahead_of_now_and_not_one_millisecond_more() -> None:
    limit = NOW + timedelta(minutes=5)
    assert problems([f.topic("news", True)], occurred_at=limit, recorded_at=limit) == []
    too_late = limit + timedelta(milliseconds=1)
    assert problems([f.topic("news", True)], occurred_at=too_late, recorded_at=too_late) == [
        Problem("occurred_at", "more than 0:05:00 in the future"), Problem("recorded_at", "more than 0:05:00 in the future")]


def test_the_allowed_skew_is_a_parameter() -> None:
    ahead = NOW + timedelta(minutes=1)
    event = f.event("cust-1", [f.topic("news", True)], ahead)
    assert validate_event(event, now=NOW, max_future_skew=timedelta(seconds=30)) == [
        Problem("occurred_at", "more than 0:00:30 in the future"), Problem("recorded_at", "more than 0:00:30 in the future")]


def test_an_event_id_may_have_200_characters_and_not_201() -> None:
    assert problems([f.topic("news", True)], event_id="x" * 200) == []
    assert problems([f.topic("news", True)], event_id="x" * 201) == [Problem("event_id", "longer than 200 characters")]


def test_a_malformed_subject_is_named_by_its_rule() -> None:
    assert problems([f.topic("news", True)], subject="fax:123") == [
        Problem("subject", "not a customer id nor email:, phone:, loyalty: or social:<platform>: identifier")]


def test_no_change_at_all_is_a_problem() -> None:
    assert problems([]) == [Problem("changes", "at least one change is required")]


def test_unknown_channels_are_named_with_their_paths_and_the_known_ones() -> None:
    assert problems([f.consent("FAX", "OPTED_IN"), f.topic("news", True, ["EMAIL", "FAX", "TELEX"]),
                     f.pause(None, ["UNKNOWN"]), f.frequency("DAILY", channel="FAX"), f.suppression("UNKNOWN")]) == [
        Problem("changes[0].channel", CHANNEL_MESSAGE),
        Problem("changes[1].channels[1]", CHANNEL_MESSAGE), Problem("changes[1].channels[2]", CHANNEL_MESSAGE),
        Problem("changes[2].channels[0]", CHANNEL_MESSAGE),
        Problem("changes[3].channel", CHANNEL_MESSAGE),
        Problem("changes[4].channel", CHANNEL_MESSAGE),
    ]


def test_unknown_symbols_of_change_enums_are_named_with_their_enum() -> None:
    assert problems([f.consent("EMAIL", "MAYBE"), f.frequency("HOURLY"), f.contact("EMAIL", "ann@example.com", "MERGE"),
                     f.suppression("SMS", reason="WHIM")]) == [
        Problem("changes[0].status", "unknown ConsentStatus symbol"),
        Problem("changes[1].cadence", "unknown Cadence symbol"),
        Problem("changes[2].action", "unknown ContactAction symbol"),
        Problem("changes[3].reason", "unknown SuppressionReason symbol"),
    ]


def test_unknown_symbols_of_event_enums_are_named_with_their_paths() -> None:
    event = f.event("cust-1", [f.topic("news", True)], touchpoint="FAX", actor="ROBOT",
                    proof=f.proof("TELEPATHY", legal_basis="WHIM"))
    assert validate_event(event, now=NOW) == [
        Problem("source.touchpoint", "unknown Touchpoint symbol"), Problem("source.actor.type", "unknown ActorType symbol"),
        Problem("proof.method", "unknown ProofMethod symbol"), Problem("proof.legal_basis", "unknown LegalBasis symbol"),
    ]


def test_contact_values_follow_their_kinds_syntax() -> None:
    assert problems([f.contact("EMAIL", "not-an-address"), f.contact("PHONE", "0155"), f.contact("LOYALTY", "L-1")]) == [
        Problem("changes[0].value", "not a valid email address"),
        Problem("changes[1].value", "not an E.164 phone number (+ and up to 15 digits)"),
    ]


def test_quiet_hours_need_hh_mm_times_and_an_iana_time_zone() -> None:
    assert problems([f.quiet_hours("24:00", "7:00", "Mars/Olympus")]) == [
        Problem("changes[0].start", "not a HH:MM time"), Problem("changes[0].end", "not a HH:MM time"),
        Problem("changes[0].time_zone", "not an IANA time zone"),
    ]
    assert problems([f.quiet_hours("00:00", "23:59", "UTC")]) == []


def test_cleared_quiet_hours_have_nothing_to_check() -> None:
    assert problems([f.quiet_hours(None, None, "Mars/Olympus")]) == []


@pytest.mark.parametrize(("max_per_week", "found"), [
    (-1, [Problem("changes[0].max_per_week", "must not be negative")]),
    (0, []),
    (2**31 - 1, []),
    (2**31, [Problem("changes[0].max_per_week", "must be at most 2147483647")]),
    (None, []),
])
def test_a_weekly_maximum_is_an_avro_int_not_below_zero(max_per_week: int | None, found: list[Problem]) -> None:
    assert problems([f.frequency("DAILY", max_per_week=max_per_week)]) == found


def test_every_problem_of_an_event_is_reported_in_order() -> None:
    assert problems([f.consent("FAX", "MAYBE"), f.frequency("DAILY", max_per_week=-1)], event_id="x" * 201) == [
        Problem("event_id", "longer than 200 characters"),
        Problem("changes[0].channel", CHANNEL_MESSAGE), Problem("changes[0].status", "unknown ConsentStatus symbol"),
        Problem("changes[1].max_per_week", "must not be negative"),
    ]


def test_a_problem_reads_as_its_path_and_message() -> None:
    assert str(Problem("changes[0].channel", "unknown")) == "changes[0].channel: unknown"


# The quick check reads events as the compiled reader decodes them: times as epoch ms.

def decoded(changes: list[dict[str, Any]], /, **fields: Any) -> dict[str, Any]:
    """A web event with times as epoch ms (NOW), and `fields` replaced."""
    event = f.event("cust-1", changes, event_id="e-1") | {"occurred_at": NOW_MS, "recorded_at": NOW_MS}
    return event | fields


PLAIN_CHANGES = [
    f.consent("EMAIL", "OPTED_IN"), f.consent("SMS", "PENDING"), f.topic("news", True, ["EMAIL"]), f.topic("deals", False),
    f.attribute("size", "M"), f.suppression(None), f.suppression("SMS", reason="BOUNCE"), f.contact("EMAIL", "ann@example.com"),
    f.contact("PHONE", "+14155550100", "MAKE_PRIMARY"), f.frequency("DAILY", channel="SMS", max_per_week=0),
    f.frequency(None), f.pause(None), {"channels": ["PUSH"], "until": NOW_MS + 1}, f.erasure(),
]


@pytest.mark.parametrize("change", PLAIN_CHANGES)
def test_the_quick_check_passes_each_usual_valid_change(change: dict[str, Any]) -> None:
    assert plainly_valid(decoded([change]), NOW_MS)


@pytest.mark.parametrize("event_id", ["x", "x" * 200])
def test_the_quick_check_passes_event_ids_of_1_to_200_characters(event_id: str) -> None:
    assert plainly_valid(decoded([f.topic("news", True)], event_id=event_id), NOW_MS)


def test_the_quick_check_passes_times_up_to_the_latest_moment_and_a_proof() -> None:
    assert plainly_valid(decoded([f.topic("news", True)], proof=f.proof()), NOW_MS)
    assert plainly_valid(decoded([f.topic("news", True)], occurred_at=NOW_MS - 1, recorded_at=NOW_MS), NOW_MS)


@pytest.mark.parametrize("change", [
    f.consent("FAX", "OPTED_IN"), f.consent("EMAIL", "MAYBE"), f.topic("news", True, ["EMAIL", "FAX"]),
    f.suppression("FAX"), f.suppression("SMS", reason="WHIM"), f.contact("EMAIL", "not-an-address"),
    f.contact("EMAIL", "ann@example.com", "MERGE"), f.frequency("DAILY", channel="FAX"), f.frequency("HOURLY"),
    f.frequency("DAILY", max_per_week=-1), f.pause(None, ["FAX"]), {"reason": "r", "extra": 1},
    f.quiet_hours("22:00", "07:00"),  # quiet hours are left to validate_event
])
def test_the_quick_check_refuses_a_change_it_cannot_vouch_for(change: dict[str, Any]) -> None:
    assert not plainly_valid(decoded([f.topic("news", True), change]), NOW_MS)


@pytest.mark.parametrize("fields", [
    {"event_id": ""}, {"event_id": "x" * 201}, {"subject": ""}, {"subject": "fax:1"},
    {"occurred_at": NOW_MS + 1}, {"recorded_at": NOW_MS + 1}, {"changes": []},
    {"proof": f.proof("TELEPATHY")}, {"proof": f.proof(legal_basis="WHIM")},
])
def test_the_quick_check_refuses_an_event_validation_refuses(fields: dict[str, Any]) -> None:
    assert not plainly_valid(decoded([f.topic("news", True)], **fields), NOW_MS)


@pytest.mark.parametrize(("touchpoint", "actor"), [("FAX", "CUSTOMER"), ("WEB", "ROBOT")])
def test_the_quick_check_refuses_unknown_sources(touchpoint: str, actor: str) -> None:
    event = f.event("cust-1", [f.topic("news", True)], touchpoint=touchpoint, actor=actor)
    assert not plainly_valid(event | {"occurred_at": NOW_MS, "recorded_at": NOW_MS}, NOW_MS)

