"""The simulator's traffic generator: deterministic per seed, the promised mix, and every request
labelled valid or malformed exactly as the real adapters' parsers judge it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from prefstream.local.simulate.driver import ACCEPTED, FAILED, IGNORED, REJECTED, UNEXPECTED, classify
from prefstream.local.simulate.traffic import ADAPTERS, Traffic
from producers import call_center, pos, sms, social
from producers.http import BadInput
from producers.publisher import event_problems
from producers.web.config import load_web_config
from producers.web.preferences import Current, parse_json, plan

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def stream(seed: int, n: int = 2000) -> list:
    return Traffic(200, seed, clock=lambda: NOW).take(n)


def test_same_seed_same_traffic_other_seed_other_traffic() -> None:
    assert stream(7) == stream(7)
    assert stream(7) != stream(8)


def test_the_mix_has_every_adapter_duplicates_malformed_sms_stop_and_start_and_late_pos() -> None:
    requests = stream(1)
    adapters = Counter(r.adapter for r in requests)
    assert set(adapters) == set(ADAPTERS)
    kinds = Counter(r.kind for r in requests)
    assert 0.02 < kinds["duplicate"] / len(requests) < 0.08
    assert 0.02 < sum(not r.valid for r in requests) / len(requests) < 0.08
    words = {sms.normalise(r.body["text"]) for r in requests if r.adapter == "sms"}
    assert {"STOP", "START"} <= words
    late = [row["captured_at"] for r in requests if r.adapter == "pos" for row in r.body]
    assert late and all(datetime.fromisoformat(t) < NOW for t in late)


def test_a_duplicate_repeats_an_earlier_valid_request_of_the_same_adapter() -> None:
    requests = stream(2)
    for index, request in enumerate(requests):
        if request.kind == "duplicate":
            assert request.valid
            assert any(r.body == request.body and r.adapter == request.adapter for r in requests[:index])


def _adapter_accepts(request) -> bool:
    """What the adapter's own parser says of the body (no broker, no HTTP)."""
    body = request.body
    try:
        if request.adapter == "sms":
            sms.parse_inbound(body)
        elif request.adapter == "social":
            social.parse_message(body)
        elif request.adapter == "call-center":
            event = call_center.agent_event(body, NOW)
            return not event_problems(event, NOW, timedelta(minutes=5))[0]
        elif request.adapter == "web":
            if isinstance(body, bytes):
                return False
            desired, problems = parse_json(body, load_web_config())
            return not problems and not plan(Current(), desired, load_web_config(), NOW).problems
        else:
            return all(not pos.record_event(row)[1] for row in body)
    except BadInput:
        return False
    return True


@pytest.mark.parametrize("seed", [0, 3])
def test_valid_and_malformed_labels_match_the_adapters_parsers(seed: int) -> None:
    for request in stream(seed, 600):
        assert _adapter_accepts(request) == request.valid, request


def test_classify_outcomes() -> None:
    assert classify(202, True, True) == ACCEPTED
    assert classify(200, True, False) == IGNORED
    assert classify(400, False, False) == REJECTED
    assert classify(400, True, False) == UNEXPECTED
    assert classify(202, False, True) == UNEXPECTED
    assert classify(503, True, False) == FAILED
