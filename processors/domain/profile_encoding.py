"""A profile as Avro bytes, straight from a fold's state: the processor's hot path.

`profile_bytes(state, at)` is `encode_profile(to_profile(state, at))` byte for byte (property tests
hold the two equal), but encodes each register's profile item once and keeps it in the register's
memo, so a state that differs from the last one by an event re-encodes only what that event changed.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import overload

from processors.domain.fold import ARRAYS, Key, Register, State, millis, render, to_datetime
from processors.domain.reachability import CHANNELS, reasons
from schemas.splice import (
    FIELD_NAMES,
    Encoded,
    array_bytes,
    default_parts,
    field_writer,
    item_writer,
    join_profile,
    long_bytes,
    string_bytes,
    timestamp_bytes,
    timestamp_millis,
)

_EXACT_MS = 4_000_000_000_000  # below this (year 2096), ms -> datetime -> ms is exact


@overload
def wire_ms(ms: int) -> int: ...
@overload
def wire_ms(ms: None) -> None: ...
@overload
def wire_ms(ms: int | None) -> int | None: ...
def wire_ms(ms: int | None) -> int | None:
    """What the Avro encoding of `to_datetime(ms)` holds: `ms` itself, except where the float
    round trip through a datetime is inexact (far future or before 1970)."""
    if ms is None or 0 <= ms < _EXACT_MS:
        return ms
    return timestamp_millis(to_datetime(ms))


_ITEM_WRITERS = {section: item_writer(name) for section, name in ARRAYS.items()} | {"quiet_hours": field_writer("quiet_hours")}
_SLOT = {name: index for index, name in enumerate(FIELD_NAMES)}
_SECTION_SLOT = {section: _SLOT[name] for section, name in ARRAYS.items()}
_CUSTOMER, _VERSION, _UPDATED, _EVALUATED, _QUIET_SLOT, _REACH_SLOT = (
    _SLOT[name] for name in ("customer_id", "version", "updated_at", "evaluated_at", "quiet_hours", "reachable"))
_DEFAULTS = default_parts()  # fields the fold does not know (added later with a default) keep their default
for _slot in (*_SECTION_SLOT.values(), _QUIET_SLOT):
    _DEFAULTS[_slot] = b"\x00"  # an empty array; a null quiet_hours (the union's first branch)
_ALWAYS_SET = (_CUSTOMER, _VERSION, _UPDATED, _EVALUATED, _REACH_SLOT)
if any(part is None for index, part in enumerate(_DEFAULTS) if index not in _ALWAYS_SET):
    raise RuntimeError("the profile schema has a field without a default that profile_bytes does not fill")
_EMPTY = [b"" if part is None else part for part in _DEFAULTS]  # the slots profile_bytes always sets: still empty
_REACHABILITY_SECTIONS = frozenset(("consent", "suppression", "pause", "quiet_hours"))
_REACH_WRITER = item_writer("reachable")


def _encoded_item(key: Key, register: Register, primary: bool) -> Encoded:
    data = register.memo.get(primary)
    if data is None:
        data = register.memo[primary] = _ITEM_WRITERS[key[0]](render(key, register, primary, wire_ms))
    return data


@cache
def _encoded_reachable(found: tuple[str, ...]) -> bytes:
    """The `reachable` array for the reasons of CHANNELS in order."""
    return array_bytes([_REACH_WRITER({"channel": channel, "allowed": reason == "OK", "reason": reason})
                        for channel, reason in zip(CHANNELS, found, strict=True)])


def profile_bytes(state: State, at: datetime) -> bytes:
    """`encode_profile(to_profile(state, at))`, byte for byte, re-encoding only changed fields."""
    registers = state.registers
    parts = _EMPTY.copy()
    parts[_CUSTOMER] = string_bytes(state.customer_id)
    parts[_VERSION] = long_bytes(len(state.event_ids))
    parts[_UPDATED] = long_bytes(wire_ms(state.updated_ms))
    parts[_EVALUATED] = timestamp_bytes(at)
    sections: dict[str, list[bytes]] = {}
    values = {}
    contacts = []
    primary = {}
    for key in sorted(registers):
        section = key[0]
        register = registers[key]
        if section == "contact":
            if register.value["present"]:
                contacts.append(key)
            continue
        if section == "primary":
            primary[key[1]] = register.value["value"]
            continue
        if section in _REACHABILITY_SECTIONS:
            values[key] = register.value
        if section == "quiet_hours":
            if register.value["start"] is not None:
                parts[_QUIET_SLOT] = _encoded_item(key, register, False)
        else:
            item = register.memo.get(False) or _encoded_item(key, register, False)
            found = sections.get(section)
            if found is None:
                sections[section] = [item]
            else:
                found.append(item)
    if contacts:
        sections["contact"] = [_encoded_item(key, registers[key], primary.get(key[1]) == key[2]) for key in contacts]
    for section, items in sections.items():
        parts[_SECTION_SLOT[section]] = array_bytes(items)
    parts[_REACH_SLOT] = _encoded_reachable(tuple(reasons(values, millis(at), "marketing").values()))
    return join_profile(parts)
