"""Signed, expiring links: HMAC-SHA256 over (purpose, customer id, expiry, extra).

A token is `base64url(payload).base64url(mac)`, the payload a compact JSON array. The purpose
("access", "confirm-email") keeps one kind of link from being used as another; `extra` binds a
link to one more value (the email address a confirmation link confirms).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from prefstream.errors import PrefstreamError
from schemas.subjects import is_customer_id

ACCESS = "access"
CONFIRM_EMAIL = "confirm-email"


class LinkError(PrefstreamError):
    """A link that must be refused; `reason` is "expired" or "invalid"."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"link {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Claims:
    """What a link grants: `purpose` for `customer_id` until `expires` (epoch seconds)."""

    purpose: str
    customer_id: str
    expires: int
    extra: str = ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, b"prefstream-link\x00" + payload, hashlib.sha256).digest()


def sign(secret: bytes, claims: Claims) -> str:
    """The token of `claims`; ValueError for a customer id that is not one."""
    if not is_customer_id(claims.customer_id):
        raise ValueError("not a customer id")
    payload = json.dumps([claims.purpose, claims.customer_id, claims.expires, claims.extra], separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def verify(secret: bytes, token: str, purpose: str, now: float) -> Claims:
    """The claims of a genuine, unexpired token of `purpose`; LinkError otherwise."""
    encoded, _, mac = token.partition(".")
    try:
        payload, given = _unb64(encoded), _unb64(mac)
    except (binascii.Error, ValueError):
        raise LinkError("invalid") from None
    if _b64(payload) != encoded or _b64(given) != mac:  # base64 ignores stray bits: only canonical text
        raise LinkError("invalid")
    if not hmac.compare_digest(given, _mac(secret, payload)):
        raise LinkError("invalid")
    kind, customer_id, expires, extra = json.loads(payload)
    if kind != purpose:
        raise LinkError("invalid")
    if now >= expires:
        raise LinkError("expired")
    return Claims(kind, customer_id, expires, extra)
