"""Event validation: each rule fails and passes, and every problem is reported with its path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.subjects import Subject, is_customer_id, parse_subject, subject_problem
from schemas.validation import validate_event
from tests import factories as f

NOW = f.at(0)


def paths(event) -> list[str]:
    return [p.path for p in validate_event(event, now=NOW)]


def test_a_valid_event_has_no_problems() -> None:
    assert paths(f.event("cust-1", [f.consent("EMAIL", "OPTED_IN"), f.contact("PHONE", "+14155550100")])) == []


@pytest.mark.parametrize("field", ["event_id", "subject", "occurred_at", "recorded_at", "source", "changes"])
def test_required_fields(field: str) -> None:
    event = f.event("cust-1", [f.consent("EMAIL", "OPTED_IN")])
    event[field] = None
    assert field in paths(event)


@pytest.mark.parametrize("phone", ["4155550100", "+0155", "+1 415 555", "+1234567890123456"])
def test_phone_numbers_must_be_e164(phone: str) -> None:
    assert paths(f.event("cust-1", [f.contact("PHONE", phone)])) == ["changes[0].value"]
    assert subject_problem(f"phone:{phone}") is not None


@pytest.mark.parametrize("email", ["no-at-sign", "a@b", "a b@c.com", "@x.com"])
def test_email_syntax(email: str) -> None:
    assert paths(f.event("cust-1", [f.contact("EMAIL", email)])) == ["changes[0].value"]
    assert subject_problem(f"email:{email}") is not None


def test_valid_identifier_subjects() -> None:
    for subject in ["email:ann@example.com", "phone:+14155550100", "loyalty:L-123", "social:twitter:ann_b", "cust-1"]:
        assert subject_problem(subject) is None, subject
    assert is_customer_id("cust-1") and not is_customer_id("email:ann@example.com")


def test_an_event_too_far_in_the_future_is_rejected_within_the_skew_it_is_not() -> None:
    soon = f.event("cust-1", [f.attribute("k", "v")], NOW + timedelta(minutes=4))
    late = f.event("cust-1", [f.attribute("k", "v")], NOW + timedelta(days=2))
    assert paths(soon) == []
    assert paths(late) == ["occurred_at", "recorded_at"]
    assert validate_event(late, now=NOW, max_future_skew=timedelta(days=3)) == []


def test_unknown_channels_are_rejected_everywhere_they_appear() -> None:
    event = f.event("cust-1", [f.consent("UNKNOWN", "OPTED_IN"), f.pause(None, ["FAX"])])
    assert paths(event) == ["changes[0].channel", "changes[1].channels[0]"]


def test_quiet_hours_need_hh_mm_and_a_real_time_zone() -> None:
    assert paths(f.event("c", [f.quiet_hours("25:00", "08:00", "Mars/Olympus")])) == [
        "changes[0].start", "changes[0].time_zone"]


def test_every_problem_is_reported_not_just_the_first() -> None:
    event = f.event("bad subject!", [f.contact("PHONE", "123"), f.consent("FAX", "OPTED_IN")], NOW + timedelta(days=9))
    assert paths(event) == ["subject", "occurred_at", "recorded_at", "changes[0].value", "changes[1].channel"]


def test_messages_do_not_echo_personal_data() -> None:
    problems = validate_event(f.event("email:ann-at-example.com", [f.contact("PHONE", "5550100")]), now=NOW)
    assert problems and all("ann" not in p.message and "5550100" not in p.message for p in problems)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_subject_string_is_judged_without_crashing(subject: str) -> None:
    assert isinstance(validate_event(f.event(subject, [f.erasure()]), now=NOW), list)


def test_unknown_symbols_of_every_enum_are_reported_with_their_paths() -> None:
    event = f.event("c", [f.consent("EMAIL", "MAYBE"), f.suppression("SMS", reason="WHIM"), f.frequency("HOURLY")],
                    touchpoint="FAX_MACHINE", proof=f.proof("TELEPATHY", legal_basis="VIBES"))
    assert paths(event) == ["source.touchpoint", "proof.method", "proof.legal_basis",
                            "changes[0].status", "changes[1].reason", "changes[2].cadence"]


def test_missing_fields_do_not_hide_the_other_problems() -> None:
    event = f.event("bad subject!", [f.contact("PHONE", "123")])
    event["event_id"] = None
    event["recorded_at"] = None
    assert paths(event) == ["event_id", "recorded_at", "subject", "changes[0].value"]


def test_an_event_without_changes_is_rejected() -> None:
    assert paths(f.event("c", [])) == ["changes"]


def test_parse_subject_splits_kind_and_value_and_rejects_malformed_ones() -> None:
    assert parse_subject("cust-42") == Subject("customer", "cust-42")
    assert parse_subject("email:ann@example.com") == Subject("email", "ann@example.com")
    assert parse_subject("social:instagram:ann.b") == Subject("social", "instagram:ann.b")
    with pytest.raises(ValueError):
        parse_subject("phone:5550100")
