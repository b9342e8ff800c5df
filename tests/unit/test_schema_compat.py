"""Every schema version is backward and forward compatible with every earlier one."""

from __future__ import annotations

import copy
import json
from itertools import combinations
from pathlib import Path

import pytest

from schemas.compat import problems

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
FAMILIES = sorted(p for p in SCHEMAS.iterdir() if p.is_dir() and list(p.glob("v*.avsc")))


def versions(family: Path) -> list[dict]:
    files = sorted(family.glob("v*.avsc"), key=lambda p: int(p.stem[1:]))
    return [json.loads(p.read_text()) for p in files]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda p: p.name)
def test_each_version_is_compatible_with_every_earlier_one(family: Path) -> None:
    all_versions = versions(family)
    assert all_versions, f"{family} has no versions"
    for old, new in combinations(all_versions, 2):
        assert problems(old, new) == []
    assert problems(all_versions[-1], all_versions[-1]) == []


@pytest.mark.parametrize("family", FAMILIES, ids=lambda p: p.name)
def test_every_enum_has_a_default(family: Path) -> None:
    text = (family / "v1.avsc").read_text()
    schema = json.loads(text)
    assert not [p for p in problems(schema, schema) if "without a default" in p]


def _event_v1() -> dict:
    return json.loads((SCHEMAS / "preference_event" / "v1.avsc").read_text())


def test_the_checker_catches_a_field_added_without_a_default() -> None:
    new = _event_v1()
    new["fields"].append({"name": "campaign", "type": "string"})
    assert problems(_event_v1(), new) == ["PreferenceEvent.campaign: added without a default (old records cannot be read)"]


def test_the_checker_catches_a_type_change_and_a_removed_symbol() -> None:
    new = _event_v1()
    new["fields"][1]["type"] = "long"
    touchpoint = new["fields"][4]["type"]["fields"][0]["type"]
    touchpoint["symbols"].remove("POS")
    found = problems(_event_v1(), new)
    assert "PreferenceEvent.subject: type changed" in found
    assert any("Touchpoint: enum symbols removed: ['POS']" in p for p in found)


def test_the_checker_accepts_a_compatible_evolution() -> None:
    new = copy.deepcopy(_event_v1())
    new["fields"].append({"name": "campaign", "type": ["null", "string"], "default": None})
    new["fields"][4]["type"]["fields"][0]["type"]["symbols"].insert(0, "KIOSK")
    assert problems(_event_v1(), new) == []
