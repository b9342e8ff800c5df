"""Thousands of random requests at every adapter's HTTP API, in process, with a publisher that
validates and encodes like the real one but needs no broker: never a 500, never an uncaught error."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefstream.topics import DLQ
from producers import call_center, sms, social
from producers.publisher import Accepted, Publisher
from producers.web import signing
from producers.web.app import create_app as web_app
from producers.web.config import WebSettings, load_web_config
from producers.web.csrf import csrf_token
from producers.web.preferences import Current
from producers.web.service import PreferenceCenter

SECRET = b"fuzz-test-secret-0123456789abcdef012345"
EXAMPLES = 1000


class CheckingPublisher(Publisher):
    """The real validation and encoding (`_prepare`), acknowledged at once; records what it got."""

    def __init__(self) -> None:  # no producer, no thread
        self.source, self.clock, self.max_future_skew = "fuzz", lambda: datetime.now(UTC), timedelta(minutes=5)
        self.published: list[dict[str, Any]] = []
        self.dead: list[str] = []

    async def publish(self, event: dict[str, Any]) -> Accepted:
        topic, _key, _value, _headers, rejection = self._prepare(event)
        if rejection is not None:
            self.dead.append(rejection.dlq_reason)
            raise rejection
        self.published.append(event)
        return Accepted(topic, 0, len(self.published), event["event_id"])

    async def reject_raw(self, key: bytes | None, raw: bytes, reason: str, error: str) -> None:
        assert reason and error
        self.dead.append(reason)

    def close(self, timeout: float = 30) -> None:
        pass


class NewCustomers(PreferenceCenter):
    """A preference center whose query API knows no one (every customer sees the defaults)."""

    async def current(self, customer_id: str) -> Current:
        return Current()


class Running:
    """An app served in process on its own event loop, for synchronous hypothesis tests."""

    def __init__(self, app: web.Application) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = TestClient(TestServer(app, host="127.0.0.1"), loop=self.loop)
        self.loop.run_until_complete(self.client.start_server())

    def post(self, path: str, body: bytes, content_type: str | None, headers: dict[str, str] | None = None) -> int:
        headers = dict(headers or {}) | ({"Content-Type": content_type} if content_type else {})

        async def send() -> int:
            response = await self.client.post(path, data=body, headers=headers)
            await response.read()
            return response.status

        return self.loop.run_until_complete(send())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


def fields(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30) | \
        st.sampled_from(["+14155550100", "STOP", "start", "2026-03-01T10:00:00Z", "2099-01-01T00:00:00Z", "EMAIL", "FAX"])
    value = st.recursive(leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                         max_leaves=8)
    return st.dictionaries(st.sampled_from(names) | st.text(max_size=8), value, max_size=len(names) + 1)


def bodies(names: list[str]) -> st.SearchStrategy[tuple[bytes, str | None]]:
    """A raw body and its content type: JSON objects of (mostly) the right names, forms, any bytes."""
    as_json = fields(names).map(lambda body: (json.dumps(body).encode(), "application/json"))
    as_form = st.dictionaries(st.sampled_from(["From", "Body", "MessageSid", "To", *names]) | st.text(max_size=6),
                              st.text(max_size=20), max_size=6).map(
        lambda form: ("&".join(f"{k}={v}" for k, v in form.items()).encode(errors="surrogatepass"), sms.FORM))
    raw = st.tuples(st.binary(max_size=200), st.sampled_from([None, "application/json", sms.FORM, "text/plain"]))
    return st.one_of(as_json, as_form, raw)


ADAPTERS = {
    "sms": (lambda p: sms.create_app(p, close_publisher=False), "/sms/inbound", ["from", "text", "message_id", "received_at"]),
    "social": (lambda p: social.create_app(p, close_publisher=False), "/social/messages",
               ["platform", "handle", "text", "time", "message_id", "kind"]),
    "call_center": (lambda p: call_center.create_app(p, "http://127.0.0.1:9", close_publisher=False), "/call-center/events",
                    ["agent_id", "interaction_id", "customer", "occurred_at", "proof", "changes", "request_id"]),
}


@pytest.fixture(scope="module", params=sorted(ADAPTERS))
def adapter(request: pytest.FixtureRequest) -> Iterator[tuple[Running, CheckingPublisher, str, list[str]]]:
    make, path, names = ADAPTERS[request.param]
    publisher = CheckingPublisher()
    running = Running(make(publisher))
    yield running, publisher, path, names
    running.close()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_requests_never_get_a_500(adapter: tuple[Running, CheckingPublisher, str, list[str]], data: st.DataObject) -> None:
    running, publisher, path, names = adapter
    body, content_type = data.draw(bodies(names))
    dead_before = len(publisher.dead)
    status = running.post(path, body, content_type)
    assert status in (200, 202, 400, 413)
    if status >= 400:
        assert len(publisher.dead) == dead_before + 1  # every refusal is on the DLQ


@pytest.fixture(scope="module")
def preference_center() -> Iterator[tuple[Running, CheckingPublisher, str, dict[str, str]]]:
    publisher = CheckingPublisher()
    center = NewCustomers(load_web_config(), WebSettings(SECRET, "http://127.0.0.1:9", "http://127.0.0.1", dev=False), publisher)
    token = signing.sign(SECRET, signing.Claims(signing.ACCESS, "cust-fuzz", int(time.time()) + 3600))
    running = Running(web_app(center))
    yield running, publisher, token, {"X-CSRF-Token": csrf_token(SECRET, token)}
    running.close()


WEB_FIELDS = ["consents", "topics", "cadence", "pause", "quiet_hours", "email", "phone", "answers"]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies(WEB_FIELDS), page=st.booleans())
def test_random_preference_center_posts_never_get_a_500(preference_center: tuple[Running, CheckingPublisher, str, dict[str, str]],
                                                        body: tuple[bytes, str | None], page: bool) -> None:
    running, publisher, token, headers = preference_center
    raw, content_type = body
    if page:  # the form of the page, with its CSRF token
        raw, content_type = raw + b"&csrf=" + headers["X-CSRF-Token"].encode(), sms.FORM
    dead_before = len(publisher.dead)
    status = running.post(f"/p/{token}" if page else f"/api/p/{token}/preferences", raw, content_type, None if page else headers)
    assert status in (200, 400, 413) or (status == 403 and page and b"csrf" in body[0])  # a second csrf field: unverifiable
    if status in (400, 413):
        assert len(publisher.dead) == dead_before + 1


def test_the_checking_publisher_refuses_like_the_real_one() -> None:
    publisher = CheckingPublisher()
    app_event = sms.sms_event(sms.parse_inbound({"from": "+14155550100", "text": "STOP", "message_id": "m"}), sms.OPT_OUT,
                              datetime.now(UTC) + timedelta(days=2))
    with pytest.raises(Exception) as caught:
        asyncio.run(publisher.publish(app_event))
    assert publisher.dead == ["future_time"] and "occurred_at" in str(caught.value)
    assert publisher._prepare(app_event)[0] == DLQ
