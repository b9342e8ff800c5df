"""`prefstream rebuild` and `verify` against a real processor worker on the real broker."""

from __future__ import annotations

from pathlib import Path

from prefstream.core.settings import Settings
from prefstream.core.topics import PROFILES, create_topics
from processors.audit.logread import LogReader, Topics
from processors.audit.queries import verify
from schemas.codec import decode_profile, encode_profile
from tests import reference
from tests.integration.helpers import publish
from tests.integration.test_audit import cli, mixed_history, produce
from tests.kafka_for_tests import free_port


def test_rebuild_runs_the_real_processor_then_verify_finds_no_difference_then_exactly_the_overwritten_customer(
        kafka: Settings, unique: str, tmp_path: Path) -> None:
    create_topics(kafka)
    sent, by_customer = mixed_history(unique, customers=20, per_customer=6, seed=11)
    publish(kafka, sent)
    done = cli(kafka, "rebuild", "--app-id", f"rebuild-{unique}", "--web-port", str(free_port()),
               "--data-dir", str(tmp_path / "state"), "--timeout", "120")
    assert done.returncode == 0, done.stderr
    assert "caught up" in done.stdout and "was stopped" in done.stdout
    with LogReader(kafka) as reader:  # the shared topics hold other tests' data too: judge only this test's keys
        result = verify(reader, Topics())
        latest = reader.latest(PROFILES)
    mine = [d for d in result.differences if unique in d.key]
    assert mine == [], [(d.key, d.kind) for d in mine]
    # what the rebuilt worker emitted is what the contract's reference says, for every customer of this test
    assert {c: decode_profile(latest[c]) if latest.get(c) else None for c in by_customer} == \
        {c: reference.profile(c, events) for c, events in by_customer.items()}

    victim = f"{unique}-c4"  # the worker is stopped: overwrite its profile with an older, wrong one
    produce(kafka, PROFILES, [(victim, encode_profile(reference.profile(victim, by_customer[victim][:2])))])
    with LogReader(kafka) as reader:
        result = verify(reader, Topics())
    mine = [d for d in result.differences if unique in d.key]
    assert [(d.key, d.kind) for d in mine] == [(victim, "different")]
    assert decode_profile(mine[0].actual)["version"] == 2
    assert decode_profile(mine[0].expected)["version"] == len(by_customer[victim])
