"""Social messages and mentions as preference events, through a small rule table.

POST /social/messages {"platform": "instagram", "handle": "@ann.b", "text": "stop emailing me",
                       "time": "2026-03-01T12:00:00Z", "message_id": "m-1"}

Each rule maps a phrase pattern to an intent (opt-out, opt-in, topic interest). Channels are taken
from the words of the message (email, text, WhatsApp, ...); an opt-out that names none covers
every channel (the least permissive reading), an opt-in that names none is not consent and
changes nothing. An opt-out wins over an opt-in in the same message. Text no rule matches gets
200 "no preference found" and no event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from producers import events as ev
from producers.http import DLQ_KEY, BadInput, error_responses, openapi_document, publish, read_object, service_app
from producers.publisher import Publisher
from schemas.subjects import SOCIAL
from schemas.validation import Problem
from schemas.vocabulary import CHANNELS

OPT_OUT, OPT_IN, TOPIC = "opt_out", "opt_in", "topic_interest"


@dataclass(frozen=True)
class Rule:
    """A phrase pattern (case-insensitive) and the intent it expresses."""

    name: str
    pattern: re.Pattern[str]
    intent: str


def _rule(name: str, pattern: str, intent: str) -> Rule:
    return Rule(name, re.compile(pattern, re.IGNORECASE), intent)


RULES: tuple[Rule, ...] = (
    _rule("unsubscribe", r"\bunsubscribe\b|\bopt(?:\s|-)?(?:me\s)?out\b", OPT_OUT),
    _rule("stop-contacting", r"\b(?:stop|quit)\s+(?:sending|emailing|e-mailing|texting|messaging|calling|contacting|spamming)\b", OPT_OUT),
    _rule("do-not-contact", r"\b(?:do\s*n[o']?t|never)\s+(?:email|e-mail|text|message|call|contact)\s+me\b", OPT_OUT),
    _rule("no-more", r"\bno\s+more\s+(?:emails?|texts?|messages?|calls?|newsletters?|spam)\b", OPT_OUT),
    _rule("remove-me", r"\b(?:remove|take)\s+me\s+off\b", OPT_OUT),
    _rule("sign-up", r"\b(?:sign|signed)\s+me\s+up\b|\bsubscribe\s+me\b|\bopt(?:\s|-)?(?:me\s)?in\b", OPT_IN),
    _rule("send-me", r"\b(?:please\s+)?(?:send|email|text)\s+me\s+(?:your\s+|the\s+)?"
                     r"(?:emails?|texts?|updates?|offers?|deals?|newsletters?)\b", OPT_IN),
    _rule("interest", r"\b(?:interested\s+in|love|tell\s+me\s+(?:more\s+)?about|updates?\s+(?:on|about)|more\s+about|into)\b", TOPIC),
)
CHANNEL_WORDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), channel) for pattern, channel in (
        (r"\b(?:e-?mails?|e-?mailing|newsletters?)\b", "EMAIL"),
        (r"\b(?:texts?|texting|sms)\b", "SMS"),
        (r"\bwhats\s?app\b", "WHATSAPP"),
        (r"\b(?:calls?|calling|phone)\b", "PHONE"),
        (r"\b(?:push|notifications?)\b", "PUSH"),
        (r"\b(?:catalogu?es?|letters?|post)\b", "DIRECT_MAIL"),
    ))
# words that name a topic, and the topic id they stand for
TOPICS: dict[str, str] = {
    "new arrivals": "new-arrivals", "sale": "sales", "sales": "sales", "deals": "sales", "offers": "sales",
    "events": "events", "sneakers": "sneakers", "running": "running", "outdoor": "outdoor", "kids": "kids",
    "sustainability": "sustainability", "recipes": "recipes",
}
_TOPIC_WORDS = re.compile(r"\b(" + "|".join(sorted(map(re.escape, TOPICS), key=len, reverse=True)) + r")\b", re.IGNORECASE)


@dataclass(frozen=True)
class Intent:
    """What a message says: the matched rule's intent, channels and topics."""

    rule: str
    intent: str
    channels: tuple[str, ...]
    topics: tuple[str, ...]


def classify(text: str) -> Intent | None:
    """The preference a message expresses, or None. Opt-out outranks opt-in outranks interest."""
    matched = {rule.intent: rule.name for rule in reversed(RULES) if rule.pattern.search(text)}
    channels = tuple(dict.fromkeys(channel for pattern, channel in CHANNEL_WORDS if pattern.search(text)))
    topics = tuple(dict.fromkeys(TOPICS[word.lower()] for word in _TOPIC_WORDS.findall(text)))
    if OPT_OUT in matched:
        return Intent(matched[OPT_OUT], OPT_OUT, channels or CHANNELS, ())
    if OPT_IN in matched and channels:
        return Intent(matched[OPT_IN], OPT_IN, channels, topics)
    if (TOPIC in matched or OPT_IN in matched) and topics:
        return Intent(matched.get(TOPIC) or matched[OPT_IN], TOPIC, (), topics)
    return None


def changes_for(intent: Intent) -> list[dict[str, Any]]:
    """The preference changes of a classified message."""
    if intent.intent == OPT_OUT:
        return [ev.consent(channel, "OPTED_OUT") for channel in intent.channels]
    changes = [ev.consent(channel, "OPTED_IN") for channel in intent.channels] if intent.intent == OPT_IN else []
    return changes + [ev.topic(name, True) for name in intent.topics]


@dataclass(frozen=True)
class SocialMessage:
    """A parsed social message or mention."""

    platform: str
    handle: str
    text: str
    time: datetime
    message_id: str | None
    kind: str

    @property
    def subject(self) -> str:
        return f"social:{self.platform}:{self.handle}"


def parse_message(body: dict[str, Any]) -> SocialMessage:
    """The social message of a webhook body, or BadInput listing every problem."""
    problems: list[Problem] = []
    platform = ev.text_field(body, "platform", problems, max_length=32)
    handle = ev.text_field(body, "handle", problems, max_length=101)
    text = ev.text_field(body, "text", problems, max_length=5000)
    moment = ev.time_field(body.get("time"), "time", problems) if "time" in body else None
    if "time" not in body:
        problems.append(Problem("time", "required"))
    message_id = ev.text_field(body, "message_id", problems, required=False, max_length=100)
    kind = ev.text_field(body, "kind", problems, required=False, max_length=20) or "message"
    if kind not in ("message", "mention"):
        problems.append(Problem("kind", "must be message or mention"))
    platform = platform.lower() if platform else platform
    handle = handle.removeprefix("@") if handle else handle
    if platform and handle is not None and not SOCIAL.fullmatch(f"{platform}:{handle}"):
        problems.append(Problem("handle", "not a platform ([a-z0-9_]) and a handle without spaces or colons"))
    if problems:
        raise BadInput(400, "invalid_input", problems)
    assert platform is not None and handle is not None and text is not None and moment is not None, (
        "a required field is missing only with a problem")
    return SocialMessage(platform, handle, text, moment, message_id, kind)


def social_event(message: SocialMessage, intent: Intent, now: datetime) -> dict[str, Any]:
    """The PreferenceEvent of a classified social message."""
    identity = message.message_id or f"{message.handle}\x1f{message.time.isoformat()}\x1f{message.text}"
    return ev.new_event(
        ev.stable_id("social", message.platform, identity),
        message.subject,
        message.time,
        now,
        touchpoint="SOCIAL",
        system=f"social-{message.platform}-{message.kind}",
        actor="CUSTOMER",
        actor_id=None,
        interaction_id=message.message_id,
        proof=ev.proof("WRITTEN", notice_version=f"social-rule:{intent.rule}"),
        changes=changes_for(intent),
    )


def openapi() -> dict[str, Any]:
    """The OpenAPI 3 description of the social webhook."""
    schemas = {
        "SocialMessage": {"type": "object", "required": ["platform", "handle", "text", "time"], "properties": {
            "platform": {"type": "string", "pattern": "^[a-z0-9_]{1,32}$"},
            "handle": {"type": "string", "description": "with or without a leading @; no spaces or colons"},
            "text": {"type": "string"}, "time": {"type": "string", "format": "date-time"},
            "message_id": {"type": "string"}, "kind": {"type": "string", "enum": ["message", "mention"]}}},
        "SocialOutcome": {"type": "object", "properties": {
            "status": {"type": "string", "enum": ["accepted", "no preference found"]},
            "intent": {"type": "string", "nullable": True}, "event_id": {"type": "string", "nullable": True}}},
    }
    outcome = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/SocialOutcome"}}}}
    return openapi_document("prefstream social webhook", __doc__ or "", {"/social/messages": {"post": {
        "summary": "A social message or mention; a matched rule becomes a preference event",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SocialMessage"}}}},
        "responses": {"202": {"description": "accepted after the broker's ack", **outcome},
                      "200": {"description": "no preference found; no event", **outcome}, **error_responses()}}}}, schemas)


def create_app(publisher: Publisher, *, close_publisher: bool = True) -> web.Application:
    """The social webhook service."""

    async def receive(request: web.Request) -> web.Response:
        message = parse_message(await read_object(request))
        request[DLQ_KEY] = message.subject.encode()
        intent = classify(message.text)
        if intent is None:
            return web.json_response({"status": "no preference found", "intent": None, "event_id": None})
        accepted = await publish(request, social_event(message, intent, datetime.now(UTC)))
        return web.json_response({"status": "accepted", "intent": intent.intent, "event_id": accepted["event_id"]}, status=202)

    return service_app(publisher, openapi(), [web.post("/social/messages", receive)], close_publisher=close_publisher)
