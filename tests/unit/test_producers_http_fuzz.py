"""Thousands of requests at every adapter's HTTP API, in process, with a publisher that validates
and encodes like the real one but needs no broker. Most are valid (each published event is
checked against an oracle of what the input says), some are valid ones mutated into refusals
(each with its DLQ reason), some random bytes. Never a 500; every refusal is on the DLQ."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

from prefstream.core.topics import DLQ
from producers import call_center, sms, social
from producers.publisher import Accepted, Publisher, Rejected
from producers.web import signing
from producers.web.app import create_app as web_app
from producers.web.config import WebSettings, load_web_config
from producers.web.csrf import csrf_token
from producers.web.preferences import Current
from producers.web.service import PreferenceCenter
from schemas.codec import decode_event
from tests import touchpoint_requests as tr

SECRET = b"fuzz-test-secret-0123456789abcdef012345"
EXAMPLES = 1000
MAX_DLQ_HEAD = 64 * 1024  # what a too-large body may leave on the DLQ at most
MIN_PUBLISHED_SHARE = 0.4
MIN_REFUSED_SHARE = 0.1


@dataclass(frozen=True)
class DeadLetter:
    """A DLQ record: its reason, and the raw input (None: an event the publisher refused)."""

    reason: str
    raw: bytes | None


class CheckingPublisher(Publisher):
    """The real validation and encoding (`_prepare`), acknowledged at once; records what it got."""

    def __init__(self) -> None:  # no producer, no thread
        self.source, self.clock, self.max_future_skew = "fuzz", lambda: datetime.now(UTC), timedelta(minutes=5)
        self.published: list[dict[str, Any]] = []  # as a consumer decodes them
        self.dead: list[DeadLetter] = []

    async def publish(self, event: dict[str, Any]) -> Accepted:
        topic, _key, value, _headers, rejection = self._prepare(event)
        if rejection is not None:
            self.dead.append(DeadLetter(rejection.dlq_reason, None))
            raise rejection
        self.published.append(decode_event(value))
        return Accepted(topic, 0, len(self.published), event["event_id"])

    def topic_of(self, event: dict[str, Any]) -> str:
        """The topic the real publisher sends `event` to: its DLQ when it refuses the event."""
        return self._prepare(event)[0]

    async def reject_raw(self, key: bytes | None, raw: bytes, reason: str, error: str) -> None:
        assert reason and error
        self.dead.append(DeadLetter(reason, raw))

    def close(self, timeout: float = 30) -> None:
        pass


class ScriptedCenter(PreferenceCenter):
    """A preference center whose query API answers `shown` for the customer."""

    shown = Current()

    async def current(self, customer_id: str) -> Current:
        return self.shown


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, and the body when it is JSON."""

    status: int
    body: Any


class Running:
    """An app served in process on its own event loop, for synchronous hypothesis tests."""

    def __init__(self, app: web.Application) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = TestClient(TestServer(app, host="127.0.0.1"), loop=self.loop)
        self.loop.run_until_complete(self.client.start_server())

    def post(self, path: str, body: bytes, content_type: str | None, headers: dict[str, str]) -> Answer:
        headers = headers | ({"Content-Type": content_type} if content_type else {})

        async def send() -> Answer:
            response = await self.client.post(path, data=body, headers=headers)
            raw = await response.read()
            return Answer(response.status, json.loads(raw) if response.content_type == "application/json" else None)

        return self.loop.run_until_complete(send())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


# -- random requests -------------------------------------------------------------------------------

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


def random_requests(path: str, names: list[str]) -> st.SearchStrategy[tr.Request]:
    return bodies(names).map(lambda body: tr.Request(path, body[0], body[1], None))


WEB_FIELDS = ["consents", "topics", "cadence", "pause", "quiet_hours", "email", "phone", "answers"]


def random_web_requests(site: tr.WebSite) -> st.SearchStrategy[tr.Request]:
    """Random JSON API posts, or random page forms carrying the page's CSRF token."""
    def request(body: tuple[bytes, str | None], page: bool) -> tr.Request:
        if page:
            return tr.Request(f"/p/{site.token}", body[0] + b"&csrf=" + site.csrf.encode(), tr.FORM, None)
        return tr.Request(f"/api/p/{site.token}/preferences", body[0], body[1], None, headers={"X-CSRF-Token": site.csrf})
    return st.builds(request, bodies(WEB_FIELDS), st.booleans())


# -- the adapters under test -----------------------------------------------------------------------

NOW = datetime.now(UTC).replace(microsecond=0)  # the preference center's clock
CUSTOMER = "cust-fuzz"
TOKEN = signing.sign(SECRET, signing.Claims(signing.ACCESS, CUSTOMER, int(NOW.timestamp()) + 3600))
SITE = tr.WebSite(CUSTOMER, TOKEN, csrf_token(SECRET, TOKEN), NOW)


@dataclass
class Adapter:
    """An adapter's app, the requests to send it (valid or mutated; random) and the status of an accepted one."""

    make: Callable[[CheckingPublisher], tuple[web.Application, ScriptedCenter | None]]
    requests: st.SearchStrategy[tr.Request]
    random: st.SearchStrategy[tr.Request]
    accepted_status: int
    random_statuses: tuple[int, ...] = (200, 202, 400, 413)


def web_center(publisher: CheckingPublisher) -> tuple[web.Application, ScriptedCenter]:
    """The preference center of SITE, its clock stopped at NOW."""
    center = ScriptedCenter(load_web_config(), WebSettings(SECRET, "http://127.0.0.1:9", "http://127.0.0.1", dev=False),
                            publisher, clock=lambda: NOW)
    return web_app(center), center


ADAPTERS = {
    "sms": Adapter(lambda p: (sms.create_app(p, close_publisher=False), None),
                   tr.mixed(tr.sms_json_requests() | tr.sms_form_requests(), tr.refused_sms),
                   random_requests(tr.SMS_PATH, ["from", "text", "message_id", "received_at"]), 200),
    "social": Adapter(lambda p: (social.create_app(p, close_publisher=False), None),
                      tr.mixed(tr.social_requests(), tr.refused_social),
                      random_requests(tr.SOCIAL_PATH, ["platform", "handle", "text", "time", "message_id", "kind"]), 202),
    "call_center": Adapter(lambda p: (call_center.create_app(p, "http://127.0.0.1:9", close_publisher=False), None),
                           tr.mixed(tr.call_center_requests(), tr.refused_call_center),
                           random_requests(tr.CALL_CENTER_PATH, ["agent_id", "interaction_id", "customer", "occurred_at", "proof",
                                                                 "changes", "request_id"]), 202),
    "preference_center": Adapter(web_center, tr.mixed(tr.web_json_requests(SITE) | tr.web_form_requests(SITE), tr.refused_web),
                                 random_web_requests(SITE), 200, random_statuses=(200, 400, 413)),
}


@dataclass
class Service:
    """An adapter running in process, with its publisher, and what was checked so far."""

    running: Running
    publisher: CheckingPublisher
    center: ScriptedCenter | None
    adapter: Adapter
    tally: Counter[str] = field(default_factory=Counter)
    id_of: dict[Any, str] = field(default_factory=dict)  # identity -> event id
    identity_of: dict[str, Any] = field(default_factory=dict)  # event id -> identity


@pytest.fixture(params=sorted(ADAPTERS))
def service(request: pytest.FixtureRequest) -> Iterator[Service]:
    adapter = ADAPTERS[request.param]
    publisher = CheckingPublisher()
    app, center = adapter.make(publisher)
    running = Running(app)
    yield Service(running, publisher, center, adapter)
    running.close()


# -- checks ----------------------------------------------------------------------------------------

def canonical(change: dict[str, Any]) -> str:
    """A change as text, to compare lists of changes whatever their order."""
    return json.dumps(change, sort_keys=True, default=str)


def to_millis(moment: datetime) -> datetime:
    """A time as the Avro timestamp-millis of the log keeps it."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def check_event(service: Service, event: dict[str, Any], expected: tr.Publishes, sent_between: tuple[datetime, datetime]) -> None:
    """The published event says what the input said."""
    assert event["subject"] == expected.subject
    assert event["source"] == expected.source
    assert event["proof"] == expected.proof
    if expected.ordered:
        assert event["changes"] == expected.changes
    else:
        assert sorted(map(canonical, event["changes"])) == sorted(map(canonical, expected.changes))
    earliest, latest = to_millis(sent_between[0]), sent_between[1]
    if expected.recorded_at is None:
        assert earliest <= event["recorded_at"] <= latest
    else:
        assert event["recorded_at"] == to_millis(expected.recorded_at)
    assert event["occurred_at"] == (event["recorded_at"] if expected.occurred_at is None else to_millis(expected.occurred_at))
    identity = expected.identity if expected.identity is not None else object()  # no identity: an id never seen
    assert service.id_of.setdefault(identity, event["event_id"]) == event["event_id"], "the same input got another event id"
    assert service.identity_of.setdefault(event["event_id"], identity) == identity, "another input got this event id"


def check_answer(answer: Answer, wanted: dict[str, Any], event: dict[str, Any] | None) -> None:
    """The JSON answer has the `wanted` fields, and names the published event's id."""
    if answer.body is None:
        assert not wanted
        return
    assert {name: answer.body.get(name) for name in wanted} == wanted
    if event is not None:
        assert answer.body["event_id"] == event["event_id"]


def check_dead_letter(dead: DeadLetter, request: tr.Request, reason: str | None) -> None:
    """The DLQ record of a refusal: its reason, and the input it keeps."""
    assert reason is None or dead.reason == reason
    if dead.raw is None:  # an event the publisher refused: its own encoding is kept
        assert dead.reason in ("invalid_event", "future_time", "unencodable")
    elif dead.reason == "body_too_large":
        assert request.body.startswith(dead.raw) and len(dead.raw) <= MAX_DLQ_HEAD
    else:
        assert dead.raw == request.body


def exchange(service: Service, request: tr.Request) -> None:
    """Send one request and check its outcome, the published event and the DLQ record."""
    publisher = service.publisher
    if service.center is not None:
        service.center.shown = request.shown or Current()
    published_before, dead_before = len(publisher.published), len(publisher.dead)
    started = datetime.now(UTC)
    answer = service.running.post(request.path, request.body, request.content_type, request.headers)
    finished = datetime.now(UTC)
    published, dead = publisher.published[published_before:], publisher.dead[dead_before:]
    outcome = request.outcome
    if isinstance(outcome, tr.Publishes):
        assert answer.status == service.adapter.accepted_status and not dead
        assert len(published) == 1, f"an accepted request publishes one event, not {len(published)}"
        event = published[0]
        check_event(service, event, outcome, (started, finished))
        check_answer(answer, outcome.answer, event)
    elif isinstance(outcome, tr.Quiet):
        assert answer.status == 200 and not published and not dead
        check_answer(answer, outcome.answer, None)
    elif isinstance(outcome, tr.Refused):
        assert answer.status == outcome.status and not published
        assert len(dead) == 1, f"a refusal leaves one DLQ record, not {len(dead)}"
        check_dead_letter(dead[0], request, outcome.reason)
    else:
        unverifiable_csrf = answer.status == 403 and request.path.startswith("/p/") and request.body.count(b"csrf") > 1
        assert answer.status in service.adapter.random_statuses or unverifiable_csrf
        if answer.status in (400, 413):
            assert len(dead) == 1 and not published, f"a refusal leaves one DLQ record, not {len(dead)}"
            check_dead_letter(dead[0], request, None)
        else:
            assert not dead and len(published) <= 1
    service.tally["sent"] += 1
    service.tally[type(outcome).__name__ if outcome is not None else "random"] += 1


def send_all(service: Service, requests: st.SearchStrategy[tr.Request]) -> Counter[str]:
    """Send EXAMPLES requests drawn from `requests`, each checked; how many had each outcome."""
    @settings(max_examples=EXAMPLES, deadline=None)
    @given(request=requests)
    def one(request: tr.Request) -> None:
        exchange(service, request)

    one()
    return service.tally


def test_valid_and_mutated_requests_are_published_as_they_say_or_refused_onto_the_dlq(service: Service) -> None:
    tally = send_all(service, service.adapter.requests)
    assert tally["Publishes"] >= MIN_PUBLISHED_SHARE * tally["sent"], tally  # the accept-and-publish path is exercised
    assert tally["Refused"] >= MIN_REFUSED_SHARE * tally["sent"], tally


def test_random_requests_never_get_a_500_and_every_refusal_is_on_the_dlq(service: Service) -> None:
    tally = send_all(service, service.adapter.random)
    assert tally["random"] == tally["sent"] >= EXAMPLES // 2, tally


def test_the_checking_publisher_refuses_like_the_real_one() -> None:
    publisher = CheckingPublisher()
    app_event = sms.sms_event(sms.parse_inbound({"from": "+14155550100", "text": "STOP", "message_id": "m"}), sms.OPT_OUT,
                              datetime.now(UTC) + timedelta(days=2))
    with pytest.raises(Rejected) as caught:
        asyncio.run(publisher.publish(app_event))
    assert publisher.dead == [DeadLetter("future_time", None)] and "occurred_at" in str(caught.value)
    assert publisher.topic_of(app_event) == DLQ
