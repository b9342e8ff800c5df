"""Send the generated traffic to the running adapters at a steady rate and count the outcomes.

HTTP adapters get their real requests (the web preference center through a signed link: GET
the JSON API for the CSRF token, then POST); POS batches are written as CSV export files and
published by the real ingest (`producers.pos_ingest`), as `prefstream pos ingest` does.
"""

from __future__ import annotations

import asyncio
import csv
import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from prefstream.core import ports
from prefstream.core.ports import local_url
from prefstream.local.simulate.traffic import ADAPTERS, Request, Traffic

ACCEPTED, IGNORED, REJECTED, FAILED, UNEXPECTED = "accepted", "ignored", "rejected", "failed", "unexpected"


@dataclass(frozen=True)
class Endpoints:
    """Where the adapters listen, and how to sign a preference-center link (customer id -> token)."""

    web: str = local_url(ports.WEB)
    call_center: str = local_url(ports.CALL_CENTER)
    social: str = local_url(ports.SOCIAL)
    sms: str = local_url(ports.SMS)


@dataclass
class Tally:
    """Outcomes per adapter: accepted (an event), ignored (2xx, nothing to record), rejected (4xx),
    failed (5xx or no answer); `unexpected` counts answers that contradict the request's validity."""

    counts: dict[str, Counter[str]] = field(default_factory=lambda: {name: Counter() for name in ADAPTERS})
    sent: int = 0
    surprises: Counter[str] = field(default_factory=Counter)  # "adapter status: problem paths" (no values)

    def add(self, adapter: str, outcome: str, n: int = 1) -> None:
        self.counts[adapter][outcome] += n

    def total(self, outcome: str) -> int:
        """The count of one outcome over every adapter."""
        return sum(counter[outcome] for counter in self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-able: requests sent and the counts per adapter."""
        return {"requests": self.sent, **{name: dict(counter) for name, counter in self.counts.items()}}


def classify(status: int, valid: bool, published: bool) -> str:
    """The outcome of an HTTP answer to a request the generator marked `valid` or not."""
    if status >= 500:
        return FAILED
    outcome = (ACCEPTED if published else IGNORED) if status < 300 else REJECTED
    return outcome if (outcome == REJECTED) != valid else UNEXPECTED


class Driver:
    """Sends requests from a Traffic stream; one instance per run (holds the HTTP session)."""

    def __init__(self, endpoints: Endpoints, sign: Callable[[str], str], pos_ingest: Callable[[Path], tuple[int, int]],
                 concurrency: int = 32) -> None:
        self.endpoints = endpoints
        self.sign = sign
        self.pos_ingest = pos_ingest
        self.tally = Tally()
        self.gate = asyncio.Semaphore(concurrency)
        self.folder = Path(tempfile.mkdtemp(prefix="prefstream-simulate-"))
        self.session: aiohttp.ClientSession | None = None

    @property
    def _open_session(self) -> aiohttp.ClientSession:
        """The HTTP session of the current `run`; RuntimeError outside one."""
        if self.session is None:
            raise RuntimeError("no HTTP session outside run()")
        return self.session

    async def run(self, traffic: Traffic, rate: float, duration: float, stop: asyncio.Event | None = None) -> Tally:
        """Send `rate` requests per second for `duration` seconds (0: until `stop` is set)."""
        stop = stop or asyncio.Event()
        began = time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as self.session:
            for n, request in enumerate(traffic):
                due = began + n / rate
                if (duration and due - began >= duration) or stop.is_set():
                    break
                delay = due - time.monotonic()
                if delay > 0:
                    try:
                        await asyncio.wait_for(stop.wait(), delay)
                        break
                    except TimeoutError:
                        pass
                await self.gate.acquire()
                task = asyncio.create_task(self._send(request))
                pending.add(task)
                task.add_done_callback(pending.discard)
            if pending:
                await asyncio.wait(pending)
        for path in self.folder.iterdir():
            path.unlink()
        self.folder.rmdir()
        return self.tally

    async def _send(self, request: Request) -> None:
        try:
            self.tally.sent += 1
            if request.adapter == "pos":
                await self._pos(request)
            else:
                outcome = await self._http(request)
                self.tally.add(request.adapter, outcome)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            self.tally.add(request.adapter, FAILED)
            self.tally.surprises[f"{request.adapter} {request.kind}: {type(error).__name__}"] += 1
        finally:
            self.gate.release()

    async def _post(self, url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self._open_session.post(url, data=data, headers={"Content-Type": "application/json", **(headers or {})}) as answer:
            try:
                return answer.status, await answer.json(content_type=None)
            except ValueError:
                return answer.status, {}

    async def _http(self, request: Request) -> str:
        ends = self.endpoints
        if request.adapter == "web":
            return await self._web(request)
        url = {"call-center": f"{ends.call_center}/call-center/events", "social": f"{ends.social}/social/messages",
               "sms": f"{ends.sms}/sms/inbound"}[request.adapter]
        status, answer = await self._post(url, request.body)
        published = status == 202 or (request.adapter == "sms" and status == 200 and bool(answer.get("event_id")))
        return self._note(request, status, answer, classify(status, request.valid, published))

    def _note(self, request: Request, status: int, answer: dict[str, Any], outcome: str) -> str:
        if outcome in (UNEXPECTED, FAILED):
            paths = ",".join(sorted({str(p.get("path")) for p in answer.get("problems", []) if isinstance(p, dict)}))
            self.tally.surprises[f"{request.adapter} {request.kind} {status}: {paths or answer.get('error', '')}"] += 1
        return outcome

    async def _web(self, request: Request) -> str:
        api = f"{self.endpoints.web}/api/p/{self.sign(request.customer)}/preferences"
        async with self._open_session.get(api) as answer:
            if answer.status != 200:
                return self._note(request, answer.status, await answer.json(content_type=None),
                                  FAILED if answer.status >= 500 else UNEXPECTED)
            csrf = (await answer.json())["csrf_token"]
        status, body = await self._post(api, request.body, {"X-CSRF-Token": csrf})
        return self._note(request, status, body, classify(status, request.valid, bool(body.get("accepted"))))

    async def _pos(self, request: Request) -> None:
        path = self.folder / f"export-{self.tally.sent}.csv"
        write_export(path, request.body)
        accepted, rejected = await asyncio.to_thread(self.pos_ingest, path)
        path.unlink()
        self.tally.add("pos", ACCEPTED, accepted)
        self.tally.add("pos", REJECTED, rejected)
        if bool(rejected) == request.valid:
            self.tally.add("pos", UNEXPECTED)


def write_export(path: Path, rows: list[dict[str, str]]) -> None:
    """A POS export CSV file (header row, then the rows) as the stores upload it."""
    from producers.pos import FIELDS

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, restval="")
        writer.writeheader()
        writer.writerows(rows)
