"""The traffic generator: a deterministic (seeded) stream of touchpoint requests. Pure, no I/O.

Each request names the adapter it goes to, what kind of input it is, its body and whether the
adapter should accept it. The mix: web preference-center sessions, agent calls, social messages,
SMS STOP/START/HELP, POS batches whose lines were captured hours ago (late files), duplicates
(resends of an earlier request, which add nothing to the profiles), and a share of malformed
input that the adapters must reject with a 4xx and a DLQ record.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ADAPTERS = ("web", "call-center", "social", "sms", "pos")
WEIGHTS = (30, 20, 15, 25, 10)
CHANNELS = ("EMAIL", "SMS", "PUSH", "PHONE", "DIRECT_MAIL", "WHATSAPP")
WEB_TOPICS = ("offers", "new-arrivals", "events")
SOCIAL_TEXTS = (
    "please stop emailing me", "no more texts please", "unsubscribe me from everything",
    "sign me up for email updates", "please send me your newsletters", "I love sneakers",
    "interested in running gear", "tell me more about sustainability", "great store, thanks!",
)
SMS_WORDS = ("STOP", "START", "Stop.", "yes", "HELP", "STOPALL", "unstop", "thanks!")
POS_CHOICES = ("email=in", "sms=in", "email=out", "sms=out", "topic:sneakers=in", "direct_mail=out", "push=in")


@dataclass(frozen=True)
class Request:
    """One input for one adapter.

    `body` is a JSON-able dict, raw `bytes` (malformed JSON), or for POS a list of export rows.
    `valid` says whether the adapter should accept it (a POS batch: whether every line is valid).
    """

    adapter: str
    kind: str
    customer: str
    body: Any
    valid: bool


@dataclass(frozen=True)
class Customer:
    """A simulated customer and the identifiers they use at the touchpoints."""

    index: int

    @property
    def id(self) -> str:
        return f"sim-{self.index:06d}"

    @property
    def email(self) -> str:
        return f"sim-{self.index:06d}@example.com"

    @property
    def phone(self) -> str:
        return f"+1555{self.index:07d}"

    @property
    def loyalty(self) -> str:
        return f"L{self.index:07d}"

    @property
    def handle(self) -> str:
        return f"sim_{self.index}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Traffic:
    """A seeded stream of requests over `customers` customers; the same seed gives the same stream.

    `clock` gives the times put into bodies (a fixed one makes bodies reproducible too).
    """

    def __init__(self, customers: int, seed: int = 0, malformed: float = 0.05, duplicates: float = 0.05,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        if customers < 1:
            raise ValueError("customers must be at least 1")
        self.customers = customers
        self.malformed = malformed
        self.duplicates = duplicates
        self.clock = clock
        self.random = random.Random(seed)
        self.seed = seed
        self.count = 0
        self.recent: dict[str, Request] = {}

    def __iter__(self) -> Traffic:
        return self

    def __next__(self) -> Request:
        self.count += 1
        roll = self.random.random()
        adapter = self.random.choices(ADAPTERS, WEIGHTS)[0]
        if roll < self.duplicates and adapter in self.recent:
            earlier = self.recent[adapter]
            return Request(adapter, "duplicate", earlier.customer, earlier.body, earlier.valid)
        customer = Customer(self.random.randrange(self.customers))
        bad = roll > 1 - self.malformed
        request = getattr(self, "_" + adapter.replace("-", "_"))(customer, bad)
        if request.valid:
            self.recent[adapter] = request
        return request

    def take(self, n: int) -> list[Request]:
        """The next `n` requests."""
        return [next(self) for _ in range(n)]

    def _id(self, prefix: str) -> str:
        return f"{prefix}-{self.seed}-{self.count}"

    def _web(self, customer: Customer, bad: bool) -> Request:
        r = self.random
        if bad:
            malformed = r.choice((b'{"consents": {"EMAIL": tru', {"consents": {"FAX": True}}, {"cadence": "HOURLY"}))
            return Request("web", "malformed", customer.id, malformed, False)
        body: dict[str, Any] = {"consents": {c: r.random() < 0.6 for c in r.sample(("EMAIL", "SMS", "PUSH"), r.randint(1, 3))}}
        if r.random() < 0.5:
            body["topics"] = {t: r.random() < 0.7 for t in r.sample(WEB_TOPICS, r.randint(1, 2))}
        if r.random() < 0.3:
            body["cadence"] = r.choice(("DAILY", "WEEKLY", "MONTHLY"))
        if r.random() < 0.3:
            body["phone"] = customer.phone
        if body["consents"].get("EMAIL"):
            body["email"] = customer.email  # the center needs an address to opt in to email
        return Request("web", "session", customer.id, body, True)

    def _call_center(self, customer: Customer, bad: bool) -> Request:
        r = self.random
        interaction = self._id("call")
        proof: dict[str, Any] = {"method": "VERBAL", "recording_ref": f"rec-{interaction}"}
        changes: list[dict[str, Any]] = [{"type": "consent", "channel": r.choice(CHANNELS),
                                          "status": r.choice(("OPTED_IN", "OPTED_OUT"))}]
        if r.random() < 0.4:
            changes.append({"type": "contact", "kind": "LOYALTY", "value": customer.loyalty})
        if r.random() < 0.3:
            changes.append({"type": "contact", "kind": "PHONE", "value": customer.phone})
        body = {"agent_id": f"agent-{r.randrange(20)}", "interaction_id": interaction, "customer": customer.id,
                "request_id": "1", "proof": proof, "changes": changes}
        if bad:
            del proof["recording_ref"]  # verbal consent without the recording: refused
            return Request("call-center", "malformed", customer.id, body, False)
        return Request("call-center", "agent-call", customer.id, body, True)

    def _social(self, customer: Customer, bad: bool) -> Request:
        r = self.random
        body = {"platform": "instagram", "handle": "@" + customer.handle, "text": r.choice(SOCIAL_TEXTS),
                "time": _iso(self.clock() - timedelta(seconds=r.randint(1, 600))), "message_id": self._id("dm")}
        if bad:
            body["handle"] = "not a handle"
            return Request("social", "malformed", customer.id, body, False)
        return Request("social", "message", customer.id, body, True)

    def _sms(self, customer: Customer, bad: bool) -> Request:
        r = self.random
        body = {"from": customer.phone, "text": r.choice(SMS_WORDS), "message_id": self._id("sms")}
        if bad:
            body["from"] = customer.phone.removeprefix("+1")  # not E.164
            return Request("sms", "malformed", customer.id, body, False)
        return Request("sms", "keyword", customer.id, body, True)

    def _pos(self, customer: Customer, bad: bool) -> Request:
        r = self.random
        store, till, transaction = f"{r.randrange(1, 40)}", f"{r.randrange(1, 6)}", self._id("tx")
        late = self.clock() - timedelta(hours=r.uniform(1, 72))  # a file exported hours or days ago
        rows = []
        for line in range(r.randint(3, 12)):
            shopper = Customer(r.randrange(self.customers)) if line else customer
            identifier = r.choice(("loyalty_id", "phone", "email"))
            value = {"loyalty_id": shopper.loyalty, "phone": shopper.phone, "email": shopper.email}[identifier]
            rows.append({"store": store, "till": till, "transaction": transaction, "line": str(line + 1),
                         identifier: value, "captured_at": _iso(late + timedelta(seconds=line)),
                         "choices": ";".join(r.sample(POS_CHOICES, r.randint(1, 2))), "notice_version": "store-2025-01"})
        if bad:
            rows[r.randrange(len(rows))]["choices"] = "fax=in"
            return Request("pos", "late-batch-with-bad-line", customer.id, rows, False)
        return Request("pos", "late-batch", customer.id, rows, True)
