"""Values to and from the text prefstream reads and writes: JSON-ready values and ISO 8601 times."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


def jsonable(value: Any, when: Callable[[datetime], str] = datetime.isoformat) -> Any:
    """`value` with containers made lists and dicts, datetimes rendered by `when`, bytes as hex."""
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {key: jsonable(item, when) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item, when) for item in value]
    return value


def utc_millis(moment: datetime) -> str:
    """A time as ISO 8601 in UTC to the millisecond, e.g. `2026-03-01T12:00:00.000Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (`Z` or an offset; UTC when it has none); ValueError when malformed."""
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
