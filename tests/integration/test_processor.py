"""The stream processor against the real broker: profiles equal the offline fold of the same set."""

from __future__ import annotations

import json
import random
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from rocksdict import AccessType, Options, Rdict

from prefstream.core.dlq import read_headers
from prefstream.core.kafka import partition_for
from prefstream.core.settings import Settings
from prefstream.core.topics import DLQ, EVENTS, IDENTITY_LINKS, PROFILES, create_topics
from processors.domain.identity import RELEASED_BY
from processors.domain.state_codec import decode_state
from schemas.codec import decode_profile, encode_event
from tests import factories as f
from tests import reference
from tests.integration.helpers import Worker, committed_offsets, end_offsets, publish, read_all, read_latest, wait_until

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


def expected_profiles(by_customer: dict[str, list[dict[str, Any]]]) -> dict[bytes, dict[str, Any] | None]:
    """What the contract's reference says each customer's latest profile is (decoded; None: erased)."""
    return {customer.encode(): reference.profile(customer, events) for customer, events in by_customer.items()}


def _matches(record: bytes | None, expected: dict[str, Any] | None) -> bool:
    return (record is None) if expected is None else (record is not None and decode_profile(record) == expected)


def wait_for_profiles(kafka: Settings, expected: dict[bytes, dict[str, Any] | None], timeout: float = 120) -> dict[bytes, Any]:
    def complete(latest: dict[bytes, Any]) -> bool:
        return all(key in latest and _matches(latest[key], value) for key, value in expected.items())

    latest = read_latest(kafka, PROFILES, complete, timeout)
    return {key: latest.get(key) for key in expected}


def assert_profiles_equal(actual: dict[bytes, Any], expected: dict[bytes, dict[str, Any] | None]) -> None:
    wrong = [key for key in expected if not _matches(actual.get(key), expected[key])]
    if wrong:
        key = wrong[0]
        got = decode_profile(actual[key])["version"] if actual.get(key) else None
        want = expected[key]["version"] if expected[key] else "a tombstone"
        raise AssertionError(f"{len(wrong)} of {len(expected)} profiles differ; e.g. {key!r}: version {got} expected {want}")


@pytest.fixture
def worker_factory(kafka: Settings, tmp_path: Path, unique: str):
    create_topics(kafka)
    workers: list[Worker] = []

    def start(name: str = "w1", *args: str) -> Worker:
        worker = Worker(kafka, f"proc-{unique}", tmp_path / name, tmp_path / f"{name}.log", *args)
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
    also_under_identifier = [e for events in by_customer.values() for e in events  # restrictive: folded under the email too
                             if e["subject"].startswith("email:") and any(c.get("status") in ("OPTED_OUT", "PENDING")
                                                                          or c.get("subscribed") is False for c in e["changes"])]
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


def total(offsets: dict[int, int], partitions: set[int] | None = None) -> int:
    return sum(offset for partition, offset in offsets.items() if partitions is None or partition in partitions)


def stop_mid_burst(kafka: Settings, worker: Worker, group: str, burst: list[dict[str, Any]], owned: set[int], stop: str) -> None:
    """Publish `burst` while the worker is frozen, let it go, and stop it (`stop`: SIGKILL, or SIGTERM for a graceful
    stop) as soon as it has emitted profiles for part of it; prove, from the group's committed offsets, that records
    of its partitions (`owned`) were still not done at that moment."""
    partitions = kafka.partitions
    worker.freeze()
    publish(kafka, burst)
    during = end_offsets(kafka, EVENTS, partitions)
    emitted = end_offsets(kafka, PROFILES, partitions)
    worker.thaw()
    wait_until(lambda: total(end_offsets(kafka, PROFILES, partitions), owned) > total(emitted, owned), 60,
               "the worker emitting profiles of the burst", interval=0.005)
    if stop == "SIGKILL":
        worker.kill()
    else:
        worker.process.send_signal(signal.SIGTERM)
    # read at once: committed offsets only grow, so these bound what was committed at the signal from above
    at_stop = committed_offsets(kafka, group, EVENTS, partitions)
    assert total(at_stop, owned) < total(during, owned), "every record of the burst was folded before the stop"
    assert worker.process.wait(60) is not None


def test_kill_9_mid_stream_then_restart_gives_the_reference_profiles(kafka: Settings, worker_factory, unique: str) -> None:
    """The worker is killed while it folds a burst, records of it still unfolded; after the restart every
    profile is the reference's."""
    sent, by_customer = history(unique, customers=300, per_customer=10, seed=2)
    first, burst, rest = sent[: len(sent) * 3 // 10], sent[len(sent) * 3 // 10: len(sent) * 8 // 10], sent[len(sent) * 8 // 10:]
    worker = worker_factory()
    worker.wait_ready()
    publish(kafka, first)
    stop_mid_burst(kafka, worker, worker.app_id, burst, set(range(kafka.partitions)), "SIGKILL")
    publish(kafka, rest)
    restarted = worker_factory()  # same app id and data dir: state from RocksDB and the changelog
    restarted.wait_ready()
    expected = expected_profiles(by_customer)
    assert_profiles_equal(wait_for_profiles(kafka, expected, timeout=180), expected)


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_a_worker_stopped_mid_stream_hands_its_partitions_to_the_other(kafka: Settings, worker_factory, unique: str, stop: str) -> None:
    """Two workers split the partitions; one is stopped (gracefully, or by a crash) while it folds a burst,
    with records of its partitions still unfolded; the other takes them over and every profile is the reference's."""
    first, second = worker_factory("w1"), worker_factory("w2")
    first.wait_ready()
    second.wait_ready()
    wait_until(lambda: (mine := first.assigned(EVENTS)) and (theirs := second.assigned(EVENTS)) and not mine & theirs
               and len(mine | theirs) == kafka.partitions, 90, "the partitions split between the two workers", interval=1)
    sent, by_customer = history(unique, customers=200, per_customer=8, seed=3)
    head, burst, rest = sent[: len(sent) // 4], sent[len(sent) // 4: len(sent) * 3 // 4], sent[len(sent) * 3 // 4:]
    publish(kafka, head)
    stop_mid_burst(kafka, second, second.app_id, burst, second.assigned(EVENTS), stop)
    publish(kafka, rest)
    expected = expected_profiles(by_customer)
    assert_profiles_equal(wait_for_profiles(kafka, expected, timeout=180), expected)
    # the survivor serves every customer, including those whose partitions moved to it
    for customer in list(by_customer)[:20]:
        status, profile = first.get(f"/profiles/{customer}/")
        assert status == 200 and profile["version"] == len(by_customer[customer])


def table_value(data_dir: Path, table: str, partition: int, key: str) -> bytes | None:
    """`key`'s value in one partition's RocksDB database of a worker's table, read while the worker runs."""
    path = data_dir / "v1" / "tables" / f"{table}-{partition}.db"
    if not path.exists():
        return None
    db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        return db.get(json.dumps(key).encode())
    finally:
        db.close()


def test_standby_replicas_hold_a_warm_copy_of_the_other_workers_tables(kafka: Settings, worker_factory, unique: str,
                                                                       tmp_path: Path) -> None:
    """With --standbys 1 each worker keeps, in its own RocksDB, the state of the partitions the other folds."""
    first, second = worker_factory("w1", "--standbys", "1"), worker_factory("w2", "--standbys", "1")
    first.wait_ready(180)  # (a new app id folds every record other tests left on the log first)
    second.wait_ready(180)
    wait_until(lambda: (mine := first.assigned(EVENTS)) and (theirs := second.assigned(EVENTS)) and not mine & theirs
               and len(mine | theirs) == kafka.partitions, 180, "the partitions split between the two workers", interval=1)
    owned = {"w1": first.assigned(EVENTS), "w2": second.assigned(EVENTS)}
    customers = [f"{unique}-s{n}" for n in range(48)]
    events = {c: [f.event(c, [f.consent("SMS", "OPTED_IN"), f.topic("news", True)], f.at(n), event_id=f"{c}-e{n}") for n in range(2)]
              for c in customers}
    publish(kafka, [e for mine in events.values() for e in mine])
    expected = expected_profiles(events)
    assert_profiles_equal(wait_for_profiles(kafka, expected), expected)
    for customer in customers:
        partition = partition_for(customer, kafka.partitions)
        active, standby = ("w1", "w2") if partition in owned["w1"] else ("w2", "w1")
        assert partition in owned[active] and partition not in owned[standby]

        def copied(customer: str = customer, partition: int = partition, active: str = active, standby: str = standby) -> bool:
            held = table_value(tmp_path / standby, "profiles", partition, customer)
            return held is not None and held == table_value(tmp_path / active, "profiles", partition, customer)

        wait_until(copied, 60, f"the standby ({standby}) holding partition {partition}'s state")
        assert decode_state(table_value(tmp_path / standby, "profiles", partition, customer)).version == 2
