"""The JSON API of the preference center, behind the same signed links as the pages.

    GET  /api/p/{token}/preferences   current values, the open questions and the CSRF token
    POST /api/p/{token}/preferences   changes (see preferences.parse_json); header X-CSRF-Token
    GET  /openapi.json                the OpenAPI description

A POST answers 200 once Kafka acknowledged the event ({"accepted": true, ...}) or when nothing
differed ({"accepted": false, "changes": []}); 400 with the problems (and a DLQ record) for bad
input; 403 for a bad link or CSRF token; 503 when Kafka or the query API is unavailable.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from prefstream.core.formats import jsonable
from producers.publisher import Rejected, Unavailable
from producers.web import signing
from producers.web.guard import signed
from producers.web.preferences import Current, open_questions, parse_json
from producers.web.processor_client import ProcessorUnavailable
from producers.web.service import REASON_MALFORMED_JSON, REASON_TOO_LARGE, PreferenceCenter
from schemas.validation import Problem


def _error(status: int, message: str, problems: Sequence[Problem] = ()) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if problems:
        body["problems"] = [{"path": p.path, "message": p.message} for p in problems]
    return web.json_response(body, status=status)


def current_json(current: Current) -> dict[str, Any]:
    """The current values as JSON."""
    values = {field.name: jsonable(getattr(current, field.name)) for field in dataclasses.fields(current)}
    quiet = current.quiet
    values["quiet"] = None if quiet is None else {"start": quiet[0], "end": quiet[1], "time_zone": quiet[2]}
    return values


def add_api_routes(app: web.Application, key: web.AppKey) -> None:
    """Add the JSON routes to `app`, whose PreferenceCenter is stored under `key`."""

    def refuse(_center: PreferenceCenter, reason: str) -> web.Response:
        return _error(403, f"link {reason}")

    @signed(key, refuse)
    async def get_preferences(request: web.Request, center: PreferenceCenter, token: str, claims: signing.Claims) -> web.Response:
        try:
            current = await center.current(claims.customer_id)
        except ProcessorUnavailable:
            return _error(503, "preferences temporarily unavailable")
        questions = [{"key": q.key, "question": q.question, "why": q.why, "choices": list(q.choices)}
                     for q in open_questions(current, center.config)]
        return web.json_response({"customer_id": claims.customer_id, "preferences": current_json(current),
                                  "questions": questions, "notice_version": center.config.notice_version,
                                  "csrf_token": center.csrf(token)})

    @signed(key, refuse)
    async def post_preferences(request: web.Request, center: PreferenceCenter, token: str, claims: signing.Claims) -> web.Response:
        if not center.csrf_ok(token, request.headers.get("X-CSRF-Token")):
            return _error(403, "missing or wrong X-CSRF-Token header")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            await center.reject(claims.customer_id, b"", "body larger than 64 KiB", REASON_TOO_LARGE)
            return _error(413, "body larger than 64 KiB")
        try:
            body = json.loads(raw)
        except ValueError:
            await center.reject(claims.customer_id, raw, "body: not JSON", REASON_MALFORMED_JSON)
            return _error(400, "body is not JSON", [Problem("body", "not JSON")])
        try:
            current = await center.current(claims.customer_id)
        except ProcessorUnavailable:
            return _error(503, "preferences temporarily unavailable")
        desired, problems = parse_json(body, center.config)
        planned = None if problems else center.plan(current, desired)
        if planned is not None:
            problems = planned.problems
        if planned is None or problems:
            await center.reject(claims.customer_id, raw, "; ".join(map(str, problems)))
            return _error(400, "invalid preferences", problems)
        proof = center.proof(request.remote, request.headers.get("User-Agent"))
        try:
            outcome = await center.publish(claims.customer_id, planned.changes, proof, confirm_email=planned.confirm_email)
        except Rejected as rejected:
            return _error(400, "invalid preferences", rejected.problems)
        except Unavailable:
            return _error(503, "Kafka did not acknowledge; please retry")
        answer: dict[str, Any] = {"accepted": outcome.accepted is not None, "changes": len(outcome.changes)}
        if outcome.accepted is not None:
            answer |= {"event_id": outcome.accepted.event_id, "partition": outcome.accepted.partition,
                       "offset": outcome.accepted.offset, "email_confirmation_sent": outcome.confirm_link is not None}
        if outcome.confirm_link and center.settings.dev:
            answer["confirmation_link"] = outcome.confirm_link
        return web.json_response(answer)

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    app.router.add_get("/api/p/{token}/preferences", get_preferences)
    app.router.add_post("/api/p/{token}/preferences", post_preferences)
    app.router.add_get("/openapi.json", openapi)


_TOKEN = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}, "description": "signed link token"}
_ERROR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "prefstream web preference center", "version": "1"},
    "paths": {
        "/api/p/{token}/preferences": {
            "parameters": [_TOKEN],
            "get": {"summary": "Current preferences, open questions and the CSRF token",
                    "responses": {"200": {"description": "current values"}, "403": _ERROR, "503": _ERROR}},
            "post": {
                "summary": "Change preferences: one event with every change that differs",
                "parameters": [{"name": "X-CSRF-Token", "in": "header", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Changes"}}}},
                "responses": {"200": {"description": "accepted by Kafka, or nothing to change"}, "400": _ERROR,
                              "403": _ERROR, "413": _ERROR, "503": _ERROR},
            },
        },
    },
    "components": {"schemas": {
        "Error": {"type": "object", "properties": {"error": {"type": "string"}, "problems": {"type": "array", "items": {
            "type": "object", "properties": {"path": {"type": "string"}, "message": {"type": "string"}}}}}},
        "Changes": {"type": "object", "additionalProperties": False, "properties": {
            "consents": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "topics": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "cadence": {"type": "string", "nullable": True, "enum": ["REALTIME", "DAILY", "WEEKLY", "MONTHLY", None]},
            "pause": {"oneOf": [{"type": "string", "enum": ["keep", "resume"]}, {"type": "integer"}]},
            "quiet_hours": {"type": "object", "nullable": True, "properties": {
                "start": {"type": "string"}, "end": {"type": "string"}, "time_zone": {"type": "string"}}},
            "email": {"type": "string", "nullable": True},
            "phone": {"type": "string", "nullable": True},
            "answers": {"type": "object", "additionalProperties": {"type": "string"}},
        }},
    }},
}
