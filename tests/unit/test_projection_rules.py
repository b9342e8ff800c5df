"""Projection, one literal case per rule: times become ISO-8601 UTC text whatever the machine's
time zone, provenance is dropped unless asked for, purposes restrict consents, and the filter's
conditions. Expected values are written out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from prefstream.core.formats import jsonable, utc_millis
from sinks.config import Filter, SinkConfig, parse_sinks
from sinks.projection import passes, project

NOON = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def machine_in_kolkata(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone is UTC+05:30 for the test, and what it was afterwards."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_times_are_utc_text_with_milliseconds_whatever_the_machines_time_zone(machine_in_kolkata: None) -> None:
    assert utc_millis(NOON) == "2026-03-01T12:00:00.123Z"
    assert utc_millis(datetime(2026, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))) == "2026-03-01T12:00:00.000Z"


def test_containers_are_converted_all_the_way_down_and_the_rest_kept() -> None:
    value = {"a": [NOON, {"b": NOON, "c": None}], "d": 1.5, "e": "text", "f": True}
    assert jsonable(value, utc_millis) == {"a": ["2026-03-01T12:00:00.123Z", {"b": "2026-03-01T12:00:00.123Z", "c": None}],
                                           "d": 1.5, "e": "text", "f": True}


def unit(**settings: Any) -> SinkConfig:
    """A business unit with these TOML settings."""
    target = {"type": "file", "path": "/tmp/unused.jsonl"}
    return parse_sinks({"business_units": {"bu": {"target": target, **settings}}})["bu"]


PROVENANCE = {"event_id": "e1", "occurred_at": NOON, "ip": "203.0.113.9"}
PROFILE = {
    "customer_id": "cust-1", "version": 2, "updated_at": NOON, "evaluated_at": NOON,
    "consents": [{"channel": "EMAIL", "purpose": "marketing", "status": "OPTED_IN", "provenance": PROVENANCE},
                 {"channel": "SMS", "purpose": "service", "status": "OPTED_IN", "provenance": PROVENANCE}],
    "topics": [{"topic": "news", "subscribed": True, "provenance": PROVENANCE}],
    "quiet_hours": {"start": "22:00", "end": "07:00", "provenance": PROVENANCE},
    "reachable": [{"channel": "EMAIL", "allowed": True, "reason": "OK"},
                  {"channel": "SMS", "allowed": False, "reason": "NO_CONSENT"}],
}


def test_a_projection_drops_provenance_unless_asked_for_it() -> None:
    projected = project(PROFILE, unit(sections=["topics", "quiet_hours"]))
    assert (projected["customer_id"], projected["version"], projected["updated_at"]) == ("cust-1", 2, "2026-03-01T12:00:00.123Z")
    assert projected["topics"] == [{"topic": "news", "subscribed": True}]
    assert projected["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert "consents" not in projected
    with_provenance = project(PROFILE, unit(sections=["topics"], include_provenance=True))
    assert with_provenance["topics"] == [{"topic": "news", "subscribed": True, "provenance": {
        "event_id": "e1", "occurred_at": "2026-03-01T12:00:00.123Z", "ip": "203.0.113.9"}}]


def test_purposes_keep_only_their_consents() -> None:
    assert project(PROFILE, unit(sections=["consents"], purposes=["service"]))["consents"] == [
        {"channel": "SMS", "purpose": "service", "status": "OPTED_IN"}]
    assert len(project(PROFILE, unit(sections=["consents"]))["consents"]) == 2


@pytest.mark.parametrize(("rule", "passed"), [
    (Filter(), True),
    (Filter(reachable_on=("EMAIL",)), True),
    (Filter(reachable_on=("SMS",)), False),
    (Filter(reachable_on=("SMS", "EMAIL")), True),
    (Filter(consent_channel="EMAIL"), True),
    (Filter(consent_channel="SMS"), False),  # its opt-in is for service
    (Filter(consent_channel="SMS", consent_purpose="service"), True),
    (Filter(reachable_on=("SMS",), consent_channel="EMAIL"), False),
    (Filter(reachable_on=("EMAIL",), consent_channel="PUSH"), False),
])
def test_a_profile_passes_a_filter_only_when_it_meets_every_condition(rule: Filter, passed: bool) -> None:
    assert passes(PROFILE, rule) is passed


def test_an_opt_out_does_not_pass_a_consent_filter() -> None:
    opted_out = PROFILE | {"consents": [{"channel": "EMAIL", "purpose": "marketing", "status": "OPTED_OUT"}]}
    assert not passes(opted_out, Filter(consent_channel="EMAIL"))
