"""The fold's State as bytes, for the processor's RocksDB table and its changelog.

JSON lines: deterministic, lossless for the state (strings, integers, booleans, nulls, lists and
objects), readable when debugging a changelog. Every line is compact JSON with sorted object keys
(so it holds no raw newline):

    [2,"cust-1",1772366400000,null]                      format, customer_id, updated_ms, erased
    ["e1","e2"]                                            the folded event ids, sorted
    [["consent","EMAIL","marketing"],[1772366400000,0,"e1",0],{...value},{...provenance}]
    ...                                                    one line per register, sorted by key

A register's line is kept with the register, and the event-id line with the state (in their memos;
`apply` carries the id line forward): encoding a state that differs from a decoded one by one event,
as the processor does on every event, serializes that event's registers, inserts its id into the id
line, and joins the other lines as they were read. Lines read are taken to be as encode_state wrote
them (an id line that is not sorted is sorted again). No state is kept between calls.

`decode_state` also reads the first format (one JSON object), which earlier versions stored.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from json.decoder import JSONDecodeError
from json.encoder import encode_basestring_ascii
from json.scanner import make_scanner
from typing import Any

from processors.domain.fold import IDS, IDS_FROM, Key, Register, State

FORMAT = 2
_LINE = "state"  # the Register.memo key of a register's line

try:  # CPython's C encoder, which typeshed leaves undeclared
    from json.encoder import c_make_encoder as _c_make_encoder  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - CPython always has it
    _c_make_encoder = None


def _unserializable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


if _c_make_encoder is not None:
    # json.dumps(value, sort_keys=True, separators=(",", ":")), without building an encoder per call
    _encode = _c_make_encoder(None, _unserializable, encode_basestring_ascii, None, ":", ",", True, False, True)

    def _dumps(value: Any) -> str:
        return "".join(_encode(value, 0))
else:  # pragma: no cover
    _encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"))

    def _dumps(value: Any) -> str:
        return _encoder.encode(value)

# typeshed types the context as a make_scanner (its own TODO says it is the decoder, duck-typed)
_scan = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _loads(line: str) -> Any:
    """One JSON value that is the whole line."""
    try:
        value, end = _scan(line, 0)
    except StopIteration as error:
        raise JSONDecodeError("Expecting value", line, error.value) from None
    if end != len(line):
        raise JSONDecodeError("Extra data", line, end)
    return value


def _line(key: Key, register: Register) -> str:
    line = register.memo.get(_LINE)
    if line is None:
        line = register.memo[_LINE] = _dumps([key, register.clock, register.value, register.provenance])
    return line


def _ids_line(state: State) -> str:
    """The sorted event ids as a JSON array: made from the state's parent's line when it has one."""
    found = state.memo.get(IDS)
    if found is None:
        carried = state.memo.get(IDS_FROM)
        if carried is not None and len(carried[0][0]) + len(carried[1]) == len(state.event_ids):
            (ids, line), added = carried
            found = _with_ids(ids, line, added)
        else:
            ids = sorted(state.event_ids)
            found = (ids, f"[{','.join(map(encode_basestring_ascii, ids))}]")  # what _dumps gives, faster
        state.memo[IDS] = found
    return found[1]


def _with_ids(ids: list[str], line: str, added: tuple[str, ...]) -> tuple[list[str], str]:
    """(sorted ids, their JSON line) with `added` (ids not among them) inserted in place.

    When no id holds a comma, every comma in the line separates two items, so `,` followed by an
    id's JSON string can only be that id's item. Otherwise the line is written again from scratch.
    """
    ids = list(ids)
    if line.count(",") + 1 != max(len(ids), 1) or any("," in event_id for event_id in added):
        ids.extend(added)
        ids.sort()
        return ids, f"[{','.join(map(encode_basestring_ascii, ids))}]"
    for event_id in sorted(added):
        index = bisect_left(ids, event_id)
        item = encode_basestring_ascii(event_id)
        if index == len(ids):
            line = f"{line[:-1]}{',' if ids else ''}{item}]"
        else:
            at = 1 if index == 0 else line.index("," + encode_basestring_ascii(ids[index])) + 1
            line = f"{line[:at]}{item},{line[at:]}"
        ids.insert(index, event_id)
    return ids, line


def encode_state(state: State) -> bytes:
    """A State as deterministic bytes: equal states give equal bytes."""
    registers = state.registers
    lines = [
        _dumps([FORMAT, state.customer_id, state.updated_ms, state.erased]),
        _ids_line(state),
        *[_line(key, registers[key]) for key in sorted(registers)],
    ]
    return "\n".join(lines).encode()


def _register(line: str) -> tuple[Key, Register]:
    raw_key, clock, value, prov = _loads(line)
    # The line was written by encode_state (this format), so it is the register's canonical line.
    return tuple(raw_key), Register(tuple(clock), value, prov, {_LINE: line})


def decode_state(data: bytes) -> State:
    """The State that `encode_state` wrote (either format)."""
    if data[:1] == b"{":
        return _decode_first_format(data)
    header, ids_line, *lines = data.decode().split("\n")
    version, customer_id, updated_ms, erased = _loads(header)
    if version != FORMAT:
        raise ValueError(f"unknown state format {version!r}")
    ids = _loads(ids_line)
    event_ids = frozenset(ids)
    if len(event_ids) != len(ids) or ids != sorted(ids):  # not as encode_state writes it
        ids = sorted(event_ids)
        ids_line = _dumps(ids)
    return State(
        customer_id,
        dict(map(_register, lines)),
        event_ids,
        tuple(erased) if erased else None,
        updated_ms,
        {IDS: (ids, ids_line)},
    )


def _decode_first_format(data: bytes) -> State:
    raw = json.loads(data)
    return State(
        raw["customer_id"],
        {tuple(key): Register(tuple(clock), value, prov) for key, clock, value, prov in raw["registers"]},
        frozenset(raw["event_ids"]),
        tuple(raw["erased"]) if raw["erased"] else None,
        raw["updated_ms"],
    )
