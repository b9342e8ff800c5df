"""The subject of an event: a customer id, or an identifier that resolves to one.

Exact syntax (the first `:` separates kind and value; a customer id never contains `:`):

    customer id   [A-Za-z0-9._-]{1,128}                     cust-42
    email         email:<address>, lower-cased by `identifier`  email:ann@example.com
    phone         phone:<E.164>  (+, then 2-15 digits)      phone:+14155550100
    loyalty       loyalty:[A-Za-z0-9_-]{1,64}               loyalty:L-123
    social        social:<platform [a-z0-9_]{1,32}>:<handle, no spaces or colons>
                                                            social:instagram:ann.b
"""

from __future__ import annotations

import re
from typing import NamedTuple

IDENTIFIER_KINDS = ("email", "phone", "loyalty", "social")
CUSTOMER_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
E164 = re.compile(r"\+[1-9]\d{1,14}")
EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"  # the local part
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"  # the domain's first label
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"  # and at least one more
)
SOCIAL = re.compile(r"[a-z0-9_]{1,32}:[^\s:]{1,100}")
LOYALTY = re.compile(r"[A-Za-z0-9_-]{1,64}")

_VALUE_RULES = {"email": EMAIL, "phone": E164, "loyalty": LOYALTY, "social": SOCIAL}
_VALUE_MESSAGES = {
    "email": "not a valid email address",
    "phone": "not an E.164 phone number (+ and up to 15 digits)",
    "loyalty": "not a valid loyalty id",
    "social": "not platform:handle",
}


class Subject(NamedTuple):
    """A parsed subject: kind is "customer" or an identifier kind; value is the rest."""

    kind: str
    value: str


def parse_subject(subject: str) -> Subject:
    """Split a subject into kind and value; ValueError (without the value) when malformed."""
    problem = subject_problem(subject)
    if problem:
        raise ValueError(f"malformed subject: {problem}")
    if is_customer_id(subject):
        return Subject("customer", subject)
    kind, _, value = subject.partition(":")
    return Subject(kind, value)


def is_customer_id(subject: str) -> bool:
    """Whether the subject names a customer directly (no resolution needed)."""
    return CUSTOMER_ID.fullmatch(subject) is not None


def identifier(kind: str, value: str) -> str:
    """The subject string of an identifier, e.g. identifier("phone", "+15551234567")."""
    return f"{kind}:{value.lower() if kind == 'email' else value}"


def subject_problem(subject: str) -> str | None:
    """Why a subject is malformed, or None when it is well formed. Never echoes the value."""
    if is_customer_id(subject):
        return None
    kind, sep, value = subject.partition(":")
    if not sep or kind not in IDENTIFIER_KINDS:
        return "not a customer id nor email:, phone:, loyalty: or social:<platform>: identifier"
    if _VALUE_RULES[kind].fullmatch(value) is None:
        return _VALUE_MESSAGES[kind]
    return None


def value_problem(kind: str, value: str) -> str | None:
    """Why a contact value of an identifier kind is malformed, or None."""
    rule = _VALUE_RULES.get(kind)
    if rule is None or rule.fullmatch(value):
        return None
    return _VALUE_MESSAGES[kind]
