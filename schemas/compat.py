"""The evolution rule: every schema version must be backward AND forward compatible with every
earlier one. Two independent checks, each returning a list of problems (empty = compatible):

- `problems(old, new)`, structural: a field added in `new` needs a default (backward: new reads
  old); a field removed from `new` needs a default in `old`, and an enum that gains symbols needs
  a default in `old` (forward: old reads new); no type changes, no removed enum symbols or named
  types, and every enum has a default;
- `resolution_problems(old, new)`, behavioural: sample records written with each schema are
  read with the other through fastavro's schema resolution.

`family_problems(directory)` runs both over every pair of `v<N>.avsc` files of a record type.
"""

from __future__ import annotations

import io
import json
import random
from itertools import combinations
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.utils import generate_many

from schemas.codec import schema_versions


def _named_types(schema: Any, found: dict[str, dict[str, Any]]) -> None:
    if isinstance(schema, list):
        for branch in schema:
            _named_types(branch, found)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed") and "name" in schema:
            found.setdefault(schema["name"].split(".")[-1], schema)
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


def _enum_problems(name: str, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    found = []
    removed = set(before["symbols"]) - set(after["symbols"])
    if removed:
        found.append(f"{name}: enum symbols removed: {sorted(removed)}")
    if set(after["symbols"]) - set(before["symbols"]) and "default" not in before:
        found.append(f"{name}: enum gains symbols but the old version has no default")
    return found


def _record_problems(name: str, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    found = []
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


def problems(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Every structural way `new` breaks backward or forward compatibility with `old`."""
    old_types: dict[str, dict[str, Any]] = {}
    new_types: dict[str, dict[str, Any]] = {}
    _named_types(old, old_types)
    _named_types(new, new_types)
    found = [f"{name}: enum without a default" for name, schema in new_types.items()
             if schema["type"] == "enum" and "default" not in schema]
    for name, before in old_types.items():
        after = new_types.get(name)
        if after is None:
            found.append(f"{name}: named type removed")
        elif before["type"] != after["type"]:
            found.append(f"{name}: changed from {before['type']} to {after['type']}")
        elif before["type"] == "enum":
            found += _enum_problems(name, before, after)
        elif before["type"] == "record":
            found += _record_problems(name, before, after)
    return found


def _round_trips(writer: dict[str, Any], reader: dict[str, Any], samples: int, seed: int) -> str | None:
    parsed_writer, parsed_reader = parse_schema(writer), parse_schema(reader)
    random.seed(seed)
    for record in generate_many(parsed_writer, samples):
        buffer = io.BytesIO()
        schemaless_writer(buffer, parsed_writer, record)
        buffer.seek(0)
        try:
            schemaless_reader(buffer, parsed_writer, parsed_reader)
        except Exception as error:  # fastavro raises several kinds on a failed resolution
            return f"{type(error).__name__}: {error}"
    return None


def resolution_problems(old: dict[str, Any], new: dict[str, Any], samples: int = 40, seed: int = 0) -> list[str]:
    """Sample records of each schema that the other cannot read, via fastavro resolution."""
    found = []
    backward = _round_trips(old, new, samples, seed)
    if backward:
        found.append(f"backward (new reads old) fails: {backward}")
    forward = _round_trips(new, old, samples, seed)
    if forward:
        found.append(f"forward (old reads new) fails: {forward}")
    return found


def family_problems(directory: Path, samples: int = 40) -> list[str]:
    """Every incompatibility between any version of a record type and any earlier one."""
    found = []
    by_number = schema_versions(directory)
    if not by_number:
        return [f"{directory.name}: no schema versions"]
    for number, schema in by_number.items():
        found += [f"v{number}: {p}" for p in problems(schema, schema)]
    for (old_n, old), (new_n, new) in combinations(by_number.items(), 2):
        pair = f"v{old_n} -> v{new_n}"
        found += [f"{pair}: {p}" for p in problems(old, new) + resolution_problems(old, new, samples)]
    return found
