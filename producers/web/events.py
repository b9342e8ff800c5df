"""The PreferenceEvent a web submission becomes: source WEB, actor CUSTOMER, and its proof."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SYSTEM = "web-preference-center"
MAX_USER_AGENT = 512


@dataclass(frozen=True)
class ProofContext:
    """What the customer saw and from where they answered."""

    notice_version: str
    locale: str
    ip: str | None
    user_agent: str | None


def web_event(customer_id: str, changes: list[dict[str, Any]], proof: ProofContext, now: datetime,
              *, method: str = "CLICKWRAP", interaction_id: str | None = None) -> dict[str, Any]:
    """A PreferenceEvent for `changes` the customer made just now on the web."""
    return {
        "event_id": uuid.uuid4().hex,
        "subject": customer_id,
        "occurred_at": now,
        "recorded_at": now,
        "source": {
            "touchpoint": "WEB",
            "system": SYSTEM,
            "actor": {"type": "CUSTOMER", "id": customer_id},
            "interaction_id": interaction_id,
        },
        "proof": {
            "method": method,
            "notice_version": proof.notice_version,
            "locale": proof.locale,
            "ip": proof.ip,
            "user_agent": (proof.user_agent or "")[:MAX_USER_AGENT] or None,
            "recording_ref": None,
            "legal_basis": "CONSENT",
        },
        "changes": changes,
    }
