"""Identity links: a release removes a mapping only while it points to the releasing customer."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from processors.domain.identity import RELEASED_BY, release_applies, release_headers, releaser

customers = st.none() | st.sampled_from([b"cust-1", b"cust-2"])


def test_a_release_by_the_customer_it_points_to_applies() -> None:
    assert release_applies(b"cust-1", b"cust-1")


def test_a_release_by_another_customer_leaves_the_mapping() -> None:
    assert not release_applies(b"cust-2", b"cust-1")


def test_a_release_of_an_unmapped_identifier_has_nothing_to_remove() -> None:
    assert not release_applies(None, b"cust-1")


def test_a_release_naming_nobody_applies_as_releases_did_before_they_named_one() -> None:
    assert release_applies(b"cust-2", None) and release_applies(None, None)


@given(customers, customers)
def test_after_a_release_the_identifier_never_points_to_the_releaser(current, released_by) -> None:
    after = None if release_applies(current, released_by) else current
    assert released_by is None or after != released_by
    assert after in (None, current)


def test_the_releaser_is_read_back_from_either_clients_headers() -> None:
    written = release_headers(b"cust-1")
    assert written == [(RELEASED_BY, b"cust-1")]
    assert releaser(written) == b"cust-1"  # confluent-kafka: a list of tuples
    assert releaser((("other", b"x"),) + tuple(written)) == b"cust-1"  # aiokafka: a tuple of tuples
    assert releaser(None) is None and releaser(()) is None and releaser([("other", b"x")]) is None
