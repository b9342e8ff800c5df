"""The evolution rule: every schema version must be backward AND forward compatible with every
earlier one. `problems(old, new)` names each violation; an empty list means compatible.

- backward (new reads old): a field added in `new` needs a default;
- forward (old reads new): a field removed from `new` needs a default in `old`; an enum that
  gains symbols needs a default in `old`, so old readers map the new symbols to it;
- no field may change its type, and no enum symbol may be removed.
"""

from __future__ import annotations

import json
from typing import Any


def _named_types(schema: Any, found: dict[str, dict[str, Any]]) -> None:
    if isinstance(schema, list):
        for branch in schema:
            _named_types(branch, found)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed") and "name" in schema:
            name = schema["name"].split(".")[-1]
            found.setdefault(name, schema)
        for item in schema.get("fields", []):
            _named_types(item["type"], found)
        for key in ("items", "values"):
            if key in schema:
                _named_types(schema[key], found)


def _type_name(schema: Any) -> str:
    if isinstance(schema, str):
        return schema.split(".")[-1]
    if isinstance(schema, list):
        return "[" + ",".join(_type_name(branch) for branch in schema) + "]"
    if schema.get("type") in ("record", "enum", "fixed"):
        return schema["name"].split(".")[-1]
    if schema.get("type") == "array":
        return f"array<{_type_name(schema['items'])}>"
    if schema.get("type") == "map":
        return f"map<{_type_name(schema['values'])}>"
    return json.dumps({k: v for k, v in schema.items() if k in ("type", "logicalType")}, sort_keys=True)


def problems(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Every way `new` breaks backward or forward compatibility with `old`."""
    old_types: dict[str, dict[str, Any]] = {}
    new_types: dict[str, dict[str, Any]] = {}
    _named_types(old, old_types)
    _named_types(new, new_types)
    found: list[str] = []
    for name, before in old_types.items():
        after = new_types.get(name)
        if after is None:
            found.append(f"{name}: named type removed")
            continue
        if before["type"] != after["type"]:
            found.append(f"{name}: changed from {before['type']} to {after['type']}")
        elif before["type"] == "enum":
            removed = set(before["symbols"]) - set(after["symbols"])
            if removed:
                found.append(f"{name}: enum symbols removed: {sorted(removed)}")
            if set(after["symbols"]) - set(before["symbols"]) and "default" not in before:
                found.append(f"{name}: enum gains symbols but the old version has no default")
            if "default" not in after:
                found.append(f"{name}: enum without a default")
        elif before["type"] == "record":
            old_fields = {item["name"]: item for item in before["fields"]}
            new_fields = {item["name"]: item for item in after["fields"]}
            for field, item in new_fields.items():
                if field not in old_fields and "default" not in item:
                    found.append(f"{name}.{field}: added without a default (old records cannot be read)")
                elif field in old_fields and _type_name(old_fields[field]["type"]) != _type_name(item["type"]):
                    found.append(f"{name}.{field}: type changed")
            for field, item in old_fields.items():
                if field not in new_fields and "default" not in item:
                    found.append(f"{name}.{field}: removed but had no default (old readers need it)")
    return found
