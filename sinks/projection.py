"""What a business unit sees of a profile: the configured sections, as JSON, if it passes the filter.

Pure: no I/O. Every projected profile carries `customer_id`, `version` and `updated_at`, plus
exactly the configured sections. Provenance (which may hold an IP or a user agent) is dropped
unless the business unit asks for it.
"""

from __future__ import annotations

from typing import Any

from prefstream.core.formats import jsonable, utc_millis
from sinks.config import Filter, SinkConfig

ALWAYS = ("customer_id", "version", "updated_at")


def _without_provenance(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if key != "provenance"}
    if isinstance(value, list):
        return [_without_provenance(item) for item in value]
    return value


def project(profile: dict[str, Any], config: SinkConfig) -> dict[str, Any]:
    """The profile reduced to the business unit's sections, as JSON-ready data."""
    projected = {key: profile[key] for key in ALWAYS}
    for section in config.sections:
        value = profile[section]
        if section == "consents" and config.purposes is not None:
            value = [consent for consent in value if consent["purpose"] in config.purposes]
        projected[section] = value if config.include_provenance else _without_provenance(value)
    return jsonable(projected, utc_millis)


def passes(profile: dict[str, Any], rule: Filter) -> bool:
    """Whether a (full, decoded) profile meets every condition of the filter."""
    if rule.reachable_on:
        allowed = {item["channel"] for item in profile["reachable"] if item["allowed"]}
        if not allowed.intersection(rule.reachable_on):
            return False
    if rule.consent_channel is not None:
        return any(c["channel"] == rule.consent_channel and c["purpose"] == rule.consent_purpose
                   and c["status"] == "OPTED_IN" for c in profile["consents"])
    return True
