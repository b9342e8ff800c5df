"""The webhook's signature and the backoff schedule (pure parts; the HTTP path is an integration test)."""

from __future__ import annotations

import hashlib
import hmac
import random

from hypothesis import given
from hypothesis import strategies as st

from sinks.backoff import backoff
from sinks.config import Retry
from sinks.targets.webhook import sign


def test_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"customer_id":"c1"}'
    assert sign("key", body) == "sha256=" + hmac.new(b"key", body, hashlib.sha256).hexdigest()
    assert sign("key", body) != sign("other", body)
    # RFC 4231 test case 2
    assert sign("Jefe", b"what do ya want for nothing?") == \
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


@given(attempt=st.integers(1, 40), initial=st.floats(0.01, 5), cap=st.floats(0.01, 60), seed=st.integers())
def test_backoff_is_jittered_below_the_capped_exponential(attempt: int, initial: float, cap: float, seed: int) -> None:
    wait = backoff(attempt, Retry(8, initial, cap), random.Random(seed))
    assert 0 <= wait <= min(cap, initial * 2 ** (attempt - 1))


def test_backoff_grows_on_average() -> None:
    rng, retry = random.Random(1), Retry(8, 0.1, 100)
    means = [sum(backoff(a, retry, rng) for _ in range(400)) / 400 for a in (1, 3, 5)]
    assert means[0] < means[1] < means[2]
