"""The web preference center against the real broker, a stub of the processor's query API, and
(for the browser tests) headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from prefstream.core.dlq import read_headers
from prefstream.core.settings import Settings
from prefstream.core.topics import DLQ, EVENTS, create_topics
from producers.publisher import Publisher
from producers.web import signing
from producers.web.app import create_app
from producers.web.config import WebSettings, load_web_config
from producers.web.service import PreferenceCenter
from schemas.codec import decode_event
from tests.integration.helpers import read_all
from tests.kafka_for_tests import free_port

SECRET = b"integration-test-secret-0123456789abcdef"
CHROMIUM = "/usr/bin/chromium"
PROFILES: dict[str, dict[str, Any]] = {}


class Servers:
    """The stub query API and the web app on one event loop in a thread, on 127.0.0.1."""

    def __init__(self, kafka: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        stub_port, web_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{web_port}"
        self.settings = WebSettings(SECRET, f"http://127.0.0.1:{stub_port}", self.base, dev=True)
        self.publisher = Publisher(kafka, "web")
        self.center = PreferenceCenter(load_web_config(), self.settings, self.publisher)
        self.runners = [web.AppRunner(stub_app()), web.AppRunner(create_app(self.center))]
        self._run(self._start(stub_port, web_port))

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    async def _start(self, *ports: int) -> None:
        for runner, port in zip(self.runners, ports, strict=True):
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()

    def stop(self) -> None:
        for runner in self.runners:
            self._run(runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.publisher.close()


def stub_app() -> web.Application:
    async def profile(request: web.Request) -> web.Response:
        found = PROFILES.get(request.match_info["customer_id"])
        return web.json_response(found) if found else web.json_response({"error": "no such customer"}, status=404)

    app = web.Application()
    app.router.add_get("/profiles/{customer_id}/", profile)
    return app


@pytest.fixture(scope="module")
def servers(kafka: Settings) -> Iterator[Servers]:
    create_topics(kafka)
    running = Servers(kafka)
    yield running
    running.stop()


def link(servers: Servers, customer: str, expires_in: float = 3600, purpose: str = signing.ACCESS) -> str:
    expires = int(datetime.now(UTC).timestamp() + expires_in)
    return f"{servers.base}/p/{signing.sign(SECRET, signing.Claims(purpose, customer, expires))}"


def request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers or {}), timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


def events_of(kafka: Settings, topic: str, customer: str, count: int = 1) -> list[Any]:
    messages = read_all(kafka, topic, lambda found: sum(m.key() == customer.encode() for m in found) >= count, timeout=30)
    return [m for m in messages if m.key() == customer.encode()]


def known_profile(customer: str) -> dict[str, Any]:
    """A profile as the query API renders it: SMS opted in, an email address on file."""
    prov = {"event_id": "e0", "occurred_at": "2026-03-01T12:00:00+00:00", "touchpoint": "POS", "system": "till",
            "actor_type": "AGENT", "actor_id": None, "interaction_id": None, "proof": None}
    return {"customer_id": customer, "version": 1,
            "contact_points": [{"kind": "EMAIL", "value": "ann@example.com", "primary": True, "provenance": prov}],
            "consents": [{"channel": "SMS", "purpose": "marketing", "status": "OPTED_IN", "contact_point": None,
                          "expires_at": None, "provenance": prov}],
            "topics": [], "frequencies": [], "pauses": [], "quiet_hours": None, "attributes": [], "suppressions": [], "reachable": []}


def test_a_form_post_lands_on_the_log_keyed_by_customer_with_its_proof(servers: Servers, kafka: Settings, unique: str) -> None:
    customer = f"web-{unique}"
    PROFILES[customer] = known_profile(customer)
    url = link(servers, customer)
    status, page = request(url)
    assert status == 200 and 'name="consent.SMS" value="on" aria-describedby="consent-SMS-why" checked' in page
    form = {"csrf": csrf_of(page), "consent.PUSH": "on", "email": "ann@example.com", "pause": "keep", "cadence": "DAILY"}
    status, saved = request(url, urllib.parse.urlencode(form).encode(), {"User-Agent": "integration-agent/1"})
    assert status == 200 and "We recorded 3 change(s)." in saved
    [message] = events_of(kafka, EVENTS, customer)
    event = decode_event(message.value())
    assert event["subject"] == customer and event["source"]["touchpoint"] == "WEB"
    assert event["source"]["actor"] == {"type": "CUSTOMER", "id": customer}
    assert event["proof"] | {} == {"method": "CLICKWRAP", "notice_version": "web-notice-2026-03", "locale": "en-GB", "ip": "127.0.0.1",
                                   "user_agent": "integration-agent/1", "recording_ref": None, "legal_basis": "CONSENT"}
    assert [c.get("channel") for c in event["changes"]] == ["SMS", "PUSH", None]
    assert [c.get("status") for c in event["changes"][:2]] == ["OPTED_OUT", "OPTED_IN"]


def test_json_api_double_opt_in_and_refusals(servers: Servers, kafka: Settings, unique: str) -> None:
    customer = f"api-{unique}"
    api = link(servers, customer).replace("/p/", "/api/p/") + "/preferences"
    status, body = request(api)
    current = json.loads(body)
    assert status == 200 and current["preferences"]["consents"] == {} and len(current["questions"]) == 3
    headers = {"Content-Type": "application/json", "X-CSRF-Token": current["csrf_token"]}
    change = json.dumps({"consents": {"EMAIL": True}, "email": "bob@example.com"}).encode()
    assert request(api, change, {"Content-Type": "application/json"})[0] == 403
    status, body = request(api, change, headers)
    answer = json.loads(body)
    assert status == 200 and answer["accepted"] and answer["changes"] == 2, body
    status, page = request(answer["confirmation_link"])
    assert status == 200
    token = answer["confirmation_link"].rsplit("/", 1)[1]
    status, _ = request(answer["confirmation_link"], urllib.parse.urlencode({"csrf": csrf_of(page)}).encode())
    assert status == 200
    pending, confirmed = [decode_event(m.value()) for m in events_of(kafka, EVENTS, customer, 2)]
    assert pending["changes"][1] | {} == {"channel": "EMAIL", "contact_point": "bob@example.com", "purpose": "marketing",
                                          "status": "PENDING", "expires_at": None}
    assert confirmed["changes"][0]["status"] == "OPTED_IN" and confirmed["proof"]["method"] == "DOUBLE_OPT_IN"
    assert request(f"{servers.base}/p/{token}")[0] == 403  # a confirmation link is no access link
    status, body = request(api, json.dumps({"phone": "07700 900123", "consents": {"FAX": True}}).encode(), headers)
    assert status == 400 and {p["path"] for p in json.loads(body)["problems"]} == {"phone", "consent:FAX"}
    [dead] = events_of(kafka, DLQ, customer)
    assert read_headers(dead.headers())["prefstream.reason"] == "invalid_input" and b"07700" in dead.value()


def test_expired_and_tampered_links_get_a_403_page(servers: Servers) -> None:
    status, page = request(link(servers, "cust-x", expires_in=-1))
    assert status == 403 and "This link has expired" in page and 'lang="en"' in page
    good = link(servers, "cust-x")
    status, page = request(good[:-2] + ("AA" if not good.endswith("AA") else "BB"))
    assert status == 403 and "This link is not valid" in page


browser = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} missing (deploy/install-system-deps.sh installs chromium)")


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        yield context
        context.close()


@browser
def test_browser_changes_a_preference_and_sees_the_confirmation(servers: Servers, kafka: Settings, chromium: Any, unique: str) -> None:
    customer = f"browser-{unique}"
    page = chromium.new_page()
    response = page.goto(link(servers, customer))
    assert response.status == 200 and page.locator("h1").inner_text() == "Your communication preferences"
    page.get_by_label("Phone calls").check()
    page.get_by_label("Which products interest you most?").select_option("Home")
    page.get_by_role("button", name="Save my choices").click()
    page.wait_for_selector("text=Your choices are saved")
    assert "We recorded 2 change(s)." in page.content()
    [message] = events_of(kafka, EVENTS, customer)
    event = decode_event(message.value())
    assert event["changes"][0]["channel"] == "PHONE" and "Chrome" in event["proof"]["user_agent"]
    page.close()


@browser
def test_browser_gets_a_403_page_for_expired_tampered_and_csrf_less_posts(servers: Servers, chromium: Any) -> None:
    page = chromium.new_page()
    assert page.goto(link(servers, "cust-y", expires_in=-5)).status == 403
    assert "This link has expired" in page.inner_text("main")
    good = link(servers, "cust-y")
    assert page.goto(good.replace("/p/", "/p/x")).status == 403
    assert "This link is not valid" in page.inner_text("main")
    page.goto(good)
    page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Save my choices").click()
    assert posted.value.status == 403
    page.wait_for_selector("text=This form could not be verified")
    page.close()
