"""Inbound SMS keywords (CTIA/TCPA industry set) as preference events.

POST /sms/inbound {"from": "+14155550100", "text": " stop ", "message_id": "SM123", "received_at": "...Z"}
POST /sms/inbound From=%2B14155550100&Body=stop&MessageSid=SM123   (form-encoded, as Twilio posts)

The whole message is the keyword: case, spaces and trailing punctuation do not matter. STOP,
STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT opt out of SMS marketing (STOPALL also suppresses SMS);
START, YES, UNSTOP opt in and lift an SMS suppression (the customer's newer statement wins, as
every register is last-writer-wins: START after STOPALL makes SMS reachable again, as its reply
says); HELP, INFO only get the help reply. Other text gets 200 and no event. The event id derives
from the gateway's message id, so a redelivered webhook adds nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from producers import events as ev
from producers.http import (
    DLQ_KEY,
    BadInput,
    accepted_schema,
    error_responses,
    openapi_document,
    parse_form,
    parse_object,
    publish,
    read_body,
    service_app,
)
from producers.publisher import Publisher
from schemas.subjects import E164
from schemas.validation import Problem

OPT_OUT, STOP_ALL, OPT_IN, HELP = "opt_out", "stop_all", "opt_in", "help"
KEYWORDS: dict[str, str] = {
    "STOP": OPT_OUT, "UNSUBSCRIBE": OPT_OUT, "CANCEL": OPT_OUT, "END": OPT_OUT, "QUIT": OPT_OUT,
    "STOPALL": STOP_ALL,
    "START": OPT_IN, "YES": OPT_IN, "UNSTOP": OPT_IN,
    "HELP": HELP, "INFO": HELP,
}
REPLIES: dict[str, str] = {
    OPT_OUT: "{brand}: You are unsubscribed from marketing texts and will get no more. Reply START to resubscribe.",
    STOP_ALL: "{brand}: You are unsubscribed from all texts. No more messages will be sent.",
    OPT_IN: "{brand}: You are subscribed to marketing texts. Msg & data rates may apply. Reply HELP for help, STOP to cancel.",
    HELP: "{brand}: Reply STOP to unsubscribe, START to subscribe. Msg & data rates may apply.",
}
# form fields of SMS gateways (Twilio's names) and the JSON field each stands for; others are ignored
FORM_FIELDS: dict[str, str] = {
    "From": "from", "Body": "text", "MessageSid": "message_id", "SmsMessageSid": "message_id", "SmsSid": "message_id",
    "from": "from", "text": "text", "message_id": "message_id", "received_at": "received_at",
}
FORM = "application/x-www-form-urlencoded"
_NOISE = re.compile(r"[\s.!?,;:'\"]+")


def normalise(text: str) -> str:
    """The keyword form of a message: upper case, without spaces and punctuation."""
    return _NOISE.sub("", text).upper()


def keyword_intent(text: str) -> str | None:
    """The intent of an SMS (opt_out, stop_all, opt_in, help), or None for other text."""
    return KEYWORDS.get(normalise(text))


def reply_text(intent: str, brand: str) -> str:
    """The reply the sender gets for an intent."""
    return REPLIES[intent].format(brand=brand)


def changes_for(intent: str, phone: str) -> list[dict[str, Any]]:
    """The preference changes a keyword intent stands for (none for help)."""
    if intent == OPT_OUT:
        return [ev.consent("SMS", "OPTED_OUT", contact_point=phone)]
    if intent == STOP_ALL:
        return [ev.consent("SMS", "OPTED_OUT", contact_point=phone), ev.suppression("SMS")]
    if intent == OPT_IN:
        return [ev.consent("SMS", "OPTED_IN", contact_point=phone), ev.suppression("SMS", active=False)]
    return []


@dataclass(frozen=True)
class InboundSms:
    """A parsed inbound message."""

    phone: str
    text: str
    message_id: str
    received_at: datetime | None


def parse_inbound(body: dict[str, Any]) -> InboundSms:
    """The inbound message of a webhook body, or BadInput listing every problem."""
    problems: list[Problem] = []
    phone = ev.text_field(body, "from", problems, max_length=32)
    text = ev.text_field(body, "text", problems, max_length=1600)
    message_id = ev.text_field(body, "message_id", problems, max_length=100)
    received_at = ev.time_field(body["received_at"], "received_at", problems) if body.get("received_at") is not None else None
    if phone is not None and not E164.fullmatch(phone):
        problems.append(Problem("from", "not an E.164 phone number (+ and up to 15 digits)"))
    if problems:
        raise BadInput(400, "invalid_input", problems)
    assert phone is not None and text is not None and message_id is not None, "a required field is missing only with a problem"
    return InboundSms(phone, text, message_id, received_at)


def form_inbound(fields: dict[str, str]) -> dict[str, Any]:
    """The JSON-shaped body of a form-encoded gateway post: its known fields, by their JSON names."""
    body: dict[str, Any] = {}
    for name, value in fields.items():
        target = FORM_FIELDS.get(name)
        if target is not None and target not in body:
            body[target] = value
    return body


def read_inbound(raw: bytes, content_type: str) -> InboundSms:
    """The inbound message of a JSON or form-encoded body, or BadInput."""
    return parse_inbound(form_inbound(parse_form(raw)) if content_type == FORM else parse_object(raw))


def sms_event(message: InboundSms, intent: str, now: datetime) -> dict[str, Any]:
    """The PreferenceEvent of a keyword message."""
    return ev.new_event(
        ev.stable_id("sms", message.message_id),
        f"phone:{message.phone}",
        message.received_at or now,
        now,
        touchpoint="SMS",
        system="sms-gateway",
        actor="CUSTOMER",
        actor_id=None,
        interaction_id=message.message_id,
        proof=ev.proof("KEYWORD", notice_version=f"sms-keyword:{normalise(message.text)}"),
        changes=changes_for(intent, message.phone),
    )


OPENAPI_SCHEMAS = {
    "InboundSms": {"type": "object", "required": ["from", "text", "message_id"], "properties": {
        "from": {"type": "string", "description": "sender, E.164"},
        "text": {"type": "string", "description": "the message; the whole message is the keyword"},
        "message_id": {"type": "string", "description": "gateway message id (makes redelivery idempotent)"},
        "received_at": {"type": "string", "format": "date-time", "description": "defaults to now"}}},
    "SmsReply": {"type": "object", "properties": {
        "keyword": {"type": "string", "nullable": True}, "intent": {"type": "string", "nullable": True},
        "reply": {"type": "string", "nullable": True}, "event_id": {"type": "string", "nullable": True}}},
}


def openapi() -> dict[str, Any]:
    """The OpenAPI 3 description of the SMS webhook."""
    body = {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/InboundSms"}},
        FORM: {"schema": {"type": "object", "required": ["From", "Body", "MessageSid"], "description":
               "Twilio-style fields; From, Body and MessageSid (or SmsMessageSid, SmsSid) are read, others ignored",
               "properties": {"From": {"type": "string"}, "Body": {"type": "string"}, "MessageSid": {"type": "string"}}}}}}
    reply = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/SmsReply"}}}}
    return openapi_document("prefstream SMS keywords", __doc__ or "", {"/sms/inbound": {"post": {
        "summary": "An inbound SMS; keywords become preference events, each gets its reply text",
        "requestBody": body,
        "responses": {"200": {"description": "handled (after the broker's ack when it was a preference)", **reply},
                      **error_responses()}}}}, OPENAPI_SCHEMAS | {"Accepted": accepted_schema()})


def create_app(publisher: Publisher, brand: str = "prefstream", *, close_publisher: bool = True) -> web.Application:
    """The SMS webhook service."""

    async def inbound(request: web.Request) -> web.Response:
        message = read_inbound(await read_body(request), request.content_type)
        request[DLQ_KEY] = f"phone:{message.phone}".encode()
        intent = keyword_intent(message.text)
        if intent is None:
            return web.json_response({"keyword": None, "intent": None, "reply": None, "event_id": None})
        answer: dict[str, Any] = {"keyword": normalise(message.text), "intent": intent,
                                  "reply": reply_text(intent, brand), "event_id": None}
        if intent != HELP:
            answer["event_id"] = (await publish(request, sms_event(message, intent, datetime.now(UTC))))["event_id"]
        return web.json_response(answer)

    return service_app(publisher, openapi(), [web.post("/sms/inbound", inbound)], close_publisher=close_publisher)
