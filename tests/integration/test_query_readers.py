"""The services that read current state from the processor's query API, against a real worker on the
real broker: the call-center profile read, the store-staff summary, and the web preference center."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from prefstream.core.settings import Settings
from prefstream.core.topics import create_topics
from producers import call_center
from producers.publisher import Publisher
from producers.web import signing
from producers.web.app import create_app as web_app
from producers.web.config import WebSettings, load_web_config
from producers.web.service import PreferenceCenter
from tests import factories as f
from tests.integration.helpers import Worker, publish, wait_until

SECRET = b"query-readers-test-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def worker(kafka: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    create_topics(kafka)
    home = tmp_path_factory.mktemp("readers")
    running = Worker(kafka, f"readers-{time.monotonic_ns()}", home / "state", home / "worker.log")
    running.wait_ready()
    yield running
    running.kill()


@pytest.fixture(scope="module")
def publisher(kafka: Settings) -> Iterator[Publisher]:
    made = Publisher(kafka, "readers-test")
    yield made
    made.close()


def folded(worker: Worker, customer: str, version: int) -> dict[str, Any]:
    """The worker's profile of `customer` once it has folded `version` events."""
    wait_until(lambda: (found := worker.get(f"/profiles/{customer}/"))[0] == 200 and found[1]["version"] >= version, 90,
               f"{customer} folded up to version {version}")
    return worker.get(f"/profiles/{customer}/")[1]


async def get(app: Any, path: str) -> tuple[int, Any]:
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get(path)
        return response.status, await response.json()


def test_call_center_profile_and_store_summary_come_from_the_worker(worker: Worker, publisher: Publisher, kafka: Settings,
                                                                   unique: str) -> None:
    customer, loyalty = f"readers-{unique}", f"L{unique}"
    publish(kafka, [f.event(customer, [f.contact("LOYALTY", loyalty), f.consent("SMS", "OPTED_IN")], f.at(0), event_id=f"{unique}-1",
                            proof=f.proof(ip="203.0.113.9", user_agent="till/1")),
                    f.event(customer, [f.suppression("EMAIL")], f.at(1), event_id=f"{unique}-2", touchpoint="POS")])
    folded(worker, customer, 2)
    wait_until(lambda: worker.get(f"/identities/loyalty:{loyalty}/")[0] == 200, 60, "the loyalty id claimed")
    app = call_center.create_app(publisher, f"http://127.0.0.1:{worker.port}", close_publisher=False)
    status, profile = asyncio.run(get(app, f"/call-center/profiles/{customer}"))
    assert status == 200 and profile["customer_id"] == customer and profile["version"] == 2
    assert [(c["channel"], c["status"]) for c in profile["consents"]] == [("SMS", "OPTED_IN")]
    app = call_center.create_app(publisher, f"http://127.0.0.1:{worker.port}", close_publisher=False)
    status, summary = asyncio.run(get(app, f"/stores/loyalty/{loyalty}/summary"))
    assert status == 200 and summary["customer_id"] == customer and summary["version"] == 2
    assert {r["channel"]: r["reason"] for r in summary["reachable"]}["SMS"] == "OK"
    assert {r["channel"]: r["reason"] for r in summary["reachable"]}["EMAIL"] == "SUPPRESSED"
    assert [s["channel"] for s in summary["suppressions"]] == ["EMAIL"]
    app = call_center.create_app(publisher, f"http://127.0.0.1:{worker.port}", close_publisher=False)
    assert asyncio.run(get(app, f"/stores/loyalty/L{unique}x/summary"))[0] == 404


def test_the_preference_center_shows_what_the_worker_folded_and_its_change_comes_back(
        worker: Worker, publisher: Publisher, kafka: Settings, unique: str) -> None:
    customer = f"center-{unique}"
    publish(kafka, [f.event(customer, [f.consent("SMS", "OPTED_IN"), f.topic("new-arrivals", True)], f.at(0), event_id=f"{unique}-a")])
    folded(worker, customer, 1)
    center = PreferenceCenter(load_web_config(), WebSettings(SECRET, f"http://127.0.0.1:{worker.port}", "http://127.0.0.1", dev=True),
                              publisher)
    token = signing.sign(SECRET, signing.Claims(signing.ACCESS, customer, int(datetime.now(UTC).timestamp()) + 3600))

    async def round_trip() -> tuple[dict[str, Any], int, dict[str, Any]]:
        async with TestClient(TestServer(web_app(center), host="127.0.0.1")) as client:
            shown = await (await client.get(f"/api/p/{token}/preferences")).json()
            posted = await client.post(f"/api/p/{token}/preferences", data=json.dumps({"consents": {"SMS": False, "PUSH": True}}),
                                       headers={"Content-Type": "application/json", "X-CSRF-Token": shown["csrf_token"]})
            return shown, posted.status, await posted.json()

    shown, status, answer = asyncio.run(round_trip())
    assert shown["preferences"]["consents"] == {"SMS": "OPTED_IN"}
    assert shown["preferences"]["topics"] == {"new-arrivals": True}
    assert status == 200 and answer["accepted"] is True and answer["changes"] == 2
    profile = folded(worker, customer, 2)
    assert {(c["channel"], c["status"]) for c in profile["consents"]} == {("SMS", "OPTED_OUT"), ("PUSH", "OPTED_IN")}
    assert all(c["provenance"]["touchpoint"] == "WEB" for c in profile["consents"])
