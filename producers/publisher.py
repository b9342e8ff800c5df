"""The shared publisher: validate, Avro-encode, produce to `preference-events`, confirm.

A caller hears "accepted" only after the broker acknowledged the event (idempotent producer,
acks=all, murmur2_random). Invalid events go to `preference-events-dlq` with reason headers and
raise `Rejected`; when Kafka does not acknowledge in time, `Unavailable` is raised. Buffering is
bounded: a full local queue is retried until `buffer_timeout`, then it is `Unavailable` too.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from prefstream.core.dlq import dlq_headers
from prefstream.core.kafka import position, producer_config, quiet_logger
from prefstream.core.settings import Settings
from prefstream.core.topics import DLQ, EVENTS
from prefstream.errors import EXIT_UNREACHABLE, PrefstreamError
from producers import metrics
from schemas.codec import CodecError, encode_event
from schemas.validation import Problem, validate_event

REASON_INVALID = "invalid_event"
REASON_FUTURE = "future_time"
REASON_UNENCODABLE = "unencodable"
MAX_DLQ_VALUE = 64 * 1024  # a DLQ record keeps at most this much of the input (Kafka refuses records over 1 MB)

# (topic, key, value, headers) of one record to produce
Record = tuple[str, bytes | None, bytes, list[tuple[str, bytes]] | None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Accepted:
    """Where the broker stored an accepted event."""

    topic: str
    partition: int
    offset: int
    event_id: str


class Rejected(PrefstreamError):
    """The event is invalid; it went to the DLQ. `problems` name fields, never values."""

    def __init__(self, problems: list[Problem], dlq_reason: str) -> None:
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = problems
        self.dlq_reason = dlq_reason


class Unavailable(PrefstreamError):
    """Kafka did not take or acknowledge the record in time (the caller may retry)."""

    exit_code = EXIT_UNREACHABLE


def event_problems(event: Any, now: datetime, max_future_skew: timedelta) -> tuple[list[Problem], str]:
    """The problems of `event` and the DLQ reason they amount to (empty list: valid)."""
    if not isinstance(event, dict):
        return [Problem("$", "not a JSON object")], REASON_INVALID
    try:
        problems = validate_event(event, now, max_future_skew)
    except (TypeError, AttributeError, KeyError, ValueError):
        return [Problem("$", "fields have the wrong types for a PreferenceEvent")], REASON_INVALID
    if any("in the future" in problem.message for problem in problems):
        return problems, REASON_FUTURE
    return problems, REASON_INVALID


def _raw_json(event: Any) -> bytes:
    return json.dumps(event, default=str, sort_keys=True).encode()


class Publisher:
    """One per process: wraps a confluent_kafka.Producer and a thread serving its callbacks."""

    def __init__(
        self,
        settings: Settings,
        source: str,
        *,
        max_future_skew: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] = _utcnow,
        delivery_timeout: float = 15.0,
        buffer_timeout: float = 10.0,
        max_buffered: int = 100_000,
        producer_overrides: dict[str, Any] | None = None,
    ) -> None:
        self.source = source
        self.max_future_skew = max_future_skew
        self.clock = clock
        self.buffer_timeout = buffer_timeout
        self._producer = Producer(producer_config(
            settings,
            logger=quiet_logger(),
            **{"message.timeout.ms": int(delivery_timeout * 1000), "queue.buffering.max.messages": max_buffered,
               **(producer_overrides or {})},
        ))
        self._accepted = metrics.ACCEPTED.labels(source)
        self._unavailable = metrics.UNAVAILABLE.labels(source)
        self._publish_seconds = metrics.PUBLISH_SECONDS.labels(source)
        # outcomes of async publishes, gathered by the callbacks of one poll() and handed to
        # their event loop in one call (not one cross-thread wake-up per event)
        self._settled: list[tuple[asyncio.Future, Any, bool]] = []
        self._settled_lock = threading.Lock()
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name=f"publisher-{source}", daemon=True)
        self._poller.start()

    def _poll_loop(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.1)
            self._hand_over()

    def _hand_over(self) -> None:
        """Give the outcomes gathered since the last call to their event loops, one call per loop."""
        if not self._settled:
            return
        with self._settled_lock:
            settled, self._settled = self._settled, []
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, Any, bool]]] = {}
        for item in settled:
            by_loop.setdefault(item[0].get_loop(), []).append(item)
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, items)
            except RuntimeError:  # the loop is closed: nobody awaits these any more
                pass

    # -- building records ------------------------------------------------------------------

    def _prepare(self, event: Any) -> tuple[str, bytes | None, bytes, list[tuple[str, bytes]] | None, Rejected | None]:
        """(topic, key, value, headers, rejection) of the record this event becomes."""
        now = self.clock()
        problems, reason = event_problems(event, now, self.max_future_skew)
        value: bytes | None = None
        if not problems:
            try:
                value = encode_event(event)
            except CodecError:
                problems, reason = [Problem("$", "does not fit the PreferenceEvent schema (wrong field types)")], REASON_UNENCODABLE
        subject = event.get("subject") if isinstance(event, dict) else None
        key = subject.encode() if isinstance(subject, str) and subject else None
        if not problems:
            assert value is not None
            return EVENTS, key, value, None, None
        rejection = Rejected(problems, reason)
        try:
            raw = encode_event(event)
        except Exception:  # fastavro raises many kinds; what does not encode is kept as JSON
            raw = _raw_json(event)
        raw, error = _bounded(raw, str(rejection))
        return DLQ, key, raw, dlq_headers(reason, error, self.source, now), rejection

    def _outcome(self, error: KafkaError | None, message: Message, event_id: str | None,
                 rejection: Rejected | None, started: float) -> tuple[Any, bool]:
        """(Accepted or the exception, whether it is an exception) of one delivery report; counted."""
        if error is not None:
            self._unavailable.inc()
            return Unavailable(f"Kafka did not acknowledge: {error.str()}"), True
        if rejection is not None:
            metrics.REJECTED.labels(self.source, rejection.dlq_reason).inc()
            return rejection, True
        self._accepted.inc()
        self._publish_seconds.observe(time.monotonic() - started)
        return Accepted(*position(message), event_id or ""), False

    def _resolver(self, future: Future, event_id: str | None, rejection: Rejected | None,
                  started: float) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if future.done():
                return
            outcome, failed = self._outcome(error, message, event_id, rejection, started)
            if failed:
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        return on_delivery

    def _async_resolver(self, future: asyncio.Future, event_id: str | None, rejection: Rejected | None,
                        started: float) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(error: KafkaError | None, message: Message) -> None:
            outcome, failed = self._outcome(error, message, event_id, rejection, started)
            with self._settled_lock:
                self._settled.append((future, outcome, failed))
        return on_delivery

    def _try_produce(self, record: Record, on_delivery: Callable) -> bool:
        """Hand the record to the producer; False when its local queue is full."""
        topic, key, value, headers = record
        try:
            self._producer.produce(topic, value, key,
                                   headers=headers,  # type: ignore[arg-type]  # stub: an invariant list[tuple[str, str | bytes | None]]
                                   on_delivery=on_delivery)
        except BufferError:
            return False
        return True

    def _begin(self, event: Any) -> tuple[Future, Record, Callable]:
        started = time.monotonic()
        topic, key, value, headers, rejection = self._prepare(event)
        future: Future = Future()
        event_id = event.get("event_id") if isinstance(event, dict) else None
        return future, (topic, key, value, headers), self._resolver(future, event_id, rejection, started)

    def _begin_async(self, event: Any) -> tuple[asyncio.Future, Record, Callable]:
        started = time.monotonic()
        topic, key, value, headers, rejection = self._prepare(event)
        future = asyncio.get_running_loop().create_future()
        event_id = event.get("event_id") if isinstance(event, dict) else None
        return future, (topic, key, value, headers), self._async_resolver(future, event_id, rejection, started)

    def _full(self) -> Unavailable:
        self._unavailable.inc()
        return Unavailable(f"the send buffer stayed full for {self.buffer_timeout:.0f} s (Kafka is slow or unreachable)")

    def _produce_blocking(self, record: Record, on_delivery: Callable) -> None:
        deadline = time.monotonic() + self.buffer_timeout
        while not self._try_produce(record, on_delivery):
            if time.monotonic() > deadline:
                raise self._full()
            time.sleep(0.005)

    async def _produce_async(self, record: Record, on_delivery: Callable) -> None:
        deadline = time.monotonic() + self.buffer_timeout
        while not self._try_produce(record, on_delivery):
            if time.monotonic() > deadline:
                raise self._full()
            await asyncio.sleep(0.005)

    def _raw_record(self, key: bytes | None, raw: bytes, reason: str, error: str) -> tuple[Future, Record, Callable]:
        future: Future = Future()

        def on_delivery(failure: KafkaError | None, _message: Message) -> None:
            if failure is not None:
                self._unavailable.inc()
                future.set_exception(Unavailable(f"Kafka did not acknowledge: {failure.str()}"))
            else:
                metrics.REJECTED.labels(self.source, reason).inc()
                future.set_result(None)

        raw, error = _bounded(raw, error)
        return future, (DLQ, key, raw, dlq_headers(reason, error, self.source, self.clock())), on_delivery

    # -- public API ------------------------------------------------------------------------

    def submit(self, event: dict[str, Any]) -> Future:
        """Produce without waiting for the ack; the future gives Accepted or raises Rejected/Unavailable.

        Blocks (backpressure) while the local queue is full, up to `buffer_timeout`.
        """
        future, record, on_delivery = self._begin(event)
        self._produce_blocking(record, on_delivery)
        return future

    def publish_sync(self, event: dict[str, Any], timeout: float = 30) -> Accepted:
        """Publish and wait for the broker's ack (for CLI code); raises Rejected or Unavailable."""
        try:
            return self.submit(event).result(timeout)
        except TimeoutError:
            raise Unavailable(f"no acknowledgement within {timeout:.0f} s") from None

    async def publish(self, event: dict[str, Any]) -> Accepted:
        """Publish and return once the broker acknowledged; raises Rejected or Unavailable."""
        future, record, on_delivery = self._begin_async(event)
        await self._produce_async(record, on_delivery)
        return await future

    async def reject_raw(self, key: bytes | None, raw: bytes, reason: str, error: str) -> None:
        """Send input that never became an event (bad JSON, a bad CSV line) to the DLQ, confirmed."""
        future, record, on_delivery = self._raw_record(key, raw, reason, error)
        await self._produce_async(record, on_delivery)
        await asyncio.wrap_future(future)

    def submit_raw(self, key: bytes | None, raw: bytes, reason: str, error: str) -> Future:
        """Like `reject_raw` for CLI code, without waiting; the future resolves once the DLQ acknowledged."""
        future, record, on_delivery = self._raw_record(key, raw, reason, error)
        self._produce_blocking(record, on_delivery)
        return future

    def close(self, timeout: float = 30) -> None:
        """Deliver what is buffered (up to `timeout`), then stop the callback thread."""
        self._producer.flush(timeout)
        self._closed.set()
        self._poller.join(timeout=5)
        self._hand_over()


def _bounded(raw: bytes, error: str) -> tuple[bytes, str]:
    """The input as kept on the DLQ: its first MAX_DLQ_VALUE bytes, the error saying so when cut."""
    if len(raw) <= MAX_DLQ_VALUE:
        return raw, error
    return raw[:MAX_DLQ_VALUE], f"{error} (input cut to its first {MAX_DLQ_VALUE} of {len(raw)} bytes)"


def _settle(items: list[tuple[asyncio.Future, Any, bool]]) -> None:
    """Resolve awaited publishes in their event loop (skipping any the caller gave up on)."""
    for future, outcome, failed in items:
        if future.done():
            continue
        if failed:
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
