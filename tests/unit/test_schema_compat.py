"""Every schema version is backward and forward compatible with every earlier one, and the
checker really catches incompatible changes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from schemas.compat import family_problems, problems, resolution_problems

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
FAMILIES = sorted(p for p in SCHEMAS.iterdir() if p.is_dir() and list(p.glob("v*.avsc")))


@pytest.mark.parametrize("family", FAMILIES, ids=lambda p: p.name)
def test_every_stored_version_is_compatible_with_every_earlier_one(family: Path) -> None:
    assert family_problems(family) == []


def _v1() -> dict[str, Any]:
    return json.loads((SCHEMAS / "preference_event" / "v1.avsc").read_text())


def _touchpoint(schema: dict[str, Any]) -> dict[str, Any]:
    return schema["fields"][4]["type"]["fields"][0]["type"]


def _family_with(tmp_path: Path, *changes: Callable[[dict[str, Any]], None]) -> Path:
    """A family folder holding the real v1 and, for each change, one more version (cumulative)."""
    family = tmp_path / "preference_event"
    family.mkdir()
    schema = _v1()
    (family / "v1.avsc").write_text(json.dumps(schema))
    for number, change in enumerate(changes, start=2):
        change(schema)
        (family / f"v{number}.avsc").write_text(json.dumps(schema))
    return family


def add_optional_field(schema: dict[str, Any]) -> None:
    schema["fields"].append({"name": "campaign", "type": ["null", "string"], "default": None})


def add_touchpoint_symbol(schema: dict[str, Any]) -> None:
    _touchpoint(schema)["symbols"].insert(0, "KIOSK")


def add_required_field(schema: dict[str, Any]) -> None:
    schema["fields"].append({"name": "store", "type": "string"})


def change_subject_type(schema: dict[str, Any]) -> None:
    schema["fields"][1]["type"] = "long"


def remove_enum_symbol(schema: dict[str, Any]) -> None:
    _touchpoint(schema)["symbols"].remove("POS")


def drop_enum_default(schema: dict[str, Any]) -> None:
    del _touchpoint(schema)["default"]


def test_a_compatible_evolution_over_three_versions_passes(tmp_path: Path) -> None:
    assert family_problems(_family_with(tmp_path, add_optional_field, add_touchpoint_symbol)) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (add_required_field, "PreferenceEvent.store: added without a default"),
        (change_subject_type, "PreferenceEvent.subject: type changed"),
        (remove_enum_symbol, "Touchpoint: enum symbols removed: ['POS']"),
        (drop_enum_default, "Touchpoint: enum without a default"),
    ],
)
def test_the_checker_catches_a_broken_version_on_disk(tmp_path: Path, change, expected: str) -> None:
    found = family_problems(_family_with(tmp_path, add_optional_field, change))
    assert any(expected in p for p in found), found
    assert all(not p.startswith("v1 -> v2") for p in found)  # the good v2 stays good


@pytest.mark.parametrize("change", [add_required_field, change_subject_type])
def test_resolution_on_sample_records_fails_independently_of_the_rules(change) -> None:
    new = _v1()
    change(new)
    assert resolution_problems(_v1(), new)


def test_a_new_enum_symbol_without_an_old_default_breaks_forward_reading() -> None:
    old, new = _v1(), _v1()
    drop_enum_default(old)
    drop_enum_default(new)
    add_touchpoint_symbol(new)
    assert "Touchpoint: enum gains symbols but the old version has no default" in problems(old, new)
    assert any(p.startswith("forward") for p in resolution_problems(old, new, samples=200))
