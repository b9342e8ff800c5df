"""Projection keeps exactly the configured sections; the filter decides who receives what; a batch
hands each customer's latest state to the target, erasures included. Expected values are written
out, or computed by the reference in tests/sink_reference.py (never by sinks/)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.domain.fold import fold, profile_time, to_profile
from schemas.codec import decode_profile, encode_profile
from sinks.config import SinkConfig, parse_sinks
from sinks.delivery import Delivery, Source, latest_per_customer, to_delivery
from sinks.projection import passes, project
from tests import factories as f
from tests import sink_reference as reference
from tests.strategies import events

SECTIONS = ["contact_points", "consents", "topics", "frequencies", "pauses", "quiet_hours", "attributes",
            "suppressions", "reachable"]
CHANNELS = ["EMAIL", "SMS", "PUSH", "PHONE", "DIRECT_MAIL", "WHATSAPP"]


def unit(**settings: Any) -> SinkConfig:
    """A business unit with these TOML settings."""
    target = {"type": "file", "path": "/tmp/x.jsonl"}
    return parse_sinks({"business_units": {"bu": {"target": target, **settings}}})["bu"]


def profile_of(history: list[dict]) -> dict:
    state = fold("cust-1", history)
    return decode_profile(encode_profile(to_profile(state, profile_time(state))))


# One customer: an email, a marketing and a service consent (with the IP and user agent of the
# proof), then quiet hours set by SMS five minutes later.
KNOWN = [f.event("cust-1", [f.contact("EMAIL", "ann@example.com", "MAKE_PRIMARY"), f.consent("EMAIL", "OPTED_IN"),
                            f.consent("SMS", "OPTED_IN", purpose="service")], f.at(0), event_id="e1",
                 proof=f.proof(ip="203.0.113.7", user_agent="Mozilla/5.0")),
         f.event("cust-1", [f.quiet_hours("22:00", "07:00", "Europe/Paris")], f.at(5), event_id="e2",
                 touchpoint="SMS", system="sms-gateway")]
NOT_REACHABLE = [{"channel": channel, "allowed": False, "reason": "NO_CONSENT"} for channel in CHANNELS[1:]]
PROOF = {"method": "CLICKWRAP", "notice_version": None, "locale": None, "ip": "203.0.113.7", "user_agent": "Mozilla/5.0",
         "recording_ref": None, "legal_basis": "CONSENT"}


def test_a_known_profile_projected_for_support() -> None:
    projected = project(profile_of(KNOWN), unit(sections=["contact_points", "consents", "quiet_hours", "reachable"],
                                                purposes=["service"]))
    assert projected == {
        "customer_id": "cust-1", "version": 2, "updated_at": "2026-03-01T12:05:00.000Z",
        "contact_points": [{"kind": "EMAIL", "value": "ann@example.com", "primary": True}],
        "consents": [{"channel": "SMS", "purpose": "service", "status": "OPTED_IN", "contact_point": None,
                      "expires_at": None}],
        "quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "Europe/Paris"},
        "reachable": [{"channel": "EMAIL", "allowed": True, "reason": "OK"}, *NOT_REACHABLE],
    }
    assert "203.0.113.7" not in json.dumps(projected)


def test_a_known_profile_projected_with_provenance() -> None:
    projected = project(profile_of(KNOWN), unit(sections=["consents", "quiet_hours"], include_provenance=True))
    by_web = {"event_id": "e1", "occurred_at": "2026-03-01T12:00:00.000Z", "touchpoint": "WEB",
              "system": "web-preference-center", "actor_type": "CUSTOMER", "actor_id": None, "interaction_id": None,
              "proof": PROOF}
    assert projected == {
        "customer_id": "cust-1", "version": 2, "updated_at": "2026-03-01T12:05:00.000Z",
        "consents": [{"channel": "EMAIL", "purpose": "marketing", "status": "OPTED_IN", "contact_point": None,
                      "expires_at": None, "provenance": by_web},
                     {"channel": "SMS", "purpose": "service", "status": "OPTED_IN", "contact_point": None,
                      "expires_at": None, "provenance": by_web}],
        "quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "Europe/Paris",
                        "provenance": {"event_id": "e2", "occurred_at": "2026-03-01T12:05:00.000Z", "touchpoint": "SMS",
                                       "system": "sms-gateway", "actor_type": "CUSTOMER", "actor_id": None,
                                       "interaction_id": None, "proof": None}},
    }


unit_settings = st.fixed_dictionaries(
    {"sections": st.lists(st.sampled_from(SECTIONS), min_size=1, unique=True)},
    optional={"purposes": st.lists(st.sampled_from(["marketing", "service", "loyalty"]), unique=True),
              "include_provenance": st.booleans()})
def filters(profile: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Filters as written in TOML, naming mostly the channels the profile has consents for or is
    reachable on, so that the conditions are often near the edge (same channel, other purpose)."""
    said = [c["channel"] for c in profile["consents"]] + [r["channel"] for r in profile["reachable"] if r["allowed"]]
    channel = st.sampled_from(said or CHANNELS) | st.sampled_from(CHANNELS)
    purpose = st.sampled_from(["marketing", "service"])
    return st.fixed_dictionaries({}, optional={
        "reachable_on": st.lists(channel, unique=True),
        "consent": channel | st.fixed_dictionaries({"channel": channel}, optional={"purpose": purpose})})


@settings(max_examples=150, deadline=None)
@given(history=events(), settings_=unit_settings)
def test_projection_is_what_the_configuration_says(history: list[dict], settings_: dict[str, Any]) -> None:
    profile = profile_of(history)
    assert project(profile, unit(**settings_)) == reference.projection(profile, settings_)


# Consents on two channels with both purposes, reachable by email and SMS: often an opt-in for
# one purpose only, where the filter's purpose decides.
consent_histories = st.lists(
    st.builds(f.consent, st.sampled_from(["EMAIL", "SMS"]), st.sampled_from(["OPTED_IN", "OPTED_OUT"]),
              purpose=st.sampled_from(["marketing", "service"])), min_size=1, max_size=4,
).map(lambda consents: [f.event("cust-1", [f.contact("EMAIL", "a@x.com"), f.contact("PHONE", "+15550001")], event_id="e0"),
                        *(f.event("cust-1", [c], f.at(i + 1), event_id=f"e{i + 1}") for i, c in enumerate(consents))])


@settings(max_examples=200, deadline=None)
@given(history=events() | consent_histories, data=st.data())
def test_filter_is_what_the_configuration_says(history: list[dict], data: st.DataObject) -> None:
    profile = profile_of(history)
    rule = data.draw(filters(profile))
    settings_ = {"sections": ["consents"], "filter": rule}
    assert passes(profile, unit(**settings_).filter) == reference.passes(profile, settings_)


def test_filter_reachable_on_and_consent() -> None:
    opted_in = profile_of([f.event("cust-1", [f.consent("EMAIL", "OPTED_IN")])])
    opted_out = profile_of([f.event("cust-1", [f.consent("EMAIL", "OPTED_OUT")])])

    def passes_filter(profile: dict, **rule: Any) -> bool:
        return passes(profile, unit(sections=["consents"], filter=rule).filter)

    assert passes_filter(opted_in, reachable_on=["EMAIL", "SMS"])
    assert not passes_filter(opted_out, reachable_on=["EMAIL"])
    assert not passes_filter(opted_in, reachable_on=["SMS"])
    assert passes_filter(opted_in, consent="EMAIL")
    assert not passes_filter(opted_in, consent={"channel": "EMAIL", "purpose": "service"})
    assert not passes_filter(opted_in, reachable_on=["SMS"], consent="EMAIL")
    assert passes_filter(opted_out)


def source(key: bytes, value: bytes | None, offset: int = 0) -> Source:
    return Source("customer-profiles", 0, offset, key, value, 0)


def encoded(history: list[dict]) -> bytes:
    state = fold("cust-1", history)
    return encode_profile(to_profile(state, profile_time(state)))


def test_deliveries_upsert_delete_on_filter_and_erase_on_tombstone() -> None:
    config = unit(sections=["consents"], filter={"reachable_on": ["EMAIL"]})
    opted_in = [f.event("cust-1", [f.consent("EMAIL", "OPTED_IN")], event_id="e1")]
    upsert = to_delivery(source(b"cust-1", encoded(opted_in)), config)
    assert json.loads(upsert.body()) == {
        "customer_id": "cust-1", "version": 1, "deleted": False, "erased": False,
        "profile": {"customer_id": "cust-1", "version": 1, "updated_at": "2026-03-01T12:00:00.000Z",
                    "consents": [{"channel": "EMAIL", "purpose": "marketing", "status": "OPTED_IN",
                                  "contact_point": None, "expires_at": None}]}}
    opted_out = [*opted_in, f.event("cust-1", [f.consent("EMAIL", "OPTED_OUT")], f.at(1), event_id="e2")]
    filtered = to_delivery(source(b"cust-1", encoded(opted_out)), config)
    assert json.loads(filtered.body()) == {"customer_id": "cust-1", "version": 2, "deleted": True, "erased": False,
                                           "profile": None}
    erased = to_delivery(source(b"cust-1", None), config)
    assert json.loads(erased.body()) == {"customer_id": "cust-1", "version": None, "deleted": True, "erased": True,
                                         "profile": None}
    # Batched behind the customer's profiles, the erasure is all that is delivered, with no version.
    assert latest_per_customer([upsert, filtered, erased]) == [erased]


def delivery(customer: str, offset: int, erased: bool = False) -> Delivery:
    return Delivery(customer, None if erased else offset, None if erased else {}, source(customer.encode(), b"", offset),
                    erased=erased)


def test_an_erasure_followed_by_the_customers_return_in_one_batch_still_reaches_the_target() -> None:
    """Else the target would never learn of the erasure: a file would keep the lines of the
    profile the customer asked to forget."""
    old, erasure, back, other = delivery("c", 0), delivery("c", 1, erased=True), delivery("c", 2), delivery("d", 3)
    assert latest_per_customer([old, erasure, back, other]) == [erasure, back, other]
    assert latest_per_customer([old, erasure, back, delivery("c", 4)])[:1] == [erasure]


@given(st.lists(st.tuples(st.sampled_from("abc"), st.booleans()), max_size=30))
def test_latest_per_customer_keeps_each_customers_last_after_its_last_erasure(sequence: list[tuple[str, bool]]) -> None:
    deliveries = [delivery(c, offset, erased) for offset, (c, erased) in enumerate(sequence)]
    kept: dict[str, list[int]] = {}
    for customer in {c for c, _ in sequence}:
        offsets = [offset for offset, (c, _) in enumerate(sequence) if c == customer]
        erasures = [offset for offset in offsets if sequence[offset][1]]
        kept[customer] = ([erasures[-1]] if erasures and erasures[-1] != offsets[-1] else []) + [offsets[-1]]
    by_customer: dict[str, list[int]] = {}
    for d in latest_per_customer(deliveries):
        by_customer.setdefault(d.customer_id, []).append(d.source.offset)
    assert by_customer == kept
