"""The fold: a customer's events into one state. Pure: no I/O, no clock, no logging.

Every field of the profile is a last-writer-wins register ordered by the clock
(occurred_at, rank, event_id, change index). At an equal time the least permissive statement has
the higher rank (opt-out over pending over opt-in, unsubscribe over subscribe, suppression over
lifting it), so it wins the tie. Erasure carries the highest rank and removes every register
older than it. The state is therefore a function of the *set* of events: `apply` is commutative
and idempotent, and `merge` is a join (commutative, associative, idempotent).

Times are kept as epoch milliseconds inside the state; `to_profile` renders datetimes. An event's
times are datetimes, or the epoch milliseconds Avro stores (see `millis`): the fold reads both alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, overload

from processors.domain.reachability import CHANNELS, reasons

Clock = tuple[int, int, str, int]
Key = tuple[str, ...]
ERASURE_RANK = 9


@dataclass(frozen=True, slots=True, init=False)
class Register:
    """One field's current value, the clock that set it, and the event that said it.

    `memo` keeps what is derived from the register and costly to make again, never compared or
    stored: its encoded profile item by `primary` flag (True/False), and its line in the encoded
    state ("state", see processors.domain.state_codec). Registers are shared between successive states;
    `dataclasses.replace` gives a register with an empty memo.
    """

    clock: Clock
    value: dict[str, Any]
    provenance: dict[str, Any]
    memo: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def __init__(self, clock: Clock, value: dict[str, Any], provenance: dict[str, Any],
                 memo: dict[Any, Any] | None = None) -> None:
        _set_clock(self, clock)
        _set_value(self, value)
        _set_provenance(self, provenance)
        _set_register_memo(self, {} if memo is None else memo)


@dataclass(frozen=True, slots=True, init=False)
class State:
    """A customer's folded events. Treat as immutable: `apply` and `merge` return new states.

    `memo` keeps what an encoder derived from the state, never compared or stored: under IDS an
    encoding of `event_ids` (opaque to the fold; see processors.domain.state_codec), and under IDS_FROM,
    set by `apply`, (the IDS of the state it started from, the ids it added since), so that the
    encoder can derive the new encoding from the old one instead of starting again.
    """

    customer_id: str
    registers: dict[Key, Register] = field(default_factory=dict)
    event_ids: frozenset[str] = frozenset()
    erased: Clock | None = None
    updated_ms: int = 0
    memo: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def __init__(self, customer_id: str, registers: dict[Key, Register] | None = None,
                 event_ids: frozenset[str] = frozenset(), erased: Clock | None = None, updated_ms: int = 0,
                 memo: dict[str, Any] | None = None) -> None:
        _set_customer_id(self, customer_id)
        _set_registers(self, {} if registers is None else registers)
        _set_event_ids(self, event_ids)
        _set_erased(self, erased)
        _set_updated_ms(self, updated_ms)
        _set_state_memo(self, {} if memo is None else memo)

    @property
    def version(self) -> int:
        """The number of distinct events folded: monotonic and independent of order."""
        return len(self.event_ids)


def _slot_setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """The `__set__` of each named slot of `cls`: sets the field, bypassing the frozen `__setattr__`
    (what `object.__setattr__` does, in less than half the time; the fold makes a State per event)."""
    return tuple(cls.__dict__[name].__set__ for name in names)


_set_clock, _set_value, _set_provenance, _set_register_memo = _slot_setters(Register, "clock", "value", "provenance", "memo")
_set_customer_id, _set_registers, _set_event_ids, _set_erased, _set_updated_ms, _set_state_memo = _slot_setters(
    State, "customer_id", "registers", "event_ids", "erased", "updated_ms", "memo")


IDS, IDS_FROM = "ids", "ids_from"  # State.memo keys (see State)


def millis(moment: datetime | int) -> int:
    """Epoch milliseconds of an aware datetime. An event's time may also be the int Avro stores
    (`schemas.codec.SchemaFamily.decode_millis`): it gives what the datetime decoded from it gives
    (`timestamp()` goes through float seconds, and so does this)."""
    if isinstance(moment, datetime):
        return int(moment.timestamp() * 1000)
    return int(moment / 1000 * 1000)


@overload
def to_datetime(ms: int) -> datetime: ...
@overload
def to_datetime(ms: None) -> None: ...
@overload
def to_datetime(ms: int | None) -> datetime | None: ...
def to_datetime(ms: int | None) -> datetime | None:
    """The UTC datetime of epoch milliseconds (None stays None)."""
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def empty_state(customer_id: str) -> State:
    """The state of a customer of whom nothing is known."""
    return State(customer_id)


_STATUS_RANK = {"OPTED_IN": 0, "PENDING": 1, "OPTED_OUT": 2}
_CONTACT_KEYS = {"EMAIL": "email", "PHONE": "phone", "LOYALTY": "loyalty", "SOCIAL": "social"}


def _optional_ms(moment: datetime | None) -> int | None:
    return None if moment is None else millis(moment)


def _is_contact_change(change: dict[str, Any]) -> bool:
    return "action" in change


def _is_erasure(change: dict[str, Any]) -> bool:
    return change.keys() == {"reason"}


def _writes(change: dict[str, Any]) -> list[tuple[Key, int, dict[str, Any]]]:
    """The registers one change writes: (key, rank, value)."""
    if "status" in change:
        value = {"status": change["status"], "contact_point": change["contact_point"], "expires_at": _optional_ms(change["expires_at"])}
        return [(("consent", change["channel"], change["purpose"]), _STATUS_RANK[change["status"]], value)]
    if "subscribed" in change:
        value = {"subscribed": change["subscribed"], "channels": sorted(set(change["channels"]))}
        return [(("topic", change["topic"]), 0 if change["subscribed"] else 1, value)]
    if "cadence" in change:
        value = {"cadence": change["cadence"], "max_per_week": change["max_per_week"]}
        return [(("frequency", change["channel"] or "", change["topic"] or ""), 0, value)]
    if "until" in change:
        rank, value = (0 if change["until"] is None else 1), {"until": _optional_ms(change["until"])}
        return [(("pause", channel), rank, value) for channel in (sorted(set(change["channels"])) or [""])]
    if "time_zone" in change:
        value = {"start": change["start"], "end": change["end"], "time_zone": change["time_zone"]}
        return [(("quiet_hours",), 0, value)]
    if _is_contact_change(change):
        kind, contact = change["kind"], change["value"]
        if kind == "EMAIL":
            contact = contact.lower()
        if change["action"] == "REMOVE":
            return [(("contact", kind, contact), 1, {"present": False})]
        writes: list[tuple[Key, int, dict[str, Any]]] = [(("contact", kind, contact), 0, {"present": True})]
        if change["action"] == "MAKE_PRIMARY":
            writes.append((("primary", kind), 0, {"value": contact}))
        return writes
    if "question" in change:
        return [(("attribute", change["key"]), 0, {"value": change["value"], "question": change["question"]})]
    if "active" in change:
        value = {"active": change["active"], "reason": change["reason"]}
        return [(("suppression", change["channel"] or ""), 1 if change["active"] else 0, value)]
    if _is_erasure(change):
        return [(("erasure",), ERASURE_RANK, {})]
    raise ValueError(f"not a known change: fields {sorted(change)}")


def is_restrictive(change: dict[str, Any]) -> bool:
    """Whether a change opts out, unsubscribes or suppresses (ranks above the permissive)."""
    return any(rank > 0 and key[0] in ("consent", "topic", "suppression") for key, rank, _ in _writes(change))


def provenance(event: dict[str, Any], occurred_ms: int | None = None) -> dict[str, Any]:
    """Who said it, where, when and with what proof: attached to every field an event sets.

    `occurred_ms`: `millis(event["occurred_at"])` when the caller has it already."""
    source = event["source"]
    return {
        "event_id": event["event_id"],
        "occurred_at": millis(event["occurred_at"]) if occurred_ms is None else occurred_ms,
        "touchpoint": source["touchpoint"],
        "system": source["system"],
        "actor_type": source["actor"]["type"],
        "actor_id": source["actor"]["id"],
        "interaction_id": source["interaction_id"],
        "proof": event["proof"],
    }


def _after_erasure(registers: dict[Key, Register], erased: Clock | None) -> dict[Key, Register]:
    if erased is None:
        return registers
    return {key: register for key, register in registers.items() if register.clock > erased}


_ERASURE_KEY: Key = ("erasure",)


def apply(state: State, event: dict[str, Any]) -> State:
    """The state after one more event; an event already folded changes nothing.

    Registers the event does not win are shared with `state`, not copied.
    """
    event_id = event["event_id"]
    if event_id in state.event_ids:
        return state
    at = millis(event["occurred_at"])
    registers = state.registers
    written = False
    erased = state.erased
    prov = None
    for index, change in enumerate(event["changes"]):
        for key, rank, value in _writes(change):
            clock = (at, rank, event_id, index)
            if key == _ERASURE_KEY:
                erased = clock if erased is None or clock > erased else erased
                continue
            current = registers.get(key)
            if current is None or current.clock < clock:
                if not written:
                    registers, written = dict(registers), True
                if prov is None:
                    prov = provenance(event, at)
                registers[key] = Register(clock, value, prov)
    if erased is not None:
        registers = _after_erasure(registers, erased)
    return State(state.customer_id, registers, state.event_ids | {event_id}, erased, max(state.updated_ms, at),
                 _carry_ids(state.memo, event_id))


def _carry_ids(memo: dict[str, Any], event_id: str) -> dict[str, Any] | None:
    """The memo of a state that adds `event_id` to the state with `memo` (see State)."""
    base = memo.get(IDS)
    if base is not None:
        return {IDS_FROM: (base, (event_id,))}
    carried = memo.get(IDS_FROM)
    if carried is not None:
        return {IDS_FROM: (carried[0], (*carried[1], event_id))}
    return None


def merge(a: State, b: State) -> State:
    """The state of the union of two states' events (same customer)."""
    registers = dict(a.registers)
    for key, register in b.registers.items():
        current = registers.get(key)
        if current is None or current.clock < register.clock:
            registers[key] = register
    erased = max((c for c in (a.erased, b.erased) if c is not None), default=None)
    return State(a.customer_id, _after_erasure(registers, erased), a.event_ids | b.event_ids, erased, max(a.updated_ms, b.updated_ms))


def fold(customer_id: str, events: list[dict[str, Any]]) -> State:
    """The state of a set of events, in any order."""
    state = empty_state(customer_id)
    for event in events:
        state = apply(state, event)
    return state


def is_erased(state: State) -> bool:
    """Whether the customer asked to be forgotten and has said nothing since."""
    return state.erased is not None and not state.registers


def may_change_identities(event: dict[str, Any]) -> bool:
    """Whether folding `event` can change `identities`: only a contact change or an erasure can."""
    return any(_is_contact_change(change) or _is_erasure(change) for change in event["changes"])


def identities(state: State) -> list[str]:
    """The customer's identifiers in subject syntax (email:…, phone:…), for identity resolution."""
    return _identifiers(state, present=True)


def released_identities(state: State) -> list[str]:
    """The identifiers the customer once had and removed (their contact register says absent)."""
    return _identifiers(state, present=False)


def _identifiers(state: State, present: bool) -> list[str]:
    found = []
    for key, register in state.registers.items():
        if key[0] == "contact" and register.value["present"] == present and key[1] in _CONTACT_KEYS:
            found.append(f"{_CONTACT_KEYS[key[1]]}:{key[2]}")
    return sorted(found)


def profile_time(state: State) -> datetime:
    """The latest occurred_at folded: a deterministic time to evaluate `reachable` at on emit."""
    return to_datetime(state.updated_ms)


def _values(state_or_profile: State | dict[str, Any]) -> dict[Key, dict[str, Any]]:
    """What reachability reads, keyed as registers, from a State or a CustomerProfile dict."""
    if isinstance(state_or_profile, State):
        return {key: register.value for key, register in state_or_profile.registers.items()}
    profile = state_or_profile
    values: dict[Key, dict[str, Any]] = {}
    for consent in profile["consents"]:
        values[("consent", consent["channel"], consent["purpose"])] = {
            "status": consent["status"], "expires_at": _optional_ms(consent["expires_at"])}
    for pause in profile["pauses"]:
        values[("pause", pause["channel"] or "")] = {"until": _optional_ms(pause["until"])}
    for suppression in profile["suppressions"]:
        values[("suppression", suppression["channel"] or "")] = {"active": suppression["active"]}
    if profile["quiet_hours"]:
        values[("quiet_hours",)] = profile["quiet_hours"]
    return values


def reachable(state_or_profile: State | dict[str, Any], at: datetime, purpose: str = "marketing") -> dict[str, dict[str, Any]]:
    """Per channel, {"allowed": bool, "reason": str}: may we contact the customer at `at` for `purpose`."""
    found = reasons(_values(state_or_profile), millis(at), purpose)
    return {channel: {"allowed": reason == "OK", "reason": reason} for channel, reason in found.items()}


ARRAYS = {"contact": "contact_points", "consent": "consents", "topic": "topics", "frequency": "frequencies",
           "pause": "pauses", "attribute": "attributes", "suppression": "suppressions"}


def render(key: Key, register: Register, primary: bool,
            when: Callable[[int | None], Any] = to_datetime) -> dict[str, Any]:
    """The profile item (or quiet_hours record) one register stands for; `when` renders times (epoch ms in)."""
    section, value = key[0], register.value
    occurred = register.provenance["occurred_at"]
    stamped = when(occurred)
    prov = register.provenance if stamped is occurred else {**register.provenance, "occurred_at": stamped}
    if section == "contact":
        return {"kind": key[1], "value": key[2], "primary": primary, "provenance": prov}
    if section == "consent":
        return {"channel": key[1], "purpose": key[2], "status": value["status"], "contact_point": value["contact_point"],
                "expires_at": when(value["expires_at"]), "provenance": prov}
    if section == "topic":
        return {"topic": key[1], "subscribed": value["subscribed"], "channels": list(value["channels"]), "provenance": prov}
    if section == "frequency":
        return {"channel": key[1] or None, "topic": key[2] or None, "cadence": value["cadence"],
                "max_per_week": value["max_per_week"], "provenance": prov}
    if section == "pause":
        return {"channel": key[1] or None, "until": when(value["until"]), "provenance": prov}
    if section == "attribute":
        return {"key": key[1], "value": value["value"], "question": value["question"], "provenance": prov}
    if section == "suppression":
        return {"channel": key[1] or None, "active": value["active"], "reason": value["reason"], "provenance": prov}
    return {"start": value["start"], "end": value["end"], "time_zone": value["time_zone"], "provenance": prov}


def _layout(state: State, at: datetime) -> dict[str, Any]:
    """The profile's fields in canonical order, as plain values."""
    ordered = sorted(state.registers.items())
    primary = {key[1]: register.value["value"] for key, register in ordered if key[0] == "primary"}
    fields: dict[str, Any] = {name: [] for name in ARRAYS.values()}
    quiet = None
    for key, register in ordered:
        section = key[0]
        if section == "contact" and not register.value["present"]:
            continue  # kept in the state, so that an older add arriving late stays beaten; not shown
        if section in ARRAYS:
            fields[ARRAYS[section]].append(render(key, register, section == "contact" and primary.get(key[1]) == key[2]))
        elif section == "quiet_hours" and register.value["start"] is not None:
            quiet = render(key, register, False)
    found = reasons({key: register.value for key, register in ordered}, millis(at), "marketing")
    return {
        "customer_id": state.customer_id,
        "version": state.version,
        "updated_at": profile_time(state),
        "evaluated_at": at,
        **fields,
        "quiet_hours": quiet,
        "reachable": [{"channel": channel, "allowed": found[channel] == "OK", "reason": found[channel]}
                      for channel in CHANNELS],
    }


def to_profile(state: State, at: datetime) -> dict[str, Any]:
    """The Avro-ready CustomerProfile, with `reachable` evaluated at `at`. Deterministic."""
    return _layout(state, at)
