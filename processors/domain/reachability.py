"""May we contact a customer on a channel at a given time, and if not, why. Pure.

Checked in this order, the first that applies is the answer: SUPPRESSED (do-not-contact on the
channel or everywhere), NO_CONSENT, OPTED_OUT, PENDING_CONFIRMATION, EXPIRED, PAUSED, QUIET_HOURS;
otherwise OK.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from schemas.vocabulary import CHANNELS

Values = dict[tuple[str, ...], dict[str, Any]]

_NO_CONSENT = dict.fromkeys(CHANNELS, "NO_CONSENT")
_SUPPRESSED = dict.fromkeys(CHANNELS, "SUPPRESSED")
_SUPPRESSED_EVERYWHERE, _PAUSED_EVERYWHERE, _QUIET = ("suppression", ""), ("pause", ""), ("quiet_hours",)


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _in_quiet_hours(quiet: dict[str, Any], at_ms: int) -> bool:
    local = datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(_zone(quiet["time_zone"]))
    now = f"{local.hour:02d}:{local.minute:02d}"
    start, end = quiet["start"], quiet["end"]
    if start <= end:
        return start <= now < end
    return now >= start or now < end  # the window spans midnight


def reasons(values: Values, at_ms: int, purpose: str) -> dict[str, str]:
    """Per channel, the reachability reason ("OK" = allowed), from register values keyed as in the fold.

    Works from the values present rather than asking every channel every question: a channel
    without a consent for `purpose` is NO_CONSENT, a consent decides OPTED_OUT, PENDING or
    EXPIRED, and only a channel still open is checked for a pause and quiet hours; a suppression
    overrides them all. The same answers as checking each channel in the documented order.
    """
    everywhere = values.get(_SUPPRESSED_EVERYWHERE)
    if everywhere and everywhere["active"]:
        return _SUPPRESSED.copy()
    found = _NO_CONSENT.copy()
    open_channels = []
    suppressed = []
    for key, value in values.items():
        section = key[0]
        if section == "consent":
            channel = key[1]
            if key[2] != purpose or channel not in found:
                continue
            status = value["status"]
            if status == "OPTED_OUT":
                found[channel] = "OPTED_OUT"
            elif status == "PENDING":
                found[channel] = "PENDING_CONFIRMATION"
            elif value["expires_at"] is not None and value["expires_at"] <= at_ms:
                found[channel] = "EXPIRED"
            else:
                open_channels.append(channel)
        elif section == "suppression" and value["active"] and key[1] in found:
            suppressed.append(key[1])
    for channel in suppressed:
        found[channel] = "SUPPRESSED"
    if open_channels:
        everywhere = values.get(_PAUSED_EVERYWHERE)
        paused_everywhere = bool(everywhere and everywhere["until"] is not None and everywhere["until"] > at_ms)
        quiet: bool | None = None
        for channel in open_channels:
            if found[channel] == "SUPPRESSED":
                continue
            pause = values.get(("pause", channel))
            if paused_everywhere or (pause and pause["until"] is not None and pause["until"] > at_ms):
                found[channel] = "PAUSED"
                continue
            if quiet is None:
                hours = values.get(_QUIET)
                quiet = bool(hours and hours["start"] is not None and _in_quiet_hours(hours, at_ms))
            found[channel] = "QUIET_HOURS" if quiet else "OK"
    return found
