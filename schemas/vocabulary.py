"""The enums of the contract, read from the current PreferenceEvent schema: one source for every stage.

Each is a tuple in the schema's order (the order of `reachable` on a profile follows CHANNELS).
An enum's default symbol, what a newer writer's symbol reads as, is left out where no producer may
write it (Channel's UNKNOWN).
"""

from __future__ import annotations

from typing import Any

from fastavro import parse_schema

from schemas.codec import EVENTS

_NAMED: dict[str, Any] = {}
parse_schema(EVENTS.current, named_schemas=_NAMED)


def symbols(name: str) -> tuple[str, ...]:
    """The symbols of the event schema's enum `name` (e.g. "Channel"), in the schema's order."""
    return tuple(_NAMED[f"io.prefstream.{name}"]["symbols"])


CHANNELS = tuple(symbol for symbol in symbols("Channel") if symbol != "UNKNOWN")
CONSENT_STATUSES = symbols("ConsentStatus")
CADENCES = symbols("Cadence")
TOUCHPOINTS = symbols("Touchpoint")
PROOF_METHODS = symbols("ProofMethod")
