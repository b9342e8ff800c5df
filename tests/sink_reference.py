"""A deliberately simple reference of what a business unit receives, for the sink tests: no import
of `sinks/`.

Written from docs/sinks.md: a projected profile is `customer_id`, `version`, `updated_at`
and exactly the configured `sections`; `purposes` keeps only the consents of those purposes;
provenance is dropped wherever it appears unless `include_provenance = true`; times are ISO-8601
UTC with milliseconds and a `Z`. A profile that fails the filter (`reachable_on`: reachable on
one of those channels; `consent`: an opt-in for that channel and purpose) is delivered as a
delete; an erasure (tombstone) is a delete with no version. The unit's settings are given as
written in the TOML file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def iso(moment: datetime) -> str:
    """`2026-03-01T12:04:00.000Z`."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{utc.microsecond // 1000:03d}Z"


def as_json(value: Any, keep_provenance: bool) -> Any:
    """Datetimes as ISO text, at every depth; provenance removed at every depth unless kept."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {key: as_json(item, keep_provenance) for key, item in value.items()
                if keep_provenance or key != "provenance"}
    if isinstance(value, list):
        return [as_json(item, keep_provenance) for item in value]
    return value


def projection(profile: dict[str, Any], unit: dict[str, Any]) -> dict[str, Any]:
    """The profile as the business unit `unit` (its TOML settings) must see it."""
    seen = {"customer_id": profile["customer_id"], "version": profile["version"], "updated_at": profile["updated_at"]}
    for section in unit["sections"]:
        seen[section] = profile[section]
    if "consents" in seen and unit.get("purposes") is not None:
        seen["consents"] = [consent for consent in seen["consents"] if consent["purpose"] in unit["purposes"]]
    return as_json(seen, unit.get("include_provenance", False))


def passes(profile: dict[str, Any], unit: dict[str, Any]) -> bool:
    """Whether the profile meets every condition of the unit's filter."""
    rule = unit.get("filter", {})
    reachable_on = rule.get("reachable_on", [])
    if reachable_on and not any(r["allowed"] and r["channel"] in reachable_on for r in profile["reachable"]):
        return False
    consent = rule.get("consent")
    if consent is None:
        return True
    channel, purpose = (consent, "marketing") if isinstance(consent, str) else \
        (consent["channel"], consent.get("purpose", "marketing"))
    return any(c["channel"] == channel and c["purpose"] == purpose and c["status"] == "OPTED_IN"
               for c in profile["consents"])


def document(customer: str, profile: dict[str, Any] | None, unit: dict[str, Any]) -> dict[str, Any]:
    """The document a webhook or a file receives for one record (`profile` decoded, None = tombstone)."""
    if profile is None:
        return {"customer_id": customer, "version": None, "deleted": True, "erased": True, "profile": None}
    seen = projection(profile, unit) if passes(profile, unit) else None
    return {"customer_id": customer, "version": profile["version"], "deleted": seen is None, "erased": False,
            "profile": seen}


def collapse(batch: list[Any]) -> list[Any]:
    """What a batch hands the target: per customer its last delivery, preceded by its last erasure
    when something came after it (deliveries have `customer_id` and `erased`)."""
    kept: dict[str, list[Any]] = {}
    for delivery in batch:
        before = kept.pop(delivery.customer_id, [])
        erasures = [] if delivery.erased else [d for d in before if d.erased]
        kept[delivery.customer_id] = [*erasures, delivery]
    return [delivery for customer in kept.values() for delivery in customer]
