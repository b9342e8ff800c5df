"""Which profile an event is folded into: the routing rule shared by the processor and replay.

- A customer-id subject is folded into that customer's profile.
- An identifier subject (email:, phone:, loyalty:, social:) is resolved to the customer that
  claims it and folded there (through the `prefstream-customer-events` topic, keyed by customer).
- An identifier event that restricts contact (opt-out, unsubscribe, suppression) is *also*
  folded under the identifier's own key, always, whether or not the identifier is known yet: an
  SMS STOP from an unknown phone suppresses that phone at once, and the identifier's profile is a
  function of the log alone, so `prefstream verify` can rebuild it.
"""

from __future__ import annotations

from typing import Any

from processors.domain.fold import is_restrictive


def restricts_contact(event: dict[str, Any]) -> bool:
    """Whether an event opts out, unsubscribes or suppresses anything."""
    return any(is_restrictive(change) for change in event["changes"])
