"""Webhook target: an HTTP POST of each delivery's JSON document, signed with HMAC-SHA256.

Headers: `X-Prefstream-Signature: sha256=<hex HMAC of the body>`, `X-Prefstream-Customer`,
`X-Prefstream-Version` (empty for an erasure). A 2xx acknowledges. Timeouts, connection errors,
5xx, 408 and 429 are retried with exponential backoff and full jitter up to the retry budget;
any other status is a permanent rejection. Customers are delivered concurrently, one request
at a time per customer, so a customer's order is kept. `interrupt()` (from the runner's thread)
cancels a write in progress, retries and requests in flight included; the write then raises
Interrupted.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
from dataclasses import dataclass

import aiohttp

from prefstream.errors import PrefstreamError
from sinks.backoff import backoff
from sinks.config import SinkConfig
from sinks.delivery import Delivery
from sinks.metrics import RETRIED
from sinks.targets.base import Failure

SIGNATURE_HEADER = "X-Prefstream-Signature"
RETRYABLE_STATUS = frozenset({408, 429})


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Interrupted(PrefstreamError):
    """The write was interrupted (a rebalance or a shutdown); its batch is not acknowledged."""


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    retryable: bool
    error: str


class WebhookTarget:
    """POSTs each delivery to one URL; gives up after the retry budget (the runner dead-letters it)."""

    name = "webhook"

    def __init__(self, config: SinkConfig) -> None:
        target = config.target
        self.url: str = target["url"]
        self.secret: str = target["secret"]
        self.timeout = aiohttp.ClientTimeout(total=target["timeout_seconds"])
        self.concurrency: int = target["concurrency"]
        self.retry = config.retry
        self.business_unit = config.name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self._lock = threading.Lock()
        self._task: asyncio.Task[list[Failure]] | None = None
        self._interrupted = False

    def open(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._session = self._loop.run_until_complete(self._new_session())

    async def _new_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(timeout=self.timeout, connector=aiohttp.TCPConnector(limit=self.concurrency))

    def write(self, deliveries: list[Delivery]) -> list[Failure]:
        assert self._loop is not None, "open() first"
        with self._lock:
            if self._interrupted:
                self._interrupted = False
                raise Interrupted("interrupted before it started")
            self._task = task = self._loop.create_task(self._write(deliveries))
        try:
            return self._loop.run_until_complete(task)
        except asyncio.CancelledError:
            raise Interrupted(f"interrupted with {len(deliveries)} deliveries in the batch") from None
        finally:
            with self._lock:
                self._task, self._interrupted = None, False

    def interrupt(self) -> None:
        """Cancel the write in progress, or the next one if it has not started yet."""
        with self._lock:
            if self._task is None:
                self._interrupted = True
            elif self._loop is not None:
                self._loop.call_soon_threadsafe(self._task.cancel)

    async def _write(self, deliveries: list[Delivery]) -> list[Failure]:
        by_customer: dict[str, list[Delivery]] = {}
        for delivery in deliveries:
            by_customer.setdefault(delivery.customer_id, []).append(delivery)
        gate = asyncio.Semaphore(self.concurrency)
        results = await asyncio.gather(*(self._customer(queue, gate) for queue in by_customer.values()))
        return [failure for failures in results for failure in failures]

    async def _customer(self, queue: list[Delivery], gate: asyncio.Semaphore) -> list[Failure]:
        async with gate:
            return [failure for delivery in queue if (failure := await self._deliver(delivery)) is not None]

    async def _deliver(self, delivery: Delivery) -> Failure | None:
        body = delivery.body()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self.secret, body),
                   "X-Prefstream-Customer": delivery.customer_id,
                   "X-Prefstream-Version": "" if delivery.version is None else str(delivery.version)}
        for attempt in range(1, self.retry.max_attempts + 1):
            outcome = await self._post(body, headers)
            if outcome.ok:
                return None
            if not outcome.retryable:
                return Failure(delivery, "webhook_rejected", outcome.error)
            if attempt < self.retry.max_attempts:
                RETRIED.labels(self.business_unit).inc()
                await asyncio.sleep(backoff(attempt, self.retry))
        return Failure(delivery, "retries_exhausted", f"{self.retry.max_attempts} attempts, last: {outcome.error}")

    async def _post(self, body: bytes, headers: dict[str, str]) -> _Outcome:
        assert self._session is not None
        try:
            async with self._session.post(self.url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            return _Outcome(False, True, f"{type(error).__name__}")
        if 200 <= status < 300:
            return _Outcome(True, False, "")
        return _Outcome(False, status >= 500 or status in RETRYABLE_STATUS, f"HTTP {status}")

    def close(self) -> None:
        if self._loop is not None:
            if self._session is not None:
                self._loop.run_until_complete(self._session.close())
            self._loop.close()
            self._loop = self._session = None
