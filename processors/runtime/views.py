"""The processor's query API (Faust web views), served by every worker.

Requests for a customer are routed to the worker that owns the key's partition.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import faust
from faust.types import TableT
from faust.web import Request, Response, View
from prometheus_client import generate_latest

from prefstream.core.formats import jsonable, parse_time
from processors.domain.fold import is_erased, reachable, to_profile
from processors.domain.state_codec import decode_state
from processors.runtime.framework import table_recovery
from processors.runtime.query_api import OPENAPI

# Prometheus text format; aiohttp >= 3.12 refuses a charset inside content_type (UTF-8 is the default)
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4"


def register_views(app: faust.App, profiles: TableT, identities: TableT) -> None:
    """Add the profile, reachability, identity, health, readiness and metrics views to `app`."""

    def current_state(customer_id: str) -> Any | None:
        raw = profiles.get(customer_id)
        if raw is None:
            return None
        state = decode_state(raw)
        return None if is_erased(state) else state

    def answer(view: View, request: Request, customer_id: str, render: Callable[[Any, datetime], Any]) -> Response:
        """400 for a bad `at`, 404 for an unknown or erased customer, else `render(state, at)`."""
        try:
            text = request.query.get("at")
            at = parse_time(text) if text else datetime.now(UTC)
        except ValueError:
            return view.json({"error": "at must be an ISO 8601 time"}, status=400)
        state = current_state(customer_id)
        if state is None:
            return view.json({"error": "no such customer"}, status=404)
        return view.json(jsonable(render(state, at)))

    # faust types a routed handler as (view, request, *args, **kwargs); it calls `get` with the path's
    # match_info as keywords, which is how these declare them (hence each `type: ignore[arg-type]`)
    @app.page("/profiles/{customer_id}/")
    class ProfileView(View):
        @app.table_route(table=profiles, match_info="customer_id")  # type: ignore[arg-type]  # see above
        async def get(self, request: Request, customer_id: str) -> Response:
            return answer(self, request, customer_id, to_profile)

    @app.page("/profiles/{customer_id}/reachable/")
    class ReachableView(View):
        @app.table_route(table=profiles, match_info="customer_id")  # type: ignore[arg-type]  # see above
        async def get(self, request: Request, customer_id: str) -> Response:
            return answer(
                self, request, customer_id,
                lambda state, at: {"customer_id": customer_id, "at": at, "reachable": reachable(state, at)},
            )

    @app.page("/identities/{identifier}/")
    class IdentityView(View):
        @app.table_route(table=identities, match_info="identifier")  # type: ignore[arg-type]  # see above
        async def get(self, request: Request, identifier: str) -> Response:
            customer = identities.get(identifier)
            if customer is None:
                return self.json({"error": "no customer claims this identifier"}, status=404)
            return self.json({"customer_id": customer.decode()})

    @app.page("/health/")
    class HealthView(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})

    @app.page("/ready/")
    class ReadyView(View):
        async def get(self, request: Request) -> Response:
            ready = not app.rebalancing and table_recovery(app).completed.is_set()
            assigned: dict[str, list[int]] = {}
            for tp in app.consumer.assignment() if ready else ():
                assigned.setdefault(tp.topic, []).append(tp.partition)
            body = {"ready": ready, "assigned": {topic: sorted(parts) for topic, parts in assigned.items()}}
            return self.json(body, status=200 if ready else 503)

    @app.page("/openapi.json")
    class OpenApiView(View):
        async def get(self, request: Request) -> Response:
            return self.json(OPENAPI)

    @app.page("/metrics/")
    class MetricsView(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(generate_latest(), content_type=METRICS_CONTENT_TYPE)
