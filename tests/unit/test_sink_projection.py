"""Projection keeps exactly the configured sections; the filter decides who receives what."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.fold import fold, profile_time, to_profile
from schemas.codec import decode_profile, encode_profile
from sinks.config import SECTIONS, Filter, parse_sinks
from sinks.delivery import Delivery, Source, latest_per_customer, to_delivery
from sinks.projection import ALWAYS, passes, project
from tests import factories as f
from tests.strategies import events


def unit(sections: list[str], **extra: object) -> object:
    target = {"type": "file", "path": "/tmp/x.jsonl"}
    return parse_sinks({"business_units": {"bu": {"sections": sections, "target": target, **extra}}})["bu"]


def profile_of(history: list[dict]) -> dict:
    state = fold("cust-1", history)
    return decode_profile(encode_profile(to_profile(state, profile_time(state))))


@settings(max_examples=60, deadline=None)
@given(history=events(), sections=st.lists(st.sampled_from(SECTIONS), min_size=1, unique=True))
def test_projection_keeps_exactly_the_configured_sections(history: list[dict], sections: list[str]) -> None:
    profile = profile_of(history)
    projected = project(profile, unit(sections))
    assert set(projected) == set(ALWAYS) | set(sections)
    assert projected["version"] == profile["version"]
    text = json.dumps(projected)  # JSON-ready, and no provenance unless asked
    assert "provenance" not in text and "event_id" not in text


@settings(max_examples=30, deadline=None)
@given(history=events())
def test_provenance_only_when_asked(history: list[dict]) -> None:
    profile = profile_of(history)
    projected = project(profile, unit(["consents"], include_provenance=True))
    assert [c["provenance"]["event_id"] for c in projected["consents"]] == [c["provenance"]["event_id"] for c in profile["consents"]]


def test_purposes_restrict_consents_to_service() -> None:
    history = [f.event("cust-1", [f.consent("EMAIL", "OPTED_IN"), f.consent("SMS", "OPTED_IN", purpose="service")])]
    projected = project(profile_of(history), unit(["contact_points", "consents"], purposes=["service"]))
    assert [(c["channel"], c["purpose"]) for c in projected["consents"]] == [("SMS", "service")]
    assert projected["updated_at"] == "2026-03-01T12:00:00.000Z"


def test_filter_reachable_on_and_consent() -> None:
    opted_in = profile_of([f.event("cust-1", [f.consent("EMAIL", "OPTED_IN")])])
    opted_out = profile_of([f.event("cust-1", [f.consent("EMAIL", "OPTED_OUT")])])
    assert passes(opted_in, Filter(reachable_on=("EMAIL", "SMS")))
    assert not passes(opted_out, Filter(reachable_on=("EMAIL",)))
    assert not passes(opted_in, Filter(reachable_on=("SMS",)))
    assert passes(opted_in, Filter(consent_channel="EMAIL"))
    assert not passes(opted_in, Filter(consent_channel="EMAIL", consent_purpose="service"))
    assert passes(opted_out, Filter())


def source(key: bytes, value: bytes | None, offset: int = 0) -> Source:
    return Source("customer-profiles", 0, offset, key, value, 0)


def test_deliveries_upsert_delete_on_filter_and_erase_on_tombstone() -> None:
    config = unit(["consents"], filter={"reachable_on": ["EMAIL"]})
    state = fold("cust-1", [f.event("cust-1", [f.consent("EMAIL", "OPTED_IN")])])
    upsert = to_delivery(source(b"cust-1", encode_profile(to_profile(state, profile_time(state)))), config)
    assert upsert.profile is not None and upsert.version == 1 and not upsert.deleted
    state = fold("cust-1", [f.event("cust-1", [f.consent("EMAIL", "OPTED_IN")]),
                            f.event("cust-1", [f.consent("EMAIL", "OPTED_OUT")], f.at(1))])
    filtered = to_delivery(source(b"cust-1", encode_profile(to_profile(state, profile_time(state)))), config)
    assert filtered.deleted and filtered.version == 2
    assert not filtered.erased
    erased = to_delivery(source(b"cust-1", None), config)
    assert erased.deleted and erased.erased and erased.version is None
    assert json.loads(erased.body()) == {"customer_id": "cust-1", "version": None, "deleted": True, "erased": True,
                                         "profile": None}
    # Batched behind the customer's profiles, the erasure is all that is delivered, with no version.
    assert latest_per_customer([upsert, filtered, erased]) == [erased]


@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 9)), max_size=30))
def test_latest_per_customer_keeps_each_customers_last(sequence: list[tuple[str, int]]) -> None:
    deliveries = [Delivery(c, v, {}, source(c.encode(), b"", i)) for i, (c, v) in enumerate(sequence)]
    latest = latest_per_customer(deliveries)
    assert {d.customer_id: d.version for d in latest} == dict(sequence)
    assert len(latest) == len({c for c, _ in sequence})
