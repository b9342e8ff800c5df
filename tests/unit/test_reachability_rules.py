"""The reachability rule, one literal case per clause: the documented order SUPPRESSED,
NO_CONSENT, OPTED_OUT, PENDING_CONFIRMATION, EXPIRED, PAUSED, QUIET_HOURS, else OK, and each
boundary (a consent expires at its instant, a pause ends at its instant, quiet hours include
their start and exclude their end). Every expected answer is written out."""

from __future__ import annotations

from typing import Any

import pytest

from processors.domain.reachability import reasons

HOUR_MS = 3_600_000
NOON_MS = 1_772_366_400_000  # 2026-03-01T12:00Z
MIDNIGHT_MS = NOON_MS - 12 * HOUR_MS  # 2026-03-01T00:00Z
NO_CONSENT_ANYWHERE = {"EMAIL": "NO_CONSENT", "SMS": "NO_CONSENT", "PUSH": "NO_CONSENT", "PHONE": "NO_CONSENT",
                       "DIRECT_MAIL": "NO_CONSENT", "WHATSAPP": "NO_CONSENT"}
Entry = tuple[tuple[str, ...], dict[str, Any]]


def consent(channel: str, status: str = "OPTED_IN", purpose: str = "marketing", expires_at: int | None = None) -> Entry:
    return ("consent", channel, purpose), {"status": status, "contact_point": None, "expires_at": expires_at}


def suppression(channel: str = "", active: bool = True) -> Entry:
    return ("suppression", channel), {"active": active, "reason": "CUSTOMER_REQUEST"}


def pause(channel: str = "", until: int | None = None) -> Entry:
    return ("pause", channel), {"until": until}


def quiet(start: str | None, end: str, time_zone: str = "UTC") -> Entry:
    return ("quiet_hours",), {"start": start, "end": end, "time_zone": time_zone}


def at(entries: list[Entry], at_ms: int = NOON_MS, purpose: str = "marketing") -> dict[str, str]:
    return reasons(dict(entries), at_ms, purpose)


def hhmm(text: str) -> int:
    """2026-03-01 at `text` (HH:MM) UTC, in epoch ms."""
    hours, minutes = text.split(":")
    return MIDNIGHT_MS + int(hours) * HOUR_MS + int(minutes) * 60_000


def test_nothing_known_means_no_consent_on_every_channel_in_channel_order() -> None:
    found = at([])
    assert found == NO_CONSENT_ANYWHERE
    assert list(found) == ["EMAIL", "SMS", "PUSH", "PHONE", "DIRECT_MAIL", "WHATSAPP"]


def test_an_opt_in_opens_its_channel_only() -> None:
    assert at([consent("SMS")]) == NO_CONSENT_ANYWHERE | {"SMS": "OK"}


def test_a_consent_for_another_purpose_is_no_consent() -> None:
    assert at([consent("SMS", purpose="service")]) == NO_CONSENT_ANYWHERE
    assert at([consent("SMS", purpose="service")], purpose="service") == NO_CONSENT_ANYWHERE | {"SMS": "OK"}


def test_opted_out_and_pending_are_their_own_reasons() -> None:
    found = at([consent("EMAIL", "OPTED_OUT"), consent("PUSH", "PENDING")])
    assert found == NO_CONSENT_ANYWHERE | {"EMAIL": "OPTED_OUT", "PUSH": "PENDING_CONFIRMATION"}


def test_an_opted_out_or_pending_consent_is_not_checked_for_expiry() -> None:
    expired = NOON_MS - HOUR_MS
    found = at([consent("EMAIL", "OPTED_OUT", expires_at=expired), consent("PUSH", "PENDING", expires_at=expired)])
    assert found == NO_CONSENT_ANYWHERE | {"EMAIL": "OPTED_OUT", "PUSH": "PENDING_CONFIRMATION"}


@pytest.mark.parametrize(("expires_at", "reason"), [
    (NOON_MS - 1, "EXPIRED"),
    (NOON_MS, "EXPIRED"),  # a consent ends at the instant it expires
    (NOON_MS + 1, "OK"),
    (None, "OK"),
])
def test_a_consent_expires_at_its_instant(expires_at: int | None, reason: str) -> None:
    assert at([consent("EMAIL", expires_at=expires_at)])["EMAIL"] == reason


def test_a_suppression_on_sms_makes_sms_suppressed_whatever_its_consent() -> None:
    for status in ("OPTED_IN", "OPTED_OUT", "PENDING"):
        found = at([consent("SMS", status), consent("EMAIL"), suppression("SMS")])
        assert found == NO_CONSENT_ANYWHERE | {"SMS": "SUPPRESSED", "EMAIL": "OK"}
    assert at([suppression("SMS")]) == NO_CONSENT_ANYWHERE | {"SMS": "SUPPRESSED"}


def test_a_suppression_read_before_the_consent_still_wins() -> None:
    assert at([suppression("SMS"), consent("SMS")])["SMS"] == "SUPPRESSED"


def test_a_suppressed_channel_does_not_stop_the_channels_after_it_being_checked() -> None:
    found = at([consent("SMS"), suppression("SMS"), consent("EMAIL"), consent("PUSH"), quiet("22:00", "07:00")])
    assert found == NO_CONSENT_ANYWHERE | {"SMS": "SUPPRESSED", "EMAIL": "OK", "PUSH": "OK"}


def test_a_suppressed_channel_is_suppressed_even_when_paused_or_in_quiet_hours() -> None:
    paused = at([consent("SMS"), suppression("SMS"), pause("SMS", NOON_MS + HOUR_MS)])
    assert paused["SMS"] == "SUPPRESSED"
    quieted = at([consent("SMS"), suppression("SMS"), quiet("11:00", "13:00")])
    assert quieted["SMS"] == "SUPPRESSED"


def test_a_lifted_suppression_changes_nothing() -> None:
    assert at([consent("SMS"), suppression("SMS", active=False)]) == NO_CONSENT_ANYWHERE | {"SMS": "OK"}
    assert at([consent("SMS"), suppression("", active=False)]) == NO_CONSENT_ANYWHERE | {"SMS": "OK"}


def test_a_suppression_everywhere_suppresses_every_channel() -> None:
    found = at([consent("SMS"), consent("EMAIL", "OPTED_OUT"), suppression("")])
    assert found == dict.fromkeys(NO_CONSENT_ANYWHERE, "SUPPRESSED")


def test_a_suppression_everywhere_is_a_fresh_answer_each_time() -> None:
    at([suppression("")])["SMS"] = "changed by a caller"
    assert at([suppression("")])["SMS"] == "SUPPRESSED"
    at([])["SMS"] = "changed by a caller"
    assert at([])["SMS"] == "NO_CONSENT"


def test_channels_outside_the_six_are_ignored() -> None:
    assert at([consent("UNKNOWN"), suppression("UNKNOWN"), pause("UNKNOWN", NOON_MS + HOUR_MS)]) == NO_CONSENT_ANYWHERE


@pytest.mark.parametrize(("until", "reason"), [
    (NOON_MS + 1, "PAUSED"),
    (NOON_MS, "OK"),  # a pause ends at its instant
    (NOON_MS - HOUR_MS, "OK"),
    (None, "OK"),  # a pause without an end was lifted
])
def test_a_pause_on_a_channel_lasts_until_its_instant(until: int | None, reason: str) -> None:
    assert at([consent("EMAIL"), pause("EMAIL", until)])["EMAIL"] == reason


@pytest.mark.parametrize(("until", "reason"), [(NOON_MS + 1, "PAUSED"), (NOON_MS, "OK"), (None, "OK")])
def test_a_pause_everywhere_pauses_every_open_channel_until_its_instant(until: int | None, reason: str) -> None:
    found = at([consent("EMAIL"), consent("SMS"), consent("PUSH", "OPTED_OUT"), pause("", until)])
    assert found == NO_CONSENT_ANYWHERE | {"EMAIL": reason, "SMS": reason, "PUSH": "OPTED_OUT"}


def test_a_pause_on_one_channel_leaves_the_others_open() -> None:
    found = at([consent("EMAIL"), consent("SMS"), pause("SMS", NOON_MS + HOUR_MS)])
    assert found == NO_CONSENT_ANYWHERE | {"EMAIL": "OK", "SMS": "PAUSED"}


def test_a_pause_outranks_quiet_hours_and_an_expiry_outranks_a_pause() -> None:
    found = at([consent("EMAIL"), consent("SMS", expires_at=NOON_MS), pause("", NOON_MS + HOUR_MS), quiet("11:00", "13:00")])
    assert found == NO_CONSENT_ANYWHERE | {"EMAIL": "PAUSED", "SMS": "EXPIRED"}


@pytest.mark.parametrize(("now", "reason"), [
    ("08:59", "OK"), ("09:00", "QUIET_HOURS"), ("12:30", "QUIET_HOURS"), ("16:59", "QUIET_HOURS"), ("17:00", "OK"),
    ("23:00", "OK"),
])
def test_quiet_hours_within_a_day_include_their_start_and_exclude_their_end(now: str, reason: str) -> None:
    found = at([consent("EMAIL"), consent("SMS"), quiet("09:00", "17:00")], hhmm(now))
    assert found == NO_CONSENT_ANYWHERE | {"EMAIL": reason, "SMS": reason}


@pytest.mark.parametrize(("now", "reason"), [
    ("21:59", "OK"), ("22:00", "QUIET_HOURS"), ("23:59", "QUIET_HOURS"), ("00:00", "QUIET_HOURS"),
    ("06:59", "QUIET_HOURS"), ("07:00", "OK"), ("12:00", "OK"),
])
def test_quiet_hours_across_midnight_include_their_start_and_exclude_their_end(now: str, reason: str) -> None:
    assert at([consent("EMAIL"), quiet("22:00", "07:00")], hhmm(now))["EMAIL"] == reason


@pytest.mark.parametrize("now", ["09:59", "10:00", "10:01", "22:00"])
def test_quiet_hours_that_start_when_they_end_are_never_quiet(now: str) -> None:
    assert at([consent("EMAIL"), quiet("10:00", "10:00")], hhmm(now))["EMAIL"] == "OK"


@pytest.mark.parametrize(("now", "reason"), [
    ("16:29", "OK"), ("16:30", "QUIET_HOURS"), ("17:29", "QUIET_HOURS"), ("17:30", "OK"),
])
def test_quiet_hours_are_read_in_the_customers_time_zone(now: str, reason: str) -> None:
    # 22:00-23:00 in Kolkata (UTC+05:30) is 16:30-17:30 UTC
    assert at([consent("EMAIL"), quiet("22:00", "23:00", "Asia/Kolkata")], hhmm(now))["EMAIL"] == reason


def test_quiet_hours_without_a_start_were_cleared() -> None:
    assert at([consent("EMAIL"), quiet(None, "23:59")], hhmm("12:00"))["EMAIL"] == "OK"


def test_quiet_hours_close_only_channels_that_are_open() -> None:
    found = at([consent("EMAIL"), consent("SMS", "PENDING"), quiet("11:00", "13:00")])
    assert found == NO_CONSENT_ANYWHERE | {"EMAIL": "QUIET_HOURS", "SMS": "PENDING_CONFIRMATION"}
