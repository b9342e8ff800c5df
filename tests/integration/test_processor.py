"""The stream processor against the real broker: profiles equal the offline fold of the same set."""

from __future__ import annotations

import random
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from prefstream.dlq import read_headers
from prefstream.settings import Settings
from prefstream.topics import DLQ, IDENTITY_LINKS, PROFILES, create_topics
from processors.fold import fold, profile_time, to_profile
from processors.identity_links import RELEASED_BY
from processors.routing import restricts_contact
from schemas.codec import decode_profile, encode_event, encode_profile
from tests import factories as f
from tests.integration.helpers import Worker, publish, read_all, read_latest

TOUCHPOINTS = ["WEB", "POS", "CALL_CENTER", "SOCIAL", "SMS"]


def history(prefix: str, customers: int, per_customer: int, seed: int) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Mixed events for `customers`: some addressed by customer id, some by their email once known."""
    rng = random.Random(seed)
    sent: list[dict[str, Any]] = []
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for n in range(customers):
        customer = f"{prefix}-c{n}"
        email = f"{prefix}.c{n}@example.com"
        events = [f.event(customer, [f.contact("EMAIL", email, "MAKE_PRIMARY")], f.at(0), event_id=f"{customer}-e0")]
        for i in range(1, per_customer):
            change = rng.choice([
                f.consent(rng.choice(["EMAIL", "SMS", "PUSH"]), rng.choice(["OPTED_IN", "OPTED_OUT", "PENDING"])),
                f.topic(rng.choice(["sale", "news"]), rng.random() < 0.5),
                f.pause(rng.choice([None, f.at(days=3)])),
                f.attribute("size", rng.choice(["S", "M", "L"])),
            ])
            subject = f"email:{email}" if rng.random() < 0.3 else customer
            events.append(f.event(subject, [change], f.at(rng.randint(0, 600)), event_id=f"{customer}-e{i}",
                                  touchpoint=rng.choice(TOUCHPOINTS)))
        by_customer[customer] = events
        sent += events
    duplicates = rng.sample(sent, len(sent) // 5)
    sent += duplicates
    rng.shuffle(sent)
    return sent, by_customer


def expected_profiles(by_customer: dict[str, list[dict[str, Any]]]) -> dict[bytes, bytes]:
    """What the offline fold says each customer's latest profile record is."""
    expected = {}
    for customer, events in by_customer.items():
        state = fold(customer, events)
        expected[customer.encode()] = encode_profile(to_profile(state, profile_time(state)))
    return expected


def wait_for_profiles(kafka: Settings, expected: dict[bytes, bytes], timeout: float = 120) -> dict[bytes, Any]:
    def complete(latest: dict[bytes, Any]) -> bool:
        return all(latest.get(key) == value for key, value in expected.items())

    latest = read_latest(kafka, PROFILES, complete, timeout)
    return {key: latest.get(key) for key in expected}


def assert_profiles_equal(actual: dict[bytes, Any], expected: dict[bytes, bytes]) -> None:
    wrong = [key for key in expected if actual.get(key) != expected[key]]
    if wrong:
        key = wrong[0]
        got = decode_profile(actual[key])["version"] if actual.get(key) else None
        raise AssertionError(f"{len(wrong)} of {len(expected)} profiles differ; e.g. {key!r}: version {got} "
                             f"expected {decode_profile(expected[key])['version']}")


@pytest.fixture
def worker_factory(kafka: Settings, tmp_path: Path, unique: str):
    create_topics(kafka)
    workers: list[Worker] = []

    def start(name: str = "w1") -> Worker:
        worker = Worker(kafka, f"proc-{unique}", tmp_path / name, tmp_path / f"{name}.log")
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.kill()


def test_out_of_order_duplicated_multi_touchpoint_events_give_the_offline_profiles(kafka: Settings, worker_factory, unique: str) -> None:
    sent, by_customer = history(unique, customers=40, per_customer=8, seed=1)
    worker = worker_factory()
    worker.wait_ready()
    publish(kafka, sent)
    expected = expected_profiles(by_customer)
    assert_profiles_equal(wait_for_profiles(kafka, expected), expected)
    customer = f"{unique}-c0"
    status, profile = worker.get(f"/profiles/{customer}/")
    assert status == 200 and profile["customer_id"] == customer
    assert profile["version"] == len(by_customer[customer])
    status, body = worker.get(f"/profiles/{customer}/reachable/?at=2026-03-01T12:30:00Z")
    assert status == 200 and set(body["reachable"]) == {"EMAIL", "SMS", "PUSH", "PHONE", "DIRECT_MAIL", "WHATSAPP"}
    assert worker.get(f"/profiles/{unique}-nobody/")[0] == 404
    assert worker.get(f"/profiles/{customer}/?at=yesterday")[0] == 400
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics/", timeout=5) as response:
        metrics = response.read().decode()
    folded = next(line for line in metrics.splitlines() if line.startswith("prefstream_processor_events_folded_total"))
    also_under_identifier = [e for events in by_customer.values() for e in events
                             if e["subject"].startswith("email:") and restricts_contact(e)]
    # >=: the worker also folds what earlier tests left on the shared topic
    assert float(folded.split()[-1]) >= sum(len(events) for events in by_customer.values()) + len(also_under_identifier)
    owner = f"{unique}.c0@example.com"
    assert worker.get(f"/identities/email:{owner}/") == (200, {"customer_id": customer})


def test_poison_records_go_to_the_dlq_and_the_stream_goes_on(kafka: Settings, worker_factory, unique: str) -> None:
    worker = worker_factory()
    worker.wait_ready()
    good = f.event(f"{unique}-ok", [f.consent("EMAIL", "OPTED_IN")], f.at(0))
    invalid = f.event(f"{unique}-bad", [f.contact("PHONE", "12345")], f.at(0))
    valid_bytes = encode_event(good)
    publish(kafka, [], raw=[
        (f"{unique}-junk".encode(), b"not avro at all"),
        (f"{unique}-fp".encode(), valid_bytes[:2] + b"\x00" * 8 + valid_bytes[10:]),
        (f"{unique}-bad".encode(), encode_event(invalid)),
    ])
    publish(kafka, [good])
    expected = expected_profiles({f"{unique}-ok": [good]})
    assert_profiles_equal(wait_for_profiles(kafka, expected), expected)
    def ours(m: Any) -> bool:  # other tests' dead letters share the topic, some without a key
        return unique.encode() in (m.key() or b"")

    mine = read_all(kafka, DLQ, lambda ms: len([m for m in ms if ours(m)]) >= 3)
    reasons = {m.key().decode(): read_headers(m.headers()) for m in mine if ours(m)}
    assert reasons[f"{unique}-junk"]["prefstream.reason"] == "BadMarkerError"
    assert reasons[f"{unique}-fp"]["prefstream.reason"] == "UnknownFingerprintError"
    assert reasons[f"{unique}-bad"]["prefstream.reason"] == "invalid"
    assert "changes[0].value" in reasons[f"{unique}-bad"]["prefstream.error"]
    assert all(h["prefstream.original.topic"] == "preference-events" and int(h["prefstream.original.offset"]) >= 0
               for h in reasons.values())
    assert [m.value() for m in mine if m.key() == f"{unique}-junk".encode()] == [b"not avro at all"]


def test_sms_stop_from_an_unknown_phone_suppresses_that_phone_at_once(kafka: Settings, worker_factory, unique: str) -> None:
    phone = f"+1415{random.Random(unique).randint(1000000, 9999999)}"
    stop = f.event(f"phone:{phone}", [f.consent("SMS", "OPTED_OUT")], f.at(0), touchpoint="SMS", proof=f.proof("KEYWORD"))
    worker = worker_factory()
    worker.wait_ready()
    publish(kafka, [stop])
    key = f"phone:{phone}".encode()
    latest = read_latest(kafka, PROFILES, lambda got: key in got)
    profile = decode_profile(latest[key])
    sms = next(r for r in profile["reachable"] if r["channel"] == "SMS")
    assert (sms["allowed"], sms["reason"]) == (False, "OPTED_OUT")
    # once a customer claims the phone, the parked STOP is folded into that customer too
    customer = f"{unique}-owner"
    claim = f.event(customer, [f.contact("PHONE", phone), f.consent("SMS", "OPTED_IN")], f.at(-60))
    publish(kafka, [claim])
    expected = expected_profiles({customer: [claim, stop]})
    assert_profiles_equal(wait_for_profiles(kafka, expected), expected)


def wait_for_claim(worker: Worker, identifier: str, customer: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (found := worker.get(f"/identities/{identifier}/")) != (200, {"customer_id": customer}):
        assert time.monotonic() < deadline, f"{identifier} not claimed by {customer}: {found}"
        time.sleep(0.2)


def test_a_release_arriving_after_another_customers_claim_leaves_that_claim(kafka: Settings, worker_factory, unique: str) -> None:
    """An email moves from one customer to another; the old owner's drop of it is folded last."""
    email, first, second = f"{unique}@example.com", f"{unique}-first", f"{unique}-second"
    worker = worker_factory()
    worker.wait_ready()
    publish(kafka, [f.event(first, [f.contact("EMAIL", email)], f.at(0))])
    wait_for_claim(worker, f"email:{email}", first)
    taken = f.event(second, [f.contact("EMAIL", email)], f.at(10))
    publish(kafka, [taken])
    wait_for_claim(worker, f"email:{email}", second)
    publish(kafka, [f.event(first, [f.contact("EMAIL", email, "REMOVE")], f.at(5))])
    key = f"email:{email}".encode()
    links = read_all(kafka, IDENTITY_LINKS, lambda ms: [m.value() for m in ms if m.key() == key][-2:] == [None, second.encode()])
    release = next(m for m in links if m.key() == key and m.value() is None)
    assert release.headers() == [(RELEASED_BY, first.encode())]
    # an event addressed to the email now folds into the customer who has it, instead of being parked
    later = f.event(f"email:{email}", [f.consent("EMAIL", "OPTED_OUT")], f.at(20))
    publish(kafka, [later])
    expected = expected_profiles({second: [taken, later]})
    assert_profiles_equal(wait_for_profiles(kafka, expected), expected)
    assert worker.get(f"/identities/email:{email}/") == (200, {"customer_id": second})


def test_a_worker_that_has_folded_nothing_yet_answers_queries(kafka: Settings, worker_factory, unique: str) -> None:
    """Faust routes by its producer's changelog metadata, which the worker must learn at start."""
    worker = worker_factory()
    worker.wait_ready()
    deadline = time.monotonic() + 10
    while (status := worker.get(f"/profiles/{unique}-nobody/")[0]) != 404 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status == 404
    assert worker.get(f"/identities/email:{unique}@example.com/")[0] == 404


def test_erasure_emits_a_tombstone(kafka: Settings, worker_factory, unique: str) -> None:
    customer = f"{unique}-forget"
    worker = worker_factory()
    worker.wait_ready()
    publish(kafka, [f.event(customer, [f.consent("EMAIL", "OPTED_IN")], f.at(0))])
    assert read_latest(kafka, PROFILES, lambda got: got.get(customer.encode()) is not None).get(customer.encode())
    publish(kafka, [f.event(customer, [f.erasure()], f.at(5))])
    messages = read_all(kafka, PROFILES, lambda ms: any(m.key() == customer.encode() and m.value() is None for m in ms))
    assert [m.value() is None for m in messages if m.key() == customer.encode()][-1]
    assert worker.get(f"/profiles/{customer}/")[0] == 404


def test_kill_9_mid_stream_then_restart_gives_the_offline_profiles(kafka: Settings, worker_factory, unique: str) -> None:
    sent, by_customer = history(unique, customers=300, per_customer=10, seed=2)
    worker = worker_factory()
    worker.wait_ready()
    publish(kafka, sent[: len(sent) // 2])
    time.sleep(2)  # mid-stream: some folded, some not
    worker.kill()
    publish(kafka, sent[len(sent) // 2 :])
    restarted = worker_factory()  # same app id and data dir: state from RocksDB and the changelog
    restarted.wait_ready()
    expected = expected_profiles(by_customer)
    assert_profiles_equal(wait_for_profiles(kafka, expected, timeout=180), expected)


def test_two_workers_split_partitions_and_one_takes_over_when_the_other_stops(kafka: Settings, worker_factory, unique: str) -> None:
    first, second = worker_factory("w1"), worker_factory("w2")
    first.wait_ready()
    second.wait_ready()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the first worker's initial assignment is revoked for a shared one
        mine, theirs = (set(w.get("/ready/")[1].get("assigned", {}).get("preference-events", [])) for w in (first, second))
        if mine and theirs and not mine & theirs and len(mine | theirs) == kafka.partitions:
            break
        time.sleep(1)
    assert mine and theirs and not mine & theirs and len(mine | theirs) == kafka.partitions
    sent, by_customer = history(unique, customers=200, per_customer=6, seed=3)
    publish(kafka, sent[: len(sent) // 2])
    time.sleep(3)
    second.stop()
    publish(kafka, sent[len(sent) // 2 :])
    expected = expected_profiles(by_customer)
    assert_profiles_equal(wait_for_profiles(kafka, expected, timeout=180), expected)
    # the survivor serves every customer, including those whose partitions moved to it
    for customer in list(by_customer)[:20]:
        status, profile = first.get(f"/profiles/{customer}/")
        assert status == 200 and profile["version"] == len(by_customer[customer])
