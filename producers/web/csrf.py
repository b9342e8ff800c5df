"""CSRF tokens: an HMAC of the signed link the page was opened with.

The link already binds the customer and its expiry, so a token is valid only for that customer,
that link and the forms served under it; a page of another customer or another link cannot
forge one without the server's secret.
"""

from __future__ import annotations

import hashlib
import hmac


def csrf_token(secret: bytes, link_token: str) -> str:
    """The CSRF token of the forms served under `link_token`."""
    return hmac.new(secret, b"prefstream-csrf\x00" + link_token.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, link_token: str, submitted: str | None) -> bool:
    """Whether `submitted` is the CSRF token of `link_token` (constant-time)."""
    if not submitted:
        return False
    return hmac.compare_digest(submitted.encode(), csrf_token(secret, link_token).encode())
