"""Hypothesis strategies for PreferenceEvents of every change kind."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import strategies as st

from tests import factories as f

CHANNELS = ["EMAIL", "SMS", "PUSH", "PHONE", "DIRECT_MAIL", "WHATSAPP"]
channel = st.sampled_from(CHANNELS)
# few distinct times, so equal-time ties happen often
moment = st.integers(min_value=0, max_value=6).map(lambda m: f.at(minutes=m))
optional_moment = st.none() | moment.map(lambda m: m + timedelta(days=1))

change = st.one_of(
    st.builds(f.consent, channel, st.sampled_from(["OPTED_IN", "OPTED_OUT", "PENDING"]),
              purpose=st.sampled_from(["marketing", "service"]), expires_at=optional_moment),
    st.builds(f.topic, st.sampled_from(["sale", "news"]), st.booleans(), st.lists(channel, max_size=2)),
    st.builds(f.frequency, st.sampled_from(["DAILY", "WEEKLY", None]), channel=st.none() | channel),
    st.builds(f.pause, optional_moment, st.lists(channel, max_size=2)),
    st.builds(f.quiet_hours, st.sampled_from(["22:00", "08:00", None]), st.just("07:00")),
    st.builds(f.contact, st.sampled_from(["EMAIL", "PHONE"]), st.sampled_from(["a@x.com", "+15550001"]),
              st.sampled_from(["ADD", "REMOVE", "MAKE_PRIMARY"])),
    st.builds(f.attribute, st.sampled_from(["size", "store"]), st.sampled_from(["M", "L", None])),
    st.builds(f.suppression, st.none() | channel, st.booleans()),
)
rare_erasure = st.integers(0, 19).flatmap(lambda n: st.just(f.erasure()) if n == 0 else change)


@st.composite
def events(draw: st.DrawFn, subject: str = "cust-1", max_size: int = 12) -> list[dict]:
    """A set of events for one customer, with distinct ids."""
    count = draw(st.integers(min_value=1, max_value=max_size))
    return [
        f.event(subject, draw(st.lists(rare_erasure, min_size=1, max_size=3)), draw(moment),
                event_id=f"e{index:03d}-{draw(st.integers(0, 9))}",
                touchpoint=draw(st.sampled_from(["WEB", "POS", "SMS", "CALL_CENTER"])))
        for index in range(count)
    ]
