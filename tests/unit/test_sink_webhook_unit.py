"""The webhook's signature and the backoff schedule; the target's requests to a loopback receiver
that checks the documented header with its own HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import json
import random

from hypothesis import given
from hypothesis import strategies as st

from sinks.backoff import backoff
from sinks.config import Retry, parse_sinks
from sinks.delivery import Delivery, Source
from sinks.targets.webhook import WebhookTarget, sign
from tests.integration.webhook_receiver import Receiver


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


SECRET = "unit-secret"
PROFILE = {"customer_id": "cust-1", "version": 3, "updated_at": "2026-03-01T12:02:00.000Z",
           "consents": [{"channel": "EMAIL", "purpose": "marketing", "status": "OPTED_IN", "contact_point": None,
                         "expires_at": None}]}


def webhook(url: str, secret: str) -> WebhookTarget:
    target = {"type": "webhook", "url": url, "secret": secret, "timeout_seconds": 5}
    config = parse_sinks({"business_units": {"crm": {"sections": ["consents"], "target": target,
                                                     "retry": {"max_attempts": 2, "backoff_initial": 0.01}}}})["crm"]
    webhook = WebhookTarget(config)
    webhook.open()
    return webhook


def batch() -> list[Delivery]:
    return [Delivery("cust-1", 3, PROFILE, Source("customer-profiles", 0, 7, b"cust-1", b"", 0)),
            Delivery("cust-2", None, None, Source("customer-profiles", 1, 8, b"cust-2", None, 0), erased=True)]


def test_each_delivery_is_posted_with_the_documented_signature_header() -> None:
    receiver = Receiver(SECRET).start()
    target = webhook(receiver.url, SECRET)
    try:
        assert target.write(batch()) == []
    finally:
        target.close()
        receiver.stop()
    assert receiver.bad_signatures == 0
    assert receiver.received == {
        "cust-1": [{"customer_id": "cust-1", "version": 3, "deleted": False, "erased": False, "profile": PROFILE}],
        "cust-2": [{"customer_id": "cust-2", "version": None, "deleted": True, "erased": True, "profile": None}]}
    headers = {json.loads(body)["customer_id"]: (seen, body) for seen, body in receiver.requests_seen}
    for customer, version in (("cust-1", "3"), ("cust-2", "")):
        seen, body = headers[customer]
        assert seen["x-prefstream-signature"] == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert seen["content-type"] == "application/json"
        assert (seen["x-prefstream-customer"], seen["x-prefstream-version"]) == (customer, version)


def test_a_request_signed_with_another_secret_is_refused_and_given_up_on() -> None:
    """The receiver really checks: a 401 is a permanent rejection, dead-lettered by the runner."""
    receiver = Receiver(SECRET).start()
    target = webhook(receiver.url, "not-the-secret")
    try:
        failures = target.write(batch())
    finally:
        target.close()
        receiver.stop()
    assert sorted((f.delivery.customer_id, f.reason, f.error) for f in failures) == \
        [("cust-1", "webhook_rejected", "HTTP 401"), ("cust-2", "webhook_rejected", "HTTP 401")]
    assert receiver.bad_signatures == 2 and receiver.received == {}
