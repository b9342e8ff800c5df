"""Hypothesis strategies of HTTP requests to the touchpoint adapters, each with the outcome it must
have, written out from the adapters' documented contracts (never computed by the adapters' code).

A `Request` is valid input (it `Publishes` an event, or is handled `Quiet`ly without one), a
valid input mutated into a known refusal (`Refused`, with the DLQ reason), or random bytes
(`outcome` None: only the invariants hold — no 500, every refusal on the DLQ).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from hypothesis import strategies as st

from producers.web.preferences import Current

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
OVERSIZED = 70 * 1024  # above the 64 KiB body limit of every adapter
CHANNELS = ("EMAIL", "SMS", "PUSH", "PHONE", "DIRECT_MAIL", "WHATSAPP")
FAR_FUTURE = datetime(2099, 1, 1, tzinfo=UTC)


# -- outcomes ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Publishes:
    """Accepted: exactly this event is published (times None: the moment of the request)."""

    subject: str
    changes: list[dict[str, Any]]
    source: dict[str, Any]
    proof: dict[str, Any]
    identity: tuple[Any, ...] | None  # the same identity gives the same event id; None: a fresh id
    occurred_at: datetime | None = None
    recorded_at: datetime | None = None
    ordered: bool = True  # whether the order of the changes is part of the contract
    answer: dict[str, Any] = field(default_factory=dict)  # fields the JSON answer must have


@dataclass(frozen=True)
class Quiet:
    """Handled without an event (2xx)."""

    answer: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Refused:
    """Refused with this status; one DLQ record with this reason."""

    status: int
    reason: str


Outcome = Publishes | Quiet | Refused | None


@dataclass(frozen=True)
class Request:
    """One POST to an adapter and its outcome; `shown` is what the query API answers meanwhile (web)."""

    path: str
    body: bytes
    content_type: str | None
    outcome: Outcome
    headers: dict[str, str] = field(default_factory=dict)
    shown: Current | None = None


def json_request(path: str, body: Any, outcome: Outcome, **extra: Any) -> Request:
    """A POST of `body` as JSON."""
    return Request(path, json.dumps(body).encode(), JSON, outcome, **extra)


def form_request(path: str, pairs: list[tuple[str, str]], outcome: Outcome, **extra: Any) -> Request:
    """A POST of `pairs` as an HTML form."""
    return Request(path, urlencode(pairs).encode(), FORM, outcome, **extra)


# -- shared values -------------------------------------------------------------------------------

phones = st.from_regex(r"\+[1-9][0-9]{1,14}", fullmatch=True)
emails = st.from_regex(r"[a-z][a-z0-9.]{0,8}@[a-z]{1,8}\.(com|org|co\.uk)", fullmatch=True)
ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,23}", fullmatch=True)
ZONES = (UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-8)), timezone(timedelta(hours=5, minutes=30)))
BAD_PHONES = ("0415 555 0100", "14155550100", "+0123456", "+1234567890123456", "+1 415 555 0100", "+")
BAD_TIMES = ("yesterday", "2026-03-01T10:00:00", "2026-13-01T10:00:00Z", 20260301)
WRONG_TYPES = (42, True, ["x"], {"x": 1})


def iso(moment: datetime, zone: timezone, zulu: bool) -> str:
    """`moment` in ISO 8601 at `zone` ("Z" for UTC when `zulu`)."""
    text = moment.astimezone(zone).isoformat()
    return text.replace("+00:00", "Z") if zulu else text


@st.composite
def past_times(draw: st.DrawFn) -> tuple[str, datetime]:
    """An ISO 8601 time with an offset, in whole seconds, before today; and the moment it names."""
    moment = draw(PAST_MOMENTS).replace(microsecond=0, tzinfo=UTC)
    return iso(moment, draw(OFFSETS), draw(st.booleans())), moment


PAST_MOMENTS, OFFSETS = st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2025, 12, 31)), st.sampled_from(ZONES)
PAST_TIMES = past_times()
ABSENT, NULL = "absent", "null"
OPTIONAL_STATES = st.sampled_from((ABSENT, NULL, "value"))


def truncated(body: bytes) -> st.SearchStrategy[bytes]:
    """A proper prefix of a JSON object's text: never valid JSON."""
    return st.integers(0, len(body) - 1).map(lambda cut: body[:cut])


def consent(channel: str, status: str, contact_point: str | None = None, purpose: str = "marketing",
            expires_at: datetime | None = None) -> dict[str, Any]:
    """A complete ChannelConsent change."""
    return {"channel": channel, "contact_point": contact_point, "purpose": purpose, "status": status, "expires_at": expires_at}


def topic(name: str, subscribed: bool, channels: list[str] | None = None) -> dict[str, Any]:
    """A complete TopicSubscription change."""
    return {"topic": name, "subscribed": subscribed, "channels": channels or []}


def contact(kind: str, value: str, action: str) -> dict[str, Any]:
    """A ContactPointChange."""
    return {"kind": kind, "value": value, "action": action}


def proof(method: str, **fields: Any) -> dict[str, Any]:
    """A complete Proof record: the named fields, the others null (legal basis CONSENT)."""
    return {"method": method, "notice_version": None, "locale": None, "ip": None, "user_agent": None,
            "recording_ref": None, "legal_basis": "CONSENT"} | fields


def customer_source(touchpoint: str, system: str, interaction_id: str | None, actor_id: str | None = None) -> dict[str, Any]:
    """The Source of a statement the customer made."""
    return {"touchpoint": touchpoint, "system": system, "actor": {"type": "CUSTOMER", "id": actor_id}, "interaction_id": interaction_id}


def mixed(valid: st.SearchStrategy[Request], refused: Callable[[Request], st.SearchStrategy[Request]]) -> st.SearchStrategy[Request]:
    """About 70 % valid requests, 30 % valid ones mutated into refusals."""
    return st.sampled_from(["valid"] * 7 + ["refused"] * 3).flatmap(lambda kind: valid if kind == "valid" else valid.flatmap(refused))


# -- SMS -------------------------------------------------------------------------------------------

SMS_PATH = "/sms/inbound"
# the CTIA keyword set: keyword -> what it does
SMS_KEYWORDS = {"STOP": "out", "UNSUBSCRIBE": "out", "CANCEL": "out", "END": "out", "QUIT": "out", "STOPALL": "all",
                "START": "in", "YES": "in", "UNSTOP": "in", "HELP": "help", "INFO": "help"}
SMS_INTENTS = {"out": "opt_out", "all": "stop_all", "in": "opt_in", "help": "help"}
NOT_KEYWORDS = ("stop please", "yes please", "STOPP", "start now", "see you soon", "Where is my order?", "thanks!")
MESSAGE_ID_NAMES = ("MessageSid", "SmsMessageSid", "SmsSid")  # Twilio's names of the message id
TWILIO_EXTRAS = (("To", "+15005550006"), ("ToCountry", "US"), ("NumMedia", "0"), ("AccountSid", "AC0123456789abcdef"))
KEYWORDS = st.sampled_from(sorted(SMS_KEYWORDS, key=lambda keyword: (SMS_KEYWORDS[keyword] == "help", keyword)))
LOWER_CASE_AT = st.lists(st.booleans(), min_size=max(map(len, SMS_KEYWORDS)), max_size=max(map(len, SMS_KEYWORDS)))
SPACES, PUNCTUATION = st.text(" \t\n", max_size=2), st.text(".!?,;:", max_size=3)
ONE_IN_TEN = st.integers(0, 9).map(lambda n: n == 5)  # (not 0: hypothesis favours the bounds)
SMS_MESSAGE_IDS = st.sampled_from(("SM1", "SM2", "SM3")) | st.from_regex(r"SM[0-9a-f]{8,32}", fullmatch=True)
JSON_TYPES, FORM_TYPES = st.sampled_from((JSON, f"{JSON}; charset=utf-8")), st.sampled_from((FORM, f"{FORM}; charset=utf-8"))
MESSAGE_ID_FIELDS = st.lists(st.sampled_from(MESSAGE_ID_NAMES), min_size=1, max_size=3, unique=True)
TWILIO_EXTRA_FIELDS = st.lists(st.sampled_from(TWILIO_EXTRAS), unique=True)


def sms_changes(effect: str, phone: str) -> list[dict[str, Any]]:
    """What a keyword says: SMS marketing consent for the sender's number, and the SMS suppression."""
    def suppression(active: bool) -> dict[str, Any]:
        return {"channel": "SMS", "active": active, "reason": "CUSTOMER_REQUEST"}
    return {"out": [consent("SMS", "OPTED_OUT", phone)],
            "all": [consent("SMS", "OPTED_OUT", phone), suppression(True)],
            "in": [consent("SMS", "OPTED_IN", phone), suppression(False)]}[effect]


@st.composite
def keyword_texts(draw: st.DrawFn) -> tuple[str, str]:
    """A keyword in any case, with spaces around and trailing punctuation; and the keyword."""
    keyword = draw(KEYWORDS)
    cases = draw(LOWER_CASE_AT)
    # one flag per letter of the longest keyword: a shorter keyword uses the first ones
    mixed_case = "".join(c.lower() if lower else c for c, lower in zip(keyword, cases, strict=False))
    before, after = draw(SPACES), draw(SPACES) + draw(PUNCTUATION) + draw(SPACES)
    return before + mixed_case + after, keyword


other_texts = st.sampled_from(NOT_KEYWORDS) | st.text(st.characters(blacklist_categories=("Cs",)), max_size=40).map(lambda t: t + " 7")


@st.composite
def sms_messages(draw: st.DrawFn) -> tuple[dict[str, Any], str | None, datetime | None]:
    """A message's JSON fields (received_at maybe), its keyword (None: other text) and its time."""
    keyword: str | None
    if draw(ONE_IN_TEN):
        text, keyword = draw(other_texts), None
    else:
        text, keyword = draw(keyword_texts())
    message_id = draw(SMS_MESSAGE_IDS)
    fields = {"from": draw(phones), "text": text, "message_id": message_id}
    received = draw(st.none() | PAST_TIMES)
    if received is not None:
        fields["received_at"] = received[0]
    return fields, keyword, received[1] if received else None


def sms_outcome(phone: str, message_id: str, keyword: str | None, received: datetime | None) -> Publishes | Quiet:
    """Other text and HELP/INFO are answered without an event; every other keyword is published under the phone."""
    if keyword is None:
        return Quiet({"keyword": None, "intent": None, "reply": None, "event_id": None})
    effect = SMS_KEYWORDS[keyword]
    if effect == "help":
        return Quiet({"keyword": keyword, "intent": "help", "event_id": None})
    return Publishes(f"phone:{phone}", sms_changes(effect, phone), customer_source("SMS", "sms-gateway", message_id),
                     proof("KEYWORD", notice_version=f"sms-keyword:{keyword}"), ("sms", message_id), occurred_at=received,
                     answer={"keyword": keyword, "intent": SMS_INTENTS[effect]})


@st.composite
def sms_json_requests(draw: st.DrawFn) -> Request:
    """A JSON post of an inbound message."""
    fields, keyword, received = draw(sms_messages())
    content_type = draw(JSON_TYPES)
    outcome = sms_outcome(fields["from"], fields["message_id"], keyword, received)
    return replace(json_request(SMS_PATH, fields, outcome), content_type=content_type)


@st.composite
def sms_form_requests(draw: st.DrawFn) -> Request:
    """A Twilio-style post: From, Body, one or more message id fields (the first counts) and extras."""
    fields, keyword, _ = draw(sms_messages())
    names = draw(MESSAGE_ID_FIELDS)
    message_ids = [(name, fields["message_id"] if index == 0 else f"{fields['message_id']}-{name}") for index, name in enumerate(names)]
    extras = draw(TWILIO_EXTRA_FIELDS)
    pairs = draw(st.permutations([("From", fields["from"]), ("Body", fields["text"]), *message_ids, *extras]))
    first_id = next(value for name, value in pairs if name in MESSAGE_ID_NAMES)
    content_type = draw(FORM_TYPES)
    return Request(SMS_PATH, urlencode(pairs).encode(), content_type, sms_outcome(fields["from"], first_id, keyword, None))


def refused_sms(valid: Request) -> st.SearchStrategy[Request]:
    """`valid` made unacceptable in one way."""
    bad = Refused(400, "invalid_input")
    if valid.content_type.startswith(FORM):
        pairs = [tuple(pair.split("=", 1)) for pair in valid.body.decode().split("&")]

        def without(*names: str) -> Request:
            return replace(valid, body="&".join(f"{n}={v}" for n, v in pairs if n not in names).encode(), outcome=bad)
        return st.one_of(
            st.sampled_from([without("From"), without("Body"), without(*MESSAGE_ID_NAMES)]),
            st.sampled_from(BAD_PHONES).map(lambda phone: replace(valid, outcome=bad, body="&".join(
                f"{n}={urlencode([('', phone)])[1:] if n == 'From' else v}" for n, v in pairs).encode())),
            st.just(replace(valid, body=valid.body + b"&Note=\xff", outcome=Refused(400, "malformed_form"))),
            st.just(replace(valid, body=valid.body + b"&Media=" + b"x" * OVERSIZED, outcome=Refused(413, "body_too_large"))),
        )
    fields = json.loads(valid.body)

    def body(changed: dict[str, Any], outcome: Outcome = bad) -> Request:
        return replace(valid, body=json.dumps(changed).encode(), outcome=outcome)
    required = st.sampled_from(["from", "text", "message_id"])
    mutations = [
        required.map(lambda name: body({k: v for k, v in fields.items() if k != name})),
        st.tuples(required, st.sampled_from(WRONG_TYPES + ("", "  "))).map(lambda nv: body(fields | {nv[0]: nv[1]})),
        st.sampled_from(BAD_PHONES).map(lambda phone: body(fields | {"from": phone})),
        st.sampled_from(BAD_TIMES).map(lambda time: body(fields | {"received_at": time})),
        st.just(body(fields | {"text": "STOP" + " " * 1600})),
        st.just(body([fields])),
        truncated(valid.body).map(lambda raw: replace(valid, body=raw, outcome=Refused(400, "malformed_json"))),
        st.just(body(fields | {"padding": "x" * OVERSIZED}, Refused(413, "body_too_large"))),
    ]
    if isinstance(valid.outcome, Publishes):  # a future time matters only to a message that becomes an event
        mutations.append(st.just(body(fields | {"received_at": iso(FAR_FUTURE, UTC, True)}, Refused(400, "future_time"))))
    return st.one_of(mutations)


# -- social ----------------------------------------------------------------------------------------

SOCIAL_PATH = "/social/messages"
# (phrase, the rule it matches, the channels it names, the topics it names)
OPT_OUT_PHRASES = (
    ("unsubscribe", "unsubscribe", (), ()), ("please opt me out", "unsubscribe", (), ()), ("opt-out", "unsubscribe", (), ()),
    ("stop emailing me", "stop-contacting", ("EMAIL",), ()), ("quit texting me", "stop-contacting", ("SMS",), ()),
    ("stop calling me", "stop-contacting", ("PHONE",), ()), ("stop messaging me", "stop-contacting", (), ()),
    ("don't email me", "do-not-contact", ("EMAIL",), ()), ("never text me", "do-not-contact", ("SMS",), ()),
    ("do not contact me", "do-not-contact", (), ()), ("no more newsletters", "no-more", ("EMAIL",), ()),
    ("no more calls", "no-more", ("PHONE",), ()), ("no more spam", "no-more", (), ()),
    ("remove me off your list", "remove-me", (), ()), ("take me off the list", "remove-me", (), ()),
)
OPT_IN_PHRASES = (
    ("sign me up", "sign-up", (), ()), ("subscribe me", "sign-up", (), ()), ("opt me in", "sign-up", (), ()),
    ("please send me your newsletters", "send-me", ("EMAIL",), ()), ("text me the deals", "send-me", ("SMS",), ("sales",)),
    ("email me offers", "send-me", ("EMAIL",), ("sales",)), ("send me updates", "send-me", (), ()),
)
INTEREST_PHRASES = (("I'm interested in", "interest", (), ()), ("I love", "interest", (), ()),
                    ("tell me more about", "interest", (), ()), ("any updates on", "interest", (), ()), ("I'm into", "interest", (), ()))
NEUTRAL_PHRASES = (("nice shoes", "", (), ()), ("where is my order?", "", (), ()), ("what time do you open", "", (), ()))
CHANNEL_MENTIONS = ((" on email", ("EMAIL",)), (" by text", ("SMS",)), (" on whatsapp", ("WHATSAPP",)), (" by phone", ("PHONE",)),
                    (" or push notifications", ("PUSH",)), (" and no catalogues", ("DIRECT_MAIL",)))
TOPIC_WORDS = (("new arrivals", "new-arrivals"), ("sale", "sales"), ("sales", "sales"), ("deals", "sales"), ("offers", "sales"),
               ("events", "events"), ("sneakers", "sneakers"), ("running", "running"), ("outdoor", "outdoor"), ("kids", "kids"),
               ("sustainability", "sustainability"), ("recipes", "recipes"))
GREETINGS, CLOSINGS = ("", "Hi! ", "Hey team, ", "@brand "), ("", ".", "!!", " thanks", " \U0001f642", " - Ann")
PHRASES = st.sampled_from((("out", OPT_OUT_PHRASES),) * 3 + (("in", OPT_IN_PHRASES),) * 3 + (("interest", INTEREST_PHRASES),) * 2
                          + (("neutral", NEUTRAL_PHRASES),)).flatmap(lambda kind: st.tuples(st.just(kind[0]), st.sampled_from(kind[1])))
MENTIONS = st.lists(st.sampled_from(CHANNEL_MENTIONS), max_size=2, unique=True)
TOPIC_MENTIONS = st.lists(st.sampled_from(TOPIC_WORDS), max_size=3, unique=True)
GREETING, CLOSING, CASES = st.sampled_from(GREETINGS), st.sampled_from(CLOSINGS), st.sampled_from((str.upper, str.lower, str))
PLATFORMS, HANDLES = st.from_regex(r"[a-z0-9_]{1,12}", fullmatch=True), st.from_regex(r"[A-Za-z0-9._-]{1,30}", fullmatch=True)
AT_SIGN, SOCIAL_KINDS = st.sampled_from(("", "@")), st.sampled_from((None, "message", "mention"))
SOCIAL_MESSAGE_IDS = st.none() | st.sampled_from(("m-1", "m-2")) | ids


@dataclass(frozen=True)
class SocialText:
    """A message built from phrases, and what it says: the intent class, rule, channels and topics."""

    text: str
    kind: str  # "out", "in", "interest" or "neutral"
    rule: str
    channels: frozenset[str]
    topics: frozenset[str]


@st.composite
def social_texts(draw: st.DrawFn) -> SocialText:
    """[greeting] phrase [topics] [channel mentions] [closing], in any case."""
    kind, (phrase, rule, channels, topics) = draw(PHRASES)
    mentions, words = draw(MENTIONS), draw(TOPIC_MENTIONS)
    topic_list = " and ".join(word for word, _ in words)
    middle = f" {topic_list}" if kind == "interest" else f" for {topic_list}" if words else ""
    text = draw(GREETING) + phrase + middle + "".join(m for m, _ in mentions) + draw(CLOSING)
    text = draw(CASES)(text)
    return SocialText(text, kind, rule, frozenset(channels).union(*(c for _, c in mentions)),
                      frozenset(topics).union(topic for _, topic in words))


def social_changes(said: SocialText) -> tuple[str, str, list[dict[str, Any]]] | None:
    """(intent, rule, changes) of a message; None when it states no preference.

    An opt-out covers the channels it names, or every channel; an opt-in needs a channel (its topics
    come along); an opt-in without one, or an interest, that names topics subscribes to them."""
    subscribed = [topic(name, True) for name in sorted(said.topics)]
    if said.kind == "out":
        return "opt_out", said.rule, [consent(channel, "OPTED_OUT") for channel in sorted(said.channels or CHANNELS)]
    if said.kind == "in" and said.channels:
        return "opt_in", said.rule, [consent(channel, "OPTED_IN") for channel in sorted(said.channels)] + subscribed
    if said.kind in ("in", "interest") and said.topics:
        return "topic_interest", said.rule, subscribed
    return None


@st.composite
def social_requests(draw: st.DrawFn) -> Request:
    """A message or mention; its subject is the lower-case platform and the handle without its @."""
    said = draw(social_texts())
    platform = draw(PLATFORMS)
    handle = draw(HANDLES)
    time_text, moment = draw(PAST_TIMES)
    body = {"platform": platform.upper() if draw(st.booleans()) else platform, "handle": draw(AT_SIGN) + handle,
            "text": said.text, "time": time_text}
    message_id = draw(SOCIAL_MESSAGE_IDS)
    kind = draw(SOCIAL_KINDS)
    body |= ({"message_id": message_id} if message_id else {}) | ({"kind": kind} if kind else {})
    stated = social_changes(said)
    if stated is None:
        return json_request(SOCIAL_PATH, body, Quiet({"status": "no preference found", "intent": None, "event_id": None}))
    intent, rule, changes = stated
    identity = ("social", platform, message_id) if message_id else ("social", platform, handle, moment, said.text.strip())
    return json_request(SOCIAL_PATH, body, Publishes(
        f"social:{platform}:{handle}", changes, customer_source("SOCIAL", f"social-{platform}-{kind or 'message'}", message_id),
        proof("WRITTEN", notice_version=f"social-rule:{rule}"), identity, occurred_at=moment, ordered=False,
        answer={"status": "accepted", "intent": intent}))


def refused_social(valid: Request) -> st.SearchStrategy[Request]:
    """`valid` made unacceptable in one way."""
    fields = json.loads(valid.body)
    bad = Refused(400, "invalid_input")

    def body(changed: Any, outcome: Outcome = bad) -> Request:
        return replace(valid, body=json.dumps(changed).encode(), outcome=outcome)
    required = st.sampled_from(["platform", "handle", "text", "time"])
    mutations = [
        required.map(lambda name: body({k: v for k, v in fields.items() if k != name})),
        st.tuples(required, st.sampled_from(WRONG_TYPES + ("", " "))).map(lambda nv: body(fields | {nv[0]: nv[1]})),
        st.sampled_from(["ann b", "a:b", "@"]).map(lambda handle: body(fields | {"handle": handle})),
        st.sampled_from(["insta-gram", "insta gram", "x" * 33]).map(lambda platform: body(fields | {"platform": platform})),
        st.sampled_from(["post", "dm", 3]).map(lambda kind: body(fields | {"kind": kind})),
        st.sampled_from(BAD_TIMES).map(lambda time: body(fields | {"time": time})),
        st.just(body(fields | {"text": "unsubscribe " + "!" * 5000})),
        st.just(body([fields])),
        truncated(valid.body).map(lambda raw: replace(valid, body=raw, outcome=Refused(400, "malformed_json"))),
        st.just(body(fields | {"padding": "x" * OVERSIZED}, Refused(413, "body_too_large"))),
    ]
    if isinstance(valid.outcome, Publishes):
        mutations.append(st.just(body(fields | {"time": iso(FAR_FUTURE, UTC, True)}, Refused(400, "future_time"))))
    return st.one_of(mutations)


# -- call center -----------------------------------------------------------------------------------

CALL_CENTER_PATH = "/call-center/events"
PROOF_METHODS = ("VERBAL", "WRITTEN", "IMPORTED", "OTHER")
LEGAL_BASES = ("CONSENT", "CONTRACT", "LEGAL_OBLIGATION", "VITAL_INTERESTS", "PUBLIC_TASK", "LEGITIMATE_INTERESTS", "UNSPECIFIED")
TIME_ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata")
hh_mm = st.tuples(st.integers(0, 23), st.integers(0, 59)).map(lambda hm: f"{hm[0]:02d}:{hm[1]:02d}")
channels = st.sampled_from(CHANNELS)
channel_lists = st.lists(channels, max_size=3)


def same(values: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[Any, Any]]:
    """(JSON value, the value it stands for in the event) pairs of values that stand for themselves."""
    return values.map(lambda value: (value, value))


CHANGE_KINDS = st.sampled_from(
    ("consent", "topic", "frequency", "pause", "quiet_hours", "contact", "attribute", "suppression", "erasure"))
STATUSES = ("OPTED_IN", "OPTED_OUT", "PENDING")
PURPOSES, ACTIONS, ATTRIBUTE_KEYS = ("marketing", "service", "newsletter"), ("ADD", "REMOVE", "MAKE_PRIMARY"), ("size", "store", "pet")
TOPIC_NAMES = st.from_regex(r"[a-z][a-z-]{0,15}", fullmatch=True)
INTERACTION_IDS = st.sampled_from(("call-1", "call-2")) | ids
FREQUENCY_TOPICS = same(st.sampled_from(("sales", "news")))
CADENCE_VALUES = same(st.sampled_from(("REALTIME", "DAILY", "WEEKLY", "MONTHLY")))
WEEKLY_LIMITS = same(st.integers(0, 2**31 - 1))
ATTRIBUTE_VALUES, QUESTIONS = same(st.sampled_from(("M", "York", "cat"))), same(st.just("Which size?"))
SUPPRESSION_REASONS = same(st.sampled_from(("BOUNCE", "CUSTOMER_REQUEST", "DNC_LIST", "FRAUD", "LEGAL", "OTHER")))
ERASURE_REASONS, CONTACT_POINTS, CHANNEL_VALUES = same(st.just("asked on the phone")), same(emails | phones), same(channels)
NOTICE_VERSIONS, LOCALES = same(st.sampled_from(("script-v3", "terms-2026"))), same(st.sampled_from(("en-GB", "fr-FR")))
RECORDINGS, LEGAL_BASIS_VALUES, REQUEST_IDS = same(ids), same(st.sampled_from(LEGAL_BASES)), same(st.sampled_from(("r-1", "r-2")) | ids)


def optional(draw: st.DrawFn, item: dict[str, Any], change: dict[str, Any], name: str, values: st.SearchStrategy[tuple[Any, Any]],
             default: Any, null_means: Any = None) -> None:
    """Leave `name` out (the event gets `default`), send null (`null_means`) or a drawn value."""
    state = draw(OPTIONAL_STATES)
    if state == ABSENT:
        change[name] = default
    elif state == NULL:
        item[name], change[name] = None, null_means
    else:
        item[name], change[name] = draw(values)


times = PAST_TIMES | st.just((iso(FAR_FUTURE, UTC, True), FAR_FUTURE))  # expiries may lie in the future
contact_values = st.sampled_from(["EMAIL", "PHONE", "LOYALTY", "SOCIAL", "OTHER", "POSTAL"]).flatmap(lambda kind: st.tuples(
    st.just(kind), {"EMAIL": emails, "PHONE": phones, "LOYALTY": ids, "SOCIAL": st.just("instagram:ann.b"),
                    "OTHER": st.just("fax 0123"), "POSTAL": st.just("1 High St, York")}[kind]))


@st.composite
def agent_changes(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A change as the agent desktop sends it, and the change the event must carry (defaults filled)."""
    kind = draw(CHANGE_KINDS)
    item: dict[str, Any] = {"type": kind}
    change: dict[str, Any] = {}
    if kind == "consent":
        item["channel"] = change["channel"] = draw(channels)
        optional(draw, item, change, "contact_point", CONTACT_POINTS, None)
        item["status"] = change["status"] = draw(st.sampled_from(STATUSES))
        change["purpose"] = item["purpose"] = draw(st.sampled_from(PURPOSES))
        if draw(st.booleans()):
            del item["purpose"]
            change["purpose"] = "marketing"
        optional(draw, item, change, "expires_at", times, None)
        change = {name: change[name] for name in ("channel", "contact_point", "purpose", "status", "expires_at")}
    elif kind == "topic":
        item["topic"] = change["topic"] = draw(TOPIC_NAMES)
        item["subscribed"] = change["subscribed"] = draw(st.booleans())
        change["channels"] = item["channels"] = draw(channel_lists)
        if draw(st.booleans()):
            del item["channels"]
            change["channels"] = []
    elif kind == "frequency":
        optional(draw, item, change, "channel", CHANNEL_VALUES, None)
        optional(draw, item, change, "topic", FREQUENCY_TOPICS, None)
        optional(draw, item, change, "cadence", CADENCE_VALUES, None)
        optional(draw, item, change, "max_per_week", WEEKLY_LIMITS, None)
    elif kind == "pause":
        change["channels"] = item["channels"] = draw(channel_lists)
        if draw(st.booleans()):
            del item["channels"]
            change["channels"] = []
        optional(draw, item, change, "until", times, None)
    elif kind == "quiet_hours":
        if draw(st.booleans()):
            item["start"], item["end"] = change["start"], change["end"] = draw(hh_mm), draw(hh_mm)
        else:
            change["start"] = change["end"] = None
        change["time_zone"] = item["time_zone"] = draw(st.sampled_from(TIME_ZONES))
        if draw(st.booleans()):
            del item["time_zone"]
            change["time_zone"] = "UTC"
    elif kind == "contact":
        item["kind"], item["value"] = change["kind"], change["value"] = draw(contact_values)
        change["action"] = item["action"] = draw(st.sampled_from(ACTIONS))
        if draw(st.booleans()):
            del item["action"]
            change["action"] = "ADD"
    elif kind == "attribute":
        item["key"] = change["key"] = draw(st.sampled_from(ATTRIBUTE_KEYS))
        optional(draw, item, change, "value", ATTRIBUTE_VALUES, None)
        optional(draw, item, change, "question", QUESTIONS, None)
    elif kind == "suppression":
        optional(draw, item, change, "channel", CHANNEL_VALUES, None)
        change["active"] = item["active"] = draw(st.booleans())
        if draw(st.booleans()):
            del item["active"]
            change["active"] = True
        optional(draw, item, change, "reason", SUPPRESSION_REASONS, "CUSTOMER_REQUEST", null_means="CUSTOMER_REQUEST")
    else:
        optional(draw, item, change, "reason", ERASURE_REASONS, None)
    return item, change


subjects = st.one_of(st.from_regex(r"[A-Za-z0-9._-]{1,40}", fullmatch=True), emails.map(lambda e: f"email:{e}"),
                     phones.map(lambda p: f"phone:{p}"), ids.map(lambda i: f"loyalty:{i}"), st.just("social:instagram:ann.b"))


AGENT_CHANGE_LISTS = st.lists(agent_changes(), min_size=1, max_size=4)
METHODS = st.sampled_from(PROOF_METHODS)


@st.composite
def agent_proofs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A proof as sent, and as recorded (recording_ref required for VERBAL; legal basis CONSENT by default)."""
    method = draw(METHODS)
    sent: dict[str, Any] = {"method": method}
    recorded = proof(method)
    if method == "VERBAL":
        sent["recording_ref"] = recorded["recording_ref"] = draw(ids)
    else:
        optional(draw, sent, recorded, "recording_ref", RECORDINGS, None)
    optional(draw, sent, recorded, "notice_version", NOTICE_VERSIONS, None)
    optional(draw, sent, recorded, "locale", LOCALES, None)
    optional(draw, sent, recorded, "legal_basis", LEGAL_BASIS_VALUES, "CONSENT", null_means="CONSENT")
    return sent, recorded


@st.composite
def call_center_requests(draw: st.DrawFn) -> Request:
    """What an agent records: the changes in the order given, defaults filled; the same request id, the same event id."""
    agent_id, interaction_id, customer = draw(ids), draw(INTERACTION_IDS), draw(subjects)
    sent_proof, recorded_proof = draw(agent_proofs())
    pairs = draw(AGENT_CHANGE_LISTS)
    body: dict[str, Any] = {"agent_id": agent_id, "interaction_id": interaction_id, "customer": customer,
                            "proof": sent_proof, "changes": [item for item, _ in pairs]}
    occurred: dict[str, Any] = {}
    optional(draw, body, occurred, "occurred_at", PAST_TIMES, None)
    request_id: dict[str, Any] = {}
    optional(draw, body, request_id, "request_id", REQUEST_IDS, None)
    identity = ("call-center", interaction_id, request_id["request_id"]) if request_id["request_id"] else None
    source = {"touchpoint": "CALL_CENTER", "system": "call-center-desktop", "actor": {"type": "AGENT", "id": agent_id},
              "interaction_id": interaction_id}
    return json_request(CALL_CENTER_PATH, body, Publishes(customer, [change for _, change in pairs], source, recorded_proof,
                                                          identity, occurred_at=occurred["occurred_at"]))


BAD_CHANGES = (  # (change, DLQ reason): refused by the adapter's parsing
    ({"type": "mood"}, "invalid_input"), ({"type": "topic", "topic": "x", "subscribed": "yes"}, "invalid_input"),
    ({"type": "consent", "channel": "EMAIL"}, "invalid_input"), ({"type": "erasure", "colour": "red"}, "invalid_input"),
    ({"type": "frequency", "max_per_week": True}, "invalid_input"), ({"type": "pause", "channels": "EMAIL"}, "invalid_input"),
    ({"type": "pause", "until": "soon"}, "invalid_input"), (42, "invalid_input"),
    # well-formed, but not a PreferenceEvent: refused by event validation or encoding
    ({"type": "consent", "channel": "FAX", "status": "OPTED_IN"}, "invalid_event"),
    ({"type": "consent", "channel": "SMS", "status": "MAYBE"}, "invalid_event"),
    ({"type": "frequency", "cadence": "HOURLY"}, "invalid_event"),
    ({"type": "suppression", "reason": "BORED"}, "invalid_event"),
    ({"type": "quiet_hours", "start": "25:00", "end": "07:00"}, "invalid_event"),
    ({"type": "contact", "kind": "EMAIL", "value": "not-an-email"}, "invalid_event"),
    ({"type": "contact", "kind": "FAX", "value": "0123"}, "unencodable"),
)


def refused_call_center(valid: Request) -> st.SearchStrategy[Request]:
    """`valid` made unacceptable in one way."""
    fields = json.loads(valid.body)
    bad = Refused(400, "invalid_input")

    def body(changed: Any, outcome: Outcome = bad) -> Request:
        return replace(valid, body=json.dumps(changed).encode(), outcome=outcome)
    required = st.sampled_from(["agent_id", "interaction_id", "customer", "proof", "changes"])
    return st.one_of(
        required.map(lambda name: body({k: v for k, v in fields.items() if k != name})),
        st.sampled_from([{"method": "VERBAL"}, {"method": "verbal", "recording_ref": "r"}, {"method": "EMAIL"}, "WRITTEN"])
        .map(lambda sent: body(fields | {"proof": sent})),
        st.just(body(fields | {"proof": fields["proof"] | {"legal_basis": "WHIM"}}, Refused(400, "invalid_event"))),
        st.sampled_from(["phone:0415 555", "fax:123", "a b", "email:ann"]).map(lambda who: body(fields | {"customer": who})),
        st.sampled_from([[], [{"type": "erasure"}] * 51, {"type": "erasure"}]).map(lambda changes: body(fields | {"changes": changes})),
        st.sampled_from(BAD_CHANGES).map(lambda bad_change: body(fields | {"changes": fields["changes"] + [bad_change[0]]},
                                                                  Refused(400, bad_change[1]))),
        st.just(body(fields | {"note": "called back"})),
        st.sampled_from(BAD_TIMES).map(lambda time: body(fields | {"occurred_at": time})),
        st.just(body(fields | {"occurred_at": iso(FAR_FUTURE, UTC, True)}, Refused(400, "future_time"))),
        st.just(body([fields])),
        truncated(valid.body).map(lambda raw: replace(valid, body=raw, outcome=Refused(400, "malformed_json"))),
        st.just(body(fields | {"request_id": "x" * OVERSIZED}, Refused(413, "body_too_large"))),
    )


# -- web preference center -------------------------------------------------------------------------

WEB_TOPICS = ("offers", "new-arrivals", "events")
WEB_QUESTIONS = {  # the shipped questions: key -> (question, choices offered; none: free text)
    "interests": ("Which products interest you most?", ("Women", "Men", "Kids", "Home")),
    "size": ("Which clothing size do you usually wear?", ("XS", "S", "M", "L", "XL")),
    "preferred_store": ("Which store do you visit most?", ()),
    "birthday_month": ("In which month is your birthday?", ("January", "June", "December")),
}
FIRST_VISIT_QUESTIONS = ("interests", "size", "preferred_store")  # what a page asks someone who answered none
CADENCES = ("REALTIME", "DAILY", "WEEKLY", "MONTHLY")
PAUSE_DAYS = (7, 30, 90)
NOTICE_VERSION, LOCALE = "web-notice-2026-03", "en-GB"


@dataclass(frozen=True)
class WebSite:
    """Where the preference center of one customer is: its link token, CSRF token, clock and user agent."""

    customer_id: str
    token: str
    csrf: str
    now: datetime
    user_agent: str = "fuzz-browser/1.0"


web_topics, cadences = st.sampled_from(WEB_TOPICS), st.none() | st.sampled_from(CADENCES)
# what the query API knows of the customer: some consents, topics, an address, a cadence
shown_values = st.builds(Current, consents=st.dictionaries(channels, st.sampled_from(STATUSES), max_size=4),
                         topics=st.dictionaries(web_topics, st.booleans()), email=st.none() | emails, cadence=cadences)


def web_changes(shown: Current, asked: dict[str, Any], now: datetime) -> list[dict[str, Any]] | None:
    """The changes a request makes against what is shown; None when it must be refused.

    `asked` holds what the request sets: consents, topics, answers (dicts), cadence, pause ("keep",
    "resume" or days), quiet ((start, end, zone) or None), email, phone; absent keys keep their value.
    Email consent needs an address and goes to PENDING (double opt-in) unless already given for it;
    the other channels go to OPTED_IN / OPTED_OUT; nothing already so is restated."""
    changes: list[dict[str, Any]] = []
    email = asked.get("email", shown.email)
    if (email or "").lower() != (shown.email or "").lower():
        changes += ([contact("EMAIL", email, "MAKE_PRIMARY")] if email else []) + \
                   ([contact("EMAIL", shown.email, "REMOVE")] if shown.email else [])
    if asked.get("phone"):
        changes.append(contact("PHONE", asked["phone"], "MAKE_PRIMARY"))
    consents = asked.get("consents", {})
    had_email = shown.consents.get("EMAIL") in ("OPTED_IN", "PENDING")
    if not consents.get("EMAIL", had_email):
        changes += [consent("EMAIL", "OPTED_OUT")] if had_email else []
    elif email is None:
        if "EMAIL" in consents:
            return None
    elif not (had_email and (shown.email or "").lower() == email.lower()):
        changes.append(consent("EMAIL", "PENDING", email))
    for channel, wanted in consents.items():
        if channel != "EMAIL" and wanted != (shown.consents.get(channel) == "OPTED_IN"):
            changes.append(consent(channel, "OPTED_IN" if wanted else "OPTED_OUT"))
    changes += [topic(name, wanted) for name, wanted in asked.get("topics", {}).items() if wanted != shown.topics.get(name, False)]
    if "cadence" in asked and asked["cadence"] != shown.cadence:
        changes.append({"channel": None, "topic": None, "cadence": asked["cadence"], "max_per_week": None})
    if isinstance(asked.get("pause"), int):
        changes.append({"channels": [], "until": now + timedelta(days=asked["pause"])})
    if asked.get("quiet"):
        start, end, zone = asked["quiet"]
        changes.append({"start": start, "end": end, "time_zone": zone})
    changes += [{"key": key, "value": value, "question": WEB_QUESTIONS[key][0]} for key, value in asked.get("answers", {}).items()]
    return changes


def web_outcome(site: WebSite, shown: Current, asked: dict[str, Any], json_answer: bool) -> Outcome:
    """One event of the customer (proof CLICKWRAP) with every change, nothing when none, or a refusal."""
    changes = web_changes(shown, asked, site.now)
    if changes is None:
        return Refused(400, "invalid_input")
    if not changes:
        return Quiet({"accepted": False, "changes": 0} if json_answer else {})
    pending = any(change.get("status") == "PENDING" for change in changes)
    return Publishes(site.customer_id, changes, customer_source("WEB", "web-preference-center", None, site.customer_id),
                     proof("CLICKWRAP", notice_version=NOTICE_VERSION, locale=LOCALE, ip="127.0.0.1", user_agent=site.user_agent),
                     None, occurred_at=site.now, recorded_at=site.now, ordered=False,
                     answer={"accepted": True, "changes": len(changes), "email_confirmation_sent": pending} if json_answer else {})


answers = st.sampled_from(sorted(WEB_QUESTIONS)).flatmap(lambda key: st.tuples(
    st.just(key), st.sampled_from(WEB_QUESTIONS[key][1]) if WEB_QUESTIONS[key][1] else st.sampled_from(("York", "Leeds"))))
SOME_ANSWERS = st.lists(answers, min_size=1, max_size=3, unique_by=lambda answer: answer[0])
FIRST_VISIT_ANSWERS = st.lists(answers.filter(lambda answer: answer[0] in FIRST_VISIT_QUESTIONS), max_size=3,
                               unique_by=lambda answer: answer[0])
quiet_hours = st.tuples(hh_mm, hh_mm, st.sampled_from(TIME_ZONES))
JSON_SETTINGS = (("cadence", cadences), ("pause", st.sampled_from(("keep", "resume", *PAUSE_DAYS))), ("phone", st.none() | phones))
SECTIONS = (("consents", st.dictionaries(channels, st.booleans(), min_size=1)),
            ("topics", st.dictionaries(web_topics, st.booleans(), min_size=1)))
FORM_CADENCES, FORM_PAUSES = st.sampled_from(("", *CADENCES)), st.sampled_from(("keep", "resume", *map(str, PAUSE_DAYS)))


@st.composite
def web_json_requests(draw: st.DrawFn, site: WebSite) -> Request:
    """A JSON API post setting some of the values; absent ones keep theirs."""
    shown = draw(shown_values)
    asked: dict[str, Any] = {}
    body: dict[str, Any] = {}
    for name, values in SECTIONS + JSON_SETTINGS:
        if draw(st.booleans()):
            asked[name] = body[name] = draw(values)
    if draw(st.booleans()):  # a new address, none, or the shown one in other case
        asked["email"] = body["email"] = draw(st.none() | emails | st.just(shown.email and shown.email.upper()))
    if draw(st.booleans()):
        quiet = draw(st.none() | quiet_hours)
        asked["quiet"] = quiet
        body["quiet_hours"] = None if quiet is None else {"start": quiet[0], "end": quiet[1], "time_zone": quiet[2]}
        if quiet is not None and quiet[2] == "UTC" and draw(st.booleans()):
            del body["quiet_hours"]["time_zone"]  # UTC by default
    if draw(st.booleans()):
        asked["answers"] = body["answers"] = dict(draw(SOME_ANSWERS))
    headers = {"X-CSRF-Token": site.csrf, "User-Agent": site.user_agent}
    return json_request(f"/api/p/{site.token}/preferences", body, web_outcome(site, shown, asked, json_answer=True),
                        headers=headers, shown=shown)


@st.composite
def web_form_requests(draw: st.DrawFn, site: WebSite) -> Request:
    """A post of the page's form: every box and field it shows is set (an unticked box is False)."""
    shown = draw(shown_values)
    ticked, topics_ticked = draw(st.sets(channels)), draw(st.sets(web_topics))
    cadence = draw(FORM_CADENCES)
    pause = draw(FORM_PAUSES)
    quiet = draw(st.none() | quiet_hours)
    email = draw(st.sampled_from(("", shown.email or "", (shown.email or "").upper())) | emails)
    phone = draw(st.just("") | phones)
    given = dict(draw(FIRST_VISIT_ANSWERS))
    pairs = [(f"consent.{c}", "on") for c in sorted(ticked)] + [(f"topic.{t}", "on") for t in sorted(topics_ticked)]
    pairs += [("cadence", cadence), ("pause", pause), ("email", email), ("phone", phone)]
    if quiet:
        pairs += [("quiet_start", quiet[0]), ("quiet_end", quiet[1]), ("quiet_zone", quiet[2])]
    else:
        pairs += [("quiet_start", ""), ("quiet_end", "")]
    pairs += [(f"answer.{key}", value) for key, value in given.items()] + [("csrf", site.csrf)]
    asked = {"consents": {c: c in ticked for c in CHANNELS}, "topics": {t: t in topics_ticked for t in WEB_TOPICS},
             "cadence": cadence or None, "pause": int(pause) if pause.isdigit() else pause, "quiet": quiet,
             "email": email or None, "phone": phone or None, "answers": given}
    return form_request(f"/p/{site.token}", draw(st.permutations(pairs)), web_outcome(site, shown, asked, json_answer=False),
                        headers={"User-Agent": site.user_agent}, shown=shown)


BAD_WEB_VALUES = (  # JSON fields no preference center accepts
    {"consents": {"FAX": True}}, {"consents": {"SMS": "yes"}}, {"consents": ["SMS"]}, {"topics": {"gossip": True}},
    {"cadence": "HOURLY"}, {"cadence": 3}, {"pause": 100_000}, {"pause": "forever"},
    {"quiet_hours": {"start": "25:00", "end": "07:00"}}, {"quiet_hours": {"start": "22:00", "end": "07:00", "time_zone": "Mars/Base"}},
    {"quiet_hours": {"start": "22:00"}}, {"email": "not-an-email"}, {"email": 7}, {"phone": "0415 555 0100"},
    {"answers": {"size": "XXXL"}}, {"answers": {"shoe": "42"}}, {"mood": "happy"},
)
BAD_FORM_FIELDS = (  # form fields no preference center accepts (set together)
    {"email": "not-an-email"}, {"phone": "0415 555 0100"}, {"cadence": "HOURLY"}, {"pause": "forever"}, {"pause": "100000"},
    {"quiet_start": "25:00"}, {"quiet_start": "22:00", "quiet_end": "07:00", "quiet_zone": "Mars/Base"}, {"answer.size": "XXXL"},
)


def refused_web(valid: Request) -> st.SearchStrategy[Request]:
    """`valid` made unacceptable in one way."""
    if valid.content_type == FORM:
        pairs = [tuple(pair.split("=", 1)) for pair in valid.body.decode().split("&")]

        def setting(bad: dict[str, str]) -> Request:
            kept = [(name, value) for name, value in pairs if name not in bad]
            return replace(valid, body="&".join(f"{n}={v}" for n, v in kept).encode() + b"&" + urlencode(bad).encode(),
                           outcome=Refused(400, "invalid_input"))
        return st.one_of(
            st.sampled_from(BAD_FORM_FIELDS).map(setting),
            st.just(replace(valid, body=valid.body + b"&note=\xff", outcome=Refused(400, "malformed_form"))),
            st.just(replace(valid, body=valid.body + b"&note=" + b"x" * OVERSIZED, outcome=Refused(413, "body_too_large"))),
        )
    fields = json.loads(valid.body)

    def body(changed: Any, outcome: Outcome = Refused(400, "invalid_input")) -> Request:
        return replace(valid, body=json.dumps(changed).encode(), outcome=outcome)
    return st.one_of(
        st.sampled_from(BAD_WEB_VALUES).map(lambda bad: body(fields | bad)),
        st.just(body([fields])),
        truncated(valid.body).map(lambda raw: replace(valid, body=raw, outcome=Refused(400, "malformed_json"))),
        st.just(body(fields | {"padding": "x" * OVERSIZED}, Refused(413, "body_too_large"))),
    )
