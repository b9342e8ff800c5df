"""The agent-desktop API: agents record what a customer said on a call; agents and store staff
read the current profile through the processor's query API.

POST /call-center/events             record changes (agent_id and interaction_id required;
                                     proof method VERBAL needs the call's recording_ref)
GET  /call-center/profiles/{subject}  the processor's current profile of a customer id
GET  /stores/loyalty/{loyalty_id}/summary   a short summary for store staff; asks the processor
                                     which customer claims loyalty:<id> (/identities/loyalty:<id>/),
                                     then for that customer's profile
A processor that does not answer gives 502 with a clear message.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from prefstream.core import ports
from producers import events as ev
from producers.http import DLQ_KEY, BadInput, error_response, error_responses, openapi_document, publish, read_object, service_app
from producers.publisher import Publisher
from schemas.subjects import LOYALTY, subject_problem
from schemas.validation import Problem

PROOF_METHODS = ("VERBAL", "WRITTEN", "IMPORTED", "OTHER")
PROCESSOR_URL: web.AppKey[str] = web.AppKey("processor_url", str)
SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("processor_session", aiohttp.ClientSession)


def _proof(value: Any, problems: list[Problem]) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        problems.append(Problem("proof", "required: an object with method (and recording_ref for VERBAL)"))
        return None
    fields = {name: ev.text_field(value, name, problems, required=False, path=f"proof.{name}")
              for name in ("notice_version", "locale", "recording_ref")}
    method = ev.text_field(value, "method", problems, path="proof.method")
    if method is not None and method not in PROOF_METHODS:
        problems.append(Problem("proof.method", f"must be one of {', '.join(PROOF_METHODS)}"))
    if method == "VERBAL" and fields["recording_ref"] is None:
        problems.append(Problem("proof.recording_ref", "required for verbal consent"))
    basis = ev.text_field(value, "legal_basis", problems, required=False, path="proof.legal_basis") or "CONSENT"
    return ev.proof(method or "OTHER", legal_basis=basis, **fields)


def agent_event(body: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The PreferenceEvent an agent records, or BadInput listing every problem of the body."""
    problems: list[Problem] = []
    agent_id = ev.text_field(body, "agent_id", problems, max_length=64)
    interaction_id = ev.text_field(body, "interaction_id", problems, max_length=100)
    subject = ev.text_field(body, "customer", problems, max_length=200)
    problem = subject_problem(subject) if subject is not None else None
    if problem:
        problems.append(Problem("customer", problem))
    occurred_at = ev.time_field(body["occurred_at"], "occurred_at", problems) if body.get("occurred_at") is not None else now
    proof = _proof(body.get("proof"), problems)
    changes = ev.parse_changes(body.get("changes"), "changes", problems)
    known = {"agent_id", "interaction_id", "customer", "occurred_at", "proof", "changes", "request_id"}
    problems += [Problem(name, "unknown field") for name in sorted(set(body) - known)]
    request_id = ev.text_field(body, "request_id", problems, required=False, max_length=100)
    if problems:
        raise BadInput(400, "invalid_input", problems)
    assert interaction_id is not None and subject is not None, "a required field is missing only with a problem"
    # a desktop that resends the same request (request_id) gets the same event id
    event_id = ev.stable_id("call-center", interaction_id, request_id) if request_id else str(uuid.uuid4())
    return ev.new_event(event_id, subject, occurred_at or now, now, touchpoint="CALL_CENTER",
                        system="call-center-desktop", actor="AGENT", actor_id=agent_id,
                        interaction_id=interaction_id, proof=proof, changes=changes)


def summary(profile: dict[str, Any]) -> dict[str, Any]:
    """What store staff see: the customer, who may be contacted how, topics and suppressions."""
    return {key: profile.get(key) for key in ("customer_id", "version", "reachable", "consents", "topics", "suppressions")}


async def _processor_get(request: web.Request, path: str) -> tuple[int, Any] | web.Response:
    base = request.app[PROCESSOR_URL]
    try:
        async with request.app[SESSION].get(f"{base}{path}") as response:
            body = await response.json(content_type=None)
            return response.status, body
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return error_response(502, f"the processor's query API at {base} did not answer; is `prefstream process` running?")


def openapi() -> dict[str, Any]:
    """The OpenAPI 3 description of the agent-desktop API."""
    change = {"type": "object", "required": ["type"], "description": "type is one of consent, topic, frequency, pause, "
              "quiet_hours, contact, attribute, suppression, erasure; the other fields are those of the PreferenceEvent change",
              "properties": {"type": {"type": "string"}}, "additionalProperties": True}
    schemas = {
        "AgentChange": change,
        "AgentEvent": {"type": "object", "required": ["agent_id", "interaction_id", "customer", "proof", "changes"], "properties": {
            "agent_id": {"type": "string"}, "interaction_id": {"type": "string"},
            "customer": {"type": "string", "description": "customer id or email:/phone:/loyalty: identifier"},
            "occurred_at": {"type": "string", "format": "date-time"}, "request_id": {"type": "string"},
            "proof": {"type": "object", "required": ["method"], "properties": {
                "method": {"type": "string", "enum": list(PROOF_METHODS)},
                "recording_ref": {"type": "string", "description": "required for VERBAL"},
                "notice_version": {"type": "string"}, "locale": {"type": "string"}, "legal_basis": {"type": "string"}}},
            "changes": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/AgentChange"}}}},
    }
    problem = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    proxied = {"200": {"description": "the processor's answer"}, "404": {"description": "no such customer"},
               "502": {"description": "the processor did not answer", **problem}}
    return openapi_document("prefstream call-center API", __doc__ or "", {
        "/call-center/events": {"post": {
            "summary": "Record what the customer said on a call",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AgentEvent"}}}},
            "responses": {"202": {"description": "accepted after the broker's ack",
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}}},
                          **error_responses()}}},
        "/call-center/profiles/{customer_id}": {"get": {
            "summary": "The current profile (from the processor)",
            "parameters": [{"name": "customer_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": proxied}},
        "/stores/loyalty/{loyalty_id}/summary": {"get": {
            "summary": "A customer's summary by loyalty id (the processor resolves the loyalty id to its customer)",
            "parameters": [{"name": "loyalty_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": proxied}},
    }, schemas)


def create_app(publisher: Publisher, processor_url: str = ports.PROCESSOR_URL, *,
               close_publisher: bool = True) -> web.Application:
    """The agent-desktop service."""

    async def record(request: web.Request) -> web.Response:
        event = agent_event(await read_object(request), datetime.now(UTC))
        request[DLQ_KEY] = event["subject"].encode()
        return web.json_response(await publish(request, event), status=202)

    async def profile(request: web.Request) -> web.Response:
        customer_id = request.match_info["customer_id"]
        problem = subject_problem(customer_id)
        if problem:
            return error_response(400, "not a customer id or identifier", [Problem("customer_id", problem)])
        answer = await _processor_get(request, f"/profiles/{quote(customer_id, safe=':@')}/")
        if isinstance(answer, web.Response):
            return answer
        status, body = answer
        return web.json_response(body, status=status if status in (200, 404) else 502)

    async def store_summary(request: web.Request) -> web.Response:
        loyalty_id = request.match_info["loyalty_id"]
        if not LOYALTY.fullmatch(loyalty_id):
            return error_response(400, "invalid loyalty id", [Problem("loyalty_id", "not a valid loyalty id")])
        answer = await _processor_get(request, f"/identities/loyalty:{loyalty_id}/")
        if isinstance(answer, web.Response):
            return answer
        status, body = answer
        if status == 200 and isinstance(body, dict):
            answer = await _processor_get(request, f"/profiles/{quote(body['customer_id'], safe='')}/")
            if isinstance(answer, web.Response):
                return answer
            status, body = answer
        if status == 200 and isinstance(body, dict):
            return web.json_response(summary(body))
        return web.json_response(body, status=status if status == 404 else 502)

    app = service_app(publisher, openapi(), [
        web.post("/call-center/events", record),
        web.get("/call-center/profiles/{customer_id}", profile),
        web.get("/stores/loyalty/{loyalty_id}/summary", store_summary),
    ], close_publisher=close_publisher)
    app[PROCESSOR_URL] = processor_url.rstrip("/")

    async def session(app: web.Application):
        app[SESSION] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        yield
        await app[SESSION].close()

    app.cleanup_ctx.append(session)
    return app
