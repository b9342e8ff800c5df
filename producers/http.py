"""What every touchpoint HTTP service shares: bounded JSON bodies, problem responses that also
land on the DLQ, publishing with the broker's ack, `/openapi.json` and `/metrics`.

Status codes: 400 invalid input (body lists every problem: field path and message), 413 body
too large, 202 accepted after the broker's ack, 503 Kafka did not acknowledge in time.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from prefstream.errors import PrefstreamError
from producers.publisher import Publisher, Rejected, Unavailable
from schemas.validation import Problem

MAX_BODY = 64 * 1024
PUBLISHER: web.AppKey[Publisher] = web.AppKey("publisher", Publisher)
RAW: web.RequestKey[bytes] = web.RequestKey("raw", bytes)
DLQ_KEY: web.RequestKey[bytes] = web.RequestKey("dlq_key", bytes)


class BadInput(PrefstreamError):
    """Input that cannot become an event: the HTTP status, the DLQ reason and every problem."""

    def __init__(self, status: int, reason: str, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(problem) for problem in problems))
        self.status = status
        self.reason = reason
        self.problems = problems


def problems_json(problems: list[Problem]) -> list[dict[str, str]]:
    """Problems as JSON objects."""
    return [{"path": problem.path, "message": problem.message} for problem in problems]


def error_response(status: int, error: str, problems: Sequence[Problem] = ()) -> web.Response:
    """A JSON error: a one-line message, and the problems when there are any."""
    body: dict[str, Any] = {"error": error}
    if problems:
        body["problems"] = problems_json(list(problems))
    return web.json_response(body, status=status)


async def read_body(request: web.Request, max_bytes: int = MAX_BODY) -> bytes:
    """The raw body, at most `max_bytes`; a larger one is BadInput(413) with its head kept for the DLQ."""
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        request[RAW] = raw[:max_bytes]
        raise BadInput(413, "body_too_large", [Problem("$", f"body larger than {max_bytes} bytes")])
    request[RAW] = raw
    return raw


def parse_object(raw: bytes) -> dict[str, Any]:
    """A JSON object from bytes, or BadInput(400)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadInput(400, "malformed_json", [Problem("$", "body is not valid JSON")]) from None
    if not isinstance(body, dict):
        raise BadInput(400, "invalid_input", [Problem("$", "body must be a JSON object")])
    return body


def parse_form(raw: bytes) -> dict[str, str]:
    """The fields of an `application/x-www-form-urlencoded` body (the first of a repeated name), or BadInput(400)."""
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True, max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        raise BadInput(400, "malformed_form", [Problem("$", "body is not a UTF-8 form (name=value&...)")]) from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


async def read_object(request: web.Request, max_bytes: int = MAX_BODY) -> dict[str, Any]:
    """The request's JSON object body, bounded."""
    return parse_object(await read_body(request, max_bytes))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def rejections(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn BadInput, Rejected and Unavailable into JSON errors; BadInput also goes to the DLQ."""
    publisher = request.app[PUBLISHER]
    try:
        return await handler(request)
    except BadInput as bad:
        raw = request.get(RAW, b"")
        try:
            await publisher.reject_raw(request.get(DLQ_KEY), raw, bad.reason, str(bad))
        except Unavailable:
            return error_response(503, "Kafka is unavailable; the input was not recorded, retry later")
        return error_response(bad.status, "invalid input", bad.problems)
    except Rejected as rejected:
        return error_response(400, "invalid event", rejected.problems)
    except Unavailable:
        return error_response(503, "Kafka is unavailable; nothing was recorded, retry later")


async def publish(request: web.Request, event: dict[str, Any]) -> dict[str, Any]:
    """Publish an event and answer what the broker acknowledged (raises Rejected/Unavailable)."""
    accepted = await request.app[PUBLISHER].publish(event)
    return {"status": "accepted", "event_id": accepted.event_id, "partition": accepted.partition, "offset": accepted.offset}


async def metrics_view(_request: web.Request) -> web.Response:
    """Prometheus metrics of this process."""
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def service_app(publisher: Publisher, openapi: dict[str, Any], routes: list[web.RouteDef], *,
                close_publisher: bool = True) -> web.Application:
    """An aiohttp app with the routes, /openapi.json, /metrics and the rejection middleware."""
    app = web.Application(middlewares=[rejections], client_max_size=MAX_BODY)
    app[PUBLISHER] = publisher

    async def openapi_view(_request: web.Request) -> web.Response:
        return web.json_response(openapi)

    app.add_routes([*routes, web.get("/openapi.json", openapi_view), web.get("/metrics", metrics_view)])
    if close_publisher:
        async def close(_app: web.Application) -> None:
            publisher.close()
        app.on_cleanup.append(close)
    return app


def problem_schema() -> dict[str, Any]:
    """OpenAPI schema of an error body."""
    return {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "object", "required": ["path", "message"], "properties": {
            "path": {"type": "string"}, "message": {"type": "string"}}}}}}


def accepted_schema() -> dict[str, Any]:
    """OpenAPI schema of an accepted body."""
    return {"type": "object", "properties": {"status": {"type": "string"}, "event_id": {"type": "string"},
                                             "partition": {"type": "integer"}, "offset": {"type": "integer"}}}


def error_responses() -> dict[str, Any]:
    """The error responses every publishing operation can give."""
    schema = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    return {"400": {"description": "invalid input; every problem listed", **schema},
            "413": {"description": "body too large", **schema},
            "503": {"description": "Kafka did not acknowledge; retry", **schema}}


def openapi_document(title: str, description: str, paths: dict[str, Any], schemas: dict[str, Any] | None = None) -> dict[str, Any]:
    """An OpenAPI 3 document with the shared schemas and the /metrics path."""
    paths = dict(paths)
    paths["/metrics"] = {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition format"}}}}
    return {"openapi": "3.0.3", "info": {"title": title, "version": "1", "description": description}, "paths": paths,
            "components": {"schemas": {"Problem": problem_schema(), "Accepted": accepted_schema(), **(schemas or {})}}}


def run(app: web.Application, port: int) -> None:
    """Serve on 127.0.0.1:`port` until interrupted."""
    web.run_app(app, host="127.0.0.1", port=port, print=None, handle_signals=True)
