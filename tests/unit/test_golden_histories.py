"""Real-looking histories and the `reachable` answers they must give."""

from __future__ import annotations

from processors.domain.fold import fold, is_erased, reachable, to_profile
from tests import factories as f

C = "cust-42"


def answer(history, at, channel="EMAIL"):
    return reachable(fold(C, history), at)[channel]["reason"]


def test_web_email_opt_in() -> None:
    history = [f.event(C, [f.contact("EMAIL", "ann@example.com", "MAKE_PRIMARY"), f.consent("EMAIL", "OPTED_IN")],
                       f.at(0), proof=f.proof("CLICKWRAP", notice_version="pc-2026-01", ip="203.0.113.9"))]
    assert answer(history, f.at(1)) == "OK"
    assert answer(history, f.at(1), "SMS") == "NO_CONSENT"
    consent = to_profile(fold(C, history), f.at(1))["consents"][0]
    assert consent["provenance"]["proof"]["notice_version"] == "pc-2026-01"


def test_a_pos_opt_out_arriving_hours_late_still_wins_over_older_and_loses_to_newer() -> None:
    web_in = f.event(C, [f.consent("EMAIL", "OPTED_IN")], f.at(hours=0))
    pos_out = f.event(C, [f.consent("EMAIL", "OPTED_OUT")], f.at(hours=2), touchpoint="POS",
                      system="store-042/till-3", recorded_at=f.at(hours=9))
    assert answer([web_in, pos_out], f.at(hours=10)) == "OPTED_OUT"
    web_again = f.event(C, [f.consent("EMAIL", "OPTED_IN")], f.at(hours=5))
    assert answer([web_in, web_again, pos_out], f.at(hours=10)) == "OK"


def test_sms_stop() -> None:
    start = f.event(C, [f.consent("SMS", "OPTED_IN")], f.at(0), touchpoint="SMS", proof=f.proof("KEYWORD"))
    stop = f.event(C, [f.consent("SMS", "OPTED_OUT")], f.at(30), touchpoint="SMS", proof=f.proof("KEYWORD"))
    assert answer([start], f.at(10), "SMS") == "OK"
    assert answer([start, stop], f.at(31), "SMS") == "OPTED_OUT"


def test_call_center_verbal_consent_with_a_recording_reference() -> None:
    call = f.event(C, [f.consent("PHONE", "OPTED_IN")], f.at(0), touchpoint="CALL_CENTER", actor="AGENT",
                   actor_id="agent-7", interaction_id="call-991", proof=f.proof("VERBAL", recording_ref="rec/2026/03/991.wav"))
    assert answer([call], f.at(1), "PHONE") == "OK"
    prov = to_profile(fold(C, [call]), f.at(1))["consents"][0]["provenance"]
    assert (prov["actor_type"], prov["actor_id"], prov["interaction_id"]) == ("AGENT", "agent-7", "call-991")
    assert prov["proof"]["recording_ref"] == "rec/2026/03/991.wav"


def test_pause_then_resume() -> None:
    opt_in = f.event(C, [f.consent("EMAIL", "OPTED_IN")], f.at(0))
    pause = f.event(C, [f.pause(f.at(days=30))], f.at(10))
    assert answer([opt_in, pause], f.at(days=2)) == "PAUSED"
    assert answer([opt_in, pause], f.at(days=31)) == "OK"
    resume = f.event(C, [f.pause(None)], f.at(days=3))
    assert answer([opt_in, pause, resume], f.at(days=4)) == "OK"


def test_consent_that_expires() -> None:
    history = [f.event(C, [f.consent("WHATSAPP", "OPTED_IN", expires_at=f.at(days=365))], f.at(0))]
    assert answer(history, f.at(days=364), "WHATSAPP") == "OK"
    assert answer(history, f.at(days=365), "WHATSAPP") == "EXPIRED"


def test_double_opt_in_pending_then_confirmed() -> None:
    pending = f.event(C, [f.consent("EMAIL", "PENDING")], f.at(0))
    confirmed = f.event(C, [f.consent("EMAIL", "OPTED_IN")], f.at(15), proof=f.proof("DOUBLE_OPT_IN"))
    assert answer([pending], f.at(1)) == "PENDING_CONFIRMATION"
    assert answer([confirmed, pending], f.at(16)) == "OK"


def test_quiet_hours_in_the_customers_time_zone() -> None:
    history = [f.event(C, [f.consent("SMS", "OPTED_IN"), f.quiet_hours("21:00", "08:00", "America/New_York")], f.at(0))]
    # T0 is 12:00 UTC = 07:00 in New York (EST): inside the window; 14:00 UTC = 09:00: outside
    assert answer(history, f.at(0), "SMS") == "QUIET_HOURS"
    assert answer(history, f.at(hours=2), "SMS") == "OK"


def test_suppression_everywhere_overrides_consent() -> None:
    history = [f.event(C, [f.consent("EMAIL", "OPTED_IN")], f.at(0)),
               f.event(C, [f.suppression(None, reason="LEGAL")], f.at(5), actor="SYSTEM")]
    assert answer(history, f.at(6)) == "SUPPRESSED"


def test_erasure() -> None:
    history = [f.event(C, [f.contact("PHONE", "+14155550100"), f.consent("SMS", "OPTED_IN"), f.attribute("size", "M")], f.at(0)),
               f.event(C, [f.erasure()], f.at(60))]
    state = fold(C, history)
    assert is_erased(state)
    assert answer(history, f.at(61), "SMS") == "NO_CONSENT"
    profile = to_profile(state, f.at(61))
    assert profile["contact_points"] == profile["attributes"] == profile["consents"] == []
