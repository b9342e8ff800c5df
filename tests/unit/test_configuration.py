"""docs/configuration.md is what prefstream/core/configuration.py generates, and lists every variable the code reads."""

from __future__ import annotations

import re
from pathlib import Path

from prefstream.core.configuration import VARIABLES, configuration_markdown

ROOT = Path(__file__).resolve().parents[2]
CODE = ("prefstream", "processors", "producers", "sinks", "schemas", "deploy")
NAME = re.compile(r"\b(?:PREFSTREAM_[A-Z0-9_]*[A-Z0-9]|KAFKA_BOOTSTRAP)\b")


def documented(name: str) -> bool:
    """Whether `name` is a listed variable, or the fixed part of a pattern like PREFSTREAM_SINK_<UNIT>_SECRET."""
    return any(name == variable.name or name == variable.name.split("<")[0].rstrip("_") for variable in VARIABLES)


def test_the_document_is_up_to_date() -> None:
    assert (ROOT / "docs" / "configuration.md").read_text() == configuration_markdown(), "run `make docs`"


def test_every_variable_the_code_reads_is_documented() -> None:
    found = {(name, str(path.relative_to(ROOT))) for folder in CODE for path in (ROOT / folder).rglob("*")
             if path.suffix in (".py", ".toml", ".sh", ".yml", ".yaml") for name in NAME.findall(path.read_text())}
    found |= {(name, "Makefile") for name in NAME.findall((ROOT / "Makefile").read_text())}
    missing = sorted(f"{name} ({where})" for name, where in found if not documented(name))
    assert missing == [], "add to prefstream/core/configuration.py, then `make docs`: " + ", ".join(missing)


def test_the_check_would_see_a_new_variable() -> None:
    assert not documented("PREFSTREAM_SOMETHING_NEW") and documented("PREFSTREAM_SINK") and documented("KAFKA_BOOTSTRAP")
