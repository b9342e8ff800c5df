"""The purposes a customer may be contacted for, as configured: a marketing purpose needs the customer's
consent; a transactional one (service messages, billing) may hold without any, and a pause does not stop it.

Configured in `prefstream.toml`, one table per purpose; without any, `DEFAULT_PURPOSES` hold:

    [purposes.marketing]
    description = "Offers, newsletters and other promotion"
    kind = "marketing"            # marketing | transactional
    without_consent = false       # may the customer be contacted for it when they never said anything

The first purpose is the one a profile's `reachable` is for ("marketing" unless configured otherwise).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from prefstream.errors import EXIT_SETUP, PrefstreamError

MARKETING, TRANSACTIONAL = "marketing", "transactional"
_ID = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class PurposeError(PrefstreamError):
    """A purpose in the configuration is malformed; the message names it and the setting."""

    exit_code = EXIT_SETUP


@dataclass(frozen=True)
class Purpose:
    """One purpose: its id (as in a ChannelConsent's `purpose`), what it is for, and its rules."""

    id: str
    description: str
    kind: str = MARKETING
    without_consent: bool = False

    @property
    def marketing(self) -> bool:
        """Whether a pause stops messages of this purpose (a pause snoozes promotion, not the customer's bills)."""
        return self.kind == MARKETING


DEFAULT_PURPOSES: tuple[Purpose, ...] = (
    Purpose("marketing", "Offers, newsletters and other promotion"),
    Purpose("service", "Messages about the customer's orders, appointments and account", TRANSACTIONAL, True),
    Purpose("billing", "Bills and statements, paper or paperless", TRANSACTIONAL, True),
)


def load_purposes(table: dict[str, Any] | None) -> tuple[Purpose, ...]:
    """The purposes of a `[purposes]` table (`DEFAULT_PURPOSES` when there is none); PurposeError names what is wrong."""
    if not table:
        return DEFAULT_PURPOSES
    purposes = []
    for purpose_id, settings in table.items():
        where = f"[purposes.{purpose_id}]"
        if not _ID.fullmatch(purpose_id):
            raise PurposeError(f"{where}: a purpose id is lowercase letters, digits, '-' or '_' (at most 32)")
        if not isinstance(settings, dict):
            raise PurposeError(f"{where} must be a table")
        unknown = sorted(set(settings) - {"description", "kind", "without_consent"})
        if unknown:
            raise PurposeError(f"{where}: unknown setting(s) {', '.join(unknown)}")
        kind = settings.get("kind", MARKETING)
        if kind not in (MARKETING, TRANSACTIONAL):
            raise PurposeError(f"{where}: kind must be {MARKETING} or {TRANSACTIONAL}")
        without_consent = settings.get("without_consent", kind == TRANSACTIONAL)
        if not isinstance(without_consent, bool):
            raise PurposeError(f"{where}: without_consent must be true or false")
        description = settings.get("description", "")
        if not isinstance(description, str):
            raise PurposeError(f"{where}: description must be text")
        purposes.append(Purpose(purpose_id, description, kind, without_consent))
    return tuple(purposes)
