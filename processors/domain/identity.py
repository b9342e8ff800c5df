"""Identity links: which customer claims an identifier, as records on `prefstream-identity-links`.

A claim is the customer id under the identifier's key. A release is a tombstone under that key
whose header names the customer that let go of it. Claims and releases of one identifier come
from the folds of different customers, on different partitions, so they reach the identifier's
partition in either order: when one customer drops an email that another has just taken, the
drop may arrive after the other's claim. A release therefore removes the mapping only while it
still points to the releasing customer; otherwise the worker writes the current claim again, so
the topic's latest record per key (what compaction keeps, what an audit reads) stays the truth.
"""

from __future__ import annotations

from collections.abc import Iterable

RELEASED_BY = "prefstream-released-by"


def release_headers(customer: bytes) -> list[tuple[str, bytes]]:
    """The headers of a release of an identifier by `customer`."""
    return [(RELEASED_BY, customer)]


def releaser(headers: Iterable[tuple[str, bytes]] | None) -> bytes | None:
    """The customer a release names, or None (a release written before releases named one)."""
    for name, value in headers or ():
        if name == RELEASED_BY:
            return value
    return None


def release_applies(current: bytes | None, released_by: bytes | None) -> bool:
    """Whether a release removes the identifier's `current` mapping: only when it points to the
    releasing customer, or when the release names nobody (as every release did before)."""
    return released_by is None or current == released_by
