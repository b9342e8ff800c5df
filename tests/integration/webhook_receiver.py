"""An aiohttp webhook receiver on 127.0.0.1 for the sink tests: checks each request's signature
as docs/sinks.md documents it (header `X-Prefstream-Signature: sha256=<hex HMAC-SHA256 of the body>`,
computed here, not by the code under test), records the documents per customer in arrival order,
and can answer 503, refuse connections (`down()`), or keep failing for chosen customers."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections import defaultdict
from typing import Any

from aiohttp import web

from tests.kafka_for_tests import free_port

SIGNATURE_HEADER = "X-Prefstream-Signature"


def signature(secret: str, body: bytes) -> str:
    """The documented value of the signature header for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Receiver:
    """The webhook target of a test; `received[customer]` lists the documents in arrival order."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/profiles"
        self.status = 200
        self.failing: dict[str, int] = {}  # customer -> the status it always gets
        self.received: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.requests_seen: list[tuple[dict[str, str], bytes]] = []  # each request's headers (lowercase) and body
        self.bad_signatures = 0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests_seen.append(({name.lower(): value for name, value in request.headers.items()}, body))
        if not hmac.compare_digest(request.headers.get(SIGNATURE_HEADER, ""), signature(self.secret, body)):
            self.bad_signatures += 1
            return web.Response(status=401)
        document = json.loads(body)
        if document["customer_id"] in self.failing:
            return web.Response(status=self.failing[document["customer_id"]])
        if self.status != 200:
            return web.Response(status=self.status)
        self.received[document["customer_id"]].append(document)
        return web.Response(status=204)

    async def _up(self) -> None:
        app = web.Application()
        app.router.add_post("/profiles", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def _down(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _call(self, coroutine: Any) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    def start(self) -> Receiver:
        self._thread.start()
        self._call(self._up())
        return self

    def down(self) -> None:
        """Stop listening: connections are refused."""
        self._call(self._down())

    def up(self) -> None:
        """Listen again on the same port."""
        self._call(self._up())

    def stop(self) -> None:
        self._call(self._down())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def latest(self) -> dict[str, dict[str, Any]]:
        """Each customer's last received document."""
        return {customer: documents[-1] for customer, documents in self.received.items() if documents}
