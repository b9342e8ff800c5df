"""From a profile and a submitted form (or JSON body) to the one event that records the changes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefstream.core.settings import ConfigError
from processors.domain.fold import fold, to_profile
from processors.runtime.views import jsonable
from producers.web.config import contrast_ratio, load_web_config
from producers.web.events import ProofContext, web_event
from producers.web.preferences import Current, current_from_profile, open_questions, parse_form, parse_json, plan, unsubscribe_all
from schemas.codec import decode_event, encode_event
from schemas.validation import validate_event
from tests import factories as f
from tests.reach import reach_checked, reached

CONFIG = load_web_config()
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
PROOF = ProofContext("web-notice-2026-03", "en-GB", "127.0.0.1", "pytest-browser/1.0")


def profile_of(*events: dict) -> dict:
    """A profile exactly as the processor's query API renders it (JSON round trip included)."""
    return json.loads(json.dumps(jsonable(to_profile(fold("cust-1", list(events)), NOW))))


def form_of(current: Current, **fields: str) -> dict[str, str]:
    """The form a browser submits when the customer changes nothing but `fields`."""
    form = {f"consent.{c.code}": "on" for c in CONFIG.channels if current.consented(c.code)}
    form |= {f"topic.{t.code}": "on" for t in CONFIG.topics if current.topics.get(t.code)}
    form |= {"cadence": current.cadence or "", "pause": "keep", "email": current.email or "", "phone": current.phone or ""}
    if current.quiet:
        form |= dict(zip(("quiet_start", "quiet_end", "quiet_zone"), current.quiet, strict=True))
    return {key: value for key, value in (form | fields).items() if value is not None}


def changes_for(current: Current, form: dict[str, str]):
    desired, problems = parse_form(form, CONFIG, open_questions(current, CONFIG))
    assert problems == []
    return plan(current, desired, CONFIG, NOW)


KNOWN = current_from_profile(profile_of(
    f.event("cust-1", [f.consent("SMS", "OPTED_IN"), f.consent("EMAIL", "OPTED_IN", contact_point="ann@example.com"),
                       f.contact("EMAIL", "ann@example.com", "MAKE_PRIMARY"), f.contact("PHONE", "+447700900123"),
                       f.topic("offers", True), f.frequency("WEEKLY"), f.quiet_hours("22:00", "07:00", "Europe/London"),
                       f.attribute("size", "M")], f.at(0)),
), NOW)


def test_the_profile_of_the_query_api_becomes_the_values_shown() -> None:
    assert KNOWN.consents == {"SMS": "OPTED_IN", "EMAIL": "OPTED_IN"}
    assert KNOWN.email == "ann@example.com" and KNOWN.phone == "+447700900123"
    assert KNOWN.topics == {"offers": True} and KNOWN.cadence == "WEEKLY"
    assert KNOWN.quiet == ("22:00", "07:00", "Europe/London") and KNOWN.answers == {"size": "M"}
    assert current_from_profile(None, NOW) == Current()


def test_an_unchanged_form_emits_nothing() -> None:
    assert changes_for(KNOWN, form_of(KNOWN)).changes == []
    assert changes_for(Current(), form_of(Current())).changes == []


def test_only_what_differs_is_emitted_in_one_list() -> None:
    form = form_of(KNOWN, **{"consent.SMS": None, "consent.PUSH": "on", "topic.events": "on", "cadence": "MONTHLY"})
    assert changes_for(KNOWN, form).changes == [
        f.consent("SMS", "OPTED_OUT"), f.consent("PUSH", "OPTED_IN"), f.topic("events", True), f.frequency("MONTHLY"),
    ]


def test_email_consent_goes_pending_and_asks_for_confirmation() -> None:
    planned = changes_for(Current(), form_of(Current(), **{"consent.EMAIL": "on", "email": "Bob@Example.com"}))
    assert planned.changes == [f.contact("EMAIL", "Bob@Example.com", "MAKE_PRIMARY"),
                               f.consent("EMAIL", "PENDING", contact_point="Bob@Example.com")]
    assert planned.confirm_email == "Bob@Example.com"


def test_a_new_address_needs_confirming_again() -> None:
    planned = changes_for(KNOWN, form_of(KNOWN, email="new@example.com"))
    assert f.consent("EMAIL", "PENDING", contact_point="new@example.com") in planned.changes
    assert f.contact("EMAIL", "ann@example.com", "REMOVE") in planned.changes
    assert planned.confirm_email == "new@example.com"


def test_email_consent_without_an_address_is_a_problem() -> None:
    desired, _ = parse_form({"consent.EMAIL": "on"}, CONFIG, [])
    assert [p.path for p in plan(Current(), desired, CONFIG, NOW).problems] == ["email"]


def test_email_consented_elsewhere_without_an_address_does_not_block_other_changes() -> None:
    """A call-center opt-in may carry no address; a JSON change to SMS alone must still go through."""
    consented = replace(Current(), consents={"EMAIL": "OPTED_IN"})
    desired, problems = parse_json({"consents": {"SMS": True}}, CONFIG)
    planned = plan(consented, desired, CONFIG, NOW)
    assert problems == [] and planned.problems == []
    assert planned.changes == [f.consent("SMS", "OPTED_IN")]


def test_pause_resume_and_quiet_hours() -> None:
    assert changes_for(Current(), form_of(Current(), pause="30")).changes == [f.pause(NOW + timedelta(days=30))]
    paused = replace(Current(), paused_until=NOW + timedelta(days=3))
    assert changes_for(paused, form_of(paused, pause="resume")).changes == [f.pause(None)]
    assert changes_for(Current(), form_of(Current(), pause="resume")).changes == []
    cleared = form_of(KNOWN, quiet_start="", quiet_end="")
    assert changes_for(KNOWN, cleared).changes == [f.quiet_hours(None, None)]


def test_progressive_questions_ask_only_unanswered_ones_up_to_the_limit() -> None:
    asked = open_questions(KNOWN, CONFIG)
    assert [q.key for q in asked] == ["interests", "preferred_store", "birthday_month"]
    assert len(open_questions(Current(), replace(CONFIG, max_questions=2))) == 2
    form = form_of(KNOWN, **{"answer.interests": "Home", "answer.size": "XL"})  # size was not asked: ignored
    assert changes_for(KNOWN, form).changes == [f.attribute("interests", "Home", "Which products interest you most?")]


def test_bad_form_values_are_problems_not_changes() -> None:
    _, problems = parse_form({"phone": "07700 900123", "email": "not-an-email", "cadence": "HOURLY", "pause": "9",
                              "quiet_start": "25:00", "quiet_end": "07:00", "quiet_zone": "Mars/Base"}, CONFIG, [])
    assert sorted(p.path for p in problems) == ["cadence", "email", "pause", "phone", "quiet"]


def test_a_pause_of_a_digit_int_cannot_read_is_a_problem_not_a_crash() -> None:
    _, problems = parse_form({"pause": "\u00b9"}, CONFIG, [])  # superscript one: str.isdigit() says yes (the fuzz test found it)
    assert [p.path for p in problems] == ["pause"]


def test_json_requests_change_only_what_they_name() -> None:
    desired, problems = parse_json({"consents": {"PUSH": True}, "answers": {"interests": "Kids"}}, CONFIG)
    assert problems == []
    assert plan(KNOWN, desired, CONFIG, NOW).changes == [f.consent("PUSH", "OPTED_IN"),
                                                         f.attribute("interests", "Kids", "Which products interest you most?")]
    _, problems = parse_json({"consents": {"FAX": True}, "topics": {"offers": "yes"}, "colour": 1, "phone": 5}, CONFIG)
    assert sorted(p.path for p in problems) == ["colour", "consent:FAX", "phone", "topic:offers"]


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
                           max_leaves=10)
answers = st.one_of([st.tuples(st.just(q.key), st.sampled_from(q.choices) if q.choices else st.text(min_size=1, max_size=20))
                     for q in CONFIG.questions])
well_formed_bodies = st.fixed_dictionaries({}, optional={
    "consents": st.dictionaries(st.sampled_from([c.code for c in CONFIG.channels]), st.booleans(), max_size=3),
    "topics": st.dictionaries(st.sampled_from([t.code for t in CONFIG.topics]), st.booleans(), max_size=2),
    "cadence": st.none() | st.sampled_from(["REALTIME", "DAILY", "WEEKLY", "MONTHLY"]),
    "pause": st.sampled_from(["keep", "resume", *CONFIG.pause_days]),
    "quiet_hours": st.none() | st.fixed_dictionaries(
        {"start": st.sampled_from(["22:00", "08:30"]), "end": st.just("07:00")},
        optional={"time_zone": st.sampled_from(["UTC", "Europe/London", None])}),
    "email": st.none() | st.sampled_from(["ann@example.com", "Bob@Example.com"]),
    "phone": st.none() | st.sampled_from(["+447700900123", "+15550001"]),
    "answers": st.lists(answers, max_size=2).map(dict),
})
FIELDS = ["consents", "topics", "cadence", "pause", "quiet_hours", "email", "phone", "answers", "colour"]


@st.composite
def json_bodies(draw: st.DrawFn) -> Any:
    """Mostly a well-formed request; else one with a field of any JSON value, or any JSON value."""
    body = draw(well_formed_bodies)
    how = draw(st.integers(0, 7))
    if how < 6:
        return body
    if how == 6:
        return body | {draw(st.sampled_from(FIELDS)): draw(json_values)}
    return draw(json_values)


@reach_checked()
@settings(max_examples=1000, deadline=None)
@given(json_bodies(), st.sampled_from([KNOWN, Current()]))
def test_any_json_body_is_refused_with_problems_or_becomes_a_valid_event(body, current: Current) -> None:
    desired, problems = parse_json(body, CONFIG)
    if problems:
        return
    planned = plan(current, desired, CONFIG, NOW)
    if planned.changes and not planned.problems:
        reached()
        event = web_event("cust-1", planned.changes, PROOF, NOW)
        assert validate_event(event, NOW) == []
        encode_event(event)


def test_the_event_carries_source_actor_and_proof() -> None:
    event = web_event("cust-1", unsubscribe_all(CONFIG), PROOF, NOW)
    assert validate_event(event, NOW) == []
    decoded = decode_event(encode_event(event))
    assert decoded["source"]["touchpoint"] == "WEB" and decoded["source"]["actor"] == {"type": "CUSTOMER", "id": "cust-1"}
    assert decoded["proof"] | {} == {"method": "CLICKWRAP", "notice_version": "web-notice-2026-03", "locale": "en-GB",
                                     "ip": "127.0.0.1", "user_agent": "pytest-browser/1.0", "recording_ref": None, "legal_basis": "CONSENT"}
    assert len(decoded["changes"]) == len(CONFIG.channels) + len(CONFIG.topics)


def test_config_refuses_unreadable_colours_and_merges_overrides(tmp_path: Path) -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21)
    good = tmp_path / "good.toml"
    good.write_text('brand = "Acme"\n[texts]\nsave = "Keep"\n')
    config = load_web_config(good)
    assert config.brand == "Acme" and config.text("save") == "Keep" and config.text("title") == CONFIG.text("title")
    bad = tmp_path / "bad.toml"
    bad.write_text('[colors]\ntext = "#eeeeee"\n')
    with pytest.raises(ConfigError, match="contrast"):
        load_web_config(bad)
