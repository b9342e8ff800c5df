"""The preference center's core, shared by the HTML pages and the JSON API: check links and CSRF
tokens, read current values, turn a request into one event, publish it, issue confirmation links.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from producers.publisher import Accepted, Publisher
from producers.web import signing
from producers.web.config import WebConfig, WebSettings
from producers.web.csrf import csrf_ok, csrf_token
from producers.web.events import ProofContext, web_event
from producers.web.preferences import Current, Desired, Plan, consent, current_from_profile, plan
from producers.web.processor_client import fetch_profile

log = logging.getLogger("prefstream.web")
DAY = 86400
REASON_INVALID_INPUT = "invalid_input"
REASON_MALFORMED_JSON = "malformed_json"
REASON_TOO_LARGE = "body_too_large"
REASON_MALFORMED_FORM = "malformed_form"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Outcome:
    """What a submission did: the changes published (none when nothing differed), and the ack."""

    changes: list[dict[str, Any]]
    accepted: Accepted | None
    confirm_link: str | None


def access_link(config: WebConfig, settings: WebSettings, customer_id: str, now: datetime, days: int | None = None) -> str:
    """A signed preference-center link valid for `days` (default: configured); ValueError for a bad id."""
    expires = int(now.timestamp()) + DAY * (days if days is not None else config.link_days)
    token = signing.sign(settings.secret, signing.Claims(signing.ACCESS, customer_id, expires))
    return f"{settings.public_url}/p/{token}"


class PreferenceCenter:
    """One per process; holds the publisher and the HTTP session to the processor's query API."""

    def __init__(self, config: WebConfig, settings: WebSettings, publisher: Publisher,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.config = config
        self.settings = settings
        self.publisher = publisher
        self.clock = clock
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the HTTP session (inside the running event loop)."""
        self.session = aiohttp.ClientSession()

    async def stop(self) -> None:
        """Close the HTTP session; the publisher is closed by whoever made it."""
        if self.session is not None:
            await self.session.close()

    def link(self, customer_id: str, days: int | None = None) -> str:
        """A signed preference-center link for the customer, valid for `days` (default: configured)."""
        return access_link(self.config, self.settings, customer_id, self.clock(), days)

    def claims(self, token: str, purpose: str = signing.ACCESS) -> signing.Claims:
        """The claims of a link token of `purpose`; LinkError when tampered with or expired."""
        return signing.verify(self.settings.secret, token, purpose, self.clock().timestamp())

    def csrf(self, token: str) -> str:
        """The CSRF token of forms served under a link token."""
        return csrf_token(self.settings.secret, token)

    def csrf_ok(self, token: str, submitted: str | None) -> bool:
        """Whether a submitted CSRF token belongs to this link token."""
        return csrf_ok(self.settings.secret, token, submitted)

    async def current(self, customer_id: str) -> Current:
        """The customer's current values (defaults when unknown); ProcessorUnavailable when unreadable."""
        assert self.session is not None, "start() first"
        profile = await fetch_profile(self.session, self.settings.processor_url, customer_id)
        return current_from_profile(profile, self.clock())

    def plan(self, current: Current, desired: Desired) -> Plan:
        """The changes a request makes against the current values."""
        return plan(current, desired, self.config, self.clock())

    async def reject(self, customer_id: str, raw: bytes, error: str, reason: str = REASON_INVALID_INPUT) -> None:
        """Record input refused as invalid on the DLQ (the sender is told why by the caller)."""
        await self.publisher.reject_raw(customer_id.encode(), raw, reason, error)

    def proof(self, ip: str | None, user_agent: str | None) -> ProofContext:
        """The proof context of a request: the notice version and locale shown, IP, user agent."""
        return ProofContext(self.config.notice_version, self.config.locale, ip, user_agent)

    async def publish(self, customer_id: str, changes: list[dict[str, Any]], proof: ProofContext, *,
                      method: str = "CLICKWRAP", confirm_email: str | None = None) -> Outcome:
        """Publish one event with `changes` (nothing when empty); Rejected/Unavailable from the publisher."""
        if not changes:
            return Outcome([], None, None)
        event = web_event(customer_id, changes, proof, self.clock(), method=method)
        accepted = await self.publisher.publish(event)
        link = self._confirm_link(customer_id, confirm_email) if confirm_email else None
        return Outcome(changes, accepted, link)

    def _confirm_link(self, customer_id: str, email: str) -> str:
        expires = int(self.clock().timestamp()) + DAY * self.config.confirm_days
        token = signing.sign(self.settings.secret, signing.Claims(signing.CONFIRM_EMAIL, customer_id, expires, email))
        log.info("email confirmation link issued")
        return f"{self.settings.public_url}/confirm/{token}"

    async def confirm_email(self, claims: signing.Claims, proof: ProofContext) -> Outcome:
        """The double opt-in: EMAIL consent OPTED_IN for the confirmed address (proof DOUBLE_OPT_IN)."""
        return await self.publish(claims.customer_id, [consent("EMAIL", "OPTED_IN", claims.extra)], proof, method="DOUBLE_OPT_IN")
