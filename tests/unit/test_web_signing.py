"""Signed links and CSRF tokens: the round trip holds, and any tampering, expiry, other purpose,
other secret or other link fails."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.web.csrf import csrf_ok, csrf_token
from producers.web.signing import ACCESS, CONFIRM_EMAIL, Claims, LinkError, sign, verify

SECRET = b"s" * 32
customer_ids = st.from_regex(r"[A-Za-z0-9._-]{1,128}", fullmatch=True)
secrets_ = st.binary(min_size=16, max_size=64)
expiries = st.integers(min_value=1, max_value=2**40)
extras = st.text(max_size=50)


@given(secrets_, customer_ids, expiries, extras, st.sampled_from([ACCESS, CONFIRM_EMAIL]))
def test_a_signed_link_verifies_to_its_claims_until_it_expires(secret: bytes, customer: str, expires: int, extra: str,
                                                               purpose: str) -> None:
    claims = Claims(purpose, customer, expires, extra)
    token = sign(secret, claims)
    assert verify(secret, token, purpose, expires - 1) == claims
    with pytest.raises(LinkError) as refused:
        verify(secret, token, purpose, expires)
    assert refused.value.reason == "expired"


@given(customer_ids, expiries, st.data())
def test_any_change_to_a_token_is_refused(customer: str, expires: int, data: st.DataObject) -> None:
    token = sign(SECRET, Claims(ACCESS, customer, expires))
    index = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.characters(codec="ascii").filter(lambda c: c != token[index]))
    tampered = token[:index] + replacement + token[index + 1:]
    with pytest.raises(LinkError) as refused:
        verify(SECRET, tampered, ACCESS, 0)
    assert refused.value.reason == "invalid"


@given(customer_ids, expiries, st.text(max_size=3))
def test_truncated_or_extended_tokens_are_refused(customer: str, expires: int, suffix: str) -> None:
    token = sign(SECRET, Claims(ACCESS, customer, expires))
    for bad in (token[:-1], token[1:], token + (suffix or "A")):
        with pytest.raises(LinkError):
            verify(SECRET, bad, ACCESS, 0)


@given(secrets_, customer_ids, st.data())
def test_another_secret_or_purpose_is_refused(secret: bytes, customer: str, data: st.DataObject) -> None:
    other = data.draw(secrets_.filter(lambda candidate: candidate != secret))
    token = sign(secret, Claims(ACCESS, customer, 10))
    with pytest.raises(LinkError):
        verify(secret, token, CONFIRM_EMAIL, 0)
    with pytest.raises(LinkError):
        verify(other, token, ACCESS, 0)


def test_one_customer_cannot_turn_a_link_into_anothers() -> None:
    ann, bob = sign(SECRET, Claims(ACCESS, "ann", 10)), sign(SECRET, Claims(ACCESS, "bob", 10))
    forged = ann.split(".")[0] + "." + bob.split(".")[1]
    with pytest.raises(LinkError):
        verify(SECRET, forged, ACCESS, 0)


def test_only_customer_ids_are_signed() -> None:
    with pytest.raises(ValueError):
        sign(SECRET, Claims(ACCESS, "email:ann@example.com", 10))


@given(st.text(max_size=80))
def test_garbage_is_refused_never_crashes(token: str) -> None:
    with pytest.raises(LinkError):
        verify(SECRET, token, ACCESS, 0)


@given(customer_ids, customer_ids)
def test_csrf_token_belongs_to_one_link(a: str, b: str) -> None:
    link_a, link_b = sign(SECRET, Claims(ACCESS, a, 10)), sign(SECRET, Claims(ACCESS, b, 11))
    assert csrf_ok(SECRET, link_a, csrf_token(SECRET, link_a))
    assert not csrf_ok(SECRET, link_b, csrf_token(SECRET, link_a))
    assert not csrf_ok(b"t" * 32, link_a, csrf_token(SECRET, link_a))
    assert not csrf_ok(SECRET, link_a, None)
    assert not csrf_ok(SECRET, link_a, "")
